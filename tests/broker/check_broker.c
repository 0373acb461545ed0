/*  check_broker - the broker actor over real sockets: every command, every
    REJECT and ERROR code, retry, dead letters, credit, heartbeats, order,
    requests, reload, zero-copy attachments */

#include <unistd.h>

#include "broker_harness.h"

#define NOTE "{\"type\":\"test.note\",\"version\":1,\"id\":\"n1\"}"

START_TEST (test_pub_deliver_ack)
{
    h_broker_t b = h_start ();
    zsock_t *producer = h_agent (&b, "producer", 0);
    zsock_t *consumer = h_agent (&b, "consumer", 0);
    h_publish (producer, NOTE, "{\"text\":\"hi\"}", 1);
    h_msg_t *msg = h_deliver (consumer, "test.note", 1);
    ck_assert_str_eq (h_str (msg, "from"), "producer");
    ck_assert_str_eq (h_str (msg, "id"), "n1");
    ck_assert_int_eq (h_int (msg, "version"), 1);
    ck_assert (json_is_false (json_object_get (msg->header, "request")));
    char *payload = zmsg_popstr (msg->body);
    ck_assert_str_eq (payload, "{\"text\":\"hi\"}");
    free (payload);
    h_answer (consumer, "ACK", msg, NULL);
    h_msg_destroy (&msg);
    /* version 2 fans out to the auditor too (its edge takes only v2) */
    zsock_t *auditor = h_agent (&b, "auditor", 0);
    h_publish (producer, "{\"type\":\"test.note\",\"version\":2}",
               "{\"text\":\"x\",\"score\":0.5}", 2);
    msg = h_deliver (auditor, "test.note", 1);
    ck_assert_int_eq (h_int (msg, "version"), 2);
    h_msg_destroy (&msg);
    msg = h_deliver (consumer, "test.note", 1);
    h_answer (consumer, "ACK", msg, NULL);
    h_msg_destroy (&msg);
    h_send (producer, "PING", "{}", NULL);
    h_expect_only (producer, "PONG");
    ck_assert_int_eq (h_counter (&b, "acked"), 2);
    ck_assert_int_eq (h_counter (&b, "published"), 2);
    ck_assert_int_eq (h_counter (&b, "delivered"), 3);
    zsock_destroy (&auditor);
    zsock_destroy (&producer);
    zsock_destroy (&consumer);
    h_stop (&b);
}
END_TEST

START_TEST (test_errors)
{
    h_broker_t b = h_start ();
    zsock_t *agent = h_connect (&b);
    h_send (agent, "PING", "{}", NULL);
    h_expect_code (agent, "ERROR", "not_registered");
    h_send (agent, "HELLO", "{\"agent\":\"nobody\"}", NULL);
    h_expect_code (agent, "ERROR", "unknown_agent");
    h_send (agent, "HELLO", "{\"agent\":\"producer\",\"credit\":0}", NULL);
    h_expect_code (agent, "ERROR", "protocol");
    /* frame-table violations, registered or not */
    h_send (agent, "PUB", "{\"type\":\"test.note\"}", NULL);
    h_expect_code (agent, "ERROR", "protocol");
    h_send (agent, "HELLO", "[1]", NULL);
    h_expect_code (agent, "ERROR", "protocol");
    h_send (agent, "SHOUT", "{}", NULL);
    h_expect_code (agent, "ERROR", "protocol");
    h_send (agent, "PING", "{}", "{}");
    h_expect_code (agent, "ERROR", "protocol");
    zmsg_t *raw = zmsg_new ();
    zmsg_addstr (raw, "HTTP/1.1");
    zmsg_send (&raw, agent);
    h_expect_code (agent, "ERROR", "protocol");
    h_send (agent, "HELLO", "{\"agent\":\"consumer\"}", NULL);
    h_expect_only (agent, "WELCOME");
    h_send (agent, "ACK", "{\"msg\":\"12345\"}", NULL);
    h_expect_code (agent, "ERROR", "unknown_message");
    h_send (agent, "NACK", "{\"msg\":\"12345\"}", NULL);
    h_expect_code (agent, "ERROR", "unknown_message");
    h_send (agent, "CREDIT", "{\"credit\":\"lots\"}", NULL);
    h_expect_code (agent, "ERROR", "protocol");
    h_send (agent, "BYE", "{}", NULL);
    h_send (agent, "PING", "{}", NULL);
    h_expect_code (agent, "ERROR", "not_registered");
    ck_assert_int_eq (h_counter (&b, "errors.protocol"), 7);
    zsock_destroy (&agent);
    h_stop (&b);
}
END_TEST

static void
s_expect_reject (zsock_t *producer, const char *header, const char *payload,
                 const char *code)
{
    h_send (producer, "PUB", header, payload);
    h_expect_code (producer, "REJECT", code);
}

START_TEST (test_rejects)
{
    h_broker_t b = h_start ();
    zsock_t *producer = h_agent (&b, "producer", 0);
    zsock_t *consumer = h_agent (&b, "consumer", 0);
    s_expect_reject (producer, "{\"type\":\"no.such\"}", "{}", "unknown_type");
    s_expect_reject (producer, "{\"type\":\"test.note\",\"version\":7}",
                     "{\"text\":\"a\"}", "version");
    s_expect_reject (producer, NOTE, "{\"text\":", "malformed");
    s_expect_reject (producer, "{\"type\":\"test.note\",\"seq\":\"x\"}",
                     "{\"text\":\"a\"}", "malformed");
    s_expect_reject (consumer, NOTE, "{\"text\":\"a\"}", "unroutable");
    /* invalid, with errors in protocol shape, echoing the id */
    h_send (producer, "PUB", NOTE, "{\"text\":5}");
    h_msg_t *reject = h_expect (producer, "REJECT");
    ck_assert_str_eq (h_str (reject, "code"), "invalid");
    ck_assert_str_eq (h_str (reject, "id"), "n1");
    json_t *error =
        json_array_get (json_object_get (reject->header, "errors"), 0);
    ck_assert_str_eq (json_string_value (json_object_get (error, "path")),
                      "/text");
    ck_assert_str_eq (json_string_value (json_object_get (error, "keyword")),
                      "type");
    h_msg_destroy (&reject);
    /* too_large: the broker here takes 4096 bytes */
    char big[6000];
    memset (big, ' ', sizeof big);
    memcpy (big, "{\"text\":\"a\"}", 12);
    big[sizeof big - 1] = '\0';
    s_expect_reject (producer, NOTE, big, "too_large");
    /* overloaded: small's queue takes 2 copies and nobody consumes */
    h_publish (producer, "{\"type\":\"test.small\"}", "{}", 1);
    h_publish (producer, "{\"type\":\"test.small\"}", "{}", 1);
    s_expect_reject (producer, "{\"type\":\"test.small\"}", "{}", "overloaded");
    ck_assert_int_eq (h_counter (&b, "rejected.overloaded"), 1);
    /* the edge producer -> guarded has its own max_size stage: it rejects
       the PUB */
    h_publish (producer, "{\"type\":\"test.guarded\"}", "{\"a\":1}", 1);
    h_send (producer, "PUB", "{\"type\":\"test.guarded\"}",
            "{\"a\":\"more than sixteen bytes\"}");
    h_msg_t *filtered = h_expect (producer, "REJECT");
    ck_assert_str_eq (h_str (filtered, "code"), "too_large");
    ck_assert_ptr_nonnull (strstr (h_str (filtered, "message"), "max_size"));
    h_msg_destroy (&filtered);
    ck_assert_int_eq (h_counter (&b, "rejected.invalid"), 1);
    zsock_destroy (&producer);
    zsock_destroy (&consumer);
    h_stop (&b);
}
END_TEST

START_TEST (test_retry_then_dead_letter_agent)
{
    h_broker_t b = h_start ();
    zsock_t *producer = h_agent (&b, "producer", 0);
    zsock_t *consumer = h_agent (&b, "consumer", 0);
    zsock_t *graveyard = h_agent (&b, "graveyard", 0);
    h_publish (producer, NOTE, "{\"text\":\"never acked\"}", 1);
    h_msg_t *first = h_deliver (consumer, "test.note", 1);
    for (int attempt = 2; attempt <= 3; attempt++) {
        h_msg_t *again = h_deliver (consumer, "test.note", attempt);
        ck_assert_str_eq (h_str (again, "msg"), h_str (first, "msg"));
        h_msg_destroy (&again);
    }
    h_msg_t *dead = h_deliver (graveyard, "agentbus.dead_letter", 1);
    ck_assert_str_eq (h_str (dead, "reason"), "max_attempts");
    json_t *original = json_object_get (dead->header, "original");
    ck_assert_str_eq (json_string_value (json_object_get (original, "type")),
                      "test.note");
    ck_assert_str_eq (json_string_value (json_object_get (original, "to")),
                      "consumer");
    ck_assert_str_eq (json_string_value (json_object_get (original, "id")),
                      "n1");
    ck_assert_int_eq (
        json_integer_value (json_object_get (original, "attempts")), 3);
    char *payload = zmsg_popstr (dead->body);
    ck_assert_str_eq (payload, "{\"text\":\"never acked\"}");
    free (payload);
    h_answer (graveyard, "ACK", dead, NULL);
    h_msg_destroy (&dead);
    /* the late ACK of the dead copy is unknown now */
    h_answer (consumer, "ACK", first, NULL);
    h_expect_code (consumer, "ERROR", "unknown_message");
    h_msg_destroy (&first);
    ck_assert_int_eq (h_counter (&b, "dead_lettered.max_attempts"), 1);
    ck_assert_int_eq (h_counter (&b, "ack_timeouts"), 3);
    zsock_destroy (&producer);
    zsock_destroy (&consumer);
    zsock_destroy (&graveyard);
    h_stop (&b);
}
END_TEST

START_TEST (test_nack)
{
    h_broker_t b = h_start ();
    zsock_t *producer = h_agent (&b, "producer", 0);
    zsock_t *consumer = h_agent (&b, "consumer", 0);
    zsock_t *graveyard = h_agent (&b, "graveyard", 0);
    h_publish (producer, NOTE, "{\"text\":\"a\"}", 1);
    h_msg_t *msg = h_deliver (consumer, "test.note", 1);
    h_answer (consumer, "NACK", msg, "\"reason\":\"busy\"");
    h_msg_destroy (&msg);
    msg = h_deliver (consumer, "test.note", 2);
    h_answer (consumer, "NACK", msg, "\"requeue\":false");
    h_msg_destroy (&msg);
    msg = h_deliver (graveyard, "agentbus.dead_letter", 1);
    ck_assert_str_eq (h_str (msg, "reason"), "rejected");
    h_msg_destroy (&msg);
    ck_assert_int_eq (h_counter (&b, "nacked"), 2);
    /* no dead_letter agent on producer -> sink: the store keeps it */
    zsock_t *sink = h_agent (&b, "sink", 0);
    h_publish (producer, "{\"type\":\"test.plain\"}", "{}", 1);
    msg = h_deliver (sink, "test.plain", 1);
    h_answer (sink, "NACK", msg, "\"requeue\":false");
    h_msg_destroy (&msg);
    h_send (sink, "PING", "{}", NULL);
    h_expect_only (sink, "PONG");
    ck_assert_int_eq (h_counter (&b, "store_dead_letters"), 1);
    ck_assert_int_eq (h_counter (&b, "dead_to_store"), 1);
    zsock_destroy (&sink);
    zsock_destroy (&producer);
    zsock_destroy (&consumer);
    zsock_destroy (&graveyard);
    h_stop (&b);
}
END_TEST

START_TEST (test_max_attempts_to_store_and_ttl)
{
    h_broker_t b = h_start ();
    zsock_t *producer = h_agent (&b, "producer", 0);
    zsock_t *sink = h_agent (&b, "sink", 0);
    h_publish (producer, "{\"type\":\"test.plain\"}", "{}", 1);
    h_msg_t *msg = h_deliver (sink, "test.plain", 1);
    h_msg_destroy (&msg);
    msg = h_deliver (sink, "test.plain", 2);
    h_msg_destroy (&msg);
    h_wait_counter (&b, "dead_lettered.max_attempts", 1);
    ck_assert_int_eq (h_counter (&b, "store_dead_letters"), 1);
    zsock_destroy (&sink);
    /* ttl: nobody takes it within 50 ms */
    h_publish (producer, "{\"type\":\"test.plain\",\"ttl_ms\":50}", "{}", 1);
    h_wait_counter (&b, "expired", 1);
    ck_assert_int_eq (h_counter (&b, "dead_lettered.expired"), 1);
    ck_assert_int_eq (h_counter (&b, "store_dead_letters"), 2);
    zsock_destroy (&producer);
    h_stop (&b);
}
END_TEST

START_TEST (test_credit_window)
{
    h_broker_t b = h_start ();
    zsock_t *producer = h_agent (&b, "producer", 0);
    zsock_t *consumer = h_agent (&b, "consumer", 1);
    for (int i = 0; i < 3; i++)
        h_publish (producer, NOTE, "{\"text\":\"a\"}", 1);
    h_msg_t *msg = h_deliver (consumer, "test.note", 1);
    h_expect_silence (consumer, 80);
    h_answer (consumer, "ACK", msg, NULL);
    h_msg_destroy (&msg);
    msg = h_deliver (consumer, "test.note", 1);
    h_send (consumer, "CREDIT", "{\"credit\":5}", NULL);
    h_msg_t *third = h_deliver (consumer, "test.note", 1);
    h_answer (consumer, "ACK", msg, NULL);
    h_answer (consumer, "ACK", third, NULL);
    h_msg_destroy (&msg);
    h_msg_destroy (&third);
    zsock_destroy (&producer);
    zsock_destroy (&consumer);
    h_stop (&b);
}
END_TEST

START_TEST (test_competing_consumers)
{
    h_broker_t b = h_start ();
    zsock_t *producer = h_agent (&b, "producer", 0);
    zsock_t *one = h_agent (&b, "consumer", 0);
    zsock_t *two = h_agent (&b, "consumer", 0);
    for (int i = 0; i < 4; i++)
        h_publish (producer, NOTE, "{\"text\":\"a\"}", 1);
    for (int i = 0; i < 2; i++) {
        h_msg_t *msg = h_deliver (one, "test.note", 1);
        h_answer (one, "ACK", msg, NULL);
        h_msg_destroy (&msg);
        msg = h_deliver (two, "test.note", 1);
        h_answer (two, "ACK", msg, NULL);
        h_msg_destroy (&msg);
    }
    zsock_destroy (&producer);
    zsock_destroy (&one);
    zsock_destroy (&two);
    h_stop (&b);
}
END_TEST

START_TEST (test_heartbeat_death_and_bye)
{
    h_broker_t b = h_start_with ("topology.yaml", 100, 4096);
    zsock_t *producer = h_agent (&b, "producer", 0);
    zsock_t *silent = h_agent (&b, "consumer", 0);
    h_publish (producer, NOTE, "{\"text\":\"a\"}", 1);
    h_msg_t *msg = h_deliver (silent, "test.note", 1);
    h_msg_destroy (&msg);
    /* a second instance that stays alive; the first is silent > 300 ms
       (its ack timeout, 1 s, may fire first: either way attempt 2) */
    zsock_t *alive = h_agent (&b, "consumer", 0);
    msg = NULL;
    int64_t deadline = zclock_mono () + H_WAIT;
    while (!msg && zclock_mono () < deadline) {
        zclock_sleep (25);
        h_send (alive, "PING", "{}", NULL);
        h_send (producer, "PING", "{}", NULL);
        h_msg_t *pong = h_expect (producer, "PONG");
        h_msg_destroy (&pong);
        msg = h_recv (alive, 50);
        if (msg && streq (msg->command, "PONG"))
            h_msg_destroy (&msg);
    }
    ck_assert_ptr_nonnull (msg);
    ck_assert_str_eq (msg->command, "DELIVER");
    ck_assert_int_eq (h_int (msg, "attempt"), 2);
    h_msg_destroy (&msg);
    /* now all three go silent: the first consumer, the second and the
       producer all die by heartbeat (waited on, not slept) */
    h_wait_counter (&b, "instances_dead", 3);
    zsock_destroy (&silent);
    zsock_destroy (&alive);
    /* the producer was silent too: it must say HELLO again */
    h_send (producer, "PING", "{}", NULL);
    h_expect_code (producer, "ERROR", "not_registered");
    zsock_destroy (&producer);
    producer = h_agent (&b, "producer", 0);
    /* BYE requeues without counting an attempt */
    zsock_t *one = h_agent (&b, "consumer", 0);
    h_publish (producer, NOTE, "{\"text\":\"b\"}", 1);
    msg = h_deliver (one, "test.note", 1);
    h_msg_destroy (&msg);
    zsock_t *two = h_agent (&b, "consumer", 0);
    h_send (one, "BYE", "{}", NULL);
    msg = h_deliver (two, "test.note", 1);
    h_answer (two, "ACK", msg, NULL);
    h_msg_destroy (&msg);
    zsock_destroy (&one);
    zsock_destroy (&two);
    zsock_destroy (&producer);
    h_stop (&b);
}
END_TEST

START_TEST (test_strict_order_and_seq)
{
    h_broker_t b = h_start ();
    zsock_t *trainer = h_agent (&b, "trainer", 0);
    zsock_t *ps = h_agent (&b, "ps", 0);
    char header[128], payload[64];
    for (int step = 1; step <= 3; step++) {
        snprintf (header, sizeof header,
                  "{\"type\":\"test.gradient\",\"seq\":%d}", step);
        snprintf (payload, sizeof payload, "{\"step\":%d}", step);
        h_publish (trainer, header, payload, 1);
    }
    s_expect_reject (trainer, "{\"type\":\"test.gradient\",\"seq\":2}", "{}",
                     "duplicate");
    /* step 1 only, even with credit 16; unacked, it comes back first */
    h_msg_t *msg = h_deliver (ps, "test.gradient", 1);
    ck_assert_int_eq (h_int (msg, "seq"), 1);
    h_msg_destroy (&msg);
    msg = h_deliver (ps, "test.gradient", 2);
    ck_assert_int_eq (h_int (msg, "seq"), 1);
    h_answer (ps, "ACK", msg, NULL);
    h_msg_destroy (&msg);
    for (int step = 2; step <= 3; step++) {
        msg = h_deliver (ps, "test.gradient", 1);
        ck_assert_int_eq (h_int (msg, "seq"), step);
        h_expect_silence (ps, 30);
        h_answer (ps, "ACK", msg, NULL);
        h_msg_destroy (&msg);
    }
    zsock_destroy (&trainer);
    zsock_destroy (&ps);
    h_stop (&b);
}
END_TEST

#define QUESTION "{\"type\":\"test.question\",\"id\":\"q1\"}"

START_TEST (test_request_reply)
{
    h_broker_t b = h_start ();
    zsock_t *asker = h_agent (&b, "asker", 0);
    zsock_t *answerer = h_agent (&b, "answerer", 0);
    h_send (asker, "REQ", QUESTION, "{}");
    h_msg_t *request = h_deliver (answerer, "test.question", 1);
    ck_assert (json_is_true (json_object_get (request->header, "request")));
    char header[128];
    snprintf (header, sizeof header, "{\"msg\":\"%s\",\"partial\":true}",
              h_str (request, "msg"));
    h_send (answerer, "REP", header, "{\"answer\":\"par\"}");
    h_msg_t *ok = h_expect (answerer, "OK");
    ck_assert_str_eq (h_str (ok, "msg"), h_str (request, "msg"));
    h_msg_destroy (&ok);
    h_msg_t *reply = h_expect (asker, "REPLY");
    ck_assert_str_eq (h_str (reply, "id"), "q1");
    ck_assert_str_eq (h_str (reply, "type"), "test.answer");
    ck_assert_str_eq (h_str (reply, "from"), "answerer");
    ck_assert (json_is_true (json_object_get (reply->header, "partial")));
    h_msg_destroy (&reply);
    /* an invalid reply is refused and the request stays open */
    snprintf (header, sizeof header, "{\"msg\":\"%s\"}",
              h_str (request, "msg"));
    h_send (answerer, "REP", header, "{\"answer\":5}");
    h_expect_code (answerer, "REJECT", "invalid");
    h_send (answerer, "REP", header, "{\"answer\":\"tial\"}");
    h_expect_only (answerer, "OK");
    reply = h_expect (asker, "REPLY");
    ck_assert (json_is_false (json_object_get (reply->header, "partial")));
    char *payload = zmsg_popstr (reply->body);
    ck_assert_str_eq (payload, "{\"answer\":\"tial\"}");
    free (payload);
    h_msg_destroy (&reply);
    /* done: one more REP is for an unknown message */
    h_send (answerer, "REP", header, "{\"answer\":\"x\"}");
    h_expect_code (answerer, "ERROR", "unknown_message");
    h_msg_destroy (&request);
    /* REQ without a request edge */
    h_send (answerer, "REQ", QUESTION, "{}");
    h_expect_code (answerer, "REJECT", "unroutable");
    zsock_destroy (&asker);
    zsock_destroy (&answerer);
    h_stop (&b);
}
END_TEST

START_TEST (test_request_timeout_and_other_replica)
{
    h_broker_t b = h_start ();
    zsock_t *asker = h_agent (&b, "asker", 0);
    h_send (asker, "REQ",
            "{\"type\":\"test.question\",\"id\":\"q2\",\"timeout_ms\":100}",
            "{}");
    h_msg_t *reject = h_expect (asker, "REJECT");
    ck_assert_str_eq (h_str (reject, "code"), "timeout");
    ck_assert_str_eq (h_str (reject, "id"), "q2");
    h_msg_destroy (&reject);
    /* unanswered on one replica: retried on the other */
    zsock_t *one = h_agent (&b, "answerer", 0);
    zsock_t *two = h_agent (&b, "answerer", 0);
    h_send (asker, "REQ", QUESTION, "{}");
    zpoller_t *poller = zpoller_new (one, two, NULL);
    zsock_t *ready = zpoller_wait (poller, H_WAIT);
    zpoller_destroy (&poller);
    ck_assert_ptr_nonnull (ready);
    h_msg_t *first = h_recv (ready, 0);
    zsock_t *second = ready == one ? two : one;
    ck_assert_ptr_nonnull (first);
    h_msg_t *retry = h_deliver (second, "test.question", 2);
    ck_assert_str_eq (h_str (retry, "msg"), h_str (first, "msg"));
    char header[128];
    snprintf (header, sizeof header, "{\"msg\":\"%s\"}", h_str (retry, "msg"));
    h_send (second, "REP", header, "{\"answer\":\"late\"}");
    h_expect_only (second, "OK");
    h_msg_t *reply = h_expect (asker, "REPLY");
    h_msg_destroy (&reply);
    h_msg_destroy (&first);
    h_msg_destroy (&retry);
    zsock_destroy (&one);
    zsock_destroy (&two);
    zsock_destroy (&asker);
    h_stop (&b);
}
END_TEST

START_TEST (test_tensor_zero_copy)
{
    h_broker_t b = h_start_with ("topology.yaml", H_HEARTBEAT, 1 << 20);
    zsock_t *producer = h_agent (&b, "producer", 0);
    zsock_t *tensors = h_agent (&b, "tensors", 0);
    size_t size = 1024 * 4 * sizeof (float);
    char *data = malloc (size);
    for (size_t i = 0; i < size; i++)
        data[i] = (char)i;
    const char *payload =
        "{\"x\":{\"dtype\":\"float32\",\"shape\":[1024,4],\"frame\":0}}";
    const char *header = "{\"type\":\"test.tensor\"}";
    h_send_frames (producer, "PUB", header, 2, payload, strlen (payload), data,
                   size);
    h_msg_t *ok = h_expect (producer, "OK");
    h_msg_destroy (&ok);
    h_msg_t *msg = h_deliver (tensors, "test.tensor", 1);
    ck_assert_uint_eq (zmsg_size (msg->body), 2);
    zframe_t *frame = zmsg_last (msg->body);
    ck_assert_uint_eq (zframe_size (frame), size);
    ck_assert_mem_eq (zframe_data (frame), data, size);
    h_msg_destroy (&msg);
    ck_assert_int_eq (h_counter (&b, "attachment_bytes"), (int64_t)size);
    ck_assert_int_eq (h_counter (&b, "attachment_bytes_copied"), 0);
    /* a frame whose length disagrees with dtype/shape is malformed */
    h_send_frames (producer, "PUB", header, 2, payload, strlen (payload), data,
                   size - 4);
    h_expect_code (producer, "REJECT", "malformed");
    /* an attachment nobody references is malformed */
    h_send_frames (producer, "PUB", header, 3, payload, strlen (payload), data,
                   size, data, 8);
    h_expect_code (producer, "REJECT", "malformed");
    free (data);
    zsock_destroy (&producer);
    zsock_destroy (&tensors);
    h_stop (&b);
}
END_TEST

START_TEST (test_garbage_flood)
{
    h_broker_t b = h_start ();
    zsock_t *agent = h_connect (&b);
    for (int i = 0; i < 500; i++) {
        zmsg_t *raw = zmsg_new ();
        int frames = 1 + (int)(random () % 6);
        for (int f = 0; f < frames; f++) {
            char junk[64];
            size_t length = (size_t)(random () % sizeof junk);
            for (size_t k = 0; k < length; k++)
                junk[k] = (char)random ();
            zmsg_addmem (raw, junk, length);
        }
        zmsg_send (&raw, agent);
    }
    int errors = 0;
    h_msg_t *msg;
    while (errors < 500 && (msg = h_recv (agent, H_WAIT))) {
        ck_assert_str_eq (msg->command, "ERROR");
        h_msg_destroy (&msg);
        errors++;
    }
    ck_assert_int_eq (errors, 500);
    h_send (agent, "HELLO", "{\"agent\":\"producer\"}", NULL);
    h_expect_only (agent, "WELCOME");
    /* a PUB of 200000 empty attachments: nothing sized by the sender's
       frame count lives on the broker's stack */
    zmsg_t *many = zmsg_new ();
    zmsg_addstr (many, "ABP/1");
    zmsg_addstr (many, "PUB");
    zmsg_addstr (many, "{\"type\":\"test.plain\"}");
    zmsg_addstr (many, "{}");
    for (int i = 0; i < 200000; i++)
        zmsg_addmem (many, NULL, 0);
    zmsg_send (&many, agent);
    h_expect_code (agent, "REJECT", "malformed");
    h_send (agent, "PING", "{}", NULL);
    h_expect_only (agent, "PONG");
    zsock_destroy (&agent);
    h_stop (&b);
}
END_TEST

static const char *
s_reload (h_broker_t *b, char **lines)
{
    zstr_send (b->actor, "RELOAD");
    char *status = zstr_recv (b->actor);
    *lines = zstr_recv (b->actor);
    const char *result = streq (status, "OK") ? "OK" : "ERROR";
    free (status);
    return result;
}

START_TEST (test_reload)
{
    /* the topology file lives beside the fixture schemas */
    char name[64];
    snprintf (name, sizeof name, "reload-under-test-%d.yaml", (int)getpid ());
    char *path = h_fixture (name);
    h_install ("topology.yaml", path);
    h_broker_t b = h_start_with (path, H_HEARTBEAT, 4096);
    zsock_t *producer = h_agent (&b, "producer", 0);
    zsock_t *consumer = h_agent (&b, "consumer", 0);
    h_publish (producer, NOTE, "{\"text\":\"old\"}", 1);
    h_msg_t *old = h_deliver (consumer, "test.note", 1);
    h_install ("reload-topology.yaml", path);
    char *lines;
    ck_assert_str_eq (s_reload (&b, &lines), "OK");
    free (lines);
    /* connected agents stay; new copies follow the new edges */
    h_publish (producer, NOTE, "{\"text\":\"new\"}", 2);
    /* the copy routed by the old topology still finishes */
    h_answer (consumer, "ACK", old, NULL);
    h_msg_destroy (&old);
    h_install ("bad-topology.yaml", path);
    ck_assert_str_eq (s_reload (&b, &lines), "ERROR");
    ck_assert_ptr_nonnull (strstr (lines, name));
    free (lines);
    h_publish (producer, NOTE, "{\"text\":\"still\"}", 2);
    ck_assert_int_eq (h_counter (&b, "acked"), 1);
    ck_assert_int_eq (h_counter (&b, "reloads"), 1);
    ck_assert_int_eq (h_counter (&b, "reload_failures"), 1);
    zsock_destroy (&producer);
    zsock_destroy (&consumer);
    h_stop (&b);
    remove (path);
    free (path);
}
END_TEST

START_TEST (test_two_brokers_and_durable_refused)
{
    h_broker_t one = h_start ();
    h_broker_t two = h_start ();
    zsock_t *a = h_agent (&one, "producer", 0);
    zsock_t *c = h_agent (&two, "consumer", 0);
    h_publish (a, NOTE, "{\"text\":\"a\"}", 1);
    h_expect_silence (c, 50);
    zsock_destroy (&a);
    zsock_destroy (&c);
    h_stop (&one);
    h_stop (&two);
    char *path = h_fixture ("durable-topology.yaml");
    ab_diag_t *diag = ab_diag_new ();
    ab_broker_config_t config = {.endpoint = "tcp://127.0.0.1:*",
                                 .topology = path};
    ck_assert_ptr_null (ab_broker_new (&config, diag));
    ck_assert_ptr_nonnull (strstr (ab_diag_text (diag, 0), "needs a data_dir"));
    ab_diag_clear (diag);
    /* a data_dir holding other files is refused, never initialised */
    char *schemas = h_fixture ("schemas");
    config.data_dir = schemas;
    ck_assert_ptr_null (ab_broker_new (&config, diag));
    ck_assert_ptr_nonnull (
        strstr (ab_diag_text (diag, 0), "refusing to initialise"));
    free (schemas);
    ab_diag_destroy (&diag);
    free (path);
}
END_TEST

/* A filter plugin built by the filter area (contrib/filters). */
static char *
s_plugin (const char *name)
{
    const char *builddir = getenv ("AB_BUILDDIR");
    return zsys_sprintf ("%s/%s.so", builddir ? builddir : ".", name);
}

START_TEST (test_filter_pipeline)
{
    /* the redact example plugin rewrites; the schema entry only sets its
       option (the schema stage is always first) */
    char *redact = s_plugin ("contrib/filters/.libs/redact");
    json_t *filters = json_pack ("[{s:s}, {s:s, s:[s]}]", "name", "schema",
                                 "plugin", redact, "fields", "secret");
    h_broker_t b =
        h_start_filtered ("topology.yaml", H_HEARTBEAT, 4096, filters);
    zsock_t *producer = h_agent (&b, "producer", 0);
    zsock_t *sink = h_agent (&b, "sink", 0);
    h_publish (producer, "{\"type\":\"test.plain\"}",
               "{\"secret\":\"hunter2\",\"x\":1}", 1);
    h_msg_t *msg = h_deliver (sink, "test.plain", 1);
    char *payload = zmsg_popstr (msg->body);
    json_t *json = json_loads (payload, 0, NULL);
    ck_assert_str_eq (json_string_value (json_object_get (json, "secret")),
                      "[redacted]");
    ck_assert_int_eq (json_integer_value (json_object_get (json, "x")), 1);
    json_decref (json);
    free (payload);
    h_msg_destroy (&msg);
    zsock_destroy (&producer);
    zsock_destroy (&sink);
    h_stop (&b);
    json_decref (filters);
    /* a plugin of another ABI version: the broker does not start */
    char *bad = s_plugin ("tests/fixtures/filter/.libs/bad_abi");
    filters = json_pack ("[{s:s}]", "plugin", bad);
    char *topology = h_fixture ("topology.yaml");
    ab_broker_config_t config = {.endpoint = "tcp://127.0.0.1:*",
                                 .topology = topology,
                                 .filters = filters};
    ab_diag_t *diag = ab_diag_new ();
    ck_assert_ptr_null (ab_broker_new (&config, diag));
    ck_assert_uint_ge (ab_diag_count (diag), 1);
    ck_assert_ptr_nonnull (strstr (ab_diag_text (diag, 0), "bad_abi"));
    ab_diag_destroy (&diag);
    json_decref (filters);
    free (topology);
    free (bad);
    free (redact);
}
END_TEST

/* Answers one delivery at random: ACK, NACK (requeue or not), or nothing
   (the ack timeout takes it back); when settling, always ACK. */
static void
s_churn_answer (zsock_t *dealer, h_msg_t *msg, bool settle)
{
    long dice = settle ? 0 : random () % 10;
    if (dice < 6)
        h_answer (dealer, "ACK", msg, NULL);
    else if (dice < 8)
        h_answer (dealer, "NACK", msg, dice == 6 ? NULL : "\"requeue\":false");
}

START_TEST (test_churn)
{
    /* random acks, nacks, silences and reconnects over three consumers;
       at the end every copy is acked or dead-lettered, none is lost.
       Heartbeats are long: an agent the dice leave idle for 3 s (the
       graveyard, on a loaded machine) must not be declared dead, or its
       copies would wait for an instance that never comes back */
    h_broker_t b = h_start_with ("topology.yaml", 60000, 4096);
    zsock_t *producer = h_agent (&b, "producer", 0);
    zsock_t *graveyard = h_agent (&b, "graveyard", 64);
    zsock_t *consumers[3];
    for (int i = 0; i < 3; i++)
        consumers[i] = h_agent (&b, "consumer", 4);
    srandom (7);
    for (int round = 0; round < 300; round++) {
        h_publish (producer, NOTE, "{\"text\":\"churn\"}", 1);
        int i = (int)(random () % 3);
        h_msg_t *msg = h_recv (consumers[i], 5);
        if (msg && streq (msg->command, "DELIVER"))
            s_churn_answer (consumers[i], msg, false);
        h_msg_destroy (&msg);
        if (random () % 50 == 0) {
            h_send (consumers[i], "BYE", "{}", NULL);
            zsock_destroy (&consumers[i]);
            consumers[i] = h_agent (&b, "consumer", 4);
        }
    }
    zpoller_t *poller =
        zpoller_new (graveyard, consumers[0], consumers[1], consumers[2], NULL);
    /* a bound for a loaded machine, not a measurement: late answers
       only mean more retries before every copy settles */
    int64_t deadline = zclock_mono () + 60000;
    while (h_counter (&b, "copies_pending") > 0 && zclock_mono () < deadline) {
        zsock_t *ready = zpoller_wait (poller, 50);
        if (!ready)
            continue;
        h_msg_t *msg = h_recv (ready, 0);
        if (msg && streq (msg->command, "DELIVER"))
            s_churn_answer (ready, msg, true);
        h_msg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    ck_assert_int_eq (h_counter (&b, "copies_pending"), 0);
    /* every copy ends acked or in the store, or leaves for the graveyard
       as a new copy: nothing is lost and nothing is left */
    int64_t to_graveyard = h_counter (&b, "dead_to_agent");
    ck_assert_int_eq (h_counter (&b, "copies_queued"), 300 + to_graveyard);
    ck_assert_int_eq (h_counter (&b, "acked") + h_counter (&b, "dead_to_store"),
                      300);
    for (int i = 0; i < 3; i++)
        zsock_destroy (&consumers[i]);
    zsock_destroy (&graveyard);
    zsock_destroy (&producer);
    h_stop (&b);
}
END_TEST

/* A broker on durable-topology.yaml keeping its state in `dir`. */
static h_broker_t
s_start_durable (const char *dir)
{
    char *topology = zsys_sprintf ("%s.topology.yaml", dir);
    h_install ("durable-topology.yaml", topology);
    ab_diag_t *diag = ab_diag_new ();
    ab_broker_config_t config = {
        .endpoint = "tcp://127.0.0.1:*", .topology = topology, .data_dir = dir};
    h_broker_t self = {NULL, NULL, NULL, NULL, NULL};
    self.broker = ab_broker_new (&config, diag);
    if (!self.broker)
        ab_diag_print (diag, stderr);
    ck_assert_ptr_nonnull (self.broker);
    self.endpoint = strdup (ab_broker_endpoint (self.broker));
    self.actor = zactor_new (ab_broker_actor, self.broker);
    ab_diag_destroy (&diag);
    free (topology);
    return self;
}

/* Copies OK'd on a durable edge survive a restart with their attempt
   counts; acked ones do not come back; seq state survives. */
START_TEST (test_durable_restart)
{
    char template[] = "/tmp/check-broker-restart-XXXXXX";
    ck_assert_ptr_nonnull (mkdtemp (template));
    char *dir = zsys_sprintf ("%s/data", template);
    h_broker_t b = s_start_durable (dir);
    zsock_t *a = h_agent (&b, "producer", 0);
    h_publish (a, "{\"type\":\"test.note\",\"version\":1,\"seq\":1}",
               "{\"text\":\"one\"}", 1);
    h_publish (a, "{\"type\":\"test.note\",\"version\":1,\"seq\":2}",
               "{\"text\":\"two\"}", 1);
    zsock_t *c = h_agent (&b, "consumer", 1);
    h_msg_t *first = h_deliver (c, "test.note", 1);
    char *first_msg = strdup (h_str (first, "msg"));
    h_msg_destroy (&first);
    zsock_destroy (&a);
    zsock_destroy (&c);
    h_stop (&b); /* the first copy was in flight, the second queued */

    b = s_start_durable (dir);
    a = h_agent (&b, "producer", 0);
    h_send (a, "PUB", "{\"type\":\"test.note\",\"version\":1,\"seq\":2}",
            "{\"text\":\"again\"}");
    h_expect_code (a, "REJECT", "duplicate");
    c = h_agent (&b, "consumer", 4);
    h_msg_t *again = h_deliver (c, "test.note", 2);
    ck_assert_str_eq (h_str (again, "msg"), first_msg);
    h_msg_t *second = h_deliver (c, "test.note", 1);
    h_answer (c, "ACK", again, NULL);
    h_answer (c, "ACK", second, NULL);
    h_msg_destroy (&again);
    h_msg_destroy (&second);
    h_send (c, "PING", "{}", NULL); /* the ACKs are handled before PONG */
    h_msg_t *pong = h_expect (c, "PONG");
    h_msg_destroy (&pong);
    zsock_destroy (&a);
    zsock_destroy (&c);
    h_stop (&b);

    b = s_start_durable (dir); /* acked: nothing comes back */
    c = h_agent (&b, "consumer", 4);
    h_expect_silence (c, 200);
    ck_assert_int_eq (h_counter (&b, "durable_messages"), 0);
    zsock_destroy (&c);
    h_stop (&b);
    char *files[] = {"data.mdb", "lock.mdb"};
    for (size_t i = 0; i < 2; i++) {
        char *file = zsys_sprintf ("%s/%s", dir, files[i]);
        remove (file);
        free (file);
    }
    zsys_dir_delete ("%s", dir);
    char *topology = zsys_sprintf ("%s.topology.yaml", dir);
    remove (topology);
    free (topology);
    zsys_dir_delete ("%s", template);
    free (first_msg);
    free (dir);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("broker");
    TCase *tcase = tcase_create ("core");
    /* the make check default (CK_DEFAULT_TIMEOUT): room for test_churn's
       bound on a loaded machine */
    tcase_set_timeout (tcase, 120);
    tcase_add_test (tcase, test_pub_deliver_ack);
    tcase_add_test (tcase, test_errors);
    tcase_add_test (tcase, test_rejects);
    tcase_add_test (tcase, test_retry_then_dead_letter_agent);
    tcase_add_test (tcase, test_nack);
    tcase_add_test (tcase, test_max_attempts_to_store_and_ttl);
    tcase_add_test (tcase, test_credit_window);
    tcase_add_test (tcase, test_competing_consumers);
    tcase_add_test (tcase, test_heartbeat_death_and_bye);
    tcase_add_test (tcase, test_strict_order_and_seq);
    tcase_add_test (tcase, test_request_reply);
    tcase_add_test (tcase, test_request_timeout_and_other_replica);
    tcase_add_test (tcase, test_tensor_zero_copy);
    tcase_add_test (tcase, test_garbage_flood);
    tcase_add_test (tcase, test_reload);
    tcase_add_test (tcase, test_two_brokers_and_durable_refused);
    tcase_add_test (tcase, test_filter_pipeline);
    tcase_add_test (tcase, test_churn);
    tcase_add_test (tcase, test_durable_restart);
    suite_add_tcase (suite, tcase);
    SRunner *runner = srunner_create (suite);
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    /* again with every edge durable (LMDB store, outbox, group commit):
       the behaviour must not change */
    setenv ("AB_TEST_DURABLE", "1", 1);
    printf ("again with durable edges:\n");
    srunner_run_all (runner, CK_NORMAL);
    failed += srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
