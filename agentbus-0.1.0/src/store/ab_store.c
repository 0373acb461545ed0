/*  =========================================================================
    ab_store - the storage interface: argument checks, then the ops

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Every implementation gets arguments that have been checked here, once,
    so the memory and LMDB stores cannot disagree on what is valid.
*/

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "store/ab_store.h"

/* Ids are keys by pointer (ab_id_hash_new). */
static size_t
s_id_hash (const void *key)
{
    uint64_t id = *(const uint64_t *)key;
    /* Ids are sequential; mix so the low bits zhashx uses spread well. */
    id ^= id >> 33;
    id *= UINT64_C (0xff51afd7ed558ccd);
    id ^= id >> 33;
    return (size_t)id;
}

int
ab_id_compare (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

zhashx_t *
ab_id_hash_new (zhashx_destructor_fn *destructor)
{
    zhashx_t *hash = zhashx_new ();
    if (!hash)
        return NULL;
    zhashx_set_key_hasher (hash, s_id_hash);
    zhashx_set_key_comparator (hash, ab_id_compare);
    zhashx_set_key_duplicator (hash, NULL);
    zhashx_set_key_destructor (hash, NULL);
    zhashx_set_destructor (hash, destructor);
    return hash;
}

struct _ab_store_t {
    const ab_store_ops_t *ops; /* the implementation's table; static */
    void *impl;                /* the implementation's state; owned */
    bool in_batch;             /* between begin and commit */
};

static const char *s_reason_names[AB_DEAD_REASON_COUNT_] = {
    [AB_DEAD_MAX_ATTEMPTS] = "max_attempts",
    [AB_DEAD_REJECTED] = "rejected",
    [AB_DEAD_EXPIRED] = "expired",
};

ab_store_t *
ab_store_new (const ab_store_ops_t *ops, void *impl)
{
    assert (ops);
    ab_store_t *self = calloc (1, sizeof *self);
    if (!self) {
        ops->destroy (impl);
        return NULL;
    }
    self->ops = ops;
    self->impl = impl;
    return self;
}

void *
ab_store_impl (const ab_store_t *self, const ab_store_ops_t *ops)
{
    assert (self);
    return self->ops == ops ? self->impl : NULL;
}

void
ab_store_destroy (ab_store_t **self_p)
{
    assert (self_p);
    ab_store_t *self = *self_p;
    if (self) {
        self->ops->destroy (self->impl);
        free (self);
        *self_p = NULL;
    }
}

const char *
ab_store_name (const ab_store_t *self)
{
    assert (self);
    return self->ops->name;
}

bool
ab_store_durable (const ab_store_t *self)
{
    assert (self);
    return self->ops->durable;
}

int
ab_store_begin (ab_store_t *self)
{
    assert (self);
    if (self->in_batch)
        return AB_ESTATE;
    int rc = self->ops->begin (self->impl);
    if (rc == 0)
        self->in_batch = true;
    return rc;
}

int
ab_store_commit (ab_store_t *self)
{
    assert (self);
    if (!self->in_batch)
        return AB_ESTATE;
    /* The batch is over whatever commit says: a failed durable commit
       has lost its writes, and the broker must not answer OK for them. */
    self->in_batch = false;
    return self->ops->commit (self->impl);
}

bool
ab_store_in_batch (const ab_store_t *self)
{
    assert (self);
    return self->in_batch;
}

int
ab_store_next_id (ab_store_t *self, uint64_t *id_p)
{
    assert (self);
    assert (id_p);
    return self->ops->next_id (self->impl, id_p);
}

static bool
s_message_valid (const ab_message_t *message)
{
    return message && message->id != 0 && message->type && message->from &&
           message->header && message->frames && message->frame_count >= 1 &&
           (!message->producer_id ||
            strlen (message->producer_id) <= AB_STORE_PRODUCER_ID_MAX);
}

int
ab_store_put_message (ab_store_t *self, const ab_message_t *message)
{
    assert (self);
    if (!s_message_valid (message))
        return AB_EINVAL;
    return self->ops->put_message (self->impl, message);
}

int
ab_store_get_message (ab_store_t *self, uint64_t id, ab_message_t **message_p)
{
    assert (self);
    assert (message_p);
    *message_p = NULL;
    return self->ops->get_message (self->impl, id, message_p);
}

int
ab_store_del_message (ab_store_t *self, uint64_t id)
{
    assert (self);
    return self->ops->del_message (self->impl, id);
}

int
ab_store_put_copy (ab_store_t *self, const ab_copy_t *copy)
{
    assert (self);
    if (!copy || copy->id == 0 || copy->message_id == 0 || !copy->edge_key ||
        copy->attempts < 0 || copy->state > AB_COPY_DONE)
        return AB_EINVAL;
    return self->ops->put_copy (self->impl, copy);
}

int
ab_store_get_copy (ab_store_t *self, uint64_t id, ab_copy_t *copy)
{
    assert (self);
    assert (copy);
    return self->ops->get_copy (self->impl, id, copy);
}

int
ab_store_del_copy (ab_store_t *self, uint64_t id)
{
    assert (self);
    return self->ops->del_copy (self->impl, id);
}

int
ab_store_dead_letter (ab_store_t *self, uint64_t copy_id,
                      ab_dead_reason_t reason, int64_t at_ms)
{
    assert (self);
    if (!ab_dead_reason_name (reason))
        return AB_EINVAL;
    return self->ops->dead_letter (self->impl, copy_id, reason, at_ms);
}

int
ab_store_get_dead (ab_store_t *self, uint64_t copy_id, ab_dead_letter_t *dead)
{
    assert (self);
    assert (dead);
    return self->ops->get_dead (self->impl, copy_id, dead);
}

int
ab_store_list_dead (ab_store_t *self, uint64_t *cursor_p, size_t limit,
                    ab_dead_letter_t *dead, size_t *count_p)
{
    assert (self);
    assert (cursor_p);
    assert (count_p);
    *count_p = 0;
    if (limit > 0 && !dead)
        return AB_EINVAL;
    return self->ops->list_dead (self->impl, cursor_p, limit, dead, count_p);
}

int
ab_store_del_dead (ab_store_t *self, uint64_t copy_id)
{
    assert (self);
    return self->ops->del_dead (self->impl, copy_id);
}

int
ab_store_get_seq (ab_store_t *self, const char *producer, const char *edge_key,
                  int64_t *seq_p)
{
    assert (self);
    assert (seq_p);
    if (!producer || !edge_key)
        return AB_EINVAL;
    return self->ops->get_seq (self->impl, producer, edge_key, seq_p);
}

int
ab_store_set_seq (ab_store_t *self, const char *producer, const char *edge_key,
                  int64_t seq)
{
    assert (self);
    if (!producer || !edge_key)
        return AB_EINVAL;
    return self->ops->set_seq (self->impl, producer, edge_key, seq);
}

int
ab_store_recover (ab_store_t *self, ab_store_message_fn *on_message,
                  ab_store_copy_fn *on_copy, void *arg)
{
    assert (self);
    return self->ops->recover (self->impl, on_message, on_copy, arg);
}

void
ab_store_stats (ab_store_t *self, ab_store_stats_t *stats)
{
    assert (self);
    assert (stats);
    memset (stats, 0, sizeof *stats);
    self->ops->stats (self->impl, stats);
}

/* One block: the record, then the frames, then the strings, so a record
   is freed with one free () after its frames are closed. */
ab_message_t *
ab_message_dup (const ab_message_t *message)
{
    assert (message);
    const char *strings[] = {message->type, message->from, message->producer_id,
                             message->traceparent, message->header};
    size_t size =
        sizeof (ab_message_t) + message->frame_count * sizeof (zmq_msg_t);
    for (size_t i = 0; i < 5; i++)
        size += strings[i] ? strlen (strings[i]) + 1 : 0;
    ab_message_t *copy = malloc (size);
    if (!copy)
        return NULL;
    *copy = *message;
    copy->frames = (zmq_msg_t *)(copy + 1);
    char *cursor = (char *)(copy->frames + message->frame_count);
    const char **fields[] = {&copy->type, &copy->from, &copy->producer_id,
                             &copy->traceparent, &copy->header};
    for (size_t i = 0; i < 5; i++) {
        if (!strings[i])
            continue;
        size_t length = strlen (strings[i]) + 1;
        memcpy (cursor, strings[i], length);
        *fields[i] = cursor;
        cursor += length;
    }
    for (size_t i = 0; i < message->frame_count; i++) {
        zmq_msg_init (&copy->frames[i]);
        /* zmq_msg_copy shares the buffer of a large frame (refcount);
           it only copies bytes of very small frames kept inline. */
        zmq_msg_copy (&copy->frames[i], &message->frames[i]);
    }
    return copy;
}

void
ab_message_destroy (ab_message_t **self_p)
{
    assert (self_p);
    ab_message_t *self = *self_p;
    if (self) {
        for (size_t i = 0; i < self->frame_count; i++)
            zmq_msg_close (&self->frames[i]);
        free (self);
        *self_p = NULL;
    }
}

size_t
ab_message_bytes (const ab_message_t *message)
{
    assert (message);
    size_t bytes = 0;
    for (size_t i = 0; i < message->frame_count; i++)
        bytes += zmq_msg_size (&message->frames[i]);
    return bytes;
}

const char *
ab_dead_reason_name (ab_dead_reason_t reason)
{
    if ((unsigned)reason >= AB_DEAD_REASON_COUNT_)
        return NULL;
    return s_reason_names[reason];
}

int
ab_dead_reason_from_name (const char *name, ab_dead_reason_t *reason_p)
{
    assert (reason_p);
    for (int i = 0; name && i < AB_DEAD_REASON_COUNT_; i++)
        if (strcmp (name, s_reason_names[i]) == 0) {
            *reason_p = (ab_dead_reason_t)i;
            return 0;
        }
    return AB_EINVAL;
}

char *
ab_store_edge_key (const char *from, const char *to, const char *type)
{
    assert (from && to && type);
    char *key = NULL;
    if (asprintf (&key, "%s->%s:%s", from, to, type) < 0)
        return NULL;
    return key;
}
