/*  =========================================================================
    ab_cli_asyncapi - `agentbus asyncapi`: the topology as AsyncAPI 3.0.0

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    agentbus asyncapi TOPOLOGY [--format yaml|json]

    versions.md, "Export for the ecosystem": `info` from the topology's
    name and hash; one channel per edge, its address FROM/TO/TYPE; one
    message per version the edge accepts, its payload the version's JSON
    Schema (schemaFormat application/schema+json;version=draft-2020-12);
    a `send` operation for the producing agent and a `receive` for the
    consuming one; a request edge's operations carry a `reply` on a
    channel of its own (TO/FROM/REPLY) holding the reply type's versions.
    The agent of an operation is in `x-agentbus-agent`.

    YAML is written in block style with every string double-quoted (JSON's
    escapes are YAML's), so it reads back to exactly the JSON document.
    Exit status: 0 written, 1 the topology failed to load, 2 usage.
*/

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "cli/ab_cli.h"
#include "schema/ab_translate.h"
#include "topology/ab_topology.h"
#include "schema/ab_registry.h"

#define S_MAX_VERSIONS 1024 /* versions of one type exported */
#define S_SCHEMA_FORMAT "application/schema+json;version=draft-2020-12"

/* "#/channels/ID" or "#/channels/ID/messages/MSG" as {"$ref": ...}. */
static json_t *
s_ref (const char *channel, const char *message)
{
    char *ref =
        message ? zsys_sprintf ("#/channels/%s/messages/%s", channel, message)
                : zsys_sprintf ("#/channels/%s", channel);
    json_t *json = json_pack ("{s:s}", "$ref", ref ? ref : "");
    zstr_free (&ref);
    return json;
}

/* A channel carrying `type` from `from` to `to` in the versions an edge
   accepts (NULL: all); adds it under `id` and returns the list of
   references to its messages. */
static json_t *
s_channel (json_t *channels, const ab_translate_t *table, const char *id,
           const char *from, const char *to, const char *type,
           const int *accepted, size_t accepted_count)
{
    int versions[S_MAX_VERSIONS];
    size_t count =
        ab_translate_versions (table, type, versions, S_MAX_VERSIONS);
    json_t *messages = json_object (), *refs = json_array ();
    for (size_t i = 0; i < count && i < S_MAX_VERSIONS; i++) {
        bool ok = accepted == NULL;
        for (size_t k = 0; !ok && k < accepted_count; k++)
            ok = accepted[k] == versions[i];
        const json_t *schema = ab_translate_schema (table, type, versions[i]);
        if (!ok || !schema)
            continue;
        char *key = zsys_sprintf ("v%d", versions[i]);
        char *title = zsys_sprintf ("%s v%d", type, versions[i]);
        json_object_set_new (
            messages, key,
            json_pack ("{s:s, s:s, s:s, s:{s:s, s:O}, s:i}", "name", type,
                       "title", title, "contentType", "application/json",
                       "payload", "schemaFormat", S_SCHEMA_FORMAT, "schema",
                       (json_t *)schema, "x-agentbus-version", versions[i]));
        json_array_append_new (refs, s_ref (id, key));
        zstr_free (&key);
        zstr_free (&title);
    }
    char *address = zsys_sprintf ("%s/%s/%s", from, to, type);
    char *summary = zsys_sprintf ("%s from %s to %s", type, from, to);
    json_object_set_new (channels, id,
                         json_pack ("{s:s, s:s, s:o}", "address", address,
                                    "summary", summary, "messages", messages));
    zstr_free (&address);
    zstr_free (&summary);
    return refs;
}

/* The operations of one edge: send by `from`, receive by `to`. */
static void
s_edge (json_t *doc, const ab_translate_t *table, const ab_edge_t *edge)
{
    json_t *channels = json_object_get (doc, "channels");
    json_t *operations = json_object_get (doc, "operations");
    char *id = zsys_sprintf ("%s--%s--%s", edge->from, edge->to, edge->type);
    json_t *refs = s_channel (channels, table, id, edge->from, edge->to,
                              edge->type, edge->versions, edge->version_count);
    json_t *reply = NULL;
    if (edge->reply) {
        char *back =
            zsys_sprintf ("%s--%s--%s", edge->to, edge->from, edge->reply);
        json_t *back_refs = s_channel (channels, table, back, edge->to,
                                       edge->from, edge->reply, NULL, 0);
        reply = json_pack ("{s:o, s:o}", "channel", s_ref (back, NULL),
                           "messages", back_refs);
        zstr_free (&back);
    }
    static const char *const actions[] = {"send", "receive"};
    const char *agents[] = {edge->from, edge->to};
    for (int i = 0; i < 2; i++) {
        char *name = zsys_sprintf ("%s--%s", id, actions[i]);
        json_t *op = json_pack ("{s:s, s:o, s:O, s:s}", "action", actions[i],
                                "channel", s_ref (id, NULL), "messages", refs,
                                "x-agentbus-agent", agents[i]);
        if (reply)
            json_object_set_new (op, "reply", json_deep_copy (reply));
        json_object_set_new (operations, name, op);
        zstr_free (&name);
    }
    json_decref (reply);
    json_decref (refs);
    zstr_free (&id);
}

/* The whole document. */
static json_t *
s_document (const ab_topology_t *topology)
{
    const char *id = ab_topology_id (topology);
    const char *hash = strrchr (id, '@');
    char *description = zsys_sprintf (
        "Generated by agentbus %s from topology %s: one channel per edge, "
        "one message per accepted schema version.",
        PACKAGE_VERSION, id);
    json_t *doc = json_pack (
        "{s:s, s:{s:s, s:s, s:s}, s:s, s:{}, s:{}}", "asyncapi", "3.0.0",
        "info", "title", ab_topology_name (topology), "version",
        hash ? hash + 1 : id, "description", description, "defaultContentType",
        "application/json", "channels", "operations");
    zstr_free (&description);
    const ab_translate_t *table =
        ab_registry_translations (ab_topology_registry (topology));
    for (size_t i = 0; doc && i < ab_topology_edge_count (topology); i++)
        s_edge (doc, table, ab_topology_edge (topology, i));
    return doc;
}

/* --- YAML ------------------------------------------------------------- */

static void s_yaml_value (FILE *out, const json_t *value, int indent);

static void
s_yaml_string (FILE *out, const char *text)
{
    json_t *string = json_string (text);
    char *quoted = string ? json_dumps (string, JSON_ENCODE_ANY) : NULL;
    fputs (quoted ? quoted : "\"\"", out);
    free (quoted);
    json_decref (string);
}

/* True for a scalar or an empty container: written on its key's line. */
static bool
s_is_inline (const json_t *value)
{
    return json_is_object (value)  ? json_object_size (value) == 0
           : json_is_array (value) ? json_array_size (value) == 0
                                   : true;
}

/* A scalar or an empty container, on the current line. */
static bool
s_yaml_inline (FILE *out, const json_t *value)
{
    if (json_is_object (value) && json_object_size (value) == 0)
        fputs ("{}", out);
    else if (json_is_array (value) && json_array_size (value) == 0)
        fputs ("[]", out);
    else if (json_is_string (value))
        s_yaml_string (out, json_string_value (value));
    else if (!json_is_object (value) && !json_is_array (value)) {
        char *text = json_dumps (value, JSON_ENCODE_ANY);
        fputs (text ? text : "null", out);
        free (text);
    } else
        return false;
    return true;
}

static void
s_yaml_value (FILE *out, const json_t *value, int indent)
{
    if (json_is_object (value) && json_object_size (value)) {
        const char *key;
        json_t *item;
        json_object_foreach ((json_t *)value, key, item)
        {
            fprintf (out, "%*s", indent, "");
            s_yaml_string (out, key);
            fputs (s_is_inline (item) ? ": " : ":\n", out);
            if (s_is_inline (item)) {
                s_yaml_inline (out, item);
                fputc ('\n', out);
            } else
                s_yaml_value (out, item, indent + 2);
        }
    } else if (json_is_array (value) && json_array_size (value)) {
        size_t index;
        json_t *item;
        json_array_foreach (value, index, item)
        {
            fprintf (out, "%*s-%s", indent, "",
                     s_is_inline (item) ? " " : "\n");
            if (s_is_inline (item)) {
                s_yaml_inline (out, item);
                fputc ('\n', out);
            } else
                s_yaml_value (out, item, indent + 2);
        }
    } else {
        fprintf (out, "%*s", indent, "");
        s_yaml_inline (out, value);
        fputc ('\n', out);
    }
}

int
ab_cli_asyncapi (int argc, char *argv[])
{
    const char *path = NULL, *format = "yaml";
    bool usage = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--format") == 0 && i + 1 < argc)
            format = argv[++i];
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else
            usage = true;
    }
    if (usage || !path ||
        (strcmp (format, "yaml") != 0 && strcmp (format, "json") != 0)) {
        fprintf (stderr,
                 "usage: agentbus asyncapi TOPOLOGY [--format yaml|json]\n");
        return 2;
    }
    ab_diag_t *diag = ab_diag_new ();
    ab_topology_t *topology = ab_topology_load (path, NULL, diag);
    ab_diag_print (diag, stderr);
    ab_diag_destroy (&diag);
    if (!topology) {
        fprintf (stderr, "%s: cannot load topology\n", path);
        return 1;
    }
    json_t *doc = s_document (topology);
    ab_topology_unref (&topology);
    if (!doc)
        return 1;
    if (strcmp (format, "json") == 0) {
        json_dumpf (doc, stdout, JSON_INDENT (2));
        fputc ('\n', stdout);
    } else
        s_yaml_value (stdout, doc, 0);
    json_decref (doc);
    return 0;
}
