/*
 * chainhead -- the newest block's base fee and the node's suggested tip,
 * kept ready for the worker's transactions, so that a claim prices itself
 * without a round trip to the node on the dispatch path.
 *
 * A thread of its own, with its own JSON-RPC connection to the node (kept
 * alive by common/eth/rpc), reads eth_getBlockByNumber("latest", false) and
 * eth_maxPriorityFeePerGas in one batch every interval, and at once when
 * poked (the worker pokes it after a transaction of its own is mined: that
 * moves the head, and a chain that mines on demand, such as anvil, has no
 * other new blocks). It reads the node, never the gateway.
 * Not here: what the fees are used for (escrow.h: max_fee_per_gas = 2 x base
 * fee + tip), logging beyond one line when reading starts or stops failing.
 * Threading: chainhead_get() and chainhead_poke() may be called from any
 * thread; the rest from the thread that started it.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_WORKER_CHAINHEAD_H
#define LOOM_WORKER_CHAINHEAD_H

#include <stdint.h>

#include "err.h"
#include "eth/u256.h"

struct buf;
struct chainhead;

/* One reading of the head. */
struct chainhead_fees {
    struct u256 base_fee_wei; /* baseFeePerGas of the newest block (EIP-1559) */
    struct u256 tip_wei;      /* eth_maxPriorityFeePerGas */
    uint64_t block;           /* the newest block's number */
    uint64_t read_ns;         /* CLOCK_MONOTONIC when the node answered */
};

/*
 * Read the head once (so the fees are ready when this returns), then start
 * the thread that keeps reading it every <interval_ms> (> 0).
 *   rpc_url: the node; borrowed, copied.
 *   out:     receives the reader (chainhead_free()).
 *   msg:     why it failed (may be NULL).
 * Returns ERR_OK; ERR_INVAL (bad URL or interval); ERR_PROTO (the newest
 * block has no base fee: a pre-London chain); ERR_NOMEM; ERR_IO (no thread);
 * the errors of common/eth/rpc for the first reading. Blocks for that one
 * reading.
 */
LOOM_MUST_CHECK enum err chainhead_start(const char *rpc_url, long interval_ms,
                                         struct chainhead **out, struct buf *msg);

/*
 * Copy the newest reading into *out. Never blocks on the node (takes a
 * mutex the reader holds only to copy a reading in).
 */
void chainhead_get(struct chainhead *h, struct chainhead_fees *out);

/* Ask for a new reading now, instead of at the next interval. Any thread. */
void chainhead_poke(struct chainhead *h);

/* Stop the thread (waits for a reading in flight) and free <h>. Accepts NULL. */
void chainhead_free(struct chainhead *h);

#endif
