/*  =========================================================================
    ab_topology - the agent graph: agents, message types, edges

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Design note.

    Loading is a checker: every problem in the topology file and its schema
    files goes to the ab_diag_t with its position, and loading goes on
    after a problem so that one `agentbus check` shows them all. Only a
    topology without a single problem is returned; after that it is
    immutable, so routing needs no locks and copies of the pointers
    (edges, names) stay valid while a reference is held.

    Edge options are one table (name, kind, range, where it is stored in
    ab_edge_t); the `defaults:` block and each edge are read by the same
    code, the defaults first into a template edge that every edge starts
    from.

    Routing is the broker's hot path: `routes` maps "AGENT-INDEX\1TYPE" to
    the array of edges from that agent carrying that type (and its request
    edge), built once at load. A lookup formats the key on the stack and
    does one hash probe; it never scans the edge list.

    Cycles are found by an iterative depth-first search with three colours
    over a compact adjacency array (edges sorted by source), linear in
    agents + edges, with an explicit stack instead of recursion so that a
    chain of many thousand agents cannot overflow the C stack.

    Strings in edges (names, types) are borrowed from the topology
    document, which the topology keeps alive.
*/

#include <assert.h>
#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agentbus.h"
#include "common/ab_decimal.h"
#include "schema/ab_translate.h"
#include "topology/ab_topology.h"
#include "common/ab_yaml.h"

#define S_NAME_MAX 128 /* bytes in an agent, type or topology name */

/* The versions registered for one type, ascending. */
typedef struct {
    int *versions; /* ascending */
    char **files;  /* file that declared each version */
    size_t count;  /* entries in both */
} s_type_t;

/* The edges from one agent carrying one type. */
typedef struct {
    const ab_edge_t **edges;  /* in edge-list order */
    size_t count;             /* entries used */
    size_t capacity;          /* entries allocated */
    const ab_edge_t *request; /* the one with `reply`, or NULL */
} s_route_t;

struct _ab_topology_t {
    atomic_int refs;         /* references; the last unref destroys */
    char *name;              /* `topology:` */
    char *id;                /* "NAME@HASH" */
    json_t *root;            /* the topology document; strings borrow it */
    ab_registry_t *registry; /* compiled schemas of the types */
    zhashx_t *types;         /* type name -> s_type_t */
    const char **agents;     /* agent names by index (borrowed keys) */
    size_t agent_count;      /* entries in agents */
    zhashx_t *agent_index;   /* name -> index + 1, as a pointer */
    ab_edge_t *edges;        /* in file order */
    size_t edge_count;       /* entries in edges */
    zhashx_t *routes;        /* "INDEX\1TYPE" -> s_route_t */
    size_t version_count;    /* schema versions, over all types */
    zlistx_t *blocks;        /* memory edges point into (version lists) */
};

/* The state of one load. */
typedef struct {
    ab_topology_t *topo;   /* being built */
    ab_diag_t *diag;       /* where problems go; may be NULL */
    size_t errors;         /* problems found, whether or not diag is NULL */
    ab_yaml_t *doc;        /* the topology document being read */
    char *dir;             /* folder of the topology file, "" or ending '/' */
    uint64_t hash;         /* FNV-1a over the bytes of every file read */
    ab_edge_t defaults;    /* the template every edge starts from */
    zhashx_t *schema_docs; /* schema file name -> its ab_yaml_t */
} s_loader_t;

static void s_error (s_loader_t *self, const char *file, ab_pos_t pos,
                     const char *format, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
s_error (s_loader_t *self, const char *file, ab_pos_t pos, const char *format,
         ...)
{
    va_list args;
    va_start (args, format);
    ab_diag_vadd (self->diag, file, pos.line, pos.column, format, args);
    va_end (args);
    self->errors++;
}

/* No position: the message names only the file. */
#define S_NOWHERE ((ab_pos_t){0, 0})

/* An error in the topology document itself. */
#define S_ERR(self, pos, ...)                                                  \
    s_error ((self), ab_yaml_name ((self)->doc), (pos), __VA_ARGS__)

/* --- Small helpers ---------------------------------------------------- */

/* Agent, type and topology names: [a-z0-9][a-z0-9._-]*, 1..128 bytes. */
static bool
s_valid_name (const char *name)
{
    size_t length = strlen (name);
    if (length == 0 || length > S_NAME_MAX)
        return false;
    if (!strchr ("abcdefghijklmnopqrstuvwxyz0123456789", name[0]))
        return false;
    return strspn (name, "abcdefghijklmnopqrstuvwxyz0123456789._-") == length;
}

/* Levenshtein distance, bounded: names are short table keys. */
static size_t
s_distance (const char *a, const char *b)
{
    size_t la = strlen (a), lb = strlen (b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t above = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diagonal + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diagonal = above;
        }
    }
    return row[lb];
}

/* The closest of `count` names (stride `stride` bytes apart, each starting
   with a `const char *`) within edit distance 2, or NULL. */
static const char *
s_suggest (const char *word, const void *table, size_t count, size_t stride)
{
    const char *best = NULL;
    size_t best_distance = 3;
    for (size_t i = 0; i < count; i++) {
        const char *name =
            *(const char *const *)((const char *)table + i * stride);
        size_t distance = s_distance (word, name);
        if (distance < best_distance) {
            best = name;
            best_distance = distance;
        }
    }
    return best;
}

/* Reports an unknown key, with a near miss from the table if any. */
static void
s_unknown_key (s_loader_t *self, const char *file, ab_pos_t pos,
               const char *what, const char *key, const void *table,
               size_t count, size_t stride)
{
    const char *near = s_suggest (key, table, count, stride);
    if (near)
        s_error (self, file, pos, "unknown %s '%s'; did you mean '%s'?", what,
                 key, near);
    else
        s_error (self, file, pos, "unknown %s '%s'", what, key);
}

static void
s_hash (s_loader_t *self, const char *bytes, size_t length)
{
    for (size_t i = 0; i < length; i++) {
        self->hash ^= (unsigned char)bytes[i];
        self->hash *= 0x100000001b3ULL;
    }
}

/* Reads a whole regular file; NULL with errno set on failure. */
static char *
s_slurp (const char *path, size_t *length_p)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    struct stat info;
    char *text = NULL;
    int status = fstat (fileno (file), &info);
    if (status == 0 && !S_ISREG (info.st_mode)) {
        errno = S_ISDIR (info.st_mode) ? EISDIR : EINVAL;
        status = -1;
    }
    if (status == 0 && (text = malloc ((size_t)info.st_size + 1))) {
        *length_p = fread (text, 1, (size_t)info.st_size, file);
        if (ferror (file))
            zstr_free (&text);
        else
            text[*length_p] = '\0';
    }
    int saved = errno;
    fclose (file);
    errno = saved;
    return text;
}

/* Reads a whole file, hashing it; NULL (with a message) on failure. */
static char *
s_read_file (s_loader_t *self, const char *path, size_t *length_p)
{
    errno = 0;
    char *text = s_slurp (path, length_p);
    if (!text) {
        s_error (self, path, S_NOWHERE, "cannot read: %s",
                 strerror (errno ? errno : EIO));
        return NULL;
    }
    s_hash (self, text, *length_p);
    /* Separates files, so moving bytes between two changes the id. */
    s_hash (self, "\0", 1);
    return text;
}

/* Loads a YAML file, hashing its bytes; NULL after an error. */
static ab_yaml_t *
s_load_yaml (s_loader_t *self, const char *path)
{
    size_t length = 0;
    char *text = s_read_file (self, path, &length);
    if (!text)
        return NULL;
    ab_yaml_t *doc = ab_yaml_load_string (text, length, path, self->diag);
    free (text);
    if (!doc)
        self->errors++;
    return doc;
}

/* --- Schema files ----------------------------------------------------- */

static const char *const s_schema_keys[] = {
    "type", "version", "description", "schema", "translate", "compatibility"};
#define S_SCHEMA_KEYS (sizeof s_schema_keys / sizeof s_schema_keys[0])

static void
s_type_destroy (void **item_p)
{
    s_type_t *type = *item_p;
    if (type) {
        for (size_t i = 0; i < type->count; i++)
            free (type->files[i]);
        free (type->files);
        free (type->versions);
        free (type);
        *item_p = NULL;
    }
}

/* Registers type/version from `file`; false if it was declared before. */
static bool
s_type_add (s_loader_t *self, const char *name, int version, const char *file,
            ab_pos_t pos)
{
    s_type_t *type = zhashx_lookup (self->topo->types, name);
    if (!type) {
        type = calloc (1, sizeof *type);
        if (!type)
            return false;
        zhashx_insert (self->topo->types, name, type);
    }
    size_t at = 0;
    while (at < type->count && type->versions[at] < version)
        at++;
    if (at < type->count && type->versions[at] == version) {
        s_error (self, file, pos,
                 "duplicate schema for '%s' version %d (first in %s)", name,
                 version, type->files[at]);
        return false;
    }
    int *versions = realloc (type->versions, (type->count + 1) * sizeof (int));
    if (versions)
        type->versions = versions;
    char **files = realloc (type->files, (type->count + 1) * sizeof (char *));
    if (files)
        type->files = files;
    char *copy = strdup (file);
    if (!versions || !files || !copy) {
        free (copy);
        s_error (self, file, pos, "out of memory");
        return false;
    }
    memmove (versions + at + 1, versions + at,
             (type->count - at) * sizeof (int));
    memmove (files + at + 1, files + at, (type->count - at) * sizeof (char *));
    versions[at] = version;
    files[at] = copy;
    type->count++;
    self->topo->version_count++;
    return true;
}

/* Checks one schema file's mapping; true when it is well-formed. */
static bool
s_schema_check (s_loader_t *self, ab_yaml_t *doc, const char *file)
{
    json_t *root = ab_yaml_root (doc);
    if (!json_is_object (root)) {
        s_error (self, file, ab_yaml_root_pos (doc),
                 "a schema file is a mapping (type, version, description, "
                 "schema)");
        return false;
    }
    size_t errors = self->errors;
    const char *key;
    json_t *value;
    json_object_foreach (root, key, value)
    {
        bool known = false;
        for (size_t i = 0; i < S_SCHEMA_KEYS; i++)
            known = known || strcmp (key, s_schema_keys[i]) == 0;
        if (!known)
            s_unknown_key (self, file, ab_yaml_key_pos (doc, root, key),
                           "schema file key", key, s_schema_keys, S_SCHEMA_KEYS,
                           sizeof s_schema_keys[0]);
    }
    json_t *type = json_object_get (root, "type");
    json_t *version = json_object_get (root, "version");
    json_t *description = json_object_get (root, "description");
    json_t *schema = json_object_get (root, "schema");
    ab_pos_t at_root = ab_yaml_root_pos (doc);
    if (!type || !version || !schema)
        s_error (self, file, at_root, "missing '%s'",
                 !type      ? "type"
                 : !version ? "version"
                            : "schema");
    if (type &&
        !(json_is_string (type) && s_valid_name (json_string_value (type))))
        s_error (self, file, ab_yaml_value_pos (doc, root, "type"),
                 "type must match [a-z0-9][a-z0-9._-]* (at most %d bytes)",
                 S_NAME_MAX);
    if (version &&
        !(json_is_integer (version) && json_integer_value (version) >= 1 &&
          json_integer_value (version) <= INT32_MAX))
        s_error (self, file, ab_yaml_value_pos (doc, root, "version"),
                 "version must be an integer >= 1");
    if (description && !json_is_string (description))
        s_error (self, file, ab_yaml_value_pos (doc, root, "description"),
                 "description must be a string");
    if (schema && !json_is_object (schema) && !json_is_boolean (schema))
        s_error (self, file, ab_yaml_value_pos (doc, root, "schema"),
                 "schema must be a mapping (or a boolean)");
    return self->errors == errors;
}

/* Resolves a JSON Pointer in a schema file's `schema` to where its target
   is written; {0,0} if it leads nowhere. */
static ab_pos_t
s_pointer_pos (const ab_yaml_t *doc, const char *pointer, size_t length)
{
    json_t *root = ab_yaml_root (doc);
    json_t *node = json_object_get (root, "schema");
    ab_pos_t pos = ab_yaml_value_pos (doc, root, "schema");
    char token[256];
    for (size_t at = 0; node && at < length && pointer[at] == '/';) {
        size_t end = at + 1, used = 0;
        for (; end < length && pointer[end] != '/' && used + 1 < sizeof token;
             end++)
            if (pointer[end] == '~' && end + 1 < length)
                token[used++] = pointer[++end] == '1' ? '/' : '~';
            else
                token[used++] = pointer[end];
        token[used] = '\0';
        at = end;
        char *tail;
        size_t index = strtoul (token, &tail, 10);
        json_t *parent = node;
        if (json_is_object (parent)) {
            node = json_object_get (parent, token);
            pos = ab_yaml_value_pos (doc, parent, token);
        } else {
            bool numeric = *token && !*tail;
            node = numeric ? json_array_get (parent, index) : NULL;
            pos = ab_yaml_item_pos (doc, parent, index);
        }
    }
    return node ? pos : (ab_pos_t){0, 0};
}

/* Passes the registry's messages on. They read "FILE: /POINTER: text";
   the pointer is resolved in the schema file to add a line and column. */
static void
s_forward_schema_diag (s_loader_t *self, ab_diag_t *from)
{
    for (size_t i = 0; i < ab_diag_count (from); i++) {
        const char *file, *message;
        int line, column;
        ab_diag_get (from, i, &file, &line, &column, &message);
        const ab_yaml_t *doc =
            file ? zhashx_lookup (self->schema_docs, file) : NULL;
        const char *colon = strstr (message, ": ");
        if (line == 0 && doc && message[0] == '/' && colon) {
            ab_pos_t pos = s_pointer_pos (doc, message, colon - message);
            line = pos.line;
            column = pos.column;
        }
        ab_diag_add (self->diag, file, line, column, "%s", message);
        self->errors++;
    }
    ab_diag_clear (from);
}

static void
s_yaml_destroy (void **item_p)
{
    ab_yaml_destroy ((ab_yaml_t **)item_p);
}

/* Loads one schema file into the registry, keeping the document until the
   registry is compiled (for the positions of its messages). */
static void
s_schema_file (s_loader_t *self, const char *file, ab_diag_t *registry_diag)
{
    ab_yaml_t *doc = s_load_yaml (self, file);
    if (!doc)
        return;
    zhashx_update (self->schema_docs, file, doc);
    if (!s_schema_check (self, doc, file))
        return;
    json_t *root = ab_yaml_root (doc);
    const char *type = json_string_value (json_object_get (root, "type"));
    int version = (int)json_integer_value (json_object_get (root, "version"));
    if (!s_type_add (self, type, version, file,
                     ab_yaml_value_pos (doc, root, "version")))
        return;
    size_t before = ab_diag_count (registry_diag);
    int rc =
        ab_registry_add (self->topo->registry, json_object_get (root, "schema"),
                         type, version, file, registry_diag);
    if (rc == 0) /* doc outlives the compile (schema_docs) */
        rc = ab_registry_add_versions (self->topo->registry, type, version,
                                       root, doc, file, registry_diag);
    if (rc < 0 && ab_diag_count (registry_diag) == before)
        s_error (self, file, S_NOWHERE, "schema not registered: %s",
                 ab_strerror (rc));
}

static bool
s_schema_extension (const char *name)
{
    static const char *const extensions[] = {".yaml", ".yml", ".json"};
    size_t length = strlen (name);
    for (size_t i = 0; i < 3; i++) {
        size_t ext = strlen (extensions[i]);
        if (length > ext && strcmp (name + length - ext, extensions[i]) == 0)
            return true;
    }
    return false;
}

static int
s_compare_names (const void *a, const void *b)
{
    return strcmp (*(char *const *)a, *(char *const *)b);
}

/* Loads every *.yaml, *.yml and *.json file of a folder, sorted by name,
   so the load order (and so the topology id) does not depend on readdir. */
static void
s_schema_folder (s_loader_t *self, const char *folder, ab_pos_t pos,
                 ab_diag_t *registry_diag)
{
    DIR *dir = opendir (folder);
    if (!dir) {
        S_ERR (self, pos, "cannot open schema folder '%s': %s", folder,
               strerror (errno));
        return;
    }
    zlistx_t *names = zlistx_new ();
    zlistx_set_destructor (names, (zlistx_destructor_fn *)zstr_free);
    struct dirent *entry;
    while ((entry = readdir (dir)))
        if (entry->d_name[0] != '.' && s_schema_extension (entry->d_name)) {
            char *path = zsys_sprintf ("%s/%s", folder, entry->d_name);
            if (path)
                zlistx_add_end (names, path);
            else
                S_ERR (self, pos, "out of memory");
        }
    closedir (dir);
    size_t count = zlistx_size (names);
    char **sorted = calloc (count ? count : 1, sizeof (char *));
    if (!sorted)
        S_ERR (self, pos, "out of memory");
    size_t used = 0;
    for (char *name = zlistx_first (names); sorted && name;
         name = zlistx_next (names))
        sorted[used++] = name;
    if (sorted)
        qsort (sorted, used, sizeof (char *), s_compare_names);
    for (size_t i = 0; i < used; i++)
        s_schema_file (self, sorted[i], registry_diag);
    free (sorted);
    zlistx_destroy (&names);
}

/* A path as written in the topology, made relative to its folder. */
static char *
s_relative (const s_loader_t *self, const char *path)
{
    return zsys_sprintf ("%s%s", path[0] == '/' ? "" : self->dir, path);
}

/* `schemas:` is a folder or a list of files, relative to the topology.
   The registry is compiled only when every schema file was well-formed,
   so its messages are not about the fallout of an earlier one. */
static void
s_schemas (s_loader_t *self, json_t *root)
{
    size_t errors = self->errors;
    ab_diag_t *registry_diag = ab_diag_new ();
    self->schema_docs = zhashx_new ();
    if (!registry_diag || !self->schema_docs) {
        S_ERR (self, S_NOWHERE, "out of memory");
        ab_diag_destroy (&registry_diag);
        return;
    }
    zhashx_set_destructor (self->schema_docs, s_yaml_destroy);
    json_t *schemas = json_object_get (root, "schemas");
    ab_pos_t pos = ab_yaml_value_pos (self->doc, root, "schemas");
    if (json_is_string (schemas)) {
        char *folder = s_relative (self, json_string_value (schemas));
        s_schema_folder (self, folder, pos, registry_diag);
        zstr_free (&folder);
    } else if (json_is_array (schemas)) {
        size_t index;
        json_t *item;
        json_array_foreach (schemas, index, item)
        {
            if (!json_is_string (item)) {
                S_ERR (self, ab_yaml_item_pos (self->doc, schemas, index),
                       "a schema file name must be a string");
                continue;
            }
            char *file = s_relative (self, json_string_value (item));
            s_schema_file (self, file, registry_diag);
            zstr_free (&file);
        }
    } else if (schemas)
        S_ERR (self, pos, "schemas must be a folder name or a list of files");
    s_forward_schema_diag (self, registry_diag);
    if (self->errors == errors &&
        ab_registry_compile (self->topo->registry, registry_diag) < 0 &&
        ab_diag_count (registry_diag) == 0)
        S_ERR (self, S_NOWHERE, "the schemas could not be compiled");
    s_forward_schema_diag (self, registry_diag);
    ab_diag_destroy (&registry_diag);
    zhashx_destroy (&self->schema_docs);
}

/* --- Agents ----------------------------------------------------------- */

static const char *const s_agent_keys[] = {"description"};

/* Reads one agent's options: null or a mapping of known keys. */
static void
s_agent_options (s_loader_t *self, json_t *agents, const char *name,
                 json_t *options)
{
    if (json_is_null (options))
        return;
    if (!json_is_object (options)) {
        S_ERR (self, ab_yaml_value_pos (self->doc, agents, name),
               "agent '%s' must be a mapping of options", name);
        return;
    }
    const char *key;
    json_t *value;
    json_object_foreach (options, key, value)
    {
        ab_pos_t pos = ab_yaml_key_pos (self->doc, options, key);
        if (strcmp (key, "description") != 0)
            s_unknown_key (self, ab_yaml_name (self->doc), pos, "agent option",
                           key, s_agent_keys, 1, sizeof s_agent_keys[0]);
        else if (!json_is_string (value))
            S_ERR (self, ab_yaml_value_pos (self->doc, options, key),
                   "description must be a string");
    }
}

static void
s_agents (s_loader_t *self, json_t *root)
{
    ab_topology_t *topo = self->topo;
    json_t *agents = json_object_get (root, "agents");
    if (!json_is_object (agents)) {
        S_ERR (self, ab_yaml_value_pos (self->doc, root, "agents"),
               "agents must be a mapping of agent names");
        return;
    }
    topo->agents = calloc (json_object_size (agents) + 1, sizeof (char *));
    if (!topo->agents) {
        S_ERR (self, S_NOWHERE, "out of memory");
        return;
    }
    const char *name;
    json_t *options;
    json_object_foreach (agents, name, options)
    {
        if (!s_valid_name (name))
            S_ERR (self, ab_yaml_key_pos (self->doc, agents, name),
                   "agent name '%s' must match [a-z0-9][a-z0-9._-]* (at most "
                   "%d bytes)",
                   name, S_NAME_MAX);
        s_agent_options (self, agents, name, options);
        topo->agents[topo->agent_count++] = name;
        zhashx_insert (topo->agent_index, name,
                       (void *)(uintptr_t)topo->agent_count);
    }
}

/* --- Edge options ------------------------------------------------------ */

/* How an option's value is read. */
typedef enum {
    S_AGENT,    /* an agent name (const char *) */
    S_TYPE,     /* a type name (const char *) */
    S_VERSIONS, /* a list of versions (const int *, size_t count) */
    S_ORDERING, /* none | strict */
    S_INT,      /* an int in [min, max] */
    S_INT64,    /* an int64_t in [min, max] */
    S_TRISTATE, /* a boolean into an int that defaults to -1 */
    S_FILTERS,  /* a list of filter stage mappings */
} s_kind_t;

/* Indexes into s_options, for the checks that name one option. */
enum {
    S_FROM,
    S_TO,
    S_TYPE_OPT,
    S_VERSIONS_OPT,
    S_REPLY,
    S_ORDERING_OPT,
    S_ACK_TIMEOUT,
    S_MAX_ATTEMPTS,
    S_RETRY_BACKOFF,
    S_QUEUE_LIMIT,
    S_TTL,
    S_DURABLE,
    S_DEAD_LETTER,
    S_FILTERS_OPT,
    S_OPTION_COUNT
};

/* The edge options: the contract of files-and-commands.md. */
static const struct {
    const char *name; /* first: s_suggest reads it */
    s_kind_t kind;    /* how the value is read */
    size_t offset;    /* field in ab_edge_t */
    int64_t min;      /* range of numbers */
    int64_t max;
} s_options[S_OPTION_COUNT] = {
    [S_FROM] = {"from", S_AGENT, offsetof (ab_edge_t, from), 0, 0},
    [S_TO] = {"to", S_AGENT, offsetof (ab_edge_t, to), 0, 0},
    [S_TYPE_OPT] = {"type", S_TYPE, offsetof (ab_edge_t, type), 0, 0},
    [S_VERSIONS_OPT] = {"versions", S_VERSIONS, offsetof (ab_edge_t, versions),
                        1, INT32_MAX},
    [S_REPLY] = {"reply", S_TYPE, offsetof (ab_edge_t, reply), 0, 0},
    [S_ORDERING_OPT] = {"ordering", S_ORDERING, offsetof (ab_edge_t, ordering),
                        0, 0},
    [S_ACK_TIMEOUT] = {"ack_timeout_ms", S_INT64,
                       offsetof (ab_edge_t, ack_timeout_ms), 1, 86400000},
    [S_MAX_ATTEMPTS] = {"max_attempts", S_INT,
                        offsetof (ab_edge_t, max_attempts), 1, 1000},
    [S_RETRY_BACKOFF] = {"retry_backoff_ms", S_INT64,
                         offsetof (ab_edge_t, retry_backoff_ms), 0, 3600000},
    [S_QUEUE_LIMIT] = {"queue_limit", S_INT64,
                       offsetof (ab_edge_t, queue_limit), 1, 100000000},
    /* Up to 1000 years: any real TTL, far from overflow when added. */
    [S_TTL] = {"ttl_ms", S_INT64, offsetof (ab_edge_t, ttl_ms), 1,
               INT64_C (31536000000000)},
    [S_DURABLE] = {"durable", S_TRISTATE, offsetof (ab_edge_t, durable), 0, 0},
    [S_DEAD_LETTER] = {"dead_letter", S_AGENT,
                       offsetof (ab_edge_t, dead_letter), 0, 0},
    [S_FILTERS_OPT] = {"filters", S_FILTERS, offsetof (ab_edge_t, filters), 0,
                       0},
};

static const char *const s_orderings[] = {
    [AB_ORDERING_NONE] = "none", [AB_ORDERING_STRICT] = "strict"};

/* The built-in defaults, before the `defaults:` block. */
static const ab_edge_t s_builtin_defaults = {
    .ordering = AB_ORDERING_NONE,
    .ack_timeout_ms = 30000,
    .max_attempts = 5,
    .retry_backoff_ms = 100,
    .queue_limit = 100000,
    .ttl_ms = 0,
    .durable = -1,
    .dead_letter_agent = -1,
};

/* Where each option of an edge was set: for messages about it. */
typedef struct {
    ab_pos_t at[S_OPTION_COUNT]; /* {0,0} where not set */
} s_where_t;

#define S_FIELD(edge, type, offset) (*(type *)((char *)(edge) + (offset)))

static int
s_option_find (const char *name)
{
    for (int i = 0; i < S_OPTION_COUNT; i++)
        if (strcmp (name, s_options[i].name) == 0)
            return i;
    return -1;
}

/* Reads a versions list into a new ascending, duplicate-free array that
   the topology owns. */
static bool
s_read_versions (s_loader_t *self, json_t *value, ab_edge_t *edge)
{
    size_t count = json_array_size (value);
    if (!json_is_array (value) || count == 0)
        return false;
    int *versions = malloc (count * sizeof (int));
    if (!versions)
        return false;
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        json_t *item = json_array_get (value, i);
        json_int_t version = json_integer_value (item);
        if (!json_is_integer (item) || version < 1 || version > INT32_MAX) {
            free (versions);
            return false;
        }
        size_t at = 0;
        while (at < used && versions[at] < version)
            at++;
        if (at < used && versions[at] == version)
            continue;
        memmove (versions + at + 1, versions + at, (used - at) * sizeof (int));
        versions[at] = (int)version;
        used++;
    }
    zlistx_add_end (self->topo->blocks, versions);
    edge->versions = versions;
    edge->version_count = used;
    return true;
}

/* Filter stages: each a mapping naming a built-in (`name`) or a plugin. */
static bool
s_valid_filters (json_t *value)
{
    if (!json_is_array (value))
        return false;
    size_t index;
    json_t *stage;
    json_array_foreach (value, index, stage)
    {
        json_t *name = json_object_get (stage, "name");
        json_t *plugin = json_object_get (stage, "plugin");
        if (!json_is_object (stage) || (!name == !plugin) ||
            !json_is_string (name ? name : plugin))
            return false;
    }
    return true;
}

/* Reads one option's value into `edge`; false when the value is bad. */
static bool
s_read_option (s_loader_t *self, int option, json_t *value, ab_edge_t *edge)
{
    size_t offset = s_options[option].offset;
    int64_t number = json_integer_value (value);
    bool in_range = json_is_integer (value) &&
                    number >= s_options[option].min &&
                    number <= s_options[option].max;
    switch (s_options[option].kind) {
    case S_AGENT:
    case S_TYPE:
        S_FIELD (edge, const char *, offset) = json_string_value (value);
        return json_is_string (value);
    case S_VERSIONS:
        return s_read_versions (self, value, edge);
    case S_ORDERING:
        for (int i = 0; i < 2; i++)
            if (json_is_string (value) &&
                strcmp (json_string_value (value), s_orderings[i]) == 0) {
                edge->ordering = (ab_ordering_t)i;
                return true;
            }
        return false;
    case S_INT:
        if (in_range)
            S_FIELD (edge, int, offset) = (int)number;
        return in_range;
    case S_INT64:
        if (in_range)
            S_FIELD (edge, int64_t, offset) = number;
        return in_range;
    case S_TRISTATE:
        S_FIELD (edge, int, offset) = json_is_true (value);
        return json_is_boolean (value);
    case S_FILTERS:
        S_FIELD (edge, const json_t *, offset) = value;
        return s_valid_filters (value);
    }
    return false;
}

/* What a bad value of an option should have been. */
static void
s_bad_value (s_loader_t *self, int option, ab_pos_t pos)
{
    const char *name = s_options[option].name;
    switch (s_options[option].kind) {
    case S_AGENT:
        S_ERR (self, pos, "'%s' must be an agent name", name);
        break;
    case S_TYPE:
        S_ERR (self, pos, "'%s' must be a type name", name);
        break;
    case S_VERSIONS:
        S_ERR (self, pos, "'%s' must be a non-empty list of integers >= 1",
               name);
        break;
    case S_ORDERING:
        S_ERR (self, pos, "'%s' must be 'none' or 'strict'", name);
        break;
    case S_INT:
    case S_INT64:
        S_ERR (self, pos,
               "'%s' must be an integer from %" PRId64 " to %" PRId64, name,
               s_options[option].min, s_options[option].max);
        break;
    case S_TRISTATE:
        S_ERR (self, pos, "'%s' must be true or false", name);
        break;
    case S_FILTERS:
        S_ERR (self, pos,
               "'%s' must be a list of mappings, each with a 'name' or a "
               "'plugin'",
               name);
        break;
    }
}

/* Which mapping s_read_options reads. */
typedef enum {
    S_AN_EDGE,     /* an entry of `edges:` */
    S_THE_DEFAULTS /* `defaults:`, where from/to/type may not appear */
} s_block_t;

/* Reads every option of one mapping (an edge, or `defaults:`) over the
   values already in `edge`. */
static void
s_read_options (s_loader_t *self, json_t *map, ab_edge_t *edge,
                s_where_t *where, s_block_t block)
{
    bool in_defaults = block == S_THE_DEFAULTS;
    const char *key;
    json_t *value;
    json_object_foreach (map, key, value)
    {
        int option = s_option_find (key);
        ab_pos_t key_pos = ab_yaml_key_pos (self->doc, map, key);
        if (option < 0) {
            s_unknown_key (self, ab_yaml_name (self->doc), key_pos,
                           "edge option", key, s_options, S_OPTION_COUNT,
                           sizeof s_options[0]);
            continue;
        }
        if (in_defaults && option <= S_TYPE_OPT) {
            S_ERR (self, key_pos, "'%s' cannot have a default", key);
            continue;
        }
        ab_pos_t pos = ab_yaml_value_pos (self->doc, map, key);
        where->at[option] = pos;
        if (!s_read_option (self, option, value, edge))
            s_bad_value (self, option, pos);
    }
}

/* --- Edges ------------------------------------------------------------ */

static ab_pos_t
s_edge_pos (const ab_edge_t *edge)
{
    return (ab_pos_t){edge->line, edge->column};
}

/* An agent's index for an option naming one; -1 (reported) if unknown. */
static long
s_agent_ref (s_loader_t *self, const char *name, ab_pos_t pos)
{
    uintptr_t index = (uintptr_t)zhashx_lookup (self->topo->agent_index, name);
    if (index == 0) {
        S_ERR (self, pos, "unknown agent '%s'", name);
        return -1;
    }
    return (long)index - 1;
}

static const s_type_t *
s_type_ref (s_loader_t *self, const char *name, ab_pos_t pos)
{
    const s_type_t *type = zhashx_lookup (self->topo->types, name);
    if (!type)
        S_ERR (self, pos, "unknown type '%s'", name);
    return type;
}

/* Checks that every listed version of the edge's type exists. */
static void
s_check_versions (s_loader_t *self, const ab_edge_t *edge, const s_type_t *type,
                  ab_pos_t pos)
{
    for (size_t i = 0; i < edge->version_count; i++) {
        bool found = false;
        for (size_t j = 0; j < type->count && !found; j++)
            found = type->versions[j] == edge->versions[i];
        if (!found)
            S_ERR (self, pos, "type '%s' has no version %d", edge->type,
                   edge->versions[i]);
    }
}

/* Resolves an edge's names; true when from and to are known agents. */
static bool
s_check_edge (s_loader_t *self, ab_edge_t *edge, const s_where_t *where,
              ab_pos_t pos)
{
    static const int required[] = {S_FROM, S_TO, S_TYPE_OPT};
    for (size_t i = 0; i < 3; i++)
        if (where->at[required[i]].line == 0)
            S_ERR (self, pos, "edge needs '%s'", s_options[required[i]].name);
    long from = -1, to = -1;
    if (edge->from)
        from = s_agent_ref (self, edge->from, where->at[S_FROM]);
    if (edge->to)
        to = s_agent_ref (self, edge->to, where->at[S_TO]);
    if (edge->dead_letter)
        edge->dead_letter_agent =
            s_agent_ref (self, edge->dead_letter, where->at[S_DEAD_LETTER]);
    const s_type_t *type = NULL;
    if (edge->type)
        type = s_type_ref (self, edge->type, where->at[S_TYPE_OPT]);
    if (type)
        s_check_versions (self, edge, type, where->at[S_VERSIONS_OPT]);
    if (edge->reply)
        s_type_ref (self, edge->reply, where->at[S_REPLY]);
    edge->from_agent = from < 0 ? 0 : (size_t)from;
    edge->to_agent = to < 0 ? 0 : (size_t)to;
    return from >= 0 && to >= 0;
}

static void
s_route_destroy (void **item_p)
{
    s_route_t *route = *item_p;
    if (route) {
        free (route->edges);
        free (route);
        *item_p = NULL;
    }
}

/* The routes key of (agent, type): the agent's index in decimal, \1,
   the type; false when the type cannot be one. Without snprintf: every
   PUB looks its route up. */
static bool
s_route_key (char *buffer, size_t size, size_t agent, const char *type)
{
    char digits[AB_DECIMAL_SIZE];
    size_t count = ab_decimal_u64 (digits, agent);
    size_t type_length = strlen (type);
    if (count + 1 + type_length + 1 > size)
        return false;
    memcpy (buffer, digits, count);
    buffer[count] = '\1';
    memcpy (buffer + count + 1, type, type_length + 1);
    return true;
}

#define S_ROUTE_KEY_SIZE (S_NAME_MAX + 32)

/* Adds a checked edge to the route of its (from, type). */
static void
s_route_add (s_loader_t *self, const ab_edge_t *edge)
{
    char key[S_ROUTE_KEY_SIZE];
    if (!s_route_key (key, sizeof key, edge->from_agent, edge->type))
        return;
    s_route_t *route = zhashx_lookup (self->topo->routes, key);
    if (!route) {
        route = calloc (1, sizeof *route);
        if (!route)
            return;
        zhashx_insert (self->topo->routes, key, route);
    }
    if (edge->reply && route->request) {
        S_ERR (self, s_edge_pos (edge),
               "more than one request edge for '%s' from '%s' (first at "
               "line %d)",
               edge->type, edge->from, route->request->line);
        return;
    }
    if (edge->reply)
        route->request = edge;
    if (route->count == route->capacity) {
        size_t capacity = route->capacity ? route->capacity * 2 : 4;
        const ab_edge_t **edges =
            realloc (route->edges, capacity * sizeof *edges);
        if (!edges)
            return;
        route->edges = edges;
        route->capacity = capacity;
    }
    route->edges[route->count++] = edge;
}

/* Reads and checks every edge. Returns which edges join two known agents
   (the caller's to free; NULL when there are no edges). */
static bool *
s_edges (s_loader_t *self, json_t *root)
{
    ab_topology_t *topo = self->topo;
    json_t *edges = json_object_get (root, "edges");
    s_where_t defaults_where = {0};
    json_t *defaults = json_object_get (root, "defaults");
    if (json_is_object (defaults))
        s_read_options (self, defaults, &self->defaults, &defaults_where,
                        S_THE_DEFAULTS);
    else if (defaults)
        S_ERR (self, ab_yaml_value_pos (self->doc, root, "defaults"),
               "defaults must be a mapping of edge options");
    if (!edges)
        return NULL;
    if (!json_is_array (edges)) {
        S_ERR (self, ab_yaml_value_pos (self->doc, root, "edges"),
               "edges must be a list of mappings");
        return NULL;
    }
    size_t count = json_array_size (edges);
    topo->edges = calloc (count + 1, sizeof (ab_edge_t));
    bool *routable = calloc (count + 1, sizeof (bool));
    if (!topo->edges || !routable) {
        S_ERR (self, S_NOWHERE, "out of memory");
        free (routable);
        return NULL;
    }
    size_t index;
    json_t *item;
    json_array_foreach (edges, index, item)
    {
        ab_pos_t pos = ab_yaml_item_pos (self->doc, edges, index);
        if (!json_is_object (item)) {
            S_ERR (self, pos, "an edge must be a mapping of options");
            continue;
        }
        ab_edge_t *edge = &topo->edges[topo->edge_count];
        *edge = self->defaults;
        edge->index = topo->edge_count;
        edge->line = pos.line;
        edge->column = pos.column;
        s_where_t where = defaults_where;
        s_read_options (self, item, edge, &where, S_AN_EDGE);
        routable[topo->edge_count] = s_check_edge (self, edge, &where, pos);
        if (routable[topo->edge_count] && edge->type)
            s_route_add (self, edge);
        topo->edge_count++;
    }
    return routable;
}

/* --- Cycles ------------------------------------------------------------ */

/* The graph as compact adjacency: the edges out of agent a are
   edge_of[first[a] .. first[a + 1]). */
typedef struct {
    size_t *first;   /* agent_count + 1 offsets */
    size_t *edge_of; /* edge indexes, grouped by source agent */
} s_graph_t;

static bool
s_graph_build (s_graph_t *graph, const ab_topology_t *topo,
               const bool *routable)
{
    size_t agents = topo->agent_count;
    graph->first = calloc (agents + 2, sizeof (size_t));
    graph->edge_of = calloc (topo->edge_count + 1, sizeof (size_t));
    if (!graph->first || !graph->edge_of)
        return false;
    for (size_t e = 0; e < topo->edge_count; e++)
        if (routable[e])
            graph->first[topo->edges[e].from_agent + 2]++;
    for (size_t a = 2; a < agents + 2; a++)
        graph->first[a] += graph->first[a - 1];
    /* first[a + 1] is now where agent a's edges start; filling moves it
       to where they end, which is where agent a + 1's start. */
    for (size_t e = 0; e < topo->edge_count; e++)
        if (routable[e])
            graph->edge_of[graph->first[topo->edges[e].from_agent + 1]++] = e;
    return true;
}

/* Reports the cycle closed by `edge`: the path stack[from..depth) back to
   its first agent. */
static void
s_report_cycle (s_loader_t *self, const size_t *stack, size_t from,
                size_t depth, const ab_edge_t *edge)
{
    const ab_topology_t *topo = self->topo;
    size_t length = 1;
    for (size_t i = from; i < depth; i++)
        length += strlen (topo->agents[stack[i]]) + 4;
    length += strlen (topo->agents[stack[from]]);
    char *text = malloc (length);
    if (!text)
        return;
    char *end = text;
    for (size_t i = from; i < depth; i++)
        end += sprintf (end, "%s -> ", topo->agents[stack[i]]);
    strcpy (end, topo->agents[stack[from]]);
    S_ERR (self, s_edge_pos (edge), "cycle: %s", text);
    free (text);
}

/* Iterative three-colour DFS: an edge to a grey agent (one on the current
   path) closes a cycle. Each edge is looked at once: O(agents + edges). */
static void
s_find_cycles (s_loader_t *self, const bool *routable)
{
    enum { WHITE, GREY, BLACK };
    const ab_topology_t *topo = self->topo;
    size_t agents = topo->agent_count;
    s_graph_t graph = {0};
    unsigned char *colour = calloc (agents + 1, 1);
    size_t *next = calloc (agents + 1, sizeof (size_t));  /* adjacency cursor */
    size_t *stack = calloc (agents + 1, sizeof (size_t)); /* current path */
    size_t *depth_of = calloc (agents + 1, sizeof (size_t)); /* place in path */
    if (colour && next && stack && depth_of &&
        s_graph_build (&graph, topo, routable))
        for (size_t start = 0; start < agents; start++) {
            if (colour[start] != WHITE)
                continue;
            size_t depth = 0;
            depth_of[start] = 0;
            stack[depth++] = start;
            colour[start] = GREY;
            next[start] = graph.first[start];
            while (depth > 0) {
                size_t agent = stack[depth - 1];
                if (next[agent] == graph.first[agent + 1]) {
                    colour[agent] = BLACK;
                    depth--;
                    continue;
                }
                const ab_edge_t *edge =
                    &topo->edges[graph.edge_of[next[agent]++]];
                size_t to = edge->to_agent;
                if (colour[to] == GREY)
                    s_report_cycle (self, stack, depth_of[to], depth, edge);
                else if (colour[to] == WHITE) {
                    colour[to] = GREY;
                    depth_of[to] = depth;
                    next[to] = graph.first[to];
                    stack[depth++] = to;
                }
            }
        }
    free (graph.first);
    free (graph.edge_of);
    free (colour);
    free (next);
    free (stack);
    free (depth_of);
}

/* --- Loading ----------------------------------------------------------- */

static const char *const s_top_keys[] = {"topology", "description", "schemas",
                                         "defaults", "agents",      "edges"};
#define S_TOP_KEYS (sizeof s_top_keys / sizeof s_top_keys[0])

/* The top level: known keys, the name, the required parts. */
static bool
s_check_top (s_loader_t *self, json_t *root)
{
    if (!json_is_object (root)) {
        S_ERR (self, ab_yaml_root_pos (self->doc),
               "a topology file is a mapping (topology, schemas, agents, "
               "edges)");
        return false;
    }
    const char *key;
    json_t *value;
    json_object_foreach (root, key, value)
    {
        bool known = false;
        for (size_t i = 0; i < S_TOP_KEYS; i++)
            known = known || strcmp (key, s_top_keys[i]) == 0;
        if (!known)
            s_unknown_key (self, ab_yaml_name (self->doc),
                           ab_yaml_key_pos (self->doc, root, key), "key", key,
                           s_top_keys, S_TOP_KEYS, sizeof s_top_keys[0]);
    }
    json_t *name = json_object_get (root, "topology");
    if (!name)
        S_ERR (self, ab_yaml_root_pos (self->doc), "missing 'topology' (name)");
    else if (!json_is_string (name) || !s_valid_name (json_string_value (name)))
        S_ERR (self, ab_yaml_value_pos (self->doc, root, "topology"),
               "topology name must match [a-z0-9][a-z0-9._-]* (at most %d "
               "bytes)",
               S_NAME_MAX);
    else if (!(self->topo->name = strdup (json_string_value (name))))
        S_ERR (self, S_NOWHERE, "out of memory");
    if (!json_object_get (root, "agents"))
        S_ERR (self, ab_yaml_root_pos (self->doc), "missing 'agents'");
    return true;
}

static ab_topology_t *
s_topology_new (const ab_topology_options_t *options)
{
    ab_topology_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    atomic_init (&self->refs, 1);
    self->registry = ab_registry_new (options ? &options->registry : NULL);
    self->types = zhashx_new ();
    self->agent_index = zhashx_new ();
    self->routes = zhashx_new ();
    self->blocks = zlistx_new ();
    if (!self->registry || !self->types || !self->agent_index ||
        !self->routes || !self->blocks) {
        ab_topology_unref (&self);
        return NULL;
    }
    zhashx_set_destructor (self->types, s_type_destroy);
    zhashx_set_destructor (self->routes, s_route_destroy);
    zlistx_set_destructor (self->blocks, (zlistx_destructor_fn *)zstr_free);
    return self;
}

/* The folder part of a path, "" or ending in '/'. */
static char *
s_dirname (const char *path)
{
    const char *slash = strrchr (path, '/');
    return slash ? zsys_sprintf ("%.*s", (int)(slash - path + 1), path)
                 : strdup ("");
}

static void
s_load_all (s_loader_t *self)
{
    json_t *root = ab_yaml_root (self->doc);
    if (!s_check_top (self, root))
        return;
    self->topo->root = json_incref (root);
    s_schemas (self, root);
    if (json_object_get (root, "agents"))
        s_agents (self, root);
    bool *routable = s_edges (self, root);
    if (routable)
        s_find_cycles (self, routable);
    free (routable);
}

ab_topology_t *
ab_topology_load (const char *path, const ab_topology_options_t *options,
                  ab_diag_t *diag)
{
    assert (path);
    s_loader_t loader = {.diag = diag, .hash = 0xcbf29ce484222325ULL};
    loader.defaults = s_builtin_defaults;
    loader.topo = s_topology_new (options);
    loader.dir = s_dirname (path);
    if (!loader.topo || !loader.dir) {
        ab_diag_add (diag, path, 0, 0, "out of memory");
        loader.errors++;
    } else
        loader.doc = s_load_yaml (&loader, path);
    if (loader.doc)
        s_load_all (&loader);
    if (loader.errors == 0) {
        const char *name = loader.topo->name;
        loader.topo->id =
            zsys_sprintf ("%s@%012" PRIx64, name, loader.hash >> 16);
        if (!loader.topo->id)
            loader.errors++;
    }
    if (loader.errors > 0)
        ab_topology_unref (&loader.topo);
    ab_yaml_destroy (&loader.doc);
    zstr_free (&loader.dir);
    return loader.topo;
}

ab_topology_t *
ab_topology_ref (ab_topology_t *self)
{
    assert (self);
    atomic_fetch_add (&self->refs, 1);
    return self;
}

void
ab_topology_unref (ab_topology_t **self_p)
{
    assert (self_p);
    ab_topology_t *self = *self_p;
    *self_p = NULL;
    if (!self || atomic_fetch_sub (&self->refs, 1) > 1)
        return;
    ab_registry_destroy (&self->registry);
    zhashx_destroy (&self->types);
    zhashx_destroy (&self->agent_index);
    zhashx_destroy (&self->routes);
    zlistx_destroy (&self->blocks);
    free (self->agents);
    free (self->edges);
    json_decref (self->root);
    free (self->name);
    free (self->id);
    free (self);
}

/* --- Accessors ---------------------------------------------------------- */

const char *
ab_topology_id (const ab_topology_t *self)
{
    assert (self);
    return self->id;
}

const char *
ab_topology_name (const ab_topology_t *self)
{
    assert (self);
    return self->name;
}

size_t
ab_topology_agent_count (const ab_topology_t *self)
{
    assert (self);
    return self->agent_count;
}

const char *
ab_topology_agent_name (const ab_topology_t *self, size_t index)
{
    assert (self);
    return index < self->agent_count ? self->agents[index] : NULL;
}

long
ab_topology_agent_index (const ab_topology_t *self, const char *name)
{
    assert (self);
    uintptr_t index =
        name ? (uintptr_t)zhashx_lookup (self->agent_index, name) : 0;
    return (long)index - 1;
}

size_t
ab_topology_edge_count (const ab_topology_t *self)
{
    assert (self);
    return self->edge_count;
}

const ab_edge_t *
ab_topology_edge (const ab_topology_t *self, size_t index)
{
    assert (self);
    return index < self->edge_count ? &self->edges[index] : NULL;
}

static const s_route_t *
s_route (const ab_topology_t *self, size_t from_agent, const char *type)
{
    char key[S_ROUTE_KEY_SIZE];
    if (!type || !s_route_key (key, sizeof key, from_agent, type))
        return NULL;
    return zhashx_lookup (self->routes, key);
}

size_t
ab_topology_edges_from (const ab_topology_t *self, size_t from_agent,
                        const char *type, const ab_edge_t *const **edges_p)
{
    assert (self);
    assert (edges_p);
    const s_route_t *route = s_route (self, from_agent, type);
    *edges_p = route ? route->edges : NULL;
    return route ? route->count : 0;
}

const ab_edge_t *
ab_topology_request_edge (const ab_topology_t *self, size_t from_agent,
                          const char *type)
{
    assert (self);
    const s_route_t *route = s_route (self, from_agent, type);
    return route ? route->request : NULL;
}

bool
ab_topology_has_type (const ab_topology_t *self, const char *type)
{
    assert (self);
    return type && zhashx_lookup (self->types, type) != NULL;
}

int
ab_topology_newest_version (const ab_topology_t *self, const char *type)
{
    assert (self);
    const s_type_t *entry = type ? zhashx_lookup (self->types, type) : NULL;
    return entry && entry->count ? entry->versions[entry->count - 1] : 0;
}

const ab_schema_t *
ab_topology_schema (const ab_topology_t *self, const char *type, int version)
{
    assert (self);
    return type ? ab_registry_lookup (self->registry, type, version) : NULL;
}

const ab_registry_t *
ab_topology_registry (const ab_topology_t *self)
{
    assert (self);
    return self->registry;
}

bool
ab_edge_accepts_version (const ab_edge_t *edge, int version)
{
    assert (edge);
    if (!edge->versions)
        return true;
    for (size_t i = 0; i < edge->version_count; i++)
        if (edge->versions[i] == version)
            return true;
    return false;
}

size_t
ab_topology_type_count (const ab_topology_t *self)
{
    assert (self);
    return zhashx_size (self->types);
}

size_t
ab_topology_version_count (const ab_topology_t *self)
{
    assert (self);
    return self->version_count;
}
