/*  =========================================================================
    ab_jsonscan - JSON checked, or loaded into jansson values, in one pass

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    jansson's loader reads a byte at a time through a stream and copies
    every token into a growing buffer before it makes a value: on a
    256-byte payload that is about 50,000 instructions, most of what the
    broker spent on a message. This module reads the text in place:
    ab_jsonscan_check only says whether it is JSON, with no allocation
    (enough when the schema of a PUB accepts every value and no filter
    reads the tree: protocol §3, `malformed`), and ab_jsonscan_load makes
    the same jansson values json_loadb would, in the same single pass.

    It accepts exactly what json_loadb (JSON_DECODE_ANY, no other flag)
    accepts, so a payload means the same under any schema, with one
    exception where jansson is lax: it skips a NUL byte right after a
    number ("[1\0]" loads), and the scanner rejects every NUL byte (the
    broker rejects them before jansson sees a payload, too). RFC 8259 text
    in UTF-8 (no overlong forms, surrogates or code points over U+10FFFF);
    no control characters in strings; no `\u0000`; `\u` surrogates only in
    high+low pairs; integers within int64; reals whose magnitude does not
    overflow a double; at most 2048 nested arrays and objects; nothing but
    whitespace after the value. tests/check_jsonscan.c holds it to
    jansson's verdict on every document of the JSON Schema Test Suite and
    on many thousands of mutations of them.
*/

#ifndef AB_JSONSCAN_H_INCLUDED
#define AB_JSONSCAN_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    bool frame_key;  /* some object has a key that is, or may be once
                        escapes are decoded, "frame": a tensor reference
                        (protocol §8) may be in the text */
    size_t offset;   /* on failure: the byte where the text went wrong */
    const char *why; /* on failure: a static reason */
} ab_jsonscan_t;

/* Checks that `size` bytes at `text` are one JSON document. Returns 0,
   or AB_EINVAL with result->offset and result->why set. */
int ab_jsonscan_check (const char *text, size_t size, ab_jsonscan_t *result);

/* Loads the document: the value json_loadb (JSON_DECODE_ANY) would
   return for the same text, built in the same pass that checks it (the
   caller's), or NULL with result->offset and result->why set ("out of
   memory" when that was why). */
json_t *ab_jsonscan_load (const char *text, size_t size, ab_jsonscan_t *result);

#endif
