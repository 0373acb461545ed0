/*  check_outq - ABP/1 messages built now and sent later, in order */

#include <check.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "wire/ab_outq.h"
#include "wire/ab_proto.h"
#include "ab_check.h"

START_TEST (test_send_recv_zero_copy)
{
    zsock_t *router = zsock_new_router ("inproc://check-outq-zero-copy");
    zsock_t *dealer = zsock_new_dealer ("inproc://check-outq-zero-copy");
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
    const char *header = "{\"msg\":\"m1\"}";
    ab_outq_t *queue = ab_outq_new ();
    ck_assert_ptr_nonnull (queue);
    ck_assert_int_eq (ab_outq_add (queue, &rid, AB_CMD_DELIVER, header,
                                   strlen (header), body, 2, &copied),
                      0);
    ck_assert_uint_eq (ab_outq_send (queue, zsock_resolve (router), NULL, NULL),
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

    /* an unknown peer: EHOSTUNREACH, counted, nothing sent */
    zmq_msg_t ghost;
    zmq_msg_init_size (&ghost, 5);
    memcpy (zmq_msg_data (&ghost), "ghost", 5);
    ck_assert_int_eq (
        ab_outq_add (queue, &ghost, AB_CMD_PONG, "{}", 2, NULL, 0, NULL), 0);
    ck_assert_uint_eq (ab_outq_send (queue, zsock_resolve (router), NULL, NULL),
                       1);
    zmq_msg_close (&ghost);
    ab_outq_destroy (&queue);
    ab_proto_destroy (&msg);
    zmq_msg_close (&rid);
    zsock_destroy (&dealer);
    zsock_destroy (&router);
}
END_TEST

/* ---------------------------------------------------------------------
   ab_outq_t over a ROUTER set up as the broker's (ROUTER_MANDATORY, no
   send high-water mark) and two DEALER peers. */

/* A ROUTER and two DEALERs that have said hello, so the ROUTER knows
   their routing ids ("peer-a", "peer-b"). */
typedef struct {
    zsock_t *router;   /* sends through the queue */
    zsock_t *peers[2]; /* peer-a, peer-b */
    zmq_msg_t ids[2];  /* their routing ids as the ROUTER received them */
} s_net_t;

static void
s_net (s_net_t *net, const char *endpoint)
{
    net->router = zsock_new (ZMQ_ROUTER);
    ck_assert_ptr_nonnull (net->router);
    zsock_set_router_mandatory (net->router, 1);
    zsock_set_sndhwm (net->router, 0);
    zsock_set_rcvtimeo (net->router, 2000);
    ck_assert_int_ge (zsock_bind (net->router, "%s", endpoint), 0);
    const char *names[2] = {"peer-a", "peer-b"};
    for (int i = 0; i < 2; i++) {
        net->peers[i] = zsock_new (ZMQ_DEALER);
        ck_assert_ptr_nonnull (net->peers[i]);
        zsock_set_identity (net->peers[i], names[i]);
        zsock_set_rcvtimeo (net->peers[i], 2000);
        ck_assert_int_eq (
            zsock_connect (net->peers[i], "%s", zsock_endpoint (net->router)),
            0);
        ck_assert_int_eq (zstr_send (net->peers[i], "hello"), 0);
        zmq_msg_init (&net->ids[i]);
        ck_assert_int_ge (
            zmq_msg_recv (&net->ids[i], zsock_resolve (net->router), 0), 0);
        ck_assert_uint_eq (zmq_msg_size (&net->ids[i]), strlen (names[i]));
        ck_assert_int_eq (
            memcmp (zmq_msg_data (&net->ids[i]), names[i], strlen (names[i])),
            0);
        char *hello = zstr_recv (net->router);
        ck_assert_str_eq (hello, "hello");
        zstr_free (&hello);
    }
}

static void
s_net_end (s_net_t *net)
{
    for (int i = 0; i < 2; i++) {
        zmq_msg_close (&net->ids[i]);
        zsock_destroy (&net->peers[i]);
    }
    zsock_destroy (&net->router);
}

/* Receives one frame of the message on `peer` and checks its text and
   whether more follow. */
static void
s_expect_frame (zsock_t *peer, const char *text, bool more)
{
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    ck_assert_int_ge (zmq_msg_recv (&frame, zsock_resolve (peer), 0), 0);
    ck_assert_uint_eq (zmq_msg_size (&frame), strlen (text));
    ck_assert_msg (memcmp (zmq_msg_data (&frame), text, strlen (text)) == 0,
                   "expected frame %s", text);
    ck_assert_int_eq (zmq_msg_more (&frame), more);
    zmq_msg_close (&frame);
}

/* Receives a message without a body: signature, command, header. */
static void
s_expect_bare (zsock_t *peer, const char *command, const char *header)
{
    s_expect_frame (peer, "ABP/1", true);
    s_expect_frame (peer, command, true);
    s_expect_frame (peer, header, false);
}

/* What ab_outq_send reported through `failed`. */
typedef struct {
    size_t calls;     /* times called */
    char id[32];      /* the last routing id, as text */
    ab_cmd_t command; /* the last command */
    uint64_t tag;     /* the last tag */
    int rc;           /* the last code */
} s_failures_t;

static void
s_failed (void *arg, zmq_msg_t *routing_id, ab_cmd_t command, uint64_t tag,
          int rc)
{
    s_failures_t *failures = arg;
    failures->calls++;
    size_t size = zmq_msg_size (routing_id);
    ck_assert_uint_lt (size, sizeof failures->id);
    memcpy (failures->id, zmq_msg_data (routing_id), size);
    failures->id[size] = '\0';
    failures->command = command;
    failures->tag = tag;
    failures->rc = rc;
}

/* A text frame. */
static void
s_text_frame (zmq_msg_t *frame, const char *text)
{
    zmq_msg_init_size (frame, strlen (text));
    memcpy (zmq_msg_data (frame), text, strlen (text));
}

/* Which transport `endpoint` is: inproc passes message contents
   through, so a shared attachment arrives at its original address; tcp
   does not. */
typedef enum {
    S_INPROC = 0,
    S_TCP,
} s_transport_t;

static void
s_outq_order_and_refusal (const char *endpoint, s_transport_t transport)
{
    s_net_t net;
    s_net (&net, endpoint);
    ab_outq_t *queue = ab_outq_new ();
    ck_assert_ptr_nonnull (queue);
    ck_assert_uint_eq (ab_outq_size (queue), 0);

    /* body: a payload and a 4 KiB attachment; both stay ours */
    size_t big = 4096;
    zmq_msg_t body[2];
    s_text_frame (&body[0], "{\"x\":1}");
    zmq_msg_init_size (&body[1], big);
    for (size_t i = 0; i < big; i++)
        ((unsigned char *)zmq_msg_data (&body[1]))[i] = (unsigned char)i;
    void *attachment = zmq_msg_data (&body[1]);

    zmq_msg_t ghost;
    s_text_frame (&ghost, "ghost");
    const char *h1 = "{\"msg\":\"m1\"}", *h3 = "{\"msg\":\"m3\"}";
    size_t copied = 0;
    ck_assert_int_eq (ab_outq_add (queue, &net.ids[0], AB_CMD_DELIVER, h1,
                                   strlen (h1), body, 2, &copied),
                      0);
    ab_outq_tag (queue, 41); /* a tag on a message that goes out */
    ck_assert_int_eq (
        ab_outq_add (queue, &ghost, AB_CMD_OK, "{}", 2, NULL, 0, &copied), 0);
    ab_outq_tag (queue, 42);
    ck_assert_int_eq (ab_outq_add (queue, &net.ids[1], AB_CMD_REPLY, h3,
                                   strlen (h3), body, 2, &copied),
                      0);
    ck_assert_int_eq (
        ab_outq_add (queue, &net.ids[0], AB_CMD_PONG, "{}", 2, NULL, 0, NULL),
        0);
    ck_assert_uint_eq (ab_outq_size (queue), 4);
    /* the attachment was shared, not copied, and is still ours as it was */
    ck_assert_uint_eq (copied, 0);
    ck_assert_ptr_eq (zmq_msg_data (&body[1]), attachment);
    ck_assert_uint_eq (zmq_msg_size (&body[1]), big);
    zmq_msg_close (&body[0]);
    zmq_msg_close (&body[1]);
    zmq_msg_close (&ghost);

    /* nothing leaves before ab_outq_send */
    zsock_set_rcvtimeo (net.peers[0], 0);
    zmq_msg_t early;
    zmq_msg_init (&early);
    ck_assert_int_eq (zmq_msg_recv (&early, zsock_resolve (net.peers[0]), 0),
                      -1);
    zmq_msg_close (&early);
    zsock_set_rcvtimeo (net.peers[0], 2000);

    s_failures_t failures = {0};
    ck_assert_uint_eq (
        ab_outq_send (queue, zsock_resolve (net.router), s_failed, &failures),
        1);
    ck_assert_uint_eq (ab_outq_size (queue), 0);
    ck_assert_uint_eq (failures.calls, 1);
    ck_assert_str_eq (failures.id, "ghost");
    ck_assert_int_eq (failures.command, AB_CMD_OK);
    ck_assert_uint_eq (failures.tag, 42);
    ck_assert_int_eq (failures.rc, AB_ENOENT);

    /* peer-a: the DELIVER, then the PONG queued after the refused OK */
    const char *headers[2] = {h1, h3};
    const char *commands[2] = {"DELIVER", "REPLY"};
    for (int p = 0; p < 2; p++) {
        zsock_t *peer = net.peers[p];
        s_expect_frame (peer, "ABP/1", true);
        s_expect_frame (peer, commands[p], true);
        s_expect_frame (peer, headers[p], true);
        s_expect_frame (peer, "{\"x\":1}", true);
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        ck_assert_int_ge (zmq_msg_recv (&frame, zsock_resolve (peer), 0), 0);
        ck_assert_uint_eq (zmq_msg_size (&frame), big);
        ck_assert (!zmq_msg_more (&frame));
        for (size_t i = 0; i < big; i++)
            ck_assert_uint_eq (((unsigned char *)zmq_msg_data (&frame))[i],
                               (unsigned char)i);
        if (transport == S_INPROC)
            ck_assert_ptr_eq (zmq_msg_data (&frame), attachment);
        zmq_msg_close (&frame);
    }
    s_expect_bare (net.peers[0], "PONG", "{}");

    /* reusable after a send; a send with nothing queued sends nothing */
    ck_assert_int_eq (ab_outq_add (queue, &net.ids[1], AB_CMD_ERROR,
                                   "{\"code\":\"x\"}", 12, NULL, 0, NULL),
                      0);
    ck_assert_uint_eq (ab_outq_size (queue), 1);
    ck_assert_uint_eq (
        ab_outq_send (queue, zsock_resolve (net.router), s_failed, &failures),
        0);
    ck_assert_uint_eq (failures.calls, 1);
    s_expect_bare (net.peers[1], "ERROR", "{\"code\":\"x\"}");
    ck_assert_uint_eq (
        ab_outq_send (queue, zsock_resolve (net.router), NULL, NULL), 0);
    ab_outq_destroy (&queue);
    ck_assert_ptr_null (queue);
    s_net_end (&net);
}

START_TEST (test_outq_inproc)
{
    s_outq_order_and_refusal ("inproc://check-outq", S_INPROC);
}
END_TEST

START_TEST (test_outq_tcp)
{
    s_outq_order_and_refusal ("tcp://127.0.0.1:*", S_TCP);
}
END_TEST

/* A refused message without a `failed` callback is still counted. */
START_TEST (test_outq_refused_quietly)
{
    s_net_t net;
    s_net (&net, "inproc://check-outq-quiet");
    ab_outq_t *queue = ab_outq_new ();
    zmq_msg_t ghost;
    s_text_frame (&ghost, "ghost");
    ck_assert_int_eq (
        ab_outq_add (queue, &ghost, AB_CMD_PONG, "{}", 2, NULL, 0, NULL), 0);
    ck_assert_int_eq (ab_outq_add (queue, &net.ids[1], AB_CMD_PONG, "{\"n\":2}",
                                   7, NULL, 0, NULL),
                      0);
    zmq_msg_close (&ghost);
    ck_assert_uint_eq (
        ab_outq_send (queue, zsock_resolve (net.router), NULL, NULL), 1);
    s_expect_bare (net.peers[1], "PONG", "{\"n\":2}");
    ab_outq_destroy (&queue);
    s_net_end (&net);
}
END_TEST

/* Small attachments live inside the zmq_msg_t and are copied; the
   counter says how many bytes (the payload, frame 4, is not counted). */
START_TEST (test_outq_copied_counter)
{
    ab_outq_t *queue = ab_outq_new ();
    zmq_msg_t id, body[3];
    s_text_frame (&id, "peer");
    s_text_frame (&body[0], "{\"a\":\"a payload that is long enough to be "
                            "shared rather than copied\"}");
    s_text_frame (&body[1], "tiny");
    zmq_msg_init_size (&body[2], 1000);
    memset (zmq_msg_data (&body[2]), 1, 1000);
    size_t copied = 5; /* added to, not reset */
    ck_assert_int_eq (
        ab_outq_add (queue, &id, AB_CMD_DELIVER, "{}", 2, body, 3, &copied), 0);
    ck_assert_uint_eq (copied, 5 + 4);
    ck_assert_uint_eq (ab_outq_size (queue), 1);
    zmq_msg_close (&id);
    for (int i = 0; i < 3; i++)
        zmq_msg_close (&body[i]);
    ab_outq_destroy (&queue);
}
END_TEST

/* Destroying a queue with messages still in it frees them (the
   sanitizer build reports a leak otherwise); NULL is accepted. */
START_TEST (test_outq_destroy_queued)
{
    ab_outq_t *queue = ab_outq_new ();
    zmq_msg_t id, body[2];
    s_text_frame (&id, "peer");
    s_text_frame (&body[0], "{}");
    zmq_msg_init_size (&body[1], 100000);
    void *data = zmq_msg_data (&body[1]);
    /* more frames than the first allocation, so the array grows */
    for (int i = 0; i < 300; i++)
        ck_assert_int_eq (ab_outq_add (queue, &id, AB_CMD_DELIVER,
                                       "{\"big\":\"header\"}", 16, body, 2,
                                       NULL),
                          0);
    ck_assert_uint_eq (ab_outq_size (queue), 300);
    zmq_msg_close (&id);
    zmq_msg_close (&body[0]);
    ab_outq_destroy (&queue);
    ck_assert_ptr_null (queue);
    /* the queue's shares are gone; ours is intact */
    ck_assert_ptr_eq (zmq_msg_data (&body[1]), data);
    ck_assert_uint_eq (zmq_msg_size (&body[1]), 100000);
    zmq_msg_close (&body[1]);
    ab_outq_destroy (&queue);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("outq");
    TCase *tcase = tcase_create ("core");
    tcase_add_test (tcase, test_send_recv_zero_copy);
    tcase_add_test (tcase, test_outq_inproc);
    tcase_add_test (tcase, test_outq_tcp);
    tcase_add_test (tcase, test_outq_refused_quietly);
    tcase_add_test (tcase, test_outq_copied_counter);
    tcase_add_test (tcase, test_outq_destroy_queued);
    suite_add_tcase (suite, tcase);
    return ab_check_run (suite);
}
