/*  =========================================================================
    ab_child - the bench's child processes (broker, proxy, peer servers)

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ab_child.h"

void
ab_child_sleep_ns (int64_t ns)
{
    struct timespec ts = {ns / 1000000000LL, ns % 1000000000LL};
    while (nanosleep (&ts, &ts) && errno == EINTR)
        ;
}

void
ab_child_stop (pid_t *pid_p)
{
    pid_t pid = *pid_p;
    if (pid <= 0)
        return;
    kill (pid, SIGTERM);
    for (int i = 0; i < 1000; i++) {
        if (waitpid (pid, NULL, WNOHANG) == pid) {
            *pid_p = 0;
            return;
        }
        ab_child_sleep_ns (10000000);
    }
    kill (pid, SIGKILL);
    waitpid (pid, NULL, 0);
    *pid_p = 0;
}

bool
ab_child_in_path (const char *name)
{
    const char *path = getenv ("PATH");
    char *copy = strdup (path ? path : "/usr/bin:/bin"), *save = NULL;
    bool found = false;
    for (char *dir = copy ? strtok_r (copy, ":", &save) : NULL; dir && !found;
         dir = strtok_r (NULL, ":", &save)) {
        char full[512];
        snprintf (full, sizeof full, "%s/%s", dir, name);
        found = access (full, X_OK) == 0;
    }
    free (copy);
    return found;
}

int
ab_child_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    int port = -1;
    if (fd >= 0 && bind (fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        getsockname (fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs (addr.sin_port);
    if (fd >= 0)
        close (fd);
    return port;
}

pid_t
ab_child_spawn (char *const argv[], char *const env[], const char *cwd,
                const char *log, char *why, size_t size)
{
    /* orphans of the child (a daemon it forks) come here, not to init */
    prctl (PR_SET_CHILD_SUBREAPER, 1UL);
    pid_t pid = fork ();
    if (pid < 0) {
        snprintf (why, size, "fork: %s", strerror (errno));
        return -1;
    }
    if (pid == 0) {
        setpgid (0, 0);
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        int in = open ("/dev/null", O_RDONLY);
        int fd = open (log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (in >= 0)
            dup2 (in, STDIN_FILENO);
        if (fd >= 0) {
            dup2 (fd, STDOUT_FILENO);
            dup2 (fd, STDERR_FILENO);
        }
        for (int i = 0; env && env[i]; i++)
            putenv (env[i]);
        if (cwd && chdir (cwd))
            fprintf (stderr, "cannot enter %s: %s\n", cwd, strerror (errno));
        else
            execvp (argv[0], argv);
        fprintf (stderr, "cannot run %s: %s\n", argv[0], strerror (errno));
        _exit (127);
    }
    /* both sides set the group, so a stop right after the fork finds it */
    setpgid (pid, pid);
    return pid;
}

/* Reaps every child of this process in group `pgid` that has ended. */
static void
s_reap_group (pid_t pgid)
{
    while (waitpid (-pgid, NULL, WNOHANG) > 0)
        ;
}

void
ab_child_stop_group (pid_t *pid_p, int grace_ms)
{
    pid_t pid = *pid_p;
    if (pid <= 0)
        return;
    kill (pid, SIGTERM);
    bool gone = false;
    for (int i = 0; i < grace_ms / 10 && !gone; i++) {
        if (waitpid (pid, NULL, WNOHANG) == pid)
            gone = true;
        else
            ab_child_sleep_ns (10000000);
    }
    kill (-pid, SIGKILL);
    if (!gone)
        waitpid (pid, NULL, 0);
    /* the group's other members die of the SIGKILL; those reparented
       here are reaped as they go (at most 10 s) */
    for (int i = 0; i < 1000 && ab_child_group_alive (pid); i++) {
        s_reap_group (pid);
        ab_child_sleep_ns (10000000);
    }
    s_reap_group (pid);
    *pid_p = 0;
}

/* Reads /proc/PID/stat's state, parent and group; -1 if gone. */
static int
s_proc_stat (pid_t pid, char *state, pid_t *ppid, pid_t *pgrp)
{
    char path[64], line[1024];
    snprintf (path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *file = fopen (path, "r");
    int rc = -1;
    if (file && fgets (line, sizeof line, file)) {
        char *rest = strrchr (line, ')');
        int parent, group;
        if (rest &&
            sscanf (rest + 2, "%c %d %d", state, &parent, &group) == 3) {
            *ppid = parent;
            *pgrp = group;
            rc = 0;
        }
    }
    if (file)
        fclose (file);
    return rc;
}

bool
ab_child_group_alive (pid_t pgid)
{
    DIR *dir = opendir ("/proc");
    bool alive = false;
    struct dirent *entry;
    while (dir && !alive && (entry = readdir (dir))) {
        char *end;
        long pid = strtol (entry->d_name, &end, 10);
        char state;
        pid_t ppid, pgrp;
        if (*end || pid <= 0 || s_proc_stat ((pid_t)pid, &state, &ppid, &pgrp))
            continue;
        alive = pgrp == pgid && state != 'Z' && state != 'X';
    }
    if (dir)
        closedir (dir);
    return alive;
}

pid_t
ab_child_find (pid_t parent, const char *name)
{
    DIR *dir = opendir ("/proc");
    pid_t found = 0;
    struct dirent *entry;
    while (dir && !found && (entry = readdir (dir))) {
        char *end, path[64], comm[64] = "";
        long pid = strtol (entry->d_name, &end, 10);
        char state;
        pid_t ppid, pgrp;
        if (*end || pid <= 0 ||
            s_proc_stat ((pid_t)pid, &state, &ppid, &pgrp) || ppid != parent)
            continue;
        snprintf (path, sizeof path, "/proc/%ld/comm", pid);
        FILE *file = fopen (path, "r");
        if (file && fgets (comm, sizeof comm, file))
            comm[strcspn (comm, "\n")] = 0;
        if (file)
            fclose (file);
        if (strcmp (comm, name) == 0)
            found = (pid_t)pid;
    }
    if (dir)
        closedir (dir);
    return found;
}

int
ab_child_wait_port (pid_t *pid_p, int port, int64_t timeout_ns)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons ((uint16_t)port),
                               .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    for (int64_t waited = 0; waited < timeout_ns; waited += 50000000) {
        if (*pid_p > 0 && waitpid (*pid_p, NULL, WNOHANG) == *pid_p) {
            *pid_p = 0;
            return -1;
        }
        int fd = socket (AF_INET, SOCK_STREAM, 0);
        int rc =
            fd >= 0 ? connect (fd, (struct sockaddr *)&addr, sizeof addr) : -1;
        if (fd >= 0)
            close (fd);
        if (rc == 0)
            return 0;
        ab_child_sleep_ns (50000000);
    }
    return -1;
}

void
ab_child_last_line (const char *path, char *out, size_t size)
{
    char line[512];
    FILE *file = fopen (path, "r");
    out[0] = 0;
    while (file && fgets (line, sizeof line, file)) {
        size_t len = strcspn (line, "\r\n");
        if (len == 0)
            continue;
        len = len < size ? len : size - 1;
        memcpy (out, line, len);
        out[len] = 0;
    }
    if (file)
        fclose (file);
    if (!out[0])
        snprintf (out, size, "no output (see %.160s)", path);
}

static int
s_remove_entry (const char *path, const struct stat *st, int flag,
                struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove (path);
    return 0;
}

void
ab_child_remove_tree (const char *path)
{
    nftw (path, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int
ab_child_reset_peak (pid_t pid)
{
    char path[64];
    snprintf (path, sizeof path, "/proc/%d/clear_refs", (int)pid);
    int fd = open (path, O_WRONLY);
    int rc = fd >= 0 && write (fd, "5", 1) == 1 ? 0 : -1;
    if (fd >= 0)
        close (fd);
    return rc;
}

void
ab_child_stats (pid_t pid, double *cpu_s, double *hwm_kb)
{
    char path[64], line[1024];
    *cpu_s = *hwm_kb = -1;
    snprintf (path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *file = fopen (path, "r");
    if (file && fgets (line, sizeof line, file)) {
        /* fields after the command name, which may hold spaces */
        char *rest = strrchr (line, ')');
        unsigned long long utime, stime;
        if (rest && sscanf (rest + 2,
                            "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                            "%llu %llu",
                            &utime, &stime) == 2)
            *cpu_s = (double)(utime + stime) / (double)sysconf (_SC_CLK_TCK);
    }
    if (file)
        fclose (file);
    snprintf (path, sizeof path, "/proc/%d/status", (int)pid);
    file = fopen (path, "r");
    while (file && fgets (line, sizeof line, file))
        if (strncmp (line, "VmHWM:", 6) == 0)
            *hwm_kb = strtod (line + 6, NULL);
    if (file)
        fclose (file);
}
