/*  =========================================================================
    ab_ledger - the broker's stores, batch and sync tick (see ab_ledger.h)

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <assert.h>
#include <stdlib.h>

#include "common/ab_oom.h"
#include "agentbus.h"
#include "broker/ab_header.h"
#include "broker/ab_ledger.h"
#include "store/ab_store_lmdb.h"

struct _ab_ledger_t {
    ab_timer_t *timers;  /* borrowed: the sync tick */
    ab_log_t *log;       /* borrowed; may be NULL */
    ab_store_t *store;   /* memory store: non-durable edges */
    ab_store_t *disk;    /* LMDB store: durable edges, or NULL */
    ab_store_t *ids;     /* where ids come from (disk, else store) */
    size_t memory_limit; /* memory_limit: live_bytes + store's bytes */
    size_t live_bytes;   /* body bytes of live non-durable messages */
    int sync_ms;         /* sync: batch interval, else 0 */
    bool sync_due;       /* sync: batch: sync after this commit */
    uint64_t batch;      /* loop turns so far: the current batch */
    bool stored_durable; /* this turn stored a durable message */
};

/* Opens the LMDB store in data_dir; a directory that is not ours or is
   damaged is an error in diag, never reinitialised. */
static int
s_open_disk (ab_ledger_t *self, const ab_ledger_config_t *config,
             ab_diag_t *diag)
{
    ab_store_lmdb_options_t options = {.data_dir = config->data_dir,
                                       .map_size = config->map_size,
                                       .sync = (ab_store_sync_t)config->sync,
                                       .sync_ms = config->sync_ms,
                                       .bytes_limit = config->memory_limit};
    self->disk = ab_store_new_lmdb (&options, diag);
    if (!self->disk)
        return AB_EIO;
    self->ids = self->disk;
    if (config->sync == AB_STORE_SYNC_BATCH && config->sync_ms > 0) {
        self->sync_ms = config->sync_ms;
        ab_timer_add (self->timers, ab_now () + self->sync_ms, AB_TIMER_SYNC,
                      self);
    }
    ab_log_printf (self->log, AB_LOG_INFO, "durable store %s in %s",
                   ab_store_lmdb_id (self->disk), config->data_dir);
    return 0;
}

ab_ledger_t *
ab_ledger_new (const ab_ledger_config_t *config, ab_timer_t *timers,
               ab_log_t *log, ab_diag_t *diag)
{
    assert (config && timers);
    ab_ledger_t *self = ab_oom_check (calloc (1, sizeof *self));
    self->timers = timers;
    self->log = log;
    /* memory_limit is the ledger's to keep (ab_ledger_reserve): the
       memory store holds dead letters only, put when live bytes were
       counted */
    self->memory_limit = config->memory_limit;
    self->store = ab_oom_check (ab_store_new_memory (NULL));
    self->ids = self->store;
    if (config->data_dir && s_open_disk (self, config, diag))
        ab_ledger_destroy (&self);
    return self;
}

void
ab_ledger_destroy (ab_ledger_t **self_p)
{
    assert (self_p);
    ab_ledger_t *self = *self_p;
    if (!self)
        return;
    ab_store_destroy (&self->store);
    ab_store_destroy (&self->disk);
    free (self);
    *self_p = NULL;
}

ab_store_t *
ab_ledger_memory (const ab_ledger_t *self)
{
    return self->store;
}

ab_store_t *
ab_ledger_disk (const ab_ledger_t *self)
{
    return self->disk;
}

ab_store_t *
ab_ledger_seq_store (const ab_ledger_t *self, bool durable)
{
    return durable ? self->disk : self->store;
}

int
ab_ledger_next_id (ab_ledger_t *self, uint64_t *id_p)
{
    return ab_store_next_id (self->ids, id_p);
}

void
ab_ledger_begin (ab_ledger_t *self)
{
    self->batch++;
    self->stored_durable = false;
    ab_store_begin (self->store);
    if (self->disk && ab_store_begin (self->disk))
        ab_log_printf (self->log, AB_LOG_ERROR, "store: cannot begin a batch");
}

bool
ab_ledger_in_batch (const ab_ledger_t *self)
{
    return self->disk && ab_store_in_batch (self->disk);
}

uint64_t
ab_ledger_batch (const ab_ledger_t *self)
{
    return self->batch;
}

int
ab_ledger_commit (ab_ledger_t *self)
{
    int rc = ab_store_commit (self->store);
    if (!ab_ledger_in_batch (self))
        return 0;
    rc = ab_store_commit (self->disk);
    if (self->sync_due && ab_store_lmdb_tick (self->disk, ab_now ()))
        ab_log_printf (self->log, AB_LOG_ERROR, "store: sync failed");
    self->sync_due = false;
    return rc;
}

void
ab_ledger_tick (ab_ledger_t *self)
{
    self->sync_due = true;
    ab_timer_add (self->timers, ab_now () + self->sync_ms, AB_TIMER_SYNC, self);
}

void
ab_ledger_note_durable (ab_ledger_t *self)
{
    self->stored_durable = true;
}

bool
ab_ledger_stored_durable (const ab_ledger_t *self)
{
    return self->stored_durable;
}

int
ab_ledger_reserve (ab_ledger_t *self, size_t bytes)
{
    if (self->memory_limit) {
        ab_store_stats_t stats;
        ab_store_stats (self->store, &stats);
        size_t held = self->live_bytes + stats.bytes;
        if (bytes > self->memory_limit || held > self->memory_limit - bytes)
            return AB_EFULL;
    }
    self->live_bytes += bytes;
    return 0;
}

void
ab_ledger_reserve_anyway (ab_ledger_t *self, size_t bytes)
{
    self->live_bytes += bytes;
}

void
ab_ledger_release (ab_ledger_t *self, size_t bytes)
{
    assert (self->live_bytes >= bytes);
    self->live_bytes -= bytes;
}

size_t
ab_ledger_stores (const ab_ledger_t *self, ab_store_t *stores[2])
{
    size_t count = 0;
    if (self->disk)
        stores[count++] = self->disk;
    stores[count++] = self->store;
    return count;
}

ab_store_t *
ab_ledger_find_dead (const ab_ledger_t *self, uint64_t id,
                     ab_dead_letter_t *dead)
{
    ab_store_t *stores[2];
    size_t count = ab_ledger_stores (self, stores);
    for (size_t i = 0; i < count; i++)
        if (ab_store_get_dead (stores[i], id, dead) == 0)
            return stores[i];
    return NULL;
}

void
ab_ledger_stats (ab_ledger_t *self, json_t *counters)
{
    ab_store_stats_t stats, disk = {0};
    ab_store_stats (self->store, &stats);
    if (self->disk)
        ab_store_stats (self->disk, &disk);
    json_object_set_new (counters, "store_dead_letters",
                         json_integer ((json_int_t)(stats.dead + disk.dead)));
    json_object_set_new (counters, "durable_messages",
                         json_integer ((json_int_t)disk.messages));
    json_object_set_new (counters, "durable_bytes",
                         json_integer ((json_int_t)disk.bytes));
}
