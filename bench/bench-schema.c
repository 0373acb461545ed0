/*  =========================================================================
    bench-schema - validations per second of the compiled schema engine

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    bench/bench-schema [SECONDS]

    Three messages the broker sees (a ~300-byte chat message, a 4 KiB
    retrieval context, a tensor gradient header), each validated with and
    without parsing the JSON first, and, when built with valijson, the
    same through valijson for comparison. One thread; numbers vary with
    the machine, so they are printed, never checked.
*/

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agentbus.h"
#include "wire/ab_jsonscan.h"
#include "schema/ab_registry.h"

#ifdef HAVE_VALIJSON_VALIDATOR_HPP
double bench_valijson (const char *schema_text, const char *instance_text,
                       int parse, double seconds, int *valid_p);
#endif

/* One workload. */
typedef struct {
    const char *name;   /* as printed */
    const char *schema; /* JSON Schema (2020-12) */
    char *instance;     /* a valid instance (built at start) */
} s_work_t;

static const char *s_chat_schema =
    "{\"type\": \"object\", \"required\": [\"id\", \"role\", \"content\"], "
    "\"additionalProperties\": false, \"properties\": {"
    "\"id\": {\"type\": \"string\", \"pattern\": \"^[0-9a-f-]{36}$\"}, "
    "\"role\": {\"enum\": [\"user\", \"assistant\", \"system\"]}, "
    "\"content\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": "
    "4096}, \"ts\": {\"type\": \"integer\", \"minimum\": 0}, "
    "\"tags\": {\"type\": \"array\", \"maxItems\": 8, \"items\": {\"type\": "
    "\"string\"}}}}";

static const char *s_context_schema =
    "{\"type\": \"object\", \"required\": [\"query\", \"passages\"], "
    "\"additionalProperties\": false, \"properties\": {"
    "\"query\": {\"type\": \"string\", \"minLength\": 1}, "
    "\"passages\": {\"type\": \"array\", \"minItems\": 1, \"items\": {"
    "\"type\": \"object\", \"required\": [\"text\", \"score\"], "
    "\"properties\": {\"text\": {\"type\": \"string\"}, \"score\": {\"type\": "
    "\"number\", \"minimum\": 0, \"maximum\": 1}, \"source\": {\"type\": "
    "\"string\"}}}}}}";

static const char *s_tensor_schema =
    "{\"type\": \"object\", \"required\": [\"step\", \"worker\", \"grad\"], "
    "\"properties\": {\"step\": {\"type\": \"integer\", \"minimum\": 0}, "
    "\"worker\": {\"type\": \"string\"}, \"lr\": {\"type\": \"number\"}, "
    "\"grad\": {\"type\": \"object\", \"required\": [\"dtype\", \"shape\", "
    "\"frame\"], \"tensor\": {\"dtype\": [\"float32\", \"bfloat16\"], "
    "\"shape\": [1024, null]}}}}";

static char *
s_chat_instance (void)
{
    char *text = malloc (512);
    snprintf (text, 512,
              "{\"id\": \"1b4e28ba-2fa1-11d2-883f-0016d3cca427\", \"role\": "
              "\"user\", \"content\": \"Summarise the three passages about "
              "tidal energy, say which one is the most recent and quote its "
              "source and publication date in full.\", \"ts\": 1764014100, "
              "\"tags\": [\"rag\", "
              "\"energy\", \"summary\", \"long-form\", \"cited\"]}");
    return text;
}

static char *
s_context_instance (void)
{
    size_t size = 8192, used = 0;
    char *text = malloc (size);
    used += (size_t)snprintf (text, size,
                              "{\"query\": \"tidal energy "
                              "output\", \"passages\": [");
    for (int i = 0; i < 13; i++)
        used += (size_t)snprintf (
            text + used, size - used,
            "%s{\"text\": \"Passage %d. Tidal stream generators convert the "
            "kinetic energy of moving water into electricity; output is "
            "predictable years ahead because it follows the moon, unlike "
            "wind or sunlight. Capacity factors of 35 to 45 percent are "
            "reported for open-sea arrays.\", \"score\": 0.%d, \"source\": "
            "\"doc-%d\"}",
            i ? ", " : "", i, (13 - i) % 10, i);
    snprintf (text + used, size - used, "]}");
    return text;
}

static char *
s_tensor_instance (void)
{
    return strdup ("{\"step\": 1234, \"worker\": \"w-3\", \"lr\": 0.001, "
                   "\"grad\": {\"dtype\": \"float32\", \"shape\": [1024, "
                   "1024], \"frame\": 0}}");
}

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Validations per second; parse: each round parses the text first. */
static double
s_bench_ab (const ab_schema_t *schema, const char *text, int parse,
            double seconds, int *valid_p)
{
    json_t *parsed = json_loads (text, 0, NULL);
    long count = 0;
    int valid = 1;
    double start = s_now (), now = start;
    while (now - start < seconds) {
        for (int i = 0; i < 64; i++, count++) {
            /* the broker's loader (ab_jsonscan), not json_loads */
            json_t *doc =
                parse ? ab_jsonscan_load (text, strlen (text), NULL) : parsed;
            valid &= ab_schema_validate (schema, doc, NULL) == 0;
            if (parse)
                json_decref (doc);
        }
        now = s_now ();
    }
    json_decref (parsed);
    *valid_p = valid;
    return (double)count / (now - start);
}

static void
s_run (s_work_t *work, double seconds)
{
    ab_registry_t *registry = ab_registry_new (NULL);
    ab_diag_t *diag = ab_diag_new ();
    json_t *schema = json_loads (work->schema, 0, NULL);
    ab_registry_add (registry, schema, "bench.work", 1, NULL, diag);
    json_decref (schema);
    if (ab_registry_compile (registry, diag) != 0) {
        ab_diag_print (diag, stderr);
        exit (1);
    }
    const ab_schema_t *compiled =
        ab_registry_lookup (registry, "bench.work", 1);
    for (int parse = 1; parse >= 0; parse--) {
        int valid;
        double ab =
            s_bench_ab (compiled, work->instance, parse, seconds, &valid);
        printf ("%-22s %5zu B %-10s agentbus %10.0f/s%s", work->name,
                strlen (work->instance), parse ? "parse+val" : "validate", ab,
                valid ? "" : " (INVALID?)");
#ifdef HAVE_VALIJSON_VALIDATOR_HPP
        double vj = bench_valijson (work->schema, work->instance, parse,
                                    seconds, &valid);
        printf ("  valijson %10.0f/s%s  ratio %.1fx", vj,
                valid ? "" : " (INVALID?)", ab / vj);
#endif
        printf ("\n");
    }
    ab_diag_destroy (&diag);
    ab_registry_destroy (&registry);
}

int
main (int argc, char *argv[])
{
    double seconds = argc > 1 ? strtod (argv[1], NULL) : 1.0;
    if (!(seconds > 0 && seconds < 3600)) {
        fprintf (stderr, "usage: bench-schema [SECONDS]\n");
        return 2;
    }
    s_work_t works[] = {
        {"chat message", s_chat_schema, s_chat_instance ()},
        {"retrieval context", s_context_schema, s_context_instance ()},
        {"tensor gradient header", s_tensor_schema, s_tensor_instance ()},
    };
    for (size_t i = 0; i < sizeof works / sizeof works[0]; i++) {
        s_run (&works[i], seconds);
        free (works[i].instance);
    }
    return 0;
}
