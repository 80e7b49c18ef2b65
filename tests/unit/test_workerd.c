/*
 * Unit tests for the worker daemon's network modules: the REST client
 * (gwclient over http) against an evhttp server run in a thread of this
 * test, the signed-request text and headers, and the result bundle.
 * The chain side (escrow, daemon) runs against anvil in
 * tests/integration/worker_daemon.sh.
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "services/worker/bundle.h"
#include "eth/eip191.h"
#include "hex.h"
#include "eth/key.h"
#include "feed.h"
#include "services/worker/gwclient.h"
#include "services/worker/http.h"
#include "services/worker/jobfiles.h"
#include "jobspec.h"

/* anvil's first development key (public test key). */
#define TEST_KEY  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
#define TEST_ADDR "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
#define CHAIN_ID1 "0x9414886b1ebf025db067a4cbd13a0903fbd9733a5372bba1b58bd72c1699b798"
#define SPEC1     "0xd4f02eaafd1a9e9de7d10972ca8e47fa7a985825c3c9c1e249c72683cb3e4f19"
/* The gateway writes sha256s as bare hex (docs/api.md). */
#define SPEC1_BARE "d4f02eaafd1a9e9de7d10972ca8e47fa7a985825c3c9c1e249c72683cb3e4f19"

/* ---- a small server in a thread ------------------------------------------- */

static struct event_base *srv_base;
static pthread_t srv_thread;
static int srv_port;
static pthread_mutex_t srv_mu = PTHREAD_MUTEX_INITIALIZER;
/* The last signed request: its headers, target and body. */
static char last_addr[64], last_ts[32], last_nonce[80], last_sig[160], last_target[256],
    last_ctype[64];
static struct buf last_body;

static void copy_header(struct evkeyvalq *h, const char *name, char *out, size_t n)
{
    const char *v = evhttp_find_header(h, name);
    (void)snprintf(out, n, "%s", v ? v : "");
}

static void answer(struct evhttp_request *req, int code, const char *body, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, body, len);
    evhttp_send_reply(req, code, "x", b);
    evbuffer_free(b);
}

static void srv_cb(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const char *t = evhttp_request_get_uri(req);
    static const char page1[] = "{\"jobs\":[{\"id\":7,\"type\":\"IA\",\"price_usd_cents\":1250,"
                                "\"chain_job_id\":\"" CHAIN_ID1 "\",\"spec_sha256\":\"" SPEC1_BARE
                                "\",\"escrow_wei\":\"4166666666666666\",\"max_runtime_s\":3600,"
                                "\"status\":\"OPEN\",\"title\":\"x\"},"
                                "{\"id\":6,\"type\":\"IA\",\"price_usd_cents\":99,\"chain_job_id\":"
                                "null,\"spec_sha256\":null}],"
                                "\"next_cursor\":\"6\"}";
    static const char page2[] =
        "{\"jobs\":[{\"id\":5,\"type\":\"IA\",\"price_usd_cents\":300,\"chain_job_id\":\"" SPEC1
        "\",\"spec_sha256\":\"" CHAIN_ID1 "\"}],\"next_cursor\":null}";
    if (strcmp(t, "/api/jobs?status=OPEN&type=IA&limit=100") == 0) {
        answer(req, 200, page1, sizeof(page1) - 1);
    } else if (strcmp(t, "/api/jobs?status=OPEN&type=IA&limit=100&cursor=6") == 0) {
        answer(req, 200, page2, sizeof(page2) - 1);
    } else if (strcmp(t, "/api/jobs?status=OPEN&type=GRAFICA&limit=100") == 0) {
        answer(req, 200, "{\"items\":[]}", 12);
    } else if (strcmp(t, "/api/jobs/1/files/in.bin") == 0) {
        answer(req, 200, "hello", 5);
    } else if (strcmp(t, "/api/jobs/1/files/big.bin") == 0) {
        char big[100];
        memset(big, 'b', sizeof(big));
        answer(req, 200, big, sizeof(big));
    } else if (strcmp(t, "/api/jobs/2/progress") == 0) {
        static const char e[] = "{\"error\":{\"code\":\"forbidden\",\"message\":\"not your job\"}}";
        answer(req, 403, e, sizeof(e) - 1);
    } else if (strcmp(t, "/api/jobs/1/progress") == 0 || strcmp(t, "/api/jobs/1/result") == 0) {
        struct evkeyvalq *h = evhttp_request_get_input_headers(req);
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t n = evbuffer_get_length(in);
        pthread_mutex_lock(&srv_mu);
        copy_header(h, "X-Loom-Address", last_addr, sizeof(last_addr));
        copy_header(h, "X-Loom-Timestamp", last_ts, sizeof(last_ts));
        copy_header(h, "X-Loom-Nonce", last_nonce, sizeof(last_nonce));
        copy_header(h, "X-Loom-Signature", last_sig, sizeof(last_sig));
        copy_header(h, "Content-Type", last_ctype, sizeof(last_ctype));
        (void)snprintf(last_target, sizeof(last_target), "%s", t);
        buf_reset(&last_body);
        assert_int_equal(buf_append(&last_body, evbuffer_pullup(in, (ev_ssize_t)n), n), ERR_OK);
        pthread_mutex_unlock(&srv_mu);
        answer(req, 200, "{}", 2);
    } else {
        answer(req, 404, "{\"error\":{\"code\":\"not_found\",\"message\":\"no\"}}", 45);
    }
}

static void *srv_main(void *arg)
{
    (void)arg;
    event_base_dispatch(srv_base);
    return NULL;
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static struct evhttp *srv_http;
static struct event *srv_stop;

static int srv_setup(void **state)
{
    (void)state;
    buf_init(&last_body, 0);
    /* Lets teardown wake the server's loop from the test's thread. */
    if (evthread_use_pthreads() == -1)
        return -1;
    srv_base = event_base_new();
    srv_http = evhttp_new(srv_base);
    evhttp_set_allowed_methods(srv_http, EVHTTP_REQ_GET | EVHTTP_REQ_PUT | EVHTTP_REQ_POST);
    evhttp_set_gencb(srv_http, srv_cb, NULL);
    struct evhttp_bound_socket *s = evhttp_bind_socket_with_handle(srv_http, "127.0.0.1", 0);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    if (s == NULL || getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&sa, &sl) == -1)
        return -1;
    srv_port = ntohs(sa.sin_port);
    /* Keeps the loop alive until teardown activates it. */
    srv_stop = event_new(srv_base, -1, EV_PERSIST, stop_cb, srv_base);
    struct timeval day = {86400, 0};
    event_add(srv_stop, &day);
    return pthread_create(&srv_thread, NULL, srv_main, NULL) == 0 ? 0 : -1;
}

static int srv_teardown(void **state)
{
    (void)state;
    event_active(srv_stop, EV_TIMEOUT, 0);
    pthread_join(srv_thread, NULL);
    event_free(srv_stop);
    evhttp_free(srv_http);
    event_base_free(srv_base);
    buf_release(&last_body);
    return 0;
}

static void base_url(char *out, size_t n)
{
    (void)snprintf(out, n, "http://127.0.0.1:%d", srv_port);
}

static void make_tmp(char *dir, size_t n)
{
    (void)snprintf(dir, n, "/tmp/test_workerd.XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void rm_dir(const char *dir)
{
    char cmd[512];
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_canonical(void **state)
{
    (void)state;
    unsigned char sha[32];
    struct buf b;
    buf_init(&b, 0);
    jobfiles_sha256("{\"progress\":5}", 14, sha);
    assert_int_equal(
        gwc_canonical("PUT", "/api/jobs/7/progress", sha, 1764460800, "0123456789abcdef", &b),
        ERR_OK);
    assert_string_equal(
        buf_cstr(&b),
        "loom-request-v1\nPUT\n/api/jobs/7/progress\n"
        "563b0bd8a02148b1b5a4e993f6d1c929e1d3c5ebec434b92f204f74986b74812\n1764460800\n"
        "0123456789abcdef");
    buf_release(&b);
}

static void test_snapshot_pages(void **state)
{
    (void)state;
    char url[64];
    struct proto_feed_open *jobs = NULL;
    size_t n = 0, skipped = 0;
    struct buf msg;
    uint8_t want[32];
    buf_init(&msg, 0);
    base_url(url, sizeof(url));
    assert_int_equal(gwc_snapshot(url, "IA", &jobs, &n, &skipped, &msg), ERR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(skipped, 1); /* job 6: no chain id yet */
    assert_int_equal(jobs[0].job_id, 7);
    assert_int_equal(jobs[0].type, PROTO_JOB_IA);
    assert_int_equal(jobs[0].price_usd_cents, 1250);
    assert_int_equal(jobs[0].max_runtime_s, 3600);
    assert_int_equal(hex_decode_exact(CHAIN_ID1, want, 32), ERR_OK);
    assert_memory_equal(jobs[0].chain_job_id, want, 32);
    assert_memory_equal(jobs[1].spec_sha256, want, 32);
    assert_int_equal(hex_decode_exact(SPEC1, want, 32), ERR_OK);
    assert_memory_equal(jobs[0].spec_sha256, want, 32);
    /* 4166666666666666 = 0x0ecd8fae906aaa, big-endian at the end of the word */
    static const uint8_t wei_tail[] = {0x0e, 0xcd, 0x8f, 0xae, 0x90, 0x6a, 0xaa};
    assert_memory_equal(jobs[0].escrow_wei + 25, wei_tail, 7);
    assert_int_equal(jobs[1].job_id, 5); /* from the second page */
    free(jobs);

    jobs = NULL;
    assert_int_equal(gwc_snapshot(url, "GRAFICA", &jobs, &n, &skipped, &msg), ERR_PROTO);
    assert_null(jobs);
    assert_non_null(strstr(buf_cstr(&msg), "jobs"));
    buf_release(&msg);
}

static void test_download(void **state)
{
    (void)state;
    char url[64], dir[64], path[128];
    unsigned char sha[32], other[32];
    struct buf msg;
    struct stat st;
    buf_init(&msg, 0);
    base_url(url, sizeof(url));
    make_tmp(dir, sizeof(dir));
    jobfiles_sha256("hello", 5, sha);
    jobfiles_sha256("hellO", 5, other);

    assert_int_equal(gwc_download(url, 1, "in.bin", dir, sha, 1000, &msg), ERR_OK);
    unsigned char *data = NULL;
    size_t len = 0;
    assert_int_equal(jobfiles_read(dir, "in.bin", 100, &data, &len, &msg), ERR_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(data, "hello", 5);
    free(data);
    /* Never overwrites. */
    assert_int_equal(gwc_download(url, 1, "in.bin", dir, sha, 1000, &msg), ERR_EXISTS);
    (void)snprintf(path, sizeof(path), "%s/in.bin", dir);
    assert_int_equal(unlink(path), 0);

    buf_reset(&msg);
    assert_int_equal(gwc_download(url, 1, "in.bin", dir, other, 1000, &msg), ERR_AUTH);
    assert_non_null(strstr(buf_cstr(&msg), "the spec says"));
    assert_int_equal(stat(path, &st), -1); /* removed */

    buf_reset(&msg);
    assert_int_equal(gwc_download(url, 1, "big.bin", dir, sha, 10, &msg), ERR_TOOBIG);
    buf_reset(&msg);
    /* The error body (45 bytes) is not held to the file's limit, nor kept. */
    assert_int_equal(gwc_download(url, 1, "none.bin", dir, sha, 10, &msg), ERR_NOTFOUND);
    assert_non_null(strstr(buf_cstr(&msg), "HTTP 404"));
    (void)snprintf(path, sizeof(path), "%s/none.bin", dir);
    assert_int_equal(stat(path, &st), -1);
    assert_int_equal(gwc_download(url, 1, "../etc", dir, sha, 10, &msg), ERR_INVAL);
    assert_int_equal(gwc_download(url, 1, "in.bin", "/nonexistent-dir", sha, 10, &msg), ERR_IO);
    rm_dir(dir);
    buf_release(&msg);
}

/* gwc_fetch: the dispatch path's job.json, into memory. */
static void test_fetch(void **state)
{
    (void)state;
    char url[64];
    unsigned char sha[32], other[32];
    struct buf msg;
    char *text = NULL;
    size_t len = 0;
    buf_init(&msg, 0);
    base_url(url, sizeof(url));
    jobfiles_sha256("hello", 5, sha);
    jobfiles_sha256("hellO", 5, other);

    assert_int_equal(gwc_fetch(url, 1, "in.bin", sha, 1000, &text, &len, &msg), ERR_OK);
    assert_int_equal(len, 5);
    assert_string_equal(text, "hello"); /* NUL-terminated */
    free(text);
    text = NULL;
    /* Exactly at the limit is fine, one byte under it is not. */
    assert_int_equal(gwc_fetch(url, 1, "in.bin", sha, 5, &text, &len, &msg), ERR_OK);
    free(text);
    text = NULL;
    assert_int_equal(gwc_fetch(url, 1, "in.bin", sha, 4, &text, &len, &msg), ERR_TOOBIG);
    assert_null(text);
    buf_reset(&msg);
    assert_int_equal(gwc_fetch(url, 1, "in.bin", other, 1000, &text, &len, &msg), ERR_AUTH);
    assert_null(text);
    assert_non_null(strstr(buf_cstr(&msg), "the spec says"));
    buf_reset(&msg);
    assert_int_equal(gwc_fetch(url, 1, "none.bin", sha, 1000, &text, &len, &msg), ERR_NOTFOUND);
    assert_null(text);
    assert_non_null(strstr(buf_cstr(&msg), "HTTP 404"));
    assert_int_equal(gwc_fetch(url, 1, "../etc", sha, 1000, &text, &len, &msg), ERR_INVAL);
    assert_int_equal(gwc_fetch("http://127.0.0.1:1", 1, "in.bin", sha, 1000, &text, &len, &msg),
                     ERR_UNAVAILABLE);
    assert_null(text);
    buf_release(&msg);
}

/* The same fetch in two halves, with time in between (as the daemon reads
 * the job on chain meanwhile); a started fetch can be dropped. */
static void test_fetch_split(void **state)
{
    (void)state;
    char url[64];
    unsigned char sha[32];
    struct buf msg;
    struct gwc_fetch *f = NULL;
    char *text = NULL;
    size_t len = 0;
    buf_init(&msg, 0);
    base_url(url, sizeof(url));
    jobfiles_sha256("hello", 5, sha);
    assert_int_equal(gwc_fetch_start(url, 1, "in.bin", sha, 1000, &f, &msg), ERR_OK);
    assert_non_null(f);
    struct timespec ts = {0, 20000000L};
    nanosleep(&ts, NULL);
    assert_int_equal(gwc_fetch_finish(f, &text, &len, &msg), ERR_OK);
    assert_int_equal(len, 5);
    assert_string_equal(text, "hello");
    free(text);
    text = NULL;
    f = NULL;
    assert_int_equal(gwc_fetch_start(url, 1, "none.bin", sha, 1000, &f, &msg), ERR_OK);
    assert_int_equal(gwc_fetch_finish(f, &text, &len, &msg), ERR_NOTFOUND);
    assert_null(text);
    f = NULL;
    assert_int_equal(gwc_fetch_start(url, 1, "in.bin", sha, 1000, &f, &msg), ERR_OK);
    gwc_fetch_free(f);
    gwc_fetch_free(NULL);
    f = NULL;
    assert_int_equal(gwc_fetch_start(url, 1, "../etc", sha, 1000, &f, &msg), ERR_INVAL);
    assert_null(f);
    assert_int_equal(gwc_fetch_start("ftp://x", 1, "in.bin", sha, 1000, &f, &msg), ERR_INVAL);
    assert_null(f);
    /* A refused connection shows at the start or, connecting on, at the finish. */
    enum err e = gwc_fetch_start("http://127.0.0.1:1", 1, "in.bin", sha, 1000, &f, &msg);
    if (e == ERR_OK)
        e = gwc_fetch_finish(f, &text, &len, &msg);
    assert_int_equal(e, ERR_UNAVAILABLE);
    assert_null(text);
    buf_release(&msg);
}

/* Check the last signed request as the gateway would. */
static void check_signed(const char *method, const char *target, const void *body, size_t len)
{
    unsigned char sha[32];
    uint8_t rsv[65], signer[20], want[20];
    char sha_hex[65], text[1024];
    pthread_mutex_lock(&srv_mu);
    assert_string_equal(last_target, target);
    assert_int_equal(last_body.len, len);
    assert_memory_equal(last_body.data, body, len);
    assert_string_equal(last_addr, TEST_ADDR);
    assert_int_equal(strlen(last_nonce), 32);
    long long ts = strtoll(last_ts, NULL, 10);
    assert_true(llabs(ts - (long long)time(NULL)) <= 5);
    jobfiles_sha256(body, len, sha);
    hex_encode(sha, 32, false, sha_hex);
    int n = snprintf(text, sizeof(text), "loom-request-v1\n%s\n%s\n%s\n%s\n%s", method, target,
                     sha_hex, last_ts, last_nonce);
    assert_int_equal(strlen(last_sig), 132);
    assert_int_equal(hex_decode_exact(last_sig, rsv, 65), ERR_OK);
    assert_true(rsv[64] == 27 || rsv[64] == 28);
    assert_int_equal(eip191_recover(text, (size_t)n, rsv, signer), ERR_OK);
    assert_int_equal(hex_decode_exact(TEST_ADDR, want, 20), ERR_OK);
    assert_memory_equal(signer, want, 20);
    pthread_mutex_unlock(&srv_mu);
}

static void test_progress_signed(void **state)
{
    (void)state;
    char url[64];
    struct key k;
    struct buf msg;
    buf_init(&msg, 0);
    base_url(url, sizeof(url));
    assert_int_equal(key_from_hex(TEST_KEY, &k), ERR_OK);
    assert_int_equal(gwc_put_progress(url, &k, 1, 42, &msg), ERR_OK);
    check_signed("PUT", "/api/jobs/1/progress", "{\"progress\":42}", 15);
    assert_string_equal(last_ctype, "application/json");
    char first_nonce[80];
    (void)snprintf(first_nonce, sizeof(first_nonce), "%s", last_nonce);
    assert_int_equal(gwc_put_progress(url, &k, 1, 250, &msg), ERR_OK);
    check_signed("PUT", "/api/jobs/1/progress", "{\"progress\":100}", 16); /* clamped */
    assert_string_not_equal(first_nonce, last_nonce);                      /* fresh nonce */
    /* The gateway's refusal comes back as its error, with its message. */
    assert_int_equal(gwc_put_progress(url, &k, 2, 1, &msg), ERR_PERM);
    assert_non_null(strstr(buf_cstr(&msg), "not your job"));
    key_wipe(&k);
    buf_release(&msg);
}

static void test_result_upload(void **state)
{
    (void)state;
    char url[64], dir[64], path[128];
    unsigned char content[3000], sha[32];
    struct key k;
    struct buf msg;
    buf_init(&msg, 0);
    base_url(url, sizeof(url));
    make_tmp(dir, sizeof(dir));
    for (size_t i = 0; i < sizeof(content); i++)
        content[i] = (unsigned char)(i * 7);
    assert_int_equal(jobfiles_write(dir, "r.tar", content, sizeof(content), &msg), ERR_OK);
    jobfiles_sha256(content, sizeof(content), sha);
    (void)snprintf(path, sizeof(path), "%s/r.tar", dir);
    assert_int_equal(key_from_hex(TEST_KEY, &k), ERR_OK);
    assert_int_equal(gwc_post_result(url, &k, 1, path, sizeof(content), sha, &msg), ERR_OK);
    check_signed("POST", "/api/jobs/1/result", content, sizeof(content));
    assert_string_equal(last_ctype, "application/octet-stream");
    assert_int_equal(gwc_post_result(url, &k, 1, "/nonexistent", 1, sha, &msg), ERR_IO);
    key_wipe(&k);
    rm_dir(dir);
    buf_release(&msg);
}

static void test_http_errors(void **state)
{
    (void)state;
    struct http_resp r;
    struct buf msg;
    buf_init(&msg, 0);
    http_resp_init(&r);
    /* A port nobody listens on: bind one, close it, use it. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
    close(s);
    char url[64];
    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(sa.sin_port));
    struct http_req rq = {.method = "GET",
                          .base = url,
                          .target = "/x",
                          .body_fd = -1,
                          .timeout_ms = 2000,
                          .out_fd = -1,
                          .max_body_bytes = 100};
    assert_int_equal(http_request(&rq, &r, &msg), ERR_UNAVAILABLE);
    rq.base = "https://127.0.0.1:1";
    assert_int_equal(http_request(&rq, &r, &msg), ERR_INVAL);
    rq.base = "not a url";
    assert_int_equal(http_request(&rq, &r, &msg), ERR_INVAL);
    base_url(url, sizeof(url));
    rq.base = url;
    rq.method = "DELETE";
    assert_int_equal(http_request(&rq, &r, &msg), ERR_INVAL);
    rq.method = "GET";
    rq.target = "/api/jobs/1/files/in.bin";
    assert_int_equal(http_request(&rq, &r, &msg), ERR_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_bytes, 5);
    assert_memory_equal(r.body.data, "hello", 5);
    http_resp_release(&r);

    assert_int_equal(http_status_err(204), ERR_OK);
    assert_int_equal(http_status_err(400), ERR_INVAL);
    assert_int_equal(http_status_err(401), ERR_AUTH);
    assert_int_equal(http_status_err(403), ERR_PERM);
    assert_int_equal(http_status_err(404), ERR_NOTFOUND);
    assert_int_equal(http_status_err(409), ERR_STATE);
    assert_int_equal(http_status_err(413), ERR_TOOBIG);
    assert_int_equal(http_status_err(503), ERR_UNAVAILABLE);
    assert_int_equal(http_status_err(500), ERR_PROTO);
    buf_release(&msg);
}

static unsigned octal(const unsigned char *p, size_t n)
{
    unsigned v = 0;
    for (size_t i = 0; i < n && p[i] >= '0' && p[i] <= '7'; i++)
        v = v * 8 + (unsigned)(p[i] - '0');
    return v;
}

/* Check one ustar header at <h>: name, size, mode, checksum. */
static void check_header(const unsigned char *h, const char *name, unsigned size)
{
    assert_string_equal((const char *)h, name);
    assert_int_equal(octal(h + 124, 11), size);
    assert_int_equal(octal(h + 100, 7), 0644);
    assert_int_equal(octal(h + 136, 11), 0); /* mtime 0: reproducible */
    assert_int_equal(h[156], '0');
    assert_memory_equal(h + 257,
                        "ustar\0"
                        "00",
                        8);
    unsigned sum = 0;
    for (size_t i = 0; i < 512; i++)
        sum += (i >= 148 && i < 156) ? ' ' : h[i];
    assert_int_equal(octal(h + 148, 6), sum);
}

static void test_bundle(void **state)
{
    (void)state;
    char dir[64], out[128];
    unsigned char big[600], sha[32], sha2[32], file_sha[32];
    uint64_t size = 0, size2 = 0;
    struct jobfiles_set set = {0};
    struct buf msg, manifest;
    buf_init(&msg, 0);
    buf_init(&manifest, 0);
    make_tmp(dir, sizeof(dir));
    memset(big, 'z', sizeof(big));
    assert_int_equal(jobfiles_write(dir, "z.txt", big, sizeof(big), &msg), ERR_OK);
    assert_int_equal(jobfiles_write(dir, "a.bin", "abc", 3, &msg), ERR_OK);
    assert_int_equal(jobfiles_list(dir, &set, &msg), ERR_OK);
    assert_int_equal(set.n, 2);
    (void)snprintf(out, sizeof(out), "%s.tar", dir);
    assert_int_equal(bundle_write(dir, &set, out, &size, sha, &msg), ERR_OK);
    assert_int_equal(jobspec_result_encode(&manifest, 1, NULL, set.files, set.n), ERR_OK);
    size_t mpad = (manifest.len + 511) / 512 * 512;
    assert_int_equal(size, 512 + mpad + 512 + 512 + 512 + 1024 + 1024);

    unsigned char *tar = NULL;
    size_t len = 0;
    assert_int_equal(jobfiles_read("/tmp", out + 5, 1 << 20, &tar, &len, &msg), ERR_OK);
    assert_int_equal(len, size);
    jobfiles_sha256(tar, len, file_sha);
    assert_memory_equal(sha, file_sha, 32);
    check_header(tar, "manifest.json", (unsigned)manifest.len);
    assert_memory_equal(tar + 512, manifest.data, manifest.len);
    const unsigned char *h = tar + 512 + mpad;
    check_header(h, "a.bin", 3);
    assert_memory_equal(h + 512, "abc", 3);
    check_header(h + 1024, "z.txt", 600);
    assert_memory_equal(h + 1536, big, 600);
    for (size_t i = len - 1024; i < len; i++)
        assert_int_equal(tar[i], 0);
    free(tar);

    /* The same outputs give the same bytes. */
    assert_int_equal(bundle_write(dir, &set, out, &size2, sha2, &msg), ERR_OK);
    assert_int_equal(size2, size);
    assert_memory_equal(sha2, sha, 32);

    /* A file that shrank after listing is an error, not a short archive. */
    char zpath[128];
    (void)snprintf(zpath, sizeof(zpath), "%s/z.txt", dir);
    assert_int_equal(truncate(zpath, 10), 0);
    assert_int_equal(bundle_write(dir, &set, out, &size2, sha2, &msg), ERR_IO);
    assert_non_null(strstr(buf_cstr(&msg), "shorter"));
    jobfiles_set_release(&set);

    /* An output named like the manifest is refused. */
    assert_int_equal(jobfiles_write(dir, "manifest.json", "{}", 2, &msg), ERR_OK);
    assert_int_equal(jobfiles_list(dir, &set, &msg), ERR_OK);
    assert_int_equal(bundle_write(dir, &set, out, &size2, sha2, &msg), ERR_INVAL);
    jobfiles_set_release(&set);
    rm_dir(dir);
    unlink(out);
    buf_release(&manifest);
    buf_release(&msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical),     cmocka_unit_test(test_snapshot_pages),
        cmocka_unit_test(test_download),      cmocka_unit_test(test_fetch),
        cmocka_unit_test(test_fetch_split),   cmocka_unit_test(test_progress_signed),
        cmocka_unit_test(test_result_upload), cmocka_unit_test(test_http_errors),
        cmocka_unit_test(test_bundle),
    };
    return cmocka_run_group_tests(tests, srv_setup, srv_teardown);
}
