/* Unit tests for keeper_tick() against a scripted JSON-RPC node (libevent
 * HTTP on a loopback port, its own thread): a block whose settlement round
 * failed is settled again on the next tick, not only at the next block.
 * SPDX-License-Identifier: MIT */
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

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>

#include "buf.h"
#include "eth/key.h"
#include "eth/rpc.h"
#include "metrics.h"
#include "services/keeper/due.h"
#include "services/keeper/keeper.h"
#include "services/keeper/kstats.h"
#include "services/keeper/upkeep.h"

/* ---- the node -------------------------------------------------------------- */

struct node {
    struct event_base *base;
    struct evhttp *http;
    pthread_t thread;
    int port;
    pthread_mutex_t mu;
    uint64_t block;       /* number of the latest block */
    int eth_call_fails;   /* eth_call answers this many times with an error first */
    int eth_calls;        /* eth_call requests seen */
    int unknown_requests; /* methods this node does not script */
};

/* A block of anvil's shape; number $N, timestamp 100 (0x64). */
static const char BLOCK_FMT[] =
    "{\"hash\":\"0x5d2e4f3c1a0b998877665544332211000f0e0d0c0b0a09080706050403020100\","
    "\"parentHash\":\"0x1111111111111111111111111111111111111111111111111111111111111111\","
    "\"sha3Uncles\":\"0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347\","
    "\"miner\":\"0x0000000000000000000000000000000000000000\","
    "\"stateRoot\":\"0x2222222222222222222222222222222222222222222222222222222222222222\","
    "\"transactionsRoot\":\"0x3333333333333333333333333333333333333333333333333333333333333333\","
    "\"receiptsRoot\":\"0x4444444444444444444444444444444444444444444444444444444444444444\","
    "\"logsBloom\":\"0x%0512d\",\"difficulty\":\"0x0\",\"number\":\"0x%llx\","
    "\"gasLimit\":\"0x1c9c380\",\"gasUsed\":\"0x0\",\"timestamp\":\"0x64\",\"extraData\":\"0x\","
    "\"mixHash\":\"0x5555555555555555555555555555555555555555555555555555555555555555\","
    "\"nonce\":\"0x0000000000000000\",\"baseFeePerGas\":\"0x3b9aca00\",\"size\":\"0x200\","
    "\"uncles\":[],\"transactions\":[]}";

/* checkUpkeep's answer when nothing is due: (false, abi.encode(new Item[](0))). */
static const char CHECK_NONE[] =
    "\"0x"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000040"
    "0000000000000000000000000000000000000000000000000000000000000040"
    "0000000000000000000000000000000000000000000000000000000000000020"
    "0000000000000000000000000000000000000000000000000000000000000000\"";

static void node_cb(struct evhttp_request *req, void *arg)
{
    struct node *nd = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    char *body = calloc(1, n + 1);
    assert_non_null(body);
    evbuffer_remove(in, body, n);
    cJSON *root = cJSON_Parse(body);
    free(body);
    assert_true(cJSON_IsObject(root)); /* the keeper sends no batches here */
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(root, "method");
    assert_true(cJSON_IsNumber(id) && cJSON_IsString(method));
    const char *m = method->valuestring;

    struct buf out;
    buf_init(&out, 0);
    enum err e = buf_appendf(&out, "{\"jsonrpc\":\"2.0\",\"id\":%.0f,", id->valuedouble);
    pthread_mutex_lock(&nd->mu);
    if (e != ERR_OK) {
        /* reported below */
    } else if (strcmp(m, "eth_getBlockByNumber") == 0) {
        e = buf_appendf(&out, "\"result\":");
        if (e == ERR_OK)
            e = buf_appendf(&out, BLOCK_FMT, 0, (unsigned long long)nd->block);
    } else if (strcmp(m, "eth_feeHistory") == 0) {
        e = buf_appendf(&out,
                        "\"result\":{\"oldestBlock\":\"0x%llx\",\"baseFeePerGas\":"
                        "[\"0x3b9aca00\",\"0x3b9aca00\"],\"gasUsedRatio\":[0.0],"
                        "\"reward\":[[\"0x1\"]]}",
                        (unsigned long long)nd->block);
    } else if (strcmp(m, "eth_getTransactionCount") == 0) {
        e = buf_appendf(&out, "\"result\":\"0x0\"");
    } else if (strcmp(m, "eth_getBalance") == 0) {
        e = buf_appendf(&out, "\"result\":\"0x21e19e0c9bab2400000\"");
    } else if (strcmp(m, "eth_call") == 0) {
        nd->eth_calls++;
        if (nd->eth_call_fails > 0) {
            nd->eth_call_fails--;
            /* What anvil answers when a block is mined during the call. */
            e = buf_appendf(&out,
                            "\"error\":{\"code\":-32602,\"message\":\"BlockOutOfRangeError: "
                            "block height is %llu but requested was %llu\"}",
                            (unsigned long long)nd->block + 1, (unsigned long long)nd->block);
        } else {
            e = buf_appendf(&out, "\"result\":%s", CHECK_NONE);
        }
    } else {
        nd->unknown_requests++;
        e = buf_appendf(&out, "\"error\":{\"code\":-32601,\"message\":\"method not found\"}");
    }
    pthread_mutex_unlock(&nd->mu);
    if (e == ERR_OK)
        e = buf_append_byte(&out, '}');
    assert_int_equal(e, ERR_OK);
    cJSON_Delete(root);

    struct evbuffer *reply = evbuffer_new();
    evbuffer_add(reply, out.data, out.len);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, 200, "OK", reply);
    evbuffer_free(reply);
    buf_release(&out);
}

static void *node_thread(void *arg)
{
    struct node *nd = arg;
    event_base_loop(nd->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static struct node *node_start(uint64_t block)
{
    struct node *nd = calloc(1, sizeof(*nd));
    assert_non_null(nd);
    pthread_mutex_init(&nd->mu, NULL);
    nd->block = block;
    nd->base = event_base_new();
    assert_non_null(nd->base);
    nd->http = evhttp_new(nd->base);
    assert_non_null(nd->http);
    evhttp_set_allowed_methods(nd->http, EVHTTP_REQ_POST);
    evhttp_set_gencb(nd->http, node_cb, nd);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(nd->http, "127.0.0.1", 0);
    assert_non_null(bs);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl), 0);
    nd->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&nd->thread, NULL, node_thread, nd), 0);
    return nd;
}

static void node_stop(struct node *nd)
{
    event_base_loopbreak(nd->base);
    pthread_join(nd->thread, NULL);
    evhttp_free(nd->http);
    event_base_free(nd->base);
    pthread_mutex_destroy(&nd->mu);
    free(nd);
}

static int node_get(struct node *nd, const int *field)
{
    pthread_mutex_lock(&nd->mu);
    int v = *field;
    pthread_mutex_unlock(&nd->mu);
    return v;
}

static void node_set_block(struct node *nd, uint64_t block)
{
    pthread_mutex_lock(&nd->mu);
    nd->block = block;
    pthread_mutex_unlock(&nd->mu);
}

/* ---- the test ---------------------------------------------------------------- */

static void test_failed_round_retried_on_same_block(void **state)
{
    (void)state;
    struct node *nd = node_start(7);
    nd->eth_call_fails = 2; /* set before the first request: no lock needed */
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", nd->port);
    struct rpc_opts ro = {.url = url, .timeout_ms = 5000, .max_attempts = 1};
    struct rpc *rpc = NULL;
    assert_int_equal(rpc_new(&ro, &rpc), ERR_OK);
    struct due_source *due = NULL;
    assert_int_equal(due_mem_new(&due), ERR_OK);
    uint8_t job[32];
    memset(job, 0x42, sizeof(job));
    assert_int_equal(due_mem_add(due, job, UPKEEP_REFUND, 50), ERR_OK); /* due at 50 <= 100 */
    struct key key;
    memset(&key, 0, sizeof(key));
    key.addr[19] = 1;
    struct keeper_opts o = {.rpc = rpc,
                            .due = due,
                            .key = &key,
                            .chain_id = 31337,
                            .batch_max = 100,
                            .batch_gas_pct = 25,
                            .due_limit = 1000,
                            .max_in_flight = 16,
                            .replace_after_ms = 60000,
                            .fee_history_blocks = 1,
                            .tip_percentile = 50,
                            .fees = {.max_fee_wei = u256_from_u64(500000000000ULL),
                                     .min_tip_wei = u256_from_u64(1),
                                     .bump_pct = 12}};
    struct keeper *k = NULL;
    assert_int_equal(keeper_new(&o, &k), ERR_OK);
    assert_int_equal(keeper_start(k, 0), ERR_OK);

    /* Block 7: checkUpkeep fails, so the round fails... */
    assert_int_equal(keeper_tick(k, 100), ERR_RPC);
    assert_int_equal(node_get(nd, &nd->eth_calls), 1);
    /* ...and the next tick, still at block 7, confirms again (and fails again). */
    assert_int_equal(keeper_tick(k, 200), ERR_RPC);
    assert_int_equal(node_get(nd, &nd->eth_calls), 2);
    /* The third succeeds: nothing needs settling after all. */
    assert_int_equal(keeper_tick(k, 300), ERR_OK);
    assert_int_equal(node_get(nd, &nd->eth_calls), 3);
    assert_int_equal(metrics_value(keeper_stats(k)->jobs_due), 1);
    assert_int_equal(metrics_value(keeper_stats(k)->last_block), 7);
    assert_int_equal(metrics_value(keeper_stats(k)->txs_sent), 0);
    /* Block 7 is done: further ticks on it ask nothing. */
    assert_int_equal(keeper_tick(k, 400), ERR_OK);
    assert_int_equal(node_get(nd, &nd->eth_calls), 3);
    /* Block 8: a new round. */
    node_set_block(nd, 8);
    assert_int_equal(keeper_tick(k, 500), ERR_OK);
    assert_int_equal(node_get(nd, &nd->eth_calls), 4);
    assert_int_equal(metrics_value(keeper_stats(k)->last_block), 8);
    assert_int_equal(keeper_next_nonce(k), 0);
    assert_int_equal(node_get(nd, &nd->unknown_requests), 0);

    keeper_free(k);
    due_source_free(due);
    rpc_free(rpc);
    node_stop(nd);
}

int main(void)
{
    /* node_stop() breaks the node's loop from the test's thread. */
    if (evthread_use_pthreads() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_round_retried_on_same_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
