/*  =========================================================================
    ab_decimal - integers written in decimal without printf

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include "common/ab_decimal.h"

size_t
ab_decimal_u64 (char *text, uint64_t value)
{
    char reversed[AB_DECIMAL_SIZE];
    size_t length = 0;
    do {
        reversed[length++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    for (size_t i = 0; i < length; i++)
        text[i] = reversed[length - 1 - i];
    text[length] = '\0';
    return length;
}

size_t
ab_decimal_i64 (char *text, int64_t value)
{
    if (value >= 0)
        return ab_decimal_u64 (text, (uint64_t)value);
    text[0] = '-';
    /* negated in unsigned arithmetic: INT64_MIN has no positive twin */
    return 1 + ab_decimal_u64 (text + 1, 0 - (uint64_t)value);
}
