/*  =========================================================================
    ab_request - the open request behind a request copy (see
    ab_request.h)

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ab_oom.h"
#include "broker/ab_header.h"
#include "broker/ab_request.h"
#include "wire/ab_jsonw.h"

struct _ab_request_t {
    ab_timer_t *timers;        /* borrowed: the timeout entry's heap */
    char *requester_key;       /* session key of the requesting instance */
    zmq_msg_t requester;       /* its routing id, to address the REPLY */
    json_t *id;                /* the requester's `id`, or NULL */
    const char *reply_type;    /* the edge's `reply` (topology-owned) */
    ab_timer_handle_t timeout; /* timeout_ms deadline, 0 once fired */
};

ab_request_t *
ab_request_new (ab_timer_t *timers, ab_session_t *requester, json_t *id,
                const char *reply_type, int64_t deadline, void *copy)
{
    ab_request_t *self = ab_oom_check (calloc (1, sizeof *self));
    self->timers = timers;
    self->requester_key = ab_oom_check (strdup (ab_session_key (requester)));
    zmq_msg_init (&self->requester);
    zmq_msg_copy (&self->requester, ab_session_routing_id (requester));
    self->id = json_incref (id);
    self->reply_type = reply_type;
    self->timeout = ab_timer_add (timers, deadline, AB_TIMER_REQUEST, copy);
    return self;
}

void
ab_request_destroy (ab_request_t **self_p)
{
    assert (self_p);
    ab_request_t *self = *self_p;
    if (!self)
        return;
    ab_timer_cancel (self->timers, self->timeout);
    free (self->requester_key);
    zmq_msg_close (&self->requester);
    json_decref (self->id);
    free (self);
    *self_p = NULL;
}

void
ab_request_timed_out (ab_request_t *self)
{
    self->timeout = 0;
}

const char *
ab_request_reply_type (const ab_request_t *self)
{
    return self->reply_type;
}

bool
ab_request_present (const ab_request_t *self, ab_sessions_t *sessions)
{
    return ab_sessions_find (sessions, self->requester_key) != NULL;
}

int
ab_request_reply (ab_request_t *self, ab_sessions_t *sessions,
                  ab_outbox_t *outbox, const char *from, int version,
                  bool partial, zmq_msg_t *body, size_t body_count)
{
    if (!ab_request_present (self, sessions))
        return -1;
    ab_jsonw_t *out = ab_outbox_writer (outbox);
    ab_jsonw_string (out, "type", self->reply_type);
    ab_jsonw_int (out, "version", version);
    ab_jsonw_string (out, "from", from);
    ab_jsonw_bool (out, "partial", partial);
    if (self->id)
        ab_jsonw_value (out, "id", self->id);
    return ab_outbox_send (outbox, &self->requester, AB_CMD_REPLY, body,
                           body_count);
}

void
ab_request_reject (ab_request_t *self, ab_sessions_t *sessions,
                   ab_outbox_t *outbox, ab_reject_t code, const char *format,
                   ...)
{
    if (!ab_request_present (self, sessions))
        return;
    char message[512];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    ab_outbox_reject (outbox, &self->requester, "id", self->id, code, NULL,
                      "%s", message);
}
