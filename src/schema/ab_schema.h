/*  =========================================================================
    ab_schema - a compiled JSON Schema validator

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    An ab_schema_t is one compiled schema of a registry (ab_registry.h,
    which makes, owns and frees them). After ab_registry_compile the
    validators are immutable, and ab_schema_validate may run on several
    threads at once on the same schema.

    Dialect: JSON Schema 2020-12; a `$schema` of draft-07 selects draft-07
    rules. `format` is an annotation unless the registry asserts it
    (ab_registry_options_t.format_assert).
    The project's `tensor` keyword checks a tensor reference object
    ({dtype, shape, frame}) against an allowed dtype (name or list) and
    shape (list of int or null, null = any size).
*/

#ifndef AB_SCHEMA_H_INCLUDED
#define AB_SCHEMA_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct _ab_schema_t ab_schema_t;

/* Validates `instance`. Returns 0 when valid; AB_EREJECTED when not, and
   then, if errors_p is not NULL, *errors_p is a new JSON array (the
   caller's) of at most max_errors objects {path, keyword, schema_path,
   message}, in protocol.md §3's shape; AB_ELIMIT (with one error
   saying so) when evaluation goes deeper than its bound, as a `$ref`
   cycle through allOf/anyOf would; other negative codes for internal
   failures. On success *errors_p is set to NULL. */
int ab_schema_validate (const ab_schema_t *self, const json_t *instance,
                        json_t **errors_p);

/* True when the schema accepts every instance: `true`, or an object
   with no keyword that checks anything (`{}`, annotations only). The
   broker then only needs to know that a payload is JSON, not its tree. */
bool ab_schema_accepts_all (const ab_schema_t *self);

#endif
