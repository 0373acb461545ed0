/*  =========================================================================
    ab_tensor - tensor references in payloads against their attachments

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Protocol §8's `malformed` check (ab_tensor.h). The payload
    is walked depth first in document order, so the first problem reported
    is always the same one for the same message.
*/

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "common/ab_decimal.h"
#include "schema/ab_tensor.h"

#define S_MAX_DEPTH 256 /* payload nesting walked */
#define S_MAX_DIMS 32   /* dimensions of one tensor */

/* The walk's state. */
typedef struct {
    const size_t *frame_sizes; /* length of each attachment */
    size_t frame_count;        /* attachments */
    unsigned char *seen;       /* per attachment: referenced already */
    char *message;             /* where the reason goes */
    size_t message_size;       /* its size */
    char path[512];            /* JSON Pointer of the value walked */
} s_walk_t;

static int s_fail (s_walk_t *walk, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static int
s_fail (s_walk_t *walk, const char *format, ...)
{
    if (walk->message && walk->message_size) {
        va_list args;
        va_start (args, format);
        vsnprintf (walk->message, walk->message_size, format, args);
        va_end (args);
    }
    return AB_EINVAL;
}

/* Writes "[4, 768]" for a shape. */
static void
s_shape_text (const int64_t *shape, size_t ndim, char *buffer, size_t size)
{
    size_t used = (size_t)snprintf (buffer, size, "[");
    for (size_t i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf (buffer + used, size - used, "%s%lld",
                                  i ? ", " : "", (long long)shape[i]);
    if (used < size)
        snprintf (buffer + used, size - used, "]");
}

static const char *
s_where (const s_walk_t *walk)
{
    return walk->path[0] ? walk->path : "/";
}

/* One tensor reference object. */
static int
s_check_ref (s_walk_t *walk, const json_t *ref)
{
    const char *name = json_string_value (json_object_get (ref, "dtype"));
    const json_t *shape = json_object_get (ref, "shape");
    const json_t *frame = json_object_get (ref, "frame");
    ab_dtype_t dtype = ab_dtype_from_name (name ? name : "");
    if (dtype == AB_DTYPE_INVALID)
        return s_fail (walk, "%s: unknown dtype", s_where (walk));
    size_t ndim = json_array_size (shape);
    int64_t dims[S_MAX_DIMS];
    if (!json_is_array (shape) || ndim > S_MAX_DIMS)
        return s_fail (walk, "%s: shape must be a list of at most %d sizes",
                       s_where (walk), S_MAX_DIMS);
    for (size_t i = 0; i < ndim; i++) {
        const json_t *dim = json_array_get (shape, i);
        if (!json_is_integer (dim) || json_integer_value (dim) < 0)
            return s_fail (walk, "%s: shape must hold non-negative integers",
                           s_where (walk));
        dims[i] = json_integer_value (dim);
    }
    if (!json_is_integer (frame) || json_integer_value (frame) < 0 ||
        (uint64_t)json_integer_value (frame) >= walk->frame_count)
        return s_fail (walk, "%s: frame %s does not exist (%zu attachments)",
                       s_where (walk),
                       json_is_integer (frame) ? "number" : "reference",
                       walk->frame_count);
    size_t index = (size_t)json_integer_value (frame);
    if (walk->seen[index])
        return s_fail (walk, "%s: attachment %zu is referenced twice",
                       s_where (walk), index);
    walk->seen[index] = 1;
    size_t bytes;
    int rc = ab_tensor_nbytes (dtype, dims, ndim, &bytes);
    char text[256];
    s_shape_text (dims, ndim, text, sizeof text);
    if (rc != 0)
        return s_fail (walk, "%s: %s %s is too large", s_where (walk), name,
                       text);
    if (bytes != walk->frame_sizes[index])
        return s_fail (walk, "%s: frame %zu has %zu bytes, %s %s needs %zu",
                       s_where (walk), index, walk->frame_sizes[index], name,
                       text, bytes);
    return 0;
}

/* Appends one pointer segment; returns the length to restore. */
static size_t
s_push (s_walk_t *walk, const char *key, size_t index)
{
    size_t used = strlen (walk->path), room = sizeof walk->path - used;
    char *p = walk->path + used;
    if (!key) { /* no snprintf: payload arrays are walked on every PUB */
        char digits[AB_DECIMAL_SIZE];
        size_t count = ab_decimal_u64 (digits, index);
        if (room > count + 1) {
            *p++ = '/';
            memcpy (p, digits, count + 1);
        }
        return used;
    }
    if (room < 2)
        return used;
    *p++ = '/';
    room--;
    for (; *key && room > 3; key++, room--) {
        if (*key == '~' || *key == '/') {
            *p++ = '~';
            *p++ = *key == '~' ? '0' : '1';
            room--;
        } else
            *p++ = *key;
    }
    *p = '\0';
    return used;
}

static int
s_walk (s_walk_t *walk, const json_t *value, int depth)
{
    if (depth > S_MAX_DEPTH)
        return s_fail (walk, "payload nested deeper than %d levels",
                       S_MAX_DEPTH);
    int rc = 0;
    if (json_is_object (value)) {
        if (json_object_get (value, "dtype") &&
            json_object_get (value, "shape") &&
            json_object_get (value, "frame"))
            return s_check_ref (walk, value);
        const char *key;
        json_t *child;
        json_object_foreach ((json_t *)value, key, child)
        {
            size_t saved = s_push (walk, key, 0);
            rc = s_walk (walk, child, depth + 1);
            walk->path[saved] = '\0';
            if (rc)
                return rc;
        }
    } else if (json_is_array (value)) {
        for (size_t i = 0; i < json_array_size (value) && rc == 0; i++) {
            size_t saved = s_push (walk, NULL, i);
            rc = s_walk (walk, json_array_get (value, i), depth + 1);
            walk->path[saved] = '\0';
        }
    }
    return rc;
}

int
ab_tensor_check_refs (const json_t *payload, const size_t *frame_sizes,
                      size_t frame_count, char *message, size_t message_size)
{
    s_walk_t walk = {frame_sizes, frame_count, NULL, message, message_size, ""};
    if (message && message_size)
        message[0] = '\0';
    walk.seen = calloc (frame_count ? frame_count : 1, 1);
    if (!walk.seen)
        return AB_ENOMEM;
    int rc = s_walk (&walk, payload, 0);
    for (size_t i = 0; rc == 0 && i < frame_count; i++)
        if (!walk.seen[i])
            rc = s_fail (&walk, "attachment %zu is not referenced", i);
    free (walk.seen);
    return rc;
}
