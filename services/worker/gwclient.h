/*
 * gwclient -- the worker's side of the gateway's REST API (docs/api.md).
 *
 *   GET  /api/jobs?status=OPEN&type=T&limit=100[&cursor=C]   the snapshot of open jobs
 *   GET  /api/jobs/{id}/files/{name}                          job.json and inputs
 *   PUT  /api/jobs/{id}/progress   {"progress":N}             signed
 *   POST /api/jobs/{id}/result     the result bundle's bytes  signed
 *
 * Signed requests carry X-Loom-Address, X-Loom-Timestamp (Unix seconds),
 * X-Loom-Nonce (32 hex digits from getrandom) and X-Loom-Signature: the
 * EIP-191 personal_sign signature (0x + r, s, v as 130 hex digits, v 27/28)
 * of the text
 *
 *   loom-request-v1\n<METHOD>\n<target>\n<sha256 of body, 64 hex>\n<timestamp>\n<nonce>
 *
 * where <target> is the path and query exactly as sent.
 * Not here: the HTTP transport (http), deciding what to do with a job
 * (daemon), logging (callers log with the job id).
 * Threading: blocking calls, no shared state; the daemon calls them from
 * its job thread and once at start-up.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_WORKER_GWCLIENT_H
#define LOOM_WORKER_GWCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct buf;
struct key;
struct proto_feed_open;

/* Timeout of one REST call (a snapshot page, a progress report). Downloads
 * and uploads get more: see gwc_download() and gwc_post_result(). */
#define GWC_TIMEOUT_MS 10000

/* Most jobs one snapshot takes (100 pages of 100). */
#define GWC_SNAPSHOT_MAX 10000

/*
 * Build the canonical text above for a signed request and append it to <out>.
 *   body_sha256: 32 bytes. Returns ERR_OK, ERR_NOMEM, ERR_TOOBIG.
 */
LOOM_MUST_CHECK enum err gwc_canonical(const char *method, const char *target,
                                       const unsigned char body_sha256[32], long long timestamp,
                                       const char *nonce, struct buf *out);

/*
 * Take the snapshot of open jobs of type <type> ("IA" or "GRAFICA") from the
 * gateway at <base> ("http://host:port"): every page, following
 * next_cursor. Each job becomes a proto_feed_open, as if it had come on the
 * feed. A job record without chain_job_id or spec_sha256 (not yet funded on
 * chain as far as the gateway knows) is skipped and counted in *skipped.
 *   jobs: receives a heap array (caller frees with free()), n entries.
 * Returns ERR_OK; ERR_PROTO (a page that is not {"jobs":[...]}); the errors
 * of http_request() and http_status_err(); ERR_TOOBIG (over
 * GWC_SNAPSHOT_MAX jobs). msg says why. Blocks.
 */
LOOM_MUST_CHECK enum err gwc_snapshot(const char *base, const char *type,
                                      struct proto_feed_open **jobs, size_t *n, size_t *skipped,
                                      struct buf *msg);

/*
 * Download file <name> of job <job_id> into <dir>/<name> (created, must not
 * exist) and check that its SHA-256 equals <sha256>; on a mismatch the file
 * is removed.
 *   max_bytes: a larger file fails with ERR_TOOBIG.
 * Returns ERR_OK; ERR_AUTH (the digest differs); ERR_INVAL (unsafe name);
 * ERR_EXISTS; ERR_IO; the errors of http_request() and http_status_err().
 * Blocks (timeout: 10 minutes for the whole file).
 */
LOOM_MUST_CHECK enum err gwc_download(const char *base, int64_t job_id, const char *name,
                                      const char *dir, const unsigned char sha256[32],
                                      uint64_t max_bytes, struct buf *msg);

/*
 * Fetch file <name> of job <job_id> into memory and check that its SHA-256
 * equals <sha256> (the dispatch path's job.json: no file, no folder).
 *   max_bytes: a larger file fails with ERR_TOOBIG.
 *   text: on ERR_OK receives the bytes (heap, NUL-terminated; caller frees),
 *         *len their count; untouched on error.
 * Returns ERR_OK; ERR_AUTH (the digest differs); ERR_INVAL (unsafe name);
 * ERR_NOMEM; the errors of http_request() and http_status_err(). msg says
 * why. Blocks (timeout: GWC_TIMEOUT_MS).
 */
LOOM_MUST_CHECK enum err gwc_fetch(const char *base, int64_t job_id, const char *name,
                                   const unsigned char sha256[32], uint64_t max_bytes, char **text,
                                   size_t *len, struct buf *msg);

/*
 * gwc_fetch() in two halves (http.h's http_start()/http_finish()): the
 * request is sent by gwc_fetch_start() and the answer read, checked and
 * returned by gwc_fetch_finish(), so the caller can do something else in
 * between (the daemon's job thread reads the job on chain).
 *   base: borrowed; must stay valid until the finish or the free.
 *   msg:  receives a transport failure's reason, also one found by the
 *         finish; must stay valid until then.
 *   out:  on ERR_OK, the fetch: pass it to exactly one of gwc_fetch_finish()
 *         (which frees it) or gwc_fetch_free().
 * gwc_fetch_start() returns ERR_OK, ERR_INVAL (unsafe name, bad URL),
 * ERR_UNAVAILABLE, ERR_NOMEM; gwc_fetch_finish() returns what gwc_fetch()
 * does, with *text and *len as there. Both block (see http_start()).
 */
struct gwc_fetch;
LOOM_MUST_CHECK enum err gwc_fetch_start(const char *base, int64_t job_id, const char *name,
                                         const unsigned char sha256[32], uint64_t max_bytes,
                                         struct gwc_fetch **out, struct buf *msg);
LOOM_MUST_CHECK enum err gwc_fetch_finish(struct gwc_fetch *f, char **text, size_t *len,
                                          struct buf *msg);
/* Drop a started fetch (closes its connection). Accepts NULL. */
void gwc_fetch_free(struct gwc_fetch *f);

/*
 * Report <percent> (0..100) for job <job_id>, signed with <k> (borrowed).
 * Returns ERR_OK; ERR_CRYPTO; the errors of http_request() and
 * http_status_err(). Blocks up to GWC_TIMEOUT_MS.
 */
LOOM_MUST_CHECK enum err gwc_put_progress(const char *base, const struct key *k, int64_t job_id,
                                          unsigned percent, struct buf *msg);

/*
 * Upload the file at <path> (<size> bytes, SHA-256 <sha256>) as the result
 * of job <job_id>, signed with <k>. Returns as gwc_put_progress(), and
 * ERR_IO (cannot open the file). Blocks (timeout: 10 minutes).
 */
LOOM_MUST_CHECK enum err gwc_post_result(const char *base, const struct key *k, int64_t job_id,
                                         const char *path, uint64_t size,
                                         const unsigned char sha256[32], struct buf *msg);

#endif
