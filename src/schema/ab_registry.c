/*  =========================================================================
    ab_registry - schema documents, their URIs, and `$ref` resolution

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    The registry (ab_registry.h; the design note is at the top of
    ab_schema.c). Adding a document indexes it: every schema object
    reached through a subschema keyword is mapped to its resource (the
    nearest `$id`, the base for `$ref`s inside), and every `$id`,
    `$anchor` and `$dynamicAnchor` is entered as an absolute URI (RFC 3986
    resolution, ab_uri) in `targets`. Unknown keywords are not walked, so
    an `$id` inside, say, an `enum` value names nothing. Remote documents
    are read only from folders mapped with ab_registry_map_remote.

    The lookups read a sorted array built at the end of a compile, never
    a hash table: a zhashx lookup updates the table's cursor, and lookups
    may come from several threads at once.
*/

#include <assert.h>
#include <ctype.h>
#include <czmq.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "common/ab_decimal.h"
#include "schema/ab_metaschemas.h"
#include "schema/ab_registry.h"
#include "schema/ab_schema.h"
#include "schema/ab_schema_int.h"
#include "schema/ab_translate.h"
#include "schema/ab_uri.h"
#include "common/ab_yaml.h"

#define S_DEFAULT_ERRORS 16 /* max_errors when the options say 0 */

/* One added document. */
typedef struct {
    json_t *root;    /* the document (own reference) */
    char *file;      /* file name for messages, or NULL */
    char *type;      /* agentbus type, or NULL for bare schemas */
    int version;     /* agentbus version, 0 for bare schemas */
    char *uri;       /* the URI it was added under */
    ab_yaml_t *yaml; /* positions when loaded from YAML (owned) */
} s_doc_t;

/* A `$ref` URL prefix served from a folder. */
typedef struct {
    char *prefix; /* "http://localhost:1234/" */
    char *dir;    /* folder holding the files */
} s_remote_t;

/*  -------------------------------------------------------------------------
    Indexing documents: resources, $id, anchors */

/* Keywords whose values hold subschemas, and how. */
typedef enum { K_ONE, K_LIST, K_MAP, K_ONE_OR_LIST } s_shape_t;

static const struct {
    const char *name; /* the keyword */
    s_shape_t shape;  /* where its subschemas are */
} s_applicators[] = {
    {"$defs", K_MAP},
    {"definitions", K_MAP},
    {"properties", K_MAP},
    {"patternProperties", K_MAP},
    {"dependentSchemas", K_MAP},
    {"dependencies", K_MAP},
    {"items", K_ONE_OR_LIST},
    {"prefixItems", K_LIST},
    {"allOf", K_LIST},
    {"anyOf", K_LIST},
    {"oneOf", K_LIST},
    {"additionalItems", K_ONE},
    {"additionalProperties", K_ONE},
    {"unevaluatedItems", K_ONE},
    {"unevaluatedProperties", K_ONE},
    {"contains", K_ONE},
    {"propertyNames", K_ONE},
    {"not", K_ONE},
    {"if", K_ONE},
    {"then", K_ONE},
    {"else", K_ONE},
    {"contentSchema", K_ONE},
};

static size_t
s_ptr_hash (const void *key)
{
    return (size_t)((uintptr_t)key >> 4);
}

static int
s_ptr_compare (const void *a, const void *b)
{
    return (uintptr_t)a < (uintptr_t)b ? -1 : (uintptr_t)a > (uintptr_t)b;
}

static void
s_resource_destroy (void **item)
{
    ab_resource_t *res = *item;
    if (!res)
        return;
    free (res->uri);
    free (res->dynamic);
    free (res);
    *item = NULL;
}

static ab_dialect_t
s_dialect_of (const json_t *schema, ab_dialect_t inherited)
{
    const char *uri = json_string_value (json_object_get (schema, "$schema"));
    if (!uri)
        return inherited;
    if (strstr (uri, "draft-07") || strstr (uri, "draft-06") ||
        strstr (uri, "draft-04"))
        return D_7;
    if (strstr (uri, "2020-12") || strstr (uri, "2019-09"))
        return D_2020;
    return inherited;
}

/* Enters an absolute URI for a schema; the first name wins. */
static int
s_name (ab_registry_t *self, const char *uri, const json_t *json,
        ab_resource_t *res)
{
    if (zhashx_lookup (self->targets, uri))
        return AB_EEXIST;
    ab_target_t *target = malloc (sizeof *target);
    if (!target)
        return AB_ENOMEM;
    *target = (ab_target_t){json, res};
    zhashx_insert (self->targets, uri, target);
    return 0;
}

static ab_resource_t *
s_resource_new (ab_registry_t *self, const char *uri, const json_t *root,
                ab_dialect_t dialect, const char *file)
{
    ab_resource_t *res = calloc (1, sizeof *res);
    if (!res || !(res->uri = strdup (uri))) {
        free (res);
        return NULL;
    }
    char *hash = strchr (res->uri, '#');
    if (hash)
        *hash = '\0';
    res->root = root;
    res->dialect = dialect;
    res->file = file;
    zlistx_add_end (self->resources, res);
    return res;
}

static int s_index (ab_registry_t *self, const json_t *json, ab_resource_t *res,
                    bool root, int depth, ab_diag_t *diag);

static int
s_index_children (ab_registry_t *self, const json_t *json, ab_resource_t *res,
                  int depth, ab_diag_t *diag)
{
    int rc = 0;
    for (size_t i = 0; i < sizeof s_applicators / sizeof s_applicators[0];
         i++) {
        const json_t *value = json_object_get (json, s_applicators[i].name);
        s_shape_t shape = s_applicators[i].shape;
        if (!value)
            continue;
        if (shape == K_MAP && json_is_object (value)) {
            const char *key;
            json_t *item;
            json_object_foreach ((json_t *)value, key, item) rc =
                rc ? rc : s_index (self, item, res, false, depth, diag);
        } else if ((shape == K_LIST || shape == K_ONE_OR_LIST) &&
                   json_is_array (value)) {
            for (size_t k = 0; k < json_array_size (value); k++)
                rc = rc ? rc
                        : s_index (self, json_array_get (value, k), res, false,
                                   depth, diag);
        } else if (shape != K_LIST && shape != K_MAP)
            rc = rc ? rc : s_index (self, value, res, false, depth, diag);
    }
    return rc;
}

/* The two kinds of anchor. */
typedef enum {
    S_STATIC,  /* $anchor (and draft-07's "#name" $id) */
    S_DYNAMIC, /* $dynamicAnchor: also found by name in the dynamic scope */
} s_anchor_t;

/* Enters `name` (an anchor) of res as res->uri#name. */
static int
s_anchor (ab_registry_t *self, ab_resource_t *res, const char *name,
          const json_t *json, s_anchor_t kind)
{
    bool dynamic = kind == S_DYNAMIC;
    char *uri = malloc (strlen (res->uri) + strlen (name) + 2);
    if (!uri)
        return AB_ENOMEM;
    sprintf (uri, "%s#%s", res->uri, name);
    int rc = s_name (self, uri, json, res);
    free (uri);
    if (rc == AB_EEXIST && dynamic)
        rc = 0; /* a $dynamicAnchor may repeat its $anchor name */
    if (rc != 0 || !dynamic)
        return rc;
    ab_entry_t *grown =
        realloc (res->dynamic, (res->dynamic_count + 1) * sizeof (ab_entry_t));
    if (!grown)
        return AB_ENOMEM;
    res->dynamic = grown;
    /* the node is compiled with the resource (s_compile_anchors) */
    res->dynamic[res->dynamic_count++] = (ab_entry_t){.key = name};
    return 0;
}

/* $id of a subschema: a new resource (or a draft-07 "#name" anchor). */
static int
s_index_id (ab_registry_t *self, const json_t *json, ab_resource_t **res_p)
{
    ab_resource_t *res = *res_p;
    const char *id = json_string_value (json_object_get (json, "$id"));
    if (!id || (res->dialect == D_7 && json_object_get (json, "$ref")))
        return 0;
    if (id[0] == '#')
        return res->dialect == D_7
                   ? s_anchor (self, res, id + 1, json, S_STATIC)
                   : 0;
    char *uri = ab_uri_resolve (res->uri, id);
    if (!uri)
        return AB_ENOMEM;
    char *hash = strchr (uri, '#');
    if (hash)
        *hash = '\0';
    ab_resource_t *child = s_resource_new (
        self, uri, json, s_dialect_of (json, res->dialect), res->file);
    if (child)
        child->yaml = res->yaml;
    int rc = child ? s_name (self, uri, json, child) : AB_ENOMEM;
    free (uri);
    if (rc == 0)
        *res_p = child;
    return rc;
}

static int
s_index (ab_registry_t *self, const json_t *json, ab_resource_t *res, bool root,
         int depth, ab_diag_t *diag)
{
    if (!json_is_object (json))
        return 0;
    if (depth > AB_SCHEMA_MAX_NESTING)
        return AB_ELIMIT;
    int rc = root ? 0 : s_index_id (self, json, &res);
    if (rc == AB_EEXIST) {
        ab_diag_add (diag, res->file, 0, 0, "duplicate $id \"%s\"",
                     json_string_value (json_object_get (json, "$id")));
        return rc;
    }
    if (rc != 0)
        return rc;
    zhashx_update (self->locations, json, res);
    const char *anchor = json_string_value (json_object_get (json, "$anchor"));
    const char *dynamic =
        json_string_value (json_object_get (json, "$dynamicAnchor"));
    if (res->dialect == D_2020 && anchor)
        rc = s_anchor (self, res, anchor, json, S_STATIC);
    if (rc == 0 && res->dialect == D_2020 && dynamic)
        rc = s_anchor (self, res, dynamic, json, S_DYNAMIC);
    if (rc == AB_EEXIST)
        ab_diag_add (diag, res->file, 0, 0, "duplicate anchor \"%s\"",
                     anchor ? anchor : dynamic);
    return rc ? rc : s_index_children (self, json, res, depth + 1, diag);
}

/*  -------------------------------------------------------------------------
    Documents and remote files */

static void
s_doc_destroy (void **item)
{
    s_doc_t *doc = *item;
    if (!doc)
        return;
    json_decref (doc->root);
    free (doc->file);
    free (doc->type);
    free (doc->uri);
    ab_yaml_destroy (&doc->yaml);
    free (doc);
    *item = NULL;
}

/* Indexes a document under `uri` (and its own $id). */
static int
s_add_document (ab_registry_t *self, json_t *root, const char *type,
                int version, const char *file, ab_yaml_t **yaml_p,
                const char *uri, ab_dialect_t dialect, ab_diag_t *diag)
{
    s_doc_t *doc = calloc (1, sizeof *doc);
    if (!doc)
        return AB_ENOMEM;
    if (yaml_p) {
        doc->yaml = *yaml_p;
        *yaml_p = NULL;
    }
    doc->root = json_incref (root);
    doc->version = version;
    doc->file = file ? strdup (file) : NULL;
    doc->type = type ? strdup (type) : NULL;
    doc->uri = strdup (uri);
    zlistx_add_end (self->docs, doc);
    if ((file && !doc->file) || (type && !doc->type) || !doc->uri)
        return AB_ENOMEM;
    dialect = s_dialect_of (root, dialect);
    const char *id = json_string_value (json_object_get (root, "$id"));
    bool use_id = id && id[0] != '#' &&
                  !(dialect == D_7 && json_object_get (root, "$ref"));
    char *base = use_id ? ab_uri_resolve (uri, id) : strdup (uri);
    ab_resource_t *res =
        base ? s_resource_new (self, base, root, dialect, doc->file) : NULL;
    free (base);
    if (!res)
        return AB_ENOMEM;
    res->yaml = doc->yaml;
    int rc = s_name (self, res->uri, root, res);
    if (rc == 0 && strcmp (res->uri, uri) != 0)
        rc = s_name (self, uri, root, res);
    if (rc == AB_EEXIST)
        ab_diag_add (diag, doc->file, 0, 0,
                     "a schema with URI \"%s\" is "
                     "already registered",
                     res->uri);
    if (rc == 0 && json_is_object (root) && !use_id && id && id[0] == '#')
        rc = s_anchor (self, res, id + 1, root, S_STATIC);
    return rc ? rc : s_index (self, root, res, true, 0, diag);
}

/* Reads a schema file: YAML (kept for positions) when it is named
   .yaml/.yml, else JSON. */
static json_t *
s_read_file (const char *path, ab_diag_t *diag, ab_yaml_t **yaml_p)
{
    size_t n = strlen (path);
    *yaml_p = NULL;
    if ((n > 5 && strcmp (path + n - 5, ".yaml") == 0) ||
        (n > 4 && strcmp (path + n - 4, ".yml") == 0)) {
        *yaml_p = ab_yaml_load_file (path, diag);
        return *yaml_p ? json_incref (ab_yaml_root (*yaml_p)) : NULL;
    }
    json_error_t error;
    json_t *root =
        json_load_file (path, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    if (!root)
        ab_diag_add (diag, path, error.line > 0 ? error.line : 0,
                     error.column > 0 ? error.column : 0, "%s", error.text);
    return root;
}

/* Loads the file behind a remote URI (no fragment) mapped by
   ab_registry_map_remote. Returns its target, or NULL. */
static ab_target_t *
s_load_remote (ab_cc_t *cc, const char *uri)
{
    s_remote_t *remote = zlistx_first (cc->registry->remotes);
    for (; remote; remote = zlistx_next (cc->registry->remotes)) {
        size_t n = strlen (remote->prefix);
        if (strncmp (uri, remote->prefix, n) != 0)
            continue;
        const char *rest = uri + n;
        if (strstr (rest, "..") || strchr (rest, '?'))
            return NULL; /* never leave the mapped folder */
        char *path = malloc (strlen (remote->dir) + strlen (rest) + 2);
        if (!path)
            return NULL;
        sprintf (path, "%s/%s", remote->dir, rest);
        ab_yaml_t *yaml;
        json_t *root = s_read_file (path, cc->diag, &yaml);
        int rc = root
                     ? s_add_document (cc->registry, root, NULL, 0, path, &yaml,
                                       uri, cc->resource->dialect, cc->diag)
                     : AB_ENOENT;
        ab_yaml_destroy (&yaml);
        json_decref (root);
        free (path);
        return rc == 0 ? zhashx_lookup (cc->registry->targets, uri) : NULL;
    }
    return NULL;
}

/*  -------------------------------------------------------------------------
    Resolving references */

/* Percent-decodes a URI fragment in place. */
static void
s_percent_decode (char *text)
{
    char *out = text;
    for (char *p = text; *p; p++) {
        if (p[0] == '%' && isxdigit ((unsigned char)p[1]) &&
            isxdigit ((unsigned char)p[2])) {
            char hex[3] = {p[1], p[2], 0};
            *out++ = (char)strtol (hex, NULL, 16);
            p += 2;
        } else
            *out++ = *p;
    }
    *out = '\0';
}

/* Follows a JSON Pointer from json; the resource changes when the walk
   enters a subschema with its own $id. */
static const json_t *
s_walk_pointer (ab_registry_t *self, const json_t *json, char *pointer,
                ab_resource_t **res_p)
{
    char *token = pointer;
    while (json && *token == '/') {
        token++;
        char *end = strchr (token, '/');
        if (end)
            *end = '\0';
        char *out = token;
        for (char *p = token; *p; p++) { /* ~1 is '/', ~0 is '~' */
            if (p[0] == '~' && (p[1] == '0' || p[1] == '1'))
                *out++ = *++p == '0' ? '~' : '/';
            else
                *out++ = *p;
        }
        *out = '\0';
        if (json_is_object (json))
            json = json_object_get (json, token);
        else if (json_is_array (json)) {
            char *tail;
            unsigned long index = strtoul (token, &tail, 10);
            json = *token && !*tail ? json_array_get (json, index) : NULL;
        } else
            json = NULL;
        ab_resource_t *res =
            json ? zhashx_lookup (self->locations, json) : NULL;
        if (res)
            *res_p = res;
        if (!end)
            break;
        *end = '/';
        token = end;
    }
    return json;
}

/* Adds the built-in metaschema named by `uri` (ab_metaschemas), if it is
   one. Returns its target, or NULL. */
static ab_target_t *
s_load_builtin (ab_cc_t *cc, const char *uri)
{
    const char *text = ab_metaschema_text (uri);
    if (!text)
        return NULL;
    json_error_t error;
    json_t *root = json_loads (text, 0, &error);
    int rc = root ? s_add_document (cc->registry, root, NULL, 0, uri, NULL, uri,
                                    D_2020, cc->diag)
                  : AB_ESYNTAX;
    json_decref (root);
    return rc == 0 ? zhashx_lookup (cc->registry->targets, uri) : NULL;
}

/* Finds what an absolute URI (without fragment) names, loading a mapped
   remote file, else a built-in metaschema, when nothing registered has
   it. */
static ab_target_t *
s_find (ab_cc_t *cc, const char *uri)
{
    ab_target_t *target = zhashx_lookup (cc->registry->targets, uri);
    if (!target)
        target = s_load_remote (cc, uri);
    return target ? target : s_load_builtin (cc, uri);
}

/* The vocabularies of a resource whose `$schema` is a custom metaschema
   with `$vocabulary` (loaded like any `$ref`); the standard dialects
   have them all. format-assertion makes `format` assert. */
void
ab_registry_vocabularies (ab_cc_t *cc, ab_resource_t *res)
{
    static const struct {
        const char *suffix; /* end of the vocabulary URI */
        unsigned bit;       /* V_* */
    } vocabularies[] = {
        {"/vocab/core", V_CORE},
        {"/vocab/applicator", V_APPLICATOR},
        {"/vocab/validation", V_VALIDATION},
        {"/vocab/unevaluated", V_UNEVALUATED},
        {"/vocab/format-annotation", V_FORMAT},
        {"/vocab/format-assertion", V_FORMAT},
    };
    res->vocab_checked = true;
    res->vocabularies = V_ALL;
    const char *meta =
        json_string_value (json_object_get (res->root, "$schema"));
    if (!meta || strstr (meta, "://json-schema.org/"))
        return;
    char *uri = strdup (meta);
    char *hash = uri ? strchr (uri, '#') : NULL;
    if (hash)
        *hash = '\0';
    ab_resource_t *outer = cc->resource;
    cc->resource = res;
    ab_target_t *target = uri ? s_find (cc, uri) : NULL;
    cc->resource = outer;
    free (uri);
    const json_t *vocab =
        target ? json_object_get (target->json, "$vocabulary") : NULL;
    if (!json_is_object (vocab))
        return;
    res->vocabularies = V_CORE | V_AGENTBUS;
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *)vocab, key, value)
    {
        size_t n = strlen (key);
        for (size_t i = 0; i < sizeof vocabularies / sizeof vocabularies[0];
             i++) {
            size_t m = strlen (vocabularies[i].suffix);
            if (n >= m && strcmp (key + n - m, vocabularies[i].suffix) == 0)
                res->vocabularies |= vocabularies[i].bit;
        }
        if (n > 17 && strcmp (key + n - 17, "/format-assertion") == 0)
            res->format_assert = true;
    }
}

/* Resolves a `$ref`/`$dynamicRef` against the current base and compiles
   its target. For $dynamicRef (anchor_p not NULL), *anchor_p is the
   anchor name when the target is itself a $dynamicAnchor of that name
   (then the dynamic scope decides at validation time), else NULL. */
ab_schema_t *
ab_registry_resolve (ab_cc_t *cc, const char *ref, const char **anchor_p)
{
    char *uri = ab_uri_resolve (cc->resource->uri, ref);
    if (!uri) {
        ab_cc_error (cc, "out of memory");
        return NULL;
    }
    char *fragment = strchr (uri, '#');
    if (fragment)
        *fragment++ = '\0';
    ab_target_t *target = s_find (cc, uri);
    const json_t *json = target ? target->json : NULL;
    ab_resource_t *res = target ? target->resource : NULL;
    if (json && fragment && *fragment) {
        s_percent_decode (fragment);
        if (fragment[0] == '/')
            json = s_walk_pointer (cc->registry, json, fragment, &res);
        else {
            fragment[-1] = '#';
            ab_target_t *anchor = zhashx_lookup (cc->registry->targets, uri);
            json = anchor ? anchor->json : NULL;
            res = anchor ? anchor->resource : NULL;
            fragment[-1] = '\0';
        }
    }
    if (anchor_p) {
        const char *hash = strchr (ref, '#');
        const char *name =
            json_string_value (json_object_get (json, "$dynamicAnchor"));
        *anchor_p =
            hash && name && strcmp (hash + 1, name) == 0 ? hash + 1 : NULL;
    }
    free (uri);
    if (!json) {
        ab_cc_error (cc, "cannot resolve $ref \"%s\"", ref);
        return NULL;
    }
    return ab_schema_compile (cc, json, res);
}

/*  -------------------------------------------------------------------------
    The registry */

static zhashx_t *
s_pointer_map (void)
{
    zhashx_t *map = zhashx_new ();
    if (map) {
        zhashx_set_key_hasher (map, s_ptr_hash);
        zhashx_set_key_comparator (map, s_ptr_compare);
        zhashx_set_key_duplicator (map, NULL);
        zhashx_set_key_destructor (map, NULL);
    }
    return map;
}

static void
s_target_destroy (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_remote_destroy (void **item)
{
    s_remote_t *remote = *item;
    if (remote) {
        free (remote->prefix);
        free (remote->dir);
        free (remote);
        *item = NULL;
    }
}

ab_registry_t *
ab_registry_new (const ab_registry_options_t *options)
{
    ab_registry_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (options)
        self->options = *options;
    if (self->options.max_errors == 0)
        self->options.max_errors = S_DEFAULT_ERRORS;
    self->targets = zhashx_new ();
    self->locations = s_pointer_map ();
    self->nodes = s_pointer_map ();
    self->resources = zlistx_new ();
    self->docs = zlistx_new ();
    self->remotes = zlistx_new ();
    self->versions = ab_translate_new ();
    if (!self->targets || !self->locations || !self->nodes ||
        !self->resources || !self->docs || !self->remotes || !self->versions) {
        ab_registry_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->targets, s_target_destroy);
    zhashx_set_destructor (self->nodes, ab_schema_node_destroy);
    zlistx_set_destructor (self->resources, s_resource_destroy);
    zlistx_set_destructor (self->docs, s_doc_destroy);
    zlistx_set_destructor (self->remotes, s_remote_destroy);
    self->true_node = (ab_schema_t){.registry = self, .boolean = 1};
    self->false_node = (ab_schema_t){.registry = self, .boolean = 0};
    return self;
}

static void
s_index_clear (ab_registry_t *self)
{
    for (size_t i = 0; i < self->index_count; i++)
        free (self->index[i].uri);
    free (self->index);
    self->index = NULL;
    self->index_count = 0;
}

void
ab_registry_destroy (ab_registry_t **self_p)
{
    assert (self_p);
    ab_registry_t *self = *self_p;
    if (!self)
        return;
    s_index_clear (self);
    zhashx_destroy (&self->nodes);
    zhashx_destroy (&self->targets);
    zhashx_destroy (&self->locations);
    zlistx_destroy (&self->resources);
    zlistx_destroy (&self->docs);
    zlistx_destroy (&self->remotes);
    ab_translate_destroy (&self->versions);
    free (self);
    *self_p = NULL;
}

int
ab_registry_map_remote (ab_registry_t *self, const char *prefix,
                        const char *dir)
{
    assert (self && prefix && dir);
    s_remote_t *remote = calloc (1, sizeof *remote);
    if (!remote)
        return AB_ENOMEM;
    remote->prefix = strdup (prefix);
    remote->dir = strdup (dir);
    zlistx_add_end (self->remotes, remote);
    return remote->prefix && remote->dir ? 0 : AB_ENOMEM;
}

/* Type names as in files-and-commands.md: [a-z0-9][a-z0-9._-]*, <= 128. */
static bool
s_type_name_valid (const char *type)
{
    size_t n = strlen (type);
    if (n == 0 || n > 128 ||
        !(islower ((unsigned char)type[0]) || isdigit ((unsigned char)type[0])))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!islower ((unsigned char)type[i]) &&
            !isdigit ((unsigned char)type[i]) && !strchr ("._-", type[i]))
            return false;
    return true;
}

/* Adds a document under agentbus:TYPE/VERSION or a fresh URN. */
static int
s_register (ab_registry_t *self, json_t *schema, const char *type, int version,
            const char *file, ab_yaml_t **yaml_p, const char *bare_uri,
            ab_diag_t *diag)
{
    if (!json_is_object (schema) && !json_is_boolean (schema)) {
        ab_diag_add (diag, file, 0, 0,
                     "a schema must be an object or a boolean");
        return AB_EINVAL;
    }
    char uri[4200];
    if (type) {
        if (!s_type_name_valid (type) || version < 1) {
            ab_diag_add (diag, file, 0, 0,
                         "bad schema name \"%s\" version %d (type "
                         "[a-z0-9][a-z0-9._-]*, version >= 1)",
                         type, version);
            return AB_EINVAL;
        }
        snprintf (uri, sizeof uri, "agentbus:%s/%d", type, version);
    } else if (bare_uri)
        snprintf (uri, sizeof uri, "%s", bare_uri);
    else
        snprintf (uri, sizeof uri, "urn:agentbus:schema:%u", ++self->anonymous);
    return s_add_document (self, schema, type, version, file, yaml_p, uri,
                           D_2020, diag);
}

int
ab_registry_add (ab_registry_t *self, json_t *schema, const char *type,
                 int version, const char *file, ab_diag_t *diag)
{
    assert (self && schema);
    return s_register (self, schema, type, version, file, NULL, NULL, diag);
}

/* The keys of an agentbus schema file. */
static const char *s_file_keys[] = {"type",   "version",   "description",
                                    "schema", "translate", "compatibility"};
#define S_FILE_KEYS (sizeof s_file_keys / sizeof s_file_keys[0])

/* Reads TYPE/VERSION from an agentbus schema file's mapping. */
static int
s_file_header (const json_t *root, const char *path, const ab_yaml_t *yaml,
               ab_diag_t *diag, const char **type_p, int *version_p)
{
    int rc = 0;
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *)root, key, value)
    {
        size_t i = 0;
        while (i < S_FILE_KEYS && strcmp (key, s_file_keys[i]) != 0)
            i++;
        if (i < S_FILE_KEYS)
            continue;
        ab_pos_t pos =
            yaml ? ab_yaml_key_pos (yaml, root, key) : (ab_pos_t){0, 0};
        ab_diag_add (diag, path, pos.line, pos.column,
                     "unknown key \"%s\" in a schema file (type, version, "
                     "description, schema, translate, compatibility)",
                     key);
        rc = AB_EINVAL;
    }
    const json_t *version = json_object_get (root, "version");
    *type_p = json_string_value (json_object_get (root, "type"));
    if (!*type_p) {
        ab_pos_t pos = yaml ? ab_yaml_root_pos (yaml) : (ab_pos_t){0, 0};
        ab_diag_add (diag, path, pos.line, pos.column,
                     "a schema file needs a string \"type\"");
        rc = AB_EINVAL;
    }
    if (!json_is_integer (version) || json_integer_value (version) < 1 ||
        json_integer_value (version) > INT_MAX) {
        ab_pos_t pos =
            yaml ? ab_yaml_value_pos (yaml, root, "version") : (ab_pos_t){0, 0};
        ab_diag_add (diag, path, pos.line, pos.column,
                     "\"version\" must be an integer >= 1");
        rc = AB_EINVAL;
    } else
        *version_p = (int)json_integer_value (version);
    return rc;
}

int
ab_registry_load_file (ab_registry_t *self, const char *path, ab_diag_t *diag,
                       const char **type_p, int *version_p)
{
    assert (self && path);
    ab_yaml_t *yaml;
    json_t *root = s_read_file (path, diag, &yaml);
    if (!root)
        return AB_ESYNTAX;
    const char *type = NULL;
    int version = 0, rc = 0;
    json_t *schema = root;
    if (json_is_object (root) && json_object_get (root, "version") &&
        json_object_get (root, "schema")) {
        rc = s_file_header (root, path, yaml, diag, &type, &version);
        schema = json_object_get (root, "schema");
    }
    /* a bare schema file is named by its absolute file: URI */
    char *real = type ? NULL : realpath (path, NULL);
    char *uri = real ? malloc (strlen (real) + 8) : NULL;
    if (uri)
        sprintf (uri, "file://%s", real);
    if (rc == 0)
        rc = s_register (self, schema, type, version, path, &yaml, uri, diag);
    if (rc == 0 && type) /* the registry's doc now owns the positions */
        rc = ab_translate_add_file (self->versions, type, version, root,
                                    ((s_doc_t *)zlistx_last (self->docs))->yaml,
                                    path, diag);
    free (real);
    free (uri);
    ab_yaml_destroy (&yaml);
    json_decref (root);
    if (rc != 0)
        return rc;
    s_doc_t *doc = zlistx_last (self->docs);
    if (type_p)
        *type_p = doc->type;
    if (version_p)
        *version_p = doc->version;
    return 0;
}

static int
s_public_compare (const void *a, const void *b)
{
    return strcmp (((const ab_public_t *)a)->uri,
                   ((const ab_public_t *)b)->uri);
}

static void
s_index_add (ab_registry_t *self, const char *uri, const ab_schema_t *node,
             size_t capacity)
{
    if (!node || self->index_count >= capacity)
        return;
    char *copy = strdup (uri);
    if (copy)
        self->index[self->index_count++] = (ab_public_t){copy, node};
}

/* Rebuilds the sorted table the lookups read: agentbus names first
   (docs), then every resource URI. */
static int
s_index_build (ab_registry_t *self)
{
    s_index_clear (self);
    size_t capacity = zlistx_size (self->docs) + zlistx_size (self->resources);
    self->index = calloc (capacity ? capacity : 1, sizeof (ab_public_t));
    if (!self->index)
        return AB_ENOMEM;
    s_doc_t *doc = zlistx_first (self->docs);
    for (; doc; doc = zlistx_next (self->docs))
        s_index_add (self, doc->uri,
                     json_is_boolean (doc->root)
                         ? (json_is_true (doc->root) ? &self->true_node
                                                     : &self->false_node)
                         : zhashx_lookup (self->nodes, doc->root),
                     capacity);
    ab_resource_t *res = zlistx_first (self->resources);
    for (; res; res = zlistx_next (self->resources))
        s_index_add (self, res->uri, zhashx_lookup (self->nodes, res->root),
                     capacity);
    qsort (self->index, self->index_count, sizeof (ab_public_t),
           s_public_compare);
    return 0;
}

/* Checks the schema files' translations and declared compatibility
   against every typed document, and builds the chains (ab_translate). */
static int
s_versions_compile (ab_registry_t *self, ab_diag_t *diag)
{
    ab_translate_begin (self->versions);
    s_doc_t *doc = zlistx_first (self->docs);
    for (; doc; doc = zlistx_next (self->docs))
        if (doc->type &&
            ab_translate_note (self->versions, doc->type, doc->version,
                               doc->root, doc->file) != 0)
            return AB_ENOMEM;
    return ab_translate_compile (self->versions, self, diag);
}

int
ab_registry_compile (ab_registry_t *self, ab_diag_t *diag)
{
    assert (self);
    ab_cc_t *cc = calloc (1, sizeof *cc);
    if (!cc)
        return AB_ENOMEM;
    cc->registry = self;
    cc->diag = diag;
    /* by position: compiling may append remote documents to the list */
    for (size_t done = 0; done < zlistx_size (self->docs); done++) {
        s_doc_t *doc = zlistx_first (self->docs);
        for (size_t i = 0; i < done; i++)
            doc = zlistx_next (self->docs);
        ab_target_t *target = zhashx_lookup (self->targets, doc->uri);
        if (!target)
            continue;
        cc->resource = target->resource;
        cc->path_length = 0;
        cc->path[0] = '\0';
        ab_schema_compile (cc, doc->root, target->resource);
    }
    ab_schema_check_cycles (cc);
    /* nodes of a failed compile stay cached but incomplete, so a later
   compile must not report success over them */
    if (cc->errors)
        self->failed = true;
    else if (self->failed)
        ab_diag_add (diag, NULL, 0, 0, "the schemas failed to compile before");
    int rc = self->failed ? AB_EINVAL : s_index_build (self);
    if (rc == 0)
        rc = s_versions_compile (self, diag);
    free (cc);
    return rc;
}

const ab_schema_t *
ab_registry_lookup (const ab_registry_t *self, const char *type, int version)
{
    /* "agentbus:TYPE/VERSION", written by hand rather than with snprintf:
       every PUB looks its schema up */
    static const char prefix[] = "agentbus:";
    char uri[200], digits[AB_DECIMAL_SIZE];
    size_t type_length = strlen (type);
    size_t count = ab_decimal_i64 (digits, version);
    size_t at = sizeof prefix - 1;
    if (at + type_length + 1 + count + 1 > sizeof uri)
        return NULL; /* longer than any type the topology allows */
    memcpy (uri, prefix, at);
    memcpy (uri + at, type, type_length);
    at += type_length;
    uri[at++] = '/';
    memcpy (uri + at, digits, count + 1);
    return ab_registry_lookup_id (self, uri);
}

const ab_schema_t *
ab_registry_lookup_id (const ab_registry_t *self, const char *uri)
{
    assert (self && uri);
    if (!self->index)
        return NULL;
    size_t n = strlen (uri);
    char small[256];
    char *key = n < sizeof small ? small : malloc (n + 1);
    if (!key)
        return NULL;
    memcpy (key, uri, n + 1);
    if (n && key[n - 1] == '#')
        key[n - 1] = '\0';
    ab_public_t probe = {key, NULL};
    const ab_public_t *found = bsearch (&probe, self->index, self->index_count,
                                        sizeof (ab_public_t), s_public_compare);
    if (key != small)
        free (key);
    return found ? found->node : NULL;
}

void
ab_registry_versions_lenient (ab_registry_t *self)
{
    assert (self);
    ab_translate_set_lenient (self->versions, true);
}

const ab_translate_t *
ab_registry_translations (const ab_registry_t *self)
{
    assert (self);
    return self->versions;
}

int
ab_registry_add_versions (ab_registry_t *self, const char *type, int version,
                          const json_t *root, const ab_yaml_t *yaml,
                          const char *file, ab_diag_t *diag)
{
    assert (self && type && root);
    return ab_translate_add_file (self->versions, type, version, root, yaml,
                                  file, diag);
}
