/*
 * khttp -- the keeper's /health and /metrics over libevent's evhttp.
 *
 * GET /metrics answers the Prometheus text of the keeper's kstats; GET
 * /health answers 200 {"status":"ok","last_block":N} when the last tick
 * succeeded less than <stale_ms> ago, else 503 with "status":"stale".
 * Other paths are 404, other methods 405. Not here: collecting metrics.
 * Threading: runs on the keeper's event base (one thread).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_KEEPER_KHTTP_H
#define LOOM_KEEPER_KHTTP_H

#include <stdint.h>

#include "err.h"

struct event_base;
struct kstats;
struct khttp;

/* Reads what the server reports; called on the event base's thread. */
struct khttp_source {
    const struct kstats *(*stats_fn)(void *arg);
    int64_t (*last_ok_ms_fn)(void *arg); /* monotonic ms of the last good tick, -1: none */
    void *arg;
};

/*
 * Listen on <addr> ("host:port"; port 0 picks a free one) on <base>
 * (borrowed). <src> is copied. *bound_port (may be NULL) gets the port.
 * Returns ERR_OK, ERR_INVAL (not host:port), ERR_IO (cannot bind), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err khttp_start(struct event_base *base, const char *addr,
                                     const struct khttp_source *src, int64_t stale_ms,
                                     struct khttp **out, int *bound_port);

/* Stop listening and free <h>. Accepts NULL. */
void khttp_free(struct khttp *h);

#endif
