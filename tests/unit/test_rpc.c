/*
 * Unit tests for common/eth/rpc and common/eth/hexq.
 *
 * A tiny scripted HTTP server (libevent evhttp on its own thread, on a free
 * loopback port) answers each POST with the next scripted (status, body);
 * "$ID" in a body becomes the request's id and "$IDk" the id of call k of a
 * batch, so recorded responses can be replayed to a client whose ids we do not
 * fix. The recorded bodies are real anvil 1.7.1 answers (chain 31337),
 * captured with curl.
 *
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "eth/hexq.h"
#include "eth/rpc.h"

/* ------------------------------------------------------------------ */
/* Scripted server                                                     */

#define SRV_MAX_SCRIPT 64
#define SRV_MAX_REQ    64

struct srv_resp {
    int status;
    const char *body; /* borrowed string literal or test-owned */
    int hang;         /* never answer */
};

struct srv {
    struct event_base *base;
    struct evhttp *http;
    pthread_t thread;
    int port;
    pthread_mutex_t mu;
    struct srv_resp script[SRV_MAX_SCRIPT];
    size_t n_script, next;
    int requests;
    char *last_body;
    int peer_ports[SRV_MAX_REQ];
};

/* Replace $ID / $IDk with the ids of the request <req> (JSON text). */
static char *srv_fill_ids(const char *tmpl, const char *req)
{
    uint64_t ids[SRV_MAX_REQ] = {0};
    size_t n_ids = 0;
    cJSON *root = cJSON_Parse(req);
    if (cJSON_IsArray(root)) {
        const cJSON *el;
        cJSON_ArrayForEach(el, root)
        {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(el, "id");
            if (n_ids < SRV_MAX_REQ && cJSON_IsNumber(id))
                ids[n_ids++] = (uint64_t)id->valuedouble;
        }
    } else if (cJSON_IsObject(root)) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
        if (cJSON_IsNumber(id))
            ids[n_ids++] = (uint64_t)id->valuedouble;
    }
    cJSON_Delete(root);
    struct buf out;
    buf_init(&out, 0);
    for (const char *p = tmpl; *p != '\0'; p++) {
        enum err e;
        if (strncmp(p, "$ID", 3) == 0) {
            size_t k = 0;
            if (p[3] >= '0' && p[3] <= '9') {
                k = (size_t)(p[3] - '0');
                p++;
            }
            e = buf_appendf(&out, "%llu", (unsigned long long)(k < n_ids ? ids[k] : 0));
            p += 2;
        } else {
            e = buf_append_byte(&out, (unsigned char)*p);
        }
        assert_int_equal(e, ERR_OK);
    }
    return buf_detach(&out, NULL);
}

static void srv_handle_cb(struct evhttp_request *req, void *arg)
{
    struct srv *s = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    char *body = calloc(1, n + 1);
    assert_non_null(body);
    evbuffer_remove(in, body, n);
    char *peer = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evhttp_request_get_connection(req), &peer, &port);

    pthread_mutex_lock(&s->mu);
    if (s->requests < SRV_MAX_REQ)
        s->peer_ports[s->requests] = port;
    s->requests++;
    free(s->last_body);
    s->last_body = body;
    struct srv_resp r = {500, "unscripted", 0};
    if (s->next < s->n_script)
        r = s->script[s->next++];
    else if (s->n_script > 0)
        r = s->script[s->n_script - 1]; /* the last entry repeats */
    char *reply = srv_fill_ids(r.body, body);
    pthread_mutex_unlock(&s->mu);

    if (!r.hang) {
        struct evbuffer *out = evbuffer_new();
        evbuffer_add(out, reply, strlen(reply));
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json");
        evhttp_send_reply(req, r.status, r.status == 200 ? "OK" : "Scripted", out);
        evbuffer_free(out);
    }
    free(reply);
}

static void *srv_thread(void *arg)
{
    struct srv *s = arg;
    event_base_loop(s->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static struct srv *srv_start(void)
{
    struct srv *s = calloc(1, sizeof *s);
    assert_non_null(s);
    pthread_mutex_init(&s->mu, NULL);
    s->base = event_base_new();
    assert_non_null(s->base);
    s->http = evhttp_new(s->base);
    assert_non_null(s->http);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_POST);
    evhttp_set_gencb(s->http, srv_handle_cb, s);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
    assert_non_null(bs);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl), 0);
    s->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, srv_thread, s), 0);
    return s;
}

static void srv_stop(struct srv *s)
{
    event_base_loopbreak(s->base);
    pthread_join(s->thread, NULL);
    evhttp_free(s->http);
    event_base_free(s->base);
    pthread_mutex_destroy(&s->mu);
    free(s->last_body);
    free(s);
}

static void srv_push(struct srv *s, int status, const char *body)
{
    pthread_mutex_lock(&s->mu);
    assert_true(s->n_script < SRV_MAX_SCRIPT);
    s->script[s->n_script++] = (struct srv_resp){status, body, 0};
    pthread_mutex_unlock(&s->mu);
}

static int srv_requests(struct srv *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->requests;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* The last request's "params" as compact JSON (caller frees). */
static char *srv_last_params(struct srv *s)
{
    pthread_mutex_lock(&s->mu);
    cJSON *root = cJSON_Parse(s->last_body);
    pthread_mutex_unlock(&s->mu);
    assert_non_null(root);
    char *text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(root, "params"));
    cJSON_Delete(root);
    return text;
}

static char *srv_last_method(struct srv *s)
{
    pthread_mutex_lock(&s->mu);
    cJSON *root = cJSON_Parse(s->last_body);
    pthread_mutex_unlock(&s->mu);
    assert_non_null(root);
    char *m = strdup(cJSON_GetObjectItemCaseSensitive(root, "method")->valuestring);
    cJSON_Delete(root);
    return m;
}

/* A client for <port> with fast backoff so retry tests take milliseconds. */
static struct rpc *client_for(int port, unsigned attempts)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    struct rpc_opts o = {0};
    o.url = url;
    o.connect_timeout_ms = 2000;
    o.timeout_ms = 5000;
    o.max_attempts = attempts;
    o.backoff_base_ms = 1;
    o.backoff_max_ms = 4;
    struct rpc *c = NULL;
    assert_int_equal(rpc_new(&o, &c), ERR_OK);
    return c;
}

static int setup(void **state)
{
    evthread_use_pthreads();
    *state = srv_start();
    return 0;
}

static int teardown(void **state)
{
    srv_stop(*state);
    return 0;
}

static void hex_to(const char *hex, uint8_t *out, size_t n)
{
    assert_int_equal(hexq_parse_fixed(hex, strlen(hex), out, n), ERR_OK);
}

static void assert_u256_hex(const uint8_t v[32], const char *quantity)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(hexq_append_u256(&b, v), ERR_OK);
    assert_string_equal(buf_cstr(&b), quantity);
    buf_release(&b);
}

/* ------------------------------------------------------------------ */
/* Recorded anvil answers                                              */

#define TX1  "0x10227bc640a65ef3caa4827f35d6f9e7171873109301cb806a5692e1de611767"
#define BH1  "0xe6b5edcaabee4407932f54a29d45940b7d409d49767ebee722d177cb0137340e"
#define PH1  "0x20c92980a225733e73f7b5eb4bc9104f8cc3e467429d87f7806930d24946890d"
#define T0   "0x775a94827b8fd9b519d36cd827093c664f93347070a554f65e4a6f56cd738898"
#define CTR  "0x5fbdb2315678afecb367f032d93f642f64180aa3"
#define DEV0 "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
#define DEV1 "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
#define BLOOM                                                                                      \
    "0x0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"   \
    "000000000000000000000000000000000000000000000000000000000000000000000000080000000000000000"   \
    "000000000000000000004000000000000000000000000000000000000000000000000000000008000000000000"   \
    "000000000000000000000000000000000000000000020000000000000000000000000000000000000000000000"   \
    "004000000000000000000000000000004000000000000000000000000000000000000000000000000000000000"   \
    "0000000000000000000000000000000000000000000000000000000000000000"
#define LOG1_JSON                                                                                  \
    "{\"address\":\"" CTR "\",\"topics\":[\"" T0 "\"],\"data\":"                                   \
    "\"0x000000000000000000000000000000000000000000000000000000000000002a\",\"blockHash\":\"" BH1  \
    "\",\"blockNumber\":\"0x1\",\"blockTimestamp\":\"0x6b0cba61\",\"transactionHash\":\"" TX1      \
    "\",\"transactionIndex\":\"0x0\",\"logIndex\":\"0x0\",\"removed\":false}"

static const char rec_block[] =
    "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":{\"hash\":\"" BH1 "\",\"parentHash\":\"" PH1
    "\",\"sha3Uncles\":\"0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347\","
    "\"miner\":\"0x0000000000000000000000000000000000000000\",\"stateRoot\":"
    "\"0x7dcf8c8bbc4fd38bed0dd7f45b0e6058c520e563247fa353e2d0dd819b20fc97\",\"transactionsRoot\":"
    "\"0x6480a4ff3f63a7e8dc46f4f8ec83b80c7acff481b11e6eb20b01bbe07a37a04d\",\"receiptsRoot\":"
    "\"0x1b42aaf4bb8911a4c3911f795542691f5ab3fd609b7a36ab6c78eb2aa4122c03\",\"logsBloom\":\"" BLOOM
    "\",\"difficulty\":\"0x0\",\"number\":\"0x1\",\"gasLimit\":\"0x1c9c380\",\"gasUsed\":"
    "\"0xd5ab\",\"timestamp\":\"0x6b0cba61\",\"extraData\":\"0x\",\"mixHash\":"
    "\"0x9a16d591830a5a3754279efcf44d4ddecaabee8c491c6c00dc710824a77e5c48\",\"nonce\":"
    "\"0x0000000000000000\",\"baseFeePerGas\":\"0x3b9aca00\",\"withdrawalsRoot\":"
    "\"0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421\",\"blobGasUsed\":"
    "\"0x0\",\"excessBlobGas\":\"0x0\",\"parentBeaconBlockRoot\":"
    "\"0x0000000000000000000000000000000000000000000000000000000000000000\",\"requestsHash\":"
    "\"0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\"totalDifficulty\":"
    "\"0x0\",\"size\":\"0x2ef\",\"uncles\":[],\"transactions\":[\"" TX1 "\"],\"withdrawals\":[]}}";

static const char rec_logs[] = "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":[" LOG1_JSON "]}";

static const char rec_receipt[] =
    "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":{\"type\":\"0x2\",\"status\":\"0x1\","
    "\"cumulativeGasUsed\":\"0xd5ab\",\"logs\":[" LOG1_JSON "],\"logsBloom\":\"" BLOOM
    "\",\"transactionHash\":\"" TX1 "\",\"transactionIndex\":\"0x0\",\"blockHash\":\"" BH1
    "\",\"blockNumber\":\"0x1\",\"gasUsed\":\"0xd5ab\",\"effectiveGasPrice\":\"0x3b9aca01\","
    "\"blobGasPrice\":\"0x1\",\"from\":\"" DEV0 "\",\"to\":null,\"contractAddress\":\"" CTR
    "\",\"blockTimestamp\":1795996257}}";

static const char rec_fee_history[] =
    "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":{\"baseFeePerGas\":[\"0x3b9aca00\","
    "\"0x342e6551\",\"0x2daaef1c\"],\"gasUsedRatio\":[0.0018233,0.0007],\"baseFeePerBlobGas\":"
    "[\"0x1\",\"0x1\",\"0x1\"],\"blobGasUsedRatio\":[0.0,0.0],\"oldestBlock\":\"0x1\","
    "\"reward\":[[\"0x1\",\"0x1\"],[\"0x1\",\"0x1\"]]}}";

/* ------------------------------------------------------------------ */
/* hexq                                                                */

static void test_hexq_quantity(void **state)
{
    (void)state;
    uint64_t v = 99;
    assert_int_equal(hexq_parse_u64("0x0", 3, &v), ERR_OK);
    assert_int_equal(v, 0);
    assert_int_equal(hexq_parse_u64("0x7a69", 6, &v), ERR_OK);
    assert_int_equal(v, 31337);
    assert_int_equal(hexq_parse_u64("0xFFFFFFFFFFFFFFFF", 18, &v), ERR_OK);
    assert_true(v == UINT64_MAX);
    v = 7;
    assert_int_equal(hexq_parse_u64("0x10000000000000000", 19, &v), ERR_RANGE);
    assert_int_equal(hexq_parse_u64("0x", 2, &v), ERR_INVAL);
    assert_int_equal(hexq_parse_u64("0x00", 4, &v), ERR_INVAL);
    assert_int_equal(hexq_parse_u64("0x0400", 6, &v), ERR_INVAL);
    assert_int_equal(hexq_parse_u64("0X1", 3, &v), ERR_INVAL);
    assert_int_equal(hexq_parse_u64("1", 1, &v), ERR_INVAL);
    assert_int_equal(hexq_parse_u64("0x1g", 4, &v), ERR_INVAL);
    assert_int_equal(v, 7);

    uint8_t w[32];
    assert_int_equal(hexq_parse_u256("0x21e27c1806e59a40000", 21, w), ERR_OK);
    assert_u256_hex(w, "0x21e27c1806e59a40000"); /* 10001 ether */
    const char *max = "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    assert_int_equal(hexq_parse_u256(max, strlen(max), w), ERR_OK);
    for (int i = 0; i < 32; i++)
        assert_int_equal(w[i], 0xff);
    const char *over = "0x1ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    assert_int_equal(hexq_parse_u256(over, strlen(over), w), ERR_RANGE);
    assert_int_equal(hexq_parse_u256("0x01", 4, w), ERR_INVAL);

    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(hexq_append_u64(&b, 0), ERR_OK);
    assert_int_equal(buf_append_byte(&b, ' '), ERR_OK);
    assert_int_equal(hexq_append_u64(&b, 0x1c9c380), ERR_OK);
    assert_int_equal(buf_append_byte(&b, ' '), ERR_OK);
    assert_int_equal(hexq_append_u64(&b, UINT64_MAX), ERR_OK);
    assert_string_equal(buf_cstr(&b), "0x0 0x1c9c380 0xffffffffffffffff");
    buf_reset(&b);
    memset(w, 0, sizeof w);
    assert_int_equal(hexq_append_u256(&b, w), ERR_OK);
    assert_string_equal(buf_cstr(&b), "0x0");
    buf_release(&b);
}

static void test_hexq_data(void **state)
{
    (void)state;
    uint8_t *p = NULL;
    size_t n = 9;
    assert_int_equal(hexq_parse_data("0x", 2, &p, &n), ERR_OK);
    assert_non_null(p);
    assert_int_equal(n, 0);
    free(p);
    assert_int_equal(hexq_parse_data("0xdeADbeef", 10, &p, &n), ERR_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(p, "\xde\xad\xbe\xef", 4);
    free(p);
    p = NULL;
    assert_int_equal(hexq_parse_data("0xabc", 5, &p, &n), ERR_INVAL);
    assert_int_equal(hexq_parse_data("0xzz", 4, &p, &n), ERR_INVAL);
    assert_int_equal(hexq_parse_data("abcd", 4, &p, &n), ERR_INVAL);
    assert_null(p);
    uint8_t a[20];
    assert_int_equal(hexq_parse_fixed(CTR, strlen(CTR), a, 20), ERR_OK);
    assert_int_equal(a[0], 0x5f);
    assert_int_equal(a[19], 0xa3);
    assert_int_equal(hexq_parse_fixed(CTR, strlen(CTR), a, 32), ERR_INVAL);
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(hexq_append_data(&b, a, 20), ERR_OK);
    assert_string_equal(buf_cstr(&b), CTR);
    buf_reset(&b);
    assert_int_equal(hexq_append_data(&b, NULL, 0), ERR_OK);
    assert_string_equal(buf_cstr(&b), "0x");
    buf_release(&b);
    buf_init(&b, 10); /* "0x" + 4 bytes is 10: fits; 5 bytes does not */
    assert_int_equal(hexq_append_data(&b, a, 4), ERR_OK);
    assert_int_equal(hexq_append_data(&b, a, 1), ERR_TOOBIG);
    assert_string_equal(buf_cstr(&b), "0x5fbdb231");
    buf_release(&b);
}

/* ------------------------------------------------------------------ */
/* Helpers against recorded answers                                    */

static void test_scalars(void **state)
{
    struct srv *s = *state;
    struct rpc *c = client_for(s->port, 1);
    srv_push(s, 200, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"0x7a69\"}");
    uint64_t v = 0;
    assert_int_equal(rpc_chain_id(c, &v), ERR_OK);
    assert_int_equal(v, 31337);
    char *m = srv_last_method(s);
    assert_string_equal(m, "eth_chainId");
    free(m);

    srv_push(s, 200, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"0x2\"}");
    assert_int_equal(rpc_block_number(c, &v), ERR_OK);
    assert_int_equal(v, 2);

    uint8_t addr[20];
    hex_to(DEV0, addr, 20);
    srv_push(s, 200, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"0x2\"}");
    assert_int_equal(rpc_get_transaction_count(c, addr, RPC_BLOCK_PENDING, &v), ERR_OK);
    assert_int_equal(v, 2);
    char *p = srv_last_params(s);
    assert_string_equal(p, "[\"" DEV0 "\",\"pending\"]");
    free(p);

    uint8_t wei[32];
    hex_to(DEV1, addr, 20);
    srv_push(s, 200, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"0x21e27c1806e59a40000\"}");
    assert_int_equal(rpc_get_balance(c, addr, RPC_BLOCK_NUM(2), wei), ERR_OK);
    assert_u256_hex(wei, "0x21e27c1806e59a40000");
    p = srv_last_params(s);
    assert_string_equal(p, "[\"" DEV1 "\",\"0x2\"]");
    free(p);

    srv_push(s, 200, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"0x3b9aca00\"}");
    assert_int_equal(rpc_max_priority_fee(c, wei), ERR_OK);
    assert_u256_hex(wei, "0x3b9aca00"); /* 1 gwei */

    uint8_t from[20], to[20], value[32] = {0};
    hex_to(DEV0, from, 20);
    hex_to(DEV1, to, 20);
    value[31] = 1;
    struct rpc_tx_call msg = {to, from, NULL, 0, value, 0};
    srv_push(s, 200, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"0x5208\"}");
    assert_int_equal(rpc_estimate_gas(c, &msg, &v), ERR_OK);
    assert_int_equal(v, 21000);
    p = srv_last_params(s);
    assert_string_equal(p, "[{\"from\":\"" DEV0 "\",\"to\":\"" DEV1 "\",\"value\":\"0x1\"}]");
    free(p);

    uint8_t ctr[20];
    hex_to(CTR, ctr, 20);
    const uint8_t sel[4] = {0x06, 0xfd, 0xde, 0x03};
    struct rpc_tx_call call = {ctr, NULL, sel, 4, NULL, 100000};
    srv_push(s, 200,
             "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":"
             "\"0x000000000000000000000000000000000000000000000000000000000000002a\"}");
    uint8_t *out = NULL;
    size_t out_len = 0;
    assert_int_equal(rpc_eth_call(c, &call, RPC_BLOCK_LATEST, &out, &out_len), ERR_OK);
    assert_int_equal(out_len, 32);
    assert_int_equal(out[31], 42);
    free(out);
    p = srv_last_params(s);
    assert_string_equal(p, "[{\"to\":\"" CTR "\",\"gas\":\"0x186a0\",\"data\":\"0x06fdde03\"},"
                           "\"latest\"]");
    free(p);
    /* anvil answered "0x" for a call to a contract without code. */
    srv_push(s, 200, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"0x\"}");
    assert_int_equal(rpc_eth_call(c, &call, RPC_BLOCK_SAFE, &out, &out_len), ERR_OK);
    assert_int_equal(out_len, 0);
    assert_non_null(out);
    free(out);
    call.to = NULL;
    assert_int_equal(rpc_eth_call(c, &call, RPC_BLOCK_LATEST, &out, &out_len), ERR_INVAL);

    uint8_t raw[3] = {0x02, 0xf8, 0x68};
    uint8_t hash[32];
    srv_push(s, 200, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"" TX1 "\"}");
    assert_int_equal(rpc_send_raw_transaction(c, raw, 3, hash), ERR_OK);
    assert_int_equal(hash[0], 0x10);
    assert_int_equal(hash[31], 0x67);
    p = srv_last_params(s);
    assert_string_equal(p, "[\"0x02f868\"]");
    free(p);
    struct rpc_stats st;
    rpc_get_stats(c, &st);
    assert_int_equal(st.calls, 10);
    assert_int_equal(st.http_requests, 9); /* the ERR_INVAL call sent nothing */
    assert_int_equal(st.failures, 1);
    rpc_free(c);
}

static void test_block(void **state)
{
    struct srv *s = *state;
    struct rpc *c = client_for(s->port, 1);
    srv_push(s, 200, rec_block);
    struct rpc_block b;
    assert_int_equal(rpc_get_block(c, RPC_BLOCK_NUM(1), &b), ERR_OK);
    char *p = srv_last_params(s);
    assert_string_equal(p, "[\"0x1\",false]");
    free(p);
    uint8_t h[32];
    assert_int_equal(b.number, 1);
    assert_true(b.has_hash);
    hex_to(BH1, h, 32);
    assert_memory_equal(b.hash, h, 32);
    hex_to(PH1, h, 32);
    assert_memory_equal(b.parent_hash, h, 32);
    assert_int_equal(b.timestamp, 0x6b0cba61);
    assert_int_equal(b.gas_limit, 30000000);
    assert_int_equal(b.gas_used, 54699);
    assert_true(b.has_base_fee);
    assert_u256_hex(b.base_fee_per_gas, "0x3b9aca00");

    /* A pending block as geth sends it: hash null; no base fee pre-London. */
    srv_push(s, 200,
             "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":{\"number\":\"0x3\",\"hash\":null,"
             "\"parentHash\":\"" BH1 "\",\"timestamp\":\"0x6b0cba65\",\"gasLimit\":\"0x1c9c380\","
             "\"gasUsed\":\"0x0\"}}");
    assert_int_equal(rpc_get_block(c, RPC_BLOCK_PENDING, &b), ERR_OK);
    assert_int_equal(b.number, 3);
    assert_false(b.has_hash);
    assert_false(b.has_base_fee);
    p = srv_last_params(s);
    assert_string_equal(p, "[\"pending\",false]");
    free(p);

    srv_push(s, 200, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":null}");
    assert_int_equal(rpc_get_block(c, RPC_BLOCK_NUM(0x99), &b), ERR_NOTFOUND);
    srv_push(s, 200, rec_block);
    assert_int_equal(rpc_get_block(c, RPC_BLOCK_FINALIZED, &b), ERR_OK);
    p = srv_last_params(s);
    assert_string_equal(p, "[\"finalized\",false]");
    free(p);
    rpc_free(c);
}

static void check_log1(const struct rpc_log *l)
{
    uint8_t v[32];
    hex_to(CTR, v, 20);
    assert_memory_equal(l->address, v, 20);
    assert_int_equal(l->n_topics, 1);
    hex_to(T0, v, 32);
    assert_memory_equal(l->topics[0], v, 32);
    assert_int_equal(l->data_len, 32);
    assert_int_equal(l->data[31], 0x2a);
    assert_int_equal(l->block_number, 1);
    hex_to(BH1, v, 32);
    assert_memory_equal(l->block_hash, v, 32);
    hex_to(TX1, v, 32);
    assert_memory_equal(l->tx_hash, v, 32);
    assert_int_equal(l->tx_index, 0);
    assert_int_equal(l->log_index, 0);
    assert_false(l->removed);
}

static void test_logs(void **state)
{
    struct srv *s = *state;
    struct rpc *c = client_for(s->port, 1);
    uint8_t addrs[2][20], topics[3][32];
    hex_to(CTR, addrs[0], 20);
    hex_to(DEV1, addrs[1], 20);
    hex_to(T0, topics[0], 32);
    memset(topics[1], 0x11, 32);
    memset(topics[2], 0x22, 32);
    struct rpc_log_filter f = {0};
    f.from_block = RPC_BLOCK_NUM(0);
    f.to_block = RPC_BLOCK_LATEST;
    f.addresses = addrs;
    f.n_addresses = 1;
    f.topics[0] = (struct rpc_topic_filter){&topics[0], 1};
    f.topics[1] = (struct rpc_topic_filter){NULL, 0};
    f.topics[2] = (struct rpc_topic_filter){&topics[1], 2};
    f.n_topics = 3;
    srv_push(s, 200, rec_logs);
    struct rpc_logs logs;
    assert_int_equal(rpc_get_logs(c, &f, &logs), ERR_OK);
    assert_int_equal(logs.count, 1);
    check_log1(&logs.items[0]);
    rpc_logs_release(&logs);
    assert_null(logs.items);
    char *p = srv_last_params(s);
    assert_string_equal(
        p,
        "[{\"fromBlock\":\"0x0\",\"toBlock\":\"latest\",\"address\":\"" CTR "\",\"topics\":[\"" T0
        "\",null,[\"0x1111111111111111111111111111111111111111111111111111111111111111\","
        "\"0x2222222222222222222222222222222222222222222222222222222222222222\"]]}]");
    free(p);

    f.n_addresses = 2;
    f.n_topics = 0;
    srv_push(s, 200, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":[]}");
    assert_int_equal(rpc_get_logs(c, &f, &logs), ERR_OK);
    assert_int_equal(logs.count, 0);
    rpc_logs_release(&logs);
    p = srv_last_params(s);
    assert_string_equal(p, "[{\"fromBlock\":\"0x0\",\"toBlock\":\"latest\",\"address\":[\"" CTR
                           "\",\"" DEV1 "\"]}]");
    free(p);
    f.n_topics = 5;
    assert_int_equal(rpc_get_logs(c, &f, &logs), ERR_INVAL);

    /* Infura's refusal of a wide range passes through intact. */
    f.n_topics = 0;
    srv_push(s, 200,
             "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"error\":{\"code\":-32005,\"message\":"
             "\"query returned more than 10000 results\"}}");
    assert_int_equal(rpc_get_logs(c, &f, &logs), ERR_RPC);
    const struct rpc_error *re = rpc_last_error(c);
    assert_non_null(re);
    assert_int_equal(re->code, -32005);
    assert_string_equal(re->message, "query returned more than 10000 results");
    assert_int_equal(rpc_error_kind(re), RPC_ERRKIND_LOG_RANGE);
    assert_string_equal(rpc_errmsg(c), "-32005: query returned more than 10000 results");
    rpc_free(c);
}

static void test_receipt(void **state)
{
    struct srv *s = *state;
    struct rpc *c = client_for(s->port, 1);
    uint8_t tx[32], v[32];
    hex_to(TX1, tx, 32);
    srv_push(s, 200, rec_receipt);
    struct rpc_receipt r;
    assert_int_equal(rpc_get_receipt(c, tx, &r), ERR_OK);
    assert_memory_equal(r.tx_hash, tx, 32);
    assert_int_equal(r.status, 1);
    hex_to(DEV0, v, 20);
    assert_memory_equal(r.from, v, 20);
    assert_false(r.has_to);
    assert_true(r.has_contract_address);
    hex_to(CTR, v, 20);
    assert_memory_equal(r.contract_address, v, 20);
    assert_int_equal(r.block_number, 1);
    hex_to(BH1, v, 32);
    assert_memory_equal(r.block_hash, v, 32);
    assert_int_equal(r.tx_index, 0);
    assert_int_equal(r.gas_used, 54699);
    assert_u256_hex(r.effective_gas_price, "0x3b9aca01");
    assert_int_equal(r.logs.count, 1);
    check_log1(&r.logs.items[0]);
    rpc_receipt_release(&r);
    char *p = srv_last_params(s);
    assert_string_equal(p, "[\"" TX1 "\"]");
    free(p);

    srv_push(s, 200, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":null}");
    assert_int_equal(rpc_get_receipt(c, tx, &r), ERR_NOTFOUND);
    rpc_free(c);
}

static void test_fee_history(void **state)
{
    struct srv *s = *state;
    struct rpc *c = client_for(s->port, 1);
    const double pct[2] = {25, 75};
    struct rpc_fee_history h;
    srv_push(s, 200, rec_fee_history);
    assert_int_equal(rpc_fee_history(c, 2, RPC_BLOCK_LATEST, pct, 2, &h), ERR_OK);
    char *p = srv_last_params(s);
    assert_string_equal(p, "[\"0x2\",\"latest\",[25,75]]");
    free(p);
    assert_int_equal(h.oldest_block, 1);
    assert_int_equal(h.n_blocks, 2);
    assert_u256_hex(h.base_fee_per_gas[0], "0x3b9aca00");
    assert_u256_hex(h.base_fee_per_gas[1], "0x342e6551");
    assert_u256_hex(h.base_fee_per_gas[2], "0x2daaef1c");
    assert_true(h.gas_used_ratio[0] == 0.0018233);
    assert_true(h.gas_used_ratio[1] == 0.0007);
    assert_int_equal(h.n_percentiles, 2);
    for (int i = 0; i < 4; i++)
        assert_u256_hex(h.reward[i], "0x1");
    rpc_fee_history_release(&h);
    assert_null(h.reward);

    /* reward rows must match the percentiles asked. */
    srv_push(s, 200, rec_fee_history);
    assert_int_equal(rpc_fee_history(c, 2, RPC_BLOCK_LATEST, pct, 1, &h), ERR_PROTO);
    assert_non_null(strstr(rpc_errmsg(c), "reward"));
    const double bad_pct[2] = {75, 25};
    assert_int_equal(rpc_fee_history(c, 2, RPC_BLOCK_LATEST, bad_pct, 2, &h), ERR_INVAL);
    assert_int_equal(rpc_fee_history(c, 0, RPC_BLOCK_LATEST, NULL, 0, &h), ERR_INVAL);
    assert_int_equal(rpc_fee_history(c, 1025, RPC_BLOCK_LATEST, NULL, 0, &h), ERR_INVAL);
    rpc_free(c);
}

static void test_raw_call(void **state)
{
    struct srv *s = *state;
    struct rpc *c = client_for(s->port, 1);
    srv_push(s, 200, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"0x0\"}");
    char *res = NULL;
    size_t len = 0;
    assert_int_equal(rpc_call_raw(c, "evm_snapshot", NULL, &res, &len), ERR_OK);
    assert_string_equal(res, "\"0x0\"");
    assert_int_equal(len, 5);
    free(res);
    char *m = srv_last_method(s);
    assert_string_equal(m, "evm_snapshot");
    free(m);
    srv_push(s, 200, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":null}");
    assert_int_equal(rpc_call_raw(c, "anvil_setBalance", "[\"" DEV1 "\", \"0x1\"]", &res, NULL),
                     ERR_OK);
    assert_string_equal(res, "null");
    free(res);
    char *p = srv_last_params(s);
    assert_string_equal(p, "[\"" DEV1 "\",\"0x1\"]");
    free(p);
    int before = srv_requests(s);
    assert_int_equal(rpc_call_raw(c, "evm\"mine", NULL, &res, NULL), ERR_INVAL);
    assert_int_equal(rpc_call_raw(c, "evm_mine", "[1", &res, NULL), ERR_INVAL);
    assert_int_equal(rpc_call_raw(c, "evm_mine", "42", &res, NULL), ERR_INVAL);
    assert_int_equal(srv_requests(s), before);
    rpc_free(c);
}

/* ------------------------------------------------------------------ */
/* Errors, retries, timeouts                                           */

static void test_error_objects(void **state)
{
    struct srv *s = *state;
    struct rpc *c = client_for(s->port, 4);
    uint8_t raw[2] = {1, 2}, hash[32];
    srv_push(s, 200,
             "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"error\":{\"code\":-32003,\"message\":"
             "\"nonce too low\"}}");
    assert_int_equal(rpc_send_raw_transaction(c, raw, 2, hash), ERR_RPC);
    assert_int_equal(srv_requests(s), 1); /* never retried */
    const struct rpc_error *e = rpc_last_error(c);
    assert_non_null(e);
    assert_int_equal(e->code, -32003);
    assert_string_equal(e->message, "nonce too low");
    assert_null(e->data_json);
    assert_int_equal(rpc_error_kind(e), RPC_ERRKIND_NONCE_TOO_LOW);

    /* anvil's revert: code 3, data is the revert bytes. */
    uint8_t to[20] = {0};
    struct rpc_tx_call call = {to, NULL, NULL, 0, NULL, 0};
    uint8_t *out = NULL;
    size_t out_len = 0;
    srv_push(s, 200,
             "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"error\":{\"code\":3,\"message\":"
             "\"execution reverted: custom error 0xdeadbeef\",\"data\":\"0xdeadbeef\"}}");
    assert_int_equal(rpc_eth_call(c, &call, RPC_BLOCK_LATEST, &out, &out_len), ERR_RPC);
    assert_int_equal(srv_requests(s), 2);
    e = rpc_last_error(c);
    assert_int_equal(e->code, 3);
    assert_string_equal(e->message, "execution reverted: custom error 0xdeadbeef");
    assert_string_equal(e->data_json, "\"0xdeadbeef\"");
    assert_int_equal(e->data_len, 4);
    assert_memory_equal(e->data, "\xde\xad\xbe\xef", 4);
    assert_int_equal(rpc_error_kind(e), RPC_ERRKIND_REVERTED);

    /* Structured data is kept as JSON; an error with id null is legal. */
    srv_push(s, 200,
             "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":"
             "\"Parse error\",\"data\":{\"at\":[1,2]}}}");
    char *res = NULL;
    assert_int_equal(rpc_call_raw(c, "x", NULL, &res, NULL), ERR_RPC);
    e = rpc_last_error(c);
    assert_int_equal(e->code, -32700);
    assert_string_equal(e->data_json, "{\"at\":[1,2]}");
    assert_null(e->data);

    /* A proxy answering 400 with a JSON-RPC error: the error passes up. */
    srv_push(s, 400,
             "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"error\":{\"code\":-32000,\"message\":"
             "\"exceeds block range\"}}");
    uint64_t n;
    assert_int_equal(rpc_block_number(c, &n), ERR_RPC);
    assert_int_equal(rpc_error_kind(rpc_last_error(c)), RPC_ERRKIND_LOG_RANGE);
    /* Other statuses without an error object are ERR_PROTO / ERR_AUTH. */
    srv_push(s, 404, "not here");
    assert_int_equal(rpc_block_number(c, &n), ERR_PROTO);
    assert_string_equal(rpc_errmsg(c), "http status 404");
    assert_null(rpc_last_error(c));
    srv_push(s, 401, "{\"message\":\"bad key\"}");
    assert_int_equal(rpc_block_number(c, &n), ERR_AUTH);
    assert_int_equal(srv_requests(s), 6);

    struct rpc_error k = {0};
    const char *kinds[] = {"already known", "replacement transaction underpriced",
                           "insufficient funds for gas * price + value", "Method not found"};
    const enum rpc_errkind want[] = {RPC_ERRKIND_ALREADY_KNOWN, RPC_ERRKIND_UNDERPRICED,
                                     RPC_ERRKIND_INSUFFICIENT_FUNDS, RPC_ERRKIND_OTHER};
    for (int i = 0; i < 4; i++) {
        k.message = (char *)kinds[i];
        assert_int_equal(rpc_error_kind(&k), want[i]);
    }
    assert_int_equal(rpc_error_kind(NULL), RPC_ERRKIND_OTHER);
    rpc_free(c);
}

static void test_retry_on_503(void **state)
{
    struct srv *s = *state;
    struct rpc *c = client_for(s->port, 4);
    srv_push(s, 503, "busy");
    srv_push(s, 429, "slow down");
    srv_push(s, 200, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"0x7a69\"}");
    uint64_t v = 0;
    assert_int_equal(rpc_chain_id(c, &v), ERR_OK);
    assert_int_equal(v, 31337);
    assert_int_equal(srv_requests(s), 3);
    struct rpc_stats st;
    rpc_get_stats(c, &st);
    assert_int_equal(st.http_requests, 3);
    assert_int_equal(st.retries, 2);
    assert_string_equal(rpc_errmsg(c), "");

    /* Every attempt fails: 4 attempts, then ERR_UNAVAILABLE. */
    srv_push(s, 502, "bad gateway");
    assert_int_equal(rpc_chain_id(c, &v), ERR_UNAVAILABLE);
    assert_int_equal(srv_requests(s), 3 + 4);
    assert_string_equal(rpc_errmsg(c), "http status 502");
    rpc_get_stats(c, &st);
    assert_int_equal(st.failures, 1);
    rpc_free(c);
}

static void test_keepalive(void **state)
{
    struct srv *s = *state;
    struct rpc *c = client_for(s->port, 1);
    srv_push(s, 200, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"0x1\"}");
    uint64_t v;
    for (int i = 0; i < 3; i++)
        assert_int_equal(rpc_block_number(c, &v), ERR_OK);
    pthread_mutex_lock(&s->mu);
    assert_int_equal(s->requests, 3);
    /* One TCP connection: the same client port every time. */
    assert_int_equal(s->peer_ports[1], s->peer_ports[0]);
    assert_int_equal(s->peer_ports[2], s->peer_ports[0]);
    pthread_mutex_unlock(&s->mu);
    rpc_free(c);
}

/* A loopback port with nothing listening. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void test_retry_connection_refused(void **state)
{
    (void)state;
    struct rpc *c = client_for(closed_port(), 3);
    uint64_t v;
    assert_int_equal(rpc_block_number(c, &v), ERR_UNAVAILABLE);
    assert_non_null(strstr(rpc_errmsg(c), "connect: "));
    assert_null(strstr(rpc_errmsg(c), "http://"));
    struct rpc_stats st;
    rpc_get_stats(c, &st);
    assert_int_equal(st.http_requests, 3);
    assert_int_equal(st.retries, 2);
    assert_int_equal(st.failures, 1);
    rpc_free(c);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_timeout(void **state)
{
    (void)state;
    /* A socket that listens but never accepts: the kernel completes the
     * handshake and buffers the request; no answer ever comes. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 8), 0);
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(sa.sin_port));
    struct rpc_opts o = {0};
    o.url = url;
    o.timeout_ms = 150;
    o.max_attempts = 2;
    o.backoff_base_ms = 1;
    o.backoff_max_ms = 1;
    struct rpc *c = NULL;
    assert_int_equal(rpc_new(&o, &c), ERR_OK);
    uint64_t v;
    double t0 = now_s();
    assert_int_equal(rpc_block_number(c, &v), ERR_TIMEDOUT);
    double took = now_s() - t0;
    /* Bound: 2 attempts x 150 ms + 1 ms; generous slack for a loaded CI
     * machine, since the point is that it returns, not how fast. */
    assert_true(took < 10.0);
    assert_non_null(strstr(rpc_errmsg(c), "timeout: "));
    struct rpc_stats st;
    rpc_get_stats(c, &st);
    assert_int_equal(st.http_requests, 2);
    rpc_free(c);
    close(fd);
}

/* ------------------------------------------------------------------ */
/* Batches                                                             */

static void test_batch_out_of_order(void **state)
{
    struct srv *s = *state;
    struct rpc *c = client_for(s->port, 1);
    struct rpc_batch *b = NULL;
    assert_int_equal(rpc_batch_new(&b), ERR_OK);
    size_t i0, i1, i2, i3;
    uint8_t tx[32];
    hex_to(TX1, tx, 32);
    assert_int_equal(rpc_batch_add(b, "eth_chainId", NULL, &i0), ERR_OK);
    assert_int_equal(rpc_batch_add_get_block(b, RPC_BLOCK_NUM(1), &i1), ERR_OK);
    assert_int_equal(rpc_batch_add_get_receipt(b, tx, &i2), ERR_OK);
    assert_int_equal(rpc_batch_add(b, "eth_bogus", "[]", &i3), ERR_OK);
    assert_int_equal(i3, 3);
    assert_int_equal(rpc_batch_count(b), 4);
    const char *json = NULL;
    assert_int_equal(rpc_batch_result(b, 0, &json, NULL, NULL), ERR_STATE);
    /* Answers in the order 2, 3, 0, 1. */
    static const char body[] =
        "[{\"jsonrpc\":\"2.0\",\"id\":$ID2,\"result\":null},"
        "{\"jsonrpc\":\"2.0\",\"id\":$ID3,\"error\":{\"code\":-32601,\"message\":"
        "\"Method not found\"}},"
        "{\"jsonrpc\":\"2.0\",\"id\":$ID0,\"result\":\"0x7a69\"},"
        "{\"jsonrpc\":\"2.0\",\"id\":$ID1,\"result\":{\"number\":\"0x1\",\"hash\":\"" BH1 "\","
        "\"parentHash\":\"" PH1 "\",\"timestamp\":\"0x6b0cba61\",\"gasLimit\":\"0x1c9c380\","
        "\"gasUsed\":\"0xd5ab\",\"baseFeePerGas\":\"0x3b9aca00\"}}]";
    srv_push(s, 200, body);
    assert_int_equal(rpc_call_batch(c, b), ERR_OK);
    assert_int_equal(srv_requests(s), 1);
    size_t len = 0;
    assert_int_equal(rpc_batch_result(b, i0, &json, &len, NULL), ERR_OK);
    uint64_t v = 0;
    assert_int_equal(rpc_parse_u64(json, len, &v, NULL), ERR_OK);
    assert_int_equal(v, 31337);
    assert_int_equal(rpc_batch_result(b, i1, &json, &len, NULL), ERR_OK);
    struct rpc_block blk;
    assert_int_equal(rpc_parse_block(json, len, &blk, NULL), ERR_OK);
    assert_int_equal(blk.number, 1);
    assert_int_equal(blk.gas_used, 54699);
    assert_int_equal(rpc_batch_result(b, i2, &json, &len, NULL), ERR_OK);
    struct rpc_receipt r;
    assert_int_equal(rpc_parse_receipt(json, len, &r, NULL), ERR_NOTFOUND);
    const struct rpc_error *e = NULL;
    assert_int_equal(rpc_batch_result(b, i3, &json, &len, &e), ERR_RPC);
    assert_int_equal(e->code, -32601);
    assert_string_equal(e->message, "Method not found");
    assert_int_equal(rpc_batch_result(b, 4, &json, &len, &e), ERR_INVAL);

    /* The request itself: one array with the four calls. */
    pthread_mutex_lock(&s->mu);
    cJSON *req = cJSON_Parse(s->last_body);
    pthread_mutex_unlock(&s->mu);
    assert_true(cJSON_IsArray(req));
    assert_int_equal(cJSON_GetArraySize(req), 4);
    const cJSON *third = cJSON_GetArrayItem(req, 2);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(third, "method")->valuestring,
                        "eth_getTransactionReceipt");
    cJSON_Delete(req);

    /* Malformed batch answers. */
    srv_push(s, 200, "[{\"jsonrpc\":\"2.0\",\"id\":$ID0,\"result\":\"0x1\"}]");
    assert_int_equal(rpc_call_batch(c, b), ERR_PROTO); /* 1 answer for 4 calls */
    assert_int_equal(rpc_batch_result(b, 0, &json, &len, NULL), ERR_STATE);
    srv_push(s, 200,
             "[{\"jsonrpc\":\"2.0\",\"id\":$ID0,\"result\":1},{\"jsonrpc\":\"2.0\",\"id\":$ID0,"
             "\"result\":1},{\"jsonrpc\":\"2.0\",\"id\":$ID2,\"result\":1},{\"jsonrpc\":\"2.0\","
             "\"id\":$ID3,\"result\":1}]");
    assert_int_equal(rpc_call_batch(c, b), ERR_PROTO); /* id 0 twice */
    assert_non_null(strstr(rpc_errmsg(c), "twice"));
    srv_push(s, 200,
             "[{\"jsonrpc\":\"2.0\",\"id\":$ID0,\"result\":1},{\"jsonrpc\":\"2.0\",\"id\":9999,"
             "\"result\":1},{\"jsonrpc\":\"2.0\",\"id\":$ID2,\"result\":1},{\"jsonrpc\":\"2.0\","
             "\"id\":$ID3,\"result\":1}]");
    assert_int_equal(rpc_call_batch(c, b), ERR_PROTO); /* an id we did not send */
    /* The whole batch refused with one error object. */
    srv_push(s, 200,
             "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":"
             "\"batch too large\"}}");
    assert_int_equal(rpc_call_batch(c, b), ERR_RPC);
    assert_string_equal(rpc_last_error(c)->message, "batch too large");
    rpc_batch_free(b);

    assert_int_equal(rpc_batch_new(&b), ERR_OK);
    assert_int_equal(rpc_call_batch(c, b), ERR_INVAL);
    assert_int_equal(rpc_batch_add(b, "bad name", NULL, NULL), ERR_INVAL);
    for (int i = 0; i < RPC_MAX_BATCH; i++)
        assert_int_equal(rpc_batch_add(b, "eth_chainId", NULL, NULL), ERR_OK);
    assert_int_equal(rpc_batch_add(b, "eth_chainId", NULL, NULL), ERR_TOOBIG);
    rpc_batch_free(b);
    rpc_batch_free(NULL);
    rpc_free(c);
}

/* ------------------------------------------------------------------ */
/* Malformed responses                                                 */

static void expect_proto(struct srv *s, struct rpc *c, const char *body, const char *msg_part)
{
    srv_push(s, 200, body);
    uint64_t v = 12345;
    int before = srv_requests(s);
    assert_int_equal(rpc_block_number(c, &v), ERR_PROTO);
    assert_int_equal(v, 12345);
    assert_int_equal(srv_requests(s), before + 1); /* never retried */
    if (strstr(rpc_errmsg(c), msg_part) == NULL)
        fail_msg("errmsg \"%s\" lacks \"%s\"", rpc_errmsg(c), msg_part);
}

static void test_malformed(void **state)
{
    struct srv *s = *state;
    struct rpc *c = client_for(s->port, 4);
    expect_proto(s, c, "{\"jsonrpc\":\"1.0\",\"id\":$ID,\"result\":\"0x1\"}", "\"2.0\"");
    expect_proto(s, c, "{\"id\":$ID,\"result\":\"0x1\"}", "\"2.0\"");
    expect_proto(s, c, "{\"jsonrpc\":\"2.0\",\"id\":424242,\"result\":\"0x1\"}", "does not match");
    expect_proto(s, c, "{\"jsonrpc\":\"2.0\",\"id\":\"$ID\",\"result\":\"0x1\"}", "\"id\"");
    expect_proto(s, c, "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":\"0x1\"}", "\"id\"");
    expect_proto(s, c, "{\"jsonrpc\":\"2.0\",\"result\":\"0x1\"}", "no \"id\"");
    expect_proto(s, c,
                 "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"0x1\",\"error\":{\"code\":1,"
                 "\"message\":\"x\"}}",
                 "both");
    expect_proto(s, c, "{\"jsonrpc\":\"2.0\",\"id\":$ID}", "neither");
    expect_proto(s, c, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"0x01\"}", "bad quantity");
    expect_proto(s, c, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"0xzz\"}", "bad quantity");
    expect_proto(s, c, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":1}", "not a string");
    expect_proto(s, c, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"0x10000000000000000\"}",
                 "over 64 bits");
    expect_proto(s, c, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"0x1\"} x", "trailing");
    expect_proto(s, c, "<html>bad gateway</html>", "not valid JSON");
    expect_proto(s, c, "[]", "not a JSON object");
    expect_proto(s, c, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"error\":{\"code\":\"x\",\"message\":1}}",
                 "code");
    expect_proto(s, c,
                 "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"error\":{\"code\":1.5,\"message\":\"m\"}}",
                 "code");
    expect_proto(s, c, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"error\":{\"code\":1}}", "message");
    expect_proto(s, c, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"error\":\"oops\"}", "not an object");
    assert_non_null(strstr(rpc_errmsg(c), "eth_blockNumber response: "));

    /* Over 256 bits and odd-length data in typed results. */
    uint8_t wei[32];
    srv_push(s, 200,
             "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":"
             "\"0x1ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\"}");
    assert_int_equal(rpc_max_priority_fee(c, wei), ERR_PROTO);
    assert_non_null(strstr(rpc_errmsg(c), "over 256 bits"));
    uint8_t to[20] = {0};
    struct rpc_tx_call call = {to, NULL, NULL, 0, NULL, 0};
    uint8_t *out = NULL;
    size_t out_len = 0;
    srv_push(s, 200, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"0xabc\"}");
    assert_int_equal(rpc_eth_call(c, &call, RPC_BLOCK_LATEST, &out, &out_len), ERR_PROTO);
    assert_null(out);
    uint8_t hash[32];
    srv_push(s, 200, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"0x1234\"}");
    assert_int_equal(rpc_send_raw_transaction(c, wei, 1, hash), ERR_PROTO);
    assert_non_null(strstr(rpc_errmsg(c), "expected 32 bytes"));
    rpc_free(c);
}

static void test_malformed_results(void **state)
{
    (void)state;
    struct buf why;
    buf_init(&why, 0);
    struct rpc_block b;
    /* hash with a missing digit */
    const char *blk = "{\"number\":\"0x1\",\"hash\":\"0xe6b5\",\"parentHash\":\"" PH1
                      "\",\"timestamp\":\"0x1\",\"gasLimit\":\"0x1\",\"gasUsed\":\"0x0\"}";
    assert_int_equal(rpc_parse_block(blk, strlen(blk), &b, &why), ERR_PROTO);
    assert_non_null(strstr(buf_cstr(&why), "\"hash\""));
    buf_reset(&why);
    blk = "{\"number\":\"0x1\",\"hash\":null,\"parentHash\":\"" PH1
          "\",\"timestamp\":\"0x1\",\"gasLimit\":\"0x1\"}";
    assert_int_equal(rpc_parse_block(blk, strlen(blk), &b, &why), ERR_PROTO);
    assert_string_equal(buf_cstr(&why), "missing field \"gasUsed\"");
    buf_reset(&why);

    struct rpc_logs logs = {0};
    const char *lg = "[" LOG1_JSON ",{\"address\":\"" CTR "\",\"topics\":[],\"data\":\"0x0\"}]";
    assert_int_equal(rpc_parse_logs(lg, strlen(lg), &logs, &why), ERR_PROTO);
    assert_null(logs.items);
    buf_reset(&why);
    lg = "[{\"address\":\"" CTR "\",\"topics\":[\"" T0 "\",\"" T0 "\",\"" T0 "\",\"" T0 "\",\"" T0
         "\"],\"data\":\"0x\"}]";
    assert_int_equal(rpc_parse_logs(lg, strlen(lg), &logs, &why), ERR_PROTO);
    assert_non_null(strstr(buf_cstr(&why), "more than 4 topics"));
    buf_reset(&why);
    lg = "[{\"address\":\"" CTR "\",\"topics\":[],\"data\":\"0x\",\"blockNumber\":null}]";
    assert_int_equal(rpc_parse_logs(lg, strlen(lg), &logs, &why), ERR_PROTO); /* pending log */

    struct rpc_receipt r;
    const char *rc = "{\"transactionHash\":\"" TX1 "\",\"status\":\"0x2\"}";
    assert_int_equal(rpc_parse_receipt(rc, strlen(rc), &r, NULL), ERR_PROTO);
    struct rpc_fee_history h;
    const char *fh = "{\"oldestBlock\":\"0x1\",\"baseFeePerGas\":[\"0x1\"],\"gasUsedRatio\":[0.5]}";
    assert_int_equal(rpc_parse_fee_history(fh, strlen(fh), 0, &h, NULL), ERR_PROTO);
    fh = "{\"oldestBlock\":\"0x1\",\"baseFeePerGas\":[\"0x1\",\"0x2\"],\"gasUsedRatio\":[1.5]}";
    assert_int_equal(rpc_parse_fee_history(fh, strlen(fh), 0, &h, NULL), ERR_PROTO);
    fh = "{\"oldestBlock\":\"0x1\",\"baseFeePerGas\":[\"0x1\",\"0x2\"],\"gasUsedRatio\":[0.5]}";
    assert_int_equal(rpc_parse_fee_history(fh, strlen(fh), 0, &h, NULL), ERR_OK);
    assert_int_equal(h.n_blocks, 1);
    assert_null(h.reward);
    rpc_fee_history_release(&h);

    char *res = NULL;
    struct rpc_error e = {0};
    const char *resp = "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"a\":[1,true]}}";
    assert_int_equal(rpc_parse_response(resp, strlen(resp), 7, &res, NULL, &e, NULL), ERR_OK);
    assert_string_equal(res, "{\"a\":[1,true]}");
    free(res);
    assert_int_equal(rpc_parse_response(resp, strlen(resp), 8, &res, NULL, &e, NULL), ERR_PROTO);
    buf_release(&why);
}

static void test_huge_body(void **state)
{
    struct srv *s = *state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", s->port);
    struct rpc_opts o = {0};
    o.url = url;
    o.max_response_bytes = 1024;
    o.backoff_base_ms = 1;
    o.backoff_max_ms = 1;
    struct rpc *c = NULL;
    assert_int_equal(rpc_new(&o, &c), ERR_OK);
    struct buf big;
    buf_init(&big, 0);
    assert_int_equal(buf_append_str(&big, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"0x"),
                     ERR_OK);
    for (int i = 0; i < 4000; i++)
        assert_int_equal(buf_append_byte(&big, 'a'), ERR_OK);
    assert_int_equal(buf_append_str(&big, "\"}"), ERR_OK);
    srv_push(s, 200, buf_cstr(&big));
    char *res = NULL;
    assert_int_equal(rpc_call_raw(c, "eth_call", "[]", &res, NULL), ERR_TOOBIG);
    assert_int_equal(srv_requests(s), 1); /* not retried */
    assert_string_equal(rpc_errmsg(c), "response over 1024 bytes");
    /* The connection is usable afterwards. */
    srv_push(s, 200, "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"0x1\"}");
    uint64_t v;
    assert_int_equal(rpc_block_number(c, &v), ERR_OK);
    assert_int_equal(v, 1);
    rpc_free(c);
    buf_release(&big);
}

static void test_new_rejects(void **state)
{
    (void)state;
    struct rpc *c = NULL;
    struct rpc_opts o = {0};
    assert_int_equal(rpc_new(&o, &c), ERR_INVAL);
    o.url = "ftp://127.0.0.1/";
    assert_int_equal(rpc_new(&o, &c), ERR_INVAL);
    o.url = "http://127.0.0.1:1/";
    o.timeout_ms = -1;
    assert_int_equal(rpc_new(&o, &c), ERR_INVAL);
    o.timeout_ms = 0;
    o.backoff_base_ms = 500;
    o.backoff_max_ms = 100;
    assert_int_equal(rpc_new(&o, &c), ERR_INVAL);
    assert_null(c);
    o.backoff_base_ms = 0;
    o.backoff_max_ms = 0;
    assert_int_equal(rpc_new(&o, &c), ERR_OK);
    assert_string_equal(rpc_errmsg(c), "");
    assert_null(rpc_last_error(c));
    rpc_free(c);
    rpc_free(NULL);
    rpc_logs_release(NULL);
    rpc_receipt_release(NULL);
    rpc_fee_history_release(NULL);
    rpc_error_release(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hexq_quantity),
        cmocka_unit_test(test_hexq_data),
        cmocka_unit_test_setup_teardown(test_scalars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receipt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fee_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raw_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_on_503, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive, setup, teardown),
        cmocka_unit_test(test_retry_connection_refused),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test_setup_teardown(test_batch_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test(test_malformed_results),
        cmocka_unit_test_setup_teardown(test_huge_body, setup, teardown),
        cmocka_unit_test(test_new_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
