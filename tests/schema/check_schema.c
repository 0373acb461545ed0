/*  check_schema - compiled validators: error shapes, tensor keyword and
    references, registry names, remote files, cycles, bad schemas */

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "schema/ab_registry.h"
#include "schema/ab_tensor.h"

/* A registry holding one schema as test.case/1, compiled. */
typedef struct {
    ab_registry_t *registry;   /* owns the schema */
    ab_diag_t *diag;           /* compile problems */
    const ab_schema_t *schema; /* test.case/1, or NULL */
} s_fixture_t;

static void
s_fixture (s_fixture_t *f, const char *text, size_t max_errors)
{
    ab_registry_options_t options = {false, max_errors};
    f->registry = ab_registry_new (&options);
    f->diag = ab_diag_new ();
    json_error_t error;
    json_t *schema = json_loads (text, JSON_DECODE_ANY, &error);
    ck_assert_msg (schema, "bad test schema: %s", error.text);
    int rc = ab_registry_add (f->registry, schema, "test.case", 1, "t.json",
                              f->diag);
    json_decref (schema);
    if (rc == 0)
        rc = ab_registry_compile (f->registry, f->diag);
    f->schema =
        rc == 0 ? ab_registry_lookup (f->registry, "test.case", 1) : NULL;
}

static void
s_fixture_end (s_fixture_t *f)
{
    ab_diag_destroy (&f->diag);
    ab_registry_destroy (&f->registry);
}

/* Validates text; returns the code and the errors (caller's). */
static int
s_validate (const s_fixture_t *f, const char *text, json_t **errors_p)
{
    json_t *instance = json_loads (text, JSON_DECODE_ANY, NULL);
    ck_assert_msg (instance, "bad test instance %s", text);
    int rc = ab_schema_validate (f->schema, instance, errors_p);
    json_decref (instance);
    return rc;
}

/* One expected first error. */
static const struct {
    const char *schema;      /* the schema */
    const char *instance;    /* an invalid instance */
    const char *path;        /* errors[0].path */
    const char *keyword;     /* errors[0].keyword */
    const char *schema_path; /* errors[0].schema_path */
    const char *message;     /* errors[0].message */
} s_shapes[] = {
    {"{\"type\": \"integer\"}", "1.5", "", "type", "/type",
     "1.5 is not of type integer"},
    {"{\"type\": [\"string\", \"null\"]}", "[1]", "", "type", "/type",
     "[1] is not of type null or string"},
    {"{\"type\": [\"string\", \"integer\", \"null\"]}", "{}", "", "type",
     "/type", "{} is not of type null, string or integer"},
    {"{\"enum\": [1, \"a\"]}", "2", "", "enum", "/enum",
     "2 is not one of the allowed values [1,\"a\"]"},
    {"{\"const\": {\"a\": 1}}", "{\"a\": 2}", "", "const", "/const",
     "{\"a\":2} is not equal to the constant {\"a\":1}"},
    {"{\"multipleOf\": 0.5}", "1.25", "", "multipleOf", "/multipleOf",
     "1.25 is not a multiple of 0.5"},
    {"{\"properties\": {\"passages\": {\"items\": {\"properties\": "
     "{\"score\": {\"maximum\": 1}}}}}}",
     "{\"passages\": [{\"score\": 0.5}, {\"score\": 1.7}]}",
     "/passages/1/score", "maximum",
     "/properties/passages/items/properties/score/maximum",
     "1.7 is greater than the maximum 1"},
    {"{\"exclusiveMaximum\": 3}", "3", "", "exclusiveMaximum",
     "/exclusiveMaximum", "3 is not less than the exclusive maximum 3"},
    {"{\"minimum\": -1}", "-2", "", "minimum", "/minimum",
     "-2 is less than the minimum -1"},
    {"{\"exclusiveMinimum\": 0}", "0", "", "exclusiveMinimum",
     "/exclusiveMinimum", "0 is not greater than the exclusive minimum 0"},
    {"{\"maxLength\": 2}", "\"\u00e9\u00e9\u00e9\"", "", "maxLength",
     "/maxLength", "string of 3 characters has more than the maximum 2"},
    {"{\"minLength\": 2}", "\"\u00e9\"", "", "minLength", "/minLength",
     "string of 1 characters has fewer than the minimum 2"},
    {"{\"pattern\": \"^\\\\d+$\"}", "\"12a\"", "", "pattern", "/pattern",
     "\"12a\" does not match the pattern \"^\\\\d+$\""},
    {"{\"maxItems\": 1}", "[1, 2]", "", "maxItems", "/maxItems",
     "array of 2 items has more than the maximum 1"},
    {"{\"minItems\": 3}", "[1, 2]", "", "minItems", "/minItems",
     "array of 2 items has fewer than the minimum 3"},
    {"{\"uniqueItems\": true}", "[1, 2, 1.0]", "", "uniqueItems",
     "/uniqueItems", "items 0 and 2 are equal"},
    {"{\"contains\": {\"type\": \"string\"}}", "[1]", "", "contains",
     "/contains", "no item matches the contains schema"},
    {"{\"contains\": {\"type\": \"string\"}, \"minContains\": 2}", "[\"a\", 1]",
     "", "contains", "/contains",
     "1 items match the contains schema, fewer than minContains 2"},
    {"{\"contains\": {\"type\": \"string\"}, \"maxContains\": 1}",
     "[\"a\", \"b\"]", "", "contains", "/contains",
     "2 items match the contains schema, more than maxContains 1"},
    {"{\"maxProperties\": 1}", "{\"a\": 1, \"b\": 2}", "", "maxProperties",
     "/maxProperties", "object of 2 properties has more than the maximum 1"},
    {"{\"minProperties\": 1}", "{}", "", "minProperties", "/minProperties",
     "object of 0 properties has fewer than the minimum 1"},
    {"{\"properties\": {\"a\": {\"required\": [\"x\", \"y\"]}}}",
     "{\"a\": {\"x\": 1}}", "/a", "required", "/properties/a/required",
     "required property \"y\" is missing"},
    {"{\"dependentRequired\": {\"a\": [\"b\"]}}", "{\"a\": 1}", "",
     "dependentRequired", "/dependentRequired",
     "property \"a\" requires property \"b\""},
    {"{\"dependentSchemas\": {\"a\": {\"required\": [\"b\"]}}}", "{\"a\": 1}",
     "", "required", "/dependentSchemas/a/required",
     "required property \"b\" is missing"},
    {"{\"properties\": {\"a\": {}}, \"additionalProperties\": false}",
     "{\"a\": 1, \"b/~\": 2}", "/b~1~0", "additionalProperties",
     "/additionalProperties", "property \"b/~\" is not allowed"},
    {"{\"patternProperties\": {\"^x\": {\"type\": \"string\"}}}", "{\"xa\": 1}",
     "/xa", "type", "/patternProperties/^x/type", "1 is not of type string"},
    {"{\"propertyNames\": {\"maxLength\": 2}}", "{\"abc\": 1}", "/abc",
     "propertyNames", "/propertyNames",
     "property name \"abc\" does not match propertyNames"},
    {"{\"prefixItems\": [{\"type\": \"string\"}], \"items\": false}",
     "[\"a\", 2]", "/1", "items", "/items", "item 1 is not allowed"},
    {"{\"prefixItems\": [{\"type\": \"string\"}]}", "[2]", "/0", "type",
     "/prefixItems/0/type", "2 is not of type string"},
    {"{\"items\": {\"type\": \"string\"}}", "[\"a\", 2]", "/1", "type",
     "/items/type", "2 is not of type string"},
    {"{\"allOf\": [{}, {\"type\": \"string\"}]}", "1", "", "type",
     "/allOf/1/type", "1 is not of type string"},
    {"{\"anyOf\": [{\"type\": \"string\"}, {\"minimum\": 3}]}", "2", "",
     "anyOf", "/anyOf", "2 does not match any of the 2 schemas in anyOf"},
    {"{\"oneOf\": [{\"type\": \"string\"}, {\"minimum\": 3}]}", "2", "",
     "oneOf", "/oneOf", "2 does not match any of the 2 schemas in oneOf"},
    {"{\"oneOf\": [{\"minimum\": 1}, {\"minimum\": 3}]}", "4", "", "oneOf",
     "/oneOf",
     "4 matches schemas 0 and 1 of oneOf, but must match exactly "
     "one"},
    {"{\"not\": {\"type\": \"string\"}}", "\"a\"", "", "not", "/not",
     "\"a\" must not match the schema in not"},
    {"{\"if\": {\"minimum\": 0}, \"then\": {\"maximum\": 9}}", "10", "",
     "maximum", "/then/maximum", "10 is greater than the maximum 9"},
    {"{\"if\": {\"minimum\": 0}, \"else\": {\"const\": -1}}", "-2", "", "const",
     "/else/const", "-2 is not equal to the constant -1"},
    {"{\"$defs\": {\"n\": {\"maximum\": 1}}, \"$ref\": \"#/$defs/n\"}", "2", "",
     "maximum", "/$ref/maximum", "2 is greater than the maximum 1"},
    {"{\"unevaluatedProperties\": false, \"properties\": {\"a\": {}}}",
     "{\"a\": 1, \"b\": 2}", "/b", "unevaluatedProperties",
     "/unevaluatedProperties", "property \"b\" is not allowed (unevaluated)"},
    {"{\"unevaluatedItems\": false, \"prefixItems\": [{}]}", "[1, 2]", "/1",
     "unevaluatedItems", "/unevaluatedItems",
     "item 1 is not allowed (unevaluated)"},
    {"{\"properties\": {\"a\": false}}", "{\"a\": 1}", "/a", "properties",
     "/properties/a", "1 is not allowed here (false schema)"},
    {"false", "null", "", "schema", "",
     "null is not allowed here (false "
     "schema)"},
    {"{\"tensor\": {\"dtype\": \"float32\"}}", "{\"x\": 1}", "", "tensor",
     "/tensor", "value is not a tensor reference {dtype, shape, frame}"},
    {"{\"tensor\": {\"dtype\": [\"float32\", \"float16\"]}}",
     "{\"dtype\": \"float64\", \"shape\": [2], \"frame\": 0}", "", "tensor",
     "/tensor",
     "tensor dtype \"float64\" is not allowed (expected "
     "[\"float32\",\"float16\"])"},
    {"{\"properties\": {\"e\": {\"tensor\": {\"dtype\": \"float32\", "
     "\"shape\": [null, 768]}}}}",
     "{\"e\": {\"dtype\": \"float32\", \"shape\": [4, 512], \"frame\": 0}}",
     "/e", "tensor", "/properties/e/tensor",
     "tensor shape [4,512] does not match [null,768]"},
};

START_TEST (test_error_shapes)
{
    s_fixture_t f;
    s_fixture (&f, s_shapes[_i].schema, 0);
    ck_assert_msg (f.schema, "case %d does not compile: %s", _i,
                   ab_diag_text (f.diag, 0));
    json_t *errors = NULL;
    ck_assert_int_eq (s_validate (&f, s_shapes[_i].instance, &errors),
                      AB_EREJECTED);
    ck_assert_uint_ge (json_array_size (errors), 1);
    json_t *first = json_array_get (errors, 0);
    ck_assert_str_eq (json_string_value (json_object_get (first, "path")),
                      s_shapes[_i].path);
    ck_assert_str_eq (json_string_value (json_object_get (first, "keyword")),
                      s_shapes[_i].keyword);
    ck_assert_str_eq (
        json_string_value (json_object_get (first, "schema_path")),
        s_shapes[_i].schema_path);
    char message[600];
    snprintf (message, sizeof message, "%s%s%s", s_shapes[_i].path,
              *s_shapes[_i].path ? ": " : "", s_shapes[_i].message);
    ck_assert_str_eq (json_string_value (json_object_get (first, "message")),
                      message);
    ck_assert_uint_eq (json_object_size (first), 4);
    json_decref (errors);
    s_fixture_end (&f);
}
END_TEST

START_TEST (test_closest_branch)
{
    s_fixture_t f;
    s_fixture (&f,
               "{\"anyOf\": [{\"type\": \"string\"}, {\"type\": \"object\", "
               "\"required\": [\"kind\"]}]}",
               0);
    json_t *errors = NULL;
    ck_assert_int_eq (s_validate (&f, "{\"x\": 1}", &errors), AB_EREJECTED);
    ck_assert_uint_eq (json_array_size (errors), 2);
    json_t *second = json_array_get (errors, 1);
    ck_assert_str_eq (json_string_value (json_object_get (second, "keyword")),
                      "required");
    ck_assert_str_eq (
        json_string_value (json_object_get (second, "schema_path")),
        "/anyOf/1/required");
    json_decref (errors);
    s_fixture_end (&f);
}
END_TEST

START_TEST (test_valid_and_numbers)
{
    s_fixture_t f;
    s_fixture (&f,
               "{\"properties\": {\"i\": {\"type\": \"integer\"}, \"e\": "
               "{\"enum\": [1]}, \"c\": {\"const\": 2.0}, \"u\": "
               "{\"uniqueItems\": true}}}",
               0);
    json_t *sentinel = json_array (), *errors = sentinel;
    ck_assert_int_eq (s_validate (&f,
                                  "{\"i\": 1.0, \"e\": 1.0, \"c\": 2, "
                                  "\"u\": [1, \"1\", [1], {\"a\": 1}]}",
                                  &errors),
                      0);
    ck_assert_ptr_null (errors);
    json_decref (sentinel);
    ck_assert_int_eq (s_validate (&f, "{\"u\": [[1], [1.0]]}", NULL),
                      AB_EREJECTED);
    s_fixture_end (&f);
}
END_TEST

START_TEST (test_max_errors_and_order)
{
    s_fixture_t f;
    s_fixture (&f,
               "{\"required\": [\"a\", \"b\", \"c\", \"d\"], \"properties\": "
               "{\"z\": {\"type\": \"string\"}, \"y\": {\"type\": "
               "\"string\"}}}",
               3);
    json_t *errors = NULL;
    ck_assert_int_eq (s_validate (&f, "{\"y\": 1, \"z\": 2}", &errors),
                      AB_EREJECTED);
    ck_assert_uint_eq (json_array_size (errors), 3);
    const char *messages[] = {"required property \"a\" is missing",
                              "required property \"b\" is missing",
                              "required property \"c\" is missing"};
    for (size_t i = 0; i < 3; i++)
        ck_assert_str_eq (json_string_value (json_object_get (
                              json_array_get (errors, i), "message")),
                          messages[i]);
    json_decref (errors);
    s_fixture_end (&f);
    /* errors follow the schema's property order, not the instance's */
    s_fixture (&f,
               "{\"properties\": {\"z\": {\"type\": \"string\"}, \"y\": "
               "{\"type\": \"string\"}}}",
               0);
    ck_assert_int_eq (s_validate (&f, "{\"y\": 1, \"z\": 2}", &errors),
                      AB_EREJECTED);
    ck_assert_uint_eq (json_array_size (errors), 2);
    ck_assert_str_eq (json_string_value (
                          json_object_get (json_array_get (errors, 0), "path")),
                      "/z");
    json_decref (errors);
    s_fixture_end (&f);
}
END_TEST

START_TEST (test_tensor_keyword)
{
    s_fixture_t f;
    s_fixture (&f,
               "{\"properties\": {\"t\": {\"tensor\": {\"dtype\": "
               "\"bfloat16\", \"shape\": [2, null]}}, \"any\": {\"tensor\": "
               "{\"shape\": null}}}}",
               0);
    ck_assert_int_eq (s_validate (&f,
                                  "{\"t\": {\"dtype\": \"bfloat16\", "
                                  "\"shape\": [2, 9], \"frame\": 0}, "
                                  "\"any\": {\"dtype\": \"int8\", "
                                  "\"shape\": [], \"frame\": 1}}",
                                  NULL),
                      0);
    ck_assert_int_eq (s_validate (&f,
                                  "{\"t\": {\"dtype\": \"bfloat16\", "
                                  "\"shape\": [3, 9], \"frame\": 0}}",
                                  NULL),
                      AB_EREJECTED);
    ck_assert_int_eq (s_validate (&f,
                                  "{\"t\": {\"dtype\": \"bfloat16\", "
                                  "\"shape\": [2], \"frame\": 0}}",
                                  NULL),
                      AB_EREJECTED);
    ck_assert_int_eq (s_validate (&f,
                                  "{\"t\": {\"dtype\": \"nope\", "
                                  "\"shape\": [2, 1], \"frame\": 0}}",
                                  NULL),
                      AB_EREJECTED);
    s_fixture_end (&f);
    const char *bad[] = {
        "{\"tensor\": {\"dtype\": \"float128\"}}",
        "{\"tensor\": {\"shape\": [-1]}}",
        "{\"tensor\": {\"shape\": \"x\"}}",
        "{\"tensor\": 3}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_fixture (&f, bad[i], 0);
        ck_assert_ptr_null (f.schema);
        ck_assert_uint_ge (ab_diag_count (f.diag), 1);
        ck_assert_ptr_nonnull (strstr (ab_diag_text (f.diag, 0), "tensor"));
        s_fixture_end (&f);
    }
}
END_TEST

/* One ab_tensor_check_refs case. */
static const struct {
    const char *payload; /* the payload */
    size_t frames[3];    /* attachment sizes */
    size_t count;        /* attachments */
    int rc;              /* expected result */
    const char *message; /* expected reason ("" when valid) */
} s_refs[] = {
    {"{\"embedding\": {\"dtype\": \"float32\", \"shape\": [4, 768], "
     "\"frame\": 0}}",
     {12288},
     1,
     0,
     ""},
    {"{\"a\": [1, {\"b\": {\"dtype\": \"uint8\", \"shape\": [3], \"frame\": "
     "1}}], \"c\": {\"dtype\": \"bool\", \"shape\": [], \"frame\": 0}}",
     {1, 3},
     2,
     0,
     ""},
    {"{\"x\": 1}", {0}, 0, 0, ""},
    {"{\"x\": 1}", {5, 6, 7}, 3, AB_EINVAL, "attachment 0 is not referenced"},
    {"{\"embedding\": {\"dtype\": \"float32\", \"shape\": [4, 768], "
     "\"frame\": 1}}",
     {12288, 3000},
     2,
     AB_EINVAL,
     "/embedding: frame 1 has 3000 bytes, float32 [4, 768] needs 12288"},
    {"{\"t\": {\"dtype\": \"int16\", \"shape\": [2], \"frame\": 0}}",
     {4, 4, 4},
     3,
     AB_EINVAL,
     "attachment 1 is not referenced"},
    {"{\"t\": {\"dtype\": \"int16\", \"shape\": [2], \"frame\": 3}}",
     {4},
     1,
     AB_EINVAL,
     "/t: frame number does not exist (1 attachments)"},
    {"[{\"dtype\": \"int16\", \"shape\": [2], \"frame\": 0}, {\"dtype\": "
     "\"int16\", \"shape\": [2], \"frame\": 0}]",
     {4},
     1,
     AB_EINVAL,
     "/1: attachment 0 is referenced twice"},
    {"{\"t\": {\"dtype\": \"half\", \"shape\": [2], \"frame\": 0}}",
     {4},
     1,
     AB_EINVAL,
     "/t: unknown dtype"},
    {"{\"t\": {\"dtype\": \"int8\", \"shape\": [-2], \"frame\": 0}}",
     {4},
     1,
     AB_EINVAL,
     "/t: shape must hold non-negative integers"},
    {"{\"t\": {\"dtype\": \"float64\", \"shape\": [4294967296, 4294967296], "
     "\"frame\": 0}}",
     {4},
     1,
     AB_EINVAL,
     "/t: float64 [4294967296, 4294967296] is too large"},
};

START_TEST (test_tensor_refs)
{
    json_t *payload = json_loads (s_refs[_i].payload, 0, NULL);
    ck_assert_ptr_nonnull (payload);
    char message[200] = "unchanged";
    int rc = ab_tensor_check_refs (payload, s_refs[_i].frames, s_refs[_i].count,
                                   message, sizeof message);
    ck_assert_int_eq (rc, s_refs[_i].rc);
    ck_assert_str_eq (message, s_refs[_i].message);
    json_decref (payload);
}
END_TEST

static char *
s_fixture_path (const char *name)
{
    const char *root = getenv ("AB_SRCDIR") ? getenv ("AB_SRCDIR") : ".";
    char *path = malloc (strlen (root) + strlen (name) + 32);
    sprintf (path, "%s/tests/fixtures/schema/%s", root, name);
    return path;
}

START_TEST (test_registry_names)
{
    ab_registry_t *registry = ab_registry_new (NULL);
    ab_diag_t *diag = ab_diag_new ();
    char *passage = s_fixture_path ("registry/common.passage.v1.yaml");
    char *context = s_fixture_path ("context.v3.yaml");
    const char *type = NULL;
    int version = 0;
    ck_assert_int_eq (
        ab_registry_load_file (registry, passage, diag, &type, &version), 0);
    ck_assert_str_eq (type, "common.passage");
    ck_assert_int_eq (version, 1);
    ck_assert_int_eq (
        ab_registry_load_file (registry, context, diag, NULL, NULL), 0);
    json_t *with_id =
        json_pack ("{s:s, s:s}", "$id", "https://example.com/s/thing.json",
                   "$ref", "agentbus:common.passage/1");
    ck_assert_int_eq (ab_registry_add (registry, with_id, NULL, 0, NULL, diag),
                      0);
    ck_assert_int_eq (
        ab_registry_add (registry, with_id, "dup.thing", 1, NULL, diag),
        AB_EEXIST);
    json_decref (with_id);
    ck_assert_int_eq (ab_registry_compile (registry, diag), 0);
    const ab_schema_t *ctx =
        ab_registry_lookup (registry, "retrieval.context", 3);
    ck_assert_ptr_nonnull (ctx);
    ck_assert_ptr_null (ab_registry_lookup (registry, "retrieval.context", 2));
    ck_assert_ptr_nonnull (
        ab_registry_lookup_id (registry, "https://example.com/s/thing.json#"));
    ck_assert_ptr_eq (
        ab_registry_lookup_id (registry, "agentbus:common.passage/1"),
        ab_registry_lookup (registry, "common.passage", 1));
    json_t *ok = json_loads ("{\"query\": \"q\", \"passages\": [{\"text\": "
                             "\"t\", \"score\": 1}]}",
                             0, NULL);
    ck_assert_int_eq (ab_schema_validate (ctx, ok, NULL), 0);
    json_object_set_new (ok, "query", json_string (""));
    json_t *errors = NULL;
    ck_assert_int_eq (ab_schema_validate (ctx, ok, &errors), AB_EREJECTED);
    ck_assert_str_eq (json_string_value (json_object_get (
                          json_array_get (errors, 0), "schema_path")),
                      "/properties/query/$ref/minLength");
    json_decref (errors);
    json_decref (ok);
    free (passage);
    free (context);
    ab_diag_destroy (&diag);
    ab_registry_destroy (&registry);
}
END_TEST

START_TEST (test_remote_mapping)
{
    ab_registry_t *registry = ab_registry_new (NULL);
    ab_diag_t *diag = ab_diag_new ();
    char *dir = s_fixture_path ("remote");
    ab_registry_map_remote (registry, "http://schemas.example/", dir);
    json_t *schema = json_pack ("{s:s}", "$ref",
                                "http://schemas.example/units.json#/$defs/"
                                "positive");
    ab_registry_add (registry, schema, "uses.remote", 1, NULL, diag);
    json_decref (schema);
    ck_assert_int_eq (ab_registry_compile (registry, diag), 0);
    const ab_schema_t *s = ab_registry_lookup (registry, "uses.remote", 1);
    json_t *two = json_integer (2), *zero = json_integer (0);
    ck_assert_int_eq (ab_schema_validate (s, two, NULL), 0);
    ck_assert_int_eq (ab_schema_validate (s, zero, NULL), AB_EREJECTED);
    json_decref (two);
    json_decref (zero);
    ab_diag_destroy (&diag);
    ab_registry_destroy (&registry);
    /* outside the mapped prefix, or no such file: unresolvable */
    const char *refs[] = {"http://elsewhere.example/units.json",
                          "http://schemas.example/missing.json"};
    for (size_t i = 0; i < 2; i++) {
        registry = ab_registry_new (NULL);
        diag = ab_diag_new ();
        ab_registry_map_remote (registry, "http://schemas.example/", dir);
        schema = json_pack ("{s:s}", "$ref", refs[i]);
        ab_registry_add (registry, schema, "uses.remote", 1, NULL, diag);
        json_decref (schema);
        ck_assert_int_eq (ab_registry_compile (registry, diag), AB_EINVAL);
        ck_assert_ptr_nonnull (strstr (
            ab_diag_text (diag, ab_diag_count (diag) - 1), "cannot resolve"));
        ab_diag_destroy (&diag);
        ab_registry_destroy (&registry);
    }
    free (dir);
}
END_TEST

START_TEST (test_cycles)
{
    s_fixture_t f;
    /* a pure $ref cycle never reaches an assertion: refused */
    s_fixture (
        &f,
        "{\"$defs\": {\"a\": {\"$ref\": \"#/$defs/b\"}, \"b\": {\"$ref\": "
        "\"#/$defs/a\"}}, \"$ref\": \"#/$defs/a\"}",
        0);
    ck_assert_ptr_null (f.schema);
    ck_assert_ptr_nonnull (strstr (ab_diag_text (f.diag, 0), "cyclic $ref"));
    s_fixture_end (&f);
    /* a cycle through allOf is only found by the depth bound */
    s_fixture (&f,
               "{\"$defs\": {\"a\": {\"allOf\": [{\"$ref\": \"#\"}]}}, "
               "\"$ref\": \"#/$defs/a\", \"type\": \"object\"}",
               0);
    ck_assert_ptr_nonnull (f.schema);
    json_t *errors = NULL;
    ck_assert_int_eq (s_validate (&f, "{}", &errors), AB_ELIMIT);
    ck_assert_ptr_nonnull (strstr (json_string_value (json_object_get (
                                       json_array_get (errors, 0), "message")),
                                   "deeper than"));
    json_decref (errors);
    ck_assert_int_eq (s_validate (&f, "{}", NULL), AB_ELIMIT);
    s_fixture_end (&f);
    /* recursion that descends the instance is fine */
    s_fixture (&f,
               "{\"type\": \"object\", \"properties\": {\"next\": {\"$ref\": "
               "\"#\"}}, \"additionalProperties\": false}",
               0);
    char deep[2000] = "";
    for (int i = 0; i < 100; i++)
        strcat (deep, "{\"next\": ");
    strcat (deep, "{}");
    for (int i = 0; i < 100; i++)
        strcat (deep, "}");
    ck_assert_int_eq (s_validate (&f, deep, NULL), 0);
    s_fixture_end (&f);
}
END_TEST

/* One schema that must not compile, and a piece of its diagnostic. */
static const struct {
    const char *schema;   /* the bad schema */
    const char *expected; /* in ab_diag_text (diag, 0) */
} s_bad[] = {
    {"{\"type\": \"strin\"}", "t.json: /type: unknown type name \"strin\""},
    {"{\"properties\": {\"a\": {\"pattern\": \"(x\"}}}",
     "t.json: /properties/a/pattern: bad regular expression \"(x\": missing "
     "closing parenthesis"},
    {"{\"patternProperties\": {\"[\": {}}}",
     "/patternProperties/[: bad regular expression"},
    {"{\"minLength\": -1}", "/minLength: minLength must be a non-negative"},
    {"{\"maximum\": \"3\"}", "/maximum: maximum must be a number"},
    {"{\"multipleOf\": 0}", "multipleOf must be a number greater than 0"},
    {"{\"required\": [1]}", "required must be an array of strings"},
    {"{\"allOf\": []}", "allOf must be a non-empty array of schemas"},
    {"{\"not\": 3}", "/not: a schema must be an object or a boolean"},
    {"{\"$ref\": \"#/$defs/missing\"}", "cannot resolve $ref"},
    {"{\"$ref\": \"agentbus:nope/1\"}", "cannot resolve $ref"},
    {"{\"enum\": 3}", "enum must be an array"},
};

START_TEST (test_bad_schemas)
{
    s_fixture_t f;
    s_fixture (&f, s_bad[_i].schema, 0);
    ck_assert_ptr_null (f.schema);
    ck_assert_uint_ge (ab_diag_count (f.diag), 1);
    ck_assert_msg (strstr (ab_diag_text (f.diag, 0), s_bad[_i].expected),
                   "case %d: '%s' lacks '%s'", _i, ab_diag_text (f.diag, 0),
                   s_bad[_i].expected);
    s_fixture_end (&f);
}
END_TEST

START_TEST (test_schema_files)
{
    ab_registry_t *registry = ab_registry_new (NULL);
    ab_diag_t *diag = ab_diag_new ();
    char *bad = s_fixture_path ("bad.yaml");
    ck_assert_int_eq (ab_registry_load_file (registry, bad, diag, NULL, NULL),
                      0);
    ck_assert_int_eq (ab_registry_compile (registry, diag), AB_EINVAL);
    ck_assert_uint_eq (ab_diag_count (diag), 2);
    int line, column;
    ab_diag_get (diag, 0, NULL, &line, &column, NULL);
    ck_assert_int_eq (line, 6);
    ck_assert_int_eq (column, 15);
    ck_assert_int_eq (ab_registry_compile (registry, diag), AB_EINVAL);
    ck_assert_ptr_null (ab_registry_lookup (registry, "broken.types", 1));
    free (bad);
    ab_diag_destroy (&diag);
    ab_registry_destroy (&registry);
    /* a bare JSON schema file is found by its file: URI */
    registry = ab_registry_new (NULL);
    diag = ab_diag_new ();
    char *bare = s_fixture_path ("bare.json");
    const char *type = "x";
    ck_assert_int_eq (ab_registry_load_file (registry, bare, diag, &type, NULL),
                      0);
    ck_assert_ptr_null (type);
    ck_assert_int_eq (ab_registry_compile (registry, diag), 0);
    char *real = realpath (bare, NULL), uri[4200];
    snprintf (uri, sizeof uri, "file://%s", real);
    ck_assert_ptr_nonnull (ab_registry_lookup_id (registry, uri));
    free (real);
    free (bare);
    ck_assert_int_eq (
        ab_registry_load_file (registry, "/nonexistent.yaml", diag, NULL, NULL),
        AB_ESYNTAX);
    ab_diag_destroy (&diag);
    ab_registry_destroy (&registry);
}
END_TEST

START_TEST (test_draft7_dialect)
{
    s_fixture_t f;
    s_fixture (&f,
               "{\"$schema\": \"http://json-schema.org/draft-07/schema#\", "
               "\"definitions\": {\"s\": {\"type\": \"string\"}}, \"$ref\": "
               "\"#/definitions/s\", \"maxLength\": 1}",
               0);
    ck_assert_int_eq (s_validate (&f, "\"long\"", NULL), 0);
    ck_assert_int_eq (s_validate (&f, "1", NULL), AB_EREJECTED);
    s_fixture_end (&f);
    s_fixture (&f,
               "{\"$schema\": \"http://json-schema.org/draft-07/schema#\", "
               "\"items\": [{\"type\": \"string\"}], \"additionalItems\": "
               "false, \"dependencies\": {\"a\": [\"b\"]}}",
               0);
    ck_assert_int_eq (s_validate (&f, "[\"a\"]", NULL), 0);
    ck_assert_int_eq (s_validate (&f, "[\"a\", 1]", NULL), AB_EREJECTED);
    ck_assert_int_eq (s_validate (&f, "{\"a\": 1}", NULL), AB_EREJECTED);
    s_fixture_end (&f);
}
END_TEST

START_TEST (test_format_assert)
{
    ab_registry_options_t options = {true, 0};
    ab_registry_t *registry = ab_registry_new (&options);
    json_t *schema = json_pack ("{s:s}", "format", "date-time");
    ab_registry_add (registry, schema, "f.t", 1, NULL, NULL);
    json_decref (schema);
    ck_assert_int_eq (ab_registry_compile (registry, NULL), 0);
    const ab_schema_t *s = ab_registry_lookup (registry, "f.t", 1);
    json_t *good = json_string ("2026-11-24T19:55:00Z");
    json_t *bad = json_string ("2026-11-24 19:55");
    json_t *errors = NULL;
    ck_assert_int_eq (ab_schema_validate (s, good, NULL), 0);
    ck_assert_int_eq (ab_schema_validate (s, bad, &errors), AB_EREJECTED);
    ck_assert_str_eq (json_string_value (json_object_get (
                          json_array_get (errors, 0), "message")),
                      "\"2026-11-24 19:55\" is not a valid date-time");
    json_decref (errors);
    json_decref (good);
    json_decref (bad);
    ab_registry_destroy (&registry);
}
END_TEST

/* Several threads validate with one compiled schema at once. */
static void *
s_worker (void *arg)
{
    const ab_schema_t *schema = arg;
    json_t *good = json_loads ("{\"a\": [\"x\", \"y\"], \"b\": 3}", 0, NULL);
    json_t *bad =
        json_loads ("{\"a\": [\"x\", \"YY\"], \"b\": 30, \"c\": 1}", 0, NULL);
    long failures = 0;
    for (int i = 0; i < 2000; i++) {
        json_t *errors = NULL;
        failures += ab_schema_validate (schema, good, NULL) != 0;
        failures += ab_schema_validate (schema, bad, &errors) != AB_EREJECTED;
        failures += json_array_size (errors) != 3;
        json_decref (errors);
    }
    json_decref (good);
    json_decref (bad);
    return (void *)failures;
}

START_TEST (test_threads)
{
    s_fixture_t f;
    s_fixture (&f,
               "{\"properties\": {\"a\": {\"items\": {\"pattern\": "
               "\"^[a-z]$\"}}, \"b\": {\"maximum\": 10}}, "
               "\"unevaluatedProperties\": false}",
               0);
    pthread_t threads[4];
    for (int i = 0; i < 4; i++)
        pthread_create (&threads[i], NULL, s_worker, (void *)f.schema);
    for (int i = 0; i < 4; i++) {
        void *failures;
        pthread_join (threads[i], &failures);
        ck_assert_int_eq ((long)failures, 0);
    }
    s_fixture_end (&f);
}
END_TEST

/* ab_schema_accepts_all: true only where nothing can refuse a value. A
   `$ref` counts as a check even when it leads to `true` (conservative:
   the broker then validates as before). */
static const struct {
    const char *schema; /* the schema */
    bool all;           /* ab_schema_accepts_all */
} s_accepts[] = {
    {"true", true},
    {"false", false},
    {"{}", true},
    {"{\"description\": \"x\"}", true},
    {"{\"title\": \"t\", \"examples\": [1], \"$comment\": \"c\"}", true},
    {"{\"$defs\": {\"n\": {\"type\": \"integer\"}}}", true},
    {"{\"type\": \"object\"}", false},
    {"{\"not\": {}}", false},
    {"{\"$ref\": \"#/$defs/any\", \"$defs\": {\"any\": true}}", false},
    {"{\"$ref\": \"#/$defs/n\", \"$defs\": {\"n\": {\"type\": \"integer\"}}}",
     false},
    {"{\"properties\": {\"t\": {\"tensor\": {\"shape\": null}}}}", false},
};

START_TEST (test_accepts_all)
{
    s_fixture_t f;
    s_fixture (&f, s_accepts[_i].schema, 0);
    ck_assert_msg (f.schema, "%s did not compile", s_accepts[_i].schema);
    ck_assert_msg (ab_schema_accepts_all (f.schema) == s_accepts[_i].all,
                   "%s: accepts_all should be %d", s_accepts[_i].schema,
                   s_accepts[_i].all);
    /* whatever it says, it agrees with validation of a sample */
    if (s_accepts[_i].all)
        ck_assert_int_eq (s_validate (&f, "[1, \"x\", null]", NULL), 0);
    s_fixture_end (&f);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("schema");
    TCase *tcase = tcase_create ("core");
    tcase_add_loop_test (tcase, test_error_shapes, 0,
                         sizeof s_shapes / sizeof s_shapes[0]);
    tcase_add_test (tcase, test_closest_branch);
    tcase_add_test (tcase, test_valid_and_numbers);
    tcase_add_test (tcase, test_max_errors_and_order);
    tcase_add_test (tcase, test_tensor_keyword);
    tcase_add_loop_test (tcase, test_tensor_refs, 0,
                         sizeof s_refs / sizeof s_refs[0]);
    tcase_add_test (tcase, test_registry_names);
    tcase_add_test (tcase, test_remote_mapping);
    tcase_add_test (tcase, test_cycles);
    tcase_add_loop_test (tcase, test_bad_schemas, 0,
                         sizeof s_bad / sizeof s_bad[0]);
    tcase_add_test (tcase, test_schema_files);
    tcase_add_test (tcase, test_draft7_dialect);
    tcase_add_test (tcase, test_format_assert);
    tcase_add_test (tcase, test_threads);
    tcase_add_loop_test (tcase, test_accepts_all, 0,
                         sizeof s_accepts / sizeof s_accepts[0]);
    suite_add_tcase (suite, tcase);
    SRunner *runner = srunner_create (suite);
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed ? 1 : 0;
}
