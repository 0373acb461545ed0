/*  =========================================================================
    ab_cli - subcommands of the `agentbus` command-line tool

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Each subcommand is a function taking the arguments after its name
    (argv[0] is the subcommand) and returning the process exit status.
    They live in their own files and are listed in agentbus.c's table.
*/

#ifndef AB_CLI_H_INCLUDED
#define AB_CLI_H_INCLUDED

typedef int (ab_cli_fn) (int argc, char *argv[]);

/* src/ab_cli_topology.c */
ab_cli_fn ab_cli_check;
ab_cli_fn ab_cli_graph;

/* agentbus validate (src/ab_cli_validate.c) */
ab_cli_fn ab_cli_validate;

/* agentbus translate (src/cli/ab_cli_translate.c) */
ab_cli_fn ab_cli_translate;

/* agentbus asyncapi (src/cli/ab_cli_asyncapi.c) */
ab_cli_fn ab_cli_asyncapi;

/* agentbus dead (src/ab_cli_dead.c) */
ab_cli_fn ab_cli_dead;

/* agentbus keygen (src/cli/ab_cli_keygen.c) */
ab_cli_fn ab_cli_keygen;

#endif
