/*
 * imetrics -- the indexer's /metrics and /health (imetrics.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "imetrics.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "metrics.h"

enum im_series {
    S_HEAD,
    S_INDEXED,
    S_LAG_BLOCKS,
    S_LAG_SECONDS,
    S_APPLIED,
    S_REJECTED,
    S_BATCHES,
    S_REORGS,
    S_REORG_LAST,
    S_REORG_MAX,
    S_RPC_ERRORS,
    S_SINK_ERRORS,
    S_SHRINKS,
    S_SPAN,
    S_HEAD_SUB,
    S_HEAD_NOTES,
    S__COUNT
};

static const struct {
    bool counter;
    const char *name, *help;
} families[S__COUNT] = {
    {false, "loom_indexer_head_block", "last eth_blockNumber"},
    {false, "loom_indexer_indexed_block", "the job store's checkpoint block (0 before the first)"},
    {false, "loom_indexer_lag_blocks", "head minus indexed block"},
    {false, "loom_indexer_lag_seconds",
     "wall clock minus the indexed block's timestamp while behind, else 0"},
    {true, "loom_indexer_events_applied_total", "escrow events the job store newly applied"},
    {true, "loom_indexer_events_rejected_total", "logs that did not decode or fit the protocol"},
    {true, "loom_indexer_batches_total", "events.apply commands acknowledged"},
    {true, "loom_indexer_reorgs_total", "rollbacks to a fork point below the checkpoint"},
    {false, "loom_indexer_reorg_last_depth_blocks", "blocks rolled back by the last reorg"},
    {false, "loom_indexer_reorg_max_depth_blocks", "deepest reorg so far, blocks"},
    {true, "loom_indexer_rpc_errors_total", "chain JSON-RPC calls that failed"},
    {true, "loom_indexer_sink_errors_total", "job store calls that failed"},
    {true, "loom_indexer_range_shrinks_total", "eth_getLogs spans halved after a refusal"},
    {false, "loom_indexer_span_blocks", "the current eth_getLogs span"},
    {false, "loom_indexer_head_subscription_up",
     "1 while the eth_subscribe newHeads websocket is up, else 0 (polling only)"},
    {true, "loom_indexer_head_notifications_total",
     "newHeads notifications received (each wakes the follower)"},
};

struct imetrics {
    struct metrics *reg;
    struct metrics_series *s[S__COUNT];
    pthread_mutex_t mu; /* guards the fields below */
    struct follower_metrics last;
    bool any_ok;          /* a step succeeded */
    enum err last_status; /* of the last step */
    bool sink_failed;     /* the last step's failure raised sink_errors */
    /* the listener */
    struct event_base *base;
    struct metrics_http *http;
    pthread_t thread;
    bool running;
};

static double value_of(const struct follower_metrics *m, enum im_series i)
{
    switch (i) {
    case S_HEAD:
        return (double)m->head_block;
    case S_INDEXED:
        return (double)m->indexed_block;
    case S_LAG_BLOCKS:
        return (double)m->lag_blocks;
    case S_LAG_SECONDS:
        return m->lag_seconds;
    case S_APPLIED:
        return (double)m->events_applied;
    case S_REJECTED:
        return (double)m->events_rejected;
    case S_BATCHES:
        return (double)m->batches;
    case S_REORGS:
        return (double)m->reorgs;
    case S_REORG_LAST:
        return (double)m->last_reorg_depth;
    case S_REORG_MAX:
        return (double)m->max_reorg_depth;
    case S_RPC_ERRORS:
        return (double)m->rpc_errors;
    case S_SINK_ERRORS:
        return (double)m->sink_errors;
    case S_SHRINKS:
        return (double)m->range_shrinks;
    case S_SPAN:
        return (double)m->span_blocks;
    case S_HEAD_SUB:
        return (double)m->head_sub_live;
    case S_HEAD_NOTES:
        return (double)m->head_notifications;
    case S__COUNT:
        break;
    }
    return 0;
}

/* metrics_collect_fn: the last update into the registry. */
static void collect(void *arg, struct metrics *reg)
{
    struct imetrics *im = arg;
    struct follower_metrics m;
    (void)reg;
    pthread_mutex_lock(&im->mu);
    m = im->last;
    pthread_mutex_unlock(&im->mu);
    for (int i = 0; i < S__COUNT; i++) {
        double v = value_of(&m, (enum im_series)i);
        if (!families[i].counter)
            metrics_set(im->s[i], v);
        else if (v > metrics_value(im->s[i]))
            metrics_add(im->s[i], v - metrics_value(im->s[i]));
    }
}

static enum err health_cb(void *arg, struct buf *reason)
{
    return imetrics_health(arg, reason);
}

enum err imetrics_new(struct imetrics **out)
{
    struct imetrics *im = calloc(1, sizeof(*im));
    if (im == NULL)
        return ERR_NOMEM;
    enum err e = metrics_new(&im->reg);
    for (int i = 0; e == ERR_OK && i < S__COUNT; i++)
        e = families[i].counter
                ? metrics_counter_new(im->reg, families[i].name, families[i].help, &im->s[i])
                : metrics_gauge_new(im->reg, families[i].name, families[i].help, &im->s[i]);
    if (e == ERR_OK && pthread_mutex_init(&im->mu, NULL) != 0)
        e = ERR_NOMEM;
    if (e != ERR_OK) {
        metrics_free(im->reg);
        free(im);
        return e; /* the names are constants: only memory can fail */
    }
    im->last_status = ERR_OK;
    metrics_on_collect(im->reg, collect, im);
    metrics_set_health(im->reg, health_cb, im);
    *out = im;
    return ERR_OK;
}

void imetrics_update(void *arg, const struct follower_metrics *m, enum err status)
{
    struct imetrics *im = arg;
    pthread_mutex_lock(&im->mu);
    im->sink_failed = status != ERR_OK && m->sink_errors > im->last.sink_errors;
    im->last = *m;
    im->last_status = status;
    if (status == ERR_OK)
        im->any_ok = true;
    pthread_mutex_unlock(&im->mu);
}

enum err imetrics_render(struct imetrics *im, struct buf *out)
{
    return metrics_render(im->reg, out);
}

enum err imetrics_health(struct imetrics *im, struct buf *reason)
{
    enum err e = ERR_OK;
    pthread_mutex_lock(&im->mu);
    if (im->last_status != ERR_OK) {
        e = buf_appendf(reason, "%s: last step failed: %s", im->sink_failed ? "job store" : "chain",
                        err_str(im->last_status));
        if (e == ERR_OK)
            e = ERR_UNAVAILABLE;
    } else if (!im->any_ok) {
        e = buf_appendf(reason, "starting");
        if (e == ERR_OK)
            e = ERR_UNAVAILABLE;
    }
    pthread_mutex_unlock(&im->mu);
    return e;
}

static void *serve(void *arg)
{
    struct imetrics *im = arg;
    event_base_loop(im->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

enum err imetrics_start(struct imetrics *im, const char *host, uint16_t port)
{
    if (im->running)
        return ERR_STATE;
    if (evthread_use_pthreads() == -1)
        return ERR_NOMEM;
    im->base = event_base_new();
    if (im->base == NULL)
        return ERR_NOMEM;
    enum err e = metrics_http_start(im->base, host, port, im->reg, &im->http);
    if (e == ERR_OK && pthread_create(&im->thread, NULL, serve, im) != 0)
        e = ERR_IO;
    if (e != ERR_OK) {
        metrics_http_free(im->http);
        im->http = NULL;
        event_base_free(im->base);
        im->base = NULL;
        return e;
    }
    im->running = true;
    return ERR_OK;
}

uint16_t imetrics_port(const struct imetrics *im)
{
    return im->http != NULL ? metrics_http_port(im->http) : 0;
}

void imetrics_free(struct imetrics *im)
{
    if (im == NULL)
        return;
    if (im->running) {
        event_base_loopbreak(im->base);
        pthread_join(im->thread, NULL);
    }
    metrics_http_free(im->http);
    if (im->base != NULL)
        event_base_free(im->base);
    metrics_free(im->reg);
    pthread_mutex_destroy(&im->mu);
    free(im);
}
