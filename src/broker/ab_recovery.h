/*  =========================================================================
    ab_recovery - store records back into live copies: the disk store's
    copies after a restart, and dead letters replayed on request

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Functions, no state: records of the ledger's stores become messages
    (ab_msg_from_record) and copies (ab_copy_make / ab_copy_new) on the
    queues of the current generation. A stored copy names its queue by
    edge key ("from->to:type", or "dead_letter->AGENT:REASON" for a
    dead-letter delivery, whose {reason, original} are rebuilt).
*/

#ifndef AB_RECOVERY_H_INCLUDED
#define AB_RECOVERY_H_INCLUDED

#include <stdint.h>

#include "broker/ab_copy.h"
#include "broker/ab_ledger.h"
#include "broker/ab_queue.h"
#include "common/ab_diag.h"
#include "common/ab_log.h"

/* Requeues every live copy of the disk store on `gen`: attempts kept,
   all due now. Request copies are deleted: the session to answer is
   gone. Copies of edges `gen` lacks stay in the store. 0, or an ab_err_t
   with the reason in diag. */
int ab_recover (ab_ledger_t *ledger, ab_copies_t *copies, ab_generation_t *gen,
                ab_log_t *log, ab_diag_t *diag);

/* Puts dead letter `id` back on its edge in `gen` as a fresh copy
   (attempt 1 on its next delivery). Returns NULL or why not. */
const char *ab_replay (ab_ledger_t *ledger, ab_copies_t *copies,
                       ab_generation_t *gen, uint64_t id);

/* Deletes dead letter `id`. Returns NULL or why not. */
const char *ab_purge (ab_ledger_t *ledger, uint64_t id);

#endif
