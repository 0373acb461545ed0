/*  =========================================================================
    ab_proto - ABP/1 messages in and out of the broker's ROUTER socket

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

typedef struct {
    const char *name;         /* command word on the wire */
    bool payload;             /* frame 3 is required (else forbidden) */
    ab_direction_t direction; /* who may send it */
} s_command_t;

/* Indexed by ab_cmd_t: the frame table of protocol.md §2 and §3. */
static const s_command_t s_commands[AB_CMD_COUNT_] = {
    [AB_CMD_HELLO] = {"HELLO", false, AB_FROM_AGENT},
    [AB_CMD_PUB] = {"PUB", true, AB_FROM_AGENT},
    [AB_CMD_REQ] = {"REQ", true, AB_FROM_AGENT},
    [AB_CMD_REP] = {"REP", true, AB_FROM_AGENT},
    [AB_CMD_ACK] = {"ACK", false, AB_FROM_AGENT},
    [AB_CMD_NACK] = {"NACK", false, AB_FROM_AGENT},
    [AB_CMD_CREDIT] = {"CREDIT", false, AB_FROM_AGENT},
    [AB_CMD_PING] = {"PING", false, AB_FROM_AGENT},
    [AB_CMD_BYE] = {"BYE", false, AB_FROM_AGENT},
    [AB_CMD_WELCOME] = {"WELCOME", false, AB_FROM_BROKER},
    [AB_CMD_OK] = {"OK", false, AB_FROM_BROKER},
    [AB_CMD_REJECT] = {"REJECT", false, AB_FROM_BROKER},
    [AB_CMD_DELIVER] = {"DELIVER", true, AB_FROM_BROKER},
    [AB_CMD_REPLY] = {"REPLY", true, AB_FROM_BROKER},
    [AB_CMD_PONG] = {"PONG", false, AB_FROM_BROKER},
    [AB_CMD_ERROR] = {"ERROR", false, AB_FROM_BROKER},
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
    return s_commands[command].payload;
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

/* Checks frames 0..2 and the body count; fills *self_p's command and
   header. Returns 0 or AB_EPROTO with a reason. */
static int
s_check_table (zmq_msg_t *frames, size_t count, ab_direction_t direction,
               bool peek_header, ab_proto_t *self, char *reason,
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
    bool skip = peek_header && zmq_msg_size (&frames[2]) > S_MAX_HEADER_PEEK;
    self->header = skip ? json_object () : s_parse_header (&frames[2]);
    if (!skip)
        zmq_msg_move (&self->text, &frames[2]);
    if (!self->header) {
        snprintf (reason, reason_size, "%s: header is not a JSON object", name);
        return AB_EPROTO;
    }
    bool has_body = count > S_HEAD_FRAMES;
    if (s_commands[command].payload && !has_body) {
        snprintf (reason, reason_size, "%s: payload frame missing", name);
        return AB_EPROTO;
    }
    if (!s_commands[command].payload && has_body) {
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
        rc = s_check_table (frames, count, direction, too_big, self, reason,
                            reason_size);
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

int
ab_proto_recv (void *socket, zmq_msg_t *routing_id, size_t max_bytes,
               ab_proto_t **self_p, char *reason, size_t reason_size)
{
    assert (socket);
    *self_p = NULL;
    if (zmq_msg_recv (routing_id, socket, ZMQ_DONTWAIT) < 0)
        return AB_EIO;
    size_t count = 0, allocated = 8;
    zmq_msg_t *frames = malloc (allocated * sizeof *frames);
    bool more = zmq_msg_more (routing_id);
    bool lost = frames == NULL;
    /* Read every frame of the message even when out of memory, so the
       next message starts at its routing id. */
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
    int rc = AB_ENOMEM;
    if (!lost)
        rc = ab_proto_parse (frames, count, AB_FROM_AGENT, max_bytes, self_p,
                             reason, reason_size);
    else
        ab_frames_free (frames, count), frames = NULL, count = 0;
    free (frames);
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

static int
s_errno_code (void)
{
    if (errno == EHOSTUNREACH)
        return AB_ENOENT;
    if (errno == EAGAIN)
        return AB_EFULL;
    return AB_EIO;
}

/* ---------------------------------------------------------------------
   ab_outq_t: frames in one array; a message is its frames in a row, the
   first (the routing id) marked. */

typedef struct {
    zmq_msg_t frame;  /* built, not yet sent */
    bool first;       /* a routing id: a message starts here */
    bool more;        /* another frame of this message follows */
    ab_cmd_t command; /* on the first frame: the message's command */
    uint64_t tag;     /* on the first frame: ab_outq_tag's, else 0 */
} s_outframe_t;

struct _ab_outq_t {
    s_outframe_t *frames; /* waiting, in order */
    size_t size;          /* frames waiting */
    size_t capacity;      /* frames allocated */
    size_t messages;      /* messages waiting */
    size_t last;          /* first frame of the message added last */
};

ab_outq_t *
ab_outq_new (void)
{
    return calloc (1, sizeof (ab_outq_t));
}

void
ab_outq_destroy (ab_outq_t **self_p)
{
    assert (self_p);
    ab_outq_t *self = *self_p;
    if (self) {
        for (size_t i = 0; i < self->size; i++)
            zmq_msg_close (&self->frames[i].frame);
        free (self->frames);
        free (self);
        *self_p = NULL;
    }
}

void
ab_outq_tag (ab_outq_t *self, uint64_t tag)
{
    assert (self && self->messages);
    self->frames[self->last].tag = tag;
}

size_t
ab_outq_size (const ab_outq_t *self)
{
    return self->messages;
}

/* The next free slot (room made), or NULL. */
static s_outframe_t *
s_outq_slot (ab_outq_t *self)
{
    if (self->size == self->capacity) {
        size_t capacity = self->capacity ? 2 * self->capacity : 1024;
        s_outframe_t *frames =
            realloc (self->frames, capacity * sizeof *frames);
        if (!frames)
            return NULL;
        self->frames = frames;
        self->capacity = capacity;
    }
    s_outframe_t *slot = &self->frames[self->size];
    *slot = (s_outframe_t){.more = true};
    return slot;
}

/* Drops the frames from `from` on (an add that failed half-way). */
static void
s_outq_truncate (ab_outq_t *self, size_t from)
{
    for (size_t i = from; i < self->size; i++)
        zmq_msg_close (&self->frames[i].frame);
    self->size = from;
}

int
ab_outq_add (ab_outq_t *self, zmq_msg_t *routing_id, ab_cmd_t command,
             const char *header, size_t header_size, zmq_msg_t *body,
             size_t body_count, size_t *copied_p)
{
    assert (self && routing_id && header);
    assert (command < AB_CMD_COUNT_);
    assert (s_commands[command].payload == (body_count > 0));
    size_t start = self->size, copied = 0;
    size_t frames = 4 + body_count;
    for (size_t i = 0; i < frames; i++) {
        s_outframe_t *slot = s_outq_slot (self);
        if (!slot) {
            s_outq_truncate (self, start);
            return AB_ENOMEM;
        }
        int rc = 0;
        if (i == 0) {
            slot->first = true;
            slot->command = command;
            zmq_msg_init (&slot->frame);
            rc = zmq_msg_copy (&slot->frame, routing_id);
        } else if (i == 1 || i == 2) {
            /* constant text: libzmq neither copies nor frees it */
            const char *text =
                i == 1 ? AB_PROTOCOL_SIGNATURE : s_commands[command].name;
            rc = zmq_msg_init_data (&slot->frame, (void *)text, strlen (text),
                                    NULL, NULL);
        } else if (i == 3) {
            rc = zmq_msg_init_size (&slot->frame, header_size);
            if (rc == 0 && header_size)
                memcpy (zmq_msg_data (&slot->frame), header, header_size);
        } else {
            zmq_msg_t *source = &body[i - 4];
            zmq_msg_init (&slot->frame);
            rc = zmq_msg_copy (&slot->frame, source);
            /* the payload is small and may be copied; attachments not */
            if (rc == 0 && i > 4 && zmq_msg_size (source) &&
                zmq_msg_data (&slot->frame) != zmq_msg_data (source))
                copied += zmq_msg_size (source);
        }
        if (rc < 0) {
            zmq_msg_close (&slot->frame);
            s_outq_truncate (self, start);
            return AB_ENOMEM;
        }
        slot->more = i + 1 < frames;
        self->size++;
    }
    self->messages++;
    self->last = start;
    if (copied_p)
        *copied_p += copied;
    return 0;
}

size_t
ab_outq_send (ab_outq_t *self, void *socket, ab_outq_failed_fn *failed,
              void *arg)
{
    assert (self && socket);
    size_t refused = 0;
    size_t i = 0;
    while (i < self->size) {
        /* Only the routing-id frame can fail on a ROUTER_MANDATORY socket
           without a high-water mark: once it is accepted, libzmq takes
           the rest of the message whole. The routing id is kept for
           `failed` all the same. */
        size_t first = i;
        ab_cmd_t command = self->frames[first].command;
        uint64_t tag = self->frames[first].tag;
        zmq_msg_t routing_id;
        zmq_msg_init (&routing_id);
        if (failed)
            zmq_msg_copy (&routing_id, &self->frames[first].frame);
        int rc = 0;
        for (; i < self->size; i++) {
            s_outframe_t *slot = &self->frames[i];
            if (i > first && slot->first)
                break;
            if (rc == 0 && zmq_msg_send (&slot->frame, socket,
                                         (slot->more ? ZMQ_SNDMORE : 0) |
                                             ZMQ_DONTWAIT) < 0)
                rc = s_errno_code ();
            if (rc)
                zmq_msg_close (&slot->frame);
        }
        if (rc) {
            refused++;
            if (failed)
                failed (arg, &routing_id, command, tag, rc);
        }
        zmq_msg_close (&routing_id);
    }
    self->size = 0;
    self->messages = 0;
    return refused;
}

/* ---------------------------------------------------------------------
   ab_jsonw_t: a growing buffer; `failed` makes every later write a
   no-op, so callers check once, at ab_jsonw_text. */

struct _ab_jsonw_t {
    char *data;      /* the text so far, NUL-terminated; owned */
    size_t size;     /* bytes of text (without the NUL) */
    size_t capacity; /* bytes allocated for data */
    bool failed;     /* a write ran out of memory: the text is void */
};

ab_jsonw_t *
ab_jsonw_new (void)
{
    ab_jsonw_t *self = calloc (1, sizeof *self);
    if (self)
        ab_jsonw_reset (self);
    return self;
}

void
ab_jsonw_destroy (ab_jsonw_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->data);
        free (*self_p);
        *self_p = NULL;
    }
}

/* Makes room for `more` bytes and the NUL. */
static bool
s_jsonw_room (ab_jsonw_t *self, size_t more)
{
    if (self->failed)
        return false;
    if (self->size + more + 1 <= self->capacity)
        return true;
    size_t capacity = self->capacity ? self->capacity : 256;
    while (capacity < self->size + more + 1)
        capacity *= 2;
    char *data = realloc (self->data, capacity);
    if (!data) {
        self->failed = true;
        return false;
    }
    self->data = data;
    self->capacity = capacity;
    return true;
}

static void
s_jsonw_put (ab_jsonw_t *self, const char *text, size_t length)
{
    if (!s_jsonw_room (self, length))
        return;
    memcpy (self->data + self->size, text, length);
    self->size += length;
    self->data[self->size] = '\0';
}

void
ab_jsonw_reset (ab_jsonw_t *self)
{
    self->size = 0;
    self->failed = false;
    s_jsonw_put (self, "{", 1);
}

/* Writes `"text"` with the escapes RFC 8259 requires: quote, backslash
   and the control characters. Other bytes (UTF-8) go through as they
   are, as json_dumps writes them. */
static void
s_jsonw_quoted (ab_jsonw_t *self, const char *text, size_t length)
{
    static const char digits[] = "0123456789abcdef";
    /* at worst every byte becomes \u00XX */
    if (!s_jsonw_room (self, 6 * length + 2))
        return;
    char *out = self->data + self->size;
    *out++ = '"';
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\') {
            *out++ = '\\';
            *out++ = (char)c;
        } else if (c < 0x20) {
            memcpy (out, "\\u00", 4);
            out[4] = digits[c >> 4];
            out[5] = digits[c & 0xf];
            out += 6;
        } else
            *out++ = (char)c;
    }
    *out++ = '"';
    *out = '\0';
    self->size = (size_t)(out - self->data);
}

/* Writes `,"key":` (no comma for the first member). */
static void
s_jsonw_key (ab_jsonw_t *self, const char *key)
{
    if (self->size > 1)
        s_jsonw_put (self, ",", 1);
    s_jsonw_quoted (self, key, strlen (key));
    s_jsonw_put (self, ":", 1);
}

void
ab_jsonw_string (ab_jsonw_t *self, const char *key, const char *value)
{
    s_jsonw_key (self, key);
    s_jsonw_quoted (self, value, strlen (value));
}

void
ab_jsonw_int (ab_jsonw_t *self, const char *key, long long value)
{
    char text[AB_DECIMAL_SIZE];
    size_t length = ab_decimal_i64 (text, (int64_t)value);
    s_jsonw_key (self, key);
    s_jsonw_put (self, text, length);
}

void
ab_jsonw_bool (ab_jsonw_t *self, const char *key, bool value)
{
    s_jsonw_key (self, key);
    s_jsonw_put (self, value ? "true" : "false", value ? 4 : 5);
}

void
ab_jsonw_value (ab_jsonw_t *self, const char *key, const json_t *value)
{
    if (json_is_string (value)) {
        s_jsonw_key (self, key);
        s_jsonw_quoted (self, json_string_value (value),
                        json_string_length (value));
    } else if (json_is_integer (value))
        ab_jsonw_int (self, key, (long long)json_integer_value (value));
    else if (json_is_boolean (value))
        ab_jsonw_bool (self, key, json_is_true (value));
    else {
        char *text = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text) {
            self->failed = true;
            return;
        }
        s_jsonw_key (self, key);
        s_jsonw_put (self, text, strlen (text));
        free (text);
    }
}

const char *
ab_jsonw_text (ab_jsonw_t *self, size_t *size_p)
{
    s_jsonw_put (self, "}", 1);
    if (self->failed)
        return NULL;
    *size_p = self->size;
    return self->data;
}
