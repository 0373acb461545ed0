/*  check_natsbench - the bench's NATS JetStream side: its failures name
    their cause and leave nothing behind; where nats-server is installed,
    a short run consumes everything it published, times every message,
    and the server is reaped with its store */

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
#include "ab_natsbench.h"
#include "ab_check.h"

/* A fresh temp dir for one test, in `dir`. */
static void
s_temp_dir (char *dir, size_t size)
{
    const char *tmp = getenv ("TMPDIR");
    snprintf (dir, size, "%s/check-natsbench-XXXXXX", tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull (mkdtemp (dir));
}

/* Removes the test's temp dir, which must hold nothing but the log:
   the store is gone. */
static void
s_remove_dir (const char *dir)
{
    char path[512];
    snprintf (path, sizeof path, "%s/nats-server.log", dir);
    unlink (path);
    ck_assert_int_eq (rmdir (dir), 0);
}

static bool
s_exists (const char *dir, const char *name)
{
    char path[512];
    struct stat st;
    snprintf (path, sizeof path, "%s/%s", dir, name);
    return stat (path, &st) == 0;
}

START_TEST (test_no_port)
{
    char why[256] = "";
    ab_natsbench_t *nats =
        ab_natsbench_new ("/nonexistent", -1, why, sizeof why);
    ck_assert_ptr_null (nats);
    ck_assert_str_eq (why, "no free port for nats-server");
    ab_natsbench_destroy (&nats);
    ab_natsbench_destroy (NULL);
}
END_TEST

/* Without nats-server in PATH (each test runs in a child process, so
   PATH is changed for this test alone). */
START_TEST (test_server_missing)
{
    char dir[256], why[256] = "";
    s_temp_dir (dir, sizeof dir);
    ck_assert_int_eq (setenv ("PATH", dir, 1), 0);
    /* port 1: refused at once, whatever runs on this machine */
    ab_natsbench_t *nats = ab_natsbench_new (dir, 1, why, sizeof why);
    ck_assert_ptr_null (nats);
    ck_assert_msg (strstr (why, "nats-server exited: cannot run nats-server"),
                   "%s", why);
    ck_assert (!s_exists (dir, "nats-store"));
    s_remove_dir (dir);
}
END_TEST

START_TEST (test_run)
{
    if (!ab_child_in_path ("nats-server")) {
        printf ("check_natsbench: nats-server not installed, run not tested\n");
        return;
    }
    char dir[256], why[256] = "", payload[256];
    s_temp_dir (dir, sizeof dir);
    memset (payload, 'x', sizeof payload);
    int port = ab_child_free_port ();
    ck_assert_int_gt (port, 0);
    ab_natsbench_t *nats = ab_natsbench_new (dir, port, why, sizeof why);
    ck_assert_msg (nats != NULL, "%s", why);
    pid_t pid = ab_natsbench_pid (nats);
    ck_assert_int_gt (pid, 0);
    ck_assert (s_exists (dir, "nats-store"));
    /* a payload with a stamp's place, like the bench's */
    memcpy (payload, "{\"text\":\"", 9);
    memcpy (payload + sizeof payload - 2, "\"}", 2);
    ab_hist_t *latency = ab_hist_new ();
    ab_natsbench_counts_t counts;
    ck_assert_int_eq (ab_natsbench_run (nats, payload, sizeof payload, 64, 16,
                                        0.3, latency, &counts),
                      0);
    ck_assert_uint_gt (counts.published, 0);
    ck_assert_uint_eq (counts.consumed, counts.published);
    ck_assert_uint_eq (counts.errors, 0);
    ck_assert (counts.seconds > 0 && counts.seconds < 30);
    /* every message was timed */
    ck_assert_uint_eq (ab_hist_count (latency), counts.consumed);
    ab_hist_destroy (&latency);
    ab_natsbench_destroy (&nats);
    ck_assert_ptr_null (nats);
    /* reaped, not a zombie: the pid is gone */
    ck_assert_int_eq (kill (pid, 0), -1);
    ck_assert_int_eq (errno, ESRCH);
    ck_assert (!s_exists (dir, "nats-store"));
    s_remove_dir (dir);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("ab_natsbench");
    TCase *tc = tcase_create ("natsbench");
    tcase_add_test (tc, test_no_port);
    tcase_add_test (tc, test_server_missing);
    tcase_add_test (tc, test_run);
    suite_add_tcase (suite, tc);
    return ab_check_run (suite);
}
