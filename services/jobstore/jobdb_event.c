/*
 * jobdb_event -- the event table and a decoder for static ABI words.
 * SPDX-License-Identifier: MIT
 */
#include "jobdb_event.h"

#include <string.h>

#include "buf.h"
#include "dec.h"

#define P(type, idx, field)                                                                        \
    {                                                                                              \
        type, idx, JOBDB_F_##field                                                                 \
    }

/* LoomEscrow's events (contracts/src/LoomEscrow.sol), parameters in
 * declaration order. Edit here when the contract changes. */
static const struct jobdb_event_abi abis[JOBDB_EV__COUNT] = {
    [JOBDB_EV_CREATED] = {JOBDB_EV_CREATED,
                          "JobCreated",
                          9,
                          {P("bytes32", 1, JOB_ID), P("address", 1, CLIENT), P("bytes32", 0, REF),
                           P("uint64", 0, USD_CENTS), P("uint256", 0, AMOUNT_WEI),
                           P("bytes32", 0, SPEC_HASH), P("uint32", 0, DEADLINE),
                           P("uint32", 0, MAX_RUNTIME), P("uint32", 0, WINDOW)}},
    [JOBDB_EV_CLAIMED] = {JOBDB_EV_CLAIMED,
                          "JobClaimed",
                          4,
                          {P("bytes32", 1, JOB_ID), P("address", 1, CLIENT),
                           P("address", 1, WORKER), P("uint32", 0, EXPIRES)}},
    [JOBDB_EV_SUBMITTED] = {JOBDB_EV_SUBMITTED,
                            "JobSubmitted",
                            5,
                            {P("bytes32", 1, JOB_ID), P("address", 1, CLIENT),
                             P("address", 1, WORKER), P("bytes32", 0, RESULT_HASH),
                             P("uint32", 0, EXPIRES)}},
    [JOBDB_EV_RELEASED] = {JOBDB_EV_RELEASED,
                           "PaymentReleased",
                           5,
                           {P("bytes32", 1, JOB_ID), P("address", 1, CLIENT),
                            P("address", 1, WORKER), P("uint256", 0, AMOUNT_WEI),
                            P("bool", 0, BY_CLIENT)}},
    [JOBDB_EV_DISPUTED] = {JOBDB_EV_DISPUTED,
                           "JobDisputed",
                           3,
                           {P("bytes32", 1, JOB_ID), P("address", 1, CLIENT),
                            P("address", 1, WORKER)}},
    [JOBDB_EV_RESOLVED] = {JOBDB_EV_RESOLVED,
                           "DisputeResolved",
                           5,
                           {P("bytes32", 1, JOB_ID), P("address", 1, CLIENT),
                            P("address", 1, WORKER), P("uint256", 0, AMOUNT_WEI),
                            P("uint256", 0, AMOUNT2_WEI)}},
    [JOBDB_EV_REOPENED] = {JOBDB_EV_REOPENED,
                           "JobReopened",
                           3,
                           {P("bytes32", 1, JOB_ID), P("address", 1, CLIENT),
                            P("address", 1, WORKER)}},
    [JOBDB_EV_REFUNDED] = {JOBDB_EV_REFUNDED,
                           "JobRefunded",
                           4,
                           {P("bytes32", 1, JOB_ID), P("address", 1, CLIENT),
                            P("address", 1, WORKER), P("uint256", 0, AMOUNT_WEI)}},
    [JOBDB_EV_WITHDRAWN] = {JOBDB_EV_WITHDRAWN,
                            "Withdrawn",
                            3,
                            {P("address", 1, ACCOUNT), P("address", 1, TO),
                             P("uint256", 0, AMOUNT_WEI)}},
};

const struct jobdb_event_abi *jobdb_event_abi(enum jobdb_event_kind kind)
{
    LOOM_ASSERT((unsigned)kind < JOBDB_EV__COUNT);
    return &abis[kind];
}

enum err jobdb_event_kind_by_name(const char *name, enum jobdb_event_kind *out)
{
    int k;

    for (k = 0; k < JOBDB_EV__COUNT; k++) {
        if (strcmp(abis[k].name, name) == 0) {
            *out = (enum jobdb_event_kind)k;
            return ERR_OK;
        }
    }
    return ERR_NOTFOUND;
}

enum err jobdb_event_signature(enum jobdb_event_kind kind, struct buf *out)
{
    const struct jobdb_event_abi *a = jobdb_event_abi(kind);
    enum err e = buf_append_str(out, a->name);
    size_t i;

    for (i = 0; e == ERR_OK && i < a->n_params; i++) {
        e = buf_append_byte(out, i == 0 ? '(' : ',');
        if (e == ERR_OK)
            e = buf_append_str(out, a->params[i].abi_type);
    }
    if (e == ERR_OK)
        e = buf_append_byte(out, a->n_params == 0 ? '(' : ')');
    if (e == ERR_OK && a->n_params == 0)
        e = buf_append_byte(out, ')');
    return e;
}

/* Width in bits of "uintN", or 0 for another type. */
static unsigned uint_bits(const char *type)
{
    if (strcmp(type, "uint32") == 0)
        return 32;
    if (strcmp(type, "uint64") == 0)
        return 64;
    if (strcmp(type, "uint256") == 0)
        return 256;
    return 0;
}

static int high_bytes_zero(const uint8_t w[32], size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (w[i] != 0)
            return 0;
    return 1;
}

static uint64_t word_u64(const uint8_t w[32])
{
    uint64_t v = 0;
    int i;

    for (i = 24; i < 32; i++)
        v = (v << 8) | w[i];
    return v;
}

static enum err put_field(const struct jobdb_event_param *p, const uint8_t w[32],
                          struct jobdb_event *ev)
{
    unsigned bits = uint_bits(p->abi_type);

    if (strcmp(p->abi_type, "address") == 0 && !high_bytes_zero(w, 12))
        return ERR_PROTO;
    if (strcmp(p->abi_type, "bool") == 0 && (!high_bytes_zero(w, 31) || w[31] > 1))
        return ERR_PROTO;
    if (bits && bits < 256 && !high_bytes_zero(w, 32 - bits / 8))
        return ERR_PROTO;
    switch (p->field) {
    case JOBDB_F_IGNORE:
        break;
    case JOBDB_F_JOB_ID:
        memcpy(ev->job_id, w, 32);
        break;
    case JOBDB_F_CLIENT:
        memcpy(ev->client, w + 12, 20);
        break;
    case JOBDB_F_WORKER:
        memcpy(ev->worker, w + 12, 20);
        break;
    case JOBDB_F_ACCOUNT:
        memcpy(ev->account, w + 12, 20);
        break;
    case JOBDB_F_TO:
        memcpy(ev->to, w + 12, 20);
        break;
    case JOBDB_F_REF:
        memcpy(ev->ref, w, 32);
        break;
    case JOBDB_F_AMOUNT_WEI:
        dec_u256_be(w, ev->amount_wei);
        break;
    case JOBDB_F_AMOUNT2_WEI:
        dec_u256_be(w, ev->amount2_wei);
        break;
    case JOBDB_F_USD_CENTS:
        ev->price_usd_cents = word_u64(w);
        break;
    case JOBDB_F_SPEC_HASH:
        memcpy(ev->spec_hash, w, 32);
        break;
    case JOBDB_F_RESULT_HASH:
        memcpy(ev->result_hash, w, 32);
        break;
    case JOBDB_F_DEADLINE:
        ev->deadline_unix = (int64_t)word_u64(w);
        break;
    case JOBDB_F_EXPIRES:
        ev->expires_unix = (int64_t)word_u64(w);
        break;
    case JOBDB_F_MAX_RUNTIME:
        ev->max_runtime_s = (uint32_t)word_u64(w);
        break;
    case JOBDB_F_WINDOW:
        ev->window_s = (uint32_t)word_u64(w);
        break;
    case JOBDB_F_BY_CLIENT:
        ev->by_client = w[31];
        break;
    }
    /* A field wider than what it lands in would be a table error. */
    if ((p->field == JOBDB_F_USD_CENTS && bits != 64) ||
        ((p->field == JOBDB_F_DEADLINE || p->field == JOBDB_F_EXPIRES ||
          p->field == JOBDB_F_MAX_RUNTIME || p->field == JOBDB_F_WINDOW) &&
         bits != 32))
        LOOM_ASSERT(!"jobdb_event: table maps a wide integer into a narrow field");
    return ERR_OK;
}

enum err jobdb_event_decode(enum jobdb_event_kind kind, const uint8_t (*topics)[32],
                            size_t n_topics, const uint8_t *data, size_t data_len,
                            struct jobdb_event *out)
{
    const struct jobdb_event_abi *a = jobdb_event_abi(kind);
    size_t i, n_indexed = 0, n_words = 0, t = 1, d = 0;
    enum err e;

    for (i = 0; i < a->n_params; i++) {
        if (a->params[i].indexed)
            n_indexed++;
        else
            n_words++;
    }
    if (n_topics != 1 + n_indexed || data_len != 32 * n_words)
        return ERR_PROTO;
    memset(out, 0, sizeof *out);
    out->kind = kind;
    for (i = 0; i < a->n_params; i++) {
        const uint8_t *w = a->params[i].indexed ? topics[t++] : data + 32 * d++;
        e = put_field(&a->params[i], w, out);
        if (e != ERR_OK)
            return e;
    }
    return ERR_OK;
}
