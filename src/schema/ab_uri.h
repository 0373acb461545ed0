/*  =========================================================================
    ab_uri - URI references (RFC 3986): resolution and syntax checks

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    The schema registry resolves every `$id` and `$ref` against the base
    URI in force (RFC 3986 §5.2, with dot-segment removal), so that the
    same resource is always found under the same string.
*/

#ifndef AB_URI_H_INCLUDED
#define AB_URI_H_INCLUDED

#include <stdbool.h>

/* Resolves `ref` against the absolute URI `base` (RFC 3986 §5.2.2).
   Returns a new string (the caller's), or NULL when out of memory. */
char *ab_uri_resolve (const char *base, const char *ref);

/* Which URIs ab_uri_valid accepts: any reference, or only those with a
   scheme. */
typedef enum {
    AB_URI_REFERENCE = 0, /* relative or absolute (format "uri-reference") */
    AB_URI_ABSOLUTE = 1,  /* with a scheme (format "uri") */
} ab_uri_form_t;

/* The characters ab_uri_valid accepts. */
typedef enum {
    AB_URI_ASCII = 0, /* RFC 3986's only */
    AB_URI_IRI = 1,   /* non-ASCII too (RFC 3987: formats "iri...") */
} ab_uri_chars_t;

/* True when `text` is a syntactically valid URI reference of that form
   and those characters. */
bool ab_uri_valid (const char *text, ab_uri_form_t form, ab_uri_chars_t chars);

#endif
