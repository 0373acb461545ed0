/*  =========================================================================
    fuzz-jsonscan - libFuzzer target: ab_jsonscan against jansson

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Differential: for any bytes, ab_jsonscan_check and ab_jsonscan_load
    must say yes exactly when json_loadb (JSON_DECODE_ANY) does (a text
    with a NUL byte excepted: the scanner refuses those, see
    ab_jsonscan.h), and the loaded values must dump alike. Any difference
    aborts, so libFuzzer keeps the input as a crash.
*/

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "wire/ab_jsonscan.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    bool nul = memchr (text, 0, size) != NULL;
    json_t *theirs =
        nul ? NULL : json_loadb (text, size, JSON_DECODE_ANY, NULL);
    bool checked = ab_jsonscan_check (text, size, NULL) == 0;
    json_t *ours = ab_jsonscan_load (text, size, NULL);
    if (checked != (theirs != NULL) || (ours != NULL) != (theirs != NULL))
        abort ();
    if (ours) {
        size_t flags = JSON_ENCODE_ANY | JSON_COMPACT;
        char *a = json_dumps (ours, flags), *b = json_dumps (theirs, flags);
        if (!a || !b || strcmp (a, b) != 0 || !json_equal (ours, theirs))
            abort ();
        free (a);
        free (b);
    }
    json_decref (ours);
    json_decref (theirs);
    return 0;
}
