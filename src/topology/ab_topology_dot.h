/*  =========================================================================
    ab_topology_dot - a topology written out for people: the Graphviz DOT
    of its graph and the one-line summary of `agentbus check`

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#ifndef AB_TOPOLOGY_DOT_H_INCLUDED
#define AB_TOPOLOGY_DOT_H_INCLUDED

#include "topology/ab_topology.h"

/* Graphviz DOT of the graph: agents as boxes, edges labelled TYPE@versions
   (bold for requests, blue for strict order, dotted to dead letters). The
   caller's to free; NULL when out of memory. */
char *ab_topology_dot (const ab_topology_t *self);

/* One-line summary for `agentbus check`: "ID: N agents, N edges, N types,
   N schema versions" (the caller's to free; NULL when out of memory). */
char *ab_topology_summary (const ab_topology_t *self);

#endif
