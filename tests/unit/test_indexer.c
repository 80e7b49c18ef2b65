/*
 * Unit tests for services/indexer: escrow log decoding (every event, with
 * topic vectors computed by `cast keccak`), the journal sink's rules and
 * crash recovery, and the follower against a scripted in-memory chain:
 * backfill, batching at block boundaries, ranges refused and shrunk, errors
 * retried, reorgs of depth 1 and 3 (also to a chain of the same height and
 * after a restart), a lost sink reply, and resuming from the checkpoint.
 * The anvil-backed tests are test_indexer_anvil.c.
 *
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "hex.h"
#include "eth/rpc.h"
#include "log.h"
#include "services/indexer/chain.h"
#include "services/indexer/escrowlog.h"
#include "services/indexer/follower.h"
#include "services/indexer/memsink.h"

/* ---- word helpers ----------------------------------------------------------- */

static void w_u64(uint8_t w[32], uint64_t v)
{
    memset(w, 0, 32);
    for (int i = 0; i < 8; i++)
        w[31 - i] = (uint8_t)(v >> (8 * i));
}

static void w_addr(uint8_t w[32], uint8_t fill)
{
    memset(w, 0, 32);
    memset(w + 12, fill, 20);
}

static void w_fill(uint8_t w[32], uint8_t fill)
{
    memset(w, fill, 32);
}

static void hex32(const char *s, uint8_t out[32])
{
    assert_int_equal(hex_decode_exact(s, out, 32), ERR_OK);
}

/* topic 0 of each event, from `cast keccak "<canonical signature>"`. */
static const char *const topic_hex[PROTO_EV__COUNT] = {
    [PROTO_EV_JOB_CREATED] = "0xa3835f0e156b5d0c1385109b3a0dfddef8af1163b0661217fa66bf82c6c6f343",
    [PROTO_EV_JOB_CLAIMED] = "0x0fa6c12aa943d8ddba26c330f3ae62d4ae2005b32ce185900c5f0964511cf092",
    [PROTO_EV_JOB_SUBMITTED] = "0x8de90a8fc99e755e25f3540a972e7cc67411a590aac65904475d814145d87371",
    [PROTO_EV_PAYMENT_RELEASED] =
        "0x5d663951ad4c96a0e56c58c9f02783be4c57c9283e2942818adf7f35846bcbd4",
    [PROTO_EV_JOB_DISPUTED] = "0x002e930597110edf3220e1b9e29e6ffc0dec66938561c615b43c8fc7c4e02754",
    [PROTO_EV_JOB_REOPENED] = "0x802721a5dc5e5650da35fc6c4f85a11558b965c7fb0b37152cffe652e4369721",
    [PROTO_EV_JOB_REFUNDED] = "0x5f7dfd6c0bb152872f8623205f789f19fd0ee15c4a72f9da6a6af71ed59a0869",
    [PROTO_EV_DISPUTE_RESOLVED] =
        "0x2aede0cd57bba3be998c39d156e89ffb3414a33ba9a3d74367e81e4ff49ba211",
};

/*
 * Build a log of event <name> for job <job> (the job id is 32 bytes of
 * <job>), client 0x11.., worker 0x22.., with <v> as its number (price,
 * expiry, amount...). data is malloc'd into the log.
 */
static void mk_log(struct rpc_log *l, enum proto_event_name name, uint8_t job, uint64_t v)
{
    memset(l, 0, sizeof(*l));
    memset(l->address, 0xee, 20);
    hex32(topic_hex[name], l->topics[0]);
    w_fill(l->topics[1], job);
    w_addr(l->topics[2], 0x11);
    w_addr(l->topics[3], 0x22);
    l->n_topics = 4;
    uint8_t d[7][32];
    size_t nw = 0;
    switch (name) {
    case PROTO_EV_JOB_CREATED:
        l->n_topics = 3;
        w_fill(d[0], 0x33);          /* ref */
        w_u64(d[1], v);              /* priceCents */
        w_u64(d[2], v * 1000000000); /* amount */
        w_fill(d[3], 0x44);          /* specHash */
        w_u64(d[4], 1764547200);     /* deadline */
        w_u64(d[5], 3600);           /* maxRuntime */
        w_u64(d[6], 600);            /* window */
        nw = 7;
        break;
    case PROTO_EV_JOB_CLAIMED:
        w_u64(d[0], v);
        nw = 1;
        break;
    case PROTO_EV_JOB_SUBMITTED:
        w_fill(d[0], 0x55);
        w_u64(d[1], v);
        nw = 2;
        break;
    case PROTO_EV_PAYMENT_RELEASED:
        w_u64(d[0], v);
        w_u64(d[1], 1);
        nw = 2;
        break;
    case PROTO_EV_JOB_REFUNDED:
        w_u64(d[0], v);
        nw = 1;
        break;
    case PROTO_EV_DISPUTE_RESOLVED:
        w_u64(d[0], v);
        w_u64(d[1], 2 * v);
        nw = 2;
        break;
    default:
        nw = 0;
    }
    l->data = malloc(nw * 32 + 1);
    assert_non_null(l->data);
    for (size_t i = 0; i < nw; i++)
        memcpy(l->data + 32 * i, d[i], 32);
    l->data_len = nw * 32;
}

/* ---- escrowlog ------------------------------------------------------------------ */

static struct escrowlog *el_new(void)
{
    struct escrowlog *el = NULL;
    assert_int_equal(escrowlog_new(&el), ERR_OK);
    return el;
}

static void test_topics_match_cast(void **state)
{
    (void)state;
    struct escrowlog *el = el_new();
    const uint8_t(*t)[32] = escrowlog_topics(el);
    for (size_t i = 0; i < PROTO_EV__COUNT; i++) {
        uint8_t want[32];
        hex32(topic_hex[i], want);
        assert_memory_equal(t[i], want, 32);
    }
    assert_non_null(
        strstr(escrowlog_signature(PROTO_EV_JOB_CLAIMED), "JobClaimed(bytes32 indexed"));
    escrowlog_free(el);
    escrowlog_free(NULL);
}

static void test_decode_every_event(void **state)
{
    (void)state;
    struct escrowlog *el = el_new();
    uint8_t job[32], client[20], worker[20], h44[32], h55[32];
    memset(job, 0x07, 32);
    memset(client, 0x11, 20);
    memset(worker, 0x22, 20);
    memset(h44, 0x44, 32);
    memset(h55, 0x55, 32);
    for (int k = 0; k < PROTO_EV__COUNT; k++) {
        struct rpc_log l;
        mk_log(&l, (enum proto_event_name)k, 0x07, 1250);
        l.block_number = 100;
        memset(l.block_hash, 0xb0, 32);
        memset(l.tx_hash, 0x70, 32);
        l.log_index = 3;
        struct proto_event e;
        assert_int_equal(escrowlog_decode(el, &l, &e), ERR_OK);
        assert_int_equal(e.name, k);
        assert_int_equal(e.block_number, 100);
        assert_int_equal(e.log_index, 3);
        assert_int_equal(e.block_hash[5], 0xb0);
        assert_int_equal(e.tx_hash[31], 0x70);
        const struct proto_event_fields *f = &e.fields;
        assert_memory_equal(f->chain_job_id, job, 32);
        uint8_t amount[32], ref[32];
        /* Every event carries the client; all but JobCreated the worker. */
        assert_true(f->has_client);
        assert_memory_equal(f->client, client, 20);
        assert_int_equal(f->has_worker, k != PROTO_EV_JOB_CREATED);
        if (k != PROTO_EV_JOB_CREATED)
            assert_memory_equal(f->worker, worker, 20);
        assert_int_equal(e.block_at, 0); /* the follower sets it */
        switch (k) {
        case PROTO_EV_JOB_CREATED:
            assert_true(f->has_ref && f->has_price_usd_cents && f->has_amount_wei &&
                        f->has_spec_sha256 && f->has_deadline_at && f->has_max_runtime_s &&
                        f->has_challenge_window_s);
            assert_false(f->has_result_sha256 || f->has_claim_expires_at ||
                         f->has_challenge_ends_at || f->has_by_client);
            memset(ref, 0x33, 32);
            assert_memory_equal(f->ref, ref, 32);
            assert_int_equal(f->price_usd_cents, 1250);
            w_u64(amount, 1250000000000ULL);
            assert_memory_equal(f->amount_wei, amount, 32);
            assert_memory_equal(f->spec_sha256, h44, 32);
            assert_int_equal(f->deadline_at, 1764547200);
            assert_int_equal(f->max_runtime_s, 3600);
            assert_int_equal(f->challenge_window_s, 600);
            break;
        case PROTO_EV_JOB_CLAIMED:
            assert_true(f->has_claim_expires_at);
            assert_false(f->has_amount_wei || f->has_ref);
            assert_int_equal(f->claim_expires_at, 1250);
            break;
        case PROTO_EV_JOB_SUBMITTED:
            assert_true(f->has_result_sha256 && f->has_challenge_ends_at);
            assert_false(f->has_claim_expires_at);
            assert_memory_equal(f->result_sha256, h55, 32);
            assert_int_equal(f->challenge_ends_at, 1250);
            break;
        case PROTO_EV_PAYMENT_RELEASED:
            assert_true(f->has_amount_wei && f->has_by_client && f->by_client);
            w_u64(amount, 1250);
            assert_memory_equal(f->amount_wei, amount, 32);
            break;
        case PROTO_EV_JOB_DISPUTED:
        case PROTO_EV_JOB_REOPENED:
            assert_false(f->has_amount_wei || f->has_claim_expires_at || f->has_by_client);
            break;
        case PROTO_EV_JOB_REFUNDED:
            assert_true(f->has_amount_wei);
            w_u64(amount, 1250);
            assert_memory_equal(f->amount_wei, amount, 32);
            break;
        case PROTO_EV_DISPUTE_RESOLVED:
            assert_true(f->has_to_worker_wei && f->has_to_client_wei);
            assert_false(f->has_amount_wei);
            w_u64(amount, 1250);
            assert_memory_equal(f->to_worker_wei, amount, 32);
            w_u64(amount, 2500);
            assert_memory_equal(f->to_client_wei, amount, 32);
            break;
        }
        /* Every decoded event encodes as a valid events.apply. */
        struct proto_block_ref blk = {.number = 100};
        memset(blk.hash, 0xb0, 32);
        struct proto_request req = {.cmd = PROTO_CMD_EVENTS_APPLY};
        req.args.events_apply = (struct proto_events_apply){.from_block = 100,
                                                            .to_block = 100,
                                                            .blocks = &blk,
                                                            .n_blocks = 1,
                                                            .events = &e,
                                                            .n_events = 1,
                                                            .checkpoint = blk};
        struct buf out;
        buf_init(&out, 0);
        assert_int_equal(proto_request_encode(&req, &out, NULL), ERR_OK);
        buf_release(&out);
        free(l.data);
    }
    escrowlog_free(el);
}

static void test_decode_errors(void **state)
{
    (void)state;
    struct escrowlog *el = el_new();
    struct proto_event e;
    struct rpc_log l;

    mk_log(&l, PROTO_EV_JOB_CLAIMED, 1, 5);
    l.topics[0][0] ^= 1; /* another event */
    assert_int_equal(escrowlog_decode(el, &l, &e), ERR_NOTFOUND);
    l.n_topics = 0;
    assert_int_equal(escrowlog_decode(el, &l, &e), ERR_NOTFOUND);
    free(l.data);

    mk_log(&l, PROTO_EV_JOB_CLAIMED, 1, 5);
    l.topics[3][0] = 1; /* dirty address padding */
    assert_int_equal(escrowlog_decode(el, &l, &e), ERR_INVAL);
    free(l.data);

    mk_log(&l, PROTO_EV_JOB_CLAIMED, 1, 5);
    l.n_topics = 3; /* worker topic missing */
    assert_int_equal(escrowlog_decode(el, &l, &e), ERR_INVAL);
    l.n_topics = 4;
    l.data_len = 16; /* truncated data */
    assert_int_equal(escrowlog_decode(el, &l, &e), ERR_INVAL);
    free(l.data);

    mk_log(&l, PROTO_EV_JOB_CREATED, 1, 5);
    w_u64(l.data + 5 * 32, (uint64_t)PROTO_RUNTIME_MAX_S + 1); /* maxRuntime over 365 days */
    assert_int_equal(escrowlog_decode(el, &l, &e), ERR_RANGE);
    free(l.data);

    mk_log(&l, PROTO_EV_JOB_CREATED, 1, (uint64_t)PROTO_PRICE_CENTS_MAX + 1);
    assert_int_equal(escrowlog_decode(el, &l, &e), ERR_RANGE);
    l.data[32 + 31] = 0;
    l.data[32 + 30] = 0;
    memset(l.data + 32, 0, 32); /* price 0 */
    assert_int_equal(escrowlog_decode(el, &l, &e), ERR_RANGE);
    free(l.data);

    mk_log(&l, PROTO_EV_JOB_DISPUTED, 1, 0);
    l.block_number = (uint64_t)PROTO_MAX_ID + 1;
    assert_int_equal(escrowlog_decode(el, &l, &e), ERR_RANGE);
    free(l.data);
    escrowlog_free(el);
}

/* ---- the scripted chain ------------------------------------------------------ */

#define FC_MAX 512

struct fblock {
    uint8_t hash[32], parent[32];
    uint64_t ts;
    struct rpc_log *logs;
    size_t n_logs;
};

struct fchain {
    struct fblock b[FC_MAX];
    uint64_t height;
    uint64_t visible;           /* head as reported, when not 0 (blocks above are unknown) */
    uint64_t refuse_wider_than; /* logs(): ERR_TOOBIG above this width (0: never) */
    int fail_calls;             /* the next N calls fail with fail_rc */
    enum err fail_rc;
    int timeouts_on_logs;      /* the next N logs() calls time out */
    int bad_hash_once;         /* logs(): one log's block hash is wrong */
    uint64_t reorg_in_logs_at; /* logs(): after answering, reorg above this block */
    uint64_t max_width_seen;
    int n_logs_calls;
};

static void fc_hash(uint8_t h[32], uint64_t n, unsigned salt)
{
    memset(h, 0, 32);
    h[0] = 0xb1;
    for (int i = 0; i < 8; i++)
        h[1 + i] = (uint8_t)(n >> (56 - 8 * i));
    h[9] = (uint8_t)salt;
    h[10] = (uint8_t)(salt >> 8);
}

/* Replace blocks above <keep> with fresh empty ones up to <height>. */
static void fc_fork(struct fchain *c, uint64_t keep, uint64_t height, unsigned salt)
{
    assert_true(height < FC_MAX);
    for (uint64_t n = keep + 1; n <= c->height; n++) {
        for (size_t i = 0; i < c->b[n].n_logs; i++)
            free(c->b[n].logs[i].data);
        free(c->b[n].logs);
        c->b[n].logs = NULL;
        c->b[n].n_logs = 0;
    }
    for (uint64_t n = keep + 1; n <= height; n++) {
        fc_hash(c->b[n].hash, n, salt);
        memcpy(c->b[n].parent, c->b[n - 1].hash, 32);
        c->b[n].ts = 1764460800 + 2 * n;
    }
    c->height = height;
}

static struct fchain *fc_new(uint64_t height)
{
    struct fchain *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    fc_hash(c->b[0].hash, 0, 0);
    c->height = 0;
    fc_fork(c, 0, height, 0);
    return c;
}

static void fc_free(struct fchain *c)
{
    fc_fork(c, 0, 0, 0);
    free(c);
}

/* Add event <name> to block <n>; the log index is its position. */
static void fc_event(struct fchain *c, uint64_t n, enum proto_event_name name, uint8_t job,
                     uint64_t v)
{
    struct fblock *b = &c->b[n];
    b->logs = realloc(b->logs, (b->n_logs + 1) * sizeof(*b->logs));
    assert_non_null(b->logs);
    struct rpc_log *l = &b->logs[b->n_logs];
    mk_log(l, name, job, v);
    l->block_number = n;
    l->log_index = b->n_logs;
    memset(l->tx_hash, (int)(n & 0xff), 32);
    l->tx_hash[0] = job;
    b->n_logs++;
}

static int fc_fail(struct fchain *c, enum err *rc)
{
    if (c->fail_calls > 0) {
        c->fail_calls--;
        *rc = c->fail_rc;
        return 1;
    }
    return 0;
}

static enum err fc_head(void *ctx, uint64_t *number)
{
    struct fchain *c = ctx;
    enum err rc;
    if (fc_fail(c, &rc))
        return rc;
    *number = c->visible != 0 && c->visible < c->height ? c->visible : c->height;
    return ERR_OK;
}

static enum err fc_header(void *ctx, uint64_t number, struct chain_header *out)
{
    struct fchain *c = ctx;
    enum err rc;
    if (fc_fail(c, &rc))
        return rc;
    if (number > c->height || (c->visible != 0 && number > c->visible))
        return ERR_NOTFOUND;
    out->number = number;
    memcpy(out->hash, c->b[number].hash, 32);
    memcpy(out->parent_hash, c->b[number].parent, 32);
    out->timestamp = c->b[number].ts;
    return ERR_OK;
}

static enum err fc_logs(void *ctx, uint64_t from, uint64_t to, struct rpc_logs *out)
{
    struct fchain *c = ctx;
    enum err rc;
    c->n_logs_calls++;
    if (fc_fail(c, &rc))
        return rc;
    if (c->timeouts_on_logs > 0) {
        c->timeouts_on_logs--;
        return ERR_TIMEDOUT;
    }
    uint64_t width = to - from + 1;
    if (c->refuse_wider_than != 0 && width > c->refuse_wider_than)
        return ERR_TOOBIG;
    if (width > c->max_width_seen)
        c->max_width_seen = width;
    size_t n = 0;
    for (uint64_t b = from; b <= to && b <= c->height; b++)
        n += c->b[b].n_logs;
    out->items = calloc(n + 1, sizeof(*out->items));
    assert_non_null(out->items);
    out->count = 0;
    for (uint64_t b = from; b <= to && b <= c->height; b++) {
        for (size_t i = 0; i < c->b[b].n_logs; i++) {
            struct rpc_log *l = &out->items[out->count++];
            *l = c->b[b].logs[i];
            memcpy(l->block_hash, c->b[b].hash, 32);
            l->data = malloc(l->data_len + 1);
            assert_non_null(l->data);
            memcpy(l->data, c->b[b].logs[i].data, l->data_len);
        }
    }
    if (c->bad_hash_once && out->count > 0) {
        c->bad_hash_once = 0;
        out->items[out->count - 1].block_hash[20] ^= 0xff;
    }
    if (c->reorg_in_logs_at != 0) {
        uint64_t keep = c->reorg_in_logs_at;
        c->reorg_in_logs_at = 0;
        fc_fork(c, keep, c->height, 99);
    }
    return ERR_OK;
}

static const char *fc_errmsg(void *ctx)
{
    (void)ctx;
    return "scripted";
}

static const struct chain_ops fc_ops = {fc_head, fc_header, fc_logs, fc_errmsg};

/* ---- fixtures ---------------------------------------------------------------- */

struct fx {
    struct fchain *c;
    struct escrowlog *el;
    struct memsink *ms;
    struct sink sink;
    struct follower *f;
    struct follower_opts o;
    char dir[64];
    char path[96];
};

static void fx_follower(struct fx *x)
{
    follower_free(x->f);
    x->f = NULL;
    struct chain ch = {&fc_ops, x->c};
    assert_int_equal(follower_new(&x->o, ch, x->sink, x->el, &x->f), ERR_OK);
}

static int fx_setup(void **state)
{
    struct fx *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    snprintf(x->dir, sizeof(x->dir), "/tmp/loom-test-indexer.XXXXXX");
    assert_non_null(mkdtemp(x->dir));
    snprintf(x->path, sizeof(x->path), "%s/journal", x->dir);
    x->c = fc_new(60);
    x->el = el_new();
    assert_int_equal(memsink_open(x->path, false, &x->ms, &x->sink), ERR_OK);
    x->o = (struct follower_opts){
        .start_block = 5,
        .initial_range_blocks = 8,
        .max_range_blocks = 64,
        .max_batch_events = 6,
        .poll_interval_ms = 1,
        .backoff_base_ms = 1,
        .backoff_max_ms = 2,
        .metrics_log_ms = -1,
    };
    *state = x;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *x = *state;
    follower_free(x->f);
    memsink_free(x->ms);
    escrowlog_free(x->el);
    fc_free(x->c);
    unlink(x->path);
    rmdir(x->dir);
    free(x);
    return 0;
}

/* Events on blocks 5..60: a JobCreated on every 3rd block, a JobClaimed
 * after it on every 6th, three events on block 40. */
static size_t fx_events(struct fx *x)
{
    size_t n = 0;
    for (uint64_t b = 5; b <= 60; b++) {
        if (b % 3 == 0) {
            fc_event(x->c, b, PROTO_EV_JOB_CREATED, (uint8_t)b, 100 + b);
            n++;
        }
        if (b % 6 == 0) {
            fc_event(x->c, b, PROTO_EV_JOB_CLAIMED, (uint8_t)b, 7000 + b);
            n++;
        }
    }
    for (int i = 0; i < 3; i++)
        fc_event(x->c, 40, PROTO_EV_JOB_DISPUTED, (uint8_t)(200 + i), 0);
    return n + 3;
}

/* The sink must hold exactly the canonical chain's events from start_block on. */
static void assert_sink_is_chain(struct fx *x)
{
    size_t n_sink;
    const struct proto_event *se = memsink_events(x->ms, &n_sink);
    size_t k = 0;
    for (uint64_t b = x->o.start_block; b <= x->c->height; b++) {
        for (size_t i = 0; i < x->c->b[b].n_logs; i++, k++) {
            assert_true(k < n_sink);
            struct rpc_log l = x->c->b[b].logs[i];
            memcpy(l.block_hash, x->c->b[b].hash, 32);
            struct proto_event want;
            assert_int_equal(escrowlog_decode(x->el, &l, &want), ERR_OK);
            assert_int_equal(se[k].block_number, want.block_number);
            assert_int_equal(se[k].log_index, want.log_index);
            assert_memory_equal(se[k].block_hash, want.block_hash, 32);
            assert_memory_equal(se[k].tx_hash, want.tx_hash, 32);
            assert_int_equal(se[k].name, want.name);
            assert_memory_equal(se[k].fields.chain_job_id, want.fields.chain_job_id, 32);
            assert_int_equal(se[k].fields.price_usd_cents, want.fields.price_usd_cents);
            assert_int_equal(se[k].fields.claim_expires_at, want.fields.claim_expires_at);
        }
    }
    assert_int_equal(k, n_sink);
}

static void run_to_head(struct fx *x)
{
    assert_int_equal(follower_run(x->f, NULL, x->c->height - x->o.confirmations), ERR_OK);
}

/* ---- follower tests -------------------------------------------------------------- */

static void test_backfill_and_batches(void **state)
{
    struct fx *x = *state;
    size_t n = fx_events(x);
    fx_follower(x);
    run_to_head(x);
    assert_sink_is_chain(x);
    size_t got;
    memsink_events(x->ms, &got);
    assert_int_equal(got, n);
    assert_int_equal(memsink_applied_total(x->ms), n);
    struct follower_metrics m;
    follower_get_metrics(x->f, &m);
    assert_int_equal(m.indexed_block, 60);
    assert_int_equal(m.head_block, 60);
    assert_int_equal(m.lag_blocks, 0);
    assert_int_equal(m.events_applied, n);
    assert_int_equal(m.reorgs, 0);
    assert_true(m.batches >= (n + 5) / 6); /* at most 6 events per batch */
    /* Caught up: one more step is idle. */
    bool idle = false;
    assert_int_equal(follower_step(x->f, &idle), ERR_OK);
    assert_true(idle);
    /* New blocks are picked up. */
    fc_fork(x->c, 60, 62, 0);
    fc_event(x->c, 62, PROTO_EV_JOB_REOPENED, 9, 0);
    run_to_head(x);
    assert_sink_is_chain(x);
}

static void test_block_over_batch_cap(void **state)
{
    struct fx *x = *state;
    for (int i = 0; i < 7; i++) /* 7 events in one block, cap 6 */
        fc_event(x->c, 10, PROTO_EV_JOB_REOPENED, (uint8_t)i, 0);
    fx_follower(x);
    enum err rc = ERR_OK;
    bool idle;
    for (int i = 0; i < 10 && rc == ERR_OK; i++)
        rc = follower_step(x->f, &idle);
    assert_int_equal(rc, ERR_TOOBIG);
    assert_int_equal(follower_flush(x->f), ERR_OK); /* pipelined: lands the batch before */
    struct follower_metrics m;
    follower_get_metrics(x->f, &m);
    assert_int_equal(m.indexed_block, 9); /* everything before the block is in */
}

/* Spans follow the density: quiet ranges double the span, a dense range
 * sets it to target_range_logs (3 = max_batch_events / 2) over the events
 * per block just seen, and a range cut short by the head never widens it. */
static void test_span_follows_density(void **state)
{
    struct fx *x = *state;
    for (uint64_t b = 25; b <= 40; b++)
        for (int i = 0; i < 3; i++)
            fc_event(x->c, b, PROTO_EV_JOB_CREATED, (uint8_t)b, 100 + (uint64_t)i);
    x->o.initial_range_blocks = 2;
    fx_follower(x);
    /* 5-6, 7-10, 11-18 quiet; 19-34 holds 30 events in 16 blocks: 16*3/30 = 1;
     * 35..40 one block each; 41-41, 42-43, 44-47, 48-55 quiet; 56-60 is cut
     * by the head (width 5 < 16): the span stays 16. */
    static const uint64_t want_span[] = {4, 8, 16, 1, 1, 1, 1, 1, 1, 1, 2, 4, 8, 16, 16};
    static const uint64_t want_to[] = {6, 10, 18, 34, 35, 36, 37, 38, 39, 40, 41, 43, 47, 55, 60};
    for (size_t k = 0; k < sizeof(want_span) / sizeof(want_span[0]); k++) {
        bool idle;
        assert_int_equal(follower_step(x->f, &idle), ERR_OK);
        assert_false(idle);
        struct follower_metrics m;
        follower_get_metrics(x->f, &m);
        assert_int_equal(m.indexed_block, want_to[k]);
        assert_int_equal(m.span_blocks, want_span[k]);
        assert_int_equal(m.range_shrinks, 0);
    }
    assert_sink_is_chain(x);
    assert_int_equal(x->c->max_width_seen, 16);

    /* The target may not exceed a batch. */
    struct follower_opts o = x->o;
    o.target_range_logs = 7;
    struct follower *f = NULL;
    struct chain ch = {&fc_ops, x->c};
    assert_int_equal(follower_new(&o, ch, x->sink, x->el, &f), ERR_INVAL);
    o.target_range_logs = 6;
    assert_int_equal(follower_new(&o, ch, x->sink, x->el, &f), ERR_OK);
    follower_free(f);
}

static void test_range_refused_shrinks_then_grows(void **state)
{
    struct fx *x = *state;
    fx_events(x);
    x->c->refuse_wider_than = 3;
    x->o.initial_range_blocks = 32;
    fx_follower(x);
    assert_int_equal(follower_run(x->f, NULL, 30), ERR_OK);
    struct follower_metrics m;
    follower_get_metrics(x->f, &m);
    assert_true(m.range_shrinks >= 3); /* 32 -> 16 -> 8 -> 4 -> 2 at least */
    assert_true(x->c->max_width_seen <= 3);
    x->c->refuse_wider_than = 0;
    run_to_head(x);
    assert_sink_is_chain(x);
    assert_true(x->c->max_width_seen <= 3); /* the refused width is not probed at once */
    fc_fork(x->c, 60, 400, 0);
    run_to_head(x);
    assert_sink_is_chain(x);
    assert_true(x->c->max_width_seen > 3); /* 64 ranges later, quiet ranges widen it again */
}

static void test_errors_retried(void **state)
{
    struct fx *x = *state;
    size_t n = fx_events(x);
    x->c->fail_calls = 5;
    x->c->fail_rc = ERR_UNAVAILABLE;
    x->c->timeouts_on_logs = 2;
    fx_follower(x);
    run_to_head(x);
    assert_sink_is_chain(x);
    assert_int_equal(memsink_applied_total(x->ms), n);
    struct follower_metrics m;
    follower_get_metrics(x->f, &m);
    assert_int_equal(m.rpc_errors, 5);
    assert_int_equal(m.range_shrinks, 2);
}

static void test_bad_logs_refused(void **state)
{
    struct fx *x = *state;
    fx_events(x);
    x->c->bad_hash_once = 1;
    fx_follower(x);
    bool idle;
    enum err rc = ERR_OK;
    for (int i = 0; i < 5 && rc == ERR_OK; i++)
        rc = follower_step(x->f, &idle);
    assert_int_equal(rc, ERR_PROTO);
    run_to_head(x); /* the next answer is right */
    assert_sink_is_chain(x);
}

static void reorg_case(struct fx *x, uint64_t depth, uint64_t new_height)
{
    fx_events(x);
    fx_follower(x);
    /* Backfill to 52, then follow the head block by block, as in service. */
    for (x->c->visible = 52; x->c->visible <= 60; x->c->visible++)
        assert_int_equal(follower_run(x->f, NULL, x->c->visible), ERR_OK);
    x->c->visible = 0;
    uint64_t keep = 60 - depth;
    fc_fork(x->c, keep, new_height, 7);
    for (uint64_t b = keep + 1; b <= new_height; b++)
        fc_event(x->c, b, PROTO_EV_JOB_SUBMITTED, (uint8_t)(100 + b), 5000 + b);
    run_to_head(x);
    bool idle;
    assert_int_equal(follower_step(x->f, &idle), ERR_OK);
    assert_true(idle);
    assert_sink_is_chain(x);
    struct follower_metrics m;
    follower_get_metrics(x->f, &m);
    assert_int_equal(m.reorgs, 1);
    assert_int_equal(m.last_reorg_depth, depth);
    assert_int_equal(m.indexed_block, new_height);
}

static void test_reorg_depth_1(void **state)
{
    reorg_case(*state, 1, 62);
}

static void test_reorg_depth_3(void **state)
{
    reorg_case(*state, 3, 63);
}

static void test_reorg_same_height(void **state)
{
    /* The new chain is no longer than ours: seen by the idle check. */
    reorg_case(*state, 3, 60);
}

static void test_reorg_shorter_chain(void **state)
{
    reorg_case(*state, 3, 58);
}

static void test_reorg_during_read(void **state)
{
    struct fx *x = *state;
    fx_events(x);
    x->c->reorg_in_logs_at = 20;
    x->o.initial_range_blocks = 64;
    fx_follower(x);
    run_to_head(x);
    assert_sink_is_chain(x);
}

static void test_reorg_after_restart(void **state)
{
    struct fx *x = *state;
    fx_events(x);
    fx_follower(x);
    run_to_head(x);
    /* Restart: the new follower knows only the checkpoint's hash. */
    x->o.max_reorg_depth = 4;
    fx_follower(x);
    fc_fork(x->c, 57, 61, 8);
    fc_event(x->c, 59, PROTO_EV_JOB_CLAIMED, 77, 77);
    run_to_head(x);
    assert_sink_is_chain(x);
    struct follower_metrics m;
    follower_get_metrics(x->f, &m);
    assert_int_equal(m.reorgs, 1);
    assert_int_equal(m.last_reorg_depth, 4); /* max_reorg_depth: 60 -> 56 */
}

static void test_restart_resumes(void **state)
{
    struct fx *x = *state;
    size_t n = fx_events(x);
    fx_follower(x);
    assert_int_equal(follower_run(x->f, NULL, 25), ERR_OK);
    /* A crash: reopen the journal, a fresh follower. */
    follower_free(x->f);
    x->f = NULL;
    memsink_free(x->ms);
    assert_int_equal(memsink_open(x->path, false, &x->ms, &x->sink), ERR_OK);
    fx_follower(x);
    run_to_head(x);
    assert_sink_is_chain(x);
    assert_int_equal(memsink_applied_total(x->ms), n);
}

static void test_lost_reply(void **state)
{
    struct fx *x = *state;
    size_t n = fx_events(x);
    fx_follower(x);
    assert_int_equal(follower_run(x->f, NULL, 20), ERR_OK);
    memsink_fail_next(x->ms, ERR_TIMEDOUT, true); /* committed, reply lost */
    bool idle;
    assert_int_equal(follower_step(x->f, &idle), ERR_TIMEDOUT);
    memsink_fail_next(x->ms, ERR_UNAVAILABLE, false); /* not committed */
    assert_int_equal(follower_step(x->f, &idle), ERR_UNAVAILABLE);
    run_to_head(x);
    assert_sink_is_chain(x);
    assert_int_equal(memsink_applied_total(x->ms), n); /* nothing applied twice */
    struct follower_metrics m;
    follower_get_metrics(x->f, &m);
    assert_int_equal(m.sink_errors, 2);
}

static void test_confirmations(void **state)
{
    struct fx *x = *state;
    fx_events(x);
    x->o.confirmations = 4;
    fx_follower(x);
    run_to_head(x);
    bool idle;
    assert_int_equal(follower_step(x->f, &idle), ERR_OK);
    assert_true(idle);
    struct follower_metrics m;
    follower_get_metrics(x->f, &m);
    assert_int_equal(m.indexed_block, 56);
    assert_int_equal(m.lag_blocks, 4);
    assert_true(m.lag_seconds > 0);
}

static void test_follower_opts(void **state)
{
    struct fx *x = *state;
    struct chain ch = {&fc_ops, x->c};
    struct follower *f = NULL;
    struct follower_opts o = {.start_block = 0};
    assert_int_equal(follower_new(&o, ch, x->sink, x->el, &f), ERR_INVAL);
    o = (struct follower_opts){.start_block = 1, .max_range_blocks = PROTO_BLOCK_RANGE_MAX + 1};
    assert_int_equal(follower_new(&o, ch, x->sink, x->el, &f), ERR_INVAL);
    o = (struct follower_opts){.start_block = 1, .max_batch_events = PROTO_EVENTS_MAX + 1};
    assert_int_equal(follower_new(&o, ch, x->sink, x->el, &f), ERR_INVAL);
    o = (struct follower_opts){
        .start_block = 1, .initial_range_blocks = 20, .max_range_blocks = 10};
    assert_int_equal(follower_new(&o, ch, x->sink, x->el, &f), ERR_INVAL);
    assert_null(f);
    follower_free(NULL);
}

static void test_stop_flag(void **state)
{
    struct fx *x = *state;
    fx_follower(x);
    volatile sig_atomic_t stop = 1;
    assert_int_equal(follower_run(x->f, &stop, 0), ERR_CANCELED);
}

/* ---- memsink rules and journal ------------------------------------------------------ */

static struct proto_events_apply one_batch(struct proto_event *e, struct proto_block_ref *blk,
                                           int64_t from, int64_t to, uint8_t salt,
                                           int64_t log_index)
{
    memset(e, 0, sizeof(*e));
    e->block_number = to;
    memset(e->block_hash, salt, 32);
    e->log_index = log_index;
    e->name = PROTO_EV_JOB_DISPUTED;
    e->fields.has_client = true;
    e->fields.has_worker = true;
    memset(e->fields.chain_job_id, 3, 32);
    blk->number = to;
    memset(blk->hash, salt, 32);
    return (struct proto_events_apply){.from_block = from,
                                       .to_block = to,
                                       .blocks = blk,
                                       .n_blocks = 1,
                                       .events = e,
                                       .n_events = 1,
                                       .checkpoint = *blk};
}

static void test_memsink_rules(void **state)
{
    (void)state;
    struct memsink *m;
    struct sink s;
    assert_int_equal(memsink_open(NULL, false, &m, &s), ERR_OK);
    struct proto_event e;
    struct proto_block_ref blk;
    struct proto_applied ap;
    struct proto_rollback rbo;
    struct proto_checkpoint cp;
    assert_int_equal(s.ops->checkpoint(s.ctx, &cp), ERR_OK);
    assert_false(cp.has_checkpoint);
    struct proto_reorg_rollback rb = {.to_block = 1};
    assert_int_equal(s.ops->rollback(s.ctx, &rb, &rbo), ERR_NOTFOUND);

    struct proto_events_apply b = one_batch(&e, &blk, 1, 10, 0xa0, 0);
    assert_int_equal(s.ops->apply(s.ctx, &b, &ap), ERR_OK);
    assert_int_equal(ap.events_applied, 1);
    assert_int_equal(ap.checkpoint.number, 10);
    /* The same batch again: a replay, nothing new. */
    assert_int_equal(s.ops->apply(s.ctx, &b, &ap), ERR_OK);
    assert_int_equal(ap.events_applied, 0);
    /* A gap after the checkpoint. */
    b = one_batch(&e, &blk, 12, 15, 0xa1, 0);
    assert_int_equal(s.ops->apply(s.ctx, &b, &ap), ERR_STATE);
    /* Block 10 under another hash without a rollback. */
    b = one_batch(&e, &blk, 10, 10, 0xa2, 0);
    assert_int_equal(s.ops->apply(s.ctx, &b, &ap), ERR_STATE);
    assert_string_equal(s.ops->errmsg(s.ctx),
                        "batch block differs from a held block: roll back first");
    /* Malformed: checkpoint not to_block. */
    b = one_batch(&e, &blk, 11, 12, 0xa3, 0);
    b.checkpoint.number = 11;
    assert_int_equal(s.ops->apply(s.ctx, &b, &ap), ERR_INVAL);
    b = one_batch(&e, &blk, 11, 12, 0xa3, 0);
    assert_int_equal(s.ops->apply(s.ctx, &b, &ap), ERR_OK);
    /* Rollbacks: above the checkpoint, wrong hash, right hash. */
    rb.to_block = 13;
    assert_int_equal(s.ops->rollback(s.ctx, &rb, &rbo), ERR_STATE);
    rb.to_block = 10;
    memset(rb.block_hash, 0xff, 32);
    assert_int_equal(s.ops->rollback(s.ctx, &rb, &rbo), ERR_STATE);
    memset(rb.block_hash, 0xa0, 32);
    assert_int_equal(s.ops->rollback(s.ctx, &rb, &rbo), ERR_OK);
    assert_int_equal(rbo.events_removed, 1);
    assert_int_equal(rbo.checkpoint.number, 10);
    size_t n;
    memsink_events(m, &n);
    assert_int_equal(n, 1);
    assert_int_equal(memsink_commands(m), 4); /* the replay counts */
    memsink_fail_next(m, ERR_IO, false);
    assert_int_equal(s.ops->apply(s.ctx, &b, &ap), ERR_IO);
    assert_int_equal(s.ops->rollback(s.ctx, &rb, &rbo), ERR_OK); /* one failure only */
    memsink_free(m);
    memsink_free(NULL);
}

static void test_journal_replay_and_torn_tail(void **state)
{
    struct fx *x = *state;
    struct proto_event e;
    struct proto_block_ref blk;
    struct proto_applied ap;
    struct proto_rollback rbo;
    struct proto_events_apply b = one_batch(&e, &blk, 1, 10, 0xa0, 0);
    assert_int_equal(x->sink.ops->apply(x->sink.ctx, &b, &ap), ERR_OK);
    b = one_batch(&e, &blk, 11, 12, 0xa1, 4);
    assert_int_equal(x->sink.ops->apply(x->sink.ctx, &b, &ap), ERR_OK);
    struct proto_reorg_rollback rb = {.to_block = 11};
    memset(rb.block_hash, 0xa5, 32);
    assert_int_equal(x->sink.ops->rollback(x->sink.ctx, &rb, &rbo), ERR_OK);
    memsink_free(x->ms);

    /* Append half a line, as a crash in write(2) would leave it. */
    int fd = open(x->path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "{\"v\":1,\"cmd\":\"events.ap", 23), 23);
    off_t torn_size = lseek(fd, 0, SEEK_END);
    close(fd);
    assert_int_equal(memsink_open(x->path, true, &x->ms, &x->sink), ERR_OK);
    struct proto_checkpoint cp;
    assert_int_equal(x->sink.ops->checkpoint(x->sink.ctx, &cp), ERR_OK);
    assert_true(cp.has_checkpoint);
    assert_int_equal(cp.checkpoint.number, 11);
    assert_int_equal(cp.checkpoint.hash[0], 0xa5);
    size_t n;
    const struct proto_event *ev = memsink_events(x->ms, &n);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].block_number, 10);
    assert_int_equal(memsink_applied_total(x->ms), 2);
    fd = open(x->path, O_RDONLY);
    off_t cut = lseek(fd, 0, SEEK_END);
    close(fd);
    assert_int_equal(cut, torn_size - 23); /* the torn line is gone */
    memsink_free(x->ms);

    /* A bad line that is not the last: not a journal this module wrote. */
    fd = open(x->path, O_WRONLY | O_APPEND);
    assert_int_equal(write(fd, "garbage\n{\"v\":1}\n", 16), 16);
    close(fd);
    x->ms = NULL;
    assert_int_equal(memsink_open(x->path, false, &x->ms, &x->sink), ERR_PROTO);
    assert_null(x->ms);
    assert_int_equal(memsink_open("/nonexistent-dir/j", false, &x->ms, &x->sink), ERR_IO);
    assert_int_equal(memsink_open(NULL, false, &x->ms, &x->sink), ERR_OK);
}

/* ---- pipelined applies (pipeline_applies) ------------------------------------ */

/*
 * A gate between the follower and the memory sink that makes the overlap
 * deterministic: an apply, on the follower's apply thread, waits until the
 * follower has asked for the logs of a range after the batch's last block,
 * that is, until the next range is read while the batch is in flight (the
 * follower reads on only after sending it). Where the follower joins the
 * batch without reading on (it is caught up: the batch ends at the chain's
 * height; or the gate has just forked the chain, so it will roll back),
 * the apply goes at once. n_logs_in_flight counts the applies a later
 * range's read let go; fork_keep makes the next chain call fork the chain
 * first, as a reorg arriving mid-apply; fail_rc makes the next apply fail
 * (memsink_fail_next(), from the apply thread). Everything shared is under
 * <mu>. The wait ends after 5 s in any case, so a mistake fails a test
 * rather than hangs it.
 */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct fchain *c;
    struct memsink *ms;
    struct sink inner;
    uint64_t logs_from_max; /* the highest range start asked for */
    bool forked;            /* the gate forked the chain since the last apply ended */
    int n_applies, n_logs_in_flight;
    uint64_t fork_keep; /* non-zero: fork above this block at the next chain call */
    uint64_t fork_height;
    enum err fail_rc; /* non-zero: the next apply fails so */
    bool fail_after_commit;
};

static void gate_poke(struct gate *g, bool logs, uint64_t from)
{
    pthread_mutex_lock(&g->mu);
    if (g->fork_keep != 0) {
        fc_fork(g->c, g->fork_keep, g->fork_height, 31);
        for (uint64_t b = g->fork_keep + 1; b <= g->fork_height; b++)
            fc_event(g->c, b, PROTO_EV_JOB_SUBMITTED, (uint8_t)(150 + b), 9000 + b);
        g->fork_keep = 0;
        g->forked = true;
    }
    if (logs && from > g->logs_from_max)
        g->logs_from_max = from;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Read a counter of <g> under its lock. */
static int gate_get(struct gate *g, const int *counter)
{
    pthread_mutex_lock(&g->mu);
    int v = *counter;
    pthread_mutex_unlock(&g->mu);
    return v;
}

/* Make the next apply fail with <rc> (after committing with <after_commit>). */
static void gate_fail_next(struct gate *g, enum err rc, bool after_commit)
{
    pthread_mutex_lock(&g->mu);
    g->fail_rc = rc;
    g->fail_after_commit = after_commit;
    pthread_mutex_unlock(&g->mu);
}

static enum err gate_head(void *ctx, uint64_t *number)
{
    struct gate *g = ctx;
    gate_poke(g, false, 0);
    return fc_head(g->c, number);
}

static enum err gate_header(void *ctx, uint64_t number, struct chain_header *out)
{
    struct gate *g = ctx;
    gate_poke(g, false, 0);
    return fc_header(g->c, number, out);
}

static enum err gate_logs(void *ctx, uint64_t from, uint64_t to, struct rpc_logs *out)
{
    struct gate *g = ctx;
    enum err rc = fc_logs(g->c, from, to, out);
    gate_poke(g, true, from);
    return rc;
}

static const struct chain_ops gate_chain_ops = {gate_head, gate_header, gate_logs, fc_errmsg};

static enum err gate_apply(void *ctx, const struct proto_events_apply *b, struct proto_applied *out)
{
    struct gate *g = ctx;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&g->mu);
    g->n_applies++;
    while (g->logs_from_max <= (uint64_t)b->to_block && !g->forked &&
           (uint64_t)b->to_block < g->c->height)
        if (pthread_cond_timedwait(&g->cv, &g->mu, &until) != 0)
            break;
    if (g->logs_from_max > (uint64_t)b->to_block)
        g->n_logs_in_flight++;
    if (g->fail_rc != ERR_OK) {
        memsink_fail_next(g->ms, g->fail_rc, g->fail_after_commit);
        g->fail_rc = ERR_OK;
    }
    pthread_mutex_unlock(&g->mu);
    enum err rc = g->inner.ops->apply(g->inner.ctx, b, out);
    pthread_mutex_lock(&g->mu);
    g->forked = false;
    pthread_mutex_unlock(&g->mu);
    return rc;
}

static enum err gate_rollback(void *ctx, const struct proto_reorg_rollback *rb,
                              struct proto_rollback *out)
{
    struct gate *g = ctx;
    return g->inner.ops->rollback(g->inner.ctx, rb, out);
}

static enum err gate_checkpoint(void *ctx, struct proto_checkpoint *out)
{
    struct gate *g = ctx;
    return g->inner.ops->checkpoint(g->inner.ctx, out);
}

static const char *gate_errmsg(void *ctx)
{
    struct gate *g = ctx;
    return g->inner.ops->errmsg(g->inner.ctx);
}

static const struct sink_ops gate_sink_ops = {gate_apply, gate_rollback, gate_checkpoint,
                                              gate_errmsg};

/* A follower with pipeline_applies through a gate on x's chain and sink;
 * batches of up to 100 events, so each range is one batch. */
static struct gate *gate_follower(struct fx *x)
{
    struct gate *g = calloc(1, sizeof(*g));
    assert_non_null(g);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->c = x->c;
    g->ms = x->ms;
    g->inner = x->sink;
    x->o.pipeline_applies = true;
    x->o.max_batch_events = 100;
    follower_free(x->f);
    x->f = NULL;
    struct chain ch = {&gate_chain_ops, g};
    struct sink sk = {&gate_sink_ops, g};
    assert_int_equal(follower_new(&x->o, ch, sk, x->el, &x->f), ERR_OK);
    return g;
}

/* Let the waiting apply go as a logs read would, for a test that joins it
 * itself (follower_flush(), a stop) without the follower reading on. */
static void gate_release(struct gate *g)
{
    struct rpc_logs l = {0};
    assert_int_equal(gate_logs(g, 13, 13, &l), ERR_OK);
    rpc_logs_release(&l);
}

static void gate_free(struct fx *x, struct gate *g)
{
    follower_free(x->f); /* joins any batch in flight before the gate goes */
    x->f = NULL;
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

/* Backfill with a batch in flight during every range read after the first:
 * a step returns with its batch in flight (not yet counted nor
 * checkpointed), the next step lands it; the sink ends equal to the chain,
 * each event applied once. */
static void test_pipeline_backfill(void **state)
{
    struct fx *x = *state;
    size_t n = fx_events(x);
    struct gate *g = gate_follower(x);
    bool idle = false;
    /* First step: range 5..12 read and sent; it waits in the gate. */
    assert_int_equal(follower_step(x->f, &idle), ERR_OK);
    assert_false(idle);
    struct follower_metrics m;
    follower_get_metrics(x->f, &m);
    assert_int_equal(m.batches, 0); /* in flight, not yet acknowledged */
    assert_int_equal(m.indexed_block, 0);
    /* Second step: the next range is read while the first is applied. */
    assert_int_equal(follower_step(x->f, &idle), ERR_OK);
    follower_get_metrics(x->f, &m);
    assert_int_equal(m.batches, 1);
    assert_int_equal(m.indexed_block, 12);
    run_to_head(x);
    assert_int_equal(follower_flush(x->f), ERR_OK); /* nothing in flight: a no-op */
    assert_sink_is_chain(x);
    assert_int_equal(memsink_applied_total(x->ms), n);
    follower_get_metrics(x->f, &m);
    assert_int_equal(m.events_applied, n);
    assert_int_equal(m.indexed_block, 60);
    assert_int_equal(m.sink_errors, 0);
    int n_applies = gate_get(g, &g->n_applies);
    assert_int_equal((int)m.batches, n_applies);
    /* Every range after the first was read while a batch was in flight:
     * each apply but the last was let go by the next range's logs. */
    assert_int_equal(gate_get(g, &g->n_logs_in_flight), n_applies - 1);
    assert_true(n_applies >= 3);
    assert_int_equal(follower_step(x->f, &idle), ERR_OK);
    assert_true(idle);
    gate_free(x, g);
}

/* The batch in flight fails: the range read meanwhile is dropped, the
 * checkpoint is read again, and everything lands once, whether the failed
 * batch was not committed or committed with its reply lost. */
static void pipeline_error_case(struct fx *x, bool after_commit)
{
    size_t n = fx_events(x);
    struct gate *g = gate_follower(x);
    bool idle;
    assert_int_equal(follower_step(x->f, &idle), ERR_OK); /* 5..12 in flight */
    assert_int_equal(follower_step(x->f, &idle), ERR_OK); /* lands; 13.. in flight */
    /* The batch in flight (13..) fails once let go. */
    gate_fail_next(g, after_commit ? ERR_TIMEDOUT : ERR_UNAVAILABLE, after_commit);
    /* The next range is read, then the join finds the failure. */
    int logs_before = gate_get(g, &g->n_logs_in_flight);
    assert_int_equal(follower_step(x->f, &idle), after_commit ? ERR_TIMEDOUT : ERR_UNAVAILABLE);
    assert_int_equal(gate_get(g, &g->n_logs_in_flight), logs_before + 1);
    struct follower_metrics m;
    follower_get_metrics(x->f, &m);
    assert_int_equal(m.sink_errors, 1);
    assert_int_equal(m.indexed_block, 12);          /* the failed batch did not move it */
    assert_int_equal(follower_flush(x->f), ERR_OK); /* nothing left in flight */
    run_to_head(x);
    assert_sink_is_chain(x);
    assert_int_equal(memsink_applied_total(x->ms), n); /* nothing applied twice */
    follower_get_metrics(x->f, &m);
    assert_int_equal(m.sink_errors, 1);
    assert_int_equal(m.indexed_block, 60);
    gate_free(x, g);
}

static void test_pipeline_error_in_flight(void **state)
{
    pipeline_error_case(*state, false);
}

static void test_pipeline_lost_reply_in_flight(void **state)
{
    pipeline_error_case(*state, true);
}

/* A reorg arrives while a batch is in flight: the step that sees it (the
 * next range's first block no longer follows the batch's last) waits for
 * the batch, then rolls back to the fork point below it; the sink ends
 * equal to the new chain. */
static void test_pipeline_reorg_in_flight(void **state)
{
    struct fx *x = *state;
    fx_events(x);
    struct gate *g = gate_follower(x);
    bool idle;
    assert_int_equal(follower_step(x->f, &idle), ERR_OK); /* 5..12 in flight */
    /* At the next chain call (the next step's eth_blockNumber), blocks
     * above 9 are replaced: block 13's parent is no longer the 12 in flight. */
    g->fork_keep = 9;
    g->fork_height = 64;
    assert_int_equal(follower_step(x->f, &idle), ERR_OK); /* joins, rolls back */
    struct follower_metrics m;
    follower_get_metrics(x->f, &m);
    assert_int_equal(m.batches, 1); /* the batch in flight landed first */
    assert_int_equal(m.reorgs, 1);
    assert_int_equal(m.last_reorg_depth, 3); /* 12 -> 9: kept hashes found 9 */
    assert_int_equal(m.indexed_block, 9);
    assert_int_equal(m.sink_errors, 0);
    assert_int_equal(x->c->height, 64);
    run_to_head(x);
    assert_sink_is_chain(x);
    follower_get_metrics(x->f, &m);
    assert_int_equal(m.reorgs, 1);
    assert_int_equal(m.indexed_block, 64);
    gate_free(x, g);
}

/* A pipelined follower stopped by its flag lands the batch in flight
 * before follower_run() returns. */
static void test_pipeline_stop_flushes(void **state)
{
    struct fx *x = *state;
    fx_events(x);
    struct gate *g = gate_follower(x);
    bool idle;
    assert_int_equal(follower_step(x->f, &idle), ERR_OK); /* 5..12 in flight */
    volatile sig_atomic_t stop = 1;
    gate_release(g); /* the stop path joins without reading on */
    assert_int_equal(follower_run(x->f, &stop, 0), ERR_CANCELED);
    struct follower_metrics m;
    follower_get_metrics(x->f, &m);
    assert_int_equal(m.batches, 1);
    assert_int_equal(m.indexed_block, 12);
    size_t got;
    memsink_events(x->ms, &got);
    assert_int_equal(got, 5); /* JobCreated on 6, 9 and 12; JobClaimed on 6 and 12 */
    gate_free(x, g);
}

/* The existing scenarios with pipeline_applies on (memory sink, no gate). */
static int fx_setup_pipe(void **state)
{
    int rc = fx_setup(state);
    ((struct fx *)*state)->o.pipeline_applies = true;
    return rc;
}

int main(void)
{
    log_init("test", LOG_LEVEL_ERROR);
    int devnull = open("/dev/null", O_WRONLY);
    log_set_fd(devnull);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topics_match_cast),
        cmocka_unit_test(test_decode_every_event),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_memsink_rules),
        cmocka_unit_test_setup_teardown(test_journal_replay_and_torn_tail, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_backfill_and_batches, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_block_over_batch_cap, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_span_follows_density, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_range_refused_shrinks_then_grows, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_errors_retried, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_logs_refused, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reorg_depth_1, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reorg_depth_3, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reorg_same_height, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reorg_shorter_chain, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reorg_during_read, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reorg_after_restart, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_restart_resumes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_lost_reply, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_confirmations, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_follower_opts, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stop_flag, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_backfill, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_error_in_flight, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_lost_reply_in_flight, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_reorg_in_flight, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_stop_flushes, fx_setup, fx_teardown),
        /* Pipelined, through the same scenarios as above. */
        cmocka_unit_test_setup_teardown(test_backfill_and_batches, fx_setup_pipe, fx_teardown),
        cmocka_unit_test_setup_teardown(test_block_over_batch_cap, fx_setup_pipe, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reorg_depth_1, fx_setup_pipe, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reorg_depth_3, fx_setup_pipe, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reorg_same_height, fx_setup_pipe, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reorg_shorter_chain, fx_setup_pipe, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reorg_during_read, fx_setup_pipe, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reorg_after_restart, fx_setup_pipe, fx_teardown),
        cmocka_unit_test_setup_teardown(test_restart_resumes, fx_setup_pipe, fx_teardown),
        cmocka_unit_test_setup_teardown(test_confirmations, fx_setup_pipe, fx_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    close(devnull);
    return rc;
}
