/*  =========================================================================
    ab_schema_array - the array keywords: uniqueItems, prefixItems,
    items, additionalItems, contains, unevaluatedItems

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Each keyword is a check (validation) and a compile function (arguments
    parsed once), named in the keyword table of ab_schema.c; items marks
    what it evaluated for unevaluatedItems (see the design note there).
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

static bool
s_check_unique (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
                ab_kw_eval_t *eval)
{
    size_t size = json_array_size (inst);
    for (size_t i = 0; i < size; i++)
        for (size_t j = i + 1; j < size; j++)
            if (ab_kw_equal (json_array_get (inst, i),
                             json_array_get (inst, j))) {
                if (ab_kw_reporting (ctx))
                    ab_kw_error (ctx, "items %zu and %zu are equal", i, j);
                return false;
            }
    return true;
}

bool
ab_kw_check_prefix_items (ab_kw_ctx_t *ctx, const ab_kw_t *kw,
                          const json_t *inst, ab_kw_eval_t *eval)
{
    size_t size = json_array_size (inst);
    size_t n = size < kw->u.list.count ? size : kw->u.list.count;
    bool ok = true;
    for (size_t i = 0; i < n; i++)
        if (!ab_kw_eval_child (ctx, kw->u.list.nodes[i],
                               json_array_get (inst, i), NULL, i, NULL, true,
                               i)) {
            ok = false;
            if (!ab_kw_reporting (ctx))
                return false;
        }
    if (eval && n > eval->items)
        eval->items = n;
    return ok;
}

/* items (2020-12, after prefixItems), draft-07 items as a schema, and
   draft-07 additionalItems. */
static bool
s_check_items (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
               ab_kw_eval_t *eval)
{
    bool ok = true;
    size_t size = json_array_size (inst);
    for (size_t i = kw->u.items.from; i < size; i++)
        if (!ab_kw_eval_child (ctx, kw->u.items.node, json_array_get (inst, i),
                               NULL, i, NULL, false, 0)) {
            ok = false;
            if (!ab_kw_reporting (ctx))
                return false;
        }
    if (eval && size > kw->u.items.from)
        eval->all_items = true;
    return ok;
}

static bool
s_check_contains (ab_kw_ctx_t *ctx, const ab_kw_t *kw, const json_t *inst,
                  ab_kw_eval_t *eval)
{
    size_t size = json_array_size (inst), matches = 0;
    bool bounded = kw->u.contains.max != SIZE_MAX;
    ctx->quiet++;
    for (size_t i = 0; i < size; i++) {
        if (!ab_kw_eval_child (ctx, kw->u.contains.node,
                               json_array_get (inst, i), NULL, i, NULL, false,
                               0))
            continue;
        matches++;
        ab_kw_eval_mark_item (ctx, eval, i, size);
        if (!eval && !bounded && matches >= kw->u.contains.min)
            break;
    }
    ctx->quiet--;
    if (ctx->limit || ctx->oom)
        return false;
    if (matches >= kw->u.contains.min && matches <= kw->u.contains.max)
        return true;
    if (!ab_kw_reporting (ctx))
        return false;
    if (matches == 0)
        ab_kw_error (ctx, "no item matches the contains schema");
    else if (matches < kw->u.contains.min)
        ab_kw_error (ctx,
                     "%zu items match the contains schema, fewer than "
                     "minContains %zu",
                     matches, kw->u.contains.min);
    else
        ab_kw_error (ctx,
                     "%zu items match the contains schema, more than "
                     "maxContains %zu",
                     matches, kw->u.contains.max);
    return false;
}

bool
ab_kw_check_unevaluated_items (ab_kw_ctx_t *ctx, const ab_kw_t *kw,
                               const json_t *inst, ab_kw_eval_t *eval)
{
    bool ok = true;
    size_t size = json_array_size (inst);
    for (size_t i = 0; i < size; i++) {
        if (ab_kw_eval_has_item (eval, i))
            continue;
        if (!ab_kw_eval_child (ctx, kw->u.node, json_array_get (inst, i), NULL,
                               i, NULL, false, 0)) {
            ok = false;
            if (!ab_kw_reporting (ctx))
                return false;
        }
    }
    if (ok)
        eval->all_items = true;
    return ok;
}

int
ab_kw_compile_unique (ab_cc_t *cc, const json_t *schema, const json_t *value,
                      ab_kw_t *kw)
{
    if (!json_is_boolean (value)) {
        ab_cc_error (cc, "uniqueItems must be a boolean");
        return -1;
    }
    kw->check = s_check_unique;
    return json_is_true (value) ? 1 : 0;
}

int
ab_kw_compile_prefix_items (ab_cc_t *cc, const json_t *schema,
                            const json_t *value, ab_kw_t *kw)
{
    kw->check = ab_kw_check_prefix_items;
    return ab_kw_compile_list (cc, value, kw, AB_KW_MAY_BE_EMPTY);
}

/* items: 2020-12 a schema after prefixItems; draft-07 a schema or a list
   (then it works as prefixItems does). */
int
ab_kw_compile_items (ab_cc_t *cc, const json_t *schema, const json_t *value,
                     ab_kw_t *kw)
{
    if (json_is_array (value) && cc->resource->dialect == D_7) {
        kw->check = ab_kw_check_prefix_items;
        return ab_kw_compile_list (cc, value, kw, AB_KW_MAY_BE_EMPTY);
    }
    kw->check = s_check_items;
    kw->u.items.from =
        json_array_size (json_object_get (schema, "prefixItems"));
    if (cc->resource->dialect == D_7)
        kw->u.items.from = 0;
    kw->u.items.node = ab_schema_compile (cc, value, cc->resource);
    return kw->u.items.node ? 1 : -1;
}

int
ab_kw_compile_additional_items (ab_cc_t *cc, const json_t *schema,
                                const json_t *value, ab_kw_t *kw)
{
    const json_t *items = json_object_get (schema, "items");
    if (!json_is_array (items))
        return 0;
    kw->check = s_check_items;
    kw->u.items.from = json_array_size (items);
    kw->u.items.node = ab_schema_compile (cc, value, cc->resource);
    return kw->u.items.node ? 1 : -1;
}

int
ab_kw_compile_contains (ab_cc_t *cc, const json_t *schema, const json_t *value,
                        ab_kw_t *kw)
{
    kw->check = s_check_contains;
    kw->u.contains.min = 1;
    kw->u.contains.max = SIZE_MAX;
    if (cc->resource->dialect == D_2020) {
        const json_t *min = json_object_get (schema, "minContains");
        const json_t *max = json_object_get (schema, "maxContains");
        if ((min && !ab_kw_count_value (min, &kw->u.contains.min)) ||
            (max && !ab_kw_count_value (max, &kw->u.contains.max))) {
            ab_cc_error (cc, "minContains/maxContains must be non-negative "
                             "integers");
            return -1;
        }
    }
    kw->u.contains.node = ab_schema_compile (cc, value, cc->resource);
    return kw->u.contains.node ? 1 : -1;
}
