/*  =========================================================================
    ab_topology_dot - a topology written out for people: the Graphviz DOT
    of its graph and the one-line summary of `agentbus check`

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Reads the topology only through its public accessors (ab_topology.h):
    loading and checking the graph is ab_topology.c's, showing it is here.
*/

#include <assert.h>
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>

#include "topology/ab_topology.h"
#include "topology/ab_topology_dot.h"

/* "TYPE@all" or "TYPE@1,2" (names need no DOT escaping: the name rule
   allows only [a-z0-9._-]). */
static void
s_dot_label (FILE *out, const ab_edge_t *edge)
{
    fprintf (out, "%s@", edge->type);
    if (!edge->versions)
        fputs ("all", out);
    for (size_t i = 0; i < edge->version_count; i++)
        fprintf (out, "%s%d", i ? "," : "", edge->versions[i]);
}

static void
s_dot_edge (FILE *out, const ab_edge_t *edge)
{
    fprintf (out, "  \"%s\" -> \"%s\" [label=\"", edge->from, edge->to);
    s_dot_label (out, edge);
    if (edge->reply)
        fprintf (out, "\\n→ %s", edge->reply);
    if (edge->ordering == AB_ORDERING_STRICT)
        fputs ("\\nordering: strict", out);
    fputc ('"', out);
    if (edge->reply)
        fputs (", style=bold", out);
    if (edge->ordering == AB_ORDERING_STRICT)
        fputs (", color=blue", out);
    fputs ("];\n", out);
    if (edge->dead_letter)
        fprintf (
            out,
            "  \"%s\" -> \"%s\" [label=\"dead letters (%s)\", style=dotted, "
            "arrowhead=empty];\n",
            edge->to, edge->dead_letter, edge->type);
}

char *
ab_topology_dot (const ab_topology_t *self)
{
    assert (self);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return NULL;
    fprintf (out, "digraph \"%s\" {\n  rankdir=LR;\n", ab_topology_name (self));
    fputs ("  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
           "  edge [fontname=\"Helvetica\", fontsize=10];\n",
           out);
    for (size_t i = 0; i < ab_topology_agent_count (self); i++)
        fprintf (out, "  \"%s\";\n", ab_topology_agent_name (self, i));
    for (size_t i = 0; i < ab_topology_edge_count (self); i++)
        s_dot_edge (out, ab_topology_edge (self, i));
    fputs ("}\n", out);
    if (fclose (out) != 0) {
        free (text);
        return NULL;
    }
    return text;
}

static const char *
s_plural (size_t count)
{
    return count == 1 ? "" : "s";
}

char *
ab_topology_summary (const ab_topology_t *self)
{
    assert (self);
    size_t agents = ab_topology_agent_count (self);
    size_t edges = ab_topology_edge_count (self);
    size_t types = ab_topology_type_count (self);
    size_t versions = ab_topology_version_count (self);
    return zsys_sprintf (
        "%s: %zu agent%s, %zu edge%s, %zu type%s, %zu schema version%s",
        ab_topology_id (self), agents, s_plural (agents), edges,
        s_plural (edges), types, s_plural (types), versions,
        s_plural (versions));
}
