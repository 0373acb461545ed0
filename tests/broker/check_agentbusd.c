/*  check_agentbusd - the real agentbusd binary: flags, config file,
    SIGHUP reload (good and bad file), SIGTERM drain with exit 0, refusals */

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker_harness.h"
#include "ab_check.h"

extern char **environ;

/* A running (or finished) agentbusd. */
typedef struct {
    pid_t pid;          /* the process */
    char log[256];      /* its stderr, in a file */
    char endpoint[128]; /* where it listens (h_broker_t-compatible) */
} s_daemon_t;

/* Starts agentbusd with `args` (NULL-terminated, without argv[0]). */
static void
s_spawn (s_daemon_t *daemon, const char **args)
{
    const char *builddir = getenv ("AB_BUILDDIR");
    char *binary = zsys_sprintf ("%s/agentbusd", builddir ? builddir : ".");
    const char *argv[16] = {binary};
    for (int i = 0; args[i] && i < 14; i++)
        argv[i + 1] = args[i];
    snprintf (daemon->log, sizeof daemon->log, "/tmp/check-agentbusd-%d-%d.log",
              (int)getpid (), (int)random ());
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_addopen (&actions, 2, daemon->log,
                                      O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_eq (posix_spawn (&daemon->pid, binary, &actions, NULL,
                                   (char **)argv, environ),
                      0);
    posix_spawn_file_actions_destroy (&actions);
    free (binary);
}

/* Waits for the process to end (at most H_WAIT ms); returns its exit
   status. */
static int
s_wait (s_daemon_t *daemon)
{
    int status = 0;
    int64_t deadline = zclock_mono () + H_WAIT;
    while (zclock_mono () < deadline) {
        if (waitpid (daemon->pid, &status, WNOHANG) == daemon->pid)
            return WIFEXITED (status) ? WEXITSTATUS (status) : 128;
        zclock_sleep (10);
    }
    kill (daemon->pid, SIGKILL);
    waitpid (daemon->pid, &status, 0);
    ck_abort_msg ("agentbusd did not stop");
    return -1;
}

static char *
s_log_text (s_daemon_t *daemon)
{
    FILE *file = fopen (daemon->log, "r");
    ck_assert_ptr_nonnull (file);
    char *text = calloc (1, 65536);
    size_t length = fread (text, 1, 65535, file);
    text[length] = '\0';
    fclose (file);
    return text;
}

/* Waits (up to H_WAIT ms) until the daemon's log holds `text`. */
static void
s_wait_log (s_daemon_t *daemon, const char *text)
{
    int64_t deadline = zclock_mono () + H_WAIT;
    while (true) {
        char *log = s_log_text (daemon);
        bool found = strstr (log, text) != NULL;
        free (log);
        if (found)
            return;
        ck_assert_msg (zclock_mono () < deadline, "no '%s' in the log", text);
        zclock_sleep (10);
    }
}

static void
s_finish (s_daemon_t *daemon)
{
    remove (daemon->log);
}

/* An h_broker_t that only carries the endpoint, for h_agent. */
static h_broker_t
s_target (s_daemon_t *daemon)
{
    snprintf (daemon->endpoint, sizeof daemon->endpoint,
              "ipc:///tmp/check-agentbusd-%d.sock", (int)getpid ());
    h_broker_t target = {NULL, NULL, daemon->endpoint, NULL, NULL};
    return target;
}

/* Connects as `agent`, retrying while the daemon starts. */
static zsock_t *
s_agent (h_broker_t *target, const char *agent)
{
    int64_t deadline = zclock_mono () + H_WAIT;
    while (zclock_mono () < deadline) {
        zsock_t *dealer = h_connect (target);
        char header[128];
        snprintf (header, sizeof header, "{\"agent\":\"%s\"}", agent);
        h_send (dealer, "HELLO", header, NULL);
        h_msg_t *welcome = h_recv (dealer, 100);
        if (welcome) {
            ck_assert_str_eq (welcome->command, "WELCOME");
            h_msg_destroy (&welcome);
            return dealer;
        }
        zsock_destroy (&dealer);
    }
    ck_abort_msg ("agentbusd does not answer on %s", target->endpoint);
    return NULL;
}

START_TEST (test_roundtrip_and_drain)
{
    s_daemon_t daemon;
    h_broker_t target = s_target (&daemon);
    char *topology = h_fixture ("topology.yaml");
    const char *args[] = {"--topology", topology, "--endpoint", target.endpoint,
                          NULL};
    s_spawn (&daemon, args);
    zsock_t *producer = s_agent (&target, "producer");
    zsock_t *consumer = s_agent (&target, "consumer");
    h_publish (producer, "{\"type\":\"test.note\",\"version\":1,\"id\":\"b\"}",
               "{\"text\":\"via the binary\"}", 1);
    h_msg_t *msg = h_deliver (consumer, "test.note", 1);
    ck_assert_str_eq (h_str (msg, "id"), "b");
    h_answer (consumer, "ACK", msg, NULL);
    h_msg_destroy (&msg);
    h_send (consumer, "PING", "{}", NULL);
    h_expect_only (consumer, "PONG");
    kill (daemon.pid, SIGTERM);
    ck_assert_int_eq (s_wait (&daemon), 0);
    char *log = s_log_text (&daemon);
    ck_assert_ptr_nonnull (strstr (log, "\"acked\":1"));
    free (log);
    s_finish (&daemon);
    zsock_destroy (&producer);
    zsock_destroy (&consumer);
    free (topology);
}
END_TEST

/* Publishes a note until it is routed to `routed` copies (a reload takes
   effect asynchronously after the signal). */
static void
s_wait_routed (zsock_t *producer, int routed)
{
    int64_t deadline = zclock_mono () + H_WAIT;
    while (zclock_mono () < deadline) {
        h_send (producer, "PUB", "{\"type\":\"test.note\",\"version\":1}",
                "{\"text\":\"r\"}");
        h_msg_t *ok = h_expect (producer, "OK");
        int got = (int)h_int (ok, "routed");
        h_msg_destroy (&ok);
        if (got == routed)
            return;
        zclock_sleep (20);
    }
    ck_abort_msg ("never routed to %d copies", routed);
}

START_TEST (test_sighup_reload)
{
    s_daemon_t daemon;
    h_broker_t target = s_target (&daemon);
    char *path =
        zsys_sprintf ("/tmp/check-agentbusd-sighup-%d.yaml", (int)getpid ());
    h_install ("topology.yaml", path);
    const char *args[] = {"--topology", path, "--endpoint", target.endpoint,
                          NULL};
    s_spawn (&daemon, args);
    zsock_t *producer = s_agent (&target, "producer");
    s_wait_routed (producer, 1);
    h_install ("reload-topology.yaml", path);
    kill (daemon.pid, SIGHUP);
    s_wait_routed (producer, 2);
    h_install ("bad-topology.yaml", path);
    kill (daemon.pid, SIGHUP);
    s_wait_log (&daemon, "reload failed");
    /* the old topology stays, and the agent stayed connected */
    s_wait_routed (producer, 2);
    kill (daemon.pid, SIGINT);
    ck_assert_int_eq (s_wait (&daemon), 0);
    char *log = s_log_text (&daemon);
    ck_assert_ptr_nonnull (strstr (log, "reload failed"));
    ck_assert_ptr_nonnull (strstr (log, "nobody"));
    free (log);
    s_finish (&daemon);
    zsock_destroy (&producer);
    remove (path);
    free (path);
}
END_TEST

START_TEST (test_config_file)
{
    s_daemon_t daemon;
    h_broker_t target = s_target (&daemon);
    char *config = h_fixture ("agentbusd.yaml");
    const char *args[] = {"--config",      config,      "--endpoint",
                          target.endpoint, "--verbose", NULL};
    s_spawn (&daemon, args);
    zsock_t *producer = s_agent (&target, "producer");
    /* a second HELLO on one connection starts a fresh session */
    h_send (producer, "HELLO", "{\"agent\":\"producer\"}", NULL);
    h_msg_t *welcome = h_expect (producer, "WELCOME");
    ck_assert_int_eq (h_int (welcome, "heartbeat_ms"), 100);
    h_msg_destroy (&welcome);
    char big[5000];
    memset (big, ' ', sizeof big);
    memcpy (big, "{}", 2);
    big[sizeof big - 1] = '\0';
    h_send (producer, "PUB", "{\"type\":\"test.note\",\"id\":\"big\"}", big);
    h_msg_t *reject = h_expect (producer, "REJECT");
    ck_assert_str_eq (h_str (reject, "code"), "too_large");
    ck_assert_str_eq (h_str (reject, "id"), "big");
    h_msg_destroy (&reject);
    kill (daemon.pid, SIGTERM);
    ck_assert_int_eq (s_wait (&daemon), 0);
    s_finish (&daemon);
    zsock_destroy (&producer);
    free (config);
}
END_TEST

/* Runs agentbusd expecting exit 1 and `text` on stderr. */
static void
s_expect_refusal (const char **args, const char *text)
{
    s_daemon_t daemon;
    s_spawn (&daemon, args);
    ck_assert_int_eq (s_wait (&daemon), 1);
    char *log = s_log_text (&daemon);
    ck_assert_msg (strstr (log, text), "stderr lacks '%s': %s", text, log);
    free (log);
    s_finish (&daemon);
}

START_TEST (test_refusals)
{
    char *bad_key = h_fixture ("bad-key.yaml");
    char *durable = h_fixture ("durable-topology.yaml");
    const char *unknown[] = {"--config", bad_key, NULL};
    s_expect_refusal (unknown, "bad-key.yaml:2:1: unknown key 'heartbeat'");
    char *bad_values = h_fixture ("bad-values.yaml");
    const char *values[] = {"--config", bad_values, NULL};
    s_expect_refusal (values, "bad-values.yaml:4:10: durable must be true or "
                              "false");
    s_expect_refusal (values, "bad-values.yaml:2:12: log_level must be");
    s_expect_refusal (values, "bad-values.yaml:5:7: sync must be always, "
                              "never or {batch_ms: N}");
    s_expect_refusal (values, "bad-values.yaml:6:11: map_size must be an "
                              "integer from 1048576");
    free (bad_values);
    const char *no_dir[] = {"--topology", durable, NULL};
    s_expect_refusal (no_dir, "needs a data_dir");
    /* a data_dir holding something else is never initialised */
    char *dir = zsys_sprintf ("/tmp/check-agentbusd-%d/data", (int)getpid ());
    ck_assert_int_eq (zsys_dir_create ("%s", dir), 0);
    char *junk = zsys_sprintf ("%s/notes.txt", dir);
    FILE *file = fopen (junk, "w");
    ck_assert_ptr_nonnull (file);
    fputs ("mine\n", file);
    fclose (file);
    const char *with_dir[] = {"--topology", durable, "--data-dir", dir, NULL};
    s_expect_refusal (with_dir, "refusing to initialise");
    ck_assert (zsys_file_exists (junk));
    remove (junk);
    free (junk);
    zsys_dir_delete ("%s", dir);
    char *parent = zsys_sprintf ("/tmp/check-agentbusd-%d", (int)getpid ());
    zsys_dir_delete ("%s", parent);
    const char *none[] = {NULL};
    s_expect_refusal (none, "no topology");
    free (parent);
    free (dir);
    free (bad_key);
    free (durable);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("agentbusd");
    TCase *tcase = tcase_create ("binary");
    tcase_set_timeout (tcase, 30);
    tcase_add_test (tcase, test_roundtrip_and_drain);
    tcase_add_test (tcase, test_sighup_reload);
    tcase_add_test (tcase, test_config_file);
    tcase_add_test (tcase, test_refusals);
    suite_add_tcase (suite, tcase);
    return ab_check_run (suite);
}
