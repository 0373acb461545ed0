/*  =========================================================================
    ab_agent - one agent instance speaking ABP/1 over a DEALER socket

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Design note. Every public call that needs an answer builds the whole
    outgoing message once (frames kept as zmq_msg_t, attachments zero-copy)
    and runs one loop, s_await: send shared copies of the frames, then
    read until the wait is satisfied. Everything the broker sends goes
    through s_dispatch, whatever the caller waits for:
      * DELIVER is appended to a FIFO for ab_agent_receive. Its length is
        bounded by the credit the broker honours, so buffering while an
        OK is outstanding cannot grow without limit.
      * OK, REJECT and REPLY end the wait only when their echo (`id` for
        PUB/REQ, `msg` for REP) matches; an answer to a command we gave up
        on is dropped. Hence PUB/REQ always carry an id (one is made when
        the caller has none).
      * ERROR not_registered marks the agent unregistered; the loop says
        HELLO again (at most once per timeout_ms) and, once a WELCOME
        starts a new session, re-sends the pending command: at-least-once.
        The broker answers in command order, so every ERROR for a command
        sent before that HELLO arrives before its WELCOME.
    Heartbeats have no thread: s_await sends PING every heartbeat_ms and
    declares the broker gone when a PING stays unanswered by any traffic
    for 3 × heartbeat_ms; then the socket is replaced and HELLO re-sent.

    The wire is the broker's own codec (src/wire): ab_proto_recv_dealer
    checks the frame table of what the broker sends, ab_jsonw writes every
    header sent, and commands and codes are ab_proto's and ab_codes'
    tables, so both sides spell ABP/1 once.

    Out of memory is an error returned (AB_ENOMEM, or NULL from
    ab_agent_new), never an assert and never an abort: this is a library
    inside someone else's process.
*/

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "agentbus.h"
#include "agent/ab_delivery.h"
#include "wire/ab_codes.h"
#include "wire/ab_jsonw.h"
#include "wire/ab_proto.h"

#define S_DEFAULT_CREDIT 16
#define S_DEFAULT_TIMEOUT_MS 5000
#define S_DEFAULT_HEARTBEAT_MS 1000
#define S_BYE_LINGER_MS 500
#define S_MAX_ID 128

/* What a call waits for. */
typedef enum {
    S_WAIT_DELIVERY = 0, /* a buffered DELIVER (receive, poll) */
    S_WAIT_WELCOME,      /* HELLO → WELCOME or ERROR */
    S_WAIT_OK,           /* PUB, REP → OK or REJECT */
    S_WAIT_REPLY,        /* REQ → final REPLY or REJECT */
    S_WAIT_POLL,         /* ab_agent_poll: anything at all */
} s_wait_kind_t;

/* One call's wait: what ends it, and its result. */
typedef struct {
    s_wait_kind_t kind;        /* what answer ends the wait */
    const char *key_field;     /* header field echoing our command */
    const char *key;           /* its expected value */
    ab_partial_fn *partial_fn; /* REQ: streamed replies go here */
    void *arg;                 /* argument of partial_fn */
    bool done;                 /* the answer came */
    int result;                /* the call's return value once done */
    ab_delivery_t *reply;      /* REQ: the final REPLY */
} s_wait_t;

struct _ab_agent_t {
    void *ctx;               /* ZeroMQ context; owned */
    void *socket;            /* DEALER to the broker, or NULL; owned */
    char *endpoint;          /* broker's agent endpoint */
    char *name;              /* agent name in the topology */
    char *instance;          /* instance text for HELLO, or NULL */
    int credit;              /* in-flight window (HELLO, CREDIT) */
    int heartbeat_override;  /* PING interval chosen by the user, or 0 */
    int heartbeat_ms;        /* PING interval in use */
    int timeout_ms;          /* wait for WELCOME/OK/REJECT */
    char *topology;          /* WELCOME's topology, or NULL */
    bool registered;         /* WELCOME seen and not since forgotten */
    uint64_t session;        /* WELCOMEs so far; a command is re-sent when
                                it moved since the command was sent */
    int64_t next_hello;      /* unregistered: when HELLO may go again */
    bool ever_connected;     /* ab_agent_connect succeeded once */
    int64_t next_ping;       /* monotonic ms when the next PING is due */
    int64_t ping_unanswered; /* when the oldest unanswered PING left, or 0 */
    ab_delivery_t *head;     /* FIFO of buffered deliveries: oldest */
    ab_delivery_t *tail;     /* … newest */
    size_t pending;          /* length of the FIFO */
    json_t *last_reject;     /* header of the last REJECT, or NULL */
    char *last_error;        /* code of the last REJECT or ERROR, or NULL */
    uint64_t next_id;        /* counter for ids the library makes */
    size_t reconnects;       /* WELCOMEs after losing the broker */
    size_t bad_messages;     /* messages dropped as malformed */
    ab_jsonw_t *writer;      /* the header of the command being built;
                                reused, its text copied into the frames */
};

static int64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *
s_strdup_or_null (const char *text)
{
    return text ? strdup (text) : NULL;
}

static void
s_set_error (ab_agent_t *self, const char *code)
{
    free (self->last_error);
    self->last_error = s_strdup_or_null (code);
}

/* --- life cycle ------------------------------------------------------ */

ab_agent_t *
ab_agent_new (const char *endpoint, const char *agent_name,
              const ab_agent_options_t *options)
{
    ab_agent_options_t defaults = {0};
    if (!options)
        options = &defaults;
    if (!endpoint || !agent_name || !*agent_name || options->credit < 0 ||
        options->heartbeat_ms < 0 || options->timeout_ms < 0)
        return NULL;
    ab_agent_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->ctx = zmq_ctx_new ();
    self->endpoint = strdup (endpoint);
    self->name = strdup (agent_name);
    self->instance = s_strdup_or_null (options->instance);
    self->writer = ab_jsonw_new ();
    if (!self->ctx || !self->endpoint || !self->name || !self->writer ||
        (options->instance && !self->instance)) {
        ab_agent_destroy (&self);
        return NULL;
    }
    self->credit = options->credit ? options->credit : S_DEFAULT_CREDIT;
    self->heartbeat_override = options->heartbeat_ms;
    self->heartbeat_ms =
        options->heartbeat_ms ? options->heartbeat_ms : S_DEFAULT_HEARTBEAT_MS;
    self->timeout_ms =
        options->timeout_ms ? options->timeout_ms : S_DEFAULT_TIMEOUT_MS;
    return self;
}

static int s_send_bare (ab_agent_t *self, ab_cmd_t command);

static void
s_close_socket (ab_agent_t *self, int linger_ms)
{
    if (!self->socket)
        return;
    zmq_setsockopt (self->socket, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
    zmq_close (self->socket);
    self->socket = NULL;
    self->registered = false;
}

void
ab_agent_destroy (ab_agent_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ab_agent_t *self = *self_p;
    if (self->registered)
        (void)s_send_bare (self, AB_CMD_BYE);
    s_close_socket (self, S_BYE_LINGER_MS);
    while (self->head) {
        ab_delivery_t *next = ab_delivery_next (self->head);
        ab_delivery_destroy (&self->head);
        self->head = next;
    }
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    json_decref (self->last_reject);
    free (self->last_error);
    free (self->topology);
    free (self->instance);
    free (self->name);
    free (self->endpoint);
    ab_jsonw_destroy (&self->writer);
    free (self);
    *self_p = NULL;
}

/* --- sending --------------------------------------------------------- */

/* A whole outgoing message, kept so it can be sent again after HELLO. */
typedef struct {
    zmq_msg_t *frames; /* signature, command, header, body…; owned */
    size_t count;      /* number of frames, every one initialised */
    bool invalid;      /* an attachment had NULL data and a size */
} s_out_t;

static void
s_out_free (s_out_t *out)
{
    for (size_t i = 0; i < out->count; i++)
        zmq_msg_close (&out->frames[i]);
    free (out->frames);
    out->frames = NULL;
    out->count = 0;
}

/* Initialises every frame of a `command`, wrapping the attachments
   zero-copy first of all: from here on closing the frames (s_out_free)
   runs each free_fn exactly once, whatever fails later. */
static int
s_out_begin (s_out_t *out, ab_cmd_t command, const ab_attachment_t *attachments,
             size_t count)
{
    size_t first = ab_cmd_has_payload (command) ? 4 : 3;
    out->invalid = false;
    out->count = 0;
    out->frames = calloc (first + count, sizeof (zmq_msg_t));
    for (size_t i = 0; i < count; i++) {
        const ab_attachment_t *a = &attachments[i];
        bool bad = !a->data && a->size > 0; /* libzmq asserts on it */
        if (!out->frames || bad) {
            if (a->free_fn)
                a->free_fn ((void *)a->data, a->hint);
            out->invalid |= bad;
            if (out->frames)
                zmq_msg_init (&out->frames[first + i]);
        } else {
            zmq_msg_init_data (&out->frames[first + i], (void *)a->data,
                               a->size, a->free_fn, a->hint);
        }
    }
    if (!out->frames)
        return AB_ENOMEM;
    for (size_t i = 0; i < first; i++)
        zmq_msg_init (&out->frames[i]);
    out->count = first + count;
    return out->invalid ? AB_EINVAL : 0;
}

/* Replaces frame `index` by a copy of `size` bytes at `data`. */
static int
s_out_set (s_out_t *out, size_t index, const char *data, size_t size)
{
    assert (index < out->count); /* our bug: s_out_begin made the frames */
    zmq_msg_t *frame = &out->frames[index];
    zmq_msg_close (frame);
    if (zmq_msg_init_size (frame, size) != 0) {
        zmq_msg_init (frame);
        return AB_ENOMEM;
    }
    if (size)
        memcpy (zmq_msg_data (frame), data, size);
    return 0;
}

/* Replaces frame `index` by constant text, which libzmq neither copies
   nor frees (the signature and command words). */
static void
s_out_const (s_out_t *out, size_t index, const char *text)
{
    assert (index < out->count);
    zmq_msg_t *frame = &out->frames[index];
    zmq_msg_close (frame);
    if (zmq_msg_init_data (frame, (void *)text, strlen (text), NULL, NULL) != 0)
        zmq_msg_init (frame); /* does not allocate: cannot happen */
}

/* Fills the signature, the command word, the header self->writer holds
   and the payload (NULL: none). Returns 0, AB_ENOMEM, or AB_EINVAL when
   the header had a string that is not UTF-8. */
static int
s_out_fill (ab_agent_t *self, s_out_t *out, ab_cmd_t command,
            const char *payload)
{
    size_t size = 0;
    const char *header = ab_jsonw_text (self->writer, &size);
    if (!header)
        return ab_jsonw_error (self->writer);
    s_out_const (out, 0, AB_PROTOCOL_SIGNATURE);
    s_out_const (out, 1, ab_cmd_name (command));
    int rc = s_out_set (out, 2, header, size);
    if (rc == 0 && payload)
        rc = s_out_set (out, 3, payload, strlen (payload));
    return rc;
}

/* Sends shared copies of the frames, so `out` can be sent again. */
static int
s_send_out (ab_agent_t *self, s_out_t *out)
{
    if (!self->socket)
        return AB_ESTATE;
    for (size_t i = 0; i < out->count; i++) {
        zmq_msg_t copy;
        zmq_msg_init (&copy);
        if (zmq_msg_copy (&copy, &out->frames[i]) != 0) {
            zmq_msg_close (&copy);
            if (i > 0)
                s_close_socket (self, 0); /* half-sent, as below */
            return AB_ENOMEM;
        }
        int flags = i + 1 < out->count ? ZMQ_SNDMORE : 0;
        if (zmq_msg_send (&copy, self->socket, flags) < 0) {
            int error = zmq_errno ();
            zmq_msg_close (&copy);
            /* A half-sent multipart message poisons the socket. */
            s_close_socket (self, 0);
            return error == EAGAIN ? AB_ETIMEDOUT : AB_EIO;
        }
    }
    return 0;
}

/* Sends a command without payload whose header self->writer holds. */
static int
s_send_command (ab_agent_t *self, ab_cmd_t command)
{
    s_out_t out = {0};
    int rc = s_out_begin (&out, command, NULL, 0);
    if (rc == 0)
        rc = s_out_fill (self, &out, command, NULL);
    if (rc == 0)
        rc = s_send_out (self, &out);
    s_out_free (&out);
    return rc;
}

/* Sends a command with the header {} (PING, BYE). */
static int
s_send_bare (ab_agent_t *self, ab_cmd_t command)
{
    ab_jsonw_reset (self->writer);
    return s_send_command (self, command);
}

/* --- receiving ------------------------------------------------------- */

static bool
s_key_matches (const json_t *header, const s_wait_t *wait)
{
    const char *echo =
        json_string_value (json_object_get (header, wait->key_field));
    return echo && wait->key && strcmp (echo, wait->key) == 0;
}

static void
s_finish (s_wait_t *wait, int result)
{
    wait->done = true;
    wait->result = result;
}

/* A handler of one broker command. `body` (payload and attachments) is
   the caller's: a handler may move frames out of it. Returns false when
   the message made no sense (counted as bad). */
typedef bool (s_handler_fn) (ab_agent_t *self, s_wait_t *wait, json_t *header,
                             zmq_msg_t *body, size_t count);

static bool
s_on_welcome (ab_agent_t *self, s_wait_t *wait, json_t *header, zmq_msg_t *body,
              size_t count)
{
    bool connecting = wait->kind == S_WAIT_WELCOME && !wait->done;
    if (!connecting && self->registered)
        return true; /* an answer to a HELLO already answered */
    json_t *heartbeat = json_object_get (header, "heartbeat_ms");
    json_int_t ms = json_integer_value (heartbeat);
    if (!self->heartbeat_override && ms >= 1 && ms <= 24 * 3600 * 1000)
        self->heartbeat_ms = (int)ms;
    const char *topology =
        json_string_value (json_object_get (header, "topology"));
    free (self->topology);
    self->topology = s_strdup_or_null (topology);
    self->registered = true;
    self->session++;
    self->next_ping = s_now_ms () + self->heartbeat_ms;
    self->ping_unanswered = 0;
    if (connecting)
        s_finish (wait, 0);
    else
        self->reconnects++;
    return true;
}

static bool
s_on_ok (ab_agent_t *self, s_wait_t *wait, json_t *header, zmq_msg_t *body,
         size_t count)
{
    if (wait->kind != S_WAIT_OK || wait->done || !s_key_matches (header, wait))
        return true; /* an answer to a command we gave up on */
    json_int_t routed = json_integer_value (json_object_get (header, "routed"));
    s_finish (wait, routed > 0 && routed <= INT32_MAX ? (int)routed : 0);
    return true;
}

static bool
s_on_reject (ab_agent_t *self, s_wait_t *wait, json_t *header, zmq_msg_t *body,
             size_t count)
{
    if ((wait->kind != S_WAIT_OK && wait->kind != S_WAIT_REPLY) || wait->done ||
        !s_key_matches (header, wait))
        return true;
    json_decref (self->last_reject);
    self->last_reject = json_incref (header);
    s_set_error (self, json_string_value (json_object_get (header, "code")));
    s_finish (wait, AB_EREJECTED);
    return true;
}

static void
s_enqueue (ab_agent_t *self, ab_delivery_t *delivery)
{
    if (self->tail)
        ab_delivery_set_next (self->tail, delivery);
    else
        self->head = delivery;
    self->tail = delivery;
    self->pending++;
}

static bool
s_on_deliver (ab_agent_t *self, s_wait_t *wait, json_t *header, zmq_msg_t *body,
              size_t count)
{
    if (!json_is_string (json_object_get (header, "msg")))
        return false; /* could never be acknowledged */
    ab_delivery_t *delivery = ab_delivery_new (header, body, count);
    if (!delivery)
        return false;
    s_enqueue (self, delivery);
    if (wait->kind == S_WAIT_DELIVERY)
        s_finish (wait, 0);
    return true;
}

static bool
s_on_reply (ab_agent_t *self, s_wait_t *wait, json_t *header, zmq_msg_t *body,
            size_t count)
{
    if (wait->kind != S_WAIT_REPLY || wait->done ||
        !s_key_matches (header, wait))
        return true; /* the answer to a request we gave up on */
    ab_delivery_t *reply = ab_delivery_new (header, body, count);
    if (!reply)
        return false;
    if (!ab_delivery_is_partial (reply)) {
        wait->reply = reply;
        s_finish (wait, 0);
        return true;
    }
    if (wait->partial_fn)
        wait->partial_fn (reply, wait->arg);
    ab_delivery_destroy (&reply);
    return true;
}

static bool
s_on_pong (ab_agent_t *self, s_wait_t *wait, json_t *header, zmq_msg_t *body,
           size_t count)
{
    return true; /* any traffic proves the broker alive (s_dispatch) */
}

static bool
s_on_error (ab_agent_t *self, s_wait_t *wait, json_t *header, zmq_msg_t *body,
            size_t count)
{
    const char *word = json_string_value (json_object_get (header, "code"));
    s_set_error (self, word ? word : "unknown");
    bool answered = wait->kind == S_WAIT_WELCOME || wait->kind == S_WAIT_OK ||
                    wait->kind == S_WAIT_REPLY;
    if (!word || wait->done)
        return true;
    switch (ab_error_code (word)) {
    case AB_ERROR_NOT_REGISTERED:
        /* While unregistered it answers a command sent before our HELLO. */
        if (self->registered) {
            self->registered = false;
            self->next_hello = 0;
        }
        break;
    case AB_ERROR_UNKNOWN_AGENT:
    case AB_ERROR_UNAUTHORIZED:
        if (!self->registered)
            s_finish (wait, AB_ENOENT); /* the answer to our HELLO */
        break;
    case AB_ERROR_PROTOCOL:
        if (answered)
            s_finish (wait, AB_EPROTO); /* answers come in command order */
        break;
    default: /* unknown_message, or a code of a later protocol */
        break;
    }
    return true;
}

/* The handlers of the commands a broker sends (protocol §3), indexed by
   ab_cmd_t; ab_proto_recv_dealer lets through no other command. */
static s_handler_fn *const s_handlers[AB_CMD_COUNT_] = {
    [AB_CMD_WELCOME] = s_on_welcome, [AB_CMD_OK] = s_on_ok,
    [AB_CMD_REJECT] = s_on_reject,   [AB_CMD_DELIVER] = s_on_deliver,
    [AB_CMD_REPLY] = s_on_reply,     [AB_CMD_PONG] = s_on_pong,
    [AB_CMD_ERROR] = s_on_error,
};

/* Runs the handler of a message whose frame table ab_proto checked.
   Returns false for a message that makes no sense (counted as bad). */
static bool
s_dispatch (ab_agent_t *self, s_wait_t *wait, ab_proto_t *msg)
{
    s_handler_fn *handler = s_handlers[ab_proto_command (msg)];
    assert (handler); /* our bug: a command ab_proto lets through */
    self->ping_unanswered = 0;
    if (wait->kind == S_WAIT_POLL)
        wait->done = true;
    return handler (self, wait, ab_proto_header (msg), ab_proto_body (msg),
                    ab_proto_body_count (msg));
}

/* Handles everything already received, without waiting. A message that
   breaks the frame table (protocol §2) is counted and dropped. */
static int
s_drain (ab_agent_t *self, s_wait_t *wait)
{
    while (self->socket) {
        ab_proto_t *msg = NULL;
        int rc = ab_proto_recv_dealer (self->socket, 0, &msg, NULL, 0);
        if (rc == AB_ETIMEDOUT)
            return 0;
        if (rc == AB_EIO || rc == AB_ENOMEM)
            return rc;
        if (rc < 0 || !s_dispatch (self, wait, msg))
            self->bad_messages++;
        ab_proto_destroy (&msg);
    }
    return 0;
}

/* --- the wait loop --------------------------------------------------- */

static bool
s_wait_done (const ab_agent_t *self, const s_wait_t *wait)
{
    if (wait->kind == S_WAIT_DELIVERY && self->pending > 0)
        return true;
    return wait->done;
}

/* Replaces the socket by a fresh one (a new routing id: nothing queued
   for the old session can reach us). */
static int
s_open_socket (ab_agent_t *self)
{
    s_close_socket (self, 0);
    self->socket = zmq_socket (self->ctx, ZMQ_DEALER);
    if (!self->socket)
        return AB_EIO;
    int linger = 0;
    zmq_setsockopt (self->socket, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (self->socket, ZMQ_SNDTIMEO, &self->timeout_ms,
                    sizeof self->timeout_ms);
    if (zmq_connect (self->socket, self->endpoint) != 0) {
        s_close_socket (self, 0);
        return AB_EIO;
    }
    self->ping_unanswered = 0;
    return 0;
}

/* Sends a PING when one is due. */
static void
s_ping_if_due (ab_agent_t *self, int64_t now)
{
    if (!self->registered || now < self->next_ping)
        return;
    self->next_ping = now + self->heartbeat_ms;
    if (s_send_bare (self, AB_CMD_PING) == 0 && !self->ping_unanswered)
        self->ping_unanswered = now;
}

/* The broker is taken for gone (or restarted and deaf to this socket)
   when a PING stayed without any traffic for 3 heartbeats. */
static bool
s_broker_gone (const ab_agent_t *self, int64_t now)
{
    return self->ping_unanswered &&
           now - self->ping_unanswered > 3 * (int64_t)self->heartbeat_ms;
}

/* How long to sleep in zmq_poll: until the deadline, the next PING, or
   the moment the broker would count as gone; -1 = forever. */
static long
s_sleep_ms (const ab_agent_t *self, int64_t now, int64_t deadline)
{
    int64_t until = deadline;
    if (self->registered) {
        int64_t ping = self->next_ping;
        if (until < 0 || ping < until)
            until = ping;
        int64_t gone = self->ping_unanswered + 3 * self->heartbeat_ms + 1;
        if (self->ping_unanswered && gone < until)
            until = gone;
    } else if (until < 0 || self->next_hello < until) {
        until = self->next_hello; /* time to say HELLO again */
    }
    if (until < 0)
        return -1;
    return until > now ? (long)(until - now) : 0;
}

static void
s_sleep_on_socket (ab_agent_t *self, long ms)
{
    zmq_pollitem_t item = {self->socket, 0, ZMQ_POLLIN, 0};
    if (self->socket)
        zmq_poll (&item, 1, ms);
    else if (ms != 0)
        zmq_poll (NULL, 0, ms < 0 || ms > 100 ? 100 : ms);
}

/* Says HELLO (on a new socket if there is none) without waiting: the
   WELCOME is taken by whichever call reads it. */
static int
s_say_hello (ab_agent_t *self, int64_t now)
{
    self->next_hello = now + self->timeout_ms;
    if (!self->socket && s_open_socket (self) < 0)
        return AB_EIO;
    ab_jsonw_reset (self->writer);
    ab_jsonw_string (self->writer, "agent", self->name);
    ab_jsonw_int (self->writer, "credit", self->credit);
    if (self->instance)
        ab_jsonw_string (self->writer, "instance", self->instance);
    return s_send_command (self, AB_CMD_HELLO);
}

/* Runs until `wait` is satisfied or the deadline (monotonic ms, -1 =
   none) passes, sending `out` (may be NULL) in every session until it
   is answered. See the design note. */
static int
s_await (ab_agent_t *self, s_wait_t *wait, s_out_t *out, int64_t deadline)
{
    bool connecting = wait->kind == S_WAIT_WELCOME;
    uint64_t sent_in = 0; /* the session `out` went out in; 0 = none */
    for (;;) {
        int64_t now = s_now_ms ();
        if (!connecting && !self->registered && now >= self->next_hello)
            s_say_hello (self, now); /* on failure: again next time */
        if (out && self->registered && sent_in != self->session) {
            int rc = s_send_out (self, out);
            if (rc < 0)
                return rc;
            sent_in = self->session;
        }
        int rc = s_drain (self, wait);
        if (rc < 0)
            return rc;
        if (s_wait_done (self, wait))
            return wait->result;
        if (out && self->registered && sent_in != self->session)
            continue; /* a WELCOME just came: send at once */
        now = s_now_ms ();
        if (!connecting && self->registered && s_broker_gone (self, now)) {
            s_open_socket (self); /* unregistered now: HELLO at once */
            self->next_hello = now;
            continue;
        }
        if (!connecting)
            s_ping_if_due (self, now);
        if (deadline >= 0 && now >= deadline)
            return AB_ETIMEDOUT;
        s_sleep_on_socket (self, s_sleep_ms (self, now, deadline));
    }
}

static int64_t
s_deadline (int64_t timeout_ms)
{
    return timeout_ms < 0 ? -1 : s_now_ms () + timeout_ms;
}

int
ab_agent_connect (ab_agent_t *self)
{
    if (!self)
        return AB_EINVAL;
    int rc = s_open_socket (self);
    if (rc == 0)
        rc = s_say_hello (self, s_now_ms ());
    s_wait_t wait = {.kind = S_WAIT_WELCOME};
    if (rc == 0)
        rc = s_await (self, &wait, NULL, s_deadline (self->timeout_ms));
    if (rc == 0)
        self->ever_connected = true;
    return rc;
}

bool
ab_agent_connected (const ab_agent_t *self)
{
    return self && self->registered;
}

const char *
ab_agent_topology (const ab_agent_t *self)
{
    return self ? self->topology : NULL;
}

int
ab_agent_heartbeat_ms (const ab_agent_t *self)
{
    return self ? self->heartbeat_ms : 0;
}

const char *
ab_agent_name (const ab_agent_t *self)
{
    return self ? self->name : NULL;
}

size_t
ab_agent_reconnects (const ab_agent_t *self)
{
    return self ? self->reconnects : 0;
}

size_t
ab_agent_bad_messages (const ab_agent_t *self)
{
    return self ? self->bad_messages : 0;
}

const json_t *
ab_agent_last_reject (const ab_agent_t *self)
{
    return self ? self->last_reject : NULL;
}

const char *
ab_agent_last_error (const ab_agent_t *self)
{
    return self ? self->last_error : NULL;
}

/* --- publishing and requests ----------------------------------------- */

/* Writes the header of a PUB or REQ (`command`) into self->writer; its
   `id` is the caller's or one made here (in `made`, S_MAX_ID + 1 bytes),
   returned in *id_p. Returns 0, or AB_EINVAL on bad fields (a string
   that is not UTF-8 shows at ab_jsonw_text). */
static int
s_pub_header (ab_agent_t *self, const ab_header_t *h, ab_cmd_t command,
              char *made, const char **id_p)
{
    if (!h->type || !*h->type || h->version < 0 || h->ttl_ms < 0 ||
        h->timeout_ms < 0 || (h->id && strlen (h->id) > S_MAX_ID))
        return AB_EINVAL;
    const char *id = h->id;
    if (!id) {
        snprintf (made, S_MAX_ID + 1, "%.80s-%ld-%" PRIu64, self->name,
                  (long)getpid (), ++self->next_id);
        id = made;
    }
    ab_jsonw_t *w = self->writer;
    ab_jsonw_reset (w);
    ab_jsonw_string (w, "type", h->type);
    ab_jsonw_string (w, "id", id);
    if (h->version > 0)
        ab_jsonw_int (w, "version", h->version);
    if (h->has_seq)
        ab_jsonw_int (w, "seq", h->seq);
    if (h->ttl_ms > 0)
        ab_jsonw_int (w, "ttl_ms", h->ttl_ms);
    if (h->traceparent)
        ab_jsonw_string (w, "traceparent", h->traceparent);
    if (command == AB_CMD_REQ && h->timeout_ms > 0)
        ab_jsonw_int (w, "timeout_ms", h->timeout_ms);
    *id_p = id;
    return 0;
}

/* Builds and sends a PUB or REQ, then waits as `wait` says. Takes the
   attachments in every case. */
static int
s_publish (ab_agent_t *self, const ab_header_t *h, const char *payload,
           const ab_attachment_t *attachments, size_t count, s_wait_t *wait)
{
    ab_cmd_t command = wait->kind == S_WAIT_REPLY ? AB_CMD_REQ : AB_CMD_PUB;
    s_out_t out = {0};
    int rc = s_out_begin (&out, command, attachments, attachments ? count : 0);
    if (rc == 0 && (!self || !h || !payload || (!attachments && count)))
        rc = AB_EINVAL;
    if (rc == 0 && !self->ever_connected)
        rc = AB_ESTATE;
    char made[S_MAX_ID + 1];
    const char *id = NULL;
    if (rc == 0)
        rc = s_pub_header (self, h, command, made, &id);
    if (rc == 0)
        rc = s_out_fill (self, &out, command, payload);
    if (rc == 0) {
        wait->key_field = "id";
        wait->key = id;
        bool request = command == AB_CMD_REQ;
        int64_t local = (request ? h->timeout_ms : 0) + self->timeout_ms;
        rc = s_await (self, wait, &out,
                      s_deadline (request && !h->timeout_ms ? -1 : local));
    }
    s_out_free (&out);
    return rc;
}

int
ab_agent_publish_text (ab_agent_t *self, const ab_header_t *header,
                       const char *payload, const ab_attachment_t *attachments,
                       size_t count)
{
    s_wait_t wait = {.kind = S_WAIT_OK};
    return s_publish (self, header, payload, attachments, count, &wait);
}

int
ab_agent_publish (ab_agent_t *self, const ab_header_t *header,
                  const json_t *payload, const ab_attachment_t *attachments,
                  size_t count)
{
    char *text =
        payload ? json_dumps (payload, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    int rc = ab_agent_publish_text (self, header, text, attachments, count);
    free (text);
    return rc;
}

int
ab_agent_request (ab_agent_t *self, const ab_header_t *header,
                  const json_t *payload, const ab_attachment_t *attachments,
                  size_t count, ab_partial_fn *partial_fn, void *arg,
                  ab_delivery_t **reply_p)
{
    s_wait_t wait = {
        .kind = S_WAIT_REPLY, .partial_fn = partial_fn, .arg = arg};
    /* Without reply_p the payload is left out: s_publish refuses it and
       releases the attachments. */
    char *text = payload && reply_p
                     ? json_dumps (payload, JSON_COMPACT | JSON_ENCODE_ANY)
                     : NULL;
    int rc = s_publish (self, header, text, attachments, count, &wait);
    free (text);
    if (rc == 0)
        *reply_p = wait.reply;
    else
        ab_delivery_destroy (&wait.reply);
    return rc;
}

int
ab_attach_tensor (json_t *payload, const char *key, size_t frame,
                  const void *data, ab_dtype_t dtype, const int64_t *shape,
                  size_t ndim, ab_free_fn *free_fn, void *hint,
                  ab_attachment_t *attachment)
{
    if (!json_is_object (payload) || !key || !attachment || frame > INT32_MAX)
        return AB_EINVAL;
    size_t size = 0;
    int rc = ab_tensor_nbytes (dtype, shape, ndim, &size);
    if (rc < 0)
        return rc;
    if (!data && size > 0)
        return AB_EINVAL;
    json_t *dims = json_array ();
    for (size_t i = 0; dims && i < ndim; i++)
        if (json_array_append_new (dims, json_integer (shape[i])) != 0)
            json_decref (dims), dims = NULL;
    json_t *ref =
        dims ? json_pack ("{s:s, s:o, s:I}", "dtype", ab_dtype_name (dtype),
                          "shape", dims, "frame", (json_int_t)frame)
             : NULL;
    if (!ref || json_object_set_new (payload, key, ref) != 0)
        return AB_ENOMEM;
    *attachment = (ab_attachment_t){data, size, free_fn, hint};
    return 0;
}

/* --- consuming ------------------------------------------------------- */

static ab_delivery_t *
s_dequeue (ab_agent_t *self)
{
    ab_delivery_t *delivery = self->head;
    self->head = ab_delivery_next (delivery);
    if (!self->head)
        self->tail = NULL;
    ab_delivery_set_next (delivery, NULL);
    self->pending--;
    return delivery;
}

int
ab_agent_receive (ab_agent_t *self, int timeout_ms, ab_delivery_t **delivery_p)
{
    if (!self || !delivery_p)
        return AB_EINVAL;
    if (!self->ever_connected)
        return AB_ESTATE;
    s_wait_t wait = {.kind = S_WAIT_DELIVERY};
    int rc = self->pending
                 ? 0
                 : s_await (self, &wait, NULL, s_deadline (timeout_ms));
    if (rc < 0)
        return rc;
    *delivery_p = s_dequeue (self);
    return 0;
}

/* Starts the header of an ACK or NACK for a delivery: {msg}. No answer
   comes (ERROR unknown_message, if any, only sets last_error). */
static int
s_settle_header (ab_agent_t *self, const ab_delivery_t *delivery)
{
    const char *msg = ab_delivery_msg (delivery);
    if (!self || !msg)
        return AB_EINVAL;
    ab_jsonw_reset (self->writer);
    ab_jsonw_string (self->writer, "msg", msg);
    return 0;
}

int
ab_agent_ack (ab_agent_t *self, const ab_delivery_t *delivery)
{
    int rc = s_settle_header (self, delivery);
    return rc < 0 ? rc : s_send_command (self, AB_CMD_ACK);
}

int
ab_agent_nack (ab_agent_t *self, const ab_delivery_t *delivery, bool requeue,
               const char *reason)
{
    int rc = s_settle_header (self, delivery);
    if (rc < 0)
        return rc;
    ab_jsonw_bool (self->writer, "requeue", requeue);
    if (reason)
        ab_jsonw_string (self->writer, "reason", reason);
    return s_send_command (self, AB_CMD_NACK);
}

int
ab_agent_reply (ab_agent_t *self, const ab_delivery_t *request,
                const json_t *payload, bool partial,
                const ab_attachment_t *attachments, size_t count)
{
    s_out_t out = {0};
    int rc =
        s_out_begin (&out, AB_CMD_REP, attachments, attachments ? count : 0);
    const char *msg = ab_delivery_msg (request);
    if (rc == 0 &&
        (!self || !payload || !msg || !ab_delivery_is_request (request)))
        rc = AB_EINVAL;
    char *text =
        rc == 0 ? json_dumps (payload, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (rc == 0 && !text)
        rc = AB_ENOMEM;
    if (rc == 0) {
        ab_jsonw_reset (self->writer);
        ab_jsonw_string (self->writer, "msg", msg);
        ab_jsonw_bool (self->writer, "partial", partial);
        rc = s_out_fill (self, &out, AB_CMD_REP, text);
    }
    if (rc == 0) {
        s_wait_t wait = {.kind = S_WAIT_OK, .key_field = "msg", .key = msg};
        rc = s_await (self, &wait, &out, s_deadline (self->timeout_ms));
    }
    free (text);
    s_out_free (&out);
    return rc;
}

int
ab_agent_credit (ab_agent_t *self, int credit)
{
    if (!self || credit < 1)
        return AB_EINVAL;
    self->credit = credit;
    if (!self->registered)
        return 0; /* goes out with the next HELLO */
    ab_jsonw_reset (self->writer);
    ab_jsonw_int (self->writer, "credit", credit);
    return s_send_command (self, AB_CMD_CREDIT);
}

/* --- event loops ----------------------------------------------------- */

int
ab_agent_poll (ab_agent_t *self, int timeout_ms)
{
    if (!self)
        return AB_EINVAL;
    if (!self->ever_connected)
        return AB_ESTATE;
    s_wait_t wait = {.kind = S_WAIT_POLL};
    int rc = s_await (self, &wait, NULL, s_deadline (timeout_ms));
    if (rc < 0 && rc != AB_ETIMEDOUT)
        return rc;
    rc = s_drain (self, &wait); /* the rest of what arrived */
    if (rc < 0)
        return rc;
    s_ping_if_due (self, s_now_ms ());
    return self->pending > INT32_MAX ? INT32_MAX : (int)self->pending;
}

int
ab_agent_fd (const ab_agent_t *self)
{
    int fd = -1;
    size_t size = sizeof fd;
    if (!self || !self->socket ||
        zmq_getsockopt (self->socket, ZMQ_FD, &fd, &size) != 0)
        return -1;
    return fd;
}

int
ab_agent_next_timeout_ms (const ab_agent_t *self)
{
    if (!self || !self->ever_connected)
        return -1;
    /* Registered: the next PING; otherwise the next HELLO. */
    int64_t at = self->registered ? self->next_ping : self->next_hello;
    int64_t left = at - s_now_ms ();
    return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

size_t
ab_agent_pending (const ab_agent_t *self)
{
    return self ? self->pending : 0;
}
