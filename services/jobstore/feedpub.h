/*
 * feedpub -- the job store's PUB endpoint: the job feed workers subscribe to
 * (DESIGN.md "Messages", proto/feed.h).
 *
 * Each message goes out on nanomsg PUB with the bus topic set to its proto
 * topic (job.open.IA, job.open.GRAFICA, job.progress, job.closed), so a SUB
 * filters by prefix, and with the whole proto frame ("topic {json}") as the
 * payload, so a subscriber hands the payload to proto_feed_decode() as is.
 * PUB never waits: a subscriber too slow or not connected loses messages
 * (the feed is a hint; workers snapshot open jobs over REST on connect).
 * Not here: deciding what to publish (ops.c). Logging: one debug line per
 * message with its job id.
 * Threading: the event-loop thread that made it.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_JOBSTORE_FEEDPUB_H
#define LOOM_JOBSTORE_FEEDPUB_H

#include <stdint.h>

#include "err.h"

struct event_base;
struct metrics;
struct proto_feed;
struct feedpub;

/*
 * Bind a PUB endpoint on <addr> (borrowed; a bus address) in <base> and
 * declare loom_jobstore_feed_messages_total{topic} in <m> (borrowed; must
 * outlive the feed). From then on a timer in <base> publishes the feed's
 * heartbeat every PROTO_FEED_HEARTBEAT_MS (proto/feed.h; new random epoch).
 *   out: receives the feed, owned by the caller (feedpub_free()).
 * Returns ERR_OK; bus_new()/bus_bind() errors (ERR_INVAL bad address,
 * ERR_EXISTS address in use, ERR_PERM, ERR_IO); metrics_family_new()
 * errors; ERR_NOMEM. Does not block.
 */
LOOM_MUST_CHECK enum err feedpub_new(struct event_base *base, const char *addr, struct metrics *m,
                                     struct feedpub **out);

/*
 * Encode and publish <msg> (borrowed).
 * Returns ERR_OK (handed to nanomsg, not that anyone received it);
 * proto_feed_encode() errors (ERR_INVAL, ERR_RANGE: a message that breaks
 * its rules is never sent); bus_publish() errors; ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err feedpub_publish(struct feedpub *f, const struct proto_feed *msg);

/* Messages published so far (heartbeats not counted). */
uint64_t feedpub_published(const struct feedpub *f);

/* Close the endpoint and free <f>. Accepts NULL. */
void feedpub_free(struct feedpub *f);

#endif
