/*  check_store_lmdb - the LMDB store: the shared store behaviour, then
    persistence, the map limit, foreign and damaged directories, sync
    modes and crash consistency */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentbus.h"
#include "common/ab_diag.h"
#include "store/ab_store.h"
#include "store/ab_store_lmdb.h"

static const char *s_store_name = "lmdb";
static const bool s_store_durable = true;

/* A directory per test case, made in the runner and removed there even
   when a test fails; in it one per test and the data_dir inside that
   (each test runs in its own process with CK_FORK). */
static char s_root[64];
static char s_tmp[128];
static char s_data[160];

static ab_store_t *
s_open_with (const ab_store_lmdb_options_t *options)
{
    ab_diag_t *diag = ab_diag_new ();
    ab_store_t *store = ab_store_new_lmdb (options, diag);
    if (!store)
        ab_diag_print (diag, stderr);
    ck_assert_ptr_nonnull (store);
    ck_assert_uint_eq (ab_diag_count (diag), 0);
    ab_diag_destroy (&diag);
    return store;
}

/* Behaviour tests do not depend on syncing: skip it for speed. */
static ab_store_t *
s_store_open (size_t bytes_limit)
{
    ab_store_lmdb_options_t options = {.data_dir = s_data,
                                       .sync = AB_STORE_SYNC_NEVER,
                                       .bytes_limit = bytes_limit};
    return s_open_with (&options);
}

#include "store_behaviour.h"
#include "ab_check.h"

static int
s_remove_entry (const char *path, const struct stat *stat, int flag,
                struct FTW *ftw)
{
    return remove (path);
}

static void
s_root_setup (void)
{
    snprintf (s_root, sizeof s_root, "/tmp/ab-lmdb-XXXXXX");
    ck_assert_ptr_nonnull (mkdtemp (s_root));
}

static void
s_root_teardown (void)
{
    nftw (s_root, s_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void
s_setup (void)
{
    snprintf (s_tmp, sizeof s_tmp, "%s/test-XXXXXX", s_root);
    ck_assert_ptr_nonnull (mkdtemp (s_tmp));
    snprintf (s_data, sizeof s_data, "%s/data", s_tmp);
}

static void
s_teardown (void)
{
    nftw (s_tmp, s_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Opening `path` fails, with a diagnostic containing `words`. */
static void
s_open_fails (const char *path, const char *words)
{
    ab_store_lmdb_options_t options = {.data_dir = path};
    ab_diag_t *diag = ab_diag_new ();
    ab_store_t *store = ab_store_new_lmdb (&options, diag);
    ck_assert_ptr_null (store);
    ck_assert_uint_eq (ab_diag_count (diag), 1);
    const char *text = ab_diag_text (diag, 0);
    ck_assert_msg (strstr (text, words), "'%s' lacks '%s'", text, words);
    ck_assert_msg (strncmp (text, path, strlen (path)) == 0,
                   "'%s' does not name the directory", text);
    ab_diag_destroy (&diag);
}

static void
s_write_file (const char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    ck_assert_ptr_nonnull (file);
    fputs (text, file);
    fclose (file);
}

/* Reopens the store test_persistence wrote and checks all of it; ids[4]
   is the last id handed out, and is updated. */
static void
s_check_persisted (const char *store_id, uint64_t ids[5])
{
    ab_store_t *store = s_store_open (0);
    ab_copy_t copy;
    ck_assert_str_eq (ab_store_lmdb_id (store), store_id);
    uint64_t id;
    ck_assert_int_eq (ab_store_next_id (store, &id), 0);
    ck_assert_uint_gt (id, ids[4]);
    ids[4] = id;
    ab_message_t *got = NULL;
    ck_assert_int_eq (ab_store_get_message (store, ids[0], &got), 0);
    ck_assert_str_eq (got->traceparent, "00-abc-def-01");
    ck_assert_uint_eq (got->frame_count, 3);
    ck_assert_uint_eq (zmq_msg_size (&got->frames[2]), 5000);
    ck_assert_int_eq (((uint8_t *)zmq_msg_data (&got->frames[2]))[4999], 2);
    ab_message_destroy (&got);
    ck_assert_int_eq (ab_store_get_copy (store, ids[1], &copy), 0);
    ck_assert_int_eq (copy.attempts, 3);
    ck_assert_int_eq (copy.state, AB_COPY_INFLIGHT);
    ck_assert_str_eq (copy.edge_key, "retriever->reasoner:retrieval.context");
    ab_dead_letter_t dead;
    ck_assert_int_eq (ab_store_get_dead (store, ids[2], &dead), 0);
    ck_assert_int_eq (dead.copy.attempts, 7);
    ck_assert_int_eq (dead.reason, AB_DEAD_MAX_ATTEMPTS);
    ck_assert_int_eq (dead.at_ms, 1234);
    int64_t seq;
    ck_assert_int_eq (ab_store_get_seq (store, "trainer", "t->p:g", &seq), 0);
    ck_assert_int_eq (seq, 17);
    ab_store_stats_t stats;
    ab_store_stats (store, &stats);
    ck_assert_uint_eq (stats.messages, 1);
    ck_assert_uint_eq (stats.copies, 1);
    ck_assert_uint_eq (stats.dead, 1);
    ck_assert_uint_eq (stats.bytes, 13 + 2 * 5000);
    s_walk_t walk = {0};
    ck_assert_int_eq (ab_store_recover (store, s_on_message, s_on_copy, &walk),
                      0);
    ck_assert_uint_eq (walk.messages, 1);
    ck_assert_uint_eq (walk.copy_count, 1);
    ck_assert_uint_eq (walk.copies[0], ids[1]);
    ab_store_destroy (&store);
}

START_TEST (test_persistence)
{
    ab_store_t *store = s_store_open (0);
    ck_assert_ptr_nonnull (ab_store_lmdb_id (store));
    char store_id[33];
    snprintf (store_id, sizeof store_id, "%s", ab_store_lmdb_id (store));
    ck_assert_uint_eq (strlen (store_id), 32);
    uint64_t ids[5];
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq (ab_store_next_id (store, &ids[i]), 0);
    zmq_msg_t frames[3];
    ab_message_t message = s_message (ids[0], frames, 2, 5000);
    ck_assert_int_eq (ab_store_begin (store), 0);
    ck_assert_int_eq (ab_store_put_message (store, &message), 0);
    s_frames_close (frames, 3);
    ab_copy_t copy = s_copy (ids[1], ids[0]);
    copy.attempts = 3;
    copy.state = AB_COPY_INFLIGHT;
    ck_assert_int_eq (ab_store_put_copy (store, &copy), 0);
    copy = s_copy (ids[2], ids[0]);
    copy.attempts = 7;
    ck_assert_int_eq (ab_store_put_copy (store, &copy), 0);
    ck_assert_int_eq (
        ab_store_dead_letter (store, ids[2], AB_DEAD_MAX_ATTEMPTS, 1234), 0);
    ck_assert_int_eq (ab_store_set_seq (store, "trainer", "t->p:g", 17), 0);
    ck_assert_int_eq (ab_store_commit (store), 0);
    ab_store_destroy (&store);

    for (int round = 0; round < 2; round++)
        s_check_persisted (store_id, ids);
    /* the last references go: the message and its bytes with them */
    store = s_store_open (0);
    ck_assert_int_eq (ab_store_del_copy (store, ids[1]), 0);
    ck_assert_int_eq (ab_store_del_dead (store, ids[2]), 0);
    ab_store_destroy (&store);
    store = s_store_open (0);
    ab_store_stats_t stats;
    ab_store_stats (store, &stats);
    ck_assert_uint_eq (stats.messages, 0);
    ck_assert_uint_eq (stats.bytes, 0);
    ab_store_destroy (&store);
}
END_TEST

/* Puts messages of `size`-byte attachments from id `first` until the
   store says AB_EFULL; returns how many fitted. */
static uint64_t
s_fill (ab_store_t *store, uint64_t first, size_t size)
{
    uint64_t id = first;
    for (;; id++) {
        ck_assert_uint_lt (id - first, 10000);
        zmq_msg_t frames[2];
        ab_message_t message = s_message (id, frames, 1, size);
        int rc = ab_store_put_message (store, &message);
        s_frames_close (frames, 2);
        if (rc == AB_EFULL)
            return id - first;
        ck_assert_int_eq (rc, 0);
    }
}

START_TEST (test_map_full)
{
    ab_store_lmdb_options_t options = {.data_dir = s_data, .map_size = MIB};
    ab_store_t *store = s_open_with (&options);
    uint64_t fitted = s_fill (store, 1, 16 * 1024);
    ck_assert_uint_gt (fitted, 10);
    ck_assert_uint_lt (fitted, 64);
    /* one message larger than the whole map */
    zmq_msg_t frames[2];
    ab_message_t message = s_message (1000, frames, 1, 2 * MIB);
    ck_assert_int_eq (ab_store_put_message (store, &message), AB_EFULL);
    s_frames_close (frames, 2);

    /* a refused put inside a batch leaves the batch's other writes */
    ck_assert_int_eq (ab_store_begin (store), 0);
    ck_assert_int_eq (ab_store_set_seq (store, "p", "e", 5), 0);
    ck_assert_uint_eq (s_fill (store, 2000, 16 * 1024), 0);
    ck_assert_int_eq (ab_store_commit (store), 0);
    int64_t seq;
    ck_assert_int_eq (ab_store_get_seq (store, "p", "e", &seq), 0);
    ck_assert_int_eq (seq, 5);

    /* deleting works when full, and makes room again */
    for (uint64_t id = 1; id <= fitted; id += 2)
        ck_assert_int_eq (ab_store_del_message (store, id), 0);
    ck_assert_uint_gt (s_fill (store, 3000, 16 * 1024), fitted / 4);
    ab_store_destroy (&store);

    store = s_open_with (&options);
    ab_message_t *got = NULL;
    for (uint64_t id = 2; id <= fitted; id += 2) {
        ck_assert_int_eq (ab_store_get_message (store, id, &got), 0);
        ck_assert_uint_eq (zmq_msg_size (&got->frames[1]), 16 * 1024);
        ab_message_destroy (&got);
    }
    ab_store_destroy (&store);
}
END_TEST

/* Fills a batch with seq records, which the room check does not guard,
   until LMDB itself runs out of map: the whole batch is lost, nothing
   committed before is. */
START_TEST (test_map_full_aborts_batch)
{
    ab_store_lmdb_options_t options = {.data_dir = s_data, .map_size = MIB};
    ab_store_t *store = s_open_with (&options);
    uint64_t fitted = s_fill (store, 1, 16 * 1024);
    ck_assert_int_eq (ab_store_begin (store), 0);
    s_put (store, 500);
    char producer[300];
    memset (producer, 'p', sizeof producer - 1);
    producer[sizeof producer - 1] = 0;
    int rc = 0, i;
    for (i = 0; i < 100000 && rc == 0; i++) {
        snprintf (producer, 12, "%011d", i);
        producer[11] = 'p';
        rc = ab_store_set_seq (store, producer, "e", i);
    }
    ck_assert_int_eq (rc, AB_EFULL);
    ck_assert_int_gt (i, 10);
    /* the batch is dead: later writes fail the same way, commit too */
    ck_assert_int_eq (ab_store_set_seq (store, "x", "y", 1), AB_EFULL);
    ck_assert_int_eq (ab_store_commit (store), AB_EFULL);
    ab_message_t *got = NULL;
    ck_assert_int_eq (ab_store_get_message (store, 500, &got), AB_ENOENT);
    ck_assert_int_eq (ab_store_get_message (store, fitted, &got), 0);
    ab_message_destroy (&got);
    /* and the store goes on */
    ck_assert_int_eq (ab_store_del_message (store, 1), 0);
    s_put (store, 501);
    ab_store_destroy (&store);
    store = s_open_with (&options);
    int64_t seq;
    ck_assert_int_eq (ab_store_get_seq (store, producer, "e", &seq), AB_ENOENT);
    ck_assert_int_eq (ab_store_get_message (store, 501, &got), 0);
    ab_message_destroy (&got);
    ab_store_stats_t stats;
    ab_store_stats (store, &stats);
    ck_assert_uint_eq (stats.messages, fitted);
    ab_store_destroy (&store);
}
END_TEST

START_TEST (test_foreign_and_damaged_dirs)
{
    char path[200];
    /* a non-empty directory without a store is never taken over */
    ck_assert_int_eq (mkdir (s_data, 0700), 0);
    snprintf (path, sizeof path, "%s/notes.txt", s_data);
    s_write_file (path, "mine");
    s_open_fails (s_data, "refusing to initialise");
    /* garbage in data.mdb: an error, and the file is left alone */
    snprintf (path, sizeof path, "%s/data.mdb", s_data);
    char garbage[16384];
    memset (garbage, 'g', sizeof garbage);
    garbage[sizeof garbage - 1] = 0;
    s_write_file (path, garbage);
    s_open_fails (s_data, "cannot open the store");
    struct stat info;
    ck_assert_int_eq (stat (path, &info), 0);
    ck_assert_int_eq (info.st_size, sizeof garbage - 1);
    /* a regular file where the directory should be */
    s_open_fails (path, "cannot");
}
END_TEST

START_TEST (test_one_store_per_dir)
{
    ab_store_t *store = s_store_open (0);
    s_open_fails (s_data, "in use");
    ab_store_destroy (&store);
    store = s_store_open (0);
    ab_store_destroy (&store);
}
END_TEST

/* Runs `edit` on a raw LMDB environment in s_data. */
static void
s_raw_env (void (*edit) (MDB_txn *txn))
{
    MDB_env *env;
    MDB_txn *txn;
    ck_assert_int_eq (mdb_env_create (&env), 0);
    ck_assert_int_eq (mdb_env_set_maxdbs (env, 8), 0);
    ck_assert_int_eq (mdb_env_open (env, s_data, 0, 0600), 0);
    ck_assert_int_eq (mdb_txn_begin (env, NULL, 0, &txn), 0);
    edit (txn);
    ck_assert_int_eq (mdb_txn_commit (txn), 0);
    mdb_env_close (env);
}

static void
s_other_app (MDB_txn *txn)
{
    MDB_dbi dbi;
    ck_assert_int_eq (mdb_dbi_open (txn, NULL, 0, &dbi), 0);
    MDB_val key = {5, "hello"}, data = {5, "world"};
    ck_assert_int_eq (mdb_put (txn, dbi, &key, &data, 0), 0);
}

static void
s_wrong_meta (MDB_txn *txn)
{
    MDB_dbi dbi;
    ck_assert_int_eq (mdb_dbi_open (txn, "meta", MDB_CREATE, &dbi), 0);
    MDB_val key = {6, "format"}, data = {9, "something"};
    ck_assert_int_eq (mdb_put (txn, dbi, &key, &data, 0), 0);
}

static void
s_newer_format (MDB_txn *txn)
{
    MDB_dbi dbi;
    MDB_val key = {6, "format"}, data;
    ck_assert_int_eq (mdb_dbi_open (txn, "meta", 0, &dbi), 0);
    ck_assert_int_eq (mdb_get (txn, dbi, &key, &data), 0);
    uint8_t format[64];
    ck_assert_uint_le (data.mv_size, sizeof format);
    memcpy (format, data.mv_data, data.mv_size);
    format[19] = 2; /* the version after the 16-byte magic, big-endian */
    data.mv_data = format;
    ck_assert_int_eq (mdb_put (txn, dbi, &key, &data, 0), 0);
}

static void
s_drop_copies (MDB_txn *txn)
{
    MDB_dbi dbi;
    ck_assert_int_eq (mdb_dbi_open (txn, "copies", 0, &dbi), 0);
    ck_assert_int_eq (mdb_drop (txn, dbi, 1), 0);
}

/* Overwrites message 1 and copy 2 with short garbage. */
static void
s_damage_records (MDB_txn *txn)
{
    const char *names[] = {"messages", "copies"};
    for (int i = 0; i < 2; i++) {
        MDB_dbi dbi;
        uint8_t id[8] = {0, 0, 0, 0, 0, 0, 0, (uint8_t)(i + 1)};
        MDB_val key = {8, id}, data = {10, "0123456789"};
        ck_assert_int_eq (mdb_dbi_open (txn, names[i], 0, &dbi), 0);
        ck_assert_int_eq (mdb_put (txn, dbi, &key, &data, 0), 0);
    }
}

START_TEST (test_damaged_records)
{
    ab_store_t *store = s_store_open (0);
    s_put (store, 1);
    ab_copy_t copy = s_copy (2, 1);
    ck_assert_int_eq (ab_store_put_copy (store, &copy), 0);
    ab_store_destroy (&store);
    s_raw_env (s_damage_records);
    store = s_store_open (0);
    ab_message_t *got = NULL;
    ck_assert_int_eq (ab_store_get_message (store, 1, &got), AB_EIO);
    ck_assert_ptr_null (got);
    ck_assert_int_eq (ab_store_get_copy (store, 2, &copy), AB_EIO);
    ck_assert_int_eq (ab_store_del_copy (store, 2), AB_EIO);
    s_walk_t walk = {0};
    ck_assert_int_eq (ab_store_recover (store, s_on_message, NULL, &walk),
                      AB_EIO);
    ck_assert_int_eq (ab_store_recover (store, NULL, s_on_copy, &walk), AB_EIO);
    ab_store_destroy (&store);
}
END_TEST

START_TEST (test_foreign_lmdb_envs)
{
    ck_assert_int_eq (mkdir (s_data, 0700), 0);
    s_raw_env (s_other_app);
    s_open_fails (s_data, "not an agentbus store");
    s_teardown ();
    s_setup ();
    ck_assert_int_eq (mkdir (s_data, 0700), 0);
    s_raw_env (s_wrong_meta);
    s_open_fails (s_data, "no valid format record");
    s_teardown ();
    s_setup ();
    ab_store_t *store = s_store_open (0);
    ab_store_destroy (&store);
    s_raw_env (s_newer_format);
    s_open_fails (s_data, "newer agentbus");
    s_teardown ();
    s_setup ();
    store = s_store_open (0);
    ab_store_destroy (&store);
    s_raw_env (s_drop_copies);
    s_open_fails (s_data, "damaged store: cannot open its 'copies'");
}
END_TEST

START_TEST (test_sync_modes)
{
    ab_store_sync_t modes[] = {AB_STORE_SYNC_ALWAYS, AB_STORE_SYNC_BATCH,
                               AB_STORE_SYNC_NEVER};
    for (int i = 0; i < 3; i++) {
        ab_store_lmdb_options_t options = {
            .data_dir = s_data, .sync = modes[i], .sync_ms = 5};
        ab_store_t *store = s_open_with (&options);
        ck_assert_int_eq (ab_store_begin (store), 0);
        s_put (store, 10 + (uint64_t)i);
        ck_assert_int_eq (ab_store_commit (store), 0);
        ck_assert_int_eq (ab_store_lmdb_tick (store, 1000), 0);
        s_put (store, 20 + (uint64_t)i);
        ck_assert_int_eq (ab_store_lmdb_tick (store, 1001), 0);
        ck_assert_int_eq (ab_store_lmdb_tick (store, 1010), 0);
        ab_store_destroy (&store);
        store = s_open_with (&options);
        ab_store_stats_t stats;
        ab_store_stats (store, &stats);
        ck_assert_uint_eq (stats.messages, 2 * (size_t)(i + 1));
        ab_store_destroy (&store);
    }
    /* batch without a period is refused; tick ignores other stores */
    ab_store_lmdb_options_t bad = {.data_dir = s_data,
                                   .sync = AB_STORE_SYNC_BATCH};
    ab_diag_t *diag = ab_diag_new ();
    ck_assert_ptr_null (ab_store_new_lmdb (&bad, diag));
    ck_assert_uint_eq (ab_diag_count (diag), 1);
    ab_diag_destroy (&diag);
    ab_store_t *memory = ab_store_new_memory (NULL);
    ck_assert_int_eq (ab_store_lmdb_tick (memory, 0), 0);
    ck_assert_ptr_null (ab_store_lmdb_id (memory));
    ab_store_destroy (&memory);
}
END_TEST

/* ---- crash consistency ------------------------------------------------ */

enum { S_PER_BATCH = 8, S_MAX_BATCHES = 4000 };

/* Writes batches of S_PER_BATCH messages, each with a copy whose
   attempts is the batch number, and reports each committed batch on
   `report`; SIGKILLs itself in the middle of batch `die_in` (0: never,
   the parent kills it). */
static void
s_crash_child (int report, int die_in, ab_store_sync_t sync)
{
    ab_store_lmdb_options_t options = {
        .data_dir = s_data, .sync = sync, .sync_ms = 2};
    ab_store_t *store = ab_store_new_lmdb (&options, NULL);
    if (!store)
        _exit (3);
    for (int batch = 1; batch < S_MAX_BATCHES; batch++) {
        ab_store_begin (store);
        for (int k = 0; k < S_PER_BATCH; k++) {
            if (batch == die_in && k == S_PER_BATCH / 2)
                raise (SIGKILL);
            uint64_t id, copy_id;
            ab_store_next_id (store, &id);
            ab_store_next_id (store, &copy_id);
            zmq_msg_t frames[2];
            ab_message_t message = s_message (id, frames, 1, 300);
            message.seq = batch;
            if (ab_store_put_message (store, &message) != 0)
                _exit (4);
            s_frames_close (frames, 2);
            ab_copy_t copy = s_copy (copy_id, id);
            copy.attempts = batch;
            if (ab_store_put_copy (store, &copy) != 0)
                _exit (5);
        }
        ab_store_set_seq (store, "p", "e", batch);
        if (ab_store_commit (store) != 0)
            _exit (6);
        ab_store_lmdb_tick (store, batch);
        if (write (report, &batch, sizeof batch) != sizeof batch)
            _exit (7);
    }
    _exit (0);
}

typedef struct {
    int messages[S_MAX_BATCHES]; /* messages seen per batch (their seq) */
    int copies[S_MAX_BATCHES];   /* copies seen per batch (attempts) */
} s_census_t;

static int
s_count_message (void *arg, const ab_message_t *message)
{
    ck_assert (message->seq > 0 && message->seq < S_MAX_BATCHES);
    ((s_census_t *)arg)->messages[message->seq]++;
    return 0;
}

static int
s_count_copy (void *arg, const ab_copy_t *copy)
{
    ck_assert (copy->attempts > 0 && copy->attempts < S_MAX_BATCHES);
    ((s_census_t *)arg)->copies[copy->attempts]++;
    return 0;
}

/* Reopens after the crash: every batch is whole or absent, every batch
   reported committed is there, and none after the first absent one. */
static void
s_crash_check (int reported)
{
    ab_store_t *store = s_store_open (0);
    static s_census_t census;
    memset (&census, 0, sizeof census);
    ck_assert_int_eq (
        ab_store_recover (store, s_count_message, s_count_copy, &census), 0);
    int last = 0;
    for (int batch = 1; batch < S_MAX_BATCHES; batch++) {
        ck_assert_int_eq (census.messages[batch], census.copies[batch]);
        if (census.messages[batch] == S_PER_BATCH && last == batch - 1)
            last = batch;
        else
            ck_assert_int_eq (census.messages[batch], 0);
    }
    ck_assert_int_ge (last, reported);
    ck_assert_int_le (last, reported + 1);
    int64_t seq = 0;
    ck_assert_int_eq (ab_store_get_seq (store, "p", "e", &seq), 0);
    ck_assert_int_eq (seq, last);
    /* ids stay fresh after the crash */
    uint64_t id;
    ck_assert_int_eq (ab_store_next_id (store, &id), 0);
    ck_assert_uint_gt (id, (uint64_t)last * S_PER_BATCH * 2);
    ab_store_destroy (&store);
}

/* Runs a child to its death; returns the last batch it reported. */
static int
s_crash_run (int die_in, ab_store_sync_t sync)
{
    int pipes[2];
    ck_assert_int_eq (pipe (pipes), 0);
    pid_t pid = fork ();
    ck_assert_int_ge (pid, 0);
    if (pid == 0) {
        close (pipes[0]);
        s_crash_child (pipes[1], die_in, sync);
    }
    close (pipes[1]);
    int batch, reported = 0;
    while (read (pipes[0], &batch, sizeof batch) == sizeof batch) {
        reported = batch;
        if (die_in == 0 && reported == 150)
            kill (pid, SIGKILL);
    }
    close (pipes[0]);
    int status;
    ck_assert_int_eq (waitpid (pid, &status, 0), pid);
    ck_assert (WIFSIGNALED (status));
    ck_assert_int_eq (WTERMSIG (status), SIGKILL);
    return reported;
}

START_TEST (test_crash_mid_batch)
{
    int reported = s_crash_run (40, AB_STORE_SYNC_BATCH);
    ck_assert_int_eq (reported, 39);
    s_crash_check (reported);
}
END_TEST

START_TEST (test_crash_killed_anywhere)
{
    ab_store_sync_t modes[] = {AB_STORE_SYNC_ALWAYS, AB_STORE_SYNC_NEVER};
    for (int i = 0; i < 2; i++) {
        int reported = s_crash_run (0, modes[i]);
        ck_assert_int_ge (reported, 150);
        s_crash_check (reported);
        s_teardown ();
        s_setup ();
    }
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("ab_store_lmdb");
    TCase *tc = tcase_create ("behaviour");
    tcase_add_unchecked_fixture (tc, s_root_setup, s_root_teardown);
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    store_behaviour_add (tc);
    suite_add_tcase (suite, tc);
    tc = tcase_create ("lmdb");
    tcase_add_unchecked_fixture (tc, s_root_setup, s_root_teardown);
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, test_persistence);
    tcase_add_test (tc, test_map_full);
    tcase_add_test (tc, test_map_full_aborts_batch);
    tcase_add_test (tc, test_foreign_and_damaged_dirs);
    tcase_add_test (tc, test_foreign_lmdb_envs);
    tcase_add_test (tc, test_one_store_per_dir);
    tcase_add_test (tc, test_damaged_records);
    tcase_add_test (tc, test_sync_modes);
    tcase_add_test (tc, test_crash_mid_batch);
    tcase_add_test (tc, test_crash_killed_anywhere);
    suite_add_tcase (suite, tc);
    return ab_check_run (suite);
}
