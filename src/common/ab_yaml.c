/*  =========================================================================
    ab_yaml - YAML 1.2 (core schema) documents as jansson values

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Design note.

    The document is built from libyaml's event stream with an explicit
    stack of open containers (never recursion), so a hostile file cannot
    exhaust the C stack. Two bounds keep a hostile file cheap to reject:

    1. Nesting: at most AB_YAML_MAX_DEPTH open containers, counting the
       height of anything pasted in by an alias.
    2. Size: at most AB_YAML_MAX_NODES values in the result, counting every
       alias expansion in full, so the "billion laughs" file stops once
       its expansion passes a million nodes, in milliseconds.

    An alias shares the anchored value (one more reference) instead of
    copying it, so an alias costs O(1) whatever it names, and the document
    is a DAG that callers must treat as read-only (jansson's reference
    counting frees it correctly). A shared container has one position,
    the anchor's; where the alias itself is written is the place of the
    member or item that holds it (ab_yaml_value_pos, ab_yaml_item_pos).
    The node bound above still counts every alias in full: it bounds what
    a caller walking the result will visit.

    Positions live in one hash beside the value, keyed by text:
    "P" for a container's own start, "P\1KEY" for a member of an object and
    "P\2INDEX" for an item of an array (P the container's address).

    Mistakes that leave the document well-formed (duplicate keys, numbers
    out of range, unsupported tags) are collected and parsing goes on, so
    one run reports them all; syntax errors and the two bounds stop it.
    An empty file (or one with only comments) is a null document.
    Mapping keys are scalars and become their text as written (`1:` is the
    key "1"); JSON object keys are strings.
*/

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "agentbus.h"
#include "common/ab_yaml.h"

#define AB_YAML_MAX_DEPTH 512
#define AB_YAML_MAX_NODES 1000000

#define S_TAG_PREFIX "tag:yaml.org,2002:"

struct _ab_yaml_t {
    char *name;          /* file name for messages */
    json_t *root;        /* the document; owned */
    ab_pos_t root_pos;   /* where the root starts */
    zhashx_t *positions; /* text key (see design note) -> s_place_t */
};

/* Where one member (or a container itself) is written. */
typedef struct {
    ab_pos_t key;   /* the key of an object member; {0,0} otherwise */
    ab_pos_t value; /* the value, item or container */
} s_place_t;

/* What an anchor names: the finished value, kept to copy for aliases. */
typedef struct {
    json_t *value; /* one reference */
    size_t nodes;  /* values in it, itself included */
    int height;    /* nesting levels in it; 0 for a scalar */
} s_anchor_t;

/* An open container on the builder's stack. */
typedef struct {
    json_t *container; /* object or array being filled */
    char *anchor;      /* anchor to register when it closes, or NULL */
    size_t first_node; /* builder's node count when it opened */
    int height;        /* greatest height of a member so far */
    char *key;         /* object: key awaiting its value, or NULL */
    ab_pos_t key_pos;  /* where that key is written */
    bool key_bad;      /* object: the pending key was rejected */
} s_frame_t;

/* The state of one load. */
typedef struct {
    ab_yaml_t *doc;    /* what is being built */
    ab_diag_t *diag;   /* where problems go; may be NULL */
    const char *text;  /* the input, for locating reader errors */
    size_t length;     /* bytes in text */
    s_frame_t *stack;  /* open containers, innermost last */
    size_t depth;      /* frames in use */
    zhashx_t *anchors; /* anchor name -> s_anchor_t */
    size_t nodes;      /* values built so far, aliases expanded */
    size_t errors;     /* problems reported */
    bool stop;         /* a fatal problem: stop reading events */
    int documents;     /* documents seen */
} s_builder_t;

static ab_pos_t
s_pos (yaml_mark_t mark)
{
    return (ab_pos_t){(int)mark.line + 1, (int)mark.column + 1};
}

static void s_error (s_builder_t *self, ab_pos_t pos, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_error (s_builder_t *self, ab_pos_t pos, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    ab_diag_vadd (self->diag, self->doc->name, pos.line, pos.column, format,
                  args);
    va_end (args);
    self->errors++;
}

/* Index meaning "the container itself" in place names. */
#define S_SELF SIZE_MAX

/* The hash key of a place (see the design note); NULL when out of memory. */
static char *
s_place_name (const json_t *container, const char *key, size_t index)
{
    if (key)
        return zsys_sprintf ("%p\1%s", (void *)container, key);
    if (index == S_SELF)
        return zsys_sprintf ("%p", (void *)container);
    return zsys_sprintf ("%p\2%zu", (void *)container, index);
}

static void
s_place_set (zhashx_t *positions, const json_t *container, const char *key,
             size_t index, ab_pos_t key_pos, ab_pos_t value_pos)
{
    char *name = s_place_name (container, key, index);
    s_place_t *place = malloc (sizeof *place);
    if (name && place) {
        place->key = key_pos;
        place->value = value_pos;
        zhashx_update (positions, name, place);
        place = NULL;
    }
    free (place);
    zstr_free (&name);
}

static const s_place_t *
s_place_get (const ab_yaml_t *self, const json_t *container, const char *key,
             size_t index)
{
    if (!self || !container)
        return NULL;
    char *name = s_place_name (container, key, index);
    const s_place_t *place =
        name ? zhashx_lookup (self->positions, name) : NULL;
    zstr_free (&name);
    return place;
}

static void
s_place_destroy (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

static void
s_anchor_destroy (void **item_p)
{
    s_anchor_t *anchor = *item_p;
    if (anchor) {
        json_decref (anchor->value);
        free (anchor);
        *item_p = NULL;
    }
}
/* --- Scalars: the YAML 1.2 core schema ------------------------------- */

/* What a scalar resolves to, before it is made a value. */
typedef enum {
    S_AS_STRING,
    S_AS_NULL,
    S_AS_BOOL,
    S_AS_INT,
    S_AS_FLOAT,
} s_kind_t;

static bool
s_in (const char *text, const char *const *words)
{
    for (; *words; words++)
        if (strcmp (text, *words) == 0)
            return true;
    return false;
}

static const char *const s_nulls[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const s_trues[] = {"true", "True", "TRUE", NULL};
static const char *const s_falses[] = {"false", "False", "FALSE", NULL};
static const char *const s_infs[] = {".inf", ".Inf", ".INF", NULL};
static const char *const s_nans[] = {".nan", ".NaN", ".NAN", NULL};

static bool
s_all (const char *text, const char *set)
{
    return *text && strspn (text, set) == strlen (text);
}

#define S_DIGITS "0123456789"

static bool
s_is_int (const char *text)
{
    if (strncmp (text, "0o", 2) == 0)
        return s_all (text + 2, "01234567");
    if (strncmp (text, "0x", 2) == 0)
        return s_all (text + 2, S_DIGITS "abcdefABCDEF");
    return s_all (text + (*text == '-' || *text == '+'), S_DIGITS);
}

/* [-+]? ( \.[0-9]+ | [0-9]+ ( \.[0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
   or the infinities and NaNs. */
static bool
s_is_float (const char *text)
{
    const char *p = text + (*text == '-' || *text == '+');
    if (s_in (p, s_infs) || s_in (text, s_nans))
        return true;
    size_t whole = strspn (p, S_DIGITS);
    p += whole;
    size_t fraction = 0;
    if (*p == '.') {
        fraction = strspn (p + 1, S_DIGITS);
        p += 1 + fraction;
    }
    if (whole == 0 && fraction == 0)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        p += (*p == '-' || *p == '+');
        size_t exponent = strspn (p, S_DIGITS);
        if (exponent == 0)
            return false;
        p += exponent;
    }
    return *p == '\0';
}

static s_kind_t
s_resolve_plain (const char *text)
{
    if (s_in (text, s_nulls))
        return S_AS_NULL;
    if (s_in (text, s_trues) || s_in (text, s_falses))
        return S_AS_BOOL;
    if (s_is_int (text))
        return S_AS_INT;
    if (s_is_float (text))
        return S_AS_FLOAT;
    return S_AS_STRING;
}

/* The explicit tags we honour, by their suffix after "tag:yaml.org,2002:";
   "!" (the non-specific tag) makes a string, as a quoted scalar would.
   In s_kind_t order: s_make_scalar names a kind by its entry. */
static const struct {
    const char *tag;
    s_kind_t kind;
} s_tags[] = {
    {"str", S_AS_STRING}, {"null", S_AS_NULL},   {"bool", S_AS_BOOL},
    {"int", S_AS_INT},    {"float", S_AS_FLOAT},
};

/* Resolves a tagged scalar's kind; returns false for a tag we refuse. */
static bool
s_resolve_tag (const char *tag, s_kind_t *kind_p)
{
    if (strcmp (tag, "!") == 0) {
        *kind_p = S_AS_STRING;
        return true;
    }
    if (strncmp (tag, S_TAG_PREFIX, strlen (S_TAG_PREFIX)) != 0)
        return false;
    for (size_t i = 0; i < sizeof s_tags / sizeof s_tags[0]; i++)
        if (strcmp (tag + strlen (S_TAG_PREFIX), s_tags[i].tag) == 0) {
            *kind_p = s_tags[i].kind;
            return true;
        }
    return false;
}

/* strtoll's range is json_int_t's, so ERANGE is the whole check. */
_Static_assert(sizeof (json_int_t) == sizeof (long long),
               "json_int_t is long long");

static json_t *
s_make_int (s_builder_t *self, const char *text, ab_pos_t pos)
{
    int base = 10;
    const char *digits = text;
    if (strncmp (text, "0o", 2) == 0 || strncmp (text, "0x", 2) == 0) {
        base = text[1] == 'o' ? 8 : 16;
        digits = text + 2;
    }
    errno = 0;
    char *end;
    long long number = strtoll (digits, &end, base);
    if (errno == ERANGE) {
        s_error (self, pos, "integer out of range: %s", text);
        return NULL;
    }
    return json_integer ((json_int_t)number);
}

static json_t *
s_make_float (s_builder_t *self, const char *text, ab_pos_t pos)
{
    const char *unsigned_text = text + (*text == '-' || *text == '+');
    if (s_in (unsigned_text, s_infs) || s_in (text, s_nans)) {
        s_error (self, pos,
                 "'%s' is not a finite number (JSON has no Inf or NaN)", text);
        return NULL;
    }
    errno = 0;
    double number = strtod (text, NULL);
    if (errno == ERANGE && isinf (number)) {
        s_error (self, pos, "number out of range: %s", text);
        return NULL;
    }
    return json_real (number);
}

/* Makes the value of a scalar of a given kind; NULL after an error. */
static json_t *
s_make_scalar (s_builder_t *self, s_kind_t kind, const char *text,
               size_t length, ab_pos_t pos)
{
    /* Only a string may hold a NUL (from a "\0" escape). */
    bool clean = strlen (text) == length;
    switch (clean ? kind : S_AS_STRING) {
    case S_AS_NULL:
        if (s_in (text, s_nulls))
            return json_null ();
        break;
    case S_AS_BOOL:
        if (s_in (text, s_trues))
            return json_true ();
        if (s_in (text, s_falses))
            return json_false ();
        break;
    case S_AS_INT:
        if (s_is_int (text))
            return s_make_int (self, text, pos);
        break;
    case S_AS_FLOAT:
        if (s_is_float (text) || s_is_int (text))
            return s_make_float (self, text, pos);
        break;
    case S_AS_STRING: {
        if (kind != S_AS_STRING)
            break;
        json_t *string = json_stringn (text, length);
        if (!string)
            s_error (self, pos, "string is not valid UTF-8");
        return string;
    }
    }
    s_error (self, pos, "'%s' is not a valid %s", text, s_tags[kind].tag);
    return NULL;
}

/* --- Building the tree from events ----------------------------------- */

/* Counts one more value; false (and stop) past the bound. */
static bool
s_count (s_builder_t *self, size_t nodes, ab_pos_t pos)
{
    if (nodes > AB_YAML_MAX_NODES - self->nodes) {
        s_error (self, pos, "alias expansion exceeds %d nodes",
                 AB_YAML_MAX_NODES);
        self->stop = true;
        return false;
    }
    self->nodes += nodes;
    return true;
}

static void
s_remember (s_builder_t *self, const char *name, json_t *value, size_t nodes,
            int height)
{
    if (!name)
        return;
    s_anchor_t *anchor = malloc (sizeof *anchor);
    if (!anchor)
        return;
    anchor->value = json_incref (value);
    anchor->nodes = nodes;
    anchor->height = height;
    zhashx_update (self->anchors, name, anchor);
}

/* Hands a finished value (one reference, NULL after an error) to the open
   container, or makes it the root. */
static void
s_attach (s_builder_t *self, json_t *value, ab_pos_t pos, int height)
{
    if (!value)
        value = json_null ();
    if (self->depth == 0) {
        json_decref (self->doc->root);
        self->doc->root = value;
        self->doc->root_pos = pos;
        return;
    }
    s_frame_t *frame = &self->stack[self->depth - 1];
    if (height > frame->height)
        frame->height = height;
    if (json_is_array (frame->container)) {
        size_t index = json_array_size (frame->container);
        json_array_append_new (frame->container, value);
        s_place_set (self->doc->positions, frame->container, NULL, index,
                     (ab_pos_t){0, 0}, pos);
        return;
    }
    if (frame->key) {
        json_object_set_new (frame->container, frame->key, value);
        s_place_set (self->doc->positions, frame->container, frame->key, 0,
                     frame->key_pos, pos);
    } else
        json_decref (value);
    zstr_free (&frame->key);
    frame->key_bad = false;
}

/* True when the next node of the open object is a key. */
static bool
s_wants_key (const s_builder_t *self)
{
    if (self->depth == 0)
        return false;
    const s_frame_t *frame = &self->stack[self->depth - 1];
    return json_is_object (frame->container) && !frame->key && !frame->key_bad;
}

/* A scalar in key position: JSON keys are strings, so the key is its text
   as written. */
static void
s_take_key (s_builder_t *self, const yaml_event_t *event)
{
    s_frame_t *frame = &self->stack[self->depth - 1];
    const char *key = (const char *)event->data.scalar.value;
    ab_pos_t pos = s_pos (event->start_mark);
    frame->key_bad = true;
    if (strlen (key) != event->data.scalar.length) {
        s_error (self, pos, "mapping key contains a NUL character");
        return;
    }
    if (json_object_get (frame->container, key)) {
        const s_place_t *first =
            s_place_get (self->doc, frame->container, key, 0);
        s_error (self, pos, "duplicate key '%s' (first at line %d)", key,
                 first ? first->key.line : 0);
        return;
    }
    frame->key = strdup (key);
    frame->key_pos = pos;
    frame->key_bad = frame->key == NULL;
}

static void
s_on_scalar (s_builder_t *self, const yaml_event_t *event)
{
    if (s_wants_key (self)) {
        s_take_key (self, event);
        return;
    }
    ab_pos_t pos = s_pos (event->start_mark);
    if (!s_count (self, 1, pos))
        return;
    const char *text = (const char *)event->data.scalar.value;
    const char *tag = (const char *)event->data.scalar.tag;
    s_kind_t kind = S_AS_STRING;
    json_t *value = NULL;
    if (!tag && event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        kind = s_resolve_plain (text);
    if (tag && !s_resolve_tag (tag, &kind))
        s_error (self, pos, "unsupported tag '%s'", tag);
    else
        value =
            s_make_scalar (self, kind, text, event->data.scalar.length, pos);
    s_remember (self, (const char *)event->data.scalar.anchor, value, 1, 0);
    s_attach (self, value, pos, 0);
}

/* What s_on_start opens. */
typedef enum {
    S_SEQUENCE, /* a YAML sequence: a JSON array */
    S_MAPPING,  /* a YAML mapping: a JSON object */
} s_container_t;

/* Opens a sequence or mapping. */
static void
s_on_start (s_builder_t *self, const yaml_event_t *event, s_container_t kind)
{
    bool mapping = kind == S_MAPPING;
    ab_pos_t pos = s_pos (event->start_mark);
    if (s_wants_key (self)) {
        s_error (self, pos, "mapping key is not a scalar (keys are strings)");
        self->stop = true;
        return;
    }
    if (self->depth >= AB_YAML_MAX_DEPTH) {
        s_error (self, pos, "nesting deeper than %d levels", AB_YAML_MAX_DEPTH);
        self->stop = true;
        return;
    }
    const char *tag = (const char *)(mapping ? event->data.mapping_start.tag
                                             : event->data.sequence_start.tag);
    const char *expected = mapping ? S_TAG_PREFIX "map" : S_TAG_PREFIX "seq";
    if (tag && strcmp (tag, expected) != 0 && strcmp (tag, "!") != 0)
        s_error (self, pos, "unsupported tag '%s'", tag);
    if (!s_count (self, 1, pos))
        return;
    const char *anchor =
        (const char *)(mapping ? event->data.mapping_start.anchor
                               : event->data.sequence_start.anchor);
    s_frame_t *frame = &self->stack[self->depth++];
    *frame = (s_frame_t){0};
    frame->container = mapping ? json_object () : json_array ();
    frame->anchor = anchor ? strdup (anchor) : NULL;
    frame->first_node = self->nodes - 1;
    s_place_set (self->doc->positions, frame->container, NULL, S_SELF,
                 (ab_pos_t){0, 0}, pos);
}

static void
s_on_end (s_builder_t *self)
{
    assert (self->depth > 0);
    s_frame_t frame = self->stack[--self->depth];
    const s_place_t *place =
        s_place_get (self->doc, frame.container, NULL, S_SELF);
    ab_pos_t pos = place ? place->value : (ab_pos_t){0, 0};
    s_remember (self, frame.anchor, frame.container,
                self->nodes - frame.first_node, frame.height + 1);
    free (frame.anchor);
    zstr_free (&frame.key);
    s_attach (self, frame.container, pos, frame.height + 1);
}

static void
s_on_alias (s_builder_t *self, const yaml_event_t *event)
{
    ab_pos_t pos = s_pos (event->start_mark);
    const char *name = (const char *)event->data.alias.anchor;
    if (s_wants_key (self)) {
        s_error (self, pos, "mapping key is an alias (keys are strings)");
        self->stack[self->depth - 1].key_bad = true;
        return;
    }
    const s_anchor_t *anchor = zhashx_lookup (self->anchors, name);
    if (!anchor) {
        s_error (self, pos, "unknown anchor '%s'", name);
        s_attach (self, NULL, pos, 0);
        return;
    }
    if (self->depth + (size_t)anchor->height > AB_YAML_MAX_DEPTH) {
        s_error (self, pos, "nesting deeper than %d levels", AB_YAML_MAX_DEPTH);
        self->stop = true;
        return;
    }
    if (!s_count (self, anchor->nodes, pos))
        return;
    /* Shared, not copied: see the design note. */
    s_attach (self, json_incref (anchor->value), pos, anchor->height);
}

static void
s_on_document (s_builder_t *self, const yaml_event_t *event)
{
    if (++self->documents > 1) {
        s_error (self, s_pos (event->start_mark),
                 "more than one document in the file");
        self->stop = true;
    }
}

static void
s_on_event (s_builder_t *self, const yaml_event_t *event)
{
    switch (event->type) {
    case YAML_DOCUMENT_START_EVENT:
        s_on_document (self, event);
        break;
    case YAML_SCALAR_EVENT:
        s_on_scalar (self, event);
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        s_on_start (self, event,
                    event->type == YAML_MAPPING_START_EVENT ? S_MAPPING
                                                            : S_SEQUENCE);
        break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        s_on_end (self);
        break;
    case YAML_ALIAS_EVENT:
        s_on_alias (self, event);
        break;
    default:
        break;
    }
}

/* --- Syntax errors ---------------------------------------------------- */

/* Byte offset of the start of 0-based `line`, or length if past the end. */
static size_t
s_line_start (const char *text, size_t length, size_t line)
{
    size_t offset = 0;
    while (line > 0 && offset < length) {
        const char *newline = memchr (text + offset, '\n', length - offset);
        if (!newline)
            return length;
        offset = (size_t)(newline - text) + 1;
        line--;
    }
    return offset;
}

/* libyaml's word for a tab in indentation is "found character that cannot
   start any token"; say what it is. */
static bool
s_tab_indent (const s_builder_t *self, yaml_mark_t mark)
{
    size_t start = s_line_start (self->text, self->length, mark.line);
    size_t indent = 0;
    while (start + indent < self->length &&
           (self->text[start + indent] == ' ' ||
            self->text[start + indent] == '\t'))
        indent++;
    return mark.column <= indent &&
           memchr (self->text + start, '\t', indent) != NULL;
}

static void
s_syntax_error (s_builder_t *self, const yaml_parser_t *parser)
{
    if (parser->error == YAML_READER_ERROR) {
        /* Reader errors (bad encoding) carry a byte offset, not a mark. */
        size_t offset = parser->problem_offset < self->length
                            ? parser->problem_offset
                            : self->length;
        yaml_mark_t mark = {0};
        for (size_t i = 0; i < offset; i++)
            if (self->text[i] == '\n') {
                mark.line++;
                mark.column = 0;
            } else
                mark.column++;
        s_error (self, s_pos (mark), "%s (byte 0x%02X)", parser->problem,
                 (unsigned)parser->problem_value);
    } else if (parser->error == YAML_MEMORY_ERROR)
        s_error (self, (ab_pos_t){0, 0}, "out of memory");
    else if (s_tab_indent (self, parser->problem_mark))
        s_error (self, s_pos (parser->problem_mark),
                 "tab character in indentation (YAML allows only spaces)");
    else if (parser->context)
        s_error (self, s_pos (parser->problem_mark), "%s (%s)", parser->problem,
                 parser->context);
    else
        s_error (self, s_pos (parser->problem_mark), "%s", parser->problem);
}

/* --- Loading ---------------------------------------------------------- */

static ab_yaml_t *
s_doc_new (const char *name)
{
    ab_yaml_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->name = strdup (name ? name : "<input>");
    self->positions = zhashx_new ();
    if (!self->name || !self->positions) {
        ab_yaml_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->positions, s_place_destroy);
    return self;
}

static void
s_run (s_builder_t *self, yaml_parser_t *parser)
{
    bool done = false;
    while (!done && !self->stop) {
        yaml_event_t event;
        if (!yaml_parser_parse (parser, &event)) {
            s_syntax_error (self, parser);
            return;
        }
        s_on_event (self, &event);
        done = event.type == YAML_STREAM_END_EVENT;
        yaml_event_delete (&event);
    }
}

static void
s_builder_clear (s_builder_t *self)
{
    while (self->depth > 0) {
        s_frame_t *frame = &self->stack[--self->depth];
        json_decref (frame->container);
        free (frame->anchor);
        zstr_free (&frame->key);
    }
    free (self->stack);
    zhashx_destroy (&self->anchors);
}

ab_yaml_t *
ab_yaml_load_string (const char *text, size_t length, const char *name,
                     ab_diag_t *diag)
{
    assert (text || length == 0);
    s_builder_t builder = {.diag = diag, .text = text, .length = length};
    builder.doc = s_doc_new (name);
    builder.stack = calloc (AB_YAML_MAX_DEPTH, sizeof (s_frame_t));
    builder.anchors = zhashx_new ();
    yaml_parser_t parser;
    bool parser_ready = yaml_parser_initialize (&parser) != 0;
    if (!builder.doc || !builder.stack || !builder.anchors || !parser_ready) {
        ab_diag_add (diag, name, 0, 0, "out of memory");
        builder.errors++;
    } else {
        zhashx_set_destructor (builder.anchors, s_anchor_destroy);
        builder.doc->root = json_null ();
        builder.doc->root_pos = (ab_pos_t){1, 1};
        yaml_parser_set_input_string (&parser, (const unsigned char *)text,
                                      length);
        s_run (&builder, &parser);
    }
    if (parser_ready)
        yaml_parser_delete (&parser);
    s_builder_clear (&builder);
    if (builder.errors > 0)
        ab_yaml_destroy (&builder.doc);
    return builder.doc;
}

ab_yaml_t *
ab_yaml_load_file (const char *path, ab_diag_t *diag)
{
    assert (path);
    FILE *file = fopen (path, "rb");
    if (!file) {
        ab_diag_add (diag, path, 0, 0, "cannot open: %s", strerror (errno));
        return NULL;
    }
    char *text = NULL;
    size_t length = 0;
    size_t capacity = 0;
    bool failed = false;
    while (!failed) {
        if (capacity - length < 4096) {
            capacity = capacity ? capacity * 2 : 65536;
            char *bigger = realloc (text, capacity);
            failed = bigger == NULL;
            text = bigger ? bigger : text;
            if (failed)
                break;
        }
        size_t got = fread (text + length, 1, capacity - length, file);
        length += got;
        if (got == 0) {
            failed = ferror (file) != 0;
            break;
        }
    }
    fclose (file);
    ab_yaml_t *self = NULL;
    if (failed)
        ab_diag_add (diag, path, 0, 0, "cannot read: %s", strerror (errno));
    else
        self = ab_yaml_load_string (text ? text : "", length, path, diag);
    free (text);
    return self;
}

void
ab_yaml_destroy (ab_yaml_t **self_p)
{
    assert (self_p);
    ab_yaml_t *self = *self_p;
    if (self) {
        json_decref (self->root);
        zhashx_destroy (&self->positions);
        free (self->name);
        free (self);
        *self_p = NULL;
    }
}

/* --- Accessors -------------------------------------------------------- */

json_t *
ab_yaml_root (const ab_yaml_t *self)
{
    assert (self);
    return self->root;
}

const char *
ab_yaml_name (const ab_yaml_t *self)
{
    assert (self);
    return self->name;
}

ab_pos_t
ab_yaml_root_pos (const ab_yaml_t *self)
{
    assert (self);
    return self->root_pos;
}

ab_pos_t
ab_yaml_value_pos (const ab_yaml_t *self, const json_t *object, const char *key)
{
    const s_place_t *place = key ? s_place_get (self, object, key, 0) : NULL;
    return place ? place->value : (ab_pos_t){0, 0};
}

ab_pos_t
ab_yaml_key_pos (const ab_yaml_t *self, const json_t *object, const char *key)
{
    const s_place_t *place = key ? s_place_get (self, object, key, 0) : NULL;
    return place ? place->key : (ab_pos_t){0, 0};
}

ab_pos_t
ab_yaml_item_pos (const ab_yaml_t *self, const json_t *array, size_t index)
{
    const s_place_t *place =
        index == S_SELF ? NULL : s_place_get (self, array, NULL, index);
    return place ? place->value : (ab_pos_t){0, 0};
}

ab_pos_t
ab_yaml_node_pos (const ab_yaml_t *self, const json_t *container)
{
    const s_place_t *place = s_place_get (self, container, NULL, S_SELF);
    return place ? place->value : (ab_pos_t){0, 0};
}
