/*  =========================================================================
    ab_counters - the broker's counters: events, REJECTs and ERRORs sent
    by code, dead letters by reason

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    A plain struct of arrays: each module is handed the broker's one
    ab_counters_t at creation and bumps its entries directly (no global
    state, so two brokers in one process count apart). The counter names
    come from one X-macro list, so a name cannot drift from its enum; the
    REJECT and ERROR names are the wire's (wire/ab_codes.h).
*/

#ifndef AB_COUNTERS_H_INCLUDED
#define AB_COUNTERS_H_INCLUDED

#include <jansson.h>
#include <stddef.h>

#include "store/ab_store.h"
#include "wire/ab_codes.h"

/* Every event counter: X (enum suffix, name in COUNTERS). */
#define AB_COUNTER_LIST(X)                                                     \
    X (RECEIVED, "received")                                                   \
    X (PUBLISHED, "published")                                                 \
    X (REQUESTS, "requests")                                                   \
    X (COPIES_QUEUED, "copies_queued")                                         \
    X (DELIVERED, "delivered")                                                 \
    X (REDELIVERED, "redelivered")                                             \
    X (ACKED, "acked")                                                         \
    X (NACKED, "nacked")                                                       \
    X (ACK_TIMEOUTS, "ack_timeouts")                                           \
    X (EXPIRED, "expired")                                                     \
    X (DEAD_TO_AGENT, "dead_to_agent")                                         \
    X (DEAD_TO_STORE, "dead_to_store")                                         \
    X (REPLIES, "replies")                                                     \
    X (REPLIES_DROPPED, "replies_dropped")                                     \
    X (REQUESTS_TIMED_OUT, "requests_timed_out")                               \
    X (HELLOS, "hellos")                                                       \
    X (BYES, "byes")                                                           \
    X (INSTANCES_DEAD, "instances_dead")                                       \
    X (SEND_FAILURES, "send_failures")                                         \
    X (RELOADS, "reloads")                                                     \
    X (RELOAD_FAILURES, "reload_failures")                                     \
    X (ATTACHMENT_BYTES, "attachment_bytes")                                   \
    X (ATTACHMENT_BYTES_COPIED, "attachment_bytes_copied")                     \
    X (CHECKED_AHEAD, "checked_ahead")

#define AB_COUNTER_ENUM_(suffix, name) AB_C_##suffix,
typedef enum { AB_COUNTER_LIST (AB_COUNTER_ENUM_) AB_C_COUNT_ } ab_counter_t;
#undef AB_COUNTER_ENUM_

typedef struct {
    size_t counters[AB_C_COUNT_];       /* events, by ab_counter_t */
    size_t rejects[AB_REJECT_COUNT_];   /* REJECTs sent, by code */
    size_t errors[AB_ERROR_COUNT_];     /* ERRORs sent, by code */
    size_t dead[AB_DEAD_REASON_COUNT_]; /* dead letters, by reason */
} ab_counters_t;

/* All zero. Aborts when out of memory (ab_header.h). */
ab_counters_t *ab_counters_new (void);

/* Accepts NULL; nulls *self_p. */
void ab_counters_destroy (ab_counters_t **self_p);

/* The COUNTERS name of `counter`. */
const char *ab_counter_name (ab_counter_t counter);

/* Every counter as a new JSON object (the caller's): the events by name,
   then "rejected", "errors" and "dead_lettered" objects by code. */
json_t *ab_counters_json (const ab_counters_t *self);

#endif
