/*
 * jobback -- the gateway backend (backend.h) over the job store: each call
 * becomes one or a few proto commands (docs/PROTOCOL.md) sent with
 * proto/client's event-loop form, so many requests are in flight on one
 * nanomsg endpoint and a slow query never stalls the loop.
 *
 * A job store that is down, restarting or too slow answers ERR_UNAVAILABLE
 * (503 at the gateway) once the call's timeout runs out; the endpoint
 * reconnects by itself, so the next request succeeds when it is back.
 * Job store refusals keep their code (ERR_NOTFOUND, ERR_PERM, ERR_STATE,
 * ERR_EXISTS, ERR_INVAL) and message.
 *
 * Not here: quotes (an optional quoter is delegated to, see
 * jobback_set_quoter()), signature recovery (main.c sets verify).
 * Known gap: a proto job record carries no list of files, so jobs read back
 * from the job store show only the files this gateway process sent with the
 * reply that created or changed them; GET .../files/{name} therefore needs
 * the file list in the job.get reply (a proto change, not made here).
 * Threading: the event loop's thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_GW_JOBBACK_H
#define LOOM_GW_JOBBACK_H

#include <stdint.h>

#include "backend.h"
#include "err.h"

struct event_base;
struct jobback;

struct jobback_config {
    const char *addr;          /* job store REP address (borrowed, copied by the client) */
    int timeout_ms;            /* per command, > 0; past it the call fails ERR_UNAVAILABLE */
    int64_t job_deadline_s;    /* deadline_at = now + this for new jobs, > 0 */
    int64_t job_max_runtime_s; /* max_runtime_s of new jobs, 1..PROTO_RUNTIME_MAX_S */
};

/*
 * Connect to the job store at cfg->addr from <base> (borrowed; must outlive
 * the backend). A job store that is not up yet is not an error.
 * Returns ERR_OK, ERR_INVAL (bad address, timeout or job settings),
 * ERR_NOMEM, ERR_IO. Does not block.
 */
LOOM_MUST_CHECK enum err jobback_new(struct event_base *base, const struct jobback_config *cfg,
                                     struct jobback **out);

/* Cancel the calls in flight (their callbacks run with ERR_CANCELED before
 * this returns), then free. Accepts NULL. */
void jobback_free(struct jobback *jb);

/* Fill <out> with this backend's functions; verify/verify_ctx are left NULL
 * and quote answers ERR_UNAVAILABLE until jobback_set_quoter(). */
void jobback_backend(struct jobback *jb, struct gw_backend *out);

/* Delegate quote() to <fn>(<ctx>, ...) (borrowed; must outlive <jb>). */
typedef enum err (*jobback_quote_fn)(void *ctx, int64_t usd_cents, gw_quote_cb cb, void *arg);
void jobback_set_quoter(struct jobback *jb, jobback_quote_fn fn, void *ctx);

/*
 * Convert a proto job record into the gateway's form: addresses as "0x" +
 * lower-case hex, hashes as 64 lower-case hex digits, type and status by
 * name. The record's files (job.get) become dst->files (roles input and
 * spec) and the result's size (role result; also result_sha256 while the
 * record has no committed one). <dst> is overwritten; free it with
 * gw_job_release().
 * Returns ERR_OK or ERR_NOMEM (dst released).
 */
struct proto_job;
LOOM_MUST_CHECK enum err jobback_job_from_proto(struct gw_job *dst, const struct proto_job *src);

#endif
