/*  check_error - the error model and the shared dtype table */

#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "ab_check.h"
#include "common/ab_oom.h"

START_TEST (test_strerror_every_code)
{
    for (int code = 0; code > -AB_ERR_COUNT_; code--) {
        ck_assert_ptr_nonnull (ab_strerror (code));
        ck_assert_str_ne (ab_strerror (code), "unknown error");
    }
    ck_assert_str_eq (ab_strerror (AB_EINVAL), "invalid argument");
    ck_assert_str_eq (ab_strerror_name (AB_EPROTO), "EPROTO");
}
END_TEST

START_TEST (test_strerror_out_of_range)
{
    ck_assert_str_eq (ab_strerror (1), "unknown error");
    ck_assert_str_eq (ab_strerror (-AB_ERR_COUNT_), "unknown error");
    ck_assert_str_eq (ab_strerror (INT32_MIN), "unknown error");
    ck_assert_str_eq (ab_strerror_name (99), "EUNKNOWN");
}
END_TEST

START_TEST (test_dtype_names_round_trip)
{
    static const char *names[] = {
        "bool",  "int8",   "uint8",   "int16",    "uint16",  "int32",  "uint32",
        "int64", "uint64", "float16", "bfloat16", "float32", "float64"};
    static const size_t sizes[] = {1, 1, 1, 2, 2, 4, 4, 8, 8, 2, 2, 4, 8};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        ab_dtype_t dtype = ab_dtype_from_name (names[i]);
        ck_assert_int_ne (dtype, AB_DTYPE_INVALID);
        ck_assert_str_eq (ab_dtype_name (dtype), names[i]);
        ck_assert_uint_eq (ab_dtype_itemsize (dtype), sizes[i]);
    }
    ck_assert_int_eq (ab_dtype_from_name ("float128"), AB_DTYPE_INVALID);
    ck_assert_int_eq (ab_dtype_from_name ("Float32"), AB_DTYPE_INVALID);
    ck_assert_int_eq (ab_dtype_from_name (NULL), AB_DTYPE_INVALID);
    ck_assert_ptr_null (ab_dtype_name (AB_DTYPE_INVALID));
    ck_assert_uint_eq (ab_dtype_itemsize (AB_DTYPE_COUNT_), 0);
}
END_TEST

START_TEST (test_tensor_nbytes)
{
    size_t bytes = 0;
    int64_t shape[] = {4, 1024};
    ck_assert_int_eq (ab_tensor_nbytes (AB_DTYPE_FLOAT32, shape, 2, &bytes), 0);
    ck_assert_uint_eq (bytes, 4 * 1024 * 4);
    ck_assert_int_eq (ab_tensor_nbytes (AB_DTYPE_FLOAT64, NULL, 0, &bytes), 0);
    ck_assert_uint_eq (bytes, 8); /* scalar */
    int64_t empty[] = {0, 7};
    ck_assert_int_eq (ab_tensor_nbytes (AB_DTYPE_INT8, empty, 2, &bytes), 0);
    ck_assert_uint_eq (bytes, 0);
    int64_t negative[] = {3, -1};
    ck_assert_int_eq (ab_tensor_nbytes (AB_DTYPE_INT8, negative, 2, &bytes),
                      AB_EINVAL);
    int64_t huge[] = {INT64_MAX, INT64_MAX};
    ck_assert_int_eq (ab_tensor_nbytes (AB_DTYPE_INT8, huge, 2, &bytes),
                      AB_ETOOBIG);
    ck_assert_int_eq (ab_tensor_nbytes (AB_DTYPE_INVALID, shape, 2, &bytes),
                      AB_EINVAL);
}
END_TEST

START_TEST (test_oom_check_passes_pointers_through)
{
    char *copy = ab_oom_check (strdup ("kept"));
    ck_assert_str_eq (copy, "kept");
    free (copy);
}
END_TEST

/* The documented abort: SIGABRT, not a NULL that goes on being used. */
START_TEST (test_oom_check_aborts_on_null)
{
    void *nothing = NULL;
    ab_oom_check (nothing);
    ck_abort_msg ("ab_oom_check returned");
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("error");
    TCase *tcase = tcase_create ("core");
    tcase_add_test (tcase, test_strerror_every_code);
    tcase_add_test (tcase, test_strerror_out_of_range);
    tcase_add_test (tcase, test_dtype_names_round_trip);
    tcase_add_test (tcase, test_tensor_nbytes);
    tcase_add_test (tcase, test_oom_check_passes_pointers_through);
    tcase_add_test_raise_signal (tcase, test_oom_check_aborts_on_null, SIGABRT);
    suite_add_tcase (suite, tcase);
    return ab_check_run (suite);
}
