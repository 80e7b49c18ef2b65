/* Unit tests for common/hex (digit checks, strict digit decoding, chunked
 * append). SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hex.h"

/* Every byte value: hex_digit, hex_is_digits and hex_decode_digits agree
 * with the definition (0-9, a-f, A-F; nothing else, NUL and bytes over
 * 0x7f included). */
static void test_every_byte(void **state)
{
    (void)state;
    const char *set = "0123456789abcdef";
    for (int c = -1; c <= 256; c++) {
        int want = -1;
        for (int v = 0; v < 16; v++)
            if (c == set[v] || (v >= 10 && c == set[v] - 'a' + 'A'))
                want = v;
        assert_int_equal(hex_digit(c), want);
        if (c < 0 || c > 255)
            continue;
        char two[2] = {(char)c, '7'};
        uint8_t out = 0xee;
        assert_int_equal(hex_is_digits(two, 2), want >= 0);
        assert_int_equal(hex_decode_digits(two, 1, &out), want >= 0 ? ERR_OK : ERR_INVAL);
        assert_int_equal(out, want >= 0 ? want << 4 | 7 : 0xee);
    }
}

static void test_is_digits(void **state)
{
    (void)state;
    assert_true(hex_is_digits("", 0));
    assert_true(hex_is_digits("0123456789abcdefABCDEF", 22));
    assert_false(hex_is_digits("0x12", 4)); /* no prefix is skipped */
    assert_false(hex_is_digits("12g4", 4));
    assert_false(hex_is_digits("12 4", 4));
    const char high[] = {(char)0xff, '1'};
    assert_false(hex_is_digits(high, 2));
    /* Only <len> characters are read: a bad one past it does not count. */
    assert_true(hex_is_digits("abZ", 2));
}

static void test_decode_digits(void **state)
{
    (void)state;
    uint8_t out[4] = {0};
    assert_int_equal(hex_decode_digits("deadBEEF", 4, out), ERR_OK);
    assert_int_equal(out[0], 0xde);
    assert_int_equal(out[1], 0xad);
    assert_int_equal(out[2], 0xbe);
    assert_int_equal(out[3], 0xef);

    /* Not NUL-terminated: exactly 2n characters are read. */
    const char text[] = {'0', '1', 'f', 'F', 'z'};
    uint8_t two[2] = {0};
    assert_int_equal(hex_decode_digits(text, 2, two), ERR_OK);
    assert_int_equal(two[0], 0x01);
    assert_int_equal(two[1], 0xff);

    /* n == 0 decodes nothing and succeeds. */
    assert_int_equal(hex_decode_digits("zz", 0, out), ERR_OK);
    assert_int_equal(out[0], 0xde);
}

static void test_decode_digits_errors_leave_out(void **state)
{
    (void)state;
    uint8_t out[3] = {0xaa, 0xbb, 0xcc};
    /* The bad digit is the last one: nothing may have been written. */
    assert_int_equal(hex_decode_digits("01020g", 3, out), ERR_INVAL);
    assert_int_equal(out[0], 0xaa);
    assert_int_equal(out[1], 0xbb);
    assert_int_equal(out[2], 0xcc);
    assert_int_equal(hex_decode_digits("0x0102", 3, out), ERR_INVAL);
    assert_int_equal(out[0], 0xaa);
}

static void test_decode_unchanged_len_on_error(void **state)
{
    (void)state;
    uint8_t out[4];
    size_t n = 77;
    assert_int_equal(hex_decode("0xABcd", 6, out, sizeof out, &n), ERR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 0xab);
    assert_int_equal(out[1], 0xcd);
    n = 77;
    assert_int_equal(hex_decode("0xab0z", 6, out, sizeof out, &n), ERR_INVAL);
    assert_int_equal(n, 77);
    assert_int_equal(hex_decode("0xabc", 5, out, sizeof out, &n), ERR_INVAL);
    assert_int_equal(hex_decode("0x0102030405", 12, out, sizeof out, &n), ERR_TOOBIG);
    assert_int_equal(n, 77);
}

static void test_append_chunks(void **state)
{
    (void)state;
    /* 200 bytes cross the 64-byte chunk boundary three times. */
    uint8_t data[200];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    char want[2 + 2 * sizeof data + 1];
    hex_encode(data, sizeof data, true, want);
    assert_int_equal(strlen(want), 402);
    assert_memory_equal(want, "0x030a11", 8);

    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_append_str(&b, "k="), ERR_OK);
    assert_int_equal(hex_append(&b, data, sizeof data, true), ERR_OK);
    assert_int_equal(b.len, 2 + 402);
    assert_string_equal(buf_cstr(&b) + 2, want);
    buf_reset(&b);
    assert_int_equal(hex_append(&b, data, 64, false), ERR_OK);
    assert_int_equal(b.len, 128);
    assert_memory_equal(buf_cstr(&b), want + 2, 128);
    buf_reset(&b);
    assert_int_equal(hex_append(&b, NULL, 0, true), ERR_OK);
    assert_string_equal(buf_cstr(&b), "0x");
    buf_release(&b);
}

static void test_append_errors_leave_buf(void **state)
{
    (void)state;
    uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct buf b;
    buf_init(&b, 17); /* "ab" + "0x" + 16 digits is 20: over the cap */
    assert_int_equal(buf_append_str(&b, "ab"), ERR_OK);
    assert_int_equal(hex_append(&b, data, sizeof data, true), ERR_TOOBIG);
    assert_int_equal(b.len, 2);
    assert_string_equal(buf_cstr(&b), "ab");
    /* Without the prefix it is 18 in all: still over. */
    assert_int_equal(hex_append(&b, data, sizeof data, false), ERR_TOOBIG);
    assert_int_equal(b.len, 2);
    assert_int_equal(hex_append(&b, data, SIZE_MAX / 2, false), ERR_TOOBIG);
    assert_int_equal(b.len, 2);
    assert_int_equal(hex_append(&b, data, 7, false), ERR_OK);
    assert_string_equal(buf_cstr(&b), "ab01020304050607");
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_byte),
        cmocka_unit_test(test_is_digits),
        cmocka_unit_test(test_decode_digits),
        cmocka_unit_test(test_decode_digits_errors_leave_out),
        cmocka_unit_test(test_decode_unchanged_len_on_error),
        cmocka_unit_test(test_append_chunks),
        cmocka_unit_test(test_append_errors_leave_buf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
