/*  =========================================================================
    ab_natsbench - agentbus-bench's small workload through NATS JetStream

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    An ab_natsbench_t is a nats-server child process (JetStream on, bound
    to 127.0.0.1, its store in a dir of its own) with one file-storage
    stream, and a producer and a consumer connection to it. A run is
    agentbus-bench's `small`: one producer publishing asynchronously with
    a bounded window in flight end to end, one push consumer that acks
    every message explicitly. Built only where libnats exists (HAVE_NATS);
    one instance at a time, as it opens and closes the NATS library.
*/

#ifndef AB_NATSBENCH_H_INCLUDED
#define AB_NATSBENCH_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ab_hist.h"

typedef struct _ab_natsbench_t ab_natsbench_t;

/* What one run counted. */
typedef struct {
    uint64_t published; /* messages handed to the library to publish */
    uint64_t consumed;  /* messages received (and acked) by the consumer */
    uint64_t errors;    /* failed publishes, refusals, losses, bad sizes */
    double seconds;     /* first publish to last consumption */
} ab_natsbench_counts_t;

/* Starts `nats-server` from $PATH on 127.0.0.1:`port` with its store in
   DIR/nats-store and its output in DIR/nats-server.log, waits (at most
   10 s) until it accepts connections, connects the producer and the
   consumer and creates the stream. NULL on failure, with the reason in
   `why`; nothing is left running then. */
ab_natsbench_t *ab_natsbench_new (const char *dir, int port, char *why,
                                  size_t size);

/* Stops and reaps nats-server (SIGTERM, SIGKILL after 10 s), removes its
   store dir; accepts NULL, nulls *self_p. */
void ab_natsbench_destroy (ab_natsbench_t **self_p);

/* The nats-server process, for its CPU time and peak RSS in /proc. */
pid_t ab_natsbench_pid (const ab_natsbench_t *self);

/* Publishes `payload` for `seconds`, keeping at most `window` messages
   published and not yet consumed; the consumer has at most `credit`
   messages unacked (the stream's MaxAckPending). Then waits up to 30 s
   until every stored message was consumed. The publish-to-consume time
   of every message goes into `latency` when it is not NULL (the payload
   must then have room for a stamp, see ab_hist_stamp_at). Returns 0, or
   -1 when the consumer could not be set up (counts then say nothing). */
int ab_natsbench_run (ab_natsbench_t *self, const void *payload, size_t size,
                      int window, int credit, double seconds,
                      ab_hist_t *latency, ab_natsbench_counts_t *counts);

#endif
