/*  =========================================================================
    ab_rabbitbench - agentbus-bench's small workload through RabbitMQ

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    The node: `epmd -port P1 -address 127.0.0.1` in the foreground, then
    rabbitmq-server (Debian's /usr/lib/rabbitmq/bin/rabbitmq-server, not
    /usr/sbin's wrapper, which changes user and dir) with ERL_EPMD_PORT=P1,
    RABBITMQ_DIST_PORT a free port, HOME (the Erlang cookie) and every
    RABBITMQ_*_FILE / _BASE in the node's dir, and no plugins. The
    script runs in the foreground and turns SIGTERM into a clean stop of
    the VM; it leads a process group, so whatever the VM starts
    (erl_child_setup, inet_gethost, a disk monitor shell) goes with it.
    Erlang finds our epmd listening, and the `epmd -daemon` it runs
    anyway exits at once; destroy reaps it.

    The run mirrors agentbusd's side: producers keep at most `window`
    messages published and not yet consumed (and each its share of it
    unconfirmed: confirm mode, the broker acks a publish once the queue
    has it, and for a persistent message on a durable queue once it is on
    disk), the consumer's unacked deliveries are bounded like the broker's
    credit (basic.qos prefetch) and it acks each delivery on its own
    (multiple = false). The rate is consumed / (last consumption - first
    publish). Producers and the consumer are threads of the caller, each
    with its own connection (rabbitmq-c connections are not thread-safe).
*/

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include "ab_child.h"
#include "ab_rabbitbench.h"

/* Debian's server script, which runs the node as the caller. */
#define S_DEBIAN_SERVER "/usr/lib/rabbitmq/bin/rabbitmq-server"
/* How long a stopping node may take before SIGKILL, ms. */
#define S_STOP_MS 30000
/* How long a run may take to drain after its sending time, ns. */
#define S_DRAIN_NS (30 * 1000000000LL)
/* Most producers of a run. */
#define S_PRODUCERS 16
/* Publishes between two looks at the confirms. */
#define S_BATCH 32
/* How long a login or a method's answer may take, s. */
#define S_RPC_S 30
/* Environment strings given to rabbitmq-server. */
#define S_ENV 16

struct _ab_rabbitbench_t {
    pid_t pid;            /* rabbitmq-server (group leader), or 0 */
    pid_t epmd;           /* our epmd, or 0 */
    pid_t beam;           /* the Erlang VM, once found */
    int port;             /* AMQP on 127.0.0.1 */
    int runs;             /* queues declared so far (their names) */
    char dir[320];        /* the node's dir */
    char log[340];        /* rabbitmq-server's stdout and stderr */
    char env[S_ENV][400]; /* its environment additions */
};

/* One run's shared state. */
typedef struct {
    ab_rabbitbench_t *self;        /* the node */
    char queue[64];                /* the run's queue */
    bool durable;                  /* durable queue, persistent messages */
    const char *payload;           /* the message */
    size_t size;                   /* its length */
    long stamp_at;                 /* where its send time goes, or -1 */
    int window;                    /* in flight end to end */
    int own;                       /* unconfirmed per producer */
    int credit;                    /* the consumer's prefetch */
    int64_t deadline_ns;           /* no publish after this */
    ab_hist_t *latency;            /* publish-to-consume, or NULL */
    atomic_bool ready;             /* the consumer is consuming */
    atomic_bool stop;              /* the consumer: finish */
    atomic_int_fast64_t published; /* publishes sent, all producers */
    atomic_int_fast64_t confirmed; /* publishes acked by the broker */
    atomic_int_fast64_t consumed;  /* deliveries received and acked */
    atomic_int_fast64_t last_ns;   /* when the last was consumed */
    atomic_int_fast64_t errors;    /* nacks, losses, protocol errors */
} s_run_t;

static int64_t
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static bool
s_ok (amqp_connection_state_t conn)
{
    return amqp_get_rpc_reply (conn).reply_type == AMQP_RESPONSE_NORMAL;
}

static void
s_close (amqp_connection_state_t conn)
{
    if (!conn)
        return;
    amqp_channel_close (conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close (conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection (conn);
}

/* A logged-in connection with channel 1 open, NULL if the node does not
   take one (yet). */
static amqp_connection_state_t
s_connect (ab_rabbitbench_t *self)
{
    amqp_connection_state_t conn = amqp_new_connection ();
    amqp_socket_t *socket = conn ? amqp_tcp_socket_new (conn) : NULL;
    struct timeval timeout = {5, 0}, rpc = {S_RPC_S, 0};
    if (socket) {
        /* a node that stops answering fails the run, never hangs it */
        amqp_set_handshake_timeout (conn, &rpc);
        amqp_set_rpc_timeout (conn, &rpc);
    }
    if (!socket ||
        amqp_socket_open_noblock (socket, "127.0.0.1", self->port, &timeout) !=
            AMQP_STATUS_OK ||
        amqp_login (conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest",
                    "guest")
                .reply_type != AMQP_RESPONSE_NORMAL) {
        if (conn)
            amqp_destroy_connection (conn);
        return NULL;
    }
    amqp_channel_open (conn, 1);
    if (!s_ok (conn)) {
        s_close (conn);
        return NULL;
    }
    return conn;
}

/* ---------------------------------------------------------------------
   The node */

/* The server script to run, or NULL when there is none. */
static const char *
s_server (void)
{
    const char *given = getenv ("AB_RABBITMQ_SERVER");
    if (given)
        return given;
    if (access (S_DEBIAN_SERVER, X_OK) == 0)
        return S_DEBIAN_SERVER;
    return ab_child_in_path ("rabbitmq-server") ? "rabbitmq-server" : NULL;
}

/* Writes `text` to DIR/NAME; 0 or -1. */
static int
s_write (const char *dir, const char *name, const char *text)
{
    char path[400];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen (path, "w");
    if (!file)
        return -1;
    int rc = fputs (text, file) < 0 ? -1 : 0;
    return fclose (file) || rc ? -1 : 0;
}

/* The node's files and environment. */
static int
s_prepare (ab_rabbitbench_t *self, int epmd_port, int dist_port)
{
    char config[400];
    snprintf (config, sizeof config,
              "listeners.tcp.default = 127.0.0.1:%d\n"
              "log.console = false\n"
              "log.file.level = warning\n"
              "vm_memory_high_watermark.relative = 0.8\n"
              "disk_free_limit.absolute = 10MB\n",
              self->port);
    if (s_write (self->dir, "rabbitmq.conf", config) ||
        s_write (self->dir, "enabled_plugins", "[].\n"))
        return -1;
    const char *d = self->dir;
    int n = 0;
    snprintf (self->env[n++], 400, "HOME=%s", d);
    snprintf (self->env[n++], 400, "ERL_EPMD_PORT=%d", epmd_port);
    snprintf (self->env[n++], 400, "RABBITMQ_NODENAME=abbench%d@localhost",
              self->port);
    snprintf (self->env[n++], 400, "RABBITMQ_USE_LONGNAME=false");
    snprintf (self->env[n++], 400, "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1");
    snprintf (self->env[n++], 400, "RABBITMQ_NODE_PORT=%d", self->port);
    snprintf (self->env[n++], 400, "RABBITMQ_DIST_PORT=%d", dist_port);
    snprintf (self->env[n++], 400, "RABBITMQ_MNESIA_BASE=%s/mnesia", d);
    snprintf (self->env[n++], 400, "RABBITMQ_LOG_BASE=%s/log", d);
    snprintf (self->env[n++], 400, "RABBITMQ_CONFIG_FILE=%s/rabbitmq.conf", d);
    snprintf (self->env[n++], 400,
              "RABBITMQ_ADVANCED_CONFIG_FILE=%s/advanced.config", d);
    snprintf (self->env[n++], 400,
              "RABBITMQ_ENABLED_PLUGINS_FILE=%s/enabled_plugins", d);
    snprintf (self->env[n++], 400,
              "RABBITMQ_CONF_ENV_FILE=%s/rabbitmq-env.conf", d);
    snprintf (self->env[n++], 400, "RABBITMQ_PID_FILE=%s/rabbitmq.pid", d);
    return 0;
}

ab_rabbitbench_t *
ab_rabbitbench_new (const char *dir, int port, double timeout_s, char *why,
                    size_t size)
{
    int epmd_port = ab_child_free_port (), dist_port = ab_child_free_port ();
    if (port <= 0 || port > 65535 || epmd_port <= 0 || dist_port <= 0) {
        snprintf (why, size, "no free port for rabbitmq-server");
        return NULL;
    }
    const char *server = s_server ();
    if (!server) {
        snprintf (why, size, "rabbitmq-server not installed");
        return NULL;
    }
    ab_rabbitbench_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (why, size, "out of memory");
        return NULL;
    }
    self->port = port;
    snprintf (self->dir, sizeof self->dir, "%s/rabbitmq-%d", dir, port);
    snprintf (self->log, sizeof self->log, "%s/rabbitmq-server.log", self->dir);
    if (mkdir (self->dir, 0700) || s_prepare (self, epmd_port, dist_port)) {
        snprintf (why, size, "cannot set up %s: %s", self->dir,
                  strerror (errno));
        ab_rabbitbench_destroy (&self);
        return NULL;
    }
    char epmd_log[400], port_text[16], line[200];
    snprintf (epmd_log, sizeof epmd_log, "%s/epmd.log", self->dir);
    snprintf (port_text, sizeof port_text, "%d", epmd_port);
    char *epmd_argv[] = {"epmd",     "-port",     port_text,
                         "-address", "127.0.0.1", NULL};
    self->epmd =
        ab_child_spawn (epmd_argv, NULL, self->dir, epmd_log, why, size);
    if (self->epmd > 0 &&
        ab_child_wait_port (&self->epmd, epmd_port, 10 * 1000000000LL)) {
        ab_child_last_line (epmd_log, line, sizeof line);
        snprintf (why, size, "epmd did not start: %s", line);
        self->epmd = self->epmd ? self->epmd : -1;
    }
    if (self->epmd <= 0) {
        self->epmd = 0;
        ab_rabbitbench_destroy (&self);
        return NULL;
    }
    char *env[S_ENV + 1] = {NULL};
    for (int i = 0; i < S_ENV && self->env[i][0]; i++)
        env[i] = self->env[i];
    char *argv[] = {(char *)server, NULL};
    self->pid = ab_child_spawn (argv, env, self->dir, self->log, why, size);
    amqp_connection_state_t conn = NULL;
    int64_t until = s_now () + (int64_t)(timeout_s * 1e9);
    while (self->pid > 0 && !conn && s_now () < until) {
        if (ab_child_wait_port (&self->pid, port, 100000000) == 0)
            conn = s_connect (self);
        /* the listener opens before the node takes logins */
        if (!conn)
            ab_child_sleep_ns (100000000);
    }
    if (conn) {
        s_close (conn);
        self->beam = ab_child_find (self->pid, "beam.smp");
        return self;
    }
    if (self->pid == 0) {
        ab_child_last_line (self->log, line, sizeof line);
        snprintf (why, size, "rabbitmq-server exited: %s", line);
    } else if (self->pid > 0)
        snprintf (why, size,
                  "rabbitmq-server did not accept a login on 127.0.0.1:%d "
                  "within %.0f s",
                  port, timeout_s);
    self->pid = self->pid > 0 ? self->pid : 0;
    ab_rabbitbench_destroy (&self);
    return NULL;
}

void
ab_rabbitbench_destroy (ab_rabbitbench_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ab_rabbitbench_t *self = *self_p;
    ab_child_stop_group (&self->pid, S_STOP_MS);
    ab_child_stop_group (&self->epmd, 5000);
    /* orphans of the VM that came here (ab_child_spawn made us their
       subreaper): the `epmd -daemon` it runs at boot, which leaves its
       session and our group and, finding our epmd on its port, exits,
       and its inet_gethost helpers, which leave the group too */
    static const char *orphans[] = {"epmd", "inet_gethost"};
    for (size_t i = 0; i < sizeof orphans / sizeof orphans[0]; i++) {
        pid_t orphan;
        while ((orphan = ab_child_find (getpid (), orphans[i])) > 0) {
            kill (orphan, SIGKILL);
            waitpid (orphan, NULL, 0);
        }
    }
    ab_child_remove_tree (self->dir);
    free (self);
    *self_p = NULL;
}

pid_t
ab_rabbitbench_pid (const ab_rabbitbench_t *self)
{
    return self->beam;
}

pid_t
ab_rabbitbench_group (const ab_rabbitbench_t *self)
{
    return self->pid;
}

pid_t
ab_rabbitbench_epmd (const ab_rabbitbench_t *self)
{
    return self->epmd;
}

/* ---------------------------------------------------------------------
   A run */

/* A producer's unconfirmed publishes: tags floor+1 .. floor+own, one
   flag each in a ring (a confirm may cover many with `multiple`). */
typedef struct {
    uint64_t floor; /* every tag up to this one is answered */
    uint64_t sent;  /* the last tag published */
    int own;        /* ring size */
    bool *done;     /* answered, by tag % own */
} s_confirms_t;

/* Marks `tag` (and, `multiple`, every earlier one) answered, counting a
   nack as an error, and moves the floor. */
static void
s_confirm (s_run_t *run, s_confirms_t *c, uint64_t tag, bool multiple,
           bool nack)
{
    uint64_t from = multiple ? c->floor + 1 : tag;
    for (uint64_t t = from; t <= tag && t <= c->sent; t++) {
        if (t <= c->floor || c->done[t % (uint64_t)c->own])
            continue;
        c->done[t % (uint64_t)c->own] = true;
        if (nack)
            run->errors++;
    }
    while (c->floor < c->sent && c->done[(c->floor + 1) % (uint64_t)c->own]) {
        c->done[(c->floor + 1) % (uint64_t)c->own] = false;
        c->floor++;
        run->confirmed++;
    }
}

/* Reads the confirms waiting, waiting up to `timeout_us` for the first.
   -1 when the connection or channel is gone. */
static int
s_read_confirms (s_run_t *run, amqp_connection_state_t conn, s_confirms_t *c,
                 long timeout_us)
{
    for (;;) {
        amqp_frame_t frame;
        struct timeval tv = {0, timeout_us};
        int rc = amqp_simple_wait_frame_noblock (conn, &frame, &tv);
        if (rc == AMQP_STATUS_TIMEOUT)
            return 0;
        if (rc != AMQP_STATUS_OK)
            return -1;
        timeout_us = 0;
        if (frame.frame_type != AMQP_FRAME_METHOD)
            continue;
        if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            amqp_basic_ack_t *ack = frame.payload.method.decoded;
            s_confirm (run, c, ack->delivery_tag, ack->multiple, false);
        } else if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD) {
            amqp_basic_nack_t *nack = frame.payload.method.decoded;
            s_confirm (run, c, nack->delivery_tag, nack->multiple, true);
        } else
            return -1; /* channel.close, connection.close */
    }
}

static void *
s_producer (void *arg)
{
    s_run_t *run = arg;
    amqp_connection_state_t conn = s_connect (run->self);
    char *payload = malloc (run->size);
    s_confirms_t c = {0, 0, run->own, calloc ((size_t)run->own, 1)};
    if (conn) {
        amqp_confirm_select (conn, 1);
        if (!s_ok (conn)) {
            s_close (conn);
            conn = NULL;
        }
    }
    if (!conn || !payload || !c.done) {
        run->errors++;
        s_close (conn);
        free (payload);
        free (c.done);
        return NULL;
    }
    memcpy (payload, run->payload, run->size);
    amqp_basic_properties_t props = {
        ._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
        .delivery_mode = run->durable ? AMQP_DELIVERY_PERSISTENT
                                      : AMQP_DELIVERY_NONPERSISTENT};
    amqp_bytes_t body = {run->size, payload};
    bool lost = false;
    while (!lost && s_now () < run->deadline_ns) {
        bool room = run->published - run->consumed < run->window &&
                    c.sent - c.floor < (uint64_t)c.own;
        if (room) {
            if (run->stamp_at >= 0)
                ab_hist_stamp (payload + run->stamp_at, s_now ());
            if (amqp_basic_publish (conn, 1, amqp_empty_bytes,
                                    amqp_cstring_bytes (run->queue), 0, 0,
                                    &props, body) != AMQP_STATUS_OK) {
                lost = true;
                break;
            }
            c.sent++;
            run->published++;
        }
        if (!room || c.sent % S_BATCH == 0)
            lost = s_read_confirms (run, conn, &c, room ? 0 : 1000) < 0;
        amqp_maybe_release_buffers (conn);
    }
    int64_t until = s_now () + S_DRAIN_NS;
    while (!lost && c.floor < c.sent && s_now () < until)
        lost = s_read_confirms (run, conn, &c, 10000) < 0;
    run->errors += (int64_t)(c.sent - c.floor);
    s_close (conn);
    free (payload);
    free (c.done);
    return NULL;
}

/* Checks and times one delivery and acks it. */
static void
s_take (s_run_t *run, amqp_connection_state_t conn, amqp_envelope_t *env)
{
    amqp_bytes_t *body = &env->message.body;
    if (body->len != run->size)
        run->errors++;
    else if (run->latency && run->stamp_at >= 0) {
        int64_t sent = ab_hist_unstamp ((char *)body->bytes + run->stamp_at);
        if (sent >= 0)
            ab_hist_record (run->latency, s_now () - sent);
    }
    if (amqp_basic_ack (conn, 1, env->delivery_tag, 0) != AMQP_STATUS_OK)
        run->errors++;
}

static void *
s_consumer (void *arg)
{
    s_run_t *run = arg;
    amqp_connection_state_t conn = s_connect (run->self);
    if (conn) {
        amqp_basic_qos (conn, 1, 0, (uint16_t)run->credit, 0);
        if (s_ok (conn))
            amqp_basic_consume (conn, 1, amqp_cstring_bytes (run->queue),
                                amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
        if (!s_ok (conn)) {
            s_close (conn);
            conn = NULL;
        }
    }
    if (!conn)
        run->errors++;
    run->ready = true;
    while (conn && !run->stop) {
        amqp_maybe_release_buffers (conn);
        amqp_envelope_t env;
        struct timeval tv = {0, 50000};
        amqp_rpc_reply_t reply = amqp_consume_message (conn, &env, &tv, 0);
        if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
            s_take (run, conn, &env);
            amqp_destroy_envelope (&env);
            /* the time first: a drain that sees the count sees its time */
            run->last_ns = s_now ();
            run->consumed++;
        } else if (reply.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION ||
                   reply.library_error != AMQP_STATUS_TIMEOUT) {
            run->errors++;
            break;
        }
    }
    s_close (conn);
    return NULL;
}

/* Declares (or, `drop`, deletes) the run's queue on a connection of its
   own; 0 or -1. */
static int
s_queue (s_run_t *run, bool drop)
{
    amqp_connection_state_t conn = s_connect (run->self);
    if (!conn)
        return -1;
    amqp_bytes_t name = amqp_cstring_bytes (run->queue);
    if (drop)
        amqp_queue_delete (conn, 1, name, 0, 0);
    else
        amqp_queue_declare (conn, 1, name, 0, run->durable, 0, 0,
                            amqp_empty_table);
    int rc = s_ok (conn) ? 0 : -1;
    s_close (conn);
    return rc;
}

int
ab_rabbitbench_run (ab_rabbitbench_t *self, bool durable, const void *payload,
                    size_t size, int producers, int window, int credit,
                    double seconds, ab_hist_t *latency,
                    ab_rabbitbench_counts_t *counts)
{
    *counts = (ab_rabbitbench_counts_t){0, 0, 0, 0};
    producers = producers < 1             ? 1
                : producers > S_PRODUCERS ? S_PRODUCERS
                                          : producers;
    s_run_t run = {.self = self,
                   .durable = durable,
                   .payload = payload,
                   .size = size,
                   .stamp_at = latency ? ab_hist_stamp_at (payload, size) : -1,
                   .window = window,
                   .own = (window + producers - 1) / producers,
                   .credit = credit < 65535 ? credit : 65535,
                   .latency = latency};
    snprintf (run.queue, sizeof run.queue, "bench-%d-%s", ++self->runs,
              durable ? "durable" : "transient");
    if (s_queue (&run, false))
        return -1;
    pthread_t consumer, threads[S_PRODUCERS];
    pthread_create (&consumer, NULL, s_consumer, &run);
    while (!run.ready)
        ab_child_sleep_ns (1000000);
    int64_t start = s_now ();
    run.deadline_ns = start + (int64_t)(seconds * 1e9);
    int started = 0;
    for (; run.errors == 0 && started < producers; started++)
        pthread_create (&threads[started], NULL, s_producer, &run);
    for (int i = 0; i < started; i++)
        pthread_join (threads[i], NULL);
    int64_t until = s_now () + S_DRAIN_NS;
    while (run.consumed < run.confirmed && s_now () < until)
        ab_child_sleep_ns (1000000);
    if (run.consumed < run.confirmed)
        run.errors += run.confirmed - run.consumed;
    run.stop = true;
    pthread_join (consumer, NULL);
    s_queue (&run, true);
    counts->published = (uint64_t)run.published;
    counts->consumed = (uint64_t)run.consumed;
    counts->errors = (uint64_t)run.errors;
    if (run.last_ns > start)
        counts->seconds = (double)(run.last_ns - start) / 1e9;
    return 0;
}
