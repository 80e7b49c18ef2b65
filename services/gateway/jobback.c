/*
 * jobback -- backend calls as proto commands to the job store; one call
 * context per request, freed when its callback has run.
 * SPDX-License-Identifier: MIT
 */
#include "jobback.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "client.h"
#include "cmd.h"
#include "dec.h"
#include "hex.h"
#include "job.h"
#include "proto.h"

enum call_kind { CK_JOB, CK_JOBS, CK_DONE };

/* What a call does after its current command replied. */
enum call_step {
    ST_CREATE,
    ST_FILE_PUT,
    ST_ADD_CHECK,
    ST_ADD_PUT,
    ST_RES_CHECK,
    ST_RES_PUT,
    ST_ONE,
    ST_LIST,
    ST_NONCE
};

struct jobback {
    struct proto_client *client;
    struct jobback_config cfg;
    jobback_quote_fn quote_fn;
    void *quote_ctx;
    bool closing;
};

struct call {
    struct jobback *jb;
    enum call_kind kind;
    enum call_step step;
    union {
        gw_job_cb job;
        gw_jobs_cb jobs;
        gw_done_cb done;
    } cb;
    void *arg;
    struct gw_job job;     /* the reply being built */
    struct gw_file *files; /* files to record or append (owned copies) */
    size_t n_files, next_file;
    int files_inline;           /* create: the files went in the job.create */
    uint64_t result_size_bytes; /* set_result: size of the result object */
    char client[43];            /* add_file: who must own the job; set_result: the worker */
};

static void call_free(struct call *c)
{
    gw_job_release(&c->job);
    for (size_t i = 0; i < c->n_files; i++)
        gw_file_release(&c->files[i]);
    free(c->files);
    free(c);
}

static enum err dup_str(char **dst, const char *src)
{
    *dst = NULL;
    if (src == NULL)
        return ERR_OK;
    *dst = strdup(src);
    return *dst == NULL ? ERR_NOMEM : ERR_OK;
}

static enum err dup_hex(char **dst, const uint8_t *data, size_t len, bool prefix)
{
    *dst = malloc(2 * len + 3);
    if (*dst == NULL)
        return ERR_NOMEM;
    hex_encode(data, len, prefix, *dst);
    return ERR_OK;
}

/*
 * The record's files (job.get lists them) as the gateway's: inputs and the
 * spec go to dst->files (as memback keeps them); the result file gives
 * result_size_bytes and, until JobSubmitted commits result_sha256 on chain,
 * result_sha256. With several result files (a job reopened and worked
 * again) the one matching the commitment wins, else the last listed.
 */
static enum err files_from_proto(struct gw_job *dst, const struct proto_job *src)
{
    const struct proto_job_file *result = NULL;
    size_t n_in = 0;
    for (size_t i = 0; i < src->n_files; i++) {
        const struct proto_job_file *f = &src->files[i];
        if (f->role != PROTO_FILE_RESULT) {
            n_in++;
            continue;
        }
        if (result == NULL || !src->has_result_sha256 ||
            memcmp(result->sha256, src->result_sha256, 32) != 0)
            result = f;
    }
    if (n_in > 0) {
        dst->files = calloc(n_in, sizeof(*dst->files));
        if (dst->files == NULL)
            return ERR_NOMEM;
    }
    for (size_t i = 0; i < src->n_files; i++) {
        const struct proto_job_file *f = &src->files[i];
        if (f->role == PROTO_FILE_RESULT)
            continue;
        struct gw_file *g = &dst->files[dst->n_files++];
        g->size_bytes = (uint64_t)f->size_bytes;
        enum err e = dup_str(&g->name, f->name);
        if (e == ERR_OK)
            e = dup_hex(&g->sha256, f->sha256, 32, false);
        if (e != ERR_OK)
            return e;
    }
    if (result != NULL) {
        dst->result_size_bytes = (uint64_t)result->size_bytes;
        if (dst->result_sha256 == NULL)
            return dup_hex(&dst->result_sha256, result->sha256, 32, false);
    }
    return ERR_OK;
}

enum err jobback_job_from_proto(struct gw_job *dst, const struct proto_job *src)
{
    enum err e = ERR_OK;
    memset(dst, 0, sizeof(*dst));
    if (src->type >= PROTO_JOB_TYPE__COUNT || src->status >= PROTO_STATUS__COUNT)
        return ERR_INVAL; /* the decoder rejects these: a programming error upstream */
    dst->id = src->id;
    dst->price_usd_cents = src->price_usd_cents;
    dst->progress = (int)src->progress;
    dst->created_at = src->created_at;
    if ((e = dup_str(&dst->title, src->title)) != ERR_OK ||
        (e = dup_str(&dst->description, src->description ? src->description : "")) != ERR_OK ||
        (e = dup_str(&dst->type, proto_job_type_names[src->type])) != ERR_OK ||
        (e = dup_str(&dst->status, proto_job_status_names[src->status])) != ERR_OK ||
        (e = dup_hex(&dst->client, src->wallet_address, 20, true)) != ERR_OK ||
        (e = dup_str(&dst->cloud_link, src->cloud_link)) != ERR_OK ||
        (e = dup_str(&dst->external_links, src->external_links)) != ERR_OK)
        goto out;
    if (src->has_worker_address &&
        (e = dup_hex(&dst->worker, src->worker_address, 20, true)) != ERR_OK)
        goto out;
    if (src->has_spec_sha256 &&
        (e = dup_hex(&dst->spec_sha256, src->spec_sha256, 32, false)) != ERR_OK)
        goto out;
    if (src->has_result_sha256 &&
        (e = dup_hex(&dst->result_sha256, src->result_sha256, 32, false)) != ERR_OK)
        goto out;
    if (src->has_chain_job_id &&
        (e = dup_hex(&dst->chain_job_id, src->chain_job_id, 32, true)) != ERR_OK)
        goto out;
    if (src->has_escrow_wei) {
        char wei[DEC_U256_MAX];
        dec_u256_be(src->escrow_wei, wei);
        if ((e = dup_str(&dst->escrow_wei, wei)) != ERR_OK)
            goto out;
    }
    dst->deadline_at = src->deadline_at;
    dst->max_runtime_s = src->max_runtime_s;
    e = files_from_proto(dst, src);
out:
    if (e != ERR_OK)
        gw_job_release(dst);
    return e;
}

/* The outcome of a command as the gateway's code and message. */
static enum err outcome(enum err status, const struct proto_reply *rep, const char **msg)
{
    *msg = "";
    switch (status) {
    case ERR_OK:
        break;
    case ERR_TIMEDOUT:
    case ERR_IO:
        *msg = "job store unavailable";
        return ERR_UNAVAILABLE;
    case ERR_PROTO:
        *msg = "job store sent an undecodable reply";
        return ERR_PROTO;
    case ERR_CANCELED:
        *msg = "gateway shutting down";
        return ERR_CANCELED;
    default:
        *msg = "job store call failed";
        return status;
    }
    if (!rep->ok) {
        *msg = rep->error_message ? rep->error_message : "";
        /* The job store's database being down is the same to a client. */
        return rep->error_code == ERR_DB ? ERR_UNAVAILABLE : rep->error_code;
    }
    return ERR_OK;
}

static void finish(struct call *c, enum err e, const char *msg)
{
    switch (c->kind) {
    case CK_JOB:
        c->cb.job(c->arg, e, msg, e == ERR_OK ? &c->job : NULL);
        break;
    case CK_DONE:
        c->cb.done(c->arg, e, msg);
        break;
    case CK_JOBS: /* list replies finish in reply_cb itself */
        c->cb.jobs(c->arg, e, msg, NULL, 0, 0);
        break;
    }
    call_free(c);
}

static enum err parse_address(const char *s, uint8_t out[20])
{
    if (s == NULL || strlen(s) != 42 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
        return ERR_INVAL;
    return hex_decode_exact(s, out, 20);
}

static void reply_cb(void *arg, enum err status, struct proto_reply *rep);

static enum err send_req(struct call *c, const struct proto_request *req)
{
    if (c->jb->closing)
        return ERR_CANCELED;
    enum err e = proto_client_send(c->jb->client, req, reply_cb, c);
    /* ERR_RANGE/ERR_TOOBIG from the encoder are bad input like ERR_INVAL. */
    if (e == ERR_RANGE || e == ERR_TOOBIG)
        e = ERR_INVAL;
    return e;
}

static enum err send_file_put(struct call *c, int64_t job_id, const struct gw_file *f)
{
    struct proto_request req = {.cmd = PROTO_CMD_FILE_PUT};
    req.args.file_put.job_id = job_id;
    req.args.file_put.name = f->name;
    req.args.file_put.size_bytes = (int64_t)f->size_bytes;
    /* The gateway stores bytes, not media types: say so honestly. */
    static char octet_stream[] = "application/octet-stream";
    req.args.file_put.content_type = octet_stream;
    if (hex_decode_exact(f->sha256, req.args.file_put.sha256, 32) != ERR_OK)
        return ERR_INVAL;
    return send_req(c, &req);
}

static enum err send_get(struct call *c, int64_t id)
{
    struct proto_request req = {.cmd = PROTO_CMD_JOB_GET};
    req.args.job_get.job_id = id;
    return send_req(c, &req);
}

/*
 * The step between job.get and recording an upload (a result or an added
 * file): the job (c->job) must be <owner>'s (the job's worker or client,
 * NULL when it has none; the request's signer is c->client) and in
 * <status>; then file.put of c->files[0], whose reply comes back as step
 * <next>. Checked before anything is recorded, so a refused upload leaves
 * no file record behind.
 *   perm_msg, state_msg, put_msg: *msg on ERR_PERM, on ERR_STATE, and when
 *   file.put cannot be sent.
 * Returns ERR_OK once file.put is sent, ERR_PERM, ERR_STATE, or
 * send_file_put()'s errors.
 */
static enum err put_if_allowed(struct call *c, const char *owner, const char *status,
                               enum call_step next, const char *perm_msg, const char *state_msg,
                               const char *put_msg, const char **msg)
{
    if (owner == NULL || strcasecmp(owner, c->client) != 0) {
        *msg = perm_msg;
        return ERR_PERM;
    }
    if (strcmp(c->job.status, status) != 0) {
        *msg = state_msg;
        return ERR_STATE;
    }
    c->step = next;
    enum err e = send_file_put(c, c->job.id, &c->files[0]);
    if (e != ERR_OK)
        *msg = put_msg;
    return e;
}

/* Append the call's files to the job it replies with. */
static enum err attach_files(struct call *c)
{
    if (c->n_files == 0)
        return ERR_OK;
    struct gw_file *f = realloc(c->job.files, (c->job.n_files + c->n_files) * sizeof(*f));
    if (f == NULL)
        return ERR_NOMEM;
    c->job.files = f;
    for (size_t i = 0; i < c->n_files; i++) {
        if (gw_file_copy(&f[c->job.n_files], &c->files[i]) != ERR_OK)
            return ERR_NOMEM;
        c->job.n_files++;
    }
    return ERR_OK;
}

static void list_done(struct call *c, const struct proto_job_page *page)
{
    struct gw_job *jobs = calloc(page->n_jobs ? page->n_jobs : 1, sizeof(*jobs));
    size_t n = 0;
    enum err e = jobs == NULL ? ERR_NOMEM : ERR_OK;
    for (; e == ERR_OK && n < page->n_jobs; n++)
        if ((e = jobback_job_from_proto(&jobs[n], &page->jobs[n])) != ERR_OK)
            break;
    if (e == ERR_OK)
        c->cb.jobs(c->arg, ERR_OK, "", jobs, n, page->has_next_cursor ? page->next_cursor : 0);
    else
        c->cb.jobs(c->arg, e, "cannot convert job list", NULL, 0, 0);
    for (size_t i = 0; i < n; i++)
        gw_job_release(&jobs[i]);
    free(jobs);
    call_free(c);
}

static void reply_cb(void *arg, enum err status, struct proto_reply *rep)
{
    struct call *c = arg;
    const char *msg;
    enum err e = outcome(status, rep, &msg);
    if (e != ERR_OK) {
        finish(c, e, msg);
        proto_reply_release(rep);
        return;
    }
    msg = "";
    switch (c->step) {
    case ST_LIST:
        list_done(c, &rep->result.page);
        proto_reply_release(rep);
        return;
    case ST_NONCE:
        break;
    case ST_CREATE:
    case ST_ONE:
    case ST_RES_CHECK:
    case ST_ADD_CHECK:
        gw_job_release(&c->job);
        e = jobback_job_from_proto(&c->job, &rep->result.job);
        if (e == ERR_OK && c->step == ST_ONE && c->n_files == 1 && c->client[0] != '\0') {
            /* job.result accepted: the job store checked that this sha256
             * is the recorded file's. The record's result_sha256 is the
             * on-chain commitment (set at JobSubmitted), so until then the
             * reply shows the uploaded one. */
            c->job.result_size_bytes = c->result_size_bytes;
            if (c->job.result_sha256 == NULL)
                e = dup_str(&c->job.result_sha256, c->files[0].sha256);
        }
        if (e == ERR_OK && (c->step == ST_RES_CHECK || c->step == ST_ADD_CHECK)) {
            /* A result: job.result checks the worker and status again. */
            e = c->step == ST_RES_CHECK
                    ? put_if_allowed(c, c->job.worker, "WORKING", ST_RES_PUT,
                                     "only the job's assigned worker may upload its result",
                                     "the job is not WORKING", "cannot record the result file",
                                     &msg)
                    : put_if_allowed(c, c->job.client, "PENDING", ST_ADD_PUT,
                                     "only the job's client may add files",
                                     "files can be added only while the job is PENDING",
                                     "cannot record the file", &msg);
            if (e == ERR_OK) {
                proto_reply_release(rep);
                return;
            }
            break;
        }
        /* job.create recorded the files with the job (one transaction)
         * when it carried them; file.put, one by one, is for a job store
         * that took the job alone (c->files_inline 0). */
        if (e == ERR_OK && c->step == ST_CREATE && c->n_files > 0 && !c->files_inline) {
            c->step = ST_FILE_PUT;
            c->next_file = 0;
            e = send_file_put(c, c->job.id, &c->files[c->next_file++]);
            if (e == ERR_OK) {
                proto_reply_release(rep);
                return;
            }
            msg = "cannot record the job's files";
        }
        break;
    case ST_FILE_PUT:
        if (c->next_file < c->n_files) {
            e = send_file_put(c, c->job.id, &c->files[c->next_file++]);
            if (e == ERR_OK) {
                proto_reply_release(rep);
                return;
            }
            msg = "cannot record the job's files";
            break;
        }
        e = attach_files(c);
        break;
    case ST_ADD_PUT:
        e = attach_files(c);
        break;
    case ST_RES_PUT: { /* the file is recorded: now the result itself */
        struct proto_request req = {.cmd = PROTO_CMD_JOB_RESULT};
        struct proto_job_result *a = &req.args.job_result;
        a->job_id = c->job.id;
        a->file_name = c->files[0].name;
        c->step = ST_ONE;
        if ((e = parse_address(c->client, a->worker)) == ERR_OK &&
            (e = hex_decode_exact(c->files[0].sha256, a->result_sha256, 32)) == ERR_OK &&
            (e = send_req(c, &req)) == ERR_OK) {
            proto_reply_release(rep);
            return;
        }
        msg = "cannot record the result";
        break;
    }
    }
    proto_reply_release(rep);
    finish(c, e, msg);
}

static enum err call_new(struct jobback *jb, enum call_kind kind, enum call_step step, void *arg,
                         struct call **out)
{
    struct call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return ERR_NOMEM;
    c->jb = jb;
    c->kind = kind;
    c->step = step;
    c->arg = arg;
    *out = c;
    return ERR_OK;
}

static enum err copy_files(struct call *c, const struct gw_file *files, size_t n)
{
    if (n == 0)
        return ERR_OK;
    c->files = calloc(n, sizeof(*c->files));
    if (c->files == NULL)
        return ERR_NOMEM;
    for (; c->n_files < n; c->n_files++)
        if (gw_file_copy(&c->files[c->n_files], &files[c->n_files]) != ERR_OK)
            return ERR_NOMEM;
    return ERR_OK;
}

static int find_name(const char *const *names, int count, const char *s)
{
    for (int i = 0; i < count; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static enum err jb_create_job(void *ctx, const struct gw_job_new *in, gw_job_cb cb, void *arg)
{
    struct jobback *jb = ctx;
    struct call *c = NULL;
    struct proto_new_file *nf = NULL;
    struct proto_request req = {.cmd = PROTO_CMD_JOB_CREATE};
    struct proto_job_create *a = &req.args.job_create;
    int type = find_name(proto_job_type_names, PROTO_JOB_TYPE__COUNT, in->type);
    enum err e = ERR_INVAL;
    if (type < 0 || parse_address(in->client, a->wallet_address) != ERR_OK)
        goto out;
    a->title = (char *)in->title; /* the encoder only reads */
    a->description = (char *)(in->description ? in->description : "");
    a->type = (enum proto_job_type)type;
    a->price_usd_cents = in->price_usd_cents;
    a->cloud_link = (char *)in->cloud_link;
    a->external_links = (char *)in->external_links;
    if (in->spec_sha256 != NULL) {
        a->has_spec_sha256 = true;
        if (hex_decode_exact(in->spec_sha256, a->spec_sha256, 32) != ERR_OK)
            goto out;
    }
    a->deadline_at = (int64_t)time(NULL) + jb->cfg.job_deadline_s;
    a->max_runtime_s = jb->cfg.job_max_runtime_s;
    if ((e = call_new(jb, CK_JOB, ST_CREATE, arg, &c)) != ERR_OK)
        goto out;
    c->cb.job = cb;
    if ((e = copy_files(c, in->files, in->n_files)) != ERR_OK)
        goto out;
    /* The files travel in the job.create: one command, one transaction. */
    e = ERR_NOMEM;
    if (in->n_files > 0 && (nf = calloc(in->n_files, sizeof(*nf))) == NULL)
        goto out;
    static char octet_stream[] = "application/octet-stream"; /* as send_file_put */
    e = ERR_INVAL;
    for (size_t i = 0; i < in->n_files; i++) {
        nf[i].name = in->files[i].name; /* the encoder only reads */
        nf[i].size_bytes = (int64_t)in->files[i].size_bytes;
        nf[i].content_type = octet_stream;
        if (hex_decode_exact(in->files[i].sha256, nf[i].sha256, 32) != ERR_OK)
            goto out;
    }
    a->files = nf;
    a->n_files = in->n_files;
    c->files_inline = 1;
    e = send_req(c, &req);
out:
    free(nf);
    if (e != ERR_OK && c != NULL)
        call_free(c);
    return e;
}

static enum err jb_get_job(void *ctx, int64_t id, gw_job_cb cb, void *arg)
{
    struct call *c;
    enum err e = call_new(ctx, CK_JOB, ST_ONE, arg, &c);
    if (e != ERR_OK)
        return e;
    c->cb.job = cb;
    if ((e = send_get(c, id)) != ERR_OK)
        call_free(c);
    return e;
}

static enum err jb_list_jobs(void *ctx, const struct gw_job_filter *f, gw_jobs_cb cb, void *arg)
{
    struct proto_request req = {.cmd = PROTO_CMD_JOB_LIST};
    struct proto_job_list *a = &req.args.job_list;
    struct call *c;
    if (f->status != NULL) {
        int s = find_name(proto_job_status_names, PROTO_STATUS__COUNT, f->status);
        if (s < 0)
            return ERR_INVAL;
        a->has_status = true;
        a->status = (enum proto_job_status)s;
    }
    if (f->type != NULL) {
        int t = find_name(proto_job_type_names, PROTO_JOB_TYPE__COUNT, f->type);
        if (t < 0)
            return ERR_INVAL;
        a->has_type = true;
        a->type = (enum proto_job_type)t;
    }
    if (f->client != NULL && (a->has_client = true, parse_address(f->client, a->client)) != ERR_OK)
        return ERR_INVAL;
    if (f->worker != NULL && (a->has_worker = true, parse_address(f->worker, a->worker)) != ERR_OK)
        return ERR_INVAL;
    /* The cursor is opaque to clients: the job store pages by ascending id
     * and its next_cursor goes back unchanged. */
    a->has_cursor = f->before_id > 0;
    a->cursor = f->before_id;
    a->has_limit = f->limit > 0;
    a->limit = f->limit;
    enum err e = call_new(ctx, CK_JOBS, ST_LIST, arg, &c);
    if (e != ERR_OK)
        return e;
    c->cb.jobs = cb;
    if ((e = send_req(c, &req)) != ERR_OK)
        call_free(c);
    return e;
}

static enum err jb_update_progress(void *ctx, int64_t id, const char *worker, int progress,
                                   gw_job_cb cb, void *arg)
{
    struct proto_request req = {.cmd = PROTO_CMD_JOB_PROGRESS};
    struct call *c;
    req.args.job_progress.job_id = id;
    req.args.job_progress.progress = progress;
    if (parse_address(worker, req.args.job_progress.worker) != ERR_OK)
        return ERR_INVAL;
    enum err e = call_new(ctx, CK_JOB, ST_ONE, arg, &c);
    if (e != ERR_OK)
        return e;
    c->cb.job = cb;
    if ((e = send_req(c, &req)) != ERR_OK)
        call_free(c);
    return e;
}

static enum err jb_set_result(void *ctx, int64_t id, const char *worker,
                              const struct gw_file *result, gw_job_cb cb, void *arg)
{
    /* job.get (is <worker> assigned, is the job WORKING?), file.put (the
     * object's record, which job.result requires), job.result. */
    struct call *c;
    uint8_t check[32];
    if (worker == NULL || strlen(worker) != 42 || result->sha256 == NULL ||
        hex_decode_exact(result->sha256, check, 32) != ERR_OK)
        return ERR_INVAL;
    enum err e = call_new(ctx, CK_JOB, ST_RES_CHECK, arg, &c);
    if (e != ERR_OK)
        return e;
    c->cb.job = cb;
    c->result_size_bytes = result->size_bytes;
    memcpy(c->client, worker, 43);
    if ((e = copy_files(c, result, 1)) != ERR_OK || (e = send_get(c, id)) != ERR_OK)
        call_free(c);
    return e;
}

static enum err jb_add_file(void *ctx, int64_t id, const char *client, const struct gw_file *file,
                            gw_job_cb cb, void *arg)
{
    /* Ownership is ours to check (file.put does not know the client):
     * read the job, compare, then record the file. The job store still
     * refuses a job that is not PENDING or a name already taken. */
    struct call *c;
    if (client == NULL || strlen(client) != 42)
        return ERR_INVAL;
    enum err e = call_new(ctx, CK_JOB, ST_ADD_CHECK, arg, &c);
    if (e != ERR_OK)
        return e;
    c->cb.job = cb;
    memcpy(c->client, client, 43);
    if ((e = copy_files(c, file, 1)) != ERR_OK || (e = send_get(c, id)) != ERR_OK)
        call_free(c);
    return e;
}

static enum err jb_consume_nonce(void *ctx, const char *address, const char *nonce,
                                 int64_t expires_at, gw_done_cb cb, void *arg)
{
    struct proto_request req = {.cmd = PROTO_CMD_AUTH_NONCE};
    struct call *c;
    req.args.auth_nonce.nonce = (char *)nonce;
    req.args.auth_nonce.expires_at = expires_at;
    if (parse_address(address, req.args.auth_nonce.address) != ERR_OK)
        return ERR_INVAL;
    enum err e = call_new(ctx, CK_DONE, ST_NONCE, arg, &c);
    if (e != ERR_OK)
        return e;
    c->cb.done = cb;
    if ((e = send_req(c, &req)) != ERR_OK)
        call_free(c);
    return e;
}

static enum err jb_quote(void *ctx, int64_t usd_cents, gw_quote_cb cb, void *arg)
{
    struct jobback *jb = ctx;
    if (jb->quote_fn == NULL)
        return ERR_UNAVAILABLE;
    return jb->quote_fn(jb->quote_ctx, usd_cents, cb, arg);
}

enum err jobback_new(struct event_base *base, const struct jobback_config *cfg,
                     struct jobback **out)
{
    if (cfg->addr == NULL || cfg->timeout_ms <= 0 || cfg->job_deadline_s <= 0 ||
        cfg->job_max_runtime_s < 1 || cfg->job_max_runtime_s > PROTO_RUNTIME_MAX_S)
        return ERR_INVAL;
    struct jobback *jb = calloc(1, sizeof(*jb));
    if (jb == NULL)
        return ERR_NOMEM;
    jb->cfg = *cfg;
    enum err e = proto_client_new_async(base, cfg->addr, cfg->timeout_ms, &jb->client);
    if (e != ERR_OK) {
        free(jb);
        return e;
    }
    jb->cfg.addr = NULL; /* borrowed: not kept */
    *out = jb;
    return ERR_OK;
}

void jobback_free(struct jobback *jb)
{
    if (jb == NULL)
        return;
    jb->closing = true; /* canceled calls must not send their next step */
    proto_client_free(jb->client);
    free(jb);
}

void jobback_backend(struct jobback *jb, struct gw_backend *out)
{
    memset(out, 0, sizeof(*out));
    out->ctx = jb;
    out->create_job = jb_create_job;
    out->get_job = jb_get_job;
    out->list_jobs = jb_list_jobs;
    out->update_progress = jb_update_progress;
    out->set_result = jb_set_result;
    out->add_file = jb_add_file;
    out->consume_nonce = jb_consume_nonce;
    out->quote = jb_quote;
}

void jobback_set_quoter(struct jobback *jb, jobback_quote_fn fn, void *ctx)
{
    jb->quote_fn = fn;
    jb->quote_ctx = ctx;
}
