/*  =========================================================================
    agentbus - the command-line tool: check, graph, validate, ...

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <stdio.h>
#include <string.h>

#include "agentbus.h"
#include "cli/ab_cli.h"

static int s_cmd_version (int argc, char *argv[]);

/* The subcommands, in the order `agentbus --help` lists them. */
static const struct {
    const char *name;
    const char *usage;
    ab_cli_fn *fn;
} s_commands[] = {
    {"check",
     "check [--compat] TOPOLOGY    check a topology and its schemas (and "
     "print the versions' compatibility)",
     ab_cli_check},
    {"graph", "graph TOPOLOGY [--svg FILE]  print the agent graph as DOT",
     ab_cli_graph},
    {"validate", "validate --schema FILE [INSTANCE...]  check JSON documents",
     ab_cli_validate},
    {"translate",
     "translate --schemas DIR --type T --from V --to W [FILE|-]  try a "
     "version translation",
     ab_cli_translate},
    {"asyncapi",
     "asyncapi TOPOLOGY [--format yaml|json]  write an AsyncAPI 3.0.0 "
     "document",
     ab_cli_asyncapi},
    {"dead",
     "dead list|replay|purge --admin EP [ID...|--all]  manage dead letters",
     ab_cli_dead},
    {"keygen", "keygen NAME [--dir D] [--force]  write a CURVE key pair",
     ab_cli_keygen},
    {"version", "version                      print the version",
     s_cmd_version},
};

static int
s_cmd_version (int argc, char *argv[])
{
    printf ("agentbus %s (protocol %s)\n", PACKAGE_VERSION,
            AB_PROTOCOL_SIGNATURE);
    return 0;
}

static void
s_usage (FILE *stream)
{
    fprintf (stream, "usage: agentbus COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        fprintf (stream, "  agentbus %s\n", s_commands[i].usage);
}

int
main (int argc, char *argv[])
{
    if (argc < 2) {
        s_usage (stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp (name, "--help") == 0 || strcmp (name, "-h") == 0) {
        s_usage (stdout);
        return 0;
    }
    if (strcmp (name, "--version") == 0)
        name = "version";
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (strcmp (name, s_commands[i].name) == 0)
            return s_commands[i].fn (argc - 1, argv + 1);
    fprintf (stderr, "agentbus: unknown command '%s'\n", name);
    s_usage (stderr);
    return 2;
}
