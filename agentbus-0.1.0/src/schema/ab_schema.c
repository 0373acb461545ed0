/*  =========================================================================
    ab_schema - compiled JSON Schema validators and their registry

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
    per-call s_ctx_t, so any number of threads may validate at once.

    Annotations (which properties and items were evaluated) cost nothing
    unless a node has unevaluatedProperties/unevaluatedItems: only then is
    an s_eval_t passed down through the in-place applicators ($ref, allOf,
    anyOf, oneOf, if/then/else, dependentSchemas); each applicator gives
    its subschema a fresh s_eval_t and merges it only when that subschema
    passed, because failed subschemas produce no annotations.

    Evaluation depth is bounded (S_MAX_DEPTH): a `$ref` cycle that never
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

#define S_MAX_DEPTH 256     /* nested schema evaluations per validation */
#define S_MAX_SEGMENTS 1024 /* instance or schema path segments */
#define S_RENDER_MAX 48     /* bytes of a value quoted in a message */

/* Instance types as bits: a keyword names the types it applies to, and
   `type` is a mask. An integral number has both NUMBER and INTEGER. */
enum {
    T_NULL = 1,
    T_BOOLEAN = 2,
    T_OBJECT = 4,
    T_ARRAY = 8,
    T_NUMBER = 16,
    T_STRING = 32,
    T_INTEGER = 64,
};

typedef ab_kw_t s_kw_t;
typedef struct s_ctx s_ctx_t;
typedef struct s_eval s_eval_t;

/* Evaluates one compiled keyword against an instance. */
typedef bool (s_check_fn) (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
                           s_eval_t *eval);

/* Compiles keyword `value` of schema object `schema` into kw. Returns 1
   to keep it, 0 when it checks nothing (e.g. uniqueItems: false), -1 on
   an error already reported to the compile context. */
typedef int (s_compile_fn) (ab_cc_t *cc, const json_t *schema,
                            const json_t *value, s_kw_t *kw);

/* One entry of the keyword table. */
typedef struct {
    const char *name;      /* the keyword */
    unsigned dialects;     /* D_2020 | D_7: where it is a keyword */
    unsigned types;        /* instance types it applies to; 0 = all */
    s_compile_fn *compile; /* parses its arguments */
    unsigned vocabulary;   /* V_*: the vocabulary defining it */
} s_keyword_t;

/* A compiled patternProperties entry. */
typedef struct {
    pcre2_code *re;     /* owned */
    const char *source; /* the pattern as written (borrowed) */
    ab_schema_t *node;  /* subschema for matching names */
} s_pattern_t;

/* One compiled keyword. */
struct _ab_kw_t {
    s_check_fn *check;      /* evaluates it */
    const s_keyword_t *def; /* table entry: name, types */
    const json_t *value;    /* the keyword's value (borrowed) */
    union {
        unsigned mask; /* type; tensor dtypes */
        double number; /* numeric bounds, multipleOf */
        size_t bound;  /* maximum...exclusiveMinimum: s_bounds index */
        struct {
            size_t count; /* the limit */
            bool upper;   /* max* (else min*) */
        } limit;          /* length, item and property counts */
        pcre2_code *re;   /* pattern (owned) */
        struct {
            ab_format_fn *fn; /* format checker */
            bool assert;      /* an assertion, not an annotation */
        } format;
        ab_schema_t *node; /* not, propertyNames, unevaluated*, $ref */
        struct {
            ab_schema_t **nodes; /* owned array */
            size_t count;        /* entries */
        } list;                  /* allOf, anyOf, oneOf, prefixItems */
        struct {
            ab_entry_t *entries;   /* owned; additionalProperties: sorted */
            size_t count;          /* entries */
            s_pattern_t *patterns; /* additionalProperties' siblings */
            size_t pattern_count;  /* entries in patterns */
            ab_schema_t *node;     /* additionalProperties' subschema */
        } map;                     /* properties, dependent*, additional* */
        struct {
            s_pattern_t *patterns; /* owned array */
            size_t count;          /* entries */
        } patterns;                /* patternProperties */
        struct {
            const char **names; /* owned array of borrowed names */
            size_t count;       /* entries */
        } required;             /* required */
        struct {
            ab_schema_t *node; /* subschema for the items */
            size_t from;       /* first index it applies to */
        } items;               /* items, additionalItems */
        struct {
            ab_schema_t *node; /* the contains subschema */
            size_t min, max;   /* matches allowed; max SIZE_MAX = any */
        } contains;
        struct {
            ab_schema_t *test;      /* if */
            ab_schema_t *then;      /* then, or NULL */
            ab_schema_t *otherwise; /* else, or NULL */
        } cond;
        struct {
            ab_schema_t *target; /* statically resolved target */
            const char *anchor;  /* dynamic anchor name, NULL if static */
        } ref;
        struct {
            unsigned dtypes; /* allowed dtypes as bits; 0 = any */
            int64_t *dims;   /* owned; -1 = any size */
            size_t ndim;     /* entries in dims */
            bool any_shape;  /* no shape constraint */
        } tensor;
    } u;
};

/* A path segment: a property name or keyword, or an array index. */
typedef struct {
    const char *key; /* NULL for an index */
    size_t index;    /* used when key is NULL */
} s_seg_t;

/* Annotations: what the evaluated keywords covered (see design note). */
struct s_eval {
    const char **props;   /* evaluated property names (borrowed) */
    size_t prop_count;    /* entries used */
    size_t prop_capacity; /* entries allocated */
    bool all_props;       /* every property was evaluated */
    size_t items;         /* items [0, items) were evaluated */
    unsigned char *marks; /* per-item flags from contains, or NULL */
    size_t mark_count;    /* entries in marks */
    bool all_items;       /* every item was evaluated */
};

/* Everything one validation writes. */
struct s_ctx {
    json_t *errors;    /* collected errors, NULL if not wanted */
    size_t max_errors; /* bound on errors */

    int quiet;                     /* >0 inside anyOf/oneOf/not/if branches */
    bool limit;                    /* depth bound hit: stop everything */
    bool oom;                      /* out of memory: stop everything */
    size_t depth;                  /* nested node evaluations */
    const char *keyword;           /* keyword being evaluated, for messages */
    pcre2_match_data *match;       /* made on first pattern, freed at the end */
    size_t ilen, slen, nscope;     /* used entries of the three stacks */
    s_seg_t ipath[S_MAX_SEGMENTS]; /* instance path */
    s_seg_t spath[S_MAX_SEGMENTS]; /* schema path */
    const ab_resource_t *scope[S_MAX_DEPTH + 1]; /* dynamic scope */
};

/*  -------------------------------------------------------------------------
    JSON values with JSON Schema's number semantics */

static unsigned
s_type_bits (const json_t *value)
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
static bool
s_equal (const json_t *a, const json_t *b)
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
            if (!s_equal (json_array_get (a, i), json_array_get (b, i)))
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
            if (!other || !s_equal (value, other))
                return false;
        }
        return true;
    }
    return true; /* null, true, false: the type is the value */
}

/* Compares two numbers exactly when both are integers: -1, 0 or 1. */
static int
s_compare (const json_t *a, const json_t *b)
{
    if (json_is_integer (a) && json_is_integer (b)) {
        json_int_t x = json_integer_value (a), y = json_integer_value (b);
        return (x > y) - (x < y);
    }
    double x = json_number_value (a), y = json_number_value (b);
    return (x > y) - (x < y);
}

/* Writes a short JSON rendering of value for a message. */
static void
s_render (const json_t *value, char *buffer, size_t size)
{
    char *text = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY |
                                        JSON_REAL_PRECISION (15));
    if (!text) {
        snprintf (buffer, size, "value");
        return;
    }
    size_t length = strlen (text);
    if (length < size && length <= S_RENDER_MAX)
        snprintf (buffer, size, "%s", text);
    else
        snprintf (buffer, size, "%.*s...",
                  (int)(size < S_RENDER_MAX ? size - 4 : S_RENDER_MAX - 3),
                  text);
    free (text);
}

/* Code points in a UTF-8 string (jansson guarantees valid UTF-8). */
static size_t
s_utf8_length (const char *text, size_t bytes)
{
    size_t count = 0;
    for (size_t i = 0; i < bytes; i++)
        count += ((unsigned char)text[i] & 0xC0) != 0x80;
    return count;
}

/* Builds a JSON Pointer from segments (RFC 6901: '~' -> ~0, '/' -> ~1). */
static char *
s_pointer (const s_seg_t *segs, size_t count)
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

static void
s_eval_clear (s_eval_t *eval)
{
    free (eval->props);
    free (eval->marks);
    memset (eval, 0, sizeof *eval);
}

static void
s_eval_add_prop (s_ctx_t *ctx, s_eval_t *eval, const char *key)
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

static bool
s_eval_has_prop (const s_eval_t *eval, const char *key)
{
    if (eval->all_props)
        return true;
    for (size_t i = 0; i < eval->prop_count; i++)
        if (strcmp (eval->props[i], key) == 0)
            return true;
    return false;
}

static void
s_eval_mark_item (s_ctx_t *ctx, s_eval_t *eval, size_t index, size_t size)
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

static bool
s_eval_has_item (const s_eval_t *eval, size_t index)
{
    return eval->all_items || index < eval->items ||
           (index < eval->mark_count && eval->marks[index]);
}

/* Adds what a passing subschema evaluated to its parent's annotations. */
static void
s_eval_merge (s_ctx_t *ctx, s_eval_t *into, const s_eval_t *from)
{
    into->all_props |= from->all_props;
    for (size_t i = 0; i < from->prop_count && !into->all_props; i++)
        s_eval_add_prop (ctx, into, from->props[i]);
    into->all_items |= from->all_items;
    if (from->items > into->items)
        into->items = from->items;
    for (size_t i = 0; i < from->mark_count; i++)
        if (from->marks[i])
            s_eval_mark_item (ctx, into, i, from->mark_count);
}

/*  -------------------------------------------------------------------------
    The validation engine */

/* Errors are built only when someone will read them. */
static bool
s_reporting (const s_ctx_t *ctx)
{
    return ctx->errors && !ctx->quiet && !ctx->limit && !ctx->oom &&
           json_array_size (ctx->errors) < ctx->max_errors;
}

static void s_error (s_ctx_t *ctx, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_error (s_ctx_t *ctx, const char *format, ...)
{
    char text[512], message[1024];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    char *path = s_pointer (ctx->ipath, ctx->ilen);
    char *schema_path = s_pointer (ctx->spath, ctx->slen);
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
static bool
s_push (s_ctx_t *ctx, s_seg_t *stack, size_t *length, const char *key,
        size_t index)
{
    if (*length >= S_MAX_SEGMENTS) {
        ctx->limit = true;
        return false;
    }
    stack[(*length)++] = (s_seg_t){key, index};
    return true;
}

static bool s_eval (s_ctx_t *ctx, const ab_schema_t *node, const json_t *inst,
                    s_eval_t *eval);

/* Evaluates a subschema at a child of the instance (key or index) and
   under a schema path segment (skey or sindex; skey NULL = none). */
static bool
s_eval_child (s_ctx_t *ctx, const ab_schema_t *node, const json_t *child,
              const char *key, size_t index, const char *skey, bool sindex,
              size_t sidx)
{
    size_t ilen = ctx->ilen, slen = ctx->slen;
    bool ok = s_push (ctx, ctx->ipath, &ctx->ilen, key, index) &&
              (!(skey || sindex) ||
               s_push (ctx, ctx->spath, &ctx->slen, skey, sidx)) &&
              s_eval (ctx, node, child, NULL);
    ctx->ilen = ilen;
    ctx->slen = slen;
    return ok;
}

/* Evaluates a subschema in place (same instance), merging its
   annotations into eval when it passes. */
static bool
s_eval_here (s_ctx_t *ctx, const ab_schema_t *node, const json_t *inst,
             s_eval_t *eval, const char *skey, bool sindex, size_t sidx)
{
    size_t slen = ctx->slen;
    if ((skey || sindex) && !s_push (ctx, ctx->spath, &ctx->slen, skey, sidx))
        return false;
    bool ok;
    if (eval) {
        s_eval_t child = {0};
        ok = s_eval (ctx, node, inst, &child);
        if (ok)
            s_eval_merge (ctx, eval, &child);
        s_eval_clear (&child);
    } else
        ok = s_eval (ctx, node, inst, NULL);
    ctx->slen = slen;
    return ok;
}

/* The false schema: the message depends on the keyword that led here. */
static void
s_report_false (s_ctx_t *ctx, const json_t *inst)
{
    const char *kw = ctx->keyword ? ctx->keyword : "";
    const s_seg_t *last = ctx->ilen ? &ctx->ipath[ctx->ilen - 1] : NULL;
    bool uneval = strncmp (kw, "unevaluated", 11) == 0;
    if (last && last->key &&
        (strcmp (kw, "additionalProperties") == 0 ||
         strcmp (kw, "unevaluatedProperties") == 0))
        s_error (ctx, "property \"%s\" is not allowed%s", last->key,
                 uneval ? " (unevaluated)" : "");
    else if (last && !last->key &&
             (strcmp (kw, "items") == 0 ||
              strcmp (kw, "additionalItems") == 0 ||
              strcmp (kw, "unevaluatedItems") == 0))
        s_error (ctx, "item %zu is not allowed%s", last->index,
                 uneval ? " (unevaluated)" : "");
    else {
        char value[S_RENDER_MAX + 8];
        s_render (inst, value, sizeof value);
        s_error (ctx, "%s is not allowed here (false schema)", value);
    }
}

static bool
s_limit (s_ctx_t *ctx)
{
    if (ctx->errors && !ctx->limit && !ctx->oom) {
        int quiet = ctx->quiet;
        ctx->quiet = 0;
        s_error (ctx, "schema evaluation deeper than %d levels (a $ref cycle?)",
                 S_MAX_DEPTH);
        ctx->quiet = quiet;
    }
    ctx->limit = true;
    return false;
}

static bool
s_eval_keywords (s_ctx_t *ctx, const ab_schema_t *node, const json_t *inst,
                 s_eval_t *eval)
{
    unsigned bits = s_type_bits (inst);
    const char *keyword = ctx->keyword;
    bool valid = true;
    for (size_t i = 0; i < node->keyword_count; i++) {
        const s_kw_t *kw = &node->keywords[i];
        if (kw->def->types && !(kw->def->types & bits))
            continue;
        size_t slen = ctx->slen;
        if (!s_push (ctx, ctx->spath, &ctx->slen, kw->def->name, 0))
            return s_limit (ctx);
        ctx->keyword = kw->def->name;
        bool ok = kw->check (ctx, kw, inst, eval);
        ctx->slen = slen;
        if (!ok) {
            valid = false;
            if (!s_reporting (ctx))
                break;
        }
    }
    ctx->keyword = keyword;
    return valid;
}

static bool
s_eval (s_ctx_t *ctx, const ab_schema_t *node, const json_t *inst,
        s_eval_t *eval)
{
    if (ctx->limit || ctx->oom)
        return false;
    if (node->boolean >= 0) {
        if (!node->boolean && s_reporting (ctx))
            s_report_false (ctx, inst);
        return node->boolean;
    }
    if (ctx->depth >= S_MAX_DEPTH)
        return s_limit (ctx);
    ctx->depth++;
    bool pushed = false;
    if (!ctx->nscope || ctx->scope[ctx->nscope - 1] != node->resource) {
        ctx->scope[ctx->nscope++] = node->resource;
        pushed = true;
    }
    s_eval_t local = {0};
    bool ok = s_eval_keywords (ctx, node, inst,
                               node->needs_eval && !eval ? &local : eval);
    s_eval_clear (&local);
    ctx->nscope -= pushed;
    ctx->depth--;
    return ok && !ctx->limit && !ctx->oom;
}

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
s_check_type (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
              s_eval_t *eval)
{
    if (s_type_bits (inst) & kw->u.mask)
        return true;
    if (s_reporting (ctx)) {
        char value[S_RENDER_MAX + 8], names[128] = "";
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
        s_render (inst, value, sizeof value);
        s_error (ctx, "%s is not of type %s", value, names);
    }
    return false;
}

static bool
s_check_enum (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
              s_eval_t *eval)
{
    for (size_t i = 0; i < json_array_size (kw->value); i++)
        if (s_equal (inst, json_array_get (kw->value, i)))
            return true;
    if (s_reporting (ctx)) {
        char value[S_RENDER_MAX + 8], allowed[S_RENDER_MAX + 8];
        s_render (inst, value, sizeof value);
        s_render (kw->value, allowed, sizeof allowed);
        s_error (ctx, "%s is not one of the allowed values %s", value, allowed);
    }
    return false;
}

static bool
s_check_const (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
               s_eval_t *eval)
{
    if (s_equal (inst, kw->value))
        return true;
    if (s_reporting (ctx)) {
        char value[S_RENDER_MAX + 8], expected[S_RENDER_MAX + 8];
        s_render (inst, value, sizeof value);
        s_render (kw->value, expected, sizeof expected);
        s_error (ctx, "%s is not equal to the constant %s", value, expected);
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
    int fails;           /* s_compare result that fails ... */
    int fails_too;       /* ... and a second one (or 2 = none) */
    const char *text;    /* message: "V <text> M" */
} s_bounds[] = {
    {"maximum", 1, 2, "is greater than the maximum"},
    {"exclusiveMaximum", 1, 0, "is not less than the exclusive maximum"},
    {"minimum", -1, 2, "is less than the minimum"},
    {"exclusiveMinimum", -1, 0, "is not greater than the exclusive minimum"},
};

static bool
s_check_bound (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
               s_eval_t *eval)
{
    size_t b = kw->u.bound;
    int c = s_compare (inst, kw->value);
    if (c != s_bounds[b].fails && c != s_bounds[b].fails_too)
        return true;
    if (s_reporting (ctx)) {
        char value[S_RENDER_MAX + 8], bound[S_RENDER_MAX + 8];
        s_render (inst, value, sizeof value);
        s_render (kw->value, bound, sizeof bound);
        s_error (ctx, "%s %s %s", value, s_bounds[b].text, bound);
    }
    return false;
}

static bool
s_check_multiple_of (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
                     s_eval_t *eval)
{
    if (s_multiple (inst, kw->value))
        return true;
    if (s_reporting (ctx)) {
        char value[S_RENDER_MAX + 8], divisor[S_RENDER_MAX + 8];
        s_render (inst, value, sizeof value);
        s_render (kw->value, divisor, sizeof divisor);
        s_error (ctx, "%s is not a multiple of %s", value, divisor);
    }
    return false;
}

/* min/max counts: length, items, properties. */
static size_t
s_size_of (const json_t *inst)
{
    if (json_is_string (inst))
        return s_utf8_length (json_string_value (inst),
                              json_string_length (inst));
    if (json_is_array (inst))
        return json_array_size (inst);
    return json_object_size (inst);
}

static bool
s_check_count (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
               s_eval_t *eval)
{
    size_t size = s_size_of (inst);
    bool is_max = kw->u.limit.upper;
    if (is_max ? size <= kw->u.limit.count : size >= kw->u.limit.count)
        return true;
    if (s_reporting (ctx)) {
        const char *what = json_is_string (inst)  ? "string of"
                           : json_is_array (inst) ? "array of"
                                                  : "object of";
        const char *unit = json_is_string (inst)  ? "characters"
                           : json_is_array (inst) ? "items"
                                                  : "properties";
        s_error (ctx, "%s %zu %s has %s than the %s %zu", what, size, unit,
                 is_max ? "more" : "fewer", is_max ? "maximum" : "minimum",
                 kw->u.limit.count);
    }
    return false;
}

static bool
s_match (s_ctx_t *ctx, const pcre2_code *re, const char *text, size_t length)
{
    if (!ctx->match && !(ctx->match = pcre2_match_data_create (1, NULL))) {
        ctx->oom = true;
        return false;
    }
    int rc = pcre2_match (re, (PCRE2_SPTR)text, length, 0, PCRE2_NO_UTF_CHECK,
                          ctx->match, NULL);
    return rc >= 0;
}

static bool
s_check_pattern (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
                 s_eval_t *eval)
{
    if (s_match (ctx, kw->u.re, json_string_value (inst),
                 json_string_length (inst)))
        return true;
    if (s_reporting (ctx)) {
        char value[S_RENDER_MAX + 8], pattern[S_RENDER_MAX + 8];
        s_render (inst, value, sizeof value);
        s_render (kw->value, pattern, sizeof pattern);
        s_error (ctx, "%s does not match the pattern %s", value, pattern);
    }
    return false;
}

static bool
s_check_format (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
                s_eval_t *eval)
{
    if (kw->u.format.fn (json_string_value (inst), json_string_length (inst)))
        return true;
    if (s_reporting (ctx)) {
        char value[S_RENDER_MAX + 8];
        s_render (inst, value, sizeof value);
        s_error (ctx, "%s is not a valid %s", value,
                 json_string_value (kw->value));
    }
    return false;
}

static bool
s_check_unique (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
                s_eval_t *eval)
{
    size_t size = json_array_size (inst);
    for (size_t i = 0; i < size; i++)
        for (size_t j = i + 1; j < size; j++)
            if (s_equal (json_array_get (inst, i), json_array_get (inst, j))) {
                if (s_reporting (ctx))
                    s_error (ctx, "items %zu and %zu are equal", i, j);
                return false;
            }
    return true;
}

static bool
s_check_required (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
                  s_eval_t *eval)
{
    bool ok = true;
    for (size_t i = 0; i < kw->u.required.count; i++) {
        const char *name = kw->u.required.names[i];
        if (json_object_get (inst, name))
            continue;
        ok = false;
        if (!s_reporting (ctx))
            break;
        s_error (ctx, "required property \"%s\" is missing", name);
    }
    return ok;
}

static bool
s_dependent_names (s_ctx_t *ctx, const ab_entry_t *entry, const json_t *inst)
{
    bool ok = true;
    for (size_t i = 0; i < entry->count; i++) {
        if (json_object_get (inst, entry->names[i]))
            continue;
        ok = false;
        if (!s_reporting (ctx))
            break;
        s_error (ctx, "property \"%s\" requires property \"%s\"", entry->key,
                 entry->names[i]);
    }
    return ok;
}

/* dependentRequired, dependentSchemas and draft-07 dependencies. */
static bool
s_check_dependent (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
                   s_eval_t *eval)
{
    bool ok = true;
    for (size_t i = 0; i < kw->u.map.count; i++) {
        const ab_entry_t *entry = &kw->u.map.entries[i];
        if (!json_object_get (inst, entry->key))
            continue;
        bool passed = entry->node ? s_eval_here (ctx, entry->node, inst, eval,
                                                 entry->key, false, 0)
                                  : s_dependent_names (ctx, entry, inst);
        if (!passed) {
            ok = false;
            if (!s_reporting (ctx))
                break;
        }
    }
    return ok;
}

/*  -------------------------------------------------------------------------
    Keyword checks: applicators */

static int
s_entry_compare (const void *a, const void *b)
{
    return strcmp (((const ab_entry_t *)a)->key, ((const ab_entry_t *)b)->key);
}

static const ab_entry_t *
s_entry_find (const ab_entry_t *entries, size_t count, const char *key)
{
    ab_entry_t probe = {.key = key};
    return bsearch (&probe, entries, count, sizeof *entries, s_entry_compare);
}

static bool
s_check_properties (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
                    s_eval_t *eval)
{
    bool ok = true;
    for (size_t i = 0; i < kw->u.map.count; i++) {
        const ab_entry_t *entry = &kw->u.map.entries[i];
        const json_t *child = json_object_get (inst, entry->key);
        if (!child)
            continue;
        s_eval_add_prop (ctx, eval, entry->key);
        if (!s_eval_child (ctx, entry->node, child, entry->key, 0, entry->key,
                           false, 0)) {
            ok = false;
            if (!s_reporting (ctx))
                break;
        }
    }
    return ok;
}

static bool
s_check_pattern_properties (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
                            s_eval_t *eval)
{
    bool ok = true;
    const char *key;
    json_t *child;
    json_object_foreach ((json_t *)inst, key, child)
    {
        for (size_t i = 0; i < kw->u.patterns.count; i++) {
            const s_pattern_t *pattern = &kw->u.patterns.patterns[i];
            if (!s_match (ctx, pattern->re, key, strlen (key)))
                continue;
            s_eval_add_prop (ctx, eval, key);
            if (!s_eval_child (ctx, pattern->node, child, key, 0,
                               pattern->source, false, 0)) {
                ok = false;
                if (!s_reporting (ctx))
                    return false;
            }
        }
    }
    return ok;
}

/* additionalProperties: names neither in properties nor matched by a
   patternProperties pattern (its own copies of both, see compile). */
static bool
s_check_additional_properties (s_ctx_t *ctx, const s_kw_t *kw,
                               const json_t *inst, s_eval_t *eval)
{
    bool ok = true;
    const char *key;
    json_t *child;
    json_object_foreach ((json_t *)inst, key, child)
    {
        if (s_entry_find (kw->u.map.entries, kw->u.map.count, key))
            continue;
        bool matched = false;
        for (size_t i = 0; i < kw->u.map.pattern_count && !matched; i++)
            matched =
                s_match (ctx, kw->u.map.patterns[i].re, key, strlen (key));
        if (matched)
            continue;
        s_eval_add_prop (ctx, eval, key);
        if (!s_eval_child (ctx, kw->u.map.node, child, key, 0, NULL, false,
                           0)) {
            ok = false;
            if (!s_reporting (ctx))
                return false;
        }
    }
    return ok;
}

static bool
s_check_property_names (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
                        s_eval_t *eval)
{
    bool ok = true;
    const char *key;
    json_t *child;
    json_object_foreach ((json_t *)inst, key, child)
    {
        json_t *name = json_string (key);
        if (!name) {
            ctx->oom = true;
            return false;
        }
        ctx->quiet++;
        bool passed = s_eval (ctx, kw->u.node, name, NULL);
        ctx->quiet--;
        json_decref (name);
        if (passed)
            continue;
        ok = false;
        if (!s_reporting (ctx))
            return false;
        size_t ilen = ctx->ilen;
        if (s_push (ctx, ctx->ipath, &ctx->ilen, key, 0))
            s_error (ctx, "property name \"%s\" does not match propertyNames",
                     key);
        ctx->ilen = ilen;
    }
    return ok;
}

static bool
s_check_prefix_items (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
                      s_eval_t *eval)
{
    size_t size = json_array_size (inst);
    size_t n = size < kw->u.list.count ? size : kw->u.list.count;
    bool ok = true;
    for (size_t i = 0; i < n; i++)
        if (!s_eval_child (ctx, kw->u.list.nodes[i], json_array_get (inst, i),
                           NULL, i, NULL, true, i)) {
            ok = false;
            if (!s_reporting (ctx))
                return false;
        }
    if (eval && n > eval->items)
        eval->items = n;
    return ok;
}

/* items (2020-12, after prefixItems), draft-07 items as a schema, and
   draft-07 additionalItems. */
static bool
s_check_items (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
               s_eval_t *eval)
{
    bool ok = true;
    size_t size = json_array_size (inst);
    for (size_t i = kw->u.items.from; i < size; i++)
        if (!s_eval_child (ctx, kw->u.items.node, json_array_get (inst, i),
                           NULL, i, NULL, false, 0)) {
            ok = false;
            if (!s_reporting (ctx))
                return false;
        }
    if (eval && size > kw->u.items.from)
        eval->all_items = true;
    return ok;
}

static bool
s_check_contains (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
                  s_eval_t *eval)
{
    size_t size = json_array_size (inst), matches = 0;
    bool bounded = kw->u.contains.max != SIZE_MAX;
    ctx->quiet++;
    for (size_t i = 0; i < size; i++) {
        if (!s_eval_child (ctx, kw->u.contains.node, json_array_get (inst, i),
                           NULL, i, NULL, false, 0))
            continue;
        matches++;
        s_eval_mark_item (ctx, eval, i, size);
        if (!eval && !bounded && matches >= kw->u.contains.min)
            break;
    }
    ctx->quiet--;
    if (ctx->limit || ctx->oom)
        return false;
    if (matches >= kw->u.contains.min && matches <= kw->u.contains.max)
        return true;
    if (!s_reporting (ctx))
        return false;
    if (matches == 0)
        s_error (ctx, "no item matches the contains schema");
    else if (matches < kw->u.contains.min)
        s_error (ctx,
                 "%zu items match the contains schema, fewer than "
                 "minContains %zu",
                 matches, kw->u.contains.min);
    else
        s_error (ctx,
                 "%zu items match the contains schema, more than "
                 "maxContains %zu",
                 matches, kw->u.contains.max);
    return false;
}

static bool
s_check_unevaluated_items (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
                           s_eval_t *eval)
{
    bool ok = true;
    size_t size = json_array_size (inst);
    for (size_t i = 0; i < size; i++) {
        if (s_eval_has_item (eval, i))
            continue;
        if (!s_eval_child (ctx, kw->u.node, json_array_get (inst, i), NULL, i,
                           NULL, false, 0)) {
            ok = false;
            if (!s_reporting (ctx))
                return false;
        }
    }
    if (ok)
        eval->all_items = true;
    return ok;
}

static bool
s_check_unevaluated_properties (s_ctx_t *ctx, const s_kw_t *kw,
                                const json_t *inst, s_eval_t *eval)
{
    bool ok = true;
    const char *key;
    json_t *child;
    json_object_foreach ((json_t *)inst, key, child)
    {
        if (s_eval_has_prop (eval, key))
            continue;
        if (!s_eval_child (ctx, kw->u.node, child, key, 0, NULL, false, 0)) {
            ok = false;
            if (!s_reporting (ctx))
                return false;
        }
    }
    if (ok)
        eval->all_props = true;
    return ok;
}

static bool
s_check_all_of (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
                s_eval_t *eval)
{
    bool ok = true;
    for (size_t i = 0; i < kw->u.list.count; i++)
        if (!s_eval_here (ctx, kw->u.list.nodes[i], inst, eval, NULL, true,
                          i)) {
            ok = false;
            if (!s_reporting (ctx))
                return false;
        }
    return ok;
}

/* Counts the passing branches of anyOf/oneOf quietly; stops early when
   the answer is known and no annotations are wanted. */
static size_t
s_count_branches (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
                  s_eval_t *eval, size_t stop_at, size_t first[2])
{
    size_t passed = 0;
    ctx->quiet++;
    for (size_t i = 0; i < kw->u.list.count; i++) {
        if (!s_eval_here (ctx, kw->u.list.nodes[i], inst, eval, NULL, true, i))
            continue;
        if (passed < 2)
            first[passed] = i;
        if (++passed >= stop_at && !eval)
            break;
    }
    ctx->quiet--;
    return passed;
}

/* How far a failed branch is from matching: its errors, where a wrong
   type of the value itself counts as far (that branch is about another
   kind of value altogether). */
static size_t
s_distance (const json_t *errors, const char *path)
{
    size_t distance = 0, index;
    json_t *error;
    json_array_foreach (errors, index, error)
    {
        const char *keyword =
            json_string_value (json_object_get (error, "keyword"));
        const char *at = json_string_value (json_object_get (error, "path"));
        bool wrong_type =
            strcmp (keyword, "type") == 0 && path && strcmp (at, path) == 0;
        distance += wrong_type ? 100 : 1;
    }
    return distance;
}

/* After an anyOf/oneOf error: the errors of the closest branch, so the
   reader sees what was nearly right. Runs only when errors are being
   reported. */
static void
s_report_closest (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst)
{
    json_t *errors = ctx->errors, *best = NULL;
    char *path = s_pointer (ctx->ipath, ctx->ilen);
    size_t best_distance = SIZE_MAX;
    for (size_t i = 0; i < kw->u.list.count && !ctx->oom; i++) {
        json_t *trial = json_array ();
        if (!trial)
            break;
        ctx->errors = trial;
        s_eval_here (ctx, kw->u.list.nodes[i], inst, NULL, NULL, true, i);
        size_t distance = s_distance (trial, path);
        if (distance < best_distance) {
            json_decref (best);
            best = trial;
            best_distance = distance;
        } else
            json_decref (trial);
    }
    ctx->errors = errors;
    free (path);
    for (size_t i = 0; i < json_array_size (best) &&
                       json_array_size (errors) < ctx->max_errors;
         i++)
        json_array_append (errors, json_array_get (best, i));
    json_decref (best);
}

static bool
s_check_any_of (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
                s_eval_t *eval)
{
    size_t first[2];
    if (s_count_branches (ctx, kw, inst, eval, 1, first) > 0)
        return true;
    if (s_reporting (ctx)) {
        char value[S_RENDER_MAX + 8];
        s_render (inst, value, sizeof value);
        s_error (ctx, "%s does not match any of the %zu schemas in anyOf",
                 value, kw->u.list.count);
        s_report_closest (ctx, kw, inst);
    }
    return false;
}

static bool
s_check_one_of (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
                s_eval_t *eval)
{
    size_t first[2];
    s_eval_t branch = {0};
    size_t passed =
        s_count_branches (ctx, kw, inst, eval ? &branch : NULL, 2, first);
    if (passed == 1 && eval)
        s_eval_merge (ctx, eval, &branch);
    s_eval_clear (&branch);
    if (passed == 1)
        return true;
    if (s_reporting (ctx)) {
        char value[S_RENDER_MAX + 8];
        s_render (inst, value, sizeof value);
        if (passed == 0) {
            s_error (ctx, "%s does not match any of the %zu schemas in oneOf",
                     value, kw->u.list.count);
            s_report_closest (ctx, kw, inst);
        } else
            s_error (ctx,
                     "%s matches schemas %zu and %zu of oneOf, but must "
                     "match exactly one",
                     value, first[0], first[1]);
    }
    return false;
}

static bool
s_check_not (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst, s_eval_t *eval)
{
    ctx->quiet++;
    bool passed = s_eval (ctx, kw->u.node, inst, NULL);
    ctx->quiet--;
    if (!passed && !ctx->limit && !ctx->oom)
        return true;
    if (s_reporting (ctx)) {
        char value[S_RENDER_MAX + 8];
        s_render (inst, value, sizeof value);
        s_error (ctx, "%s must not match the schema in not", value);
    }
    return false;
}

static bool
s_check_if (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst, s_eval_t *eval)
{
    if (!eval && !kw->u.cond.then && !kw->u.cond.otherwise)
        return true;
    ctx->quiet++;
    bool holds = s_eval_here (ctx, kw->u.cond.test, inst, eval, NULL, false, 0);
    ctx->quiet--;
    if (ctx->limit || ctx->oom)
        return false;
    ab_schema_t *next = holds ? kw->u.cond.then : kw->u.cond.otherwise;
    if (!next)
        return true;
    /* then/else are siblings of `if`: their schema path replaces it */
    ctx->slen--;
    const char *keyword = ctx->keyword;
    ctx->keyword = holds ? "then" : "else";
    bool ok = s_eval_here (ctx, next, inst, eval, ctx->keyword, false, 0);
    ctx->keyword = keyword;
    ctx->slen++;
    return ok;
}

static bool
s_check_ref (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst, s_eval_t *eval)
{
    return s_eval_here (ctx, kw->u.ref.target, inst, eval, NULL, false, 0);
}

/* $dynamicRef: the outermost resource in the dynamic scope that has the
   anchor wins, when the static target is itself a dynamic anchor. */
static bool
s_check_dynamic_ref (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
                     s_eval_t *eval)
{
    const ab_schema_t *target = kw->u.ref.target;
    for (size_t i = 0; kw->u.ref.anchor && i < ctx->nscope; i++) {
        const ab_resource_t *res = ctx->scope[i];
        const ab_entry_t *found = NULL;
        for (size_t k = 0; k < res->dynamic_count && !found; k++)
            if (strcmp (res->dynamic[k].key, kw->u.ref.anchor) == 0)
                found = &res->dynamic[k];
        if (found && found->node) {
            target = found->node;
            break;
        }
    }
    return s_eval_here (ctx, target, inst, eval, NULL, false, 0);
}

/* tensor: {dtype, shape, frame} with an allowed dtype and shape. */
static bool
s_check_tensor (s_ctx_t *ctx, const s_kw_t *kw, const json_t *inst,
                s_eval_t *eval)
{
    const json_t *dtype = json_object_get (inst, "dtype");
    const json_t *shape = json_object_get (inst, "shape");
    const json_t *frame = json_object_get (inst, "frame");
    ab_dtype_t type = ab_dtype_from_name (
        json_string_value (dtype) ? json_string_value (dtype) : "");
    if (!json_is_object (inst) || type == AB_DTYPE_INVALID ||
        !json_is_array (shape) || !json_is_integer (frame)) {
        if (s_reporting (ctx))
            s_error (ctx, "value is not a tensor reference {dtype, shape, "
                          "frame}");
        return false;
    }
    if (kw->u.tensor.dtypes && !(kw->u.tensor.dtypes & (1u << type))) {
        if (s_reporting (ctx)) {
            char allowed[S_RENDER_MAX + 8];
            s_render (json_object_get (kw->value, "dtype"), allowed,
                      sizeof allowed);
            s_error (ctx, "tensor dtype \"%s\" is not allowed (expected %s)",
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
    if (s_reporting (ctx)) {
        char got[S_RENDER_MAX + 8], expected[S_RENDER_MAX + 8];
        s_render (shape, got, sizeof got);
        s_render (json_object_get (kw->value, "shape"), expected,
                  sizeof expected);
        s_error (ctx, "tensor shape %s does not match %s", got, expected);
    }
    return false;
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
static size_t
s_cc_push (ab_cc_t *cc, const char *key, size_t index)
{
    size_t saved = cc->path_length;
    size_t room = sizeof cc->path - cc->path_length;
    int n;
    if (key) {
        s_seg_t seg = {key, 0};
        char *escaped = s_pointer (&seg, 1);
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

static void
s_cc_pop (ab_cc_t *cc, size_t saved)
{
    cc->path_length = saved;
    cc->path[saved] = '\0';
}

/* Compiles a subschema found under key (or index, key NULL). */
static ab_schema_t *
s_sub (ab_cc_t *cc, const json_t *json, const char *key, size_t index)
{
    size_t saved = s_cc_push (cc, key, index);
    ab_schema_t *node = ab_schema_compile (cc, json, cc->resource);
    s_cc_pop (cc, saved);
    return node;
}

/* A count: a non-negative integer (1.0 counts as 1). */
static bool
s_count_value (const json_t *value, size_t *count_p)
{
    double d = json_number_value (value);
    if (!json_is_number (value) || d < 0 || d != floor (d) || d > 1e15)
        return false;
    *count_p = (size_t)d;
    return true;
}

static int
s_compile_type (ab_cc_t *cc, const json_t *schema, const json_t *value,
                s_kw_t *kw)
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
            char text[S_RENDER_MAX + 8];
            s_render (name, text, sizeof text);
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

static int
s_compile_enum (ab_cc_t *cc, const json_t *schema, const json_t *value,
                s_kw_t *kw)
{
    if (!json_is_array (value)) {
        ab_cc_error (cc, "enum must be an array");
        return -1;
    }
    kw->check = s_check_enum;
    return 1;
}

static int
s_compile_const (ab_cc_t *cc, const json_t *schema, const json_t *value,
                 s_kw_t *kw)
{
    kw->check = s_check_const;
    return 1;
}

static int
s_compile_bound (ab_cc_t *cc, const json_t *schema, const json_t *value,
                 s_kw_t *kw)
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

static int
s_compile_multiple_of (ab_cc_t *cc, const json_t *schema, const json_t *value,
                       s_kw_t *kw)
{
    if (!json_is_number (value) || json_number_value (value) <= 0) {
        ab_cc_error (cc, "multipleOf must be a number greater than 0");
        return -1;
    }
    kw->check = s_check_multiple_of;
    return 1;
}

static int
s_compile_count (ab_cc_t *cc, const json_t *schema, const json_t *value,
                 s_kw_t *kw)
{
    if (!s_count_value (value, &kw->u.limit.count)) {
        ab_cc_error (cc, "%s must be a non-negative integer", kw->def->name);
        return -1;
    }
    kw->u.limit.upper = strncmp (kw->def->name, "max", 3) == 0;
    kw->check = s_check_count;
    return 1;
}

static pcre2_code *
s_cc_regex (ab_cc_t *cc, const json_t *value)
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

static int
s_compile_pattern (ab_cc_t *cc, const json_t *schema, const json_t *value,
                   s_kw_t *kw)
{
    kw->check = s_check_pattern;
    kw->u.re = s_cc_regex (cc, value);
    return kw->u.re ? 1 : -1;
}

static int
s_compile_format (ab_cc_t *cc, const json_t *schema, const json_t *value,
                  s_kw_t *kw)
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

static int
s_compile_unique (ab_cc_t *cc, const json_t *schema, const json_t *value,
                  s_kw_t *kw)
{
    if (!json_is_boolean (value)) {
        ab_cc_error (cc, "uniqueItems must be a boolean");
        return -1;
    }
    kw->check = s_check_unique;
    return json_is_true (value) ? 1 : 0;
}

static int
s_compile_required (ab_cc_t *cc, const json_t *schema, const json_t *value,
                    s_kw_t *kw)
{
    size_t n = json_array_size (value);
    kw->check = s_check_required;
    kw->u.required.names = calloc (n ? n : 1, sizeof (char *));
    if (!json_is_array (value) || !kw->u.required.names) {
        ab_cc_error (cc, "required must be an array of strings");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value (json_array_get (value, i));
        if (!name) {
            ab_cc_error (cc, "required must be an array of strings");
            return -1;
        }
        kw->u.required.names[kw->u.required.count++] = name;
    }
    return n ? 1 : 0;
}

/* A list of subschemas: allOf, anyOf, oneOf, prefixItems, draft-07 items. */
static int
s_compile_list (ab_cc_t *cc, const json_t *value, s_kw_t *kw, bool may_be_empty)
{
    size_t n = json_array_size (value);
    if (!json_is_array (value) || (n == 0 && !may_be_empty)) {
        ab_cc_error (cc, "%s must be a non-empty array of schemas",
                     kw->def->name);
        return -1;
    }
    kw->u.list.nodes = calloc (n ? n : 1, sizeof (ab_schema_t *));
    if (!kw->u.list.nodes)
        return -1;
    for (size_t i = 0; i < n; i++) {
        ab_schema_t *node = s_sub (cc, json_array_get (value, i), NULL, i);
        if (!node)
            return -1;
        kw->u.list.nodes[kw->u.list.count++] = node;
    }
    return 1;
}

static int
s_compile_all_of (ab_cc_t *cc, const json_t *schema, const json_t *value,
                  s_kw_t *kw)
{
    kw->check = s_check_all_of;
    return s_compile_list (cc, value, kw, false);
}

static int
s_compile_any_of (ab_cc_t *cc, const json_t *schema, const json_t *value,
                  s_kw_t *kw)
{
    kw->check = s_check_any_of;
    return s_compile_list (cc, value, kw, false);
}

static int
s_compile_one_of (ab_cc_t *cc, const json_t *schema, const json_t *value,
                  s_kw_t *kw)
{
    kw->check = s_check_one_of;
    return s_compile_list (cc, value, kw, false);
}

static int
s_compile_prefix_items (ab_cc_t *cc, const json_t *schema, const json_t *value,
                        s_kw_t *kw)
{
    kw->check = s_check_prefix_items;
    return s_compile_list (cc, value, kw, true);
}

/* One subschema: not, propertyNames, unevaluated*. */
static int
s_compile_node (ab_cc_t *cc, const json_t *value, s_kw_t *kw)
{
    kw->u.node = ab_schema_compile (cc, value, cc->resource);
    return kw->u.node ? 1 : -1;
}

static int
s_compile_not (ab_cc_t *cc, const json_t *schema, const json_t *value,
               s_kw_t *kw)
{
    kw->check = s_check_not;
    return s_compile_node (cc, value, kw);
}

static int
s_compile_property_names (ab_cc_t *cc, const json_t *schema,
                          const json_t *value, s_kw_t *kw)
{
    kw->check = s_check_property_names;
    return s_compile_node (cc, value, kw);
}

static int
s_compile_unevaluated (ab_cc_t *cc, const json_t *schema, const json_t *value,
                       s_kw_t *kw)
{
    kw->check = strcmp (kw->def->name, "unevaluatedItems") == 0
                    ? s_check_unevaluated_items
                    : s_check_unevaluated_properties;
    return s_compile_node (cc, value, kw);
}

/* items: 2020-12 a schema after prefixItems; draft-07 a schema or a list
   (then it works as prefixItems does). */
static int
s_compile_items (ab_cc_t *cc, const json_t *schema, const json_t *value,
                 s_kw_t *kw)
{
    if (json_is_array (value) && cc->resource->dialect == D_7) {
        kw->check = s_check_prefix_items;
        return s_compile_list (cc, value, kw, true);
    }
    kw->check = s_check_items;
    kw->u.items.from =
        json_array_size (json_object_get (schema, "prefixItems"));
    if (cc->resource->dialect == D_7)
        kw->u.items.from = 0;
    kw->u.items.node = ab_schema_compile (cc, value, cc->resource);
    return kw->u.items.node ? 1 : -1;
}

static int
s_compile_additional_items (ab_cc_t *cc, const json_t *schema,
                            const json_t *value, s_kw_t *kw)
{
    const json_t *items = json_object_get (schema, "items");
    if (!json_is_array (items))
        return 0;
    kw->check = s_check_items;
    kw->u.items.from = json_array_size (items);
    kw->u.items.node = ab_schema_compile (cc, value, cc->resource);
    return kw->u.items.node ? 1 : -1;
}

static int
s_compile_contains (ab_cc_t *cc, const json_t *schema, const json_t *value,
                    s_kw_t *kw)
{
    kw->check = s_check_contains;
    kw->u.contains.min = 1;
    kw->u.contains.max = SIZE_MAX;
    if (cc->resource->dialect == D_2020) {
        const json_t *min = json_object_get (schema, "minContains");
        const json_t *max = json_object_get (schema, "maxContains");
        if ((min && !s_count_value (min, &kw->u.contains.min)) ||
            (max && !s_count_value (max, &kw->u.contains.max))) {
            ab_cc_error (cc, "minContains/maxContains must be non-negative "
                             "integers");
            return -1;
        }
    }
    kw->u.contains.node = ab_schema_compile (cc, value, cc->resource);
    return kw->u.contains.node ? 1 : -1;
}

/* Fills one entry's names from an array of strings. */
static int
s_compile_names (ab_cc_t *cc, const json_t *value, ab_entry_t *entry)
{
    size_t n = json_array_size (value);
    entry->names = calloc (n ? n : 1, sizeof (char *));
    if (!entry->names)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value (json_array_get (value, i));
        if (!name) {
            ab_cc_error (cc, "dependencies of \"%s\" must be strings",
                         entry->key);
            return -1;
        }
        entry->names[entry->count++] = name;
    }
    return 0;
}

/* An object of subschemas or name lists: properties, dependentSchemas,
   dependentRequired, dependencies. `want` is 's' for schemas, 'n' for
   name lists, 'e' for either. Entries keep the schema's order, so errors do. */
static int
s_compile_map (ab_cc_t *cc, const json_t *value, s_kw_t *kw, char want)
{
    if (!json_is_object (value)) {
        ab_cc_error (cc, "%s must be an object", kw->def->name);
        return -1;
    }
    size_t n = json_object_size (value);
    kw->u.map.entries = calloc (n ? n : 1, sizeof (ab_entry_t));
    if (!kw->u.map.entries)
        return -1;
    const char *key;
    json_t *item;
    json_object_foreach ((json_t *)value, key, item)
    {
        ab_entry_t *entry = &kw->u.map.entries[kw->u.map.count++];
        entry->key = key;
        bool names = json_is_array (item) && want != 's';
        if (!names && want == 'n') {
            ab_cc_error (cc, "%s of \"%s\" must be an array of strings",
                         kw->def->name, key);
            return -1;
        }
        if (names ? s_compile_names (cc, item, entry) != 0
                  : !(entry->node = s_sub (cc, item, key, 0)))
            return -1;
    }
    return n ? 1 : 0;
}

static int
s_compile_properties (ab_cc_t *cc, const json_t *schema, const json_t *value,
                      s_kw_t *kw)
{
    kw->check = s_check_properties;
    return s_compile_map (cc, value, kw, 's');
}

static int
s_compile_dependent_schemas (ab_cc_t *cc, const json_t *schema,
                             const json_t *value, s_kw_t *kw)
{
    kw->check = s_check_dependent;
    return s_compile_map (cc, value, kw, 's');
}

static int
s_compile_dependent_required (ab_cc_t *cc, const json_t *schema,
                              const json_t *value, s_kw_t *kw)
{
    kw->check = s_check_dependent;
    return s_compile_map (cc, value, kw, 'n');
}

static int
s_compile_dependencies (ab_cc_t *cc, const json_t *schema, const json_t *value,
                        s_kw_t *kw)
{
    kw->check = s_check_dependent;
    return s_compile_map (cc, value, kw, 'e');
}

/* patternProperties, or the patterns additionalProperties must skip
   (compiled again there, so each keyword owns what it frees). */
static int
s_compile_patterns (ab_cc_t *cc, const json_t *value, s_pattern_t **patterns_p,
                    size_t *count_p, bool with_nodes)
{
    if (!json_is_object (value)) {
        ab_cc_error (cc, "patternProperties must be an object");
        return -1;
    }
    size_t n = json_object_size (value);
    *patterns_p = calloc (n ? n : 1, sizeof (s_pattern_t));
    if (!*patterns_p)
        return -1;
    const char *key;
    json_t *item;
    json_object_foreach ((json_t *)value, key, item)
    {
        s_pattern_t *pattern = &(*patterns_p)[(*count_p)++];
        pattern->source = key;
        size_t saved = s_cc_push (cc, key, 0);
        json_t *source = json_string (key);
        pattern->re = source ? s_cc_regex (cc, source) : NULL;
        json_decref (source);
        s_cc_pop (cc, saved);
        if (!pattern->re)
            return -1;
        if (with_nodes && !(pattern->node = s_sub (cc, item, key, 0)))
            return -1;
    }
    return n ? 1 : 0;
}

static int
s_compile_pattern_properties (ab_cc_t *cc, const json_t *schema,
                              const json_t *value, s_kw_t *kw)
{
    kw->check = s_check_pattern_properties;
    return s_compile_patterns (cc, value, &kw->u.patterns.patterns,
                               &kw->u.patterns.count, true);
}

static int
s_compile_additional_properties (ab_cc_t *cc, const json_t *schema,
                                 const json_t *value, s_kw_t *kw)
{
    kw->check = s_check_additional_properties;
    const json_t *properties = json_object_get (schema, "properties");
    const json_t *patterns = json_object_get (schema, "patternProperties");
    size_t n = json_object_size (properties);
    kw->u.map.entries = calloc (n ? n : 1, sizeof (ab_entry_t));
    if (!kw->u.map.entries)
        return -1;
    const char *key;
    json_t *item;
    json_object_foreach ((json_t *)properties, key, item)
        kw->u.map.entries[kw->u.map.count++]
            .key = key;
    qsort (kw->u.map.entries, kw->u.map.count, sizeof (ab_entry_t),
           s_entry_compare);
    if (patterns && json_is_object (patterns)) {
        /* a bad pattern is reported once, by patternProperties */
        ab_diag_t *diag = cc->diag;
        int errors = cc->errors;
        cc->diag = NULL;
        int rc = s_compile_patterns (cc, patterns, &kw->u.map.patterns,
                                     &kw->u.map.pattern_count, false);
        cc->diag = diag;
        if (rc < 0)
            return -1;
        cc->errors = errors;
    }
    kw->u.map.node = ab_schema_compile (cc, value, cc->resource);
    return kw->u.map.node ? 1 : -1;
}

static int
s_compile_if (ab_cc_t *cc, const json_t *schema, const json_t *value,
              s_kw_t *kw)
{
    const json_t *then = json_object_get (schema, "then");
    const json_t *otherwise = json_object_get (schema, "else");
    /* kept without then/else: unevaluated* sees the annotations of if */
    kw->check = s_check_if;
    kw->u.cond.test = ab_schema_compile (cc, value, cc->resource);
    /* then/else are siblings of `if`: drop "/if" from the path meanwhile */
    size_t saved = cc->path_length;
    bool trimmed = saved >= 3 && strcmp (cc->path + saved - 3, "/if") == 0;
    if (trimmed)
        s_cc_pop (cc, saved - 3);
    if (then)
        kw->u.cond.then = s_sub (cc, then, "then", 0);
    if (otherwise)
        kw->u.cond.otherwise = s_sub (cc, otherwise, "else", 0);
    if (trimmed)
        s_cc_push (cc, "if", 0);
    bool ok = kw->u.cond.test && (!then || kw->u.cond.then) &&
              (!otherwise || kw->u.cond.otherwise);
    return ok ? 1 : -1;
}

static int
s_compile_ref (ab_cc_t *cc, const json_t *schema, const json_t *value,
               s_kw_t *kw)
{
    if (!json_is_string (value)) {
        ab_cc_error (cc, "%s must be a string", kw->def->name);
        return -1;
    }
    kw->check = s_check_ref;
    kw->u.ref.target =
        ab_registry_resolve (cc, json_string_value (value), NULL);
    return kw->u.ref.target ? 1 : -1;
}

static int
s_compile_dynamic_ref (ab_cc_t *cc, const json_t *schema, const json_t *value,
                       s_kw_t *kw)
{
    if (!json_is_string (value)) {
        ab_cc_error (cc, "$dynamicRef must be a string");
        return -1;
    }
    kw->check = s_check_dynamic_ref;
    kw->u.ref.target =
        ab_registry_resolve (cc, json_string_value (value), &kw->u.ref.anchor);
    return kw->u.ref.target ? 1 : -1;
}

/* tensor: {dtype: name or list of names, shape: list of int|null, or
   null}. */
static int
s_compile_tensor (ab_cc_t *cc, const json_t *schema, const json_t *value,
                  s_kw_t *kw)
{
    const json_t *dtype = json_object_get (value, "dtype");
    const json_t *shape = json_object_get (value, "shape");
    kw->check = s_check_tensor;
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
            char text[S_RENDER_MAX + 8];
            s_render (name, text, sizeof text);
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

#define D_ALL (D_2020 | D_7)
#define T_NUM (T_NUMBER | T_INTEGER)

/* Every keyword, in evaluation (and so error) order: references first,
   assertions by type, applicators, and unevaluated* last because they
   read what everything before them evaluated. */
static const s_keyword_t s_keywords[] = {
    {"$ref", D_ALL, 0, s_compile_ref, V_CORE},
    {"$dynamicRef", D_2020, 0, s_compile_dynamic_ref, V_CORE},
    {"type", D_ALL, 0, s_compile_type, V_VALIDATION},
    {"enum", D_ALL, 0, s_compile_enum, V_VALIDATION},
    {"const", D_ALL, 0, s_compile_const, V_VALIDATION},
    {"multipleOf", D_ALL, T_NUM, s_compile_multiple_of, V_VALIDATION},
    {"maximum", D_ALL, T_NUM, s_compile_bound, V_VALIDATION},
    {"exclusiveMaximum", D_ALL, T_NUM, s_compile_bound, V_VALIDATION},
    {"minimum", D_ALL, T_NUM, s_compile_bound, V_VALIDATION},
    {"exclusiveMinimum", D_ALL, T_NUM, s_compile_bound, V_VALIDATION},
    {"maxLength", D_ALL, T_STRING, s_compile_count, V_VALIDATION},
    {"minLength", D_ALL, T_STRING, s_compile_count, V_VALIDATION},
    {"pattern", D_ALL, T_STRING, s_compile_pattern, V_VALIDATION},
    {"format", D_ALL, T_STRING, s_compile_format, V_FORMAT},
    {"maxItems", D_ALL, T_ARRAY, s_compile_count, V_VALIDATION},
    {"minItems", D_ALL, T_ARRAY, s_compile_count, V_VALIDATION},
    {"uniqueItems", D_ALL, T_ARRAY, s_compile_unique, V_VALIDATION},
    {"prefixItems", D_2020, T_ARRAY, s_compile_prefix_items, V_APPLICATOR},
    {"items", D_ALL, T_ARRAY, s_compile_items, V_APPLICATOR},
    {"additionalItems", D_7, T_ARRAY, s_compile_additional_items, V_APPLICATOR},
    {"contains", D_ALL, T_ARRAY, s_compile_contains, V_APPLICATOR},
    {"maxProperties", D_ALL, T_OBJECT, s_compile_count, V_VALIDATION},
    {"minProperties", D_ALL, T_OBJECT, s_compile_count, V_VALIDATION},
    {"required", D_ALL, T_OBJECT, s_compile_required, V_VALIDATION},
    {"dependentRequired", D_2020, T_OBJECT, s_compile_dependent_required,
     V_VALIDATION},
    {"dependencies", D_ALL, T_OBJECT, s_compile_dependencies, V_VALIDATION},
    {"properties", D_ALL, T_OBJECT, s_compile_properties, V_APPLICATOR},
    {"patternProperties", D_ALL, T_OBJECT, s_compile_pattern_properties,
     V_APPLICATOR},
    {"additionalProperties", D_ALL, T_OBJECT, s_compile_additional_properties,
     V_APPLICATOR},
    {"propertyNames", D_ALL, T_OBJECT, s_compile_property_names, V_APPLICATOR},
    {"dependentSchemas", D_2020, T_OBJECT, s_compile_dependent_schemas,
     V_APPLICATOR},
    {"allOf", D_ALL, 0, s_compile_all_of, V_APPLICATOR},
    {"anyOf", D_ALL, 0, s_compile_any_of, V_APPLICATOR},
    {"oneOf", D_ALL, 0, s_compile_one_of, V_APPLICATOR},
    {"not", D_ALL, 0, s_compile_not, V_APPLICATOR},
    {"if", D_ALL, 0, s_compile_if, V_APPLICATOR},
    {"tensor", D_ALL, 0, s_compile_tensor, V_AGENTBUS},
    {"unevaluatedItems", D_2020, T_ARRAY, s_compile_unevaluated, V_UNEVALUATED},
    {"unevaluatedProperties", D_2020, T_OBJECT, s_compile_unevaluated,
     V_UNEVALUATED},
};

#define S_KEYWORD_COUNT (sizeof s_keywords / sizeof s_keywords[0])

/* Frees what a keyword owns (its subschemas belong to the registry). */
static void
s_kw_free (s_kw_t *kw)
{
    s_check_fn *check = kw->check;
    if (check == s_check_pattern)
        pcre2_code_free (kw->u.re);
    else if (check == s_check_required)
        free (kw->u.required.names);
    else if (check == s_check_all_of || check == s_check_any_of ||
             check == s_check_one_of || check == s_check_prefix_items)
        free (kw->u.list.nodes);
    else if (check == s_check_pattern_properties) {
        for (size_t i = 0; i < kw->u.patterns.count; i++)
            pcre2_code_free (kw->u.patterns.patterns[i].re);
        free (kw->u.patterns.patterns);
    } else if (check == s_check_properties || check == s_check_dependent ||
               check == s_check_additional_properties) {
        for (size_t i = 0; i < kw->u.map.count; i++)
            free (kw->u.map.entries[i].names);
        free (kw->u.map.entries);
        for (size_t i = 0; i < kw->u.map.pattern_count; i++)
            pcre2_code_free (kw->u.map.patterns[i].re);
        free (kw->u.map.patterns);
    } else if (check == s_check_tensor)
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
    node->keywords = calloc (S_KEYWORD_COUNT, sizeof (s_kw_t));
    if (!node->keywords) {
        ab_cc_error (cc, "out of memory");
        return;
    }
    for (size_t i = 0; i < S_KEYWORD_COUNT; i++) {
        const s_keyword_t *def = &s_keywords[i];
        const json_t *value = json_object_get (json, def->name);
        if (!value || !(def->dialects & dialect) ||
            !(def->vocabulary & node->resource->vocabularies) ||
            (ref_only && strcmp (def->name, "$ref") != 0))
            continue;
        s_kw_t *kw = &node->keywords[node->keyword_count];
        kw->def = def;
        kw->value = value;
        size_t saved = s_cc_push (cc, def->name, 0);
        cc->at_object = json;
        cc->at_key = def->name;
        int rc = def->compile (cc, json, value, kw);
        cc->at_object = json;
        cc->at_key = def->name;
        s_cc_pop (cc, saved);
        if (rc > 0 && kw->check) {
            node->keyword_count++;
            if (strncmp (def->name, "unevaluated", 11) == 0)
                node->needs_eval = true;
        } else {
            s_kw_free (kw);
            memset (kw, 0, sizeof *kw);
        }
    }
    s_kw_t *shrunk = realloc (node->keywords,
                              (node->keyword_count ? node->keyword_count : 1) *
                                  sizeof (s_kw_t));
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
               (at->keywords[0].check == s_check_ref) && steps <= limit) {
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
    s_ctx_t storage;
    s_ctx_t *ctx = &storage;
    ctx->errors = errors_p ? json_array () : NULL;
    ctx->max_errors = self->registry->options.max_errors;

    ctx->quiet = 0;
    ctx->limit = ctx->oom = false;
    ctx->depth = ctx->ilen = ctx->slen = ctx->nscope = 0;
    ctx->keyword = NULL;
    ctx->match = NULL;
    bool valid = s_eval (ctx, self, instance, NULL);
    pcre2_match_data_free (ctx->match);
    int rc = ctx->oom     ? AB_ENOMEM
             : ctx->limit ? AB_ELIMIT
             : valid      ? 0
                          : AB_EREJECTED;
    if (errors_p) {
        if (rc == AB_EREJECTED && json_array_size (ctx->errors) == 0) {
            ctx->ilen = ctx->slen = 0;
            s_error (ctx, "the value does not match the schema");
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
