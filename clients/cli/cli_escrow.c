/*
 * cli_escrow -- LoomEscrow calls and client transactions; see cli_escrow.h.
 * SPDX-License-Identifier: MIT
 */
#include "cli_escrow.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eth/abi.h"
#include "hex.h"
#include "eth/keccak.h"
#include "eth/key.h"
#include "eth/tx.h"
#include "json.h"
#include "mono.h"

/* deploy.sh's JSON carries two ABIs: about 60 KiB; 16 MiB is ample. */
#define DEPLOYMENT_MAX   ((size_t)16 << 20)
#define DEPLOYMENT_DEPTH 64

const char cli_escrow_job_created_sig[] =
    "JobCreated(bytes32 indexed jobId, address indexed client, bytes32 ref, uint64 priceCents, "
    "uint256 amount, bytes32 specHash, uint32 deadline, uint32 maxRuntime, uint32 window)";

/* The contract's custom errors (contracts/src/LoomEscrow.sol), for naming
 * reverts; Status is an enum, which the ABI encodes as uint8. */
static const char *const error_sigs[] = {
    "ZeroAddress()",
    "BadFeedDecimals(uint8)",
    "Paused()",
    "NotGuardian()",
    "NotArbiter()",
    "NotClient(bytes32)",
    "NotWorker(bytes32)",
    "JobExists(bytes32)",
    "WrongStatus(bytes32,uint8)",
    "ZeroPrice()",
    "ZeroHash()",
    "BadDeadline(uint256)",
    "BadDuration(uint256)",
    "AmountTooLarge(uint256)",
    "InsufficientPayment(uint256,uint256)",
    "InvalidPrice(int256)",
    "IncompleteRound(uint80)",
    "StalePrice(uint256)",
    "FuturePrice(uint256)",
    "SequencerDown()",
    "GracePeriodNotOver(uint256)",
    "ClientCannotClaim(bytes32)",
    "LapsedWorker(bytes32)",
    "DeadlinePassed(bytes32,uint32)",
    "DeadlineNotPassed(bytes32,uint32)",
    "ClaimLapsed(bytes32,uint32)",
    "ClaimNotLapsed(bytes32,uint32)",
    "WindowOpen(bytes32,uint32)",
    "WindowClosed(bytes32,uint32)",
    "SplitTooLarge(uint256,uint256)",
    "NothingToWithdraw()",
    "TransferFailed()",
    "BatchTooLarge(uint256)",
    "ReentrancyGuardReentrantCall()",
};

struct cli_escrow {
    struct rpc *rpc;
    struct cli_escrow_deployment dep;
};

static void why_set(struct buf *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why_set(struct buf *why, const char *fmt, ...)
{
    va_list ap;
    buf_reset(why);
    va_start(ap, fmt);
    if (buf_vappendf(why, fmt, ap) != ERR_OK)
        buf_reset(why);
    va_end(ap);
}

enum err cli_escrow_load_deployment(const char *path, struct cli_escrow_deployment *out,
                                    struct buf *why)
{
    struct buf text;
    struct cJSON *root = NULL;
    struct json_err je;
    int64_t chain = 0;
    enum err e = ERR_OK;

    json_err_init(&je);
    buf_init(&text, DEPLOYMENT_MAX);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        e = errno == ENOENT ? ERR_NOTFOUND : ERR_IO;
        why_set(why,
                "cannot read deployment file \"%s\": %s (set LOOM_DEPLOYMENT or --deployment "
                "to contracts/deploy.sh's output)",
                path, strerror(errno));
        goto out;
    }
    while (e == ERR_OK) {
        if ((e = buf_reserve(&text, 65536)) != ERR_OK)
            break;
        ssize_t n = read(fd, text.data + text.len, 65536);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            e = ERR_IO;
        if (n <= 0)
            break;
        text.len += (size_t)n;
        text.data[text.len] = '\0';
    }
    close(fd);
    if (e != ERR_OK) {
        why_set(why, "cannot read deployment file \"%s\": %s", path, err_str(e));
        goto out;
    }
    e = json_parse(text.data ? text.data : "", text.len, DEPLOYMENT_MAX, DEPLOYMENT_DEPTH, &root,
                   &je);
    if (e == ERR_OK)
        e = json_get_int(root, "chainId", JSON_REQUIRED, 1, JSON_INT_MAX, &chain, &je);
    if (e == ERR_OK)
        e = json_get_addr(root, "escrow", JSON_REQUIRED, out->escrow, &je);
    if (e != ERR_OK) {
        why_set(why, "bad deployment file \"%s\": %s%s%s", path, je.path, je.path[0] ? ": " : "",
                je.message[0] ? je.message : err_str(e));
        if (e != ERR_NOMEM && e != ERR_TOOBIG)
            e = ERR_INVAL;
        goto out;
    }
    out->chain_id = (uint64_t)chain;
out:
    json_free(root);
    buf_release(&text);
    return e;
}

/* Describe an rpc failure: the node's message for ERR_RPC (and the
 * contract's error when the revert data names one), else rpc_errmsg(). */
static void rpc_why(struct cli_escrow *x, enum err e, struct buf *why)
{
    buf_reset(why);
    const struct rpc_error *re = e == ERR_RPC ? rpc_last_error(x->rpc) : NULL;
    if (re == NULL) {
        why_set(why, "rpc: %s", rpc_errmsg(x->rpc)[0] ? rpc_errmsg(x->rpc) : err_str(e));
        return;
    }
    if (re->data != NULL && re->data_len >= 4) {
        if (buf_append_str(why, "escrow reverted: ") != ERR_OK ||
            cli_escrow_revert_reason(re->data, re->data_len, why) != ERR_OK)
            buf_reset(why);
        return;
    }
    why_set(why, "rpc: %s", re->message ? re->message : "error");
}

enum err cli_escrow_open(const char *rpc_url, const char *deployment_path, long timeout_ms,
                         struct cli_escrow **out, struct buf *why)
{
    struct cli_escrow *x = calloc(1, sizeof(*x));
    uint64_t chain = 0;
    enum err e;
    if (x == NULL)
        return ERR_NOMEM;
    if ((e = cli_escrow_load_deployment(deployment_path, &x->dep, why)) != ERR_OK)
        goto fail;
    /* Two attempts: the CLI runs once and a person is waiting; a node that
     * is down should be reported quickly, not after rpc.h's four tries. */
    struct rpc_opts o = {.url = rpc_url, .timeout_ms = timeout_ms, .max_attempts = 2};
    if ((e = rpc_new(&o, &x->rpc)) != ERR_OK) {
        why_set(why, "bad RPC URL \"%s\" (want http:// or https://)", rpc_url ? rpc_url : "");
        goto fail;
    }
    if ((e = rpc_chain_id(x->rpc, &chain)) != ERR_OK) {
        rpc_why(x, e, why);
        goto fail;
    }
    if (chain != x->dep.chain_id) {
        why_set(why,
                "the node at the RPC URL is chain %llu but deployment \"%s\" is for chain %llu",
                (unsigned long long)chain, deployment_path, (unsigned long long)x->dep.chain_id);
        e = ERR_STATE;
        goto fail;
    }
    *out = x;
    return ERR_OK;
fail:
    cli_escrow_free(x);
    return e;
}

void cli_escrow_free(struct cli_escrow *x)
{
    if (x == NULL)
        return;
    rpc_free(x->rpc);
    free(x);
}

const struct cli_escrow_deployment *cli_escrow_deployment(const struct cli_escrow *x)
{
    return &x->dep;
}

void cli_escrow_ref_of(int64_t id, uint8_t ref[32])
{
    u256_to_be(u256_from_u64((uint64_t)id), ref);
}

void cli_escrow_job_id(const uint8_t client[20], const uint8_t ref[32], uint8_t out[32])
{
    uint8_t enc[64];
    memset(enc, 0, 12);
    memcpy(enc + 12, client, 20);
    memcpy(enc + 32, ref, 32);
    keccak256(enc, sizeof(enc), out);
}

const char *cli_escrow_status_name(int s)
{
    static const char *const names[] = {"None",     "Open",     "Claimed",  "Submitted",
                                        "Disputed", "Released", "Refunded", "Resolved"};
    return s >= 0 && s < 8 ? names[s] : "?";
}

enum err cli_escrow_revert_reason(const uint8_t *data, size_t len, struct buf *out)
{
    uint8_t sel[4];
    if (len >= 4) {
        for (size_t i = 0; i < sizeof(error_sigs) / sizeof(error_sigs[0]); i++)
            if (abi_selector(error_sigs[i], sel) == ERR_OK && memcmp(sel, data, 4) == 0)
                return buf_append_str(out, error_sigs[i]);
        /* Error(string), selector 0x08c379a0 (Solidity docs, "Error handling"). */
        if (abi_selector("Error(string)", sel) == ERR_OK && memcmp(sel, data, 4) == 0) {
            struct abi_type *t = NULL;
            struct abi_value v;
            memset(&v, 0, sizeof(v));
            enum err e = abi_type_parse("(string)", &t);
            if (e == ERR_OK && (e = abi_decode(t, data + 4, len - 4, &v)) == ERR_OK &&
                v.n_items == 1 && json_utf8_valid((const char *)v.items[0].bytes, v.items[0].len))
                e = buf_appendf(out, "Error: %s", (const char *)v.items[0].bytes);
            else
                e = buf_append_str(out, "Error(string)");
            abi_value_release(&v);
            abi_type_free(t);
            return e;
        }
    }
    enum err e = buf_append_str(out, "unknown error ");
    if (e == ERR_OK)
        e = hex_append(out, data, len < 4 ? len : 4, true);
    return e;
}

/* eth_call <data> against the escrow; the answer in *ret (caller frees). */
static enum err view_call(struct cli_escrow *x, const struct buf *data, uint8_t **ret,
                          size_t *ret_len, struct buf *why)
{
    struct rpc_tx_call msg = {
        .to = x->dep.escrow, .data = (const uint8_t *)data->data, .data_len = data->len};
    enum err e = rpc_eth_call(x->rpc, &msg, RPC_BLOCK_LATEST, ret, ret_len);
    if (e != ERR_OK)
        rpc_why(x, e, why);
    return e;
}

/* eth_call returning one uint256 word. */
static enum err view_word(struct cli_escrow *x, const struct buf *data, struct u256 *out,
                          struct buf *why)
{
    uint8_t *ret = NULL;
    size_t n = 0;
    enum err e = view_call(x, data, &ret, &n, why);
    if (e == ERR_OK && n != 32) {
        why_set(why,
                "escrow answered %zu bytes, want one 32-byte word (is \"escrow\" in the "
                "deployment file a LoomEscrow?)",
                n);
        e = ERR_PROTO;
    }
    if (e == ERR_OK)
        e = u256_from_be(ret, 32, out);
    free(ret);
    return e;
}

enum err cli_escrow_quote(struct cli_escrow *x, uint64_t cents, struct u256 *wei, struct buf *why)
{
    struct abi_value args;
    struct buf data;
    memset(&args, 0, sizeof(args));
    buf_init(&data, 0);
    enum err e = abi_value_items(&args, 1);
    if (e == ERR_OK) {
        abi_value_uint(&args.items[0], u256_from_u64(cents));
        e = abi_encode_call("quote(uint64)", &args, &data);
    }
    if (e == ERR_OK)
        e = view_word(x, &data, wei, why);
    abi_value_release(&args);
    buf_release(&data);
    return e;
}

enum err cli_escrow_balance_of(struct cli_escrow *x, const uint8_t addr[20], struct u256 *wei,
                               struct buf *why)
{
    struct abi_value args;
    struct buf data;
    memset(&args, 0, sizeof(args));
    buf_init(&data, 0);
    enum err e = abi_value_items(&args, 1);
    if (e == ERR_OK) {
        abi_value_address(&args.items[0], addr);
        e = abi_encode_call("balanceOf(address)", &args, &data);
    }
    if (e == ERR_OK)
        e = view_word(x, &data, wei, why);
    abi_value_release(&args);
    buf_release(&data);
    return e;
}

static uint64_t word_u64(const struct abi_value *v)
{
    uint64_t r = 0;
    if (u256_to_u64(abi_value_u256(v), &r) != ERR_OK)
        r = UINT64_MAX; /* cannot happen: the decoder checked the type's width */
    return r;
}

enum err cli_escrow_get_job(struct cli_escrow *x, const uint8_t job_id[32],
                            struct cli_escrow_job *out, struct buf *why)
{
    struct abi_value args, ret;
    struct abi_type *t = NULL;
    struct buf data;
    uint8_t *raw = NULL;
    size_t n = 0;
    enum err e;

    memset(&args, 0, sizeof(args));
    memset(&ret, 0, sizeof(ret));
    memset(out, 0, sizeof(*out));
    buf_init(&data, 0);
    if ((e = abi_value_items(&args, 1)) != ERR_OK ||
        (e = abi_value_fixed_bytes(&args.items[0], job_id, 32)) != ERR_OK ||
        (e = abi_encode_call("getJob(bytes32)", &args, &data)) != ERR_OK)
        goto out;
    if ((e = view_call(x, &data, &raw, &n, why)) != ERR_OK)
        goto out;
    if ((e = abi_type_parse("(address,uint96,address,uint8,uint32,uint32,uint32,uint32,uint64,"
                            "bytes32)",
                            &t)) != ERR_OK)
        goto out;
    if ((e = abi_decode(t, raw, n, &ret)) != ERR_OK || ret.n_items != 10) {
        why_set(why, "escrow's getJob answer does not decode (%zu bytes)", n);
        e = ERR_PROTO;
        goto out;
    }
    memcpy(out->client, ret.items[0].word + 12, 20);
    out->amount_wei = abi_value_u256(&ret.items[1]);
    memcpy(out->worker, ret.items[2].word + 12, 20);
    out->status = (int)word_u64(&ret.items[3]);
    out->deadline = (uint32_t)word_u64(&ret.items[4]);
    out->expiry = (uint32_t)word_u64(&ret.items[5]);
    out->max_runtime_s = (uint32_t)word_u64(&ret.items[6]);
    out->window_s = (uint32_t)word_u64(&ret.items[7]);
    out->price_cents = word_u64(&ret.items[8]);
    memcpy(out->spec_hash, ret.items[9].word, 32);
out:
    abi_type_free(t);
    abi_value_release(&ret);
    abi_value_release(&args);
    free(raw);
    buf_release(&data);
    return e;
}

enum err cli_escrow_now(struct cli_escrow *x, uint64_t *unix_s, struct buf *why)
{
    struct rpc_block head;
    enum err e = rpc_get_block(x->rpc, RPC_BLOCK_LATEST, &head);
    if (e != ERR_OK)
        rpc_why(x, e, why);
    else
        *unix_s = head.timestamp;
    return e;
}

enum err cli_escrow_calldata_create(const uint8_t ref[32], uint64_t price_cents,
                                    const uint8_t spec_hash[32], uint32_t deadline,
                                    uint32_t max_runtime_s, uint32_t window_s, struct buf *out)
{
    struct abi_value args;
    memset(&args, 0, sizeof(args));
    enum err e = abi_value_items(&args, 6);
    if (e == ERR_OK)
        e = abi_value_fixed_bytes(&args.items[0], ref, 32);
    if (e == ERR_OK)
        e = abi_value_fixed_bytes(&args.items[2], spec_hash, 32);
    if (e == ERR_OK) {
        abi_value_uint(&args.items[1], u256_from_u64(price_cents));
        abi_value_uint(&args.items[3], u256_from_u64(deadline));
        abi_value_uint(&args.items[4], u256_from_u64(max_runtime_s));
        abi_value_uint(&args.items[5], u256_from_u64(window_s));
        e = abi_encode_call("create(bytes32,uint64,bytes32,uint32,uint32,uint32)", &args, out);
    }
    abi_value_release(&args);
    return e;
}

enum err cli_escrow_calldata_job(const char *fn, const uint8_t job_id[32], struct buf *out)
{
    struct abi_value args;
    struct buf sig;
    memset(&args, 0, sizeof(args));
    buf_init(&sig, 128);
    enum err e = buf_appendf(&sig, "%s(bytes32)", fn);
    if (e == ERR_OK)
        e = abi_value_items(&args, 1);
    if (e == ERR_OK)
        e = abi_value_fixed_bytes(&args.items[0], job_id, 32);
    if (e == ERR_OK)
        e = abi_encode_call(buf_cstr(&sig), &args, out);
    abi_value_release(&args);
    buf_release(&sig);
    return e;
}

enum err cli_escrow_calldata_resolve(const uint8_t job_id[32], struct u256 to_worker,
                                     struct buf *out)
{
    struct abi_value args;
    memset(&args, 0, sizeof(args));
    enum err e = abi_value_items(&args, 2);
    if (e == ERR_OK)
        e = abi_value_fixed_bytes(&args.items[0], job_id, 32);
    if (e == ERR_OK) {
        abi_value_uint(&args.items[1], to_worker);
        e = abi_encode_call("resolve(bytes32,uint256)", &args, out);
    }
    abi_value_release(&args);
    return e;
}

enum err cli_escrow_calldata_withdraw(struct buf *out)
{
    struct abi_value args;
    memset(&args, 0, sizeof(args));
    return abi_encode_call("withdraw()", &args, out);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

enum err cli_escrow_send(struct cli_escrow *x, const struct key *k, const uint8_t *calldata,
                         size_t len, struct u256 value_wei, long timeout_s,
                         struct cli_escrow_sent *out, struct buf *why)
{
    struct tx t;
    struct buf raw;
    uint8_t value_be[32], tip_be[32];
    struct rpc_block head;
    uint64_t gas = 0, nonce = 0;
    enum err e;

    memset(out, 0, sizeof(*out));
    tx_init(&t, TX_EIP1559, x->dep.chain_id);
    buf_init(&raw, 0);
    u256_to_be(value_wei, value_be);
    struct rpc_tx_call msg = {
        .to = x->dep.escrow, .from = k->addr, .data = calldata, .data_len = len, .value = value_be};
    if ((e = rpc_estimate_gas(x->rpc, &msg, &gas)) != ERR_OK ||
        (e = rpc_get_transaction_count(x->rpc, k->addr, RPC_BLOCK_PENDING, &nonce)) != ERR_OK ||
        (e = rpc_max_priority_fee(x->rpc, tip_be)) != ERR_OK ||
        (e = rpc_get_block(x->rpc, RPC_BLOCK_LATEST, &head)) != ERR_OK) {
        rpc_why(x, e, why);
        goto out;
    }
    if (!head.has_base_fee) {
        why_set(why, "the chain has no EIP-1559 base fee (pre-London)");
        e = ERR_STATE;
        goto out;
    }
    struct u256 base, tip, max_fee;
    if ((e = u256_from_be(head.base_fee_per_gas, 32, &base)) != ERR_OK ||
        (e = u256_from_be(tip_be, 32, &tip)) != ERR_OK ||
        (e = u256_add(base, base, &max_fee)) != ERR_OK ||
        (e = u256_add(max_fee, tip, &max_fee)) != ERR_OK) {
        why_set(why, "fee arithmetic overflowed");
        goto out;
    }
    t.nonce = nonce;
    t.max_priority_fee_per_gas = tip;
    t.max_fee_per_gas = max_fee;
    t.gas_limit = gas + gas / 5;
    t.has_to = true;
    memcpy(t.to, x->dep.escrow, 20);
    t.value = value_wei;
    if ((e = buf_append(&t.data, calldata, len)) != ERR_OK || (e = tx_sign(&t, k)) != ERR_OK ||
        (e = tx_encode_raw(&t, &raw)) != ERR_OK || (e = tx_hash(&t, out->tx_hash)) != ERR_OK) {
        why_set(why, "cannot sign the transaction: %s", err_str(e));
        goto out;
    }
    uint8_t node_hash[32];
    e = rpc_send_raw_transaction(x->rpc, (const uint8_t *)raw.data, raw.len, node_hash);
    /* A retry after a lost answer finds the transaction already known:
     * the same bytes, the same hash (rpc.h "Retry policy"). */
    if (e == ERR_RPC && rpc_error_kind(rpc_last_error(x->rpc)) == RPC_ERRKIND_ALREADY_KNOWN)
        e = ERR_OK;
    if (e != ERR_OK) {
        rpc_why(x, e, why);
        goto out;
    }
    /* Wait for the receipt: 100 ms first (anvil mines at once), doubling
     * to 1 s (a real chain's block time is seconds). */
    int64_t deadline = mono_ms() + (int64_t)timeout_s * 1000;
    long pause = 100;
    for (;;) {
        e = rpc_get_receipt(x->rpc, out->tx_hash, &out->receipt);
        if (e == ERR_OK)
            break;
        if (e != ERR_NOTFOUND) {
            rpc_why(x, e, why);
            goto out;
        }
        if (mono_ms() >= deadline) {
            char h[67];
            hex_encode(out->tx_hash, 32, true, h);
            why_set(why, "no receipt for transaction %s after %ld s; it may still be mined", h,
                    timeout_s);
            e = ERR_TIMEDOUT;
            goto out;
        }
        sleep_ms(pause);
        pause = pause * 2 > 1000 ? 1000 : pause * 2;
    }
    if (out->receipt.status != 1) {
        char h[67];
        hex_encode(out->tx_hash, 32, true, h);
        why_set(why, "transaction %s reverted in block %llu", h,
                (unsigned long long)out->receipt.block_number);
        rpc_receipt_release(&out->receipt);
        e = ERR_STATE;
        goto out;
    }
    struct u256 price;
    if ((e = u256_from_be(out->receipt.effective_gas_price, 32, &price)) != ERR_OK ||
        (e = u256_mul(price, u256_from_u64(out->receipt.gas_used), &out->fee_wei)) != ERR_OK) {
        why_set(why, "fee arithmetic overflowed");
        rpc_receipt_release(&out->receipt);
    }
out:
    buf_release(&raw);
    tx_release(&t);
    return e;
}
