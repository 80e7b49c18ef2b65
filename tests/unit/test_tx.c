/* Unit tests for common/eth/tx. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "eth/key.h"
#include "eth/tx.h"

static const char *ANVIL_KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

static void assert_hex(const void *p, size_t n, const char *want)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(hex_append(&b, p, n, true), ERR_OK);
    assert_string_equal(buf_cstr(&b), want);
    buf_release(&b);
}

static void assert_word_dec(const uint8_t w[32], const char *want)
{
    struct u256 v;
    char s[U256_DEC_MAX];
    assert_int_equal(u256_from_be(w, 32, &v), ERR_OK);
    u256_to_dec(v, s);
    assert_string_equal(s, want);
}

/* The worked example of EIP-155 ("Example" section). */
static void test_eip155_example(void **state)
{
    (void)state;
    struct key k;
    struct tx t;
    struct buf b;
    uint8_t h[32];
    assert_int_equal(
        key_from_hex("0x4646464646464646464646464646464646464646464646464646464646464646", &k),
        ERR_OK);
    tx_init(&t, TX_LEGACY, 1);
    t.nonce = 9;
    t.gas_price = u256_from_u64(20000000000ULL);
    t.gas_limit = 21000;
    t.has_to = true;
    memset(t.to, 0x35, 20);
    t.value = u256_from_u64(1000000000000000000ULL);
    buf_init(&b, 0);
    assert_int_equal(tx_signing_payload(&t, &b), ERR_OK);
    assert_hex(
        b.data, b.len,
        "0xec098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a7640000"
        "80018080");
    assert_int_equal(tx_signing_hash(&t, h), ERR_OK);
    assert_hex(h, 32, "0xdaf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53");
    assert_int_equal(tx_encode_raw(&t, &b), ERR_STATE);
    assert_int_equal(tx_hash(&t, h), ERR_STATE);
    assert_int_equal(tx_sign(&t, &k), ERR_OK);
    assert_int_equal(t.chain_id * 2 + 35 + t.sig.recid, 37);
    assert_word_dec(
        t.sig.r, "18515461264373351373200002665853028612451056578545711640558177340181847433846");
    assert_word_dec(
        t.sig.s, "46948507304638947509940763649030358759909902576025900602547168820602576006531");
    buf_reset(&b);
    assert_int_equal(tx_encode_raw(&t, &b), ERR_OK);
    assert_hex(
        b.data, b.len,
        "0xf86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a7640000"
        "8025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761a"
        "ecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83");

    /* decode it back and recover the sender */
    struct tx d;
    uint8_t from[20];
    assert_int_equal(tx_decode_raw((const uint8_t *)b.data, b.len, &d), ERR_OK);
    assert_int_equal(d.type, TX_LEGACY);
    assert_int_equal(d.chain_id, 1);
    assert_int_equal(d.nonce, 9);
    assert_int_equal(d.gas_limit, 21000);
    assert_int_equal(u256_cmp(d.value, t.value), 0);
    assert_int_equal(tx_recover_sender(&d, from), ERR_OK);
    assert_memory_equal(from, k.addr, 20);
    tx_release(&d);
    buf_release(&b);
    tx_release(&t);
    key_wipe(&k);
}

/* Vectors from `cast mktx` / `cast decode-transaction` (Foundry 1.7.1), anvil's key. */
static void test_cast_vectors(void **state)
{
    (void)state;
    struct key k;
    struct tx t;
    struct buf b, raw;
    uint8_t h[32], from[20];
    assert_int_equal(key_from_hex(ANVIL_KEY, &k), ERR_OK);
    buf_init(&b, 0);
    buf_init(&raw, 0);

    /* type 2 with calldata: transfer(0x11..11, 1000), value 12345; r has a leading zero byte */
    tx_init(&t, TX_EIP1559, 31337);
    t.nonce = 7;
    t.gas_limit = 50000;
    t.max_priority_fee_per_gas = u256_from_u64(1000000000);
    t.max_fee_per_gas = u256_from_u64(30000000000ULL);
    t.has_to = true;
    memset(t.to, 0x35, 20);
    t.value = u256_from_u64(12345);
    assert_int_equal(
        hex_decode_buf("a9059cbb0000000000000000000000001111111111111111111111111111111111111111"
                       "00000000000000000000000000000000000000000000000000000000000003e8",
                       &t.data),
        ERR_OK);
    assert_int_equal(tx_sign(&t, &k), ERR_OK);
    assert_int_equal(tx_encode_raw(&t, &b), ERR_OK);
    const char *want2 =
        "0x02f8b3827a6907843b9aca008506fc23ac0082c3509435353535353535353535353535353535353535358230"
        "39"
        "b844a9059cbb000000000000000000000000111111111111111111111111111111111111111100000000000000"
        "000000000000000000000000000000000000000000000003e8c0809f79d95d224aa319ea4aa0735992ce5eb019"
        "6ca3a2ab124f6de8d3327fe16075a01cca839103fcf8379a0445c62310d8ed8438a573bef89e4fc29692998630"
        "b0f5";
    assert_hex(b.data, b.len, want2);
    tx_release(&t);

    /* legacy on chain 31337: v = 0xf4f6 */
    tx_init(&t, TX_LEGACY, 31337);
    t.nonce = 7;
    t.gas_limit = 50000;
    t.gas_price = u256_from_u64(30000000000ULL);
    t.has_to = true;
    memset(t.to, 0x35, 20);
    t.value = u256_from_u64(1);
    assert_int_equal(tx_sign(&t, &k), ERR_OK);
    buf_reset(&b);
    assert_int_equal(tx_encode_raw(&t, &b), ERR_OK);
    assert_hex(
        b.data, b.len,
        "0xf866078506fc23ac0082c350943535353535353535353535353535353535353535018082f4f6a02b6c3500"
        "88ed3e98380a7e16eda1b701331038c1a294c8a7604f533ae2539352a03b21075f7ed280362e37509e5450c5"
        "1f3b8de102b2347b1e7d846f8e5fc863f5");
    assert_int_equal(tx_hash(&t, h), ERR_OK);
    assert_hex(h, 32, "0x77bf2fba4f5312ce18abe32cb10debfa34a71b6134339454ceaede6138da331c");
    tx_release(&t);

    /* type 2 with an access list, decoded and re-encoded byte for byte */
    const char *al =
        "0x02f89b0180020382ea609435353535353535353535353535353535353535358080f838f79422222222222222"
        "22222222222222222222222222e1a0000000000000000000000000000000000000000000000000000000000000"
        "00"
        "0101a06102eed15bce7e3107ee616d7eb7884ddf7bb33a46a1171fef75f9343813d6b7a037c51aa89a1a40e4c9"
        "1c5effa7a816dc91d2d303fc294a2e2e4c2297adf1e224";
    assert_int_equal(hex_decode_buf(al, &raw), ERR_OK);
    assert_int_equal(tx_decode_raw((const uint8_t *)raw.data, raw.len, &t), ERR_OK);
    assert_int_equal(t.type, TX_EIP1559);
    assert_int_equal(t.chain_id, 1);
    assert_int_equal(t.gas_limit, 60000);
    assert_int_equal(t.sig.recid, 1);
    assert_int_equal(t.access_list.len, 58);
    assert_int_equal(tx_recover_sender(&t, from), ERR_OK);
    assert_memory_equal(from, k.addr, 20);
    assert_int_equal(tx_hash(&t, h), ERR_OK);
    assert_hex(h, 32, "0x210044b77f171d35ac0b72a623838411e0a5a588020bcd9d0d6d7902364ad63d");
    buf_reset(&b);
    assert_int_equal(tx_encode_raw(&t, &b), ERR_OK);
    assert_hex(b.data, b.len, al);
    tx_release(&t);

    /* the first vector decodes to the same fields */
    buf_reset(&raw);
    assert_int_equal(hex_decode_buf(want2, &raw), ERR_OK);
    assert_int_equal(tx_decode_raw((const uint8_t *)raw.data, raw.len, &t), ERR_OK);
    assert_int_equal(t.nonce, 7);
    assert_int_equal(t.data.len, 68);
    assert_int_equal(t.sig.r[0], 0);
    assert_int_equal(tx_recover_sender(&t, from), ERR_OK);
    assert_memory_equal(from, k.addr, 20);
    tx_release(&t);

    buf_release(&b);
    buf_release(&raw);
    key_wipe(&k);
}

static enum err decode_hex(const char *hex)
{
    struct buf raw;
    struct tx t;
    buf_init(&raw, 0);
    assert_int_equal(hex_decode_buf(hex, &raw), ERR_OK);
    enum err e = tx_decode_raw((const uint8_t *)raw.data, raw.len, &t);
    if (e == ERR_OK)
        tx_release(&t);
    buf_release(&raw);
    return e;
}

static void test_decode_errors(void **state)
{
    (void)state;
    const char *ok =
        "f866078506fc23ac0082c350943535353535353535353535353535353535353535018082f4f6a02b6c3500"
        "88ed3e98380a7e16eda1b701331038c1a294c8a7604f533ae2539352a03b21075f7ed280362e37509e5450c5"
        "1f3b8de102b2347b1e7d846f8e5fc863f5";
    char tmp[400];
    assert_int_equal(decode_hex(ok), ERR_OK);
    snprintf(tmp, sizeof(tmp), "%s00", ok); /* trailing byte */
    assert_int_equal(decode_hex(tmp), ERR_INVAL);
    assert_int_equal(decode_hex(""), ERR_INVAL);
    assert_int_equal(decode_hex("01c0"), ERR_VERSION); /* EIP-2930 */
    assert_int_equal(decode_hex("03c0"), ERR_VERSION); /* blob */
    assert_int_equal(decode_hex("80"), ERR_INVAL);
    assert_int_equal(decode_hex("c0"), ERR_INVAL); /* no fields */
    assert_int_equal(decode_hex("02c0"), ERR_INVAL);
    assert_int_equal(decode_hex("0280"), ERR_INVAL);
    /* nonce with a leading zero: 0x8200 07 */
    assert_int_equal(
        decode_hex("f867820007"
                   "8506fc23ac0082c350943535353535353535353535353535353535353535018082f4f6a0"
                   "2b6c350088ed3e98380a7e16eda1b701331038c1a294c8a7604f533ae2539352a03b21075f7ed28"
                   "0362e37509e"
                   "5450c51f3b8de102b2347b1e7d846f8e5fc863f5"),
        ERR_INVAL);
    /* a 19-byte to */
    assert_int_equal(
        decode_hex(
            "f865078506fc23ac0082c3509335353535353535353535353535353535353535018082f4f6a02b6c3500"
            "88ed3e98380a7e16eda1b701331038c1a294c8a7604f533ae2539352a03b21075f7ed280362e37509e5450"
            "c5"
            "1f3b8de102b2347b1e7d846f8e5fc863f5"),
        ERR_INVAL);
    /* v = 35 (EIP-155 with chain id 0) */
    assert_int_equal(
        decode_hex(
            "f864078506fc23ac0082c350943535353535353535353535353535353535353535018023a02b6c3500"
            "88ed3e98380a7e16eda1b701331038c1a294c8a7604f533ae2539352a03b21075f7ed280362e37509e5450"
            "c5"
            "1f3b8de102b2347b1e7d846f8e5fc863f5"),
        ERR_INVAL);
    /* nonce 2^64-1 (EIP-2681) */
    assert_int_equal(decode_hex("f86e88ffffffffffffffff8506fc23ac0082c35094353535353535353535353535"
                                "3535353535353535018082f4f6a0"
                                "2b6c350088ed3e98380a7e16eda1b701331038c1a294c8a7604f533ae2539352a0"
                                "3b21075f7ed280362e37509e"
                                "5450c51f3b8de102b2347b1e7d846f8e5fc863f5"),
                     ERR_RANGE);
    /* type 2 with y_parity 2 and an access list entry whose address is 19 bytes */
    assert_int_equal(
        decode_hex("02f84a0180020382ea6094353535353535353535353535353535353535353580"
                   "80c002a06102eed15bce7e3107ee616d7eb7884ddf7bb33a46a1171fef75f9343813d6b7"
                   "80"),
        ERR_INVAL);
    assert_int_equal(
        decode_hex("02f84c0180020382ea6094353535353535353535353535353535353535353580"
                   "80c2c10101a06102eed15bce7e3107ee616d7eb7884ddf7bb33a46a1171fef75f9343813d6b7"
                   "80"),
        ERR_INVAL);
}

static void test_unprotected_and_errors(void **state)
{
    (void)state;
    struct key k;
    struct tx t, d;
    struct buf b;
    uint8_t from[20], h[32];
    assert_int_equal(key_from_hex(ANVIL_KEY, &k), ERR_OK);
    buf_init(&b, 0);
    /* chain id 0: pre-EIP-155 signing (six fields), v = 27/28, contract creation */
    tx_init(&t, TX_LEGACY, 0);
    t.gas_limit = 100000;
    assert_int_equal(buf_append(&t.data, "\x60\x00", 2), ERR_OK);
    assert_int_equal(tx_signing_payload(&t, &b), ERR_OK);
    assert_hex(b.data, b.len, "0xcb8080830186a08080826000");
    assert_int_equal(tx_sign(&t, &k), ERR_OK);
    buf_reset(&b);
    assert_int_equal(tx_encode_raw(&t, &b), ERR_OK);
    assert_int_equal(tx_decode_raw((const uint8_t *)b.data, b.len, &d), ERR_OK);
    assert_int_equal(d.chain_id, 0);
    assert_false(d.has_to);
    assert_int_equal(tx_recover_sender(&d, from), ERR_OK);
    assert_memory_equal(from, k.addr, 20);
    tx_release(&d);
    tx_release(&t);
    /* legacy chain id too large for v; unknown type; unsigned recover */
    tx_init(&t, TX_LEGACY, UINT64_MAX / 2);
    assert_int_equal(tx_signing_hash(&t, h), ERR_INVAL);
    assert_int_equal(tx_recover_sender(&t, from), ERR_STATE);
    t.type = (enum tx_type)1;
    assert_int_equal(tx_signing_hash(&t, h), ERR_INVAL);
    tx_release(&t);
    /* an output buffer too small leaves it unchanged */
    struct buf small;
    buf_init(&small, 8);
    assert_int_equal(buf_append(&small, "ab", 2), ERR_OK);
    tx_init(&t, TX_EIP1559, 1);
    assert_int_equal(tx_signing_payload(&t, &small), ERR_TOOBIG);
    assert_int_equal(small.len, 2);
    assert_string_equal(buf_cstr(&small), "ab");
    tx_release(&t);
    tx_release(NULL);
    buf_release(&small);
    buf_release(&b);
    key_wipe(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eip155_example),
        cmocka_unit_test(test_cast_vectors),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_unprotected_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
