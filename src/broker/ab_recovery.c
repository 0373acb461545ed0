/*  =========================================================================
    ab_recovery - the disk store's copies after a restart, replay and
    purge of dead letters (see ab_recovery.h)

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <assert.h>
#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ab_oom.h"
#include "agentbus.h"
#include "broker/ab_header.h"
#include "broker/ab_recovery.h"

/* What recovery collects while the store is walked. */
typedef struct {
    ab_copies_t *copies;  /* where copies are made */
    ab_generation_t *gen; /* on whose queues */
    ab_store_t *disk;     /* the store walked */
    ab_log_t *log;        /* may be NULL */
    zhashx_t *messages;   /* id → ab_msg_t * (one reference) */
    zlistx_t *orphans;    /* copy ids (uint64_t *) to delete afterwards */
    size_t requeued;      /* copies requeued */
    size_t skipped;       /* copies left in the store */
} s_recovery_t;

static int
s_recover_message (void *arg, const ab_message_t *record)
{
    s_recovery_t *recovery = arg;
    ab_msg_t *msg = ab_msg_from_record (recovery->copies, record,
                                        recovery->disk, AB_MSG_READ_BACK);
    zhashx_insert (recovery->messages, &msg->id, msg);
    return 0;
}

/* The queue a stored copy belongs to in `gen` (see ab_recovery.h),
   or NULL; *edge_p gets the edge whose options apply. */
static ab_queue_t *
s_queue_of (ab_generation_t *gen, const ab_copy_t *record, const ab_msg_t *msg,
            json_t **dead_p, const ab_edge_t **edge_p)
{
    ab_topology_t *topology = ab_generation_topology (gen);
    size_t edges = ab_topology_edge_count (topology);
    const char *prefix = "dead_letter->";
    if (strncmp (record->edge_key, prefix, strlen (prefix)) != 0) {
        ab_queue_t *queue = ab_generation_find (gen, record->edge_key);
        *edge_p = queue ? ab_queue_edge (queue) : NULL;
        return queue;
    }
    char agent[256];
    const char *colon = strrchr (record->edge_key, ':');
    size_t length = colon ? (size_t)(colon - record->edge_key) : 0;
    ab_dead_reason_t reason;
    if (!colon || record->edge >= edges || length <= strlen (prefix) ||
        length - strlen (prefix) >= sizeof agent ||
        ab_dead_reason_from_name (colon + 1, &reason))
        return NULL;
    snprintf (agent, sizeof agent, "%.*s", (int)(length - strlen (prefix)),
              record->edge_key + strlen (prefix));
    long to = ab_topology_agent_index (topology, agent);
    const ab_edge_t *edge =
        ab_queue_edge (ab_generation_queue (gen, record->edge));
    if (to < 0 || edge->dead_letter_agent != to)
        return NULL;
    /* the attempts of the copy that died were not stored: 0 */
    *dead_p = ab_msg_dead_header (msg, edge, 0, reason);
    *edge_p = edge;
    return ab_generation_dead_queue (gen, to, reason);
}

/* A stored copy with no queue now: a request copy's requester is gone
   (deleted afterwards); any other stays in the store. */
static void
s_skip (s_recovery_t *recovery, const ab_copy_t *record, const ab_msg_t *msg)
{
    recovery->skipped++;
    if (msg && msg->request) {
        uint64_t *id = ab_oom_check (malloc (sizeof *id));
        *id = record->id;
        zlistx_add_end (recovery->orphans, id);
    } else
        ab_log_printf (recovery->log, AB_LOG_WARNING,
                       "recovery: copy %" PRIu64 " on %s: no such edge "
                       "now; it stays in the store",
                       record->id, record->edge_key);
}

static int
s_recover_copy (void *arg, const ab_copy_t *record)
{
    s_recovery_t *recovery = arg;
    ab_msg_t *msg = zhashx_lookup (recovery->messages, &record->message_id);
    json_t *dead = NULL;
    const ab_edge_t *edge = NULL;
    ab_queue_t *queue =
        msg && !msg->request
            ? s_queue_of (recovery->gen, record, msg, &dead, &edge)
            : NULL;
    if (!queue) {
        s_skip (recovery, record, msg);
        return 0;
    }
    ab_live_copy_t *copy =
        ab_copy_make (recovery->copies, queue, edge, msg, record->id);
    ab_copy_set_attempts (copy, record->attempts);
    if (dead) /* as for a dead letter: it does not expire */
        ab_copy_set_dead (recovery->copies, copy, dead, AB_DEAD_NEVER_EXPIRES);
    ab_copy_ready (recovery->copies, copy, AB_QUEUE_BACK);
    recovery->requeued++;
    return 0;
}

int
ab_recover (ab_ledger_t *ledger, ab_copies_t *copies, ab_generation_t *gen,
            ab_log_t *log, ab_diag_t *diag)
{
    s_recovery_t recovery = {.copies = copies,
                             .gen = gen,
                             .disk = ab_ledger_disk (ledger),
                             .log = log,
                             .messages = ab_oom_check (ab_id_hash_new (NULL)),
                             .orphans = ab_oom_check (zlistx_new ())};
    assert (recovery.disk);
    zlistx_set_destructor (recovery.orphans, (czmq_destructor *)zstr_free);
    int rc = ab_store_recover (recovery.disk, s_recover_message, s_recover_copy,
                               &recovery);
    for (ab_msg_t *msg = zhashx_first (recovery.messages); msg;
         msg = zhashx_next (recovery.messages))
        ab_msg_unref (copies, &msg);
    zhashx_destroy (&recovery.messages);
    for (uint64_t *id = zlistx_first (recovery.orphans); id;
         id = zlistx_next (recovery.orphans))
        ab_store_del_copy (recovery.disk, *id);
    if (rc)
        ab_diag_add (diag, NULL, 0, 0, "recovery failed: %s", ab_strerror (rc));
    else
        ab_log_printf (log, AB_LOG_INFO,
                       "recovered %zu copies from the store (%zu left in "
                       "it, %zu request copies dropped: requester gone)",
                       recovery.requeued,
                       recovery.skipped - zlistx_size (recovery.orphans),
                       zlistx_size (recovery.orphans));
    zlistx_destroy (&recovery.orphans);
    return rc;
}

/* A fresh copy of `msg` for `record` on `queue`, replacing dead letter
   `id` of `store`. NULL or why not. */
static const char *
s_requeue (ab_copies_t *copies, ab_store_t *store, uint64_t id,
           ab_queue_t *queue, const ab_edge_t *edge, ab_msg_t *msg,
           json_t **dead_p)
{
    int rc;
    ab_live_copy_t *copy = ab_copy_new (copies, queue, edge, msg, &rc);
    if (copy && (rc = ab_store_del_dead (store, id)) != 0)
        ab_copy_forget (copies, copy, AB_COPY_DELETE_STORED);
    else if (copy) {
        if (*dead_p)
            ab_copy_set_dead (copies, copy, *dead_p, AB_DEAD_KEEPS_TTL);
        *dead_p = NULL;
        ab_copy_ready (copies, copy, AB_QUEUE_BACK);
    }
    return rc ? ab_strerror (rc) : NULL;
}

const char *
ab_replay (ab_ledger_t *ledger, ab_copies_t *copies, ab_generation_t *gen,
           uint64_t id)
{
    ab_dead_letter_t dead;
    ab_store_t *store = ab_ledger_find_dead (ledger, id, &dead);
    if (!store)
        return "no such dead letter";
    ab_copy_t record = dead.copy;
    char *edge_key = ab_oom_check (strdup (record.edge_key));
    record.edge_key = edge_key;
    ab_message_t *stored = NULL;
    if (ab_store_get_message (store, record.message_id, &stored)) {
        free (edge_key);
        return "its message cannot be read";
    }
    bool disk = store == ab_ledger_disk (ledger);
    ab_msg_t *msg = ab_msg_from_record (
        copies, stored, store, disk ? AB_MSG_READ_BACK : AB_MSG_KEEP_FRAMES);
    ab_message_destroy (&stored);
    msg->expires = 0; /* its PUB's ttl_ms was spent (the edge's holds) */
    json_t *dead_header = NULL;
    const ab_edge_t *edge = NULL;
    ab_queue_t *queue = s_queue_of (gen, &record, msg, &dead_header, &edge);
    free (edge_key);
    const char *why = "its edge is not in the topology now";
    if (queue)
        why = s_requeue (copies, store, id, queue, edge, msg, &dead_header);
    json_decref (dead_header);
    ab_msg_unref (copies, &msg);
    return why;
}

const char *
ab_purge (ab_ledger_t *ledger, uint64_t id)
{
    ab_dead_letter_t dead;
    ab_store_t *store = ab_ledger_find_dead (ledger, id, &dead);
    if (!store)
        return "no such dead letter";
    int rc = ab_store_del_dead (store, id);
    return rc ? ab_strerror (rc) : NULL;
}
