/*
 * sink -- where the indexer hands what it read: the job store's three
 * indexer commands (docs/PROTOCOL.md: events.apply, reorg.rollback,
 * checkpoint.get), as an interface.
 *
 * The follower (follower.h) is written against this and nothing else, so it
 * runs unchanged against an in-memory or journal-file sink (memsink.h: unit
 * tests, benchmarks, the crash test) and against the job store over the bus
 * (a REQ client; see docs/indexer.md for its state).
 * Contract every implementation keeps (the job store's, from PROTOCOL.md):
 *   - apply: the batch's events and its checkpoint become durable together
 *     or not at all; an event already held, by (block hash, log index), is
 *     ignored (events_applied counts only new ones); a batch that leaves a
 *     gap after the checkpoint is ERR_STATE.
 *   - rollback: every event above to_block is forgotten and the checkpoint
 *     becomes (to_block, block_hash); ERR_STATE when the sink knows a
 *     different hash for to_block (that block is not shared by both chains);
 *     ERR_NOTFOUND when it has no checkpoint.
 *   - checkpoint: the last durable checkpoint, has_checkpoint false before
 *     the first apply.
 * Outputs are written only on ERR_OK. Any other error means nothing changed
 * or the outcome is unknown (a lost reply): the follower then reads the
 * checkpoint again and re-sends, which the duplicate rule makes harmless.
 * Threading: as the implementation's; the follower calls from one thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_INDEXER_SINK_H
#define LOOM_INDEXER_SINK_H

#include "err.h"

struct proto_events_apply;
struct proto_applied;
struct proto_reorg_rollback;
struct proto_rollback;
struct proto_checkpoint;

/* All pointers borrowed for the call. errmsg: text of the last failure,
 * borrowed until the next call, never NULL. */
struct sink_ops {
    enum err (*apply)(void *ctx, const struct proto_events_apply *batch,
                      struct proto_applied *out);
    enum err (*rollback)(void *ctx, const struct proto_reorg_rollback *rb,
                         struct proto_rollback *out);
    enum err (*checkpoint)(void *ctx, struct proto_checkpoint *out);
    const char *(*errmsg)(void *ctx);
};

/* A sink: operations and their context (both borrowed). */
struct sink {
    const struct sink_ops *ops;
    void *ctx;
};

#endif
