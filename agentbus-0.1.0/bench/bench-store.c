/*  =========================================================================
    bench-store - puts per second of the LMDB store, by sync mode and
    batch size, beside the rate of one fdatasync per record

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Usage: bench-store [DIR [SECONDS]]. Works in a fresh directory made
    under DIR (default /tmp; pick the disk the broker's data_dir will be
    on) and removes it. Each case runs about SECONDS (default 0.5). One
    "put" is what the broker does for a PUB with one route: a message
    with a 256-byte payload and one copy, ids from ab_store_next_id.
*/

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentbus.h"
#include "store/ab_store.h"
#include "store/ab_store_lmdb.h"

#define S_RECORD 256

static double
s_now (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static int
s_remove_entry (const char *path, const struct stat *stat, int flag,
                struct FTW *ftw)
{
    return remove (path);
}

/* One message and one copy, as the broker stores a routed PUB. */
static int
s_put (ab_store_t *store, zmq_msg_t *payload)
{
    uint64_t id, copy_id;
    int rc = ab_store_next_id (store, &id);
    if (rc == 0)
        rc = ab_store_next_id (store, &copy_id);
    ab_message_t message = {.id = id,
                            .type = "bench.record",
                            .version = 1,
                            .from = "producer",
                            .header = "{\"type\":\"bench.record\"}",
                            .frames = payload,
                            .frame_count = 1};
    if (rc == 0)
        rc = ab_store_put_message (store, &message);
    ab_copy_t copy = {.id = copy_id,
                      .message_id = id,
                      .edge_key = "producer->consumer:bench.record"};
    return rc ? rc : ab_store_put_copy (store, &copy);
}

/* Puts/s in batches of `batch` for about `seconds`; -1 on error. */
static double
s_run (const char *dir, ab_store_sync_t sync, int batch, double seconds)
{
    ab_store_lmdb_options_t options = {
        .data_dir = dir, .sync = sync, .sync_ms = 10};
    ab_diag_t *diag = ab_diag_new ();
    ab_store_t *store = ab_store_new_lmdb (&options, diag);
    ab_diag_print (diag, stderr);
    ab_diag_destroy (&diag);
    if (!store)
        return -1;
    zmq_msg_t payload;
    zmq_msg_init_size (&payload, S_RECORD);
    memset (zmq_msg_data (&payload), 'x', S_RECORD);
    double start = s_now (), now = start;
    long puts = 0;
    int rc = 0;
    while (rc == 0 && now - start < seconds) {
        rc = ab_store_begin (store);
        for (int i = 0; rc == 0 && i < batch; i++, puts++)
            rc = s_put (store, &payload);
        if (rc == 0)
            rc = ab_store_commit (store);
        now = s_now ();
        if (rc == 0)
            rc = ab_store_lmdb_tick (store, (int64_t)(now * 1000));
    }
    zmq_msg_close (&payload);
    ab_store_destroy (&store); /* syncs batch/never: not timed */
    nftw (dir, s_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    if (rc) {
        fprintf (stderr, "bench-store: %s\n", ab_strerror (rc));
        return -1;
    }
    return (double)puts / (now - start);
}

/* Appends 256-byte records to a file, fdatasync after each. */
static double
s_fdatasync_rate (const char *dir, double seconds)
{
    char path[4200];
    snprintf (path, sizeof path, "%s/fdatasync.bin", dir);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    char record[S_RECORD];
    memset (record, 'x', sizeof record);
    double start = s_now (), now = start;
    long count = 0;
    while (now - start < seconds) {
        if (write (fd, record, sizeof record) != sizeof record ||
            fdatasync (fd) != 0)
            break;
        count++;
        now = s_now ();
    }
    close (fd);
    unlink (path);
    return (double)count / (now - start);
}

int
main (int argc, char *argv[])
{
    const char *base = argc > 1 ? argv[1] : "/tmp";
    double seconds = argc > 2 ? strtod (argv[2], NULL) : 0.5;
    if (seconds <= 0 || seconds > 60) {
        fprintf (stderr, "usage: bench-store [DIR [SECONDS (0-60]]]\n");
        return 2;
    }
    char top[4000], dir[4100];
    snprintf (top, sizeof top, "%s/bench-store-XXXXXX", base);
    if (!mkdtemp (top)) {
        perror (top);
        return 1;
    }
    snprintf (dir, sizeof dir, "%s/data", top);
    static const struct {
        ab_store_sync_t sync;
        const char *name;
    } modes[] = {{AB_STORE_SYNC_ALWAYS, "always"},
                 {AB_STORE_SYNC_BATCH, "batch_ms=10"},
                 {AB_STORE_SYNC_NEVER, "never"}};
    static const int batches[] = {1, 16, 256};
    printf ("%-12s %6s %12s\n", "sync", "batch", "puts/s");
    int status = 0;
    for (size_t m = 0; m < 3; m++)
        for (size_t b = 0; b < 3; b++) {
            double rate = s_run (dir, modes[m].sync, batches[b], seconds);
            status |= rate < 0;
            printf ("%-12s %6d %12.0f\n", modes[m].name, batches[b], rate);
        }
    printf ("fdatasync per %d-byte record: %.0f/s\n", S_RECORD,
            s_fdatasync_rate (top, seconds));
    rmdir (top);
    return status;
}
