/*  check_agent_live - the C agent API against the real agentbusd

    Each test starts $AB_BUILDDIR/agentbusd on an ipc endpoint with
    tests/fixtures/agent/ (heartbeat 100 ms). Without the binary the whole
    suite is skipped (exit 77). */

#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentbus.h"
#include "ab_check.h"

extern char **environ;

/* A running agentbusd. */
typedef struct {
    pid_t pid;          /* the process */
    char log[256];      /* its stderr */
    char endpoint[256]; /* where it listens */
} s_broker_t;

static char s_binary[512];

static void
s_broker_start (s_broker_t *broker)
{
    const char *srcdir = getenv ("AB_SRCDIR");
    char config[512];
    snprintf (config, sizeof config, "%s/tests/fixtures/agent/agentbusd.yaml",
              srcdir ? srcdir : ".");
    if (!broker->endpoint[0])
        snprintf (broker->endpoint, sizeof broker->endpoint,
                  "ipc:///tmp/check-agent-live-%d.sock", (int)getpid ());
    snprintf (broker->log, sizeof broker->log, "/tmp/check-agent-live-%d.log",
              (int)getpid ());
    const char *argv[] = {s_binary,     "--config",       config,
                          "--endpoint", broker->endpoint, NULL};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_addopen (&actions, 2, broker->log,
                                      O_WRONLY | O_CREAT | O_APPEND, 0644);
    ck_assert_int_eq (posix_spawn (&broker->pid, s_binary, &actions, NULL,
                                   (char **)argv, environ),
                      0);
    posix_spawn_file_actions_destroy (&actions);
}

static void
s_broker_stop (s_broker_t *broker, int signal)
{
    kill (broker->pid, signal);
    int status;
    waitpid (broker->pid, &status, 0);
}

static ab_agent_t *
s_connect (s_broker_t *broker, const char *name)
{
    ab_agent_t *agent = ab_agent_new (broker->endpoint, name, NULL);
    ck_assert_ptr_nonnull (agent);
    /* HELLO waits in the socket until the broker has bound. */
    ck_assert_int_eq (ab_agent_connect (agent), 0);
    ck_assert_int_eq (ab_agent_heartbeat_ms (agent), 100);
    ck_assert_ptr_nonnull (strstr (ab_agent_topology (agent), "agent-live@"));
    return agent;
}

static const char *
s_reject_code (ab_agent_t *agent)
{
    return json_string_value (
        json_object_get (ab_agent_last_reject (agent), "code"));
}

START_TEST (test_publish_consume_with_tensor)
{
    s_broker_t broker = {0};
    s_broker_start (&broker);
    ab_agent_t *consumer = s_connect (&broker, "consumer");
    ab_agent_t *producer = s_connect (&broker, "producer");
    static const float vec[3] = {1.5f, 2.5f, 3.5f};
    json_t *payload = json_pack ("{s:s}", "text", "hi");
    ab_attachment_t attachment;
    int64_t shape[] = {3};
    ck_assert_int_eq (ab_attach_tensor (payload, "vec", 0, vec,
                                        AB_DTYPE_FLOAT32, shape, 1, NULL, NULL,
                                        &attachment),
                      0);
    ab_header_t header = {.type = "live.note", .id = "n-1"};
    ck_assert_int_eq (
        ab_agent_publish (producer, &header, payload, &attachment, 1), 1);

    ab_delivery_t *d = NULL;
    ck_assert_int_eq (ab_agent_receive (consumer, 5000, &d), 0);
    ck_assert_str_eq (ab_delivery_type (d), "live.note");
    ck_assert_str_eq (ab_delivery_from (d), "producer");
    ck_assert_str_eq (ab_delivery_id (d), "n-1");
    ck_assert_int_eq (ab_delivery_version (d), 1);
    ck_assert_int_eq (ab_delivery_attempt (d), 1);
    const void *data = NULL;
    ab_dtype_t dtype;
    int64_t got[2];
    size_t ndim = 0;
    ck_assert_int_eq (
        ab_delivery_tensor (d, "vec", &data, &dtype, got, 2, &ndim), 0);
    ck_assert_int_eq (got[0], 3);
    ck_assert (((const float *)data)[2] == 3.5f);
    ck_assert_int_eq (ab_agent_ack (consumer, d), 0);
    ab_delivery_destroy (&d);

    /* The broker's refusals come back as AB_EREJECTED with their code. */
    json_object_set_new (payload, "text", json_integer (5));
    json_object_del (payload, "vec");
    ck_assert_int_eq (ab_agent_publish (producer, &header, payload, NULL, 0),
                      AB_EREJECTED);
    ck_assert_str_eq (s_reject_code (producer), "invalid");
    json_t *errors =
        json_object_get (ab_agent_last_reject (producer), "errors");
    ck_assert_str_eq (json_string_value (
                          json_object_get (json_array_get (errors, 0), "path")),
                      "/text");
    ck_assert_int_eq (
        ab_agent_publish_text (producer, &header, "{not json", NULL, 0),
        AB_EREJECTED);
    ck_assert_str_eq (s_reject_code (producer), "malformed");
    ck_assert_int_eq (
        ab_agent_publish_text (consumer, &header, "{\"text\":\"x\"}", NULL, 0),
        AB_EREJECTED);
    ck_assert_str_eq (s_reject_code (consumer), "unroutable");
    json_decref (payload);
    ab_agent_destroy (&producer);
    ab_agent_destroy (&consumer);
    s_broker_stop (&broker, SIGTERM);
}
END_TEST

START_TEST (test_nack_redelivers)
{
    s_broker_t broker = {0};
    s_broker_start (&broker);
    ab_agent_t *consumer = s_connect (&broker, "consumer");
    ab_agent_t *producer = s_connect (&broker, "producer");
    ab_header_t header = {.type = "live.note"};
    ck_assert_int_eq (
        ab_agent_publish_text (producer, &header, "{\"text\":\"x\"}", NULL, 0),
        1);
    ab_delivery_t *d = NULL;
    ck_assert_int_eq (ab_agent_receive (consumer, 5000, &d), 0);
    char msg[256];
    snprintf (msg, sizeof msg, "%s", ab_delivery_msg (d));
    ck_assert_int_eq (ab_agent_nack (consumer, d, true, "later"), 0);
    ab_delivery_destroy (&d);
    ck_assert_int_eq (ab_agent_receive (consumer, 5000, &d), 0);
    ck_assert_str_eq (ab_delivery_msg (d), msg);
    ck_assert_int_eq (ab_delivery_attempt (d), 2);
    ck_assert_int_eq (ab_agent_ack (consumer, d), 0);
    ab_delivery_destroy (&d);
    ck_assert_int_eq (ab_agent_receive (consumer, 300, &d), AB_ETIMEDOUT);
    ab_agent_destroy (&producer);
    ab_agent_destroy (&consumer);
    s_broker_stop (&broker, SIGTERM);
}
END_TEST

/* The answerer's side of test_request_reply, in its own thread. */
typedef struct {
    ab_agent_t *agent; /* the answerer; owned by the test */
    int failures;      /* checks that failed here */
} s_answerer_t;

static void *
s_answer (void *arg)
{
    s_answerer_t *self = arg;
    ab_delivery_t *request = NULL;
    if (ab_agent_receive (self->agent, 5000, &request) != 0) {
        self->failures++;
        return NULL;
    }
    self->failures += !ab_delivery_is_request (request);
    json_t *piece = json_pack ("{s:s}", "a", "4");
    self->failures +=
        ab_agent_reply (self->agent, request, piece, true, NULL, 0) != 0;
    json_t *bad = json_pack ("{s:i}", "a", 42);
    self->failures += ab_agent_reply (self->agent, request, bad, false, NULL,
                                      0) != AB_EREJECTED;
    json_object_set_new (piece, "a", json_string ("42"));
    self->failures +=
        ab_agent_reply (self->agent, request, piece, false, NULL, 0) != 0;
    json_decref (bad);
    json_decref (piece);
    ab_delivery_destroy (&request);
    return NULL;
}

static void
s_count_piece (ab_delivery_t *partial, void *arg)
{
    int *pieces = arg;
    ck_assert_str_eq (json_string_value (
                          json_object_get (ab_delivery_payload (partial), "a")),
                      "4");
    (*pieces)++;
}

START_TEST (test_request_reply)
{
    s_broker_t broker = {0};
    s_broker_start (&broker);
    s_answerer_t answerer = {s_connect (&broker, "answerer"), 0};
    ab_agent_t *asker = s_connect (&broker, "asker");
    pthread_t thread;
    ck_assert_int_eq (pthread_create (&thread, NULL, s_answer, &answerer), 0);
    ab_header_t header = {.type = "live.question", .timeout_ms = 5000};
    json_t *question = json_pack ("{s:s}", "q", "six times seven?");
    int pieces = 0;
    ab_delivery_t *reply = NULL;
    ck_assert_int_eq (ab_agent_request (asker, &header, question, NULL, 0,
                                        s_count_piece, &pieces, &reply),
                      0);
    pthread_join (thread, NULL);
    ck_assert_int_eq (answerer.failures, 0);
    ck_assert_int_eq (pieces, 1);
    ck_assert_str_eq (ab_delivery_type (reply), "live.answer");
    ck_assert_str_eq (
        json_string_value (json_object_get (ab_delivery_payload (reply), "a")),
        "42");
    ab_delivery_destroy (&reply);
    json_decref (question);
    ab_agent_destroy (&asker);
    ab_agent_destroy (&answerer.agent);
    s_broker_stop (&broker, SIGTERM);
}
END_TEST

START_TEST (test_broker_restart)
{
    s_broker_t broker = {0};
    s_broker_start (&broker);
    ab_agent_t *producer = s_connect (&broker, "producer");
    ab_header_t header = {.type = "live.note"};
    ck_assert_int_eq (
        ab_agent_publish_text (producer, &header, "{\"text\":\"a\"}", NULL, 0),
        1);
    s_broker_stop (&broker, SIGKILL);
    s_broker_start (&broker); /* same endpoint, knows nobody */
    ck_assert_int_eq (
        ab_agent_publish_text (producer, &header, "{\"text\":\"b\"}", NULL, 0),
        1);
    ck_assert_uint_ge (ab_agent_reconnects (producer), 1);
    ck_assert (ab_agent_connected (producer));
    ab_agent_destroy (&producer);
    s_broker_stop (&broker, SIGTERM);
}
END_TEST

int
main (void)
{
    const char *builddir = getenv ("AB_BUILDDIR");
    snprintf (s_binary, sizeof s_binary, "%s/agentbusd",
              builddir ? builddir : ".");
    if (access (s_binary, X_OK) != 0) {
        printf ("SKIP: no %s\n", s_binary);
        return 77;
    }
    Suite *suite = suite_create ("agent_live");
    TCase *tcase = tcase_create ("agentbusd");
    tcase_set_timeout (tcase, 30);
    tcase_add_test (tcase, test_publish_consume_with_tensor);
    tcase_add_test (tcase, test_nack_redelivers);
    tcase_add_test (tcase, test_request_reply);
    tcase_add_test (tcase, test_broker_restart);
    suite_add_tcase (suite, tcase);
    return ab_check_run (suite);
}
