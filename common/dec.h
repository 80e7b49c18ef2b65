/*
 * dec -- decimal text of 256-bit unsigned integers (wei amounts, uint256
 * ABI values), for JSON, PostgreSQL numeric parameters and logs. No
 * dependencies beyond libc, so every layer can use it (common/json,
 * common/eth/u256, the services).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_DEC_H
#define LOOM_DEC_H

#include <stdint.h>

/* Bytes dec_u256_be() writes at most: the 78 digits of 2^256 - 1 and a NUL. */
#define DEC_U256_MAX 79

/*
 * Write the 32-byte big-endian unsigned integer <be> (borrowed) in decimal,
 * without leading zeros ("0" for zero), NUL-terminated, into <out>
 * (DEC_U256_MAX bytes). Never fails; thread-safe.
 */
void dec_u256_be(const uint8_t be[32], char out[DEC_U256_MAX]);

#endif
