/*
 * kstats -- the keeper's metric families in a common/metrics registry, and
 * the rule its /health follows.
 *
 * Families (Prometheus text on /metrics, served by common/metrics):
 *   loom_keeper_jobs_due                 gauge: due jobs the source gave at the last block
 *   loom_keeper_jobs_confirmed_total     counter: due jobs checkUpkeep confirmed and sent
 *   loom_keeper_jobs_settled_total       counter: jobs settled by the keeper's mined transactions
 *   loom_keeper_jobs_skipped_total       counter: items a mined batch skipped (settled by
 *                                        someone else first: another keeper, Automation)
 *   loom_keeper_txs_sent_total           counter: new transactions accepted by the node
 *   loom_keeper_txs_replaced_total       counter: fee-bumped replacements accepted
 *   loom_keeper_txs_failed_total         counter: sends refused, reverted or dropped
 *   loom_keeper_txs_in_flight            gauge: sent, not yet mined
 *   loom_keeper_gas_used_total           counter: gas of the keeper's mined transactions
 *   loom_keeper_balance_wei              gauge: the keeper's balance (a double: 15-16 digits)
 *   loom_keeper_balance_low              gauge: 1 when the balance would not cover the next
 *                                        hour of batches at the current fees
 *   loom_keeper_last_block               gauge: the last block the keeper saw
 *   loom_keeper_settlement_lag_seconds   histogram: mined block time minus due time
 * Not here: collecting (keeper.c updates the series), HTTP (common/metrics).
 * Threading: the registry and its series belong to the keeper's thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_KEEPER_KSTATS_H
#define LOOM_KEEPER_KSTATS_H

#include <stdint.h>

#include "buf.h"
#include "err.h"

struct metrics;
struct metrics_series;

/* One series per family above; each owned by the registry kstats_init()
 * declared it in. */
struct kstats {
    struct metrics_series *jobs_due;
    struct metrics_series *jobs_confirmed;
    struct metrics_series *jobs_settled;
    struct metrics_series *jobs_skipped;
    struct metrics_series *txs_sent;
    struct metrics_series *txs_replaced;
    struct metrics_series *txs_failed;
    struct metrics_series *txs_in_flight;
    struct metrics_series *gas_used;
    struct metrics_series *balance_wei;
    struct metrics_series *balance_low;
    struct metrics_series *last_block;
    struct metrics_series *settlement_lag;
};

/*
 * Declare the keeper's families in <m> (borrowed; must outlive <s>) and
 * fill <s> (the caller's) with their series, all at 0.
 * Returns ERR_OK, ERR_EXISTS (a family of that name is already in <m>),
 * ERR_NOMEM. On failure <m> may hold some of the families.
 */
LOOM_MUST_CHECK enum err kstats_init(struct kstats *s, struct metrics *m);

/* Count one settlement lag of <lag_s> seconds (negative counts as 0: a
 * block time a little behind the due time's clock). */
void kstats_observe_lag(const struct kstats *s, double lag_s);

/*
 * Judge /health (a metrics_health_fn's answer): healthy while the last good
 * tick, at monotonic <last_ok_ms> (-1: none yet), is less than <stale_ms>
 * before <now_ms>. <last_block>: the last block seen, named in the reason.
 * Returns ERR_OK when healthy; ERR_UNAVAILABLE with the reason appended to
 * <reason>; buf's errors (ERR_TOOBIG, ERR_NOMEM) if the reason does not fit.
 */
LOOM_MUST_CHECK enum err kstats_health(int64_t last_ok_ms, int64_t now_ms, int64_t stale_ms,
                                       uint64_t last_block, struct buf *reason);

#endif
