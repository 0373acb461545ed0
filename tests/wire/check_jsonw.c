/*  check_jsonw - the header writer, and the decimals it writes with */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "common/ab_decimal.h"
#include "wire/ab_jsonw.h"
#include "ab_check.h"

START_TEST (test_header_writer)
{
    ab_jsonw_t *header = ab_jsonw_new ();
    ck_assert_ptr_nonnull (header);
    /* twice: the buffer is reused and the second text stands alone */
    for (int round = 0; round < 2; round++) {
        ab_jsonw_reset (header);
        const char tricky[] = "q\"b\\s/\n\t\x01\x1f caf\xc3\xa9";
        ab_jsonw_string (header, "s", tricky);
        ab_jsonw_int (header, "i", -9007199254740993LL);
        ab_jsonw_bool (header, "t", true);
        ab_jsonw_bool (header, "f", false);
        json_t *nul = json_stringn ("a\0b", 3);
        ab_jsonw_value (header, "n", nul);
        json_t *nested = json_pack ("{s:[i,s]}", "k", 1, "x\"");
        ab_jsonw_value (header, "o", nested);
        ab_jsonw_value (header, "z", json_null ());
        size_t size = 0;
        const char *text = ab_jsonw_text (header, &size);
        ck_assert_ptr_nonnull (text);
        ck_assert_uint_eq (size, strlen (text));
        json_error_t error;
        json_t *parsed = json_loadb (text, size, JSON_ALLOW_NUL, &error);
        ck_assert_msg (parsed != NULL, "%s: %s", text, error.text);
        ck_assert_str_eq (json_string_value (json_object_get (parsed, "s")),
                          tricky);
        ck_assert_int_eq (json_integer_value (json_object_get (parsed, "i")),
                          -9007199254740993LL);
        ck_assert (json_is_true (json_object_get (parsed, "t")));
        ck_assert (json_is_false (json_object_get (parsed, "f")));
        ck_assert (json_equal (json_object_get (parsed, "n"), nul));
        ck_assert (json_equal (json_object_get (parsed, "o"), nested));
        ck_assert (json_is_null (json_object_get (parsed, "z")));
        ck_assert_uint_eq (json_object_size (parsed), 7);
        json_decref (parsed);
        json_decref (nul);
        json_decref (nested);
    }
    ab_jsonw_reset (header);
    size_t size = 0;
    ck_assert_str_eq (ab_jsonw_text (header, &size), "{}");
    ck_assert_uint_eq (size, 2);
    ab_jsonw_destroy (&header);
    ck_assert_ptr_null (header);
    ab_jsonw_destroy (&header);
}
END_TEST

START_TEST (test_decimal)
{
    char text[AB_DECIMAL_SIZE];
    const struct {
        int64_t value;
        const char *expected;
    } signed_cases[] = {{0, "0"},
                        {7, "7"},
                        {-1, "-1"},
                        {1234567890, "1234567890"},
                        {INT64_MAX, "9223372036854775807"},
                        {INT64_MIN, "-9223372036854775808"}};
    for (size_t i = 0; i < sizeof signed_cases / sizeof signed_cases[0]; i++) {
        size_t length = ab_decimal_i64 (text, signed_cases[i].value);
        ck_assert_str_eq (text, signed_cases[i].expected);
        ck_assert_uint_eq (length, strlen (signed_cases[i].expected));
    }
    ck_assert_uint_eq (ab_decimal_u64 (text, UINT64_MAX), 20);
    ck_assert_str_eq (text, "18446744073709551615");
    ck_assert_uint_eq (ab_decimal_u64 (text, 10), 2);
    ck_assert_str_eq (text, "10");
}
END_TEST

/* Text that is not UTF-8 fails the writer, which then writes nothing
   until the next reset; every valid form, up to four bytes, goes through
   as it is. */
START_TEST (test_header_writer_utf8)
{
    ab_jsonw_t *header = ab_jsonw_new ();
    ck_assert_ptr_nonnull (header);
    const char *good[] = {"caf\xc3\xa9", "\xe2\x82\xac", "\xef\xbf\xbf",
                          "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        ab_jsonw_reset (header);
        ab_jsonw_string (header, "s", good[i]);
        size_t size = 0;
        const char *text = ab_jsonw_text (header, &size);
        ck_assert_ptr_nonnull (text);
        ck_assert_int_eq (ab_jsonw_error (header), 0);
        json_t *parsed = json_loadb (text, size, 0, NULL);
        ck_assert_ptr_nonnull (parsed);
        ck_assert_str_eq (json_string_value (json_object_get (parsed, "s")),
                          good[i]);
        json_decref (parsed);
    }
    const char *bad[] = {
        "\xff",             /* never in UTF-8 */
        "\xc3",             /* cut short */
        "\xc3(",            /* not a continuation byte */
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong, three bytes */
        "\xed\xa0\x80",     /* a surrogate */
        "\xf4\x90\x80\x80", /* past U+10FFFF */
        "\x80",             /* a lone continuation byte */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ab_jsonw_reset (header);
        ab_jsonw_string (header, "s", bad[i]);
        ab_jsonw_int (header, "after", 1); /* a no-op now */
        size_t size = 0;
        ck_assert_msg (ab_jsonw_text (header, &size) == NULL, "case %zu", i);
        ck_assert_int_eq (ab_jsonw_error (header), AB_EINVAL);
    }
    /* a reset clears the failure */
    ab_jsonw_reset (header);
    ck_assert_int_eq (ab_jsonw_error (header), 0);
    ab_jsonw_int (header, "n", 1);
    size_t size = 0;
    ck_assert_str_eq (ab_jsonw_text (header, &size), "{\"n\":1}");
    ab_jsonw_destroy (&header);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("jsonw");
    TCase *tcase = tcase_create ("core");
    tcase_add_test (tcase, test_header_writer);
    tcase_add_test (tcase, test_header_writer_utf8);
    tcase_add_test (tcase, test_decimal);
    suite_add_tcase (suite, tcase);
    return ab_check_run (suite);
}
