/*  =========================================================================
    ab_store_lmdb - the durable implementation of ab_store, on LMDB

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Design note. One LMDB environment, one named sub-database per record
    kind, every id key a big-endian uint64 so cursors walk in id order:

      meta     "format" (magic, version, store id), "next_id", "next_dead",
               "bytes"
      messages message id → fixed header, 5 strings, frame sizes, frames
      refs     message id → live copies + dead letters referring to it
      copies   copy id → message id, edge, attempts, state, next_ms, key
      dead     copy id → dead seq, reason, at_ms, then the copy as above
      order    dead seq → copy id (dead letters oldest first, for paging)
      seqs     "LEN:producer" edge key → last accepted seq

    How each record is laid out in bytes is ab_lmdb_record.c's; this
    file decides what is stored where and when.

    Reference counts live apart from messages because LMDB rewrites a
    whole value on update: counting in the message record would copy the
    payload on every ack. A write transaction is either the open batch
    (begin ... commit) or one operation's own. Every operation checks
    first and writes last, so a refused operation (AB_EEXIST, AB_EFULL by
    the limits...) has written nothing and the batch goes on; an LMDB
    failure while writing poisons the batch (see the header).

    Ids are reserved in blocks: "next_id" in meta is a high-water mark
    written once per S_ID_BLOCK ids, in the current transaction, so ids
    stay monotonic across restarts without a write per id.

    LMDB cannot delete when its map is completely full (the freelist and
    the copied tree pages need new pages), so puts are refused before the
    map is full: `usable` leaves a slice of it for deletes.
*/

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentbus.h"
#include "store/ab_lmdb_record.h"
#include "store/ab_store_lmdb.h"

#define S_MAGIC "agentbus-store"
#define S_MAGIC_SIZE 16
#define S_FORMAT 1
#define S_FORMAT_SIZE (S_MAGIC_SIZE + 4 + 16)
#define S_ID_BLOCK 4096

enum {
    S_META = 0,
    S_MESSAGES,
    S_REFS,
    S_COPIES,
    S_DEAD,
    S_ORDER,
    S_SEQS,
    S_DBI_COUNT
};

static const char *s_dbi_names[S_DBI_COUNT] = {
    "meta", "messages", "refs", "copies", "dead", "order", "seqs"};

typedef struct {
    MDB_env *env;               /* the environment */
    MDB_dbi dbi[S_DBI_COUNT];   /* sub-databases, by S_* */
    MDB_txn *txn;               /* open write txn (batch or one op) */
    MDB_txn *rtxn;              /* reset read txn, renewed for reads */
    bool in_batch;              /* between begin and commit */
    int txn_error;              /* LMDB failed in txn: it must abort */
    int batch_error;            /* why the open batch was aborted; 0 */
    size_t txn_bytes;           /* estimated bytes written by txn */
    uint64_t next_id;           /* next id handed out */
    uint64_t id_mark;           /* ids below it are reserved (in txn) */
    uint64_t id_mark_committed; /* the committed reservation */
    uint64_t bytes;             /* frame bytes stored (in txn) */
    uint64_t bytes_committed;   /* frame bytes, committed */
    size_t bytes_limit;         /* 0 = none */
    size_t page_size;           /* LMDB page size */
    size_t usable;              /* bytes of the map puts may fill */
    size_t free_pages;          /* free pages at free_txnid */
    size_t free_txnid;          /* commit free_pages was counted at */
    ab_store_sync_t sync;       /* sync mode */
    int sync_ms;                /* AB_STORE_SYNC_BATCH period */
    bool unsynced;              /* commits not yet synced */
    int64_t synced_ms;          /* when tick last synced */
    char store_id[33];          /* hex store id */
    int dir_fd;                 /* data_dir, flock'ed: one store per dir */
    char *scratch;              /* edge keys handed out; owned */
    size_t scratch_size;        /* allocated bytes of scratch */
} s_lmdb_t;

static int
s_error (int rc)
{
    switch (rc) {
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case ENOSPC:
    case EDQUOT:
        return AB_EFULL;
    case ENOMEM:
        return AB_ENOMEM;
    case MDB_NOTFOUND:
        return AB_ENOENT;
    default:
        return AB_EIO;
    }
}

/* Copies `key` to the scratch buffer at `offset`: strings handed out
   stay valid until the next call, as the interface promises. */
static int
s_scratch_put (s_lmdb_t *self, size_t offset, const char *key)
{
    size_t length = strlen (key) + 1;
    if (offset + length > self->scratch_size) {
        size_t size = (offset + length) * 2;
        char *scratch = realloc (self->scratch, size);
        if (!scratch)
            return AB_ENOMEM;
        self->scratch = scratch;
        self->scratch_size = size;
    }
    memcpy (self->scratch + offset, key, length);
    return 0;
}

/* ---- transactions ---------------------------------------------------- */

static int
s_read_begin (s_lmdb_t *self, MDB_txn **txn_p)
{
    if (self->txn) {
        *txn_p = self->txn;
        return 0;
    }
    int rc = self->rtxn
                 ? mdb_txn_renew (self->rtxn)
                 : mdb_txn_begin (self->env, NULL, MDB_RDONLY, &self->rtxn);
    *txn_p = self->rtxn;
    return rc ? s_error (rc) : 0;
}

static void
s_read_end (s_lmdb_t *self, MDB_txn *txn)
{
    if (txn == self->rtxn)
        mdb_txn_reset (txn);
}

/* The write txn of one operation: the batch's, or a new one. */
static int
s_write_begin (s_lmdb_t *self, MDB_txn **txn_p)
{
    if (self->in_batch && self->batch_error)
        return self->batch_error;
    if (!self->txn) {
        int rc = mdb_txn_begin (self->env, NULL, 0, &self->txn);
        if (rc)
            return s_error (rc);
        self->txn_bytes = 0;
    }
    *txn_p = self->txn;
    return 0;
}

/* Records an LMDB failure while writing: the txn can only be aborted. */
static int
s_fail (s_lmdb_t *self, int rc)
{
    assert (rc != 0);
    if (!self->txn_error)
        self->txn_error = s_error (rc);
    return self->txn_error;
}

static void
s_abort (s_lmdb_t *self)
{
    mdb_txn_abort (self->txn);
    self->txn = NULL;
    self->id_mark = self->id_mark_committed;
    self->bytes = self->bytes_committed;
}

static int
s_meta_put (s_lmdb_t *self, const char *name, uint64_t value)
{
    uint8_t buffer[8];
    MDB_val key = {strlen (name), (void *)name};
    MDB_val data = ab_lmdb_key (buffer, value);
    int rc = mdb_put (self->txn, self->dbi[S_META], &key, &data, 0);
    return rc ? s_fail (self, rc) : 0;
}

static int
s_meta_get (MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *value_p)
{
    MDB_val key = {strlen (name), (void *)name}, data;
    int rc = mdb_get (txn, dbi, &key, &data);
    if (rc)
        return s_error (rc);
    ab_lmdb_reader_t reader = {data.mv_data, data.mv_size, false};
    *value_p = ab_lmdb_get (&reader, 8);
    return reader.bad || reader.left ? AB_EIO : 0;
}

static int
s_commit_txn (s_lmdb_t *self)
{
    int rc = 0;
    if (self->bytes != self->bytes_committed)
        rc = s_meta_put (self, "bytes", self->bytes);
    if (rc == 0 && (rc = mdb_txn_commit (self->txn)) != 0)
        rc = s_error (rc);
    self->txn = NULL;
    if (rc) {
        self->id_mark = self->id_mark_committed;
        self->bytes = self->bytes_committed;
        return rc;
    }
    self->id_mark_committed = self->id_mark;
    self->bytes_committed = self->bytes;
    self->unsynced = self->sync != AB_STORE_SYNC_ALWAYS;
    return 0;
}

/* Ends one operation that returned `rc`: commits or aborts its own txn;
   in a batch, an LMDB failure aborts the batch. */
static int
s_write_end (s_lmdb_t *self, int rc)
{
    if (self->txn_error) {
        rc = self->txn_error;
        self->txn_error = 0;
        s_abort (self);
        if (self->in_batch)
            self->batch_error = rc;
        return rc;
    }
    if (self->in_batch)
        return rc;
    if (rc == 0)
        return s_commit_txn (self);
    s_abort (self);
    return rc;
}

static int
s_lmdb_begin (void *impl)
{
    s_lmdb_t *self = impl;
    assert (!self->in_batch && !self->txn);
    self->in_batch = true;
    self->batch_error = 0;
    MDB_txn *txn;
    int rc = s_write_begin (self, &txn);
    if (rc)
        self->in_batch = false;
    return rc;
}

static int
s_lmdb_commit (void *impl)
{
    s_lmdb_t *self = impl;
    self->in_batch = false;
    if (self->batch_error) {
        int rc = self->batch_error;
        self->batch_error = 0;
        return rc;
    }
    return s_commit_txn (self);
}

/* ---- room ------------------------------------------------------------ */

/* Free pages in the last committed state (the freelist's page lists). */
static int
s_count_free (s_lmdb_t *self, size_t *pages_p)
{
    MDB_txn *txn;
    MDB_cursor *cursor;
    int rc = self->rtxn
                 ? mdb_txn_renew (self->rtxn)
                 : mdb_txn_begin (self->env, NULL, MDB_RDONLY, &self->rtxn);
    if (rc)
        return s_error (rc);
    txn = self->rtxn;
    if ((rc = mdb_cursor_open (txn, 0, &cursor)) != 0) {
        mdb_txn_reset (txn);
        return s_error (rc);
    }
    MDB_val key, data;
    size_t pages = 0;
    while ((rc = mdb_cursor_get (cursor, &key, &data, MDB_NEXT)) == 0)
        if (data.mv_size >= sizeof (size_t))
            pages += *(const size_t *)data.mv_data;
    mdb_cursor_close (cursor);
    mdb_txn_reset (txn);
    *pages_p = pages;
    return rc == MDB_NOTFOUND ? 0 : s_error (rc);
}

/* AB_EFULL unless `size` more bytes fit in the usable part of the map.
   Cheap while the file is far from the limit; near it, counts the free
   pages once per commit. */
static int
s_room (s_lmdb_t *self, size_t size)
{
    MDB_envinfo info;
    mdb_env_info (self->env, &info);
    size_t need = self->txn_bytes + size + 4 * self->page_size;
    size_t used = (info.me_last_pgno + 1) * self->page_size;
    if (used + need <= self->usable)
        return 0;
    if (self->free_txnid != info.me_last_txnid) {
        int rc = s_count_free (self, &self->free_pages);
        if (rc)
            return rc;
        self->free_txnid = info.me_last_txnid;
    }
    used -= self->free_pages * self->page_size;
    return used + need <= self->usable ? 0 : AB_EFULL;
}

/* ---- operations ------------------------------------------------------ */

static int
s_lmdb_next_id (void *impl, uint64_t *id_p)
{
    s_lmdb_t *self = impl;
    if (self->next_id >= self->id_mark) {
        MDB_txn *txn;
        int rc = s_write_begin (self, &txn);
        if (rc)
            return rc;
        rc = s_meta_put (self, "next_id", self->next_id + S_ID_BLOCK);
        if (rc == 0)
            self->id_mark = self->next_id + S_ID_BLOCK;
        if ((rc = s_write_end (self, rc)) != 0)
            return rc;
    }
    *id_p = self->next_id++;
    return 0;
}

static int
s_message_put (s_lmdb_t *self, MDB_txn *txn, const ab_message_t *message)
{
    uint8_t buffer[8];
    MDB_val key = ab_lmdb_key (buffer, message->id), data;
    int rc = mdb_get (txn, self->dbi[S_MESSAGES], &key, &data);
    if (rc != MDB_NOTFOUND)
        return rc ? s_error (rc) : AB_EEXIST;
    size_t bytes = ab_message_bytes (message);
    if (self->bytes_limit &&
        (bytes > self->bytes_limit || self->bytes > self->bytes_limit - bytes))
        return AB_EFULL;
    size_t size = ab_lmdb_message_size (message);
    if ((rc = s_room (self, size)) != 0)
        return rc;
    data = (MDB_val){size, NULL};
    rc = mdb_put (txn, self->dbi[S_MESSAGES], &key, &data,
                  MDB_RESERVE | MDB_NOOVERWRITE);
    if (rc)
        return s_fail (self, rc);
    ab_lmdb_message_encode (message, data.mv_data, size);
    self->bytes += bytes;
    self->txn_bytes += size;
    return 0;
}

static int
s_lmdb_put_message (void *impl, const ab_message_t *message)
{
    s_lmdb_t *self = impl;
    MDB_txn *txn;
    int rc = s_write_begin (self, &txn);
    if (rc)
        return rc;
    return s_write_end (self, s_message_put (self, txn, message));
}

static int
s_lmdb_get_message (void *impl, uint64_t id, ab_message_t **message_p)
{
    s_lmdb_t *self = impl;
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn);
    if (rc)
        return rc;
    uint8_t buffer[8];
    MDB_val key = ab_lmdb_key (buffer, id), data;
    ab_lmdb_parsed_t parsed;
    if ((rc = mdb_get (txn, self->dbi[S_MESSAGES], &key, &data)) != 0)
        rc = s_error (rc);
    else if ((rc = ab_lmdb_message_parse (&data, &parsed)) == 0) {
        parsed.message.id = id;
        rc = ab_lmdb_message_decode (&parsed, message_p);
    }
    s_read_end (self, txn);
    return rc;
}

/* The references to message `id` (0 when none). */
static int
s_refs_get (s_lmdb_t *self, MDB_txn *txn, uint64_t id, uint64_t *refs_p)
{
    uint8_t buffer[8];
    MDB_val key = ab_lmdb_key (buffer, id), data;
    int rc = mdb_get (txn, self->dbi[S_REFS], &key, &data);
    *refs_p = 0;
    if (rc)
        return rc == MDB_NOTFOUND ? 0 : s_error (rc);
    ab_lmdb_reader_t reader = {data.mv_data, data.mv_size, false};
    *refs_p = ab_lmdb_get (&reader, 8);
    return reader.bad ? AB_EIO : 0;
}

/* Deletes message `id` and its bytes. */
static int
s_message_drop (s_lmdb_t *self, MDB_txn *txn, uint64_t id)
{
    uint8_t buffer[8];
    MDB_val key = ab_lmdb_key (buffer, id), data;
    int rc = mdb_get (txn, self->dbi[S_MESSAGES], &key, &data);
    if (rc)
        return s_error (rc);
    ab_lmdb_reader_t reader = {data.mv_data, data.mv_size, false};
    uint64_t bytes = ab_lmdb_get (&reader, 8);
    if ((rc = mdb_del (txn, self->dbi[S_MESSAGES], &key, NULL)) != 0)
        return s_fail (self, rc);
    self->bytes -= bytes <= self->bytes ? bytes : self->bytes;
    return 0;
}

/* Adds `delta` (+1 or -1) to the references of message `id`, dropping
   the message when none are left. */
static int
s_refs_add (s_lmdb_t *self, MDB_txn *txn, uint64_t id, int delta)
{
    uint64_t refs;
    int rc = s_refs_get (self, txn, id, &refs);
    if (rc)
        return rc;
    refs = delta > 0 ? refs + 1 : refs - (refs > 0);
    uint8_t buffer[8], value[8];
    MDB_val key = ab_lmdb_key (buffer, id), data = ab_lmdb_key (value, refs);
    if (refs == 0) {
        rc = mdb_del (txn, self->dbi[S_REFS], &key, NULL);
        if (rc && rc != MDB_NOTFOUND)
            return s_fail (self, rc);
        return s_message_drop (self, txn, id);
    }
    rc = mdb_put (txn, self->dbi[S_REFS], &key, &data, 0);
    return rc ? s_fail (self, rc) : 0;
}

static int
s_message_del (s_lmdb_t *self, MDB_txn *txn, uint64_t id)
{
    uint8_t buffer[8];
    MDB_val key = ab_lmdb_key (buffer, id), data;
    int rc = mdb_get (txn, self->dbi[S_MESSAGES], &key, &data);
    if (rc)
        return s_error (rc);
    uint64_t refs;
    if ((rc = s_refs_get (self, txn, id, &refs)) != 0)
        return rc;
    return refs ? AB_ESTATE : s_message_drop (self, txn, id);
}

static int
s_lmdb_del_message (void *impl, uint64_t id)
{
    s_lmdb_t *self = impl;
    MDB_txn *txn;
    int rc = s_write_begin (self, &txn);
    if (rc)
        return rc;
    return s_write_end (self, s_message_del (self, txn, id));
}

/* Reads live copy `id` (edge_key in the page). */
static int
s_copy_read (s_lmdb_t *self, MDB_txn *txn, uint64_t id, ab_copy_t *copy)
{
    uint8_t buffer[8];
    MDB_val key = ab_lmdb_key (buffer, id), data;
    int rc = mdb_get (txn, self->dbi[S_COPIES], &key, &data);
    if (rc)
        return s_error (rc);
    ab_lmdb_reader_t reader = {data.mv_data, data.mv_size, false};
    return ab_lmdb_copy_decode (&reader, id, copy);
}

static int
s_copy_write (s_lmdb_t *self, MDB_txn *txn, const ab_copy_t *copy)
{
    uint8_t buffer[8];
    size_t size = AB_LMDB_COPY_FIXED + ab_lmdb_string_size (copy->edge_key);
    MDB_val key = ab_lmdb_key (buffer, copy->id), data = {size, NULL};
    int rc = mdb_put (txn, self->dbi[S_COPIES], &key, &data, MDB_RESERVE);
    if (rc)
        return s_fail (self, rc);
    uint8_t *at = data.mv_data;
    ab_lmdb_copy_encode (&at, copy);
    self->txn_bytes += size;
    return 0;
}

static int
s_copy_remove (s_lmdb_t *self, MDB_txn *txn, uint64_t id, uint64_t message_id)
{
    uint8_t buffer[8];
    MDB_val key = ab_lmdb_key (buffer, id);
    int rc = mdb_del (txn, self->dbi[S_COPIES], &key, NULL);
    if (rc)
        return s_fail (self, rc);
    return s_refs_add (self, txn, message_id, -1);
}

static bool
s_exists (MDB_txn *txn, MDB_dbi dbi, uint64_t id)
{
    uint8_t buffer[8];
    MDB_val key = ab_lmdb_key (buffer, id), data;
    return mdb_get (txn, dbi, &key, &data) == 0;
}

static int
s_copy_put (s_lmdb_t *self, MDB_txn *txn, const ab_copy_t *copy)
{
    ab_copy_t known;
    int rc = s_copy_read (self, txn, copy->id, &known);
    if (rc == 0) {
        if (copy->message_id != known.message_id ||
            strcmp (copy->edge_key, known.edge_key) != 0)
            return AB_EINVAL;
        if (copy->state == AB_COPY_DONE)
            return s_copy_remove (self, txn, copy->id, copy->message_id);
        return s_copy_write (self, txn, copy);
    }
    if (rc != AB_ENOENT)
        return rc;
    if (s_exists (txn, self->dbi[S_DEAD], copy->id))
        return AB_EEXIST;
    if (!s_exists (txn, self->dbi[S_MESSAGES], copy->message_id) ||
        copy->state == AB_COPY_DONE)
        return AB_ENOENT;
    if ((rc = s_room (self, 256)) != 0)
        return rc;
    if ((rc = s_copy_write (self, txn, copy)) != 0)
        return rc;
    return s_refs_add (self, txn, copy->message_id, +1);
}

static int
s_lmdb_put_copy (void *impl, const ab_copy_t *copy)
{
    s_lmdb_t *self = impl;
    MDB_txn *txn;
    int rc = s_write_begin (self, &txn);
    if (rc)
        return rc;
    return s_write_end (self, s_copy_put (self, txn, copy));
}

static int
s_lmdb_get_copy (void *impl, uint64_t id, ab_copy_t *copy)
{
    s_lmdb_t *self = impl;
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn);
    if (rc)
        return rc;
    if ((rc = s_copy_read (self, txn, id, copy)) == 0 &&
        (rc = s_scratch_put (self, 0, copy->edge_key)) == 0)
        copy->edge_key = self->scratch;
    s_read_end (self, txn);
    return rc;
}

static int
s_copy_del (s_lmdb_t *self, MDB_txn *txn, uint64_t id)
{
    ab_copy_t copy;
    int rc = s_copy_read (self, txn, id, &copy);
    return rc ? rc : s_copy_remove (self, txn, id, copy.message_id);
}

static int
s_lmdb_del_copy (void *impl, uint64_t id)
{
    s_lmdb_t *self = impl;
    MDB_txn *txn;
    int rc = s_write_begin (self, &txn);
    if (rc)
        return rc;
    return s_write_end (self, s_copy_del (self, txn, id));
}

/* Writes the dead letter and its place in `order`. */
static int
s_dead_write (s_lmdb_t *self, MDB_txn *txn, const ab_lmdb_dead_t *dead)
{
    const ab_copy_t *copy = &dead->dead.copy;
    uint8_t buffer[8], seq[8], id[8];
    size_t size = AB_LMDB_DEAD_FIXED + AB_LMDB_COPY_FIXED +
                  ab_lmdb_string_size (copy->edge_key);
    MDB_val key = ab_lmdb_key (buffer, copy->id), data = {size, NULL};
    int rc = mdb_put (txn, self->dbi[S_DEAD], &key, &data, MDB_RESERVE);
    if (rc)
        return s_fail (self, rc);
    uint8_t *at = data.mv_data;
    ab_lmdb_put64 (&at, dead->seq);
    ab_lmdb_put32 (&at, (uint32_t)dead->dead.reason);
    ab_lmdb_put32 (&at, 0);
    ab_lmdb_put64 (&at, (uint64_t)dead->dead.at_ms);
    ab_lmdb_copy_encode (&at, copy);
    key = ab_lmdb_key (seq, dead->seq);
    data = ab_lmdb_key (id, copy->id);
    if ((rc = mdb_put (txn, self->dbi[S_ORDER], &key, &data, 0)) != 0)
        return s_fail (self, rc);
    self->txn_bytes += size + 16;
    return s_meta_put (self, "next_dead", dead->seq + 1);
}

static int
s_dead_letter (s_lmdb_t *self, MDB_txn *txn, uint64_t copy_id,
               ab_dead_reason_t reason, int64_t at_ms)
{
    ab_lmdb_dead_t dead = {.dead = {.reason = reason, .at_ms = at_ms}};
    int rc = s_copy_read (self, txn, copy_id, &dead.dead.copy);
    if (rc)
        return rc;
    if ((rc = s_meta_get (txn, self->dbi[S_META], "next_dead", &dead.seq)) ==
        AB_ENOENT)
        dead.seq = 1;
    else if (rc)
        return rc;
    /* The key points into the page, which the writes below may move. */
    if ((rc = s_scratch_put (self, 0, dead.dead.copy.edge_key)) != 0)
        return rc;
    dead.dead.copy.edge_key = self->scratch;
    dead.dead.copy.state = AB_COPY_DEAD;
    uint8_t buffer[8];
    MDB_val key = ab_lmdb_key (buffer, copy_id);
    if ((rc = mdb_del (txn, self->dbi[S_COPIES], &key, NULL)) != 0)
        return s_fail (self, rc);
    /* The message reference moves from the copy to the dead letter. */
    return s_dead_write (self, txn, &dead);
}

static int
s_lmdb_dead_letter (void *impl, uint64_t copy_id, ab_dead_reason_t reason,
                    int64_t at_ms)
{
    s_lmdb_t *self = impl;
    MDB_txn *txn;
    int rc = s_write_begin (self, &txn);
    if (rc)
        return rc;
    return s_write_end (self,
                        s_dead_letter (self, txn, copy_id, reason, at_ms));
}

static int
s_dead_read (s_lmdb_t *self, MDB_txn *txn, uint64_t id, ab_lmdb_dead_t *dead)
{
    uint8_t buffer[8];
    MDB_val key = ab_lmdb_key (buffer, id), data;
    int rc = mdb_get (txn, self->dbi[S_DEAD], &key, &data);
    return rc ? s_error (rc) : ab_lmdb_dead_decode (&data, id, dead);
}

static int
s_lmdb_get_dead (void *impl, uint64_t copy_id, ab_dead_letter_t *dead)
{
    s_lmdb_t *self = impl;
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn);
    if (rc)
        return rc;
    ab_lmdb_dead_t record;
    if ((rc = s_dead_read (self, txn, copy_id, &record)) == 0 &&
        (rc = s_scratch_put (self, 0, record.dead.copy.edge_key)) == 0) {
        *dead = record.dead;
        dead->copy.edge_key = self->scratch;
    }
    s_read_end (self, txn);
    return rc;
}

/* Fills one page of dead letters from `cursor` on, edge keys copied one
   after the other into the scratch buffer. */
static int
s_list_dead (s_lmdb_t *self, MDB_cursor *cursor, uint64_t *cursor_p,
             size_t limit, ab_dead_letter_t *dead, size_t *count_p)
{
    uint8_t buffer[8];
    MDB_val key = ab_lmdb_key (buffer, *cursor_p + 1), data;
    size_t count = 0, offset = 0;
    int rc = mdb_cursor_get (cursor, &key, &data, MDB_SET_RANGE);
    while (rc == 0 && count < limit) {
        ab_lmdb_reader_t reader = {data.mv_data, data.mv_size, false};
        uint64_t id = ab_lmdb_get (&reader, 8);
        ab_lmdb_dead_t record;
        if (reader.bad ||
            s_dead_read (self, mdb_cursor_txn (cursor), id, &record) != 0)
            return AB_EIO;
        if ((rc = s_scratch_put (self, offset, record.dead.copy.edge_key)))
            return rc;
        offset += strlen (record.dead.copy.edge_key) + 1;
        dead[count++] = record.dead;
        *cursor_p = record.seq;
        rc = mdb_cursor_get (cursor, &key, &data, MDB_NEXT);
    }
    const char *key_at = self->scratch;
    for (size_t i = 0; i < count; i++, key_at += strlen (key_at) + 1)
        dead[i].copy.edge_key = key_at;
    *count_p = count;
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : s_error (rc);
}

static int
s_lmdb_list_dead (void *impl, uint64_t *cursor_p, size_t limit,
                  ab_dead_letter_t *dead, size_t *count_p)
{
    s_lmdb_t *self = impl;
    if (limit == 0 || *cursor_p == UINT64_MAX)
        return 0;
    MDB_txn *txn;
    MDB_cursor *cursor;
    int rc = s_read_begin (self, &txn);
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open (txn, self->dbi[S_ORDER], &cursor)) != 0)
        rc = s_error (rc);
    else {
        rc = s_list_dead (self, cursor, cursor_p, limit, dead, count_p);
        mdb_cursor_close (cursor);
    }
    s_read_end (self, txn);
    return rc;
}

static int
s_dead_del (s_lmdb_t *self, MDB_txn *txn, uint64_t copy_id)
{
    ab_lmdb_dead_t record;
    int rc = s_dead_read (self, txn, copy_id, &record);
    if (rc)
        return rc;
    uint64_t message_id = record.dead.copy.message_id;
    uint8_t buffer[8], seq[8];
    MDB_val key = ab_lmdb_key (buffer, copy_id),
            order = ab_lmdb_key (seq, record.seq);
    if ((rc = mdb_del (txn, self->dbi[S_DEAD], &key, NULL)) != 0 ||
        (rc = mdb_del (txn, self->dbi[S_ORDER], &order, NULL)) != 0)
        return s_fail (self, rc);
    return s_refs_add (self, txn, message_id, -1);
}

static int
s_lmdb_del_dead (void *impl, uint64_t copy_id)
{
    s_lmdb_t *self = impl;
    MDB_txn *txn;
    int rc = s_write_begin (self, &txn);
    if (rc)
        return rc;
    return s_write_end (self, s_dead_del (self, txn, copy_id));
}

/* The seq key: the producer's length first, so no separator character
   has to be forbidden in names. NULL (AB_EINVAL) past LMDB's key size. */
static char *
s_seq_key (s_lmdb_t *self, const char *producer, const char *edge_key)
{
    char *key = NULL;
    if (asprintf (&key, "%zu:%s%s", strlen (producer), producer, edge_key) < 0)
        return NULL;
    if (strlen (key) > (size_t)mdb_env_get_maxkeysize (self->env)) {
        free (key);
        return NULL;
    }
    return key;
}

static int
s_lmdb_get_seq (void *impl, const char *producer, const char *edge_key,
                int64_t *seq_p)
{
    s_lmdb_t *self = impl;
    char *name = s_seq_key (self, producer, edge_key);
    if (!name)
        return AB_EINVAL;
    MDB_txn *txn;
    int rc = s_read_begin (self, &txn);
    if (rc == 0) {
        uint64_t seq;
        rc = s_meta_get (txn, self->dbi[S_SEQS], name, &seq);
        *seq_p = (int64_t)seq;
        s_read_end (self, txn);
    }
    free (name);
    return rc;
}

static int
s_lmdb_set_seq (void *impl, const char *producer, const char *edge_key,
                int64_t seq)
{
    s_lmdb_t *self = impl;
    char *name = s_seq_key (self, producer, edge_key);
    if (!name)
        return AB_EINVAL;
    MDB_txn *txn;
    int rc = s_write_begin (self, &txn);
    if (rc == 0) {
        uint8_t buffer[8];
        MDB_val key = {strlen (name), name},
                data = ab_lmdb_key (buffer, (uint64_t)seq);
        rc = mdb_put (txn, self->dbi[S_SEQS], &key, &data, 0);
        rc = s_write_end (self, rc ? s_fail (self, rc) : 0);
    }
    free (name);
    return rc;
}

/* ---- recovery and stats ---------------------------------------------- */

static int
s_recover_messages (s_lmdb_t *self, MDB_cursor *cursor,
                    ab_store_message_fn *on_message, void *arg)
{
    MDB_val key, data;
    int rc;
    while ((rc = mdb_cursor_get (cursor, &key, &data, MDB_NEXT)) == 0) {
        ab_lmdb_reader_t reader = {key.mv_data, key.mv_size, false};
        uint64_t id = ab_lmdb_get (&reader, 8);
        ab_lmdb_parsed_t parsed;
        ab_message_t *message = NULL;
        if (reader.bad || (rc = ab_lmdb_message_parse (&data, &parsed)) != 0)
            return AB_EIO;
        parsed.message.id = id;
        if ((rc = ab_lmdb_message_decode (&parsed, &message)) != 0)
            return rc;
        rc = on_message (arg, message);
        ab_message_destroy (&message);
        if (rc)
            return rc;
    }
    return rc == MDB_NOTFOUND ? 0 : s_error (rc);
}

static int
s_recover_copies (s_lmdb_t *self, MDB_cursor *cursor, ab_store_copy_fn *on_copy,
                  void *arg)
{
    MDB_val key, data;
    int rc;
    while ((rc = mdb_cursor_get (cursor, &key, &data, MDB_NEXT)) == 0) {
        ab_lmdb_reader_t reader = {key.mv_data, key.mv_size, false};
        uint64_t id = ab_lmdb_get (&reader, 8);
        reader = (ab_lmdb_reader_t){data.mv_data, data.mv_size, false};
        ab_copy_t copy;
        if (ab_lmdb_copy_decode (&reader, id, &copy) != 0)
            return AB_EIO;
        if ((rc = on_copy (arg, &copy)) != 0)
            return rc;
    }
    return rc == MDB_NOTFOUND ? 0 : s_error (rc);
}

/* Walks in its own read txn, so the callbacks may call the store. */
static int
s_lmdb_recover (void *impl, ab_store_message_fn *on_message,
                ab_store_copy_fn *on_copy, void *arg)
{
    s_lmdb_t *self = impl;
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return s_error (rc);
    MDB_cursor *cursor;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        if (pass == 0 ? !on_message : !on_copy)
            continue;
        rc = mdb_cursor_open (txn, self->dbi[pass ? S_COPIES : S_MESSAGES],
                              &cursor);
        if (rc) {
            rc = s_error (rc);
            break;
        }
        rc = pass ? s_recover_copies (self, cursor, on_copy, arg)
                  : s_recover_messages (self, cursor, on_message, arg);
        mdb_cursor_close (cursor);
    }
    mdb_txn_abort (txn);
    return rc;
}

static void
s_lmdb_stats (void *impl, ab_store_stats_t *stats)
{
    s_lmdb_t *self = impl;
    MDB_txn *txn;
    stats->bytes = (size_t)self->bytes;
    stats->bytes_limit = self->bytes_limit;
    if (s_read_begin (self, &txn) != 0)
        return;
    MDB_stat stat;
    size_t *counts[] = {&stats->messages, &stats->copies, &stats->dead};
    int dbis[] = {S_MESSAGES, S_COPIES, S_DEAD};
    for (int i = 0; i < 3; i++)
        if (mdb_stat (txn, self->dbi[dbis[i]], &stat) == 0)
            *counts[i] = stat.ms_entries;
    s_read_end (self, txn);
}

/* ---- open and close -------------------------------------------------- */

static void
s_lmdb_destroy (void *impl)
{
    s_lmdb_t *self = impl;
    if (!self)
        return;
    if (self->txn)
        mdb_txn_abort (self->txn);
    if (self->rtxn)
        mdb_txn_abort (self->rtxn);
    if (self->env) {
        if (self->sync != AB_STORE_SYNC_ALWAYS)
            mdb_env_sync (self->env, 1);
        mdb_env_close (self->env);
    }
    if (self->dir_fd >= 0)
        close (self->dir_fd); /* releases the flock */
    free (self->scratch);
    free (self);
}

/* Creates data_dir if missing; refuses a non-empty directory that holds
   no data.mdb, so a wrong path never turns someone's files into a store. */
static int
s_dir_check (const char *path, ab_diag_t *diag)
{
    if (mkdir (path, 0700) != 0 && errno != EEXIST) {
        ab_diag_add (diag, path, 0, 0, "cannot create the data directory: %s",
                     strerror (errno));
        return AB_EIO;
    }
    DIR *dir = opendir (path);
    if (!dir) {
        ab_diag_add (diag, path, 0, 0, "cannot open the data directory: %s",
                     strerror (errno));
        return AB_EIO;
    }
    bool has_data = false;
    char foreign[NAME_MAX + 1] = "";
    struct dirent *entry;
    while ((entry = readdir (dir)) != NULL) {
        const char *name = entry->d_name;
        if (strcmp (name, "data.mdb") == 0)
            has_data = true;
        else if (strcmp (name, ".") != 0 && strcmp (name, "..") != 0 &&
                 strcmp (name, "lock.mdb") != 0 && !*foreign)
            snprintf (foreign, sizeof foreign, "%s", name);
    }
    closedir (dir);
    if (!has_data && *foreign) {
        ab_diag_add (diag, path, 0, 0,
                     "not an agentbus data directory: it holds '%s' but no "
                     "data.mdb; refusing to initialise it",
                     foreign);
        return AB_EINVAL;
    }
    return 0;
}

/* LMDB lets several processes share an environment; two brokers on one
   data_dir would hand out the same ids and deliver the same copies, so
   the directory is locked for as long as the store is open. */
static int
s_dir_lock (s_lmdb_t *self, const char *path, ab_diag_t *diag)
{
    self->dir_fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (self->dir_fd >= 0 && flock (self->dir_fd, LOCK_EX | LOCK_NB) == 0)
        return 0;
    if (errno == EWOULDBLOCK) {
        ab_diag_add (diag, path, 0, 0,
                     "in use: another agentbus store has it open");
        return AB_ESTATE;
    }
    ab_diag_add (diag, path, 0, 0, "cannot lock the data directory: %s",
                 strerror (errno));
    return AB_EIO;
}

/* Writes the meta records of a new store. */
static int
s_schema_create (s_lmdb_t *self, MDB_txn *txn, ab_diag_t *diag,
                 const char *path)
{
    uint8_t format[S_FORMAT_SIZE] = {0}, *at = format + S_MAGIC_SIZE;
    memcpy (format, S_MAGIC, strlen (S_MAGIC));
    ab_lmdb_put32 (&at, S_FORMAT);
    if (getrandom (at, 16, 0) != 16) {
        ab_diag_add (diag, path, 0, 0, "no random bytes for the store id: %s",
                     strerror (errno));
        return AB_EIO;
    }
    MDB_val key = {6, "format"}, data = {sizeof format, format};
    int rc = mdb_put (txn, self->dbi[S_META], &key, &data, 0);
    self->txn = txn;
    if (rc == 0)
        rc = s_meta_put (self, "next_id", 1);
    if (rc == 0)
        rc = s_meta_put (self, "next_dead", 1);
    if (rc == 0)
        rc = s_meta_put (self, "bytes", 0);
    self->txn = NULL;
    self->txn_error = 0;
    if (rc)
        ab_diag_add (diag, path, 0, 0, "cannot initialise the store: %s",
                     ab_strerror (rc));
    return rc;
}

/* Checks the format record: ours, a version we read, an id. */
static int
s_format_check (s_lmdb_t *self, MDB_txn *txn, ab_diag_t *diag, const char *path)
{
    MDB_val key = {6, "format"}, data;
    if (mdb_get (txn, self->dbi[S_META], &key, &data) != 0 ||
        data.mv_size != S_FORMAT_SIZE ||
        memcmp (data.mv_data, S_MAGIC, strlen (S_MAGIC)) != 0) {
        ab_diag_add (diag, path, 0, 0,
                     "not an agentbus store, or damaged: no valid format "
                     "record in its meta database");
        return AB_EINVAL;
    }
    ab_lmdb_reader_t reader = {(uint8_t *)data.mv_data + S_MAGIC_SIZE, 20,
                               false};
    uint32_t version = (uint32_t)ab_lmdb_get (&reader, 4);
    if (version != S_FORMAT) {
        ab_diag_add (diag, path, 0, 0,
                     "store format %u; this agentbus reads format %d%s",
                     version, S_FORMAT,
                     version > S_FORMAT ? " (written by a newer agentbus)"
                                        : "");
        return AB_EVERSION;
    }
    for (int i = 0; i < 16; i++)
        snprintf (self->store_id + 2 * i, 3, "%02x", reader.at[i]);
    return 0;
}

/* Opens every sub-database; creates them only in an empty environment. */
static int
s_schema_open (s_lmdb_t *self, MDB_txn *txn, ab_diag_t *diag, const char *path)
{
    int rc = mdb_dbi_open (txn, s_dbi_names[S_META], 0, &self->dbi[S_META]);
    bool fresh = false;
    if (rc == MDB_NOTFOUND) {
        MDB_dbi main;
        MDB_stat stat;
        if (mdb_dbi_open (txn, NULL, 0, &main) != 0 ||
            mdb_stat (txn, main, &stat) != 0 || stat.ms_entries != 0) {
            ab_diag_add (diag, path, 0, 0,
                         "holds an LMDB environment that is not an agentbus "
                         "store (no meta database); refusing to use it");
            return AB_EINVAL;
        }
        fresh = true;
    }
    for (int i = 0; i < S_DBI_COUNT; i++) {
        rc = mdb_dbi_open (txn, s_dbi_names[i], fresh ? MDB_CREATE : 0,
                           &self->dbi[i]);
        if (rc) {
            ab_diag_add (diag, path, 0, 0,
                         "damaged store: cannot open its '%s' database: %s",
                         s_dbi_names[i], mdb_strerror (rc));
            return AB_EIO;
        }
        if (i == S_META && !fresh &&
            (rc = s_format_check (self, txn, diag, path)) != 0)
            return rc;
    }
    if (fresh && ((rc = s_schema_create (self, txn, diag, path)) != 0 ||
                  (rc = s_format_check (self, txn, diag, path)) != 0))
        return rc;
    uint64_t next_id;
    if (s_meta_get (txn, self->dbi[S_META], "next_id", &next_id) != 0 ||
        s_meta_get (txn, self->dbi[S_META], "bytes", &self->bytes) != 0 ||
        next_id == 0) {
        ab_diag_add (diag, path, 0, 0, "damaged store: bad meta counters");
        return AB_EIO;
    }
    self->next_id = self->id_mark = self->id_mark_committed = next_id;
    self->bytes_committed = self->bytes;
    return 0;
}

static int
s_env_open (s_lmdb_t *self, const ab_store_lmdb_options_t *options,
            ab_diag_t *diag)
{
    const char *path = options->data_dir;
    size_t map_size =
        options->map_size ? options->map_size : AB_STORE_LMDB_MAP_SIZE_DEFAULT;
    map_size = (map_size + 65535) / 65536 * 65536;
    unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
    if (options->sync != AB_STORE_SYNC_ALWAYS)
        flags |= MDB_NOSYNC;
    int rc = mdb_env_create (&self->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs (self->env, S_DBI_COUNT);
    if (rc == 0)
        rc = mdb_env_set_mapsize (self->env, map_size);
    if (rc == 0)
        rc = mdb_env_open (self->env, path, flags, 0600);
    if (rc) {
        ab_diag_add (diag, path, 0, 0, "cannot open the store: %s",
                     mdb_strerror (rc));
        return rc == ENOMEM ? AB_ENOMEM : AB_EIO;
    }
    /* A killed process leaves its reader slot behind; a stale reader
       would keep freed pages from being reused. */
    int stale;
    mdb_reader_check (self->env, &stale);
    MDB_stat stat;
    MDB_envinfo info;
    mdb_env_stat (self->env, &stat);
    mdb_env_info (self->env, &info);
    self->page_size = stat.ms_psize;
    size_t reserve = info.me_mapsize / 8;
    if (reserve < 64 * self->page_size)
        reserve = 64 * self->page_size;
    self->usable = info.me_mapsize > reserve ? info.me_mapsize - reserve : 0;
    self->free_txnid = SIZE_MAX;
    return 0;
}

static int
s_open (s_lmdb_t *self, const ab_store_lmdb_options_t *options, ab_diag_t *diag)
{
    const char *path = options->data_dir;
    int rc = s_dir_check (path, diag);
    if (rc == 0)
        rc = s_dir_lock (self, path, diag);
    if (rc == 0)
        rc = s_env_open (self, options, diag);
    if (rc)
        return rc;
    MDB_txn *txn;
    if ((rc = mdb_txn_begin (self->env, NULL, 0, &txn)) != 0) {
        ab_diag_add (diag, path, 0, 0, "cannot read the store: %s",
                     mdb_strerror (rc));
        return AB_EIO;
    }
    if ((rc = s_schema_open (self, txn, diag, path)) != 0) {
        mdb_txn_abort (txn);
        return rc;
    }
    if ((rc = mdb_txn_commit (txn)) != 0) {
        ab_diag_add (diag, path, 0, 0, "cannot initialise the store: %s",
                     mdb_strerror (rc));
        return s_error (rc);
    }
    return 0;
}

static const ab_store_ops_t s_lmdb_ops = {
    .name = "lmdb",
    .durable = true,
    .destroy = s_lmdb_destroy,
    .begin = s_lmdb_begin,
    .commit = s_lmdb_commit,
    .next_id = s_lmdb_next_id,
    .put_message = s_lmdb_put_message,
    .get_message = s_lmdb_get_message,
    .del_message = s_lmdb_del_message,
    .put_copy = s_lmdb_put_copy,
    .get_copy = s_lmdb_get_copy,
    .del_copy = s_lmdb_del_copy,
    .dead_letter = s_lmdb_dead_letter,
    .get_dead = s_lmdb_get_dead,
    .list_dead = s_lmdb_list_dead,
    .del_dead = s_lmdb_del_dead,
    .get_seq = s_lmdb_get_seq,
    .set_seq = s_lmdb_set_seq,
    .recover = s_lmdb_recover,
    .stats = s_lmdb_stats,
};

ab_store_t *
ab_store_new_lmdb (const ab_store_lmdb_options_t *options, ab_diag_t *diag)
{
    assert (options);
    if (!options->data_dir || !*options->data_dir ||
        (options->sync == AB_STORE_SYNC_BATCH && options->sync_ms <= 0) ||
        (unsigned)options->sync > AB_STORE_SYNC_NEVER) {
        ab_diag_add (diag, options->data_dir, 0, 0,
                     "bad store options: a data_dir, a sync mode and, for "
                     "batch, sync_ms > 0 are required");
        return NULL;
    }
    s_lmdb_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->dir_fd = -1;
    self->sync = options->sync;
    self->sync_ms = options->sync_ms;
    self->synced_ms = INT64_MIN / 2;
    self->bytes_limit = options->bytes_limit;
    if (s_open (self, options, diag) != 0) {
        s_lmdb_destroy (self);
        return NULL;
    }
    return ab_store_new (&s_lmdb_ops, self);
}

int
ab_store_lmdb_tick (ab_store_t *store, int64_t now_ms)
{
    s_lmdb_t *self = store ? ab_store_impl (store, &s_lmdb_ops) : NULL;
    if (!self || self->sync != AB_STORE_SYNC_BATCH || !self->unsynced ||
        now_ms - self->synced_ms < self->sync_ms)
        return 0;
    if (mdb_env_sync (self->env, 1) != 0)
        return AB_EIO;
    self->unsynced = false;
    self->synced_ms = now_ms;
    return 0;
}

const char *
ab_store_lmdb_id (ab_store_t *store)
{
    s_lmdb_t *self = store ? ab_store_impl (store, &s_lmdb_ops) : NULL;
    return self ? self->store_id : NULL;
}
