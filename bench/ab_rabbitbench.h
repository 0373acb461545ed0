/*  =========================================================================
    ab_rabbitbench - agentbus-bench's small workload through RabbitMQ

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    An ab_rabbitbench_t is a RabbitMQ node of its own: an epmd child on a
    free port and a rabbitmq-server child (in the foreground, its own
    process group) whose node name, AMQP port, distribution port, Mnesia
    dir, logs, config, plugins and Erlang cookie all live in one temp dir,
    so it neither needs nor meets a system RabbitMQ or epmd. A run is
    agentbus-bench's `small` (or, durable, its `durable-always`) on one
    classic queue: producers publish with publisher confirms within a
    bounded window in flight end to end, one consumer with a prefetch of
    `credit` acks every message by itself. Built only where librabbitmq
    exists (HAVE_RABBITMQ).
*/

#ifndef AB_RABBITBENCH_H_INCLUDED
#define AB_RABBITBENCH_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ab_hist.h"

typedef struct _ab_rabbitbench_t ab_rabbitbench_t;

/* What one run counted. */
typedef struct {
    uint64_t published; /* basic.publish sent */
    uint64_t consumed;  /* deliveries received (and acked) */
    uint64_t errors;    /* nacks, losses, bad sizes, protocol errors */
    double seconds;     /* first publish to last consumption */
} ab_rabbitbench_counts_t;

/* Starts epmd and `rabbitmq-server` (from $PATH, or
   /usr/lib/rabbitmq/bin) with everything in DIR/rabbitmq-PORT, the AMQP
   listener on 127.0.0.1:`port`, and waits (at most `timeout_s`; a node
   takes seconds to boot) until a client can log in. NULL on failure,
   with the reason in `why`; nothing is left running then. */
ab_rabbitbench_t *ab_rabbitbench_new (const char *dir, int port,
                                      double timeout_s, char *why, size_t size);

/* Stops the node (SIGTERM to rabbitmq-server, which stops the Erlang VM;
   SIGKILL to its whole process group after 30 s) and epmd, reaps them,
   removes the node's dir; accepts NULL, nulls *self_p. */
void ab_rabbitbench_destroy (ab_rabbitbench_t **self_p);

/* The Erlang VM (beam.smp) running the node, for its CPU time and peak
   RSS in /proc; 0 if it cannot be found. */
pid_t ab_rabbitbench_pid (const ab_rabbitbench_t *self);

/* The process group of everything the node started (rabbitmq-server is
   its leader), for a caller that checks nothing is left. */
pid_t ab_rabbitbench_group (const ab_rabbitbench_t *self);

/* epmd's pid, for the same check. */
pid_t ab_rabbitbench_epmd (const ab_rabbitbench_t *self);

/* Declares a fresh queue, transient or (`durable`) durable with
   persistent messages, and runs: `producers` threads (1..16), each on
   its own connection in confirm mode, publish `payload` for `seconds`,
   all together keeping at most `window` messages published and not yet
   consumed (and each its share of the window unconfirmed). The consumer
   (basic.qos prefetch `credit`) acks each delivery; publish-to-consume
   times go into `latency` (when not NULL). Waits up to 30 s for every
   confirmed message to be consumed, then deletes the queue. Returns 0,
   or -1 when a connection or the queue could not be set up (counts then
   say nothing). */
int ab_rabbitbench_run (ab_rabbitbench_t *self, bool durable,
                        const void *payload, size_t size, int producers,
                        int window, int credit, double seconds,
                        ab_hist_t *latency, ab_rabbitbench_counts_t *counts);

#endif
