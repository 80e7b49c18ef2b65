/*
 * kstats -- see kstats.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include "kstats.h"

const double kstats_lag_bounds[KSTATS_LAG_BUCKETS] = {1,   2,   5,    10,   15,   30,
                                                      60,  120, 300,  600,  1800, 3600};

void kstats_observe_lag(struct kstats *s, double lag_s)
{
    if (!(lag_s > 0))
        lag_s = 0;
    size_t i = 0;
    while (i < KSTATS_LAG_BUCKETS && lag_s > kstats_lag_bounds[i])
        i++;
    s->lag_counts[i]++;
    s->lag_sum_s += lag_s;
    s->lag_n++;
}

static enum err metric(struct buf *out, const char *name, const char *type, const char *help,
                       double v)
{
    return buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type,
                       name, v);
}

enum err kstats_render(const struct kstats *s, struct buf *out)
{
    enum err e = ERR_OK;
#define M(name, type, help, v)                                                                     \
    if (e == ERR_OK)                                                                               \
    e = metric(out, "loom_keeper_" name, type, help, (double)(v))
    M("jobs_due", "gauge", "Due jobs the source gave at the last block.", s->jobs_due);
    M("jobs_confirmed_total", "counter", "Due jobs confirmed by checkUpkeep and sent.",
      s->jobs_confirmed);
    M("jobs_settled_total", "counter", "Jobs settled by the keeper's mined transactions.",
      s->jobs_settled);
    M("jobs_skipped_total", "counter", "Batch items found already settled on chain.",
      s->jobs_skipped);
    M("txs_sent_total", "counter", "Transactions sent.", s->txs_sent);
    M("txs_replaced_total", "counter", "Fee-bumped replacements sent.", s->txs_replaced);
    M("txs_failed_total", "counter", "Transactions refused, reverted or dropped.", s->txs_failed);
    M("txs_in_flight", "gauge", "Transactions sent and not yet mined.", s->txs_in_flight);
    M("gas_used_total", "counter", "Gas used by the keeper's mined transactions.", s->gas_used);
    M("balance_wei", "gauge", "The keeper's balance in wei.", s->balance_wei);
    M("balance_low", "gauge", "1 when the balance would not cover the next hour of batches.",
      s->balance_low);
    M("last_block", "gauge", "The last block the keeper saw.", s->last_block);
#undef M
    if (e == ERR_OK)
        e = buf_appendf(out,
                        "# HELP loom_keeper_settlement_lag_seconds Mined block time minus due "
                        "time.\n# TYPE loom_keeper_settlement_lag_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < KSTATS_LAG_BUCKETS && e == ERR_OK; i++) {
        cum += s->lag_counts[i];
        e = buf_appendf(out, "loom_keeper_settlement_lag_seconds_bucket{le=\"%g\"} %llu\n",
                        kstats_lag_bounds[i], (unsigned long long)cum);
    }
    cum += s->lag_counts[KSTATS_LAG_BUCKETS];
    if (e == ERR_OK)
        e = buf_appendf(out,
                        "loom_keeper_settlement_lag_seconds_bucket{le=\"+Inf\"} %llu\n"
                        "loom_keeper_settlement_lag_seconds_sum %.17g\n"
                        "loom_keeper_settlement_lag_seconds_count %llu\n",
                        (unsigned long long)cum, s->lag_sum_s, (unsigned long long)s->lag_n);
    return e;
}
