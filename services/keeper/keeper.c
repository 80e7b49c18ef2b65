/*
 * keeper -- the settlement loop; see keeper.h for the rules it follows.
 *
 * State: the transactions in flight, sorted by nonce, each with every hash
 * it was sent under (a replacement keeps the old hashes: a node may still
 * mine an earlier version), its calldata, fees and items; the next nonce;
 * the metrics. Nothing else survives a restart but the journal.
 *
 * SPDX-License-Identifier: MIT
 */
#include "keeper.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "due.h"
#include "hex.h"
#include "eth/key.h"
#include "eth/rpc.h"
#include "eth/tx.h"
#include "log.h"
#include "metrics.h"
#include "txjournal.h"
#include "upkeep.h"

/* Hashes remembered per nonce; older versions than this many replacements
 * are long gone from every pool (each replacement evicts its predecessor). */
#define MAX_HASHES 8
/* A mined nonce whose hashes have no receipt is given up after this many
 * looks, so that a receipt lagging behind the nonce on a load-balanced
 * provider is not mistaken for a foreign transaction. */
#define SUPERSEDED_LOOKS 2
/* Gas margin over eth_estimateGas, percent: between the estimate and the
 * inclusion another transaction may warm or cool a credit slot. */
#define GAS_MARGIN_PCT 25
/* Gas of a plain transfer (the yellow paper's G_transaction), for cancels. */
#define GAS_TRANSFER 21000
/* Batch send times kept for the hourly balance forecast. */
#define SEND_RING 4096
/* Before any batch is mined, assume the contract's budget per job
 * (contracts' Gas.t.sol: at most 30,000 per job in a batch of 100) plus the
 * transaction's base cost. */
#define GAS_PER_JOB_GUESS   30000
#define GAS_PER_BATCH_FIXED 50000

struct pending {
    uint64_t nonce;
    uint8_t hashes[MAX_HASHES][32];
    size_t n_hashes;
    struct u256 max_fee, tip;
    uint64_t gas_limit;
    struct buf data; /* calldata; empty for a cancel */
    struct upkeep_item *items;
    size_t n_items;
    int64_t sent_ms;
    unsigned missing_looks;
    int is_cancel;
    int blocked_warned;
};

struct keeper {
    struct keeper_opts o;
    struct pending *pend;
    size_t n_pend, cap_pend;
    uint64_t next_nonce;
    uint64_t last_block;
    int have_block;
    uint64_t block_gas_limit;
    struct fee_quote quote;
    int have_quote;
    struct metrics *reg; /* owns the series of st */
    struct kstats st;
    int64_t sends[SEND_RING];
    size_t n_sends;
    uint64_t mined_batches, mined_batch_gas;
    struct upkeep_item *due_buf;
};

/* ---- helpers ------------------------------------------------------------ */

static void hex32(const uint8_t h[32], char out[67])
{
    hex_encode(h, 32, true, out);
}

static const char *rpc_why(const struct keeper *k)
{
    return rpc_errmsg(k->o.rpc);
}

static enum rpc_errkind last_kind(const struct keeper *k)
{
    return rpc_error_kind(rpc_last_error(k->o.rpc));
}

static double u256_to_double(struct u256 v)
{
    return (double)v.w[3] * 6277101735386680763835789423207666416102355444464034512896.0 +
           (double)v.w[2] * 340282366920938463463374607431768211456.0 +
           (double)v.w[1] * 18446744073709551616.0 + (double)v.w[0];
}

static void pending_release(struct pending *p)
{
    buf_release(&p->data);
    free(p->items);
    memset(p, 0, sizeof(*p));
}

static void remove_pending(struct keeper *k, size_t i)
{
    pending_release(&k->pend[i]);
    memmove(&k->pend[i], &k->pend[i + 1], (k->n_pend - i - 1) * sizeof(*k->pend));
    k->n_pend--;
    metrics_set(k->st.txs_in_flight, (double)k->n_pend);
}

/* Insert a new entry for <nonce>, keeping the array sorted; NULL on ENOMEM. */
static struct pending *insert_pending(struct keeper *k, uint64_t nonce)
{
    if (k->n_pend == k->cap_pend) {
        size_t nc = k->cap_pend ? k->cap_pend * 2 : 16;
        struct pending *p = realloc(k->pend, nc * sizeof(*p));
        if (p == NULL)
            return NULL;
        k->pend = p;
        k->cap_pend = nc;
    }
    size_t i = k->n_pend;
    while (i > 0 && k->pend[i - 1].nonce > nonce)
        i--;
    memmove(&k->pend[i + 1], &k->pend[i], (k->n_pend - i) * sizeof(*k->pend));
    k->n_pend++;
    metrics_set(k->st.txs_in_flight, (double)k->n_pend);
    struct pending *p = &k->pend[i];
    memset(p, 0, sizeof(*p));
    p->nonce = nonce;
    buf_init(&p->data, 0);
    return p;
}

static struct pending *find_pending(struct keeper *k, uint64_t nonce)
{
    for (size_t i = 0; i < k->n_pend; i++)
        if (k->pend[i].nonce == nonce)
            return &k->pend[i];
    return NULL;
}

static void add_hash(struct pending *p, const uint8_t h[32])
{
    if (p->n_hashes == MAX_HASHES) {
        memmove(p->hashes[0], p->hashes[1], (MAX_HASHES - 1) * 32);
        p->n_hashes--;
    }
    memcpy(p->hashes[p->n_hashes++], h, 32);
}

/* Build the transaction of <p> at fees (<max_fee>, <tip>). */
static enum err build_tx(const struct keeper *k, const struct pending *p, struct u256 max_fee,
                         struct u256 tip, struct tx *t)
{
    tx_init(t, TX_EIP1559, k->o.chain_id);
    t->nonce = p->nonce;
    t->max_fee_per_gas = max_fee;
    t->max_priority_fee_per_gas = tip;
    t->gas_limit = p->gas_limit;
    t->has_to = true;
    memcpy(t->to, p->is_cancel ? k->o.key->addr : k->o.escrow, 20);
    if (p->data.len == 0)
        return ERR_OK;
    return buf_append(&t->data, p->data.data, p->data.len);
}

/*
 * Sign <t>, journal it, send it. *hash gets its hash. ERR_OK also when the
 * node already knew these bytes. On ERR_RPC, last_kind() says why.
 */
static enum err sign_and_send(struct keeper *k, struct tx *t, uint8_t hash[32])
{
    struct buf raw;
    buf_init(&raw, TXJOURNAL_MAX_TX);
    enum err e = tx_sign(t, k->o.key);
    if (e == ERR_OK)
        e = tx_encode_raw(t, &raw);
    if (e == ERR_OK)
        e = tx_hash(t, hash);
    if (e == ERR_OK && k->o.journal != NULL) {
        e = txjournal_append(k->o.journal, (const uint8_t *)raw.data, raw.len);
        if (e != ERR_OK)
            LOG_ERROR("journal.write_failed", "error=%s", err_str(e));
    }
    if (e != ERR_OK)
        goto done;
    uint8_t got[32];
    e = rpc_send_raw_transaction(k->o.rpc, (const uint8_t *)raw.data, raw.len, got);
    if (e == ERR_RPC && last_kind(k) == RPC_ERRKIND_ALREADY_KNOWN)
        e = ERR_OK;
done:
    buf_release(&raw);
    return e;
}

/* ---- construction ------------------------------------------------------- */

enum err keeper_new(const struct keeper_opts *opts, struct keeper **out)
{
    const struct keeper_opts *o = opts;
    if (o->rpc == NULL || o->due == NULL || o->key == NULL || o->batch_max < 1 ||
        o->batch_max > UPKEEP_BATCH_MAX || o->batch_gas_pct < 1 || o->batch_gas_pct > 90 ||
        o->due_limit < 1 || o->due_limit > 1000 || o->max_in_flight < 1 || o->max_in_flight > 256 ||
        o->replace_after_ms <= 0 || o->fee_history_blocks < 1 || o->fee_history_blocks > 1024 ||
        !(o->tip_percentile >= 0 && o->tip_percentile <= 100) ||
        o->fees.bump_pct < FEEPOLICY_MIN_BUMP_PCT || o->fees.bump_pct > 1000)
        return ERR_INVAL;
    struct keeper *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return ERR_NOMEM;
    k->o = *o;
    k->due_buf = calloc(o->due_limit, sizeof(*k->due_buf));
    enum err e = k->due_buf == NULL ? ERR_NOMEM : metrics_new(&k->reg);
    if (e == ERR_OK)
        e = kstats_init(&k->st, k->reg);
    if (e != ERR_OK) {
        keeper_free(k);
        return e;
    }
    *out = k;
    return ERR_OK;
}

void keeper_free(struct keeper *k)
{
    if (k == NULL)
        return;
    for (size_t i = 0; i < k->n_pend; i++)
        pending_release(&k->pend[i]);
    free(k->pend);
    free(k->due_buf);
    metrics_free(k->reg);
    free(k);
}

const struct kstats *keeper_stats(const struct keeper *k)
{
    return &k->st;
}

struct metrics *keeper_metrics(struct keeper *k)
{
    return k->reg;
}

uint64_t keeper_next_nonce(const struct keeper *k)
{
    return k->next_nonce;
}

/* ---- resume -------------------------------------------------------------- */

/* Adopt one journal entry if it is ours, for the escrow, and not mined. */
static enum err adopt(struct keeper *k, const struct txjournal_entry *en, uint64_t mined,
                      int64_t now_ms, size_t *adopted)
{
    struct tx t;
    uint8_t from[20], h[32];
    enum err e = tx_decode_raw(en->raw, en->len, &t);
    if (e != ERR_OK)
        return ERR_OK; /* not a transaction: skip, the rewrite drops it */
    if (t.type != TX_EIP1559 || t.chain_id != k->o.chain_id || t.nonce < mined || !t.has_to ||
        tx_recover_sender(&t, from) != ERR_OK || memcmp(from, k->o.key->addr, 20) != 0 ||
        tx_hash(&t, h) != ERR_OK)
        goto done;
    int is_cancel = memcmp(t.to, k->o.key->addr, 20) == 0 && t.data.len == 0;
    if (!is_cancel && memcmp(t.to, k->o.escrow, 20) != 0)
        goto done;
    struct upkeep_item items[UPKEEP_BATCH_MAX];
    size_t n_items = 0;
    if (!is_cancel &&
        upkeep_decode_perform((const uint8_t *)t.data.data, t.data.len, items, &n_items) != ERR_OK)
        goto done;
    struct pending *p = find_pending(k, t.nonce);
    if (p == NULL) {
        e = ERR_NOMEM;
        p = insert_pending(k, t.nonce);
        if (p == NULL)
            goto done;
        (*adopted)++;
    } else if (u256_cmp(t.max_fee_per_gas, p->max_fee) < 0) {
        add_hash(p, h); /* an older version: remember its hash only */
        e = ERR_OK;
        goto done;
    }
    /* The latest (highest-fee) version of this nonce becomes the current one. */
    buf_reset(&p->data);
    free(p->items);
    p->items = NULL;
    p->n_items = 0;
    e = buf_append(&p->data, t.data.data, t.data.len);
    if (e != ERR_OK)
        goto done;
    if (n_items > 0) {
        p->items = malloc(n_items * sizeof(*p->items));
        if (p->items == NULL) {
            e = ERR_NOMEM;
            goto done;
        }
        memcpy(p->items, items, n_items * sizeof(*items));
        p->n_items = n_items;
    }
    add_hash(p, h);
    p->max_fee = t.max_fee_per_gas;
    p->tip = t.max_priority_fee_per_gas;
    p->gas_limit = t.gas_limit;
    p->is_cancel = is_cancel;
    p->sent_ms = now_ms;
    /* Send it again: the node's pool may have lost it (restart); "already
     * known", "nonce too low" and "underpriced" (a newer version is there)
     * are all fine here, the next reconcile sorts it out. */
    uint8_t got[32];
    if (rpc_send_raw_transaction(k->o.rpc, en->raw, en->len, got) != ERR_OK)
        LOG_DEBUG("tx.resend_refused", "nonce=%llu reason=%s", (unsigned long long)t.nonce,
                  rpc_why(k));
    e = ERR_OK;
done:
    tx_release(&t);
    return e;
}

enum err keeper_start(struct keeper *k, int64_t now_ms)
{
    uint64_t mined = 0, pending = 0;
    struct txjournal_entry *en = NULL;
    size_t n_en = 0, skipped = 0, adopted = 0, unknown = 0;
    enum err e = rpc_get_transaction_count(k->o.rpc, k->o.key->addr, RPC_BLOCK_LATEST, &mined);
    if (e == ERR_OK)
        e = rpc_get_transaction_count(k->o.rpc, k->o.key->addr, RPC_BLOCK_PENDING, &pending);
    if (e != ERR_OK) {
        LOG_ERROR("keeper.resume_failed", "error=%s reason=%s", err_str(e), rpc_why(k));
        return e;
    }
    k->next_nonce = pending > mined ? pending : mined;
    if (k->o.journal != NULL) {
        e = txjournal_load(k->o.journal, &en, &n_en, &skipped);
        if (e != ERR_OK) {
            LOG_ERROR("journal.read_failed", "error=%s", err_str(e));
            return e;
        }
        for (size_t i = 0; i < n_en && e == ERR_OK; i++)
            e = adopt(k, &en[i], mined, now_ms, &adopted);
        if (e != ERR_OK)
            goto done;
    }
    for (size_t i = 0; i < k->n_pend; i++)
        if (k->pend[i].nonce + 1 > k->next_nonce)
            k->next_nonce = k->pend[i].nonce + 1;
    /* Nonces in the pool that the journal does not know: placeholders that
     * the replacement rule turns into cancels if they are not mined. */
    for (uint64_t n = mined; n < pending; n++) {
        if (find_pending(k, n) != NULL)
            continue;
        struct pending *p = insert_pending(k, n);
        if (p == NULL) {
            e = ERR_NOMEM;
            goto done;
        }
        p->is_cancel = 1;
        p->gas_limit = GAS_TRANSFER;
        p->sent_ms = now_ms;
        unknown++;
    }
    if (k->o.journal != NULL) {
        /* Compact: keep only what is still in flight. */
        struct txjournal_entry *keep = calloc(n_en ? n_en : 1, sizeof(*keep));
        size_t n_keep = 0;
        if (keep == NULL) {
            e = ERR_NOMEM;
            goto done;
        }
        for (size_t i = 0; i < n_en; i++) {
            struct tx t;
            if (tx_decode_raw(en[i].raw, en[i].len, &t) != ERR_OK)
                continue;
            if (find_pending(k, t.nonce) != NULL)
                keep[n_keep++] = en[i];
            tx_release(&t);
        }
        e = txjournal_rewrite(k->o.journal, keep, n_keep);
        free(keep);
        if (e != ERR_OK) {
            LOG_ERROR("journal.write_failed", "error=%s", err_str(e));
            goto done;
        }
    }
    LOG_INFO("keeper.resumed",
             "nonce_mined=%llu nonce_pending=%llu next_nonce=%llu adopted=%zu unknown=%zu "
             "journal_lines=%zu journal_skipped=%zu",
             (unsigned long long)mined, (unsigned long long)pending,
             (unsigned long long)k->next_nonce, adopted, unknown, n_en, skipped);
done:
    txjournal_entries_free(en, n_en);
    return e;
}

/* ---- reconcile ------------------------------------------------------------ */

static const struct upkeep_item *find_item(const struct pending *p, const uint8_t id[32])
{
    for (size_t i = 0; i < p->n_items; i++)
        if (memcmp(p->items[i].job_id, id, 32) == 0)
            return &p->items[i];
    return NULL;
}

/* Account for the mined receipt <r> of <p>. */
static enum err on_mined(struct keeper *k, const struct pending *p, const struct rpc_receipt *r)
{
    char txh[67];
    hex32(r->tx_hash, txh);
    metrics_add(k->st.gas_used, (double)r->gas_used);
    if (p->is_cancel) {
        LOG_INFO("tx.cancel_mined", "nonce=%llu tx=%s block=%llu", (unsigned long long)p->nonce,
                 txh, (unsigned long long)r->block_number);
        return ERR_OK;
    }
    k->mined_batches++;
    k->mined_batch_gas += r->gas_used;
    if (r->status != 1) {
        metrics_inc(k->st.txs_failed);
        LOG_ERROR("tx.reverted", "nonce=%llu tx=%s block=%llu gas_used=%llu",
                  (unsigned long long)p->nonce, txh, (unsigned long long)r->block_number,
                  (unsigned long long)r->gas_used);
        return ERR_OK;
    }
    struct upkeep_outcome oc;
    struct rpc_block blk;
    enum err e = upkeep_read_receipt(r, k->o.escrow, &oc);
    if (e != ERR_OK) {
        LOG_ERROR("tx.bad_receipt", "nonce=%llu tx=%s error=%s", (unsigned long long)p->nonce, txh,
                  err_str(e));
        upkeep_outcome_release(&oc);
        return ERR_OK;
    }
    e = rpc_get_block(k->o.rpc, RPC_BLOCK_NUM(r->block_number), &blk);
    if (e != ERR_OK) {
        upkeep_outcome_release(&oc);
        return e;
    }
    for (size_t i = 0; i < oc.n_settled; i++) {
        char id[67];
        hex32(oc.settled[i], id);
        const struct upkeep_item *it = find_item(p, oc.settled[i]);
        double lag = -1;
        if (it != NULL && it->due_at > 0) {
            lag = (double)((int64_t)blk.timestamp - it->due_at);
            kstats_observe_lag(&k->st, lag);
        }
        metrics_inc(k->st.jobs_settled);
        LOG_INFO("job.settled", "job_id=%s action=%s block=%llu tx=%s lag_s=%g", id,
                 upkeep_action_name(oc.actions[i]), (unsigned long long)r->block_number, txh, lag);
    }
    uint64_t skipped = p->n_items >= oc.n_settled ? p->n_items - oc.n_settled : 0;
    metrics_add(k->st.jobs_skipped, (double)skipped);
    LOG_INFO("tx.mined",
             "nonce=%llu tx=%s block=%llu gas_used=%llu items=%zu settled=%zu "
             "skipped=%llu",
             (unsigned long long)p->nonce, txh, (unsigned long long)r->block_number,
             (unsigned long long)r->gas_used, p->n_items, oc.n_settled,
             (unsigned long long)skipped);
    upkeep_outcome_release(&oc);
    return ERR_OK;
}

/* Look for a receipt of any hash of <p>: ERR_OK with *found set, or an RPC error. */
static enum err find_receipt(struct keeper *k, const struct pending *p, struct rpc_receipt *r,
                             int *found)
{
    *found = 0;
    for (size_t i = p->n_hashes; i > 0; i--) {
        enum err e = rpc_get_receipt(k->o.rpc, p->hashes[i - 1], r);
        if (e == ERR_OK) {
            *found = 1;
            return ERR_OK;
        }
        if (e != ERR_NOTFOUND)
            return e;
    }
    return ERR_OK;
}

static void replace(struct keeper *k, struct pending *p, int64_t now_ms)
{
    struct u256 mf, tip;
    enum err e;
    if (p->n_hashes == 0) {
        /* A transaction of ours we know nothing about: outbid whatever it
         * pays with the most the policy allows. */
        mf = k->o.fees.max_fee_wei;
        tip = mf;
    } else {
        e = feepolicy_bump(&k->o.fees, p->max_fee, p->tip, &k->quote, &mf, &tip);
        if (e != ERR_OK) {
            if (!p->blocked_warned)
                LOG_WARN("tx.replace_blocked",
                         "nonce=%llu cause=\"a 10%% bump would pass the fee ceiling\"",
                         (unsigned long long)p->nonce);
            p->blocked_warned = 1;
            p->sent_ms = now_ms;
            return;
        }
    }
    struct tx t;
    uint8_t h[32];
    e = build_tx(k, p, mf, tip, &t);
    if (e == ERR_OK)
        e = sign_and_send(k, &t, h);
    tx_release(&t);
    p->sent_ms = now_ms;
    char mfs[U256_DEC_MAX], tips[U256_DEC_MAX];
    u256_to_dec(mf, mfs);
    u256_to_dec(tip, tips);
    if (e == ERR_OK) {
        add_hash(p, h);
        p->max_fee = mf;
        p->tip = tip;
        metrics_inc(k->st.txs_replaced);
        char hs[67];
        hex32(h, hs);
        LOG_INFO(p->n_items ? "tx.replaced" : "tx.cancel_sent",
                 "nonce=%llu tx=%s max_fee_wei=%s tip_wei=%s", (unsigned long long)p->nonce, hs,
                 mfs, tips);
        return;
    }
    enum rpc_errkind kind = e == ERR_RPC ? last_kind(k) : RPC_ERRKIND_OTHER;
    if (kind == RPC_ERRKIND_UNDERPRICED && p->n_hashes > 0) {
        /* The node wants more than our bump: start the next one from here. */
        p->max_fee = mf;
        p->tip = tip;
    }
    if (kind != RPC_ERRKIND_NONCE_TOO_LOW)
        LOG_WARN("tx.replace_refused", "nonce=%llu max_fee_wei=%s error=%s reason=%s",
                 (unsigned long long)p->nonce, mfs, err_str(e), rpc_why(k));
}

/*
 * Rewrite the journal with the current version of each transaction still in
 * flight, so that it never grows past max_in_flight lines for long. Signing
 * is deterministic (RFC 6979), so re-signing gives the bytes that were sent.
 */
static enum err compact_journal(struct keeper *k)
{
    struct txjournal_entry *en = calloc(k->n_pend ? k->n_pend : 1, sizeof(*en));
    size_t n = 0;
    enum err e = en == NULL ? ERR_NOMEM : ERR_OK;
    for (size_t i = 0; i < k->n_pend && e == ERR_OK; i++) {
        const struct pending *p = &k->pend[i];
        if (p->n_hashes == 0)
            continue; /* a placeholder: nothing of ours to record yet */
        struct tx t;
        struct buf raw;
        buf_init(&raw, TXJOURNAL_MAX_TX);
        e = build_tx(k, p, p->max_fee, p->tip, &t);
        if (e == ERR_OK)
            e = tx_sign(&t, k->o.key);
        if (e == ERR_OK)
            e = tx_encode_raw(&t, &raw);
        tx_release(&t);
        if (e == ERR_OK) {
            en[n].raw = (uint8_t *)buf_detach(&raw, &en[n].len);
            e = en[n].raw == NULL ? ERR_NOMEM : ERR_OK;
            n += e == ERR_OK;
        }
        buf_release(&raw);
    }
    if (e == ERR_OK)
        e = txjournal_rewrite(k->o.journal, en, n);
    txjournal_entries_free(en, n);
    return e;
}

static enum err reconcile(struct keeper *k, int64_t now_ms)
{
    uint64_t mined = 0;
    enum err e = rpc_get_transaction_count(k->o.rpc, k->o.key->addr, RPC_BLOCK_LATEST, &mined);
    if (e != ERR_OK)
        return e;
    size_t i = 0;
    int removed = 0;
    while (i < k->n_pend && k->pend[i].nonce < mined) {
        struct pending *p = &k->pend[i];
        struct rpc_receipt r;
        int found = 0;
        memset(&r, 0, sizeof(r));
        e = find_receipt(k, p, &r, &found);
        if (e == ERR_OK && found)
            e = on_mined(k, p, &r);
        rpc_receipt_release(&r);
        if (e != ERR_OK)
            return e;
        if (!found && p->n_hashes > 0 && ++p->missing_looks < SUPERSEDED_LOOKS) {
            i++;
            continue;
        }
        if (!found && p->n_hashes > 0) {
            metrics_inc(k->st.txs_failed);
            LOG_WARN("tx.superseded",
                     "nonce=%llu items=%zu cause=\"another transaction used "
                     "this nonce\"",
                     (unsigned long long)p->nonce, p->n_items);
        }
        remove_pending(k, i);
        removed = 1;
    }
    if (mined > k->next_nonce)
        k->next_nonce = mined; /* another process with our key moved on */
    if (removed && k->o.journal != NULL) {
        e = compact_journal(k);
        if (e != ERR_OK)
            LOG_ERROR("journal.write_failed", "error=%s", err_str(e));
    }
    if (!k->have_quote)
        return ERR_OK;
    for (i = 0; i < k->n_pend; i++)
        if (k->pend[i].nonce >= mined && now_ms - k->pend[i].sent_ms >= k->o.replace_after_ms)
            replace(k, &k->pend[i], now_ms);
    return ERR_OK;
}

/* ---- new work ------------------------------------------------------------- */

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

/* Send one batch at the next nonce; halves it when the gas estimate passes the cap. */
static enum err send_batch(struct keeper *k, const struct upkeep_item *items, size_t n,
                           int64_t now_ms)
{
    struct buf data;
    buf_init(&data, TXJOURNAL_MAX_TX);
    enum err e = upkeep_encode_perform(items, n, &data);
    if (e != ERR_OK)
        goto done;
    struct rpc_tx_call call = {.to = k->o.escrow,
                               .from = k->o.key->addr,
                               .data = (const uint8_t *)data.data,
                               .data_len = data.len};
    uint64_t est = 0;
    e = rpc_estimate_gas(k->o.rpc, &call, &est);
    if (e != ERR_OK) {
        metrics_inc(k->st.txs_failed);
        LOG_WARN("batch.estimate_failed", "items=%zu error=%s reason=%s", n, err_str(e),
                 rpc_why(k));
        e = e == ERR_RPC ? ERR_OK : e;
        goto done;
    }
    uint64_t gas = est + est * GAS_MARGIN_PCT / 100;
    uint64_t cap = k->block_gas_limit / 100 * k->o.batch_gas_pct;
    if (gas > cap) {
        buf_release(&data);
        if (n == 1) {
            metrics_inc(k->st.txs_failed);
            LOG_ERROR("batch.too_much_gas", "items=1 gas=%llu cap=%llu", (unsigned long long)gas,
                      (unsigned long long)cap);
            return ERR_OK;
        }
        e = send_batch(k, items, n / 2, now_ms);
        if (e == ERR_OK)
            e = send_batch(k, items + n / 2, n - n / 2, now_ms);
        return e;
    }
    struct pending tmp = {.nonce = k->next_nonce, .gas_limit = gas, .data = data};
    struct tx t;
    uint8_t h[32];
    e = build_tx(k, &tmp, k->quote.max_fee, k->quote.tip, &t);
    if (e == ERR_OK)
        e = sign_and_send(k, &t, h);
    tx_release(&t);
    if (e == ERR_RPC) {
        enum rpc_errkind kind = last_kind(k);
        uint64_t pn = 0;
        LOG_WARN("tx.refused", "nonce=%llu items=%zu reason=%s", (unsigned long long)tmp.nonce, n,
                 rpc_why(k));
        if ((kind == RPC_ERRKIND_NONCE_TOO_LOW || kind == RPC_ERRKIND_UNDERPRICED) &&
            rpc_get_transaction_count(k->o.rpc, k->o.key->addr, RPC_BLOCK_PENDING, &pn) == ERR_OK &&
            pn > k->next_nonce) {
            /* Someone else (same key) holds this nonce: move past it; the
             * jobs stay candidates for the next block. */
            LOG_WARN("nonce.resync", "from=%llu to=%llu", (unsigned long long)k->next_nonce,
                     (unsigned long long)pn);
            k->next_nonce = pn;
        } else {
            metrics_inc(k->st.txs_failed);
        }
        e = ERR_OK;
        goto done;
    }
    if (e != ERR_OK)
        goto done;
    struct pending *p = insert_pending(k, tmp.nonce);
    if (p == NULL) {
        e = ERR_NOMEM;
        goto done;
    }
    p->items = malloc(n * sizeof(*items));
    if (p->items == NULL) {
        remove_pending(k, (size_t)(p - k->pend));
        e = ERR_NOMEM;
        goto done;
    }
    memcpy(p->items, items, n * sizeof(*items));
    p->n_items = n;
    p->data = data; /* moved */
    buf_init(&data, 0);
    p->gas_limit = gas;
    p->max_fee = k->quote.max_fee;
    p->tip = k->quote.tip;
    p->sent_ms = now_ms;
    add_hash(p, h);
    k->next_nonce++;
    metrics_inc(k->st.txs_sent);
    metrics_add(k->st.jobs_confirmed, (double)n);
    k->sends[k->n_sends++ % SEND_RING] = now_ms;
    char hs[67], mfs[U256_DEC_MAX];
    hex32(h, hs);
    u256_to_dec(p->max_fee, mfs);
    LOG_INFO("tx.sent", "nonce=%llu tx=%s items=%zu gas_limit=%llu max_fee_wei=%s",
             (unsigned long long)p->nonce, hs, n, (unsigned long long)gas, mfs);
done:
    buf_release(&data);
    return e;
}

/* checkUpkeep on <n> candidates; appends the confirmed ones to <out>. */
static enum err confirm(struct keeper *k, const struct upkeep_item *cand, size_t n,
                        struct upkeep_item *out, size_t *n_out)
{
    uint8_t(*ids)[32] = malloc(n * 32);
    struct buf data;
    buf_init(&data, 0);
    uint8_t *ret = NULL;
    size_t ret_len = 0, got = 0;
    enum err e = ERR_NOMEM;
    if (ids == NULL)
        goto done;
    for (size_t i = 0; i < n; i++)
        memcpy(ids[i], cand[i].job_id, 32);
    e = upkeep_encode_check(ids, n, &data);
    if (e != ERR_OK)
        goto done;
    struct rpc_tx_call call = {.to = k->o.escrow,
                               .from = k->o.key->addr,
                               .data = (const uint8_t *)data.data,
                               .data_len = data.len};
    e = rpc_eth_call(k->o.rpc, &call, RPC_BLOCK_LATEST, &ret, &ret_len);
    if (e != ERR_OK) {
        LOG_WARN("upkeep.check_failed", "candidates=%zu error=%s reason=%s", n, err_str(e),
                 rpc_why(k));
        goto done;
    }
    e = upkeep_decode_check_result(ret, ret_len, out + *n_out, n, &got);
    if (e != ERR_OK) {
        LOG_WARN("upkeep.check_bad_answer", "candidates=%zu error=%s", n, err_str(e));
        goto done;
    }
    for (size_t i = 0; i < got; i++) {
        struct upkeep_item *it = &out[*n_out + i];
        for (size_t j = 0; j < n; j++)
            if (memcmp(cand[j].job_id, it->job_id, 32) == 0) {
                it->due_at = cand[j].due_at;
                break;
            }
    }
    *n_out += got;
done:
    free(ret);
    buf_release(&data);
    free(ids);
    return e;
}

static enum err settle_due(struct keeper *k, const struct rpc_block *blk, int64_t now_ms)
{
    size_t n = 0;
    enum err e = due_fetch(k->o.due, (int64_t)blk->timestamp, k->due_buf, k->o.due_limit, &n);
    if (e != ERR_OK) {
        LOG_WARN("due.fetch_failed", "error=%s", err_str(e));
        return ERR_OK;
    }
    metrics_set(k->st.jobs_due, (double)n);
    if (n == 0)
        return ERR_OK;
    /* Drop jobs already in one of our transactions (filling in the due time
     * of adopted ones, which the journal does not carry). */
    size_t n_fl = 0;
    for (size_t i = 0; i < k->n_pend; i++)
        n_fl += k->pend[i].n_items;
    uint8_t(*fl)[32] = malloc((n_fl ? n_fl : 1) * 32);
    struct upkeep_item *cand = malloc(n * sizeof(*cand));
    struct upkeep_item *ok = malloc(n * sizeof(*ok));
    size_t n_cand = 0, n_ok = 0;
    e = ERR_NOMEM;
    if (fl == NULL || cand == NULL || ok == NULL)
        goto done;
    size_t f = 0;
    for (size_t i = 0; i < k->n_pend; i++)
        for (size_t j = 0; j < k->pend[i].n_items; j++)
            memcpy(fl[f++], k->pend[i].items[j].job_id, 32);
    qsort(fl, n_fl, 32, cmp_id);
    for (size_t i = 0; i < n; i++) {
        if (n_fl > 0 && bsearch(k->due_buf[i].job_id, fl, n_fl, 32, cmp_id) != NULL) {
            for (size_t p = 0; p < k->n_pend; p++)
                for (size_t j = 0; j < k->pend[p].n_items; j++)
                    if (k->pend[p].items[j].due_at == 0 &&
                        memcmp(k->pend[p].items[j].job_id, k->due_buf[i].job_id, 32) == 0)
                        k->pend[p].items[j].due_at = k->due_buf[i].due_at;
            continue;
        }
        cand[n_cand++] = k->due_buf[i];
    }
    e = ERR_OK;
    for (size_t i = 0; i < n_cand && e == ERR_OK; i += UPKEEP_CHECK_MAX) {
        size_t m = n_cand - i < UPKEEP_CHECK_MAX ? n_cand - i : UPKEEP_CHECK_MAX;
        e = confirm(k, cand + i, m, ok, &n_ok);
    }
    if (e != ERR_OK)
        goto done;
    if (n_ok > 0)
        LOG_INFO("jobs.due", "block=%llu due=%zu in_flight=%zu confirmed=%zu",
                 (unsigned long long)blk->number, n, n - n_cand, n_ok);
    for (size_t i = 0; i < n_ok && e == ERR_OK; i += k->o.batch_max) {
        if (k->n_pend >= k->o.max_in_flight) {
            LOG_INFO("batch.deferred", "jobs=%zu cause=\"max_in_flight reached\"", n_ok - i);
            break;
        }
        size_t m = n_ok - i < k->o.batch_max ? n_ok - i : k->o.batch_max;
        e = send_batch(k, ok + i, m, now_ms);
    }
done:
    free(ok);
    free(cand);
    free(fl);
    return e;
}

/* ---- fees and balance ------------------------------------------------------ */

static enum err refresh_quote(struct keeper *k)
{
    struct rpc_fee_history h;
    memset(&h, 0, sizeof(h));
    double pct = k->o.tip_percentile;
    enum err e = rpc_fee_history(k->o.rpc, k->o.fee_history_blocks, RPC_BLOCK_LATEST, &pct, 1, &h);
    if (e == ERR_OK)
        e = feepolicy_quote(&k->o.fees, &h, &k->quote);
    rpc_fee_history_release(&h);
    if (e != ERR_OK) {
        LOG_WARN("fee.quote_failed", "error=%s reason=%s", err_str(e), rpc_why(k));
        return e;
    }
    k->have_quote = 1;
    if (log_is_enabled(LOG_LEVEL_DEBUG)) {
        char b[U256_DEC_MAX], m[U256_DEC_MAX], t[U256_DEC_MAX];
        u256_to_dec(k->quote.base_fee_next, b);
        u256_to_dec(k->quote.max_fee, m);
        u256_to_dec(k->quote.tip, t);
        LOG_DEBUG("fee.quote", "base_fee_wei=%s max_fee_wei=%s tip_wei=%s capped=%d", b, m, t,
                  (int)k->quote.capped);
    }
    if (k->quote.below_base) {
        char b[U256_DEC_MAX];
        u256_to_dec(k->quote.base_fee_next, b);
        LOG_WARN("fee.ceiling_below_base",
                 "base_fee_wei=%s cause=\"transactions wait until the "
                 "base fee falls under max_fee_gwei\"",
                 b);
    }
    return ERR_OK;
}

static void check_balance(struct keeper *k, int64_t now_ms)
{
    uint8_t be[32];
    struct u256 bal, per_batch, cost;
    if (rpc_get_balance(k->o.rpc, k->o.key->addr, RPC_BLOCK_LATEST, be) != ERR_OK ||
        u256_from_be(be, 32, &bal) != ERR_OK)
        return;
    metrics_set(k->st.balance_wei, u256_to_double(bal));
    /* Next hour's batches: as many as the last hour's, at least one. */
    uint64_t recent = 0;
    size_t have = k->n_sends < SEND_RING ? k->n_sends : SEND_RING;
    for (size_t i = 0; i < have; i++)
        if (now_ms - k->sends[i] < 3600 * 1000)
            recent++;
    if (recent == 0)
        recent = 1;
    uint64_t gas = k->mined_batches
                       ? k->mined_batch_gas / k->mined_batches
                       : (uint64_t)GAS_PER_JOB_GUESS * k->o.batch_max + GAS_PER_BATCH_FIXED;
    if (u256_mul(u256_from_u64(gas), k->quote.max_fee, &per_batch) != ERR_OK ||
        u256_mul(per_batch, u256_from_u64(recent), &cost) != ERR_OK)
        return;
    int low = u256_cmp(bal, cost) < 0;
    int was_low = metrics_value(k->st.balance_low) != 0;
    if (low && !was_low) {
        char bs[U256_DEC_MAX], cs[U256_DEC_MAX];
        u256_to_dec(bal, bs);
        u256_to_dec(cost, cs);
        LOG_WARN("balance.low", "balance_wei=%s next_hour_wei=%s batches=%llu gas_per_batch=%llu",
                 bs, cs, (unsigned long long)recent, (unsigned long long)gas);
    } else if (!low && was_low) {
        LOG_INFO("balance.ok", "balance_wei=%.0f", metrics_value(k->st.balance_wei));
    }
    metrics_set(k->st.balance_low, low);
}

enum err keeper_tick(struct keeper *k, int64_t now_ms)
{
    struct rpc_block blk;
    enum err e = rpc_get_block(k->o.rpc, RPC_BLOCK_LATEST, &blk);
    if (e != ERR_OK)
        return e;
    int is_new = !k->have_block || blk.number != k->last_block;
    if (is_new) {
        k->block_gas_limit = blk.gas_limit;
        e = refresh_quote(k);
        if (e != ERR_OK)
            return e;
    }
    if (k->n_pend > 0) {
        e = reconcile(k, now_ms);
        if (e != ERR_OK)
            return e;
    }
    if (!is_new)
        return ERR_OK;
    metrics_set(k->st.last_block, (double)blk.number);
    check_balance(k, now_ms);
    e = settle_due(k, &blk, now_ms);
    /* The block counts as done only once its due work went out: after a
     * failed round (a node busy mining answers eth_call with "block out of
     * range") the next tick tries again instead of waiting for a new block,
     * which on a quiet chain may be minutes away. Jobs already sent are in
     * flight by then and not sent twice. */
    if (e == ERR_OK) {
        k->have_block = 1;
        k->last_block = blk.number;
    }
    return e;
}
