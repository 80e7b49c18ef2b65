/*
 * keccak -- the Keccak-256 sponge over Nettle's Keccak-f[1600] permutation.
 * Full blocks are XORed straight from the caller's data lane by lane; only
 * a trailing partial block is copied into ctx->block.
 * SPDX-License-Identifier: MIT
 */
#include "eth/keccak.h"

#include <nettle/sha3.h>
#include <string.h>

/* Nettle's state is 25 little-endian 64-bit lanes; ours has the same shape
 * so we can hand it over without copying. */
_Static_assert(sizeof(struct sha3_state) == 25 * sizeof(uint64_t), "sha3_state layout");

static inline uint64_t load_le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static void absorb_block(uint64_t state[25], const uint8_t *p)
{
    for (int i = 0; i < KECCAK256_RATE / 8; i++)
        state[i] ^= load_le64(p + 8 * i);
    sha3_permute((struct sha3_state *)state);
}

void keccak_init(struct keccak_ctx *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
}

void keccak_update(struct keccak_ctx *ctx, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (len == 0)
        return;
    if (ctx->block_len) {
        size_t take = KECCAK256_RATE - ctx->block_len;
        if (take > len)
            take = len;
        memcpy(ctx->block + ctx->block_len, p, take);
        ctx->block_len += take;
        p += take;
        len -= take;
        if (ctx->block_len < KECCAK256_RATE)
            return;
        absorb_block(ctx->state, ctx->block);
        ctx->block_len = 0;
    }
    while (len >= KECCAK256_RATE) {
        absorb_block(ctx->state, p);
        p += KECCAK256_RATE;
        len -= KECCAK256_RATE;
    }
    if (len) {
        memcpy(ctx->block, p, len);
        ctx->block_len = len;
    }
}

void keccak_digest(struct keccak_ctx *ctx, uint8_t out[KECCAK256_DIGEST_SIZE])
{
    /* Keccak's pad10*1 with the original 0x01 first byte (FIPS 202 uses
     * 0x06 instead; that is the only difference from SHA3-256). When only
     * one byte is left, 0x01 and 0x80 share it as 0x81. */
    memset(ctx->block + ctx->block_len, 0, KECCAK256_RATE - ctx->block_len);
    ctx->block[ctx->block_len] ^= 0x01;
    ctx->block[KECCAK256_RATE - 1] ^= 0x80;
    absorb_block(ctx->state, ctx->block);
    for (int i = 0; i < KECCAK256_DIGEST_SIZE / 8; i++) {
        uint64_t v = ctx->state[i];
        for (int j = 0; j < 8; j++)
            out[8 * i + j] = (uint8_t)(v >> (8 * j));
    }
    explicit_bzero(ctx, sizeof(*ctx));
}

void keccak256(const void *data, size_t len, uint8_t out[KECCAK256_DIGEST_SIZE])
{
    struct keccak_ctx ctx;
    keccak_init(&ctx);
    keccak_update(&ctx, data, len);
    keccak_digest(&ctx, out);
}
