/*  =========================================================================
    ab_pipeline - the filter stages of a topology, run in order

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "filter/ab_pipeline.h"
#include "wire/ab_codes.h"

struct _ab_pipeline_t {
    ab_filter_t **stages; /* in order; owned */
    size_t count;         /* stages in use */
    size_t size;          /* allocated */
};

void
ab_filter_result_clear (ab_filter_result_t *result)
{
    assert (result);
    json_decref (result->errors);
    json_decref (result->payload);
    free (result->payload_text);
    *result = (ab_filter_result_t)AB_FILTER_RESULT_INIT;
}

ab_pipeline_t *
ab_pipeline_new (void)
{
    return calloc (1, sizeof (ab_pipeline_t));
}

void
ab_pipeline_destroy (ab_pipeline_t **self_p)
{
    assert (self_p);
    ab_pipeline_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++)
        ab_filter_destroy (&self->stages[i]);
    free (self->stages);
    free (self);
    *self_p = NULL;
}

/* Inserts at `index` (0 = first, count = last). */
static int
s_insert (ab_pipeline_t *self, size_t index, ab_filter_t **stage_p)
{
    assert (self);
    assert (stage_p && *stage_p);
    if (self->count == self->size) {
        size_t size = self->size ? self->size * 2 : 4;
        ab_filter_t **stages = realloc (self->stages, size * sizeof *stages);
        if (!stages) {
            ab_filter_destroy (stage_p);
            return AB_ENOMEM;
        }
        self->stages = stages;
        self->size = size;
    }
    memmove (&self->stages[index + 1], &self->stages[index],
             (self->count - index) * sizeof *self->stages);
    self->stages[index] = *stage_p;
    self->count++;
    *stage_p = NULL;
    return 0;
}

int
ab_pipeline_prepend (ab_pipeline_t *self, ab_filter_t **stage_p)
{
    return s_insert (self, 0, stage_p);
}

int
ab_pipeline_append (ab_pipeline_t *self, ab_filter_t **stage_p)
{
    return s_insert (self, self->count, stage_p);
}

size_t
ab_pipeline_size (const ab_pipeline_t *self)
{
    return self ? self->count : 0;
}

ab_pipeline_t *
ab_pipeline_new_from_config (const json_t *filters, const ab_filter_env_t *env,
                             ab_diag_t *diag)
{
    if (filters && !json_is_array (filters)) {
        ab_filter_report (env, diag, NULL,
                          "'filters' must be a list of filter stages");
        return NULL;
    }
    ab_pipeline_t *self = ab_pipeline_new ();
    if (!self) {
        ab_filter_report (env, diag, filters, "out of memory");
        return NULL;
    }
    bool failed = false;
    size_t index;
    const json_t *stage;
    /* Build every stage, even after a failure, so every mistake in the
       list is reported at once. */
    json_array_foreach (filters, index, stage)
    {
        ab_filter_t *filter = ab_filter_new_from_config (stage, env, diag);
        if (!filter || ab_pipeline_append (self, &filter) != 0)
            failed = true;
    }
    if (failed)
        ab_pipeline_destroy (&self);
    return self;
}

/* Fills a reject result with `code` (one a filter may use). */
static int s_reject (ab_filter_result_t *result, const ab_filter_t *stage,
                     ab_reject_t code, const char *format, ...)
    __attribute__ ((format (printf, 4, 5)));

static int
s_reject (ab_filter_result_t *result, const ab_filter_t *stage,
          ab_reject_t code, const char *format, ...)
{
    result->rejected = true;
    result->code = ab_reject_name (code); /* static: outlives any plugin */
    assert (result->code);                /* our bug: a code out of range */
    result->stage = ab_filter_name (stage);
    int used = snprintf (result->message, sizeof result->message,
                         "%s: ", ab_filter_name (stage));
    if (used < 0 || (size_t)used >= sizeof result->message)
        return AB_EREJECTED;
    va_list args;
    va_start (args, format);
    vsnprintf (result->message + used, sizeof result->message - (size_t)used,
               format, args);
    va_end (args);
    return AB_EREJECTED;
}

/* A stage's REJECT, checked. Takes the verdict's errors. */
static int
s_take_reject (ab_filter_result_t *result, const ab_filter_t *stage,
               ab_filter_verdict_t *verdict)
{
    int code =
        verdict->code ? ab_filter_code (verdict->code) : (int)AB_REJECT_FILTER;
    if (code < 0)
        return s_reject (result, stage, AB_REJECT_FILTER,
                         "rejected with a code filters may not use");
    /* The plugin's buffer may lack its NUL; one line only. */
    verdict->message[sizeof verdict->message - 1] = 0;
    verdict->message[strcspn (verdict->message, "\r\n")] = 0;
    if (verdict->message[0])
        s_reject (result, stage, (ab_reject_t)code, "%s", verdict->message);
    else
        s_reject (result, stage, (ab_reject_t)code, "rejected by filter %s",
                  ab_filter_name (stage));
    if (json_is_array (verdict->errors)) {
        result->errors = verdict->errors;
        verdict->errors = NULL;
    }
    return AB_EREJECTED;
}

/* A stage's REWRITE: the new payload becomes the one later stages see. */
static int
s_take_rewrite (ab_filter_result_t *result, const ab_filter_t *stage,
                ab_filter_verdict_t *verdict, ab_filter_message_t *view)
{
    if (!verdict->payload)
        return s_reject (result, stage, AB_REJECT_FILTER,
                         "rewrote the message without a payload");
    char *text = json_dumps (verdict->payload, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return s_reject (result, stage, AB_REJECT_FILTER,
                         "rewrote the message with a payload that cannot be "
                         "serialised");
    json_decref (result->payload);
    free (result->payload_text);
    result->payload = verdict->payload;
    verdict->payload = NULL;
    result->payload_text = text;
    result->payload_size = strlen (text);
    view->payload = result->payload;
    view->payload_bytes = text;
    view->payload_size = result->payload_size;
    return 0;
}

/* Runs one stage over the view; 0 to go on, AB_EREJECTED to stop. */
static int
s_run_stage (ab_filter_t *stage, ab_filter_message_t *view,
             ab_filter_result_t *result)
{
    ab_filter_verdict_t verdict;
    memset (&verdict, 0, sizeof verdict);
    int rc = ab_filter_run (stage, view, &verdict);
    if (rc != 0)
        rc =
            s_reject (result, stage, AB_REJECT_FILTER, "failed (error %d)", rc);
    else if (verdict.action == AB_FILTER_REJECT)
        rc = s_take_reject (result, stage, &verdict);
    else if (verdict.action == AB_FILTER_REWRITE)
        rc = s_take_rewrite (result, stage, &verdict, view);
    else if (verdict.action != AB_FILTER_PASS)
        rc = s_reject (result, stage, AB_REJECT_FILTER,
                       "returned unknown action %d", (int)verdict.action);
    /* Whatever the verdict still holds was not taken: the ABI gives it to
       the broker, so it is freed here. */
    json_decref (verdict.errors);
    json_decref (verdict.payload);
    return rc;
}

int
ab_pipeline_run (ab_pipeline_t *self, const ab_filter_message_t *msg,
                 ab_filter_result_t *result)
{
    assert (msg);
    assert (result);
    ab_filter_message_t view = *msg;
    for (size_t i = 0; self && i < self->count; i++) {
        int rc = s_run_stage (self->stages[i], &view, result);
        if (rc != 0)
            return rc;
    }
    return 0;
}
