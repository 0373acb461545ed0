/*  =========================================================================
    ab_oom - the one out-of-memory policy, and its abort

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    The policy. An allocation failure is either

    * an error returned: the call that could not allocate returns
      AB_ENOMEM (or NULL, for a constructor), or reports "out of memory"
      to its ab_diag_t, and leaves every object it touched as it was or
      destroyable. This is the rule for the libraries (common, schema,
      topology, store, ...): a broker that cannot allocate for one
      message refuses that message and lives on; or

    * a documented abort through ab_oom_check, where nothing can be
      returned and going on would be wrong: a command-line tool's
      bookkeeping, a bool-valued check that would otherwise answer a
      wrong "no". It prints one line naming file:line and what was
      being allocated, then abort ()s. czmq's constructors (zhashx_new,
      zlistx_new, ...) follow the same rule by themselves: they abort
      when out of memory.

    Never an `assert` on an allocation's result: asserts vanish under
    NDEBUG, and the NULL would be used.
*/

#ifndef AB_OOM_H_INCLUDED
#define AB_OOM_H_INCLUDED

/* Prints "FILE:LINE: out of memory (WHAT)" to stderr and aborts. */
void ab_oom_abort (const char *file, int line, const char *what)
    __attribute__ ((noreturn));

/* Returns `pointer`; aborts through ab_oom_abort when it is NULL. */
static inline void *
ab_oom_check_at (void *pointer, const char *file, int line, const char *what)
{
    if (!pointer)
        ab_oom_abort (file, line, what);
    return pointer;
}

/* `expression` (an allocation), never NULL: e.g.
   char *copy = ab_oom_check (strdup (text)); */
#define ab_oom_check(expression)                                               \
    ab_oom_check_at ((expression), __FILE__, __LINE__, #expression)

#endif
