/*  =========================================================================
    ab_child - the bench's child processes (broker, proxy, nats-server)

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

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
