/*  =========================================================================
    ab_schema_assert - the assertion keywords on one value: type, enum,
    const, the numeric bounds, multipleOf, the length/item/property
    counts, pattern, format, and agentbus's tensor

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Each keyword is a check (validation) and a compile function (arguments
    parsed once), named in the keyword table of ab_schema.c.
*/

#include <assert.h>
#include <czmq.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "schema/ab_schema_kw.h"

/*  -------------------------------------------------------------------------
    Keyword checks: assertions */

static const struct {
    const char *name; /* as written in `type` */
    unsigned bit;     /* T_* */
} s_types[] = {
    {"null", T_NULL},       {"boolean", T_BOOLEAN}, {"object", T_OBJECT},
    {"array", T_ARRAY},     {"number", T_NUMBER},   {"string", T_STRING},
    {"integer", T_INTEGER},
};

static bool
s_check_type (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
              ab_kw_eval_t *eval)
{
    if (ab_kw_type_bits (inst) & kw->u.mask)
        return true;
    if (ab_kw_reporting (ctx)) {
        char value[AB_KW_RENDER_MAX + 8], names[128] = "";
        size_t n = 0, total = (size_t)__builtin_popcount (kw->u.mask);
        for (size_t i = 0; i < sizeof s_types / sizeof s_types[0]; i++) {
            if (!(kw->u.mask & s_types[i].bit))
                continue;
            const char *sep = n == 0 ? "" : n + 1 == total ? " or " : ", ";
            size_t used = strlen (names);
            snprintf (names + used, sizeof names - used, "%s%s", sep,
                      s_types[i].name);
            n++;
        }
        ab_kw_render (inst, value, sizeof value);
        ab_kw_error (ctx, "%s is not of type %s", value, names);
    }
    return false;
}

static bool
s_check_enum (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
              ab_kw_eval_t *eval)
{
    for (size_t i = 0; i < json_array_size (kw->value); i++)
        if (ab_kw_equal (inst, json_array_get (kw->value, i)))
            return true;
    if (ab_kw_reporting (ctx)) {
        char value[AB_KW_RENDER_MAX + 8], allowed[AB_KW_RENDER_MAX + 8];
        ab_kw_render (inst, value, sizeof value);
        ab_kw_render (kw->value, allowed, sizeof allowed);
        ab_kw_error (ctx, "%s is not one of the allowed values %s", value,
                     allowed);
    }
    return false;
}

static bool
s_check_const (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
               ab_kw_eval_t *eval)
{
    if (ab_kw_equal (inst, kw->value))
        return true;
    if (ab_kw_reporting (ctx)) {
        char value[AB_KW_RENDER_MAX + 8], expected[AB_KW_RENDER_MAX + 8];
        ab_kw_render (inst, value, sizeof value);
        ab_kw_render (kw->value, expected, sizeof expected);
        ab_kw_error (ctx, "%s is not equal to the constant %s", value,
                     expected);
    }
    return false;
}

static bool
s_multiple (const json_t *inst, const json_t *divisor)
{
    if (json_is_integer (inst) && json_is_integer (divisor))
        return json_integer_value (inst) % json_integer_value (divisor) == 0;
    double v = json_number_value (inst), m = json_number_value (divisor);
    double q = v / m;
    if (!isfinite (q))
        return fmod (v, m) == 0;
    return fabs (q - nearbyint (q)) <= 1e-9 * fmax (1, fabs (q));
}

/* The numeric bounds share one check; the keyword picks the relation. */
static const struct {
    const char *keyword; /* the bound's keyword */
    int fails;           /* ab_kw_compare result that fails ... */
    int fails_too;       /* ... and a second one (or 2 = none) */
    const char *text;    /* message: "V <text> M" */
} s_bounds[] = {
    {"maximum", 1, 2, "is greater than the maximum"},
    {"exclusiveMaximum", 1, 0, "is not less than the exclusive maximum"},
    {"minimum", -1, 2, "is less than the minimum"},
    {"exclusiveMinimum", -1, 0, "is not greater than the exclusive minimum"},
};

static bool
s_check_bound (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
               ab_kw_eval_t *eval)
{
    size_t b = kw->u.bound;
    int c = ab_kw_compare (inst, kw->value);
    if (c != s_bounds[b].fails && c != s_bounds[b].fails_too)
        return true;
    if (ab_kw_reporting (ctx)) {
        char value[AB_KW_RENDER_MAX + 8], bound[AB_KW_RENDER_MAX + 8];
        ab_kw_render (inst, value, sizeof value);
        ab_kw_render (kw->value, bound, sizeof bound);
        ab_kw_error (ctx, "%s %s %s", value, s_bounds[b].text, bound);
    }
    return false;
}

static bool
s_check_multiple_of (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
                     ab_kw_eval_t *eval)
{
    if (s_multiple (inst, kw->value))
        return true;
    if (ab_kw_reporting (ctx)) {
        char value[AB_KW_RENDER_MAX + 8], divisor[AB_KW_RENDER_MAX + 8];
        ab_kw_render (inst, value, sizeof value);
        ab_kw_render (kw->value, divisor, sizeof divisor);
        ab_kw_error (ctx, "%s is not a multiple of %s", value, divisor);
    }
    return false;
}

/* min/max counts: length, items, properties. */
static size_t
s_size_of (const json_t *inst)
{
    if (json_is_string (inst))
        return ab_kw_utf8_length (json_string_value (inst),
                                  json_string_length (inst));
    if (json_is_array (inst))
        return json_array_size (inst);
    return json_object_size (inst);
}

static bool
s_check_count (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
               ab_kw_eval_t *eval)
{
    size_t size = s_size_of (inst);
    bool is_max = kw->u.limit.upper;
    if (is_max ? size <= kw->u.limit.count : size >= kw->u.limit.count)
        return true;
    if (ab_kw_reporting (ctx)) {
        const char *what = json_is_string (inst)  ? "string of"
                           : json_is_array (inst) ? "array of"
                                                  : "object of";
        const char *unit = json_is_string (inst)  ? "characters"
                           : json_is_array (inst) ? "items"
                                                  : "properties";
        ab_kw_error (ctx, "%s %zu %s has %s than the %s %zu", what, size, unit,
                     is_max ? "more" : "fewer", is_max ? "maximum" : "minimum",
                     kw->u.limit.count);
    }
    return false;
}

bool
ab_kw_match (ab_kw_ctx_t *ctx, const pcre2_code *re, const char *text,
             size_t length)
{
    if (!ctx->match && !(ctx->match = pcre2_match_data_create (1, NULL))) {
        ctx->oom = true;
        return false;
    }
    int rc = pcre2_match (re, (PCRE2_SPTR)text, length, 0, PCRE2_NO_UTF_CHECK,
                          ctx->match, NULL);
    return rc >= 0;
}

bool
ab_kw_check_pattern (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
                     ab_kw_eval_t *eval)
{
    if (ab_kw_match (ctx, kw->u.re, json_string_value (inst),
                     json_string_length (inst)))
        return true;
    if (ab_kw_reporting (ctx)) {
        char value[AB_KW_RENDER_MAX + 8], pattern[AB_KW_RENDER_MAX + 8];
        ab_kw_render (inst, value, sizeof value);
        ab_kw_render (kw->value, pattern, sizeof pattern);
        ab_kw_error (ctx, "%s does not match the pattern %s", value, pattern);
    }
    return false;
}

static bool
s_check_format (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
                ab_kw_eval_t *eval)
{
    if (kw->u.format.fn (json_string_value (inst), json_string_length (inst)))
        return true;
    if (ab_kw_reporting (ctx)) {
        char value[AB_KW_RENDER_MAX + 8];
        ab_kw_render (inst, value, sizeof value);
        ab_kw_error (ctx, "%s is not a valid %s", value,
                     json_string_value (kw->value));
    }
    return false;
}

/* tensor: {dtype, shape, frame} with an allowed dtype and shape. */
bool
ab_kw_check_tensor (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
                    ab_kw_eval_t *eval)
{
    const json_t *dtype = json_object_get (inst, "dtype");
    const json_t *shape = json_object_get (inst, "shape");
    const json_t *frame = json_object_get (inst, "frame");
    ab_dtype_t type = ab_dtype_from_name (
        json_string_value (dtype) ? json_string_value (dtype) : "");
    if (!json_is_object (inst) || type == AB_DTYPE_INVALID ||
        !json_is_array (shape) || !json_is_integer (frame)) {
        if (ab_kw_reporting (ctx))
            ab_kw_error (ctx, "value is not a tensor reference {dtype, shape, "
                              "frame}");
        return false;
    }
    if (kw->u.tensor.dtypes && !(kw->u.tensor.dtypes & (1u << type))) {
        if (ab_kw_reporting (ctx)) {
            char allowed[AB_KW_RENDER_MAX + 8];
            ab_kw_render (json_object_get (kw->value, "dtype"), allowed,
                          sizeof allowed);
            ab_kw_error (ctx,
                         "tensor dtype \"%s\" is not allowed (expected %s)",
                         json_string_value (dtype), allowed);
        }
        return false;
    }
    bool fits =
        kw->u.tensor.any_shape || json_array_size (shape) == kw->u.tensor.ndim;
    for (size_t i = 0; fits && !kw->u.tensor.any_shape && i < kw->u.tensor.ndim;
         i++) {
        const json_t *dim = json_array_get (shape, i);
        fits = json_is_integer (dim) && json_integer_value (dim) >= 0 &&
               (kw->u.tensor.dims[i] < 0 ||
                kw->u.tensor.dims[i] == json_integer_value (dim));
    }
    if (fits)
        return true;
    if (ab_kw_reporting (ctx)) {
        char got[AB_KW_RENDER_MAX + 8], expected[AB_KW_RENDER_MAX + 8];
        ab_kw_render (shape, got, sizeof got);
        ab_kw_render (json_object_get (kw->value, "shape"), expected,
                      sizeof expected);
        ab_kw_error (ctx, "tensor shape %s does not match %s", got, expected);
    }
    return false;
}

int
ab_kw_compile_type (ab_cc_t *cc, const json_t *schema, const json_t *value,
                    ab_kw_t *kw)
{
    kw->check = s_check_type;
    bool list = json_is_array (value);
    size_t n = list ? json_array_size (value) : 1;
    for (size_t i = 0; i < n; i++) {
        const json_t *name = list ? json_array_get (value, i) : value;
        size_t t = 0;
        while (t < sizeof s_types / sizeof s_types[0] &&
               !(json_is_string (name) &&
                 strcmp (json_string_value (name), s_types[t].name) == 0))
            t++;
        if (t == sizeof s_types / sizeof s_types[0]) {
            char text[AB_KW_RENDER_MAX + 8];
            ab_kw_render (name, text, sizeof text);
            ab_cc_error (cc, "unknown type name %s", text);
            return -1;
        }
        kw->u.mask |= s_types[t].bit;
    }
    /* "number" admits integers */
    if (kw->u.mask & T_NUMBER)
        kw->u.mask |= T_INTEGER;
    return 1;
}

int
ab_kw_compile_enum (ab_cc_t *cc, const json_t *schema, const json_t *value,
                    ab_kw_t *kw)
{
    if (!json_is_array (value)) {
        ab_cc_error (cc, "enum must be an array");
        return -1;
    }
    kw->check = s_check_enum;
    return 1;
}

int
ab_kw_compile_const (ab_cc_t *cc, const json_t *schema, const json_t *value,
                     ab_kw_t *kw)
{
    kw->check = s_check_const;
    return 1;
}

int
ab_kw_compile_bound (ab_cc_t *cc, const json_t *schema, const json_t *value,
                     ab_kw_t *kw)
{
    if (!json_is_number (value)) {
        ab_cc_error (cc, "%s must be a number", kw->def->name);
        return -1;
    }
    kw->check = s_check_bound;
    while (strcmp (s_bounds[kw->u.bound].keyword, kw->def->name) != 0)
        kw->u.bound++;
    return 1;
}

int
ab_kw_compile_multiple_of (ab_cc_t *cc, const json_t *schema,
                           const json_t *value, ab_kw_t *kw)
{
    if (!json_is_number (value) || json_number_value (value) <= 0) {
        ab_cc_error (cc, "multipleOf must be a number greater than 0");
        return -1;
    }
    kw->check = s_check_multiple_of;
    return 1;
}

int
ab_kw_compile_count (ab_cc_t *cc, const json_t *schema, const json_t *value,
                     ab_kw_t *kw)
{
    if (!ab_kw_count_value (value, &kw->u.limit.count)) {
        ab_cc_error (cc, "%s must be a non-negative integer", kw->def->name);
        return -1;
    }
    kw->u.limit.upper = strncmp (kw->def->name, "max", 3) == 0;
    kw->check = s_check_count;
    return 1;
}

pcre2_code *
ab_kw_cc_regex (ab_cc_t *cc, const json_t *value)
{
    char error[200];
    if (!json_is_string (value)) {
        ab_cc_error (cc, "a pattern must be a string");
        return NULL;
    }
    pcre2_code *re =
        ab_regex_compile (json_string_value (value), error, sizeof error);
    if (!re)
        ab_cc_error (cc, "bad regular expression \"%s\": %s",
                     json_string_value (value), error);
    return re;
}

int
ab_kw_compile_pattern (ab_cc_t *cc, const json_t *schema, const json_t *value,
                       ab_kw_t *kw)
{
    kw->check = ab_kw_check_pattern;
    kw->u.re = ab_kw_cc_regex (cc, value);
    return kw->u.re ? 1 : -1;
}

int
ab_kw_compile_format (ab_cc_t *cc, const json_t *schema, const json_t *value,
                      ab_kw_t *kw)
{
    if (!json_is_string (value)) {
        ab_cc_error (cc, "format must be a string");
        return -1;
    }
    kw->check = s_check_format;
    kw->u.format.fn = ab_format_lookup (json_string_value (value));
    kw->u.format.assert =
        cc->registry->options.format_assert || cc->resource->format_assert;
    return kw->u.format.fn && kw->u.format.assert ? 1 : 0;
}

/* tensor: {dtype: name or list of names, shape: list of int|null, or
   null}. */
int
ab_kw_compile_tensor (ab_cc_t *cc, const json_t *schema, const json_t *value,
                      ab_kw_t *kw)
{
    const json_t *dtype = json_object_get (value, "dtype");
    const json_t *shape = json_object_get (value, "shape");
    kw->check = ab_kw_check_tensor;
    if (!json_is_object (value)) {
        ab_cc_error (cc, "tensor must be an object {dtype, shape}");
        return -1;
    }
    size_t n = json_is_array (dtype) ? json_array_size (dtype) : 1;
    for (size_t i = 0; dtype && i < n; i++) {
        const json_t *name =
            json_is_array (dtype) ? json_array_get (dtype, i) : dtype;
        ab_dtype_t type = ab_dtype_from_name (
            json_is_string (name) ? json_string_value (name) : "");
        if (type == AB_DTYPE_INVALID) {
            char text[AB_KW_RENDER_MAX + 8];
            ab_kw_render (name, text, sizeof text);
            ab_cc_error (cc, "tensor: unknown dtype %s", text);
            return -1;
        }
        kw->u.tensor.dtypes |= 1u << type;
    }
    kw->u.tensor.any_shape = !shape || json_is_null (shape);
    if (kw->u.tensor.any_shape)
        return 1;
    size_t ndim = json_array_size (shape);
    kw->u.tensor.dims = calloc (ndim ? ndim : 1, sizeof (int64_t));
    if (!json_is_array (shape) || !kw->u.tensor.dims) {
        ab_cc_error (cc, "tensor: shape must be a list of integers or nulls");
        return -1;
    }
    for (size_t i = 0; i < ndim; i++) {
        const json_t *dim = json_array_get (shape, i);
        if (!json_is_null (dim) &&
            !(json_is_integer (dim) && json_integer_value (dim) >= 0)) {
            ab_cc_error (cc, "tensor: shape must be a list of integers or "
                             "nulls");
            return -1;
        }
        kw->u.tensor.dims[i] =
            json_is_null (dim) ? -1 : json_integer_value (dim);
    }
    kw->u.tensor.ndim = ndim;
    return 1;
}
