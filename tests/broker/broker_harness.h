/*  broker_harness - a broker actor and raw DEALER agents for tests

    Header-only helpers shared by the broker's Check suites: start an
    ab_broker actor on a fixture topology, connect DEALER sockets, send
    ABP/1 frames and expect answers with a deadline, so no test can hang.
*/

#ifndef BROKER_HARNESS_H_INCLUDED
#define BROKER_HARNESS_H_INCLUDED

#include <check.h>
#include <czmq.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "broker/ab_broker.h"

/* How long a test waits for an answer that must come, in ms: generous,
   since a loaded CI machine may take seconds for what an idle one answers
   at once (waiting costs nothing when the answer comes). No test measures
   a time with it. */
#define H_WAIT 20000

typedef struct {
    ab_broker_t *broker; /* the broker object */
    zactor_t *actor;     /* running it */
    char *endpoint;      /* where agents connect */
    ab_log_t *log;       /* broker log, or NULL */
    char *data_dir;      /* durable mode: its fresh data_dir, else NULL */
} h_broker_t;

/* One received message. */
typedef struct {
    char command[16]; /* command word */
    json_t *header;   /* header object */
    zmsg_t *body;     /* frames 3... (payload, attachments) */
} h_msg_t;

static inline char *
h_fixture (const char *name)
{
    const char *srcdir = getenv ("AB_SRCDIR");
    return zsys_sprintf ("%s/tests/fixtures/broker/%s", srcdir ? srcdir : ".",
                         name);
}

/* Writes fixture `name` to `path` (outside the source tree, which may be
   read-only), with its `schemas:` folder made absolute. */
static inline void
h_install (const char *name, const char *path)
{
    char *from = h_fixture (name);
    char *schemas = h_fixture ("schemas");
    FILE *in = fopen (from, "r");
    FILE *out = fopen (path, "w");
    ck_assert_ptr_nonnull (in);
    ck_assert_ptr_nonnull (out);
    char line[1024];
    while (fgets (line, sizeof line, in)) {
        if (strncmp (line, "schemas:", 8) == 0)
            fprintf (out, "schemas: %s\n", schemas);
        else
            fputs (line, out);
    }
    fclose (in);
    fclose (out);
    free (schemas);
    free (from);
}

/* Starts a broker on a fixture (a file name under tests/fixtures/broker/,
   or an absolute path) with a `filters:` pipeline (may be NULL). */
static inline h_broker_t
h_start_filtered (const char *topology, int64_t heartbeat_ms, size_t max_bytes,
                  const json_t *filters)
{
    char *path = topology[0] == '/' ? strdup (topology) : h_fixture (topology);
    ab_diag_t *diag = ab_diag_new ();
    h_broker_t self = {NULL, NULL, NULL, NULL, NULL};
    /* AB_TEST_DURABLE=1: every edge durable, on a fresh data_dir */
    bool durable = getenv ("AB_TEST_DURABLE") != NULL;
    if (durable) {
        char template[] = "/tmp/check-broker-data-XXXXXX";
        ck_assert_ptr_nonnull (mkdtemp (template));
        self.data_dir = strdup (template);
    }
    /* AB_TEST_LOG=1 shows the broker's debug log on stderr */
    if (getenv ("AB_TEST_LOG"))
        self.log = ab_log_new (stderr, AB_LOG_DEBUG, AB_LOG_STAMPED);
    ab_broker_config_t config = {.endpoint = "tcp://127.0.0.1:*",
                                 .topology = path,
                                 .heartbeat_ms = heartbeat_ms,
                                 .max_message_bytes = max_bytes,
                                 .filters = filters,
                                 .durable = durable,
                                 .data_dir = self.data_dir,
                                 .log = self.log};
    self.broker = ab_broker_new (&config, diag);
    if (!self.broker)
        ab_diag_print (diag, stderr);
    ck_assert_ptr_nonnull (self.broker);
    self.endpoint = strdup (ab_broker_endpoint (self.broker));
    self.actor = zactor_new (ab_broker_actor, self.broker);
    ab_diag_destroy (&diag);
    free (path);
    return self;
}

static inline h_broker_t
h_start_with (const char *topology, int64_t heartbeat_ms, size_t max_bytes)
{
    return h_start_filtered (topology, heartbeat_ms, max_bytes, NULL);
}

/* How long an instance may be silent before it is dead, in h_start's
   brokers: the test's DEALERs PING only when a test says so, and a test
   waiting through the ack timeouts (1 s each) must not lose them; the one
   test that measures heartbeats starts its broker with its own. */
#define H_HEARTBEAT 20000

static inline h_broker_t
h_start (void)
{
    return h_start_with ("topology.yaml", H_HEARTBEAT, 4096);
}

static inline void
h_stop (h_broker_t *self)
{
    zactor_destroy (&self->actor);
    ab_broker_destroy (&self->broker);
    ab_log_destroy (&self->log);
    free (self->endpoint);
    if (self->data_dir) {
        char *files[] = {"data.mdb", "lock.mdb"};
        for (size_t i = 0; i < 2; i++) {
            char *path = zsys_sprintf ("%s/%s", self->data_dir, files[i]);
            remove (path);
            free (path);
        }
        zsys_dir_delete ("%s", self->data_dir);
        free (self->data_dir);
    }
}

/* The counter at `name` ("acked", or "rejected.invalid"). */
static inline int64_t
h_counter (h_broker_t *self, const char *name)
{
    zstr_send (self->actor, "COUNTERS");
    char *text = zstr_recv (self->actor);
    json_t *counters = json_loads (text, 0, NULL);
    zstr_free (&text);
    char group[64];
    const char *dot = strchr (name, '.');
    json_t *value = counters;
    if (dot) {
        snprintf (group, sizeof group, "%.*s", (int)(dot - name), name);
        value = json_object_get (counters, group);
        name = dot + 1;
    }
    value = json_object_get (value, name);
    ck_assert_msg (json_is_integer (value), "no counter %s", name);
    int64_t result = json_integer_value (value);
    json_decref (counters);
    return result;
}

/* Waits (polling, up to H_WAIT ms) until counter `name` reaches `value`
   and checks it is exactly that: state to wait on instead of a sleep. */
static inline void
h_wait_counter (h_broker_t *self, const char *name, int64_t value)
{
    int64_t deadline = zclock_mono () + H_WAIT;
    while (h_counter (self, name) < value && zclock_mono () < deadline)
        zclock_sleep (10);
    ck_assert_int_eq (h_counter (self, name), value);
}

static inline zsock_t *
h_connect (h_broker_t *self)
{
    zsock_t *dealer = zsock_new_dealer (self->endpoint);
    ck_assert_ptr_nonnull (dealer);
    zsock_set_linger (dealer, 0);
    return dealer;
}

/* Sends signature, command, header and then `count` body frames given as
   (data, size) pairs. */
static inline void
h_send_frames (zsock_t *dealer, const char *command, const char *header,
               size_t count, ...)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "ABP/1");
    zmsg_addstr (msg, command);
    zmsg_addstr (msg, header);
    va_list args;
    va_start (args, count);
    for (size_t i = 0; i < count; i++) {
        const void *data = va_arg (args, const void *);
        size_t size = va_arg (args, size_t);
        zmsg_addmem (msg, data, size);
    }
    va_end (args);
    ck_assert_int_eq (zmsg_send (&msg, dealer), 0);
}

/* Sends a command with an optional JSON payload (NULL: none). */
static inline void
h_send (zsock_t *dealer, const char *command, const char *header,
        const char *payload)
{
    if (payload)
        h_send_frames (dealer, command, header, 1, payload, strlen (payload));
    else
        h_send_frames (dealer, command, header, 0);
}

static inline void
h_msg_destroy (h_msg_t **msg_p)
{
    h_msg_t *msg = *msg_p;
    if (!msg)
        return;
    json_decref (msg->header);
    zmsg_destroy (&msg->body);
    free (msg);
    *msg_p = NULL;
}

/* The next message within `timeout` ms, or NULL. */
static inline h_msg_t *
h_recv (zsock_t *dealer, int timeout)
{
    zpoller_t *poller = zpoller_new (dealer, NULL);
    void *ready = zpoller_wait (poller, timeout);
    zpoller_destroy (&poller);
    if (!ready)
        return NULL;
    zmsg_t *raw = zmsg_recv (dealer);
    ck_assert_ptr_nonnull (raw);
    ck_assert_uint_ge (zmsg_size (raw), 3);
    char *signature = zmsg_popstr (raw);
    ck_assert_str_eq (signature, "ABP/1");
    free (signature);
    h_msg_t *msg = calloc (1, sizeof *msg);
    char *command = zmsg_popstr (raw);
    snprintf (msg->command, sizeof msg->command, "%s", command);
    free (command);
    char *header = zmsg_popstr (raw);
    msg->header = json_loads (header, 0, NULL);
    ck_assert_msg (json_is_object (msg->header), "header %s", header);
    free (header);
    msg->body = raw;
    return msg;
}

/* The next message, which must be `command`. */
static inline h_msg_t *
h_expect (zsock_t *dealer, const char *command)
{
    h_msg_t *msg = h_recv (dealer, H_WAIT);
    ck_assert_msg (msg != NULL, "no %s within %d ms", command, H_WAIT);
    if (strcmp (msg->command, command)) {
        char *header = json_dumps (msg->header, JSON_COMPACT);
        ck_abort_msg ("expected %s, got %s %s", command, msg->command, header);
    }
    return msg;
}

/* Expects `command` and forgets it. */
static inline void
h_expect_only (zsock_t *dealer, const char *command)
{
    h_msg_t *msg = h_expect (dealer, command);
    h_msg_destroy (&msg);
}

/* Nothing arrives within `timeout` ms. */
static inline void
h_expect_silence (zsock_t *dealer, int timeout)
{
    h_msg_t *msg = h_recv (dealer, timeout);
    if (msg) {
        char *header = json_dumps (msg->header, JSON_COMPACT);
        ck_abort_msg ("unexpected %s %s", msg->command, header);
    }
}

static inline const char *
h_str (h_msg_t *msg, const char *key)
{
    return json_string_value (json_object_get (msg->header, key));
}

static inline json_int_t
h_int (h_msg_t *msg, const char *key)
{
    json_t *value = json_object_get (msg->header, key);
    ck_assert_msg (json_is_integer (value), "header %s not an integer", key);
    return json_integer_value (value);
}

/* Expects an ERROR or REJECT with this code. */
static inline void
h_expect_code (zsock_t *dealer, const char *command, const char *code)
{
    h_msg_t *msg = h_expect (dealer, command);
    ck_assert_str_eq (h_str (msg, "code"), code);
    h_msg_destroy (&msg);
}

/* A DEALER that said HELLO as `agent` with `credit` (0: default). */
static inline zsock_t *
h_agent (h_broker_t *self, const char *agent, int credit)
{
    zsock_t *dealer = h_connect (self);
    char header[256];
    if (credit)
        snprintf (header, sizeof header,
                  "{\"agent\":\"%s\",\"credit\":%d,\"instance\":\"t\"}", agent,
                  credit);
    else
        snprintf (header, sizeof header, "{\"agent\":\"%s\"}", agent);
    h_send (dealer, "HELLO", header, NULL);
    h_msg_t *welcome = h_expect (dealer, "WELCOME");
    ck_assert_str_eq (h_str (welcome, "agent"), agent);
    h_msg_destroy (&welcome);
    return dealer;
}

/* Expects a DELIVER and returns it; checks the type and attempt. */
static inline h_msg_t *
h_deliver (zsock_t *dealer, const char *type, int attempt)
{
    h_msg_t *msg = h_expect (dealer, "DELIVER");
    ck_assert_str_eq (h_str (msg, "type"), type);
    ck_assert_int_eq (h_int (msg, "attempt"), attempt);
    return msg;
}

/* Sends ACK or NACK (with extra header text) for a delivery. */
static inline void
h_answer (zsock_t *dealer, const char *command, h_msg_t *deliver,
          const char *extra)
{
    char header[256];
    snprintf (header, sizeof header, "{\"msg\":\"%s\"%s%s}",
              h_str (deliver, "msg"), extra ? "," : "", extra ? extra : "");
    h_send (dealer, command, header, NULL);
}

/* Publishes and expects OK with `routed` copies. */
static inline void
h_publish (zsock_t *dealer, const char *header, const char *payload, int routed)
{
    h_send (dealer, "PUB", header, payload);
    h_msg_t *ok = h_expect (dealer, "OK");
    ck_assert_int_eq (h_int (ok, "routed"), routed);
    h_msg_destroy (&ok);
}

#endif
