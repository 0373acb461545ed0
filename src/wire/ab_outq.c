/*  =========================================================================
    ab_outq - ABP/1 messages built now and sent later, in order

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "wire/ab_outq.h"

static int
s_errno_code (void)
{
    if (errno == EHOSTUNREACH)
        return AB_ENOENT;
    if (errno == EAGAIN)
        return AB_EFULL;
    return AB_EIO;
}

/* The queue is frames in one array; a message is its frames in a row,
   the first (the routing id) marked. */

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
    assert (ab_cmd_has_payload (command) == (body_count > 0));
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
                i == 1 ? AB_PROTOCOL_SIGNATURE : ab_cmd_name (command);
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
