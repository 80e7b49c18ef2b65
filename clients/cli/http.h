/*
 * http -- the CLI's HTTP client for the REST gateway, over libcurl.
 *
 * The second libcurl caller in The Loom, beside common/eth/rpc.c (which
 * speaks JSON-RPC only): this module is the one place in clients/cli that
 * calls libcurl, and it maps libcurl's errors once. It sends plain and
 * signed requests (sign.h adds the X-Loom-* headers over the exact bytes
 * sent), downloads a body into a file, and reads a long-lived response
 * (Server-Sent Events) chunk by chunk. One struct http holds one easy
 * handle, so the connection to the gateway is reused.
 * Not here: routes and JSON (api.h), retries (a failed call is reported;
 * scripts retry on exit 75 or 69). Threading: a struct http belongs to one
 * thread; every call blocks.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_CLI_HTTP_H
#define LOOM_CLI_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct http;
struct key;

/* Cap on a buffered response body: job lists and records are far smaller. */
#define HTTP_MAX_BODY ((size_t)16 << 20)

/* A response. Init with http_response_init(), release after use. */
struct http_response {
    long status;          /* HTTP status; 0 when no response arrived */
    struct buf body;      /* the body (error bodies too, for downloads) */
    char *sha256;         /* X-Loom-SHA256 header, or NULL */
    long retry_after_s;   /* Retry-After in seconds, or 0 */
};

void http_response_init(struct http_response *r);
void http_response_release(struct http_response *r);

/*
 * Create a client for the gateway at <base_url> ("http://host:port", no
 * trailing path; copied).
 *   timeout_ms: limit per request (connect included); downloads and
 *               streams use it for the connection only.
 * Returns ERR_OK, ERR_INVAL (not http:// or https://), ERR_NOMEM, ERR_IO
 * (libcurl would not initialise).
 */
LOOM_MUST_CHECK enum err http_new(const char *base_url, long timeout_ms, struct http **out);

/* Free <h>. Accepts NULL. */
void http_free(struct http *h);

/* Sign every request whose call says so with <k> (borrowed; must outlive
 * the calls). */
void http_set_signer(struct http *h, const struct key *k);

/*
 * Send <method> <target> (path and query, e.g. "/api/jobs?limit=5") with
 * <body> (<len> bytes, borrowed; NULL, 0 for none) of <content_type> (NULL
 * for none); when <sign> is true, add the X-Loom-* headers made with the
 * signer (ERR_STATE when none is set). The response, whatever its status,
 * lands in <out> (initialised by the caller).
 * Returns ERR_OK when a response arrived; ERR_UNAVAILABLE (connection
 * refused, DNS failure), ERR_TIMEDOUT, ERR_IO (another transport failure),
 * ERR_TOOBIG (body over HTTP_MAX_BODY), ERR_NOMEM, ERR_STATE, and
 * sign_request()'s errors. http_errmsg() says which.
 */
LOOM_MUST_CHECK enum err http_request(struct http *h, const char *method, const char *target,
                                      const char *content_type, const void *body, size_t len,
                                      bool sign, struct http_response *out);

/*
 * GET <target> and write a 200 response's body to file descriptor <fd>
 * (which this call neither seeks nor closes); other statuses leave their
 * body in out->body. out->status and out->sha256 are set either way.
 * Errors as http_request(), plus ERR_IO when writing <fd> fails.
 */
LOOM_MUST_CHECK enum err http_download(struct http *h, const char *target, int fd,
                                       struct http_response *out);

/* Receives each chunk of a streamed 200 body; returns 0 to go on, anything
 * else to stop the stream (http_stream then returns ERR_OK). */
typedef int (*http_chunk_fn)(void *arg, const char *data, size_t len);

/*
 * GET <target> with "Accept: <accept>" and pass a 200 body to <cb> as it
 * arrives, with no limit on the total time. Another status leaves its body
 * in out->body and returns ERR_OK with out->status set (cb never runs).
 * Returns ERR_OK when <cb> stopped the stream or a non-200 status came;
 * ERR_UNAVAILABLE when the server closed a 200 stream or could not be
 * reached; ERR_IO, ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err http_stream(struct http *h, const char *target, const char *accept,
                                     http_chunk_fn cb, void *arg, struct http_response *out);

/* Text of the last transport failure ("connect: Connection refused"), ""
 * after success. Borrowed from <h>, valid until the next call. */
const char *http_errmsg(const struct http *h);

#endif
