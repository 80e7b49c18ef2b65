/*
 * worker_fakegw -- a stand-in for the gateway and the jobstore's feed, for
 * tests/integration/worker_daemon.sh and tests/bench/bench_dispatch.sh.
 *
 *   worker_fakegw DIR FEED_ADDR PORT_FILE [PORT]
 *
 * Serves, on 127.0.0.1 and PORT or a free port (written to PORT_FILE):
 *   GET  /api/jobs?...                 DIR/snapshot.json, or an empty page
 *   GET  /api/jobs/{id}/files/{name}   DIR/jobs/{id}/{name}
 *   PUT  /api/jobs/{id}/progress       signed: appends "id body address" to DIR/progress.log
 *   POST /api/jobs/{id}/result         signed: stores DIR/results/{id}.tar and appends
 *                                      "id sha256 address" to DIR/results.log
 *   POST /test/publish?topic=T         publishes the body, a feed frame, through the jobstore's
 *                                      feed publisher (services/jobstore/feedpub.c) bound at
 *                                      FEED_ADDR, which also sends the heartbeat every second;
 *                                      a body that does not decode, or of another topic, gets 400
 * A gateway that is down for a moment: while DIR/unavailable.files (or
 * DIR/unavailable.result) holds a number N > 0, the next file download (or
 * result upload) is answered 503 and N is decremented; likewise
 * DIR/forbidden.result answers an upload 403 (a job store that has not yet
 * seen the claim), before the 503s.
 * Signed requests must carry X-Loom-Address, -Timestamp, -Nonce and
 * -Signature; the signature is checked here against the canonical text of
 * the gateway (written out independently of the worker's code), within
 * 300 s of now, and a nonce is accepted once. Anything else gets 401.
 * Every request is logged to DIR/requests.log ("METHOD target status").
 * Stops on SIGTERM.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <nettle/sha2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>

#include "buf.h"
#include "bus.h"
#include "feed.h"
#include "metrics.h"
#include "services/jobstore/feedpub.h"
#include "eth/eip191.h"
#include "hex.h"
#include "eth/key.h"

static const char *dir;
static struct feedpub *pub;
static char *nonces[4096];
static size_t n_nonces;

static void logf_line(const char *file, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_line(const char *file, const char *fmt, ...)
{
    char path[4096];
    (void)snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "a");
    if (f == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

static void reply(struct evhttp_request *req, int code, const char *body, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, body, len);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      code == 200 && body[0] != '{' ? "application/octet-stream"
                                                    : "application/json");
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", b);
    evbuffer_free(b);
    logf_line("requests.log", "%s %s %d",
              evhttp_request_get_command(req) == EVHTTP_REQ_GET ? "GET" : "WRITE",
              evhttp_request_get_uri(req), code);
}

static int send_file(struct evhttp_request *req, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    struct buf b;
    buf_init(&b, (size_t)64 << 20);
    char chunk[65536];
    size_t n;
    int ok = 1;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ok = ok && buf_append(&b, chunk, n) == ERR_OK;
    fclose(f);
    if (ok)
        reply(req, 200, b.len ? (const char *)b.data : "", b.len);
    buf_release(&b);
    return ok;
}

/* Check the X-Loom-* headers against the request; returns the signer's
 * lower-case hex address in <addr> or 0. */
static int verify(struct evhttp_request *req, const char *method, const unsigned char *body,
                  size_t len, char addr[43])
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *a = evhttp_find_header(h, "X-Loom-Address");
    const char *ts = evhttp_find_header(h, "X-Loom-Timestamp");
    const char *nonce = evhttp_find_header(h, "X-Loom-Nonce");
    const char *sig = evhttp_find_header(h, "X-Loom-Signature");
    uint8_t want[20], got[20], rsv[65];
    unsigned char sha[32];
    char sha_hex[65];
    if (a == NULL || ts == NULL || nonce == NULL || sig == NULL)
        return 0;
    if (hex_decode_exact(a, want, 20) != ERR_OK || hex_decode_exact(sig, rsv, 65) != ERR_OK)
        return 0;
    long long t = strtoll(ts, NULL, 10);
    if (llabs(t - (long long)time(NULL)) > 300 || strlen(nonce) < 8 || strlen(nonce) > 64)
        return 0;
    for (size_t i = 0; i < n_nonces; i++)
        if (strcmp(nonces[i], nonce) == 0)
            return 0;
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, len, body);
    sha256_digest(&c, 32, sha);
    hex_encode(sha, 32, false, sha_hex);
    char text[8192];
    int n = snprintf(text, sizeof(text), "loom-request-v1\n%s\n%s\n%s\n%s\n%s", method,
                     evhttp_request_get_uri(req), sha_hex, ts, nonce);
    if (n <= 0 || (size_t)n >= sizeof(text))
        return 0;
    if (eip191_recover(text, (size_t)n, rsv, got) != ERR_OK || memcmp(got, want, 20) != 0)
        return 0;
    if (n_nonces < sizeof(nonces) / sizeof(nonces[0]))
        nonces[n_nonces++] = strdup(nonce);
    hex_encode(got, 20, true, addr);
    return 1;
}

/* 1 when DIR/<name> holds a count above 0, which is then decremented. */
static int unavailable(const char *name)
{
    char path[4096];
    long n = 0;
    (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r+");
    if (f == NULL)
        return 0;
    int take = fscanf(f, "%ld", &n) == 1 && n > 0;
    if (take) {
        rewind(f);
        fprintf(f, "%ld\n", n - 1);
    }
    fclose(f);
    return take;
}

static void handle(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const char *target = evhttp_request_get_uri(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const unsigned char *body =
        len ? evbuffer_pullup(in, (ev_ssize_t)len) : (const unsigned char *)"";
    char path[4096], name[256], addr[43];
    long long id = 0;
    int used = 0;
    if (cmd == EVHTTP_REQ_GET && strncmp(target, "/api/jobs?", 10) == 0) {
        (void)snprintf(path, sizeof(path), "%s/snapshot.json", dir);
        logf_line("snapshots.log", "%s", target);
        if (!send_file(req, path)) {
            static const char empty[] = "{\"jobs\":[],\"next_cursor\":null}";
            reply(req, 200, empty, sizeof(empty) - 1);
        }
        return;
    }
    if (cmd == EVHTTP_REQ_GET &&
        sscanf(target, "/api/jobs/%lld/files/%255[A-Za-z0-9._-]%n", &id, name, &used) == 2 &&
        target[used] == '\0') {
        (void)snprintf(path, sizeof(path), "%s/jobs/%lld/%s", dir, id, name);
        if (unavailable("unavailable.files")) {
            reply(req, 503, "{\"error\":{\"code\":\"unavailable\"}}", 32);
            return;
        }
        if (!send_file(req, path))
            reply(req, 404, "{\"error\":{\"code\":\"not_found\"}}", 31);
        return;
    }
    if (cmd == EVHTTP_REQ_PUT && sscanf(target, "/api/jobs/%lld/progress%n", &id, &used) == 1 &&
        target[used] == '\0') {
        if (!verify(req, "PUT", body, len, addr)) {
            reply(req, 401, "{\"error\":{\"code\":\"unauthorized\"}}", 34);
            return;
        }
        logf_line("progress.log", "%lld %.*s %s", id, (int)len, (const char *)body, addr);
        reply(req, 200, "{}", 2);
        return;
    }
    if (cmd == EVHTTP_REQ_POST && sscanf(target, "/api/jobs/%lld/result%n", &id, &used) == 1 &&
        target[used] == '\0') {
        unsigned char sha[32];
        char sha_hex[67];
        if (!verify(req, "POST", body, len, addr)) {
            reply(req, 401, "{\"error\":{\"code\":\"unauthorized\"}}", 34);
            return;
        }
        if (unavailable("forbidden.result")) {
            reply(req, 403, "{\"error\":{\"code\":\"forbidden\"}}", 30);
            return;
        }
        if (unavailable("unavailable.result")) {
            reply(req, 503, "{\"error\":{\"code\":\"unavailable\"}}", 32);
            return;
        }
        struct sha256_ctx c;
        sha256_init(&c);
        sha256_update(&c, len, body);
        sha256_digest(&c, 32, sha);
        hex_encode(sha, 32, true, sha_hex);
        (void)snprintf(path, sizeof(path), "%s/results/%lld.tar", dir, id);
        FILE *f = fopen(path, "wb");
        int ok = f != NULL && fwrite(body, 1, len, f) == len;
        if (f != NULL)
            ok = fclose(f) == 0 && ok;
        if (!ok) {
            reply(req, 500, "{\"error\":{\"code\":\"io_error\"}}", 29);
            return;
        }
        logf_line("results.log", "%lld %s %s", id, sha_hex, addr);
        reply(req, 200, "{}", 2);
        return;
    }
    if (cmd == EVHTTP_REQ_POST && strncmp(target, "/test/publish?topic=", 20) == 0) {
        struct proto_feed m;
        const char *topic = NULL;
        if (proto_feed_decode((const char *)body, len, &m, NULL) != ERR_OK ||
            (topic = proto_feed_topic(&m)) == NULL || strcmp(topic, target + 20) != 0) {
            reply(req, 400, "{\"error\":{\"code\":\"invalid\"}}", 28);
            return;
        }
        if (feedpub_publish(pub, &m) != ERR_OK) {
            reply(req, 500, "{\"error\":{\"code\":\"io_error\"}}", 29);
            return;
        }
        reply(req, 200, "{}", 2);
        return;
    }
    reply(req, 404, "{\"error\":{\"code\":\"not_found\"}}", 31);
}

static void on_term(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: worker_fakegw DIR FEED_ADDR PORT_FILE [PORT]\n");
        return 64;
    }
    dir = argv[1];
    long want_port = argc == 5 ? strtol(argv[4], NULL, 10) : 0;
    struct event_base *base = event_base_new();
    struct evhttp *http = base ? evhttp_new(base) : NULL;
    struct metrics *m = NULL;
    if (http == NULL || want_port < 0 || want_port > 65535 || metrics_new(&m) != ERR_OK ||
        feedpub_new(base, argv[2], m, &pub) != ERR_OK) {
        fprintf(stderr, "worker_fakegw: cannot set up (feed %s)\n", argv[2]);
        return 1;
    }
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_PUT | EVHTTP_REQ_POST);
    evhttp_set_max_body_size(http, (ev_ssize_t)256 << 20);
    evhttp_set_gencb(http, handle, NULL);
    struct evhttp_bound_socket *s =
        evhttp_bind_socket_with_handle(http, "127.0.0.1", (ev_uint16_t)want_port);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    if (s == NULL ||
        getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&sa, &sl) == -1) {
        fprintf(stderr, "worker_fakegw: cannot listen\n");
        return 1;
    }
    char tmp[4096];
    (void)snprintf(tmp, sizeof(tmp), "%s.tmp", argv[3]);
    FILE *f = fopen(tmp, "w");
    if (f == NULL || fprintf(f, "%d\n", ntohs(sa.sin_port)) < 0 || fclose(f) != 0 ||
        rename(tmp, argv[3]) != 0) {
        fprintf(stderr, "worker_fakegw: cannot write %s\n", argv[3]);
        return 1;
    }
    struct event *term = evsignal_new(base, SIGTERM, on_term, base);
    evsignal_add(term, NULL);
    event_base_dispatch(base);
    event_free(term);
    feedpub_free(pub);
    metrics_free(m);
    evhttp_free(http);
    event_base_free(base);
    for (size_t i = 0; i < n_nonces; i++)
        free(nonces[i]);
    return 0;
}
