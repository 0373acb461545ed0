/*  =========================================================================
    ab_filter - filter stages and the pipeline that runs them

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    A stage (ab_filter_t) is a name, a table of operations and a state.
    Built-in stages (max_size, rate_limit), plugin stages (a dlopen'd .so,
    include/agentbus/filter.h) and stages built in code (the broker's
    `schema` stage) all sit behind the same ab_filter_ops_t, so the
    pipeline treats them alike. A pipeline runs its stages in order: the
    first reject wins, a rewrite replaces the payload for every later
    stage and for routing. Whatever a stage does wrong becomes a reject
    with code "filter" that names the stage; it never takes the broker
    down.
*/

#ifndef AB_FILTER_H_INCLUDED
#define AB_FILTER_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentbus/filter.h"
#include "common/ab_diag.h"

/* The operations of a stage; the same shape as a plugin's apply and
   cleanup. `destroy` may be NULL. */
typedef struct {
    ab_filter_apply_fn *apply;     /* judges one message */
    ab_filter_cleanup_fn *destroy; /* frees the state */
} ab_filter_ops_t;

/* A monotonic clock in milliseconds, for rate limits; injectable so tests
   control time. */
typedef int64_t (ab_filter_clock_fn) (void *arg);

/* Where a stage's config is written, for diagnostics: the broker passes
   a wrapper around ab_yaml_node_pos. */
typedef struct {
    int line;   /* 1-based, 0 = unknown */
    int column; /* 1-based, 0 = unknown */
} ab_filter_pos_t;
typedef ab_filter_pos_t (ab_filter_locate_fn) (void *arg, const json_t *stage);

/* What building stages from config needs from the broker. Every field
   may be 0/NULL. */
typedef struct {
    const char *file;            /* config file name, for diagnostics */
    const char *base_dir;        /* relative plugin paths start here;
                                    NULL = the current directory */
    ab_filter_clock_fn *clock;   /* NULL = CLOCK_MONOTONIC */
    void *clock_arg;             /* passed to clock */
    ab_filter_locate_fn *locate; /* positions of stage mappings */
    void *locate_arg;            /* passed to locate */
} ab_filter_env_t;

typedef struct _ab_filter_t ab_filter_t;

/* A stage built in code. Takes `state` (ops->destroy frees it with the
   stage). `name` is copied. Returns NULL when out of memory (state then
   destroyed). */
ab_filter_t *ab_filter_new (const char *name, const ab_filter_ops_t *ops,
                            void *state);

/* A stage from one `filters:` entry: `{name: BUILTIN, ...}` or
   `{plugin: PATH.so, ...}`. On error returns NULL and adds a diagnostic
   (file, position, what is wrong: unknown built-in, bad option, dlopen
   failure, missing symbol, ABI version mismatch naming the file and both
   versions, the plugin's init message). */
ab_filter_t *ab_filter_new_from_config (const json_t *stage,
                                        const ab_filter_env_t *env,
                                        ab_diag_t *diag);

/* Destroys the stage (cleanup, then dlclose for plugins); accepts NULL
   and nulls the caller's pointer. */
void ab_filter_destroy (ab_filter_t **self_p);

/* The stage's name: the built-in's name, or the plugin's file name. */
const char *ab_filter_name (const ab_filter_t *self);

/* The outcome of running a pipeline. Initialise with
   AB_FILTER_RESULT_INIT; free with ab_filter_result_clear. */
typedef struct {
    bool rejected;    /* true: answer REJECT */
    const char *code; /* REJECT code (static string) or NULL */
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

/* True when `code` may appear in a filter's REJECT: "filter",
   "too_large", "overloaded", "invalid", "malformed". */
bool ab_filter_code_valid (const char *code);

#endif
