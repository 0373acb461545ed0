/*  =========================================================================
    ab_metaschemas - the JSON Schema metaschemas, built in

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    The 2020-12 metaschema with its vocabularies and the draft-07 one, as
    text compiled into the library from tests/fixtures/schema/metaschemas
    (gen-metaschemas.sh, at build time), so a schema whose `$ref` or
    `$schema` names https://json-schema.org/draft/2020-12/schema (or
    http://json-schema.org/draft-07/schema#) resolves with no network and
    no flags. The registry falls back to them when nothing registered or
    mapped has the URI.
*/

#ifndef AB_METASCHEMAS_H_INCLUDED
#define AB_METASCHEMAS_H_INCLUDED

#include <stddef.h>

/* One metaschema file. */
typedef struct {
    const char *path; /* under https://json-schema.org/, "draft-07/schema" */
    const char *text; /* the JSON document */
} ab_metaschema_t;

/* The generated table (ab_metaschemas_data.c). */
extern const ab_metaschema_t ab_metaschemas[];
extern const size_t ab_metaschema_count;

/* The text of the metaschema an absolute URI (without fragment) names,
   http or https, or NULL. */
const char *ab_metaschema_text (const char *uri);

#endif
