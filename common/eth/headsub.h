/*
 * headsub -- eth_subscribe("newHeads") over a WebSocket, kept up by a
 * thread of its own: "a new block is there" pushed by the node instead of
 * found by polling eth_blockNumber.
 *
 * The thread connects (common/ws), sends
 * {"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newHeads"]},
 * waits for the subscription id, and then calls on_head_cb once per
 * eth_subscription notification that carries that id (geth's and anvil's
 * pub/sub, https://geth.ethereum.org/docs/interacting-with-geth/rpc/pubsub).
 * When the connection drops, the handshake fails (an HTTP-only endpoint),
 * or the node refuses eth_subscribe (a JSON-RPC error), it calls
 * on_state_cb with live = false and the reason, waits a backoff with full
 * jitter, and tries again, for as long as it runs. An idle connection is
 * pinged every ping_interval_ms; no pong (nor anything else) by the next
 * ping counts as a dropped connection, so a silently dead link is noticed.
 * Notifications are a hint only: the head number passed on is the node's
 * claim, and a notification can be lost (a reconnect, a node that skips
 * heads on a reorg), so a caller keeps reading the chain by its own path
 * and keeps polling as a safety net.
 * Not here: the WebSocket framing (common/ws), any other subscription,
 * logging (common/ code never logs: on_state_cb hands the caller the text).
 * Threading: headsub_start() makes one thread, headsub_free() stops and
 * joins it; both from the same thread. The callbacks run on headsub's
 * thread, one at a time, and must not block for long. headsub_get_stats()
 * is safe from any thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_ETH_HEADSUB_H
#define LOOM_ETH_HEADSUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct headsub;

/* Defaults for struct headsub_opts fields left 0. */
#define HEADSUB_DEFAULT_CONNECT_TIMEOUT_MS 3000 /* connect, handshake, subscription reply */
#define HEADSUB_DEFAULT_BACKOFF_BASE_MS    500
/* A node that is down or refuses subscriptions is asked again at most
 * every 30 s: rare enough to cost nothing, soon enough to recover. */
#define HEADSUB_DEFAULT_BACKOFF_MAX_MS   30000
#define HEADSUB_DEFAULT_PING_INTERVAL_MS 15000
/* A newHeads header is about 600 bytes of JSON (more with a big logsBloom
 * or extraData); 1 MiB leaves room without letting a node run us out of
 * memory. */
#define HEADSUB_DEFAULT_MAX_MESSAGE_BYTES ((size_t)1 << 20)

struct headsub_opts {
    const char *url;          /* ws://host[:port][/path]; borrowed, copied */
    long connect_timeout_ms;  /* per attempt: TCP, handshake and the
                                 eth_subscribe reply; 0 = default */
    long backoff_base_ms;     /* first wait after a failure; 0 = default */
    long backoff_max_ms;      /* cap on any wait; 0 = default */
    long ping_interval_ms;    /* idle time before a ping; 0 = default */
    size_t max_message_bytes; /* 0 = default */
    /* Called once per notification of our subscription. number: the
     * block number the notification claims (its "number" field), 0 when
     * absent or malformed. Required. */
    void (*on_head_cb)(void *arg, uint64_t number);
    /* Called when the subscription comes up (live true, why ERR_OK, msg
     * "") and each time an attempt or a live subscription fails (live
     * false; why: ERR_IO / ERR_TIMEDOUT / ERR_UNAVAILABLE (not a websocket
     * endpoint) / ERR_PROTO / ERR_RPC (eth_subscribe refused) / ERR_TOOBIG;
     * msg: what happened, borrowed for the call). Optional (NULL). */
    void (*on_state_cb)(void *arg, bool live, enum err why, const char *msg);
    void *arg; /* passed to both callbacks */
};

/* Counters; monotonic except live. */
struct headsub_stats {
    bool live;         /* the subscription is up now */
    uint64_t heads;    /* notifications of our subscription received */
    uint64_t attempts; /* connection attempts */
    uint64_t failures; /* attempts that failed and live subscriptions that ended */
};

/*
 * Check <opts>, copy them, and start the thread (it connects at once).
 *   opts: borrowed.
 *   out:  owned by the caller (headsub_free()).
 * Returns ERR_OK; ERR_INVAL (no url, not ws://, no on_head_cb, a negative
 * time, backoff_base_ms > backoff_max_ms); ERR_NOMEM; ERR_IO (no pipe or
 * thread). On failure nothing runs and no callback is ever called.
 */
LOOM_MUST_CHECK enum err headsub_start(const struct headsub_opts *opts, struct headsub **out);

/*
 * The WebSocket URL a node serves beside its HTTP JSON-RPC URL when both
 * share a port, as anvil's do: http://host[:port][/path] gives
 * ws://host[:port][/path] (the scheme case-insensitive; port 80 stays
 * implied). geth serves WebSocket on a port of its own (8546), so this
 * guess is right for anvil and for proxies that route both, and a wrong
 * guess only costs a refused handshake now and then.
 *   rpc_url: borrowed.
 *   out:     a heap string owned by the caller (free()).
 * Returns ERR_OK; ERR_INVAL (not http://: https:// would need wss://,
 * which common/ws does not speak); ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err headsub_ws_url_for(const char *rpc_url, char **out);

/* Copy the counters into *out. Thread-safe. */
void headsub_get_stats(const struct headsub *h, struct headsub_stats *out);

/*
 * Stop the thread (it is woken from any wait at once; closing the
 * WebSocket waits at most 200 ms), join it and free <h>. No callback runs
 * after it returns. Accepts NULL.
 */
void headsub_free(struct headsub *h);

#endif
