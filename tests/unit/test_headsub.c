/*
 * Unit tests for common/eth/headsub against a fake node on a loopback
 * listener (a free port): the exact eth_subscribe request, notifications
 * of our subscription counted (and their block numbers passed on), those
 * of another subscription and other messages ignored, a dropped connection
 * reported and reconnected, a node that refuses eth_subscribe (JSON-RPC
 * error), an HTTP-only endpoint (405), a port nobody listens on, the
 * derived URL, and the start-up checks. Waits on conditions, never on
 * fixed sleeps.
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "eth/headsub.h"
#include "ws.h"

static const char sub_req[] =
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_subscribe\",\"params\":[\"newHeads\"]}";
#define SUB_ID "0xcd0c3e8af590364c09d0fa6a1210faf5"

/* ---- what the callbacks saw ------------------------------------------------ */

struct seen {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t numbers[16];
    size_t n_heads;
    int ups, downs;
    enum err why[4]; /* of the first four downs: later retries may fail */
    char msg[4][256];
};

static void head_cb(void *arg, uint64_t number)
{
    struct seen *s = arg;
    pthread_mutex_lock(&s->mu);
    if (s->n_heads < 16)
        s->numbers[s->n_heads] = number;
    s->n_heads++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void state_cb(void *arg, bool live, enum err why, const char *msg)
{
    struct seen *s = arg;
    pthread_mutex_lock(&s->mu);
    if (live) {
        s->ups++;
        assert_int_equal(why, ERR_OK);
    } else {
        if (s->downs < 4) {
            s->why[s->downs] = why;
            snprintf(s->msg[s->downs], sizeof s->msg[0], "%s", msg);
        }
        s->downs++;
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Wait (30 s at most: the machine may be loaded) until downs >= d. */
static void wait_downs(struct seen *s, int d)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 30;
    pthread_mutex_lock(&s->mu);
    while (s->downs < d)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0)
            break;
    int got = s->downs;
    pthread_mutex_unlock(&s->mu);
    assert_true(got >= d);
}

/* ---- the fake node ------------------------------------------------------------ */

enum mode { M_GOOD, M_REFUSE, M_HTTP };

struct node {
    int lfd;
    uint16_t port;
    enum mode mode;
    int conns; /* connections to serve, then stop */
    pthread_t t;
};

static void read_exact(int fd, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)p + got, n - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
}

static void send_text(int fd, const char *s)
{
    size_t n = strlen(s);
    uint8_t h[4] = {0x81, 0, 0, 0};
    size_t hl = 2;
    if (n < 126) {
        h[1] = (uint8_t)n;
    } else {
        h[1] = 126, h[2] = (uint8_t)(n >> 8), h[3] = (uint8_t)n;
        hl = 4;
    }
    assert_int_equal(write(fd, h, hl), (ssize_t)hl);
    assert_int_equal(write(fd, s, n), (ssize_t)n);
}

static void serve_one(struct node *nd, int fd)
{
    char req[2048] = {0};
    size_t n = 0;
    while (strstr(req, "\r\n\r\n") == NULL) {
        ssize_t r = read(fd, req + n, sizeof req - 1 - n);
        assert_true(r > 0);
        n += (size_t)r;
    }
    if (nd->mode == M_HTTP) {
        const char *a = "HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n";
        assert_int_equal(write(fd, a, strlen(a)), (ssize_t)strlen(a));
        return;
    }
    const char *k = strstr(req, "Sec-WebSocket-Key: ");
    assert_non_null(k);
    char key[64] = {0}, acc[WS_ACCEPT_LEN], out[512];
    memcpy(key, k + 19, strcspn(k + 19, "\r"));
    assert_int_equal(ws_accept_key(key, acc), ERR_OK);
    int len = snprintf(out, sizeof out,
                       "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
                       "connection: upgrade\r\nsec-websocket-accept: %s\r\n\r\n",
                       acc);
    assert_int_equal(write(fd, out, (size_t)len), len);
    /* The client's request: one masked text frame, exactly sub_req. */
    uint8_t h[2], mask[4], pl[128];
    read_exact(fd, h, 2);
    assert_int_equal(h[0], 0x81);
    assert_int_equal(h[1], 0x80 | (sizeof sub_req - 1));
    read_exact(fd, mask, 4);
    read_exact(fd, pl, sizeof sub_req - 1);
    for (size_t i = 0; i < sizeof sub_req - 1; i++)
        pl[i] ^= mask[i % 4];
    assert_memory_equal(pl, sub_req, sizeof sub_req - 1);
    if (nd->mode == M_REFUSE) {
        /* What a provider without subscriptions answers. */
        send_text(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32601,\"message\":"
                      "\"the method eth_subscribe does not exist/is not available\"}}");
        return;
    }
    /* Something unrelated before the reply is ignored. */
    send_text(fd, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":\"0x0\"}");
    send_text(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"" SUB_ID "\"}");
    /* geth's notification shape, a header cut short. */
    send_text(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"eth_subscription\",\"params\":{"
                  "\"subscription\":\"" SUB_ID "\",\"result\":{\"difficulty\":\"0x15d9223a23aa\","
                  "\"extraData\":\"0xd983010305844765746887676f312e342e328777696e646f7773\","
                  "\"gasLimit\":\"0x47e7c4\",\"gasUsed\":\"0x38658\",\"logsBloom\":\"0x00\","
                  "\"miner\":\"0xf8b483dba2c3b7176a3da549ad41a48bb3121069\",\"nonce\":"
                  "\"0x084149998194cc5f\",\"number\":\"0x1348c9\",\"parentHash\":"
                  "\"0x7736fab79e05dc611604d22470dadad26f56fe494421b5b333de816ce1f25701\"}}}");
    /* Another subscription's: ignored. */
    send_text(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"eth_subscription\",\"params\":{"
                  "\"subscription\":\"0x1\",\"result\":{\"number\":\"0x5\"}}}");
    /* Ours without a number: counted, number 0. */
    send_text(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"eth_subscription\",\"params\":{"
                  "\"subscription\":\"" SUB_ID "\",\"result\":{\"number\":\"0xzz\"}}}");
    /* Close 1001 (going away): the client answers with a close frame. */
    static const uint8_t close_1001[] = {0x88, 0x02, 0x03, 0xe9};
    assert_int_equal(write(fd, close_1001, 4), 4);
    read_exact(fd, h, 2);
    assert_int_equal(h[0], 0x88);
    assert_int_equal(h[1], 0x82); /* masked, 2 bytes: the status code */
    read_exact(fd, pl, 6);
    assert_int_equal((pl[4] ^ pl[0]) << 8 | (pl[5] ^ pl[1]), 1001); /* our 1001 echoed */
}

static void *node_main(void *arg)
{
    struct node *nd = arg;
    for (int i = 0; i < nd->conns; i++) {
        int fd = accept(nd->lfd, NULL, NULL);
        if (fd == -1)
            break;
        serve_one(nd, fd);
        /* Close without a reset: unread bytes at close() would make the
         * kernel send RST, which may discard what the client has not read
         * yet. Stop writing, then read until the client closes. */
        shutdown(fd, SHUT_WR);
        char drain[256];
        while (read(fd, drain, sizeof drain) > 0)
            ;
        close(fd);
    }
    return NULL;
}

static void node_start(struct node *nd, enum mode m, int conns)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    nd->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(nd->lfd >= 0);
    assert_int_equal(bind(nd->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(nd->lfd, 4), 0);
    assert_int_equal(getsockname(nd->lfd, (struct sockaddr *)&a, &al), 0);
    nd->port = ntohs(a.sin_port);
    nd->mode = m;
    nd->conns = conns;
    assert_int_equal(pthread_create(&nd->t, NULL, node_main, nd), 0);
}

static void node_stop(struct node *nd)
{
    pthread_join(nd->t, NULL);
    close(nd->lfd);
}

static struct headsub *start(struct seen *s, uint16_t port)
{
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/", (unsigned)port);
    struct headsub_opts o = {.url = url,
                             .connect_timeout_ms = 10000,
                             .backoff_base_ms = 5,
                             .backoff_max_ms = 10,
                             .on_head_cb = head_cb,
                             .on_state_cb = state_cb,
                             .arg = s};
    struct headsub *h = NULL;
    assert_int_equal(headsub_start(&o, &h), ERR_OK);
    return h;
}

static void seen_init(struct seen *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
}

static void test_heads_and_reconnect(void **state)
{
    (void)state;
    struct seen s;
    struct node nd;
    seen_init(&s);
    node_start(&nd, M_GOOD, 2);
    struct headsub *h = start(&s, nd.port);
    /* Two sessions, each ended by the node's close: two downs. */
    wait_downs(&s, 2);
    node_stop(&nd);
    pthread_mutex_lock(&s.mu);
    assert_int_equal(s.ups, 2);
    assert_int_equal(s.n_heads, 4);
    assert_int_equal(s.numbers[0], 0x1348c9);
    assert_int_equal(s.numbers[1], 0);
    assert_int_equal(s.numbers[2], 0x1348c9);
    assert_int_equal(s.numbers[3], 0);
    assert_int_equal(s.why[0], ERR_IO);
    assert_string_equal(s.msg[0], "closed by peer (1001)");
    assert_int_equal(s.why[1], ERR_IO);
    assert_string_equal(s.msg[1], "closed by peer (1001)");
    pthread_mutex_unlock(&s.mu);
    struct headsub_stats st;
    headsub_get_stats(h, &st);
    assert_int_equal(st.heads, 4);
    assert_true(st.attempts >= 2);
    assert_true(st.failures >= 2);
    headsub_free(h);
}

static void test_refused_and_http_only(void **state)
{
    (void)state;
    struct seen s;
    struct node nd;
    seen_init(&s);
    node_start(&nd, M_REFUSE, 1);
    struct headsub *h = start(&s, nd.port);
    wait_downs(&s, 1);
    node_stop(&nd);
    headsub_free(h);
    assert_int_equal(s.ups, 0);
    assert_int_equal(s.n_heads, 0);
    assert_int_equal(s.why[0], ERR_RPC);
    assert_string_equal(s.msg[0], "eth_subscribe refused: -32601: the method eth_subscribe "
                                  "does not exist/is not available");

    seen_init(&s);
    node_start(&nd, M_HTTP, 1);
    h = start(&s, nd.port);
    wait_downs(&s, 1);
    node_stop(&nd);
    headsub_free(h);
    assert_int_equal(s.ups, 0);
    assert_int_equal(s.why[0], ERR_UNAVAILABLE);
    assert_non_null(strstr(s.msg[0], "handshake: HTTP 405"));

    /* Nobody listening: refused, retried with backoff until freed. */
    seen_init(&s);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd);
    h = start(&s, ntohs(a.sin_port));
    wait_downs(&s, 3);
    struct headsub_stats st;
    headsub_get_stats(h, &st);
    assert_false(st.live);
    assert_true(st.attempts >= 3);
    headsub_free(h);
    assert_int_equal(s.why[0], ERR_IO);
    assert_non_null(strstr(s.msg[0], "Connection refused"));
}

static void test_start_checks_and_url(void **state)
{
    (void)state;
    struct seen s;
    seen_init(&s);
    struct headsub *h = (struct headsub *)1;
    struct headsub_opts o = {.url = "ws://127.0.0.1:1", .on_head_cb = head_cb, .arg = &s};
    o.url = NULL;
    assert_int_equal(headsub_start(&o, &h), ERR_INVAL);
    assert_null(h);
    o.url = "wss://node.example";
    assert_int_equal(headsub_start(&o, &h), ERR_INVAL);
    o.url = "http://127.0.0.1:8545";
    assert_int_equal(headsub_start(&o, &h), ERR_INVAL);
    o.url = "ws://127.0.0.1:1";
    o.on_head_cb = NULL;
    assert_int_equal(headsub_start(&o, &h), ERR_INVAL);
    o.on_head_cb = head_cb;
    o.backoff_base_ms = 100, o.backoff_max_ms = 50;
    assert_int_equal(headsub_start(&o, &h), ERR_INVAL);
    o.backoff_base_ms = -1;
    assert_int_equal(headsub_start(&o, &h), ERR_INVAL);
    headsub_free(NULL);

    char *u = NULL;
    assert_int_equal(headsub_ws_url_for("http://127.0.0.1:8545", &u), ERR_OK);
    assert_string_equal(u, "ws://127.0.0.1:8545");
    free(u);
    assert_int_equal(headsub_ws_url_for("HTTP://node:8545/v1/key?x=1", &u), ERR_OK);
    assert_string_equal(u, "ws://node:8545/v1/key?x=1");
    free(u);
    assert_int_equal(headsub_ws_url_for("https://rpc.scroll.io", &u), ERR_INVAL);
    assert_null(u);
    assert_int_equal(headsub_ws_url_for("ws://x", &u), ERR_INVAL);
    assert_int_equal(headsub_ws_url_for(NULL, &u), ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heads_and_reconnect),
        cmocka_unit_test(test_refused_and_http_only),
        cmocka_unit_test(test_start_checks_and_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
