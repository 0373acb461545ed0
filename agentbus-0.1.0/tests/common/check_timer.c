/*  check_timer - the timer heap: order, FIFO ties, handles, a model run */

#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include "agentbus.h"
#include "common/ab_timer.h"
#include "ab_check.h"

/* Pops everything due at `now`, writing the kinds into out[]. */
static size_t
s_drain (ab_timer_t *timer, int64_t now, int *out, size_t size)
{
    size_t count = 0;
    ab_timer_entry_t entry;
    while (ab_timer_pop_expired (timer, now, &entry)) {
        ck_assert_uint_lt (count, size);
        ck_assert_int_le (entry.deadline, now);
        out[count++] = entry.kind;
    }
    return count;
}

START_TEST (test_deadline_order)
{
    ab_timer_t *timer = ab_timer_new ();
    ck_assert_int_eq (ab_timer_next_deadline (timer), INT64_MAX);
    ck_assert_int_eq (ab_timer_timeout_ms (timer, 0), -1);
    int64_t deadlines[] = {50, 10, 40, 30, 20};
    for (int i = 0; i < 5; i++)
        ck_assert_uint_ne (
            ab_timer_add (timer, deadlines[i], (int)deadlines[i], NULL), 0);
    ck_assert_uint_eq (ab_timer_size (timer), 5);
    ck_assert_int_eq (ab_timer_next_deadline (timer), 10);
    ck_assert_int_eq (ab_timer_timeout_ms (timer, 4), 6);
    ck_assert_int_eq (ab_timer_timeout_ms (timer, 11), 0);
    int out[8];
    ck_assert_uint_eq (s_drain (timer, 9, out, 8), 0);
    ck_assert_uint_eq (s_drain (timer, 35, out, 8), 3);
    ck_assert_int_eq (out[0], 10);
    ck_assert_int_eq (out[1], 20);
    ck_assert_int_eq (out[2], 30);
    ck_assert_uint_eq (s_drain (timer, 100, out, 8), 2);
    ck_assert_int_eq (out[0], 40);
    ck_assert_int_eq (out[1], 50);
    ck_assert_uint_eq (ab_timer_size (timer), 0);
    ab_timer_destroy (&timer);
    ck_assert_ptr_null (timer);
    ab_timer_destroy (&timer);
}
END_TEST

START_TEST (test_ties_are_fifo)
{
    ab_timer_t *timer = ab_timer_new ();
    for (int i = 0; i < 100; i++)
        ab_timer_add (timer, i % 2 ? 7 : 5, i, NULL);
    int out[100];
    ck_assert_uint_eq (s_drain (timer, 7, out, 100), 100);
    for (int i = 0; i < 50; i++) {
        ck_assert_int_eq (out[i], 2 * i);          /* the 5s, in order */
        ck_assert_int_eq (out[50 + i], 2 * i + 1); /* then the 7s */
    }
    ab_timer_destroy (&timer);
}
END_TEST

START_TEST (test_cancel_from_middle)
{
    ab_timer_t *timer = ab_timer_new ();
    ab_timer_handle_t handles[10];
    for (int i = 0; i < 10; i++)
        handles[i] = ab_timer_add (timer, 100 + i, i, &handles[i]);
    ck_assert_int_eq (ab_timer_cancel (timer, handles[4]), 0);
    ck_assert_int_eq (ab_timer_cancel (timer, handles[7]), 0);
    ck_assert_int_eq (ab_timer_cancel (timer, handles[0]), 0);
    ck_assert (!ab_timer_pending (timer, handles[4]));
    ck_assert (ab_timer_pending (timer, handles[5]));
    ck_assert_int_eq (ab_timer_next_deadline (timer), 101);
    int out[10];
    ck_assert_uint_eq (s_drain (timer, 1000, out, 10), 7);
    int expect[] = {1, 2, 3, 5, 6, 8, 9};
    for (int i = 0; i < 7; i++)
        ck_assert_int_eq (out[i], expect[i]);
    ab_timer_destroy (&timer);
}
END_TEST

START_TEST (test_reschedule_up_and_down)
{
    ab_timer_t *timer = ab_timer_new ();
    ab_timer_handle_t a = ab_timer_add (timer, 10, 'a', NULL);
    ab_timer_handle_t b = ab_timer_add (timer, 20, 'b', NULL);
    ab_timer_handle_t c = ab_timer_add (timer, 30, 'c', NULL);
    ck_assert_int_eq (ab_timer_reschedule (timer, c, 5), 0);  /* up */
    ck_assert_int_eq (ab_timer_reschedule (timer, a, 40), 0); /* down */
    int64_t deadline = 0;
    ck_assert_int_eq (ab_timer_deadline (timer, a, &deadline), 0);
    ck_assert_int_eq (deadline, 40);
    ck_assert_int_eq (ab_timer_next_deadline (timer), 5);
    /* a rescheduled entry counts as added now for ties */
    ck_assert_int_eq (ab_timer_reschedule (timer, b, 40), 0);
    int out[3];
    ck_assert_uint_eq (s_drain (timer, 40, out, 3), 3);
    ck_assert_int_eq (out[0], 'c');
    ck_assert_int_eq (out[1], 'a');
    ck_assert_int_eq (out[2], 'b');
    ab_timer_destroy (&timer);
}
END_TEST

START_TEST (test_dead_handles_are_rejected)
{
    ab_timer_t *timer = ab_timer_new ();
    ab_timer_handle_t fired = ab_timer_add (timer, 1, 0, NULL);
    ab_timer_handle_t cancelled = ab_timer_add (timer, 2, 0, NULL);
    ab_timer_entry_t entry;
    ck_assert (ab_timer_pop_expired (timer, 1, &entry));
    ck_assert_uint_eq (entry.handle, fired);
    ck_assert_int_eq (ab_timer_cancel (timer, cancelled), 0);
    /* both slots are reused by new entries: old handles must stay dead */
    ab_timer_handle_t fresh1 = ab_timer_add (timer, 3, 0, NULL);
    ab_timer_handle_t fresh2 = ab_timer_add (timer, 4, 0, NULL);
    ck_assert_uint_ne (fresh1, fired);
    ck_assert_uint_ne (fresh2, cancelled);
    ab_timer_handle_t dead[] = {fired, cancelled, 0, (uint64_t)99 << 32 | 7};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq (ab_timer_cancel (timer, dead[i]), AB_ENOENT);
        ck_assert_int_eq (ab_timer_reschedule (timer, dead[i], 9), AB_ENOENT);
        ck_assert_int_eq (ab_timer_deadline (timer, dead[i], NULL), AB_ENOENT);
        ck_assert (!ab_timer_pending (timer, dead[i]));
    }
    ck_assert_int_eq (ab_timer_cancel (timer, cancelled), AB_ENOENT);
    ck_assert_uint_eq (ab_timer_size (timer), 2);
    ab_timer_destroy (&timer); /* with pending entries: no leak */
}
END_TEST

START_TEST (test_timeout_saturates)
{
    ab_timer_t *timer = ab_timer_new ();
    ab_timer_add (timer, INT64_MAX, 0, NULL);
    ck_assert_int_eq (ab_timer_timeout_ms (timer, INT64_MIN), INT_MAX);
    ab_timer_destroy (&timer);
}
END_TEST

/* The brute-force model: live entries in an array, the earliest found by
   a scan. */
typedef struct {
    ab_timer_handle_t handle;
    int64_t deadline;
    uint64_t seq;
    int kind;
} s_model_t;

static size_t
s_model_min (const s_model_t *model, size_t count)
{
    size_t best = 0;
    for (size_t i = 1; i < count; i++)
        if (model[i].deadline < model[best].deadline ||
            (model[i].deadline == model[best].deadline &&
             model[i].seq < model[best].seq))
            best = i;
    return best;
}

START_TEST (test_random_ops_match_model)
{
    enum { OPS = 100000, MAX = 4096 };
    s_model_t *model = calloc (MAX, sizeof *model);
    ab_timer_handle_t *dead = calloc (OPS, sizeof *dead);
    size_t count = 0, dead_count = 0;
    uint64_t seq = 0;
    int64_t now = 0;
    unsigned int rng = 12345;
    ab_timer_t *timer = ab_timer_new ();
    for (int op = 0; op < OPS; op++) {
        int choice = rand_r (&rng) % 10;
        if ((choice < 4 && count < MAX) || count == 0) {
            int64_t deadline = now + rand_r (&rng) % 200;
            model[count] = (s_model_t){0, deadline, seq++, op};
            model[count].handle = ab_timer_add (timer, deadline, op, NULL);
            ck_assert_uint_ne (model[count++].handle, 0);
        } else if (choice < 6) {
            size_t i = (size_t)rand_r (&rng) % count;
            ck_assert_int_eq (ab_timer_cancel (timer, model[i].handle), 0);
            dead[dead_count++] = model[i].handle;
            model[i] = model[--count];
        } else if (choice < 8) {
            size_t i = (size_t)rand_r (&rng) % count;
            model[i].deadline = now + rand_r (&rng) % 200;
            model[i].seq = seq++;
            ck_assert_int_eq (
                ab_timer_reschedule (timer, model[i].handle, model[i].deadline),
                0);
        } else {
            now += rand_r (&rng) % 20;
            ab_timer_entry_t entry;
            while (ab_timer_pop_expired (timer, now, &entry)) {
                size_t i = s_model_min (model, count);
                ck_assert_int_le (model[i].deadline, now);
                ck_assert_uint_eq (entry.handle, model[i].handle);
                ck_assert_int_eq (entry.kind, model[i].kind);
                ck_assert_int_eq (entry.deadline, model[i].deadline);
                dead[dead_count++] = entry.handle;
                model[i] = model[--count];
            }
            if (count)
                ck_assert_int_gt (model[s_model_min (model, count)].deadline,
                                  now);
        }
        ck_assert_uint_eq (ab_timer_size (timer), count);
        if (count)
            ck_assert_int_eq (ab_timer_next_deadline (timer),
                              model[s_model_min (model, count)].deadline);
        if (dead_count && op % 7 == 0) {
            ab_timer_handle_t old = dead[(size_t)rand_r (&rng) % dead_count];
            ck_assert (!ab_timer_pending (timer, old));
            ck_assert_int_eq (ab_timer_cancel (timer, old), AB_ENOENT);
        }
    }
    ab_timer_destroy (&timer);
    free (model);
    free (dead);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("ab_timer");
    TCase *tc = tcase_create ("heap");
    tcase_add_test (tc, test_deadline_order);
    tcase_add_test (tc, test_ties_are_fifo);
    tcase_add_test (tc, test_cancel_from_middle);
    tcase_add_test (tc, test_reschedule_up_and_down);
    tcase_add_test (tc, test_dead_handles_are_rejected);
    tcase_add_test (tc, test_timeout_saturates);
    tcase_add_test (tc, test_random_ops_match_model);
    suite_add_tcase (suite, tc);
    return ab_check_run (suite);
}
