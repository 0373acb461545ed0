/*  =========================================================================
    ab_filter - filter stages and the pipeline that runs them

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    The pipeline is the one place that calls stage code, so it is where a
    misbehaving stage is contained: every verdict is checked (action,
    code, payload, errors array) and anything off the ABI becomes a
    reject with code "filter" naming the stage. Reject codes are mapped
    onto this file's static table so a result never points into a plugin
    that may be unloaded by a reload.
*/

#include <assert.h>
#include <dlfcn.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "filter/ab_filter.h"
#include "filter/ab_filter_builtin.h"

struct _ab_filter_t {
    char *name;          /* built-in name or plugin file name */
    ab_filter_ops_t ops; /* apply/destroy */
    void *state;         /* the stage's state; owned (ops.destroy) */
    void *library;       /* dlopen handle of a plugin, or NULL */
};

struct _ab_pipeline_t {
    ab_filter_t **stages; /* in order */
    size_t count;         /* stages in use */
    size_t size;          /* allocated */
};

/* The codes a filter may reject with (protocol §3 REJECT codes that a
   stage can mean); "filter" first, the default. */
static const char *const s_codes[] = {"filter", "too_large", "overloaded",
                                      "invalid", "malformed"};

/* The ABI versions this broker speaks, newest first. */
static const int s_abi_versions[] = {AB_FILTER_ABI_VERSION};

#define S_ERROR_MAX 256

static const char *
s_code_static (const char *code)
{
    for (size_t i = 0; code && i < sizeof s_codes / sizeof *s_codes; i++)
        if (strcmp (code, s_codes[i]) == 0)
            return s_codes[i];
    return NULL;
}

bool
ab_filter_code_valid (const char *code)
{
    return s_code_static (code) != NULL;
}

ab_filter_t *
ab_filter_new (const char *name, const ab_filter_ops_t *ops, void *state)
{
    assert (name);
    assert (ops && ops->apply);
    ab_filter_t *self = calloc (1, sizeof *self);
    if (self)
        self->name = strdup (name);
    if (!self || !self->name) {
        if (ops->destroy)
            ops->destroy (state);
        free (self);
        return NULL;
    }
    self->ops = *ops;
    self->state = state;
    return self;
}

void
ab_filter_destroy (ab_filter_t **self_p)
{
    assert (self_p);
    ab_filter_t *self = *self_p;
    if (!self)
        return;
    if (self->ops.destroy)
        self->ops.destroy (self->state);
    /* After cleanup: the plugin's code must still be mapped for it. */
    if (self->library)
        dlclose (self->library);
    free (self->name);
    free (self);
    *self_p = NULL;
}

const char *
ab_filter_name (const ab_filter_t *self)
{
    assert (self);
    return self->name;
}

/* Adds a diagnostic at the stage's position. */
static void s_report (const ab_filter_env_t *env, ab_diag_t *diag,
                      const json_t *node, const char *format, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
s_report (const ab_filter_env_t *env, ab_diag_t *diag, const json_t *node,
          const char *format, ...)
{
    ab_filter_pos_t pos = {0, 0};
    if (env && env->locate && node)
        pos = env->locate (env->locate_arg, node);
    va_list args;
    va_start (args, format);
    ab_diag_vadd (diag, env ? env->file : NULL, pos.line, pos.column, format,
                  args);
    va_end (args);
}

static ab_filter_t *
s_builtin_new (const json_t *stage, const char *name, const json_t *options,
               const ab_filter_env_t *env, ab_diag_t *diag)
{
    const ab_filter_builtin_t *builtin = ab_filter_builtin_find (name);
    if (!builtin) {
        char names[S_ERROR_MAX];
        ab_filter_builtin_names (names, sizeof names);
        s_report (env, diag, stage,
                  "unknown filter '%s' (built-in filters: %s; a plugin is "
                  "{plugin: path.so})",
                  name, names);
        return NULL;
    }
    char error[S_ERROR_MAX] = "";
    void *state = builtin->create (options, env, error, sizeof error);
    if (!state) {
        s_report (env, diag, stage, "filter '%s': %s", name, error);
        return NULL;
    }
    ab_filter_t *self = ab_filter_new (name, &builtin->ops, state);
    if (!self)
        s_report (env, diag, stage, "filter '%s': out of memory", name);
    return self;
}

/* The plugin's four entry points. */
typedef struct {
    ab_filter_version_fn *version;
    ab_filter_init_fn *init;
    ab_filter_apply_fn *apply;
    ab_filter_cleanup_fn *cleanup;
} s_entry_t;

/* Finds every entry point; names the first one missing. */
static const char *
s_plugin_symbols (void *library, s_entry_t *entry)
{
    struct {
        const char *name;
        void **slot;
    } table[] = {
        {AB_FILTER_SYMBOL_VERSION, (void **)&entry->version},
        {AB_FILTER_SYMBOL_INIT, (void **)&entry->init},
        {AB_FILTER_SYMBOL_APPLY, (void **)&entry->apply},
        {AB_FILTER_SYMBOL_CLEANUP, (void **)&entry->cleanup},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (!(*table[i].slot = dlsym (library, table[i].name)))
            return table[i].name;
    return NULL;
}

/* The version handshake; true when the plugin speaks one of ours. */
static bool
s_plugin_version_ok (const s_entry_t *entry, int *version_p)
{
    int count = (int)(sizeof s_abi_versions / sizeof *s_abi_versions);
    *version_p = entry->version (count, s_abi_versions);
    for (int i = 0; i < count; i++)
        if (*version_p == s_abi_versions[i])
            return true;
    return false;
}

/* Opens the library, checks its ABI and runs its init. */
static ab_filter_t *
s_plugin_open (const json_t *stage, const char *path, const char *name,
               const json_t *options, const ab_filter_env_t *env,
               ab_diag_t *diag)
{
    void *library = dlopen (path, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        s_report (env, diag, stage, "filter plugin %s: cannot load: %s", path,
                  dlerror ());
        return NULL;
    }
    s_entry_t entry;
    int version;
    char error[S_ERROR_MAX] = "";
    const char *missing = s_plugin_symbols (library, &entry);
    void *state = NULL;
    if (missing)
        s_report (env, diag, stage,
                  "filter plugin %s: missing symbol %s (not an agentbus "
                  "filter?)",
                  path, missing);
    else if (!s_plugin_version_ok (&entry, &version))
        s_report (env, diag, stage,
                  "filter plugin %s: filter ABI version mismatch: the plugin "
                  "uses version %d, this broker supports version %d",
                  path, version, AB_FILTER_ABI_VERSION);
    else if (!(state = entry.init (options, error, sizeof error))) {
        error[sizeof error - 1] = 0; /* the plugin's text, to be safe */
        s_report (env, diag, stage, "filter plugin %s: init failed: %s", path,
                  error[0] ? error : "(no reason given)");
    }
    if (!state) {
        dlclose (library);
        return NULL;
    }
    ab_filter_ops_t ops = {entry.apply, entry.cleanup};
    ab_filter_t *self = ab_filter_new (name, &ops, state);
    if (!self) {
        dlclose (library);
        s_report (env, diag, stage, "filter plugin %s: out of memory", path);
        return NULL;
    }
    self->library = library;
    return self;
}

static ab_filter_t *
s_plugin_new (const json_t *stage, const char *file, const json_t *options,
              const ab_filter_env_t *env, ab_diag_t *diag)
{
    char *path = NULL;
    if (file[0] != '/' && env && env->base_dir) {
        if (asprintf (&path, "%s/%s", env->base_dir, file) < 0)
            path = NULL;
    } else
        path = strdup (file);
    if (!path) {
        s_report (env, diag, stage, "filter plugin %s: out of memory", file);
        return NULL;
    }
    const char *slash = strrchr (file, '/');
    ab_filter_t *self = s_plugin_open (stage, path, slash ? slash + 1 : file,
                                       options, env, diag);
    free (path);
    return self;
}

ab_filter_t *
ab_filter_new_from_config (const json_t *stage, const ab_filter_env_t *env,
                           ab_diag_t *diag)
{
    if (!json_is_object (stage)) {
        s_report (env, diag, NULL,
                  "a filter stage must be a mapping: {name: ...} or "
                  "{plugin: path.so}");
        return NULL;
    }
    const json_t *name = json_object_get (stage, "name");
    const json_t *plugin = json_object_get (stage, "plugin");
    if ((name != NULL) == (plugin != NULL)) {
        s_report (env, diag, stage,
                  "a filter stage needs exactly one of 'name' (a built-in) "
                  "and 'plugin' (a .so file)");
        return NULL;
    }
    const json_t *which = name ? name : plugin;
    if (!json_is_string (which) || json_string_length (which) == 0) {
        s_report (env, diag, stage, "filter '%s' must be a non-empty string",
                  name ? "name" : "plugin");
        return NULL;
    }
    /* Options are the mapping without the key that chose the stage. */
    json_t *options = json_copy ((json_t *)stage);
    if (!options) {
        s_report (env, diag, stage, "out of memory");
        return NULL;
    }
    json_object_del (options, name ? "name" : "plugin");
    ab_filter_t *self = name ? s_builtin_new (stage, json_string_value (name),
                                              options, env, diag)
                             : s_plugin_new (stage, json_string_value (plugin),
                                             options, env, diag);
    json_decref (options);
    return self;
}

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
        s_report (env, diag, NULL, "'filters' must be a list of filter stages");
        return NULL;
    }
    ab_pipeline_t *self = ab_pipeline_new ();
    if (!self) {
        s_report (env, diag, filters, "out of memory");
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

/* Fills a reject result; the code must be one of s_codes. */
static int s_reject (ab_filter_result_t *result, const ab_filter_t *stage,
                     const char *code, const char *format, ...)
    __attribute__ ((format (printf, 4, 5)));

static int
s_reject (ab_filter_result_t *result, const ab_filter_t *stage,
          const char *code, const char *format, ...)
{
    result->rejected = true;
    result->code = s_code_static (code);
    assert (result->code);
    result->stage = stage->name;
    int used =
        snprintf (result->message, sizeof result->message, "%s: ", stage->name);
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
    const char *code = verdict->code ? verdict->code : "filter";
    if (!s_code_static (code))
        return s_reject (result, stage, "filter",
                         "rejected with a code filters may not use");
    /* The plugin's buffer may lack its NUL; one line only. */
    verdict->message[sizeof verdict->message - 1] = 0;
    verdict->message[strcspn (verdict->message, "\r\n")] = 0;
    if (verdict->message[0])
        s_reject (result, stage, code, "%s", verdict->message);
    else
        s_reject (result, stage, code, "rejected by filter %s", stage->name);
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
        return s_reject (result, stage, "filter",
                         "rewrote the message without a payload");
    char *text = json_dumps (verdict->payload, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return s_reject (result, stage, "filter",
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
    int rc = stage->ops.apply (stage->state, view, &verdict);
    if (rc != 0)
        rc = s_reject (result, stage, "filter", "failed (error %d)", rc);
    else if (verdict.action == AB_FILTER_REJECT)
        rc = s_take_reject (result, stage, &verdict);
    else if (verdict.action == AB_FILTER_REWRITE)
        rc = s_take_rewrite (result, stage, &verdict, view);
    else if (verdict.action != AB_FILTER_PASS)
        rc = s_reject (result, stage, "filter", "returned unknown action %d",
                       (int)verdict.action);
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
