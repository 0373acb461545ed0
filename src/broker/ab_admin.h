/*  =========================================================================
    ab_admin - the admin socket (docs/admin.md): a REP socket, JSON in and
    out, for dead letters and counters

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Requests by "cmd" (a table): dead.list, dead.replay, dead.purge,
    counters. Listing and purging read the ledger's stores; replaying and
    counting are the broker's (they need the current generation and
    every module), so the broker passes them in (ab_admin_ops_t). The
    requests' writes join the turn's batch; the answer waits until the
    broker calls ab_admin_answer after the commit.
*/

#ifndef AB_ADMIN_H_INCLUDED
#define AB_ADMIN_H_INCLUDED

#include <jansson.h>
#include <stdint.h>

#include "broker/ab_ledger.h"
#include "common/ab_diag.h"
#include "common/ab_log.h"

typedef struct _ab_admin_t ab_admin_t;

/* What the broker does for the admin socket. */
typedef struct {
    /* puts dead letter `id` back on its edge: NULL or why not */
    const char *(*replay) (void *arg, uint64_t id);
    /* every counter, a new object */
    json_t *(*counters) (void *arg);
    void *arg; /* their first argument */
} ab_admin_ops_t;

/* Binds a REP socket to `endpoint`, reading dead letters from `ledger`
   (borrowed). NULL with the reason in diag. */
ab_admin_t *ab_admin_new (const char *endpoint, ab_ledger_t *ledger,
                          ab_log_t *log, ab_diag_t *diag);

/* Accepts NULL; nulls *self_p. */
void ab_admin_destroy (ab_admin_t **self_p);

/* The socket to poll (a zmq socket). */
void *ab_admin_socket (ab_admin_t *self);

/* Reads and handles one request; its answer waits for ab_admin_answer. */
void ab_admin_handle (ab_admin_t *self, const ab_admin_ops_t *ops);

/* Sends the waiting answer, if any (after the turn's commit). */
void ab_admin_answer (ab_admin_t *self);

#endif
