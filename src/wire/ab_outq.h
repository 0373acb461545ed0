/*  =========================================================================
    ab_outq - ABP/1 messages built now and sent later, in order

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Messages built now and sent later, in order: the broker answers a
    whole batch of commands at once, so libzmq's I/O thread is woken once
    per batch and writes many messages per system call instead of one.
    Frames are built when a message is added (body frames shared, never
    copied); ab_outq_send hands them to the socket.

    Out of memory while adding is an error returned (AB_ENOMEM, nothing
    added); asserts are only for the caller's bugs.
*/

#ifndef AB_OUTQ_H_INCLUDED
#define AB_OUTQ_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "wire/ab_proto.h"

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

#endif
