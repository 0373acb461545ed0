/*  =========================================================================
    ab_natsbench - agentbus-bench's small workload through NATS JetStream

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    The run mirrors agentbusd's `small` side: the producer keeps at most
    `window` messages published and not yet consumed (and as many
    unanswered by the stream: PublishAsync.MaxPending), the consumer's
    unacked messages are bounded like the broker's credit (MaxAckPending),
    and the rate is consumed / (last consumption - first publish). The
    stream is on file storage (a message is written to the store before
    it is acknowledged to the producer or delivered; JetStream does not
    fsync each one) with NATS's default retention, limits: acked messages
    stay in the store. A work queue, which removes each message on its
    ack as agentbusd forgets it, cost NATS about 40 % of its rate on the
    2-core test machine, so the comparison uses the faster default.
    The consumer is the library's delivery thread for a push
    subscription; the producer is the caller's thread.
*/

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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

#include <nats/nats.h>

#include "ab_child.h"
#include "ab_natsbench.h"

/* The stream and its one subject. */
#define S_STREAM "BENCH"
#define S_SUBJECT "bench.small"
/* How long nats-server may take to accept connections, ns. */
#define S_START_NS (10 * 1000000000LL)
/* How long a run may take to drain after its sending time, ms. */
#define S_DRAIN_MS 30000
/* How long a publish waits for room among unanswered publishes, ms. */
#define S_STALL_MS 10000
/* The producer's sleep while its window is full, ns: short beside the
   time the window takes to drain (2048 messages at 10^5/s: 20 ms), so
   the pipeline never runs dry, and long enough not to spin. */
#define S_ROOM_NS 100000
/* How long destroy waits for the library's threads to end, ms. */
#define S_CLOSE_MS 5000

struct _ab_natsbench_t {
    pid_t pid;                    /* nats-server, or 0 once reaped */
    char store[320];              /* its JetStream store dir (-sd) */
    char log[320];                /* its stdout and stderr */
    char url[64];                 /* nats://127.0.0.1:PORT */
    natsConnection *producer;     /* the producer's connection */
    natsConnection *consumer;     /* the consumer's connection */
    jsCtx *consumer_js;           /* JetStream on the consumer's; the stream */
    size_t size;                  /* the run's payload length, checked */
    long stamp_at;                /* where the payload carries its send
                                     time, or -1 */
    ab_hist_t *latency;           /* publish-to-consume times, or NULL
                                     (the delivery thread's alone) */
    atomic_int_fast64_t consumed; /* messages the consumer received */
    atomic_int_fast64_t last_ns;  /* when the last one was received */
    atomic_int_fast64_t refused;  /* publishes the stream did not store */
    atomic_int_fast64_t errors;   /* async errors, failed acks, bad sizes */
};

static int64_t
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The last non-empty line of a file (nats-server's fatal error comes
   last), for a reason. */
static void
s_last_line (const char *path, char *out, size_t size)
{
    char line[512];
    FILE *file = fopen (path, "r");
    out[0] = 0;
    while (file && fgets (line, sizeof line, file)) {
        size_t len = strcspn (line, "\n");
        if (len == 0)
            continue;
        len = len < size ? len : size - 1;
        memcpy (out, line, len);
        out[len] = 0;
    }
    if (file)
        fclose (file);
    if (!out[0])
        snprintf (out, size, "no output (see %.160s)", path);
}

static int
s_remove_entry (const char *path, const struct stat *st, int flag,
                struct FTW *ftw)
{
    remove (path);
    return 0;
}

/* ---------------------------------------------------------------------
   The server */

/* Forks and execs nats-server; readiness is s_connect_all's to see. */
static int
s_server_start (ab_natsbench_t *self, int port, char *why, size_t size)
{
    char port_text[16];
    snprintf (port_text, sizeof port_text, "%d", port);
    self->pid = fork ();
    if (self->pid < 0) {
        self->pid = 0;
        snprintf (why, size, "fork: %s", strerror (errno));
        return -1;
    }
    if (self->pid == 0) {
        /* a server left behind by a killed bench would keep its port
           and its store: it dies with the bench */
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        int fd = open (self->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2 (fd, STDOUT_FILENO);
            dup2 (fd, STDERR_FILENO);
        }
        execlp ("nats-server", "nats-server", "-js", "-a", "127.0.0.1", "-p",
                port_text, "-sd", self->store, (char *)NULL);
        fprintf (stderr, "cannot run nats-server: %s\n", strerror (errno));
        _exit (127);
    }
    return 0;
}

/* Any asynchronous error of a connection (a slow consumer, a lost
   connection) is an error of the run. */
static void
s_on_error (natsConnection *nc, natsSubscription *sub, natsStatus err,
            void *closure)
{
    ab_natsbench_t *self = closure;
    self->errors++;
}

/* A connection that does not reconnect (a server gone is an error of
   the run, not a pause); NULL if the server does not answer. */
static natsConnection *
s_connect (ab_natsbench_t *self)
{
    natsOptions *opts = NULL;
    natsConnection *nc = NULL;
    if (natsOptions_Create (&opts) == NATS_OK &&
        natsOptions_SetURL (opts, self->url) == NATS_OK &&
        natsOptions_SetTimeout (opts, 1000) == NATS_OK &&
        natsOptions_SetAllowReconnect (opts, false) == NATS_OK &&
        natsOptions_SetErrorHandler (opts, s_on_error, self) == NATS_OK &&
        natsConnection_Connect (&nc, opts) != NATS_OK)
        nc = NULL;
    natsOptions_Destroy (opts);
    return nc;
}

/* Connects the producer and the consumer once the server accepts
   connections, within S_START_NS. */
static int
s_connect_all (ab_natsbench_t *self, char *why, size_t size)
{
    int64_t until = s_now () + S_START_NS;
    while (!self->producer && s_now () < until) {
        if (waitpid (self->pid, NULL, WNOHANG) == self->pid) {
            self->pid = 0;
            char line[200];
            s_last_line (self->log, line, sizeof line);
            snprintf (why, size, "nats-server exited: %s", line);
            return -1;
        }
        self->producer = s_connect (self);
        if (!self->producer)
            ab_child_sleep_ns (50000000);
    }
    if (self->producer)
        self->consumer = s_connect (self);
    if (!self->consumer)
        snprintf (why, size, "nats-server did not accept connections on %s",
                  self->url);
    return self->consumer ? 0 : -1;
}

/* The stream: one subject, file storage, default (limits) retention. */
static int
s_add_stream (ab_natsbench_t *self, char *why, size_t size)
{
    const char *subjects[] = {S_SUBJECT};
    jsStreamConfig config;
    jsStreamConfig_Init (&config);
    config.Name = S_STREAM;
    config.Subjects = subjects;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    config.Retention = js_LimitsPolicy;
    jsStreamInfo *info = NULL;
    jsErrCode code = 0;
    natsStatus status =
        natsConnection_JetStream (&self->consumer_js, self->consumer, NULL);
    if (status == NATS_OK)
        status = js_AddStream (&info, self->consumer_js, &config, NULL, &code);
    jsStreamInfo_Destroy (info);
    if (status != NATS_OK) {
        const char *text = nats_GetLastError (&status);
        snprintf (why, size, "cannot create the JetStream stream: %s",
                  text ? text : natsStatus_GetText (status));
        return -1;
    }
    return 0;
}

ab_natsbench_t *
ab_natsbench_new (const char *dir, int port, char *why, size_t size)
{
    if (port <= 0 || port > 65535) {
        snprintf (why, size, "no free port for nats-server");
        return NULL;
    }
    ab_natsbench_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (why, size, "out of memory");
        return NULL;
    }
    snprintf (self->store, sizeof self->store, "%s/nats-store", dir);
    snprintf (self->log, sizeof self->log, "%s/nats-server.log", dir);
    snprintf (self->url, sizeof self->url, "nats://127.0.0.1:%d", port);
    int rc = s_server_start (self, port, why, size);
    if (rc == 0)
        rc = s_connect_all (self, why, size);
    if (rc == 0)
        rc = s_add_stream (self, why, size);
    if (rc)
        ab_natsbench_destroy (&self);
    return self;
}

void
ab_natsbench_destroy (ab_natsbench_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ab_natsbench_t *self = *self_p;
    if (self->consumer_js)
        jsCtx_Destroy (self->consumer_js);
    if (self->producer)
        natsConnection_Destroy (self->producer);
    if (self->consumer)
        natsConnection_Destroy (self->consumer);
    ab_child_stop (&self->pid);
    nftw (self->store, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    /* the library's threads end here, so the next instance (and a leak
       checker) finds it closed */
    nats_CloseAndWait (S_CLOSE_MS);
    free (self);
    *self_p = NULL;
}

pid_t
ab_natsbench_pid (const ab_natsbench_t *self)
{
    return self->pid;
}

/* ---------------------------------------------------------------------
   A run */

/* The consumer: an explicit ack for every message, on the library's
   delivery thread of the subscription. */
static void
s_on_message (natsConnection *nc, natsSubscription *sub, natsMsg *msg,
              void *closure)
{
    ab_natsbench_t *self = closure;
    if ((size_t)natsMsg_GetDataLength (msg) != self->size ||
        natsMsg_Ack (msg, NULL) != NATS_OK)
        self->errors++;
    else if (self->latency && self->stamp_at >= 0) {
        int64_t sent = ab_hist_unstamp (natsMsg_GetData (msg) + self->stamp_at);
        if (sent >= 0)
            ab_hist_record (self->latency, s_now () - sent);
    }
    natsMsg_Destroy (msg);
    /* the time first: a drain that sees the count sees its time */
    self->last_ns = s_now ();
    self->consumed++;
}

/* A publish the stream refused or did not answer in time. */
static void
s_on_refused (jsCtx *js, jsPubAckErr *error, void *closure)
{
    ab_natsbench_t *self = closure;
    self->refused++;
}

/* The producer's context: at most `window` publishes unanswered. */
static jsCtx *
s_producer_js (ab_natsbench_t *self, int window)
{
    jsOptions options;
    jsOptions_Init (&options);
    options.PublishAsync.MaxPending = window;
    options.PublishAsync.StallWait = S_STALL_MS;
    options.PublishAsync.ErrHandler = s_on_refused;
    options.PublishAsync.ErrHandlerClosure = self;
    jsCtx *js = NULL;
    if (natsConnection_JetStream (&js, self->producer, &options) != NATS_OK)
        return NULL;
    return js;
}

/* An ephemeral push consumer of the whole stream, explicit acks, at
   most `credit` unacked. */
static natsSubscription *
s_subscribe (ab_natsbench_t *self, int credit)
{
    jsSubOptions options;
    jsSubOptions_Init (&options);
    options.Stream = S_STREAM;
    options.ManualAck = true;
    options.Config.AckPolicy = js_AckExplicit;
    options.Config.DeliverPolicy = js_DeliverAll;
    options.Config.MaxAckPending = credit;
    natsSubscription *sub = NULL;
    jsErrCode code = 0;
    if (js_Subscribe (&sub, self->consumer_js, S_SUBJECT, s_on_message, self,
                      NULL, &options, &code) != NATS_OK)
        return NULL;
    return sub;
}

/* Publishes until `deadline` within the window; a failed publish ends
   the sending (the connection is gone or the stream stalled). Returns
   the messages published. */
static int64_t
s_publish (ab_natsbench_t *self, jsCtx *js, char *payload, size_t size,
           int window, int64_t deadline)
{
    int64_t published = 0;
    while (s_now () < deadline) {
        if (published - self->consumed >= window) {
            ab_child_sleep_ns (S_ROOM_NS);
            continue;
        }
        if (self->stamp_at >= 0)
            ab_hist_stamp (payload + self->stamp_at, s_now ());
        if (js_PublishAsync (js, S_SUBJECT, payload, (int)size, NULL) !=
            NATS_OK) {
            self->errors++;
            break;
        }
        published++;
    }
    return published;
}

/* Waits for the stream's answers, then for the consumer to have every
   stored message, within S_DRAIN_MS in all; what is missing then is
   counted as lost. */
static void
s_drain (ab_natsbench_t *self, jsCtx *js, int64_t published)
{
    int64_t until = s_now () + S_DRAIN_MS * 1000000LL;
    jsPubOptions options;
    jsPubOptions_Init (&options);
    options.MaxWait = S_DRAIN_MS;
    natsMsgList pending = {NULL, 0};
    if (js_PublishAsyncComplete (js, &options) != NATS_OK &&
        js_PublishAsyncGetPendingList (&pending, js) == NATS_OK) {
        self->refused += pending.Count;
        natsMsgList_Destroy (&pending);
    }
    int64_t expected = published - self->refused;
    while (self->consumed < expected && s_now () < until)
        ab_child_sleep_ns (1000000);
    if (self->consumed < expected)
        self->errors += expected - self->consumed;
}

int
ab_natsbench_run (ab_natsbench_t *self, const void *payload, size_t size,
                  int window, int credit, double seconds, ab_hist_t *latency,
                  ab_natsbench_counts_t *counts)
{
    *counts = (ab_natsbench_counts_t){0, 0, 0, 0};
    self->size = size;
    self->latency = latency;
    self->stamp_at = latency ? ab_hist_stamp_at (payload, size) : -1;
    /* the producer's copy, stamped with each send (the library copies
       what it publishes) */
    char *stamped = malloc (size ? size : 1);
    if (!stamped)
        return -1;
    memcpy (stamped, payload, size);
    self->consumed = self->last_ns = self->refused = self->errors = 0;
    jsCtx *js = s_producer_js (self, window);
    natsSubscription *sub = js ? s_subscribe (self, credit) : NULL;
    if (!sub) {
        if (js)
            jsCtx_Destroy (js);
        free (stamped);
        return -1;
    }
    int64_t start = s_now ();
    int64_t published = s_publish (self, js, stamped, size, window,
                                   start + (int64_t)(seconds * 1e9));
    s_drain (self, js, published);
    counts->published = (uint64_t)published;
    counts->consumed = (uint64_t)self->consumed;
    counts->errors = (uint64_t)(self->refused + self->errors);
    if (self->last_ns > start)
        counts->seconds = (double)(self->last_ns - start) / 1e9;
    /* deletes the ephemeral consumer on the server too (libnats 3.4) */
    natsSubscription_Unsubscribe (sub);
    natsSubscription_Destroy (sub);
    jsCtx_Destroy (js);
    free (stamped);
    self->latency = NULL;
    return 0;
}
