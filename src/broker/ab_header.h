/*  =========================================================================
    ab_header - what every broker module shares: the clocks, the kinds
    of the broker's timers, the out-of-memory policy, and the readers
    of command headers (the PUB/REQ field table, `msg` ids, session keys)

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    The bottom of the broker: no module state, nothing here calls up.

    Out of memory: the project's one policy (common/ab_oom.h), as the
    broker applies it. A small allocation the broker cannot go on without
    (an object, its name, a list) goes through ab_oom_check, which aborts
    the process with FILE:LINE on stderr when it fails, as czmq's
    containers do. An allocation whose size the world chooses (a header
    to send, a frame count) is checked and ends in an error returned
    (AB_ENOMEM, a send failure counted). `assert` is kept for our own
    bugs: it vanishes under NDEBUG, an allocation check must not.
*/

#ifndef AB_HEADER_H_INCLUDED
#define AB_HEADER_H_INCLUDED

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

/* The kinds of the broker's entries in its ab_timer heap: the broker's
   loop pops an entry and hands it to the module that owns the kind. */
typedef enum {
    AB_TIMER_ACK = 0,   /* ab_copy: a copy in flight was not answered */
    AB_TIMER_BACKOFF,   /* ab_copy: a copy's retry is due */
    AB_TIMER_TTL,       /* ab_copy: a copy's ttl ran out */
    AB_TIMER_REQUEST,   /* ab_copy: a request's timeout_ms passed */
    AB_TIMER_HEARTBEAT, /* ab_session: check an instance for silence */
    AB_TIMER_SYNC,      /* ab_ledger: time for the disk store's batch sync
                           (sync: batch) */
} ab_timer_kind_t;

/* Monotonic milliseconds (every deadline). */
int64_t ab_now (void);
/* Wall-clock milliseconds since the epoch (what the store keeps). */
int64_t ab_wall_ms (void);

/* Ten years in milliseconds: durations beyond it are mistakes, and the
   bound keeps `now + duration` far from overflow. */
#define AB_HEADER_MAX_MS ((int64_t)10 * 366 * 24 * 3600 * 1000)

/* Checks the optional fields of a PUB or REQ header (protocol §3) by
   table. Returns 0, or -1 with a reason in `why`. */
int ab_header_check_pub (const json_t *header, char *why, size_t why_size);

/* The integer field `name`, else `otherwise`. */
int64_t ab_header_int (const json_t *header, const char *name,
                       int64_t otherwise);

/* The string field `name` (borrowed), else NULL. */
const char *ab_header_string (const json_t *header, const char *name);

/* The copy id written in `text` as the broker writes ids (decimal, no
   sign, no leading zero), else 0, which is no copy's. */
uint64_t ab_header_copy_id (const char *text, size_t size);

/* The copy id the header's `msg` names (a string, or an integer for
   lenient clients), else 0. */
uint64_t ab_header_msg_id (const json_t *header);

/* Bytes a session key needs: a routing id (at most 255 bytes) in hex. */
#define AB_SESSION_KEY_SIZE 520

/* The session key of a routing id: its bytes in hex. */
void ab_header_session_key (zmq_msg_t *routing_id, char *key, size_t key_size);

#endif
