/*  =========================================================================
    ab_session - sessions (connected instances) and agents

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    * a *session* is one connected DEALER that said HELLO (key: its
      routing id in hex). It holds its credit window and the list of
      copies it holds in flight (items it does not look into: ab_copy
      keeps their places, ab_session_hold / ab_session_release), its
      last sign of life and its heartbeat entry (AB_TIMER_HEARTBEAT);
    * an *agent* (by name, survives reloads) lists its sessions (round
      robin: the list rotates as copies go out, ab_agent_pick) and the
      queues that deliver to it (ab_agent_add_queue);
    * the registry, ab_sessions_t, finds both and keeps the *dirty* list:
      agents where something changed this turn (a copy waits, credit was
      freed, an instance came), dispatched at the end of the turn. Handlers
      never dispatch themselves, so nothing re-enters a loop over a list.

    Losing a session never touches its copies: ab_sessions_detach takes
    it out of the registry, its agent and the timer heap, and the caller
    (the broker) requeues what it still holds in flight before
    ab_session_destroy.
*/

#ifndef AB_SESSION_H_INCLUDED
#define AB_SESSION_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ab_log.h"
#include "common/ab_timer.h"
#include "topology/ab_topology.h"

typedef struct _ab_sessions_t ab_sessions_t;
typedef struct _ab_session_t ab_session_t;
typedef struct _ab_agent_t ab_agent_t;

/* The default credit of a HELLO without one (protocol §4). */
#define AB_SESSION_DEFAULT_CREDIT 16
/* An instance is dead after this many heartbeats without traffic. */
#define AB_SESSION_HEARTBEAT_LIVES 3

/* What a HELLO asks for (borrowed from its header). */
typedef struct {
    const char *agent; /* the agent it speaks for */
    const char *name;  /* its `instance`, or NULL */
    size_t credit;     /* its credit window */
} ab_hello_t;

/* Reads a HELLO header from `routing_id`: -1 when it may open a session
   of an agent of `topology` (*hello set), else an ERROR code
   (ab_error_code_t) with the reason in `why`. The identity seam: today
   the agent the header names, if the topology has it; with CURVE, the
   key behind the routing id will decide (AB_ERROR_UNAUTHORIZED when it
   disagrees). */
int ab_session_hello (const json_t *header, zmq_msg_t *routing_id,
                      ab_topology_t *topology, ab_hello_t *hello, char *why,
                      size_t why_size);

/* A registry whose sessions are checked for silence every
   `heartbeat_ms` on `timers` (borrowed). Aborts when out of memory. */
ab_sessions_t *ab_sessions_new (ab_timer_t *timers, int64_t heartbeat_ms);

/* Destroys every session (they must hold nothing in flight) and agent
   (no queue may still list it); accepts NULL; nulls *self_p. */
void ab_sessions_destroy (ab_sessions_t **self_p);

/* The agent `name`, made when new. */
ab_agent_t *ab_sessions_agent (ab_sessions_t *self, const char *name);

/* A new session `key` for `routing_id` of `agent`: `name` is HELLO's
   `instance` (may be NULL). */
ab_session_t *ab_sessions_add (ab_sessions_t *self, const char *key,
                               zmq_msg_t *routing_id, const char *agent,
                               const char *name, size_t credit);

/* The session `key`, or NULL. */
ab_session_t *ab_sessions_find (ab_sessions_t *self, const char *key);

/* How many sessions there are. */
size_t ab_sessions_size (const ab_sessions_t *self);

/* Any session (to drain them all at shutdown), or NULL. */
ab_session_t *ab_sessions_any (ab_sessions_t *self);

/* Takes `session` out of the registry, its agent and the timer heap and
   marks its agent; its in-flight list stays for the caller to empty. */
void ab_sessions_detach (ab_sessions_t *self, ab_session_t *session);

/* Something changed for `agent`: it is dispatched this turn. */
void ab_sessions_mark (ab_sessions_t *self, ab_agent_t *agent);

/* The next marked agent (unmarked now), or NULL. */
ab_agent_t *ab_sessions_next_dirty (ab_sessions_t *self);

/* The heartbeat entry of `session` fired: true when it is silent for
   AB_SESSION_HEARTBEAT_LIVES heartbeats (dead), else its next check is
   set. */
bool ab_sessions_silent (ab_sessions_t *self, ab_session_t *session);

/* Frees a detached session; its in-flight list must be empty. */
void ab_session_destroy (ab_session_t **self_p);

/* Its key, routing id, agent and HELLO name (or its key). Borrowed. */
const char *ab_session_key (const ab_session_t *self);
zmq_msg_t *ab_session_routing_id (ab_session_t *self);
ab_agent_t *ab_session_agent (const ab_session_t *self);
const char *ab_session_name (const ab_session_t *self);

/* It sent a command now. */
void ab_session_seen (ab_session_t *self);

/* Its credit window is now `credit`. */
void ab_session_set_credit (ab_session_t *self, size_t credit);

/* Lists `item` (a copy) as held in flight; returns its place. */
void *ab_session_hold (ab_session_t *self, void *item);

/* Takes the item at `place` off the in-flight list. */
void ab_session_release (ab_session_t *self, void *place);

/* The first item it holds in flight, or NULL. */
void *ab_session_first_held (ab_session_t *self);

/* The agent's name. */
const char *ab_agent_name (const ab_agent_t *self);

/* A session of `agent` with free credit, preferring one other than the
   session keyed `avoid` (a retry goes to another replica when there is
   one); the list rotates so the next pick starts after it. NULL when no
   session has credit. */
ab_session_t *ab_agent_pick (ab_agent_t *self, const char *avoid);

/* Whether the agent has any session. */
bool ab_agent_online (const ab_agent_t *self);

/* Lists `queue` as delivering to the agent; returns its place. */
void *ab_agent_add_queue (ab_agent_t *self, void *queue);
void ab_agent_remove_queue (ab_agent_t *self, void *place);

/* The queues delivering to the agent: first, then next, NULL at the end
   (one walk at a time). */
void *ab_agent_first_queue (ab_agent_t *self);
void *ab_agent_next_queue (ab_agent_t *self);

#endif
