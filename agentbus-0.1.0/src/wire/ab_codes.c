/*  =========================================================================
    ab_codes - ABP/1's REJECT and ERROR codes, one table for every side

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <stddef.h>
#include <string.h>

#include "wire/ab_codes.h"

static const char *const s_reject_names[AB_REJECT_COUNT_] = {
    [AB_REJECT_INVALID] = "invalid",
    [AB_REJECT_UNKNOWN_TYPE] = "unknown_type",
    [AB_REJECT_VERSION] = "version",
    [AB_REJECT_UNROUTABLE] = "unroutable",
    [AB_REJECT_MALFORMED] = "malformed",
    [AB_REJECT_TOO_LARGE] = "too_large",
    [AB_REJECT_OVERLOADED] = "overloaded",
    [AB_REJECT_DUPLICATE] = "duplicate",
    [AB_REJECT_FILTER] = "filter",
    [AB_REJECT_TIMEOUT] = "timeout",
};

static const char *const s_error_names[AB_ERROR_COUNT_] = {
    [AB_ERROR_PROTOCOL] = "protocol",
    [AB_ERROR_NOT_REGISTERED] = "not_registered",
    [AB_ERROR_UNKNOWN_AGENT] = "unknown_agent",
    [AB_ERROR_UNAUTHORIZED] = "unauthorized",
    [AB_ERROR_UNKNOWN_MESSAGE] = "unknown_message",
};

static int
s_lookup (const char *const *names, int count, const char *name)
{
    for (int i = 0; name && i < count; i++)
        if (strcmp (names[i], name) == 0)
            return i;
    return -1;
}

const char *
ab_reject_name (ab_reject_t code)
{
    return (int) code >= 0 && code < AB_REJECT_COUNT_ ? s_reject_names[code]
                                                      : NULL;
}

const char *
ab_error_name (ab_error_code_t code)
{
    return (int) code >= 0 && code < AB_ERROR_COUNT_ ? s_error_names[code]
                                                     : NULL;
}

int
ab_reject_code (const char *name)
{
    return s_lookup (s_reject_names, AB_REJECT_COUNT_, name);
}

int
ab_error_code (const char *name)
{
    return s_lookup (s_error_names, AB_ERROR_COUNT_, name);
}
