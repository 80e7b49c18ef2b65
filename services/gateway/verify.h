/*
 * verify -- the gateway's signature verifier (backend.h's verify() seam):
 * EIP-191 personal_sign recovery with common/eth (libsecp256k1 behind it).
 *
 * Threading: pure function, any thread. Not here: which text is signed
 * (auth.h), nonces and timestamps (gateway.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_GW_VERIFY_H
#define LOOM_GW_VERIFY_H

#include <stddef.h>

#include "err.h"

/*
 * Recover the address that personal_sign-ed <message_len> bytes at
 * <message> (borrowed) with <signature> ("0x" + 130 hex digits: r, s, v
 * with v 27/28 or 0/1, as `cast wallet sign` and wallets print it).
 *   ctx:          unused (the seam's context), may be NULL.
 *   address_out:  on ERR_OK, a heap "0x" + 40 lower-case hex string the
 *                 caller frees.
 * Returns ERR_OK; ERR_INVAL (malformed signature text or bad v);
 * ERR_CRYPTO (does not recover, or a high-s signature: EIP-2); ERR_NOMEM.
 * Does not block.
 */
LOOM_MUST_CHECK enum err verify_eip191(void *ctx, const char *message, size_t message_len,
                                       const char *signature, char **address_out);

#endif
