/*  =========================================================================
    ab_broker - the agentbus broker: sessions, routing, delivery, retry

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    The broker is one object holding its socket, topology, queues, timers
    and store; no global state, so a test runs several in one process.
    It runs as a czmq actor (ab_broker_actor): tests start it in-process,
    agentbusd starts it from main. Commands on the actor pipe (strings):

      "$TERM"     stop: unbind, flush what can be sent, end the actor
      "COUNTERS"  reply one string, a JSON object of every counter
      "RELOAD"    reload topology and schemas; reply "OK" or "ERROR" and
                  then one more frame with the diagnostics (one a line)
      "ENDPOINT"  reply the endpoint actually bound (a `*` port resolved)
*/

#ifndef AB_BROKER_H_INCLUDED
#define AB_BROKER_H_INCLUDED

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ab_diag.h"
#include "common/ab_log.h"

/* The default agent endpoint (protocol §1). */
#define AB_BROKER_ENDPOINT "tcp://127.0.0.1:7780"
/* Default max_message_bytes: 256 MiB. */
#define AB_BROKER_MAX_MESSAGE_BYTES (256u * 1024 * 1024)
/* Default heartbeat_ms. */
#define AB_BROKER_HEARTBEAT_MS 1000

/* What a broker needs to start; every pointer is borrowed for the call
   to ab_broker_new only (the broker copies what it keeps), except `log`,
   which must outlive the broker. Zeroed fields take the defaults. */
typedef struct {
    const char *endpoint;       /* where to bind; NULL = the default */
    const char *topology;       /* topology file (required) */
    int64_t heartbeat_ms;       /* 0 = 1000 */
    size_t max_message_bytes;   /* 0 = 256 MiB */
    bool durable;               /* default of edges' `durable` */
    const char *data_dir;       /* durable state (the LMDB store), or NULL:
                                   then durable edges are a load error */
    int sync;                   /* ab_store_sync_t: always, batch, never */
    int sync_ms;                /* batch: sync at most this often */
    size_t map_size;            /* LMDB map size; 0 = the store's default */
    size_t memory_limit;        /* frame bytes held per store; 0 = none */
    const char *admin_endpoint; /* admin REP socket, or NULL (docs/admin.md) */
    bool format_assert;         /* JSON Schema `format` asserts */
    const json_t *filters;      /* the `filters:` pipeline, or NULL; a
                                   `{name: schema}` entry sets
                                   format_assert and is otherwise implied */
    const char *config_file;    /* where `filters` was written (messages) */
    ab_log_t *log;              /* where log lines go; NULL = nowhere */
    int check_threads;          /* threads that validate payloads beside
                                   the broker's own: 0 = one per CPU
                                   beyond two, at most 3; negative = none */
} ab_broker_config_t;

typedef struct _ab_broker_t ab_broker_t;

/* Loads the topology, builds the pipeline and binds the socket. On any
   problem returns NULL with every reason in `diag`. */
ab_broker_t *ab_broker_new (const ab_broker_config_t *config, ab_diag_t *diag);

/* Destroys the broker (not while its actor runs); accepts NULL, nulls
 *self_p. */
void ab_broker_destroy (ab_broker_t **self_p);

/* The endpoint actually bound (borrowed). */
const char *ab_broker_endpoint (const ab_broker_t *self);

/* Every counter as a new JSON object (the caller's). Only while the
   actor is not running; tests use the "COUNTERS" command instead. */
json_t *ab_broker_counters (const ab_broker_t *self);

/* The actor: `args` is an ab_broker_t made by ab_broker_new, which the
   actor runs but does not destroy (the creator does, after
   zactor_destroy). */
void ab_broker_actor (zsock_t *pipe, void *args);

#endif
