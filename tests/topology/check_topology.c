/*  check_topology - topology loading, checks, routing indexes, DOT

    The fixture table: every YAML file in tests/fixtures/topology/good must
    load without a message; every bad/NAME.yaml must fail with exactly the
    lines of bad/NAME.expected. Adding a case is adding files. main ()
    changes into tests/fixtures/topology so file names are short. */

#include <check.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentbus.h"
#include "topology/ab_topology.h"
#include "topology/ab_topology_dot.h"
#include "ab_check.h"

/* The names of `folder`'s *.yaml files, sorted, NULL-terminated. */
static char **
s_yaml_files (const char *folder, size_t *count_p)
{
    struct dirent **entries;
    int count = scandir (folder, &entries, NULL, alphasort);
    ck_assert_int_ge (count, 0);
    char **names = calloc ((size_t)count + 1, sizeof (char *));
    size_t used = 0;
    for (int i = 0; i < count; i++) {
        const char *name = entries[i]->d_name;
        size_t length = strlen (name);
        if (length > 5 && strcmp (name + length - 5, ".yaml") == 0) {
            names[used] = malloc (strlen (folder) + length + 2);
            sprintf (names[used++], "%s/%s", folder, name);
        }
        free (entries[i]);
    }
    free (entries);
    *count_p = used;
    return names;
}

static void
s_free_names (char **names)
{
    for (size_t i = 0; names[i]; i++)
        free (names[i]);
    free (names);
}

START_TEST (test_good_table)
{
    size_t count;
    char **files = s_yaml_files ("good", &count);
    ck_assert_uint_ge (count, 3);
    for (size_t i = 0; i < count; i++) {
        ab_diag_t *diag = ab_diag_new ();
        ab_topology_t *topology = ab_topology_load (files[i], NULL, diag);
        ck_assert_msg (topology && ab_diag_count (diag) == 0, "%s: %s",
                       files[i],
                       ab_diag_count (diag) ? ab_diag_text (diag, 0) : "");
        ab_topology_unref (&topology);
        ab_diag_destroy (&diag);
    }
    s_free_names (files);
}
END_TEST

/* Compares the diagnostics with the .expected file, line by line. */
static void
s_expect (const char *file, const ab_diag_t *diag)
{
    char expected_path[1024];
    snprintf (expected_path, sizeof expected_path, "%.*s.expected",
              (int)(strlen (file) - 5), file);
    FILE *expected = fopen (expected_path, "r");
    ck_assert_msg (expected, "%s: missing", expected_path);
    char line[1024];
    size_t index = 0;
    while (fgets (line, sizeof line, expected)) {
        line[strcspn (line, "\n")] = '\0';
        const char *got = ab_diag_text (diag, index++);
        ck_assert_msg (got && strcmp (got, line) == 0,
                       "%s: line %zu: got '%s', want '%s'", file, index,
                       got ? got : "(nothing)", line);
    }
    fclose (expected);
    ck_assert_msg (ab_diag_count (diag) == index, "%s: %zu extra: %s", file,
                   ab_diag_count (diag) - index, ab_diag_text (diag, index));
}

START_TEST (test_bad_table)
{
    size_t count;
    char **files = s_yaml_files ("bad", &count);
    ck_assert_uint_ge (count, 8);
    for (size_t i = 0; i < count; i++) {
        ab_diag_t *diag = ab_diag_new ();
        ab_topology_t *topology = ab_topology_load (files[i], NULL, diag);
        ck_assert_msg (!topology, "%s: loaded", files[i]);
        s_expect (files[i], diag);
        ab_diag_destroy (&diag);
        /* Without a diag list, a bad file still fails. */
        ck_assert_ptr_null (ab_topology_load (files[i], NULL, NULL));
    }
    s_free_names (files);
}
END_TEST

static ab_topology_t *
s_load (const char *path)
{
    ab_diag_t *diag = ab_diag_new ();
    ab_topology_t *topology = ab_topology_load (path, NULL, diag);
    ck_assert_msg (topology, "%s: %s", path, ab_diag_text (diag, 0));
    ab_diag_destroy (&diag);
    return topology;
}

START_TEST (test_accessors)
{
    ab_topology_t *topology = s_load ("good/full.yaml");
    ck_assert_str_eq (ab_topology_name (topology), "full");
    const char *id = ab_topology_id (topology);
    ck_assert_int_eq (strlen (id), strlen ("full@") + 12);
    ck_assert_int_eq (strncmp (id, "full@", 5), 0);
    ck_assert_uint_eq (ab_topology_agent_count (topology), 5);
    ck_assert_str_eq (ab_topology_agent_name (topology, 0), "producer");
    ck_assert_str_eq (ab_topology_agent_name (topology, 4), "dlq");
    ck_assert_ptr_null (ab_topology_agent_name (topology, 5));
    ck_assert_int_eq (ab_topology_agent_index (topology, "server"), 3);
    ck_assert_int_eq (ab_topology_agent_index (topology, "nobody"), -1);
    ck_assert_uint_eq (ab_topology_edge_count (topology), 4);
    ck_assert_ptr_null (ab_topology_edge (topology, 4));
    ck_assert (ab_topology_has_type (topology, "a.msg"));
    ck_assert (!ab_topology_has_type (topology, "z.msg"));
    ck_assert_int_eq (ab_topology_newest_version (topology, "a.msg"), 2);
    ck_assert_int_eq (ab_topology_newest_version (topology, "z.msg"), 0);
    ck_assert_ptr_nonnull (ab_topology_schema (topology, "a.msg", 2));
    ck_assert_ptr_null (ab_topology_schema (topology, "a.msg", 3));
    char *summary = ab_topology_summary (topology);
    char want[256];
    snprintf (want, sizeof want,
              "%s: 5 agents, 4 edges, 3 types, 4 schema versions", id);
    ck_assert_str_eq (summary, want);
    free (summary);
    ab_topology_unref (&topology);
    ck_assert_ptr_null (topology);
}
END_TEST

START_TEST (test_edges_and_defaults)
{
    ab_topology_t *topology = s_load ("good/full.yaml");
    /* Edge 0: everything from the defaults block. */
    const ab_edge_t *edge = ab_topology_edge (topology, 0);
    ck_assert_str_eq (edge->from, "producer");
    ck_assert_str_eq (edge->to, "left");
    ck_assert_uint_eq (edge->to_agent, 1);
    ck_assert_ptr_null (edge->versions);
    ck_assert (ab_edge_accepts_version (edge, 7));
    ck_assert_int_eq (edge->ordering, AB_ORDERING_STRICT);
    ck_assert_int_eq (edge->ack_timeout_ms, 1000);
    ck_assert_int_eq (edge->max_attempts, 3);
    ck_assert_int_eq (edge->retry_backoff_ms, 50);
    ck_assert_int_eq (edge->queue_limit, 500);
    ck_assert_int_eq (edge->ttl_ms, 60000);
    ck_assert_int_eq (edge->durable, 0);
    ck_assert_str_eq (edge->dead_letter, "dlq");
    ck_assert_int_eq (edge->dead_letter_agent, 4);
    ck_assert_uint_eq (json_array_size (edge->filters), 1);
    ck_assert_int_eq (edge->line, 22);
    ck_assert_int_eq (edge->column, 5);
    /* Edge 1: versions sorted and unique; overrides. */
    edge = ab_topology_edge (topology, 1);
    ck_assert_uint_eq (edge->version_count, 2);
    ck_assert_int_eq (edge->versions[0], 1);
    ck_assert_int_eq (edge->versions[1], 2);
    ck_assert (ab_edge_accepts_version (edge, 2));
    ck_assert (!ab_edge_accepts_version (edge, 3));
    ck_assert_int_eq (edge->durable, 1);
    ck_assert_int_eq (edge->ordering, AB_ORDERING_NONE);
    /* Edge 2: the upper bounds, a request edge. */
    edge = ab_topology_edge (topology, 2);
    ck_assert_str_eq (edge->reply, "c.reply");
    ck_assert_int_eq (edge->ack_timeout_ms, 86400000);
    ck_assert_int_eq (edge->max_attempts, 1000);
    ck_assert_int_eq (edge->retry_backoff_ms, 0);
    ck_assert_int_eq (edge->queue_limit, 100000000);
    ck_assert_int_eq (edge->ttl_ms, 1);
    ab_topology_unref (&topology);
}
END_TEST

START_TEST (test_builtin_defaults)
{
    ab_topology_t *topology = s_load ("good/minimal.yaml");
    const ab_edge_t *edge = ab_topology_edge (topology, 0);
    ck_assert_int_eq (edge->ordering, AB_ORDERING_NONE);
    ck_assert_int_eq (edge->ack_timeout_ms, 30000);
    ck_assert_int_eq (edge->max_attempts, 5);
    ck_assert_int_eq (edge->retry_backoff_ms, 100);
    ck_assert_int_eq (edge->queue_limit, 100000);
    ck_assert_int_eq (edge->ttl_ms, 0);
    ck_assert_int_eq (edge->durable, -1);
    ck_assert_ptr_null (edge->dead_letter);
    ck_assert_int_eq (edge->dead_letter_agent, -1);
    ck_assert_ptr_null (edge->filters);
    ck_assert_ptr_null (edge->reply);
    ab_topology_unref (&topology);
}
END_TEST

START_TEST (test_routing)
{
    ab_topology_t *topology = s_load ("good/full.yaml");
    size_t producer = (size_t)ab_topology_agent_index (topology, "producer");
    const ab_edge_t *const *edges;
    size_t count = ab_topology_edges_from (topology, producer, "a.msg", &edges);
    ck_assert_uint_eq (count, 2);
    ck_assert_str_eq (edges[0]->to, "left");
    ck_assert_str_eq (edges[1]->to, "right");
    count = ab_topology_edges_from (topology, producer, "b.msg", &edges);
    ck_assert_uint_eq (count, 1);
    ck_assert_str_eq (edges[0]->to, "server");
    ck_assert_uint_eq (
        ab_topology_edges_from (topology, producer, "c.reply", &edges), 0);
    ck_assert_ptr_null (edges);
    ck_assert_uint_eq (ab_topology_edges_from (topology, 1, "a.msg", &edges),
                       0);
    ck_assert_uint_eq (ab_topology_edges_from (topology, 99, "a.msg", &edges),
                       0);
    const ab_edge_t *request =
        ab_topology_request_edge (topology, producer, "b.msg");
    ck_assert_ptr_nonnull (request);
    ck_assert_str_eq (request->to, "server");
    ck_assert_ptr_null (ab_topology_request_edge (topology, producer, "a.msg"));
    ck_assert_ptr_null (ab_topology_request_edge (topology, 1, "b.msg"));
    /* A type name far longer than any real one is simply unroutable. */
    char huge[400];
    memset (huge, 'x', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    ck_assert_uint_eq (ab_topology_edges_from (topology, 0, huge, &edges), 0);
    ab_topology_unref (&topology);
}
END_TEST

START_TEST (test_dot)
{
    ab_topology_t *topology = s_load ("good/full.yaml");
    char *dot = ab_topology_dot (topology);
    ck_assert_ptr_nonnull (dot);
    ck_assert_int_eq (strncmp (dot, "digraph \"full\" {\n", 17), 0);
    ck_assert_ptr_nonnull (strstr (dot, "  \"producer\";\n"));
    ck_assert_ptr_nonnull (
        strstr (dot, "\"producer\" -> \"right\" [label=\"a.msg@1,2\"];"));
    ck_assert_ptr_nonnull (
        strstr (dot, "\"producer\" -> \"left\" [label=\"a.msg@all\\nordering: "
                     "strict\", color=blue];"));
    ck_assert_ptr_nonnull (strstr (
        dot,
        "[label=\"b.msg@all\\n→ c.reply\\nordering: strict\", style=bold"));
    ck_assert_ptr_nonnull (
        strstr (dot, "\"server\" -> \"dlq\" [label=\"dead letters (b.msg)\", "
                     "style=dotted"));
    ck_assert_int_eq (dot[strlen (dot) - 2], '}');
    free (dot);
    ab_topology_unref (&topology);
}
END_TEST

START_TEST (test_ref_unref)
{
    ab_topology_t *topology = s_load ("good/minimal.yaml");
    ab_topology_t *second = ab_topology_ref (topology);
    ck_assert_ptr_eq (second, topology);
    ab_topology_unref (&topology);
    ck_assert_ptr_null (topology);
    /* Still alive through the second reference. */
    ck_assert_str_eq (ab_topology_name (second), "minimal");
    ck_assert_str_eq (ab_topology_edge (second, 0)->type, "a.msg");
    ab_topology_unref (&second);
    ab_topology_unref (&second);
}
END_TEST

START_TEST (test_id_changes_with_files)
{
    ab_topology_t *one = s_load ("good/minimal.yaml");
    ab_topology_t *again = s_load ("good/minimal.yaml");
    ab_topology_t *other = s_load ("good/diamond.yaml");
    ck_assert_str_eq (ab_topology_id (one), ab_topology_id (again));
    ck_assert_str_ne (ab_topology_id (one) + 8, ab_topology_id (other) + 8);
    ab_topology_unref (&one);
    ab_topology_unref (&again);
    ab_topology_unref (&other);
}
END_TEST

START_TEST (test_missing_file)
{
    ab_diag_t *diag = ab_diag_new ();
    ck_assert_ptr_null (ab_topology_load ("no-such.yaml", NULL, diag));
    ck_assert_str_eq (ab_diag_text (diag, 0),
                      "no-such.yaml: cannot read: No such file or directory");
    ab_diag_destroy (&diag);
}
END_TEST

/* A long chain (no cycle) and a long ring (one cycle): the DFS is
   iterative, so depth is no problem. */
static void
s_write_chain (const char *path, size_t agents, bool ring)
{
    FILE *file = fopen (path, "w");
    ck_assert_ptr_nonnull (file);
    char cwd[4096];
    ck_assert_ptr_nonnull (getcwd (cwd, sizeof cwd));
    fprintf (file, "topology: chain\nschemas: %s/schemas\nagents:\n", cwd);
    for (size_t i = 0; i < agents; i++)
        fprintf (file, "  a%zu: {}\n", i);
    fprintf (file, "edges:\n");
    for (size_t i = 0; i + 1 < agents + ring; i++)
        fprintf (file, "  - {from: a%zu, to: a%zu, type: a.msg}\n", i,
                 (i + 1) % agents);
    fclose (file);
}

START_TEST (test_long_chain_and_ring)
{
    /* Written outside the source tree, which may be read-only. */
    char path[64] = "/tmp/ab-chain-XXXXXX.yaml";
    int fd = mkstemps (path, 5);
    ck_assert_int_ge (fd, 0);
    close (fd);
    s_write_chain (path, 20000, false);
    ab_topology_t *topology = s_load (path);
    ck_assert_uint_eq (ab_topology_edge_count (topology), 19999);
    ab_topology_unref (&topology);
    s_write_chain (path, 3, true);
    ab_diag_t *diag = ab_diag_new ();
    ck_assert_ptr_null (ab_topology_load (path, NULL, diag));
    ck_assert_uint_eq (ab_diag_count (diag), 1);
    const char *message;
    ab_diag_get (diag, 0, NULL, NULL, NULL, &message);
    ck_assert_str_eq (message, "cycle: a0 -> a1 -> a2 -> a0");
    ab_diag_destroy (&diag);
    unlink (path);
}
END_TEST

int
main (void)
{
    if (ab_check_chdir_fixtures ("topology") != 0)
        return 1;
    Suite *suite = suite_create ("topology");
    TCase *tcase = tcase_create ("core");
    tcase_add_test (tcase, test_good_table);
    tcase_add_test (tcase, test_bad_table);
    tcase_add_test (tcase, test_accessors);
    tcase_add_test (tcase, test_edges_and_defaults);
    tcase_add_test (tcase, test_builtin_defaults);
    tcase_add_test (tcase, test_routing);
    tcase_add_test (tcase, test_dot);
    tcase_add_test (tcase, test_ref_unref);
    tcase_add_test (tcase, test_id_changes_with_files);
    tcase_add_test (tcase, test_missing_file);
    tcase_add_test (tcase, test_long_chain_and_ring);
    suite_add_tcase (suite, tcase);
    return ab_check_run (suite);
}
