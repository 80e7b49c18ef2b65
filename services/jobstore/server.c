/*
 * server -- REP requests through the work queue, replies and the feed from
 * the loop (see server.h).
 * SPDX-License-Identifier: MIT
 */
#include "server.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "bus.h"
#include "cmd.h"
#include "db.h"
#include "feedpub.h"
#include "jobdb.h"
#include "log.h"
#include "metrics.h"
#include "ops.h"
#include "workq.h"

/* nanomsg 1.1 has no linger (bus.h): after the last reply the loop keeps
 * running this long so the transport can hand it to the peer. */
#define FLUSH_DELAY_MS 200

/* Group commit defaults (server.h): 64 jobs per statement is past the
 * point where PostgreSQL's per-statement set-up stops mattering (measured
 * in docs/operators.md, "Group commit"); a second batch may run beside a
 * slow one (one that has taken create_overlap_ms), so one slow statement
 * does not hold every post. */
#define CREATE_BATCH_MAX_DEFAULT 64
#define CREATE_BATCHES_DEFAULT   2

/* Batch size buckets, jobs per statement. */
static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};

/* Latency buckets, seconds: from a cached primary-key read (~0.2 ms) to a
 * large indexer batch or a statement timeout (seconds). */
static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};

struct server {
    struct event_base *base;
    struct jobdb *db;
    struct metrics *m;
    struct server_config cfg;
    struct bus *rep;
    struct feedpub *feed;
    struct workq *wq;
    size_t in_flight;
    int draining;
    server_drained_fn drained_cb;
    void *drained_arg;
    struct event *drain_ev;
    int db_up;
    int probe_running;
    enum err probe_status;
    struct event *probe_ev;
    uint64_t malformed_seen;
    /* job.create requests waiting for a batch, oldest first */
    struct request *create_head, **create_tail;
    size_t creates_waiting;       /* length of that queue */
    struct create_batch *running; /* batches on the work queue, youngest first */
    struct event *overlap_ev;     /* starts a held-back batch once overdue */
    struct timespec overlap_for;  /* start of the batch overlap_ev is set for */
    int closing;                  /* server_free(): the work queue takes no more */
    /* metrics */
    struct metrics_family *requests, *durations;
    struct metrics_series *durations_by_cmd[PROTO_CMD__COUNT];
    struct metrics_series *in_flight_g, *db_up_g, *pool_idle_g, *pool_busy_g, *feed_errors,
        *malformed, *batch_sizes, *batch_overlaps;
};

/* One request's context: everything it owns, freed together. */
struct request {
    struct server *s;
    struct bus_reply *reply;
    struct proto_request req;
    struct ops_result res;
    int64_t now_at;
    struct timespec t0;
    struct request *next; /* in the server's create queue */
};

/* One group of job.create requests on the work queue. */
struct create_batch {
    struct server *s;
    struct create_batch *next;  /* in the server's running list */
    struct timespec started_at; /* when it went to the work queue */
    size_t n;
    struct request *reqs[]; /* n entries */
};

static double since(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void count(struct server *s, const char *cmd, enum err code)
{
    const char *values[2] = {cmd, code == ERR_OK ? "ok" : err_code(code)};
    struct metrics_series *series = NULL;

    /* Series are bounded: 12 command labels times the error codes. */
    if (metrics_series(s->requests, values, &series) == ERR_OK)
        metrics_inc(series);
}

/* Encode <rep> and send it on <reply>; the handle is consumed either way. */
static enum err send_reply(struct bus_reply *reply, const struct proto_reply *rep)
{
    struct buf out;
    size_t len;
    char *data;
    enum err e;

    buf_init(&out, BUS_MAX_MSG);
    e = proto_reply_encode(rep, &out, NULL);
    if (e != ERR_OK) {
        buf_release(&out);
        bus_reply_drop(reply);
        return e;
    }
    data = buf_detach(&out, &len);
    if (!data) {
        bus_reply_drop(reply);
        return ERR_NOMEM;
    }
    e = bus_reply_send(reply, data, len);
    if (e != ERR_OK) {
        free(data);
        bus_reply_drop(reply);
    }
    return e;
}

/* Answer at once with an error (refused or undecodable requests). */
static void reply_now(struct server *s, struct bus_reply *reply, enum err code, const char *path,
                      const char *why)
{
    struct proto_reply rep;
    enum err e;

    memset(&rep, 0, sizeof rep);
    /* An error reply names no command on the wire (cmd.h); any will do. */
    if (path && *path)
        ops_error(&rep, PROTO_CMD_JOB_GET, code, "bad request: %s: %s", path, why);
    else
        ops_error(&rep, PROTO_CMD_JOB_GET, code, "bad request: %s", why);
    e = send_reply(reply, &rep);
    if (e != ERR_OK)
        LOG_WARN("request.reply_failed", "error=%s", err_str(e));
    count(s, "invalid", code);
    proto_reply_release(&rep);
}

static void check_drained(struct server *s)
{
    struct timeval tv = {FLUSH_DELAY_MS / 1000, (FLUSH_DELAY_MS % 1000) * 1000};

    if (s->draining && s->in_flight == 0 && !s->probe_running && s->drain_ev &&
        !event_pending(s->drain_ev, EV_TIMEOUT, NULL))
        event_add(s->drain_ev, &tv);
}

static void on_drained(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;

    (void)fd, (void)what;
    LOG_INFO("server.drained", "published=%llu", (unsigned long long)feedpub_published(s->feed));
    if (s->drained_cb)
        s->drained_cb(s->drained_arg);
}

/* Follow the database's reachability from an outcome: success proves it
 * answers, ERR_UNAVAILABLE (connection lost, reset failed) that it does
 * not; anything else (a refusal, or a checkout timeout while slow queries
 * hold every connection) says nothing about it. */
static void note_db(struct server *s, enum err e)
{
    int up;

    if (e != ERR_OK && e != ERR_UNAVAILABLE)
        return;
    up = e == ERR_OK;
    if (up != s->db_up)
        LOG_AT(up ? LOG_LEVEL_INFO : LOG_LEVEL_ERROR, up ? "db.up" : "db.down", "cause=%s",
               err_str(e));
    s->db_up = up;
}

/* The job id of a feed message, for logs. */
static long long feed_job_id(const struct proto_feed *m)
{
    switch (m->kind) {
    case PROTO_FEED_OPEN:
        return (long long)m->u.open.job_id;
    case PROTO_FEED_PROGRESS:
        return (long long)m->u.progress.job_id;
    case PROTO_FEED_CLOSED:
        return (long long)m->u.closed.job_id;
    }
    return 0;
}

/* Pool thread: the blocking half. */
static void work(void *arg)
{
    struct request *r = arg;

    ops_run(r->s->db, &r->req, r->now_at, &r->res);
}

/* Loop thread: reply, publish, count, log. */
static void done(void *arg, enum err status)
{
    struct request *r = arg;
    struct server *s = r->s;
    const char *cmd = proto_cmd_names[r->req.cmd];
    const struct proto_reply *rep = &r->res.reply;
    enum err e, code;
    double secs;
    size_t i;

    if (status != ERR_OK) /* the pool stopped before it ran */
        ops_error(&r->res.reply, r->req.cmd, ERR_CANCELED, "cannot %s: shutting down", cmd);
    code = rep->ok ? ERR_OK : rep->error_code;
    note_db(s, code);
    e = send_reply(r->reply, rep);
    r->reply = NULL;
    /* Publish after replying: the requester's answer never waits on the feed. */
    for (i = 0; i < r->res.n_feed; i++) {
        enum err fe = feedpub_publish(s->feed, &r->res.feed[i]);
        if (fe != ERR_OK) {
            metrics_inc(s->feed_errors);
            LOG_ERROR("feed.publish_failed", "req_id=%s job_id=%lld error=%s", r->req.req_id,
                      feed_job_id(&r->res.feed[i]), err_str(fe));
        } else {
            LOG_DEBUG("feed.published", "req_id=%s job_id=%lld topic=%s", r->req.req_id,
                      feed_job_id(&r->res.feed[i]), proto_feed_topic(&r->res.feed[i]));
        }
    }
    secs = since(&r->t0);
    count(s, cmd, code);
    metrics_observe(s->durations_by_cmd[r->req.cmd], secs);
    if (e != ERR_OK)
        LOG_WARN("request.reply_failed", "req_id=%s cmd=%s job_id=%lld error=%s", r->req.req_id,
                 cmd, (long long)r->res.job_id, err_str(e));
    if (code == ERR_OK)
        LOG_DEBUG("request", "req_id=%s cmd=%s job_id=%lld ms=%.3f changes=%zu published=%zu",
                  r->req.req_id, cmd, (long long)r->res.job_id, secs * 1000, r->res.changes,
                  r->res.n_feed);
    else if (code == ERR_DB || code == ERR_UNAVAILABLE || code == ERR_TIMEDOUT ||
             code == ERR_NOMEM || code == ERR_CANCELED)
        LOG_ERROR("request.failed", "req_id=%s cmd=%s job_id=%lld code=%s message=%s db_error=%s",
                  r->req.req_id, cmd, (long long)r->res.job_id, err_code(code), rep->error_message,
                  buf_cstr(&r->res.db_error));
    else
        LOG_WARN("request.refused", "req_id=%s cmd=%s job_id=%lld code=%s message=%s",
                 r->req.req_id, cmd, (long long)r->res.job_id, err_code(code), rep->error_message);
    s->in_flight--;
    metrics_set(s->in_flight_g, (double)s->in_flight);
    ops_result_release(&r->res);
    proto_request_release(&r->req);
    free(r);
    check_drained(s);
}

/* Pool thread: a group of job.create requests, one statement. */
static void batch_work(void *arg)
{
    struct create_batch *b = arg;
    const struct proto_request *reqs[OPS_CREATE_BATCH_MAX];
    struct ops_result *outs[OPS_CREATE_BATCH_MAX];
    size_t i;

    for (i = 0; i < b->n; i++) {
        reqs[i] = &b->reqs[i]->req;
        outs[i] = &b->reqs[i]->res;
    }
    ops_run_creates(b->s->db, reqs, b->n, outs);
}

static void kick_creates(struct server *s);

/* How many batches are on the work queue (at most create_batches). */
static unsigned batches_running(const struct server *s)
{
    unsigned n = 0;

    for (const struct create_batch *b = s->running; b; b = b->next)
        n++;
    return n;
}

static void on_overlap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    kick_creates(arg);
}

/* May a further batch start while the batches on <s->running> (at least
 * one) are being written? Yes once the youngest of them has run create_overlap_ms (it is
 * slow: a lock wait, a long commit), or when a full batch is waiting (one
 * batch at a time cannot keep up); otherwise the timer is armed for the
 * moment it becomes overdue. While closing, always: the queue must drain. */
static int may_overlap(struct server *s)
{
    struct timeval tv;
    double left_s;

    if (s->closing || !s->overlap_ev || s->cfg.create_overlap_ms == 0 ||
        s->creates_waiting >= s->cfg.create_batch_max)
        return 1;
    left_s = (double)s->cfg.create_overlap_ms / 1000 - since(&s->running->started_at);
    /* Within a millisecond counts as overdue: libevent's clock is the
     * coarse monotonic one and may fire that much early. */
    if (left_s < 0.001)
        return 1;
    /* Re-arm when the youngest running batch is another than the one the
     * timer was set for (that one finished first). */
    if (!evtimer_pending(s->overlap_ev, NULL) ||
        s->overlap_for.tv_sec != s->running->started_at.tv_sec ||
        s->overlap_for.tv_nsec != s->running->started_at.tv_nsec) {
        long usec = (long)(left_s * 1e6) + 1;

        tv.tv_sec = (time_t)(usec / 1000000);
        tv.tv_usec = (suseconds_t)(usec % 1000000);
        if (evtimer_add(s->overlap_ev, &tv) == -1)
            return 1; /* no timer: do not hold the requests back */
        s->overlap_for = s->running->started_at;
    }
    return 0;
}

/* Loop thread: answer every request of the batch as done() answers one. */
static void batch_done(void *arg, enum err status)
{
    struct create_batch *b = arg, **p;
    struct server *s = b->s;
    size_t i;

    for (p = &s->running; *p != b; p = &(*p)->next)
        ;
    *p = b->next;
    for (i = 0; i < b->n; i++)
        done(b->reqs[i], status);
    free(b);
    kick_creates(s);
}

/* Start batches while fewer than create_batches run: each takes every
 * waiting job.create, up to create_batch_max. A lone request goes out at
 * once, and requests wait only while an earlier batch is being committed
 * (that wait is the gathering). A batch beyond the first starts only as
 * may_overlap() allows: on two shared cores two small batches at once cost
 * the database more per job than one larger one, and posted fewer jobs per
 * second (docs/operators.md, "Group commit"). */
static void kick_creates(struct server *s)
{
    struct create_batch *b;
    struct request *r;
    size_t n;

    while (s->create_head && batches_running(s) < s->cfg.create_batches) {
        if (s->running && !may_overlap(s))
            break;
        n = 0;
        for (r = s->create_head; r && n < s->cfg.create_batch_max; r = r->next)
            n++;
        b = s->closing ? NULL : malloc(sizeof *b + n * sizeof b->reqs[0]);
        if (!b) {
            /* Answer the oldest one now so the queue still drains. */
            r = s->create_head;
            s->create_head = r->next;
            if (!s->create_head)
                s->create_tail = &s->create_head;
            s->creates_waiting--;
            done(r, ERR_CANCELED);
            continue;
        }
        b->s = s;
        b->n = n;
        for (n = 0; n < b->n; n++) {
            b->reqs[n] = s->create_head;
            s->create_head = s->create_head->next;
        }
        if (!s->create_head)
            s->create_tail = &s->create_head;
        s->creates_waiting -= b->n;
        if (workq_submit(s->wq, batch_work, batch_done, b) != ERR_OK) {
            for (n = 0; n < b->n; n++)
                done(b->reqs[n], ERR_CANCELED);
            free(b);
            continue;
        }
        if (s->running)
            metrics_inc(s->batch_overlaps);
        clock_gettime(CLOCK_MONOTONIC, &b->started_at);
        b->next = s->running;
        s->running = b;
        metrics_observe(s->batch_sizes, (double)b->n);
    }
}

static void on_request(void *arg, struct bus_reply *reply, const void *data, size_t len)
{
    struct server *s = arg;
    struct json_err je;
    struct request *r;
    enum err e;

    if (s->draining) {
        reply_now(s, reply, ERR_UNAVAILABLE, NULL, "the job store is shutting down");
        return;
    }
    if (s->in_flight >= s->cfg.max_in_flight) {
        reply_now(s, reply, ERR_UNAVAILABLE, NULL, "too many requests in flight");
        return;
    }
    r = calloc(1, sizeof *r);
    if (!r) {
        reply_now(s, reply, ERR_NOMEM, NULL, "out of memory");
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    r->now_at = (int64_t)time(NULL);
    r->s = s;
    json_err_init(&je);
    e = proto_request_decode(data, len, &r->req, &je);
    if (e != ERR_OK) {
        LOG_WARN("request.malformed", "code=%s path=%s reason=%s", err_code(e), je.path,
                 je.message);
        reply_now(s, reply, e, je.path, je.message);
        free(r);
        return;
    }
    r->reply = reply;
    if (r->req.cmd == PROTO_CMD_JOB_CREATE) {
        /* Counted in flight first: kick_creates() may answer it at once. */
        s->in_flight++;
        metrics_set(s->in_flight_g, (double)s->in_flight);
        *s->create_tail = r;
        s->create_tail = &r->next;
        s->creates_waiting++;
        kick_creates(s);
        return;
    }
    e = workq_submit(s->wq, work, done, r);
    if (e != ERR_OK) {
        r->reply = NULL;
        reply_now(s, reply, e == ERR_STATE ? ERR_UNAVAILABLE : e, NULL, "cannot queue the request");
        proto_request_release(&r->req);
        free(r);
        return;
    }
    s->in_flight++;
    metrics_set(s->in_flight_g, (double)s->in_flight);
}

/* ---- health ------------------------------------------------------------ */

static void probe_work(void *arg)
{
    struct server *s = arg;

    s->probe_status = jobdb_ping(s->db); /* read back on the loop after the queue's lock */
}

static void probe_done(void *arg, enum err status)
{
    struct server *s = arg;

    s->probe_running = 0;
    if (status == ERR_OK)
        note_db(s, s->probe_status);
    check_drained(s);
}

static void on_probe(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;

    (void)fd, (void)what;
    if (s->probe_running || s->draining)
        return;
    if (workq_submit(s->wq, probe_work, probe_done, s) == ERR_OK)
        s->probe_running = 1;
}

/* Say why /health is 503; the reason is a courtesy, so a full buffer only
 * shortens it. */
static enum err unhealthy(struct buf *reason, const char *why)
{
    if (buf_append_str(reason, why) != ERR_OK)
        buf_reset(reason);
    return ERR_UNAVAILABLE;
}

static enum err health(void *arg, struct buf *reason)
{
    struct server *s = arg;

    if (s->draining)
        return unhealthy(reason, "shutting down");
    if (!s->db_up)
        return unhealthy(reason, "database unreachable");
    return ERR_OK;
}

static void collect(void *arg, struct metrics *m)
{
    struct server *s = arg;
    struct bus_stats st;
    size_t n = 0, idle = 0;

    (void)m;
    db_pool_stats(jobdb_pool(s->db), &n, &idle);
    metrics_set(s->pool_idle_g, (double)idle);
    metrics_set(s->pool_busy_g, (double)(n - idle));
    metrics_set(s->db_up_g, s->db_up ? 1 : 0);
    bus_stats(s->rep, &st);
    if (st.malformed > s->malformed_seen) {
        metrics_add(s->malformed, (double)(st.malformed - s->malformed_seen));
        s->malformed_seen = st.malformed;
    }
}

/* ---- life cycle ---------------------------------------------------------- */

static enum err make_metrics(struct server *s)
{
    static const char *const req_labels[] = {"cmd", "result"};
    static const char *const cmd_label[] = {"cmd"};
    static const char *const state_label[] = {"state"};
    static const char *const idle[] = {"idle"}, *const busy[] = {"busy"};
    struct metrics_family *pool = NULL;
    enum err e;
    int i;

    e = metrics_family_new(s->m, METRICS_COUNTER, "loom_jobstore_requests_total",
                           "Commands answered, by command and result (ok or the error code).",
                           req_labels, 2, NULL, 0, &s->requests);
    if (e == ERR_OK)
        e = metrics_family_new(s->m, METRICS_HISTOGRAM, "loom_jobstore_request_duration_seconds",
                               "Time from receiving a command to sending its reply.", cmd_label, 1,
                               latency_bounds, sizeof latency_bounds / sizeof *latency_bounds,
                               &s->durations);
    for (i = 0; e == ERR_OK && i < PROTO_CMD__COUNT; i++)
        e = metrics_series(s->durations, &proto_cmd_names[i], &s->durations_by_cmd[i]);
    if (e == ERR_OK)
        e = metrics_gauge_new(s->m, "loom_jobstore_requests_in_flight",
                              "Commands received and not yet answered.", &s->in_flight_g);
    if (e == ERR_OK)
        e = metrics_gauge_new(s->m, "loom_jobstore_db_up",
                              "1 while the database answers, 0 while it is unreachable.",
                              &s->db_up_g);
    if (e == ERR_OK)
        e = metrics_family_new(s->m, METRICS_GAUGE, "loom_jobstore_db_pool_connections",
                               "Database pool connections, idle or checked out.", state_label, 1,
                               NULL, 0, &pool);
    if (e == ERR_OK)
        e = metrics_series(pool, idle, &s->pool_idle_g);
    if (e == ERR_OK)
        e = metrics_series(pool, busy, &s->pool_busy_g);
    if (e == ERR_OK)
        e = metrics_counter_new(s->m, "loom_jobstore_feed_errors_total",
                                "Feed messages that could not be published.", &s->feed_errors);
    if (e == ERR_OK)
        e = metrics_counter_new(s->m, "loom_jobstore_bus_malformed_total",
                                "Frames the bus dropped as malformed.", &s->malformed);
    if (e == ERR_OK)
        e = metrics_histogram_new(s->m, "loom_jobstore_create_batch_jobs",
                                  "job.create requests written together (group commit).",
                                  batch_bounds, sizeof batch_bounds / sizeof *batch_bounds,
                                  &s->batch_sizes);
    if (e == ERR_OK)
        e = metrics_counter_new(s->m, "loom_jobstore_create_batch_overlaps_total",
                                "job.create batches started while another was being written.",
                                &s->batch_overlaps);
    return e;
}

enum err server_new(struct event_base *base, struct jobdb *db, struct metrics *m,
                    const struct server_config *cfg, struct server **out)
{
    struct timeval tv;
    struct server *s;
    enum err e;

    *out = NULL;
    if (!cfg->rep_addr || !cfg->pub_addr || cfg->max_in_flight < 1 || cfg->health_interval_ms <= 0)
        return ERR_INVAL;
    s = calloc(1, sizeof *s);
    if (!s)
        return ERR_NOMEM;
    s->base = base;
    s->db = db;
    s->m = m;
    s->cfg = *cfg;
    if (s->cfg.create_batch_max == 0)
        s->cfg.create_batch_max = CREATE_BATCH_MAX_DEFAULT;
    if (s->cfg.create_batches == 0)
        s->cfg.create_batches = CREATE_BATCHES_DEFAULT;
    if (s->cfg.create_batch_max > OPS_CREATE_BATCH_MAX) {
        free(s);
        return ERR_INVAL;
    }
    s->create_tail = &s->create_head;
    s->db_up = 1; /* jobdb_open() just connected and migrated */
    e = make_metrics(s);
    if (e == ERR_OK)
        e = workq_new(base, cfg->n_threads, &s->wq);
    if (e == ERR_OK)
        e = feedpub_new(base, cfg->pub_addr, m, &s->feed);
    if (e == ERR_OK)
        e = bus_new(base, BUS_REP, &s->rep);
    if (e == ERR_OK)
        e = bus_serve(s->rep, on_request, s);
    if (e == ERR_OK)
        e = bus_bind(s->rep, cfg->rep_addr);
    if (e == ERR_OK) {
        s->probe_ev = event_new(base, -1, EV_PERSIST, on_probe, s);
        s->drain_ev = evtimer_new(base, on_drained, s);
        s->overlap_ev = evtimer_new(base, on_overlap, s);
        tv.tv_sec = cfg->health_interval_ms / 1000;
        tv.tv_usec = (cfg->health_interval_ms % 1000) * 1000;
        if (!s->probe_ev || !s->drain_ev || !s->overlap_ev || event_add(s->probe_ev, &tv) == -1)
            e = ERR_NOMEM;
    }
    if (e != ERR_OK) {
        server_free(s);
        return e;
    }
    metrics_set_health(m, health, s);
    metrics_on_collect(m, collect, s);
    *out = s;
    return ERR_OK;
}

void server_drain(struct server *s, server_drained_fn cb, void *arg)
{
    s->draining = 1;
    s->drained_cb = cb;
    s->drained_arg = arg;
    LOG_INFO("server.draining", "in_flight=%zu", s->in_flight);
    check_drained(s);
}

size_t server_in_flight(const struct server *s)
{
    return s->in_flight;
}

void server_free(struct server *s)
{
    if (!s)
        return;
    s->draining = 1;
    s->drained_cb = NULL;
    if (s->m) {
        metrics_set_health(s->m, NULL, NULL);
        metrics_on_collect(s->m, NULL, NULL);
    }
    if (s->probe_ev)
        event_free(s->probe_ev);
    if (s->drain_ev)
        event_free(s->drain_ev);
    if (s->overlap_ev)
        event_free(s->overlap_ev);
    s->probe_ev = s->drain_ev = s->overlap_ev = NULL;
    /* Done callbacks run from here and reply on the still-open endpoint;
     * job.create requests still queued are answered as cancelled. */
    s->closing = 1;
    workq_free(s->wq);
    kick_creates(s);
    bus_free(s->rep);
    feedpub_free(s->feed);
    free(s);
}
