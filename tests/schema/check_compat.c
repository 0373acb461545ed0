/*  check_compat - ab_compat's verdicts on a table of schema pairs, both
    directions: A ⊆ B ("backward" when A is the older) and B ⊆ A. Each
    row names the keyword a non-HOLDS verdict must point at. */

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "agentbus.h"
#include "schema/ab_compat.h"

#define H AB_COMPAT_HOLDS
#define F AB_COMPAT_FAILS
#define U AB_COMPAT_UNDECIDED

/* One pair of schemas and the verdicts each way. */
static const struct {
    const char *a;     /* one schema (JSON) */
    const char *b;     /* the other */
    int a_in_b;        /* verdict on A ⊆ B */
    const char *ab_kw; /* the keyword named when not HOLDS */
    int b_in_a;        /* verdict on B ⊆ A */
    const char *ba_kw; /* the keyword named when not HOLDS */
} s_pairs[] = {
    /* 1 identical, and the trivial schemas */
    {"{\"type\":\"string\"}", "{\"type\":\"string\"}", H, "", H, ""},
    {"{\"type\":\"string\"}", "true", H, "", F, "type"},
    {"false", "{\"type\":\"string\"}", H, "", F, ""},
    {"{}", "{\"description\":\"anything\"}", H, "", H, ""},
    /* 5 type widened / narrowed */
    {"{\"type\":\"integer\"}", "{\"type\":\"number\"}", H, "", F, "type"},
    {"{\"type\":\"string\"}", "{\"type\":[\"string\",\"null\"]}", H, "", F,
     "type"},
    {"{\"type\":[\"integer\",\"string\"]}", "{\"type\":\"string\"}", F, "type",
     H, ""},
    /* 8 properties added or removed, additionalProperties */
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}",
     "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},"
     "\"b\":{\"type\":\"integer\"}}}",
     F, "type", H, ""},
    {"{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
     "\"a\":{\"type\":\"string\"}}}",
     "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
     "\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"integer\"}}}",
     H, "", F, ""},
    {"{\"type\":\"object\",\"additionalProperties\":false}",
     "{\"type\":\"object\"}", H, "", F, ""},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
     "\"additionalProperties\":{\"type\":\"integer\"}}",
     "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"number\"}}", F,
     "type", F, "type"},
    {"{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}",
     "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"number\"}}", H,
     "", F, "type"},
    /* 13 required */
    {"{\"type\":\"object\",\"required\":[\"a\",\"b\"]}",
     "{\"type\":\"object\",\"required\":[\"a\"]}", H, "", F, "required"},
    {"{\"type\":\"object\"}", "{\"type\":\"object\",\"required\":[\"a\"]}", F,
     "required", H, ""},
    {"{\"type\":\"string\"}", "{\"required\":[\"a\"]}", H, "", F, "type"},
    /* 16 enum and const */
    {"{\"enum\":[\"a\",\"b\"]}", "{\"enum\":[\"a\",\"b\",\"c\"]}", H, "", F,
     "enum"},
    {"{\"const\":\"a\"}", "{\"enum\":[\"a\",\"b\"]}", H, "", F, "const"},
    {"{\"type\":\"string\"}", "{\"enum\":[\"a\"]}", F, "enum", H, ""},
    {"{\"enum\":[1,2]}", "{\"type\":\"integer\"}", H, "", F, "enum"},
    {"{\"enum\":[1.0]}", "{\"const\":1}", H, "", H, ""},
    /* 21 numeric bounds */
    {"{\"type\":\"number\",\"minimum\":1,\"maximum\":5}",
     "{\"type\":\"number\",\"minimum\":0,\"maximum\":10}", H, "", F, "minimum"},
    {"{\"type\":\"number\",\"exclusiveMinimum\":0}",
     "{\"type\":\"number\",\"minimum\":0}", H, "", F, "exclusiveMinimum"},
    {"{\"type\":\"number\",\"minimum\":0}",
     "{\"type\":\"number\",\"exclusiveMinimum\":0}", F, "exclusiveMinimum", H,
     ""},
    {"{\"type\":\"number\"}", "{\"type\":\"number\",\"maximum\":1}", F,
     "maximum", H, ""},
    {"{\"type\":\"string\"}", "{\"maximum\":1}", H, "", F, "type"},
    {"{\"type\":\"integer\",\"maximum\":3}",
     "{\"type\":\"integer\",\"exclusiveMaximum\":3}", F, "exclusiveMaximum", H,
     ""},
    /* 27 length and size bounds */
    {"{\"type\":\"string\",\"minLength\":2}",
     "{\"type\":\"string\",\"minLength\":1}", H, "", F, "minLength"},
    {"{\"type\":\"string\",\"maxLength\":5}", "{\"type\":\"string\"}", H, "", F,
     "maxLength"},
    {"{\"type\":\"array\",\"minItems\":1,\"maxItems\":3}",
     "{\"type\":\"array\",\"maxItems\":4}", H, "", F, "minItems"},
    {"{\"type\":\"object\",\"minProperties\":1}", "{\"type\":\"object\"}", H,
     "", F, "minProperties"},
    {"{\"type\":\"string\"}", "{\"type\":\"string\",\"minLength\":0}", H, "", H,
     ""},
    /* 32 items */
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}",
     "{\"type\":\"array\",\"items\":{\"type\":\"number\"}}", H, "", F, "type"},
    {"{\"type\":\"array\"}",
     "{\"type\":\"array\",\"items\":{\"type\":\"number\"}}", F, "type", H, ""},
    {"{\"type\":\"array\",\"items\":[{\"type\":\"number\"}]}",
     "{\"type\":\"array\",\"items\":[{\"type\":\"integer\"}]}", U, "items", U,
     "items"},
    /* 35 tensor */
    {"{\"tensor\":{\"dtype\":\"float32\",\"shape\":[null,768]}}",
     "{\"tensor\":{\"dtype\":[\"float32\",\"float16\"],\"shape\":[null,768]}}",
     H, "", F, "tensor"},
    {"{\"tensor\":{\"dtype\":\"float32\",\"shape\":[4,768]}}",
     "{\"tensor\":{\"dtype\":\"float32\",\"shape\":[null,768]}}", H, "", F,
     "tensor"},
    {"{\"tensor\":{\"dtype\":\"float32\",\"shape\":[4]}}",
     "{\"tensor\":{\"dtype\":\"float32\"}}", H, "", F, "tensor"},
    {"{\"type\":\"object\"}", "{\"tensor\":{\"dtype\":\"int8\"}}", F, "tensor",
     H, ""},
    /* 39 keywords the rules must refuse to decide */
    {"{\"type\":\"string\",\"pattern\":\"^a\"}",
     "{\"type\":\"string\",\"pattern\":\"^ab?\"}", U, "pattern", U, "pattern"},
    {"{\"$ref\":\"#/$defs/x\",\"$defs\":{\"x\":{\"type\":\"string\"}}}",
     "{\"$ref\":\"#/$defs/x\",\"$defs\":{\"x\":{\"type\":\"integer\"}}}", U,
     "$ref", U, "$ref"},
    {"{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}",
     "{\"anyOf\":[{\"type\":\"string\"}]}", U, "anyOf", U, "anyOf"},
    {"{\"type\":\"object\",\"patternProperties\":{\"^x\":{}}}",
     "{\"type\":\"object\",\"patternProperties\":{\"^y\":{}}}", U,
     "patternProperties", U, "patternProperties"},
    {"{\"type\":\"number\",\"multipleOf\":4}",
     "{\"type\":\"number\",\"multipleOf\":2}", U, "multipleOf", U,
     "multipleOf"},
    {"{\"type\":\"object\"}", "{\"type\":\"object\",\"x-vendor\":1}", U,
     "x-vendor", H, ""},
    {"{\"type\":\"string\",\"format\":\"email\"}", "{\"type\":\"string\"}", H,
     "", U, "format"},
    {"{\"if\":{\"type\":\"string\"},\"then\":{\"minLength\":1}}",
     "{\"if\":{\"type\":\"string\"},\"then\":{\"minLength\":2}}", U, "then", U,
     "then"},
    /* 47 same keyword, same value: the same conjunct on both sides */
    {"{\"type\":\"string\",\"pattern\":\"^a\",\"minLength\":2}",
     "{\"type\":\"string\",\"pattern\":\"^a\",\"minLength\":1}", H, "", F,
     "minLength"},
    {"{\"allOf\":[{\"type\":\"string\"}],\"maxLength\":3}",
     "{\"allOf\":[{\"type\":\"string\"}]}", H, "", F, "maxLength"},
    /* 49 nested: the retrieval.context example, v1 -> v2 */
    {"{\"type\":\"object\",\"required\":[\"query\",\"passages\"],"
     "\"additionalProperties\":false,\"properties\":{\"query\":{\"type\":"
     "\"string\",\"minLength\":1},\"passages\":{\"type\":\"array\","
     "\"minItems\":1,\"items\":{\"type\":\"object\",\"required\":[\"text\","
     "\"score\"],\"properties\":{\"text\":{\"type\":\"string\"},\"score\":{"
     "\"type\":\"number\",\"minimum\":0,\"maximum\":1}}}}}}",
     "{\"type\":\"object\",\"required\":[\"query\",\"passages\"],"
     "\"additionalProperties\":false,\"properties\":{\"query\":{\"type\":"
     "\"string\",\"minLength\":1},\"passages\":{\"type\":\"array\","
     "\"minItems\":1,\"items\":{\"type\":\"object\",\"required\":[\"text\","
     "\"score\"],\"properties\":{\"text\":{\"type\":\"string\"},\"score\":{"
     "\"type\":\"number\",\"minimum\":0,\"maximum\":1}}}},\"embedding\":{"
     "\"tensor\":{\"dtype\":\"float32\",\"shape\":[null,768]}}}}",
     H, "", F, ""},
    {"{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"object\","
     "\"properties\":{\"s\":{\"type\":\"number\",\"maximum\":1}}}}}",
     "{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"object\","
     "\"properties\":{\"s\":{\"type\":\"number\",\"maximum\":2}}}}}",
     H, "", F, "maximum"},
};

static json_t *
s_json (const char *text)
{
    json_error_t error;
    json_t *json = json_loads (text, JSON_DECODE_ANY, &error);
    ck_assert_msg (json != NULL, "bad JSON in table: %s: %s", text, error.text);
    return json;
}

/* Checks one verdict; returns 1 (and says why) when it is wrong. */
static int
s_expect (size_t row, const json_t *a, const json_t *b, int want,
          const char *keyword, const char *direction)
{
    ab_compat_why_t why;
    int got = ab_compat_subset (a, b, &why);
    bool named = want == AB_COMPAT_HOLDS || !*keyword ||
                 strcmp (why.keyword, keyword) == 0;
    if (got == want && named)
        return 0;
    printf ("FAIL row %zu (%s): verdict %d keyword '%s', wanted %d '%s' "
            "(%s)\n",
            row + 1, direction, got, why.keyword, want, keyword, why.message);
    return 1;
}

START_TEST (test_pairs)
{
    size_t rows = sizeof s_pairs / sizeof s_pairs[0];
    ck_assert_int_ge (rows, 40);
    int wrong = 0;
    for (size_t i = 0; i < rows; i++) {
        json_t *a = s_json (s_pairs[i].a);
        json_t *b = s_json (s_pairs[i].b);
        wrong +=
            s_expect (i, a, b, s_pairs[i].a_in_b, s_pairs[i].ab_kw, "A in B");
        wrong +=
            s_expect (i, b, a, s_pairs[i].b_in_a, s_pairs[i].ba_kw, "B in A");
        json_decref (a);
        json_decref (b);
    }
    printf ("compat: %zu pairs, %zu verdicts checked, %d wrong\n", rows,
            2 * rows, wrong);
    ck_assert_int_eq (wrong, 0);
}
END_TEST

START_TEST (test_relations)
{
    json_t *older = s_json ("{\"type\":\"integer\"}");
    json_t *newer = s_json ("{\"type\":\"number\"}");
    ab_compat_why_t backward, forward;
    ck_assert_int_eq (ab_compat_check (older, newer, &backward, &forward),
                      AB_COMPAT_BACKWARD);
    ck_assert_str_eq (forward.keyword, "type");
    ck_assert_str_eq (forward.pointer, "/type");
    ck_assert_int_eq (ab_compat_check (older, older, NULL, NULL),
                      AB_COMPAT_FULL);
    ck_assert_int_eq (ab_compat_check (newer, older, NULL, NULL),
                      AB_COMPAT_FORWARD);
    ck_assert_str_eq (ab_compat_name (AB_COMPAT_FULL), "full");
    ck_assert_int_eq (ab_compat_parse ("backward"), AB_COMPAT_BACKWARD);
    ck_assert_int_eq (ab_compat_parse ("sideways"), -1);
    json_decref (older);
    json_decref (newer);

    /* the pointer names the nested keyword */
    json_t *a = s_json ("{\"properties\":{\"a~b\":{\"type\":\"number\"}}}");
    json_t *b = s_json ("{\"properties\":{\"a~b\":{\"type\":\"integer\"}}}");
    ck_assert_int_eq (ab_compat_subset (a, b, &backward), AB_COMPAT_FAILS);
    ck_assert_str_eq (backward.pointer, "/properties/a~0b/type");
    ck_assert_int_eq (backward.side, 1);
    json_decref (a);
    json_decref (b);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("compat");
    TCase *tcase = tcase_create ("compat");
    tcase_add_test (tcase, test_pairs);
    tcase_add_test (tcase, test_relations);
    suite_add_tcase (suite, tcase);
    SRunner *runner = srunner_create (suite);
    srunner_set_fork_status (runner, CK_NOFORK);
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed ? 1 : 0;
}
