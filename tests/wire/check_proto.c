/*  check_proto - ABP/1's command table and frame codec, both directions */

#include <check.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "wire/ab_proto.h"
#include "ab_check.h"

/* Builds `count` frames from C strings into `frames`. */
static void
s_frames (zmq_msg_t *frames, const char **texts, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        zmq_msg_init_size (&frames[i], strlen (texts[i]));
        memcpy (zmq_msg_data (&frames[i]), texts[i], strlen (texts[i]));
    }
}

static int
s_parse (const char **texts, size_t count, size_t max_bytes, ab_proto_t **p)
{
    zmq_msg_t frames[8];
    char reason[128];
    s_frames (frames, texts, count);
    return ab_proto_parse (frames, count, AB_FROM_AGENT, max_bytes, p, reason,
                           sizeof reason);
}

START_TEST (test_frame_table)
{
    ab_proto_t *msg;
    const char *pub[] = {"ABP/1", "PUB", "{\"type\":\"t\"}", "{}", "blob"};
    ck_assert_int_eq (s_parse (pub, 5, 0, &msg), 0);
    ck_assert_int_eq (ab_proto_command (msg), AB_CMD_PUB);
    ck_assert_str_eq (
        json_string_value (json_object_get (ab_proto_header (msg), "type")),
        "t");
    ck_assert_uint_eq (ab_proto_body_count (msg), 2);
    ck_assert_uint_eq (zmq_msg_size (&ab_proto_body (msg)[1]), 4);
    ck_assert_uint_eq (ab_proto_size (msg), 5 + 3 + 12 + 2 + 4);
    size_t text_size = 0;
    const char *text = ab_proto_header_text (msg, &text_size);
    ck_assert_uint_eq (text_size, 12);
    ck_assert (memcmp (text, "{\"type\":\"t\"}", 12) == 0);
    ab_proto_destroy (&msg);
    ck_assert_ptr_null (msg);

    const char *ping[] = {"ABP/1", "PING", "{}"};
    ck_assert_int_eq (s_parse (ping, 3, 0, &msg), 0);
    ck_assert_uint_eq (ab_proto_body_count (msg), 0);
    ab_proto_destroy (&msg);

    const char *bad[][4] = {
        {"ABP/2", "PING", "{}", NULL},  /* signature */
        {"ABP/1", "PONG", "{}", NULL},  /* broker's command */
        {"ABP/1", "ping", "{}", NULL},  /* case */
        {"ABP/1", "PING", "[]", NULL},  /* header not an object */
        {"ABP/1", "PING", "{", NULL},   /* header not JSON */
        {"ABP/1", "PING", "{}", "{}"},  /* payload where none */
        {"ABP/1", "PUB", "{}", NULL},   /* payload missing */
        {"ABP/1", "HELLO", NULL, NULL}, /* header missing */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t count = 0;
        while (count < 4 && bad[i][count])
            count++;
        msg = NULL;
        ck_assert_int_eq (s_parse (bad[i], count, 0, &msg), AB_EPROTO);
        ck_assert_ptr_null (msg);
    }
    ck_assert_int_eq (s_parse (NULL, 0, 0, &msg), AB_EPROTO);
}
END_TEST

START_TEST (test_too_large_keeps_header)
{
    ab_proto_t *msg;
    const char *pub[] = {"ABP/1", "PUB", "{\"id\":\"x\"}", "\"0123456789\""};
    ck_assert_int_eq (s_parse (pub, 4, 20, &msg), AB_ETOOBIG);
    ck_assert_ptr_nonnull (msg);
    ck_assert_int_eq (ab_proto_command (msg), AB_CMD_PUB);
    ck_assert_str_eq (
        json_string_value (json_object_get (ab_proto_header (msg), "id")), "x");
    ck_assert_uint_eq (ab_proto_body_count (msg), 0);
    ab_proto_destroy (&msg);
    /* a broken table wins over the size */
    const char *bad_header[] = {"ABP/1", "PUB", "[1]",
                                "0123456789012345678901"};
    ck_assert_int_eq (s_parse (bad_header, 4, 20, &msg), AB_EPROTO);
    const char *bad[] = {"ABP/1", "NOPE", "{}", "0123456789012345678901"};
    ck_assert_int_eq (s_parse (bad, 4, 20, &msg), AB_EPROTO);
}
END_TEST

START_TEST (test_names)
{
    ck_assert_str_eq (ab_cmd_name (AB_CMD_HELLO), "HELLO");
    ck_assert_str_eq (ab_cmd_name (AB_CMD_ERROR), "ERROR");
    ck_assert_ptr_null (ab_cmd_name (AB_CMD_COUNT_));
    ck_assert (ab_cmd_has_payload (AB_CMD_REP));
    ck_assert (!ab_cmd_has_payload (AB_CMD_ACK));
}
END_TEST

/* The broker's side of the table: what an agent may not send, an agent
   must accept, and the other way round. */
START_TEST (test_frame_table_from_broker)
{
    zmq_msg_t frames[8];
    ab_proto_t *msg = NULL;
    const char *deliver[] = {"ABP/1", "DELIVER", "{\"msg\":\"1\"}", "[1]",
                             "blob"};
    s_frames (frames, deliver, 5);
    ck_assert_int_eq (
        ab_proto_parse (frames, 5, AB_FROM_BROKER, 0, &msg, NULL, 0), 0);
    ck_assert_int_eq (ab_proto_command (msg), AB_CMD_DELIVER);
    ck_assert_uint_eq (ab_proto_body_count (msg), 2);
    ab_proto_destroy (&msg);
    const char *ping[] = {"ABP/1", "PING", "{}"};
    s_frames (frames, ping, 3);
    char reason[128];
    ck_assert_int_eq (ab_proto_parse (frames, 3, AB_FROM_BROKER, 0, &msg,
                                      reason, sizeof reason),
                      AB_EPROTO);
    ck_assert_str_eq (reason, "unknown command");
    ck_assert_ptr_null (msg);
    const char *pong[] = {"ABP/1", "PONG", "{}", "{}"};
    s_frames (frames, pong, 4);
    ck_assert_int_eq (ab_proto_parse (frames, 4, AB_FROM_BROKER, 0, &msg,
                                      reason, sizeof reason),
                      AB_EPROTO);
    ck_assert_str_eq (reason, "PONG takes no payload");
}
END_TEST

/* ab_proto_recv on a ROUTER and ab_proto_recv_dealer on a DEALER: the
   routing id is taken off on one side only, each side accepts only the
   other's commands, and nothing waiting is told apart from a bad
   message. */
START_TEST (test_recv_both_sides)
{
    zsock_t *router = zsock_new_router ("inproc://check-proto-sides");
    zsock_t *dealer = zsock_new_dealer ("inproc://check-proto-sides");
    ck_assert_ptr_nonnull (router);
    ck_assert_ptr_nonnull (dealer);
    zmq_msg_t rid;
    zmq_msg_init (&rid);
    ab_proto_t *msg = NULL;
    char reason[128];
    /* nothing waiting on either side */
    ck_assert_int_eq (ab_proto_recv (zsock_resolve (router), &rid, 0, &msg,
                                     reason, sizeof reason),
                      AB_EIO);
    ck_assert_int_eq (ab_proto_recv_dealer (zsock_resolve (dealer), 0, &msg,
                                            reason, sizeof reason),
                      AB_ETIMEDOUT);
    ck_assert_ptr_null (msg);

    ck_assert_int_eq (zstr_sendx (dealer, "ABP/1", "HELLO", "{}", NULL), 0);
    zpoller_t *poller = zpoller_new (router, NULL);
    ck_assert_ptr_eq (zpoller_wait (poller, 5000), router);
    zpoller_destroy (&poller);
    ck_assert_int_eq (ab_proto_recv (zsock_resolve (router), &rid, 0, &msg,
                                     reason, sizeof reason),
                      0);
    ck_assert_int_eq (ab_proto_command (msg), AB_CMD_HELLO);
    ab_proto_destroy (&msg);

    /* the broker answers: a bad message, then a good one with a body */
    zframe_t *id = zframe_new (zmq_msg_data (&rid), zmq_msg_size (&rid));
    zmsg_t *out = zmsg_new ();
    zmsg_append (out, &id);
    zmsg_addstr (out, "ABP/1");
    zmsg_addstr (out, "PING"); /* an agent's command */
    zmsg_addstr (out, "{}");
    ck_assert_int_eq (zmsg_send (&out, router), 0);
    id = zframe_new (zmq_msg_data (&rid), zmq_msg_size (&rid));
    out = zmsg_new ();
    zmsg_append (out, &id);
    zmsg_addstr (out, "ABP/1");
    zmsg_addstr (out, "REPLY");
    zmsg_addstr (out, "{\"id\":\"r1\",\"partial\":false}");
    zmsg_addstr (out, "{\"answer\":42}");
    zmsg_addmem (out, "tensor", 6);
    ck_assert_int_eq (zmsg_send (&out, router), 0);

    poller = zpoller_new (dealer, NULL);
    ck_assert_ptr_eq (zpoller_wait (poller, 5000), dealer);
    zpoller_destroy (&poller);
    ck_assert_int_eq (ab_proto_recv_dealer (zsock_resolve (dealer), 0, &msg,
                                            reason, sizeof reason),
                      AB_EPROTO);
    ck_assert_ptr_null (msg);
    ck_assert_str_eq (reason, "unknown command");
    /* the bad message was read whole: the next starts at its signature */
    zsock_set_rcvtimeo (dealer, 5000);
    poller = zpoller_new (dealer, NULL);
    ck_assert_ptr_eq (zpoller_wait (poller, 5000), dealer);
    zpoller_destroy (&poller);
    ck_assert_int_eq (ab_proto_recv_dealer (zsock_resolve (dealer), 0, &msg,
                                            reason, sizeof reason),
                      0);
    ck_assert_int_eq (ab_proto_command (msg), AB_CMD_REPLY);
    ck_assert_str_eq (
        json_string_value (json_object_get (ab_proto_header (msg), "id")),
        "r1");
    ck_assert_uint_eq (ab_proto_body_count (msg), 2);
    zmq_msg_t *body = ab_proto_body (msg);
    ck_assert_uint_eq (zmq_msg_size (&body[1]), 6);
    ck_assert (memcmp (zmq_msg_data (&body[1]), "tensor", 6) == 0);
    ab_proto_destroy (&msg);
    ck_assert_int_eq (ab_proto_recv_dealer (zsock_resolve (dealer), 0, &msg,
                                            reason, sizeof reason),
                      AB_ETIMEDOUT);
    zmq_msg_close (&rid);
    zsock_destroy (&dealer);
    zsock_destroy (&router);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("proto");
    TCase *tcase = tcase_create ("core");
    tcase_add_test (tcase, test_frame_table);
    tcase_add_test (tcase, test_too_large_keeps_header);
    tcase_add_test (tcase, test_names);
    tcase_add_test (tcase, test_frame_table_from_broker);
    tcase_add_test (tcase, test_recv_both_sides);
    suite_add_tcase (suite, tcase);
    return ab_check_run (suite);
}
