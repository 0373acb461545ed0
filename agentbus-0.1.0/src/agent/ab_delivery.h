/*  =========================================================================
    ab_delivery - a received DELIVER or REPLY (internal constructor)

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    The public accessors are in include/agentbus/agent.h; this header adds
    what only ab_agent needs: the constructor and the FIFO link.
*/

#ifndef AB_DELIVERY_H_INCLUDED
#define AB_DELIVERY_H_INCLUDED

#include <zmq.h>

#include "agentbus.h"

/* Makes a delivery from a header object (a reference is taken) and the
   body frames (payload, then attachments). On success the attachment
   frames are moved out of `body` (left empty); the caller still closes
   every frame of `body`. Returns NULL when there is no payload frame, the
   payload is not JSON, or memory runs out; `body` is untouched then. */
ab_delivery_t *ab_delivery_new (json_t *header, zmq_msg_t *body, size_t count);

/* The next delivery in the agent's FIFO, or NULL. */
ab_delivery_t *ab_delivery_next (const ab_delivery_t *self);

/* Links `next` behind `self` in the agent's FIFO. */
void ab_delivery_set_next (ab_delivery_t *self, ab_delivery_t *next);

#endif
