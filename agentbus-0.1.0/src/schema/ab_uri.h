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

/* True when `text` is a syntactically valid URI reference; when
   `absolute`, it must also have a scheme (format "uri"); when `iri`,
   non-ASCII characters are allowed (RFC 3987). */
bool ab_uri_valid (const char *text, bool absolute, bool iri);

#endif
