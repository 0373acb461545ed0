/*  check_translate - ab_translate through the registry: `translate:` and
    `compatibility:` read from schema files, their load errors at
    FILE:LINE:COL, the precomputed chains (shortest, ties toward newer
    versions), routing to the newest accepted version, and applying a
    chain (patched, then validated). Fixtures in
    tests/fixtures/schema/versions/. */

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "schema/ab_translate.h"
#include "schema/ab_registry.h"

static char s_dir[2048];

/* Loads every file of versions/FOLDER whose name starts with `prefix`
   ("" for all) and compiles; the diag collects the problems. */
static ab_registry_t *
s_load (const char *folder, const char *prefix, ab_diag_t *diag, int *rc_p)
{
    ab_registry_t *registry = ab_registry_new (NULL);
    char path[4096];
    snprintf (path, sizeof path, "%s/%s", s_dir, folder);
    DIR *dir = opendir (path);
    ck_assert_msg (dir != NULL, "no fixture folder %s", path);
    struct dirent *entry;
    int rc = 0;
    while ((entry = readdir (dir))) {
        if (entry->d_name[0] == '.' ||
            strncmp (entry->d_name, prefix, strlen (prefix)) != 0)
            continue;
        snprintf (path, sizeof path, "%s/%s/%s", s_dir, folder, entry->d_name);
        int one = ab_registry_load_file (registry, path, diag, NULL, NULL);
        rc = rc ? rc : one;
    }
    closedir (dir);
    if (rc == 0)
        rc = ab_registry_compile (registry, diag);
    *rc_p = rc;
    return registry;
}

static json_t *
s_json (const char *text)
{
    json_error_t error;
    json_t *json = json_loads (text, 0, &error);
    ck_assert_msg (json != NULL, "bad JSON in test: %s", error.text);
    return json;
}

/* Translates `input` from..to and compares with `want` (NULL: must fail,
   and the first error's message must hold `needle`). */
static void
s_expect (const ab_translate_t *table, const char *type, int from, int to,
          const char *input, const char *want, const char *needle)
{
    const ab_chain_t *chain = ab_translate_chain (table, type, from, to);
    ck_assert_msg (chain != NULL, "no chain %s v%d -> v%d", type, from, to);
    json_t *payload = s_json (input);
    json_t *before = json_deep_copy (payload);
    json_t *result = NULL, *errors = NULL;
    int rc = ab_chain_apply (chain, payload, &result, &errors);
    ck_assert (json_equal (payload, before)); /* never touched */
    if (want) {
        char *text = errors ? json_dumps (errors, 0) : NULL;
        ck_assert_msg (rc == 0, "%s v%d -> v%d failed: %s", type, from, to,
                       text ? text : "?");
        free (text);
        json_t *expected = s_json (want);
        ck_assert (json_equal (result, expected));
        json_decref (expected);
    } else {
        ck_assert_int_ne (rc, 0);
        ck_assert_ptr_null (result);
        const char *message = json_string_value (
            json_object_get (json_array_get (errors, 0), "message"));
        ck_assert_msg (message && strstr (message, needle),
                       "error '%s' lacks '%s'", message ? message : "(none)",
                       needle);
    }
    json_decref (result);
    json_decref (errors);
    json_decref (payload);
    json_decref (before);
}

START_TEST (test_chains)
{
    ab_diag_t *diag = ab_diag_new ();
    int rc;
    ab_registry_t *registry = s_load ("good", "", diag, &rc);
    ck_assert_msg (rc == 0, "good fixtures failed: %s",
                   ab_diag_count (diag) ? ab_diag_text (diag, 0) : "?");
    const ab_translate_t *table = ab_registry_translations (registry);
    ck_assert_ptr_nonnull (table);

    /* up one step, up two, down two; each result valid */
    s_expect (table, "note", 1, 2, "{\"text\":\"hi\"}",
              "{\"body\":\"hi\",\"lang\":\"en\"}", NULL);
    s_expect (table, "note", 1, 3, "{\"text\":\"hi\"}",
              "{\"body\":\"hi\",\"lang\":\"en\"}", NULL);
    s_expect (table, "note", 3, 1,
              "{\"body\":\"hi\",\"lang\":\"en\",\"tags\":[\"x\"]}",
              "{\"text\":\"hi\"}", NULL);
    s_expect (table, "note", 2, 2, "{\"body\":\"b\",\"lang\":\"de\"}",
              "{\"body\":\"b\",\"lang\":\"de\"}", NULL);
    ck_assert_int_eq (
        ab_chain_length (ab_translate_chain (table, "note", 3, 1)), 2);
    ck_assert_int_eq (
        ab_chain_length (ab_translate_chain (table, "note", 2, 2)), 0);

    /* a failing op names the translation and the op */
    s_expect (table, "note", 3, 1,
              "{\"body\":\"hi\",\"lang\":\"fr\",\"tags\":[]}", NULL,
              "translation note v2 -> v1, op 0 (test /lang): test failed");
    /* a result that fails its schema is refused, naming the chain */
    s_expect (table, "note", 1, 2, "{\"text\":5}", NULL,
              "after translation note v1 -> v2:");
    /* a patch whose path is missing in this payload */
    s_expect (table, "note", 1, 2, "{\"other\":1}", NULL,
              "op 1 (move /body): path does not exist");

    /* equally short chains: the one through the newer version */
    s_expect (table, "tie", 1, 4, "{}", "{\"via\":[3,4]}", NULL);

    /* routing: the newest accepted version reachable; none needed when
       the published version is accepted */
    const int up[] = {2, 3}, own[] = {1, 2}, down[] = {1}, none[] = {9};
    const ab_chain_t *chain = ab_translate_route (table, "note", 1, up, 2);
    ck_assert_int_eq (ab_chain_to (chain), 3);
    ck_assert_int_eq (ab_chain_from (chain), 1);
    chain = ab_translate_route (table, "note", 1, own, 2);
    ck_assert_int_eq (ab_chain_to (chain), 1);
    ck_assert_int_eq (ab_chain_length (chain), 0);
    chain = ab_translate_route (table, "note", 3, down, 1);
    ck_assert_int_eq (ab_chain_to (chain), 1);
    ck_assert_int_eq (ab_chain_length (chain), 2);
    ck_assert_ptr_null (ab_translate_route (table, "note", 1, none, 1));
    ck_assert_ptr_null (ab_translate_route (table, "tie", 4, down, 1));
    ck_assert_ptr_null (ab_translate_route (table, "nosuch", 1, NULL, 0));
    chain = ab_translate_route (table, "note", 2, NULL, 0);
    ck_assert_int_eq (ab_chain_to (chain), 2);

    char *report = ab_translate_compat_report (table);
    ck_assert_ptr_nonnull (strstr (report, "note v2 -> v3: backward "
                                           "(declared backward)"));
    ck_assert_ptr_nonnull (strstr (report, "tie v3 -> v4: forward "
                                           "(declared forward)"));
    ck_assert_ptr_nonnull (strstr (report, "note v1 -> v2: none (declared "
                                           "nothing)"));
    free (report);
    ab_registry_destroy (&registry);
    ab_diag_destroy (&diag);
}
END_TEST

/* Loads bad/PREFIX*, which must fail with `needle` in a message that
   starts with "FILE:LINE:COL: ". */
static void
s_expect_bad (const char *prefix, const char *file, int line, int column,
              const char *needle)
{
    ab_diag_t *diag = ab_diag_new ();
    int rc;
    ab_registry_t *registry = s_load ("bad", prefix, diag, &rc);
    ck_assert_msg (rc != 0, "bad/%s* loaded", prefix);
    char where[4200];
    snprintf (where, sizeof where, "%s/bad/%s:%d:%d: ", s_dir, file, line,
              column);
    bool found = false;
    for (size_t i = 0; i < ab_diag_count (diag) && !found; i++) {
        const char *text = ab_diag_text (diag, i);
        found = strncmp (text, where, strlen (where)) == 0 &&
                strstr (text, needle) != NULL;
    }
    if (!found)
        for (size_t i = 0; i < ab_diag_count (diag); i++)
            printf ("  got: %s\n", ab_diag_text (diag, i));
    ck_assert_msg (found, "no '%s...%s' for bad/%s*", where, needle, prefix);
    ab_registry_destroy (&registry);
    ab_diag_destroy (&diag);
}

START_TEST (test_load_errors)
{
    s_expect_bad ("op.", "op.v2.yaml", 7, 9,
                  "translate from version 1: op 1: unknown op \"rename\"");
    s_expect_bad ("from.", "from.v1.yaml", 4, 11,
                  "translate from from version 7 to 1: names a version that "
                  "does not exist");
    s_expect_bad ("loop.", "loop.v1.yaml", 4, 11,
                  "translates its own version from itself");
    s_expect_bad ("compat.", "compat.v2.yaml", 8, 7,
                  "compatibility: forward does not hold for v1 -> v2");
    s_expect_bad ("first.", "first.v1.yaml", 3, 16,
                  "is the first version of its type");
    s_expect_bad ("undecided.", "undecided.v2.yaml", 4, 24,
                  "compatibility: backward cannot be shown for v1 -> v2");
    s_expect_bad ("optional.", "optional.v2.yaml", 6, 9,
                  "translate from version 1: op 0: its path does not exist "
                  "in every valid payload of version 1");
    s_expect_bad ("path.", "path.v2.yaml", 10, 9,
                  "op 4: its path does not exist in every valid payload of "
                  "version 1 (not required, or removed by an earlier op)");
    s_expect_bad ("name.", "name.v1.yaml", 3, 16,
                  "compatibility must be none, backward, forward or full");
}
END_TEST

int
main (void)
{
    snprintf (s_dir, sizeof s_dir, "%s/tests/fixtures/schema/versions",
              getenv ("AB_SRCDIR") ? getenv ("AB_SRCDIR") : ".");
    Suite *suite = suite_create ("translate");
    TCase *tcase = tcase_create ("translate");
    tcase_add_test (tcase, test_chains);
    tcase_add_test (tcase, test_load_errors);
    suite_add_tcase (suite, tcase);
    SRunner *runner = srunner_create (suite);
    srunner_set_fork_status (runner, CK_NOFORK);
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed ? 1 : 0;
}
