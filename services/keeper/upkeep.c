/*
 * upkeep -- encoding and decoding of the escrow's automation calls.
 *
 * Encoding goes through common/eth/abi so that the bytes match Solidity's
 * abi.encode exactly; decoding of node answers is abi_decode's strict mode.
 * Event topics are keccak256 of the canonical signatures, computed once.
 *
 * SPDX-License-Identifier: MIT
 */
#include "upkeep.h"

#include <stdlib.h>
#include <string.h>

#include "eth/abi.h"
#include "eth/rpc.h"

#define SIG_CHECK   "checkUpkeep(bytes)"
#define SIG_PERFORM "performUpkeep(bytes)"
#define TYPE_IDS    "(bytes32[])"
#define TYPE_ITEMS  "((bytes32,uint8)[])"
#define TYPE_RESULT "(bool,bytes)"

/* Event signatures of LoomEscrow (contracts/src/LoomEscrow.sol). */
static const char *const ev_sigs[] = {
    "PaymentReleased(bytes32,address,address,uint256,bool)",
    "JobRefunded(bytes32,address,address,uint256)",
    "JobReopened(bytes32,address,address)",
    "UpkeepPerformed(address,uint256,uint256)",
};
static const enum upkeep_action ev_actions[] = {UPKEEP_RELEASE, UPKEEP_REFUND, UPKEEP_REOPEN,
                                                UPKEEP_NONE};
#define N_EVENTS 4

const char *upkeep_action_name(enum upkeep_action a)
{
    switch (a) {
    case UPKEEP_RELEASE:
        return "release";
    case UPKEEP_REFUND:
        return "refund";
    case UPKEEP_REOPEN:
        return "reopen";
    case UPKEEP_NONE:
        break;
    }
    return "none";
}

static int action_ok(unsigned a)
{
    return a >= UPKEEP_RELEASE && a <= UPKEEP_REOPEN;
}

/* Wrap <inner> as the single bytes argument of <sig> and append the calldata. */
static enum err encode_bytes_call(const char *sig, const struct buf *inner, struct buf *out)
{
    struct abi_value args = {0};
    enum err e = abi_value_items(&args, 1);
    if (e != ERR_OK)
        goto done;
    e = abi_value_bytes(&args.items[0], inner->data, inner->len);
    if (e != ERR_OK)
        goto done;
    e = abi_encode_call(sig, &args, out);
done:
    abi_value_release(&args);
    return e;
}

static enum err encode_typed(const char *type, const struct abi_value *v, struct buf *out)
{
    struct abi_type *t = NULL;
    enum err e = abi_type_parse(type, &t);
    if (e == ERR_OK)
        e = abi_encode(t, v, out);
    abi_type_free(t);
    return e;
}

enum err upkeep_encode_check(const uint8_t (*ids)[32], size_t n, struct buf *out)
{
    if (n == 0 || n > UPKEEP_CHECK_MAX)
        return ERR_INVAL;
    struct abi_value v = {0};
    struct buf inner;
    buf_init(&inner, 0);
    enum err e = abi_value_items(&v, 1);
    if (e != ERR_OK)
        goto done;
    e = abi_value_items(&v.items[0], n);
    if (e != ERR_OK)
        goto done;
    for (size_t i = 0; i < n; i++)
        memcpy(v.items[0].items[i].word, ids[i], 32);
    e = encode_typed(TYPE_IDS, &v, &inner);
    if (e != ERR_OK)
        goto done;
    e = encode_bytes_call(SIG_CHECK, &inner, out);
done:
    buf_release(&inner);
    abi_value_release(&v);
    return e;
}

/* Decode abi.encode(Item[]) in <data> into <out>; ERR_INVAL when malformed. */
static enum err decode_items(const uint8_t *data, size_t len, struct upkeep_item *out, size_t cap,
                             size_t *n_out)
{
    struct abi_type *t = NULL;
    struct abi_value v = {0};
    enum err e = abi_type_parse(TYPE_ITEMS, &t);
    if (e != ERR_OK)
        goto done;
    e = abi_decode(t, data, len, &v);
    if (e != ERR_OK) {
        e = e == ERR_NOMEM ? ERR_NOMEM : ERR_INVAL;
        goto done;
    }
    const struct abi_value *arr = &v.items[0];
    if (arr->n_items > cap) {
        e = ERR_TOOBIG;
        goto done;
    }
    for (size_t i = 0; i < arr->n_items; i++) {
        const struct abi_value *it = &arr->items[i];
        unsigned a = it->items[1].word[31]; /* uint8: abi_decode checked the padding */
        if (!action_ok(a)) {
            e = ERR_INVAL;
            goto done;
        }
        memcpy(out[i].job_id, it->items[0].word, 32);
        out[i].action = (enum upkeep_action)a;
        out[i].due_at = 0;
    }
    *n_out = arr->n_items;
done:
    abi_value_release(&v);
    abi_type_free(t);
    return e;
}

enum err upkeep_decode_check_result(const uint8_t *data, size_t len, struct upkeep_item *out,
                                    size_t cap, size_t *n_out)
{
    struct abi_type *t = NULL;
    struct abi_value v = {0};
    size_t n = 0;
    enum err e = abi_type_parse(TYPE_RESULT, &t);
    if (e != ERR_OK)
        goto done;
    e = abi_decode(t, data, len, &v);
    if (e != ERR_OK) {
        e = e == ERR_NOMEM ? ERR_NOMEM : ERR_PROTO;
        goto done;
    }
    int needed = v.items[0].word[31];
    e = decode_items(v.items[1].bytes, v.items[1].len, out, cap, &n);
    if (e == ERR_INVAL)
        e = ERR_PROTO;
    if (e != ERR_OK)
        goto done;
    if ((n != 0) != (needed != 0)) {
        e = ERR_PROTO;
        goto done;
    }
    *n_out = n;
done:
    abi_value_release(&v);
    abi_type_free(t);
    return e;
}

enum err upkeep_encode_perform(const struct upkeep_item *items, size_t n, struct buf *out)
{
    if (n == 0 || n > UPKEEP_BATCH_MAX)
        return ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        if (!action_ok((unsigned)items[i].action))
            return ERR_INVAL;
    struct abi_value v = {0};
    struct buf inner;
    buf_init(&inner, 0);
    enum err e = abi_value_items(&v, 1);
    if (e != ERR_OK)
        goto done;
    e = abi_value_items(&v.items[0], n);
    if (e != ERR_OK)
        goto done;
    for (size_t i = 0; i < n; i++) {
        struct abi_value *it = &v.items[0].items[i];
        e = abi_value_items(it, 2);
        if (e != ERR_OK)
            goto done;
        memcpy(it->items[0].word, items[i].job_id, 32);
        abi_value_uint(&it->items[1], u256_from_u64((uint64_t)items[i].action));
    }
    e = encode_typed(TYPE_ITEMS, &v, &inner);
    if (e != ERR_OK)
        goto done;
    e = encode_bytes_call(SIG_PERFORM, &inner, out);
done:
    buf_release(&inner);
    abi_value_release(&v);
    return e;
}

enum err upkeep_decode_perform(const uint8_t *data, size_t len, struct upkeep_item *out,
                               size_t *n_out)
{
    uint8_t sel[4];
    struct abi_type *t = NULL;
    struct abi_value v = {0};
    enum err e = abi_selector(SIG_PERFORM, sel);
    if (e != ERR_OK)
        return e;
    if (len < 4 || memcmp(data, sel, 4) != 0)
        return ERR_INVAL;
    e = abi_type_parse("(bytes)", &t);
    if (e != ERR_OK)
        goto done;
    e = abi_decode(t, data + 4, len - 4, &v);
    if (e != ERR_OK) {
        e = e == ERR_NOMEM ? ERR_NOMEM : ERR_INVAL;
        goto done;
    }
    e = decode_items(v.items[0].bytes, v.items[0].len, out, UPKEEP_BATCH_MAX, n_out);
    if (e == ERR_TOOBIG)
        e = ERR_INVAL;
done:
    abi_value_release(&v);
    abi_type_free(t);
    return e;
}

void upkeep_outcome_release(struct upkeep_outcome *o)
{
    if (o == NULL)
        return;
    free(o->settled);
    free(o->actions);
    memset(o, 0, sizeof(*o));
}

enum err upkeep_read_receipt(const struct rpc_receipt *r, const uint8_t escrow[20],
                             struct upkeep_outcome *out)
{
    uint8_t topics[N_EVENTS][32];
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < N_EVENTS; i++) {
        enum err e = abi_event_topic(ev_sigs[i], topics[i]);
        if (e != ERR_OK)
            return e;
    }
    size_t n_logs = r->logs.count;
    if (n_logs > 0) {
        out->settled = calloc(n_logs, sizeof(*out->settled));
        out->actions = calloc(n_logs, sizeof(*out->actions));
        if (out->settled == NULL || out->actions == NULL)
            return ERR_NOMEM;
    }
    for (size_t i = 0; i < n_logs; i++) {
        const struct rpc_log *l = &r->logs.items[i];
        if (memcmp(l->address, escrow, 20) != 0 || l->n_topics == 0)
            continue;
        size_t k = 0;
        while (k < N_EVENTS && memcmp(l->topics[0], topics[k], 32) != 0)
            k++;
        if (k == N_EVENTS)
            continue;
        if (ev_actions[k] == UPKEEP_NONE) {
            /* UpkeepPerformed(address indexed caller, uint256 settled, uint256 skipped) */
            struct u256 a, b;
            if (l->n_topics != 2 || l->data_len != 64 ||
                u256_from_be(l->data, 32, &a) != ERR_OK ||
                u256_from_be(l->data + 32, 32, &b) != ERR_OK ||
                u256_to_u64(a, &out->performed_settled) != ERR_OK ||
                u256_to_u64(b, &out->performed_skipped) != ERR_OK)
                return ERR_PROTO;
            out->has_performed = 1;
            continue;
        }
        /* jobId, client and worker are indexed: four topics. */
        if (l->n_topics != 4)
            return ERR_PROTO;
        memcpy(out->settled[out->n_settled], l->topics[1], 32);
        out->actions[out->n_settled] = ev_actions[k];
        out->n_settled++;
    }
    return ERR_OK;
}
