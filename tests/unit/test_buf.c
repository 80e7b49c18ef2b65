/* Unit tests for common/buf. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static void test_append_and_cstr(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(b.max_bytes, BUF_DEFAULT_MAX);
    assert_string_equal(buf_cstr(&b), "");
    assert_int_equal(buf_append(&b, "abc", 3), ERR_OK);
    assert_int_equal(buf_append_str(&b, "def"), ERR_OK);
    assert_int_equal(buf_append_byte(&b, '!'), ERR_OK);
    assert_int_equal(b.len, 7);
    assert_string_equal(buf_cstr(&b), "abcdef!");
    assert_int_equal(buf_appendf(&b, "%d-%s", 42, "x"), ERR_OK);
    assert_string_equal(buf_cstr(&b), "abcdef!42-x");
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(buf_cstr(&b), "");
    buf_release(&b);
    buf_release(NULL);
}

static void test_cap_is_hard(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(buf_append(&b, "12345678", 8), ERR_OK);
    assert_int_equal(buf_append(&b, "9", 1), ERR_TOOBIG);
    assert_int_equal(b.len, 8); /* unchanged on failure */
    assert_string_equal(buf_cstr(&b), "12345678");
    assert_int_equal(buf_appendf(&b, "%s", "x"), ERR_TOOBIG);
    assert_int_equal(b.len, 8);
    assert_true(b.cap <= 9);
    buf_reset(&b);
    assert_int_equal(buf_append(&b, "123456789", 9), ERR_TOOBIG);
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_reserve(&b, SIZE_MAX), ERR_TOOBIG);
    buf_release(&b);
}

static void test_growth_large(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(buf_append(&b, "0123456789", 10), ERR_OK);
    assert_int_equal(b.len, 1000000);
    assert_memory_equal(b.data + 999990, "0123456789", 10);
    assert_int_equal(b.data[b.len], '\0');
    buf_release(&b);
}

static void test_consume_and_detach(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 64);
    assert_int_equal(buf_append_str(&b, "hello world"), ERR_OK);
    buf_consume(&b, 6);
    assert_string_equal(buf_cstr(&b), "world");
    size_t n = 0;
    char *s = buf_detach(&b, &n);
    assert_string_equal(s, "world");
    assert_int_equal(n, 5);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(s);
    s = buf_detach(&b, &n); /* empty buffer detaches as "" */
    assert_string_equal(s, "");
    assert_int_equal(n, 0);
    free(s);
    assert_int_equal(buf_append_str(&b, "abc"), ERR_OK);
    buf_consume(&b, 99);
    assert_int_equal(b.len, 0);
    buf_release(&b);
}

static void test_binary_data(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 16);
    const unsigned char bin[4] = {0, 1, 0, 255};
    assert_int_equal(buf_append(&b, bin, 4), ERR_OK);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, bin, 4);
    assert_int_equal(buf_append(&b, NULL, 0), ERR_OK);
    assert_int_equal(b.len, 4);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_cstr), cmocka_unit_test(test_cap_is_hard),
        cmocka_unit_test(test_growth_large),    cmocka_unit_test(test_consume_and_detach),
        cmocka_unit_test(test_binary_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
