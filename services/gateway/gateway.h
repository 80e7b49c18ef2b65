/*
 * gateway -- the HTTP half of the REST gateway: one evhttp server on one
 * event base, the route table of routes.h, the handlers, auth, limits and
 * the Server-Sent Events hub.
 *
 * Requests reach a handler only after intake.c has read their body (uploads
 * straight into the store). Each request owns one context that holds what
 * it allocated; the reply frees it. Failures answer with httperr.h's table.
 * The backend (backend.h) answers asynchronously; the gateway never blocks
 * on it.
 * Not here: options and wiring (main.c), the job store, secp256k1.
 * Threading: everything on the event base's thread; gateway_broadcast() too.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_GW_GATEWAY_H
#define LOOM_GW_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "buf.h"
#include "err.h"

struct event_base;
struct jobcache;
struct store;
struct gateway;

struct gateway_config {
    const char *host;                 /* address to bind, e.g. "127.0.0.1" */
    int port;                         /* 0 picks a free port (see gateway_port) */
    uint64_t max_upload_bytes;        /* per request, multipart or raw (413 beyond) */
    size_t max_json_bytes;            /* JSON bodies */
    size_t max_header_bytes;          /* request line + headers */
    int request_timeout_s;            /* evhttp_set_timeout: idle read/write, and a
                                         whole upload (intake withholds its head) */
    double rate_per_s;                /* token bucket refill, per client address */
    double rate_burst;                /* token bucket size */
    size_t rate_max_keys;             /* addresses tracked at most */
    int64_t auth_window_s;            /* |X-Loom-Timestamp - now| allowed */
    const char *siwe_domain;          /* EIP-4361 domain we accept */
    int64_t chain_id;                 /* EIP-4361 / EIP-155 chain id we accept */
    int64_t session_ttl_s;            /* loom_session lifetime */
    const unsigned char *session_key; /* HMAC key for sessions (copied) */
    size_t session_key_len;           /* >= 32 */
    size_t sse_max_queue_bytes;       /* per SSE client, before it is dropped */
    size_t sse_max_clients;
    /* GET /api/jobs/{id} cache (jobcache.h); any zero disables it. */
    size_t cache_max_entries;
    size_t cache_max_bytes;
    int64_t cache_ttl_ms;
};

/*
 * Bind and start serving on <base> (borrowed). <backend> is copied; its
 * ctx, <store> and <base> must outlive the gateway. *out belongs to the
 * caller (gateway_free). Returns ERR_OK, ERR_INVAL (bad config: message in
 * <errmsg>), ERR_IO (cannot bind), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err gateway_new(struct event_base *base, const struct gateway_config *cfg,
                                     const struct gw_backend *backend, struct store *store,
                                     struct gateway **out, struct buf *errmsg);

/*
 * Stop serving and free. Close the backend first, so that every pending
 * backend callback has run (with ERR_CANCELED) while requests still exist.
 * Accepts NULL.
 */
void gateway_free(struct gateway *gw);

/* The port actually bound. */
int gateway_port(const struct gateway *gw);

/*
 * Send a feed message to every SSE client as event <event> with <data>
 * (both borrowed). The service calls this for each message it takes off the
 * job feed. Returns ERR_OK, ERR_INVAL (CR/LF in <event>), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err gateway_broadcast(struct gateway *gw, const char *event, const char *data);

/* The GET /api/jobs/{id} cache (borrowed; lives as long as <gw>). The feed
 * mirror drops, flushes and drives its heartbeats (feedmirror.c). */
struct jobcache *gateway_jobcache(struct gateway *gw);

/* Append the Prometheus text exposition (version 0.0.4) of the gateway's
 * common/metrics registry to <out> (what GET /metrics serves:
 * loom_gateway_requests_total{route,status}, loom_gateway_request_duration_
 * seconds{route}, connections, SSE clients and drops, upload bytes, rate
 * limiter keys). GET /metrics and /health are common/metrics routes on the
 * gateway's evhttp (metrics_http_attach), outside the rate limiter.
 * Returns ERR_OK, ERR_NOMEM, ERR_TOOBIG (past out's cap). */
LOOM_MUST_CHECK enum err gateway_metrics(const struct gateway *gw, struct buf *out);

#endif
