/*  =========================================================================
    ab_hist - a log-bucketed latency histogram (for agentbus-bench)

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Bucket index of v: below 16, v itself; otherwise, with s = msb(v) - 4,
    16 * s + (v >> s), i.e. the top five bits of v select one of 16
    buckets within its power of two. Indexes grow with v, so a walk in
    index order is a walk in value order.
*/

#include <stdlib.h>
#include <string.h>

#include "ab_hist.h"

/* Sub-buckets per power of two (a power of two itself). */
#define S_SUB 16
/* Shift of the sub-bucket count. */
#define S_SUB_BITS 4
/* Buckets: 16 per power of two for the 60 shifts of an int64_t. */
#define S_BUCKETS (S_SUB * 61)

struct _ab_hist_t {
    uint64_t counts[S_BUCKETS]; /* values per bucket */
    uint64_t total;             /* values recorded */
};

static int
s_index (uint64_t value)
{
    if (value < S_SUB)
        return (int)value;
    int shift = 63 - __builtin_clzll (value) - S_SUB_BITS;
    return S_SUB * shift + (int)(value >> shift);
}

/* The largest value that falls in bucket `index`. */
static int64_t
s_upper (int index)
{
    if (index < S_SUB)
        return index;
    int shift = index / S_SUB - 1;
    uint64_t mantissa = (uint64_t)(index % S_SUB + S_SUB);
    return (int64_t)(((mantissa + 1) << shift) - 1);
}

ab_hist_t *
ab_hist_new (void)
{
    return calloc (1, sizeof (ab_hist_t));
}

void
ab_hist_destroy (ab_hist_t **self_p)
{
    if (self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

void
ab_hist_record (ab_hist_t *self, int64_t value_ns)
{
    self->counts[s_index (value_ns < 0 ? 0 : (uint64_t)value_ns)]++;
    self->total++;
}

void
ab_hist_merge (ab_hist_t *self, const ab_hist_t *other)
{
    for (int i = 0; i < S_BUCKETS; i++)
        self->counts[i] += other->counts[i];
    self->total += other->total;
}

uint64_t
ab_hist_count (const ab_hist_t *self)
{
    return self->total;
}

int64_t
ab_hist_percentile (const ab_hist_t *self, double q)
{
    if (self->total == 0)
        return -1;
    q = q < 0 ? 0 : q > 1 ? 1 : q;
    /* the rank of the value sought, counted from 1 */
    uint64_t rank = (uint64_t)(q * (double)self->total + 0.999999);
    rank = rank < 1 ? 1 : rank;
    uint64_t seen = 0;
    for (int i = 0; i < S_BUCKETS; i++) {
        seen += self->counts[i];
        if (seen >= rank)
            return s_upper (i);
    }
    return s_upper (S_BUCKETS - 1);
}

/* Hex digits of a stamp. */
#define S_STAMP_DIGITS 16

long
ab_hist_stamp_at (const char *payload, size_t size)
{
    static const char key[] = "\"text\":\"";
    const char *found = memmem (payload, size, key, sizeof key - 1);
    if (!found)
        return -1;
    size_t at = (size_t)(found - payload) + sizeof key - 1;
    if (at + S_STAMP_DIGITS + 2 > size)
        return -1;
    return (long)at;
}

void
ab_hist_stamp (char *at, int64_t ns)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t value = (uint64_t)ns;
    for (int i = S_STAMP_DIGITS - 1; i >= 0; i--, value >>= 4)
        at[i] = hex[value & 15];
}

int64_t
ab_hist_unstamp (const char *at)
{
    uint64_t value = 0;
    for (int i = 0; i < S_STAMP_DIGITS; i++) {
        char c = at[i];
        int digit = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                           : -1;
        if (digit < 0)
            return -1;
        value = value << 4 | (uint64_t)digit;
    }
    return (int64_t)value;
}
