/*  check_patch - ab_patch: RFC 6902 conformance (every case of
    TESTDATA_DIR/json-patch-tests, tests.json and spec_tests.json) and the
    project's own cases (errors naming the op, all-or-nothing).

    Cases marked `disabled` are listed, not run. A case with `error` must
    fail (to compile or to apply); one with `expected` must give exactly
    that document; one with neither must apply. The conformance data is
    required whenever TESTDATA_DIR is set: a missing file fails the run. */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "schema/ab_patch.h"

/* Pass and fail counts of one file. */
typedef struct {
    int passed;   /* cases with the expected outcome */
    int failed;   /* cases without */
    int disabled; /* cases marked disabled, not run */
} s_counts_t;

/* Runs one case; returns true when it had the expected outcome. */
static bool
s_run_case (const json_t *test, char *why, size_t size)
{
    const json_t *doc = json_object_get (test, "doc");
    const json_t *expected = json_object_get (test, "expected");
    bool want_error = json_object_get (test, "error") != NULL;
    ab_patch_error_t error = {0};
    ab_patch_t *patch = ab_patch_new (json_object_get (test, "patch"), &error);
    json_t *result = NULL;
    int rc = patch ? ab_patch_apply (patch, doc, &result, &error) : AB_EINVAL;
    bool ok;
    if (want_error) {
        ok = rc != 0;
        snprintf (why, size, "expected an error, got success");
    } else if (rc != 0) {
        ok = false;
        snprintf (why, size, "unexpected error: %s", error.message);
    } else {
        ok = !expected || ab_patch_json_equal (result, expected);
        snprintf (why, size, "result differs from expected");
    }
    json_decref (result);
    ab_patch_destroy (&patch);
    return ok;
}

/* Runs every case of one file. */
static void
s_run_file (const char *path, s_counts_t *counts)
{
    json_error_t error;
    json_t *cases = json_load_file (path, 0, &error);
    ck_assert_msg (json_is_array (cases), "%s: cannot load: %s", path,
                   error.text);
    size_t index;
    json_t *test;
    json_array_foreach (cases, index, test)
    {
        const char *comment =
            json_string_value (json_object_get (test, "comment"));
        if (json_is_true (json_object_get (test, "disabled"))) {
            printf ("DISABLED %s #%zu: %s\n", path, index,
                    comment ? comment : "(no comment)");
            counts->disabled++;
            continue;
        }
        char why[400];
        if (s_run_case (test, why, sizeof why))
            counts->passed++;
        else {
            counts->failed++;
            printf ("FAIL %s #%zu: %s: %s\n", path, index,
                    comment ? comment : "(no comment)", why);
        }
    }
    json_decref (cases);
}

START_TEST (test_conformance)
{
    const char *root = getenv ("TESTDATA_DIR");
    static const char *const files[] = {"tests.json", "spec_tests.json"};
    int failed = 0, passed = 0;
    for (size_t i = 0; i < 2; i++) {
        char path[2048];
        snprintf (path, sizeof path, "%s/json-patch-tests/%s", root, files[i]);
        s_counts_t counts = {0};
        s_run_file (path, &counts);
        printf ("%s: %d/%d passed, %d disabled (listed above)\n", files[i],
                counts.passed, counts.passed + counts.failed, counts.disabled);
        failed += counts.failed;
        passed += counts.passed;
    }
    fflush (stdout);
    ck_assert_int_gt (passed, 0);
    ck_assert_int_eq (failed, 0);
}
END_TEST

static json_t *
s_json (const char *text)
{
    json_error_t error;
    json_t *json = json_loads (text, JSON_DECODE_ANY, &error);
    ck_assert_msg (json != NULL, "bad JSON in test: %s", error.text);
    return json;
}

/* A malformed patch: NULL, and the error names the op and the fault. */
static void
s_expect_malformed (const char *patch_text, long op, const char *needle)
{
    json_t *ops = s_json (patch_text);
    ab_patch_error_t error = {0};
    ab_patch_t *patch = ab_patch_new (ops, &error);
    ck_assert_msg (patch == NULL, "%s compiled", patch_text);
    ck_assert_int_eq (error.op, op);
    ck_assert_msg (strstr (error.message, needle), "'%s' lacks '%s'",
                   error.message, needle);
    json_decref (ops);
}

START_TEST (test_malformed)
{
    s_expect_malformed ("{}", -1, "array");
    s_expect_malformed ("[1]", 0, "op 0: an operation must be an object");
    s_expect_malformed ("[{\"op\":\"add\",\"path\":\"/a\",\"value\":1},"
                        "{\"op\":\"spam\",\"path\":\"/a\"}]",
                        1, "unknown op \"spam\"");
    s_expect_malformed ("[{\"path\":\"/a\"}]", 0, "missing \"op\"");
    s_expect_malformed ("[{\"op\":\"add\",\"path\":\"/a\"}]", 0,
                        "needs a \"value\"");
    s_expect_malformed ("[{\"op\":\"move\",\"path\":\"/a\"}]", 0,
                        "needs a string \"from\"");
    s_expect_malformed ("[{\"op\":\"remove\"}]", 0, "needs a string \"path\"");
    s_expect_malformed ("[{\"op\":\"remove\",\"path\":\"a\"}]", 0,
                        "starts with '/'");
    s_expect_malformed ("[{\"op\":\"remove\",\"path\":\"/a~2\"}]", 0,
                        "'~' must be followed by 0 or 1");
    s_expect_malformed ("[{\"op\":\"copy\",\"path\":\"/a\",\"from\":\"b\"}]", 0,
                        "starts with '/'");
}
END_TEST

START_TEST (test_all_or_nothing)
{
    json_t *doc = s_json ("{\"a\": 1, \"list\": [1, 2]}");
    json_t *before = json_deep_copy (doc);
    json_t *ops = s_json ("[{\"op\":\"add\",\"path\":\"/b\",\"value\":2},"
                          "{\"op\":\"remove\",\"path\":\"/list/0\"},"
                          "{\"op\":\"test\",\"path\":\"/a\",\"value\":9}]");
    ab_patch_error_t error = {0};
    ab_patch_t *patch = ab_patch_new (ops, &error);
    ck_assert_ptr_nonnull (patch);
    ck_assert_int_eq (ab_patch_size (patch), 3);
    json_t *result = (json_t *)1;
    ck_assert_int_eq (ab_patch_apply (patch, doc, &result, &error), AB_EINVAL);
    ck_assert_ptr_null (result);
    ck_assert_int_eq (error.op, 2);
    ck_assert_str_eq (error.message,
                      "op 2 (test /a): test failed: the value differs");
    ck_assert (json_equal (doc, before)); /* the input is untouched */
    ab_patch_destroy (&patch);
    ck_assert_ptr_null (patch);
    ab_patch_destroy (&patch); /* NULL is fine */
    json_decref (ops);

    /* the same patch object serves many documents, escapes included */
    ops = s_json ("[{\"op\":\"move\",\"from\":\"/a~1b\",\"path\":\"/c~0d\"},"
                  "{\"op\":\"add\",\"path\":\"/list/-\",\"value\":3}]");
    patch = ab_patch_new (ops, &error);
    ck_assert_ptr_nonnull (patch);
    for (int i = 0; i < 3; i++) {
        json_t *input = s_json ("{\"a/b\": 1, \"list\": []}");
        ck_assert_int_eq (ab_patch_apply (patch, input, &result, &error), 0);
        json_t *want = s_json ("{\"c~d\": 1, \"list\": [3]}");
        ck_assert (json_equal (result, want));
        json_decref (want);
        json_decref (result);
        json_decref (input);
    }
    json_t *missing = s_json ("{\"list\": []}");
    ck_assert_int_eq (ab_patch_apply (patch, missing, &result, &error),
                      AB_EINVAL);
    ck_assert_str_eq (error.message, "op 0 (move /c~0d): path does not exist");
    json_decref (missing);
    ab_patch_destroy (&patch);
    json_decref (ops);
    json_decref (before);
    json_decref (doc);
}
END_TEST

START_TEST (test_numeric_equality)
{
    json_t *a = s_json ("{\"x\": [1, 2.0, {\"y\": 3}]}");
    json_t *b = s_json ("{\"x\": [1.0, 2, {\"y\": 3.0}]}");
    json_t *c = s_json ("{\"x\": [1.0, 2, {\"y\": 4}]}");
    ck_assert (ab_patch_json_equal (a, b));
    ck_assert (!ab_patch_json_equal (a, c));
    json_decref (a);
    json_decref (b);
    json_decref (c);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("patch");
    TCase *tcase = tcase_create ("patch");
    tcase_add_test (tcase, test_malformed);
    tcase_add_test (tcase, test_all_or_nothing);
    tcase_add_test (tcase, test_numeric_equality);
    if (getenv ("TESTDATA_DIR") && *getenv ("TESTDATA_DIR"))
        tcase_add_test (tcase, test_conformance);
    else
        printf ("TESTDATA_DIR not set: RFC 6902 conformance not run\n");
    suite_add_tcase (suite, tcase);
    SRunner *runner = srunner_create (suite);
    srunner_set_fork_status (runner, CK_NOFORK);
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed ? 1 : 0;
}
