/*
 * hexq -- QUANTITY and DATA hex codecs of the Ethereum JSON-RPC API.
 * See hexq.h for the rules and their source.
 *
 * SPDX-License-Identifier: MIT
 */
#include "eth/hexq.h"

#include <stdlib.h>
#include <string.h>

#include "hex.h"

/* Check the QUANTITY grammar; on success it names the digits and their count. */
static enum err hexq_check_quantity(const char *s, size_t len, const char **digits, size_t *ndigits)
{
    if (s == NULL || len < 3 || s[0] != '0' || s[1] != 'x')
        return ERR_INVAL;
    const char *d = s + 2;
    size_t n = len - 2;
    if (n > 1 && d[0] == '0')
        return ERR_INVAL;
    if (!hex_is_digits(d, n))
        return ERR_INVAL;
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
        v = (v << 4) | (uint64_t)hex_digit((unsigned char)d[i]);
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
        int v = hex_digit((unsigned char)d[pos]);
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
    if (!hex_is_digits(s + 2, len - 2))
        return ERR_INVAL;
    *nbytes = (len - 2) / 2;
    return ERR_OK;
}

enum err hexq_parse_fixed(const char *s, size_t len, uint8_t *out, size_t n)
{
    size_t got;
    enum err e = hexq_check_data(s, len, &got);
    if (e != ERR_OK)
        return e;
    if (got != n)
        return ERR_INVAL;
    return hex_decode_digits(s + 2, n, out);
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
    e = hex_decode_digits(s + 2, n, p); /* cannot fail: the digits are checked */
    if (e != ERR_OK) {
        free(p);
        return e;
    }
    *out = p;
    *out_len = n;
    return ERR_OK;
}

/* Append the <n> (at most 32) big-endian bytes <be> as a QUANTITY: the hex
 * digits without leading zeros, but at least one digit. */
static enum err hexq_append_quantity(struct buf *b, const uint8_t *be, size_t n)
{
    char tmp[2 + 64 + 1];
    hex_encode(be, n, true, tmp);
    size_t z = 2; /* the first digit to keep */
    while (z < 2 * n + 1 && tmp[z] == '0')
        z++;
    tmp[z - 2] = '0';
    tmp[z - 1] = 'x';
    return buf_append(b, tmp + z - 2, 2 * n + 2 - (z - 2));
}

enum err hexq_append_u64(struct buf *b, uint64_t v)
{
    uint8_t be[8];
    for (size_t i = 0; i < 8; i++)
        be[i] = (uint8_t)(v >> (56 - 8 * i));
    return hexq_append_quantity(b, be, sizeof be);
}

enum err hexq_append_u256(struct buf *b, const uint8_t v[32])
{
    return hexq_append_quantity(b, v, 32);
}

enum err hexq_append_data(struct buf *b, const uint8_t *p, size_t n)
{
    return hex_append(b, p, n, true);
}
