/*  =========================================================================
    ab_log - leveled log lines to a stream, one object per broker

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "agentbus.h"
#include "common/ab_log.h"

struct _ab_log_t {
    FILE *stream;         /* where lines go; borrowed */
    ab_log_level_t level; /* lines above this level are dropped */
    ab_log_stamp_t stamp; /* prefix each line with UTC time or not */
};

static const char *s_level_names[] = {"error", "warning", "info", "debug"};

ab_log_t *
ab_log_new (FILE *stream, ab_log_level_t level, ab_log_stamp_t stamp)
{
    assert (stream);
    ab_log_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->stream = stream;
    self->level = level;
    self->stamp = stamp;
    return self;
}

void
ab_log_destroy (ab_log_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

void
ab_log_set_level (ab_log_t *self, ab_log_level_t level)
{
    assert (self);
    self->level = level;
}

bool
ab_log_enabled (const ab_log_t *self, ab_log_level_t level)
{
    return self && level <= self->level;
}

void
ab_log_vprintf (ab_log_t *self, ab_log_level_t level, const char *format,
                va_list args)
{
    if (!ab_log_enabled (self, level))
        return;
    /* Format into one buffer so concurrent writers (tests run several
       brokers in one process) never interleave within a line. */
    char line[2048];
    size_t used = 0;
    if (self->stamp == AB_LOG_STAMPED) {
        struct timeval now;
        struct tm tm;
        gettimeofday (&now, NULL);
        gmtime_r (&now.tv_sec, &tm);
        used = strftime (line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
        used += (size_t)snprintf (line + used, sizeof line - used, ".%03dZ ",
                                  (int)(now.tv_usec / 1000));
    }
    used += (size_t)snprintf (line + used, sizeof line - used,
                              "%s: ", s_level_names[level]);
    int length = vsnprintf (line + used, sizeof line - used, format, args);
    if (length < 0)
        length = 0;
    used += (size_t)length;
    if (used > sizeof line - 2)
        used = sizeof line - 2; /* truncated: keep the newline */
    line[used++] = '\n';
    fwrite (line, 1, used, self->stream);
    fflush (self->stream);
}

void
ab_log_printf (ab_log_t *self, ab_log_level_t level, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    ab_log_vprintf (self, level, format, args);
    va_end (args);
}

int
ab_log_level_from_name (const char *name, ab_log_level_t *level_p)
{
    for (int i = 0; i <= AB_LOG_DEBUG; i++)
        if (name && strcmp (name, s_level_names[i]) == 0) {
            *level_p = (ab_log_level_t)i;
            return 0;
        }
    return AB_EINVAL;
}
