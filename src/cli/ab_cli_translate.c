/*  =========================================================================
    ab_cli_translate - `agentbus translate`: try a version translation

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    agentbus translate --schemas DIR --type T --from V --to W [FILE|-]

    Loads every schema file of DIR as the broker would (translations and
    declared compatibility checked), validates the document against T/V,
    runs the chain of translations to W (versions.md: the shortest, ties
    toward newer versions) and validates the result against T/W, then
    prints it. Exit status: 0 printed, 1 the document or the translation
    failed (the reason on stderr), 2 usage, or schemas that do not load.
*/

#include <dirent.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "cli/ab_cli.h"
#include "schema/ab_translate.h"
#include "schema/ab_registry.h"

#define S_MAX_FILES 4096 /* schema files read from DIR */

static const char *s_usage =
    "usage: agentbus translate --schemas DIR --type T --from V --to W "
    "[FILE|-]\n";

/* What the command line asked for. */
typedef struct {
    const char *schemas; /* --schemas DIR */
    const char *type;    /* --type T */
    int from;            /* --from V */
    int to;              /* --to W */
    const char *input;   /* FILE, or "-" for stdin */
} s_args_t;

/* A version number option, 1..INT_MAX; 0 when it is not one. */
static int
s_version (const char *text)
{
    char *end;
    long value = strtol (text, &end, 10);
    return *text && !*end && value >= 1 && value <= INT_MAX ? (int)value : 0;
}

static int
s_parse (int argc, char *argv[], s_args_t *args)
{
    static const struct option options[] = {
        {"schemas", required_argument, NULL, 's'},
        {"type", required_argument, NULL, 't'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 0;
    while ((c = getopt_long (argc, argv, "+", options, NULL)) != -1) {
        if (c == 's')
            args->schemas = optarg;
        else if (c == 't')
            args->type = optarg;
        else if (c == 'f')
            args->from = s_version (optarg);
        else if (c == 'o')
            args->to = s_version (optarg);
        else if (c == 'h') {
            fputs (s_usage, stdout);
            exit (0);
        } else
            return 2;
    }
    args->input = optind < argc ? argv[optind] : "-";
    if (!args->schemas || !args->type || !args->from || !args->to ||
        argc - optind > 1) {
        fputs (s_usage, stderr);
        return 2;
    }
    return 0;
}

static bool
s_schema_file (const char *name)
{
    size_t n = strlen (name);
    return (n > 5 && strcmp (name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp (name + n - 4, ".yml") == 0) ||
           (n > 5 && strcmp (name + n - 5, ".json") == 0);
}

static int
s_name_compare (const void *a, const void *b)
{
    return strcmp (*(char *const *)a, *(char *const *)b);
}

/* Loads every schema file of `dir` in name order and compiles. */
static int
s_load (ab_registry_t *registry, const char *dir, ab_diag_t *diag)
{
    DIR *d = opendir (dir);
    if (!d) {
        fprintf (stderr, "agentbus translate: cannot open %s\n", dir);
        return AB_ENOENT;
    }
    char **names = calloc (S_MAX_FILES, sizeof (char *));
    size_t n = 0;
    struct dirent *entry;
    while (names && (entry = readdir (d)) && n < S_MAX_FILES)
        if (entry->d_name[0] != '.' && s_schema_file (entry->d_name))
            names[n++] = strdup (entry->d_name);
    closedir (d);
    if (!names)
        return AB_ENOMEM;
    qsort (names, n, sizeof (char *), s_name_compare);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        snprintf (path, sizeof path, "%s/%s", dir, names[i]);
        if (ab_registry_load_file (registry, path, diag, NULL, NULL) != 0)
            rc = AB_EINVAL;
        free (names[i]);
    }
    free (names);
    return rc ? rc : ab_registry_compile (registry, diag);
}

/* Prints each error of a protocol errors array on stderr. */
static void
s_print_errors (const char *what, const json_t *errors)
{
    size_t index;
    json_t *error;
    json_array_foreach (errors, index, error)
    {
        const char *path = json_string_value (json_object_get (error, "path"));
        fprintf (stderr, "agentbus translate: %s: %s%s%s\n", what,
                 path && *path ? path : "", path && *path ? ": " : "",
                 json_string_value (json_object_get (error, "message")));
    }
}

/* Validates, translates and prints; returns the exit status. */
static int
s_translate (const ab_registry_t *registry, const s_args_t *args,
             const json_t *document)
{
    const ab_schema_t *source =
        ab_registry_lookup (registry, args->type, args->from);
    if (!source || !ab_registry_lookup (registry, args->type, args->to)) {
        fprintf (stderr, "agentbus translate: no schema %s v%d\n", args->type,
                 source ? args->to : args->from);
        return 1;
    }
    json_t *errors = NULL;
    if (ab_schema_validate (source, document, &errors) != 0) {
        s_print_errors ("not a valid source document", errors);
        json_decref (errors);
        return 1;
    }
    const ab_chain_t *chain = ab_translate_chain (
        ab_registry_translations (registry), args->type, args->from, args->to);
    if (!chain) {
        fprintf (stderr,
                 "agentbus translate: no chain of translations leads from "
                 "%s v%d to v%d\n",
                 args->type, args->from, args->to);
        return 1;
    }
    json_t *result = NULL;
    if (ab_chain_apply (chain, document, &result, &errors) != 0) {
        s_print_errors ("translation failed", errors);
        json_decref (errors);
        return 1;
    }
    char *text = json_dumps (result, JSON_ENCODE_ANY | JSON_INDENT (2));
    printf ("%s\n", text ? text : "null");
    free (text);
    json_decref (result);
    return 0;
}

int
ab_cli_translate (int argc, char *argv[])
{
    s_args_t args = {0};
    int status = s_parse (argc, argv, &args);
    if (status != 0)
        return status;
    ab_registry_t *registry = ab_registry_new (NULL);
    ab_diag_t *diag = ab_diag_new ();
    if (!registry || !diag || s_load (registry, args.schemas, diag) != 0) {
        ab_diag_print (diag, stderr);
        status = 2;
    } else {
        json_error_t error;
        bool from_stdin = strcmp (args.input, "-") == 0;
        json_t *document =
            from_stdin
                ? json_loadf (stdin, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error)
                : json_load_file (args.input, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                                  &error);
        if (!document) {
            fprintf (stderr, "agentbus translate: %s: not JSON: %d:%d: %s\n",
                     from_stdin ? "<stdin>" : args.input, error.line,
                     error.column, error.text);
            status = 1;
        } else
            status = s_translate (registry, &args, document);
        json_decref (document);
    }
    ab_diag_destroy (&diag);
    ab_registry_destroy (&registry);
    return status;
}
