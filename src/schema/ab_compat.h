/*  =========================================================================
    ab_compat - sound, rule-based compatibility of two schema versions

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Decides whether every instance valid under one schema is valid under
    another (versions.md, "Compatibility"). The checker is sound: it says
    AB_COMPAT_HOLDS only when its rules show it, for the keywords it knows
    (type, enum/const, properties, required, additionalProperties, numeric,
    length, item and property-count bounds, items, tensor, and any other
    keyword whose value is the same on both sides); otherwise it says
    AB_COMPAT_FAILS with the keyword that breaks it, or AB_COMPAT_UNDECIDED
    naming the keyword it could not decide. Works on the schema JSON,
    before or without compiling.
*/

#ifndef AB_COMPAT_H_INCLUDED
#define AB_COMPAT_H_INCLUDED

#include <jansson.h>

/* A verdict on "every instance of A is an instance of B". */
typedef enum {
    AB_COMPAT_HOLDS = 0,     /* shown by the rules */
    AB_COMPAT_FAILS = 1,     /* some instance of A is not one of B */
    AB_COMPAT_UNDECIDED = 2, /* a keyword the rules cannot decide */
} ab_compat_verdict_t;

/* Why a verdict is not HOLDS. */
typedef struct {
    ab_compat_verdict_t verdict; /* FAILS or UNDECIDED */
    int side;                    /* 0: the keyword is in A, 1: in B */
    char pointer[512]; /* JSON Pointer of the keyword in that schema */
    char keyword[64];  /* the keyword */
    char message[256]; /* what the rule found */
} ab_compat_why_t;

/* The relations of versions.md, as bits. */
typedef enum {
    AB_COMPAT_NONE = 0,     /* nothing claimed */
    AB_COMPAT_BACKWARD = 1, /* old payloads are valid under the new */
    AB_COMPAT_FORWARD = 2,  /* new payloads are valid under the old */
    AB_COMPAT_FULL = 3,     /* both */
} ab_compat_t;

/* Is every instance of `a` valid under `b`? `why` (may be NULL) says
   why not. */
ab_compat_verdict_t ab_compat_subset (const json_t *a, const json_t *b,
                                      ab_compat_why_t *why);

/* The relations that hold from `older` to `newer`: BACKWARD when older
   is within newer, FORWARD when newer is within older. `backward` and
   `forward` (each may be NULL) say why one does not hold; in them side 0
   is the older schema for backward and the newer for forward. */
ab_compat_t ab_compat_check (const json_t *older, const json_t *newer,
                             ab_compat_why_t *backward,
                             ab_compat_why_t *forward);

/* "none", "backward", "forward", "full". */
const char *ab_compat_name (ab_compat_t relation);

/* The relation named `name`, or -1. */
int ab_compat_parse (const char *name);

#endif
