/* Unit tests for common/eth/keccak and common/hex. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "eth/keccak.h"

static void check_hash(const void *data, size_t len, const char *want_hex)
{
    uint8_t d[32];
    char got[67];
    keccak256(data, len, d);
    hex_encode(d, 32, true, got);
    assert_string_equal(got, want_hex);
}

static void test_known_vectors(void **state)
{
    (void)state;
    check_hash("", 0, "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    check_hash("abc", 3, "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
    const char *t = "Transfer(address,address,uint256)";
    check_hash(t, strlen(t), "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");
}

/* Lengths around the 136-byte rate; expected values from `cast keccak` (Foundry 1.7.1). */
static void test_block_boundaries(void **state)
{
    (void)state;
    static const struct {
        size_t n;
        const char *hex;
    } v[] = {
        {135, "0x34367dc248bbd832f4e3e69dfaac2f92638bd0bbd18f2912ba4ef454919cf446"},
        {136, "0xa6c4d403279fe3e0af03729caada8374b5ca54d8065329a3ebcaeb4b60aa386e"},
        {137, "0xd869f639c7046b4929fc92a4d988a8b22c55fbadb802c0c66ebcd484f1915f39"},
        {272, "0xcf7fcd4f705ee749930d19ca84561a9bf62516bd90a471545fa2f49fdc7e63c8"},
    };
    uint8_t a[272];
    memset(a, 'a', sizeof(a));
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        check_hash(a, v[i].n, v[i].hex);
}

static void test_incremental_matches_one_shot(void **state)
{
    (void)state;
    uint8_t data[1000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 31 + 7);
    uint8_t want[32], got[32];
    keccak256(data, sizeof(data), want);
    for (size_t step = 1; step < 300; step += 17) {
        struct keccak_ctx c;
        keccak_init(&c);
        keccak_update(&c, NULL, 0);
        for (size_t off = 0; off < sizeof(data); off += step) {
            size_t n = sizeof(data) - off < step ? sizeof(data) - off : step;
            keccak_update(&c, data + off, n);
        }
        keccak_digest(&c, got);
        assert_memory_equal(got, want, 32);
    }
}

static void test_hex(void **state)
{
    (void)state;
    uint8_t out[8];
    size_t n = 0;
    char s[32];
    assert_int_equal(hex_decode("0xDeadBEEF", 10, out, sizeof(out), &n), ERR_OK);
    assert_int_equal(n, 4);
    hex_encode(out, n, false, s);
    assert_string_equal(s, "deadbeef");
    hex_encode(out, 0, true, s);
    assert_string_equal(s, "0x");
    assert_int_equal(hex_decode("abc", 3, out, sizeof(out), &n), ERR_INVAL);
    assert_int_equal(hex_decode("0xzz", 4, out, sizeof(out), &n), ERR_INVAL);
    assert_int_equal(hex_decode("001122334455667788", 18, out, sizeof(out), &n), ERR_TOOBIG);
    assert_int_equal(hex_decode("0x", 2, out, sizeof(out), &n), ERR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(hex_decode_exact("0x0102", out, 2), ERR_OK);
    assert_int_equal(out[1], 2);
    assert_int_equal(hex_decode_exact("0x010203", out, 2), ERR_INVAL);
    assert_int_equal(hex_decode_exact("01", out, 2), ERR_INVAL);
    assert_int_equal(hex_digit('F'), 15);
    assert_int_equal(hex_digit('g'), -1);

    struct buf b;
    buf_init(&b, 4);
    assert_int_equal(hex_decode_buf("0x0a0b", &b), ERR_OK);
    assert_int_equal(b.len, 2);
    assert_int_equal(hex_decode_buf("0a0", &b), ERR_INVAL);
    assert_int_equal(hex_decode_buf("0x0g", &b), ERR_INVAL);
    assert_int_equal(b.len, 2);
    assert_int_equal(hex_decode_buf("010203", &b), ERR_TOOBIG);
    buf_reset(&b);
    assert_int_equal(hex_append(&b, "\x01", 1, true), ERR_OK);
    assert_string_equal(buf_cstr(&b), "0x01");
    assert_int_equal(hex_append(&b, "\x01", 1, false), ERR_TOOBIG);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_block_boundaries),
        cmocka_unit_test(test_incremental_matches_one_shot),
        cmocka_unit_test(test_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
