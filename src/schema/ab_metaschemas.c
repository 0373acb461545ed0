/*  =========================================================================
    ab_metaschemas - the JSON Schema metaschemas, built in

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <string.h>

#include "schema/ab_metaschemas.h"

const char *
ab_metaschema_text (const char *uri)
{
    static const char *const prefixes[] = {"https://json-schema.org/",
                                           "http://json-schema.org/"};
    for (size_t p = 0; p < 2; p++) {
        size_t n = strlen (prefixes[p]);
        if (strncmp (uri, prefixes[p], n) != 0)
            continue;
        for (size_t i = 0; i < ab_metaschema_count; i++)
            if (strcmp (uri + n, ab_metaschemas[i].path) == 0)
                return ab_metaschemas[i].text;
    }
    return NULL;
}
