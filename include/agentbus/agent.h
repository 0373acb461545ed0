/*  =========================================================================
    agentbus/agent.h - the C agent API of libagentbus (ABP/1 over ZeroMQ)

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Include <agentbus.h>, which includes this file. Link with
    `pkg-config --cflags --libs agentbus`.

    An ab_agent_t is one agent instance: one ZeroMQ DEALER socket connected
    to the broker's agent endpoint. It is not thread-safe: use one agent
    object per thread. There is no hidden thread: heartbeats (PING), the
    detection of a dead or restarted broker and re-registration all happen
    inside the agent's own calls (publish, request, receive, poll). An
    event loop that waits on ab_agent_fd () calls ab_agent_poll () when the
    fd is readable and at least every ab_agent_next_timeout_ms ().

    Errors: every function that talks to the broker returns a negative
    ab_err_t on failure, never aborts on anything the network sends:
      AB_EINVAL     a bad argument (a string sent to the broker, such as
                    the agent name, a header field or a NACK's reason,
                    that is not UTF-8 included: nothing is sent then)
      AB_ESTATE     not connected (call ab_agent_connect first)
      AB_ETIMEDOUT  no answer within the timeout
      AB_EREJECTED  the broker said REJECT (see ab_agent_last_reject)
      AB_EPROTO     the broker answered ERROR protocol
      AB_ENOENT     HELLO refused (unknown_agent, unauthorized)
      AB_EIO        a ZeroMQ call failed
*/

#ifndef AGENTBUS_AGENT_H_INCLUDED
#define AGENTBUS_AGENT_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>

#include <agentbus.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _ab_agent_t ab_agent_t;
typedef struct _ab_delivery_t ab_delivery_t;

/* Options of ab_agent_new. Zero (or NULL) selects the default of every
   field, so `ab_agent_options_t options = {0}` is valid. */
typedef struct {
    int credit;           /* in-flight window sent in HELLO; 0 = 16 */
    const char *instance; /* free text for the broker's logs; NULL = none */
    int heartbeat_ms;     /* PING interval; 0 = what WELCOME says */
    int timeout_ms;       /* how long to wait for WELCOME, OK or REJECT;
                             0 = 5000 */
} ab_agent_options_t;

/* Called by libzmq when it no longer needs an attachment's bytes
   (possibly from its I/O thread). Same signature as zmq_free_fn. */
typedef void (ab_free_fn) (void *data, void *hint);

/* One attachment (frame 4+k) to send without copying. `free_fn` may be
   NULL when `data` outlives the agent; otherwise it is called exactly once
   with (data, hint) when libzmq is done, also when the call fails. */
typedef struct {
    const void *data;    /* the bytes; not copied */
    size_t size;         /* number of bytes */
    ab_free_fn *free_fn; /* releases `data`, or NULL */
    void *hint;          /* second argument of free_fn */
} ab_attachment_t;

/* Header fields of a PUB or REQ. Zero (or NULL) leaves a field out. */
typedef struct {
    const char *type;        /* message type; required */
    int version;             /* schema version; 0 = newest registered */
    const char *id;          /* producer's id (<= 128 bytes); NULL = the
                                library makes one ("NAME-PID-N") so that
                                the answer can be matched to the command */
    bool has_seq;            /* send `seq` */
    int64_t seq;             /* per-producer sequence number (strict edges) */
    int64_t ttl_ms;          /* time to live; 0 = none */
    const char *traceparent; /* W3C traceparent, passed through; or NULL */
    int64_t timeout_ms;      /* REQ only: the broker's deadline; 0 = the
                                edge's default. The library waits this long
                                plus the agent's timeout_ms for the final
                                reply; without it, it waits until the
                                broker answers (heartbeats continue). */
} ab_header_t;

/* Called by ab_agent_request for each streamed (partial) REPLY. The
   delivery is borrowed and destroyed after the call. */
typedef void (ab_partial_fn) (ab_delivery_t *partial, void *arg);

/* --- life cycle ------------------------------------------------------ */

/* Creates an agent that will connect to `endpoint` (a ZeroMQ endpoint such
   as "tcp://127.0.0.1:7780") as the topology agent `agent_name`.
   `options` may be NULL. Returns NULL on a bad argument or out of memory.
   Nothing is sent before ab_agent_connect. */
ab_agent_t *ab_agent_new (const char *endpoint, const char *agent_name,
                          const ab_agent_options_t *options);

/* Says BYE (when registered), waits at most 500 ms for it to leave,
   closes the socket and frees the agent and every buffered delivery.
   Deliveries already handed out stay valid (they own their frames).
   Accepts NULL; nulls *self_p. */
void ab_agent_destroy (ab_agent_t **self_p);

/* Connects the socket, sends HELLO and waits for WELCOME.
   Returns 0; AB_ENOENT when the broker refused the agent (see
   ab_agent_last_error); AB_ETIMEDOUT without an answer; AB_EIO. May be
   called again to reconnect (a fresh socket each time). */
int ab_agent_connect (ab_agent_t *self);

/* True after a WELCOME, until the broker is found gone or says
   not_registered (the next call re-registers by itself). */
bool ab_agent_connected (const ab_agent_t *self);

/* The `topology` of the last WELCOME ("NAME@HASH"), or NULL. Borrowed. */
const char *ab_agent_topology (const ab_agent_t *self);

/* The heartbeat interval in use (the override, or WELCOME's). */
int ab_agent_heartbeat_ms (const ab_agent_t *self);

/* The agent name given to ab_agent_new. Borrowed. */
const char *ab_agent_name (const ab_agent_t *self);

/* How many times the agent said HELLO again after losing the broker. */
size_t ab_agent_reconnects (const ab_agent_t *self);

/* How many messages from the broker were dropped because they broke the
   frame table or made no sense (bad signature, header not an object…). */
size_t ab_agent_bad_messages (const ab_agent_t *self);

/* --- publishing ------------------------------------------------------ */

/* Sends PUB with the header fields, the payload (serialised compactly;
   borrowed) and `count` attachments, then waits for OK or REJECT.
   Returns the number of copies routed (>= 0); AB_EREJECTED with the
   REJECT kept for ab_agent_last_reject; or another ab_err_t. The
   attachments are taken over in every case (see ab_attachment_t). */
int ab_agent_publish (ab_agent_t *self, const ab_header_t *header,
                      const json_t *payload, const ab_attachment_t *attachments,
                      size_t count);

/* As ab_agent_publish with the payload as JSON text, sent as is (the
   broker answers REJECT malformed if it is not JSON). */
int ab_agent_publish_text (ab_agent_t *self, const ab_header_t *header,
                           const char *payload,
                           const ab_attachment_t *attachments, size_t count);

/* Describes a tensor attachment: sets payload[key] to
   {"dtype": NAME, "shape": [...], "frame": frame} and fills *attachment
   with data, size = product(shape) * itemsize(dtype), free_fn and hint.
   Put *attachment at index `frame` of the attachments array. Returns 0;
   AB_EINVAL (bad dtype, negative dimension, payload not an object);
   AB_ETOOBIG; AB_ENOMEM. On failure free_fn is not called. */
int ab_attach_tensor (json_t *payload, const char *key, size_t frame,
                      const void *data, ab_dtype_t dtype, const int64_t *shape,
                      size_t ndim, ab_free_fn *free_fn, void *hint,
                      ab_attachment_t *attachment);

/* The header of the last REJECT this agent got (code, message, errors),
   or NULL. Borrowed; valid until the next call on the agent. */
const json_t *ab_agent_last_reject (const ab_agent_t *self);

/* The `code` of the last REJECT, or of the last ERROR the broker sent
   ("not_registered", "unknown_agent"…), or NULL. Borrowed. */
const char *ab_agent_last_error (const ab_agent_t *self);

/* --- requests -------------------------------------------------------- */

/* Sends REQ and waits for the final REPLY. Each streamed REPLY
   {partial: true} before it goes to `partial_fn` (may be NULL: partial
   replies are then dropped). On success *reply_p gets the final reply,
   the caller's (ab_delivery_destroy). Returns 0; AB_EREJECTED (including
   code "timeout" from the broker); AB_ETIMEDOUT; another ab_err_t.
   Deliveries arriving meanwhile are kept for ab_agent_receive. */
int ab_agent_request (ab_agent_t *self, const ab_header_t *header,
                      const json_t *payload, const ab_attachment_t *attachments,
                      size_t count, ab_partial_fn *partial_fn, void *arg,
                      ab_delivery_t **reply_p);

/* --- consuming ------------------------------------------------------- */

/* Waits up to `timeout_ms` (-1 = forever, 0 = just look) for a DELIVER.
   Returns 0 with *delivery_p set (the caller's); AB_ETIMEDOUT; another
   ab_err_t. Re-registers with the broker by itself when needed. */
int ab_agent_receive (ab_agent_t *self, int timeout_ms,
                      ab_delivery_t **delivery_p);

/* Acknowledges a delivery (ACK {msg}). The broker sends no answer. */
int ab_agent_ack (ab_agent_t *self, const ab_delivery_t *delivery);

/* Refuses a delivery (NACK): with `requeue` it is delivered again later,
   without it is dead-lettered. `reason` may be NULL. */
int ab_agent_nack (ab_agent_t *self, const ab_delivery_t *delivery,
                   bool requeue, const char *reason);

/* Answers a request delivery (REP {msg, partial}) and waits for OK or
   REJECT (the reply failed its schema; the request stays open). Returns
   0; AB_EINVAL when the delivery is not a request; AB_EREJECTED; another
   ab_err_t. Attachments as for ab_agent_publish. */
int ab_agent_reply (ab_agent_t *self, const ab_delivery_t *request,
                    const json_t *payload, bool partial,
                    const ab_attachment_t *attachments, size_t count);

/* Sets the in-flight window of this instance (CREDIT; n >= 1). It is also
   sent in every later HELLO. */
int ab_agent_credit (ab_agent_t *self, int credit);

/* --- event loops ----------------------------------------------------- */

/* Handles what the broker sent, waiting at most `timeout_ms` (-1 =
   forever) for something to arrive, and sends a PING when one is due.
   DELIVERs are buffered for ab_agent_receive. Returns the number of
   buffered deliveries (>= 0) or an ab_err_t. */
int ab_agent_poll (ab_agent_t *self, int timeout_ms);

/* The file descriptor to wait on for readability (ZMQ_FD; edge-triggered:
   after it fires, call ab_agent_poll (self, 0), which drains the socket).
   Returns -1 when not connected. The fd changes on reconnection. */
int ab_agent_fd (const ab_agent_t *self);

/* Milliseconds until the next PING (or, while re-registering, the next
   HELLO) is due: the longest an event loop may wait before calling
   ab_agent_poll. -1 before the first successful ab_agent_connect. */
int ab_agent_next_timeout_ms (const ab_agent_t *self);

/* Number of deliveries buffered and not yet returned by receive. */
size_t ab_agent_pending (const ab_agent_t *self);

/* --- deliveries ------------------------------------------------------ */

/* A DELIVER (from ab_agent_receive) or a REPLY (from ab_agent_request).
   Attachments are views into the received frames, kept alive by the
   delivery: they stay valid until ab_delivery_destroy. Strings are
   borrowed from the delivery's header; NULL when the field was absent. */

/* Frees a delivery and its frames. Accepts NULL; nulls *self_p. */
void ab_delivery_destroy (ab_delivery_t **self_p);

/* `msg`: the id to ACK/NACK/REP (DELIVER only). */
const char *ab_delivery_msg (const ab_delivery_t *self);
const char *ab_delivery_type (const ab_delivery_t *self);
/* The schema version the payload was validated against; 0 if absent. */
int ab_delivery_version (const ab_delivery_t *self);
/* `from`: the producing (or replying) agent. */
const char *ab_delivery_from (const ab_delivery_t *self);
/* `id`: the producer's id (for a REPLY: the requester's). */
const char *ab_delivery_id (const ab_delivery_t *self);
/* `attempt`: 1 on first delivery; 0 if absent (REPLY). */
int ab_delivery_attempt (const ab_delivery_t *self);
/* `seq`: returns true and sets *seq_p when the header had one. */
bool ab_delivery_seq (const ab_delivery_t *self, int64_t *seq_p);
const char *ab_delivery_traceparent (const ab_delivery_t *self);
/* True for a DELIVER with `request: true` (answer with ab_agent_reply). */
bool ab_delivery_is_request (const ab_delivery_t *self);
/* True for a REPLY with `partial: true`. */
bool ab_delivery_is_partial (const ab_delivery_t *self);
/* The whole header (for other fields, e.g. a dead letter's `reason` and
   `original`). Borrowed. */
const json_t *ab_delivery_header (const ab_delivery_t *self);
/* The payload (frame 3). Borrowed; never NULL. */
const json_t *ab_delivery_payload (const ab_delivery_t *self);
size_t ab_delivery_attachment_count (const ab_delivery_t *self);
/* The bytes of attachment `index` and their size, or NULL if out of
   range. Borrowed from the delivery (zero-copy). */
const void *ab_delivery_attachment (const ab_delivery_t *self, size_t index,
                                    size_t *size_p);

/* Looks up a tensor reference {dtype, shape, frame} at payload[key] and
   checks it against its attachment. On success returns 0 and sets *data_p
   (a view into the delivery), *dtype_p and *ndim_p, and copies at most
   `max_ndim` dimensions into `shape`. AB_ENOENT: no such key or frame;
   AB_EINVAL: not a valid reference, or its size disagrees with the frame;
   AB_ELIMIT: more than max_ndim dimensions. */
int ab_delivery_tensor (const ab_delivery_t *self, const char *key,
                        const void **data_p, ab_dtype_t *dtype_p,
                        int64_t *shape, size_t max_ndim, size_t *ndim_p);

#ifdef __cplusplus
}
#endif

#endif
