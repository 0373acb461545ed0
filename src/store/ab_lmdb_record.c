/*  =========================================================================
    ab_lmdb_record - the byte layout of the LMDB store's records

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    See ab_lmdb_record.h. A message record: frame bytes, version, flags,
    seq, expires_ms, frame count, the 5 strings, the frame sizes, then the
    frames; the one copy of a frame's bytes on the way in is the memcpy
    into the LMDB page LMDB reserved for it.
*/

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "agentbus.h"
#include "store/ab_lmdb_record.h"

void
ab_lmdb_put64 (uint8_t **at_p, uint64_t value)
{
    for (int i = 7; i >= 0; i--)
        *(*at_p)++ = (uint8_t)(value >> (8 * i));
}

void
ab_lmdb_put32 (uint8_t **at_p, uint32_t value)
{
    for (int i = 3; i >= 0; i--)
        *(*at_p)++ = (uint8_t)(value >> (8 * i));
}

uint64_t
ab_lmdb_get (ab_lmdb_reader_t *reader, int size)
{
    if (reader->left < (size_t)size) {
        reader->bad = true;
        return 0;
    }
    uint64_t value = 0;
    for (int i = 0; i < size; i++)
        value = value << 8 | reader->at[i];
    reader->at += size;
    reader->left -= (size_t)size;
    return value;
}

static const uint8_t *
s_get_bytes (ab_lmdb_reader_t *reader, size_t size)
{
    if (reader->left < size) {
        reader->bad = true;
        return NULL;
    }
    const uint8_t *bytes = reader->at;
    reader->at += size;
    reader->left -= size;
    return bytes;
}

/* A string is stored as its length, bytes and a NUL (read in place). */
size_t
ab_lmdb_string_size (const char *string)
{
    return 4 + (string ? strlen (string) + 1 : 0);
}

static void
s_put_string (uint8_t **at_p, const char *string)
{
    if (!string) {
        ab_lmdb_put32 (at_p, AB_LMDB_NULL_STRING);
        return;
    }
    size_t length = strlen (string);
    ab_lmdb_put32 (at_p, (uint32_t)length);
    memcpy (*at_p, string, length + 1);
    *at_p += length + 1;
}

static const char *
s_get_string (ab_lmdb_reader_t *reader)
{
    uint32_t length = (uint32_t)ab_lmdb_get (reader, 4);
    if (reader->bad || length == AB_LMDB_NULL_STRING)
        return NULL;
    const char *string = (const char *)s_get_bytes (reader, length + 1ul);
    if (string && string[length] != 0)
        reader->bad = true;
    return reader->bad ? NULL : string;
}

MDB_val
ab_lmdb_key (uint8_t buffer[8], uint64_t id)
{
    uint8_t *at = buffer;
    ab_lmdb_put64 (&at, id);
    return (MDB_val){8, buffer};
}

/* ---- messages -------------------------------------------------------- */

static void
s_message_strings (const ab_message_t *message, const char *strings[])
{
    strings[0] = message->type;
    strings[1] = message->from;
    strings[2] = message->producer_id;
    strings[3] = message->traceparent;
    strings[4] = message->header;
}

size_t
ab_lmdb_message_size (const ab_message_t *message)
{
    const char *strings[AB_LMDB_STRINGS];
    s_message_strings (message, strings);
    size_t size = AB_LMDB_MESSAGE_FIXED + 8 * message->frame_count;
    for (int i = 0; i < AB_LMDB_STRINGS; i++)
        size += ab_lmdb_string_size (strings[i]);
    return size + ab_message_bytes (message);
}

/* Writes the message into `size` reserved bytes at `at`: the one copy of
   the frames' bytes on the way in. */
void
ab_lmdb_message_encode (const ab_message_t *message, uint8_t *at, size_t size)
{
    uint8_t *start = at;
    const char *strings[AB_LMDB_STRINGS];
    s_message_strings (message, strings);
    ab_lmdb_put64 (&at, ab_message_bytes (message));
    ab_lmdb_put32 (&at, (uint32_t)message->version);
    ab_lmdb_put32 (&at,
                   (message->has_seq ? 1u : 0u) | (message->request ? 2u : 0u));
    ab_lmdb_put64 (&at, (uint64_t)message->seq);
    ab_lmdb_put64 (&at, (uint64_t)message->expires_ms);
    ab_lmdb_put64 (&at, message->frame_count);
    for (int i = 0; i < AB_LMDB_STRINGS; i++)
        s_put_string (&at, strings[i]);
    for (size_t i = 0; i < message->frame_count; i++)
        ab_lmdb_put64 (&at, zmq_msg_size (&message->frames[i]));
    for (size_t i = 0; i < message->frame_count; i++) {
        size_t length = zmq_msg_size (&message->frames[i]);
        if (length)
            memcpy (at, zmq_msg_data (&message->frames[i]), length);
        at += length;
    }
    assert ((size_t)(at - start) == size);
}

int
ab_lmdb_message_parse (const MDB_val *value, ab_lmdb_parsed_t *parsed)
{
    ab_lmdb_reader_t reader = {value->mv_data, value->mv_size, false};
    uint64_t bytes = ab_lmdb_get (&reader, 8);
    parsed->message.version = (int)(int32_t)ab_lmdb_get (&reader, 4);
    uint32_t flags = (uint32_t)ab_lmdb_get (&reader, 4);
    parsed->message.has_seq = flags & 1;
    parsed->message.request = flags & 2;
    parsed->message.seq = (int64_t)ab_lmdb_get (&reader, 8);
    parsed->message.expires_ms = (int64_t)ab_lmdb_get (&reader, 8);
    uint64_t count = ab_lmdb_get (&reader, 8);
    for (int i = 0; i < AB_LMDB_STRINGS; i++)
        parsed->strings[i] = s_get_string (&reader);
    if (reader.bad || count == 0 || count > reader.left / 8)
        return AB_EIO;
    parsed->message.frame_count = (size_t)count;
    parsed->sizes = (ab_lmdb_reader_t){reader.at, (size_t)count * 8, false};
    s_get_bytes (&reader, (size_t)count * 8);
    uint64_t total = 0;
    ab_lmdb_reader_t sizes = parsed->sizes;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t size = ab_lmdb_get (&sizes, 8);
        if (size > reader.left - total)
            return AB_EIO; /* damaged: frames past the value's end */
        total += size;
    }
    if (total != bytes || total != reader.left || !parsed->strings[0] ||
        !parsed->strings[1] || !parsed->strings[4])
        return AB_EIO;
    parsed->frames = reader.at;
    return 0;
}

/* A new record of a parsed message, in one block as ab_message_dup
   makes it, with one memcpy per frame. */
int
ab_lmdb_message_decode (const ab_lmdb_parsed_t *parsed,
                        ab_message_t **message_p)
{
    size_t count = parsed->message.frame_count;
    size_t size = sizeof (ab_message_t) + count * sizeof (zmq_msg_t);
    for (int i = 0; i < AB_LMDB_STRINGS; i++)
        size += parsed->strings[i] ? strlen (parsed->strings[i]) + 1 : 0;
    ab_message_t *message = malloc (size);
    if (!message)
        return AB_ENOMEM;
    *message = parsed->message;
    message->frames = (zmq_msg_t *)(message + 1);
    char *cursor = (char *)(message->frames + count);
    const char **fields[AB_LMDB_STRINGS] = {
        &message->type, &message->from, &message->producer_id,
        &message->traceparent, &message->header};
    for (int i = 0; i < AB_LMDB_STRINGS; i++) {
        *fields[i] = NULL;
        if (!parsed->strings[i])
            continue;
        size_t length = strlen (parsed->strings[i]) + 1;
        memcpy (cursor, parsed->strings[i], length);
        *fields[i] = cursor;
        cursor += length;
    }
    ab_lmdb_reader_t sizes = parsed->sizes;
    const uint8_t *bytes = parsed->frames;
    for (size_t i = 0; i < count; i++) {
        size_t length = (size_t)ab_lmdb_get (&sizes, 8);
        if (zmq_msg_init_size (&message->frames[i], length) != 0) {
            message->frame_count = i;
            ab_message_destroy (&message);
            return AB_ENOMEM;
        }
        if (length)
            memcpy (zmq_msg_data (&message->frames[i]), bytes, length);
        bytes += length;
    }
    *message_p = message;
    return 0;
}

/* ---- copies and dead letters ---------------------------------------- */

void
ab_lmdb_copy_encode (uint8_t **at_p, const ab_copy_t *copy)
{
    ab_lmdb_put64 (at_p, copy->message_id);
    ab_lmdb_put64 (at_p, copy->edge);
    ab_lmdb_put32 (at_p, (uint32_t)copy->attempts);
    ab_lmdb_put32 (at_p, (uint32_t)copy->state);
    ab_lmdb_put64 (at_p, (uint64_t)copy->next_ms);
    s_put_string (at_p, copy->edge_key);
}

/* Reads a copy; its edge_key points into the LMDB page. */
int
ab_lmdb_copy_decode (ab_lmdb_reader_t *reader, uint64_t id, ab_copy_t *copy)
{
    copy->id = id;
    copy->message_id = ab_lmdb_get (reader, 8);
    copy->edge = (size_t)ab_lmdb_get (reader, 8);
    copy->attempts = (int)(int32_t)ab_lmdb_get (reader, 4);
    copy->state = (ab_copy_state_t)ab_lmdb_get (reader, 4);
    copy->next_ms = (int64_t)ab_lmdb_get (reader, 8);
    copy->edge_key = s_get_string (reader);
    return reader->bad || !copy->edge_key || reader->left ? AB_EIO : 0;
}

int
ab_lmdb_dead_decode (const MDB_val *value, uint64_t id, ab_lmdb_dead_t *dead)
{
    ab_lmdb_reader_t reader = {value->mv_data, value->mv_size, false};
    dead->seq = ab_lmdb_get (&reader, 8);
    dead->dead.reason = (ab_dead_reason_t)ab_lmdb_get (&reader, 4);
    ab_lmdb_get (&reader, 4);
    dead->dead.at_ms = (int64_t)ab_lmdb_get (&reader, 8);
    if (reader.bad)
        return AB_EIO;
    return ab_lmdb_copy_decode (&reader, id, &dead->dead.copy);
}
