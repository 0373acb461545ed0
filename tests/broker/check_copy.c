/*  check_copy - the copy's state machine and the edge queue, driven by
    hand: no socket, no broker, the timer heap popped by the test

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.

    Each test builds the modules below the broker on the broker fixture
    topology (tests/fixtures/broker/topology.yaml) and checks the
    numbered invariant of ab_copy.h after every transition: which
    container holds the copy in which state.
*/

#include <check.h>
#include <czmq.h>
#include <stdint.h>

#include "agentbus.h"
#include "broker/ab_copy.h"
#include "broker/ab_counters.h"
#include "broker/ab_header.h"
#include "broker/ab_ledger.h"
#include "broker/ab_outbox.h"
#include "broker/ab_queue.h"
#include "broker/ab_session.h"
#include "ab_check.h"

/* Edges of the fixture topology, by index. */
#define S_NOTE 0   /* producer -> consumer, dead_letter: graveyard, 3 tries */
#define S_PLAIN 2  /* producer -> sink, max_attempts 2 */
#define S_STRICT 6 /* trainer -> ps, ordering: strict, backoff 10 ms */

/* The modules a copy works with. */
typedef struct {
    ab_timer_t *timers;      /* the heap the test pops */
    ab_counters_t *counters; /* what happened */
    ab_outbox_t *outbox;     /* DELIVERs go here (never sent) */
    ab_ledger_t *ledger;     /* the memory store only */
    ab_sessions_t *sessions; /* the consumers */
    ab_copies_t *copies;     /* the registry under test */
    ab_generation_t *gen;    /* the fixture topology's queues */
    ab_msg_t *msg;           /* one message for every copy */
    uint64_t next_id;        /* copy ids */
} s_world_t;

static s_world_t
s_world (void)
{
    /* far above what the ledger's id source hands out (dead letters) */
    s_world_t w = {.next_id = (uint64_t)1 << 40};
    w.timers = ab_timer_new ();
    w.counters = ab_counters_new ();
    w.outbox = ab_outbox_new (w.counters, NULL);
    ab_diag_t *diag = ab_diag_new ();
    ab_ledger_config_t config = {0};
    w.ledger = ab_ledger_new (&config, w.timers, NULL, diag);
    w.sessions = ab_sessions_new (w.timers, 1000);
    ab_copies_ctx_t ctx = {w.timers, w.ledger,   w.sessions,
                           w.outbox, w.counters, NULL};
    w.copies = ab_copies_new (&ctx);
    w.gen = ab_generation_load ("topology.yaml", w.sessions, false,
                                AB_GENERATION_NO_DISK, diag);
    for (size_t i = 0; i < ab_diag_count (diag); i++)
        fprintf (stderr, "%s\n", ab_diag_text (diag, i));
    ck_assert_ptr_nonnull (w.ledger);
    ck_assert_ptr_nonnull (w.gen);
    ab_diag_destroy (&diag);
    w.msg = ab_msg_new ();
    w.msg->id = (uint64_t)1 << 41;
    w.msg->type = strdup ("test.note");
    w.msg->from = strdup ("producer");
    w.msg->version = 1;
    w.msg->store = ab_ledger_memory (w.ledger);
    w.msg->body_count = 1;
    w.msg->body = calloc (1, sizeof (zmq_msg_t));
    zmq_msg_init_size (&w.msg->body[0], 2);
    memcpy (zmq_msg_data (&w.msg->body[0]), "{}", 2);
    return w;
}

static void
s_world_end (s_world_t *w)
{
    ab_msg_unref (w->copies, &w->msg); /* the copies hold the rest */
    ab_copies_destroy (&w->copies);
    ab_session_t *session;
    while ((session = ab_sessions_any (w->sessions))) {
        ab_sessions_detach (w->sessions, session);
        ab_session_destroy (&session);
    }
    ab_generation_destroy (&w->gen);
    ab_sessions_destroy (&w->sessions);
    ab_ledger_destroy (&w->ledger);
    ab_outbox_destroy (&w->outbox);
    ab_counters_destroy (&w->counters);
    ab_timer_destroy (&w->timers);
}

/* A session of `agent` with routing id `name` and `credit`. */
static ab_session_t *
s_session (s_world_t *w, const char *agent, const char *name, size_t credit)
{
    zmq_msg_t routing_id;
    zmq_msg_init_size (&routing_id, strlen (name));
    memcpy (zmq_msg_data (&routing_id), name, strlen (name));
    char key[AB_SESSION_KEY_SIZE];
    ab_header_session_key (&routing_id, key, sizeof key);
    ab_session_t *session =
        ab_sessions_add (w->sessions, key, &routing_id, agent, name, credit);
    zmq_msg_close (&routing_id);
    return session;
}

/* A new copy waiting on edge `index`. */
static ab_live_copy_t *
s_copy (s_world_t *w, size_t index)
{
    ab_queue_t *queue = ab_generation_queue (w->gen, index);
    ab_live_copy_t *copy = ab_copy_make (
        w->copies, queue, ab_queue_edge (queue), w->msg, w->next_id++);
    ab_copy_ready (w->copies, copy, AB_QUEUE_BACK);
    return copy;
}

/* The header of an ACK of `copy`. */
static json_t *
s_ack_of (const ab_live_copy_t *copy)
{
    return json_pack ("{s:s}", "msg", ab_copy_id_text (copy));
}

/* Pops every timer entry due by `later_ms` from now and hands a copy's
   on (a session's heartbeat is dropped); returns how many fired. */
static int
s_fire (s_world_t *w, int64_t later_ms)
{
    ab_timer_entry_t entry;
    int fired = 0;
    while (ab_timer_pop_expired (w->timers, ab_now () + later_ms, &entry)) {
        if (entry.kind == AB_TIMER_HEARTBEAT)
            continue;
        ab_copies_on_timer (w->copies, &entry);
        fired++;
    }
    return fired;
}

START_TEST (test_deliver_then_ack)
{
    s_world_t w = s_world ();
    ab_session_t *consumer = s_session (&w, "consumer", "c1", 4);
    ab_live_copy_t *copy = s_copy (&w, S_NOTE);
    ab_queue_t *queue = ab_copy_queue (copy);
    /* 2. WAITING: listed, ready */
    ck_assert_int_eq (ab_copy_state (copy), AB_LIVE_WAITING);
    ck_assert_ptr_eq (ab_copies_next (queue), copy);
    ck_assert_uint_eq (ab_queue_pending (queue), 1);
    ck_assert (ab_copy_deliver (w.copies, copy, consumer));
    /* 3. INFLIGHT: held by the session, unlisted (not strict) */
    ck_assert_int_eq (ab_copy_state (copy), AB_LIVE_INFLIGHT);
    ck_assert_int_eq (ab_copy_attempts (copy), 1);
    ck_assert_ptr_eq (ab_session_first_held (consumer), copy);
    ck_assert_ptr_null (ab_copies_next (queue));
    ck_assert_uint_eq (ab_queue_listed (queue), 0);
    json_t *ack = s_ack_of (copy);
    ck_assert_ptr_eq (ab_copies_held (w.copies, consumer, ack), copy);
    ab_copy_done (w.copies, copy);
    /* 1. freed: out of the registry, the queue and the session */
    ck_assert_ptr_null (ab_copies_held (w.copies, consumer, ack));
    ck_assert_uint_eq (ab_copies_size (w.copies), 0);
    ck_assert_uint_eq (ab_queue_pending (queue), 0);
    ck_assert_ptr_null (ab_session_first_held (consumer));
    ck_assert_uint_eq (w.counters->counters[AB_C_DELIVERED], 1);
    json_decref (ack);
    s_world_end (&w);
}
END_TEST

START_TEST (test_held_only_by_its_holder)
{
    s_world_t w = s_world ();
    ab_session_t *one = s_session (&w, "consumer", "c1", 4);
    ab_session_t *two = s_session (&w, "consumer", "c2", 4);
    ab_live_copy_t *copy = s_copy (&w, S_NOTE);
    json_t *ack = s_ack_of (copy);
    ck_assert_ptr_null (ab_copies_held (w.copies, one, ack)); /* waiting */
    ck_assert (ab_copy_deliver (w.copies, copy, one));
    ck_assert_ptr_null (ab_copies_held (w.copies, two, ack));
    ck_assert_ptr_eq (ab_copies_held (w.copies, one, ack), copy);
    json_decref (ack);
    s_world_end (&w);
}
END_TEST

START_TEST (test_retry_backs_off_then_goes_first)
{
    s_world_t w = s_world ();
    ab_session_t *consumer = s_session (&w, "consumer", "c1", 4);
    ab_live_copy_t *first = s_copy (&w, S_NOTE);
    ab_queue_t *queue = ab_copy_queue (first);
    ck_assert (ab_copy_deliver (w.copies, first, consumer));
    ab_live_copy_t *second = s_copy (&w, S_NOTE);
    ab_copy_retry (w.copies, first, AB_ATTEMPT_COUNTED);
    /* 4. BACKOFF: no holder, unlisted, its retry in the heap */
    ck_assert_int_eq (ab_copy_state (first), AB_LIVE_BACKOFF);
    ck_assert_ptr_null (ab_session_first_held (consumer));
    ck_assert_ptr_eq (ab_copies_next (queue), second);
    ck_assert_int_eq (s_fire (&w, 60000), 1);
    /* the retry is older than everything behind it: first again */
    ck_assert_int_eq (ab_copy_state (first), AB_LIVE_WAITING);
    ck_assert_ptr_eq (ab_copies_next (queue), first);
    ck_assert_int_eq (ab_copy_attempts (first), 1);
    /* the next delivery avoids the last holder when it can */
    ck_assert_str_eq (ab_copy_avoid (first), ab_session_key (consumer));
    s_world_end (&w);
}
END_TEST

START_TEST (test_uncounted_retry_gives_the_attempt_back)
{
    s_world_t w = s_world ();
    ab_session_t *consumer = s_session (&w, "consumer", "c1", 4);
    ab_live_copy_t *copy = s_copy (&w, S_NOTE);
    ck_assert (ab_copy_deliver (w.copies, copy, consumer));
    ab_copy_retry (w.copies, copy, AB_ATTEMPT_UNCOUNTED); /* BYE */
    ck_assert_int_eq (ab_copy_attempts (copy), 0);
    ck_assert_int_eq (ab_copy_state (copy), AB_LIVE_WAITING);
    ck_assert_ptr_eq (ab_copies_next (ab_copy_queue (copy)), copy);
    ck_assert_int_eq (s_fire (&w, 60000), 0); /* no timer left behind */
    s_world_end (&w);
}
END_TEST

START_TEST (test_ack_timeout_to_dead_letter_store)
{
    s_world_t w = s_world ();
    ab_session_t *sink = s_session (&w, "sink", "s1", 4);
    ab_live_copy_t *copy = s_copy (&w, S_PLAIN);
    ab_queue_t *queue = ab_copy_queue (copy);
    for (int attempt = 1; attempt <= 2; attempt++) {
        ck_assert_ptr_eq (ab_copies_next (queue), copy);
        ck_assert (ab_copy_deliver (w.copies, copy, sink));
        ck_assert_int_eq (ab_copy_attempts (copy), attempt);
        s_fire (&w, 60000); /* the ack timeout, then the backoff */
    }
    /* max_attempts 2 and no dead_letter agent: into the store */
    ck_assert_uint_eq (ab_copies_size (w.copies), 0);
    ck_assert_uint_eq (ab_queue_pending (queue), 0);
    ck_assert_uint_eq (w.counters->counters[AB_C_ACK_TIMEOUTS], 2);
    ck_assert_uint_eq (w.counters->counters[AB_C_DEAD_TO_STORE], 1);
    ck_assert_uint_eq (w.counters->dead[AB_DEAD_MAX_ATTEMPTS], 1);
    ab_store_stats_t stats;
    ab_store_stats (ab_ledger_memory (w.ledger), &stats);
    ck_assert_uint_eq (stats.dead, 1);
    s_world_end (&w);
}
END_TEST

START_TEST (test_rejected_goes_to_the_dead_letter_agent)
{
    s_world_t w = s_world ();
    ab_session_t *consumer = s_session (&w, "consumer", "c1", 4);
    ab_live_copy_t *copy = s_copy (&w, S_NOTE);
    ck_assert (ab_copy_deliver (w.copies, copy, consumer));
    ab_copy_dead_letter (w.copies, copy, AB_DEAD_REJECTED);
    /* the original is gone; a new copy waits for the graveyard */
    ck_assert_uint_eq (ab_copies_size (w.copies), 1);
    ck_assert_uint_eq (w.counters->counters[AB_C_DEAD_TO_AGENT], 1);
    long graveyard =
        ab_topology_agent_index (ab_generation_topology (w.gen), "graveyard");
    ab_queue_t *dead =
        ab_generation_dead_queue (w.gen, graveyard, AB_DEAD_REJECTED);
    ab_live_copy_t *letter = ab_copies_next (dead);
    ck_assert_ptr_nonnull (letter);
    ck_assert_str_eq (ab_queue_key (dead), "dead_letter->graveyard:rejected");
    /* a dead letter's delivery never expires into another one */
    ck_assert_int_eq (s_fire (&w, INT32_MAX), 0);
    s_world_end (&w);
}
END_TEST

START_TEST (test_strict_queue_hands_out_its_head_only)
{
    s_world_t w = s_world ();
    ab_session_t *ps = s_session (&w, "ps", "p1", 8);
    ab_live_copy_t *first = s_copy (&w, S_STRICT);
    ab_live_copy_t *second = s_copy (&w, S_STRICT);
    ab_queue_t *queue = ab_copy_queue (first);
    ck_assert_ptr_eq (ab_copies_next (queue), first);
    ck_assert (ab_copy_deliver (w.copies, first, ps));
    /* 3. strict: the head stays listed, out; nothing else goes */
    ck_assert_uint_eq (ab_queue_listed (queue), 2);
    ck_assert_ptr_eq (ab_queue_head (queue), first);
    ck_assert_ptr_null (ab_copies_next (queue));
    ab_copy_retry (w.copies, first, AB_ATTEMPT_COUNTED);
    ck_assert_int_eq (ab_copy_state (first), AB_LIVE_BACKOFF);
    ck_assert_ptr_null (ab_copies_next (queue)); /* 4. still the head */
    s_fire (&w, 60000);
    ck_assert_ptr_eq (ab_copies_next (queue), first);
    ck_assert (ab_copy_deliver (w.copies, first, ps));
    ab_copy_done (w.copies, first);
    ck_assert_ptr_eq (ab_copies_next (queue), second);
    ck_assert_uint_eq (ab_queue_pending (queue), 1);
    s_world_end (&w);
}
END_TEST

START_TEST (test_lost_session_requeues_what_it_held)
{
    s_world_t w = s_world ();
    ab_session_t *one = s_session (&w, "consumer", "c1", 1);
    ab_session_t *two = s_session (&w, "consumer", "c2", 1);
    ab_agent_t *agent = ab_sessions_agent (w.sessions, "consumer");
    ab_live_copy_t *a = s_copy (&w, S_NOTE);
    ab_live_copy_t *b = s_copy (&w, S_NOTE);
    /* credit 1 each: round robin hands one copy to each */
    ab_session_t *first = ab_agent_pick (agent, NULL);
    ck_assert (ab_copy_deliver (w.copies, a, first));
    ab_session_t *second = ab_agent_pick (agent, NULL);
    ck_assert_ptr_ne (first, second);
    ck_assert (ab_copy_deliver (w.copies, b, second));
    ck_assert_ptr_null (ab_agent_pick (agent, NULL)); /* no credit left */
    ab_live_copy_t *lost = first == one ? a : b;
    ab_live_copy_t *kept = first == one ? b : a;
    ab_sessions_detach (w.sessions, one);
    ab_live_copy_t *held;
    while ((held = ab_session_first_held (one)))
        ab_copy_retry (w.copies, held, AB_ATTEMPT_COUNTED);
    ab_session_destroy (&one);
    /* the agent is marked; the requeued copy backs off; the other
       session keeps its own */
    ck_assert_ptr_eq (ab_sessions_next_dirty (w.sessions), agent);
    ck_assert_int_eq (ab_copy_state (lost), AB_LIVE_BACKOFF);
    ck_assert_int_eq (ab_copy_state (kept), AB_LIVE_INFLIGHT);
    ck_assert_ptr_eq (ab_session_first_held (two), kept);
    s_world_end (&w);
}
END_TEST

START_TEST (test_admit_refuses_a_full_queue)
{
    s_world_t w = s_world ();
    ab_queue_t *small = ab_generation_queue (w.gen, 3); /* queue_limit 2 */
    char why[256];
    ab_store_t *store = ab_ledger_memory (w.ledger);
    ck_assert_int_eq (
        ab_queue_admit (small, store, "producer", -1, why, sizeof why), -1);
    s_copy (&w, 3);
    s_copy (&w, 3);
    ck_assert_int_eq (
        ab_queue_admit (small, store, "producer", -1, why, sizeof why),
        AB_REJECT_OVERLOADED);
    ck_assert (strstr (why, "is full") != NULL);
    ck_assert_int_eq (ab_queue_note_seq (small, store, "producer", 7), 0);
    ck_assert_int_eq (ab_queue_admit (ab_generation_queue (w.gen, 3), store,
                                      "producer", 7, why, sizeof why),
                      AB_REJECT_DUPLICATE);
    s_world_end (&w);
}
END_TEST

int
main (void)
{
    if (ab_check_chdir_fixtures ("broker"))
        return EXIT_FAILURE;
    Suite *suite = suite_create ("ab_copy");
    TCase *tc = tcase_create ("states");
    tcase_add_test (tc, test_deliver_then_ack);
    tcase_add_test (tc, test_held_only_by_its_holder);
    tcase_add_test (tc, test_retry_backs_off_then_goes_first);
    tcase_add_test (tc, test_uncounted_retry_gives_the_attempt_back);
    tcase_add_test (tc, test_ack_timeout_to_dead_letter_store);
    tcase_add_test (tc, test_rejected_goes_to_the_dead_letter_agent);
    tcase_add_test (tc, test_strict_queue_hands_out_its_head_only);
    tcase_add_test (tc, test_lost_session_requeues_what_it_held);
    tcase_add_test (tc, test_admit_refuses_a_full_queue);
    suite_add_tcase (suite, tc);
    return ab_check_run (suite);
}
