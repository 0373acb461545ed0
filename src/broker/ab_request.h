/*  =========================================================================
    ab_request - the open request behind a request copy (protocol §7)

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    A request remembers who asked (the requester's session key and
    routing id: the session may be gone by the time the answer comes),
    the requester's `id` to echo, the edge's reply type and the
    timeout_ms entry (AB_TIMER_REQUEST, whose argument is the request's
    copy). It is owned by its copy (ab_copy) and dies with it. It answers
    the requester itself (ab_request_reply, ab_request_reject) when the
    requester is still there.
*/

#ifndef AB_REQUEST_H_INCLUDED
#define AB_REQUEST_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker/ab_outbox.h"
#include "broker/ab_session.h"
#include "common/ab_timer.h"
#include "wire/ab_codes.h"

typedef struct _ab_request_t ab_request_t;

/* A request of `requester` echoing `id` (may be NULL; a reference is
   taken) whose replies have type `reply_type` (topology-owned), timing
   out at `deadline` (monotonic ms) with an AB_TIMER_REQUEST entry for
   `copy` on `timers` (borrowed). Aborts when out of memory. */
ab_request_t *ab_request_new (ab_timer_t *timers, ab_session_t *requester,
                              json_t *id, const char *reply_type,
                              int64_t deadline, void *copy);

/* Cancels its timeout; accepts NULL; nulls *self_p. */
void ab_request_destroy (ab_request_t **self_p);

/* Its timeout entry fired (it is gone from the heap). */
void ab_request_timed_out (ab_request_t *self);

/* The type its replies have (borrowed). */
const char *ab_request_reply_type (const ab_request_t *self);

/* Whether the requester's session is still there. */
bool ab_request_present (const ab_request_t *self, ab_sessions_t *sessions);

/* Sends the requester REPLY with the header in the outbox's writer
   completed here, from agent `from`, and `body`. 0 when sent, -1 when
   the requester is gone, else an ab_err_t. */
int ab_request_reply (ab_request_t *self, ab_sessions_t *sessions,
                      ab_outbox_t *outbox, const char *from, int version,
                      bool partial, zmq_msg_t *body, size_t body_count);

/* Sends the requester `REJECT code` echoing its id, if it is there. */
void ab_request_reject (ab_request_t *self, ab_sessions_t *sessions,
                        ab_outbox_t *outbox, ab_reject_t code,
                        const char *format, ...)
    __attribute__ ((format (printf, 5, 6)));

#endif
