/*  =========================================================================
    agentbus.h - public API of libagentbus, the agent side of ABP/1

    Copyright (c) the agentbus authors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================

    One error model for the whole project: functions that can fail because
    of something outside the program (a socket, a file, a peer) return 0 or
    a positive count on success and a negative ab_err_t on failure;
    ab_strerror () names the code. Programming mistakes are asserts.
*/

#ifndef AGENTBUS_H_INCLUDED
#define AGENTBUS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AB_VERSION_MAJOR 0
#define AB_VERSION_MINOR 1
#define AB_VERSION_PATCH 0

/* The wire protocol this library speaks: frame 0 of every message. */
#define AB_PROTOCOL_SIGNATURE "ABP/1"

typedef enum {
    AB_OK = 0,
    AB_ENOMEM = -1,     /* out of memory */
    AB_EINVAL = -2,     /* invalid argument or value */
    AB_EIO = -3,        /* I/O error (file, socket, store) */
    AB_ESYNTAX = -4,    /* a file or document could not be parsed */
    AB_ENOENT = -5,     /* no such file, type, agent or message */
    AB_EEXIST = -6,     /* already exists (duplicate) */
    AB_EPROTO = -7,     /* peer broke the protocol */
    AB_ETIMEDOUT = -8,  /* a deadline passed */
    AB_EFULL = -9,      /* a queue, window or store is full */
    AB_ETOOBIG = -10,   /* larger than a configured limit */
    AB_EREJECTED = -11, /* refused by a check (schema, filter, broker) */
    AB_ELIMIT = -12,    /* a safety bound was reached (depth, expansion) */
    AB_EVERSION = -13,  /* incompatible version (plugin ABI, schema) */
    AB_ESTATE = -14,    /* not valid in the current state */
    AB_ERR_COUNT_ = 15  /* number of codes, for tables; not an error */
} ab_err_t;

/* Returns a static, human-readable description of an ab_err_t; never NULL,
   also for codes that are not defined. */
const char *ab_strerror (int code);

/* Returns the short symbolic name of an ab_err_t ("EINVAL"); never NULL. */
const char *ab_strerror_name (int code);

/* Tensor element types (protocol §8), little-endian, C order. */
typedef enum {
    AB_DTYPE_INVALID = 0,
    AB_DTYPE_BOOL,
    AB_DTYPE_INT8,
    AB_DTYPE_UINT8,
    AB_DTYPE_INT16,
    AB_DTYPE_UINT16,
    AB_DTYPE_INT32,
    AB_DTYPE_UINT32,
    AB_DTYPE_INT64,
    AB_DTYPE_UINT64,
    AB_DTYPE_FLOAT16,
    AB_DTYPE_BFLOAT16,
    AB_DTYPE_FLOAT32,
    AB_DTYPE_FLOAT64,
    AB_DTYPE_COUNT_
} ab_dtype_t;

/* Looks up a dtype by its protocol name ("float32"); AB_DTYPE_INVALID if
   the name is not one of the thirteen. */
ab_dtype_t ab_dtype_from_name (const char *name);

/* Returns the protocol name of a dtype, or NULL for AB_DTYPE_INVALID. */
const char *ab_dtype_name (ab_dtype_t dtype);

/* Returns the size in bytes of one element, 0 for AB_DTYPE_INVALID. */
size_t ab_dtype_itemsize (ab_dtype_t dtype);

/* Computes product(shape) * itemsize(dtype) into *bytes_p. Returns 0, or
   AB_EINVAL for an invalid dtype or a negative dimension, AB_ETOOBIG when
   the product overflows size_t. An empty shape is a scalar (one element). */
int ab_tensor_nbytes (ab_dtype_t dtype, const int64_t *shape, size_t ndim,
                      size_t *bytes_p);

#ifdef __cplusplus
}
#endif

/* The C agent API: ab_agent_t, ab_delivery_t. */
#include <agentbus/agent.h>

#endif
