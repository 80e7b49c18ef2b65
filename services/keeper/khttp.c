/*
 * khttp -- see khttp.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include "khttp.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "buf.h"
#include "kstats.h"

struct khttp {
    struct evhttp *http;
    struct khttp_source src;
    int64_t stale_ms;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void reply(struct evhttp_request *req, int code, const char *type, const char *body,
                  size_t len)
{
    if (len == 0)
        len = strlen(body);
    struct evbuffer *b = evbuffer_new();
    if (b == NULL) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    if (evbuffer_add(b, body, len) == -1) {
        evbuffer_free(b);
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", b);
    evbuffer_free(b);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct khttp *h = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (path == NULL)
        path = "/";
    struct buf out;
    buf_init(&out, 1 << 20);
    if (strcmp(path, "/metrics") != 0 && strcmp(path, "/health") != 0) {
        reply(req, 404, "application/json", "{\"error\":{\"code\":\"not_found\"}}", 0);
        goto done;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        reply(req, 405, "application/json", "{\"error\":{\"code\":\"method_not_allowed\"}}", 0);
        goto done;
    }
    const struct kstats *st = h->src.stats_fn(h->src.arg);
    if (strcmp(path, "/metrics") == 0) {
        if (kstats_render(st, &out) != ERR_OK) {
            evhttp_send_error(req, 500, NULL);
            goto done;
        }
        reply(req, 200, "text/plain; version=0.0.4", out.data, out.len);
        goto done;
    }
    int64_t last = h->src.last_ok_ms_fn(h->src.arg);
    int ok = last >= 0 && mono_ms() - last < h->stale_ms;
    if (buf_appendf(&out, "{\"status\":\"%s\",\"last_block\":%llu}", ok ? "ok" : "stale",
                    (unsigned long long)st->last_block) != ERR_OK) {
        evhttp_send_error(req, 500, NULL);
        goto done;
    }
    reply(req, ok ? 200 : 503, "application/json", out.data, out.len);
done:
    buf_release(&out);
}

enum err khttp_start(struct event_base *base, const char *addr, const struct khttp_source *src,
                     int64_t stale_ms, struct khttp **out, int *bound_port)
{
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon == addr || colon[1] == '\0')
        return ERR_INVAL;
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535)
        return ERR_INVAL;
    char *host = strndup(addr, (size_t)(colon - addr));
    struct khttp *h = calloc(1, sizeof(*h));
    enum err e = ERR_NOMEM;
    if (host == NULL || h == NULL)
        goto fail;
    h->src = *src;
    h->stale_ms = stale_ms;
    h->http = evhttp_new(base);
    if (h->http == NULL)
        goto fail;
    e = ERR_IO;
    struct evhttp_bound_socket *s = evhttp_bind_socket_with_handle(h->http, host, (uint16_t)port);
    if (s == NULL)
        goto fail;
    evhttp_set_gencb(h->http, on_request, h);
    if (bound_port != NULL) {
        struct sockaddr_storage ss;
        ev_socklen_t sl = sizeof(ss);
        *bound_port = (int)port;
        if (getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&ss, &sl) == 0) {
            if (ss.ss_family == AF_INET)
                *bound_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            else if (ss.ss_family == AF_INET6)
                *bound_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    free(host);
    *out = h;
    return ERR_OK;
fail:
    free(host);
    khttp_free(h);
    return e;
}

void khttp_free(struct khttp *h)
{
    if (h == NULL)
        return;
    if (h->http != NULL)
        evhttp_free(h->http);
    free(h);
}
