/*  =========================================================================
    ab_session - sessions and agents (see ab_session.h)

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "common/ab_oom.h"
#include "broker/ab_header.h"
#include "broker/ab_session.h"
#include "wire/ab_codes.h"

struct _ab_session_t {
    char *key;                   /* routing id in hex: the session key */
    zmq_msg_t routing_id;        /* to address it */
    ab_agent_t *agent;           /* the agent it said HELLO as */
    void *agent_place;           /* in agent->sessions */
    char *name;                  /* HELLO's `instance`, for logs, or NULL */
    size_t credit;               /* in-flight window */
    zlistx_t *inflight;          /* copies it holds (items, not owned) */
    int64_t last_seen;           /* monotonic ms of its last command */
    ab_timer_handle_t heartbeat; /* next silence check */
};

struct _ab_agent_t {
    char *name;         /* agent name */
    zlistx_t *sessions; /* ab_session_t *, rotated for round robin */
    zlistx_t *queues;   /* queues delivering to it (items, not owned) */
    bool dirty;         /* listed in the registry's `dirty` */
};

struct _ab_sessions_t {
    ab_timer_t *timers;   /* borrowed: heartbeat entries */
    int64_t heartbeat_ms; /* announced in WELCOME */
    zhashx_t *agents;     /* name → ab_agent_t * (owned) */
    zhashx_t *sessions;   /* key → ab_session_t * (owned) */
    zlistx_t *dirty;      /* ab_agent_t * to dispatch this turn */
};

int
ab_session_hello (const json_t *header, zmq_msg_t *routing_id,
                  ab_topology_t *topology, ab_hello_t *hello, char *why,
                  size_t why_size)
{
    (void)routing_id; /* the identity seam (CURVE) */
    const json_t *credit = json_object_get (header, "credit");
    const char *agent = ab_header_string (header, "agent");
    if (credit &&
        (!json_is_integer (credit) || json_integer_value (credit) < 1)) {
        snprintf (why, why_size, "HELLO: 'credit' must be an integer >= 1");
        return AB_ERROR_PROTOCOL;
    }
    if (!agent) {
        snprintf (why, why_size, "HELLO needs 'agent', a string");
        return AB_ERROR_PROTOCOL;
    }
    if (ab_topology_agent_index (topology, agent) < 0) {
        snprintf (why, why_size, "agent '%s' is not allowed in topology %s",
                  agent, ab_topology_id (topology));
        return AB_ERROR_UNKNOWN_AGENT;
    }
    *hello = (ab_hello_t){.agent = agent,
                          .name = ab_header_string (header, "instance"),
                          .credit = credit ? (size_t)json_integer_value (credit)
                                           : AB_SESSION_DEFAULT_CREDIT};
    return -1;
}

static void
s_agent_destroy (void **item)
{
    ab_agent_t *agent = *item;
    assert (zlistx_size (agent->sessions) == 0);
    zlistx_destroy (&agent->sessions);
    zlistx_destroy (&agent->queues);
    free (agent->name);
    free (agent);
    *item = NULL;
}

ab_sessions_t *
ab_sessions_new (ab_timer_t *timers, int64_t heartbeat_ms)
{
    assert (timers);
    ab_sessions_t *self = ab_oom_check (calloc (1, sizeof *self));
    self->timers = timers;
    self->heartbeat_ms = heartbeat_ms;
    self->agents = ab_oom_check (zhashx_new ());
    self->sessions = ab_oom_check (zhashx_new ());
    self->dirty = ab_oom_check (zlistx_new ());
    zhashx_set_destructor (self->agents, s_agent_destroy);
    return self;
}

void
ab_sessions_destroy (ab_sessions_t **self_p)
{
    assert (self_p);
    ab_sessions_t *self = *self_p;
    if (!self)
        return;
    ab_session_t *session;
    while ((session = ab_sessions_any (self))) {
        ab_sessions_detach (self, session);
        ab_session_destroy (&session);
    }
    zhashx_destroy (&self->sessions);
    zhashx_destroy (&self->agents);
    zlistx_destroy (&self->dirty);
    free (self);
    *self_p = NULL;
}

ab_agent_t *
ab_sessions_agent (ab_sessions_t *self, const char *name)
{
    ab_agent_t *agent = zhashx_lookup (self->agents, name);
    if (agent)
        return agent;
    agent = ab_oom_check (calloc (1, sizeof *agent));
    agent->name = ab_oom_check (strdup (name));
    agent->sessions = ab_oom_check (zlistx_new ());
    agent->queues = ab_oom_check (zlistx_new ());
    zhashx_insert (self->agents, name, agent);
    return agent;
}

ab_session_t *
ab_sessions_add (ab_sessions_t *self, const char *key, zmq_msg_t *routing_id,
                 const char *agent, const char *name, size_t credit)
{
    ab_session_t *session = ab_oom_check (calloc (1, sizeof *session));
    session->key = ab_oom_check (strdup (key));
    zmq_msg_init (&session->routing_id);
    zmq_msg_copy (&session->routing_id, routing_id);
    session->agent = ab_sessions_agent (self, agent);
    session->agent_place = zlistx_add_end (session->agent->sessions, session);
    session->name = name ? ab_oom_check (strdup (name)) : NULL;
    session->credit = credit;
    session->inflight = ab_oom_check (zlistx_new ());
    session->last_seen = ab_now ();
    session->heartbeat = ab_timer_add (
        self->timers,
        session->last_seen + AB_SESSION_HEARTBEAT_LIVES * self->heartbeat_ms,
        AB_TIMER_HEARTBEAT, session);
    zhashx_insert (self->sessions, key, session);
    return session;
}

ab_session_t *
ab_sessions_find (ab_sessions_t *self, const char *key)
{
    return zhashx_lookup (self->sessions, key);
}

size_t
ab_sessions_size (const ab_sessions_t *self)
{
    return zhashx_size (self->sessions);
}

ab_session_t *
ab_sessions_any (ab_sessions_t *self)
{
    return zhashx_first (self->sessions);
}

void
ab_sessions_detach (ab_sessions_t *self, ab_session_t *session)
{
    ab_agent_t *agent = session->agent;
    zlistx_delete (agent->sessions, session->agent_place);
    session->agent_place = NULL;
    zhashx_delete (self->sessions, session->key);
    ab_timer_cancel (self->timers, session->heartbeat);
    session->heartbeat = 0;
    ab_sessions_mark (self, agent);
}

void
ab_sessions_mark (ab_sessions_t *self, ab_agent_t *agent)
{
    if (!agent->dirty) {
        agent->dirty = true;
        zlistx_add_end (self->dirty, agent);
    }
}

ab_agent_t *
ab_sessions_next_dirty (ab_sessions_t *self)
{
    ab_agent_t *agent = zlistx_detach (self->dirty, NULL);
    if (agent)
        agent->dirty = false;
    return agent;
}

bool
ab_sessions_silent (ab_sessions_t *self, ab_session_t *session)
{
    session->heartbeat = 0;
    int64_t silence = AB_SESSION_HEARTBEAT_LIVES * self->heartbeat_ms;
    if (ab_now () - session->last_seen >= silence)
        return true;
    session->heartbeat =
        ab_timer_add (self->timers, session->last_seen + silence,
                      AB_TIMER_HEARTBEAT, session);
    return false;
}

void
ab_session_destroy (ab_session_t **self_p)
{
    assert (self_p);
    ab_session_t *self = *self_p;
    if (!self)
        return;
    assert (!self->agent_place && zlistx_size (self->inflight) == 0);
    zlistx_destroy (&self->inflight);
    zmq_msg_close (&self->routing_id);
    free (self->key);
    free (self->name);
    free (self);
    *self_p = NULL;
}

const char *
ab_session_key (const ab_session_t *self)
{
    return self->key;
}

zmq_msg_t *
ab_session_routing_id (ab_session_t *self)
{
    return &self->routing_id;
}

ab_agent_t *
ab_session_agent (const ab_session_t *self)
{
    return self->agent;
}

const char *
ab_session_name (const ab_session_t *self)
{
    return self->name ? self->name : self->key;
}

void
ab_session_seen (ab_session_t *self)
{
    self->last_seen = ab_now ();
}

void
ab_session_set_credit (ab_session_t *self, size_t credit)
{
    self->credit = credit;
}

void *
ab_session_hold (ab_session_t *self, void *item)
{
    return zlistx_add_end (self->inflight, item);
}

void
ab_session_release (ab_session_t *self, void *place)
{
    zlistx_delete (self->inflight, place);
}

void *
ab_session_first_held (ab_session_t *self)
{
    return zlistx_first (self->inflight);
}

const char *
ab_agent_name (const ab_agent_t *self)
{
    return self->name;
}

ab_session_t *
ab_agent_pick (ab_agent_t *self, const char *avoid)
{
    ab_session_t *fallback = NULL;
    ab_session_t *session = zlistx_first (self->sessions);
    for (; session; session = zlistx_next (self->sessions)) {
        if (zlistx_size (session->inflight) >= session->credit)
            continue;
        if (avoid && strcmp (session->key, avoid) == 0) {
            fallback = session;
            continue;
        }
        break;
    }
    if (!session)
        session = fallback;
    if (session)
        zlistx_move_end (self->sessions, session->agent_place);
    return session;
}

bool
ab_agent_online (const ab_agent_t *self)
{
    return zlistx_size (self->sessions) > 0;
}

void *
ab_agent_add_queue (ab_agent_t *self, void *queue)
{
    return zlistx_add_end (self->queues, queue);
}

void
ab_agent_remove_queue (ab_agent_t *self, void *place)
{
    zlistx_delete (self->queues, place);
}

void *
ab_agent_first_queue (ab_agent_t *self)
{
    return zlistx_first (self->queues);
}

void *
ab_agent_next_queue (ab_agent_t *self)
{
    return zlistx_next (self->queues);
}
