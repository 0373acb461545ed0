/*  =========================================================================
    ab_timer - a heap of deadlines with stable handles

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Design note. The broker keeps one timer per copy in flight or backing
    off, so there may be hundreds of thousands; they are added and
    cancelled far more often than they fire (most copies are acked before
    their timeout). A binary min-heap gives O(log n) add/cancel/
    reschedule and O(1) "when is the next one" for zmq_poll, in one flat
    array with no allocation per timer. A sorted list would make add O(n);
    a timer wheel needs a fixed tick and resolution. czmq's zloop timers
    scan a list, so they do not fit.

    Entries live in a slot array that never moves them: a handle is the
    slot index plus the slot's generation, so it stays valid while the
    heap reorders, and goes dead when the slot is freed (the generation is
    bumped). The heap itself is an array of slot indices.

    Invariants, kept after every public call:
    1. heap order: for every i > 0, key(heap[(i-1)/2]) <= key(heap[i]),
       where key = (deadline, seq) and seq is a counter taken at add or
       reschedule, so equal deadlines leave in FIFO order;
    2. back-index: slots[heap[i]].heap_index == i for every i < count, and
       a free slot has heap_index == NONE.
*/

#include <assert.h>
#include <limits.h>
#include <stdlib.h>

#include "agentbus.h"
#include "common/ab_timer.h"

#define NONE SIZE_MAX

typedef struct {
    int64_t deadline;    /* when it is due */
    uint64_t seq;        /* FIFO tie-break: order of add/reschedule */
    void *arg;           /* caller's pointer */
    int kind;            /* caller's tag */
    uint32_t generation; /* bumped when the slot is freed; never 0 */
    size_t heap_index;   /* position in heap, or NONE when free */
    size_t next_free;    /* next free slot when free, or NONE */
} s_slot_t;

struct _ab_timer_t {
    s_slot_t *slots;   /* entries, by slot index; never moved */
    size_t slot_count; /* slots in use or on the free list */
    size_t slot_size;  /* allocated slots */
    size_t free_head;  /* first free slot, or NONE */
    uint32_t *heap;    /* slot indices in heap order */
    size_t count;      /* entries in the heap */
    uint64_t next_seq; /* next FIFO sequence number */
};

ab_timer_t *
ab_timer_new (void)
{
    ab_timer_t *self = calloc (1, sizeof *self);
    if (self)
        self->free_head = NONE;
    return self;
}

void
ab_timer_destroy (ab_timer_t **self_p)
{
    assert (self_p);
    ab_timer_t *self = *self_p;
    if (self) {
        free (self->slots);
        free (self->heap);
        free (self);
        *self_p = NULL;
    }
}

static bool
s_less (const ab_timer_t *self, size_t a, size_t b)
{
    const s_slot_t *x = &self->slots[self->heap[a]];
    const s_slot_t *y = &self->slots[self->heap[b]];
    return x->deadline < y->deadline ||
           (x->deadline == y->deadline && x->seq < y->seq);
}

static void
s_swap (ab_timer_t *self, size_t a, size_t b)
{
    uint32_t slot = self->heap[a];
    self->heap[a] = self->heap[b];
    self->heap[b] = slot;
    self->slots[self->heap[a]].heap_index = a;
    self->slots[self->heap[b]].heap_index = b;
}

static size_t
s_sift_up (ab_timer_t *self, size_t i)
{
    while (i > 0 && s_less (self, i, (i - 1) / 2)) {
        s_swap (self, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    return i;
}

static void
s_sift_down (ab_timer_t *self, size_t i)
{
    for (;;) {
        size_t least = i;
        size_t left = 2 * i + 1;
        if (left < self->count && s_less (self, left, least))
            least = left;
        if (left + 1 < self->count && s_less (self, left + 1, least))
            least = left + 1;
        if (least == i)
            return;
        s_swap (self, i, least);
        i = least;
    }
}

/* Restores heap order around position i after its key changed. */
static void
s_fix (ab_timer_t *self, size_t i)
{
    if (s_sift_up (self, i) == i)
        s_sift_down (self, i);
}

static int
s_grow (ab_timer_t *self)
{
    size_t size = self->slot_size ? self->slot_size * 2 : 64;
    if (size > UINT32_MAX)
        return AB_ENOMEM; /* slot indices are 32 bits in a handle */
    s_slot_t *slots = realloc (self->slots, size * sizeof *slots);
    if (!slots)
        return AB_ENOMEM;
    self->slots = slots;
    uint32_t *heap = realloc (self->heap, size * sizeof *heap);
    if (!heap)
        return AB_ENOMEM;
    self->heap = heap;
    self->slot_size = size;
    return 0;
}

/* Takes a slot off the free list, or a new one. Returns NONE when out of
   memory. */
static size_t
s_slot_alloc (ab_timer_t *self)
{
    if (self->free_head != NONE) {
        size_t slot = self->free_head;
        self->free_head = self->slots[slot].next_free;
        return slot;
    }
    if (self->slot_count == self->slot_size && s_grow (self) != 0)
        return NONE;
    s_slot_t *fresh = &self->slots[self->slot_count];
    fresh->generation = 1;
    return self->slot_count++;
}

static void
s_slot_free (ab_timer_t *self, size_t slot)
{
    s_slot_t *entry = &self->slots[slot];
    entry->heap_index = NONE;
    entry->generation =
        entry->generation == UINT32_MAX ? 1 : entry->generation + 1;
    entry->next_free = self->free_head;
    self->free_head = slot;
}

static ab_timer_handle_t
s_handle (const ab_timer_t *self, size_t slot)
{
    return (uint64_t)self->slots[slot].generation << 32 | (uint64_t)slot;
}

/* The slot a live handle names, or NONE. */
static size_t
s_lookup (const ab_timer_t *self, ab_timer_handle_t handle)
{
    size_t slot = (size_t)(handle & UINT32_MAX);
    uint32_t generation = (uint32_t)(handle >> 32);
    if (!self || slot >= self->slot_count)
        return NONE;
    const s_slot_t *entry = &self->slots[slot];
    if (entry->generation != generation || entry->heap_index == NONE)
        return NONE;
    return slot;
}

ab_timer_handle_t
ab_timer_add (ab_timer_t *self, int64_t deadline, int kind, void *arg)
{
    assert (self);
    size_t slot = s_slot_alloc (self);
    if (slot == NONE)
        return 0;
    s_slot_t *entry = &self->slots[slot];
    entry->deadline = deadline;
    entry->seq = self->next_seq++;
    entry->kind = kind;
    entry->arg = arg;
    entry->heap_index = self->count;
    self->heap[self->count++] = (uint32_t)slot;
    s_sift_up (self, entry->heap_index);
    return s_handle (self, slot);
}

/* Removes the entry at heap position i and frees its slot. */
static void
s_remove_at (ab_timer_t *self, size_t i)
{
    size_t slot = self->heap[i];
    size_t last = --self->count;
    if (i != last) {
        self->heap[i] = self->heap[last];
        self->slots[self->heap[i]].heap_index = i;
        s_fix (self, i);
    }
    s_slot_free (self, slot);
}

int
ab_timer_cancel (ab_timer_t *self, ab_timer_handle_t handle)
{
    size_t slot = s_lookup (self, handle);
    if (slot == NONE)
        return AB_ENOENT;
    s_remove_at (self, self->slots[slot].heap_index);
    return 0;
}

int
ab_timer_reschedule (ab_timer_t *self, ab_timer_handle_t handle,
                     int64_t deadline)
{
    size_t slot = s_lookup (self, handle);
    if (slot == NONE)
        return AB_ENOENT;
    s_slot_t *entry = &self->slots[slot];
    entry->deadline = deadline;
    entry->seq = self->next_seq++;
    s_fix (self, entry->heap_index);
    return 0;
}

bool
ab_timer_pending (const ab_timer_t *self, ab_timer_handle_t handle)
{
    return s_lookup (self, handle) != NONE;
}

int
ab_timer_deadline (const ab_timer_t *self, ab_timer_handle_t handle,
                   int64_t *deadline_p)
{
    size_t slot = s_lookup (self, handle);
    if (slot == NONE)
        return AB_ENOENT;
    if (deadline_p)
        *deadline_p = self->slots[slot].deadline;
    return 0;
}

int64_t
ab_timer_next_deadline (const ab_timer_t *self)
{
    assert (self);
    return self->count ? self->slots[self->heap[0]].deadline : INT64_MAX;
}

long
ab_timer_timeout_ms (const ab_timer_t *self, int64_t now)
{
    assert (self);
    if (self->count == 0)
        return -1;
    int64_t next = ab_timer_next_deadline (self);
    if (next <= now)
        return 0;
    /* Subtract in unsigned arithmetic: next - now may not fit int64. */
    uint64_t wait = (uint64_t)next - (uint64_t)now;
    return wait > INT_MAX ? INT_MAX : (long)wait;
}

size_t
ab_timer_size (const ab_timer_t *self)
{
    assert (self);
    return self->count;
}

bool
ab_timer_pop_expired (ab_timer_t *self, int64_t now, ab_timer_entry_t *entry)
{
    assert (self);
    assert (entry);
    if (self->count == 0)
        return false;
    size_t slot = self->heap[0];
    const s_slot_t *top = &self->slots[slot];
    if (top->deadline > now)
        return false;
    entry->handle = s_handle (self, slot);
    entry->deadline = top->deadline;
    entry->kind = top->kind;
    entry->arg = top->arg;
    s_remove_at (self, 0);
    return true;
}
