/*  =========================================================================
    ab_proto - ABP/1 messages in and out of the broker's ROUTER socket

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    An ab_proto_t is one received ABP/1 message after the frame table of
    protocol.md §2 was enforced: a known command, a header that is a JSON
    object, and a body (frame 3 = payload, frames 4.. = attachments) only
    for the commands that carry one. Body frames stay zmq_msg_t from the
    socket to the consumer's socket: they are moved or shared with
    zmq_msg_copy (which shares the buffer of a long message), never copied
    byte by byte, so a tensor attachment crosses the broker zero-copy.
*/

#ifndef AB_PROTO_H_INCLUDED
#define AB_PROTO_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "common/ab_decimal.h"

/* Every command word, agent→broker first. The order is the table order
   in ab_proto.c. */
typedef enum {
    AB_CMD_HELLO = 0,
    AB_CMD_PUB,
    AB_CMD_REQ,
    AB_CMD_REP,
    AB_CMD_ACK,
    AB_CMD_NACK,
    AB_CMD_CREDIT,
    AB_CMD_PING,
    AB_CMD_BYE,
    AB_CMD_WELCOME,
    AB_CMD_OK,
    AB_CMD_REJECT,
    AB_CMD_DELIVER,
    AB_CMD_REPLY,
    AB_CMD_PONG,
    AB_CMD_ERROR,
    AB_CMD_COUNT_ /* number of commands; not a command */
} ab_cmd_t;

/* Which side may send a command. */
typedef enum {
    AB_FROM_AGENT = 0,
    AB_FROM_BROKER,
} ab_direction_t;

typedef struct _ab_proto_t ab_proto_t;

/* The command word ("PUB"), or NULL for an invalid value. */
const char *ab_cmd_name (ab_cmd_t command);

/* True when the command carries a payload (frame 3). */
bool ab_cmd_has_payload (ab_cmd_t command);

/* Parses one multipart message whose routing-id frame was already taken
   off. Takes ownership of the `count` frames in `frames` (closes or moves
   every one; the array itself stays the caller's). Only commands sent
   by `direction` are accepted.
   Returns 0 with *self_p set; AB_EPROTO when the frame table is broken
   (reason in `reason`); AB_ETOOBIG when the frames together exceed
   `max_bytes` (0 = no limit): *self_p is then still set when the frame
   table holds, so the caller can echo the header's `id`, but it has no
   body. */
int ab_proto_parse (zmq_msg_t *frames, size_t count, ab_direction_t direction,
                    size_t max_bytes, ab_proto_t **self_p, char *reason,
                    size_t reason_size);

/* Receives one whole multipart message from a ROUTER socket (frame 0 is
   the routing id, moved into `routing_id`, which must be initialised by
   the caller) and parses the rest as ab_proto_parse does. Returns
   AB_EIO when nothing could be received (EAGAIN) and the parse result
   otherwise. Never blocks. */
int ab_proto_recv (void *socket, zmq_msg_t *routing_id, size_t max_bytes,
                   ab_proto_t **self_p, char *reason, size_t reason_size);

/* Destroys a message and closes its frames; accepts NULL, nulls *self_p. */
void ab_proto_destroy (ab_proto_t **self_p);

ab_cmd_t ab_proto_command (const ab_proto_t *self);

/* The header object (borrowed; never NULL). */
json_t *ab_proto_header (const ab_proto_t *self);

/* The header frame as received: JSON text of *size_p bytes, not
   NUL-terminated (borrowed). Empty for an oversize message whose header
   was not parsed. */
const char *ab_proto_header_text (ab_proto_t *self, size_t *size_p);

/* Bytes of every frame after the routing id, as received. */
size_t ab_proto_size (const ab_proto_t *self);

/* Body frames: the payload and then the attachments (borrowed). */
size_t ab_proto_body_count (const ab_proto_t *self);
zmq_msg_t *ab_proto_body (ab_proto_t *self);

/* Moves the body frames out (zero-copy): *body_p gets a new array of
   *count_p frames, the caller's (close each, then free the array); the
   message keeps none. */
void ab_proto_take_body (ab_proto_t *self, zmq_msg_t **body_p, size_t *count_p);

/* Messages built now and sent later, in order: the broker answers a
   whole batch of commands at once, so libzmq's I/O thread is woken once
   per batch and writes many messages per system call instead of one.
   Frames are built when a message is added (body frames shared, never
   copied); ab_outq_send hands them to the socket. */
typedef struct _ab_outq_t ab_outq_t;

/* Called by ab_outq_send for a message the socket refused: `routing_id`
   is its first frame, `tag` what ab_outq_tag gave it (else 0), `rc` an
   AB_E* code. */
typedef void (ab_outq_failed_fn) (void *arg, zmq_msg_t *routing_id,
                                  ab_cmd_t command, uint64_t tag, int rc);

ab_outq_t *ab_outq_new (void);
void ab_outq_destroy (ab_outq_t **self_p);

/* Adds one message to the peer `routing_id`: signature, command,
   `header` (compact JSON text, `header_size` bytes), then the
   `body_count` body frames. The body is borrowed and shared
   (zmq_msg_copy), so the caller keeps it for a resend. If `copied_p` is
   not NULL, it is increased by the bytes of attachments (body frames
   after the payload) that libzmq did not share but copied (only frames of
   at most 33 bytes, which libzmq keeps inline): the broker's proof that
   tensors travel zero-copy. Returns 0 or AB_ENOMEM (nothing added). */
int ab_outq_add (ab_outq_t *self, zmq_msg_t *routing_id, ab_cmd_t command,
                 const char *header, size_t header_size, zmq_msg_t *body,
                 size_t body_count, size_t *copied_p);

/* Tags the message added last, for `failed` (the broker: a DELIVER's
   copy id). */
void ab_outq_tag (ab_outq_t *self, uint64_t tag);

/* Messages waiting. */
size_t ab_outq_size (const ab_outq_t *self);

/* Sends every waiting message on `socket` (a ROUTER), in order, without
   blocking, and empties the queue; `failed` (may be NULL) hears of each
   one refused: AB_ENOENT when the peer is not connected (EHOSTUNREACH),
   AB_EFULL when its pipe is full (EAGAIN), AB_EIO otherwise. Returns
   the number refused. */
size_t ab_outq_send (ab_outq_t *self, void *socket, ab_outq_failed_fn *failed,
                     void *arg);

/* A header written straight as JSON text into a buffer that is kept from
   one message to the next: the hot answers (OK, DELIVER, REPLY) skip
   building a json_t and dumping it. Keys are the caller's literals and
   are not escaped; string values are. Out of memory is remembered and
   reported by ab_jsonw_text. */
typedef struct _ab_jsonw_t ab_jsonw_t;

ab_jsonw_t *ab_jsonw_new (void);
void ab_jsonw_destroy (ab_jsonw_t **self_p);

/* Starts a new object, forgetting the previous text. */
void ab_jsonw_reset (ab_jsonw_t *self);

/* Adds "key": value. ab_jsonw_value writes strings, integers, booleans
   and null itself and leaves other values to jansson. */
void ab_jsonw_string (ab_jsonw_t *self, const char *key, const char *value);
void ab_jsonw_int (ab_jsonw_t *self, const char *key, long long value);
void ab_jsonw_bool (ab_jsonw_t *self, const char *key, bool value);
void ab_jsonw_value (ab_jsonw_t *self, const char *key, const json_t *value);

/* Closes the object; returns its text (NUL-terminated, valid until the
   next reset) with its length in *size_p, or NULL when out of memory. */
const char *ab_jsonw_text (ab_jsonw_t *self, size_t *size_p);

/* Frees an array of frames as returned by ab_proto_take_body: closes each
   frame, frees the array; accepts NULL. */
void ab_frames_free (zmq_msg_t *frames, size_t count);

#endif
