/*
 * ops -- the job store's command handlers (see ops.h).
 * SPDX-License-Identifier: MIT
 */
#include "ops.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "hex.h"
#include "jobdb.h"
#include "jobmap.h"

void ops_result_release(struct ops_result *r)
{
    if (!r)
        return;
    proto_reply_release(&r->reply);
    free(r->feed);
    buf_release(&r->db_error);
    memset(r, 0, sizeof *r);
}

void ops_error(struct proto_reply *rep, enum proto_cmd cmd, enum err code, const char *fmt, ...)
{
    struct buf msg;
    va_list ap;

    LOOM_ASSERT(code != ERR_OK);
    proto_reply_release(rep);
    rep->cmd = cmd;
    rep->ok = false;
    rep->error_code = code;
    buf_init(&msg, PROTO_ERR_MESSAGE_MAX);
    va_start(ap, fmt);
    /* Our messages name at most a file (255 bytes) and numbers, far below
     * the cap; should one not fit, the code alone still says what failed. */
    if (buf_vappendf(&msg, fmt, ap) != ERR_OK)
        buf_reset(&msg);
    va_end(ap);
    rep->error_message = buf_detach(&msg, NULL);
    if (!rep->error_message)
        rep->error_code = ERR_NOMEM;
}

/* Why a jobdb call failed, in words, for the reply. */
static const char *cause(enum err e)
{
    switch (e) {
    case ERR_NOTFOUND:
        return "no such job";
    case ERR_UNAVAILABLE:
        return "database unavailable";
    case ERR_TIMEDOUT:
        return "no database connection free in time";
    case ERR_DB:
        return "database error";
    default:
        return err_str(e);
    }
}

/* Record a failure: the reply, and the database's text for the log. */
static void fail(struct ops_result *out, enum proto_cmd cmd, enum err e, const char *what,
                 const char *why)
{
    ops_error(&out->reply, cmd, e, "cannot %s: %s", what, why ? why : cause(e));
    if (e == ERR_DB || e == ERR_UNAVAILABLE || e == ERR_TIMEDOUT) {
        buf_reset(&out->db_error);
        if (buf_append_str(&out->db_error, db_last_error()) != ERR_OK)
            buf_reset(&out->db_error); /* log text only: losing it is harmless */
    }
}

/* Append <m> to the messages to publish. The array's capacity is the
 * smallest power of two, at least 8, holding n_feed: it doubles when full,
 * so a batch that opens thousands of jobs copies each message O(1) times. */
static enum err feed_push(struct ops_result *out, const struct proto_feed *m)
{
    size_t n = out->n_feed;

    if (n == 0 || (n >= 8 && (n & (n - 1)) == 0)) {
        struct proto_feed *nf = realloc(out->feed, (n == 0 ? 8 : 2 * n) * sizeof *nf);
        if (!nf)
            return ERR_NOMEM;
        out->feed = nf;
    }
    out->feed[out->n_feed++] = *m;
    return ERR_OK;
}

/* Read job <id> into the reply's job; <full> adds its history and files
 * (job.get). */
static enum err load_job(struct jobdb *db, int64_t id, bool full, struct proto_job *job)
{
    struct jobdb_history_entry *h = NULL;
    struct jobdb_file *files = NULL;
    struct jobdb_job row;
    size_t n_h = 0, n_f = 0;
    enum err e;

    /* Full: one round trip for the row, its history and its files. */
    e = full ? jobdb_get_full(db, id, &row, &h, &n_h, &files, &n_f) : jobdb_get(db, id, &row);
    if (e != ERR_OK)
        return e;
    e = jobmap_job(&row, h, n_h, job);
    if (e == ERR_OK && n_f > 0) {
        e = jobmap_job_files(files, n_f, job);
        if (e != ERR_OK)
            proto_job_release(job);
    }
    jobdb_files_free(files, n_f);
    free(h);
    jobdb_job_release(&row);
    return e;
}

static int file_by_name(const void *a, const void *b)
{
    return strcmp(((const struct jobdb_file *)a)->name, ((const struct jobdb_file *)b)->name);
}

/* The files of a job.create, in jobdb's form (<mf> holds their hex
 * hashes) and as reply rows sorted by name, as job.get lists them (<rows>
 * borrow the strings of <a>). Returns ERR_OK, or ERR_EXISTS when two
 * share a name (checked here so the database is not asked). */
static enum err create_files(const struct proto_job_create *a, struct jobmap_file *mf,
                             struct jobdb_new_file *nf, struct jobdb_file *rows)
{
    for (size_t i = 0; i < a->n_files; i++) {
        const struct proto_new_file *in = &a->files[i];
        struct proto_file pf = {.job_id = 0,
                                .name = in->name,
                                .size_bytes = in->size_bytes,
                                .content_type = in->content_type};
        memcpy(pf.sha256, in->sha256, 32);
        jobmap_file(&pf, &mf[i]);
        nf[i] = mf[i].f;
        rows[i] = (struct jobdb_file){.name = in->name,
                                      .role = mf[i].f.role,
                                      .sha256 = mf[i].sha,
                                      .size_bytes = in->size_bytes,
                                      .content_type = in->content_type};
    }
    if (a->n_files > 1) /* rows is NULL without files: qsort must not see it */
        qsort(rows, a->n_files, sizeof(*rows), file_by_name);
    for (size_t i = 1; i < a->n_files; i++)
        if (strcmp(rows[i - 1].name, rows[i].name) == 0)
            return ERR_EXISTS;
    return ERR_OK;
}

/* One job.create on its way through jobdb: what it allocated, and its
 * jobdb input (nj.in borrows from nj and from the request). */
struct create_ctx {
    struct jobmap_new_job nj;
    struct jobmap_file *mf;
    struct jobdb_new_file *nf;
    struct jobdb_file *rows; /* the reply's files, sorted by name */
    const char *why;         /* the failure's cause for the reply; NULL: cause(e) */
};

/* The first half of a job.create: check it, reserve its id and map it to
 * jobdb's input in <ctx> (zeroed first). Returns ERR_OK, or the failure
 * with ctx->why set where cause() would not say it. */
static enum err create_begin(struct jobdb *db, const struct proto_job_create *a,
                             struct create_ctx *ctx)
{
    int64_t id = 0;
    enum err e;

    memset(ctx, 0, sizeof *ctx);
    if (!a->has_spec_sha256) {
        ctx->why = "spec_sha256 is required (the sha256 of job.json, checked against the escrow)";
        return ERR_INVAL;
    }
    if (a->n_files > 0 && ((ctx->mf = calloc(a->n_files, sizeof(*ctx->mf))) == NULL ||
                           (ctx->nf = calloc(a->n_files, sizeof(*ctx->nf))) == NULL ||
                           (ctx->rows = calloc(a->n_files, sizeof(*ctx->rows))) == NULL))
        return ERR_NOMEM;
    e = create_files(a, ctx->mf, ctx->nf, ctx->rows);
    if (e == ERR_EXISTS)
        ctx->why = "two files of the job share a name";
    if (e == ERR_OK)
        e = jobdb_next_id(db, &id);
    if (e == ERR_OK)
        e = jobmap_new_job(a, id, &ctx->nj);
    return e;
}

/* The second half: the reply for the create's outcome <e> (<row> the stored
 * row when ERR_OK); frees what <ctx> holds. */
static void create_end(struct create_ctx *ctx, const struct proto_job_create *a, enum err e,
                       const struct jobdb_job *row, struct ops_result *out)
{
    if (e == ERR_OK) {
        out->job_id = row->id;
        for (size_t i = 0; i < a->n_files; i++)
            ctx->rows[i].job_id = row->id;
        e = jobmap_job(row, NULL, 0, &out->reply.result.job);
        if (e == ERR_OK && a->n_files > 0)
            e = jobmap_job_files(ctx->rows, a->n_files, &out->reply.result.job);
        if (e != ERR_OK)
            ctx->why = "cannot encode the stored row";
    }
    if (e != ERR_OK)
        fail(out, PROTO_CMD_JOB_CREATE, e, "create job", ctx->why);
    free(ctx->rows);
    free(ctx->nf);
    free(ctx->mf);
    memset(ctx, 0, sizeof *ctx);
}

static void job_create(struct jobdb *db, const struct proto_job_create *a, struct ops_result *out)
{
    struct create_ctx ctx;
    struct jobdb_job row;
    enum err e;

    memset(&row, 0, sizeof row);
    e = create_begin(db, a, &ctx);
    if (e == ERR_OK)
        e = jobdb_create_with_files(db, &ctx.nj.in, ctx.nf, a->n_files, &row);
    create_end(&ctx, a, e, &row, out);
    jobdb_job_release(&row);
}

static void job_get(struct jobdb *db, int64_t id, struct ops_result *out)
{
    char what[48];
    enum err e;

    out->job_id = id;
    e = load_job(db, id, true, &out->reply.result.job);
    if (e != ERR_OK) {
        snprintf(what, sizeof what, "get job %" PRId64, id);
        fail(out, PROTO_CMD_JOB_GET, e, what, NULL);
    }
}

static void job_list(struct jobdb *db, const struct proto_job_list *a, struct ops_result *out)
{
    struct proto_job_page *page = &out->reply.result.page;
    struct jobmap_filter f;
    struct jobdb_list l;
    size_t limit = a->has_limit ? (size_t)a->limit : JOBMAP_LIST_DEFAULT;
    enum err e;
    size_t i;

    jobmap_filter(a, &f);
    e = jobdb_list(db, &f.f, a->has_cursor ? a->cursor : 0, limit, &l);
    if (e != ERR_OK) {
        fail(out, PROTO_CMD_JOB_LIST, e, "list jobs", e == ERR_NOTFOUND ? "not found" : NULL);
        return;
    }
    if (l.n > 0) {
        page->jobs = calloc(l.n, sizeof *page->jobs);
        if (!page->jobs)
            e = ERR_NOMEM;
    }
    /* Pages carry no transitions (one query per page, not per job);
     * job.get gives a job's history. */
    for (i = 0; e == ERR_OK && i < l.n; i++) {
        e = jobmap_job(&l.jobs[i], NULL, 0, &page->jobs[i]);
        if (e == ERR_OK)
            page->n_jobs++;
    }
    page->has_next_cursor = l.next_cursor != 0;
    page->next_cursor = l.next_cursor;
    jobdb_list_release(&l);
    if (e != ERR_OK)
        fail(out, PROTO_CMD_JOB_LIST, e, "list jobs", NULL);
}

static void job_progress(struct jobdb *db, const struct proto_job_progress *a, int64_t now_at,
                         struct ops_result *out)
{
    char worker[JOBMAP_ADDR_LEN], what[64];
    struct proto_feed m;
    struct jobdb_job row;
    enum err e;

    out->job_id = a->job_id;
    snprintf(what, sizeof what, "report progress of job %" PRId64, a->job_id);
    hex_encode(a->worker, 20, true, worker);
    e = jobdb_update_progress(db, a->job_id, worker, (int)a->progress);
    if (e != ERR_OK) {
        fail(out, PROTO_CMD_JOB_PROGRESS, e, what,
             e == ERR_PERM    ? "the worker does not hold the claim"
             : e == ERR_STATE ? "the job is not being worked on"
                              : NULL);
        return;
    }
    e = jobdb_get(db, a->job_id, &row);
    if (e == ERR_OK) {
        e = jobmap_job(&row, NULL, 0, &out->reply.result.job);
        if (e == ERR_OK)
            e = jobmap_feed_progress(&row, now_at, &m);
        if (e == ERR_OK)
            e = feed_push(out, &m);
        jobdb_job_release(&row);
    }
    if (e != ERR_OK)
        fail(out, PROTO_CMD_JOB_PROGRESS, e, what, NULL);
}

static void job_result(struct jobdb *db, const struct proto_job_result *a, struct ops_result *out)
{
    char worker[JOBMAP_ADDR_LEN], sha[JOBMAP_HEX32_LEN], what[64];
    struct jobdb_file *files = NULL;
    struct jobdb_new_file f;
    size_t n = 0, i;
    enum err e;

    out->job_id = a->job_id;
    snprintf(what, sizeof what, "record the result of job %" PRId64, a->job_id);
    hex_encode(a->worker, 20, true, worker);
    hex_encode(a->result_sha256, 32, true, sha);
    /* The gateway records the upload's size and type with file.put; the
     * result names that record and commits its hash. */
    e = jobdb_list_files(db, a->job_id, &files, &n);
    if (e != ERR_OK) {
        fail(out, PROTO_CMD_JOB_RESULT, e, what, NULL);
        return;
    }
    for (i = 0; i < n && strcmp(files[i].name, a->file_name) != 0; i++)
        ;
    if (i == n) {
        fail(out, PROTO_CMD_JOB_RESULT, ERR_NOTFOUND, what,
             "no file of that name recorded (file.put it first)");
    } else if (strcmp(files[i].sha256, sha) != 0) {
        fail(out, PROTO_CMD_JOB_RESULT, ERR_INVAL, what,
             "result_sha256 differs from the recorded file's sha256");
    } else {
        memset(&f, 0, sizeof f);
        f.name = a->file_name;
        f.role = JOBDB_FILE_RESULT;
        f.sha256 = sha;
        f.size_bytes = files[i].size_bytes;
        f.content_type = files[i].content_type;
        e = jobdb_set_result(db, a->job_id, worker, &f);
        if (e == ERR_OK)
            e = load_job(db, a->job_id, false, &out->reply.result.job);
        if (e != ERR_OK)
            fail(out, PROTO_CMD_JOB_RESULT, e, what,
                 e == ERR_PERM    ? "the worker does not hold the claim"
                 : e == ERR_STATE ? "the job is not being worked on"
                                  : NULL);
    }
    jobdb_files_free(files, n);
}

static void file_put(struct jobdb *db, const struct proto_file *a, struct ops_result *out)
{
    struct proto_file *r = &out->reply.result.file;
    struct jobmap_file f;
    char what[PROTO_FILE_NAME_MAX + 64];
    enum err e;

    out->job_id = a->job_id;
    snprintf(what, sizeof what, "record file \"%s\" of job %" PRId64, a->name, a->job_id);
    jobmap_file(a, &f);
    e = jobdb_add_file(db, a->job_id, &f.f);
    if (e != ERR_OK) {
        fail(out, PROTO_CMD_FILE_PUT, e, what,
             e == ERR_EXISTS ? "the job already has a file of that name" : NULL);
        return;
    }
    *r = *a;
    r->name = strdup(a->name);
    r->content_type = strdup(a->content_type);
    if (!r->name || !r->content_type)
        fail(out, PROTO_CMD_FILE_PUT, ERR_NOMEM, what, NULL);
}

static void auth_nonce(struct jobdb *db, const struct proto_auth_nonce *a, struct ops_result *out)
{
    char addr[JOBMAP_ADDR_LEN];
    enum err e;

    hex_encode(a->address, 20, true, addr);
    e = jobdb_consume_nonce(db, addr, a->nonce, a->expires_at);
    if (e != ERR_OK)
        fail(out, PROTO_CMD_AUTH_NONCE, e, "accept nonce",
             e == ERR_EXISTS ? "nonce already used (replay)" : NULL);
}

/* Publish what each status change announces, from the rows the
 * transaction committed (jobdb_change.job): no read after it. */
static enum err announce(const struct jobdb_changes *ch, int64_t now_at, struct ops_result *out)
{
    size_t i;
    enum err e = ERR_OK;

    out->changes = ch->n;
    for (i = 0; e == ERR_OK && i < ch->n; i++) {
        struct proto_feed m;
        int publish = 0;

        e = jobmap_feed_change(&ch->items[i].job, ch->items[i].to, now_at, &m, &publish);
        if (e == ERR_OK && publish)
            e = feed_push(out, &m);
    }
    return e;
}

static void events_apply(struct jobdb *db, const struct proto_events_apply *a, int64_t now_at,
                         struct ops_result *out)
{
    struct jobdb_block *blocks = calloc(a->n_blocks ? a->n_blocks : 1, sizeof *blocks);
    struct jobdb_event *events = calloc(a->n_events ? a->n_events : 1, sizeof *events);
    struct jobdb_changes ch;
    struct jobdb_batch b;
    char what[96];
    enum err e = blocks && events ? ERR_OK : ERR_NOMEM;
    size_t i;

    memset(&ch, 0, sizeof ch);
    snprintf(what, sizeof what, "apply blocks %" PRId64 "-%" PRId64, a->from_block, a->to_block);
    for (i = 0; e == ERR_OK && i < a->n_blocks; i++)
        jobmap_block(&a->blocks[i], &blocks[i]);
    for (i = 0; e == ERR_OK && i < a->n_events; i++)
        e = jobmap_event(&a->events[i], &events[i]);
    if (e != ERR_OK) {
        fail(out, PROTO_CMD_EVENTS_APPLY, e, what, NULL);
        goto done;
    }
    memset(&b, 0, sizeof b);
    b.from_block = (uint64_t)a->from_block;
    b.to_block = (uint64_t)a->to_block;
    b.blocks = blocks;
    b.n_blocks = a->n_blocks;
    b.events = events;
    b.n_events = a->n_events;
    e = jobdb_apply_batch(db, &b, &ch);
    if (e != ERR_OK) {
        fail(out, PROTO_CMD_EVENTS_APPLY, e, what,
             e == ERR_STATE ? "does not follow the checkpoint (a gap, or a reorg: roll back first)"
             : e == ERR_INVAL ? "malformed batch"
                              : NULL);
        goto done;
    }
    out->reply.result.applied.events_applied = (int64_t)ch.n_applied;
    out->reply.result.applied.checkpoint.number = (int64_t)ch.checkpoint.block_number;
    memcpy(out->reply.result.applied.checkpoint.hash, ch.checkpoint.block_hash, 32);
    e = announce(&ch, now_at, out);
    if (e != ERR_OK)
        fail(out, PROTO_CMD_EVENTS_APPLY, e, what, "applied, but cannot announce the changes");
done:
    jobdb_changes_release(&ch);
    free(events);
    free(blocks);
}

static void checkpoint_get(struct jobdb *db, struct ops_result *out)
{
    struct proto_checkpoint *r = &out->reply.result.checkpoint;
    struct jobdb_checkpoint cp;
    enum err e;

    e = jobdb_get_checkpoint(db, &cp);
    if (e == ERR_NOTFOUND)
        return; /* before the first events.apply: {} */
    if (e != ERR_OK) {
        fail(out, PROTO_CMD_CHECKPOINT_GET, e, "read checkpoint", NULL);
        return;
    }
    r->has_checkpoint = true;
    r->checkpoint.number = (int64_t)cp.block_number;
    memcpy(r->checkpoint.hash, cp.block_hash, 32);
}

static void reorg_rollback(struct jobdb *db, const struct proto_reorg_rollback *a, int64_t now_at,
                           struct ops_result *out)
{
    struct jobdb_changes ch;
    struct jobdb_block fork;
    char what[64];
    enum err e;

    memset(&fork, 0, sizeof fork);
    fork.number = (uint64_t)a->to_block;
    memcpy(fork.hash, a->block_hash, 32);
    snprintf(what, sizeof what, "roll back to block %" PRId64, a->to_block);
    e = jobdb_rollback(db, &fork, &ch);
    if (e != ERR_OK) {
        fail(out, PROTO_CMD_REORG_ROLLBACK, e, what,
             e == ERR_NOTFOUND ? "no checkpoint yet"
             : e == ERR_STATE  ? "the stored hash of that block differs"
                               : NULL);
        return;
    }
    out->reply.result.rollback.events_removed = (int64_t)ch.n_removed;
    out->reply.result.rollback.checkpoint.number = a->to_block;
    memcpy(out->reply.result.rollback.checkpoint.hash, a->block_hash, 32);
    e = announce(&ch, now_at, out);
    if (e != ERR_OK)
        fail(out, PROTO_CMD_REORG_ROLLBACK, e, what,
             "rolled back, but cannot announce the changes");
    jobdb_changes_release(&ch);
}

static void jobs_due(struct jobdb *db, const struct proto_jobs_due *a, struct ops_result *out)
{
    struct proto_due_page *page = &out->reply.result.due;
    struct jobdb_due *due = NULL;
    size_t n = 0, i;
    enum err e;

    e = jobdb_due(db, a->now_at, (size_t)a->limit, &due, &n);
    if (e != ERR_OK) {
        fail(out, PROTO_CMD_JOBS_DUE, e, "list due jobs", NULL);
        return;
    }
    if (n > 0) {
        page->jobs = calloc(n, sizeof *page->jobs);
        if (!page->jobs) {
            free(due);
            fail(out, PROTO_CMD_JOBS_DUE, ERR_NOMEM, "list due jobs", NULL);
            return;
        }
    }
    for (i = 0; i < n; i++)
        jobmap_due(&due[i], &page->jobs[i]);
    page->n_jobs = n;
    free(due);
}

static void result_init(struct ops_result *out, enum proto_cmd cmd)
{
    memset(out, 0, sizeof *out);
    buf_init(&out->db_error, 4096);
    out->reply.cmd = cmd;
    out->reply.ok = true;
}

void ops_run(struct jobdb *db, const struct proto_request *req, int64_t now_at,
             struct ops_result *out)
{
    result_init(out, req->cmd);
    switch (req->cmd) {
    case PROTO_CMD_JOB_CREATE:
        job_create(db, &req->args.job_create, out);
        break;
    case PROTO_CMD_JOB_GET:
        job_get(db, req->args.job_get.job_id, out);
        break;
    case PROTO_CMD_JOB_LIST:
        job_list(db, &req->args.job_list, out);
        break;
    case PROTO_CMD_JOB_PROGRESS:
        job_progress(db, &req->args.job_progress, now_at, out);
        break;
    case PROTO_CMD_JOB_RESULT:
        job_result(db, &req->args.job_result, out);
        break;
    case PROTO_CMD_FILE_PUT:
        file_put(db, &req->args.file_put, out);
        break;
    case PROTO_CMD_AUTH_NONCE:
        auth_nonce(db, &req->args.auth_nonce, out);
        break;
    case PROTO_CMD_EVENTS_APPLY:
        events_apply(db, &req->args.events_apply, now_at, out);
        break;
    case PROTO_CMD_CHECKPOINT_GET:
        checkpoint_get(db, out);
        break;
    case PROTO_CMD_REORG_ROLLBACK:
        reorg_rollback(db, &req->args.reorg_rollback, now_at, out);
        break;
    case PROTO_CMD_JOBS_DUE:
        jobs_due(db, &req->args.jobs_due, out);
        break;
    case PROTO_CMD__COUNT:
        ops_error(&out->reply, req->cmd, ERR_INVAL, "unknown command");
        break;
    }
    if (!out->reply.ok) {
        free(out->feed);
        out->feed = NULL;
        out->n_feed = 0;
    }
}

_Static_assert(OPS_CREATE_BATCH_MAX == JOBDB_CREATE_BATCH_MAX, "one batch bound");

void ops_run_creates(struct jobdb *db, const struct proto_request *const *reqs, size_t n,
                     struct ops_result *const *outs)
{
    struct jobdb_create_item *items = NULL;
    struct create_ctx *ctx = NULL;
    enum err *begun = NULL;
    size_t i, k, n_items = 0;
    enum err e;

    LOOM_ASSERT(n <= OPS_CREATE_BATCH_MAX);
    for (i = 0; i < n; i++) {
        LOOM_ASSERT(reqs[i]->cmd == PROTO_CMD_JOB_CREATE);
        result_init(outs[i], PROTO_CMD_JOB_CREATE);
    }
    if (n == 0)
        return;
    items = calloc(n, sizeof *items);
    ctx = calloc(n, sizeof *ctx);
    begun = calloc(n, sizeof *begun);
    if (!items || !ctx || !begun) {
        for (i = 0; i < n; i++)
            fail(outs[i], PROTO_CMD_JOB_CREATE, ERR_NOMEM, "create job", NULL);
        goto out;
    }
    /* Each request checked and mapped on its own; the well-formed ones go
     * to the database together (jobdb_create_batch(): one statement, one
     * commit; each job still fails alone). */
    for (i = 0; i < n; i++) {
        const struct proto_job_create *a = &reqs[i]->args.job_create;
        begun[i] = create_begin(db, a, &ctx[i]);
        if (begun[i] != ERR_OK)
            continue;
        items[n_items].in = &ctx[i].nj.in;
        items[n_items].files = ctx[i].nf;
        items[n_items].n_files = a->n_files;
        n_items++;
    }
    e = jobdb_create_batch(db, items, n_items); /* outcomes are per item, read below */
    (void)e;
    for (i = 0, k = 0; i < n; i++) {
        const struct proto_job_create *a = &reqs[i]->args.job_create;
        if (begun[i] != ERR_OK) {
            create_end(&ctx[i], a, begun[i], NULL, outs[i]);
            continue;
        }
        create_end(&ctx[i], a, items[k].err, &items[k].row, outs[i]);
        jobdb_job_release(&items[k].row);
        k++;
    }
out:
    free(begun);
    free(ctx);
    free(items);
}
