/*  =========================================================================
    ab_pool - a fixed set of threads that share one loop with the caller

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Fork and join over one batch: ab_pool_run calls fn (arg, i) for every
    i below count, on the pool's threads and on the calling thread, and
    returns when every call has returned. The broker checks the payloads
    of a loop turn's PUBs this way (ab_pool_start), while it handles the
    PUBs in the order they came on its own thread, taking each one's
    result as it is ready; so nothing about order or shared state
    changes, and the time spent in jansson and the schema moves to
    other cores.
*/

#ifndef AB_POOL_H_INCLUDED
#define AB_POOL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _ab_pool_t ab_pool_t;

/* One call of the loop body. Calls for different i run concurrently:
   they must not share anything writable. */
typedef void (ab_pool_fn) (void *arg, size_t i);

/* A pool of `threads` threads (0 is valid: ab_pool_run then runs the
   loop on the caller alone). NULL when a thread cannot be started. */
ab_pool_t *ab_pool_new (size_t threads);
void ab_pool_destroy (ab_pool_t **self_p);

/* Threads in the pool (not counting callers). */
size_t ab_pool_threads (const ab_pool_t *self);

/* Calls fn (arg, i) for i in [0, count), spread over the pool and the
   calling thread; returns when all are done. One caller at a time. */
void ab_pool_run (ab_pool_t *self, ab_pool_fn *fn, void *arg, size_t count);

/* ab_pool_run in three steps, so the caller can use results as they
   come: start hands the indexes out (the pool takes the highest first) and
   returns at once;
   help runs the lowest index not yet taken on the caller's thread and
   returns false when none is left; wait helps until none is left, then
   returns when every call has returned. Every start needs its wait. */
void ab_pool_start (ab_pool_t *self, ab_pool_fn *fn, void *arg, size_t count);
bool ab_pool_help (ab_pool_t *self);
void ab_pool_wait (ab_pool_t *self);

/* Threads worth starting beside `busy` threads that are already busy
   on this machine: one per further online CPU, at most `limit`. */
size_t ab_pool_default_threads (size_t busy, size_t limit);

#endif
