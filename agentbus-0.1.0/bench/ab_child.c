/*  =========================================================================
    ab_child - the bench's child processes (broker, proxy, nats-server)

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
