/*  =========================================================================
    ab_patch - RFC 6902 JSON Patch, compiled once, applied many times

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Design: every op keeps its pointers as unescaped tokens, each with the
    array index it spells (or S_NOT_INDEX, or S_APPEND for `-`), decided
    at compile time; whether a token meets an object or an array is only
    known when the patch runs. Apply deep-copies the document once and
    runs the ops on the copy in place, so a failure part-way leaves the
    caller's document as it was (RFC 6902 §5: the whole patch fails).
*/

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "schema/ab_patch.h"

#define S_NOT_INDEX (-1) /* the token is not an array index */
#define S_APPEND (-2)    /* the token is `-`: after the last item */

/* The ops, with the members each one needs (RFC 6902 §4). */
static const struct {
    const char *name;     /* the `op` member */
    ab_patch_kind_t kind; /* what it does */
    bool value;           /* needs `value` */
    bool from;            /* needs `from` */
} s_ops[] = {
    {"add", AB_PATCH_ADD, true, false},
    {"remove", AB_PATCH_REMOVE, false, false},
    {"replace", AB_PATCH_REPLACE, true, false},
    {"move", AB_PATCH_MOVE, false, true},
    {"copy", AB_PATCH_COPY, false, true},
    {"test", AB_PATCH_TEST, true, false},
};

/* One reference token of a JSON Pointer. */
typedef struct {
    char *name; /* unescaped (~1 is '/', ~0 is '~') */
    long index; /* the array index it spells, S_NOT_INDEX or S_APPEND */
} s_token_t;

/* A parsed JSON Pointer. */
typedef struct {
    char *text;         /* as written, for messages */
    s_token_t *token;   /* the tokens (owned array) */
    const char **names; /* token[i].name, for ab_patch_op_tokens (owned) */
    size_t count;       /* entries in token; 0 is the whole document */
} s_pointer_t;

/* One compiled op. */
typedef struct {
    ab_patch_kind_t kind; /* what it does */
    const char *name;     /* its name, for messages */
    s_pointer_t path;     /* `path` */
    s_pointer_t from;     /* `from` (move, copy) */
    json_t *value;        /* `value` (add, replace, test; own reference) */
} s_op_t;

struct _ab_patch_t {
    s_op_t *ops;  /* the ops in order (owned array) */
    size_t count; /* entries in ops */
};

static void
s_error (ab_patch_error_t *error, long op, const char *format, ...)
{
    if (!error)
        return;
    error->op = op;
    va_list args;
    va_start (args, format);
    vsnprintf (error->message, sizeof error->message, format, args);
    va_end (args);
}

/* The array index a token spells: RFC 6901 §4, no leading zeros. */
static long
s_index_of (const char *name)
{
    if (strcmp (name, "-") == 0)
        return S_APPEND;
    size_t n = strlen (name);
    if (n == 0 || n > 18 || (name[0] == '0' && n > 1))
        return S_NOT_INDEX;
    for (size_t i = 0; i < n; i++)
        if (name[i] < '0' || name[i] > '9')
            return S_NOT_INDEX;
    return strtol (name, NULL, 10);
}

static void
s_pointer_free (s_pointer_t *pointer)
{
    for (size_t i = 0; i < pointer->count; i++)
        free (pointer->token[i].name);
    free (pointer->token);
    free (pointer->names);
    free (pointer->text);
    *pointer = (s_pointer_t){0};
}

/* Parses a JSON Pointer; returns a reason when it is not one. */
static const char *
s_pointer_parse (const char *text, s_pointer_t *pointer)
{
    *pointer = (s_pointer_t){0};
    if (text[0] != '\0' && text[0] != '/')
        return "a JSON Pointer is empty or starts with '/'";
    if (!(pointer->text = strdup (text)))
        return "out of memory";
    size_t slashes = 0;
    for (const char *p = text; *p; p++)
        slashes += *p == '/';
    pointer->token = calloc (slashes ? slashes : 1, sizeof (s_token_t));
    pointer->names = calloc (slashes ? slashes : 1, sizeof (char *));
    if (!pointer->token || !pointer->names)
        return "out of memory";
    const char *at = text;
    while (*at == '/') {
        at++;
        size_t n = strcspn (at, "/");
        char *name = malloc (n + 1), *out = name;
        if (!name)
            return "out of memory";
        pointer->names[pointer->count] = name;
        pointer->token[pointer->count++].name = name;
        for (size_t i = 0; i < n; i++) {
            if (at[i] != '~')
                *out++ = at[i];
            else if (i + 1 < n && (at[i + 1] == '0' || at[i + 1] == '1'))
                *out++ = at[++i] == '0' ? '~' : '/';
            else
                return "'~' must be followed by 0 or 1 (RFC 6901 escapes)";
        }
        *out = '\0';
        pointer->token[pointer->count - 1].index = s_index_of (name);
        at += n;
    }
    return NULL;
}

/* Compiles op `index` into *op; returns false after setting *error. */
static bool
s_op_compile (const json_t *json, size_t index, s_op_t *op,
              ab_patch_error_t *error)
{
    long at = (long)index;
    if (!json_is_object (json)) {
        s_error (error, at, "op %zu: an operation must be an object", index);
        return false;
    }
    const char *name = json_string_value (json_object_get (json, "op"));
    size_t k = 0;
    while (name && k < sizeof s_ops / sizeof s_ops[0] &&
           strcmp (s_ops[k].name, name) != 0)
        k++;
    if (!name || k == sizeof s_ops / sizeof s_ops[0]) {
        s_error (error, at,
                 name ? "op %zu: unknown op \"%s\" (add, remove, replace, "
                        "move, copy, test)"
                      : "op %zu: missing \"op\" string%s",
                 index, name ? name : "");
        return false;
    }
    op->kind = s_ops[k].kind;
    op->name = s_ops[k].name;
    const char *path = json_string_value (json_object_get (json, "path"));
    const char *from = json_string_value (json_object_get (json, "from"));
    const json_t *value = json_object_get (json, "value");
    const char *why = NULL;
    if (!path)
        why = "needs a string \"path\"";
    else if (s_ops[k].from && !from)
        why = "needs a string \"from\"";
    else if (s_ops[k].value && !value)
        why = "needs a \"value\"";
    else if ((why = s_pointer_parse (path, &op->path)) == NULL && s_ops[k].from)
        why = s_pointer_parse (from, &op->from);
    if (why) {
        s_error (error, at, "op %zu (%s %s): %s", index, name,
                 path ? path : "?", why);
        return false;
    }
    if (s_ops[k].value && !(op->value = json_deep_copy (value))) {
        s_error (error, at, "op %zu: out of memory", index);
        return false;
    }
    return true;
}

ab_patch_t *
ab_patch_new (const json_t *ops, ab_patch_error_t *error)
{
    if (!json_is_array (ops)) {
        s_error (error, -1, "a patch must be an array of operations");
        return NULL;
    }
    ab_patch_t *self = calloc (1, sizeof *self);
    size_t count = json_array_size (ops);
    if (self)
        self->ops = calloc (count ? count : 1, sizeof (s_op_t));
    if (!self || !self->ops) {
        free (self);
        s_error (error, -1, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        self->count = i + 1; /* so destroy frees a half-compiled op */
        if (!s_op_compile (json_array_get (ops, i), i, &self->ops[i], error)) {
            ab_patch_destroy (&self);
            return NULL;
        }
    }
    self->count = count;
    return self;
}

void
ab_patch_destroy (ab_patch_t **self_p)
{
    assert (self_p);
    ab_patch_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++) {
        s_pointer_free (&self->ops[i].path);
        s_pointer_free (&self->ops[i].from);
        json_decref (self->ops[i].value);
    }
    free (self->ops);
    free (self);
    *self_p = NULL;
}

size_t
ab_patch_size (const ab_patch_t *self)
{
    assert (self);
    return self->count;
}

ab_patch_kind_t
ab_patch_op_kind (const ab_patch_t *self, size_t index)
{
    assert (self && index < self->count);
    return self->ops[index].kind;
}

size_t
ab_patch_op_tokens (const ab_patch_t *self, size_t index, bool from,
                    const char *const **tokens_p)
{
    assert (self && index < self->count && tokens_p);
    const s_pointer_t *pointer =
        from ? &self->ops[index].from : &self->ops[index].path;
    *tokens_p = pointer->names;
    return pointer->count;
}

const json_t *
ab_patch_op_value (const ab_patch_t *self, size_t index)
{
    assert (self && index < self->count);
    return self->ops[index].value;
}

/*  -------------------------------------------------------------------------
    Applying */

int
ab_patch_json_equal (const json_t *a, const json_t *b)
{
    if (json_is_number (a) && json_is_number (b)) {
        if (json_is_integer (a) && json_is_integer (b))
            return json_integer_value (a) == json_integer_value (b);
        return json_number_value (a) == json_number_value (b);
    }
    if (json_typeof (a) != json_typeof (b))
        return 0;
    if (json_is_array (a)) {
        if (json_array_size (a) != json_array_size (b))
            return 0;
        for (size_t i = 0; i < json_array_size (a); i++)
            if (!ab_patch_json_equal (json_array_get (a, i),
                                      json_array_get (b, i)))
                return 0;
        return 1;
    }
    if (json_is_object (a)) {
        if (json_object_size (a) != json_object_size (b))
            return 0;
        const char *key;
        json_t *value;
        json_object_foreach ((json_t *)a, key, value)
        {
            const json_t *other = json_object_get (b, key);
            if (!other || !ab_patch_json_equal (value, other))
                return 0;
        }
        return 1;
    }
    return json_equal (a, b);
}

/* The member or item `token` names in `node`, or NULL. */
static json_t *
s_child (json_t *node, const s_token_t *token)
{
    if (json_is_object (node))
        return json_object_get (node, token->name);
    if (json_is_array (node) && token->index >= 0)
        return json_array_get (node, (size_t)token->index);
    return NULL;
}

/* The value a pointer's first `count` tokens lead to, or NULL with the
   reason in *why. */
static json_t *
s_walk (json_t *root, const s_pointer_t *pointer, size_t count,
        const char **why)
{
    json_t *node = root;
    for (size_t i = 0; node && i < count; i++)
        node = s_child (node, &pointer->token[i]);
    if (!node)
        *why = "path does not exist";
    return node;
}

/* Adds `value` (a reference the call takes) at `path` in *root_p. */
static const char *
s_add (json_t **root_p, const s_pointer_t *path, json_t *value)
{
    const char *why = NULL;
    if (path->count == 0) {
        json_decref (*root_p);
        *root_p = value;
        return NULL;
    }
    json_t *parent = s_walk (*root_p, path, path->count - 1, &why);
    const s_token_t *last = &path->token[path->count - 1];
    if (json_is_object (parent))
        why = json_object_set_new (parent, last->name, value) == 0
                  ? NULL
                  : "out of memory";
    else if (json_is_array (parent)) {
        size_t size = json_array_size (parent);
        if (last->index == S_APPEND)
            why =
                json_array_append_new (parent, value) ? "out of memory" : NULL;
        else if (last->index >= 0 && (size_t)last->index <= size)
            why = json_array_insert_new (parent, (size_t)last->index, value)
                      ? "out of memory"
                      : NULL;
        else {
            json_decref (value);
            why = last->index == S_NOT_INDEX ? "not an array index"
                                             : "array index out of range";
        }
        return why;
    } else {
        json_decref (value);
        return why ? why : "the parent is neither an object nor an array";
    }
    return why;
}

/* Removes the value at `path` from root; *removed_p (if not NULL)
   receives a reference to it. */
static const char *
s_remove (json_t *root, const s_pointer_t *path, json_t **removed_p)
{
    const char *why = NULL;
    if (path->count == 0)
        return "cannot remove the whole document";
    json_t *parent = s_walk (root, path, path->count - 1, &why);
    const s_token_t *last = &path->token[path->count - 1];
    json_t *target = parent ? s_child (parent, last) : NULL;
    if (parent && !target)
        why = "path does not exist";
    if (!target)
        return why;
    if (removed_p)
        *removed_p = json_incref (target);
    if (json_is_object (parent))
        json_object_del (parent, last->name);
    else
        json_array_remove (parent, (size_t)last->index);
    return NULL;
}

/* True when `inner` is `outer` or inside it. */
static bool
s_is_prefix (const s_pointer_t *outer, const s_pointer_t *inner)
{
    if (outer->count > inner->count)
        return false;
    for (size_t i = 0; i < outer->count; i++)
        if (strcmp (outer->token[i].name, inner->token[i].name) != 0)
            return false;
    return true;
}

/* Runs one op on *root_p; returns why it failed, or NULL. */
static const char *
s_run (const s_op_t *op, json_t **root_p)
{
    const char *why = NULL;
    json_t *target, *value = NULL;
    switch (op->kind) {
    case AB_PATCH_ADD:
        return s_add (root_p, &op->path, json_deep_copy (op->value));
    case AB_PATCH_REMOVE:
        return s_remove (*root_p, &op->path, NULL);
    case AB_PATCH_REPLACE:
        if (!s_walk (*root_p, &op->path, op->path.count, &why))
            return why;
        if (op->path.count == 0)
            return s_add (root_p, &op->path, json_deep_copy (op->value));
        if ((why = s_remove (*root_p, &op->path, NULL)))
            return why;
        return s_add (root_p, &op->path, json_deep_copy (op->value));
    case AB_PATCH_MOVE:
        if (s_is_prefix (&op->from, &op->path)) {
            if (op->from.count == op->path.count)
                return s_walk (*root_p, &op->from, op->from.count, &why) ? NULL
                                                                         : why;
            return "cannot move a value into itself";
        }
        if ((why = s_remove (*root_p, &op->from, &value)))
            return why;
        return s_add (root_p, &op->path, value);
    case AB_PATCH_COPY:
        target = s_walk (*root_p, &op->from, op->from.count, &why);
        return target ? s_add (root_p, &op->path, json_deep_copy (target))
                      : why;
    case AB_PATCH_TEST:
        target = s_walk (*root_p, &op->path, op->path.count, &why);
        if (!target)
            return why;
        return ab_patch_json_equal (target, op->value) ? NULL
                                                       : "test failed: the "
                                                         "value differs";
    }
    return "unknown op";
}

int
ab_patch_apply (const ab_patch_t *self, const json_t *document,
                json_t **result_p, ab_patch_error_t *error)
{
    assert (self && document && result_p);
    *result_p = NULL;
    json_t *copy = json_deep_copy (document);
    if (!copy) {
        s_error (error, -1, "out of memory");
        return AB_ENOMEM;
    }
    for (size_t i = 0; i < self->count; i++) {
        const s_op_t *op = &self->ops[i];
        const char *why = s_run (op, &copy);
        if (why) {
            s_error (error, (long)i, "op %zu (%s %s): %s", i, op->name,
                     op->path.text, why);
            json_decref (copy);
            return strcmp (why, "out of memory") == 0 ? AB_ENOMEM : AB_EINVAL;
        }
    }
    *result_p = copy;
    return 0;
}
