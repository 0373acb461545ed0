/*  =========================================================================
    ab_jsonscan - JSON checked, or loaded into jansson values, in one pass

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    One pass, no recursion: the open arrays and objects are a stack, as
    deep as jansson allows (JSON_PARSER_MAX_DEPTH, 2048). After each value
    the scanner knows from the top of the stack what may follow. When it
    builds, each level also holds its container and the key waiting for
    its value (as a span of the text: decoded only when the value is
    done), and a finished value is put into the container below it.

    Numbers are checked for range only when they could be out of it (19
    or more integer digits, or an exponent), so the common case never
    calls strtoll or strtod; a short integer's value is summed as it is
    read. Reals go through strtod as jansson's do, with '.' changed to
    the locale's decimal point first.
*/

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "wire/ab_jsonscan.h"

/* jansson's JSON_PARSER_MAX_DEPTH */
#define S_MAX_DEPTH 2048

/* Levels kept on the C stack; deeper ones move to the heap */
#define S_STACK_LEVELS 32

/* One open array or object. */
typedef struct {
    char open;                /* '[' or '{' */
    json_t *container;        /* building: the array or object */
    const unsigned char *key; /* building an object: the pending key, as
                                 written between its quotes */
    size_t key_size;          /* its bytes */
    bool key_escaped;         /* it has escapes to decode */
} s_level_t;

typedef struct {
    const unsigned char *start;      /* the text */
    const unsigned char *p;          /* the next byte */
    const unsigned char *end;        /* just past the text */
    ab_jsonscan_t *result;           /* what is reported */
    bool build;                      /* make jansson values */
    s_level_t *levels;               /* open containers, innermost last */
    size_t depth;                    /* levels open */
    size_t capacity;                 /* levels allocated */
    s_level_t small[S_STACK_LEVELS]; /* the first levels */
} s_scan_t;

static int
s_fail (s_scan_t *scan, const unsigned char *at, const char *why)
{
    scan->result->offset = (size_t)(at - scan->start);
    scan->result->why = why;
    return AB_EINVAL;
}

static int
s_no_memory (s_scan_t *scan)
{
    scan->result->offset = (size_t)(scan->p - scan->start);
    scan->result->why = "out of memory";
    return AB_ENOMEM;
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

/* Four hex digits at p (the caller made sure they are there), or -1. */
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

/* Bytes of 0x01 and of 0x80 in every lane of a word. */
#define S_ONES UINT64_C (0x0101010101010101)
#define S_HIGHS UINT64_C (0x8080808080808080)

/* The end of the run of plain string bytes (printable ASCII other than
   '"' and '\\') that starts at `p`, found eight bytes at a time: a lane
   is flagged when it is '"', '\\', below 0x20 or 0x80 and above (the
   zero-byte test of "Bit Twiddling Hacks"; a flag can only be false in
   a lane above a true one, so the first lane is read bytewise after). */
static const unsigned char *
s_plain_run (const unsigned char *p, const unsigned char *end)
{
    while (end - p >= 8) {
        uint64_t x;
        memcpy (&x, p, sizeof x);
        uint64_t quote = x ^ (S_ONES * '"'), slash = x ^ (S_ONES * '\\');
        uint64_t flags = ((quote - S_ONES) & ~quote) |
                         ((slash - S_ONES) & ~slash) |
                         ((x - S_ONES * 0x20) & ~x) | x;
        if (flags & S_HIGHS)
            break;
        p += 8;
    }
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
        p++;
    return p;
}

/* A string at scan->p (pointing at the opening quote). On success
   *from_p and *size_p span its bytes between the quotes and *escaped_p
   says whether they hold escapes. */
static int
s_string (s_scan_t *scan, const unsigned char **from_p, size_t *size_p,
          bool *escaped_p)
{
    const unsigned char *open = scan->p++;
    bool escaped = false;
    while (scan->p < scan->end) {
        scan->p = s_plain_run (scan->p, scan->end);
        if (scan->p == scan->end)
            break;
        unsigned char c = *scan->p;
        if (c == '"') {
            *from_p = open + 1;
            *size_p = (size_t)(scan->p - open - 1);
            *escaped_p = escaped;
            scan->p++;
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

/* Decodes the escapes of a checked string's bytes into `out` (room for
   `size` bytes: decoding never grows a string); returns the length. */
static size_t
s_unescape (const unsigned char *from, size_t size, char *out)
{
    const unsigned char *end = from + size;
    char *o = out;
    while (from < end) {
        if (*from != '\\') {
            *o++ = (char)*from++;
            continue;
        }
        unsigned char e = from[1];
        if (e != 'u') {
            static const char plain[] = "\"\\/bfnrt",
                              coded[] = "\"\\/\b\f\n\r\t";
            *o++ = coded[strchr (plain, e) - plain];
            from += 2;
            continue;
        }
        uint32_t cp = (uint32_t)s_hex4 (from + 2);
        from += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) { /* checked: a low one follows */
            cp = 0x10000 + ((cp - 0xD800) << 10) +
                 ((uint32_t)s_hex4 (from + 2) - 0xDC00);
            from += 6;
        }
        if (cp < 0x80)
            *o++ = (char)cp;
        else if (cp < 0x800) {
            *o++ = (char)(0xC0 | (cp >> 6));
            *o++ = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            *o++ = (char)(0xE0 | (cp >> 12));
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
            *o++ = (char)(0x80 | (cp & 0x3F));
        } else {
            *o++ = (char)(0xF0 | (cp >> 18));
            *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
            *o++ = (char)(0x80 | (cp & 0x3F));
        }
    }
    return (size_t)(o - out);
}

/* Calls `use` with the string's decoded bytes; a short one is decoded on
   the stack. Returns use's answer, or -1 when out of memory. */
typedef int (s_use_fn) (void *arg, const char *text, size_t size);

static int
s_with_text (const unsigned char *from, size_t size, bool escaped,
             s_use_fn *use, void *arg)
{
    if (!escaped)
        return use (arg, (const char *)from, size);
    /* zeroed: gcc cannot see that s_unescape fills what `use` reads */
    char small[256] = "";
    char *buffer = size <= sizeof small ? small : calloc (1, size);
    if (!buffer)
        return -1;
    size_t length = s_unescape (from, size, buffer);
    int rc = use (arg, buffer, length);
    if (buffer != small)
        free (buffer);
    return rc;
}

static int
s_make_string (void *arg, const char *text, size_t size)
{
    *(json_t **)arg = json_stringn_nocheck (text, size);
    return *(json_t **)arg ? 0 : -1;
}

/* Putting a value into an object: the key and the value. */
typedef struct {
    json_t *object; /* where */
    json_t *value;  /* what (taken) */
} s_member_t;

/* 0, or 1 when jansson failed (it has freed the value then). */
static int
s_set_member (void *arg, const char *key, size_t size)
{
    s_member_t *member = arg;
    return json_object_setn_new_nocheck (member->object, key, size,
                                         member->value)
               ? 1
               : 0;
}

/* The number text [from, to) as a C string in `small` or on the heap
   (the caller frees it when it is not `small`), with '.' as the
   locale's decimal point, as strtod wants it. */
static char *
s_number_text (const unsigned char *from, const unsigned char *to, char *small,
               size_t small_size)
{
    size_t length = (size_t)(to - from);
    char *text = length < small_size ? small : malloc (length + 1);
    if (!text)
        return NULL;
    memcpy (text, from, length);
    text[length] = '\0';
    const char *point = localeconv ()->decimal_point;
    if (point && point[0] && point[0] != '.' && !point[1]) {
        char *dot = strchr (text, '.');
        if (dot)
            *dot = point[0];
    }
    return text;
}

static bool
s_digit (const s_scan_t *scan)
{
    return scan->p < scan->end && *scan->p >= '0' && *scan->p <= '9';
}

/* A number at scan->p: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
   With `value_p` its jansson value is made too. */
static int
s_number (s_scan_t *scan, json_t **value_p)
{
    const unsigned char *from = scan->p;
    bool negative = *scan->p == '-';
    if (negative)
        scan->p++;
    if (!s_digit (scan))
        return s_fail (scan, from, "invalid number");
    const unsigned char *digits = scan->p;
    uint64_t sum = 0;
    if (*scan->p == '0') {
        scan->p++;
        if (s_digit (scan))
            return s_fail (scan, from, "invalid number (leading zero)");
    } else
        while (s_digit (scan))
            sum = sum * 10 + (uint64_t)(*scan->p++ - '0');
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
    /* below these bounds neither strtoll nor strtod can overflow, and a
       short integer is already summed */
    bool convert = real ? exponent || integer_digits > 300 || value_p
                        : integer_digits >= 19;
    if (!convert) {
        if (value_p && !(*value_p = json_integer (negative ? -(json_int_t)sum
                                                           : (json_int_t)sum)))
            return s_no_memory (scan);
        return 0;
    }
    char small[64];
    char *text = s_number_text (from, scan->p, small, sizeof small);
    if (!text)
        return s_no_memory (scan);
    errno = 0;
    json_int_t integer = 0;
    double number = 0;
    bool out;
    if (real) {
        number = strtod (text, NULL);
        out = errno == ERANGE && (number == HUGE_VAL || number == -HUGE_VAL);
    } else {
        integer = strtoll (text, NULL, 10);
        out = errno == ERANGE;
    }
    if (text != small)
        free (text);
    if (out)
        return s_fail (scan, from,
                       real ? "real number overflow" : "too big integer");
    if (value_p &&
        !(*value_p = real ? json_real (number) : json_integer (integer)))
        return s_no_memory (scan);
    return 0;
}

/* A literal: true, false or null. */
static int
s_literal (s_scan_t *scan, json_t **value_p)
{
    static const char *const words[] = {"true", "false", "null"};
    for (size_t i = 0; i < 3; i++) {
        size_t length = strlen (words[i]);
        if ((size_t)(scan->end - scan->p) >= length &&
            memcmp (scan->p, words[i], length) == 0) {
            scan->p += length;
            if (value_p)
                *value_p = i == 0   ? json_true ()
                           : i == 1 ? json_false ()
                                    : json_null ();
            return 0;
        }
    }
    return s_fail (scan, scan->p, "invalid token");
}

/* A key at scan->p, then its colon: kept in `level` until its value is
   done. */
static int
s_key (s_scan_t *scan, s_level_t *level)
{
    if (scan->p == scan->end || *scan->p != '"')
        return s_fail (scan, scan->p, "string expected");
    int rc =
        s_string (scan, &level->key, &level->key_size, &level->key_escaped);
    if (rc)
        return rc;
    if (level->key_escaped ||
        (level->key_size == 5 && memcmp (level->key, "frame", 5) == 0))
        scan->result->frame_key = true;
    s_skip_space (scan);
    if (scan->p == scan->end || *scan->p != ':')
        return s_fail (scan, scan->p, "':' expected");
    scan->p++;
    return 0;
}

/* Opens a level for '[' or '{'. */
static int
s_push (s_scan_t *scan, size_t depth, char open)
{
    if (depth == S_MAX_DEPTH)
        return s_fail (scan, scan->p, "maximum parsing depth reached");
    if (depth == scan->capacity) {
        size_t capacity = 2 * scan->capacity;
        s_level_t *levels =
            scan->levels == scan->small
                ? malloc (capacity * sizeof *levels)
                : realloc (scan->levels, capacity * sizeof *levels);
        if (!levels)
            return s_no_memory (scan);
        if (scan->levels == scan->small)
            memcpy (levels, scan->small, sizeof scan->small);
        scan->levels = levels;
        scan->capacity = capacity;
    }
    s_level_t *level = &scan->levels[depth];
    *level = (s_level_t){.open = open};
    if (scan->build) {
        level->container = open == '{' ? json_object () : json_array ();
        if (!level->container)
            return s_no_memory (scan);
    }
    return 0;
}

/* Puts a finished value (taken, even on failure) into the innermost
   open container. */
static int
s_attach (s_level_t *level, json_t *value)
{
    if (level->open == '[')
        return json_array_append_new (level->container, value) ? -1 : 0;
    s_member_t member = {level->container, value};
    int rc = s_with_text (level->key, level->key_size, level->key_escaped,
                          s_set_member, &member);
    if (rc < 0)
        json_decref (value); /* no room to decode the key: never set */
    return rc ? -1 : 0;
}

/* A scalar value at scan->p. */
static int
s_scalar (s_scan_t *scan, json_t **value_p)
{
    unsigned char c = *scan->p;
    if (c == '"') {
        const unsigned char *from;
        size_t size;
        bool escaped;
        int rc = s_string (scan, &from, &size, &escaped);
        if (rc || !value_p)
            return rc;
        if (s_with_text (from, size, escaped, s_make_string, value_p))
            return s_no_memory (scan);
        return 0;
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return s_number (scan, value_p);
    return s_literal (scan, value_p);
}

/* The document: one value and nothing after it. */
static int
s_document (s_scan_t *scan, json_t **root_p)
{
    int rc;
    /* Each round reads one value; the loop after it closes what ends
       there and reads what may follow (a comma, a key and its colon). */
    while (true) {
        s_skip_space (scan);
        if (scan->p == scan->end)
            return s_fail (scan, scan->p, "unexpected end of text");
        json_t *value = NULL;
        unsigned char c = *scan->p;
        if (c == '{' || c == '[') {
            if ((rc = s_push (scan, scan->depth, (char)c)))
                return rc;
            scan->depth++;
            scan->p++;
            s_skip_space (scan);
            if (scan->p < scan->end && *scan->p == (c == '{' ? '}' : ']')) {
                scan->p++; /* empty: a whole value, closed below */
            } else if (c == '{') {
                if (scan->p == scan->end || *scan->p != '"')
                    return s_fail (scan, scan->p, "string or '}' expected");
                if ((rc = s_key (scan, &scan->levels[scan->depth - 1])))
                    return rc;
                continue; /* the member's value */
            } else
                continue; /* the first element */
            value = scan->levels[--scan->depth].container;
            scan->levels[scan->depth].container = NULL;
        } else if ((rc = s_scalar (scan, scan->build ? &value : NULL)))
            return rc;
        /* a value is complete: put it in place, close what ends here */
        while (true) {
            if (scan->depth == 0) {
                s_skip_space (scan);
                if (scan->p != scan->end) {
                    json_decref (value);
                    return s_fail (scan, scan->p, "end of text expected");
                }
                *root_p = value;
                return 0;
            }
            s_level_t *level = &scan->levels[scan->depth - 1];
            if (scan->build && s_attach (level, value))
                return s_no_memory (scan);
            s_skip_space (scan);
            if (scan->p == scan->end)
                return s_fail (scan, scan->p, "unexpected end of text");
            if (*scan->p == (level->open == '{' ? '}' : ']')) {
                scan->p++;
                value = level->container;
                level->container = NULL;
                scan->depth--;
                continue;
            }
            if (*scan->p != ',')
                return s_fail (scan, scan->p,
                               level->open == '{' ? "',' or '}' expected"
                                                  : "',' or ']' expected");
            scan->p++;
            if (level->open == '{') {
                s_skip_space (scan);
                if ((rc = s_key (scan, level)))
                    return rc;
            }
            break; /* the next value */
        }
    }
}

/* What s_run makes of the text. */
typedef enum {
    S_CHECK = 0, /* only whether it is JSON: nothing allocated */
    S_BUILD,     /* the jansson values too */
} s_mode_t;

/* Runs s_document; on failure frees what was built. */
static int
s_run (const char *text, size_t size, ab_jsonscan_t *result, s_mode_t mode,
       json_t **root_p)
{
    ab_jsonscan_t ignored;
    result = result ? result : &ignored;
    *result = (ab_jsonscan_t){0};
    s_scan_t scan;
    scan.start = scan.p = (const unsigned char *)text;
    scan.end = scan.start + (text ? size : 0);
    scan.result = result;
    scan.build = mode == S_BUILD;
    scan.levels = scan.small;
    scan.depth = 0;
    scan.capacity = S_STACK_LEVELS;
    json_t *root = NULL;
    int rc =
        text ? s_document (&scan, &root) : s_fail (&scan, scan.p, "no text");
    if (rc) /* the open containers hold everything built */
        for (size_t i = 0; i < scan.depth; i++)
            json_decref (scan.levels[i].container);
    if (scan.levels != scan.small)
        free (scan.levels);
    if (root_p)
        *root_p = rc ? NULL : root;
    else
        json_decref (root);
    return rc;
}

int
ab_jsonscan_check (const char *text, size_t size, ab_jsonscan_t *result)
{
    return s_run (text, size, result, S_CHECK, NULL);
}

json_t *
ab_jsonscan_load (const char *text, size_t size, ab_jsonscan_t *result)
{
    json_t *root = NULL;
    s_run (text, size, result, S_BUILD, &root);
    return root;
}
