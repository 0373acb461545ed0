/*  =========================================================================
    ab_queue - edge queues and topology generations (see ab_queue.h)

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
#include "broker/ab_queue.h"
#include "filter/ab_pipeline.h"

struct _ab_queue_t {
    const ab_edge_t *edge;  /* the edge, or NULL for a dead-letter queue */
    char *key;              /* "from->to:type" (or "dead_letter->A:R") */
    ab_generation_t *gen;   /* the topology generation it belongs to */
    ab_agent_t *agent;      /* consumer */
    void *agent_place;      /* in the agent's queues */
    bool strict;            /* ordering: strict */
    bool durable;           /* the edge is durable: its copies on disk */
    zlistx_t *ready;        /* ab_queue_slot_t *: see ab_queue.h */
    size_t pending;         /* copies not done (queue_limit) */
    ab_pipeline_t *filters; /* the edge's own stages, or NULL */
};

struct _ab_generation_t {
    ab_topology_t *topology; /* one reference */
    ab_sessions_t *sessions; /* borrowed: the agents */
    ab_queue_t **queues;     /* one per edge */
    ab_queue_t **dead;       /* per agent and reason, made on demand */
    size_t pending;          /* copies not done in all its queues */
};

static ab_queue_t *
s_queue_new (ab_generation_t *gen, const ab_edge_t *edge, const char *to,
             const char *key)
{
    ab_queue_t *queue = ab_oom_check (calloc (1, sizeof *queue));
    queue->edge = edge;
    queue->key = ab_oom_check (strdup (key));
    queue->gen = gen;
    queue->agent = ab_sessions_agent (gen->sessions, to);
    queue->agent_place = ab_agent_add_queue (queue->agent, queue);
    queue->strict = edge && edge->ordering == AB_ORDERING_STRICT;
    queue->ready = ab_oom_check (zlistx_new ());
    return queue;
}

static void
s_queue_destroy (ab_queue_t **queue_p)
{
    ab_queue_t *queue = *queue_p;
    if (!queue)
        return;
    assert (queue->pending == 0);
    ab_agent_remove_queue (queue->agent, queue->agent_place);
    zlistx_destroy (&queue->ready);
    ab_pipeline_destroy (&queue->filters);
    free (queue->key);
    free (queue);
    *queue_p = NULL;
}

/* The edge's own `filters:` stages, run after the broker-wide ones. */
static int
s_edge_filters (ab_queue_t *queue, const char *path, ab_diag_t *diag)
{
    if (!queue->edge->filters)
        return 0;
    ab_filter_env_t env = {.file = path};
    queue->filters =
        ab_pipeline_new_from_config (queue->edge->filters, &env, diag);
    return queue->filters ? 0 : AB_EINVAL;
}

ab_generation_t *
ab_generation_new (ab_topology_t **topology_p, ab_sessions_t *sessions,
                   bool durable, const char *path, ab_diag_t *diag)
{
    ab_generation_t *gen = ab_oom_check (calloc (1, sizeof *gen));
    gen->topology = *topology_p;
    *topology_p = NULL;
    gen->sessions = sessions;
    size_t edges = ab_topology_edge_count (gen->topology);
    size_t agents = ab_topology_agent_count (gen->topology);
    gen->queues =
        ab_oom_check (calloc (edges ? edges : 1, sizeof (ab_queue_t *)));
    gen->dead = ab_oom_check (calloc (
        (agents ? agents : 1) * AB_DEAD_REASON_COUNT_, sizeof (ab_queue_t *)));
    for (size_t i = 0; i < agents; i++)
        ab_sessions_agent (sessions, ab_topology_agent_name (gen->topology, i));
    int rc = 0;
    for (size_t i = 0; i < edges; i++) {
        const ab_edge_t *edge = ab_topology_edge (gen->topology, i);
        char *key =
            ab_oom_check (ab_store_edge_key (edge->from, edge->to, edge->type));
        gen->queues[i] = s_queue_new (gen, edge, edge->to, key);
        gen->queues[i]->durable = edge->durable < 0 ? durable : edge->durable;
        free (key);
        if (s_edge_filters (gen->queues[i], path, diag))
            rc = AB_EINVAL;
    }
    if (rc)
        ab_generation_destroy (&gen);
    return gen;
}

/* Durable edges need the disk store. */
static int
s_check_durable (ab_topology_t *topology, const char *path, bool durable,
                 ab_diag_t *diag)
{
    int rc = 0;
    for (size_t i = 0; i < ab_topology_edge_count (topology); i++) {
        const ab_edge_t *edge = ab_topology_edge (topology, i);
        if (!(edge->durable < 0 ? durable : edge->durable))
            continue;
        ab_diag_add (diag, path, edge->line, edge->column,
                     "durable edge %s -> %s needs a data_dir", edge->from,
                     edge->to);
        rc = AB_EINVAL;
    }
    return rc;
}

ab_generation_t *
ab_generation_load (const char *path, ab_sessions_t *sessions, bool durable,
                    ab_generation_disk_t disk, ab_diag_t *diag)
{
    ab_topology_t *topology = ab_topology_load (path, NULL, diag);
    if (topology && disk == AB_GENERATION_NO_DISK &&
        s_check_durable (topology, path, durable, diag))
        ab_topology_unref (&topology);
    if (!topology)
        return NULL;
    return ab_generation_new (&topology, sessions, durable, path, diag);
}

void
ab_generation_destroy (ab_generation_t **self_p)
{
    assert (self_p);
    ab_generation_t *gen = *self_p;
    if (!gen)
        return;
    size_t edges = ab_topology_edge_count (gen->topology);
    size_t agents = ab_topology_agent_count (gen->topology);
    for (size_t i = 0; i < edges; i++)
        s_queue_destroy (&gen->queues[i]);
    for (size_t i = 0; i < agents * AB_DEAD_REASON_COUNT_; i++)
        s_queue_destroy (&gen->dead[i]);
    free (gen->queues);
    free (gen->dead);
    ab_topology_unref (&gen->topology);
    free (gen);
    *self_p = NULL;
}

ab_topology_t *
ab_generation_topology (const ab_generation_t *self)
{
    return self->topology;
}

ab_queue_t *
ab_generation_queue (const ab_generation_t *self, size_t index)
{
    assert (index < ab_topology_edge_count (self->topology));
    return self->queues[index];
}

ab_queue_t *
ab_generation_find (const ab_generation_t *self, const char *key)
{
    size_t edges = ab_topology_edge_count (self->topology);
    for (size_t i = 0; i < edges; i++)
        if (streq (self->queues[i]->key, key))
            return self->queues[i];
    return NULL;
}

ab_queue_t *
ab_generation_dead_queue (ab_generation_t *self, long to,
                          ab_dead_reason_t reason)
{
    assert (to >= 0);
    size_t slot = (size_t)to * AB_DEAD_REASON_COUNT_ + reason;
    if (!self->dead[slot]) {
        const char *name = ab_topology_agent_name (self->topology, (size_t)to);
        char key[256];
        snprintf (key, sizeof key, "dead_letter->%s:%s", name,
                  ab_dead_reason_name (reason));
        self->dead[slot] = s_queue_new (self, NULL, name, key);
    }
    return self->dead[slot];
}

void
ab_generation_reap (zlistx_t *retired, ab_log_t *log)
{
    ab_generation_t *gen = zlistx_first (retired);
    while (gen) {
        void *handle = zlistx_cursor (retired);
        ab_generation_t *next = zlistx_next (retired);
        if (gen->pending == 0) {
            ab_log_printf (log, AB_LOG_INFO,
                           "topology %s retired: its last copy is done",
                           ab_topology_id (gen->topology));
            zlistx_delete (retired, handle);
            ab_generation_destroy (&gen);
        }
        gen = next;
    }
}

size_t
ab_generation_pending (const ab_generation_t *self)
{
    return self->pending;
}

void
ab_generation_log_left (const ab_generation_t *self, ab_log_t *log,
                        const char *(*state_fn) (void *copy))
{
    size_t edges = ab_topology_edge_count (self->topology);
    for (size_t i = 0; i < edges; i++) {
        ab_queue_t *queue = self->queues[i];
        void *head = ab_queue_head (queue);
        const char *state = head && state_fn ? state_fn (head) : "";
        if (queue->pending)
            ab_log_printf (log, AB_LOG_INFO,
                           "left on %s: %zu copies, %zu waiting%s", queue->key,
                           queue->pending, zlistx_size (queue->ready), state);
    }
}

const ab_edge_t *
ab_queue_edge (const ab_queue_t *self)
{
    return self->edge;
}

const char *
ab_queue_key (const ab_queue_t *self)
{
    return self->key;
}

ab_generation_t *
ab_queue_generation (const ab_queue_t *self)
{
    return self->gen;
}

ab_agent_t *
ab_queue_agent (const ab_queue_t *self)
{
    return self->agent;
}

ab_pipeline_t *
ab_queue_filters (const ab_queue_t *self)
{
    return self->filters;
}

bool
ab_queue_durable (const ab_queue_t *self)
{
    return self->durable;
}

size_t
ab_queue_pending (const ab_queue_t *self)
{
    return self->pending;
}

int
ab_queue_admit (const ab_queue_t *self, ab_store_t *store, const char *from,
                int64_t seq, char *why, size_t why_size)
{
    int64_t last;
    if (seq >= 0 && ab_store_get_seq (store, from, self->key, &last) == 0 &&
        seq <= last) {
        snprintf (why, why_size,
                  "seq %" PRId64 " is not greater than %" PRId64
                  ", the last accepted on %s",
                  seq, last, self->key);
        return AB_REJECT_DUPLICATE;
    }
    if ((int64_t)self->pending >= self->edge->queue_limit) {
        snprintf (why, why_size, "queue %s is full (%" PRId64 " copies)",
                  self->key, self->edge->queue_limit);
        return AB_REJECT_OVERLOADED;
    }
    return -1;
}

int
ab_queue_note_seq (const ab_queue_t *self, ab_store_t *store, const char *from,
                   int64_t seq)
{
    return ab_store_set_seq (store, from, self->key, seq);
}

void
ab_queue_add (ab_queue_t *self)
{
    self->pending++;
    self->gen->pending++;
}

void
ab_queue_wait (ab_queue_t *self, ab_queue_slot_t *slot, void *item,
               ab_queue_place_t place)
{
    slot->out = false;
    if (slot->handle)
        return;
    slot->item = item;
    slot->handle = place == AB_QUEUE_FRONT
                       ? zlistx_add_start (self->ready, slot)
                       : zlistx_add_end (self->ready, slot);
}

void *
ab_queue_next (const ab_queue_t *self)
{
    ab_queue_slot_t *slot = zlistx_first (self->ready);
    return slot && !slot->out ? slot->item : NULL;
}

void *
ab_queue_head (const ab_queue_t *self)
{
    ab_queue_slot_t *slot = zlistx_first (self->ready);
    return slot ? slot->item : NULL;
}

size_t
ab_queue_listed (const ab_queue_t *self)
{
    return zlistx_size (self->ready);
}

void
ab_queue_out (ab_queue_t *self, ab_queue_slot_t *slot)
{
    if (!slot->handle)
        return;
    if (self->strict) {
        slot->out = true;
        return;
    }
    zlistx_delete (self->ready, slot->handle);
    slot->handle = NULL;
}

void
ab_queue_done (ab_queue_t *self, ab_queue_slot_t *slot)
{
    if (slot->handle)
        zlistx_delete (self->ready, slot->handle);
    slot->handle = NULL;
    slot->out = false;
    assert (self->pending > 0 && self->gen->pending > 0);
    self->pending--;
    self->gen->pending--;
}
