/* The ceiling for gateway reads in tests/bench/bench_gateway.sh: a bare
 * libevent evhttp server answering every request with one fixed body (the
 * size of a job's JSON). No routing, no intake filter, no backend.
 * Usage: gw_bare_server PORT BODY_BYTES. Runs until killed.
 * Built by the script (not a bench_* binary: it never exits by itself).
 * SPDX-License-Identifier: MIT */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *body;
static size_t body_len;

static void cb(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    evbuffer_add_reference(out, body, body_len, NULL, NULL);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, 200, "OK", NULL);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: gw_bare_server PORT BODY_BYTES\n");
        return 64;
    }
    long port = strtol(argv[1], NULL, 10), n = strtol(argv[2], NULL, 10);
    if (port <= 0 || port > 65535 || n <= 0 || n > (1 << 20))
        return 64;
    body_len = (size_t)n;
    body = malloc(body_len);
    if (body == NULL)
        return 70;
    memset(body, 'x', body_len);
    struct event_base *base = event_base_new();
    struct evhttp *http = base ? evhttp_new(base) : NULL;
    if (http == NULL || evhttp_bind_socket(http, "127.0.0.1", (ev_uint16_t)port) != 0)
        return 71;
    evhttp_set_gencb(http, cb, NULL);
    event_base_dispatch(base);
    return 0;
}
