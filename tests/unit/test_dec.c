/* Unit tests for common/dec. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "dec.h"
#include "json.h"

/* Reference printer for the cross-check below: long division of the
 * big-endian bytes by 10, one digit per pass (the printer before the
 * 10^19-chunk one; slow and obviously right). */
static void ref_u256_to_dec(const uint8_t be[32], char *out)
{
    uint8_t v[32];
    char rev[80];
    size_t n = 0;
    int nonzero;

    memcpy(v, be, 32);
    do {
        unsigned rem = 0;
        nonzero = 0;
        for (int j = 0; j < 32; j++) {
            unsigned x = rem << 8 | v[j];
            v[j] = (uint8_t)(x / 10u);
            rem = x % 10u;
            nonzero |= v[j];
        }
        rev[n++] = (char)('0' + rem);
    } while (nonzero);
    for (size_t i = 0; i < n; i++)
        out[i] = rev[n - 1 - i];
    out[n] = '\0';
}

/* Big-endian 32 bytes of <hi> * 2^64 + <lo>. */
static void be_of(uint64_t hi, uint64_t lo, uint8_t be[32])
{
    memset(be, 0, 32);
    for (int i = 0; i < 8; i++) {
        be[31 - i] = (uint8_t)(lo >> (8 * i));
        be[23 - i] = (uint8_t)(hi >> (8 * i));
    }
}

/* dec_u256_be against the reference on the chunk boundaries (10^19
 * and its neighbours, powers of two) and on 20,000 pseudo-random values of
 * every width, and back through json_u256_from_dec. */
static void test_u256_to_dec_cross(void **state)
{
    (void)state;
    uint8_t be[32], back[32];
    char got[DEC_U256_MAX], want[80];
    const uint64_t ten19 = 10000000000000000000ULL;
    const uint64_t edge[][2] = {
        {0, 0},          {0, 1}, {0, ten19 - 1}, {0, ten19},     {0, ten19 + 1},
        {0, UINT64_MAX}, {1, 0}, {ten19, 0},     {5, ten19 - 1}, {UINT64_MAX, UINT64_MAX}};
    uint64_t x = 0x9e3779b97f4a7c15ULL;

    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        be_of(edge[i][0], edge[i][1], be);
        dec_u256_be(be, got);
        ref_u256_to_dec(be, want);
        assert_string_equal(got, want);
    }
    be_of(0, 0, be);
    be[15] = 1; /* 2^128 */
    dec_u256_be(be, got);
    assert_string_equal(got, "340282366920938463463374607431768211456");
    for (int k = 0; k < 20000; k++) {
        size_t width = (size_t)(k % 33); /* 0..32 significant bytes */
        memset(be, 0, 32);
        for (size_t i = 32 - width; i < 32; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
            be[i] = (uint8_t)x;
        }
        dec_u256_be(be, got);
        ref_u256_to_dec(be, want);
        assert_string_equal(got, want);
        assert_int_equal(json_u256_from_dec(got, strlen(got), back), ERR_OK);
        assert_memory_equal(back, be, 32);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u256_to_dec_cross),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
