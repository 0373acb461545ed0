/*  =========================================================================
    ab_filter_builtin - max_size and rate_limit

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    rate_limit is a token bucket per sender agent: `burst` tokens at most,
    refilled at `rate` per second, one spent per message. A bucket is kept
    for every agent that ever sent, which the topology bounds.

    Out of memory: every allocation of ours is an error returned (NULL
    with "out of memory" from a create, AB_ENOMEM from an apply, which the
    pipeline turns into a "filter" reject). The buckets live in a czmq
    zhashx, whose own allocations abort the process when memory runs out:
    czmq's documented policy, the broker's too.
*/

#include <assert.h>
#include <czmq.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agentbus.h"
#include "filter/ab_filter_builtin.h"
#include "wire/ab_codes.h"

/* Fails when `options` has a key not in `allowed` (NULL-terminated). */
static bool
s_options_known (const json_t *options, const char *const *allowed, char *error,
                 size_t error_size)
{
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *)options, key, value)
    {
        size_t i = 0;
        while (allowed[i] && strcmp (allowed[i], key) != 0)
            i++;
        if (!allowed[i]) {
            snprintf (error, error_size, "unknown option '%s'", key);
            return false;
        }
    }
    return true;
}

/* --- max_size ---------------------------------------------------------- */

typedef struct {
    json_int_t bytes; /* most bytes of payload + attachments let through */
} s_max_size_t;

static void *
s_max_size_create (const json_t *options, const ab_filter_env_t *env,
                   char *error, size_t error_size)
{
    static const char *const allowed[] = {"bytes", NULL};
    if (!s_options_known (options, allowed, error, error_size))
        return NULL;
    const json_t *bytes = json_object_get (options, "bytes");
    if (!json_is_integer (bytes) || json_integer_value (bytes) < 0) {
        snprintf (error, error_size, "option 'bytes' must be an integer >= 0");
        return NULL;
    }
    s_max_size_t *self = malloc (sizeof *self);
    if (self)
        self->bytes = json_integer_value (bytes);
    else
        snprintf (error, error_size, "out of memory");
    return self;
}

static int
s_max_size_apply (void *state, const ab_filter_message_t *msg,
                  ab_filter_verdict_t *verdict)
{
    const s_max_size_t *self = state;
    uint64_t total = msg->payload_size;
    for (size_t i = 0; i < msg->attachment_count; i++)
        total += msg->attachment_sizes[i];
    if (total > (uint64_t)self->bytes) {
        verdict->action = AB_FILTER_REJECT;
        verdict->code = ab_reject_name (AB_REJECT_TOO_LARGE);
        snprintf (verdict->message, sizeof verdict->message,
                  "message is %" PRIu64 " bytes, over the limit of %" PRIu64,
                  total, (uint64_t)self->bytes);
    }
    return 0;
}

/* --- rate_limit -------------------------------------------------------- */

typedef struct {
    double tokens;   /* messages the agent may still send now */
    int64_t last_ms; /* when tokens was computed */
} s_bucket_t;

typedef struct {
    double rate;               /* tokens per second */
    double burst;              /* bucket size */
    ab_filter_clock_fn *clock; /* monotonic ms; NULL = CLOCK_MONOTONIC */
    void *clock_arg;           /* passed to clock */
    zhashx_t *buckets;         /* sender agent → s_bucket_t */
} s_rate_limit_t;

static int64_t
s_now (const s_rate_limit_t *self)
{
    if (self->clock)
        return self->clock (self->clock_arg);
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void
s_rate_limit_destroy (void *state)
{
    s_rate_limit_t *self = state;
    if (self) {
        zhashx_destroy (&self->buckets);
        free (self);
    }
}

static void
s_bucket_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

/* Reads `rate` (> 0) and `burst` (integer >= 1, default max(1, rate)). */
static bool
s_rate_limit_options (const json_t *options, double *rate_p, double *burst_p,
                      char *error, size_t error_size)
{
    static const char *const allowed[] = {"rate", "burst", NULL};
    if (!s_options_known (options, allowed, error, error_size))
        return false;
    const json_t *rate = json_object_get (options, "rate");
    const json_t *burst = json_object_get (options, "burst");
    if (!json_is_number (rate) || !(json_number_value (rate) > 0) ||
        !isfinite (json_number_value (rate))) {
        snprintf (error, error_size,
                  "option 'rate' (messages per second) must be a number > 0");
        return false;
    }
    if (burst && (!json_is_integer (burst) || json_integer_value (burst) < 1)) {
        snprintf (error, error_size, "option 'burst' must be an integer >= 1");
        return false;
    }
    *rate_p = json_number_value (rate);
    *burst_p = burst ? (double)json_integer_value (burst)
                     : fmax (1.0, floor (*rate_p));
    return true;
}

static void *
s_rate_limit_create (const json_t *options, const ab_filter_env_t *env,
                     char *error, size_t error_size)
{
    double rate, burst;
    if (!s_rate_limit_options (options, &rate, &burst, error, error_size))
        return NULL;
    s_rate_limit_t *self = calloc (1, sizeof *self);
    if (!self || !(self->buckets = zhashx_new ())) {
        free (self);
        snprintf (error, error_size, "out of memory");
        return NULL;
    }
    zhashx_set_destructor (self->buckets, s_bucket_free);
    self->rate = rate;
    self->burst = burst;
    self->clock = env ? env->clock : NULL;
    self->clock_arg = env ? env->clock_arg : NULL;
    return self;
}

static int
s_rate_limit_apply (void *state, const ab_filter_message_t *msg,
                    ab_filter_verdict_t *verdict)
{
    s_rate_limit_t *self = state;
    int64_t now = s_now (self);
    const char *from = msg->from ? msg->from : "";
    s_bucket_t *bucket = zhashx_lookup (self->buckets, from);
    if (!bucket) {
        bucket = malloc (sizeof *bucket);
        if (!bucket || zhashx_insert (self->buckets, from, bucket) != 0) {
            free (bucket);
            return AB_ENOMEM;
        }
        *bucket = (s_bucket_t){self->burst, now};
    }
    if (now > bucket->last_ms) {
        double refill = (double)(now - bucket->last_ms) * self->rate / 1000;
        bucket->tokens = fmin (self->burst, bucket->tokens + refill);
        bucket->last_ms = now;
    }
    if (bucket->tokens >= 1) {
        bucket->tokens -= 1;
        return 0;
    }
    verdict->action = AB_FILTER_REJECT;
    verdict->code = ab_reject_name (AB_REJECT_OVERLOADED);
    snprintf (verdict->message, sizeof verdict->message,
              "rate limited: agent '%s' is over %g messages/s (burst %g)", from,
              self->rate, self->burst);
    return 0;
}

/* --- the table --------------------------------------------------------- */

static const ab_filter_builtin_t s_builtins[] = {
    {"max_size", s_max_size_create, {s_max_size_apply, free}},
    {"rate_limit",
     s_rate_limit_create,
     {s_rate_limit_apply, s_rate_limit_destroy}},
};

const ab_filter_builtin_t *
ab_filter_builtin_find (const char *name)
{
    for (size_t i = 0; name && i < sizeof s_builtins / sizeof *s_builtins; i++)
        if (strcmp (s_builtins[i].name, name) == 0)
            return &s_builtins[i];
    return NULL;
}

void
ab_filter_builtin_names (char *buffer, size_t size)
{
    assert (size > 0);
    size_t used = 0;
    buffer[0] = 0;
    for (size_t i = 0; i < sizeof s_builtins / sizeof *s_builtins; i++) {
        int length = snprintf (buffer + used, size - used, "%s%s",
                               i ? ", " : "", s_builtins[i].name);
        if (length < 0 || (size_t)length >= size - used)
            return; /* truncated, still NUL-terminated */
        used += (size_t)length;
    }
}
