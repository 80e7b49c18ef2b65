/* The gateway's real signature verifier (services/gateway/verify.c):
 * known `cast wallet sign` vectors, every error, and signed requests through
 * the real gateway (memory backend, loopback HTTP with libcurl) signed with
 * common/eth. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/eth/ecdsa.h"
#include "common/eth/eip191.h"
#include "hex.h"
#include "common/eth/key.h"
#include "services/gateway/auth.h"
#include "services/gateway/digest.h"
#include "services/gateway/gateway.h"
#include "services/gateway/memback.h"
#include "services/gateway/store.h"
#include "services/gateway/verify.h"

/* anvil's first dev account (public test key) */
#define PRIV "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
#define ADDR "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
/* `cast wallet sign --private-key $PRIV hello` (foundry 1.x) */
#define HELLO_SIG                                                                                  \
    "0xf16ea9a3478698f695fd1401bfe27e9e4a7e8e3da94aa72b021125e31fa899cc573c48ea3fe1d4ab61a9db10c1" \
    "9032026e3ed2dbccba5a178235ac27f94504311c"

static void test_cast_vector(void **state)
{
    (void)state;
    char *addr = NULL;
    assert_int_equal(verify_eip191(NULL, "hello", 5, HELLO_SIG, &addr), ERR_OK);
    assert_string_equal(addr, ADDR);
    free(addr);
    /* the same signature over another message recovers someone else */
    assert_int_equal(verify_eip191(NULL, "hellO", 5, HELLO_SIG, &addr), ERR_OK);
    assert_string_not_equal(addr, ADDR);
    free(addr);
}

static void test_errors(void **state)
{
    (void)state;
    char *addr = NULL;
    char sig[133];
    assert_int_equal(verify_eip191(NULL, "hello", 5, "0x1234", &addr), ERR_INVAL);
    assert_int_equal(verify_eip191(NULL, "hello", 5, HELLO_SIG "00", &addr), ERR_INVAL);
    memcpy(sig, HELLO_SIG, sizeof(sig));
    sig[10] = 'g'; /* not hex */
    assert_int_equal(verify_eip191(NULL, "hello", 5, sig, &addr), ERR_INVAL);
    memcpy(sig, HELLO_SIG, sizeof(sig));
    memcpy(sig + 130, "1d", 2); /* v = 29 */
    assert_int_equal(verify_eip191(NULL, "hello", 5, sig, &addr), ERR_INVAL);
    memcpy(sig, HELLO_SIG, sizeof(sig));
    memset(sig + 2, '0', 64); /* r = 0 */
    assert_int_equal(verify_eip191(NULL, "hello", 5, sig, &addr), ERR_CRYPTO);
    memcpy(sig, HELLO_SIG, sizeof(sig));
    memcpy(sig + 66, "ff", 2); /* s above n/2 (EIP-2) */
    assert_int_equal(verify_eip191(NULL, "hello", 5, sig, &addr), ERR_CRYPTO);
    assert_null(addr);
}

/* ---- through the real gateway ---- */

struct fx {
    struct event_base *base;
    pthread_t thread;
    struct store *store;
    struct memback *mem;
    struct gateway *gw;
    int port;
    char root[64];
};

static void *loop_main(void *arg)
{
    struct fx *f = arg;
    event_base_loop(f->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static void stop_cb(evutil_socket_t fd, short w, void *arg)
{
    (void)fd;
    (void)w;
    struct fx *f = arg;
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

static int setup(void **state)
{
    static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/loom-gwv-test.XXXXXX");
    assert_non_null(mkdtemp(f->root));
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/store", f->root);
    f->base = event_base_new();
    assert_int_equal(store_open(dir, &f->store), ERR_OK);
    assert_int_equal(memback_new(f->base, &f->mem), ERR_OK);
    struct gw_backend be;
    memback_backend(f->mem, &be);
    be.verify = verify_eip191;
    struct gateway_config c = {
        .host = "127.0.0.1",
        .max_upload_bytes = 1 << 20,
        .max_json_bytes = 64 * 1024,
        .max_header_bytes = 8192,
        .request_timeout_s = 10,
        .rate_per_s = 1000,
        .rate_burst = 1000,
        .rate_max_keys = 100,
        .auth_window_s = 300,
        .siwe_domain = "loom.test",
        .chain_id = 31337,
        .session_ttl_s = 3600,
        .session_key = key,
        .session_key_len = 32,
        .sse_max_queue_bytes = 64 * 1024,
        .sse_max_clients = 4,
    };
    struct buf msg;
    buf_init(&msg, 256);
    assert_int_equal(gateway_new(f->base, &c, &be, f->store, &f->gw, &msg), ERR_OK);
    buf_release(&msg);
    f->port = gateway_port(f->gw);
    assert_int_equal(pthread_create(&f->thread, NULL, loop_main, f), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    struct timeval tv = {0, 0};
    assert_int_equal(event_base_once(f->base, -1, EV_TIMEOUT, stop_cb, f, &tv), 0);
    pthread_join(f->thread, NULL);
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    store_free(f->store);
    event_base_free(f->base);
    nftw(f->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static size_t sink(char *p, size_t sz, size_t n, void *arg)
{
    struct buf *b = arg;
    assert_int_equal(buf_append(b, p, sz * n), ERR_OK);
    return sz * n;
}

/* POST <body> to /api/jobs signed by <k> but claiming <claimed>; returns the
 * status and the body in <out>. */
static long signed_post(struct fx *f, const struct key *k, const char *claimed, const char *nonce,
                        const char *body, struct buf *out)
{
    char ts[24], hash[65], url[64], h[4][200];
    snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
    digest_sha256_hex(body, strlen(body), hash);
    struct buf text;
    buf_init(&text, 0);
    assert_int_equal(auth_canonical("POST", "/api/jobs", hash, ts, nonce, &text), ERR_OK);
    struct sig s;
    uint8_t rsv[65];
    char sig[133];
    assert_int_equal(eip191_sign(k, text.data, text.len, &s), ERR_OK);
    sig_to_rsv(&s, rsv);
    hex_encode(rsv, sizeof(rsv), true, sig);
    buf_release(&text);
    snprintf(h[0], sizeof(h[0]), "X-Loom-Address: %s", claimed);
    snprintf(h[1], sizeof(h[1]), "X-Loom-Timestamp: %s", ts);
    snprintf(h[2], sizeof(h[2]), "X-Loom-Nonce: %s", nonce);
    snprintf(h[3], sizeof(h[3]), "X-Loom-Signature: %s", sig);
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
    for (int i = 0; i < 4; i++)
        hl = curl_slist_append(hl, h[i]);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/jobs", f->port);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    return status;
}

static void test_signed_create(void **state)
{
    struct fx *f = *state;
    struct key k;
    assert_int_equal(key_from_hex(PRIV, &k), ERR_OK);
    struct buf out;
    buf_init(&out, 0);
    const char *body = "{\"title\":\"t\",\"type\":\"IA\",\"price_usd_cents\":1500}";
    assert_int_equal(signed_post(f, &k, ADDR, "nonce-0001", body, &out), 201);
    assert_non_null(strstr(buf_cstr(&out), "\"client\":\"" ADDR "\""));
    assert_int_equal(memback_job_count(f->mem), 1);
    /* the same signer claiming another address: 401, nothing recorded */
    buf_reset(&out);
    assert_int_equal(
        signed_post(f, &k, "0x70997970c51812dc3a010c7d01b50e0d17dc79c8", "nonce-0002", body, &out),
        401);
    assert_non_null(strstr(buf_cstr(&out), "wrong signer"));
    /* a replayed nonce: 401 */
    buf_reset(&out);
    assert_int_equal(signed_post(f, &k, ADDR, "nonce-0001", body, &out), 401);
    assert_int_equal(memback_job_count(f->mem), 1);
    key_wipe(&k);
    buf_release(&out);
}

int main(void)
{
    /* teardown schedules the stop from this thread onto the loop thread */
    evthread_use_pthreads();
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cast_vector),
        cmocka_unit_test(test_errors),
        cmocka_unit_test_setup_teardown(test_signed_create, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
