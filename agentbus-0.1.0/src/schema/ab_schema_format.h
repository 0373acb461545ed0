/*  =========================================================================
    ab_schema_format - `format` checkers and ECMA-262 regex translation

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Internal to ab_schema. JSON Schema patterns are ECMA-262 regular
    expressions; PCRE2 runs them after ab_regex_compile rewrites the few
    escapes whose meaning differs (\d \w are ASCII-only in ECMA-262, while
    \s is Unicode white space).
*/

#ifndef AB_SCHEMA_FORMAT_H_INCLUDED
#define AB_SCHEMA_FORMAT_H_INCLUDED

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>

/* Checks one string (UTF-8, `length` bytes) against a format. */
typedef bool (ab_format_fn) (const char *text, size_t length);

/* The checker of a format name, or NULL when the name is unknown (an
   unknown format is an annotation and always passes). */
ab_format_fn *ab_format_lookup (const char *name);

/* Compiles an ECMA-262 pattern with PCRE2 (UTF, UCP). Returns the code,
   or NULL with PCRE2's reason and offset in `error` (size bytes). */
pcre2_code *ab_regex_compile (const char *pattern, char *error, size_t size);

#endif
