/* Unit tests for common/bus. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>

#include "bus.h"

/* ---- helpers ------------------------------------------------------------ */

static char tmp_dir[256];

static int make_tmp_dir(void **state)
{
    (void)state;
    const char *base = getenv("LOOM_TEST_TMP");
    snprintf(tmp_dir, sizeof(tmp_dir), "%s/bus.XXXXXX", base ? base : "/tmp");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int remove_tmp_dir(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* An address of <transport> nobody else uses: a fresh inproc name, an ipc
 * path in the test's temporary folder, or a free loopback TCP port. */
static void test_addr(const char *transport, char *out, size_t n)
{
    static int seq;
    seq++;
    if (strcmp(transport, "inproc") == 0) {
        snprintf(out, n, "inproc://test-bus-%d", seq);
    } else if (strcmp(transport, "ipc") == 0) {
        snprintf(out, n, "ipc://%s/s%d", tmp_dir, seq);
    } else {
        struct sockaddr_in sa = {0};
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        close(fd);
        snprintf(out, n, "tcp://127.0.0.1:%d", ntohs(sa.sin_port));
    }
}

static char *dup_str(const char *s)
{
    char *p = strdup(s);
    assert_non_null(p);
    return p;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Run <base> until *flag is non-zero or <limit_ms> passes. */
static void run_until(struct event_base *base, const int *flag, int limit_ms)
{
    struct timespec t0, t;
    struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
    struct timeval tv = {0, 5000};
    assert_non_null(tick);
    assert_int_equal(event_add(tick, &tv), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (flag == NULL || !*flag) {
        event_base_loop(base, EVLOOP_ONCE);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= limit_ms)
            break;
    }
    event_free(tick);
}

/* ---- an echo server ------------------------------------------------------ */

/* Answers "x" with "echo:x" at once, or holds requests until <hold> of them
 * are in, then answers them in reverse order. Drops "drop". */
struct server {
    struct bus *bus;
    int hold;
    int got;
    struct bus_reply *held[64];
    char held_req[64][32];
};

static void answer(struct bus_reply *r, const char *req)
{
    char txt[64];
    int n = snprintf(txt, sizeof(txt), "echo:%s", req);
    char *p = dup_str(txt);
    assert_int_equal(bus_reply_send(r, p, (size_t)n), ERR_OK);
}

static void server_cb(void *arg, struct bus_reply *r, const void *data, size_t len)
{
    struct server *s = arg;
    char req[32];
    assert_true(len < sizeof(req));
    memcpy(req, data, len);
    req[len] = '\0';
    s->got++;
    if (strcmp(req, "drop") == 0) {
        bus_reply_drop(r);
        return;
    }
    if (s->hold == 0) {
        answer(r, req);
        return;
    }
    assert_true(s->got <= 64);
    s->held[s->got - 1] = r;
    memcpy(s->held_req[s->got - 1], req, len + 1);
    if (s->got == s->hold) {
        for (int i = s->hold - 1; i >= 0; i--)
            answer(s->held[i], s->held_req[i]);
    }
}

static void server_start(struct server *s, struct event_base *base, const char *addr, int hold)
{
    memset(s, 0, sizeof(*s));
    s->hold = hold;
    assert_int_equal(bus_new(base, BUS_REP, &s->bus), ERR_OK);
    assert_int_equal(bus_kind(s->bus), BUS_REP);
    assert_int_equal(bus_bind(s->bus, addr), ERR_OK);
    assert_int_equal(bus_serve(s->bus, server_cb, s), ERR_OK);
}

/* ---- client callbacks ------------------------------------------------------ */

struct call {
    int index;
    int calls;
    enum err status;
    char reply[64];
    int order; /* completion order, from 0 */
    int *done;
    int *completed;
    struct bus *free_me; /* freed from inside the callback when set */
};

static void call_cb(void *arg, enum err status, const void *data, size_t len)
{
    struct call *c = arg;
    c->calls++;
    c->status = status;
    if (status == ERR_OK) {
        assert_true(len < sizeof(c->reply));
        memcpy(c->reply, data, len);
        c->reply[len] = '\0';
    } else {
        assert_null(data);
        assert_int_equal(len, 0);
    }
    c->order = (*c->completed)++;
    if (c->done)
        *c->done = 1;
    if (c->free_me)
        bus_free(c->free_me);
}

static void send_req(struct bus *cl, struct call *c, const char *txt, int timeout_ms)
{
    char *p = dup_str(txt);
    assert_int_equal(bus_request(cl, p, strlen(p), timeout_ms, call_cb, c), ERR_OK);
}

/* ---- tests ------------------------------------------------------------------ */

static void reqrep_over(const char *transport)
{
    char addr[300];
    struct event_base *base = event_base_new();
    struct server s;
    struct bus *cl;
    struct call c[5] = {{0}};
    int completed = 0, done = 0;

    test_addr(transport, addr, sizeof(addr));
    server_start(&s, base, addr, 0);
    assert_int_equal(bus_new(base, BUS_REQ, &cl), ERR_OK);
    assert_int_equal(bus_connect(cl, addr), ERR_OK);
    for (int i = 0; i < 5; i++) {
        char txt[16];
        snprintf(txt, sizeof(txt), "m%d", i);
        c[i].index = i;
        c[i].completed = &completed;
        send_req(cl, &c[i], txt, 5000);
    }
    c[4].done = &done;
    c[4].free_me = cl; /* the last callback frees its own endpoint */
    assert_int_equal(bus_pending(cl), 5);
    run_until(base, &done, 5000);
    for (int i = 0; i < 5; i++) {
        char want[16];
        snprintf(want, sizeof(want), "echo:m%d", i);
        assert_int_equal(c[i].calls, 1);
        assert_int_equal(c[i].status, ERR_OK);
        assert_string_equal(c[i].reply, want);
    }
    assert_int_equal(s.got, 5);
    bus_free(s.bus);
    event_base_free(base);
}

static void test_reqrep_inproc(void **state)
{
    (void)state;
    reqrep_over("inproc");
}

static void test_reqrep_ipc(void **state)
{
    (void)state;
    reqrep_over("ipc");
}

static void test_reqrep_tcp(void **state)
{
    (void)state;
    reqrep_over("tcp");
}

/* 64 requests in flight, answered in reverse order: each callback gets its
 * own reply. */
static void test_64_in_flight_out_of_order(void **state)
{
    (void)state;
    char addr[300];
    struct event_base *base = event_base_new();
    struct server s;
    struct bus *cl;
    struct call c[64] = {{0}};
    int completed = 0;

    test_addr("ipc", addr, sizeof(addr));
    server_start(&s, base, addr, 64);
    assert_int_equal(bus_new(base, BUS_REQ, &cl), ERR_OK);
    assert_int_equal(bus_connect(cl, addr), ERR_OK);
    for (int i = 0; i < 64; i++) {
        char txt[16];
        snprintf(txt, sizeof(txt), "r%d", i);
        c[i].index = i;
        c[i].completed = &completed;
        send_req(cl, &c[i], txt, 5000);
    }
    assert_int_equal(bus_pending(cl), 64);
    for (int i = 0; i < 500 && completed < 64; i++)
        run_until(base, NULL, 10);
    for (int i = 0; i < 64; i++) {
        char want[16];
        snprintf(want, sizeof(want), "echo:r%d", i);
        assert_int_equal(c[i].calls, 1);
        assert_int_equal(c[i].status, ERR_OK);
        assert_string_equal(c[i].reply, want);
        assert_int_equal(c[i].order, 63 - i); /* answered last-first */
    }
    assert_int_equal(bus_pending(cl), 0);
    struct bus_stats st;
    bus_stats(cl, &st);
    assert_int_equal(st.sent, 64);
    assert_int_equal(st.received, 64);
    assert_int_equal(st.late_replies, 0);
    bus_free(cl);
    bus_free(s.bus);
    event_base_free(base);
}

/* A held request times out once; its late reply is counted and dropped. */
static void test_timeout_once(void **state)
{
    (void)state;
    char addr[300];
    struct event_base *base = event_base_new();
    struct server s;
    struct bus *cl;
    struct call c = {0}, d = {0};
    int completed = 0, done = 0;
    struct bus_stats st;

    test_addr("inproc", addr, sizeof(addr));
    server_start(&s, base, addr, 2); /* holds until two requests */
    assert_int_equal(bus_new(base, BUS_REQ, &cl), ERR_OK);
    assert_int_equal(bus_connect(cl, addr), ERR_OK);
    c.completed = &completed;
    c.done = &done;
    send_req(cl, &c, "slow", 50);
    run_until(base, &done, 5000);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.status, ERR_TIMEDOUT);
    assert_int_equal(bus_pending(cl), 0);
    run_until(base, NULL, 100);
    assert_int_equal(c.calls, 1);
    /* A second request makes the server answer both; the first answer
     * finds no request any more. */
    done = 0;
    d.completed = &completed;
    d.done = &done;
    send_req(cl, &d, "next", 5000);
    run_until(base, &done, 5000);
    run_until(base, NULL, 50);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.status, ERR_OK);
    assert_string_equal(d.reply, "echo:next");
    assert_int_equal(c.calls, 1);
    bus_stats(cl, &st);
    assert_int_equal(st.late_replies, 1);
    /* A dropped request times out too. */
    done = 0;
    memset(&c, 0, sizeof(c));
    c.completed = &completed;
    c.done = &done;
    s.hold = 0;
    send_req(cl, &c, "drop", 30);
    run_until(base, &done, 5000);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.status, ERR_TIMEDOUT);
    bus_free(cl);
    bus_free(s.bus);
    event_base_free(base);
}

/* Deadlines out of request order: the shorter timeouts fire first, the
 * long one is still pending until the endpoint is freed. */
static void test_mixed_timeouts(void **state)
{
    (void)state;
    char addr[300];
    struct event_base *base = event_base_new();
    struct server s;
    struct bus *cl;
    struct call a = {0}, b = {0}, c = {0};
    int completed = 0, done = 0;

    test_addr("inproc", addr, sizeof(addr));
    server_start(&s, base, addr, 64); /* holds everything */
    assert_int_equal(bus_new(base, BUS_REQ, &cl), ERR_OK);
    assert_int_equal(bus_connect(cl, addr), ERR_OK);
    a.completed = b.completed = c.completed = &completed;
    c.done = &done;
    send_req(cl, &a, "a", 10000);
    send_req(cl, &b, "b", 40);
    send_req(cl, &c, "c", 80);
    run_until(base, &done, 5000);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.status, ERR_TIMEDOUT);
    assert_int_equal(b.order, 0);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.status, ERR_TIMEDOUT);
    assert_int_equal(c.order, 1);
    assert_int_equal(a.calls, 0);
    assert_int_equal(bus_pending(cl), 1);
    bus_free(cl);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.status, ERR_CANCELED);
    for (int i = 0; i < s.got; i++)
        bus_reply_drop(s.held[i]);
    bus_free(s.bus);
    event_base_free(base);
}

static void cancel_cb(void *arg, enum err status, const void *data, size_t len)
{
    struct call *c = arg;
    (void)data;
    (void)len;
    c->calls++;
    c->status = status;
    bus_free(c->free_me); /* re-entrant free of a closing endpoint: no effect */
    /* New requests are refused while closing. */
    char *p = dup_str("late");
    assert_int_equal(bus_request(c->free_me, p, 4, 100, call_cb, c), ERR_STATE);
    free(p);
}

/* Freeing a client cancels each pending request once, queued ones too;
 * replies held by a freed server report ERR_CANCELED. */
static void test_shutdown_cancels(void **state)
{
    (void)state;
    char addr[300], nobody[300];
    struct event_base *base = event_base_new();
    struct server s;
    struct bus *cl, *lonely;
    struct call c[10] = {{0}}, q[3] = {{0}};

    test_addr("ipc", addr, sizeof(addr));
    test_addr("ipc", nobody, sizeof(nobody));
    server_start(&s, base, addr, 64); /* holds everything */
    assert_int_equal(bus_new(base, BUS_REQ, &cl), ERR_OK);
    assert_int_equal(bus_connect(cl, addr), ERR_OK);
    assert_int_equal(bus_new(base, BUS_REQ, &lonely), ERR_OK);
    assert_int_equal(bus_connect(lonely, nobody), ERR_OK);
    for (int i = 0; i < 10; i++) {
        c[i].free_me = cl;
        char *p = dup_str("held");
        assert_int_equal(bus_request(cl, p, 4, -1, cancel_cb, &c[i]), ERR_OK);
    }
    for (int i = 0; i < 3; i++) {
        q[i].free_me = lonely;
        char *p = dup_str("queued");
        assert_int_equal(bus_request(lonely, p, 6, 10000, cancel_cb, &q[i]), ERR_OK);
    }
    for (int i = 0; i < 500 && s.got < 10; i++)
        run_until(base, NULL, 10);
    assert_int_equal(bus_pending(cl), 10);
    assert_int_equal(bus_pending(lonely), 3);
    bus_free(cl);
    bus_free(lonely);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(c[i].calls, 1);
        assert_int_equal(c[i].status, ERR_CANCELED);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(q[i].calls, 1);
        assert_int_equal(q[i].status, ERR_CANCELED);
    }
    run_until(base, NULL, 20);
    /* The client is gone: replies are dropped, not refused. */
    for (int i = 0; i < 9; i++)
        answer(s.held[i], "x");
    bus_free(s.bus);
    char *p = dup_str("too late");
    assert_int_equal(bus_reply_send(s.held[9], p, 8), ERR_CANCELED);
    free(p);
    bus_reply_drop(s.held[9]);
    bus_reply_drop(NULL);
    bus_free(NULL);
    event_base_free(base);
}

/* ---- PUB/SUB and PUSH/PULL ----------------------------------------------------- */

struct sub_rec {
    char got[16][64];
    int n;
    int synced;
    int ended;
};

static void sub_cb(void *arg, const char *topic, const void *data, size_t len)
{
    struct sub_rec *r = arg;
    assert_non_null(topic);
    if (strcmp(topic, "sync") == 0) {
        r->synced = 1;
        return;
    }
    if (strcmp(topic, "sync.end") == 0) {
        r->ended = 1;
        return;
    }
    assert_true(r->n < 16);
    snprintf(r->got[r->n++], 64, "%s|%.*s", topic, (int)len, (const char *)data);
}

static void publish(struct bus *pub, const char *topic, const char *payload)
{
    char *p = dup_str(payload);
    assert_int_equal(bus_publish(pub, topic, p, strlen(p)), ERR_OK);
}

static void pubsub_over(const char *transport)
{
    char addr[300];
    struct event_base *base = event_base_new();
    struct bus *pub, *ia, *all;
    struct sub_rec r_ia = {0}, r_all = {0};

    test_addr(transport, addr, sizeof(addr));
    assert_int_equal(bus_new(base, BUS_PUB, &pub), ERR_OK);
    assert_int_equal(bus_bind(pub, addr), ERR_OK);
    assert_int_equal(bus_new(base, BUS_SUB, &ia), ERR_OK);
    assert_int_equal(bus_new(base, BUS_SUB, &all), ERR_OK);
    assert_int_equal(bus_subscribe(ia, "job.open.IA"), ERR_OK);
    assert_int_equal(bus_subscribe(ia, "sync"), ERR_OK);
    assert_int_equal(bus_subscribe(all, "job."), ERR_OK);
    assert_int_equal(bus_subscribe(all, "sync"), ERR_OK);
    assert_int_equal(bus_subscribe(all, "gone"), ERR_OK);
    assert_int_equal(bus_unsubscribe(all, "gone"), ERR_OK);
    assert_int_equal(bus_on_message(ia, sub_cb, &r_ia), ERR_OK);
    assert_int_equal(bus_on_message(all, sub_cb, &r_all), ERR_OK);
    assert_int_equal(bus_connect(ia, addr), ERR_OK);
    assert_int_equal(bus_connect(all, addr), ERR_OK);
    /* Subscribers that are still connecting miss messages: publish "sync"
     * until both have one. */
    for (int i = 0; i < 500 && !(r_ia.synced && r_all.synced); i++) {
        publish(pub, "sync", "");
        run_until(base, NULL, 10);
    }
    assert_true(r_ia.synced && r_all.synced);
    publish(pub, "job.open.IA", "{\"job_id\":1}");
    publish(pub, "job.open.GRAFICA", "{\"job_id\":2}");
    publish(pub, "job.closed", "{\"job_id\":3}");
    publish(pub, "gone", "{\"job_id\":5}");
    publish(pub, "job.open.IA", "{\"job_id\":4}");
    publish(pub, "sync.end", "");
    for (int i = 0; i < 500 && !(r_ia.ended && r_all.ended); i++)
        run_until(base, NULL, 10);
    assert_int_equal(r_ia.n, 2);
    assert_string_equal(r_ia.got[0], "job.open.IA|{\"job_id\":1}");
    assert_string_equal(r_ia.got[1], "job.open.IA|{\"job_id\":4}");
    assert_int_equal(r_all.n, 4);
    assert_string_equal(r_all.got[0], "job.open.IA|{\"job_id\":1}");
    assert_string_equal(r_all.got[1], "job.open.GRAFICA|{\"job_id\":2}");
    assert_string_equal(r_all.got[2], "job.closed|{\"job_id\":3}");
    assert_string_equal(r_all.got[3], "job.open.IA|{\"job_id\":4}");
    bus_free(ia);
    bus_free(all);
    bus_free(pub);
    event_base_free(base);
}

static void test_pubsub_prefix_ipc(void **state)
{
    (void)state;
    pubsub_over("ipc");
}

static void test_pubsub_prefix_tcp(void **state)
{
    (void)state;
    pubsub_over("tcp");
}

struct pull_rec {
    char got[8][32];
    int n;
};

static void pull_cb(void *arg, const char *topic, const void *data, size_t len)
{
    struct pull_rec *r = arg;
    assert_null(topic);
    assert_true(r->n < 8 && len < 32);
    memcpy(r->got[r->n], data, len);
    r->got[r->n][len] = '\0';
    r->n++;
}

/* PUSH queues while no PULL is bound, then delivers in order. */
static void test_push_pull(void **state)
{
    (void)state;
    char addr[300];
    struct event_base *base = event_base_new();
    struct bus *push, *pull;
    struct pull_rec r = {0};
    const char *msgs[3] = {"one", "two", "three"};

    test_addr("ipc", addr, sizeof(addr));
    assert_int_equal(bus_new(base, BUS_PUSH, &push), ERR_OK);
    assert_int_equal(bus_connect(push, addr), ERR_OK);
    for (int i = 0; i < 3; i++) {
        char *p = dup_str(msgs[i]);
        assert_int_equal(bus_send(push, p, strlen(p)), ERR_OK);
    }
    assert_int_equal(bus_new(base, BUS_PULL, &pull), ERR_OK);
    assert_int_equal(bus_on_message(pull, pull_cb, &r), ERR_OK);
    assert_int_equal(bus_bind(pull, addr), ERR_OK);
    for (int i = 0; i < 500 && r.n < 3; i++)
        run_until(base, NULL, 10);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.got[0], "one");
    assert_string_equal(r.got[1], "two");
    assert_string_equal(r.got[2], "three");
    /* An empty message is a message. */
    assert_int_equal(bus_send(push, NULL, 0), ERR_OK);
    for (int i = 0; i < 500 && r.n < 4; i++)
        run_until(base, NULL, 10);
    assert_int_equal(r.n, 4);
    assert_string_equal(r.got[3], "");
    struct bus_stats st;
    bus_stats(push, &st);
    assert_int_equal(st.sent, 4);
    bus_stats(pull, &st);
    assert_int_equal(st.received, 4);
    bus_free(push);
    bus_free(pull);
    event_base_free(base);
}

/* ---- errors -------------------------------------------------------------------- */

static struct bus_reply *kept_reply;

static void keep_cb(void *arg, struct bus_reply *r, const void *data, size_t len)
{
    (void)data;
    (void)len;
    *(int *)arg = 1;
    kept_reply = r;
}

static void test_too_big(void **state)
{
    (void)state;
    char addr[300];
    struct event_base *base = event_base_new();
    struct bus *req, *rep, *pub, *push, *blocking;
    size_t big = BUS_MAX_MSG + 1;
    char *p = calloc(1, big);
    struct call c = {0};
    int got = 0, completed = 0;
    void *reply = NULL;
    size_t reply_len = 0;

    assert_non_null(p);
    test_addr("inproc", addr, sizeof(addr));
    assert_int_equal(bus_new(base, BUS_REP, &rep), ERR_OK);
    assert_int_equal(bus_bind(rep, addr), ERR_OK);
    assert_int_equal(bus_serve(rep, keep_cb, &got), ERR_OK);
    assert_int_equal(bus_new(base, BUS_REQ, &req), ERR_OK);
    assert_int_equal(bus_connect(req, addr), ERR_OK);
    assert_int_equal(bus_request(req, p, big, 1000, call_cb, &c), ERR_TOOBIG);
    assert_int_equal(bus_pending(req), 0);
    /* A request of exactly BUS_MAX_MSG goes through. */
    c.completed = &completed;
    char *ok = calloc(1, BUS_MAX_MSG);
    assert_non_null(ok);
    assert_int_equal(bus_request(req, ok, BUS_MAX_MSG, 5000, call_cb, &c), ERR_OK);
    run_until(base, &got, 5000);
    assert_int_equal(got, 1);
    assert_int_equal(bus_reply_send(kept_reply, p, big), ERR_TOOBIG);
    bus_reply_drop(kept_reply);
    assert_int_equal(bus_new(base, BUS_PUB, &pub), ERR_OK);
    assert_int_equal(bus_publish(pub, "t", p, big), ERR_TOOBIG);
    assert_int_equal(bus_new(base, BUS_PUSH, &push), ERR_OK);
    assert_int_equal(bus_send(push, p, big), ERR_TOOBIG);
    assert_int_equal(bus_new(NULL, BUS_REQ, &blocking), ERR_OK);
    assert_int_equal(bus_request_wait(blocking, p, big, 100, &reply, &reply_len), ERR_TOOBIG);
    assert_null(reply);
    p[0] = 'x'; /* still ours */
    free(p);
    bus_free(blocking);
    bus_free(push);
    bus_free(pub);
    bus_free(req);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.status, ERR_CANCELED);
    bus_free(rep);
    event_base_free(base);
}

static void test_bad_address(void **state)
{
    (void)state;
    char addr[300];
    struct bus *b, *b2;
    assert_int_equal(bus_new(NULL, BUS_PUB, &b), ERR_OK);
    assert_int_equal(bus_new(NULL, BUS_PUB, &b2), ERR_OK);
    assert_int_equal(bus_bind(b, "nonsense"), ERR_INVAL);
    assert_int_equal(bus_bind(b, "foo://x"), ERR_INVAL);
    assert_int_equal(bus_bind(b, "ws://127.0.0.1:5555"), ERR_INVAL);
    assert_int_equal(bus_bind(b, "tcp://127.0.0.1:notaport"), ERR_INVAL);
    assert_int_equal(bus_bind(b, "tcp://127.0.0.1:70000"), ERR_INVAL);
    assert_int_equal(bus_bind(b, "tcp://127.0.0.1"), ERR_INVAL);
    assert_int_equal(bus_connect(b, "tcp://"), ERR_INVAL);
    assert_int_equal(bus_connect(b, "bogus:/x"), ERR_INVAL);
    assert_int_equal(bus_connect(b, NULL), ERR_INVAL);
    char longname[200];
    memset(longname, 'a', sizeof(longname));
    memcpy(longname, "ipc:///", 7);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(bus_bind(b, longname), ERR_INVAL);
    test_addr("tcp", addr, sizeof(addr));
    assert_int_equal(bus_bind(b, addr), ERR_OK);
    assert_int_equal(bus_bind(b2, addr), ERR_EXISTS);
    bus_free(b2);
    bus_free(b);
    assert_int_equal(bus_new(NULL, (enum bus_kind)42, &b), ERR_INVAL);
}

static void noop_req_cb(void *arg, struct bus_reply *r, const void *data, size_t len)
{
    (void)arg;
    (void)data;
    (void)len;
    bus_reply_drop(r);
}

static void noop_msg_cb(void *arg, const char *topic, const void *data, size_t len)
{
    (void)arg;
    (void)topic;
    (void)data;
    (void)len;
}

/* Calls on the wrong kind of endpoint, or with bad arguments. */
static void test_wrong_kind_and_args(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct bus *req, *rep, *pub, *sub, *blocking_rep;
    struct call c = {0};
    char *p = dup_str("x");
    void *reply = NULL;
    size_t rl = 0;

    assert_int_equal(bus_new(base, BUS_REQ, &req), ERR_OK);
    assert_int_equal(bus_new(base, BUS_REP, &rep), ERR_OK);
    assert_int_equal(bus_new(base, BUS_PUB, &pub), ERR_OK);
    assert_int_equal(bus_new(base, BUS_SUB, &sub), ERR_OK);
    assert_int_equal(bus_new(NULL, BUS_REP, &blocking_rep), ERR_OK);
    assert_int_equal(bus_request(pub, p, 1, 100, call_cb, &c), ERR_STATE);
    assert_int_equal(bus_request(req, p, 1, 0, call_cb, &c), ERR_INVAL);
    assert_int_equal(bus_request(req, p, 1, -2, call_cb, &c), ERR_INVAL);
    assert_int_equal(bus_request(req, p, 1, 100, NULL, &c), ERR_INVAL);
    assert_int_equal(bus_request_wait(req, p, 1, 100, &reply, &rl), ERR_STATE);
    assert_int_equal(bus_publish(req, "t", p, 1), ERR_STATE);
    assert_int_equal(bus_publish(pub, "", p, 1), ERR_INVAL);
    char topic[BUS_MAX_TOPIC + 2];
    memset(topic, 't', sizeof(topic));
    topic[sizeof(topic) - 1] = '\0';
    assert_int_equal(bus_publish(pub, topic, p, 1), ERR_INVAL);
    assert_int_equal(bus_subscribe(sub, topic), ERR_INVAL);
    assert_int_equal(bus_subscribe(pub, "job."), ERR_STATE);
    assert_int_equal(bus_unsubscribe(sub, "never"), ERR_NOTFOUND);
    assert_int_equal(bus_subscribe(sub, "job."), ERR_OK);
    assert_int_equal(bus_subscribe(sub, "job."), ERR_OK);
    assert_int_equal(bus_unsubscribe(sub, "job.open"), ERR_NOTFOUND);
    assert_int_equal(bus_unsubscribe(sub, "job."), ERR_OK);
    assert_int_equal(bus_unsubscribe(sub, "job."), ERR_OK);
    assert_int_equal(bus_unsubscribe(sub, "job."), ERR_NOTFOUND);
    assert_int_equal(bus_unsubscribe(pub, "job."), ERR_STATE);
    assert_int_equal(bus_send(pub, p, 1), ERR_STATE);
    assert_int_equal(bus_serve(req, noop_req_cb, NULL), ERR_STATE);
    assert_int_equal(bus_serve(rep, NULL, NULL), ERR_INVAL);
    assert_int_equal(bus_serve(blocking_rep, noop_req_cb, NULL), ERR_STATE);
    assert_int_equal(bus_serve(rep, noop_req_cb, NULL), ERR_OK);
    assert_int_equal(bus_serve(rep, noop_req_cb, NULL), ERR_STATE);
    assert_int_equal(bus_on_message(rep, noop_msg_cb, NULL), ERR_STATE);
    assert_int_equal(bus_on_message(sub, noop_msg_cb, NULL), ERR_OK);
    assert_int_equal(bus_on_message(sub, noop_msg_cb, NULL), ERR_STATE);
    assert_int_equal(c.calls, 0);
    free(p);
    bus_free(blocking_rep);
    bus_free(sub);
    bus_free(pub);
    bus_free(rep);
    bus_free(req);
    event_base_free(base);
}

/* The wire format bus.h documents, spoken by plain nanomsg peers: a cooked
 * nanomsg REQ gets its answer from a bus REP; a nanomsg PUB's "topic\0payload"
 * reaches a bus SUB, and a message without the NUL is counted as malformed. */
static void test_wire_format_interop(void **state)
{
    (void)state;
    char addr[300], addr2[300];
    struct event_base *base = event_base_new();
    struct server s;
    struct bus *sub;
    struct sub_rec r = {0};
    struct bus_stats st;
    char reply[64];
    int n = -1;

    test_addr("ipc", addr, sizeof(addr));
    server_start(&s, base, addr, 0);
    int req = nn_socket(AF_SP, NN_REQ);
    assert_true(req >= 0);
    assert_true(nn_connect(req, addr) >= 0);
    assert_int_equal(nn_send(req, "ping", 4, 0), 4);
    for (int i = 0; i < 500 && n < 0; i++) {
        run_until(base, NULL, 10);
        n = nn_recv(req, reply, sizeof(reply), NN_DONTWAIT);
    }
    assert_int_equal(n, 9);
    assert_memory_equal(reply, "echo:ping", 9);
    nn_close(req);

    test_addr("ipc", addr2, sizeof(addr2));
    int pub = nn_socket(AF_SP, NN_PUB);
    assert_true(pub >= 0);
    assert_true(nn_bind(pub, addr2) >= 0);
    assert_int_equal(bus_new(base, BUS_SUB, &sub), ERR_OK);
    assert_int_equal(bus_subscribe(sub, ""), ERR_OK);
    assert_int_equal(bus_on_message(sub, sub_cb, &r), ERR_OK);
    assert_int_equal(bus_connect(sub, addr2), ERR_OK);
    for (int i = 0; i < 500 && !r.synced; i++) {
        assert_int_equal(nn_send(pub, "sync\0", 5, 0), 5);
        run_until(base, NULL, 10);
    }
    assert_true(r.synced);
    assert_int_equal(nn_send(pub, "no separator", 12, 0), 12);
    assert_int_equal(nn_send(pub, "job.open.IA\0{\"v\":1}", 19, 0), 19);
    assert_int_equal(nn_send(pub, "sync.end\0", 9, 0), 9);
    for (int i = 0; i < 500 && !r.ended; i++)
        run_until(base, NULL, 10);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.got[0], "job.open.IA|{\"v\":1}");
    bus_stats(sub, &st);
    assert_int_equal(st.malformed, 1);
    nn_close(pub);
    bus_free(sub);
    bus_free(s.bus);
    event_base_free(base);
}

/* ---- blocking requests ------------------------------------------------------- */

struct thread_server {
    char addr[300];
    struct event_base *base;
    struct bus *bus;
    struct bus_reply *late;
    struct event *late_timer;
    int ready;
    pthread_mutex_t mu;
};

static void late_cb(evutil_socket_t fd, short what, void *arg)
{
    struct thread_server *ts = arg;
    (void)fd;
    (void)what;
    char *p = dup_str("echo:late");
    if (bus_reply_send(ts->late, p, 9) != ERR_OK)
        free(p);
    ts->late = NULL;
}

static void thread_req_cb(void *arg, struct bus_reply *r, const void *data, size_t len)
{
    struct thread_server *ts = arg;
    if (len == 4 && memcmp(data, "late", 4) == 0) {
        struct timeval tv = {0, 150000};
        ts->late = r; /* answered after the client gave up */
        event_add(ts->late_timer, &tv);
        return;
    }
    char txt[64];
    int n = snprintf(txt, sizeof(txt), "echo:%.*s", (int)len, (const char *)data);
    char *p = dup_str(txt);
    if (bus_reply_send(r, p, (size_t)n) != ERR_OK) {
        free(p);
        bus_reply_drop(r);
    }
    if (len == 4 && memcmp(data, "quit", 4) == 0) {
        /* nanomsg 1.1 has no linger: closing at once could lose the reply. */
        struct timeval tv = {0, 200000};
        event_base_loopexit(ts->base, &tv);
    }
}

static void *server_thread(void *arg)
{
    struct thread_server *ts = arg;
    ts->base = event_base_new();
    ts->late_timer = evtimer_new(ts->base, late_cb, ts);
    if (bus_new(ts->base, BUS_REP, &ts->bus) != ERR_OK || bus_bind(ts->bus, ts->addr) != ERR_OK ||
        bus_serve(ts->bus, thread_req_cb, ts) != ERR_OK)
        return NULL;
    pthread_mutex_lock(&ts->mu);
    ts->ready = 1;
    pthread_mutex_unlock(&ts->mu);
    event_base_dispatch(ts->base);
    bus_free(ts->bus);
    event_free(ts->late_timer);
    event_base_free(ts->base);
    return NULL;
}

static void test_request_wait(void **state)
{
    (void)state;
    struct thread_server ts;
    pthread_t th;
    struct bus *cl;
    void *reply = NULL;
    size_t len = 0;
    struct bus_stats st;

    memset(&ts, 0, sizeof(ts));
    pthread_mutex_init(&ts.mu, NULL);
    test_addr("ipc", ts.addr, sizeof(ts.addr));
    assert_int_equal(pthread_create(&th, NULL, server_thread, &ts), 0);
    for (;;) {
        pthread_mutex_lock(&ts.mu);
        int ready = ts.ready;
        pthread_mutex_unlock(&ts.mu);
        if (ready)
            break;
        usleep(1000);
    }
    assert_int_equal(bus_new(NULL, BUS_REQ, &cl), ERR_OK);
    assert_int_equal(bus_connect(cl, ts.addr), ERR_OK);
    assert_int_equal(bus_request_wait(cl, "hello", 5, 5000, &reply, &len), ERR_OK);
    assert_int_equal(len, 10);
    assert_string_equal((char *)reply, "echo:hello"); /* NUL-terminated */
    free(reply);
    reply = NULL;
    assert_int_equal(bus_request_wait(cl, "late", 4, 50, &reply, &len), ERR_TIMEDOUT);
    assert_null(reply);
    usleep(250000); /* the late answer arrives and waits in the socket */
    assert_int_equal(bus_request_wait(cl, "again", 5, -1, &reply, &len), ERR_OK);
    assert_string_equal((char *)reply, "echo:again");
    free(reply);
    bus_stats(cl, &st);
    assert_int_equal(st.late_replies, 1);
    assert_int_equal(bus_request_wait(cl, "x", 1, 0, &reply, &len), ERR_INVAL);
    assert_int_equal(bus_request_wait(cl, "quit", 4, 5000, &reply, &len), ERR_OK);
    assert_string_equal((char *)reply, "echo:quit");
    free(reply);
    assert_int_equal(pthread_join(th, NULL), 0);
    pthread_mutex_destroy(&ts.mu);
    bus_free(cl);
}

/* A blocking PUSH with no peer refuses rather than waits; PUB never waits. */
static void test_blocking_send(void **state)
{
    (void)state;
    char addr[300];
    struct bus *push, *pub;
    char *p = dup_str("x");
    test_addr("ipc", addr, sizeof(addr));
    assert_int_equal(bus_new(NULL, BUS_PUSH, &push), ERR_OK);
    assert_int_equal(bus_connect(push, addr), ERR_OK);
    assert_int_equal(bus_send(push, p, 1), ERR_UNAVAILABLE);
    assert_int_equal(bus_new(NULL, BUS_PUB, &pub), ERR_OK);
    assert_int_equal(bus_publish(pub, "job.closed", p, 1), ERR_OK); /* p is bus's now */
    bus_free(pub);
    bus_free(push);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reqrep_inproc),
        cmocka_unit_test(test_reqrep_ipc),
        cmocka_unit_test(test_reqrep_tcp),
        cmocka_unit_test(test_64_in_flight_out_of_order),
        cmocka_unit_test(test_timeout_once),
        cmocka_unit_test(test_mixed_timeouts),
        cmocka_unit_test(test_shutdown_cancels),
        cmocka_unit_test(test_pubsub_prefix_ipc),
        cmocka_unit_test(test_pubsub_prefix_tcp),
        cmocka_unit_test(test_push_pull),
        cmocka_unit_test(test_wire_format_interop),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_bad_address),
        cmocka_unit_test(test_wrong_kind_and_args),
        cmocka_unit_test(test_request_wait),
        cmocka_unit_test(test_blocking_send),
    };
    return cmocka_run_group_tests(tests, make_tmp_dir, remove_tmp_dir);
}
