/*
 * sse -- event-stream clients with bounded queues.
 * SPDX-License-Identifier: MIT
 */
#include "sse.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct sse_client {
    struct sse *hub;
    struct sse_client *prev, *next;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
};

struct sse {
    size_t max_queue_bytes, max_clients, n_clients;
    uint64_t dropped;
    struct sse_client *clients;
};

enum err sse_new(size_t max_queue_bytes, size_t max_clients, struct sse **out)
{
    struct sse *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return ERR_NOMEM;
    s->max_queue_bytes = max_queue_bytes;
    s->max_clients = max_clients;
    *out = s;
    return ERR_OK;
}

static void client_unlink(struct sse_client *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->hub->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->hub->n_clients--;
}

/* The connection is going away (peer closed, timeout, or we dropped it). */
static void client_close_cb(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct sse_client *c = arg;
    /* If evhttp already detached the request (peer EOF), ending the reply
     * frees it; otherwise freeing the connection frees it. */
    if (evhttp_request_get_connection(c->req) == NULL)
        evhttp_send_reply_end(c->req);
    client_unlink(c);
    free(c);
}

static void client_drop(struct sse_client *c)
{
    struct evhttp_connection *evcon = c->evcon;
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    client_unlink(c);
    free(c);
    evhttp_connection_free(evcon); /* frees the request with it */
}

void sse_free(struct sse *s)
{
    if (s == NULL)
        return;
    while (s->clients)
        client_drop(s->clients);
    free(s);
}

enum err sse_add(struct sse *s, struct evhttp_request *req)
{
    if (s->n_clients >= s->max_clients)
        return ERR_UNAVAILABLE;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon == NULL)
        return ERR_UNAVAILABLE;
    struct sse_client *c = calloc(1, sizeof(*c));
    struct evbuffer *hello = evbuffer_new();
    if (c == NULL || hello == NULL) {
        free(c);
        if (hello)
            evbuffer_free(hello);
        return ERR_NOMEM;
    }
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    evutil_socket_t fd = bufferevent_getfd(bev);
    if (fd != -1) {
        int sndbuf = (int)s->max_queue_bytes;
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    }
    c->hub = s;
    c->req = req;
    c->evcon = evcon;
    c->next = s->clients;
    if (c->next)
        c->next->prev = c;
    s->clients = c;
    s->n_clients++;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_connection_set_closecb(evcon, client_close_cb, c);
    evhttp_send_reply_start(req, 200, "OK");
    evbuffer_add_printf(hello, ": connected\n\n");
    evhttp_send_reply_chunk(req, hello);
    evbuffer_free(hello);
    /* A stream is open for as long as its client wants: evhttp keeps reading
     * it (to notice a close) under the server's request timeout, which would
     * cut every stream after --request-timeout-s. A reader that stops reading
     * is dropped by the queue bound in sse_broadcast() instead. */
    bufferevent_set_timeouts(bev, NULL, NULL);
    return ERR_OK;
}

/* Bytes queued for <c> in user space: the filter's and the socket's output. */
static size_t queued(const struct sse_client *c)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
    size_t n = evbuffer_get_length(bufferevent_get_output(bev));
    struct bufferevent *u = bufferevent_get_underlying(bev);
    if (u != NULL)
        n += evbuffer_get_length(bufferevent_get_output(u));
    return n;
}

enum err sse_broadcast(struct sse *s, const char *event, const char *data)
{
    if (strpbrk(event, "\r\n") != NULL)
        return ERR_INVAL;
    struct evbuffer *msg = evbuffer_new();
    if (msg == NULL)
        return ERR_NOMEM;
    int rc = evbuffer_add_printf(msg, "event: %s\n", event);
    const char *p = data;
    for (;;) {
        size_t n = strcspn(p, "\r\n");
        if (rc >= 0)
            rc = evbuffer_add_printf(msg, "data: %.*s\n", (int)n, p);
        p += n;
        if (*p == '\0')
            break;
        p += (p[0] == '\r' && p[1] == '\n') ? 2 : 1;
    }
    if (rc >= 0)
        rc = evbuffer_add(msg, "\n", 1);
    if (rc < 0) {
        evbuffer_free(msg);
        return ERR_NOMEM;
    }
    size_t len = evbuffer_get_length(msg);
    const unsigned char *bytes = evbuffer_pullup(msg, -1);
    struct sse_client *c = s->clients;
    while (c != NULL) {
        struct sse_client *next = c->next;
        if (queued(c) + len > s->max_queue_bytes) {
            s->dropped++;
            client_drop(c);
        } else {
            struct evbuffer *copy = evbuffer_new();
            if (copy != NULL && evbuffer_add(copy, bytes, len) == 0)
                evhttp_send_reply_chunk(c->req, copy);
            if (copy)
                evbuffer_free(copy);
        }
        c = next;
    }
    evbuffer_free(msg);
    return ERR_OK;
}

size_t sse_clients(const struct sse *s)
{
    return s->n_clients;
}

uint64_t sse_dropped(const struct sse *s)
{
    return s->dropped;
}
