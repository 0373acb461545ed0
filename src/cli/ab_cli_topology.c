/*  =========================================================================
    ab_cli_topology - `agentbus check` and `agentbus graph`

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Exit status: 0 done, 1 the topology (or rendering) failed, 2 usage.
*/

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentbus.h"
#include "cli/ab_cli.h"
#include "common/ab_oom.h"
#include "schema/ab_translate.h"
#include "topology/ab_topology.h"
#include "topology/ab_topology_dot.h"

/* Loads a topology, printing every problem to stderr. */
static ab_topology_t *
s_load (const char *path)
{
    ab_diag_t *diag = ab_diag_new ();
    ab_topology_t *topology = ab_topology_load (path, NULL, diag);
    ab_diag_print (diag, stderr);
    if (!topology && ab_diag_count (diag) == 0)
        fprintf (stderr, "%s: cannot load topology\n", path);
    ab_diag_destroy (&diag);
    return topology;
}

int
ab_cli_check (int argc, char *argv[])
{
    bool compat = argc == 3 && strcmp (argv[1], "--compat") == 0;
    const char *path = compat ? argv[2] : argv[1];
    if ((argc != 2 && !compat) || path[0] == '-') {
        fprintf (stderr, "usage: agentbus check [--compat] TOPOLOGY\n");
        return 2;
    }
    ab_topology_t *topology = s_load (path);
    if (!topology)
        return 1;
    char *summary = ab_topology_summary (topology);
    printf ("%s\n", summary ? summary : ab_topology_id (topology));
    free (summary);
    if (compat) { /* versions.md: the relations per consecutive pair */
        char *report = ab_translate_compat_report (
            ab_registry_translations (ab_topology_registry (topology)));
        fputs (report ? report : "", stdout);
        free (report);
    }
    ab_topology_unref (&topology);
    return 0;
}

/* True when `program` is an executable file in a $PATH folder. */
static bool
s_on_path (const char *program)
{
    const char *path = getenv ("PATH");
    char *folders = ab_oom_check (strdup (path ? path : "/usr/bin:/bin"));
    bool found = false;
    char *state = NULL;
    for (char *folder = strtok_r (folders, ":", &state); folder && !found;
         folder = strtok_r (NULL, ":", &state)) {
        char candidate[4096];
        snprintf (candidate, sizeof candidate, "%s/%s", folder, program);
        found = access (candidate, X_OK) == 0;
    }
    free (folders);
    return found;
}

/* Pipes DOT through `dot -Tsvg -o FILE`; returns the exit status. */
static int
s_render_svg (const char *dot, const char *svg)
{
    if (!s_on_path ("dot")) {
        fprintf (stderr, "agentbus: --svg needs Graphviz's 'dot' program, "
                         "which is not on PATH\n");
        return 1;
    }
    char *command = NULL;
    if (asprintf (&command, "dot -Tsvg -o '%s'", svg) < 0 ||
        strchr (svg, '\'')) {
        fprintf (stderr, "agentbus: cannot use '%s' as the SVG file name\n",
                 svg);
        free (command);
        return 1;
    }
    FILE *pipe = popen (command, "w");
    free (command);
    if (!pipe) {
        perror ("agentbus: dot");
        return 1;
    }
    fputs (dot, pipe);
    int status = pclose (pipe);
    if (status == -1 || !WIFEXITED (status) || WEXITSTATUS (status) != 0) {
        fprintf (stderr, "agentbus: dot failed to write %s\n", svg);
        return 1;
    }
    return 0;
}

int
ab_cli_graph (int argc, char *argv[])
{
    const char *path = NULL;
    const char *svg = NULL;
    bool usage = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--svg") == 0 && i + 1 < argc && !svg)
            svg = argv[++i];
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else
            usage = true;
    }
    if (usage || !path) {
        fprintf (stderr, "usage: agentbus graph TOPOLOGY [--svg FILE]\n");
        return 2;
    }
    ab_topology_t *topology = s_load (path);
    if (!topology)
        return 1;
    char *dot = ab_topology_dot (topology);
    ab_topology_unref (&topology);
    int status = 1;
    if (dot && svg)
        status = s_render_svg (dot, svg);
    else if (dot) {
        fputs (dot, stdout);
        status = 0;
    }
    free (dot);
    return status;
}
