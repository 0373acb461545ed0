/*  =========================================================================
    ab_copy - messages and their copies: the copy's state machine

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    A *message* (ab_msg_t) is one accepted PUB or REQ: the frames 3...
    received (zmq_msg_t, never copied; none for a durable message, read
    back from the disk store on delivery), shared by its copies. A *copy*
    (ab_live_copy_t; ab_copy_t is its store record) is (message, edge):
    the unit of ack, retry and dead letter; its id is the `msg` agents
    see.

    States and transitions:

        ab_copy_make ──ready──▶ WAITING ──deliver──▶ INFLIGHT ──ACK/REP──▶ done
                                  ▲  ▲                 │  │
                                  │  └──retry (0 ms)───┘  │ retry
                                  │                       ▼
                                  └────backoff timer──── BACKOFF
        any state ──ttl / NACK requeue:false / max_attempts──▶ dead letter

    The invariant (checked by tests/broker/check_copy.c):

    1. A copy is in the registry's id hash from ab_copy_make to
       ab_copy_forget, and only ab_copy_forget frees it; its queue counts
       it pending (ab_queue_add / ab_queue_done) over exactly that span,
       and it holds one reference to its message, which is freed with its
       last copy.
    2. WAITING: no holder, no `timer`; listed in its queue, ready (a copy
       just made is WAITING and unlisted until ab_copy_ready, which every
       maker calls before it returns to the loop).
    3. INFLIGHT: held by exactly one session (in that session's in-flight
       list, `holder` set), `timer` is its ack deadline; listed in its
       queue only when the queue is strict, as the head, out.
    4. BACKOFF: no holder; `timer` is its retry deadline; listed only when
       the queue is strict, as the head, out.
    5. `ttl_timer` (when the PUB or the edge sets a ttl) is live from
       make until it fires or the copy is forgotten, except for a new or
       recovered dead-letter delivery, which never expires
       (ab_copy_set_dead); `request` (a REQ's copy) is owned by the copy,
       and its timeout entry lives as long as it.
    6. Every timer entry of a copy has the copy as argument, and each is
       cancelled (or has fired and been zeroed) before the copy is freed.

    Who calls forget: ACK and REP (done), a dead letter (after the store
    or a dead-letter copy took it over), a failed request, a failed
    commit (ab_copies_rollback), a store that refused the copy, and the
    broker's destruction (AB_COPY_KEEP_STORED: the disk store keeps it
    for the next start).
*/

#ifndef AB_COPY_H_INCLUDED
#define AB_COPY_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker/ab_counters.h"
#include "broker/ab_ledger.h"
#include "broker/ab_outbox.h"
#include "broker/ab_queue.h"
#include "broker/ab_request.h"
#include "broker/ab_session.h"
#include "common/ab_log.h"
#include "common/ab_timer.h"
#include "store/ab_store.h"

/* One accepted PUB or REQ, shared by its copies. */
typedef struct {
    size_t refs;         /* copies referring to it (+1 while being made) */
    uint64_t id;         /* store id */
    char *type;          /* message type */
    int version;         /* version it was validated against */
    char *from;          /* producer agent */
    json_t *producer_id; /* the PUB's `id` (a string), or NULL */
    bool has_seq;        /* the PUB carried `seq` */
    int64_t seq;         /* that seq */
    char *traceparent;   /* passed through, or NULL */
    int64_t expires;     /* monotonic ms when the ttl runs out; 0 = never */
    zmq_msg_t *body;     /* frames 3...: payload, attachments (owned);
                            NULL for a durable message (read back) */
    size_t body_count;   /* entries in body */
    bool request;        /* a REQ */
    ab_store_t *store;   /* the disk store holding it, or the memory
                            store, which takes it only when a copy dies
                            into the store (ab_copy_dead_letter) */
    size_t bytes;        /* body bytes counted by the ledger (memory) */
    uint64_t batch;      /* the loop turn that stored it */
} ab_msg_t;

/* Whether frames of a stored message are kept (a memory-store replay) or
   read back on delivery (disk). */
typedef enum {
    AB_MSG_READ_BACK = 0, /* no frames in RAM */
    AB_MSG_KEEP_FRAMES,   /* copy the record's frames */
} ab_msg_frames_t;

/* What forgetting a copy does to its store record. */
typedef enum {
    AB_COPY_DELETE_STORED = 0, /* done: delete it from the disk store */
    AB_COPY_KEEP_STORED,       /* the store moved it already (dead
                                  letters), never had it, or keeps it for
                                  the next start */
} ab_copy_store_t;

/* Whether a copy coming back from its holder spent an attempt. */
typedef enum {
    AB_ATTEMPT_COUNTED = 0, /* ack timeout, NACK requeue, instance death */
    AB_ATTEMPT_UNCOUNTED,   /* BYE, or a DELIVER that never left */
} ab_attempt_t;

typedef enum {
    AB_LIVE_WAITING = 0, /* ready for an instance with credit */
    AB_LIVE_INFLIGHT,    /* delivered, waiting for ACK/NACK/REP */
    AB_LIVE_BACKOFF,     /* waiting for its retry time */
} ab_live_state_t;

typedef struct _ab_live_copy_t ab_live_copy_t;
typedef struct _ab_copies_t ab_copies_t;

/* What the copies work with (all borrowed, outliving the registry). */
typedef struct {
    ab_timer_t *timers;      /* ack, backoff, ttl and request entries */
    ab_ledger_t *ledger;     /* stores, ids, live bytes, batch */
    ab_sessions_t *sessions; /* holders; agents to mark */
    ab_outbox_t *outbox;     /* DELIVERs, a requester's REJECTs */
    ab_counters_t *counters; /* what happened */
    ab_log_t *log;           /* may be NULL */
} ab_copies_ctx_t;

/* A registry of live copies. Aborts when out of memory. */
ab_copies_t *ab_copies_new (const ab_copies_ctx_t *ctx);

/* Forgets every copy (AB_COPY_KEEP_STORED); accepts NULL. */
void ab_copies_destroy (ab_copies_t **self_p);

/* Live copies. */
size_t ab_copies_size (const ab_copies_t *self);

/* A message with one reference (the maker's), everything else zero. */
ab_msg_t *ab_msg_new (void);

/* A message for a stored one in `store`, with one reference; frames as
   `frames` says (KEEP_FRAMES counts its bytes past memory_limit). */
ab_msg_t *ab_msg_from_record (ab_copies_t *self, const ab_message_t *record,
                              ab_store_t *store, ab_msg_frames_t frames);

/* Drops a reference; the last one frees it (and its ledger bytes). */
void ab_msg_unref (ab_copies_t *self, ab_msg_t **msg_p);

/* The {reason, original} of a dead-letter delivery of `msg`, which died
   on `edge` after `attempts` deliveries (a new object). */
json_t *ab_msg_dead_header (const ab_msg_t *msg, const ab_edge_t *edge,
                            int attempts, ab_dead_reason_t reason);

/* Makes copy `id` of `msg` on `queue` under `edge`'s options, WAITING
   but not listed, not stored. */
ab_live_copy_t *ab_copy_make (ab_copies_t *self, ab_queue_t *queue,
                              const ab_edge_t *edge, ab_msg_t *msg,
                              uint64_t id);

/* ab_copy_make with a new id, stored in the message's store when that
   is the disk store. NULL with the store's error in *rc_p. */
ab_live_copy_t *ab_copy_new (ab_copies_t *self, ab_queue_t *queue,
                             const ab_edge_t *edge, ab_msg_t *msg, int *rc_p);

/* Frees the copy (see the invariant): off its holder, its queue, the
   registry and the timer heap. */
void ab_copy_forget (ab_copies_t *self, ab_live_copy_t *copy,
                     ab_copy_store_t store);

/* WAITING: listed at `place` in its queue (strict: where it is), its
   agent marked. */
void ab_copy_ready (ab_copies_t *self, ab_live_copy_t *copy,
                    ab_queue_place_t place);

/* The copy `queue` would deliver next, or NULL. */
ab_live_copy_t *ab_copies_next (ab_queue_t *queue);

/* The key of the session that last held it, to avoid it, or NULL. */
const char *ab_copy_avoid (const ab_live_copy_t *copy);

/* Sends the copy to `session`: INFLIGHT until ACK, NACK, REP, the ack
   timeout or the session's loss. False when the peer is gone (the copy
   stays where it was). */
bool ab_copy_deliver (ab_copies_t *self, ab_live_copy_t *copy,
                      ab_session_t *session);

/* The copy named by the header's `msg` that `session` holds in flight,
   or NULL. */
ab_live_copy_t *ab_copies_held (ab_copies_t *self, ab_session_t *session,
                                const json_t *header);

/* Done (ACK, or a REP that is not partial): its agent marked, forgotten. */
void ab_copy_done (ab_copies_t *self, ab_live_copy_t *copy);

/* A partial REP: its ack deadline starts again. */
void ab_copy_extend (ab_copies_t *self, ab_live_copy_t *copy);

/* Back from its holder: WAITING again (uncounted, or no backoff),
   BACKOFF, or a dead letter after max_attempts. */
void ab_copy_retry (ab_copies_t *self, ab_live_copy_t *copy,
                    ab_attempt_t attempt);

/* Never delivered again: to the edge's dead_letter agent, else into
   the store's dead letters (a request copy fails its request instead).
   Never dropped. */
void ab_copy_dead_letter (ab_copies_t *self, ab_live_copy_t *copy,
                          ab_dead_reason_t reason);

/* The requester gets `REJECT timeout` with `why`; the copy is forgotten. */
void ab_copy_fail_request (ab_copies_t *self, ab_live_copy_t *copy,
                           const char *why);

/* One of the copy kinds' timer entries fired (ACK, BACKOFF, TTL,
   REQUEST). */
void ab_copies_on_timer (ab_copies_t *self, const ab_timer_entry_t *entry);

/* A DELIVER of copy `id` to session `key` never left: if the copy is
   still in flight there, it comes back uncounted. */
void ab_copies_refused (ab_copies_t *self, uint64_t id, const char *key);

/* The batch of turn `batch` failed with `rc`: its durable copies are
   forgotten (their requesters told). */
void ab_copies_rollback (ab_copies_t *self, uint64_t batch, int rc);

/* Gives the copy its request (taken). */
void ab_copy_set_request (ab_live_copy_t *copy, ab_request_t *request);

/* Whether a dead-letter delivery keeps the ttl its copy was made with. */
typedef enum {
    AB_DEAD_NEVER_EXPIRES = 0, /* a new dead letter, or a recovered one */
    AB_DEAD_KEEPS_TTL,         /* a replayed one: the edge's ttl_ms holds */
} ab_dead_ttl_t;

/* Makes it a dead-letter delivery with `dead` ({reason, original},
   taken). */
void ab_copy_set_dead (ab_copies_t *self, ab_live_copy_t *copy, json_t *dead,
                       ab_dead_ttl_t ttl);

/* Gives the copy its own frames: `payload` (an edge stage's rewrite)
   and the message's attachments. */
void ab_copy_rewrite (ab_live_copy_t *copy, const char *payload);

/* What a copy is: attempts so far, state, queue, edge, request (or
   NULL), id as text. */
int ab_copy_attempts (const ab_live_copy_t *copy);
void ab_copy_set_attempts (ab_live_copy_t *copy, int attempts);
ab_live_state_t ab_copy_state (const ab_live_copy_t *copy);
ab_queue_t *ab_copy_queue (const ab_live_copy_t *copy);
const ab_edge_t *ab_copy_edge (const ab_live_copy_t *copy);
ab_request_t *ab_copy_request (const ab_live_copy_t *copy);
const char *ab_copy_id_text (const ab_live_copy_t *copy);

#endif
