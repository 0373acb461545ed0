/*  =========================================================================
    ab_store - the storage interface, and the in-memory store

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    One interface, several implementations: an ab_store_t is a table of
    operations (ab_store_ops_t) and the implementation's state (`impl`),
    as Mosquitto and Redis do it. ab_store_new_memory () is the store for
    non-durable edges; the LMDB store slots in through ab_store_new () with
    its own ops. The ab_store_* functions check arguments once for every
    implementation and then call the ops.

    What is stored (records below):
    * messages: one per accepted PUB/REQ, with the wire frames 3... as
      zmq_msg_t (payload, then attachments). Frames are never memcpy'd:
      a store keeps its own zmq_msg_copy () and hands out copies, which for
      large frames share libzmq's reference-counted buffer;
    * copies: one per (message, edge), the unit of ack/retry/dead-letter
      state. A copy's id is the `msg` agents see, stable across
      redeliveries. The broker keeps its queues and timers itself; the
      store is looked up by id only, never scanned on the delivery path;
    * dead letters: copies that died (max_attempts, rejected, expired),
      with their message, until replayed or purged;
    * strict-order sequence state: the last accepted `seq` per
      (producer agent, edge key);
    * next_id: one monotonic id counter for messages and copies, which a
      durable store persists so ids never repeat across restarts.

    A message lives while a copy or dead letter refers to it: removing the
    last one (a copy done, a dead letter purged) frees the message and its
    bytes. Edges are named by index (fast, valid for the loaded topology)
    and by key "from->to:type" (stable across topology reloads and
    restarts).

    Batches: the broker wraps every write of one loop turn in begin ...
    commit (group commit); a durable store makes the batch durable in
    commit, before the broker answers OK. Writes outside a batch are
    allowed and committed one by one. The memory store's commit does
    nothing.

    Times: `expires_ms` and dead letters' `at_ms` are wall-clock
    milliseconds since the epoch, so they mean the same after a restart;
    a copy's `next_ms` is on the broker's monotonic clock and is reset by
    recovery.

    Errors are ab_err_t: AB_ENOENT (no such id), AB_EEXIST (id already
    stored), AB_EFULL (memory limit reached: the broker answers
    `overloaded`), AB_EINVAL (bad argument), AB_ESTATE (e.g. nested begin),
    AB_EIO / AB_ENOMEM from the implementation.
*/

#ifndef AB_STORE_H_INCLUDED
#define AB_STORE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <czmq.h>
#include <zmq.h>

/* Longest producer id (the PUB header's `id`), in bytes. */
#define AB_STORE_PRODUCER_ID_MAX 128

typedef enum {
    AB_COPY_QUEUED = 0, /* waiting for an instance with credit or backoff */
    AB_COPY_INFLIGHT,   /* delivered, waiting for ACK/NACK/REP */
    AB_COPY_DONE,       /* acknowledged: writing it removes the copy */
    AB_COPY_DEAD,       /* dead-lettered (only via ab_store_dead_letter) */
} ab_copy_state_t;

typedef enum {
    AB_DEAD_MAX_ATTEMPTS = 0, /* delivered max_attempts times */
    AB_DEAD_REJECTED,         /* NACK with requeue: false */
    AB_DEAD_EXPIRED,          /* its ttl ran out */
    AB_DEAD_REASON_COUNT_     /* number of reasons; not a reason */
} ab_dead_reason_t;

/* One message. As an argument (put) every pointer is borrowed and the
   store copies what it keeps; as a result (get) the record is the
   caller's, freed with ab_message_destroy. */
typedef struct {
    uint64_t id;             /* broker id, from ab_store_next_id */
    const char *type;        /* message type */
    int version;             /* schema version it was validated against */
    const char *from;        /* producer agent */
    const char *producer_id; /* producer's `id` (<= 128 bytes) or NULL */
    bool has_seq;            /* the PUB carried `seq` */
    int64_t seq;             /* that seq; 0 when has_seq is false */
    const char *traceparent; /* W3C traceparent, or NULL */
    int64_t expires_ms;      /* ttl deadline, wall-clock ms; 0 = none */
    bool request;            /* a REQ (DELIVER says request: true) */
    const char *header;      /* the header JSON text, NUL-terminated */
    zmq_msg_t *frames;       /* frames 3...: [0] payload, [1..] attachments */
    size_t frame_count;      /* >= 1 */
} ab_message_t;

/* Per-copy state. Strings in a record filled by the store are borrowed
   and valid until the next call on the store. */
typedef struct {
    uint64_t id;           /* copy id: the `msg` of DELIVER/ACK/NACK */
    uint64_t message_id;   /* the message it is a copy of */
    size_t edge;           /* edge index in the loaded topology */
    const char *edge_key;  /* "from->to:type", survives reloads */
    int attempts;          /* deliveries so far (0: never delivered) */
    int64_t next_ms;       /* monotonic ms when due again; 0 = now */
    ab_copy_state_t state; /* queued, in flight (done/dead: see above) */
} ab_copy_t;

/* A dead letter: the copy (state AB_COPY_DEAD) and why. Its message stays
   stored (ab_store_get_message) until the dead letter is removed. */
typedef struct {
    ab_copy_t copy;          /* the copy as it died */
    ab_dead_reason_t reason; /* why */
    int64_t at_ms;           /* when, wall-clock ms */
} ab_dead_letter_t;

/* Counters, for tests and metrics. */
typedef struct {
    size_t messages;    /* messages stored */
    size_t copies;      /* live copies (queued or in flight) */
    size_t dead;        /* dead letters */
    size_t bytes;       /* bytes of frames (payloads + attachments) */
    size_t bytes_limit; /* memory limit; 0 = none */
} ab_store_stats_t;

/* Recovery callbacks; a non-zero return stops the walk and is returned. */
typedef int (ab_store_message_fn) (void *arg, const ab_message_t *message);
typedef int (ab_store_copy_fn) (void *arg, const ab_copy_t *copy);

/* The operations an implementation provides. All are required. Arguments
   have been checked by the ab_store_* wrappers; see them for meaning. */
typedef struct {
    const char *name; /* "memory", "lmdb": for logs */
    bool durable;     /* commit makes writes survive a crash */
    void (*destroy) (void *impl);
    int (*begin) (void *impl);
    int (*commit) (void *impl);
    int (*next_id) (void *impl, uint64_t *id_p);
    int (*put_message) (void *impl, const ab_message_t *message);
    int (*get_message) (void *impl, uint64_t id, ab_message_t **message_p);
    int (*del_message) (void *impl, uint64_t id);
    int (*put_copy) (void *impl, const ab_copy_t *copy);
    int (*get_copy) (void *impl, uint64_t id, ab_copy_t *copy);
    int (*del_copy) (void *impl, uint64_t id);
    int (*dead_letter) (void *impl, uint64_t copy_id, ab_dead_reason_t reason,
                        int64_t at_ms);
    int (*get_dead) (void *impl, uint64_t copy_id, ab_dead_letter_t *dead);
    int (*list_dead) (void *impl, uint64_t *cursor_p, size_t limit,
                      ab_dead_letter_t *dead, size_t *count_p);
    int (*del_dead) (void *impl, uint64_t copy_id);
    int (*get_seq) (void *impl, const char *producer, const char *edge_key,
                    int64_t *seq_p);
    int (*set_seq) (void *impl, const char *producer, const char *edge_key,
                    int64_t seq);
    int (*recover) (void *impl, ab_store_message_fn *on_message,
                    ab_store_copy_fn *on_copy, void *arg);
    void (*stats) (void *impl, ab_store_stats_t *stats);
} ab_store_ops_t;

typedef struct _ab_store_t ab_store_t;

/* Options of the memory store. */
typedef struct {
    size_t bytes_limit; /* max bytes of frames held; 0 = no limit */
} ab_store_memory_options_t;

/* Wraps an implementation: the store takes `impl` and calls
   ops->destroy (impl) when destroyed. `ops` must outlive the store
   (a static table). Returns NULL when out of memory (impl destroyed). */
ab_store_t *ab_store_new (const ab_store_ops_t *ops, void *impl);

/* The implementation state of `self` when it was made with `ops`, else
   NULL: lets an implementation offer functions of its own (e.g.
   ab_store_lmdb_tick) on an ab_store_t without exposing the struct. */
void *ab_store_impl (const ab_store_t *self, const ab_store_ops_t *ops);

/* The in-memory store. NULL options: no limit. */
ab_store_t *ab_store_new_memory (const ab_store_memory_options_t *options);

/* Destroys the store (without committing an open batch); accepts NULL
   and nulls the caller's pointer. */
void ab_store_destroy (ab_store_t **self_p);

/* The implementation's name and durability. */
const char *ab_store_name (const ab_store_t *self);
bool ab_store_durable (const ab_store_t *self);

/* Opens a batch. AB_ESTATE if one is open. */
int ab_store_begin (ab_store_t *self);

/* Ends the batch; a durable store has synced it when this returns 0.
   AB_ESTATE if no batch is open. */
int ab_store_commit (ab_store_t *self);

/* True while a batch is open. */
bool ab_store_in_batch (const ab_store_t *self);

/* A fresh id (> 0) for a message or copy, greater than every id this
   store handed out before, restarts included. */
int ab_store_next_id (ab_store_t *self, uint64_t *id_p);

/* Stores a message (copies strings, zmq_msg_copy of every frame; the
   caller keeps and closes its own frames). AB_EEXIST for a known id,
   AB_EFULL when the frames would pass the byte limit (nothing stored),
   AB_EINVAL for a missing type/from/header, no frames, id 0 or a
   producer id over 128 bytes. The message lives until its last copy or
   dead letter goes; one that never gets a copy is freed by
   ab_store_del_message. */
int ab_store_put_message (ab_store_t *self, const ab_message_t *message);

/* A new record of message `id` into *message_p (the caller's: free it
   with ab_message_destroy; its frames are zmq_msg_copy's, ready to
   send). AB_ENOENT if unknown. */
int ab_store_get_message (ab_store_t *self, uint64_t id,
                          ab_message_t **message_p);

/* Removes a message that no copy or dead letter refers to (e.g. a PUB
   that was stored and then found overloaded). AB_ENOENT if unknown,
   AB_ESTATE if still referred to. */
int ab_store_del_message (ab_store_t *self, uint64_t id);

/* Inserts or updates a copy, keyed by copy->id. Its message must be
   stored (AB_ENOENT); message_id and edge_key of an existing copy must
   not change (AB_EINVAL). State AB_COPY_DONE removes the copy (as
   ab_store_del_copy); AB_COPY_DEAD is AB_EINVAL (use
   ab_store_dead_letter). An id that is a dead letter is AB_EEXIST. */
int ab_store_put_copy (ab_store_t *self, const ab_copy_t *copy);

/* Fills *copy with live copy `id`. AB_ENOENT if unknown. */
int ab_store_get_copy (ab_store_t *self, uint64_t id, ab_copy_t *copy);

/* Removes a live copy (done). AB_ENOENT if unknown. */
int ab_store_del_copy (ab_store_t *self, uint64_t id);

/* Moves live copy `copy_id` to the dead letters (its message stays).
   AB_ENOENT if unknown, AB_EINVAL for a bad reason. */
int ab_store_dead_letter (ab_store_t *self, uint64_t copy_id,
                          ab_dead_reason_t reason, int64_t at_ms);

/* Fills *dead with dead letter `copy_id`. AB_ENOENT if unknown. */
int ab_store_get_dead (ab_store_t *self, uint64_t copy_id,
                       ab_dead_letter_t *dead);

/* Lists dead letters oldest first, at most `limit` into dead[] (the
   caller's array), count in *count_p. *cursor_p is 0 for the first page
   and is advanced for the next; a page shorter than `limit` is the last.
   Entries removed meanwhile are skipped, never repeated. */
int ab_store_list_dead (ab_store_t *self, uint64_t *cursor_p, size_t limit,
                        ab_dead_letter_t *dead, size_t *count_p);

/* Removes a dead letter (purged, or replayed as a new copy); frees its
   message when nothing else refers to it. AB_ENOENT if unknown. */
int ab_store_del_dead (ab_store_t *self, uint64_t copy_id);

/* The last accepted seq of `producer` on edge `edge_key` into *seq_p.
   AB_ENOENT when none was accepted yet. */
int ab_store_get_seq (ab_store_t *self, const char *producer,
                      const char *edge_key, int64_t *seq_p);

/* Records `seq` as the last accepted (the caller checked it is greater). */
int ab_store_set_seq (ab_store_t *self, const char *producer,
                      const char *edge_key, int64_t seq);

/* Walks the stored state after a restart: on_message for every message,
   then on_copy for every live copy in id order (either may be NULL).
   Records are borrowed for the duration of the call. The memory store,
   fresh, has none. */
int ab_store_recover (ab_store_t *self, ab_store_message_fn *on_message,
                      ab_store_copy_fn *on_copy, void *arg);

/* Fills *stats. */
void ab_store_stats (ab_store_t *self, ab_store_stats_t *stats);

/* A new record with copies of every string and a zmq_msg_copy of every
   frame of `message` (one allocation; free with ab_message_destroy), or
   NULL when out of memory. Implementations use it for get_message. */
ab_message_t *ab_message_dup (const ab_message_t *message);

/* Frees a record from ab_store_get_message (closing its frames); accepts
   NULL and nulls the caller's pointer. */
void ab_message_destroy (ab_message_t **self_p);

/* Total bytes of a message's frames. */
size_t ab_message_bytes (const ab_message_t *message);

/* "max_attempts", "rejected", "expired"; NULL for a bad value. */
const char *ab_dead_reason_name (ab_dead_reason_t reason);

/* Parses a reason name. Returns 0 or AB_EINVAL. */
int ab_dead_reason_from_name (const char *name, ab_dead_reason_t *reason_p);

/* A zhashx keyed by pointers to uint64 ids inside its items (not
   duplicated, so an item's id must live as long as its entry), with
   `destructor` for the items (NULL: none). NULL when out of memory. */
zhashx_t *ab_id_hash_new (zhashx_destructor_fn *destructor);

/* The order of such keys (pointers to uint64_t). */
int ab_id_compare (const void *a, const void *b);

/* Writes the edge key "from->to:type" into a new string (the caller's to
   free), or NULL when out of memory. */
char *ab_store_edge_key (const char *from, const char *to, const char *type);

#endif
