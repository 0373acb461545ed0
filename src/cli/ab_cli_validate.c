/*  =========================================================================
    ab_cli_validate - `agentbus validate`: instances against a schema file

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    agentbus validate --schema FILE [--registry DIR]... [--remote PREFIX=DIR]...
                      [--format-assert] [--jsonl] [INSTANCE...]

    Exit status: 0 every instance valid, 1 some invalid (or not JSON),
    2 a bad schema, an unreadable file or a usage error.
*/

#include <dirent.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "cli/ab_cli.h"
#include "common/ab_oom.h"
#include "schema/ab_registry.h"
#include "schema/ab_schema.h"
#include "schema/ab_translate.h"

#define S_MAX_FILES 4096 /* schema files read from one --registry DIR */

/* What the command line asked for. */
typedef struct {
    const char *schema;      /* --schema FILE */
    bool jsonl;              /* --jsonl: one document per stdin line */
    bool format_assert;      /* --format-assert */
    ab_registry_t *registry; /* made once the options are known */
    ab_diag_t *diag;         /* load and compile problems */
} s_args_t;

static const char *s_usage =
    "usage: agentbus validate --schema FILE [--registry DIR]... "
    "[--remote PREFIX=DIR]... [--format-assert] [--jsonl] [INSTANCE...]\n";

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

/* Loads every schema file of a folder (in name order) except `skip`. */
static int
s_load_dir (s_args_t *args, const char *dir, const char *skip)
{
    DIR *d = opendir (dir);
    if (!d) {
        fprintf (stderr, "agentbus validate: cannot open %s\n", dir);
        return AB_ENOENT;
    }
    char **names = calloc (S_MAX_FILES, sizeof (char *));
    size_t n = 0;
    struct dirent *entry;
    while (names && (entry = readdir (d)) && n < S_MAX_FILES)
        if (s_schema_file (entry->d_name))
            names[n++] = strdup (entry->d_name);
    closedir (d);
    if (!names)
        return AB_ENOMEM;
    qsort (names, n, sizeof (char *), s_name_compare);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX], real[PATH_MAX];
        snprintf (path, sizeof path, "%s/%s", dir, names[i]);
        bool same = skip && realpath (path, real) && strcmp (real, skip) == 0;
        if (!same && ab_registry_load_file (args->registry, path, args->diag,
                                            NULL, NULL) != 0)
            rc = AB_EINVAL;
        free (names[i]);
    }
    free (names);
    return rc;
}

/* Parses the options; loads --registry folders after the schema is known
   so the schema file itself is not loaded twice. Returns 0, or 2. */
static int
s_parse (int argc, char *argv[], s_args_t *args)
{
    static const struct option options[] = {
        {"schema", required_argument, NULL, 's'},
        {"registry", required_argument, NULL, 'r'},
        {"remote", required_argument, NULL, 'm'},
        {"format-assert", no_argument, NULL, 'f'},
        {"jsonl", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 0;
    while ((c = getopt_long (argc, argv, "+", options, NULL)) != -1) {
        if (c == 's')
            args->schema = optarg;
        else if (c == 'f')
            args->format_assert = true;
        else if (c == 'j')
            args->jsonl = true;
        else if (c == 'h') {
            fputs (s_usage, stdout);
            exit (0);
        } else if (c != 'r' && c != 'm')
            return 2;
    }
    if (!args->schema || (args->jsonl && optind < argc)) {
        fputs (s_usage, stderr);
        return 2;
    }
    return 0;
}

/* Second pass over the options: remotes and registry folders. */
static int
s_load_extras (int argc, char *argv[], s_args_t *args)
{
    char real[PATH_MAX];
    const char *skip = realpath (args->schema, real) ? real : NULL;
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : "";
        if (strcmp (argv[i], "--remote") == 0) {
            const char *eq = strchr (value, '=');
            if (!eq) {
                fprintf (stderr, "agentbus validate: --remote needs "
                                 "PREFIX=DIR\n");
                return 2;
            }
            char *prefix = ab_oom_check (strndup (value, (size_t)(eq - value)));
            ab_registry_map_remote (args->registry, prefix, eq + 1);
            free (prefix);
        } else if (strcmp (argv[i], "--registry") == 0 &&
                   s_load_dir (args, value, skip) != 0)
            return 2;
    }
    return 0;
}

/* Loads and compiles; returns the schema or NULL (problems printed). */
static const ab_schema_t *
s_load (int argc, char *argv[], s_args_t *args)
{
    const char *type = NULL;
    int version = 0;
    char real[PATH_MAX], uri[PATH_MAX + 8];
    if (s_load_extras (argc, argv, args) != 0 ||
        ab_registry_load_file (args->registry, args->schema, args->diag, &type,
                               &version) != 0 ||
        ab_registry_compile (args->registry, args->diag) != 0) {
        ab_diag_print (args->diag, stderr);
        return NULL;
    }
    if (type)
        return ab_registry_lookup (args->registry, type, version);
    snprintf (uri, sizeof uri, "file://%s",
              realpath (args->schema, real) ? real : args->schema);
    return ab_registry_lookup_id (args->registry, uri);
}

/* Prints a message on one line: control characters (a property name
   may hold a newline) as \n, \t or \u00XX, so that --jsonl stays one
   output line per document. */
static void
s_print_line (const char *text)
{
    if (!text)
        text = "invalid";
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '\n')
            fputs ("\\n", stdout);
        else if (*p == '\t')
            fputs ("\\t", stdout);
        else if (*p < 0x20 || *p == 0x7f)
            printf ("\\u%04x", *p);
        else
            putchar (*p);
    }
    putchar ('\n');
}

/* How many errors s_report prints of an invalid instance. */
typedef enum {
    S_FIRST_ERROR, /* one line an instance: JSON lines on stdin */
    S_ALL_ERRORS,  /* a line per error: instance files */
} s_errors_t;

/* Prints "PREFIXvalid" or "PREFIXinvalid: PATH: MESSAGE"; returns 0/1. */
static int
s_report (const ab_schema_t *schema, const json_t *instance, const char *prefix,
          s_errors_t errors_wanted)
{
    json_t *errors = NULL;
    int rc = ab_schema_validate (schema, instance, &errors);
    if (rc == 0) {
        printf ("%svalid\n", prefix);
        return 0;
    }
    size_t index;
    json_t *error;
    json_array_foreach (errors, index, error)
    {
        printf ("%sinvalid: ", prefix);
        s_print_line (json_string_value (json_object_get (error, "message")));
        if (errors_wanted == S_FIRST_ERROR)
            break;
    }
    if (!errors)
        printf ("%sinvalid: %s\n", prefix, ab_strerror (rc));
    json_decref (errors);
    return 1;
}

static int
s_validate_jsonl (const ab_schema_t *schema)
{
    int status = 0;
    char *line = NULL;
    size_t size = 0;
    ssize_t length;
    while ((length = getline (&line, &size, stdin)) >= 0) {
        if (strspn (line, " \t\r\n") == (size_t)length)
            continue;
        json_error_t error;
        json_t *instance = json_loadb (
            line, (size_t)length, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
        if (!instance) {
            printf ("invalid: not JSON: %s\n", error.text);
            status = 1;
            continue;
        }
        status |= s_report (schema, instance, "", S_FIRST_ERROR);
        json_decref (instance);
    }
    free (line);
    return status;
}

static int
s_validate_files (const ab_schema_t *schema, int count, char *files[])
{
    int status = 0;
    for (int i = 0; i < count; i++) {
        bool stdin_file = strcmp (files[i], "-") == 0;
        json_error_t error;
        json_t *instance =
            stdin_file
                ? json_loadf (stdin, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error)
                : json_load_file (files[i], JSON_DECODE_ANY | JSON_ALLOW_NUL,
                                  &error);
        char prefix[PATH_MAX + 4];
        snprintf (prefix, sizeof prefix,
                  "%s: ", stdin_file ? "<stdin>" : files[i]);
        if (!instance && error.line < 0) {
            fprintf (stderr, "agentbus validate: %s\n", error.text);
            return 2;
        }
        if (!instance) {
            printf ("%sinvalid: not JSON: %d:%d: %s\n", prefix, error.line,
                    error.column, error.text);
            status = 1;
            continue;
        }
        status |= s_report (schema, instance, prefix, S_ALL_ERRORS);
        json_decref (instance);
    }
    return status;
}

int
ab_cli_validate (int argc, char *argv[])
{
    s_args_t args = {0};
    int status = s_parse (argc, argv, &args);
    if (status != 0)
        return status;
    ab_registry_options_t options = {args.format_assert, 16};
    args.registry = ab_registry_new (&options);
    if (args.registry) /* one file may be loaded without its other versions */
        ab_registry_versions_lenient (args.registry);
    args.diag = ab_diag_new ();
    const ab_schema_t *schema =
        args.registry && args.diag ? s_load (argc, argv, &args) : NULL;
    if (!schema)
        status = 2;
    else if (args.jsonl)
        status = s_validate_jsonl (schema);
    else if (optind >= argc)
        status = s_validate_files (schema, 1, (char *[]){"-"});
    else
        status = s_validate_files (schema, argc - optind, argv + optind);
    ab_diag_destroy (&args.diag);
    ab_registry_destroy (&args.registry);
    return status;
}
