/*  =========================================================================
    ab_compat - sound, rule-based compatibility of two schema versions

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Design: A ⊆ B ("every instance of A is one of B") is shown keyword by
    keyword of B, since a schema is the conjunction of its keywords: each
    constraint B makes must follow from A's. Constraints only A makes can
    be ignored (they shrink A), which is what keeps the rules sound when
    A uses a keyword they do not know. Where A's meaning for a part of the
    instance is unclear (patternProperties, prefixItems), A is widened to
    `true` there, which is again sound. A keyword of B is vacuous when A
    admits no instance of the type it applies to (`minLength` under a
    schema of integers). `$ref` is never followed: two documents' refs
    with the same text may resolve differently, so a node holding one is
    undecided unless the two whole schemas are equal.
*/

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/ab_compat.h"
#include "schema/ab_patch.h"

/* JSON types as bits; "number" is T_INT | T_NUM. */
enum {
    T_NULL = 1,
    T_BOOL = 2,
    T_INT = 4,
    T_NUM = 8, /* numbers that are not integers */
    T_STR = 16,
    T_ARR = 32,
    T_OBJ = 64,
    T_ALL = 127,
};

static const struct {
    const char *name; /* `type` value */
    unsigned mask;    /* the instances it admits */
} s_types[] = {
    {"null", T_NULL},          {"boolean", T_BOOL}, {"integer", T_INT},
    {"number", T_INT | T_NUM}, {"string", T_STR},   {"array", T_ARR},
    {"object", T_OBJ},
};

/* The walk: two pointers (one per side) and where the answer goes. */
typedef struct {
    ab_compat_why_t *why; /* the caller's, or a local one */
    char path[2][512];    /* JSON Pointer of the node on each side */
} s_ctx_t;

typedef ab_compat_verdict_t (s_rule_fn) (s_ctx_t *ctx, const json_t *a,
                                         const json_t *b, unsigned allowed,
                                         const char *keyword);

static ab_compat_verdict_t
s_answer (s_ctx_t *ctx, ab_compat_verdict_t verdict, int side,
          const char *keyword, const char *format, ...)
{
    ab_compat_why_t *why = ctx->why;
    why->verdict = verdict;
    why->side = side;
    snprintf (why->pointer, sizeof why->pointer, "%s/%s", ctx->path[side],
              keyword);
    snprintf (why->keyword, sizeof why->keyword, "%s", keyword);
    va_list args;
    va_start (args, format);
    vsnprintf (why->message, sizeof why->message, format, args);
    va_end (args);
    return verdict;
}

static unsigned
s_value_type (const json_t *value)
{
    switch (json_typeof (value)) {
    case JSON_NULL:
        return T_NULL;
    case JSON_TRUE:
    case JSON_FALSE:
        return T_BOOL;
    case JSON_INTEGER:
        return T_INT;
    case JSON_REAL:
        return floor (json_real_value (value)) == json_real_value (value)
                   ? T_INT
                   : T_NUM;
    case JSON_STRING:
        return T_STR;
    case JSON_ARRAY:
        return T_ARR;
    default:
        return T_OBJ;
    }
}

static unsigned
s_type_mask (const json_t *type)
{
    if (json_is_string (type)) {
        for (size_t i = 0; i < sizeof s_types / sizeof s_types[0]; i++)
            if (strcmp (s_types[i].name, json_string_value (type)) == 0)
                return s_types[i].mask;
        return 0;
    }
    unsigned mask = 0;
    size_t index;
    json_t *item;
    json_array_foreach (type, index, item) mask |= s_type_mask (item);
    return json_is_array (type) ? mask : T_ALL;
}

/* The types of instance schema `a` admits, from type, const and enum. */
static unsigned
s_allowed (const json_t *a)
{
    unsigned mask = T_ALL;
    const json_t *type = json_object_get (a, "type");
    if (type)
        mask &= s_type_mask (type);
    const json_t *constant = json_object_get (a, "const");
    if (constant)
        mask &= s_value_type (constant);
    if (json_object_get (a, "tensor"))
        mask &= T_OBJ; /* a tensor reference is an object */
    const json_t *choices = json_object_get (a, "enum");
    if (json_is_array (choices)) {
        unsigned kinds = 0;
        size_t index;
        json_t *item;
        json_array_foreach (choices, index, item) kinds |= s_value_type (item);
        mask &= kinds;
    }
    return mask;
}

static bool
s_has_ref (const json_t *json)
{
    if (json_is_object (json)) {
        if (json_object_get (json, "$ref") ||
            json_object_get (json, "$dynamicRef") ||
            json_object_get (json, "$recursiveRef"))
            return true;
        const char *key;
        json_t *value;
        json_object_foreach ((json_t *)json, key,
                             value) if (s_has_ref (value)) return true;
    } else if (json_is_array (json)) {
        for (size_t i = 0; i < json_array_size (json); i++)
            if (s_has_ref (json_array_get (json, i)))
                return true;
    }
    return false;
}

static bool
s_same (const json_t *a, const json_t *b)
{
    return a && b && ab_patch_json_equal (a, b);
}

static ab_compat_verdict_t s_sub (s_ctx_t *ctx, const json_t *a,
                                  const json_t *b);

/* Recurses into a subschema on each side, under the given pointer
   segments (already escaped). */
static ab_compat_verdict_t
s_sub_at (s_ctx_t *ctx, const json_t *a, const char *a_seg, const json_t *b,
          const char *b_seg)
{
    size_t length[2] = {strlen (ctx->path[0]), strlen (ctx->path[1])};
    const char *seg[2] = {a_seg, b_seg};
    for (int i = 0; i < 2; i++)
        snprintf (ctx->path[i] + length[i], sizeof ctx->path[i] - length[i],
                  "/%s", seg[i]);
    ab_compat_verdict_t verdict = s_sub (ctx, a, b);
    ctx->path[0][length[0]] = '\0';
    ctx->path[1][length[1]] = '\0';
    return verdict;
}

/* --- The rules, one per keyword of B ---------------------------------- */

static ab_compat_verdict_t
s_rule_type (s_ctx_t *ctx, const json_t *a, const json_t *b, unsigned allowed,
             const char *keyword)
{
    unsigned wanted = s_type_mask (json_object_get (b, keyword));
    if ((allowed & ~wanted) == 0)
        return AB_COMPAT_HOLDS;
    for (size_t i = 0; i < sizeof s_types / sizeof s_types[0]; i++)
        if (allowed & ~wanted & s_types[i].mask)
            return s_answer (ctx, AB_COMPAT_FAILS, 1, keyword,
                             "the other schema admits %s values, this one "
                             "does not",
                             s_types[i].name);
    return AB_COMPAT_FAILS;
}

/* The values A admits when it lists them (const, else enum), or NULL. */
static json_t *
s_listed (const json_t *a)
{
    const json_t *constant = json_object_get (a, "const");
    if (constant)
        return json_pack ("[O]", constant);
    const json_t *choices = json_object_get (a, "enum");
    return json_is_array (choices) ? json_incref ((json_t *)choices) : NULL;
}

static ab_compat_verdict_t
s_rule_enum (s_ctx_t *ctx, const json_t *a, const json_t *b, unsigned allowed,
             const char *keyword)
{
    const json_t *set = json_object_get (b, keyword);
    json_t *listed = s_listed (a);
    if (!listed)
        return s_answer (ctx, AB_COMPAT_FAILS, 1, keyword,
                         "the other schema does not limit the values to "
                         "these");
    ab_compat_verdict_t verdict = AB_COMPAT_HOLDS;
    size_t index;
    json_t *value;
    json_array_foreach (listed, index, value)
    {
        bool found =
            strcmp (keyword, "const") == 0 ? s_same (value, set) : false;
        for (size_t i = 0;
             !found && json_is_array (set) && i < json_array_size (set); i++)
            found = s_same (value, json_array_get (set, i));
        if (!found) {
            char *text = json_dumps (value, JSON_ENCODE_ANY | JSON_COMPACT);
            verdict = s_answer (ctx, AB_COMPAT_FAILS, 1, keyword,
                                "the value %s is admitted by the other "
                                "schema only",
                                text ? text : "?");
            free (text);
            break;
        }
    }
    json_decref (listed);
    return verdict;
}

/* A lower (or upper, when `upper`) bound of A, strict or not. */
static bool
s_bound (const json_t *a, bool upper, double *value, bool *strict)
{
    const json_t *inclusive =
        json_object_get (a, upper ? "maximum" : "minimum");
    const json_t *exclusive =
        json_object_get (a, upper ? "exclusiveMaximum" : "exclusiveMinimum");
    bool found = false;
    if (json_is_number (inclusive)) {
        *value = json_number_value (inclusive);
        *strict = false;
        found = true;
    }
    if (json_is_number (exclusive)) {
        double e = json_number_value (exclusive);
        if (!found || (upper ? e <= *value : e >= *value)) {
            *value = e;
            *strict = true;
        }
        found = true;
    }
    return found;
}

static ab_compat_verdict_t
s_rule_numeric (s_ctx_t *ctx, const json_t *a, const json_t *b,
                unsigned allowed, const char *keyword)
{
    const json_t *limit = json_object_get (b, keyword);
    if (!json_is_number (limit))
        return s_answer (ctx, AB_COMPAT_UNDECIDED, 1, keyword,
                         "a boolean (draft-04) bound is not decided");
    if (json_is_boolean (json_object_get (a, "exclusiveMinimum")) ||
        json_is_boolean (json_object_get (a, "exclusiveMaximum")))
        return s_answer (ctx, AB_COMPAT_UNDECIDED, 0, keyword,
                         "a boolean (draft-04) bound is not decided");
    bool upper = strstr (keyword, "aximum") != NULL;
    bool b_strict = strncmp (keyword, "exclusive", 9) == 0;
    double b_value = json_number_value (limit), a_value;
    bool a_strict;
    bool ok = s_bound (a, upper, &a_value, &a_strict);
    if (ok && upper)
        ok = a_value < b_value ||
             (a_value == b_value && (a_strict || !b_strict));
    else if (ok)
        ok = a_value > b_value ||
             (a_value == b_value && (a_strict || !b_strict));
    return ok ? AB_COMPAT_HOLDS
              : s_answer (ctx, AB_COMPAT_FAILS, 1, keyword,
                          "the other schema admits numbers beyond %g", b_value);
}

/* minLength, maxLength, minItems, maxItems, minProperties, maxProperties */
static ab_compat_verdict_t
s_rule_count (s_ctx_t *ctx, const json_t *a, const json_t *b, unsigned allowed,
              const char *keyword)
{
    const json_t *limit = json_object_get (b, keyword);
    const json_t *mine = json_object_get (a, keyword);
    bool upper = strncmp (keyword, "max", 3) == 0;
    bool ok = json_is_number (mine) && json_is_number (limit) &&
              (upper ? json_number_value (mine) <= json_number_value (limit)
                     : json_number_value (mine) >= json_number_value (limit));
    if (!upper && !mine && json_number_value (limit) <= 0)
        ok = true;
    return ok ? AB_COMPAT_HOLDS
              : s_answer (ctx, AB_COMPAT_FAILS, 1, keyword,
                          "the other schema admits a %s of %s %g",
                          strstr (keyword, "Length")  ? "length"
                          : strstr (keyword, "Items") ? "size"
                                                      : "member count",
                          upper ? "more than" : "less than",
                          json_number_value (limit));
}

static bool
s_in (const json_t *list, const char *name)
{
    for (size_t i = 0; json_is_array (list) && i < json_array_size (list); i++)
        if (json_is_string (json_array_get (list, i)) &&
            strcmp (json_string_value (json_array_get (list, i)), name) == 0)
            return true;
    return false;
}

static ab_compat_verdict_t
s_rule_required (s_ctx_t *ctx, const json_t *a, const json_t *b,
                 unsigned allowed, const char *keyword)
{
    const json_t *names = json_object_get (b, keyword);
    const json_t *mine = json_object_get (a, keyword);
    const json_t *a_props = json_object_get (a, "properties");
    size_t index;
    json_t *name;
    json_array_foreach (names, index, name)
    {
        const char *text = json_string_value (name);
        if (!text || !s_in (mine, text))
            return s_answer (ctx, AB_COMPAT_FAILS, 1, keyword,
                             "\"%s\" is required here but not in the other "
                             "schema%s",
                             text ? text : "?",
                             json_object_get (a_props, text ? text : "")
                                 ? ""
                                 : " (which may omit it)");
    }
    return AB_COMPAT_HOLDS;
}

/* Escapes a member name as a JSON Pointer token into out. */
static void
s_escape (const char *name, char *out, size_t size)
{
    size_t used = 0;
    for (; *name && used + 3 < size; name++) {
        if (*name == '~' || *name == '/') {
            out[used++] = '~';
            out[used++] = *name == '~' ? '0' : '1';
        } else
            out[used++] = *name;
    }
    out[used] = '\0';
}

/* properties and additionalProperties of B, together. */
static ab_compat_verdict_t
s_rule_properties (s_ctx_t *ctx, const json_t *a, const json_t *b,
                   unsigned allowed, const char *keyword)
{
    if (strcmp (keyword, "additionalProperties") == 0 &&
        json_object_get (b, "properties"))
        return AB_COMPAT_HOLDS; /* decided with `properties` */
    json_t *yes = json_true ();
    const json_t *a_props = json_object_get (a, "properties");
    const json_t *b_props = json_object_get (b, "properties");
    bool a_patterns = json_object_get (a, "patternProperties") != NULL;
    const json_t *a_other = json_object_get (a, "additionalProperties");
    const json_t *b_other = json_object_get (b, "additionalProperties");
    if (!a_other || a_patterns)
        a_other = yes; /* widened: sound */
    if (!b_other)
        b_other = yes;
    const char *a_other_seg = a_other == yes ? "" : "additionalProperties";
    char seg[300], token[256];
    const char *name;
    json_t *b_p;
    ab_compat_verdict_t verdict = AB_COMPAT_HOLDS;
    json_object_foreach ((json_t *)b_props, name, b_p)
    {
        s_escape (name, token, sizeof token);
        snprintf (seg, sizeof seg, "properties/%s", token);
        const json_t *a_p = json_object_get (a_props, name);
        verdict = s_sub_at (ctx, a_p ? a_p : a_other, a_p ? seg : a_other_seg,
                            b_p, seg);
        if (verdict != AB_COMPAT_HOLDS)
            return verdict;
    }
    json_t *a_p;
    json_object_foreach ((json_t *)a_props, name, a_p)
    {
        if (json_object_get (b_props, name))
            continue;
        if (json_is_false (b_other) && !json_is_false (a_p))
            return s_answer (ctx, AB_COMPAT_FAILS, 1, "additionalProperties",
                             "property \"%s\" is admitted by the other "
                             "schema, not here",
                             name);
        s_escape (name, token, sizeof token);
        snprintf (seg, sizeof seg, "properties/%s", token);
        verdict = s_sub_at (ctx, a_p, seg, b_other,
                            b_other == yes ? "" : "additionalProperties");
        if (verdict != AB_COMPAT_HOLDS)
            return verdict;
    }
    return s_sub_at (ctx, a_other, a_other_seg, b_other,
                     b_other == yes ? "" : "additionalProperties");
}

static ab_compat_verdict_t
s_rule_items (s_ctx_t *ctx, const json_t *a, const json_t *b, unsigned allowed,
              const char *keyword)
{
    const json_t *b_items = json_object_get (b, keyword);
    if (json_is_array (b_items))
        return s_answer (ctx, AB_COMPAT_UNDECIDED, 1, keyword,
                         "tuple items are not decided");
    const json_t *a_items = json_object_get (a, keyword);
    bool widened = !a_items || json_is_array (a_items) ||
                   json_object_get (a, "prefixItems");
    return s_sub_at (ctx, widened ? json_true () : a_items,
                     widened ? "" : "items", b_items, "items");
}

/* A tensor's dtypes as a list (a name is a list of one); NULL is any. */
static bool
s_dtype_in (const json_t *dtype, const json_t *allowed)
{
    if (!allowed)
        return true;
    if (json_is_string (allowed))
        return json_is_string (dtype) && s_same (dtype, allowed);
    for (size_t i = 0; i < json_array_size (allowed); i++)
        if (s_same (dtype, json_array_get (allowed, i)))
            return true;
    return false;
}

static ab_compat_verdict_t
s_rule_tensor (s_ctx_t *ctx, const json_t *a, const json_t *b, unsigned allowed,
               const char *keyword)
{
    const json_t *bt = json_object_get (b, keyword);
    const json_t *at = json_object_get (a, keyword);
    if (!at)
        return s_answer (ctx, AB_COMPAT_FAILS, 1, keyword,
                         "the other schema admits values that are not such "
                         "a tensor");
    const json_t *a_dtype = json_object_get (at, "dtype");
    const json_t *b_dtype = json_object_get (bt, "dtype");
    bool dtypes = b_dtype == NULL;
    if (!dtypes && json_is_string (a_dtype))
        dtypes = s_dtype_in (a_dtype, b_dtype);
    else if (!dtypes && json_is_array (a_dtype)) {
        dtypes = true;
        for (size_t i = 0; i < json_array_size (a_dtype); i++)
            dtypes =
                dtypes && s_dtype_in (json_array_get (a_dtype, i), b_dtype);
    }
    if (!dtypes)
        return s_answer (ctx, AB_COMPAT_FAILS, 1, keyword,
                         "the other schema admits a dtype this one does "
                         "not");
    const json_t *a_shape = json_object_get (at, "shape");
    const json_t *b_shape = json_object_get (bt, "shape");
    if (!b_shape || json_is_null (b_shape))
        return AB_COMPAT_HOLDS;
    bool fits = json_is_array (a_shape) &&
                json_array_size (a_shape) == json_array_size (b_shape);
    for (size_t i = 0; fits && i < json_array_size (b_shape); i++) {
        const json_t *want = json_array_get (b_shape, i);
        fits =
            json_is_null (want) || s_same (json_array_get (a_shape, i), want);
    }
    return fits ? AB_COMPAT_HOLDS
                : s_answer (ctx, AB_COMPAT_FAILS, 1, keyword,
                            "the other schema admits a shape this one does "
                            "not");
}

/* A keyword the rules do not reason about holds when A has the same
   value (the same conjunct), if its meaning depends only on its value. */
static ab_compat_verdict_t
s_rule_same (s_ctx_t *ctx, const json_t *a, const json_t *b, unsigned allowed,
             const char *keyword)
{
    return s_same (json_object_get (a, keyword), json_object_get (b, keyword))
               ? AB_COMPAT_HOLDS
               : s_answer (ctx, AB_COMPAT_UNDECIDED, 1, keyword,
                           "\"%s\" differs between the versions and is not "
                           "decided",
                           keyword);
}

/* Keywords whose meaning depends on siblings: decided only as a group
   with the same values on both sides. */
static ab_compat_verdict_t
s_rule_group (s_ctx_t *ctx, const json_t *a, const json_t *b, unsigned allowed,
              const char *keyword)
{
    static const char *const groups[][3] = {
        {"if", "then", "else"},
        {"contains", "minContains", "maxContains"},
    };
    for (size_t g = 0; g < 2; g++)
        for (size_t i = 0; i < 3; i++)
            if (strcmp (groups[g][i], keyword) == 0) {
                for (size_t k = 0; k < 3; k++) {
                    const json_t *x = json_object_get (a, groups[g][k]);
                    const json_t *y = json_object_get (b, groups[g][k]);
                    if ((x || y) && !s_same (x, y))
                        return s_answer (ctx, AB_COMPAT_UNDECIDED, 1,
                                         groups[g][k],
                                         "\"%s\" differs between the "
                                         "versions and is not decided",
                                         groups[g][k]);
                }
                return AB_COMPAT_HOLDS;
            }
    return AB_COMPAT_HOLDS;
}

static ab_compat_verdict_t
s_rule_undecided (s_ctx_t *ctx, const json_t *a, const json_t *b,
                  unsigned allowed, const char *keyword)
{
    return s_answer (ctx, AB_COMPAT_UNDECIDED, 1, keyword,
                     "\"%s\" is not decided by the rules", keyword);
}

/* What each keyword of B needs of A; `applies` is the instance types it
   constrains (vacuous when A admits none of them). */
static const struct {
    const char *keyword; /* the keyword */
    unsigned applies;    /* the types it constrains */
    s_rule_fn *rule;     /* its rule; NULL: an annotation */
} s_rules[] = {
    {"type", T_ALL, s_rule_type},
    {"enum", T_ALL, s_rule_enum},
    {"const", T_ALL, s_rule_enum},
    {"minimum", T_INT | T_NUM, s_rule_numeric},
    {"maximum", T_INT | T_NUM, s_rule_numeric},
    {"exclusiveMinimum", T_INT | T_NUM, s_rule_numeric},
    {"exclusiveMaximum", T_INT | T_NUM, s_rule_numeric},
    {"multipleOf", T_INT | T_NUM, s_rule_same},
    {"minLength", T_STR, s_rule_count},
    {"maxLength", T_STR, s_rule_count},
    {"pattern", T_STR, s_rule_same},
    {"format", T_ALL, s_rule_same},
    {"minItems", T_ARR, s_rule_count},
    {"maxItems", T_ARR, s_rule_count},
    {"items", T_ARR, s_rule_items},
    {"uniqueItems", T_ARR, s_rule_same},
    {"contains", T_ARR, s_rule_group},
    {"minContains", T_ARR, s_rule_group},
    {"maxContains", T_ARR, s_rule_group},
    {"prefixItems", T_ARR, s_rule_undecided},
    {"additionalItems", T_ARR, s_rule_undecided},
    {"unevaluatedItems", T_ARR, s_rule_undecided},
    {"required", T_OBJ, s_rule_required},
    {"properties", T_OBJ, s_rule_properties},
    {"additionalProperties", T_OBJ, s_rule_properties},
    {"minProperties", T_OBJ, s_rule_count},
    {"maxProperties", T_OBJ, s_rule_count},
    {"propertyNames", T_OBJ, s_rule_same},
    {"dependentRequired", T_OBJ, s_rule_same},
    {"dependentSchemas", T_OBJ, s_rule_same},
    {"dependencies", T_OBJ, s_rule_same},
    {"patternProperties", T_OBJ, s_rule_undecided},
    {"unevaluatedProperties", T_OBJ, s_rule_undecided},
    {"tensor", T_ALL, s_rule_tensor},
    {"allOf", T_ALL, s_rule_same},
    {"anyOf", T_ALL, s_rule_same},
    {"oneOf", T_ALL, s_rule_same},
    {"not", T_ALL, s_rule_same},
    {"if", T_ALL, s_rule_group},
    {"then", T_ALL, s_rule_group},
    {"else", T_ALL, s_rule_group},
    {"$schema", T_ALL, NULL},
    {"$id", T_ALL, NULL},
    {"$anchor", T_ALL, NULL},
    {"$dynamicAnchor", T_ALL, NULL},
    {"$defs", T_ALL, NULL},
    {"definitions", T_ALL, NULL},
    {"$vocabulary", T_ALL, NULL},
    {"$comment", T_ALL, NULL},
    {"title", T_ALL, NULL},
    {"description", T_ALL, NULL},
    {"default", T_ALL, NULL},
    {"examples", T_ALL, NULL},
    {"deprecated", T_ALL, NULL},
    {"readOnly", T_ALL, NULL},
    {"writeOnly", T_ALL, NULL},
    {"contentMediaType", T_ALL, NULL},
    {"contentEncoding", T_ALL, NULL},
    {"contentSchema", T_ALL, NULL},
};

static ab_compat_verdict_t
s_sub (s_ctx_t *ctx, const json_t *a, const json_t *b)
{
    if (json_is_true (b) || json_is_false (a))
        return AB_COMPAT_HOLDS;
    bool refs = s_has_ref (a) || s_has_ref (b);
    if (!refs && ab_patch_json_equal (a, b))
        return AB_COMPAT_HOLDS;
    json_t *empty = json_object ();
    if (json_is_true (a))
        a = empty;
    unsigned allowed = s_allowed (a);
    ab_compat_verdict_t verdict = AB_COMPAT_HOLDS;
    if (json_is_false (b))
        verdict = allowed ? s_answer (ctx, AB_COMPAT_FAILS, 1, "",
                                      "this schema admits nothing")
                          : AB_COMPAT_HOLDS;
    else if (!json_is_object (a) || !json_is_object (b))
        verdict =
            s_answer (ctx, AB_COMPAT_UNDECIDED, 1, "", "not a schema object");
    else if (refs)
        verdict = s_answer (ctx, AB_COMPAT_UNDECIDED, s_has_ref (b) ? 1 : 0,
                            "$ref", "references are not followed by the rules");
    const char *keyword;
    json_t *value;
    if (verdict == AB_COMPAT_HOLDS && json_is_object (b) && allowed)
        json_object_foreach ((json_t *)b, keyword, value)
        {
            size_t i = 0, n = sizeof s_rules / sizeof s_rules[0];
            while (i < n && strcmp (s_rules[i].keyword, keyword) != 0)
                i++;
            if (i == n)
                verdict =
                    s_answer (ctx, AB_COMPAT_UNDECIDED, 1, keyword,
                              "unknown keyword \"%s\" is not decided", keyword);
            else if (s_rules[i].rule && (allowed & s_rules[i].applies))
                verdict = s_rules[i].rule (ctx, a, b, allowed, keyword);
            if (verdict != AB_COMPAT_HOLDS)
                break;
        }
    json_decref (empty);
    return verdict;
}

ab_compat_verdict_t
ab_compat_subset (const json_t *a, const json_t *b, ab_compat_why_t *why)
{
    assert (a && b);
    ab_compat_why_t local;
    s_ctx_t ctx = {.why = why ? why : &local};
    memset (ctx.why, 0, sizeof *ctx.why);
    return s_sub (&ctx, a, b);
}

ab_compat_t
ab_compat_check (const json_t *older, const json_t *newer,
                 ab_compat_why_t *backward, ab_compat_why_t *forward)
{
    ab_compat_t relation = AB_COMPAT_NONE;
    if (ab_compat_subset (older, newer, backward) == AB_COMPAT_HOLDS)
        relation |= AB_COMPAT_BACKWARD;
    if (ab_compat_subset (newer, older, forward) == AB_COMPAT_HOLDS)
        relation |= AB_COMPAT_FORWARD;
    return relation;
}

static const char *const s_names[] = {"none", "backward", "forward", "full"};

const char *
ab_compat_name (ab_compat_t relation)
{
    return s_names[relation & 3];
}

int
ab_compat_parse (const char *name)
{
    for (int i = 0; name && i < 4; i++)
        if (strcmp (s_names[i], name) == 0)
            return i;
    return -1;
}
