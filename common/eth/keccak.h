/*
 * keccak -- Keccak-256 as Ethereum uses it (the original Keccak submission's
 * 0x01 ... 0x80 padding, not FIPS 202 SHA3-256's 0x06).
 *
 * Built on Nettle's sha3_permute (Keccak-f[1600]); this module only does the
 * sponge: rate 136 bytes, capacity 512 bits, 32-byte output. Not here: SHA3,
 * other output lengths. Threading: a context belongs to one thread; the
 * one-shot function is reentrant.
 * Sources: Keccak reference 3.0 (padding pad10*1 with the 0x01 domain byte),
 * Ethereum yellow paper appendix (KEC).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_ETH_KECCAK_H
#define LOOM_ETH_KECCAK_H

#include <stddef.h>
#include <stdint.h>

#define KECCAK256_DIGEST_SIZE 32
#define KECCAK256_RATE        136 /* bytes absorbed per permutation: (1600 - 2*256) / 8 */

/* A value type; callers embed it. Fields are private to keccak.c. */
struct keccak_ctx {
    uint64_t state[25];            /* Keccak-f[1600] lanes, little-endian byte order */
    uint8_t block[KECCAK256_RATE]; /* partial input block */
    size_t block_len;              /* bytes in block, always < KECCAK256_RATE */
};

/* Start a Keccak-256 computation in <ctx> (caller's storage). Cannot fail. */
void keccak_init(struct keccak_ctx *ctx);

/*
 * Absorb <len> bytes from <data> (borrowed; may be NULL when len is 0).
 * Any number of calls; the result depends only on the concatenated input.
 */
void keccak_update(struct keccak_ctx *ctx, const void *data, size_t len);

/*
 * Finish: write the 32-byte digest to <out> and wipe <ctx>, which must be
 * re-initialised with keccak_init() before reuse.
 */
void keccak_digest(struct keccak_ctx *ctx, uint8_t out[KECCAK256_DIGEST_SIZE]);

/*
 * One-shot Keccak-256 of <len> bytes at <data> into <out>.
 * keccak256("", 0) is c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470.
 */
void keccak256(const void *data, size_t len, uint8_t out[KECCAK256_DIGEST_SIZE]);

#endif
