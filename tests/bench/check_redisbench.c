/*  check_redisbench - the bench's Redis Streams side: its failures name
    their cause and leave nothing behind; where redis-server is installed,
    short runs (with and without the fsynced AOF, one and several
    producers) consume everything they published, time it, and the server
    is reaped with its files */

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
#include "ab_redisbench.h"
#include "ab_check.h"

/* A fresh temp dir for one test, in `dir`. */
static void
s_temp_dir (char *dir, size_t size)
{
    const char *tmp = getenv ("TMPDIR");
    snprintf (dir, size, "%s/check-redisbench-XXXXXX", tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull (mkdtemp (dir));
}

/* Removes the test's temp dir, which must hold nothing but the server's
   log: its own dir is gone. */
static void
s_remove_dir (const char *dir, int port)
{
    char path[512];
    snprintf (path, sizeof path, "%s/redis-%d.log", dir, port);
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
    ab_redisbench_t *redis =
        ab_redisbench_new ("/nonexistent", -1, false, why, sizeof why);
    ck_assert_ptr_null (redis);
    ck_assert_str_eq (why, "no free port for redis-server");
    ab_redisbench_destroy (&redis);
    ab_redisbench_destroy (NULL);
}
END_TEST

/* Without redis-server in PATH (each test runs in a child process, so
   PATH is changed for this test alone). */
START_TEST (test_server_missing)
{
    char dir[256], why[256] = "";
    s_temp_dir (dir, sizeof dir);
    ck_assert_int_eq (setenv ("PATH", dir, 1), 0);
    ab_redisbench_t *redis = ab_redisbench_new (dir, 1, false, why, sizeof why);
    ck_assert_ptr_null (redis);
    ck_assert_msg (strstr (why, "redis-server exited: cannot run redis-server"),
                   "%s", why);
    ck_assert (!s_exists (dir, "redis-1"));
    s_remove_dir (dir, 1);
}
END_TEST

/* A short run; `aof` with the fsynced append-only file. */
static void
s_run (bool aof, int producers)
{
    if (!ab_child_in_path ("redis-server")) {
        printf ("check_redisbench: redis-server not installed, run not "
                "tested\n");
        return;
    }
    char dir[256], why[256] = "", payload[257], name[32];
    s_temp_dir (dir, sizeof dir);
    /* a payload with a stamp's place, like the bench's */
    memset (payload, 'x', sizeof payload);
    memcpy (payload, "{\"text\":\"", 9);
    memcpy (payload + 254, "\"}", 3);
    int port = ab_child_free_port ();
    ck_assert_int_gt (port, 0);
    ab_redisbench_t *redis =
        ab_redisbench_new (dir, port, aof, why, sizeof why);
    ck_assert_msg (redis != NULL, "%s", why);
    pid_t pid = ab_redisbench_pid (redis);
    ck_assert_int_gt (pid, 0);
    snprintf (name, sizeof name, "redis-%d", port);
    ck_assert (s_exists (dir, name));
    ab_hist_t *latency = ab_hist_new ();
    ab_redisbench_counts_t counts;
    ck_assert_int_eq (ab_redisbench_run (redis, payload, 256, producers, 64, 16,
                                         0.3, latency, &counts),
                      0);
    ck_assert_uint_gt (counts.published, 0);
    ck_assert_uint_eq (counts.consumed, counts.published);
    ck_assert_uint_eq (counts.errors, 0);
    ck_assert (counts.seconds > 0 && counts.seconds < 30);
    /* every message was timed */
    ck_assert_uint_eq (ab_hist_count (latency), counts.consumed);
    ck_assert_int_ge (ab_hist_percentile (latency, 0.5), 0);
    ab_hist_destroy (&latency);
    ab_redisbench_destroy (&redis);
    ck_assert_ptr_null (redis);
    /* reaped, not a zombie, and nothing of its group is left */
    ck_assert_int_eq (kill (pid, 0), -1);
    ck_assert_int_eq (errno, ESRCH);
    ck_assert (!ab_child_group_alive (pid));
    ck_assert (!s_exists (dir, name));
    s_remove_dir (dir, port);
}

START_TEST (test_run)
{
    s_run (false, 1);
}
END_TEST

START_TEST (test_run_aof)
{
    s_run (true, 4);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("ab_redisbench");
    TCase *tc = tcase_create ("redisbench");
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, test_no_port);
    tcase_add_test (tc, test_server_missing);
    tcase_add_test (tc, test_run);
    tcase_add_test (tc, test_run_aof);
    suite_add_tcase (suite, tc);
    return ab_check_run (suite);
}
