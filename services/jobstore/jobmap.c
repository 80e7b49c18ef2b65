/*
 * jobmap -- proto <-> jobdb conversions (see jobmap.h).
 * SPDX-License-Identifier: MIT
 */
#include "jobmap.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "dec.h"
#include "eth/keccak.h"
#include "eth/u256.h"

/* proto and jobdb list statuses and types in the same order (DESIGN.md). */
_Static_assert((int)PROTO_STATUS_PENDING == (int)JOBDB_PENDING &&
                   (int)PROTO_STATUS_OPEN == (int)JOBDB_OPEN &&
                   (int)PROTO_STATUS_WORKING == (int)JOBDB_WORKING &&
                   (int)PROTO_STATUS_SUBMITTED == (int)JOBDB_SUBMITTED &&
                   (int)PROTO_STATUS_COMPLETED == (int)JOBDB_COMPLETED &&
                   (int)PROTO_STATUS_DISPUTED == (int)JOBDB_DISPUTED &&
                   (int)PROTO_STATUS_REFUNDED == (int)JOBDB_REFUNDED &&
                   (int)PROTO_STATUS__COUNT == (int)JOBDB_STATUS__COUNT,
               "status orders differ");
_Static_assert((int)PROTO_JOB_IA == (int)JOBDB_TYPE_IA &&
                   (int)PROTO_JOB_GRAFICA == (int)JOBDB_TYPE_GRAFICA,
               "type orders differ");

enum proto_job_status jobmap_status(enum jobdb_status s)
{
    return (enum proto_job_status)s;
}

void jobmap_chain_job_id(const uint8_t client[20], int64_t id, uint8_t out[32])
{
    uint8_t enc[64];
    uint64_t v = (uint64_t)id;
    int i;

    /* abi.encode(address, bytes32): two 32-byte words, the address right-aligned. */
    memset(enc, 0, sizeof enc);
    memcpy(enc + 12, client, 20);
    for (i = 0; i < 8; i++)
        enc[63 - i] = (uint8_t)(v >> (8 * i));
    keccak256(enc, sizeof enc, out);
}

enum err jobmap_new_job(const struct proto_job_create *a, int64_t id, struct jobmap_new_job *out)
{
    uint8_t chain_id[32];

    memset(out, 0, sizeof *out);
    if (!a->has_spec_sha256)
        return ERR_INVAL;
    hex_encode(a->wallet_address, 20, true, out->wallet);
    hex_encode(a->spec_sha256, 32, true, out->spec);
    jobmap_chain_job_id(a->wallet_address, id, chain_id);
    hex_encode(chain_id, 32, true, out->chain_id);
    snprintf(out->price, sizeof out->price, "%" PRId64 ".%02" PRId64, a->price_usd_cents / 100,
             a->price_usd_cents % 100);
    out->in.title = a->title;
    out->in.description = a->description;
    out->in.type = (enum jobdb_type)a->type;
    out->in.price = out->price;
    out->in.wallet_address = out->wallet;
    out->in.cloud_link = a->cloud_link;
    out->in.script_path = a->script_path;
    out->in.external_links = a->external_links;
    out->in.attachment_info = a->attachment_info;
    out->in.chain_job_id = out->chain_id;
    out->in.price_usd_cents = a->price_usd_cents;
    out->in.quote_wei = NULL; /* the escrow converts USD itself (Chainlink) */
    out->in.spec_sha256 = out->spec;
    out->in.id = id;
    out->in.deadline_unix = a->deadline_at;
    out->in.max_runtime_s = a->max_runtime_s;
    return ERR_OK;
}

/* Row text -> wire bytes. */
static enum err hex_in(const char *s, uint8_t *out, size_t n)
{
    return s && hex_decode_exact(s, out, n) == ERR_OK ? ERR_OK : ERR_DB;
}

static enum err wei_in(const char *s, uint8_t out[32])
{
    struct u256 v;

    if (!s || u256_parse_dec(s, &v) != ERR_OK)
        return ERR_DB;
    u256_to_be(v, out);
    return ERR_OK;
}

static enum err dup_opt(const char *s, char **out)
{
    *out = NULL;
    if (!s)
        return ERR_OK;
    *out = strdup(s);
    return *out ? ERR_OK : ERR_NOMEM;
}

enum err jobmap_job(const struct jobdb_job *row, const struct jobdb_history_entry *h, size_t n_h,
                    struct proto_job *out)
{
    enum err e = ERR_OK;
    size_t i;

    memset(out, 0, sizeof *out);
    out->id = row->id;
    out->type = (enum proto_job_type)row->type;
    out->price_usd_cents = row->price_usd_cents;
    out->status = jobmap_status(row->status);
    out->progress = row->progress;
    out->created_at = row->created_at_ms / 1000;
    out->deadline_at =
        row->tx[JOBDB_TR_FUNDED].tx_hash ? row->deadline_unix : row->requested_deadline_unix;
    out->max_runtime_s = row->max_runtime_s ? row->max_runtime_s : row->requested_max_runtime_s;
    if (out->max_runtime_s <= 0)
        return ERR_DB;
    if (e == ERR_OK)
        e = dup_opt(row->title, &out->title);
    if (e == ERR_OK)
        e = dup_opt(row->description ? row->description : "", &out->description);
    if (e == ERR_OK)
        e = dup_opt(row->cloud_link, &out->cloud_link);
    if (e == ERR_OK)
        e = dup_opt(row->script_path, &out->script_path);
    if (e == ERR_OK)
        e = dup_opt(row->external_links, &out->external_links);
    if (e == ERR_OK)
        e = dup_opt(row->attachment_info, &out->attachment_info);
    if (e == ERR_OK)
        e = hex_in(row->wallet_address, out->wallet_address, 20);
    if (e == ERR_OK && row->worker_address) {
        out->has_worker_address = true;
        e = hex_in(row->worker_address, out->worker_address, 20);
    }
    if (e == ERR_OK && row->chain_job_id) {
        out->has_chain_job_id = true;
        e = hex_in(row->chain_job_id, out->chain_job_id, 32);
    }
    if (e == ERR_OK && row->escrow_wei) {
        out->has_escrow_wei = true;
        e = wei_in(row->escrow_wei, out->escrow_wei);
    }
    if (e == ERR_OK && row->spec_sha256) {
        out->has_spec_sha256 = true;
        e = hex_in(row->spec_sha256, out->spec_sha256, 32);
    }
    if (e == ERR_OK && row->result_sha256) {
        out->has_result_sha256 = true;
        e = hex_in(row->result_sha256, out->result_sha256, 32);
    }
    out->has_claim_expires_at = row->claim_expires_unix != 0;
    out->claim_expires_at = row->claim_expires_unix;
    out->has_challenge_ends_at = row->challenge_ends_unix != 0;
    out->challenge_ends_at = row->challenge_ends_unix;
    if (e == ERR_OK && n_h > 0) {
        out->transitions = calloc(n_h, sizeof *out->transitions);
        if (!out->transitions)
            e = ERR_NOMEM;
        for (i = 0; e == ERR_OK && i < n_h; i++) {
            out->transitions[i].status = jobmap_status(h[i].status);
            out->transitions[i].block_number = (int64_t)h[i].block_number;
            out->transitions[i].at = h[i].at_unix;
            e = hex_in(h[i].tx_hash, out->transitions[i].tx_hash, 32);
            out->n_transitions++;
        }
    }
    if (e != ERR_OK)
        proto_job_release(out);
    return e;
}

static void files_free(struct proto_job *job)
{
    for (size_t i = 0; i < job->n_files; i++) {
        free(job->files[i].name);
        free(job->files[i].content_type);
    }
    free(job->files);
    job->files = NULL;
    job->n_files = 0;
}

_Static_assert((int)PROTO_FILE_INPUT == (int)JOBDB_FILE_INPUT &&
                   (int)PROTO_FILE_SPEC == (int)JOBDB_FILE_SPEC &&
                   (int)PROTO_FILE_RESULT == (int)JOBDB_FILE_RESULT,
               "file role orders differ");

enum err jobmap_job_files(const struct jobdb_file *f, size_t n, struct proto_job *job)
{
    enum err e = ERR_OK;

    files_free(job);
    if (n == 0)
        return ERR_OK;
    job->files = calloc(n, sizeof *job->files);
    if (!job->files)
        return ERR_NOMEM;
    for (size_t i = 0; e == ERR_OK && i < n; i++) {
        struct proto_job_file *o = &job->files[i];
        job->n_files++;
        if ((unsigned)f[i].role >= PROTO_FILE_ROLE__COUNT || f[i].size_bytes < 0 || !f[i].name ||
            !f[i].content_type) {
            e = ERR_DB;
            break;
        }
        o->role = (enum proto_file_role)f[i].role;
        o->size_bytes = f[i].size_bytes;
        e = hex_in(f[i].sha256, o->sha256, 32);
        if (e == ERR_OK)
            e = dup_opt(f[i].name, &o->name);
        if (e == ERR_OK)
            e = dup_opt(f[i].content_type, &o->content_type);
    }
    if (e != ERR_OK)
        files_free(job);
    return e;
}

void jobmap_filter(const struct proto_job_list *a, struct jobmap_filter *out)
{
    memset(out, 0, sizeof *out);
    out->f.ascending = 1;
    out->f.has_status = a->has_status;
    out->f.status = (enum jobdb_status)a->status;
    out->f.has_type = a->has_type;
    out->f.type = (enum jobdb_type)a->type;
    if (a->has_client) {
        hex_encode(a->client, 20, true, out->client);
        out->f.client = out->client;
    }
    if (a->has_worker) {
        hex_encode(a->worker, 20, true, out->worker);
        out->f.worker = out->worker;
    }
}

void jobmap_file(const struct proto_file *a, struct jobmap_file *out)
{
    memset(out, 0, sizeof *out);
    hex_encode(a->sha256, 32, true, out->sha);
    out->f.name = a->name;
    /* DESIGN.md: the job spec is the upload named job.json. */
    out->f.role = strcmp(a->name, "job.json") == 0 ? JOBDB_FILE_SPEC : JOBDB_FILE_INPUT;
    out->f.sha256 = out->sha;
    out->f.size_bytes = a->size_bytes;
    out->f.content_type = a->content_type;
}

/* Wire event names -> jobdb kinds (the enums list them in different orders). */
static const enum jobdb_event_kind event_kinds[PROTO_EV__COUNT] = {
    [PROTO_EV_JOB_CREATED] = JOBDB_EV_CREATED,     [PROTO_EV_JOB_CLAIMED] = JOBDB_EV_CLAIMED,
    [PROTO_EV_JOB_SUBMITTED] = JOBDB_EV_SUBMITTED, [PROTO_EV_PAYMENT_RELEASED] = JOBDB_EV_RELEASED,
    [PROTO_EV_JOB_DISPUTED] = JOBDB_EV_DISPUTED,   [PROTO_EV_JOB_REOPENED] = JOBDB_EV_REOPENED,
    [PROTO_EV_JOB_REFUNDED] = JOBDB_EV_REFUNDED,   [PROTO_EV_DISPUTE_RESOLVED] = JOBDB_EV_RESOLVED,
};

static void wei_dec(const uint8_t be[32], char out[JOBDB_WEI_DEC_MAX])
{
    dec_u256_be(be, out);
}

enum err jobmap_event(const struct proto_event *ev, struct jobdb_event *out)
{
    const struct proto_event_fields *f = &ev->fields;

    memset(out, 0, sizeof *out);
    if ((unsigned)ev->name >= PROTO_EV__COUNT || ev->log_index < 0 ||
        ev->log_index > (int64_t)UINT32_MAX || ev->block_number < 0)
        return ERR_INVAL;
    out->kind = event_kinds[ev->name];
    out->block_number = (uint64_t)ev->block_number;
    memcpy(out->block_hash, ev->block_hash, 32);
    out->log_index = (uint32_t)ev->log_index;
    memcpy(out->tx_hash, ev->tx_hash, 32);
    out->block_time_unix = ev->block_at;
    memcpy(out->job_id, f->chain_job_id, 32);
    if (f->has_client)
        memcpy(out->client, f->client, 20);
    if (f->has_worker)
        memcpy(out->worker, f->worker, 20);
    if (f->has_ref)
        memcpy(out->ref, f->ref, 32);
    if (f->has_amount_wei)
        wei_dec(f->amount_wei, out->amount_wei);
    if (f->has_to_worker_wei) /* DisputeResolved: jobdb keeps toWorker, toClient as amounts */
        wei_dec(f->to_worker_wei, out->amount_wei);
    if (f->has_to_client_wei)
        wei_dec(f->to_client_wei, out->amount2_wei);
    if (f->has_price_usd_cents)
        out->price_usd_cents = (uint64_t)f->price_usd_cents;
    if (f->has_spec_sha256)
        memcpy(out->spec_hash, f->spec_sha256, 32);
    if (f->has_result_sha256)
        memcpy(out->result_hash, f->result_sha256, 32);
    if (f->has_deadline_at)
        out->deadline_unix = f->deadline_at;
    if (f->has_claim_expires_at) /* JobClaimed's expiresAt */
        out->expires_unix = f->claim_expires_at;
    if (f->has_challenge_ends_at) /* JobSubmitted's windowEndsAt */
        out->expires_unix = f->challenge_ends_at;
    if (f->has_max_runtime_s)
        out->max_runtime_s = (uint32_t)f->max_runtime_s;
    if (f->has_challenge_window_s)
        out->window_s = (uint32_t)f->challenge_window_s;
    if (f->has_by_client)
        out->by_client = f->by_client ? 1 : 0;
    return ERR_OK;
}

void jobmap_block(const struct proto_block_ref *b, struct jobdb_block *out)
{
    /* parent_hash stays zero: events.apply carries none, so jobdb checks the
     * batch against its stored checkpoint only (docs/PROTOCOL.md, continuity). */
    memset(out, 0, sizeof *out);
    out->number = (uint64_t)b->number;
    memcpy(out->hash, b->hash, 32);
}

void jobmap_due(const struct jobdb_due *d, struct proto_due *out)
{
    memset(out, 0, sizeof *out);
    out->job_id = d->job_id;
    memcpy(out->chain_job_id, d->chain_job_id, 32);
    switch (d->action) {
    case JOBDB_ACTION_RELEASE:
        out->action = PROTO_DUE_RELEASE;
        break;
    case JOBDB_ACTION_REOPEN:
        out->action = PROTO_DUE_REOPEN;
        break;
    case JOBDB_ACTION_REFUND:
        out->action = PROTO_DUE_REFUND;
        break;
    }
    out->due_at = d->due_unix;
}

/* The transition whose transaction moved a job into <to>. */
static enum jobdb_transition transition_of(const struct jobdb_job *row, enum jobdb_status to)
{
    switch (to) {
    case JOBDB_WORKING:
        return JOBDB_TR_CLAIMED;
    case JOBDB_SUBMITTED:
        return JOBDB_TR_SUBMITTED;
    case JOBDB_COMPLETED:
        return row->tx[JOBDB_TR_RESOLVED].tx_hash ? JOBDB_TR_RESOLVED : JOBDB_TR_RELEASED;
    case JOBDB_DISPUTED:
        return JOBDB_TR_DISPUTED;
    case JOBDB_REFUNDED:
        return row->tx[JOBDB_TR_REFUNDED].tx_hash ? JOBDB_TR_REFUNDED : JOBDB_TR_RESOLVED;
    case JOBDB_OPEN:
        return row->tx[JOBDB_TR_REOPENED].tx_hash ? JOBDB_TR_REOPENED : JOBDB_TR_FUNDED;
    case JOBDB_PENDING:
    case JOBDB_STATUS__COUNT:
        break;
    }
    return JOBDB_TR_FUNDED;
}

enum err jobmap_feed_change(const struct jobdb_job *row, enum jobdb_status to, int64_t now_at,
                            struct proto_feed *out, int *publish)
{
    enum err e = ERR_OK;

    memset(out, 0, sizeof *out);
    *publish = 0;
    if (to == JOBDB_PENDING || (unsigned)to >= JOBDB_STATUS__COUNT)
        return ERR_OK;
    if (to == JOBDB_OPEN) {
        struct proto_feed_open *o = &out->u.open;
        out->kind = PROTO_FEED_OPEN;
        o->job_id = row->id;
        o->type = (enum proto_job_type)row->type;
        o->price_usd_cents = row->price_usd_cents;
        o->deadline_at = row->deadline_unix;
        o->max_runtime_s = row->max_runtime_s;
        if (o->max_runtime_s <= 0)
            return ERR_DB;
        e = hex_in(row->chain_job_id, o->chain_job_id, 32);
        if (e == ERR_OK)
            e = wei_in(row->escrow_wei, o->escrow_wei);
        if (e == ERR_OK)
            e = hex_in(row->spec_sha256, o->spec_sha256, 32);
    } else {
        struct proto_feed_closed *c = &out->u.closed;
        const struct jobdb_tx *tx = &row->tx[transition_of(row, to)];
        out->kind = PROTO_FEED_CLOSED;
        c->job_id = row->id;
        c->status = jobmap_status(to);
        c->at = tx->tx_hash ? tx->at_unix : now_at;
        e = hex_in(row->chain_job_id, c->chain_job_id, 32);
        if (e == ERR_OK && tx->tx_hash) {
            c->has_tx_hash = true;
            e = hex_in(tx->tx_hash, c->tx_hash, 32);
        }
    }
    if (e == ERR_OK)
        *publish = 1;
    return e;
}

enum err jobmap_feed_progress(const struct jobdb_job *row, int64_t now_at, struct proto_feed *out)
{
    struct proto_feed_progress *p = &out->u.progress;
    enum err e;

    memset(out, 0, sizeof *out);
    out->kind = PROTO_FEED_PROGRESS;
    p->job_id = row->id;
    p->progress = row->progress;
    p->at = now_at;
    e = hex_in(row->chain_job_id, p->chain_job_id, 32);
    if (e == ERR_OK)
        e = hex_in(row->worker_address, p->worker, 20);
    return e;
}
