/*  =========================================================================
    ab_schema - compiled JSON Schema validators: the validation engine,
    the keyword table and the compiler driver

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Design note.

    A message is validated many times against few schemas, so all work
    that depends only on the schema is done once, in ab_registry_compile:

    * Adding a document indexes it (ab_registry.c): every schema object
      reached through a known subschema keyword is mapped to its schema
      *resource* (the nearest enclosing `$id`, whose URI is the base for
      `$ref`s inside), and every `$id`, `$anchor` and `$dynamicAnchor` is
      entered, as an absolute URI, in `targets`.
    * Compiling turns each schema object into one ab_schema_t node holding
      an array of keyword checks (ab_kw_t): a function pointer and the
      keyword's arguments already parsed (numbers, sorted property tables,
      PCRE2 code, and for `$ref` the target node itself). Nodes are cached
      by the address of their JSON object, and a node is entered in the
      cache before its keywords are compiled, so a cyclic `$ref` finds the
      node under construction instead of recursing forever.

    Invariant: after ab_registry_compile returns, nothing reachable from a
    node changes until ab_registry_destroy. Validation only reads nodes;
    everything it writes (instance and schema paths, the dynamic scope,
    annotations for unevaluated*, PCRE2 match data, the errors) lives in a
    per-call ab_kw_ctx_t, so any number of threads may validate at once.

    Annotations (which properties and items were evaluated) cost nothing
    unless a node has unevaluatedProperties/unevaluatedItems: only then is
    an ab_kw_eval_t passed down through the in-place applicators ($ref, allOf,
    anyOf, oneOf, if/then/else, dependentSchemas); each applicator gives
    its subschema a fresh ab_kw_eval_t and merges it only when that subschema
    passed, because failed subschemas produce no annotations.

    The keywords themselves live in families, each a check and a compile
    function per keyword: ab_schema_assert.c (one value: type, enum,
    const, numbers, strings, format, tensor), ab_schema_array.c,
    ab_schema_object.c and ab_schema_apply.c (allOf... if, $ref); what
    they share with this file (the compiled keyword, the context, the
    annotations) is ab_schema_kw.h. This file holds the engine (one
    node's keywords in table order), the table, and the compiler driver.

    Evaluation depth is bounded (AB_KW_MAX_DEPTH): a `$ref` cycle that never
    descends into the instance ends in an AB_ELIMIT error, not a stack
    overflow; a pure `$ref` cycle (nodes holding nothing but `$ref`) is
    already refused by the compiler.
*/

#include <assert.h>
#include <czmq.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "schema/ab_schema.h"
#include "schema/ab_schema_int.h"
#include "schema/ab_schema_format.h"
#include "schema/ab_schema_kw.h"

/*  -------------------------------------------------------------------------
    JSON values with JSON Schema's number semantics */

unsigned
ab_kw_type_bits (const json_t *value)
{
    switch (json_typeof (value)) {
    case JSON_OBJECT:
        return T_OBJECT;
    case JSON_ARRAY:
        return T_ARRAY;
    case JSON_STRING:
        return T_STRING;
    case JSON_INTEGER:
        return T_NUMBER | T_INTEGER;
    case JSON_REAL: {
        double d = json_real_value (value);
        return T_NUMBER | (d == floor (d) && isfinite (d) ? T_INTEGER : 0);
    }
    case JSON_TRUE:
    case JSON_FALSE:
        return T_BOOLEAN;
    default:
        return T_NULL;
    }
}

/* Equality where 1 and 1.0 are the same number. */
bool
ab_kw_equal (const json_t *a, const json_t *b)
{
    if (json_is_number (a) && json_is_number (b)) {
        if (json_is_integer (a) && json_is_integer (b))
            return json_integer_value (a) == json_integer_value (b);
        return json_number_value (a) == json_number_value (b);
    }
    if (json_typeof (a) != json_typeof (b))
        return false;
    if (json_is_string (a))
        return json_string_length (a) == json_string_length (b) &&
               memcmp (json_string_value (a), json_string_value (b),
                       json_string_length (a)) == 0;
    if (json_is_array (a)) {
        if (json_array_size (a) != json_array_size (b))
            return false;
        for (size_t i = 0; i < json_array_size (a); i++)
            if (!ab_kw_equal (json_array_get (a, i), json_array_get (b, i)))
                return false;
        return true;
    }
    if (json_is_object (a)) {
        if (json_object_size (a) != json_object_size (b))
            return false;
        const char *key;
        json_t *value;
        json_object_foreach ((json_t *)a, key, value)
        {
            json_t *other = json_object_get (b, key);
            if (!other || !ab_kw_equal (value, other))
                return false;
        }
        return true;
    }
    return true; /* null, true, false: the type is the value */
}

/* Compares two numbers exactly when both are integers: -1, 0 or 1. */
int
ab_kw_compare (const json_t *a, const json_t *b)
{
    if (json_is_integer (a) && json_is_integer (b)) {
        json_int_t x = json_integer_value (a), y = json_integer_value (b);
        return (x > y) - (x < y);
    }
    double x = json_number_value (a), y = json_number_value (b);
    return (x > y) - (x < y);
}

/* Writes a short JSON rendering of value for a message. */
void
ab_kw_render (const json_t *value, char *buffer, size_t size)
{
    char *text = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY |
                                        JSON_REAL_PRECISION (15));
    if (!text) {
        snprintf (buffer, size, "value");
        return;
    }
    size_t length = strlen (text);
    if (length < size && length <= AB_KW_RENDER_MAX)
        snprintf (buffer, size, "%s", text);
    else
        snprintf (
            buffer, size, "%.*s...",
            (int)(size < AB_KW_RENDER_MAX ? size - 4 : AB_KW_RENDER_MAX - 3),
            text);
    free (text);
}

/* Code points in a UTF-8 string (jansson guarantees valid UTF-8). */
size_t
ab_kw_utf8_length (const char *text, size_t bytes)
{
    size_t count = 0;
    for (size_t i = 0; i < bytes; i++)
        count += ((unsigned char)text[i] & 0xC0) != 0x80;
    return count;
}

/* Builds a JSON Pointer from segments (RFC 6901: '~' -> ~0, '/' -> ~1). */
char *
ab_kw_pointer (const ab_kw_seg_t *segs, size_t count)
{
    size_t size = 1;
    for (size_t i = 0; i < count; i++)
        size += segs[i].key ? 2 * strlen (segs[i].key) + 1 : 22;
    char *text = malloc (size);
    if (!text)
        return NULL;
    char *p = text;
    for (size_t i = 0; i < count; i++) {
        *p++ = '/';
        if (!segs[i].key) {
            p += sprintf (p, "%zu", segs[i].index);
            continue;
        }
        for (const char *k = segs[i].key; *k; k++) {
            if (*k == '~' || *k == '/') {
                *p++ = '~';
                *p++ = *k == '~' ? '0' : '1';
            } else
                *p++ = *k;
        }
    }
    *p = '\0';
    return text;
}

/*  -------------------------------------------------------------------------
    Annotations */

void
ab_kw_eval_clear (ab_kw_eval_t *eval)
{
    free (eval->props);
    free (eval->marks);
    memset (eval, 0, sizeof *eval);
}

void
ab_kw_eval_add_prop (ab_kw_ctx_t *ctx, ab_kw_eval_t *eval, const char *key)
{
    if (!eval || eval->all_props)
        return;
    if (eval->prop_count == eval->prop_capacity) {
        size_t capacity = eval->prop_capacity ? 2 * eval->prop_capacity : 8;
        const char **props = realloc (eval->props, capacity * sizeof *props);
        if (!props) {
            ctx->oom = true;
            return;
        }
        eval->props = props;
        eval->prop_capacity = capacity;
    }
    eval->props[eval->prop_count++] = key;
}

bool
ab_kw_eval_has_prop (const ab_kw_eval_t *eval, const char *key)
{
    if (eval->all_props)
        return true;
    for (size_t i = 0; i < eval->prop_count; i++)
        if (strcmp (eval->props[i], key) == 0)
            return true;
    return false;
}

void
ab_kw_eval_mark_item (ab_kw_ctx_t *ctx, ab_kw_eval_t *eval, size_t index,
                      size_t size)
{
    if (!eval || eval->all_items)
        return;
    if (!eval->marks) {
        eval->marks = calloc (size ? size : 1, 1);
        eval->mark_count = size;
        if (!eval->marks) {
            ctx->oom = true;
            return;
        }
    }
    if (index < eval->mark_count)
        eval->marks[index] = 1;
}

bool
ab_kw_eval_has_item (const ab_kw_eval_t *eval, size_t index)
{
    return eval->all_items || index < eval->items ||
           (index < eval->mark_count && eval->marks[index]);
}

/* Adds what a passing subschema evaluated to its parent's annotations. */
void
ab_kw_eval_merge (ab_kw_ctx_t *ctx, ab_kw_eval_t *into,
                  const ab_kw_eval_t *from)
{
    into->all_props |= from->all_props;
    for (size_t i = 0; i < from->prop_count && !into->all_props; i++)
        ab_kw_eval_add_prop (ctx, into, from->props[i]);
    into->all_items |= from->all_items;
    if (from->items > into->items)
        into->items = from->items;
    for (size_t i = 0; i < from->mark_count; i++)
        if (from->marks[i])
            ab_kw_eval_mark_item (ctx, into, i, from->mark_count);
}

/*  -------------------------------------------------------------------------
    The validation engine */

/* Errors are built only when someone will read them. */
bool
ab_kw_reporting (const ab_kw_ctx_t *ctx)
{
    return ctx->errors && !ctx->quiet && !ctx->limit && !ctx->oom &&
           json_array_size (ctx->errors) < ctx->max_errors;
}

void
ab_kw_error (ab_kw_ctx_t *ctx, const char *format, ...)
{
    char text[512], message[1024];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    char *path = ab_kw_pointer (ctx->ipath, ctx->ilen);
    char *schema_path = ab_kw_pointer (ctx->spath, ctx->slen);
    json_t *error = NULL;
    /* the message names where, so it reads alone: "/a/0: 7 is ..." */
    if (path)
        snprintf (message, sizeof message, "%s%s%s", path, *path ? ": " : "",
                  text);
    if (path && schema_path)
        error = json_pack ("{s:s, s:s, s:s, s:s}", "path", path, "keyword",
                           ctx->keyword ? ctx->keyword : "schema",
                           "schema_path", schema_path, "message", message);
    if (!error || json_array_append_new (ctx->errors, error) != 0)
        ctx->oom = true;
    free (path);
    free (schema_path);
}

/* Pushes a path segment; false (and the depth limit) when full. */
bool
ab_kw_push (ab_kw_ctx_t *ctx, ab_kw_seg_t *stack, size_t *length,
            const char *key, size_t index)
{
    if (*length >= AB_KW_MAX_SEGMENTS) {
        ctx->limit = true;
        return false;
    }
    stack[(*length)++] = (ab_kw_seg_t){key, index};
    return true;
}

/* Evaluates a subschema at a child of the instance (key or index) and
   under a schema path segment (skey or sindex; skey NULL = none). */
bool
ab_kw_eval_child (ab_kw_ctx_t *ctx, const ab_schema_t *node,
                  const json_t *child, const char *key, size_t index,
                  const char *skey, bool sindex, size_t sidx)
{
    size_t ilen = ctx->ilen, slen = ctx->slen;
    bool ok = ab_kw_push (ctx, ctx->ipath, &ctx->ilen, key, index) &&
              (!(skey || sindex) ||
               ab_kw_push (ctx, ctx->spath, &ctx->slen, skey, sidx)) &&
              ab_kw_eval (ctx, node, child, NULL);
    ctx->ilen = ilen;
    ctx->slen = slen;
    return ok;
}

/* Evaluates a subschema in place (same instance), merging its
   annotations into eval when it passes. */
bool
ab_kw_eval_here (ab_kw_ctx_t *ctx, const ab_schema_t *node, const json_t *inst,
                 ab_kw_eval_t *eval, const char *skey, bool sindex, size_t sidx)
{
    size_t slen = ctx->slen;
    if ((skey || sindex) &&
        !ab_kw_push (ctx, ctx->spath, &ctx->slen, skey, sidx))
        return false;
    bool ok;
    if (eval) {
        ab_kw_eval_t child = {0};
        ok = ab_kw_eval (ctx, node, inst, &child);
        if (ok)
            ab_kw_eval_merge (ctx, eval, &child);
        ab_kw_eval_clear (&child);
    } else
        ok = ab_kw_eval (ctx, node, inst, NULL);
    ctx->slen = slen;
    return ok;
}

/* The false schema: the message depends on the keyword that led here. */
static void
s_report_false (ab_kw_ctx_t *ctx, const json_t *inst)
{
    const char *kw = ctx->keyword ? ctx->keyword : "";
    const ab_kw_seg_t *last = ctx->ilen ? &ctx->ipath[ctx->ilen - 1] : NULL;
    bool uneval = strncmp (kw, "unevaluated", 11) == 0;
    if (last && last->key &&
        (strcmp (kw, "additionalProperties") == 0 ||
         strcmp (kw, "unevaluatedProperties") == 0))
        ab_kw_error (ctx, "property \"%s\" is not allowed%s", last->key,
                     uneval ? " (unevaluated)" : "");
    else if (last && !last->key &&
             (strcmp (kw, "items") == 0 ||
              strcmp (kw, "additionalItems") == 0 ||
              strcmp (kw, "unevaluatedItems") == 0))
        ab_kw_error (ctx, "item %zu is not allowed%s", last->index,
                     uneval ? " (unevaluated)" : "");
    else {
        char value[AB_KW_RENDER_MAX + 8];
        ab_kw_render (inst, value, sizeof value);
        ab_kw_error (ctx, "%s is not allowed here (false schema)", value);
    }
}

static bool
s_limit (ab_kw_ctx_t *ctx)
{
    if (ctx->errors && !ctx->limit && !ctx->oom) {
        int quiet = ctx->quiet;
        ctx->quiet = 0;
        ab_kw_error (ctx,
                     "schema evaluation deeper than %d levels (a $ref cycle?)",
                     AB_KW_MAX_DEPTH);
        ctx->quiet = quiet;
    }
    ctx->limit = true;
    return false;
}

static bool
s_eval_keywords (ab_kw_ctx_t *ctx, const ab_schema_t *node, const json_t *inst,
                 ab_kw_eval_t *eval)
{
    unsigned bits = ab_kw_type_bits (inst);
    const char *keyword = ctx->keyword;
    bool valid = true;
    for (size_t i = 0; i < node->keyword_count; i++) {
        const ab_kw_t *kw = &node->keywords[i];
        if (kw->def->types && !(kw->def->types & bits))
            continue;
        size_t slen = ctx->slen;
        if (!ab_kw_push (ctx, ctx->spath, &ctx->slen, kw->def->name, 0))
            return s_limit (ctx);
        ctx->keyword = kw->def->name;
        bool ok = kw->check (ctx, kw, inst, eval);
        ctx->slen = slen;
        if (!ok) {
            valid = false;
            if (!ab_kw_reporting (ctx))
                break;
        }
    }
    ctx->keyword = keyword;
    return valid;
}

bool
ab_kw_eval (ab_kw_ctx_t *ctx, const ab_schema_t *node, const json_t *inst,
            ab_kw_eval_t *eval)
{
    if (ctx->limit || ctx->oom)
        return false;
    if (node->boolean >= 0) {
        if (!node->boolean && ab_kw_reporting (ctx))
            s_report_false (ctx, inst);
        return node->boolean;
    }
    if (ctx->depth >= AB_KW_MAX_DEPTH)
        return s_limit (ctx);
    ctx->depth++;
    bool pushed = false;
    if (!ctx->nscope || ctx->scope[ctx->nscope - 1] != node->resource) {
        ctx->scope[ctx->nscope++] = node->resource;
        pushed = true;
    }
    ab_kw_eval_t local = {0};
    bool ok = s_eval_keywords (ctx, node, inst,
                               node->needs_eval && !eval ? &local : eval);
    ab_kw_eval_clear (&local);
    ctx->nscope -= pushed;
    ctx->depth--;
    return ok && !ctx->limit && !ctx->oom;
}

/*  -------------------------------------------------------------------------
    Compiling keywords */

void
ab_cc_error (ab_cc_t *cc, const char *format, ...)
{
    char message[512];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    const ab_resource_t *res = cc->resource;
    const char *file = res && res->file ? res->file : (res ? res->uri : NULL);
    ab_pos_t pos = {0, 0};
    if (res && res->yaml && cc->at_object)
        pos = cc->at_key
                  ? ab_yaml_value_pos (res->yaml, cc->at_object, cc->at_key)
                  : ab_yaml_node_pos (res->yaml, cc->at_object);
    ab_diag_add (cc->diag, file, pos.line, pos.column, "%s: %s",
                 cc->path_length ? cc->path : "/", message);
    cc->errors++;
}

/* Appends a JSON Pointer segment to cc->path; returns the length to
   restore. A path too long for the buffer is cut, which only shortens
   messages. */
size_t
ab_kw_cc_push (ab_cc_t *cc, const char *key, size_t index)
{
    size_t saved = cc->path_length;
    size_t room = sizeof cc->path - cc->path_length;
    int n;
    if (key) {
        ab_kw_seg_t seg = {key, 0};
        char *escaped = ab_kw_pointer (&seg, 1);
        n = snprintf (cc->path + cc->path_length, room, "%s",
                      escaped ? escaped : "/");
        free (escaped);
    } else
        n = snprintf (cc->path + cc->path_length, room, "/%zu", index);
    cc->path_length =
        n > 0 && (size_t)n < room ? cc->path_length + (size_t)n : saved;
    cc->path[cc->path_length] = '\0';
    return saved;
}

void
ab_kw_cc_pop (ab_cc_t *cc, size_t saved)
{
    cc->path_length = saved;
    cc->path[saved] = '\0';
}

/* Compiles a subschema found under key (or index, key NULL). */
ab_schema_t *
ab_kw_sub (ab_cc_t *cc, const json_t *json, const char *key, size_t index)
{
    size_t saved = ab_kw_cc_push (cc, key, index);
    ab_schema_t *node = ab_schema_compile (cc, json, cc->resource);
    ab_kw_cc_pop (cc, saved);
    return node;
}

/* A count: a non-negative integer (1.0 counts as 1). */
bool
ab_kw_count_value (const json_t *value, size_t *count_p)
{
    double d = json_number_value (value);
    if (!json_is_number (value) || d < 0 || d != floor (d) || d > 1e15)
        return false;
    *count_p = (size_t)d;
    return true;
}

/* Every keyword, in evaluation (and so error) order: references first,
   assertions by type, applicators, and unevaluated* last because they
   read what everything before them evaluated. */
static const ab_keyword_t s_keywords[] = {
    {"$ref", D_ALL, 0, ab_kw_compile_ref, V_CORE},
    {"$dynamicRef", D_2020, 0, ab_kw_compile_dynamic_ref, V_CORE},
    {"type", D_ALL, 0, ab_kw_compile_type, V_VALIDATION},
    {"enum", D_ALL, 0, ab_kw_compile_enum, V_VALIDATION},
    {"const", D_ALL, 0, ab_kw_compile_const, V_VALIDATION},
    {"multipleOf", D_ALL, T_NUM, ab_kw_compile_multiple_of, V_VALIDATION},
    {"maximum", D_ALL, T_NUM, ab_kw_compile_bound, V_VALIDATION},
    {"exclusiveMaximum", D_ALL, T_NUM, ab_kw_compile_bound, V_VALIDATION},
    {"minimum", D_ALL, T_NUM, ab_kw_compile_bound, V_VALIDATION},
    {"exclusiveMinimum", D_ALL, T_NUM, ab_kw_compile_bound, V_VALIDATION},
    {"maxLength", D_ALL, T_STRING, ab_kw_compile_count, V_VALIDATION},
    {"minLength", D_ALL, T_STRING, ab_kw_compile_count, V_VALIDATION},
    {"pattern", D_ALL, T_STRING, ab_kw_compile_pattern, V_VALIDATION},
    {"format", D_ALL, T_STRING, ab_kw_compile_format, V_FORMAT},
    {"maxItems", D_ALL, T_ARRAY, ab_kw_compile_count, V_VALIDATION},
    {"minItems", D_ALL, T_ARRAY, ab_kw_compile_count, V_VALIDATION},
    {"uniqueItems", D_ALL, T_ARRAY, ab_kw_compile_unique, V_VALIDATION},
    {"prefixItems", D_2020, T_ARRAY, ab_kw_compile_prefix_items, V_APPLICATOR},
    {"items", D_ALL, T_ARRAY, ab_kw_compile_items, V_APPLICATOR},
    {"additionalItems", D_7, T_ARRAY, ab_kw_compile_additional_items,
     V_APPLICATOR},
    {"contains", D_ALL, T_ARRAY, ab_kw_compile_contains, V_APPLICATOR},
    {"maxProperties", D_ALL, T_OBJECT, ab_kw_compile_count, V_VALIDATION},
    {"minProperties", D_ALL, T_OBJECT, ab_kw_compile_count, V_VALIDATION},
    {"required", D_ALL, T_OBJECT, ab_kw_compile_required, V_VALIDATION},
    {"dependentRequired", D_2020, T_OBJECT, ab_kw_compile_dependent_required,
     V_VALIDATION},
    {"dependencies", D_ALL, T_OBJECT, ab_kw_compile_dependencies, V_VALIDATION},
    {"properties", D_ALL, T_OBJECT, ab_kw_compile_properties, V_APPLICATOR},
    {"patternProperties", D_ALL, T_OBJECT, ab_kw_compile_pattern_properties,
     V_APPLICATOR},
    {"additionalProperties", D_ALL, T_OBJECT,
     ab_kw_compile_additional_properties, V_APPLICATOR},
    {"propertyNames", D_ALL, T_OBJECT, ab_kw_compile_property_names,
     V_APPLICATOR},
    {"dependentSchemas", D_2020, T_OBJECT, ab_kw_compile_dependent_schemas,
     V_APPLICATOR},
    {"allOf", D_ALL, 0, ab_kw_compile_all_of, V_APPLICATOR},
    {"anyOf", D_ALL, 0, ab_kw_compile_any_of, V_APPLICATOR},
    {"oneOf", D_ALL, 0, ab_kw_compile_one_of, V_APPLICATOR},
    {"not", D_ALL, 0, ab_kw_compile_not, V_APPLICATOR},
    {"if", D_ALL, 0, ab_kw_compile_if, V_APPLICATOR},
    {"tensor", D_ALL, 0, ab_kw_compile_tensor, V_AGENTBUS},
    {"unevaluatedItems", D_2020, T_ARRAY, ab_kw_compile_unevaluated,
     V_UNEVALUATED},
    {"unevaluatedProperties", D_2020, T_OBJECT, ab_kw_compile_unevaluated,
     V_UNEVALUATED},
};

#define S_KEYWORD_COUNT (sizeof s_keywords / sizeof s_keywords[0])

/* Frees what a keyword owns (its subschemas belong to the registry). */
static void
s_kw_free (ab_kw_t *kw)
{
    ab_kw_check_fn *check = kw->check;
    if (check == ab_kw_check_pattern)
        pcre2_code_free (kw->u.re);
    else if (check == ab_kw_check_required)
        free (kw->u.required.names);
    else if (check == ab_kw_check_all_of || check == ab_kw_check_any_of ||
             check == ab_kw_check_one_of || check == ab_kw_check_prefix_items)
        free (kw->u.list.nodes);
    else if (check == ab_kw_check_pattern_properties) {
        for (size_t i = 0; i < kw->u.patterns.count; i++)
            pcre2_code_free (kw->u.patterns.patterns[i].re);
        free (kw->u.patterns.patterns);
    } else if (check == ab_kw_check_properties ||
               check == ab_kw_check_dependent ||
               check == ab_kw_check_additional_properties) {
        for (size_t i = 0; i < kw->u.map.count; i++)
            free (kw->u.map.entries[i].names);
        free (kw->u.map.entries);
        for (size_t i = 0; i < kw->u.map.pattern_count; i++)
            pcre2_code_free (kw->u.map.patterns[i].re);
        free (kw->u.map.patterns);
    } else if (check == ab_kw_check_tensor)
        free (kw->u.tensor.dims);
}

void
ab_schema_node_destroy (void **item)
{
    ab_schema_t *node = *item;
    if (!node)
        return;
    for (size_t i = 0; i < node->keyword_count; i++)
        s_kw_free (&node->keywords[i]);
    free (node->keywords);
    free (node);
    *item = NULL;
}

/* Compiles the keywords of a fresh node; draft-07 ignores everything
   beside a `$ref`. */
static void
s_compile_keywords (ab_cc_t *cc, ab_schema_t *node)
{
    const json_t *json = node->json;
    ab_dialect_t dialect = node->resource->dialect;
    bool ref_only = dialect == D_7 && json_object_get (json, "$ref");
    node->keywords = calloc (S_KEYWORD_COUNT, sizeof (ab_kw_t));
    if (!node->keywords) {
        ab_cc_error (cc, "out of memory");
        return;
    }
    for (size_t i = 0; i < S_KEYWORD_COUNT; i++) {
        const ab_keyword_t *def = &s_keywords[i];
        const json_t *value = json_object_get (json, def->name);
        if (!value || !(def->dialects & dialect) ||
            !(def->vocabulary & node->resource->vocabularies) ||
            (ref_only && strcmp (def->name, "$ref") != 0))
            continue;
        ab_kw_t *kw = &node->keywords[node->keyword_count];
        kw->def = def;
        kw->value = value;
        size_t saved = ab_kw_cc_push (cc, def->name, 0);
        cc->at_object = json;
        cc->at_key = def->name;
        int rc = def->compile (cc, json, value, kw);
        cc->at_object = json;
        cc->at_key = def->name;
        ab_kw_cc_pop (cc, saved);
        if (rc > 0 && kw->check) {
            node->keyword_count++;
            if (strncmp (def->name, "unevaluated", 11) == 0)
                node->needs_eval = true;
        } else {
            s_kw_free (kw);
            memset (kw, 0, sizeof *kw);
        }
    }
    ab_kw_t *shrunk = realloc (node->keywords,
                               (node->keyword_count ? node->keyword_count : 1) *
                                   sizeof (ab_kw_t));
    if (shrunk)
        node->keywords = shrunk;
}

/*  -------------------------------------------------------------------------
    Compiling nodes */

/* Compiles the $dynamicAnchor nodes of a resource, so validation finds
   them by name in the dynamic scope. */
static void
s_compile_anchors (ab_cc_t *cc, ab_resource_t *res)
{
    res->anchors_compiled = true;
    for (size_t i = 0; i < res->dynamic_count; i++) {
        char *uri =
            malloc (strlen (res->uri) + strlen (res->dynamic[i].key) + 2);
        if (!uri)
            return;
        sprintf (uri, "%s#%s", res->uri, res->dynamic[i].key);
        ab_target_t *target = zhashx_lookup (cc->registry->targets, uri);
        free (uri);
        if (target)
            res->dynamic[i].node = ab_schema_compile (cc, target->json, res);
    }
}

ab_schema_t *
ab_schema_compile (ab_cc_t *cc, const json_t *json, ab_resource_t *fallback)
{
    ab_registry_t *self = cc->registry;
    if (json_is_boolean (json))
        return json_is_true (json) ? &self->true_node : &self->false_node;
    if (!json_is_object (json)) {
        ab_cc_error (cc, "a schema must be an object or a boolean");
        return NULL;
    }
    ab_schema_t *node = zhashx_lookup (self->nodes, json);
    if (node)
        return node;
    if (cc->depth >= AB_SCHEMA_MAX_NESTING) {
        ab_cc_error (cc, "schema nested deeper than %d levels",
                     AB_SCHEMA_MAX_NESTING);
        return NULL;
    }
    ab_resource_t *res = zhashx_lookup (self->locations, json);
    if (!res)
        res = fallback;
    if (!res->vocab_checked)
        ab_registry_vocabularies (cc, res);
    node = calloc (1, sizeof *node);
    if (!node) {
        ab_cc_error (cc, "out of memory");
        return NULL;
    }
    node->registry = self;
    node->json = json;
    node->resource = res;
    node->boolean = -1;
    zhashx_insert (self->nodes, json, node);
    ab_resource_t *outer = cc->resource;
    cc->resource = res;
    cc->depth++;
    s_compile_keywords (cc, node);
    if (!res->anchors_compiled)
        s_compile_anchors (cc, res);
    cc->depth--;
    cc->resource = outer;
    return node;
}

/* A node holding only a `$ref` to a node holding only a `$ref`... that
   comes back: it can never consume the instance, so it is refused. */
void
ab_schema_check_cycles (ab_cc_t *cc)
{
    size_t limit = zhashx_size (cc->registry->nodes);
    ab_schema_t *node = zhashx_first (cc->registry->nodes);
    for (; node; node = zhashx_next (cc->registry->nodes)) {
        const ab_schema_t *at = node;
        size_t steps = 0;
        while (at && at->keyword_count == 1 &&
               (at->keywords[0].check == ab_kw_check_ref) && steps <= limit) {
            at = at->keywords[0].u.ref.target;
            steps++;
        }
        if (steps > limit) {
            ab_resource_t *res = (ab_resource_t *)node->resource;
            cc->resource = res;
            snprintf (cc->path, sizeof cc->path, "%s", res->uri);
            cc->path_length = strlen (cc->path);
            ab_cc_error (cc, "cyclic $ref: the references never reach a "
                             "schema that checks anything");
            return;
        }
    }
}

/*  -------------------------------------------------------------------------
    Validation */

bool
ab_schema_accepts_all (const ab_schema_t *self)
{
    assert (self);
    return self->boolean == 1 || (self->boolean < 0 && !self->keyword_count);
}

int
ab_schema_validate (const ab_schema_t *self, const json_t *instance,
                    json_t **errors_p)
{
    assert (self && instance);
    /* on the stack (about 35 KiB): a heap block this large costs glibc a
       consolidation of its small free lists on every validation */
    ab_kw_ctx_t storage;
    ab_kw_ctx_t *ctx = &storage;
    ctx->errors = errors_p ? json_array () : NULL;
    ctx->max_errors = self->registry->options.max_errors;

    ctx->quiet = 0;
    ctx->limit = ctx->oom = false;
    ctx->depth = ctx->ilen = ctx->slen = ctx->nscope = 0;
    ctx->keyword = NULL;
    ctx->match = NULL;
    bool valid = ab_kw_eval (ctx, self, instance, NULL);
    pcre2_match_data_free (ctx->match);
    int rc = ctx->oom     ? AB_ENOMEM
             : ctx->limit ? AB_ELIMIT
             : valid      ? 0
                          : AB_EREJECTED;
    if (errors_p) {
        if (rc == AB_EREJECTED && json_array_size (ctx->errors) == 0) {
            ctx->ilen = ctx->slen = 0;
            ab_kw_error (ctx, "the value does not match the schema");
        }
        if (rc == 0 || rc == AB_ENOMEM)
            json_decref (ctx->errors);
        else
            *errors_p = ctx->errors;
        if (rc == 0 || rc == AB_ENOMEM)
            *errors_p = NULL;
    }
    return rc;
}
