/*  =========================================================================
    ab_lmdb_record - the byte layout of the LMDB store's records: big-endian
    integers, length-prefixed strings, and the message, copy and dead-letter
    records built from them

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Internal to src/store: ab_store_lmdb.c (the records' keys and
    sub-databases are described in its design note) reads and writes
    through these. Pure functions over bytes: no LMDB call, no state.
    Readers never read past a value's end; a short or malformed record
    sets `bad` and decodes as AB_EIO.
*/

#ifndef AB_LMDB_RECORD_H_INCLUDED
#define AB_LMDB_RECORD_H_INCLUDED

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/ab_store.h"

#define AB_LMDB_NULL_STRING UINT32_MAX /* length mark of a NULL string */
#define AB_LMDB_STRINGS 5              /* strings in a message record */

/* A cursor over a record. */
typedef struct {
    const uint8_t *at; /* next byte */
    size_t left;       /* bytes left */
    bool bad;          /* read past the end or malformed */
} ab_lmdb_reader_t;

/* bytes, version, flags, seq, expires_ms, frame count, then the rest */
#define AB_LMDB_MESSAGE_FIXED (8 + 4 + 4 + 8 + 8 + 8)

/* The parts of a stored message, pointing into the LMDB page. */
typedef struct {
    ab_message_t message;                 /* fields; strings/frames not set */
    const char *strings[AB_LMDB_STRINGS]; /* in place, NUL-terminated */
    ab_lmdb_reader_t sizes;               /* the frame sizes */
    const uint8_t *frames;                /* the frame bytes */
} ab_lmdb_parsed_t;

/* A copy: message id, edge, attempts, state, next_ms, then its key;
   a dead letter: seq, reason, a pad, at_ms, then the copy. */
#define AB_LMDB_COPY_FIXED (8 + 8 + 4 + 4 + 8)
#define AB_LMDB_DEAD_FIXED (8 + 4 + 4 + 8)

/* A dead letter as stored. */
typedef struct {
    ab_dead_letter_t dead; /* the dead letter; edge_key in the page */
    uint64_t seq;          /* its position in `order` */
} ab_lmdb_dead_t;

/* Reads a copy; its edge_key points into the LMDB page. */
int ab_lmdb_copy_decode (ab_lmdb_reader_t *reader, uint64_t id,
                         ab_copy_t *copy);

/* Writes a copy record at *at_p (AB_LMDB_COPY_FIXED bytes and its
   edge key) and advances it. */
void ab_lmdb_copy_encode (uint8_t **at_p, const ab_copy_t *copy);

/* Reads a dead-letter record (its copy's edge_key points into the
   LMDB page); AB_EIO when damaged. */
int ab_lmdb_dead_decode (const MDB_val *value, uint64_t id,
                         ab_lmdb_dead_t *dead);

/* Reads a big-endian integer of `size` bytes (4 or 8); 0, and
   reader->bad set, past the end. */
uint64_t ab_lmdb_get (ab_lmdb_reader_t *reader, int size);

/* The big-endian key of an id, in `buffer`. */
MDB_val ab_lmdb_key (uint8_t buffer[8], uint64_t id);

/* A new record of a parsed message, in one block as ab_message_dup
   makes it, with one memcpy per frame. */
int ab_lmdb_message_decode (const ab_lmdb_parsed_t *parsed,
                            ab_message_t **message_p);

/* Writes the message into `size` reserved bytes at `at`: the one copy of
   the frames' bytes on the way in. */
void ab_lmdb_message_encode (const ab_message_t *message, uint8_t *at,
                             size_t size);

/* Checks a stored message record and points `parsed` into it (the
   LMDB page); AB_EIO when damaged. */
int ab_lmdb_message_parse (const MDB_val *value, ab_lmdb_parsed_t *parsed);

/* Bytes the record of `message` takes (ab_lmdb_message_encode). */
size_t ab_lmdb_message_size (const ab_message_t *message);

/* Writes `value` big-endian at *at_p and advances it. */
void ab_lmdb_put32 (uint8_t **at_p, uint32_t value);

/* Writes `value` big-endian at *at_p and advances it. */
void ab_lmdb_put64 (uint8_t **at_p, uint64_t value);

/* A string is stored as its length, bytes and a NUL (read in place). */
size_t ab_lmdb_string_size (const char *string);

#endif
