/*  =========================================================================
    ab_cli_keygen - `agentbus keygen`: a CURVE key pair as czmq certificates

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    agentbus keygen NAME [--dir D] [--force]

    Writes D/NAME.key (the public certificate, mode 0644) and
    D/NAME.key_secret (the secret one, mode 0600) in czmq's zcert format,
    which czmq's zcert_load, pyzmq's zmq.auth.load_certificate and the
    agentbus clients read, and prints the Z85 public key to paste under the
    agent's `keys` in the topology (docs/security.md). D defaults to the
    current directory and is created with mode 0700 when missing. Existing
    files are never overwritten without --force. The key pair comes from
    libzmq (zmq_curve_keypair, through czmq's zcert). Exit status: 0 done,
    1 the files could not be written, 2 a usage error.
*/

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <czmq.h>

#include "cli/ab_cli.h"

static const char *s_usage =
    "usage: agentbus keygen NAME [--dir D] [--force]\n";

/* What the command line asked for. */
typedef struct {
    const char *name; /* NAME: the files' base name and the cert's name */
    const char *dir;  /* --dir D, "." by default */
    int force;        /* --force: replace existing files */
} s_args_t;

/* A NAME becomes a file name: no separators, no leading dot, printable. */
static int
s_name_ok (const char *name)
{
    if (!*name || *name == '.' || strlen (name) > 200)
        return 0;
    for (const char *c = name; *c; c++)
        if (*c == '/' || *c < 0x21 || *c > 0x7e)
            return 0;
    return 1;
}

/* Creates `dir` and any missing parent, each with mode 0700. Returns 0,
   or -1 with errno set. */
static int
s_make_dir (const char *dir)
{
    char path[4096];
    if (snprintf (path, sizeof path, "%s", dir) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *c = path + 1; *c; c++) {
        if (*c != '/')
            continue;
        *c = '\0';
        if (mkdir (path, 0700) != 0 && errno != EEXIST)
            return -1;
        *c = '/';
    }
    if (mkdir (path, 0700) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat (path, &st) != 0)
        return -1;
    if (!S_ISDIR (st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static int
s_parse (int argc, char *argv[], s_args_t *args)
{
    static const struct option options[] = {
        {"dir", required_argument, NULL, 'd'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *args = (s_args_t){.dir = "."};
    optind = 1;
    int opt;
    while ((opt = getopt_long (argc, argv, "", options, NULL)) != -1) {
        if (opt == 'd')
            args->dir = optarg;
        else if (opt == 'f')
            args->force = 1;
        else if (opt == 'h') {
            fputs (s_usage, stdout);
            return 0;
        } else
            return 2;
    }
    if (optind != argc - 1) {
        fputs (s_usage, stderr);
        return 2;
    }
    args->name = argv[optind];
    if (!s_name_ok (args->name)) {
        fprintf (stderr,
                 "agentbus keygen: '%s' is not a usable name (a file name "
                 "without '/' or a leading '.')\n",
                 args->name);
        return 2;
    }
    return -1;
}

/* Saves the certificate's two files; `public_path` and `secret_path` were
   checked by the caller. Returns 0 or 1 after saying why. */
static int
s_save (zcert_t *cert, const char *public_path, const char *secret_path)
{
    if (zcert_save_secret (cert, secret_path) != 0 ||
        chmod (secret_path, 0600) != 0) {
        fprintf (stderr, "agentbus keygen: cannot write %s: %s\n", secret_path,
                 strerror (errno));
        return 1;
    }
    if (zcert_save_public (cert, public_path) != 0 ||
        chmod (public_path, 0644) != 0) {
        fprintf (stderr, "agentbus keygen: cannot write %s: %s\n", public_path,
                 strerror (errno));
        unlink (secret_path);
        return 1;
    }
    return 0;
}

int
ab_cli_keygen (int argc, char *argv[])
{
    s_args_t args;
    int rc = s_parse (argc, argv, &args);
    if (rc >= 0)
        return rc;
    if (s_make_dir (args.dir) != 0) {
        fprintf (stderr, "agentbus keygen: cannot create directory %s: %s\n",
                 args.dir, strerror (errno));
        return 1;
    }
    char public_path[4096], secret_path[4096];
    snprintf (public_path, sizeof public_path, "%s/%s.key", args.dir,
              args.name);
    snprintf (secret_path, sizeof secret_path, "%s/%s.key_secret", args.dir,
              args.name);
    const char *paths[] = {public_path, secret_path};
    for (int i = 0; i < 2 && !args.force; i++)
        if (access (paths[i], F_OK) == 0) {
            fprintf (stderr,
                     "agentbus keygen: %s exists; not overwritten (use "
                     "--force to replace it)\n",
                     paths[i]);
            return 1;
        }
    /* A replaced file is removed first, so the new secret is never written
       into a file that kept a looser mode. */
    for (int i = 0; i < 2 && args.force; i++)
        if (unlink (paths[i]) != 0 && errno != ENOENT) {
            fprintf (stderr, "agentbus keygen: cannot replace %s: %s\n",
                     paths[i], strerror (errno));
            return 1;
        }
    zcert_t *cert = zcert_new ();
    if (!cert) {
        fprintf (stderr, "agentbus keygen: cannot make a key pair "
                         "(libzmq built without CURVE?)\n");
        return 1;
    }
    zcert_set_meta (cert, "name", "%s", args.name);
    rc = s_save (cert, public_path, secret_path);
    if (rc == 0)
        printf ("%s\n", zcert_public_txt (cert));
    zcert_destroy (&cert);
    return rc;
}
