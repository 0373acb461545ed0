/*  =========================================================================
    ab_redisbench - agentbus-bench's small workload through Redis Streams

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    An ab_redisbench_t is a redis-server child process (bound to
    127.0.0.1 on a port of the caller's choice, its files in a dir of its
    own, optionally with an append-only file fsynced on every write) with
    one stream and one consumer group. A run is agentbus-bench's `small`
    (or, with 16 producers, `durable-always`): producers pipeline XADDs
    within a bounded window in flight end to end, one consumer reads with
    XREADGROUP (at most `credit` messages a call) and XACKs every message
    by itself. Built only where hiredis exists (HAVE_HIREDIS).
*/

#ifndef AB_REDISBENCH_H_INCLUDED
#define AB_REDISBENCH_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ab_hist.h"

typedef struct _ab_redisbench_t ab_redisbench_t;

/* What one run counted. */
typedef struct {
    uint64_t published; /* XADDs sent */
    uint64_t consumed;  /* messages read (and XACKed) by the consumer */
    uint64_t errors;    /* error replies, losses, bad sizes */
    double seconds;     /* first publish to last consumption */
} ab_redisbench_counts_t;

/* Starts `redis-server` from $PATH on 127.0.0.1:`port` with its files
   in DIR/redis-PORT and its output in DIR/redis-PORT.log; `aof` turns on
   `appendonly yes` with `appendfsync always` (else no persistence at
   all). Waits (at most 10 s) until it answers PING and creates the
   stream and its group. NULL on failure, with the reason in `why`;
   nothing is left running then. */
ab_redisbench_t *ab_redisbench_new (const char *dir, int port, bool aof,
                                    char *why, size_t size);

/* Stops redis-server (SIGTERM, SIGKILL after 10 s) and reaps it, removes
   its files; accepts NULL, nulls *self_p. */
void ab_redisbench_destroy (ab_redisbench_t **self_p);

/* The redis-server process, for its CPU time and peak RSS in /proc. */
pid_t ab_redisbench_pid (const ab_redisbench_t *self);

/* `producers` threads (1..16), each on its own connection, publish
   `payload` for `seconds`, all together keeping at most `window`
   messages published and not yet consumed (and each its share of the
   window unanswered). The consumer reads at most `credit` messages per
   XREADGROUP and sends one XACK for each; the publish-to-consume time of
   every message goes into `latency` (when not NULL; the payload must
   then have room for a stamp, see ab_hist_stamp_at). Waits up to 30 s
   for every published message to be consumed. Returns 0, or -1 when a
   connection could not be made (counts then say nothing). */
int ab_redisbench_run (ab_redisbench_t *self, const void *payload, size_t size,
                       int producers, int window, int credit, double seconds,
                       ab_hist_t *latency, ab_redisbench_counts_t *counts);

#endif
