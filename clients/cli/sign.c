/*
 * sign -- signed gateway requests and sha256 (Nettle's sha256, as the
 * worker uses it).
 * SPDX-License-Identifier: MIT
 */
#include "sign.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "eth/ecdsa.h"
#include "eth/eip191.h"
#include "hex.h"
#include "eth/key.h"

void sign_sha256(const void *p, size_t n, uint8_t out[32])
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, n, p);
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

void sign_sha256_hex(const void *p, size_t n, char out[SIGN_SHA256_HEX])
{
    uint8_t d[32];
    sign_sha256(n ? p : "", n, d);
    hex_encode(d, 32, false, out);
}

enum err sign_sha256_file(const char *path, uint8_t out[32], uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return errno == ENOENT ? ERR_NOTFOUND : ERR_IO;
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    uint8_t block[65536];
    uint64_t total = 0;
    enum err e = ERR_OK;
    for (;;) {
        ssize_t n = read(fd, block, sizeof(block));
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            e = ERR_IO;
            break;
        }
        if (n == 0)
            break;
        sha256_update(&ctx, (size_t)n, block);
        total += (uint64_t)n;
    }
    close(fd);
    if (e != ERR_OK)
        return e;
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
    if (size)
        *size = total;
    return ERR_OK;
}

enum err sign_canonical(const char *method, const char *target, const char *body_sha256_hex,
                        const char *timestamp, const char *nonce, struct buf *out)
{
    return buf_appendf(out, "loom-request-v1\n%s\n%s\n%s\n%s\n%s", method, target, body_sha256_hex,
                       timestamp, nonce);
}

enum err sign_random(void *out, size_t n)
{
    uint8_t *p = out;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got == -1 && errno == EINTR)
            continue;
        if (got <= 0)
            return ERR_IO;
        p += got;
        n -= (size_t)got;
    }
    return ERR_OK;
}

/* The gateway's rule for nonces: 8-64 characters of [A-Za-z0-9_-]. */
static int nonce_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 8 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

enum err sign_request(const struct key *k, const char *method, const char *target, const void *body,
                      size_t len, int64_t now_s, const char *nonce, struct sign_headers *out)
{
    char body_hex[SIGN_SHA256_HEX];
    struct buf text;
    struct sig sig;
    uint8_t rsv[65];
    enum err e;

    memset(out, 0, sizeof(*out));
    if (nonce == NULL) {
        uint8_t raw[16];
        if ((e = sign_random(raw, sizeof(raw))) != ERR_OK)
            return e;
        hex_encode(raw, sizeof(raw), false, out->nonce);
    } else if (!nonce_ok(nonce)) {
        return ERR_INVAL;
    } else {
        memcpy(out->nonce, nonce, strlen(nonce) + 1);
    }
    (void)snprintf(out->timestamp, sizeof(out->timestamp), "%" PRId64, now_s);
    hex_encode(k->addr, 20, true, out->address);
    sign_sha256_hex(body, len, body_hex);
    buf_init(&text, 0);
    e = sign_canonical(method, target, body_hex, out->timestamp, out->nonce, &text);
    if (e == ERR_OK)
        e = eip191_sign(k, text.data, text.len, &sig);
    if (e == ERR_OK) {
        sig_to_rsv(&sig, rsv);
        hex_encode(rsv, sizeof(rsv), true, out->signature);
    }
    buf_release(&text);
    return e;
}
