/*
 * jobsink -- the production sink (sink.h): the job store's events.apply,
 * reorg.rollback and checkpoint.get (docs/PROTOCOL.md) over the bus, one
 * blocking call each through proto/client.h.
 *
 * The job store keeps sink.h's contract itself (jobdb applies a batch and
 * its checkpoint in one transaction and ignores an event it already holds),
 * so this module only translates: a request goes out, and the reply's
 * result or refusal comes back as the sink's outputs or its error code
 * (PROTOCOL.md's error code, mapped back to enum err by proto: "conflict"
 * is ERR_STATE, "not_found" ERR_NOTFOUND). A call that times out or whose
 * reply does not decode has an unknown outcome: the follower then reads the
 * checkpoint again and re-sends, which the duplicate rule makes harmless.
 * Not here: retries (the follower's backoff), logging.
 * Threading: one thread (the follower's), as proto_client.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_INDEXER_JOBSINK_H
#define LOOM_INDEXER_JOBSINK_H

#include "err.h"
#include "sink.h"

struct jobsink;

/*
 * Make a sink that calls the job store's REP address <addr> (borrowed;
 * "tcp://host:port" or "ipc:///path"; connecting happens in the
 * background, so a job store that is not up yet only makes calls time out).
 *   timeout_ms: per call, > 0: an events.apply of 5,000 events must fit.
 *   out:        the jobsink, owned by the caller (jobsink_free()).
 *   sink:       receives the operations with *out as context; valid until
 *               jobsink_free().
 * Returns ERR_OK, ERR_INVAL (bad address or timeout), ERR_NOMEM, ERR_IO.
 */
LOOM_MUST_CHECK enum err jobsink_new(const char *addr, int timeout_ms, struct jobsink **out,
                                     struct sink *sink);

/* Close the client and free <j>. Accepts NULL. */
void jobsink_free(struct jobsink *j);

#endif
