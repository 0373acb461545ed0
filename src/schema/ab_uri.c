/*  =========================================================================
    ab_uri - URI references (RFC 3986): resolution and syntax checks

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/ab_uri.h"

/* One component of a parsed reference: a slice of the input. */
typedef struct {
    const char *start; /* first character, inside the parsed string */
    size_t length;     /* characters in the slice */
    bool present;      /* the component's delimiter was there */
} s_part_t;

/* The five components of RFC 3986 §3. */
typedef struct {
    s_part_t scheme;    /* without ':' */
    s_part_t authority; /* without '//' */
    s_part_t path;      /* possibly empty */
    s_part_t query;     /* without '?' */
    s_part_t fragment;  /* without '#' */
} s_uri_t;

static size_t
s_scheme_length (const char *text)
{
    if (!isalpha ((unsigned char)text[0]))
        return 0;
    size_t i = 1;
    while (isalnum ((unsigned char)text[i]) || text[i] == '+' ||
           text[i] == '-' || text[i] == '.')
        i++;
    return text[i] == ':' ? i : 0;
}

static void
s_parse (const char *text, s_uri_t *uri)
{
    memset (uri, 0, sizeof *uri);
    const char *p = text;
    size_t n = s_scheme_length (p);
    if (n) {
        uri->scheme = (s_part_t){p, n, true};
        p += n + 1;
    }
    if (p[0] == '/' && p[1] == '/') {
        p += 2;
        n = strcspn (p, "/?#");
        uri->authority = (s_part_t){p, n, true};
        p += n;
    }
    n = strcspn (p, "?#");
    uri->path = (s_part_t){p, n, true};
    p += n;
    if (*p == '?') {
        p++;
        n = strcspn (p, "#");
        uri->query = (s_part_t){p, n, true};
        p += n;
    }
    if (*p == '#') {
        p++;
        uri->fragment = (s_part_t){p, strlen (p), true};
    }
}

/* Removes "." and ".." segments (RFC 3986 §5.2.4), in place. */
static void
s_remove_dots (char *path)
{
    char *in = path, *out = path;
    while (*in) {
        if (strncmp (in, "../", 3) == 0)
            in += 3;
        else if (strncmp (in, "./", 2) == 0)
            in += 2;
        else if (strncmp (in, "/./", 3) == 0)
            in += 2;
        else if (strcmp (in, "/.") == 0)
            in[1] = '\0';
        else if (strncmp (in, "/../", 4) == 0 || strcmp (in, "/..") == 0) {
            in += 3;
            if (*in == '\0')
                *--in = '/';
            else
                *in = '/';
            while (out > path && *--out != '/')
                ;
        } else if (strcmp (in, ".") == 0 || strcmp (in, "..") == 0)
            in += strlen (in);
        else {
            do
                *out++ = *in++;
            while (*in && *in != '/');
        }
    }
    *out = '\0';
}

static char *
s_slice (const s_part_t *part)
{
    char *copy = malloc (part->length + 1);
    if (copy) {
        memcpy (copy, part->start, part->length);
        copy[part->length] = '\0';
    }
    return copy;
}

/* The target path of §5.2.2 when the reference has a relative path. */
static char *
s_merge (const s_uri_t *base, const s_part_t *ref_path)
{
    size_t keep = 0;
    if (base->authority.present && base->path.length == 0) {
        char *path = malloc (ref_path->length + 2);
        if (path) {
            path[0] = '/';
            memcpy (path + 1, ref_path->start, ref_path->length);
            path[ref_path->length + 1] = '\0';
        }
        return path;
    }
    for (size_t i = 0; i < base->path.length; i++)
        if (base->path.start[i] == '/')
            keep = i + 1;
    char *path = malloc (keep + ref_path->length + 1);
    if (path) {
        memcpy (path, base->path.start, keep);
        memcpy (path + keep, ref_path->start, ref_path->length);
        path[keep + ref_path->length] = '\0';
    }
    return path;
}

static char *
s_compose (const s_part_t *scheme, const s_part_t *authority, const char *path,
           const s_part_t *query, const s_part_t *fragment)
{
    size_t size = scheme->length + authority->length + strlen (path) +
                  query->length + fragment->length + 8;
    char *text = malloc (size);
    if (!text)
        return NULL;
    char *p = text;
    if (scheme->present)
        p += sprintf (p, "%.*s:", (int)scheme->length, scheme->start);
    if (authority->present)
        p += sprintf (p, "//%.*s", (int)authority->length, authority->start);
    p += sprintf (p, "%s", path);
    if (query->present)
        p += sprintf (p, "?%.*s", (int)query->length, query->start);
    if (fragment->present)
        sprintf (p, "#%.*s", (int)fragment->length, fragment->start);
    return text;
}

char *
ab_uri_resolve (const char *base_text, const char *ref_text)
{
    s_uri_t base, ref;
    s_parse (base_text, &base);
    s_parse (ref_text, &ref);
    const s_part_t *scheme = &base.scheme, *authority = &base.authority;
    const s_part_t *query = &ref.query;
    char *path;
    if (ref.scheme.present) {
        scheme = &ref.scheme;
        authority = &ref.authority;
        path = s_slice (&ref.path);
    } else if (ref.authority.present) {
        authority = &ref.authority;
        path = s_slice (&ref.path);
    } else if (ref.path.length == 0) {
        path = s_slice (&base.path);
        if (!ref.query.present)
            query = &base.query;
    } else if (ref.path.start[0] == '/')
        path = s_slice (&ref.path);
    else
        path = s_merge (&base, &ref.path);
    if (!path)
        return NULL;
    if (scheme->present && (authority->present || path[0] == '/'))
        s_remove_dots (path);
    char *text = s_compose (scheme, authority, path, query, &ref.fragment);
    free (path);
    return text;
}

/* Characters allowed unescaped anywhere in a URI reference. */
static bool
s_uri_char (unsigned char c)
{
    return isalnum (c) || strchr ("-._~:/?#[]@!$&'()*+,;=", c);
}

/* authority = [userinfo "@"] host [":" port]; an IP literal host is
   checked by inet_pton. */
static bool
s_authority_valid (const s_part_t *authority)
{
    char text[512];
    if (authority->length >= sizeof text)
        return false;
    memcpy (text, authority->start, authority->length);
    text[authority->length] = '\0';
    char *at = strchr (text, '@');
    if (at && strchr (at + 1, '@'))
        return false;
    char *host = at ? at + 1 : text;
    char *port = NULL;
    if (host[0] == '[') {
        char *close = strchr (host, ']');
        if (!close || (close[1] && close[1] != ':'))
            return false;
        *close = '\0';
        struct in6_addr addr;
        if (host[1] != 'v' && host[1] != 'V' &&
            inet_pton (AF_INET6, host + 1, &addr) != 1)
            return false;
        port = close[1] == ':' ? close + 2 : NULL;
    } else if ((port = strrchr (host, ':')))
        port++;
    return !port || strspn (port, "0123456789") == strlen (port);
}

bool
ab_uri_valid (const char *text, ab_uri_form_t form, ab_uri_chars_t chars)
{
    bool iri = chars == AB_URI_IRI;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '%') {
            if (!isxdigit (p[1]) || !isxdigit (p[2]))
                return false;
            p += 2;
        } else if (!s_uri_char (*p) && !(iri && *p >= 0x80))
            return false;
    }
    s_uri_t uri;
    s_parse (text, &uri);
    if (form == AB_URI_ABSOLUTE && !uri.scheme.present)
        return false;
    if (!uri.scheme.present && uri.path.length) {
        /* a relative path's first segment may not hold ':' (§4.2) */
        size_t seg = strcspn (uri.path.start, "/?#");
        if (memchr (uri.path.start, ':', seg))
            return false;
    }
    if (uri.authority.present && !s_authority_valid (&uri.authority))
        return false;
    /* '#' may appear once; '[' ']' only in the authority */
    if (uri.fragment.present && strchr (uri.fragment.start, '#'))
        return false;
    const char *bracket = strpbrk (uri.path.start, "[]");
    return !bracket || bracket >= uri.path.start + uri.path.length;
}
