/*
 * ecdsa -- secp256k1 signatures the way Ethereum uses them.
 *
 * The only module that calls libsecp256k1 (0.2, with its recovery module);
 * every failure it reports is mapped here to ERR_CRYPTO. Signing uses RFC
 * 6979 deterministic nonces (libsecp256k1's default nonce function) and
 * always yields low-s signatures (EIP-2); recovery rejects high-s ones, so
 * a signature has exactly one accepted form. Not here: what is hashed
 * (tx.c, eip191.c, eip712.c), addresses (key.c).
 * Threading: all functions are thread-safe; the library context is created
 * once (pthread_once), randomised for side-channel blinding, and then only
 * read.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_ETH_ECDSA_H
#define LOOM_ETH_ECDSA_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

/* A recoverable signature: r and s big-endian, recid the y-parity (0/1). */
struct sig {
    uint8_t r[32];
    uint8_t s[32];
    uint8_t recid;
};

/* Return true when <priv> is a valid secret key: 0 < priv < n (SEC 1). */
bool ecdsa_seckey_is_valid(const uint8_t priv[32]);

/*
 * Derive the 64-byte uncompressed public key X||Y (no 0x04 prefix, big
 * endian) of secret key <priv>. Returns ERR_OK or ERR_CRYPTO (invalid key).
 */
LOOM_MUST_CHECK enum err ecdsa_pubkey(const uint8_t priv[32], uint8_t pub[64]);

/*
 * Sign the 32-byte digest <hash> with <priv> (both borrowed) into *out:
 * RFC 6979 nonce, low s (s <= n/2, EIP-2). Deterministic: the same inputs
 * give the same signature. Returns ERR_OK or ERR_CRYPTO (invalid key).
 */
LOOM_MUST_CHECK enum err ecdsa_sign(const uint8_t priv[32], const uint8_t hash[32],
                                    struct sig *out);

/*
 * Recover the 64-byte public key that produced <sig> over <hash>.
 * Returns ERR_OK or ERR_CRYPTO (r or s zero or >= n, s > n/2 (EIP-2),
 * recid not 0/1, or no key recovers).
 */
LOOM_MUST_CHECK enum err ecdsa_recover(const uint8_t hash[32], const struct sig *sig,
                                       uint8_t pub[64]);

/*
 * Recover the signer's 20-byte address (last 20 bytes of keccak256(pub),
 * yellow paper eq. 284) from <sig> over <hash>. Errors as ecdsa_recover().
 */
LOOM_MUST_CHECK enum err ecdsa_recover_address(const uint8_t hash[32], const struct sig *sig,
                                               uint8_t addr[20]);

/*
 * Write <sig> as the 65 bytes r||s||v with v = 27 + recid, the form of
 * eth_sign / personal_sign (EIP-191) and Solidity's ecrecover.
 */
void sig_to_rsv(const struct sig *sig, uint8_t out[65]);

/*
 * Read 65 bytes r||s||v; v may be 27/28 or 0/1. Returns ERR_OK or
 * ERR_INVAL (another v). r and s are checked when recovering.
 */
LOOM_MUST_CHECK enum err sig_from_rsv(const uint8_t in[65], struct sig *out);

#endif
