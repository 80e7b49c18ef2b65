/*
 * ecdsa -- the one module that calls libsecp256k1. Every library call is
 * checked against its documented failure value (!= 1).
 * SPDX-License-Identifier: MIT
 */
#include "eth/ecdsa.h"

#include <pthread.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <string.h>
#include <sys/random.h>

#include "eth/keccak.h"

/* n/2 for secp256k1 (SEC 2, section 2.4.1): the largest s EIP-2 allows. */
static const uint8_t half_order[32] = {
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
};

static secp256k1_context *ctx;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void ctx_create(void)
{
    ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    LOOM_ASSERT(ctx != NULL); /* only fails on out-of-memory at start-up */
    /* Blinding against timing and power side channels. Signing stays
     * correct without it, so a failed getrandom only skips the blinding. */
    uint8_t seed[32];
    if (getrandom(seed, sizeof(seed), 0) == (ssize_t)sizeof(seed)) {
        int ok = secp256k1_context_randomize(ctx, seed);
        LOOM_ASSERT(ok == 1);
    }
    explicit_bzero(seed, sizeof(seed));
}

static secp256k1_context *get_ctx(void)
{
    int rc = pthread_once(&ctx_once, ctx_create);
    LOOM_ASSERT(rc == 0);
    return ctx;
}

bool ecdsa_seckey_is_valid(const uint8_t priv[32])
{
    return secp256k1_ec_seckey_verify(get_ctx(), priv) == 1;
}

static void serialize_pub(const secp256k1_pubkey *pk, uint8_t pub[64])
{
    uint8_t full[65];
    size_t len = sizeof(full);
    int ok = secp256k1_ec_pubkey_serialize(get_ctx(), full, &len, pk, SECP256K1_EC_UNCOMPRESSED);
    LOOM_ASSERT(ok == 1 && len == 65);
    memcpy(pub, full + 1, 64);
}

enum err ecdsa_pubkey(const uint8_t priv[32], uint8_t pub[64])
{
    secp256k1_pubkey pk;
    if (secp256k1_ec_pubkey_create(get_ctx(), &pk, priv) != 1)
        return ERR_CRYPTO;
    serialize_pub(&pk, pub);
    return ERR_OK;
}

enum err ecdsa_sign(const uint8_t priv[32], const uint8_t hash[32], struct sig *out)
{
    secp256k1_ecdsa_recoverable_signature rs;
    /* NULL nonce function: libsecp256k1's RFC 6979 (HMAC-SHA256) default;
     * its signatures are always low-s. */
    if (secp256k1_ecdsa_sign_recoverable(get_ctx(), &rs, hash, priv, NULL, NULL) != 1)
        return ERR_CRYPTO;
    uint8_t compact[64];
    int recid = 0;
    int ok =
        secp256k1_ecdsa_recoverable_signature_serialize_compact(get_ctx(), compact, &recid, &rs);
    LOOM_ASSERT(ok == 1 && (recid == 0 || recid == 1));
    memcpy(out->r, compact, 32);
    memcpy(out->s, compact + 32, 32);
    out->recid = (uint8_t)recid;
    return ERR_OK;
}

enum err ecdsa_recover(const uint8_t hash[32], const struct sig *sig, uint8_t pub[64])
{
    if (sig->recid > 1 || memcmp(sig->s, half_order, 32) > 0)
        return ERR_CRYPTO;
    uint8_t compact[64];
    memcpy(compact, sig->r, 32);
    memcpy(compact + 32, sig->s, 32);
    secp256k1_ecdsa_recoverable_signature rs;
    if (secp256k1_ecdsa_recoverable_signature_parse_compact(get_ctx(), &rs, compact, sig->recid) !=
        1)
        return ERR_CRYPTO;
    secp256k1_pubkey pk;
    if (secp256k1_ecdsa_recover(get_ctx(), &pk, &rs, hash) != 1)
        return ERR_CRYPTO;
    serialize_pub(&pk, pub);
    return ERR_OK;
}

enum err ecdsa_recover_address(const uint8_t hash[32], const struct sig *sig, uint8_t addr[20])
{
    uint8_t pub[64], h[32];
    enum err e = ecdsa_recover(hash, sig, pub);
    if (e != ERR_OK)
        return e;
    keccak256(pub, 64, h);
    memcpy(addr, h + 12, 20);
    return ERR_OK;
}

void sig_to_rsv(const struct sig *sig, uint8_t out[65])
{
    memcpy(out, sig->r, 32);
    memcpy(out + 32, sig->s, 32);
    out[64] = (uint8_t)(27 + sig->recid);
}

enum err sig_from_rsv(const uint8_t in[65], struct sig *out)
{
    uint8_t v = in[64];
    if (v == 27 || v == 28)
        v = (uint8_t)(v - 27);
    if (v > 1)
        return ERR_INVAL;
    memcpy(out->r, in, 32);
    memcpy(out->s, in + 32, 32);
    out->recid = v;
    return ERR_OK;
}
