/*  check_rabbitbench - the bench's RabbitMQ side: its failures name their
    cause and leave nothing behind; where rabbitmq-server is installed,
    one node of its own runs a short transient and a short durable run,
    each consuming everything it published, and the node, its epmd and
    everything they started are reaped with the node's dir */

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ab_child.h"
#include "ab_hist.h"
#include "ab_rabbitbench.h"
#include "ab_check.h"

/* How long a node may take to boot here: generous, CI machines are
   loaded (it takes 5-10 s on a busy 2-core machine). */
#define S_BOOT_S 90

static void
s_temp_dir (char *dir, size_t size)
{
    const char *tmp = getenv ("TMPDIR");
    snprintf (dir, size, "%s/check-rabbitbench-XXXXXX", tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull (mkdtemp (dir));
}

static bool
s_exists (const char *dir, const char *name)
{
    char path[512];
    struct stat st;
    snprintf (path, sizeof path, "%s/%s", dir, name);
    return stat (path, &st) == 0;
}

/* The server script the module would run, as it finds it. */
static bool
s_installed (void)
{
    return access ("/usr/lib/rabbitmq/bin/rabbitmq-server", X_OK) == 0 ||
           ab_child_in_path ("rabbitmq-server");
}

START_TEST (test_no_port)
{
    char why[256] = "";
    ab_rabbitbench_t *rabbit =
        ab_rabbitbench_new ("/nonexistent", -1, 1, why, sizeof why);
    ck_assert_ptr_null (rabbit);
    ck_assert_str_eq (why, "no free port for rabbitmq-server");
    ab_rabbitbench_destroy (&rabbit);
    ab_rabbitbench_destroy (NULL);
}
END_TEST

/* A server script that cannot be run: the reason comes back and the
   node's dir and its epmd are gone. */
START_TEST (test_server_missing)
{
    if (!ab_child_in_path ("epmd")) {
        printf ("check_rabbitbench: epmd not installed, not tested\n");
        return;
    }
    char dir[256], why[256] = "", script[300];
    s_temp_dir (dir, sizeof dir);
    snprintf (script, sizeof script, "%s/rabbitmq-server", dir);
    ck_assert_int_eq (setenv ("AB_RABBITMQ_SERVER", script, 1), 0);
    int port = ab_child_free_port ();
    ab_rabbitbench_t *rabbit =
        ab_rabbitbench_new (dir, port, S_BOOT_S, why, sizeof why);
    ck_assert_ptr_null (rabbit);
    ck_assert_msg (strstr (why, "rabbitmq-server exited: cannot run"), "%s",
                   why);
    char name[32];
    snprintf (name, sizeof name, "rabbitmq-%d", port);
    ck_assert (!s_exists (dir, name));
    ck_assert_int_eq (rmdir (dir), 0);
}
END_TEST

START_TEST (test_run)
{
    if (!s_installed () || !ab_child_in_path ("epmd")) {
        printf ("check_rabbitbench: rabbitmq-server not installed, run not "
                "tested\n");
        return;
    }
    char dir[256], why[256] = "", payload[257], name[32];
    s_temp_dir (dir, sizeof dir);
    memset (payload, 'x', sizeof payload);
    memcpy (payload, "{\"text\":\"", 9);
    memcpy (payload + 254, "\"}", 3);
    int port = ab_child_free_port ();
    ck_assert_int_gt (port, 0);
    ab_rabbitbench_t *rabbit =
        ab_rabbitbench_new (dir, port, S_BOOT_S, why, sizeof why);
    ck_assert_msg (rabbit != NULL, "%s", why);
    pid_t group = ab_rabbitbench_group (rabbit),
          epmd = ab_rabbitbench_epmd (rabbit);
    ck_assert_int_gt (group, 0);
    ck_assert_int_gt (epmd, 0);
    ck_assert_int_gt (ab_rabbitbench_pid (rabbit), 0);
    snprintf (name, sizeof name, "rabbitmq-%d", port);
    ck_assert (s_exists (dir, name));
    for (int durable = 0; durable < 2; durable++) {
        ab_hist_t *latency = ab_hist_new ();
        ab_rabbitbench_counts_t counts;
        ck_assert_int_eq (ab_rabbitbench_run (rabbit, durable, payload, 256,
                                              durable ? 4 : 1, 64, 16, 0.3,
                                              latency, &counts),
                          0);
        ck_assert_uint_gt (counts.published, 0);
        ck_assert_uint_eq (counts.consumed, counts.published);
        ck_assert_uint_eq (counts.errors, 0);
        ck_assert (counts.seconds > 0 && counts.seconds < 30);
        ck_assert_uint_eq (ab_hist_count (latency), counts.consumed);
        ab_hist_destroy (&latency);
    }
    ab_rabbitbench_destroy (&rabbit);
    ck_assert_ptr_null (rabbit);
    /* the script, the VM and its helpers, and epmd: all gone */
    ck_assert (!ab_child_group_alive (group));
    ck_assert_int_eq (kill (group, 0), -1);
    ck_assert_int_eq (kill (epmd, 0), -1);
    ck_assert_int_eq (errno, ESRCH);
    /* no epmd of Erlang's own nor a helper, running or a zombie, is
       left among this process's children */
    ck_assert_int_eq (ab_child_find (getpid (), "epmd"), 0);
    ck_assert_int_eq (ab_child_find (getpid (), "inet_gethost"), 0);
    ck_assert (!s_exists (dir, name));
    ck_assert_int_eq (rmdir (dir), 0);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("ab_rabbitbench");
    TCase *tc = tcase_create ("rabbitbench");
    tcase_set_timeout (tc, 240);
    tcase_add_test (tc, test_no_port);
    tcase_add_test (tc, test_server_missing);
    tcase_add_test (tc, test_run);
    suite_add_tcase (suite, tc);
    return ab_check_run (suite);
}
