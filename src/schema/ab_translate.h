/*  =========================================================================
    ab_translate - translations between versions of a type, compiled at
    load, and the declared compatibility of consecutive versions

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    A schema file may carry `translate:` (RFC 6902 patches that make its
    version from others) and `compatibility:` (how it relates to the
    previous version), versions.md. Every registry owns one ab_translate_t:
    the files' keys are read and their patches compiled when the files
    are added (ab_registry_add_versions; ab_registry_load_file does it
    itself), and ab_registry_compile checks them once every version is
    known: each `from` names an existing version other than the file's
    own, and each declared relation is shown by ab_compat. It then
    precomputes, for every version, the chain to every version a chain of
    translations reaches: the shortest, and among equally short ones the
    one through newer versions (compared from the first step). Chains are
    shortest paths, so they never visit a version twice: translations
    both ways (v1 → v2 and v2 → v1) and longer cycles are allowed, and the
    only loop refused is a file translating its own version from itself.

    After the compile everything here is immutable and the lookups read
    sorted arrays, so ab_translate_route and ab_chain_apply may run on
    several threads at once: a caller on the hot path parses nothing.
*/

#ifndef AB_TRANSLATE_H_INCLUDED
#define AB_TRANSLATE_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/ab_diag.h"
#include "common/ab_yaml.h"
#include "schema/ab_compat.h"
#include "schema/ab_schema.h"
#include "schema/ab_registry.h"

typedef struct _ab_translate_t ab_translate_t;
typedef struct _ab_chain_t ab_chain_t;

/* The registry's translations (NULL before its first successful
   compile). */
const ab_translate_t *ab_registry_translations (const ab_registry_t *self);

/* Reads `translate:` and `compatibility:` of the schema file `root` (a
   mapping holding type, version, schema ...) that was added to the
   registry as TYPE/VERSION. Patches are compiled now; problems go to
   `diag` at the positions `yaml` gives (which may be NULL). `yaml` must
   stay valid until the next ab_registry_compile returns, for the
   positions of compatibility errors. Returns 0 or AB_EINVAL. */
int ab_registry_add_versions (ab_registry_t *self, const char *type,
                              int version, const json_t *root,
                              const ab_yaml_t *yaml, const char *file,
                              ab_diag_t *diag);

/* Makes the checks across versions lenient, for a registry that may hold
   only some versions of a type (`agentbus validate --schema FILE`): a
   translation from a version not loaded is ignored and a declared
   compatibility is not checked. What one file says on its own (patch
   ops, a version translated from itself, a paths check against a loaded
   source version) is still checked. Call before compiling. */
void ab_registry_versions_lenient (ab_registry_t *self);

/* The chain from `from` to `to` of `type`, or NULL when no chain of
   translations reaches it. from == to is a chain of no steps. */
const ab_chain_t *ab_translate_chain (const ab_translate_t *self,
                                      const char *type, int from, int to);

/* The chain from `from` to the newest of the `accepted` versions (count
   entries, any order; NULL means every version) that `from` reaches:
   no steps when `from` is itself accepted. NULL when none is reached. */
const ab_chain_t *ab_translate_route (const ab_translate_t *self,
                                      const char *type, int from,
                                      const int *accepted, size_t count);

/* The version a chain starts from, the one it ends at, and its steps. */
int ab_chain_from (const ab_chain_t *self);
int ab_chain_to (const ab_chain_t *self);
size_t ab_chain_length (const ab_chain_t *self);

/* Applies every step to `payload` (not modified), then validates the
   result against the target version's schema. Returns 0 with
   *result_p a new value (the caller's); AB_EINVAL when a patch fails or
   AB_EREJECTED when the result does not match its schema, then with
   *errors_p (if not NULL) a new array of protocol errors {path, keyword,
   schema_path, message} naming the translation and op that failed. */
int ab_chain_apply (const ab_chain_t *self, const json_t *payload,
                    json_t **result_p, json_t **errors_p);

/* Copies up to `room` versions of `type`, ascending, into `versions`;
   returns how many it has (0 for an unknown type). */
size_t ab_translate_versions (const ab_translate_t *self, const char *type,
                              int *versions, size_t room);

/* The schema document of TYPE/VERSION as written (borrowed), or NULL. */
const json_t *ab_translate_schema (const ab_translate_t *self, const char *type,
                                   int version);

/* Text for `agentbus check --compat`: per type, each pair of consecutive
   versions with the relations that hold, what was declared, and why the
   others do not (the caller's to free). */
char *ab_translate_compat_report (const ab_translate_t *self);

/* ---- For ab_registry.c only ------------------------------------------ */

/* A new, empty table; destroyed with the registry. */
ab_translate_t *ab_translate_new (void);
void ab_translate_destroy (ab_translate_t **self_p);

/* Reads a file's keys (see ab_registry_add_versions). */
int ab_translate_add_file (ab_translate_t *self, const char *type, int version,
                           const json_t *root, const ab_yaml_t *yaml,
                           const char *file, ab_diag_t *diag);

/* See ab_registry_versions_lenient. */
void ab_translate_set_lenient (ab_translate_t *self, bool lenient);

/* Forgets the versions noted by the last compile. */
void ab_translate_begin (ab_translate_t *self);

/* Notes that TYPE/VERSION exists with this schema (borrowed; it lives
   as long as the registry). */
int ab_translate_note (ab_translate_t *self, const char *type, int version,
                       const json_t *schema, const char *file);

/* Checks the translations and declared relations against the noted
   versions and builds the chains. Returns 0 or AB_EINVAL (problems in
   diag). */
int ab_translate_compile (ab_translate_t *self, const ab_registry_t *registry,
                          ab_diag_t *diag);

#endif
