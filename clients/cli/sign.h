/*
 * sign -- the gateway's signed requests, client side, and the sha256 the
 * CLI needs (request bodies, downloaded results).
 *
 * A signed request carries X-Loom-Address, X-Loom-Timestamp, X-Loom-Nonce
 * and X-Loom-Signature. The signature is EIP-191 personal_sign (eip191.h)
 * over the canonical text (docs/api.md, services/gateway/auth.h):
 *
 *   loom-request-v1\n<METHOD>\n<request-target>\n<sha256(body), 64 hex>\n
 *   <timestamp, unix s>\n<nonce>
 *
 * with no newline after the nonce. The request-target is the path and
 * query exactly as sent. The nonce is 32 hex digits from getrandom(2), so
 * the gateway's replay check never sees the same one twice.
 * Not here: HTTP (http.h), the key file (cli.h). Never logs, never prints
 * a key. Threading: pure functions apart from getrandom and file reads.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_CLI_SIGN_H
#define LOOM_CLI_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct key;

#define SIGN_SHA256_HEX 65 /* 64 hex digits + NUL */

/* The four header values, NUL-terminated. */
struct sign_headers {
    char address[43];   /* "0x" + 40 lower-case hex digits */
    char timestamp[24]; /* unix seconds, decimal */
    char nonce[65];     /* 8-64 of [A-Za-z0-9_-]; ours are 32 hex digits */
    char signature[133]; /* "0x" + 130 hex digits: r, s, v (27/28) */
};

/* Write the lower-case hex sha256 of <n> bytes at <p> (NULL ok when n is 0). */
void sign_sha256_hex(const void *p, size_t n, char out[SIGN_SHA256_HEX]);

/* sha256 of <n> bytes at <p> into out[32]. */
void sign_sha256(const void *p, size_t n, uint8_t out[32]);

/*
 * Hash the file at <path> into out[32]; its size in bytes goes to *size
 * (may be NULL). Blocks on the reads. Returns ERR_OK, ERR_NOTFOUND, ERR_IO.
 */
LOOM_MUST_CHECK enum err sign_sha256_file(const char *path, uint8_t out[32], uint64_t *size);

/*
 * Append the canonical text above to <out>. All strings borrowed.
 * Returns ERR_OK or buf's ERR_NOMEM / ERR_TOOBIG.
 */
LOOM_MUST_CHECK enum err sign_canonical(const char *method, const char *target,
                                        const char *body_sha256_hex, const char *timestamp,
                                        const char *nonce, struct buf *out);

/*
 * Sign a request with <k> (borrowed) into *out.
 *   method, target: as sent ("POST", "/api/jobs?x=1"); borrowed.
 *   body, len:      the exact body bytes (NULL, 0 for none).
 *   now_s:          the timestamp to send, unix seconds.
 *   nonce:          NULL for a fresh random one; else 8-64 characters of
 *                   [A-Za-z0-9_-] (tests pass a fixed one).
 * Returns ERR_OK, ERR_INVAL (bad nonce), ERR_IO (getrandom failed),
 * ERR_CRYPTO, ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err sign_request(const struct key *k, const char *method, const char *target,
                                      const void *body, size_t len, int64_t now_s,
                                      const char *nonce, struct sign_headers *out);

/* Fill <out> with <n> random bytes from getrandom(2). ERR_OK or ERR_IO. */
LOOM_MUST_CHECK enum err sign_random(void *out, size_t n);

#endif
