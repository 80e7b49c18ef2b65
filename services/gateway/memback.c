/*
 * memback -- the in-memory backend: arrays of jobs and nonces, callbacks
 * deferred through zero-delay events.
 * SPDX-License-Identifier: MIT
 */
#include "memback.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "validate.h"

enum pending_kind { PK_JOB, PK_JOBS, PK_DONE, PK_QUOTE };

struct pending {
    struct memback *m;
    struct pending *prev, *next;
    struct event *ev;
    enum pending_kind kind;
    union {
        gw_job_cb job;
        gw_jobs_cb jobs;
        gw_done_cb done;
        gw_quote_cb quote;
    } cb;
    void *arg;
    enum err e;
    const char *msg;      /* static text */
    struct gw_job job;    /* PK_JOB result (owned) */
    struct gw_job *jobs;  /* PK_JOBS results (owned) */
    size_t n_jobs;
    int64_t next_before;
    struct gw_quote quote;
    char wei[48];         /* 10^36 fits in 37 digits */
    char answer[24];
};

struct nonce_rec {
    char *key; /* lower-case address + ":" + nonce */
    int64_t expires_at;
};

struct memback {
    struct event_base *base;
    struct gw_job *jobs;
    size_t n_jobs, cap_jobs;
    struct nonce_rec *nonces;
    size_t n_nonces, cap_nonces;
    struct pending *pending;
    int64_t price_answer;
    uint64_t price_round;
    int64_t price_updated_at;
    enum err fail_err;
    int fail_count;
};

enum err memback_new(struct event_base *base, struct memback **out)
{
    struct memback *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return ERR_NOMEM;
    m->base = base;
    m->price_answer = 300000000000LL; /* 3000 USD/ETH, 8 decimals like Chainlink ETH/USD */
    m->price_round = 1;
    m->price_updated_at = (int64_t)time(NULL);
    *out = m;
    return ERR_OK;
}

static void pending_free(struct pending *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        p->m->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
    event_free(p->ev);
    gw_job_release(&p->job);
    for (size_t i = 0; i < p->n_jobs; i++)
        gw_job_release(&p->jobs[i]);
    free(p->jobs);
    free(p);
}

static void pending_run(struct pending *p)
{
    const char *msg = p->msg ? p->msg : "";
    int ok = p->e == ERR_OK;
    switch (p->kind) {
    case PK_JOB:
        p->cb.job(p->arg, p->e, msg, ok ? &p->job : NULL);
        break;
    case PK_JOBS:
        p->cb.jobs(p->arg, p->e, msg, p->jobs, ok ? p->n_jobs : 0, p->next_before);
        break;
    case PK_DONE:
        p->cb.done(p->arg, p->e, msg);
        break;
    case PK_QUOTE:
        p->cb.quote(p->arg, p->e, msg, ok ? &p->quote : NULL);
        break;
    }
}

static void pending_fire_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pending *p = arg;
    pending_run(p);
    pending_free(p);
}

void memback_free(struct memback *m)
{
    if (m == NULL)
        return;
    while (m->pending != NULL) {
        struct pending *p = m->pending;
        p->e = ERR_CANCELED;
        p->msg = "gateway shutting down";
        pending_run(p);
        pending_free(p);
    }
    for (size_t i = 0; i < m->n_jobs; i++)
        gw_job_release(&m->jobs[i]);
    free(m->jobs);
    for (size_t i = 0; i < m->n_nonces; i++)
        free(m->nonces[i].key);
    free(m->nonces);
    free(m);
}

/* Queue a result; on failure nothing is queued and the caller frees. */
static enum err pending_new(struct memback *m, enum pending_kind kind, void *arg,
                            struct pending **out)
{
    struct pending *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return ERR_NOMEM;
    p->ev = event_new(m->base, -1, 0, pending_fire_cb, p);
    if (p->ev == NULL) {
        free(p);
        return ERR_NOMEM;
    }
    p->m = m;
    p->kind = kind;
    p->arg = arg;
    *out = p;
    return ERR_OK;
}

static void pending_queue(struct pending *p)
{
    p->next = p->m->pending;
    if (p->next)
        p->next->prev = p;
    p->m->pending = p;
    event_active(p->ev, 0, 0);
}

static void pending_discard(struct pending *p)
{
    event_free(p->ev);
    gw_job_release(&p->job);
    free(p);
}

static int injected_failure(struct memback *m, enum err *e)
{
    if (m->fail_count <= 0)
        return 0;
    m->fail_count--;
    *e = m->fail_err;
    return 1;
}

static struct gw_job *find_job(struct memback *m, int64_t id)
{
    if (id < 1 || (uint64_t)id > m->n_jobs)
        return NULL;
    return &m->jobs[id - 1];
}

/* Queue a job result (a copy of <job> when e == ERR_OK). */
static enum err reply_job(struct memback *m, enum err e, const char *msg, const struct gw_job *job,
                          gw_job_cb cb, void *arg)
{
    struct pending *p;
    enum err r = pending_new(m, PK_JOB, arg, &p);
    if (r != ERR_OK)
        return r;
    p->cb.job = cb;
    p->e = e;
    p->msg = msg;
    if (e == ERR_OK && (r = gw_job_copy(&p->job, job)) != ERR_OK) {
        pending_discard(p);
        return r;
    }
    pending_queue(p);
    return ERR_OK;
}

static char *dup_or_null(const char *s, int *bad)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *bad = 1;
    return d;
}

static enum err mb_create_job(void *ctx, const struct gw_job_new *in, gw_job_cb cb, void *arg)
{
    struct memback *m = ctx;
    enum err e;
    if (injected_failure(m, &e))
        return e;
    if (m->n_jobs == m->cap_jobs) {
        size_t cap = m->cap_jobs ? m->cap_jobs * 2 : 16;
        struct gw_job *j = realloc(m->jobs, cap * sizeof(*j));
        if (j == NULL)
            return ERR_NOMEM;
        m->jobs = j;
        m->cap_jobs = cap;
    }
    struct gw_job *job = &m->jobs[m->n_jobs];
    memset(job, 0, sizeof(*job));
    int bad = 0;
    job->id = (int64_t)m->n_jobs + 1;
    job->title = dup_or_null(in->title, &bad);
    job->description = dup_or_null(in->description ? in->description : "", &bad);
    job->type = dup_or_null(in->type, &bad);
    job->price_usd_cents = in->price_usd_cents;
    job->client = dup_or_null(in->client, &bad);
    job->status = dup_or_null("PENDING", &bad);
    job->created_at = (int64_t)time(NULL);
    job->spec_sha256 = dup_or_null(in->spec_sha256, &bad);
    job->cloud_link = dup_or_null(in->cloud_link, &bad);
    job->external_links = dup_or_null(in->external_links, &bad);
    if (!bad && in->n_files > 0) {
        job->files = calloc(in->n_files, sizeof(*job->files));
        bad = job->files == NULL;
        for (size_t i = 0; !bad && i < in->n_files; i++) {
            bad = gw_file_copy(&job->files[i], &in->files[i]) != ERR_OK;
            if (!bad)
                job->n_files = i + 1;
        }
    }
    if (bad) {
        gw_job_release(job);
        return ERR_NOMEM;
    }
    e = reply_job(m, ERR_OK, NULL, job, cb, arg);
    if (e != ERR_OK) {
        gw_job_release(job);
        return e;
    }
    m->n_jobs++;
    return ERR_OK;
}

static enum err mb_get_job(void *ctx, int64_t id, gw_job_cb cb, void *arg)
{
    struct memback *m = ctx;
    enum err e;
    if (injected_failure(m, &e))
        return e;
    struct gw_job *job = find_job(m, id);
    if (job == NULL)
        return reply_job(m, ERR_NOTFOUND, "no such job", NULL, cb, arg);
    return reply_job(m, ERR_OK, NULL, job, cb, arg);
}

static int str_match(const char *filter, const char *value, int addr)
{
    if (filter == NULL)
        return 1;
    if (value == NULL)
        return 0;
    return addr ? validate_address_equal(filter, value) : strcmp(filter, value) == 0;
}

static enum err mb_list_jobs(void *ctx, const struct gw_job_filter *f, gw_jobs_cb cb, void *arg)
{
    struct memback *m = ctx;
    enum err e;
    if (injected_failure(m, &e))
        return e;
    struct pending *p;
    if ((e = pending_new(m, PK_JOBS, arg, &p)) != ERR_OK)
        return e;
    p->cb.jobs = cb;
    p->jobs = calloc((size_t)f->limit, sizeof(*p->jobs));
    if (p->jobs == NULL) {
        pending_discard(p);
        return ERR_NOMEM;
    }
    int64_t start = f->before_id > 0 ? f->before_id - 1 : (int64_t)m->n_jobs;
    if (start > (int64_t)m->n_jobs)
        start = (int64_t)m->n_jobs;
    for (int64_t id = start; id >= 1; id--) {
        const struct gw_job *j = &m->jobs[id - 1];
        if (!str_match(f->status, j->status, 0) || !str_match(f->type, j->type, 0) ||
            !str_match(f->client, j->client, 1) || !str_match(f->worker, j->worker, 1))
            continue;
        if (p->n_jobs == (size_t)f->limit) {
            /* One more match exists: the page ends at the last one taken. */
            p->next_before = p->jobs[p->n_jobs - 1].id;
            break;
        }
        if (gw_job_copy(&p->jobs[p->n_jobs], j) != ERR_OK) {
            for (size_t i = 0; i < p->n_jobs; i++)
                gw_job_release(&p->jobs[i]);
            free(p->jobs);
            pending_discard(p);
            return ERR_NOMEM;
        }
        p->n_jobs++;
    }
    pending_queue(p);
    return ERR_OK;
}

static enum err worker_check(struct gw_job *job, const char *worker, const char **msg)
{
    if (job->worker == NULL || !validate_address_equal(job->worker, worker)) {
        *msg = "not the worker assigned to this job";
        return ERR_PERM;
    }
    if (strcmp(job->status, "WORKING") != 0) {
        *msg = "job is not WORKING";
        return ERR_STATE;
    }
    return ERR_OK;
}

static enum err mb_update_progress(void *ctx, int64_t id, const char *worker, int progress,
                                   gw_job_cb cb, void *arg)
{
    struct memback *m = ctx;
    enum err e;
    if (injected_failure(m, &e))
        return e;
    struct gw_job *job = find_job(m, id);
    const char *msg = NULL;
    if (job == NULL)
        return reply_job(m, ERR_NOTFOUND, "no such job", NULL, cb, arg);
    if ((e = worker_check(job, worker, &msg)) != ERR_OK)
        return reply_job(m, e, msg, NULL, cb, arg);
    job->progress = progress;
    return reply_job(m, ERR_OK, NULL, job, cb, arg);
}

static enum err mb_set_result(void *ctx, int64_t id, const char *worker,
                              const struct gw_file *result, gw_job_cb cb, void *arg)
{
    struct memback *m = ctx;
    enum err e;
    if (injected_failure(m, &e))
        return e;
    struct gw_job *job = find_job(m, id);
    const char *msg = NULL;
    if (job == NULL)
        return reply_job(m, ERR_NOTFOUND, "no such job", NULL, cb, arg);
    if ((e = worker_check(job, worker, &msg)) != ERR_OK)
        return reply_job(m, e, msg, NULL, cb, arg);
    char *sha = strdup(result->sha256);
    if (sha == NULL)
        return ERR_NOMEM;
    free(job->result_sha256);
    job->result_sha256 = sha;
    job->result_size_bytes = result->size_bytes;
    return reply_job(m, ERR_OK, NULL, job, cb, arg);
}

static enum err mb_add_file(void *ctx, int64_t id, const char *client, const struct gw_file *file,
                            gw_job_cb cb, void *arg)
{
    struct memback *m = ctx;
    enum err e;
    if (injected_failure(m, &e))
        return e;
    struct gw_job *job = find_job(m, id);
    if (job == NULL)
        return reply_job(m, ERR_NOTFOUND, "no such job", NULL, cb, arg);
    if (!validate_address_equal(job->client, client))
        return reply_job(m, ERR_PERM, "not the client of this job", NULL, cb, arg);
    if (strcmp(job->status, "PENDING") != 0)
        return reply_job(m, ERR_STATE, "files can be added only while PENDING", NULL, cb, arg);
    for (size_t i = 0; i < job->n_files; i++)
        if (strcmp(job->files[i].name, file->name) == 0)
            return reply_job(m, ERR_EXISTS, "a file with this name exists", NULL, cb, arg);
    struct gw_file *files = realloc(job->files, (job->n_files + 1) * sizeof(*files));
    if (files == NULL)
        return ERR_NOMEM;
    job->files = files;
    if ((e = gw_file_copy(&job->files[job->n_files], file)) != ERR_OK)
        return e;
    job->n_files++;
    return reply_job(m, ERR_OK, NULL, job, cb, arg);
}

static enum err mb_consume_nonce(void *ctx, const char *address, const char *nonce,
                                 int64_t expires_at, gw_done_cb cb, void *arg)
{
    struct memback *m = ctx;
    enum err e;
    if (injected_failure(m, &e))
        return e;
    struct buf key;
    buf_init(&key, 256);
    if ((e = buf_appendf(&key, "%s:%s", address, nonce)) != ERR_OK)
        return e;
    for (size_t i = 2; i < key.len && key.data[i] != ':'; i++)
        if (key.data[i] >= 'A' && key.data[i] <= 'F')
            key.data[i] = (char)(key.data[i] - 'A' + 'a');
    int64_t now = (int64_t)time(NULL);
    enum err result = ERR_OK;
    size_t w = 0;
    for (size_t i = 0; i < m->n_nonces; i++) {
        if (m->nonces[i].expires_at < now) { /* forget expired nonces */
            free(m->nonces[i].key);
            continue;
        }
        if (strcmp(m->nonces[i].key, key.data) == 0)
            result = ERR_EXISTS;
        m->nonces[w++] = m->nonces[i];
    }
    m->n_nonces = w;
    struct pending *p;
    if ((e = pending_new(m, PK_DONE, arg, &p)) != ERR_OK) {
        buf_release(&key);
        return e;
    }
    if (result == ERR_OK) {
        if (m->n_nonces == m->cap_nonces) {
            size_t cap = m->cap_nonces ? m->cap_nonces * 2 : 64;
            struct nonce_rec *r = realloc(m->nonces, cap * sizeof(*r));
            if (r == NULL) {
                pending_discard(p);
                buf_release(&key);
                return ERR_NOMEM;
            }
            m->nonces = r;
            m->cap_nonces = cap;
        }
        m->nonces[m->n_nonces].key = buf_detach(&key, NULL);
        m->nonces[m->n_nonces].expires_at = expires_at;
        m->n_nonces++;
    }
    buf_release(&key);
    p->cb.done = cb;
    p->e = result;
    p->msg = result == ERR_EXISTS ? "nonce already used" : NULL;
    pending_queue(p);
    return ERR_OK;
}

/* Decimal text of an unsigned 128-bit value. */
static void u128_to_dec(unsigned __int128 v, char *out, size_t out_size)
{
    char tmp[48];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v > 0 && n < sizeof(tmp));
    size_t i = 0;
    for (; i < n && i + 1 < out_size; i++)
        out[i] = tmp[n - 1 - i];
    out[i] = '\0';
}

static enum err mb_quote(void *ctx, int64_t usd_cents, gw_quote_cb cb, void *arg)
{
    struct memback *m = ctx;
    enum err e;
    if (injected_failure(m, &e))
        return e;
    if (usd_cents <= 0 || usd_cents > 1000000000000LL)
        return ERR_RANGE;
    struct pending *p;
    if ((e = pending_new(m, PK_QUOTE, arg, &p)) != ERR_OK)
        return e;
    p->cb.quote = cb;
    /* wei = ceil(cents / 100 USD * 1e18 wei/ETH / (answer / 1e8) USD/ETH)
     *     = ceil(cents * 1e24 / answer), rounded up so the escrow covers the
     * price. cents <= 1e12 keeps the product under 2^128. */
    unsigned __int128 num = (unsigned __int128)usd_cents * 1000000000000ULL * 1000000000000ULL;
    unsigned __int128 den = (unsigned __int128)m->price_answer;
    unsigned __int128 wei = (num + den - 1) / den;
    u128_to_dec(wei, p->wei, sizeof(p->wei));
    u128_to_dec((unsigned __int128)m->price_answer, p->answer, sizeof(p->answer));
    p->quote.usd_cents = usd_cents;
    p->quote.wei = p->wei;
    p->quote.round_id = m->price_round;
    p->quote.updated_at = m->price_updated_at;
    p->quote.age_s = (int64_t)time(NULL) - m->price_updated_at;
    p->quote.answer = p->answer;
    p->quote.decimals = 8;
    pending_queue(p);
    return ERR_OK;
}

void memback_backend(struct memback *m, struct gw_backend *out)
{
    memset(out, 0, sizeof(*out));
    out->ctx = m;
    out->create_job = mb_create_job;
    out->get_job = mb_get_job;
    out->list_jobs = mb_list_jobs;
    out->update_progress = mb_update_progress;
    out->set_result = mb_set_result;
    out->add_file = mb_add_file;
    out->consume_nonce = mb_consume_nonce;
    out->quote = mb_quote;
}

enum err memback_assign(struct memback *m, int64_t id, const char *worker)
{
    struct gw_job *job = find_job(m, id);
    if (job == NULL)
        return ERR_NOTFOUND;
    char *w = strdup(worker);
    char *s = strdup("WORKING");
    if (w == NULL || s == NULL) {
        free(w);
        free(s);
        return ERR_NOMEM;
    }
    free(job->worker);
    free(job->status);
    job->worker = w;
    job->status = s;
    return ERR_OK;
}

void memback_set_price(struct memback *m, int64_t answer, uint64_t round_id, int64_t updated_at)
{
    m->price_answer = answer;
    m->price_round = round_id;
    m->price_updated_at = updated_at;
}

void memback_fail_next(struct memback *m, enum err e, int count)
{
    m->fail_err = e;
    m->fail_count = count;
}

size_t memback_job_count(const struct memback *m)
{
    return m->n_jobs;
}
