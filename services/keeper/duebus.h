/*
 * duebus -- the production due source: the job store's jobs.due command
 * (docs/PROTOCOL.md "cmd:jobs.due") over a blocking nanomsg REQ endpoint.
 *
 * Each fetch sends {"v":1,"cmd":"jobs.due","args":{"now_at":T,"limit":N}}
 * and waits up to timeout_ms for the reply, soonest first. The keeper's loop
 * is a blocking one (keeper.h), so a blocking endpoint fits: nothing else
 * waits on this thread while the job store answers.
 * Not here: the transport (common/bus), the message codec (proto/cmd).
 * Threading: the source belongs to the thread that made it.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_KEEPER_DUEBUS_H
#define LOOM_KEEPER_DUEBUS_H

#include "due.h"
#include "err.h"

/*
 * A due source asking the job store at <url> (borrowed: "tcp://host:port",
 * "ipc:///path" or "inproc://name"), waiting up to <timeout_ms> (> 0) per
 * request. Connects lazily (nanomsg reconnects by itself).
 * Fetch errors: ERR_TIMEDOUT (no reply in time), ERR_PROTO (a reply that
 * does not decode), the job store's own error code (its reply:error), and
 * bus's ERR_IO, ERR_NOMEM. Returns ERR_OK, ERR_INVAL (bad url or timeout),
 * ERR_IO, ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err due_bus_new(const char *url, int timeout_ms, struct due_source **out);

#endif
