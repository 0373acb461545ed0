/*  =========================================================================
    ab_yaml - YAML 1.2 (core schema) documents as jansson values

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Loads one YAML document (libyaml) into a jansson value, resolving plain
    scalars by the YAML 1.2 core schema: `yes`/`no`/`on`/`off` stay strings,
    `1` is an integer, `1.0` a real, `~`/`null`/empty are null, `true`/
    `false` booleans; quoted scalars are always strings. Duplicate keys,
    non-string keys, invalid UTF-8 and alias expansion beyond a fixed
    bound (the "billion laughs" file) are errors, reported into an ab_diag_t
    as `file:line:col: message`.

    Positions are kept beside the value: jansson shares singletons (true,
    false, null), so a position is looked up by its container and key or
    index, never by the value's pointer alone.
*/

#ifndef AB_YAML_H_INCLUDED
#define AB_YAML_H_INCLUDED

#include <jansson.h>
#include <stddef.h>

#include "common/ab_diag.h"

/* A 1-based line and column; {0, 0} when unknown. */
typedef struct {
    int line;
    int column;
} ab_pos_t;

typedef struct _ab_yaml_t ab_yaml_t;

/* Loads the file at `path`. On any error returns NULL and adds every
   problem found to `diag` (which may be NULL). */
ab_yaml_t *ab_yaml_load_file (const char *path, ab_diag_t *diag);

/* Loads YAML from memory; `name` is used as the file name in messages. */
ab_yaml_t *ab_yaml_load_string (const char *text, size_t length,
                                const char *name, ab_diag_t *diag);

/* Destroys the document and its value; accepts NULL, nulls the pointer. */
void ab_yaml_destroy (ab_yaml_t **self_p);

/* The document's root value (borrowed; json_incref to keep it). */
json_t *ab_yaml_root (const ab_yaml_t *self);

/* The file name given when loading (borrowed). */
const char *ab_yaml_name (const ab_yaml_t *self);

/* Where the root value starts. */
ab_pos_t ab_yaml_root_pos (const ab_yaml_t *self);

/* Where the value of `key` in `object` starts ({0,0} if unknown). */
ab_pos_t ab_yaml_value_pos (const ab_yaml_t *self, const json_t *object,
                            const char *key);

/* Where the key `key` itself is written in `object`. */
ab_pos_t ab_yaml_key_pos (const ab_yaml_t *self, const json_t *object,
                          const char *key);

/* Where item `index` of `array` starts. */
ab_pos_t ab_yaml_item_pos (const ab_yaml_t *self, const json_t *array,
                           size_t index);

/* Where a container (object or array) value starts: objects and arrays
   are never singletons, so they can be looked up by pointer. */
ab_pos_t ab_yaml_node_pos (const ab_yaml_t *self, const json_t *container);

#endif
