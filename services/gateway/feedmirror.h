/*
 * feedmirror -- GET /api/events' source: a nanomsg SUB on the job store's
 * PUB feed (prefix "job.": job.open.<type>, job.progress, job.closed; see
 * docs/PROTOCOL.md) whose every message goes to gateway_broadcast() with the
 * topic as the SSE event name and the message as its data: the JSON alone,
 * without the frame's leading "topic " (docs/api.md).
 *
 * It also keeps the gateway's job cache (jobcache.h) honest: each job
 * message drops that job's cached reply, and the publisher's heartbeats
 * ("feed.heartbeat", subscribed to here but never mirrored) flush the cache
 * on a restart, a gap or a silence (checked by a one-second timer).
 * A PUB/SUB feed is lossy by design: messages published while the gateway
 * is not connected are gone, and SSE clients resynchronise with GET
 * /api/jobs (docs/api.md). Not here: SSE framing and slow clients (sse.c).
 * Threading: the event loop's thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_GW_FEEDMIRROR_H
#define LOOM_GW_FEEDMIRROR_H

#include <stdint.h>

#include "err.h"

struct event_base;
struct feedmirror;
struct gateway;

/*
 * Subscribe to the PUB address <addr> (borrowed) from <base> and mirror into
 * <gw> (borrowed; both must outlive the mirror). A feed that is not up yet
 * is not an error: nanomsg connects when it is.
 * Returns ERR_OK, ERR_INVAL (bad address), ERR_NOMEM, ERR_IO.
 */
LOOM_MUST_CHECK enum err feedmirror_new(struct event_base *base, const char *addr,
                                        struct gateway *gw, struct feedmirror **out);

/* Messages mirrored, and messages dropped (a payload with CR or LF, which
 * one SSE data line cannot carry, or no memory). */
void feedmirror_counts(const struct feedmirror *m, uint64_t *mirrored, uint64_t *dropped);

/* Unsubscribe and free. Accepts NULL. */
void feedmirror_free(struct feedmirror *m);

#endif
