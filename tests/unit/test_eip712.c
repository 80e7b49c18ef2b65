/* Unit tests for common/eth/eip191 and common/eth/eip712. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "eth/eip191.h"
#include "eth/eip712.h"
#include "hex.h"
#include "eth/keccak.h"
#include "eth/key.h"

static const char *ANVIL_KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

static void assert_hex(const void *p, size_t n, const char *want)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(hex_append(&b, p, n, true), ERR_OK);
    assert_string_equal(buf_cstr(&b), want);
    buf_release(&b);
}

static void addr_from(const char *s, uint8_t a[20])
{
    assert_int_equal(key_addr_parse(s, a), ERR_OK);
}

/* `cast wallet sign` / `cast hash-message` of "hello" with anvil's key (Foundry 1.7.1). */
static void test_eip191(void **state)
{
    (void)state;
    struct key k;
    struct sig s;
    uint8_t h[32], rsv[65], addr[20];
    assert_int_equal(key_from_hex(ANVIL_KEY, &k), ERR_OK);
    eip191_hash("hello", 5, h);
    assert_hex(h, 32, "0x50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750");
    assert_int_equal(eip191_sign(&k, "hello", 5, &s), ERR_OK);
    sig_to_rsv(&s, rsv);
    assert_hex(
        rsv, 65,
        "0xf16ea9a3478698f695fd1401bfe27e9e4a7e8e3da94aa72b021125e31fa899cc573c48ea3fe1d4ab61a9"
        "db10c19032026e3ed2dbccba5a178235ac27f94504311c");
    assert_int_equal(eip191_recover("hello", 5, rsv, addr), ERR_OK);
    assert_memory_equal(addr, k.addr, 20);
    assert_int_equal(eip191_recover("hellO", 5, rsv, addr), ERR_OK);
    assert_memory_not_equal(addr, k.addr, 20);
    rsv[64] = 30;
    assert_int_equal(eip191_recover("hello", 5, rsv, addr), ERR_INVAL);
    rsv[64] = 28;
    memset(rsv + 32, 0xff, 32); /* s >= n */
    assert_int_equal(eip191_recover("hello", 5, rsv, addr), ERR_CRYPTO);
    /* a 12-byte message: the length is written in decimal */
    eip191_hash(NULL, 0, h);
    uint8_t want[32];
    keccak256("\x19"
              "Ethereum Signed Message:\n0",
              27, want);
    assert_memory_equal(h, want, 32);
    key_wipe(&k);
}

/* EIP-712's example (assets/eip-712/Example.js in ethereum/EIPs, commit
 * 18f02487bc35abf279b98b93c1bc9740e4392290: the version whose domain has httpOrigin). */
static const struct eip712_member domain_members[] = {
    {"string", "name"},
    {"string", "version"},
    {"uint256", "chainId"},
    {"string", "httpOrigin"},
    {"address", "verifyingContract"},
};
static const struct eip712_member person_members[] = {{"string", "name"}, {"address", "wallet"}};
static const struct eip712_member mail_members[] = {
    {"Person", "from"}, {"Person", "to"}, {"string", "contents"}};
static const struct eip712_type mail_types[] = {
    {"EIP712Domain", domain_members, 5},
    {"Mail", mail_members, 3},
    {"Person", person_members, 2},
};
static const struct eip712_types MAIL = {mail_types, 3};

static void person(struct abi_value *v, const char *name, const char *wallet)
{
    uint8_t a[20];
    assert_int_equal(abi_value_items(v, 2), ERR_OK);
    assert_int_equal(abi_value_bytes(&v->items[0], name, strlen(name)), ERR_OK);
    addr_from(wallet, a);
    abi_value_address(&v->items[1], a);
}

static void test_eip712_mail(void **state)
{
    (void)state;
    struct buf b;
    uint8_t th[32], sh[32], dh[32], digest[32], a[20];
    buf_init(&b, 0);
    assert_int_equal(eip712_encode_type(&MAIL, "Mail", &b), ERR_OK);
    assert_string_equal(
        buf_cstr(&b),
        "Mail(Person from,Person to,string contents)Person(string name,address wallet)");
    assert_int_equal(eip712_type_hash(&MAIL, "Mail", th), ERR_OK);
    assert_hex(th, 32, "0xa0cedeb2dc280ba39b857546d74f5549c3a1d7bdc2dd96bf881f76108e23dac2");

    struct abi_value mail = {0}, dom = {0};
    assert_int_equal(abi_value_items(&mail, 3), ERR_OK);
    person(&mail.items[0], "Cow", "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826");
    person(&mail.items[1], "Bob", "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB");
    assert_int_equal(abi_value_bytes(&mail.items[2], "Hello, Bob!", 11), ERR_OK);
    buf_reset(&b);
    assert_int_equal(eip712_encode_data(&MAIL, "Mail", &mail, &b), ERR_OK);
    assert_hex(
        b.data, b.len,
        "0xa0cedeb2dc280ba39b857546d74f5549c3a1d7bdc2dd96bf881f76108e23dac2fc71e5fa27ff56c350aa"
        "531bc129ebdf613b772b6604664f5d8dbe21b85eb0c8cd54f074a4af31b4411ff6a60c9719dbd559c221c8"
        "ac3492d9d872b041d703d1b5aadf3154a261abdd9086fc627b61efca26ae5702701d05cd2305f7c52a2fc8");
    assert_int_equal(eip712_hash_struct(&MAIL, "Mail", &mail, sh), ERR_OK);
    assert_hex(sh, 32, "0xc52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e");

    assert_int_equal(abi_value_items(&dom, 5), ERR_OK);
    assert_int_equal(abi_value_bytes(&dom.items[0], "Ether Mail", 10), ERR_OK);
    assert_int_equal(abi_value_bytes(&dom.items[1], "1", 1), ERR_OK);
    abi_value_uint(&dom.items[2], u256_from_u64(1));
    assert_int_equal(abi_value_bytes(&dom.items[3], "https://ether-mail.eth", 22), ERR_OK);
    addr_from("0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC", a);
    abi_value_address(&dom.items[4], a);
    assert_int_equal(eip712_hash_struct(&MAIL, "EIP712Domain", &dom, dh), ERR_OK);
    eip712_digest(dh, sh, digest);
    assert_hex(digest, 32, "0xa5f5fa6b05af38f2e9d2889ac36f5a4ba31e20646781d23739de458d86d6593e");

    /* signed with keccak256("cow"), whose address is Cow's wallet */
    uint8_t priv[32], rsv[65];
    struct key k;
    struct sig s;
    keccak256("cow", 3, priv);
    assert_int_equal(key_from_bytes(priv, &k), ERR_OK);
    assert_hex(k.addr, 20, "0xcd2a3d9f938e13cd947ec05abc7fe734df8dd826");
    assert_int_equal(eip712_sign(&k, dh, sh, &s), ERR_OK);
    sig_to_rsv(&s, rsv);
    assert_int_equal(rsv[64], 27);
    assert_hex(s.r, 32, "0x24040eda35064d96c51f3308b5fae290edae563327348886a366ed604e0c0480");
    assert_hex(s.s, 32, "0x42bbabf2fae4b00598596a99d577dde56ff9d013e861f611cfe7b0728e1cd057");
    assert_int_equal(eip712_recover(dh, sh, rsv, a), ERR_OK);
    assert_memory_equal(a, k.addr, 20);
    rsv[64] = 5;
    assert_int_equal(eip712_recover(dh, sh, rsv, a), ERR_INVAL);

    /* errors: unknown primary, wrong item count, out-of-range atomic */
    assert_int_equal(eip712_type_hash(&MAIL, "Letter", th), ERR_NOTFOUND);
    assert_int_equal(eip712_hash_struct(&MAIL, "Letter", &mail, sh), ERR_NOTFOUND);
    assert_int_equal(eip712_encode_data(&MAIL, "Letter", &mail, &b), ERR_NOTFOUND);
    assert_int_equal(eip712_hash_struct(&MAIL, "Person", &mail, sh), ERR_INVAL);
    memset(mail.items[0].items[1].word, 0xff, 12);
    size_t old = b.len;
    assert_int_equal(eip712_encode_data(&MAIL, "Mail", &mail, &b), ERR_RANGE);
    assert_int_equal(b.len, old);
    abi_value_release(&mail);
    abi_value_release(&dom);
    buf_release(&b);
    key_wipe(&k);
}

/* A Loom-style signed API request, checked against `cast wallet sign --data`
 * (Foundry 1.7.1) on the same typed data. */
static void test_eip712_request(void **state)
{
    (void)state;
    static const struct eip712_member req_members[] = {
        {"string", "method"}, {"string", "path"},    {"bytes32", "bodyHash"},
        {"uint256", "nonce"}, {"address", "signer"},
    };
    static const struct eip712_type req_type[] = {{"Request", req_members, 5}};
    static const struct eip712_types REQ = {req_type, 1};
    struct eip712_domain d = {.name = "The Loom",
                              .version = "1",
                              .has_chain_id = true,
                              .chain_id = 31337,
                              .has_verifying_contract = true};
    addr_from("0x5FbDB2315678afecb367f032d93F642f64180aa3", d.verifying_contract);
    struct key k;
    assert_int_equal(key_from_hex(ANVIL_KEY, &k), ERR_OK);
    struct abi_value v = {0};
    uint8_t body[32], ds[32], sh[32], rsv[65], a[20];
    memset(body, 0x11, 32);
    assert_int_equal(abi_value_items(&v, 5), ERR_OK);
    assert_int_equal(abi_value_bytes(&v.items[0], "POST", 4), ERR_OK);
    assert_int_equal(abi_value_bytes(&v.items[1], "/api/jobs", 9), ERR_OK);
    assert_int_equal(abi_value_fixed_bytes(&v.items[2], body, 32), ERR_OK);
    abi_value_uint(&v.items[3], u256_from_u64(42));
    abi_value_address(&v.items[4], k.addr);
    assert_int_equal(eip712_domain_separator(&d, ds), ERR_OK);
    assert_int_equal(eip712_hash_struct(&REQ, "Request", &v, sh), ERR_OK);
    struct sig s;
    assert_int_equal(eip712_sign(&k, ds, sh, &s), ERR_OK);
    sig_to_rsv(&s, rsv);
    assert_hex(
        rsv, 65,
        "0x38f3ea16c725b50cfc0751f2c676c313ff2ba5611ff319acd7310afa929e389010d5d9e8c449b510c357"
        "9e0b72803bd30c6307f6a6f9654f502a9ebe87c8881a1b");
    assert_int_equal(eip712_recover(ds, sh, rsv, a), ERR_OK);
    assert_memory_equal(a, k.addr, 20);
    /* a salt changes the separator */
    uint8_t ds2[32];
    d.has_salt = true;
    assert_int_equal(eip712_domain_separator(&d, ds2), ERR_OK);
    assert_memory_not_equal(ds, ds2, 32);
    abi_value_release(&v);
    key_wipe(&k);
}

/* Arrays of structs and atomics, nested struct references, unknown types. */
static void test_eip712_arrays(void **state)
{
    (void)state;
    static const struct eip712_member group_members[] = {
        {"Person[]", "members"}, {"uint8[2]", "scores"}, {"string[]", "tags"}};
    static const struct eip712_member bad_members[] = {{"Nobody", "x"}};
    static const struct eip712_member bad2_members[] = {{"uint7", "x"}};
    static const struct eip712_type types[] = {
        {"Group", group_members, 3},
        {"Person", person_members, 2},
        {"Bad", bad_members, 1},
        {"Bad2", bad2_members, 1},
    };
    static const struct eip712_types TS = {types, 4};
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(eip712_encode_type(&TS, "Group", &b), ERR_OK);
    assert_string_equal(buf_cstr(&b), "Group(Person[] members,uint8[2] scores,string[] tags)"
                                      "Person(string name,address wallet)");
    uint8_t h[32];
    assert_int_equal(eip712_type_hash(&TS, "Bad", h), ERR_NOTFOUND);
    assert_int_equal(eip712_type_hash(&TS, "Bad2", h), ERR_NOTFOUND);

    struct abi_value g = {0};
    assert_int_equal(abi_value_items(&g, 3), ERR_OK);
    assert_int_equal(abi_value_items(&g.items[0], 2), ERR_OK);
    person(&g.items[0].items[0], "Cow", "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826");
    person(&g.items[0].items[1], "Bob", "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB");
    assert_int_equal(abi_value_items(&g.items[1], 2), ERR_OK);
    abi_value_uint(&g.items[1].items[0], u256_from_u64(7));
    abi_value_uint(&g.items[1].items[1], u256_from_u64(9));
    assert_int_equal(abi_value_items(&g.items[2], 1), ERR_OK);
    assert_int_equal(abi_value_bytes(&g.items[2].items[0], "gpu", 3), ERR_OK);

    /* expected per EIP-712: an array is keccak256 of its elements' encodings */
    uint8_t p0[32], p1[32], want[32], got[32], w[96], tag[32];
    assert_int_equal(eip712_hash_struct(&TS, "Person", &g.items[0].items[0], p0), ERR_OK);
    assert_int_equal(eip712_hash_struct(&TS, "Person", &g.items[0].items[1], p1), ERR_OK);
    struct buf enc;
    buf_init(&enc, 0);
    assert_int_equal(eip712_type_hash(&TS, "Group", w), ERR_OK);
    assert_int_equal(buf_append(&enc, w, 32), ERR_OK);
    memcpy(w, p0, 32);
    memcpy(w + 32, p1, 32);
    keccak256(w, 64, want);
    assert_int_equal(buf_append(&enc, want, 32), ERR_OK);
    memset(w, 0, 64);
    w[31] = 7;
    w[63] = 9;
    keccak256(w, 64, want);
    assert_int_equal(buf_append(&enc, want, 32), ERR_OK);
    keccak256("gpu", 3, tag);
    keccak256(tag, 32, want);
    assert_int_equal(buf_append(&enc, want, 32), ERR_OK);
    keccak256(enc.data, enc.len, want);
    assert_int_equal(eip712_hash_struct(&TS, "Group", &g, got), ERR_OK);
    assert_memory_equal(got, want, 32);

    /* uint8[2] with three items, and a value out of uint8's range */
    assert_int_equal(abi_value_items(&g.items[1], 3), ERR_OK);
    assert_int_equal(eip712_hash_struct(&TS, "Group", &g, got), ERR_INVAL);
    assert_int_equal(abi_value_items(&g.items[1], 2), ERR_OK);
    abi_value_uint(&g.items[1].items[0], u256_from_u64(256));
    assert_int_equal(eip712_hash_struct(&TS, "Group", &g, got), ERR_RANGE);
    abi_value_release(&g);
    buf_release(&enc);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eip191),
        cmocka_unit_test(test_eip712_mail),
        cmocka_unit_test(test_eip712_request),
        cmocka_unit_test(test_eip712_arrays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
