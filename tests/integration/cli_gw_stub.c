/*
 * cli_gw_stub -- a tiny stand-in for the REST gateway, for tests/integration/cli.sh.
 *
 * Serves the routes `loom` calls, from files, so the test can set any job
 * state with a text editor (python3 in the script):
 *   POST /api/jobs            checks the X-Loom-* headers: the signature must
 *                             recover (common/eth's eip191_recover) to
 *                             X-Loom-Address over the canonical text with the
 *                             sha256 of the body as received, the timestamp
 *                             within 300 s, the nonce unused; then parses the
 *                             multipart form and writes DIR/<id>.json and each
 *                             file under DIR/<id>.files/.
 *   GET  /api/jobs/<id>       DIR/<id>.json
 *   GET  /api/jobs            every DIR/<id>.json matching status, type, client
 *   GET  /api/jobs/<id>/result  DIR/<id>.result with X-Loom-SHA256 (or the
 *                             value of DIR/<id>.result.sha256 when present,
 *                             to test a lying gateway)
 *   GET  /api/quote           ceil(usd_cents * 10^24 / 300000000000)
 *   GET  /api/events          an SSE stream (": connected" first)
 *   POST /stub/broadcast?event=NAME  sends the body as one event to every stream
 *   GET  /stub/clients        the number of open streams
 *   POST /stub/drop           ends every stream (a gateway restart, as seen
 *                             by a watcher)
 * Every request line goes to DIR/requests.log ("POST /api/jobs signer=0x..").
 *
 *   cli_gw_stub DIR FIRST_ID    prints the port on stdout, then serves
 *
 * SPDX-License-Identifier: MIT
 */
#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <nettle/sha2.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "eth/eip191.h"
#include "hex.h"
#include "json.h"

#define MAX_STREAMS 16

static const char *dir;
static int64_t next_id;
static struct evhttp_request *streams[MAX_STREAMS];
static char nonces[256][65];
static size_t n_nonces;

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...)
{
    char path[4096];
    (void)snprintf(path, sizeof(path), "%s/requests.log", dir);
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

static void reply(struct evhttp_request *req, int status, const char *body, size_t len)
{
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, body, len);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, status, NULL, out);
    evbuffer_free(out);
}

static void reply_error(struct evhttp_request *req, int status, const char *code, const char *msg)
{
    char body[1024];
    int n =
        snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, msg);
    reply(req, status, body, (size_t)n);
}

static int read_file(const char *path, struct buf *out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        if (buf_append(out, tmp, n) != ERR_OK) {
            fclose(f);
            return -1;
        }
    fclose(f);
    return 0;
}

static int write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    int ok = fwrite(p, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static void sha_hex(const void *p, size_t n, char out[65])
{
    uint8_t d[32];
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, n, p);
    sha256_digest(&ctx, 32, d);
    hex_encode(d, 32, false, out);
}

/* ---- signed requests ---------------------------------------------------- */

static int check_signature(struct evhttp_request *req, const void *body, size_t len,
                           char signer[43])
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *addr = evhttp_find_header(h, "X-Loom-Address");
    const char *ts = evhttp_find_header(h, "X-Loom-Timestamp");
    const char *nonce = evhttp_find_header(h, "X-Loom-Nonce");
    const char *sig = evhttp_find_header(h, "X-Loom-Signature");
    if (!addr || !ts || !nonce || !sig) {
        reply_error(req, 401, "unauthorized", "missing X-Loom headers");
        return -1;
    }
    long long t = strtoll(ts, NULL, 10);
    if (llabs(t - (long long)time(NULL)) > 300 || strlen(nonce) < 8 || strlen(nonce) > 64) {
        reply_error(req, 401, "unauthorized", "stale timestamp or bad nonce");
        return -1;
    }
    for (size_t i = 0; i < n_nonces; i++)
        if (strcmp(nonces[i], nonce) == 0) {
            reply_error(req, 401, "unauthorized", "replay: nonce already used");
            return -1;
        }
    char body_hex[65];
    sha_hex(body, len, body_hex);
    struct buf text;
    buf_init(&text, 0);
    const char *method = evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" : "GET";
    uint8_t rsv[65], got[20], want[20];
    int ok = buf_appendf(&text, "loom-request-v1\n%s\n%s\n%s\n%s\n%s", method,
                         evhttp_request_get_uri(req), body_hex, ts, nonce) == ERR_OK &&
             hex_decode_exact(sig, rsv, 65) == ERR_OK &&
             eip191_recover(text.data, text.len, rsv, got) == ERR_OK &&
             hex_decode_exact(addr, want, 20) == ERR_OK && memcmp(got, want, 20) == 0;
    buf_release(&text);
    if (!ok) {
        reply_error(req, 401, "unauthorized", "bad signature");
        return -1;
    }
    if (n_nonces < 256)
        memcpy(nonces[n_nonces++], nonce, strlen(nonce) + 1);
    hex_encode(got, 20, true, signer);
    return 0;
}

/* ---- POST /api/jobs ----------------------------------------------------- */

/* The value of param <key>="..." in a part header block. */
static int header_param(const char *h, size_t n, const char *key, char *out, size_t cap)
{
    char pat[64];
    (void)snprintf(pat, sizeof(pat), "%s=\"", key);
    const char *p = memmem(h, n, pat, strlen(pat));
    if (p == NULL)
        return -1;
    p += strlen(pat);
    const char *q = memchr(p, '"', (size_t)(h + n - p));
    if (q == NULL || (size_t)(q - p) >= cap)
        return -1;
    memcpy(out, p, (size_t)(q - p));
    out[q - p] = '\0';
    return 0;
}

static void handle_create(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = (const char *)evbuffer_pullup(in, -1);
    char signer[43];
    if (check_signature(req, body ? body : "", len, signer) != 0) {
        log_line("POST /api/jobs refused");
        return;
    }
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    const char *b = ct ? strstr(ct, "boundary=") : NULL;
    if (b == NULL) {
        reply_error(req, 400, "invalid", "not multipart");
        return;
    }
    char delim[128];
    (void)snprintf(delim, sizeof(delim), "--%s", b + 9);
    int64_t id = next_id++;
    char path[4096], title[256] = "", type[32] = "", desc[1024] = "", price[32] = "0",
                     spec[65] = "";
    (void)snprintf(path, sizeof(path), "%s/%" PRId64 ".files", dir, id);
    mkdir(path, 0755);
    struct cJSON *o = NULL, *files = NULL;
    if (json_new_object(&o) != ERR_OK || json_add_array(o, "files", &files) != ERR_OK)
        abort();
    const char *end = body + len;
    const char *p = memmem(body, len, delim, strlen(delim));
    while (p != NULL) {
        p += strlen(delim);
        if (p + 2 <= end && p[0] == '-' && p[1] == '-')
            break;
        p += 2; /* CRLF */
        const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (hend == NULL)
            break;
        const char *content = hend + 4;
        const char *next = memmem(content, (size_t)(end - content), delim, strlen(delim));
        if (next == NULL)
            break;
        size_t clen = (size_t)(next - content) - 2;
        char name[256], filename[256];
        if (header_param(p, (size_t)(hend - p), "name", name, sizeof(name)) != 0)
            break;
        if (header_param(p, (size_t)(hend - p), "filename", filename, sizeof(filename)) == 0) {
            char hexd[65];
            sha_hex(content, clen, hexd);
            (void)snprintf(path, sizeof(path), "%s/%" PRId64 ".files/%s", dir, id, filename);
            (void)write_file(path, content, clen);
            if (strcmp(name, "job.json") == 0)
                memcpy(spec, hexd, 65);
            struct cJSON *f = NULL;
            if (json_add_object(files, NULL, &f) != ERR_OK || json_add_str(f, "name", filename) ||
                json_add_str(f, "sha256", hexd) || json_add_int(f, "size_bytes", (int64_t)clen))
                abort();
        } else {
            char *dst = strcmp(name, "title") == 0             ? title
                        : strcmp(name, "type") == 0            ? type
                        : strcmp(name, "description") == 0     ? desc
                        : strcmp(name, "price_usd_cents") == 0 ? price
                                                               : NULL;
            size_t cap = dst == title  ? sizeof(title)
                         : dst == type ? sizeof(type)
                         : dst == desc ? sizeof(desc)
                                       : sizeof(price);
            if (dst != NULL && clen < cap) {
                memcpy(dst, content, clen);
                dst[clen] = '\0';
            }
        }
        p = next;
    }
    if (json_add_int(o, "id", id) || json_add_str(o, "title", title) ||
        json_add_str(o, "description", desc) || json_add_str(o, "type", type) ||
        json_add_int(o, "price_usd_cents", strtoll(price, NULL, 10)) ||
        json_add_str(o, "client", signer) || json_add_str(o, "status", "PENDING") ||
        json_add_int(o, "progress", 0) || json_add_int(o, "created_at", (int64_t)time(NULL)) ||
        (spec[0] && json_add_str(o, "spec_sha256", spec)))
        abort();
    struct buf text;
    buf_init(&text, 0);
    if (json_print(o, &text) != ERR_OK)
        abort();
    (void)snprintf(path, sizeof(path), "%s/%" PRId64 ".json", dir, id);
    (void)write_file(path, text.data, text.len);
    log_line("POST /api/jobs signer=%s id=%" PRId64, signer, id);
    reply(req, 201, text.data, text.len);
    buf_release(&text);
    json_free(o);
}

/* ---- reads -------------------------------------------------------------- */

static void handle_get_job(struct evhttp_request *req, int64_t id)
{
    char path[4096];
    struct buf b;
    buf_init(&b, 0);
    (void)snprintf(path, sizeof(path), "%s/%" PRId64 ".json", dir, id);
    if (read_file(path, &b) != 0)
        reply_error(req, 404, "not_found", "no such job");
    else
        reply(req, 200, b.data, b.len);
    buf_release(&b);
}

static void handle_result(struct evhttp_request *req, int64_t id)
{
    char path[4096], hexd[65];
    struct buf b, lie;
    buf_init(&b, 0);
    buf_init(&lie, 0);
    (void)snprintf(path, sizeof(path), "%s/%" PRId64 ".result", dir, id);
    if (read_file(path, &b) != 0) {
        reply_error(req, 404, "not_found", "no result");
    } else {
        sha_hex(b.data ? b.data : "", b.len, hexd);
        (void)snprintf(path, sizeof(path), "%s/%" PRId64 ".result.sha256", dir, id);
        if (read_file(path, &lie) == 0 && lie.len >= 64)
            memcpy(hexd, lie.data, 64);
        struct evbuffer *out = evbuffer_new();
        evbuffer_add(out, b.data ? b.data : "", b.len);
        evhttp_add_header(evhttp_request_get_output_headers(req), "X-Loom-SHA256", hexd);
        evhttp_send_reply(req, 200, NULL, out);
        evbuffer_free(out);
    }
    buf_release(&lie);
    buf_release(&b);
}

static void handle_list(struct evhttp_request *req, struct evkeyvalq *q)
{
    const char *status = evhttp_find_header(q, "status");
    const char *type = evhttp_find_header(q, "type");
    const char *client = evhttp_find_header(q, "client");
    struct buf out;
    buf_init(&out, 0);
    int first = 1;
    if (buf_append_str(&out, "{\"jobs\":[") != ERR_OK)
        abort();
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        char path[4096];
        struct buf b;
        struct cJSON *o = NULL;
        char *s = NULL, *t = NULL, *c = NULL;
        buf_init(&b, 0);
        (void)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (read_file(path, &b) == 0 &&
            json_parse(b.data, b.len, 1 << 20, 16, &o, NULL) == ERR_OK &&
            json_get_str(o, "status", 0, 0, 64, &s, NULL) == ERR_OK &&
            json_get_str(o, "type", 0, 0, 64, &t, NULL) == ERR_OK &&
            json_get_str(o, "client", 0, 0, 64, &c, NULL) == ERR_OK &&
            (!status || (s && strcmp(s, status) == 0)) && (!type || (t && strcmp(t, type) == 0)) &&
            (!client || (c && strcasecmp(c, client) == 0))) {
            if ((!first && buf_append_byte(&out, ',') != ERR_OK) ||
                buf_append(&out, b.data, b.len) != ERR_OK)
                abort();
            first = 0;
        }
        free(s);
        free(t);
        free(c);
        json_free(o);
        buf_release(&b);
    }
    if (d)
        closedir(d);
    if (buf_append_str(&out, "],\"next_cursor\":null}") != ERR_OK)
        abort();
    reply(req, 200, out.data, out.len);
    buf_release(&out);
}

static void handle_quote(struct evhttp_request *req, struct evkeyvalq *q)
{
    const char *s = evhttp_find_header(q, "usd_cents");
    long long cents = s ? strtoll(s, NULL, 10) : 0;
    if (cents <= 0) {
        reply_error(req, 400, "invalid", "usd_cents must be a positive integer");
        return;
    }
    /* wei = ceil(cents * 10^24 / answer), answer 3000 USD with 8 decimals:
     * 10^24 / (3 * 10^11) = 10^13 / 3, so wei = ceil(cents * 10^13 / 3). */
    unsigned __int128 num = (unsigned __int128)cents * 10000000000000ULL;
    unsigned __int128 wei = (num + 2) / 3;
    char dec[64];
    int k = 63;
    dec[k] = '\0';
    do {
        dec[--k] = (char)('0' + (int)(wei % 10));
        wei /= 10;
    } while (wei > 0);
    char body[512];
    int n = snprintf(body, sizeof(body),
                     "{\"usd_cents\":%lld,\"wei\":\"%s\",\"round_id\":\"18446744073709551617\","
                     "\"updated_at\":%lld,\"age_s\":5,\"answer\":\"300000000000\",\"decimals\":8}",
                     cents, dec + k, (long long)time(NULL) - 5);
    reply(req, 200, body, (size_t)n);
}

/* ---- SSE ---------------------------------------------------------------- */

static void stream_closed_cb(struct evhttp_connection *con, void *arg)
{
    (void)con;
    struct evhttp_request **slot = arg;
    *slot = NULL;
}

static void handle_events(struct evhttp_request *req)
{
    for (int i = 0; i < MAX_STREAMS; i++) {
        if (streams[i] != NULL)
            continue;
        streams[i] = req;
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "text/event-stream");
        evhttp_send_reply_start(req, 200, "OK");
        struct evbuffer *b = evbuffer_new();
        evbuffer_add_printf(b, ": connected\n\n");
        evhttp_send_reply_chunk(req, b);
        evbuffer_free(b);
        evhttp_connection_set_closecb(evhttp_request_get_connection(req), stream_closed_cb,
                                      &streams[i]);
        log_line("GET /api/events");
        return;
    }
    reply_error(req, 503, "unavailable", "too many streams");
}

static void handle_broadcast(struct evhttp_request *req, struct evkeyvalq *q)
{
    const char *event = evhttp_find_header(q, "event");
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *data = (const char *)evbuffer_pullup(in, -1);
    int sent = 0;
    for (int i = 0; i < MAX_STREAMS; i++) {
        if (streams[i] == NULL)
            continue;
        struct evbuffer *b = evbuffer_new();
        /* CRLF line ends and a split into two writes exercise the parser. */
        evbuffer_add_printf(b, "event: %s\r\n", event ? event : "message");
        evhttp_send_reply_chunk(streams[i], b);
        evbuffer_add_printf(b, "data: %.*s\r\n\r\n", (int)len, data ? data : "");
        evhttp_send_reply_chunk(streams[i], b);
        evbuffer_free(b);
        sent++;
    }
    char body[64];
    int n = snprintf(body, sizeof(body), "{\"sent\":%d}", sent);
    reply(req, 200, body, (size_t)n);
}

static void request_cb(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = evhttp_uri_get_path(uri);
    const char *query = evhttp_uri_get_query(uri);
    struct evkeyvalq q;
    evhttp_parse_query_str(query ? query : "", &q);
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    int64_t id = 0;
    char rest[64] = "";
    if (m == EVHTTP_REQ_POST && strcmp(path, "/api/jobs") == 0) {
        handle_create(req);
    } else if (m == EVHTTP_REQ_GET && strcmp(path, "/api/jobs") == 0) {
        log_line("GET %s", evhttp_request_get_uri(req));
        handle_list(req, &q);
    } else if (m == EVHTTP_REQ_GET && sscanf(path, "/api/jobs/%" SCNd64 "%63s", &id, rest) >= 1) {
        if (strcmp(rest, "/result") == 0)
            handle_result(req, id);
        else if (rest[0] == '\0')
            handle_get_job(req, id);
        else
            reply_error(req, 404, "not_found", "no route");
    } else if (m == EVHTTP_REQ_GET && strcmp(path, "/api/quote") == 0) {
        handle_quote(req, &q);
    } else if (m == EVHTTP_REQ_GET && strcmp(path, "/api/events") == 0) {
        handle_events(req);
    } else if (m == EVHTTP_REQ_POST && strcmp(path, "/stub/broadcast") == 0) {
        handle_broadcast(req, &q);
    } else if (m == EVHTTP_REQ_POST && strcmp(path, "/stub/drop") == 0) {
        for (int i = 0; i < MAX_STREAMS; i++) {
            if (streams[i] == NULL)
                continue;
            evhttp_connection_set_closecb(evhttp_request_get_connection(streams[i]), NULL, NULL);
            evhttp_send_reply_end(streams[i]);
            streams[i] = NULL;
        }
        reply(req, 200, "{}", 2);
    } else if (strcmp(path, "/stub/clients") == 0) {
        int n = 0;
        for (int i = 0; i < MAX_STREAMS; i++)
            n += streams[i] != NULL;
        char body[32];
        int len = snprintf(body, sizeof(body), "%d", n);
        reply(req, 200, body, (size_t)len);
    } else {
        reply_error(req, 404, "not_found", "no route");
    }
    evhttp_clear_headers(&q);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 64;
    dir = argv[1];
    next_id = strtoll(argv[2], NULL, 10);
    struct event_base *base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_gencb(http, request_cb, NULL);
    struct evhttp_bound_socket *s = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    if (s == NULL)
        return 1;
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&sin, &sl);
    printf("%d\n", ntohs(sin.sin_port));
    fflush(stdout);
    event_base_dispatch(base);
    return 0;
}
