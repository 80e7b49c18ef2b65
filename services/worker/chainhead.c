/*
 * chainhead -- the head's fees, read ahead of need (see chainhead.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "chainhead.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "eth/rpc.h"
#include "log.h"
#include "msg.h"
#include "mono.h"

struct chainhead {
    struct rpc *rpc; /* the reader thread's own connection */
    long interval_ms;
    pthread_t thread;
    int started;
    pthread_mutex_t mu; /* guards the fields below */
    pthread_cond_t cv;  /* CLOCK_MONOTONIC: a poke, or stop */
    struct chainhead_fees fees;
    int poked, stopping;
};

/* One reading: the newest block and the tip in one HTTP request. */
static enum err read_head(struct rpc *rpc, struct chainhead_fees *out, struct buf *msg)
{
    struct rpc_batch *b = NULL;
    size_t i_block = 0, i_tip = 0;
    const char *json = NULL;
    size_t len = 0;
    struct rpc_block blk;
    uint8_t tip[32];
    const struct rpc_error *re = NULL;
    enum err e = rpc_batch_new(&b);
    if (e == ERR_OK)
        e = rpc_batch_add_get_block(b, RPC_BLOCK_LATEST, &i_block);
    if (e == ERR_OK)
        e = rpc_batch_add(b, "eth_maxPriorityFeePerGas", "[]", &i_tip);
    if (e != ERR_OK)
        goto out;
    if ((e = rpc_call_batch(rpc, b)) != ERR_OK) {
        msg_addf(msg, "rpc: %s", rpc_errmsg(rpc));
        goto out;
    }
    if ((e = rpc_batch_result(b, i_block, &json, &len, &re)) != ERR_OK ||
        (e = rpc_parse_block(json, len, &blk, msg)) != ERR_OK) {
        msg_addf(msg, "eth_getBlockByNumber: %s", re && re->message ? re->message : err_str(e));
        goto out;
    }
    re = NULL;
    if ((e = rpc_batch_result(b, i_tip, &json, &len, &re)) != ERR_OK ||
        (e = rpc_parse_u256(json, len, tip, msg)) != ERR_OK) {
        msg_addf(msg, "eth_maxPriorityFeePerGas: %s", re && re->message ? re->message : err_str(e));
        goto out;
    }
    if (!blk.has_base_fee) {
        msg_addf(msg, "block %llu has no base fee (a pre-London chain?)",
                 (unsigned long long)blk.number);
        e = ERR_PROTO;
        goto out;
    }
    if ((e = u256_from_be(blk.base_fee_per_gas, 32, &out->base_fee_wei)) != ERR_OK ||
        (e = u256_from_be(tip, 32, &out->tip_wei)) != ERR_OK)
        goto out;
    out->block = blk.number;
    out->read_ns = mono_ns();
out:
    rpc_batch_free(b);
    return e;
}

static void *reader(void *arg)
{
    struct chainhead *h = arg;
    struct buf msg;
    int failing = 0;
    buf_init(&msg, 2048);
    pthread_mutex_lock(&h->mu);
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += h->interval_ms / 1000;
        until.tv_nsec += h->interval_ms % 1000 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!h->stopping && !h->poked &&
               pthread_cond_timedwait(&h->cv, &h->mu, &until) != ETIMEDOUT)
            ;
        if (h->stopping)
            break;
        h->poked = 0;
        pthread_mutex_unlock(&h->mu);
        struct chainhead_fees f;
        buf_reset(&msg);
        enum err e = read_head(h->rpc, &f, &msg);
        /* One line when reading starts failing and one when it recovers: a
         * node that is down would otherwise log every interval. Meanwhile the
         * old reading ages and escrow falls back to reading the block with
         * getJob (escrow.h). */
        if (e != ERR_OK && !failing)
            LOG_WARN("chain.head_failed", "error=%s reason=%s", err_str(e), buf_cstr(&msg));
        else if (e == ERR_OK && failing)
            LOG_INFO("chain.head_ok", "block=%llu", (unsigned long long)f.block);
        failing = e != ERR_OK;
        pthread_mutex_lock(&h->mu);
        if (e == ERR_OK)
            h->fees = f;
    }
    pthread_mutex_unlock(&h->mu);
    buf_release(&msg);
    return NULL;
}

enum err chainhead_start(const char *rpc_url, long interval_ms, struct chainhead **out,
                         struct buf *msg)
{
    if (interval_ms <= 0)
        return ERR_INVAL;
    struct chainhead *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return ERR_NOMEM;
    pthread_condattr_t ca;
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_init(&ca);
    (void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* reader()'s timed wait */
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    h->interval_ms = interval_ms;
    /* One attempt per reading: the next interval is the retry, and a stuck
     * node must not hold a reading (and chainhead_free()) for a minute. */
    struct rpc_opts ro = {.url = rpc_url, .timeout_ms = 5000, .max_attempts = 1};
    enum err e = rpc_new(&ro, &h->rpc);
    if (e != ERR_OK) {
        msg_addf(msg, "bad rpc url");
        goto fail;
    }
    if ((e = read_head(h->rpc, &h->fees, msg)) != ERR_OK)
        goto fail;
    if (pthread_create(&h->thread, NULL, reader, h) != 0) {
        msg_addf(msg, "cannot start the chain head thread");
        e = ERR_IO;
        goto fail;
    }
    h->started = 1;
    *out = h;
    return ERR_OK;
fail:
    chainhead_free(h);
    return e;
}

void chainhead_get(struct chainhead *h, struct chainhead_fees *out)
{
    pthread_mutex_lock(&h->mu);
    *out = h->fees;
    pthread_mutex_unlock(&h->mu);
}

void chainhead_poke(struct chainhead *h)
{
    pthread_mutex_lock(&h->mu);
    h->poked = 1;
    pthread_mutex_unlock(&h->mu);
    pthread_cond_signal(&h->cv);
}

void chainhead_free(struct chainhead *h)
{
    if (h == NULL)
        return;
    if (h->started) {
        pthread_mutex_lock(&h->mu);
        h->stopping = 1;
        pthread_mutex_unlock(&h->mu);
        pthread_cond_signal(&h->cv);
        pthread_join(h->thread, NULL);
    }
    rpc_free(h->rpc);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
