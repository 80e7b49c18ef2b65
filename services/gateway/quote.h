/*
 * quote -- GET /api/quote's backend: USD cents -> wei by eth_call to
 * LoomEscrow.quote(uint64) (docs/contracts.md "Price conversion": the exact
 * figure create() will demand) and the price feed's latestRoundData()
 * (Chainlink AggregatorV3Interface) for the round id, answer and age, both
 * read at one block number so they describe the same state.
 *
 * common/eth/rpc blocks, and the gateway's event loop must never wait on the
 * chain, so calls run on a small pool of worker threads (one struct rpc
 * each, as rpc.h requires); a finished request is handed back to the loop
 * with event_active() on its own event, and the callback runs there. The
 * event_base must have been made after evthread_use_pthreads().
 * Not here: HTTP (gateway.c), the JSON of a quote (codec.c).
 * Threading: quote_new/quote_request/quote_free on the loop's thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_GW_QUOTE_H
#define LOOM_GW_QUOTE_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "buf.h"
#include "err.h"

struct event_base;
struct quoter;

struct quote_config {
    const char *rpc_url;         /* Ethereum JSON-RPC URL (borrowed, copied) */
    const char *deployment_path; /* contracts/deploy.sh's JSON: escrow, priceFeed,
                                    priceFeedDecimals (borrowed) */
    int threads;                 /* worker threads, 1..16 */
    long rpc_timeout_ms;         /* per eth_call attempt, > 0; one attempt (no retry):
                                    a client can ask again */
    size_t max_queued;           /* requests waiting for a thread at most; more: ERR_UNAVAILABLE */
};

/*
 * Read the deployment file and start the worker threads on <base>
 * (borrowed; must outlive the quoter). Does not contact the node.
 *   why: on failure, a one-line reason (the file, the member).
 * Returns ERR_OK; ERR_INVAL (bad settings, or a deployment file that does
 * not parse or lacks escrow, priceFeed or priceFeedDecimals 0..36);
 * ERR_IO (unreadable file, thread start); ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err quote_new(struct event_base *base, const struct quote_config *cfg,
                                   struct quoter **out, struct buf *why);

/*
 * Queue a quote for <usd_cents> (1..10^12); <cb>(<arg>, ...) runs once from
 * the loop. Callback errors: ERR_STATE (the escrow refused the feed's answer:
 * stale, incomplete, future or non-positive; msg names the revert selector),
 * ERR_RPC (the node answered with another error or the call failed),
 * ERR_CANCELED (quote_free). Signature of backend.h's quote().
 * Returns ERR_OK; ERR_INVAL (cents out of range); ERR_UNAVAILABLE (queue
 * full); ERR_NOMEM. Does not block.
 */
LOOM_MUST_CHECK enum err quote_request(void *quoter, int64_t usd_cents, gw_quote_cb cb, void *arg);

/* Stop the threads (waiting for calls in progress, each bounded by the rpc
 * timeout), run every callback not yet run with ERR_CANCELED, free.
 * Accepts NULL. */
void quote_free(struct quoter *q);

#endif
