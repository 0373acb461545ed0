/*  =========================================================================
    ab_counters - the broker's counters (see ab_counters.h)

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <assert.h>
#include <stdlib.h>

#include "common/ab_oom.h"
#include "broker/ab_counters.h"
#include "broker/ab_header.h"

#define S_NAME_(suffix, name) [AB_C_##suffix] = name,
static const char *const s_names[AB_C_COUNT_] = {AB_COUNTER_LIST (S_NAME_)};
#undef S_NAME_

ab_counters_t *
ab_counters_new (void)
{
    return ab_oom_check (calloc (1, sizeof (ab_counters_t)));
}

void
ab_counters_destroy (ab_counters_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

const char *
ab_counter_name (ab_counter_t counter)
{
    assert (counter < AB_C_COUNT_);
    return s_names[counter];
}

static json_t *
s_by_code (const size_t *values, int count, const char *(*name) (int))
{
    json_t *object = json_object ();
    for (int i = 0; i < count; i++)
        json_object_set_new (object, name (i),
                             json_integer ((json_int_t)values[i]));
    return object;
}

static const char *
s_reject_name (int code)
{
    return ab_reject_name ((ab_reject_t)code);
}

static const char *
s_error_name (int code)
{
    return ab_error_name ((ab_error_code_t)code);
}

static const char *
s_dead_name (int reason)
{
    return ab_dead_reason_name ((ab_dead_reason_t)reason);
}

json_t *
ab_counters_json (const ab_counters_t *self)
{
    assert (self);
    json_t *counters = json_object ();
    for (int i = 0; i < AB_C_COUNT_; i++)
        json_object_set_new (counters, s_names[i],
                             json_integer ((json_int_t)self->counters[i]));
    json_object_set_new (
        counters, "rejected",
        s_by_code (self->rejects, AB_REJECT_COUNT_, s_reject_name));
    json_object_set_new (
        counters, "errors",
        s_by_code (self->errors, AB_ERROR_COUNT_, s_error_name));
    json_object_set_new (
        counters, "dead_lettered",
        s_by_code (self->dead, AB_DEAD_REASON_COUNT_, s_dead_name));
    return counters;
}
