/*
 * gateway -- evhttp server, dispatch, handlers.
 * SPDX-License-Identifier: MIT
 */
#include "gateway.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "codec.h"
#include "digest.h"
#include "httperr.h"
#include "intake.h"
#include "jobcache.h"
#include "log.h"
#include "metrics.h"
#include "openapi.h"
#include "proto.h"
#include "ratelimit.h"
#include "routes.h"
#include "sse.h"
#include "store.h"
#include "workq.h"
#include "validate.h"
#include "mono.h"

/* Field caps (bytes): generous for humans, small for memory. */
#define TITLE_MAX       200
#define DESCRIPTION_MAX 10000
#define LINK_MAX        2000
#define SPEC_MAX        ((size_t)1 << 20)
/* Quotes: 10^12 cents (ten billion dollars) keeps the arithmetic under
 * 2^128. A job's price is capped lower, at PROTO_PRICE_CENTS_MAX. */
#define PRICE_MAX_CENTS 1000000000000LL
/* Threads committing new uploads (fsync, link, folder fsync; store.h), one
 * request's files per thread. Each commit waits milliseconds on the disk,
 * not the CPU: enough of them run at once that concurrent uploads share
 * journal commits and device cache flushes. (One thread committing many
 * requests' files in one group was measured slower: each further fsync
 * issues a cache flush of its own, one after the other; see docs/api.md,
 * "Uploads: durability and cost".) */
#define SYNC_THREADS 16
/* Most files one request commits: a multipart body has at most 64 parts. */
#define COMMIT_MAX 64

struct gateway {
    struct event_base *base;
    struct evhttp *http;
    struct gateway_config cfg;
    unsigned char session_key[64];
    size_t session_key_len;
    struct gw_backend be;
    struct store *store;
    struct intake *intake;
    struct intake_limits limits;
    struct ratelimit *rl;
    struct sse *sse;
    struct workq *sync;
    struct jobcache *cache;
    int closing; /* gateway_free runs: the backend is gone */
    int port;
    struct metrics *metrics;
    struct metrics_family *requests;                  /* {route, status} */
    struct metrics_series *latency[ROUTE__COUNT + 1]; /* last: unrouted */
    struct metrics_series *connections, *sse_clients, *sse_dropped, *upload_bytes, *rl_keys;
    uint64_t sse_dropped_seen;
    struct metrics_series *cache_hits, *cache_misses, *cache_entries;
    uint64_t cache_hits_seen, cache_misses_seen;
    struct metrics_series *commit_inline, *commit_synced;
};

/* One request's context: everything it allocated, freed by ctx_free. */
struct req_ctx {
    struct gateway *gw;
    struct evhttp_request *req;
    const struct route *route;
    struct route_params params;
    struct intake_body *body;
    const char *method;
    char *signer; /* authenticated address, heap */
    struct evkeyvalq query;
    int query_parsed;
    int close_connection;
    struct gw_file *files; /* files committed for this request */
    size_t n_files;
    struct store_writer **committed;
    size_t n_committed;
    /* Files being committed (commit_files()): each one's outcome, and the
     * new ones committed on a workq thread (sync_w[k] is
     * to_commit[sync_of[k]]). */
    struct store_writer *to_commit[COMMIT_MAX];
    const char *to_commit_name[COMMIT_MAX]; /* borrowed from the body or query */
    enum err commit_status[COMMIT_MAX];
    size_t n_to_commit;
    struct store_writer *sync_w[COMMIT_MAX];
    enum err sync_status[COMMIT_MAX];
    size_t sync_of[COMMIT_MAX];
    size_t n_sync;
    int commit_is_result;
    void (*after_commit)(struct req_ctx *c);
    struct codec_job_fields job_fields; /* create: kept across the commit */
    char *siwe_address;
    int64_t siwe_expires;
    struct timespec started; /* CLOCK_MONOTONIC when the handler got it */
    uint64_t cache_gen;      /* GET: jobcache_gen() before the backend read */
};

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static void ctx_free(struct req_ctx *c)
{
    buf_release(&c->params.name);
    intake_body_free(c->body); /* unlinks uncommitted uploads */
    free(c->signer);
    if (c->query_parsed)
        evhttp_clear_headers(&c->query);
    for (size_t i = 0; i < c->n_files; i++)
        gw_file_release(&c->files[i]);
    free(c->files);
    free(c->committed);
    codec_job_fields_release(&c->job_fields);
    free(c->siwe_address);
    free(c);
}

static void count(struct req_ctx *c, int status)
{
    size_t row = c->route ? (size_t)c->route->id : ROUTE__COUNT;
    char code[8];
    (void)snprintf(code, sizeof(code), "%d", status);
    const char *labels[2] = {row < ROUTE__COUNT ? routes_table[row].name : "none", code};
    struct metrics_series *s;
    /* Only a full series table fails; the request is still answered. */
    if (metrics_series(c->gw->requests, labels, &s) == ERR_OK)
        metrics_inc(s);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    metrics_observe(c->gw->latency[row], (double)(now.tv_sec - c->started.tv_sec) +
                                             (double)(now.tv_nsec - c->started.tv_nsec) / 1e9);
}

/* Send <status> with <body> (may be NULL) and free the context. */
static void reply(struct req_ctx *c, int status, const char *content_type, const char *body,
                  size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    if (content_type)
        evhttp_add_header(h, "Content-Type", content_type);
    if (c->close_connection)
        evhttp_add_header(h, "Connection", "close");
    struct evbuffer *out = evbuffer_new();
    if (out != NULL && body != NULL)
        evbuffer_add(out, body, len);
    count(c, status);
    evhttp_send_reply(c->req, status, NULL, out);
    if (out)
        evbuffer_free(out);
    ctx_free(c);
}

static void reply_buf(struct req_ctx *c, int status, const struct buf *b)
{
    reply(c, status, "application/json", b->data, b->len);
}

/* Reply with the JSON error for <code> (enum err or enum httperr_extra). */
static void reply_error(struct req_ctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply_error(struct req_ctx *c, int code, const char *fmt, ...)
{
    struct buf msg, body;
    buf_init(&msg, 1024);
    buf_init(&body, 4096);
    va_list ap;
    va_start(ap, fmt);
    if (buf_vappendf(&msg, fmt, ap) != ERR_OK)
        buf_reset(&msg);
    va_end(ap);
    int status = httperr_status(code);
    if (codec_error(httperr_code(code), buf_cstr(&msg), &body) != ERR_OK)
        buf_reset(&body);
    if (status >= 500)
        LOG_WARN("http.error", "method=%s uri=%s status=%d code=%s message=%s", c->method,
                 evhttp_request_get_uri(c->req), status, httperr_code(code), buf_cstr(&msg));
    reply(c, status, "application/json", body.data, body.len);
    buf_release(&body);
    buf_release(&msg);
}

/* A backend callback's error: its message, or err_str() when it has none. */
static void reply_backend_error(struct req_ctx *c, enum err e, const char *msg)
{
    reply_error(c, e, "%s", msg && *msg ? msg : err_str(e));
}

/* Reply <status> with the JSON body in <out> when <encoded> (the encoder's
 * result) is ERR_OK, else an error "cannot encode <what>"; release <out>. */
static void reply_encoded(struct req_ctx *c, int status, enum err encoded, struct buf *out,
                          const char *what)
{
    if (encoded != ERR_OK)
        reply_error(c, ERR_NOMEM, "cannot encode %s", what);
    else
        reply_buf(c, status, out);
    buf_release(out);
}

/* ---- files committed by a request ------------------------------------- */

/* Record committed writer <w> under <name> (loop thread). */
static enum err record_file(struct req_ctx *c, struct store_writer *w, const char *name)
{
    struct store_writer **cw = realloc(c->committed, (c->n_committed + 1) * sizeof(*cw));
    if (cw == NULL) {
        store_writer_uncommit(w);
        return ERR_NOMEM;
    }
    c->committed = cw;
    c->committed[c->n_committed++] = w;
    if (name == NULL)
        return ERR_OK;
    struct gw_file *f = realloc(c->files, (c->n_files + 1) * sizeof(*f));
    if (f == NULL)
        return ERR_NOMEM;
    c->files = f;
    f = &c->files[c->n_files];
    memset(f, 0, sizeof(*f));
    if ((f->name = strdup(name)) == NULL || (f->sha256 = strdup(store_writer_sha256(w))) == NULL) {
        gw_file_release(f);
        return ERR_NOMEM;
    }
    f->size_bytes = store_writer_size(w);
    c->n_files++;
    metrics_add(c->gw->upload_bytes, (double)f->size_bytes);
    return ERR_OK;
}

/* The record was not written: remove objects this request created. */
static void uncommit_all(struct req_ctx *c)
{
    for (size_t i = 0; i < c->n_committed; i++)
        store_writer_uncommit(c->committed[i]);
}

/* Loop thread: record what was committed, then go on or reply the error
 * (naming the first file that failed). */
static void commit_finish(struct req_ctx *c)
{
    enum err e = c->gw->closing ? ERR_CANCELED : ERR_OK; /* the backend is gone (gateway.h) */
    size_t failed = c->n_to_commit;
    for (size_t i = 0; i < c->n_to_commit; i++) {
        if (c->commit_status[i] == ERR_OK) {
            enum err r = record_file(c, c->to_commit[i], c->to_commit_name[i]);
            if (r != ERR_OK && e == ERR_OK)
                e = r;
        } else if (failed == c->n_to_commit) {
            failed = i;
            if (e == ERR_OK)
                e = c->commit_status[i];
        }
    }
    if (e == ERR_OK) {
        c->after_commit(c);
        return;
    }
    uncommit_all(c);
    if (e == ERR_CANCELED)
        reply_error(c, ERR_UNAVAILABLE, "the gateway is shutting down");
    else if (c->commit_is_result)
        reply_error(c, e, "cannot store result");
    else
        reply_error(c, e, "cannot store file \"%s\"",
                    c->to_commit_name[failed < c->n_to_commit ? failed : 0]);
}

/* Pool thread: commit the request's new files together (one fsync round,
 * one fsync per folder). The loop does not touch <c> until commit_done. */
static void commit_work(void *arg)
{
    struct req_ctx *c = arg;
    /* Its ERR_NOMEM is in every status too: nothing more to do with it. */
    enum err e = store_commit_batch(c->gw->store, c->sync_w, c->n_sync, c->sync_status);
    (void)e;
}

/* Loop thread: the new files are committed, or were dropped unstarted
 * (status ERR_CANCELED: the gateway is closing). */
static void commit_done(void *arg, enum err status)
{
    struct req_ctx *c = arg;
    for (size_t k = 0; k < c->n_sync; k++)
        c->commit_status[c->sync_of[k]] = status != ERR_OK ? status : c->sync_status[k];
    commit_finish(c);
}

/*
 * Commit the <n> writers queued in c->to_commit (names in c->to_commit_name).
 * Content already in the store commits here, on the loop, with one stat and
 * no disk flush (no thread hand-off either: the common case of a client
 * that sends the same job.json again); new content is committed on a workq
 * thread, since its fsyncs take milliseconds. Then <next>(c) runs on the loop
 * with c->files and c->committed filled in (at once when nothing was new),
 * or the request is answered with the error (nothing committed is left
 * behind).
 */
static void commit_files(struct req_ctx *c, size_t n, void (*next)(struct req_ctx *c))
{
    c->n_to_commit = n;
    c->n_sync = 0;
    c->after_commit = next;
    for (size_t i = 0; i < n; i++) {
        enum err e = store_writer_commit_existing(c->to_commit[i]);
        if (e == ERR_NOTFOUND) {
            c->sync_of[c->n_sync] = i;
            c->sync_w[c->n_sync++] = c->to_commit[i];
            e = ERR_CANCELED; /* until the pool thread's commit says */
        } else if (e == ERR_OK) {
            metrics_inc(c->gw->commit_inline);
        }
        c->commit_status[i] = e;
    }
    if (c->n_sync == 0) {
        commit_finish(c);
        return;
    }
    metrics_add(c->gw->commit_synced, (double)c->n_sync);
    enum err e = workq_submit(c->gw->sync, commit_work, commit_done, c);
    if (e != ERR_OK) {
        for (size_t k = 0; k < c->n_sync; k++)
            c->commit_status[c->sync_of[k]] = e;
        commit_finish(c);
    }
}

/* ---- job handlers ----------------------------------------------------- */

static void job_reply_cb(void *arg, enum err e, const char *msg, const struct gw_job *job)
{
    struct req_ctx *c = arg;
    /* A write through this gateway: its job's cached reply is stale now,
     * whether or not the feed will say so (a file or a result is not on
     * the feed). On an error too: the write may have half-happened
     * (ERR_UNAVAILABLE after the job store committed). */
    if (c->route->id != ROUTE_JOBS_CREATE)
        jobcache_drop(c->gw->cache, c->params.id);
    if (e != ERR_OK) {
        uncommit_all(c);
        reply_backend_error(c, e, msg);
        return;
    }
    struct buf out;
    buf_init(&out, 0);
    reply_encoded(c, c->route->id == ROUTE_JOBS_CREATE ? 201 : 200, codec_job(job, &out), &out,
                  "job");
}

static const char *form_field(const struct intake_body *b, const char *name)
{
    for (size_t i = 0; i < b->n_fields; i++)
        if (strcmp(b->fields[i].name, name) == 0)
            return buf_cstr(&b->fields[i].value);
    return NULL;
}

static enum err dup_field(const struct intake_body *b, const char *name, char **dst)
{
    const char *v = form_field(b, name);
    if (v == NULL)
        return ERR_OK;
    *dst = strdup(v);
    return *dst ? ERR_OK : ERR_NOMEM;
}

static int is_spec(const struct intake_file *f)
{
    return strcmp(f->field, "job.json") == 0 || strcmp(f->filename, "job.json") == 0;
}

/* Validate the fields of a new job; on failure reply and return non-OK. */
static enum err check_job_fields(struct req_ctx *c, const struct codec_job_fields *f)
{
    if (f->title == NULL || f->title[0] == '\0' || strlen(f->title) > TITLE_MAX) {
        reply_error(c, ERR_INVAL, "field \"title\" is required, 1-%d bytes", TITLE_MAX);
        return ERR_INVAL;
    }
    if (f->description && strlen(f->description) > DESCRIPTION_MAX) {
        reply_error(c, ERR_INVAL, "field \"description\" over %d bytes", DESCRIPTION_MAX);
        return ERR_INVAL;
    }
    if (f->type == NULL || (strcmp(f->type, "IA") != 0 && strcmp(f->type, "GRAFICA") != 0)) {
        reply_error(c, ERR_INVAL, "unknown type \"%s\": expected IA or GRAFICA",
                    f->type ? f->type : "");
        return ERR_INVAL;
    }
    if (!f->has_price) {
        reply_error(c, ERR_INVAL, "field \"price_usd_cents\" is required");
        return ERR_INVAL;
    }
    if (f->price_usd_cents <= 0) {
        reply_error(c, ERR_INVAL, "non-positive price: price_usd_cents must be at least 1");
        return ERR_INVAL;
    }
    if (f->price_usd_cents > PROTO_PRICE_CENTS_MAX) {
        reply_error(c, ERR_RANGE, "price_usd_cents over %lld (the protocol's cap)",
                    (long long)PROTO_PRICE_CENTS_MAX);
        return ERR_RANGE;
    }
    if ((f->cloud_link && strlen(f->cloud_link) > LINK_MAX) ||
        (f->external_links && strlen(f->external_links) > LINK_MAX)) {
        reply_error(c, ERR_INVAL, "links over %d bytes", LINK_MAX);
        return ERR_INVAL;
    }
    return ERR_OK;
}

/* After the files of a new job are committed: create its record. */
static void create_committed(struct req_ctx *c)
{
    const struct intake_body *b = c->body;
    const struct codec_job_fields *f = &c->job_fields;
    const char *spec_sha = NULL;
    for (size_t i = 0; i < b->n_files && i < c->n_files; i++)
        if (is_spec(&b->files[i]))
            spec_sha = c->files[i].sha256;
    struct gw_job_new in = {
        .title = f->title,
        .description = f->description ? f->description : "",
        .type = f->type,
        .price_usd_cents = f->price_usd_cents,
        .client = c->signer,
        .spec_sha256 = spec_sha,
        .cloud_link = f->cloud_link,
        .external_links = f->external_links,
        .files = c->files,
        .n_files = c->n_files,
    };
    enum err e = c->gw->be.create_job(c->gw->be.ctx, &in, job_reply_cb, c);
    if (e != ERR_OK) {
        uncommit_all(c);
        reply_error(c, e, "cannot create job: %s", err_str(e));
    }
}

static void handle_create(struct req_ctx *c)
{
    struct intake_body *b = c->body;
    struct codec_job_fields f;
    memset(&f, 0, sizeof(f));
    struct buf msg;
    buf_init(&msg, 512);
    enum err e;
    if (b->sink == INTAKE_SINK_BUFFER) {
        e = codec_parse_job_fields(b->data.data ? b->data.data : "", b->data.len, &f, &msg);
        if (e != ERR_OK) {
            reply_error(c, e, "%s", buf_cstr(&msg));
            goto out;
        }
    } else {
        const char *price = form_field(b, "price_usd_cents");
        if ((e = dup_field(b, "title", &f.title)) != ERR_OK ||
            (e = dup_field(b, "description", &f.description)) != ERR_OK ||
            (e = dup_field(b, "type", &f.type)) != ERR_OK ||
            (e = dup_field(b, "cloud_link", &f.cloud_link)) != ERR_OK ||
            (e = dup_field(b, "external_links", &f.external_links)) != ERR_OK) {
            reply_error(c, e, "cannot read form fields");
            goto out;
        }
        if (price != NULL) {
            e = validate_int64(price, INT64_MIN, INT64_MAX, &f.price_usd_cents);
            if (e != ERR_OK) {
                reply_error(c, ERR_INVAL, "field \"price_usd_cents\" must be an integer");
                goto out;
            }
            f.has_price = 1;
        }
    }
    if (check_job_fields(c, &f) != ERR_OK)
        goto out;
    /* The spec must be a JSON object before anything is committed. */
    for (size_t i = 0; i < b->n_files; i++) {
        if (!is_spec(&b->files[i]))
            continue;
        struct buf spec;
        buf_init(&spec, SPEC_MAX + 1);
        e = store_writer_read(b->files[i].writer, SPEC_MAX, &spec);
        if (e == ERR_OK && codec_check_object(spec.data ? spec.data : "", spec.len) != ERR_OK)
            e = ERR_INVAL;
        buf_release(&spec);
        if (e != ERR_OK) {
            reply_error(c, e,
                        e == ERR_TOOBIG ? "job.json over 1 MiB" : "job.json is not a JSON object");
            goto out;
        }
    }
    if (b->n_files > COMMIT_MAX) { /* intake caps parts below this */
        reply_error(c, ERR_TOOBIG, "more than %d files", COMMIT_MAX);
        goto out;
    }
    for (size_t i = 0; i < b->n_files; i++) {
        c->to_commit[i] = b->files[i].writer;
        c->to_commit_name[i] = b->files[i].filename;
    }
    c->job_fields = f; /* the request owns the fields now */
    memset(&f, 0, sizeof(f));
    commit_files(c, b->n_files, create_committed);
out:
    codec_job_fields_release(&f);
    buf_release(&msg);
}

static const char *query_get(struct req_ctx *c, const char *key)
{
    return c->query_parsed ? evhttp_find_header(&c->query, key) : NULL;
}

static void jobs_reply_cb(void *arg, enum err e, const char *msg, const struct gw_job *jobs,
                          size_t n, int64_t next_before_id)
{
    struct req_ctx *c = arg;
    if (e != ERR_OK) {
        reply_backend_error(c, e, msg);
        return;
    }
    struct buf out;
    buf_init(&out, 0);
    reply_encoded(c, 200, codec_jobs(jobs, n, next_before_id, &out), &out, "jobs");
}

static void handle_list(struct req_ctx *c)
{
    static const char *const statuses[] = {"PENDING",   "OPEN",     "WORKING", "SUBMITTED",
                                           "COMPLETED", "DISPUTED", "REFUNDED"};
    struct gw_job_filter f = {.limit = 20};
    f.status = query_get(c, "status");
    f.type = query_get(c, "type");
    f.client = query_get(c, "client");
    f.worker = query_get(c, "worker");
    const char *cursor = query_get(c, "cursor");
    const char *limit = query_get(c, "limit");
    if (f.status) {
        int ok = 0;
        for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
            ok |= strcmp(f.status, statuses[i]) == 0;
        if (!ok) {
            reply_error(c, ERR_INVAL, "unknown status \"%s\"", f.status);
            return;
        }
    }
    if (f.type && strcmp(f.type, "IA") != 0 && strcmp(f.type, "GRAFICA") != 0) {
        reply_error(c, ERR_INVAL, "unknown type \"%s\": expected IA or GRAFICA", f.type);
        return;
    }
    if ((f.client && validate_address(f.client) != ERR_OK) ||
        (f.worker && validate_address(f.worker) != ERR_OK)) {
        reply_error(c, ERR_INVAL, "bad address: client and worker must be 0x + 40 hex digits");
        return;
    }
    int64_t v;
    if (cursor && validate_int64(cursor, 1, INT64_MAX, &f.before_id) != ERR_OK) {
        reply_error(c, ERR_INVAL, "bad cursor");
        return;
    }
    if (limit) {
        if (validate_int64(limit, 1, 100, &v) != ERR_OK) {
            reply_error(c, ERR_INVAL, "limit must be an integer from 1 to 100");
            return;
        }
        f.limit = (int)v;
    }
    enum err e = c->gw->be.list_jobs(c->gw->be.ctx, &f, jobs_reply_cb, c);
    if (e != ERR_OK)
        reply_error(c, e, "cannot list jobs: %s", err_str(e));
}

/* GET /api/jobs/{id} from the backend: the reply, also stored in the cache. */
static void get_reply_cb(void *arg, enum err e, const char *msg, const struct gw_job *job)
{
    struct req_ctx *c = arg;
    if (e != ERR_OK) {
        reply_backend_error(c, e, msg);
        return;
    }
    struct buf out;
    buf_init(&out, 0);
    enum err encoded = codec_job(job, &out);
    if (encoded == ERR_OK)
        jobcache_put(c->gw->cache, c->params.id, out.data, out.len, c->cache_gen, mono_ms());
    reply_encoded(c, 200, encoded, &out, "job");
}

static void handle_get(struct req_ctx *c)
{
    const char *body;
    size_t len;
    if (jobcache_get(c->gw->cache, c->params.id, mono_ms(), &body, &len)) {
        reply(c, 200, "application/json", body, len);
        return;
    }
    c->cache_gen = jobcache_gen(c->gw->cache);
    enum err e = c->gw->be.get_job(c->gw->be.ctx, c->params.id, get_reply_cb, c);
    if (e != ERR_OK)
        reply_error(c, e, "cannot get job %lld: %s", (long long)c->params.id, err_str(e));
}

static void handle_progress(struct req_ctx *c)
{
    struct buf msg;
    buf_init(&msg, 512);
    int progress = 0;
    enum err e = codec_parse_progress(c->body->data.data ? c->body->data.data : "",
                                      c->body->data.len, &progress, &msg);
    if (e != ERR_OK)
        reply_error(c, e, "%s", buf_cstr(&msg));
    else if ((e = c->gw->be.update_progress(c->gw->be.ctx, c->params.id, c->signer, progress,
                                            job_reply_cb, c)) != ERR_OK)
        reply_error(c, e, "cannot update progress: %s", err_str(e));
    buf_release(&msg);
}

/* The upload is committed to the store: record it with the backend's
 * <record> (set_result or add_file) as the signer's <what>; a call refused
 * at once takes the commit back. */
static void record_upload(struct req_ctx *c,
                          enum err (*record)(void *ctx, int64_t id, const char *who,
                                             const struct gw_file *f, gw_job_cb cb, void *arg),
                          const char *what)
{
    enum err e = record(c->gw->be.ctx, c->params.id, c->signer, &c->files[0], job_reply_cb, c);
    if (e != ERR_OK) {
        uncommit_all(c);
        reply_error(c, e, "cannot record %s: %s", what, err_str(e));
    }
}

static void result_committed(struct req_ctx *c)
{
    record_upload(c, c->gw->be.set_result, "result");
}

static void handle_result_put(struct req_ctx *c)
{
    struct intake_file *file = &c->body->files[0];
    if (store_writer_size(file->writer) == 0) {
        reply_error(c, ERR_INVAL, "empty result");
        return;
    }
    c->to_commit[0] = file->writer;
    c->to_commit_name[0] = "result";
    c->commit_is_result = 1;
    commit_files(c, 1, result_committed);
}

static void file_committed(struct req_ctx *c)
{
    record_upload(c, c->gw->be.add_file, "file");
}

static void handle_files_post(struct req_ctx *c)
{
    struct intake_body *b = c->body;
    const char *name = NULL;
    if (b->sink == INTAKE_SINK_FILE) {
        name = query_get(c, "name");
        if (name == NULL || validate_filename(name) != ERR_OK) {
            reply_error(c, ERR_INVAL,
                        "invalid file name: give ?name= (no '/', no '..', "
                        "no control characters, at most 255 bytes)");
            return;
        }
    } else if (b->n_files != 1) {
        reply_error(c, ERR_INVAL, "send exactly one file part (got %zu)", b->n_files);
        return;
    } else {
        name = b->files[0].filename;
    }
    c->to_commit[0] = b->files[0].writer;
    c->to_commit_name[0] = name;
    commit_files(c, 1, file_committed);
}

/* Stream store object <sha256> as the reply; libevent sends it from the file
 * (sendfile or mmap), never through a heap copy of the whole file. */
static void send_object(struct req_ctx *c, const char *sha256, const char *name)
{
    int fd = -1;
    uint64_t size = 0;
    enum err e = store_open_object(c->gw->store, sha256, &fd, &size);
    if (e != ERR_OK) {
        reply_error(c, e == ERR_NOTFOUND ? ERR_NOTFOUND : e, "file content missing from store");
        return;
    }
    struct evbuffer *out = evbuffer_new();
    if (out == NULL || evbuffer_add_file(out, fd, 0, (ev_off_t)size) == -1) {
        if (out)
            evbuffer_free(out);
        else
            close(fd);
        reply_error(c, ERR_NOMEM, "cannot send file");
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    evhttp_add_header(h, "Content-Type", "application/octet-stream");
    evhttp_add_header(h, "X-Loom-SHA256", sha256);
    struct buf disp;
    buf_init(&disp, 1024);
    /* RFC 6266 filename* with every byte outside [A-Za-z0-9._-] escaped. */
    if (buf_append_str(&disp, "attachment; filename*=UTF-8''") == ERR_OK) {
        for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
            int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                        (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-';
            if ((plain ? buf_append_byte(&disp, *p) : buf_appendf(&disp, "%%%02X", *p)) != ERR_OK)
                break;
        }
        evhttp_add_header(h, "Content-Disposition", buf_cstr(&disp));
    }
    buf_release(&disp);
    count(c, 200);
    evhttp_send_reply(c->req, 200, "OK", out); /* sets Content-Length */
    evbuffer_free(out);
    ctx_free(c);
}

static void download_cb(void *arg, enum err e, const char *msg, const struct gw_job *job)
{
    struct req_ctx *c = arg;
    if (e != ERR_OK) {
        reply_backend_error(c, e, msg);
        return;
    }
    if (c->route->id == ROUTE_JOB_RESULT_GET) {
        if (job->result_sha256 == NULL) {
            reply_error(c, ERR_NOTFOUND, "job %lld has no result yet", (long long)job->id);
            return;
        }
        send_object(c, job->result_sha256, "result");
        return;
    }
    const char *name = buf_cstr(&c->params.name);
    for (size_t i = 0; i < job->n_files; i++) {
        if (strcmp(job->files[i].name, name) == 0) {
            send_object(c, job->files[i].sha256, name);
            return;
        }
    }
    reply_error(c, ERR_NOTFOUND, "job %lld has no file \"%s\"", (long long)job->id, name);
}

static void handle_download(struct req_ctx *c)
{
    enum err e = c->gw->be.get_job(c->gw->be.ctx, c->params.id, download_cb, c);
    if (e != ERR_OK)
        reply_error(c, e, "cannot get job %lld: %s", (long long)c->params.id, err_str(e));
}

static void quote_cb(void *arg, enum err e, const char *msg, const struct gw_quote *q)
{
    struct req_ctx *c = arg;
    if (e != ERR_OK) {
        reply_backend_error(c, e, msg);
        return;
    }
    struct buf out;
    buf_init(&out, 0);
    reply_encoded(c, 200, codec_quote(q, &out), &out, "quote");
}

static void handle_quote(struct req_ctx *c)
{
    const char *s = query_get(c, "usd_cents");
    int64_t cents = 0;
    if (s == NULL || validate_int64(s, 1, PRICE_MAX_CENTS, &cents) != ERR_OK) {
        reply_error(c, ERR_INVAL, "usd_cents must be an integer from 1 to %lld", PRICE_MAX_CENTS);
        return;
    }
    enum err e = c->gw->be.quote(c->gw->be.ctx, cents, quote_cb, c);
    if (e != ERR_OK)
        reply_error(c, e, "cannot quote: %s", err_str(e));
}

static void handle_events(struct req_ctx *c)
{
    enum err e = sse_add(c->gw->sse, c->req);
    if (e != ERR_OK) {
        reply_error(c, e, "cannot open event stream: %s", err_str(e));
        return;
    }
    count(c, 200);
    c->req = NULL; /* the hub owns the reply now */
    ctx_free(c);
}

static void handle_nonce(struct req_ctx *c)
{
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char raw[16];
    char nonce[17];
    if (digest_random(raw, sizeof(raw)) != ERR_OK) {
        reply_error(c, ERR_IO, "no randomness");
        return;
    }
    for (size_t i = 0; i < 16; i++)
        nonce[i] = alnum[raw[i] % 62]; /* slight bias: harmless for a nonce */
    nonce[16] = '\0';
    struct buf out;
    buf_init(&out, 128);
    reply_encoded(c, 200, buf_appendf(&out, "{\"nonce\":\"%s\"}", nonce), &out, "nonce");
}

static void siwe_nonce_cb(void *arg, enum err e, const char *msg)
{
    struct req_ctx *c = arg;
    if (e == ERR_EXISTS) {
        reply_error(c, ERR_AUTH, "replay: sign-in nonce already used");
        return;
    }
    if (e != ERR_OK) {
        reply_backend_error(c, e, msg);
        return;
    }
    struct gateway *gw = c->gw;
    struct buf token, cookie, out;
    buf_init(&token, 512);
    buf_init(&cookie, 1024);
    buf_init(&out, 256);
    if (auth_session_issue(gw->session_key, gw->session_key_len, c->siwe_address, c->siwe_expires,
                           &token) != ERR_OK ||
        buf_appendf(&cookie, "loom_session=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Strict",
                    token.data, (long long)gw->cfg.session_ttl_s) != ERR_OK ||
        codec_session(c->siwe_address, c->siwe_expires, &out) != ERR_OK) {
        reply_error(c, ERR_NOMEM, "cannot issue session");
    } else {
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "Set-Cookie", cookie.data);
        reply_buf(c, 200, &out);
    }
    buf_release(&out);
    buf_release(&cookie);
    buf_release(&token);
}

static void handle_siwe(struct req_ctx *c)
{
    struct gateway *gw = c->gw;
    struct buf msg;
    buf_init(&msg, 512);
    char *text = NULL, *sig = NULL, *signer = NULL;
    struct auth_siwe s;
    memset(&s, 0, sizeof(s));
    enum err e = codec_parse_siwe(c->body->data.data ? c->body->data.data : "", c->body->data.len,
                                  &text, &sig, &msg);
    if (e != ERR_OK) {
        reply_error(c, e, "%s", buf_cstr(&msg));
        goto out;
    }
    if ((e = auth_siwe_parse(text, &s, &msg)) != ERR_OK) {
        reply_error(c, e, "%s", buf_cstr(&msg));
        goto out;
    }
    int64_t now = now_s();
    if ((e = auth_siwe_check(&s, gw->cfg.siwe_domain, gw->cfg.chain_id, now, gw->cfg.auth_window_s,
                             &msg)) != ERR_OK) {
        reply_error(c, e, "%s", buf_cstr(&msg));
        goto out;
    }
    e = gw->be.verify(gw->be.verify_ctx, text, strlen(text), sig, &signer);
    if (e == ERR_NOMEM) {
        reply_error(c, e, "cannot verify signature");
        goto out;
    }
    if (e != ERR_OK) {
        reply_error(c, ERR_AUTH, "bad signature");
        goto out;
    }
    if (!validate_address_equal(signer, s.address)) {
        reply_error(c, ERR_AUTH, "wrong signer: signature is not from the message's address");
        goto out;
    }
    c->siwe_address = signer;
    signer = NULL;
    c->siwe_expires = now + gw->cfg.session_ttl_s;
    if (s.expiration != 0 && s.expiration < c->siwe_expires)
        c->siwe_expires = s.expiration;
    /* The nonce is remembered as long as the message could be replayed. */
    int64_t keep = s.expiration != 0 ? s.expiration : s.issued_at + 2 * gw->cfg.auth_window_s;
    e = gw->be.consume_nonce(gw->be.ctx, c->siwe_address, s.nonce, keep, siwe_nonce_cb, c);
    if (e != ERR_OK)
        reply_error(c, e, "cannot record nonce: %s", err_str(e));
out:
    auth_siwe_release(&s);
    free(text);
    free(sig);
    free(signer);
    buf_release(&msg);
}

static void handle_metrics(struct req_ctx *c)
{
    struct buf out;
    buf_init(&out, 0);
    if (gateway_metrics(c->gw, &out) != ERR_OK)
        reply_error(c, ERR_NOMEM, "cannot render metrics");
    else
        reply(c, 200, "text/plain; version=0.0.4", out.data, out.len);
    buf_release(&out);
}

static void dispatch(struct req_ctx *c)
{
    switch (c->route->id) {
    case ROUTE_JOBS_CREATE:
        handle_create(c);
        break;
    case ROUTE_JOBS_LIST:
        handle_list(c);
        break;
    case ROUTE_JOB_GET:
        handle_get(c);
        break;
    case ROUTE_JOB_PROGRESS:
        handle_progress(c);
        break;
    case ROUTE_JOB_RESULT_PUT:
        handle_result_put(c);
        break;
    case ROUTE_JOB_RESULT_GET:
    case ROUTE_JOB_FILE_GET:
        handle_download(c);
        break;
    case ROUTE_JOB_FILES_POST:
        handle_files_post(c);
        break;
    case ROUTE_QUOTE:
        handle_quote(c);
        break;
    case ROUTE_EVENTS:
        handle_events(c);
        break;
    case ROUTE_HEALTH:
        reply(c, 200, "application/json", "{\"status\":\"ok\"}", 15);
        break;
    case ROUTE_METRICS:
        handle_metrics(c);
        break;
    case ROUTE_OPENAPI: {
        const char *doc = openapi_document();
        reply(c, 200, "application/json", doc, strlen(doc));
        break;
    }
    case ROUTE_AUTH_NONCE:
        handle_nonce(c);
        break;
    case ROUTE_AUTH_SIWE:
        handle_siwe(c);
        break;
    case ROUTE__COUNT:
        reply_error(c, ERR_NOTFOUND, "no such route");
        break;
    }
}

/* ---- authentication --------------------------------------------------- */

static void request_nonce_cb(void *arg, enum err e, const char *msg)
{
    struct req_ctx *c = arg;
    if (e == ERR_EXISTS) {
        reply_error(c, ERR_AUTH, "replay: nonce already used");
        return;
    }
    if (e != ERR_OK) {
        reply_backend_error(c, e, msg);
        return;
    }
    dispatch(c);
}

/* Authenticate a signed route, then dispatch (now or from the nonce callback). */
static void authenticate(struct req_ctx *c)
{
    struct gateway *gw = c->gw;
    struct evkeyvalq *in = evhttp_request_get_input_headers(c->req);
    struct auth_headers h = {
        .address = evhttp_find_header(in, "X-Loom-Address"),
        .timestamp = evhttp_find_header(in, "X-Loom-Timestamp"),
        .nonce = evhttp_find_header(in, "X-Loom-Nonce"),
        .signature = evhttp_find_header(in, "X-Loom-Signature"),
    };
    const char *cookie = evhttp_find_header(in, "Cookie");
    if (h.signature == NULL && cookie != NULL) {
        struct buf token;
        buf_init(&token, 256);
        enum err e = auth_cookie_get(cookie, "loom_session", &token);
        if (e == ERR_OK)
            e = auth_session_check(gw->session_key, gw->session_key_len, buf_cstr(&token), now_s(),
                                   &c->signer);
        buf_release(&token);
        if (e == ERR_OK) {
            dispatch(c);
            return;
        }
        if (e != ERR_NOTFOUND) {
            reply_error(c, ERR_AUTH, "invalid or expired session");
            return;
        }
    }
    struct buf msg;
    buf_init(&msg, 512);
    int64_t ts = 0;
    enum err e =
        auth_check_request(&gw->be, &h, c->method, evhttp_request_get_uri(c->req), c->body->sha256,
                           now_s(), gw->cfg.auth_window_s, &c->signer, &ts, &msg);
    if (e != ERR_OK) {
        reply_error(c, e, "%s", buf_cstr(&msg));
        buf_release(&msg);
        return;
    }
    buf_release(&msg);
    /* One bucket per signer as well as per address: a signer cannot escape
     * the limit by spreading requests over many source addresses. */
    struct buf key;
    buf_init(&key, 128);
    int retry = 0;
    if (buf_appendf(&key, "signer:%s", c->signer) == ERR_OK)
        retry = ratelimit_take(gw->rl, key.data, mono_ms());
    buf_release(&key);
    if (retry > 0) {
        char ra[16];
        (void)snprintf(ra, sizeof(ra), "%d", retry);
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "Retry-After", ra);
        reply_error(c, HTTPERR_RATE_LIMITED, "too many requests from %s; retry in %d s", c->signer,
                    retry);
        return;
    }
    e = gw->be.consume_nonce(gw->be.ctx, c->signer, h.nonce, ts + gw->cfg.auth_window_s + 1,
                             request_nonce_cb, c);
    if (e != ERR_OK)
        reply_error(c, e, "cannot record nonce: %s", err_str(e));
}

/* ---- entry ------------------------------------------------------------ */

static const char *method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    }
    return "?";
}

static void request_cb(struct evhttp_request *req, void *arg)
{
    struct gateway *gw = arg;
    struct req_ctx *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    c->gw = gw;
    c->req = req;
    clock_gettime(CLOCK_MONOTONIC, &c->started);
    c->method = method_name(evhttp_request_get_command(req));
    buf_init(&c->params.name, 1024);
    c->body = intake_take(gw->intake, req);
    if (c->body != NULL && c->body->close_connection)
        c->close_connection = 1;

    char *host = NULL;
    ev_uint16_t port = 0;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon != NULL)
        evhttp_connection_get_peer(evcon, &host, &port);
    struct buf key;
    buf_init(&key, 128);
    int retry = 0;
    if (buf_appendf(&key, "ip:%s", host ? host : "?") == ERR_OK)
        retry = ratelimit_take(gw->rl, key.data, mono_ms());
    buf_release(&key);
    if (retry > 0) {
        char ra[16];
        (void)snprintf(ra, sizeof(ra), "%d", retry);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", ra);
        reply_error(c, HTTPERR_RATE_LIMITED, "too many requests from %s; retry in %d s",
                    host ? host : "?", retry);
        return;
    }

    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (path == NULL || path[0] != '/') {
        reply_error(c, ERR_INVAL, "request target must be an absolute path");
        return;
    }
    const char *query = evhttp_uri_get_query(uri);
    c->query_parsed = 1; /* evhttp_parse_query_str initialises the list first */
    if (evhttp_parse_query_str(query ? query : "", &c->query) != 0) {
        reply_error(c, ERR_INVAL, "malformed query string");
        return;
    }
    enum err e = routes_match(c->method, path, &c->route, &c->params);
    if (e == ERR_NOTFOUND) {
        reply_error(c, ERR_NOTFOUND, "no route for %s %s", c->method, path);
        return;
    }
    if (e == ERR_STATE) {
        reply_error(c, HTTPERR_METHOD_NOT_ALLOWED, "method %s not allowed on %s", c->method, path);
        return;
    }
    if (e != ERR_OK) {
        reply_error(c, e, "%s", buf_cstr(&c->params.name));
        return;
    }
    if (c->body == NULL) {
        c->close_connection = 1;
        reply_error(c, ERR_INVAL, "unreadable request head");
        return;
    }
    if (c->body->err != ERR_OK) {
        reply_error(c, c->body->err, "%s", buf_cstr(&c->body->msg));
        return;
    }
    /* intake chose the sink from the same table; a mismatch means the head
     * changed meaning between the two reads, which must not reach a handler. */
    if (c->body->sink !=
        routes_sink(c->route,
                    evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type"))) {
        reply_error(c, ERR_INVAL, "request body does not fit the route");
        return;
    }
    if (c->route->is_signed)
        authenticate(c);
    else
        dispatch(c);
}

/* Intake's question: how to read this request's body. */
static enum intake_sink classify_cb(void *arg, const struct intake_head *head)
{
    (void)arg;
    const struct route *r = NULL;
    struct route_params params;
    buf_init(&params.name, 1024);
    struct buf path;
    buf_init(&path, 8192);
    size_t n = strcspn(head->target, "?#");
    enum intake_sink sink = INTAKE_SINK_BUFFER;
    if (buf_append(&path, head->target, n) == ERR_OK &&
        routes_match(head->method, buf_cstr(&path), &r, &params) == ERR_OK)
        sink = routes_sink(r, head->content_type);
    buf_release(&path);
    buf_release(&params.name);
    return sink;
}

/* Gauges read from the modules at scrape time (metrics_on_collect). */
static void collect_cb(void *arg, struct metrics *m)
{
    (void)m;
    struct gateway *gw = arg;
    metrics_set(gw->connections, (double)intake_connections(gw->intake));
    metrics_set(gw->sse_clients, (double)sse_clients(gw->sse));
    metrics_set(gw->rl_keys, (double)ratelimit_size(gw->rl));
    uint64_t dropped = sse_dropped(gw->sse);
    metrics_add(gw->sse_dropped, (double)(dropped - gw->sse_dropped_seen));
    gw->sse_dropped_seen = dropped;
    struct jobcache_stats cs;
    jobcache_stats(gw->cache, &cs);
    metrics_add(gw->cache_hits, (double)(cs.hits - gw->cache_hits_seen));
    metrics_add(gw->cache_misses, (double)(cs.misses - gw->cache_misses_seen));
    gw->cache_hits_seen = cs.hits;
    gw->cache_misses_seen = cs.misses;
    metrics_set(gw->cache_entries, (double)cs.entries);
}

/* Declare the gateway's families. Latency buckets: 0.5 ms to 10 s, about
 * x2.5 apart, around the issue's targets (p99 <= 20 ms at 64 connections). */
static enum err metrics_init(struct gateway *gw)
{
    static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05,
                                    0.1,    0.25,  0.5,    1,     2.5,  10};
    static const char *const req_labels[] = {"route", "status"};
    static const char *const lat_labels[] = {"route"};
    struct metrics_family *lat;
    enum err e;
    if ((e = metrics_new(&gw->metrics)) != ERR_OK ||
        (e = metrics_family_new(gw->metrics, METRICS_COUNTER, "loom_gateway_requests_total",
                                "HTTP requests answered, by route and status code", req_labels, 2,
                                NULL, 0, &gw->requests)) != ERR_OK ||
        (e = metrics_family_new(
             gw->metrics, METRICS_HISTOGRAM, "loom_gateway_request_duration_seconds",
             "time from the request's arrival at its handler to its reply, "
             "by route",
             lat_labels, 1, bounds, sizeof(bounds) / sizeof(bounds[0]), &lat)) != ERR_OK)
        return e;
    for (size_t r = 0; r <= ROUTE__COUNT; r++) {
        const char *v[1] = {r < ROUTE__COUNT ? routes_table[r].name : "none"};
        if ((e = metrics_series(lat, v, &gw->latency[r])) != ERR_OK)
            return e;
    }
    if ((e = metrics_gauge_new(gw->metrics, "loom_gateway_connections", "open HTTP connections",
                               &gw->connections)) != ERR_OK ||
        (e = metrics_gauge_new(gw->metrics, "loom_gateway_sse_clients",
                               "GET /api/events streams open", &gw->sse_clients)) != ERR_OK ||
        (e = metrics_counter_new(gw->metrics, "loom_gateway_sse_dropped_total",
                                 "event-stream clients dropped for falling behind",
                                 &gw->sse_dropped)) != ERR_OK ||
        (e = metrics_counter_new(gw->metrics, "loom_gateway_upload_bytes_total",
                                 "bytes committed to the upload store", &gw->upload_bytes)) !=
            ERR_OK ||
        (e = metrics_gauge_new(gw->metrics, "loom_gateway_ratelimit_keys",
                               "client addresses tracked by the rate limiter", &gw->rl_keys)) !=
            ERR_OK ||
        (e = metrics_counter_new(gw->metrics, "loom_gateway_job_cache_hits_total",
                                 "GET /api/jobs/{id} answered from the cache", &gw->cache_hits)) !=
            ERR_OK ||
        (e = metrics_counter_new(gw->metrics, "loom_gateway_job_cache_misses_total",
                                 "GET /api/jobs/{id} sent to the job store", &gw->cache_misses)) !=
            ERR_OK ||
        (e = metrics_gauge_new(gw->metrics, "loom_gateway_job_cache_entries",
                               "jobs held in the GET /api/jobs/{id} cache", &gw->cache_entries)) !=
            ERR_OK ||
        (e = metrics_counter_new(gw->metrics, "loom_gateway_upload_commits_inline_total",
                                 "uploads committed on the loop: content already stored",
                                 &gw->commit_inline)) != ERR_OK ||
        (e = metrics_counter_new(gw->metrics, "loom_gateway_upload_commits_synced_total",
                                 "uploads committed with fsyncs on a pool thread: new content",
                                 &gw->commit_synced)) != ERR_OK)
        return e;
    metrics_on_collect(gw->metrics, collect_cb, gw);
    return ERR_OK;
}

enum err gateway_new(struct event_base *base, const struct gateway_config *cfg,
                     const struct gw_backend *backend, struct store *store, struct gateway **out,
                     struct buf *errmsg)
{
    enum err e = ERR_INVAL;
    const char *why = NULL;
    if (cfg->session_key_len < 32 || cfg->session_key_len > 64)
        why = "session key must be 32-64 bytes";
    else if (cfg->max_upload_bytes == 0 || cfg->max_json_bytes == 0 || cfg->rate_burst < 1 ||
             cfg->rate_per_s <= 0 || cfg->sse_max_queue_bytes == 0)
        why = "limits must be positive";
    else if (cfg->cache_ttl_ms < 0)
        why = "cache TTL must not be negative";
    else if (backend->verify == NULL || backend->create_job == NULL)
        why = "backend is incomplete";
    if (why != NULL) {
        if (buf_append_str(errmsg, why) != ERR_OK)
            buf_reset(errmsg);
        return ERR_INVAL;
    }
    struct gateway *gw = calloc(1, sizeof(*gw));
    if (gw == NULL)
        return ERR_NOMEM;
    gw->base = base;
    gw->cfg = *cfg;
    memcpy(gw->session_key, cfg->session_key, cfg->session_key_len);
    gw->session_key_len = cfg->session_key_len;
    gw->cfg.session_key = NULL;
    gw->be = *backend;
    gw->store = store;
    gw->limits = (struct intake_limits){
        .max_upload_bytes = cfg->max_upload_bytes,
        .max_buffer_bytes = cfg->max_json_bytes,
        .max_head_bytes = cfg->max_header_bytes,
        .max_part_header_bytes = 8192,
        .max_parts = 64,
        .max_field_bytes = 64 * 1024,
    };
    struct jobcache_limits cache_lim = {.max_entries = cfg->cache_max_entries,
                                        .max_bytes = cfg->cache_max_bytes,
                                        .ttl_ms = cfg->cache_ttl_ms};
    e = ERR_NOMEM;
    if (intake_new(store, &gw->limits, classify_cb, gw, &gw->intake) != ERR_OK ||
        ratelimit_new(cfg->rate_per_s, cfg->rate_burst, cfg->rate_max_keys, &gw->rl) != ERR_OK ||
        sse_new(cfg->sse_max_queue_bytes, cfg->sse_max_clients, &gw->sse) != ERR_OK ||
        workq_new(base, SYNC_THREADS, &gw->sync) != ERR_OK ||
        jobcache_new(&cache_lim, &gw->cache) != ERR_OK || (gw->http = evhttp_new(base)) == NULL ||
        metrics_init(gw) != ERR_OK)
        goto fail;
    e = ERR_EXISTS;
    if (metrics_http_attach(gw->http, gw->metrics) != ERR_OK)
        goto fail;
    evhttp_set_bevcb(gw->http, intake_bevcb, gw->intake);
    evhttp_set_gencb(gw->http, request_cb, gw);
    evhttp_set_max_headers_size(gw->http, (ev_ssize_t)cfg->max_header_bytes);
    /* Bodies reach evhttp only for heads intake could not parse; cap them. */
    evhttp_set_max_body_size(gw->http, (ev_ssize_t)cfg->max_json_bytes);
    evhttp_set_timeout(gw->http, cfg->request_timeout_s);
    evhttp_set_allowed_methods(gw->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                             EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                             EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    struct evhttp_bound_socket *sock =
        evhttp_bind_socket_with_handle(gw->http, cfg->host, (ev_uint16_t)cfg->port);
    if (sock == NULL) {
        e = ERR_IO;
        if (buf_appendf(errmsg, "cannot listen on %s:%d", cfg->host, cfg->port) != ERR_OK)
            buf_reset(errmsg);
        goto fail;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    evutil_socket_t fd = evhttp_bound_socket_get_fd(sock);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            gw->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            gw->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    *out = gw;
    return ERR_OK;
fail:
    gateway_free(gw);
    return e;
}

void gateway_free(struct gateway *gw)
{
    if (gw == NULL)
        return;
    sse_free(gw->sse);
    gw->closing = 1;
    workq_free(gw->sync); /* pending commits answer their requests first */
    if (gw->http)
        evhttp_free(gw->http);
    intake_free(gw->intake);
    ratelimit_free(gw->rl);
    jobcache_free(gw->cache);
    metrics_free(gw->metrics);
    memset(gw->session_key, 0, sizeof(gw->session_key));
    free(gw);
}

int gateway_port(const struct gateway *gw)
{
    return gw->port;
}

enum err gateway_broadcast(struct gateway *gw, const char *event, const char *data)
{
    return sse_broadcast(gw->sse, event, data);
}

struct jobcache *gateway_jobcache(struct gateway *gw)
{
    return gw->cache;
}

enum err gateway_metrics(const struct gateway *gw, struct buf *out)
{
    return metrics_render(gw->metrics, out);
}
