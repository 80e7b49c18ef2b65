/*
 * u256 -- checked 256-bit unsigned arithmetic. Multiplication is schoolbook
 * on 64-bit limbs with unsigned __int128 partial products; division is
 * binary long division (256 steps), which is plenty for money amounts.
 * SPDX-License-Identifier: MIT
 */
#include "eth/u256.h"

#include <string.h>

#include "hex.h"
#include "dec.h"

typedef unsigned __int128 u128;

struct u256 u256_from_u64(uint64_t v)
{
    struct u256 r = {{v, 0, 0, 0}};
    return r;
}

bool u256_is_zero(struct u256 a)
{
    return (a.w[0] | a.w[1] | a.w[2] | a.w[3]) == 0;
}

int u256_cmp(struct u256 a, struct u256 b)
{
    for (int i = 3; i >= 0; i--) {
        if (a.w[i] != b.w[i])
            return a.w[i] < b.w[i] ? -1 : 1;
    }
    return 0;
}

enum err u256_add(struct u256 a, struct u256 b, struct u256 *out)
{
    struct u256 r;
    uint64_t carry = 0;
    for (int i = 0; i < 4; i++) {
        u128 s = (u128)a.w[i] + b.w[i] + carry;
        r.w[i] = (uint64_t)s;
        carry = (uint64_t)(s >> 64);
    }
    if (carry)
        return ERR_RANGE;
    *out = r;
    return ERR_OK;
}

enum err u256_sub(struct u256 a, struct u256 b, struct u256 *out)
{
    if (u256_cmp(a, b) < 0)
        return ERR_RANGE;
    struct u256 r;
    uint64_t borrow = 0;
    for (int i = 0; i < 4; i++) {
        u128 d = (u128)a.w[i] - b.w[i] - borrow;
        r.w[i] = (uint64_t)d;
        borrow = (uint64_t)(d >> 127); /* 1 when the 128-bit difference went negative */
    }
    *out = r;
    return ERR_OK;
}

enum err u256_mul(struct u256 a, struct u256 b, struct u256 *out)
{
    uint64_t r[8] = {0};
    for (int i = 0; i < 4; i++) {
        uint64_t carry = 0;
        if (a.w[i] == 0)
            continue;
        for (int j = 0; j < 4; j++) {
            u128 t = (u128)a.w[i] * b.w[j] + r[i + j] + carry;
            r[i + j] = (uint64_t)t;
            carry = (uint64_t)(t >> 64);
        }
        r[i + 4] = carry;
    }
    if (r[4] | r[5] | r[6] | r[7])
        return ERR_RANGE;
    memcpy(out->w, r, sizeof(out->w));
    return ERR_OK;
}

static void shl1(struct u256 *a, unsigned bit)
{
    for (int i = 3; i > 0; i--)
        a->w[i] = a->w[i] << 1 | a->w[i - 1] >> 63;
    a->w[0] = a->w[0] << 1 | bit;
}

static int top_bit(struct u256 a)
{
    for (int i = 3; i >= 0; i--) {
        if (a.w[i])
            return i * 64 + 63 - __builtin_clzll(a.w[i]);
    }
    return -1;
}

enum err u256_divmod(struct u256 a, struct u256 b, struct u256 *quot, struct u256 *rem)
{
    if (u256_is_zero(b))
        return ERR_RANGE;
    struct u256 q = {{0}}, r = {{0}};
    for (int i = top_bit(a); i >= 0; i--) {
        shl1(&r, (unsigned)(a.w[i / 64] >> (i % 64)) & 1);
        shl1(&q, 0);
        if (u256_cmp(r, b) >= 0) {
            enum err e = u256_sub(r, b, &r);
            LOOM_ASSERT(e == ERR_OK);
            q.w[0] |= 1;
        }
    }
    if (quot)
        *quot = q;
    if (rem)
        *rem = r;
    return ERR_OK;
}

enum err u256_to_u64(struct u256 a, uint64_t *out)
{
    if (a.w[1] | a.w[2] | a.w[3])
        return ERR_RANGE;
    *out = a.w[0];
    return ERR_OK;
}

enum err u256_from_be(const uint8_t *p, size_t len, struct u256 *out)
{
    while (len > 32) {
        if (*p)
            return ERR_RANGE;
        p++;
        len--;
    }
    struct u256 r = {{0}};
    for (size_t i = 0; i < len; i++) {
        size_t bit = (len - 1 - i) * 8;
        r.w[bit / 64] |= (uint64_t)p[i] << (bit % 64);
    }
    *out = r;
    return ERR_OK;
}

void u256_to_be(struct u256 a, uint8_t out[32])
{
    for (int i = 0; i < 32; i++) {
        int bit = (31 - i) * 8;
        out[i] = (uint8_t)(a.w[bit / 64] >> (bit % 64));
    }
}

size_t u256_byte_len(struct u256 a)
{
    int t = top_bit(a);
    return t < 0 ? 0 : (size_t)t / 8 + 1;
}

enum err u256_parse_dec(const char *s, struct u256 *out)
{
    struct u256 r = {{0}}, ten = u256_from_u64(10);
    if (!*s)
        return ERR_INVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return ERR_INVAL;
        if (u256_mul(r, ten, &r) != ERR_OK ||
            u256_add(r, u256_from_u64((uint64_t)(*s - '0')), &r) != ERR_OK)
            return ERR_RANGE;
    }
    *out = r;
    return ERR_OK;
}

enum err u256_parse_hex(const char *s, struct u256 *out)
{
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2;
    if (!*s)
        return ERR_INVAL;
    struct u256 r = {{0}};
    for (; *s; s++) {
        int d = hex_digit((unsigned char)*s);
        if (d < 0)
            return ERR_INVAL;
        if (r.w[3] >> 60)
            return ERR_RANGE;
        for (int i = 3; i > 0; i--)
            r.w[i] = r.w[i] << 4 | r.w[i - 1] >> 60;
        r.w[0] = r.w[0] << 4 | (uint64_t)d;
    }
    *out = r;
    return ERR_OK;
}

enum err u256_parse(const char *s, struct u256 *out)
{
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        return u256_parse_hex(s, out);
    return u256_parse_dec(s, out);
}

void u256_to_dec(struct u256 a, char out[U256_DEC_MAX])
{
    uint8_t be[32];

    u256_to_be(a, be);
    dec_u256_be(be, out); /* the one decimal printer (common/dec.h) */
}

void u256_to_hex(struct u256 a, char out[U256_HEX_MAX])
{
    static const char digits[] = "0123456789abcdef";
    size_t n = 0;
    out[n++] = '0';
    out[n++] = 'x';
    int t = top_bit(a);
    if (t < 0) {
        out[n++] = '0';
    } else {
        for (int nib = t / 4; nib >= 0; nib--)
            out[n++] = digits[(a.w[nib / 16] >> (nib % 16 * 4)) & 15];
    }
    out[n] = '\0';
}

enum err u256_pow10(unsigned n, struct u256 *out)
{
    if (n > 77)
        return ERR_RANGE;
    struct u256 r = u256_from_u64(1), ten = u256_from_u64(10);
    for (unsigned i = 0; i < n; i++) {
        enum err e = u256_mul(r, ten, &r);
        LOOM_ASSERT(e == ERR_OK); /* 10^77 < 2^256 */
    }
    *out = r;
    return ERR_OK;
}

enum err u256_parse_units(const char *s, unsigned decimals, struct u256 *out)
{
    if (decimals > 77)
        return ERR_INVAL;
    struct u256 r = {{0}}, ten = u256_from_u64(10);
    unsigned frac = 0;
    bool seen_dot = false, seen_digit = false;
    for (; *s; s++) {
        if (*s == '.' && !seen_dot) {
            seen_dot = true;
            continue;
        }
        if (*s < '0' || *s > '9')
            return ERR_INVAL;
        seen_digit = true;
        if (seen_dot && ++frac > decimals)
            return ERR_INVAL;
        if (u256_mul(r, ten, &r) != ERR_OK ||
            u256_add(r, u256_from_u64((uint64_t)(*s - '0')), &r) != ERR_OK)
            return ERR_RANGE;
    }
    if (!seen_digit)
        return ERR_INVAL;
    struct u256 scale;
    enum err e = u256_pow10(decimals - frac, &scale);
    if (e != ERR_OK)
        return e;
    if (u256_mul(r, scale, &r) != ERR_OK)
        return ERR_RANGE;
    *out = r;
    return ERR_OK;
}

enum err u256_format_units(struct u256 a, unsigned decimals, const char *unit, char *out,
                           size_t cap)
{
    if (decimals > 77)
        return ERR_INVAL;
    char dec[U256_DEC_MAX];
    u256_to_dec(a, dec);
    size_t nd = strlen(dec);
    /* Pad with leading zeros so there is at least one integer digit. */
    char digits[U256_DEC_MAX + 78];
    size_t pad = nd <= decimals ? decimals + 1 - nd : 0;
    memset(digits, '0', pad);
    memcpy(digits + pad, dec, nd + 1);
    size_t n = pad + nd, int_len = n - decimals;
    size_t frac_len = decimals;
    while (frac_len > 0 && digits[int_len + frac_len - 1] == '0')
        frac_len--;
    size_t unit_len = unit ? strlen(unit) + 1 : 0;
    size_t need = int_len + (frac_len ? frac_len + 1 : 0) + unit_len + 1;
    if (need > cap)
        return ERR_TOOBIG;
    size_t o = 0;
    memcpy(out + o, digits, int_len);
    o += int_len;
    if (frac_len) {
        out[o++] = '.';
        memcpy(out + o, digits + int_len, frac_len);
        o += frac_len;
    }
    if (unit) {
        out[o++] = ' ';
        memcpy(out + o, unit, unit_len - 1);
        o += unit_len - 1;
    }
    out[o] = '\0';
    return ERR_OK;
}

enum err u256_format_ether(struct u256 wei, char *out, size_t cap)
{
    return u256_format_units(wei, 18, "ETH", out, cap);
}

enum err u256_format_gwei(struct u256 wei, char *out, size_t cap)
{
    return u256_format_units(wei, 9, "gwei", out, cap);
}

enum err u256_gwei_to_wei(struct u256 gwei, struct u256 *wei)
{
    return u256_mul(gwei, u256_from_u64(WEI_PER_GWEI), wei);
}

enum err u256_ether_to_wei(struct u256 ether, struct u256 *wei)
{
    return u256_mul(ether, u256_from_u64(WEI_PER_ETHER), wei);
}

enum err u256_usd_cents_to_wei(uint64_t usd_cents, struct u256 answer, unsigned feed_decimals,
                               struct u256 *wei)
{
    if (u256_is_zero(answer) || feed_decimals < 2 || feed_decimals > 36)
        return ERR_INVAL;
    struct u256 scale, num, q, r;
    enum err e = u256_pow10(18 + feed_decimals - 2, &scale);
    if (e != ERR_OK)
        return e;
    e = u256_mul(u256_from_u64(usd_cents), scale, &num);
    if (e != ERR_OK)
        return e;
    e = u256_divmod(num, answer, &q, &r);
    if (e != ERR_OK)
        return e;
    if (!u256_is_zero(r)) {
        e = u256_add(q, u256_from_u64(1), &q); /* round up */
        if (e != ERR_OK)
            return e;
    }
    *wei = q;
    return ERR_OK;
}
