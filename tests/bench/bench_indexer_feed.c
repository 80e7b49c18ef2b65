/*
 * bench_indexer_feed -- following the head, end to end: the latency from a
 * job's funding block being mined (anvil automine) to its job.open message
 * on the job store's feed, through loom-indexer and loom-jobstore.
 *
 * Run by tests/bench/bench_indexer_feed.sh, which starts anvil, PostgreSQL's
 * job store and the indexer and names them in the environment; run alone it
 * says so and exits 0. For each of N_JOBS jobs: wait a random 0..poll-interval
 * ms (so blocks land anywhere in the indexer's poll cycle), job.create on the
 * job store's REP address, eth_sendTransaction of LoomEscrow.create with the
 * quoted wei, then eth_getTransactionReceipt every 1 ms. The mining time is
 * when that receipt first came back (anvil's block timestamp has 1 s
 * resolution): at most one poll period plus one round trip after the block,
 * so the latency printed errs short by about 1 ms. A SUB socket on the feed
 * (its own thread and event base) stamps each job.open.IA on arrival. The
 * next job starts once the previous job.open arrived (or after 5 s).
 * Prints p50, p99 and max; asserts nothing.
 *
 * SPDX-License-Identifier: MIT
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "bus.h"
#include "eth/abi.h"
#include "eth/hexq.h"
#include "eth/rpc.h"
#include "hex.h"
#include "log.h"

#define N_JOBS      200
#define PRICE_CENTS 1250
#define AMOUNT_WEI  "0x16345785d8a000" /* 6.25e15: 1250 cents at 2000 USD/ETH */
#define WAIT_MS     5000.0

static const char *url, *escrow_hex, *client_hex, *rep_addr, *pub_addr;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what, enum err rc, struct rpc *c)
{
    fprintf(stderr, "bench_indexer_feed: %s: %s: %s\n", what, err_str(rc), c ? rpc_errmsg(c) : "");
    exit(1);
}

/* ---- the feed: a SUB socket on its own thread ------------------------------ */

static struct {
    pthread_mutex_t mu;
    int64_t job[N_JOBS * 2];
    double at[N_JOBS * 2];
    size_t n;
    volatile int stop;
    struct event_base *base;
} feed = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void on_open(void *arg, const char *topic, const void *data, size_t len)
{
    (void)arg;
    (void)topic;
    double t = now_ms();
    /* The payload is not NUL-terminated: copy it to find "job_id". */
    char *s = strndup(data, len);
    const char *p = s ? strstr(s, "\"job_id\":") : NULL;
    if (p != NULL) {
        int64_t id = strtoll(p + 9, NULL, 10);
        pthread_mutex_lock(&feed.mu);
        if (feed.n < N_JOBS * 2) {
            feed.job[feed.n] = id;
            feed.at[feed.n++] = t;
        }
        pthread_mutex_unlock(&feed.mu);
    }
    free(s);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (feed.stop)
        event_base_loopbreak(feed.base);
}

static void *feed_thread(void *arg)
{
    (void)arg;
    struct timeval tick = {0, 20000};
    struct event *ev = event_new(feed.base, -1, EV_PERSIST, on_tick, NULL);
    if (ev == NULL || event_add(ev, &tick) != 0)
        abort();
    event_base_dispatch(feed.base);
    event_free(ev);
    return NULL;
}

/* When job <id>'s job.open arrived; 0 if not (yet). */
static double feed_time(int64_t id)
{
    double t = 0;
    pthread_mutex_lock(&feed.mu);
    for (size_t k = 0; k < feed.n && t == 0; k++)
        if (feed.job[k] == id)
            t = feed.at[k];
    pthread_mutex_unlock(&feed.mu);
    return t;
}

/* ---- the job store and the chain ------------------------------------------- */

static int64_t job_create(struct bus *req, const char *spec_hex, uint64_t deadline)
{
    char msg[512];
    snprintf(msg, sizeof(msg),
             "{\"v\":1,\"cmd\":\"job.create\",\"args\":{\"title\":\"feed bench\","
             "\"description\":\"\",\"type\":\"IA\",\"price_usd_cents\":%d,"
             "\"wallet_address\":\"%s\",\"spec_sha256\":\"%s\",\"deadline_at\":%llu,"
             "\"max_runtime_s\":3600}}",
             PRICE_CENTS, client_hex, spec_hex, (unsigned long long)deadline);
    void *reply = NULL;
    size_t len = 0;
    enum err rc = bus_request_wait(req, msg, strlen(msg), 10000, &reply, &len);
    if (rc != ERR_OK)
        die("job.create", rc, NULL);
    const char *p = strstr(reply, "\"ok\":true");
    const char *id = p ? strstr(p, "\"id\":") : NULL;
    if (id == NULL) {
        fprintf(stderr, "bench_indexer_feed: job.create: %s\n", (char *)reply);
        exit(1);
    }
    int64_t v = strtoll(id + 5, NULL, 10);
    free(reply);
    return v;
}

static void set_word(struct abi_value *v, const uint8_t w[32])
{
    if (abi_value_fixed_bytes(v, w, 32) != ERR_OK)
        abort();
}

/* LoomEscrow.create(bytes32(job id), price, spec, deadline, 3600, 60). */
static void cd_create(struct buf *out, int64_t job_id, const uint8_t spec[32], uint64_t deadline)
{
    struct abi_value a = {0};
    uint8_t ref[32] = {0};
    for (int i = 0; i < 8; i++)
        ref[31 - i] = (uint8_t)((uint64_t)job_id >> (8 * i));
    if (abi_value_items(&a, 6) != ERR_OK)
        abort();
    set_word(&a.items[0], ref);
    abi_value_uint(&a.items[1], u256_from_u64(PRICE_CENTS));
    set_word(&a.items[2], spec);
    abi_value_uint(&a.items[3], u256_from_u64(deadline));
    abi_value_uint(&a.items[4], u256_from_u64(3600));
    abi_value_uint(&a.items[5], u256_from_u64(60));
    buf_reset(out);
    if (abi_encode_call("create(bytes32,uint64,bytes32,uint32,uint32,uint32)", &a, out) != ERR_OK)
        abort();
    abi_value_release(&a);
}

static void send_tx(struct rpc *c, const struct buf *data, uint8_t hash[32])
{
    struct buf p;
    buf_init(&p, 0);
    enum err rc = buf_appendf(&p,
                              "[{\"from\":\"%s\",\"to\":\"%s\",\"gas\":\"0x7a120\","
                              "\"value\":\"%s\",\"data\":\"",
                              client_hex, escrow_hex, AMOUNT_WEI);
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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, size_t n)
{
    qsort(v, n, sizeof(v[0]), cmp_double);
    printf("  %-44s p50 %6.1f ms  p99 %6.1f ms  max %6.1f ms  min %5.1f ms\n", what, v[n / 2],
           v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1], v[n - 1], v[0]);
}

int main(void)
{
    url = getenv("LOOM_BENCH_RPC_URL");
    escrow_hex = getenv("LOOM_ESCROW_ADDRESS");
    client_hex = getenv("LOOM_BENCH_CLIENT");
    rep_addr = getenv("LOOM_BENCH_REP");
    pub_addr = getenv("LOOM_BENCH_PUB");
    const char *poll = getenv("LOOM_BENCH_POLL_MS");
    const char *mode = getenv("LOOM_BENCH_MODE");
    if (!url || !escrow_hex || !client_hex || !rep_addr || !pub_addr || !poll) {
        printf("bench_indexer_feed: skipped: run through tests/bench/bench_indexer_feed.sh "
               "(it starts anvil, the job store and the indexer)\n");
        return 0;
    }
    log_init("bench", LOG_LEVEL_ERROR);
    setvbuf(stdout, NULL, _IOLBF, 0);
    long poll_ms = strtol(poll, NULL, 10);

    struct rpc_opts o = {.url = url, .timeout_ms = 30000};
    struct rpc *c;
    enum err rc = rpc_new(&o, &c);
    if (rc != ERR_OK)
        die("rpc_new", rc, NULL);
    struct rpc_block lb;
    rc = rpc_get_block(c, RPC_BLOCK_LATEST, &lb);
    if (rc != ERR_OK)
        die("latest block", rc, c);
    uint64_t deadline = lb.timestamp + 86400;

    struct bus *req = NULL, *sub = NULL;
    feed.base = event_base_new();
    if (feed.base == NULL)
        die("event_base_new", ERR_NOMEM, NULL);
    rc = bus_new(NULL, BUS_REQ, &req);
    if (rc == ERR_OK)
        rc = bus_connect(req, rep_addr);
    if (rc == ERR_OK)
        rc = bus_new(feed.base, BUS_SUB, &sub);
    if (rc == ERR_OK)
        rc = bus_subscribe(sub, "job.open.IA");
    if (rc == ERR_OK)
        rc = bus_on_message(sub, on_open, NULL);
    if (rc == ERR_OK)
        rc = bus_connect(sub, pub_addr);
    if (rc != ERR_OK)
        die("bus", rc, NULL);
    pthread_t th;
    if (pthread_create(&th, NULL, feed_thread, NULL) != 0)
        die("pthread_create", ERR_NOMEM, NULL);
    usleep(300000); /* a SUB connects in the background */

    int64_t ids[N_JOBS];
    double sent[N_JOBS], mined[N_JOBS];
    struct buf d;
    buf_init(&d, 0);
    srand(11);
    double t_start = now_ms();
    for (int i = 0; i < N_JOBS; i++) {
        if (i > 0) {
            double limit = now_ms() + WAIT_MS;
            while (feed_time(ids[i - 1]) == 0 && now_ms() < limit)
                usleep(1000);
        }
        usleep((useconds_t)(rand() % (poll_ms + 1)) * 1000);
        uint8_t spec[32] = {0}, hash[32];
        spec[0] = 0x5e;
        spec[28] = (uint8_t)(getpid() >> 8);
        spec[29] = (uint8_t)getpid();
        spec[30] = (uint8_t)(i >> 8);
        spec[31] = (uint8_t)i;
        char spec_hex[67];
        hex_encode(spec, 32, true, spec_hex);
        ids[i] = job_create(req, spec_hex, deadline);
        cd_create(&d, ids[i], spec, deadline);
        send_tx(c, &d, hash);
        sent[i] = now_ms();
        struct rpc_receipt r;
        while ((rc = rpc_get_receipt(c, hash, &r)) == ERR_NOTFOUND) {
            if (now_ms() - sent[i] > WAIT_MS)
                die("receipt", ERR_TIMEDOUT, c);
            usleep(1000);
        }
        mined[i] = now_ms();
        if (rc != ERR_OK)
            die("receipt", rc, c);
        if (r.status != 1)
            die("funding reverted", ERR_STATE, NULL);
        rpc_receipt_release(&r);
    }
    double limit = now_ms() + WAIT_MS;
    while (feed_time(ids[N_JOBS - 1]) == 0 && now_ms() < limit)
        usleep(1000);
    double run_s = (now_ms() - t_start) / 1e3;
    feed.stop = 1;
    pthread_join(th, NULL);

    double lat[N_JOBS], lat_sent[N_JOBS];
    size_t n = 0;
    for (int i = 0; i < N_JOBS; i++) {
        double t = feed_time(ids[i]);
        if (t == 0)
            continue;
        lat[n] = t - mined[i];
        lat_sent[n++] = t - sent[i];
    }
    printf("bench_indexer_feed: %zu of %d jobs reached the feed (job.open.IA) in %.1f s; "
           "indexer head detection: %s, interval %ld ms; job store on PostgreSQL; anvil "
           "automine; %ld cores, load %s\n",
           n, N_JOBS, run_s, mode ? mode : "eth_blockNumber polling", poll_ms,
           sysconf(_SC_NPROCESSORS_ONLN),
           getenv("LOOM_BENCH_LOAD") ? getenv("LOOM_BENCH_LOAD") : "?");
    if (n > 0) {
        report("block mined (receipt back) -> job.open:", lat, n);
        report("eth_sendTransaction answered -> job.open:", lat_sent, n);
        double p99 = lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
        printf("  target p99 <= %ld ms (interval + 50 ms): %s\n", poll_ms + 50,
               p99 <= (double)(poll_ms + 50) ? "met" : "missed");
    }
    buf_release(&d);
    bus_free(sub);
    bus_free(req);
    event_base_free(feed.base);
    rpc_free(c);
    return 0;
}
