/*
 * auth -- who is asking: signed requests, Sign-In with Ethereum, sessions.
 *
 * Signed request: the client signs, with EIP-191 personal_sign, the
 * canonical text built by auth_canonical():
 *
 *   loom-request-v1\n
 *   <METHOD>\n
 *   <request-target, path and query exactly as sent>\n
 *   <sha256 of the body, 64 lower-case hex digits>\n
 *   <X-Loom-Timestamp, unix seconds>\n
 *   <X-Loom-Nonce>
 *
 * and sends X-Loom-Address, X-Loom-Timestamp, X-Loom-Nonce and
 * X-Loom-Signature (0x + 130 hex: r, s, v). The gateway rebuilds the text,
 * recovers the signer through the backend's verify() seam, compares it with
 * X-Loom-Address, checks the timestamp window, then consumes the nonce
 * through the backend (a replay fails there).
 * Sign-In with Ethereum (EIP-4361): auth_siwe_parse() reads the message,
 * auth_siwe_check() validates domain, chain id, version and times; a
 * successful sign-in yields a session token (HMAC-SHA-256 over address and
 * expiry, RFC 2104) kept in the loom_session cookie.
 * Not here: secp256k1 (behind verify()), nonce storage (the backend).
 * Threading: pure functions.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_GW_AUTH_H
#define LOOM_GW_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "buf.h"
#include "err.h"

/* The header values of a signed request; NULL when a header is absent. */
struct auth_headers {
    const char *address;
    const char *timestamp;
    const char *nonce;
    const char *signature;
};

/* Append the canonical text above to <out>. ERR_OK, ERR_NOMEM, ERR_TOOBIG. */
LOOM_MUST_CHECK enum err auth_canonical(const char *method, const char *target,
                                        const char *body_sha256, const char *timestamp,
                                        const char *nonce, struct buf *out);

/*
 * Check a signed request up to (not including) nonce consumption.
 *   now, window_s:  the timestamp must be within window_s seconds of now.
 *   *address_out:   on ERR_OK, the signer (heap; caller frees).
 *   *ts_out:        on ERR_OK, the timestamp.
 *   msg:            a one-line reason on failure.
 * Returns ERR_OK; ERR_AUTH (a header missing, a stale or future timestamp,
 * a signature that does not recover, or a signer other than X-Loom-Address);
 * ERR_INVAL (a header that is malformed: address, nonce, timestamp);
 * ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err auth_check_request(const struct gw_backend *be,
                                            const struct auth_headers *h, const char *method,
                                            const char *target, const char *body_sha256,
                                            int64_t now, int64_t window_s, char **address_out,
                                            int64_t *ts_out, struct buf *msg);

/* An EIP-4361 message; strings are heap copies (auth_siwe_release). */
struct auth_siwe {
    char *domain;
    char *address;
    char *statement;      /* NULL when absent */
    char *uri;
    char *version;
    int64_t chain_id;
    char *nonce;
    int64_t issued_at;    /* unix seconds */
    int64_t expiration;   /* 0 when absent */
    int64_t not_before;   /* 0 when absent */
};

void auth_siwe_release(struct auth_siwe *s);

/*
 * Parse <text> in the EIP-4361 format (statement optional; Expiration Time,
 * Not Before, Request ID and Resources optional; times RFC 3339).
 * Returns ERR_OK, ERR_INVAL (msg says which line), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err auth_siwe_parse(const char *text, struct auth_siwe *out,
                                         struct buf *msg);

/*
 * Validate a parsed message: domain equals <domain>, chain id equals
 * <chain_id>, version "1", issued-at not more than <skew_s> in the future,
 * not expired, not before not-before. Returns ERR_OK or ERR_AUTH (msg set).
 */
LOOM_MUST_CHECK enum err auth_siwe_check(const struct auth_siwe *s, const char *domain,
                                         int64_t chain_id, int64_t now, int64_t skew_s,
                                         struct buf *msg);

/* Parse an RFC 3339 date-time ("2026-11-30T12:00:00Z", fractions and
 * offsets allowed) into unix seconds. ERR_OK or ERR_INVAL. */
LOOM_MUST_CHECK enum err auth_parse_rfc3339(const char *s, int64_t *out);

/* Append a session token "v1.<address>.<expires_at>.<hmac hex>" for
 * <address> to <out>. ERR_OK, ERR_NOMEM. */
LOOM_MUST_CHECK enum err auth_session_issue(const unsigned char *key, size_t key_len,
                                            const char *address, int64_t expires_at,
                                            struct buf *out);

/* Check a session token; on ERR_OK *address_out is the address (heap).
 * Returns ERR_OK, ERR_AUTH (malformed, bad MAC, expired), ERR_NOMEM. */
LOOM_MUST_CHECK enum err auth_session_check(const unsigned char *key, size_t key_len,
                                            const char *token, int64_t now, char **address_out);

/* Find cookie <name> in a Cookie header value; appends its value to <out>.
 * Returns ERR_OK, ERR_NOTFOUND, ERR_TOOBIG. */
LOOM_MUST_CHECK enum err auth_cookie_get(const char *header, const char *name, struct buf *out);

#endif
