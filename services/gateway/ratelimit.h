/*
 * ratelimit -- token buckets keyed by client address or signer.
 *
 * Each key holds up to <burst> tokens and regains <per_second> tokens a
 * second; a request takes one. The table holds at most <max_keys> keys:
 * when full, buckets that have refilled completely (idle clients) are
 * forgotten, and if none has, the request is refused rather than letting
 * memory grow (an attacker with many addresses meets the cap, not the heap).
 * Threading: one event loop.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_GW_RATELIMIT_H
#define LOOM_GW_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct ratelimit;

/* Create a limiter. per_second > 0, burst >= 1, max_keys >= 1.
 * Returns ERR_OK, ERR_INVAL, ERR_NOMEM. */
LOOM_MUST_CHECK enum err ratelimit_new(double per_second, double burst, size_t max_keys,
                                       struct ratelimit **out);

void ratelimit_free(struct ratelimit *rl);

/*
 * Take a token for <key> (borrowed) at time <now_ms> (monotonic ms).
 * Returns 0 when allowed, else the whole seconds (>= 1) after which a token
 * will be available, for Retry-After (RFC 9110 section 10.2.3).
 */
int ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_ms);

/* Number of keys tracked. */
size_t ratelimit_size(const struct ratelimit *rl);

#endif
