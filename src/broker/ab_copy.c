/*  =========================================================================
    ab_copy - messages and their copies: the state machine (see
    ab_copy.h for the states and the invariant)

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/ab_oom.h"
#include "agentbus.h"
#include "broker/ab_copy.h"
#include "broker/ab_header.h"
#include "common/ab_decimal.h"
#include "wire/ab_jsonw.h"

/* The type of dead-letter deliveries (protocol §5). */
#define S_DEAD_LETTER_TYPE "agentbus.dead_letter"
/* A copy whose message cannot be read back is tried again this late. */
#define S_READ_RETRY_MS 1000
/* Backoff doubles per attempt but stops doubling here (2^20 x base). */
#define S_BACKOFF_MAX_SHIFT 20

struct _ab_live_copy_t {
    uint64_t id;                 /* store id; `msg` on the wire */
    char id_text[24];            /* id in decimal */
    ab_msg_t *msg;               /* shared message (one reference) */
    ab_queue_t *queue;           /* where it waits */
    ab_queue_slot_t slot;        /* its place there (ab_queue's) */
    const ab_edge_t *edge;       /* whose options apply (ack, retry...) */
    ab_live_state_t state;       /* waiting, in flight, backoff */
    int attempts;                /* deliveries so far */
    ab_session_t *holder;        /* holder while in flight */
    void *holder_place;          /* in the holder's in-flight list */
    char *last_holder;           /* key of the last holder, to avoid it */
    ab_timer_handle_t timer;     /* ack timeout or backoff */
    ab_timer_handle_t ttl_timer; /* ttl expiry */
    ab_request_t *request;       /* for REQ copies, else NULL */
    json_t *dead;                /* {reason, original} of a dead-letter
                                    delivery, else NULL */
    zmq_msg_t *body;             /* frames 3... when an edge stage rewrote
                                    the payload, else NULL (the message's
                                    are sent) */
    size_t body_count;           /* entries in body */
};

struct _ab_copies_t {
    ab_copies_ctx_t ctx; /* what it works with (borrowed) */
    zhashx_t *by_id;     /* id → ab_live_copy_t * (live copies) */
};

ab_copies_t *
ab_copies_new (const ab_copies_ctx_t *ctx)
{
    assert (ctx && ctx->timers && ctx->ledger && ctx->sessions && ctx->outbox &&
            ctx->counters);
    ab_copies_t *self = ab_oom_check (calloc (1, sizeof *self));
    self->ctx = *ctx;
    self->by_id = ab_oom_check (ab_id_hash_new (NULL));
    return self;
}

void
ab_copies_destroy (ab_copies_t **self_p)
{
    assert (self_p);
    ab_copies_t *self = *self_p;
    if (!self)
        return;
    ab_live_copy_t *copy;
    while ((copy = zhashx_first (self->by_id)))
        ab_copy_forget (self, copy, AB_COPY_KEEP_STORED);
    zhashx_destroy (&self->by_id);
    free (self);
    *self_p = NULL;
}

size_t
ab_copies_size (const ab_copies_t *self)
{
    return zhashx_size (self->by_id);
}

/* ---------------------------------------------------------------------
   Messages */

ab_msg_t *
ab_msg_new (void)
{
    ab_msg_t *msg = ab_oom_check (calloc (1, sizeof *msg));
    msg->refs = 1;
    return msg;
}

ab_msg_t *
ab_msg_from_record (ab_copies_t *self, const ab_message_t *record,
                    ab_store_t *store, ab_msg_frames_t frames)
{
    ab_msg_t *msg = ab_msg_new ();
    msg->id = record->id;
    msg->type = ab_oom_check (strdup (record->type));
    msg->version = record->version;
    msg->from = ab_oom_check (strdup (record->from));
    msg->producer_id =
        record->producer_id ? json_string (record->producer_id) : NULL;
    msg->has_seq = record->has_seq;
    msg->seq = record->seq;
    msg->traceparent = record->traceparent
                           ? ab_oom_check (strdup (record->traceparent))
                           : NULL;
    msg->request = record->request;
    msg->store = store;
    if (record->expires_ms) { /* wall clock → this process's monotonic */
        int64_t left = record->expires_ms - ab_wall_ms ();
        msg->expires = ab_now () + (left > 0 ? left : 0);
    }
    if (frames == AB_MSG_KEEP_FRAMES) {
        msg->body_count = record->frame_count;
        msg->body =
            ab_oom_check (calloc (record->frame_count + 1, sizeof (zmq_msg_t)));
        for (size_t i = 0; i < record->frame_count; i++) {
            zmq_msg_init (&msg->body[i]);
            zmq_msg_copy (&msg->body[i], &record->frames[i]);
        }
        msg->bytes = ab_message_bytes (record);
        /* a replay: past the limit */
        ab_ledger_reserve_anyway (self->ctx.ledger, msg->bytes);
    }
    return msg;
}

void
ab_msg_unref (ab_copies_t *self, ab_msg_t **msg_p)
{
    ab_msg_t *msg = *msg_p;
    *msg_p = NULL;
    if (!msg || --msg->refs > 0)
        return;
    ab_ledger_release (self->ctx.ledger, msg->bytes);
    free (msg->type);
    free (msg->from);
    json_decref (msg->producer_id);
    free (msg->traceparent);
    ab_frames_free (msg->body, msg->body_count);
    free (msg);
}

json_t *
ab_msg_dead_header (const ab_msg_t *msg, const ab_edge_t *edge, int attempts,
                    ab_dead_reason_t reason)
{
    return json_pack ("{s:s, s:{s:s, s:i, s:s, s:s, s:O?, s:i}}", "reason",
                      ab_dead_reason_name (reason), "original", "type",
                      msg->type, "version", msg->version, "from", msg->from,
                      "to", edge->to, "id", msg->producer_id, "attempts",
                      attempts);
}

/* ---------------------------------------------------------------------
   Making and forgetting */

/* The store record of a copy. */
static ab_copy_t
s_record (const ab_live_copy_t *copy, ab_copy_state_t state)
{
    return (ab_copy_t){.id = copy->id,
                       .message_id = copy->msg->id,
                       .edge = copy->edge->index,
                       .edge_key = ab_queue_key (copy->queue),
                       .attempts = copy->attempts,
                       .state = state};
}

static bool
s_on_disk (ab_copies_t *self, const ab_live_copy_t *copy)
{
    return copy->msg->store == ab_ledger_disk (self->ctx.ledger);
}

ab_live_copy_t *
ab_copy_make (ab_copies_t *self, ab_queue_t *queue, const ab_edge_t *edge,
              ab_msg_t *msg, uint64_t id)
{
    ab_live_copy_t *copy = ab_oom_check (calloc (1, sizeof *copy));
    copy->id = id;
    ab_decimal_u64 (copy->id_text, copy->id);
    copy->msg = msg;
    msg->refs++;
    copy->queue = queue;
    copy->edge = edge;
    ab_queue_add (queue);
    zhashx_insert (self->by_id, &copy->id, copy);
    /* the sooner of the PUB's ttl_ms and the edge's */
    int64_t expires = msg->expires;
    int64_t now = ab_now ();
    if (edge->ttl_ms > 0 && (!expires || now + edge->ttl_ms < expires))
        expires = now + edge->ttl_ms;
    if (expires)
        copy->ttl_timer =
            ab_timer_add (self->ctx.timers, expires, AB_TIMER_TTL, copy);
    self->ctx.counters->counters[AB_C_COPIES_QUEUED]++;
    return copy;
}

ab_live_copy_t *
ab_copy_new (ab_copies_t *self, ab_queue_t *queue, const ab_edge_t *edge,
             ab_msg_t *msg, int *rc_p)
{
    uint64_t id = 0;
    int rc = ab_ledger_next_id (self->ctx.ledger, &id);
    ab_live_copy_t *copy =
        rc ? NULL : ab_copy_make (self, queue, edge, msg, id);
    if (copy && s_on_disk (self, copy)) {
        ab_copy_t record = s_record (copy, AB_COPY_QUEUED);
        rc = ab_store_put_copy (msg->store, &record);
    }
    if (rc)
        ab_log_printf (self->ctx.log, AB_LOG_ERROR, "store: a copy on %s: %s",
                       ab_queue_key (queue), ab_strerror (rc));
    if (rc && copy)
        ab_copy_forget (self, copy, AB_COPY_KEEP_STORED);
    *rc_p = rc;
    return rc ? NULL : copy;
}

/* Whether a copy taken off its holder remembers it, to avoid it. */
typedef enum {
    S_FORGET_HOLDER = 0, /* the copy is done or dead */
    S_REMEMBER_HOLDER,   /* it will be delivered again */
} s_holder_t;

/* Takes the copy off its holder, if any, freeing one credit and the ack
   timer. */
static void
s_unhold (ab_copies_t *self, ab_live_copy_t *copy, s_holder_t holder)
{
    if (!copy->holder)
        return;
    ab_session_release (copy->holder, copy->holder_place);
    if (holder == S_REMEMBER_HOLDER) {
        free (copy->last_holder);
        copy->last_holder =
            ab_oom_check (strdup (ab_session_key (copy->holder)));
    }
    copy->holder = NULL;
    copy->holder_place = NULL;
    ab_timer_cancel (self->ctx.timers, copy->timer);
    copy->timer = 0;
}

void
ab_copy_forget (ab_copies_t *self, ab_live_copy_t *copy, ab_copy_store_t store)
{
    s_unhold (self, copy, S_FORGET_HOLDER);
    ab_timer_cancel (self->ctx.timers, copy->timer);
    ab_timer_cancel (self->ctx.timers, copy->ttl_timer);
    ab_queue_done (copy->queue, &copy->slot);
    zhashx_delete (self->by_id, &copy->id);
    if (store == AB_COPY_DELETE_STORED && s_on_disk (self, copy))
        ab_store_del_copy (copy->msg->store, copy->id);
    ab_request_destroy (&copy->request);
    json_decref (copy->dead);
    ab_frames_free (copy->body, copy->body_count);
    ab_msg_unref (self, &copy->msg);
    free (copy->last_holder);
    free (copy);
}

/* ---------------------------------------------------------------------
   Waiting and delivery */

void
ab_copy_ready (ab_copies_t *self, ab_live_copy_t *copy, ab_queue_place_t place)
{
    copy->state = AB_LIVE_WAITING;
    ab_queue_wait (copy->queue, &copy->slot, copy, place);
    ab_sessions_mark (self->ctx.sessions, ab_queue_agent (copy->queue));
}

ab_live_copy_t *
ab_copies_next (ab_queue_t *queue)
{
    return ab_queue_next (queue);
}

const char *
ab_copy_avoid (const ab_live_copy_t *copy)
{
    return copy->last_holder;
}

/* BACKOFF until `delay_ms` from now. */
static void
s_later (ab_copies_t *self, ab_live_copy_t *copy, int64_t delay_ms)
{
    ab_queue_out (copy->queue, &copy->slot);
    copy->state = AB_LIVE_BACKOFF;
    copy->timer = ab_timer_add (self->ctx.timers, ab_now () + delay_ms,
                                AB_TIMER_BACKOFF, copy);
}

/* The header of a dead-letter delivery: rare, so built as a json_t
   (copy->dead merged in, as it may name any key). */
static void
s_dead_deliver_header (ab_live_copy_t *copy, ab_jsonw_t *out)
{
    ab_msg_t *msg = copy->msg;
    json_t *header =
        json_pack ("{s:s, s:s, s:i, s:s, s:i, s:b}", "msg", copy->id_text,
                   "type", S_DEAD_LETTER_TYPE, "version", 1, "from", msg->from,
                   "attempt", copy->attempts, "request", copy->request != NULL);
    if (msg->producer_id)
        json_object_set (header, "id", msg->producer_id);
    if (msg->has_seq)
        json_object_set_new (header, "seq", json_integer (msg->seq));
    if (msg->traceparent)
        json_object_set_new (header, "traceparent",
                             json_string (msg->traceparent));
    json_object_update (header, copy->dead);
    const char *key;
    json_t *value;
    json_object_foreach (header, key, value) ab_jsonw_value (out, key, value);
    json_decref (header);
}

/* Writes the DELIVER header of `copy` into the outbox's writer. */
static void
s_deliver_header (ab_copies_t *self, ab_live_copy_t *copy)
{
    ab_msg_t *msg = copy->msg;
    ab_jsonw_t *out = ab_outbox_writer (self->ctx.outbox);
    if (copy->dead) {
        s_dead_deliver_header (copy, out);
        return;
    }
    ab_jsonw_string (out, "msg", copy->id_text);
    ab_jsonw_string (out, "type", msg->type);
    ab_jsonw_int (out, "version", msg->version);
    ab_jsonw_string (out, "from", msg->from);
    ab_jsonw_int (out, "attempt", copy->attempts);
    ab_jsonw_bool (out, "request", copy->request != NULL);
    if (msg->producer_id)
        ab_jsonw_value (out, "id", msg->producer_id);
    if (msg->has_seq)
        ab_jsonw_int (out, "seq", msg->seq);
    if (msg->traceparent)
        ab_jsonw_string (out, "traceparent", msg->traceparent);
}

/* Sends the DELIVER of `copy` to `session`. 0 or an ab_err_t. */
static int
s_send_deliver (ab_copies_t *self, ab_live_copy_t *copy, ab_session_t *session,
                zmq_msg_t *body, size_t count)
{
    ab_msg_t *msg = copy->msg;
    s_deliver_header (self, copy);
    bool fresh = s_on_disk (self, copy) &&
                 msg->batch == ab_ledger_batch (self->ctx.ledger);
    return ab_outbox_deliver (self->ctx.outbox, ab_session_routing_id (session),
                              ab_session_key (session), copy->id,
                              fresh ? AB_SEND_FRESH : AB_SEND_SETTLED, body,
                              count);
}

/* INFLIGHT on `session`, its ack deadline set, its attempt stored. */
static void
s_inflight (ab_copies_t *self, ab_live_copy_t *copy, ab_session_t *session)
{
    ab_queue_out (copy->queue, &copy->slot);
    copy->state = AB_LIVE_INFLIGHT;
    copy->holder = session;
    copy->holder_place = ab_session_hold (session, copy);
    copy->timer =
        ab_timer_add (self->ctx.timers, ab_now () + copy->edge->ack_timeout_ms,
                      AB_TIMER_ACK, copy);
    ab_counters_t *counters = self->ctx.counters;
    counters
        ->counters[copy->attempts > 1 ? AB_C_REDELIVERED : AB_C_DELIVERED]++;
    if (s_on_disk (self, copy)) {
        ab_copy_t record = s_record (copy, AB_COPY_INFLIGHT);
        ab_store_put_copy (copy->msg->store, &record);
    }
}

bool
ab_copy_deliver (ab_copies_t *self, ab_live_copy_t *copy, ab_session_t *session)
{
    ab_msg_t *msg = copy->msg;
    ab_message_t *stored = NULL;
    zmq_msg_t *body = copy->body ? copy->body : msg->body;
    size_t count = copy->body ? copy->body_count : msg->body_count;
    if (!body) { /* durable: the frames are read back */
        int rc = ab_store_get_message (msg->store, msg->id, &stored);
        if (rc) {
            ab_log_printf (self->ctx.log, AB_LOG_ERROR,
                           "store: message %" PRIu64 " of copy %s: %s", msg->id,
                           copy->id_text, ab_strerror (rc));
            s_later (self, copy, S_READ_RETRY_MS);
            return true;
        }
        body = stored->frames;
        count = stored->frame_count;
    }
    copy->attempts++;
    int rc = s_send_deliver (self, copy, session, body, count);
    ab_message_destroy (&stored);
    if (rc) {
        copy->attempts--;
        return false;
    }
    s_inflight (self, copy, session);
    return true;
}

ab_live_copy_t *
ab_copies_held (ab_copies_t *self, ab_session_t *session, const json_t *header)
{
    uint64_t id = ab_header_msg_id (header);
    ab_live_copy_t *copy = id ? zhashx_lookup (self->by_id, &id) : NULL;
    if (!copy || copy->state != AB_LIVE_INFLIGHT || copy->holder != session)
        return NULL;
    return copy;
}

void
ab_copy_done (ab_copies_t *self, ab_live_copy_t *copy)
{
    ab_sessions_mark (self->ctx.sessions, ab_queue_agent (copy->queue));
    ab_copy_forget (self, copy, AB_COPY_DELETE_STORED);
}

void
ab_copy_extend (ab_copies_t *self, ab_live_copy_t *copy)
{
    ab_timer_reschedule (self->ctx.timers, copy->timer,
                         ab_now () + copy->edge->ack_timeout_ms);
}

/* ---------------------------------------------------------------------
   Retry, dead letters, failed requests */

void
ab_copy_retry (ab_copies_t *self, ab_live_copy_t *copy, ab_attempt_t attempt)
{
    ab_sessions_mark (self->ctx.sessions, ab_queue_agent (copy->queue));
    s_unhold (self, copy, S_REMEMBER_HOLDER);
    if (attempt == AB_ATTEMPT_UNCOUNTED) {
        copy->attempts--;
        ab_copy_ready (self, copy, AB_QUEUE_FRONT);
        return;
    }
    if (copy->attempts >= copy->edge->max_attempts) {
        ab_copy_dead_letter (self, copy, AB_DEAD_MAX_ATTEMPTS);
        return;
    }
    int shift = copy->attempts - 1;
    if (shift > S_BACKOFF_MAX_SHIFT)
        shift = S_BACKOFF_MAX_SHIFT;
    int64_t backoff = copy->edge->retry_backoff_ms << shift;
    if (backoff <= 0)
        ab_copy_ready (self, copy, AB_QUEUE_FRONT);
    else
        s_later (self, copy, backoff);
}

void
ab_copy_fail_request (ab_copies_t *self, ab_live_copy_t *copy, const char *why)
{
    self->ctx.counters->counters[AB_C_REQUESTS_TIMED_OUT]++;
    ab_request_reject (copy->request, self->ctx.sessions, self->ctx.outbox,
                       AB_REJECT_TIMEOUT, "request %s: %s", copy->id_text, why);
    ab_copy_done (self, copy);
}

void
ab_copy_set_dead (ab_copies_t *self, ab_live_copy_t *copy, json_t *dead,
                  ab_dead_ttl_t ttl)
{
    json_decref (copy->dead);
    copy->dead = dead;
    if (ttl == AB_DEAD_KEEPS_TTL)
        return;
    /* the original's ttl is over or irrelevant: the dead letter itself
       must not expire into another dead letter */
    ab_timer_cancel (self->ctx.timers, copy->ttl_timer);
    copy->ttl_timer = 0;
}

/* Queues an agentbus.dead_letter delivery of `copy` to agent `to`.
   False when the store refused it. */
static bool
s_dead_to_agent (ab_copies_t *self, ab_live_copy_t *copy, long to,
                 ab_dead_reason_t reason)
{
    ab_queue_t *queue = ab_generation_dead_queue (
        ab_queue_generation (copy->queue), to, reason);
    int rc;
    ab_live_copy_t *dead =
        ab_copy_new (self, queue, copy->edge, copy->msg, &rc);
    if (!dead)
        return false;
    ab_copy_set_dead (
        self, dead,
        ab_msg_dead_header (copy->msg, copy->edge, copy->attempts, reason),
        AB_DEAD_NEVER_EXPIRES);
    ab_copy_ready (self, dead, AB_QUEUE_BACK);
    return true;
}

/* Puts a live non-durable copy and its message into the memory store,
   which until now never held them: the broker alone keeps live
   non-durable state, and the store takes what outlives it, a dead
   letter. The header text is not kept: only disk recovery reads it. */
static int
s_memory_put (ab_copies_t *self, ab_live_copy_t *copy)
{
    ab_msg_t *msg = copy->msg;
    ab_store_t *store = ab_ledger_memory (self->ctx.ledger);
    ab_message_t record = {.id = msg->id,
                           .type = msg->type,
                           .version = msg->version,
                           .from = msg->from,
                           .producer_id = json_string_value (msg->producer_id),
                           .has_seq = msg->has_seq,
                           .seq = msg->seq,
                           .traceparent = msg->traceparent,
                           .request = msg->request,
                           .header = "{}",
                           .frames = msg->body,
                           .frame_count = msg->body_count};
    if (msg->expires)
        record.expires_ms = msg->expires - ab_now () + ab_wall_ms ();
    int rc = ab_store_put_message (store, &record);
    bool fresh = rc == 0;
    if (rc == AB_EEXIST) /* an earlier copy of it died into the store */
        rc = 0;
    ab_copy_t state = s_record (copy, AB_COPY_QUEUED);
    if (rc == 0)
        rc = ab_store_put_copy (store, &state);
    if (rc && fresh)
        ab_store_del_message (store, msg->id);
    return rc;
}

/* Into the dead letters of the message's store. */
static void
s_dead_to_store (ab_copies_t *self, ab_live_copy_t *copy,
                 ab_dead_reason_t reason)
{
    bool disk = s_on_disk (self, copy);
    int rc = disk ? 0 : s_memory_put (self, copy);
    if (rc == 0)
        rc = ab_store_dead_letter (copy->msg->store, copy->id, reason,
                                   ab_wall_ms ());
    if (rc && !disk) /* the copy (if put) goes; the message stays if held */
        ab_store_del_copy (ab_ledger_memory (self->ctx.ledger), copy->id);
    if (rc)
        ab_log_printf (self->ctx.log, AB_LOG_ERROR, "store: dead letter %s: %s",
                       copy->id_text, ab_strerror (rc));
    self->ctx.counters->counters[AB_C_DEAD_TO_STORE]++;
    /* moved, or when the disk store could not move it, its live copy
       stays there and comes back at the next start rather than vanish */
    ab_copy_forget (self, copy, AB_COPY_KEEP_STORED);
}

void
ab_copy_dead_letter (ab_copies_t *self, ab_live_copy_t *copy,
                     ab_dead_reason_t reason)
{
    if (copy->request) {
        ab_copy_fail_request (self, copy, ab_dead_reason_name (reason));
        return;
    }
    self->ctx.counters->dead[reason]++;
    ab_sessions_mark (self->ctx.sessions, ab_queue_agent (copy->queue));
    s_unhold (self, copy, S_FORGET_HOLDER);
    ab_log_printf (self->ctx.log, AB_LOG_WARNING,
                   "dead letter: copy %s of %s from %s on %s: %s",
                   copy->id_text, copy->msg->type, copy->msg->from,
                   ab_queue_key (copy->queue), ab_dead_reason_name (reason));
    long to = copy->edge->dead_letter_agent;
    if (!copy->dead && to >= 0 && s_dead_to_agent (self, copy, to, reason)) {
        self->ctx.counters->counters[AB_C_DEAD_TO_AGENT]++;
        ab_copy_forget (self, copy, AB_COPY_DELETE_STORED);
        return;
    }
    s_dead_to_store (self, copy, reason);
}

void
ab_copies_on_timer (ab_copies_t *self, const ab_timer_entry_t *entry)
{
    ab_live_copy_t *copy = entry->arg;
    ab_counters_t *counters = self->ctx.counters;
    switch ((ab_timer_kind_t)entry->kind) {
    case AB_TIMER_ACK:
        copy->timer = 0;
        counters->counters[AB_C_ACK_TIMEOUTS]++;
        ab_copy_retry (self, copy, AB_ATTEMPT_COUNTED);
        break;
    case AB_TIMER_BACKOFF:
        copy->timer = 0;
        ab_copy_ready (self, copy, AB_QUEUE_FRONT);
        break;
    case AB_TIMER_TTL:
        copy->ttl_timer = 0;
        counters->counters[AB_C_EXPIRED]++;
        ab_copy_dead_letter (self, copy, AB_DEAD_EXPIRED);
        break;
    case AB_TIMER_REQUEST:
        ab_request_timed_out (copy->request);
        ab_copy_fail_request (self, copy, "no reply within timeout_ms");
        break;
    default:
        assert (!"not a copy's timer kind");
    }
}

void
ab_copies_refused (ab_copies_t *self, uint64_t id, const char *key)
{
    ab_live_copy_t *copy = zhashx_lookup (self->by_id, &id);
    if (copy && copy->state == AB_LIVE_INFLIGHT && copy->holder &&
        strcmp (ab_session_key (copy->holder), key) == 0) {
        self->ctx.counters->counters[copy->attempts > 1 ? AB_C_REDELIVERED
                                                        : AB_C_DELIVERED]--;
        ab_copy_retry (self, copy, AB_ATTEMPT_UNCOUNTED);
    }
}

void
ab_copies_rollback (ab_copies_t *self, uint64_t batch, int rc)
{
    zlistx_t *copies = ab_oom_check (zhashx_values (self->by_id));
    for (ab_live_copy_t *copy = zlistx_first (copies); copy;
         copy = zlistx_next (copies)) {
        if (!s_on_disk (self, copy) || copy->msg->batch != batch)
            continue;
        if (copy->request)
            ab_request_reject (copy->request, self->ctx.sessions,
                               self->ctx.outbox, AB_REJECT_OVERLOADED,
                               "store: %s", ab_strerror (rc));
        ab_sessions_mark (self->ctx.sessions, ab_queue_agent (copy->queue));
        ab_copy_forget (self, copy, AB_COPY_KEEP_STORED);
    }
    zlistx_destroy (&copies);
}

/* ---------------------------------------------------------------------
   What a copy is */

void
ab_copy_set_request (ab_live_copy_t *copy, ab_request_t *request)
{
    assert (!copy->request);
    copy->request = request;
}

void
ab_copy_rewrite (ab_live_copy_t *copy, const char *payload)
{
    ab_msg_t *msg = copy->msg;
    copy->body_count = msg->body_count;
    copy->body = ab_oom_check (calloc (copy->body_count, sizeof (zmq_msg_t)));
    zmq_msg_init_size (&copy->body[0], strlen (payload));
    memcpy (zmq_msg_data (&copy->body[0]), payload, strlen (payload));
    for (size_t i = 1; i < copy->body_count; i++) {
        zmq_msg_init (&copy->body[i]);
        zmq_msg_copy (&copy->body[i], &msg->body[i]);
    }
}

int
ab_copy_attempts (const ab_live_copy_t *copy)
{
    return copy->attempts;
}

void
ab_copy_set_attempts (ab_live_copy_t *copy, int attempts)
{
    copy->attempts = attempts;
}

ab_live_state_t
ab_copy_state (const ab_live_copy_t *copy)
{
    return copy->state;
}

ab_queue_t *
ab_copy_queue (const ab_live_copy_t *copy)
{
    return copy->queue;
}

const ab_edge_t *
ab_copy_edge (const ab_live_copy_t *copy)
{
    return copy->edge;
}

ab_request_t *
ab_copy_request (const ab_live_copy_t *copy)
{
    return copy->request;
}

const char *
ab_copy_id_text (const ab_live_copy_t *copy)
{
    return copy->id_text;
}
