/*  check_agent - the C agent API against a fake broker

    The fake broker is a ROUTER socket driven by a per-test script in a
    thread. A script checks the exact frames the library sends and answers
    with frames of its choosing, good and bad. A failed check in the
    script is recorded and asserted by the main thread after the join. */

#include <check.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "agentbus.h"
#include "ab_check.h"

#define MAX_ATTACH 16
#define WAIT_MS 20000 /* for what must come: generous on a loaded machine */

typedef struct _fake_t fake_t;
typedef void (script_fn) (fake_t *f);

struct _fake_t {
    void *ctx;          /* the fake broker's own context */
    void *router;       /* its ROUTER socket */
    char endpoint[256]; /* where it is bound */
    zmq_msg_t peer;     /* routing id of the last sender */
    pthread_t thread;   /* runs the script */
    script_fn *script;  /* the test's broker side */
    char failure[512];  /* first failed check, or "" */
    char last_id[160];  /* id of the last PUB/REQ seen */
    char last_peer[64]; /* routing id of the last sender, as hex */
};

/* One message as the fake broker received it. */
typedef struct {
    size_t frames;                   /* frames after the routing id */
    bool signature_ok;               /* frame 0 is ABP/1 */
    char command[32];                /* frame 1 */
    json_t *header;                  /* frame 2 parsed, or NULL */
    char *payload;                   /* frame 3 as text, or NULL */
    size_t attachments;              /* frames 4… */
    size_t sizes[MAX_ATTACH];        /* their sizes */
    unsigned char first[MAX_ATTACH]; /* their first byte */
} fmsg_t;

#define EXPECT(cond)                                                           \
    do {                                                                       \
        if (!(cond)) {                                                         \
            if (!f->failure[0])                                                \
                snprintf (f->failure, sizeof f->failure, "%s:%d: %s [%s]",     \
                          __FILE__, __LINE__, #cond, m.command);               \
            return;                                                            \
        }                                                                      \
    } while (0)

static void
fmsg_clear (fmsg_t *m)
{
    json_decref (m->header);
    free (m->payload);
    memset (m, 0, sizeof *m);
}

static void
s_peer_hex (fake_t *f)
{
    const unsigned char *id = zmq_msg_data (&f->peer);
    size_t size = zmq_msg_size (&f->peer);
    f->last_peer[0] = 0;
    for (size_t i = 0; i < size && i < 31; i++)
        sprintf (f->last_peer + 2 * i, "%02x", id[i]);
}

/* Receives one message within `timeout_ms`; false when none came. */
static bool
fake_recv (fake_t *f, fmsg_t *m, int timeout_ms)
{
    fmsg_clear (m);
    zmq_pollitem_t item = {f->router, 0, ZMQ_POLLIN, 0};
    if (zmq_poll (&item, 1, timeout_ms) <= 0)
        return false;
    zmq_msg_close (&f->peer);
    zmq_msg_init (&f->peer);
    zmq_msg_recv (&f->peer, f->router, 0);
    s_peer_hex (f);
    bool more = zmq_msg_more (&f->peer);
    while (more) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        zmq_msg_recv (&frame, f->router, 0);
        more = zmq_msg_more (&frame);
        const char *data = zmq_msg_data (&frame);
        size_t size = zmq_msg_size (&frame);
        if (m->frames == 0)
            m->signature_ok = size == 5 && memcmp (data, "ABP/1", 5) == 0;
        else if (m->frames == 1 && size < sizeof m->command)
            memcpy (m->command, data, size);
        else if (m->frames == 2)
            m->header = json_loadb (data, size, 0, NULL);
        else if (m->frames == 3)
            m->payload = strndup (data, size);
        else if (m->attachments < MAX_ATTACH) {
            m->sizes[m->attachments] = size;
            m->first[m->attachments++] = size ? (unsigned char)data[0] : 0;
        }
        m->frames++;
        zmq_msg_close (&frame);
    }
    const char *id = json_string_value (json_object_get (m->header, "id"));
    if (id)
        snprintf (f->last_id, sizeof f->last_id, "%s", id);
    return true;
}

/* Receives a message and checks its signature and command. */
static bool
fake_expect (fake_t *f, fmsg_t *m, const char *command)
{
    return fake_recv (f, m, WAIT_MS) && m->signature_ok &&
           strcmp (m->command, command) == 0 && json_is_object (m->header);
}

/* Sends raw frames to the last sender. */
static void
fake_send_raw (fake_t *f, const char *const *frames, const size_t *sizes,
               size_t count)
{
    zmq_msg_t peer;
    zmq_msg_init (&peer);
    zmq_msg_copy (&peer, &f->peer);
    zmq_msg_send (&peer, f->router, ZMQ_SNDMORE);
    for (size_t i = 0; i < count; i++) {
        size_t size = sizes ? sizes[i] : strlen (frames[i]);
        zmq_send (f->router, frames[i], size, i + 1 < count ? ZMQ_SNDMORE : 0);
    }
}

/* Sends an ABP/1 message: header text, then payload and attachment texts
   (NULL ends the list). */
static void
fake_send (fake_t *f, const char *command, const char *header, ...)
{
    const char *frames[3 + 1 + MAX_ATTACH] = {"ABP/1", command, header};
    size_t count = 3;
    va_list args;
    va_start (args, header);
    const char *body;
    while (count < 3 + 1 + MAX_ATTACH && (body = va_arg (args, const char *)))
        frames[count++] = body;
    va_end (args);
    fake_send_raw (f, frames, NULL, count);
}

/* HELLO → WELCOME, checking the HELLO. */
static bool
fake_welcome (fake_t *f, fmsg_t *m)
{
    if (!fake_expect (f, m, "HELLO") || m->frames != 3)
        return false;
    fake_send (f, "WELCOME",
               "{\"agent\":\"tester\",\"heartbeat_ms\":1000,"
               "\"topology\":\"demo@abc123\"}",
               NULL);
    return true;
}

static void *
s_fake_thread (void *arg)
{
    fake_t *f = arg;
    f->script (f);
    return NULL;
}

static fake_t *
fake_start (script_fn *script)
{
    fake_t *f = calloc (1, sizeof *f);
    ck_assert_ptr_nonnull (f);
    f->ctx = zmq_ctx_new ();
    f->router = zmq_socket (f->ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt (f->router, ZMQ_LINGER, &linger, sizeof linger);
    ck_assert_int_eq (zmq_bind (f->router, "tcp://127.0.0.1:*"), 0);
    size_t size = sizeof f->endpoint;
    zmq_getsockopt (f->router, ZMQ_LAST_ENDPOINT, f->endpoint, &size);
    zmq_msg_init (&f->peer);
    f->script = script;
    ck_assert_int_eq (pthread_create (&f->thread, NULL, s_fake_thread, f), 0);
    return f;
}

static void
fake_finish (fake_t *f)
{
    pthread_join (f->thread, NULL);
    zmq_msg_close (&f->peer);
    zmq_close (f->router);
    zmq_ctx_term (f->ctx);
    char failure[sizeof f->failure];
    memcpy (failure, f->failure, sizeof failure);
    free (f);
    ck_assert_msg (failure[0] == 0, "fake broker: %s", failure);
}

static ab_agent_t *
s_agent (fake_t *f, int timeout_ms, int heartbeat_ms)
{
    ab_agent_options_t options = {.credit = 4,
                                  .instance = "t1",
                                  .timeout_ms = timeout_ms,
                                  .heartbeat_ms = heartbeat_ms};
    ab_agent_t *agent = ab_agent_new (f->endpoint, "tester", &options);
    ck_assert_ptr_nonnull (agent);
    return agent;
}

static bool
s_header_is (const json_t *header, const char *expected)
{
    json_t *want = json_loads (expected, 0, NULL);
    bool equal = want && json_equal (header, want);
    json_decref (want);
    return equal;
}

/* --- connect --------------------------------------------------------- */

static void
script_connect (fake_t *f)
{
    fmsg_t m = {0};
    EXPECT (fake_expect (f, &m, "HELLO"));
    EXPECT (m.frames == 3);
    EXPECT (s_header_is (
        m.header, "{\"agent\":\"tester\",\"credit\":4,\"instance\":\"t1\"}"));
    fake_send (f, "WELCOME",
               "{\"agent\":\"tester\",\"heartbeat_ms\":250,"
               "\"topology\":\"demo@abc123\"}",
               NULL);
    EXPECT (fake_expect (f, &m, "CREDIT"));
    EXPECT (s_header_is (m.header, "{\"credit\":9}"));
    EXPECT (fake_expect (f, &m, "BYE"));
    EXPECT (m.frames == 3 && s_header_is (m.header, "{}"));
    fmsg_clear (&m);
}

START_TEST (test_connect_welcome)
{
    fake_t *f = fake_start (script_connect);
    ab_agent_t *agent = s_agent (f, WAIT_MS, 0);
    ck_assert (!ab_agent_connected (agent));
    ck_assert_int_eq (ab_agent_connect (agent), 0);
    ck_assert (ab_agent_connected (agent));
    ck_assert_str_eq (ab_agent_topology (agent), "demo@abc123");
    ck_assert_int_eq (ab_agent_heartbeat_ms (agent), 250);
    ck_assert_str_eq (ab_agent_name (agent), "tester");
    ck_assert_int_eq (ab_agent_credit (agent, 0), AB_EINVAL);
    ck_assert_int_eq (ab_agent_credit (agent, 9), 0);
    ab_agent_destroy (&agent);
    ck_assert_ptr_null (agent);
    ab_agent_destroy (&agent);
    fake_finish (f);
}
END_TEST

static void
script_refuse (fake_t *f)
{
    fmsg_t m = {0};
    EXPECT (fake_expect (f, &m, "HELLO"));
    fake_send (f, "ERROR", "{\"code\":\"unknown_agent\",\"message\":\"no\"}",
               NULL);
    EXPECT (fake_expect (f, &m, "HELLO"));
    fmsg_clear (&m); /* no answer: the agent times out */
}

START_TEST (test_connect_refused_and_timeout)
{
    fake_t *f = fake_start (script_refuse);
    /* 2 s: the first call's answer comes in time on a loaded machine too;
       the second call gets none and times out */
    ab_agent_t *agent = s_agent (f, 2000, 0);
    ck_assert_int_eq (ab_agent_connect (agent), AB_ENOENT);
    ck_assert_str_eq (ab_agent_last_error (agent), "unknown_agent");
    ck_assert_int_eq (ab_agent_connect (agent), AB_ETIMEDOUT);
    ck_assert (!ab_agent_connected (agent));
    ab_agent_destroy (&agent);
    fake_finish (f);
}
END_TEST

static atomic_int s_freed;

static void
s_count_free (void *data, void *hint)
{
    ck_assert_ptr_eq (hint, &s_freed);
    free (data);
    atomic_fetch_add (&s_freed, 1);
}

START_TEST (test_bad_arguments)
{
    ck_assert_ptr_null (ab_agent_new (NULL, "a", NULL));
    ck_assert_ptr_null (ab_agent_new ("tcp://127.0.0.1:1", "", NULL));
    ab_agent_options_t bad = {.credit = -1};
    ck_assert_ptr_null (ab_agent_new ("tcp://127.0.0.1:1", "a", &bad));
    ab_agent_t *agent = ab_agent_new ("tcp://127.0.0.1:1", "a", NULL);
    ck_assert_ptr_nonnull (agent);
    ab_header_t header = {.type = "t"};
    /* Not connected: refused, and the attachment is still released. */
    atomic_store (&s_freed, 0);
    ab_attachment_t a = {malloc (8), 8, s_count_free, &s_freed};
    ck_assert_int_eq (ab_agent_publish_text (agent, &header, "{}", &a, 1),
                      AB_ESTATE);
    ck_assert_int_eq (atomic_load (&s_freed), 1);
    ab_attachment_t null_data = {NULL, 8, NULL, NULL};
    ck_assert_int_eq (
        ab_agent_publish_text (agent, &header, "{}", &null_data, 1), AB_EINVAL);
    ab_delivery_t *delivery = NULL;
    ck_assert_int_eq (ab_agent_receive (agent, 0, &delivery), AB_ESTATE);
    ck_assert_int_eq (ab_agent_poll (agent, 0), AB_ESTATE);
    ck_assert_int_eq (ab_agent_ack (agent, NULL), AB_EINVAL);
    ck_assert_int_eq (ab_agent_fd (agent), -1);
    ck_assert_int_eq (ab_agent_next_timeout_ms (agent), -1);
    ck_assert_int_eq (ab_agent_publish (NULL, &header, NULL, NULL, 0),
                      AB_EINVAL);
    ab_agent_destroy (&agent);
}
END_TEST

/* --- publish --------------------------------------------------------- */

static void
script_publish (fake_t *f)
{
    fmsg_t m = {0};
    EXPECT (fake_welcome (f, &m));
    EXPECT (fake_expect (f, &m, "PUB"));
    EXPECT (m.frames == 6 && m.attachments == 2);
    EXPECT (s_header_is (m.header,
                         "{\"type\":\"retrieval.context\",\"version\":2,"
                         "\"id\":\"p-1\",\"seq\":7,\"ttl_ms\":5000,"
                         "\"traceparent\":\"00-ab-cd-01\"}"));
    EXPECT (strcmp (m.payload, "{\"query\":\"q\"}") == 0);
    EXPECT (m.sizes[0] == 3 && m.first[0] == 'x');
    EXPECT (m.sizes[1] == 100000 && m.first[1] == 7);
    fake_send (f, "OK", "{\"id\":\"p-1\",\"routed\":2}", NULL);
    /* Without an id the library makes one, and matches the answer by it. */
    EXPECT (fake_expect (f, &m, "PUB"));
    const char *id = json_string_value (json_object_get (m.header, "id"));
    EXPECT (id && strncmp (id, "tester-", 7) == 0);
    EXPECT (json_object_size (m.header) == 2 && m.frames == 4);
    char header[256];
    snprintf (header, sizeof header,
              "{\"id\":\"%s\",\"code\":\"invalid\",\"message\":\"bad\","
              "\"errors\":[{\"path\":\"/query\",\"keyword\":\"type\"}]}",
              id);
    fake_send (f, "REJECT", header, NULL);
    EXPECT (fake_expect (f, &m, "BYE"));
    fmsg_clear (&m);
}

START_TEST (test_publish_ok_and_reject)
{
    fake_t *f = fake_start (script_publish);
    ab_agent_t *agent = s_agent (f, WAIT_MS, 0);
    ck_assert_int_eq (ab_agent_connect (agent), 0);
    atomic_store (&s_freed, 0);
    char *small = strdup ("xyz");
    unsigned char *big = calloc (1, 100000);
    big[0] = 7;
    ab_attachment_t attachments[] = {
        {small, 3, s_count_free, &s_freed},
        {big, 100000, s_count_free, &s_freed},
    };
    ab_header_t header = {.type = "retrieval.context",
                          .version = 2,
                          .id = "p-1",
                          .has_seq = true,
                          .seq = 7,
                          .ttl_ms = 5000,
                          .traceparent = "00-ab-cd-01"};
    json_t *payload = json_pack ("{s:s}", "query", "q");
    ck_assert_int_eq (
        ab_agent_publish (agent, &header, payload, attachments, 2), 2);
    ab_header_t plain = {.type = "retrieval.context"};
    ck_assert_int_eq (ab_agent_publish (agent, &plain, payload, NULL, 0),
                      AB_EREJECTED);
    const json_t *reject = ab_agent_last_reject (agent);
    ck_assert_ptr_nonnull (reject);
    ck_assert_str_eq (json_string_value (json_object_get (reject, "code")),
                      "invalid");
    ck_assert_int_eq (json_array_size (json_object_get (reject, "errors")), 1);
    ck_assert_str_eq (ab_agent_last_error (agent), "invalid");
    /* Bad headers never reach the wire. */
    ab_header_t untyped = {.version = 1};
    ck_assert_int_eq (ab_agent_publish (agent, &untyped, payload, NULL, 0),
                      AB_EINVAL);
    char long_id[200];
    memset (long_id, 'i', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = 0;
    ab_header_t long_header = {.type = "t", .id = long_id};
    ck_assert_int_eq (ab_agent_publish (agent, &long_header, payload, NULL, 0),
                      AB_EINVAL);
    json_decref (payload);
    ab_agent_destroy (&agent);
    ck_assert_int_eq (atomic_load (&s_freed), 2);
    fake_finish (f);
}
END_TEST

/* Text that is not UTF-8 would make a header that is not JSON: refused
   before it reaches the wire, in the header and in a NACK alike. */
static void
script_not_utf8 (fake_t *f)
{
    fmsg_t m = {0};
    EXPECT (fake_welcome (f, &m));
    fake_send (f, "DELIVER", "{\"msg\":\"d-1\",\"type\":\"t\"}", "{}", NULL);
    /* the first thing that arrives is the good PUB */
    EXPECT (fake_expect (f, &m, "PUB"));
    EXPECT (s_header_is (m.header, "{\"type\":\"t\",\"id\":\"caf\u00e9\"}"));
    fake_send (f, "OK", "{\"id\":\"caf\u00e9\",\"routed\":1}", NULL);
    EXPECT (fake_expect (f, &m, "BYE"));
    fmsg_clear (&m);
}

START_TEST (test_not_utf8_never_sent)
{
    fake_t *f = fake_start (script_not_utf8);
    ab_agent_t *agent = s_agent (f, 2000, 0);
    ck_assert_int_eq (ab_agent_connect (agent), 0);
    ab_delivery_t *d = NULL;
    ck_assert_int_eq (ab_agent_receive (agent, WAIT_MS, &d), 0);
    ck_assert_int_eq (ab_agent_nack (agent, d, false, "bad \xff byte"),
                      AB_EINVAL);
    ab_delivery_destroy (&d);
    ab_header_t bad_type = {.type = "t\xc3"};
    ck_assert_int_eq (ab_agent_publish_text (agent, &bad_type, "{}", NULL, 0),
                      AB_EINVAL);
    ab_header_t bad_trace = {.type = "t", .traceparent = "\xed\xa0\x80"};
    ck_assert_int_eq (ab_agent_publish_text (agent, &bad_trace, "{}", NULL, 0),
                      AB_EINVAL);
    ab_header_t good = {.type = "t", .id = "caf\xc3\xa9"};
    ck_assert_int_eq (ab_agent_publish_text (agent, &good, "{}", NULL, 0), 1);
    ab_agent_destroy (&agent);
    fake_finish (f);
}
END_TEST

/* --- answers interleaved with deliveries, stale and bad frames ------- */

static void
script_interleave (fake_t *f)
{
    fmsg_t m = {0};
    EXPECT (fake_welcome (f, &m));
    EXPECT (fake_expect (f, &m, "PUB"));
    fake_send (f, "DELIVER",
               "{\"msg\":\"m1\",\"type\":\"t\",\"version\":1,\"from\":\"x\","
               "\"attempt\":1}",
               "{\"n\":1}", NULL);
    fake_send (f, "OK", "{\"id\":\"stale\",\"routed\":9}", NULL);
    fake_send (f, "REPLY", "{\"id\":\"old-req\",\"partial\":false}", "{}",
               NULL);
    fake_send (f, "PONG", "{}", NULL);
    fake_send (f, "ERROR", "{\"code\":\"unknown_message\"}", NULL);
    fake_send (f, "DELIVER", "{\"msg\":\"m2\",\"type\":\"t\"}", "[2]", NULL);
    fake_send (f, "OK", "{\"id\":\"mine\",\"routed\":1}", NULL);
    EXPECT (fake_expect (f, &m, "BYE"));
    fmsg_clear (&m);
}

START_TEST (test_deliveries_buffered_while_waiting)
{
    fake_t *f = fake_start (script_interleave);
    ab_agent_t *agent = s_agent (f, WAIT_MS, 0);
    ck_assert_int_eq (ab_agent_connect (agent), 0);
    ab_header_t header = {.type = "t", .id = "mine"};
    ck_assert_int_eq (ab_agent_publish_text (agent, &header, "{}", NULL, 0), 1);
    ck_assert_uint_eq (ab_agent_pending (agent), 2);
    ck_assert_str_eq (ab_agent_last_error (agent), "unknown_message");
    ab_delivery_t *d = NULL;
    ck_assert_int_eq (ab_agent_receive (agent, 0, &d), 0);
    ck_assert_str_eq (ab_delivery_msg (d), "m1");
    ck_assert_int_eq (ab_delivery_attempt (d), 1);
    ck_assert_int_eq (
        json_integer_value (json_object_get (ab_delivery_payload (d), "n")), 1);
    ab_delivery_destroy (&d);
    ck_assert_int_eq (ab_agent_receive (agent, 0, &d), 0);
    ck_assert_str_eq (ab_delivery_msg (d), "m2");
    ck_assert (json_is_array (ab_delivery_payload (d)));
    ck_assert_int_eq (ab_delivery_version (d), 0);
    ab_delivery_destroy (&d);
    ck_assert_int_eq (ab_agent_receive (agent, 0, &d), AB_ETIMEDOUT);
    ck_assert_uint_eq (ab_agent_bad_messages (agent), 0);
    ab_agent_destroy (&agent);
    fake_finish (f);
}
END_TEST

static void
script_garbage (fake_t *f)
{
    fmsg_t m = {0};
    EXPECT (fake_welcome (f, &m));
    EXPECT (fake_expect (f, &m, "PUB"));
    static const char *const one[] = {"ABP/1"};
    fake_send_raw (f, one, NULL, 1);
    static const char *const wrong_sig[] = {"ABP/2", "OK", "{}"};
    fake_send_raw (f, wrong_sig, NULL, 3);
    static const char *const nul[] = {"ABP/1", "OK\0X", "{}"};
    static const size_t nul_sizes[] = {5, 4, 2};
    fake_send_raw (f, nul, nul_sizes, 3);
    fake_send (f, "WHAT", "{}", NULL);
    fake_send (f, "ok", "{}", NULL);
    fake_send (f, "OK", "not json", NULL);
    fake_send (f, "OK", "[1,2]", NULL);
    fake_send (f, "OK", "{\"id\":\"g\"}", "{}", NULL); /* payload not allowed */
    fake_send (f, "DELIVER", "{\"msg\":\"m\"}", NULL); /* payload missing */
    fake_send (f, "DELIVER", "{\"msg\":\"m\"}", "{broken", NULL);
    fake_send (f, "DELIVER", "{\"type\":\"t\"}", "{}", NULL); /* no msg */
    fake_send (f, "DELIVER", "{\"msg\":5}", "{}", NULL);
    fake_send (f, "PONG", "{}", "{}", NULL);
    fake_send (f, "OK", "{\"id\":\"g\",\"routed\":\"many\"}", NULL);
    EXPECT (fake_expect (f, &m, "BYE"));
    fmsg_clear (&m);
}

START_TEST (test_bad_frames_from_broker)
{
    fake_t *f = fake_start (script_garbage);
    ab_agent_t *agent = s_agent (f, WAIT_MS, 0);
    ck_assert_int_eq (ab_agent_connect (agent), 0);
    ab_header_t header = {.type = "t", .id = "g"};
    /* `routed` not a number: the call still succeeds, with 0. */
    ck_assert_int_eq (ab_agent_publish_text (agent, &header, "{}", NULL, 0), 0);
    ck_assert_uint_eq (ab_agent_bad_messages (agent), 13);
    ck_assert_uint_eq (ab_agent_pending (agent), 0);
    ab_agent_destroy (&agent);
    fake_finish (f);
}
END_TEST

/* Random frames, biased towards a valid start so the checks past the
   signature and command are reached too; a fixed seed keeps it
   reproducible. */
static void
script_fuzz (fake_t *f)
{
    static const char *const words[] = {"WELCOME", "OK",   "REJECT", "DELIVER",
                                        "REPLY",   "PONG", "ERROR",  "PING"};
    static const char *const headers[] = {"{}",
                                          "{\"msg\":\"m\"}",
                                          "{\"id\":\"x\",\"routed\":-5}",
                                          "{\"code\":7}",
                                          "{\"msg\":\"m\",\"request\":\"yes\"}",
                                          "{\"id\":\"other\",\"partial\":1}",
                                          "[]",
                                          "\"s\"",
                                          "{\"a\":"};
    fmsg_t m = {0};
    EXPECT (fake_welcome (f, &m));
    EXPECT (fake_expect (f, &m, "PUB"));
    unsigned seed = 42;
    char noise[64];
    for (int i = 0; i < 500; i++) {
        const char *frames[7];
        size_t sizes[7];
        size_t count = 1 + (size_t)rand_r (&seed) % 7;
        for (size_t k = 0; k < count; k++) {
            int pick = rand_r (&seed) % 4;
            if (k == 0 && pick)
                frames[k] = "ABP/1";
            else if (k == 1 && pick)
                frames[k] = words[rand_r (&seed) % 8];
            else if (k == 2 && pick)
                frames[k] = headers[rand_r (&seed) % 9];
            else {
                for (size_t b = 0; b < sizeof noise; b++)
                    noise[b] = (char)rand_r (&seed);
                frames[k] = noise;
                sizes[k] = (size_t)rand_r (&seed) % sizeof noise;
                continue;
            }
            sizes[k] = strlen (frames[k]);
        }
        fake_send_raw (f, frames, sizes, count);
    }
    fake_send (f, "OK", "{\"id\":\"fz\",\"routed\":1}", NULL);
    EXPECT (fake_expect (f, &m, "BYE"));
    fmsg_clear (&m);
}

START_TEST (test_random_frames_from_broker)
{
    fake_t *f = fake_start (script_fuzz);
    ab_agent_t *agent = s_agent (f, 5000, 0);
    ck_assert_int_eq (ab_agent_connect (agent), 0);
    ab_header_t header = {.type = "t", .id = "fz"};
    ck_assert_int_eq (ab_agent_publish_text (agent, &header, "{}", NULL, 0), 1);
    ck_assert_uint_gt (ab_agent_bad_messages (agent), 100);
    /* Whatever was buffered is well-formed enough to hand out. */
    ab_delivery_t *d = NULL;
    while (ab_agent_receive (agent, 0, &d) == 0) {
        ck_assert_ptr_nonnull (ab_delivery_msg (d));
        ck_assert_ptr_nonnull (ab_delivery_payload (d));
        ab_delivery_destroy (&d);
    }
    ab_agent_destroy (&agent);
    fake_finish (f);
}
END_TEST

static void
script_protocol_error (fake_t *f)
{
    fmsg_t m = {0};
    EXPECT (fake_welcome (f, &m));
    EXPECT (fake_expect (f, &m, "PUB"));
    fake_send (f, "ERROR", "{\"code\":\"protocol\",\"message\":\"x\"}", NULL);
    EXPECT (fake_expect (f, &m, "PUB"));
    fmsg_clear (&m); /* silence: the agent gives up */
}

START_TEST (test_protocol_error_and_timeout)
{
    fake_t *f = fake_start (script_protocol_error);
    /* 2 s: the first call's answer comes in time on a loaded machine too;
       the second call gets none and times out */
    ab_agent_t *agent = s_agent (f, 2000, 0);
    ck_assert_int_eq (ab_agent_connect (agent), 0);
    ab_header_t header = {.type = "t"};
    ck_assert_int_eq (ab_agent_publish_text (agent, &header, "{}", NULL, 0),
                      AB_EPROTO);
    ck_assert_int_eq (ab_agent_publish_text (agent, &header, "{}", NULL, 0),
                      AB_ETIMEDOUT);
    ab_agent_destroy (&agent);
    fake_finish (f);
}
END_TEST

/* --- consuming ------------------------------------------------------- */

static void
script_consume (fake_t *f)
{
    fmsg_t m = {0};
    EXPECT (fake_welcome (f, &m));
    const char *frames[4 + 12] = {
        "ABP/1", "DELIVER",
        "{\"msg\":\"d-1\",\"type\":\"train.gradient\",\"version\":3,"
        "\"from\":\"trainer\",\"id\":\"g7\",\"attempt\":2,\"seq\":41,"
        "\"traceparent\":\"00-1-2-01\",\"extra\":true}",
        "{\"grad\":{\"dtype\":\"float32\",\"shape\":[2,3],\"frame\":0}}"};
    size_t sizes[4 + 12] = {5, 7, strlen (frames[2]), strlen (frames[3])};
    static float grad[6] = {1, 2, 3, 4, 5, 6};
    frames[4] = (const char *)grad;
    sizes[4] = sizeof grad;
    for (int i = 5; i < 16; i++) {
        frames[i] = "abcdefghijk";
        sizes[i] = (size_t)i - 4;
    }
    fake_send_raw (f, frames, sizes, 16);
    EXPECT (fake_expect (f, &m, "ACK"));
    EXPECT (m.frames == 3 && s_header_is (m.header, "{\"msg\":\"d-1\"}"));
    fake_send (f, "DELIVER", "{\"msg\":\"d-2\",\"type\":\"t\"}", "{}", NULL);
    EXPECT (fake_expect (f, &m, "NACK"));
    EXPECT (s_header_is (
        m.header, "{\"msg\":\"d-2\",\"requeue\":false,\"reason\":\"bad\"}"));
    EXPECT (fake_expect (f, &m, "BYE"));
    fmsg_clear (&m);
}

START_TEST (test_receive_ack_nack)
{
    fake_t *f = fake_start (script_consume);
    ab_agent_t *agent = s_agent (f, WAIT_MS, 0);
    ck_assert_int_eq (ab_agent_connect (agent), 0);
    ab_delivery_t *d = NULL;
    ck_assert_int_eq (ab_agent_receive (agent, WAIT_MS, &d), 0);
    ck_assert_str_eq (ab_delivery_type (d), "train.gradient");
    ck_assert_int_eq (ab_delivery_version (d), 3);
    ck_assert_str_eq (ab_delivery_from (d), "trainer");
    ck_assert_str_eq (ab_delivery_id (d), "g7");
    ck_assert_int_eq (ab_delivery_attempt (d), 2);
    int64_t seq = 0;
    ck_assert (ab_delivery_seq (d, &seq));
    ck_assert_int_eq (seq, 41);
    ck_assert_str_eq (ab_delivery_traceparent (d), "00-1-2-01");
    ck_assert (!ab_delivery_is_request (d));
    ck_assert (
        json_is_true (json_object_get (ab_delivery_header (d), "extra")));
    ck_assert_uint_eq (ab_delivery_attachment_count (d), 12);
    size_t size = 0;
    const char *eleventh = ab_delivery_attachment (d, 11, &size);
    ck_assert_uint_eq (size, 11);
    ck_assert_int_eq (memcmp (eleventh, "abcdefghijk", 11), 0);
    ck_assert_ptr_null (ab_delivery_attachment (d, 12, &size));
    const void *data = NULL;
    ab_dtype_t dtype = AB_DTYPE_INVALID;
    int64_t shape[4];
    size_t ndim = 0;
    ck_assert_int_eq (
        ab_delivery_tensor (d, "grad", &data, &dtype, shape, 4, &ndim), 0);
    ck_assert_int_eq (dtype, AB_DTYPE_FLOAT32);
    ck_assert_uint_eq (ndim, 2);
    ck_assert_int_eq (shape[0] * shape[1], 6);
    ck_assert (((const float *)data)[5] == 6.0f);
    ck_assert_int_eq (
        ab_delivery_tensor (d, "grad", &data, &dtype, shape, 1, &ndim),
        AB_ELIMIT);
    ck_assert_int_eq (
        ab_delivery_tensor (d, "none", &data, &dtype, shape, 4, &ndim),
        AB_ENOENT);
    /* REP needs a request delivery. */
    json_t *empty = json_object ();
    ck_assert_int_eq (ab_agent_reply (agent, d, empty, false, NULL, 0),
                      AB_EINVAL);
    json_decref (empty);
    ck_assert_int_eq (ab_agent_ack (agent, d), 0);
    ab_delivery_destroy (&d);
    ck_assert_int_eq (ab_agent_receive (agent, WAIT_MS, &d), 0);
    ck_assert (!ab_delivery_seq (d, &seq));
    ck_assert_ptr_null (ab_delivery_traceparent (d));
    ck_assert_int_eq (ab_agent_nack (agent, d, false, "bad"), 0);
    ab_delivery_destroy (&d);
    ab_agent_destroy (&agent);
    fake_finish (f);
}
END_TEST

/* --- requests and replies -------------------------------------------- */

static void
script_request (fake_t *f)
{
    fmsg_t m = {0};
    EXPECT (fake_welcome (f, &m));
    EXPECT (fake_expect (f, &m, "REQ"));
    EXPECT (m.frames == 4);
    const char *id = json_string_value (json_object_get (m.header, "id"));
    EXPECT (id);
    EXPECT (json_integer_value (json_object_get (m.header, "timeout_ms")) ==
            1000);
    char header[256];
    snprintf (header, sizeof header,
              "{\"id\":\"%s\",\"type\":\"llm.completion\",\"partial\":true}",
              id);
    fake_send (f, "REPLY", header, "{\"text\":\"He\"}", NULL);
    fake_send (f, "DELIVER", "{\"msg\":\"d\",\"type\":\"t\"}", "{}", NULL);
    fake_send (f, "REPLY", header, "{\"text\":\"llo\"}", NULL);
    snprintf (header, sizeof header,
              "{\"id\":\"%s\",\"type\":\"llm.completion\",\"partial\":false,"
              "\"from\":\"llm\"}",
              id);
    fake_send (f, "REPLY", header, "{\"text\":\"Hello\"}", "AT", NULL);
    /* Second request: the broker gives up. */
    EXPECT (fake_expect (f, &m, "REQ"));
    snprintf (header, sizeof header, "{\"id\":\"%s\",\"code\":\"timeout\"}",
              f->last_id);
    fake_send (f, "REJECT", header, NULL);
    EXPECT (fake_expect (f, &m, "BYE"));
    fmsg_clear (&m);
}

static void
s_collect (ab_delivery_t *partial, void *arg)
{
    json_t *pieces = arg;
    ck_assert (ab_delivery_is_partial (partial));
    json_array_append (pieces,
                       json_object_get (ab_delivery_payload (partial), "text"));
}

START_TEST (test_request_streamed)
{
    fake_t *f = fake_start (script_request);
    ab_agent_t *agent = s_agent (f, WAIT_MS, 0);
    ck_assert_int_eq (ab_agent_connect (agent), 0);
    ab_header_t header = {.type = "llm.prompt", .timeout_ms = 1000};
    json_t *payload = json_pack ("{s:s}", "prompt", "hi");
    json_t *pieces = json_array ();
    ab_delivery_t *reply = NULL;
    ck_assert_int_eq (ab_agent_request (agent, &header, payload, NULL, 0,
                                        s_collect, pieces, &reply),
                      0);
    ck_assert_uint_eq (json_array_size (pieces), 2);
    ck_assert_str_eq (json_string_value (json_array_get (pieces, 1)), "llo");
    ck_assert (!ab_delivery_is_partial (reply));
    ck_assert_str_eq (ab_delivery_from (reply), "llm");
    ck_assert_uint_eq (ab_delivery_attachment_count (reply), 1);
    ck_assert_uint_eq (ab_agent_pending (agent), 1);
    ab_delivery_destroy (&reply);
    ck_assert_int_eq (
        ab_agent_request (agent, &header, payload, NULL, 0, NULL, NULL, &reply),
        AB_EREJECTED);
    ck_assert_ptr_null (reply);
    ck_assert_str_eq (ab_agent_last_error (agent), "timeout");
    json_decref (pieces);
    json_decref (payload);
    ab_agent_destroy (&agent);
    fake_finish (f);
}
END_TEST

static void
script_reply (fake_t *f)
{
    fmsg_t m = {0};
    EXPECT (fake_welcome (f, &m));
    fake_send (f, "DELIVER",
               "{\"msg\":\"r-1\",\"type\":\"llm.prompt\",\"request\":true}",
               "{\"prompt\":\"hi\"}", NULL);
    EXPECT (fake_expect (f, &m, "REP"));
    EXPECT (s_header_is (m.header, "{\"msg\":\"r-1\",\"partial\":true}"));
    EXPECT (strcmp (m.payload, "{\"text\":\"He\"}") == 0);
    fake_send (f, "OK", "{\"msg\":\"r-1\"}", NULL);
    EXPECT (fake_expect (f, &m, "REP"));
    EXPECT (s_header_is (m.header, "{\"msg\":\"r-1\",\"partial\":false}"));
    fake_send (f, "REJECT",
               "{\"msg\":\"r-1\",\"code\":\"invalid\",\"errors\":[]}", NULL);
    EXPECT (fake_expect (f, &m, "REP"));
    EXPECT (m.attachments == 1 && m.sizes[0] == 16);
    fake_send (f, "OK", "{\"msg\":\"r-1\"}", NULL);
    EXPECT (fake_expect (f, &m, "BYE"));
    fmsg_clear (&m);
}

START_TEST (test_reply_to_request)
{
    fake_t *f = fake_start (script_reply);
    ab_agent_t *agent = s_agent (f, WAIT_MS, 0);
    ck_assert_int_eq (ab_agent_connect (agent), 0);
    ab_delivery_t *d = NULL;
    ck_assert_int_eq (ab_agent_receive (agent, WAIT_MS, &d), 0);
    ck_assert (ab_delivery_is_request (d));
    json_t *piece = json_pack ("{s:s}", "text", "He");
    ck_assert_int_eq (ab_agent_reply (agent, d, piece, true, NULL, 0), 0);
    ck_assert_int_eq (ab_agent_reply (agent, d, piece, false, NULL, 0),
                      AB_EREJECTED);
    /* A tensor in the final reply. */
    static const double values[2] = {0.5, 1.5};
    ab_attachment_t attachment;
    int64_t shape[] = {2};
    ck_assert_int_eq (ab_attach_tensor (piece, "logits", 0, values,
                                        AB_DTYPE_FLOAT64, shape, 1, NULL, NULL,
                                        &attachment),
                      0);
    ck_assert_uint_eq (attachment.size, 16);
    json_t *ref = json_object_get (piece, "logits");
    ck_assert_str_eq (json_string_value (json_object_get (ref, "dtype")),
                      "float64");
    ck_assert_int_eq (ab_attach_tensor (piece, "x", 0, values, AB_DTYPE_INVALID,
                                        shape, 1, NULL, NULL, &attachment),
                      AB_EINVAL);
    ck_assert_int_eq (ab_attach_tensor (piece, "logits", 0, values,
                                        AB_DTYPE_FLOAT64, shape, 1, NULL, NULL,
                                        &attachment),
                      0);
    ck_assert_int_eq (ab_agent_reply (agent, d, piece, false, &attachment, 1),
                      0);
    json_decref (piece);
    ab_delivery_destroy (&d);
    ab_agent_destroy (&agent);
    fake_finish (f);
}
END_TEST

/* --- re-registration and heartbeats ---------------------------------- */

static void
script_not_registered (fake_t *f)
{
    fmsg_t m = {0};
    EXPECT (fake_welcome (f, &m));
    EXPECT (fake_expect (f, &m, "PUB"));
    char id[160];
    snprintf (id, sizeof id, "%s", f->last_id);
    fake_send (f, "ERROR", "{\"code\":\"not_registered\"}", NULL);
    EXPECT (fake_welcome (f, &m));
    EXPECT (fake_expect (f, &m, "PUB"));
    EXPECT (strcmp (id, f->last_id) == 0); /* the same command, again */
    char header[256];
    snprintf (header, sizeof header, "{\"id\":\"%s\",\"routed\":3}", id);
    fake_send (f, "OK", header, NULL);
    EXPECT (fake_expect (f, &m, "BYE"));
    fmsg_clear (&m);
}

START_TEST (test_not_registered_says_hello_again)
{
    fake_t *f = fake_start (script_not_registered);
    ab_agent_t *agent = s_agent (f, WAIT_MS, 0);
    ck_assert_int_eq (ab_agent_connect (agent), 0);
    ab_header_t header = {.type = "t"};
    ck_assert_int_eq (ab_agent_publish_text (agent, &header, "{}", NULL, 0), 3);
    ck_assert_uint_eq (ab_agent_reconnects (agent), 1);
    ck_assert (ab_agent_connected (agent));
    ab_agent_destroy (&agent);
    fake_finish (f);
}
END_TEST

static void
script_heartbeat (fake_t *f)
{
    fmsg_t m = {0};
    EXPECT (fake_welcome (f, &m));
    char first_peer[64];
    snprintf (first_peer, sizeof first_peer, "%s", f->last_peer);
    EXPECT (fake_expect (f, &m, "PING"));
    EXPECT (m.frames == 3 && s_header_is (m.header, "{}"));
    fake_send (f, "PONG", "{}", NULL);
    /* Go deaf: the agent must give up on this session and start anew. */
    int pings = 0;
    while (fake_recv (f, &m, WAIT_MS) && strcmp (m.command, "HELLO") != 0)
        pings += strcmp (m.command, "PING") == 0;
    EXPECT (strcmp (m.command, "HELLO") == 0);
    EXPECT (pings >= 1);
    EXPECT (strcmp (first_peer, f->last_peer) != 0); /* a fresh socket */
    fake_send (f, "WELCOME", "{\"agent\":\"tester\",\"heartbeat_ms\":1000}",
               NULL);
    fake_send (f, "DELIVER", "{\"msg\":\"after\",\"type\":\"t\"}", "{}", NULL);
    fmsg_clear (&m);
}

START_TEST (test_heartbeat_and_dead_broker)
{
    fake_t *f = fake_start (script_heartbeat);
    ab_agent_t *agent = s_agent (f, 1000, 50);
    ck_assert_int_eq (ab_agent_connect (agent), 0);
    ck_assert_int_eq (ab_agent_heartbeat_ms (agent), 50); /* the override */
    ck_assert_int_ge (ab_agent_fd (agent), 0);
    ck_assert_int_le (ab_agent_next_timeout_ms (agent), 50);
    ab_delivery_t *d = NULL;
    ck_assert_int_eq (ab_agent_receive (agent, WAIT_MS, &d), 0);
    ck_assert_str_eq (ab_delivery_msg (d), "after");
    ck_assert_uint_eq (ab_agent_reconnects (agent), 1);
    ab_delivery_destroy (&d);
    ab_agent_destroy (&agent);
    fake_finish (f);
}
END_TEST

static void
script_poll (fake_t *f)
{
    fmsg_t m = {0};
    EXPECT (fake_welcome (f, &m));
    fake_send (f, "DELIVER", "{\"msg\":\"p1\",\"type\":\"t\"}", "1", NULL);
    fake_send (f, "DELIVER", "{\"msg\":\"p2\",\"type\":\"t\"}", "2", NULL);
    EXPECT (fake_expect (f, &m, "PING"));
    fake_send (f, "PONG", "{}", NULL);
    fmsg_clear (&m);
}

START_TEST (test_poll_for_event_loops)
{
    fake_t *f = fake_start (script_poll);
    ab_agent_t *agent = s_agent (f, 1000, 100);
    ck_assert_int_eq (ab_agent_connect (agent), 0);
    int pending = 0;
    for (int i = 0; i < 100 && pending < 2; i++)
        pending = ab_agent_poll (agent, 50);
    ck_assert_int_eq (pending, 2);
    /* Polling goes on sending PINGs; the script ends after one PONG. */
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq (ab_agent_poll (agent, 50), 2);
    ck_assert_uint_eq (ab_agent_reconnects (agent), 0);
    ab_agent_destroy (&agent); /* frees the buffered deliveries */
    fake_finish (f);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("agent");
    TCase *tcase = tcase_create ("fake broker");
    tcase_set_timeout (tcase, 30);
    tcase_add_test (tcase, test_connect_welcome);
    tcase_add_test (tcase, test_connect_refused_and_timeout);
    tcase_add_test (tcase, test_bad_arguments);
    tcase_add_test (tcase, test_publish_ok_and_reject);
    tcase_add_test (tcase, test_not_utf8_never_sent);
    tcase_add_test (tcase, test_deliveries_buffered_while_waiting);
    tcase_add_test (tcase, test_bad_frames_from_broker);
    tcase_add_test (tcase, test_random_frames_from_broker);
    tcase_add_test (tcase, test_protocol_error_and_timeout);
    tcase_add_test (tcase, test_receive_ack_nack);
    tcase_add_test (tcase, test_request_streamed);
    tcase_add_test (tcase, test_reply_to_request);
    tcase_add_test (tcase, test_not_registered_says_hello_again);
    tcase_add_test (tcase, test_heartbeat_and_dead_broker);
    tcase_add_test (tcase, test_poll_for_event_loops);
    suite_add_tcase (suite, tcase);
    return ab_check_run (suite);
}
