/*  =========================================================================
    ab_schema_kw - what the validator's keyword families share: the
    compiled keyword, the per-validation context, annotations, and the
    check and compile functions the keyword table (ab_schema.c) names

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Internal to src/schema: ab_schema.c (engine, keyword table, compiler
    driver) and the keyword families ab_schema_assert.c, ab_schema_array.c,
    ab_schema_object.c and ab_schema_apply.c include it. The design note
    is at the top of ab_schema.c.
*/

#ifndef AB_SCHEMA_KW_H_INCLUDED
#define AB_SCHEMA_KW_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "schema/ab_schema.h"
#include "schema/ab_schema_format.h"
#include "schema/ab_schema_int.h"

#define AB_KW_MAX_DEPTH 256     /* nested schema evaluations per validation */
#define AB_KW_MAX_SEGMENTS 1024 /* instance or schema path segments */
#define AB_KW_RENDER_MAX 48     /* bytes of a value quoted in a message */

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

typedef struct _ab_kw_ctx_t ab_kw_ctx_t;
typedef struct _ab_kw_eval_t ab_kw_eval_t;

/* Evaluates one compiled keyword against an instance. */
typedef bool (ab_kw_check_fn) (ab_kw_ctx_t *ctx, const ab_kw_t *kw,
                               const json_t *inst, ab_kw_eval_t *eval);

/* Compiles keyword `value` of schema object `schema` into kw. Returns 1
   to keep it, 0 when it checks nothing (e.g. uniqueItems: false), -1 on
   an error already reported to the compile context. */
typedef int (ab_kw_compile_fn) (ab_cc_t *cc, const json_t *schema,
                                const json_t *value, ab_kw_t *kw);

/* One entry of the keyword table. */
typedef struct {
    const char *name;          /* the keyword */
    unsigned dialects;         /* D_2020 | D_7: where it is a keyword */
    unsigned types;            /* instance types it applies to; 0 = all */
    ab_kw_compile_fn *compile; /* parses its arguments */
    unsigned vocabulary;       /* V_*: the vocabulary defining it */
} ab_keyword_t;

/* A compiled patternProperties entry. */
typedef struct {
    pcre2_code *re;     /* owned */
    const char *source; /* the pattern as written (borrowed) */
    ab_schema_t *node;  /* subschema for matching names */
} ab_kw_pattern_t;

/* One compiled keyword. */
struct _ab_kw_t {
    ab_kw_check_fn *check;   /* evaluates it */
    const ab_keyword_t *def; /* table entry: name, types */
    const json_t *value;     /* the keyword's value (borrowed) */
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
            ab_entry_t *entries;       /* owned; additionalProperties: sorted */
            size_t count;              /* entries */
            ab_kw_pattern_t *patterns; /* additionalProperties' siblings */
            size_t pattern_count;      /* entries in patterns */
            ab_schema_t *node;         /* additionalProperties' subschema */
        } map;                         /* properties, dependent*, additional* */
        struct {
            ab_kw_pattern_t *patterns; /* owned array */
            size_t count;              /* entries */
        } patterns;                    /* patternProperties */
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
} ab_kw_seg_t;

/* Annotations: what the evaluated keywords covered (see design note). */
struct _ab_kw_eval_t {
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
struct _ab_kw_ctx_t {
    json_t *errors;    /* collected errors, NULL if not wanted */
    size_t max_errors; /* bound on errors */

    int quiet;                 /* >0 inside anyOf/oneOf/not/if branches */
    bool limit;                /* depth bound hit: stop everything */
    bool oom;                  /* out of memory: stop everything */
    size_t depth;              /* nested node evaluations */
    const char *keyword;       /* keyword being evaluated, for messages */
    pcre2_match_data *match;   /* made on first pattern, freed at the end */
    size_t ilen, slen, nscope; /* used entries of the three stacks */
    ab_kw_seg_t ipath[AB_KW_MAX_SEGMENTS];           /* instance path */
    ab_kw_seg_t spath[AB_KW_MAX_SEGMENTS];           /* schema path */
    const ab_resource_t *scope[AB_KW_MAX_DEPTH + 1]; /* dynamic scope */
};

/* Whether ab_kw_compile_list accepts an empty array. */
typedef enum {
    AB_KW_NON_EMPTY,   /* allOf, anyOf, oneOf */
    AB_KW_MAY_BE_EMPTY /* prefixItems, draft-07 items */
} ab_kw_list_t;

#define D_ALL (D_2020 | D_7)
#define T_NUM (T_NUMBER | T_INTEGER)

/*  -------------------------------------------------------------------------
    ab_schema.c: the validation engine and the compiler's helpers */

/* Restores cc->path to a length ab_kw_cc_push returned. */
void ab_kw_cc_pop (ab_cc_t *cc, size_t saved);

/* Appends a JSON Pointer segment to cc->path; returns the length to
   restore. A path too long for the buffer is cut, which only shortens
   messages. */
size_t ab_kw_cc_push (ab_cc_t *cc, const char *key, size_t index);

/* Compares two numbers exactly when both are integers: -1, 0 or 1. */
int ab_kw_compare (const json_t *a, const json_t *b);

/* A count: a non-negative integer (1.0 counts as 1). */
bool ab_kw_count_value (const json_t *value, size_t *count_p);

/* Equality where 1 and 1.0 are the same number. */
bool ab_kw_equal (const json_t *a, const json_t *b);

/* Appends an error at the current instance and schema paths (callers
   ask ab_kw_reporting first). */
void ab_kw_error (ab_kw_ctx_t *ctx, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

/* Evaluates node against inst; eval collects annotations (or NULL
   when no unevaluated* keyword reads them). */
bool ab_kw_eval (ab_kw_ctx_t *ctx, const ab_schema_t *node, const json_t *inst,
                 ab_kw_eval_t *eval);

/* Notes property key as evaluated. */
void ab_kw_eval_add_prop (ab_kw_ctx_t *ctx, ab_kw_eval_t *eval,
                          const char *key);

/* Evaluates a subschema at a child of the instance (key or index) and
   under a schema path segment (skey or sindex; skey NULL = none). */
bool ab_kw_eval_child (ab_kw_ctx_t *ctx, const ab_schema_t *node,
                       const json_t *child, const char *key, size_t index,
                       const char *skey, bool sindex, size_t sidx);

/* Frees what annotations hold. */
void ab_kw_eval_clear (ab_kw_eval_t *eval);

/* Whether item index was evaluated. */
bool ab_kw_eval_has_item (const ab_kw_eval_t *eval, size_t index);

/* Whether property key was evaluated. */
bool ab_kw_eval_has_prop (const ab_kw_eval_t *eval, const char *key);

/* Evaluates a subschema in place (same instance), merging its
   annotations into eval when it passes. */
bool ab_kw_eval_here (ab_kw_ctx_t *ctx, const ab_schema_t *node,
                      const json_t *inst, ab_kw_eval_t *eval, const char *skey,
                      bool sindex, size_t sidx);

/* Notes item index (of size items) as evaluated (by contains). */
void ab_kw_eval_mark_item (ab_kw_ctx_t *ctx, ab_kw_eval_t *eval, size_t index,
                           size_t size);

/* Adds what a passing subschema evaluated to its parent's annotations. */
void ab_kw_eval_merge (ab_kw_ctx_t *ctx, ab_kw_eval_t *into,
                       const ab_kw_eval_t *from);

/* Builds a JSON Pointer from segments (RFC 6901: '~' -> ~0, '/' -> ~1). */
char *ab_kw_pointer (const ab_kw_seg_t *segs, size_t count);

/* Pushes a path segment; false (and the depth limit) when full. */
bool ab_kw_push (ab_kw_ctx_t *ctx, ab_kw_seg_t *stack, size_t *length,
                 const char *key, size_t index);

/* Writes a short JSON rendering of value for a message. */
void ab_kw_render (const json_t *value, char *buffer, size_t size);

/* Errors are built only when someone will read them. */
bool ab_kw_reporting (const ab_kw_ctx_t *ctx);

/* Compiles a subschema found under key (or index, key NULL). */
ab_schema_t *ab_kw_sub (ab_cc_t *cc, const json_t *json, const char *key,
                        size_t index);

/* The T_* bits of a JSON value's type. */
unsigned ab_kw_type_bits (const json_t *value);

/* Code points in a UTF-8 string (jansson guarantees valid UTF-8). */
size_t ab_kw_utf8_length (const char *text, size_t bytes);

/*  -------------------------------------------------------------------------
    ab_schema_assert.c: assertions on one value (type, enum, const,
    numbers, strings, format) and the agentbus tensor keyword */

/* Compiles a pattern keyword's string (ab_regex_compile); NULL after
   reporting the problem. */
pcre2_code *ab_kw_cc_regex (ab_cc_t *cc, const json_t *value);

/* Whether re matches text somewhere (JSON Schema patterns are not
   anchored). */
bool ab_kw_match (ab_kw_ctx_t *ctx, const pcre2_code *re, const char *text,
                  size_t length);

/* The keywords of ab_schema_assert.c that the table or another family names:
   their ab_kw_check_fn and ab_kw_compile_fn. */

bool ab_kw_check_pattern (ab_kw_ctx_t *ctx, const ab_kw_t *kw,
                          const json_t *inst, ab_kw_eval_t *eval);

/* tensor: {dtype, shape, frame} with an allowed dtype and shape. */
bool ab_kw_check_tensor (ab_kw_ctx_t *ctx, const ab_kw_t *kw,
                         const json_t *inst, ab_kw_eval_t *eval);
int ab_kw_compile_bound (ab_cc_t *cc, const json_t *schema, const json_t *value,
                         ab_kw_t *kw);
int ab_kw_compile_const (ab_cc_t *cc, const json_t *schema, const json_t *value,
                         ab_kw_t *kw);
int ab_kw_compile_count (ab_cc_t *cc, const json_t *schema, const json_t *value,
                         ab_kw_t *kw);
int ab_kw_compile_enum (ab_cc_t *cc, const json_t *schema, const json_t *value,
                        ab_kw_t *kw);
int ab_kw_compile_format (ab_cc_t *cc, const json_t *schema,
                          const json_t *value, ab_kw_t *kw);
int ab_kw_compile_multiple_of (ab_cc_t *cc, const json_t *schema,
                               const json_t *value, ab_kw_t *kw);
int ab_kw_compile_pattern (ab_cc_t *cc, const json_t *schema,
                           const json_t *value, ab_kw_t *kw);
int ab_kw_compile_tensor (ab_cc_t *cc, const json_t *schema,
                          const json_t *value, ab_kw_t *kw);
int ab_kw_compile_type (ab_cc_t *cc, const json_t *schema, const json_t *value,
                        ab_kw_t *kw);

/*  -------------------------------------------------------------------------
    ab_schema_array.c: the array keywords (uniqueItems, prefixItems,
    items, additionalItems, contains, unevaluatedItems) */

/* The keywords of ab_schema_array.c that the table or another family names:
   their ab_kw_check_fn and ab_kw_compile_fn. */

bool ab_kw_check_prefix_items (ab_kw_ctx_t *ctx, const ab_kw_t *kw,
                               const json_t *inst, ab_kw_eval_t *eval);
bool ab_kw_check_unevaluated_items (ab_kw_ctx_t *ctx, const ab_kw_t *kw,
                                    const json_t *inst, ab_kw_eval_t *eval);
int ab_kw_compile_additional_items (ab_cc_t *cc, const json_t *schema,
                                    const json_t *value, ab_kw_t *kw);
int ab_kw_compile_contains (ab_cc_t *cc, const json_t *schema,
                            const json_t *value, ab_kw_t *kw);
int ab_kw_compile_items (ab_cc_t *cc, const json_t *schema, const json_t *value,
                         ab_kw_t *kw);
int ab_kw_compile_prefix_items (ab_cc_t *cc, const json_t *schema,
                                const json_t *value, ab_kw_t *kw);
int ab_kw_compile_unique (ab_cc_t *cc, const json_t *schema,
                          const json_t *value, ab_kw_t *kw);

/*  -------------------------------------------------------------------------
    ab_schema_object.c: the object keywords (required, dependent*,
    properties, patternProperties, additionalProperties, propertyNames,
    unevaluatedProperties) */

/* The keywords of ab_schema_object.c that the table or another family names:
   their ab_kw_check_fn and ab_kw_compile_fn. */

bool ab_kw_check_additional_properties (ab_kw_ctx_t *ctx, const ab_kw_t *kw,
                                        const json_t *inst, ab_kw_eval_t *eval);
bool ab_kw_check_dependent (ab_kw_ctx_t *ctx, const ab_kw_t *kw,
                            const json_t *inst, ab_kw_eval_t *eval);
bool ab_kw_check_pattern_properties (ab_kw_ctx_t *ctx, const ab_kw_t *kw,
                                     const json_t *inst, ab_kw_eval_t *eval);
bool ab_kw_check_properties (ab_kw_ctx_t *ctx, const ab_kw_t *kw,
                             const json_t *inst, ab_kw_eval_t *eval);
bool ab_kw_check_required (ab_kw_ctx_t *ctx, const ab_kw_t *kw,
                           const json_t *inst, ab_kw_eval_t *eval);
bool ab_kw_check_unevaluated_properties (ab_kw_ctx_t *ctx, const ab_kw_t *kw,
                                         const json_t *inst,
                                         ab_kw_eval_t *eval);
int ab_kw_compile_additional_properties (ab_cc_t *cc, const json_t *schema,
                                         const json_t *value, ab_kw_t *kw);
int ab_kw_compile_dependencies (ab_cc_t *cc, const json_t *schema,
                                const json_t *value, ab_kw_t *kw);
int ab_kw_compile_dependent_required (ab_cc_t *cc, const json_t *schema,
                                      const json_t *value, ab_kw_t *kw);
int ab_kw_compile_dependent_schemas (ab_cc_t *cc, const json_t *schema,
                                     const json_t *value, ab_kw_t *kw);
int ab_kw_compile_pattern_properties (ab_cc_t *cc, const json_t *schema,
                                      const json_t *value, ab_kw_t *kw);
int ab_kw_compile_properties (ab_cc_t *cc, const json_t *schema,
                              const json_t *value, ab_kw_t *kw);
int ab_kw_compile_property_names (ab_cc_t *cc, const json_t *schema,
                                  const json_t *value, ab_kw_t *kw);
int ab_kw_compile_required (ab_cc_t *cc, const json_t *schema,
                            const json_t *value, ab_kw_t *kw);

/*  -------------------------------------------------------------------------
    ab_schema_apply.c: the in-place applicators and references (allOf,
    anyOf, oneOf, not, if/then/else, $ref, $dynamicRef) */

/* A list of subschemas: allOf, anyOf, oneOf, prefixItems, draft-07 items. */
int ab_kw_compile_list (ab_cc_t *cc, const json_t *value, ab_kw_t *kw,
                        ab_kw_list_t list);

/* One subschema: not, propertyNames, unevaluated*. */
int ab_kw_compile_node (ab_cc_t *cc, const json_t *value, ab_kw_t *kw);

/* The keywords of ab_schema_apply.c that the table or another family names:
   their ab_kw_check_fn and ab_kw_compile_fn. */

bool ab_kw_check_all_of (ab_kw_ctx_t *ctx, const ab_kw_t *kw,
                         const json_t *inst, ab_kw_eval_t *eval);
bool ab_kw_check_any_of (ab_kw_ctx_t *ctx, const ab_kw_t *kw,
                         const json_t *inst, ab_kw_eval_t *eval);
bool ab_kw_check_one_of (ab_kw_ctx_t *ctx, const ab_kw_t *kw,
                         const json_t *inst, ab_kw_eval_t *eval);
bool ab_kw_check_ref (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
                      ab_kw_eval_t *eval);
int ab_kw_compile_all_of (ab_cc_t *cc, const json_t *schema,
                          const json_t *value, ab_kw_t *kw);
int ab_kw_compile_any_of (ab_cc_t *cc, const json_t *schema,
                          const json_t *value, ab_kw_t *kw);
int ab_kw_compile_dynamic_ref (ab_cc_t *cc, const json_t *schema,
                               const json_t *value, ab_kw_t *kw);
int ab_kw_compile_if (ab_cc_t *cc, const json_t *schema, const json_t *value,
                      ab_kw_t *kw);
int ab_kw_compile_not (ab_cc_t *cc, const json_t *schema, const json_t *value,
                       ab_kw_t *kw);
int ab_kw_compile_one_of (ab_cc_t *cc, const json_t *schema,
                          const json_t *value, ab_kw_t *kw);
int ab_kw_compile_ref (ab_cc_t *cc, const json_t *schema, const json_t *value,
                       ab_kw_t *kw);
int ab_kw_compile_unevaluated (ab_cc_t *cc, const json_t *schema,
                               const json_t *value, ab_kw_t *kw);

#endif
