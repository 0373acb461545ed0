/*  =========================================================================
    ab_tensor - tensor references in payloads against their attachments

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    Independent of any schema (the `tensor` keyword, which checks one
    reference's dtype and shape, is the validator's: ab_schema_assert.c).
*/

#ifndef AB_TENSOR_H_INCLUDED
#define AB_TENSOR_H_INCLUDED

#include <jansson.h>
#include <stddef.h>

/* Protocol §8 `malformed` check, independent of any schema: every tensor
   reference object ({"dtype", "shape", "frame"}) in `payload` names an
   existing attachment whose length is product(shape) x itemsize(dtype),
   and every attachment is referenced exactly once. Returns 0, or
   AB_EINVAL with a one-line reason in `message`. */
int ab_tensor_check_refs (const json_t *payload, const size_t *frame_sizes,
                          size_t frame_count, char *message,
                          size_t message_size);

#endif
