/*  =========================================================================
    ab_translate - translations between versions of a type, compiled at
    load, and the declared compatibility of consecutive versions

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Design: files (what ab_translate_add_file read: patches, declared
    relation, positions) are kept in the order added; a compile builds,
    from the versions the registry noted, one sorted array of types, each
    with its sorted versions, and for each version every chain it starts,
    newest target first. A chain's steps point at the files' compiled
    patches, so nothing is copied or parsed again. The version graph of a
    type is small (a handful of versions), so the chains are found by a
    breadth-first search from each version, keeping per target the best
    path under the order "shorter, then newer intermediates first"; that
    order has optimal substructure (a best path's prefix is a best path),
    so one path per node suffices.
*/

#include <assert.h>
#include <czmq.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "schema/ab_patch.h"
#include "schema/ab_translate.h"

/* One `translate:` entry of a file. */
typedef struct {
    int from;          /* the version it translates from */
    ab_patch_t *patch; /* compiled (owned) */
    ab_pos_t pos;      /* where `from` is written */
    ab_pos_t *op_pos;  /* where each op is written (owned array) */
} s_decl_t;

/* What one schema file said beyond its schema. */
typedef struct {
    char *type;            /* its type */
    int version;           /* its version */
    char *file;            /* for messages */
    s_decl_t *decls;       /* its translations (owned array) */
    size_t decl_count;     /* entries in decls */
    int compat;            /* declared ab_compat_t, -1 when not stated */
    ab_pos_t compat_pos;   /* where the declaration is written */
    const ab_yaml_t *yaml; /* positions in the file (borrowed, see .h) */
    const json_t *root;    /* the file's mapping, same lifetime as yaml */
} s_file_t;

/* One step of a chain. */
typedef struct {
    int from;                /* source version */
    int to;                  /* target version */
    const ab_patch_t *patch; /* the target file's patch (borrowed) */
} s_step_t;

struct _ab_chain_t {
    const char *type;          /* the type (borrowed from s_type_t) */
    int from;                  /* where it starts */
    int to;                    /* where it ends */
    const ab_schema_t *target; /* the schema of `to` */
    s_step_t *steps;           /* in order (owned array) */
    size_t count;              /* entries in steps */
};

/* One version of a type, after a compile. */
typedef struct {
    int version;            /* the version */
    const json_t *schema;   /* its schema (borrowed from the registry) */
    const char *file;       /* its file, or NULL */
    s_file_t *extras;       /* what its file declared, or NULL */
    ab_chain_t *chains;     /* from it to each version reached, newest first */
    size_t chain_count;     /* entries in chains */
    int previous;           /* the version before it, 0 for the first */
    ab_compat_t holds;      /* relations shown against `previous` */
    ab_compat_why_t why[2]; /* why backward [0] / forward [1] do not hold */
} s_version_t;

/* One type, after a compile. */
typedef struct {
    char *name;            /* the type */
    s_version_t *versions; /* ascending (owned array) */
    size_t count;          /* entries in versions */
} s_type_t;

struct _ab_translate_t {
    zlistx_t *files;   /* s_file_t, in the order added (owner) */
    s_type_t *types;   /* sorted by name (owned array) */
    size_t type_count; /* entries in types */
    size_t type_room;  /* allocated entries in types */
    bool lenient;      /* only some versions may be loaded (see .h) */
};

/*  -------------------------------------------------------------------------
    Files */

static void
s_file_destroy (void **item)
{
    s_file_t *file = *item;
    if (!file)
        return;
    for (size_t i = 0; i < file->decl_count; i++) {
        ab_patch_destroy (&file->decls[i].patch);
        free (file->decls[i].op_pos);
    }
    free (file->decls);
    free (file->type);
    free (file->file);
    free (file);
    *item = NULL;
}

static ab_pos_t
s_value_pos (const ab_yaml_t *yaml, const json_t *object, const char *key)
{
    return yaml ? ab_yaml_value_pos (yaml, object, key) : (ab_pos_t){0, 0};
}

/* Reads one `translate:` item into decl. */
static int
s_decl_read (s_file_t *file, const json_t *list, size_t index, s_decl_t *decl,
             ab_diag_t *diag)
{
    const json_t *item = json_array_get (list, index);
    const ab_yaml_t *yaml = file->yaml;
    ab_pos_t at = yaml ? ab_yaml_item_pos (yaml, list, index) : (ab_pos_t){0};
    if (!json_is_object (item)) {
        ab_diag_add (diag, file->file, at.line, at.column,
                     "translate: each entry is a mapping {from, patch}");
        return AB_EINVAL;
    }
    int rc = 0;
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *)item, key, value)
    {
        if (strcmp (key, "from") == 0 || strcmp (key, "patch") == 0)
            continue;
        ab_pos_t pos =
            yaml ? ab_yaml_key_pos (yaml, item, key) : (ab_pos_t){0, 0};
        ab_diag_add (diag, file->file, pos.line, pos.column,
                     "translate: unknown key \"%s\" (from, patch)", key);
        rc = AB_EINVAL;
    }
    const json_t *from = json_object_get (item, "from");
    decl->pos = from ? s_value_pos (yaml, item, "from") : at;
    if (!json_is_integer (from) || json_integer_value (from) < 1 ||
        json_integer_value (from) > INT32_MAX) {
        ab_diag_add (diag, file->file, decl->pos.line, decl->pos.column,
                     "translate: \"from\" must be a version (integer >= 1)");
        return AB_EINVAL;
    }
    decl->from = (int)json_integer_value (from);
    const json_t *ops = json_object_get (item, "patch");
    ab_patch_error_t error = {0};
    decl->patch = ops ? ab_patch_new (ops, &error) : NULL;
    if (!decl->patch) {
        ab_pos_t pos = !ops ? at
                       : error.op >= 0 && yaml
                           ? ab_yaml_item_pos (yaml, ops, (size_t)error.op)
                           : s_value_pos (yaml, item, "patch");
        ab_diag_add (diag, file->file, pos.line, pos.column,
                     "translate from version %d: %s", decl->from,
                     ops ? error.message
                         : "needs a \"patch\" (an RFC 6902 list of ops)");
        return AB_EINVAL;
    }
    size_t count = ab_patch_size (decl->patch);
    decl->op_pos = calloc (count ? count : 1, sizeof (ab_pos_t));
    if (!decl->op_pos)
        return AB_ENOMEM;
    for (size_t i = 0; yaml && i < count; i++)
        decl->op_pos[i] = ab_yaml_item_pos (yaml, ops, i);
    return rc;
}

static int
s_translate_read (s_file_t *file, const json_t *list, ab_diag_t *diag)
{
    if (!json_is_array (list)) {
        ab_pos_t pos = s_value_pos (file->yaml, file->root, "translate");
        ab_diag_add (diag, file->file, pos.line, pos.column,
                     "translate must be a list of {from, patch}");
        return AB_EINVAL;
    }
    size_t count = json_array_size (list);
    file->decls = calloc (count ? count : 1, sizeof (s_decl_t));
    if (!file->decls)
        return AB_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        s_decl_t decl = {0};
        int one = s_decl_read (file, list, i, &decl, diag);
        for (size_t k = 0; one == 0 && k < file->decl_count; k++)
            if (file->decls[k].from == decl.from) {
                ab_diag_add (diag, file->file, decl.pos.line, decl.pos.column,
                             "translate: a second translation from version "
                             "%d",
                             decl.from);
                one = AB_EINVAL;
            }
        if (one == 0)
            file->decls[file->decl_count++] = decl;
        else {
            ab_patch_destroy (&decl.patch);
            free (decl.op_pos);
        }
        rc = rc ? rc : one;
    }
    return rc;
}

ab_translate_t *
ab_translate_new (void)
{
    ab_translate_t *self = calloc (1, sizeof *self);
    if (self && !(self->files = zlistx_new ())) {
        free (self);
        return NULL;
    }
    if (self)
        zlistx_set_destructor (self->files, s_file_destroy);
    return self;
}

void
ab_translate_destroy (ab_translate_t **self_p)
{
    assert (self_p);
    ab_translate_t *self = *self_p;
    if (!self)
        return;
    ab_translate_begin (self);
    free (self->types);
    zlistx_destroy (&self->files);
    free (self);
    *self_p = NULL;
}

int
ab_translate_add_file (ab_translate_t *self, const char *type, int version,
                       const json_t *root, const ab_yaml_t *yaml,
                       const char *path, ab_diag_t *diag)
{
    assert (self && type && root);
    const json_t *translate = json_object_get (root, "translate");
    const json_t *compat = json_object_get (root, "compatibility");
    if (!translate && !compat)
        return 0;
    s_file_t *file = calloc (1, sizeof *file);
    if (!file)
        return AB_ENOMEM;
    file->type = strdup (type);
    file->file = path ? strdup (path) : NULL;
    file->version = version;
    file->yaml = yaml;
    file->root = yaml ? root : NULL; /* a JSON file's root is not kept */
    file->compat = -1;
    zlistx_add_end (self->files, file);
    if (!file->type || (path && !file->file))
        return AB_ENOMEM;
    int rc = translate ? s_translate_read (file, translate, diag) : 0;
    if (compat) {
        file->compat_pos = s_value_pos (yaml, root, "compatibility");
        file->compat = ab_compat_parse (json_string_value (compat));
        if (file->compat < 0) {
            ab_diag_add (diag, path, file->compat_pos.line,
                         file->compat_pos.column,
                         "compatibility must be none, backward, forward or "
                         "full");
            rc = AB_EINVAL;
        }
    }
    return rc;
}

/*  -------------------------------------------------------------------------
    Versions and types */

static void
s_type_clear (s_type_t *type)
{
    for (size_t v = 0; v < type->count; v++) {
        s_version_t *version = &type->versions[v];
        for (size_t c = 0; c < version->chain_count; c++)
            free (version->chains[c].steps);
        free (version->chains);
    }
    free (type->versions);
    free (type->name);
}

void
ab_translate_begin (ab_translate_t *self)
{
    assert (self);
    for (size_t i = 0; i < self->type_count; i++)
        s_type_clear (&self->types[i]);
    self->type_count = 0;
}

static int
s_type_compare (const void *a, const void *b)
{
    return strcmp (((const s_type_t *)a)->name, ((const s_type_t *)b)->name);
}

static s_type_t *
s_type_find (const ab_translate_t *self, const char *name)
{
    s_type_t probe = {.name = (char *)name};
    return self->types ? bsearch (&probe, self->types, self->type_count,
                                  sizeof (s_type_t), s_type_compare)
                       : NULL;
}

static s_version_t *
s_version_find (const s_type_t *type, int version)
{
    for (size_t i = 0; type && i < type->count; i++)
        if (type->versions[i].version == version)
            return &type->versions[i];
    return NULL;
}

int
ab_translate_note (ab_translate_t *self, const char *name, int version,
                   const json_t *schema, const char *file)
{
    assert (self && name);
    s_type_t *type = NULL;
    for (size_t i = 0; !type && i < self->type_count; i++)
        if (strcmp (self->types[i].name, name) == 0)
            type = &self->types[i];
    if (!type) {
        if (self->type_count == self->type_room) {
            size_t room = self->type_room ? 2 * self->type_room : 8;
            s_type_t *grown = realloc (self->types, room * sizeof (s_type_t));
            if (!grown)
                return AB_ENOMEM;
            self->types = grown;
            self->type_room = room;
        }
        type = &self->types[self->type_count];
        *type = (s_type_t){.name = strdup (name)};
        if (!type->name)
            return AB_ENOMEM;
        self->type_count++;
    }
    s_version_t *grown =
        realloc (type->versions, (type->count + 1) * sizeof (s_version_t));
    if (!grown)
        return AB_ENOMEM;
    type->versions = grown;
    type->versions[type->count++] =
        (s_version_t){.version = version, .schema = schema, .file = file};
    return 0;
}

static int
s_version_compare (const void *a, const void *b)
{
    int x = ((const s_version_t *)a)->version;
    int y = ((const s_version_t *)b)->version;
    return (x > y) - (x < y);
}

/* The file's declared translation into `to` from `from`, or NULL. */
static const s_decl_t *
s_decl (const s_version_t *to, int from)
{
    const s_file_t *file = to->extras;
    for (size_t i = 0; file && i < file->decl_count; i++)
        if (file->decls[i].from == from)
            return &file->decls[i];
    return NULL;
}

/* Is path a (length n) better than path b under "newer first"? */
static bool
s_path_better (const int *a, const int *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return a[i] > b[i];
    return false;
}

/* Builds the chains from version `start` (an index into type->versions)
   by breadth-first search; paths hold version indexes. */
static int
s_chains (s_type_t *type, size_t start, const ab_registry_t *registry)
{
    size_t n = type->count;
    int *length = malloc (n * sizeof (int));
    int *paths = malloc (n * n * sizeof (int)); /* paths[t*n + k] */
    if (!length || !paths) {
        free (length);
        free (paths);
        return AB_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        length[i] = -1;
    length[start] = 0;
    paths[start * n] = (int)start;
    for (int depth = 0; depth < (int)n; depth++)
        for (size_t u = 0; u < n; u++) {
            if (length[u] != depth)
                continue;
            for (size_t w = 0; w < n; w++) {
                if (!s_decl (&type->versions[w], type->versions[u].version))
                    continue;
                int *candidate = &paths[u * n];
                if (length[w] == -1 ||
                    (length[w] == depth + 1 &&
                     s_path_better (candidate, &paths[w * n], depth + 1))) {
                    length[w] = depth + 1;
                    memcpy (&paths[w * n], candidate,
                            (depth + 1) * sizeof (int));
                    paths[w * n + depth + 1] = (int)w;
                }
            }
        }
    s_version_t *from = &type->versions[start];
    from->chains = calloc (n, sizeof (ab_chain_t));
    int rc = from->chains ? 0 : AB_ENOMEM;
    for (size_t t = n; rc == 0 && t-- > 0;) { /* newest target first */
        if (length[t] < 0)
            continue;
        ab_chain_t *chain = &from->chains[from->chain_count++];
        *chain = (ab_chain_t){type->name,
                              from->version,
                              type->versions[t].version,
                              ab_registry_lookup (registry, type->name,
                                                  type->versions[t].version),
                              NULL,
                              (size_t)length[t]};
        chain->steps =
            calloc (length[t] ? (size_t)length[t] : 1, sizeof (s_step_t));
        if (!chain->steps) {
            rc = AB_ENOMEM;
            break;
        }
        for (int k = 0; k < length[t]; k++) {
            const s_version_t *a = &type->versions[paths[t * n + k]];
            const s_version_t *b = &type->versions[paths[t * n + k + 1]];
            chain->steps[k] = (s_step_t){a->version, b->version,
                                         s_decl (b, a->version)->patch};
        }
    }
    free (length);
    free (paths);
    return rc;
}

/*  -------------------------------------------------------------------------
    Checking at load */

/* Where the keyword at JSON Pointer `pointer` of `schema` is written. */
static ab_pos_t
s_keyword_pos (const s_file_t *file, const json_t *schema, const char *pointer)
{
    if (!file || !file->yaml)
        return (ab_pos_t){0, 0};
    ab_pos_t pos = ab_yaml_key_pos (file->yaml, file->root, "schema");
    const json_t *node = schema;
    char token[256];
    const char *at = pointer;
    while (node && *at == '/') {
        at++;
        size_t n = strcspn (at, "/"), used = 0;
        for (size_t i = 0; i < n && used + 1 < sizeof token; i++)
            token[used++] = at[i] == '~' && i + 1 < n
                                ? (at[++i] == '1' ? '/' : '~')
                                : at[i];
        token[used] = '\0';
        at += n;
        if (!*token && !*at)
            break; /* a trailing "/": the node itself */
        if (json_is_object (node)) {
            ab_pos_t here = ab_yaml_key_pos (file->yaml, node, token);
            if (here.line)
                pos = here;
            node = json_object_get (node, token);
        } else if (json_is_array (node)) {
            size_t index = strtoul (token, NULL, 10);
            pos = ab_yaml_item_pos (file->yaml, node, index);
            node = json_array_get (node, index);
        } else
            node = NULL;
    }
    return pos;
}

/* --- Do a patch's paths exist in every valid source payload? ---------

   The ops are simulated on what is known of every valid payload of the
   source version: a member exists when each object on the way is
   `type: object` and lists it in `required`, or when an earlier op
   added it (add: its value is known; move/copy: it is what its source
   was). A removal makes a path and what is under it absent. A schema
   node with a combinator or `$ref` is not reasoned about (the path is
   taken to exist), and once an op touches an array index or `-` the
   rest of the patch is not checked (indexes shift): the check reports
   only paths that are certainly missing from some valid payload. */

/* An op seen so far, as its effect on paths. */
typedef struct {
    bool added;                /* added (else removed) */
    const char *const *tokens; /* where (borrowed from the patch) */
    size_t count;              /* entries in tokens */
    const json_t *value;       /* the added value, or NULL */
    const char *const *source; /* move/copy: where the value came from */
    size_t source_count;       /* entries in source */
    size_t before;             /* effects before its op (for source) */
} s_effect_t;

/* Is `tokens` a prefix of `path`? */
static bool
s_prefix (const char *const *tokens, size_t count, const char *const *path,
          size_t length)
{
    if (count > length)
        return false;
    for (size_t i = 0; i < count; i++)
        if (strcmp (tokens[i], path[i]) != 0)
            return false;
    return true;
}

/* Does `path` exist in every instance of `schema`, by its required
   members alone? */
static bool
s_required_path (const json_t *schema, const char *const *path, size_t length)
{
    static const char *const opaque[] = {"$ref",  "$dynamicRef", "allOf",
                                         "anyOf", "oneOf",       "if"};
    const json_t *node = schema;
    for (size_t i = 0; i < length; i++) {
        for (size_t k = 0; k < sizeof opaque / sizeof opaque[0]; k++)
            if (json_object_get (node, opaque[k]))
                return true;
        const json_t *type = json_object_get (node, "type");
        bool object = (json_is_string (type) &&
                       strcmp (json_string_value (type), "object") == 0) ||
                      (json_is_array (type) && json_array_size (type) == 1 &&
                       json_is_string (json_array_get (type, 0)) &&
                       strcmp (json_string_value (json_array_get (type, 0)),
                               "object") == 0);
        const json_t *required = json_object_get (node, "required");
        bool listed = false;
        for (size_t r = 0; json_is_array (required) &&
                           r < json_array_size (required) && !listed;
             r++)
            listed = json_is_string (json_array_get (required, r)) &&
                     strcmp (json_string_value (json_array_get (required, r)),
                             path[i]) == 0;
        if (!object || !listed)
            return false;
        node = json_object_get (json_object_get (node, "properties"), path[i]);
        if (!node)
            node = json_true ();
    }
    return true;
}

/* Does `path` exist after the first `done` effects? */
static bool
s_exists (const json_t *schema, const s_effect_t *effects, size_t done,
          const char *const *path, size_t length)
{
    for (size_t e = done; e-- > 0;) {
        const s_effect_t *effect = &effects[e];
        if (!s_prefix (effect->tokens, effect->count, path, length))
            continue; /* elsewhere, or deeper than path */
        if (!effect->added)
            return false;
        if (effect->value) {
            const json_t *node = effect->value;
            for (size_t i = effect->count; node && i < length; i++)
                node = json_object_get (node, path[i]);
            return node != NULL;
        }
        /* moved or copied: the rest of the path under the source */
        const char *rest[64];
        size_t n = effect->source_count + (length - effect->count);
        if (n > 64)
            return true;
        for (size_t i = 0; i < effect->source_count; i++)
            rest[i] = effect->source[i];
        for (size_t i = effect->count; i < length; i++)
            rest[effect->source_count + i - effect->count] = path[i];
        return s_exists (schema, effects, effect->before, rest, n);
    }
    return s_required_path (schema, path, length);
}

static bool
s_has_index (const char *const *tokens, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp (tokens[i], "-") == 0 ||
            strspn (tokens[i], "0123456789") == strlen (tokens[i]))
            return true;
    return false;
}

/* Checks one translation's paths against the source schema. */
static int
s_paths_check (const s_file_t *file, const s_decl_t *decl, const json_t *source,
               ab_diag_t *diag)
{
    size_t count = ab_patch_size (decl->patch);
    s_effect_t *effects = calloc (2 * count + 1, sizeof (s_effect_t));
    if (!effects)
        return AB_ENOMEM;
    size_t done = 0;
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        size_t before = done;
        ab_patch_kind_t kind = ab_patch_op_kind (decl->patch, i);
        const char *const *path, *const *from = NULL;
        size_t length = ab_patch_op_tokens (decl->patch, i, false, &path);
        size_t from_length = 0;
        if (kind == AB_PATCH_MOVE || kind == AB_PATCH_COPY)
            from_length = ab_patch_op_tokens (decl->patch, i, true, &from);
        if (s_has_index (path, length) || s_has_index (from, from_length))
            break; /* indexes shift: not followed (see above) */
        const char *const *target = from ? from : path;
        size_t target_length = from ? from_length : length;
        bool whole = kind == AB_PATCH_REMOVE || kind == AB_PATCH_REPLACE ||
                     kind == AB_PATCH_TEST || from;
        const char *missing = NULL;
        if (whole && !s_exists (source, effects, done, target, target_length))
            missing = from ? "from" : "path";
        else if ((kind == AB_PATCH_ADD || from) && length > 0 &&
                 !s_exists (source, effects, done, path, length - 1))
            missing = "parent of path";
        if (missing) {
            ab_pos_t pos = decl->op_pos[i];
            ab_diag_add (diag, file->file, pos.line, pos.column,
                         "translate from version %d: op %zu: its %s does not "
                         "exist in every valid payload of version %d (not "
                         "required, or removed by an earlier op)",
                         decl->from, i, missing, decl->from);
            rc = AB_EINVAL;
        }
        if (kind == AB_PATCH_MOVE)
            effects[done++] =
                (s_effect_t){.tokens = from, .count = from_length};
        if (kind == AB_PATCH_REMOVE || kind == AB_PATCH_REPLACE ||
            kind == AB_PATCH_ADD)
            effects[done++] =
                (s_effect_t){.added = kind != AB_PATCH_REMOVE,
                             .tokens = path,
                             .count = length,
                             .value = ab_patch_op_value (decl->patch, i)};
        else if (from)
            effects[done++] = (s_effect_t){.added = true,
                                           .tokens = path,
                                           .count = length,
                                           .source = from,
                                           .source_count = from_length,
                                           .before = before};
    }
    free (effects);
    return rc;
}

/* Reports a declared relation that was not shown. */
static void
s_compat_error (const s_type_t *type, const s_version_t *version,
                ab_compat_t missing, ab_diag_t *diag)
{
    const s_version_t *older = s_version_find (type, version->previous);
    int which = missing & AB_COMPAT_BACKWARD ? 0 : 1;
    const ab_compat_why_t *why = &version->why[which];
    /* side 0 of backward is the older schema, of forward the newer */
    bool in_newer = (which == 0) == (why->side == 1);
    const s_version_t *at = in_newer ? version : older;
    /* the position is taken in the declaring file, where the edit that
       broke the relation was made: the same pointer, or the deepest part
       of it the newer schema has, else the declaration itself */
    ab_pos_t pos =
        s_keyword_pos (version->extras, version->schema, why->pointer);
    if (!pos.line)
        pos = version->extras->compat_pos;
    const char *file = version->file;
    ab_diag_add (diag, file, pos.line, pos.column,
                 "compatibility: %s %s v%d -> v%d (declared in %s): "
                 "keyword \"%s\" at %s of v%d: %s",
                 which == 0 ? "backward" : "forward",
                 why->verdict == AB_COMPAT_UNDECIDED ? "cannot be shown for"
                                                     : "does not hold for",
                 older->version, version->version, version->file, why->keyword,
                 why->pointer[0] ? why->pointer : "/", at->version,
                 why->message);
}

void
ab_translate_set_lenient (ab_translate_t *self, bool lenient)
{
    assert (self);
    self->lenient = lenient;
}

/* Checks a type's files against its versions; builds its chains. */
static int
s_type_compile (s_type_t *type, const ab_registry_t *registry, bool lenient,
                ab_diag_t *diag)
{
    int rc = 0;
    for (size_t v = 0; v < type->count; v++) {
        s_version_t *version = &type->versions[v];
        version->previous = v ? type->versions[v - 1].version : 0;
        if (v) {
            version->holds =
                ab_compat_check (type->versions[v - 1].schema, version->schema,
                                 &version->why[0], &version->why[1]);
        }
        const s_file_t *file = version->extras;
        for (size_t d = 0; file && d < file->decl_count; d++) {
            const s_decl_t *decl = &file->decls[d];
            const char *problem =
                decl->from == version->version ? "translates its own version "
                                                 "from itself (a loop with no "
                                                 "endpoint)"
                : s_version_find (type, decl->from) ? NULL
                                                    : "names a version that "
                                                      "does not exist";
            if (problem && lenient && decl->from != version->version)
                continue; /* that version is not loaded here */
            if (problem) {
                ab_diag_add (diag, file->file, decl->pos.line, decl->pos.column,
                             "translate from %s version %d to %d: %s",
                             type->name, decl->from, version->version, problem);
                rc = AB_EINVAL;
            } else if (s_paths_check (file, decl,
                                      s_version_find (type, decl->from)->schema,
                                      diag) != 0)
                rc = AB_EINVAL;
        }
        if (!file || file->compat <= 0 || lenient)
            continue;
        if (!v) {
            ab_diag_add (diag, file->file, file->compat_pos.line,
                         file->compat_pos.column,
                         "compatibility: %s v%d is the first version of its "
                         "type; there is nothing to be %s with",
                         type->name, version->version,
                         ab_compat_name ((ab_compat_t)file->compat));
            rc = AB_EINVAL;
            continue;
        }
        ab_compat_t missing = (ab_compat_t)(file->compat & ~version->holds);
        if (missing) {
            s_compat_error (type, version, missing, diag);
            rc = AB_EINVAL;
        }
    }
    for (size_t v = 0; rc == 0 && v < type->count; v++)
        rc = s_chains (type, v, registry);
    return rc;
}

int
ab_translate_compile (ab_translate_t *self, const ab_registry_t *registry,
                      ab_diag_t *diag)
{
    assert (self && registry);
    if (self->type_count) /* qsort of NULL is undefined, even of 0 */
        qsort (self->types, self->type_count, sizeof (s_type_t),
               s_type_compare);
    int rc = 0;
    for (size_t i = 0; i < self->type_count; i++)
        qsort (self->types[i].versions, self->types[i].count,
               sizeof (s_version_t), s_version_compare);
    for (s_file_t *file = zlistx_first (self->files); file;
         file = zlistx_next (self->files)) {
        s_version_t *version =
            s_version_find (s_type_find (self, file->type), file->version);
        if (version)
            version->extras = file; /* the last file added wins */
    }
    for (size_t i = 0; i < self->type_count; i++) {
        int one =
            s_type_compile (&self->types[i], registry, self->lenient, diag);
        rc = rc ? rc : one;
    }
    /* the documents behind the positions may go now (see the header) */
    for (s_file_t *file = zlistx_first (self->files); file;
         file = zlistx_next (self->files))
        file->yaml = NULL, file->root = NULL;
    return rc;
}

/*  -------------------------------------------------------------------------
    Looking up and applying chains */

const ab_chain_t *
ab_translate_chain (const ab_translate_t *self, const char *type, int from,
                    int to)
{
    return ab_translate_route (self, type, from, &to, 1);
}

const ab_chain_t *
ab_translate_route (const ab_translate_t *self, const char *name, int from,
                    const int *accepted, size_t count)
{
    if (!self)
        return NULL;
    const s_version_t *version =
        s_version_find (s_type_find (self, name), from);
    if (!version)
        return NULL;
    bool self_accepted = accepted == NULL;
    for (size_t i = 0; !self_accepted && i < count; i++)
        self_accepted = accepted[i] == from;
    for (size_t c = 0; c < version->chain_count; c++) {
        const ab_chain_t *chain = &version->chains[c];
        bool ok = self_accepted ? chain->to == from : false;
        for (size_t i = 0; !ok && !self_accepted && i < count; i++)
            ok = accepted[i] == chain->to;
        if (ok)
            return chain;
    }
    return NULL;
}

int
ab_chain_from (const ab_chain_t *self)
{
    return self->from;
}

int
ab_chain_to (const ab_chain_t *self)
{
    return self->to;
}

size_t
ab_chain_length (const ab_chain_t *self)
{
    return self->count;
}

int
ab_chain_apply (const ab_chain_t *self, const json_t *payload,
                json_t **result_p, json_t **errors_p)
{
    assert (self && payload && result_p);
    *result_p = NULL;
    if (errors_p)
        *errors_p = NULL;
    json_t *current = json_incref ((json_t *)payload);
    for (size_t i = 0; i < self->count; i++) {
        const s_step_t *step = &self->steps[i];
        json_t *next = NULL;
        ab_patch_error_t error = {0};
        int rc = ab_patch_apply (step->patch, current, &next, &error);
        json_decref (current);
        if (rc != 0) {
            if (errors_p) {
                char *where = zsys_sprintf ("agentbus:%s/%d#/translate",
                                            self->type, step->to);
                char *message =
                    zsys_sprintf ("translation %s v%d -> v%d, %s", self->type,
                                  step->from, step->to, error.message);
                *errors_p =
                    json_pack ("[{s:s, s:s, s:s, s:s}]", "path", "", "keyword",
                               "translate", "schema_path", where ? where : "",
                               "message", message ? message : "");
                zstr_free (&where);
                zstr_free (&message);
            }
            return rc;
        }
        current = next;
    }
    json_t *errors = NULL;
    int rc = self->target ? ab_schema_validate (self->target, current, &errors)
                          : AB_ENOENT;
    if (rc != 0) {
        json_decref (current);
        size_t index;
        json_t *entry;
        json_array_foreach (errors, index, entry)
        {
            const char *message =
                json_string_value (json_object_get (entry, "message"));
            char *text = zsys_sprintf ("after translation %s v%d -> v%d: %s",
                                       self->type, self->from, self->to,
                                       message ? message : "invalid");
            json_object_set_new (entry, "message", json_string (text));
            zstr_free (&text);
        }
        if (errors_p)
            *errors_p = errors;
        else
            json_decref (errors);
        return rc;
    }
    *result_p = current;
    return 0;
}

size_t
ab_translate_versions (const ab_translate_t *self, const char *name,
                       int *versions, size_t room)
{
    const s_type_t *type = self ? s_type_find (self, name) : NULL;
    for (size_t i = 0; type && i < type->count && i < room; i++)
        versions[i] = type->versions[i].version;
    return type ? type->count : 0;
}

const json_t *
ab_translate_schema (const ab_translate_t *self, const char *name, int version)
{
    const s_version_t *found =
        self ? s_version_find (s_type_find (self, name), version) : NULL;
    return found ? found->schema : NULL;
}

char *
ab_translate_compat_report (const ab_translate_t *self)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return NULL;
    for (size_t t = 0; self && t < self->type_count; t++) {
        const s_type_t *type = &self->types[t];
        if (type->count < 2)
            fprintf (out, "%s: v%d only\n", type->name,
                     type->versions[0].version);
        for (size_t v = 1; v < type->count; v++) {
            const s_version_t *version = &type->versions[v];
            int declared = version->extras ? version->extras->compat : -1;
            fprintf (out, "%s v%d -> v%d: %s (declared %s)\n", type->name,
                     version->previous, version->version,
                     ab_compat_name (version->holds),
                     declared < 0 ? "nothing"
                                  : ab_compat_name ((ab_compat_t)declared));
            for (int k = 0; k < 2; k++)
                if (!(version->holds &
                      (k ? AB_COMPAT_FORWARD : AB_COMPAT_BACKWARD)))
                    fprintf (out, "  %s: no: \"%s\" at %s of v%d: %s\n",
                             k ? "forward" : "backward",
                             version->why[k].keyword, version->why[k].pointer,
                             (k == 0) == (version->why[k].side == 1)
                                 ? version->version
                                 : version->previous,
                             version->why[k].message);
        }
    }
    fclose (out);
    return text;
}
