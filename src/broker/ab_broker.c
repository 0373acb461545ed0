/*  =========================================================================
    ab_broker - the agentbus broker: sessions, routing, delivery, retry

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Design note.

    The path of a message reads top to bottom in this file: s_on_message
    (parse, session) → s_on_publish (header, schema stage, filter pipeline,
    route, store, OK) → s_dispatch (credit, round robin) → s_on_ack /
    s_on_nack / timers → s_retry or s_dead_letter.

    Objects and who owns whom:
    * an *instance* is one connected DEALER (key: its routing id in hex);
      it lists the copies it holds in flight, so its death or BYE requeues
      them without scanning anything else;
    * an *agent* (by name, survives reloads) lists its instances (round
      robin: the list is rotated as copies go out) and the queues that
      deliver to it;
    * a *generation* is one loaded topology with one queue per edge;
      a reload makes a new generation and retires the old one, which lives
      (holding its topology reference) until its last copy is done, so
      copies routed by the old topology finish under its edge options;
    * a *queue* holds the copies of one edge that wait for delivery, in
      publication order. A non-strict queue holds only copies ready to go
      (a retry due goes back to the front); a strict queue holds every copy
      not yet done, and only its head may be in flight: "at most one copy
      of the producer in flight" is then "look at the head only", which
      also keeps retries in order;
    * a *copy* is (message, edge): the unit of ack, retry and dead letter;
      its id is the `msg` agents see. A *message* holds the frames 3...
      received (zmq_msg_t, never copied) and is shared by its copies.

    Every deadline (ack timeout, backoff, ttl, request timeout, heartbeat)
    is one entry in the ab_timer heap; zmq_poll sleeps until the earliest.
    Nothing is scanned per message beyond the target edges of a PUB and the
    queues and instances of one agent.

    Two stores: memory for non-durable edges, LMDB (`disk`, when a
    data_dir is configured) for durable ones. A message goes to the disk
    store when any of its target edges is durable, and then every copy
    of it is durable too (docs/storage.md); a queue's seq state lives in
    the store of its edge. Ids come from one source (the disk store when
    there is one), so copy ids never collide across stores.

    Group commit: every loop turn is one batch (begin ... commit). While a
    disk store exists, every answer and delivery of the turn waits in the
    outbox and leaves only after the commit: an OK is sent only once its
    message is on disk, a DELIVER only once its attempt count is, and
    one FIFO keeps each instance's answers in command order. A failed
    commit turns the turn's held OKs into `REJECT overloaded` and forgets
    the copies the batch made (s_rollback). Durable messages keep no
    frames in RAM: they are read back from the store on delivery.
*/

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "agentbus.h"
#include "broker/ab_broker.h"
#include "filter/ab_filter.h"
#include "filter/ab_pipeline.h"
#include "wire/ab_codes.h"
#include "common/ab_decimal.h"
#include "wire/ab_jsonw.h"
#include "wire/ab_outq.h"
#include "wire/ab_proto.h"
#include "wire/ab_jsonscan.h"
#include "common/ab_pool.h"
#include "schema/ab_schema.h"
#include "store/ab_store.h"
#include "store/ab_store_lmdb.h"
#include "common/ab_timer.h"
#include "topology/ab_topology.h"

/* Messages read from the socket per loop turn, so timers never starve. */
#define S_BATCH 256
/* PUBs in a batch below which s_check_ahead leaves them to the broker's
   thread: waking the pool costs more than it saves */
#define S_CHECK_AHEAD_MIN 8
/* check_threads by default: one per CPU beyond the two this thread and
   libzmq's I/O thread keep busy. On two CPUs the pool's handing over
   costs more than it moves (bench/agentbus-bench small: 0.39 of the
   baseline without it, 0.36 to 0.39 with one thread). */
#define S_BUSY_THREADS 2
#define S_CHECK_THREADS_MAX 3
/* Full batches one turn may read when it stores durable messages: they
   share the turn's one sync */
#define S_DURABLE_ROUNDS 4
/* Extra bytes libzmq accepts per frame above max_message_bytes, so a
   message slightly too big still reaches us and gets `REJECT too_large`
   instead of a silent disconnect. */
#define S_MAXMSG_MARGIN (1024 * 1024)
/* The type of dead-letter deliveries (protocol §5). */
#define S_DEAD_LETTER_TYPE "agentbus.dead_letter"
/* An instance is dead after this many heartbeats without traffic. */
#define S_HEARTBEAT_LIVES 3
/* A copy whose message cannot be read back is tried again this late. */
#define S_READ_RETRY_MS 1000
/* Backoff doubles per attempt but stops doubling here (2^20 x base). */
#define S_BACKOFF_MAX_SHIFT 20

/* ---------------------------------------------------------------------
   Counters */

typedef enum {
    C_RECEIVED = 0,
    C_PUBLISHED,
    C_REQUESTS,
    C_COPIES_QUEUED,
    C_DELIVERED,
    C_REDELIVERED,
    C_ACKED,
    C_NACKED,
    C_ACK_TIMEOUTS,
    C_EXPIRED,
    C_DEAD_TO_AGENT,
    C_DEAD_TO_STORE,
    C_REPLIES,
    C_REPLIES_DROPPED,
    C_REQUESTS_TIMED_OUT,
    C_HELLOS,
    C_BYES,
    C_INSTANCES_DEAD,
    C_SEND_FAILURES,
    C_RELOADS,
    C_RELOAD_FAILURES,
    C_ATTACHMENT_BYTES,
    C_ATTACHMENT_BYTES_COPIED,
    C_CHECKED_AHEAD,
    C_COUNT_
} s_counter_t;

static const char *s_counter_names[C_COUNT_] = {
    "received",
    "published",
    "requests",
    "copies_queued",
    "delivered",
    "redelivered",
    "acked",
    "nacked",
    "ack_timeouts",
    "expired",
    "dead_to_agent",
    "dead_to_store",
    "replies",
    "replies_dropped",
    "requests_timed_out",
    "hellos",
    "byes",
    "instances_dead",
    "send_failures",
    "reloads",
    "reload_failures",
    "attachment_bytes",
    "attachment_bytes_copied",
    "checked_ahead",
};

/* ---------------------------------------------------------------------
   Objects */

typedef struct _s_agent_t s_agent_t;
typedef struct _s_queue_t s_queue_t;
typedef struct _s_generation_t s_generation_t;

typedef enum {
    S_TIMER_ACK = 0,   /* a copy in flight was not answered in time */
    S_TIMER_BACKOFF,   /* a copy's retry is due */
    S_TIMER_TTL,       /* a copy's ttl ran out */
    S_TIMER_REQUEST,   /* a request's timeout_ms passed */
    S_TIMER_HEARTBEAT, /* check an instance for silence */
    S_TIMER_SYNC,      /* sync: batch: sync the disk store */
} s_timer_kind_t;

typedef enum {
    S_COPY_WAITING = 0, /* ready for an instance with credit */
    S_COPY_INFLIGHT,    /* delivered, waiting for ACK/NACK/REP */
    S_COPY_BACKOFF,     /* waiting for its retry time */
} s_copy_state_t;

/* One accepted PUB or REQ, shared by its copies. */
typedef struct {
    size_t refs;         /* copies referring to it */
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
    ab_store_t *store;   /* disk: the store holding it; memory: where it
                            goes when a copy dies into the store (a live
                            one is held here alone, see s_memory_put) */
    size_t bytes;        /* body bytes counted in live_bytes (memory) */
    uint64_t batch;      /* the loop turn that stored it */
} s_message_t;

/* The open request behind a request copy (protocol §7). */
typedef struct {
    char *requester_key;       /* session key of the requesting instance */
    zmq_msg_t requester;       /* its routing id, to address the REPLY */
    json_t *id;                /* the requester's `id`, or NULL */
    const char *reply_type;    /* the edge's `reply` (topology-owned) */
    ab_timer_handle_t timeout; /* timeout_ms deadline */
} s_request_t;

typedef struct _s_instance_t s_instance_t;

/* One copy of a message on one edge. */
typedef struct {
    uint64_t id;                 /* store id; `msg` on the wire */
    char id_text[24];            /* id in decimal */
    s_message_t *message;        /* shared message (one reference) */
    s_queue_t *queue;            /* where it waits */
    const ab_edge_t *edge;       /* whose options apply (ack, retry...) */
    s_copy_state_t state;        /* waiting, in flight, backoff */
    int attempts;                /* deliveries so far */
    s_instance_t *instance;      /* holder while in flight */
    void *instance_handle;       /* in instance->inflight */
    void *ready_handle;          /* in queue->ready, or NULL */
    char *last_instance;         /* key of the last holder, to avoid it */
    ab_timer_handle_t timer;     /* ack timeout or backoff */
    ab_timer_handle_t ttl_timer; /* ttl expiry */
    s_request_t *request;        /* for REQ copies, else NULL */
    json_t *dead;                /* {reason, original} of a dead-letter
                                    delivery, else NULL */
    zmq_msg_t *body;             /* frames 3... when an edge stage rewrote the
                                    payload, else NULL (the message's are sent) */
    size_t body_count;           /* entries in body */
} s_copy_t;

struct _s_instance_t {
    char *key;                   /* routing id in hex: the session key */
    zmq_msg_t routing_id;        /* to address it */
    s_agent_t *agent;            /* the agent it said HELLO as */
    void *agent_handle;          /* in agent->instances */
    char *name;                  /* HELLO's `instance`, for logs */
    size_t credit;               /* in-flight window */
    zlistx_t *inflight;          /* s_copy_t * it holds */
    int64_t last_seen;           /* monotonic ms of its last command */
    ab_timer_handle_t heartbeat; /* next silence check */
};

struct _s_agent_t {
    char *name;          /* agent name */
    zlistx_t *instances; /* s_instance_t *, rotated for round robin */
    zlistx_t *queues;    /* s_queue_t * delivering to this agent */
    bool dirty;          /* listed in the broker's `dirty` */
};

struct _s_queue_t {
    const ab_edge_t *edge;  /* the edge, or NULL for a dead-letter queue */
    char *key;              /* "from->to:type" (or "dead_letter->agent") */
    s_generation_t *gen;    /* the topology generation it belongs to */
    s_agent_t *agent;       /* consumer */
    void *agent_handle;     /* in agent->queues */
    bool strict;            /* ordering: strict */
    bool durable;           /* the edge is durable: its copies on disk */
    zlistx_t *ready;        /* s_copy_t *: see the design note */
    size_t pending;         /* copies not done (queue_limit) */
    ab_pipeline_t *filters; /* the edge's own stages, or NULL */
};

struct _s_generation_t {
    ab_topology_t *topology; /* one reference */
    s_queue_t **queues;      /* one per edge */
    s_queue_t **dead_queues; /* one per agent, made on first dead letter */
    size_t pending;          /* copies not done in all its queues */
};

/* A command read in this turn, waiting to be handled (s_inbound_t is
   defined with the PUB path). */
typedef struct _s_inbound_t s_inbound_t;

struct _ab_broker_t {
    char *endpoint;            /* bound endpoint (resolved) */
    char *topology_path;       /* for reloads */
    int64_t heartbeat_ms;      /* announced in WELCOME */
    size_t max_message_bytes;  /* larger messages: too_large */
    bool durable;              /* default of edges' `durable` */
    bool format_assert;        /* `format` asserts in schemas */
    ab_log_t *log;             /* borrowed; may be NULL */
    zsock_t *router;           /* the agent endpoint */
    ab_timer_t *timers;        /* every deadline */
    ab_store_t *store;         /* memory store: non-durable edges */
    ab_store_t *disk;          /* LMDB store: durable edges, or NULL */
    ab_store_t *ids;           /* where ids come from (disk, else store) */
    size_t memory_limit;       /* memory_limit: live_bytes + store's bytes */
    size_t live_bytes;         /* body bytes of live non-durable messages */
    int sync_ms;               /* sync: batch interval, else 0 */
    bool sync_due;             /* sync: batch: tick after this commit */
    uint64_t batch;            /* loop turns so far: the current batch */
    zlistx_t *outbox;          /* s_held_t *: sends waiting for commit */
    zlistx_t *vanished;        /* keys of instances a held DELIVER missed */
    zlistx_t *refused;         /* s_refused_t *: DELIVERs that never left */
    ab_outq_t *outq;           /* this turn's answers, sent at its end */
    s_inbound_t *inbound;      /* this turn's commands (S_BATCH) */
    size_t *checking;          /* indexes of inbound PUBs being checked */
    ab_pool_t *pool;           /* threads that check payloads */
    s_inbound_t *current;      /* the command being handled */
    bool pool_started;         /* the pool has this turn's checks */
    bool stored_durable;       /* this turn stored a durable message */
    zsock_t *admin;            /* admin REP socket, or NULL */
    char *admin_reply;         /* admin answer, sent after the commit */
    ab_pipeline_t *pipeline;   /* configured filter stages */
    s_generation_t *gen;       /* current topology generation */
    zlistx_t *retired;         /* s_generation_t * still finishing */
    zhashx_t *agents;          /* name → s_agent_t * */
    zhashx_t *sessions;        /* routing id hex → s_instance_t * */
    zhashx_t *copies;          /* id text → s_copy_t * (live copies) */
    zlistx_t *dirty;           /* s_agent_t * to dispatch this turn */
    ab_jsonw_t *out;           /* header of the answer being sent, reused */
    bool terminated;           /* $TERM received */
    size_t counters[C_COUNT_]; /* see s_counter_names */
    size_t rejects[AB_REJECT_COUNT_];  /* REJECTs sent, by code */
    size_t errors[AB_ERROR_COUNT_];   /* ERRORs sent, by code */
    size_t dead[AB_DEAD_REASON_COUNT_]; /* dead letters, by reason */
};

static int64_t
s_now (void)
{
    return zclock_mono ();
}

static int64_t
s_wall_ms (void)
{
    struct timeval now;
    gettimeofday (&now, NULL);
    return (int64_t)now.tv_sec * 1000 + now.tv_usec / 1000;
}

/* ---------------------------------------------------------------------
   Agents, queues and generations */

static s_agent_t *
s_agent_require (ab_broker_t *self, const char *name)
{
    s_agent_t *agent = zhashx_lookup (self->agents, name);
    if (agent)
        return agent;
    agent = calloc (1, sizeof *agent);
    assert (agent);
    agent->name = strdup (name);
    agent->instances = zlistx_new ();
    agent->queues = zlistx_new ();
    assert (agent->name && agent->instances && agent->queues);
    zhashx_insert (self->agents, name, agent);
    return agent;
}

static void
s_agent_destroy (void **item)
{
    s_agent_t *agent = *item;
    assert (zlistx_size (agent->instances) == 0);
    zlistx_destroy (&agent->instances);
    zlistx_destroy (&agent->queues);
    free (agent->name);
    free (agent);
    *item = NULL;
}

static s_queue_t *
s_queue_new (ab_broker_t *self, s_generation_t *gen, const ab_edge_t *edge,
             const char *to, const char *key)
{
    s_queue_t *queue = calloc (1, sizeof *queue);
    assert (queue);
    queue->edge = edge;
    queue->key = strdup (key);
    queue->gen = gen;
    queue->agent = s_agent_require (self, to);
    queue->agent_handle = zlistx_add_end (queue->agent->queues, queue);
    queue->strict = edge && edge->ordering == AB_ORDERING_STRICT;
    queue->ready = zlistx_new ();
    assert (queue->key && queue->ready);
    return queue;
}

static void
s_queue_destroy (s_queue_t **queue_p)
{
    s_queue_t *queue = *queue_p;
    if (!queue)
        return;
    assert (queue->pending == 0);
    zlistx_delete (queue->agent->queues, queue->agent_handle);
    zlistx_destroy (&queue->ready);
    ab_pipeline_destroy (&queue->filters);
    free (queue->key);
    free (queue);
    *queue_p = NULL;
}

static void s_generation_destroy (s_generation_t **gen_p);

/* The edge's own `filters:` stages, run after the broker-wide ones. */
static int
s_edge_filters (s_queue_t *queue, const char *path, ab_diag_t *diag)
{
    if (!queue->edge->filters)
        return 0;
    ab_filter_env_t env = {.file = path};
    queue->filters =
        ab_pipeline_new_from_config (queue->edge->filters, &env, diag);
    return queue->filters ? 0 : AB_EINVAL;
}

/* The edge's `durable:`, else the broker's default. */
static bool
s_edge_durable (const ab_broker_t *self, const ab_edge_t *edge)
{
    return edge->durable < 0 ? self->durable : edge->durable;
}

/* A generation for a loaded topology (taken). NULL when an edge's filter
   stages cannot be built (reasons in diag). */
static s_generation_t *
s_generation_new (ab_broker_t *self, ab_topology_t **topology_p,
                  ab_diag_t *diag)
{
    s_generation_t *gen = calloc (1, sizeof *gen);
    assert (gen);
    gen->topology = *topology_p;
    *topology_p = NULL;
    size_t edges = ab_topology_edge_count (gen->topology);
    size_t agents = ab_topology_agent_count (gen->topology);
    gen->queues = calloc (edges ? edges : 1, sizeof (s_queue_t *));
    gen->dead_queues = calloc ((agents ? agents : 1) * AB_DEAD_REASON_COUNT_,
                               sizeof (s_queue_t *));
    assert (gen->queues && gen->dead_queues);
    for (size_t i = 0; i < agents; i++)
        s_agent_require (self, ab_topology_agent_name (gen->topology, i));
    int rc = 0;
    for (size_t i = 0; i < edges; i++) {
        const ab_edge_t *edge = ab_topology_edge (gen->topology, i);
        char *key = ab_store_edge_key (edge->from, edge->to, edge->type);
        assert (key);
        gen->queues[i] = s_queue_new (self, gen, edge, edge->to, key);
        gen->queues[i]->durable = s_edge_durable (self, edge);
        free (key);
        if (s_edge_filters (gen->queues[i], self->topology_path, diag))
            rc = AB_EINVAL;
    }
    if (rc)
        s_generation_destroy (&gen);
    return gen;
}

/* The queue that delivers dead letters of `reason` to agent `to` (index
   in the generation's topology). One per reason, so that the key
   "dead_letter->AGENT:REASON" a durable copy is stored under tells
   recovery why it died. */
static s_queue_t *
s_generation_dead_queue (ab_broker_t *self, s_generation_t *gen, long to,
                         ab_dead_reason_t reason)
{
    assert (to >= 0);
    size_t slot = (size_t)to * AB_DEAD_REASON_COUNT_ + reason;
    if (!gen->dead_queues[slot]) {
        const char *name = ab_topology_agent_name (gen->topology, (size_t)to);
        char key[256];
        snprintf (key, sizeof key, "dead_letter->%s:%s", name,
                  ab_dead_reason_name (reason));
        gen->dead_queues[slot] = s_queue_new (self, gen, NULL, name, key);
    }
    return gen->dead_queues[slot];
}

static void
s_generation_destroy (s_generation_t **gen_p)
{
    s_generation_t *gen = *gen_p;
    if (!gen)
        return;
    size_t edges = ab_topology_edge_count (gen->topology);
    size_t agents = ab_topology_agent_count (gen->topology);
    for (size_t i = 0; i < edges; i++)
        s_queue_destroy (&gen->queues[i]);
    for (size_t i = 0; i < agents * AB_DEAD_REASON_COUNT_; i++)
        s_queue_destroy (&gen->dead_queues[i]);
    free (gen->queues);
    free (gen->dead_queues);
    ab_topology_unref (&gen->topology);
    free (gen);
    *gen_p = NULL;
}

/* Frees retired generations whose last copy is done. */
static void
s_generation_reap (ab_broker_t *self, s_generation_t *gen)
{
    if (gen == self->gen || gen->pending)
        return;
    void *handle = zlistx_find (self->retired, gen);
    if (handle) {
        zlistx_delete (self->retired, handle);
        ab_log_printf (self->log, AB_LOG_INFO,
                       "topology %s retired: its last copy is done",
                       ab_topology_id (gen->topology));
        s_generation_destroy (&gen);
    }
}

/* ---------------------------------------------------------------------
   Sending. Every answer and delivery goes through s_send, which counts
   attachment bytes and the bytes libzmq had to copy. */

/* One answer or delivery held until the turn's batch is committed. */
typedef struct {
    zmq_msg_t routing_id; /* addressee (a copy) */
    ab_cmd_t command;     /* what */
    char *header;         /* header as JSON text (owned) */
    size_t header_size;   /* bytes of header */
    zmq_msg_t *body;      /* frames 3... (copies, owned) or NULL */
    size_t body_count;    /* entries in body */
    char *deliver_to;     /* DELIVER: the instance's key, else NULL */
    uint64_t copy_id;     /* DELIVER: the copy's id (ab_outq_tag) */
    bool fresh;           /* OK/DELIVER of a message stored this batch:
                             a failed commit turns it into a REJECT or
                             drops it */
} s_held_t;

static void
s_held_destroy (void **item)
{
    s_held_t *held = *item;
    zmq_msg_close (&held->routing_id);
    free (held->header);
    ab_frames_free (held->body, held->body_count);
    free (held->deliver_to);
    free (held);
    *item = NULL;
}

static int s_send_now (ab_broker_t *self, zmq_msg_t *routing_id,
                       ab_cmd_t command, const char *header, size_t header_size,
                       zmq_msg_t *body, size_t body_count);

/* Holds a send in the outbox (header copied, body frames shared). */
static s_held_t *
s_hold (ab_broker_t *self, zmq_msg_t *routing_id, ab_cmd_t command,
        const char *header, size_t header_size, zmq_msg_t *body,
        size_t body_count)
{
    s_held_t *held = calloc (1, sizeof *held);
    assert (held);
    zmq_msg_init (&held->routing_id);
    zmq_msg_copy (&held->routing_id, routing_id);
    held->command = command;
    held->header = malloc (header_size + 1);
    assert (held->header);
    memcpy (held->header, header, header_size + 1);
    held->header_size = header_size;
    if (body_count) {
        held->body = calloc (body_count, sizeof (zmq_msg_t));
        assert (held->body);
        held->body_count = body_count;
        for (size_t i = 0; i < body_count; i++) {
            zmq_msg_init (&held->body[i]);
            zmq_msg_copy (&held->body[i], &body[i]);
        }
    }
    zlistx_add_end (self->outbox, held);
    return held;
}

/* Sends now, or holds while a disk store's batch is open. `header` is
   JSON text (NUL-terminated). */
static int
s_send (ab_broker_t *self, zmq_msg_t *routing_id, ab_cmd_t command,
        const char *header, size_t header_size, zmq_msg_t *body,
        size_t body_count)
{
    if (self->disk && ab_store_in_batch (self->disk)) {
        s_hold (self, routing_id, command, header, header_size, body,
                body_count);
        return 0;
    }
    return s_send_now (self, routing_id, command, header, header_size, body,
                       body_count);
}

/* s_send with a json_t header (taken; NULL = {}): for the answers off
   the hot path, which are easier to build with json_pack. */
static int
s_send_json (ab_broker_t *self, zmq_msg_t *routing_id, ab_cmd_t command,
             json_t *header, zmq_msg_t *body, size_t body_count)
{
    char *text = header ? json_dumps (header, JSON_COMPACT) : strdup ("{}");
    json_decref (header);
    if (!text) {
        self->counters[C_SEND_FAILURES]++;
        return AB_ENOMEM;
    }
    int rc = s_send (self, routing_id, command, text, strlen (text), body,
                     body_count);
    free (text);
    return rc;
}

/* s_send of the header written in self->out. */
static int
s_send_out (ab_broker_t *self, zmq_msg_t *routing_id, ab_cmd_t command,
            zmq_msg_t *body, size_t body_count)
{
    size_t size = 0;
    const char *text = ab_jsonw_text (self->out, &size);
    if (!text) {
        self->counters[C_SEND_FAILURES]++;
        return AB_ENOMEM;
    }
    return s_send (self, routing_id, command, text, size, body, body_count);
}

/* Queues the message for the end of the turn (s_wire_flush). A peer
   that is gone is found then: see s_wire_failed. */
static int
s_send_now (ab_broker_t *self, zmq_msg_t *routing_id, ab_cmd_t command,
            const char *header, size_t header_size, zmq_msg_t *body,
            size_t body_count)
{
    size_t copied = 0;
    int rc = ab_outq_add (self->outq, routing_id, command, header, header_size,
                          body, body_count, &copied);
    if (rc) {
        self->counters[C_SEND_FAILURES]++;
        ab_log_printf (self->log, AB_LOG_DEBUG, "%s not sent: %s",
                       ab_cmd_name (command), ab_strerror (rc));
        return rc;
    }
    for (size_t i = 1; i < body_count; i++)
        self->counters[C_ATTACHMENT_BYTES] += zmq_msg_size (&body[i]);
    self->counters[C_ATTACHMENT_BYTES_COPIED] += copied;
    return 0;
}

static void s_session_key (zmq_msg_t *routing_id, char *key, size_t key_size);

/* A DELIVER the socket refused: the copy and the instance it was for. */
typedef struct {
    uint64_t copy_id; /* the copy */
    char *key;        /* the instance's session key (owned) */
} s_refused_t;

static void
s_refused_destroy (void **item)
{
    s_refused_t *refused = *item;
    free (refused->key);
    free (refused);
    *item = NULL;
}

/* A queued message the socket refused: its peer is gone. A DELIVER's
   instance is forgotten at the start of the next turn, its copies
   requeued, as s_dispatch would have done at once; the refused copy
   itself never left, so it is not an attempt (s_forget_vanished). */
static void
s_wire_failed (void *arg, zmq_msg_t *routing_id, ab_cmd_t command, uint64_t tag,
               int rc)
{
    ab_broker_t *self = arg;
    self->counters[C_SEND_FAILURES]++;
    ab_log_printf (self->log, AB_LOG_DEBUG, "%s not sent: %s",
                   ab_cmd_name (command), ab_strerror (rc));
    if (command != AB_CMD_DELIVER)
        return;
    char key[520];
    s_session_key (routing_id, key, sizeof key);
    char *gone = strdup (key);
    if (gone)
        zlistx_add_end (self->vanished, gone);
    s_refused_t *refused = calloc (1, sizeof *refused);
    if (refused && tag && (refused->key = strdup (key))) {
        refused->copy_id = tag;
        zlistx_add_end (self->refused, refused);
    } else
        free (refused);
}

/* Lets the turn's answers go, in the order they were made. */
static void
s_wire_flush (ab_broker_t *self)
{
    if (ab_outq_size (self->outq))
        ab_outq_send (self->outq, zsock_resolve (self->router), s_wire_failed,
                      self);
}

static void s_error (ab_broker_t *self, zmq_msg_t *routing_id, ab_error_code_t code,
                     const char *format, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
s_error (ab_broker_t *self, zmq_msg_t *routing_id, ab_error_code_t code,
         const char *format, ...)
{
    char message[512];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    self->errors[code]++;
    ab_log_printf (self->log, AB_LOG_DEBUG, "ERROR %s: %s", ab_error_name (code),
                   message);
    s_send_json (self, routing_id, AB_CMD_ERROR,
                 json_pack ("{s:s, s:s}", "code", ab_error_name (code),
                            "message", message),
                 NULL, 0);
}

/* A REJECT echoing `echo_key` (id or msg) = `echo` (may be NULL), with
   `errors` (taken; may be NULL). */
static void s_reject (ab_broker_t *self, zmq_msg_t *routing_id,
                      const char *echo_key, json_t *echo, ab_reject_t code,
                      json_t *errors, const char *format, ...)
    __attribute__ ((format (printf, 7, 8)));

static void
s_reject (ab_broker_t *self, zmq_msg_t *routing_id, const char *echo_key,
          json_t *echo, ab_reject_t code, json_t *errors, const char *format,
          ...)
{
    char message[512];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    self->rejects[code]++;
    ab_log_printf (self->log, AB_LOG_DEBUG, "REJECT %s: %s",
                   ab_reject_name (code), message);
    json_t *header = json_pack ("{s:s, s:s}", "code", ab_reject_name (code),
                                "message", message);
    if (echo)
        json_object_set (header, echo_key, echo);
    if (errors)
        json_object_set_new (header, "errors", errors);
    s_send_json (self, routing_id, AB_CMD_REJECT, header, NULL, 0);
}

/* ---------------------------------------------------------------------
   Messages and copies */

static void
s_message_unref (ab_broker_t *self, s_message_t **message_p)
{
    s_message_t *message = *message_p;
    *message_p = NULL;
    if (!message || --message->refs > 0)
        return;
    self->live_bytes -= message->bytes;
    free (message->type);
    free (message->from);
    json_decref (message->producer_id);
    free (message->traceparent);
    ab_frames_free (message->body, message->body_count);
    free (message);
}

static void
s_request_destroy (ab_broker_t *self, s_request_t **request_p)
{
    s_request_t *request = *request_p;
    if (!request)
        return;
    ab_timer_cancel (self->timers, request->timeout);
    free (request->requester_key);
    zmq_msg_close (&request->requester);
    json_decref (request->id);
    free (request);
    *request_p = NULL;
}

/* The store record of a copy. */
static ab_copy_t
s_copy_record (const s_copy_t *copy, ab_copy_state_t state)
{
    return (ab_copy_t){.id = copy->id,
                       .message_id = copy->message->id,
                       .edge = copy->edge->index,
                       .edge_key = copy->queue->key,
                       .attempts = copy->attempts,
                       .state = state};
}

/* Makes copy `id` of `message` on `queue`, not stored (yet). */
static s_copy_t *
s_copy_make (ab_broker_t *self, s_queue_t *queue, const ab_edge_t *edge,
             s_message_t *message, uint64_t id)
{
    s_copy_t *copy = calloc (1, sizeof *copy);
    assert (copy);
    copy->id = id;
    ab_decimal_u64 (copy->id_text, copy->id);
    copy->message = message;
    message->refs++;
    copy->queue = queue;
    copy->edge = edge;
    queue->pending++;
    queue->gen->pending++;
    zhashx_insert (self->copies, &copy->id, copy);
    /* the sooner of the PUB's ttl_ms and the edge's */
    int64_t expires = message->expires;
    if (edge->ttl_ms > 0 && (!expires || s_now () + edge->ttl_ms < expires))
        expires = s_now () + edge->ttl_ms;
    if (expires)
        copy->ttl_timer =
            ab_timer_add (self->timers, expires, S_TIMER_TTL, copy);
    self->counters[C_COPIES_QUEUED]++;
    return copy;
}

static void s_copy_forget (ab_broker_t *self, s_copy_t *copy, bool stored);

/* Makes a copy of `message` waiting on `queue` and stores it in the
   message's store. NULL with the store's error in *rc_p when there is
   no id or the store refused it. */
static s_copy_t *
s_copy_new (ab_broker_t *self, s_queue_t *queue, const ab_edge_t *edge,
            s_message_t *message, int *rc_p)
{
    uint64_t id = 0;
    int rc = ab_store_next_id (self->ids, &id);
    s_copy_t *copy = rc ? NULL : s_copy_make (self, queue, edge, message, id);
    if (copy && message->store == self->disk) {
        ab_copy_t record = s_copy_record (copy, AB_COPY_QUEUED);
        rc = ab_store_put_copy (self->disk, &record);
    }
    if (rc)
        ab_log_printf (self->log, AB_LOG_ERROR, "store: a copy on %s: %s",
                       queue->key, ab_strerror (rc));
    if (rc && copy)
        s_copy_forget (self, copy, false);
    *rc_p = rc;
    return rc ? NULL : copy;
}

/* Takes the copy off its holder, if any, freeing one credit; the holder
   is remembered when the copy will be delivered again. */
static void
s_copy_unhold (ab_broker_t *self, s_copy_t *copy, bool remember)
{
    if (!copy->instance)
        return;
    zlistx_delete (copy->instance->inflight, copy->instance_handle);
    if (remember) {
        free (copy->last_instance);
        copy->last_instance = strdup (copy->instance->key);
    }
    copy->instance = NULL;
    copy->instance_handle = NULL;
    ab_timer_cancel (self->timers, copy->timer);
    copy->timer = 0;
}

/* Forgets a copy everywhere; `stored` false when the store already moved
   it (to its dead letters). */
static void
s_copy_forget (ab_broker_t *self, s_copy_t *copy, bool stored)
{
    s_copy_unhold (self, copy, false);
    ab_timer_cancel (self->timers, copy->timer);
    ab_timer_cancel (self->timers, copy->ttl_timer);
    if (copy->ready_handle)
        zlistx_delete (copy->queue->ready, copy->ready_handle);
    zhashx_delete (self->copies, &copy->id);
    if (stored && copy->message->store == self->disk)
        ab_store_del_copy (self->disk, copy->id);
    s_request_destroy (self, &copy->request);
    json_decref (copy->dead);
    ab_frames_free (copy->body, copy->body_count);
    s_message_unref (self, &copy->message);
    free (copy->last_instance);
    s_queue_t *queue = copy->queue;
    queue->pending--;
    queue->gen->pending--;
    free (copy);
    s_generation_reap (self, queue->gen);
}

/* Puts a copy where s_dispatch finds it. A retried copy goes first: it
   is older than everything behind it. In a strict queue it never left. */
static void
s_copy_ready (s_copy_t *copy, bool retry)
{
    copy->state = S_COPY_WAITING;
    if (copy->ready_handle)
        return;
    copy->ready_handle = retry ? zlistx_add_start (copy->queue->ready, copy)
                               : zlistx_add_end (copy->queue->ready, copy);
}

/* ---------------------------------------------------------------------
   Delivery: competing consumers, credit windows, round robin */

/* An instance of `agent` with free credit, preferring one other than
   `avoid` (a retry goes to another replica when there is one). Rotates
   the list so the next pick starts after this one. */
static s_instance_t *
s_pick_instance (s_agent_t *agent, const char *avoid)
{
    s_instance_t *fallback = NULL;
    s_instance_t *inst = zlistx_first (agent->instances);
    for (; inst; inst = zlistx_next (agent->instances)) {
        if (zlistx_size (inst->inflight) >= inst->credit)
            continue;
        if (avoid && strcmp (inst->key, avoid) == 0) {
            fallback = inst;
            continue;
        }
        break;
    }
    if (!inst)
        inst = fallback;
    if (inst)
        zlistx_move_end (agent->instances, inst->agent_handle);
    return inst;
}

/* The header of a dead-letter delivery: rare, so built as a json_t
   (copy->dead merged in, as it may name any key). */
static json_t *
s_dead_deliver_header (s_copy_t *copy)
{
    s_message_t *message = copy->message;
    json_t *header = json_pack (
        "{s:s, s:s, s:i, s:s, s:i, s:b}", "msg", copy->id_text, "type",
        S_DEAD_LETTER_TYPE, "version", 1, "from", message->from, "attempt",
        copy->attempts, "request", copy->request != NULL);
    if (message->producer_id)
        json_object_set (header, "id", message->producer_id);
    if (message->has_seq)
        json_object_set_new (header, "seq", json_integer (message->seq));
    if (message->traceparent)
        json_object_set_new (header, "traceparent",
                             json_string (message->traceparent));
    json_object_update (header, copy->dead);
    return header;
}

/* Writes the DELIVER header of `copy` into self->out. */
static void
s_deliver_header (ab_broker_t *self, s_copy_t *copy)
{
    s_message_t *message = copy->message;
    ab_jsonw_t *out = self->out;
    ab_jsonw_reset (out);
    if (copy->dead) {
        json_t *header = s_dead_deliver_header (copy);
        const char *key;
        json_t *value;
        json_object_foreach (header, key, value)
            ab_jsonw_value (out, key, value);
        json_decref (header);
        return;
    }
    ab_jsonw_string (out, "msg", copy->id_text);
    ab_jsonw_string (out, "type", message->type);
    ab_jsonw_int (out, "version", message->version);
    ab_jsonw_string (out, "from", message->from);
    ab_jsonw_int (out, "attempt", copy->attempts);
    ab_jsonw_bool (out, "request", copy->request != NULL);
    if (message->producer_id)
        ab_jsonw_value (out, "id", message->producer_id);
    if (message->has_seq)
        ab_jsonw_int (out, "seq", message->seq);
    if (message->traceparent)
        ab_jsonw_string (out, "traceparent", message->traceparent);
}

static void s_instance_gone (ab_broker_t *self, s_instance_t *inst,
                             bool count_attempt);

/* Takes a copy out of the ready list until `delay_ms` from now. */
static void
s_copy_later (ab_broker_t *self, s_copy_t *copy, int64_t delay_ms)
{
    if (!copy->queue->strict && copy->ready_handle) {
        zlistx_delete (copy->queue->ready, copy->ready_handle);
        copy->ready_handle = NULL;
    }
    copy->state = S_COPY_BACKOFF;
    copy->timer =
        ab_timer_add (self->timers, s_now () + delay_ms, S_TIMER_BACKOFF, copy);
}

/* Sends one copy to one instance; it is then in flight until ACK, NACK,
   REP, the ack timeout or the instance's death. Returns false when the
   peer is gone (the copy stays queued). */
static bool
s_deliver (ab_broker_t *self, s_copy_t *copy, s_instance_t *inst)
{
    s_message_t *message = copy->message;
    ab_message_t *stored = NULL;
    zmq_msg_t *body = copy->body ? copy->body : message->body;
    size_t count = copy->body ? copy->body_count : message->body_count;
    if (!body) { /* durable: the frames are read back */
        int rc = ab_store_get_message (message->store, message->id, &stored);
        if (rc) {
            ab_log_printf (self->log, AB_LOG_ERROR,
                           "store: message %" PRIu64 " of copy %s: %s",
                           message->id, copy->id_text, ab_strerror (rc));
            s_copy_later (self, copy, S_READ_RETRY_MS);
            return true;
        }
        body = stored->frames;
        count = stored->frame_count;
    }
    copy->attempts++;
    s_deliver_header (self, copy);
    size_t size = 0;
    const char *header = ab_jsonw_text (self->out, &size);
    int rc = header ? 0 : AB_ENOMEM;
    if (rc == 0 && self->disk && ab_store_in_batch (self->disk)) {
        s_held_t *held = s_hold (self, &inst->routing_id, AB_CMD_DELIVER,
                                 header, size, body, count);
        held->deliver_to = strdup (inst->key);
        held->fresh =
            message->store == self->disk && message->batch == self->batch;
        held->copy_id = copy->id;
    } else if (rc == 0) {
        rc = s_send_now (self, &inst->routing_id, AB_CMD_DELIVER, header, size,
                         body, count);
        if (rc == 0)
            ab_outq_tag (self->outq, copy->id);
    }
    ab_message_destroy (&stored);
    if (rc) {
        copy->attempts--;
        return false;
    }
    if (!copy->queue->strict) {
        zlistx_delete (copy->queue->ready, copy->ready_handle);
        copy->ready_handle = NULL;
    }
    copy->state = S_COPY_INFLIGHT;
    copy->instance = inst;
    copy->instance_handle = zlistx_add_end (inst->inflight, copy);
    copy->timer = ab_timer_add (
        self->timers, s_now () + copy->edge->ack_timeout_ms, S_TIMER_ACK, copy);
    self->counters[copy->attempts > 1 ? C_REDELIVERED : C_DELIVERED]++;
    if (message->store == self->disk) {
        ab_copy_t record = s_copy_record (copy, AB_COPY_INFLIGHT);
        ab_store_put_copy (self->disk, &record);
    }
    return true;
}

/* The copy `queue` would deliver next, or NULL. */
static s_copy_t *
s_queue_next (s_queue_t *queue)
{
    s_copy_t *copy = zlistx_first (queue->ready);
    if (copy && copy->state != S_COPY_WAITING)
        return NULL; /* strict: the head is in flight or backing off */
    return copy;
}

/* Delivers waiting copies of every queue of `agent`, one per queue per
   round so edges share the agent's instances fairly, until no copy waits
   or no instance has credit. */
static void
s_dispatch (ab_broker_t *self, s_agent_t *agent)
{
    bool progress = true;
    while (progress && zlistx_size (agent->instances)) {
        progress = false;
        s_queue_t *queue = zlistx_first (agent->queues);
        for (; queue; queue = zlistx_next (agent->queues)) {
            s_copy_t *copy = s_queue_next (queue);
            if (!copy)
                continue;
            s_instance_t *inst = s_pick_instance (agent, copy->last_instance);
            if (!inst)
                return;
            progress = true;
            if (!s_deliver (self, copy, inst)) {
                /* the peer vanished without BYE: forget it now rather
                   than at its heartbeat; the copy stays first. The
                   instance list changed, so start a new round. */
                s_instance_gone (self, inst, true);
                break;
            }
        }
    }
}

/* Something changed for `agent` (a copy waits, credit freed, an instance
   came): it is dispatched at the end of the loop turn. Handlers never
   dispatch themselves, so nothing re-enters a loop over a list. */
static void
s_mark (ab_broker_t *self, s_agent_t *agent)
{
    if (!agent->dirty) {
        agent->dirty = true;
        zlistx_add_end (self->dirty, agent);
    }
}

static void
s_flush (ab_broker_t *self)
{
    s_agent_t *agent;
    while ((agent = zlistx_first (self->dirty))) {
        zlistx_delete (self->dirty, zlistx_cursor (self->dirty));
        agent->dirty = false;
        s_dispatch (self, agent);
    }
}

/* ---------------------------------------------------------------------
   Retry, dead letters, failed requests */

/* The requester gets `REJECT timeout`; the request is over. */
static void
s_request_fail (ab_broker_t *self, s_copy_t *copy, const char *why)
{
    s_request_t *request = copy->request;
    self->counters[C_REQUESTS_TIMED_OUT]++;
    if (zhashx_lookup (self->sessions, request->requester_key))
        s_reject (self, &request->requester, "id", request->id, AB_REJECT_TIMEOUT, NULL,
                  "request %s: %s", copy->id_text, why);
    s_mark (self, copy->queue->agent);
    s_copy_forget (self, copy, true);
}

/* The {reason, original} of a dead-letter delivery of `message`, which
   died on `edge` after `attempts` deliveries. */
static json_t *
s_dead_header (const s_message_t *message, const ab_edge_t *edge, int attempts,
               ab_dead_reason_t reason)
{
    return json_pack ("{s:s, s:{s:s, s:i, s:s, s:s, s:O?, s:i}}", "reason",
                      ab_dead_reason_name (reason), "original", "type",
                      message->type, "version", message->version, "from",
                      message->from, "to", edge->to, "id", message->producer_id,
                      "attempts", attempts);
}

/* Queues an agentbus.dead_letter delivery of `copy` to agent `to`.
   False when the store refused it. */
static bool
s_dead_to_agent (ab_broker_t *self, s_copy_t *copy, long to,
                 ab_dead_reason_t reason)
{
    s_queue_t *queue =
        s_generation_dead_queue (self, copy->queue->gen, to, reason);
    int rc;
    s_copy_t *dead = s_copy_new (self, queue, copy->edge, copy->message, &rc);
    if (!dead)
        return false;
    dead->dead =
        s_dead_header (copy->message, copy->edge, copy->attempts, reason);
    /* the original's ttl is over or irrelevant: the dead letter itself
       must not expire into another dead letter */
    ab_timer_cancel (self->timers, dead->ttl_timer);
    dead->ttl_timer = 0;
    s_copy_ready (dead, false);
    s_mark (self, queue->agent);
    return true;
}

/* Puts a live non-durable copy and its message into the memory store,
   which until now never held them: the broker alone keeps live
   non-durable state, and the store takes what outlives it, a dead
   letter. The header text is not kept: only disk recovery reads it. */
static int
s_memory_put (ab_broker_t *self, s_copy_t *copy)
{
    s_message_t *message = copy->message;
    ab_message_t record = {.id = message->id,
                           .type = message->type,
                           .version = message->version,
                           .from = message->from,
                           .producer_id =
                               json_string_value (message->producer_id),
                           .has_seq = message->has_seq,
                           .seq = message->seq,
                           .traceparent = message->traceparent,
                           .request = message->request,
                           .header = "{}",
                           .frames = message->body,
                           .frame_count = message->body_count};
    if (message->expires)
        record.expires_ms = message->expires - s_now () + s_wall_ms ();
    int rc = ab_store_put_message (self->store, &record);
    bool fresh = rc == 0;
    if (rc == AB_EEXIST) /* an earlier copy of it died into the store */
        rc = 0;
    ab_copy_t state = s_copy_record (copy, AB_COPY_QUEUED);
    if (rc == 0)
        rc = ab_store_put_copy (self->store, &state);
    if (rc && fresh)
        ab_store_del_message (self->store, message->id);
    return rc;
}

/* A copy that will never be delivered again: to the edge's dead_letter
   agent as an agentbus.dead_letter delivery, else (or when that delivery
   itself dies) into the store's dead letters. Never dropped. */
static void
s_dead_letter (ab_broker_t *self, s_copy_t *copy, ab_dead_reason_t reason)
{
    if (copy->request) {
        s_request_fail (self, copy, ab_dead_reason_name (reason));
        return;
    }
    self->dead[reason]++;
    s_mark (self, copy->queue->agent);
    s_copy_unhold (self, copy, false);
    ab_log_printf (self->log, AB_LOG_WARNING,
                   "dead letter: copy %s of %s from %s on %s: %s",
                   copy->id_text, copy->message->type, copy->message->from,
                   copy->queue->key, ab_dead_reason_name (reason));
    long to = copy->edge->dead_letter_agent;
    if (!copy->dead && to >= 0 && s_dead_to_agent (self, copy, to, reason)) {
        self->counters[C_DEAD_TO_AGENT]++;
        s_copy_forget (self, copy, true);
        return;
    }
    bool disk = copy->message->store == self->disk;
    int rc = disk ? 0 : s_memory_put (self, copy);
    if (rc == 0)
        rc = ab_store_dead_letter (copy->message->store, copy->id, reason,
                                   s_wall_ms ());
    if (rc && !disk) /* the copy (if put) goes; the message stays if held */
        ab_store_del_copy (self->store, copy->id);
    if (rc)
        ab_log_printf (self->log, AB_LOG_ERROR, "store: dead letter %s: %s",
                       copy->id_text, ab_strerror (rc));
    self->counters[C_DEAD_TO_STORE]++;
    /* moved, or when the disk store could not move it, its live copy
       stays there and comes back at the next start rather than vanish */
    s_copy_forget (self, copy, false);
}

/* A copy comes back from its holder (ack timeout, NACK requeue, death:
   `counted`; BYE: not counted, the attempt did not happen). */
static void
s_retry (ab_broker_t *self, s_copy_t *copy, bool counted)
{
    s_mark (self, copy->queue->agent);
    s_copy_unhold (self, copy, true);
    if (!counted) {
        copy->attempts--;
        s_copy_ready (copy, true);
        return;
    }
    if (copy->attempts >= copy->edge->max_attempts) {
        s_dead_letter (self, copy, AB_DEAD_MAX_ATTEMPTS);
        return;
    }
    int shift = copy->attempts - 1;
    if (shift > S_BACKOFF_MAX_SHIFT)
        shift = S_BACKOFF_MAX_SHIFT;
    int64_t backoff = copy->edge->retry_backoff_ms << shift;
    if (backoff <= 0) {
        s_copy_ready (copy, true);
        return;
    }
    s_copy_later (self, copy, backoff);
}

/* ---------------------------------------------------------------------
   Sessions */

static void
s_instance_gone (ab_broker_t *self, s_instance_t *inst, bool count_attempt)
{
    s_agent_t *agent = inst->agent;
    zlistx_delete (agent->instances, inst->agent_handle);
    zhashx_delete (self->sessions, inst->key);
    ab_timer_cancel (self->timers, inst->heartbeat);
    s_copy_t *copy;
    while ((copy = zlistx_first (inst->inflight)))
        s_retry (self, copy, count_attempt);
    s_mark (self, agent);
    zlistx_destroy (&inst->inflight);
    zmq_msg_close (&inst->routing_id);
    free (inst->key);
    free (inst->name);
    free (inst);
}

static void
s_heartbeat_check (ab_broker_t *self, s_instance_t *inst)
{
    int64_t silence = S_HEARTBEAT_LIVES * self->heartbeat_ms;
    if (s_now () - inst->last_seen < silence) {
        inst->heartbeat = ab_timer_add (self->timers, inst->last_seen + silence,
                                        S_TIMER_HEARTBEAT, inst);
        return;
    }
    ab_log_printf (self->log, AB_LOG_INFO,
                   "instance %s of %s silent for %" PRId64 " ms: dead",
                   inst->name ? inst->name : inst->key, inst->agent->name,
                   silence);
    self->counters[C_INSTANCES_DEAD]++;
    s_instance_gone (self, inst, true);
}

/* ---------------------------------------------------------------------
   Header fields */

/* One optional header field and what it must be. */
typedef struct {
    const char *name; /* header key */
    json_type type;   /* JSON_STRING or JSON_INTEGER */
    int64_t min;      /* integers: smallest allowed */
    int64_t max;      /* integers: largest; strings: most bytes */
} s_field_t;

/* Ten years in milliseconds: durations beyond it are mistakes, and the
   bound keeps `now + duration` far from overflow. */
#define S_MAX_MS ((int64_t)10 * 366 * 24 * 3600 * 1000)

/* PUB and REQ header fields (protocol §3). */
static const s_field_t s_pub_fields[] = {
    {"type", JSON_STRING, 0, 128},
    {"version", JSON_INTEGER, 1, INT_MAX},
    {"id", JSON_STRING, 0, 128},
    {"seq", JSON_INTEGER, 0, INT64_MAX},
    {"ttl_ms", JSON_INTEGER, 0, S_MAX_MS},
    {"traceparent", JSON_STRING, 0, 256},
    {"timeout_ms", JSON_INTEGER, 1, S_MAX_MS},
};

/* Checks the fields of `header` named in `fields`. Returns 0, or -1 with
   a reason in `why`. */
static int
s_check_fields (const json_t *header, const s_field_t *fields, size_t count,
                char *why, size_t why_size)
{
    for (size_t i = 0; i < count; i++) {
        const s_field_t *field = &fields[i];
        const json_t *value = json_object_get (header, field->name);
        if (!value)
            continue;
        bool good = field->type == JSON_STRING
                        ? json_is_string (value) &&
                              (int64_t)json_string_length (value) <= field->max
                        : json_is_integer (value) &&
                              json_integer_value (value) >= field->min &&
                              json_integer_value (value) <= field->max;
        if (good)
            continue;
        if (field->type == JSON_STRING)
            snprintf (why, why_size,
                      "header '%s' must be a string of at most %" PRId64
                      " bytes",
                      field->name, field->max);
        else
            snprintf (why, why_size,
                      "header '%s' must be an integer from %" PRId64
                      " to %" PRId64,
                      field->name, field->min, field->max);
        return -1;
    }
    return 0;
}

static int64_t
s_int_field (const json_t *header, const char *name, int64_t otherwise)
{
    const json_t *value = json_object_get (header, name);
    return json_is_integer (value) ? json_integer_value (value) : otherwise;
}

static const char *
s_string_field (const json_t *header, const char *name)
{
    return json_string_value (json_object_get (header, name));
}

/* The copy id written in `text` as the broker writes ids (decimal, no
   sign, no leading zero), else 0, which is no copy's. */
static uint64_t
s_copy_id (const char *text, size_t size)
{
    if (size == 0 || size >= AB_DECIMAL_SIZE || text[0] == '0')
        return 0;
    uint64_t id = 0;
    for (size_t i = 0; i < size; i++) {
        unsigned digit = (unsigned char)text[i] - '0';
        if (digit > 9 || id > (UINT64_MAX - digit) / 10)
            return 0;
        id = id * 10 + digit;
    }
    return id;
}

/* The copy named by the header's `msg` (a string, or an integer for
   lenient clients) that `inst` holds in flight, or NULL. */
static s_copy_t *
s_held_copy (ab_broker_t *self, s_instance_t *inst, const json_t *header)
{
    const json_t *msg = json_object_get (header, "msg");
    uint64_t id = 0;
    if (json_is_integer (msg) && json_integer_value (msg) > 0)
        id = (uint64_t)json_integer_value (msg);
    else if (json_is_string (msg))
        id = s_copy_id (json_string_value (msg), json_string_length (msg));
    s_copy_t *copy = id ? zhashx_lookup (self->copies, &id) : NULL;
    if (!copy || copy->state != S_COPY_INFLIGHT || copy->instance != inst)
        return NULL;
    return copy;
}

/* ---------------------------------------------------------------------
   PUB and REQ: validate, filter, route, store, answer */

/* One PUB or REQ on its way through the broker. */
typedef struct {
    s_instance_t *inst;        /* the sender */
    json_t *header;            /* its header (borrowed) */
    json_t *echo;              /* the header's `id` (borrowed) or NULL */
    bool request;              /* REQ */
    const char *type;          /* message type (borrowed from header) */
    int version;               /* resolved version */
    const ab_schema_t *schema; /* what the payload must match */
    json_t *payload;           /* parsed payload (owned), or NULL when nothing
                                  needs the tree (s_check_payload) */
    s_queue_t **targets;       /* queues it goes to (owned array) */
    size_t target_count;       /* entries in targets */
    ab_reject_t code;           /* why it was rejected */
    char why[512];             /* REJECT message */
    json_t *errors;            /* REJECT errors (owned) or NULL */
    char **rewrites;           /* per target: payload rewritten by the edge's
                                  stages, or NULL (owned) */
} s_pub_t;

struct _s_inbound_t {
    zmq_msg_t routing_id; /* the sender */
    ab_proto_t *proto;    /* the command, or NULL when it broke the
                             frame table */
    int rc;               /* ab_proto_recv's answer */
    char why[256];        /* and its reason */
    bool checked;         /* a PUB or REQ resolved ahead: pub and check
                             hold the outcome (and own payload, errors) */
    bool pooled;          /* and its payload handed to the pool */
    atomic_bool done;     /* pooled: the pool has checked it */
    int check;            /* 0 valid, -1 rejected (pub.code, pub.why) */
    s_pub_t pub;          /* the PUB so far */
};

/* Parses the payload and runs the §8 attachment check and the schema.
   Returns -1 when all passed (*payload_p set), else a REJECT code with
   a reason and, for `invalid`, *errors_p. */
static int
s_check_payload (const ab_schema_t *schema, zmq_msg_t *body, size_t count,
                 bool need_tree, json_t **payload_p, char *why, size_t why_size,
                 json_t **errors_p)
{
    const char *text = zmq_msg_data (&body[0]);
    size_t size = zmq_msg_size (&body[0]);
    /* jansson skips a NUL byte after a number; RFC 8259 does not */
    const char *nul = memchr (text, 0, size);
    if (nul) {
        snprintf (why, why_size, "payload is not JSON: a NUL byte at %zu",
                  (size_t)(nul - text));
        return AB_REJECT_MALFORMED;
    }
    /* Nothing will read the tree: that the text is JSON is all there is
       to check (ab_jsonscan.h). Without attachments and without a
       "frame" key there is no tensor reference to check either. */
    ab_jsonscan_t scan;
    bool check_only =
        !need_tree && count == 1 && ab_schema_accepts_all (schema);
    int rc = check_only ? ab_jsonscan_check (text, size, &scan) : 0;
    if (check_only && rc == 0 && !scan.frame_key) {
        *payload_p = NULL;
        return -1;
    }
    json_t *payload = rc ? NULL : ab_jsonscan_load (text, size, &scan);
    if (!payload) {
        snprintf (why, why_size, "payload is not JSON: %s at byte %zu",
                  scan.why, scan.offset);
        return AB_REJECT_MALFORMED;
    }
    /* on the heap: the frame count is the sender's choice */
    size_t *sizes = calloc (count, sizeof (size_t));
    assert (sizes);
    for (size_t i = 1; i < count; i++)
        sizes[i - 1] = zmq_msg_size (&body[i]);
    int refs = ab_tensor_check_refs (payload, sizes, count - 1, why, why_size);
    free (sizes);
    if (refs) {
        json_decref (payload);
        return AB_REJECT_MALFORMED;
    }
    rc = ab_schema_validate (schema, payload, errors_p);
    if (rc) {
        const json_t *first = json_array_get (*errors_p, 0);
        /* the first error's message names its path */
        snprintf (why, why_size, "payload does not match its schema: %s",
                  s_string_field (first, "message") ?: ab_strerror (rc));
        json_decref (payload);
        return AB_REJECT_INVALID;
    }
    *payload_p = payload;
    return -1;
}

/* The header's fields, then the type and version: what the payload will
   be checked against. On the broker's thread (topology lookups). */
static int
s_pub_resolve (ab_broker_t *self, s_pub_t *pub)
{
    if (s_check_fields (pub->header, s_pub_fields,
                        sizeof s_pub_fields / sizeof s_pub_fields[0], pub->why,
                        sizeof pub->why)) {
        pub->code = AB_REJECT_MALFORMED;
        return -1;
    }
    ab_topology_t *topology = self->gen->topology;
    pub->type = s_string_field (pub->header, "type");
    if (!pub->type || !ab_topology_has_type (topology, pub->type)) {
        pub->code = AB_REJECT_UNKNOWN_TYPE;
        snprintf (pub->why, sizeof pub->why, "unknown type '%s'",
                  pub->type ? pub->type : "(none)");
        return -1;
    }
    pub->version =
        (int)s_int_field (pub->header, "version",
                          ab_topology_newest_version (topology, pub->type));
    pub->schema = ab_topology_schema (topology, pub->type, pub->version);
    if (!pub->schema) {
        pub->code = AB_REJECT_VERSION;
        snprintf (pub->why, sizeof pub->why,
                  "version %d of '%s' is not registered", pub->version,
                  pub->type);
        return -1;
    }
    return 0;
}

/* The payload against pub->schema: the costly part. It touches only
   `pub` and the frames, so s_check_ahead runs it on the pool. */
static int
s_pub_check (s_pub_t *pub, ab_proto_t *proto, bool need_tree)
{
    int code = s_check_payload (
        pub->schema, ab_proto_body (proto), ab_proto_body_count (proto),
        need_tree, &pub->payload, pub->why, sizeof pub->why, &pub->errors);
    pub->code = code < 0 ? AB_REJECT_INVALID : (ab_reject_t)code;
    return code < 0 ? 0 : -1;
}

static int
s_pub_validate (ab_broker_t *self, s_pub_t *pub, ab_proto_t *proto)
{
    if (s_pub_resolve (self, pub))
        return -1;
    return s_pub_check (pub, proto, ab_pipeline_size (self->pipeline) > 0);
}

static ab_reject_t
s_reject_code (const char *name)
{
    int code = ab_reject_code (name);
    return code < 0 ? AB_REJECT_FILTER : (ab_reject_t) code;
}

/* Runs one pipeline over the PUB (`edge`: the edge key for an edge's own
   stages, NULL for the broker-wide ones). On reject fills pub's code,
   reason and errors and returns -1. */
static int
s_run_pipeline (ab_pipeline_t *pipeline, s_pub_t *pub, ab_proto_t *proto,
                const char *edge, ab_filter_result_t *result)
{
    zmq_msg_t *body = ab_proto_body (proto);
    size_t count = ab_proto_body_count (proto);
    /* on the heap: the frame count is the sender's choice */
    size_t *sizes = calloc (count, sizeof (size_t));
    const void **data = calloc (count, sizeof (void *));
    assert (sizes && data);
    for (size_t i = 1; i < count; i++) {
        sizes[i - 1] = zmq_msg_size (&body[i]);
        data[i - 1] = zmq_msg_data (&body[i]);
    }
    ab_filter_message_t message = {pub->type,
                                   pub->version,
                                   pub->inst->agent->name,
                                   edge,
                                   pub->header,
                                   pub->payload,
                                   zmq_msg_data (body),
                                   zmq_msg_size (body),
                                   count - 1,
                                   sizes,
                                   data};
    int rc = ab_pipeline_run (pipeline, &message, result);
    free (sizes);
    free (data);
    if (rc == 0)
        return 0;
    pub->code = s_reject_code (result->code);
    snprintf (pub->why, sizeof pub->why, "%s%s%s",
              result->stage ? result->stage : "", result->stage ? ": " : "",
              result->message[0] ? result->message : "rejected by filter");
    pub->errors = json_incref (result->errors);
    return -1;
}

/* The configured stages after the schema stage. A rewrite replaces the
   payload frame (the only bytes the broker ever re-creates). */
static int
s_pub_filter (ab_broker_t *self, s_pub_t *pub, ab_proto_t *proto)
{
    ab_filter_result_t result = AB_FILTER_RESULT_INIT;
    int rc = s_run_pipeline (self->pipeline, pub, proto, NULL, &result);
    if (rc == 0 && result.payload_text) {
        zmq_msg_t *body = ab_proto_body (proto);
        zmq_msg_close (&body[0]);
        zmq_msg_init_size (&body[0], result.payload_size);
        memcpy (zmq_msg_data (&body[0]), result.payload_text,
                result.payload_size);
        json_decref (pub->payload);
        pub->payload = json_incref (result.payload);
    }
    ab_filter_result_clear (&result);
    return rc;
}

/* The payload's tree, for the edge stages, when validation did without
   it (s_check_payload). The text is known to be JSON. */
static int
s_pub_tree (s_pub_t *pub, ab_proto_t *proto)
{
    zmq_msg_t *body = ab_proto_body (proto);
    ab_jsonscan_t scan;
    pub->payload = ab_jsonscan_load (zmq_msg_data (&body[0]),
                                     zmq_msg_size (&body[0]), &scan);
    if (pub->payload)
        return 0;
    pub->code = AB_REJECT_MALFORMED;
    snprintf (pub->why, sizeof pub->why, "payload is not JSON: %s at byte %zu",
              scan.why, scan.offset);
    return -1;
}

/* Each target edge's own stages. Any reject rejects the whole PUB (all
   or nothing, as for overloaded); a rewrite applies to that edge's copy
   only. */
static int
s_pub_edge_filters (s_pub_t *pub, ab_proto_t *proto)
{
    for (size_t i = 0; i < pub->target_count; i++) {
        s_queue_t *queue = pub->targets[i];
        if (!queue->filters)
            continue;
        if (!pub->payload && s_pub_tree (pub, proto))
            return -1;
        ab_filter_result_t result = AB_FILTER_RESULT_INIT;
        int rc =
            s_run_pipeline (queue->filters, pub, proto, queue->key, &result);
        if (rc == 0 && result.payload_text) {
            if (!pub->rewrites)
                pub->rewrites = calloc (pub->target_count, sizeof (char *));
            assert (pub->rewrites);
            pub->rewrites[i] =
                strndup (result.payload_text, result.payload_size);
        }
        ab_filter_result_clear (&result);
        if (rc)
            return rc;
    }
    return 0;
}

/* A copy's own frames: the edge's rewritten payload and shared
   attachments. */
static void
s_copy_rewrite (s_copy_t *copy, const char *payload)
{
    s_message_t *message = copy->message;
    copy->body_count = message->body_count;
    copy->body = calloc (copy->body_count, sizeof (zmq_msg_t));
    assert (copy->body);
    zmq_msg_init_size (&copy->body[0], strlen (payload));
    memcpy (zmq_msg_data (&copy->body[0]), payload, strlen (payload));
    for (size_t i = 1; i < copy->body_count; i++) {
        zmq_msg_init (&copy->body[i]);
        zmq_msg_copy (&copy->body[i], &message->body[i]);
    }
}

/* Where a queue's seq state lives. */
static ab_store_t *
s_queue_store (ab_broker_t *self, const s_queue_t *queue)
{
    return queue->durable ? self->disk : self->store;
}

/* Every target takes the copy: seq is new on each (duplicate) and no
   queue is full (overloaded). All or nothing. */
static int
s_pub_admit (ab_broker_t *self, s_pub_t *pub)
{
    const char *from = pub->inst->agent->name;
    const json_t *seq = json_object_get (pub->header, "seq");
    for (size_t i = 0; i < pub->target_count; i++) {
        s_queue_t *queue = pub->targets[i];
        int64_t last;
        if (seq &&
            ab_store_get_seq (s_queue_store (self, queue), from, queue->key,
                              &last) == 0 &&
            json_integer_value (seq) <= last) {
            pub->code = AB_REJECT_DUPLICATE;
            snprintf (pub->why, sizeof pub->why,
                      "seq %" JSON_INTEGER_FORMAT
                      " is not greater than %" PRId64
                      ", the last accepted on %s",
                      json_integer_value (seq), last, queue->key);
            return -1;
        }
        if ((int64_t)queue->pending >= queue->edge->queue_limit) {
            pub->code = AB_REJECT_OVERLOADED;
            snprintf (pub->why, sizeof pub->why,
                      "queue %s is full (%" PRId64 " copies)", queue->key,
                      queue->edge->queue_limit);
            return -1;
        }
    }
    return 0;
}

/* Finds the target queues: all or nothing (unroutable, version,
   duplicate, overloaded). */
static int
s_pub_route (ab_broker_t *self, s_pub_t *pub)
{
    ab_topology_t *topology = self->gen->topology;
    const char *from = pub->inst->agent->name;
    long from_index = ab_topology_agent_index (topology, from);
    const ab_edge_t *request_edge = NULL;
    const ab_edge_t *const *edges = &request_edge;
    size_t count = 0;
    if (from_index >= 0 && pub->request) {
        request_edge =
            ab_topology_request_edge (topology, (size_t)from_index, pub->type);
        count = request_edge ? 1 : 0;
    } else if (from_index >= 0)
        count = ab_topology_edges_from (topology, (size_t)from_index, pub->type,
                                        &edges);
    if (count == 0) {
        pub->code = AB_REJECT_UNROUTABLE;
        snprintf (pub->why, sizeof pub->why,
                  "agent '%s' has no %s edge for '%s'", from,
                  pub->request ? "request" : "", pub->type);
        return -1;
    }
    pub->targets = calloc (count, sizeof (s_queue_t *));
    assert (pub->targets);
    for (size_t i = 0; i < count; i++)
        if (ab_edge_accepts_version (edges[i], pub->version))
            pub->targets[pub->target_count++] =
                self->gen->queues[edges[i]->index];
    if (pub->target_count == 0) {
        pub->code = AB_REJECT_VERSION;
        snprintf (pub->why, sizeof pub->why,
                  "version %d of '%s' is not accepted on any edge from '%s'",
                  pub->version, pub->type, from);
        return -1;
    }
    return s_pub_admit (self, pub);
}

static s_message_t *
s_message_new (ab_broker_t *self, s_pub_t *pub, ab_proto_t *proto)
{
    s_message_t *message = calloc (1, sizeof *message);
    assert (message);
    message->store = self->store;
    for (size_t i = 0; i < pub->target_count; i++)
        if (pub->targets[i]->durable)
            message->store = self->disk;
    message->batch = self->batch;
    message->request = pub->request;
    message->type = strdup (pub->type);
    message->version = pub->version;
    message->from = strdup (pub->inst->agent->name);
    message->producer_id = json_incref (pub->echo);
    const json_t *seq = json_object_get (pub->header, "seq");
    message->has_seq = seq != NULL;
    message->seq = json_integer_value (seq);
    const char *traceparent = s_string_field (pub->header, "traceparent");
    message->traceparent = traceparent ? strdup (traceparent) : NULL;
    int64_t ttl = s_int_field (pub->header, "ttl_ms", 0);
    message->expires = ttl > 0 ? s_now () + ttl : 0;
    ab_proto_take_body (proto, &message->body, &message->body_count);
    assert (message->type && message->from);
    return message;
}

/* Counts a live non-durable message's body against memory_limit, with
   what the memory store holds (dead letters). Returns 0 or AB_EFULL. */
static int
s_memory_hold (ab_broker_t *self, s_message_t *message)
{
    size_t bytes = 0;
    for (size_t i = 0; i < message->body_count; i++)
        bytes += zmq_msg_size (&message->body[i]);
    if (self->memory_limit) {
        ab_store_stats_t stats;
        ab_store_stats (self->store, &stats);
        size_t held = self->live_bytes + stats.bytes;
        if (bytes > self->memory_limit || held > self->memory_limit - bytes)
            return AB_EFULL;
    }
    message->bytes = bytes;
    self->live_bytes += bytes;
    return 0;
}

/* Writes the message to its store, with its header as received (valid
   JSON: it was parsed; no NUL byte, which JSON text cannot hold outside
   an escape). Returns 0 or an ab_err_t. */
static int
s_message_store (s_message_t *message, s_pub_t *pub, ab_proto_t *proto)
{
    size_t size = 0;
    const char *text = ab_proto_header_text (proto, &size);
    char *header = malloc (size + 1);
    if (header) {
        memcpy (header, text, size);
        header[size] = '\0';
    }
    ab_message_t record = {.id = message->id,
                           .type = message->type,
                           .version = message->version,
                           .from = message->from,
                           .producer_id = json_string_value (pub->echo),
                           .has_seq = message->has_seq,
                           .seq = message->seq,
                           .traceparent = message->traceparent,
                           .request = pub->request,
                           .header = header ? header : "{}",
                           .frames = message->body,
                           .frame_count = message->body_count};
    int64_t ttl = s_int_field (pub->header, "ttl_ms", 0);
    record.expires_ms = ttl > 0 ? s_wall_ms () + ttl : 0;
    int rc = ab_store_put_message (message->store, &record);
    free (header);
    return rc;
}

static s_request_t *
s_request_new (ab_broker_t *self, s_pub_t *pub, s_copy_t *copy)
{
    const ab_edge_t *edge = copy->edge;
    s_request_t *request = calloc (1, sizeof *request);
    assert (request);
    request->requester_key = strdup (pub->inst->key);
    assert (request->requester_key);
    zmq_msg_init (&request->requester);
    zmq_msg_copy (&request->requester, &pub->inst->routing_id);
    request->id = json_incref (pub->echo);
    request->reply_type = edge->reply;
    int64_t timeout = s_int_field (pub->header, "timeout_ms",
                                   edge->ack_timeout_ms * edge->max_attempts);
    request->timeout =
        ab_timer_add (self->timers, s_now () + timeout, S_TIMER_REQUEST, copy);
    return request;
}

/* The store refused the PUB: nothing of it stays (all or nothing). */
static void
s_pub_refused (ab_broker_t *self, s_pub_t *pub, s_message_t *message,
               s_copy_t **copies, size_t count, int rc)
{
    bool disk = message->store == self->disk;
    for (size_t i = 0; i < count; i++)
        s_copy_forget (self, copies[i], true);
    if (disk && message->id)
        ab_store_del_message (self->disk, message->id);
    s_message_unref (self, &message);
    const char *why = rc != AB_EFULL ? ab_strerror (rc)
                      : disk         ? "the durable store is full (map_size "
                                       "or memory_limit); retry when "
                                       "consumers catch up"
                                     : "memory_limit reached";
    s_reject (self, &pub->inst->routing_id, "id", pub->echo, AB_REJECT_OVERLOADED, NULL,
              "store: %s", why);
}

/* Stores the message and one copy per target, then answers OK (PUB,
   held until the batch is on disk when durable) or waits for the REPLY
   (REQ). */
static void
s_pub_accept (ab_broker_t *self, s_pub_t *pub, ab_proto_t *proto)
{
    s_message_t *message = s_message_new (self, pub, proto);
    message->refs = 1; /* held while copies are made */
    int rc = ab_store_next_id (self->ids, &message->id);
    if (rc == 0 && message->store == self->disk)
        rc = s_message_store (message, pub, proto);
    else if (rc == 0)
        rc = s_memory_hold (self, message);
    if (rc) {
        s_pub_refused (self, pub, message, NULL, 0, rc);
        return;
    }
    s_copy_t **copies = calloc (pub->target_count, sizeof (s_copy_t *));
    assert (copies);
    for (size_t i = 0; i < pub->target_count && rc == 0; i++) {
        s_queue_t *queue = pub->targets[i];
        copies[i] = s_copy_new (self, queue, queue->edge, message, &rc);
        if (rc == 0 && message->has_seq)
            rc = ab_store_set_seq (s_queue_store (self, queue), message->from,
                                   queue->key, message->seq);
        if (rc)
            s_pub_refused (self, pub, message, copies, copies[i] ? i + 1 : i,
                           rc);
    }
    if (rc) {
        free (copies);
        return;
    }
    for (size_t i = 0; i < pub->target_count; i++) {
        s_queue_t *queue = pub->targets[i];
        if (pub->request)
            copies[i]->request = s_request_new (self, pub, copies[i]);
        if (pub->rewrites && pub->rewrites[i])
            s_copy_rewrite (copies[i], pub->rewrites[i]);
        s_copy_ready (copies[i], false);
        s_mark (self, queue->agent);
    }
    free (copies);
    bool durable = message->store == self->disk;
    self->stored_durable |= durable;
    if (durable) { /* on disk: read back on delivery */
        ab_frames_free (message->body, message->body_count);
        message->body = NULL;
        message->body_count = 0;
    }
    s_message_unref (self, &message);
    self->counters[pub->request ? C_REQUESTS : C_PUBLISHED]++;
    if (pub->request)
        return;
    ab_jsonw_reset (self->out);
    ab_jsonw_int (self->out, "routed", (long long)pub->target_count);
    if (pub->echo)
        ab_jsonw_value (self->out, "id", pub->echo);
    size_t size = 0;
    const char *ok = ab_jsonw_text (self->out, &size);
    if (ok && self->disk && ab_store_in_batch (self->disk))
        s_hold (self, &pub->inst->routing_id, AB_CMD_OK, ok, size, NULL, 0)
            ->fresh = durable;
    else if (ok)
        s_send (self, &pub->inst->routing_id, AB_CMD_OK, ok, size, NULL, 0);
    else
        self->counters[C_SEND_FAILURES]++;
}

/* A PUB's start: what is known before it is validated. */
static void
s_pub_init (s_pub_t *pub, ab_proto_t *proto)
{
    *pub = (s_pub_t){.header = ab_proto_header (proto),
                     .request = ab_proto_command (proto) == AB_CMD_REQ};
    json_t *echo = json_object_get (pub->header, "id");
    pub->echo = json_is_string (echo) ? echo : NULL;
}

static void s_wait_checked (ab_broker_t *self, s_inbound_t *in);

static void
s_on_publish (ab_broker_t *self, s_instance_t *inst, ab_proto_t *proto)
{
    s_pub_t pub;
    int valid;
    s_inbound_t *in = self->current;
    if (in && in->checked) { /* validated in s_check_ahead */
        s_wait_checked (self, in);
        pub = in->pub;
        valid = in->check;
        in->checked = false; /* pub's payload and errors are ours now */
    } else {
        s_pub_init (&pub, proto);
        valid = s_pub_validate (self, &pub, proto);
    }
    pub.inst = inst;
    if (valid == 0 && s_pub_filter (self, &pub, proto) == 0 &&
        s_pub_route (self, &pub) == 0 && s_pub_edge_filters (&pub, proto) == 0)
        s_pub_accept (self, &pub, proto);
    else {
        s_reject (self, &inst->routing_id, "id", pub.echo, pub.code, pub.errors,
                  "%s", pub.why);
        pub.errors = NULL;
    }
    json_decref (pub.errors);
    json_decref (pub.payload);
    for (size_t i = 0; pub.rewrites && i < pub.target_count; i++)
        free (pub.rewrites[i]);
    free (pub.rewrites);
    free (pub.targets);
}

/* ---------------------------------------------------------------------
   REP: validate the reply, forward it as REPLY */

static void
s_forward_reply (ab_broker_t *self, s_copy_t *copy, s_instance_t *inst,
                 int version, bool partial, ab_proto_t *proto)
{
    s_request_t *request = copy->request;
    if (!zhashx_lookup (self->sessions, request->requester_key)) {
        self->counters[C_REPLIES_DROPPED]++;
        ab_log_printf (self->log, AB_LOG_WARNING,
                       "reply to request %s dropped: the requester is gone",
                       copy->id_text);
        return;
    }
    ab_jsonw_reset (self->out);
    ab_jsonw_string (self->out, "type", request->reply_type);
    ab_jsonw_int (self->out, "version", version);
    ab_jsonw_string (self->out, "from", inst->agent->name);
    ab_jsonw_bool (self->out, "partial", partial);
    if (request->id)
        ab_jsonw_value (self->out, "id", request->id);
    if (s_send_out (self, &request->requester, AB_CMD_REPLY,
                    ab_proto_body (proto), ab_proto_body_count (proto)))
        self->counters[C_REPLIES_DROPPED]++;
    else
        self->counters[C_REPLIES]++;
}

static void
s_on_rep (ab_broker_t *self, s_instance_t *inst, ab_proto_t *proto)
{
    json_t *header = ab_proto_header (proto);
    json_t *msg = json_object_get (header, "msg");
    s_copy_t *copy = s_held_copy (self, inst, header);
    if (!copy || !copy->request) {
        s_error (self, &inst->routing_id, AB_ERROR_UNKNOWN_MESSAGE,
                 "no request delivery pending for this 'msg'");
        return;
    }
    ab_topology_t *topology = copy->queue->gen->topology;
    const char *type = copy->request->reply_type;
    int version = (int)s_int_field (
        header, "version", ab_topology_newest_version (topology, type));
    const ab_schema_t *schema = ab_topology_schema (topology, type, version);
    char why[512];
    json_t *payload = NULL, *errors = NULL;
    int code = AB_REJECT_VERSION;
    if (schema)
        code = s_check_payload (schema, ab_proto_body (proto),
                                ab_proto_body_count (proto), false, &payload,
                                why, sizeof why, &errors);
    else
        snprintf (why, sizeof why,
                  "version %d of reply type '%s' is not registered", version,
                  type);
    json_decref (payload);
    if (code >= 0) {
        s_reject (self, &inst->routing_id, "msg", msg, (ab_reject_t)code, errors,
                  "%s", why);
        return; /* the request stays open */
    }
    bool partial = json_is_true (json_object_get (header, "partial"));
    ab_jsonw_reset (self->out);
    ab_jsonw_value (self->out, "msg", msg);
    s_send_out (self, &inst->routing_id, AB_CMD_OK, NULL, 0);
    s_forward_reply (self, copy, inst, version, partial, proto);
    if (partial) {
        ab_timer_reschedule (self->timers, copy->timer,
                             s_now () + copy->edge->ack_timeout_ms);
        return;
    }
    s_mark (self, inst->agent);
    s_copy_forget (self, copy, true);
}

/* ---------------------------------------------------------------------
   ACK, NACK, CREDIT, PING, BYE */

static void
s_on_ack (ab_broker_t *self, s_instance_t *inst, ab_proto_t *proto)
{
    s_copy_t *copy = s_held_copy (self, inst, ab_proto_header (proto));
    if (!copy) {
        s_error (self, &inst->routing_id, AB_ERROR_UNKNOWN_MESSAGE,
                 "no delivery pending for this 'msg'");
        return;
    }
    if (copy->request)
        return; /* a request is done by its REP, not by an ACK */
    self->counters[C_ACKED]++;
    s_mark (self, inst->agent);
    s_copy_forget (self, copy, true);
}

static void
s_on_nack (ab_broker_t *self, s_instance_t *inst, ab_proto_t *proto)
{
    json_t *header = ab_proto_header (proto);
    s_copy_t *copy = s_held_copy (self, inst, header);
    if (!copy) {
        s_error (self, &inst->routing_id, AB_ERROR_UNKNOWN_MESSAGE,
                 "no delivery pending for this 'msg'");
        return;
    }
    self->counters[C_NACKED]++;
    const json_t *requeue = json_object_get (header, "requeue");
    const char *reason = s_string_field (header, "reason");
    ab_log_printf (self->log, AB_LOG_DEBUG, "NACK %s by %s: %s", copy->id_text,
                   inst->agent->name, reason ? reason : "");
    if (!json_is_false (requeue))
        s_retry (self, copy, true);
    else if (copy->request)
        s_request_fail (self, copy, "the replier refused it");
    else
        s_dead_letter (self, copy, AB_DEAD_REJECTED);
}

static void
s_on_credit (ab_broker_t *self, s_instance_t *inst, ab_proto_t *proto)
{
    const json_t *credit = json_object_get (ab_proto_header (proto), "credit");
    if (!json_is_integer (credit) || json_integer_value (credit) < 1) {
        s_error (self, &inst->routing_id, AB_ERROR_PROTOCOL,
                 "CREDIT needs 'credit', an integer >= 1");
        return;
    }
    inst->credit = (size_t)json_integer_value (credit);
    s_mark (self, inst->agent);
}

static void
s_on_ping (ab_broker_t *self, s_instance_t *inst, ab_proto_t *proto)
{
    (void)proto;
    s_send_json (self, &inst->routing_id, AB_CMD_PONG, NULL, NULL, 0);
}

static void
s_on_bye (ab_broker_t *self, s_instance_t *inst, ab_proto_t *proto)
{
    (void)proto;
    self->counters[C_BYES]++;
    ab_log_printf (self->log, AB_LOG_INFO, "instance %s of %s said BYE",
                   inst->name ? inst->name : inst->key, inst->agent->name);
    s_instance_gone (self, inst, false);
}

/* ---------------------------------------------------------------------
   HELLO */

/* The identity seam: from a connection (its routing id) and its HELLO
   header to the agent it may speak for. Today the agent the header
   names, if the topology has it; with CURVE, the key behind the routing
   id will decide (and AB_ERROR_UNAUTHORIZED is the answer when it disagrees).
   Returns -1 with *agent_p set (borrowed from the header), or an ERROR
   code. */
static int
s_identify (ab_broker_t *self, zmq_msg_t *routing_id, const json_t *hello,
            const char **agent_p)
{
    (void)routing_id;
    const char *agent = s_string_field (hello, "agent");
    if (!agent)
        return AB_ERROR_PROTOCOL;
    if (ab_topology_agent_index (self->gen->topology, agent) < 0)
        return AB_ERROR_UNKNOWN_AGENT;
    *agent_p = agent;
    return -1;
}

static void
s_on_hello (ab_broker_t *self, zmq_msg_t *routing_id, const char *key,
            s_instance_t *old, ab_proto_t *proto)
{
    json_t *header = ab_proto_header (proto);
    const json_t *credit = json_object_get (header, "credit");
    const json_t *name = json_object_get (header, "instance");
    if (credit &&
        (!json_is_integer (credit) || json_integer_value (credit) < 1)) {
        s_error (self, routing_id, AB_ERROR_PROTOCOL,
                 "HELLO: 'credit' must be an integer >= 1");
        return;
    }
    const char *agent = NULL;
    int refused = s_identify (self, routing_id, header, &agent);
    if (refused == AB_ERROR_PROTOCOL) {
        s_error (self, routing_id, AB_ERROR_PROTOCOL, "HELLO needs 'agent', a string");
        return;
    }
    if (refused >= 0) {
        s_error (self, routing_id, (ab_error_code_t)refused,
                 "agent '%s' is not allowed in topology %s",
                 s_string_field (header, "agent"),
                 ab_topology_id (self->gen->topology));
        return;
    }
    if (old) /* a second HELLO on one connection: a fresh session */
        s_instance_gone (self, old, false);
    s_instance_t *inst = calloc (1, sizeof *inst);
    assert (inst);
    inst->key = strdup (key);
    zmq_msg_init (&inst->routing_id);
    zmq_msg_copy (&inst->routing_id, routing_id);
    inst->agent = s_agent_require (self, agent);
    inst->agent_handle = zlistx_add_end (inst->agent->instances, inst);
    inst->name =
        json_is_string (name) ? strdup (json_string_value (name)) : NULL;
    inst->credit = credit ? (size_t)json_integer_value (credit) : 16;
    inst->inflight = zlistx_new ();
    inst->last_seen = s_now ();
    inst->heartbeat = ab_timer_add (
        self->timers, inst->last_seen + S_HEARTBEAT_LIVES * self->heartbeat_ms,
        S_TIMER_HEARTBEAT, inst);
    assert (inst->key && inst->inflight);
    zhashx_insert (self->sessions, key, inst);
    self->counters[C_HELLOS]++;
    ab_log_printf (self->log, AB_LOG_INFO, "instance %s of %s said HELLO",
                   inst->name ? inst->name : key, agent);
    s_send_json (self, routing_id, AB_CMD_WELCOME,
                 json_pack ("{s:s, s:I, s:s}", "agent", agent, "heartbeat_ms",
                            (json_int_t)self->heartbeat_ms, "topology",
                            ab_topology_id (self->gen->topology)),
                 NULL, 0);
    s_mark (self, inst->agent);
}

/* ---------------------------------------------------------------------
   One message from the socket */

typedef void (s_handler_fn) (ab_broker_t *self, s_instance_t *inst,
                             ab_proto_t *proto);

/* Handlers of registered instances' commands, by ab_cmd_t. */
static s_handler_fn *const s_handlers[AB_CMD_COUNT_] = {
    [AB_CMD_PUB] = s_on_publish, [AB_CMD_REQ] = s_on_publish,
    [AB_CMD_REP] = s_on_rep,     [AB_CMD_ACK] = s_on_ack,
    [AB_CMD_NACK] = s_on_nack,   [AB_CMD_CREDIT] = s_on_credit,
    [AB_CMD_PING] = s_on_ping,   [AB_CMD_BYE] = s_on_bye,
};

/* The session key of a routing id: its bytes in hex. Done by table, not
   snprintf: it runs once for every message received. */
static void
s_session_key (zmq_msg_t *routing_id, char *key, size_t key_size)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *bytes = zmq_msg_data (routing_id);
    size_t size = zmq_msg_size (routing_id);
    size_t i = 0;
    for (; i < size && 2 * i + 2 < key_size; i++) {
        key[2 * i] = digits[bytes[i] >> 4];
        key[2 * i + 1] = digits[bytes[i] & 0xf];
    }
    key[2 * i] = '\0';
}

/* Too large: REJECT for the commands that carry a payload, else the
   frame table is broken. */
static void
s_on_too_large (ab_broker_t *self, s_instance_t *inst, ab_proto_t *proto,
                const char *why)
{
    json_t *header = ab_proto_header (proto);
    if (!ab_cmd_has_payload (ab_proto_command (proto))) {
        s_error (self, &inst->routing_id, AB_ERROR_PROTOCOL, "%s", why);
        return;
    }
    bool rep = ab_proto_command (proto) == AB_CMD_REP;
    json_t *echo = json_object_get (header, rep ? "msg" : "id");
    s_reject (self, &inst->routing_id, rep ? "msg" : "id", echo, AB_REJECT_TOO_LARGE,
              NULL, "%s", why);
}

/* Reads one message into `in`. Returns false when none was waiting. */
static bool
s_read (ab_broker_t *self, s_inbound_t *in)
{
    zmq_msg_init (&in->routing_id);
    in->proto = NULL;
    in->checked = in->pooled = false;
    in->rc = ab_proto_recv (zsock_resolve (self->router), &in->routing_id,
                            self->max_message_bytes, &in->proto, in->why,
                            sizeof in->why);
    if (in->rc == AB_EIO) {
        zmq_msg_close (&in->routing_id);
        return false;
    }
    self->counters[C_RECEIVED]++;
    return true;
}

/* One payload check of s_check_ahead, on any thread. */
static void
s_check_one (void *arg, size_t i)
{
    ab_broker_t *self = arg;
    s_inbound_t *in = &self->inbound[self->checking[i]];
    in->check = s_pub_check (&in->pub, in->proto,
                             ab_pipeline_size (self->pipeline) > 0);
    atomic_store_explicit (&in->done, true, memory_order_release);
}

/* Validates the turn's PUBs and REQs while the turn is handled: each is
   resolved here (topology lookups) and its payload check handed to the
   pool, lowest first; s_on_publish takes each outcome when it comes to
   that PUB (s_wait_checked). What a PUB is checked against depends only
   on the topology, which changes between turns, never within one; so
   this answers exactly as checking each PUB in turn would. Batches with
   too few PUBs to be worth waking the pool for are left alone. */
static void
s_check_ahead (ab_broker_t *self, size_t count)
{
    if (!ab_pool_threads (self->pool))
        return;
    size_t checking = 0;
    for (size_t i = 0; i < count; i++) {
        s_inbound_t *in = &self->inbound[i];
        ab_cmd_t command = in->proto ? ab_proto_command (in->proto) : 0;
        if (in->rc == 0 && in->proto &&
            (command == AB_CMD_PUB || command == AB_CMD_REQ))
            self->checking[checking++] = i;
    }
    if (checking < S_CHECK_AHEAD_MIN)
        return;
    size_t pooled = 0;
    for (size_t i = 0; i < checking; i++) {
        s_inbound_t *in = &self->inbound[self->checking[i]];
        s_pub_init (&in->pub, in->proto);
        in->checked = true;
        in->check = s_pub_resolve (self, &in->pub);
        if (in->check == 0) {
            in->pooled = true;
            atomic_store_explicit (&in->done, false, memory_order_relaxed);
            self->checking[pooled++] = self->checking[i];
        }
    }
    ab_pool_start (self->pool, s_check_one, self, pooled);
    self->pool_started = true;
    self->counters[C_CHECKED_AHEAD] += pooled;
}

/* Until `in`'s payload check is done: the broker's thread checks the
   next PUBs itself rather than wait idle. */
static void
s_wait_checked (ab_broker_t *self, s_inbound_t *in)
{
    if (!in->pooled)
        return;
    while (!atomic_load_explicit (&in->done, memory_order_acquire))
        if (!ab_pool_help (self->pool))
            sched_yield (); /* a pool thread has it in hand */
    in->pooled = false;
}

/* Handles one message read by s_read, and lets it go. */
static void
s_handle (ab_broker_t *self, s_inbound_t *in)
{
    char key[520];
    s_session_key (&in->routing_id, key, sizeof key);
    s_instance_t *inst = zhashx_lookup (self->sessions, key);
    if (inst)
        inst->last_seen = s_now ();
    ab_proto_t *proto = in->proto;
    self->current = in;
    if (!proto)
        s_error (self, &in->routing_id, AB_ERROR_PROTOCOL, "%s",
                 in->rc == AB_ENOMEM ? "out of memory" : in->why);
    else if (ab_proto_command (proto) == AB_CMD_HELLO && in->rc == 0)
        s_on_hello (self, &in->routing_id, key, inst, proto);
    else if (!inst)
        s_error (self, &in->routing_id, AB_ERROR_NOT_REGISTERED, "say HELLO first");
    else if (in->rc == AB_ETOOBIG)
        s_on_too_large (self, inst, proto, in->why);
    else
        s_handlers[ab_proto_command (proto)](self, inst, proto);
    self->current = NULL;
    if (in->checked) { /* checked ahead, never used: not registered */
        s_wait_checked (self, in);
        json_decref (in->pub.payload);
        json_decref (in->pub.errors);
        in->checked = false;
    }
    ab_proto_destroy (&in->proto);
    zmq_msg_close (&in->routing_id);
}

/* Reads what is waiting (a batch at most), validates the PUBs among it
   at once, then handles it all in order. Returns how many it read. */
static size_t
s_on_socket (ab_broker_t *self)
{
    size_t count = 0;
    while (count < S_BATCH && s_read (self, &self->inbound[count]))
        count++;
    s_check_ahead (self, count);
    for (size_t i = 0; i < count; i++)
        s_handle (self, &self->inbound[i]);
    if (self->pool_started) /* every check was taken; the round ends */
        ab_pool_wait (self->pool);
    self->pool_started = false;
    return count;
}

/* ---------------------------------------------------------------------
   Timers */

static void
s_on_timer (ab_broker_t *self, const ab_timer_entry_t *entry)
{
    s_copy_t *copy = entry->arg;
    switch ((s_timer_kind_t)entry->kind) {
    case S_TIMER_ACK:
        copy->timer = 0;
        self->counters[C_ACK_TIMEOUTS]++;
        s_retry (self, copy, true);
        break;
    case S_TIMER_BACKOFF:
        copy->timer = 0;
        s_copy_ready (copy, true);
        s_mark (self, copy->queue->agent);
        break;
    case S_TIMER_TTL:
        copy->ttl_timer = 0;
        self->counters[C_EXPIRED]++;
        s_dead_letter (self, copy, AB_DEAD_EXPIRED);
        break;
    case S_TIMER_REQUEST:
        copy->request->timeout = 0;
        s_request_fail (self, copy, "no reply within timeout_ms");
        break;
    case S_TIMER_HEARTBEAT: {
        s_instance_t *inst = entry->arg;
        inst->heartbeat = 0;
        s_heartbeat_check (self, inst);
        break;
    }
    case S_TIMER_SYNC: /* synced after this turn's commit */
        self->sync_due = true;
        ab_timer_add (self->timers, s_now () + self->sync_ms, S_TIMER_SYNC,
                      self);
        break;
    }
}

static void
s_fire_timers (ab_broker_t *self)
{
    ab_timer_entry_t entry;
    int64_t now = s_now ();
    while (ab_timer_pop_expired (self->timers, now, &entry))
        s_on_timer (self, &entry);
}

/* ---------------------------------------------------------------------
   Topology loading and reloading */

/* Durable edges need the disk store: refuse them rather than fall back
   to memory silently. */
static int
s_check_durable (ab_broker_t *self, ab_topology_t *topology, const char *path,
                 ab_diag_t *diag)
{
    int rc = 0;
    for (size_t i = 0; !self->disk && i < ab_topology_edge_count (topology);
         i++) {
        const ab_edge_t *edge = ab_topology_edge (topology, i);
        if (!s_edge_durable (self, edge))
            continue;
        ab_diag_add (diag, path, edge->line, edge->column,
                     "durable edge %s -> %s needs a data_dir", edge->from,
                     edge->to);
        rc = AB_EINVAL;
    }
    return rc;
}

static ab_topology_t *
s_load_topology (ab_broker_t *self, ab_diag_t *diag)
{
    ab_topology_t *topology =
        ab_topology_load (self->topology_path, NULL, diag);
    if (topology && s_check_durable (self, topology, self->topology_path, diag))
        ab_topology_unref (&topology);
    return topology;
}

/* SIGHUP: a new generation for new copies; the old one finishes. */
static int
s_reload (ab_broker_t *self, ab_diag_t *diag)
{
    ab_topology_t *topology = s_load_topology (self, diag);
    if (!topology) {
        self->counters[C_RELOAD_FAILURES]++;
        ab_log_printf (
            self->log, AB_LOG_ERROR, "reload of %s failed; %s stays in force",
            self->topology_path, ab_topology_id (self->gen->topology));
        return AB_EINVAL;
    }
    s_generation_t *old = self->gen;
    s_generation_t *gen = s_generation_new (self, &topology, diag);
    if (!gen) {
        self->counters[C_RELOAD_FAILURES]++;
        return AB_EINVAL;
    }
    self->gen = gen;
    zlistx_add_end (self->retired, old);
    s_generation_reap (self, old);
    self->counters[C_RELOADS]++;
    ab_log_printf (self->log, AB_LOG_INFO, "reloaded: topology %s",
                   ab_topology_id (self->gen->topology));
    return 0;
}

/* ---------------------------------------------------------------------
   Counters */

json_t *
ab_broker_counters (const ab_broker_t *self)
{
    assert (self);
    json_t *counters = json_object ();
    for (int i = 0; i < C_COUNT_; i++)
        json_object_set_new (counters, s_counter_names[i],
                             json_integer ((json_int_t)self->counters[i]));
    json_t *rejected = json_object (), *errors = json_object (),
           *dead = json_object ();
    for (int i = 0; i < AB_REJECT_COUNT_; i++)
        json_object_set_new (rejected, ab_reject_name (i),
                             json_integer ((json_int_t)self->rejects[i]));
    for (int i = 0; i < AB_ERROR_COUNT_; i++)
        json_object_set_new (errors, ab_error_name (i),
                             json_integer ((json_int_t)self->errors[i]));
    for (int i = 0; i < AB_DEAD_REASON_COUNT_; i++)
        json_object_set_new (dead, ab_dead_reason_name ((ab_dead_reason_t)i),
                             json_integer ((json_int_t)self->dead[i]));
    json_object_set_new (counters, "rejected", rejected);
    json_object_set_new (counters, "errors", errors);
    json_object_set_new (counters, "dead_lettered", dead);
    json_object_set_new (
        counters, "sessions",
        json_integer ((json_int_t)zhashx_size (self->sessions)));
    json_object_set_new (counters, "copies_pending",
                         json_integer ((json_int_t)zhashx_size (self->copies)));
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
    return counters;
}

/* At shutdown: what is left on each queue of the current topology. */
static void
s_log_queues (ab_broker_t *self)
{
    s_generation_t *gen = self->gen;
    size_t edges = ab_topology_edge_count (gen->topology);
    for (size_t i = 0; i < edges; i++) {
        s_queue_t *queue = gen->queues[i];
        s_copy_t *head = zlistx_first (queue->ready);
        if (queue->pending)
            ab_log_printf (
                self->log, AB_LOG_INFO, "left on %s: %zu copies, %zu waiting%s",
                queue->key, queue->pending, zlistx_size (queue->ready),
                head && head->state == S_COPY_INFLIGHT ? " (head in flight)"
                                                       : "");
    }
}

static void
s_log_counters (ab_broker_t *self)
{
    s_log_queues (self);
    json_t *counters = ab_broker_counters (self);
    char *text = json_dumps (counters, JSON_COMPACT | JSON_SORT_KEYS);
    ab_log_printf (self->log, AB_LOG_INFO, "counters: %s", text ? text : "");
    free (text);
    json_decref (counters);
}

/* ---------------------------------------------------------------------
   Group commit: the outbox leaves after the batch is on disk */

/* Sends what the turn held. After a failed commit (`commit_rc`) an OK of
   a message stored in the batch becomes `REJECT overloaded` and a
   DELIVER of one is dropped: that message is not on disk. A DELIVER that
   finds its instance gone names it for the next turn. */
static void
s_outbox_flush (ab_broker_t *self, int commit_rc)
{
    s_held_t *held;
    while ((held = zlistx_detach (self->outbox, NULL))) {
        bool lost = commit_rc && held->fresh;
        if (lost && held->command == AB_CMD_OK) {
            self->rejects[AB_REJECT_OVERLOADED]++;
            json_t *header =
                json_pack ("{s:s, s:s+}", "code", ab_reject_name (AB_REJECT_OVERLOADED),
                           "message", "store: the batch could not be written: ",
                           ab_strerror (commit_rc));
            json_t *ok = json_loadb (held->header, held->header_size, 0, NULL);
            json_t *echo = json_object_get (ok, "id");
            if (echo)
                json_object_set (header, "id", echo);
            json_decref (ok);
            s_send_json (self, &held->routing_id, AB_CMD_REJECT, header, NULL,
                         0);
        } else if (!lost) {
            int rc = s_send_now (self, &held->routing_id, held->command,
                                 held->header, held->header_size, held->body,
                                 held->body_count);
            if (rc == 0 && held->copy_id)
                ab_outq_tag (self->outq, held->copy_id);
            else if (rc && held->deliver_to) {
                zlistx_add_end (self->vanished, held->deliver_to);
                held->deliver_to = NULL; /* the list has it now */
            }
        }
        void *item = held;
        s_held_destroy (&item);
    }
}

/* Instances a DELIVER could not reach: gone. The refused copies go
   back first, uncounted (not a delivery, not an attempt), unless
   something moved them on since; the instance's other copies in flight
   are requeued as after any loss of an instance. */
static void
s_forget_vanished (ab_broker_t *self)
{
    s_refused_t *refused;
    while ((refused = zlistx_detach (self->refused, NULL))) {
        s_copy_t *copy = zhashx_lookup (self->copies, &refused->copy_id);
        if (copy && copy->state == S_COPY_INFLIGHT && copy->instance &&
            strcmp (copy->instance->key, refused->key) == 0) {
            self->counters[copy->attempts > 1 ? C_REDELIVERED : C_DELIVERED]--;
            s_retry (self, copy, false);
        }
        void *item = refused;
        s_refused_destroy (&item);
    }
    char *key;
    while ((key = zlistx_detach (self->vanished, NULL))) {
        s_instance_t *inst = zhashx_lookup (self->sessions, key);
        if (inst)
            s_instance_gone (self, inst, true);
        free (key);
    }
}

/* The batch failed: the copies of messages it stored never reached the
   disk, so they are forgotten (a requester is told); their OKs became
   REJECTs in s_outbox_flush. */
static void
s_rollback (ab_broker_t *self, int rc)
{
    ab_log_printf (self->log, AB_LOG_ERROR,
                   "store: commit failed (%s): this turn's PUBs rejected",
                   ab_strerror (rc));
    zlistx_t *copies = zhashx_values (self->copies);
    for (s_copy_t *copy = zlistx_first (copies); copy;
         copy = zlistx_next (copies)) {
        if (copy->message->store != self->disk ||
            copy->message->batch != self->batch)
            continue;
        s_request_t *request = copy->request;
        if (request && zhashx_lookup (self->sessions, request->requester_key))
            s_reject (self, &request->requester, "id", request->id,
                      AB_REJECT_OVERLOADED, NULL, "store: %s", ab_strerror (rc));
        s_mark (self, copy->queue->agent);
        s_copy_forget (self, copy, false);
    }
    zlistx_destroy (&copies);
}

/* Ends the turn's batch, then lets its answers and deliveries go. */
static void
s_commit (ab_broker_t *self)
{
    int rc = ab_store_commit (self->store);
    if (self->disk && ab_store_in_batch (self->disk)) {
        rc = ab_store_commit (self->disk);
        s_outbox_flush (self, rc);
        if (rc)
            s_rollback (self, rc);
        if (self->sync_due && ab_store_lmdb_tick (self->disk, s_now ()))
            ab_log_printf (self->log, AB_LOG_ERROR, "store: sync failed");
        self->sync_due = false;
    }
    if (self->admin_reply) {
        zstr_send (self->admin, self->admin_reply);
        zstr_free (&self->admin_reply);
    }
}

static void
s_begin (ab_broker_t *self)
{
    self->batch++;
    self->stored_durable = false;
    ab_store_begin (self->store);
    if (self->disk && ab_store_begin (self->disk))
        ab_log_printf (self->log, AB_LOG_ERROR, "store: cannot begin a batch");
    s_forget_vanished (self);
}

/* ---------------------------------------------------------------------
   Recovery: the disk store's copies after a restart */

/* What recovery collects while the store is walked. */
typedef struct {
    ab_broker_t *broker; /* the broker */
    zhashx_t *messages;  /* id → s_message_t * (one reference) */
    zlistx_t *orphans;   /* copy ids (uint64_t *) to delete afterwards */
    size_t copies;       /* copies requeued */
    size_t skipped;      /* copies left in the store */
} s_recovery_t;

/* A broker message for a stored one; the frames are kept only when
   `body` (the memory store's, for a replay), else read back. */
static s_message_t *
s_message_from_record (ab_broker_t *self, const ab_message_t *record,
                       ab_store_t *store, bool body)
{
    s_message_t *message = calloc (1, sizeof *message);
    assert (message);
    message->refs = 1;
    message->id = record->id;
    message->type = strdup (record->type);
    message->version = record->version;
    message->from = strdup (record->from);
    message->producer_id =
        record->producer_id ? json_string (record->producer_id) : NULL;
    message->has_seq = record->has_seq;
    message->seq = record->seq;
    message->traceparent =
        record->traceparent ? strdup (record->traceparent) : NULL;
    message->request = record->request;
    message->store = store;
    if (record->expires_ms) { /* wall clock → this process's monotonic */
        int64_t left = record->expires_ms - s_wall_ms ();
        message->expires = s_now () + (left > 0 ? left : 0);
    }
    if (body) {
        message->body_count = record->frame_count;
        message->body = calloc (record->frame_count, sizeof (zmq_msg_t));
        assert (message->body);
        for (size_t i = 0; i < record->frame_count; i++) {
            zmq_msg_init (&message->body[i]);
            zmq_msg_copy (&message->body[i], &record->frames[i]);
        }
        message->bytes = ab_message_bytes (record);
        self->live_bytes += message->bytes; /* a replay: past the limit */
    }
    assert (message->type && message->from);
    return message;
}

static int
s_recover_message (void *arg, const ab_message_t *record)
{
    s_recovery_t *recovery = arg;
    s_message_t *message = s_message_from_record (
        recovery->broker, record, recovery->broker->disk, false);
    zhashx_insert (recovery->messages, &message->id, message);
    return 0;
}

/* The queue a stored copy belongs to in the current topology (edge
   key "from->to:type", or "dead_letter->AGENT:REASON" for a dead-letter
   delivery, whose {reason, original} are rebuilt into *dead_p), or
   NULL. */
static s_queue_t *
s_recover_queue (ab_broker_t *self, const ab_copy_t *record,
                 const s_message_t *message, json_t **dead_p)
{
    s_generation_t *gen = self->gen;
    size_t edges = ab_topology_edge_count (gen->topology);
    const char *prefix = "dead_letter->";
    if (strncmp (record->edge_key, prefix, strlen (prefix)) != 0) {
        for (size_t i = 0; i < edges; i++)
            if (streq (gen->queues[i]->key, record->edge_key))
                return gen->queues[i];
        return NULL;
    }
    char agent[256];
    const char *colon = strrchr (record->edge_key, ':');
    size_t length = colon ? (size_t)(colon - record->edge_key) : 0;
    ab_dead_reason_t reason;
    if (!colon || record->edge >= edges || length <= strlen (prefix) ||
        length - strlen (prefix) >= sizeof agent ||
        ab_dead_reason_from_name (colon + 1, &reason))
        return NULL;
    snprintf (agent, sizeof agent, "%.*s", (int)(length - strlen (prefix)),
              record->edge_key + strlen (prefix));
    long to = ab_topology_agent_index (gen->topology, agent);
    const ab_edge_t *edge = gen->queues[record->edge]->edge;
    if (to < 0 || edge->dead_letter_agent != to)
        return NULL;
    /* the attempts of the copy that died were not stored: 0 */
    *dead_p = s_dead_header (message, edge, 0, reason);
    return s_generation_dead_queue (self, gen, to, reason);
}

static int
s_recover_copy (void *arg, const ab_copy_t *record)
{
    s_recovery_t *recovery = arg;
    ab_broker_t *self = recovery->broker;
    s_message_t *message =
        zhashx_lookup (recovery->messages, &record->message_id);
    json_t *dead = NULL;
    s_queue_t *queue = message && !message->request
                           ? s_recover_queue (self, record, message, &dead)
                           : NULL;
    if (!queue) {
        recovery->skipped++;
        if (message && message->request) { /* its requester is gone */
            uint64_t *id = malloc (sizeof *id);
            assert (id);
            *id = record->id;
            zlistx_add_end (recovery->orphans, id);
        } else
            ab_log_printf (self->log, AB_LOG_WARNING,
                           "recovery: copy %" PRIu64 " on %s: no such edge "
                           "now; it stays in the store",
                           record->id, record->edge_key);
        return 0;
    }
    const ab_edge_t *edge =
        queue->edge ? queue->edge : self->gen->queues[record->edge]->edge;
    s_copy_t *copy = s_copy_make (self, queue, edge, message, record->id);
    copy->attempts = record->attempts;
    copy->dead = dead;
    if (dead) { /* as in s_dead_letter: a dead letter does not expire */
        ab_timer_cancel (self->timers, copy->ttl_timer);
        copy->ttl_timer = 0;
    }
    s_copy_ready (copy, false);
    s_mark (self, queue->agent);
    recovery->copies++;
    return 0;
}

/* Requeues every live copy of the disk store: attempts kept, all due
   now. Request copies are deleted: the session to answer is gone. */
static int
s_recover (ab_broker_t *self, ab_diag_t *diag)
{
    s_recovery_t recovery = {self, ab_id_hash_new (NULL), zlistx_new (), 0, 0};
    assert (recovery.messages && recovery.orphans);
    zlistx_set_destructor (recovery.orphans, (czmq_destructor *)zstr_free);
    int rc = ab_store_recover (self->disk, s_recover_message, s_recover_copy,
                               &recovery);
    for (s_message_t *message = zhashx_first (recovery.messages); message;
         message = zhashx_next (recovery.messages))
        s_message_unref (self, &message);
    zhashx_destroy (&recovery.messages);
    for (uint64_t *id = zlistx_first (recovery.orphans); id;
         id = zlistx_next (recovery.orphans))
        ab_store_del_copy (self->disk, *id);
    if (rc)
        ab_diag_add (diag, NULL, 0, 0, "recovery failed: %s", ab_strerror (rc));
    else
        ab_log_printf (self->log, AB_LOG_INFO,
                       "recovered %zu copies from the store (%zu left in "
                       "it, %zu request copies dropped: requester gone)",
                       recovery.copies,
                       recovery.skipped - zlistx_size (recovery.orphans),
                       zlistx_size (recovery.orphans));
    zlistx_destroy (&recovery.orphans);
    return rc;
}

/* ---------------------------------------------------------------------
   The admin socket (docs/admin.md): a REP socket, JSON in and out. Its
   writes join the turn's batch; the answer leaves after the commit. */

/* Dead letters per page of dead.list, at most. */
#define S_ADMIN_LIMIT 1000

/* The stores that may hold dead letters, disk first. */
static size_t
s_stores (ab_broker_t *self, ab_store_t *stores[2])
{
    size_t count = 0;
    if (self->disk)
        stores[count++] = self->disk;
    stores[count++] = self->store;
    return count;
}

/* The store holding dead letter `id`, or NULL; fills *dead. */
static ab_store_t *
s_find_dead (ab_broker_t *self, uint64_t id, ab_dead_letter_t *dead)
{
    ab_store_t *stores[2];
    size_t count = s_stores (self, stores);
    for (size_t i = 0; i < count; i++)
        if (ab_store_get_dead (stores[i], id, dead) == 0)
            return stores[i];
    return NULL;
}

/* Appends up to `limit` dead letters of `store` after *position_p to
   `list`, advancing *position_p; *got_p says how many. 0 or an ab_err_t. */
static int
s_admin_list_store (ab_store_t *store, uint64_t *position_p, size_t limit,
                    json_t *list, size_t *got_p)
{
    ab_dead_letter_t *dead = calloc (limit, sizeof *dead);
    assert (dead);
    size_t got = 0, first = json_array_size (list);
    int rc = ab_store_list_dead (store, position_p, limit, dead, &got);
    for (size_t i = 0; rc == 0 && i < got; i++)
        json_array_append_new (
            list,
            json_pack ("{s:o, s:o, s:s, s:s, s:I, s:i}", "id",
                       json_sprintf ("%" PRIu64, dead[i].copy.id), "message",
                       json_sprintf ("%" PRIu64, dead[i].copy.message_id),
                       "edge", dead[i].copy.edge_key, "reason",
                       ab_dead_reason_name (dead[i].reason), "at_ms",
                       (json_int_t)dead[i].at_ms, "attempts",
                       dead[i].copy.attempts));
    /* edge keys are borrowed until the next store call: read messages
       only now */
    for (size_t i = 0; rc == 0 && i < got; i++) {
        ab_message_t *message = NULL;
        if (ab_store_get_message (store, dead[i].copy.message_id, &message))
            continue;
        json_t *entry = json_array_get (list, first + i);
        json_object_set_new (entry, "type", json_string (message->type));
        json_object_set_new (entry, "from", json_string (message->from));
        ab_message_destroy (&message);
    }
    free (dead);
    *got_p = rc ? 0 : got;
    return rc;
}

/* dead.list {cursor, limit}: one page, oldest first, filled from the
   durable store's dead letters, then the memory store's. The cursor is
   "STORE:POSITION" (opaque to clients); null when there is no more. */
static json_t *
s_admin_list (ab_broker_t *self, const json_t *request)
{
    ab_store_t *stores[2];
    size_t count = s_stores (self, stores), which = 0;
    uint64_t position = 0;
    const char *cursor = s_string_field (request, "cursor");
    if (cursor && sscanf (cursor, "%zu:%" SCNu64, &which, &position) != 2)
        return json_pack ("{s:b, s:s}", "ok", 0, "error", "bad cursor");
    json_int_t limit = s_int_field (request, "limit", 100);
    if (limit < 1 || limit > S_ADMIN_LIMIT || which >= count)
        return json_pack ("{s:b, s:s}", "ok", 0, "error",
                          "limit must be 1 to 1000; cursor from dead.list");
    json_t *list = json_array ();
    size_t room = (size_t)limit;
    while (room > 0 && which < count) {
        size_t got = 0;
        int rc =
            s_admin_list_store (stores[which], &position, room, list, &got);
        if (rc) {
            json_decref (list);
            return json_pack ("{s:b, s:s}", "ok", 0, "error", ab_strerror (rc));
        }
        room -= got;
        if (room > 0) { /* this store is done: on to the next */
            which++;
            position = 0;
        }
    }
    if (which >= count)
        return json_pack ("{s:b, s:o, s:n}", "ok", 1, "dead", list, "cursor");
    return json_pack ("{s:b, s:o, s:o}", "ok", 1, "dead", list, "cursor",
                      json_sprintf ("%zu:%" PRIu64, which, position));
}

/* The ids a replay or purge names: "ids" (strings or integers) or
   "all": true. Returns the count, or -1 with *error set. */
static long
s_admin_ids (ab_broker_t *self, const json_t *request, uint64_t **ids_p,
             const char **error)
{
    const json_t *ids = json_object_get (request, "ids");
    if (json_is_true (json_object_get (request, "all"))) {
        zlistx_t *all = zlistx_new ();
        ab_store_t *stores[2];
        size_t count = s_stores (self, stores);
        ab_dead_letter_t page[64];
        for (size_t i = 0; i < count; i++) {
            uint64_t cursor = 0;
            size_t got = 64;
            while (got == 64 &&
                   ab_store_list_dead (stores[i], &cursor, 64, page, &got) == 0)
                for (size_t k = 0; k < got; k++)
                    zlistx_add_end (all, (void *)(uintptr_t)page[k].copy.id);
        }
        long n = (long)zlistx_size (all), k = 0;
        *ids_p = calloc (n ? (size_t)n : 1, sizeof (uint64_t));
        assert (*ids_p);
        for (void *id = zlistx_first (all); id; id = zlistx_next (all))
            (*ids_p)[k++] = (uint64_t)(uintptr_t)id;
        zlistx_destroy (&all);
        return n;
    }
    if (!json_is_array (ids)) {
        *error = "give \"ids\" (a list) or \"all\": true";
        return -1;
    }
    size_t n = json_array_size (ids);
    *ids_p = calloc (n ? n : 1, sizeof (uint64_t));
    assert (*ids_p);
    for (size_t i = 0; i < n; i++) {
        const json_t *id = json_array_get (ids, i);
        char *end = NULL;
        errno = 0;
        if (json_is_integer (id) && json_integer_value (id) > 0)
            (*ids_p)[i] = (uint64_t)json_integer_value (id);
        else if (json_is_string (id))
            (*ids_p)[i] = strtoull (json_string_value (id), &end, 10);
        if ((*ids_p)[i] == 0 || errno || (end && *end)) {
            free (*ids_p);
            *error = "ids must be dead-letter ids from dead.list";
            return -1;
        }
    }
    return (long)n;
}

/* Puts dead letter `id` back on its edge as a fresh copy (attempt 1 on
   its next delivery). Returns NULL or why not. */
static const char *
s_replay_one (ab_broker_t *self, uint64_t id)
{
    ab_dead_letter_t dead;
    ab_store_t *store = s_find_dead (self, id, &dead);
    if (!store)
        return "no such dead letter";
    ab_copy_t record = dead.copy;
    char *edge_key = strdup (record.edge_key);
    assert (edge_key);
    record.edge_key = edge_key;
    ab_message_t *stored = NULL;
    if (ab_store_get_message (store, record.message_id, &stored)) {
        free (edge_key);
        return "its message cannot be read";
    }
    s_message_t *message =
        s_message_from_record (self, stored, store, store != self->disk);
    ab_message_destroy (&stored);
    message->expires = 0; /* its PUB's ttl_ms was spent (the edge's holds) */
    json_t *dead_header = NULL;
    s_queue_t *queue = s_recover_queue (self, &record, message, &dead_header);
    free (edge_key);
    const char *why = "its edge is not in the topology now";
    if (queue) {
        const ab_edge_t *edge =
            queue->edge ? queue->edge : self->gen->queues[record.edge]->edge;
        int rc;
        s_copy_t *copy = s_copy_new (self, queue, edge, message, &rc);
        if (copy && (rc = ab_store_del_dead (store, id)) != 0)
            s_copy_forget (self, copy, true);
        else if (copy) {
            copy->dead = dead_header;
            dead_header = NULL;
            s_copy_ready (copy, false);
            s_mark (self, queue->agent);
        }
        why = rc ? ab_strerror (rc) : NULL;
    }
    json_decref (dead_header);
    s_message_unref (self, &message);
    return why;
}

static const char *
s_purge_one (ab_broker_t *self, uint64_t id)
{
    ab_dead_letter_t dead;
    ab_store_t *store = s_find_dead (self, id, &dead);
    if (!store)
        return "no such dead letter";
    int rc = ab_store_del_dead (store, id);
    return rc ? ab_strerror (rc) : NULL;
}

/* dead.replay and dead.purge: {ok, done, failed: [{id, error}]}. */
static json_t *
s_admin_each (ab_broker_t *self, const json_t *request,
              const char *(*fn) (ab_broker_t *self, uint64_t id))
{
    uint64_t *ids = NULL;
    const char *error = NULL;
    long count = s_admin_ids (self, request, &ids, &error);
    if (count < 0)
        return json_pack ("{s:b, s:s}", "ok", 0, "error", error);
    json_t *failed = json_array ();
    for (long i = 0; i < count; i++) {
        const char *why = fn (self, ids[i]);
        if (why)
            json_array_append_new (failed,
                                   json_pack ("{s:o, s:s}", "id",
                                              json_sprintf ("%" PRIu64, ids[i]),
                                              "error", why));
    }
    free (ids);
    json_int_t done = count - (json_int_t)json_array_size (failed);
    return json_pack ("{s:b, s:I, s:o}", "ok", json_array_size (failed) == 0,
                      "done", done, "failed", failed);
}

static json_t *
s_admin_replay (ab_broker_t *self, const json_t *request)
{
    return s_admin_each (self, request, s_replay_one);
}

static json_t *
s_admin_purge (ab_broker_t *self, const json_t *request)
{
    return s_admin_each (self, request, s_purge_one);
}

static json_t *
s_admin_counters (ab_broker_t *self, const json_t *request)
{
    (void)request;
    return json_pack ("{s:b, s:o}", "ok", 1, "counters",
                      ab_broker_counters (self));
}

/* The admin requests, by "cmd". */
static const struct {
    const char *name;                                  /* "cmd" */
    json_t *(*fn) (ab_broker_t *self, const json_t *); /* its answer */
} s_admin_commands[] = {
    {"dead.list", s_admin_list},
    {"dead.replay", s_admin_replay},
    {"dead.purge", s_admin_purge},
    {"counters", s_admin_counters},
};

/* One admin request; the answer waits in admin_reply for the commit. */
static void
s_on_admin (ab_broker_t *self)
{
    char *text = zstr_recv (self->admin);
    if (!text)
        return;
    json_t *request = json_loads (text, 0, NULL);
    const char *cmd = s_string_field (request, "cmd");
    size_t i = 0, count = sizeof s_admin_commands / sizeof s_admin_commands[0];
    while (cmd && i < count && !streq (s_admin_commands[i].name, cmd))
        i++;
    json_t *reply =
        cmd && i < count
            ? s_admin_commands[i].fn (self, request)
            : json_pack ("{s:b, s:s}", "ok", 0, "error",
                         "unknown request: give \"cmd\": dead.list, "
                         "dead.replay, dead.purge or counters");
    ab_log_printf (self->log, AB_LOG_INFO, "admin: %s", cmd ? cmd : "?");
    self->admin_reply = json_dumps (reply, JSON_COMPACT);
    if (!self->admin_reply)
        self->admin_reply = strdup ("{\"ok\":false}");
    json_decref (reply);
    json_decref (request);
    zstr_free (&text);
}

/* ---------------------------------------------------------------------
   The actor */

static void
s_pipe_term (ab_broker_t *self, zsock_t *pipe)
{
    (void)pipe;
    self->terminated = true;
}

static void
s_pipe_counters (ab_broker_t *self, zsock_t *pipe)
{
    json_t *counters = ab_broker_counters (self);
    char *text = json_dumps (counters, JSON_COMPACT);
    zstr_send (pipe, text ? text : "{}");
    free (text);
    json_decref (counters);
}

static void
s_pipe_reload (ab_broker_t *self, zsock_t *pipe)
{
    ab_diag_t *diag = ab_diag_new ();
    int rc = s_reload (self, diag);
    char *lines = strdup ("");
    for (size_t i = 0; lines && i < ab_diag_count (diag); i++) {
        ab_log_printf (self->log, AB_LOG_ERROR, "%s", ab_diag_text (diag, i));
        char *more = zsys_sprintf ("%s%s\n", lines, ab_diag_text (diag, i));
        free (lines);
        lines = more;
    }
    zstr_sendm (pipe, rc ? "ERROR" : "OK");
    zstr_send (pipe, lines ? lines : "");
    zstr_free (&lines);
    ab_diag_destroy (&diag);
}

static void
s_pipe_endpoint (ab_broker_t *self, zsock_t *pipe)
{
    zstr_send (pipe, self->endpoint);
}

/* The actor's commands (see ab_broker.h). */
static const struct {
    const char *name;                              /* command string */
    void (*fn) (ab_broker_t *self, zsock_t *pipe); /* its handler */
} s_pipe_commands[] = {
    {"$TERM", s_pipe_term},
    {"COUNTERS", s_pipe_counters},
    {"RELOAD", s_pipe_reload},
    {"ENDPOINT", s_pipe_endpoint},
};

static void
s_on_pipe (ab_broker_t *self, zsock_t *pipe)
{
    char *command = zstr_recv (pipe);
    size_t i = 0, count = sizeof s_pipe_commands / sizeof s_pipe_commands[0];
    while (command && i < count && !streq (s_pipe_commands[i].name, command))
        i++;
    if (!command) /* interrupted: stop as for $TERM */
        self->terminated = true;
    else if (i < count)
        s_pipe_commands[i].fn (self, pipe);
    else
        ab_log_printf (self->log, AB_LOG_ERROR, "actor: unknown command %s",
                       command);
    zstr_free (&command);
}

void
ab_broker_actor (zsock_t *pipe, void *args)
{
    ab_broker_t *self = args;
    assert (self && self->router);
    zsock_signal (pipe, 0);
    ab_log_printf (self->log, AB_LOG_INFO, "serving %s on %s",
                   ab_topology_id (self->gen->topology), self->endpoint);
    zmq_pollitem_t items[] = {
        {zsock_resolve (pipe), 0, ZMQ_POLLIN, 0},
        {zsock_resolve (self->router), 0, ZMQ_POLLIN, 0},
        {self->admin ? zsock_resolve (self->admin) : NULL, 0, ZMQ_POLLIN, 0}};
    self->terminated = false;
    while (!self->terminated) {
        /* instances found gone at the last flush are forgotten by the
           next turn's s_begin: take it now, not at the next event */
        long timeout =
            zlistx_size (self->vanished) || zlistx_size (self->refused)
                ? 0
                : ab_timer_timeout_ms (self->timers, s_now ());
        if (zmq_poll (items, self->admin ? 3 : 2, timeout) < 0 &&
            errno != EINTR)
            break;
        /* one batch per turn: everything read below shares one commit
           (and one sync) before any answer leaves */
        s_begin (self);
        if (items[0].revents & ZMQ_POLLIN)
            s_on_pipe (self, pipe);
        if (self->admin && (items[2].revents & ZMQ_POLLIN))
            s_on_admin (self);
        /* A turn that stored durable messages ends in a sync, which costs
           as much as handling hundreds of messages: while full batches
           keep coming, more of them share it (S_DURABLE_ROUNDS). */
        for (int round = 0; round < S_DURABLE_ROUNDS && !self->terminated;
             round++)
            if (s_on_socket (self) < S_BATCH || !self->stored_durable)
                break;
        s_fire_timers (self);
        s_flush (self);
        s_commit (self);
        s_wire_flush (self);
    }
    /* a clean drain: what was handed to libzmq still leaves (linger);
       nothing more is read */
    zsock_set_linger (self->router, 1000);
    zsock_destroy (&self->router);
    s_log_counters (self);
}

/* ---------------------------------------------------------------------
   Life cycle */

static int
s_bind (ab_broker_t *self, const char *endpoint, ab_diag_t *diag)
{
    self->router = zsock_new (ZMQ_ROUTER);
    if (!self->router)
        return AB_EIO;
    zsock_set_router_mandatory (self->router, 1);
    zsock_set_router_handover (self->router, 1);
    /* answers are bounded by commands and deliveries by credit, so an
       unbounded send queue never blocks the broker on a slow peer */
    zsock_set_sndhwm (self->router, 0);
    zsock_set_maxmsgsize (self->router,
                          (int64_t)self->max_message_bytes + S_MAXMSG_MARGIN);
    zsock_set_linger (self->router, 0);
    if (zsock_bind (self->router, "%s", endpoint) < 0) {
        ab_diag_add (diag, NULL, 0, 0, "cannot bind %s: %s", endpoint,
                     zmq_strerror (zmq_errno ()));
        return AB_EIO;
    }
    self->endpoint = strdup (zsock_endpoint (self->router));
    return self->endpoint ? 0 : AB_ENOMEM;
}

/* The configured stages. The schema stage is the broker's own and always
   first, so a `{name: schema}` entry only sets its option. */
static ab_pipeline_t *
s_pipeline_new (ab_broker_t *self, const ab_broker_config_t *config,
                ab_diag_t *diag)
{
    json_t *stages = json_array ();
    size_t index;
    json_t *stage;
    json_array_foreach (config->filters, index, stage)
    {
        const char *name = json_string_value (json_object_get (stage, "name"));
        if (name && streq (name, "schema"))
            self->format_assert |=
                json_is_true (json_object_get (stage, "format_assert"));
        else
            json_array_append (stages, stage);
    }
    ab_filter_env_t env = {.file = config->config_file};
    ab_pipeline_t *pipeline = ab_pipeline_new_from_config (stages, &env, diag);
    json_decref (stages);
    return pipeline;
}

/* Opens the LMDB store in data_dir; a directory that is not ours or is
   damaged is an error in diag, never reinitialised. */
static int
s_open_disk (ab_broker_t *self, const ab_broker_config_t *config,
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
        ab_timer_add (self->timers, s_now () + self->sync_ms, S_TIMER_SYNC,
                      self);
    }
    ab_log_printf (self->log, AB_LOG_INFO, "durable store %s in %s",
                   ab_store_lmdb_id (self->disk), config->data_dir);
    return 0;
}

static int
s_bind_admin (ab_broker_t *self, const char *endpoint, ab_diag_t *diag)
{
    self->admin = zsock_new (ZMQ_REP);
    if (!self->admin)
        return AB_EIO;
    zsock_set_linger (self->admin, 0);
    if (zsock_bind (self->admin, "%s", endpoint) < 0) {
        ab_diag_add (diag, NULL, 0, 0, "cannot bind admin endpoint %s: %s",
                     endpoint, zmq_strerror (zmq_errno ()));
        return AB_EIO;
    }
    return 0;
}

ab_broker_t *
ab_broker_new (const ab_broker_config_t *config, ab_diag_t *diag)
{
    assert (config && config->topology);
    ab_broker_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->topology_path = strdup (config->topology);
    self->heartbeat_ms = config->heartbeat_ms > 0 ? config->heartbeat_ms
                                                  : AB_BROKER_HEARTBEAT_MS;
    self->max_message_bytes = config->max_message_bytes
                                  ? config->max_message_bytes
                                  : AB_BROKER_MAX_MESSAGE_BYTES;
    self->durable = config->durable;
    self->log = config->log;
    self->timers = ab_timer_new ();
    /* memory_limit is the broker's to keep (s_memory_hold): the memory
       store holds dead letters only, put when live bytes were counted */
    self->memory_limit = config->memory_limit;
    self->store = ab_store_new_memory (NULL);
    self->ids = self->store;
    self->outbox = zlistx_new ();
    self->vanished = zlistx_new ();
    self->outq = ab_outq_new ();
    self->refused = zlistx_new ();
    if (self->refused)
        zlistx_set_destructor (self->refused, s_refused_destroy);
    self->inbound = calloc (S_BATCH, sizeof (s_inbound_t));
    self->checking = calloc (S_BATCH, sizeof (size_t));
    self->pool = ab_pool_new (
        config->check_threads < 0 ? 0
        : config->check_threads > 0
            ? (size_t)config->check_threads
            : ab_pool_default_threads (S_BUSY_THREADS, S_CHECK_THREADS_MAX));
    if (self->outbox && self->vanished) {
        zlistx_set_destructor (self->outbox, s_held_destroy);
        zlistx_set_destructor (self->vanished, (czmq_destructor *)zstr_free);
    }
    self->retired = zlistx_new ();
    self->agents = zhashx_new ();
    self->sessions = zhashx_new ();
    self->copies = ab_id_hash_new (NULL);
    self->dirty = zlistx_new ();
    self->out = ab_jsonw_new ();
    self->format_assert = config->format_assert;
    self->pipeline = s_pipeline_new (self, config, diag);
    /* the disk store first: whether durable edges load depends on it */
    bool opened = !config->data_dir || s_open_disk (self, config, diag) == 0;
    ab_topology_t *topology = opened ? s_load_topology (self, diag) : NULL;
    if (topology)
        self->gen = s_generation_new (self, &topology, diag);
    if (!self->topology_path || !self->timers || !self->store ||
        !self->outbox || !self->vanished || !self->outq || !self->refused ||
        !self->inbound || !self->checking || !self->pool || !self->retired ||
        !self->agents || !self->sessions || !self->copies || !self->dirty ||
        !self->out || !self->pipeline || !self->gen ||
        (self->disk && s_recover (self, diag)) ||
        s_bind (self, config->endpoint ? config->endpoint : AB_BROKER_ENDPOINT,
                diag) ||
        (config->admin_endpoint &&
         s_bind_admin (self, config->admin_endpoint, diag)))
        ab_broker_destroy (&self);
    return self;
}

void
ab_broker_destroy (ab_broker_t **self_p)
{
    assert (self_p);
    ab_broker_t *self = *self_p;
    if (!self)
        return;
    if (self->copies) {
        zlistx_t *copies = zhashx_values (self->copies);
        /* not from the store: the disk store keeps them for the next
           start */
        for (s_copy_t *copy = zlistx_first (copies); copy;
             copy = zlistx_next (copies))
            s_copy_forget (self, copy, false);
        zlistx_destroy (&copies);
    }
    if (self->sessions) {
        zlistx_t *sessions = zhashx_values (self->sessions);
        for (s_instance_t *inst = zlistx_first (sessions); inst;
             inst = zlistx_next (sessions))
            s_instance_gone (self, inst, false);
        zlistx_destroy (&sessions);
    }
    for (s_generation_t *gen = zlistx_first (self->retired); gen;
         gen = zlistx_next (self->retired))
        s_generation_destroy (&gen);
    s_generation_destroy (&self->gen);
    if (self->agents) {
        for (void *agent = zhashx_first (self->agents); agent;
             agent = zhashx_next (self->agents))
            s_agent_destroy (&agent);
    }
    zhashx_destroy (&self->agents);
    zhashx_destroy (&self->sessions);
    zhashx_destroy (&self->copies);
    zlistx_destroy (&self->retired);
    zlistx_destroy (&self->dirty);
    ab_jsonw_destroy (&self->out);
    zlistx_destroy (&self->outbox);
    zlistx_destroy (&self->vanished);
    ab_outq_destroy (&self->outq);
    zlistx_destroy (&self->refused);
    ab_pool_destroy (&self->pool);
    free (self->inbound);
    free (self->checking);
    zstr_free (&self->admin_reply);
    zsock_destroy (&self->admin);
    ab_pipeline_destroy (&self->pipeline);
    ab_store_destroy (&self->store);
    ab_store_destroy (&self->disk);
    ab_timer_destroy (&self->timers);
    zsock_destroy (&self->router);
    free (self->endpoint);
    free (self->topology_path);
    free (self);
    *self_p = NULL;
}

const char *
ab_broker_endpoint (const ab_broker_t *self)
{
    assert (self);
    return self->endpoint;
}
