/*
 * kstats -- see kstats.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include "kstats.h"

#include <stddef.h>

#include "metrics.h"

/* Lag buckets, seconds: from one block on a fast L2 to an hour. */
static const double lag_bounds[] = {1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600};

/* The counters and gauges, in the order /metrics lists them (the histogram
 * comes last). */
static const struct {
    size_t off; /* of the series pointer in struct kstats */
    int counter;
    const char *name, *help;
} plain[] = {
    {offsetof(struct kstats, jobs_due), 0, "loom_keeper_jobs_due",
     "Due jobs the source gave at the last block."},
    {offsetof(struct kstats, jobs_confirmed), 1, "loom_keeper_jobs_confirmed_total",
     "Due jobs confirmed by checkUpkeep and sent."},
    {offsetof(struct kstats, jobs_settled), 1, "loom_keeper_jobs_settled_total",
     "Jobs settled by the keeper's mined transactions."},
    {offsetof(struct kstats, jobs_skipped), 1, "loom_keeper_jobs_skipped_total",
     "Batch items found already settled on chain."},
    {offsetof(struct kstats, txs_sent), 1, "loom_keeper_txs_sent_total", "Transactions sent."},
    {offsetof(struct kstats, txs_replaced), 1, "loom_keeper_txs_replaced_total",
     "Fee-bumped replacements sent."},
    {offsetof(struct kstats, txs_failed), 1, "loom_keeper_txs_failed_total",
     "Transactions refused, reverted or dropped."},
    {offsetof(struct kstats, txs_in_flight), 0, "loom_keeper_txs_in_flight",
     "Transactions sent and not yet mined."},
    {offsetof(struct kstats, gas_used), 1, "loom_keeper_gas_used_total",
     "Gas used by the keeper's mined transactions."},
    {offsetof(struct kstats, balance_wei), 0, "loom_keeper_balance_wei",
     "The keeper's balance in wei."},
    {offsetof(struct kstats, balance_low), 0, "loom_keeper_balance_low",
     "1 when the balance would not cover the next hour of batches."},
    {offsetof(struct kstats, last_block), 0, "loom_keeper_last_block",
     "The last block the keeper saw."},
};

enum err kstats_init(struct kstats *s, struct metrics *m)
{
    enum err e = ERR_OK;
    for (size_t i = 0; e == ERR_OK && i < sizeof(plain) / sizeof(plain[0]); i++) {
        struct metrics_series **out = (struct metrics_series **)((char *)s + plain[i].off);
        e = plain[i].counter ? metrics_counter_new(m, plain[i].name, plain[i].help, out)
                             : metrics_gauge_new(m, plain[i].name, plain[i].help, out);
    }
    if (e == ERR_OK)
        e = metrics_histogram_new(m, "loom_keeper_settlement_lag_seconds",
                                  "Mined block time minus due time.", lag_bounds,
                                  sizeof(lag_bounds) / sizeof(lag_bounds[0]), &s->settlement_lag);
    /* The names, helps and bounds are constants that metrics_family_new()
     * accepts, so ERR_INVAL would be a bug here, not a runtime condition. */
    LOOM_ASSERT(e != ERR_INVAL);
    return e;
}

void kstats_observe_lag(const struct kstats *s, double lag_s)
{
    metrics_observe(s->settlement_lag, lag_s > 0 ? lag_s : 0);
}

enum err kstats_health(int64_t last_ok_ms, int64_t now_ms, int64_t stale_ms, uint64_t last_block,
                       struct buf *reason)
{
    enum err e;
    if (last_ok_ms >= 0 && now_ms - last_ok_ms < stale_ms)
        return ERR_OK;
    if (last_ok_ms < 0)
        e = buf_appendf(reason, "stale: no good tick yet");
    else
        e = buf_appendf(
            reason, "stale: last good tick %lld ms ago (limit %lld ms), last block %llu",
            (long long)(now_ms - last_ok_ms), (long long)stale_ms, (unsigned long long)last_block);
    return e == ERR_OK ? ERR_UNAVAILABLE : e;
}
