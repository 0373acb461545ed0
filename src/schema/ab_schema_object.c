/*  =========================================================================
    ab_schema_object - the object keywords: required, dependentRequired,
    dependentSchemas, dependencies, properties, patternProperties,
    additionalProperties, propertyNames, unevaluatedProperties

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Each keyword is a check (validation) and a compile function (arguments
    parsed once), named in the keyword table of ab_schema.c. Property
    tables are sorted at compile time and searched with bsearch.
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

bool
ab_kw_check_required (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
                      ab_kw_eval_t *eval)
{
    bool ok = true;
    for (size_t i = 0; i < kw->u.required.count; i++) {
        const char *name = kw->u.required.names[i];
        if (json_object_get (inst, name))
            continue;
        ok = false;
        if (!ab_kw_reporting (ctx))
            break;
        ab_kw_error (ctx, "required property \"%s\" is missing", name);
    }
    return ok;
}

static bool
s_dependent_names (ab_kw_ctx_t *ctx, const ab_entry_t *entry,
                   const json_t *inst)
{
    bool ok = true;
    for (size_t i = 0; i < entry->count; i++) {
        if (json_object_get (inst, entry->names[i]))
            continue;
        ok = false;
        if (!ab_kw_reporting (ctx))
            break;
        ab_kw_error (ctx, "property \"%s\" requires property \"%s\"",
                     entry->key, entry->names[i]);
    }
    return ok;
}

/* dependentRequired, dependentSchemas and draft-07 dependencies. */
bool
ab_kw_check_dependent (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
                       ab_kw_eval_t *eval)
{
    bool ok = true;
    for (size_t i = 0; i < kw->u.map.count; i++) {
        const ab_entry_t *entry = &kw->u.map.entries[i];
        if (!json_object_get (inst, entry->key))
            continue;
        bool passed = entry->node ? ab_kw_eval_here (ctx, entry->node, inst,
                                                     eval, entry->key, false, 0)
                                  : s_dependent_names (ctx, entry, inst);
        if (!passed) {
            ok = false;
            if (!ab_kw_reporting (ctx))
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

bool
ab_kw_check_properties (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
                        ab_kw_eval_t *eval)
{
    bool ok = true;
    for (size_t i = 0; i < kw->u.map.count; i++) {
        const ab_entry_t *entry = &kw->u.map.entries[i];
        const json_t *child = json_object_get (inst, entry->key);
        if (!child)
            continue;
        ab_kw_eval_add_prop (ctx, eval, entry->key);
        if (!ab_kw_eval_child (ctx, entry->node, child, entry->key, 0,
                               entry->key, false, 0)) {
            ok = false;
            if (!ab_kw_reporting (ctx))
                break;
        }
    }
    return ok;
}

bool
ab_kw_check_pattern_properties (ab_kw_ctx_t *ctx, const ab_kw_t *kw,
                                const json_t *inst, ab_kw_eval_t *eval)
{
    bool ok = true;
    const char *key;
    json_t *child;
    json_object_foreach ((json_t *)inst, key, child)
    {
        for (size_t i = 0; i < kw->u.patterns.count; i++) {
            const ab_kw_pattern_t *pattern = &kw->u.patterns.patterns[i];
            if (!ab_kw_match (ctx, pattern->re, key, strlen (key)))
                continue;
            ab_kw_eval_add_prop (ctx, eval, key);
            if (!ab_kw_eval_child (ctx, pattern->node, child, key, 0,
                                   pattern->source, false, 0)) {
                ok = false;
                if (!ab_kw_reporting (ctx))
                    return false;
            }
        }
    }
    return ok;
}

/* additionalProperties: names neither in properties nor matched by a
   patternProperties pattern (its own copies of both, see compile). */
bool
ab_kw_check_additional_properties (ab_kw_ctx_t *ctx, const ab_kw_t *kw,
                                   const json_t *inst, ab_kw_eval_t *eval)
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
                ab_kw_match (ctx, kw->u.map.patterns[i].re, key, strlen (key));
        if (matched)
            continue;
        ab_kw_eval_add_prop (ctx, eval, key);
        if (!ab_kw_eval_child (ctx, kw->u.map.node, child, key, 0, NULL, false,
                               0)) {
            ok = false;
            if (!ab_kw_reporting (ctx))
                return false;
        }
    }
    return ok;
}

static bool
s_check_property_names (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
                        ab_kw_eval_t *eval)
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
        bool passed = ab_kw_eval (ctx, kw->u.node, name, NULL);
        ctx->quiet--;
        json_decref (name);
        if (passed)
            continue;
        ok = false;
        if (!ab_kw_reporting (ctx))
            return false;
        size_t ilen = ctx->ilen;
        if (ab_kw_push (ctx, ctx->ipath, &ctx->ilen, key, 0))
            ab_kw_error (
                ctx, "property name \"%s\" does not match propertyNames", key);
        ctx->ilen = ilen;
    }
    return ok;
}

bool
ab_kw_check_unevaluated_properties (ab_kw_ctx_t *ctx, const ab_kw_t *kw,
                                    const json_t *inst, ab_kw_eval_t *eval)
{
    bool ok = true;
    const char *key;
    json_t *child;
    json_object_foreach ((json_t *)inst, key, child)
    {
        if (ab_kw_eval_has_prop (eval, key))
            continue;
        if (!ab_kw_eval_child (ctx, kw->u.node, child, key, 0, NULL, false,
                               0)) {
            ok = false;
            if (!ab_kw_reporting (ctx))
                return false;
        }
    }
    if (ok)
        eval->all_props = true;
    return ok;
}

int
ab_kw_compile_required (ab_cc_t *cc, const json_t *schema, const json_t *value,
                        ab_kw_t *kw)
{
    size_t n = json_array_size (value);
    kw->check = ab_kw_check_required;
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

int
ab_kw_compile_property_names (ab_cc_t *cc, const json_t *schema,
                              const json_t *value, ab_kw_t *kw)
{
    kw->check = s_check_property_names;
    return ab_kw_compile_node (cc, value, kw);
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
s_compile_map (ab_cc_t *cc, const json_t *value, ab_kw_t *kw, char want)
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
                  : !(entry->node = ab_kw_sub (cc, item, key, 0)))
            return -1;
    }
    return n ? 1 : 0;
}

int
ab_kw_compile_properties (ab_cc_t *cc, const json_t *schema,
                          const json_t *value, ab_kw_t *kw)
{
    kw->check = ab_kw_check_properties;
    return s_compile_map (cc, value, kw, 's');
}

int
ab_kw_compile_dependent_schemas (ab_cc_t *cc, const json_t *schema,
                                 const json_t *value, ab_kw_t *kw)
{
    kw->check = ab_kw_check_dependent;
    return s_compile_map (cc, value, kw, 's');
}

int
ab_kw_compile_dependent_required (ab_cc_t *cc, const json_t *schema,
                                  const json_t *value, ab_kw_t *kw)
{
    kw->check = ab_kw_check_dependent;
    return s_compile_map (cc, value, kw, 'n');
}

int
ab_kw_compile_dependencies (ab_cc_t *cc, const json_t *schema,
                            const json_t *value, ab_kw_t *kw)
{
    kw->check = ab_kw_check_dependent;
    return s_compile_map (cc, value, kw, 'e');
}

/* What s_compile_patterns compiles of each pattern. */
typedef enum {
    S_PATTERNS_ONLY,  /* the regex: additionalProperties skips matches */
    S_WITH_SUBSCHEMA, /* and its subschema: patternProperties */
} s_patterns_t;

/* patternProperties, or the patterns additionalProperties must skip
   (compiled again there, so each keyword owns what it frees). */
static int
s_compile_patterns (ab_cc_t *cc, const json_t *value,
                    ab_kw_pattern_t **patterns_p, size_t *count_p,
                    s_patterns_t what)
{
    bool with_nodes = what == S_WITH_SUBSCHEMA;
    if (!json_is_object (value)) {
        ab_cc_error (cc, "patternProperties must be an object");
        return -1;
    }
    size_t n = json_object_size (value);
    *patterns_p = calloc (n ? n : 1, sizeof (ab_kw_pattern_t));
    if (!*patterns_p)
        return -1;
    const char *key;
    json_t *item;
    json_object_foreach ((json_t *)value, key, item)
    {
        ab_kw_pattern_t *pattern = &(*patterns_p)[(*count_p)++];
        pattern->source = key;
        size_t saved = ab_kw_cc_push (cc, key, 0);
        json_t *source = json_string (key);
        pattern->re = source ? ab_kw_cc_regex (cc, source) : NULL;
        json_decref (source);
        ab_kw_cc_pop (cc, saved);
        if (!pattern->re)
            return -1;
        if (with_nodes && !(pattern->node = ab_kw_sub (cc, item, key, 0)))
            return -1;
    }
    return n ? 1 : 0;
}

int
ab_kw_compile_pattern_properties (ab_cc_t *cc, const json_t *schema,
                                  const json_t *value, ab_kw_t *kw)
{
    kw->check = ab_kw_check_pattern_properties;
    return s_compile_patterns (cc, value, &kw->u.patterns.patterns,
                               &kw->u.patterns.count, S_WITH_SUBSCHEMA);
}

int
ab_kw_compile_additional_properties (ab_cc_t *cc, const json_t *schema,
                                     const json_t *value, ab_kw_t *kw)
{
    kw->check = ab_kw_check_additional_properties;
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
                                     &kw->u.map.pattern_count, S_PATTERNS_ONLY);
        cc->diag = diag;
        if (rc < 0)
            return -1;
        cc->errors = errors;
    }
    kw->u.map.node = ab_schema_compile (cc, value, cc->resource);
    return kw->u.map.node ? 1 : -1;
}
