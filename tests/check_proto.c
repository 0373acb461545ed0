/*  check_proto - ABP/1 frame table, receive and send */

#include <check.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "ab_proto.h"
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

START_TEST (test_send_recv_zero_copy)
{
    zsock_t *router = zsock_new_router ("inproc://check-proto");
    zsock_t *dealer = zsock_new_dealer ("inproc://check-proto");
    ck_assert_ptr_nonnull (router);
    ck_assert_ptr_nonnull (dealer);
    zsock_set_router_mandatory (router, 1);
    zsock_set_rcvtimeo (router, 2000);
    zsock_set_rcvtimeo (dealer, 2000);
    size_t big = 64 * 1024;
    zframe_t *tensor = zframe_new (NULL, big);
    memset (zframe_data (tensor), 7, big);
    zmsg_t *out = zmsg_new ();
    zmsg_addstr (out, "ABP/1");
    zmsg_addstr (out, "PUB");
    zmsg_addstr (out, "{\"type\":\"t\"}");
    zmsg_addstr (out, "{\"x\":1}");
    zmsg_append (out, &tensor);
    ck_assert_int_eq (zmsg_send (&out, dealer), 0);
    zpoller_t *poller = zpoller_new (router, NULL);
    ck_assert_ptr_eq (zpoller_wait (poller, 2000), router);
    zpoller_destroy (&poller);

    zmq_msg_t rid;
    zmq_msg_init (&rid);
    ab_proto_t *msg;
    char reason[128];
    ck_assert_int_eq (ab_proto_recv (zsock_resolve (router), &rid, 0, &msg,
                                     reason, sizeof reason),
                      0);
    ck_assert_uint_eq (ab_proto_body_count (msg), 2);
    zmq_msg_t *body = ab_proto_body (msg);
    size_t copied = 0;
    json_t *header = json_pack ("{s:s}", "msg", "m1");
    ck_assert_int_eq (ab_proto_send (zsock_resolve (router), &rid,
                                     AB_CMD_DELIVER, header, body, 2, &copied),
                      0);
    /* the 64 KiB attachment was shared, not copied */
    ck_assert_uint_eq (copied, 0);
    /* the body is still ours for a resend */
    ck_assert_uint_eq (zmq_msg_size (&body[1]), big);

    zmsg_t *in = zmsg_recv (dealer);
    ck_assert_ptr_nonnull (in);
    ck_assert_uint_eq (zmsg_size (in), 5);
    char *sig = zmsg_popstr (in), *cmd = zmsg_popstr (in),
         *hdr = zmsg_popstr (in);
    ck_assert_str_eq (sig, "ABP/1");
    ck_assert_str_eq (cmd, "DELIVER");
    ck_assert_str_eq (hdr, "{\"msg\":\"m1\"}");
    zmsg_destroy (&in);
    free (sig), free (cmd), free (hdr);

    /* an unknown peer: EHOSTUNREACH, reported, nothing sent */
    zmq_msg_t ghost;
    zmq_msg_init_size (&ghost, 5);
    memcpy (zmq_msg_data (&ghost), "ghost", 5);
    ck_assert_int_eq (ab_proto_send (zsock_resolve (router), &ghost,
                                     AB_CMD_PONG, NULL, NULL, 0, NULL),
                      AB_ENOENT);
    zmq_msg_close (&ghost);
    json_decref (header);
    ab_proto_destroy (&msg);
    zmq_msg_close (&rid);
    zsock_destroy (&dealer);
    zsock_destroy (&router);
}
END_TEST

START_TEST (test_header_writer)
{
    ab_jsonw_t *header = ab_jsonw_new ();
    ck_assert_ptr_nonnull (header);
    /* twice: the buffer is reused and the second text stands alone */
    for (int round = 0; round < 2; round++) {
        ab_jsonw_reset (header);
        const char tricky[] = "q\"b\\s/\n\t\x01\x1f caf\xc3\xa9";
        ab_jsonw_string (header, "s", tricky);
        ab_jsonw_int (header, "i", -9007199254740993LL);
        ab_jsonw_bool (header, "t", true);
        ab_jsonw_bool (header, "f", false);
        json_t *nul = json_stringn ("a\0b", 3);
        ab_jsonw_value (header, "n", nul);
        json_t *nested = json_pack ("{s:[i,s]}", "k", 1, "x\"");
        ab_jsonw_value (header, "o", nested);
        ab_jsonw_value (header, "z", json_null ());
        size_t size = 0;
        const char *text = ab_jsonw_text (header, &size);
        ck_assert_ptr_nonnull (text);
        ck_assert_uint_eq (size, strlen (text));
        json_error_t error;
        json_t *parsed = json_loadb (text, size, JSON_ALLOW_NUL, &error);
        ck_assert_msg (parsed != NULL, "%s: %s", text, error.text);
        ck_assert_str_eq (json_string_value (json_object_get (parsed, "s")),
                          tricky);
        ck_assert_int_eq (json_integer_value (json_object_get (parsed, "i")),
                          -9007199254740993LL);
        ck_assert (json_is_true (json_object_get (parsed, "t")));
        ck_assert (json_is_false (json_object_get (parsed, "f")));
        ck_assert (json_equal (json_object_get (parsed, "n"), nul));
        ck_assert (json_equal (json_object_get (parsed, "o"), nested));
        ck_assert (json_is_null (json_object_get (parsed, "z")));
        ck_assert_uint_eq (json_object_size (parsed), 7);
        json_decref (parsed);
        json_decref (nul);
        json_decref (nested);
    }
    ab_jsonw_reset (header);
    size_t size = 0;
    ck_assert_str_eq (ab_jsonw_text (header, &size), "{}");
    ck_assert_uint_eq (size, 2);
    ab_jsonw_destroy (&header);
    ck_assert_ptr_null (header);
    ab_jsonw_destroy (&header);
}
END_TEST

START_TEST (test_decimal)
{
    char text[AB_DECIMAL_SIZE];
    const struct {
        int64_t value;
        const char *expected;
    } signed_cases[] = {{0, "0"},
                        {7, "7"},
                        {-1, "-1"},
                        {1234567890, "1234567890"},
                        {INT64_MAX, "9223372036854775807"},
                        {INT64_MIN, "-9223372036854775808"}};
    for (size_t i = 0; i < sizeof signed_cases / sizeof signed_cases[0]; i++) {
        size_t length = ab_decimal_i64 (text, signed_cases[i].value);
        ck_assert_str_eq (text, signed_cases[i].expected);
        ck_assert_uint_eq (length, strlen (signed_cases[i].expected));
    }
    ck_assert_uint_eq (ab_decimal_u64 (text, UINT64_MAX), 20);
    ck_assert_str_eq (text, "18446744073709551615");
    ck_assert_uint_eq (ab_decimal_u64 (text, 10), 2);
    ck_assert_str_eq (text, "10");
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

int
main (void)
{
    Suite *suite = suite_create ("proto");
    TCase *tcase = tcase_create ("core");
    tcase_add_test (tcase, test_frame_table);
    tcase_add_test (tcase, test_too_large_keeps_header);
    tcase_add_test (tcase, test_send_recv_zero_copy);
    tcase_add_test (tcase, test_names);
    tcase_add_test (tcase, test_header_writer);
    tcase_add_test (tcase, test_decimal);
    suite_add_tcase (suite, tcase);
    return ab_check_run (suite);
}
