/*  =========================================================================
    ab_schema_format - `format` checkers and ECMA-262 regex translation

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Each checker parses its grammar directly (RFC 3339 dates, RFC 1123
    host names, ...) or defers to a system parser (inet_pton, PCRE2, the
    URI checker of ab_uri); none of them keeps state, so they are safe on
    any thread.
*/

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/ab_oom.h"
#include "schema/ab_schema_format.h"
#include "schema/ab_uri.h"

/* ECMA-262 escapes rewritten for PCRE2: outside and inside a class. */
static const struct {
    char escape;         /* the letter after the backslash */
    const char *outside; /* replacement outside [...] */
    const char *inside;  /* replacement inside [...] */
} s_escapes[] = {
    {'d', "[0-9]", "0-9"},
    {'D', "[^0-9]", "\\x{0}-/:-\\x{10FFFF}"},
    {'w', "[A-Za-z0-9_]", "A-Za-z0-9_"},
    {'W', "[^A-Za-z0-9_]", "\\x{0}-/:-@\\[-^`{-\\x{10FFFF}"},
    {'s', "[\\s\\x{FEFF}]", "\\s\\x{FEFF}"},
    {'S', "[^\\s\\x{FEFF}]", "\\S"},
};

/* Unicode general categories by their long names (ECMA-262 accepts
   both), which PCRE2 10.42 knows only by the short ones. */
static const struct {
    const char *name; /* long name, as in \p{Letter} */
    const char *abbr; /* PCRE2's name */
} s_categories[] = {
    {"Letter", "L"},
    {"Lowercase_Letter", "Ll"},
    {"Uppercase_Letter", "Lu"},
    {"Titlecase_Letter", "Lt"},
    {"Modifier_Letter", "Lm"},
    {"Other_Letter", "Lo"},
    {"Mark", "M"},
    {"Number", "N"},
    {"Decimal_Number", "Nd"},
    {"Letter_Number", "Nl"},
    {"Other_Number", "No"},
    {"Punctuation", "P"},
    {"Symbol", "S"},
    {"Separator", "Z"},
    {"Space_Separator", "Zs"},
    {"Other", "C"},
    {"Control", "Cc"},
    {"digit", "Nd"},
};

/* Rewrites \p{Long_Name} at pattern[i] ('p' or 'P'); returns the input
   bytes consumed, 0 when it is not a long category name. */
static size_t
s_translate_category (const char *pattern, size_t i, char *out, size_t *o)
{
    if (pattern[i + 1] != '{')
        return 0;
    const char *name = pattern + i + 2;
    size_t length = strcspn (name, "}");
    if (name[length] != '}')
        return 0;
    if (length > 3 && strncmp (name, "gc=", 3) == 0) {
        name += 3;
        length -= 3;
    }
    for (size_t k = 0; k < sizeof s_categories / sizeof s_categories[0]; k++)
        if (strlen (s_categories[k].name) == length &&
            strncmp (s_categories[k].name, name, length) == 0) {
            *o += (size_t)sprintf (out + *o, "\\%c{%s}", pattern[i],
                                   s_categories[k].abbr);
            return (size_t)(name + length + 1 - (pattern + i));
        }
    return 0;
}

/* Appends the PCRE2 form of one escape at pattern[i] (the letter after
   '\'); returns the number of input bytes consumed. */
static size_t
s_translate_escape (const char *pattern, size_t i, bool in_class, char *out,
                    size_t *o)
{
    char c = pattern[i];
    size_t used =
        c == 'p' || c == 'P' ? s_translate_category (pattern, i, out, o) : 0;
    if (used)
        return used;
    for (size_t k = 0; k < sizeof s_escapes / sizeof s_escapes[0]; k++)
        if (s_escapes[k].escape == c) {
            const char *r =
                in_class ? s_escapes[k].inside : s_escapes[k].outside;
            *o += (size_t)sprintf (out + *o, "%s", r);
            return 1;
        }
    if (c == 'u' && isxdigit ((unsigned char)pattern[i + 1]) &&
        isxdigit ((unsigned char)pattern[i + 2]) &&
        isxdigit ((unsigned char)pattern[i + 3]) &&
        isxdigit ((unsigned char)pattern[i + 4])) {
        *o += (size_t)sprintf (out + *o, "\\x{%.4s}", pattern + i + 1);
        return 5;
    }
    out[(*o)++] = '\\';
    if (c)
        out[(*o)++] = c;
    return c ? 1 : 0;
}

pcre2_code *
ab_regex_compile (const char *pattern, char *error, size_t size)
{
    size_t length = strlen (pattern);
    /* the longest replacement is 28 bytes for a 2-byte escape */
    char *out = malloc (length * 16 + 1);
    if (!out) {
        snprintf (error, size, "out of memory");
        return NULL;
    }
    size_t o = 0;
    bool in_class = false;
    for (size_t i = 0; i < length;) {
        char c = pattern[i++];
        if (c == '\\')
            i += s_translate_escape (pattern, i, in_class, out, &o);
        else {
            if (c == '[' && !in_class)
                in_class = true;
            else if (c == ']' && in_class)
                in_class = false;
            out[o++] = c;
        }
    }
    out[o] = '\0';
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re = pcre2_compile (
        (PCRE2_SPTR)out, o,
        PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY | PCRE2_ALLOW_EMPTY_CLASS,
        &code, &offset, NULL);
    free (out);
    if (!re) {
        PCRE2_UCHAR message[120];
        pcre2_get_error_message (code, message, sizeof message);
        snprintf (error, size, "%s at offset %zu", (char *)message,
                  (size_t)offset);
        return NULL;
    }
    pcre2_jit_compile (re, PCRE2_JIT_COMPLETE);
    return re;
}

/* Reads exactly `count` decimal digits at text[*i]. */
static bool
s_digits (const char *text, size_t length, size_t *i, int count, int *value)
{
    *value = 0;
    for (int k = 0; k < count; k++, (*i)++) {
        if (*i >= length || !isdigit ((unsigned char)text[*i]))
            return false;
        *value = *value * 10 + (text[*i] - '0');
    }
    return true;
}

static bool
s_leap_year (int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/* full-date (RFC 3339 §5.6) at text[*i]. */
static bool
s_full_date (const char *text, size_t length, size_t *i)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int year, month, day;
    if (!s_digits (text, length, i, 4, &year) || *i >= length ||
        text[(*i)++] != '-' || !s_digits (text, length, i, 2, &month) ||
        *i >= length || text[(*i)++] != '-' ||
        !s_digits (text, length, i, 2, &day))
        return false;
    if (month < 1 || month > 12 || day < 1)
        return false;
    int limit = days[month - 1] + (month == 2 && s_leap_year (year));
    return day <= limit;
}

/* full-time (RFC 3339 §5.6) at text[*i]; a leap second must fall on
   23:59:60 UTC. */
static bool
s_full_time (const char *text, size_t length, size_t *i)
{
    int hour, minute, second, off_h = 0, off_m = 0;
    if (!s_digits (text, length, i, 2, &hour) || *i >= length ||
        text[(*i)++] != ':' || !s_digits (text, length, i, 2, &minute) ||
        *i >= length || text[(*i)++] != ':' ||
        !s_digits (text, length, i, 2, &second))
        return false;
    if (*i < length && text[*i] == '.') {
        size_t start = ++*i;
        while (*i < length && isdigit ((unsigned char)text[*i]))
            (*i)++;
        if (*i == start)
            return false;
    }
    if (*i >= length)
        return false;
    char zone = text[(*i)++];
    if (zone == 'Z' || zone == 'z')
        ;
    else if (zone == '+' || zone == '-') {
        if (!s_digits (text, length, i, 2, &off_h) || *i >= length ||
            text[(*i)++] != ':' || !s_digits (text, length, i, 2, &off_m))
            return false;
        if (off_h > 23 || off_m > 59)
            return false;
        if (zone == '+') {
            off_h = -off_h;
            off_m = -off_m;
        }
    } else
        return false;
    if (hour > 23 || minute > 59 || second > 60)
        return false;
    if (second == 60) {
        int utc =
            ((hour * 60 + minute + off_h * 60 + off_m) % 1440 + 1440) % 1440;
        if (utc != 23 * 60 + 59)
            return false;
    }
    return true;
}

static bool
s_format_date (const char *text, size_t length)
{
    size_t i = 0;
    return s_full_date (text, length, &i) && i == length;
}

static bool
s_format_time (const char *text, size_t length)
{
    size_t i = 0;
    return s_full_time (text, length, &i) && i == length;
}

static bool
s_format_date_time (const char *text, size_t length)
{
    size_t i = 0;
    if (!s_full_date (text, length, &i) || i >= length)
        return false;
    char t = text[i++];
    if (t != 'T' && t != 't')
        return false;
    return s_full_time (text, length, &i) && i == length;
}

static bool
s_ascii_only (const char *text, size_t length)
{
    for (size_t i = 0; i < length; i++)
        if ((unsigned char)text[i] >= 0x80 || text[i] == '\0')
            return false;
    return true;
}

static bool
s_format_ipv4 (const char *text, size_t length)
{
    char buffer[INET_ADDRSTRLEN];
    struct in_addr addr;
    if (length >= sizeof buffer || !s_ascii_only (text, length))
        return false;
    memcpy (buffer, text, length);
    buffer[length] = '\0';
    return inet_pton (AF_INET, buffer, &addr) == 1;
}

static bool
s_format_ipv6 (const char *text, size_t length)
{
    char buffer[INET6_ADDRSTRLEN + 1];
    struct in6_addr addr;
    if (length >= sizeof buffer || !s_ascii_only (text, length))
        return false;
    memcpy (buffer, text, length);
    buffer[length] = '\0';
    return inet_pton (AF_INET6, buffer, &addr) == 1;
}

/* RFC 1123 host name: dot-separated labels of letters, digits and inner
   hyphens, each 1..63 bytes, 253 in all; "--" in the third and fourth
   places only for A-labels ("xn--"). With AB_URI_IRI (idn-hostname),
   non-ASCII bytes count as letters (IDNA's finer rules are not
   checked). */
static bool
s_hostname (const char *text, size_t length, ab_uri_chars_t chars)
{
    bool idn = chars == AB_URI_IRI;
    if (length == 0 || length > 253 || memchr (text, '\0', length))
        return false;
    size_t label = 0;
    for (size_t i = 0; i <= length; i++) {
        unsigned char c = i < length ? (unsigned char)text[i] : '.';
        if (c == '.' || (idn && c == 0xE3 && i + 2 < length &&
                         (unsigned char)text[i + 1] == 0x80 &&
                         (unsigned char)text[i + 2] == 0x82)) {
            const char *start = text + i - label;
            if (label == 0 || label > 63 || text[i - 1] == '-' ||
                (label >= 4 && start[2] == '-' && start[3] == '-' &&
                 strncasecmp (start, "xn", 2) != 0))
                return false;
            label = 0;
            i += c == '.' ? 0 : 2; /* U+3002 IDEOGRAPHIC FULL STOP */
        } else if (isalnum (c) || (c == '-' && label > 0) || (idn && c >= 0x80))
            label++;
        else
            return false;
    }
    return true;
}

static bool
s_format_hostname (const char *text, size_t length)
{
    return s_hostname (text, length, AB_URI_ASCII);
}

static bool
s_format_idn_hostname (const char *text, size_t length)
{
    return s_hostname (text, length, AB_URI_IRI);
}

/* The local part of an address: a dot-atom or a quoted string. */
static bool
s_email_local (const char *text, size_t length, ab_uri_chars_t chars)
{
    bool idn = chars == AB_URI_IRI;
    if (text[0] == '"') {
        if (length < 2 || text[length - 1] != '"')
            return false;
        for (size_t i = 1; i + 1 < length; i++) {
            if (text[i] == '\\')
                i++;
            else if (text[i] == '"')
                return false;
        }
        return true;
    }
    if (text[0] == '.' || text[length - 1] == '.')
        return false;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '.' && text[i + 1] == '.')
            return false;
        if (!isalnum (c) && !strchr (".!#$%&'*+/=?^_`{|}~-", c) &&
            !(idn && c >= 0x80))
            return false;
    }
    return true;
}

/* addr-spec (RFC 5321 §4.1.2): local part, '@', a host name or an
   address literal. */
static bool
s_email (const char *text, size_t length, ab_uri_chars_t chars)
{
    if (length == 0 || memchr (text, '\0', length))
        return false;
    const char *at = NULL;
    for (size_t i = 0; i < length; i++)
        if (text[i] == '@')
            at = text + i;
    if (!at || at == text || !s_email_local (text, (size_t)(at - text), chars))
        return false;
    const char *host = at + 1;
    size_t host_length = length - (size_t)(at - text) - 1;
    if (host_length > 2 && host[0] == '[' && host[host_length - 1] == ']') {
        if (host_length > 6 && strncmp (host + 1, "IPv6:", 5) == 0)
            return s_format_ipv6 (host + 6, host_length - 7);
        return s_format_ipv4 (host + 1, host_length - 2);
    }
    return s_hostname (host, host_length, chars);
}

static bool
s_format_email (const char *text, size_t length)
{
    return s_email (text, length, AB_URI_ASCII);
}

static bool
s_format_idn_email (const char *text, size_t length)
{
    return s_email (text, length, AB_URI_IRI);
}

/* ISO 8601 duration as RFC 3339 appendix A writes it: units in order
   without gaps (Y M D, then T H M S), or weeks alone. */
static bool
s_format_duration (const char *text, size_t length)
{
    static const char *orders[] = {"YMD", "HMS"};
    if (length < 3 || text[0] != 'P')
        return false;
    size_t i = 1;
    int part = 0, last = -1, units = 0;
    while (i < length) {
        if (text[i] == 'T') {
            if (part == 1 || i + 1 == length)
                return false;
            part = 1;
            last = -1;
            i++;
            continue;
        }
        size_t start = i;
        while (i < length && isdigit ((unsigned char)text[i]))
            i++;
        if (i == start || i == length)
            return false;
        char unit = text[i++];
        if (unit == 'W' && part == 0)
            return units == 0 && i == length;
        const char *at = strchr (orders[part], unit);
        if (!at || (last >= 0 && at - orders[part] != last + 1))
            return false;
        last = (int)(at - orders[part]);
        units++;
    }
    return units > 0;
}

/* RFC 6901 pointer, checked from text. */
static bool
s_pointer_syntax (const char *text, size_t length)
{
    if (length && text[0] != '/')
        return false;
    for (size_t i = 0; i < length; i++)
        if (text[i] == '~' &&
            (i + 1 >= length || (text[i + 1] != '0' && text[i + 1] != '1')))
            return false;
    return true;
}

static bool
s_format_json_pointer (const char *text, size_t length)
{
    return s_pointer_syntax (text, length);
}

/* draft-handrews-relative-json-pointer: a non-negative integer, then
   "#" or a JSON Pointer. */
static bool
s_format_relative_json_pointer (const char *text, size_t length)
{
    size_t i = 0;
    while (i < length && isdigit ((unsigned char)text[i]))
        i++;
    if (i == 0 || (text[0] == '0' && i > 1))
        return false;
    if (i < length && text[i] == '#')
        return i + 1 == length;
    return s_pointer_syntax (text + i, length - i);
}

/* One RFC 6570 expression body (between the braces). */
static bool
s_template_expression (const char *text, size_t length)
{
    size_t i = 0;
    if (length && strchr ("+#./;?&", text[0]))
        i++;
    bool need_var = true;
    while (i < length) {
        size_t start = i;
        while (i < length &&
               (isalnum ((unsigned char)text[i]) || text[i] == '_' ||
                text[i] == '%' ||
                (text[i] == '.' && i > start && text[i - 1] != '.'))) {
            if (text[i] == '%' &&
                !(i + 2 < length && isxdigit ((unsigned char)text[i + 1]) &&
                  isxdigit ((unsigned char)text[i + 2])))
                return false;
            i += text[i] == '%' ? 3 : 1;
        }
        if (i == start || text[i - 1] == '.')
            return false;
        if (i < length && text[i] == '*')
            i++;
        else if (i < length && text[i] == ':') {
            size_t digits = ++i;
            while (i < length && isdigit ((unsigned char)text[i]))
                i++;
            if (i == digits || i - digits > 4 || text[digits] == '0')
                return false;
        }
        need_var = false;
        if (i < length) {
            if (text[i] != ',')
                return false;
            i++;
            need_var = true;
        }
    }
    return !need_var;
}

static bool
s_format_uri_template (const char *text, size_t length)
{
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '{') {
            const char *end = memchr (text + i, '}', length - i);
            if (!end || !s_template_expression (text + i + 1,
                                                (size_t)(end - text) - i - 1))
                return false;
            i = (size_t)(end - text);
        } else if (c == '%') {
            if (!(i + 2 < length && isxdigit ((unsigned char)text[i + 1]) &&
                  isxdigit ((unsigned char)text[i + 2])))
                return false;
        } else if (c < 0x21 || c == 0x7f || strchr ("\"<>\\^`|}", c))
            return false;
    }
    return true;
}

static bool
s_format_uuid (const char *text, size_t length)
{
    if (length != 36)
        return false;
    for (size_t i = 0; i < length; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? text[i] != '-' : !isxdigit ((unsigned char)text[i]))
            return false;
    }
    return true;
}

/* A format checker cannot return "out of memory", and a wrong "invalid"
   would be worse: the copy is ab_oom_check's (see ab_oom.h). */
static bool
s_uri_check (const char *text, size_t length, ab_uri_form_t form,
             ab_uri_chars_t chars)
{
    if (memchr (text, '\0', length))
        return false;
    char *copy = ab_oom_check (strndup (text, length));
    bool valid = ab_uri_valid (copy, form, chars);
    free (copy);
    return valid;
}

static bool
s_format_uri (const char *text, size_t length)
{
    return s_uri_check (text, length, AB_URI_ABSOLUTE, AB_URI_ASCII);
}

static bool
s_format_uri_reference (const char *text, size_t length)
{
    return s_uri_check (text, length, AB_URI_REFERENCE, AB_URI_ASCII);
}

static bool
s_format_iri (const char *text, size_t length)
{
    return s_uri_check (text, length, AB_URI_ABSOLUTE, AB_URI_IRI);
}

static bool
s_format_iri_reference (const char *text, size_t length)
{
    return s_uri_check (text, length, AB_URI_REFERENCE, AB_URI_IRI);
}

/* PCRE2 accepts more than ECMA-262; these constructs are not ECMA-262
   and make `format: regex` fail (patterns themselves stay lenient). */
static const char *s_not_ecma[] = {"(?P", "(?#", "\\a", "\\Z", "\\z",
                                   "\\A", "(?i", "(?m", "(?s", "(?x"};

static bool
s_format_regex (const char *text, size_t length)
{
    if (memchr (text, '\0', length))
        return false;
    char *copy = strndup (text, length);
    for (size_t i = 0; copy && i < sizeof s_not_ecma / sizeof s_not_ecma[0];
         i++)
        if (strstr (copy, s_not_ecma[i])) {
            free (copy);
            return false;
        }
    char error[160];
    pcre2_code *re = copy ? ab_regex_compile (copy, error, sizeof error) : NULL;
    free (copy);
    pcre2_code_free (re);
    return re != NULL;
}

static const struct {
    const char *name; /* the `format` value */
    ab_format_fn *fn; /* its checker */
} s_formats[] = {
    {"date", s_format_date},
    {"date-time", s_format_date_time},
    {"duration", s_format_duration},
    {"email", s_format_email},
    {"hostname", s_format_hostname},
    {"idn-email", s_format_idn_email},
    {"idn-hostname", s_format_idn_hostname},
    {"ipv4", s_format_ipv4},
    {"ipv6", s_format_ipv6},
    {"iri", s_format_iri},
    {"iri-reference", s_format_iri_reference},
    {"json-pointer", s_format_json_pointer},
    {"regex", s_format_regex},
    {"relative-json-pointer", s_format_relative_json_pointer},
    {"time", s_format_time},
    {"uri", s_format_uri},
    {"uri-reference", s_format_uri_reference},
    {"uri-template", s_format_uri_template},
    {"uuid", s_format_uuid},
};

ab_format_fn *
ab_format_lookup (const char *name)
{
    for (size_t i = 0; i < sizeof s_formats / sizeof s_formats[0]; i++)
        if (strcmp (s_formats[i].name, name) == 0)
            return s_formats[i].fn;
    return NULL;
}
