/*  =========================================================================
    ab_ledger - the broker's stores: the memory store, the LMDB store of
    durable edges, the one id source, memory_limit, the turn's batch and
    its sync tick

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Two stores: memory for non-durable edges, LMDB (the disk store, when
    a data_dir is configured) for durable ones (docs/storage.md). Ids come
    from one source (the disk store when there is one), so copy ids never
    collide across stores. A queue's seq state lives in the store of its
    edge (ab_ledger_seq_store).

    Every loop turn is one batch: ab_ledger_begin ... ab_ledger_commit.
    While a disk batch is open (ab_ledger_in_batch) the broker holds its
    answers in the outbox; the commit's answer decides their fate. With
    `sync: batch` and a sync_ms, an AB_TIMER_SYNC entry in the broker's
    timer heap marks a sync due (ab_ledger_tick), done after the next
    commit.

    memory_limit counts the body bytes of live non-durable messages
    (ab_ledger_reserve / ab_ledger_release) together with what the
    memory store holds (its dead letters).
*/

#ifndef AB_LEDGER_H_INCLUDED
#define AB_LEDGER_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ab_diag.h"
#include "common/ab_log.h"
#include "common/ab_timer.h"
#include "store/ab_store.h"

typedef struct _ab_ledger_t ab_ledger_t;

/* What the ledger is made from (borrowed for ab_ledger_new only). */
typedef struct {
    const char *data_dir; /* the LMDB store's directory, or NULL: none */
    int sync;             /* ab_store_sync_t: always, batch, never */
    int sync_ms;          /* batch: sync at most this often */
    size_t map_size;      /* LMDB map size; 0 = the store's default */
    size_t memory_limit;  /* frame bytes held per store; 0 = none */
} ab_ledger_config_t;

/* Opens the stores; `timers` (borrowed) gets the sync tick. A data_dir
   that is not ours or is damaged is an error in diag (NULL returned),
   never reinitialised. */
ab_ledger_t *ab_ledger_new (const ab_ledger_config_t *config,
                            ab_timer_t *timers, ab_log_t *log, ab_diag_t *diag);

/* Closes the stores; accepts NULL; nulls *self_p. */
void ab_ledger_destroy (ab_ledger_t **self_p);

/* The memory store (never NULL) and the disk store (NULL without a
   data_dir). Borrowed. */
ab_store_t *ab_ledger_memory (const ab_ledger_t *self);
ab_store_t *ab_ledger_disk (const ab_ledger_t *self);

/* Where the seq state of a queue lives: the disk store when `durable`. */
ab_store_t *ab_ledger_seq_store (const ab_ledger_t *self, bool durable);

/* The next id for a message or copy. 0 or the store's error. */
int ab_ledger_next_id (ab_ledger_t *self, uint64_t *id_p);

/* Opens the turn's batch (the turn's number goes up by one). */
void ab_ledger_begin (ab_ledger_t *self);

/* Whether a disk batch is open: answers wait for its commit. */
bool ab_ledger_in_batch (const ab_ledger_t *self);

/* The current turn's number: a message stored in it has this batch. */
uint64_t ab_ledger_batch (const ab_ledger_t *self);

/* Ends the batch (memory, then disk) and syncs when a tick came. Returns
   the disk commit's answer (0 when there was no disk batch). */
int ab_ledger_commit (ab_ledger_t *self);

/* The AB_TIMER_SYNC entry fired: sync after the next commit. */
void ab_ledger_tick (ab_ledger_t *self);

/* This turn stored a durable message (the loop reads more batches to
   share its sync), and whether it did. */
void ab_ledger_note_durable (ab_ledger_t *self);
bool ab_ledger_stored_durable (const ab_ledger_t *self);

/* Counts `bytes` of a live non-durable message against memory_limit.
   0 or AB_EFULL (nothing counted). */
int ab_ledger_reserve (ab_ledger_t *self, size_t bytes);

/* Counts `bytes` past the limit (a replayed dead letter). */
void ab_ledger_reserve_anyway (ab_ledger_t *self, size_t bytes);

/* A live non-durable message of `bytes` is gone. */
void ab_ledger_release (ab_ledger_t *self, size_t bytes);

/* The stores that may hold dead letters, disk first, in `stores`;
   returns how many (1 or 2). */
size_t ab_ledger_stores (const ab_ledger_t *self, ab_store_t *stores[2]);

/* The store holding dead letter `id`, or NULL; fills *dead. */
ab_store_t *ab_ledger_find_dead (const ab_ledger_t *self, uint64_t id,
                                 ab_dead_letter_t *dead);

/* Adds the stores' figures to `counters`: store_dead_letters,
   durable_messages, durable_bytes. */
void ab_ledger_stats (ab_ledger_t *self, json_t *counters);

#endif
