/*  check_outbox - group commit's sending side without a broker: sends
    held while a batch is open, their fate after the commit, and the
    peers the socket refused

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/

#include <check.h>
#include <czmq.h>

#include "agentbus.h"
#include "broker/ab_counters.h"
#include "broker/ab_header.h"
#include "broker/ab_outbox.h"
#include "ab_check.h"
#include "wire/ab_jsonw.h"

/* Generous: the machine may be loaded; nothing here measures time. */
#define S_WAIT 10000

/* A ROUTER (mandatory routing, as the broker's) and one DEALER that has
   said hello, so the ROUTER knows its routing id. */
typedef struct {
    zsock_t *router;      /* the broker's side */
    zsock_t *dealer;      /* the agent's side */
    zmq_msg_t routing_id; /* the dealer's, as the router sees it */
} s_pair_t;

static s_pair_t
s_pair (void)
{
    s_pair_t p;
    p.router = zsock_new (ZMQ_ROUTER);
    zsock_set_router_mandatory (p.router, 1);
    ck_assert_int_ge (zsock_bind (p.router, "inproc://outbox-%p", (void *)&p),
                      0);
    p.dealer = zsock_new (ZMQ_DEALER);
    ck_assert_int_eq (
        zsock_connect (p.dealer, "inproc://outbox-%p", (void *)&p), 0);
    zstr_send (p.dealer, "hello");
    zmq_msg_init (&p.routing_id);
    zsock_set_rcvtimeo (p.router, S_WAIT);
    ck_assert_int_ge (zmq_msg_recv (&p.routing_id, zsock_resolve (p.router), 0),
                      0);
    char *hello = zstr_recv (p.router);
    ck_assert_str_eq (hello, "hello");
    zstr_free (&hello);
    return p;
}

static void
s_pair_end (s_pair_t *p)
{
    zmq_msg_close (&p->routing_id);
    zsock_destroy (&p->dealer);
    zsock_destroy (&p->router);
}

/* The next message the dealer gets: its command, and its header's
   string `key` in `value` (or ""). False when none came. */
static bool
s_next (s_pair_t *p, int timeout, char *command, const char *key, char *value,
        size_t value_size)
{
    zsock_set_rcvtimeo (p->dealer, timeout);
    zmsg_t *msg = zmsg_recv (p->dealer);
    if (!msg)
        return false;
    char *signature = zmsg_popstr (msg);
    char *cmd = zmsg_popstr (msg);
    char *header = zmsg_popstr (msg);
    ck_assert_str_eq (signature, "ABP/1");
    snprintf (command, 16, "%s", cmd);
    json_t *object = json_loads (header, 0, NULL);
    const char *text = ab_header_string (object, key);
    snprintf (value, value_size, "%s", text ? text : "");
    json_decref (object);
    free (signature);
    free (cmd);
    free (header);
    zmsg_destroy (&msg);
    return true;
}

/* An OK echoing `id`, with `fate`. */
static void
s_ok (ab_outbox_t *outbox, s_pair_t *p, const char *id, ab_send_fate_t fate)
{
    ab_jsonw_t *out = ab_outbox_writer (outbox);
    ab_jsonw_int (out, "routed", 1);
    ab_jsonw_string (out, "id", id);
    ck_assert_int_eq (ab_outbox_ok (outbox, &p->routing_id, fate), 0);
}

START_TEST (test_direct_sends_at_flush)
{
    s_pair_t p = s_pair ();
    ab_counters_t *counters = ab_counters_new ();
    ab_outbox_t *outbox = ab_outbox_new (counters, NULL);
    s_ok (outbox, &p, "a", AB_SEND_SETTLED);
    char command[16], value[64];
    ck_assert (!s_next (&p, 0, command, "id", value, sizeof value));
    ab_outbox_flush (outbox, zsock_resolve (p.router));
    ck_assert (s_next (&p, S_WAIT, command, "id", value, sizeof value));
    ck_assert_str_eq (command, "OK");
    ck_assert_str_eq (value, "a");
    ab_outbox_destroy (&outbox);
    ab_counters_destroy (&counters);
    s_pair_end (&p);
}
END_TEST

START_TEST (test_held_until_release_in_order)
{
    s_pair_t p = s_pair ();
    ab_counters_t *counters = ab_counters_new ();
    ab_outbox_t *outbox = ab_outbox_new (counters, NULL);
    ab_outbox_hold (outbox, AB_OUTBOX_HELD);
    s_ok (outbox, &p, "first", AB_SEND_FRESH);
    ab_outbox_error (outbox, &p.routing_id, AB_ERROR_PROTOCOL, "second");
    s_ok (outbox, &p, "third", AB_SEND_SETTLED);
    ab_outbox_flush (outbox, zsock_resolve (p.router));
    char command[16], value[64];
    ck_assert (!s_next (&p, 0, command, "id", value, sizeof value));
    ab_outbox_release (outbox, 0); /* committed */
    ab_outbox_flush (outbox, zsock_resolve (p.router));
    ck_assert (s_next (&p, S_WAIT, command, "id", value, sizeof value));
    ck_assert_str_eq (value, "first");
    ck_assert (s_next (&p, S_WAIT, command, "message", value, sizeof value));
    ck_assert_str_eq (command, "ERROR");
    ck_assert_str_eq (value, "second");
    ck_assert (s_next (&p, S_WAIT, command, "id", value, sizeof value));
    ck_assert_str_eq (value, "third");
    ck_assert_uint_eq (counters->errors[AB_ERROR_PROTOCOL], 1);
    ab_outbox_destroy (&outbox);
    ab_counters_destroy (&counters);
    s_pair_end (&p);
}
END_TEST

START_TEST (test_failed_commit_rejects_fresh_oks_and_drops_delivers)
{
    s_pair_t p = s_pair ();
    ab_counters_t *counters = ab_counters_new ();
    ab_outbox_t *outbox = ab_outbox_new (counters, NULL);
    ab_outbox_hold (outbox, AB_OUTBOX_HELD);
    s_ok (outbox, &p, "lost", AB_SEND_FRESH);
    zmq_msg_t payload;
    zmq_msg_init_size (&payload, 2);
    memcpy (zmq_msg_data (&payload), "{}", 2);
    ab_jsonw_string (ab_outbox_writer (outbox), "msg", "7");
    ck_assert_int_eq (ab_outbox_deliver (outbox, &p.routing_id, "key", 7,
                                         AB_SEND_FRESH, &payload, 1),
                      0);
    zmq_msg_close (&payload); /* the outbox holds its own copy */
    s_ok (outbox, &p, "kept", AB_SEND_SETTLED);
    ab_outbox_release (outbox, AB_EIO); /* the commit failed */
    ab_outbox_flush (outbox, zsock_resolve (p.router));
    char command[16], value[64];
    ck_assert (s_next (&p, S_WAIT, command, "id", value, sizeof value));
    ck_assert_str_eq (command, "REJECT");
    ck_assert_str_eq (value, "lost");
    ck_assert (s_next (&p, S_WAIT, command, "id", value, sizeof value));
    ck_assert_str_eq (command, "OK"); /* the DELIVER was dropped */
    ck_assert_str_eq (value, "kept");
    ck_assert_uint_eq (counters->rejects[AB_REJECT_OVERLOADED], 1);
    ab_outbox_destroy (&outbox);
    ab_counters_destroy (&counters);
    s_pair_end (&p);
}
END_TEST

START_TEST (test_refused_deliver_names_its_peer)
{
    s_pair_t p = s_pair ();
    ab_counters_t *counters = ab_counters_new ();
    ab_outbox_t *outbox = ab_outbox_new (counters, NULL);
    zmq_msg_t gone;
    zmq_msg_init_size (&gone, 2);
    memcpy (zmq_msg_data (&gone), "\x00\x01", 2);
    char key[AB_SESSION_KEY_SIZE];
    ab_header_session_key (&gone, key, sizeof key);
    ck_assert_str_eq (key, "0001");
    zmq_msg_t payload;
    zmq_msg_init_size (&payload, 2);
    memcpy (zmq_msg_data (&payload), "{}", 2);
    ab_jsonw_string (ab_outbox_writer (outbox), "msg", "9");
    ck_assert_int_eq (
        ab_outbox_deliver (outbox, &gone, key, 9, AB_SEND_SETTLED, &payload, 1),
        0);
    zmq_msg_close (&payload); /* the outbox shares it */
    ck_assert (!ab_outbox_has_lost (outbox));
    ab_outbox_flush (outbox, zsock_resolve (p.router));
    ck_assert (ab_outbox_has_lost (outbox));
    uint64_t id = 0;
    char *refused = NULL;
    ck_assert (ab_outbox_take_refused (outbox, &id, &refused));
    ck_assert_uint_eq (id, 9);
    ck_assert_str_eq (refused, "0001");
    free (refused);
    char *vanished = ab_outbox_take_vanished (outbox);
    ck_assert_str_eq (vanished, "0001");
    free (vanished);
    ck_assert (!ab_outbox_has_lost (outbox));
    ck_assert_uint_eq (counters->counters[AB_C_SEND_FAILURES], 1);
    zmq_msg_close (&gone);
    ab_outbox_destroy (&outbox);
    ab_counters_destroy (&counters);
    s_pair_end (&p);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("ab_outbox");
    TCase *tc = tcase_create ("commit");
    tcase_add_test (tc, test_direct_sends_at_flush);
    tcase_add_test (tc, test_held_until_release_in_order);
    tcase_add_test (tc,
                    test_failed_commit_rejects_fresh_oks_and_drops_delivers);
    tcase_add_test (tc, test_refused_deliver_names_its_peer);
    suite_add_tcase (suite, tc);
    return ab_check_run (suite);
}
