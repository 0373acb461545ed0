/*  =========================================================================
    ab_broker - the agentbus broker: the junction of its modules

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Design note (the map is docs/design.md).

    This file holds the socket, the loop turn and the handlers of the
    commands; each module below it owns its data and gets what it works
    with at creation, never the broker:

      ab_header    clocks, timer kinds, OOM policy, header fields
      ab_counters  every counter
      ab_outbox    the turn's answers, held until commit
      ab_ledger    the stores, ids, memory_limit, the batch, sync
      ab_session   sessions (instances), agents, the dirty list
      ab_queue     edge queues (the seam to a replicated engine) and
                   topology generations
      ab_request   an open request behind a request copy
      ab_copy      messages and copies: the state machine and its
                   numbered invariant
      ab_pub       the steps of one PUB/REQ, and the check-ahead pool
      ab_recovery  store records back into copies (restart, replay)
      ab_admin     the admin socket

    Only this file sees them all. The junctions stay here: the path of
    a PUB (s_on_publish), dispatch (queue × session × copy: s_dispatch),
    the loss of a session (s_session_lost requeues what it held), the
    turn (s_begin … s_commit: ledger → outbox → rollback of copies) and
    the reaping of retired generations at the end of a turn.

    Every deadline (ack timeout, backoff, ttl, request timeout, heartbeat,
    sync) is one entry in the ab_timer heap; zmq_poll sleeps until the
    earliest. Nothing is scanned per message beyond the target edges of a
    PUB and the queues and sessions of one agent.
*/

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ab_oom.h"
#include "agentbus.h"
#include "broker/ab_admin.h"
#include "broker/ab_broker.h"
#include "broker/ab_copy.h"
#include "broker/ab_counters.h"
#include "broker/ab_header.h"
#include "broker/ab_ledger.h"
#include "broker/ab_outbox.h"
#include "broker/ab_pub.h"
#include "broker/ab_queue.h"
#include "broker/ab_recovery.h"
#include "broker/ab_session.h"
#include "common/ab_timer.h"
#include "filter/ab_filter.h"
#include "filter/ab_pipeline.h"
#include "topology/ab_topology.h"
#include "wire/ab_codes.h"
#include "common/ab_decimal.h"
#include "wire/ab_jsonw.h"
#include "wire/ab_outq.h"
#include "wire/ab_proto.h"

/* Messages read from the socket per loop turn, so timers never starve. */
#define S_BATCH AB_CHECKS_MAX
/* Full batches one turn may read when it stores durable messages: they
   share the turn's one sync */
#define S_DURABLE_ROUNDS 4
/* Extra bytes libzmq accepts per frame above max_message_bytes, so a
   message slightly too big still reaches us and gets `REJECT too_large`
   instead of a silent disconnect. */
#define S_MAXMSG_MARGIN (1024 * 1024)

struct _ab_broker_t {
    char *endpoint;           /* bound endpoint (resolved) */
    char *topology_path;      /* for reloads */
    int64_t heartbeat_ms;     /* announced in WELCOME */
    size_t max_message_bytes; /* larger messages: too_large */
    bool durable;             /* default of edges' `durable` */
    bool format_assert;       /* `format` asserts in schemas */
    ab_log_t *log;            /* borrowed; may be NULL */
    zsock_t *router;          /* the agent endpoint */
    ab_timer_t *timers;       /* every deadline */
    ab_counters_t *counters;  /* every counter */
    ab_ledger_t *ledger;      /* the stores and the batch */
    ab_outbox_t *outbox;      /* the turn's answers */
    ab_sessions_t *sessions;  /* sessions, agents, the dirty list */
    ab_copies_t *copies;      /* live copies */
    ab_checks_t *checks;      /* the check-ahead pool */
    ab_admin_t *admin;        /* admin socket, or NULL */
    ab_pipeline_t *pipeline;  /* configured filter stages */
    ab_generation_t *gen;     /* current topology generation */
    zlistx_t *retired;        /* ab_generation_t * still finishing */
    ab_inbound_t *inbound;    /* this turn's commands (S_BATCH) */
    bool terminated;          /* $TERM received */
};

/* The payload trees the filter stages need. */
static ab_pub_tree_t
s_tree (const ab_broker_t *self)
{
    return ab_pipeline_size (self->pipeline) > 0 ? AB_PUB_TREE_ALWAYS
                                                 : AB_PUB_TREE_IF_NEEDED;
}

static ab_topology_t *
s_topology (const ab_broker_t *self)
{
    return ab_generation_topology (self->gen);
}

/* ---------------------------------------------------------------------
   Sessions lost, dispatch */

/* The session is gone (BYE, silence, a vanished peer, a second HELLO):
   what it held in flight comes back, counted as an attempt or not. */
static void
s_session_lost (ab_broker_t *self, ab_session_t *session, ab_attempt_t attempt)
{
    ab_sessions_detach (self->sessions, session);
    ab_live_copy_t *copy;
    while ((copy = ab_session_first_held (session)))
        ab_copy_retry (self->copies, copy, attempt);
    ab_session_destroy (&session);
}

/* Delivers waiting copies of every queue of `agent`, one per queue per
   round so edges share the agent's sessions fairly, until no copy waits
   or no session has credit. */
static void
s_dispatch (ab_broker_t *self, ab_agent_t *agent)
{
    bool progress = true;
    while (progress && ab_agent_online (agent)) {
        progress = false;
        ab_queue_t *queue = ab_agent_first_queue (agent);
        for (; queue; queue = ab_agent_next_queue (agent)) {
            ab_live_copy_t *copy = ab_copies_next (queue);
            if (!copy)
                continue;
            ab_session_t *session = ab_agent_pick (agent, ab_copy_avoid (copy));
            if (!session)
                return;
            progress = true;
            if (!ab_copy_deliver (self->copies, copy, session)) {
                /* the peer vanished without BYE: forget it now rather
                   than at its heartbeat; the copy stays first. The
                   session list changed, so start a new round. */
                s_session_lost (self, session, AB_ATTEMPT_COUNTED);
                break;
            }
        }
    }
}

/* Dispatches the agents marked this turn. */
static void
s_flush (ab_broker_t *self)
{
    ab_agent_t *agent;
    while ((agent = ab_sessions_next_dirty (self->sessions)))
        s_dispatch (self, agent);
}

/* ---------------------------------------------------------------------
   PUB and REQ: the path of one message, each step one module's */

static void
s_on_publish (ab_broker_t *self, ab_session_t *from, ab_inbound_t *in)
{
    ab_pub_t pub;
    ab_proto_t *proto = in->proto;
    int rc = ab_checks_take (self->checks, in, s_topology (self), s_tree (self),
                             &pub); /* resolve, check: maybe done ahead */
    pub.from = from;
    pub.from_name = ab_agent_name (ab_session_agent (from));
    rc = rc || ab_pub_filter (&pub, self->pipeline, proto) /* broker stages */
         || ab_pub_route (&pub, self->gen)                 /* target queues */
         || ab_pub_admit (&pub, self->ledger)              /* seq, limits */
         || ab_pub_edge_filters (&pub, proto)              /* edge stages */
         || ab_pub_store (&pub, proto, self->ledger, self->copies);
    if (rc) {
        ab_outbox_reject (self->outbox, ab_session_routing_id (from), "id",
                          pub.echo, pub.code, pub.errors, "%s", pub.why);
        pub.errors = NULL; /* the REJECT took them */
    } else {
        ab_pub_enqueue (&pub, self->copies, self->timers, self->ledger,
                        self->counters);
        ab_pub_answer (&pub, self->outbox, self->ledger);
    }
    ab_pub_clear (&pub, self->copies);
}

/* ---------------------------------------------------------------------
   REP: validate the reply, answer OK, forward it as REPLY */

static void
s_forward_reply (ab_broker_t *self, ab_live_copy_t *copy, ab_session_t *from,
                 int version, bool partial, ab_proto_t *proto)
{
    int rc = ab_request_reply (
        ab_copy_request (copy), self->sessions, self->outbox,
        ab_agent_name (ab_session_agent (from)), version, partial,
        ab_proto_body (proto), ab_proto_body_count (proto));
    if (rc < 0)
        ab_log_printf (self->log, AB_LOG_WARNING,
                       "reply to request %s dropped: the requester is gone",
                       ab_copy_id_text (copy));
    self->counters->counters[rc ? AB_C_REPLIES_DROPPED : AB_C_REPLIES]++;
}

static void
s_on_rep (ab_broker_t *self, ab_session_t *from, ab_inbound_t *in)
{
    json_t *header = ab_proto_header (in->proto);
    json_t *msg = json_object_get (header, "msg");
    zmq_msg_t *to = ab_session_routing_id (from);
    ab_live_copy_t *copy = ab_copies_held (self->copies, from, header);
    if (!copy || !ab_copy_request (copy)) {
        ab_outbox_error (self->outbox, to, AB_ERROR_UNKNOWN_MESSAGE,
                         "no request delivery pending for this 'msg'");
        return;
    }
    char why[512];
    json_t *errors = NULL;
    int version = 0;
    ab_topology_t *topology =
        ab_generation_topology (ab_queue_generation (ab_copy_queue (copy)));
    int code = ab_pub_check_reply (
        topology, ab_request_reply_type (ab_copy_request (copy)), in->proto,
        &version, why, sizeof why, &errors);
    if (code >= 0) { /* the request stays open */
        ab_outbox_reject (self->outbox, to, "msg", msg, (ab_reject_t)code,
                          errors, "%s", why);
        return;
    }
    bool partial = json_is_true (json_object_get (header, "partial"));
    ab_jsonw_value (ab_outbox_writer (self->outbox), "msg", msg);
    ab_outbox_send (self->outbox, to, AB_CMD_OK, NULL, 0);
    s_forward_reply (self, copy, from, version, partial, in->proto);
    if (partial)
        ab_copy_extend (self->copies, copy);
    else
        ab_copy_done (self->copies, copy);
}

/* ---------------------------------------------------------------------
   ACK, NACK, CREDIT, PING, BYE */

/* The copy the command's `msg` names, held by `from`; else ERROR. */
static ab_live_copy_t *
s_held (ab_broker_t *self, ab_session_t *from, ab_inbound_t *in)
{
    ab_live_copy_t *copy =
        ab_copies_held (self->copies, from, ab_proto_header (in->proto));
    if (!copy)
        ab_outbox_error (self->outbox, ab_session_routing_id (from),
                         AB_ERROR_UNKNOWN_MESSAGE,
                         "no delivery pending for this 'msg'");
    return copy;
}

static void
s_on_ack (ab_broker_t *self, ab_session_t *from, ab_inbound_t *in)
{
    ab_live_copy_t *copy = s_held (self, from, in);
    if (!copy || ab_copy_request (copy))
        return; /* a request is done by its REP, not by an ACK */
    self->counters->counters[AB_C_ACKED]++;
    ab_copy_done (self->copies, copy);
}

static void
s_on_nack (ab_broker_t *self, ab_session_t *from, ab_inbound_t *in)
{
    json_t *header = ab_proto_header (in->proto);
    ab_live_copy_t *copy = s_held (self, from, in);
    if (!copy)
        return;
    self->counters->counters[AB_C_NACKED]++;
    const char *reason = ab_header_string (header, "reason");
    ab_log_printf (
        self->log, AB_LOG_DEBUG, "NACK %s by %s: %s", ab_copy_id_text (copy),
        ab_agent_name (ab_session_agent (from)), reason ? reason : "");
    if (!json_is_false (json_object_get (header, "requeue")))
        ab_copy_retry (self->copies, copy, AB_ATTEMPT_COUNTED);
    else if (ab_copy_request (copy))
        ab_copy_fail_request (self->copies, copy, "the replier refused it");
    else
        ab_copy_dead_letter (self->copies, copy, AB_DEAD_REJECTED);
}

static void
s_on_credit (ab_broker_t *self, ab_session_t *from, ab_inbound_t *in)
{
    const json_t *credit =
        json_object_get (ab_proto_header (in->proto), "credit");
    if (!json_is_integer (credit) || json_integer_value (credit) < 1) {
        ab_outbox_error (self->outbox, ab_session_routing_id (from),
                         AB_ERROR_PROTOCOL,
                         "CREDIT needs 'credit', an integer >= 1");
        return;
    }
    ab_session_set_credit (from, (size_t)json_integer_value (credit));
    ab_sessions_mark (self->sessions, ab_session_agent (from));
}

static void
s_on_ping (ab_broker_t *self, ab_session_t *from, ab_inbound_t *in)
{
    (void)in;
    ab_outbox_send_json (self->outbox, ab_session_routing_id (from),
                         AB_CMD_PONG, NULL);
}

static void
s_on_bye (ab_broker_t *self, ab_session_t *from, ab_inbound_t *in)
{
    (void)in;
    self->counters->counters[AB_C_BYES]++;
    ab_log_printf (self->log, AB_LOG_INFO, "instance %s of %s said BYE",
                   ab_session_name (from),
                   ab_agent_name (ab_session_agent (from)));
    s_session_lost (self, from, AB_ATTEMPT_UNCOUNTED);
}

/* ---------------------------------------------------------------------
   HELLO */

static void
s_on_hello (ab_broker_t *self, ab_inbound_t *in, const char *key,
            ab_session_t *old)
{
    ab_hello_t hello;
    char why[512];
    int refused =
        ab_session_hello (ab_proto_header (in->proto), &in->routing_id,
                          s_topology (self), &hello, why, sizeof why);
    if (refused >= 0) {
        ab_outbox_error (self->outbox, &in->routing_id,
                         (ab_error_code_t)refused, "%s", why);
        return;
    }
    if (old) /* a second HELLO on one connection: a fresh session */
        s_session_lost (self, old, AB_ATTEMPT_UNCOUNTED);
    ab_session_t *session =
        ab_sessions_add (self->sessions, key, &in->routing_id, hello.agent,
                         hello.name, hello.credit);
    self->counters->counters[AB_C_HELLOS]++;
    ab_log_printf (self->log, AB_LOG_INFO, "instance %s of %s said HELLO",
                   ab_session_name (session), hello.agent);
    ab_outbox_send_json (self->outbox, &in->routing_id, AB_CMD_WELCOME,
                         json_pack ("{s:s, s:I, s:s}", "agent", hello.agent,
                                    "heartbeat_ms",
                                    (json_int_t)self->heartbeat_ms, "topology",
                                    ab_topology_id (s_topology (self))));
    ab_sessions_mark (self->sessions, ab_session_agent (session));
}

/* ---------------------------------------------------------------------
   One message from the socket */

typedef void (s_handler_fn) (ab_broker_t *self, ab_session_t *from,
                             ab_inbound_t *in);

/* Handlers of registered sessions' commands, by ab_cmd_t. */
static s_handler_fn *const s_handlers[AB_CMD_COUNT_] = {
    [AB_CMD_PUB] = s_on_publish, [AB_CMD_REQ] = s_on_publish,
    [AB_CMD_REP] = s_on_rep,     [AB_CMD_ACK] = s_on_ack,
    [AB_CMD_NACK] = s_on_nack,   [AB_CMD_CREDIT] = s_on_credit,
    [AB_CMD_PING] = s_on_ping,   [AB_CMD_BYE] = s_on_bye,
};

/* Reads one message into `in`. Returns false when none was waiting. */
static bool
s_read (ab_broker_t *self, ab_inbound_t *in)
{
    zmq_msg_init (&in->routing_id);
    in->proto = NULL;
    in->checked = in->pooled = false;
    in->rc = ab_proto_recv (zsock_resolve (self->router), &in->routing_id,
                            self->max_message_bytes, &in->proto, in->why,
                            sizeof in->why);
    if (in->rc == AB_EIO) {
        zmq_msg_close (&in->routing_id);
        return false;
    }
    self->counters->counters[AB_C_RECEIVED]++;
    return true;
}

/* Handles one message read by s_read, and lets it go. */
static void
s_handle (ab_broker_t *self, ab_inbound_t *in)
{
    char key[AB_SESSION_KEY_SIZE];
    ab_header_session_key (&in->routing_id, key, sizeof key);
    ab_session_t *session = ab_sessions_find (self->sessions, key);
    if (session)
        ab_session_seen (session);
    ab_proto_t *proto = in->proto;
    if (!proto)
        ab_outbox_error (self->outbox, &in->routing_id, AB_ERROR_PROTOCOL, "%s",
                         in->rc == AB_ENOMEM ? "out of memory" : in->why);
    else if (ab_proto_command (proto) == AB_CMD_HELLO && in->rc == 0)
        s_on_hello (self, in, key, session);
    else if (!session)
        ab_outbox_error (self->outbox, &in->routing_id, AB_ERROR_NOT_REGISTERED,
                         "say HELLO first");
    else if (in->rc == AB_ETOOBIG)
        ab_outbox_too_large (self->outbox, ab_session_routing_id (session),
                             proto, in->why);
    else
        s_handlers[ab_proto_command (proto)](self, session, in);
    ab_checks_drop (self->checks, in); /* checked ahead, never used */
    ab_proto_destroy (&in->proto);
    zmq_msg_close (&in->routing_id);
}

/* Reads what is waiting (a batch at most), validates the PUBs among it
   at once, then handles it all in order. Returns how many it read. */
static size_t
s_on_socket (ab_broker_t *self)
{
    size_t count = 0;
    while (count < S_BATCH && s_read (self, &self->inbound[count]))
        count++;
    self->counters->counters[AB_C_CHECKED_AHEAD] += ab_checks_start (
        self->checks, self->inbound, count, s_topology (self), s_tree (self));
    for (size_t i = 0; i < count; i++)
        s_handle (self, &self->inbound[i]);
    ab_checks_end (self->checks);
    return count;
}

/* ---------------------------------------------------------------------
   Timers */

static void
s_on_timer (ab_broker_t *self, const ab_timer_entry_t *entry)
{
    switch ((ab_timer_kind_t)entry->kind) {
    case AB_TIMER_HEARTBEAT: {
        ab_session_t *session = entry->arg;
        if (!ab_sessions_silent (self->sessions, session))
            break;
        ab_log_printf (self->log, AB_LOG_INFO,
                       "instance %s of %s silent for %" PRId64 " ms: dead",
                       ab_session_name (session),
                       ab_agent_name (ab_session_agent (session)),
                       AB_SESSION_HEARTBEAT_LIVES * self->heartbeat_ms);
        self->counters->counters[AB_C_INSTANCES_DEAD]++;
        s_session_lost (self, session, AB_ATTEMPT_COUNTED);
        break;
    }
    case AB_TIMER_SYNC: /* synced after this turn's commit */
        ab_ledger_tick (self->ledger);
        break;
    default: /* ack, backoff, ttl, request */
        ab_copies_on_timer (self->copies, entry);
    }
}

static void
s_fire_timers (ab_broker_t *self)
{
    ab_timer_entry_t entry;
    int64_t now = ab_now ();
    while (ab_timer_pop_expired (self->timers, now, &entry))
        s_on_timer (self, &entry);
}

/* ---------------------------------------------------------------------
   Topology loading and reloading */

/* A generation of the topology file, or NULL (reasons in diag). */
static ab_generation_t *
s_load (ab_broker_t *self, ab_diag_t *diag)
{
    return ab_generation_load (
        self->topology_path, self->sessions, self->durable,
        ab_ledger_disk (self->ledger) ? AB_GENERATION_DISK
                                      : AB_GENERATION_NO_DISK,
        diag);
}

/* SIGHUP: a new generation for new copies; the old one finishes. */
static int
s_reload (ab_broker_t *self, ab_diag_t *diag)
{
    ab_generation_t *gen = s_load (self, diag);
    if (!gen) {
        self->counters->counters[AB_C_RELOAD_FAILURES]++;
        ab_log_printf (self->log, AB_LOG_ERROR,
                       "reload of %s failed; %s stays in force",
                       self->topology_path, ab_topology_id (s_topology (self)));
        return AB_EINVAL;
    }
    zlistx_add_end (self->retired, self->gen);
    self->gen = gen;
    ab_generation_reap (self->retired, self->log);
    self->counters->counters[AB_C_RELOADS]++;
    ab_log_printf (self->log, AB_LOG_INFO, "reloaded: topology %s",
                   ab_topology_id (s_topology (self)));
    return 0;
}

/* ---------------------------------------------------------------------
   Counters */

json_t *
ab_broker_counters (const ab_broker_t *self)
{
    assert (self);
    json_t *counters = ab_counters_json (self->counters);
    json_object_set_new (
        counters, "sessions",
        json_integer ((json_int_t)ab_sessions_size (self->sessions)));
    json_object_set_new (
        counters, "copies_pending",
        json_integer ((json_int_t)ab_copies_size (self->copies)));
    ab_ledger_stats (self->ledger, counters);
    return counters;
}

static const char *
s_head_state (void *copy)
{
    return ab_copy_state (copy) == AB_LIVE_INFLIGHT ? " (head in flight)" : "";
}

static void
s_log_counters (ab_broker_t *self)
{
    ab_generation_log_left (self->gen, self->log, s_head_state);
    json_t *counters = ab_broker_counters (self);
    char *text = json_dumps (counters, JSON_COMPACT | JSON_SORT_KEYS);
    ab_log_printf (self->log, AB_LOG_INFO, "counters: %s", text ? text : "");
    free (text);
    json_decref (counters);
}

/* ---------------------------------------------------------------------
   The turn: one batch, committed before its answers leave */

/* Peers a DELIVER could not reach: gone. The refused copies go back
   first, uncounted (not a delivery, not an attempt), unless something
   moved them on since; the session's other copies in flight are
   requeued as after any loss of a session. */
static void
s_forget_lost (ab_broker_t *self)
{
    uint64_t id;
    char *key;
    while (ab_outbox_take_refused (self->outbox, &id, &key)) {
        ab_copies_refused (self->copies, id, key);
        free (key);
    }
    while ((key = ab_outbox_take_vanished (self->outbox))) {
        ab_session_t *session = ab_sessions_find (self->sessions, key);
        if (session)
            s_session_lost (self, session, AB_ATTEMPT_COUNTED);
        free (key);
    }
}

static void
s_begin (ab_broker_t *self)
{
    ab_ledger_begin (self->ledger);
    ab_outbox_hold (self->outbox, ab_ledger_in_batch (self->ledger)
                                      ? AB_OUTBOX_HELD
                                      : AB_OUTBOX_DIRECT);
    s_forget_lost (self);
}

/* Ends the turn's batch, then lets its answers and deliveries go. A
   failed commit turns the turn's held OKs into `REJECT overloaded` and
   forgets the copies the batch made. */
static void
s_commit (ab_broker_t *self)
{
    bool held = ab_ledger_in_batch (self->ledger);
    int rc = ab_ledger_commit (self->ledger);
    if (held)
        ab_outbox_release (self->outbox, rc);
    if (rc) {
        ab_log_printf (self->log, AB_LOG_ERROR,
                       "store: commit failed (%s): this turn's PUBs rejected",
                       ab_strerror (rc));
        ab_copies_rollback (self->copies, ab_ledger_batch (self->ledger), rc);
    }
    ab_generation_reap (self->retired, self->log);
    if (self->admin)
        ab_admin_answer (self->admin);
}

/* ---------------------------------------------------------------------
   The admin socket's broker side, the actor pipe and the loop */

static const char *
s_admin_replay (void *arg, uint64_t id)
{
    ab_broker_t *self = arg;
    return ab_replay (self->ledger, self->copies, self->gen, id);
}

static json_t *
s_admin_counters (void *arg)
{
    return ab_broker_counters (arg);
}

static void
s_pipe_term (ab_broker_t *self, zsock_t *pipe)
{
    (void)pipe;
    self->terminated = true;
}

static void
s_pipe_counters (ab_broker_t *self, zsock_t *pipe)
{
    json_t *counters = ab_broker_counters (self);
    char *text = json_dumps (counters, JSON_COMPACT);
    zstr_send (pipe, text ? text : "{}");
    free (text);
    json_decref (counters);
}

static void
s_pipe_reload (ab_broker_t *self, zsock_t *pipe)
{
    ab_diag_t *diag = ab_diag_new ();
    int rc = s_reload (self, diag);
    char *lines = strdup ("");
    for (size_t i = 0; lines && i < ab_diag_count (diag); i++) {
        ab_log_printf (self->log, AB_LOG_ERROR, "%s", ab_diag_text (diag, i));
        char *more = zsys_sprintf ("%s%s\n", lines, ab_diag_text (diag, i));
        free (lines);
        lines = more;
    }
    zstr_sendm (pipe, rc ? "ERROR" : "OK");
    zstr_send (pipe, lines ? lines : "");
    zstr_free (&lines);
    ab_diag_destroy (&diag);
}

static void
s_pipe_endpoint (ab_broker_t *self, zsock_t *pipe)
{
    zstr_send (pipe, self->endpoint);
}

/* The actor's commands (see ab_broker.h). */
static const struct {
    const char *name;                              /* command string */
    void (*fn) (ab_broker_t *self, zsock_t *pipe); /* its handler */
} s_pipe_commands[] = {
    {"$TERM", s_pipe_term},
    {"COUNTERS", s_pipe_counters},
    {"RELOAD", s_pipe_reload},
    {"ENDPOINT", s_pipe_endpoint},
};

static void
s_on_pipe (ab_broker_t *self, zsock_t *pipe)
{
    char *command = zstr_recv (pipe);
    size_t i = 0, count = sizeof s_pipe_commands / sizeof s_pipe_commands[0];
    while (command && i < count && !streq (s_pipe_commands[i].name, command))
        i++;
    if (!command) /* interrupted: stop as for $TERM */
        self->terminated = true;
    else if (i < count)
        s_pipe_commands[i].fn (self, pipe);
    else
        ab_log_printf (self->log, AB_LOG_ERROR, "actor: unknown command %s",
                       command);
    zstr_free (&command);
}

/* One loop turn after zmq_poll: begin → pipe → admin → socket → timers
   → dispatch → commit → send. */
static void
s_turn (ab_broker_t *self, zmq_pollitem_t *items, zsock_t *pipe)
{
    /* one batch per turn: everything read below shares one commit (and
       one sync) before any answer leaves */
    s_begin (self);
    if (items[0].revents & ZMQ_POLLIN)
        s_on_pipe (self, pipe);
    if (self->admin && (items[2].revents & ZMQ_POLLIN)) {
        ab_admin_ops_t ops = {s_admin_replay, s_admin_counters, self};
        ab_admin_handle (self->admin, &ops);
    }
    /* A turn that stored durable messages ends in a sync, which costs as
       much as handling hundreds of messages: while full batches keep
       coming, more of them share it (S_DURABLE_ROUNDS). */
    for (int round = 0; round < S_DURABLE_ROUNDS && !self->terminated; round++)
        if (s_on_socket (self) < S_BATCH ||
            !ab_ledger_stored_durable (self->ledger))
            break;
    s_fire_timers (self);
    s_flush (self);
    s_commit (self);
    ab_outbox_flush (self->outbox, zsock_resolve (self->router));
}

void
ab_broker_actor (zsock_t *pipe, void *args)
{
    ab_broker_t *self = args;
    assert (self && self->router);
    zsock_signal (pipe, 0);
    ab_log_printf (self->log, AB_LOG_INFO, "serving %s on %s",
                   ab_topology_id (s_topology (self)), self->endpoint);
    zmq_pollitem_t items[] = {
        {zsock_resolve (pipe), 0, ZMQ_POLLIN, 0},
        {zsock_resolve (self->router), 0, ZMQ_POLLIN, 0},
        {self->admin ? ab_admin_socket (self->admin) : NULL, 0, ZMQ_POLLIN, 0}};
    self->terminated = false;
    while (!self->terminated) {
        /* sessions found gone at the last flush are forgotten by the next
           turn's s_begin: take it now, not at the next event */
        long timeout = ab_outbox_has_lost (self->outbox)
                           ? 0
                           : ab_timer_timeout_ms (self->timers, ab_now ());
        if (zmq_poll (items, self->admin ? 3 : 2, timeout) < 0 &&
            errno != EINTR)
            break;
        s_turn (self, items, pipe);
    }
    /* a clean drain: what was handed to libzmq still leaves (linger);
       nothing more is read */
    zsock_set_linger (self->router, 1000);
    zsock_destroy (&self->router);
    s_log_counters (self);
}

/* ---------------------------------------------------------------------
   Life cycle */

static int
s_bind (ab_broker_t *self, const char *endpoint, ab_diag_t *diag)
{
    self->router = zsock_new (ZMQ_ROUTER);
    if (!self->router)
        return AB_EIO;
    zsock_set_router_mandatory (self->router, 1);
    zsock_set_router_handover (self->router, 1);
    /* answers are bounded by commands and deliveries by credit, so an
       unbounded send queue never blocks the broker on a slow peer */
    zsock_set_sndhwm (self->router, 0);
    zsock_set_maxmsgsize (self->router,
                          (int64_t)self->max_message_bytes + S_MAXMSG_MARGIN);
    zsock_set_linger (self->router, 0);
    if (zsock_bind (self->router, "%s", endpoint) < 0) {
        ab_diag_add (diag, NULL, 0, 0, "cannot bind %s: %s", endpoint,
                     zmq_strerror (zmq_errno ()));
        return AB_EIO;
    }
    self->endpoint = ab_oom_check (strdup (zsock_endpoint (self->router)));
    return 0;
}

/* The modules, bottom first: each gets what it works with. */
static void
s_modules_new (ab_broker_t *self)
{
    self->timers = ab_oom_check (ab_timer_new ());
    self->counters = ab_counters_new ();
    self->outbox = ab_outbox_new (self->counters, self->log);
    self->sessions = ab_sessions_new (self->timers, self->heartbeat_ms);
    self->retired = ab_oom_check (zlistx_new ());
    self->inbound = ab_oom_check (calloc (S_BATCH, sizeof (ab_inbound_t)));
}

/* The modules that need the ledger, and the topology. 0 or an error
   with its reasons in diag. */
static int
s_open (ab_broker_t *self, const ab_broker_config_t *config, ab_diag_t *diag)
{
    ab_ledger_config_t ledger = {.data_dir = config->data_dir,
                                 .sync = config->sync,
                                 .sync_ms = config->sync_ms,
                                 .map_size = config->map_size,
                                 .memory_limit = config->memory_limit};
    /* the disk store first: whether durable edges load depends on it */
    self->ledger = ab_ledger_new (&ledger, self->timers, self->log, diag);
    if (!self->ledger)
        return AB_EIO;
    ab_copies_ctx_t ctx = {self->timers, self->ledger,   self->sessions,
                           self->outbox, self->counters, self->log};
    self->copies = ab_copies_new (&ctx);
    self->checks = ab_checks_new (config->check_threads);
    self->gen = s_load (self, diag);
    if (!self->checks || !self->pipeline || !self->gen)
        return AB_EINVAL;
    if (ab_ledger_disk (self->ledger) &&
        ab_recover (self->ledger, self->copies, self->gen, self->log, diag))
        return AB_EIO;
    if (s_bind (self, config->endpoint ? config->endpoint : AB_BROKER_ENDPOINT,
                diag))
        return AB_EIO;
    if (config->admin_endpoint &&
        !(self->admin = ab_admin_new (config->admin_endpoint, self->ledger,
                                      self->log, diag)))
        return AB_EIO;
    return 0;
}

ab_broker_t *
ab_broker_new (const ab_broker_config_t *config, ab_diag_t *diag)
{
    assert (config && config->topology);
    ab_broker_t *self = ab_oom_check (calloc (1, sizeof *self));
    self->topology_path = ab_oom_check (strdup (config->topology));
    self->heartbeat_ms = config->heartbeat_ms > 0 ? config->heartbeat_ms
                                                  : AB_BROKER_HEARTBEAT_MS;
    self->max_message_bytes = config->max_message_bytes
                                  ? config->max_message_bytes
                                  : AB_BROKER_MAX_MESSAGE_BYTES;
    self->durable = config->durable;
    self->log = config->log;
    self->format_assert = config->format_assert;
    s_modules_new (self);
    self->pipeline = ab_pub_pipeline_new (config->filters, config->config_file,
                                          &self->format_assert, diag);
    if (s_open (self, config, diag))
        ab_broker_destroy (&self);
    return self;
}

void
ab_broker_destroy (ab_broker_t **self_p)
{
    assert (self_p);
    ab_broker_t *self = *self_p;
    if (!self)
        return;
    /* copies first, not from the store: the disk store keeps them for
       the next start; then sessions, queues, agents */
    ab_copies_destroy (&self->copies);
    ab_session_t *session;
    while (self->sessions && (session = ab_sessions_any (self->sessions)))
        s_session_lost (self, session, AB_ATTEMPT_UNCOUNTED);
    for (ab_generation_t *gen = zlistx_first (self->retired); gen;
         gen = zlistx_next (self->retired))
        ab_generation_destroy (&gen);
    zlistx_destroy (&self->retired);
    ab_generation_destroy (&self->gen);
    ab_sessions_destroy (&self->sessions);
    ab_checks_destroy (&self->checks);
    ab_admin_destroy (&self->admin);
    ab_pipeline_destroy (&self->pipeline);
    ab_ledger_destroy (&self->ledger);
    ab_outbox_destroy (&self->outbox);
    ab_counters_destroy (&self->counters);
    ab_timer_destroy (&self->timers);
    zsock_destroy (&self->router);
    free (self->inbound);
    free (self->endpoint);
    free (self->topology_path);
    free (self);
    *self_p = NULL;
}

const char *
ab_broker_endpoint (const ab_broker_t *self)
{
    assert (self);
    return self->endpoint;
}
