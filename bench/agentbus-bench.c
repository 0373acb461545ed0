/*  =========================================================================
    agentbus-bench - the broker's cost against raw ZeroMQ, side by side

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Each scenario runs twice, back to back: against a fresh agentbusd
    (started from --agentbusd on a topology generated in a temp dir) and
    against a baseline, a plain ROUTER->DEALER zmq_proxy in a child
    process that carries the same frames, where the consumer sends one
    ack back through the proxy for every message. Producers and consumers
    are threads of this process with their own sockets over
    tcp://127.0.0.1; the broker and the proxy are separate processes, so
    their peak RSS and CPU time are read from /proc alone. Two kinds
    compare with something else: durable with one fdatasync per record,
    and nats, where agentbusd's small is set beside the same workload
    through NATS JetStream on a nats-server of its own (ab_natsbench.c).

    What is counted: msgs_per_s is messages consumed per second (for
    fanout, every copy; for reqrep and latency, round trips). A run sends
    for a fixed time, then waits until everything sent was consumed; the
    rate is consumed / (last consumption - first send). Producers keep a
    bounded window of messages in flight end to end, so neither side is
    measured with an unbounded queue. Latency is open-loop: message i is
    due at t0 + i/rate and its round trip is timed from that due time, not
    from when it was actually sent, so a stall is charged to every message
    it delayed (no coordinated omission).
*/

#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <zmq.h>

#include "ab_child.h"
#include "ab_hist.h"
#ifdef HAVE_NATS
#include "ab_natsbench.h"
#endif
#ifdef HAVE_RABBITMQ
#include "ab_rabbitbench.h"
#endif
#ifdef HAVE_HIREDIS
#include "ab_redisbench.h"
#endif

/* The broker started unless --agentbusd says otherwise: the build tree's,
   as the Makefile defines it. */
#ifndef AB_BENCH_AGENTBUSD
#define AB_BENCH_AGENTBUSD "./agentbusd"
#endif

/* ---------------------------------------------------------------------
   Scenarios */

typedef enum {
    S_FLOW,    /* producers pipeline, consumers ack each message */
    S_REQREP,  /* closed-loop request/reply, a fixed number in flight */
    S_LATENCY, /* open-loop request/reply at a fixed rate */
    S_DURABLE, /* flow on a durable edge; baseline: fdatasync per record */
    S_NATS,    /* NATS JetStream, when installed */
    S_RABBIT,  /* RabbitMQ, when installed */
    S_REDIS    /* Redis Streams, when installed */
} s_kind_t;

/* One line of results: a scenario as it is reported. */
typedef struct {
    const char *name;      /* as reported and selected */
    const char *group;     /* a name that selects several, or NULL */
    s_kind_t kind;         /* how it runs */
    const char *type;      /* message type on the broker's edge */
    const char *agents[4]; /* consumer agent of each consumer socket */
    int consumers;         /* consumer sockets */
    int copies;            /* deliveries per publish (fan-out) */
    int producers;         /* producer sockets */
    size_t attach_bytes;   /* float32 attachment per message, 0 = none */
    double rate_fraction;  /* latency: share of the small maximum */
    const char *sync;      /* durable: the broker's sync setting (YAML) */
    bool durable;          /* peers: the durable setup, against
                              durable-always (else against small) */
    const char *peer;      /* peers: the baseline's name in the JSON */
    const char *peer_note; /* peers: what the baseline side is */
} s_scenario_t;

/* The broker's agents and edges are generated from this table; the
   durable edge lives in a topology of its own (it refuses to load where
   durable storage is missing, and must not take the others down). */
static const s_scenario_t s_scenarios[] = {
    {.name = "small",
     .kind = S_FLOW,
     .type = "bench.event",
     .agents = {"cons"},
     .consumers = 1,
     .copies = 1,
     .producers = 1},
    {.name = "route",
     .kind = S_FLOW,
     .type = "bench.any",
     .agents = {"router"},
     .consumers = 1,
     .copies = 1,
     .producers = 1},
    {.name = "fanout",
     .kind = S_FLOW,
     .type = "bench.fan",
     .agents = {"fan1", "fan2", "fan3", "fan4"},
     .consumers = 4,
     .copies = 4,
     .producers = 1},
    {.name = "compete",
     .kind = S_FLOW,
     .type = "bench.compete",
     .agents = {"comp", "comp", "comp", "comp"},
     .consumers = 4,
     .copies = 1,
     .producers = 1},
    {.name = "reqrep",
     .kind = S_REQREP,
     .type = "bench.ask",
     .agents = {"answerer"},
     .consumers = 1,
     .copies = 1,
     .producers = 1},
    {.name = "tensor-1m",
     .group = "tensor",
     .kind = S_FLOW,
     .type = "bench.tensor",
     .agents = {"tens"},
     .consumers = 1,
     .copies = 1,
     .producers = 1,
     .attach_bytes = 1u << 20},
    {.name = "tensor-16m",
     .group = "tensor",
     .kind = S_FLOW,
     .type = "bench.tensor",
     .agents = {"tens"},
     .consumers = 1,
     .copies = 1,
     .producers = 1,
     .attach_bytes = 16u << 20},
    {.name = "tensor-64m",
     .group = "tensor",
     .kind = S_FLOW,
     .type = "bench.tensor",
     .agents = {"tens"},
     .consumers = 1,
     .copies = 1,
     .producers = 1,
     .attach_bytes = 64u << 20},
    {.name = "latency-10",
     .group = "latency",
     .kind = S_LATENCY,
     .type = "bench.ask",
     .agents = {"answerer"},
     .consumers = 1,
     .copies = 1,
     .producers = 1,
     .rate_fraction = 0.10},
    {.name = "latency-25",
     .group = "latency",
     .kind = S_LATENCY,
     .type = "bench.ask",
     .agents = {"answerer"},
     .consumers = 1,
     .copies = 1,
     .producers = 1,
     .rate_fraction = 0.25},
    {.name = "durable-always",
     .group = "durable",
     .kind = S_DURABLE,
     .type = "bench.durable",
     .agents = {"dcons"},
     .consumers = 1,
     .copies = 1,
     .producers = 16,
     .sync = "sync: always"},
    {.name = "durable-batch",
     .group = "durable",
     .kind = S_DURABLE,
     .type = "bench.durable",
     .agents = {"dcons"},
     .consumers = 1,
     .copies = 1,
     .producers = 16,
     .sync = "sync: {batch_ms: 10}"},
    {.name = "nats", .group = "peers", .kind = S_NATS, .producers = 1},
    {.name = "rabbitmq",
     .group = "peers",
     .kind = S_RABBIT,
     .consumers = 1,
     .copies = 1,
     .producers = 1,
     .peer = "rabbitmq-classic",
     .peer_note = "RabbitMQ classic transient queue, non-persistent "
                  "messages"},
    {.name = "rabbitmq-durable",
     .group = "peers",
     .kind = S_RABBIT,
     .consumers = 1,
     .copies = 1,
     .producers = 16,
     .durable = true,
     .peer = "rabbitmq-classic-durable",
     .peer_note = "RabbitMQ classic durable queue, persistent messages"},
    {.name = "redis",
     .group = "peers",
     .kind = S_REDIS,
     .consumers = 1,
     .copies = 1,
     .producers = 1,
     .peer = "redis-streams",
     .peer_note = "Redis Streams, consumer group, no persistence"},
    {.name = "redis-aof",
     .group = "peers",
     .kind = S_REDIS,
     .consumers = 1,
     .copies = 1,
     .producers = 16,
     .durable = true,
     .peer = "redis-streams-aof",
     .peer_note = "Redis Streams, consumer group, appendonly yes, "
                  "appendfsync always"},
};

#define S_SCENARIOS (sizeof s_scenarios / sizeof s_scenarios[0])
/* small, the first row: latency's rates and the nats row come from it. */
#define S_SMALL (&s_scenarios[0])

/* What the two sides of each kind are, as the JSON's "broker" and
   "baseline" name them; `note` is printed under a row that ran. */
static const struct {
    const char *broker;   /* the broker side */
    const char *baseline; /* the baseline side */
    const char *note;     /* for the table, or NULL */
} s_sides[] = {
    [S_FLOW] = {"agentbusd", "zmq-proxy", NULL},
    [S_REQREP] = {"agentbusd", "zmq-proxy", NULL},
    [S_LATENCY] = {"agentbusd", "zmq-proxy", NULL},
    [S_DURABLE] = {"agentbusd", "fdatasync", NULL},
    [S_NATS] = {"agentbusd-small", "nats-jetstream",
                "left: agentbusd's small of this run; base: NATS JetStream "
                "(file storage, explicit acks, async publish)"},
    /* the peers' names come from their scenario */
    [S_RABBIT] = {NULL, NULL, NULL},
    [S_REDIS] = {NULL, NULL, NULL},
};

/* How long a RabbitMQ node may take to boot, s (5-10 s on a loaded
   2-core machine). */
#define S_RABBIT_BOOT_S 90

/* Bytes of the JSON payload of small, route, fanout, compete, reqrep. */
#define S_PAYLOAD_BYTES 256
/* Small messages in flight end to end, all producers together. */
#define S_WINDOW 2048
/* Requests in flight in reqrep. */
#define S_REQREP_INFLIGHT 8
/* Most frames in one message this program receives. */
#define S_MAX_PARTS 8
/* How long a run may take to drain after its sending time, ns. */
#define S_DRAIN_NS (30 * 1000000000LL)

/* Command-line settings. */
typedef struct {
    const char *agentbusd; /* the broker binary */
    const char *json;      /* --json FILE, or NULL */
    const char *select;    /* --scenarios LIST, or NULL = the mode's */
    double seconds;        /* sending time of each side of a scenario */
    int credit;            /* consumers' credit (HELLO) */
    bool smoke;            /* short runs for make check */
    bool keep;             /* keep the temp dir */
    const char *mode;      /* "full", "quick" or "smoke", reported */
} s_options_t;

/* The figures of one side (broker or baseline) of a scenario; NAN where
   not measured. */
typedef struct {
    double msgs_per_s;    /* messages consumed (or round trips) per second */
    double mb_per_s;      /* payload + attachment bytes, 10^6 per second */
    double p50_us;        /* round-trip percentiles, microseconds */
    double p99_us;        /* " */
    double p999_us;       /* " */
    double peak_rss_kb;   /* VmHWM of the broker or proxy process */
    double cpu_s_per_m;   /* its user+system seconds per million messages */
    uint64_t messages;    /* messages counted */
    uint64_t errors;      /* rejects, errors, losses */
    double offered_per_s; /* latency: the scheduled rate */
} s_side_t;

/* One reported scenario. */
typedef struct {
    const s_scenario_t *scenario; /* what ran */
    s_side_t broker;              /* against agentbusd */
    s_side_t baseline;            /* against zmq_proxy (or fdatasync) */
    char skipped[256];            /* why it did not run, or "" */
} s_result_t;

/* Everything one invocation shares. */
typedef struct {
    s_options_t options; /* settings */
    char dir[256];       /* temp dir: topology, schemas, logs, data */
    char self[512];      /* this program, to start the proxy child */
    s_side_t small;      /* the broker's side of small, once it ran */
    s_side_t durable;    /* the broker's side of durable-always, once */
    double fsync_per_s;  /* the fdatasync rate, measured once */
    int broker_runs;     /* brokers started (log file names) */
#ifdef HAVE_RABBITMQ
    ab_rabbitbench_t *rabbit; /* the RabbitMQ node, once started */
#endif
} s_bench_t;

/* ---------------------------------------------------------------------
   Small helpers */

static int64_t
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int
s_write_file (const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen (path, "w");
    if (!file)
        return -1;
    int rc = fputs (text, file) < 0 ? -1 : 0;
    return fclose (file) || rc ? -1 : 0;
}

/* CPU seconds (user + system) and peak RSS (kB) of a process, or -1. */
static void
s_proc_stats (pid_t pid, double *cpu_s, double *hwm_kb)
{
    ab_child_stats (pid, cpu_s, hwm_kb);
}

/* ---------------------------------------------------------------------
   Frames */

/* One received multipart message. */
typedef struct {
    zmq_msg_t part[S_MAX_PARTS]; /* the first frames */
    int count;                   /* frames kept in `part` */
} s_frames_t;

/* Receives one whole message; frames past S_MAX_PARTS are dropped.
   Returns the frame count, or -1 (EAGAIN with ZMQ_DONTWAIT). */
static int
s_recv (void *sock, s_frames_t *frames, int flags)
{
    frames->count = 0;
    int more = 1;
    while (more) {
        zmq_msg_t spare, *part = frames->count < S_MAX_PARTS
                                     ? &frames->part[frames->count]
                                     : &spare;
        zmq_msg_init (part);
        if (zmq_msg_recv (part, sock, frames->count ? 0 : flags) < 0) {
            zmq_msg_close (part);
            return -1;
        }
        more = zmq_msg_more (part);
        if (part == &spare)
            zmq_msg_close (part);
        else
            frames->count++;
    }
    return frames->count;
}

static void
s_frames_close (s_frames_t *frames)
{
    for (int i = 0; i < frames->count; i++)
        zmq_msg_close (&frames->part[i]);
    frames->count = 0;
}

static bool
s_is (zmq_msg_t *part, const char *word)
{
    size_t len = strlen (word);
    return zmq_msg_size (part) == len &&
           memcmp (zmq_msg_data (part), word, len) == 0;
}

/* Copies the string value of `key` from a compact JSON header (the
   broker writes compact JSON, and the values read here, ids this program
   chose or the broker's message ids, have no escapes). Returns 0 or -1. */
static int
s_header_field (zmq_msg_t *header, const char *key, char *out, size_t size)
{
    char pattern[32];
    int len = snprintf (pattern, sizeof pattern, "\"%s\":\"", key);
    const char *text = zmq_msg_data (header);
    size_t total = zmq_msg_size (header);
    const char *found = memmem (text, total, pattern, (size_t)len);
    if (!found)
        return -1;
    const char *start = found + len;
    const char *end = memchr (start, '"', total - (size_t)(start - text));
    if (!end || (size_t)(end - start) >= size)
        return -1;
    memcpy (out, start, (size_t)(end - start));
    out[end - start] = 0;
    return 0;
}

/* Sends `count` frames; `data[i]` NULL sends `msgs[i]` (moved) instead.
   A frame given as data is copied unless `borrow` (large attachments,
   which outlive the run). Returns 0 or -1. */
typedef struct {
    const void *data; /* bytes, or NULL to send `msg` */
    size_t size;      /* length of data */
    zmq_msg_t *msg;   /* a frame to move when data is NULL */
    bool borrow;      /* data outlives the send: no copy */
} s_part_t;

static int
s_send (void *sock, const s_part_t *parts, int count)
{
    for (int i = 0; i < count; i++) {
        int flags = i + 1 < count ? ZMQ_SNDMORE : 0;
        zmq_msg_t msg;
        if (!parts[i].data) {
            if (zmq_msg_send (parts[i].msg, sock, flags) < 0)
                return -1;
            continue;
        }
        if (parts[i].borrow)
            zmq_msg_init_data (&msg, (void *)parts[i].data, parts[i].size, NULL,
                               NULL);
        else {
            zmq_msg_init_size (&msg, parts[i].size);
            memcpy (zmq_msg_data (&msg), parts[i].data, parts[i].size);
        }
        if (zmq_msg_send (&msg, sock, flags) < 0) {
            zmq_msg_close (&msg);
            return -1;
        }
    }
    return 0;
}

#define S_STR(text)                                                            \
    {                                                                          \
        (text), strlen (text), NULL, false                                     \
    }

/* Sends an ABP/1 command without a payload. */
static int
s_send_command (void *sock, const char *command, const char *header)
{
    s_part_t parts[] = {S_STR ("ABP/1"), S_STR (command), S_STR (header)};
    return s_send (sock, parts, 3);
}

/* A socket of this program: no high-water marks (every sender keeps its
   own window, and a dropped ack on a ROUTER would hang a run), short
   linger. */
static void *
s_socket (void *ctx, int type, const char *endpoint, bool bind)
{
    void *sock = zmq_socket (ctx, type);
    int zero = 0, linger = 100;
    zmq_setsockopt (sock, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt (sock, ZMQ_RCVHWM, &zero, sizeof zero);
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
    if ((bind ? zmq_bind (sock, endpoint) : zmq_connect (sock, endpoint))) {
        zmq_close (sock);
        return NULL;
    }
    return sock;
}

/* Waits up to `timeout_ms` for one message whose command (frame 1) is
   `word`; other messages are dropped. Returns 0 or -1. */
static int
s_expect (void *sock, const char *word, int timeout_ms)
{
    int64_t until = s_now () + (int64_t)timeout_ms * 1000000;
    while (s_now () < until) {
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&item, 1, 50) <= 0)
            continue;
        s_frames_t frames;
        if (s_recv (sock, &frames, 0) < 0)
            continue;
        bool found = frames.count >= 2 && s_is (&frames.part[1], word);
        s_frames_close (&frames);
        if (found)
            return 0;
    }
    return -1;
}

/* HELLO as `agent`; 0 once WELCOME arrived. */
static int
s_hello (void *sock, const char *agent, int credit)
{
    char header[160];
    snprintf (header, sizeof header, "{\"agent\":\"%s\",\"credit\":%d}", agent,
              credit);
    if (s_send_command (sock, "HELLO", header))
        return -1;
    return s_expect (sock, "WELCOME", 5000);
}

/* ---------------------------------------------------------------------
   The generated topology and schemas */

/* A schema like a real agent event: required fields, a pattern, an
   enum, bounds, an array; `additionalProperties: false`. */
static const char s_event_schema[] =
    "version: 1\n"
    "description: an agent event, as agentbus-bench sends it\n"
    "schema:\n"
    "  type: object\n"
    "  required: [id, agent, kind, ts, score, tags, text]\n"
    "  additionalProperties: false\n"
    "  properties:\n"
    "    id: {type: string, pattern: '^evt-[0-9]+$'}\n"
    "    agent: {type: string, minLength: 1, maxLength: 64}\n"
    "    kind: {enum: [observation, action, thought]}\n"
    "    ts: {type: integer, minimum: 0}\n"
    "    score: {type: number, minimum: 0, maximum: 1}\n"
    "    tags: {type: array, maxItems: 8, items: {type: string}}\n"
    "    text: {type: string, maxLength: 4096}\n";

/* The types whose schema is s_event_schema. */
static const char *s_event_types[] = {
    "bench.event", "bench.fan", "bench.compete", "bench.ask", "bench.durable"};

/* The other schema files: name, text. */
static const char *s_other_schemas[][2] = {
    {"bench.any.yaml", "type: bench.any\nversion: 1\nschema: true\n"},
    {"bench.answer.yaml",
     "type: bench.answer\nversion: 1\nschema:\n  type: object\n"
     "  required: [ok]\n  properties:\n    ok: {type: boolean}\n"
     "    score: {type: number}\n"},
    {"bench.tensor.yaml",
     "type: bench.tensor\nversion: 1\nschema:\n  type: object\n"
     "  required: [x]\n  properties:\n"
     "    x: {tensor: {dtype: float32, shape: [null]}}\n"},
};

static const char s_topology[] =
    "topology: bench\n"
    "schemas: schemas\n"
    "defaults: {ack_timeout_ms: 60000, queue_limit: 1000000}\n"
    "agents: {prod: {}, cons: {}, router: {}, fan1: {}, fan2: {}, "
    "fan3: {}, fan4: {}, comp: {}, asker: {}, answerer: {}, tens: {}}\n"
    "edges:\n"
    "  - {from: prod, to: cons, type: bench.event}\n"
    "  - {from: prod, to: router, type: bench.any}\n"
    "  - {from: prod, to: fan1, type: bench.fan}\n"
    "  - {from: prod, to: fan2, type: bench.fan}\n"
    "  - {from: prod, to: fan3, type: bench.fan}\n"
    "  - {from: prod, to: fan4, type: bench.fan}\n"
    "  - {from: prod, to: comp, type: bench.compete}\n"
    "  - {from: asker, to: answerer, type: bench.ask, reply: bench.answer}\n"
    "  - {from: prod, to: tens, type: bench.tensor}\n";

static const char s_durable_topology[] =
    "topology: bench-durable\n"
    "schemas: schemas\n"
    "defaults: {ack_timeout_ms: 60000, queue_limit: 1000000}\n"
    "agents: {dprod: {}, dcons: {}}\n"
    "edges:\n"
    "  - {from: dprod, to: dcons, type: bench.durable, durable: true}\n";

/* Writes the topologies and schemas into the temp dir. */
static int
s_write_topology (const char *dir)
{
    char schemas[300];
    snprintf (schemas, sizeof schemas, "%s/schemas", dir);
    if (mkdir (schemas, 0700))
        return -1;
    int rc = 0;
    for (size_t i = 0; i < sizeof s_event_types / sizeof s_event_types[0];
         i++) {
        char name[64], text[sizeof s_event_schema + 64];
        snprintf (name, sizeof name, "%s.yaml", s_event_types[i]);
        snprintf (text, sizeof text, "type: %s\n%s", s_event_types[i],
                  s_event_schema);
        rc |= s_write_file (schemas, name, text);
    }
    for (size_t i = 0; i < sizeof s_other_schemas / sizeof s_other_schemas[0];
         i++)
        rc |= s_write_file (schemas, s_other_schemas[i][0],
                            s_other_schemas[i][1]);
    rc |= s_write_file (dir, "topology.yaml", s_topology);
    rc |= s_write_file (dir, "topology-durable.yaml", s_durable_topology);
    return rc;
}

/* The event every small scenario sends: `bytes` characters of JSON that
   pass s_event_schema, and a NUL (`out` holds bytes + 1). */
static void
s_event_payload (char *out, size_t bytes)
{
    static const char head[] =
        "{\"id\":\"evt-1024\",\"agent\":\"retriever\",\"kind\":"
        "\"observation\",\"ts\":1732480000000,\"score\":0.875,\"tags\":"
        "[\"rag\",\"bench\"],\"text\":\"";
    static const char words[] = "the quick brown fox jumps over a lazy dog ";
    size_t at = strlen (head);
    memcpy (out, head, at);
    for (size_t i = 0; at + 2 < bytes; i++)
        out[at++] = words[i % (sizeof words - 1)];
    memcpy (out + at, "\"}", 3);
}

/* ---------------------------------------------------------------------
   The processes under test */

/* A child process: the broker or the proxy. */
typedef struct {
    pid_t pid;         /* its id, or 0 */
    double cpu0;       /* its CPU seconds when the measurement began */
    char log[320];     /* broker: where its stdout and stderr go */
    char endpoint[64]; /* where agents (producers) connect */
    char backend[64];  /* proxy: where consumers connect */
} s_proc_t;

/* The first line of a file, for a reason (trailing newline dropped). */
static void
s_first_line (const char *path, char *out, size_t size)
{
    FILE *file = fopen (path, "r");
    out[0] = 0;
    if (file && fgets (out, (int)size, file))
        out[strcspn (out, "\n")] = 0;
    if (file)
        fclose (file);
    if (!out[0])
        snprintf (out, size, "no output (see %.160s)", path);
}

/* Waits until the broker answers PING (with PONG or not_registered).
   Returns 0, or -1 with the reason in `why`. */
static int
s_broker_wait (void *ctx, s_proc_t *proc, char *why, size_t size)
{
    void *sock = s_socket (ctx, ZMQ_DEALER, proc->endpoint, false);
    int rc = -1;
    for (int i = 0; sock && i < 100 && rc; i++) {
        int status;
        if (waitpid (proc->pid, &status, WNOHANG) == proc->pid) {
            proc->pid = 0;
            char line[200];
            s_first_line (proc->log, line, sizeof line);
            snprintf (why, size, "agentbusd exited: %s", line);
            break;
        }
        s_send_command (sock, "PING", "{}");
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&item, 1, 100) == 1)
            rc = 0;
    }
    if (rc && proc->pid > 0)
        snprintf (why, size, "agentbusd did not answer on %s", proc->endpoint);
    if (sock)
        zmq_close (sock);
    return rc;
}

/* Starts agentbusd on `topology` (or `config`, when not NULL). Returns
   0, or -1 with the reason in `why`. */
static int
s_broker_start (s_bench_t *bench, void *ctx, const char *topology,
                const char *config, s_proc_t *proc, char *why, size_t size)
{
    memset (proc, 0, sizeof *proc);
    snprintf (proc->endpoint, sizeof proc->endpoint, "tcp://127.0.0.1:%d",
              ab_child_free_port ());
    snprintf (proc->log, sizeof proc->log, "%s/agentbusd-%d.log", bench->dir,
              ++bench->broker_runs);
    proc->pid = fork ();
    if (proc->pid < 0) {
        snprintf (why, size, "fork: %s", strerror (errno));
        return -1;
    }
    if (proc->pid == 0) {
        int fd = open (proc->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2 (fd, STDOUT_FILENO);
            dup2 (fd, STDERR_FILENO);
        }
        const char *path = bench->options.agentbusd;
        if (config)
            execl (path, path, "--config", config, "--endpoint", proc->endpoint,
                   (char *)NULL);
        else
            execl (path, path, "--topology", topology, "--endpoint",
                   proc->endpoint, (char *)NULL);
        fprintf (stderr, "cannot run %s: %s\n", path, strerror (errno));
        _exit (127);
    }
    if (s_broker_wait (ctx, proc, why, size)) {
        ab_child_stop (&proc->pid);
        return -1;
    }
    return 0;
}

/* The baseline: this program again, as `--proxy-child FRONT BACK FD`,
   which binds and writes one byte on FD when ready. */
static int
s_proxy_start (s_bench_t *bench, s_proc_t *proc)
{
    memset (proc, 0, sizeof *proc);
    snprintf (proc->endpoint, sizeof proc->endpoint, "tcp://127.0.0.1:%d",
              ab_child_free_port ());
    snprintf (proc->backend, sizeof proc->backend, "tcp://127.0.0.1:%d",
              ab_child_free_port ());
    int ready[2];
    if (pipe (ready))
        return -1;
    proc->pid = fork ();
    if (proc->pid == 0) {
        char fd[16];
        close (ready[0]);
        snprintf (fd, sizeof fd, "%d", ready[1]);
        execl (bench->self, bench->self, "--proxy-child", proc->endpoint,
               proc->backend, fd, (char *)NULL);
        _exit (127);
    }
    close (ready[1]);
    char byte;
    ssize_t got = proc->pid > 0 ? read (ready[0], &byte, 1) : -1;
    close (ready[0]);
    if (got != 1) {
        ab_child_stop (&proc->pid);
        return -1;
    }
    return 0;
}

/* The proxy child's whole life. */
static int
s_proxy_child (const char *front, const char *back, const char *fd_text)
{
    void *ctx = zmq_ctx_new ();
    void *frontend = s_socket (ctx, ZMQ_ROUTER, front, true);
    void *backend = s_socket (ctx, ZMQ_DEALER, back, true);
    char *end;
    long fd = strtol (fd_text, &end, 10);
    if (*end || fd < 0 || fd > 65535 || !frontend || !backend ||
        write ((int)fd, "R", 1) != 1)
        return 1;
    close ((int)fd);
    zmq_proxy (frontend, backend, NULL);
    return 0;
}

/* ---------------------------------------------------------------------
   One side of one scenario: shared state of its threads */

typedef struct {
    const s_scenario_t *scenario;    /* what runs */
    void *ctx;                       /* this side's ZeroMQ context */
    bool baseline;                   /* against the proxy, not the broker */
    const char *producer_ep;         /* where producers connect */
    const char *consumer_ep;         /* where consumers connect */
    int credit;                      /* consumers' credit */
    int64_t window;                  /* messages in flight, end to end */
    int64_t start_ns;                /* first send */
    int64_t deadline_ns;             /* no new send after this */
    double rate;                     /* latency: requests per second */
    s_part_t body[2];                /* payload and attachment frames */
    int body_parts;                  /* 1, or 2 with an attachment */
    const char *pub_header;          /* header of every PUB */
    long stamp_at;                   /* flows: where each payload carries
                                        its send time, or -1 */
    atomic_int ready;                /* consumers ready to consume */
    atomic_bool stop;                /* consumers: finish */
    atomic_int_fast64_t published;   /* messages sent, all producers */
    atomic_int_fast64_t accepted;    /* broker: PUBs answered OK */
    atomic_int_fast64_t delivered;   /* messages consumed */
    atomic_int_fast64_t last_ns;     /* when the last was consumed */
    atomic_int_fast64_t round_trips; /* reqrep, latency: replies */
    atomic_int_fast64_t reply_ns;    /* when the last reply came */
    atomic_int_fast64_t errors;      /* rejects, errors, losses */
    ab_hist_t *hist;                 /* round trips (one sender thread);
                                        flows: publish to consume */
} s_run_t;

/* A consumer thread's arguments. */
typedef struct {
    s_run_t *run;      /* the side */
    const char *agent; /* broker: its agent name */
    pthread_t thread;  /* the thread */
    ab_hist_t *hist;   /* flows: its publish-to-consume times, or NULL */
} s_consumer_t;

/* Times a consumed payload by the send time it carries. */
static void
s_time_payload (s_run_t *run, ab_hist_t *hist, zmq_msg_t *payload)
{
    if (!hist || run->stamp_at < 0 ||
        zmq_msg_size (payload) < (size_t)run->stamp_at + 16)
        return;
    int64_t sent =
        ab_hist_unstamp ((char *)zmq_msg_data (payload) + run->stamp_at);
    if (sent >= 0)
        ab_hist_record (hist, s_now () - sent);
}

static const char s_answer[] = "{\"ok\":true,\"score\":0.5}";

/* Broker consumer: ACK each DELIVER, or REP to a request. True for a
   delivery. */
static bool
s_consume_broker (s_run_t *run, void *sock, s_frames_t *in)
{
    char msg[128], header[160];
    if (in->count < 3 || !s_is (&in->part[1], "DELIVER")) {
        if (in->count < 2 || !s_is (&in->part[1], "OK"))
            run->errors++;
        return false;
    }
    if (s_header_field (&in->part[2], "msg", msg, sizeof msg)) {
        run->errors++;
        return false;
    }
    snprintf (header, sizeof header, "{\"msg\":\"%s\"}", msg);
    bool request =
        run->scenario->kind == S_REQREP || run->scenario->kind == S_LATENCY;
    s_part_t parts[] = {S_STR ("ABP/1"), S_STR (request ? "REP" : "ACK"),
                        S_STR (header), S_STR (s_answer)};
    if (s_send (sock, parts, request ? 4 : 3))
        run->errors++;
    return true;
}

/* Baseline consumer: the same answer, through the proxy, to the routing
   id in frame 0; the header comes back as it came (ids included). */
static bool
s_consume_baseline (s_run_t *run, void *sock, s_frames_t *in)
{
    if (in->count < 4) {
        run->errors++;
        return false;
    }
    bool request = s_is (&in->part[2], "REQ");
    s_part_t parts[] = {{NULL, 0, &in->part[0], false},
                        S_STR ("ABP/1"),
                        S_STR (request ? "REP" : "ACK"),
                        {NULL, 0, &in->part[3], false},
                        S_STR (s_answer)};
    if (s_send (sock, parts, request ? 5 : 4))
        run->errors++;
    return true;
}

static void *
s_consumer (void *arg)
{
    s_consumer_t *self = arg;
    s_run_t *run = self->run;
    void *sock = s_socket (run->ctx, ZMQ_DEALER, run->consumer_ep, false);
    if (!sock || (!run->baseline && s_hello (sock, self->agent, run->credit)))
        run->errors++;
    run->ready++;
    while (sock && !run->stop) {
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&item, 1, 10) <= 0)
            continue;
        s_frames_t in;
        while (s_recv (sock, &in, ZMQ_DONTWAIT) > 0) {
            bool delivery = run->baseline ? s_consume_baseline (run, sock, &in)
                                          : s_consume_broker (run, sock, &in);
            /* the payload: DELIVER's frame 3, the proxy's frame 4 */
            int at = run->baseline ? 4 : 3;
            if (delivery && in.count > at)
                s_time_payload (run, self->hist, &in.part[at]);
            s_frames_close (&in);
            if (delivery) {
                run->delivered++;
                run->last_ns = s_now ();
            }
        }
    }
    if (sock && !run->baseline)
        s_send_command (sock, "BYE", "{}");
    if (sock)
        zmq_close (sock);
    return NULL;
}

/* Reads every answer waiting on a producer socket, waiting up to
   `timeout_ms` for the first. Broker: OK or REJECT per PUB; baseline:
   one ack per message. Returns the answers read. */
static int64_t
s_drain_answers (s_run_t *run, void *sock, int timeout_ms)
{
    zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
    if (timeout_ms && zmq_poll (&item, 1, timeout_ms) <= 0)
        return 0;
    int64_t answers = 0;
    s_frames_t in;
    while (s_recv (sock, &in, ZMQ_DONTWAIT) > 0) {
        if (run->baseline)
            answers++;
        else if (in.count >= 2 && s_is (&in.part[1], "OK")) {
            answers++;
            run->accepted++;
        } else {
            answers += in.count >= 2 && s_is (&in.part[1], "REJECT");
            run->errors++;
        }
        s_frames_close (&in);
    }
    return answers;
}

/* Sends one message of the scenario (the same frames to either side). */
static int
s_send_message (s_run_t *run, void *sock, const char *command,
                const char *header)
{
    s_part_t parts[] = {S_STR ("ABP/1"), S_STR (command), S_STR (header),
                        run->body[0], run->body[1]};
    return s_send (sock, parts, 3 + run->body_parts);
}

/* A flow's PUB: the payload is the producer's own copy `stamped`, which
   gets the send time first where the run times its messages. */
static int
s_send_stamped (s_run_t *run, void *sock, char *stamped)
{
    if (run->stamp_at < 0)
        return s_send_message (run, sock, "PUB", run->pub_header);
    ab_hist_stamp (stamped + run->stamp_at, s_now ());
    s_part_t parts[] = {S_STR ("ABP/1"),
                        S_STR ("PUB"),
                        S_STR (run->pub_header),
                        {stamped, run->body[0].size, NULL, false}};
    return s_send (sock, parts, 4);
}

static void *
s_flow_producer (void *arg)
{
    s_run_t *run = arg;
    const s_scenario_t *sc = run->scenario;
    void *sock = s_socket (run->ctx, ZMQ_DEALER, run->producer_ep, false);
    const char *agent = sc->kind == S_DURABLE ? "dprod" : "prod";
    if (!sock || (!run->baseline && s_hello (sock, agent, 1))) {
        run->errors++;
        if (sock)
            zmq_close (sock);
        return NULL;
    }
    /* the baseline sends one message per copy the broker would make */
    int messages = run->baseline ? sc->copies : 1;
    /* this producer's copy of the payload, stamped with each send */
    char stamped[S_PAYLOAD_BYTES + 64];
    if (run->stamp_at >= 0)
        memcpy (stamped, run->body[0].data, run->body[0].size);
    /* the window is shared end to end; each producer also keeps its
       share of it unanswered at most */
    int64_t sent = 0, answers = 0, window = run->window * sc->copies,
            own = (run->window + sc->producers - 1) / sc->producers * messages;
    while (s_now () < run->deadline_ns) {
        bool room = run->published * sc->copies - run->delivered < window &&
                    sent * messages - answers < own;
        for (int i = 0; room && i < messages; i++)
            if (s_send_stamped (run, sock, stamped))
                run->errors++;
        if (room) {
            sent++;
            run->published++;
        }
        if (!room || sent % 32 == 0)
            answers += s_drain_answers (run, sock, room ? 0 : 1);
    }
    int64_t until = s_now () + S_DRAIN_NS;
    while (answers < sent * messages && s_now () < until)
        answers += s_drain_answers (run, sock, 10);
    if (!run->baseline)
        s_send_command (sock, "BYE", "{}");
    zmq_close (sock);
    return NULL;
}

/* A request with id `index`: REQ to the broker; to the baseline the same
   frames, answered by the consumer with REP. */
static int
s_send_request (s_run_t *run, void *sock, int64_t index)
{
    char header[96];
    snprintf (header, sizeof header, "{\"type\":\"%s\",\"id\":\"%lld\"}",
              run->scenario->type, (long long)index);
    return s_send_message (run, sock, "REQ", header);
}

/* Reads one reply, if any: returns its request index (with *ok false
   when the broker rejected the request), -1 for none, -2 for one that
   cannot be read. */
static int64_t
s_recv_reply (s_run_t *run, void *sock, bool *ok)
{
    s_frames_t in;
    if (s_recv (sock, &in, ZMQ_DONTWAIT) < 0)
        return -1;
    char id[32];
    int64_t index = -2;
    *ok = in.count >= 3 && s_is (&in.part[1], run->baseline ? "REP" : "REPLY");
    if (in.count >= 3 && (*ok || s_is (&in.part[1], "REJECT")) &&
        s_header_field (&in.part[2], "id", id, sizeof id) == 0)
        index = strtoll (id, NULL, 10);
    s_frames_close (&in);
    if (index < 0 || !*ok)
        run->errors++;
    return index;
}

/* reqrep: S_REQREP_INFLIGHT requests in flight, one slot each; each
   reply is timed from its own send and frees the slot. */
static void *
s_requester (void *arg)
{
    s_run_t *run = arg;
    void *sock = s_socket (run->ctx, ZMQ_DEALER, run->producer_ep, false);
    if (!sock || (!run->baseline && s_hello (sock, "asker", 1))) {
        run->errors++;
        if (sock)
            zmq_close (sock);
        return NULL;
    }
    int64_t sent_at[S_REQREP_INFLIGHT];
    int open = 0;
    for (int i = 0; i < S_REQREP_INFLIGHT; i++, open++) {
        sent_at[i] = s_now ();
        s_send_request (run, sock, i);
    }
    int64_t until = run->deadline_ns + S_DRAIN_NS;
    while (open > 0 && s_now () < until) {
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&item, 1, 10) <= 0)
            continue;
        int64_t slot;
        bool ok;
        while ((slot = s_recv_reply (run, sock, &ok)) != -1) {
            if (slot < 0 || slot >= S_REQREP_INFLIGHT)
                continue;
            int64_t now = s_now ();
            if (ok) {
                ab_hist_record (run->hist, now - sent_at[slot]);
                run->round_trips++;
                run->reply_ns = now;
            }
            if (now < run->deadline_ns) {
                sent_at[slot] = now;
                s_send_request (run, sock, slot);
            } else
                open--;
        }
    }
    run->errors += open;
    zmq_close (sock);
    return NULL;
}

/* Waits until `sock` may have input or `timeout_ns` passed, with
   nanosecond resolution (zmq_poll has milliseconds). ZMQ_FD only says
   that something changed, so callers read with ZMQ_DONTWAIT until EAGAIN
   before they wait again. */
static void
s_wait_input (void *sock, int64_t timeout_ns)
{
    int events = 0;
    size_t size = sizeof events;
    zmq_getsockopt (sock, ZMQ_EVENTS, &events, &size);
    if (events & ZMQ_POLLIN)
        return;
    int fd = -1;
    size = sizeof fd;
    zmq_getsockopt (sock, ZMQ_FD, &fd, &size);
    struct pollfd item = {fd, POLLIN, 0};
    struct timespec ts = {timeout_ns / 1000000000LL, timeout_ns % 1000000000LL};
    ppoll (&item, 1, &ts, NULL);
}

/* latency: request i is due at start + i / rate whether or not earlier
   ones were answered (open loop), and its round trip counts from then. */
static void *
s_paced_requester (void *arg)
{
    s_run_t *run = arg;
    void *sock = s_socket (run->ctx, ZMQ_DEALER, run->producer_ep, false);
    if (!sock || (!run->baseline && s_hello (sock, "asker", 1))) {
        run->errors++;
        if (sock)
            zmq_close (sock);
        return NULL;
    }
    /* the schedule starts once registered: HELLO is no request's delay */
    int64_t length = run->deadline_ns - run->start_ns;
    run->start_ns = s_now ();
    run->deadline_ns = run->start_ns + length;
    double period = 1e9 / run->rate;
    int64_t total =
                (int64_t)((double)(run->deadline_ns - run->start_ns) / period),
            next = 0, replies = 0;
    int64_t until = run->deadline_ns + 5 * 1000000000LL;
    while (replies < total && s_now () < until) {
        int64_t now = s_now ();
        for (; next < total && run->start_ns + (int64_t)(next * period) <= now;
             next++)
            s_send_request (run, sock, next);
        int64_t index;
        bool ok;
        while ((index = s_recv_reply (run, sock, &ok)) != -1) {
            if (index < 0 || index >= next)
                continue;
            now = s_now ();
            replies++;
            if (!ok)
                continue;
            ab_hist_record (run->hist,
                            now - run->start_ns - (int64_t)(index * period));
            run->round_trips++;
            run->reply_ns = now;
        }
        int64_t due = next < total ? run->start_ns + (int64_t)(next * period)
                                   : now + 1000000;
        if (due > now)
            s_wait_input (sock, due - now);
    }
    run->errors += total - replies;
    zmq_close (sock);
    return NULL;
}

/* ---------------------------------------------------------------------
   Running one side of a scenario */

/* The frames after the header: the 256-byte event, or a tensor
   reference and its attachment. `attach` is the caller's buffer. */
static void
s_run_body (s_run_t *run, char *payload, size_t size, void *attach)
{
    const s_scenario_t *sc = run->scenario;
    if (sc->attach_bytes) {
        snprintf (payload, size,
                  "{\"x\":{\"dtype\":\"float32\",\"shape\":[%zu],"
                  "\"frame\":0}}",
                  sc->attach_bytes / 4);
        run->body[1] = (s_part_t){attach, sc->attach_bytes, NULL, true};
        run->body_parts = 2;
    } else {
        s_event_payload (payload, S_PAYLOAD_BYTES);
        run->body_parts = 1;
    }
    run->body[0] = (s_part_t){payload, strlen (payload), NULL, false};
}

/* Starts the consumers and waits until each is ready (registered with
   the broker; connected, for the proxy). */
static int
s_start_consumers (s_run_t *run, s_consumer_t *consumers)
{
    const s_scenario_t *sc = run->scenario;
    for (int i = 0; i < sc->consumers; i++) {
        consumers[i] = (s_consumer_t){
            run, sc->agents[i], 0, run->stamp_at >= 0 ? ab_hist_new () : NULL};
        pthread_create (&consumers[i].thread, NULL, s_consumer, &consumers[i]);
    }
    int64_t until = s_now () + 10 * 1000000000LL;
    while (run->ready < sc->consumers && s_now () < until)
        ab_child_sleep_ns (1000000);
    /* a DEALER backend deals only to peers it has seen connect */
    if (run->baseline)
        ab_child_sleep_ns (200000000);
    return run->errors ? -1 : 0;
}

/* Runs the producers of the scenario and waits until what they sent
   was consumed (or the drain time ran out). */
static void
s_run_producers (s_run_t *run)
{
    const s_scenario_t *sc = run->scenario;
    void *(*body) (void *) = sc->kind == S_REQREP    ? s_requester
                             : sc->kind == S_LATENCY ? s_paced_requester
                                                     : s_flow_producer;
    pthread_t threads[16];
    int count = sc->producers < 16 ? sc->producers : 16;
    for (int i = 0; i < count; i++)
        pthread_create (&threads[i], NULL, body, run);
    for (int i = 0; i < count; i++)
        pthread_join (threads[i], NULL);
    if (body != s_flow_producer)
        return;
    int64_t until = s_now () + S_DRAIN_NS;
    int64_t expected =
        (run->baseline ? run->published : run->accepted) * sc->copies;
    while (run->delivered < expected && s_now () < until)
        ab_child_sleep_ns (1000000);
    if (run->delivered < expected)
        run->errors += expected - run->delivered;
}

/* Peak RSS and CPU seconds per million messages counted of the process
   under test, whose CPU time was `cpu0` when the measurement began. */
static void
s_proc_figures (pid_t pid, double cpu0, s_side_t *side)
{
    double cpu1, hwm;
    s_proc_stats (pid, &cpu1, &hwm);
    if (hwm >= 0)
        side->peak_rss_kb = hwm;
    if (cpu1 >= 0 && cpu0 >= 0 && side->messages)
        side->cpu_s_per_m = (cpu1 - cpu0) / ((double)side->messages / 1e6);
}

/* Turns the run's counters into figures. */
static void
s_figures (s_run_t *run, pid_t pid, double cpu0, s_side_t *side)
{
    const s_scenario_t *sc = run->scenario;
    bool flow = sc->kind == S_FLOW || sc->kind == S_DURABLE;
    int64_t end = flow ? run->last_ns : run->reply_ns;
    double seconds = (double)(end - run->start_ns) / 1e9;
    side->messages = (uint64_t)(flow ? run->delivered : run->round_trips);
    side->errors = (uint64_t)run->errors;
    if (seconds > 0 && side->messages)
        side->msgs_per_s = (double)side->messages / seconds;
    size_t bytes =
        run->body[0].size + (run->body_parts > 1 ? run->body[1].size : 0);
    side->mb_per_s = side->msgs_per_s * (double)bytes / 1e6;
    if (ab_hist_count (run->hist)) {
        side->p50_us = (double)ab_hist_percentile (run->hist, 0.50) / 1e3;
        side->p99_us = (double)ab_hist_percentile (run->hist, 0.99) / 1e3;
        side->p999_us = (double)ab_hist_percentile (run->hist, 0.999) / 1e3;
    }
    s_proc_figures (pid, cpu0, side);
    if (sc->kind == S_LATENCY)
        side->offered_per_s = run->rate;
}

static void
s_side_clear (s_side_t *side)
{
    *side = (s_side_t){NAN, NAN, NAN, NAN, NAN, NAN, NAN, 0, 0, NAN};
}

/* Runs one side against the started process `proc`. */
static void
s_run_side (const s_options_t *options, const s_scenario_t *sc, void *ctx,
            s_proc_t *proc, bool baseline, double rate, s_side_t *side)
{
    static char attach_dummy;
    s_run_t run = {.scenario = sc,
                   .ctx = ctx,
                   .baseline = baseline,
                   .producer_ep = proc->endpoint,
                   .consumer_ep = baseline ? proc->backend : proc->endpoint,
                   .credit = sc->kind == S_LATENCY ? 100000 : options->credit,
                   .rate = rate,
                   .pub_header = NULL};
    char header[64], payload[S_PAYLOAD_BYTES + 64];
    snprintf (header, sizeof header, "{\"type\":\"%s\"}", sc->type);
    run.pub_header = header;
    void *attach =
        sc->attach_bytes ? calloc (1, sc->attach_bytes) : &attach_dummy;
    run.window =
        sc->attach_bytes ? (int64_t)((64u << 20) / sc->attach_bytes) : S_WINDOW;
    run.window = run.window < 4 ? 4 : run.window;
    run.hist = ab_hist_new ();
    s_side_clear (side);
    if (!attach || !run.hist) {
        side->errors++;
        ab_hist_destroy (&run.hist);
        return;
    }
    s_run_body (&run, payload, sizeof payload, attach);
    bool flow = sc->kind == S_FLOW || sc->kind == S_DURABLE;
    run.stamp_at = flow && run.body_parts == 1
                       ? ab_hist_stamp_at (payload, run.body[0].size)
                       : -1;
    s_consumer_t consumers[4];
    int started = s_start_consumers (&run, consumers) == 0;
    double cpu0, hwm;
    s_proc_stats (proc->pid, &cpu0, &hwm);
    run.start_ns = s_now ();
    run.deadline_ns = run.start_ns + (int64_t)(options->seconds * 1e9);
    if (started)
        s_run_producers (&run);
    run.stop = true;
    for (int i = 0; i < sc->consumers; i++) {
        pthread_join (consumers[i].thread, NULL);
        if (consumers[i].hist)
            ab_hist_merge (run.hist, consumers[i].hist);
        ab_hist_destroy (&consumers[i].hist);
    }
    s_figures (&run, proc->pid, cpu0, side);
    if (attach != &attach_dummy)
        free (attach);
    ab_hist_destroy (&run.hist);
}

/* ---------------------------------------------------------------------
   Scenarios */

/* The broker's side of a flow, reqrep or latency scenario, against a
   fresh agentbusd; the reason in `why` if it did not start. */
static void
s_broker_side (s_bench_t *bench, const s_scenario_t *sc, double rate,
               s_side_t *side, char *why, size_t size)
{
    char topology[320];
    snprintf (topology, sizeof topology, "%s/topology.yaml", bench->dir);
    void *ctx = zmq_ctx_new ();
    s_proc_t proc;
    if (s_broker_start (bench, ctx, topology, NULL, &proc, why, size) == 0) {
        s_run_side (&bench->options, sc, ctx, &proc, false, rate, side);
        ab_child_stop (&proc.pid);
    }
    zmq_ctx_term (ctx);
}

/* Both sides of a flow, reqrep or latency scenario. */
static void
s_scenario_zmq (s_bench_t *bench, s_result_t *result)
{
    const s_scenario_t *sc = result->scenario;
    double rate = sc->rate_fraction * bench->small.msgs_per_s;
    if (sc->kind == S_LATENCY && !(rate > 0)) {
        snprintf (result->skipped, sizeof result->skipped,
                  "the small scenario measured no maximum");
        return;
    }
    s_broker_side (bench, sc, rate, &result->broker, result->skipped,
                   sizeof result->skipped);
    void *ctx = zmq_ctx_new ();
    s_proc_t proc;
    if (s_proxy_start (bench, &proc) == 0) {
        s_run_side (&bench->options, sc, ctx, &proc, true, rate,
                    &result->baseline);
        ab_child_stop (&proc.pid);
    } else
        result->baseline.errors++;
    zmq_ctx_term (ctx);
    if (sc == S_SMALL)
        bench->small = result->broker;
}

/* The durable baseline: 256-byte records appended to a file in the temp
   dir (the disk the broker's data_dir is on), one fdatasync each. */
static double
s_fdatasync_rate (const char *dir, double seconds)
{
    char path[320], record[S_PAYLOAD_BYTES + 1];
    snprintf (path, sizeof path, "%s/fdatasync.dat", dir);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    if (fd < 0)
        return NAN;
    s_event_payload (record, S_PAYLOAD_BYTES);
    record[S_PAYLOAD_BYTES - 1] = '\n';
    int64_t start = s_now (), until = start + (int64_t)(seconds * 1e9);
    int64_t records = 0;
    while (s_now () < until &&
           write (fd, record, S_PAYLOAD_BYTES) == S_PAYLOAD_BYTES &&
           fdatasync (fd) == 0)
        records++;
    double rate = (double)records / ((double)(s_now () - start) / 1e9);
    close (fd);
    unlink (path);
    return records ? rate : NAN;
}

/* Writes agentbusd.yaml for the durable topology, with `sync` (a YAML
   line) or without. */
static int
s_durable_config (s_bench_t *bench, const char *sync, char *path, size_t size)
{
    char text[1024];
    snprintf (path, size, "%s/agentbusd-durable.yaml", bench->dir);
    snprintf (text, sizeof text,
              "topology: topology-durable.yaml\n"
              "data_dir: data-%d\n%s\n",
              bench->broker_runs + 1, sync ? sync : "");
    return s_write_file (bench->dir, "agentbusd-durable.yaml", text);
}

/* durable: small on a durable edge, 16 publishers. The broker is first
   started without a sync setting, so that a broker without durable
   edges is reported as such, not as a config key it does not know. */
static void
s_scenario_durable (s_bench_t *bench, s_result_t *result)
{
    const s_scenario_t *sc = result->scenario;
    if (isnan (bench->fsync_per_s))
        bench->fsync_per_s =
            s_fdatasync_rate (bench->dir, bench->options.seconds / 2);
    result->baseline.msgs_per_s = bench->fsync_per_s;
    result->baseline.mb_per_s = bench->fsync_per_s * S_PAYLOAD_BYTES / 1e6;
    char config[320], why[256];
    void *ctx = zmq_ctx_new ();
    s_proc_t proc;
    int rc = s_durable_config (bench, NULL, config, sizeof config);
    if (rc == 0)
        rc = s_broker_start (bench, ctx, NULL, config, &proc, why, sizeof why);
    else
        snprintf (why, sizeof why, "cannot write %.160s", config);
    if (rc == 0) {
        ab_child_stop (&proc.pid);
        rc = s_durable_config (bench, sc->sync, config, sizeof config);
        if (rc == 0)
            rc = s_broker_start (bench, ctx, NULL, config, &proc, why,
                                 sizeof why);
    }
    if (rc == 0) {
        s_run_side (&bench->options, sc, ctx, &proc, false, 0, &result->broker);
        ab_child_stop (&proc.pid);
    } else
        snprintf (result->skipped, sizeof result->skipped, "%s", why);
    zmq_ctx_term (ctx);
    if (strcmp (sc->name, "durable-always") == 0)
        bench->durable = result->broker;
}

#if defined HAVE_NATS || defined HAVE_RABBITMQ || defined HAVE_HIREDIS
/* A peer's figures, from its counts, its latencies and its process. */
static void
s_peer_figures (s_side_t *side, uint64_t consumed, uint64_t errors,
                double seconds, ab_hist_t *hist, pid_t pid, double cpu0)
{
    side->messages = consumed;
    side->errors = errors;
    if (seconds > 0 && consumed)
        side->msgs_per_s = (double)consumed / seconds;
    side->mb_per_s = side->msgs_per_s * S_PAYLOAD_BYTES / 1e6;
    if (hist && ab_hist_count (hist)) {
        side->p50_us = (double)ab_hist_percentile (hist, 0.50) / 1e3;
        side->p99_us = (double)ab_hist_percentile (hist, 0.99) / 1e3;
        side->p999_us = (double)ab_hist_percentile (hist, 0.999) / 1e3;
    }
    s_proc_figures (pid, cpu0, side);
}
#endif

#ifdef HAVE_NATS
/* small's workload through NATS JetStream on a nats-server of its own:
   the same payload, window and credit, timed the same way. */
static void
s_nats_side (s_bench_t *bench, s_side_t *side, char *why, size_t size)
{
    ab_natsbench_t *nats =
        ab_natsbench_new (bench->dir, ab_child_free_port (), why, size);
    if (!nats)
        return;
    char payload[S_PAYLOAD_BYTES + 1];
    s_event_payload (payload, S_PAYLOAD_BYTES);
    double cpu0, hwm;
    pid_t pid = ab_natsbench_pid (nats);
    s_proc_stats (pid, &cpu0, &hwm);
    ab_hist_t *hist = ab_hist_new ();
    ab_natsbench_counts_t counts;
    if (hist && ab_natsbench_run (nats, payload, S_PAYLOAD_BYTES, S_WINDOW,
                                  bench->options.credit, bench->options.seconds,
                                  hist, &counts) == 0)
        s_peer_figures (side, counts.consumed, counts.errors, counts.seconds,
                        hist, pid, cpu0);
    else
        snprintf (why, size, "cannot subscribe to the NATS JetStream stream");
    ab_hist_destroy (&hist);
    ab_natsbench_destroy (&nats);
}

/* nats: agentbusd's small (of this run, or a pass of its own when small
   was not chosen) against the same workload through NATS JetStream. */
static void
s_scenario_nats (s_bench_t *bench, s_result_t *result)
{
    if (!ab_child_in_path ("nats-server")) {
        snprintf (result->skipped, sizeof result->skipped,
                  "nats-server not installed");
        return;
    }
    if (isnan (bench->small.msgs_per_s))
        s_broker_side (bench, S_SMALL, 0, &bench->small, result->skipped,
                       sizeof result->skipped);
    result->broker = bench->small;
    s_nats_side (bench, &result->baseline, result->skipped,
                 sizeof result->skipped);
}
#else
/* nats: this build has no NATS client; say which part is missing. */
static void
s_scenario_nats (s_bench_t *bench, s_result_t *result)
{
    (void)bench;
    snprintf (result->skipped, sizeof result->skipped, "%s",
              ab_child_in_path ("nats-server")
                  ? "agentbus-bench is built without a NATS client "
                    "(libnats-dev)"
                  : "nats-server not installed");
}
#endif

/* ---------------------------------------------------------------------
   The peers: RabbitMQ and Redis Streams */

/* The scenario called `name` (one of the table's). */
static const s_scenario_t *
s_scenario_named (const char *name)
{
    for (size_t i = 0; i < S_SCENARIOS; i++)
        if (strcmp (s_scenarios[i].name, name) == 0)
            return &s_scenarios[i];
    return NULL;
}

/* A peer row's agentbusd side: small's (transient) or durable-always's
   (durable) of this run, or a pass of its own when that one was not
   chosen, so that both sides have the same publisher count. */
static void
s_counterpart (s_bench_t *bench, const s_scenario_t *sc, s_result_t *result)
{
    if (sc->durable) {
        if (isnan (bench->durable.msgs_per_s)) {
            s_result_t pass;
            memset (&pass, 0, sizeof pass);
            pass.scenario = s_scenario_named ("durable-always");
            s_side_clear (&pass.broker);
            s_side_clear (&pass.baseline);
            s_scenario_durable (bench, &pass);
            bench->durable = pass.broker;
        }
        result->broker = bench->durable;
    } else {
        if (isnan (bench->small.msgs_per_s)) {
            char why[256] = "";
            s_broker_side (bench, S_SMALL, 0, &bench->small, why, sizeof why);
        }
        result->broker = bench->small;
    }
}

#ifdef HAVE_RABBITMQ
/* The same workload through RabbitMQ, on the bench's node (started on
   the first RabbitMQ row, stopped at the end; its peak RSS is reset for
   each row). */
static void
s_rabbit_side (s_bench_t *bench, const s_scenario_t *sc, s_side_t *side,
               char *why, size_t size)
{
    if (!bench->rabbit)
        bench->rabbit = ab_rabbitbench_new (bench->dir, ab_child_free_port (),
                                            S_RABBIT_BOOT_S, why, size);
    if (!bench->rabbit)
        return;
    pid_t pid = ab_rabbitbench_pid (bench->rabbit);
    ab_child_reset_peak (pid);
    char payload[S_PAYLOAD_BYTES + 1];
    s_event_payload (payload, S_PAYLOAD_BYTES);
    ab_hist_t *hist = ab_hist_new ();
    double cpu0, hwm;
    s_proc_stats (pid, &cpu0, &hwm);
    ab_rabbitbench_counts_t counts;
    if (hist && ab_rabbitbench_run (bench->rabbit, sc->durable, payload,
                                    S_PAYLOAD_BYTES, sc->producers, S_WINDOW,
                                    bench->options.credit,
                                    bench->options.seconds, hist, &counts) == 0)
        s_peer_figures (side, counts.consumed, counts.errors, counts.seconds,
                        hist, pid, cpu0);
    else
        snprintf (why, size, "cannot set up the RabbitMQ queue or connections");
    ab_hist_destroy (&hist);
}
#endif

#ifdef HAVE_HIREDIS
/* The same workload through Redis Streams on a redis-server of its own. */
static void
s_redis_side (s_bench_t *bench, const s_scenario_t *sc, s_side_t *side,
              char *why, size_t size)
{
    ab_redisbench_t *redis = ab_redisbench_new (
        bench->dir, ab_child_free_port (), sc->durable, why, size);
    if (!redis)
        return;
    pid_t pid = ab_redisbench_pid (redis);
    char payload[S_PAYLOAD_BYTES + 1];
    s_event_payload (payload, S_PAYLOAD_BYTES);
    ab_hist_t *hist = ab_hist_new ();
    double cpu0, hwm;
    s_proc_stats (pid, &cpu0, &hwm);
    ab_redisbench_counts_t counts;
    if (hist &&
        ab_redisbench_run (redis, payload, S_PAYLOAD_BYTES, sc->producers,
                           S_WINDOW, bench->options.credit,
                           bench->options.seconds, hist, &counts) == 0)
        s_peer_figures (side, counts.consumed, counts.errors, counts.seconds,
                        hist, pid, cpu0);
    else
        snprintf (why, size, "cannot connect to redis-server");
    ab_hist_destroy (&hist);
    ab_redisbench_destroy (&redis);
}
#endif

/* rabbitmq, rabbitmq-durable, redis, redis-aof: agentbusd's counterpart
   beside the peer, or skipped saying which part is missing. */
static void
s_scenario_peer (s_bench_t *bench, s_result_t *result)
{
    const s_scenario_t *sc = result->scenario;
    bool rabbit = sc->kind == S_RABBIT;
    const char *server = rabbit ? "rabbitmq-server" : "redis-server";
    bool installed =
        ab_child_in_path (server) ||
        (rabbit && access ("/usr/lib/rabbitmq/bin/rabbitmq-server", X_OK) == 0);
    bool client = false;
#ifdef HAVE_RABBITMQ
    client |= rabbit;
#endif
#ifdef HAVE_HIREDIS
    client |= !rabbit;
#endif
    if (!installed) {
        snprintf (result->skipped, sizeof result->skipped, "%s not installed",
                  server);
        return;
    }
    if (!client) {
        snprintf (result->skipped, sizeof result->skipped,
                  "agentbus-bench is built without a %s client (%s)",
                  rabbit ? "RabbitMQ" : "Redis",
                  rabbit ? "librabbitmq-dev" : "libhiredis-dev");
        return;
    }
    s_counterpart (bench, sc, result);
    if (isnan (result->broker.msgs_per_s)) {
        snprintf (result->skipped, sizeof result->skipped,
                  "agentbusd's %s did not run",
                  sc->durable ? "durable-always" : "small");
        return;
    }
#ifdef HAVE_RABBITMQ
    if (rabbit)
        s_rabbit_side (bench, sc, &result->baseline, result->skipped,
                       sizeof result->skipped);
#endif
#ifdef HAVE_HIREDIS
    if (!rabbit)
        s_redis_side (bench, sc, &result->baseline, result->skipped,
                      sizeof result->skipped);
#endif
}

/* ---------------------------------------------------------------------
   Reporting */

/* `value` printed with `format`, or "-" when not measured. */
static const char *
s_fmt (char *buf, size_t size, const char *format, double value)
{
    if (isnan (value))
        snprintf (buf, size, "-");
    else
        snprintf (buf, size, format, value);
    return buf;
}

static double
s_ratio (const s_result_t *result)
{
    return result->broker.msgs_per_s / result->baseline.msgs_per_s;
}

static void
s_print_header (void)
{
    printf ("%-15s %10s %8s %8s %8s %8s %7s %7s | %10s %8s %8s %8s %7s | "
            "%6s\n",
            "scenario", "msg/s", "MB/s", "p50us", "p99us", "p99.9us", "RSS_MB",
            "cpu_s/M", "base_msg/s", "base_MB/s", "b_p50us", "b_p99us",
            "b_cpu/M", "ratio");
}

/* One row and its notes; `credit` is the consumers' credit of the run. */
static void
s_print_result (const s_result_t *result, int credit)
{
    const s_side_t *b = &result->broker, *z = &result->baseline;
    char f[13][32];
    printf ("%-15s %10s %8s %8s %8s %8s %7s %7s | %10s %8s %8s %8s %7s | "
            "%6s\n",
            result->scenario->name, s_fmt (f[0], 32, "%.0f", b->msgs_per_s),
            s_fmt (f[1], 32, "%.1f", b->mb_per_s),
            s_fmt (f[2], 32, "%.0f", b->p50_us),
            s_fmt (f[3], 32, "%.0f", b->p99_us),
            s_fmt (f[4], 32, "%.0f", b->p999_us),
            s_fmt (f[5], 32, "%.1f", b->peak_rss_kb / 1024),
            s_fmt (f[6], 32, "%.2f", b->cpu_s_per_m),
            s_fmt (f[7], 32, "%.0f", z->msgs_per_s),
            s_fmt (f[8], 32, "%.1f", z->mb_per_s),
            s_fmt (f[9], 32, "%.0f", z->p50_us),
            s_fmt (f[10], 32, "%.0f", z->p99_us),
            s_fmt (f[11], 32, "%.2f", z->cpu_s_per_m),
            s_fmt (f[12], 32, "%.3f", s_ratio (result)));
    const s_scenario_t *sc = result->scenario;
    const char *note = s_sides[sc->kind].note;
    if (result->skipped[0])
        printf ("  %s: skipped: %s\n", sc->name, result->skipped);
    else if (sc->peer)
        printf ("  %s: left: agentbusd's %s of this run; base: %s; both with "
                "%d publisher%s, window %d, credit/prefetch %d\n",
                sc->name, sc->durable ? "durable-always" : "small",
                sc->peer_note, sc->producers, sc->producers > 1 ? "s" : "",
                S_WINDOW, credit);
    else if (note)
        printf ("  %s: %s\n", sc->name, note);
    if (b->errors || z->errors)
        printf ("  %s: errors: broker %llu, baseline %llu\n",
                result->scenario->name, (unsigned long long)b->errors,
                (unsigned long long)z->errors);
    fflush (stdout);
}

/* A JSON number, or null when not measured (jansson has no NaN). */
static json_t *
s_num (double value)
{
    return isfinite (value) ? json_real (value) : json_null ();
}

static void
s_side_json (json_t *object, const char *prefix, const s_side_t *side)
{
    static const char *names[] = {"msgs_per_s",  "mb_per_s",     "p50_us",
                                  "p99_us",      "p999_us",      "peak_rss_kb",
                                  "cpu_s_per_m", "offered_per_s"};
    double values[] = {side->msgs_per_s,  side->mb_per_s,     side->p50_us,
                       side->p99_us,      side->p999_us,      side->peak_rss_kb,
                       side->cpu_s_per_m, side->offered_per_s};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char key[64];
        snprintf (key, sizeof key, "%s%s", prefix, names[i]);
        json_object_set_new (object, key, s_num (values[i]));
    }
    char key[64];
    snprintf (key, sizeof key, "%serrors", prefix);
    json_object_set_new (object, key, json_integer ((json_int_t)side->errors));
}

static int
s_write_json (const s_options_t *options, const s_result_t *results,
              size_t count)
{
    json_t *array = json_array ();
    for (size_t i = 0; i < count; i++) {
        json_t *object = json_object ();
        const s_scenario_t *sc = results[i].scenario;
        s_kind_t kind = sc->kind;
        const char *broker = s_sides[kind].broker,
                   *baseline = s_sides[kind].baseline;
        if (sc->peer) {
            broker =
                sc->durable ? "agentbusd-durable-always" : "agentbusd-small";
            baseline = sc->peer;
        }
        json_object_set_new (object, "scenario", json_string (sc->name));
        json_object_set_new (object, "broker", json_string (broker));
        json_object_set_new (object, "baseline", json_string (baseline));
        json_object_set_new (object, "publishers",
                             json_integer (sc->producers));
        s_side_json (object, "", &results[i].broker);
        s_side_json (object, "baseline_", &results[i].baseline);
        json_object_set_new (object, "ratio", s_num (s_ratio (&results[i])));
        json_object_set_new (object, "skipped",
                             results[i].skipped[0]
                                 ? json_string (results[i].skipped)
                                 : json_null ());
        json_object_set_new (object, "mode", json_string (options->mode));
        json_object_set_new (object, "seconds", json_real (options->seconds));
        json_array_append_new (array, object);
    }
    int rc = json_dump_file (array, options->json,
                             JSON_INDENT (2) | JSON_REAL_PRECISION (10));
    json_decref (array);
    return rc;
}

/* The machine, for the record: CPU model, cores, kernel, libzmq. */
static void
s_print_machine (void)
{
    char line[256], model[256] = "unknown CPU";
    FILE *file = fopen ("/proc/cpuinfo", "r");
    while (file && fgets (line, sizeof line, file))
        if (strncmp (line, "model name", 10) == 0) {
            char *colon = strchr (line, ':');
            snprintf (model, sizeof model, "%s", colon ? colon + 2 : line);
            model[strcspn (model, "\n")] = 0;
            break;
        }
    if (file)
        fclose (file);
    int major, minor, patch;
    zmq_version (&major, &minor, &patch);
    printf ("machine: %s, %ld cores online; libzmq %d.%d.%d\n", model,
            sysconf (_SC_NPROCESSORS_ONLN), major, minor, patch);
}

/* ---------------------------------------------------------------------
   Command line */

static void
s_usage (FILE *stream)
{
    fprintf (stream,
             "usage: agentbus-bench [--quick | --smoke | --full] "
             "[--scenarios LIST]\n"
             "                      [--json FILE] [--agentbusd PATH] "
             "[--seconds S]\n"
             "                      [--credit N] [--keep]\n"
             "scenarios: small route fanout compete reqrep tensor "
             "(tensor-1m tensor-16m\n"
             "  tensor-64m) latency (latency-10 latency-25) durable "
             "(durable-always\n"
             "  durable-batch) peers (nats rabbitmq rabbitmq-durable redis "
             "redis-aof),\n"
             "  or all (default; --smoke: small,route)\n");
}

/* A number option within [min, max]; returns 0 or -1. */
static int
s_parse_number (const char *text, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double value = strtod (text, &end);
    if (errno || end == text || *end || !(value >= min && value <= max))
        return -1;
    *out = value;
    return 0;
}

static int
s_parse (int argc, char *argv[], s_options_t *options)
{
    static const struct option longs[] = {
        {"quick", no_argument, NULL, 'q'},
        {"smoke", no_argument, NULL, 'S'},
        {"full", no_argument, NULL, 'f'},
        {"scenarios", required_argument, NULL, 's'},
        {"json", required_argument, NULL, 'j'},
        {"agentbusd", required_argument, NULL, 'a'},
        {"seconds", required_argument, NULL, 't'},
        {"credit", required_argument, NULL, 'c'},
        {"keep", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    double seconds = NAN, credit = 1000;
    int opt;
    while ((opt = getopt_long (argc, argv, "", longs, NULL)) != -1) {
        if (opt == 'q' || opt == 'S' || opt == 'f')
            options->mode = opt == 'q'   ? "quick"
                            : opt == 'S' ? "smoke"
                                         : "full";
        else if (opt == 's')
            options->select = optarg;
        else if (opt == 'j')
            options->json = optarg;
        else if (opt == 'a')
            options->agentbusd = optarg;
        else if (opt == 'k')
            options->keep = true;
        else if (opt == 'h') {
            s_usage (stdout);
            exit (0);
        } else if ((opt == 't' &&
                    !s_parse_number (optarg, 0.05, 3600, &seconds)) ||
                   (opt == 'c' &&
                    !s_parse_number (optarg, 1, 1000000, &credit)))
            continue;
        else {
            s_usage (stderr);
            return -1;
        }
    }
    if (optind < argc) {
        s_usage (stderr);
        return -1;
    }
    options->smoke = strcmp (options->mode, "smoke") == 0;
    options->seconds = !isnan (seconds)          ? seconds
                       : options->smoke          ? 0.3
                       : options->mode[0] == 'q' ? 2
                                                 : 10;
    options->credit = (int)credit;
    if (!options->select && options->smoke)
        options->select = "small,route";
    return 0;
}

/* Marks the scenarios a comma-separated list names (by name or group).
   Latency rates are shares of small's result, so latency brings small.
   Returns 0, or -1 naming the unknown word on stderr. */
static int
s_select (const char *list, bool *chosen)
{
    char *copy = strdup (list ? list : "all"), *save = NULL;
    int rc = 0;
    for (char *word = strtok_r (copy, ",", &save); word;
         word = strtok_r (NULL, ",", &save)) {
        bool known = false;
        for (size_t i = 0; i < S_SCENARIOS; i++) {
            const s_scenario_t *sc = &s_scenarios[i];
            if (strcmp (word, "all") == 0 || strcmp (word, sc->name) == 0 ||
                (sc->group && strcmp (word, sc->group) == 0)) {
                chosen[i] = known = true;
                if (sc->kind == S_LATENCY)
                    chosen[0] = true;
            }
        }
        if (!known) {
            fprintf (stderr, "agentbus-bench: unknown scenario '%s'\n", word);
            rc = -1;
        }
    }
    free (copy);
    return rc;
}

static int
s_remove_entry (const char *path, const struct stat *st, int flag,
                struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove (path);
    return 0;
}

/* A scenario ran badly: errors, or nothing measured where it ran. A
   nats that could not run (no server, no client, a server that would
   not start) is skipped, not failed. */
static bool
s_failed (const s_result_t *result)
{
    s_kind_t kind = result->scenario->kind;
    if ((kind == S_NATS || kind == S_RABBIT || kind == S_REDIS) &&
        result->skipped[0])
        return false;
    if (result->broker.errors || result->baseline.errors ||
        isnan (result->baseline.msgs_per_s))
        return true;
    return !result->skipped[0] && isnan (result->broker.msgs_per_s);
}

static void
s_run_one (s_bench_t *bench, s_result_t *result)
{
    switch (result->scenario->kind) {
    case S_FLOW:
    case S_REQREP:
    case S_LATENCY:
        s_scenario_zmq (bench, result);
        break;
    case S_DURABLE:
        s_scenario_durable (bench, result);
        break;
    case S_NATS:
        s_scenario_nats (bench, result);
        break;
    case S_RABBIT:
    case S_REDIS:
        s_scenario_peer (bench, result);
        break;
    }
}

/* Runs the chosen scenarios in table order, printing as they end. */
static int
s_run_all (s_bench_t *bench, const bool *chosen)
{
    s_result_t results[S_SCENARIOS];
    size_t count = 0;
    int failed = 0;
    s_print_header ();
    for (size_t i = 0; i < S_SCENARIOS; i++) {
        if (!chosen[i])
            continue;
        s_result_t *result = &results[count++];
        memset (result, 0, sizeof *result);
        result->scenario = &s_scenarios[i];
        s_side_clear (&result->broker);
        s_side_clear (&result->baseline);
        s_run_one (bench, result);
        s_print_result (result, bench->options.credit);
        failed += s_failed (result);
    }
#ifdef HAVE_RABBITMQ
    ab_rabbitbench_destroy (&bench->rabbit);
#endif
    if (bench->options.json && s_write_json (&bench->options, results, count)) {
        fprintf (stderr, "agentbus-bench: cannot write %s\n",
                 bench->options.json);
        return 1;
    }
    return failed ? 1 : 0;
}

int
main (int argc, char *argv[])
{
    if (argc == 5 && strcmp (argv[1], "--proxy-child") == 0)
        return s_proxy_child (argv[2], argv[3], argv[4]);
    s_bench_t bench = {
        .options = {.agentbusd = AB_BENCH_AGENTBUSD, .mode = "full"},
        .fsync_per_s = NAN};
    s_side_clear (&bench.small);
    s_side_clear (&bench.durable);
    bool chosen[S_SCENARIOS] = {false};
    if (s_parse (argc, argv, &bench.options) ||
        s_select (bench.options.select, chosen))
        return 2;
    if (access (bench.options.agentbusd, X_OK)) {
        fprintf (stderr, "agentbus-bench: %s: %s (give --agentbusd)\n",
                 bench.options.agentbusd, strerror (errno));
        return 2;
    }
    ssize_t len =
        readlink ("/proc/self/exe", bench.self, sizeof bench.self - 1);
    const char *tmp = getenv ("TMPDIR");
    snprintf (bench.dir, sizeof bench.dir, "%s/agentbus-bench-XXXXXX",
              tmp ? tmp : "/tmp");
    if (len <= 0 || !mkdtemp (bench.dir) || s_write_topology (bench.dir)) {
        fprintf (stderr, "agentbus-bench: cannot set up %s: %s\n", bench.dir,
                 strerror (errno));
        return 2;
    }
    /* paced sends and ppoll wake-ups to the microsecond, not the 50 us
       default slack */
    prctl (PR_SET_TIMERSLACK, 1UL);
    signal (SIGPIPE, SIG_IGN);
    s_print_machine ();
    printf ("mode: %s, %.1f s per side; agentbusd: %s; temp dir: %s\n",
            bench.options.mode, bench.options.seconds, bench.options.agentbusd,
            bench.dir);
    int status = s_run_all (&bench, chosen);
    if (!bench.options.keep)
        nftw (bench.dir, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return status;
}
