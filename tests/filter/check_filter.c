/*  check_filter - filter stages, the pipeline, plugins and the ABI */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "filter/ab_filter.h"
#include "filter/ab_pipeline.h"
#include "wire/ab_codes.h"
#include "ab_check.h"

/* A message view over a payload parsed from `text`. */
typedef struct {
    ab_filter_message_t view;
    json_t *payload;
    json_t *header;
    size_t sizes[2];
} s_msg_t;

static void
s_msg_init (s_msg_t *msg, const char *from, const char *text,
            size_t attachments, size_t size)
{
    memset (msg, 0, sizeof *msg);
    msg->payload = json_loads (text, JSON_DECODE_ANY, NULL);
    ck_assert_ptr_nonnull (msg->payload);
    msg->header = json_pack ("{s:s}", "type", "t.x");
    msg->sizes[0] = msg->sizes[1] = size;
    msg->view = (ab_filter_message_t){
        .type = "t.x",
        .version = 1,
        .from = from,
        .header = msg->header,
        .payload = msg->payload,
        .payload_bytes = text,
        .payload_size = strlen (text),
        .attachment_count = attachments,
        .attachment_sizes = msg->sizes,
    };
}

static void
s_msg_free (s_msg_t *msg)
{
    json_decref (msg->payload);
    json_decref (msg->header);
}

/* Builds a pipeline from YAML-ish JSON text; asserts it loads. */
static ab_pipeline_t *
s_pipeline (const char *json, const ab_filter_env_t *env)
{
    json_t *filters = json_loads (json, 0, NULL);
    ck_assert_ptr_nonnull (filters);
    ab_diag_t *diag = ab_diag_new ();
    ab_pipeline_t *pipeline = ab_pipeline_new_from_config (filters, env, diag);
    if (!pipeline)
        ab_diag_print (diag, stderr);
    ck_assert_ptr_nonnull (pipeline);
    ck_assert_uint_eq (ab_diag_count (diag), 0);
    ab_diag_destroy (&diag);
    json_decref (filters);
    return pipeline;
}

/* Loads a list that must fail; returns the diagnostics (the caller's). */
static ab_diag_t *
s_pipeline_fails (const char *json, const ab_filter_env_t *env)
{
    json_t *filters = json_loads (json, JSON_DECODE_ANY, NULL);
    ck_assert_ptr_nonnull (filters);
    ab_diag_t *diag = ab_diag_new ();
    ck_assert_ptr_null (ab_pipeline_new_from_config (filters, env, diag));
    ck_assert_uint_gt (ab_diag_count (diag), 0);
    json_decref (filters);
    return diag;
}

START_TEST (test_max_size)
{
    ab_pipeline_t *pipeline = s_pipeline ("[{\"name\":\"max_size\","
                                          "\"bytes\":100}]",
                                          NULL);
    ck_assert_uint_eq (ab_pipeline_size (pipeline), 1);
    s_msg_t msg;
    s_msg_init (&msg, "a", "{\"k\":1}", 2, 46); /* 7 + 92 = 99 */
    ab_filter_result_t result = AB_FILTER_RESULT_INIT;
    ck_assert_int_eq (ab_pipeline_run (pipeline, &msg.view, &result), 0);
    ck_assert (!result.rejected);
    ck_assert_ptr_null (result.payload);
    msg.sizes[1] = 48; /* 101 */
    ck_assert_int_eq (ab_pipeline_run (pipeline, &msg.view, &result),
                      AB_EREJECTED);
    ck_assert (result.rejected);
    ck_assert_str_eq (result.code, "too_large");
    ck_assert_str_eq (result.stage, "max_size");
    ck_assert_ptr_nonnull (strstr (result.message, "max_size: "));
    ck_assert_ptr_nonnull (strstr (result.message, "101 bytes"));
    ab_filter_result_clear (&result);
    ck_assert (!result.rejected);
    s_msg_free (&msg);
    ab_pipeline_destroy (&pipeline);
    ck_assert_ptr_null (pipeline);
    ab_pipeline_destroy (&pipeline);
}
END_TEST

static int64_t
s_fake_clock (void *arg)
{
    return *(int64_t *)arg;
}

START_TEST (test_rate_limit)
{
    int64_t now = 1000;
    ab_filter_env_t env = {.clock = s_fake_clock, .clock_arg = &now};
    ab_pipeline_t *pipeline =
        s_pipeline ("[{\"name\":\"rate_limit\",\"rate\":2,\"burst\":3}]", &env);
    s_msg_t a, b;
    s_msg_init (&a, "fast", "{}", 0, 0);
    s_msg_init (&b, "slow", "{}", 0, 0);
    ab_filter_result_t result = AB_FILTER_RESULT_INIT;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq (ab_pipeline_run (pipeline, &a.view, &result), 0);
    ck_assert_int_eq (ab_pipeline_run (pipeline, &a.view, &result),
                      AB_EREJECTED);
    ck_assert_str_eq (result.code, "overloaded");
    ck_assert_ptr_nonnull (strstr (result.message, "rate limited"));
    ck_assert_ptr_nonnull (strstr (result.message, "'fast'"));
    ab_filter_result_clear (&result);
    /* another agent has its own bucket */
    ck_assert_int_eq (ab_pipeline_run (pipeline, &b.view, &result), 0);
    /* 2 msgs/s: after 500 ms one more token, not two */
    now += 500;
    ck_assert_int_eq (ab_pipeline_run (pipeline, &a.view, &result), 0);
    ck_assert_int_eq (ab_pipeline_run (pipeline, &a.view, &result),
                      AB_EREJECTED);
    ab_filter_result_clear (&result);
    /* a long pause refills up to the burst only */
    now += 60000;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq (ab_pipeline_run (pipeline, &a.view, &result), 0);
    ck_assert_int_eq (ab_pipeline_run (pipeline, &a.view, &result),
                      AB_EREJECTED);
    ab_filter_result_clear (&result);
    s_msg_free (&a);
    s_msg_free (&b);
    ab_pipeline_destroy (&pipeline);
}
END_TEST

START_TEST (test_rate_limit_real_clock)
{
    ab_pipeline_t *pipeline =
        s_pipeline ("[{\"name\":\"rate_limit\",\"rate\":0.001}]", NULL);
    s_msg_t msg;
    s_msg_init (&msg, "a", "{}", 0, 0);
    ab_filter_result_t result = AB_FILTER_RESULT_INIT;
    /* default burst is max(1, rate): one message, then limited */
    ck_assert_int_eq (ab_pipeline_run (pipeline, &msg.view, &result), 0);
    ck_assert_int_eq (ab_pipeline_run (pipeline, &msg.view, &result),
                      AB_EREJECTED);
    ab_filter_result_clear (&result);
    s_msg_free (&msg);
    ab_pipeline_destroy (&pipeline);
}
END_TEST

START_TEST (test_config_errors_all_reported)
{
    ab_diag_t *diag = s_pipeline_fails (
        "[{\"name\":\"nope\"},"
        " {\"name\":\"max_size\"},"
        " {\"name\":\"max_size\",\"bytes\":-1},"
        " {\"name\":\"max_size\",\"bytes\":1,\"colour\":\"red\"},"
        " {\"name\":\"rate_limit\",\"rate\":0},"
        " {\"name\":\"rate_limit\",\"rate\":1,\"burst\":0},"
        " {\"name\":\"max_size\",\"plugin\":\"x.so\"},"
        " {\"bytes\":1},"
        " {\"name\":7},"
        " \"max_size\","
        " {\"name\":\"max_size\",\"bytes\":5}]",
        NULL);
    ck_assert_uint_eq (ab_diag_count (diag), 10);
    const char *expect[] = {"unknown filter 'nope'",
                            "option 'bytes' must be",
                            "option 'bytes' must be",
                            "unknown option 'colour'",
                            "option 'rate'",
                            "option 'burst'",
                            "exactly one of 'name'",
                            "exactly one of 'name'",
                            "'name' must be a non-empty string",
                            "must be a mapping"};
    for (size_t i = 0; i < 10; i++) {
        const char *text = ab_diag_text (diag, i);
        if (!strstr (text, expect[i]))
            ck_abort_msg ("diag %zu: '%s' lacks '%s'", i, text, expect[i]);
    }
    ck_assert_ptr_nonnull (strstr (ab_diag_text (diag, 0), "max_size"));
    ab_diag_destroy (&diag);
    diag = s_pipeline_fails ("{\"name\":\"max_size\"}", NULL);
    ck_assert_ptr_nonnull (strstr (ab_diag_text (diag, 0), "must be a list"));
    ab_diag_destroy (&diag);
    /* no list at all: an empty pipeline */
    ab_pipeline_t *pipeline = ab_pipeline_new_from_config (NULL, NULL, NULL);
    ck_assert_uint_eq (ab_pipeline_size (pipeline), 0);
    ab_pipeline_destroy (&pipeline);
}
END_TEST

static ab_filter_pos_t
s_locate (void *arg, const json_t *stage)
{
    return (ab_filter_pos_t){12, 5};
}

START_TEST (test_config_error_position)
{
    ab_filter_env_t env = {.file = "agentbusd.yaml", .locate = s_locate};
    ab_diag_t *diag = s_pipeline_fails ("[{\"name\":\"nope\"}]", &env);
    ck_assert_ptr_nonnull (
        strstr (ab_diag_text (diag, 0), "agentbusd.yaml:12:5: unknown filter"));
    ab_diag_destroy (&diag);
}
END_TEST

/* A stage built in code: behaviour chosen by `mode`, counting calls. */
typedef struct {
    const char *mode; /* what apply does */
    int calls;        /* how often apply ran */
    char seen[64];    /* the payload text it saw last */
} s_probe_t;

static int
s_probe_apply (void *state, const ab_filter_message_t *msg,
               ab_filter_verdict_t *verdict)
{
    s_probe_t *probe = state;
    probe->calls++;
    snprintf (probe->seen, sizeof probe->seen, "%.*s", (int)msg->payload_size,
              msg->payload_bytes);
    const char *mode = probe->mode;
    if (strcmp (mode, "fail") == 0)
        return -5;
    if (strcmp (mode, "rewrite") == 0) {
        verdict->action = AB_FILTER_REWRITE;
        verdict->payload = json_pack ("{s:i}", "rewritten", probe->calls);
    } else if (strcmp (mode, "rewrite-null") == 0)
        verdict->action = AB_FILTER_REWRITE;
    else if (strcmp (mode, "reject") == 0) {
        verdict->action = AB_FILTER_REJECT;
        verdict->code = "invalid";
        verdict->errors = json_pack ("[{s:s}]", "path", "/x");
        snprintf (verdict->message, sizeof verdict->message, "no x\nsecond");
    } else if (strcmp (mode, "bad-code") == 0) {
        verdict->action = AB_FILTER_REJECT;
        verdict->code = "teapot";
    } else if (strcmp (mode, "no-nul") == 0) {
        verdict->action = AB_FILTER_REJECT;
        verdict->errors = json_string ("not an array");
        memset (verdict->message, 'm', sizeof verdict->message);
    } else if (strcmp (mode, "bad-action") == 0)
        verdict->action = (ab_filter_action_t)42;
    else if (strcmp (mode, "pass-with-junk") == 0)
        verdict->payload = json_object (); /* ignored and freed */
    return 0;
}

static ab_filter_t *
s_probe (const char *name, s_probe_t *probe, const char *mode)
{
    static const ab_filter_ops_t ops = {s_probe_apply, NULL};
    memset (probe, 0, sizeof *probe);
    probe->mode = mode;
    ab_filter_t *stage = ab_filter_new (name, &ops, probe);
    ck_assert_ptr_nonnull (stage);
    ck_assert_str_eq (ab_filter_name (stage), name);
    return stage;
}

START_TEST (test_order_rewrite_and_first_reject)
{
    ab_pipeline_t *pipeline =
        s_pipeline ("[{\"name\":\"max_size\",\"bytes\":1000}]", NULL);
    s_probe_t schema, rewrite, watcher, rejecter, after;
    ab_filter_t *stage = s_probe ("watcher", &watcher, "pass");
    ck_assert_int_eq (ab_pipeline_append (pipeline, &stage), 0);
    ck_assert_ptr_null (stage);
    stage = s_probe ("rewrite", &rewrite, "rewrite");
    ck_assert_int_eq (ab_pipeline_prepend (pipeline, &stage), 0);
    stage = s_probe ("schema", &schema, "pass-with-junk");
    ck_assert_int_eq (ab_pipeline_prepend (pipeline, &stage), 0);
    ck_assert_uint_eq (ab_pipeline_size (pipeline), 4);

    s_msg_t msg;
    s_msg_init (&msg, "a", "{\"orig\":true}", 0, 0);
    ab_filter_result_t result = AB_FILTER_RESULT_INIT;
    ck_assert_int_eq (ab_pipeline_run (pipeline, &msg.view, &result), 0);
    ck_assert_str_eq (schema.seen, "{\"orig\":true}");
    ck_assert_str_eq (rewrite.seen, "{\"orig\":true}");
    ck_assert_str_eq (watcher.seen, "{\"rewritten\":1}"); /* later stage */
    ck_assert_str_eq (result.payload_text, "{\"rewritten\":1}");
    ck_assert_uint_eq (result.payload_size, 15);
    ck_assert_int_eq (
        json_integer_value (json_object_get (result.payload, "rewritten")), 1);
    ab_filter_result_clear (&result);

    /* a reject in the middle stops the pipeline */
    stage = s_probe ("rejecter", &rejecter, "reject");
    ck_assert_int_eq (ab_pipeline_append (pipeline, &stage), 0);
    stage = s_probe ("after", &after, "pass");
    ck_assert_int_eq (ab_pipeline_append (pipeline, &stage), 0);
    ck_assert_int_eq (ab_pipeline_run (pipeline, &msg.view, &result),
                      AB_EREJECTED);
    ck_assert_int_eq (rejecter.calls, 1);
    ck_assert_int_eq (after.calls, 0);
    ck_assert_str_eq (result.code, "invalid");
    ck_assert_str_eq (result.stage, "rejecter");
    ck_assert_str_eq (result.message, "rejecter: no x"); /* one line */
    ck_assert (json_is_array (result.errors));
    ab_filter_result_clear (&result);
    ck_assert_ptr_null (result.errors);
    s_msg_free (&msg);
    ab_pipeline_destroy (&pipeline);
}
END_TEST

START_TEST (test_misbehaving_stages_become_filter_rejects)
{
    const char *modes[] = {"fail", "rewrite-null", "bad-code", "no-nul",
                           "bad-action"};
    const char *expect[] = {"failed (error -5)", "without a payload",
                            "code filters may not use", "mmmm",
                            "unknown action 42"};
    s_msg_t msg;
    s_msg_init (&msg, "a", "[1,2]", 0, 0);
    for (size_t i = 0; i < 5; i++) {
        ab_pipeline_t *pipeline = ab_pipeline_new ();
        s_probe_t probe;
        ab_filter_t *stage = s_probe ("bad", &probe, modes[i]);
        ck_assert_int_eq (ab_pipeline_append (pipeline, &stage), 0);
        ab_filter_result_t result = AB_FILTER_RESULT_INIT;
        ck_assert_int_eq (ab_pipeline_run (pipeline, &msg.view, &result),
                          AB_EREJECTED);
        ck_assert_str_eq (result.code, "filter");
        ck_assert_str_eq (result.stage, "bad");
        if (!strstr (result.message, expect[i]))
            ck_abort_msg ("%s: '%s'", modes[i], result.message);
        ck_assert_uint_lt (strlen (result.message), AB_FILTER_MESSAGE_MAX);
        ck_assert_ptr_null (result.errors); /* a non-array is dropped */
        ab_filter_result_clear (&result);
        ab_pipeline_destroy (&pipeline);
    }
    s_msg_free (&msg);
    /* a NULL pipeline passes */
    ab_filter_result_t result = AB_FILTER_RESULT_INIT;
    ck_assert_int_eq (ab_pipeline_run (NULL, &msg.view, &result), 0);
    ck_assert (ab_filter_code_valid ("too_large"));
    ck_assert (!ab_filter_code_valid ("teapot"));
    ck_assert (!ab_filter_code_valid (NULL));
    /* the codes are the wire's table; a REJECT code a filter cannot mean
       is refused too */
    ck_assert_int_eq (ab_filter_code ("too_large"), AB_REJECT_TOO_LARGE);
    ck_assert_int_eq (ab_filter_code ("filter"), AB_REJECT_FILTER);
    ck_assert_int_eq (ab_filter_code ("duplicate"), -1);
    ck_assert (!ab_filter_code_valid (ab_reject_name (AB_REJECT_UNROUTABLE)));
}
END_TEST

/* The path of a libtool module built in the tree. */
static char *
s_module (const char *dir, const char *name)
{
    const char *builddir = getenv ("AB_BUILDDIR");
    char *path = NULL;
    ck_assert_int_ge (asprintf (&path, "%s/%s/.libs/%s",
                                builddir ? builddir : ".", dir, name),
                      0);
    return path;
}

START_TEST (test_redact_plugin)
{
    char *path = s_module ("contrib/filters", "redact.so");
    char *config = NULL;
    ck_assert_int_ge (
        asprintf (&config,
                  "[{\"plugin\":\"%s\",\"fields\":[\"password\",\"api_key\"]}]",
                  path),
        0);
    ab_pipeline_t *pipeline = s_pipeline (config, NULL);
    s_msg_t msg;
    s_msg_init (&msg, "a",
                "{\"user\":\"ann\",\"password\":\"hunter2\","
                "\"tools\":[{\"name\":\"s\",\"api_key\":{\"k\":1}}],"
                "\"deep\":{\"deeper\":{\"password\":null}}}",
                0, 0);
    ab_filter_result_t result = AB_FILTER_RESULT_INIT;
    ck_assert_int_eq (ab_pipeline_run (pipeline, &msg.view, &result), 0);
    ck_assert_ptr_nonnull (result.payload_text);
    json_t *expect =
        json_loads ("{\"user\":\"ann\",\"password\":\"[redacted]\","
                    "\"tools\":[{\"name\":\"s\","
                    "\"api_key\":\"[redacted]\"}],"
                    "\"deep\":{\"deeper\":{\"password\":"
                    "\"[redacted]\"}}}",
                    0, NULL);
    ck_assert (json_equal (result.payload, expect));
    json_t *reparsed = json_loads (result.payload_text, 0, NULL);
    ck_assert (json_equal (reparsed, expect));
    json_decref (reparsed);
    json_decref (expect);
    /* the original payload is untouched (read-only for plugins) */
    ck_assert_str_eq (
        json_string_value (json_object_get (msg.payload, "password")),
        "hunter2");
    ab_filter_result_clear (&result);
    s_msg_free (&msg);

    /* nothing to hide: pass, no rewrite */
    s_msg_init (&msg, "a", "{\"user\":\"ann\"}", 0, 0);
    ck_assert_int_eq (ab_pipeline_run (pipeline, &msg.view, &result), 0);
    ck_assert_ptr_null (result.payload);
    s_msg_free (&msg);
    ab_pipeline_destroy (&pipeline);
    free (config);
    free (path);
}
END_TEST

START_TEST (test_redact_relative_path_and_init_error)
{
    const char *builddir = getenv ("AB_BUILDDIR");
    ab_filter_env_t env = {.base_dir = builddir ? builddir : "."};
    ab_pipeline_t *pipeline = s_pipeline (
        "[{\"plugin\":\"contrib/filters/.libs/redact.so\",\"fields\":[\"x\"]}]",
        &env);
    ck_assert_uint_eq (ab_pipeline_size (pipeline), 1);
    ab_pipeline_destroy (&pipeline);
    ab_diag_t *diag = s_pipeline_fails (
        "[{\"plugin\":\"contrib/filters/.libs/redact.so\"}]", &env);
    const char *text = ab_diag_text (diag, 0);
    if (!strstr (text, "redact.so: init failed: option 'fields'"))
        ck_abort_msg ("got '%s'", text);
    ab_diag_destroy (&diag);
}
END_TEST

START_TEST (test_bad_abi_and_missing_plugin)
{
    char *path = s_module ("tests/filter", "filter_bad_abi.so");
    char *config = NULL;
    ck_assert_int_ge (asprintf (&config,
                                "[{\"plugin\":\"%s\"},"
                                " {\"plugin\":\"/no/such/filter.so\"}]",
                                path),
                      0);
    ab_diag_t *diag = s_pipeline_fails (config, NULL);
    ck_assert_uint_eq (ab_diag_count (diag), 2);
    const char *text = ab_diag_text (diag, 0);
    if (!strstr (text, path) || !strstr (text, "ABI version mismatch") ||
        !strstr (text, "version 99") || !strstr (text, "version 1"))
        ck_abort_msg ("got '%s'", text);
    text = ab_diag_text (diag, 1);
    if (!strstr (text, "/no/such/filter.so: cannot load"))
        ck_abort_msg ("got '%s'", text);
    ab_diag_destroy (&diag);
    free (config);
    free (path);
}
END_TEST

START_TEST (test_library_without_symbols)
{
    /* libabcore's tests link jansson: a real .so with no filter in it */
    ab_diag_t *diag =
        s_pipeline_fails ("[{\"plugin\":\"libjansson.so.4\"}]", NULL);
    const char *text = ab_diag_text (diag, 0);
    if (!strstr (text, "missing symbol ab_filter_version"))
        ck_abort_msg ("got '%s'", text);
    ab_diag_destroy (&diag);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("ab_filter");
    TCase *tc = tcase_create ("pipeline");
    tcase_add_test (tc, test_max_size);
    tcase_add_test (tc, test_rate_limit);
    tcase_add_test (tc, test_rate_limit_real_clock);
    tcase_add_test (tc, test_config_errors_all_reported);
    tcase_add_test (tc, test_config_error_position);
    tcase_add_test (tc, test_order_rewrite_and_first_reject);
    tcase_add_test (tc, test_misbehaving_stages_become_filter_rejects);
    suite_add_tcase (suite, tc);
    TCase *plugins = tcase_create ("plugins");
    tcase_add_test (plugins, test_redact_plugin);
    tcase_add_test (plugins, test_redact_relative_path_and_init_error);
    tcase_add_test (plugins, test_bad_abi_and_missing_plugin);
    tcase_add_test (plugins, test_library_without_symbols);
    suite_add_tcase (suite, plugins);
    return ab_check_run (suite);
}
