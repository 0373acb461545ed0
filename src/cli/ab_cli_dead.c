/*  =========================================================================
    ab_cli_dead - `agentbus dead`: list, replay and purge dead letters

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    agentbus dead list   --admin ENDPOINT [--json]
    agentbus dead replay --admin ENDPOINT (ID... | --all)
    agentbus dead purge  --admin ENDPOINT (ID... | --all)

    Speaks the broker's admin protocol (docs/admin.md) on a REQ socket.
    `list` prints one line per dead letter, oldest first (tab-separated:
    id, reason, attempts, edge, type, from, at_ms), or with --json one
    JSON object per line. Exit status: 0 done, 1 the broker refused some
    or did not answer, 2 a usage error.
*/

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <czmq.h>
#include <jansson.h>

#include "agentbus.h"
#include "cli/ab_cli.h"
#include "common/ab_oom.h"

/* How long the broker may take to answer one request. */
#define S_TIMEOUT_MS 5000

static const char *s_usage =
    "usage: agentbus dead list --admin ENDPOINT [--json]\n"
    "       agentbus dead replay|purge --admin ENDPOINT (ID... | --all)\n";

/* What the command line asked for. */
typedef struct {
    const char *action; /* list, replay, purge */
    const char *admin;  /* --admin ENDPOINT */
    bool all;           /* --all */
    bool json;          /* --json */
    char **ids;         /* the IDs (argv) */
    int id_count;       /* how many */
} s_args_t;

/* Sends `request` (taken) and returns the broker's answer, or NULL with
   a message on stderr. */
static json_t *
s_ask (zsock_t *req, const char *admin, json_t *request)
{
    char *text = json_dumps (request, JSON_COMPACT);
    json_decref (request);
    if (!text || zstr_send (req, text)) {
        free (text);
        fprintf (stderr, "agentbus dead: cannot send to %s\n", admin);
        return NULL;
    }
    free (text);
    char *reply = zstr_recv (req);
    if (!reply) {
        fprintf (stderr, "agentbus dead: no answer from %s within %d ms\n",
                 admin, S_TIMEOUT_MS);
        return NULL;
    }
    json_t *answer = json_loads (reply, 0, NULL);
    zstr_free (&reply);
    if (!json_is_object (answer)) {
        fprintf (stderr, "agentbus dead: %s answered something not JSON\n",
                 admin);
        json_decref (answer);
        return NULL;
    }
    return answer;
}

/* How `dead list` prints an entry. */
typedef enum {
    S_AS_TEXT, /* one tab-separated line */
    S_AS_JSON, /* one JSON object a line (--json) */
} s_print_t;

static void
s_print_entry (const json_t *entry, s_print_t print)
{
    if (print == S_AS_JSON) {
        char *line = json_dumps (entry, JSON_COMPACT | JSON_SORT_KEYS);
        printf ("%s\n", line ? line : "{}");
        free (line);
        return;
    }
    printf ("%s\t%s\t%" JSON_INTEGER_FORMAT
            "\t%s\t%s\t%s\t%" JSON_INTEGER_FORMAT "\n",
            json_string_value (json_object_get (entry, "id")),
            json_string_value (json_object_get (entry, "reason")),
            json_integer_value (json_object_get (entry, "attempts")),
            json_string_value (json_object_get (entry, "edge")),
            json_string_value (json_object_get (entry, "type")) ?: "?",
            json_string_value (json_object_get (entry, "from")) ?: "?",
            json_integer_value (json_object_get (entry, "at_ms")));
}

/* Pages through dead.list until the cursor is null. */
static int
s_list (zsock_t *req, const s_args_t *args)
{
    json_t *cursor = json_null ();
    while (true) {
        json_t *request =
            ab_oom_check (json_pack ("{s:s, s:i, s:o}", "cmd", "dead.list",
                                     "limit", 100, "cursor", cursor));
        json_t *answer = s_ask (req, args->admin, request);
        if (!answer)
            return 1;
        if (!json_is_true (json_object_get (answer, "ok"))) {
            fprintf (stderr, "agentbus dead list: %s\n",
                     json_string_value (json_object_get (answer, "error")));
            json_decref (answer);
            return 1;
        }
        size_t index;
        json_t *entry;
        json_array_foreach (json_object_get (answer, "dead"), index, entry)
            s_print_entry (entry, args->json ? S_AS_JSON : S_AS_TEXT);
        cursor = json_incref (json_object_get (answer, "cursor"));
        json_decref (answer);
        if (!json_is_string (cursor)) {
            json_decref (cursor);
            return 0;
        }
    }
}

/* dead.replay or dead.purge of the IDs or --all. */
static int
s_each (zsock_t *req, const s_args_t *args)
{
    /* a tool's bookkeeping: out of memory, it stops (ab_oom.h) rather
       than send a request with ids missing */
    json_t *request =
        ab_oom_check (json_pack ("{s:s+}", "cmd", "dead.", args->action));
    if (args->all)
        json_object_set_new (request, "all", json_true ());
    else {
        json_t *ids = ab_oom_check (json_array ());
        for (int i = 0; i < args->id_count; i++)
            json_array_append_new (ids,
                                   ab_oom_check (json_string (args->ids[i])));
        if (json_object_set_new (request, "ids", ids) != 0)
            ab_oom_abort (__FILE__, __LINE__, "the request's ids");
    }
    json_t *answer = s_ask (req, args->admin, request);
    if (!answer)
        return 1;
    const char *error = json_string_value (json_object_get (answer, "error"));
    if (error)
        fprintf (stderr, "agentbus dead %s: %s\n", args->action, error);
    size_t index;
    json_t *failed;
    json_array_foreach (json_object_get (answer, "failed"), index, failed)
        fprintf (stderr, "agentbus dead %s: %s: %s\n", args->action,
                 json_string_value (json_object_get (failed, "id")),
                 json_string_value (json_object_get (failed, "error")));
    if (!error)
        printf ("%s %" JSON_INTEGER_FORMAT "\n",
                streq (args->action, "replay") ? "replayed" : "purged",
                json_integer_value (json_object_get (answer, "done")));
    int status = json_is_true (json_object_get (answer, "ok")) ? 0 : 1;
    json_decref (answer);
    return status;
}

/* Reads the flags after the action. Returns 0 or 2 (usage). */
static int
s_parse (int argc, char *argv[], s_args_t *args)
{
    static const struct option options[] = {
        {"admin", required_argument, NULL, 'a'},
        {"all", no_argument, NULL, 'A'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long (argc, argv, "+", options, NULL)) != -1) {
        if (c == 'a')
            args->admin = optarg;
        else if (c == 'A')
            args->all = true;
        else if (c == 'j')
            args->json = true;
        else
            return 2;
    }
    args->ids = argv + optind;
    args->id_count = argc - optind;
    bool list = streq (args->action, "list");
    if (!args->admin || (list && (args->all || args->id_count)) ||
        (!list && args->all == (args->id_count > 0)) || (!list && args->json))
        return 2;
    return 0;
}

int
ab_cli_dead (int argc, char *argv[])
{
    if (argc < 2 || (!streq (argv[1], "list") && !streq (argv[1], "replay") &&
                     !streq (argv[1], "purge"))) {
        fputs (s_usage, stderr);
        return 2;
    }
    s_args_t args = {.action = argv[1]};
    if (s_parse (argc - 1, argv + 1, &args)) {
        fputs (s_usage, stderr);
        return 2;
    }
    zsock_t *req = zsock_new (ZMQ_REQ);
    if (!req || zsock_connect (req, "%s", args.admin) < 0) {
        fprintf (stderr, "agentbus dead: cannot connect to %s\n", args.admin);
        zsock_destroy (&req);
        return 1;
    }
    zsock_set_rcvtimeo (req, S_TIMEOUT_MS);
    zsock_set_linger (req, 0);
    int status =
        streq (args.action, "list") ? s_list (req, &args) : s_each (req, &args);
    zsock_destroy (&req);
    return status;
}
