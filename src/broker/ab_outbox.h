/*  =========================================================================
    ab_outbox - every answer and delivery of a loop turn, held until the
    turn's batch is committed, then queued for the socket

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Group commit, the sending side. While a disk store's batch is open
    (the broker says so: ab_outbox_hold) a send is held here, its header
    copied and its body frames shared; ab_outbox_release lets the held
    sends go in the order they were made, after the commit. A send marked
    AB_SEND_FRESH belongs to a message stored in this batch: when the
    commit failed, its OK becomes `REJECT overloaded` and its DELIVER is
    dropped (that message is not on disk). The outbox never asks the
    store: the broker passes the commit's answer.

    Outside a batch a send goes straight to the turn's ab_outq_t, which
    ab_outbox_flush writes to the socket at the end of the turn. A
    DELIVER the socket refuses names its peer as lost; the broker takes
    the lost peers (ab_outbox_take_refused, ab_outbox_take_vanished) at
    the start of the next turn.

    Headers are built in the outbox's one reusable writer
    (ab_outbox_writer) and sent with ab_outbox_send; the rare answers
    off the hot path are json_t (ab_outbox_send_json, ab_outbox_reject,
    ab_outbox_error).
*/

#ifndef AB_OUTBOX_H_INCLUDED
#define AB_OUTBOX_H_INCLUDED

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker/ab_counters.h"
#include "common/ab_log.h"
#include "wire/ab_codes.h"
#include "wire/ab_proto.h"
#include "wire/ab_outq.h"
#include "wire/ab_jsonw.h"

typedef struct _ab_outbox_t ab_outbox_t;

/* Whether sends wait for the batch's commit. */
typedef enum {
    AB_OUTBOX_DIRECT = 0, /* no batch open: queued for the socket now */
    AB_OUTBOX_HELD,       /* a disk batch is open: held until release */
} ab_outbox_mode_t;

/* What a failed commit does to a held send. */
typedef enum {
    AB_SEND_SETTLED = 0, /* sent all the same */
    AB_SEND_FRESH,       /* of a message stored in this batch: an OK
                            becomes REJECT overloaded, a DELIVER is
                            dropped */
} ab_send_fate_t;

/* A new outbox counting into `counters`, logging to `log` (may be NULL);
   both borrowed. Aborts when out of memory (ab_header.h). */
ab_outbox_t *ab_outbox_new (ab_counters_t *counters, ab_log_t *log);

/* Drops what is held; accepts NULL; nulls *self_p. */
void ab_outbox_destroy (ab_outbox_t **self_p);

/* Sets whether sends are held (the broker: at the start of a turn whose
   disk batch is open; ab_outbox_release sets DIRECT again). */
void ab_outbox_hold (ab_outbox_t *self, ab_outbox_mode_t mode);

/* The header writer, reset: write a header, then ab_outbox_send. */
ab_jsonw_t *ab_outbox_writer (ab_outbox_t *self);

/* Sends the header in the writer with `body` (frames 3..., shared).
   Returns 0 or an ab_err_t (counted as a send failure). */
int ab_outbox_send (ab_outbox_t *self, zmq_msg_t *routing_id, ab_cmd_t command,
                    zmq_msg_t *body, size_t body_count);

/* ab_outbox_send of an OK, with what a failed commit does to it. */
int ab_outbox_ok (ab_outbox_t *self, zmq_msg_t *routing_id,
                  ab_send_fate_t fate);

/* Sends the DELIVER in the writer of copy `copy_id` to the instance
   `key` (the socket's refusal names both). */
int ab_outbox_deliver (ab_outbox_t *self, zmq_msg_t *routing_id,
                       const char *key, uint64_t copy_id, ab_send_fate_t fate,
                       zmq_msg_t *body, size_t body_count);

/* Sends a json_t header (taken; NULL = {}), no body. */
int ab_outbox_send_json (ab_outbox_t *self, zmq_msg_t *routing_id,
                         ab_cmd_t command, json_t *header);

/* ERROR `code` with a printf message; counted by code. */
void ab_outbox_error (ab_outbox_t *self, zmq_msg_t *routing_id,
                      ab_error_code_t code, const char *format, ...)
    __attribute__ ((format (printf, 4, 5)));

/* REJECT `code` echoing `echo_key` = `echo` (may be NULL), with `errors`
   (taken; may be NULL) and a printf message; counted by code. */
void ab_outbox_reject (ab_outbox_t *self, zmq_msg_t *routing_id,
                       const char *echo_key, json_t *echo, ab_reject_t code,
                       json_t *errors, const char *format, ...)
    __attribute__ ((format (printf, 7, 8)));

/* The answer to a command over max_message_bytes (`why`): REJECT
   too_large for the commands that carry a payload, else ERROR protocol
   (the frame table is broken). */
void ab_outbox_too_large (ab_outbox_t *self, zmq_msg_t *routing_id,
                          ab_proto_t *proto, const char *why);

/* After the commit (`commit_rc`: its answer): the held sends go, in the
   order they were made (see the note above); the mode is DIRECT again. */
void ab_outbox_release (ab_outbox_t *self, int commit_rc);

/* Writes the turn's queued sends to `socket` (a ROUTER's zmq socket). */
void ab_outbox_flush (ab_outbox_t *self, void *socket);

/* Whether lost peers wait to be taken. */
bool ab_outbox_has_lost (const ab_outbox_t *self);

/* The next DELIVER the socket refused: its copy and instance key (the
   caller's to free). False when none is left. */
bool ab_outbox_take_refused (ab_outbox_t *self, uint64_t *copy_id_p,
                             char **key_p);

/* The next instance key a DELIVER could not reach (the caller's to
   free), or NULL. */
char *ab_outbox_take_vanished (ab_outbox_t *self);

#endif
