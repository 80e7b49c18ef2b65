/*
 * api -- REST gateway routes; see api.h. The CLI's codec for the gateway's
 * answers: the one CLI module that touches cJSON directly (to walk arrays;
 * everything else goes through common/json.h).
 * SPDX-License-Identifier: MIT
 */
#include "api.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hex.h"
#include "json.h"
#include "sign.h"

/* Answers are small JSON documents; nesting beyond this is not a job. */
#define API_JSON_DEPTH 32
/* String caps when decoding records (bytes): above the gateway's own. */
#define API_STR_MAX 65536

struct api {
    struct cli_http *h;      /* requests */
    struct cli_http *stream; /* the event stream: a second handle, so that a
                            request can be made while the stream is open */
    char *base;
    long timeout_ms;
    const struct key *signer;
    struct buf msg;
};

enum err api_new(const char *base_url, long timeout_ms, struct api **out)
{
    struct api *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return ERR_NOMEM;
    buf_init(&a->msg, 4096);
    a->timeout_ms = timeout_ms;
    a->base = strdup(base_url ? base_url : "");
    enum err e = a->base ? cli_http_new(base_url, timeout_ms, &a->h) : ERR_NOMEM;
    if (e != ERR_OK) {
        api_free(a);
        return e;
    }
    *out = a;
    return ERR_OK;
}

void api_free(struct api *a)
{
    if (a == NULL)
        return;
    cli_http_free(a->h);
    cli_http_free(a->stream);
    free(a->base);
    buf_release(&a->msg);
    free(a);
}

void api_set_signer(struct api *a, const struct key *k)
{
    a->signer = k;
    cli_http_set_signer(a->h, k);
}

const char *api_errmsg(const struct api *a)
{
    return buf_cstr(&a->msg);
}

static void set_msg(struct api *a, const char *s)
{
    buf_reset(&a->msg);
    if (buf_append_str(&a->msg, s) != ERR_OK)
        buf_reset(&a->msg);
}

void api_job_release(struct api_job *j)
{
    if (j == NULL)
        return;
    free(j->title);
    free(j->description);
    free(j->type);
    free(j->status);
    free(j->client);
    free(j->worker);
    json_free(j->raw);
    memset(j, 0, sizeof(*j));
}

static enum err status_fallback(long status)
{
    switch (status) {
    case 401:
        return ERR_AUTH;
    case 403:
        return ERR_PERM;
    case 404:
        return ERR_NOTFOUND;
    case 409:
        return ERR_STATE;
    case 413:
        return ERR_TOOBIG;
    case 429:
        return ERR_TIMEDOUT;
    default:
        return status >= 500 ? ERR_UNAVAILABLE : ERR_INVAL;
    }
}

enum err api_error_from(long status, const char *body, size_t len, struct buf *msg)
{
    struct cJSON *root = NULL;
    const struct cJSON *err = NULL;
    char *code = NULL, *text = NULL;
    enum err e = status_fallback(status);

    if (json_parse(body, len, CLI_HTTP_MAX_BODY, API_JSON_DEPTH, &root, NULL) == ERR_OK &&
        json_get_object(root, "error", JSON_REQUIRED, &err, NULL) == ERR_OK &&
        json_get_str(err, "code", JSON_REQUIRED, 1, 64, &code, NULL) == ERR_OK &&
        json_get_str(err, "message", JSON_OPTIONAL, 0, API_STR_MAX, &text, NULL) == ERR_OK) {
        if (strcmp(code, "ok") == 0) {
            e = ERR_PROTO; /* "ok" as an error code: nonsense */
        } else if (strcmp(code, "rate_limited") == 0) {
            e = ERR_TIMEDOUT;
        } else if (strcmp(code, "method_not_allowed") == 0) {
            e = ERR_PROTO;
        } else {
            for (int i = 1; i < ERR__COUNT; i++)
                if (strcmp(code, err_code((enum err)i)) == 0)
                    e = (enum err)i;
        }
    }
    if (status >= 500 && (e == ERR_NOMEM || e == ERR_IO || e == ERR_DB || e == ERR_CL))
        e = ERR_UNAVAILABLE; /* the gateway's trouble, not ours */
    if (text != NULL && text[0] != '\0') {
        if (buf_append_str(msg, text) != ERR_OK)
            buf_reset(msg);
    } else if (buf_appendf(msg, "gateway answered HTTP %ld", status) != ERR_OK) {
        buf_reset(msg);
    }
    free(code);
    free(text);
    json_free(root);
    return e;
}

/* Read a sha256 as 64 hex digits with or without "0x". */
static enum err get_sha(const struct cJSON *o, const char *key, bool *has, uint8_t out[32],
                        struct json_err *je)
{
    char *s = NULL;
    enum err e = json_get_str(o, key, JSON_OPTIONAL, 1, 66, &s, je);
    if (e != ERR_OK || s == NULL)
        return e;
    const char *p = (s[0] == '0' && s[1] == 'x') ? s + 2 : s;
    size_t got = 0;
    if (strlen(p) != 64 || hex_decode(p, 64, out, 32, &got) != ERR_OK || got != 32)
        e = json_fail(je, key, ERR_INVAL, "must be 64 hex digits");
    else
        *has = true;
    free(s);
    return e;
}

/* The first present of two member names. */
static const char *either(const struct cJSON *o, const char *a, const char *b)
{
    return json_has(o, a) ? a : b;
}

enum err api_job_decode(const struct cJSON *o, struct api_job *j, struct json_err *je)
{
    enum err e;
    memset(j, 0, sizeof(*j));
    if ((e = json_expect_object(o, NULL, je)) != ERR_OK ||
        (e = json_get_int(o, "id", JSON_REQUIRED, 1, JSON_INT_MAX, &j->id, je)) != ERR_OK ||
        (e = json_get_str(o, "status", JSON_REQUIRED, 1, 32, &j->status, je)) != ERR_OK ||
        (e = json_get_str(o, "title", JSON_OPTIONAL, 0, API_STR_MAX, &j->title, je)) != ERR_OK ||
        (e = json_get_str(o, "description", JSON_OPTIONAL, 0, API_STR_MAX, &j->description, je)) !=
            ERR_OK ||
        (e = json_get_str(o, "type", JSON_OPTIONAL, 0, 32, &j->type, je)) != ERR_OK ||
        (e = json_get_str(o, either(o, "client", "wallet_address"), JSON_OPTIONAL, 0, 64,
                          &j->client, je)) != ERR_OK ||
        (e = json_get_str(o, either(o, "worker", "worker_address"), JSON_OPTIONAL, 0, 64,
                          &j->worker, je)) != ERR_OK ||
        (e = json_get_int(o, "price_usd_cents", JSON_OPTIONAL, 0, JSON_INT_MAX, &j->price_usd_cents,
                          je)) != ERR_OK ||
        (e = json_get_int(o, "progress", JSON_OPTIONAL, 0, 100, &j->progress, je)) != ERR_OK ||
        (e = json_get_int(o, "created_at", JSON_OPTIONAL, 0, JSON_INT_MAX, &j->created_at, je)) !=
            ERR_OK ||
        (e = json_get_int(o, "result_size_bytes", JSON_OPTIONAL, 0, JSON_INT_MAX,
                          &j->result_size_bytes, je)) != ERR_OK ||
        (e = json_get_int(o, "deadline_at", JSON_OPTIONAL, 0, JSON_INT_MAX, &j->deadline_at, je)) !=
            ERR_OK ||
        (e = json_get_int(o, "max_runtime_s", JSON_OPTIONAL, 0, JSON_INT_MAX, &j->max_runtime_s,
                          je)) != ERR_OK ||
        (e = get_sha(o, "spec_sha256", &j->has_spec, j->spec_sha256, je)) != ERR_OK ||
        (e = get_sha(o, "result_sha256", &j->has_result, j->result_sha256, je)) != ERR_OK ||
        (e = get_sha(o, "chain_job_id", &j->has_chain_job_id, j->chain_job_id, je)) != ERR_OK)
        api_job_release(j);
    return e;
}

/* Send and, on a non-2xx answer, map the gateway's error. On ERR_OK the
 * body is in <r>. */
static enum err call(struct api *a, const char *method, const char *target, const char *ctype,
                     const void *body, size_t len, bool sign, struct cli_http_response *r)
{
    buf_reset(&a->msg);
    enum err e = cli_http_request(a->h, method, target, ctype, body, len, sign, r);
    if (e != ERR_OK) {
        set_msg(a, cli_http_errmsg(a->h));
        return e;
    }
    if (r->status < 200 || r->status > 299)
        return api_error_from(r->status, r->body.data ? r->body.data : "", r->body.len, &a->msg);
    return ERR_OK;
}

/* Parse a job answer from <r> into <out>, keeping the tree in out->raw. */
static enum err job_answer(struct api *a, const struct cli_http_response *r, struct api_job *out)
{
    struct cJSON *root = NULL;
    struct json_err je;
    json_err_init(&je);
    enum err e = json_parse(r->body.data ? r->body.data : "", r->body.len, CLI_HTTP_MAX_BODY,
                            API_JSON_DEPTH, &root, &je);
    if (e == ERR_OK)
        e = api_job_decode(root, out, &je);
    if (e != ERR_OK) {
        buf_reset(&a->msg);
        if (buf_appendf(&a->msg, "gateway sent a bad job record: %s%s%s", je.path[0] ? je.path : "",
                        je.path[0] ? ": " : "", je.message[0] ? je.message : err_str(e)) != ERR_OK)
            buf_reset(&a->msg);
        json_free(root);
        return e == ERR_NOMEM ? e : ERR_PROTO;
    }
    out->raw = root;
    return ERR_OK;
}

enum err api_job_get(struct api *a, int64_t id, struct api_job *out)
{
    char target[64];
    struct cli_http_response r;
    (void)snprintf(target, sizeof(target), "/api/jobs/%" PRId64, id);
    cli_http_response_init(&r);
    enum err e = call(a, "GET", target, NULL, NULL, 0, false, &r);
    if (e == ERR_OK)
        e = job_answer(a, &r, out);
    cli_http_response_release(&r);
    return e;
}

/* Append "&key=value" (or "?key=value" first) with value percent-encoded
 * (RFC 3986 unreserved characters kept). */
static enum err add_query(struct buf *t, const char *key, const char *value)
{
    enum err e = buf_appendf(t, "%c%s=", strchr(buf_cstr(t), '?') ? '&' : '?', key);
    for (const unsigned char *p = (const unsigned char *)value; e == ERR_OK && *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~')
            e = buf_append_byte(t, *p);
        else
            e = buf_appendf(t, "%%%02X", *p);
    }
    return e;
}

enum err api_job_list(struct api *a, const struct api_list_filter *f, struct cJSON **out,
                      struct api_job **jobs, size_t *n)
{
    struct buf t;
    struct cli_http_response r;
    struct cJSON *root = NULL;
    const struct cJSON *arr = NULL;
    struct api_job *list = NULL;
    size_t count = 0;
    struct json_err je;
    char limit[24];
    enum err e;

    *out = NULL;
    *jobs = NULL;
    *n = 0;
    json_err_init(&je);
    buf_init(&t, 4096);
    cli_http_response_init(&r);
    e = buf_append_str(&t, "/api/jobs");
    if (e == ERR_OK && f->status)
        e = add_query(&t, "status", f->status);
    if (e == ERR_OK && f->type)
        e = add_query(&t, "type", f->type);
    if (e == ERR_OK && f->client)
        e = add_query(&t, "client", f->client);
    if (e == ERR_OK && f->cursor)
        e = add_query(&t, "cursor", f->cursor);
    if (e == ERR_OK && f->limit > 0) {
        (void)snprintf(limit, sizeof(limit), "%" PRId64, f->limit);
        e = add_query(&t, "limit", limit);
    }
    if (e != ERR_OK)
        goto out;
    if ((e = call(a, "GET", buf_cstr(&t), NULL, NULL, 0, false, &r)) != ERR_OK)
        goto out;
    e = json_parse(r.body.data ? r.body.data : "", r.body.len, CLI_HTTP_MAX_BODY, API_JSON_DEPTH,
                   &root, &je);
    if (e == ERR_OK)
        e = json_get_array(root, "jobs", JSON_REQUIRED, 1000, &arr, &count, &je);
    if (e == ERR_OK && count > 0 && (list = calloc(count, sizeof(*list))) == NULL)
        e = ERR_NOMEM;
    for (size_t i = 0; e == ERR_OK && i < count; i++) {
        size_t mark = json_path_push(&je, "jobs");
        size_t mark2 = json_path_push_index(&je, i);
        e = api_job_decode(cJSON_GetArrayItem(arr, (int)i), &list[i], &je);
        json_path_pop(&je, mark2);
        json_path_pop(&je, mark);
    }
    if (e != ERR_OK && e != ERR_NOMEM) {
        buf_reset(&a->msg);
        if (buf_appendf(&a->msg, "gateway sent a bad job list: %s: %s", je.path, je.message) !=
            ERR_OK)
            buf_reset(&a->msg);
        e = ERR_PROTO;
    }
out:
    if (e == ERR_OK) {
        *out = root;
        *jobs = list;
        *n = count;
    } else {
        for (size_t i = 0; list && i < count; i++)
            api_job_release(&list[i]);
        free(list);
        json_free(root);
    }
    cli_http_response_release(&r);
    buf_release(&t);
    return e;
}

/* ---- POST /api/jobs ----------------------------------------------------- */

/* A file name the form can carry in quotes (RFC 7578 4.2): no quote, no
 * backslash, no control characters, 1-255 bytes. */
static int form_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\' || ch == '/')
            return 0;
    }
    return 1;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static enum err add_field(struct buf *b, const char *boundary, const char *name, const char *value)
{
    return buf_appendf(b, "--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n",
                       boundary, name, value);
}

/* Append part <field> holding the file at <path> under <filename>. */
static enum err add_file(struct buf *b, const char *boundary, const char *field,
                         const char *filename, const char *ctype, const char *path, struct buf *why)
{
    enum err e;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        e = errno == ENOENT ? ERR_NOTFOUND : ERR_IO;
        if (buf_appendf(why, "cannot read \"%s\": %s", path, strerror(errno)) != ERR_OK)
            buf_reset(why);
        return e;
    }
    size_t start = b->len;
    e = buf_appendf(b,
                    "--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                    "Content-Type: %s\r\n\r\n",
                    boundary, field, filename, ctype);
    size_t content = b->len;
    while (e == ERR_OK) {
        if ((e = buf_reserve(b, 65536)) != ERR_OK)
            break;
        ssize_t n = read(fd, b->data + b->len, 65536);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            e = ERR_IO;
            if (buf_appendf(why, "cannot read \"%s\": %s", path, strerror(errno)) != ERR_OK)
                buf_reset(why);
            break;
        }
        if (n == 0)
            break;
        b->len += (size_t)n;
        b->data[b->len] = '\0';
    }
    close(fd);
    if (e == ERR_OK && memmem(b->data + content, b->len - content, boundary, strlen(boundary))) {
        e = ERR_INVAL;
        if (buf_appendf(why, "the form boundary occurs in \"%s\"", path) != ERR_OK)
            buf_reset(why);
    }
    if (e == ERR_OK)
        e = buf_append_str(b, "\r\n");
    if (e == ERR_TOOBIG && why->len == 0 &&
        buf_appendf(why, "upload over %zu MiB (at \"%s\")", API_MAX_UPLOAD >> 20, path) != ERR_OK)
        buf_reset(why);
    if (e != ERR_OK)
        b->len = start;
    return e;
}

enum err api_build_multipart(const struct api_job_new *in, const char *boundary, struct buf *body,
                             struct buf *why)
{
    char cents[24];
    enum err e;

    for (size_t i = 0; i < in->n_inputs; i++) {
        const char *name = base_name(in->input_paths[i]);
        const char *bad = NULL;
        if (!form_name_ok(name))
            bad = "has a quote, backslash or control character, or is empty or over 255 bytes";
        else if (strcmp(name, "job.json") == 0)
            bad = "is reserved for the job spec (pass it with --spec)";
        for (size_t k = 0; bad == NULL && k < i; k++)
            if (strcmp(base_name(in->input_paths[k]), name) == 0)
                bad = "is given twice";
        if (bad != NULL) {
            if (buf_appendf(why, "input file name \"%s\" %s", name, bad) != ERR_OK)
                buf_reset(why);
            return ERR_INVAL;
        }
    }
    (void)snprintf(cents, sizeof(cents), "%" PRId64, in->price_usd_cents);
    if ((e = add_field(body, boundary, "title", in->title)) != ERR_OK ||
        (e = add_field(body, boundary, "description", in->description ? in->description : "")) !=
            ERR_OK ||
        (e = add_field(body, boundary, "type", in->type)) != ERR_OK ||
        (e = add_field(body, boundary, "price_usd_cents", cents)) != ERR_OK)
        return e;
    if (in->spec_path != NULL && (e = add_file(body, boundary, "job.json", "job.json",
                                               "application/json", in->spec_path, why)) != ERR_OK)
        return e;
    for (size_t i = 0; i < in->n_inputs; i++)
        if ((e = add_file(body, boundary, "file", base_name(in->input_paths[i]),
                          "application/octet-stream", in->input_paths[i], why)) != ERR_OK)
            return e;
    return buf_appendf(body, "--%s--\r\n", boundary);
}

enum err api_job_create(struct api *a, const struct api_job_new *in, struct api_job *out)
{
    struct buf body, why, ctype;
    struct cli_http_response r;
    uint8_t raw[16];
    char boundary[48];
    enum err e;

    buf_init(&body, API_MAX_UPLOAD);
    buf_init(&why, 1024);
    buf_init(&ctype, 128);
    cli_http_response_init(&r);
    buf_reset(&a->msg);
    if ((e = sign_random(raw, sizeof(raw))) != ERR_OK)
        goto out;
    memcpy(boundary, "loom-", 5);
    hex_encode(raw, sizeof(raw), false, boundary + 5);
    if ((e = api_build_multipart(in, boundary, &body, &why)) != ERR_OK) {
        set_msg(a, why.len ? buf_cstr(&why) : err_str(e));
        goto out;
    }
    if ((e = buf_appendf(&ctype, "multipart/form-data; boundary=%s", boundary)) != ERR_OK)
        goto out;
    if ((e = call(a, "POST", "/api/jobs", buf_cstr(&ctype), body.data, body.len, true, &r)) !=
        ERR_OK)
        goto out;
    e = job_answer(a, &r, out);
out:
    cli_http_response_release(&r);
    buf_release(&ctype);
    buf_release(&why);
    buf_release(&body);
    return e;
}

/* ---- GET /api/quote ----------------------------------------------------- */

enum err api_quote(struct api *a, int64_t usd_cents, struct api_quote *out)
{
    char target[64];
    struct cli_http_response r;
    struct cJSON *root = NULL;
    struct json_err je;
    char *round = NULL, *answer = NULL;
    enum err e;

    memset(out, 0, sizeof(*out));
    json_err_init(&je);
    (void)snprintf(target, sizeof(target), "/api/quote?usd_cents=%" PRId64, usd_cents);
    cli_http_response_init(&r);
    if ((e = call(a, "GET", target, NULL, NULL, 0, false, &r)) != ERR_OK)
        goto out;
    e = json_parse(r.body.data ? r.body.data : "", r.body.len, CLI_HTTP_MAX_BODY, API_JSON_DEPTH,
                   &root, &je);
    if (e == ERR_OK)
        e = json_get_int(root, "usd_cents", JSON_REQUIRED, 1, JSON_INT_MAX, &out->usd_cents, &je);
    if (e == ERR_OK)
        e = json_get_u256(root, "wei", JSON_REQUIRED, out->wei, &je);
    if (e == ERR_OK)
        e = json_get_str(root, "round_id", JSON_OPTIONAL, 1, sizeof(out->round_id) - 1, &round,
                         &je);
    if (e == ERR_OK)
        e = json_get_int(root, "updated_at", JSON_OPTIONAL, 0, JSON_INT_MAX, &out->updated_at, &je);
    if (e == ERR_OK)
        e = json_get_int(root, "age_s", JSON_OPTIONAL, -JSON_INT_MAX, JSON_INT_MAX, &out->age_s,
                         &je);
    if (e == ERR_OK)
        e = json_get_str(root, "answer", JSON_OPTIONAL, 1, sizeof(out->answer) - 1, &answer, &je);
    if (e == ERR_OK)
        e = json_get_int(root, "decimals", JSON_OPTIONAL, 0, 77, &out->decimals, &je);
    if (e != ERR_OK) {
        buf_reset(&a->msg);
        if (buf_appendf(&a->msg, "gateway sent a bad quote: %s: %s", je.path, je.message) != ERR_OK)
            buf_reset(&a->msg);
        if (e != ERR_NOMEM)
            e = ERR_PROTO;
        goto out;
    }
    if (round)
        memcpy(out->round_id, round, strlen(round) + 1);
    if (answer)
        memcpy(out->answer, answer, strlen(answer) + 1);
out:
    free(round);
    free(answer);
    json_free(root);
    cli_http_response_release(&r);
    return e;
}

/* ---- GET /api/jobs/{id}/result ------------------------------------------ */

enum err api_fetch_result(struct api *a, int64_t id, int fd, char **sha256_hex)
{
    char target[64];
    struct cli_http_response r;
    *sha256_hex = NULL;
    (void)snprintf(target, sizeof(target), "/api/jobs/%" PRId64 "/result", id);
    cli_http_response_init(&r);
    buf_reset(&a->msg);
    enum err e = cli_http_download(a->h, target, fd, &r);
    if (e != ERR_OK)
        set_msg(a, cli_http_errmsg(a->h));
    else if (r.status != 200)
        e = api_error_from(r.status, r.body.data ? r.body.data : "", r.body.len, &a->msg);
    if (e == ERR_OK && r.sha256 != NULL) {
        *sha256_hex = r.sha256;
        r.sha256 = NULL;
    }
    cli_http_response_release(&r);
    return e;
}

/* ---- GET /api/events ---------------------------------------------------- */

struct events_ctx {
    struct evstream parser;
    int (*opened)(void *arg);
    bool opened_done;
    void *arg;
    enum err err;
};

static int events_chunk_cb(void *arg, const char *data, size_t len)
{
    struct events_ctx *x = arg;
    int stop = 0;
    if (!x->opened_done) {
        x->opened_done = true;
        if (x->opened != NULL && (stop = x->opened(x->arg)) != 0)
            return stop;
    }
    x->err = evstream_feed(&x->parser, data, len, &stop);
    if (x->err != ERR_OK)
        return 1;
    return stop;
}

enum err api_events(struct api *a, int (*opened)(void *arg), evstream_event_fn cb, void *arg)
{
    struct events_ctx x = {.opened = opened, .arg = arg, .err = ERR_OK};
    struct cli_http_response r;
    enum err e = ERR_OK;

    buf_reset(&a->msg);
    if (a->stream == NULL && (e = cli_http_new(a->base, a->timeout_ms, &a->stream)) != ERR_OK)
        return e;
    evstream_init(&x.parser, 0, cb, arg);
    cli_http_response_init(&r);
    e = cli_http_stream(a->stream, "/api/events", "text/event-stream", events_chunk_cb, &x, &r);
    if (e != ERR_OK)
        set_msg(a, cli_http_errmsg(a->stream));
    else if (x.err != ERR_OK)
        e = x.err;
    else if (r.status != 200)
        e = api_error_from(r.status, r.body.data ? r.body.data : "", r.body.len, &a->msg);
    cli_http_response_release(&r);
    evstream_release(&x.parser);
    return e;
}
