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

#include <stdint.h>
#include <sys/types.h>

/* Stops child *pid_p: SIGTERM (a server then flushes and exits), SIGKILL
   after 10 s; reaps it either way and sets *pid_p to 0. Nothing when
   *pid_p is 0 or less. */
void ab_child_stop (pid_t *pid_p);

/* Sleeps `ns` nanoseconds, through signals. */
void ab_child_sleep_ns (int64_t ns);

#endif
