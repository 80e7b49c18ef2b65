/*
 * keeper -- settles due escrow jobs on chain: release after the challenge
 * window, reopen after a claim's max runtime, refund after the deadline.
 *
 * On each new block: ask the due source for jobs due at the block's
 * timestamp, drop those already in one of our transactions, confirm the rest
 * with checkUpkeep (eth_call; the chain is the authority, the source a hint),
 * and send performUpkeep batches of at most batch_max items whose estimated
 * gas stays under batch_gas_pct percent of the block gas limit, signed with
 * the keeper's key, at EIP-1559 fees from eth_feeHistory under a ceiling
 * (feepolicy.h). On every tick: look up receipts of transactions in flight,
 * count what they settled (upkeep.h) and the lag from due time to the mined
 * block, and replace a transaction not mined within replace_after_ms with
 * both fee fields raised by at least 10%.
 *
 * Nonces: the keeper sends nonce after nonce from its own counter, starting
 * at eth_getTransactionCount(pending). A nonce at or below the account's
 * mined count whose hashes have no receipt was used by another transaction
 * (another process with the same key): the keeper forgets it after two
 * looks, and its jobs become candidates again. "nonce too low" resyncs the
 * counter from the node. Unknown transactions of ours waiting in the pool
 * (nonces between the mined and the pending count that the journal does not
 * know) are cancelled, after replace_after_ms, by a zero-value transfer to
 * ourselves at the fee ceiling, so the sequence never wedges.
 * Idempotence comes from the contract: performUpkeep re-validates every item
 * and skips one that is no longer due, so a batch sent twice, a second keeper
 * or Chainlink Automation settling the same job first never pays twice.
 * Restart: keeper_start() reads the journal (txjournal.h) and adopts the
 * transactions whose nonces are not mined yet, re-sends them, and keeps their
 * jobs out of new batches.
 *
 * Threading: one thread. Every call blocks on JSON-RPC (rpc.h); the service
 * calls keeper_tick() from a libevent timer, and nothing else runs on that
 * thread but the /metrics server, which may wait for one tick.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_KEEPER_KEEPER_H
#define LOOM_KEEPER_KEEPER_H

#include <stdint.h>

#include "err.h"
#include "feepolicy.h"
#include "kstats.h"

struct metrics;
struct rpc;
struct key;
struct due_source;
struct txjournal;
struct keeper;

struct keeper_opts {
    struct rpc *rpc;             /* borrowed; used only from the keeper's thread */
    struct due_source *due;      /* borrowed */
    const struct key *key;       /* borrowed; signs every transaction */
    struct txjournal *journal;   /* borrowed; NULL runs without one (restarts then
                                    rely on the node's pool and cancellation) */
    uint8_t escrow[20];          /* LoomEscrow address */
    uint64_t chain_id;           /* EIP-155 chain id the transactions commit to */
    unsigned batch_max;          /* items per performUpkeep, 1..UPKEEP_BATCH_MAX */
    unsigned batch_gas_pct;      /* a batch's gas limit at most this percent of the
                                    block gas limit, 1..90 */
    unsigned due_limit;          /* jobs asked from the source per block, 1..1000 */
    unsigned max_in_flight;      /* transactions sent and not mined, 1..256 */
    int64_t replace_after_ms;    /* replace a transaction not mined after this, > 0 */
    unsigned fee_history_blocks; /* blocks of eth_feeHistory, 1..1024 */
    double tip_percentile;       /* reward percentile for the tip, 0..100 */
    struct feepolicy fees;
};

/*
 * Create a keeper from <opts> (copied; the pointers in it stay borrowed and
 * must outlive the keeper). Does no I/O. Returns ERR_OK, ERR_INVAL (a bound
 * above broken, a NULL rpc, due or key), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err keeper_new(const struct keeper_opts *opts, struct keeper **out);

/* Free <k>. Transactions in flight stay in the journal. Accepts NULL. */
void keeper_free(struct keeper *k);

/*
 * Resume: read the account's mined and pending nonces, adopt the journal's
 * transactions that are not mined yet (re-sending each), and set the next
 * nonce. Call once before the first tick. <now_ms>: a monotonic clock, ms.
 * Blocks. Returns ERR_OK, the errors of rpc.h (the node is unreachable or
 * refused), ERR_IO (journal), ERR_NOMEM. Logs what it adopted.
 */
LOOM_MUST_CHECK enum err keeper_start(struct keeper *k, int64_t now_ms);

/*
 * One round: reconcile transactions in flight, replace those past
 * replace_after_ms, and on a new block settle what is due. Blocks on RPC.
 * Returns ERR_OK, or the error that stopped the round early (rpc.h's
 * errors, ERR_NOMEM); the next tick starts over, nothing is lost: a block
 * whose settlement round failed is settled again on the next tick, not
 * only once the next block arrives.
 * Logs every transaction and settlement.
 */
LOOM_MUST_CHECK enum err keeper_tick(struct keeper *k, int64_t now_ms);

/* The keeper's series (kstats.h), borrowed until keeper_free(); read them
 * with metrics_value(). */
const struct kstats *keeper_stats(const struct keeper *k);

/* The registry holding the keeper's series, borrowed until keeper_free():
 * what the service serves on /metrics (metrics_http_start()). */
struct metrics *keeper_metrics(struct keeper *k);

/* The nonce the next new transaction will use. */
uint64_t keeper_next_nonce(const struct keeper *k);

#endif
