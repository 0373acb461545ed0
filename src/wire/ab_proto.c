/*  =========================================================================
    ab_proto - ABP/1 messages: the command table and the frame codec

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "wire/ab_proto.h"
#include "wire/ab_jsonscan.h"

/* Frames before the body: signature, command, header. */
#define S_HEAD_FRAMES 3

/* A header is parsed for an oversize message only up to this size: enough
   for any honest header, so the REJECT can echo the producer's `id`. */
#define S_MAX_HEADER_PEEK (1024 * 1024)

/* Whether a command carries a body (frame 3 and after). */
typedef enum {
    S_NO_BODY = 0, /* exactly three frames */
    S_PAYLOAD,     /* frame 3, the payload, is required; attachments may
                      follow */
} s_body_t;

typedef struct {
    const char *name;         /* command word on the wire */
    s_body_t body;            /* whether frame 3 is required or forbidden */
    ab_direction_t direction; /* who may send it */
} s_command_t;

/* Indexed by ab_cmd_t: the frame table of protocol.md §2 and §3. */
static const s_command_t s_commands[AB_CMD_COUNT_] = {
    [AB_CMD_HELLO] = {"HELLO", S_NO_BODY, AB_FROM_AGENT},
    [AB_CMD_PUB] = {"PUB", S_PAYLOAD, AB_FROM_AGENT},
    [AB_CMD_REQ] = {"REQ", S_PAYLOAD, AB_FROM_AGENT},
    [AB_CMD_REP] = {"REP", S_PAYLOAD, AB_FROM_AGENT},
    [AB_CMD_ACK] = {"ACK", S_NO_BODY, AB_FROM_AGENT},
    [AB_CMD_NACK] = {"NACK", S_NO_BODY, AB_FROM_AGENT},
    [AB_CMD_CREDIT] = {"CREDIT", S_NO_BODY, AB_FROM_AGENT},
    [AB_CMD_PING] = {"PING", S_NO_BODY, AB_FROM_AGENT},
    [AB_CMD_BYE] = {"BYE", S_NO_BODY, AB_FROM_AGENT},
    [AB_CMD_WELCOME] = {"WELCOME", S_NO_BODY, AB_FROM_BROKER},
    [AB_CMD_OK] = {"OK", S_NO_BODY, AB_FROM_BROKER},
    [AB_CMD_REJECT] = {"REJECT", S_NO_BODY, AB_FROM_BROKER},
    [AB_CMD_DELIVER] = {"DELIVER", S_PAYLOAD, AB_FROM_BROKER},
    [AB_CMD_REPLY] = {"REPLY", S_PAYLOAD, AB_FROM_BROKER},
    [AB_CMD_PONG] = {"PONG", S_NO_BODY, AB_FROM_BROKER},
    [AB_CMD_ERROR] = {"ERROR", S_NO_BODY, AB_FROM_BROKER},
};

struct _ab_proto_t {
    ab_cmd_t command;  /* the command word */
    json_t *header;    /* frame 2, always an object; owned */
    zmq_msg_t text;    /* frame 2 as received (empty when not parsed) */
    size_t size;       /* bytes of all frames as received */
    zmq_msg_t *body;   /* frames 3..: payload, attachments; owned */
    size_t body_count; /* entries in body */
};

const char *
ab_cmd_name (ab_cmd_t command)
{
    if ((int)command < 0 || command >= AB_CMD_COUNT_)
        return NULL;
    return s_commands[command].name;
}

bool
ab_cmd_has_payload (ab_cmd_t command)
{
    assert (command < AB_CMD_COUNT_);
    return s_commands[command].body == S_PAYLOAD;
}

void
ab_frames_free (zmq_msg_t *frames, size_t count)
{
    for (size_t i = 0; frames && i < count; i++)
        zmq_msg_close (&frames[i]);
    free (frames);
}

static bool
s_frame_is (zmq_msg_t *frame, const char *text)
{
    size_t length = strlen (text);
    return zmq_msg_size (frame) == length &&
           memcmp (zmq_msg_data (frame), text, length) == 0;
}

static int
s_lookup_command (zmq_msg_t *frame, ab_direction_t direction)
{
    for (int i = 0; i < AB_CMD_COUNT_; i++)
        if (s_commands[i].direction == direction &&
            s_frame_is (frame, s_commands[i].name))
            return i;
    return -1;
}

static json_t *
s_parse_header (zmq_msg_t *frame)
{
    /* ab_jsonscan: jansson's values, made several times faster than
       json_loadb makes them; every command's header comes through here */
    json_t *header =
        ab_jsonscan_load (zmq_msg_data (frame), zmq_msg_size (frame), NULL);
    if (header && !json_is_object (header)) {
        json_decref (header);
        header = NULL;
    }
    return header;
}

/* How much of the header s_check_table parses. */
typedef enum {
    S_HEADER_WHOLE = 0, /* always: the message is within its limit */
    S_HEADER_PEEK,      /* only up to S_MAX_HEADER_PEEK: an oversize message,
                           parsed only to echo its `id` */
} s_header_t;

/* Checks frames 0..2 and the body count; fills *self_p's command and
   header. Returns 0 or AB_EPROTO with a reason. */
static int
s_check_table (zmq_msg_t *frames, size_t count, ab_direction_t direction,
               s_header_t header, ab_proto_t *self, char *reason,
               size_t reason_size)
{
    if (count < S_HEAD_FRAMES) {
        snprintf (reason, reason_size, "%zu frames; at least 3 expected",
                  count);
        return AB_EPROTO;
    }
    if (!s_frame_is (&frames[0], AB_PROTOCOL_SIGNATURE)) {
        snprintf (reason, reason_size, "frame 0 is not the signature %s",
                  AB_PROTOCOL_SIGNATURE);
        return AB_EPROTO;
    }
    int command = s_lookup_command (&frames[1], direction);
    if (command < 0) {
        snprintf (reason, reason_size, "unknown command");
        return AB_EPROTO;
    }
    self->command = (ab_cmd_t)command;
    const char *name = s_commands[command].name;
    /* an oversize message's header is parsed only when small enough: a
       huge one is taken as {} (the answer is too_large anyway) */
    bool skip = header == S_HEADER_PEEK &&
                zmq_msg_size (&frames[2]) > S_MAX_HEADER_PEEK;
    self->header = skip ? json_object () : s_parse_header (&frames[2]);
    if (!skip)
        zmq_msg_move (&self->text, &frames[2]);
    if (!self->header) {
        snprintf (reason, reason_size, "%s: header is not a JSON object", name);
        return AB_EPROTO;
    }
    bool has_body = count > S_HEAD_FRAMES;
    if (s_commands[command].body == S_PAYLOAD && !has_body) {
        snprintf (reason, reason_size, "%s: payload frame missing", name);
        return AB_EPROTO;
    }
    if (s_commands[command].body == S_NO_BODY && has_body) {
        snprintf (reason, reason_size, "%s takes no payload", name);
        return AB_EPROTO;
    }
    return 0;
}

int
ab_proto_parse (zmq_msg_t *frames, size_t count, ab_direction_t direction,
                size_t max_bytes, ab_proto_t **self_p, char *reason,
                size_t reason_size)
{
    assert (self_p);
    assert (frames || count == 0);
    *self_p = NULL;
    if (reason_size)
        reason[0] = '\0';
    size_t size = 0;
    for (size_t i = 0; i < count; i++)
        size += zmq_msg_size (&frames[i]);
    bool too_big = max_bytes && size > max_bytes;

    ab_proto_t *self = calloc (1, sizeof *self);
    if (self)
        zmq_msg_init (&self->text);
    int rc = self ? 0 : AB_ENOMEM;
    if (rc == 0)
        rc = s_check_table (frames, count, direction,
                            too_big ? S_HEADER_PEEK : S_HEADER_WHOLE, self,
                            reason, reason_size);
    if (rc == 0 && too_big) {
        snprintf (reason, reason_size, "message of %zu bytes exceeds %zu", size,
                  max_bytes);
        rc = AB_ETOOBIG;
    }
    if (rc == 0 && count > S_HEAD_FRAMES) {
        self->body_count = count - S_HEAD_FRAMES;
        self->body = calloc (self->body_count, sizeof (zmq_msg_t));
        if (!self->body)
            rc = AB_ENOMEM, self->body_count = 0;
        for (size_t i = 0; self->body && i < self->body_count; i++) {
            zmq_msg_init (&self->body[i]);
            zmq_msg_move (&self->body[i], &frames[S_HEAD_FRAMES + i]);
        }
    }
    for (size_t i = 0; i < count; i++)
        zmq_msg_close (&frames[i]);
    if (self)
        self->size = size;
    if (rc == 0 || (rc == AB_ETOOBIG && self))
        *self_p = self;
    else
        ab_proto_destroy (&self);
    return rc;
}

/* Receives the frames that follow one already received (`more`: its
   ZMQ_RCVMORE) into a new array, *frames_p (the caller's: close each, then
   free), after `first` when that is not NULL (moved in as frames[0]).
   Every frame of the message is read even when memory runs out, so the
   next message starts where it should. Returns 0 or AB_ENOMEM (nothing
   kept). */
static int
s_recv_frames (void *socket, zmq_msg_t *first, bool more, zmq_msg_t **frames_p,
               size_t *count_p)
{
    size_t count = 0, allocated = 8;
    zmq_msg_t *frames = malloc (allocated * sizeof *frames);
    bool lost = frames == NULL;
    if (first && !lost) {
        zmq_msg_init (&frames[count]);
        zmq_msg_move (&frames[count++], first);
    }
    while (more) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, socket, 0) < 0) {
            zmq_msg_close (&frame);
            break;
        }
        more = zmq_msg_more (&frame);
        if (!lost && count == allocated) {
            zmq_msg_t *bigger =
                realloc (frames, 2 * allocated * sizeof *frames);
            lost = bigger == NULL;
            if (bigger)
                frames = bigger, allocated *= 2;
        }
        if (lost) {
            zmq_msg_close (&frame);
            continue;
        }
        zmq_msg_init (&frames[count]);
        zmq_msg_move (&frames[count++], &frame);
    }
    if (lost) {
        ab_frames_free (frames, count);
        *frames_p = NULL;
        *count_p = 0;
        return AB_ENOMEM;
    }
    *frames_p = frames;
    *count_p = count;
    return 0;
}

/* Parses the frames of s_recv_frames and frees their array. */
static int
s_parse_received (zmq_msg_t *frames, size_t count, ab_direction_t direction,
                  size_t max_bytes, ab_proto_t **self_p, char *reason,
                  size_t reason_size)
{
    int rc = ab_proto_parse (frames, count, direction, max_bytes, self_p,
                             reason, reason_size);
    free (frames); /* every frame was closed or moved by the parse */
    return rc;
}

int
ab_proto_recv (void *socket, zmq_msg_t *routing_id, size_t max_bytes,
               ab_proto_t **self_p, char *reason, size_t reason_size)
{
    assert (socket);
    assert (self_p);
    *self_p = NULL;
    if (zmq_msg_recv (routing_id, socket, ZMQ_DONTWAIT) < 0)
        return AB_EIO;
    zmq_msg_t *frames;
    size_t count;
    int rc = s_recv_frames (socket, NULL, zmq_msg_more (routing_id), &frames,
                            &count);
    if (rc == 0)
        rc = s_parse_received (frames, count, AB_FROM_AGENT, max_bytes, self_p,
                               reason, reason_size);
    return rc;
}

int
ab_proto_recv_dealer (void *socket, size_t max_bytes, ab_proto_t **self_p,
                      char *reason, size_t reason_size)
{
    assert (socket);
    assert (self_p);
    *self_p = NULL;
    zmq_msg_t first;
    zmq_msg_init (&first);
    if (zmq_msg_recv (&first, socket, ZMQ_DONTWAIT) < 0) {
        int error = zmq_errno ();
        zmq_msg_close (&first);
        return error == EAGAIN ? AB_ETIMEDOUT : AB_EIO;
    }
    zmq_msg_t *frames;
    size_t count;
    int rc =
        s_recv_frames (socket, &first, zmq_msg_more (&first), &frames, &count);
    zmq_msg_close (&first); /* moved into frames[0], or dropped */
    if (rc == 0)
        rc = s_parse_received (frames, count, AB_FROM_BROKER, max_bytes, self_p,
                               reason, reason_size);
    return rc;
}

void
ab_proto_destroy (ab_proto_t **self_p)
{
    assert (self_p);
    ab_proto_t *self = *self_p;
    if (!self)
        return;
    json_decref (self->header);
    zmq_msg_close (&self->text);
    ab_frames_free (self->body, self->body_count);
    free (self);
    *self_p = NULL;
}

ab_cmd_t
ab_proto_command (const ab_proto_t *self)
{
    return self->command;
}

json_t *
ab_proto_header (const ab_proto_t *self)
{
    return self->header;
}

const char *
ab_proto_header_text (ab_proto_t *self, size_t *size_p)
{
    *size_p = zmq_msg_size (&self->text);
    return zmq_msg_data (&self->text);
}

size_t
ab_proto_size (const ab_proto_t *self)
{
    return self->size;
}

size_t
ab_proto_body_count (const ab_proto_t *self)
{
    return self->body_count;
}

zmq_msg_t *
ab_proto_body (ab_proto_t *self)
{
    return self->body;
}

void
ab_proto_take_body (ab_proto_t *self, zmq_msg_t **body_p, size_t *count_p)
{
    *body_p = self->body;
    *count_p = self->body_count;
    self->body = NULL;
    self->body_count = 0;
}
