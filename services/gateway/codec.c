/*
 * codec -- JSON in and out of the gateway, over cJSON.
 * SPDX-License-Identifier: MIT
 */
#include "codec.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void codec_job_fields_release(struct codec_job_fields *f)
{
    free(f->title);
    free(f->description);
    free(f->type);
    free(f->cloud_link);
    free(f->external_links);
    memset(f, 0, sizeof(*f));
}

static cJSON *parse_object(const char *json, size_t len, struct buf *msg)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        buf_reset(msg);
        if (buf_append_str(msg, "malformed JSON: expected an object") != ERR_OK)
            buf_reset(msg);
        return NULL;
    }
    return root;
}

static enum err fail_key(struct buf *msg, const char *key, const char *what)
{
    buf_reset(msg);
    if (buf_appendf(msg, "field \"%s\" must be %s", key, what) != ERR_OK)
        buf_reset(msg);
    return ERR_INVAL;
}

/* Copy string member <key> into *dst; absent or null leaves it NULL. */
static enum err get_str(const cJSON *o, const char *key, char **dst, struct buf *msg)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v == NULL || cJSON_IsNull(v))
        return ERR_OK;
    if (!cJSON_IsString(v))
        return fail_key(msg, key, "a string");
    if ((*dst = strdup(v->valuestring)) == NULL)
        return ERR_NOMEM;
    return ERR_OK;
}

/* A JSON number that is an exact integer within +-2^53 (cJSON keeps doubles). */
static int get_int(const cJSON *v, int64_t *out)
{
    if (!cJSON_IsNumber(v))
        return 0;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0)
        return 0;
    *out = (int64_t)d;
    return 1;
}

enum err codec_parse_job_fields(const char *json, size_t len, struct codec_job_fields *out,
                                struct buf *msg)
{
    memset(out, 0, sizeof(*out));
    cJSON *root = parse_object(json, len, msg);
    if (root == NULL)
        return ERR_INVAL;
    enum err e;
    if ((e = get_str(root, "title", &out->title, msg)) != ERR_OK ||
        (e = get_str(root, "description", &out->description, msg)) != ERR_OK ||
        (e = get_str(root, "type", &out->type, msg)) != ERR_OK ||
        (e = get_str(root, "cloud_link", &out->cloud_link, msg)) != ERR_OK ||
        (e = get_str(root, "external_links", &out->external_links, msg)) != ERR_OK)
        goto out;
    const cJSON *price = cJSON_GetObjectItemCaseSensitive(root, "price_usd_cents");
    if (price != NULL && !cJSON_IsNull(price)) {
        if (!get_int(price, &out->price_usd_cents)) {
            e = fail_key(msg, "price_usd_cents", "an integer number of US cents");
            goto out;
        }
        out->has_price = 1;
    }
out:
    cJSON_Delete(root);
    if (e != ERR_OK)
        codec_job_fields_release(out);
    return e;
}

enum err codec_parse_progress(const char *json, size_t len, int *progress, struct buf *msg)
{
    cJSON *root = parse_object(json, len, msg);
    if (root == NULL)
        return ERR_INVAL;
    int64_t v = 0;
    enum err e = ERR_OK;
    if (!get_int(cJSON_GetObjectItemCaseSensitive(root, "progress"), &v) || v < 0 || v > 100)
        e = fail_key(msg, "progress", "an integer from 0 to 100");
    else
        *progress = (int)v;
    cJSON_Delete(root);
    return e;
}

enum err codec_parse_siwe(const char *json, size_t len, char **message, char **signature,
                          struct buf *msg)
{
    *message = NULL;
    *signature = NULL;
    cJSON *root = parse_object(json, len, msg);
    if (root == NULL)
        return ERR_INVAL;
    enum err e;
    if ((e = get_str(root, "message", message, msg)) == ERR_OK &&
        (e = get_str(root, "signature", signature, msg)) == ERR_OK &&
        (*message == NULL || *signature == NULL))
        e = fail_key(msg, *message == NULL ? "message" : "signature", "a string");
    cJSON_Delete(root);
    if (e != ERR_OK) {
        free(*message);
        free(*signature);
        *message = *signature = NULL;
    }
    return e;
}

enum err codec_check_object(const char *json, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    int ok = root != NULL && cJSON_IsObject(root);
    cJSON_Delete(root);
    return ok ? ERR_OK : ERR_INVAL;
}

/* Print <root> compactly into <out>; takes <root>. */
static enum err emit(cJSON *root, struct buf *out)
{
    if (root == NULL)
        return ERR_NOMEM;
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (s == NULL)
        return ERR_NOMEM;
    enum err e = buf_append_str(out, s);
    cJSON_free(s);
    return e;
}

static int add_str(cJSON *o, const char *key, const char *v)
{
    return (v ? cJSON_AddStringToObject(o, key, v) : cJSON_AddNullToObject(o, key)) != NULL;
}

/* <v> as a number, or null when 0 (not known). */
static int add_pos(cJSON *o, const char *key, int64_t v)
{
    return (v > 0 ? cJSON_AddNumberToObject(o, key, (double)v) : cJSON_AddNullToObject(o, key)) !=
           NULL;
}

static cJSON *job_object(const struct gw_job *j)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    int ok =
        cJSON_AddNumberToObject(o, "id", (double)j->id) && add_str(o, "title", j->title) &&
        add_str(o, "description", j->description) && add_str(o, "type", j->type) &&
        cJSON_AddNumberToObject(o, "price_usd_cents", (double)j->price_usd_cents) &&
        add_str(o, "client", j->client) && add_str(o, "worker", j->worker) &&
        add_str(o, "status", j->status) && cJSON_AddNumberToObject(o, "progress", j->progress) &&
        cJSON_AddNumberToObject(o, "created_at", (double)j->created_at) &&
        add_str(o, "spec_sha256", j->spec_sha256) && add_str(o, "chain_job_id", j->chain_job_id) &&
        add_str(o, "escrow_wei", j->escrow_wei) && add_pos(o, "deadline_at", j->deadline_at) &&
        add_pos(o, "max_runtime_s", j->max_runtime_s) &&
        add_str(o, "result_sha256", j->result_sha256) &&
        cJSON_AddNumberToObject(o, "result_size_bytes", (double)j->result_size_bytes) &&
        add_str(o, "cloud_link", j->cloud_link) && add_str(o, "external_links", j->external_links);
    cJSON *files = ok ? cJSON_AddArrayToObject(o, "files") : NULL;
    ok = files != NULL;
    for (size_t i = 0; ok && i < j->n_files; i++) {
        cJSON *f = cJSON_CreateObject();
        ok = f != NULL && cJSON_AddItemToArray(files, f) && add_str(f, "name", j->files[i].name) &&
             add_str(f, "sha256", j->files[i].sha256) &&
             cJSON_AddNumberToObject(f, "size_bytes", (double)j->files[i].size_bytes);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

enum err codec_job(const struct gw_job *job, struct buf *out)
{
    return emit(job_object(job), out);
}

enum err codec_jobs(const struct gw_job *jobs, size_t n, int64_t next_before_id, struct buf *out)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = o ? cJSON_AddArrayToObject(o, "jobs") : NULL;
    int ok = arr != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        cJSON *j = job_object(&jobs[i]);
        ok = j != NULL && cJSON_AddItemToArray(arr, j);
    }
    if (ok && next_before_id > 0) {
        char cur[24];
        (void)snprintf(cur, sizeof(cur), "%lld", (long long)next_before_id);
        ok = cJSON_AddStringToObject(o, "next_cursor", cur) != NULL;
    } else if (ok) {
        ok = cJSON_AddNullToObject(o, "next_cursor") != NULL;
    }
    if (!ok) {
        cJSON_Delete(o);
        return ERR_NOMEM;
    }
    return emit(o, out);
}

enum err codec_quote(const struct gw_quote *q, struct buf *out)
{
    cJSON *o = cJSON_CreateObject();
    char round[24];
    (void)snprintf(round, sizeof(round), "%llu", (unsigned long long)q->round_id);
    int ok = o && cJSON_AddNumberToObject(o, "usd_cents", (double)q->usd_cents) &&
             add_str(o, "wei", q->wei) && add_str(o, "round_id", round) &&
             cJSON_AddNumberToObject(o, "updated_at", (double)q->updated_at) &&
             cJSON_AddNumberToObject(o, "age_s", (double)q->age_s) &&
             add_str(o, "answer", q->answer) && cJSON_AddNumberToObject(o, "decimals", q->decimals);
    if (!ok) {
        cJSON_Delete(o);
        return ERR_NOMEM;
    }
    return emit(o, out);
}

enum err codec_error(const char *code, const char *message, struct buf *out)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *e = o ? cJSON_AddObjectToObject(o, "error") : NULL;
    if (e == NULL || !add_str(e, "code", code) || !add_str(e, "message", message)) {
        cJSON_Delete(o);
        return ERR_NOMEM;
    }
    return emit(o, out);
}

enum err codec_session(const char *address, int64_t expires_at, struct buf *out)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !add_str(o, "address", address) ||
        !cJSON_AddNumberToObject(o, "expires_at", (double)expires_at)) {
        cJSON_Delete(o);
        return ERR_NOMEM;
    }
    return emit(o, out);
}
