/*  =========================================================================
    ab_header - clocks, timer kinds, the out-of-memory policy, header
    fields (see ab_header.h)

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <czmq.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

#include "broker/ab_header.h"
#include "common/ab_decimal.h"

int64_t
ab_now (void)
{
    return zclock_mono ();
}

int64_t
ab_wall_ms (void)
{
    struct timeval now;
    gettimeofday (&now, NULL);
    return (int64_t)now.tv_sec * 1000 + now.tv_usec / 1000;
}

/* One optional header field and what it must be. */
typedef struct {
    const char *name; /* header key */
    json_type type;   /* JSON_STRING or JSON_INTEGER */
    int64_t min;      /* integers: smallest allowed */
    int64_t max;      /* integers: largest; strings: most bytes */
} s_field_t;

/* PUB and REQ header fields (protocol §3). */
static const s_field_t s_pub_fields[] = {
    {"type", JSON_STRING, 0, 128},
    {"version", JSON_INTEGER, 1, INT_MAX},
    {"id", JSON_STRING, 0, 128},
    {"seq", JSON_INTEGER, 0, INT64_MAX},
    {"ttl_ms", JSON_INTEGER, 0, AB_HEADER_MAX_MS},
    {"traceparent", JSON_STRING, 0, 256},
    {"timeout_ms", JSON_INTEGER, 1, AB_HEADER_MAX_MS},
};

static bool
s_field_good (const s_field_t *field, const json_t *value)
{
    if (field->type == JSON_STRING)
        return json_is_string (value) &&
               (int64_t)json_string_length (value) <= field->max;
    return json_is_integer (value) &&
           json_integer_value (value) >= field->min &&
           json_integer_value (value) <= field->max;
}

int
ab_header_check_pub (const json_t *header, char *why, size_t why_size)
{
    size_t count = sizeof s_pub_fields / sizeof s_pub_fields[0];
    for (size_t i = 0; i < count; i++) {
        const s_field_t *field = &s_pub_fields[i];
        const json_t *value = json_object_get (header, field->name);
        if (!value || s_field_good (field, value))
            continue;
        if (field->type == JSON_STRING)
            snprintf (why, why_size,
                      "header '%s' must be a string of at most %" PRId64
                      " bytes",
                      field->name, field->max);
        else
            snprintf (why, why_size,
                      "header '%s' must be an integer from %" PRId64
                      " to %" PRId64,
                      field->name, field->min, field->max);
        return -1;
    }
    return 0;
}

int64_t
ab_header_int (const json_t *header, const char *name, int64_t otherwise)
{
    const json_t *value = json_object_get (header, name);
    return json_is_integer (value) ? json_integer_value (value) : otherwise;
}

const char *
ab_header_string (const json_t *header, const char *name)
{
    return json_string_value (json_object_get (header, name));
}

uint64_t
ab_header_copy_id (const char *text, size_t size)
{
    if (size == 0 || size >= AB_DECIMAL_SIZE || text[0] == '0')
        return 0;
    uint64_t id = 0;
    for (size_t i = 0; i < size; i++) {
        unsigned digit = (unsigned char)text[i] - '0';
        if (digit > 9 || id > (UINT64_MAX - digit) / 10)
            return 0;
        id = id * 10 + digit;
    }
    return id;
}

uint64_t
ab_header_msg_id (const json_t *header)
{
    const json_t *msg = json_object_get (header, "msg");
    if (json_is_integer (msg) && json_integer_value (msg) > 0)
        return (uint64_t)json_integer_value (msg);
    if (json_is_string (msg))
        return ab_header_copy_id (json_string_value (msg),
                                  json_string_length (msg));
    return 0;
}

/* Done by table, not snprintf: it runs once for every message received. */
void
ab_header_session_key (zmq_msg_t *routing_id, char *key, size_t key_size)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *bytes = zmq_msg_data (routing_id);
    size_t size = zmq_msg_size (routing_id);
    size_t i = 0;
    for (; i < size && 2 * i + 2 < key_size; i++) {
        key[2 * i] = digits[bytes[i] >> 4];
        key[2 * i + 1] = digits[bytes[i] & 0xf];
    }
    key[2 * i] = '\0';
}
