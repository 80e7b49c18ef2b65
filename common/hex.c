/*
 * hex -- hexadecimal encoding and strict decoding of byte strings.
 * SPDX-License-Identifier: MIT
 */
#include "hex.h"

#include <string.h>

static const char hex_chars[] = "0123456789abcdef";

/* One more than the value of each byte as a hex digit, 0 when it is none:
 * one load per character in the decoders below (an indexer batch decodes
 * megabytes of hex). */
static const uint8_t digit1_of[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

int hex_digit(int c)
{
    if (c < 0 || c > 255)
        return -1;
    return (int)digit1_of[c] - 1;
}

bool hex_is_digits(const char *s, size_t len)
{
    bool ok = true;

    for (size_t i = 0; i < len; i++)
        ok &= digit1_of[(unsigned char)s[i]] != 0;
    return ok;
}

enum err hex_decode_digits(const char *s, size_t n, uint8_t *out)
{
    const unsigned char *u = (const unsigned char *)s;

    if (!hex_is_digits(s, 2 * n))
        return ERR_INVAL; /* <out> unchanged */
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)((digit1_of[u[2 * i]] - 1) << 4 | (digit1_of[u[2 * i + 1]] - 1));
    return ERR_OK;
}

void hex_encode(const void *data, size_t len, bool prefix, char *out)
{
    const uint8_t *p = data;
    if (prefix) {
        *out++ = '0';
        *out++ = 'x';
    }
    for (size_t i = 0; i < len; i++) {
        *out++ = hex_chars[p[i] >> 4];
        *out++ = hex_chars[p[i] & 15];
    }
    *out = '\0';
}

enum err hex_append(struct buf *b, const void *data, size_t len, bool prefix)
{
    /* buf's fields are read-only outside buf.c: encode in small chunks,
     * after reserving the whole length so that a failure changes nothing. */
    const uint8_t *p = data;
    if (len > (SIZE_MAX - 2) / 2)
        return ERR_TOOBIG;
    enum err e = buf_reserve(b, 2 * len + (prefix ? 2 : 0));
    if (e == ERR_OK && prefix)
        e = buf_append(b, "0x", 2);
    char chunk[128 + 1];
    while (e == ERR_OK && len > 0) {
        size_t n = len < 64 ? len : 64;
        hex_encode(p, n, false, chunk);
        e = buf_append(b, chunk, 2 * n);
        p += n;
        len -= n;
    }
    return e;
}

static size_t skip_prefix(const char *s, size_t slen)
{
    return (slen >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? 2 : 0;
}

enum err hex_decode(const char *s, size_t slen, uint8_t *out, size_t out_cap, size_t *out_len)
{
    size_t skip = skip_prefix(s, slen);
    s += skip;
    slen -= skip;
    if (slen % 2)
        return ERR_INVAL;
    if (slen / 2 > out_cap)
        return ERR_TOOBIG;
    enum err e = hex_decode_digits(s, slen / 2, out);
    if (e == ERR_OK)
        *out_len = slen / 2;
    return e;
}

enum err hex_decode_exact(const char *s, uint8_t *out, size_t n)
{
    size_t slen = strlen(s);
    size_t skip = skip_prefix(s, slen);
    if (slen - skip != 2 * n)
        return ERR_INVAL;
    size_t got = 0;
    return hex_decode(s, slen, out, n, &got);
}

enum err hex_decode_buf(const char *s, struct buf *b)
{
    size_t slen = strlen(s);
    size_t skip = skip_prefix(s, slen);
    size_t n = (slen - skip) / 2;
    if ((slen - skip) % 2)
        return ERR_INVAL;
    enum err e = buf_reserve(b, n);
    if (e != ERR_OK)
        return e;
    size_t got = 0;
    e = hex_decode(s, slen, (uint8_t *)b->data + b->len, n, &got);
    if (e != ERR_OK) {
        b->data[b->len] = '\0';
        return e;
    }
    b->len += got;
    b->data[b->len] = '\0';
    return ERR_OK;
}
