/*  =========================================================================
    ab_timer - a heap of deadlines with stable handles

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    The broker's ack timeouts, retry backoffs, TTLs and request timeouts
    all live in one ab_timer_t. Deadlines are int64 milliseconds on the
    broker's monotonic clock. Costs: add, cancel and reschedule O(log n);
    next deadline O(1); popping an expired entry O(log n). Entries with the
    same deadline fire in the order they were added (or last rescheduled),
    so retries of one edge keep their order.

    A handle names one scheduling of one entry: once the entry fires
    (is popped) or is cancelled, its handle is dead and every call with it
    answers AB_ENOENT, even after the slot is reused (a generation counter
    in the handle). 0 is never a valid handle, so it can mean "no timer".
*/

#ifndef AB_TIMER_H_INCLUDED
#define AB_TIMER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _ab_timer_t ab_timer_t;

/* Opaque handle: slot index and generation. 0 = none. */
typedef uint64_t ab_timer_handle_t;

/* One entry, as handed out by ab_timer_pop_expired. */
typedef struct {
    ab_timer_handle_t handle; /* dead by the time the caller sees it */
    int64_t deadline;         /* when it was due (monotonic ms) */
    int kind;                 /* caller's tag: what sort of timer */
    void *arg;                /* caller's pointer; never dereferenced here */
} ab_timer_entry_t;

/* Creates an empty heap. Returns NULL only when out of memory. */
ab_timer_t *ab_timer_new (void);

/* Destroys the heap and every pending entry (the args are not touched);
   accepts NULL and nulls the caller's pointer. */
void ab_timer_destroy (ab_timer_t **self_p);

/* Schedules an entry due at `deadline`. Returns its handle (never 0), or
   0 when out of memory. */
ab_timer_handle_t ab_timer_add (ab_timer_t *self, int64_t deadline, int kind,
                                void *arg);

/* Removes a pending entry. Returns 0, or AB_ENOENT when the handle is 0,
   already fired, cancelled, or never existed. */
int ab_timer_cancel (ab_timer_t *self, ab_timer_handle_t handle);

/* Moves a pending entry to a new deadline (earlier or later); the handle
   stays valid. For ties it counts as added now. Returns 0 or AB_ENOENT
   (as for cancel). */
int ab_timer_reschedule (ab_timer_t *self, ab_timer_handle_t handle,
                         int64_t deadline);

/* True when `handle` names a pending entry. */
bool ab_timer_pending (const ab_timer_t *self, ab_timer_handle_t handle);

/* The deadline of a pending entry into *deadline_p (may be NULL).
   Returns 0 or AB_ENOENT. */
int ab_timer_deadline (const ab_timer_t *self, ab_timer_handle_t handle,
                       int64_t *deadline_p);

/* The earliest pending deadline, or INT64_MAX when the heap is empty. */
int64_t ab_timer_next_deadline (const ab_timer_t *self);

/* Milliseconds from `now` until the earliest deadline, for zmq_poll:
   -1 when empty (wait forever), 0 when already due; at most INT_MAX. */
long ab_timer_timeout_ms (const ab_timer_t *self, int64_t now);

/* Number of pending entries. */
size_t ab_timer_size (const ab_timer_t *self);

/* Pops the earliest entry whose deadline is <= now into *entry and returns
   true; false (entry untouched) when none is due. Call it in a loop to
   fire every expired entry in deadline order (ties FIFO). Entries added
   while looping with a deadline <= now are popped in the same loop. */
bool ab_timer_pop_expired (ab_timer_t *self, int64_t now,
                           ab_timer_entry_t *entry);

#endif
