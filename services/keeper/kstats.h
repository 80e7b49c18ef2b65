/*
 * kstats -- the keeper's metrics and their Prometheus text form.
 *
 * Exposed on /metrics (Prometheus text exposition format 0.0.4):
 *   loom_keeper_jobs_due                 gauge: due jobs the source gave at the last block
 *   loom_keeper_jobs_confirmed_total     counter: due jobs checkUpkeep confirmed and sent
 *   loom_keeper_jobs_settled_total       counter: jobs settled by the keeper's mined transactions
 *   loom_keeper_jobs_skipped_total       counter: items a mined batch skipped (settled by
 *                                        someone else first: another keeper, Automation)
 *   loom_keeper_settlement_lag_seconds   histogram: mined block time minus due time
 *   loom_keeper_txs_sent_total           counter: new transactions accepted by the node
 *   loom_keeper_txs_replaced_total       counter: fee-bumped replacements accepted
 *   loom_keeper_txs_failed_total         counter: sends refused, reverted or dropped
 *   loom_keeper_txs_in_flight            gauge: sent, not yet mined
 *   loom_keeper_gas_used_total           counter: gas of the keeper's mined transactions
 *   loom_keeper_balance_wei              gauge: the keeper's balance (a double: 15-16 digits)
 *   loom_keeper_balance_low              gauge: 1 when the balance would not cover the next
 *                                        hour of batches at the current fees
 *   loom_keeper_last_block               gauge: the last block the keeper saw
 * Not here: collecting (keeper.c updates the struct), HTTP (khttp.c).
 * Threading: the struct belongs to the keeper's thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_KEEPER_KSTATS_H
#define LOOM_KEEPER_KSTATS_H

#include <stdint.h>

#include "buf.h"
#include "err.h"

/* Lag buckets, seconds: from one block on a fast L2 to an hour. */
#define KSTATS_LAG_BUCKETS 12
extern const double kstats_lag_bounds[KSTATS_LAG_BUCKETS];

struct kstats {
    uint64_t jobs_due;
    uint64_t jobs_confirmed;
    uint64_t jobs_settled;
    uint64_t jobs_skipped;
    uint64_t lag_counts[KSTATS_LAG_BUCKETS + 1]; /* last: +Inf; not cumulative */
    double lag_sum_s;
    uint64_t lag_n;
    uint64_t txs_sent;
    uint64_t txs_replaced;
    uint64_t txs_failed;
    uint64_t txs_in_flight;
    uint64_t gas_used;
    double balance_wei;
    int balance_low;
    uint64_t last_block;
};

/* Count one settlement lag of <lag_s> seconds (negative counts as 0). */
void kstats_observe_lag(struct kstats *s, double lag_s);

/* Append the Prometheus text of <s> to <out>. Errors of buf (ERR_TOOBIG, ERR_NOMEM). */
LOOM_MUST_CHECK enum err kstats_render(const struct kstats *s, struct buf *out);

#endif
