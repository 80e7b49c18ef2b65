/*
 * eip191 -- personal_sign hashing, signing and recovery.
 * SPDX-License-Identifier: MIT
 */
#include "eth/eip191.h"

#include <stdio.h>
#include <string.h>

#include "eth/keccak.h"
#include "eth/key.h"

void eip191_hash(const void *msg, size_t len, uint8_t out[32])
{
    static const char prefix[] = "\x19"
                                 "Ethereum Signed Message:\n";
    char digits[24];
    int n = snprintf(digits, sizeof(digits), "%zu", len);
    LOOM_ASSERT(n > 0 && (size_t)n < sizeof(digits));
    struct keccak_ctx c;
    keccak_init(&c);
    keccak_update(&c, prefix, sizeof(prefix) - 1);
    keccak_update(&c, digits, (size_t)n);
    keccak_update(&c, msg, len);
    keccak_digest(&c, out);
}

enum err eip191_sign(const struct key *k, const void *msg, size_t len, struct sig *out)
{
    uint8_t h[32];
    eip191_hash(msg, len, h);
    return ecdsa_sign(k->priv, h, out);
}

enum err eip191_recover(const void *msg, size_t len, const uint8_t rsv[65], uint8_t addr[20])
{
    struct sig s;
    uint8_t h[32];
    enum err e = sig_from_rsv(rsv, &s);
    if (e != ERR_OK)
        return e;
    eip191_hash(msg, len, h);
    return ecdsa_recover_address(h, &s, addr);
}
