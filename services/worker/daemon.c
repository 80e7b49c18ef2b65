/*
 * daemon -- the worker's serving mode (see daemon.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "daemon.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "bundle.h"
#include "bus.h"
#include "cfg.h"
#include "chainhead.h"
#include "escrow.h"
#include "feedwatch.h"
#include "hex.h"
#include "eth/key.h"
#include "feed.h"
#include "gwclient.h"
#include "jobfiles.h"
#include "jobspec.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "runner.h"

/* Candidates waiting for the job thread; past this, announcements are
 * dropped (a later snapshot or announcement brings them back). */
#define DAEMON_QUEUE_MAX 1024
/* Latencies the job thread hands to the event thread between two scrapes. */
#define DAEMON_LAT_MAX 4096
/* A claim, a submit or a withdraw is mined within seconds on any chain the
 * Loom runs on; a minute means the node lost it. */
#define DAEMON_TX_WAIT_MS 60000
/* Time kept back from the claim's max runtime for uploading and submitting:
 * a fifth of it, at most a minute. */
#define DAEMON_RESERVE_MAX_MS 60000
/* A gateway that is restarting, or whose job store is, refuses the
 * connection or answers 502/503 (ERR_UNAVAILABLE), or stalls
 * (ERR_TIMEDOUT): such a call is tried again after 250 ms, doubling up to
 * 4 s, instead of dropping the job (found by tests/e2e/chaos.sh: a gateway
 * down for 3 s cost every job queued behind it, and the claimed one's result).
 * Before the claim, job.json is tried for up to DAEMON_SPEC_RETRY_MS; after
 * it, inputs and the result upload until the claim would leave less than
 * DAEMON_SUBMIT_MARGIN_DIV of its max runtime for the submit transaction.
 * The upload is also retried on 403 and 409: the gateway checks the claim in
 * the job store, which learns of it from the indexer, so just after a claim
 * confirmed on chain (or while the indexer restarts) it may not know yet
 * (chaos.sh again: an indexer down for 3 s cost the two jobs claimed then). */
#define DAEMON_GW_RETRY_FIRST_MS 250
#define DAEMON_GW_RETRY_MAX_MS   4000
#define DAEMON_SPEC_RETRY_MS     60000
#define DAEMON_SUBMIT_MARGIN_DIV 10
/* Progress goes to the gateway at most this often (the runner reports at
 * least every second, so a report leaves at least every 2 s). */
#define DAEMON_PROGRESS_EVERY_MS 1000
/* At start the snapshot waits this long for the first heartbeat (proof the
 * feed is connected, so nothing published after the snapshot is missed);
 * a publisher without heartbeats only delays it by this much. */
#define DAEMON_FIRST_HEARTBEAT_WAIT_MS (2 * PROTO_FEED_HEARTBEAT_MS + 500)
/* How often the event thread checks the feed for silence. */
#define DAEMON_FEED_TICK_MS 500
/* How often the chainhead thread re-reads the newest block's base fee and
 * the tip, so a claim is priced without a round trip (escrow.h "Fees": a
 * reading is used for 3 s). One small batch a second is nothing to a node. */
#define DAEMON_HEAD_INTERVAL_MS 1000

/* Who runs the event loop (see "The loop's owner" below). */
enum { LOOP_MAIN = 0, LOOP_JOB };

struct cand {
    struct proto_feed_open o;
    uint64_t recv_ns; /* CLOCK_MONOTONIC when the announcement arrived */
};

struct stats {
    _Atomic uint64_t seen, claimed, lost, completed, failed, skipped;
};

struct daemon {
    const struct daemon_opts *o;
    struct key key;
    char addr_hex[43];
    uint8_t escrow_addr[20];
    uint64_t chain_id;
    unsigned types_mask; /* bit per enum proto_job_type */
    struct u256 threshold_wei;
    struct escrow *esc;     /* the job thread's (and start-up's) */
    struct chainhead *head; /* serve mode: fees read ahead of need */

    struct event_base *base;
    struct bus *sub;
    struct metrics *m;
    struct metrics_http *mh;
    struct event *ev_term, *ev_int;

    struct event *ev_tick;
    struct event *ev_handover; /* made active by the job thread: the main thread leaves the loop */
    struct feedwatch fw;       /* whichever thread runs the loop (one at a time) */

    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;     /* guards everything below */
    pthread_cond_t cv;      /* job thread: queue, stopping, resync, feed_up */
    pthread_cond_t loop_cv; /* loop_owner or main_in_loop changed */
    int loop_owner;         /* LOOP_MAIN or LOOP_JOB */
    int main_in_loop;       /* the main thread is inside event_base_loop() */
    int feed_up;            /* a heartbeat was heard */
    const char *resync;     /* non-NULL: re-read the open jobs (static reason) */
    struct cand queue[DAEMON_QUEUE_MAX];
    size_t n_queue;
    int64_t current_job; /* 0 when idle */
    int stopping;
    double lat[DAEMON_LAT_MAX];     /* feed message -> claim written to the node */
    double lat_acc[DAEMON_LAT_MAX]; /* feed message -> claim accepted by the node */
    size_t n_lat;

    struct stats st;
    struct metrics_series *s_seen, *s_claimed, *s_lost, *s_completed, *s_failed, *s_skipped,
        *s_dispatch, *s_dispatch_acc, *s_busy;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- candidates (any thread, under mu) ------------------------------------ */

static void enqueue(struct daemon *d, const struct proto_feed_open *o, uint64_t recv_ns)
{
    char id[67];
    int wake = 0;
    pthread_mutex_lock(&d->mu);
    int dup = d->current_job == o->job_id;
    for (size_t i = 0; !dup && i < d->n_queue; i++)
        dup = d->queue[i].o.job_id == o->job_id;
    int full = d->n_queue == DAEMON_QUEUE_MAX;
    if (!dup && !full) {
        d->queue[d->n_queue].o = *o;
        d->queue[d->n_queue].recv_ns = recv_ns;
        d->n_queue++;
        wake = 1;
    }
    pthread_mutex_unlock(&d->mu);
    /* Woken after the unlock (when it is not the caller: see "The loop's
     * owner"), the job thread finds the mutex free instead of being put back
     * to sleep on it: one scheduling wait less on a busy host. */
    if (wake) {
        pthread_cond_signal(&d->cv);
        pthread_cond_broadcast(&d->loop_cv); /* idle_loop() waiting for the loop */
    }
    if (full) {
        hex_encode(o->chain_job_id, 32, true, id);
        LOG_WARN("job.dropped", "job_id=%lld chain_job_id=%s reason=%s", (long long)o->job_id, id,
                 "candidate queue full");
    }
}

static void dequeue_id(struct daemon *d, int64_t job_id)
{
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->n_queue; i++) {
        if (d->queue[i].o.job_id == job_id) {
            memmove(&d->queue[i], &d->queue[i + 1], (d->n_queue - i - 1) * sizeof(d->queue[0]));
            d->n_queue--;
            break;
        }
    }
    pthread_mutex_unlock(&d->mu);
}

/* Cheap checks before a job is even queued. */
static int wanted(struct daemon *d, const struct proto_feed_open *o)
{
    atomic_fetch_add(&d->st.seen, 1);
    if (!(d->types_mask & (1u << o->type)) || o->price_usd_cents < d->o->min_price_usd_cents) {
        atomic_fetch_add(&d->st.skipped, 1);
        LOG_DEBUG("job.ignored", "job_id=%lld type=%s price_usd_cents=%lld", (long long)o->job_id,
                  proto_job_type_names[o->type], (long long)o->price_usd_cents);
        return 0;
    }
    return 1;
}

/* ---- the feed (event thread) ---------------------------------------------- */

static void on_heartbeat(struct daemon *d, const char *frame, size_t len);

static void on_feed(void *arg, const char *topic, const void *data, size_t len)
{
    struct daemon *d = arg;
    uint64_t t = now_ns();
    struct buf frame;
    struct proto_feed m;
    struct json_err je;
    json_err_init(&je);
    buf_init(&frame, PROTO_MAX_MSG_BYTES);
    /* PROTOCOL.md's frame is "topic {json}"; a publisher may put the topic in
     * bus's topic field only, so rebuild the frame when the payload is bare. */
    enum err e = ERR_OK;
    if (len > 0 && ((const char *)data)[0] == '{')
        e = buf_appendf(&frame, "%s ", topic ? topic : "");
    if (e == ERR_OK)
        e = buf_append(&frame, data, len);
    if (e == ERR_OK && frame.len > strlen(PROTO_TOPIC_HEARTBEAT) &&
        memcmp(frame.data, PROTO_TOPIC_HEARTBEAT " ", strlen(PROTO_TOPIC_HEARTBEAT) + 1) == 0) {
        on_heartbeat(d, (const char *)frame.data, frame.len);
        buf_release(&frame);
        return;
    }
    if (e == ERR_OK)
        e = proto_feed_decode((const char *)frame.data, frame.len, &m, &je);
    if (e != ERR_OK) {
        LOG_WARN("feed.bad_message", "topic=%s error=%s path=%s reason=%s", topic, err_str(e),
                 je.path, je.message);
        goto out;
    }
    /* Queue first, log after: the log line's write is not on the dispatch path. */
    if (m.kind == PROTO_FEED_OPEN && wanted(d, &m.u.open))
        enqueue(d, &m.u.open, t);
    else if (m.kind == PROTO_FEED_CLOSED)
        dequeue_id(d, m.u.closed.job_id);
    LOG_DEBUG("feed.message", "topic=%s job_id=%lld", topic,
              (long long)(m.kind == PROTO_FEED_OPEN     ? m.u.open.job_id
                          : m.kind == PROTO_FEED_CLOSED ? m.u.closed.job_id
                                                        : m.u.progress.job_id));
    proto_feed_release(&m);
out:
    buf_release(&frame);
}

/* Tell the job thread (and the main thread's loop) to stop. Any thread. */
static void stop(struct daemon *d)
{
    pthread_mutex_lock(&d->mu);
    d->stopping = 1;
    pthread_cond_broadcast(&d->cv);
    pthread_cond_broadcast(&d->loop_cv);
    pthread_mutex_unlock(&d->mu);
}

/* Ask the job thread to re-read the open jobs (event thread). */
static void request_resync(struct daemon *d, const char *why)
{
    pthread_mutex_lock(&d->mu);
    d->resync = why;
    pthread_cond_broadcast(&d->cv);
    pthread_cond_broadcast(&d->loop_cv);
    pthread_mutex_unlock(&d->mu);
}

static void on_heartbeat(struct daemon *d, const char *frame, size_t len)
{
    struct proto_feed_heartbeat h;
    struct json_err je;
    int64_t missed = 0;
    json_err_init(&je);
    enum err e = proto_feed_heartbeat_decode(frame, len, &h, &je);
    if (e != ERR_OK) {
        LOG_WARN("feed.bad_message", "topic=%s error=%s path=%s reason=%s", PROTO_TOPIC_HEARTBEAT,
                 err_str(e), je.path, je.message);
        return;
    }
    enum feedwatch_verdict v = feedwatch_heartbeat(&d->fw, &h, now_ns(), &missed);
    if (v == FEEDWATCH_FIRST) {
        LOG_INFO("feed.up", "epoch=%lld seq=%lld interval_ms=%lld", (long long)h.epoch,
                 (long long)h.seq, (long long)h.interval_ms);
        pthread_mutex_lock(&d->mu);
        d->feed_up = 1;
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
    } else if (feedwatch_needs_resync(v)) {
        LOG_INFO("feed.resync", "reason=%s epoch=%lld seq=%lld missed=%lld",
                 feedwatch_verdict_name(v), (long long)h.epoch, (long long)h.seq,
                 (long long)missed);
        request_resync(d, feedwatch_verdict_name(v));
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    (void)fd;
    (void)what;
    if (feedwatch_tick(&d->fw, now_ns()))
        LOG_WARN("feed.silent", "epoch=%lld last_seq=%lld silent_ms_over=%lld",
                 (long long)d->fw.epoch, (long long)d->fw.seq,
                 (long long)d->fw.interval_ms * FEEDWATCH_SILENCE_INTERVALS);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;
    (void)what;
    LOG_INFO("worker.stopping", "signal=%d", (int)sig);
    stop(d);
    event_base_loopbreak(d->base);
}

/* Bring the counters the job thread keeps up to date before a scrape. */
static void on_collect(void *arg, struct metrics *m)
{
    struct daemon *d = arg;
    (void)m;
    struct {
        struct metrics_series *s;
        _Atomic uint64_t *v;
    } c[] = {{d->s_seen, &d->st.seen},     {d->s_claimed, &d->st.claimed},
             {d->s_lost, &d->st.lost},     {d->s_completed, &d->st.completed},
             {d->s_failed, &d->st.failed}, {d->s_skipped, &d->st.skipped}};
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
        metrics_add(c[i].s, (double)atomic_load(c[i].v) - metrics_value(c[i].s));
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->n_lat; i++) {
        metrics_observe(d->s_dispatch, d->lat[i]);
        metrics_observe(d->s_dispatch_acc, d->lat_acc[i]);
    }
    d->n_lat = 0;
    metrics_set(d->s_busy, d->current_job != 0);
    pthread_mutex_unlock(&d->mu);
}

/* ---- one job (job thread) ------------------------------------------------- */

struct jobctx {
    struct daemon *d;
    int64_t id;
    uint8_t chain_job_id[32];
    char chain_id_hex[67];
    struct buf dir, in_dir, out_dir, spec_path, bundle_path;
    struct buf msg;
    struct jobspec *spec;
    char *spec_text; /* job.json as fetched (heap) */
    size_t spec_len;
    struct gwc_fetch *fetch; /* job.json on its way while getJob runs */
    enum err fetch_err;      /* gwc_fetch_start()'s answer */
    struct buf fetch_msg;    /* its reason on failure */
    struct escrow_job chain;
    uint64_t last_progress_ns;
    uint64_t checked_ns, spec_ns; /* when steps 1 and 2 ended, for the dispatch breakdown */
    uint64_t retry_until_ns;      /* after the claim: the last moment to start a gateway retry */
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) == -1 ? -1 : 0;
}

static void rm_tree(const char *path)
{
    (void)nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void job_fail(struct jobctx *j, const char *event, const char *stage)
{
    atomic_fetch_add(&j->d->st.failed, 1);
    LOG_WARN(event, "job_id=%lld chain_job_id=%s stage=%s reason=%s", (long long)j->id,
             j->chain_id_hex, stage, buf_cstr(&j->msg));
}

static void job_skip(struct jobctx *j, const char *why)
{
    atomic_fetch_add(&j->d->st.skipped, 1);
    LOG_INFO("job.skipped", "job_id=%lld chain_job_id=%s reason=%s detail=%s", (long long)j->id,
             j->chain_id_hex, why, buf_cstr(&j->msg));
}

/* After gateway call number *attempt (from 0) failed with e: when e is
 * transient (ERR_UNAVAILABLE, ERR_TIMEDOUT; with lagging, also ERR_PERM and
 * ERR_STATE: the job store has not seen our claim yet) and the backoff ends before
 * until_ns (CLOCK_MONOTONIC), log it, sleep the backoff, count the attempt,
 * empty msg and return 1 (try again); otherwise return 0 with msg intact.
 * With stop_aborts, a daemon told to stop gives up during the sleep. */
static int gw_retry(struct jobctx *j, enum err e, unsigned *attempt, uint64_t until_ns,
                    int stop_aborts, int lagging, const char *what)
{
    if (e != ERR_UNAVAILABLE && e != ERR_TIMEDOUT &&
        !(lagging && (e == ERR_PERM || e == ERR_STATE)))
        return 0;
    uint64_t wait_ms = (uint64_t)DAEMON_GW_RETRY_FIRST_MS << (*attempt < 5 ? *attempt : 5);
    if (wait_ms > DAEMON_GW_RETRY_MAX_MS)
        wait_ms = DAEMON_GW_RETRY_MAX_MS;
    uint64_t end = now_ns() + wait_ms * 1000000u;
    if (end >= until_ns)
        return 0;
    LOG_INFO("gateway.retry", "job_id=%lld what=%s attempt=%u wait_ms=%llu error=%s reason=%s",
             (long long)j->id, what, *attempt + 1, (unsigned long long)wait_ms, err_str(e),
             buf_cstr(&j->msg));
    for (uint64_t t = now_ns(); t < end; t = now_ns()) {
        uint64_t left = end - t < 100000000u ? end - t : 100000000u;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)left};
        (void)nanosleep(&ts, NULL);
        pthread_mutex_lock(&j->d->mu);
        int stop = j->d->stopping;
        pthread_mutex_unlock(&j->d->mu);
        if (stop && stop_aborts)
            return 0;
    }
    (*attempt)++;
    buf_reset(&j->msg);
    return 1;
}

static void on_progress(void *arg, unsigned percent)
{
    struct jobctx *j = arg;
    uint64_t t = now_ns();
    if (t - j->last_progress_ns < (uint64_t)DAEMON_PROGRESS_EVERY_MS * 1000000u)
        return;
    j->last_progress_ns = t;
    struct buf msg;
    buf_init(&msg, 1024);
    enum err e = gwc_put_progress(j->d->o->gateway, &j->d->key, j->id, percent, &msg);
    if (e != ERR_OK)
        LOG_WARN("job.progress_failed", "job_id=%lld percent=%u error=%s reason=%s",
                 (long long)j->id, percent, err_str(e), buf_cstr(&msg));
    else
        LOG_DEBUG("job.progress", "job_id=%lld percent=%u", (long long)j->id, percent);
    buf_release(&msg);
}

/* Step 1: is the job what the announcement says, and still to be had? */
static int check_on_chain(struct jobctx *j, const struct cand *c)
{
    struct escrow_job *cj = &j->chain;
    enum err e = escrow_get_job(j->d->esc, c->o.chain_job_id, cj, &j->msg);
    static const uint8_t zero[20];
    if (e != ERR_OK) {
        job_skip(j, "cannot read the job on chain");
        return 0;
    }
    if (memcmp(cj->client, zero, 20) == 0) {
        job_skip(j, "no such job on chain");
        return 0;
    }
    if (cj->status != ESCROW_OPEN) {
        /* Someone else got there first (or it ended): the quiet case. */
        atomic_fetch_add(&j->d->st.lost, 1);
        LOG_INFO("job.lost", "job_id=%lld chain_job_id=%s reason=%s chain_status=%d",
                 (long long)j->id, j->chain_id_hex, "no longer open on chain", (int)cj->status);
        return 0;
    }
    if (memcmp(cj->worker, j->d->key.addr, 20) == 0) {
        job_skip(j, "this worker's own claim lapsed on it; the escrow refuses a second claim");
        return 0;
    }
    if ((int64_t)cj->deadline <= (int64_t)time(NULL)) {
        job_skip(j, "deadline passed");
        return 0;
    }
    if (memcmp(cj->spec_hash, c->o.spec_sha256, 32) != 0) {
        job_skip(j, "spec hash on chain differs from the announcement");
        return 0;
    }
    if ((long long)cj->price_cents < j->d->o->min_price_usd_cents) {
        job_skip(j, "price on chain below the minimum");
        return 0;
    }
    return 1;
}

/* Step 2: the spec, requested before step 1 against the announced hash
 * (step 1 checked that the chain's is the same), read now, decoded and
 * sized. Keeps the text in j->spec_text for the job folder. */
static int fetch_spec(struct jobctx *j, const struct cand *c)
{
    char errbuf[JOBSPEC_ERR_MAX];
    unsigned attempt = 0;
    uint64_t until = now_ns() + (uint64_t)DAEMON_SPEC_RETRY_MS * 1000000u;
    (void)c;
    enum err e = j->fetch_err;
    if (e == ERR_OK) {
        struct gwc_fetch *f = j->fetch;
        j->fetch = NULL; /* gwc_fetch_finish() frees it */
        e = gwc_fetch_finish(f, &j->spec_text, &j->spec_len, &j->fetch_msg);
    }
    if (e != ERR_OK)
        msg_addf(&j->msg, "%s", buf_cstr(&j->fetch_msg));
    /* That request went once; a gateway down for a moment is tried again here. */
    while (gw_retry(j, e, &attempt, until, 1, 0, "job.json")) {
        free(j->spec_text);
        j->spec_text = NULL;
        e = gwc_fetch(j->d->o->gateway, j->id, "job.json", j->chain.spec_hash,
                      JOBSPEC_MAX_JSON_BYTES, &j->spec_text, &j->spec_len, &j->msg);
    }
    if (e != ERR_OK) {
        job_skip(j, "cannot fetch job.json");
        return 0;
    }
    e = jobspec_decode(j->spec_text, j->spec_len, &j->spec, errbuf);
    if (e != ERR_OK) {
        msg_addf(&j->msg, "%s", errbuf);
        job_skip(j, "job.json does not decode");
        return 0;
    }
    if (j->spec->kind == JOBSPEC_OPENCL && j->d->o->device_mem_bytes > 0) {
        unsigned long long need = 0;
        for (size_t i = 0; i < j->spec->u.opencl.n_args; i++) {
            const struct jobspec_arg *a = &j->spec->u.opencl.args[i];
            if (a->type == JOBSPEC_ARG_OUT)
                need += a->size_bytes;
        }
        if (need > (unsigned long long)j->d->o->device_mem_bytes) {
            msg_addf(&j->msg, "output buffers need %llu bytes, %lld offered", need,
                     j->d->o->device_mem_bytes);
            job_skip(j, "needs more device memory than offered");
            return 0;
        }
    }
    return 1;
}

/* Step 3: claim. Returns 1 when this worker holds the claim. */
static int claim(struct jobctx *j, const struct cand *c, uint64_t picked_ns)
{
    struct daemon *d = j->d;
    uint8_t tx[32];
    char tx_hex[67];
    struct escrow_receipt r;
    struct escrow_sent sent;
    enum err e = escrow_claim(d->esc, c->o.chain_job_id, tx, &sent, &j->msg);
    if (e == ERR_STATE) {
        atomic_fetch_add(&d->st.lost, 1);
        LOG_INFO("job.lost", "job_id=%lld chain_job_id=%s reason=%s detail=%s", (long long)j->id,
                 j->chain_id_hex, "claim would revert", buf_cstr(&j->msg));
        return 0;
    }
    if (e != ERR_OK) {
        atomic_fetch_add(&d->st.failed, 1);
        LOG_ERROR("job.claim_failed", "job_id=%lld chain_job_id=%s error=%s reason=%s",
                  (long long)j->id, j->chain_id_hex, err_str(e), buf_cstr(&j->msg));
        return 0;
    }
    /* Two figures: the dispatch latency proper, feed message to the claim
     * written to the node's connection ("sent", issue 8's measure), and feed
     * message to the node's acceptance (anvil with automine mines it before
     * answering, so that one includes the block). */
    double latency_s = (double)(sent.sent_ns - c->recv_ns) / 1e9;
    double accepted_s = (double)(sent.accepted_ns - c->recv_ns) / 1e9;
    pthread_mutex_lock(&d->mu);
    if (d->n_lat < DAEMON_LAT_MAX) {
        d->lat[d->n_lat] = latency_s;
        d->lat_acc[d->n_lat++] = accepted_s;
    }
    pthread_mutex_unlock(&d->mu);
    atomic_fetch_add(&d->st.claimed, 1);
    hex_encode(tx, 32, true, tx_hex);
    /* The breakdown: waiting in the queue, getJob, job.json (what was still
     * to wait for after getJob), sign and write the claim; then the node's
     * answer. */
    LOG_INFO("job.claim_sent",
             "job_id=%lld chain_job_id=%s tx=%s dispatch_us=%lld accepted_us=%lld queued_us=%lld "
             "check_us=%lld spec_us=%lld send_us=%lld answer_us=%lld",
             (long long)j->id, j->chain_id_hex, tx_hex, (long long)(latency_s * 1e6),
             (long long)(accepted_s * 1e6), (long long)(picked_ns - c->recv_ns) / 1000,
             (long long)(j->checked_ns - picked_ns) / 1000,
             (long long)(j->spec_ns - j->checked_ns) / 1000,
             (long long)(sent.sent_ns - j->spec_ns) / 1000,
             (long long)(sent.accepted_ns - sent.sent_ns) / 1000);
    e = escrow_wait(d->esc, tx, DAEMON_TX_WAIT_MS, &r, &j->msg);
    if (e != ERR_OK) {
        atomic_fetch_add(&d->st.failed, 1);
        LOG_ERROR("job.claim_failed", "job_id=%lld chain_job_id=%s tx=%s error=%s reason=%s",
                  (long long)j->id, j->chain_id_hex, tx_hex, err_str(e), buf_cstr(&j->msg));
        return 0;
    }
    if (r.status != 1) {
        atomic_fetch_add(&d->st.lost, 1);
        LOG_INFO("job.lost", "job_id=%lld chain_job_id=%s reason=%s tx=%s", (long long)j->id,
                 j->chain_id_hex, "claim reverted", tx_hex);
        return 0;
    }
    chainhead_poke(d->head); /* our block moved the head */
    uint64_t max_ns = (uint64_t)j->chain.max_runtime * 1000000000u;
    j->retry_until_ns = now_ns() + max_ns - max_ns / DAEMON_SUBMIT_MARGIN_DIV;
    LOG_INFO("job.claimed", "job_id=%lld chain_job_id=%s tx=%s block=%llu", (long long)j->id,
             j->chain_id_hex, tx_hex, (unsigned long long)r.block_number);
    return 1;
}

/* Steps 4-6, once the claim is ours. */
static void run_claimed(struct jobctx *j)
{
    struct daemon *d = j->d;
    const struct daemon_opts *o = d->o;
    struct runner_result res;
    runner_result_init(&res);
    enum err e = ERR_OK;
    for (size_t i = 0; i < j->spec->n_inputs; i++) {
        const struct jobspec_input *in = &j->spec->inputs[i];
        unsigned attempt = 0;
        do
            e = gwc_download(o->gateway, j->id, in->name, buf_cstr(&j->in_dir), in->sha256,
                             (uint64_t)1 << 32, &j->msg);
        while (gw_retry(j, e, &attempt, j->retry_until_ns, 0, 0, "input"));
        if (e != ERR_OK) {
            job_fail(j, "job.failed", "inputs");
            goto out;
        }
    }
    long long max_ms = (long long)j->chain.max_runtime * 1000;
    long long reserve = max_ms / 5 < DAEMON_RESERVE_MAX_MS ? max_ms / 5 : DAEMON_RESERVE_MAX_MS;
    long long wall_ms = max_ms - reserve;
    if (wall_ms > o->max_runtime_ms)
        wall_ms = o->max_runtime_ms;
    if (wall_ms < 100)
        wall_ms = 100;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    struct runner_opts ro = {
        .exe = o->exe,
        .spec_path = buf_cstr(&j->spec_path),
        .files_dir = buf_cstr(&j->in_dir),
        .out_dir = buf_cstr(&j->out_dir),
        .cl_platform = o->cl_platform,
        .cl_device = o->cl_device,
        .wall_ms = wall_ms,
        .cpu_seconds =
            o->cpu_seconds ? o->cpu_seconds : (wall_ms / 1000 + 1) * (cores > 0 ? cores : 1),
        .mem_bytes = o->mem_bytes,
        .seccomp = o->seccomp,
        .job_id = j->id,
    };
    LOG_INFO("job.start", "job_id=%lld chain_job_id=%s kind=%s wall_ms=%lld", (long long)j->id,
             j->chain_id_hex, jobspec_kind_name(j->spec->kind), wall_ms);
    j->last_progress_ns = 0;
    on_progress(j, 0);
    if ((e = runner_run(&ro, on_progress, j, &res)) != ERR_OK) {
        msg_addf(&j->msg, "%s: %s", err_str(e), buf_cstr(&res.reason));
        job_fail(j, "job.failed", "run");
        goto out;
    }
    if (res.status != RUNNER_OK) {
        msg_addf(&j->msg, "%s: %s", runner_status_name(res.status), buf_cstr(&res.reason));
        job_fail(j, "job.failed", "run");
        goto out;
    }
    j->last_progress_ns = 0;
    on_progress(j, 100);
    uint64_t size = 0;
    unsigned char sha[32];
    char sha_hex[67], tx_hex[67];
    uint8_t tx[32];
    struct escrow_receipt r;
    if ((e = bundle_write(buf_cstr(&j->out_dir), &res.files, buf_cstr(&j->bundle_path), &size, sha,
                          &j->msg)) != ERR_OK) {
        job_fail(j, "job.failed", "bundle");
        goto out;
    }
    hex_encode(sha, 32, true, sha_hex);
    unsigned attempt = 0;
    do
        e = gwc_post_result(o->gateway, &d->key, j->id, buf_cstr(&j->bundle_path), size, sha,
                            &j->msg);
    while (gw_retry(j, e, &attempt, j->retry_until_ns, 0, 1, "result"));
    if (e != ERR_OK) {
        job_fail(j, "job.failed", "upload");
        goto out;
    }
    LOG_INFO("job.uploaded", "job_id=%lld chain_job_id=%s result_sha256=%s size_bytes=%llu",
             (long long)j->id, j->chain_id_hex, sha_hex, (unsigned long long)size);
    if ((e = escrow_submit(d->esc, j->chain_job_id, sha, tx, &j->msg)) != ERR_OK) {
        job_fail(j, "job.failed", "submit");
        goto out;
    }
    hex_encode(tx, 32, true, tx_hex);
    if ((e = escrow_wait(d->esc, tx, DAEMON_TX_WAIT_MS, &r, &j->msg)) != ERR_OK) {
        job_fail(j, "job.failed", "submit");
        goto out;
    }
    if (r.status != 1) {
        msg_addf(&j->msg, "submit %s reverted (claim lapsed?)", tx_hex);
        job_fail(j, "job.failed", "submit");
        goto out;
    }
    chainhead_poke(d->head);
    atomic_fetch_add(&d->st.completed, 1);
    LOG_INFO("job.submitted", "job_id=%lld chain_job_id=%s result_sha256=%s tx=%s block=%llu",
             (long long)j->id, j->chain_id_hex, sha_hex, tx_hex,
             (unsigned long long)r.block_number);
out:
    runner_result_release(&res);
}

static void maybe_withdraw(struct daemon *d)
{
    struct u256 bal;
    struct buf msg;
    uint8_t tx[32];
    char tx_hex[67], wei[U256_DEC_MAX], fee[U256_DEC_MAX];
    struct escrow_receipt r;
    if (u256_is_zero(d->threshold_wei))
        return;
    buf_init(&msg, 2048);
    enum err e = escrow_balance_of(d->esc, d->key.addr, &bal, &msg);
    if (e == ERR_OK && u256_cmp(bal, d->threshold_wei) >= 0) {
        u256_to_dec(bal, wei);
        e = escrow_withdraw(d->esc, tx, &msg);
        if (e == ERR_OK)
            e = escrow_wait(d->esc, tx, DAEMON_TX_WAIT_MS, &r, &msg);
        if (e == ERR_OK && r.status != 1) {
            msg_addf(&msg, "%s", "withdraw reverted");
            e = ERR_STATE;
        }
        if (e == ERR_OK) {
            hex_encode(tx, 32, true, tx_hex);
            u256_to_dec(r.fee_wei, fee);
            LOG_INFO("withdraw.done", "amount_wei=%s fee_wei=%s tx=%s", wei, fee, tx_hex);
        }
    }
    if (e != ERR_OK)
        LOG_WARN("withdraw.failed", "error=%s reason=%s", err_str(e), buf_cstr(&msg));
    buf_release(&msg);
}

/* The folders of one job: <work>/<job id>/{job.json,in/,out/,result.tar}. */
static enum err job_dirs(struct jobctx *j)
{
    const char *w = j->d->o->work_dir;
    enum err e;
    if ((e = buf_appendf(&j->dir, "%s/%lld", w, (long long)j->id)) != ERR_OK ||
        (e = buf_appendf(&j->in_dir, "%s/in", buf_cstr(&j->dir))) != ERR_OK ||
        (e = buf_appendf(&j->out_dir, "%s/out", buf_cstr(&j->dir))) != ERR_OK ||
        (e = buf_appendf(&j->spec_path, "%s/job.json", buf_cstr(&j->dir))) != ERR_OK ||
        (e = buf_appendf(&j->bundle_path, "%s/result.tar", buf_cstr(&j->dir))) != ERR_OK)
        return e;
    rm_tree(buf_cstr(&j->dir));
    if (mkdir(buf_cstr(&j->dir), 0700) == -1 || mkdir(buf_cstr(&j->in_dir), 0700) == -1 ||
        mkdir(buf_cstr(&j->out_dir), 0700) == -1) {
        msg_addf(&j->msg, "cannot make the job folder under \"%s\": %s", w, strerror(errno));
        return ERR_IO;
    }
    return jobfiles_write(buf_cstr(&j->dir), "job.json", j->spec_text, j->spec_len, &j->msg);
}

static void process(struct daemon *d, const struct cand *c)
{
    struct jobctx j = {.d = d, .id = c->o.job_id};
    memcpy(j.chain_job_id, c->o.chain_job_id, 32);
    hex_encode(c->o.chain_job_id, 32, true, j.chain_id_hex);
    buf_init(&j.dir, 8192);
    buf_init(&j.in_dir, 8192);
    buf_init(&j.out_dir, 8192);
    buf_init(&j.spec_path, 8192);
    buf_init(&j.bundle_path, 8192);
    buf_init(&j.msg, 8192);
    uint64_t picked_ns = now_ns();
    /* job.json is requested from the gateway first and read after getJob:
     * the gateway answers while the node does, into the socket, and no
     * other thread has to be woken for it. */
    buf_init(&j.fetch_msg, 8192);
    j.fetch_err = gwc_fetch_start(d->o->gateway, j.id, "job.json", c->o.spec_sha256,
                                  JOBSPEC_MAX_JSON_BYTES, &j.fetch, &j.fetch_msg);
    /* The fees the chainhead thread read ahead: the claim needs no round
     * trip but getJob. */
    struct chainhead_fees f;
    chainhead_get(d->head, &f);
    escrow_set_fees(d->esc, f.base_fee_wei, f.tip_wei, f.read_ns);
    if (!check_on_chain(&j, c))
        goto out; /* gwc_fetch_free() below drops the request */
    j.checked_ns = now_ns();
    if (!fetch_spec(&j, c))
        goto out;
    j.spec_ns = now_ns();
    if (!claim(&j, c, picked_ns))
        goto out;
    /* The claim is ours: only now the job folder (not on the dispatch path). */
    if (job_dirs(&j) != ERR_OK)
        job_fail(&j, "job.failed", "work folder");
    else
        run_claimed(&j);
    rm_tree(buf_cstr(&j.dir));
out:
    gwc_fetch_free(j.fetch);
    buf_release(&j.fetch_msg);
    free(j.spec_text);
    jobspec_free(j.spec);
    buf_release(&j.msg);
    buf_release(&j.bundle_path);
    buf_release(&j.spec_path);
    buf_release(&j.out_dir);
    buf_release(&j.in_dir);
    buf_release(&j.dir);
}

/*
 * The loop's owner. One event base, run by one thread at a time (libevent's
 * rule): the main thread while the job thread is busy, the job thread
 * itself while it is idle. A job.open then reaches the thread that will
 * claim it directly, in its own on_feed() call, instead of through the main
 * thread and a wake-up of the job thread: on a loaded host every wake-up
 * waits for a time slice (the "queue" step of bench_dispatch.sh: 10-20 ms
 * at p90-p99 under a load of 8-11 on 2 cores). Hand-overs happen when the
 * job thread becomes idle and when it has a job, off the dispatch path.
 * The feed's bus endpoint, the metrics listener and feedwatch are thus used
 * by two threads, never at once: each hand-over goes through mu, which
 * orders the one thread's use before the other's.
 */

/* Main thread, in its loop: the job thread asked for the loop. */
static void on_handover(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&d->mu);
    int give = d->loop_owner == LOOP_JOB;
    pthread_mutex_unlock(&d->mu);
    if (give)
        event_base_loopbreak(d->base);
}

/* Main thread: run the loop whenever the job thread does not, until stop. */
static int main_loop(struct daemon *d)
{
    int rc = 0;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        while (!d->stopping && d->loop_owner != LOOP_MAIN)
            pthread_cond_wait(&d->loop_cv, &d->mu);
        if (d->stopping)
            break;
        d->main_in_loop = 1;
        pthread_mutex_unlock(&d->mu);
        rc = event_base_loop(d->base, 0);
        pthread_mutex_lock(&d->mu);
        d->main_in_loop = 0;
        pthread_cond_broadcast(&d->loop_cv);
        if (rc == -1)
            break;
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

/* Job thread, idle: run the loop itself until there is work or a stop.
 * Returns with the loop given back to the main thread. */
static void idle_loop(struct daemon *d)
{
    pthread_mutex_lock(&d->mu);
    d->loop_owner = LOOP_JOB;
    pthread_mutex_unlock(&d->mu);
    /* event_active() rather than event_base_loopbreak(): a break asked for
     * just before the main thread enters the loop would be lost, an active
     * event is not. */
    event_active(d->ev_handover, EV_TIMEOUT, 0);
    pthread_mutex_lock(&d->mu);
    /* A job that the main thread queues meanwhile ends the wait too: the job
     * thread then takes it at once and leaves the loop where it is. */
    while (!d->stopping && d->main_in_loop && d->n_queue == 0 && d->resync == NULL)
        pthread_cond_wait(&d->loop_cv, &d->mu);
    for (;;) {
        int ready = d->stopping || d->n_queue > 0 || d->resync != NULL;
        pthread_mutex_unlock(&d->mu);
        /* Every change to what `ready` reads comes from a callback of this
         * loop (on_feed, on_heartbeat, on_signal) while this thread holds
         * it, so EVLOOP_ONCE returns after it. */
        if (ready || event_base_loop(d->base, EVLOOP_ONCE) == -1) {
            pthread_mutex_lock(&d->mu);
            break;
        }
        pthread_mutex_lock(&d->mu);
    }
    d->loop_owner = LOOP_MAIN;
    pthread_cond_broadcast(&d->loop_cv);
    pthread_mutex_unlock(&d->mu);
}

static void take_snapshot(struct daemon *d)
{
    for (int t = 0; t < PROTO_JOB_TYPE__COUNT; t++) {
        if (!(d->types_mask & (1u << t)))
            continue;
        struct proto_feed_open *jobs = NULL;
        size_t n = 0, skipped = 0;
        struct buf msg;
        buf_init(&msg, 2048);
        enum err e =
            gwc_snapshot(d->o->gateway, proto_job_type_names[t], &jobs, &n, &skipped, &msg);
        if (e != ERR_OK) {
            LOG_WARN("snapshot.failed", "type=%s error=%s reason=%s", proto_job_type_names[t],
                     err_str(e), buf_cstr(&msg));
        } else {
            uint64_t t_ns = now_ns();
            for (size_t i = 0; i < n; i++)
                if (wanted(d, &jobs[i]))
                    enqueue(d, &jobs[i], t_ns);
            LOG_INFO("snapshot.taken", "type=%s jobs=%zu without_chain_id=%zu",
                     proto_job_type_names[t], n, skipped);
        }
        free(jobs);
        buf_release(&msg);
    }
}

static void *job_thread(void *arg)
{
    struct daemon *d = arg;
    struct timespec until;
    /* The start-up snapshot waits for the first heartbeat (or gives up after
     * DAEMON_FIRST_HEARTBEAT_WAIT_MS): taken once the feed is connected, it
     * and the feed together miss nothing. */
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += DAEMON_FIRST_HEARTBEAT_WAIT_MS / 1000;
    until.tv_nsec += DAEMON_FIRST_HEARTBEAT_WAIT_MS % 1000 * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&d->mu);
    while (!d->stopping && !d->feed_up &&
           pthread_cond_timedwait(&d->cv, &d->mu, &until) != ETIMEDOUT)
        ;
    int up = d->feed_up;
    d->resync = NULL; /* the snapshot below covers it */
    pthread_mutex_unlock(&d->mu);
    if (!up)
        LOG_WARN("feed.no_heartbeat", "waited_ms=%d detail=%s", DAEMON_FIRST_HEARTBEAT_WAIT_MS,
                 "no heartbeat yet: snapshot taken anyway; reconnects cannot be detected until one "
                 "comes");
    take_snapshot(d);
    maybe_withdraw(d);
    for (;;) {
        struct cand c;
        pthread_mutex_lock(&d->mu);
        while (!d->stopping && d->n_queue == 0 && d->resync == NULL) {
            pthread_mutex_unlock(&d->mu);
            idle_loop(d);
            pthread_mutex_lock(&d->mu);
        }
        if (d->stopping) {
            pthread_mutex_unlock(&d->mu);
            break;
        }
        if (d->resync != NULL) {
            const char *why = d->resync;
            d->resync = NULL;
            pthread_mutex_unlock(&d->mu);
            LOG_INFO("snapshot.resync", "reason=%s", why);
            take_snapshot(d);
            continue;
        }
        c = d->queue[0];
        memmove(&d->queue[0], &d->queue[1], (d->n_queue - 1) * sizeof(d->queue[0]));
        d->n_queue--;
        d->current_job = c.o.job_id;
        pthread_mutex_unlock(&d->mu);
        process(d, &c);
        maybe_withdraw(d);
        pthread_mutex_lock(&d->mu);
        d->current_job = 0;
        pthread_mutex_unlock(&d->mu);
    }
    return NULL;
}

/* ---- start-up ------------------------------------------------------------- */

static enum err read_small_file(const char *path, char **out, size_t *len)
{
    struct buf b;
    char chunk[4096];
    buf_init(&b, (size_t)4 << 20);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return errno == ENOENT ? ERR_NOTFOUND : ERR_IO;
    enum err e = ERR_OK;
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r == -1 && errno == EINTR)
            continue;
        if (r < 0)
            e = ERR_IO;
        if (r <= 0 || (e = buf_append(&b, chunk, (size_t)r)) != ERR_OK)
            break;
    }
    close(fd);
    if (e != ERR_OK) {
        buf_release(&b);
        return e;
    }
    *out = buf_detach(&b, len);
    return *out ? ERR_OK : ERR_NOMEM;
}

/* Read the key, the deployment and the settings every mode needs, and
 * connect to the chain. Prints what is wrong and returns a sysexits code. */
static int setup(struct daemon *d, const struct daemon_opts *o)
{
    struct buf why;
    char *text = NULL;
    size_t len = 0;
    struct cJSON *doc = NULL;
    struct json_err je;
    int64_t chain = 0;
    int rc = EX_CONFIG;
    buf_init(&why, 2048);
    json_err_init(&je);
    d->o = o;
    if (o->key_file == NULL || o->key_file[0] == '\0') {
        fprintf(stderr, "loom-worker: set key_file (LOOM_KEY_FILE), a 0600 file with the key\n");
        goto out;
    }
    if (key_load_file(o->key_file, &d->key, &why) != ERR_OK) {
        fprintf(stderr, "loom-worker: %s\n", buf_cstr(&why));
        goto out;
    }
    hex_encode(d->key.addr, 20, true, d->addr_hex);
    enum err e = read_small_file(o->deployment, &text, &len);
    if (e != ERR_OK) {
        fprintf(stderr, "loom-worker: cannot read deployment \"%s\": %s\n", o->deployment,
                err_str(e));
        goto out;
    }
    if (json_parse(text, len, (size_t)4 << 20, 32, &doc, &je) != ERR_OK ||
        json_get_int(doc, "chainId", JSON_REQUIRED, 1, JSON_INT_MAX, &chain, &je) != ERR_OK ||
        json_get_addr(doc, "escrow", JSON_REQUIRED, d->escrow_addr, &je) != ERR_OK) {
        fprintf(stderr, "loom-worker: deployment \"%s\": %s: %s\n", o->deployment, je.path,
                je.message);
        goto out;
    }
    d->chain_id = (uint64_t)chain;
    if (u256_parse_dec(o->withdraw_threshold_wei, &d->threshold_wei) != ERR_OK) {
        fprintf(stderr, "loom-worker: withdraw_threshold_wei \"%s\" is not a decimal wei amount\n",
                o->withdraw_threshold_wei);
        goto out;
    }
    if (escrow_new(o->rpc_url, d->escrow_addr, d->chain_id, &d->key, &d->esc, &why) != ERR_OK) {
        fprintf(stderr, "loom-worker: cannot use the chain at \"%s\": %s\n", o->rpc_url,
                buf_cstr(&why));
        rc = EX_UNAVAILABLE;
        goto out;
    }
    rc = EX_OK;
out:
    json_free(doc);
    free(text);
    buf_release(&why);
    return rc;
}

static void teardown(struct daemon *d)
{
    escrow_free(d->esc);
    key_wipe(&d->key);
}

int daemon_withdraw(const struct daemon_opts *o)
{
    struct daemon *d = calloc(1, sizeof(*d));
    struct buf msg;
    struct u256 bal;
    uint8_t tx[32];
    char tx_hex[67] = "", wei[U256_DEC_MAX], fee[U256_DEC_MAX] = "0";
    struct escrow_receipt r;
    if (d == NULL)
        return EX_OSERR;
    buf_init(&msg, 2048);
    int rc = setup(d, o);
    if (rc != EX_OK)
        goto out;
    rc = EX_UNAVAILABLE;
    if (escrow_balance_of(d->esc, d->key.addr, &bal, &msg) != ERR_OK)
        goto fail;
    u256_to_dec(bal, wei);
    if (!u256_is_zero(bal)) {
        if (escrow_withdraw(d->esc, tx, &msg) != ERR_OK ||
            escrow_wait(d->esc, tx, DAEMON_TX_WAIT_MS, &r, &msg) != ERR_OK)
            goto fail;
        hex_encode(tx, 32, true, tx_hex);
        if (r.status != 1) {
            msg_addf(&msg, "withdraw %s reverted", tx_hex);
            rc = EX_SOFTWARE;
            goto fail;
        }
        u256_to_dec(r.fee_wei, fee);
        LOG_INFO("withdraw.done", "amount_wei=%s fee_wei=%s tx=%s", wei, fee, tx_hex);
    }
    printf("{\"withdrawn_wei\":\"%s\",\"fee_wei\":\"%s\",\"tx\":%s%s%s}\n", wei, fee,
           tx_hex[0] ? "\"" : "", tx_hex[0] ? tx_hex : "null", tx_hex[0] ? "\"" : "");
    rc = EX_OK;
    goto out;
fail:
    fprintf(stderr, "loom-worker: cannot withdraw: %s\n", buf_cstr(&msg));
out:
    teardown(d);
    buf_release(&msg);
    free(d);
    return rc;
}

static int parse_types(struct daemon *d, const char *types)
{
    const char *p = types;
    while (*p) {
        size_t n = strcspn(p, ",");
        int found = 0;
        for (int t = 0; t < PROTO_JOB_TYPE__COUNT; t++) {
            if (strlen(proto_job_type_names[t]) == n &&
                strncmp(p, proto_job_type_names[t], n) == 0) {
                d->types_mask |= 1u << t;
                found = 1;
            }
        }
        if (!found)
            return 0;
        p += n + (p[n] == ',');
    }
    return d->types_mask != 0;
}

/* The fees' reader (chainhead.h): a reading now, then one a second. */
static int start_head(struct daemon *d)
{
    struct buf why;
    buf_init(&why, 2048);
    enum err e = chainhead_start(d->o->rpc_url, DAEMON_HEAD_INTERVAL_MS, &d->head, &why);
    if (e != ERR_OK)
        fprintf(stderr, "loom-worker: cannot read the chain's head at \"%s\": %s: %s\n",
                d->o->rpc_url, err_str(e), buf_cstr(&why));
    buf_release(&why);
    return e == ERR_OK ? EX_OK : e == ERR_PROTO ? EX_CONFIG : EX_UNAVAILABLE;
}

static int start_loop(struct daemon *d)
{
    const struct daemon_opts *o = d->o;
    static const double bounds[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2};
    if (!parse_types(d, o->types)) {
        fprintf(stderr, "loom-worker: types \"%s\": want IA, GRAFICA or IA,GRAFICA\n", o->types);
        return EX_CONFIG;
    }
    if (mkdir(o->work_dir, 0700) == -1 && errno != EEXIST) {
        fprintf(stderr, "loom-worker: cannot make work folder \"%s\": %s\n", o->work_dir,
                strerror(errno));
        return EX_CANTCREAT;
    }
    if (evthread_use_pthreads() == -1 || (d->base = event_base_new()) == NULL ||
        metrics_new(&d->m) != ERR_OK ||
        metrics_counter_new(d->m, "loom_worker_jobs_seen_total",
                            "job announcements received (feed and snapshot)",
                            &d->s_seen) != ERR_OK ||
        metrics_counter_new(d->m, "loom_worker_jobs_claimed_total", "claim transactions sent",
                            &d->s_claimed) != ERR_OK ||
        metrics_counter_new(d->m, "loom_worker_jobs_lost_total",
                            "jobs another worker claimed first", &d->s_lost) != ERR_OK ||
        metrics_counter_new(d->m, "loom_worker_jobs_completed_total",
                            "jobs run, uploaded and submitted on chain",
                            &d->s_completed) != ERR_OK ||
        metrics_counter_new(d->m, "loom_worker_jobs_failed_total",
                            "claimed jobs that failed (inputs, run, upload, submit)",
                            &d->s_failed) != ERR_OK ||
        metrics_counter_new(d->m, "loom_worker_jobs_skipped_total",
                            "jobs not claimed: filtered, bad spec, checks on chain failed",
                            &d->s_skipped) != ERR_OK ||
        metrics_gauge_new(d->m, "loom_worker_busy", "1 while a job is in hand", &d->s_busy) !=
            ERR_OK ||
        metrics_histogram_new(d->m, "loom_worker_dispatch_seconds",
                              "feed message to claim transaction written to the node", bounds,
                              sizeof(bounds) / sizeof(bounds[0]), &d->s_dispatch) != ERR_OK ||
        metrics_histogram_new(d->m, "loom_worker_dispatch_accepted_seconds",
                              "feed message to claim transaction accepted by the node", bounds,
                              sizeof(bounds) / sizeof(bounds[0]), &d->s_dispatch_acc) != ERR_OK) {
        fprintf(stderr, "loom-worker: cannot set up the event loop or metrics\n");
        return EX_SOFTWARE;
    }
    metrics_on_collect(d->m, on_collect, d);
    if (o->metrics_listen[0] != '\0') {
        char *host = NULL;
        uint16_t port = 0;
        if (cfg_split_host_port(o->metrics_listen, &host, &port) != ERR_OK) {
            fprintf(stderr, "loom-worker: metrics_listen \"%s\": want host:port\n",
                    o->metrics_listen);
            return EX_CONFIG;
        }
        enum err started = metrics_http_start(d->base, host, port, d->m, &d->mh);
        free(host);
        if (started != ERR_OK) {
            fprintf(stderr, "loom-worker: cannot listen on \"%s\" for metrics\n",
                    o->metrics_listen);
            return EX_UNAVAILABLE;
        }
    }
    enum err e = bus_new(d->base, BUS_SUB, &d->sub);
    for (int t = 0; e == ERR_OK && t < PROTO_JOB_TYPE__COUNT; t++) {
        char topic[64];
        (void)snprintf(topic, sizeof(topic), "%s%s", PROTO_TOPIC_OPEN_PREFIX,
                       proto_job_type_names[t]);
        if (d->types_mask & (1u << t))
            e = bus_subscribe(d->sub, topic);
    }
    if (e == ERR_OK)
        e = bus_subscribe(d->sub, PROTO_TOPIC_CLOSED);
    if (e == ERR_OK)
        e = bus_subscribe(d->sub, PROTO_TOPIC_HEARTBEAT);
    if (e == ERR_OK)
        e = bus_on_message(d->sub, on_feed, d);
    if (e == ERR_OK)
        e = bus_connect(d->sub, o->feed);
    if (e != ERR_OK) {
        fprintf(stderr, "loom-worker: cannot subscribe to the feed \"%s\": %s\n", o->feed,
                err_str(e));
        return EX_UNAVAILABLE;
    }
    struct timeval tick = {0, DAEMON_FEED_TICK_MS * 1000};
    d->ev_tick = event_new(d->base, -1, EV_PERSIST, on_tick, d);
    d->ev_handover = event_new(d->base, -1, 0, on_handover, d);
    if (d->ev_tick == NULL || d->ev_handover == NULL || event_add(d->ev_tick, &tick) == -1) {
        fprintf(stderr, "loom-worker: cannot start the feed timer\n");
        return EX_SOFTWARE;
    }
    d->ev_term = evsignal_new(d->base, SIGTERM, on_signal, d);
    d->ev_int = evsignal_new(d->base, SIGINT, on_signal, d);
    if (d->ev_term == NULL || d->ev_int == NULL || evsignal_add(d->ev_term, NULL) == -1 ||
        evsignal_add(d->ev_int, NULL) == -1) {
        fprintf(stderr, "loom-worker: cannot install signal handlers\n");
        return EX_SOFTWARE;
    }
    return EX_OK;
}

int daemon_serve(const struct daemon_opts *o)
{
    struct daemon *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return EX_OSERR;
    pthread_condattr_t ca;
    pthread_mutex_init(&d->mu, NULL);
    pthread_condattr_init(&ca);
    (void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* job_thread's timed wait */
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&d->loop_cv, NULL);
    feedwatch_init(&d->fw);
    int rc = setup(d, o);
    if (rc == EX_OK)
        rc = start_head(d);
    if (rc == EX_OK)
        rc = start_loop(d);
    if (rc == EX_OK && pthread_create(&d->thread, NULL, job_thread, d) != 0) {
        fprintf(stderr, "loom-worker: cannot start the job thread\n");
        rc = EX_OSERR;
    }
    if (rc == EX_OK) {
        d->thread_started = 1;
        LOG_INFO("worker.start", "address=%s feed=%s gateway=%s types=%s metrics_port=%d",
                 d->addr_hex, o->feed, o->gateway, o->types,
                 d->mh ? (int)metrics_http_port(d->mh) : 0);
        if (main_loop(d) == -1)
            rc = EX_SOFTWARE;
        stop(d);
        pthread_join(d->thread, NULL);
        LOG_INFO("worker.stopped", "address=%s", d->addr_hex);
    }
    if (d->ev_tick)
        event_free(d->ev_tick);
    if (d->ev_handover)
        event_free(d->ev_handover);
    if (d->ev_term)
        event_free(d->ev_term);
    if (d->ev_int)
        event_free(d->ev_int);
    bus_free(d->sub);
    metrics_http_free(d->mh);
    metrics_free(d->m);
    if (d->base)
        event_base_free(d->base);
    chainhead_free(d->head);
    teardown(d);
    pthread_cond_destroy(&d->loop_cv);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
    return rc;
}
