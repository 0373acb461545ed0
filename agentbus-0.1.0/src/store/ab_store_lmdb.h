/*  =========================================================================
    ab_store_lmdb - the durable implementation of ab_store, on LMDB

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Everything the store holds lives in one LMDB environment in data_dir
    (data.mdb, lock.mdb): messages with all their frames, live copies,
    dead letters, strict-order seq state and the id counter. Nothing is
    kept in RAM beyond one decoded record at a time: get_message reads
    the frames back (one memcpy per frame into a new zmq_msg_t).

    How the broker uses it:
    * ab_store_new_lmdb () at start; a data_dir that is not ours or is
      damaged is an error in `diag`, never reinitialised;
    * ab_store_recover () once, to requeue every live copy (attempts kept;
      next_ms is meaningless after a restart: treat every copy as due);
    * ab_store_begin () ... ab_store_commit () around the writes of each
      loop turn; answer OK only after commit returned 0;
    * ab_store_lmdb_tick () from a timer when sync is AB_STORE_SYNC_BATCH.

    Sync modes and what each loses. A crash of the broker process alone
    (kill -9, abort) loses nothing committed in any mode: commit has
    written the pages to the OS. A power failure or kernel crash:
    * AB_STORE_SYNC_ALWAYS: nothing committed is lost (commit returns
      after fdatasync of data and meta page);
    * AB_STORE_SYNC_BATCH: commits of the last sync_ms milliseconds (up
      to the last tick that synced) may be lost, as whole transactions
      (batches), on file systems that keep write order (ext4
      data=ordered, xfs); elsewhere the environment may be damaged, and
      the next open reports it;
    * AB_STORE_SYNC_NEVER: as BATCH, but everything since the last clean
      close may be lost.
    Lost commits may include the id counter, so ids handed out by the
    lost batches can be handed out again.

    Failure contract. A put that would take the data past `bytes_limit`
    or past the usable part of the map returns AB_EFULL and stores
    nothing; the batch goes on. A write that fails inside LMDB
    (MDB_MAP_FULL, ENOSPC: AB_EFULL; other errors: AB_EIO) aborts the
    whole open batch: every write made in it since begin is lost, every
    later write in it returns the same error, and commit returns it; the
    broker answers `overloaded` (or an error) for all of that batch's
    messages. What was committed before is never touched. A batch whose
    commit fails is likewise lost whole. Once acks and deletes have freed
    room, puts succeed again: a slice of the map (1/8, at least 64
    pages) is kept free so that deleting always works.
*/

#ifndef AB_STORE_LMDB_H_INCLUDED
#define AB_STORE_LMDB_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "common/ab_diag.h"
#include "store/ab_store.h"

/* Default LMDB map size: the largest the data file may grow. */
#define AB_STORE_LMDB_MAP_SIZE_DEFAULT ((size_t)1 << 30)

typedef enum {
    AB_STORE_SYNC_ALWAYS = 0, /* every commit is synced (default) */
    AB_STORE_SYNC_BATCH,      /* synced by ab_store_lmdb_tick every sync_ms */
    AB_STORE_SYNC_NEVER,      /* synced only at close */
} ab_store_sync_t;

typedef struct {
    const char *data_dir; /* the directory; created (0700) if missing */
    size_t map_size;      /* LMDB map size in bytes; 0 = the default */
    ab_store_sync_t sync; /* when commits reach the disk */
    int sync_ms;          /* AB_STORE_SYNC_BATCH: sync at most this often */
    size_t bytes_limit;   /* max frame bytes stored (the broker's
                             memory_limit); 0 = only the map limits */
} ab_store_lmdb_options_t;

/* Opens (or creates) the store in options->data_dir. Returns NULL with
   the reason in `diag` (as "DATA_DIR: message") when the directory
   cannot be created, holds files that are not an agentbus store, holds
   an LMDB environment of another program, a newer format, or a damaged
   one; or when out of memory. */
ab_store_t *ab_store_new_lmdb (const ab_store_lmdb_options_t *options,
                               ab_diag_t *diag);

/* In AB_STORE_SYNC_BATCH mode, syncs the commits made since the last
   sync when sync_ms have passed since it (`now_ms` on the broker's
   monotonic clock); call it from a timer every sync_ms. Does nothing in
   the other modes or for a store that is not an LMDB store. Returns 0 or
   AB_EIO. */
int ab_store_lmdb_tick (ab_store_t *store, int64_t now_ms);

/* The store's random id (32 hex digits, set when data_dir was first
   initialised), or NULL when `store` is not an LMDB store. */
const char *ab_store_lmdb_id (ab_store_t *store);

#endif
