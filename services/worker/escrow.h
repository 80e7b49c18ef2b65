/*
 * escrow -- the worker's calls to LoomEscrow (docs/contracts.md): read a
 * job (getJob), claim, submit a result hash, read and withdraw the
 * worker's balance, all as EIP-1559 transactions signed with the worker's
 * key.
 *
 * Nonces: eth_getTransactionCount(address, "pending") once at start, then
 * counted locally, so a claim costs no nonce round trip. A node that answers
 * "nonce too low" (another process used the key, or a transaction we counted
 * as failed was mined after all) or "replacement transaction underpriced"
 * (the nonce is held by a pending transaction of ours we thought lost) makes
 * escrow re-read the pending count and send once more; "already known" is
 * success (the same signed bytes are in the pool). A send that failed in
 * transport (the node may or may not have the transaction) and a
 * transaction not mined within escrow_wait()'s limit (the node may have
 * dropped it) leave the count in doubt: escrow re-reads it at once, and if
 * that fails too, before its next transaction.
 * Fees: max_fee_per_gas = 2 x the newest block's base fee + the tip
 * (max_priority_fee_per_gas), which stays valid through six full blocks of
 * base-fee growth (12.5% each, EIP-1559: 1.125^6 = 2.03). Base fee and tip
 * come from escrow_set_fees() (the worker's chainhead thread reads them
 * ahead of need) while that reading is under 3 s old; otherwise getJob
 * reads the newest block in the same JSON-RPC batch (no extra round trip),
 * and a transaction sent without a fresh one reads it with
 * eth_getBlockByNumber. The tip is eth_maxPriorityFeePerGas at start until
 * escrow_set_fees() brings a newer one.
 * Gas limit: a claim uses a fixed 60,000 (measured 36,798) so that the
 * dispatch path is getJob, sign, send: a claim that lost a race is mined
 * reverted (about 25,000 gas lost) and the caller reads that from the
 * receipt. submit and withdraw use eth_estimateGas from the worker's
 * address plus 25%; an estimate that reverts means the call would revert
 * now, and no transaction is sent.
 * "Sent": the node connection stamps the moment a request has been
 * completely written to it (rpc_last_sent_ns()), so escrow_claim() can say
 * when the claim left, apart from when the node answered.
 * Not here: deciding whether to claim (daemon), logging.
 * Threading: a struct escrow belongs to one thread at a time (its rpc
 * client and nonce counter are not locked); every call blocks.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_WORKER_ESCROW_H
#define LOOM_WORKER_ESCROW_H

#include <stdint.h>

#include "err.h"
#include "eth/u256.h"

struct buf;
struct key;
struct escrow;

/* getJob's status values (LoomEscrow.Status). */
enum escrow_status {
    ESCROW_NONE = 0,
    ESCROW_OPEN,
    ESCROW_CLAIMED,
    ESCROW_SUBMITTED,
    ESCROW_DISPUTED,
    ESCROW_RELEASED,
    ESCROW_REFUNDED,
    ESCROW_RESOLVED,
};

/* getJob(jobId): the 10-word tuple of docs/contracts.md "getJob". */
struct escrow_job {
    uint8_t client[20]; /* zero: no such job */
    struct u256 amount; /* wei locked */
    uint8_t worker[20]; /* the claimer; while Open after a reopen, the lapsed claimer */
    enum escrow_status status;
    uint32_t deadline;    /* Unix s */
    uint32_t expiry;      /* Claimed: claim lapses at; Submitted/Disputed: window end */
    uint32_t max_runtime; /* s */
    uint32_t window;      /* s */
    uint64_t price_cents;
    uint8_t spec_hash[32]; /* sha256 of job.json */
};

/* When a transaction left and when the node took it, CLOCK_MONOTONIC ns. */
struct escrow_sent {
    uint64_t sent_ns;     /* the signed transaction completely written to the node's connection */
    uint64_t accepted_ns; /* the node's answer to eth_sendRawTransaction read (accepted) */
};

/* A mined transaction: what it cost. */
struct escrow_receipt {
    uint8_t tx_hash[32];
    int status; /* 1 success, 0 reverted */
    uint64_t block_number;
    uint64_t gas_used;
    struct u256 fee_wei; /* gas_used x effective gas price */
};

/*
 * Connect to the node at <rpc_url> for the escrow at <escrow_addr> on chain
 * <chain_id>, acting as <k> (borrowed; must outlive the escrow).
 * Reads eth_chainId (must equal chain_id), the pending nonce and the tip.
 *   out: receives the escrow (escrow_free()).
 * Returns ERR_OK; ERR_STATE (the node is on another chain); ERR_INVAL (bad
 * URL); ERR_NOMEM; the errors of common/eth/rpc. msg says why. Blocks.
 */
LOOM_MUST_CHECK enum err escrow_new(const char *rpc_url, const uint8_t escrow_addr[20],
                                    uint64_t chain_id, const struct key *k, struct escrow **out,
                                    struct buf *msg);
/* Free <e>. Accepts NULL. */
void escrow_free(struct escrow *e);

/*
 * Use <base_fee_wei> (the newest block's) and <tip_wei> for the next
 * transactions, as read at <read_ns> (CLOCK_MONOTONIC); see "Fees" above.
 * Never blocks.
 */
void escrow_set_fees(struct escrow *e, struct u256 base_fee_wei, struct u256 tip_wei,
                     uint64_t read_ns);

/*
 * Read job <job_id> with getJob into *out (an eth_call; with the newest
 * block in the same JSON-RPC batch when the fees are not fresh, see "Fees").
 * Returns ERR_OK; ERR_PROTO (the answer does not decode); the errors of rpc.
 * Blocks (one HTTP request).
 */
LOOM_MUST_CHECK enum err escrow_get_job(struct escrow *e, const uint8_t job_id[32],
                                        struct escrow_job *out, struct buf *msg);

/* Read balanceOf(<account>) into *wei. Errors as escrow_get_job(). */
LOOM_MUST_CHECK enum err escrow_balance_of(struct escrow *e, const uint8_t account[20],
                                           struct u256 *wei, struct buf *msg);

/*
 * Sign and send claim(job_id) / submit(job_id, result_hash) / withdraw();
 * *tx_hash receives the transaction's hash once the node has accepted it.
 *   sent: (claim) receives when the transaction was written and when the
 *         node accepted it; filled on ERR_OK only.
 * Returns ERR_OK; ERR_STATE (submit, withdraw: the call would revert now,
 * the estimate reverted; nothing was sent); ERR_RPC (the node refused the transaction:
 * insufficient funds, ...); ERR_CRYPTO; the errors of rpc. Blocks.
 */
LOOM_MUST_CHECK enum err escrow_claim(struct escrow *e, const uint8_t job_id[32],
                                      uint8_t tx_hash[32], struct escrow_sent *sent,
                                      struct buf *msg);
LOOM_MUST_CHECK enum err escrow_submit(struct escrow *e, const uint8_t job_id[32],
                                       const uint8_t result_hash[32], uint8_t tx_hash[32],
                                       struct buf *msg);
LOOM_MUST_CHECK enum err escrow_withdraw(struct escrow *e, uint8_t tx_hash[32], struct buf *msg);

/*
 * Wait until <tx_hash> is mined (eth_getTransactionReceipt every 50 ms: a
 * local node mines at once, a public L2 within a few seconds) for up to
 * <timeout_ms>, and fill *out.
 * Returns ERR_OK (mined; out->status says whether it reverted);
 * ERR_TIMEDOUT (the nonce count is then re-read, see "Nonces"); the errors
 * of rpc. Blocks.
 */
LOOM_MUST_CHECK enum err escrow_wait(struct escrow *e, const uint8_t tx_hash[32], long timeout_ms,
                                     struct escrow_receipt *out, struct buf *msg);

#endif
