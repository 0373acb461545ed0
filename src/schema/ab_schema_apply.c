/*  =========================================================================
    ab_schema_apply - the in-place applicators and references: allOf,
    anyOf, oneOf, not, if/then/else, $ref, $dynamicRef

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Each keyword is a check (validation) and a compile function (arguments
    parsed once), named in the keyword table of ab_schema.c. Branches
    that may fail quietly (anyOf, oneOf, not, if) raise ctx->quiet; a
    failed branch produces no annotations.
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
ab_kw_check_all_of (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
                    ab_kw_eval_t *eval)
{
    bool ok = true;
    for (size_t i = 0; i < kw->u.list.count; i++)
        if (!ab_kw_eval_here (ctx, kw->u.list.nodes[i], inst, eval, NULL, true,
                              i)) {
            ok = false;
            if (!ab_kw_reporting (ctx))
                return false;
        }
    return ok;
}

/* Counts the passing branches of anyOf/oneOf quietly; stops early when
   the answer is known and no annotations are wanted. */
static size_t
s_count_branches (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
                  ab_kw_eval_t *eval, size_t stop_at, size_t first[2])
{
    size_t passed = 0;
    ctx->quiet++;
    for (size_t i = 0; i < kw->u.list.count; i++) {
        if (!ab_kw_eval_here (ctx, kw->u.list.nodes[i], inst, eval, NULL, true,
                              i))
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
s_report_closest (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst)
{
    json_t *errors = ctx->errors, *best = NULL;
    char *path = ab_kw_pointer (ctx->ipath, ctx->ilen);
    size_t best_distance = SIZE_MAX;
    for (size_t i = 0; i < kw->u.list.count && !ctx->oom; i++) {
        json_t *trial = json_array ();
        if (!trial)
            break;
        ctx->errors = trial;
        ab_kw_eval_here (ctx, kw->u.list.nodes[i], inst, NULL, NULL, true, i);
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

bool
ab_kw_check_any_of (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
                    ab_kw_eval_t *eval)
{
    size_t first[2];
    if (s_count_branches (ctx, kw, inst, eval, 1, first) > 0)
        return true;
    if (ab_kw_reporting (ctx)) {
        char value[AB_KW_RENDER_MAX + 8];
        ab_kw_render (inst, value, sizeof value);
        ab_kw_error (ctx, "%s does not match any of the %zu schemas in anyOf",
                     value, kw->u.list.count);
        s_report_closest (ctx, kw, inst);
    }
    return false;
}

bool
ab_kw_check_one_of (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
                    ab_kw_eval_t *eval)
{
    size_t first[2];
    ab_kw_eval_t branch = {0};
    size_t passed =
        s_count_branches (ctx, kw, inst, eval ? &branch : NULL, 2, first);
    if (passed == 1 && eval)
        ab_kw_eval_merge (ctx, eval, &branch);
    ab_kw_eval_clear (&branch);
    if (passed == 1)
        return true;
    if (ab_kw_reporting (ctx)) {
        char value[AB_KW_RENDER_MAX + 8];
        ab_kw_render (inst, value, sizeof value);
        if (passed == 0) {
            ab_kw_error (ctx,
                         "%s does not match any of the %zu schemas in oneOf",
                         value, kw->u.list.count);
            s_report_closest (ctx, kw, inst);
        } else
            ab_kw_error (ctx,
                         "%s matches schemas %zu and %zu of oneOf, but must "
                         "match exactly one",
                         value, first[0], first[1]);
    }
    return false;
}

static bool
s_check_not (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
             ab_kw_eval_t *eval)
{
    ctx->quiet++;
    bool passed = ab_kw_eval (ctx, kw->u.node, inst, NULL);
    ctx->quiet--;
    if (!passed && !ctx->limit && !ctx->oom)
        return true;
    if (ab_kw_reporting (ctx)) {
        char value[AB_KW_RENDER_MAX + 8];
        ab_kw_render (inst, value, sizeof value);
        ab_kw_error (ctx, "%s must not match the schema in not", value);
    }
    return false;
}

static bool
s_check_if (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
            ab_kw_eval_t *eval)
{
    if (!eval && !kw->u.cond.then && !kw->u.cond.otherwise)
        return true;
    ctx->quiet++;
    bool holds =
        ab_kw_eval_here (ctx, kw->u.cond.test, inst, eval, NULL, false, 0);
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
    bool ok = ab_kw_eval_here (ctx, next, inst, eval, ctx->keyword, false, 0);
    ctx->keyword = keyword;
    ctx->slen++;
    return ok;
}

bool
ab_kw_check_ref (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
                 ab_kw_eval_t *eval)
{
    return ab_kw_eval_here (ctx, kw->u.ref.target, inst, eval, NULL, false, 0);
}

/* $dynamicRef: the outermost resource in the dynamic scope that has the
   anchor wins, when the static target is itself a dynamic anchor. */
static bool
s_check_dynamic_ref (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
                     ab_kw_eval_t *eval)
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
    return ab_kw_eval_here (ctx, target, inst, eval, NULL, false, 0);
}

/* A list of subschemas: allOf, anyOf, oneOf, prefixItems, draft-07 items. */
int
ab_kw_compile_list (ab_cc_t *cc, const json_t *value, ab_kw_t *kw,
                    ab_kw_list_t list)
{
    size_t n = json_array_size (value);
    if (!json_is_array (value) || (n == 0 && list == AB_KW_NON_EMPTY)) {
        ab_cc_error (cc, "%s must be a non-empty array of schemas",
                     kw->def->name);
        return -1;
    }
    kw->u.list.nodes = calloc (n ? n : 1, sizeof (ab_schema_t *));
    if (!kw->u.list.nodes)
        return -1;
    for (size_t i = 0; i < n; i++) {
        ab_schema_t *node = ab_kw_sub (cc, json_array_get (value, i), NULL, i);
        if (!node)
            return -1;
        kw->u.list.nodes[kw->u.list.count++] = node;
    }
    return 1;
}

int
ab_kw_compile_all_of (ab_cc_t *cc, const json_t *schema, const json_t *value,
                      ab_kw_t *kw)
{
    kw->check = ab_kw_check_all_of;
    return ab_kw_compile_list (cc, value, kw, AB_KW_NON_EMPTY);
}

int
ab_kw_compile_any_of (ab_cc_t *cc, const json_t *schema, const json_t *value,
                      ab_kw_t *kw)
{
    kw->check = ab_kw_check_any_of;
    return ab_kw_compile_list (cc, value, kw, AB_KW_NON_EMPTY);
}

int
ab_kw_compile_one_of (ab_cc_t *cc, const json_t *schema, const json_t *value,
                      ab_kw_t *kw)
{
    kw->check = ab_kw_check_one_of;
    return ab_kw_compile_list (cc, value, kw, AB_KW_NON_EMPTY);
}

/* One subschema: not, propertyNames, unevaluated*. */
int
ab_kw_compile_node (ab_cc_t *cc, const json_t *value, ab_kw_t *kw)
{
    kw->u.node = ab_schema_compile (cc, value, cc->resource);
    return kw->u.node ? 1 : -1;
}

int
ab_kw_compile_not (ab_cc_t *cc, const json_t *schema, const json_t *value,
                   ab_kw_t *kw)
{
    kw->check = s_check_not;
    return ab_kw_compile_node (cc, value, kw);
}

int
ab_kw_compile_unevaluated (ab_cc_t *cc, const json_t *schema,
                           const json_t *value, ab_kw_t *kw)
{
    kw->check = strcmp (kw->def->name, "unevaluatedItems") == 0
                    ? ab_kw_check_unevaluated_items
                    : ab_kw_check_unevaluated_properties;
    return ab_kw_compile_node (cc, value, kw);
}

int
ab_kw_compile_if (ab_cc_t *cc, const json_t *schema, const json_t *value,
                  ab_kw_t *kw)
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
        ab_kw_cc_pop (cc, saved - 3);
    if (then)
        kw->u.cond.then = ab_kw_sub (cc, then, "then", 0);
    if (otherwise)
        kw->u.cond.otherwise = ab_kw_sub (cc, otherwise, "else", 0);
    if (trimmed)
        ab_kw_cc_push (cc, "if", 0);
    bool ok = kw->u.cond.test && (!then || kw->u.cond.then) &&
              (!otherwise || kw->u.cond.otherwise);
    return ok ? 1 : -1;
}

int
ab_kw_compile_ref (ab_cc_t *cc, const json_t *schema, const json_t *value,
                   ab_kw_t *kw)
{
    if (!json_is_string (value)) {
        ab_cc_error (cc, "%s must be a string", kw->def->name);
        return -1;
    }
    kw->check = ab_kw_check_ref;
    kw->u.ref.target =
        ab_registry_resolve (cc, json_string_value (value), NULL);
    return kw->u.ref.target ? 1 : -1;
}

int
ab_kw_compile_dynamic_ref (ab_cc_t *cc, const json_t *schema,
                           const json_t *value, ab_kw_t *kw)
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
