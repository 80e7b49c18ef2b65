/*
 * services/indexer against anvil, run by tests/integration/indexer_anvil.sh
 * (which deploys LoomEscrow and sets LOOM_ESCROW_ADDRESS and
 * LOOM_ESCROW_BLOCK). Without LOOM_TEST_RPC_URL (the plain unit-test run)
 * every test is skipped.
 *
 * The chain is driven from here: eth_sendTransaction from anvil's unlocked
 * dev accounts (1: client, 2 and 3: workers), evm_mine, evm_setAutomine,
 * evm_increaseTime, evm_snapshot / evm_revert. Checks:
 *   - every event type, decoded to the values the transactions set;
 *   - reorgs of depth 1 and 3 leave the sink equal to eth_getLogs;
 *   - kill -9 of loom-indexer at random moments of a 1,000-event backfill
 *     into its journal sink, restarted each time: every event once;
 *   - a scripted proxy in front of anvil that refuses wide ranges, times
 *     out, answers 503 and JSON-RPC errors: the follower backs off and ends
 *     equal to the chain.
 *
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
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "eth/abi.h"
#include "hex.h"
#include "eth/hexq.h"
#include "eth/keccak.h"
#include "eth/rpc.h"
#include "log.h"
#include "services/indexer/chain.h"
#include "services/indexer/escrowlog.h"
#include "services/indexer/follower.h"
#include "services/indexer/memsink.h"

static const char *rpc_url;
static uint8_t escrow[20];
static uint64_t escrow_block;
static char escrow_hex[43];
static uint8_t dev_acct[10][20];
static struct escrowlog *el;

static struct rpc *new_rpc(const char *url, long timeout_ms, unsigned attempts)
{
    struct rpc_opts o = {.url = url,
                         .timeout_ms = timeout_ms,
                         .max_attempts = attempts,
                         .backoff_base_ms = 5,
                         .backoff_max_ms = 20};
    struct rpc *c = NULL;
    assert_int_equal(rpc_new(&o, &c), ERR_OK);
    return c;
}

/* Call <method> and return its raw result (caller frees). */
static char *call(struct rpc *c, const char *method, const char *params)
{
    char *res = NULL;
    enum err rc = rpc_call_raw(c, method, params, &res, NULL);
    if (rc != ERR_OK)
        fail_msg("%s: %s: %s", method, err_str(rc), rpc_errmsg(c));
    return res;
}

static void call_void(struct rpc *c, const char *method, const char *params)
{
    free(call(c, method, params));
}

static uint64_t head(struct rpc *c)
{
    uint64_t n;
    assert_int_equal(rpc_block_number(c, &n), ERR_OK);
    return n;
}

static void addr_hex(const uint8_t a[20], char out[43])
{
    hex_encode(a, 20, true, out);
}

/* Send a transaction from dev account <from> to the escrow with <data>;
 * when <mined>, wait for nothing (automine) and check its status. Returns
 * the block it landed in (0 when not mined). */
static uint64_t send_tx(struct rpc *c, int from, const struct buf *data, const char *value_hex,
                        bool mined)
{
    char fh[43];
    addr_hex(dev_acct[from], fh);
    struct buf p;
    buf_init(&p, 0);
    assert_int_equal(buf_appendf(&p,
                                 "[{\"from\":\"%s\",\"to\":\"%s\",\"gas\":\"0x7a120\",\"data\":\"",
                                 fh, escrow_hex),
                     ERR_OK);
    assert_int_equal(hex_append(&p, data->data, data->len, true), ERR_OK);
    assert_int_equal(buf_appendf(&p, "\",\"value\":\"%s\"}]", value_hex ? value_hex : "0x0"),
                     ERR_OK);
    char *res = call(c, "eth_sendTransaction", buf_cstr(&p));
    buf_release(&p);
    uint64_t block = 0;
    if (mined) {
        uint8_t h[32];
        assert_int_equal(hexq_parse_fixed(res + 1, strlen(res) - 2, h, 32), ERR_OK);
        struct rpc_receipt r;
        /* anvil's automine answers eth_sendTransaction before the receipt
         * is always readable: poll for up to 5 s. */
        enum err rc = ERR_NOTFOUND;
        for (int i = 0; i < 2500 && rc == ERR_NOTFOUND; i++) {
            rc = rpc_get_receipt(c, h, &r);
            if (rc == ERR_NOTFOUND)
                usleep(2000);
        }
        assert_int_equal(rc, ERR_OK);
        assert_int_equal(r.status, 1);
        block = r.block_number;
        rpc_receipt_release(&r);
    }
    free(res);
    return block;
}

static void word_fill(struct abi_value *v, uint8_t fill)
{
    uint8_t w[32];
    memset(w, fill, 32);
    assert_int_equal(abi_value_fixed_bytes(v, w, 32), ERR_OK);
}

/* Calldata of create(ref, 1250 cents, spec 0x5e.., deadline, max_runtime, window 600). */
static void cd_create(struct buf *out, uint64_t ref, uint64_t deadline, uint64_t max_runtime)
{
    struct abi_value a = {0};
    assert_int_equal(abi_value_items(&a, 6), ERR_OK);
    uint8_t r[32] = {0};
    for (int i = 0; i < 8; i++)
        r[31 - i] = (uint8_t)(ref >> (8 * i));
    assert_int_equal(abi_value_fixed_bytes(&a.items[0], r, 32), ERR_OK);
    abi_value_uint(&a.items[1], u256_from_u64(1250));
    word_fill(&a.items[2], 0x5e);
    abi_value_uint(&a.items[3], u256_from_u64(deadline));
    abi_value_uint(&a.items[4], u256_from_u64(max_runtime));
    abi_value_uint(&a.items[5], u256_from_u64(600));
    buf_reset(out);
    assert_int_equal(
        abi_encode_call("create(bytes32,uint64,bytes32,uint32,uint32,uint32)", &a, out), ERR_OK);
    abi_value_release(&a);
}

/* jobIdOf(client, ref) = keccak256(abi.encode(client, ref)). */
static void job_id(const uint8_t client[20], uint64_t ref, uint8_t out[32])
{
    uint8_t b[64] = {0};
    memcpy(b + 12, client, 20);
    for (int i = 0; i < 8; i++)
        b[63 - i] = (uint8_t)(ref >> (8 * i));
    keccak256(b, 64, out);
}

/* Calldata of <sig> with the job id and, for submit, a result hash 0x7e... */
static void cd_job(struct buf *out, const char *sig, const uint8_t id[32])
{
    struct abi_value a = {0};
    bool submit = strncmp(sig, "submit", 6) == 0;
    assert_int_equal(abi_value_items(&a, submit ? 2 : 1), ERR_OK);
    assert_int_equal(abi_value_fixed_bytes(&a.items[0], id, 32), ERR_OK);
    if (submit)
        word_fill(&a.items[1], 0x7e);
    buf_reset(out);
    assert_int_equal(abi_encode_call(sig, &a, out), ERR_OK);
    abi_value_release(&a);
}

/* 0.01 ether: above the quote (1250 cents at 2000 USD/ETH = 6.25e15 wei);
 * the escrow sends back the surplus. */
#define VALUE_HEX  "0x2386f26fc10000"
#define AMOUNT_WEI 6250000000000000ULL

static uint64_t block_ts(struct rpc *c, uint64_t n)
{
    struct rpc_block b;
    assert_int_equal(rpc_get_block(c, RPC_BLOCK_NUM(n), &b), ERR_OK);
    return b.timestamp;
}

/* ---- an in-process follower over a memory sink ---------------------------- */

struct run {
    struct rpc *rpc;
    struct chain_rpc *cr;
    struct chain chain;
    struct memsink *ms;
    struct sink sink;
    struct follower *f;
};

static void run_open(struct run *r, const char *url, long timeout_ms, unsigned attempts,
                     uint64_t initial_range)
{
    memset(r, 0, sizeof(*r));
    r->rpc = new_rpc(url, timeout_ms, attempts);
    assert_int_equal(
        chain_rpc_new(r->rpc, escrow, escrowlog_topics(el), ESCROWLOG_N_EVENTS, &r->cr, &r->chain),
        ERR_OK);
    assert_int_equal(memsink_open(NULL, false, &r->ms, &r->sink), ERR_OK);
    struct follower_opts o = {.start_block = escrow_block,
                              .poll_interval_ms = 5,
                              .backoff_base_ms = 5,
                              .backoff_max_ms = 50,
                              .initial_range_blocks = initial_range,
                              .metrics_log_ms = -1};
    assert_int_equal(follower_new(&o, r->chain, r->sink, el, &r->f), ERR_OK);
}

static void run_close(struct run *r)
{
    follower_free(r->f);
    memsink_free(r->ms);
    chain_rpc_free(r->cr);
    rpc_free(r->rpc);
}

/* The escrow's followed events on the chain now, decoded; count in *n. */
static struct proto_event *chain_events(struct rpc *c, uint64_t to, size_t *n)
{
    struct chain_rpc *cr;
    struct chain ch;
    assert_int_equal(chain_rpc_new(c, escrow, escrowlog_topics(el), ESCROWLOG_N_EVENTS, &cr, &ch),
                     ERR_OK);
    struct rpc_logs logs = {0};
    assert_int_equal(ch.ops->logs(ch.ctx, escrow_block, to, &logs), ERR_OK);
    struct proto_event *ev = calloc(logs.count + 1, sizeof(*ev));
    assert_non_null(ev);
    for (size_t i = 0; i < logs.count; i++)
        assert_int_equal(escrowlog_decode(el, &logs.items[i], &ev[i]), ERR_OK);
    *n = logs.count;
    rpc_logs_release(&logs);
    chain_rpc_free(cr);
    return ev;
}

static void assert_sink_is_chain(struct rpc *c, struct memsink *ms, uint64_t to)
{
    size_t n_chain, n_sink;
    struct proto_event *want = chain_events(c, to, &n_chain);
    const struct proto_event *got = memsink_events(ms, &n_sink);
    assert_int_equal(n_sink, n_chain);
    for (size_t i = 0; i < n_chain; i++) {
        assert_int_equal(got[i].block_number, want[i].block_number);
        assert_int_equal(got[i].log_index, want[i].log_index);
        assert_memory_equal(got[i].block_hash, want[i].block_hash, 32);
        assert_memory_equal(got[i].tx_hash, want[i].tx_hash, 32);
        assert_int_equal(got[i].name, want[i].name);
        assert_memory_equal(got[i].fields.chain_job_id, want[i].fields.chain_job_id, 32);
    }
    free(want);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_every_event(void **state)
{
    (void)state;
    if (rpc_url == NULL)
        skip();
    struct rpc *c = new_rpc(rpc_url, 10000, 0);
    struct buf d;
    buf_init(&d, 0);
    uint64_t now = block_ts(c, head(c));
    uint8_t ja[32], jb[32], jc[32], jd[32];
    job_id(dev_acct[1], 1, ja);
    job_id(dev_acct[1], 2, jb);
    job_id(dev_acct[1], 3, jc);
    job_id(dev_acct[1], 4, jd);
    uint64_t blk[13];
    int k = 0;
    /* A: created, claimed, submitted, accepted (PaymentReleased). */
    cd_create(&d, 1, now + 86400, 600);
    blk[k++] = send_tx(c, 1, &d, VALUE_HEX, true);
    cd_job(&d, "claim(bytes32)", ja);
    blk[k++] = send_tx(c, 2, &d, NULL, true);
    cd_job(&d, "submit(bytes32,bytes32)", ja);
    blk[k++] = send_tx(c, 2, &d, NULL, true);
    cd_job(&d, "accept(bytes32)", ja);
    blk[k++] = send_tx(c, 1, &d, NULL, true);
    /* B: created, claimed, submitted, disputed. */
    cd_create(&d, 2, now + 86400, 600);
    blk[k++] = send_tx(c, 1, &d, VALUE_HEX, true);
    cd_job(&d, "claim(bytes32)", jb);
    blk[k++] = send_tx(c, 3, &d, NULL, true);
    cd_job(&d, "submit(bytes32,bytes32)", jb);
    blk[k++] = send_tx(c, 3, &d, NULL, true);
    cd_job(&d, "dispute(bytes32)", jb);
    blk[k++] = send_tx(c, 1, &d, NULL, true);
    /* C: a 60 s claim that lapses and is reopened; D: a 40 s deadline, refunded. */
    cd_create(&d, 3, now + 86400, 60);
    blk[k++] = send_tx(c, 1, &d, VALUE_HEX, true);
    cd_create(&d, 4, now + 40, 600);
    blk[k++] = send_tx(c, 1, &d, VALUE_HEX, true);
    cd_job(&d, "claim(bytes32)", jc);
    blk[k++] = send_tx(c, 2, &d, NULL, true);
    call_void(c, "evm_increaseTime", "[61]");
    cd_job(&d, "reopen(bytes32)", jc);
    blk[k++] = send_tx(c, 3, &d, NULL, true);
    cd_job(&d, "refund(bytes32)", jd);
    blk[k++] = send_tx(c, 3, &d, NULL, true);
    buf_release(&d);

    struct run r;
    run_open(&r, rpc_url, 10000, 0, 1000);
    assert_int_equal(follower_run(r.f, NULL, head(c)), ERR_OK);
    size_t n;
    const struct proto_event *e = memsink_events(r.ms, &n);
    assert_int_equal(n, 13);
    const enum proto_event_name names[13] = {
        PROTO_EV_JOB_CREATED,      PROTO_EV_JOB_CLAIMED,  PROTO_EV_JOB_SUBMITTED,
        PROTO_EV_PAYMENT_RELEASED, PROTO_EV_JOB_CREATED,  PROTO_EV_JOB_CLAIMED,
        PROTO_EV_JOB_SUBMITTED,    PROTO_EV_JOB_DISPUTED, PROTO_EV_JOB_CREATED,
        PROTO_EV_JOB_CREATED,      PROTO_EV_JOB_CLAIMED,  PROTO_EV_JOB_REOPENED,
        PROTO_EV_JOB_REFUNDED};
    const uint8_t *ids[13] = {ja, ja, ja, ja, jb, jb, jb, jb, jc, jd, jc, jc, jd};
    uint8_t amount[32], spec[32], result[32];
    u256_to_be(u256_from_u64(AMOUNT_WEI), amount);
    memset(spec, 0x5e, 32);
    memset(result, 0x7e, 32);
    for (int i = 0; i < 13; i++) {
        const struct proto_event_fields *f = &e[i].fields;
        assert_int_equal(e[i].name, names[i]);
        assert_int_equal(e[i].block_number, blk[i]);
        assert_memory_equal(f->chain_job_id, ids[i], 32);
        uint64_t ts = block_ts(c, blk[i]);
        assert_int_equal(e[i].block_at, ts);
        assert_memory_equal(f->client, dev_acct[1], 20);
        switch (names[i]) {
        case PROTO_EV_JOB_CREATED:
            assert_memory_equal(f->client, dev_acct[1], 20);
            assert_int_equal(f->price_usd_cents, 1250);
            assert_memory_equal(f->amount_wei, amount, 32);
            assert_memory_equal(f->spec_sha256, spec, 32);
            assert_int_equal(f->deadline_at, ids[i] == jd ? now + 40 : now + 86400);
            assert_int_equal(f->max_runtime_s, ids[i] == jc ? 60 : 600);
            break;
        case PROTO_EV_JOB_CLAIMED:
            assert_memory_equal(f->worker, dev_acct[ids[i] == jb ? 3 : 2], 20);
            assert_int_equal(f->claim_expires_at, ts + (ids[i] == jc ? 60 : 600));
            break;
        case PROTO_EV_JOB_SUBMITTED:
            assert_memory_equal(f->worker, dev_acct[ids[i] == jb ? 3 : 2], 20);
            assert_memory_equal(f->result_sha256, result, 32);
            assert_int_equal(f->challenge_ends_at, ts + 600);
            break;
        case PROTO_EV_PAYMENT_RELEASED:
            assert_memory_equal(f->worker, dev_acct[2], 20);
            assert_memory_equal(f->amount_wei, amount, 32);
            break;
        case PROTO_EV_JOB_DISPUTED:
            assert_memory_equal(f->client, dev_acct[1], 20);
            break;
        case PROTO_EV_JOB_REOPENED:
            assert_memory_equal(f->worker, dev_acct[2], 20);
            break;
        case PROTO_EV_JOB_REFUNDED:
            assert_memory_equal(f->client, dev_acct[1], 20);
            assert_memory_equal(f->amount_wei, amount, 32);
            break;
        default:
            fail();
        }
    }
    run_close(&r);
    rpc_free(c);
}

static uint64_t next_ref = 1000;

/* Index to the head, snapshot, mine <depth> blocks with a job each, index
 * them, revert, mine depth + 1 other blocks, index: one reorg of <depth>. */
static void reorg_case(uint64_t depth)
{
    struct rpc *c = new_rpc(rpc_url, 10000, 0);
    struct buf d;
    buf_init(&d, 0);
    struct run r;
    run_open(&r, rpc_url, 10000, 0, 1000);
    uint64_t h = head(c);
    assert_int_equal(follower_run(r.f, NULL, h), ERR_OK);
    size_t n0;
    memsink_events(r.ms, &n0);
    uint64_t deadline = block_ts(c, h) + 86400;
    char *snap = call(c, "evm_snapshot", NULL);
    for (uint64_t i = 0; i < depth; i++) {
        cd_create(&d, next_ref++, deadline, 600);
        send_tx(c, 1, &d, VALUE_HEX, true);
    }
    assert_int_equal(follower_run(r.f, NULL, h + depth), ERR_OK);
    size_t n1;
    memsink_events(r.ms, &n1);
    assert_int_equal(n1, n0 + depth);
    char params[96];
    snprintf(params, sizeof(params), "[%s]", snap);
    char *ok = call(c, "evm_revert", params);
    assert_string_equal(ok, "true");
    free(ok);
    free(snap);
    assert_int_equal(head(c), h);
    for (uint64_t i = 0; i <= depth; i++) {
        cd_create(&d, next_ref++ + 500, deadline, 600);
        send_tx(c, 2, &d, VALUE_HEX, true);
    }
    assert_int_equal(follower_run(r.f, NULL, h + depth + 1), ERR_OK);
    assert_sink_is_chain(c, r.ms, h + depth + 1);
    struct follower_metrics m;
    follower_get_metrics(r.f, &m);
    assert_int_equal(m.reorgs, 1);
    assert_int_equal(m.last_reorg_depth, depth);
    assert_int_equal(m.indexed_block, h + depth + 1);
    buf_release(&d);
    run_close(&r);
    rpc_free(c);
}

static void test_reorg_depth_1(void **state)
{
    (void)state;
    if (rpc_url == NULL)
        skip();
    reorg_case(1);
}

static void test_reorg_depth_3(void **state)
{
    (void)state;
    if (rpc_url == NULL)
        skip();
    reorg_case(3);
}

/* ---- kill -9 during a backfill ------------------------------------------------- */

static pid_t spawn_indexer(const char *journal, uint64_t until)
{
    const char *bd = getenv("LOOM_BUILD");
    char bin[512], start[32], untilb[32];
    snprintf(bin, sizeof(bin), "%s/bin/loom-indexer", bd ? bd : "build");
    snprintf(start, sizeof(start), "%llu", (unsigned long long)escrow_block);
    snprintf(untilb, sizeof(untilb), "%llu", (unsigned long long)until);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char *argv[] = {bin,
                        "--rpc-url",
                        (char *)rpc_url,
                        "--escrow-address",
                        escrow_hex,
                        "--start-block",
                        start,
                        "--until-block",
                        untilb,
                        "--sink",
                        "journal",
                        "--journal-path",
                        (char *)journal,
                        "--initial-range-blocks",
                        "3",
                        "--max-range-blocks",
                        "3",
                        "--max-batch-events",
                        "15",
                        "--poll-interval-ms",
                        "10",
                        "--log-level",
                        "error",
                        NULL};
        execv(bin, argv);
        _exit(127);
    }
    return pid;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_kill9_backfill(void **state)
{
    (void)state;
    if (rpc_url == NULL)
        skip();
    struct rpc *c = new_rpc(rpc_url, 10000, 0);
    struct buf d;
    buf_init(&d, 0);
    uint64_t deadline = block_ts(c, head(c)) + 86400;
    /* 1,000 jobs, 10 per block (automine off, evm_mine). */
    call_void(c, "evm_setAutomine", "[false]");
    for (int i = 0; i < 1000; i++) {
        cd_create(&d, 100000 + (uint64_t)i, deadline, 600);
        send_tx(c, 1, &d, VALUE_HEX, false);
        if (i % 10 == 9)
            call_void(c, "evm_mine", NULL);
    }
    call_void(c, "evm_setAutomine", "[true]");
    buf_release(&d);
    uint64_t h = head(c);
    size_t n_chain;
    free(chain_events(c, h, &n_chain));
    assert_true(n_chain >= 1000);

    const char *tmp = getenv("LOOM_TEST_TMP");
    char journal[512];
    snprintf(journal, sizeof(journal), "%s/indexer-kill9.journal", tmp ? tmp : "/tmp");
    unlink(journal);
    /* How long an uninterrupted backfill takes, to place the kills inside it. */
    double t0 = now_ms();
    pid_t pid = spawn_indexer(journal, h);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    double full_ms = now_ms() - t0;
    unlink(journal);

    unsigned seed = (unsigned)time(NULL);
    print_message("kill9: full backfill %.0f ms, %zu events; seed %u\n", full_ms, n_chain, seed);
    srand(seed);
    int kills = 0;
    for (int i = 0; i < 20; i++) {
        pid = spawn_indexer(journal, h);
        long delay_us = (long)((double)rand() / RAND_MAX * full_ms * 1000.0 * 0.8);
        usleep((useconds_t)delay_us);
        if (kill(pid, SIGKILL) == 0)
            kills++;
        assert_int_equal(waitpid(pid, &st, 0), pid);
    }
    pid = spawn_indexer(journal, h);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    struct memsink *ms;
    struct sink s;
    assert_int_equal(memsink_open(journal, false, &ms, &s), ERR_OK);
    assert_sink_is_chain(c, ms, h);
    /* Every event applied exactly once over all the runs. */
    assert_int_equal(memsink_applied_total(ms), n_chain);
    struct proto_checkpoint cp;
    assert_int_equal(s.ops->checkpoint(s.ctx, &cp), ERR_OK);
    assert_int_equal(cp.checkpoint.number, h);
    print_message("kill9: %d kills, %llu journal commands, %llu events applied\n", kills,
                  (unsigned long long)memsink_commands(ms),
                  (unsigned long long)memsink_applied_total(ms));
    memsink_free(ms);
    unlink(journal);
    rpc_free(c);
}

/* ---- a faulty proxy in front of anvil ------------------------------------------ */

struct proxy {
    struct event_base *base;
    struct evhttp *http;
    pthread_t thread;
    int port;
    struct rpc *up;
    unsigned n; /* requests seen */
    unsigned refused, slowed, http503, rpc_errors;
};

static void proxy_reply(struct evhttp_request *req, int code, const char *body)
{
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, body, strlen(body));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Unavailable", out);
    evbuffer_free(out);
}

static void proxy_cb(struct evhttp_request *req, void *arg)
{
    struct proxy *p = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    char *body = malloc(len + 1);
    evbuffer_remove(in, body, len);
    body[len] = '\0';
    cJSON *root = cJSON_Parse(body);
    free(body);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "method");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "params");
    const char *method = cJSON_IsString(m) ? m->valuestring : "";
    long long idv = cJSON_IsNumber(id) ? (long long)id->valuedouble : 0;
    char *ptext = params ? cJSON_PrintUnformatted(params) : NULL;
    char out[512];
    p->n++;
    if (p->n % 10 == 3 || p->n % 10 == 4) {
        /* Two in a row: the client's own retry fails too. */
        p->http503++;
        proxy_reply(req, 503, "{}");
        goto done;
    }
    if (strcmp(method, "eth_blockNumber") == 0 && p->n % 7 == 0) {
        p->rpc_errors++;
        snprintf(out, sizeof(out),
                 "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":-32603,\"message\":"
                 "\"internal error\"}}",
                 idv);
        proxy_reply(req, 200, out);
        goto done;
    }
    if (strcmp(method, "eth_getLogs") == 0 && ptext != NULL) {
        const char *fb = strstr(ptext, "\"fromBlock\":\"");
        const char *tb = strstr(ptext, "\"toBlock\":\"");
        unsigned long long from = fb ? strtoull(fb + 13, NULL, 16) : 0;
        unsigned long long to = tb ? strtoull(tb + 11, NULL, 16) : 0;
        if (to - from + 1 > 8) {
            p->refused++;
            snprintf(out, sizeof(out),
                     "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":-32005,\"message\":"
                     "\"query returned more than 10000 results\"}}",
                     idv);
            proxy_reply(req, 200, out);
            goto done;
        }
        if (to - from + 1 > 4) {
            p->slowed++;
            usleep(300000); /* past the client's 150 ms timeout */
        }
    }
    char *res = NULL;
    size_t rl = 0;
    enum err rc = rpc_call_raw(p->up, method, ptext, &res, &rl);
    struct buf b;
    buf_init(&b, 0);
    if (rc == ERR_OK) {
        assert_int_equal(buf_appendf(&b, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":", idv),
                         ERR_OK);
        assert_int_equal(buf_append(&b, res, rl), ERR_OK);
        assert_int_equal(buf_append_str(&b, "}"), ERR_OK);
        proxy_reply(req, 200, buf_cstr(&b));
    } else {
        proxy_reply(req, 503, "{}");
    }
    buf_release(&b);
    free(res);
done:
    free(ptext);
    cJSON_Delete(root);
}

static void *proxy_thread(void *arg)
{
    struct proxy *p = arg;
    event_base_dispatch(p->base);
    return NULL;
}

static void proxy_start(struct proxy *p)
{
    memset(p, 0, sizeof(*p));
    p->up = new_rpc(rpc_url, 10000, 0);
    p->base = event_base_new();
    p->http = evhttp_new(p->base);
    evhttp_set_gencb(p->http, proxy_cb, p);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(p->http, "127.0.0.1", 0);
    assert_non_null(bs);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl), 0);
    p->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&p->thread, NULL, proxy_thread, p), 0);
}

static void proxy_stop(struct proxy *p)
{
    event_base_loopbreak(p->base);
    pthread_join(p->thread, NULL);
    evhttp_free(p->http);
    event_base_free(p->base);
    rpc_free(p->up);
}

static void test_faulty_rpc(void **state)
{
    (void)state;
    if (rpc_url == NULL)
        skip();
    struct proxy p;
    proxy_start(&p);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", p.port);
    struct rpc *c = new_rpc(rpc_url, 10000, 0);
    uint64_t h = head(c);
    struct run r;
    run_open(&r, url, 150, 2, 64);
    assert_int_equal(follower_run(r.f, NULL, h), ERR_OK);
    assert_sink_is_chain(c, r.ms, h);
    struct follower_metrics m;
    follower_get_metrics(r.f, &m);
    print_message("proxy: %u requests, %u refused, %u slowed, %u http 503, %u rpc errors; "
                  "follower: %llu shrinks, %llu rpc errors, span %llu\n",
                  p.n, p.refused, p.slowed, p.http503, p.rpc_errors,
                  (unsigned long long)m.range_shrinks, (unsigned long long)m.rpc_errors,
                  (unsigned long long)m.span_blocks);
    assert_true(p.refused > 0 && p.slowed > 0 && p.http503 > 0);
    assert_true(m.range_shrinks >= 4); /* 64 -> 32 -> 16 -> 8 refused, 8 -> 4 timed out */
    assert_true(m.rpc_errors > 0);
    assert_true(m.span_blocks <= 8);
    run_close(&r);
    rpc_free(c);
    proxy_stop(&p);
}

/* Logs read with several eth_getLogs in flight (chain_rpc_set_parallel)
 * equal one request's, in the same order, for ranges that split evenly,
 * unevenly and narrower than the parts; a dead extra client fails the read;
 * bad settings are refused. */
static void test_parallel_logs(void **state)
{
    (void)state;
    if (rpc_url == NULL)
        skip();
    struct rpc *c = new_rpc(rpc_url, 10000, 0);
    uint64_t h = head(c);
    struct chain_rpc *one, *par;
    struct chain ch1, chp;
    assert_int_equal(chain_rpc_new(c, escrow, escrowlog_topics(el), ESCROWLOG_N_EVENTS, &one, &ch1),
                     ERR_OK);
    struct rpc *c2 = new_rpc(rpc_url, 10000, 0);
    struct rpc *extra[3] = {new_rpc(rpc_url, 10000, 0), new_rpc(rpc_url, 10000, 0),
                            new_rpc(rpc_url, 10000, 0)};
    assert_int_equal(
        chain_rpc_new(c2, escrow, escrowlog_topics(el), ESCROWLOG_N_EVENTS, &par, &chp), ERR_OK);
    /* Refused settings. */
    struct rpc *too_many[CHAIN_RPC_MAX_PARALLEL] = {0};
    assert_int_equal(chain_rpc_set_parallel(par, too_many, CHAIN_RPC_MAX_PARALLEL, 1), ERR_INVAL);
    assert_int_equal(chain_rpc_set_parallel(par, NULL, 2, 1), ERR_INVAL);
    assert_int_equal(chain_rpc_set_parallel(par, extra, 3, 0), ERR_INVAL);
    struct rpc *with_main[2] = {extra[0], c2};
    assert_int_equal(chain_rpc_set_parallel(par, with_main, 2, 1), ERR_INVAL);
    struct rpc *with_null[2] = {extra[0], NULL};
    assert_int_equal(chain_rpc_set_parallel(par, with_null, 2, 1), ERR_INVAL);
    assert_int_equal(chain_rpc_set_parallel(par, extra, 3, 1), ERR_OK);

    uint64_t from = escrow_block;
    uint64_t ranges[][2] = {{from, h}, {from, from + 2}, {from + 1, from + 6}, {from, from}};
    size_t total = 0;
    for (size_t k = 0; k < sizeof(ranges) / sizeof(ranges[0]); k++) {
        struct rpc_logs a = {0}, b = {0};
        assert_int_equal(ch1.ops->logs(ch1.ctx, ranges[k][0], ranges[k][1], &a), ERR_OK);
        assert_int_equal(chp.ops->logs(chp.ctx, ranges[k][0], ranges[k][1], &b), ERR_OK);
        assert_int_equal(b.count, a.count);
        for (size_t i = 0; i < a.count; i++) {
            assert_int_equal(b.items[i].block_number, a.items[i].block_number);
            assert_int_equal(b.items[i].log_index, a.items[i].log_index);
            assert_memory_equal(b.items[i].tx_hash, a.items[i].tx_hash, 32);
            assert_int_equal(b.items[i].data_len, a.items[i].data_len);
            assert_memory_equal(b.items[i].data, a.items[i].data, a.items[i].data_len);
        }
        if (k == 0)
            total = a.count;
        rpc_logs_release(&a);
        rpc_logs_release(&b);
    }
    assert_true(total > 100); /* the backfill test's events are there */

    /* Wide parts only: a 3-block range with at least 2 blocks per part is
     * one request, so the dead client below is not used. */
    struct rpc *dead = new_rpc("http://127.0.0.1:1", 500, 1);
    struct rpc *with_dead[1] = {dead};
    assert_int_equal(chain_rpc_set_parallel(par, with_dead, 1, 2), ERR_OK);
    struct rpc_logs d = {0};
    assert_int_equal(chp.ops->logs(chp.ctx, from, from + 2, &d), ERR_OK);
    rpc_logs_release(&d);
    /* A 4-block range is two parts: the dead one fails the read, and its
     * error text is the one reported. */
    enum err rc = chp.ops->logs(chp.ctx, from, from + 3, &d);
    assert_int_equal(rc, ERR_UNAVAILABLE);
    assert_int_equal(d.count, 0);
    assert_null(d.items);
    assert_string_not_equal(chp.ops->errmsg(chp.ctx), "");

    chain_rpc_free(one);
    chain_rpc_free(par);
    for (size_t k = 0; k < 3; k++)
        rpc_free(extra[k]);
    rpc_free(dead);
    rpc_free(c2);
    rpc_free(c);
}

int main(void)
{
    log_init("test", LOG_LEVEL_ERROR);
    evthread_use_pthreads();
    signal(SIGPIPE, SIG_IGN);
    rpc_url = getenv("LOOM_TEST_RPC_URL");
    const char *addr = getenv("LOOM_ESCROW_ADDRESS");
    const char *blk = getenv("LOOM_ESCROW_BLOCK");
    if (rpc_url != NULL && *rpc_url != '\0' && addr != NULL && blk != NULL) {
        if (hex_decode_exact(addr, escrow, 20) != ERR_OK)
            return 1;
        escrow_block = strtoull(blk, NULL, 10);
        addr_hex(escrow, escrow_hex);
        struct rpc *c = new_rpc(rpc_url, 10000, 0);
        char *res = NULL;
        if (rpc_call_raw(c, "eth_accounts", NULL, &res, NULL) != ERR_OK)
            return 1;
        cJSON *a = cJSON_Parse(res);
        for (int i = 0; i < 10; i++) {
            const cJSON *it = cJSON_GetArrayItem(a, i);
            if (!cJSON_IsString(it) || hex_decode_exact(it->valuestring, dev_acct[i], 20) != ERR_OK)
                return 1;
        }
        cJSON_Delete(a);
        free(res);
        rpc_free(c);
    } else {
        rpc_url = NULL;
    }
    if (escrowlog_new(&el) != ERR_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_event),   cmocka_unit_test(test_reorg_depth_1),
        cmocka_unit_test(test_reorg_depth_3), cmocka_unit_test(test_kill9_backfill),
        cmocka_unit_test(test_parallel_logs), cmocka_unit_test(test_faulty_rpc),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    escrowlog_free(el);
    return rc;
}
