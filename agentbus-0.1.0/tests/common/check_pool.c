/*  check_pool - ab_pool: every index exactly once, rounds that reuse the
    threads, and the caller's in-order walk

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/

#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "ab_check.h"
#include "common/ab_pool.h"

#define S_COUNT 1000

/* What a round's calls leave behind. */
typedef struct {
    atomic_int runs[S_COUNT];  /* calls per index */
    atomic_bool done[S_COUNT]; /* index finished */
    uint64_t values[S_COUNT];  /* a result per index */
    uint64_t round;            /* seeds the results */
} s_round_t;

static uint64_t
s_value (uint64_t round, size_t i)
{
    uint64_t x = round * 1000003u + i;
    for (int k = 0; k < 50; k++) /* a little work, so threads overlap */
        x = x * 6364136223846793005u + 1442695040888963407u;
    return x;
}

static void
s_body (void *arg, size_t i)
{
    s_round_t *r = arg;
    atomic_fetch_add (&r->runs[i], 1);
    r->values[i] = s_value (r->round, i);
    atomic_store_explicit (&r->done[i], true, memory_order_release);
}

static void
s_round_reset (s_round_t *r, uint64_t round)
{
    for (size_t i = 0; i < S_COUNT; i++) {
        atomic_store (&r->runs[i], 0);
        atomic_store (&r->done[i], false);
        r->values[i] = 0;
    }
    r->round = round;
}

static void
s_round_verify (s_round_t *r, size_t count)
{
    for (size_t i = 0; i < S_COUNT; i++) {
        ck_assert_int_eq (atomic_load (&r->runs[i]), i < count ? 1 : 0);
        if (i < count)
            ck_assert_uint_eq (r->values[i], s_value (r->round, i));
    }
}

/* ab_pool_run: 0, 1, 3 threads; counts 0, 1, 2 and many; 200 rounds
   back to back on the same threads. */
START_TEST (test_run)
{
    static const size_t threads[] = {0, 1, 3};
    static const size_t counts[] = {0, 1, 2, 7, S_COUNT};
    s_round_t *r = calloc (1, sizeof *r);
    ck_assert_ptr_nonnull (r);
    for (size_t t = 0; t < 3; t++) {
        ab_pool_t *pool = ab_pool_new (threads[t]);
        ck_assert_ptr_nonnull (pool);
        ck_assert_uint_eq (ab_pool_threads (pool), threads[t]);
        for (uint64_t round = 0; round < 200; round++) {
            size_t count = counts[round % 5];
            s_round_reset (r, round);
            ab_pool_run (pool, s_body, r, count);
            s_round_verify (r, count);
        }
        ab_pool_destroy (&pool);
        ck_assert_ptr_null (pool);
    }
    ab_pool_destroy (&(ab_pool_t *){NULL});
    free (r);
}
END_TEST

/* start/help/wait as the broker uses them: the caller walks the indexes
   in order and uses each result as soon as it is done, helping while it
   is not; every result it reads is complete. */
START_TEST (test_in_order_walk)
{
    s_round_t *r = calloc (1, sizeof *r);
    ck_assert_ptr_nonnull (r);
    ab_pool_t *pool = ab_pool_new (2);
    ck_assert_ptr_nonnull (pool);
    size_t helped = 0;
    for (uint64_t round = 0; round < 100; round++) {
        size_t count = round % 2 ? S_COUNT : 37;
        s_round_reset (r, round);
        ab_pool_start (pool, s_body, r, count);
        for (size_t i = 0; i < count; i++) {
            while (!atomic_load_explicit (&r->done[i], memory_order_acquire))
                if (ab_pool_help (pool))
                    helped++;
                else
                    sched_yield ();
            ck_assert_uint_eq (r->values[i], s_value (round, i));
        }
        ab_pool_wait (pool);
        s_round_verify (r, count);
        ck_assert (!ab_pool_help (pool));
    }
    /* the caller takes from the front: it always did some itself */
    ck_assert_uint_gt (helped, 0);
    ab_pool_destroy (&pool);
    free (r);
}
END_TEST

/* A pool with no thread still runs every index, on the caller. */
START_TEST (test_no_threads)
{
    s_round_t *r = calloc (1, sizeof *r);
    ck_assert_ptr_nonnull (r);
    ab_pool_t *pool = ab_pool_new (0);
    ck_assert_ptr_nonnull (pool);
    s_round_reset (r, 7);
    ab_pool_start (pool, s_body, r, 10);
    ck_assert (ab_pool_help (pool));
    ck_assert_int_eq (atomic_load (&r->runs[0]), 1);
    ab_pool_wait (pool);
    s_round_verify (r, 10);
    ab_pool_destroy (&pool);
    free (r);
}
END_TEST

START_TEST (test_default_threads)
{
    ck_assert_uint_eq (ab_pool_default_threads (1, 0), 0);
    ck_assert_uint_le (ab_pool_default_threads (1, 3), 3);
    /* no CPU is left beside a million busy threads */
    ck_assert_uint_eq (ab_pool_default_threads (1000000, 3), 0);
    long cpus = sysconf (_SC_NPROCESSORS_ONLN);
    ck_assert_uint_eq (ab_pool_default_threads (1, 1000),
                       cpus > 1 ? (size_t)cpus - 1 : 0);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("pool");
    TCase *tcase = tcase_create ("pool");
    tcase_set_timeout (tcase, 60);
    tcase_add_test (tcase, test_run);
    tcase_add_test (tcase, test_in_order_walk);
    tcase_add_test (tcase, test_no_threads);
    tcase_add_test (tcase, test_default_threads);
    suite_add_tcase (suite, tcase);
    return ab_check_run (suite);
}
