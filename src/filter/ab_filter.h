/*  =========================================================================
    ab_filter - one filter stage: built-in, plugin or built in code

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    A stage (ab_filter_t) is a name, a table of operations and a state.
    Built-in stages (max_size, rate_limit), plugin stages (a dlopen'd .so,
    include/agentbus/filter.h) and stages built in code (the broker's
    `schema` stage) all sit behind the same ab_filter_ops_t, so the
    pipeline (ab_pipeline) treats them alike. The codes a stage may reject
    with are a subset of ab_codes' REJECT table. Out of memory is an error
    returned (NULL from a constructor, with a diagnostic), never an
    assert.
*/

#ifndef AB_FILTER_H_INCLUDED
#define AB_FILTER_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentbus/filter.h"
#include "common/ab_diag.h"

/* The operations of a stage; the same shape as a plugin's apply and
   cleanup. `destroy` may be NULL. */
typedef struct {
    ab_filter_apply_fn *apply;     /* judges one message */
    ab_filter_cleanup_fn *destroy; /* frees the state */
} ab_filter_ops_t;

/* A monotonic clock in milliseconds, for rate limits; injectable so tests
   control time. */
typedef int64_t (ab_filter_clock_fn) (void *arg);

/* Where a stage's config is written, for diagnostics: the broker passes
   a wrapper around ab_yaml_node_pos. */
typedef struct {
    int line;   /* 1-based, 0 = unknown */
    int column; /* 1-based, 0 = unknown */
} ab_filter_pos_t;
typedef ab_filter_pos_t (ab_filter_locate_fn) (void *arg, const json_t *stage);

/* What building stages from config needs from the broker. Every field
   may be 0/NULL. */
typedef struct {
    const char *file;            /* config file name, for diagnostics */
    const char *base_dir;        /* relative plugin paths start here;
                                    NULL = the current directory */
    ab_filter_clock_fn *clock;   /* NULL = CLOCK_MONOTONIC */
    void *clock_arg;             /* passed to clock */
    ab_filter_locate_fn *locate; /* positions of stage mappings */
    void *locate_arg;            /* passed to locate */
} ab_filter_env_t;

typedef struct _ab_filter_t ab_filter_t;

/* A stage built in code. Takes `state` (ops->destroy frees it with the
   stage). `name` is copied. Returns NULL when out of memory (state then
   destroyed). */
ab_filter_t *ab_filter_new (const char *name, const ab_filter_ops_t *ops,
                            void *state);

/* A stage from one `filters:` entry: `{name: BUILTIN, ...}` or
   `{plugin: PATH.so, ...}`. On error returns NULL and adds a diagnostic
   (file, position, what is wrong: unknown built-in, bad option, dlopen
   failure, missing symbol, ABI version mismatch naming the file and both
   versions, the plugin's init message). */
ab_filter_t *ab_filter_new_from_config (const json_t *stage,
                                        const ab_filter_env_t *env,
                                        ab_diag_t *diag);

/* Destroys the stage (cleanup, then dlclose for plugins); accepts NULL
   and nulls the caller's pointer. */
void ab_filter_destroy (ab_filter_t **self_p);

/* The stage's name: the built-in's name, or the plugin's file name. */
const char *ab_filter_name (const ab_filter_t *self);

/* Runs the stage's apply over `msg`: its return value, with the verdict
   in *verdict (which must be zeroed). The pipeline checks the verdict. */
int ab_filter_run (ab_filter_t *self, const ab_filter_message_t *msg,
                   ab_filter_verdict_t *verdict);

/* The REJECT code (an ab_reject_t of wire/ab_codes.h) of `code` when a
   filter may reject with it: "filter", "too_large", "overloaded",
   "invalid", "malformed"; else -1 (NULL included). */
int ab_filter_code (const char *code);

/* True when `code` may appear in a filter's REJECT (ab_filter_code). */
bool ab_filter_code_valid (const char *code);

/* Adds a diagnostic at the position of `node` (may be NULL) in the
   config, as env->locate finds it: for stages and pipelines built from
   config. */
void ab_filter_report (const ab_filter_env_t *env, ab_diag_t *diag,
                       const json_t *node, const char *format, ...)
    __attribute__ ((format (printf, 4, 5)));

#endif
