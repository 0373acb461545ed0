/*  =========================================================================
    fuzz-schema - libFuzzer target: schema compiler, validator, tensor refs

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    The input is a JSON schema, optionally followed by a NUL byte and a
    JSON instance (without one, the schema validates itself). Anything may
    be rejected; nothing may crash, leak or loop.
*/

#include <stdint.h>
#include <string.h>

#include "agentbus.h"
#include "schema/ab_registry.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nul = memchr (text, '\0', size);
    size_t schema_size = nul ? (size_t)(nul - text) : size;
    json_t *schema = json_loadb (text, schema_size, JSON_DECODE_ANY, NULL);
    if (!schema)
        return 0;
    json_t *instance = nul ? json_loadb (nul + 1, size - schema_size - 1,
                                         JSON_DECODE_ANY, NULL)
                           : json_incref (schema);
    ab_registry_options_t options = {size % 2 == 0, 4};
    ab_registry_t *registry = ab_registry_new (&options);
    ab_diag_t *diag = ab_diag_new ();
    if (ab_registry_add (registry, schema, "fuzz.case", 1, "fuzz", diag) == 0 &&
        ab_registry_compile (registry, diag) == 0 && instance) {
        const ab_schema_t *compiled =
            ab_registry_lookup (registry, "fuzz.case", 1);
        json_t *errors = NULL;
        ab_schema_validate (compiled, instance, &errors);
        json_decref (errors);
        ab_schema_validate (compiled, instance, NULL);
    }
    if (instance) {
        size_t frames[] = {4, 8, 0};
        char message[128];
        ab_tensor_check_refs (instance, frames, 3, message, sizeof message);
    }
    ab_diag_destroy (&diag);
    ab_registry_destroy (&registry);
    json_decref (instance);
    json_decref (schema);
    return 0;
}
