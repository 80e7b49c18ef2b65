/*
 * Integration tests for common/eth/rpc against a real anvil chain.
 *
 * Run by tests/integration/rpc_anvil.sh, which sets LOOM_TEST_RPC_URL (the
 * harness's anvil, chain id 31337) and makes two transactions with cast
 * first, passing what cast reported in LOOM_RPC_* variables; the tests check
 * that this client reads the same values back. Without LOOM_TEST_RPC_URL
 * (the plain unit-test run) every test is skipped.
 * The chain is shared with other integration scripts, so balances are
 * checked on a fresh random account funded with anvil_setBalance, never on
 * the dev accounts.
 *
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "buf.h"
#include "eth/hexq.h"
#include "eth/rpc.h"

/* keccak256("Hello(uint256)"), the topic the cast-deployed constructor logs. */
#define HELLO_TOPIC "0x775a94827b8fd9b519d36cd827093c664f93347070a554f65e4a6f56cd738898"
/* 10,000 ether = 10^22 wei, anvil's dev-account balance. */
#define TEN_K_ETH "0x21e19e0c9bab2400000"

static struct rpc *client(void)
{
    const char *url = getenv("LOOM_TEST_RPC_URL");
    if (url == NULL || *url == '\0')
        return NULL;
    struct rpc_opts o = {0};
    o.url = url;
    o.timeout_ms = 10000;
    struct rpc *c = NULL;
    assert_int_equal(rpc_new(&o, &c), ERR_OK);
    return c;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL)
        fail_msg("%s is not set: run through tests/integration/rpc_anvil.sh", name);
    return v;
}

static void env_fixed(const char *name, uint8_t *out, size_t n)
{
    const char *v = env(name);
    assert_int_equal(hexq_parse_fixed(v, strlen(v), out, n), ERR_OK);
}

static uint64_t env_u64(const char *name)
{
    const char *v = env(name);
    uint64_t x = 0;
    assert_int_equal(hexq_parse_u64(v, strlen(v), &x), ERR_OK);
    return x;
}

static void u256_text(const uint8_t v[32], struct buf *b)
{
    buf_reset(b);
    assert_int_equal(hexq_append_u256(b, v), ERR_OK);
}

/* Call a method whose result we only need to succeed; return it (free()). */
static char *raw(struct rpc *c, const char *method, const char *params)
{
    char *res = NULL;
    enum err e = rpc_call_raw(c, method, params, &res, NULL);
    if (e != ERR_OK)
        fail_msg("%s: %s: %s", method, err_str(e), rpc_errmsg(c));
    return res;
}

static void test_chain_id(void **state)
{
    (void)state;
    struct rpc *c = client();
    if (c == NULL)
        skip();
    uint64_t id = 0;
    assert_int_equal(rpc_chain_id(c, &id), ERR_OK);
    assert_int_equal(id, 31337);
    rpc_free(c);
}

static void test_block_number_advances(void **state)
{
    (void)state;
    struct rpc *c = client();
    if (c == NULL)
        skip();
    uint64_t n = 0, n2 = 0;
    assert_int_equal(rpc_block_number(c, &n), ERR_OK);
    struct rpc_block before, after;
    assert_int_equal(rpc_get_block(c, RPC_BLOCK_NUM(n), &before), ERR_OK);
    free(raw(c, "evm_mine", NULL));
    assert_int_equal(rpc_block_number(c, &n2), ERR_OK);
    assert_int_equal(n2, n + 1);
    assert_int_equal(rpc_get_block(c, RPC_BLOCK_LATEST, &after), ERR_OK);
    assert_int_equal(after.number, n + 1);
    assert_true(after.has_hash);
    assert_memory_equal(after.parent_hash, before.hash, 32);
    assert_true(after.timestamp >= before.timestamp);
    assert_int_equal(after.gas_limit, 30000000); /* anvil's default block gas limit */
    assert_int_equal(after.gas_used, 0);         /* an empty mined block */
    assert_true(after.has_base_fee);
    /* A block that does not exist yet. */
    assert_int_equal(rpc_get_block(c, RPC_BLOCK_NUM(n2 + 1000), &after), ERR_NOTFOUND);
    rpc_free(c);
}

/* A fresh random account, funded with 10,000 ether; its address as text. */
static void fresh_account(struct rpc *c, uint8_t addr[20], struct buf *text)
{
    assert_int_equal(getrandom(addr, 20, 0), 20);
    buf_reset(text);
    assert_int_equal(hexq_append_data(text, addr, 20), ERR_OK);
    struct buf p;
    buf_init(&p, 0);
    assert_int_equal(buf_appendf(&p, "[\"%s\",\"" TEN_K_ETH "\"]", buf_cstr(text)), ERR_OK);
    free(raw(c, "anvil_setBalance", buf_cstr(&p)));
    buf_reset(&p);
    assert_int_equal(buf_appendf(&p, "[\"%s\"]", buf_cstr(text)), ERR_OK);
    free(raw(c, "anvil_impersonateAccount", buf_cstr(&p)));
    buf_release(&p);
}

static void test_balance(void **state)
{
    (void)state;
    struct rpc *c = client();
    if (c == NULL)
        skip();
    uint8_t addr[20], wei[32];
    struct buf t, v;
    buf_init(&t, 0);
    buf_init(&v, 0);
    fresh_account(c, addr, &t);
    assert_int_equal(rpc_get_balance(c, addr, RPC_BLOCK_LATEST, wei), ERR_OK);
    u256_text(wei, &v);
    assert_string_equal(buf_cstr(&v), TEN_K_ETH);
    uint8_t nobody[20];
    assert_int_equal(getrandom(nobody, 20, 0), 20);
    assert_int_equal(rpc_get_balance(c, nobody, RPC_BLOCK_LATEST, wei), ERR_OK);
    u256_text(wei, &v);
    assert_string_equal(buf_cstr(&v), "0x0");
    buf_release(&t);
    buf_release(&v);
    rpc_free(c);
}

static int automine_on(void **state)
{
    (void)state;
    struct rpc *c = client();
    if (c != NULL) {
        char *res = NULL;
        if (rpc_call_raw(c, "evm_setAutomine", "[true]", &res, NULL) == ERR_OK)
            free(res);
        rpc_free(c);
    }
    return 0;
}

static void test_nonce_pending_and_receipt(void **state)
{
    (void)state;
    struct rpc *c = client();
    if (c == NULL)
        skip();
    uint8_t addr[20];
    struct buf t, p;
    buf_init(&t, 0);
    buf_init(&p, 0);
    fresh_account(c, addr, &t);
    uint64_t latest = 99, pending = 99;
    assert_int_equal(rpc_get_transaction_count(c, addr, RPC_BLOCK_LATEST, &latest), ERR_OK);
    assert_int_equal(rpc_get_transaction_count(c, addr, RPC_BLOCK_PENDING, &pending), ERR_OK);
    assert_int_equal(latest, 0);
    assert_int_equal(pending, 0);

    /* With automine off the transaction waits in the pool. */
    free(raw(c, "evm_setAutomine", "[false]"));
    assert_int_equal(buf_appendf(&p,
                                 "[{\"from\":\"%s\",\"to\":"
                                 "\"0x000000000000000000000000000000000000dead\",\"value\":"
                                 "\"0x3039\",\"gas\":\"0x5208\"}]",
                                 buf_cstr(&t)),
                     ERR_OK);
    char *hash_json = raw(c, "eth_sendTransaction", buf_cstr(&p));
    /* "0x<64 hex>" with quotes */
    assert_int_equal(strlen(hash_json), 68);
    uint8_t tx[32];
    assert_int_equal(hexq_parse_fixed(hash_json + 1, 66, tx, 32), ERR_OK);
    free(hash_json);
    assert_int_equal(rpc_get_transaction_count(c, addr, RPC_BLOCK_LATEST, &latest), ERR_OK);
    assert_int_equal(rpc_get_transaction_count(c, addr, RPC_BLOCK_PENDING, &pending), ERR_OK);
    assert_int_equal(latest, 0);
    assert_int_equal(pending, 1);
    struct rpc_receipt r;
    assert_int_equal(rpc_get_receipt(c, tx, &r), ERR_NOTFOUND);

    free(raw(c, "evm_mine", NULL));
    free(raw(c, "evm_setAutomine", "[true]"));
    assert_int_equal(rpc_get_transaction_count(c, addr, RPC_BLOCK_LATEST, &latest), ERR_OK);
    assert_int_equal(latest, 1);
    uint64_t head = 0;
    assert_int_equal(rpc_block_number(c, &head), ERR_OK);
    assert_int_equal(rpc_get_receipt(c, tx, &r), ERR_OK);
    assert_memory_equal(r.tx_hash, tx, 32);
    assert_int_equal(r.status, 1);
    assert_memory_equal(r.from, addr, 20);
    assert_true(r.has_to);
    assert_int_equal(r.to[18], 0xde);
    assert_int_equal(r.to[19], 0xad);
    assert_int_equal(r.block_number, head);
    assert_int_equal(r.gas_used, 21000);
    assert_int_equal(r.logs.count, 0);
    rpc_receipt_release(&r);

    uint8_t wei[32];
    uint8_t dead[20] = {0};
    dead[18] = 0xde;
    dead[19] = 0xad;
    assert_int_equal(rpc_get_balance(c, dead, RPC_BLOCK_NUM(head), wei), ERR_OK);
    assert_true(wei[30] != 0 || wei[31] != 0); /* holds at least our 12345 wei */

    /* Sending the same nonce again: the node's error passes up intact. */
    buf_reset(&p);
    assert_int_equal(buf_appendf(&p,
                                 "[{\"from\":\"%s\",\"to\":"
                                 "\"0x000000000000000000000000000000000000dead\",\"nonce\":"
                                 "\"0x0\",\"gas\":\"0x5208\"}]",
                                 buf_cstr(&t)),
                     ERR_OK);
    char *res = NULL;
    assert_int_equal(rpc_call_raw(c, "eth_sendTransaction", buf_cstr(&p), &res, NULL), ERR_RPC);
    assert_int_equal(rpc_error_kind(rpc_last_error(c)), RPC_ERRKIND_NONCE_TOO_LOW);
    buf_release(&t);
    buf_release(&p);
    rpc_free(c);
}

static void test_fee_history_shape(void **state)
{
    (void)state;
    struct rpc *c = client();
    if (c == NULL)
        skip();
    free(raw(c, "evm_mine", NULL)); /* at least 2 blocks exist */
    uint64_t head = 0;
    assert_int_equal(rpc_block_number(c, &head), ERR_OK);
    const double pct[3] = {10, 50, 90};
    struct rpc_fee_history h;
    assert_int_equal(rpc_fee_history(c, 2, RPC_BLOCK_NUM(head), pct, 3, &h), ERR_OK);
    assert_int_equal(h.n_blocks, 2);
    assert_int_equal(h.oldest_block, head - 1);
    assert_int_equal(h.n_percentiles, 3);
    assert_non_null(h.reward);
    /* base_fee_per_gas[1] is block head's base fee. */
    struct rpc_block b;
    assert_int_equal(rpc_get_block(c, RPC_BLOCK_NUM(head), &b), ERR_OK);
    assert_memory_equal(h.base_fee_per_gas[1], b.base_fee_per_gas, 32);
    for (size_t i = 0; i < h.n_blocks; i++)
        assert_true(h.gas_used_ratio[i] >= 0 && h.gas_used_ratio[i] <= 1);
    rpc_fee_history_release(&h);
    uint8_t tip[32];
    assert_int_equal(rpc_max_priority_fee(c, tip), ERR_OK);
    struct buf v;
    buf_init(&v, 0);
    u256_text(tip, &v);
    assert_string_equal(buf_cstr(&v), "0x3b9aca00"); /* anvil suggests 1 gwei */
    buf_release(&v);
    rpc_free(c);
}

static void test_logs_match_cast(void **state)
{
    (void)state;
    struct rpc *c = client();
    if (c == NULL)
        skip();
    uint8_t tx[32], contract[20], block_hash[32], topic[32];
    env_fixed("LOOM_RPC_CREATE_TX", tx, 32);
    env_fixed("LOOM_RPC_CREATE_CONTRACT", contract, 20);
    env_fixed("LOOM_RPC_CREATE_BLOCK_HASH", block_hash, 32);
    uint64_t block = env_u64("LOOM_RPC_CREATE_BLOCK");
    uint64_t log_index = env_u64("LOOM_RPC_CREATE_LOG_INDEX");
    const char *th = HELLO_TOPIC;
    assert_int_equal(hexq_parse_fixed(th, strlen(th), topic, 32), ERR_OK);

    struct rpc_log_filter f = {0};
    f.from_block = RPC_BLOCK_NUM(block);
    f.to_block = RPC_BLOCK_NUM(block);
    f.addresses = (const uint8_t(*)[20])contract;
    f.n_addresses = 1;
    struct rpc_logs logs;
    assert_int_equal(rpc_get_logs(c, &f, &logs), ERR_OK);
    assert_int_equal(logs.count, 1);
    const struct rpc_log *l = &logs.items[0];
    assert_memory_equal(l->address, contract, 20);
    assert_int_equal(l->n_topics, 1);
    assert_memory_equal(l->topics[0], topic, 32);
    assert_int_equal(l->data_len, 32);
    assert_int_equal(l->data[31], 42);
    assert_int_equal(l->block_number, block);
    assert_memory_equal(l->block_hash, block_hash, 32);
    assert_memory_equal(l->tx_hash, tx, 32);
    assert_int_equal(l->log_index, log_index);
    assert_false(l->removed);
    rpc_logs_release(&logs);

    /* By topic (an OR-list with a topic nobody emits) up to latest. */
    uint8_t topics[2][32];
    memcpy(topics[0], topic, 32);
    memset(topics[1], 0x5a, 32);
    memset(&f, 0, sizeof f);
    f.from_block = RPC_BLOCK_NUM(block);
    f.to_block = RPC_BLOCK_LATEST;
    f.topics[0] = (struct rpc_topic_filter){(const uint8_t(*)[32])topics, 2};
    f.n_topics = 1;
    assert_int_equal(rpc_get_logs(c, &f, &logs), ERR_OK);
    assert_true(logs.count >= 1);
    assert_memory_equal(logs.items[0].tx_hash, tx, 32);
    rpc_logs_release(&logs);
    /* A second topic position that the log does not have: nothing. */
    f.topics[1] = (struct rpc_topic_filter){(const uint8_t(*)[32])topics[1], 1};
    f.n_topics = 2;
    assert_int_equal(rpc_get_logs(c, &f, &logs), ERR_OK);
    assert_int_equal(logs.count, 0);
    rpc_logs_release(&logs);

    /* The same through a batch, with the receipt. */
    struct rpc_batch *b = NULL;
    assert_int_equal(rpc_batch_new(&b), ERR_OK);
    size_t ir, ib;
    assert_int_equal(rpc_batch_add_get_receipt(b, tx, &ir), ERR_OK);
    assert_int_equal(rpc_batch_add_get_block(b, RPC_BLOCK_NUM(block), &ib), ERR_OK);
    assert_int_equal(rpc_call_batch(c, b), ERR_OK);
    const char *json = NULL;
    size_t len = 0;
    assert_int_equal(rpc_batch_result(b, ir, &json, &len, NULL), ERR_OK);
    struct rpc_receipt r;
    assert_int_equal(rpc_parse_receipt(json, len, &r, NULL), ERR_OK);
    assert_false(r.has_to);
    assert_true(r.has_contract_address);
    assert_memory_equal(r.contract_address, contract, 20);
    assert_int_equal(r.logs.count, 1);
    assert_memory_equal(r.logs.items[0].topics[0], topic, 32);
    rpc_receipt_release(&r);
    assert_int_equal(rpc_batch_result(b, ib, &json, &len, NULL), ERR_OK);
    struct rpc_block blk;
    assert_int_equal(rpc_parse_block(json, len, &blk, NULL), ERR_OK);
    assert_memory_equal(blk.hash, block_hash, 32);
    rpc_batch_free(b);

    /* eth_call to the deployed contract (no code: empty return). */
    struct rpc_tx_call call = {contract, NULL, NULL, 0, NULL, 0};
    uint8_t *out = NULL;
    size_t out_len = 9;
    assert_int_equal(rpc_eth_call(c, &call, RPC_BLOCK_LATEST, &out, &out_len), ERR_OK);
    assert_int_equal(out_len, 0);
    free(out);
    rpc_free(c);
}

static void test_receipt_matches_cast(void **state)
{
    (void)state;
    struct rpc *c = client();
    if (c == NULL)
        skip();
    uint8_t tx[32], from[20], to[20], block_hash[32], price[32];
    env_fixed("LOOM_RPC_TRANSFER_TX", tx, 32);
    env_fixed("LOOM_RPC_TRANSFER_FROM", from, 20);
    env_fixed("LOOM_RPC_TRANSFER_TO", to, 20);
    env_fixed("LOOM_RPC_TRANSFER_BLOCK_HASH", block_hash, 32);
    const char *ps = env("LOOM_RPC_TRANSFER_GAS_PRICE");
    assert_int_equal(hexq_parse_u256(ps, strlen(ps), price), ERR_OK);
    struct rpc_receipt r;
    assert_int_equal(rpc_get_receipt(c, tx, &r), ERR_OK);
    assert_memory_equal(r.tx_hash, tx, 32);
    assert_int_equal(r.status, 1);
    assert_memory_equal(r.from, from, 20);
    assert_true(r.has_to);
    assert_memory_equal(r.to, to, 20);
    assert_false(r.has_contract_address);
    assert_int_equal(r.block_number, env_u64("LOOM_RPC_TRANSFER_BLOCK"));
    assert_memory_equal(r.block_hash, block_hash, 32);
    assert_int_equal(r.gas_used, 21000);
    assert_memory_equal(r.effective_gas_price, price, 32);
    assert_int_equal(r.logs.count, 0);
    rpc_receipt_release(&r);

    /* The sender's nonce after its two cast transactions. */
    uint64_t nonce = 0;
    assert_int_equal(rpc_get_transaction_count(c, from, RPC_BLOCK_LATEST, &nonce), ERR_OK);
    assert_int_equal(nonce, 2);
    assert_int_equal(rpc_get_transaction_count(c, from, RPC_BLOCK_PENDING, &nonce), ERR_OK);
    assert_int_equal(nonce, 2);
    /* The recipient received exactly the 12345 wei cast sent. */
    uint8_t wei[32];
    assert_int_equal(rpc_get_balance(c, to, RPC_BLOCK_LATEST, wei), ERR_OK);
    struct buf v;
    buf_init(&v, 0);
    u256_text(wei, &v);
    assert_string_equal(buf_cstr(&v), "0x3039");
    buf_release(&v);
    /* eth_estimateGas of a plain transfer is 21000. */
    struct rpc_tx_call call = {to, from, NULL, 0, NULL, 0};
    uint64_t gas = 0;
    assert_int_equal(rpc_estimate_gas(c, &call, &gas), ERR_OK);
    assert_int_equal(gas, 21000);
    rpc_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_id),
        cmocka_unit_test(test_block_number_advances),
        cmocka_unit_test(test_balance),
        cmocka_unit_test_teardown(test_nonce_pending_and_receipt, automine_on),
        cmocka_unit_test(test_fee_history_shape),
        cmocka_unit_test(test_logs_match_cast),
        cmocka_unit_test(test_receipt_matches_cast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
