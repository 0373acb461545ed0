/*  check_yaml - YAML 1.2 core schema loading, errors and positions

    Fixtures are in tests/fixtures/yaml/; main () changes into that folder
    so that file names in messages are short and exact. */

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentbus.h"
#include "common/ab_yaml.h"
#include "ab_check.h"

/* Loads a fixture that must load cleanly. */
static ab_yaml_t *
s_load_ok (const char *name)
{
    ab_diag_t *diag = ab_diag_new ();
    ab_yaml_t *doc = ab_yaml_load_file (name, diag);
    if (ab_diag_count (diag) > 0)
        ck_abort_msg ("%s: unexpected: %s", name, ab_diag_text (diag, 0));
    ck_assert_ptr_nonnull (doc);
    ab_diag_destroy (&diag);
    return doc;
}

/* Loads a fixture that must fail with exactly the `expected` messages. */
static void
s_load_fails (const char *name, const char *const *expected)
{
    ab_diag_t *diag = ab_diag_new ();
    ab_yaml_t *doc = ab_yaml_load_file (name, diag);
    ck_assert_ptr_null (doc);
    size_t count = 0;
    for (; expected[count]; count++) {
        ck_assert_uint_gt (ab_diag_count (diag), count);
        ck_assert_str_eq (ab_diag_text (diag, count), expected[count]);
    }
    ck_assert_uint_eq (ab_diag_count (diag), count);
    ab_diag_destroy (&diag);
}

/* Loads a string that must fail with one message. */
static void
s_string_fails (const char *text, const char *expected)
{
    ab_diag_t *diag = ab_diag_new ();
    ab_yaml_t *doc = ab_yaml_load_string (text, strlen (text), "t", diag);
    ck_assert_ptr_null (doc);
    ck_assert_uint_eq (ab_diag_count (diag), 1);
    ck_assert_str_eq (ab_diag_text (diag, 0), expected);
    ab_diag_destroy (&diag);
}

START_TEST (test_norway)
{
    ab_yaml_t *doc = s_load_ok ("norway.yaml");
    json_t *root = ab_yaml_root (doc);
    ck_assert_str_eq (json_string_value (json_object_get (root, "country")),
                      "no");
    ck_assert_str_eq (json_string_value (json_object_get (root, "switch")),
                      "on");
    ck_assert_str_eq (json_string_value (json_object_get (root, "answer")),
                      "yes");
    ck_assert_str_eq (json_string_value (json_object_get (root, "off")), "off");
    ck_assert_str_eq (json_string_value (json_object_get (root, "y")), "n");
    ab_yaml_destroy (&doc);
    ck_assert_ptr_null (doc);
}
END_TEST

/* The resolution table: each key of resolution.yaml and what it becomes,
   as compact JSON. */
static const struct {
    const char *key;
    const char *json;
} s_resolutions[] = {
    {"null_tilde", "null"},
    {"null_word", "null"},
    {"null_title", "null"},
    {"null_upper", "null"},
    {"null_empty", "null"},
    {"bool_true", "true"},
    {"bool_title", "true"},
    {"bool_upper", "true"},
    {"bool_false", "false"},
    {"bool_false_upper", "false"},
    {"str_mixed_case", "\"tRUE\""},
    {"int_decimal", "42"},
    {"int_negative", "-17"},
    {"int_plus", "8"},
    {"int_leading_zero", "7"},
    {"int_octal", "15"},
    {"int_hex", "31"},
    {"float_plain", "1.5"},
    {"float_dot", "0.5"},
    {"float_trailing", "1.0"},
    {"float_exp", "1000.0"},
    {"float_neg_exp", "-0.025"},
    {"str_octal_bad", "\"0o8\""},
    {"str_hex_bad", "\"0xG\""},
    {"str_word", "\"hello\""},
    {"str_version", "\"1.2.3\""},
    {"quoted_int", "\"42\""},
    {"quoted_null", "\"null\""},
    {"quoted_bool", "\"true\""},
    {"tagged_str", "\"5\""},
    {"tagged_int", "7"},
    {"tagged_float", "3.0"},
    {"nonspecific", "\"12\""},
};

START_TEST (test_resolution_table)
{
    ab_yaml_t *doc = s_load_ok ("resolution.yaml");
    json_t *root = ab_yaml_root (doc);
    size_t count = sizeof s_resolutions / sizeof s_resolutions[0];
    ck_assert_uint_eq (json_object_size (root), count);
    for (size_t i = 0; i < count; i++) {
        json_t *value = json_object_get (root, s_resolutions[i].key);
        ck_assert_msg (value, "missing %s", s_resolutions[i].key);
        char *text = json_dumps (value, JSON_ENCODE_ANY | JSON_COMPACT |
                                            JSON_REAL_PRECISION (15));
        ck_assert_msg (strcmp (text, s_resolutions[i].json) == 0,
                       "%s: got %s, want %s", s_resolutions[i].key, text,
                       s_resolutions[i].json);
        free (text);
    }
    ab_yaml_destroy (&doc);
}
END_TEST

START_TEST (test_duplicate_keys)
{
    const char *expected[] = {
        "duplicate.yaml:4:3: duplicate key 'a' (first at line 2)",
        "duplicate.yaml:6:1: duplicate key 'edges' (first at line 5)", NULL};
    s_load_fails ("duplicate.yaml", expected);
}
END_TEST

START_TEST (test_tab_indentation)
{
    const char *expected[] = {
        "tab-indent.yaml:2:1: tab character in indentation (YAML allows "
        "only spaces)",
        NULL};
    s_load_fails ("tab-indent.yaml", expected);
}
END_TEST

START_TEST (test_invalid_utf8)
{
    const char *expected[] = {
        "invalid-utf8.yaml:2:6: invalid leading UTF-8 octet (byte 0x80)", NULL};
    s_load_fails ("invalid-utf8.yaml", expected);
}
END_TEST

START_TEST (test_huge_numbers)
{
    const char *expected[] = {
        "huge-numbers.yaml:3:7: integer out of range: 9223372036854775808",
        "huge-numbers.yaml:4:8: integer out of range: -9223372036854775809",
        "huge-numbers.yaml:5:11: integer out of range: 0x10000000000000000",
        "huge-numbers.yaml:6:12: number out of range: 1e400",
        "huge-numbers.yaml:7:6: '.inf' is not a finite number (JSON has no "
        "Inf or NaN)",
        "huge-numbers.yaml:8:10: '-.INF' is not a finite number (JSON has no "
        "Inf or NaN)",
        "huge-numbers.yaml:9:6: '.NaN' is not a finite number (JSON has no "
        "Inf or NaN)",
        NULL};
    s_load_fails ("huge-numbers.yaml", expected);
    const char *text = "max: 9223372036854775807\n"
                       "min: -9223372036854775808\n";
    ab_yaml_t *doc = ab_yaml_load_string (text, strlen (text), "t", NULL);
    ck_assert_ptr_nonnull (doc);
    json_t *root = ab_yaml_root (doc);
    ck_assert (json_integer_value (json_object_get (root, "max")) == INT64_MAX);
    ck_assert (json_integer_value (json_object_get (root, "min")) == INT64_MIN);
    ab_yaml_destroy (&doc);
}
END_TEST

START_TEST (test_billion_laughs)
{
    clock_t start = clock ();
    const char *expected[] = {
        "billion-laughs.yaml:7:8: alias expansion exceeds 1000000 nodes", NULL};
    s_load_fails ("billion-laughs.yaml", expected);
    /* Not a speed test: a bound against expanding 10^9 nodes at all. */
    ck_assert (clock () - start < 30 * CLOCKS_PER_SEC);
}
END_TEST

START_TEST (test_deep_nesting)
{
    size_t depth = 100000;
    char *text = malloc (2 * depth + 1);
    memset (text, '[', depth);
    memset (text + depth, ']', depth);
    text[2 * depth] = '\0';
    s_string_fails (text, "t:1:513: nesting deeper than 512 levels");
    /* 512 levels are fine. */
    ab_yaml_t *doc = ab_yaml_load_string (text + depth - 512, 1024, "t", NULL);
    ck_assert_ptr_nonnull (doc);
    ab_yaml_destroy (&doc);
    free (text);
    /* Aliases may not paste a deep value deeper than the bound. */
    size_t half = 300;
    char *deep = malloc (4 * half + 64);
    char *p = deep;
    p += sprintf (p, "a: &x ");
    memset (p, '[', half), p += half;
    memset (p, ']', half), p += half;
    p += sprintf (p, "\nb: ");
    memset (p, '[', half), p += half;
    p += sprintf (p, "*x");
    memset (p, ']', half), p += half;
    *p = '\0';
    s_string_fails (deep, "t:2:304: nesting deeper than 512 levels");
    free (deep);
}
END_TEST

START_TEST (test_multiple_documents)
{
    const char *expected[] = {
        "multi-doc.yaml:2:1: more than one document in the file", NULL};
    s_load_fails ("multi-doc.yaml", expected);
}
END_TEST

START_TEST (test_empty_is_null)
{
    ab_yaml_t *doc = ab_yaml_load_string ("", 0, "empty", NULL);
    ck_assert_ptr_nonnull (doc);
    ck_assert (json_is_null (ab_yaml_root (doc)));
    ck_assert_str_eq (ab_yaml_name (doc), "empty");
    ab_yaml_destroy (&doc);
    const char *comment = "# nothing here\n";
    doc = ab_yaml_load_string (comment, strlen (comment), NULL, NULL);
    ck_assert (json_is_null (ab_yaml_root (doc)));
    ck_assert_str_eq (ab_yaml_name (doc), "<input>");
    ab_yaml_destroy (&doc);
}
END_TEST

START_TEST (test_positions)
{
    ab_yaml_t *doc = s_load_ok ("positions.yaml");
    json_t *root = ab_yaml_root (doc);
    ab_pos_t pos = ab_yaml_root_pos (doc);
    ck_assert_int_eq (pos.line, 2);
    ck_assert_int_eq (pos.column, 1);
    pos = ab_yaml_key_pos (doc, root, "name");
    ck_assert_int_eq (pos.line, 2);
    ck_assert_int_eq (pos.column, 1);
    pos = ab_yaml_value_pos (doc, root, "name");
    ck_assert_int_eq (pos.line, 2);
    ck_assert_int_eq (pos.column, 7);
    json_t *agents = json_object_get (root, "agents");
    pos = ab_yaml_node_pos (doc, agents);
    ck_assert_int_eq (pos.line, 4);
    ck_assert_int_eq (pos.column, 3);
    pos = ab_yaml_key_pos (doc, agents, "reasoner");
    ck_assert_int_eq (pos.line, 5);
    ck_assert_int_eq (pos.column, 3);
    json_t *retriever = json_object_get (agents, "retriever");
    pos = ab_yaml_value_pos (doc, retriever, "description");
    ck_assert_int_eq (pos.line, 4);
    ck_assert_int_eq (pos.column, 28);
    json_t *edges = json_object_get (root, "edges");
    pos = ab_yaml_item_pos (doc, edges, 0);
    ck_assert_int_eq (pos.line, 7);
    ck_assert_int_eq (pos.column, 5);
    pos = ab_yaml_item_pos (doc, edges, 1);
    ck_assert_int_eq (pos.line, 8);
    ck_assert_int_eq (pos.column, 7);
    pos = ab_yaml_key_pos (doc, json_array_get (edges, 1), "to");
    ck_assert_int_eq (pos.line, 9);
    ck_assert_int_eq (pos.column, 7);
    /* Singletons (true) are found by their container and key. */
    pos = ab_yaml_value_pos (doc, root, "flag");
    ck_assert_int_eq (pos.line, 10);
    ck_assert_int_eq (pos.column, 7);
    /* Unknown places are {0, 0}. */
    pos = ab_yaml_value_pos (doc, root, "nope");
    ck_assert_int_eq (pos.line, 0);
    pos = ab_yaml_item_pos (doc, edges, 2);
    ck_assert_int_eq (pos.line, 0);
    pos = ab_yaml_node_pos (doc, json_object_get (root, "name"));
    ck_assert_int_eq (pos.column, 0);
    ab_yaml_destroy (&doc);
}
END_TEST

START_TEST (test_anchors_shared)
{
    ab_yaml_t *doc = s_load_ok ("anchors.yaml");
    json_t *root = ab_yaml_root (doc);
    json_t *base = json_object_get (root, "base");
    json_t *copy = json_object_get (root, "copy");
    /* An alias shares the anchored value... */
    ck_assert_ptr_eq (base, copy);
    ck_assert_str_eq (json_string_value (json_object_get (root, "again")),
                      "hello");
    /* ...which keeps the anchor's positions, while the alias's own place
       is where it is written. */
    ab_pos_t pos = ab_yaml_node_pos (doc, copy);
    ck_assert_int_eq (pos.line, 1);
    ck_assert_int_eq (pos.column, 7); /* libyaml starts a node at its anchor */
    pos = ab_yaml_value_pos (doc, root, "copy");
    ck_assert_int_eq (pos.line, 2);
    ck_assert_int_eq (pos.column, 7);
    pos = ab_yaml_key_pos (doc, copy, "tags");
    ck_assert_int_eq (pos.line, 1);
    ck_assert_int_eq (pos.column, 35);
    ab_yaml_destroy (&doc);
}
END_TEST

START_TEST (test_string_errors)
{
    s_string_fails ("a: [1, 2\nb: 3\n",
                    "t:2:2: did not find expected ',' or ']' (while "
                    "parsing a flow sequence)");
    s_string_fails ("a: *nope\n", "t:1:4: unknown anchor 'nope'");
    s_string_fails ("[1]: 2\n",
                    "t:1:1: mapping key is not a scalar (keys are strings)");
    s_string_fails ("a: &k x\n*k : 2\n",
                    "t:2:1: mapping key is an alias (keys are strings)");
    s_string_fails ("a: !foo x\n", "t:1:4: unsupported tag '!foo'");
    s_string_fails ("a: !!int x\n", "t:1:4: 'x' is not a valid int");
    s_string_fails ("a: !!binary aGk=\n",
                    "t:1:4: unsupported tag 'tag:yaml.org,2002:binary'");
    s_string_fails ("\"a\\0b\": 1\n",
                    "t:1:1: mapping key contains a NUL character");
}
END_TEST

START_TEST (test_load_string_keys_and_nul)
{
    const char *text = "1: one\n~: tilde\n\"q\": \"a\\0b\"\n";
    ab_yaml_t *doc = ab_yaml_load_string (text, strlen (text), "t", NULL);
    ck_assert_ptr_nonnull (doc);
    json_t *root = ab_yaml_root (doc);
    ck_assert_str_eq (json_string_value (json_object_get (root, "1")), "one");
    ck_assert_str_eq (json_string_value (json_object_get (root, "~")), "tilde");
    ck_assert_uint_eq (json_string_length (json_object_get (root, "q")), 3);
    ab_yaml_destroy (&doc);
    ab_yaml_destroy (&doc);
}
END_TEST

START_TEST (test_missing_file)
{
    ab_diag_t *diag = ab_diag_new ();
    ck_assert_ptr_null (ab_yaml_load_file ("no-such.yaml", diag));
    ck_assert_str_eq (ab_diag_text (diag, 0),
                      "no-such.yaml: cannot open: No such file or directory");
    ab_diag_destroy (&diag);
}
END_TEST

int
main (void)
{
    if (ab_check_chdir_fixtures ("yaml") != 0)
        return 1;
    Suite *suite = suite_create ("yaml");
    TCase *tcase = tcase_create ("core");
    tcase_add_test (tcase, test_norway);
    tcase_add_test (tcase, test_resolution_table);
    tcase_add_test (tcase, test_duplicate_keys);
    tcase_add_test (tcase, test_tab_indentation);
    tcase_add_test (tcase, test_invalid_utf8);
    tcase_add_test (tcase, test_huge_numbers);
    tcase_add_test (tcase, test_billion_laughs);
    tcase_add_test (tcase, test_deep_nesting);
    tcase_add_test (tcase, test_multiple_documents);
    tcase_add_test (tcase, test_empty_is_null);
    tcase_add_test (tcase, test_positions);
    tcase_add_test (tcase, test_anchors_shared);
    tcase_add_test (tcase, test_string_errors);
    tcase_add_test (tcase, test_load_string_keys_and_nul);
    tcase_add_test (tcase, test_missing_file);
    suite_add_tcase (suite, tcase);
    return ab_check_run (suite);
}
