/*
 * imetrics -- the indexer's /metrics and /health (common/metrics.h) on a
 * thread of their own, fed from the follower's loop.
 *
 * The follower is a blocking loop, so the HTTP listener runs its own
 * event_base on a second thread. The follower's thread hands each step's
 * figures to imetrics_update() (under a mutex); the listener's collect
 * callback copies the last ones into the registry when /metrics is read.
 * Families (Prometheus names; _total are counters, the rest gauges):
 *   loom_indexer_head_block, loom_indexer_indexed_block,
 *   loom_indexer_lag_blocks, loom_indexer_lag_seconds,
 *   loom_indexer_events_applied_total, loom_indexer_events_rejected_total,
 *   loom_indexer_batches_total, loom_indexer_reorgs_total,
 *   loom_indexer_reorg_last_depth_blocks, loom_indexer_reorg_max_depth_blocks,
 *   loom_indexer_rpc_errors_total, loom_indexer_sink_errors_total,
 *   loom_indexer_range_shrinks_total, loom_indexer_span_blocks,
 *   loom_indexer_head_subscription_up, loom_indexer_head_notifications_total.
 * /health: 200 once a step succeeded and while the last one did; 503 before
 * the first success ("starting") and while steps fail, naming the side
 * that failed ("job store: ..." when the sink's error count rose in that
 * step, else "chain: ...").
 * Not here: what the figures mean (follower.h), logging.
 * Threading: imetrics_update() from any one thread; the rest from the
 * thread that made it.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_INDEXER_IMETRICS_H
#define LOOM_INDEXER_IMETRICS_H

#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "follower.h"

struct imetrics;

/* Make the registry with its families, no listener yet.
 *   out: owned by the caller (imetrics_free()).
 * Returns ERR_OK, ERR_NOMEM. */
LOOM_MUST_CHECK enum err imetrics_new(struct imetrics **out);

/* Record one step: <m> (borrowed, copied) and the step's <status>. The
 * signature of follower_opts.on_step (arg is the imetrics). */
void imetrics_update(void *arg, const struct follower_metrics *m, enum err status);

/* Append the Prometheus text of the last update to <out> (what /metrics
 * serves). Call it only while no listener runs (tests), or let the
 * listener do it. Returns metrics_render()'s errors. */
LOOM_MUST_CHECK enum err imetrics_render(struct imetrics *im, struct buf *out);

/* Append /health's reason to <reason> and return ERR_OK when healthy,
 * ERR_UNAVAILABLE otherwise (see above). Thread-safe. */
LOOM_MUST_CHECK enum err imetrics_health(struct imetrics *im, struct buf *reason);

/* Serve /metrics and /health on <host> (borrowed):<port> (0: a free port)
 * from a new thread. Returns ERR_OK, ERR_STATE (already started),
 * metrics_http_start()'s errors (ERR_EXISTS: address in use, ERR_INVAL),
 * ERR_NOMEM, ERR_IO (no thread). */
LOOM_MUST_CHECK enum err imetrics_start(struct imetrics *im, const char *host, uint16_t port);

/* The port the listener got (0 before imetrics_start()). */
uint16_t imetrics_port(const struct imetrics *im);

/* Stop the listener (joins its thread) and free everything. Accepts NULL. */
void imetrics_free(struct imetrics *im);

#endif
