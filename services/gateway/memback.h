/*
 * memback -- an in-memory implementation of the gateway backend
 * (backend.h), for `loom-gateway --backend=memory` and for tests.
 *
 * Jobs, files and nonces live in arrays and vanish on exit; lookups are
 * linear, which is fine for a development gateway and tests, not for
 * production (that is the job store's work). Quotes come from a fixed
 * ETH/USD answer with 8 decimals, as a Chainlink ETH/USD feed reports it.
 * Callbacks run from a zero-delay event on the given base, never inside the
 * call; memback_free() runs the ones still pending with ERR_CANCELED.
 * Threading: the event loop's thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_GW_MEMBACK_H
#define LOOM_GW_MEMBACK_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "err.h"

struct event_base;
struct memback;

/* Create an empty backend on <base> (borrowed; must outlive it).
 * Returns ERR_OK or ERR_NOMEM. */
LOOM_MUST_CHECK enum err memback_new(struct event_base *base, struct memback **out);

/* Run pending callbacks with ERR_CANCELED, then free. Accepts NULL. */
void memback_free(struct memback *m);

/* Fill <out> with this backend's functions; verify/verify_ctx are left NULL
 * for the caller to set. */
void memback_backend(struct memback *m, struct gw_backend *out);

/*
 * What the indexer would do when a worker claims job <id> on chain: set the
 * worker (borrowed, copied) and status WORKING. Returns ERR_OK, ERR_NOTFOUND,
 * ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err memback_assign(struct memback *m, int64_t id, const char *worker);

/* Set the price feed: <answer> USD per ETH with 8 decimals, round <round_id>
 * updated at <updated_at> (unix s). Default: 3000.00000000, round 1, now. */
void memback_set_price(struct memback *m, int64_t answer, uint64_t round_id, int64_t updated_at);

/* Make the next <count> calls fail at once with <e> (e.g. ERR_UNAVAILABLE,
 * to see the gateway answer 503). */
void memback_fail_next(struct memback *m, enum err e, int count);

/* Number of jobs recorded. */
size_t memback_job_count(const struct memback *m);

#endif
