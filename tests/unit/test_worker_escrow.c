/*
 * Unit tests for the worker's claim path against a scripted JSON-RPC node
 * (an evhttp server in a thread of this test): escrow's fees (handed in
 * fresh, stale, or read with getJob), its nonce count and how it recovers
 * (nonce too low, replacement underpriced, a transaction never mined, a
 * refusal that used no nonce), the "sent" and "accepted" stamps of a claim,
 * and chainhead's readings. The real contract runs in
 * tests/integration/worker_daemon.sh.
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "eth/key.h"
#include "eth/rpc.h"
#include "eth/tx.h"
#include "eth/u256.h"
#include "hex.h"
#include "services/worker/chainhead.h"
#include "services/worker/escrow.h"
#include "mono.h"

/* anvil's first development key (public test key). */
#define TEST_KEY   "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
#define CHAIN_ID   31337
#define ESCROW_HEX "5fbdb2315678afecb367f032d93f642f64180aa3"
#define JOB_ID     "0x9414886b1ebf025db067a4cbd13a0903fbd9733a5372bba1b58bd72c1699b798"
#define SPEC_HEX   "d4f02eaafd1a9e9de7d10972ca8e47fa7a985825c3c9c1e249c72683cb3e4f19"
/* The node's tip and base fee (wei); escrow_set_fees() below hands others. */
#define NODE_TIP  1000000000ull
#define NODE_BASE 7ull
/* The node takes this long to answer eth_sendRawTransaction. */
#define SEND_DELAY_MS 100

/* ---- a scripted node ------------------------------------------------------ */

static struct event_base *srv_base;
static struct evhttp *srv_http;
static struct event *srv_stop;
static pthread_t srv_thread;
static int srv_port;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

struct node {
    uint64_t pending;     /* eth_getTransactionCount(pending) */
    uint64_t base_fee;    /* baseFeePerGas of "latest" */
    uint64_t block;       /* its number */
    int no_base_fee;      /* a pre-London block */
    const char *sends[4]; /* answers to the next sends: NULL accepts, else an error message */
    size_t n_sends;
    /* calls seen */
    int n_block, n_count, n_call, n_send, n_estimate, n_receipt;
    /* the last transaction accepted */
    uint64_t tx_nonce, tx_gas;
    struct u256 tx_max_fee, tx_tip;
};
static struct node nd;

static void put(cJSON *out, cJSON *id, cJSON *result, const char *error)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "jsonrpc", "2.0");
    cJSON_AddItemToObject(r, "id", cJSON_Duplicate(id, 1));
    if (error != NULL) {
        cJSON *e = cJSON_AddObjectToObject(r, "error");
        cJSON_AddNumberToObject(e, "code", -32000);
        cJSON_AddStringToObject(e, "message", error);
        cJSON_Delete(result);
    } else {
        cJSON_AddItemToObject(r, "result", result);
    }
    cJSON_AddItemToArray(out, r);
}

static cJSON *qty(uint64_t v)
{
    char s[32];
    (void)snprintf(s, sizeof(s), "0x%llx", (unsigned long long)v);
    return cJSON_CreateString(s);
}

/* getJob's 10-word answer: an Open job paying 1250 cents with SPEC_HEX. */
static cJSON *getjob_answer(void)
{
    char w[10][65];
    static char hexs[2 + 10 * 64 + 1];
    const uint64_t vals[] = {0, 4166666666666666ull, 0, 1, 4102444800ull, 0, 600, 3600, 1250};
    for (int i = 0; i < 9; i++)
        (void)snprintf(w[i], sizeof(w[i]), "%064llx", (unsigned long long)vals[i]);
    (void)snprintf(w[0], sizeof(w[0]), "%024d%s", 0, "00000000000000000000000000000000000000c1");
    (void)snprintf(w[9], sizeof(w[9]), "%s", SPEC_HEX);
    size_t off = 0;
    hexs[off++] = '0';
    hexs[off++] = 'x';
    for (int i = 0; i < 10; i++, off += 64)
        memcpy(hexs + off, w[i], 64);
    hexs[off] = '\0';
    return cJSON_CreateString(hexs);
}

/* Answer one request object into <out>. Under mu. */
static void answer_one(const cJSON *rq, cJSON *out)
{
    cJSON *id = cJSON_GetObjectItem(rq, "id");
    const char *m = cJSON_GetStringValue(cJSON_GetObjectItem(rq, "method"));
    const cJSON *params = cJSON_GetObjectItem(rq, "params");
    if (m == NULL) {
        put(out, id, NULL, "no method");
    } else if (strcmp(m, "eth_chainId") == 0) {
        put(out, id, qty(CHAIN_ID), NULL);
    } else if (strcmp(m, "eth_getTransactionCount") == 0) {
        nd.n_count++;
        put(out, id, qty(nd.pending), NULL);
    } else if (strcmp(m, "eth_maxPriorityFeePerGas") == 0) {
        put(out, id, qty(NODE_TIP), NULL);
    } else if (strcmp(m, "eth_getBlockByNumber") == 0) {
        nd.n_block++;
        cJSON *b = cJSON_CreateObject();
        char h[67];
        (void)snprintf(h, sizeof(h), "0x%064llx", (unsigned long long)nd.block + 1);
        cJSON_AddItemToObject(b, "number", qty(nd.block));
        cJSON_AddStringToObject(b, "hash", h);
        (void)snprintf(h, sizeof(h), "0x%064llx", (unsigned long long)nd.block);
        cJSON_AddStringToObject(b, "parentHash", h);
        cJSON_AddItemToObject(b, "timestamp", qty(1700000000));
        cJSON_AddItemToObject(b, "gasLimit", qty(30000000));
        cJSON_AddItemToObject(b, "gasUsed", qty(0));
        if (!nd.no_base_fee)
            cJSON_AddItemToObject(b, "baseFeePerGas", qty(nd.base_fee));
        put(out, id, b, NULL);
    } else if (strcmp(m, "eth_call") == 0) {
        nd.n_call++;
        put(out, id, getjob_answer(), NULL);
    } else if (strcmp(m, "eth_estimateGas") == 0) {
        nd.n_estimate++;
        put(out, id, qty(40000), NULL);
    } else if (strcmp(m, "eth_getTransactionReceipt") == 0) {
        nd.n_receipt++;
        put(out, id, cJSON_CreateNull(), NULL); /* never mined */
    } else if (strcmp(m, "eth_sendRawTransaction") == 0) {
        nd.n_send++;
        const char *err = nd.n_sends > 0 ? nd.sends[0] : NULL;
        if (nd.n_sends > 0) {
            memmove(&nd.sends[0], &nd.sends[1], (nd.n_sends - 1) * sizeof(nd.sends[0]));
            nd.n_sends--;
        }
        struct buf raw;
        struct tx t;
        buf_init(&raw, 0);
        tx_init(&t, TX_EIP1559, CHAIN_ID);
        const char *hx = cJSON_GetStringValue(cJSON_GetArrayItem(params, 0));
        if (err == NULL && hx != NULL && hex_decode_buf(hx, &raw) == ERR_OK &&
            tx_decode_raw((const uint8_t *)raw.data, raw.len, &t) == ERR_OK) {
            nd.tx_nonce = t.nonce;
            nd.tx_gas = t.gas_limit;
            nd.tx_max_fee = t.max_fee_per_gas;
            nd.tx_tip = t.max_priority_fee_per_gas;
            if (t.nonce + 1 > nd.pending)
                nd.pending = t.nonce + 1;
            uint8_t h[32];
            char hs[67];
            if (tx_hash(&t, h) == ERR_OK) {
                hex_encode(h, 32, true, hs);
                put(out, id, cJSON_CreateString(hs), NULL);
            } else {
                put(out, id, NULL, "cannot hash");
            }
        } else {
            put(out, id, NULL, err ? err : "cannot decode");
        }
        tx_release(&t);
        buf_release(&raw);
    } else {
        put(out, id, NULL, "method not found");
    }
}

static void srv_cb(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    char *body = calloc(1, n + 1);
    evbuffer_remove(in, body, n);
    cJSON *rq = cJSON_Parse(body);
    cJSON *out = cJSON_CreateArray();
    int delay = 0;
    pthread_mutex_lock(&mu);
    if (cJSON_IsArray(rq)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, rq) answer_one(it, out);
    } else if (rq != NULL) {
        answer_one(rq, out);
        const char *m = cJSON_GetStringValue(cJSON_GetObjectItem(rq, "method"));
        delay = m != NULL && strcmp(m, "eth_sendRawTransaction") == 0;
    }
    pthread_mutex_unlock(&mu);
    if (delay) {
        struct timespec ts = {0, SEND_DELAY_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    char *text = cJSON_PrintUnformatted(cJSON_IsArray(rq) ? out : cJSON_GetArrayItem(out, 0));
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, text, strlen(text));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
    free(text);
    cJSON_Delete(out);
    cJSON_Delete(rq);
    free(body);
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

static int srv_setup(void **state)
{
    (void)state;
    if (evthread_use_pthreads() == -1)
        return -1;
    srv_base = event_base_new();
    srv_http = evhttp_new(srv_base);
    evhttp_set_allowed_methods(srv_http, EVHTTP_REQ_POST);
    evhttp_set_gencb(srv_http, srv_cb, NULL);
    struct evhttp_bound_socket *s = evhttp_bind_socket_with_handle(srv_http, "127.0.0.1", 0);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    if (s == NULL || getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&sa, &sl) == -1)
        return -1;
    srv_port = ntohs(sa.sin_port);
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
    return 0;
}

/* ---- helpers -------------------------------------------------------------- */

static void url(char *out, size_t n)
{
    (void)snprintf(out, n, "http://127.0.0.1:%d", srv_port);
}

/* A fresh node with <pending> as the key's count, and an escrow on it. */
static struct escrow *start(struct key *k, uint64_t pending)
{
    pthread_mutex_lock(&mu);
    memset(&nd, 0, sizeof(nd));
    nd.pending = pending;
    nd.base_fee = NODE_BASE;
    nd.block = 100;
    pthread_mutex_unlock(&mu);
    struct buf msg;
    uint8_t escrow_addr[20];
    char u[64];
    struct escrow *e = NULL;
    buf_init(&msg, 1024);
    url(u, sizeof(u));
    assert_int_equal(key_from_hex(TEST_KEY, k), ERR_OK);
    assert_int_equal(hex_decode_exact(ESCROW_HEX, escrow_addr, 20), ERR_OK);
    assert_int_equal(escrow_new(u, escrow_addr, CHAIN_ID, k, &e, &msg), ERR_OK);
    buf_release(&msg);
    return e;
}

static void job_id(uint8_t id[32])
{
    assert_int_equal(hex_decode_exact(JOB_ID, id, 32), ERR_OK);
}

static struct node snap(void)
{
    pthread_mutex_lock(&mu);
    struct node n = nd;
    pthread_mutex_unlock(&mu);
    return n;
}

static void script(const char *a, const char *b)
{
    pthread_mutex_lock(&mu);
    nd.sends[0] = a;
    nd.sends[1] = b;
    nd.n_sends = b != NULL ? 2 : 1;
    pthread_mutex_unlock(&mu);
}

/* One claim test's state: an escrow on a fresh node (start()), the job id
 * and the claim's outputs. */
struct claim_case {
    struct key k;
    struct escrow *e;
    struct escrow_sent sent;
    struct buf msg;
    uint8_t id[32], tx[32];
};

/* start(<pending>), then hand in the fees of a reading taken at
 * <fees_at_ns> (CLOCK_MONOTONIC): base fee 1000 wei, tip 3 wei. */
static void case_open(struct claim_case *c, uint64_t pending, uint64_t fees_at_ns)
{
    c->e = start(&c->k, pending);
    buf_init(&c->msg, 1024);
    job_id(c->id);
    escrow_set_fees(c->e, u256_from_u64(1000), u256_from_u64(3), fees_at_ns);
}

static void case_close(struct claim_case *c)
{
    escrow_free(c->e);
    buf_release(&c->msg);
}

/* ---- tests ---------------------------------------------------------------- */

/* Fees handed in fresh: getJob is one eth_call, the claim reads nothing, its
 * max fee is 2 x base + tip of the handed-in reading, and the stamps say when
 * it was written (before the node's 100 ms answer) and when it was taken. */
static void test_claim_fresh_fees(void **state)
{
    (void)state;
    struct key k;
    struct escrow *e = start(&k, 5);
    struct escrow_job j;
    struct escrow_sent sent;
    struct buf msg;
    uint8_t id[32], tx[32], spec[32];
    buf_init(&msg, 1024);
    job_id(id);
    /* No reading handed in yet: the block comes with getJob, in one batch. */
    assert_int_equal(escrow_get_job(e, id, &j, &msg), ERR_OK);
    struct node n = snap();
    assert_int_equal(n.n_call, 1);
    assert_int_equal(n.n_block, 1);
    assert_int_equal(j.status, ESCROW_OPEN);
    assert_int_equal(j.price_cents, 1250);
    assert_int_equal(j.max_runtime, 600);
    assert_int_equal(j.window, 3600);
    assert_int_equal(j.deadline, 4102444800u);
    assert_int_equal(j.client[19], 0xc1);
    assert_int_equal(hex_decode_exact(SPEC_HEX, spec, 32), ERR_OK);
    assert_memory_equal(j.spec_hash, spec, 32);

    escrow_set_fees(e, u256_from_u64(1000), u256_from_u64(3), mono_ns());
    assert_int_equal(escrow_get_job(e, id, &j, &msg), ERR_OK);
    n = snap();
    assert_int_equal(n.n_call, 2);
    assert_int_equal(n.n_block, 1); /* no block read: the fees are fresh */
    uint64_t before = mono_ns();
    assert_int_equal(escrow_claim(e, id, tx, &sent, &msg), ERR_OK);
    uint64_t after = mono_ns();
    n = snap();
    assert_int_equal(n.n_block, 1);
    assert_int_equal(n.n_estimate, 0);
    assert_int_equal(n.n_count, 1); /* at start only */
    assert_int_equal(n.n_send, 1);
    assert_int_equal(n.tx_nonce, 5);
    assert_int_equal(n.tx_gas, 60000);
    assert_int_equal(u256_cmp(n.tx_max_fee, u256_from_u64(2003)), 0);
    assert_int_equal(u256_cmp(n.tx_tip, u256_from_u64(3)), 0);
    assert_true(before < sent.sent_ns);
    assert_true(sent.sent_ns < sent.accepted_ns);
    assert_true(sent.accepted_ns <= after);
    /* The node sleeps SEND_DELAY_MS before answering: written well before. */
    assert_true(sent.accepted_ns - sent.sent_ns >= (uint64_t)SEND_DELAY_MS * 1000000u);
    /* The next claim takes the next nonce without asking. */
    assert_int_equal(escrow_claim(e, id, tx, &sent, &msg), ERR_OK);
    n = snap();
    assert_int_equal(n.tx_nonce, 6);
    assert_int_equal(n.n_count, 1);
    escrow_free(e);
    buf_release(&msg);
}

/* A reading older than 3 s is not used: the claim reads the block itself. */
static void test_claim_stale_fees(void **state)
{
    (void)state;
    struct claim_case c;
    case_open(&c, 0, mono_ns() - 10000000000ull);
    assert_int_equal(escrow_claim(c.e, c.id, c.tx, &c.sent, &c.msg), ERR_OK);
    struct node n = snap();
    assert_int_equal(n.n_block, 1);
    /* 2 x the node's base fee + the handed-in tip. */
    assert_int_equal(u256_cmp(n.tx_max_fee, u256_from_u64(2 * NODE_BASE + 3)), 0);
    case_close(&c);
}

/* Another sender used the key: "nonce too low" re-reads the count once. */
static void test_nonce_too_low(void **state)
{
    (void)state;
    struct claim_case c;
    case_open(&c, 5, mono_ns());
    pthread_mutex_lock(&mu);
    nd.pending = 9;
    pthread_mutex_unlock(&mu);
    script("nonce too low: next nonce 9, tx nonce 5", NULL);
    assert_int_equal(escrow_claim(c.e, c.id, c.tx, &c.sent, &c.msg), ERR_OK);
    struct node n = snap();
    assert_int_equal(n.n_send, 2);
    assert_int_equal(n.n_count, 2);
    assert_int_equal(n.tx_nonce, 9);
    assert_int_equal(escrow_claim(c.e, c.id, c.tx, &c.sent, &c.msg), ERR_OK);
    n = snap();
    assert_int_equal(n.tx_nonce, 10);
    assert_int_equal(n.n_count, 2);
    case_close(&c);
}

/* A transaction of ours we counted as lost holds the nonce in the pool:
 * "replacement transaction underpriced" re-reads the count too. */
static void test_nonce_underpriced(void **state)
{
    (void)state;
    struct claim_case c;
    case_open(&c, 3, mono_ns());
    pthread_mutex_lock(&mu);
    nd.pending = 4;
    pthread_mutex_unlock(&mu);
    script("replacement transaction underpriced", NULL);
    assert_int_equal(escrow_claim(c.e, c.id, c.tx, &c.sent, &c.msg), ERR_OK);
    struct node n = snap();
    assert_int_equal(n.n_count, 2);
    assert_int_equal(n.tx_nonce, 4);
    /* Underpriced twice is the error, after one re-read. */
    script("transaction underpriced", "transaction underpriced");
    buf_reset(&c.msg);
    assert_int_equal(escrow_claim(c.e, c.id, c.tx, &c.sent, &c.msg), ERR_RPC);
    assert_non_null(strstr(buf_cstr(&c.msg), "underpriced"));
    n = snap();
    assert_int_equal(n.n_count, 3);
    case_close(&c);
}

/* A refusal with an error object used no nonce: the count stays, no re-read. */
static void test_refused_keeps_nonce(void **state)
{
    (void)state;
    struct claim_case c;
    case_open(&c, 2, mono_ns());
    script("insufficient funds for gas * price + value", NULL);
    assert_int_equal(escrow_claim(c.e, c.id, c.tx, &c.sent, &c.msg), ERR_RPC);
    assert_non_null(strstr(buf_cstr(&c.msg), "claim: rpc: -32000: insufficient funds"));
    struct node n = snap();
    assert_int_equal(n.n_count, 1);
    assert_int_equal(escrow_claim(c.e, c.id, c.tx, &c.sent, &c.msg), ERR_OK);
    n = snap();
    assert_int_equal(n.tx_nonce, 2);
    case_close(&c);
}

/* A transaction never mined (the node dropped it): escrow_wait's timeout
 * re-reads the count, so the next transaction reuses the dropped nonce
 * instead of queueing behind a gap forever. */
static void test_wait_timeout_resyncs(void **state)
{
    (void)state;
    struct claim_case c;
    struct escrow_receipt r;
    case_open(&c, 7, mono_ns());
    assert_int_equal(escrow_claim(c.e, c.id, c.tx, &c.sent, &c.msg), ERR_OK);
    assert_int_equal(snap().tx_nonce, 7);
    pthread_mutex_lock(&mu);
    nd.pending = 7; /* dropped from the pool */
    pthread_mutex_unlock(&mu);
    assert_int_equal(escrow_wait(c.e, c.tx, 120, &r, &c.msg), ERR_TIMEDOUT);
    assert_non_null(strstr(buf_cstr(&c.msg), "not mined after 120 ms"));
    struct node n = snap();
    assert_true(n.n_receipt >= 1);
    assert_int_equal(n.n_count, 2);
    escrow_set_fees(c.e, u256_from_u64(1000), u256_from_u64(3), mono_ns());
    assert_int_equal(escrow_claim(c.e, c.id, c.tx, &c.sent, &c.msg), ERR_OK);
    assert_int_equal(snap().tx_nonce, 7);
    case_close(&c);
}

/* chainhead: a reading at start, a new one when poked, the base fee and tip
 * as the node says; a pre-London head is refused at start. */
static void test_chainhead(void **state)
{
    (void)state;
    struct key k;
    escrow_free(start(&k, 0)); /* resets the node */
    struct chainhead *h = NULL;
    struct chainhead_fees f;
    struct buf msg;
    char u[64];
    buf_init(&msg, 1024);
    url(u, sizeof(u));
    assert_int_equal(chainhead_start(u, 0, &h, &msg), ERR_INVAL);
    uint64_t t0 = mono_ns();
    /* An hour between readings: only pokes bring new ones here. */
    assert_int_equal(chainhead_start(u, 3600000, &h, &msg), ERR_OK);
    chainhead_get(h, &f);
    assert_int_equal(f.block, 100);
    assert_int_equal(u256_cmp(f.base_fee_wei, u256_from_u64(NODE_BASE)), 0);
    assert_int_equal(u256_cmp(f.tip_wei, u256_from_u64(NODE_TIP)), 0);
    assert_true(f.read_ns > t0);
    pthread_mutex_lock(&mu);
    nd.block = 101;
    nd.base_fee = 9;
    pthread_mutex_unlock(&mu);
    chainhead_poke(h);
    /* Wait for the reading (a condition, with a generous limit). */
    for (int i = 0; i < 1000; i++) {
        chainhead_get(h, &f);
        if (f.block == 101)
            break;
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(f.block, 101);
    assert_int_equal(u256_cmp(f.base_fee_wei, u256_from_u64(9)), 0);
    chainhead_free(h);
    chainhead_free(NULL);

    pthread_mutex_lock(&mu);
    nd.no_base_fee = 1;
    pthread_mutex_unlock(&mu);
    h = NULL;
    buf_reset(&msg);
    assert_int_equal(chainhead_start(u, 1000, &h, &msg), ERR_PROTO);
    assert_null(h);
    assert_non_null(strstr(buf_cstr(&msg), "no base fee"));
    assert_int_equal(chainhead_start("http://127.0.0.1:1", 1000, &h, &msg), ERR_UNAVAILABLE);
    assert_int_equal(chainhead_start("ftp://x", 1000, &h, &msg), ERR_INVAL);
    buf_release(&msg);
}

/* The stamp is off unless asked for. */
static void test_rpc_stamp_off(void **state)
{
    (void)state;
    struct rpc *c = NULL;
    char u[64];
    uint64_t v = 0;
    url(u, sizeof(u));
    struct rpc_opts o = {.url = u};
    assert_int_equal(rpc_new(&o, &c), ERR_OK);
    assert_int_equal(rpc_chain_id(c, &v), ERR_OK);
    assert_int_equal(v, CHAIN_ID);
    assert_int_equal(rpc_last_sent_ns(c), 0);
    rpc_free(c);
    o.stamp_sent = 1;
    assert_int_equal(rpc_new(&o, &c), ERR_OK);
    uint64_t t0 = mono_ns();
    assert_int_equal(rpc_chain_id(c, &v), ERR_OK);
    uint64_t t1 = mono_ns();
    assert_true(rpc_last_sent_ns(c) > t0 && rpc_last_sent_ns(c) < t1);
    rpc_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claim_fresh_fees),    cmocka_unit_test(test_claim_stale_fees),
        cmocka_unit_test(test_nonce_too_low),       cmocka_unit_test(test_nonce_underpriced),
        cmocka_unit_test(test_refused_keeps_nonce), cmocka_unit_test(test_wait_timeout_resyncs),
        cmocka_unit_test(test_chainhead),           cmocka_unit_test(test_rpc_stamp_off),
    };
    return cmocka_run_group_tests(tests, srv_setup, srv_teardown);
}
