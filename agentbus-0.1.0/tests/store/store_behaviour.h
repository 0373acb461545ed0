/*  store_behaviour - what every ab_store implementation must do

    One set of test bodies for all implementations: tests/check_store.c
    runs them on the memory store, tests/check_store_lmdb.c on the LMDB
    store. The including file defines s_store_name, s_store_durable and
    s_store_open () (a fresh, empty store; bytes_limit 0 = none) before
    including this, then calls store_behaviour_add (tcase). A test added
    here runs against every implementation. */

#ifndef STORE_BEHAVIOUR_H_INCLUDED
#define STORE_BEHAVIOUR_H_INCLUDED

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "store/ab_store.h"

#define MIB (1024 * 1024)

/* A message with a small payload and `attachments` frames of `size`
   bytes each; frames initialised, to be closed by s_frames_close. */
static ab_message_t
s_message (uint64_t id, zmq_msg_t *frames, size_t attachments, size_t size)
{
    const char *payload = "{\"q\":\"hello\"}";
    zmq_msg_init_size (&frames[0], strlen (payload));
    memcpy (zmq_msg_data (&frames[0]), payload, strlen (payload));
    for (size_t i = 1; i <= attachments; i++) {
        zmq_msg_init_size (&frames[i], size);
        memset (zmq_msg_data (&frames[i]), (int)i, size);
    }
    return (ab_message_t){.id = id,
                          .type = "retrieval.context",
                          .version = 2,
                          .from = "retriever",
                          .producer_id = "p-1",
                          .has_seq = true,
                          .seq = 42,
                          .traceparent = "00-abc-def-01",
                          .expires_ms = 1700000000000,
                          .header = "{\"type\":\"retrieval.context\"}",
                          .frames = frames,
                          .frame_count = 1 + attachments};
}

static void
s_frames_close (zmq_msg_t *frames, size_t count)
{
    for (size_t i = 0; i < count; i++)
        zmq_msg_close (&frames[i]);
}

static ab_copy_t
s_copy (uint64_t id, uint64_t message_id)
{
    return (ab_copy_t){.id = id,
                       .message_id = message_id,
                       .edge = 3,
                       .edge_key = "retriever->reasoner:retrieval.context",
                       .attempts = 0,
                       .next_ms = 0,
                       .state = AB_COPY_QUEUED};
}

/* Stores message `id` with one small attachment. */
static void
s_put (ab_store_t *store, uint64_t id)
{
    zmq_msg_t frames[2];
    ab_message_t message = s_message (id, frames, 1, 16);
    ck_assert_int_eq (ab_store_put_message (store, &message), 0);
    s_frames_close (frames, 2);
}

START_TEST (test_ids_and_batches)
{
    ab_store_t *store = s_store_open (0);
    ck_assert_str_eq (ab_store_name (store), s_store_name);
    ck_assert (ab_store_durable (store) == s_store_durable);
    uint64_t a, b;
    ck_assert_int_eq (ab_store_next_id (store, &a), 0);
    ck_assert_int_eq (ab_store_next_id (store, &b), 0);
    ck_assert_uint_gt (a, 0);
    ck_assert_uint_gt (b, a);
    ck_assert_int_eq (ab_store_commit (store), AB_ESTATE);
    ck_assert_int_eq (ab_store_begin (store), 0);
    ck_assert (ab_store_in_batch (store));
    ck_assert_int_eq (ab_store_begin (store), AB_ESTATE);
    s_put (store, a);
    ck_assert_int_eq (ab_store_commit (store), 0);
    ck_assert (!ab_store_in_batch (store));
    ab_store_destroy (&store);
    ck_assert_ptr_null (store);
    ab_store_destroy (&store);
}
END_TEST

START_TEST (test_message_round_trip)
{
    ab_store_t *store = s_store_open (0);
    zmq_msg_t frames[3];
    ab_message_t message = s_message (7, frames, 2, 100);
    ck_assert_int_eq (ab_store_put_message (store, &message), 0);
    ck_assert_int_eq (ab_store_put_message (store, &message), AB_EEXIST);
    s_frames_close (frames, 3);

    ab_message_t *got = NULL;
    ck_assert_int_eq (ab_store_get_message (store, 8, &got), AB_ENOENT);
    ck_assert_ptr_null (got);
    ck_assert_int_eq (ab_store_get_message (store, 7, &got), 0);
    ck_assert_uint_eq (got->id, 7);
    ck_assert_str_eq (got->type, "retrieval.context");
    ck_assert_int_eq (got->version, 2);
    ck_assert_str_eq (got->from, "retriever");
    ck_assert_str_eq (got->producer_id, "p-1");
    ck_assert (got->has_seq);
    ck_assert_int_eq (got->seq, 42);
    ck_assert_str_eq (got->traceparent, "00-abc-def-01");
    ck_assert_int_eq (got->expires_ms, 1700000000000);
    ck_assert_str_eq (got->header, "{\"type\":\"retrieval.context\"}");
    ck_assert_uint_eq (got->frame_count, 3);
    ck_assert_mem_eq (zmq_msg_data (&got->frames[0]), "{\"q\":\"hello\"}", 13);
    ck_assert_uint_eq (zmq_msg_size (&got->frames[2]), 100);
    ck_assert_int_eq (((unsigned char *)zmq_msg_data (&got->frames[2]))[99], 2);
    ck_assert_uint_eq (ab_message_bytes (got), 213);
    ab_message_destroy (&got);
    ck_assert_ptr_null (got);

    ab_store_stats_t stats;
    ab_store_stats (store, &stats);
    ck_assert_uint_eq (stats.messages, 1);
    ck_assert_uint_eq (stats.bytes, 213);
    /* a message without copies goes only when asked */
    ck_assert_int_eq (ab_store_del_message (store, 7), 0);
    ck_assert_int_eq (ab_store_del_message (store, 7), AB_ENOENT);
    ab_store_stats (store, &stats);
    ck_assert_uint_eq (stats.messages, 0);
    ck_assert_uint_eq (stats.bytes, 0);
    ab_store_destroy (&store);
}
END_TEST

START_TEST (test_optional_fields_and_bad_messages)
{
    ab_store_t *store = s_store_open (0);
    zmq_msg_t frames[1];
    ab_message_t message = s_message (5, frames, 0, 0);
    message.producer_id = NULL;
    message.traceparent = NULL;
    message.has_seq = false;
    ck_assert_int_eq (ab_store_put_message (store, &message), 0);
    ab_message_t *got = NULL;
    ck_assert_int_eq (ab_store_get_message (store, 5, &got), 0);
    ck_assert_ptr_null (got->producer_id);
    ck_assert_ptr_null (got->traceparent);
    ck_assert (!got->has_seq);
    ab_message_destroy (&got);

    char long_id[AB_STORE_PRODUCER_ID_MAX + 2];
    memset (long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = 0;
    ab_message_t bad = message;
    bad.id = 6;
    bad.producer_id = long_id;
    ck_assert_int_eq (ab_store_put_message (store, &bad), AB_EINVAL);
    long_id[AB_STORE_PRODUCER_ID_MAX] = 0; /* exactly 128 is fine */
    ck_assert_int_eq (ab_store_put_message (store, &bad), 0);
    bad = message;
    bad.id = 0;
    ck_assert_int_eq (ab_store_put_message (store, &bad), AB_EINVAL);
    bad = message;
    bad.frame_count = 0;
    ck_assert_int_eq (ab_store_put_message (store, &bad), AB_EINVAL);
    bad = message;
    bad.type = NULL;
    ck_assert_int_eq (ab_store_put_message (store, &bad), AB_EINVAL);
    ck_assert_int_eq (ab_store_put_message (store, NULL), AB_EINVAL);
    s_frames_close (frames, 1);
    ab_store_destroy (&store); /* frees stored messages: ASan checks */
}
END_TEST

START_TEST (test_bytes_limit_is_efull)
{
    ab_store_t *store = s_store_open (3 * MIB);
    zmq_msg_t frames[2];
    for (uint64_t id = 1; id <= 2; id++) {
        ab_message_t message = s_message (id, frames, 1, MIB);
        ck_assert_int_eq (ab_store_put_message (store, &message), 0);
        s_frames_close (frames, 2);
    }
    ab_message_t message = s_message (3, frames, 1, MIB);
    ck_assert_int_eq (ab_store_put_message (store, &message), AB_EFULL);
    ab_store_stats_t stats;
    ab_store_stats (store, &stats);
    ck_assert_uint_eq (stats.messages, 2);
    ck_assert_uint_eq (stats.bytes_limit, 3 * MIB);
    /* freeing one makes room again */
    ck_assert_int_eq (ab_store_del_message (store, 1), 0);
    ck_assert_int_eq (ab_store_put_message (store, &message), 0);
    s_frames_close (frames, 2);
    /* one message bigger than the whole limit */
    message = s_message (4, frames, 1, 4 * MIB);
    ck_assert_int_eq (ab_store_put_message (store, &message), AB_EFULL);
    s_frames_close (frames, 2);
    ab_store_destroy (&store);
}
END_TEST

START_TEST (test_copies_and_message_lifetime)
{
    ab_store_t *store = s_store_open (0);
    s_put (store, 1);
    ab_copy_t copy = s_copy (10, 1);
    ab_copy_t other = s_copy (11, 1);
    other.edge = 4;
    other.edge_key = "retriever->auditor:retrieval.context";
    ck_assert_int_eq (ab_store_put_copy (store, &copy), 0);
    ck_assert_int_eq (ab_store_put_copy (store, &other), 0);
    ck_assert_int_eq (ab_store_del_message (store, 1), AB_ESTATE);

    /* an update: delivered, in flight */
    copy.state = AB_COPY_INFLIGHT;
    copy.attempts = 1;
    copy.next_ms = 5000;
    ck_assert_int_eq (ab_store_put_copy (store, &copy), 0);
    ab_copy_t got;
    ck_assert_int_eq (ab_store_get_copy (store, 10, &got), 0);
    ck_assert_uint_eq (got.message_id, 1);
    ck_assert_uint_eq (got.edge, 3);
    ck_assert_str_eq (got.edge_key, "retriever->reasoner:retrieval.context");
    ck_assert_int_eq (got.attempts, 1);
    ck_assert_int_eq (got.next_ms, 5000);
    ck_assert_int_eq (got.state, AB_COPY_INFLIGHT);

    /* identity may not change; bad states and unknown messages refused */
    ab_copy_t bad = copy;
    bad.edge_key = "x->y:z";
    ck_assert_int_eq (ab_store_put_copy (store, &bad), AB_EINVAL);
    bad = copy;
    bad.state = AB_COPY_DEAD;
    ck_assert_int_eq (ab_store_put_copy (store, &bad), AB_EINVAL);
    bad = s_copy (12, 99);
    ck_assert_int_eq (ab_store_put_copy (store, &bad), AB_ENOENT);
    bad = s_copy (0, 1);
    ck_assert_int_eq (ab_store_put_copy (store, &bad), AB_EINVAL);

    /* done removes the copy; the last copy frees the message */
    copy.state = AB_COPY_DONE;
    ck_assert_int_eq (ab_store_put_copy (store, &copy), 0);
    ck_assert_int_eq (ab_store_get_copy (store, 10, &got), AB_ENOENT);
    ab_store_stats_t stats;
    ab_store_stats (store, &stats);
    ck_assert_uint_eq (stats.copies, 1);
    ck_assert_uint_eq (stats.messages, 1);
    ck_assert_int_eq (ab_store_del_copy (store, 11), 0);
    ck_assert_int_eq (ab_store_del_copy (store, 11), AB_ENOENT);
    ab_store_stats (store, &stats);
    ck_assert_uint_eq (stats.copies, 0);
    ck_assert_uint_eq (stats.messages, 0);
    ck_assert_uint_eq (stats.bytes, 0);
    ab_store_destroy (&store);
}
END_TEST

START_TEST (test_dead_letters)
{
    ab_store_t *store = s_store_open (0);
    s_put (store, 1);
    for (uint64_t id = 10; id < 20; id++) {
        ab_copy_t copy = s_copy (id, 1);
        copy.attempts = (int)(id - 10);
        ck_assert_int_eq (ab_store_put_copy (store, &copy), 0);
    }
    /* die in the order 15, 11, 19, 10, ... : listing keeps that order */
    uint64_t order[] = {15, 11, 19, 10, 12, 13, 14, 16, 17, 18};
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq (ab_store_dead_letter (store, order[i],
                                                (ab_dead_reason_t)(i % 3),
                                                1000 + i),
                          0);
    ck_assert_int_eq (ab_store_dead_letter (store, 15, AB_DEAD_EXPIRED, 0),
                      AB_ENOENT);
    ck_assert_int_eq (ab_store_dead_letter (store, 99, AB_DEAD_EXPIRED, 0),
                      AB_ENOENT);
    ab_copy_t copy;
    ck_assert_int_eq (ab_store_get_copy (store, 15, &copy), AB_ENOENT);
    copy = s_copy (15, 1);
    ck_assert_int_eq (ab_store_put_copy (store, &copy), AB_EEXIST);

    ab_dead_letter_t dead;
    ck_assert_int_eq (ab_store_get_dead (store, 19, &dead), 0);
    ck_assert_uint_eq (dead.copy.id, 19);
    ck_assert_uint_eq (dead.copy.message_id, 1);
    ck_assert_int_eq (dead.copy.attempts, 9);
    ck_assert_int_eq (dead.copy.state, AB_COPY_DEAD);
    ck_assert_str_eq (dead.copy.edge_key,
                      "retriever->reasoner:retrieval.context");
    ck_assert_int_eq (dead.reason, AB_DEAD_EXPIRED);
    ck_assert_int_eq (dead.at_ms, 1002);

    /* page through 4 at a time, removing one entry between pages */
    ab_dead_letter_t page[4];
    size_t count;
    uint64_t cursor = 0;
    ck_assert_int_eq (ab_store_list_dead (store, &cursor, 4, page, &count), 0);
    ck_assert_uint_eq (count, 4);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq (page[i].copy.id, order[i]);
    ck_assert_int_eq (ab_store_del_dead (store, 12), 0); /* next on the list */
    ck_assert_int_eq (ab_store_del_dead (store, 12), AB_ENOENT);
    ck_assert_int_eq (ab_store_list_dead (store, &cursor, 4, page, &count), 0);
    ck_assert_uint_eq (count, 4);
    uint64_t expect[] = {13, 14, 16, 17};
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq (page[i].copy.id, expect[i]);
    ck_assert_int_eq (ab_store_list_dead (store, &cursor, 4, page, &count), 0);
    ck_assert_uint_eq (count, 1);
    ck_assert_uint_eq (page[0].copy.id, 18);
    ck_assert_int_eq (ab_store_list_dead (store, &cursor, 4, page, &count), 0);
    ck_assert_uint_eq (count, 0);
    ck_assert_int_eq (ab_store_list_dead (store, &cursor, 4, NULL, &count),
                      AB_EINVAL);

    /* the message stays while dead letters refer to it (for replay) */
    ab_message_t *message = NULL;
    ck_assert_int_eq (ab_store_get_message (store, 1, &message), 0);
    ab_message_destroy (&message);
    uint64_t rest[] = {15, 11, 19, 10, 13, 14, 16, 17, 18};
    for (int i = 0; i < 9; i++)
        ck_assert_int_eq (ab_store_del_dead (store, rest[i]), 0);
    ab_store_stats_t stats;
    ab_store_stats (store, &stats);
    ck_assert_uint_eq (stats.dead, 0);
    ck_assert_uint_eq (stats.messages, 0);
    cursor = 0;
    ck_assert_int_eq (ab_store_list_dead (store, &cursor, 4, page, &count), 0);
    ck_assert_uint_eq (count, 0);
    ab_store_destroy (&store);
}
END_TEST

START_TEST (test_many_dead_letters)
{
    ab_store_t *store = s_store_open (0);
    s_put (store, 1);
    enum { N = 1000 };
    for (uint64_t id = 1; id <= N; id++) {
        ab_copy_t copy = s_copy (100 + id, 1);
        ck_assert_int_eq (ab_store_put_copy (store, &copy), 0);
        ck_assert_int_eq (
            ab_store_dead_letter (store, 100 + id, AB_DEAD_REJECTED, 0), 0);
    }
    /* remove every id but multiples of 10, then page through */
    for (uint64_t id = 1; id <= N; id++)
        if (id % 10)
            ck_assert_int_eq (ab_store_del_dead (store, 100 + id), 0);
    ab_dead_letter_t page[7];
    size_t count, seen = 0;
    uint64_t cursor = 0;
    do {
        ck_assert_int_eq (ab_store_list_dead (store, &cursor, 7, page, &count),
                          0);
        for (size_t i = 0; i < count; i++)
            ck_assert_uint_eq (page[i].copy.id, 100 + 10 * (++seen));
    } while (count == 7);
    ck_assert_uint_eq (seen, N / 10);
    ab_store_destroy (&store); /* with dead letters left: no leak */
}
END_TEST

START_TEST (test_seq_state)
{
    ab_store_t *store = s_store_open (0);
    int64_t seq = -1;
    ck_assert_int_eq (ab_store_get_seq (store, "trainer", "t->p:g", &seq),
                      AB_ENOENT);
    ck_assert_int_eq (ab_store_set_seq (store, "trainer", "t->p:g", 5), 0);
    ck_assert_int_eq (ab_store_set_seq (store, "trainer", "t->p:g", 9), 0);
    ck_assert_int_eq (ab_store_set_seq (store, "trainer2", "t->p:g", 1), 0);
    /* "ab"+"c" and "a"+"bc" must be different keys */
    ck_assert_int_eq (ab_store_set_seq (store, "ab", "c", 100), 0);
    ck_assert_int_eq (ab_store_set_seq (store, "a", "bc", 200), 0);
    ck_assert_int_eq (ab_store_get_seq (store, "trainer", "t->p:g", &seq), 0);
    ck_assert_int_eq (seq, 9);
    ck_assert_int_eq (ab_store_get_seq (store, "trainer2", "t->p:g", &seq), 0);
    ck_assert_int_eq (seq, 1);
    ck_assert_int_eq (ab_store_get_seq (store, "ab", "c", &seq), 0);
    ck_assert_int_eq (seq, 100);
    ck_assert_int_eq (ab_store_get_seq (store, "a", "bc", &seq), 0);
    ck_assert_int_eq (seq, 200);
    ck_assert_int_eq (ab_store_get_seq (store, NULL, "x", &seq), AB_EINVAL);
    ck_assert_int_eq (ab_store_set_seq (store, "x", NULL, 1), AB_EINVAL);
    ab_store_destroy (&store);
}
END_TEST

typedef struct {
    size_t messages;
    uint64_t copies[8];
    size_t copy_count;
} s_walk_t;

static int
s_on_message (void *arg, const ab_message_t *message)
{
    ((s_walk_t *)arg)->messages++;
    return 0;
}

static int
s_on_copy (void *arg, const ab_copy_t *copy)
{
    s_walk_t *walk = arg;
    walk->copies[walk->copy_count++] = copy->id;
    return walk->copy_count == 8 ? 7 : 0;
}

START_TEST (test_recover)
{
    ab_store_t *store = s_store_open (0);
    s_walk_t walk = {0};
    ck_assert_int_eq (ab_store_recover (store, s_on_message, s_on_copy, &walk),
                      0);
    ck_assert_uint_eq (walk.messages, 0); /* fresh: nothing */
    ck_assert_uint_eq (walk.copy_count, 0);
    s_put (store, 1);
    s_put (store, 2);
    uint64_t ids[] = {30, 10, 20};
    for (int i = 0; i < 3; i++) {
        ab_copy_t copy = s_copy (ids[i], 1 + (uint64_t)i % 2);
        ck_assert_int_eq (ab_store_put_copy (store, &copy), 0);
    }
    ck_assert_int_eq (ab_store_recover (store, s_on_message, s_on_copy, &walk),
                      0);
    ck_assert_uint_eq (walk.messages, 2);
    ck_assert_uint_eq (walk.copy_count, 3);
    ck_assert_uint_eq (walk.copies[0], 10); /* id order */
    ck_assert_uint_eq (walk.copies[1], 20);
    ck_assert_uint_eq (walk.copies[2], 30);
    walk.copy_count = 5; /* the callback stops the walk at 8 */
    ck_assert_int_eq (ab_store_recover (store, NULL, s_on_copy, &walk), 7);
    ab_store_destroy (&store);
}
END_TEST
static void
store_behaviour_add (TCase *tc)
{
    tcase_add_test (tc, test_ids_and_batches);
    tcase_add_test (tc, test_message_round_trip);
    tcase_add_test (tc, test_optional_fields_and_bad_messages);
    tcase_add_test (tc, test_bytes_limit_is_efull);
    tcase_add_test (tc, test_copies_and_message_lifetime);
    tcase_add_test (tc, test_dead_letters);
    tcase_add_test (tc, test_many_dead_letters);
    tcase_add_test (tc, test_seq_state);
    tcase_add_test (tc, test_recover);
}

#endif
