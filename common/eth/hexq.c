/*
 * hexq -- QUANTITY and DATA hex codecs of the Ethereum JSON-RPC API.
 * See hexq.h for the rules and their source.
 *
 * SPDX-License-Identifier: MIT
 */
#include "eth/hexq.h"

#include <stdlib.h>
#include <string.h>

static const char hexq_digits[16] = "0123456789abcdef";

/* Value of one hex digit, or -1. */
static int hexq_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Check the QUANTITY grammar; on success it names the digits and their count. */
static enum err hexq_check_quantity(const char *s, size_t len, const char **digits, size_t *ndigits)
{
    if (s == NULL || len < 3 || s[0] != '0' || s[1] != 'x')
        return ERR_INVAL;
    const char *d = s + 2;
    size_t n = len - 2;
    if (n > 1 && d[0] == '0')
        return ERR_INVAL;
    for (size_t i = 0; i < n; i++) {
        if (hexq_nibble(d[i]) < 0)
            return ERR_INVAL;
    }
    *digits = d;
    *ndigits = n;
    return ERR_OK;
}

enum err hexq_parse_u64(const char *s, size_t len, uint64_t *out)
{
    const char *d = NULL;
    size_t n = 0;
    enum err e = hexq_check_quantity(s, len, &d, &n);
    if (e != ERR_OK)
        return e;
    if (n > 16)
        return ERR_RANGE;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 4) | (uint64_t)hexq_nibble(d[i]);
    *out = v;
    return ERR_OK;
}

enum err hexq_parse_u256(const char *s, size_t len, uint8_t out[32])
{
    const char *d = NULL;
    size_t n = 0;
    enum err e = hexq_check_quantity(s, len, &d, &n);
    if (e != ERR_OK)
        return e;
    if (n > 64)
        return ERR_RANGE;
    uint8_t tmp[32] = {0};
    /* Fill from the least significant digit, two digits per byte. */
    for (size_t i = 0; i < n; i++) {
        size_t pos = n - 1 - i; /* digit index from the left */
        int v = hexq_nibble(d[pos]);
        size_t byte = 31 - i / 2;
        tmp[byte] |= (uint8_t)(i % 2 == 0 ? v : v << 4);
    }
    memcpy(out, tmp, 32);
    return ERR_OK;
}

/* Check the DATA grammar; on success *nbytes is the decoded length. */
static enum err hexq_check_data(const char *s, size_t len, size_t *nbytes)
{
    if (s == NULL || len < 2 || s[0] != '0' || s[1] != 'x')
        return ERR_INVAL;
    if ((len - 2) % 2 != 0)
        return ERR_INVAL;
    for (size_t i = 2; i < len; i++) {
        if (hexq_nibble(s[i]) < 0)
            return ERR_INVAL;
    }
    *nbytes = (len - 2) / 2;
    return ERR_OK;
}

static void hexq_decode(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(hexq_nibble(s[2 + 2 * i]) << 4 | hexq_nibble(s[3 + 2 * i]));
}

enum err hexq_parse_fixed(const char *s, size_t len, uint8_t *out, size_t n)
{
    size_t got;
    enum err e = hexq_check_data(s, len, &got);
    if (e != ERR_OK)
        return e;
    if (got != n)
        return ERR_INVAL;
    hexq_decode(s, out, n);
    return ERR_OK;
}

enum err hexq_parse_data(const char *s, size_t len, uint8_t **out, size_t *out_len)
{
    size_t n = 0;
    enum err e = hexq_check_data(s, len, &n);
    if (e != ERR_OK)
        return e;
    uint8_t *p = malloc(n > 0 ? n : 1);
    if (p == NULL)
        return ERR_NOMEM;
    hexq_decode(s, p, n);
    *out = p;
    *out_len = n;
    return ERR_OK;
}

enum err hexq_append_u64(struct buf *b, uint64_t v)
{
    char tmp[2 + 16];
    size_t n = 0;
    tmp[n++] = '0';
    tmp[n++] = 'x';
    int started = 0;
    for (int shift = 60; shift >= 0; shift -= 4) {
        unsigned nib = (unsigned)(v >> shift) & 0xf;
        if (nib != 0 || started || shift == 0) {
            tmp[n++] = hexq_digits[nib];
            started = 1;
        }
    }
    return buf_append(b, tmp, n);
}

enum err hexq_append_u256(struct buf *b, const uint8_t v[32])
{
    char tmp[2 + 64];
    size_t n = 0;
    tmp[n++] = '0';
    tmp[n++] = 'x';
    int started = 0;
    for (size_t i = 0; i < 64; i++) {
        unsigned nib = (i % 2 == 0) ? v[i / 2] >> 4 : v[i / 2] & 0xf;
        if (nib != 0 || started || i == 63) {
            tmp[n++] = hexq_digits[nib];
            started = 1;
        }
    }
    return buf_append(b, tmp, n);
}

enum err hexq_append_data(struct buf *b, const uint8_t *p, size_t n)
{
    /* buf's fields are read-only outside buf.c: encode in small chunks,
     * after reserving the whole length so that a failure changes nothing. */
    if (n > (SIZE_MAX - 3) / 2)
        return ERR_TOOBIG;
    enum err e = buf_reserve(b, 2 + 2 * n);
    if (e != ERR_OK)
        return e;
    e = buf_append(b, "0x", 2);
    char chunk[128];
    size_t used = 0;
    for (size_t i = 0; e == ERR_OK && i < n; i++) {
        chunk[used++] = hexq_digits[p[i] >> 4];
        chunk[used++] = hexq_digits[p[i] & 0xf];
        if (used == sizeof chunk) {
            e = buf_append(b, chunk, used);
            used = 0;
        }
    }
    if (e == ERR_OK && used > 0)
        e = buf_append(b, chunk, used);
    return e;
}
