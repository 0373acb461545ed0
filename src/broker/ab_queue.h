/*  =========================================================================
    ab_queue - edge queues and topology generations

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    A *queue* holds the copies of one edge (or the dead letters of one
    reason for one agent) that are not done, in publication order. A
    non-strict queue lists only copies ready to go (a retry due goes back
    to the front); a strict queue lists every copy not yet done, and only
    its head may be out: "at most one copy of the producer in flight" is
    then "look at the head only", which also keeps retries in order.

    The seam. The broker and ab_copy never reach into a queue's list;
    they ask the queue:

      admit    ab_queue_admit: may one more copy from `from` with `seq`
               come in (seq new, queue_limit not reached)? And
               ab_queue_add / ab_queue_note_seq when it came.
      hand out ab_queue_next: the copy to deliver next, or none (strict:
               the head is out); ab_queue_out: it was handed out (or
               parked for a backoff).
      retry    ab_queue_wait (AB_QUEUE_FRONT): ready again, before
               everything younger.
      ack, dead-letter
               ab_queue_done: it left the queue for good (acked, dead,
               expired, dropped); a dead letter is a new copy on
               ab_generation_dead_queue.

    Each copy keeps its place in its queue (ab_queue_slot_t), which only
    this module reads or writes. An engine-backed queue (cluster mode,
    a replicated stream such as NATS JetStream: shared/spec/cluster.md)
    keeps the same five verbs and would provide: admit = a publish with
    the engine's de-duplication (message id, expected last sequence per
    producer) and its stream limits for queue_limit; add/pending = the
    consumer's pending and ack-pending counts; next/out = a pull fetch
    whose result is ack-pending on the engine (the ack timeout being the
    consumer's ack wait, strict = max ack pending 1); wait = a negative
    ack with the backoff as its delay; done = an ack, or a terminate plus
    a publish to the dead-letter stream. The slot would then hold the
    engine's delivery handle (stream sequence, reply subject) instead of
    a list place.

    A *generation* is one loaded topology with one queue per edge (and
    dead-letter queues made on demand). A reload makes a new generation
    and retires the old one, which lives (holding its topology reference)
    until its last copy is done (ab_generation_pending), so copies routed
    by the old topology finish under its edge options. The broker reaps
    retired generations at the end of a turn.
*/

#ifndef AB_QUEUE_H_INCLUDED
#define AB_QUEUE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/ab_session.h"
#include "common/ab_diag.h"
#include "filter/ab_filter.h"
#include "store/ab_store.h"
#include "topology/ab_topology.h"
#include "wire/ab_codes.h"
#include "filter/ab_pipeline.h"

typedef struct _ab_queue_t ab_queue_t;
typedef struct _ab_generation_t ab_generation_t;

/* A copy's place in its queue: kept in the copy, read and written only
   by ab_queue. Zero = not listed. */
typedef struct {
    void *item;   /* the copy */
    void *handle; /* in the queue's list, or NULL */
    bool out;     /* strict: listed but handed out or parked */
} ab_queue_slot_t;

/* Where a copy that becomes ready goes. */
typedef enum {
    AB_QUEUE_BACK = 0, /* a new copy: after everything listed */
    AB_QUEUE_FRONT,    /* a retry: older than everything listed */
} ab_queue_place_t;

/* A generation for a loaded topology (taken). Its queues deliver to the
   agents of `sessions` (borrowed, outlives it); `durable` is the
   broker's default of edges' `durable`; `path` names the topology file
   in messages of the edge filters. NULL when an edge's filter stages
   cannot be built (reasons in diag). */
ab_generation_t *ab_generation_new (ab_topology_t **topology_p,
                                    ab_sessions_t *sessions, bool durable,
                                    const char *path, ab_diag_t *diag);

/* Whether durable edges may load: the ledger has a disk store. */
typedef enum {
    AB_GENERATION_NO_DISK = 0, /* a durable edge is a load error */
    AB_GENERATION_DISK,        /* durable edges go to the disk store */
} ab_generation_disk_t;

/* Loads the topology file `path` into a new generation (as
   ab_generation_new). Durable edges without a disk store are refused
   rather than fall back to memory silently. NULL with the reasons in
   diag (FILE:LINE:COL). */
ab_generation_t *ab_generation_load (const char *path, ab_sessions_t *sessions,
                                     bool durable, ab_generation_disk_t disk,
                                     ab_diag_t *diag);

/* Destroys it and its queues (no copy may be left); accepts NULL. */
void ab_generation_destroy (ab_generation_t **self_p);

/* Its topology (borrowed). */
ab_topology_t *ab_generation_topology (const ab_generation_t *self);

/* The queue of edge number `index`. */
ab_queue_t *ab_generation_queue (const ab_generation_t *self, size_t index);

/* The queue of edge key `key` ("from->to:type"), or NULL. */
ab_queue_t *ab_generation_find (const ab_generation_t *self, const char *key);

/* The queue that delivers dead letters of `reason` to agent `to` (index
   in the topology), made on first use. One per reason, so that the key
   "dead_letter->AGENT:REASON" a durable copy is stored under tells
   recovery why it died. */
ab_queue_t *ab_generation_dead_queue (ab_generation_t *self, long to,
                                      ab_dead_reason_t reason);

/* Frees the generations of `retired` (a list of ab_generation_t *)
   whose last copy is done, logging each. */
void ab_generation_reap (zlistx_t *retired, ab_log_t *log);

/* Copies not done in all its queues. */
size_t ab_generation_pending (const ab_generation_t *self);

/* Logs what is left on each edge queue (at shutdown). `state_fn` names
   a head copy's state for the log (may be NULL). */
void ab_generation_log_left (const ab_generation_t *self, ab_log_t *log,
                             const char *(*state_fn) (void *copy));

/* The queue's edge (NULL for a dead-letter queue), key, generation,
   consumer, own filter stages (or NULL). Borrowed. */
const ab_edge_t *ab_queue_edge (const ab_queue_t *self);
const char *ab_queue_key (const ab_queue_t *self);
ab_generation_t *ab_queue_generation (const ab_queue_t *self);
ab_agent_t *ab_queue_agent (const ab_queue_t *self);
ab_pipeline_t *ab_queue_filters (const ab_queue_t *self);

/* Whether its copies are on disk (the edge is durable). */
bool ab_queue_durable (const ab_queue_t *self);

/* Copies not done. */
size_t ab_queue_pending (const ab_queue_t *self);

/* Admission of one more copy from producer `from`: -1 when it may come,
   else AB_REJECT_DUPLICATE (`seq` >= 0 not above the last accepted one,
   read from `store`) or AB_REJECT_OVERLOADED (queue_limit), with the
   reason in `why`. */
int ab_queue_admit (const ab_queue_t *self, ab_store_t *store, const char *from,
                    int64_t seq, char *why, size_t why_size);

/* Remembers `seq` as the last accepted from `from`. 0 or the store's
   error. */
int ab_queue_note_seq (const ab_queue_t *self, ab_store_t *store,
                       const char *from, int64_t seq);

/* One more copy not done (not listed yet). */
void ab_queue_add (ab_queue_t *self);

/* The copy at `slot` is ready to be handed out: listed at `place`
   unless listed already (strict: it never left). */
void ab_queue_wait (ab_queue_t *self, ab_queue_slot_t *slot, void *item,
                    ab_queue_place_t place);

/* The copy to hand out next, or NULL (none ready; strict: the head is
   out). */
void *ab_queue_next (const ab_queue_t *self);

/* The listed head, ready or not, or NULL. */
void *ab_queue_head (const ab_queue_t *self);

/* Copies listed. */
size_t ab_queue_listed (const ab_queue_t *self);

/* The copy at `slot` was handed out or parked: unlisted (strict: stays
   the head, out). */
void ab_queue_out (ab_queue_t *self, ab_queue_slot_t *slot);

/* The copy at `slot` is done: unlisted, one copy fewer. */
void ab_queue_done (ab_queue_t *self, ab_queue_slot_t *slot);

#endif
