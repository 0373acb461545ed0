/*  =========================================================================
    ab_oom - the one out-of-memory policy, and its abort

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    See ab_oom.h for the policy. stderr is unbuffered, so the one line
    needs no allocation of its own.
*/

#include <stdio.h>
#include <stdlib.h>

#include "common/ab_oom.h"

void
ab_oom_abort (const char *file, int line, const char *what)
{
    fprintf (stderr, "%s:%d: out of memory (%s)\n", file, line, what);
    fflush (stderr);
    abort ();
}
