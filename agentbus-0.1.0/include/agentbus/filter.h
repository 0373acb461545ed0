/*  =========================================================================
    agentbus/filter.h - the filter plugin ABI of agentbusd

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    A filter stage sees every published message (or, as an edge's stage,
    every copy for that edge) after schema validation and before routing,
    and answers pass, reject or rewrite. A plugin is a shared object that
    agentbusd dlopen()s for a `{plugin: path.so, ...options}` entry of a
    `filters:` list. It exports four functions, with C linkage and exactly
    these names (see docs/filters.md for a walk-through):

      int   ab_filter_version (int count, const int *versions);
      void *ab_filter_init    (const json_t *options, char *error,
                               size_t error_size);
      int   ab_filter_apply   (void *state, const ab_filter_message_t *msg,
                               ab_filter_verdict_t *verdict);
      void  ab_filter_cleanup (void *state);

    Rules of the ABI:
    1. Version first. The broker calls ab_filter_version with every ABI
       version it supports; the plugin returns the one it implements. A
       plugin that implements none of them returns its own version anyway
       (or -1); the broker then refuses to load it, naming the file and
       both versions. Nothing else is called before the handshake.
    2. One broker thread calls a plugin; calls never overlap. State
       belongs to the plugin; there is no global state required.
    3. Every pointer the broker passes is borrowed for the call only. A
       plugin must not free, modify or keep it (json_incref/json_deep_copy
       what it wants to keep).
    4. The plugin links the same jansson as the broker (libjansson.so.4).
    5. A plugin never crashes the broker on purpose: bad input is a
       reject. Whatever a plugin returns that breaks these rules (an
       error return, an unknown code, a rewrite without a payload) turns
       into a reject with code "filter" naming the stage.
    6. Adding fields at the end of the structs below, or a new action, is
       a new ABI version.
*/

#ifndef AGENTBUS_FILTER_H_INCLUDED
#define AGENTBUS_FILTER_H_INCLUDED

#include <jansson.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI described here. */
#define AB_FILTER_ABI_VERSION 1

/* A message as a stage sees it. Everything is borrowed and read-only,
   valid during one ab_filter_apply call. */
typedef struct {
    const char *type;          /* message type ("retrieval.context") */
    int version;               /* schema version it was validated against */
    const char *from;          /* sender agent name */
    const char *edge;          /* "from->to:type" for an edge's own stage; NULL
                                  for the broker-wide pipeline */
    const json_t *header;      /* the header object, as sent */
    const json_t *payload;     /* the parsed payload; after an earlier stage's
                                  rewrite, the rewritten one */
    const char *payload_bytes; /* the payload's JSON text (not
                                  NUL-terminated); after a rewrite, the
                                  re-serialised text */
    size_t payload_size;       /* bytes in payload_bytes */
    size_t attachment_count;   /* attachments (frames 4...) */
    const size_t *attachment_sizes;     /* [attachment_count] byte sizes */
    const void *const *attachment_data; /* [attachment_count] contents,
                                           read-only */
} ab_filter_message_t;

/* What a stage decided. */
typedef enum {
    AB_FILTER_PASS = 0,    /* let it through unchanged */
    AB_FILTER_REJECT = 1,  /* refuse it: REJECT to the sender */
    AB_FILTER_REWRITE = 2, /* replace the payload with verdict->payload */
} ab_filter_action_t;

/* Longest verdict message kept, including the terminating NUL. */
#define AB_FILTER_MESSAGE_MAX 256

/* The verdict. The broker zeroes it (action PASS) before each
   ab_filter_apply call; the plugin sets what applies. */
typedef struct {
    ab_filter_action_t action; /* pass, reject or rewrite */
    /* REJECT: "filter", "too_large", "overloaded", "invalid" or
       "malformed"; NULL means "filter". Borrowed: a string literal or a
       string that lives until cleanup. */
    const char *code;
    /* REJECT: one line for humans; when left empty the broker says
       "rejected by filter STAGE". */
    char message[AB_FILTER_MESSAGE_MAX];
    json_t *errors;  /* REJECT, optional: a JSON array of error objects
                        as in protocol §3; a NEW reference the broker takes
                        (and frees) whatever the action */
    json_t *payload; /* REWRITE: the new payload, a NEW reference the
                        broker takes; it re-serialises it and later stages
                        see it. Ignored (and freed) for other actions */
} ab_filter_verdict_t;

/* The handshake: `versions` lists `count` ABI versions the broker
   supports (borrowed). Returns the version the plugin implements. */
typedef int (ab_filter_version_fn) (int count, const int *versions);

/* Creates the stage's state from its options: the stage's mapping from
   the config without the `plugin` key (borrowed; an object, maybe
   empty). Returns the state (any non-NULL pointer), or NULL with a
   one-line reason written into error[error_size] (NUL-terminated). */
typedef void *(ab_filter_init_fn)(const json_t *options, char *error,
                                  size_t error_size);

/* Judges one message. Returns 0 with the verdict filled in, or a
   negative number when the plugin itself failed (the message is then
   rejected with code "filter"). */
typedef int (ab_filter_apply_fn) (void *state, const ab_filter_message_t *msg,
                                  ab_filter_verdict_t *verdict);

/* Frees the state. Called once, at shutdown or when a reload replaces the
   pipeline. */
typedef void (ab_filter_cleanup_fn) (void *state);

/* The symbol names the broker looks up. */
#define AB_FILTER_SYMBOL_VERSION "ab_filter_version"
#define AB_FILTER_SYMBOL_INIT "ab_filter_init"
#define AB_FILTER_SYMBOL_APPLY "ab_filter_apply"
#define AB_FILTER_SYMBOL_CLEANUP "ab_filter_cleanup"

/* Prototypes a plugin implements (declared here so the compiler checks
   the plugin's definitions against the ABI). */
ab_filter_version_fn ab_filter_version;
ab_filter_init_fn ab_filter_init;
ab_filter_apply_fn ab_filter_apply;
ab_filter_cleanup_fn ab_filter_cleanup;

#ifdef __cplusplus
}
#endif

#endif
