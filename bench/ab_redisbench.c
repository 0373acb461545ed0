/*  =========================================================================
    ab_redisbench - agentbus-bench's small workload through Redis Streams

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    The run mirrors agentbusd's side: producers keep at most `window`
    messages published and not yet consumed (and each its share of it
    without a reply to its XADD, which Redis sends once the entry is in
    the stream and, with `appendfsync always`, in the fsynced AOF), the
    consumer reads at most `credit` entries per XREADGROUP (its pending
    list is bounded like the broker's credit) and acks every entry with an
    XACK of its own, pipelined. The rate is consumed / (last consumption -
    first publish). XADD trims the stream to about S_MAXLEN entries, far
    more than the window, so an unconsumed entry is never trimmed and the
    server's memory stays bounded like agentbusd's, which forgets acked
    messages. Producers and the consumer are threads of the caller, each
    with its own blocking hiredis connection.
*/

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "ab_child.h"
#include "ab_redisbench.h"

/* The stream, its group and the consumer's name in it. */
#define S_STREAM "bench"
#define S_GROUP "benchgroup"
#define S_CONSUMER "cons"
/* Entries the stream keeps, about (XADD MAXLEN ~). */
#define S_MAXLEN "100000"
/* How long redis-server may take to accept connections, ns. */
#define S_START_NS (10 * 1000000000LL)
/* How long a run may take to drain after its sending time, ns. */
#define S_DRAIN_NS (30 * 1000000000LL)
/* Most producers of a run. */
#define S_PRODUCERS 16
/* XADDs a producer appends before it writes them out. */
#define S_BATCH 32
/* How long a reply may take, s. */
#define S_IO_S 30
/* The consumer's XREADGROUP BLOCK, ms. */
#define S_BLOCK_MS 50

struct _ab_redisbench_t {
    pid_t pid;     /* redis-server, or 0 once reaped */
    int port;      /* where it listens on 127.0.0.1 */
    char dir[320]; /* its working dir (RDB, AOF) */
    char log[320]; /* its stdout and stderr */
};

/* One run's shared state. */
typedef struct {
    ab_redisbench_t *self;         /* the server */
    const char *payload;           /* the message */
    size_t size;                   /* its length */
    long stamp_at;                 /* where its send time goes, or -1 */
    int window;                    /* in flight end to end, all producers */
    int own;                       /* unanswered per producer */
    int credit;                    /* entries per XREADGROUP */
    int64_t deadline_ns;           /* no new XADD after this */
    ab_hist_t *latency;            /* publish-to-consume times, or NULL */
    atomic_bool stop;              /* the consumer: finish */
    atomic_int_fast64_t published; /* XADDs sent, all producers */
    atomic_int_fast64_t answered;  /* XADDs answered with an id */
    atomic_int_fast64_t consumed;  /* entries read and acked */
    atomic_int_fast64_t last_ns;   /* when the last was consumed */
    atomic_int_fast64_t errors;    /* error replies, bad entries */
} s_run_t;

static int64_t
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A connection to the server, NULL if it does not answer. */
static redisContext *
s_connect (ab_redisbench_t *self)
{
    struct timeval timeout = {2, 0};
    redisContext *ctx =
        redisConnectWithTimeout ("127.0.0.1", self->port, timeout);
    if (ctx && ctx->err) {
        redisFree (ctx);
        return NULL;
    }
    /* a server that stops answering fails the run, never hangs it */
    struct timeval io = {S_IO_S, 0};
    if (ctx)
        redisSetTimeout (ctx, io);
    return ctx;
}

/* Runs one command; 0 when its reply is not an error. */
static int
s_command (redisContext *ctx, char *error, size_t size, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    redisReply *reply = redisvCommand (ctx, format, args);
    va_end (args);
    int rc = reply && reply->type != REDIS_REPLY_ERROR ? 0 : -1;
    if (rc && error)
        snprintf (error, size, "%s",
                  reply            ? reply->str
                  : ctx->errstr[0] ? ctx->errstr
                                   : "no reply");
    freeReplyObject (reply);
    return rc;
}

ab_redisbench_t *
ab_redisbench_new (const char *dir, int port, bool aof, char *why, size_t size)
{
    if (port <= 0 || port > 65535) {
        snprintf (why, size, "no free port for redis-server");
        return NULL;
    }
    ab_redisbench_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (why, size, "out of memory");
        return NULL;
    }
    self->port = port;
    snprintf (self->dir, sizeof self->dir, "%s/redis-%d", dir, port);
    snprintf (self->log, sizeof self->log, "%s/redis-%d.log", dir, port);
    if (mkdir (self->dir, 0700)) {
        snprintf (why, size, "cannot create %s: %s", self->dir,
                  strerror (errno));
        free (self);
        return NULL;
    }
    char port_text[16];
    snprintf (port_text, sizeof port_text, "%d", port);
    char *argv[] = {"redis-server",
                    "--port",
                    port_text,
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    self->dir,
                    "--save",
                    "",
                    "--appendonly",
                    aof ? "yes" : "no",
                    "--appendfsync",
                    "always",
                    "--daemonize",
                    "no",
                    "--protected-mode",
                    "no",
                    "--logfile",
                    "",
                    "--databases",
                    "1",
                    NULL};
    self->pid = ab_child_spawn (argv, NULL, self->dir, self->log, why, size);
    if (self->pid < 0) {
        self->pid = 0;
        ab_redisbench_destroy (&self);
        return NULL;
    }
    redisContext *ctx = NULL;
    int64_t until = s_now () + S_START_NS;
    while (!ctx && s_now () < until) {
        if (ab_child_wait_port (&self->pid, port, 50000000) == 0)
            ctx = s_connect (self);
        if (!self->pid)
            break;
    }
    char error[200] = "";
    if (!self->pid) {
        ab_child_last_line (self->log, error, sizeof error);
        snprintf (why, size, "redis-server exited: %s", error);
    } else if (!ctx)
        snprintf (why, size,
                  "redis-server did not accept connections on "
                  "127.0.0.1:%d",
                  port);
    else if (s_command (ctx, error, sizeof error,
                        "XGROUP CREATE " S_STREAM " " S_GROUP " $ MKSTREAM"))
        snprintf (why, size, "cannot create the stream: %s", error);
    else {
        redisFree (ctx);
        return self;
    }
    if (ctx)
        redisFree (ctx);
    ab_redisbench_destroy (&self);
    return NULL;
}

void
ab_redisbench_destroy (ab_redisbench_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ab_redisbench_t *self = *self_p;
    ab_child_stop_group (&self->pid, 10000);
    ab_child_remove_tree (self->dir);
    free (self);
    *self_p = NULL;
}

pid_t
ab_redisbench_pid (const ab_redisbench_t *self)
{
    return self->pid;
}

/* ---------------------------------------------------------------------
   A run */

/* Reads every reply waiting for `ctx`, waiting up to `timeout_ms` for
   the first; each XADD reply is an id (a string) or an error. Returns the
   replies read, or -1 when the connection is lost. */
static int64_t
s_read_answers (s_run_t *run, redisContext *ctx, int timeout_ms)
{
    struct pollfd item = {ctx->fd, POLLIN, 0};
    if (poll (&item, 1, timeout_ms) <= 0)
        return 0;
    if (redisBufferRead (ctx) != REDIS_OK)
        return -1;
    int64_t answers = 0;
    void *reply = NULL;
    while (redisGetReplyFromReader (ctx, &reply) == REDIS_OK && reply) {
        if (((redisReply *)reply)->type != REDIS_REPLY_STRING)
            run->errors++;
        answers++;
        freeReplyObject (reply);
        reply = NULL;
    }
    return answers;
}

/* Writes out what was appended; 0 or -1. */
static int
s_flush (redisContext *ctx)
{
    int done = 0;
    while (!done)
        if (redisBufferWrite (ctx, &done) != REDIS_OK)
            return -1;
    return 0;
}

static void *
s_producer (void *arg)
{
    s_run_t *run = arg;
    redisContext *ctx = s_connect (run->self);
    if (!ctx) {
        run->errors++;
        return NULL;
    }
    char *payload = malloc (run->size);
    if (!payload) {
        run->errors++;
        redisFree (ctx);
        return NULL;
    }
    memcpy (payload, run->payload, run->size);
    const char *argv[] = {"XADD",   S_STREAM, "MAXLEN", "~",
                          S_MAXLEN, "*",      "d",      payload};
    size_t lens[] = {4, strlen (S_STREAM), 6, 1, strlen (S_MAXLEN), 1,
                     1, run->size};
    int64_t sent = 0, answers = 0, unflushed = 0;
    bool lost = false;
    while (!lost && s_now () < run->deadline_ns) {
        bool room = run->published - run->consumed < run->window &&
                    sent - answers < run->own;
        if (room) {
            if (run->stamp_at >= 0)
                ab_hist_stamp (payload + run->stamp_at, s_now ());
            redisAppendCommandArgv (ctx, 8, argv, lens);
            sent++;
            unflushed++;
            run->published++;
        }
        if (!room || unflushed >= S_BATCH) {
            int64_t got =
                s_flush (ctx) ? -1 : s_read_answers (run, ctx, room ? 0 : 1);
            unflushed = 0;
            lost = got < 0;
            answers += got > 0 ? got : 0;
        }
    }
    int64_t until = s_now () + S_DRAIN_NS;
    if (!lost && s_flush (ctx))
        lost = true;
    while (!lost && answers < sent && s_now () < until) {
        int64_t got = s_read_answers (run, ctx, 10);
        lost = got < 0;
        answers += got > 0 ? got : 0;
    }
    run->answered += answers;
    if (answers < sent)
        run->errors += sent - answers;
    free (payload);
    redisFree (ctx);
    return NULL;
}

/* Takes the entries of one XREADGROUP reply: checks and times each,
   appends its XACK. Returns the entries. */
static int64_t
s_take_entries (s_run_t *run, redisContext *ctx, redisReply *reply)
{
    /* [[stream, [[id, [field, value]], ...]]] */
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_ARRAY ||
        reply->element[0]->elements < 2)
        return 0;
    redisReply *entries = reply->element[0]->element[1];
    int64_t now = s_now (), taken = 0;
    for (size_t i = 0;
         entries->type == REDIS_REPLY_ARRAY && i < entries->elements; i++) {
        redisReply *entry = entries->element[i];
        if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 2 ||
            entry->element[1]->type != REDIS_REPLY_ARRAY ||
            entry->element[1]->elements < 2) {
            run->errors++;
            continue;
        }
        redisReply *id = entry->element[0],
                   *value = entry->element[1]->element[1];
        if (value->len != run->size)
            run->errors++;
        else if (run->latency && run->stamp_at >= 0) {
            int64_t sent = ab_hist_unstamp (value->str + run->stamp_at);
            if (sent >= 0)
                ab_hist_record (run->latency, now - sent);
        }
        redisAppendCommand (ctx, "XACK " S_STREAM " " S_GROUP " %b", id->str,
                            id->len);
        taken++;
    }
    return taken;
}

static void *
s_consumer (void *arg)
{
    s_run_t *run = arg;
    redisContext *ctx = s_connect (run->self);
    if (!ctx) {
        run->errors++;
        return NULL;
    }
    while (!run->stop) {
        redisReply *reply =
            redisCommand (ctx,
                          "XREADGROUP GROUP " S_GROUP " " S_CONSUMER
                          " COUNT %d BLOCK %d STREAMS " S_STREAM " >",
                          run->credit, S_BLOCK_MS);
        if (!reply) {
            run->errors++;
            break;
        }
        if (reply->type == REDIS_REPLY_ERROR)
            run->errors++;
        int64_t taken = s_take_entries (run, ctx, reply);
        freeReplyObject (reply);
        for (int64_t i = 0; i < taken; i++) {
            void *ack = NULL;
            if (redisGetReply (ctx, &ack) != REDIS_OK) {
                run->errors++;
                break;
            }
            if (((redisReply *)ack)->type != REDIS_REPLY_INTEGER ||
                ((redisReply *)ack)->integer != 1)
                run->errors++;
            freeReplyObject (ack);
        }
        if (taken) {
            /* the time first: a drain that sees the count sees its time */
            run->last_ns = s_now ();
            run->consumed += taken;
        }
    }
    redisFree (ctx);
    return NULL;
}

int
ab_redisbench_run (ab_redisbench_t *self, const void *payload, size_t size,
                   int producers, int window, int credit, double seconds,
                   ab_hist_t *latency, ab_redisbench_counts_t *counts)
{
    *counts = (ab_redisbench_counts_t){0, 0, 0, 0};
    producers = producers < 1             ? 1
                : producers > S_PRODUCERS ? S_PRODUCERS
                                          : producers;
    s_run_t run = {.self = self,
                   .payload = payload,
                   .size = size,
                   .stamp_at = latency ? ab_hist_stamp_at (payload, size) : -1,
                   .window = window,
                   .own = (window + producers - 1) / producers,
                   .credit = credit,
                   .latency = latency};
    redisContext *probe = s_connect (self);
    if (!probe)
        return -1;
    redisFree (probe);
    pthread_t consumer, threads[S_PRODUCERS];
    pthread_create (&consumer, NULL, s_consumer, &run);
    int64_t start = s_now ();
    run.deadline_ns = start + (int64_t)(seconds * 1e9);
    for (int i = 0; i < producers; i++)
        pthread_create (&threads[i], NULL, s_producer, &run);
    for (int i = 0; i < producers; i++)
        pthread_join (threads[i], NULL);
    int64_t until = s_now () + S_DRAIN_NS;
    while (run.consumed < run.answered && s_now () < until)
        ab_child_sleep_ns (1000000);
    if (run.consumed < run.answered)
        run.errors += run.answered - run.consumed;
    run.stop = true;
    pthread_join (consumer, NULL);
    counts->published = (uint64_t)run.published;
    counts->consumed = (uint64_t)run.consumed;
    counts->errors = (uint64_t)run.errors;
    if (run.last_ns > start)
        counts->seconds = (double)(run.last_ns - start) / 1e9;
    return 0;
}
