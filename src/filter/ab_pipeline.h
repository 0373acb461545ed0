/*  =========================================================================
    ab_pipeline - the filter stages of a topology, run in order

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    A pipeline runs its stages (ab_filter_t) in order: the first reject
    wins, a rewrite replaces the payload for every later stage and for
    routing. It is the one place that calls stage code, so it is where a
    misbehaving stage is contained: every verdict is checked (action,
    code, payload, errors array) and anything off the ABI becomes a
    reject with code "filter" that names the stage; it never takes the
    broker down. Out of memory is an error returned (AB_ENOMEM, NULL from
    a constructor, or a "filter" reject while running), never an assert.
*/

#ifndef AB_PIPELINE_H_INCLUDED
#define AB_PIPELINE_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "agentbus/filter.h"
#include "common/ab_diag.h"
#include "filter/ab_filter.h"

/* The outcome of running a pipeline. Initialise with
   AB_FILTER_RESULT_INIT; free with ab_filter_result_clear. */
typedef struct {
    bool rejected;    /* true: answer REJECT */
    const char *code; /* REJECT code: ab_codes' static word, or NULL */
    char message[AB_FILTER_MESSAGE_MAX]; /* REJECT message, one line */
    json_t *errors;      /* REJECT `errors` array (owned) or NULL */
    const char *stage;   /* name of the rejecting stage (borrowed from
                            the pipeline) or NULL */
    json_t *payload;     /* owned: the rewritten payload, NULL if no
                            stage rewrote it */
    char *payload_text;  /* owned: payload serialised (compact JSON,
                            malloc'd, NUL-terminated), NULL if none */
    size_t payload_size; /* bytes in payload_text, without the NUL */
} ab_filter_result_t;

#define AB_FILTER_RESULT_INIT                                                  \
    {                                                                          \
        false, NULL, {0}, NULL, NULL, NULL, NULL, 0                            \
    }

/* Frees what a result owns and resets it to AB_FILTER_RESULT_INIT. */
void ab_filter_result_clear (ab_filter_result_t *result);

typedef struct _ab_pipeline_t ab_pipeline_t;

/* An empty pipeline (passes everything). NULL only when out of memory. */
ab_pipeline_t *ab_pipeline_new (void);

/* A pipeline from a `filters:` list (a JSON array; NULL = empty). On any
   error returns NULL and reports every bad entry into diag. */
ab_pipeline_t *ab_pipeline_new_from_config (const json_t *filters,
                                            const ab_filter_env_t *env,
                                            ab_diag_t *diag);

/* Destroys the pipeline and its stages; accepts NULL, nulls *self_p. */
void ab_pipeline_destroy (ab_pipeline_t **self_p);

/* Puts a stage first (the broker's schema stage) or last; the pipeline
   takes it and nulls *stage_p. Returns 0 or AB_ENOMEM (stage then
   destroyed). */
int ab_pipeline_prepend (ab_pipeline_t *self, ab_filter_t **stage_p);
int ab_pipeline_append (ab_pipeline_t *self, ab_filter_t **stage_p);

/* Number of stages. */
size_t ab_pipeline_size (const ab_pipeline_t *self);

/* Runs every stage over `msg` (borrowed; its payload fields are the
   original ones). Fills *result (which must be clear). Returns 0 when
   every stage passed or rewrote (result->payload/payload_text hold the
   final payload when some stage rewrote it, else NULL: use the
   original), or AB_EREJECTED when a stage rejected (result->code,
   message, stage, errors; a payload left from an earlier rewrite is to
   be ignored). A stage that fails (out of memory included) is a reject
   with code "filter". A NULL pipeline passes. */
int ab_pipeline_run (ab_pipeline_t *self, const ab_filter_message_t *msg,
                     ab_filter_result_t *result);

#endif
