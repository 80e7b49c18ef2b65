/*
 * chain -- the JSON-RPC chain source.
 *
 * Maps the node's answers onto the interface's errors once: a JSON-RPC error
 * that rpc_error_kind() classifies as RPC_ERRKIND_LOG_RANGE ("query returned
 * more than 10000 results", "exceeds block range", "response size
 * exceeded"), and a response over the client's size cap, both become
 * ERR_TOOBIG so the follower shrinks its range without knowing provider texts.
 *
 * SPDX-License-Identifier: MIT
 */
#include "chain.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "eth/rpc.h"

#define CHAIN_MAX_TOPICS 16

/* One eth_getLogs over part of a range, on a client of its own. */
struct part {
    struct chain_rpc *c;
    struct rpc *rpc;
    uint64_t from, to;
    struct rpc_logs logs;
    enum err rc;
};

struct chain_rpc {
    struct rpc *rpc;
    uint8_t address[1][20];
    uint8_t topics[CHAIN_MAX_TOPICS][32];
    size_t n_topics;
    struct rpc *extra[CHAIN_RPC_MAX_PARALLEL - 1]; /* borrowed */
    size_t n_extra;
    uint64_t min_part_blocks;
    struct rpc *failed; /* the client whose call failed last, for errmsg */
};

static enum err rpc_head_cb(void *ctx, uint64_t *number)
{
    struct chain_rpc *c = ctx;
    return rpc_block_number(c->rpc, number);
}

static enum err rpc_header_cb(void *ctx, uint64_t number, struct chain_header *out)
{
    struct chain_rpc *c = ctx;
    struct rpc_block b;
    enum err rc = rpc_get_block(c->rpc, RPC_BLOCK_NUM(number), &b);
    if (rc != ERR_OK)
        return rc;
    if (!b.has_hash || b.number != number)
        return ERR_PROTO; /* a mined block always has a hash, and the one we asked for */
    out->number = b.number;
    memcpy(out->hash, b.hash, 32);
    memcpy(out->parent_hash, b.parent_hash, 32);
    out->timestamp = b.timestamp;
    return ERR_OK;
}

static enum err get_logs(struct chain_rpc *c, struct rpc *rpc, uint64_t from, uint64_t to,
                         struct rpc_logs *out)
{
    struct rpc_log_filter f = {
        .from_block = RPC_BLOCK_NUM(from),
        .to_block = RPC_BLOCK_NUM(to),
        .addresses = (const uint8_t(*)[20])c->address,
        .n_addresses = 1,
        .n_topics = 1,
    };
    f.topics[0].any_of = (const uint8_t(*)[32])c->topics;
    f.topics[0].n = c->n_topics;
    enum err rc = rpc_get_logs(rpc, &f, out);
    if (rc == ERR_RPC && rpc_error_kind(rpc_last_error(rpc)) == RPC_ERRKIND_LOG_RANGE)
        return ERR_TOOBIG;
    return rc;
}

static void *part_thread(void *arg)
{
    struct part *p = arg;
    p->rc = get_logs(p->c, p->rpc, p->from, p->to, &p->logs);
    return NULL;
}

/* The range cut into adjacent parts of near-equal width, one eth_getLogs
 * each, all in flight at once; their logs joined in block order. */
static enum err logs_parallel(struct chain_rpc *c, uint64_t from, uint64_t to, size_t n_parts,
                              struct rpc_logs *out)
{
    struct part parts[CHAIN_RPC_MAX_PARALLEL];
    pthread_t th[CHAIN_RPC_MAX_PARALLEL];
    bool started[CHAIN_RPC_MAX_PARALLEL] = {false};
    uint64_t width = to - from + 1, at = from;
    memset(parts, 0, sizeof(parts));
    for (size_t k = 0; k < n_parts; k++) {
        uint64_t w = width / n_parts + (k < width % n_parts ? 1 : 0);
        parts[k] = (struct part){.c = c,
                                 .rpc = k == 0 ? c->rpc : c->extra[k - 1],
                                 .from = at,
                                 .to = at + w - 1,
                                 .rc = ERR_NOMEM};
        at += w;
    }
    for (size_t k = 1; k < n_parts; k++)
        started[k] = pthread_create(&th[k], NULL, part_thread, &parts[k]) == 0;
    part_thread(&parts[0]);
    enum err rc = ERR_OK;
    size_t total = 0;
    for (size_t k = 0; k < n_parts; k++) {
        if (k > 0 && started[k])
            pthread_join(th[k], NULL);
        /* The first failure in block order decides; a refused or slow part
         * means the whole range is too wide. */
        if (rc == ERR_OK && parts[k].rc != ERR_OK) {
            rc = parts[k].rc;
            c->failed = parts[k].rpc;
        } else if (parts[k].rc == ERR_TOOBIG || parts[k].rc == ERR_TIMEDOUT) {
            rc = parts[k].rc;
            c->failed = parts[k].rpc;
        }
        total += parts[k].logs.count;
    }
    if (rc == ERR_OK && total > 0) {
        out->items = malloc(total * sizeof(*out->items));
        if (out->items == NULL)
            rc = ERR_NOMEM;
    }
    for (size_t k = 0; k < n_parts; k++) {
        if (rc == ERR_OK && parts[k].logs.count > 0) {
            /* Move the logs: what each owns goes with it. */
            memcpy(out->items + out->count, parts[k].logs.items,
                   parts[k].logs.count * sizeof(*out->items));
            out->count += parts[k].logs.count;
            free(parts[k].logs.items);
        } else {
            rpc_logs_release(&parts[k].logs); /* a failure, or none to move */
        }
    }
    return rc;
}

static enum err rpc_logs_cb(void *ctx, uint64_t from, uint64_t to, struct rpc_logs *out)
{
    struct chain_rpc *c = ctx;
    uint64_t width = to - from + 1;
    size_t n_parts = 1 + c->n_extra;
    if (width / c->min_part_blocks < n_parts)
        n_parts = (size_t)(width / c->min_part_blocks);
    c->failed = c->rpc;
    if (n_parts <= 1)
        return get_logs(c, c->rpc, from, to, out);
    return logs_parallel(c, from, to, n_parts, out);
}

static const char *rpc_errmsg_cb(void *ctx)
{
    struct chain_rpc *c = ctx;
    return rpc_errmsg(c->failed);
}

static const struct chain_ops rpc_ops = {
    .head = rpc_head_cb,
    .header = rpc_header_cb,
    .logs = rpc_logs_cb,
    .errmsg = rpc_errmsg_cb,
};

enum err chain_rpc_new(struct rpc *rpc, const uint8_t address[20], const uint8_t (*topics)[32],
                       size_t n_topics, struct chain_rpc **out, struct chain *chain)
{
    if (n_topics == 0 || n_topics > CHAIN_MAX_TOPICS)
        return ERR_INVAL;
    struct chain_rpc *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return ERR_NOMEM;
    c->rpc = rpc;
    memcpy(c->address[0], address, 20);
    memcpy(c->topics, topics, n_topics * 32);
    c->n_topics = n_topics;
    c->min_part_blocks = 1;
    c->failed = rpc;
    *out = c;
    chain->ops = &rpc_ops;
    chain->ctx = c;
    return ERR_OK;
}

enum err chain_rpc_set_parallel(struct chain_rpc *c, struct rpc *const *extra, size_t n_extra,
                                uint64_t min_part_blocks)
{
    if (n_extra > CHAIN_RPC_MAX_PARALLEL - 1 || (n_extra > 0 && extra == NULL) ||
        min_part_blocks == 0)
        return ERR_INVAL;
    for (size_t k = 0; k < n_extra; k++) {
        if (extra[k] == NULL || extra[k] == c->rpc)
            return ERR_INVAL;
        c->extra[k] = extra[k];
    }
    c->n_extra = n_extra;
    c->min_part_blocks = min_part_blocks;
    return ERR_OK;
}

void chain_rpc_free(struct chain_rpc *c)
{
    free(c);
}
