/*  =========================================================================
    ab_topology - the agent graph: agents, message types, edges

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Loaded from one topology YAML file and its schema files, checked, and
    then immutable. It is reference-counted so that a reload (SIGHUP) can
    swap in a new topology while copies routed by the old one finish.
    It owns the schema registry of its types.
*/

#ifndef AB_TOPOLOGY_H_INCLUDED
#define AB_TOPOLOGY_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ab_diag.h"
#include "schema/ab_registry.h"

typedef enum {
    AB_ORDERING_NONE = 0,
    AB_ORDERING_STRICT,
} ab_ordering_t;

/* One edge, with every option resolved (defaults block, then built-in
   defaults). Owned by the topology; read-only. */
typedef struct {
    size_t index;             /* position in the edge list */
    const char *from;         /* producer agent */
    const char *to;           /* consumer agent */
    const char *type;         /* message type */
    size_t from_agent;        /* agent index of `from` */
    size_t to_agent;          /* agent index of `to` */
    const int *versions;      /* accepted versions, ascending; NULL = all */
    size_t version_count;     /* entries in versions */
    const char *reply;        /* reply type: a request edge; NULL if not */
    ab_ordering_t ordering;   /* none or strict */
    int64_t ack_timeout_ms;   /* default 30000 */
    int max_attempts;         /* default 5 */
    int64_t retry_backoff_ms; /* default 100, doubling per attempt */
    int64_t queue_limit;      /* copies not yet done; default 100000 */
    int64_t ttl_ms;           /* 0 = none */
    int durable;              /* -1 = broker's default, 0 no, 1 yes */
    const char *dead_letter;  /* agent, or NULL */
    long dead_letter_agent;   /* its index, or -1 */
    const json_t *filters;    /* extra filter stages (array), or NULL */
    int line;                 /* where the edge is written */
    int column;
} ab_edge_t;

typedef struct {
    ab_registry_options_t registry; /* for the schemas of the types */
} ab_topology_options_t;

typedef struct _ab_topology_t ab_topology_t;

/* Loads and checks a topology file and its schemas. On any error returns
   NULL with every problem in `diag` as FILE:LINE:COL: message. NULL
   options means the defaults. The new topology has one reference. */
ab_topology_t *ab_topology_load (const char *path,
                                 const ab_topology_options_t *options,
                                 ab_diag_t *diag);

/* Takes one more reference; returns self. */
ab_topology_t *ab_topology_ref (ab_topology_t *self);

/* Drops a reference, destroying at zero; accepts NULL, nulls *self_p. */
void ab_topology_unref (ab_topology_t **self_p);

/* "NAME@HASH": the topology's name and a short hash of the loaded files,
   as sent in WELCOME. */
const char *ab_topology_id (const ab_topology_t *self);
const char *ab_topology_name (const ab_topology_t *self);

size_t ab_topology_agent_count (const ab_topology_t *self);
const char *ab_topology_agent_name (const ab_topology_t *self, size_t index);
/* Agent index by name, or -1. O(1). */
long ab_topology_agent_index (const ab_topology_t *self, const char *name);

size_t ab_topology_edge_count (const ab_topology_t *self);
const ab_edge_t *ab_topology_edge (const ab_topology_t *self, size_t index);

/* The edges from agent `from_agent` carrying `type` (fan-out targets),
   without a hash-table scan of all edges: *edges_p gets a borrowed array.
   Returns the count (0: unroutable). */
size_t ab_topology_edges_from (const ab_topology_t *self, size_t from_agent,
                               const char *type,
                               const ab_edge_t *const **edges_p);

/* The request edge (one with `reply`) of `type` from `from_agent`, or
   NULL. */
const ab_edge_t *ab_topology_request_edge (const ab_topology_t *self,
                                           size_t from_agent, const char *type);

/* True when `type` has at least one schema version. */
bool ab_topology_has_type (const ab_topology_t *self, const char *type);

/* The newest registered version of `type`, or 0 if unknown. */
int ab_topology_newest_version (const ab_topology_t *self, const char *type);

/* The compiled schema of type/version, or NULL. */
const ab_schema_t *ab_topology_schema (const ab_topology_t *self,
                                       const char *type, int version);

/* The registry of the topology's schemas, with their translations
   (ab_registry_translations); borrowed, immutable. */
const ab_registry_t *ab_topology_registry (const ab_topology_t *self);

/* True when `version` passes the edge's `versions` list. */
bool ab_edge_accepts_version (const ab_edge_t *edge, int version);

/* How many message types have at least one schema version. */
size_t ab_topology_type_count (const ab_topology_t *self);

/* How many schema versions (type/version pairs) were loaded. */
size_t ab_topology_version_count (const ab_topology_t *self);

#endif
