/*  =========================================================================
    ab_filter_builtin - the filter stages compiled into the broker

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    A table of name → constructor + operations; ab_filter looks a `name:`
    up here and treats the result exactly like a plugin's init/apply.
*/

#ifndef AB_FILTER_BUILTIN_H_INCLUDED
#define AB_FILTER_BUILTIN_H_INCLUDED

#include "filter/ab_filter.h"

/* Creates a built-in's state from its options (the stage mapping without
   `name`), or returns NULL with a one-line reason in error[]. */
typedef void *(ab_filter_create_fn)(const json_t *options,
                                    const ab_filter_env_t *env, char *error,
                                    size_t error_size);

typedef struct {
    const char *name;            /* as written in `name:` */
    ab_filter_create_fn *create; /* options → state */
    ab_filter_ops_t ops;         /* apply and destroy */
} ab_filter_builtin_t;

/* The built-in called `name`, or NULL. */
const ab_filter_builtin_t *ab_filter_builtin_find (const char *name);

/* Writes the built-ins' names, comma-separated, into buffer[size] (for
   "unknown filter" messages). */
void ab_filter_builtin_names (char *buffer, size_t size);

#endif
