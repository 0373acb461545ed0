/*  =========================================================================
    ab_error - the project's one error model

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include "agentbus.h"

/* Indexed by -code; the static assert keeps the table and enum in step. */
static const struct {
    const char *name;
    const char *text;
} s_errors[] = {
    {"OK", "success"},
    {"ENOMEM", "out of memory"},
    {"EINVAL", "invalid argument"},
    {"EIO", "input/output error"},
    {"ESYNTAX", "syntax error"},
    {"ENOENT", "not found"},
    {"EEXIST", "already exists"},
    {"EPROTO", "protocol error"},
    {"ETIMEDOUT", "timed out"},
    {"EFULL", "full"},
    {"ETOOBIG", "too large"},
    {"EREJECTED", "rejected"},
    {"ELIMIT", "limit reached"},
    {"EVERSION", "incompatible version"},
    {"ESTATE", "invalid state"},
};

_Static_assert(sizeof s_errors / sizeof s_errors[0] == AB_ERR_COUNT_,
               "s_errors must have one entry per ab_err_t");

static int
s_index (int code)
{
    if (code > 0 || code <= -AB_ERR_COUNT_)
        return -1;
    return -code;
}

const char *
ab_strerror (int code)
{
    int index = s_index (code);
    return index < 0 ? "unknown error" : s_errors[index].text;
}

const char *
ab_strerror_name (int code)
{
    int index = s_index (code);
    return index < 0 ? "EUNKNOWN" : s_errors[index].name;
}
