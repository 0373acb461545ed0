/*  =========================================================================
    agentbusd - the agentbus broker daemon

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Parses flags and the config file, runs the ab_broker actor in the
    foreground. Signals arrive on a signalfd (blocked in every thread), so
    there is no handler and no global flag: SIGTERM/SIGINT drain and exit
    0, SIGHUP reloads the topology and its schemas.

    --check-config loads the configuration, the topology it names, its
    schemas and filter stages as a start would, prints every problem as
    FILE:LINE:COL: message and exits 0 or 1, binding and creating nothing.
    --list-options (for the man page and conf/ tests) prints the key table:
    name, type and compiled default, one key a line.
*/

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "agentbus.h"
#include "broker/ab_broker.h"
#include "common/ab_diag.h"
#include "common/ab_log.h"
#include "store/ab_store_lmdb.h"
#include "common/ab_yaml.h"
#include "filter/ab_filter.h"
#include "filter/ab_pipeline.h"
#include "topology/ab_topology.h"
#include "topology/ab_topology_dot.h"

/* The configuration --check-config reads when given neither --config nor
   --topology. */
#ifndef AB_SYSCONFDIR
#define AB_SYSCONFDIR "/etc/agentbus"
#endif
#define S_DEFAULT_CONFIG AB_SYSCONFDIR "/agentbusd.yaml"

/* Everything the command line and the config file decide. */
typedef struct {
    char *config;              /* --config file, or NULL */
    char *endpoint;            /* agent endpoint */
    char *topology;            /* topology file */
    char *data_dir;            /* durable state; NULL = none */
    int64_t heartbeat_ms;      /* 0 = the default */
    int64_t max_message_bytes; /* 0 = the default */
    bool durable;              /* edges' default */
    int64_t sync[2];           /* ab_store_sync_t and batch_ms */
    int64_t map_size;          /* LMDB map size; 0 = the default */
    int64_t memory_limit;      /* frame bytes per store; 0 = none */
    int64_t check_threads;     /* payload-checking threads; -1 = auto */
    char *admin_endpoint;      /* admin socket, or NULL */
    json_t *filters;           /* the pipeline (owned) or NULL */
    ab_log_level_t log_level;  /* threshold */
    bool verbose;              /* --verbose: debug */
    bool check_config;         /* --check-config: load, report, exit */
} s_options_t;

/* What a key's value is, and so how it is checked and stored. */
typedef enum {
    S_STRING, /* text, as written */
    S_PATH,   /* a path, relative to the config file's folder */
    S_INT,    /* an integer in [min, max] */
    S_BOOL,   /* true or false */
    S_LIST,   /* a list, kept as JSON */
    S_LEVEL,  /* a log level name */
    S_SYNC,   /* always, never, or {batch_ms: N} */
} s_key_type_t;

/* The names of s_key_type_t, as --list-options prints them. */
static const char *s_key_type_names[] = {
    "string", "path", "integer", "boolean", "list", "level", "sync"};
_Static_assert(sizeof s_key_type_names / sizeof s_key_type_names[0] ==
                   S_SYNC + 1,
               "s_key_type_names must name every s_key_type_t");

/* The keys of agentbusd.yaml: where each goes in s_options_t, and the
   default a key has when it is absent. */
static const struct {
    const char *name;     /* key */
    s_key_type_t type;    /* value type */
    size_t offset;        /* field in s_options_t */
    int64_t min, max;     /* integers: allowed range */
    const char *fallback; /* the default, as YAML (NULL: none, the key
                             is off; integers: see fallback_int) */
    int64_t fallback_int; /* S_INT with fallback NULL: the default, or
                             -1 for none */
} s_keys[] = {
    {"endpoint", S_STRING, offsetof (s_options_t, endpoint), 0, 0,
     AB_BROKER_ENDPOINT, 0},
    {"topology", S_PATH, offsetof (s_options_t, topology), 0, 0, NULL, 0},
    {"data_dir", S_PATH, offsetof (s_options_t, data_dir), 0, 0, NULL, 0},
    {"heartbeat_ms", S_INT, offsetof (s_options_t, heartbeat_ms), 1,
     3600 * 1000, NULL, AB_BROKER_HEARTBEAT_MS},
    {"max_message_bytes", S_INT, offsetof (s_options_t, max_message_bytes), 64,
     (int64_t)4 * 1024 * 1024 * 1024, NULL, AB_BROKER_MAX_MESSAGE_BYTES},
    {"durable", S_BOOL, offsetof (s_options_t, durable), 0, 0, "false", 0},
    {"filters", S_LIST, offsetof (s_options_t, filters), 0, 0, "[]", 0},
    {"log_level", S_LEVEL, offsetof (s_options_t, log_level), 0, 0, "info", 0},
    {"sync", S_SYNC, offsetof (s_options_t, sync), 1, 60 * 1000, "always", 0},
    {"map_size", S_INT, offsetof (s_options_t, map_size), 1024 * 1024,
     (int64_t)1 << 40, NULL, (int64_t)AB_STORE_LMDB_MAP_SIZE_DEFAULT},
    {"memory_limit", S_INT, offsetof (s_options_t, memory_limit), 0,
     (int64_t)1 << 40, NULL, 0},
    {"admin_endpoint", S_STRING, offsetof (s_options_t, admin_endpoint), 0, 0,
     NULL, 0},
    {"check_threads", S_INT, offsetof (s_options_t, check_threads), 0, 64, NULL,
     -1},
};
#define S_KEY_COUNT (sizeof s_keys / sizeof s_keys[0])

/* The words of `sync:`, by ab_store_sync_t (batch is written as
   {batch_ms: N}). */
static const char *s_sync_words[] = {"always", NULL, "never"};

static void
s_set_string (char **field, const char *value)
{
    free (*field);
    *field = value ? strdup (value) : NULL;
}

/* A path from the config file, relative to the file's folder. */
static char *
s_relative (const char *config, const char *path)
{
    if (path[0] == '/')
        return strdup (path);
    char *copy = strdup (config);
    char *joined = copy ? zsys_sprintf ("%s/%s", dirname (copy), path) : NULL;
    free (copy);
    return joined;
}

/* Stores key `key`'s value (already checked) into the options. */
static void
s_apply_key (s_options_t *options, int key, json_t *value, const char *file)
{
    void *field = (char *)options + s_keys[key].offset;
    switch (s_keys[key].type) {
    case S_STRING:
        s_set_string (field, json_string_value (value));
        break;
    case S_PATH:
        free (*(char **)field);
        *(char **)field = s_relative (file, json_string_value (value));
        break;
    case S_INT:
        *(int64_t *)field = json_integer_value (value);
        break;
    case S_BOOL:
        *(bool *)field = json_is_true (value);
        break;
    case S_LIST:
        json_decref (*(json_t **)field);
        *(json_t **)field = json_incref (value);
        break;
    case S_LEVEL:
        ab_log_level_from_name (json_string_value (value), field);
        break;
    case S_SYNC: {
        int64_t *sync = field;
        const char *word = json_string_value (value);
        sync[0] = AB_STORE_SYNC_BATCH;
        sync[1] = json_integer_value (json_object_get (value, "batch_ms"));
        for (int i = 0; word && i < 3; i++)
            if (s_sync_words[i] && streq (s_sync_words[i], word))
                sync[0] = i;
        break;
    }
    }
}

/* `sync:` is always, never or {batch_ms: N} with N in the key's range. */
static bool
s_sync_valid (int key, json_t *value)
{
    const char *word = json_string_value (value);
    if (word)
        return streq (word, "always") || streq (word, "never");
    json_t *ms = json_object_get (value, "batch_ms");
    return json_is_object (value) && json_object_size (value) == 1 &&
           json_is_integer (ms) && json_integer_value (ms) >= s_keys[key].min &&
           json_integer_value (ms) <= s_keys[key].max;
}

static int
s_check_value (int key, json_t *value, const char *file, ab_pos_t pos,
               ab_diag_t *diag)
{
    const char *name = s_keys[key].name;
    switch (s_keys[key].type) {
    case S_STRING:
    case S_PATH:
        if (json_is_string (value))
            return 0;
        ab_diag_add (diag, file, pos.line, pos.column, "%s must be a string",
                     name);
        return -1;
    case S_LEVEL: {
        ab_log_level_t level;
        if (json_is_string (value) &&
            ab_log_level_from_name (json_string_value (value), &level) == 0)
            return 0;
        ab_diag_add (diag, file, pos.line, pos.column,
                     "%s must be error, warning, info or debug", name);
        return -1;
    }
    case S_BOOL:
        if (json_is_boolean (value))
            return 0;
        ab_diag_add (diag, file, pos.line, pos.column,
                     "%s must be true or false", name);
        return -1;
    case S_LIST:
        if (json_is_array (value))
            return 0;
        ab_diag_add (diag, file, pos.line, pos.column, "%s must be a list",
                     name);
        return -1;
    case S_SYNC:
        if (s_sync_valid (key, value))
            return 0;
        ab_diag_add (diag, file, pos.line, pos.column,
                     "%s must be always, never or {batch_ms: N} with N from "
                     "%" PRId64 " to %" PRId64,
                     name, s_keys[key].min, s_keys[key].max);
        return -1;
    case S_INT:
        if (json_is_integer (value) &&
            json_integer_value (value) >= s_keys[key].min &&
            json_integer_value (value) <= s_keys[key].max)
            return 0;
        ab_diag_add (diag, file, pos.line, pos.column,
                     "%s must be an integer from %" PRId64 " to %" PRId64, name,
                     s_keys[key].min, s_keys[key].max);
        return -1;
    }
    return -1;
}

/* Reads agentbusd.yaml; every problem goes to diag. Returns 0 or -1. */
static int
s_load_config (s_options_t *options, const char *file, ab_diag_t *diag)
{
    ab_yaml_t *yaml = ab_yaml_load_file (file, diag);
    if (!yaml)
        return -1;
    json_t *root = ab_yaml_root (yaml);
    int rc = 0;
    if (!json_is_object (root) && !json_is_null (root)) {
        ab_pos_t pos = ab_yaml_root_pos (yaml);
        ab_diag_add (diag, file, pos.line, pos.column,
                     "the configuration must be a mapping");
        rc = -1;
    }
    const char *key;
    json_t *value;
    json_object_foreach (json_is_object (root) ? root : NULL, key, value)
    {
        size_t i = 0, count = S_KEY_COUNT;
        while (i < count && !streq (s_keys[i].name, key))
            i++;
        ab_pos_t pos = ab_yaml_value_pos (yaml, root, key);
        if (i == count) {
            pos = ab_yaml_key_pos (yaml, root, key);
            ab_diag_add (diag, file, pos.line, pos.column, "unknown key '%s'",
                         key);
            rc = -1;
        } else if (s_check_value ((int)i, value, file, pos, diag))
            rc = -1;
        else
            s_apply_key (options, (int)i, value, file);
    }
    ab_yaml_destroy (&yaml);
    return rc;
}

static void
s_usage (FILE *stream)
{
    fprintf (stream,
             "usage: agentbusd [--config F] [--topology F] [--endpoint EP]\n"
             "                 [--data-dir D] [--verbose] [--version]\n"
             "       agentbusd --check-config [--config F] [--topology F]\n");
}

/* --list-options: every key of agentbusd.yaml, its type and its
   default (a YAML value, or `-` when the key is off by default), one a
   line, tab-separated. */
static void
s_list_options (void)
{
    for (size_t i = 0; i < S_KEY_COUNT; i++) {
        printf ("%s\t%s\t", s_keys[i].name, s_key_type_names[s_keys[i].type]);
        if (s_keys[i].fallback)
            printf ("%s\n", s_keys[i].fallback);
        else if (s_keys[i].type == S_INT && s_keys[i].fallback_int >= 0)
            printf ("%" PRId64 "\n", s_keys[i].fallback_int);
        else
            printf ("-\n");
    }
}

/* The command line, as given. */
typedef struct {
    const char *config;   /* --config */
    const char *topology; /* --topology */
    const char *endpoint; /* --endpoint */
    const char *data_dir; /* --data-dir */
    bool verbose;         /* --verbose */
    bool check_config;    /* --check-config: load, report, exit */
} s_flags_t;

/* Reads the flags. Returns 0; 2 for a usage error; -1 when --help or
   --version was answered (exit 0). */
static int
s_read_flags (int argc, char *argv[], s_flags_t *flags)
{
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'},
        {"topology", required_argument, NULL, 't'},
        {"endpoint", required_argument, NULL, 'e'},
        {"data-dir", required_argument, NULL, 'd'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"check-config", no_argument, NULL, 'C'},
        {"list-options", no_argument, NULL, 'L'},
        {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long (argc, argv, "c:t:e:d:vhV", longs, NULL)) != -1)
        switch (opt) {
        case 'c':
            flags->config = optarg;
            break;
        case 't':
            flags->topology = optarg;
            break;
        case 'e':
            flags->endpoint = optarg;
            break;
        case 'd':
            flags->data_dir = optarg;
            break;
        case 'v':
            flags->verbose = true;
            break;
        case 'h':
            s_usage (stdout);
            return -1;
        case 'V':
            printf ("agentbusd %s (protocol %s)\n", PACKAGE_VERSION,
                    AB_PROTOCOL_SIGNATURE);
            return -1;
        case 'C':
            flags->check_config = true;
            break;
        case 'L':
            s_list_options ();
            return -1;
        default:
            s_usage (stderr);
            return 2;
        }
    if (optind < argc) {
        s_usage (stderr);
        return 2;
    }
    return 0;
}

/* Creates the folders above data_dir; the store makes data_dir itself
   (mode 0700) and refuses one that holds something else. */
static int
s_data_dir_parent (const char *data_dir, ab_diag_t *diag)
{
    char *copy = data_dir ? strdup (data_dir) : NULL;
    int rc = copy && zsys_dir_create ("%s", dirname (copy)) ? 1 : 0;
    if (rc)
        ab_diag_add (diag, data_dir, 0, 0,
                     "cannot create the folder of the data_dir: %s",
                     strerror (errno));
    free (copy);
    return rc;
}

/* Flags override the config file, so the file is read first. Returns 0,
   or the exit status for a usage or configuration error (-1: answered,
   exit 0). */
static int
s_parse (int argc, char *argv[], s_options_t *options, ab_diag_t *diag)
{
    s_flags_t flags = {NULL, NULL, NULL, NULL, false, false};
    int rc = s_read_flags (argc, argv, &flags);
    if (rc)
        return rc;
    options->verbose = flags.verbose;
    options->check_config = flags.check_config;
    if (flags.check_config && !flags.config && !flags.topology)
        flags.config = S_DEFAULT_CONFIG;
    if (flags.config) {
        s_set_string (&options->config, flags.config);
        /* --check-config goes on to the topology, to report it all */
        if (s_load_config (options, flags.config, diag) == -1 &&
            !flags.check_config)
            return 1;
    }
    if (flags.topology)
        s_set_string (&options->topology, flags.topology);
    if (flags.endpoint)
        s_set_string (&options->endpoint, flags.endpoint);
    if (flags.data_dir)
        s_set_string (&options->data_dir, flags.data_dir);
    if (!options->topology) {
        ab_diag_add (diag, flags.config ? flags.config : "agentbusd", 0, 0,
                     "no topology: give --topology or `topology:` in the "
                     "configuration");
        return 1;
    }
    if (flags.check_config)
        return ab_diag_count (diag) ? 1 : 0;
    return s_data_dir_parent (options->data_dir, diag);
}

/* Where a `filters:` stage of agentbusd.yaml is written (ab_filter's
   locate callback; `arg` is the file's ab_yaml_t). */
static ab_filter_pos_t
s_locate_stage (void *arg, const json_t *stage)
{
    ab_pos_t pos = ab_yaml_node_pos (arg, stage);
    return (ab_filter_pos_t){pos.line, pos.column};
}

/* --check-config, after the configuration was read (problems in diag):
   loads the topology and its schemas, checks durable edges against
   data_dir and builds every filter stage, as ab_broker_new would, but
   opens no store and binds nothing. Prints every problem on stderr, or
   a summary on stdout. Returns the exit status. */
static int
s_check_config (const s_options_t *options, ab_diag_t *diag)
{
    ab_topology_t *topology =
        options->topology ? ab_topology_load (options->topology, NULL, diag)
                          : NULL;
    for (size_t i = 0; topology && i < ab_topology_edge_count (topology); i++) {
        const ab_edge_t *edge = ab_topology_edge (topology, i);
        bool durable = edge->durable < 0 ? options->durable : edge->durable;
        if (durable && !options->data_dir)
            ab_diag_add (diag, options->topology, edge->line, edge->column,
                         "durable edge %s -> %s needs a data_dir", edge->from,
                         edge->to);
        if (edge->filters) {
            ab_filter_env_t env = {.file = options->topology};
            ab_pipeline_t *stages =
                ab_pipeline_new_from_config (edge->filters, &env, diag);
            ab_pipeline_destroy (&stages);
        }
    }
    /* the broker-wide pipeline, as the broker builds it: a `{name:
       schema}` entry only sets format_assert. Read again from the file,
       so that a bad stage is reported at its line. */
    ab_diag_t *again = ab_diag_new ();
    ab_yaml_t *yaml =
        options->config ? ab_yaml_load_file (options->config, again) : NULL;
    ab_diag_destroy (&again);
    json_t *filters = options->filters;
    if (yaml &&
        json_is_array (json_object_get (ab_yaml_root (yaml), "filters")))
        filters = json_object_get (ab_yaml_root (yaml), "filters");
    json_t *stages = json_array ();
    size_t index;
    json_t *stage;
    json_array_foreach (filters, index, stage)
    {
        const char *name = json_string_value (json_object_get (stage, "name"));
        if (!name || !streq (name, "schema"))
            json_array_append (stages, stage);
    }
    ab_filter_env_t env = {.file = options->config,
                           .locate = yaml ? s_locate_stage : NULL,
                           .locate_arg = yaml};
    ab_pipeline_t *pipeline = ab_pipeline_new_from_config (stages, &env, diag);
    ab_pipeline_destroy (&pipeline);
    json_decref (stages);
    ab_yaml_destroy (&yaml);
    int status = topology && ab_diag_count (diag) == 0 ? 0 : 1;
    ab_diag_print (diag, stderr);
    if (status == 0) {
        char *summary = ab_topology_summary (topology);
        printf ("%s: configuration OK; topology %s\n",
                options->config ? options->config : options->topology,
                summary ? summary : ab_topology_id (topology));
        free (summary);
    } else if (ab_diag_count (diag) == 0)
        fprintf (stderr, "%s: cannot load the topology\n", options->topology);
    ab_topology_unref (&topology);
    return status;
}

/* Tells systemd (Type=notify) the daemon's state: a no-op without
   NOTIFY_SOCKET, or when built without libsystemd. */
static void
s_notify (const char *state)
{
#ifdef HAVE_LIBSYSTEMD
    sd_notify (0, state);
#else
    (void)state;
#endif
}

/* Blocks the signals we handle in every thread (the actor inherits the
   mask) and returns a signalfd for them. */
static int
s_signal_fd (void)
{
    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGTERM);
    sigaddset (&set, SIGINT);
    sigaddset (&set, SIGHUP);
    if (pthread_sigmask (SIG_BLOCK, &set, NULL))
        return -1;
    return signalfd (-1, &set, SFD_CLOEXEC);
}

static void
s_reload (zactor_t *actor, ab_log_t *log)
{
    zstr_send (actor, "RELOAD");
    char *status = zstr_recv (actor);
    char *lines = zstr_recv (actor);
    if (status && streq (status, "OK"))
        ab_log_printf (log, AB_LOG_INFO, "SIGHUP: topology reloaded");
    else
        ab_log_printf (log, AB_LOG_ERROR,
                       "SIGHUP: reload failed, the old topology stays:\n%s",
                       lines ? lines : "");
    zstr_free (&status);
    zstr_free (&lines);
}

/* Waits for signals until SIGTERM or SIGINT. */
static void
s_serve (zactor_t *actor, int signals, ab_log_t *log)
{
    zmq_pollitem_t item = {NULL, signals, ZMQ_POLLIN, 0};
    while (zmq_poll (&item, 1, -1) >= 0 || errno == EINTR) {
        struct signalfd_siginfo info;
        if (!(item.revents & ZMQ_POLLIN) ||
            read (signals, &info, sizeof info) != sizeof info)
            continue;
        if (info.ssi_signo == SIGHUP) {
            s_reload (actor, log);
            continue;
        }
        ab_log_printf (log, AB_LOG_INFO, "%s: draining and stopping",
                       strsignal ((int)info.ssi_signo));
        s_notify ("STOPPING=1");
        return;
    }
}

static void
s_options_free (s_options_t *options)
{
    free (options->config);
    free (options->endpoint);
    free (options->topology);
    free (options->data_dir);
    free (options->admin_endpoint);
    json_decref (options->filters);
}

/* Builds the broker from the options and serves until SIGTERM/SIGINT.
   Returns the exit status. */
static int
s_run (s_options_t *options, int signals, ab_log_t *log, ab_diag_t *diag)
{
    ab_broker_config_t config = {
        .endpoint = options->endpoint,
        .topology = options->topology,
        .heartbeat_ms = options->heartbeat_ms,
        .max_message_bytes = (size_t)options->max_message_bytes,
        .durable = options->durable,
        .data_dir = options->data_dir,
        .sync = (int)options->sync[0],
        .sync_ms = (int)options->sync[1],
        .map_size = (size_t)options->map_size,
        .memory_limit = (size_t)options->memory_limit,
        .check_threads = options->check_threads < 0 ? 0
                         : options->check_threads ? (int)options->check_threads
                                                  : -1,
        .admin_endpoint = options->admin_endpoint,
        .filters = options->filters,
        .config_file = options->config,
        .log = log};
    ab_broker_t *broker = ab_broker_new (&config, diag);
    ab_diag_print (diag, stderr);
    if (!broker)
        return 1;
    zactor_t *actor = zactor_new (ab_broker_actor, broker);
    /* bound and recovered: ab_broker_new did both */
    char *status = zsys_sprintf ("READY=1\nSTATUS=serving on %s",
                                 ab_broker_endpoint (broker));
    s_notify (status ? status : "READY=1");
    zstr_free (&status);
    s_serve (actor, signals, log);
    zactor_destroy (&actor);
    ab_broker_destroy (&broker);
    return 0;
}

int
main (int argc, char *argv[])
{
    zsys_handler_set (NULL);
    /* before any thread exists (libzmq starts its I/O threads with the
       first socket): threads inherit the mask, so only the signalfd ever
       sees these signals */
    int signals = s_signal_fd ();
    s_options_t options = {.log_level = AB_LOG_INFO, .check_threads = -1};
    ab_diag_t *diag = ab_diag_new ();
    int status = s_parse (argc, argv, &options, diag);
    if (options.check_config && status >= 0 && options.topology) {
        status = s_check_config (&options, diag);
        ab_diag_clear (diag);
    }
    if (status == 0 && signals < 0) {
        ab_diag_add (diag, "agentbusd", 0, 0, "signalfd: %s", strerror (errno));
        status = 1;
    }
    ab_log_t *log = ab_log_new (
        stderr, options.verbose ? AB_LOG_DEBUG : options.log_level,
        getenv ("JOURNAL_STREAM") ? AB_LOG_UNSTAMPED : AB_LOG_STAMPED);
    if (status == 0 && !options.check_config)
        status = s_run (&options, signals, log, diag);
    else
        ab_diag_print (diag, stderr);
    if (signals >= 0)
        close (signals);
    ab_log_destroy (&log);
    ab_diag_destroy (&diag);
    s_options_free (&options);
    return status < 0 ? 0 : status; /* -1: --help or --version answered */
}
