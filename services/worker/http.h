/*
 * http -- a small blocking HTTP/1.1 client for the worker's REST calls.
 *
 * Built on libevent's evhttp client with a private event_base per call, so
 * the worker needs no second HTTP library (libcurl stays inside
 * common/eth's JSON-RPC client). A call connects, sends one request (body
 * from memory or streamed from a file), and reads the response either into
 * a capped buffer or streamed into a file descriptor, hashing the body with
 * SHA-256 as it arrives. Only http:// URLs (the gateway sits behind a TLS
 * proxy in production, or on the same host).
 * Not here: what the requests mean (gwclient), signing, retries (the
 * caller's choice), logging.
 * Threading: a call blocks the calling thread up to its timeout; no shared
 * state, so any thread may call it (the daemon's job thread does).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_WORKER_HTTP_H
#define LOOM_WORKER_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct http_header {
    const char *name;  /* borrowed */
    const char *value; /* borrowed */
};

struct http_req {
    const char *method; /* "GET", "PUT" or "POST" */
    const char *base;   /* "http://host:port" (a trailing path is ignored); borrowed */
    const char *target; /* path and query exactly as sent, "/api/jobs?status=OPEN" */
    const struct http_header *headers; /* n_headers extra headers; borrowed */
    size_t n_headers;
    const void *body; /* request body in memory (or NULL), body_len bytes */
    size_t body_len;
    int body_fd;             /* or: stream this many body_len bytes from fd (>= 0; borrowed) */
    long timeout_ms;         /* whole exchange, and each read or write; > 0 */
    int out_fd;              /* >= 0: write the response body there (borrowed) */
    uint64_t max_body_bytes; /* larger responses fail with ERR_TOOBIG */
};

struct http_resp {
    int status;               /* HTTP status code */
    struct buf body;          /* body when out_fd < 0 (capped by max_body_bytes) */
    uint64_t body_bytes;      /* bytes of body received */
    unsigned char sha256[32]; /* SHA-256 (FIPS 180-4) of the body */
};

/* Initialise <r> (no allocation). */
void http_resp_init(struct http_resp *r);
/* Free what <r> holds. Accepts NULL. */
void http_resp_release(struct http_resp *r);

/*
 * Send <rq> and read the whole response into <resp> (initialised by the
 * caller; its body is appended to). Any status is returned in resp->status:
 * the caller decides what a 4xx means (see http_status_err()).
 *   msg: receives a one-line reason on failure (may be NULL).
 * Returns ERR_OK (a response arrived); ERR_INVAL (bad URL or request);
 * ERR_UNAVAILABLE (cannot connect, or the connection broke before a
 * response); ERR_TIMEDOUT; ERR_TOOBIG (body over max_body_bytes); ERR_IO
 * (writing out_fd failed); ERR_NOMEM. Blocks up to about timeout_ms.
 */
LOOM_MUST_CHECK enum err http_request(const struct http_req *rq, struct http_resp *resp,
                                      struct buf *msg);

/*
 * The same exchange in two halves, so a thread can have the request on its
 * way while it does something else (the daemon reads the job on chain
 * meanwhile) and take the answer after, with no second thread.
 * http_start() sends <rq>: it connects and writes the request as far as a
 * few non-blocking turns of its private loop allow (all of it for a small
 * request to a reachable server); the rest, and the whole response, happen
 * in http_finish(). Nothing runs in between: the server's answer waits in
 * the socket until then.
 *   rq, resp, msg: borrowed; they must stay valid until http_finish() or
 *                  http_abandon().
 *   out: on ERR_OK receives the call; pass it to exactly one of
 *        http_finish() or http_abandon().
 * http_start() returns ERR_OK, ERR_INVAL, ERR_UNAVAILABLE or ERR_NOMEM
 * (nothing is left to finish then); http_finish() returns what
 * http_request() does and frees the call. Both block: http_start() for the
 * connect and write, http_finish() up to about timeout_ms.
 */
struct http_call;
LOOM_MUST_CHECK enum err http_start(const struct http_req *rq, struct http_resp *resp,
                                    struct buf *msg, struct http_call **out);
LOOM_MUST_CHECK enum err http_finish(struct http_call *c);
/* Drop a started call: closes its connection, frees it. Accepts NULL. */
void http_abandon(struct http_call *c);

/* Map an HTTP status to the error vocabulary: 2xx ERR_OK, 400 ERR_INVAL,
 * 401 ERR_AUTH, 403 ERR_PERM, 404 ERR_NOTFOUND, 409 ERR_STATE, 413
 * ERR_TOOBIG, 429/502/503/504 ERR_UNAVAILABLE, anything else ERR_PROTO. */
enum err http_status_err(int status);

#endif
