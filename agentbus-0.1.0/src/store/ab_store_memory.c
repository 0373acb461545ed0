/*  =========================================================================
    ab_store_memory - the in-memory implementation of ab_store

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Design note. Messages, copies and dead letters are each a zhashx keyed
    by their uint64 id (the key is a pointer to the id inside the record,
    so nothing is duplicated). A message counts its references (live
    copies + dead letters) and is freed with its frames when the count
    drops to zero, so the broker never has to ask "is anyone still using
    this message". Frames are held as zmq_msg_t copies: the bytes of a
    large frame are shared with libzmq's refcounted buffer, never copied.

    Dead letters must be listed oldest first with a cursor that survives
    removals in between. Each gets a sequence number when it dies; `order`
    is an array of (seq, record) appended in seq order, hence sorted, so
    a cursor is found by binary search. Removal leaves a tombstone
    (record NULL) and the array is compacted when tombstones are the
    majority, which keeps removal amortised O(1) without a linked list.
*/

#include <assert.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "store/ab_store.h"

typedef struct {
    ab_message_t *message; /* owned record (ab_message_dup) */
    uint64_t id;           /* key; equals message->id */
    size_t refs;           /* live copies + dead letters */
    size_t bytes;          /* frame bytes, counted against the limit */
} s_message_t;

typedef struct {
    ab_copy_t copy;       /* state; copy.edge_key points at edge_key */
    char *edge_key;       /* owned */
    s_message_t *message; /* the message it refers to */
} s_copy_t;

typedef struct {
    ab_dead_letter_t dead; /* state; dead.copy.edge_key → edge_key */
    char *edge_key;        /* owned */
    s_message_t *message;  /* the message it refers to */
    uint64_t seq;          /* position in dead-letter order */
} s_dead_t;

typedef struct {
    uint64_t seq;   /* sequence number of the dead letter */
    s_dead_t *dead; /* the record, or NULL once removed (tombstone) */
} s_order_t;

typedef struct {
    zhashx_t *messages; /* id → s_message_t */
    zhashx_t *copies;   /* copy id → s_copy_t */
    zhashx_t *dead;     /* copy id → s_dead_t */
    zhashx_t *seqs;     /* "LEN:producer" + edge key → int64_t * */
    s_order_t *order;   /* dead letters by seq, with tombstones */
    size_t order_count; /* entries in order, tombstones included */
    size_t order_size;  /* allocated entries */
    size_t tombstones;  /* NULL entries in order */
    uint64_t next_dead; /* next dead-letter sequence number */
    uint64_t next_id;   /* next id handed out */
    size_t bytes;       /* frame bytes held */
    size_t bytes_limit; /* 0 = none */
} s_memory_t;

static void
s_message_free (void **item_p)
{
    s_message_t *record = *item_p;
    if (record) {
        ab_message_destroy (&record->message);
        free (record);
        *item_p = NULL;
    }
}

static void
s_copy_free (void **item_p)
{
    s_copy_t *record = *item_p;
    if (record) {
        free (record->edge_key);
        free (record);
        *item_p = NULL;
    }
}

static void
s_dead_free (void **item_p)
{
    s_dead_t *record = *item_p;
    if (record) {
        free (record->edge_key);
        free (record);
        *item_p = NULL;
    }
}

static void
s_memory_destroy (void *impl)
{
    s_memory_t *self = impl;
    if (!self)
        return;
    /* Copies and dead letters first: they point at messages. */
    zhashx_destroy (&self->copies);
    zhashx_destroy (&self->dead);
    zhashx_destroy (&self->messages);
    zhashx_destroy (&self->seqs);
    free (self->order);
    free (self);
}

static int
s_memory_noop (void *impl)
{
    return 0;
}

static int
s_memory_next_id (void *impl, uint64_t *id_p)
{
    s_memory_t *self = impl;
    *id_p = self->next_id++;
    return 0;
}

static int
s_memory_put_message (void *impl, const ab_message_t *message)
{
    s_memory_t *self = impl;
    if (zhashx_lookup (self->messages, &message->id))
        return AB_EEXIST;
    size_t bytes = ab_message_bytes (message);
    if (self->bytes_limit &&
        (bytes > self->bytes_limit || self->bytes > self->bytes_limit - bytes))
        return AB_EFULL;
    s_message_t *record = calloc (1, sizeof *record);
    if (!record)
        return AB_ENOMEM;
    record->message = ab_message_dup (message);
    if (!record->message) {
        free (record);
        return AB_ENOMEM;
    }
    record->id = message->id;
    record->bytes = bytes;
    if (zhashx_insert (self->messages, &record->id, record) != 0) {
        s_message_free ((void **)&record);
        return AB_ENOMEM;
    }
    self->bytes += bytes;
    return 0;
}

static int
s_memory_get_message (void *impl, uint64_t id, ab_message_t **message_p)
{
    s_memory_t *self = impl;
    s_message_t *record = zhashx_lookup (self->messages, &id);
    if (!record)
        return AB_ENOENT;
    *message_p = ab_message_dup (record->message);
    return *message_p ? 0 : AB_ENOMEM;
}

static void
s_message_remove (s_memory_t *self, s_message_t *record)
{
    self->bytes -= record->bytes;
    zhashx_delete (self->messages, &record->id);
}

static void
s_message_unref (s_memory_t *self, s_message_t *record)
{
    assert (record->refs > 0);
    if (--record->refs == 0)
        s_message_remove (self, record);
}

static int
s_memory_del_message (void *impl, uint64_t id)
{
    s_memory_t *self = impl;
    s_message_t *record = zhashx_lookup (self->messages, &id);
    if (!record)
        return AB_ENOENT;
    if (record->refs)
        return AB_ESTATE;
    s_message_remove (self, record);
    return 0;
}

static int
s_memory_del_copy (void *impl, uint64_t id)
{
    s_memory_t *self = impl;
    s_copy_t *record = zhashx_lookup (self->copies, &id);
    if (!record)
        return AB_ENOENT;
    s_message_t *message = record->message;
    zhashx_delete (self->copies, &id);
    s_message_unref (self, message);
    return 0;
}

/* Updates a known copy; its identity (message, edge key) is fixed. */
static int
s_copy_update (s_memory_t *self, s_copy_t *record, const ab_copy_t *copy)
{
    if (copy->message_id != record->copy.message_id ||
        strcmp (copy->edge_key, record->edge_key) != 0)
        return AB_EINVAL;
    if (copy->state == AB_COPY_DONE)
        return s_memory_del_copy (self, copy->id);
    record->copy = *copy;
    record->copy.edge_key = record->edge_key;
    return 0;
}

static int
s_memory_put_copy (void *impl, const ab_copy_t *copy)
{
    s_memory_t *self = impl;
    s_copy_t *known = zhashx_lookup (self->copies, &copy->id);
    if (known)
        return s_copy_update (self, known, copy);
    if (zhashx_lookup (self->dead, &copy->id))
        return AB_EEXIST;
    s_message_t *message = zhashx_lookup (self->messages, &copy->message_id);
    if (!message || copy->state == AB_COPY_DONE)
        return AB_ENOENT;
    s_copy_t *record = calloc (1, sizeof *record);
    if (!record)
        return AB_ENOMEM;
    record->copy = *copy;
    record->edge_key = strdup (copy->edge_key);
    record->copy.edge_key = record->edge_key;
    record->message = message;
    if (!record->edge_key ||
        zhashx_insert (self->copies, &record->copy.id, record) != 0) {
        s_copy_free ((void **)&record);
        return AB_ENOMEM;
    }
    message->refs++;
    return 0;
}

static int
s_memory_get_copy (void *impl, uint64_t id, ab_copy_t *copy)
{
    s_memory_t *self = impl;
    s_copy_t *record = zhashx_lookup (self->copies, &id);
    if (!record)
        return AB_ENOENT;
    *copy = record->copy;
    return 0;
}

static int
s_order_append (s_memory_t *self, s_dead_t *dead)
{
    if (self->order_count == self->order_size) {
        size_t size = self->order_size ? self->order_size * 2 : 64;
        s_order_t *order = realloc (self->order, size * sizeof *order);
        if (!order)
            return AB_ENOMEM;
        self->order = order;
        self->order_size = size;
    }
    self->order[self->order_count++] = (s_order_t){dead->seq, dead};
    return 0;
}

static int
s_memory_dead_letter (void *impl, uint64_t copy_id, ab_dead_reason_t reason,
                      int64_t at_ms)
{
    s_memory_t *self = impl;
    s_copy_t *copy = zhashx_lookup (self->copies, &copy_id);
    if (!copy)
        return AB_ENOENT;
    s_dead_t *record = calloc (1, sizeof *record);
    if (!record)
        return AB_ENOMEM;
    record->dead.copy = copy->copy;
    record->dead.copy.state = AB_COPY_DEAD;
    record->dead.reason = reason;
    record->dead.at_ms = at_ms;
    record->seq = self->next_dead++;
    /* The message reference moves from the copy to the dead letter. */
    record->message = copy->message;
    record->edge_key = copy->edge_key;
    record->dead.copy.edge_key = record->edge_key;
    if (s_order_append (self, record) != 0 ||
        zhashx_insert (self->dead, &record->dead.copy.id, record) != 0) {
        if (self->order_count &&
            self->order[self->order_count - 1].dead == record)
            self->order_count--;
        free (record);
        return AB_ENOMEM;
    }
    copy->edge_key = NULL;
    zhashx_delete (self->copies, &copy_id);
    return 0;
}

static int
s_memory_get_dead (void *impl, uint64_t copy_id, ab_dead_letter_t *dead)
{
    s_memory_t *self = impl;
    s_dead_t *record = zhashx_lookup (self->dead, &copy_id);
    if (!record)
        return AB_ENOENT;
    *dead = record->dead;
    return 0;
}

/* Index of the first order entry with seq > cursor. */
static size_t
s_order_find (const s_memory_t *self, uint64_t cursor)
{
    size_t low = 0, high = self->order_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (self->order[middle].seq <= cursor)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

static int
s_memory_list_dead (void *impl, uint64_t *cursor_p, size_t limit,
                    ab_dead_letter_t *dead, size_t *count_p)
{
    s_memory_t *self = impl;
    size_t count = 0;
    for (size_t i = s_order_find (self, *cursor_p);
         i < self->order_count && count < limit; i++) {
        if (!self->order[i].dead)
            continue;
        dead[count++] = self->order[i].dead->dead;
        *cursor_p = self->order[i].seq;
    }
    *count_p = count;
    return 0;
}

/* Drops the tombstones once they are the majority (amortised O(1)). */
static void
s_order_compact (s_memory_t *self)
{
    if (self->tombstones < 32 || self->tombstones * 2 < self->order_count)
        return;
    size_t kept = 0;
    for (size_t i = 0; i < self->order_count; i++)
        if (self->order[i].dead)
            self->order[kept++] = self->order[i];
    self->order_count = kept;
    self->tombstones = 0;
}

static int
s_memory_del_dead (void *impl, uint64_t copy_id)
{
    s_memory_t *self = impl;
    s_dead_t *record = zhashx_lookup (self->dead, &copy_id);
    if (!record)
        return AB_ENOENT;
    size_t i = s_order_find (self, record->seq - 1);
    assert (i < self->order_count && self->order[i].dead == record);
    self->order[i].dead = NULL;
    self->tombstones++;
    s_message_t *message = record->message;
    zhashx_delete (self->dead, &copy_id);
    s_message_unref (self, message);
    s_order_compact (self);
    return 0;
}

static void
s_seq_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

/* The seq table's key: the producer's length first, so no separator
   character has to be forbidden in names. */
static char *
s_seq_key (const char *producer, const char *edge_key)
{
    char *key = NULL;
    if (asprintf (&key, "%zu:%s%s", strlen (producer), producer, edge_key) < 0)
        return NULL;
    return key;
}

static int
s_memory_get_seq (void *impl, const char *producer, const char *edge_key,
                  int64_t *seq_p)
{
    s_memory_t *self = impl;
    char *key = s_seq_key (producer, edge_key);
    if (!key)
        return AB_ENOMEM;
    const int64_t *seq = zhashx_lookup (self->seqs, key);
    free (key);
    if (!seq)
        return AB_ENOENT;
    *seq_p = *seq;
    return 0;
}

static int
s_memory_set_seq (void *impl, const char *producer, const char *edge_key,
                  int64_t seq)
{
    s_memory_t *self = impl;
    char *key = s_seq_key (producer, edge_key);
    if (!key)
        return AB_ENOMEM;
    int64_t *value = zhashx_lookup (self->seqs, key);
    int rc = 0;
    if (value)
        *value = seq;
    else if (!(value = malloc (sizeof *value)))
        rc = AB_ENOMEM;
    else {
        *value = seq;
        if (zhashx_insert (self->seqs, key, value) != 0) {
            free (value);
            rc = AB_ENOMEM;
        }
    }
    free (key);
    return rc;
}

static int
s_id_sort (const void *a, const void *b)
{
    return ab_id_compare (*(const uint64_t *const *)a,
                          *(const uint64_t *const *)b);
}

/* Live copies in id order: recovery only, so a sort here is fine. */
static int
s_recover_copies (s_memory_t *self, ab_store_copy_fn *on_copy, void *arg)
{
    size_t count = zhashx_size (self->copies);
    if (count == 0)
        return 0;
    const uint64_t **ids = malloc (count * sizeof *ids);
    if (!ids)
        return AB_ENOMEM;
    size_t i = 0;
    for (s_copy_t *copy = zhashx_first (self->copies); copy;
         copy = zhashx_next (self->copies))
        ids[i++] = &copy->copy.id;
    qsort (ids, count, sizeof *ids, s_id_sort);
    int rc = 0;
    for (i = 0; i < count && rc == 0; i++) {
        const s_copy_t *copy = zhashx_lookup (self->copies, ids[i]);
        rc = on_copy (arg, &copy->copy);
    }
    free (ids);
    return rc;
}

static int
s_memory_recover (void *impl, ab_store_message_fn *on_message,
                  ab_store_copy_fn *on_copy, void *arg)
{
    s_memory_t *self = impl;
    int rc = 0;
    if (on_message)
        for (s_message_t *record = zhashx_first (self->messages);
             record && rc == 0; record = zhashx_next (self->messages))
            rc = on_message (arg, record->message);
    if (rc == 0 && on_copy)
        rc = s_recover_copies (self, on_copy, arg);
    return rc;
}

static void
s_memory_stats (void *impl, ab_store_stats_t *stats)
{
    s_memory_t *self = impl;
    stats->messages = zhashx_size (self->messages);
    stats->copies = zhashx_size (self->copies);
    stats->dead = zhashx_size (self->dead);
    stats->bytes = self->bytes;
    stats->bytes_limit = self->bytes_limit;
}

static const ab_store_ops_t s_memory_ops = {
    .name = "memory",
    .durable = false,
    .destroy = s_memory_destroy,
    .begin = s_memory_noop,
    .commit = s_memory_noop,
    .next_id = s_memory_next_id,
    .put_message = s_memory_put_message,
    .get_message = s_memory_get_message,
    .del_message = s_memory_del_message,
    .put_copy = s_memory_put_copy,
    .get_copy = s_memory_get_copy,
    .del_copy = s_memory_del_copy,
    .dead_letter = s_memory_dead_letter,
    .get_dead = s_memory_get_dead,
    .list_dead = s_memory_list_dead,
    .del_dead = s_memory_del_dead,
    .get_seq = s_memory_get_seq,
    .set_seq = s_memory_set_seq,
    .recover = s_memory_recover,
    .stats = s_memory_stats,
};

ab_store_t *
ab_store_new_memory (const ab_store_memory_options_t *options)
{
    s_memory_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->messages = ab_id_hash_new (s_message_free);
    self->copies = ab_id_hash_new (s_copy_free);
    self->dead = ab_id_hash_new (s_dead_free);
    self->seqs = zhashx_new ();
    if (!self->messages || !self->copies || !self->dead || !self->seqs) {
        s_memory_destroy (self);
        return NULL;
    }
    zhashx_set_destructor (self->seqs, s_seq_free);
    self->next_id = 1;
    self->next_dead = 1;
    self->bytes_limit = options ? options->bytes_limit : 0;
    return ab_store_new (&s_memory_ops, self);
}
