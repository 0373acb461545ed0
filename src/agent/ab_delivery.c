/*  =========================================================================
    ab_delivery - a received DELIVER or REPLY, its frames kept alive

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    A delivery owns the zmq_msg_t frames it was received in, so attachment
    views are the socket's own buffers (zero-copy) for as long as the
    delivery lives. Only the payload frame is parsed. Out of memory is
    a NULL returned by the constructor, never an assert.
*/

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ab_delivery.h"
#include "wire/ab_jsonscan.h"

struct _ab_delivery_t {
    json_t *header;         /* the header object; owned */
    json_t *payload;        /* frame 3 parsed; owned; never NULL */
    zmq_msg_t *attachments; /* frames 4…, moved from the socket; owned */
    size_t count;           /* number of attachments */
    ab_delivery_t *next;    /* next in the agent's FIFO; not owned */
};

static void
s_close_frames (zmq_msg_t *frames, size_t count)
{
    for (size_t i = 0; i < count; i++)
        zmq_msg_close (&frames[i]);
}

ab_delivery_t *
ab_delivery_new (json_t *header, zmq_msg_t *body, size_t count)
{
    if (count == 0)
        return NULL;
    /* the broker's own loader: the values json_loadb (JSON_DECODE_ANY)
       makes, several times faster */
    json_t *payload = ab_jsonscan_load (zmq_msg_data (&body[0]),
                                        zmq_msg_size (&body[0]), NULL);
    ab_delivery_t *self = payload ? calloc (1, sizeof *self) : NULL;
    if (self && count > 1) {
        self->attachments = calloc (count - 1, sizeof (zmq_msg_t));
        if (!self->attachments) {
            free (self);
            self = NULL;
        }
    }
    if (!self) {
        json_decref (payload);
        return NULL;
    }
    self->header = json_incref (header);
    self->payload = payload;
    self->count = count - 1;
    for (size_t i = 1; i < count; i++) {
        zmq_msg_init (&self->attachments[i - 1]);
        zmq_msg_move (&self->attachments[i - 1], &body[i]);
    }
    return self;
}

void
ab_delivery_destroy (ab_delivery_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ab_delivery_t *self = *self_p;
    json_decref (self->header);
    json_decref (self->payload);
    s_close_frames (self->attachments, self->count);
    free (self->attachments);
    free (self);
    *self_p = NULL;
}

ab_delivery_t *
ab_delivery_next (const ab_delivery_t *self)
{
    return self->next;
}

void
ab_delivery_set_next (ab_delivery_t *self, ab_delivery_t *next)
{
    self->next = next;
}

static const char *
s_string (const ab_delivery_t *self, const char *field)
{
    return self ? json_string_value (json_object_get (self->header, field))
                : NULL;
}

static json_int_t
s_integer (const ab_delivery_t *self, const char *field)
{
    return self ? json_integer_value (json_object_get (self->header, field))
                : 0;
}

const char *
ab_delivery_msg (const ab_delivery_t *self)
{
    return s_string (self, "msg");
}

const char *
ab_delivery_type (const ab_delivery_t *self)
{
    return s_string (self, "type");
}

int
ab_delivery_version (const ab_delivery_t *self)
{
    json_int_t version = s_integer (self, "version");
    return version > 0 && version <= INT32_MAX ? (int)version : 0;
}

const char *
ab_delivery_from (const ab_delivery_t *self)
{
    return s_string (self, "from");
}

const char *
ab_delivery_id (const ab_delivery_t *self)
{
    return s_string (self, "id");
}

int
ab_delivery_attempt (const ab_delivery_t *self)
{
    json_int_t attempt = s_integer (self, "attempt");
    return attempt > 0 && attempt <= INT32_MAX ? (int)attempt : 0;
}

bool
ab_delivery_seq (const ab_delivery_t *self, int64_t *seq_p)
{
    json_t *seq = self ? json_object_get (self->header, "seq") : NULL;
    if (!json_is_integer (seq))
        return false;
    if (seq_p)
        *seq_p = json_integer_value (seq);
    return true;
}

const char *
ab_delivery_traceparent (const ab_delivery_t *self)
{
    return s_string (self, "traceparent");
}

bool
ab_delivery_is_request (const ab_delivery_t *self)
{
    return self && json_is_true (json_object_get (self->header, "request"));
}

bool
ab_delivery_is_partial (const ab_delivery_t *self)
{
    return self && json_is_true (json_object_get (self->header, "partial"));
}

const json_t *
ab_delivery_header (const ab_delivery_t *self)
{
    return self ? self->header : NULL;
}

const json_t *
ab_delivery_payload (const ab_delivery_t *self)
{
    return self ? self->payload : NULL;
}

size_t
ab_delivery_attachment_count (const ab_delivery_t *self)
{
    return self ? self->count : 0;
}

const void *
ab_delivery_attachment (const ab_delivery_t *self, size_t index, size_t *size_p)
{
    if (!self || index >= self->count)
        return NULL;
    zmq_msg_t *frame = &((ab_delivery_t *)self)->attachments[index];
    if (size_p)
        *size_p = zmq_msg_size (frame);
    return zmq_msg_data (frame);
}

/* Reads a tensor reference's shape: a list of non-negative integers. */
static int
s_read_shape (json_t *list, int64_t *shape, size_t max_ndim, size_t *ndim_p)
{
    if (!json_is_array (list))
        return AB_EINVAL;
    size_t ndim = json_array_size (list);
    if (ndim > max_ndim)
        return AB_ELIMIT;
    for (size_t i = 0; i < ndim; i++) {
        json_t *dim = json_array_get (list, i);
        if (!json_is_integer (dim) || json_integer_value (dim) < 0)
            return AB_EINVAL;
        shape[i] = json_integer_value (dim);
    }
    *ndim_p = ndim;
    return 0;
}

int
ab_delivery_tensor (const ab_delivery_t *self, const char *key,
                    const void **data_p, ab_dtype_t *dtype_p, int64_t *shape,
                    size_t max_ndim, size_t *ndim_p)
{
    if (!self || !key || !data_p || !dtype_p || !ndim_p ||
        (max_ndim > 0 && !shape))
        return AB_EINVAL;
    json_t *ref = json_object_get (self->payload, key);
    if (!ref)
        return AB_ENOENT;
    ab_dtype_t dtype =
        ab_dtype_from_name (json_string_value (json_object_get (ref, "dtype")));
    json_t *frame = json_object_get (ref, "frame");
    if (dtype == AB_DTYPE_INVALID || !json_is_integer (frame) ||
        json_integer_value (frame) < 0)
        return AB_EINVAL;
    size_t ndim = 0;
    int rc =
        s_read_shape (json_object_get (ref, "shape"), shape, max_ndim, &ndim);
    if (rc < 0)
        return rc;
    size_t size = 0;
    const void *data = ab_delivery_attachment (
        self, (size_t)json_integer_value (frame), &size);
    if (!data)
        return AB_ENOENT;
    size_t expected = 0;
    rc = ab_tensor_nbytes (dtype, shape, ndim, &expected);
    if (rc < 0)
        return rc;
    if (expected != size)
        return AB_EINVAL;
    *data_p = data;
    *dtype_p = dtype;
    *ndim_p = ndim;
    return 0;
}
