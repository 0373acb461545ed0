/*  check_diag - diagnostics lists */

#include <check.h>
#include <stdlib.h>

#include "agentbus.h"
#include "common/ab_diag.h"
#include "ab_check.h"

START_TEST (test_text_shapes)
{
    ab_diag_t *diag = ab_diag_new ();
    ab_diag_add (diag, "topo.yaml", 12, 5, "unknown agent '%s'", "llm");
    ab_diag_add (diag, "topo.yaml", 3, 0, "line only");
    ab_diag_add (diag, NULL, 0, 9, "no position");
    ck_assert_uint_eq (ab_diag_count (diag), 3);
    ck_assert_str_eq (ab_diag_text (diag, 0),
                      "topo.yaml:12:5: unknown agent 'llm'");
    ck_assert_str_eq (ab_diag_text (diag, 1), "topo.yaml:3: line only");
    ck_assert_str_eq (ab_diag_text (diag, 2), "<input>: no position");
    ck_assert_ptr_null (ab_diag_text (diag, 3));
    const char *message;
    int line, column;
    ck_assert_int_eq (ab_diag_get (diag, 0, NULL, &line, &column, &message), 0);
    ck_assert_int_eq (line, 12);
    ck_assert_int_eq (column, 5);
    ck_assert_str_eq (message, "unknown agent 'llm'");
    ck_assert_int_eq (ab_diag_get (diag, 7, NULL, NULL, NULL, NULL), AB_EINVAL);
    ab_diag_destroy (&diag);
    ck_assert_ptr_null (diag);
}
END_TEST

START_TEST (test_many_and_clear_and_null)
{
    ab_diag_t *diag = ab_diag_new ();
    for (int i = 0; i < 1000; i++)
        ab_diag_add (diag, "f", i + 1, 1, "error %d", i);
    ck_assert_uint_eq (ab_diag_count (diag), 1000);
    ck_assert_str_eq (ab_diag_text (diag, 999), "f:1000:1: error 999");
    ab_diag_clear (diag);
    ck_assert_uint_eq (ab_diag_count (diag), 0);
    ab_diag_destroy (&diag);
    ab_diag_add (NULL, "f", 1, 1, "ignored");
    ck_assert_uint_eq (ab_diag_count (NULL), 0);
    ab_diag_destroy (&diag);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("diag");
    TCase *tcase = tcase_create ("core");
    tcase_add_test (tcase, test_text_shapes);
    tcase_add_test (tcase, test_many_and_clear_and_null);
    suite_add_tcase (suite, tcase);
    return ab_check_run (suite);
}
