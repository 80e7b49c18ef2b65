/*
 * http -- blocking HTTP/1.1 client on a private libevent base (see http.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <nettle/sha2.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"

struct call {
    struct event_base *base;
    const struct http_req *rq;
    struct http_resp *resp;
    struct buf *msg;
    struct sha256_ctx sha;
    enum err err;
    int done;
};

void http_resp_init(struct http_resp *r)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->body, 0);
}

void http_resp_release(struct http_resp *r)
{
    if (r != NULL)
        buf_release(&r->body);
}

enum err http_status_err(int status)
{
    if (status >= 200 && status < 300)
        return ERR_OK;
    switch (status) {
    case 400:
        return ERR_INVAL;
    case 401:
        return ERR_AUTH;
    case 403:
        return ERR_PERM;
    case 404:
        return ERR_NOTFOUND;
    case 409:
        return ERR_STATE;
    case 413:
        return ERR_TOOBIG;
    case 429:
    case 502:
    case 503:
    case 504:
        return ERR_UNAVAILABLE;
    default:
        return ERR_PROTO;
    }
}

static void fail(struct call *c, enum err e, const char *what)
{
    if (c->err == ERR_OK) {
        c->err = e;
        msg_addf(c->msg, "%s", what);
    }
    c->done = 1;
    event_base_loopbreak(c->base);
}

/* Take what arrived of the body: hash it, then keep it or write it out. An
 * error response's body (the gateway's JSON) is kept in memory, never
 * written to the caller's file. */
static void take_body(struct call *c, struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    int code = evhttp_request_get_response_code(req);
    int to_fd = c->rq->out_fd >= 0 && code >= 200 && code < 300;
    size_t n;
    while (c->err == ERR_OK && (n = evbuffer_get_contiguous_space(in)) > 0) {
        const unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)n);
        if ((to_fd || c->rq->out_fd < 0) && c->resp->body_bytes + n > c->rq->max_body_bytes) {
            fail(c, ERR_TOOBIG, "response body over the size limit");
            break;
        }
        sha256_update(&c->sha, n, p);
        c->resp->body_bytes += n;
        if (to_fd) {
            size_t off = 0;
            while (off < n) {
                ssize_t w = write(c->rq->out_fd, p + off, n - off);
                if (w == -1 && errno == EINTR)
                    continue;
                if (w <= 0) {
                    fail(c, ERR_IO, "cannot write the response body to its file");
                    break;
                }
                off += (size_t)w;
            }
        } else if (buf_append(&c->resp->body, p, n) != ERR_OK) {
            fail(c, ERR_TOOBIG, "response body over the buffer's cap");
        }
        evbuffer_drain(in, n);
    }
}

static void chunk_cb(struct evhttp_request *req, void *arg)
{
    struct call *c = arg;
    take_body(c, req);
}

static void error_cb(enum evhttp_request_error error, void *arg)
{
    struct call *c = arg;
    if (error == EVREQ_HTTP_TIMEOUT)
        fail(c, ERR_TIMEDOUT, "timed out");
    else if (error == EVREQ_HTTP_DATA_TOO_LONG)
        fail(c, ERR_TOOBIG, "response too long");
    else
        fail(c, ERR_UNAVAILABLE, "connection failed or closed before a response");
}

static void done_cb(struct evhttp_request *req, void *arg)
{
    struct call *c = arg;
    if (req == NULL || evhttp_request_get_response_code(req) == 0) {
        fail(c, ERR_UNAVAILABLE, "no response (connection refused or closed)");
        return;
    }
    c->resp->status = evhttp_request_get_response_code(req);
    take_body(c, req);
    c->done = 1;
    event_base_loopbreak(c->base);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fail(arg, ERR_TIMEDOUT, "timed out");
}

static enum evhttp_cmd_type method_type(const char *m)
{
    if (strcmp(m, "PUT") == 0)
        return EVHTTP_REQ_PUT;
    if (strcmp(m, "POST") == 0)
        return EVHTTP_REQ_POST;
    return EVHTTP_REQ_GET;
}

/* A request in flight on its private base (http_start()). */
struct http_call {
    struct call c;
    struct evhttp_uri *uri;
    struct evhttp_connection *conn;
    struct event *deadline;
};

void http_abandon(struct http_call *hc)
{
    if (hc == NULL)
        return;
    if (hc->deadline != NULL)
        event_free(hc->deadline);
    if (hc->conn != NULL)
        evhttp_connection_free(hc->conn);
    if (hc->c.base != NULL)
        event_base_free(hc->c.base);
    if (hc->uri != NULL)
        evhttp_uri_free(hc->uri);
    free(hc);
}

/* How many non-blocking turns of the private loop http_start() takes to
 * get the request onto the connection: one to see the connect complete
 * (at once on loopback or a LAN), one to write the request. */
#define HTTP_START_TURNS 3

enum err http_start(const struct http_req *rq, struct http_resp *resp, struct buf *msg,
                    struct http_call **out)
{
    struct http_call *hc = NULL;
    enum err e = ERR_OK;
    if (rq->timeout_ms <= 0 || rq->target == NULL || rq->target[0] != '/' ||
        (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "PUT") != 0 &&
         strcmp(rq->method, "POST") != 0)) {
        msg_addf(msg, "bad request: method, target or timeout");
        return ERR_INVAL;
    }
    if ((hc = calloc(1, sizeof(*hc))) == NULL)
        return ERR_NOMEM;
    struct call *c = &hc->c;
    c->rq = rq;
    c->resp = resp;
    c->msg = msg;
    sha256_init(&c->sha);
    hc->uri = evhttp_uri_parse(rq->base);
    const char *scheme = hc->uri ? evhttp_uri_get_scheme(hc->uri) : NULL;
    const char *host = hc->uri ? evhttp_uri_get_host(hc->uri) : NULL;
    if (scheme == NULL || strcmp(scheme, "http") != 0 || host == NULL || host[0] == '\0') {
        msg_addf(msg, "bad gateway URL \"%.200s\": want http://host:port", rq->base);
        e = ERR_INVAL;
        goto fail;
    }
    int port = evhttp_uri_get_port(hc->uri);
    if (port < 0)
        port = 80;
    c->base = event_base_new();
    hc->conn =
        c->base ? evhttp_connection_base_new(c->base, NULL, host, (unsigned short)port) : NULL;
    hc->deadline = c->base ? evtimer_new(c->base, deadline_cb, c) : NULL;
    if (hc->conn == NULL || hc->deadline == NULL) {
        e = ERR_NOMEM;
        goto fail;
    }
    struct timeval tv = {rq->timeout_ms / 1000, (rq->timeout_ms % 1000) * 1000};
    evhttp_connection_set_timeout_tv(hc->conn, &tv);
    evhttp_connection_set_retries(hc->conn, 0);
    if (evtimer_add(hc->deadline, &tv) == -1) {
        e = ERR_NOMEM;
        goto fail;
    }
    struct evhttp_request *req = evhttp_request_new(done_cb, c);
    if (req == NULL) {
        e = ERR_NOMEM;
        goto fail;
    }
    evhttp_request_set_chunked_cb(req, chunk_cb);
    evhttp_request_set_error_cb(req, error_cb);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char hostport[300];
    (void)snprintf(hostport, sizeof(hostport), "%.255s:%d", host, port);
    /* No "Connection: close": the connection is ours alone and is freed once
     * the response is complete (its Content-Length read), so the client
     * closes it. The gateway's intake filter loses a reply that evhttp closes
     * right after queueing it (docs/api.md, known limits). */
    int bad = evhttp_add_header(h, "Host", hostport) == -1;
    for (size_t i = 0; !bad && i < rq->n_headers; i++)
        bad = evhttp_add_header(h, rq->headers[i].name, rq->headers[i].value) == -1;
    struct evbuffer *ob = evhttp_request_get_output_buffer(req);
    if (!bad && rq->body != NULL && rq->body_len > 0)
        bad = evbuffer_add(ob, rq->body, rq->body_len) == -1;
    if (!bad && rq->body == NULL && rq->body_fd >= 0 && rq->body_len > 0) {
        /* evbuffer_add_file() takes the descriptor and closes it when sent. */
        int fd = dup(rq->body_fd);
        bad = fd == -1 || evbuffer_add_file(ob, fd, 0, (ev_off_t)rq->body_len) == -1;
        if (bad && fd != -1)
            close(fd);
    }
    if (bad) {
        evhttp_request_free(req);
        msg_addf(msg, "bad header or body");
        e = ERR_INVAL;
        goto fail;
    }
    /* On failure evhttp_make_request() frees the request itself. */
    if (evhttp_make_request(hc->conn, req, method_type(rq->method), rq->target) == -1) {
        msg_addf(msg, "cannot send the request");
        e = ERR_UNAVAILABLE;
        goto fail;
    }
    for (int i = 0; i < HTTP_START_TURNS && !c->done; i++)
        if (event_base_loop(c->base, EVLOOP_NONBLOCK) == -1)
            break;
    *out = hc;
    return ERR_OK;
fail:
    http_abandon(hc);
    return e;
}

enum err http_finish(struct http_call *hc)
{
    struct call *c = &hc->c;
    while (!c->done && event_base_dispatch(c->base) == 0)
        ;
    enum err e = c->done ? c->err : ERR_IO;
    if (e == ERR_OK)
        sha256_digest(&c->sha, SHA256_DIGEST_SIZE, c->resp->sha256);
    http_abandon(hc);
    return e;
}

enum err http_request(const struct http_req *rq, struct http_resp *resp, struct buf *msg)
{
    struct http_call *hc = NULL;
    enum err e = http_start(rq, resp, msg, &hc);
    return e == ERR_OK ? http_finish(hc) : e;
}
