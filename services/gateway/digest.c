/*
 * digest -- SHA-256, HMAC-SHA-256 and random bytes over Nettle and getrandom.
 * SPDX-License-Identifier: MIT
 */
#include "digest.h"

#include <errno.h>
#include <nettle/hmac.h>
#include <nettle/sha2.h>
#include <stdlib.h>
#include <sys/random.h>

struct digest_sha256 {
    struct sha256_ctx ctx;
};

enum err digest_sha256_new(struct digest_sha256 **out)
{
    struct digest_sha256 *d = malloc(sizeof(*d));
    if (d == NULL)
        return ERR_NOMEM;
    sha256_init(&d->ctx);
    *out = d;
    return ERR_OK;
}

void digest_sha256_free(struct digest_sha256 *d)
{
    free(d);
}

void digest_sha256_update(struct digest_sha256 *d, const void *p, size_t n)
{
    if (n > 0)
        sha256_update(&d->ctx, n, p);
}

void digest_to_hex(const unsigned char *p, size_t n, char *out)
{
    static const char hexdig[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig[p[i] >> 4];
        out[2 * i + 1] = hexdig[p[i] & 15];
    }
    out[2 * n] = '\0';
}

void digest_sha256_final_hex(struct digest_sha256 *d, char hex[DIGEST_SHA256_HEX_LEN + 1])
{
    unsigned char raw[SHA256_DIGEST_SIZE];
    sha256_digest(&d->ctx, sizeof(raw), raw); /* also re-initialises ctx */
    digest_to_hex(raw, sizeof(raw), hex);
}

void digest_sha256_hex(const void *p, size_t n, char hex[DIGEST_SHA256_HEX_LEN + 1])
{
    struct digest_sha256 d;
    sha256_init(&d.ctx);
    digest_sha256_update(&d, p, n);
    digest_sha256_final_hex(&d, hex);
}

void digest_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                        unsigned char out[32])
{
    struct hmac_sha256_ctx ctx;
    hmac_sha256_set_key(&ctx, key_len, key);
    hmac_sha256_update(&ctx, msg_len, msg);
    hmac_sha256_digest(&ctx, 32, out);
}

enum err digest_random(void *p, size_t n)
{
    unsigned char *q = p;
    while (n > 0) {
        ssize_t got = getrandom(q, n, 0);
        if (got == -1) {
            if (errno == EINTR)
                continue;
            return ERR_IO;
        }
        q += got;
        n -= (size_t)got;
    }
    return ERR_OK;
}
