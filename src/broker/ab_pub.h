/*  =========================================================================
    ab_pub - the path of one PUB or REQ: resolve, check, filter, route,
    admit, store, enqueue, answer; and the check-ahead of a turn's PUBs

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    An ab_pub_t is one PUB or REQ on its way through the broker. Each
    step below takes it one step further or rejects it (returns -1 with
    pub->code, pub->why and maybe pub->errors set); the broker's
    s_on_publish calls them in this order and answers:

      ab_pub_begin         what is known before validation
      ab_pub_resolve       header fields (table), type and version: the
                           schema to check against (broker's thread)
      ab_pub_check         the payload: JSON, attachments (§8), schema
                           (any thread: touches only pub and the frames)
      ab_pub_filter        the broker-wide filter stages (may rewrite)
      ab_pub_route         the target queues (all or nothing)
      ab_pub_admit         seq new and queue_limit free on every target
      ab_pub_edge_filters  each target edge's own stages (per-edge
                           rewrites)
      ab_pub_store         the message and one copy per target (ledger)
      ab_pub_enqueue       requests, rewrites; the copies wait
      ab_pub_answer        OK (PUB), held until commit when durable
      ab_pub_clear         frees what the PUB owned

    Check-ahead (ab_checks_t): the turn's PUBs are resolved when the
    turn is read and their payload checks handed to a thread pool, lowest
    first; when the broker comes to a PUB it takes the outcome
    (ab_checks_take), checking the next PUBs itself while it waits. What
    a PUB is checked against depends only on the topology, which changes
    between turns, never within one; so this answers exactly as checking
    each PUB in turn would.
*/

#ifndef AB_PUB_H_INCLUDED
#define AB_PUB_H_INCLUDED

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "broker/ab_copy.h"
#include "broker/ab_counters.h"
#include "broker/ab_ledger.h"
#include "broker/ab_outbox.h"
#include "broker/ab_queue.h"
#include "broker/ab_session.h"
#include "filter/ab_filter.h"
#include "schema/ab_schema.h"
#include "topology/ab_topology.h"
#include "wire/ab_codes.h"
#include "wire/ab_proto.h"
#include "filter/ab_pipeline.h"

/* Whether the payload's tree is built when nothing but a filter stage
   would read it. */
typedef enum {
    AB_PUB_TREE_IF_NEEDED = 0, /* only for a schema or tensor check */
    AB_PUB_TREE_ALWAYS,        /* filter stages will read it */
} ab_pub_tree_t;

/* One PUB or REQ on its way through the broker. */
typedef struct {
    ab_session_t *from;        /* the sender */
    const char *from_name;     /* its agent's name (borrowed) */
    json_t *header;            /* its header (borrowed) */
    json_t *echo;              /* the header's `id` (borrowed) or NULL */
    bool request;              /* REQ */
    const char *type;          /* message type (borrowed from header) */
    int version;               /* resolved version */
    const ab_schema_t *schema; /* what the payload must match */
    json_t *payload;           /* parsed payload (owned), or NULL when
                                  nothing needs the tree */
    ab_queue_t **targets;      /* queues it goes to (owned array) */
    size_t target_count;       /* entries in targets */
    ab_reject_t code;          /* why it was rejected */
    char why[512];             /* REJECT message */
    json_t *errors;            /* REJECT errors (owned) or NULL */
    char **rewrites;           /* per target: payload rewritten by the
                                  edge's stages, or NULL (owned) */
    ab_msg_t *msg;             /* stored: the message (one reference) */
    ab_live_copy_t **copies;   /* stored: one per target (owned array) */
} ab_pub_t;

/* A command read in this turn, waiting to be handled. */
typedef struct {
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
    ab_pub_t pub;         /* the PUB so far */
} ab_inbound_t;

/* Parses the payload and runs the §8 attachment check and the schema.
   Returns -1 when all passed (*payload_p set, NULL when no tree was
   needed), else a REJECT code with a reason and, for `invalid`,
   *errors_p. */
int ab_pub_check_payload (const ab_schema_t *schema, zmq_msg_t *body,
                          size_t count, ab_pub_tree_t tree, json_t **payload_p,
                          char *why, size_t why_size, json_t **errors_p);

/* Checks the payload of a REP against reply type `type` of `topology`
   (the header's `version`, else the newest: in *version_p). -1 when
   valid, else a REJECT code with `why` and maybe *errors_p. */
int ab_pub_check_reply (ab_topology_t *topology, const char *type,
                        ab_proto_t *proto, int *version_p, char *why,
                        size_t why_size, json_t **errors_p);

/* The configured filter stages (`filters`, written in `file`), the
   broker's own schema stage left out: a `{name: schema}` entry only
   sets *format_assert_p. NULL with the reasons in diag. */
ab_pipeline_t *ab_pub_pipeline_new (const json_t *filters, const char *file,
                                    bool *format_assert_p, ab_diag_t *diag);

void ab_pub_begin (ab_pub_t *pub, ab_proto_t *proto);
int ab_pub_resolve (ab_pub_t *pub, ab_topology_t *topology);
int ab_pub_check (ab_pub_t *pub, ab_proto_t *proto, ab_pub_tree_t tree);
int ab_pub_filter (ab_pub_t *pub, ab_pipeline_t *pipeline, ab_proto_t *proto);
int ab_pub_route (ab_pub_t *pub, ab_generation_t *gen);
int ab_pub_admit (ab_pub_t *pub, ab_ledger_t *ledger);
int ab_pub_edge_filters (ab_pub_t *pub, ab_proto_t *proto);

/* Stores the message (taking the frames of `proto`) and one copy per
   target: all or nothing (else `overloaded`). */
int ab_pub_store (ab_pub_t *pub, ab_proto_t *proto, ab_ledger_t *ledger,
                  ab_copies_t *copies);

/* The stored copies wait (a REQ's with their requests, on `timers`). */
void ab_pub_enqueue (ab_pub_t *pub, ab_copies_t *copies, ab_timer_t *timers,
                     ab_ledger_t *ledger, ab_counters_t *counters);

/* OK for a PUB, held until the batch is on disk when durable. */
void ab_pub_answer (ab_pub_t *pub, ab_outbox_t *outbox, ab_ledger_t *ledger);

/* Frees what the PUB owns (not the message: ab_pub_enqueue lets go). */
void ab_pub_clear (ab_pub_t *pub, ab_copies_t *copies);

typedef struct _ab_checks_t ab_checks_t;

/* Commands one turn may hand to ab_checks_start, at most. */
#define AB_CHECKS_MAX 256

/* A check-ahead over `threads` pool threads (the broker's
   check_threads: 0 = one per CPU beyond two, at most 3; negative =
   none, every check on the broker's thread). NULL when the pool cannot
   start. */
ab_checks_t *ab_checks_new (int threads);
void ab_checks_destroy (ab_checks_t **self_p);

/* Resolves the PUBs among `inbound` against `topology` and hands their
   payload checks to the pool; too few PUBs to be worth waking it for are
   left alone. Returns how many went to the pool. */
size_t ab_checks_start (ab_checks_t *self, ab_inbound_t *inbound, size_t count,
                        ab_topology_t *topology, ab_pub_tree_t tree);

/* The PUB of `in`, begun and validated (ahead or now) into *pub: 0
   valid, -1 rejected. */
int ab_checks_take (ab_checks_t *self, ab_inbound_t *in,
                    ab_topology_t *topology, ab_pub_tree_t tree, ab_pub_t *pub);

/* `in` was handled without its check being taken: drops the outcome. */
void ab_checks_drop (ab_checks_t *self, ab_inbound_t *in);

/* The turn's checks were all taken: the pool's round ends. */
void ab_checks_end (ab_checks_t *self);

#endif
