/*  =========================================================================
    ab_child - the bench's child processes (broker, proxy, nats-server)

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#ifndef AB_CHILD_H_INCLUDED
#define AB_CHILD_H_INCLUDED

#include <stdbool.h>
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

#endif
