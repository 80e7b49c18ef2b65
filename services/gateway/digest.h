/*
 * digest -- SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104) for the gateway,
 * plus random bytes from the kernel.
 *
 * The only gateway module that calls Nettle. Not here: Keccak-256 and
 * signatures (common/eth). Threading: a digest belongs to one thread; the
 * one-shot functions are pure.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_GW_DIGEST_H
#define LOOM_GW_DIGEST_H

#include <stddef.h>

#include "err.h"

/* Length of a SHA-256 digest as lower-case hex, without the NUL. */
#define DIGEST_SHA256_HEX_LEN 64

struct digest_sha256;

/* Allocate a SHA-256 context in *out (the caller frees it with
 * digest_sha256_free). Returns ERR_OK or ERR_NOMEM. */
LOOM_MUST_CHECK enum err digest_sha256_new(struct digest_sha256 **out);

/* Free <d>; accepts NULL. */
void digest_sha256_free(struct digest_sha256 *d);

/* Hash <n> bytes at <p> (borrowed). */
void digest_sha256_update(struct digest_sha256 *d, const void *p, size_t n);

/* Write the digest of everything hashed so far as 64 lower-case hex digits
 * plus a NUL into <hex>, and reset <d> for reuse. */
void digest_sha256_final_hex(struct digest_sha256 *d, char hex[DIGEST_SHA256_HEX_LEN + 1]);

/* One-shot SHA-256 of <n> bytes at <p>, as hex into <hex>. */
void digest_sha256_hex(const void *p, size_t n, char hex[DIGEST_SHA256_HEX_LEN + 1]);

/* HMAC-SHA-256 (RFC 2104) of <msg> under <key>; 32 raw bytes into <out>. */
void digest_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                        unsigned char out[32]);

/* Fill <n> bytes at <p> from getrandom(2). Returns ERR_OK or ERR_IO. Blocks
 * only until the kernel pool is initialised (at boot). */
LOOM_MUST_CHECK enum err digest_random(void *p, size_t n);

/* Write <n> bytes as lower-case hex plus a NUL into <out> (2n+1 bytes). */
void digest_to_hex(const unsigned char *p, size_t n, char *out);

#endif
