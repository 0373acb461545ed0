/*  check_hist - the bench's latency histogram: buckets, percentiles, merge */

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "ab_hist.h"
#include "ab_check.h"

START_TEST (test_empty)
{
    ab_hist_t *hist = ab_hist_new ();
    ck_assert_ptr_nonnull (hist);
    ck_assert_uint_eq (ab_hist_count (hist), 0);
    ck_assert_int_eq (ab_hist_percentile (hist, 0.5), -1);
    ab_hist_destroy (&hist);
    ck_assert_ptr_null (hist);
    ab_hist_destroy (&hist);
    ab_hist_destroy (NULL);
}
END_TEST

START_TEST (test_small_values_are_exact)
{
    ab_hist_t *hist = ab_hist_new ();
    for (int v = 0; v < 16; v++)
        ab_hist_record (hist, v);
    ck_assert_int_eq (ab_hist_percentile (hist, 0), 0);
    ck_assert_int_eq (ab_hist_percentile (hist, 0.5), 7);
    ck_assert_int_eq (ab_hist_percentile (hist, 1), 15);
    ab_hist_record (hist, -5);
    ck_assert_int_eq (ab_hist_percentile (hist, 0), 0);
    ab_hist_destroy (&hist);
}
END_TEST

/* Every value lands in a bucket whose upper bound is within 1/16 above
   it, for values across the whole range. */
START_TEST (test_relative_error_bounded)
{
    for (int64_t v = 1; v < ((int64_t)1 << 62); v = v * 3 + 7) {
        ab_hist_t *hist = ab_hist_new ();
        ab_hist_record (hist, v);
        int64_t p = ab_hist_percentile (hist, 0.5);
        ck_assert_int_ge (p, v);
        ck_assert ((double)(p - v) <= (double)v / 16.0 + 1);
        ab_hist_destroy (&hist);
    }
}
END_TEST

START_TEST (test_percentiles_of_uniform)
{
    ab_hist_t *hist = ab_hist_new ();
    for (int64_t v = 1; v <= 100000; v++)
        ab_hist_record (hist, v * 1000);
    double p50 = (double)ab_hist_percentile (hist, 0.50);
    double p99 = (double)ab_hist_percentile (hist, 0.99);
    double p999 = (double)ab_hist_percentile (hist, 0.999);
    ck_assert (p50 >= 50e6 && p50 <= 50e6 * 1.0625);
    ck_assert (p99 >= 99e6 && p99 <= 99e6 * 1.0625);
    ck_assert (p999 >= 99.9e6 && p999 <= 99.9e6 * 1.0625);
    ab_hist_destroy (&hist);
}
END_TEST

START_TEST (test_merge)
{
    ab_hist_t *a = ab_hist_new (), *b = ab_hist_new ();
    for (int i = 0; i < 99; i++)
        ab_hist_record (a, 1000);
    ab_hist_record (b, 1000000);
    ab_hist_merge (a, b);
    ck_assert_uint_eq (ab_hist_count (a), 100);
    ck_assert_int_lt (ab_hist_percentile (a, 0.99), 1100);
    ck_assert_int_ge (ab_hist_percentile (a, 0.999), 1000000);
    ab_hist_destroy (&a);
    ab_hist_destroy (&b);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("ab_hist");
    TCase *tc = tcase_create ("hist");
    tcase_add_test (tc, test_empty);
    tcase_add_test (tc, test_small_values_are_exact);
    tcase_add_test (tc, test_relative_error_bounded);
    tcase_add_test (tc, test_percentiles_of_uniform);
    tcase_add_test (tc, test_merge);
    suite_add_tcase (suite, tc);
    return ab_check_run (suite);
}
