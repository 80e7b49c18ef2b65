/*
 * chain -- what the indexer reads from the chain, behind a small interface.
 *
 * Three questions: the head's number, one block header by number, and the
 * escrow's logs over a block range. chain_rpc_new() answers them with
 * common/eth/rpc against a JSON-RPC node (eth_blockNumber,
 * eth_getBlockByNumber, eth_getLogs filtered by the escrow's address and
 * the followed topics); unit tests plug in a scripted chain instead, so the
 * follower's range, reorg and retry logic runs without a node.
 * Not here: deciding what to fetch (follower.h), decoding (escrowlog.h),
 * logging (the follower logs, with chain_errmsg()).
 * Threading: a chain belongs to one thread; every call blocks (rpc.h).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_INDEXER_CHAIN_H
#define LOOM_INDEXER_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct rpc;
struct rpc_logs;
struct rpc_stats;

/* A block header: what the follower needs to chain blocks together. */
struct chain_header {
    uint64_t number;
    uint8_t hash[32];
    uint8_t parent_hash[32];
    uint64_t timestamp; /* Unix seconds */
};

/*
 * The operations of a chain source. Every one returns ERR_OK or:
 *   head:   transport errors (ERR_TIMEDOUT, ERR_UNAVAILABLE, ERR_IO,
 *           ERR_PROTO, ERR_RPC, ERR_AUTH, ERR_NOMEM).
 *   header: ERR_NOTFOUND (no block <number> on the chain now: it is above
 *           the head, or the chain was rolled back below it), transport errors.
 *   logs:   fills *out (zeroed by the caller; released by the caller with
 *           rpc_logs_release()) with the followed logs of blocks from..to
 *           inclusive, in block then log-index order. ERR_TOOBIG when the
 *           node refuses the range or the answer is too large (a shorter
 *           range may succeed); ERR_TIMEDOUT (the same advice: a slow
 *           node); transport errors.
 *   errmsg: the text of the last failure, for the caller's log line;
 *           borrowed, valid until the next call; never NULL.
 */
struct chain_ops {
    enum err (*head)(void *ctx, uint64_t *number);
    enum err (*header)(void *ctx, uint64_t number, struct chain_header *out);
    enum err (*logs)(void *ctx, uint64_t from, uint64_t to, struct rpc_logs *out);
    const char *(*errmsg)(void *ctx);
};

/* A chain source: operations and their context (both borrowed). */
struct chain {
    const struct chain_ops *ops;
    void *ctx;
};

/* The JSON-RPC implementation's context. */
struct chain_rpc;

/*
 * Make a chain source that asks <rpc> (borrowed; must outlive the result)
 * for the logs of <address> (20 bytes, copied) whose topic 0 is one of
 * <topics> (n_topics entries of 32 bytes, copied; 1..16).
 *   out:   the context (caller owns; chain_rpc_free()).
 *   chain: filled with the operations and the context.
 * Returns ERR_OK, ERR_INVAL (n_topics out of range), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err chain_rpc_new(struct rpc *rpc, const uint8_t address[20],
                                       const uint8_t (*topics)[32], size_t n_topics,
                                       struct chain_rpc **out, struct chain *chain);

/* Free <c>. Accepts NULL. Does not free the rpc client. */
void chain_rpc_free(struct chain_rpc *c);

#endif
