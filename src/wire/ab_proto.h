/*  =========================================================================
    ab_proto - ABP/1 messages: the command table and the frame codec

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

    Both sides use this codec: the broker reads its ROUTER socket with
    ab_proto_recv (commands AB_FROM_AGENT), libagentbus reads its DEALER
    socket with ab_proto_recv_dealer (commands AB_FROM_BROKER). What goes
    out is built by ab_outq (the broker's batches) and ab_jsonw (headers
    written as text), each in its own file pair.

    Out of memory is an error returned (AB_ENOMEM), never an assert:
    asserts here are only for the caller's bugs.
*/

#ifndef AB_PROTO_H_INCLUDED
#define AB_PROTO_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

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

/* Receives one whole multipart message from a DEALER socket connected
   to a broker (no routing-id frame) and parses it as ab_proto_parse does
   for commands AB_FROM_BROKER. Returns AB_ETIMEDOUT when nothing is
   waiting, AB_EIO when the socket failed, AB_ENOMEM (the message is read
   and dropped whole), and the parse result otherwise. Never blocks
   before the first frame. */
int ab_proto_recv_dealer (void *socket, size_t max_bytes, ab_proto_t **self_p,
                          char *reason, size_t reason_size);

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

/* Frees an array of frames as returned by ab_proto_take_body: closes each
   frame, frees the array; accepts NULL. */
void ab_frames_free (zmq_msg_t *frames, size_t count);

#endif
