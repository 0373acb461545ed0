/*  =========================================================================
    ab_diag - a list of diagnostics, each "FILE:LINE:COL: message"

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
#include "common/ab_diag.h"

typedef struct {
    char *file;    /* file name as given, or "<input>" */
    int line;      /* 1-based, 0 = unknown */
    int column;    /* 1-based, 0 = unknown */
    char *message; /* the message alone */
    char *text;    /* "file:line:col: message", what users see */
} s_entry_t;

struct _ab_diag_t {
    s_entry_t *entries; /* in the order they were added */
    size_t count;       /* entries used */
    size_t capacity;    /* entries allocated */
};

ab_diag_t *
ab_diag_new (void)
{
    return calloc (1, sizeof (ab_diag_t));
}

void
ab_diag_clear (ab_diag_t *self)
{
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++) {
        free (self->entries[i].file);
        free (self->entries[i].message);
        free (self->entries[i].text);
    }
    self->count = 0;
}

void
ab_diag_destroy (ab_diag_t **self_p)
{
    assert (self_p);
    ab_diag_t *self = *self_p;
    if (self) {
        ab_diag_clear (self);
        free (self->entries);
        free (self);
        *self_p = NULL;
    }
}

/* Formats into a fresh string; NULL when out of memory. */
static char *
s_vformat (const char *format, va_list args)
{
    va_list copy;
    va_copy (copy, args);
    int length = vsnprintf (NULL, 0, format, copy);
    va_end (copy);
    if (length < 0)
        return NULL;
    char *text = malloc ((size_t)length + 1);
    if (text)
        vsnprintf (text, (size_t)length + 1, format, args);
    return text;
}

static char *
s_format (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *text = s_vformat (format, args);
    va_end (args);
    return text;
}

static char *
s_render (const s_entry_t *entry)
{
    if (entry->line > 0 && entry->column > 0)
        return s_format ("%s:%d:%d: %s", entry->file, entry->line,
                         entry->column, entry->message);
    if (entry->line > 0)
        return s_format ("%s:%d: %s", entry->file, entry->line, entry->message);
    return s_format ("%s: %s", entry->file, entry->message);
}

void
ab_diag_vadd (ab_diag_t *self, const char *file, int line, int column,
              const char *format, va_list args)
{
    if (!self)
        return;
    if (self->count == self->capacity) {
        size_t capacity = self->capacity ? self->capacity * 2 : 8;
        s_entry_t *entries =
            realloc (self->entries, capacity * sizeof *entries);
        if (!entries)
            return; /* out of memory: the caller still sees its error code */
        self->entries = entries;
        self->capacity = capacity;
    }
    s_entry_t entry = {
        .file = strdup (file ? file : "<input>"),
        .line = line > 0 ? line : 0,
        .column = line > 0 && column > 0 ? column : 0,
        .message = s_vformat (format, args),
    };
    if (entry.file && entry.message)
        entry.text = s_render (&entry);
    if (!entry.text) {
        free (entry.file);
        free (entry.message);
        return;
    }
    self->entries[self->count++] = entry;
}

void
ab_diag_add (ab_diag_t *self, const char *file, int line, int column,
             const char *format, ...)
{
    va_list args;
    va_start (args, format);
    ab_diag_vadd (self, file, line, column, format, args);
    va_end (args);
}

size_t
ab_diag_count (const ab_diag_t *self)
{
    return self ? self->count : 0;
}

const char *
ab_diag_text (const ab_diag_t *self, size_t index)
{
    if (!self || index >= self->count)
        return NULL;
    return self->entries[index].text;
}

int
ab_diag_get (const ab_diag_t *self, size_t index, const char **file_p,
             int *line_p, int *column_p, const char **message_p)
{
    if (!self || index >= self->count)
        return AB_EINVAL;
    const s_entry_t *entry = &self->entries[index];
    if (file_p)
        *file_p = entry->file;
    if (line_p)
        *line_p = entry->line;
    if (column_p)
        *column_p = entry->column;
    if (message_p)
        *message_p = entry->message;
    return 0;
}

void
ab_diag_print (const ab_diag_t *self, FILE *stream)
{
    for (size_t i = 0; i < ab_diag_count (self); i++)
        fprintf (stream, "%s\n", self->entries[i].text);
}
