/*  =========================================================================
    ab_admin - the admin socket (see ab_admin.h)

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/ab_oom.h"
#include "agentbus.h"
#include "broker/ab_admin.h"
#include "broker/ab_header.h"
#include "broker/ab_recovery.h"

/* Dead letters per page of dead.list, at most. */
#define S_ADMIN_LIMIT 1000

struct _ab_admin_t {
    zsock_t *socket;     /* the REP socket */
    ab_ledger_t *ledger; /* borrowed: the stores of dead letters */
    ab_log_t *log;       /* borrowed; may be NULL */
    char *reply;         /* the answer, sent after the commit, or NULL */
};

ab_admin_t *
ab_admin_new (const char *endpoint, ab_ledger_t *ledger, ab_log_t *log,
              ab_diag_t *diag)
{
    ab_admin_t *self = ab_oom_check (calloc (1, sizeof *self));
    self->ledger = ledger;
    self->log = log;
    self->socket = zsock_new (ZMQ_REP);
    if (!self->socket) {
        ab_admin_destroy (&self);
        return NULL;
    }
    zsock_set_linger (self->socket, 0);
    if (zsock_bind (self->socket, "%s", endpoint) < 0) {
        ab_diag_add (diag, NULL, 0, 0, "cannot bind admin endpoint %s: %s",
                     endpoint, zmq_strerror (zmq_errno ()));
        ab_admin_destroy (&self);
    }
    return self;
}

void
ab_admin_destroy (ab_admin_t **self_p)
{
    assert (self_p);
    ab_admin_t *self = *self_p;
    if (!self)
        return;
    zstr_free (&self->reply);
    zsock_destroy (&self->socket);
    free (self);
    *self_p = NULL;
}

void *
ab_admin_socket (ab_admin_t *self)
{
    return zsock_resolve (self->socket);
}

static json_t *
s_failed (const char *error)
{
    return json_pack ("{s:b, s:s}", "ok", 0, "error", error);
}

/* Names the message of each listed dead letter from `first` on. */
static void
s_name_messages (ab_store_t *store, ab_dead_letter_t *dead, size_t got,
                 json_t *list, size_t first)
{
    for (size_t i = 0; i < got; i++) {
        ab_message_t *message = NULL;
        if (ab_store_get_message (store, dead[i].copy.message_id, &message))
            continue;
        json_t *entry = json_array_get (list, first + i);
        json_object_set_new (entry, "type", json_string (message->type));
        json_object_set_new (entry, "from", json_string (message->from));
        ab_message_destroy (&message);
    }
}

/* Appends up to `limit` dead letters of `store` after *position_p to
   `list`, advancing *position_p; *got_p says how many. 0 or an ab_err_t. */
static int
s_list_store (ab_store_t *store, uint64_t *position_p, size_t limit,
              json_t *list, size_t *got_p)
{
    ab_dead_letter_t *dead = ab_oom_check (calloc (limit, sizeof *dead));
    size_t got = 0, first = json_array_size (list);
    int rc = ab_store_list_dead (store, position_p, limit, dead, &got);
    for (size_t i = 0; rc == 0 && i < got; i++)
        json_array_append_new (
            list,
            json_pack ("{s:o, s:o, s:s, s:s, s:I, s:i}", "id",
                       json_sprintf ("%" PRIu64, dead[i].copy.id), "message",
                       json_sprintf ("%" PRIu64, dead[i].copy.message_id),
                       "edge", dead[i].copy.edge_key, "reason",
                       ab_dead_reason_name (dead[i].reason), "at_ms",
                       (json_int_t)dead[i].at_ms, "attempts",
                       dead[i].copy.attempts));
    /* edge keys are borrowed until the next store call: read messages
       only now */
    if (rc == 0)
        s_name_messages (store, dead, got, list, first);
    free (dead);
    *got_p = rc ? 0 : got;
    return rc;
}

/* dead.list {cursor, limit}: one page, oldest first, filled from the
   durable store's dead letters, then the memory store's. The cursor is
   "STORE:POSITION" (opaque to clients); null when there is no more. */
static json_t *
s_list (ab_admin_t *self, const ab_admin_ops_t *ops, const json_t *request)
{
    (void)ops;
    ab_store_t *stores[2];
    size_t count = ab_ledger_stores (self->ledger, stores), which = 0;
    uint64_t position = 0;
    const char *cursor = ab_header_string (request, "cursor");
    if (cursor && sscanf (cursor, "%zu:%" SCNu64, &which, &position) != 2)
        return s_failed ("bad cursor");
    json_int_t limit = ab_header_int (request, "limit", 100);
    if (limit < 1 || limit > S_ADMIN_LIMIT || which >= count)
        return s_failed ("limit must be 1 to 1000; cursor from dead.list");
    json_t *list = json_array ();
    size_t room = (size_t)limit;
    while (room > 0 && which < count) {
        size_t got = 0;
        int rc = s_list_store (stores[which], &position, room, list, &got);
        if (rc) {
            json_decref (list);
            return s_failed (ab_strerror (rc));
        }
        room -= got;
        if (room > 0) { /* this store is done: on to the next */
            which++;
            position = 0;
        }
    }
    if (which >= count)
        return json_pack ("{s:b, s:o, s:n}", "ok", 1, "dead", list, "cursor");
    return json_pack ("{s:b, s:o, s:o}", "ok", 1, "dead", list, "cursor",
                      json_sprintf ("%zu:%" PRIu64, which, position));
}

/* Every dead letter's id, in *ids_p; returns the count. */
static long
s_all_ids (ab_admin_t *self, uint64_t **ids_p)
{
    zlistx_t *all = ab_oom_check (zlistx_new ());
    ab_store_t *stores[2];
    size_t count = ab_ledger_stores (self->ledger, stores);
    ab_dead_letter_t page[64];
    for (size_t i = 0; i < count; i++) {
        uint64_t cursor = 0;
        size_t got = 64;
        while (got == 64 &&
               ab_store_list_dead (stores[i], &cursor, 64, page, &got) == 0)
            for (size_t k = 0; k < got; k++)
                zlistx_add_end (all, (void *)(uintptr_t)page[k].copy.id);
    }
    long n = (long)zlistx_size (all), k = 0;
    *ids_p = ab_oom_check (calloc (n ? (size_t)n : 1, sizeof (uint64_t)));
    for (void *id = zlistx_first (all); id; id = zlistx_next (all))
        (*ids_p)[k++] = (uint64_t)(uintptr_t)id;
    zlistx_destroy (&all);
    return n;
}

/* The ids a replay or purge names: "ids" (strings or integers) or
   "all": true. Returns the count, or -1 with *error set. */
static long
s_ids (ab_admin_t *self, const json_t *request, uint64_t **ids_p,
       const char **error)
{
    if (json_is_true (json_object_get (request, "all")))
        return s_all_ids (self, ids_p);
    const json_t *ids = json_object_get (request, "ids");
    if (!json_is_array (ids)) {
        *error = "give \"ids\" (a list) or \"all\": true";
        return -1;
    }
    size_t n = json_array_size (ids);
    *ids_p = ab_oom_check (calloc (n ? n : 1, sizeof (uint64_t)));
    for (size_t i = 0; i < n; i++) {
        const json_t *id = json_array_get (ids, i);
        char *end = NULL;
        errno = 0;
        if (json_is_integer (id) && json_integer_value (id) > 0)
            (*ids_p)[i] = (uint64_t)json_integer_value (id);
        else if (json_is_string (id))
            (*ids_p)[i] = strtoull (json_string_value (id), &end, 10);
        if ((*ids_p)[i] == 0 || errno || (end && *end)) {
            free (*ids_p);
            *error = "ids must be dead-letter ids from dead.list";
            return -1;
        }
    }
    return (long)n;
}

/* What dead.replay and dead.purge do to one id. */
typedef enum { S_REPLAY, S_PURGE } s_each_t;

/* dead.replay and dead.purge: {ok, done, failed: [{id, error}]}. */
static json_t *
s_each (ab_admin_t *self, const ab_admin_ops_t *ops, const json_t *request,
        s_each_t what)
{
    uint64_t *ids = NULL;
    const char *error = NULL;
    long count = s_ids (self, request, &ids, &error);
    if (count < 0)
        return s_failed (error);
    json_t *failed = json_array ();
    for (long i = 0; i < count; i++) {
        const char *why = what == S_REPLAY ? ops->replay (ops->arg, ids[i])
                                           : ab_purge (self->ledger, ids[i]);
        if (why)
            json_array_append_new (failed,
                                   json_pack ("{s:o, s:s}", "id",
                                              json_sprintf ("%" PRIu64, ids[i]),
                                              "error", why));
    }
    free (ids);
    json_int_t done = count - (json_int_t)json_array_size (failed);
    return json_pack ("{s:b, s:I, s:o}", "ok", json_array_size (failed) == 0,
                      "done", done, "failed", failed);
}

static json_t *
s_replay (ab_admin_t *self, const ab_admin_ops_t *ops, const json_t *request)
{
    return s_each (self, ops, request, S_REPLAY);
}

static json_t *
s_purge (ab_admin_t *self, const ab_admin_ops_t *ops, const json_t *request)
{
    return s_each (self, ops, request, S_PURGE);
}

static json_t *
s_counters (ab_admin_t *self, const ab_admin_ops_t *ops, const json_t *request)
{
    (void)self;
    (void)request;
    return json_pack ("{s:b, s:o}", "ok", 1, "counters",
                      ops->counters (ops->arg));
}

/* The admin requests, by "cmd". */
static const struct {
    const char *name; /* "cmd" */
    json_t *(*fn) (ab_admin_t *self, const ab_admin_ops_t *ops,
                   const json_t *request); /* its answer */
} s_commands[] = {
    {"dead.list", s_list},
    {"dead.replay", s_replay},
    {"dead.purge", s_purge},
    {"counters", s_counters},
};

void
ab_admin_handle (ab_admin_t *self, const ab_admin_ops_t *ops)
{
    char *text = zstr_recv (self->socket);
    if (!text)
        return;
    json_t *request = json_loads (text, 0, NULL);
    const char *cmd = ab_header_string (request, "cmd");
    size_t i = 0, count = sizeof s_commands / sizeof s_commands[0];
    while (cmd && i < count && !streq (s_commands[i].name, cmd))
        i++;
    json_t *reply = cmd && i < count
                        ? s_commands[i].fn (self, ops, request)
                        : s_failed ("unknown request: give \"cmd\": dead.list, "
                                    "dead.replay, dead.purge or counters");
    ab_log_printf (self->log, AB_LOG_INFO, "admin: %s", cmd ? cmd : "?");
    zstr_free (&self->reply);
    self->reply = json_dumps (reply, JSON_COMPACT);
    if (!self->reply)
        self->reply = strdup ("{\"ok\":false}");
    json_decref (reply);
    json_decref (request);
    zstr_free (&text);
}

void
ab_admin_answer (ab_admin_t *self)
{
    if (self->reply) {
        zstr_send (self->socket, self->reply);
        zstr_free (&self->reply);
    }
}
