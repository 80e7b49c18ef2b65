/* Unit tests for common/eth/abi. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "eth/abi.h"
#include "hex.h"
#include "eth/keccak.h"

/* Build expected bytes from words: "n:<hex>" right-aligned number,
 * "b:<hex>" left-aligned bytes; a NULL ends the list. */
static void words(struct buf *out, const char *selector, const char *const *w)
{
    buf_reset(out);
    if (selector)
        assert_int_equal(hex_decode_buf(selector, out), ERR_OK);
    for (; *w; w++) {
        uint8_t word[32] = {0}, tmp[32];
        size_t n = 0;
        const char *h = *w + 2;
        assert_int_equal(hex_decode(h, strlen(h), tmp, 32, &n), ERR_OK);
        if ((*w)[0] == 'n')
            memcpy(word + 32 - n, tmp, n);
        else
            memcpy(word, tmp, n);
        assert_int_equal(buf_append(out, word, 32), ERR_OK);
    }
}

static struct abi_type *parse(const char *s)
{
    struct abi_type *t = NULL;
    assert_int_equal(abi_type_parse(s, &t), ERR_OK);
    return t;
}

static void assert_same(const struct buf *a, const struct buf *b)
{
    assert_int_equal(a->len, b->len);
    assert_memory_equal(a->data, b->data, a->len);
}

/* Decode <enc> as <t> and check that it re-encodes to the same bytes. */
static void roundtrip(const struct abi_type *t, const struct buf *enc)
{
    struct abi_value v;
    struct buf again;
    buf_init(&again, 0);
    assert_int_equal(abi_decode(t, (const uint8_t *)enc->data, enc->len, &v), ERR_OK);
    assert_int_equal(abi_encode(t, &v, &again), ERR_OK);
    assert_same(&again, enc);
    abi_value_release(&v);
    buf_release(&again);
}

static void set_bytes(struct abi_value *v, const char *s)
{
    assert_int_equal(abi_value_bytes(v, s, strlen(s)), ERR_OK);
}

/* Solidity docs, "Contract ABI Specification", section "Examples". */
static void test_spec_examples(void **state)
{
    (void)state;
    struct buf got, want;
    struct abi_value a = {0};
    struct abi_type *t;
    buf_init(&got, 0);
    buf_init(&want, 0);

    /* baz(69, true) */
    assert_int_equal(abi_value_items(&a, 2), ERR_OK);
    abi_value_uint(&a.items[0], u256_from_u64(69));
    abi_value_bool(&a.items[1], true);
    assert_int_equal(abi_encode_call("baz(uint32 x, bool y)", &a, &got), ERR_OK);
    words(&want, "cdcd77c0", (const char *const[]){"n:45", "n:01", NULL});
    assert_same(&got, &want);
    abi_value_release(&a);

    /* bar(["abc", "def"]) */
    assert_int_equal(abi_value_items(&a, 1), ERR_OK);
    assert_int_equal(abi_value_items(&a.items[0], 2), ERR_OK);
    assert_int_equal(abi_value_fixed_bytes(&a.items[0].items[0], "abc", 3), ERR_OK);
    assert_int_equal(abi_value_fixed_bytes(&a.items[0].items[1], "def", 3), ERR_OK);
    buf_reset(&got);
    assert_int_equal(abi_encode_call("bar(bytes3[2])", &a, &got), ERR_OK);
    words(&want, "fce353f6", (const char *const[]){"b:616263", "b:646566", NULL});
    assert_same(&got, &want);
    abi_value_release(&a);

    /* sam("dave", true, [1, 2, 3]) */
    assert_int_equal(abi_value_items(&a, 3), ERR_OK);
    set_bytes(&a.items[0], "dave");
    abi_value_bool(&a.items[1], true);
    assert_int_equal(abi_value_items(&a.items[2], 3), ERR_OK);
    for (int i = 0; i < 3; i++)
        abi_value_uint(&a.items[2].items[i], u256_from_u64((uint64_t)i + 1));
    buf_reset(&got);
    assert_int_equal(abi_encode_call("sam(bytes,bool,uint256[])", &a, &got), ERR_OK);
    words(&want, "a5643bf2",
          (const char *const[]){"n:60", "n:01", "n:a0", "n:04", "b:64617665", "n:03", "n:01",
                                "n:02", "n:03", NULL});
    assert_same(&got, &want);
    t = parse("(bytes,bool,uint256[])");
    buf_consume(&got, 4);
    roundtrip(t, &got);
    abi_type_free(t);
    abi_value_release(&a);

    /* f(0x123, [0x456, 0x789], "1234567890", "Hello, world!") */
    assert_int_equal(abi_value_items(&a, 4), ERR_OK);
    abi_value_uint(&a.items[0], u256_from_u64(0x123));
    assert_int_equal(abi_value_items(&a.items[1], 2), ERR_OK);
    abi_value_uint(&a.items[1].items[0], u256_from_u64(0x456));
    abi_value_uint(&a.items[1].items[1], u256_from_u64(0x789));
    assert_int_equal(abi_value_fixed_bytes(&a.items[2], "1234567890", 10), ERR_OK);
    set_bytes(&a.items[3], "Hello, world!");
    buf_reset(&got);
    assert_int_equal(abi_encode_call("f(uint256,uint32[],bytes10,bytes)", &a, &got), ERR_OK);
    words(&want, "8be65246",
          (const char *const[]){"n:0123", "n:80", "b:31323334353637383930", "n:e0", "n:02",
                                "n:0456", "n:0789", "n:0d", "b:48656c6c6f2c20776f726c6421", NULL});
    assert_same(&got, &want);
    t = parse("(uint256,uint32[],bytes10,bytes)");
    buf_consume(&got, 4);
    roundtrip(t, &got);
    abi_type_free(t);
    abi_value_release(&a);

    /* g([[1, 2], [3]], ["one", "two", "three"]) */
    assert_int_equal(abi_value_items(&a, 2), ERR_OK);
    assert_int_equal(abi_value_items(&a.items[0], 2), ERR_OK);
    assert_int_equal(abi_value_items(&a.items[0].items[0], 2), ERR_OK);
    assert_int_equal(abi_value_items(&a.items[0].items[1], 1), ERR_OK);
    abi_value_uint(&a.items[0].items[0].items[0], u256_from_u64(1));
    abi_value_uint(&a.items[0].items[0].items[1], u256_from_u64(2));
    abi_value_uint(&a.items[0].items[1].items[0], u256_from_u64(3));
    assert_int_equal(abi_value_items(&a.items[1], 3), ERR_OK);
    set_bytes(&a.items[1].items[0], "one");
    set_bytes(&a.items[1].items[1], "two");
    set_bytes(&a.items[1].items[2], "three");
    buf_reset(&got);
    assert_int_equal(abi_encode_call("g(uint256[][],string[])", &a, &got), ERR_OK);
    words(&want, "2289b18c",
          (const char *const[]){"n:40", "n:0140",       "n:02", "n:40",     "n:a0", "n:02",
                                "n:01", "n:02",         "n:01", "n:03",     "n:03", "n:60",
                                "n:a0", "n:e0",         "n:03", "b:6f6e65", "n:03", "b:74776f",
                                "n:05", "b:7468726565", NULL});
    assert_same(&got, &want);
    t = parse("(uint256[][],string[])");
    buf_consume(&got, 4);
    roundtrip(t, &got);
    struct abi_value d;
    assert_int_equal(abi_decode(t, (const uint8_t *)got.data, got.len, &d), ERR_OK);
    assert_int_equal(d.items[1].n_items, 3);
    assert_string_equal((const char *)d.items[1].items[2].bytes, "three");
    assert_int_equal(d.items[0].items[1].n_items, 1);
    assert_int_equal(d.items[0].items[1].items[0].word[31], 3);
    abi_value_release(&d);
    abi_type_free(t);
    abi_value_release(&a);

    buf_release(&got);
    buf_release(&want);
}

static void test_types(void **state)
{
    (void)state;
    static const struct {
        const char *in, *canonical;
    } ok[] = {
        {"uint", "uint256"},
        {"int", "int256"},
        {"(uint256,bytes32[],(address,string))", "(uint256,bytes32[],(address,string))"},
        {"tuple(address to, uint amount)[2][]", "(address,uint256)[2][]"},
        {" ( int8 , bytes1 , bool[3] ) ", "(int8,bytes1,bool[3])"},
        {"()", "()"},
        {"uint8[][4]", "uint8[][4]"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct abi_type *t = parse(ok[i].in);
        struct buf b;
        buf_init(&b, 0);
        assert_int_equal(abi_type_canonical(t, &b), ERR_OK);
        assert_string_equal(buf_cstr(&b), ok[i].canonical);
        buf_release(&b);
        abi_type_free(t);
    }
    static const char *bad[] = {"",           "uint7",       "uint264",     "uint0",
                                "int7",       "bytes0",      "bytes33",     "uint08",
                                "Uint256",    "address[0]",  "address[01]", "(uint256",
                                "(uint256,)", "uint256[",    "fixed128x18", "()[]",
                                "((),uint8)", "uint256 x y", "function",    "uint256]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct abi_type *t = NULL;
        enum err e = abi_type_parse(bad[i], &t);
        if (e == ERR_OK)
            fail_msg("\"%s\" parsed", bad[i]);
        assert_int_equal(e, ERR_INVAL);
    }
    struct abi_type *t = NULL;
    char deep[64];
    memset(deep, 0, sizeof(deep));
    memcpy(deep, "uint8", 5);
    for (int i = 0; i < ABI_MAX_DEPTH + 1; i++)
        memcpy(deep + 5 + 2 * i, "[]", 2);
    assert_int_equal(abi_type_parse(deep, &t), ERR_TOOBIG);
    assert_int_equal(abi_type_parse("uint256[65537]", &t), ERR_TOOBIG);
    assert_int_equal(abi_type_parse("uint256[65536][65536]", &t), ERR_TOOBIG);
    char *longs = malloc(ABI_MAX_TYPE_LEN + 2);
    memset(longs, ' ', ABI_MAX_TYPE_LEN + 1);
    longs[ABI_MAX_TYPE_LEN + 1] = '\0';
    assert_int_equal(abi_type_parse(longs, &t), ERR_TOOBIG);
    free(longs);
    abi_type_free(NULL);

    t = parse("(uint256,bytes32[])");
    assert_true(abi_type_is_dynamic(t));
    abi_type_free(t);
    t = parse("(uint256,bytes32[2])");
    assert_false(abi_type_is_dynamic(t));
    abi_type_free(t);
}

static void test_selectors_topics(void **state)
{
    (void)state;
    uint8_t sel[4], topic[32];
    char s[80];
    assert_int_equal(abi_selector("transfer(address,uint256)", sel), ERR_OK);
    hex_encode(sel, 4, false, s);
    assert_string_equal(s, "a9059cbb");
    assert_int_equal(abi_selector("transfer(address to, uint amount)", sel), ERR_OK);
    hex_encode(sel, 4, false, s);
    assert_string_equal(s, "a9059cbb");
    assert_int_equal(abi_selector("totalSupply()", sel), ERR_OK);
    hex_encode(sel, 4, false, s);
    assert_string_equal(s, "18160ddd");
    assert_int_equal(
        abi_event_topic("Transfer(address indexed from, address indexed to, uint256 value)", topic),
        ERR_OK);
    hex_encode(topic, 32, false, s);
    assert_string_equal(s, "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");
    assert_int_equal(abi_selector("(uint256)", sel), ERR_INVAL);
    assert_int_equal(abi_selector("f(uint256) x", sel), ERR_INVAL);
    assert_int_equal(abi_selector("f", sel), ERR_INVAL);
    assert_int_equal(
        abi_event_topic("E(uint8 indexed a, uint8 indexed b, uint8 indexed c, uint8 indexed d)",
                        topic),
        ERR_INVAL);
}

static void test_encode_errors(void **state)
{
    (void)state;
    struct buf out;
    struct abi_value v = {0};
    buf_init(&out, 0);
    assert_int_equal(buf_append(&out, "x", 1), ERR_OK);
    struct abi_type *t = parse("uint8");
    abi_value_uint(&v, u256_from_u64(256));
    assert_int_equal(abi_encode(t, &v, &out), ERR_RANGE);
    assert_int_equal(out.len, 1);
    abi_value_uint(&v, u256_from_u64(255));
    assert_int_equal(abi_encode(t, &v, &out), ERR_OK);
    abi_type_free(t);

    t = parse("int8");
    abi_value_int64(&v, -128);
    assert_int_equal(abi_encode(t, &v, &out), ERR_OK);
    abi_value_int64(&v, -129);
    assert_int_equal(abi_encode(t, &v, &out), ERR_RANGE);
    abi_value_int64(&v, 128);
    assert_int_equal(abi_encode(t, &v, &out), ERR_RANGE);
    abi_type_free(t);

    t = parse("int256");
    struct u256 two255 = {{0, 0, 0, (uint64_t)1 << 63}}, big;
    assert_int_equal(abi_value_int_neg(&v, two255), ERR_OK); /* int256 min */
    assert_int_equal(v.word[0], 0x80);
    assert_int_equal(u256_add(two255, u256_from_u64(1), &big), ERR_OK);
    assert_int_equal(abi_value_int_neg(&v, big), ERR_RANGE);
    assert_int_equal(abi_value_int_neg(&v, u256_from_u64(1)), ERR_OK);
    assert_int_equal(v.word[0], 0xff);
    assert_int_equal(v.word[31], 0xff);
    assert_int_equal(abi_value_int_neg(&v, u256_from_u64(0)), ERR_OK);
    assert_int_equal(v.word[0], 0);
    abi_type_free(t);

    t = parse("bool");
    abi_value_uint(&v, u256_from_u64(2));
    assert_int_equal(abi_encode(t, &v, &out), ERR_RANGE);
    abi_type_free(t);
    t = parse("bytes2");
    assert_int_equal(abi_value_fixed_bytes(&v, "abc", 3), ERR_OK);
    assert_int_equal(abi_encode(t, &v, &out), ERR_RANGE);
    assert_int_equal(abi_value_fixed_bytes(&v, "abc", 0), ERR_INVAL);
    assert_int_equal(abi_value_fixed_bytes(&v, "abc", 33), ERR_INVAL);
    abi_type_free(t);
    t = parse("address");
    memset(v.word, 0xff, 32);
    assert_int_equal(abi_encode(t, &v, &out), ERR_RANGE);
    abi_type_free(t);

    t = parse("(uint8,uint8)");
    assert_int_equal(abi_value_items(&v, 1), ERR_OK);
    assert_int_equal(abi_encode(t, &v, &out), ERR_INVAL);
    abi_type_free(t);
    t = parse("uint8[2]");
    assert_int_equal(abi_encode(t, &v, &out), ERR_INVAL);
    abi_type_free(t);
    abi_value_release(&v);

    struct buf small;
    buf_init(&small, 40);
    t = parse("(uint8,uint8)");
    assert_int_equal(abi_value_items(&v, 2), ERR_OK);
    assert_int_equal(abi_encode(t, &v, &small), ERR_TOOBIG);
    assert_int_equal(small.len, 0);
    abi_type_free(t);
    abi_value_release(&v);
    assert_int_equal(abi_encode_call("f(uint8,uint8)", &v, &out), ERR_INVAL); /* no items */
    assert_int_equal(abi_encode_call("f(uint8", &v, &out), ERR_INVAL);
    buf_release(&small);
    buf_release(&out);
    abi_value_release(NULL);
}

static enum err decode_words(const char *type, const char *const *w)
{
    struct buf b;
    struct abi_value v;
    buf_init(&b, 0);
    words(&b, NULL, w);
    struct abi_type *t = parse(type);
    enum err e = abi_decode(t, (const uint8_t *)b.data, b.len, &v);
    abi_value_release(&v);
    abi_type_free(t);
    buf_release(&b);
    return e;
}

static void test_decode_strict(void **state)
{
    (void)state;
    assert_int_equal(decode_words("uint8", (const char *const[]){"n:ff", NULL}), ERR_OK);
    assert_int_equal(decode_words("uint8", (const char *const[]){"n:0100", NULL}), ERR_INVAL);
    assert_int_equal(decode_words("uint248", (const char *const[]){"b:01", NULL}), ERR_INVAL);
    assert_int_equal(
        decode_words(
            "int8",
            (const char *const[]){
                "b:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff80", NULL}),
        ERR_OK);
    assert_int_equal(decode_words("int8", (const char *const[]){"n:80", NULL}), ERR_INVAL);
    assert_int_equal(
        decode_words(
            "int8",
            (const char *const[]){
                "b:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", NULL}),
        ERR_INVAL);
    assert_int_equal(decode_words("address", (const char *const[]){"b:01", NULL}), ERR_INVAL);
    assert_int_equal(decode_words("bool", (const char *const[]){"n:02", NULL}), ERR_INVAL);
    assert_int_equal(decode_words("bool", (const char *const[]){"n:01", NULL}), ERR_OK);
    assert_int_equal(decode_words("bytes3", (const char *const[]){"b:61626364", NULL}), ERR_INVAL);
    assert_int_equal(decode_words("uint256", (const char *const[]){NULL}), ERR_INVAL); /* short */
    /* offsets and lengths */
    assert_int_equal(
        decode_words("(bytes)", (const char *const[]){"n:20", "n:03", "b:616263", NULL}), ERR_OK);
    assert_int_equal(
        decode_words("(bytes)", (const char *const[]){"n:40", "n:03", "b:616263", NULL}),
        ERR_INVAL);
    assert_int_equal(
        decode_words("(bytes)", (const char *const[]){"n:20", "n:21", "b:616263", NULL}),
        ERR_INVAL);
    assert_int_equal(
        decode_words("(bytes)", (const char *const[]){"b:ff", "n:03", "b:616263", NULL}),
        ERR_INVAL);
    assert_int_equal(decode_words("(string)", (const char *const[]){"n:20", "b:ff", NULL}),
                     ERR_INVAL);
    assert_int_equal(decode_words("(uint8[])", (const char *const[]){"n:20", "n:02", "n:01", NULL}),
                     ERR_INVAL);
    assert_int_equal(
        decode_words("(uint8[])", (const char *const[]){"n:20", "n:02", "n:01", "n:02", NULL}),
        ERR_OK);
    assert_int_equal(decode_words("(uint8[2])", (const char *const[]){"n:01", NULL}), ERR_INVAL);
    /* trailing bytes are allowed */
    assert_int_equal(decode_words("(uint8)", (const char *const[]){"n:01", "n:02", NULL}), ERR_OK);
}

/* uint256[][] whose 64 inner offsets all point at one inner array of 64
 * words: 64 * 64 values from ~4 KB of data, past the linear budget. */
static void test_decode_budget(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    uint8_t w[32] = {0};
    const size_t n = 64;
    w[31] = 0x20;
    assert_int_equal(buf_append(&b, w, 32), ERR_OK); /* tuple head: offset of the outer array */
    w[31] = (uint8_t)n;
    assert_int_equal(buf_append(&b, w, 32), ERR_OK); /* outer length */
    for (size_t i = 0; i < n; i++) {                 /* inner offsets, relative to element 0 */
        size_t off = n * 32;
        w[30] = (uint8_t)(off >> 8);
        w[31] = (uint8_t)off;
        assert_int_equal(buf_append(&b, w, 32), ERR_OK);
    }
    memset(w, 0, 32);
    w[31] = (uint8_t)n;
    assert_int_equal(buf_append(&b, w, 32), ERR_OK); /* inner length */
    memset(w, 0, 32);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(buf_append(&b, w, 32), ERR_OK);
    struct abi_type *t = parse("(uint256[][])");
    struct abi_value v;
    assert_int_equal(abi_decode(t, (const uint8_t *)b.data, b.len, &v), ERR_TOOBIG);
    abi_value_release(&v);
    /* the same data with 4 outer items fits the budget */
    b.data[63] = 4;
    assert_int_equal(abi_decode(t, (const uint8_t *)b.data, b.len, &v), ERR_OK);
    assert_int_equal(v.items[0].n_items, 4);
    assert_int_equal(v.items[0].items[3].n_items, n);
    abi_value_release(&v);
    abi_type_free(t);
    buf_release(&b);
}

static void test_events(void **state)
{
    (void)state;
    struct abi_event *ev = NULL;
    assert_int_equal(
        abi_event_parse("Transfer(address indexed from, address indexed to, uint256 value)", &ev),
        ERR_OK);
    assert_int_equal(ev->n_indexed, 2);
    uint8_t topics[4][32] = {{0}}, data[32] = {0};
    memcpy(topics[0], ev->topic0, 32);
    memset(topics[1] + 12, 0x11, 20);
    memset(topics[2] + 12, 0x22, 20);
    data[30] = 0x03;
    data[31] = 0xe8;
    struct abi_value v;
    assert_int_equal(abi_event_decode(ev, (const uint8_t(*)[32])topics, 3, data, 32, &v), ERR_OK);
    assert_int_equal(v.n_items, 3);
    assert_int_equal(v.items[0].word[12], 0x11);
    assert_int_equal(v.items[1].word[31], 0x22);
    uint64_t amount;
    assert_int_equal(u256_to_u64(abi_value_u256(&v.items[2]), &amount), ERR_OK);
    assert_int_equal(amount, 1000);
    assert_false(v.items[0].is_topic_hash);
    abi_value_release(&v);
    /* wrong count, wrong topic 0, dirty address topic, short data */
    assert_int_equal(abi_event_decode(ev, (const uint8_t(*)[32])topics, 2, data, 32, &v),
                     ERR_INVAL);
    abi_value_release(&v);
    assert_int_equal(abi_event_decode(ev, (const uint8_t(*)[32])topics, 0, data, 32, &v),
                     ERR_INVAL);
    abi_value_release(&v);
    assert_int_equal(abi_event_decode(ev, (const uint8_t(*)[32])topics, 3, data, 31, &v),
                     ERR_INVAL);
    abi_value_release(&v);
    topics[1][0] = 1;
    assert_int_equal(abi_event_decode(ev, (const uint8_t(*)[32])topics, 3, data, 32, &v),
                     ERR_INVAL);
    abi_value_release(&v);
    topics[0][0] ^= 1;
    assert_int_equal(abi_event_decode(ev, (const uint8_t(*)[32])topics, 3, data, 32, &v),
                     ERR_NOTFOUND);
    abi_value_release(&v);
    abi_event_free(ev);

    /* an indexed string arrives as its hash; non-indexed dynamic data decodes */
    assert_int_equal(
        abi_event_parse(
            "JobCreated(uint256 indexed jobId, string indexed kind, string spec, address client)",
            &ev),
        ERR_OK);
    memset(topics, 0, sizeof(topics));
    memcpy(topics[0], ev->topic0, 32);
    topics[1][31] = 42;
    keccak256("IA", 2, topics[2]);
    struct buf d;
    buf_init(&d, 0);
    words(&d, NULL, (const char *const[]){"n:40", "n:1234", "n:04", "b:6a736f6e", NULL});
    assert_int_equal(
        abi_event_decode(ev, (const uint8_t(*)[32])topics, 3, (const uint8_t *)d.data, d.len, &v),
        ERR_OK);
    assert_int_equal(v.items[0].word[31], 42);
    assert_true(v.items[1].is_topic_hash);
    assert_memory_equal(v.items[1].word, topics[2], 32);
    assert_string_equal((const char *)v.items[2].bytes, "json");
    assert_int_equal(v.items[3].word[30], 0x12);
    abi_value_release(&v);
    buf_release(&d);
    abi_event_free(ev);
    abi_event_free(NULL);
    assert_int_equal(abi_event_parse("E(uint8 indexed, uint9)", &ev), ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_examples),    cmocka_unit_test(test_types),
        cmocka_unit_test(test_selectors_topics), cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_decode_strict),    cmocka_unit_test(test_decode_budget),
        cmocka_unit_test(test_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
