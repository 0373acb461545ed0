/*  =========================================================================
    fuzz-yaml - libFuzzer target: the YAML loader, then its value as a
    schema validating itself

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <stdint.h>

#include "agentbus.h"
#include "schema/ab_registry.h"
#include "common/ab_yaml.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    ab_diag_t *diag = ab_diag_new ();
    ab_yaml_t *yaml =
        ab_yaml_load_string ((const char *)data, size, "fuzz", diag);
    if (yaml) {
        json_t *root = ab_yaml_root (yaml);
        ab_yaml_value_pos (yaml, root, "type");
        ab_yaml_item_pos (yaml, root, 0);
        ab_registry_t *registry = ab_registry_new (NULL);
        if (ab_registry_add (registry, root, "fuzz.yaml", 1, "fuzz", diag) ==
                0 &&
            ab_registry_compile (registry, diag) == 0)
            ab_schema_validate (ab_registry_lookup (registry, "fuzz.yaml", 1),
                                root, NULL);
        ab_registry_destroy (&registry);
        ab_yaml_destroy (&yaml);
    }
    ab_diag_destroy (&diag);
    return 0;
}
