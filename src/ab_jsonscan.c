/*  =========================================================================
    ab_jsonscan - is this text one JSON document? Without building it.

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    One pass, no recursion: the open arrays and objects are a stack of
    bytes ('[' or '{'), as deep as jansson allows (JSON_PARSER_MAX_DEPTH,
    2048). After each value the scanner knows from the top of the stack
    what may follow. Numbers are checked for range only when they could
    be out of it (19 or more integer digits, or an exponent), so the
    common case never calls strtoll or strtod.
*/

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "ab_jsonscan.h"

/* jansson's JSON_PARSER_MAX_DEPTH */
#define S_MAX_DEPTH 2048

typedef struct {
    const unsigned char *start; /* the text */
    const unsigned char *p;     /* the next byte */
    const unsigned char *end;   /* just past the text */
    ab_jsonscan_t *result;      /* what is reported */
} s_scan_t;

static int
s_fail (s_scan_t *scan, const unsigned char *at, const char *why)
{
    scan->result->offset = (size_t)(at - scan->start);
    scan->result->why = why;
    return AB_EINVAL;
}

static void
s_skip_space (s_scan_t *scan)
{
    while (scan->p < scan->end && (*scan->p == ' ' || *scan->p == '\n' ||
                                   *scan->p == '\r' || *scan->p == '\t'))
        scan->p++;
}

/* One UTF-8 sequence of 2 to 4 bytes at scan->p (its first byte is
   >= 0x80), as jansson's utf8_check_full judges it. */
static int
s_utf8 (s_scan_t *scan)
{
    const unsigned char *p = scan->p;
    unsigned char c = *p;
    size_t size;
    uint32_t value;
    if (c >= 0xC2 && c <= 0xDF) {
        size = 2;
        value = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        size = 3;
        value = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        size = 4;
        value = c & 0x07;
    } else
        return s_fail (scan, p, "invalid UTF-8 byte");
    if ((size_t)(scan->end - p) < size)
        return s_fail (scan, p, "truncated UTF-8 sequence");
    for (size_t i = 1; i < size; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return s_fail (scan, p, "invalid UTF-8 sequence");
        value = (value << 6) | (p[i] & 0x3F);
    }
    if ((size == 3 && value < 0x800) || (size == 4 && value < 0x10000) ||
        value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF))
        return s_fail (scan, p, "invalid UTF-8 sequence");
    scan->p += size;
    return 0;
}

/* Four hex digits at p (the caller made sure they are there). */
static int32_t
s_hex4 (const unsigned char *p)
{
    int32_t value = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        int digit = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
        if (digit < 0)
            return -1;
        value = value * 16 + digit;
    }
    return value;
}

/* A `\u` escape at scan->p (pointing at the backslash): four hex digits,
   a surrogate only as a high+low pair, never U+0000. */
static int
s_unicode_escape (s_scan_t *scan)
{
    const unsigned char *at = scan->p;
    if (scan->end - at < 6 || s_hex4 (at + 2) < 0)
        return s_fail (scan, at, "invalid \\u escape");
    int32_t value = s_hex4 (at + 2);
    scan->p += 6;
    if (value == 0)
        return s_fail (scan, at, "\\u0000 is not allowed");
    if (value >= 0xDC00 && value <= 0xDFFF)
        return s_fail (scan, at, "invalid Unicode (lone low surrogate)");
    if (value >= 0xD800 && value <= 0xDBFF) {
        const unsigned char *low = scan->p;
        if (scan->end - low < 6 || low[0] != '\\' || low[1] != 'u')
            return s_fail (scan, at, "invalid Unicode (lone high surrogate)");
        int32_t second = s_hex4 (low + 2);
        if (second < 0)
            return s_fail (scan, low, "invalid \\u escape");
        if (second < 0xDC00 || second > 0xDFFF)
            return s_fail (scan, at, "invalid Unicode (bad surrogate pair)");
        scan->p += 6;
    }
    return 0;
}

/* A string at scan->p (pointing at the opening quote). `key`: an object
   key, compared with "frame". */
static int
s_string (s_scan_t *scan, bool key)
{
    const unsigned char *open = scan->p++;
    bool escaped = false;
    while (scan->p < scan->end) {
        unsigned char c = *scan->p;
        if (c == '"') {
            scan->p++;
            if (key &&
                (escaped || (scan->p - open == 7 && memcmp (open + 1, "frame",
                                                            5) == 0)))
                scan->result->frame_key = true;
            return 0;
        }
        if (c < 0x20)
            return s_fail (scan, scan->p, "control character in a string");
        if (c == '\\') {
            escaped = true;
            if (scan->end - scan->p < 2)
                return s_fail (scan, scan->p, "unterminated string");
            unsigned char e = scan->p[1];
            if (e == 'u') {
                int rc = s_unicode_escape (scan);
                if (rc)
                    return rc;
            } else if (e && strchr ("\"\\/bfnrt", e))
                scan->p += 2;
            else
                return s_fail (scan, scan->p, "invalid escape");
        } else if (c >= 0x80) {
            int rc = s_utf8 (scan);
            if (rc)
                return rc;
        } else
            scan->p++;
    }
    return s_fail (scan, open, "unterminated string");
}

/* Whether the number text [from, to) is out of jansson's range. */
static bool
s_out_of_range (const unsigned char *from, const unsigned char *to,
                bool real)
{
    size_t length = (size_t)(to - from);
    char small[64];
    char *text = length < sizeof small ? small : malloc (length + 1);
    if (!text)
        return true;
    memcpy (text, from, length);
    text[length] = '\0';
    errno = 0;
    bool out;
    if (real) {
        double value = strtod (text, NULL);
        out = errno == ERANGE && (value == HUGE_VAL || value == -HUGE_VAL);
    } else {
        (void)strtoll (text, NULL, 10);
        out = errno == ERANGE;
    }
    if (text != small)
        free (text);
    return out;
}

static bool
s_digit (const s_scan_t *scan)
{
    return scan->p < scan->end && *scan->p >= '0' && *scan->p <= '9';
}

/* A number at scan->p: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int
s_number (s_scan_t *scan)
{
    const unsigned char *from = scan->p;
    if (*scan->p == '-')
        scan->p++;
    if (!s_digit (scan))
        return s_fail (scan, from, "invalid number");
    const unsigned char *digits = scan->p;
    if (*scan->p == '0') {
        scan->p++;
        if (s_digit (scan))
            return s_fail (scan, from, "invalid number (leading zero)");
    } else
        while (s_digit (scan))
            scan->p++;
    size_t integer_digits = (size_t)(scan->p - digits);
    bool real = false, exponent = false;
    if (scan->p < scan->end && *scan->p == '.') {
        real = true;
        scan->p++;
        if (!s_digit (scan))
            return s_fail (scan, from, "invalid number (no digit after .)");
        while (s_digit (scan))
            scan->p++;
    }
    if (scan->p < scan->end && (*scan->p == 'e' || *scan->p == 'E')) {
        real = exponent = true;
        scan->p++;
        if (scan->p < scan->end && (*scan->p == '+' || *scan->p == '-'))
            scan->p++;
        if (!s_digit (scan))
            return s_fail (scan, from, "invalid number (empty exponent)");
        while (s_digit (scan))
            scan->p++;
    }
    /* below these bounds neither strtoll nor strtod can overflow */
    bool check = real ? exponent || integer_digits > 300
                      : integer_digits >= 19;
    if (check && s_out_of_range (from, scan->p, real))
        return s_fail (scan, from,
                       real ? "real number overflow" : "too big integer");
    return 0;
}

/* A literal: true, false or null. */
static int
s_literal (s_scan_t *scan)
{
    static const char *const words[] = {"true", "false", "null"};
    for (size_t i = 0; i < 3; i++) {
        size_t length = strlen (words[i]);
        if ((size_t)(scan->end - scan->p) >= length &&
            memcmp (scan->p, words[i], length) == 0) {
            scan->p += length;
            return 0;
        }
    }
    return s_fail (scan, scan->p, "invalid token");
}

int
ab_jsonscan_check (const char *text, size_t size, ab_jsonscan_t *result)
{
    ab_jsonscan_t ignored;
    result = result ? result : &ignored;
    *result = (ab_jsonscan_t){0};
    s_scan_t scan = {(const unsigned char *)text, (const unsigned char *)text,
                     (const unsigned char *)text + size, result};
    if (!text)
        return s_fail (&scan, scan.p, "no text");
    char stack[S_MAX_DEPTH]; /* '[' or '{' per open container */
    int depth = 0;
    int rc;
    /* Each round reads one value; the loop after it reads what may
       follow (a comma, a colon after a key, or closing brackets). */
    while (true) {
        s_skip_space (&scan);
        if (scan.p == scan.end)
            return s_fail (&scan, scan.p, "unexpected end of text");
        unsigned char c = *scan.p;
        if (c == '{' || c == '[') {
            if (depth == S_MAX_DEPTH)
                return s_fail (&scan, scan.p, "maximum parsing depth reached");
            stack[depth++] = (char)c;
            scan.p++;
            s_skip_space (&scan);
            if (scan.p < scan.end && *scan.p == (c == '{' ? '}' : ']')) {
                scan.p++;
                depth--; /* empty: a whole value */
            } else if (c == '{') {
                if (scan.p == scan.end || *scan.p != '"')
                    return s_fail (&scan, scan.p, "string or '}' expected");
                if ((rc = s_string (&scan, true)))
                    return rc;
                s_skip_space (&scan);
                if (scan.p == scan.end || *scan.p != ':')
                    return s_fail (&scan, scan.p, "':' expected");
                scan.p++;
                continue; /* the member's value */
            } else
                continue; /* the first element */
        } else if (c == '"')
            rc = s_string (&scan, false);
        else if (c == '-' || (c >= '0' && c <= '9'))
            rc = s_number (&scan);
        else
            rc = s_literal (&scan);
        if (rc)
            return rc;
        /* a value is complete: close what ends here, then expect more */
        while (true) {
            s_skip_space (&scan);
            if (depth == 0) {
                if (scan.p != scan.end)
                    return s_fail (&scan, scan.p, "end of text expected");
                return 0;
            }
            if (scan.p == scan.end)
                return s_fail (&scan, scan.p, "unexpected end of text");
            char open = stack[depth - 1];
            if (*scan.p == (open == '{' ? '}' : ']')) {
                scan.p++;
                depth--;
                continue;
            }
            if (*scan.p != ',')
                return s_fail (&scan, scan.p,
                               open == '{' ? "',' or '}' expected"
                                           : "',' or ']' expected");
            scan.p++;
            if (open == '{') {
                s_skip_space (&scan);
                if (scan.p == scan.end || *scan.p != '"')
                    return s_fail (&scan, scan.p, "string expected");
                if ((rc = s_string (&scan, true)))
                    return rc;
                s_skip_space (&scan);
                if (scan.p == scan.end || *scan.p != ':')
                    return s_fail (&scan, scan.p, "':' expected");
                scan.p++;
            }
            break; /* the next value */
        }
    }
}
