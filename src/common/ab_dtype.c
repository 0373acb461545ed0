/*  =========================================================================
    ab_dtype - tensor element types shared by the broker and agents

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include <string.h>

#include "agentbus.h"

/* Indexed by ab_dtype_t; names and sizes are the protocol's (§8). */
static const struct {
    const char *name;
    size_t itemsize;
} s_dtypes[] = {
    {NULL, 0},      {"bool", 1},    {"int8", 1},    {"uint8", 1},
    {"int16", 2},   {"uint16", 2},  {"int32", 4},   {"uint32", 4},
    {"int64", 8},   {"uint64", 8},  {"float16", 2}, {"bfloat16", 2},
    {"float32", 4}, {"float64", 8},
};

_Static_assert(sizeof s_dtypes / sizeof s_dtypes[0] == AB_DTYPE_COUNT_,
               "s_dtypes must have one entry per ab_dtype_t");

ab_dtype_t
ab_dtype_from_name (const char *name)
{
    if (!name)
        return AB_DTYPE_INVALID;
    for (int i = 1; i < AB_DTYPE_COUNT_; i++)
        if (strcmp (s_dtypes[i].name, name) == 0)
            return (ab_dtype_t)i;
    return AB_DTYPE_INVALID;
}

const char *
ab_dtype_name (ab_dtype_t dtype)
{
    if (dtype <= AB_DTYPE_INVALID || dtype >= AB_DTYPE_COUNT_)
        return NULL;
    return s_dtypes[dtype].name;
}

size_t
ab_dtype_itemsize (ab_dtype_t dtype)
{
    if (dtype <= AB_DTYPE_INVALID || dtype >= AB_DTYPE_COUNT_)
        return 0;
    return s_dtypes[dtype].itemsize;
}

int
ab_tensor_nbytes (ab_dtype_t dtype, const int64_t *shape, size_t ndim,
                  size_t *bytes_p)
{
    size_t bytes = ab_dtype_itemsize (dtype);
    if (bytes == 0 || (ndim > 0 && !shape) || !bytes_p)
        return AB_EINVAL;
    for (size_t i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return AB_EINVAL;
        if (shape[i] > 0 && bytes > SIZE_MAX / (uint64_t)shape[i])
            return AB_ETOOBIG;
        bytes *= (size_t)shape[i];
    }
    *bytes_p = bytes;
    return 0;
}
