/*
 * dec -- decimal text of 256-bit unsigned integers (dec.h).
 * SPDX-License-Identifier: MIT
 */
#include "dec.h"

#include <stddef.h>

/* 10^19: the largest power of ten below 2^64. */
#define TEN19 10000000000000000000ULL

void dec_u256_be(const uint8_t be[32], char out[DEC_U256_MAX])
{
    /* Four 64-bit limbs, least significant first, divided by 10^19 per
     * pass: 19 digits per pass of four 128-by-64-bit divisions, so at most
     * 5 passes for 2^256 - 1's 78 digits (one pass per digit of 32 byte
     * divisions before: a catch-up batch converts thousands of amounts). */
    __extension__ typedef unsigned __int128 u128;
    uint64_t w[4], chunk[5];
    size_t n = 0;
    char *p = out;

    for (int i = 0; i < 4; i++) {
        uint64_t x = 0;
        for (int j = 0; j < 8; j++)
            x = x << 8 | be[(3 - i) * 8 + j];
        w[i] = x;
    }
    do {
        u128 rem = 0;
        for (int i = 3; i >= 0; i--) {
            u128 cur = rem << 64 | w[i];
            w[i] = (uint64_t)(cur / TEN19);
            rem = cur % TEN19;
        }
        chunk[n++] = (uint64_t)rem;
    } while (w[0] | w[1] | w[2] | w[3]);
    /* The most significant chunk without leading zeros, then the others
     * with exactly 19 digits each. */
    char top[20];
    int k = 0;
    uint64_t v = chunk[n - 1];
    do {
        top[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k > 0)
        *p++ = top[--k];
    for (size_t c = n - 1; c-- > 0;) {
        v = chunk[c];
        for (int d = 18; d >= 0; d--) {
            p[d] = (char)('0' + v % 10);
            v /= 10;
        }
        p += 19;
    }
    *p = '\0';
}
