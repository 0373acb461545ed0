/*  ab_check - what every Check suite's main does after building its suite

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/

#ifndef AB_CHECK_H_INCLUDED
#define AB_CHECK_H_INCLUDED

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Runs every test of `suite` (taking it over) and returns the process
   exit status: EXIT_SUCCESS when none failed. */
static inline int
ab_check_run (Suite *suite)
{
    SRunner *runner = srunner_create (suite);
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Makes $AB_SRCDIR/tests/fixtures/AREA the working directory, so the
   suite names its fixtures by short relative paths (which also appear in
   the expected messages). Returns 0, or -1 after saying why. */
static inline int
ab_check_chdir_fixtures (const char *area)
{
    const char *srcdir = getenv ("AB_SRCDIR");
    char path[4096];
    snprintf (path, sizeof path, "%s/tests/fixtures/%s", srcdir ? srcdir : ".",
              area);
    if (chdir (path) != 0) {
        perror (path);
        return -1;
    }
    return 0;
}

#endif
