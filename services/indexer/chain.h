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

/* The most eth_getLogs requests chain_rpc_set_parallel() puts in flight. */
#define CHAIN_RPC_MAX_PARALLEL 8

/*
 * Read the logs of a range with up to 1 + n_extra eth_getLogs requests in
 * flight at once: the range is cut into adjacent parts of near-equal width
 * (at least <min_part_blocks> blocks each, so a narrow range stays one
 * request), the first part is asked on the main client and each other on
 * one of <extra> from a thread of its own, and the logs are joined in block
 * order. Why: catch-up waits on the node's eth_getLogs, whose cost grows
 * with the logs it returns; a node that serves requests on several threads
 * (anvil, geth) answers parts on idle cores at once. The result is the same
 * as one request's, and the follower's hash check around the read
 * (follower.c) covers every part. Each part also gets the client's response
 * cap, so a range that one request could not carry may succeed. A part that
 * is refused or times out makes the whole read ERR_TOOBIG or ERR_TIMEDOUT
 * (the follower narrows the range); otherwise the first failing part's
 * error is returned.
 *   extra: n_extra clients (borrowed; must outlive <c>; each distinct from
 *          the main client and used only inside the logs call); 0..7 of
 *          them; n_extra 0 turns it off.
 *   min_part_blocks: >= 1.
 * Returns ERR_OK, ERR_INVAL (too many clients, a NULL or repeated one,
 * min_part_blocks 0). Not thread-safe: call before reading.
 */
LOOM_MUST_CHECK enum err chain_rpc_set_parallel(struct chain_rpc *c, struct rpc *const *extra,
                                                size_t n_extra, uint64_t min_part_blocks);

/* Free <c>. Accepts NULL. Does not free the rpc client. */
void chain_rpc_free(struct chain_rpc *c);

#endif
