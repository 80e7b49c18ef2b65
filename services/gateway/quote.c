/*
 * quote -- worker threads doing the two eth_calls of a quote; a mutex-
 * guarded queue in, event_active() out.
 * SPDX-License-Identifier: MIT
 */
#include "quote.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eth/abi.h"
#include "hex.h"
#include "eth/rpc.h"
#include "eth/u256.h"
#include "json.h"

#define QUOTE_THREADS_MAX   16
#define QUOTE_CENTS_MAX     1000000000000LL /* gateway.c's bound: 10^12 cents */
#define DEPLOYMENT_MAX_SIZE (8u << 20)      /* the file carries two ABIs: well under 8 MiB */

struct qreq {
    struct quoter *q;
    struct qreq *next;                /* queue of waiting requests */
    struct qreq *all_prev, *all_next; /* every request not yet called back */
    struct event *ev;
    int64_t usd_cents;
    gw_quote_cb cb;
    void *arg;
    enum err e;
    char msg[160];
    struct gw_quote quote;
    char wei[U256_DEC_MAX];
    char answer[U256_DEC_MAX + 1];
};

struct quoter {
    struct event_base *base;
    uint8_t escrow[20], feed[20];
    int decimals;
    char *rpc_url;
    long rpc_timeout_ms;
    size_t max_queued, n_queued;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct qreq *head, *tail; /* waiting; guarded by mu */
    struct qreq *all;         /* outstanding; loop thread only */
    bool stopping;            /* guarded by mu */
    pthread_t threads[QUOTE_THREADS_MAX];
    int n_threads;
};

static void fail(struct qreq *r, enum err e, const char *what, const char *detail)
{
    r->e = e;
    (void)snprintf(r->msg, sizeof(r->msg), "%s: %s", what, detail);
}

/* One 32-byte word of an ABI return value as an unsigned 256-bit integer. */
static struct u256 word(const uint8_t *p)
{
    struct u256 v;
    if (u256_from_be(p, 32, &v) != ERR_OK) /* 32 bytes always fit */
        abort();
    return v;
}

static void call_failed(struct qreq *r, struct rpc *rpc, const char *what)
{
    const struct rpc_error *re = rpc_last_error(rpc);
    if (re != NULL && rpc_error_kind(re) == RPC_ERRKIND_REVERTED) {
        char sel[11] = "none";
        if (re->data != NULL && re->data_len >= 4)
            hex_encode(re->data, 4, true, sel);
        /* The escrow reverts on a feed answer it will not use (stale,
         * incomplete, future, non-positive): a state, not a node failure. */
        char detail[64];
        (void)snprintf(detail, sizeof(detail), "reverted (error selector %s)", sel);
        fail(r, ERR_STATE, what, detail);
        return;
    }
    fail(r, ERR_RPC, what, rpc_errmsg(rpc));
}

static void do_quote(struct quoter *q, struct rpc *rpc, struct qreq *r)
{
    uint8_t data[36], *out = NULL;
    size_t out_len = 0;
    uint64_t block = 0;
    /* quote(uint64) is 0x8ff62c96 (docs/contracts.md); computed to stay honest */
    if (abi_selector("quote(uint64)", data) != ERR_OK) {
        fail(r, ERR_RPC, "cannot quote", "selector");
        return;
    }
    memset(data + 4, 0, 32);
    for (int i = 0; i < 8; i++)
        data[35 - i] = (uint8_t)((uint64_t)r->usd_cents >> (8 * i));
    if (rpc_block_number(rpc, &block) != ERR_OK) {
        fail(r, ERR_RPC, "cannot read the block number", rpc_errmsg(rpc));
        return;
    }
    struct rpc_tx_call call = {.to = q->escrow, .data = data, .data_len = sizeof(data)};
    if (rpc_eth_call(rpc, &call, RPC_BLOCK_NUM(block), &out, &out_len) != ERR_OK) {
        call_failed(r, rpc, "cannot call LoomEscrow.quote");
        goto out;
    }
    if (out_len != 32) {
        fail(r, ERR_RPC, "cannot call LoomEscrow.quote", "return value is not one word");
        goto out;
    }
    u256_to_dec(word(out), r->wei);
    free(out);
    out = NULL;
    if (abi_selector("latestRoundData()", data) != ERR_OK) {
        fail(r, ERR_RPC, "cannot quote", "selector");
        return;
    }
    call = (struct rpc_tx_call){.to = q->feed, .data = data, .data_len = 4};
    if (rpc_eth_call(rpc, &call, RPC_BLOCK_NUM(block), &out, &out_len) != ERR_OK) {
        call_failed(r, rpc, "cannot call latestRoundData");
        goto out;
    }
    /* (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt,
     * uint80 answeredInRound): five words */
    uint64_t round = 0, updated = 0;
    if (out_len != 5 * 32 || u256_to_u64(word(out), &round) != ERR_OK ||
        u256_to_u64(word(out + 96), &updated) != ERR_OK || updated > (uint64_t)INT64_MAX) {
        fail(r, ERR_RPC, "cannot read latestRoundData", "unexpected return value");
        goto out;
    }
    struct u256 ans = word(out + 32);
    if (out[32] & 0x80) { /* negative int256: two's complement */
        struct u256 zero = {0}, neg;
        if (u256_sub(zero, ans, &neg) != ERR_OK)
            neg = ans;
        r->answer[0] = '-';
        u256_to_dec(neg, r->answer + 1);
    } else {
        u256_to_dec(ans, r->answer);
    }
    r->quote.usd_cents = r->usd_cents;
    r->quote.wei = r->wei;
    r->quote.round_id = round;
    r->quote.updated_at = (int64_t)updated;
    r->quote.age_s = (int64_t)time(NULL) - (int64_t)updated;
    r->quote.answer = r->answer;
    r->quote.decimals = q->decimals;
    r->e = ERR_OK;
out:
    free(out);
}

static void *worker_main(void *arg)
{
    struct quoter *q = arg;
    struct rpc *rpc = NULL;
    struct rpc_opts o = {.url = q->rpc_url,
                         .timeout_ms = q->rpc_timeout_ms,
                         .connect_timeout_ms = q->rpc_timeout_ms,
                         .max_attempts = 1};
    enum err re = rpc_new(&o, &rpc);
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (!q->stopping && q->head == NULL)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->stopping) {
            pthread_mutex_unlock(&q->mu);
            break;
        }
        struct qreq *r = q->head;
        q->head = r->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->n_queued--;
        pthread_mutex_unlock(&q->mu);
        if (re != ERR_OK)
            fail(r, ERR_RPC, "cannot start the rpc client", err_str(re));
        else
            do_quote(q, rpc, r);
        event_active(r->ev, 0, 0); /* the base is thread-safe (evthread_use_pthreads) */
    }
    rpc_free(rpc);
    return NULL;
}

static void unlink_all(struct qreq *r)
{
    if (r->all_prev)
        r->all_prev->all_next = r->all_next;
    else
        r->q->all = r->all_next;
    if (r->all_next)
        r->all_next->all_prev = r->all_prev;
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct qreq *r = arg;
    unlink_all(r);
    r->cb(r->arg, r->e, r->msg, r->e == ERR_OK ? &r->quote : NULL);
    event_free(r->ev);
    free(r);
}

enum err quote_request(void *quoter, int64_t usd_cents, gw_quote_cb cb, void *arg)
{
    struct quoter *q = quoter;
    if (usd_cents < 1 || usd_cents > QUOTE_CENTS_MAX)
        return ERR_INVAL;
    struct qreq *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return ERR_NOMEM;
    r->ev = event_new(q->base, -1, 0, done_cb, r);
    if (r->ev == NULL) {
        free(r);
        return ERR_NOMEM;
    }
    r->q = q;
    r->usd_cents = usd_cents;
    r->cb = cb;
    r->arg = arg;
    pthread_mutex_lock(&q->mu);
    if (q->n_queued >= q->max_queued) {
        pthread_mutex_unlock(&q->mu);
        event_free(r->ev);
        free(r);
        return ERR_UNAVAILABLE;
    }
    if (q->tail)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    q->n_queued++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    r->all_next = q->all;
    if (q->all)
        q->all->all_prev = r;
    q->all = r;
    return ERR_OK;
}

/* Append a reason to <why>; a reason that does not fit is dropped, the
 * error code still tells what failed. */
static void say(struct buf *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct buf *why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (buf_vappendf(why, fmt, ap) != ERR_OK)
        buf_reset(why);
    va_end(ap);
}

static enum err read_file(const char *path, struct buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return ERR_IO;
    enum err e = ERR_OK;
    char chunk[8192];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            e = ERR_IO;
            break;
        }
        if (n == 0 || (e = buf_append(out, chunk, (size_t)n)) != ERR_OK)
            break;
    }
    close(fd);
    return e;
}

static enum err load_deployment(struct quoter *q, const char *path, struct buf *why)
{
    struct buf text;
    struct cJSON *doc = NULL;
    char *escrow = NULL, *feed = NULL;
    int64_t dec = 0;
    struct json_err je;
    json_err_init(&je);
    buf_init(&text, DEPLOYMENT_MAX_SIZE);
    enum err e = read_file(path, &text);
    if (e != ERR_OK) {
        say(why, "cannot read deployment \"%s\": %s", path, err_str(e));
        goto out;
    }
    if ((e = json_parse(text.data, text.len, DEPLOYMENT_MAX_SIZE, 64, &doc, &je)) != ERR_OK ||
        (e = json_get_str(doc, "escrow", JSON_REQUIRED, 42, 42, &escrow, &je)) != ERR_OK ||
        (e = json_get_str(doc, "priceFeed", JSON_REQUIRED, 42, 42, &feed, &je)) != ERR_OK ||
        (e = json_get_int(doc, "priceFeedDecimals", JSON_REQUIRED, 0, 36, &dec, &je)) != ERR_OK) {
        say(why, "cannot read deployment \"%s\": %s: %s", path, je.path, je.message);
        e = ERR_INVAL;
        goto out;
    }
    if (hex_decode_exact(escrow, q->escrow, 20) != ERR_OK ||
        hex_decode_exact(feed, q->feed, 20) != ERR_OK) {
        say(why, "cannot read deployment \"%s\": bad escrow or priceFeed", path);
        e = ERR_INVAL;
        goto out;
    }
    q->decimals = (int)dec;
out:
    free(escrow);
    free(feed);
    json_free(doc);
    buf_release(&text);
    return e;
}

enum err quote_new(struct event_base *base, const struct quote_config *cfg, struct quoter **out,
                   struct buf *why)
{
    if (cfg->rpc_url == NULL || cfg->deployment_path == NULL || cfg->threads < 1 ||
        cfg->threads > QUOTE_THREADS_MAX || cfg->rpc_timeout_ms <= 0 || cfg->max_queued < 1) {
        say(why, "bad quote settings");
        return ERR_INVAL;
    }
    struct quoter *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return ERR_NOMEM;
    q->base = base;
    q->rpc_timeout_ms = cfg->rpc_timeout_ms;
    q->max_queued = cfg->max_queued;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    enum err e = load_deployment(q, cfg->deployment_path, why);
    if (e == ERR_OK && (q->rpc_url = strdup(cfg->rpc_url)) == NULL)
        e = ERR_NOMEM;
    for (; e == ERR_OK && q->n_threads < cfg->threads; q->n_threads++)
        if (pthread_create(&q->threads[q->n_threads], NULL, worker_main, q) != 0) {
            say(why, "cannot start a quote thread");
            e = ERR_IO;
        }
    if (e != ERR_OK) {
        quote_free(q);
        return e;
    }
    *out = q;
    return ERR_OK;
}

void quote_free(struct quoter *q)
{
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->mu);
    q->stopping = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < q->n_threads; i++)
        pthread_join(q->threads[i], NULL);
    /* Threads are gone: whatever was not called back yet (queued, or done
     * with its event pending) is canceled here. */
    while (q->all != NULL) {
        struct qreq *r = q->all;
        r->e = ERR_CANCELED;
        (void)snprintf(r->msg, sizeof(r->msg), "gateway shutting down");
        unlink_all(r);
        r->cb(r->arg, r->e, r->msg, NULL);
        event_free(r->ev);
        free(r);
    }
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q->rpc_url);
    free(q);
}
