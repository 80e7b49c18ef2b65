/* HTTP tests of the gateway: the real evhttp server on a free loopback port,
 * the in-memory backend, a fake signature verifier; libcurl and raw sockets
 * as clients. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <cJSON.h>
#include <curl/curl.h>
#include <dirent.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "feed.h"
#include "services/gateway/digest.h"
#include "services/gateway/feedmirror.h"
#include "services/gateway/gateway.h"
#include "services/gateway/jobcache.h"
#include "services/gateway/memback.h"
#include "services/gateway/openapi.h"
#include "services/gateway/routes.h"
#include "services/gateway/store.h"

#define CLIENT "0x1111111111111111111111111111111111111111"
#define OTHER  "0x2222222222222222222222222222222222222222"
#define WORKER "0x3333333333333333333333333333333333333333"

struct fx {
    struct event_base *base;
    pthread_t thread;
    struct store *store;
    struct memback *mem;
    struct gateway *gw;
    int port;
    char root[64];
    char store_dir[128];
};

/* ---- fake verifier: "0x" + address(40) + sha256(message)(64) + 26 zeros ---- */

static enum err fake_verify(void *ctx, const char *m, size_t n, const char *sig, char **out)
{
    (void)ctx;
    if (strlen(sig) != 132 || strncmp(sig, "0x", 2) != 0)
        return ERR_INVAL;
    char h[65];
    digest_sha256_hex(m, n, h);
    if (memcmp(sig + 42, h, 64) != 0)
        return ERR_CRYPTO;
    char *a = malloc(43);
    memcpy(a, "0x", 2);
    memcpy(a + 2, sig + 2, 40);
    a[42] = '\0';
    *out = a;
    return ERR_OK;
}

static void fake_sign(const char *addr, const char *msg, char out[133])
{
    char h[65];
    digest_sha256_hex(msg, strlen(msg), h);
    snprintf(out, 133, "0x%.40s%s%026d", addr + 2, h, 0);
}

/* ---- loop thread ---- */

static void *loop_main(void *arg)
{
    struct fx *f = arg;
    event_base_loop(f->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

struct call {
    void (*fn)(struct fx *, void *);
    struct fx *f;
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
};

static void call_cb(evutil_socket_t fd, short w, void *arg)
{
    (void)fd;
    (void)w;
    struct call *c = arg;
    c->fn(c->f, c->arg);
    pthread_mutex_lock(&c->mu);
    c->done = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* Run fn on the loop thread and wait for it. */
static void in_loop(struct fx *f, void (*fn)(struct fx *, void *), void *arg)
{
    struct call c = {fn, f, arg, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    struct timeval tv = {0, 0};
    assert_int_equal(event_base_once(f->base, -1, EV_TIMEOUT, call_cb, &c, &tv), 0);
    pthread_mutex_lock(&c.mu);
    while (!c.done)
        pthread_cond_wait(&c.cv, &c.mu);
    pthread_mutex_unlock(&c.mu);
}

static struct gateway_config base_cfg(void)
{
    static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";
    struct gateway_config c = {
        .host = "127.0.0.1",
        .port = 0,
        .max_upload_bytes = 1 << 20,
        .max_json_bytes = 64 * 1024,
        .max_header_bytes = 8192,
        .request_timeout_s = 10,
        .rate_per_s = 10000,
        .rate_burst = 10000,
        .rate_max_keys = 1000,
        .auth_window_s = 300,
        .siwe_domain = "loom.test",
        .chain_id = 31337,
        .session_ttl_s = 3600,
        .session_key = key,
        .session_key_len = 32,
        .sse_max_queue_bytes = 64 * 1024,
        .sse_max_clients = 8,
    };
    return c;
}

static struct fx *fx_start(const struct gateway_config *cfg)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/loom-gw-test.XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->store_dir, sizeof(f->store_dir), "%s/store", f->root);
    f->base = event_base_new();
    assert_non_null(f->base);
    assert_int_equal(store_open(f->store_dir, &f->store), ERR_OK);
    assert_int_equal(memback_new(f->base, &f->mem), ERR_OK);
    struct gw_backend be;
    memback_backend(f->mem, &be);
    be.verify = fake_verify;
    struct buf msg;
    buf_init(&msg, 256);
    assert_int_equal(gateway_new(f->base, cfg, &be, f->store, &f->gw, &msg), ERR_OK);
    buf_release(&msg);
    f->port = gateway_port(f->gw);
    assert_true(f->port > 0);
    assert_int_equal(pthread_create(&f->thread, NULL, loop_main, f), 0);
    return f;
}

static void stop_fn(struct fx *f, void *arg)
{
    (void)arg;
    memback_free(f->mem);
    gateway_free(f->gw);
    event_base_loopbreak(f->base);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void fx_stop(struct fx *f)
{
    in_loop(f, stop_fn, NULL);
    pthread_join(f->thread, NULL);
    /* Let libevent run the deferred frees of the connections evhttp_free closed. */
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    store_free(f->store);
    event_base_free(f->base);
    nftw(f->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
}

static int setup(void **state)
{
    struct gateway_config c = base_cfg();
    *state = fx_start(&c);
    return 0;
}

static int teardown(void **state)
{
    fx_stop(*state);
    return 0;
}

/* ---- loop-side helpers ---- */

struct count_arg {
    size_t jobs, conns, sse, dropped;
};

static void counts_fn(struct fx *f, void *arg)
{
    struct count_arg *a = arg;
    a->jobs = memback_job_count(f->mem);
    struct buf m;
    buf_init(&m, 0);
    if (gateway_metrics(f->gw, &m) == ERR_OK) {
        /* Sample lines start a line; "# TYPE" lines name the metric too. */
        const char *p = strstr(m.data, "\nloom_gateway_connections ");
        a->conns = p ? strtoul(p + 26, NULL, 10) : 999;
        p = strstr(m.data, "\nloom_gateway_sse_clients ");
        a->sse = p ? strtoul(p + 26, NULL, 10) : 999;
        p = strstr(m.data, "\nloom_gateway_sse_dropped_total ");
        a->dropped = p ? strtoul(p + 32, NULL, 10) : 999;
    }
    buf_release(&m);
}

static struct count_arg counts(struct fx *f)
{
    struct count_arg a = {0};
    in_loop(f, counts_fn, &a);
    return a;
}

static void assign_fn(struct fx *f, void *arg)
{
    assert_int_equal(memback_assign(f->mem, *(int64_t *)arg, WORKER), ERR_OK);
}

static void fail_fn(struct fx *f, void *arg)
{
    (void)arg;
    memback_fail_next(f->mem, ERR_UNAVAILABLE, 1);
}

struct bc_arg {
    const char *event;
    const char *data;
};

static void broadcast_fn(struct fx *f, void *arg)
{
    struct bc_arg *a = arg;
    assert_int_equal(gateway_broadcast(f->gw, a->event, a->data), ERR_OK);
}

static size_t count_files(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char sub[512];
        snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
        if (e->d_type == DT_DIR)
            n += count_files(sub);
        else
            n++;
    }
    closedir(d);
    return n;
}

static size_t store_count(struct fx *f, const char *sub)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", f->store_dir, sub);
    return count_files(p);
}

/* ---- HTTP through libcurl ---- */

struct resp {
    long status;
    struct buf body;
    struct buf headers;
    cJSON *json;
};

static size_t write_cb(char *p, size_t sz, size_t n, void *arg)
{
    return buf_append(arg, p, sz * n) == ERR_OK ? sz * n : 0;
}

struct reader {
    const char *p;
    size_t len, off;
    unsigned seed;
};

/* Hand the body to curl in random pieces of 1..4096 bytes. */
static size_t read_cb(char *out, size_t sz, size_t n, void *arg)
{
    struct reader *r = arg;
    size_t want = (size_t)(rand_r(&r->seed) % 4096) + 1;
    if (want > sz * n)
        want = sz * n;
    if (want > r->len - r->off)
        want = r->len - r->off;
    memcpy(out, r->p + r->off, want);
    r->off += want;
    return want;
}

static void resp_free(struct resp *r)
{
    buf_release(&r->body);
    buf_release(&r->headers);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof(*r));
}

/* extra: NULL-terminated header lines. chunked: send with Transfer-Encoding. */
static void http(struct fx *f, const char *method, const char *target, const char *const *extra,
                 const void *body, size_t len, int chunked, struct resp *r)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->body, 0);
    buf_init(&r->headers, 0);
    char url[2048];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port, target);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    for (size_t i = 0; extra && extra[i]; i++)
        h = curl_slist_append(h, extra[i]);
    struct reader rd = {body, len, 0, 12345};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL && chunked) {
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(c, CURLOPT_READDATA, &rd);
    } else if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    CURLcode rc = curl_easy_perform(c);
    assert_int_equal(rc, CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    r->json = cJSON_ParseWithLength(r->body.data ? r->body.data : "", r->body.len);
}

static void get(struct fx *f, const char *target, struct resp *r)
{
    http(f, "GET", target, NULL, NULL, 0, 0, r);
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* Assert the error shape, status and code. */
static void assert_error(const struct resp *r, long status, const char *code)
{
    if (r->status != status)
        fprintf(stderr, "unexpected %ld: %s\n", r->status, buf_cstr(&r->body));
    assert_int_equal(r->status, status);
    assert_non_null(r->json);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(r->json, "error");
    assert_non_null(e);
    assert_string_equal(jstr(e, "code"), code);
    assert_non_null(jstr(e, "message"));
    assert_true(strlen(jstr(e, "message")) > 0);
}

static const char *err_msg(const struct resp *r)
{
    return jstr(cJSON_GetObjectItemCaseSensitive(r->json, "error"), "message");
}

static const char *header(const struct resp *r, const char *name, char *out, size_t n)
{
    const char *p = r->headers.data;
    size_t nl = strlen(name);
    while (p && *p) {
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            p += nl + 1;
            while (*p == ' ')
                p++;
            size_t k = strcspn(p, "\r\n");
            snprintf(out, n, "%.*s", (int)k, p);
            return out;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NULL;
}

static unsigned nonce_counter;

struct sign_opts {
    const char *signer;      /* key that signs */
    const char *claimed;     /* X-Loom-Address (default: signer) */
    const char *nonce;       /* default: fresh */
    long long ts;            /* default: now */
    const char *signed_body; /* body the signature covers (default: the body) */
    size_t signed_len;
};

static void signed_http(struct fx *f, const char *method, const char *target,
                        const char *content_type, const void *body, size_t len, int chunked,
                        const struct sign_opts *o, struct resp *r)
{
    char nonce[64], ts[32], sha[65], sig[133];
    if (o->nonce)
        snprintf(nonce, sizeof(nonce), "%s", o->nonce);
    else
        snprintf(nonce, sizeof(nonce), "nonce-%08u", ++nonce_counter);
    snprintf(ts, sizeof(ts), "%lld", o->ts ? o->ts : (long long)time(NULL));
    if (o->signed_body)
        digest_sha256_hex(o->signed_body, o->signed_len, sha);
    else
        digest_sha256_hex(body ? body : "", body ? len : 0, sha);
    char msg[4096];
    snprintf(msg, sizeof(msg), "loom-request-v1\n%s\n%s\n%s\n%s\n%s", method, target, sha, ts,
             nonce);
    fake_sign(o->signer, msg, sig);
    char hdr_addr[80], h_ts[64], h_nonce[96], h_sig[160], h_ct[256];
    snprintf(hdr_addr, sizeof(hdr_addr), "X-Loom-Address: %s", o->claimed ? o->claimed : o->signer);
    snprintf(h_ts, sizeof(h_ts), "X-Loom-Timestamp: %s", ts);
    snprintf(h_nonce, sizeof(h_nonce), "X-Loom-Nonce: %s", nonce);
    snprintf(h_sig, sizeof(h_sig), "X-Loom-Signature: %s", sig);
    snprintf(h_ct, sizeof(h_ct), "Content-Type: %s",
             content_type ? content_type : "application/json");
    const char *hdrs[] = {hdr_addr, h_ts, h_nonce, h_sig, h_ct, NULL};
    http(f, method, target, hdrs, body ? body : "", body ? len : 0, chunked, r);
}

static void create_json(struct fx *f, const char *json, const char *signer, struct resp *r)
{
    struct sign_opts o = {.signer = signer};
    signed_http(f, "POST", "/api/jobs", "application/json", json, strlen(json), 0, &o, r);
}

/* ---- raw sockets ---- */

static int tcp_connect(struct fx *f, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    const char *q = p;
    while (n > 0) {
        ssize_t k = send(fd, q, n, MSG_NOSIGNAL);
        assert_true(k > 0);
        q += k;
        n -= (size_t)k;
    }
}

/* Read into <b> until <needle> appears (1), EOF (0) or 10 s pass (-1). */
static int recv_until(int fd, struct buf *b, const char *needle)
{
    for (int waited = 0; waited < 10000;) {
        if (needle && b->data && strstr(b->data, needle))
            return 1;
        struct pollfd p = {fd, POLLIN, 0};
        int rc = poll(&p, 1, 100);
        if (rc == 0) {
            waited += 100;
            continue;
        }
        char tmp[65536];
        ssize_t k = recv(fd, tmp, sizeof(tmp), 0);
        if (k <= 0)
            return needle && b->data && strstr(b->data, needle) ? 1 : 0;
        assert_int_equal(buf_append(b, tmp, (size_t)k), ERR_OK);
    }
    return -1;
}

/* ---- tests ---- */

static void test_health_metrics_openapi(void **state)
{
    struct fx *f = *state;
    struct resp r;
    get(f, "/health", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "status"), "ok");
    resp_free(&r);
    get(f, "/api/jobs", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    get(f, "/api/jobs/99", &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    get(f, "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(
        strstr(r.body.data, "loom_gateway_requests_total{route=\"listJobs\",status=\"200\"} 1\n"));
    assert_non_null(
        strstr(r.body.data, "loom_gateway_requests_total{route=\"getJob\",status=\"404\"} 1\n"));
    assert_non_null(
        strstr(r.body.data, "loom_gateway_request_duration_seconds_count{route=\"listJobs\"} 1\n"));
    assert_non_null(strstr(r.body.data, "loom_gateway_connections 1\n"));
    resp_free(&r);
    get(f, "/api/openapi.json", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, openapi_document());
    /* Every route documented with its operationId... */
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive(r.json, "paths");
    assert_non_null(paths);
    for (size_t i = 0; i < ROUTE__COUNT; i++) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(paths, routes_table[i].pattern);
        assert_non_null(p);
        char m[8];
        size_t k = 0;
        for (; routes_table[i].method[k] && k < 7; k++)
            m[k] = (char)(routes_table[i].method[k] + ('a' - 'A'));
        m[k] = '\0';
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(p, m);
        assert_non_null(op);
        assert_string_equal(jstr(op, "operationId"), routes_table[i].name);
    }
    /* ...and every documented path and method routed. */
    size_t documented = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, paths)
    {
        const cJSON *op;
        cJSON_ArrayForEach(op, p)
        {
            int found = 0;
            for (size_t i = 0; i < ROUTE__COUNT; i++)
                if (strcmp(routes_table[i].pattern, p->string) == 0 &&
                    strcasecmp(routes_table[i].method, op->string) == 0)
                    found = 1;
            if (!found)
                fprintf(stderr, "documented but not routed: %s %s\n", op->string, p->string);
            assert_true(found);
            documented++;
        }
    }
    assert_int_equal(documented, ROUTE__COUNT);
    resp_free(&r);
}

static void test_routing_errors(void **state)
{
    struct fx *f = *state;
    struct resp r;
    get(f, "/nope", &r);
    assert_error(&r, 404, "not_found");
    resp_free(&r);
    http(f, "DELETE", "/api/jobs/1", NULL, NULL, 0, 0, &r);
    assert_error(&r, 405, "method_not_allowed");
    resp_free(&r);
    get(f, "/api/jobs/abc", &r);
    assert_error(&r, 400, "invalid");
    resp_free(&r);
    get(f, "/api/jobs/99", &r);
    assert_error(&r, 404, "not_found");
    resp_free(&r);
    get(f, "/api/projects/99", &r);
    assert_error(&r, 404, "not_found");
    resp_free(&r);
    get(f, "/api/jobs/1/files/..%2F..%2Fetc%2Fpasswd", &r);
    assert_error(&r, 400, "invalid");
    assert_string_equal(err_msg(&r), "invalid file name");
    resp_free(&r);
    const char *bad_filters[] = {"/api/jobs?status=DONE", "/api/jobs?type=CPU",
                                 "/api/jobs?client=0x12", "/api/jobs?worker=nope",
                                 "/api/jobs?limit=0",     "/api/jobs?limit=101",
                                 "/api/jobs?cursor=-4"};
    for (size_t i = 0; i < sizeof(bad_filters) / sizeof(bad_filters[0]); i++) {
        get(f, bad_filters[i], &r);
        assert_error(&r, 400, "invalid");
        resp_free(&r);
    }
    get(f, "/api/quote", &r);
    assert_error(&r, 400, "invalid");
    resp_free(&r);
    get(f, "/api/quote?usd_cents=0", &r);
    assert_error(&r, 400, "invalid");
    resp_free(&r);
}

static void test_create_get_list(void **state)
{
    struct fx *f = *state;
    struct resp r;
    create_json(f,
                "{\"title\":\"train mnist\",\"type\":\"IA\",\"price_usd_cents\":1500,"
                "\"description\":\"d\",\"cloud_link\":\"https://x\"}",
                CLIENT, &r);
    assert_int_equal(r.status, 201);
    assert_int_equal(jnum(r.json, "id"), 1);
    assert_string_equal(jstr(r.json, "status"), "PENDING");
    assert_string_equal(jstr(r.json, "client"), CLIENT);
    assert_int_equal(jnum(r.json, "price_usd_cents"), 1500);
    resp_free(&r);
    create_json(f, "{\"title\":\"render\",\"type\":\"GRAFICA\",\"price_usd_cents\":700}", OTHER,
                &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    /* The seed's path reaches the same handler. */
    struct sign_opts o = {.signer = CLIENT};
    const char *j3 = "{\"title\":\"third\",\"type\":\"IA\",\"price_usd_cents\":1}";
    signed_http(f, "POST", "/api/projects", "application/json", j3, strlen(j3), 0, &o, &r);
    assert_int_equal(r.status, 201);
    assert_int_equal(jnum(r.json, "id"), 3);
    resp_free(&r);
    get(f, "/api/projects/1", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "title"), "train mnist");
    assert_string_equal(jstr(r.json, "cloud_link"), "https://x");
    resp_free(&r);
    get(f, "/api/jobs?limit=2", &r);
    assert_int_equal(r.status, 200);
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(r.json, "jobs");
    assert_int_equal(cJSON_GetArraySize(jobs), 2);
    assert_int_equal(jnum(cJSON_GetArrayItem(jobs, 0), "id"), 3);
    assert_int_equal(jnum(cJSON_GetArrayItem(jobs, 1), "id"), 2);
    assert_string_equal(jstr(r.json, "next_cursor"), "2");
    resp_free(&r);
    get(f, "/api/jobs?limit=2&cursor=2", &r);
    jobs = cJSON_GetObjectItemCaseSensitive(r.json, "jobs");
    assert_int_equal(cJSON_GetArraySize(jobs), 1);
    assert_int_equal(jnum(cJSON_GetArrayItem(jobs, 0), "id"), 1);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r.json, "next_cursor")));
    resp_free(&r);
    get(f, "/api/jobs?type=IA&client=" CLIENT "&status=PENDING", &r);
    jobs = cJSON_GetObjectItemCaseSensitive(r.json, "jobs");
    assert_int_equal(cJSON_GetArraySize(jobs), 2);
    resp_free(&r);
    get(f, "/api/jobs?worker=" WORKER, &r);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "jobs")), 0);
    resp_free(&r);
}

static void test_create_errors(void **state)
{
    struct fx *f = *state;
    struct resp r;
    struct {
        const char *json, *needle;
    } cases[] = {
        {"{\"title\":", "malformed JSON"},
        {"[1,2]", "malformed JSON"},
        {"{\"title\":\"t\",\"type\":\"CPU\",\"price_usd_cents\":5}", "unknown type"},
        {"{\"title\":\"t\",\"type\":\"IA\",\"price_usd_cents\":0}", "non-positive price"},
        {"{\"title\":\"t\",\"type\":\"IA\",\"price_usd_cents\":-3}", "non-positive price"},
        {"{\"title\":\"t\",\"type\":\"IA\",\"price_usd_cents\":1.5}", "price_usd_cents"},
        {"{\"title\":\"t\",\"type\":\"IA\"}", "price_usd_cents"},
        {"{\"type\":\"IA\",\"price_usd_cents\":5}", "title"},
        {"{\"title\":5,\"type\":\"IA\",\"price_usd_cents\":5}", "title"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        create_json(f, cases[i].json, CLIENT, &r);
        assert_error(&r, 400, "invalid");
        assert_non_null(strstr(err_msg(&r), cases[i].needle));
        resp_free(&r);
    }
    assert_int_equal(counts(f).jobs, 0);
    /* JSON over max_json_bytes (64 KiB here). */
    size_t n = 70000;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[n] = '\0';
    create_json(f, big, CLIENT, &r);
    assert_error(&r, 413, "too_large");
    resp_free(&r);
    free(big);
}

static void test_auth_errors(void **state)
{
    struct fx *f = *state;
    struct resp r;
    const char *j = "{\"title\":\"t\",\"type\":\"IA\",\"price_usd_cents\":5}";
    const char *ct[] = {"Content-Type: application/json", NULL};
    http(f, "POST", "/api/jobs", ct, j, strlen(j), 0, &r);
    assert_error(&r, 401, "unauthorized");
    resp_free(&r);
    struct sign_opts o = {.signer = CLIENT, .claimed = "0x1234"};
    signed_http(f, "POST", "/api/jobs", NULL, j, strlen(j), 0, &o, &r);
    assert_error(&r, 400, "invalid"); /* bad address */
    resp_free(&r);
    o = (struct sign_opts){.signer = CLIENT, .ts = (long long)time(NULL) - 3600};
    signed_http(f, "POST", "/api/jobs", NULL, j, strlen(j), 0, &o, &r);
    assert_error(&r, 401, "unauthorized");
    assert_non_null(strstr(err_msg(&r), "stale timestamp"));
    resp_free(&r);
    o = (struct sign_opts){.signer = OTHER, .claimed = CLIENT};
    signed_http(f, "POST", "/api/jobs", NULL, j, strlen(j), 0, &o, &r);
    assert_error(&r, 401, "unauthorized");
    assert_non_null(strstr(err_msg(&r), "wrong signer"));
    resp_free(&r);
    const char *other_body = "{\"title\":\"other\"}";
    o = (struct sign_opts){
        .signer = CLIENT, .signed_body = other_body, .signed_len = strlen(other_body)};
    signed_http(f, "POST", "/api/jobs", NULL, j, strlen(j), 0, &o, &r);
    assert_error(&r, 401, "unauthorized");
    assert_string_equal(err_msg(&r), "bad signature");
    resp_free(&r);
    o = (struct sign_opts){.signer = CLIENT, .nonce = "bad nonce!"};
    signed_http(f, "POST", "/api/jobs", NULL, j, strlen(j), 0, &o, &r);
    assert_error(&r, 400, "invalid");
    resp_free(&r);
    o = (struct sign_opts){.signer = CLIENT, .nonce = "replayed-nonce-1"};
    signed_http(f, "POST", "/api/jobs", NULL, j, strlen(j), 0, &o, &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    signed_http(f, "POST", "/api/jobs", NULL, j, strlen(j), 0, &o, &r);
    assert_error(&r, 401, "unauthorized");
    assert_non_null(strstr(err_msg(&r), "replay"));
    resp_free(&r);
    assert_int_equal(counts(f).jobs, 1);
}

/* Build a multipart body: fields, job.json and files. */
static void mp_add_field(struct buf *b, const char *name, const char *value)
{
    assert_int_equal(
        buf_appendf(b, "--BoUnDaRy7\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n",
                    name, value),
        ERR_OK);
}

static void mp_add_file(struct buf *b, const char *field, const char *filename, const void *data,
                        size_t n)
{
    assert_int_equal(
        buf_appendf(b,
                    "--BoUnDaRy7\r\nContent-Disposition: form-data; name=\"%s\"; "
                    "filename=\"%s\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                    field, filename),
        ERR_OK);
    assert_int_equal(buf_append(b, data, n), ERR_OK);
    assert_int_equal(buf_append_str(b, "\r\n"), ERR_OK);
}

#define MP_CT "multipart/form-data; boundary=BoUnDaRy7"

static void test_multipart_upload_and_download(void **state)
{
    struct fx *f = *state;
    struct resp r;
    size_t n1 = 300000, n2 = 5000;
    unsigned char *d1 = malloc(n1), *d2 = malloc(n2);
    unsigned seed = 7;
    for (size_t i = 0; i < n1; i++)
        d1[i] = (unsigned char)rand_r(&seed);
    /* A file that contains boundary-like bytes. */
    for (size_t i = 0; i < n2; i++)
        d2[i] = "\r\n--BoUnDaRy"[i % 12];
    const char *spec = "{\"kind\":\"train\",\"trainer\":\"softmax\"}";
    struct buf b;
    buf_init(&b, 0);
    mp_add_field(&b, "title", "upload job");
    mp_add_field(&b, "type", "GRAFICA");
    mp_add_field(&b, "price_usd_cents", "2500");
    mp_add_file(&b, "job.json", "job.json", spec, strlen(spec));
    mp_add_file(&b, "input", "data.bin", d1, n1);
    mp_add_file(&b, "input", "tricky name.txt", d2, n2);
    assert_int_equal(buf_append_str(&b, "--BoUnDaRy7--\r\n"), ERR_OK);
    struct sign_opts o = {.signer = CLIENT};
    signed_http(f, "POST", "/api/jobs", MP_CT, b.data, b.len, 1, &o, &r);
    if (r.status != 201)
        fprintf(stderr, "%s\n", buf_cstr(&r.body));
    assert_int_equal(r.status, 201);
    char h1[65], h2[65], hs[65];
    digest_sha256_hex(d1, n1, h1);
    digest_sha256_hex(d2, n2, h2);
    digest_sha256_hex(spec, strlen(spec), hs);
    assert_string_equal(jstr(r.json, "spec_sha256"), hs);
    assert_string_equal(jstr(r.json, "type"), "GRAFICA");
    /* The memory backend knows no escrow terms: the chain members are null. */
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r.json, "chain_job_id")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r.json, "escrow_wei")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r.json, "deadline_at")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r.json, "max_runtime_s")));
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(r.json, "files");
    assert_int_equal(cJSON_GetArraySize(files), 3);
    assert_string_equal(jstr(cJSON_GetArrayItem(files, 1), "name"), "data.bin");
    assert_string_equal(jstr(cJSON_GetArrayItem(files, 1), "sha256"), h1);
    assert_int_equal(jnum(cJSON_GetArrayItem(files, 1), "size_bytes"), n1);
    assert_string_equal(jstr(cJSON_GetArrayItem(files, 2), "sha256"), h2);
    resp_free(&r);
    assert_int_equal(store_count(f, "objects"), 3);
    assert_int_equal(store_count(f, "tmp"), 0);
    get(f, "/api/jobs/1/files/data.bin", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, n1);
    assert_memory_equal(r.body.data, d1, n1);
    char hv[128];
    assert_string_equal(header(&r, "X-Loom-SHA256", hv, sizeof(hv)), h1);
    assert_string_equal(header(&r, "Content-Length", hv, sizeof(hv)), "300000");
    resp_free(&r);
    get(f, "/api/jobs/1/files/tricky%20name.txt", &r);
    assert_int_equal(r.status, 200);
    assert_memory_equal(r.body.data, d2, n2);
    resp_free(&r);
    get(f, "/api/jobs/1/files/missing.bin", &r);
    assert_error(&r, 404, "not_found");
    resp_free(&r);
    get(f, "/api/jobs/1/result", &r);
    assert_error(&r, 404, "not_found");
    resp_free(&r);
    buf_release(&b);
    free(d1);
    free(d2);
}

static void test_upload_errors_leave_nothing(void **state)
{
    struct fx *f = *state;
    struct resp r;
    struct sign_opts o = {.signer = CLIENT};
    const char *names[] = {"../evil", "a/b", "..", "..\\\\x"};
    for (size_t i = 0; i < 4; i++) {
        struct buf b;
        buf_init(&b, 0);
        mp_add_field(&b, "title", "t");
        mp_add_field(&b, "type", "IA");
        mp_add_field(&b, "price_usd_cents", "5");
        mp_add_file(&b, "input", "ok.bin", "abc", 3);
        mp_add_file(&b, "input", names[i], "abc", 3);
        assert_int_equal(buf_append_str(&b, "--BoUnDaRy7--\r\n"), ERR_OK);
        signed_http(f, "POST", "/api/jobs", MP_CT, b.data, b.len, 0, &o, &r);
        assert_error(&r, 400, "invalid");
        assert_non_null(strstr(err_msg(&r), "invalid file name"));
        resp_free(&r);
        buf_release(&b);
    }
    /* A good upload whose fields are bad: nothing is committed. */
    struct buf b;
    buf_init(&b, 0);
    mp_add_field(&b, "title", "t");
    mp_add_field(&b, "type", "IA");
    mp_add_field(&b, "price_usd_cents", "0");
    mp_add_file(&b, "input", "ok.bin", "abc", 3);
    assert_int_equal(buf_append_str(&b, "--BoUnDaRy7--\r\n"), ERR_OK);
    signed_http(f, "POST", "/api/jobs", MP_CT, b.data, b.len, 0, &o, &r);
    assert_error(&r, 400, "invalid");
    resp_free(&r);
    buf_reset(&b);
    /* job.json that is not JSON. */
    mp_add_field(&b, "title", "t");
    mp_add_field(&b, "type", "IA");
    mp_add_field(&b, "price_usd_cents", "9");
    mp_add_file(&b, "job.json", "job.json", "not json", 8);
    assert_int_equal(buf_append_str(&b, "--BoUnDaRy7--\r\n"), ERR_OK);
    signed_http(f, "POST", "/api/jobs", MP_CT, b.data, b.len, 0, &o, &r);
    assert_error(&r, 400, "invalid");
    assert_string_equal(err_msg(&r), "job.json is not a JSON object");
    resp_free(&r);
    buf_reset(&b);
    /* Missing closing boundary. */
    mp_add_field(&b, "title", "t");
    signed_http(f, "POST", "/api/jobs", MP_CT, b.data, b.len, 0, &o, &r);
    assert_error(&r, 400, "invalid");
    assert_non_null(strstr(err_msg(&r), "closing boundary"));
    resp_free(&r);
    buf_release(&b);
    /* Over max_upload_bytes (1 MiB here), sent chunked: read and refused. */
    size_t n = (1 << 20) + 1000;
    char *big = malloc(n);
    memset(big, 'z', n);
    signed_http(f, "POST", "/api/jobs", MP_CT, big, n, 1, &o, &r);
    assert_error(&r, 413, "too_large");
    resp_free(&r);
    free(big);
    assert_int_equal(store_count(f, "objects"), 0);
    assert_int_equal(store_count(f, "tmp"), 0);
    assert_int_equal(counts(f).jobs, 0);
}

/* ---- concurrent signed POSTs (libcurl on plain threads: no cmocka
 * asserts off the main thread; the main thread checks the outcomes) ---- */

struct par_req {
    char url[128];
    struct curl_slist *headers;
    struct buf body;
    long status;
    struct buf reply;
    CURLcode rc;
};

/* Sign a POST /api/jobs of multipart <body> (taken over) by <signer>. */
static void par_prepare(struct fx *f, struct par_req *q, const char *signer, struct buf *body)
{
    memset(q, 0, sizeof(*q));
    snprintf(q->url, sizeof(q->url), "http://127.0.0.1:%d/api/jobs", f->port);
    q->body = *body;
    buf_init(&q->reply, 0);
    char nonce[64], ts[32], sha[65], sig[133], msg[512], h[200];
    snprintf(nonce, sizeof(nonce), "nonce-%08u", ++nonce_counter);
    snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
    digest_sha256_hex(q->body.data, q->body.len, sha);
    snprintf(msg, sizeof(msg), "loom-request-v1\nPOST\n/api/jobs\n%s\n%s\n%s", sha, ts, nonce);
    fake_sign(signer, msg, sig);
    snprintf(h, sizeof(h), "X-Loom-Address: %s", signer);
    q->headers = curl_slist_append(q->headers, h);
    snprintf(h, sizeof(h), "X-Loom-Timestamp: %s", ts);
    q->headers = curl_slist_append(q->headers, h);
    snprintf(h, sizeof(h), "X-Loom-Nonce: %s", nonce);
    q->headers = curl_slist_append(q->headers, h);
    snprintf(h, sizeof(h), "X-Loom-Signature: %s", sig);
    q->headers = curl_slist_append(q->headers, h);
    q->headers = curl_slist_append(q->headers, "Content-Type: " MP_CT);
    q->headers = curl_slist_append(q->headers, "Expect:");
}

static void *par_main(void *arg)
{
    struct par_req *q = arg;
    CURL *c = curl_easy_init();
    if (c == NULL) {
        q->rc = CURLE_FAILED_INIT;
        return NULL;
    }
    curl_easy_setopt(c, CURLOPT_URL, q->url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body.data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body.len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, q->headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &q->reply);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    q->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &q->status);
    curl_easy_cleanup(c);
    return NULL;
}

/* Send every request of <q>[0..n) at once and wait for all. */
static void par_run(struct par_req *q, size_t n)
{
    pthread_t *th = calloc(n, sizeof(*th));
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pthread_create(&th[i], NULL, par_main, &q[i]), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    free(th);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(q[i].rc, CURLE_OK);
}

static void par_free(struct par_req *q)
{
    curl_slist_free_all(q->headers);
    buf_release(&q->body);
    buf_release(&q->reply);
}

/* The value of sample line <name> in the gateway's /metrics, or -1. */
struct metric_arg {
    const char *name;
    double value;
};

static void metric_fn(struct fx *f, void *arg)
{
    struct metric_arg *a = arg;
    struct buf m;
    buf_init(&m, 0);
    a->value = -1;
    if (gateway_metrics(f->gw, &m) == ERR_OK) {
        char line[128];
        snprintf(line, sizeof(line), "\n%s ", a->name);
        const char *p = strstr(m.data, line);
        if (p != NULL)
            a->value = strtod(p + strlen(line), NULL);
    }
    buf_release(&m);
}

static double metric(struct fx *f, const char *name)
{
    struct metric_arg a = {name, -1};
    in_loop(f, metric_fn, &a);
    return a.value;
}

/* A job with job.json <spec> and one input file <input>. */
static void job_form(struct buf *b, const char *spec, const char *input)
{
    buf_init(b, 0);
    mp_add_field(b, "title", "par");
    mp_add_field(b, "type", "IA");
    mp_add_field(b, "price_usd_cents", "100");
    mp_add_file(b, "job.json", "job.json", spec, strlen(spec));
    mp_add_file(b, "input", "in.txt", input, strlen(input));
    assert_int_equal(buf_append_str(b, "--BoUnDaRy7--\r\n"), ERR_OK);
}

/* POST one job_form() job signed by CLIENT; returns the HTTP status. */
static long post_one(struct fx *f, const char *spec, const char *input)
{
    struct par_req q;
    struct buf b;
    job_form(&b, spec, input);
    par_prepare(f, &q, CLIENT, &b);
    par_run(&q, 1);
    long status = q.status;
    par_free(&q);
    return status;
}

/* A spec stored already commits on the loop; many uploads at once, stored
 * and new, each get their 201 with every file durable and named. */
static void test_commit_inline_and_concurrent(void **state)
{
    struct fx *f = *state;
    const char *spec = "{\"kernel\":\"same\"}";
    struct par_req q[12];
    struct buf b;
    assert_int_equal(post_one(f, spec, "first input"), 201);
    assert_int_equal(metric(f, "loom_gateway_upload_commits_synced_total"), 2);
    assert_int_equal(metric(f, "loom_gateway_upload_commits_inline_total"), 0);
    /* Again with the same spec and input: both commit on the spot. */
    assert_int_equal(post_one(f, spec, "first input"), 201);
    assert_int_equal(metric(f, "loom_gateway_upload_commits_synced_total"), 2);
    assert_int_equal(metric(f, "loom_gateway_upload_commits_inline_total"), 2);
    /* Twelve at once: the stored spec, and a new input each (the last six
     * share one new input among them). */
    for (size_t i = 0; i < 12; i++) {
        char input[64];
        if (i < 6)
            snprintf(input, sizeof(input), "input number %zu", i);
        else
            snprintf(input, sizeof(input), "a shared new input");
        job_form(&b, spec, input);
        par_prepare(f, &q[i], i % 2 ? CLIENT : OTHER, &b);
    }
    par_run(q, 12);
    for (size_t i = 0; i < 12; i++) {
        if (q[i].status != 201)
            fprintf(stderr, "request %zu: %ld %s\n", i, q[i].status, buf_cstr(&q[i].reply));
        assert_int_equal(q[i].status, 201);
        par_free(&q[i]);
    }
    assert_int_equal(counts(f).jobs, 14);
    /* spec, first input, six inputs, the shared one */
    assert_int_equal(store_count(f, "objects"), 9);
    assert_int_equal(store_count(f, "tmp"), 0);
    /* 12 specs inline; the shared input: 1 to 6 commits through the pool. */
    double inl = metric(f, "loom_gateway_upload_commits_inline_total");
    double syn = metric(f, "loom_gateway_upload_commits_synced_total");
    assert_int_equal(inl + syn, 2 + 2 + 24);
    assert_true(syn >= 2 + 7 && syn <= 2 + 12);
    struct resp r;
    get(f, "/api/jobs/14/files/in.txt", &r);
    assert_int_equal(r.status, 200);
    assert_true(r.body.len == strlen("a shared new input") ||
                r.body.len == strlen("input number 0"));
    resp_free(&r);
}

/* A commit that fails (a file whose fan folder cannot hold it) fails its
 * request with 500 and takes back the files that request created, also
 * while other requests commit beside it. */
static void test_commit_failure_cleans_up(void **state)
{
    struct fx *f = *state;
    /* sha256("abc") starts "ba": objects/ba is a file, not a folder. */
    char fan[256];
    snprintf(fan, sizeof(fan), "%s/objects/ba", f->store_dir);
    FILE *fp = fopen(fan, "w");
    assert_non_null(fp);
    fclose(fp);
    struct par_req q[8];
    struct buf b;
    for (size_t i = 0; i < 8; i++) {
        char spec[64], input[64];
        snprintf(spec, sizeof(spec), "{\"kernel\":\"k%zu\"}", i);
        snprintf(input, sizeof(input), "%s", i % 2 ? "abc" : "fine input");
        job_form(&b, spec, input);
        par_prepare(f, &q[i], CLIENT, &b);
    }
    par_run(q, 8);
    for (size_t i = 0; i < 8; i++) {
        if (i % 2) {
            assert_int_equal(q[i].status, 500);
            assert_non_null(strstr(buf_cstr(&q[i].reply), "cannot store file \\\"in.txt\\\""));
        } else {
            assert_int_equal(q[i].status, 201);
        }
        par_free(&q[i]);
    }
    assert_int_equal(counts(f).jobs, 4);
    /* The four good jobs' specs and their shared input, and the file "ba";
     * the failed requests' new specs were taken back. */
    assert_int_equal(store_count(f, "objects"), 4 + 1 + 1);
    assert_int_equal(store_count(f, "tmp"), 0);
    for (size_t i = 1; i < 8; i += 2) {
        char spec[64], hex[65], path[512];
        snprintf(spec, sizeof(spec), "{\"kernel\":\"k%zu\"}", i);
        digest_sha256_hex(spec, strlen(spec), hex);
        snprintf(path, sizeof(path), "%s/objects/%.2s/%s", f->store_dir, hex, hex);
        assert_int_equal(access(path, F_OK), -1);
    }
    assert_int_equal(unlink(fan), 0);
}

static void test_oversize_declared_413(void **state)
{
    struct fx *f = *state;
    int fd = tcp_connect(f, 0);
    const char *head = "POST /api/jobs HTTP/1.1\r\nHost: x\r\n"
                       "Content-Type: " MP_CT "\r\nContent-Length: 200000000\r\n\r\n";
    send_all(fd, head, strlen(head));
    struct buf b;
    buf_init(&b, 0);
    /* The answer comes before the body is sent. */
    assert_int_equal(recv_until(fd, &b, "\"code\":\"too_large\""), 1);
    close(fd);
    assert_non_null(strstr(b.data, "HTTP/1.1 413"));
    buf_release(&b);
    assert_int_equal(store_count(f, "tmp"), 0);
}

static void test_cut_off_upload(void **state)
{
    struct fx *f = *state;
    struct buf body;
    buf_init(&body, 0);
    mp_add_field(&body, "title", "t");
    mp_add_field(&body, "type", "IA");
    mp_add_field(&body, "price_usd_cents", "5");
    /* Over the store's 64 KiB in memory: each part gets a temporary file. */
    static char chunk[100000];
    memset(chunk, 'q', sizeof(chunk));
    mp_add_file(&body, "input", "first.bin", chunk, sizeof(chunk)); /* a finished part */
    mp_add_file(&body, "input", "second.bin", chunk, sizeof(chunk));
    assert_int_equal(buf_append_str(&body, "--BoUnDaRy7--\r\n"), ERR_OK);
    int fd = tcp_connect(f, 0);
    char head[512];
    snprintf(head, sizeof(head),
             "POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: " MP_CT "\r\n"
             "Content-Length: %zu\r\n\r\n",
             body.len);
    send_all(fd, head, strlen(head));
    send_all(fd, body.data, body.len - 30000); /* stop inside the second file */
    /* Let the server take in what was sent: its temporary files exist. */
    for (int i = 0; i < 200 && store_count(f, "tmp") < 2; i++)
        usleep(10000);
    assert_int_equal(store_count(f, "tmp"), 2);
    close(fd);
    for (int i = 0; i < 500 && (counts(f).conns != 0 || store_count(f, "tmp") != 0); i++)
        usleep(10000);
    assert_int_equal(counts(f).conns, 0);
    assert_int_equal(store_count(f, "tmp"), 0);
    assert_int_equal(store_count(f, "objects"), 0);
    assert_int_equal(counts(f).jobs, 0);
    buf_release(&body);
}

static void test_worker_flow(void **state)
{
    struct fx *f = *state;
    struct resp r;
    create_json(f, "{\"title\":\"t\",\"type\":\"IA\",\"price_usd_cents\":5}", CLIENT, &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    /* Files may be added by the client while PENDING: raw body with ?name=. */
    struct sign_opts oc = {.signer = CLIENT};
    signed_http(f, "POST", "/api/jobs/1/files?name=extra.csv", "text/csv", "a,b\n1,2\n", 8, 0, &oc,
                &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(
        jstr(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r.json, "files"), 0), "name"),
        "extra.csv");
    resp_free(&r);
    signed_http(f, "POST", "/api/jobs/1/files?name=..%2Fx", "text/csv", "a", 1, 0, &oc, &r);
    assert_error(&r, 400, "invalid");
    resp_free(&r);
    struct sign_opts oo = {.signer = OTHER};
    signed_http(f, "POST", "/api/jobs/1/files?name=y.csv", "text/csv", "a", 1, 0, &oo, &r);
    assert_error(&r, 403, "forbidden");
    resp_free(&r);
    int64_t id = 1;
    in_loop(f, assign_fn, &id);
    struct sign_opts ow = {.signer = WORKER};
    const char *p50 = "{\"progress\":50}";
    signed_http(f, "PUT", "/api/jobs/1/progress", NULL, p50, strlen(p50), 0, &ow, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(jnum(r.json, "progress"), 50);
    assert_string_equal(jstr(r.json, "worker"), WORKER);
    resp_free(&r);
    signed_http(f, "PUT", "/api/jobs/1/progress", NULL, p50, strlen(p50), 0, &oo, &r);
    assert_error(&r, 403, "forbidden");
    assert_string_equal(err_msg(&r), "not the worker assigned to this job");
    resp_free(&r);
    const char *p101 = "{\"progress\":101}";
    signed_http(f, "PUT", "/api/jobs/1/progress", NULL, p101, strlen(p101), 0, &ow, &r);
    assert_error(&r, 400, "invalid");
    resp_free(&r);
    signed_http(f, "PUT", "/api/jobs/2/progress", NULL, p50, strlen(p50), 0, &ow, &r);
    assert_error(&r, 404, "not_found");
    resp_free(&r);
    /* Result: the raw body, streamed into the store. */
    size_t n = 100000;
    unsigned char *res = malloc(n);
    for (size_t i = 0; i < n; i++)
        res[i] = (unsigned char)(i * 31);
    char h[65];
    digest_sha256_hex(res, n, h);
    signed_http(f, "POST", "/api/jobs/1/result", "application/octet-stream", res, n, 0, &oo, &r);
    assert_error(&r, 403, "forbidden");
    resp_free(&r);
    assert_int_equal(store_count(f, "objects"), 1); /* only extra.csv: the refused result is gone */
    signed_http(f, "POST", "/api/jobs/1/result", "application/octet-stream", res, n, 1, &ow, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "result_sha256"), h);
    assert_int_equal(jnum(r.json, "result_size_bytes"), n);
    resp_free(&r);
    get(f, "/api/jobs/1/result", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, n);
    assert_memory_equal(r.body.data, res, n);
    char hv[128];
    assert_string_equal(header(&r, "X-Loom-SHA256", hv, sizeof(hv)), h);
    assert_string_equal(header(&r, "Content-Length", hv, sizeof(hv)), "100000");
    resp_free(&r);
    /* Files cannot be added once the job is WORKING. */
    signed_http(f, "POST", "/api/jobs/1/files?name=late.csv", "text/csv", "a", 1, 0, &oc, &r);
    assert_error(&r, 409, "conflict");
    resp_free(&r);
    free(res);
}

static void test_quote_and_unavailable(void **state)
{
    struct fx *f = *state;
    struct resp r;
    get(f, "/api/quote?usd_cents=300000", &r);
    assert_int_equal(r.status, 200);
    /* 3000 USD at 3000.00000000 USD/ETH is exactly 1 ETH. */
    assert_string_equal(jstr(r.json, "wei"), "1000000000000000000");
    assert_string_equal(jstr(r.json, "round_id"), "1");
    assert_int_equal(jnum(r.json, "decimals"), 8);
    resp_free(&r);
    get(f, "/api/quote?usd_cents=1", &r);
    assert_string_equal(jstr(r.json, "wei"), "3333333333334"); /* rounded up */
    resp_free(&r);
    in_loop(f, fail_fn, NULL);
    get(f, "/api/jobs/1", &r);
    assert_error(&r, 503, "unavailable");
    resp_free(&r);
}

static void test_siwe_session(void **state)
{
    struct fx *f = *state;
    struct resp r;
    get(f, "/api/auth/nonce", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(strlen(jstr(r.json, "nonce")), 16);
    char nonce[32];
    snprintf(nonce, sizeof(nonce), "%s", jstr(r.json, "nonce"));
    resp_free(&r);
    char issued[32];
    time_t now = time(NULL);
    strftime(issued, sizeof(issued), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    char msg[1024], sig[133];
    const char *domains[] = {"loom.test", "evil.test"};
    for (int d = 0; d < 2; d++) {
        snprintf(msg, sizeof(msg),
                 "%s wants you to sign in with your Ethereum account:\n%s\n\n"
                 "Sign in to The Loom\n\nURI: https://loom.test\nVersion: 1\nChain ID: 31337\n"
                 "Nonce: %s\nIssued At: %s",
                 domains[d], CLIENT, nonce, issued);
        fake_sign(CLIENT, msg, sig);
        cJSON *req = cJSON_CreateObject();
        cJSON_AddStringToObject(req, "message", msg);
        cJSON_AddStringToObject(req, "signature", sig);
        char *body = cJSON_PrintUnformatted(req);
        const char *ct[] = {"Content-Type: application/json", NULL};
        http(f, "POST", "/api/auth/siwe", ct, body, strlen(body), 0, &r);
        if (d == 0) {
            assert_int_equal(r.status, 200); /* signed in; this nonce is now used */
        } else {
            assert_error(&r, 401, "unauthorized");
            assert_string_equal(err_msg(&r), "sign-in message is for another domain");
        }
        resp_free(&r);
        cJSON_free(body);
        cJSON_Delete(req);
    }
    /* A second sign-in with a new nonce: check the cookie, then replay it. */
    snprintf(msg, sizeof(msg),
             "loom.test wants you to sign in with your Ethereum account:\n%s\n\n"
             "Sign in to The Loom\n\nURI: https://loom.test\nVersion: 1\nChain ID: 31337\n"
             "Nonce: %sx\nIssued At: %s",
             CLIENT, nonce, issued);
    fake_sign(CLIENT, msg, sig);
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "message", msg);
    cJSON_AddStringToObject(req, "signature", sig);
    char *body = cJSON_PrintUnformatted(req);
    const char *ct[] = {"Content-Type: application/json", NULL};
    http(f, "POST", "/api/auth/siwe", ct, body, strlen(body), 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "address"), CLIENT);
    char cookie[600];
    assert_non_null(header(&r, "Set-Cookie", cookie, sizeof(cookie)));
    assert_non_null(strstr(cookie, "HttpOnly"));
    assert_non_null(strstr(cookie, "SameSite=Strict"));
    resp_free(&r);
    http(f, "POST", "/api/auth/siwe", ct, body, strlen(body), 0, &r);
    assert_error(&r, 401, "unauthorized"); /* replayed sign-in nonce */
    assert_non_null(strstr(err_msg(&r), "replay"));
    resp_free(&r);
    cJSON_free(body);
    cJSON_Delete(req);
    /* The session cookie authenticates a mutating request. */
    char hc[700];
    snprintf(hc, sizeof(hc), "Cookie: %.*s", (int)strcspn(cookie, ";"), cookie);
    const char *hdrs[] = {hc, "Content-Type: application/json", NULL};
    const char *j = "{\"title\":\"via session\",\"type\":\"IA\",\"price_usd_cents\":5}";
    http(f, "POST", "/api/jobs", hdrs, j, strlen(j), 0, &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(jstr(r.json, "client"), CLIENT);
    resp_free(&r);
    const char *bad[] = {"Cookie: loom_session=v1.forged", "Content-Type: application/json", NULL};
    http(f, "POST", "/api/jobs", bad, j, strlen(j), 0, &r);
    assert_error(&r, 401, "unauthorized");
    resp_free(&r);
}

static void test_sse_two_clients_and_slow_drop(void **state)
{
    struct fx *f = *state;
    const char *req = "GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n";
    int a = tcp_connect(f, 0), b = tcp_connect(f, 0);
    struct buf ba, bb;
    buf_init(&ba, 0);
    buf_init(&bb, 0);
    send_all(a, req, strlen(req));
    send_all(b, req, strlen(req));
    assert_int_equal(recv_until(a, &ba, ": connected\n\n"), 1);
    assert_int_equal(recv_until(b, &bb, ": connected\n\n"), 1);
    assert_non_null(strstr(ba.data, "Content-Type: text/event-stream"));
    struct bc_arg m = {"job.open.IA", "{\"id\":1}\nsecond line"};
    in_loop(f, broadcast_fn, &m);
    /* Chunked transfer wraps each event; the event text itself is intact. */
    assert_int_equal(
        recv_until(a, &ba, "event: job.open.IA\ndata: {\"id\":1}\ndata: second line\n\n"), 1);
    assert_int_equal(
        recv_until(b, &bb, "event: job.open.IA\ndata: {\"id\":1}\ndata: second line\n\n"), 1);
    assert_int_equal(counts(f).sse, 2);
    /* A slow client: tiny receive buffer, never reads. */
    int slow = tcp_connect(f, 4096);
    send_all(slow, req, strlen(req));
    for (int i = 0; i < 200 && counts(f).sse != 3; i++)
        usleep(10000);
    assert_int_equal(counts(f).sse, 3);
    char *data = malloc(8192);
    memset(data, 'e', 8191);
    data[8191] = '\0';
    struct bc_arg big = {"job.progress", data};
    for (int i = 0; i < 100; i++) {
        in_loop(f, broadcast_fn, &big);
        buf_reset(&ba);
        buf_reset(&bb);
        /* The fast clients keep up: each event arrives before the next. */
        assert_int_equal(recv_until(a, &ba, "eeee\n\n"), 1);
        assert_int_equal(recv_until(b, &bb, "eeee\n\n"), 1);
    }
    struct count_arg c = counts(f);
    assert_int_equal(c.sse, 2);
    assert_int_equal(c.dropped, 1);
    /* The slow client sees its stream end. */
    struct buf bs;
    buf_init(&bs, 64 << 20);
    assert_int_equal(recv_until(slow, &bs, NULL), 0);
    buf_release(&bs);
    close(slow);
    close(a);
    close(b);
    for (int i = 0; i < 200 && counts(f).sse != 0; i++)
        usleep(10000);
    assert_int_equal(counts(f).sse, 0);
    free(data);
    buf_release(&ba);
    buf_release(&bb);
}

static void test_rate_limit(void **state)
{
    (void)state;
    struct gateway_config cfg = base_cfg();
    cfg.rate_burst = 3;
    cfg.rate_per_s = 0.01;
    struct fx *f = fx_start(&cfg);
    struct resp r;
    for (int i = 0; i < 3; i++) {
        get(f, "/api/jobs", &r);
        assert_int_equal(r.status, 200);
        resp_free(&r);
    }
    get(f, "/api/jobs", &r);
    assert_error(&r, 429, "rate_limited");
    char hv[32];
    assert_string_equal(header(&r, "Retry-After", hv, sizeof(hv)), "100");
    resp_free(&r);
    /* liveness probes are served by common/metrics, outside the limiter */
    get(f, "/health", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    fx_stop(f);
}

/* ---- the GET /api/jobs/{id} cache, kept honest by a real feed ---- */

struct feed_fx {
    char addr[160];
    struct bus *pub;
    struct feedmirror *fm;
    int64_t seq; /* last heartbeat published */
    const char *frame_topic;
    struct buf frame;
};

static void feed_start_fn(struct fx *f, void *arg)
{
    struct feed_fx *ff = arg;
    assert_int_equal(bus_new(f->base, BUS_PUB, &ff->pub), ERR_OK);
    assert_int_equal(bus_bind(ff->pub, ff->addr), ERR_OK);
    assert_int_equal(feedmirror_new(f->base, ff->addr, f->gw, &ff->fm), ERR_OK);
}

static void feed_stop_fn(struct fx *f, void *arg)
{
    (void)f;
    struct feed_fx *ff = arg;
    feedmirror_free(ff->fm);
    bus_free(ff->pub);
}

static void publish_fn(struct fx *f, void *arg)
{
    (void)f;
    struct feed_fx *ff = arg;
    void *data = malloc(ff->frame.len);
    assert_non_null(data);
    memcpy(data, ff->frame.data, ff->frame.len);
    assert_int_equal(bus_publish(ff->pub, ff->frame_topic, data, ff->frame.len), ERR_OK);
}

static void publish_heartbeat(struct fx *f, struct feed_fx *ff, int64_t seq)
{
    struct proto_feed_heartbeat h = {
        .epoch = 5, .seq = seq, .interval_ms = 1000, .at = (int64_t)time(NULL)};
    buf_reset(&ff->frame);
    assert_int_equal(proto_feed_heartbeat_encode(&h, &ff->frame, NULL), ERR_OK);
    ff->frame_topic = PROTO_TOPIC_HEARTBEAT;
    ff->seq = seq;
    in_loop(f, publish_fn, ff);
}

static void publish_progress(struct fx *f, struct feed_fx *ff, int64_t job_id, int progress)
{
    struct proto_feed m = {.kind = PROTO_FEED_PROGRESS};
    m.u.progress.job_id = job_id;
    m.u.progress.chain_job_id[31] = 1;
    m.u.progress.worker[19] = 0x33;
    m.u.progress.progress = progress;
    m.u.progress.at = (int64_t)time(NULL);
    buf_reset(&ff->frame);
    assert_int_equal(proto_feed_encode(&m, &ff->frame, NULL), ERR_OK);
    ff->frame_topic = PROTO_TOPIC_PROGRESS;
    in_loop(f, publish_fn, ff);
}

static void cache_stats_fn(struct fx *f, void *arg)
{
    jobcache_stats(gateway_jobcache(f->gw), arg);
}

static struct jobcache_stats cache_stats(struct fx *f)
{
    struct jobcache_stats st;
    in_loop(f, cache_stats_fn, &st);
    return st;
}

static void cache_live_fn(struct fx *f, void *arg)
{
    *(int *)arg = jobcache_is_live(gateway_jobcache(f->gw));
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* GET /api/jobs/1 and check its status and progress. */
static void get_job1(struct fx *f, const char *status, int progress)
{
    struct resp r;
    get(f, "/api/jobs/1", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "status"), status);
    assert_int_equal(jnum(r.json, "progress"), progress);
    resp_free(&r);
}

static void test_job_cache_feed(void **state)
{
    (void)state;
    struct gateway_config cfg = base_cfg();
    cfg.cache_max_entries = 100;
    cfg.cache_max_bytes = 1 << 20;
    cfg.cache_ttl_ms = 600000; /* TTL expiry: test_gateway_cache.c */
    struct fx *f = fx_start(&cfg);
    struct feed_fx ff = {0};
    buf_init(&ff.frame, 4096);
    snprintf(ff.addr, sizeof(ff.addr), "ipc://%s/feed", f->root);
    struct resp r;
    create_json(f, "{\"title\":\"cached\",\"type\":\"IA\",\"price_usd_cents\":100}", CLIENT, &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    /* No feed yet: reads go to the backend and are not stored. */
    get_job1(f, "PENDING", 0);
    struct jobcache_stats st = cache_stats(f);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.stores, 0);
    /* The feed comes up: heartbeats until the subscription hears one
     * (a SUB misses what was sent before it connected). */
    in_loop(f, feed_start_fn, &ff);
    int live = 0;
    for (int i = 1; i <= 200 && !live; i++) {
        publish_heartbeat(f, &ff, i);
        sleep_ms(50);
        in_loop(f, cache_live_fn, &live);
    }
    assert_true(live);
    /* A miss stores the reply, the next read is a hit. */
    get_job1(f, "PENDING", 0);
    get_job1(f, "PENDING", 0);
    struct jobcache_stats st2 = cache_stats(f);
    assert_int_equal(st2.stores, st.stores + 1);
    assert_int_equal(st2.hits, st.hits + 1);
    /* A change the feed has not told: the cached reply is still served. */
    int64_t id = 1;
    in_loop(f, assign_fn, &id);
    get_job1(f, "PENDING", 0);
    /* A feed message about job 1 drops its entry: the next read is fresh. */
    st = cache_stats(f);
    publish_progress(f, &ff, 1, 0);
    for (int i = 0; i < 200 && cache_stats(f).drops == st.drops; i++)
        sleep_ms(20);
    assert_int_equal(cache_stats(f).drops, st.drops + 1);
    get_job1(f, "WORKING", 0);
    get_job1(f, "WORKING", 0);
    st = cache_stats(f);
    assert_int_equal(st.entries, 1);
    /* A write through this gateway drops its job's entry as it answers. */
    struct sign_opts ow = {.signer = WORKER};
    const char *p30 = "{\"progress\":30}";
    signed_http(f, "PUT", "/api/jobs/1/progress", NULL, p30, strlen(p30), 0, &ow, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    get_job1(f, "WORKING", 30);
    get_job1(f, "WORKING", 30);
    st = cache_stats(f);
    assert_int_equal(st.entries, 1);
    /* A heartbeat gap (seq + 2: one lost) flushes the whole cache. */
    publish_heartbeat(f, &ff, ff.seq + 2);
    for (int i = 0; i < 200 && cache_stats(f).flushes == st.flushes; i++)
        sleep_ms(20);
    st2 = cache_stats(f);
    assert_int_equal(st2.flushes, st.flushes + 1);
    assert_int_equal(st2.entries, 0);
    get_job1(f, "WORKING", 30);
    assert_int_equal(cache_stats(f).misses, st2.misses + 1);
    /* /metrics shows the counters. */
    get(f, "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(buf_cstr(&r.body), "\nloom_gateway_job_cache_hits_total "));
    assert_non_null(strstr(buf_cstr(&r.body), "\nloom_gateway_job_cache_entries 1"));
    resp_free(&r);
    in_loop(f, feed_stop_fn, &ff);
    buf_release(&ff.frame);
    fx_stop(f);
}

int main(void)
{
    evthread_use_pthreads();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_health_metrics_openapi, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routing_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_get_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multipart_upload_and_download, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upload_errors_leave_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_inline_and_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_failure_cleans_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversize_declared_413, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_off_upload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quote_and_unavailable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_siwe_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sse_two_clients_and_slow_drop, setup, teardown),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_job_cache_feed),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
