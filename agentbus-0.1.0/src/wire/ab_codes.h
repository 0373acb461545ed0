/*  =========================================================================
    ab_codes - ABP/1's REJECT and ERROR codes, one table for every side

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    The words the broker answers with (protocol.md §3 and §9) are spelled
    once, here: the broker counts and sends them by enum, the agent library
    turns a received word back into its enum, and the filter pipeline checks
    a plugin's verdict code against the same table. The command words
    themselves are ab_proto's table (ab_cmd_t).
*/

#ifndef AB_CODES_H_INCLUDED
#define AB_CODES_H_INCLUDED

/* REJECT codes: a PUB, REQ or REP that was refused. */
typedef enum {
    AB_REJECT_INVALID = 0, /* the payload fails its schema */
    AB_REJECT_UNKNOWN_TYPE,
    AB_REJECT_VERSION,
    AB_REJECT_UNROUTABLE,
    AB_REJECT_MALFORMED, /* a header field of the wrong kind or range */
    AB_REJECT_TOO_LARGE,
    AB_REJECT_OVERLOADED,
    AB_REJECT_DUPLICATE,
    AB_REJECT_FILTER,
    AB_REJECT_TIMEOUT,
    AB_REJECT_COUNT_ /* number of codes; not a code */
} ab_reject_t;

/* ERROR codes: a command that could not be taken at all. */
typedef enum {
    AB_ERROR_PROTOCOL = 0,
    AB_ERROR_NOT_REGISTERED,
    AB_ERROR_UNKNOWN_AGENT,
    AB_ERROR_UNAUTHORIZED,
    AB_ERROR_UNKNOWN_MESSAGE,
    AB_ERROR_COUNT_ /* number of codes; not a code */
} ab_error_code_t;

/* The code's word on the wire ("too_large"); NULL for a value out of
   range. */
const char *ab_reject_name (ab_reject_t code);
const char *ab_error_name (ab_error_code_t code);

/* The code of a word, or -1 when `name` (may be NULL) is none. */
int ab_reject_code (const char *name);
int ab_error_code (const char *name);

#endif
