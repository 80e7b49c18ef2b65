/*
 * bench_rpc -- figures for common/eth/rpc.
 *
 *   build/bench/bench_rpc                 parser throughput only
 *   LOOM_BENCH_RPC_URL=http://127.0.0.1:8545 build/bench/bench_rpc
 *                                         also round trips to that node
 *
 * Prints: eth_getLogs result parsing (logs/s, MB/s) for a 1,000-log answer
 * shaped like anvil's; eth_getBlockByNumber parsing (blocks/s); and, with a
 * node, eth_blockNumber round-trip latency (p50/p99, one kept-alive
 * connection) and a 100-call eth_getBlockByNumber batch against one call at a
 * time. Conditions (sizes, chain height) are printed with the figures.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "eth/rpc.h"

#define BH "0xe6b5edcaabee4407932f54a29d45940b7d409d49767ebee722d177cb0137340e"
#define TX "0x10227bc640a65ef3caa4827f35d6f9e7171873109301cb806a5692e1de611767"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int bench_parse(void)
{
    struct buf j;
    buf_init(&j, 0);
    enum err e = buf_append_byte(&j, '[');
    const int n_logs = 1000;
    for (int i = 0; e == ERR_OK && i < n_logs; i++)
        e = buf_appendf(&j,
                        "%s{\"address\":\"0x5fbdb2315678afecb367f032d93f642f64180aa3\",\"topics\":"
                        "[\"0x775a94827b8fd9b519d36cd827093c664f93347070a554f65e4a6f56cd738898\","
                        "\"0x000000000000000000000000f39fd6e51aad88f6f4ce6ab8827279cfffb92266\"],"
                        "\"data\":\"0x%064x\",\"blockHash\":\"" BH "\",\"blockNumber\":\"0x%x\","
                        "\"transactionHash\":\"" TX "\",\"transactionIndex\":\"0x0\","
                        "\"logIndex\":\"0x%x\",\"removed\":false}",
                        i > 0 ? "," : "", i + 1, 1 + i / 10, i % 10);
    if (e == ERR_OK)
        e = buf_append_byte(&j, ']');
    if (e != ERR_OK) {
        fprintf(stderr, "bench_rpc: cannot build input: %s\n", err_str(e));
        buf_release(&j);
        return 1;
    }
    const int rounds = 50;
    double t0 = now_s();
    for (int r = 0; r < rounds; r++) {
        struct rpc_logs logs;
        e = rpc_parse_logs(j.data, j.len, &logs, NULL);
        if (e != ERR_OK || logs.count != (size_t)n_logs) {
            fprintf(stderr, "bench_rpc: parse failed: %s\n", err_str(e));
            buf_release(&j);
            return 1;
        }
        rpc_logs_release(&logs);
    }
    double dt = now_s() - t0;
    printf("parse eth_getLogs: %d logs (%zu bytes) x %d: %.0f logs/s, %.1f MB/s\n", n_logs, j.len,
           rounds, n_logs * rounds / dt, (double)j.len * rounds / dt / 1e6);

    static const char blk[] =
        "{\"hash\":\"" BH "\",\"parentHash\":\"" BH "\",\"number\":\"0x1\",\"gasLimit\":"
        "\"0x1c9c380\",\"gasUsed\":\"0xd5ab\",\"timestamp\":\"0x6b0cba61\",\"baseFeePerGas\":"
        "\"0x3b9aca00\",\"miner\":\"0x0000000000000000000000000000000000000000\",\"extraData\":"
        "\"0x\",\"transactions\":[],\"uncles\":[]}";
    const int n_blocks = 100000;
    t0 = now_s();
    for (int i = 0; i < n_blocks; i++) {
        struct rpc_block b;
        if (rpc_parse_block(blk, sizeof blk - 1, &b, NULL) != ERR_OK) {
            buf_release(&j);
            return 1;
        }
    }
    dt = now_s() - t0;
    printf("parse eth_getBlockByNumber header (%zu bytes): %.0f blocks/s\n", sizeof blk - 1,
           n_blocks / dt);
    buf_release(&j);
    return 0;
}

static int bench_node(const char *url)
{
    struct rpc_opts o = {0};
    o.url = url;
    struct rpc *c = NULL;
    if (rpc_new(&o, &c) != ERR_OK)
        return 1;
    uint64_t head = 0;
    if (rpc_block_number(c, &head) != ERR_OK) {
        fprintf(stderr, "bench_rpc: %s\n", rpc_errmsg(c));
        rpc_free(c);
        return 1;
    }
    enum { N = 2000 };
    static double lat[N];
    for (int i = 0; i < N; i++) {
        double t0 = now_s();
        uint64_t v;
        if (rpc_block_number(c, &v) != ERR_OK) {
            rpc_free(c);
            return 1;
        }
        lat[i] = (now_s() - t0) * 1e6;
    }
    qsort(lat, N, sizeof lat[0], cmp_double);
    printf("eth_blockNumber round trip, one kept-alive connection, chain height %llu: "
           "p50 %.0f us, p99 %.0f us (%d calls)\n",
           (unsigned long long)head, lat[N / 2], lat[N * 99 / 100], N);

    uint64_t span = head + 1 < 100 ? head + 1 : 100;
    double t0 = now_s();
    for (uint64_t i = 0; i < span; i++) {
        struct rpc_block b;
        if (rpc_get_block(c, RPC_BLOCK_NUM(head - i), &b) != ERR_OK) {
            rpc_free(c);
            return 1;
        }
    }
    double one_by_one = now_s() - t0;
    struct rpc_batch *bt = NULL;
    if (rpc_batch_new(&bt) != ERR_OK) {
        rpc_free(c);
        return 1;
    }
    for (uint64_t i = 0; i < span; i++) {
        if (rpc_batch_add_get_block(bt, RPC_BLOCK_NUM(head - i), NULL) != ERR_OK)
            goto fail;
    }
    t0 = now_s();
    if (rpc_call_batch(c, bt) != ERR_OK)
        goto fail;
    for (uint64_t i = 0; i < span; i++) {
        const char *json;
        size_t len;
        struct rpc_block b;
        if (rpc_batch_result(bt, i, &json, &len, NULL) != ERR_OK ||
            rpc_parse_block(json, len, &b, NULL) != ERR_OK)
            goto fail;
    }
    double batched = now_s() - t0;
    printf("%llu eth_getBlockByNumber: one at a time %.2f ms, one batch %.2f ms\n",
           (unsigned long long)span, one_by_one * 1e3, batched * 1e3);
    rpc_batch_free(bt);
    rpc_free(c);
    return 0;
fail:
    fprintf(stderr, "bench_rpc: batch failed: %s\n", rpc_errmsg(c));
    rpc_batch_free(bt);
    rpc_free(c);
    return 1;
}

int main(void)
{
    if (bench_parse() != 0)
        return 1;
    const char *url = getenv("LOOM_BENCH_RPC_URL");
    if (url == NULL || *url == '\0') {
        printf("set LOOM_BENCH_RPC_URL to also measure round trips to a node\n");
        return 0;
    }
    return bench_node(url);
}
