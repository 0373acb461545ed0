/*  =========================================================================
    ab_patch - RFC 6902 JSON Patch, compiled once, applied many times

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    A patch is compiled from a jansson array of operations: each op is
    checked (`add remove replace move copy test`, the members each needs)
    and its `path`/`from` parsed into JSON Pointer tokens (RFC 6901, `~0`
    and `~1` unescaped, array indexes and `-` recognised), so applying
    one does no parsing. Applying is all-or-nothing: the ops run on a
    copy and the input is never touched; on failure the copy is dropped
    and the error names the op that failed and why. A compiled patch is
    immutable and may be applied from several threads at once.
*/

#ifndef AB_PATCH_H_INCLUDED
#define AB_PATCH_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct _ab_patch_t ab_patch_t;

/* Where and why a patch could not be compiled or applied. */
typedef struct {
    long op;           /* index of the op at fault; -1: the patch itself */
    char message[256]; /* "op 2 (move /a): ..." */
} ab_patch_error_t;

/* Compiles an RFC 6902 patch (a JSON array of op objects). Returns NULL
   when it is malformed, with the op index and the reason in *error
   (which may be NULL). Keeps no reference to `ops`. */
ab_patch_t *ab_patch_new (const json_t *ops, ab_patch_error_t *error);

/* Destroys a patch; accepts NULL and nulls the caller's pointer. */
void ab_patch_destroy (ab_patch_t **self_p);

/* The number of ops. */
size_t ab_patch_size (const ab_patch_t *self);

/* Applies the patch to `document`, which is not modified. Returns 0 and
   sets *result_p to a new value (the caller's), or AB_EINVAL when an op
   fails (a missing path, a false `test`, an index out of range) with
   *result_p NULL and the failed op in *error (which may be NULL);
   AB_ENOMEM when memory runs out. */
int ab_patch_apply (const ab_patch_t *self, const json_t *document,
                    json_t **result_p, ab_patch_error_t *error);

/* What an op does, for callers that reason about a patch (ab_translate
   checks that its paths exist in every valid source payload). */
typedef enum {
    AB_PATCH_ADD,
    AB_PATCH_REMOVE,
    AB_PATCH_REPLACE,
    AB_PATCH_MOVE,
    AB_PATCH_COPY,
    AB_PATCH_TEST,
} ab_patch_kind_t;

/* Op `index`'s kind. */
ab_patch_kind_t ab_patch_op_kind (const ab_patch_t *self, size_t index);

/* The unescaped tokens of op `index`'s `path` (or `from`, when `from`):
   returns how many, and sets *tokens_p to a borrowed array of them. */
size_t ab_patch_op_tokens (const ab_patch_t *self, size_t index, bool from,
                           const char *const **tokens_p);

/* Op `index`'s `value` (borrowed), or NULL for remove, move and copy. */
const json_t *ab_patch_op_value (const ab_patch_t *self, size_t index);

/* JSON equality as RFC 6902 `test` defines it: numbers by value (1 and
   1.0 are equal), objects regardless of member order. */
int ab_patch_json_equal (const json_t *a, const json_t *b);

#endif
