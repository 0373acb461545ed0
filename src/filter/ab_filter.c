/*  =========================================================================
    ab_filter - one filter stage: built-in, plugin or built in code

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    A stage is made here and run by ab_pipeline, which checks its
    verdicts. A verdict's code is mapped onto ab_codes' static table
    (ab_filter_code), so a result never points into a plugin that may be
    unloaded by a reload.
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
#include "wire/ab_codes.h"

struct _ab_filter_t {
    char *name;          /* built-in name or plugin file name */
    ab_filter_ops_t ops; /* apply/destroy */
    void *state;         /* the stage's state; owned (ops.destroy) */
    void *library;       /* dlopen handle of a plugin, or NULL */
};

/* Which of ab_codes' REJECT codes a filter may reject with: those a stage
   can mean (protocol §3; the ABI's list in agentbus/filter.h), "filter"
   first, the default. Words are never spelled here. */
static const ab_reject_t s_filter_codes[] = {
    AB_REJECT_FILTER, AB_REJECT_TOO_LARGE, AB_REJECT_OVERLOADED,
    AB_REJECT_INVALID, AB_REJECT_MALFORMED};

/* The ABI versions this broker speaks, newest first. */
static const int s_abi_versions[] = {AB_FILTER_ABI_VERSION};

#define S_ERROR_MAX 256

int
ab_filter_code (const char *code)
{
    int found = ab_reject_code (code);
    size_t count = sizeof s_filter_codes / sizeof *s_filter_codes;
    for (size_t i = 0; found >= 0 && i < count; i++)
        if (s_filter_codes[i] == (ab_reject_t)found)
            return found;
    return -1;
}

bool
ab_filter_code_valid (const char *code)
{
    return ab_filter_code (code) >= 0;
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

int
ab_filter_run (ab_filter_t *self, const ab_filter_message_t *msg,
               ab_filter_verdict_t *verdict)
{
    assert (self && msg && verdict);
    return self->ops.apply (self->state, msg, verdict);
}

void
ab_filter_report (const ab_filter_env_t *env, ab_diag_t *diag,
                  const json_t *node, const char *format, ...)
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
        ab_filter_report (
            env, diag, stage,
            "unknown filter '%s' (built-in filters: %s; a plugin is "
            "{plugin: path.so})",
            name, names);
        return NULL;
    }
    char error[S_ERROR_MAX] = "";
    void *state = builtin->create (options, env, error, sizeof error);
    if (!state) {
        ab_filter_report (env, diag, stage, "filter '%s': %s", name, error);
        return NULL;
    }
    ab_filter_t *self = ab_filter_new (name, &builtin->ops, state);
    if (!self)
        ab_filter_report (env, diag, stage, "filter '%s': out of memory", name);
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
        ab_filter_report (env, diag, stage, "filter plugin %s: cannot load: %s",
                          path, dlerror ());
        return NULL;
    }
    s_entry_t entry;
    int version;
    char error[S_ERROR_MAX] = "";
    const char *missing = s_plugin_symbols (library, &entry);
    void *state = NULL;
    if (missing)
        ab_filter_report (
            env, diag, stage,
            "filter plugin %s: missing symbol %s (not an agentbus "
            "filter?)",
            path, missing);
    else if (!s_plugin_version_ok (&entry, &version))
        ab_filter_report (
            env, diag, stage,
            "filter plugin %s: filter ABI version mismatch: the plugin "
            "uses version %d, this broker supports version %d",
            path, version, AB_FILTER_ABI_VERSION);
    else if (!(state = entry.init (options, error, sizeof error))) {
        error[sizeof error - 1] = 0; /* the plugin's text, to be safe */
        ab_filter_report (env, diag, stage, "filter plugin %s: init failed: %s",
                          path, error[0] ? error : "(no reason given)");
    }
    if (!state) {
        dlclose (library);
        return NULL;
    }
    ab_filter_ops_t ops = {entry.apply, entry.cleanup};
    ab_filter_t *self = ab_filter_new (name, &ops, state);
    if (!self) {
        dlclose (library);
        ab_filter_report (env, diag, stage, "filter plugin %s: out of memory",
                          path);
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
        ab_filter_report (env, diag, stage, "filter plugin %s: out of memory",
                          file);
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
        ab_filter_report (env, diag, NULL,
                          "a filter stage must be a mapping: {name: ...} or "
                          "{plugin: path.so}");
        return NULL;
    }
    const json_t *name = json_object_get (stage, "name");
    const json_t *plugin = json_object_get (stage, "plugin");
    if ((name != NULL) == (plugin != NULL)) {
        ab_filter_report (
            env, diag, stage,
            "a filter stage needs exactly one of 'name' (a built-in) "
            "and 'plugin' (a .so file)");
        return NULL;
    }
    const json_t *which = name ? name : plugin;
    if (!json_is_string (which) || json_string_length (which) == 0) {
        ab_filter_report (env, diag, stage,
                          "filter '%s' must be a non-empty string",
                          name ? "name" : "plugin");
        return NULL;
    }
    /* Options are the mapping without the key that chose the stage. */
    json_t *options = json_copy ((json_t *)stage);
    if (!options) {
        ab_filter_report (env, diag, stage, "out of memory");
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
