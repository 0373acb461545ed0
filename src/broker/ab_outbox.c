/*  =========================================================================
    ab_outbox - the turn's answers and deliveries, held until commit
    (see ab_outbox.h)

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
#include "agentbus.h"
#include "broker/ab_header.h"
#include "broker/ab_outbox.h"
#include "wire/ab_outq.h"
#include "wire/ab_jsonw.h"

/* One answer or delivery held until the turn's batch is committed. */
typedef struct {
    zmq_msg_t routing_id; /* addressee (a copy) */
    ab_cmd_t command;     /* what */
    char *header;         /* header as JSON text (owned) */
    size_t header_size;   /* bytes of header */
    zmq_msg_t *body;      /* frames 3... (copies, owned) or NULL */
    size_t body_count;    /* entries in body */
    char *deliver_to;     /* DELIVER: the instance's key, else NULL */
    uint64_t copy_id;     /* DELIVER: the copy's id (ab_outq_tag) */
    ab_send_fate_t fate;  /* what a failed commit does to it */
} s_held_t;

/* A DELIVER the socket refused: the copy and the instance it was for. */
typedef struct {
    uint64_t copy_id; /* the copy */
    char *key;        /* the instance's session key (owned) */
} s_refused_t;

struct _ab_outbox_t {
    ab_counters_t *counters; /* borrowed: send failures, bytes */
    ab_log_t *log;           /* borrowed; may be NULL */
    ab_outbox_mode_t mode;   /* held or direct */
    zlistx_t *held;          /* s_held_t *: sends waiting for commit */
    zlistx_t *vanished;      /* keys of instances a DELIVER missed */
    zlistx_t *refused;       /* s_refused_t *: DELIVERs that never left */
    ab_outq_t *outq;         /* this turn's sends, written at its end */
    ab_jsonw_t *out;         /* the header being written, reused */
};

static void
s_held_destroy (void **item)
{
    s_held_t *held = *item;
    zmq_msg_close (&held->routing_id);
    free (held->header);
    ab_frames_free (held->body, held->body_count);
    free (held->deliver_to);
    free (held);
    *item = NULL;
}

static void
s_refused_destroy (void **item)
{
    s_refused_t *refused = *item;
    free (refused->key);
    free (refused);
    *item = NULL;
}

ab_outbox_t *
ab_outbox_new (ab_counters_t *counters, ab_log_t *log)
{
    assert (counters);
    ab_outbox_t *self = ab_oom_check (calloc (1, sizeof *self));
    self->counters = counters;
    self->log = log;
    self->held = ab_oom_check (zlistx_new ());
    self->vanished = ab_oom_check (zlistx_new ());
    self->refused = ab_oom_check (zlistx_new ());
    self->outq = ab_oom_check (ab_outq_new ());
    self->out = ab_oom_check (ab_jsonw_new ());
    zlistx_set_destructor (self->held, s_held_destroy);
    zlistx_set_destructor (self->vanished, (czmq_destructor *)zstr_free);
    zlistx_set_destructor (self->refused, s_refused_destroy);
    return self;
}

void
ab_outbox_destroy (ab_outbox_t **self_p)
{
    assert (self_p);
    ab_outbox_t *self = *self_p;
    if (!self)
        return;
    zlistx_destroy (&self->held);
    zlistx_destroy (&self->vanished);
    zlistx_destroy (&self->refused);
    ab_outq_destroy (&self->outq);
    ab_jsonw_destroy (&self->out);
    free (self);
    *self_p = NULL;
}

void
ab_outbox_hold (ab_outbox_t *self, ab_outbox_mode_t mode)
{
    self->mode = mode;
}

ab_jsonw_t *
ab_outbox_writer (ab_outbox_t *self)
{
    ab_jsonw_reset (self->out);
    return self->out;
}

/* Holds a send (header copied, body frames shared). */
static s_held_t *
s_hold (ab_outbox_t *self, zmq_msg_t *routing_id, ab_cmd_t command,
        const char *header, size_t header_size, zmq_msg_t *body,
        size_t body_count)
{
    s_held_t *held = ab_oom_check (calloc (1, sizeof *held));
    zmq_msg_init (&held->routing_id);
    zmq_msg_copy (&held->routing_id, routing_id);
    held->command = command;
    held->header = ab_oom_check (malloc (header_size + 1));
    memcpy (held->header, header, header_size + 1);
    held->header_size = header_size;
    if (body_count) {
        held->body = ab_oom_check (calloc (body_count, sizeof (zmq_msg_t)));
        held->body_count = body_count;
        for (size_t i = 0; i < body_count; i++) {
            zmq_msg_init (&held->body[i]);
            zmq_msg_copy (&held->body[i], &body[i]);
        }
    }
    zlistx_add_end (self->held, held);
    return held;
}

/* Queues the message for the end of the turn (ab_outbox_flush). A peer
   that is gone is found then: see s_wire_failed. */
static int
s_send_now (ab_outbox_t *self, zmq_msg_t *routing_id, ab_cmd_t command,
            const char *header, size_t header_size, zmq_msg_t *body,
            size_t body_count)
{
    size_t copied = 0;
    int rc = ab_outq_add (self->outq, routing_id, command, header, header_size,
                          body, body_count, &copied);
    if (rc) {
        self->counters->counters[AB_C_SEND_FAILURES]++;
        ab_log_printf (self->log, AB_LOG_DEBUG, "%s not sent: %s",
                       ab_cmd_name (command), ab_strerror (rc));
        return rc;
    }
    for (size_t i = 1; i < body_count; i++)
        self->counters->counters[AB_C_ATTACHMENT_BYTES] +=
            zmq_msg_size (&body[i]);
    self->counters->counters[AB_C_ATTACHMENT_BYTES_COPIED] += copied;
    return 0;
}

/* Sends now, or holds while a batch is open. `header` is JSON text
   (NUL-terminated). */
static int
s_send (ab_outbox_t *self, zmq_msg_t *routing_id, ab_cmd_t command,
        const char *header, size_t header_size, zmq_msg_t *body,
        size_t body_count)
{
    if (self->mode == AB_OUTBOX_HELD) {
        s_hold (self, routing_id, command, header, header_size, body,
                body_count);
        return 0;
    }
    return s_send_now (self, routing_id, command, header, header_size, body,
                       body_count);
}

/* The writer's text, or NULL (counted as a send failure). */
static const char *
s_text (ab_outbox_t *self, size_t *size_p)
{
    const char *text = ab_jsonw_text (self->out, size_p);
    if (!text)
        self->counters->counters[AB_C_SEND_FAILURES]++;
    return text;
}

int
ab_outbox_send (ab_outbox_t *self, zmq_msg_t *routing_id, ab_cmd_t command,
                zmq_msg_t *body, size_t body_count)
{
    size_t size = 0;
    const char *text = s_text (self, &size);
    if (!text)
        return AB_ENOMEM;
    return s_send (self, routing_id, command, text, size, body, body_count);
}

int
ab_outbox_ok (ab_outbox_t *self, zmq_msg_t *routing_id, ab_send_fate_t fate)
{
    size_t size = 0;
    const char *text = s_text (self, &size);
    if (!text)
        return AB_ENOMEM;
    if (self->mode == AB_OUTBOX_DIRECT)
        return s_send_now (self, routing_id, AB_CMD_OK, text, size, NULL, 0);
    s_hold (self, routing_id, AB_CMD_OK, text, size, NULL, 0)->fate = fate;
    return 0;
}

int
ab_outbox_deliver (ab_outbox_t *self, zmq_msg_t *routing_id, const char *key,
                   uint64_t copy_id, ab_send_fate_t fate, zmq_msg_t *body,
                   size_t body_count)
{
    size_t size = 0;
    const char *text = s_text (self, &size);
    if (!text)
        return AB_ENOMEM;
    if (self->mode == AB_OUTBOX_HELD) {
        s_held_t *held = s_hold (self, routing_id, AB_CMD_DELIVER, text, size,
                                 body, body_count);
        held->deliver_to = ab_oom_check (strdup (key));
        held->fate = fate;
        held->copy_id = copy_id;
        return 0;
    }
    int rc = s_send_now (self, routing_id, AB_CMD_DELIVER, text, size, body,
                         body_count);
    if (rc == 0)
        ab_outq_tag (self->outq, copy_id);
    return rc;
}

int
ab_outbox_send_json (ab_outbox_t *self, zmq_msg_t *routing_id, ab_cmd_t command,
                     json_t *header)
{
    char *text = header ? json_dumps (header, JSON_COMPACT) : strdup ("{}");
    json_decref (header);
    if (!text) {
        self->counters->counters[AB_C_SEND_FAILURES]++;
        return AB_ENOMEM;
    }
    int rc = s_send (self, routing_id, command, text, strlen (text), NULL, 0);
    free (text);
    return rc;
}

void
ab_outbox_error (ab_outbox_t *self, zmq_msg_t *routing_id, ab_error_code_t code,
                 const char *format, ...)
{
    char message[512];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    self->counters->errors[code]++;
    ab_log_printf (self->log, AB_LOG_DEBUG, "ERROR %s: %s",
                   ab_error_name (code), message);
    ab_outbox_send_json (self, routing_id, AB_CMD_ERROR,
                         json_pack ("{s:s, s:s}", "code", ab_error_name (code),
                                    "message", message));
}

void
ab_outbox_reject (ab_outbox_t *self, zmq_msg_t *routing_id,
                  const char *echo_key, json_t *echo, ab_reject_t code,
                  json_t *errors, const char *format, ...)
{
    char message[512];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    self->counters->rejects[code]++;
    ab_log_printf (self->log, AB_LOG_DEBUG, "REJECT %s: %s",
                   ab_reject_name (code), message);
    json_t *header = json_pack ("{s:s, s:s}", "code", ab_reject_name (code),
                                "message", message);
    if (echo)
        json_object_set (header, echo_key, echo);
    if (errors)
        json_object_set_new (header, "errors", errors);
    ab_outbox_send_json (self, routing_id, AB_CMD_REJECT, header);
}

void
ab_outbox_too_large (ab_outbox_t *self, zmq_msg_t *routing_id,
                     ab_proto_t *proto, const char *why)
{
    if (!ab_cmd_has_payload (ab_proto_command (proto))) {
        ab_outbox_error (self, routing_id, AB_ERROR_PROTOCOL, "%s", why);
        return;
    }
    bool rep = ab_proto_command (proto) == AB_CMD_REP;
    const char *key = rep ? "msg" : "id";
    json_t *echo = json_object_get (ab_proto_header (proto), key);
    ab_outbox_reject (self, routing_id, key, echo, AB_REJECT_TOO_LARGE, NULL,
                      "%s", why);
}

/* A held OK of a message the failed commit lost: REJECT overloaded,
   echoing the OK's id. */
static void
s_lost_ok (ab_outbox_t *self, s_held_t *held, int commit_rc)
{
    self->counters->rejects[AB_REJECT_OVERLOADED]++;
    json_t *header = json_pack (
        "{s:s, s:s+}", "code", ab_reject_name (AB_REJECT_OVERLOADED), "message",
        "store: the batch could not be written: ", ab_strerror (commit_rc));
    json_t *ok = json_loadb (held->header, held->header_size, 0, NULL);
    json_t *echo = json_object_get (ok, "id");
    if (echo)
        json_object_set (header, "id", echo);
    json_decref (ok);
    ab_outbox_send_json (self, &held->routing_id, AB_CMD_REJECT, header);
}

void
ab_outbox_release (ab_outbox_t *self, int commit_rc)
{
    self->mode = AB_OUTBOX_DIRECT;
    s_held_t *held;
    while ((held = zlistx_detach (self->held, NULL))) {
        bool lost = commit_rc && held->fate == AB_SEND_FRESH;
        if (lost && held->command == AB_CMD_OK)
            s_lost_ok (self, held, commit_rc);
        else if (!lost) {
            int rc = s_send_now (self, &held->routing_id, held->command,
                                 held->header, held->header_size, held->body,
                                 held->body_count);
            if (rc == 0 && held->copy_id)
                ab_outq_tag (self->outq, held->copy_id);
            else if (rc && held->deliver_to) {
                zlistx_add_end (self->vanished, held->deliver_to);
                held->deliver_to = NULL; /* the list has it now */
            }
        }
        void *item = held;
        s_held_destroy (&item);
    }
}

/* A queued message the socket refused: its peer is gone. A DELIVER's
   instance is forgotten at the start of the next turn, its copies
   requeued, as a refused send in the turn would have done at once; the
   refused copy itself never left, so it is not an attempt. */
static void
s_wire_failed (void *arg, zmq_msg_t *routing_id, ab_cmd_t command, uint64_t tag,
               int rc)
{
    ab_outbox_t *self = arg;
    self->counters->counters[AB_C_SEND_FAILURES]++;
    ab_log_printf (self->log, AB_LOG_DEBUG, "%s not sent: %s",
                   ab_cmd_name (command), ab_strerror (rc));
    if (command != AB_CMD_DELIVER)
        return;
    char key[AB_SESSION_KEY_SIZE];
    ab_header_session_key (routing_id, key, sizeof key);
    zlistx_add_end (self->vanished, ab_oom_check (strdup (key)));
    if (tag) {
        s_refused_t *refused = ab_oom_check (calloc (1, sizeof *refused));
        refused->key = ab_oom_check (strdup (key));
        refused->copy_id = tag;
        zlistx_add_end (self->refused, refused);
    }
}

void
ab_outbox_flush (ab_outbox_t *self, void *socket)
{
    if (ab_outq_size (self->outq))
        ab_outq_send (self->outq, socket, s_wire_failed, self);
}

bool
ab_outbox_has_lost (const ab_outbox_t *self)
{
    return zlistx_size (self->vanished) || zlistx_size (self->refused);
}

bool
ab_outbox_take_refused (ab_outbox_t *self, uint64_t *copy_id_p, char **key_p)
{
    s_refused_t *refused = zlistx_detach (self->refused, NULL);
    if (!refused)
        return false;
    *copy_id_p = refused->copy_id;
    *key_p = refused->key;
    free (refused);
    return true;
}

char *
ab_outbox_take_vanished (ab_outbox_t *self)
{
    return zlistx_detach (self->vanished, NULL);
}
