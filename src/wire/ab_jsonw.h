/*  =========================================================================
    ab_jsonw - a JSON header written straight as text

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    A header written straight as JSON text into a buffer that is kept from
    one message to the next: the hot answers (OK, DELIVER, REPLY) skip
    building a json_t and dumping it, and libagentbus writes every header
    it sends. Keys (the caller's literals) and string values are escaped
    as RFC 8259 requires; a string that is not UTF-8 is refused, so the
    text is always JSON. A failure (out of memory, or such a string) is
    remembered: later writes do nothing, ab_jsonw_text returns NULL and
    ab_jsonw_error says why. Nothing here asserts on an allocation.
*/

#ifndef AB_JSONW_H_INCLUDED
#define AB_JSONW_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct _ab_jsonw_t ab_jsonw_t;

ab_jsonw_t *ab_jsonw_new (void);
void ab_jsonw_destroy (ab_jsonw_t **self_p);

/* Starts a new object, forgetting the previous text. */
void ab_jsonw_reset (ab_jsonw_t *self);

/* Adds "key": value; `value` of ab_jsonw_string is NUL-terminated UTF-8.
   ab_jsonw_value writes strings, integers, booleans and null itself and
   leaves other values to jansson. */
void ab_jsonw_string (ab_jsonw_t *self, const char *key, const char *value);
void ab_jsonw_int (ab_jsonw_t *self, const char *key, long long value);
void ab_jsonw_bool (ab_jsonw_t *self, const char *key, bool value);
void ab_jsonw_value (ab_jsonw_t *self, const char *key, const json_t *value);

/* Closes the object; returns its text (NUL-terminated, valid until the
   next reset) with its length in *size_p, or NULL when a write failed. */
const char *ab_jsonw_text (ab_jsonw_t *self, size_t *size_p);

/* Why the writer failed since the last reset: 0 (it did not), AB_ENOMEM
   (out of memory) or AB_EINVAL (a string value was not UTF-8). */
int ab_jsonw_error (const ab_jsonw_t *self);

#endif
