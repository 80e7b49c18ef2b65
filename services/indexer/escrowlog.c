/*
 * escrowlog -- LoomEscrow's job events, decoded with common/eth/abi.
 *
 * The signatures below are copied from the event declarations of
 * contracts/src/LoomEscrow.sol (names kept so a reader can match them);
 * abi_event_parse() computes topic 0 from them, so a change to an event in
 * the contract that is not made here shows up as logs that are never
 * matched (the integration test decodes every event from a real deployment).
 *
 * SPDX-License-Identifier: MIT
 */
#include "escrowlog.h"

#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "eth/abi.h"
#include "eth/rpc.h"

static const char *const signatures[PROTO_EV__COUNT] = {
    [PROTO_EV_JOB_CREATED] = "JobCreated(bytes32 indexed jobId, address indexed client, bytes32 ref, "
                             "uint64 priceCents, uint256 amount, bytes32 specHash, uint32 deadline, "
                             "uint32 maxRuntime, uint32 window)",
    [PROTO_EV_JOB_CLAIMED] = "JobClaimed(bytes32 indexed jobId, address indexed client, "
                             "address indexed worker, uint32 expiresAt)",
    [PROTO_EV_JOB_SUBMITTED] = "JobSubmitted(bytes32 indexed jobId, address indexed client, "
                               "address indexed worker, bytes32 resultHash, uint32 windowEndsAt)",
    [PROTO_EV_PAYMENT_RELEASED] = "PaymentReleased(bytes32 indexed jobId, address indexed client, "
                                  "address indexed worker, uint256 amount, bool byClient)",
    [PROTO_EV_JOB_DISPUTED] = "JobDisputed(bytes32 indexed jobId, address indexed client, "
                              "address indexed worker)",
    [PROTO_EV_JOB_REOPENED] = "JobReopened(bytes32 indexed jobId, address indexed client, "
                              "address indexed worker)",
    [PROTO_EV_JOB_REFUNDED] = "JobRefunded(bytes32 indexed jobId, address indexed client, "
                              "address indexed worker, uint256 amount)",
};

struct escrowlog {
    struct abi_event *events[PROTO_EV__COUNT];
    uint8_t topics[PROTO_EV__COUNT][32];
};

enum err escrowlog_new(struct escrowlog **out)
{
    enum err rc = ERR_NOMEM;
    struct escrowlog *el = calloc(1, sizeof(*el));
    if (el == NULL)
        goto fail;
    for (size_t i = 0; i < PROTO_EV__COUNT; i++) {
        rc = abi_event_parse(signatures[i], &el->events[i]);
        /* The signatures are constants: anything but ERR_NOMEM is a typo here. */
        LOOM_ASSERT(rc == ERR_OK || rc == ERR_NOMEM);
        if (rc != ERR_OK)
            goto fail;
        memcpy(el->topics[i], el->events[i]->topic0, 32);
    }
    *out = el;
    return ERR_OK;
fail:
    escrowlog_free(el);
    return rc;
}

void escrowlog_free(struct escrowlog *el)
{
    if (el == NULL)
        return;
    for (size_t i = 0; i < PROTO_EV__COUNT; i++)
        abi_event_free(el->events[i]);
    free(el);
}

const uint8_t (*escrowlog_topics(const struct escrowlog *el))[32]
{
    return el->topics;
}

const char *escrowlog_signature(enum proto_event_name name)
{
    LOOM_ASSERT((size_t)name < PROTO_EV__COUNT);
    return signatures[name];
}

/* The low 64 bits of a uintN word; *ok cleared when higher bits are set. */
static uint64_t word_u64(const uint8_t w[32], int *ok)
{
    for (size_t i = 0; i < 24; i++)
        if (w[i] != 0)
            *ok = 0;
    uint64_t v = 0;
    for (size_t i = 24; i < 32; i++)
        v = (v << 8) | w[i];
    return v;
}

static void word_addr(const uint8_t w[32], uint8_t out[20])
{
    memcpy(out, w + 12, 20);
}

enum err escrowlog_decode(const struct escrowlog *el, const struct rpc_log *log,
                          struct proto_event *out)
{
    struct abi_value v = {0};
    enum err rc;
    if (log->n_topics == 0)
        return ERR_NOTFOUND;
    size_t k = 0;
    while (k < PROTO_EV__COUNT && memcmp(log->topics[0], el->topics[k], 32) != 0)
        k++;
    if (k == PROTO_EV__COUNT)
        return ERR_NOTFOUND;
    if (log->block_number > (uint64_t)PROTO_MAX_ID || log->log_index > UINT32_MAX)
        return ERR_RANGE;

    rc = abi_event_decode(el->events[k], (const uint8_t(*)[32])log->topics, log->n_topics,
                          log->data, log->data_len, &v);
    if (rc != ERR_OK)
        goto done;
    memset(out, 0, sizeof(*out));
    out->block_number = (int64_t)log->block_number;
    memcpy(out->block_hash, log->block_hash, 32);
    memcpy(out->tx_hash, log->tx_hash, 32);
    out->log_index = (int64_t)log->log_index;
    out->name = (enum proto_event_name)k;
    struct proto_event_fields *f = &out->fields;
    const struct abi_value *it = v.items;
    memcpy(f->chain_job_id, it[0].word, 32);
    int ok = 1;
    switch (out->name) {
    case PROTO_EV_JOB_CREATED: {
        /* jobId, client, ref, priceCents, amount, specHash, deadline, maxRuntime, window */
        f->has_client = true;
        word_addr(it[1].word, f->client);
        uint64_t cents = word_u64(it[3].word, &ok);
        uint64_t runtime = word_u64(it[7].word, &ok);
        if (cents < 1 || cents > (uint64_t)PROTO_PRICE_CENTS_MAX || runtime < 1 ||
            runtime > (uint64_t)PROTO_RUNTIME_MAX_S)
            ok = 0;
        f->has_price_usd_cents = true;
        f->price_usd_cents = (int64_t)cents;
        f->has_amount_wei = true;
        memcpy(f->amount_wei, it[4].word, 32);
        f->has_spec_sha256 = true;
        memcpy(f->spec_sha256, it[5].word, 32);
        f->has_deadline_at = true;
        f->deadline_at = (int64_t)word_u64(it[6].word, &ok); /* uint32: always fits */
        f->has_max_runtime_s = true;
        f->max_runtime_s = (int64_t)runtime;
        break;
    }
    case PROTO_EV_JOB_CLAIMED: /* jobId, client, worker, expiresAt */
        f->has_worker = true;
        word_addr(it[2].word, f->worker);
        f->has_claim_expires_at = true;
        f->claim_expires_at = (int64_t)word_u64(it[3].word, &ok);
        break;
    case PROTO_EV_JOB_SUBMITTED: /* jobId, client, worker, resultHash, windowEndsAt */
        f->has_worker = true;
        word_addr(it[2].word, f->worker);
        f->has_result_sha256 = true;
        memcpy(f->result_sha256, it[3].word, 32);
        f->has_challenge_ends_at = true;
        f->challenge_ends_at = (int64_t)word_u64(it[4].word, &ok);
        break;
    case PROTO_EV_PAYMENT_RELEASED: /* jobId, client, worker, amount, byClient */
        f->has_worker = true;
        word_addr(it[2].word, f->worker);
        f->has_amount_wei = true;
        memcpy(f->amount_wei, it[3].word, 32);
        break;
    case PROTO_EV_JOB_DISPUTED: /* jobId, client, worker */
        f->has_client = true;
        word_addr(it[1].word, f->client);
        break;
    case PROTO_EV_JOB_REOPENED: /* jobId, client, worker */
        f->has_worker = true;
        word_addr(it[2].word, f->worker);
        break;
    case PROTO_EV_JOB_REFUNDED: /* jobId, client, worker, amount */
        f->has_client = true;
        word_addr(it[1].word, f->client);
        f->has_amount_wei = true;
        memcpy(f->amount_wei, it[3].word, 32);
        break;
    default:
        LOOM_ASSERT(0);
    }
    rc = ok ? ERR_OK : ERR_RANGE;
done:
    abi_value_release(&v);
    return rc;
}
