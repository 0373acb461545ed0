/*  filter_bad_abi - a test fixture: a filter plugin built for a future ABI.

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.

    It answers the handshake with version 99, which no broker supports, so
    loading it must fail with a message naming the file and both versions.
    init must never be called; it aborts to prove it. */

#include <stdlib.h>

#include "agentbus/filter.h"

int
ab_filter_version (int count, const int *versions)
{
    return 99;
}

void *
ab_filter_init (const json_t *options, char *error, size_t error_size)
{
    abort ();
}

int
ab_filter_apply (void *state, const ab_filter_message_t *msg,
                 ab_filter_verdict_t *verdict)
{
    return -1;
}

void
ab_filter_cleanup (void *state)
{
}
