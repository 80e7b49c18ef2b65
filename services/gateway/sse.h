/*
 * sse -- Server-Sent Events (WHATWG HTML, "Server-sent events") for
 * GET /api/events: a mirror of the job feed for browsers and scripts.
 *
 * sse_broadcast() formats one event and queues it to every client. Each
 * client's queue is bounded: the bytes waiting in its connection's output
 * buffers may not pass <max_queue_bytes>; a client that cannot keep up is
 * dropped (its connection closed) instead of growing memory, and counted.
 * The socket's send buffer is set to the same figure so the kernel does not
 * hide a slow reader for long. Threading: the event loop's.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_GW_SSE_H
#define LOOM_GW_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct evhttp_request;
struct sse;

/* Create a hub. Returns ERR_OK or ERR_NOMEM. */
LOOM_MUST_CHECK enum err sse_new(size_t max_queue_bytes, size_t max_clients, struct sse **out);

/* Close every client's stream, then free. Accepts NULL. */
void sse_free(struct sse *s);

/*
 * Start an event stream on <req> (the handler's request; the hub owns the
 * reply from now on). Sends the headers and a comment line.
 * Returns ERR_OK, ERR_UNAVAILABLE (max_clients reached: the caller replies
 * 503 itself), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err sse_add(struct sse *s, struct evhttp_request *req);

/*
 * Send event <event> (a name without CR/LF; borrowed) with <data> (borrowed;
 * each line becomes a "data:" line) to every client. Returns ERR_OK,
 * ERR_INVAL (CR or LF in the event name), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err sse_broadcast(struct sse *s, const char *event, const char *data);

/* Clients connected now / dropped for being slow since start. */
size_t sse_clients(const struct sse *s);
uint64_t sse_dropped(const struct sse *s);

#endif
