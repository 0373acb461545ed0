/*  =========================================================================
    ab_child - the bench's child processes (broker, proxy, peer servers)

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#ifndef AB_CHILD_H_INCLUDED
#define AB_CHILD_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Stops child *pid_p: SIGTERM (a server then flushes and exits), SIGKILL
   after 10 s; reaps it either way and sets *pid_p to 0. Nothing when
   *pid_p is 0 or less. */
void ab_child_stop (pid_t *pid_p);

/* True if `name` is an executable in a directory of $PATH. */
bool ab_child_in_path (const char *name);

/* A TCP port free right now on 127.0.0.1 (the kernel's choice), for a
   child to listen on; -1 when none could be had. */
int ab_child_free_port (void);

/* Sleeps `ns` nanoseconds, through signals. */
void ab_child_sleep_ns (int64_t ns);

/* Starts `argv[0]` (found in $PATH) as a child that leads a process
   group of its own, with the "NAME=value" strings of `env` (NULL-ended,
   or NULL) added to the environment, stdin from /dev/null, stdout and
   stderr appended to `log`, in dir `cwd` (or this one when NULL). It is
   sent SIGKILL if this process dies. The caller becomes the subreaper of
   what the child leaves behind (a server's daemonised helper reparents
   here, to be reaped by ab_child_stop_group). A failed exec shows as the
   child exiting 127 with "cannot run NAME: REASON" in the log. Returns
   the pid, or -1 with the reason in `why`. */
pid_t ab_child_spawn (char *const argv[], char *const env[], const char *cwd,
                      const char *log, char *why, size_t size);

/* Stops child *pid_p started by ab_child_spawn with its whole process
   group: SIGTERM to the child, SIGKILL to the group after `grace_ms`,
   then SIGKILL to what is left of the group and reaps every one of them
   that is this process's to reap. Nothing when *pid_p is 0 or less;
   sets it to 0. */
void ab_child_stop_group (pid_t *pid_p, int grace_ms);

/* True if process group `pgid` has a living (not zombie) member. */
bool ab_child_group_alive (pid_t pgid);

/* The first process whose parent is `parent` and whose command name
   (/proc/PID/comm) is `name`, or 0. */
pid_t ab_child_find (pid_t parent, const char *name);

/* Waits until 127.0.0.1:`port` accepts a TCP connection: 0; -1 when
   child `pid` exited first (reaped: *pid_p 0) or `timeout_ns` passed. */
int ab_child_wait_port (pid_t *pid_p, int port, int64_t timeout_ns);

/* The last non-empty line of a file (a server's fatal error comes
   last), or "no output (see PATH)". */
void ab_child_last_line (const char *path, char *out, size_t size);

/* Removes `path` and everything under it (no error when absent). */
void ab_child_remove_tree (const char *path);

/* Resets the peak RSS (VmHWM) of a process to its current RSS, so that
   a server used for several runs reports each run's peak; -1 if the
   kernel refused. */
int ab_child_reset_peak (pid_t pid);

/* CPU seconds (user + system) and peak RSS in kB (VmHWM) of a process;
   -1 where /proc does not say. */
void ab_child_stats (pid_t pid, double *cpu_s, double *hwm_kb);

#endif
