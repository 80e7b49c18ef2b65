/*
 * follower -- the indexer's core: follows LoomEscrow's events from the
 * deployment block to the head and hands them to a sink, exactly once,
 * through reorganisations and crashes (docs/indexer.md explains the design).
 *
 * One step: read the head (eth_blockNumber); take the next block range after
 * the checkpoint, at most the current span long and <confirmations> below
 * the head; check that the range's first block's parent is the checkpoint
 * block (else a reorg: find the fork point among the recent block hashes it
 * keeps, roll the sink back to it, and go on from there); read the range's
 * logs between two reads of its last block's header (a changed hash means
 * the chain moved: retry); decode; hand the events and the new checkpoint to
 * the sink in batches of at most max_batch_events, cut at block boundaries.
 * The span halves when the node refuses a range, answers too much or times
 * out; after a good range it is sized to about target_range_logs events by
 * the density (events per block) just seen, growing at most twice per range,
 * between 1 and max_range_blocks but below the last refused width until 64
 * ranges have passed since.
 * When caught up it checks that the checkpoint block is still on the chain,
 * so a reorg to a chain no longer than ours is seen too.
 * Not here: the transport to the job store (sink.h), RPC (chain.h), ABI
 * decoding (escrowlog.h), configuration (main.c).
 * Threading: one thread; follower_step() and follower_run() block on the
 * chain and the sink. With pipeline_applies the sink's apply runs on a
 * second thread, one batch at a time, while the next range is read
 * (follower_flush()). follower_wake() and follower_set_head_sub() may be
 * called from any thread (a new-head subscription's, eth/headsub.h).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_INDEXER_FOLLOWER_H
#define LOOM_INDEXER_FOLLOWER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chain.h"
#include "err.h"
#include "sink.h"

struct escrowlog;
struct follower;

/* Settings; a zero field takes the default in brackets. */
struct follower_metrics;

struct follower_opts {
    uint64_t start_block;          /* first block read when the sink has no
                                      checkpoint: the escrow's deployment
                                      block (>= 1; required) */
    uint64_t confirmations;        /* blocks kept below the head [0; anvil] */
    uint64_t initial_range_blocks; /* first span [16]: small, since a refused
                                      range costs the node as much as an
                                      answered one; the span grows fast */
    uint64_t max_range_blocks;     /* largest span, <= PROTO_BLOCK_RANGE_MAX [10000] */
    size_t max_batch_events;       /* events per events.apply, <= PROTO_EVENTS_MAX [5000] */
    size_t target_range_logs;      /* events one eth_getLogs range should hold:
                                      the next span is the last range's
                                      density times this, <= max_batch_events
                                      [max_batch_events / 2] */
    uint64_t max_reorg_depth;      /* how far back to roll when no kept hash
                                      is shared, e.g. after a restart [128] */
    long poll_interval_ms;         /* head polling when caught up [250] */
    long backoff_base_ms;          /* first retry delay after an error [100] */
    long backoff_max_ms;           /* longest retry delay [5000] */
    long metrics_log_ms;           /* follower_run logs "indexer.metrics"
                                      this often; < 0 never [10000] */
    bool pipeline_applies;         /* true: the sink applies each batch on a
                                      thread of its own while the follower
                                      reads the next range (one batch in
                                      flight; see follower_flush()); false:
                                      each batch is applied before the step
                                      goes on [false; loom-indexer: true] */
    /* Optional (NULL): follower_run() calls on_step(on_step_arg, m, status)
     * after every step, on its own thread, with the metrics (borrowed for
     * the call) and the step's result (ERR_OK, or the error it will back
     * off from). For /metrics: the callback copies what it needs. */
    void (*on_step)(void *arg, const struct follower_metrics *m, enum err status);
    void *on_step_arg;
};

/* Counters and gauges for /metrics (monotonic unless marked gauge). */
struct follower_metrics {
    uint64_t head_block;      /* gauge: last eth_blockNumber */
    uint64_t indexed_block;   /* gauge: checkpoint (0 before the first) */
    uint64_t lag_blocks;      /* gauge: head - indexed */
    double lag_seconds;       /* gauge: now - timestamp of the indexed block while behind, else 0 */
    uint64_t events_applied;  /* events the sink newly applied */
    uint64_t events_rejected; /* logs that did not decode or fit the protocol (logged) */
    uint64_t batches;         /* events.apply commands acknowledged */
    uint64_t reorgs;          /* rollbacks to a fork point below the checkpoint */
    uint64_t last_reorg_depth;   /* gauge: blocks rolled back by the last one */
    uint64_t max_reorg_depth;    /* deepest so far */
    uint64_t rpc_errors;         /* chain calls that failed */
    uint64_t sink_errors;        /* sink calls that failed */
    uint64_t range_shrinks;      /* spans halved after a refusal or timeout */
    uint64_t span_blocks;        /* gauge: the current span */
    uint64_t head_sub_live;      /* gauge: 1 while a new-head subscription is up
                                    (follower_set_head_sub()), else 0 */
    uint64_t head_notifications; /* follower_wake() calls: new heads announced */
};

/*
 * Make a follower.
 *   opts:  borrowed, copied.
 *   chain, sink: copied structs; their contexts are borrowed and must
 *          outlive the follower.
 *   el:    borrowed; must outlive the follower.
 *   out:   the follower, owned by the caller (follower_free()).
 * Returns ERR_OK, ERR_INVAL (start_block 0, a span or batch size above the
 * protocol's caps, negative times), ERR_NOMEM. Calls nothing.
 */
LOOM_MUST_CHECK enum err follower_new(const struct follower_opts *opts, struct chain chain,
                                      struct sink sink, const struct escrowlog *el,
                                      struct follower **out);

/* Free <f>. Accepts NULL. */
void follower_free(struct follower *f);

/*
 * Do one step (see the file comment). *idle is set when there was nothing
 * to do (caught up and the checkpoint still canonical).
 * Returns ERR_OK (progress, a shrunk span, a rollback, or a retry after the
 * chain moved under the read); the chain's errors (rpc_errors counted); the
 * sink's errors (sink_errors counted; the checkpoint is read again on the
 * next step); ERR_TOOBIG when one block holds more than max_batch_events
 * events, or the node refuses a one-block range; ERR_PROTO when the node's
 * logs contradict the headers it gave (outside the range, out of order,
 * a removed log, a block hash that differs); ERR_STATE when a block's
 * hash changed between reads (the chain moved: retry). Logs what it decides.
 */
LOOM_MUST_CHECK enum err follower_step(struct follower *f, bool *idle);

/*
 * Step until *stop becomes non-zero, or, when <until_block> is non-zero,
 * until the checkpoint reaches it. Sleeps poll_interval_ms when idle (cut
 * short by follower_wake()) and
 * backs off exponentially with full jitter after errors (the errors are
 * logged, counted and retried, never returned).
 * Returns ERR_OK, or ERR_CANCELED when stopped by *stop.
 */
LOOM_MUST_CHECK enum err follower_run(struct follower *f, const volatile sig_atomic_t *stop,
                                      uint64_t until_block);

/*
 * Wait for the batch in flight (pipeline_applies), if any, and take its
 * outcome: on success the checkpoint, the recent hashes and the counters
 * move as if the step had applied it itself; on failure the sink's error
 * is counted (sink_errors) and logged, and the next step reads the
 * checkpoint again. With pipeline_applies a step may return with one batch
 * in flight; the sink is only ever sent a batch after the one before it was
 * acknowledged, and a step joins the batch in flight before any other sink
 * call (a rollback, checkpoint.get), before deciding that it is caught up,
 * and before sending the next batch; a range read while a batch was in
 * flight is dropped when that batch fails. follower_run() joins it before
 * returning; follower_free() waits for it and drops its outcome.
 * Returns ERR_OK (also when nothing is in flight) or the sink's error.
 */
LOOM_MUST_CHECK enum err follower_flush(struct follower *f);

/* Copy the metrics of <f> into *out. */
void follower_get_metrics(const struct follower *f, struct follower_metrics *out);

/*
 * Say that the chain has a new head (a newHeads notification): if
 * follower_run() is waiting for its next poll, the next step starts at
 * once; if a step is running, the next wait is skipped. Only a hint: the
 * step reads the head, headers and logs as always, so a false or lost
 * wake-up changes nothing but timing. Counted in head_notifications.
 * Thread-safe; never blocks for long (a mutex held for a few instructions).
 */
void follower_wake(struct follower *f);

/* Record whether a new-head subscription is up (the head_sub_live gauge).
 * Thread-safe. */
void follower_set_head_sub(struct follower *f, bool live);

#endif
