/*  check_log - leveled log lines */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "common/ab_log.h"
#include "ab_check.h"

static char *s_buffer;
static size_t s_size;

static ab_log_t *
s_log_to_memory (ab_log_level_t level, FILE **stream_p)
{
    *stream_p = open_memstream (&s_buffer, &s_size);
    ck_assert_ptr_nonnull (*stream_p);
    return ab_log_new (*stream_p, level, AB_LOG_UNSTAMPED);
}

START_TEST (test_levels_filter_lines)
{
    FILE *stream;
    ab_log_t *log = s_log_to_memory (AB_LOG_WARNING, &stream);
    ab_log_printf (log, AB_LOG_ERROR, "disk %s", "full");
    ab_log_printf (log, AB_LOG_INFO, "not shown");
    ab_log_printf (log, AB_LOG_WARNING, "slow consumer %d", 7);
    ck_assert (ab_log_enabled (log, AB_LOG_ERROR));
    ck_assert (!ab_log_enabled (log, AB_LOG_DEBUG));
    fclose (stream);
    ck_assert_str_eq (s_buffer, "error: disk full\nwarning: slow consumer 7\n");
    free (s_buffer);
    ab_log_destroy (&log);
    ck_assert_ptr_null (log);
    ab_log_destroy (&log); /* NULL is accepted */
}
END_TEST

START_TEST (test_long_line_is_truncated_with_newline)
{
    FILE *stream;
    ab_log_t *log = s_log_to_memory (AB_LOG_DEBUG, &stream);
    char big[5000];
    memset (big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    ab_log_printf (log, AB_LOG_DEBUG, "%s", big);
    fclose (stream);
    ck_assert_uint_lt (s_size, sizeof big);
    ck_assert_int_eq (s_buffer[s_size - 1], '\n');
    free (s_buffer);
    ab_log_destroy (&log);
}
END_TEST

START_TEST (test_null_log_and_level_names)
{
    ab_log_printf (NULL, AB_LOG_ERROR, "goes nowhere");
    ck_assert (!ab_log_enabled (NULL, AB_LOG_ERROR));
    ab_log_level_t level;
    ck_assert_int_eq (ab_log_level_from_name ("debug", &level), 0);
    ck_assert_int_eq (level, AB_LOG_DEBUG);
    ck_assert_int_eq (ab_log_level_from_name ("verbose", &level), AB_EINVAL);
    ck_assert_int_eq (ab_log_level_from_name (NULL, &level), AB_EINVAL);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("log");
    TCase *tcase = tcase_create ("core");
    tcase_add_test (tcase, test_levels_filter_lines);
    tcase_add_test (tcase, test_long_line_is_truncated_with_newline);
    tcase_add_test (tcase, test_null_log_and_level_names);
    suite_add_tcase (suite, tcase);
    return ab_check_run (suite);
}
