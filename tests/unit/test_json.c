/* Unit tests for common/json. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "dec.h"
#include "json.h"

#define U256_MAX_DEC                                                                               \
    "115792089237316195423570985008687907853269984665640564039457584007913129639935"

/* Parse <text> with generous caps; the test fails if it does not parse. */
static cJSON *parse_ok(const char *text)
{
    cJSON *v = NULL;
    struct json_err e;
    json_err_init(&e);
    assert_int_equal(json_parse(text, strlen(text), 1 << 20, 16, &v, &e), ERR_OK);
    assert_int_equal(e.code, ERR_OK);
    return v;
}

/* Parse <text> and expect <code> with <path> and a message starting <msg>. */
static void parse_fails(const char *text, size_t max_bytes, unsigned depth, enum err code,
                        const char *path, const char *msg)
{
    cJSON *v = NULL;
    struct json_err e;
    json_err_init(&e);
    assert_int_equal(json_parse(text, strlen(text), max_bytes, depth, &v, &e), code);
    assert_null(v);
    assert_int_equal(e.code, code);
    assert_string_equal(e.path, path);
    assert_string_equal(e.message, msg);
}

static void test_parse_limits(void **state)
{
    (void)state;
    cJSON *v = parse_ok(" {\"a\":[1,{\"b\":\"]}[{\"}]} \n");
    json_free(v);
    parse_fails("{\"a\":1}", 6, 16, ERR_TOOBIG, "", "document of 7 bytes is over the 6-byte cap");
    parse_fails("", 10, 16, ERR_INVAL, "", "empty document");
    parse_fails("[[[1]]]", 100, 2, ERR_TOOBIG, "", "nesting deeper than 2 levels at byte 2");
    /* Brackets inside strings, even after an escaped quote, do not nest. */
    v = NULL;
    struct json_err e;
    json_err_init(&e);
    const char *s = "[\"\\\"[[[[\"]";
    assert_int_equal(json_parse(s, strlen(s), 100, 1, &v, &e), ERR_OK);
    json_free(v);
    parse_fails("{\"a\":1} x", 100, 16, ERR_INVAL, "",
                "trailing bytes after the JSON value at byte 8");
    parse_fails("{\"a\":1}{}", 100, 16, ERR_INVAL, "",
                "trailing bytes after the JSON value at byte 7");
    parse_fails("{\"a\":tru}", 100, 16, ERR_INVAL, "", "malformed JSON at byte 5");
    parse_fails("{\"a\":{\"b\":1,\"c\":2,\"b\":3}}", 100, 16, ERR_INVAL, "a.b", "duplicate key");
    parse_fails("{\"x\":[{},{\"k\":1,\"k\":1}]}", 100, 16, ERR_INVAL, "x[1].k", "duplicate key");
    /* Not NUL-terminated: only len bytes are read. */
    char raw[8] = {'[', '1', ']', 'g', 'a', 'r', 'b', '!'};
    json_err_init(&e);
    assert_int_equal(json_parse(raw, 3, 100, 4, &v, &e), ERR_OK);
    assert_int_equal(cJSON_GetArraySize(v), 1);
    json_free(v);
}

static void test_path_stack(void **state)
{
    (void)state;
    struct json_err e;
    json_err_init(&e);
    size_t m0 = json_path_push(&e, "args");
    size_t m1 = json_path_push(&e, "events");
    size_t m2 = json_path_push_index(&e, 2);
    assert_string_equal(e.path, "args.events[2]");
    json_path_pop(&e, m2);
    json_path_pop(&e, m1);
    assert_string_equal(e.path, "args");
    (void)json_path_push_index(&e, 7);
    assert_int_equal(json_fail(&e, "size", ERR_RANGE, "must be %d", 3), ERR_RANGE);
    assert_string_equal(e.path, "args[7].size");
    assert_string_equal(e.message, "must be 3");
    /* The first failure wins; the path is frozen. */
    assert_int_equal(json_fail(&e, "other", ERR_INVAL, "later"), ERR_INVAL);
    json_path_pop(&e, m0);
    assert_string_equal(e.path, "args[7].size");
    assert_int_equal(e.code, ERR_RANGE);
    assert_int_equal(json_fail(NULL, "x", ERR_INVAL, "no sink"), ERR_INVAL);
    /* Over-long paths are cut with "..." and never overflow. */
    json_err_init(&e);
    for (int i = 0; i < 40; i++)
        (void)json_path_push(&e, "abcdefgh");
    assert_int_equal(strlen(e.path), JSON_PATH_MAX - 1);
    assert_string_equal(e.path + JSON_PATH_MAX - 4, "...");
}

/* Read member "x" of <text> with each reader; return the error. */
struct rd {
    struct json_err e;
    cJSON *v;
};

static void rd_init(struct rd *r, const char *text)
{
    json_err_init(&r->e);
    r->v = parse_ok(text);
}

static void rd_done(struct rd *r, enum err code, const char *path, const char *msg)
{
    assert_int_equal(r->e.code, code);
    assert_string_equal(r->e.path, path);
    assert_string_equal(r->e.message, msg);
    json_free(r->v);
}

static void test_get_str(void **state)
{
    (void)state;
    struct rd r;
    char *s = NULL;
    rd_init(&r, "{\"x\":\"h\\u00e9llo\"}");
    assert_int_equal(json_get_str(r.v, "x", JSON_REQUIRED, 1, 6, &s, &r.e), ERR_OK);
    assert_string_equal(s, "h\xc3\xa9llo");
    free(s);
    s = NULL;
    assert_int_equal(json_get_str(r.v, "x", JSON_REQUIRED, 1, 5, &s, &r.e), ERR_TOOBIG);
    assert_null(s);
    rd_done(&r, ERR_TOOBIG, "x", "longer than 5 bytes");

    rd_init(&r, "{\"x\":\"ab\"}");
    assert_int_equal(json_get_str(r.v, "x", JSON_REQUIRED, 3, 6, &s, &r.e), ERR_INVAL);
    rd_done(&r, ERR_INVAL, "x", "shorter than 3 bytes");

    rd_init(&r, "{\"x\":5}");
    assert_int_equal(json_get_str(r.v, "x", JSON_REQUIRED, 0, 6, &s, &r.e), ERR_INVAL);
    rd_done(&r, ERR_INVAL, "x", "must be a string");

    rd_init(&r, "{\"y\":\"a\",\"z\":null}");
    assert_int_equal(json_get_str(r.v, "x", JSON_OPTIONAL, 0, 6, &s, &r.e), ERR_OK);
    assert_int_equal(json_get_str(r.v, "z", JSON_OPTIONAL, 0, 6, &s, &r.e), ERR_OK);
    assert_null(s);
    assert_false(json_has(r.v, "z"));
    assert_true(json_has(r.v, "y"));
    assert_int_equal(json_get_str(r.v, "z", JSON_REQUIRED, 0, 6, &s, &r.e), ERR_INVAL);
    rd_done(&r, ERR_INVAL, "z", "required");

    /* cJSON passes raw bytes through; an overlong sequence is refused here. */
    rd_init(&r, "{\"x\":\"\xc0\xaf\"}");
    assert_int_equal(json_get_str(r.v, "x", JSON_REQUIRED, 0, 6, &s, &r.e), ERR_INVAL);
    rd_done(&r, ERR_INVAL, "x", "not valid UTF-8");
}

static void test_get_int(void **state)
{
    (void)state;
    struct rd r;
    int64_t i = -1;
    rd_init(&r, "{\"a\":9007199254740991,\"b\":-9007199254740991,\"c\":1e3,\"d\":4.5,"
                "\"e\":9007199254740992,\"f\":\"7\",\"g\":1e400,\"h\":101}");
    assert_int_equal(json_get_int(r.v, "a", JSON_REQUIRED, 0, JSON_INT_MAX, &i, &r.e), ERR_OK);
    assert_true(i == JSON_INT_MAX);
    assert_int_equal(json_get_int(r.v, "b", JSON_REQUIRED, -JSON_INT_MAX, 0, &i, &r.e), ERR_OK);
    assert_true(i == -JSON_INT_MAX);
    assert_int_equal(json_get_int(r.v, "c", JSON_REQUIRED, 0, 5000, &i, &r.e), ERR_OK);
    assert_int_equal(i, 1000);
    assert_int_equal(json_get_int(r.v, "nope", JSON_OPTIONAL, 0, 5, &i, &r.e), ERR_OK);
    assert_int_equal(i, 1000); /* untouched */
    assert_int_equal(json_get_int(r.v, "d", JSON_REQUIRED, 0, 10, &i, &r.e), ERR_INVAL);
    assert_string_equal(r.e.message, "must be an integer");
    json_err_init(&r.e);
    assert_int_equal(json_get_int(r.v, "e", JSON_REQUIRED, 0, JSON_INT_MAX, &i, &r.e), ERR_INVAL);
    assert_string_equal(r.e.message, "must be an integer of magnitude at most 2^53-1");
    json_err_init(&r.e);
    assert_int_equal(json_get_int(r.v, "f", JSON_REQUIRED, 0, 10, &i, &r.e), ERR_INVAL);
    assert_string_equal(r.e.message, "must be an integer");
    json_err_init(&r.e);
    assert_int_equal(json_get_int(r.v, "g", JSON_REQUIRED, 0, 10, &i, &r.e), ERR_INVAL);
    json_err_init(&r.e);
    assert_int_equal(json_get_int(r.v, "h", JSON_REQUIRED, 0, 100, &i, &r.e), ERR_RANGE);
    assert_int_equal(i, 1000);
    rd_done(&r, ERR_RANGE, "h", "must be between 0 and 100");
}

static void test_get_bool_object_array(void **state)
{
    (void)state;
    struct rd r;
    bool b = false;
    const cJSON *o = NULL;
    size_t n = 0;
    rd_init(&r, "{\"t\":true,\"f\":0,\"o\":{\"k\":1},\"a\":[1,2,3]}");
    assert_int_equal(json_get_bool(r.v, "t", JSON_REQUIRED, &b, &r.e), ERR_OK);
    assert_true(b);
    assert_int_equal(json_get_object(r.v, "o", JSON_REQUIRED, &o, &r.e), ERR_OK);
    assert_true(json_has(o, "k"));
    assert_int_equal(json_get_array(r.v, "a", JSON_REQUIRED, 3, &o, &n, &r.e), ERR_OK);
    assert_int_equal(n, 3);
    assert_int_equal(json_get_array(r.v, "a", JSON_REQUIRED, 2, &o, &n, &r.e), ERR_TOOBIG);
    assert_string_equal(r.e.message, "more than 2 items");
    json_err_init(&r.e);
    assert_int_equal(json_get_array(r.v, "o", JSON_REQUIRED, 2, &o, &n, &r.e), ERR_INVAL);
    assert_string_equal(r.e.message, "must be an array");
    json_err_init(&r.e);
    assert_int_equal(json_get_object(r.v, "a", JSON_REQUIRED, &o, &r.e), ERR_INVAL);
    assert_string_equal(r.e.message, "must be an object");
    json_err_init(&r.e);
    assert_int_equal(json_expect_object(NULL, "m", &r.e), ERR_INVAL);
    assert_string_equal(r.e.message, "required");
    json_err_init(&r.e);
    assert_int_equal(json_get_bool(r.v, "f", JSON_REQUIRED, &b, &r.e), ERR_INVAL);
    rd_done(&r, ERR_INVAL, "f", "must be true or false");
}

static void test_get_enum(void **state)
{
    (void)state;
    static const char *const names[] = {"IA", "GRAFICA"};
    struct rd r;
    int v = -1;
    rd_init(&r, "{\"a\":\"GRAFICA\",\"b\":\"ia\"}");
    assert_int_equal(json_get_enum(r.v, "a", JSON_REQUIRED, names, 2, &v, &r.e), ERR_OK);
    assert_int_equal(v, 1);
    assert_int_equal(json_get_enum(r.v, "b", JSON_REQUIRED, names, 2, &v, &r.e), ERR_INVAL);
    assert_int_equal(v, 1);
    rd_done(&r, ERR_INVAL, "b", "\"ia\" is not one of IA, GRAFICA");
}

static void test_get_hex(void **state)
{
    (void)state;
    struct rd r;
    uint8_t a[20] = {0}, h[32] = {0}, x[2] = {0};
    rd_init(&r, "{\"a\":\"0x70997970C51812dc3A010C7d01b50e0d17dc79C8\","
                "\"h\":\"0x00000000000000000000000000000000000000000000000000000000000000ff\","
                "\"x\":\"0xABcd\",\"short\":\"0x7099\",\"pre\":\"70997970\",\"bad\":\"0xzz\","
                "\"X\":\"0XABCD\"}");
    assert_int_equal(json_get_addr(r.v, "a", JSON_REQUIRED, a, &r.e), ERR_OK);
    assert_int_equal(a[0], 0x70);
    assert_int_equal(a[19], 0xc8);
    assert_int_equal(json_get_hash(r.v, "h", JSON_REQUIRED, h, &r.e), ERR_OK);
    assert_int_equal(h[31], 0xff);
    assert_int_equal(h[0], 0);
    assert_int_equal(json_get_hex(r.v, "x", JSON_REQUIRED, x, 2, &r.e), ERR_OK);
    assert_int_equal(x[0], 0xab);
    assert_int_equal(x[1], 0xcd);
    assert_int_equal(json_get_addr(r.v, "short", JSON_REQUIRED, a, &r.e), ERR_INVAL);
    assert_string_equal(r.e.message, "must be 0x followed by 40 hex digits");
    assert_string_equal(r.e.path, "short");
    assert_int_equal(a[0], 0x70); /* untouched */
    const char *bad[] = {"pre", "bad", "X"};
    for (size_t i = 0; i < 3; i++) {
        json_err_init(&r.e);
        assert_int_equal(json_get_hex(r.v, bad[i], JSON_REQUIRED, x, 2, &r.e), ERR_INVAL);
        assert_string_equal(r.e.path, bad[i]);
    }
    rd_done(&r, ERR_INVAL, "X", "must be 0x followed by 4 hex digits");
}

static void test_u256(void **state)
{
    (void)state;
    struct rd r;
    uint8_t v[32];
    char dec[DEC_U256_MAX];
    rd_init(&r, "{\"max\":\"" U256_MAX_DEC "\",\"zero\":\"0\",\"wei\":\"1000000000000000000\","
                "\"over\":\"115792089237316195423570985008687907853269984665640564039457584007913"
                "129639936\",\"lead\":\"01\",\"neg\":\"-1\",\"num\":5,\"empty\":\"\"}");
    assert_int_equal(json_get_u256(r.v, "max", JSON_REQUIRED, v, &r.e), ERR_OK);
    for (int i = 0; i < 32; i++)
        assert_int_equal(v[i], 0xff);
    dec_u256_be(v, dec);
    assert_string_equal(dec, U256_MAX_DEC);
    assert_int_equal(json_get_u256(r.v, "zero", JSON_REQUIRED, v, &r.e), ERR_OK);
    dec_u256_be(v, dec);
    assert_string_equal(dec, "0");
    /* 10^18 = 0x0de0b6b3a7640000 */
    assert_int_equal(json_get_u256(r.v, "wei", JSON_REQUIRED, v, &r.e), ERR_OK);
    static const uint8_t eth[8] = {0x0d, 0xe0, 0xb6, 0xb3, 0xa7, 0x64, 0x00, 0x00};
    assert_memory_equal(v + 24, eth, 8);
    dec_u256_be(v, dec);
    assert_string_equal(dec, "1000000000000000000");
    assert_int_equal(json_get_u256(r.v, "over", JSON_REQUIRED, v, &r.e), ERR_RANGE);
    assert_string_equal(r.e.message, "must be below 2^256");
    const char *bad[] = {"lead", "neg", "empty"};
    for (size_t i = 0; i < 3; i++) {
        json_err_init(&r.e);
        assert_int_equal(json_get_u256(r.v, bad[i], JSON_REQUIRED, v, &r.e), ERR_INVAL);
        assert_string_equal(r.e.message,
                            "must be a decimal string of digits without leading zeros");
    }
    json_err_init(&r.e);
    assert_int_equal(json_get_u256(r.v, "num", JSON_REQUIRED, v, &r.e), ERR_INVAL);
    rd_done(&r, ERR_INVAL, "num", "must be a string");
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(json_utf8_valid("", 0));
    assert_true(json_utf8_valid("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10));
    assert_false(json_utf8_valid("\xc0\x80", 2));         /* overlong NUL */
    assert_false(json_utf8_valid("\xe0\x80\xaf", 3));     /* overlong '/' */
    assert_false(json_utf8_valid("\xed\xa0\x80", 3));     /* surrogate U+D800 */
    assert_false(json_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    assert_false(json_utf8_valid("\xe2\x82", 2));         /* truncated */
    assert_false(json_utf8_valid("\x80", 1));             /* lone continuation */
    assert_false(json_utf8_valid("a\0b", 3));             /* NUL */
}

static void test_build_and_print(void **state)
{
    (void)state;
    cJSON *o = NULL, *arr = NULL, *sub = NULL;
    struct buf b;
    uint8_t be[32] = {0};
    be[31] = 0x2a;
    buf_init(&b, 0);
    assert_int_equal(json_new_object(&o), ERR_OK);
    assert_int_equal(json_add_int(o, "max", JSON_INT_MAX), ERR_OK);
    assert_int_equal(json_add_int(o, "neg", -1000000000000000), ERR_OK);
    assert_int_equal(json_add_int(o, "big", JSON_INT_MAX + 1), ERR_RANGE);
    assert_int_equal(json_add_str(o, "s", "q\"\n"), ERR_OK);
    assert_int_equal(json_add_bool(o, "b", false), ERR_OK);
    assert_int_equal(json_add_hex(o, "h", (const uint8_t *)"\x01\xAB", 2), ERR_OK);
    assert_int_equal(json_add_u256(o, "w", be), ERR_OK);
    assert_int_equal(json_add_array(o, "a", &arr), ERR_OK);
    assert_int_equal(json_add_object(arr, NULL, &sub), ERR_OK);
    assert_int_equal(json_add_int(sub, "k", 0), ERR_OK);
    assert_int_equal(json_print(o, &b), ERR_OK);
    assert_string_equal(buf_cstr(&b),
                        "{\"max\":9007199254740991,\"neg\":-1000000000000000,\"s\":\"q\\\"\\n\","
                        "\"b\":false,\"h\":\"0x01ab\",\"w\":\"42\",\"a\":[{\"k\":0}]}");
    /* The output reads back to the same values. */
    struct json_err e;
    json_err_init(&e);
    cJSON *back = NULL;
    int64_t i = 0;
    assert_int_equal(json_parse(b.data, b.len, 1000, 4, &back, &e), ERR_OK);
    assert_int_equal(json_get_int(back, "max", JSON_REQUIRED, 0, JSON_INT_MAX, &i, &e), ERR_OK);
    assert_true(i == JSON_INT_MAX);
    json_free(back);
    struct buf small;
    buf_init(&small, 10);
    assert_int_equal(json_print(o, &small), ERR_TOOBIG);
    assert_int_equal(small.len, 0);
    buf_release(&small);
    buf_release(&b);
    json_free(o);
}

static void test_hex_decode_direct(void **state)
{
    (void)state;
    uint8_t out[2] = {9, 9};
    assert_int_equal(json_hex_decode("0x0a0B", 6, out, 2), ERR_OK);
    assert_int_equal(out[0], 10);
    assert_int_equal(out[1], 11);
    assert_int_equal(json_hex_decode("0x0a0", 5, out, 2), ERR_INVAL);
    assert_int_equal(json_hex_decode("0x0a0g", 6, out, 2), ERR_INVAL);
    assert_int_equal(out[1], 11);
    assert_int_equal(json_hex_decode("0x", 2, out, 0), ERR_OK);
    uint8_t v[32];
    assert_int_equal(json_u256_from_dec("12a", 3, v), ERR_INVAL);
    assert_int_equal(json_u256_from_dec("256", 3, v), ERR_OK);
    assert_int_equal(v[30], 1);
    assert_int_equal(v[31], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_path_stack),
        cmocka_unit_test(test_get_str),
        cmocka_unit_test(test_get_int),
        cmocka_unit_test(test_get_bool_object_array),
        cmocka_unit_test(test_get_enum),
        cmocka_unit_test(test_get_hex),
        cmocka_unit_test(test_u256),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_build_and_print),
        cmocka_unit_test(test_hex_decode_direct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
