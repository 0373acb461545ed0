/*  =========================================================================
    ab_diag - a list of diagnostics, each "FILE:LINE:COL: message"

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Loaders (YAML, schemas, topology, config) report every problem they find
    into an ab_diag_t instead of stopping at the first, so `agentbus check`
    can print them all. Lines and columns are 1-based; 0 means unknown and
    is left out of the text ("file: message", "file:12: message").
*/

#ifndef AB_DIAG_H_INCLUDED
#define AB_DIAG_H_INCLUDED

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

typedef struct _ab_diag_t ab_diag_t;

/* Creates an empty list. Returns NULL only when out of memory. */
ab_diag_t *ab_diag_new (void);

/* Destroys the list; accepts NULL and nulls the caller's pointer. */
void ab_diag_destroy (ab_diag_t **self_p);

/* Appends one diagnostic. `file` may be NULL (then "<input>"). A NULL
   self is accepted and ignores the call, so callers that do not care
   about messages can pass NULL. */
void ab_diag_add (ab_diag_t *self, const char *file, int line, int column,
                  const char *format, ...)
    __attribute__ ((format (printf, 5, 6)));

void ab_diag_vadd (ab_diag_t *self, const char *file, int line, int column,
                   const char *format, va_list args);

/* Number of diagnostics; 0 for NULL. */
size_t ab_diag_count (const ab_diag_t *self);

/* The index'th diagnostic as "FILE:LINE:COL: message" (borrowed), or NULL
   when index is out of range. */
const char *ab_diag_text (const ab_diag_t *self, size_t index);

/* The index'th diagnostic's parts; any output pointer may be NULL.
   Returns 0, or AB_EINVAL when index is out of range. */
int ab_diag_get (const ab_diag_t *self, size_t index, const char **file_p,
                 int *line_p, int *column_p, const char **message_p);

/* Writes every diagnostic, one per line, to stream. */
void ab_diag_print (const ab_diag_t *self, FILE *stream);

/* Removes every diagnostic. */
void ab_diag_clear (ab_diag_t *self);

#endif
