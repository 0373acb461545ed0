/*  =========================================================================
    ab_pool - a fixed set of threads that share one loop with the caller

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Rounds. ab_pool_start sets round r up under the lock (function,
    argument, the range [0, count) of indexes not yet taken) and wakes the
    threads. The pool's threads take indexes from the top of the range,
    the caller (ab_pool_help) from the bottom, by compare-and-swap on one
    word that holds both ends; a caller that walks the results in order
    thus does the first ones itself and finds the last ones done. The
    invariant that makes rounds safe to reuse: a thread touches the range
    only while it is counted in `active`, and a round is set up only when
    `active` is 0 — so no thread left over from round r can take an index
    of round r+1 with r's function. ab_pool_wait returns when every index
    is done (`pending` is 0) and no thread is still inside the round.
*/

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/ab_pool.h"

struct _ab_pool_t {
    pthread_t *threads;         /* the pool's threads */
    size_t count;               /* threads started */
    pthread_mutex_t lock;       /* guards everything below but the atomics */
    pthread_cond_t wake;        /* a round began, or stop */
    pthread_cond_t idle;        /* the round's last index or thread is done */
    uint64_t round;             /* rounds begun */
    bool stop;                  /* destroy: threads leave */
    ab_pool_fn *fn;             /* this round's body */
    void *arg;                  /* and its argument */
    size_t total;               /* this round's index count */
    atomic_uint_fast64_t range; /* indexes not yet taken, [lo, hi): lo in
                                   the low 32 bits, hi in the high ones */
    atomic_size_t pending;      /* indexes not yet done */
    size_t active;              /* pool threads inside the round */
};

/* Which end of the range of indices not yet taken s_take takes from. */
typedef enum {
    S_FRONT, /* the lowest: ab_pool_help, in order */
    S_BACK,  /* the highest: the caller's own thread, from the end */
} s_end_t;

/* Takes the lowest (S_FRONT) or the highest index not yet taken. */
static bool
s_take (ab_pool_t *self, s_end_t end, size_t *index_p)
{
    bool front = end == S_FRONT;
    uint_fast64_t old = atomic_load (&self->range);
    while (true) {
        uint32_t lo = (uint32_t)old, hi = (uint32_t)(old >> 32);
        if (lo >= hi)
            return false;
        uint_fast64_t taken = front ? ((uint_fast64_t)hi << 32) | (lo + 1)
                                    : ((uint_fast64_t)(hi - 1) << 32) | lo;
        if (atomic_compare_exchange_weak (&self->range, &old, taken)) {
            *index_p = front ? lo : hi - 1;
            return true;
        }
    }
}

/* Runs index i and counts it done. */
static void
s_run (ab_pool_t *self, size_t i)
{
    self->fn (self->arg, i);
    if (atomic_fetch_sub (&self->pending, 1) == 1) {
        pthread_mutex_lock (&self->lock);
        pthread_cond_signal (&self->idle);
        pthread_mutex_unlock (&self->lock);
    }
}

/* A pool thread's share: from the back, so that a caller going through
   the results in order (ab_pool_help takes from the front) meets the
   pool's work once, in the middle, instead of at every index. */
static void
s_work (ab_pool_t *self)
{
    size_t i;
    while (s_take (self, S_BACK, &i))
        s_run (self, i);
}

static void *
s_thread (void *arg)
{
    ab_pool_t *self = arg;
    uint64_t seen = 0;
    pthread_mutex_lock (&self->lock);
    while (true) {
        while (!self->stop && self->round == seen)
            pthread_cond_wait (&self->wake, &self->lock);
        if (self->stop)
            break;
        seen = self->round;
        self->active++;
        pthread_mutex_unlock (&self->lock);
        s_work (self);
        pthread_mutex_lock (&self->lock);
        if (--self->active == 0)
            pthread_cond_signal (&self->idle);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

ab_pool_t *
ab_pool_new (size_t threads)
{
    ab_pool_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    pthread_cond_init (&self->idle, NULL);
    atomic_init (&self->range, 0);
    atomic_init (&self->pending, 0);
    self->threads = calloc (threads ? threads : 1, sizeof (pthread_t));
    if (!self->threads) {
        ab_pool_destroy (&self);
        return NULL;
    }
    for (; self->count < threads; self->count++)
        if (pthread_create (&self->threads[self->count], NULL, s_thread,
                            self)) {
            ab_pool_destroy (&self);
            return NULL;
        }
    return self;
}

void
ab_pool_destroy (ab_pool_t **self_p)
{
    assert (self_p);
    ab_pool_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_lock (&self->lock);
    self->stop = true;
    pthread_cond_broadcast (&self->wake);
    pthread_mutex_unlock (&self->lock);
    for (size_t i = 0; i < self->count; i++)
        pthread_join (self->threads[i], NULL);
    free (self->threads);
    pthread_cond_destroy (&self->idle);
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

size_t
ab_pool_threads (const ab_pool_t *self)
{
    assert (self);
    return self->count;
}

void
ab_pool_start (ab_pool_t *self, ab_pool_fn *fn, void *arg, size_t count)
{
    assert (self && fn);
    pthread_mutex_lock (&self->lock);
    while (self->active) /* a thread late for the last round */
        pthread_cond_wait (&self->idle, &self->lock);
    self->fn = fn;
    self->arg = arg;
    assert (count <= UINT32_MAX);
    self->total = count;
    atomic_store (&self->range, (uint_fast64_t)count << 32);
    atomic_store (&self->pending, count);
    self->round++;
    if (count > 1)
        pthread_cond_broadcast (&self->wake);
    pthread_mutex_unlock (&self->lock);
}

bool
ab_pool_help (ab_pool_t *self)
{
    assert (self);
    size_t i;
    if (!s_take (self, S_FRONT, &i))
        return false;
    s_run (self, i);
    return true;
}

void
ab_pool_wait (ab_pool_t *self)
{
    assert (self);
    while (ab_pool_help (self))
        ;
    pthread_mutex_lock (&self->lock);
    while (atomic_load (&self->pending) || self->active)
        pthread_cond_wait (&self->idle, &self->lock);
    pthread_mutex_unlock (&self->lock);
}

void
ab_pool_run (ab_pool_t *self, ab_pool_fn *fn, void *arg, size_t count)
{
    assert (self && fn);
    if (self->count == 0 || count < 2) {
        for (size_t i = 0; i < count; i++)
            fn (arg, i);
        return;
    }
    ab_pool_start (self, fn, arg, count);
    ab_pool_wait (self);
}

size_t
ab_pool_default_threads (size_t busy, size_t limit)
{
    long cpus = sysconf (_SC_NPROCESSORS_ONLN);
    size_t extra = cpus > (long)busy ? (size_t)cpus - busy : 0;
    return extra < limit ? extra : limit;
}
