/*  =========================================================================
    ab_schema_int - what the validator (ab_schema.c and its keyword
    families) and ab_registry.c (documents, URIs, references) share

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Internal: nothing outside src/schema includes it. The design note
    is at the top of ab_schema.c.
*/

#ifndef AB_SCHEMA_INT_H_INCLUDED
#define AB_SCHEMA_INT_H_INCLUDED

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>

#include "common/ab_diag.h"
#include "schema/ab_registry.h"
#include "schema/ab_schema.h"
#include "common/ab_yaml.h"

#define AB_SCHEMA_MAX_NESTING 1000 /* nested subschemas indexed/compiled */

/* 2020-12 vocabularies, as bits: a custom metaschema's $vocabulary may
   leave some out, and their keywords are then ignored. */
enum {
    V_CORE = 1,        /* $ref, $dynamicRef */
    V_APPLICATOR = 2,  /* properties, items, allOf, ... */
    V_VALIDATION = 4,  /* type, enum, maximum, required, ... */
    V_UNEVALUATED = 8, /* unevaluatedItems/Properties */
    V_FORMAT = 16,     /* format (annotation or assertion) */
    V_AGENTBUS = 32,   /* tensor */
    V_ALL = 63,
};

/* The two dialects, as bits so keyword table entries can name both. */
typedef enum {
    D_2020 = 1, /* JSON Schema 2020-12 (also used for 2019-09) */
    D_7 = 2,    /* draft-07 (also used for draft-06 and -04) */
} ab_dialect_t;

/* A compiled keyword (defined in ab_schema.c). */
typedef struct _ab_kw_t ab_kw_t;

/* A name with a subschema: properties, dependentSchemas, $dynamicAnchor,
   and draft-07 dependencies (names or node). */
typedef struct {
    const char *key;    /* borrowed from the schema document */
    ab_schema_t *node;  /* subschema, or NULL for a names entry */
    const char **names; /* dependentRequired names (owned array) */
    size_t count;       /* entries in names */
} ab_entry_t;

/* A schema resource: a document root or a subschema with `$id`. */
typedef struct {
    char *uri;             /* absolute base URI, without fragment */
    const json_t *root;    /* the resource's schema object */
    ab_dialect_t dialect;  /* from `$schema`, else inherited */
    const char *file;      /* the document's file, for messages */
    const ab_yaml_t *yaml; /* its YAML positions, or NULL (JSON) */
    ab_entry_t *dynamic;   /* $dynamicAnchor name -> node (owned array) */
    size_t dynamic_count;  /* entries in dynamic */
    bool anchors_compiled; /* dynamic[].node filled */
    bool vocab_checked;    /* vocabularies and format_assert are set */
    unsigned vocabularies; /* V_* bits its metaschema enables */
    bool format_assert;    /* its metaschema has format-assertion */
} ab_resource_t;

/* A compiled schema node (one schema object, or a boolean schema). */
struct _ab_schema_t {
    const ab_registry_t *registry; /* options (errors, formats) */
    const json_t *json;            /* the schema object (borrowed) */
    const ab_resource_t *resource; /* where its base URI comes from */
    ab_kw_t *keywords;             /* checks, in evaluation order */
    size_t keyword_count;          /* entries in keywords */
    int boolean;                   /* 1/0 for true/false, -1 object */
    bool needs_eval;               /* has unevaluated*: tracks annotations */
};

/* An absolute URI that names a schema: a resource or an anchor. */
typedef struct {
    const json_t *json;      /* the schema object it names */
    ab_resource_t *resource; /* the resource holding it */
} ab_target_t;

/* A read-only lookup entry, sorted by uri (built by compile). */
typedef struct {
    char *uri;               /* absolute URI or agentbus:TYPE/VERSION */
    const ab_schema_t *node; /* its compiled schema */
} ab_public_t;

struct _ab_registry_t {
    ab_registry_options_t options; /* max_errors already defaulted */
    zhashx_t *targets;             /* absolute URI -> ab_target_t (owned) */
    zhashx_t *locations;           /* schema object address -> resource */
    zhashx_t *nodes;               /* schema object address -> ab_schema_t */
    zlistx_t *resources;           /* every ab_resource_t (owner) */
    zlistx_t *docs;                /* every document (owner), in order added */
    zlistx_t *remotes;             /* `$ref` prefix -> folder (owner) */
    ab_schema_t true_node;         /* the boolean schema true */
    ab_schema_t false_node;        /* the boolean schema false */
    ab_public_t *index;            /* sorted, read by the lookups */
    size_t index_count;            /* entries in index */
    unsigned anonymous;            /* counter for URIs of bare documents */
    bool failed;                   /* a compile failed: nodes are partial */
    struct _ab_translate_t *versions; /* translations, compatibility */
};

/* The compile context. */
typedef struct {
    ab_registry_t *registry; /* being compiled */
    ab_diag_t *diag;         /* where problems go */
    ab_resource_t *resource; /* resource of the node being compiled */
    int depth;               /* nesting of subschemas */
    int errors;              /* problems reported */
    const json_t *at_object; /* schema object of the keyword compiled */
    const char *at_key;      /* that keyword, for file:line:col */
    size_t path_length;      /* used bytes of path */
    char path[1024];         /* JSON Pointer of the keyword, for messages */
} ab_cc_t;

/* ab_schema.c: compiles a schema object (cached by its address; a
   fallback resource for objects the index did not reach). NULL after
   reporting an error. */
ab_schema_t *ab_schema_compile (ab_cc_t *cc, const json_t *json,
                                ab_resource_t *fallback);

/* ab_schema.c: refuses pure `$ref` cycles among the compiled nodes. */
void ab_schema_check_cycles (ab_cc_t *cc);

/* ab_schema.c: frees a node (a zhashx destructor). */
void ab_schema_node_destroy (void **item);

/* ab_schema.c: reports a problem at the keyword being compiled. */
void ab_cc_error (ab_cc_t *cc, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

/* ab_registry.c: resolves a `$ref`/`$dynamicRef` against the current
   base URI and compiles its target. For $dynamicRef (anchor_p not NULL),
   *anchor_p is the anchor name when the target is itself a
   $dynamicAnchor of that name, else NULL. */
ab_schema_t *ab_registry_resolve (ab_cc_t *cc, const char *ref,
                                  const char **anchor_p);

/* ab_registry.c: sets a resource's vocabularies from its metaschema. */
void ab_registry_vocabularies (ab_cc_t *cc, ab_resource_t *res);

#endif
