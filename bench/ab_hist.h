/*  =========================================================================
    ab_hist - a log-bucketed latency histogram (for agentbus-bench)

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Values are nanoseconds. Each power of two is split into 16 linear
    buckets, so a recorded value is known to within 1/16 (6.25 %) from
    1 ns to hours in a fixed 1024-counter array: recording is O(1) with
    no allocation, and two histograms add bucket by bucket. A percentile
    is reported as the upper bound of its bucket, so it never understates.
*/

#ifndef AB_HIST_H_INCLUDED
#define AB_HIST_H_INCLUDED

#include <stdint.h>

typedef struct _ab_hist_t ab_hist_t;

/* A new, empty histogram; NULL if out of memory. */
ab_hist_t *ab_hist_new (void);

/* Destroys the histogram; accepts NULL, nulls *self_p. */
void ab_hist_destroy (ab_hist_t **self_p);

/* Records one value in nanoseconds (negative values count as 0). */
void ab_hist_record (ab_hist_t *self, int64_t value_ns);

/* Adds every count of `other` into `self`. */
void ab_hist_merge (ab_hist_t *self, const ab_hist_t *other);

/* Values recorded. */
uint64_t ab_hist_count (const ab_hist_t *self);

/* The value (ns) at or below which a fraction `q` (0..1) of the recorded
   values lie: the upper bound of the bucket holding that rank. -1 when
   nothing was recorded. */
int64_t ab_hist_percentile (const ab_hist_t *self, double q);

/* Publish-to-consume stamps: a 256-byte bench payload carries its send
   time (CLOCK_MONOTONIC ns) as 16 hex digits at the start of its "text"
   string, which every broker passes through untouched and the bench's
   schema allows, so the consumer can time each message. */

/* Where the stamp goes in `payload` (`size` bytes): an offset, or -1
   when there is no "text" string with room for one. */
long ab_hist_stamp_at (const char *payload, size_t size);

/* Writes `ns` as 16 hex digits at `at`. */
void ab_hist_stamp (char *at, int64_t ns);

/* The ns written at `at` by ab_hist_stamp, or -1 when the 16 bytes are
   not hex digits. */
int64_t ab_hist_unstamp (const char *at);

#endif
