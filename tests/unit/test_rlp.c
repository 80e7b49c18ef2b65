/* Unit tests for common/eth/rlp: ethereum/tests vectors plus strictness. SPDX-License-Identifier:
 * MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "eth/rlp.h"
#include "rlp_vectors.h"

/* Encode the notation of rlp_vectors.h at *p into b. */
static void encode_mini(const char **p, struct buf *b)
{
    const char *s = *p;
    if (*s == '[') {
        size_t start = b->len;
        s++;
        while (*s != ']') {
            encode_mini(&s, b);
            if (*s == ',')
                s++;
        }
        s++;
        assert_int_equal(rlp_end_list(b, start), ERR_OK);
    } else if (*s == 's') {
        size_t n = strcspn(s + 1, ",]");
        uint8_t *tmp = malloc(n / 2 + 1);
        size_t got = 0;
        assert_int_equal(hex_decode(s + 1, n, tmp, n / 2 + 1, &got), ERR_OK);
        assert_int_equal(rlp_append_bytes(b, tmp, got), ERR_OK);
        free(tmp);
        s += 1 + n;
    } else {
        assert_int_equal(*s, 'i');
        size_t n = strcspn(s + 1, ",]");
        char num[90];
        assert_true(n < sizeof(num));
        memcpy(num, s + 1, n);
        num[n] = '\0';
        struct u256 v;
        assert_int_equal(u256_parse_dec(num, &v), ERR_OK);
        uint64_t small;
        if (u256_to_u64(v, &small) == ERR_OK)
            assert_int_equal(rlp_append_u64(b, small), ERR_OK);
        else
            assert_int_equal(rlp_append_u256(b, v), ERR_OK);
        s += 1 + n;
    }
    *p = s;
}

/* Render a decoded item as s<hex>/[...] notation. */
static void render(const struct rlp_item *it, struct buf *out)
{
    if (it->kind == RLP_STRING) {
        assert_int_equal(buf_append_byte(out, 's'), ERR_OK);
        assert_int_equal(hex_append(out, it->payload, it->len, false), ERR_OK);
        return;
    }
    assert_int_equal(buf_append_byte(out, '['), ERR_OK);
    struct rlp_iter iter;
    struct rlp_item child;
    rlp_iter_init(&iter, it);
    int first = 1;
    enum err e;
    while ((e = rlp_iter_next(&iter, &child)) == ERR_OK) {
        if (!first)
            assert_int_equal(buf_append_byte(out, ','), ERR_OK);
        first = 0;
        render(&child, out);
    }
    assert_int_equal(e, ERR_NOTFOUND);
    assert_int_equal(buf_append_byte(out, ']'), ERR_OK);
}

static void decode_hex(const char *hex, struct buf *b)
{
    buf_reset(b);
    assert_int_equal(hex_decode_buf(hex, b), ERR_OK);
}

static void test_ethereum_valid(void **state)
{
    (void)state;
    struct buf enc, raw, r1, r2;
    buf_init(&enc, 0);
    buf_init(&raw, 0);
    buf_init(&r1, 0);
    buf_init(&r2, 0);
    for (size_t i = 0; i < sizeof(rlp_valid) / sizeof(rlp_valid[0]); i++) {
        const char *p = rlp_valid[i].in;
        buf_reset(&enc);
        encode_mini(&p, &enc);
        assert_int_equal(*p, '\0');
        decode_hex(rlp_valid[i].out, &raw);
        if (enc.len != raw.len || memcmp(enc.data, raw.data, raw.len) != 0)
            fail_msg("encode %s differs", rlp_valid[i].name);
        /* decoding gives back the same tree */
        struct rlp_item it;
        assert_int_equal(rlp_decode((const uint8_t *)raw.data, raw.len, &it), ERR_OK);
        assert_int_equal(it.raw_len, raw.len);
        buf_reset(&r1);
        render(&it, &r1);
        buf_reset(&r2);
        p = buf_cstr(&r1);
        encode_mini(&p, &r2);
        if (r2.len != raw.len || memcmp(r2.data, raw.data, raw.len) != 0)
            fail_msg("decode %s differs", rlp_valid[i].name);
    }
    buf_release(&enc);
    buf_release(&raw);
    buf_release(&r1);
    buf_release(&r2);
}

static void test_ethereum_invalid(void **state)
{
    (void)state;
    struct buf raw;
    buf_init(&raw, 0);
    for (size_t i = 0; i < sizeof(rlp_invalid) / sizeof(rlp_invalid[0]); i++) {
        decode_hex(rlp_invalid[i].out, &raw);
        struct rlp_item it;
        enum err e = rlp_decode((const uint8_t *)raw.data, raw.len, &it);
        if (e != ERR_INVAL)
            fail_msg("%s: got %s", rlp_invalid[i].name, err_str(e));
    }
    buf_release(&raw);
}

static enum err decode_str(const char *hex)
{
    uint8_t tmp[256];
    size_t n = 0;
    assert_int_equal(hex_decode(hex, strlen(hex), tmp, sizeof(tmp), &n), ERR_OK);
    struct rlp_item it;
    return rlp_decode(tmp, n, &it);
}

static void test_strictness(void **state)
{
    (void)state;
    assert_int_equal(decode_str(""), ERR_INVAL);         /* nothing */
    assert_int_equal(decode_str("8180"), ERR_OK);        /* 0x80 needs a header */
    assert_int_equal(decode_str("0000"), ERR_INVAL);     /* trailing byte */
    assert_int_equal(decode_str("83646f"), ERR_INVAL);   /* string runs past input */
    assert_int_equal(decode_str("c3646f"), ERR_INVAL);   /* list runs past input */
    assert_int_equal(decode_str("c2820001"), ERR_INVAL); /* child runs past its list */
    assert_int_equal(decode_str("c28100"), ERR_INVAL);   /* non-canonical child */
    assert_int_equal(decode_str("b9"), ERR_INVAL);       /* length bytes missing */
    assert_int_equal(decode_str("b837"), ERR_INVAL);     /* long form for 55 */
    assert_int_equal(decode_str("f90000"), ERR_INVAL);   /* leading zero list length */
    assert_int_equal(decode_str("bf0000000000000001"), ERR_INVAL);
    /* 0x38 (56) in long form is canonical */
    char hex[2 * 58 + 1] = "b838";
    memset(hex + 4, '1', 112);
    hex[116] = '\0';
    assert_int_equal(decode_str(hex), ERR_OK);
}

static void test_depth_bound(void **state)
{
    (void)state;
    uint8_t nest[RLP_MAX_DEPTH + 2];
    struct rlp_item it;
    /* RLP_MAX_DEPTH+1 nested lists: c1 c1 ... c0 */
    size_t n = RLP_MAX_DEPTH + 1;
    nest[n - 1] = 0xc0;
    for (size_t i = 0; i + 1 < n; i++)
        nest[i] = (uint8_t)(0xc0 + (n - 1 - i));
    assert_int_equal(rlp_decode(nest, n, &it), ERR_TOOBIG);
    assert_int_equal(rlp_decode(nest + 1, n - 1, &it), ERR_OK);
}

static void test_integers_and_lists(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    size_t start = b.len;
    assert_int_equal(rlp_append_u64(&b, 0), ERR_OK);
    assert_int_equal(rlp_append_u64(&b, 0x0400), ERR_OK);
    assert_int_equal(rlp_append_u256(&b, u256_from_u64(UINT64_MAX)), ERR_OK);
    assert_int_equal(rlp_append_raw(&b, "\xc0", 1), ERR_OK);
    assert_int_equal(rlp_end_list(&b, start), ERR_OK);
    const uint8_t want[] = {0xce, 0x80, 0x82, 0x04, 0x00, 0x88, 0xff, 0xff,
                            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc0};
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));

    struct rlp_item top, items[4];
    size_t n;
    assert_int_equal(rlp_decode((const uint8_t *)b.data, b.len, &top), ERR_OK);
    assert_int_equal(rlp_list_items(&top, items, 4, &n), ERR_OK);
    assert_int_equal(n, 4);
    assert_int_equal(rlp_list_items(&top, items, 3, &n), ERR_INVAL);
    assert_int_equal(rlp_list_items(&items[0], items, 3, &n), ERR_INVAL);
    uint64_t v;
    struct u256 w;
    assert_int_equal(rlp_item_u64(&items[0], &v), ERR_OK);
    assert_int_equal(v, 0);
    assert_int_equal(rlp_item_u64(&items[1], &v), ERR_OK);
    assert_int_equal(v, 0x400);
    assert_int_equal(rlp_item_u256(&items[2], &w), ERR_OK);
    assert_int_equal(u256_to_u64(w, &v), ERR_OK);
    assert_true(v == UINT64_MAX);
    assert_int_equal(rlp_item_u64(&items[3], &v), ERR_INVAL); /* a list */

    /* leading zero in an integer; too wide integers */
    struct rlp_item it;
    assert_int_equal(rlp_decode((const uint8_t *)"\x82\x00\x01", 3, &it), ERR_OK);
    assert_int_equal(rlp_item_u64(&it, &v), ERR_INVAL);
    uint8_t nine[10] = {0x89, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(rlp_decode(nine, 10, &it), ERR_OK);
    assert_int_equal(rlp_item_u64(&it, &v), ERR_RANGE);
    assert_int_equal(rlp_item_u256(&it, &w), ERR_OK);
    uint8_t big[34] = {0xa1, 1};
    assert_int_equal(rlp_decode(big, 34, &it), ERR_OK);
    assert_int_equal(rlp_item_u256(&it, &w), ERR_RANGE);

    /* iterator on a malformed list (only reachable without rlp_decode) */
    struct rlp_item bad = {RLP_LIST, (const uint8_t *)"\x81\x00", 2, NULL, 0};
    struct rlp_iter iter;
    rlp_iter_init(&iter, &bad);
    assert_int_equal(rlp_iter_next(&iter, &it), ERR_INVAL);

    /* capped buffer */
    struct buf small;
    buf_init(&small, 4);
    assert_int_equal(rlp_append_bytes(&small, "abcd", 4), ERR_TOOBIG);
    assert_int_equal(small.len, 0);
    assert_int_equal(rlp_append_bytes(&small, "abc", 3), ERR_OK);
    assert_int_equal(rlp_end_list(&small, 0), ERR_TOOBIG);
    buf_release(&small);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ethereum_valid),     cmocka_unit_test(test_ethereum_invalid),
        cmocka_unit_test(test_strictness),         cmocka_unit_test(test_depth_bound),
        cmocka_unit_test(test_integers_and_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
