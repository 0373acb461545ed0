/*  =========================================================================
    ab_jsonw - a JSON header written straight as text

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "common/ab_decimal.h"
#include "wire/ab_jsonw.h"

/* The writer is a growing buffer; a failure makes every later write a
   no-op, so callers check once, at ab_jsonw_text. */

struct _ab_jsonw_t {
    char *data;      /* the text so far, NUL-terminated; owned */
    size_t size;     /* bytes of text (without the NUL) */
    size_t capacity; /* bytes allocated for data */
    int error;       /* 0, or why a write failed (AB_ENOMEM: out of
                        memory; AB_EINVAL: a string not UTF-8): the text
                        is void until the next reset */
};

ab_jsonw_t *
ab_jsonw_new (void)
{
    ab_jsonw_t *self = calloc (1, sizeof *self);
    if (self)
        ab_jsonw_reset (self);
    return self;
}

void
ab_jsonw_destroy (ab_jsonw_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->data);
        free (*self_p);
        *self_p = NULL;
    }
}

/* Makes room for `more` bytes and the NUL. */
static bool
s_jsonw_room (ab_jsonw_t *self, size_t more)
{
    if (self->error)
        return false;
    if (self->size + more + 1 <= self->capacity)
        return true;
    size_t capacity = self->capacity ? self->capacity : 256;
    while (capacity < self->size + more + 1)
        capacity *= 2;
    char *data = realloc (self->data, capacity);
    if (!data) {
        self->error = AB_ENOMEM;
        return false;
    }
    self->data = data;
    self->capacity = capacity;
    return true;
}

static void
s_jsonw_put (ab_jsonw_t *self, const char *text, size_t length)
{
    if (!s_jsonw_room (self, length))
        return;
    memcpy (self->data + self->size, text, length);
    self->size += length;
    self->data[self->size] = '\0';
}

void
ab_jsonw_reset (ab_jsonw_t *self)
{
    self->size = 0;
    self->error = 0;
    s_jsonw_put (self, "{", 1);
}

/* The length of the UTF-8 sequence at `text` (`left` bytes remain), whose
   first byte is 0x80 or more; 0 when it is not UTF-8 as RFC 3629 defines
   it (no overlong forms, surrogates or code points over U+10FFFF), which
   is what jansson accepts in a string. */
static size_t
s_utf8_length (const unsigned char *text, size_t left)
{
    unsigned char c = text[0];
    size_t length = c >= 0xc2 && c <= 0xdf   ? 2
                    : c >= 0xe0 && c <= 0xef ? 3
                    : c >= 0xf0 && c <= 0xf4 ? 4
                                             : 0;
    if (length == 0 || length > left)
        return 0;
    for (size_t i = 1; i < length; i++)
        if ((text[i] & 0xc0) != 0x80)
            return 0;
    /* the second byte's range rules out overlong forms, surrogates and
       code points past U+10FFFF */
    unsigned char second = text[1];
    if ((c == 0xe0 && second < 0xa0) || (c == 0xed && second > 0x9f) ||
        (c == 0xf0 && second < 0x90) || (c == 0xf4 && second > 0x8f))
        return 0;
    return length;
}

/* Writes `"text"` with the escapes RFC 8259 requires: quote, backslash
   and the control characters. Other bytes go through as they are, as
   json_dumps writes them, once checked to be UTF-8: text that is not
   fails the writer (AB_EINVAL), so it never writes what is not JSON. */
static void
s_jsonw_quoted (ab_jsonw_t *self, const char *text, size_t length)
{
    static const char digits[] = "0123456789abcdef";
    /* at worst every byte becomes \u00XX */
    if (!s_jsonw_room (self, 6 * length + 2))
        return;
    char *out = self->data + self->size;
    *out++ = '"';
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\') {
            *out++ = '\\';
            *out++ = (char)c;
        } else if (c < 0x20) {
            memcpy (out, "\\u00", 4);
            out[4] = digits[c >> 4];
            out[5] = digits[c & 0xf];
            out += 6;
        } else if (c < 0x80)
            *out++ = (char)c;
        else {
            size_t sequence =
                s_utf8_length ((const unsigned char *)text + i, length - i);
            if (sequence == 0) {
                self->error = AB_EINVAL;
                return;
            }
            memcpy (out, text + i, sequence);
            out += sequence;
            i += sequence - 1;
        }
    }
    *out++ = '"';
    *out = '\0';
    self->size = (size_t)(out - self->data);
}

/* Writes `,"key":` (no comma for the first member). */
static void
s_jsonw_key (ab_jsonw_t *self, const char *key)
{
    if (self->size > 1)
        s_jsonw_put (self, ",", 1);
    s_jsonw_quoted (self, key, strlen (key));
    s_jsonw_put (self, ":", 1);
}

void
ab_jsonw_string (ab_jsonw_t *self, const char *key, const char *value)
{
    s_jsonw_key (self, key);
    s_jsonw_quoted (self, value, strlen (value));
}

void
ab_jsonw_int (ab_jsonw_t *self, const char *key, long long value)
{
    char text[AB_DECIMAL_SIZE];
    size_t length = ab_decimal_i64 (text, (int64_t)value);
    s_jsonw_key (self, key);
    s_jsonw_put (self, text, length);
}

void
ab_jsonw_bool (ab_jsonw_t *self, const char *key, bool value)
{
    s_jsonw_key (self, key);
    s_jsonw_put (self, value ? "true" : "false", value ? 4 : 5);
}

void
ab_jsonw_value (ab_jsonw_t *self, const char *key, const json_t *value)
{
    if (json_is_string (value)) {
        s_jsonw_key (self, key);
        s_jsonw_quoted (self, json_string_value (value),
                        json_string_length (value));
    } else if (json_is_integer (value))
        ab_jsonw_int (self, key, (long long)json_integer_value (value));
    else if (json_is_boolean (value))
        ab_jsonw_bool (self, key, json_is_true (value));
    else {
        char *text = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text) {
            self->error = AB_ENOMEM;
            return;
        }
        s_jsonw_key (self, key);
        s_jsonw_put (self, text, strlen (text));
        free (text);
    }
}

const char *
ab_jsonw_text (ab_jsonw_t *self, size_t *size_p)
{
    s_jsonw_put (self, "}", 1);
    if (self->error)
        return NULL;
    *size_p = self->size;
    return self->data;
}

int
ab_jsonw_error (const ab_jsonw_t *self)
{
    return self->error;
}
