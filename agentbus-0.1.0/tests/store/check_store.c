/*  check_store - the storage interface over the in-memory store: the
    shared behaviour (store_behaviour.h), then what is memory-only */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "agentbus.h"
#include "store/ab_store.h"

static const char *s_store_name = "memory";
static const bool s_store_durable = false;

static ab_store_t *
s_store_open (size_t bytes_limit)
{
    ab_store_memory_options_t options = {.bytes_limit = bytes_limit};
    return ab_store_new_memory (&options);
}

#include "store_behaviour.h"
#include "ab_check.h"

START_TEST (test_attachments_are_not_copied)
{
    ab_store_t *store = ab_store_new_memory (NULL);
    zmq_msg_t frames[2];
    ab_message_t message = s_message (1, frames, 1, MIB);
    void *original = zmq_msg_data (&frames[1]);
    ck_assert_int_eq (ab_store_put_message (store, &message), 0);
    s_frames_close (frames, 2); /* the store keeps the buffer alive */

    ab_message_t *first = NULL, *second = NULL;
    ck_assert_int_eq (ab_store_get_message (store, 1, &first), 0);
    ck_assert_int_eq (ab_store_get_message (store, 1, &second), 0);
    ck_assert_ptr_eq (zmq_msg_data (&first->frames[1]), original);
    ck_assert_ptr_eq (zmq_msg_data (&second->frames[1]), original);
    ck_assert_uint_eq (zmq_msg_size (&first->frames[1]), MIB);
    ck_assert_int_eq (((unsigned char *)original)[MIB - 1], 1);
    /* the store frees its reference; handed-out copies stay valid */
    ck_assert_int_eq (ab_store_del_message (store, 1), 0);
    ab_message_destroy (&first);
    ck_assert_int_eq (((unsigned char *)zmq_msg_data (&second->frames[1]))[0],
                      1);
    ab_message_destroy (&second);
    ab_store_destroy (&store);
}
END_TEST

START_TEST (test_names)
{
    ab_dead_reason_t reason;
    ck_assert_str_eq (ab_dead_reason_name (AB_DEAD_MAX_ATTEMPTS),
                      "max_attempts");
    ck_assert_str_eq (ab_dead_reason_name (AB_DEAD_REJECTED), "rejected");
    ck_assert_str_eq (ab_dead_reason_name (AB_DEAD_EXPIRED), "expired");
    ck_assert_ptr_null (ab_dead_reason_name (AB_DEAD_REASON_COUNT_));
    ck_assert_int_eq (ab_dead_reason_from_name ("expired", &reason), 0);
    ck_assert_int_eq (reason, AB_DEAD_EXPIRED);
    ck_assert_int_eq (ab_dead_reason_from_name ("old", &reason), AB_EINVAL);
    ck_assert_int_eq (ab_dead_reason_from_name (NULL, &reason), AB_EINVAL);
    char *key = ab_store_edge_key ("a", "b", "t.x");
    ck_assert_str_eq (key, "a->b:t.x");
    free (key);
    ab_store_t *store = ab_store_new_memory (NULL);
    ck_assert_int_eq (ab_store_dead_letter (store, 1, AB_DEAD_REASON_COUNT_, 0),
                      AB_EINVAL);
    ab_store_destroy (&store);
}
END_TEST

/* An implementation whose every operation must not be reached: proves
   the wrappers check arguments before calling the ops. */
static int s_destroyed;

static void
s_never_destroy (void *impl)
{
    s_destroyed++;
}

static int
s_never_commit (void *impl)
{
    ck_abort_msg ("commit called outside a batch");
    return 0;
}

static int
s_never_put_message (void *impl, const ab_message_t *message)
{
    ck_abort_msg ("put_message called with a bad message");
    return 0;
}

static int
s_never_put_copy (void *impl, const ab_copy_t *copy)
{
    ck_abort_msg ("put_copy called with a bad copy");
    return 0;
}

static int
s_never_dead_letter (void *impl, uint64_t copy_id, ab_dead_reason_t reason,
                     int64_t at_ms)
{
    ck_abort_msg ("dead_letter called with a bad reason");
    return 0;
}

static int
s_never_get_seq (void *impl, const char *producer, const char *edge_key,
                 int64_t *seq_p)
{
    ck_abort_msg ("get_seq called without an edge key");
    return 0;
}

START_TEST (test_custom_ops_checked_by_wrappers)
{
    ab_store_ops_t ops = {.name = "never",
                          .durable = true,
                          .destroy = s_never_destroy,
                          .commit = s_never_commit,
                          .put_message = s_never_put_message,
                          .put_copy = s_never_put_copy,
                          .dead_letter = s_never_dead_letter,
                          .get_seq = s_never_get_seq};
    s_destroyed = 0;
    ab_store_t *store = ab_store_new (&ops, NULL);
    ck_assert_str_eq (ab_store_name (store), "never");
    ck_assert (ab_store_durable (store));
    ck_assert_int_eq (ab_store_commit (store), AB_ESTATE);
    ck_assert_int_eq (ab_store_put_message (store, NULL), AB_EINVAL);
    ab_copy_t copy = s_copy (1, 1);
    copy.state = AB_COPY_DEAD;
    ck_assert_int_eq (ab_store_put_copy (store, &copy), AB_EINVAL);
    copy = s_copy (1, 0);
    ck_assert_int_eq (ab_store_put_copy (store, &copy), AB_EINVAL);
    copy = s_copy (1, 1);
    copy.edge_key = NULL;
    ck_assert_int_eq (ab_store_put_copy (store, &copy), AB_EINVAL);
    copy = s_copy (1, 1);
    copy.attempts = -1;
    ck_assert_int_eq (ab_store_put_copy (store, &copy), AB_EINVAL);
    ck_assert_int_eq (ab_store_dead_letter (store, 1, (ab_dead_reason_t)7, 0),
                      AB_EINVAL);
    int64_t seq;
    ck_assert_int_eq (ab_store_get_seq (store, "a", NULL, &seq), AB_EINVAL);
    ab_store_destroy (&store);
    ck_assert_int_eq (s_destroyed, 1);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("ab_store");
    TCase *tc = tcase_create ("memory");
    store_behaviour_add (tc);
    tcase_add_test (tc, test_attachments_are_not_copied);
    tcase_add_test (tc, test_names);
    tcase_add_test (tc, test_custom_ops_checked_by_wrappers);
    suite_add_tcase (suite, tc);
    return ab_check_run (suite);
}
