/*
 * eip191 -- personal_sign messages (EIP-191 version 0x45, "E"): the hash
 * keccak256("\x19Ethereum Signed Message:\n" || decimal(len) || message),
 * signing it and recovering the signer's address.
 *
 * This is what wallets sign for eth_sign / personal_sign and what
 * `cast wallet sign` produces. Not here: typed data (eip712.h).
 * Threading: pure functions.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_ETH_EIP191_H
#define LOOM_ETH_EIP191_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "eth/ecdsa.h"

struct key;

/* Hash <len> bytes of <msg> (borrowed; NULL allowed when len is 0) the
 * personal_sign way into <out>. Cannot fail. */
void eip191_hash(const void *msg, size_t len, uint8_t out[32]);

/*
 * Sign <msg> with <k> (borrowed) into *out (RFC 6979, low s). Use
 * sig_to_rsv() for the 65-byte r||s||v form wallets print (v = 27/28).
 * Returns ERR_OK or ERR_CRYPTO.
 */
LOOM_MUST_CHECK enum err eip191_sign(const struct key *k, const void *msg, size_t len,
                                     struct sig *out);

/*
 * Recover the address that signed <msg> with the 65-byte <rsv> signature
 * (v 27/28 or 0/1). Returns ERR_OK, ERR_INVAL (bad v), ERR_CRYPTO (bad
 * or high-s signature).
 */
LOOM_MUST_CHECK enum err eip191_recover(const void *msg, size_t len, const uint8_t rsv[65],
                                        uint8_t addr[20]);

#endif
