/*
 * gwclient -- REST calls to the gateway (see gwclient.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "gwclient.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "eth/ecdsa.h"
#include "eth/eip191.h"
#include "hex.h"
#include "eth/key.h"
#include "feed.h"
#include "http.h"
#include "json.h"
#include "jobfiles.h"
#include "jobspec.h"
#include "msg.h"

/* Downloads and uploads of up to a GiB on a slow link: ten minutes. */
#define GWC_TRANSFER_TIMEOUT_MS 600000
/* One snapshot page: 100 job records of a few KiB each. */
#define GWC_PAGE_MAX_BYTES ((uint64_t)4 << 20)
#define GWC_PAGE_LIMIT     100

enum err gwc_canonical(const char *method, const char *target, const unsigned char body_sha256[32],
                       long long timestamp, const char *nonce, struct buf *out)
{
    char hex[65];
    hex_encode(body_sha256, 32, false, hex);
    return buf_appendf(out, "loom-request-v1\n%s\n%s\n%s\n%lld\n%s", method, target, hex, timestamp,
                       nonce);
}

/* Headers of a signed request, with their storage. */
struct signed_headers {
    char address[43];
    char timestamp[24];
    char nonce[33];
    char signature[133];
    struct http_header h[5];
};

static enum err sign_request(const struct key *k, const char *method, const char *target,
                             const unsigned char body_sha256[32], const char *content_type,
                             struct signed_headers *sh)
{
    unsigned char rnd[16];
    struct buf text;
    struct sig sig;
    unsigned char rsv[65];
    enum err e = ERR_OK;
    buf_init(&text, 4096);
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        e = ERR_IO;
        goto out;
    }
    hex_encode(rnd, sizeof(rnd), false, sh->nonce);
    long long now = (long long)time(NULL);
    (void)snprintf(sh->timestamp, sizeof(sh->timestamp), "%lld", now);
    hex_encode(k->addr, 20, true, sh->address);
    if ((e = gwc_canonical(method, target, body_sha256, now, sh->nonce, &text)) != ERR_OK)
        goto out;
    if ((e = eip191_sign(k, text.data, text.len, &sig)) != ERR_OK)
        goto out;
    sig_to_rsv(&sig, rsv);
    hex_encode(rsv, sizeof(rsv), true, sh->signature);
    sh->h[0] = (struct http_header){"X-Loom-Address", sh->address};
    sh->h[1] = (struct http_header){"X-Loom-Timestamp", sh->timestamp};
    sh->h[2] = (struct http_header){"X-Loom-Nonce", sh->nonce};
    sh->h[3] = (struct http_header){"X-Loom-Signature", sh->signature};
    sh->h[4] = (struct http_header){"Content-Type", content_type};
out:
    buf_release(&text);
    return e;
}

/* Map a finished exchange to an error, with the gateway's message. */
static enum err reply_err(const struct http_resp *r, const char *what, struct buf *msg)
{
    enum err e = http_status_err(r->status);
    if (e != ERR_OK)
        msg_addf(msg, "%s: HTTP %d: %.*s", what, r->status,
                 (int)(r->body.len < 300 ? r->body.len : 300),
                 r->body.data ? (const char *)r->body.data : "");
    return e;
}

/* A sha256 member as the gateway writes it (docs/api.md: 64 hex digits);
 * a "0x" prefix is accepted too. */
static enum err get_sha256(const cJSON *j, const char *key, uint8_t out[32])
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsString(v) || v->valuestring == NULL)
        return ERR_PROTO;
    return hex_decode_exact(v->valuestring, out, 32) == ERR_OK ? ERR_OK : ERR_PROTO;
}

/* Read one job record of a snapshot page; ERR_NOTFOUND when it lacks what
 * a worker needs to check it on chain. */
static enum err snapshot_job(const cJSON *j, struct proto_feed_open *o)
{
    struct json_err je;
    int type = 0;
    json_err_init(&je);
    memset(o, 0, sizeof(*o));
    if (json_get_int(j, "id", JSON_REQUIRED, 1, JSON_INT_MAX, &o->job_id, &je) != ERR_OK ||
        json_get_enum(j, "type", JSON_REQUIRED, proto_job_type_names, PROTO_JOB_TYPE__COUNT, &type,
                      &je) != ERR_OK ||
        json_get_int(j, "price_usd_cents", JSON_REQUIRED, 1, PROTO_PRICE_CENTS_MAX,
                     &o->price_usd_cents, &je) != ERR_OK)
        return ERR_PROTO;
    o->type = (enum proto_job_type)type;
    if (!json_has(j, "chain_job_id") || !json_has(j, "spec_sha256"))
        return ERR_NOTFOUND;
    if (json_get_hash(j, "chain_job_id", JSON_REQUIRED, o->chain_job_id, &je) != ERR_OK ||
        get_sha256(j, "spec_sha256", o->spec_sha256) != ERR_OK ||
        json_get_u256(j, "escrow_wei", JSON_OPTIONAL, o->escrow_wei, &je) != ERR_OK ||
        json_get_int(j, "deadline_at", JSON_OPTIONAL, 0, PROTO_MAX_TIME_AT, &o->deadline_at, &je) !=
            ERR_OK ||
        json_get_int(j, "max_runtime_s", JSON_OPTIONAL, 0, PROTO_RUNTIME_MAX_S, &o->max_runtime_s,
                     &je) != ERR_OK)
        return ERR_PROTO;
    return ERR_OK;
}

enum err gwc_snapshot(const char *base, const char *type, struct proto_feed_open **jobs, size_t *n,
                      size_t *skipped, struct buf *msg)
{
    struct proto_feed_open *all = NULL;
    size_t count = 0, skip = 0;
    char *cursor = NULL;
    struct buf target;
    enum err e = ERR_OK;
    buf_init(&target, 1024);
    for (;;) {
        struct http_resp r;
        cJSON *doc = NULL;
        http_resp_init(&r);
        buf_reset(&target);
        e = buf_appendf(&target, "/api/jobs?status=OPEN&type=%s&limit=%d%s%s", type, GWC_PAGE_LIMIT,
                        cursor ? "&cursor=" : "", cursor ? cursor : "");
        struct http_req rq = {.method = "GET",
                              .base = base,
                              .target = buf_cstr(&target),
                              .body_fd = -1,
                              .timeout_ms = GWC_TIMEOUT_MS,
                              .out_fd = -1,
                              .max_body_bytes = GWC_PAGE_MAX_BYTES};
        if (e == ERR_OK)
            e = http_request(&rq, &r, msg);
        if (e == ERR_OK)
            e = reply_err(&r, "snapshot", msg);
        struct json_err je;
        json_err_init(&je);
        const cJSON *arr = NULL;
        size_t n_items = 0;
        if (e == ERR_OK && (json_parse((const char *)r.body.data, r.body.len, GWC_PAGE_MAX_BYTES, 8,
                                       &doc, &je) != ERR_OK ||
                            json_get_array(doc, "jobs", JSON_REQUIRED, GWC_PAGE_LIMIT * 10, &arr,
                                           &n_items, &je) != ERR_OK)) {
            msg_addf(msg, "snapshot: %s: %s", je.path, je.message);
            e = ERR_PROTO;
        }
        struct proto_feed_open *grown = NULL;
        if (e == ERR_OK && count + n_items > GWC_SNAPSHOT_MAX) {
            msg_addf(msg, "snapshot: more than %d open jobs", GWC_SNAPSHOT_MAX);
            e = ERR_TOOBIG;
        } else if (e == ERR_OK && n_items > 0) {
            grown = realloc(all, (count + n_items) * sizeof(*all));
            if (grown == NULL)
                e = ERR_NOMEM;
            else
                all = grown;
        }
        for (size_t i = 0; e == ERR_OK && i < n_items; i++) {
            enum err je2 = snapshot_job(cJSON_GetArrayItem(arr, (int)i), &all[count]);
            if (je2 == ERR_OK)
                count++;
            else
                skip++;
        }
        free(cursor);
        cursor = NULL;
        if (e == ERR_OK && json_has(doc, "next_cursor") &&
            json_get_str(doc, "next_cursor", JSON_REQUIRED, 1, 24, &cursor, &je) != ERR_OK) {
            msg_addf(msg, "snapshot: next_cursor: %s", je.message);
            e = ERR_PROTO;
        }
        json_free(doc);
        http_resp_release(&r);
        if (e != ERR_OK || cursor == NULL || n_items == 0)
            break;
    }
    free(cursor);
    buf_release(&target);
    if (e != ERR_OK) {
        free(all);
        return e;
    }
    *jobs = all;
    *n = count;
    *skipped = skip;
    return ERR_OK;
}

enum err gwc_download(const char *base, int64_t job_id, const char *name, const char *dir,
                      const unsigned char sha256[32], uint64_t max_bytes, struct buf *msg)
{
    struct buf path, target;
    struct http_resp r;
    int fd = -1;
    enum err e = ERR_OK;
    buf_init(&path, 8192);
    buf_init(&target, 1024);
    http_resp_init(&r);
    if (!jobspec_is_safe_name(name)) {
        msg_addf(msg, "unsafe file name \"%.64s\"", name);
        e = ERR_INVAL;
        goto out;
    }
    if ((e = buf_appendf(&path, "%s/%s", dir, name)) != ERR_OK ||
        (e = buf_appendf(&target, "/api/jobs/%lld/files/%s", (long long)job_id, name)) != ERR_OK)
        goto out;
    fd = open(buf_cstr(&path), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd == -1) {
        msg_addf(msg, "cannot create \"%s\": %s", buf_cstr(&path), strerror(errno));
        e = errno == EEXIST ? ERR_EXISTS : ERR_IO;
        goto out;
    }
    struct http_req rq = {.method = "GET",
                          .base = base,
                          .target = buf_cstr(&target),
                          .body_fd = -1,
                          .timeout_ms = GWC_TRANSFER_TIMEOUT_MS,
                          .out_fd = fd,
                          .max_body_bytes = max_bytes};
    if ((e = http_request(&rq, &r, msg)) != ERR_OK || (e = reply_err(&r, name, msg)) != ERR_OK)
        goto out;
    if (memcmp(r.sha256, sha256, 32) != 0) {
        char got[65], want[65];
        hex_encode(r.sha256, 32, false, got);
        hex_encode(sha256, 32, false, want);
        msg_addf(msg, "\"%s\" has sha256 %s, the spec says %s", name, got, want);
        e = ERR_AUTH;
    }
out:
    if (fd != -1 && close(fd) == -1 && e == ERR_OK)
        e = ERR_IO;
    if (fd != -1 && e != ERR_OK && e != ERR_EXISTS)
        (void)unlink(buf_cstr(&path));
    http_resp_release(&r);
    buf_release(&target);
    buf_release(&path);
    return e;
}

/* A job file on its way into memory (gwc_fetch_start()). */
struct gwc_fetch {
    struct buf target;
    char name[JOBSPEC_MAX_NAME + 1];
    unsigned char sha256[32];
    struct http_req rq;
    struct http_resp r;
    struct http_call *call;
};

void gwc_fetch_free(struct gwc_fetch *f)
{
    if (f == NULL)
        return;
    http_abandon(f->call);
    http_resp_release(&f->r);
    buf_release(&f->target);
    free(f);
}

enum err gwc_fetch_start(const char *base, int64_t job_id, const char *name,
                         const unsigned char sha256[32], uint64_t max_bytes, struct gwc_fetch **out,
                         struct buf *msg)
{
    enum err e = ERR_OK;
    if (!jobspec_is_safe_name(name)) {
        msg_addf(msg, "unsafe file name \"%.64s\"", name);
        return ERR_INVAL;
    }
    struct gwc_fetch *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return ERR_NOMEM;
    buf_init(&f->target, 1024);
    http_resp_init(&f->r);
    memcpy(f->name, name, strlen(name) + 1);
    memcpy(f->sha256, sha256, 32);
    if ((e = buf_appendf(&f->target, "/api/jobs/%lld/files/%s", (long long)job_id, name)) != ERR_OK)
        goto fail;
    /* The cap of the body buffer is one byte over max_bytes so that
     * http_request()'s own check (ERR_TOOBIG) is the one that fires. */
    buf_init(&f->r.body, (size_t)max_bytes + 1);
    f->rq = (struct http_req){.method = "GET",
                              .base = base,
                              .target = buf_cstr(&f->target),
                              .body_fd = -1,
                              .timeout_ms = GWC_TIMEOUT_MS,
                              .out_fd = -1,
                              .max_body_bytes = max_bytes};
    if ((e = http_start(&f->rq, &f->r, msg, &f->call)) != ERR_OK)
        goto fail;
    *out = f;
    return ERR_OK;
fail:
    gwc_fetch_free(f);
    return e;
}

enum err gwc_fetch_finish(struct gwc_fetch *f, char **text, size_t *len, struct buf *msg)
{
    struct http_call *call = f->call;
    f->call = NULL; /* http_finish() frees it */
    /* A transport failure's text goes to the msg given to gwc_fetch_start(). */
    enum err e = http_finish(call);
    if (e != ERR_OK || (e = reply_err(&f->r, f->name, msg)) != ERR_OK)
        goto out;
    if (memcmp(f->r.sha256, f->sha256, 32) != 0) {
        char got[65], want[65];
        hex_encode(f->r.sha256, 32, false, got);
        hex_encode(f->sha256, 32, false, want);
        msg_addf(msg, "\"%s\" has sha256 %s, the spec says %s", f->name, got, want);
        e = ERR_AUTH;
        goto out;
    }
    size_t n = 0;
    char *p = buf_detach(&f->r.body, &n);
    if (p == NULL) {
        e = ERR_NOMEM;
        goto out;
    }
    *text = p;
    *len = n;
out:
    gwc_fetch_free(f);
    return e;
}

enum err gwc_fetch(const char *base, int64_t job_id, const char *name,
                   const unsigned char sha256[32], uint64_t max_bytes, char **text, size_t *len,
                   struct buf *msg)
{
    struct gwc_fetch *f = NULL;
    enum err e = gwc_fetch_start(base, job_id, name, sha256, max_bytes, &f, msg);
    return e == ERR_OK ? gwc_fetch_finish(f, text, len, msg) : e;
}

enum err gwc_put_progress(const char *base, const struct key *k, int64_t job_id, unsigned percent,
                          struct buf *msg)
{
    char body[32], target[64];
    unsigned char sha[32];
    struct signed_headers sh;
    struct http_resp r;
    int len = snprintf(body, sizeof(body), "{\"progress\":%u}", percent > 100 ? 100 : percent);
    (void)snprintf(target, sizeof(target), "/api/jobs/%lld/progress", (long long)job_id);
    jobfiles_sha256(body, (size_t)len, sha);
    enum err e = sign_request(k, "PUT", target, sha, "application/json", &sh);
    if (e != ERR_OK) {
        msg_addf(msg, "cannot sign the progress report: %s", err_str(e));
        return e;
    }
    http_resp_init(&r);
    struct http_req rq = {.method = "PUT",
                          .base = base,
                          .target = target,
                          .headers = sh.h,
                          .n_headers = 5,
                          .body = body,
                          .body_len = (size_t)len,
                          .body_fd = -1,
                          .timeout_ms = GWC_TIMEOUT_MS,
                          .out_fd = -1,
                          .max_body_bytes = GWC_PAGE_MAX_BYTES};
    if ((e = http_request(&rq, &r, msg)) == ERR_OK)
        e = reply_err(&r, "progress", msg);
    http_resp_release(&r);
    return e;
}

enum err gwc_post_result(const char *base, const struct key *k, int64_t job_id, const char *path,
                         uint64_t size, const unsigned char sha256[32], struct buf *msg)
{
    char target[64];
    struct signed_headers sh;
    struct http_resp r;
    (void)snprintf(target, sizeof(target), "/api/jobs/%lld/result", (long long)job_id);
    enum err e = sign_request(k, "POST", target, sha256, "application/octet-stream", &sh);
    if (e != ERR_OK) {
        msg_addf(msg, "cannot sign the result upload: %s", err_str(e));
        return e;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        msg_addf(msg, "cannot open \"%s\": %s", path, strerror(errno));
        return ERR_IO;
    }
    http_resp_init(&r);
    struct http_req rq = {.method = "POST",
                          .base = base,
                          .target = target,
                          .headers = sh.h,
                          .n_headers = 5,
                          .body_fd = fd,
                          .body_len = (size_t)size,
                          .timeout_ms = GWC_TRANSFER_TIMEOUT_MS,
                          .out_fd = -1,
                          .max_body_bytes = GWC_PAGE_MAX_BYTES};
    if ((e = http_request(&rq, &r, msg)) == ERR_OK)
        e = reply_err(&r, "result", msg);
    http_resp_release(&r);
    close(fd);
    return e;
}
