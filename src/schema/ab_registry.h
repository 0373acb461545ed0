/*  =========================================================================
    ab_registry - the schemas the broker knows, compiled once

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    A registry holds every schema the broker knows: by `$id` (and the
    `$id`s and anchors of subschemas) and by `agentbus:TYPE/VERSION`.
    Schemas are added, then compiled once (all `$ref`s resolved, patterns
    compiled with PCRE2); after ab_registry_compile the registry and its
    ab_schema_t validators (ab_schema.h) are immutable, and the lookups
    and ab_schema_validate may run on several threads at once.
*/

#ifndef AB_REGISTRY_H_INCLUDED
#define AB_REGISTRY_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/ab_diag.h"
#include "schema/ab_schema.h"

typedef struct _ab_registry_t ab_registry_t;

typedef struct {
    bool format_assert; /* `format` asserts instead of annotating */
    size_t max_errors;  /* errors reported per validation; 0 = 16 */
} ab_registry_options_t;

/* Creates an empty registry; NULL options means the defaults. */
ab_registry_t *ab_registry_new (const ab_registry_options_t *options);

/* Destroys the registry and every schema in it; accepts NULL. */
void ab_registry_destroy (ab_registry_t **self_p);

/* Resolves `$ref` URLs starting with `prefix` to files under `dir`
   (`http://localhost:1234/` → tests' remotes). Never the network. */
int ab_registry_map_remote (ab_registry_t *self, const char *prefix,
                            const char *dir);

/* Adds one schema document. `type`/`version` name it as
   `agentbus:TYPE/VERSION` (NULL/0 for a bare schema reachable only by
   `$id`). Takes its own reference to `schema`. `file` is for messages.
   Returns 0, or a negative ab_err_t with the reason in `diag`. */
int ab_registry_add (ab_registry_t *self, json_t *schema, const char *type,
                     int version, const char *file, ab_diag_t *diag);

/* Loads a schema file (YAML or JSON). A top-level mapping with both
   `version` and `schema` keys is an agentbus schema file (type, version,
   description, schema), anything else a bare JSON Schema. Problems go to
   `diag` as file:line:col. On success, *type_p / *version_p (each may be
   NULL) receive the declared type (borrowed from the registry; NULL for a
   bare schema) and version. A bare schema file is also registered
   under "file://" + its real path, for ab_registry_lookup_id. */
int ab_registry_load_file (ab_registry_t *self, const char *path,
                           ab_diag_t *diag, const char **type_p,
                           int *version_p);

/* Compiles everything added so far and resolves every `$ref`. Returns 0,
   or a negative ab_err_t with every problem in `diag`. */
int ab_registry_compile (ab_registry_t *self, ab_diag_t *diag);

/* The compiled schema of TYPE/VERSION, or NULL. */
const ab_schema_t *ab_registry_lookup (const ab_registry_t *self,
                                       const char *type, int version);

/* The compiled schema with this absolute `$id`, or NULL. */
const ab_schema_t *ab_registry_lookup_id (const ab_registry_t *self,
                                          const char *uri);

#endif
