/*  =========================================================================
    redact - an example agentbus filter plugin: hide secret fields

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    filters:
      - {plugin: redact.so, fields: [password, api_key]}

    Replaces the value of every object member named in `fields`, at any
    depth (inside arrays too), with the string "[redacted]". A message
    without such members passes unchanged; otherwise the plugin answers
    REWRITE with a redacted copy (the broker's payload is read-only).
*/

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus/filter.h"

#define REDACTED "[redacted]"

/* Nesting deeper than this is rejected rather than walked, so a hostile
   payload cannot exhaust the stack. */
#define MAX_DEPTH 128

typedef struct {
    json_t *fields; /* object: field name → true, for O(1) lookup */
} redact_t;

/* Answers the one version this file is written against; a broker that
   does not speak it refuses to load the plugin, naming both versions. */
int
ab_filter_version (int count, const int *versions)
{
    return AB_FILTER_ABI_VERSION;
}

void *
ab_filter_init (const json_t *options, char *error, size_t error_size)
{
    const json_t *fields = json_object_get (options, "fields");
    if (!json_is_array (fields) || json_array_size (fields) == 0) {
        snprintf (error, error_size,
                  "option 'fields' must be a non-empty list of field names");
        return NULL;
    }
    redact_t *self = calloc (1, sizeof *self);
    if (!self || !(self->fields = json_object ())) {
        free (self);
        snprintf (error, error_size, "out of memory");
        return NULL;
    }
    size_t index;
    const json_t *field;
    json_array_foreach (fields, index, field)
    {
        if (!json_is_string (field)) {
            snprintf (error, error_size, "fields[%zu] must be a string", index);
            json_decref (self->fields);
            free (self);
            return NULL;
        }
        json_object_set_new (self->fields, json_string_value (field),
                             json_true ());
    }
    return self;
}

/* Redacts in place under `value`; returns how many values were replaced,
   or -1 when nesting is too deep. */
static long
s_redact (const redact_t *self, json_t *value, int depth)
{
    if (depth > MAX_DEPTH)
        return -1;
    long count = 0;
    if (json_is_object (value)) {
        const char *key;
        json_t *member;
        json_object_foreach (value, key, member)
        {
            if (json_object_get (self->fields, key)) {
                json_object_set_new (value, key, json_string (REDACTED));
                count++;
                continue;
            }
            long inner = s_redact (self, member, depth + 1);
            if (inner < 0)
                return -1;
            count += inner;
        }
    } else if (json_is_array (value)) {
        size_t index;
        json_t *item;
        json_array_foreach (value, index, item)
        {
            long inner = s_redact (self, item, depth + 1);
            if (inner < 0)
                return -1;
            count += inner;
        }
    }
    return count;
}

int
ab_filter_apply (void *state, const ab_filter_message_t *msg,
                 ab_filter_verdict_t *verdict)
{
    const redact_t *self = state;
    json_t *copy = json_deep_copy (msg->payload);
    if (!copy)
        return -1;
    long count = s_redact (self, copy, 0);
    if (count < 0) {
        json_decref (copy);
        verdict->action = AB_FILTER_REJECT;
        verdict->code = "malformed";
        snprintf (verdict->message, sizeof verdict->message,
                  "payload nested deeper than %d levels", MAX_DEPTH);
        return 0;
    }
    if (count == 0) {
        json_decref (copy);
        return 0; /* PASS: nothing to hide */
    }
    verdict->action = AB_FILTER_REWRITE;
    verdict->payload = copy; /* the broker takes this reference */
    return 0;
}

void
ab_filter_cleanup (void *state)
{
    redact_t *self = state;
    if (self) {
        json_decref (self->fields);
        free (self);
    }
}
