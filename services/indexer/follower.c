/*
 * follower -- range fetching, reorg handling and batching.
 *
 * Why the range check is sound: a block hash commits to every ancestor, so
 * when block <to>'s hash is the same before and after eth_getLogs, the
 * logs came from the one chain that ends in that block (a node answers
 * eth_getLogs from its canonical chain), and when block <from>'s parent is
 * the checkpoint block, that chain extends what the sink holds.
 *
 * SPDX-License-Identifier: MIT
 */
#include "follower.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "escrowlog.h"
#include "hex.h"
#include "eth/rpc.h"
#include "log.h"
#include "mono.h"

/* Recent block hashes kept for finding a fork point. 4096 covers every
 * block of the last hour on a 1 s chain (Scroll makes a block every 3 s);
 * deeper reorgs fall back to max_reorg_depth. */
#define RING_MAX 4096

/* A refused or timed-out width is not tried again (the span stays below
 * it) until this many ranges have been read: a provider's limit is steady,
 * so probing it on every quiet range would cost a failure each time, while
 * a limit that was only a slow moment is retried after a while. */
#define CEILING_RESET_RANGES 64

struct kept {
    uint64_t number;
    uint8_t hash[32];
};

/* The batch the sink is applying on a thread of its own (pipeline_applies):
 * the events and blocks it borrows stay untouched until follower_flush()
 * has joined it. */
struct inflight {
    bool active;
    pthread_t thread;
    struct sink sink;
    struct proto_events_apply b;
    struct proto_applied out;
    enum err rc;
    bool has_first; /* <first> is kept among the recent hashes once applied */
    struct chain_header first;
};

struct follower {
    struct follower_opts o;
    struct chain chain;
    struct sink sink;
    const struct escrowlog *el;
    bool started; /* checkpoint read from the sink */
    bool has_cp;
    struct proto_block_ref cp;
    uint64_t span;
    uint64_t ceiling;   /* span limit learnt from the last refusal */
    unsigned ok_ranges; /* ranges read since the last refusal */
    struct kept *ring;  /* ascending by number, at most RING_MAX */
    size_t n_ring;
    struct rpc_logs logs;
    struct proto_event *ev;
    size_t cap_ev;
    struct proto_event *ev_spare; /* swapped with ev while a batch of ev is in flight */
    size_t cap_ev_spare;
    struct inflight fl;
    struct proto_block_ref *blocks;
    size_t cap_blocks;
    long backoff_ms;
    uint64_t rng;
    struct follower_metrics m;
    /* Wake-ups from another thread (follower_wake()): the idle wait sleeps
     * on <wake_cv> and ends early when <woken> is set. */
    pthread_mutex_t wake_mu;
    pthread_cond_t wake_cv; /* on CLOCK_MONOTONIC */
    bool woken;
    atomic_uint_fast64_t wakes;
    atomic_bool head_sub_live;
};

enum err follower_new(const struct follower_opts *opts, struct chain chain, struct sink sink,
                      const struct escrowlog *el, struct follower **out)
{
    struct follower_opts o = *opts;
    if (o.initial_range_blocks == 0)
        o.initial_range_blocks = 16;
    if (o.max_range_blocks == 0)
        o.max_range_blocks = 10000;
    if (o.max_batch_events == 0)
        o.max_batch_events = PROTO_EVENTS_MAX;
    if (o.target_range_logs == 0)
        o.target_range_logs = o.max_batch_events / 2 > 0 ? o.max_batch_events / 2 : 1;
    if (o.max_reorg_depth == 0)
        o.max_reorg_depth = 128;
    if (o.poll_interval_ms == 0)
        o.poll_interval_ms = 250;
    if (o.backoff_base_ms == 0)
        o.backoff_base_ms = 100;
    if (o.backoff_max_ms == 0)
        o.backoff_max_ms = 5000;
    if (o.metrics_log_ms == 0)
        o.metrics_log_ms = 10000;
    if (o.start_block == 0 || o.max_range_blocks > PROTO_BLOCK_RANGE_MAX ||
        o.initial_range_blocks > o.max_range_blocks || o.max_batch_events > PROTO_EVENTS_MAX ||
        o.target_range_logs > o.max_batch_events || o.poll_interval_ms < 0 ||
        o.backoff_base_ms < 0 || o.backoff_max_ms < o.backoff_base_ms ||
        o.start_block > (uint64_t)PROTO_MAX_ID)
        return ERR_INVAL;
    struct follower *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return ERR_NOMEM;
    f->ring = calloc(RING_MAX, sizeof(*f->ring));
    if (f->ring == NULL) {
        free(f);
        return ERR_NOMEM;
    }
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&f->wake_cv, &ca) != 0) {
        free(f->ring);
        free(f);
        return ERR_NOMEM;
    }
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&f->wake_mu, NULL);
    f->o = o;
    f->chain = chain;
    f->sink = sink;
    f->el = el;
    f->span = o.initial_range_blocks;
    f->ceiling = o.max_range_blocks;
    f->rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)f;
    f->m.span_blocks = f->span;
    *out = f;
    return ERR_OK;
}

void follower_free(struct follower *f)
{
    if (f == NULL)
        return;
    if (f->fl.active) {
        /* Its outcome no longer matters: the sink keeps the contract alone. */
        pthread_join(f->fl.thread, NULL);
        f->fl.active = false;
    }
    rpc_logs_release(&f->logs);
    free(f->ev);
    free(f->ev_spare);
    free(f->blocks);
    free(f->ring);
    pthread_cond_destroy(&f->wake_cv);
    pthread_mutex_destroy(&f->wake_mu);
    free(f);
}

/* Copy the figures kept by other threads into f->m. */
static void sync_wake_metrics(struct follower *f)
{
    f->m.head_notifications = atomic_load(&f->wakes);
    f->m.head_sub_live = atomic_load(&f->head_sub_live) ? 1 : 0;
}

void follower_get_metrics(const struct follower *f, struct follower_metrics *out)
{
    *out = f->m;
    out->head_notifications = atomic_load(&((struct follower *)f)->wakes);
    out->head_sub_live = atomic_load(&((struct follower *)f)->head_sub_live) ? 1 : 0;
}

void follower_wake(struct follower *f)
{
    atomic_fetch_add(&f->wakes, 1);
    pthread_mutex_lock(&f->wake_mu);
    f->woken = true;
    pthread_cond_signal(&f->wake_cv);
    pthread_mutex_unlock(&f->wake_mu);
}

void follower_set_head_sub(struct follower *f, bool live)
{
    atomic_store(&f->head_sub_live, live);
}

/* ---- kept hashes ---------------------------------------------------------- */

static void ring_cut_above(struct follower *f, uint64_t number)
{
    while (f->n_ring > 0 && f->ring[f->n_ring - 1].number > number)
        f->n_ring--;
}

static void ring_put(struct follower *f, uint64_t number, const uint8_t hash[32])
{
    ring_cut_above(f, number);
    if (f->n_ring > 0 && f->ring[f->n_ring - 1].number == number) {
        memcpy(f->ring[f->n_ring - 1].hash, hash, 32);
        return;
    }
    if (f->n_ring == RING_MAX) {
        /* Forget the older half at once rather than one by one. */
        memmove(f->ring, f->ring + RING_MAX / 2, (RING_MAX / 2) * sizeof(*f->ring));
        f->n_ring = RING_MAX / 2;
    }
    f->ring[f->n_ring].number = number;
    memcpy(f->ring[f->n_ring].hash, hash, 32);
    f->n_ring++;
}

/* ---- helpers -------------------------------------------------------------- */

static void hash_hex(const uint8_t h[32], char out[67])
{
    hex_encode(h, 32, true, out);
}

static enum err chain_fail(struct follower *f, const char *what, uint64_t number, enum err rc)
{
    f->m.rpc_errors++;
    LOG_WARN("indexer.rpc_failed", "call=%s block=%llu error=%s cause=%s", what,
             (unsigned long long)number, err_str(rc), f->chain.ops->errmsg(f->chain.ctx));
    return rc;
}

static enum err sink_fail(struct follower *f, const char *what, enum err rc)
{
    f->m.sink_errors++;
    f->started = false; /* the outcome may be unknown: read the checkpoint again */
    LOG_WARN("indexer.sink_failed", "call=%s error=%s cause=%s", what, err_str(rc),
             f->sink.ops->errmsg(f->sink.ctx));
    return rc;
}

static void set_cp(struct follower *f, int64_t number, const uint8_t hash[32])
{
    f->has_cp = true;
    f->cp.number = number;
    memcpy(f->cp.hash, hash, 32);
    f->m.indexed_block = (uint64_t)number;
    ring_put(f, (uint64_t)number, hash);
}

static void update_lag(struct follower *f, uint64_t indexed_ts)
{
    uint64_t idx = f->has_cp ? (uint64_t)f->cp.number : 0;
    f->m.lag_blocks = f->m.head_block > idx ? f->m.head_block - idx : 0;
    if (f->m.lag_blocks == 0) {
        f->m.lag_seconds = 0;
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    f->m.lag_seconds = now > (double)indexed_ts ? now - (double)indexed_ts : 0;
}

/* ---- reorgs --------------------------------------------------------------- */

/*
 * The checkpoint block is no longer on the chain: find the highest kept
 * block the chain still has (its hash commits to all below it), or, when
 * none is shared within max_reorg_depth, a block that deep; roll the sink
 * back to it.
 */
static enum err handle_reorg(struct follower *f)
{
    /* A batch in flight is applied (or fails) first: the rollback then
     * starts from the sink's true checkpoint. */
    enum err frc = follower_flush(f);
    if (frc != ERR_OK)
        return frc;
    uint64_t old = (uint64_t)f->cp.number;
    uint64_t floor = old > f->o.max_reorg_depth ? old - f->o.max_reorg_depth : 0;
    struct chain_header h;
    enum err rc;
    bool found = false;
    uint64_t fork = 0;
    uint8_t fork_hash[32];
    for (size_t k = f->n_ring; k-- > 0 && !found;) {
        const struct kept *e = &f->ring[k];
        if (e->number > old)
            continue;
        if (e->number < floor)
            break;
        rc = f->chain.ops->header(f->chain.ctx, e->number, &h);
        if (rc == ERR_NOTFOUND)
            continue; /* the new chain is shorter */
        if (rc != ERR_OK)
            return chain_fail(f, "header", e->number, rc);
        if (memcmp(h.hash, e->hash, 32) == 0) {
            found = true;
            fork = e->number;
            memcpy(fork_hash, h.hash, 32);
        }
    }
    uint64_t depth = f->o.max_reorg_depth;
    for (;;) {
        if (!found) {
            uint64_t lowest = f->o.start_block - 1;
            fork = old > lowest + depth ? old - depth : lowest;
            rc = f->chain.ops->header(f->chain.ctx, fork, &h);
            if (rc != ERR_OK)
                return chain_fail(f, "header", fork, rc);
            memcpy(fork_hash, h.hash, 32);
        }
        struct proto_reorg_rollback rb = {.to_block = (int64_t)fork};
        memcpy(rb.block_hash, fork_hash, 32);
        struct proto_rollback out;
        rc = f->sink.ops->rollback(f->sink.ctx, &rb, &out);
        if (rc == ERR_STATE && (found || fork > f->o.start_block - 1)) {
            /* The sink holds another hash there: that block is not shared
             * either. Go deeper (doubling keeps the probes logarithmic). */
            LOG_WARN("indexer.rollback_refused", "to_block=%llu cause=%s", (unsigned long long)fork,
                     f->sink.ops->errmsg(f->sink.ctx));
            found = false;
            depth = old - fork < depth ? depth * 2 : (old - fork) * 2;
            continue;
        }
        if (rc != ERR_OK)
            return sink_fail(f, "reorg.rollback", rc);
        char hx[67];
        hash_hex(fork_hash, hx);
        uint64_t d = old - fork;
        LOG_WARN("indexer.reorg",
                 "old_checkpoint=%llu fork_block=%llu fork_hash=%s depth=%llu "
                 "events_removed=%lld",
                 (unsigned long long)old, (unsigned long long)fork, hx, (unsigned long long)d,
                 (long long)out.events_removed);
        if (d > 0) {
            f->m.reorgs++;
            f->m.last_reorg_depth = d;
            if (d > f->m.max_reorg_depth)
                f->m.max_reorg_depth = d;
        }
        ring_cut_above(f, fork);
        set_cp(f, (int64_t)fork, fork_hash);
        return ERR_OK;
    }
}

/* ---- one range ------------------------------------------------------------ */

static enum err grow_events(struct follower *f, size_t n)
{
    if (n <= f->cap_ev)
        return ERR_OK;
    struct proto_event *p = realloc(f->ev, n * sizeof(*p));
    if (p == NULL)
        return ERR_NOMEM;
    f->ev = p;
    f->cap_ev = n;
    return ERR_OK;
}

/* Check the logs against the range and its headers and decode them into
 * f->ev with their blocks' timestamps; returns the count in *n. ERR_STATE:
 * a block's hash changed while reading (retry). */
static enum err decode_range(struct follower *f, uint64_t from, uint64_t to,
                             const struct chain_header *hf, const struct chain_header *ht,
                             size_t *n)
{
    const struct rpc_logs *l = &f->logs;
    uint64_t ts = 0, ts_block = UINT64_MAX;
    *n = 0;
    if (grow_events(f, l->count) != ERR_OK)
        return ERR_NOMEM;
    for (size_t i = 0; i < l->count; i++) {
        const struct rpc_log *lg = &l->items[i];
        const char *bad = NULL;
        if (lg->removed)
            bad = "removed log";
        else if (lg->block_number < from || lg->block_number > to)
            bad = "log outside the range";
        else if (i > 0 && (lg->block_number < l->items[i - 1].block_number ||
                           (lg->block_number == l->items[i - 1].block_number &&
                            lg->log_index <= l->items[i - 1].log_index)))
            bad = "logs out of order";
        else if ((lg->block_number == to && memcmp(lg->block_hash, ht->hash, 32) != 0) ||
                 (lg->block_number == from && memcmp(lg->block_hash, hf->hash, 32) != 0))
            bad = "log block hash differs from the header";
        else if (i > 0 && lg->block_number == l->items[i - 1].block_number &&
                 memcmp(lg->block_hash, l->items[i - 1].block_hash, 32) != 0)
            bad = "two hashes for one block";
        if (bad != NULL) {
            f->m.rpc_errors++;
            LOG_WARN("indexer.bad_logs", "from=%llu to=%llu block=%llu cause=%s",
                     (unsigned long long)from, (unsigned long long)to,
                     (unsigned long long)lg->block_number, bad);
            return ERR_PROTO;
        }
        enum err rc = escrowlog_decode(f->el, lg, &f->ev[*n]);
        if (rc == ERR_NOMEM)
            return rc;
        if (rc == ERR_OK) {
            /* block_at: the block's timestamp, from a header we hold or one
             * more header read, whose hash must be the log's. */
            if (lg->block_number == from) {
                ts = hf->timestamp;
            } else if (lg->block_number == to) {
                ts = ht->timestamp;
            } else if (lg->block_number != ts_block) {
                struct chain_header h;
                enum err hrc = f->chain.ops->header(f->chain.ctx, lg->block_number, &h);
                if (hrc != ERR_OK)
                    return chain_fail(f, "header", lg->block_number, hrc);
                if (memcmp(h.hash, lg->block_hash, 32) != 0) {
                    LOG_INFO("indexer.chain_moved", "block=%llu",
                             (unsigned long long)lg->block_number);
                    return ERR_STATE; /* retried; the next step sees any reorg */
                }
                ts = h.timestamp;
            }
            ts_block = lg->block_number;
            if (ts > (uint64_t)PROTO_MAX_TIME_AT)
                rc = ERR_RANGE;
            f->ev[*n].block_at = (int64_t)ts;
        }
        if (rc != ERR_OK) {
            /* The chain holds it and the protocol cannot carry it: flag it
             * loudly and go on, rather than stall every later job. */
            char tx[67];
            hash_hex(lg->tx_hash, tx);
            f->m.events_rejected++;
            LOG_ERROR("indexer.event_rejected", "block=%llu log_index=%llu tx=%s error=%s",
                      (unsigned long long)lg->block_number, (unsigned long long)lg->log_index, tx,
                      err_str(rc));
            continue;
        }
        (*n)++;
    }
    return ERR_OK;
}

/* What the follower does once the sink acknowledged <b>: keep its hashes
 * (and <first>, the range's first header, or NULL), move the checkpoint,
 * count. */
static void batch_done(struct follower *f, const struct proto_events_apply *b,
                       const struct proto_applied *out, const struct chain_header *first)
{
    if (out->checkpoint.number != b->checkpoint.number ||
        memcmp(out->checkpoint.hash, b->checkpoint.hash, 32) != 0) {
        /* The sink is ahead of us (a reply we lost earlier): it keeps its own. */
        LOG_INFO("indexer.sink_ahead", "sink_checkpoint=%lld", (long long)out->checkpoint.number);
    }
    if (first != NULL)
        ring_put(f, first->number, first->hash);
    for (size_t k = 0; k < b->n_blocks; k++)
        ring_put(f, (uint64_t)b->blocks[k].number, b->blocks[k].hash);
    set_cp(f, b->checkpoint.number, b->checkpoint.hash);
    f->m.events_applied += (uint64_t)out->events_applied;
    f->m.batches++;
    LOG_DEBUG("indexer.applied", "from=%lld to=%lld events=%zu new=%lld", (long long)b->from_block,
              (long long)b->to_block, b->n_events, (long long)out->events_applied);
}

/* The in-flight batch's thread: the sink's apply, nothing else (the
 * follower's state is touched only by the follower's thread, at the join). */
static void *inflight_main(void *arg)
{
    struct inflight *fl = arg;
    fl->rc = fl->sink.ops->apply(fl->sink.ctx, &fl->b, &fl->out);
    return NULL;
}

enum err follower_flush(struct follower *f)
{
    if (!f->fl.active)
        return ERR_OK;
    pthread_join(f->fl.thread, NULL);
    f->fl.active = false;
    if (f->fl.rc != ERR_OK)
        return sink_fail(f, "events.apply", f->fl.rc);
    batch_done(f, &f->fl.b, &f->fl.out, f->fl.has_first ? &f->fl.first : NULL);
    return ERR_OK;
}

/* Hand f->ev[i..j) for blocks b_from..b_to to the sink; <first> (the
 * range's first header, or NULL) is kept among the recent hashes. With
 * pipeline_applies the batch before it is joined first (exactly one batch
 * in flight, each sent only after the one before it was acknowledged) and
 * this one is left in flight: follower_flush() or the next call joins it. */
static enum err apply_batch(struct follower *f, uint64_t b_from, uint64_t b_to,
                            const uint8_t to_hash[32], size_t i, size_t j,
                            const struct chain_header *first)
{
    enum err rc = follower_flush(f);
    if (rc != ERR_OK)
        return rc;
    size_t need = j - i + 1;
    if (need > f->cap_blocks) {
        struct proto_block_ref *p = realloc(f->blocks, need * sizeof(*p));
        if (p == NULL)
            return ERR_NOMEM;
        f->blocks = p;
        f->cap_blocks = need;
    }
    size_t nb = 0;
    for (size_t k = i; k < j; k++) {
        if (nb > 0 && f->blocks[nb - 1].number == f->ev[k].block_number)
            continue;
        f->blocks[nb].number = f->ev[k].block_number;
        memcpy(f->blocks[nb].hash, f->ev[k].block_hash, 32);
        nb++;
    }
    if (nb == 0 || (uint64_t)f->blocks[nb - 1].number != b_to) {
        f->blocks[nb].number = (int64_t)b_to;
        memcpy(f->blocks[nb].hash, to_hash, 32);
        nb++;
    }
    struct proto_events_apply b = {
        .from_block = (int64_t)b_from,
        .to_block = (int64_t)b_to,
        .blocks = f->blocks,
        .n_blocks = nb,
        .events = f->ev + i,
        .n_events = j - i,
    };
    b.checkpoint.number = (int64_t)b_to;
    memcpy(b.checkpoint.hash, to_hash, 32);
    if (f->o.pipeline_applies) {
        struct inflight *fl = &f->fl;
        fl->sink = f->sink;
        fl->b = b;
        fl->has_first = first != NULL;
        if (first != NULL)
            fl->first = *first;
        fl->rc = ERR_OK;
        if (pthread_create(&fl->thread, NULL, inflight_main, fl) == 0) {
            fl->active = true;
            return ERR_OK;
        }
        /* No thread to be had: apply it here. */
    }
    struct proto_applied out;
    rc = f->sink.ops->apply(f->sink.ctx, &b, &out);
    if (rc != ERR_OK)
        return sink_fail(f, "events.apply", rc);
    batch_done(f, &b, &out, first);
    return ERR_OK;
}

static enum err shrink(struct follower *f, uint64_t from, uint64_t to, enum err why)
{
    uint64_t width = to - from + 1;
    if (width == 1)
        return chain_fail(f, "logs", from, why);
    f->span = width / 2;
    f->ceiling = width - 1;
    f->ok_ranges = 0;
    f->m.span_blocks = f->span;
    f->m.range_shrinks++;
    LOG_INFO("indexer.range_shrunk", "from=%llu to=%llu cause=%s span=%llu",
             (unsigned long long)from, (unsigned long long)to, err_str(why),
             (unsigned long long)f->span);
    return ERR_OK;
}

/* The span after a range of <width> blocks that held <n> events: sized by
 * the density just seen (events per block) to about target_range_logs
 * events, so a node never builds an answer far larger than a batch; at most
 * twice the span (a quiet stretch may end in dense blocks, and a refusal
 * costs as much as the range it covered), at most the ceiling, at least 1.
 * A range cut short by the head says little of width: it never widens. */
static uint64_t next_span(const struct follower *f, uint64_t width, size_t n)
{
    uint64_t want = f->span * 2;
    if (n > 0) {
        /* width <= PROTO_BLOCK_RANGE_MAX and target <= PROTO_EVENTS_MAX:
         * the product fits. */
        want = width * (uint64_t)f->o.target_range_logs / (uint64_t)n;
    }
    if (width < f->span && want > f->span)
        want = f->span;
    if (want > f->span * 2)
        want = f->span * 2;
    if (want > f->ceiling)
        want = f->ceiling;
    return want < 1 ? 1 : want;
}

enum err follower_step(struct follower *f, bool *idle)
{
    enum err rc;
    *idle = false;
    if (!f->started) {
        struct proto_checkpoint c;
        rc = follower_flush(f); /* nothing is in flight here: a failure cleared <started> */
        if (rc != ERR_OK)
            return rc;
        rc = f->sink.ops->checkpoint(f->sink.ctx, &c);
        if (rc != ERR_OK)
            return sink_fail(f, "checkpoint.get", rc);
        f->n_ring = 0;
        f->has_cp = false;
        if (c.has_checkpoint)
            set_cp(f, c.checkpoint.number, c.checkpoint.hash);
        f->started = true;
        LOG_INFO("indexer.resume", "checkpoint=%lld start_block=%llu",
                 c.has_checkpoint ? (long long)c.checkpoint.number : -1LL,
                 (unsigned long long)f->o.start_block);
    }
    uint64_t head;
    rc = f->chain.ops->head(f->chain.ctx, &head);
    if (rc != ERR_OK)
        return chain_fail(f, "head", 0, rc);
    f->m.head_block = head;
    /* The tip: what the sink will hold once the batch in flight (if any)
     * is applied. The next range continues from it. */
    bool has_tip = f->fl.active || f->has_cp;
    const struct proto_block_ref *tip = f->fl.active ? &f->fl.b.checkpoint : &f->cp;
    uint64_t next = has_tip ? (uint64_t)tip->number + 1 : f->o.start_block;
    struct chain_header hf, ht, ht2;
    if (head < f->o.confirmations || next > head - f->o.confirmations) {
        /* Caught up: the batch in flight is applied first, so an idle
         * follower has nothing pending. Is the checkpoint block still the
         * chain's? */
        rc = follower_flush(f);
        if (rc != ERR_OK)
            return rc;
        if (f->has_cp) {
            rc = f->chain.ops->header(f->chain.ctx, (uint64_t)f->cp.number, &hf);
            if (rc == ERR_NOTFOUND || (rc == ERR_OK && memcmp(hf.hash, f->cp.hash, 32) != 0))
                return handle_reorg(f);
            if (rc != ERR_OK)
                return chain_fail(f, "header", (uint64_t)f->cp.number, rc);
            update_lag(f, hf.timestamp);
        }
        *idle = true;
        return ERR_OK;
    }
    uint64_t target = head - f->o.confirmations;
    uint64_t from = next;
    uint64_t to = target - from + 1 > f->span ? from + f->span - 1 : target;

    rc = f->chain.ops->header(f->chain.ctx, from, &hf);
    if (rc == ERR_NOTFOUND)
        return ERR_OK; /* the head went back since eth_blockNumber: look again */
    if (rc != ERR_OK)
        return chain_fail(f, "header", from, rc);
    if (has_tip && memcmp(hf.parent_hash, tip->hash, 32) != 0)
        return handle_reorg(f); /* joins the batch in flight first */
    if (to == from) {
        ht = hf;
    } else {
        rc = f->chain.ops->header(f->chain.ctx, to, &ht);
        if (rc == ERR_NOTFOUND)
            return ERR_OK;
        if (rc != ERR_OK)
            return chain_fail(f, "header", to, rc);
    }
    rpc_logs_release(&f->logs);
    rc = f->chain.ops->logs(f->chain.ctx, from, to, &f->logs);
    if (rc == ERR_TOOBIG || rc == ERR_TIMEDOUT)
        return shrink(f, from, to, rc);
    if (rc != ERR_OK)
        return chain_fail(f, "logs", from, rc);
    rc = f->chain.ops->header(f->chain.ctx, to, &ht2);
    if (rc == ERR_NOTFOUND)
        return ERR_OK;
    if (rc != ERR_OK)
        return chain_fail(f, "header", to, rc);
    if (memcmp(ht.hash, ht2.hash, 32) != 0) {
        LOG_INFO("indexer.chain_moved", "block=%llu", (unsigned long long)to);
        return ERR_OK; /* a reorg during the read: the next step sees it */
    }
    if (f->fl.active) {
        /* The batch in flight reads f->ev: decode into the other buffer. */
        struct proto_event *ev = f->ev;
        size_t cap = f->cap_ev;
        f->ev = f->ev_spare;
        f->cap_ev = f->cap_ev_spare;
        f->ev_spare = ev;
        f->cap_ev_spare = cap;
    }
    size_t n;
    rc = decode_range(f, from, to, &hf, &ht, &n);
    if (rc != ERR_OK)
        return rc;

    /* Batches of at most max_batch_events, cut where a block ends. */
    size_t i = 0;
    uint64_t b_from = from;
    for (;;) {
        size_t j = n;
        uint64_t b_to = to;
        const uint8_t *b_hash = ht.hash;
        if (n - i > f->o.max_batch_events) {
            j = i + f->o.max_batch_events;
            while (j > i && f->ev[j].block_number == f->ev[j - 1].block_number)
                j--;
            if (j == i && (uint64_t)f->ev[i].block_number > b_from) {
                /* Take what comes before the block first: the next range
                 * ends just below it. */
                f->span = (uint64_t)f->ev[i].block_number - b_from;
                f->m.span_blocks = f->span;
                return ERR_OK;
            }
            if (j == i) {
                /* events.apply cannot carry it (PROTO_EVENTS_MAX) and a
                 * block cannot be split: LoomEscrow's events cost at least
                 * 20,000 gas each, so a 30M-gas block holds at most 1,500. */
                LOG_ERROR("indexer.block_too_big", "block=%lld limit=%zu",
                          (long long)f->ev[i].block_number, f->o.max_batch_events);
                return ERR_TOOBIG;
            }
            b_to = (uint64_t)f->ev[j - 1].block_number;
            b_hash = f->ev[j - 1].block_hash;
        }
        rc = apply_batch(f, b_from, b_to, b_hash, i, j, i == 0 ? &hf : NULL);
        if (rc != ERR_OK)
            return rc;
        if (j == n)
            break;
        i = j;
        b_from = b_to + 1;
    }
    update_lag(f, ht.timestamp);
    /* Quiet range (under a quarter of a batch): widen; one that needed
     * several batches: narrow, so one range is about one batch. */
    if (++f->ok_ranges >= CEILING_RESET_RANGES) {
        f->ceiling = f->o.max_range_blocks;
        f->ok_ranges = 0;
    }
    f->span = next_span(f, to - from + 1, n);
    f->m.span_blocks = f->span;
    f->backoff_ms = 0;
    return ERR_OK;
}

/* Sleep until the monotonic time <until_ms>, waking at least every 20 ms to
 * look at *stop (a signal handler sets it; it cannot signal a condition
 * variable). Returns true if stopped. With <wakeable>, follower_wake() ends
 * the sleep at once (a wake that came while the step ran ends the next one
 * at once, so none is lost). Sleeping to a deadline, not for a sum of
 * slices, keeps the poll period exact on a loaded machine, where each wait
 * oversleeps a little. */
static bool nap_until(struct follower *f, double until_ms, const volatile sig_atomic_t *stop,
                      bool wakeable)
{
    bool stopped = false;

    pthread_mutex_lock(&f->wake_mu);
    for (;;) {
        if (stop != NULL && *stop) {
            stopped = true;
            break;
        }
        if (wakeable && f->woken)
            break;
        double now = mono_ms_frac(), left = until_ms - now;
        if (left <= 0)
            break;
        double slice = left < 20.0 ? left : 20.0;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long ns = ts.tv_nsec + (long)(slice * 1e6) + 1000;
        ts.tv_sec += ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&f->wake_cv, &f->wake_mu, &ts);
    }
    if (wakeable)
        f->woken = false;
    pthread_mutex_unlock(&f->wake_mu);
    return stopped;
}

static void log_metrics(const struct follower *f)
{
    const struct follower_metrics *m = &f->m;
    LOG_INFO("indexer.metrics",
             "head_block=%llu indexed_block=%llu lag_blocks=%llu lag_seconds=%g "
             "events_applied=%llu events_rejected=%llu batches=%llu reorgs=%llu "
             "last_reorg_depth=%llu max_reorg_depth=%llu rpc_errors=%llu sink_errors=%llu "
             "range_shrinks=%llu span_blocks=%llu head_sub_live=%llu head_notifications=%llu",
             (unsigned long long)m->head_block, (unsigned long long)m->indexed_block,
             (unsigned long long)m->lag_blocks, m->lag_seconds,
             (unsigned long long)m->events_applied, (unsigned long long)m->events_rejected,
             (unsigned long long)m->batches, (unsigned long long)m->reorgs,
             (unsigned long long)m->last_reorg_depth, (unsigned long long)m->max_reorg_depth,
             (unsigned long long)m->rpc_errors, (unsigned long long)m->sink_errors,
             (unsigned long long)m->range_shrinks, (unsigned long long)m->span_blocks,
             (unsigned long long)m->head_sub_live, (unsigned long long)m->head_notifications);
}

enum err follower_run(struct follower *f, const volatile sig_atomic_t *stop, uint64_t until_block)
{
    double last_report = mono_ms_frac();
    for (;;) {
        if (stop != NULL && *stop) {
            /* The batch in flight is waited for: its outcome, logged and
             * counted, is known before we return. */
            if (follower_flush(f) != ERR_OK)
                LOG_INFO("indexer.stopped_after_failed_apply", "batches=%llu",
                         (unsigned long long)f->m.batches); /* sink_fail() logged the cause */
            log_metrics(f);
            return ERR_CANCELED;
        }
        if (f->o.metrics_log_ms > 0 &&
            mono_ms_frac() - last_report >= (double)f->o.metrics_log_ms) {
            log_metrics(f);
            last_report = mono_ms_frac();
        }
        bool idle;
        double step_at = mono_ms_frac();
        enum err rc = follower_step(f, &idle);
        sync_wake_metrics(f);
        if (f->o.on_step != NULL)
            f->o.on_step(f->o.on_step_arg, &f->m, rc);
        if (rc == ERR_OK && until_block != 0 && f->has_cp &&
            (uint64_t)f->cp.number >= until_block) {
            log_metrics(f);
            return ERR_OK;
        }
        if (rc != ERR_OK) {
            /* Exponential backoff with full jitter (AWS Architecture Blog,
             * "Exponential Backoff And Jitter", 2015): a node or job store
             * that is down is not hammered, and several indexers do not
             * retry in lockstep. */
            long cap = f->backoff_ms == 0 ? f->o.backoff_base_ms : f->backoff_ms * 2;
            if (cap > f->o.backoff_max_ms)
                cap = f->o.backoff_max_ms;
            f->backoff_ms = cap;
            f->rng = f->rng * 6364136223846793005ULL + 1442695040888963407ULL; /* Knuth MMIX LCG */
            long wait = cap > 0 ? (long)((f->rng >> 33) % (uint64_t)(cap + 1)) : 0;
            nap_until(f, mono_ms_frac() + (double)wait, stop, false);
            continue;
        }
        /* The next head poll is one interval after this one began, so a
         * new block waits at most poll_interval_ms to be seen; a new-head
         * notification (follower_wake()) starts it at once. */
        if (idle)
            nap_until(f, step_at + (double)f->o.poll_interval_ms, stop, true);
    }
}
