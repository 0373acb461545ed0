/*  =========================================================================
    ab_log - leveled log lines to a stream, one object per broker

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#ifndef AB_LOG_H_INCLUDED
#define AB_LOG_H_INCLUDED

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

typedef enum {
    AB_LOG_ERROR = 0,
    AB_LOG_WARNING,
    AB_LOG_INFO,
    AB_LOG_DEBUG,
} ab_log_level_t;

/* Whether each line starts with its time. */
typedef enum {
    AB_LOG_UNSTAMPED = 0, /* no time: under systemd the journal stamps lines */
    AB_LOG_STAMPED = 1,   /* an ISO 8601 UTC time first */
} ab_log_stamp_t;

typedef struct _ab_log_t ab_log_t;

/* Creates a log writing lines at or above `level` to `stream` (borrowed,
   not closed), each stamped with its time or not. */
ab_log_t *ab_log_new (FILE *stream, ab_log_level_t level, ab_log_stamp_t stamp);

/* Destroys the log; accepts NULL and nulls the caller's pointer. */
void ab_log_destroy (ab_log_t **self_p);

/* Changes the threshold (e.g. for --verbose). */
void ab_log_set_level (ab_log_t *self, ab_log_level_t level);

/* True if a line at `level` would be written; lets callers skip building
   expensive arguments. A NULL log writes nothing. */
bool ab_log_enabled (const ab_log_t *self, ab_log_level_t level);

/* Writes one line ("LEVEL message\n"); a NULL log writes nothing. */
void ab_log_printf (ab_log_t *self, ab_log_level_t level, const char *format,
                    ...) __attribute__ ((format (printf, 3, 4)));

void ab_log_vprintf (ab_log_t *self, ab_log_level_t level, const char *format,
                     va_list args);

/* Parses "error", "warning", "info" or "debug". Returns 0 or AB_EINVAL. */
int ab_log_level_from_name (const char *name, ab_log_level_t *level_p);

#endif
