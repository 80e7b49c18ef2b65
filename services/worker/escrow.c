/*
 * escrow -- LoomEscrow calls and transactions (see escrow.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "escrow.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "eth/abi.h"
#include "hex.h"
#include "eth/key.h"
#include "eth/rpc.h"
#include "eth/tx.h"
#include "msg.h"
#include "mono.h"

#define GETJOB_TYPE "(address,uint96,address,uint8,uint32,uint32,uint32,uint32,uint64,bytes32)"

/* The escrow's largest call (submit) stays under 80,000 gas (docs/contracts.md,
 * Gas); a transaction whose estimate is above this is not what we meant. */
#define ESCROW_MAX_GAS 500000
/* claim() measured 36,798 gas (docs/contracts.md, Gas); 60,000 leaves room
 * for a job reopened after a lapsed claim and for compiler changes, without
 * an eth_estimateGas round trip on the dispatch path. */
#define ESCROW_CLAIM_GAS 60000
/* A base fee read this recently (by the chainhead thread, or with getJob)
 * prices a transaction without reading the block again: at most a block or
 * two later on any chain we use (Scroll about 3 s a block, Ethereum 12 s),
 * well inside the six full blocks the 2x headroom of max_fee_per_gas covers.
 * The worker's chainhead thread reads every second, so this only runs out
 * when that thread cannot reach the node. */
#define ESCROW_BASE_FEE_TTL_NS 3000000000ull
/* Receipt polling interval: see escrow_wait(). */
#define ESCROW_POLL_MS 50

struct escrow {
    struct rpc *rpc;
    const struct key *k;
    uint8_t addr[20];
    uint64_t chain_id;
    uint64_t nonce;
    struct u256 tip_wei;
    struct abi_type *getjob_type;
    struct u256 base_fee;    /* the newest block's (escrow_set_fees(), or read with getJob) */
    uint64_t base_fee_ns;    /* CLOCK_MONOTONIC when read; 0: never */
    int nonce_stale;         /* the count is in doubt: re-read it before the next send */
    struct escrow_sent sent; /* of the last sign_send() that the node accepted */
};

static void rpc_fail(struct escrow *e, const char *what, struct buf *msg)
{
    msg_addf(msg, "%s: rpc: %s", what, rpc_errmsg(e->rpc));
}

enum err escrow_new(const char *rpc_url, const uint8_t escrow_addr[20], uint64_t chain_id,
                    const struct key *k, struct escrow **out, struct buf *msg)
{
    struct escrow *e = calloc(1, sizeof(*e));
    enum err err = ERR_NOMEM;
    uint64_t got_chain = 0;
    uint8_t tip[32];
    if (e == NULL)
        return ERR_NOMEM;
    e->k = k;
    e->chain_id = chain_id;
    memcpy(e->addr, escrow_addr, 20);
    /* stamp_sent: escrow_claim() reports when the claim was written. */
    struct rpc_opts ro = {.url = rpc_url, .stamp_sent = 1};
    if ((err = rpc_new(&ro, &e->rpc)) != ERR_OK) {
        msg_addf(msg, "bad rpc url");
        goto fail;
    }
    if ((err = abi_type_parse(GETJOB_TYPE, &e->getjob_type)) != ERR_OK)
        goto fail;
    if ((err = rpc_chain_id(e->rpc, &got_chain)) != ERR_OK) {
        rpc_fail(e, "eth_chainId", msg);
        goto fail;
    }
    if (got_chain != chain_id) {
        msg_addf(msg, "the node is on chain %llu, the deployment on %llu",
                 (unsigned long long)got_chain, (unsigned long long)chain_id);
        err = ERR_STATE;
        goto fail;
    }
    if ((err = rpc_get_transaction_count(e->rpc, k->addr, RPC_BLOCK_PENDING, &e->nonce)) !=
        ERR_OK) {
        rpc_fail(e, "eth_getTransactionCount", msg);
        goto fail;
    }
    if ((err = rpc_max_priority_fee(e->rpc, tip)) != ERR_OK) {
        rpc_fail(e, "eth_maxPriorityFeePerGas", msg);
        goto fail;
    }
    if ((err = u256_from_be(tip, 32, &e->tip_wei)) != ERR_OK)
        goto fail;
    *out = e;
    return ERR_OK;
fail:
    escrow_free(e);
    return err;
}

void escrow_free(struct escrow *e)
{
    if (e == NULL)
        return;
    abi_type_free(e->getjob_type);
    rpc_free(e->rpc);
    free(e);
}

void escrow_set_fees(struct escrow *e, struct u256 base_fee_wei, struct u256 tip_wei,
                     uint64_t read_ns)
{
    e->base_fee = base_fee_wei;
    e->tip_wei = tip_wei;
    e->base_fee_ns = read_ns;
}

static int fees_fresh(const struct escrow *e)
{
    return e->base_fee_ns != 0 && mono_ns() - e->base_fee_ns < ESCROW_BASE_FEE_TTL_NS;
}

/* Re-read the pending nonce count; on failure leave it marked stale. */
static enum err nonce_resync(struct escrow *e)
{
    enum err err = rpc_get_transaction_count(e->rpc, e->k->addr, RPC_BLOCK_PENDING, &e->nonce);
    e->nonce_stale = err != ERR_OK;
    return err;
}

/* Calldata of <sig> with one bytes32 argument, and a second when <w2>. */
static enum err calldata(const char *sig, const uint8_t *w1, const uint8_t *w2, struct buf *out)
{
    struct abi_value args = {0};
    size_t n = (w1 != NULL) + (w2 != NULL);
    enum err e = abi_value_items(&args, n);
    if (e == ERR_OK && w1 != NULL)
        e = abi_value_fixed_bytes(&args.items[0], w1, 32);
    if (e == ERR_OK && w2 != NULL)
        e = abi_value_fixed_bytes(&args.items[1], w2, 32);
    if (e == ERR_OK)
        e = abi_encode_call(sig, &args, out);
    abi_value_release(&args);
    return e;
}

static enum err view_call(struct escrow *e, const struct buf *data, uint8_t **ret, size_t *ret_len,
                          struct buf *msg)
{
    struct rpc_tx_call c = {
        .to = e->addr, .data = (const uint8_t *)data->data, .data_len = data->len};
    enum err err = rpc_eth_call(e->rpc, &c, RPC_BLOCK_LATEST, ret, ret_len);
    if (err != ERR_OK)
        rpc_fail(e, "eth_call", msg);
    return err;
}

static uint32_t word_u32(const struct abi_value *v)
{
    const uint8_t *w = v->word;
    return (uint32_t)w[28] << 24 | (uint32_t)w[29] << 16 | (uint32_t)w[30] << 8 | w[31];
}

/* getJob and the latest block in one HTTP request (a JSON-RPC batch): the
 * block's base fee prices the claim that usually follows at once. */
static enum err get_job_batch(struct escrow *e, const struct buf *data, uint8_t **ret,
                              size_t *ret_len, struct buf *msg)
{
    struct rpc_batch *b = NULL;
    struct buf params;
    const char *json = NULL;
    size_t len = 0, i_call = 0, i_block = 0;
    struct rpc_block blk;
    buf_init(&params, 0);
    enum err err = rpc_batch_new(&b);
    if (err == ERR_OK)
        err = buf_append_str(&params, "[{\"to\":");
    if (err == ERR_OK)
        err = buf_appendf(&params, "\"");
    if (err == ERR_OK)
        err = hex_append(&params, e->addr, 20, true);
    if (err == ERR_OK)
        err = buf_append_str(&params, "\",\"data\":\"");
    if (err == ERR_OK)
        err = hex_append(&params, data->data, data->len, true);
    if (err == ERR_OK)
        err = buf_append_str(&params, "\"},\"latest\"]");
    if (err == ERR_OK)
        err = rpc_batch_add(b, "eth_call", buf_cstr(&params), &i_call);
    if (err == ERR_OK)
        err = rpc_batch_add_get_block(b, RPC_BLOCK_LATEST, &i_block);
    if (err != ERR_OK)
        goto out;
    if ((err = rpc_call_batch(e->rpc, b)) != ERR_OK) {
        rpc_fail(e, "getJob", msg);
        goto out;
    }
    const struct rpc_error *re = NULL;
    if ((err = rpc_batch_result(b, i_call, &json, &len, &re)) != ERR_OK) {
        msg_addf(msg, "getJob: %s", re && re->message ? re->message : err_str(err));
        goto out;
    }
    /* The result is a JSON string: "0x..." */
    struct buf bytes;
    buf_init(&bytes, 0);
    if (len < 2 || json[0] != '"' || json[len - 1] != '"') {
        err = ERR_PROTO;
    } else {
        char *hexs = strndup(json + 1, len - 2);
        err = hexs ? hex_decode_buf(hexs, &bytes) : ERR_NOMEM;
        free(hexs);
    }
    if (err != ERR_OK) {
        buf_release(&bytes);
        msg_addf(msg, "getJob: the answer is not hex data");
        err = ERR_PROTO;
        goto out;
    }
    *ret_len = bytes.len;
    *ret = (uint8_t *)buf_detach(&bytes, ret_len);
    if (*ret == NULL) {
        err = ERR_NOMEM;
        goto out;
    }
    /* The base fee is a bonus: without it send_tx() reads the block itself. */
    if (rpc_batch_result(b, i_block, &json, &len, NULL) == ERR_OK &&
        rpc_parse_block(json, len, &blk, NULL) == ERR_OK && blk.has_base_fee &&
        u256_from_be(blk.base_fee_per_gas, 32, &e->base_fee) == ERR_OK)
        e->base_fee_ns = mono_ns();
out:
    rpc_batch_free(b);
    buf_release(&params);
    return err;
}

enum err escrow_get_job(struct escrow *e, const uint8_t job_id[32], struct escrow_job *out,
                        struct buf *msg)
{
    struct buf data;
    uint8_t *ret = NULL;
    size_t ret_len = 0;
    struct abi_value v = {0};
    buf_init(&data, 0);
    enum err err = calldata("getJob(bytes32)", job_id, NULL, &data);
    if (err != ERR_OK)
        goto out;
    /* With fees fresh, getJob alone (the node has less to do); otherwise the
     * newest block rides along in the same request. */
    err = fees_fresh(e) ? view_call(e, &data, &ret, &ret_len, msg)
                        : get_job_batch(e, &data, &ret, &ret_len, msg);
    if (err != ERR_OK)
        goto out;
    if (abi_decode(e->getjob_type, ret, ret_len, &v) != ERR_OK || v.n_items != 10) {
        msg_addf(msg, "getJob: answer of %zu bytes does not decode", ret_len);
        err = ERR_PROTO;
        goto out;
    }
    memset(out, 0, sizeof(*out));
    memcpy(out->client, v.items[0].word + 12, 20);
    out->amount = abi_value_u256(&v.items[1]);
    memcpy(out->worker, v.items[2].word + 12, 20);
    out->status = (enum escrow_status)v.items[3].word[31];
    out->deadline = word_u32(&v.items[4]);
    out->expiry = word_u32(&v.items[5]);
    out->max_runtime = word_u32(&v.items[6]);
    out->window = word_u32(&v.items[7]);
    if (u256_to_u64(abi_value_u256(&v.items[8]), &out->price_cents) != ERR_OK) {
        err = ERR_PROTO;
        goto out;
    }
    memcpy(out->spec_hash, v.items[9].word, 32);
out:
    abi_value_release(&v);
    free(ret);
    buf_release(&data);
    return err;
}

enum err escrow_balance_of(struct escrow *e, const uint8_t account[20], struct u256 *wei,
                           struct buf *msg)
{
    struct buf data;
    uint8_t *ret = NULL;
    size_t ret_len = 0;
    struct abi_value args = {0};
    buf_init(&data, 0);
    enum err err = abi_value_items(&args, 1);
    if (err == ERR_OK) {
        abi_value_address(&args.items[0], account);
        err = abi_encode_call("balanceOf(address)", &args, &data);
    }
    if (err == ERR_OK && (err = view_call(e, &data, &ret, &ret_len, msg)) == ERR_OK) {
        if (ret_len != 32) {
            msg_addf(msg, "balanceOf: answer of %zu bytes", ret_len);
            err = ERR_PROTO;
        } else {
            err = u256_from_be(ret, 32, wei);
        }
    }
    abi_value_release(&args);
    free(ret);
    buf_release(&data);
    return err;
}

/* Sign and send one transaction to the escrow with <data> at nonce e->nonce. */
static enum err sign_send(struct escrow *e, const struct buf *data, uint64_t gas,
                          struct u256 max_fee, uint8_t hash[32])
{
    struct tx t;
    struct buf raw;
    buf_init(&raw, 0);
    tx_init(&t, TX_EIP1559, e->chain_id);
    t.nonce = e->nonce;
    t.max_priority_fee_per_gas = e->tip_wei;
    t.max_fee_per_gas = max_fee;
    t.gas_limit = gas;
    t.has_to = true;
    memcpy(t.to, e->addr, 20);
    enum err err = buf_append(&t.data, data->data, data->len);
    if (err == ERR_OK)
        err = tx_sign(&t, e->k);
    if (err == ERR_OK)
        err = tx_encode_raw(&t, &raw);
    if (err == ERR_OK)
        err = tx_hash(&t, hash);
    if (err == ERR_OK) {
        uint8_t node_hash[32];
        err = rpc_send_raw_transaction(e->rpc, (const uint8_t *)raw.data, raw.len, node_hash);
        e->sent.accepted_ns = mono_ns();
        e->sent.sent_ns = rpc_last_sent_ns(e->rpc);
        if (err == ERR_RPC && rpc_error_kind(rpc_last_error(e->rpc)) == RPC_ERRKIND_ALREADY_KNOWN)
            err = ERR_OK;
        /* No stamp (cannot happen once the node answered): say the answer's time. */
        if (e->sent.sent_ns == 0)
            e->sent.sent_ns = e->sent.accepted_ns;
    }
    tx_release(&t);
    buf_release(&raw);
    return err;
}

/* Send <data> to the escrow. <fixed_gas> > 0 skips eth_estimateGas. */
static enum err send_tx(struct escrow *e, const char *what, const struct buf *data,
                        uint64_t fixed_gas, uint8_t tx_hash[32], struct buf *msg)
{
    struct rpc_tx_call c = {.to = e->addr,
                            .from = e->k->addr,
                            .data = (const uint8_t *)data->data,
                            .data_len = data->len};
    uint64_t gas = fixed_gas;
    struct rpc_block blk;
    struct u256 base = e->base_fee, max_fee;
    enum err err = fixed_gas > 0 ? ERR_OK : rpc_estimate_gas(e->rpc, &c, &gas);
    if (err == ERR_RPC && rpc_error_kind(rpc_last_error(e->rpc)) == RPC_ERRKIND_REVERTED) {
        msg_addf(msg, "%s would revert: %s", what, rpc_errmsg(e->rpc));
        return ERR_STATE;
    }
    if (err != ERR_OK) {
        rpc_fail(e, what, msg);
        return err;
    }
    if (fixed_gas == 0)
        gas += gas / 4;
    if (gas > ESCROW_MAX_GAS) {
        msg_addf(msg, "%s: estimate of %llu gas is implausible", what, (unsigned long long)gas);
        return ERR_PROTO;
    }
    int fresh = fees_fresh(e);
    if (!fresh && (err = rpc_get_block(e->rpc, RPC_BLOCK_LATEST, &blk)) != ERR_OK) {
        rpc_fail(e, "eth_getBlockByNumber", msg);
        return err;
    }
    if ((!fresh &&
         (!blk.has_base_fee || u256_from_be(blk.base_fee_per_gas, 32, &base) != ERR_OK)) ||
        u256_add(base, base, &max_fee) != ERR_OK ||
        u256_add(max_fee, e->tip_wei, &max_fee) != ERR_OK) {
        msg_addf(msg, "%s: the latest block has no usable base fee (pre-London chain?)", what);
        return ERR_PROTO;
    }
    if (e->nonce_stale && (err = nonce_resync(e)) != ERR_OK) {
        rpc_fail(e, "eth_getTransactionCount", msg);
        return err;
    }
    err = sign_send(e, data, gas, max_fee, tx_hash);
    enum rpc_errkind kind =
        err == ERR_RPC ? rpc_error_kind(rpc_last_error(e->rpc)) : RPC_ERRKIND_OTHER;
    if (kind == RPC_ERRKIND_NONCE_TOO_LOW || kind == RPC_ERRKIND_UNDERPRICED) {
        /* Our count is behind the node's: another sender used this key, or a
         * transaction we counted as failed reached the node after all (mined:
         * too low; still pending: a "replacement" of it at the same fee is
         * underpriced). Re-read it once. A pool that is truly full of cheaper
         * transactions answers underpriced again, and that is the error. */
        err = nonce_resync(e);
        if (err == ERR_OK)
            err = sign_send(e, data, gas, max_fee, tx_hash);
    }
    if (err != ERR_OK) {
        rpc_fail(e, what, msg);
        /* A transport failure may have reached the node, which then holds
         * this nonce: re-read the count now (or before the next send). A
         * refusal with an error object did not use it. */
        if (err != ERR_RPC)
            (void)nonce_resync(e);
        return err;
    }
    e->nonce++;
    return ERR_OK;
}

enum err escrow_claim(struct escrow *e, const uint8_t job_id[32], uint8_t tx_hash[32],
                      struct escrow_sent *sent, struct buf *msg)
{
    struct buf data;
    buf_init(&data, 0);
    enum err err = calldata("claim(bytes32)", job_id, NULL, &data);
    if (err == ERR_OK)
        err = send_tx(e, "claim", &data, ESCROW_CLAIM_GAS, tx_hash, msg);
    if (err == ERR_OK)
        *sent = e->sent;
    buf_release(&data);
    return err;
}

enum err escrow_submit(struct escrow *e, const uint8_t job_id[32], const uint8_t result_hash[32],
                       uint8_t tx_hash[32], struct buf *msg)
{
    struct buf data;
    buf_init(&data, 0);
    enum err err = calldata("submit(bytes32,bytes32)", job_id, result_hash, &data);
    if (err == ERR_OK)
        err = send_tx(e, "submit", &data, 0, tx_hash, msg);
    buf_release(&data);
    return err;
}

enum err escrow_withdraw(struct escrow *e, uint8_t tx_hash[32], struct buf *msg)
{
    struct buf data;
    struct abi_value none = {0};
    buf_init(&data, 0);
    enum err err = abi_encode_call("withdraw()", &none, &data);
    if (err == ERR_OK)
        err = send_tx(e, "withdraw", &data, 0, tx_hash, msg);
    buf_release(&data);
    return err;
}

enum err escrow_wait(struct escrow *e, const uint8_t tx_hash[32], long timeout_ms,
                     struct escrow_receipt *out, struct buf *msg)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct rpc_receipt r;
        memset(&r, 0, sizeof(r));
        enum err err = rpc_get_receipt(e->rpc, tx_hash, &r);
        if (err == ERR_OK) {
            struct u256 price;
            memset(out, 0, sizeof(*out));
            memcpy(out->tx_hash, tx_hash, 32);
            out->status = r.status;
            out->block_number = r.block_number;
            out->gas_used = r.gas_used;
            err = u256_from_be(r.effective_gas_price, 32, &price);
            if (err == ERR_OK)
                err = u256_mul(price, u256_from_u64(r.gas_used), &out->fee_wei);
            rpc_receipt_release(&r);
            return err;
        }
        if (err != ERR_NOTFOUND) {
            rpc_fail(e, "eth_getTransactionReceipt", msg);
            return err;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed >= timeout_ms) {
            msg_addf(msg, "transaction not mined after %ld ms", timeout_ms);
            /* The node may have dropped it: then our count is ahead of its. */
            (void)nonce_resync(e);
            return ERR_TIMEDOUT;
        }
        struct timespec pause = {0, ESCROW_POLL_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
}
