/*  =========================================================================
    ab_pub - the path of one PUB or REQ, and the check-ahead (see
    ab_pub.h)

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <assert.h>
#include <czmq.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ab_oom.h"
#include "agentbus.h"
#include "broker/ab_header.h"
#include "broker/ab_pub.h"
#include "common/ab_pool.h"
#include "wire/ab_jsonscan.h"
#include "schema/ab_tensor.h"
#include "wire/ab_jsonw.h"
#include "filter/ab_pipeline.h"

/* PUBs in a batch below which ab_checks_start leaves them to the
   broker's thread: waking the pool costs more than it saves */
#define S_CHECK_AHEAD_MIN 8
/* check_threads by default: one per CPU beyond the two this thread and
   libzmq's I/O thread keep busy. On two CPUs the pool's handing over
   costs more than it moves (bench/agentbus-bench small: 0.39 of the
   baseline without it, 0.36 to 0.39 with one thread). */
#define S_BUSY_THREADS 2
#define S_CHECK_THREADS_MAX 3

/* The §8 attachment check: every tensor reference names a frame that
   is there with the bytes it needs. 0 or -1 with a reason. */
static int
s_check_refs (json_t *payload, zmq_msg_t *body, size_t count, char *why,
              size_t why_size)
{
    /* on the heap: the frame count is the sender's choice */
    size_t *sizes = ab_oom_check (calloc (count, sizeof (size_t)));
    for (size_t i = 1; i < count; i++)
        sizes[i - 1] = zmq_msg_size (&body[i]);
    int refs = ab_tensor_check_refs (payload, sizes, count - 1, why, why_size);
    free (sizes);
    return refs;
}

int
ab_pub_check_payload (const ab_schema_t *schema, zmq_msg_t *body, size_t count,
                      ab_pub_tree_t tree, json_t **payload_p, char *why,
                      size_t why_size, json_t **errors_p)
{
    const char *text = zmq_msg_data (&body[0]);
    size_t size = zmq_msg_size (&body[0]);
    /* jansson skips a NUL byte after a number; RFC 8259 does not */
    const char *nul = memchr (text, 0, size);
    if (nul) {
        snprintf (why, why_size, "payload is not JSON: a NUL byte at %zu",
                  (size_t)(nul - text));
        return AB_REJECT_MALFORMED;
    }
    /* Nothing will read the tree: that the text is JSON is all there is
       to check (ab_jsonscan.h). Without attachments and without a
       "frame" key there is no tensor reference to check either. */
    ab_jsonscan_t scan;
    bool check_only = tree == AB_PUB_TREE_IF_NEEDED && count == 1 &&
                      ab_schema_accepts_all (schema);
    int rc = check_only ? ab_jsonscan_check (text, size, &scan) : 0;
    if (check_only && rc == 0 && !scan.frame_key) {
        *payload_p = NULL;
        return -1;
    }
    json_t *payload = rc ? NULL : ab_jsonscan_load (text, size, &scan);
    if (!payload) {
        snprintf (why, why_size, "payload is not JSON: %s at byte %zu",
                  scan.why, scan.offset);
        return AB_REJECT_MALFORMED;
    }
    if (s_check_refs (payload, body, count, why, why_size)) {
        json_decref (payload);
        return AB_REJECT_MALFORMED;
    }
    rc = ab_schema_validate (schema, payload, errors_p);
    if (rc) {
        const json_t *first = json_array_get (*errors_p, 0);
        /* the first error's message names its path */
        snprintf (why, why_size, "payload does not match its schema: %s",
                  ab_header_string (first, "message") ?: ab_strerror (rc));
        json_decref (payload);
        return AB_REJECT_INVALID;
    }
    *payload_p = payload;
    return -1;
}

int
ab_pub_check_reply (ab_topology_t *topology, const char *type,
                    ab_proto_t *proto, int *version_p, char *why,
                    size_t why_size, json_t **errors_p)
{
    *version_p =
        (int)ab_header_int (ab_proto_header (proto), "version",
                            ab_topology_newest_version (topology, type));
    const ab_schema_t *schema = ab_topology_schema (topology, type, *version_p);
    if (!schema) {
        snprintf (why, why_size,
                  "version %d of reply type '%s' is not registered", *version_p,
                  type);
        return AB_REJECT_VERSION;
    }
    json_t *payload = NULL;
    int code = ab_pub_check_payload (
        schema, ab_proto_body (proto), ab_proto_body_count (proto),
        AB_PUB_TREE_IF_NEEDED, &payload, why, why_size, errors_p);
    json_decref (payload);
    return code;
}

ab_pipeline_t *
ab_pub_pipeline_new (const json_t *filters, const char *file,
                     bool *format_assert_p, ab_diag_t *diag)
{
    json_t *stages = json_array ();
    size_t index;
    json_t *stage;
    json_array_foreach (filters, index, stage)
    {
        const char *name = json_string_value (json_object_get (stage, "name"));
        if (name && streq (name, "schema"))
            *format_assert_p |=
                json_is_true (json_object_get (stage, "format_assert"));
        else
            json_array_append (stages, stage);
    }
    ab_filter_env_t env = {.file = file};
    ab_pipeline_t *pipeline = ab_pipeline_new_from_config (stages, &env, diag);
    json_decref (stages);
    return pipeline;
}

/* Rejects the PUB with `code` and a printf reason; returns -1. */
static int s_fail (ab_pub_t *pub, ab_reject_t code, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_fail (ab_pub_t *pub, ab_reject_t code, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (pub->why, sizeof pub->why, format, args);
    va_end (args);
    pub->code = code;
    return -1;
}

void
ab_pub_begin (ab_pub_t *pub, ab_proto_t *proto)
{
    *pub = (ab_pub_t){.header = ab_proto_header (proto),
                      .request = ab_proto_command (proto) == AB_CMD_REQ};
    json_t *echo = json_object_get (pub->header, "id");
    pub->echo = json_is_string (echo) ? echo : NULL;
}

int
ab_pub_resolve (ab_pub_t *pub, ab_topology_t *topology)
{
    if (ab_header_check_pub (pub->header, pub->why, sizeof pub->why)) {
        pub->code = AB_REJECT_MALFORMED;
        return -1;
    }
    pub->type = ab_header_string (pub->header, "type");
    if (!pub->type || !ab_topology_has_type (topology, pub->type))
        return s_fail (pub, AB_REJECT_UNKNOWN_TYPE, "unknown type '%s'",
                       pub->type ? pub->type : "(none)");
    pub->version =
        (int)ab_header_int (pub->header, "version",
                            ab_topology_newest_version (topology, pub->type));
    pub->schema = ab_topology_schema (topology, pub->type, pub->version);
    if (!pub->schema)
        return s_fail (pub, AB_REJECT_VERSION,
                       "version %d of '%s' is not registered", pub->version,
                       pub->type);
    return 0;
}

int
ab_pub_check (ab_pub_t *pub, ab_proto_t *proto, ab_pub_tree_t tree)
{
    int code = ab_pub_check_payload (
        pub->schema, ab_proto_body (proto), ab_proto_body_count (proto), tree,
        &pub->payload, pub->why, sizeof pub->why, &pub->errors);
    pub->code = code < 0 ? AB_REJECT_INVALID : (ab_reject_t)code;
    return code < 0 ? 0 : -1;
}

static ab_reject_t
s_reject_code (const char *name)
{
    int code = ab_reject_code (name);
    return code < 0 ? AB_REJECT_FILTER : (ab_reject_t)code;
}

/* Runs one pipeline over the PUB (`edge`: the edge key for an edge's own
   stages, NULL for the broker-wide ones). On reject fills pub's code,
   reason and errors and returns -1. */
static int
s_run_pipeline (ab_pipeline_t *pipeline, ab_pub_t *pub, ab_proto_t *proto,
                const char *edge, ab_filter_result_t *result)
{
    zmq_msg_t *body = ab_proto_body (proto);
    size_t count = ab_proto_body_count (proto);
    /* on the heap: the frame count is the sender's choice */
    size_t *sizes = ab_oom_check (calloc (count, sizeof (size_t)));
    const void **data = ab_oom_check (calloc (count, sizeof (void *)));
    for (size_t i = 1; i < count; i++) {
        sizes[i - 1] = zmq_msg_size (&body[i]);
        data[i - 1] = zmq_msg_data (&body[i]);
    }
    ab_filter_message_t message = {pub->type,
                                   pub->version,
                                   pub->from_name,
                                   edge,
                                   pub->header,
                                   pub->payload,
                                   zmq_msg_data (body),
                                   zmq_msg_size (body),
                                   count - 1,
                                   sizes,
                                   data};
    int rc = ab_pipeline_run (pipeline, &message, result);
    free (sizes);
    free (data);
    if (rc == 0)
        return 0;
    pub->errors = json_incref (result->errors);
    return s_fail (pub, s_reject_code (result->code), "%s%s%s",
                   result->stage ? result->stage : "",
                   result->stage ? ": " : "",
                   result->message[0] ? result->message : "rejected by filter");
}

/* A rewrite replaces the payload frame (the only bytes the broker ever
   re-creates). */
int
ab_pub_filter (ab_pub_t *pub, ab_pipeline_t *pipeline, ab_proto_t *proto)
{
    ab_filter_result_t result = AB_FILTER_RESULT_INIT;
    int rc = s_run_pipeline (pipeline, pub, proto, NULL, &result);
    if (rc == 0 && result.payload_text) {
        zmq_msg_t *body = ab_proto_body (proto);
        zmq_msg_close (&body[0]);
        zmq_msg_init_size (&body[0], result.payload_size);
        memcpy (zmq_msg_data (&body[0]), result.payload_text,
                result.payload_size);
        json_decref (pub->payload);
        pub->payload = json_incref (result.payload);
    }
    ab_filter_result_clear (&result);
    return rc;
}

/* The edges from the sender for the PUB's type (a REQ: its request
   edge), in *edges_p. */
static size_t
s_edges (ab_pub_t *pub, ab_topology_t *topology, const ab_edge_t **request,
         const ab_edge_t *const **edges_p)
{
    long from = ab_topology_agent_index (topology, pub->from_name);
    *edges_p = request;
    if (from >= 0 && pub->request) {
        *request = ab_topology_request_edge (topology, (size_t)from, pub->type);
        return *request ? 1 : 0;
    }
    if (from >= 0)
        return ab_topology_edges_from (topology, (size_t)from, pub->type,
                                       edges_p);
    return 0;
}

int
ab_pub_route (ab_pub_t *pub, ab_generation_t *gen)
{
    ab_topology_t *topology = ab_generation_topology (gen);
    const ab_edge_t *request_edge = NULL;
    const ab_edge_t *const *edges = NULL;
    size_t count = s_edges (pub, topology, &request_edge, &edges);
    if (count == 0)
        return s_fail (pub, AB_REJECT_UNROUTABLE,
                       "agent '%s' has no %s edge for '%s'", pub->from_name,
                       pub->request ? "request" : "", pub->type);
    pub->targets = ab_oom_check (calloc (count, sizeof (ab_queue_t *)));
    for (size_t i = 0; i < count; i++)
        if (ab_edge_accepts_version (edges[i], pub->version))
            pub->targets[pub->target_count++] =
                ab_generation_queue (gen, edges[i]->index);
    if (pub->target_count == 0)
        return s_fail (
            pub, AB_REJECT_VERSION,
            "version %d of '%s' is not accepted on any edge from '%s'",
            pub->version, pub->type, pub->from_name);
    return 0;
}

/* Every target takes the copy: seq is new on each (duplicate) and no
   queue is full (overloaded). All or nothing. */
int
ab_pub_admit (ab_pub_t *pub, ab_ledger_t *ledger)
{
    const json_t *seq = json_object_get (pub->header, "seq");
    int64_t value = seq ? json_integer_value (seq) : -1;
    for (size_t i = 0; i < pub->target_count; i++) {
        ab_queue_t *queue = pub->targets[i];
        ab_store_t *store =
            ab_ledger_seq_store (ledger, ab_queue_durable (queue));
        int code = ab_queue_admit (queue, store, pub->from_name, value,
                                   pub->why, sizeof pub->why);
        if (code >= 0) {
            pub->code = (ab_reject_t)code;
            return -1;
        }
    }
    return 0;
}

/* The payload's tree, for the edge stages, when validation did without
   it. The text is known to be JSON. */
static int
s_tree (ab_pub_t *pub, ab_proto_t *proto)
{
    zmq_msg_t *body = ab_proto_body (proto);
    ab_jsonscan_t scan;
    pub->payload = ab_jsonscan_load (zmq_msg_data (&body[0]),
                                     zmq_msg_size (&body[0]), &scan);
    if (pub->payload)
        return 0;
    return s_fail (pub, AB_REJECT_MALFORMED,
                   "payload is not JSON: %s at byte %zu", scan.why,
                   scan.offset);
}

/* Any reject rejects the whole PUB (all or nothing, as for overloaded);
   a rewrite applies to that edge's copy only. */
int
ab_pub_edge_filters (ab_pub_t *pub, ab_proto_t *proto)
{
    for (size_t i = 0; i < pub->target_count; i++) {
        ab_queue_t *queue = pub->targets[i];
        if (!ab_queue_filters (queue))
            continue;
        if (!pub->payload && s_tree (pub, proto))
            return -1;
        ab_filter_result_t result = AB_FILTER_RESULT_INIT;
        int rc = s_run_pipeline (ab_queue_filters (queue), pub, proto,
                                 ab_queue_key (queue), &result);
        if (rc == 0 && result.payload_text) {
            if (!pub->rewrites)
                pub->rewrites =
                    ab_oom_check (calloc (pub->target_count, sizeof (char *)));
            pub->rewrites[i] = ab_oom_check (
                strndup (result.payload_text, result.payload_size));
        }
        ab_filter_result_clear (&result);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------------
   Store, enqueue, answer */

static ab_msg_t *
s_msg_new (ab_pub_t *pub, ab_proto_t *proto, ab_ledger_t *ledger)
{
    ab_msg_t *msg = ab_msg_new (); /* held while copies are made */
    msg->store = ab_ledger_memory (ledger);
    for (size_t i = 0; i < pub->target_count; i++)
        if (ab_queue_durable (pub->targets[i]))
            msg->store = ab_ledger_disk (ledger);
    msg->batch = ab_ledger_batch (ledger);
    msg->request = pub->request;
    msg->type = ab_oom_check (strdup (pub->type));
    msg->version = pub->version;
    msg->from = ab_oom_check (strdup (pub->from_name));
    msg->producer_id = json_incref (pub->echo);
    const json_t *seq = json_object_get (pub->header, "seq");
    msg->has_seq = seq != NULL;
    msg->seq = json_integer_value (seq);
    const char *traceparent = ab_header_string (pub->header, "traceparent");
    msg->traceparent = traceparent ? ab_oom_check (strdup (traceparent)) : NULL;
    int64_t ttl = ab_header_int (pub->header, "ttl_ms", 0);
    msg->expires = ttl > 0 ? ab_now () + ttl : 0;
    ab_proto_take_body (proto, &msg->body, &msg->body_count);
    return msg;
}

/* Writes the message to the disk store, with its header as received
   (valid JSON: it was parsed; no NUL byte, which JSON text cannot hold
   outside an escape). Returns 0 or an ab_err_t. */
static int
s_msg_store (ab_msg_t *msg, ab_pub_t *pub, ab_proto_t *proto)
{
    size_t size = 0;
    const char *text = ab_proto_header_text (proto, &size);
    char *header = malloc (size + 1);
    if (header) {
        memcpy (header, text, size);
        header[size] = '\0';
    }
    ab_message_t record = {.id = msg->id,
                           .type = msg->type,
                           .version = msg->version,
                           .from = msg->from,
                           .producer_id = json_string_value (pub->echo),
                           .has_seq = msg->has_seq,
                           .seq = msg->seq,
                           .traceparent = msg->traceparent,
                           .request = pub->request,
                           .header = header ? header : "{}",
                           .frames = msg->body,
                           .frame_count = msg->body_count};
    int64_t ttl = ab_header_int (pub->header, "ttl_ms", 0);
    record.expires_ms = ttl > 0 ? ab_wall_ms () + ttl : 0;
    int rc = ab_store_put_message (msg->store, &record);
    free (header);
    return rc;
}

/* Counts a live non-durable message's body against memory_limit. */
static int
s_msg_hold (ab_msg_t *msg, ab_ledger_t *ledger)
{
    size_t bytes = 0;
    for (size_t i = 0; i < msg->body_count; i++)
        bytes += zmq_msg_size (&msg->body[i]);
    int rc = ab_ledger_reserve (ledger, bytes);
    if (rc == 0)
        msg->bytes = bytes;
    return rc;
}

/* The store refused the PUB: nothing of it stays (all or nothing). */
static int
s_refused (ab_pub_t *pub, ab_ledger_t *ledger, ab_copies_t *copies,
           size_t count, int rc)
{
    bool disk = pub->msg->store == ab_ledger_disk (ledger);
    for (size_t i = 0; i < count; i++)
        ab_copy_forget (copies, pub->copies[i], AB_COPY_DELETE_STORED);
    if (disk && pub->msg->id)
        ab_store_del_message (pub->msg->store, pub->msg->id);
    ab_msg_unref (copies, &pub->msg);
    const char *why = rc != AB_EFULL ? ab_strerror (rc)
                      : disk         ? "the durable store is full (map_size "
                                       "or memory_limit); retry when "
                                       "consumers catch up"
                                     : "memory_limit reached";
    return s_fail (pub, AB_REJECT_OVERLOADED, "store: %s", why);
}

int
ab_pub_store (ab_pub_t *pub, ab_proto_t *proto, ab_ledger_t *ledger,
              ab_copies_t *copies)
{
    ab_msg_t *msg = pub->msg = s_msg_new (pub, proto, ledger);
    bool disk = msg->store == ab_ledger_disk (ledger);
    int rc = ab_ledger_next_id (ledger, &msg->id);
    if (rc == 0)
        rc = disk ? s_msg_store (msg, pub, proto) : s_msg_hold (msg, ledger);
    if (rc)
        return s_refused (pub, ledger, copies, 0, rc);
    pub->copies =
        ab_oom_check (calloc (pub->target_count, sizeof (ab_live_copy_t *)));
    for (size_t i = 0; i < pub->target_count; i++) {
        ab_queue_t *queue = pub->targets[i];
        pub->copies[i] =
            ab_copy_new (copies, queue, ab_queue_edge (queue), msg, &rc);
        if (rc == 0 && msg->has_seq)
            rc = ab_queue_note_seq (
                queue, ab_ledger_seq_store (ledger, ab_queue_durable (queue)),
                msg->from, msg->seq);
        if (rc)
            return s_refused (pub, ledger, copies, pub->copies[i] ? i + 1 : i,
                              rc);
    }
    return 0;
}

/* A REQ's request for its copy on `edge`. */
static ab_request_t *
s_request_new (ab_pub_t *pub, ab_live_copy_t *copy, ab_timer_t *timers)
{
    const ab_edge_t *edge = ab_copy_edge (copy);
    int64_t timeout = ab_header_int (pub->header, "timeout_ms",
                                     edge->ack_timeout_ms * edge->max_attempts);
    return ab_request_new (timers, pub->from, pub->echo, edge->reply,
                           ab_now () + timeout, copy);
}

void
ab_pub_enqueue (ab_pub_t *pub, ab_copies_t *copies, ab_timer_t *timers,
                ab_ledger_t *ledger, ab_counters_t *counters)
{
    for (size_t i = 0; i < pub->target_count; i++) {
        ab_live_copy_t *copy = pub->copies[i];
        if (pub->request)
            ab_copy_set_request (copy, s_request_new (pub, copy, timers));
        if (pub->rewrites && pub->rewrites[i])
            ab_copy_rewrite (copy, pub->rewrites[i]);
        ab_copy_ready (copies, copy, AB_QUEUE_BACK);
    }
    ab_msg_t *msg = pub->msg;
    if (msg->store == ab_ledger_disk (ledger)) {
        ab_ledger_note_durable (ledger);
        /* on disk: read back on delivery */
        ab_frames_free (msg->body, msg->body_count);
        msg->body = NULL;
        msg->body_count = 0;
    }
    counters->counters[pub->request ? AB_C_REQUESTS : AB_C_PUBLISHED]++;
}

void
ab_pub_answer (ab_pub_t *pub, ab_outbox_t *outbox, ab_ledger_t *ledger)
{
    if (pub->request)
        return; /* a REQ is answered by its REPLY */
    ab_jsonw_t *out = ab_outbox_writer (outbox);
    ab_jsonw_int (out, "routed", (long long)pub->target_count);
    if (pub->echo)
        ab_jsonw_value (out, "id", pub->echo);
    bool durable = pub->msg->store == ab_ledger_disk (ledger);
    ab_outbox_ok (outbox, ab_session_routing_id (pub->from),
                  durable ? AB_SEND_FRESH : AB_SEND_SETTLED);
}

void
ab_pub_clear (ab_pub_t *pub, ab_copies_t *copies)
{
    json_decref (pub->errors);
    json_decref (pub->payload);
    for (size_t i = 0; pub->rewrites && i < pub->target_count; i++)
        free (pub->rewrites[i]);
    free (pub->rewrites);
    free (pub->targets);
    free (pub->copies);
    ab_msg_unref (copies, &pub->msg);
    pub->errors = pub->payload = NULL;
    pub->rewrites = NULL;
    pub->targets = NULL;
    pub->copies = NULL;
}

/* ---------------------------------------------------------------------
   Check-ahead */

struct _ab_checks_t {
    ab_pool_t *pool;                /* threads that check payloads */
    size_t checking[AB_CHECKS_MAX]; /* indexes of the inbound PUBs being
                                       checked */
    ab_inbound_t *inbound;          /* this turn's commands (borrowed) */
    ab_pub_tree_t tree;             /* this turn's need of payload trees */
    bool started;                   /* the pool has this turn's checks */
};

ab_checks_t *
ab_checks_new (int threads)
{
    ab_checks_t *self = ab_oom_check (calloc (1, sizeof *self));
    self->pool = ab_pool_new (
        threads < 0 ? 0
        : threads > 0
            ? (size_t)threads
            : ab_pool_default_threads (S_BUSY_THREADS, S_CHECK_THREADS_MAX));
    if (!self->pool)
        ab_checks_destroy (&self);
    return self;
}

void
ab_checks_destroy (ab_checks_t **self_p)
{
    assert (self_p);
    ab_checks_t *self = *self_p;
    if (!self)
        return;
    ab_pool_destroy (&self->pool);
    free (self);
    *self_p = NULL;
}

/* One payload check, on any thread. */
static void
s_check_one (void *arg, size_t i)
{
    ab_checks_t *self = arg;
    ab_inbound_t *in = &self->inbound[self->checking[i]];
    in->check = ab_pub_check (&in->pub, in->proto, self->tree);
    atomic_store_explicit (&in->done, true, memory_order_release);
}

/* Finds the PUBs and REQs among the batch; returns how many. */
static size_t
s_find_pubs (ab_checks_t *self, ab_inbound_t *inbound, size_t count)
{
    size_t found = 0;
    for (size_t i = 0; i < count; i++) {
        ab_inbound_t *in = &inbound[i];
        ab_cmd_t command = in->proto ? ab_proto_command (in->proto) : 0;
        if (in->rc == 0 && in->proto &&
            (command == AB_CMD_PUB || command == AB_CMD_REQ))
            self->checking[found++] = i;
    }
    return found;
}

size_t
ab_checks_start (ab_checks_t *self, ab_inbound_t *inbound, size_t count,
                 ab_topology_t *topology, ab_pub_tree_t tree)
{
    assert (count <= AB_CHECKS_MAX); /* the caller's batch: our bug */
    if (!ab_pool_threads (self->pool))
        return 0;
    size_t checking = s_find_pubs (self, inbound, count);
    if (checking < S_CHECK_AHEAD_MIN)
        return 0;
    size_t pooled = 0;
    for (size_t i = 0; i < checking; i++) {
        ab_inbound_t *in = &inbound[self->checking[i]];
        ab_pub_begin (&in->pub, in->proto);
        in->checked = true;
        in->check = ab_pub_resolve (&in->pub, topology);
        if (in->check == 0) {
            in->pooled = true;
            atomic_store_explicit (&in->done, false, memory_order_relaxed);
            self->checking[pooled++] = self->checking[i];
        }
    }
    self->inbound = inbound;
    self->tree = tree;
    ab_pool_start (self->pool, s_check_one, self, pooled);
    self->started = true;
    return pooled;
}

/* Until `in`'s payload check is done: the broker's thread checks the
   next PUBs itself rather than wait idle. */
static void
s_wait (ab_checks_t *self, ab_inbound_t *in)
{
    if (!in->pooled)
        return;
    while (!atomic_load_explicit (&in->done, memory_order_acquire))
        if (!ab_pool_help (self->pool))
            sched_yield (); /* a pool thread has it in hand */
    in->pooled = false;
}

int
ab_checks_take (ab_checks_t *self, ab_inbound_t *in, ab_topology_t *topology,
                ab_pub_tree_t tree, ab_pub_t *pub)
{
    if (in->checked) { /* validated in ab_checks_start */
        s_wait (self, in);
        *pub = in->pub;
        in->checked = false; /* pub's payload and errors are the taker's */
        return in->check;
    }
    ab_pub_begin (pub, in->proto);
    if (ab_pub_resolve (pub, topology))
        return -1;
    return ab_pub_check (pub, in->proto, tree);
}

void
ab_checks_drop (ab_checks_t *self, ab_inbound_t *in)
{
    if (!in->checked)
        return;
    s_wait (self, in);
    json_decref (in->pub.payload);
    json_decref (in->pub.errors);
    in->checked = false;
}

void
ab_checks_end (ab_checks_t *self)
{
    if (self->started) /* every check was taken; the round ends */
        ab_pool_wait (self->pool);
    self->started = false;
}
