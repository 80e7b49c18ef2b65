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

#include <stdlib.h>
#include <string.h>

#include "eth/rpc.h"

#define CHAIN_MAX_TOPICS 16

struct chain_rpc {
    struct rpc *rpc;
    uint8_t address[1][20];
    uint8_t topics[CHAIN_MAX_TOPICS][32];
    size_t n_topics;
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

static enum err rpc_logs_cb(void *ctx, uint64_t from, uint64_t to, struct rpc_logs *out)
{
    struct chain_rpc *c = ctx;
    struct rpc_log_filter f = {
        .from_block = RPC_BLOCK_NUM(from),
        .to_block = RPC_BLOCK_NUM(to),
        .addresses = (const uint8_t(*)[20])c->address,
        .n_addresses = 1,
        .n_topics = 1,
    };
    f.topics[0].any_of = (const uint8_t(*)[32])c->topics;
    f.topics[0].n = c->n_topics;
    enum err rc = rpc_get_logs(c->rpc, &f, out);
    if (rc == ERR_RPC && rpc_error_kind(rpc_last_error(c->rpc)) == RPC_ERRKIND_LOG_RANGE)
        return ERR_TOOBIG;
    return rc;
}

static const char *rpc_errmsg_cb(void *ctx)
{
    struct chain_rpc *c = ctx;
    return rpc_errmsg(c->rpc);
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
    *out = c;
    chain->ops = &rpc_ops;
    chain->ctx = c;
    return ERR_OK;
}

void chain_rpc_free(struct chain_rpc *c)
{
    free(c);
}
