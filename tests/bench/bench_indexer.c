/*
 * bench_indexer -- catch-up throughput and head-following latency of
 * services/indexer. Run by tests/bench/bench_indexer.sh, which starts a
 * fresh anvil and deploys LoomEscrow and BenchFanout; run alone it says so
 * and exits 0. Prints figures and conditions; asserts nothing.
 *
 * SPDX-License-Identifier: MIT
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cmd.h"
#include "eth/abi.h"
#include "hex.h"
#include "eth/hexq.h"
#include "eth/rpc.h"
#include "log.h"
#include "services/indexer/chain.h"
#include "services/indexer/escrowlog.h"
#include "services/indexer/follower.h"
#include "services/indexer/memsink.h"

#define AMOUNT_WEI 6250000000000000ULL /* 1250 cents at 2000 USD/ETH */
#define PER_TX     1000

static const char *url, *escrow_hex, *fanout_hex;
static uint8_t escrow[20];
static uint64_t escrow_block;
static char sender[43];
static struct escrowlog *el;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what, enum err rc, struct rpc *c)
{
    fprintf(stderr, "bench_indexer: %s: %s: %s\n", what, err_str(rc), c ? rpc_errmsg(c) : "");
    exit(1);
}

static struct rpc *new_rpc(void)
{
    struct rpc_opts o = {.url = url, .timeout_ms = 120000};
    struct rpc *c;
    enum err rc = rpc_new(&o, &c);
    if (rc != ERR_OK)
        die("rpc_new", rc, NULL);
    return c;
}

/* eth_sendTransaction from the sender; returns the tx hash. */
static void send_tx(struct rpc *c, const char *to, const struct buf *data, const char *value_hex,
                    const char *gas_hex, uint8_t hash[32])
{
    struct buf p;
    buf_init(&p, 0);
    enum err rc = buf_appendf(&p,
                              "[{\"from\":\"%s\",\"to\":\"%s\",\"gas\":\"%s\",\"value\":\"%s\","
                              "\"data\":\"",
                              sender, to, gas_hex, value_hex);
    if (rc == ERR_OK)
        rc = hex_append(&p, data->data, data->len, true);
    if (rc == ERR_OK)
        rc = buf_append_str(&p, "\"}]");
    char *res = NULL;
    if (rc == ERR_OK)
        rc = rpc_call_raw(c, "eth_sendTransaction", buf_cstr(&p), &res, NULL);
    if (rc == ERR_OK)
        rc = hexq_parse_fixed(res + 1, strlen(res) - 2, hash, 32);
    if (rc != ERR_OK)
        die("eth_sendTransaction", rc, c);
    free(res);
    buf_release(&p);
}

static uint64_t wait_receipt(struct rpc *c, const uint8_t hash[32])
{
    struct rpc_receipt r;
    enum err rc;
    while ((rc = rpc_get_receipt(c, hash, &r)) == ERR_NOTFOUND)
        usleep(1000);
    if (rc != ERR_OK)
        die("receipt", rc, c);
    if (r.status != 1)
        die("transaction reverted", ERR_STATE, NULL);
    uint64_t b = r.block_number;
    rpc_receipt_release(&r);
    return b;
}

static uint64_t latest_ts(struct rpc *c)
{
    struct rpc_block b;
    enum err rc = rpc_get_block(c, RPC_BLOCK_LATEST, &b);
    if (rc != ERR_OK)
        die("latest block", rc, c);
    return b.timestamp;
}

static void set_u64_bytes32(struct abi_value *v, uint64_t x)
{
    uint8_t w[32] = {0};
    for (int i = 0; i < 8; i++)
        w[31 - i] = (uint8_t)(x >> (8 * i));
    if (abi_value_fixed_bytes(v, w, 32) != ERR_OK)
        abort();
}

static void cd_many(struct buf *out, uint64_t start, uint64_t n, uint64_t deadline)
{
    struct abi_value a = {0};
    uint8_t addr[20];
    if (abi_value_items(&a, 5) != ERR_OK || hex_decode_exact(escrow_hex, addr, 20) != ERR_OK)
        abort();
    abi_value_address(&a.items[0], addr);
    abi_value_uint(&a.items[1], u256_from_u64(start));
    abi_value_uint(&a.items[2], u256_from_u64(n));
    abi_value_uint(&a.items[3], u256_from_u64(AMOUNT_WEI));
    abi_value_uint(&a.items[4], u256_from_u64(deadline));
    buf_reset(out);
    if (abi_encode_call("many(address,uint256,uint256,uint256,uint32)", &a, out) != ERR_OK)
        abort();
    abi_value_release(&a);
}

static void cd_create(struct buf *out, uint64_t ref, uint64_t deadline)
{
    struct abi_value a = {0};
    if (abi_value_items(&a, 6) != ERR_OK)
        abort();
    set_u64_bytes32(&a.items[0], ref);
    abi_value_uint(&a.items[1], u256_from_u64(1250));
    set_u64_bytes32(&a.items[2], 0x5e);
    abi_value_uint(&a.items[3], u256_from_u64(deadline));
    abi_value_uint(&a.items[4], u256_from_u64(600));
    abi_value_uint(&a.items[5], u256_from_u64(600));
    buf_reset(out);
    if (abi_encode_call("create(bytes32,uint64,bytes32,uint32,uint32,uint32)", &a, out) != ERR_OK)
        abort();
    abi_value_release(&a);
}

struct run {
    struct rpc *rpc;
    struct rpc *extra[CHAIN_RPC_MAX_PARALLEL - 1];
    size_t n_extra;
    struct chain_rpc *cr;
    struct chain chain;
    struct memsink *ms;
    struct sink sink;
    struct follower *f;
};

/* in_flight: eth_getLogs requests at once over one range (1: one);
 * first_range: the follower's first span, blocks (0: its default). */
static void run_open(struct run *r, const char *journal, uint64_t start_block, struct sink *wrap,
                     size_t in_flight, uint64_t first_range)
{
    memset(r, 0, sizeof(*r));
    r->rpc = new_rpc();
    for (r->n_extra = 0; r->n_extra + 1 < in_flight; r->n_extra++)
        r->extra[r->n_extra] = new_rpc();
    enum err rc =
        chain_rpc_new(r->rpc, escrow, escrowlog_topics(el), ESCROWLOG_N_EVENTS, &r->cr, &r->chain);
    if (rc == ERR_OK)
        rc = chain_rpc_set_parallel(r->cr, r->extra, r->n_extra, 1);
    if (rc == ERR_OK)
        rc = memsink_open(journal, true, &r->ms, &r->sink);
    struct follower_opts o = {
        .start_block = start_block, .metrics_log_ms = -1, .initial_range_blocks = first_range};
    if (rc == ERR_OK)
        rc = follower_new(&o, r->chain, wrap ? *wrap : r->sink, el, &r->f);
    if (rc != ERR_OK)
        die("follower setup", rc, NULL);
}

static void run_close(struct run *r)
{
    follower_free(r->f);
    memsink_free(r->ms);
    chain_rpc_free(r->cr);
    rpc_free(r->rpc);
    for (size_t k = 0; k < r->n_extra; k++)
        rpc_free(r->extra[k]);
}

static void catch_up(const char *label, const char *journal, uint64_t head, size_t want,
                     size_t in_flight, uint64_t first_range)
{
    struct run r;
    run_open(&r, journal, escrow_block, NULL, in_flight, first_range);
    struct timespec c0, c1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    double t0 = now_ms();
    enum err rc = follower_run(r.f, NULL, head);
    double ms = now_ms() - t0;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    double cpu_s = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
    size_t n;
    memsink_events(r.ms, &n);
    struct follower_metrics m;
    follower_get_metrics(r.f, &m);
    printf(
        "catch-up in-process, %-24s %zu events (want %zu) in %.0f ms: %.0f events/s; indexer CPU "
        "%.2f s (%.0f events per CPU second; the rest is waiting for anvil); %llu batches, "
        "%llu range shrinks, final span %llu blocks (%s)\n",
        label, n, want, ms, (double)n / (ms / 1e3), cpu_s, (double)n / cpu_s,
        (unsigned long long)m.batches, (unsigned long long)m.range_shrinks,
        (unsigned long long)m.span_blocks, err_str(rc));
    run_close(&r);
}

static void catch_up_binary(uint64_t head, size_t want)
{
    const char *bd = getenv("LOOM_BUILD");
    char bin[512], start[32], until[32];
    snprintf(bin, sizeof(bin), "%s/bin/loom-indexer", bd ? bd : "build");
    snprintf(start, sizeof(start), "%llu", (unsigned long long)escrow_block);
    snprintf(until, sizeof(until), "%llu", (unsigned long long)head);
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {bin,
                        "--rpc-url",
                        (char *)url,
                        "--escrow-address",
                        (char *)escrow_hex,
                        "--start-block",
                        start,
                        "--until-block",
                        until,
                        "--sink",
                        "memory",
                        "--log-level",
                        "warn",
                        "--metrics-log-ms",
                        "-1",
                        NULL};
        execv(bin, argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    double ms = now_ms() - t0;
    printf("catch-up %-26s %zu events in %.0f ms (process start included): %.0f events/s "
           "(exit %d)\n",
           "loom-indexer, memory sink, defaults (4 getLogs):", want, ms, (double)want / (ms / 1e3),
           WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* ---- head following ---------------------------------------------------------- */

#define N_JOBS 200

struct timing {
    struct sink inner;
    pthread_mutex_t mu;
    uint64_t blocks[N_JOBS * 2];
    double at[N_JOBS * 2];
    size_t n;
};

static enum err timing_apply_cb(void *ctx, const struct proto_events_apply *b,
                                struct proto_applied *out)
{
    struct timing *t = ctx;
    enum err rc = t->inner.ops->apply(t->inner.ctx, b, out);
    double now = now_ms();
    if (rc == ERR_OK) {
        pthread_mutex_lock(&t->mu);
        for (size_t i = 0; i < b->n_events && t->n < N_JOBS * 2; i++) {
            t->blocks[t->n] = (uint64_t)b->events[i].block_number;
            t->at[t->n++] = now;
        }
        pthread_mutex_unlock(&t->mu);
    }
    return rc;
}

static enum err timing_rollback_cb(void *ctx, const struct proto_reorg_rollback *rb,
                                   struct proto_rollback *out)
{
    struct timing *t = ctx;
    return t->inner.ops->rollback(t->inner.ctx, rb, out);
}

static enum err timing_checkpoint_cb(void *ctx, struct proto_checkpoint *out)
{
    struct timing *t = ctx;
    return t->inner.ops->checkpoint(t->inner.ctx, out);
}

static const char *timing_errmsg_cb(void *ctx)
{
    struct timing *t = ctx;
    return t->inner.ops->errmsg(t->inner.ctx);
}

static const struct sink_ops timing_ops = {timing_apply_cb, timing_rollback_cb,
                                           timing_checkpoint_cb, timing_errmsg_cb};

static volatile sig_atomic_t stop_follow;

static void *follow_thread(void *arg)
{
    struct run *r = arg;
    if (follower_run(r->f, &stop_follow, 0) != ERR_CANCELED)
        fprintf(stderr, "bench_indexer: follower stopped early\n");
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void head_latency(struct rpc *c)
{
    struct timing t = {0};
    pthread_mutex_init(&t.mu, NULL);
    uint64_t h;
    if (rpc_block_number(c, &h) != ERR_OK)
        die("head", ERR_IO, c);
    struct sink wrap = {&timing_ops, &t};
    struct run r;
    run_open(&r, NULL, h + 1, &wrap, 1, 0);
    t.inner = r.sink;
    pthread_t th;
    pthread_create(&th, NULL, follow_thread, &r);
    usleep(300000);
    uint64_t deadline = latest_ts(c) + 86400;
    uint64_t blocks[N_JOBS];
    double mined[N_JOBS], sent[N_JOBS];
    struct buf d;
    buf_init(&d, 0);
    srand(7);
    for (int i = 0; i < N_JOBS; i++) {
        /* 20..120 ms apart, so the blocks land anywhere in the poll interval. */
        usleep((useconds_t)(20000 + rand() % 100000));
        cd_create(&d, 900000000 + (uint64_t)i, deadline);
        uint8_t hash[32];
        send_tx(c, escrow_hex, &d, "0x2386f26fc10000", "0x7a120", hash);
        sent[i] = now_ms();
        blocks[i] = wait_receipt(c, hash);
        /* anvil's automine mines after answering eth_sendTransaction: the
         * block is there when the receipt is (polled every 1 ms). */
        mined[i] = now_ms();
    }
    buf_release(&d);
    double t_end = now_ms() + 5000;
    for (;;) {
        pthread_mutex_lock(&t.mu);
        size_t n = t.n;
        pthread_mutex_unlock(&t.mu);
        if (n >= N_JOBS || now_ms() > t_end)
            break;
        usleep(10000);
    }
    stop_follow = 1;
    pthread_join(th, NULL);
    double lat[N_JOBS], lat_sent[N_JOBS];
    size_t n_lat = 0;
    for (int i = 0; i < N_JOBS; i++)
        for (size_t k = 0; k < t.n; k++)
            if (t.blocks[k] == blocks[i]) {
                lat_sent[n_lat] = t.at[k] - sent[i];
                lat[n_lat++] = t.at[k] - mined[i];
                break;
            }
    qsort(lat, n_lat, sizeof(lat[0]), cmp_double);
    qsort(lat_sent, n_lat, sizeof(lat[0]), cmp_double);
    if (n_lat == 0) {
        printf("head following: no event applied\n");
    } else {
        size_t p99 = (n_lat * 99) / 100;
        printf("head following: %zu of %d jobs, block mined (receipt readable) -> batch applied: "
               "p50 %.1f ms, p99 %.1f ms, max %.1f ms; from eth_sendTransaction's answer: p50 "
               "%.1f ms, p99 %.1f ms (poll interval 250 ms, memory sink)\n",
               n_lat, N_JOBS, lat[n_lat / 2], lat[p99], lat[n_lat - 1], lat_sent[n_lat / 2],
               lat_sent[p99]);
    }
    run_close(&r);
    pthread_mutex_destroy(&t.mu);
}

int main(void)
{
    url = getenv("LOOM_BENCH_RPC_URL");
    escrow_hex = getenv("LOOM_ESCROW_ADDRESS");
    fanout_hex = getenv("LOOM_BENCH_FANOUT");
    const char *blk = getenv("LOOM_ESCROW_BLOCK");
    if (url == NULL || escrow_hex == NULL || fanout_hex == NULL || blk == NULL) {
        printf("bench_indexer: skipped: run through tests/bench/bench_indexer.sh "
               "(it needs an anvil of its own and the contracts deployed)\n");
        return 0;
    }
    log_init("bench", LOG_LEVEL_ERROR);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (hex_decode_exact(escrow_hex, escrow, 20) != ERR_OK)
        die("LOOM_ESCROW_ADDRESS", ERR_INVAL, NULL);
    escrow_block = strtoull(blk, NULL, 10);
    const char *ne = getenv("LOOM_BENCH_INDEXER_EVENTS");
    uint64_t n_events = ne ? strtoull(ne, NULL, 10) : 100000;
    if (escrowlog_new(&el) != ERR_OK)
        die("escrowlog", ERR_NOMEM, NULL);
    struct rpc *c = new_rpc();
    char *res = NULL;
    if (rpc_call_raw(c, "eth_accounts", NULL, &res, NULL) != ERR_OK || strlen(res) < 46)
        die("eth_accounts", ERR_PROTO, c);
    memcpy(sender, res + 2, 42);
    sender[42] = '\0';
    free(res);

    /* LOOM_BENCH_INDEXER_PG_ONLY=1: make the events and stop, for
     * bench_indexer.sh's PostgreSQL catch-up alone. */
    const char *pg_only_env = getenv("LOOM_BENCH_INDEXER_PG_ONLY");
    int pg_only = pg_only_env && strcmp(pg_only_env, "1") == 0;

    /* Head following first, on the fresh chain: anvil's blocks slow down
     * a lot once it holds 100,000 jobs (DESIGN.md, "Measured"). */
    if (!pg_only)
        head_latency(c);

    /* Make the events: PER_TX creations per transaction, one per block. */
    uint64_t deadline = latest_ts(c) + 7 * 86400;
    struct buf d;
    buf_init(&d, 0);
    double t0 = now_ms();
    uint64_t made = 0;
    while (made < n_events) {
        uint64_t k = n_events - made < PER_TX ? n_events - made : PER_TX;
        cd_many(&d, made + 1, k, deadline);
        char value[80];
        struct u256 v = u256_from_u64(AMOUNT_WEI), kk = u256_from_u64(k), prod;
        if (u256_mul(v, kk, &prod) != ERR_OK)
            abort();
        u256_to_hex(prod, value);
        uint8_t hash[32];
        send_tx(c, fanout_hex, &d, value, "0x17d78400", hash); /* 400M gas */
        wait_receipt(c, hash);
        made += k;
    }
    buf_release(&d);
    double make_ms = now_ms() - t0;
    uint64_t head;
    if (rpc_block_number(c, &head) != ERR_OK)
        die("head", ERR_IO, c);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    printf("bench_indexer: %llu JobCreated events made in %.1f s (%d per transaction and "
           "block) after the %d of the latency run; escrow at block %llu, chain height %llu; "
           "%ld cores, anvil on the same machine\n",
           (unsigned long long)n_events, make_ms / 1e3, PER_TX, pg_only ? 0 : N_JOBS,
           (unsigned long long)escrow_block, (unsigned long long)head, cores);

    if (pg_only) {
        rpc_free(c);
        escrowlog_free(el);
        return 0;
    }
    size_t want = (size_t)n_events + N_JOBS;
    /* A first range of 1,000 blocks (the default before spans followed the
     * density) holds every event: anvil builds the whole answer before the
     * client refuses it as too large, and the follower narrows by halves.
     * The default now starts at 16 blocks and sizes each range to about
     * 2,500 events by the density just seen. */
    catch_up("memory sink, 1 getLogs, first 1000:", NULL, head, want, 1, 1000);
    catch_up("memory sink, defaults (1 getLogs):", NULL, head, want, 1, 0);
    catch_up("memory sink, 2 getLogs:", NULL, head, want, 2, 0);
    catch_up("memory sink, 4 getLogs:", NULL, head, want, 4, 0);
    char journal[512];
    snprintf(journal, sizeof(journal), "%s/bench.journal", getenv("LOOM_BENCH_TMP"));
    unlink(journal);
    catch_up("journal sink, 1 getLogs:", journal, head, want, 1, 0);
    unlink(journal);
    catch_up_binary(head, (size_t)n_events + N_JOBS);
    rpc_free(c);
    escrowlog_free(el);
    return 0;
}
