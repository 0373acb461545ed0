/*  =========================================================================
    ab_decimal - integers written in decimal without printf

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Ids, header integers, route keys, schema URIs and payload paths are
    written for every message; snprintf's format parsing was a visible
    share of the broker's time, so these go through here instead.
*/

#ifndef AB_DECIMAL_H_INCLUDED
#define AB_DECIMAL_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

/* Bytes ab_decimal_u64 and ab_decimal_i64 may write, with the NUL. */
#define AB_DECIMAL_SIZE 21

/* Write `value` in decimal, NUL-terminated, into `text` (at least
   AB_DECIMAL_SIZE bytes); return the length. */
size_t ab_decimal_u64 (char *text, uint64_t value);
size_t ab_decimal_i64 (char *text, int64_t value);

#endif
