/*  check_jsonscan - ab_jsonscan against jansson's own verdict

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.

    The scanner is only worth having if it says yes exactly when
    json_loadb (JSON_DECODE_ANY) says yes. So every case here is asked of
    both: numbered edge cases with the expected answer, every document and
    every `data` value of the JSON Schema Test Suite, and seeded random
    mutations of all of them (a byte replaced, inserted or dropped, the
    text cut short).
*/

#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "ab_check.h"
#include "agentbus.h"
#include "wire/ab_jsonscan.h"

/* jansson's answer, less one quirk: it skips a NUL byte that directly
   follows a number ("[1\0]" loads), which RFC 8259 does not allow. The
   broker rejects every payload with a NUL byte in it before either
   parser sees it, and the scanner rejects NUL bytes itself. */
static bool
s_jansson_accepts (const char *text, size_t size)
{
    if (memchr (text, 0, size))
        return false;
    json_t *value = json_loadb (text, size, JSON_DECODE_ANY, NULL);
    json_decref (value);
    return value != NULL;
}

/* The loaded values are the same: compact dumps in member order are
   equal (so duplicate keys resolve alike and numbers convert alike). */
static bool
s_same_value (const json_t *ours, const json_t *theirs)
{
    if (!ours || !theirs)
        return ours == theirs;
    size_t flags = JSON_ENCODE_ANY | JSON_COMPACT;
    char *a = json_dumps (ours, flags), *b = json_dumps (theirs, flags);
    bool same = a && b && strcmp (a, b) == 0 && json_equal (ours, theirs);
    free (a);
    free (b);
    return same;
}

/* Both verdicts agree, for check and for load, and the loaded values
   are equal; or the test fails naming the text. */
static bool
s_agree (const char *text, size_t size)
{
    ab_jsonscan_t scan, loaded;
    bool ours = ab_jsonscan_check (text, size, &scan) == 0;
    bool theirs = s_jansson_accepts (text, size);
    json_t *mine = ab_jsonscan_load (text, size, &loaded);
    json_t *reference =
        theirs ? json_loadb (text, size, JSON_DECODE_ANY, NULL) : NULL;
    bool same = (mine != NULL) == ours && s_same_value (mine, reference) &&
                loaded.frame_key == scan.frame_key;
    json_decref (mine);
    json_decref (reference);
    if (!same) {
        fprintf (stderr, "load differs: ");
        fwrite (text, 1, size < 300 ? size : 300, stderr);
        fputc ('\n', stderr);
        return false;
    }
    if (ours != theirs) {
        fprintf (stderr, "disagree (scanner %s, jansson %s; %s at %zu): ",
                 ours ? "yes" : "no", theirs ? "yes" : "no",
                 ours ? "-" : scan.why, ours ? 0 : scan.offset);
        fwrite (text, 1, size < 300 ? size : 300, stderr);
        fputc ('\n', stderr);
    }
    return ours == theirs;
}

typedef struct {
    const char *text; /* NUL-terminated unless size is given */
    size_t size;      /* 0: strlen (text) */
    bool valid;       /* the expected verdict */
} s_case_t;

/* 1. values of every kind; 2. structure errors; 3. numbers at their
   bounds; 4. strings: escapes, surrogates, NUL, control characters;
   5. UTF-8: valid, overlong, surrogates, past U+10FFFF, truncated. */
static const s_case_t s_cases[] = {
    /* 1 */
    {"{}", 0, true},
    {"[]", 0, true},
    {" \t\r\n[1, 2.5, -3e2, \"x\", true, false, null, {\"a\": []}] \n", 0,
     true},
    {"\"just a string\"", 0, true},
    {"0", 0, true},
    {"-0", 0, true},
    {"null", 0, true},
    {"{\"a\":{\"b\":{\"c\":[[[]]]}}}", 0, true},
    {"{\"a\":1,\"b\":[1,{\"a\":null}],\"a\":2}", 0, true},
    {"{\"k\\u00e9y\":\"v\\u00e9\\ud83d\\ude00\",\"\\\"\":\"\\\\\"}", 0, true},
    {"[0.1,-0.0,1.5e3,2E-3,123456789012345678,-123456789012345678,1e22]", 0,
     true},
    /* 2 */
    {"", 0, false},
    {"   ", 0, false},
    {"{", 0, false},
    {"[1,]", 0, false},
    {"{\"a\":1,}", 0, false},
    {"{\"a\" 1}", 0, false},
    {"{1:2}", 0, false},
    {"[1 2]", 0, false},
    {"{} {}", 0, false},
    {"truex", 0, false},
    {"tru", 0, false},
    {"nul", 0, false},
    {"[true false]", 0, false},
    {"]", 0, false},
    {"{\"a\":1]", 0, false},
    {"[1}", 0, false},
    {"'x'", 0, false},
    {"\xEF\xBB\xBF{}", 0, false},
    {"[\0]", 3, false},
    {"{}\0", 3, false},
    {"[1\0]", 4, false},
    {"1\0", 2, false},
    /* 3 */
    {"01", 0, false},
    {"-", 0, false},
    {"-a", 0, false},
    {"1.", 0, false},
    {".5", 0, false},
    {"1.e5", 0, false},
    {"1e", 0, false},
    {"1e+", 0, false},
    {"+1", 0, false},
    {"1E-2", 0, true},
    {"9223372036854775807", 0, true},
    {"-9223372036854775808", 0, true},
    {"9223372036854775808", 0, false},
    {"-9223372036854775809", 0, false},
    {"00000", 0, false},
    {"1e308", 0, true},
    {"1e309", 0, false},
    {"-1e400", 0, false},
    {"1e-400", 0, true},
    {"123456789012345678901234567890.5", 0, true},
    /* 4 */
    {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", 0, true},
    {"\"\\x\"", 0, false},
    {"\"\\u00e9\\u20AC\"", 0, true},
    {"\"\\u00g9\"", 0, false},
    {"\"\\u00\"", 0, false},
    {"\"\\u0000\"", 0, false},
    {"\"\\ud83d\\ude00\"", 0, true},
    {"\"\\ud83d\"", 0, false},
    {"\"\\ud83dx\"", 0, false},
    {"\"\\ud83d\\u0041\"", 0, false},
    {"\"\\ude00\"", 0, false},
    {"\"tab\there\"", 0, false},
    {"\"nl\nhere\"", 0, false},
    {"\"unterminated", 0, false},
    {"\"ends in backslash\\", 0, false},
    /* 5 */
    {"\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"", 0, true},
    {"\"\xC0\xAF\"", 0, false},
    {"\"\xE0\x80\xAF\"", 0, false},
    {"\"\xED\xA0\x80\"", 0, false},
    {"\"\xF4\x90\x80\x80\"", 0, false},
    {"\"\xF5\x80\x80\x80\"", 0, false},
    {"\"\x80\"", 0, false},
    {"\"\xE2\x82\"", 0, false},
    {"\"\xE2\x82", 0, false},
    {"\"\xFF\"", 0, false},
};

START_TEST (test_cases)
{
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        const s_case_t *c = &s_cases[i];
        size_t size = c->size ? c->size : strlen (c->text);
        ab_jsonscan_t scan;
        int rc = ab_jsonscan_check (c->text, size, &scan);
        ck_assert_msg ((rc == 0) == c->valid, "case %zu: %s (%s)", i, c->text,
                       rc ? scan.why : "accepted");
        if (rc) {
            ck_assert_int_eq (rc, AB_EINVAL);
            ck_assert_ptr_nonnull (scan.why);
            ck_assert_uint_le (scan.offset, size);
        }
        ck_assert (s_agree (c->text, size));
    }
}
END_TEST

/* Nesting: jansson allows 2048 levels, not 2049. */
START_TEST (test_depth)
{
    for (size_t depth = 2047; depth <= 2049; depth++) {
        char *text = malloc (2 * depth + 1);
        ck_assert_ptr_nonnull (text);
        memset (text, '[', depth);
        memset (text + depth, ']', depth);
        ab_jsonscan_t scan;
        int rc = ab_jsonscan_check (text, 2 * depth, &scan);
        ck_assert_int_eq (rc == 0, depth <= 2048);
        ck_assert (s_agree (text, 2 * depth));
        free (text);
    }
}
END_TEST

/* A key that is, or could decode to, "frame" is reported; others not. */
START_TEST (test_frame_key)
{
    static const struct {
        const char *text;
        bool frame_key;
    } cases[] = {
        {"{\"x\": {\"dtype\": \"float32\", \"shape\": [2], \"frame\": 0}}",
         true},
        {"{\"fr\\u0061me\": 0}", true},
        {"{\"frames\": 0, \"name\": \"frame\"}", false},
        {"[\"frame\"]", false},
        {"{\"a\": 1}", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ab_jsonscan_t scan;
        ck_assert_int_eq (
            ab_jsonscan_check (cases[i].text, strlen (cases[i].text), &scan),
            0);
        ck_assert_msg (scan.frame_key == cases[i].frame_key, "%s",
                       cases[i].text);
    }
}
END_TEST

/* ---------------------------------------------------------------------
   The corpus and its mutations */

typedef struct {
    char **texts;
    size_t count;
    size_t capacity;
} s_corpus_t;

static void
s_corpus_add (s_corpus_t *corpus, char *text)
{
    if (corpus->count == corpus->capacity) {
        corpus->capacity = corpus->capacity ? 2 * corpus->capacity : 256;
        corpus->texts =
            realloc (corpus->texts, corpus->capacity * sizeof (char *));
        ck_assert_ptr_nonnull (corpus->texts);
    }
    corpus->texts[corpus->count++] = text;
}

/* Every file of the suite's `dir` whole, and each test's `data` dumped. */
static void
s_corpus_load (s_corpus_t *corpus, const char *dir)
{
    DIR *d = opendir (dir);
    if (!d)
        return;
    struct dirent *entry;
    while ((entry = readdir (d))) {
        size_t length = strlen (entry->d_name);
        if (length < 6 || strcmp (entry->d_name + length - 5, ".json"))
            continue;
        char path[4096];
        snprintf (path, sizeof path, "%s/%s", dir, entry->d_name);
        FILE *file = fopen (path, "rb");
        if (!file)
            continue;
        char *text = NULL;
        size_t size = 0;
        FILE *out = open_memstream (&text, &size);
        char buffer[8192];
        size_t got;
        while ((got = fread (buffer, 1, sizeof buffer, file)) > 0)
            fwrite (buffer, 1, got, out);
        fclose (file);
        fclose (out);
        json_t *groups = json_loadb (text, size, 0, NULL);
        s_corpus_add (corpus, text);
        size_t i, j;
        json_t *group, *test;
        json_array_foreach (groups, i, group)
        {
            json_array_foreach (json_object_get (group, "tests"), j, test)
            {
                char *data = json_dumps (
                    json_object_get (test, "data"),
                    JSON_ENCODE_ANY | (j % 2 ? JSON_INDENT (1) : JSON_COMPACT));
                if (data)
                    s_corpus_add (corpus, data);
            }
        }
        json_decref (groups);
    }
    closedir (d);
}

/* xorshift: the same mutations on every run */
static uint64_t
s_next (uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/* Bytes a mutation puts in: JSON's own punctuation and the bytes at the
   edges of every rule the scanner checks. */
static const unsigned char s_bytes[] = {
    '"',  '\\', ',',  ':',  '[',  ']',  '{',  '}',  '0',  '1',
    '9',  '-',  '+',  '.',  'e',  'E',  'u',  'd',  'D',  'n',
    't',  'f',  ' ',  '\n', '\t', 0x00, 0x1F, 0x7F, 0x80, 0xBF,
    0xC0, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF};

static bool
s_mutate_and_check (const char *text, uint64_t *state)
{
    size_t size = strlen (text);
    char *copy = malloc (size + 2);
    ck_assert_ptr_nonnull (copy);
    bool agreed = true;
    for (int round = 0; round < 64 && agreed; round++) {
        memcpy (copy, text, size + 1);
        size_t length = size;
        int edits = 1 + (int)(s_next (state) % 3);
        for (int e = 0; e < edits && length; e++) {
            size_t at = s_next (state) % length;
            unsigned char byte = s_bytes[s_next (state) % sizeof s_bytes];
            switch (s_next (state) % 4) {
            case 0:
                copy[at] = (char)byte;
                break;
            case 1: /* insert (room for one: the NUL's place is reused) */
                if (e == 0) {
                    memmove (copy + at + 1, copy + at, length - at);
                    copy[at] = (char)byte;
                    length++;
                }
                break;
            case 2:
                memmove (copy + at, copy + at + 1, length - at - 1);
                length--;
                break;
            default:
                length = at;
            }
        }
        agreed = s_agree (copy, length);
    }
    free (copy);
    return agreed;
}

START_TEST (test_suite_corpus)
{
    const char *root = getenv ("TESTDATA_DIR");
    s_corpus_t corpus = {0};
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++)
        if (!s_cases[i].size)
            s_corpus_add (&corpus, strdup (s_cases[i].text));
    char dir[2048];
    snprintf (dir, sizeof dir, "%s/json-schema-test-suite/tests/draft2020-12",
              root ? root : ".");
    s_corpus_load (&corpus, dir);
    snprintf (dir, sizeof dir,
              "%s/json-schema-test-suite/tests/draft2020-12/optional",
              root ? root : ".");
    s_corpus_load (&corpus, dir);
    printf ("jsonscan: %zu documents, %zu mutations each\n", corpus.count,
            (size_t)64);
    size_t disagreed = 0;
    uint64_t state = 0x9E3779B97F4A7C15u;
    for (size_t i = 0; i < corpus.count; i++) {
        const char *text = corpus.texts[i];
        disagreed += !s_agree (text, strlen (text));
        /* whole suite files are long: mutate the short documents */
        if (strlen (text) < 4096)
            disagreed += !s_mutate_and_check (text, &state);
        free (corpus.texts[i]);
    }
    free (corpus.texts);
    ck_assert_uint_eq (disagreed, 0);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("jsonscan");
    TCase *tcase = tcase_create ("jsonscan");
    tcase_set_timeout (tcase, 120);
    tcase_add_test (tcase, test_cases);
    tcase_add_test (tcase, test_depth);
    tcase_add_test (tcase, test_frame_key);
    tcase_add_test (tcase, test_suite_corpus);
    suite_add_tcase (suite, tcase);
    return ab_check_run (suite);
}
