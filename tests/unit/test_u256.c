/* Unit tests for common/eth/u256. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "eth/u256.h"

static const char *MAX_DEC =
    "115792089237316195423570985008687907853269984665640564039457584007913129639935";

static struct u256 dec(const char *s)
{
    struct u256 v;
    assert_int_equal(u256_parse_dec(s, &v), ERR_OK);
    return v;
}

static void assert_dec(struct u256 v, const char *want)
{
    char s[U256_DEC_MAX];
    u256_to_dec(v, s);
    assert_string_equal(s, want);
}

static void test_parse_print(void **state)
{
    (void)state;
    struct u256 v;
    char h[U256_HEX_MAX];
    assert_dec(dec("0"), "0");
    assert_dec(dec("000123"), "123");
    assert_dec(dec(MAX_DEC), MAX_DEC);
    assert_int_equal(
        u256_parse_dec(
            "115792089237316195423570985008687907853269984665640564039457584007913129639936", &v),
        ERR_RANGE);
    assert_int_equal(u256_parse_dec("", &v), ERR_INVAL);
    assert_int_equal(u256_parse_dec("12a", &v), ERR_INVAL);
    assert_int_equal(u256_parse_dec("-1", &v), ERR_INVAL);
    assert_int_equal(
        u256_parse_hex("0xFFffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", &v),
        ERR_OK);
    assert_dec(v, MAX_DEC);
    u256_to_hex(v, h);
    assert_string_equal(h, "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
    assert_int_equal(
        u256_parse_hex("0x1"
                       "0000000000000000000000000000000000000000000000000000000000000000",
                       &v),
        ERR_RANGE);
    assert_int_equal(u256_parse_hex("0x", &v), ERR_INVAL);
    assert_int_equal(u256_parse_hex("0xg", &v), ERR_INVAL);
    assert_int_equal(u256_parse("0x1b", &v), ERR_OK);
    assert_dec(v, "27");
    assert_int_equal(u256_parse("27", &v), ERR_OK);
    u256_to_hex(v, h);
    assert_string_equal(h, "0x1b");
    u256_to_hex(u256_from_u64(0), h);
    assert_string_equal(h, "0x0");
    u256_to_hex(dec("18446744073709551616"), h);
    assert_string_equal(h, "0x10000000000000000");
}

static void test_arith(void **state)
{
    (void)state;
    struct u256 r, q, m, max = dec(MAX_DEC);
    assert_int_equal(u256_add(dec("18446744073709551615"), u256_from_u64(1), &r), ERR_OK);
    assert_dec(r, "18446744073709551616");
    r = u256_from_u64(7);
    assert_int_equal(u256_add(max, u256_from_u64(1), &r), ERR_RANGE);
    assert_dec(r, "7"); /* unchanged on error */
    assert_int_equal(u256_sub(u256_from_u64(1), u256_from_u64(2), &r), ERR_RANGE);
    assert_int_equal(u256_sub(dec("18446744073709551616"), u256_from_u64(1), &r), ERR_OK);
    assert_dec(r, "18446744073709551615");
    assert_int_equal(u256_mul(dec("340282366920938463463374607431768211455"),
                              dec("340282366920938463463374607431768211457"), &r),
                     ERR_OK);
    assert_dec(r, MAX_DEC);
    assert_int_equal(u256_mul(dec("340282366920938463463374607431768211456"),
                              dec("340282366920938463463374607431768211456"), &r),
                     ERR_RANGE);
    assert_int_equal(u256_mul(max, u256_from_u64(2), &r), ERR_RANGE);
    assert_int_equal(u256_mul(max, u256_from_u64(0), &r), ERR_OK);
    assert_true(u256_is_zero(r));
    assert_int_equal(u256_divmod(max, dec("1000000000000000000"), &q, &m), ERR_OK);
    assert_dec(q, "115792089237316195423570985008687907853269984665640564039457");
    assert_dec(m, "584007913129639935");
    assert_int_equal(u256_divmod(max, u256_from_u64(0), &q, &m), ERR_RANGE);
    assert_int_equal(u256_divmod(u256_from_u64(5), u256_from_u64(7), &q, NULL), ERR_OK);
    assert_dec(q, "0");
    assert_int_equal(u256_cmp(max, u256_from_u64(1)), 1);
    assert_int_equal(u256_cmp(u256_from_u64(1), max), -1);
    assert_int_equal(u256_cmp(max, max), 0);
    uint64_t x;
    assert_int_equal(u256_to_u64(dec("18446744073709551615"), &x), ERR_OK);
    assert_true(x == UINT64_MAX);
    assert_int_equal(u256_to_u64(dec("18446744073709551616"), &x), ERR_RANGE);
    assert_int_equal(u256_pow10(78, &r), ERR_RANGE);
    assert_int_equal(u256_pow10(77, &r), ERR_OK);
}

static void test_bytes(void **state)
{
    (void)state;
    uint8_t w[32], in[33] = {0};
    struct u256 v;
    in[31] = 0x01;
    in[32] = 0x02;
    assert_int_equal(u256_from_be(in, 33, &v), ERR_OK);
    assert_dec(v, "258");
    assert_int_equal(u256_byte_len(v), 2);
    assert_int_equal(u256_byte_len(u256_from_u64(0)), 0);
    u256_to_be(v, w);
    assert_int_equal(w[30], 1);
    assert_int_equal(w[31], 2);
    in[0] = 1;
    assert_int_equal(u256_from_be(in, 33, &v), ERR_RANGE);
    assert_int_equal(u256_from_be(in, 0, &v), ERR_OK);
    assert_true(u256_is_zero(v));
}

static void test_units(void **state)
{
    (void)state;
    struct u256 v;
    char s[U256_UNITS_MAX];
    assert_int_equal(u256_parse_units("0.0125", 18, &v), ERR_OK);
    assert_dec(v, "12500000000000000");
    assert_int_equal(u256_format_ether(v, s, sizeof(s)), ERR_OK);
    assert_string_equal(s, "0.0125 ETH");
    assert_int_equal(u256_format_ether(u256_from_u64(0), s, sizeof(s)), ERR_OK);
    assert_string_equal(s, "0 ETH");
    assert_int_equal(u256_format_ether(u256_from_u64(1), s, sizeof(s)), ERR_OK);
    assert_string_equal(s, "0.000000000000000001 ETH");
    assert_int_equal(u256_format_ether(dec("1234000000000000000000"), s, sizeof(s)), ERR_OK);
    assert_string_equal(s, "1234 ETH");
    assert_int_equal(u256_format_gwei(dec("1500000000"), s, sizeof(s)), ERR_OK);
    assert_string_equal(s, "1.5 gwei");
    assert_int_equal(u256_format_units(dec("1500000000"), 9, NULL, s, sizeof(s)), ERR_OK);
    assert_string_equal(s, "1.5");
    assert_int_equal(u256_format_ether(v, s, 10), ERR_TOOBIG);
    assert_int_equal(u256_format_ether(v, s, 11), ERR_OK);
    assert_int_equal(u256_format_units(v, 78, NULL, s, sizeof(s)), ERR_INVAL);
    assert_int_equal(u256_parse_units("1.", 18, &v), ERR_OK);
    assert_dec(v, "1000000000000000000");
    assert_int_equal(u256_parse_units(".5", 1, &v), ERR_OK);
    assert_dec(v, "5");
    assert_int_equal(u256_parse_units("0.0000000000000000001", 18, &v), ERR_INVAL);
    assert_int_equal(u256_parse_units("1.2.3", 18, &v), ERR_INVAL);
    assert_int_equal(u256_parse_units(".", 18, &v), ERR_INVAL);
    assert_int_equal(u256_parse_units("", 18, &v), ERR_INVAL);
    assert_int_equal(u256_parse_units("1", 78, &v), ERR_INVAL);
    assert_int_equal(
        u256_parse_units("1000000000000000000000000000000000000000000000000000000000000", 18, &v),
        ERR_RANGE);
    assert_int_equal(u256_gwei_to_wei(u256_from_u64(20), &v), ERR_OK);
    assert_dec(v, "20000000000");
    assert_int_equal(u256_ether_to_wei(u256_from_u64(3), &v), ERR_OK);
    assert_dec(v, "3000000000000000000");
    assert_int_equal(u256_ether_to_wei(dec(MAX_DEC), &v), ERR_RANGE);
}

/* wei = ceil(usd_cents * 10^24 / answer) for an 8-decimal ETH/USD answer. */
static void test_usd_to_wei(void **state)
{
    (void)state;
    struct u256 wei;
    /* $25.00 at $2000.00000000/ETH = 0.0125 ETH exactly. */
    assert_int_equal(u256_usd_cents_to_wei(2500, u256_from_u64(200000000000ULL), 8, &wei), ERR_OK);
    assert_dec(wei, "12500000000000000");
    /* $1.00 at $3000/ETH = 333333333333333.33.. wei, rounded up. */
    assert_int_equal(u256_usd_cents_to_wei(100, u256_from_u64(300000000000ULL), 8, &wei), ERR_OK);
    assert_dec(wei, "333333333333334");
    /* 1 cent at $1234.56789012 = 10^24 / 123456789012 = 8100000072922.68 -> ...923. */
    assert_int_equal(u256_usd_cents_to_wei(1, u256_from_u64(123456789012ULL), 8, &wei), ERR_OK);
    assert_dec(wei, "8100000072923");
    assert_int_equal(u256_usd_cents_to_wei(0, u256_from_u64(1), 8, &wei), ERR_OK);
    assert_dec(wei, "0");
    assert_int_equal(u256_usd_cents_to_wei(100, u256_from_u64(0), 8, &wei), ERR_INVAL);
    assert_int_equal(u256_usd_cents_to_wei(100, u256_from_u64(1), 1, &wei), ERR_INVAL);
    assert_int_equal(u256_usd_cents_to_wei(100, u256_from_u64(1), 37, &wei), ERR_INVAL);
    /* the largest inputs stay below 2^256: (2^64-1) * 10^52 */
    assert_int_equal(u256_usd_cents_to_wei(UINT64_MAX, u256_from_u64(1), 36, &wei), ERR_OK);
    assert_dec(wei, "184467440737095516150000000000000000000000000000000000000000000000000000");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_print), cmocka_unit_test(test_arith),
        cmocka_unit_test(test_bytes),       cmocka_unit_test(test_units),
        cmocka_unit_test(test_usd_to_wei),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
