/*
 * jobdb -- domain operations: each one checks out a connection, runs one
 * transaction of prepared statements, and checks it back in (see jobdb.h).
 *
 * Job state derived from the chain is computed here, in C, by fold(): one
 * function used both when a batch applies new events to the current row and
 * when a rollback recomputes a job from its remaining events, so both paths
 * give the same row by construction.
 * SPDX-License-Identifier: MIT
 */
#include "jobdb.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "db.h"
#include "jobdb_schema.h"

/* Ids reserved from the jobs sequence per round trip (jobdb_next_id). */
#define JOBDB_ID_BLOCK 64

struct jobdb {
    struct db_pool *pool;
    /* Reserved ids not yet handed out: ids[next..n), ascending. */
    pthread_mutex_t id_mu;
    int64_t ids[JOBDB_ID_BLOCK];
    size_t id_next, id_n;
};

static const char *const status_names[JOBDB_STATUS__COUNT] = {
    "PENDING", "OPEN", "WORKING", "SUBMITTED", "COMPLETED", "DISPUTED", "REFUNDED"};
static const char *const type_names[JOBDB_TYPE__COUNT] = {"IA", "GRAFICA"};
static const char *const role_names[] = {"input", "spec", "result"};

const char *jobdb_status_name(enum jobdb_status s)
{
    return (unsigned)s < JOBDB_STATUS__COUNT ? status_names[s] : "UNKNOWN";
}

const char *jobdb_type_name(enum jobdb_type t)
{
    return (unsigned)t < JOBDB_TYPE__COUNT ? type_names[t] : "UNKNOWN";
}

enum err jobdb_status_parse(const char *s, enum jobdb_status *out)
{
    int i;

    for (i = 0; s && i < JOBDB_STATUS__COUNT; i++) {
        if (strcmp(s, status_names[i]) == 0) {
            *out = (enum jobdb_status)i;
            return ERR_OK;
        }
    }
    return ERR_INVAL;
}

enum err jobdb_type_parse(const char *s, enum jobdb_type *out)
{
    int i;

    for (i = 0; s && i < JOBDB_TYPE__COUNT; i++) {
        if (strcmp(s, type_names[i]) == 0) {
            *out = (enum jobdb_type)i;
            return ERR_OK;
        }
    }
    return ERR_INVAL;
}

/* ------------------------------------------------------------ value helpers */

/* Room for "0x" + 64 hex digits + NUL. */
#define HEX32_LEN 67
/* Room for "0x" + 40 hex digits + NUL. */
#define ADDR_LEN 43

static void hex_of(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    out[0] = '0', out[1] = 'x';
    for (i = 0; i < n; i++) {
        out[2 + 2 * i] = digits[b[i] >> 4];
        out[3 + 2 * i] = digits[b[i] & 15];
    }
    out[2 + 2 * n] = '\0';
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Normalise <in> (n bytes as hex, optional 0x, any case) into <out>
 * (2 + 2n + 1 bytes). ERR_INVAL if malformed. */
static enum err hex_norm(const char *in, size_t n, char *out)
{
    size_t i;

    if (!in)
        return ERR_INVAL;
    if (in[0] == '0' && (in[1] == 'x' || in[1] == 'X'))
        in += 2;
    if (strlen(in) != 2 * n)
        return ERR_INVAL;
    out[0] = '0', out[1] = 'x';
    for (i = 0; i < 2 * n; i++) {
        if (hexval((unsigned char)in[i]) < 0)
            return ERR_INVAL;
        out[2 + i] = (char)tolower((unsigned char)in[i]);
    }
    out[2 + 2 * n] = '\0';
    return ERR_OK;
}

/* Parse "0x" + 2n hex digits (as stored) into bytes. */
static enum err hex_parse(const char *in, uint8_t *out, size_t n)
{
    size_t i;

    if (!in || in[0] != '0' || in[1] != 'x' || strlen(in) != 2 + 2 * n)
        return ERR_INVAL;
    for (i = 0; i < n; i++) {
        int hi = hexval((unsigned char)in[2 + 2 * i]), lo = hexval((unsigned char)in[3 + 2 * i]);
        if (hi < 0 || lo < 0)
            return ERR_INVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return ERR_OK;
}

static int is_zero(const uint8_t *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

/* 1..78 decimal digits (a uint256). */
static int dec_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    size_t i;

    if (n < 1 || n > 78)
        return 0;
    for (i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* A positive decimal with an optional fraction, at most 40 characters. */
static int price_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0, i, digits = 0, dots = 0;
    int nonzero = 0;

    if (n < 1 || n > 40)
        return 0;
    for (i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (++dots > 1 || i == 0 || i == n - 1)
                return 0;
        } else if (isdigit((unsigned char)s[i])) {
            digits++;
            nonzero |= s[i] != '0';
        } else {
            return 0;
        }
    }
    return digits > 0 && nonzero;
}

/* Compare two valid decimal integers numerically. */
static int dec_cmp(const char *a, const char *b)
{
    size_t la, lb;
    int c;

    while (a[0] == '0' && a[1])
        a++;
    while (b[0] == '0' && b[1])
        b++;
    la = strlen(a), lb = strlen(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    c = strcmp(a, b);
    return c < 0 ? -1 : c > 0;
}

static int dec_is_zero(const char *s)
{
    for (; *s; s++)
        if (*s != '0')
            return 0;
    return 1;
}

static int text_ok(const char *s, size_t min, size_t max)
{
    size_t n = s ? strlen(s) : 0;

    return s && n >= min && n <= max;
}

/* Replace *dst with a copy of <src> (NULL clears). */
static enum err set_str(char **dst, const char *src)
{
    char *copy = NULL;

    if (src) {
        copy = strdup(src);
        if (!copy)
            return ERR_NOMEM;
    }
    free(*dst);
    *dst = copy;
    return ERR_OK;
}

static void fmt_i64(char out[24], int64_t v)
{
    snprintf(out, 24, "%" PRId64, v);
}

static int64_t parse_i64(const char *s)
{
    return s ? strtoll(s, NULL, 10) : 0;
}

/* ---------------------------------------------------------------- job rows */

/* Every SELECT of a job lists these columns in this order (row_to_job). */
#define JOB_COLS                                                                                   \
    "id, title, description, type, price::text, wallet_address, status, progress,"                 \
    " (extract(epoch FROM created_at) * 1000)::bigint, cloud_link, script_path,"                   \
    " external_links, attachment_info, worker_address, chain_job_id, price_usd_cents,"             \
    " quote_wei::text, escrow_wei::text, spec_sha256, result_sha256,"                              \
    " extract(epoch FROM deadline_at)::bigint, extract(epoch FROM claim_expires_at)::bigint,"      \
    " extract(epoch FROM challenge_ends_at)::bigint,"                                              \
    " funded_tx, extract(epoch FROM funded_at)::bigint,"                                           \
    " claimed_tx, extract(epoch FROM claimed_at)::bigint,"                                         \
    " submitted_tx, extract(epoch FROM submitted_at)::bigint,"                                     \
    " released_tx, extract(epoch FROM released_at)::bigint,"                                       \
    " disputed_tx, extract(epoch FROM disputed_at)::bigint,"                                       \
    " resolved_tx, extract(epoch FROM resolved_at)::bigint,"                                       \
    " reopened_tx, extract(epoch FROM reopened_at)::bigint,"                                       \
    " refunded_tx, extract(epoch FROM refunded_at)::bigint, funding_flag,"                         \
    " max_runtime_s, extract(epoch FROM requested_deadline_at)::bigint, requested_max_runtime_s"

void jobdb_job_release(struct jobdb_job *j)
{
    int t;

    if (!j)
        return;
    free(j->title), free(j->description), free(j->price), free(j->wallet_address);
    free(j->cloud_link), free(j->script_path), free(j->external_links);
    free(j->attachment_info), free(j->worker_address), free(j->chain_job_id);
    free(j->quote_wei), free(j->escrow_wei), free(j->spec_sha256), free(j->result_sha256);
    for (t = 0; t < JOBDB_TR__COUNT; t++)
        free(j->tx[t].tx_hash);
    free(j->funding_flag);
    memset(j, 0, sizeof *j);
}

static enum err row_to_job(const struct db_res *r, size_t row, struct jobdb_job *j)
{
    char **strs[] = {&j->title,          &j->description,   &j->price,          &j->wallet_address,
                     &j->cloud_link,     &j->script_path,   &j->external_links, &j->attachment_info,
                     &j->worker_address, &j->chain_job_id,  &j->quote_wei,      &j->escrow_wei,
                     &j->spec_sha256,    &j->result_sha256, &j->funding_flag};
    static const int cols[] = {1, 2, 4, 5, 9, 10, 11, 12, 13, 14, 16, 17, 18, 19, 39};
    enum err e = ERR_OK;
    size_t i;
    int t;

    memset(j, 0, sizeof *j);
    j->id = parse_i64(db_res_text(r, row, 0));
    for (i = 0; i < sizeof cols / sizeof cols[0] && e == ERR_OK; i++)
        e = set_str(strs[i], db_res_text(r, row, cols[i]));
    for (t = 0; t < JOBDB_TR__COUNT && e == ERR_OK; t++) {
        e = set_str(&j->tx[t].tx_hash, db_res_text(r, row, 23 + 2 * t));
        j->tx[t].at_unix = parse_i64(db_res_text(r, row, 24 + 2 * t));
    }
    if (e == ERR_OK && (jobdb_type_parse(db_res_text(r, row, 3), &j->type) != ERR_OK ||
                        jobdb_status_parse(db_res_text(r, row, 6), &j->status) != ERR_OK))
        e = ERR_DB; /* the schema's CHECK makes this impossible */
    j->progress = (int)parse_i64(db_res_text(r, row, 7));
    j->created_at_ms = parse_i64(db_res_text(r, row, 8));
    j->price_usd_cents = parse_i64(db_res_text(r, row, 15));
    j->deadline_unix = parse_i64(db_res_text(r, row, 20));
    j->claim_expires_unix = parse_i64(db_res_text(r, row, 21));
    j->challenge_ends_unix = parse_i64(db_res_text(r, row, 22));
    j->max_runtime_s = parse_i64(db_res_text(r, row, 40));
    j->requested_deadline_unix = parse_i64(db_res_text(r, row, 41));
    j->requested_max_runtime_s = parse_i64(db_res_text(r, row, 42));
    if (e != ERR_OK)
        jobdb_job_release(j);
    return e;
}

/* ------------------------------------------------------------------- open */

enum err jobdb_open(const struct db_config *cfg, struct jobdb **out)
{
    const struct db_migration *list;
    struct jobdb *db;
    size_t n;
    enum err e;

    *out = NULL;
    db = calloc(1, sizeof *db);
    if (!db)
        return ERR_NOMEM;
    pthread_mutex_init(&db->id_mu, NULL);
    e = db_pool_new(cfg, &db->pool);
    if (e == ERR_OK) {
        list = jobdb_schema_migrations(&n);
        e = db_migrate(db->pool, list, n, NULL);
    }
    if (e != ERR_OK) {
        jobdb_close(db);
        return e;
    }
    *out = db;
    return ERR_OK;
}

void jobdb_close(struct jobdb *db)
{
    if (!db)
        return;
    db_pool_free(db->pool);
    pthread_mutex_destroy(&db->id_mu);
    free(db);
}

struct db_pool *jobdb_pool(struct jobdb *db)
{
    return db->pool;
}

/* ------------------------------------------------------------ REST side */

static const struct db_stmt st_create = {
    "jobdb_create",
    "INSERT INTO jobs (id, title, description, type, price, wallet_address, cloud_link,"
    " script_path, external_links, attachment_info, chain_job_id, price_usd_cents, quote_wei,"
    " spec_sha256, requested_deadline_at, requested_max_runtime_s)"
    " VALUES (coalesce($14::bigint, nextval(pg_get_serial_sequence('jobs', 'id'))),"
    " $1, $2, $3, $4::numeric, $5, $6, $7, $8, $9, $10, $11::bigint, $12::numeric, $13,"
    " to_timestamp($15::bigint), $16::bigint)"
    " RETURNING " JOB_COLS,
    16};

/* JOBDB_ID_BLOCK ids in one round trip, ascending. */
static const struct db_stmt st_next_ids = {
    "jobdb_next_ids",
    "SELECT nextval(pg_get_serial_sequence('jobs', 'id')) FROM generate_series(1, $1::int) AS g"
    " ORDER BY 1",
    1};

/* Refill db's reserved ids. Called with id_mu held. */
static enum err next_ids_fill(struct jobdb *db)
{
    char count[24];
    const char *params[1] = {count};
    struct db_conn *c = NULL;
    struct db_res *r = NULL;
    size_t i, rows;
    enum err e;

    fmt_i64(count, JOBDB_ID_BLOCK);
    e = db_checkout(db->pool, &c);
    if (e != ERR_OK)
        return e;
    e = db_exec_stmt(c, &st_next_ids, params, &r);
    if (e == ERR_OK) {
        rows = db_res_rows(r);
        if (rows == 0 || rows > JOBDB_ID_BLOCK)
            e = ERR_DB;
        for (i = 0; e == ERR_OK && i < rows; i++)
            db->ids[i] = parse_i64(db_res_text(r, i, 0));
        if (e == ERR_OK) {
            db->id_next = 0;
            db->id_n = rows;
        }
    }
    db_res_free(r);
    db_checkin(db->pool, c);
    return e;
}

enum err jobdb_next_id(struct jobdb *db, int64_t *id)
{
    enum err e = ERR_OK;

    *id = 0;
    pthread_mutex_lock(&db->id_mu);
    if (db->id_next >= db->id_n)
        e = next_ids_fill(db);
    if (e == ERR_OK)
        *id = db->ids[db->id_next++];
    pthread_mutex_unlock(&db->id_mu);
    return e;
}

static const struct db_stmt st_ping = {"jobdb_ping", "SELECT 1", 0};

enum err jobdb_ping(struct jobdb *db)
{
    struct db_conn *c = NULL;
    enum err e;

    e = db_checkout(db->pool, &c);
    if (e != ERR_OK)
        return e;
    e = db_exec_stmt(c, &st_ping, NULL, NULL);
    db_checkin(db->pool, c);
    return e;
}

/* st_create's parameters for <in>, in storage the caller provides. */
struct create_args {
    char client[ADDR_LEN], chain_id[HEX32_LEN], spec[HEX32_LEN], cents[24], id[24];
    char deadline[24], runtime[24];
    const char *params[16];
};

/* Validate <in> and fill <a>. Returns ERR_OK or ERR_INVAL. */
static enum err create_prepare(const struct jobdb_new_job *in, struct create_args *a)
{
    if (!text_ok(in->title, 1, 200) || (in->description && strlen(in->description) > 20000) ||
        (unsigned)in->type >= JOBDB_TYPE__COUNT || !price_ok(in->price) ||
        in->price_usd_cents <= 0 || (in->quote_wei && !dec_ok(in->quote_wei)) ||
        hex_norm(in->wallet_address, 20, a->client) != ERR_OK ||
        hex_norm(in->chain_job_id, 32, a->chain_id) != ERR_OK ||
        hex_norm(in->spec_sha256, 32, a->spec) != ERR_OK || in->id < 0 || in->deadline_unix < 0 ||
        in->max_runtime_s < 0)
        return ERR_INVAL;
    fmt_i64(a->cents, in->price_usd_cents);
    fmt_i64(a->id, in->id);
    fmt_i64(a->deadline, in->deadline_unix);
    fmt_i64(a->runtime, in->max_runtime_s);
    a->params[13] = in->id ? a->id : NULL;
    a->params[14] = in->deadline_unix ? a->deadline : NULL;
    a->params[15] = in->max_runtime_s ? a->runtime : NULL;
    a->params[0] = in->title;
    a->params[1] = in->description ? in->description : "";
    a->params[2] = type_names[in->type];
    a->params[3] = in->price;
    a->params[4] = a->client;
    a->params[5] = in->cloud_link;
    a->params[6] = in->script_path;
    a->params[7] = in->external_links;
    a->params[8] = in->attachment_info;
    a->params[9] = a->chain_id;
    a->params[10] = a->cents;
    a->params[11] = in->quote_wei;
    a->params[12] = a->spec;
    return ERR_OK;
}

enum err jobdb_create(struct jobdb *db, const struct jobdb_new_job *in, struct jobdb_job *out)
{
    struct create_args a;
    struct db_conn *c = NULL;
    struct db_res *r = NULL;
    enum err e;

    memset(out, 0, sizeof *out);
    if (create_prepare(in, &a) != ERR_OK)
        return ERR_INVAL;
    e = db_checkout(db->pool, &c);
    if (e != ERR_OK)
        return e;
    e = db_exec_stmt(c, &st_create, a.params, &r);
    if (e == ERR_OK)
        e = row_to_job(r, 0, out);
    db_res_free(r);
    db_checkin(db->pool, c);
    return e;
}

static const struct db_stmt st_get = {"jobdb_get",
                                      "SELECT " JOB_COLS " FROM jobs WHERE id = $1::bigint", 1};
static const struct db_stmt st_get_chain = {
    "jobdb_get_chain", "SELECT " JOB_COLS " FROM jobs WHERE chain_job_id = $1", 1};

static enum err get_one(struct jobdb *db, const struct db_stmt *st, const char *key,
                        struct jobdb_job *out)
{
    const char *params[1] = {key};
    struct db_conn *c = NULL;
    struct db_res *r = NULL;
    enum err e;

    e = db_checkout(db->pool, &c);
    if (e != ERR_OK)
        return e;
    e = db_exec_stmt(c, st, params, &r);
    if (e == ERR_OK)
        e = db_res_rows(r) == 1 ? row_to_job(r, 0, out) : ERR_NOTFOUND;
    db_res_free(r);
    db_checkin(db->pool, c);
    return e;
}

enum err jobdb_get(struct jobdb *db, int64_t id, struct jobdb_job *out)
{
    char key[24];

    memset(out, 0, sizeof *out);
    fmt_i64(key, id);
    return get_one(db, &st_get, key, out);
}

enum err jobdb_get_by_chain_id(struct jobdb *db, const char *chain_job_id, struct jobdb_job *out)
{
    char key[HEX32_LEN];

    memset(out, 0, sizeof *out);
    if (hex_norm(chain_job_id, 32, key) != ERR_OK)
        return ERR_INVAL;
    return get_one(db, &st_get_chain, key, out);
}

/* One generic plan for every filter combination: each condition is off when
 * its parameter is NULL. Keyset pagination on the primary key (newest
 * first) keeps every page an index range scan, however deep. */
static const struct db_stmt st_list = {
    "jobdb_list",
    "SELECT " JOB_COLS " FROM jobs"
    " WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR type = $2)"
    " AND ($3::text IS NULL OR wallet_address = $3) AND ($4::text IS NULL OR worker_address = $4)"
    " AND ($5::bigint = 0 OR id < $5::bigint)"
    " ORDER BY id DESC LIMIT $6::bigint",
    6};
static const struct db_stmt st_list_asc = {
    "jobdb_list_asc",
    "SELECT " JOB_COLS " FROM jobs"
    " WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR type = $2)"
    " AND ($3::text IS NULL OR wallet_address = $3) AND ($4::text IS NULL OR worker_address = $4)"
    " AND id > $5::bigint"
    " ORDER BY id LIMIT $6::bigint",
    6};

void jobdb_list_release(struct jobdb_list *l)
{
    size_t i;

    if (!l)
        return;
    for (i = 0; i < l->n; i++)
        jobdb_job_release(&l->jobs[i]);
    free(l->jobs);
    memset(l, 0, sizeof *l);
}

enum err jobdb_list(struct jobdb *db, const struct jobdb_filter *f, int64_t after_id, size_t limit,
                    struct jobdb_list *out)
{
    char client[ADDR_LEN], worker[ADDR_LEN], after[24], lim[24];
    const char *params[6] = {NULL, NULL, NULL, NULL, after, lim};
    struct db_conn *c = NULL;
    struct db_res *r = NULL;
    size_t rows, i;
    enum err e;

    memset(out, 0, sizeof *out);
    if (limit < 1 || limit > JOBDB_LIST_MAX || after_id < 0)
        return ERR_INVAL;
    if (f) {
        if (f->has_status) {
            if ((unsigned)f->status >= JOBDB_STATUS__COUNT)
                return ERR_INVAL;
            params[0] = status_names[f->status];
        }
        if (f->has_type) {
            if ((unsigned)f->type >= JOBDB_TYPE__COUNT)
                return ERR_INVAL;
            params[1] = type_names[f->type];
        }
        if (f->client && hex_norm(f->client, 20, client) != ERR_OK)
            return ERR_INVAL;
        if (f->worker && hex_norm(f->worker, 20, worker) != ERR_OK)
            return ERR_INVAL;
        params[2] = f->client ? client : NULL;
        params[3] = f->worker ? worker : NULL;
    }
    fmt_i64(after, after_id);
    fmt_i64(lim, (int64_t)limit + 1); /* one more tells whether a next page exists */
    e = db_checkout(db->pool, &c);
    if (e != ERR_OK)
        return e;
    e = db_exec_stmt(c, f && f->ascending ? &st_list_asc : &st_list, params, &r);
    if (e != ERR_OK)
        goto out;
    rows = db_res_rows(r);
    if (rows > limit)
        rows = limit;
    out->jobs = calloc(rows ? rows : 1, sizeof *out->jobs);
    if (!out->jobs) {
        e = ERR_NOMEM;
        goto out;
    }
    for (i = 0; i < rows && e == ERR_OK; i++) {
        e = row_to_job(r, i, &out->jobs[i]);
        if (e == ERR_OK)
            out->n++;
    }
    if (e == ERR_OK && db_res_rows(r) > limit)
        out->next_cursor = out->jobs[rows - 1].id;
out:
    if (e != ERR_OK)
        jobdb_list_release(out);
    db_res_free(r);
    db_checkin(db->pool, c);
    return e;
}

static const struct db_stmt st_progress = {
    "jobdb_progress",
    "UPDATE jobs SET progress = $3::smallint"
    " WHERE id = $1::bigint AND status = 'WORKING' AND worker_address = $2",
    3};
static const struct db_stmt st_assignee = {
    "jobdb_assignee", "SELECT status, worker_address FROM jobs WHERE id = $1::bigint", 1};
static const struct db_stmt st_assignee_lock = {
    "jobdb_assignee_lock",
    "SELECT status, worker_address FROM jobs WHERE id = $1::bigint FOR UPDATE", 1};

/* Why <worker> may not act on the job row (status, worker) in r: the
 * ordering makes "not the worker" win only once a worker exists. */
static enum err assignee_error(const struct db_res *r, const char *worker, int allow_submitted)
{
    const char *status, *holder;

    if (db_res_rows(r) != 1)
        return ERR_NOTFOUND;
    status = db_res_text(r, 0, 0);
    holder = db_res_text(r, 0, 1);
    if (!holder)
        return ERR_STATE;
    if (strcmp(holder, worker) != 0)
        return ERR_PERM;
    if (strcmp(status, "WORKING") != 0 && !(allow_submitted && strcmp(status, "SUBMITTED") == 0))
        return ERR_STATE;
    return ERR_OK;
}

enum err jobdb_update_progress(struct jobdb *db, int64_t id, const char *worker, int progress)
{
    char key[24], addr[ADDR_LEN], pct[24];
    const char *params[3] = {key, addr, pct};
    struct db_conn *c = NULL;
    struct db_res *r = NULL;
    enum err e;

    if (progress < 0 || progress > 100 || hex_norm(worker, 20, addr) != ERR_OK)
        return ERR_INVAL;
    fmt_i64(key, id);
    fmt_i64(pct, progress);
    e = db_checkout(db->pool, &c);
    if (e != ERR_OK)
        return e;
    /* The happy path is one statement; only a refusal reads the row to say
     * why (a race there can only change which refusal is reported). */
    e = db_exec_stmt(c, &st_progress, params, &r);
    if (e == ERR_OK && db_res_affected(r) == 0) {
        db_res_free(r);
        r = NULL;
        e = db_exec_stmt(c, &st_assignee, params, &r);
        if (e == ERR_OK)
            e = assignee_error(r, addr, 0);
        if (e == ERR_OK)
            e = ERR_STATE;
    }
    db_res_free(r);
    db_checkin(db->pool, c);
    return e;
}

static enum err file_norm(const struct jobdb_new_file *f, char sha[HEX32_LEN])
{
    if (!text_ok(f->name, 1, 255) || (unsigned)f->role > JOBDB_FILE_RESULT || f->size_bytes < 0 ||
        !text_ok(f->content_type, 1, 255) || hex_norm(f->sha256, 32, sha) != ERR_OK)
        return ERR_INVAL;
    return ERR_OK;
}

static const struct db_stmt st_file_add = {
    "jobdb_file_add",
    "INSERT INTO job_files (job_id, name, role, sha256, size_bytes, content_type)"
    " VALUES ($1::bigint, $2, $3, $4, $5::bigint, $6)",
    6};
/* The previous result, and any record of the same name (the gateway may
 * have recorded the upload with file.put before the worker committed it). */
static const struct db_stmt st_result_clear = {
    "jobdb_result_clear",
    "DELETE FROM job_files WHERE job_id = $1::bigint AND (role = 'result' OR name = $2)", 2};

static void file_params(const char *key, const struct jobdb_new_file *f, const char *sha,
                        const char *size, const char *params[6])
{
    params[0] = key;
    params[1] = f->name;
    params[2] = role_names[f->role];
    params[3] = sha;
    params[4] = size;
    params[5] = f->content_type;
}

enum err jobdb_set_result(struct jobdb *db, int64_t id, const char *worker,
                          const struct jobdb_new_file *file)
{
    char key[24], addr[ADDR_LEN], sha[HEX32_LEN], size[24];
    struct jobdb_new_file f = *file;
    const char *params[6];
    struct db_conn *c = NULL;
    struct db_res *r = NULL;
    enum err e;

    f.role = JOBDB_FILE_RESULT;
    if (file_norm(&f, sha) != ERR_OK || hex_norm(worker, 20, addr) != ERR_OK)
        return ERR_INVAL;
    fmt_i64(key, id);
    fmt_i64(size, f.size_bytes);
    file_params(key, &f, sha, size, params);
    e = db_checkout(db->pool, &c);
    if (e != ERR_OK)
        return e;
    e = db_begin(c);
    /* FOR UPDATE: the status cannot move (the indexer locks the row too)
     * between the check and the insert. */
    if (e == ERR_OK)
        e = db_exec_stmt(c, &st_assignee_lock, params, &r);
    if (e == ERR_OK)
        e = assignee_error(r, addr, 1);
    if (e == ERR_OK)
        e = db_exec_stmt(c, &st_result_clear, params, NULL);
    if (e == ERR_OK)
        e = db_exec_stmt(c, &st_file_add, params, NULL);
    if (e == ERR_OK)
        e = db_commit(c);
    else
        db_rollback(c);
    db_res_free(r);
    db_checkin(db->pool, c);
    return e;
}

enum err jobdb_add_file(struct jobdb *db, int64_t id, const struct jobdb_new_file *file)
{
    char key[24], sha[HEX32_LEN], size[24];
    const char *params[6];
    struct db_conn *c = NULL;
    enum err e;

    if (file_norm(file, sha) != ERR_OK || file->role == JOBDB_FILE_RESULT)
        return ERR_INVAL;
    fmt_i64(key, id);
    fmt_i64(size, file->size_bytes);
    file_params(key, file, sha, size, params);
    e = db_checkout(db->pool, &c);
    if (e != ERR_OK)
        return e;
    e = db_exec_stmt(c, &st_file_add, params, NULL); /* unknown job: FK -> ERR_NOTFOUND */
    db_checkin(db->pool, c);
    return e;
}

/* Most files of one jobdb_create_with_files(). */
#define CREATE_FILES_MAX 64

/* The job and its files in one statement: the files name the job by the
 * id the job's INSERT returns, and the job's row comes back (JOB_COLS).
 * $1..$16 as st_create; $17..$21 the files' names, roles, sha256s, sizes
 * and content types as arrays of one length (PostgreSQL array literals). */
static const struct db_stmt st_create_files = {
    "jobdb_create_files",
    "WITH j AS (INSERT INTO jobs (id, title, description, type, price, wallet_address,"
    " cloud_link, script_path, external_links, attachment_info, chain_job_id, price_usd_cents,"
    " quote_wei, spec_sha256, requested_deadline_at, requested_max_runtime_s)"
    " VALUES (coalesce($14::bigint, nextval(pg_get_serial_sequence('jobs', 'id'))),"
    " $1, $2, $3, $4::numeric, $5, $6, $7, $8, $9, $10, $11::bigint, $12::numeric, $13,"
    " to_timestamp($15::bigint), $16::bigint) RETURNING *),"
    " f AS (INSERT INTO job_files (job_id, name, role, sha256, size_bytes, content_type)"
    " SELECT j.id, u.name, u.role, u.sha256, u.size_bytes, u.content_type FROM j,"
    " unnest($17::text[], $18::text[], $19::text[], $20::bigint[], $21::text[])"
    " AS u(name, role, sha256, size_bytes, content_type))"
    " SELECT " JOB_COLS " FROM j",
    21};

static enum err col_add(struct buf *b, const char *s, int first);

/* Append <s> to the array literal in <b> as one element (col_add()), opening
 * the literal with '{' when it is the first. */
static enum err array_add(struct buf *b, const char *s, int first)
{
    enum err e = first ? buf_append_byte(b, '{') : ERR_OK;

    return e == ERR_OK ? col_add(b, s, first) : e;
}

enum err jobdb_create_with_files(struct jobdb *db, const struct jobdb_new_job *in,
                                 const struct jobdb_new_file *files, size_t n_files,
                                 struct jobdb_job *out)
{
    struct create_args a;
    char sha[HEX32_LEN], size[24];
    const char *params[21];
    struct buf arr[5];
    struct db_res *r = NULL;
    struct db_conn *c = NULL;
    enum err e = ERR_OK;
    size_t i, k;

    memset(out, 0, sizeof *out);
    if (n_files == 0)
        return jobdb_create(db, in, out);
    /* The chain_job_id derives from the id: it must be reserved (jobdb_next_id). */
    if (in->id <= 0 || n_files > CREATE_FILES_MAX || create_prepare(in, &a) != ERR_OK)
        return ERR_INVAL;
    for (k = 0; k < 5; k++)
        buf_init(&arr[k], (size_t)1 << 20);
    for (i = 0; e == ERR_OK && i < n_files; i++) {
        if (file_norm(&files[i], sha) != ERR_OK || files[i].role == JOBDB_FILE_RESULT) {
            e = ERR_INVAL;
            break;
        }
        fmt_i64(size, files[i].size_bytes);
        e = array_add(&arr[0], files[i].name, i == 0);
        if (e == ERR_OK)
            e = array_add(&arr[1], role_names[files[i].role], i == 0);
        if (e == ERR_OK)
            e = array_add(&arr[2], sha, i == 0);
        if (e == ERR_OK)
            e = array_add(&arr[3], size, i == 0);
        if (e == ERR_OK)
            e = array_add(&arr[4], files[i].content_type, i == 0);
    }
    for (k = 0; e == ERR_OK && k < 5; k++)
        e = buf_append_byte(&arr[k], '}');
    if (e == ERR_OK)
        e = db_checkout(db->pool, &c);
    if (e == ERR_OK) {
        memcpy(params, a.params, sizeof a.params);
        for (k = 0; k < 5; k++)
            params[16 + k] = arr[k].data;
        /* One statement, one transaction, one commit (one WAL flush) and
         * one round trip: never a job without the files its client sent. */
        e = db_exec_stmt(c, &st_create_files, params, &r);
        if (e == ERR_OK)
            e = row_to_job(r, 0, out);
        db_res_free(r);
        db_checkin(db->pool, c);
    }
    for (k = 0; k < 5; k++)
        buf_release(&arr[k]);
    return e;
}

/* Many jobs and their files in one statement: the arrays $1..$16 hold one
 * element per job (st_create's columns, the id always given), $17..$22 one
 * element per file with the id of its job. One statement instead of one
 * per job is what pays: PostgreSQL sets up the executor, the jobs table's
 * CHECK constraints (read back from their stored text on every statement)
 * and the foreign-key triggers once per statement, and that, not the
 * commit, is most of a one-job create's server time (docs/operators.md,
 * "Group commit"). The foreign keys of the files are checked at the end of
 * the statement, when the jobs' rows exist. */
static const struct db_stmt st_create_batch = {
    "jobdb_create_batch",
    "WITH j AS (INSERT INTO jobs (id, title, description, type, price, wallet_address,"
    " cloud_link, script_path, external_links, attachment_info, chain_job_id, price_usd_cents,"
    " quote_wei, spec_sha256, requested_deadline_at, requested_max_runtime_s)"
    " SELECT u.id, u.title, u.description, u.type, u.price, u.wallet_address, u.cloud_link,"
    " u.script_path, u.external_links, u.attachment_info, u.chain_job_id, u.cents, u.quote_wei,"
    " u.spec, to_timestamp(u.deadline), u.runtime"
    " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::text[],"
    " $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[],"
    " $13::numeric[], $14::text[], $15::bigint[], $16::bigint[])"
    " AS u(id, title, description, type, price, wallet_address, cloud_link, script_path,"
    " external_links, attachment_info, chain_job_id, cents, quote_wei, spec, deadline, runtime)"
    " RETURNING *),"
    " f AS (INSERT INTO job_files (job_id, name, role, sha256, size_bytes, content_type)"
    " SELECT * FROM unnest($17::bigint[], $18::text[], $19::text[], $20::text[], $21::bigint[],"
    " $22::text[]))"
    " SELECT " JOB_COLS " FROM j",
    22};

/* Array literals of one batch: CREATE_BATCH_JOB_COLS per job, then
 * CREATE_BATCH_FILE_COLS per file. */
#define CREATE_BATCH_JOB_COLS  16
#define CREATE_BATCH_FILE_COLS 6
#define CREATE_BATCH_COLS      (CREATE_BATCH_JOB_COLS + CREATE_BATCH_FILE_COLS)

/* Cap of one array literal: 256 descriptions of 20,000 bytes, every byte
 * escaped, fit with room to spare. */
#define CREATE_BATCH_ARRAY_MAX ((size_t)16 << 20)

/* Append element <s> (NULL: SQL NULL) to array literal <b>, opening it
 * with '{' when empty. */
static enum err array_put(struct buf *b, const char *s)
{
    enum err e = buf_append_byte(b, b->len == 0 ? '{' : ',');

    if (e == ERR_OK && !s)
        return buf_append_str(b, "NULL");
    for (e = e == ERR_OK ? buf_append_byte(b, '"') : e; e == ERR_OK && *s; s++) {
        if (*s == '"' || *s == '\\')
            e = buf_append_byte(b, '\\');
        if (e == ERR_OK)
            e = buf_append_byte(b, (unsigned char)*s);
    }
    return e == ERR_OK ? buf_append_byte(b, '"') : e;
}

/* Check one batch item as jobdb_create_with_files() would, without the
 * database. Returns ERR_OK or ERR_INVAL. */
static enum err create_item_check(const struct jobdb_create_item *it, struct create_args *a)
{
    char sha[HEX32_LEN];
    size_t i;

    if (it->in->id <= 0 || it->n_files > CREATE_FILES_MAX || create_prepare(it->in, a) != ERR_OK)
        return ERR_INVAL;
    for (i = 0; i < it->n_files; i++)
        if (file_norm(&it->files[i], sha) != ERR_OK || it->files[i].role == JOBDB_FILE_RESULT)
            return ERR_INVAL;
    return ERR_OK;
}

/* Add item <it> (checked, its parameters in <a>) to the arrays <arr>. */
static enum err create_item_add(const struct jobdb_create_item *it, const struct create_args *a,
                                struct buf *arr)
{
    char sha[HEX32_LEN], size[24];
    enum err e = array_put(&arr[0], a->id);
    size_t i, k;

    /* st_create's $1..$13 become $2..$14 here; $15, $16 stay. */
    for (k = 0; e == ERR_OK && k < 13; k++)
        e = array_put(&arr[k + 1], a->params[k]);
    if (e == ERR_OK)
        e = array_put(&arr[14], a->params[14]);
    if (e == ERR_OK)
        e = array_put(&arr[15], a->params[15]);
    for (i = 0; e == ERR_OK && i < it->n_files; i++) {
        const struct jobdb_new_file *f = &it->files[i];
        if (file_norm(f, sha) != ERR_OK)
            return ERR_INVAL; /* create_item_check() passed it: cannot happen */
        fmt_i64(size, f->size_bytes);
        e = array_put(&arr[16], a->id);
        if (e == ERR_OK)
            e = array_put(&arr[17], f->name);
        if (e == ERR_OK)
            e = array_put(&arr[18], role_names[f->role]);
        if (e == ERR_OK)
            e = array_put(&arr[19], sha);
        if (e == ERR_OK)
            e = array_put(&arr[20], size);
        if (e == ERR_OK)
            e = array_put(&arr[21], f->content_type);
    }
    return e;
}

/* Run the checked items of <items> (err still ERR_OK) as one statement.
 * Returns ERR_OK with every such item's row filled, or a failure with no
 * row filled; *written tells whether the statement committed (a failure
 * reading its rows back) or wrote nothing. */
static enum err create_batch_one_statement(struct jobdb *db, struct jobdb_create_item *items,
                                           size_t n, struct create_args *args, int *written)
{
    struct buf arr[CREATE_BATCH_COLS];
    const char *params[CREATE_BATCH_COLS];
    struct db_conn *c = NULL;
    struct db_res *r = NULL;
    size_t i, j, k, filled = 0, expected = 0;
    enum err e = ERR_OK;

    for (k = 0; k < CREATE_BATCH_COLS; k++)
        buf_init(&arr[k], CREATE_BATCH_ARRAY_MAX);
    for (i = 0; e == ERR_OK && i < n; i++) {
        if (items[i].err != ERR_OK)
            continue;
        e = create_item_add(&items[i], &args[i], arr);
        expected++;
    }
    /* An empty array literal is "{}" (jobs without files). */
    for (k = 0; e == ERR_OK && k < CREATE_BATCH_COLS; k++)
        e = arr[k].len == 0 ? buf_append_str(&arr[k], "{}") : buf_append_byte(&arr[k], '}');
    for (k = 0; e == ERR_OK && k < CREATE_BATCH_COLS; k++)
        params[k] = arr[k].data;
    if (e == ERR_OK)
        e = db_checkout(db->pool, &c);
    *written = 0;
    if (e == ERR_OK) {
        e = db_exec_stmt(c, &st_create_batch, params, &r);
        db_checkin(db->pool, c);
        *written = e == ERR_OK;
    }
    /* Rows come back in no promised order: match them by id. */
    for (j = 0; e == ERR_OK && j < db_res_rows(r); j++) {
        int64_t id = parse_i64(db_res_text(r, j, 0));
        for (i = 0; i < n; i++) {
            if (items[i].err == ERR_OK && items[i].in->id == id && items[i].row.id == 0) {
                e = row_to_job(r, j, &items[i].row);
                filled++;
                break;
            }
        }
    }
    if (e == ERR_OK && filled != expected)
        e = ERR_DB; /* rows that match no job sent: cannot happen */
    if (e != ERR_OK)
        for (i = 0; i < n; i++)
            jobdb_job_release(&items[i].row);
    db_res_free(r);
    for (k = 0; k < CREATE_BATCH_COLS; k++)
        buf_release(&arr[k]);
    return e;
}

enum err jobdb_create_batch(struct jobdb *db, struct jobdb_create_item *items, size_t n)
{
    struct create_args *args = NULL;
    size_t i, valid = 0;
    int written = 0, alone;
    enum err e = ERR_OK;

    LOOM_ASSERT(n <= JOBDB_CREATE_BATCH_MAX);
    for (i = 0; i < n; i++) {
        memset(&items[i].row, 0, sizeof items[i].row);
        items[i].err = ERR_OK;
    }
    if (n > 1)
        args = malloc(n * sizeof *args);
    if (n > 1 && !args) {
        for (i = 0; i < n; i++)
            items[i].err = ERR_NOMEM;
        return n ? ERR_NOMEM : ERR_OK;
    }
    for (i = 0; args && i < n; i++) {
        items[i].err = create_item_check(&items[i], &args[i]);
        valid += items[i].err == ERR_OK;
    }
    if (valid > 1) {
        e = create_batch_one_statement(db, items, n, args, &written);
        /* Database down, busy or out of memory: every job would meet the
         * same alone, so each gets this answer. A statement that committed
         * and whose rows could not be read back is not run again. */
        if (written || e == ERR_UNAVAILABLE || e == ERR_TIMEDOUT || e == ERR_NOMEM) {
            for (i = 0; i < n; i++)
                if (items[i].err == ERR_OK)
                    items[i].err = e;
        }
    }
    /* A lone job, or a statement that one job's data broke (a taken id, a
     * duplicate file name, a constraint): the statement wrote nothing, so
     * run each job on its own and let each fail alone. */
    alone = valid <= 1 || (e != ERR_OK && !written && e != ERR_UNAVAILABLE && e != ERR_TIMEDOUT &&
                           e != ERR_NOMEM);
    if (alone) {
        for (i = 0; i < n; i++)
            if (items[i].err == ERR_OK)
                items[i].err = jobdb_create_with_files(db, items[i].in, items[i].files,
                                                       items[i].n_files, &items[i].row);
    }
    free(args);
    e = ERR_OK;
    for (i = 0; i < n && e == ERR_OK; i++)
        e = items[i].err;
    return e;
}

static const struct db_stmt st_files = {
    "jobdb_files",
    "SELECT f.name, f.role, f.sha256, f.size_bytes, f.content_type FROM jobs j"
    " LEFT JOIN job_files f ON f.job_id = j.id WHERE j.id = $1::bigint ORDER BY f.name",
    1};

void jobdb_files_free(struct jobdb_file *files, size_t n)
{
    size_t i;

    for (i = 0; files && i < n; i++) {
        free(files[i].name);
        free(files[i].sha256);
        free(files[i].content_type);
    }
    free(files);
}

/* The rows of st_files in <r> as files of job <id>. */
static enum err files_from_res(const struct db_res *r, int64_t id, struct jobdb_file **files,
                               size_t *n)
{
    struct jobdb_file *fs = NULL;
    size_t rows = 0, i;
    enum err e = ERR_OK;

    *files = NULL;
    *n = 0;
    rows = db_res_rows(r);
    if (rows == 0)
        e = ERR_NOTFOUND;
    else if (!db_res_text(r, 0, 0))
        rows = 0; /* the job exists and has no files */
    if (e == ERR_OK) {
        fs = calloc(rows ? rows : 1, sizeof *fs);
        if (!fs)
            e = ERR_NOMEM;
    }
    for (i = 0; e == ERR_OK && i < rows; i++) {
        int role;
        fs[i].job_id = id;
        e = set_str(&fs[i].name, db_res_text(r, i, 0));
        for (role = 0; role <= JOBDB_FILE_RESULT; role++)
            if (strcmp(db_res_text(r, i, 1), role_names[role]) == 0)
                fs[i].role = (enum jobdb_file_role)role;
        if (e == ERR_OK)
            e = set_str(&fs[i].sha256, db_res_text(r, i, 2));
        fs[i].size_bytes = parse_i64(db_res_text(r, i, 3));
        if (e == ERR_OK)
            e = set_str(&fs[i].content_type, db_res_text(r, i, 4));
    }
    if (e == ERR_OK) {
        *files = fs;
        *n = rows;
    } else {
        jobdb_files_free(fs, rows); /* calloc'd: unset entries are NULL */
    }
    return e;
}

enum err jobdb_list_files(struct jobdb *db, int64_t id, struct jobdb_file **files, size_t *n)
{
    char key[24];
    const char *params[1] = {key};
    struct db_conn *c = NULL;
    struct db_res *r = NULL;
    enum err e;

    *files = NULL;
    *n = 0;
    fmt_i64(key, id);
    e = db_checkout(db->pool, &c);
    if (e != ERR_OK)
        return e;
    e = db_exec_stmt(c, &st_files, params, &r);
    if (e == ERR_OK)
        e = files_from_res(r, id, files, n);
    db_res_free(r);
    db_checkin(db->pool, c);
    return e;
}

/* One statement, so one transaction: drop this address's expired nonces
 * (never the one being presented), then insert; a replay hits the primary
 * key and comes back as ERR_EXISTS. */
static const struct db_stmt st_nonce = {
    "jobdb_nonce",
    "WITH gone AS (DELETE FROM auth_nonces WHERE address = $1 AND nonce <> $2"
    " AND expires_at < now())"
    " INSERT INTO auth_nonces (address, nonce, expires_at) VALUES ($1, $2, "
    "to_timestamp($3::bigint))",
    3};

enum err jobdb_consume_nonce(struct jobdb *db, const char *address, const char *nonce,
                             int64_t expires_unix)
{
    char addr[ADDR_LEN], exp[24];
    const char *params[3] = {addr, nonce, exp};
    struct db_conn *c = NULL;
    size_t i;
    enum err e;

    if (hex_norm(address, 20, addr) != ERR_OK || !text_ok(nonce, 1, 128) || expires_unix <= 0)
        return ERR_INVAL;
    for (i = 0; nonce[i]; i++)
        if (nonce[i] < 0x21 || nonce[i] > 0x7e)
            return ERR_INVAL;
    fmt_i64(exp, expires_unix);
    e = db_checkout(db->pool, &c);
    if (e != ERR_OK)
        return e;
    e = db_exec_stmt(c, &st_nonce, params, NULL);
    db_checkin(db->pool, c);
    return e;
}

/* ---------------------------------------------------------- indexer side */

/* An event in text form, as fold() reads it: from a struct jobdb_event (new
 * events) or from a chain_events row (recomputation). */
struct evt {
    enum jobdb_event_kind kind;
    char tx[HEX32_LEN];
    int64_t time;
    char job_id[HEX32_LEN];
    char client[ADDR_LEN], worker[ADDR_LEN];
    char amount[JOBDB_WEI_DEC_MAX], amount2[JOBDB_WEI_DEC_MAX];
    int64_t usd_cents;
    char spec[HEX32_LEN], result[HEX32_LEN];
    int64_t deadline, expires, max_runtime;
};

static int kind_has(enum jobdb_event_kind k, enum jobdb_event_field f)
{
    const struct jobdb_event_abi *a = jobdb_event_abi(k);
    size_t i;

    for (i = 0; i < a->n_params; i++)
        if (a->params[i].field == f)
            return 1;
    return 0;
}

static void set_tx(struct jobdb_job *j, enum jobdb_transition t, const struct evt *e, enum err *err)
{
    if (*err == ERR_OK)
        *err = set_str(&j->tx[t].tx_hash, e->tx);
    j->tx[t].at_unix = e->time;
}

/*
 * Apply event <e> to job <j> (DESIGN.md "Job lifecycle"). The chain is the
 * authority: every transition it reports is taken, whatever the current
 * status. *flag receives why a funding is not offered (or NULL).
 */
static enum err fold(struct jobdb_job *j, const struct evt *e, const char **flag)
{
    enum err err = ERR_OK;

    *flag = NULL;
    switch (e->kind) {
    case JOBDB_EV_CREATED:
        if (j->tx[JOBDB_TR_FUNDED].tx_hash)
            break; /* the contract refuses a second create of one id */
        if (strcmp(e->client, j->wallet_address) != 0)
            *flag = "wrong_client";
        else if (strcmp(e->spec, j->spec_sha256) != 0)
            *flag = "spec_mismatch";
        else if (e->usd_cents < j->price_usd_cents ||
                 (j->quote_wei && dec_cmp(e->amount, j->quote_wei) < 0))
            *flag = "underfunded";
        err = set_str(&j->escrow_wei, e->amount);
        if (err == ERR_OK)
            err = set_str(&j->funding_flag, *flag);
        j->deadline_unix = e->deadline;
        j->max_runtime_s = e->max_runtime;
        set_tx(j, JOBDB_TR_FUNDED, e, &err);
        if (!*flag && j->status == JOBDB_PENDING)
            j->status = JOBDB_OPEN;
        break;
    case JOBDB_EV_CLAIMED:
        j->status = JOBDB_WORKING;
        err = set_str(&j->worker_address, e->worker);
        j->claim_expires_unix = e->expires;
        j->progress = 0;
        set_tx(j, JOBDB_TR_CLAIMED, e, &err);
        break;
    case JOBDB_EV_SUBMITTED:
        j->status = JOBDB_SUBMITTED;
        err = set_str(&j->worker_address, e->worker);
        if (err == ERR_OK)
            err = set_str(&j->result_sha256, e->result);
        j->challenge_ends_unix = e->expires;
        set_tx(j, JOBDB_TR_SUBMITTED, e, &err);
        break;
    case JOBDB_EV_RELEASED:
        j->status = JOBDB_COMPLETED;
        set_tx(j, JOBDB_TR_RELEASED, e, &err);
        break;
    case JOBDB_EV_DISPUTED:
        j->status = JOBDB_DISPUTED;
        set_tx(j, JOBDB_TR_DISPUTED, e, &err);
        break;
    case JOBDB_EV_RESOLVED:
        /* The arbiter's split: any wei to the worker counts as completed
         * work; all of it back to the client is a refund (DESIGN.md). */
        j->status = dec_is_zero(e->amount) ? JOBDB_REFUNDED : JOBDB_COMPLETED;
        set_tx(j, JOBDB_TR_RESOLVED, e, &err);
        break;
    case JOBDB_EV_REOPENED:
        /* A flagged funding stays unoffered after a lapsed claim too. */
        j->status = j->funding_flag ? JOBDB_PENDING : JOBDB_OPEN;
        err = set_str(&j->worker_address, NULL);
        j->claim_expires_unix = 0;
        j->progress = 0;
        set_tx(j, JOBDB_TR_REOPENED, e, &err);
        break;
    case JOBDB_EV_REFUNDED:
        j->status = JOBDB_REFUNDED;
        set_tx(j, JOBDB_TR_REFUNDED, e, &err);
        break;
    case JOBDB_EV_WITHDRAWN:
    case JOBDB_EV__COUNT:
        break;
    }
    return err;
}

/* Clear everything fold() derives, back to a freshly created job. */
static void reset_derived(struct jobdb_job *j)
{
    int t;

    j->status = JOBDB_PENDING;
    j->progress = 0;
    free(j->worker_address), j->worker_address = NULL;
    free(j->escrow_wei), j->escrow_wei = NULL;
    free(j->result_sha256), j->result_sha256 = NULL;
    free(j->funding_flag), j->funding_flag = NULL;
    j->deadline_unix = j->claim_expires_unix = j->challenge_ends_unix = 0;
    j->max_runtime_s = 0;
    for (t = 0; t < JOBDB_TR__COUNT; t++) {
        free(j->tx[t].tx_hash);
        j->tx[t].tx_hash = NULL;
        j->tx[t].at_unix = 0;
    }
}

/* Every job of a set of chain ids ($1, a text array), locked in chain-id
 * order (LockRows runs above the Sort). */
static const struct db_stmt st_job_lock = {"jobdb_job_lock_many",
                                           "SELECT " JOB_COLS " FROM jobs"
                                           " WHERE chain_job_id = ANY($1::text[])"
                                           " ORDER BY chain_job_id FOR UPDATE",
                                           1};

/*
 * The batch-apply statements below take one PostgreSQL array per column
 * and unnest() them, so a batch of 5,000 events costs a handful of
 * statements instead of several per event: with one statement per row
 * (pipelined), PostgreSQL's per-statement work (bind, plan, executor
 * start-up) was most of the catch-up time (docs/indexer.md, Benchmarks).
 * Append <s> to the array literal in <b> as one element: NULL for a NULL
 * pointer, else quoted, '"' and '\' escaped by a backslash (PostgreSQL
 * "Array Value Input"); a ',' before it unless it is the first.
 */
static enum err col_add(struct buf *b, const char *s, int first)
{
    enum err e = first ? ERR_OK : buf_append_byte(b, ',');

    if (e == ERR_OK && s == NULL)
        return buf_append_str(b, "NULL");
    if (e == ERR_OK)
        e = buf_append_byte(b, '"');
    /* Runs without a '"' or '\\' go in with one append each: the values
     * here are hex, decimal and names, so a whole value is usually one run
     * (a column of a 5,000-event batch is some 350 KB). */
    while (e == ERR_OK && *s) {
        size_t run = strcspn(s, "\"\\");
        if (run > 0)
            e = buf_append(b, s, run);
        s += run;
        if (e == ERR_OK && *s) {
            e = buf_append_byte(b, '\\');
            if (e == ERR_OK)
                e = buf_append_byte(b, (unsigned char)*s);
            s++;
        }
    }
    return e == ERR_OK ? buf_append_byte(b, '"') : e;
}

/* Column-wise arrays of a row-major table of text parameters:
 * <params> holds n_rows x n_cols pointers (NULL: SQL NULL); <cols>
 * (n_cols initialised bufs) receives one array literal per column and
 * <out> (n_cols pointers) their strings, borrowed from <cols>. */
static enum err columns_of(const char *const *params, size_t n_rows, size_t n_cols,
                           struct buf *cols, const char **out)
{
    enum err e = ERR_OK;
    size_t r, k;

    for (k = 0; k < n_cols && e == ERR_OK; k++) {
        buf_reset(&cols[k]);
        e = buf_append_byte(&cols[k], '{');
        for (r = 0; r < n_rows && e == ERR_OK; r++)
            e = col_add(&cols[k], params[r * n_cols + k], r == 0);
        if (e == ERR_OK)
            e = buf_append_byte(&cols[k], '}');
        out[k] = buf_cstr(&cols[k]);
    }
    return e;
}

/* <n> bufs for columns_of(); 64 MiB each (a column of 5,000 events is
 * about 350 KB). */
static struct buf *cols_new(size_t n)
{
    struct buf *b = calloc(n, sizeof *b);
    size_t k;

    for (k = 0; b && k < n; k++)
        buf_init(&b[k], (size_t)64 << 20);
    return b;
}

static void cols_free(struct buf *b, size_t n)
{
    size_t k;

    for (k = 0; b && k < n; k++)
        buf_release(&b[k]);
    free(b);
}

/* Parameters of st_job_store. */
#define STORE_PARAMS 27

/* Writes back every job of a batch: $1..$27 are arrays, one element per
 * job, in store_params()'s order. */
static const struct db_stmt st_job_store = {
    "jobdb_job_store_many",
    "UPDATE jobs SET status = u.st, progress = u.pr, worker_address = u.wk,"
    " escrow_wei = u.esc, result_sha256 = u.res, deadline_at = to_timestamp(u.dl),"
    " claim_expires_at = to_timestamp(u.ce), challenge_ends_at = to_timestamp(u.ch),"
    " funded_tx = u.t1, funded_at = to_timestamp(u.a1),"
    " claimed_tx = u.t2, claimed_at = to_timestamp(u.a2),"
    " submitted_tx = u.t3, submitted_at = to_timestamp(u.a3),"
    " released_tx = u.t4, released_at = to_timestamp(u.a4),"
    " disputed_tx = u.t5, disputed_at = to_timestamp(u.a5),"
    " resolved_tx = u.t6, resolved_at = to_timestamp(u.a6),"
    " reopened_tx = u.t7, reopened_at = to_timestamp(u.a7),"
    " refunded_tx = u.t8, refunded_at = to_timestamp(u.a8), funding_flag = u.fl,"
    " max_runtime_s = u.rt"
    " FROM unnest($1::bigint[], $2::text[], $3::smallint[], $4::text[], $5::numeric[],"
    " $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::text[], $11::bigint[],"
    " $12::text[], $13::bigint[], $14::text[], $15::bigint[], $16::text[], $17::bigint[],"
    " $18::text[], $19::bigint[], $20::text[], $21::bigint[], $22::text[], $23::bigint[],"
    " $24::text[], $25::bigint[], $26::text[], $27::bigint[])"
    " AS u(id, st, pr, wk, esc, res, dl, ce, ch, t1, a1, t2, a2, t3, a3, t4, a4, t5, a5, t6, a6,"
    " t7, a7, t8, a8, fl, rt)"
    " WHERE jobs.id = u.id",
    STORE_PARAMS};

/* Text parameters of st_job_store for one job. */
struct store_params {
    char id[24], progress[24], runtime[24], times[3 + JOBDB_TR__COUNT][24];
};

static void store_params(const struct jobdb_job *j, struct store_params *sp, const char **params)
{
    int t;

    fmt_i64(sp->id, j->id);
    fmt_i64(sp->progress, j->progress);
    params[0] = sp->id;
    params[1] = status_names[j->status];
    params[2] = sp->progress;
    params[3] = j->worker_address;
    params[4] = j->escrow_wei;
    params[5] = j->result_sha256;
    fmt_i64(sp->times[0], j->deadline_unix);
    fmt_i64(sp->times[1], j->claim_expires_unix);
    fmt_i64(sp->times[2], j->challenge_ends_unix);
    params[6] = j->deadline_unix ? sp->times[0] : NULL;
    params[7] = j->claim_expires_unix ? sp->times[1] : NULL;
    params[8] = j->challenge_ends_unix ? sp->times[2] : NULL;
    for (t = 0; t < JOBDB_TR__COUNT; t++) {
        fmt_i64(sp->times[3 + t], j->tx[t].at_unix);
        params[9 + 2 * t] = j->tx[t].tx_hash;
        params[10 + 2 * t] = j->tx[t].tx_hash ? sp->times[3 + t] : NULL;
    }
    params[25] = j->funding_flag;
    fmt_i64(sp->runtime, j->max_runtime_s);
    params[26] = j->max_runtime_s ? sp->runtime : NULL;
}

/* Jobs touched by one batch or rollback: collected by chain id, then
 * loaded and locked together, folded in memory, written back together. */
struct touched {
    char chain_id[HEX32_LEN];
    int found; /* a job row has this chain id */
    struct jobdb_job job;
    enum jobdb_status before;
    int before_progress;
    char *before_worker;
};

struct touched_set {
    struct touched *items;
    size_t n, cap;
};

static void touched_release(struct touched_set *s)
{
    size_t i;

    for (i = 0; i < s->n; i++) {
        jobdb_job_release(&s->items[i].job);
        free(s->items[i].before_worker);
    }
    free(s->items);
    memset(s, 0, sizeof *s);
}

static enum err touch_add(struct touched_set *s, const char *chain_id)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        struct touched *ni = realloc(s->items, cap * sizeof *ni);
        if (!ni)
            return ERR_NOMEM;
        s->items = ni;
        s->cap = cap;
    }
    memset(&s->items[s->n], 0, sizeof s->items[s->n]);
    snprintf(s->items[s->n].chain_id, HEX32_LEN, "%s", chain_id);
    s->n++;
    return ERR_OK;
}

static int touched_cmp(const void *a, const void *b)
{
    return strcmp(((const struct touched *)a)->chain_id, ((const struct touched *)b)->chain_id);
}

/* The entry for <chain_id> (after touch_load()), NULL if never added. */
static struct touched *touch_find(struct touched_set *s, const char *chain_id)
{
    struct touched key;

    snprintf(key.chain_id, sizeof key.chain_id, "%s", chain_id);
    return bsearch(&key, s->items, s->n, sizeof *s->items, touched_cmp);
}

/*
 * Sort and merge the set, then load every job of it with FOR UPDATE in one
 * pipelined round trip. Rows are locked in chain-id order; REST writers lock
 * one row each and appliers take st_chain_lock first, so nothing deadlocks.
 */
static enum err touch_load(struct db_conn *c, struct touched_set *s)
{
    struct db_res *res = NULL;
    const char **params = NULL, *arr = NULL;
    struct buf col;
    size_t i, k = 0, rows;
    enum err e = ERR_OK;

    if (s->n == 0)
        return ERR_OK;
    qsort(s->items, s->n, sizeof *s->items, touched_cmp);
    for (i = 1; i < s->n; i++)
        if (strcmp(s->items[i].chain_id, s->items[k].chain_id) != 0)
            s->items[++k] = s->items[i]; /* nothing loaded yet: plain copies */
    s->n = k + 1;
    buf_init(&col, (size_t)64 << 20);
    params = calloc(s->n, sizeof *params);
    if (!params) {
        e = ERR_NOMEM;
        goto out;
    }
    for (i = 0; i < s->n; i++)
        params[i] = s->items[i].chain_id;
    e = columns_of(params, s->n, 1, &col, &arr);
    if (e == ERR_OK)
        e = db_exec_stmt(c, &st_job_lock, &arr, &res);
    rows = e == ERR_OK ? db_res_rows(res) : 0;
    for (i = 0; e == ERR_OK && i < rows; i++) {
        struct touched *t = touch_find(s, db_res_text(res, i, 14)); /* chain_job_id */
        if (t == NULL || t->found)
            continue; /* cannot happen: chain_job_id is UNIQUE and was asked for */
        e = row_to_job(res, i, &t->job);
        if (e != ERR_OK)
            break;
        t->found = 1;
        t->before = t->job.status;
        t->before_progress = t->job.progress;
        e = set_str(&t->before_worker, t->job.worker_address);
    }
out:
    db_res_free(res);
    buf_release(&col);
    free((void *)params);
    return e;
}

static int change_cmp(const void *a, const void *b)
{
    const struct jobdb_change *x = a, *y = b;

    return (x->job_id > y->job_id) - (x->job_id < y->job_id);
}

/* Write back every loaded job (pipelined) and list those whose status
 * changed, by job id. */
static enum err finish_touched(struct db_conn *c, struct touched_set *s, struct jobdb_changes *out)
{
    struct store_params *sp = calloc(s->n ? s->n : 1, sizeof *sp);
    const char **params = calloc(s->n ? s->n * STORE_PARAMS : 1, sizeof *params);
    const char *arrs[STORE_PARAMS];
    struct buf *cols = cols_new(STORE_PARAMS);
    size_t i, n = 0;
    enum err e = ERR_OK;

    out->items = calloc(s->n ? s->n : 1, sizeof *out->items);
    if (!sp || !params || !cols || !out->items) {
        e = ERR_NOMEM;
        goto out;
    }
    for (i = 0; i < s->n; i++)
        if (s->items[i].found)
            store_params(&s->items[i].job, &sp[n], params + STORE_PARAMS * n), n++;
    if (n > 0)
        e = columns_of(params, n, STORE_PARAMS, cols, arrs);
    if (n > 0 && e == ERR_OK)
        e = db_exec_stmt(c, &st_job_store, arrs, NULL);
    for (i = 0, n = 0; e == ERR_OK && i < s->n; i++) {
        struct touched *t = &s->items[i];
        if (!t->found || t->job.status == t->before)
            continue;
        out->items[n].job_id = t->job.id;
        out->items[n].type = t->job.type;
        out->items[n].from = t->before;
        out->items[n].to = t->job.status;
        out->items[n].job = t->job; /* moved: the row as written above */
        memset(&t->job, 0, sizeof t->job);
        n++;
    }
    out->n = n;
    qsort(out->items, out->n, sizeof *out->items, change_cmp);
out:
    cols_free(cols, STORE_PARAMS);
    free(sp);
    free((void *)params);
    return e;
}

void jobdb_changes_release(struct jobdb_changes *c)
{
    size_t i;

    if (!c)
        return;
    for (i = 0; c->items && i < c->n; i++)
        jobdb_job_release(&c->items[i].job);
    free(c->items);
    memset(c, 0, sizeof *c);
}

/* Serialises batch appliers and rollbacks per schema for the transaction
 * ('LOON'); the checkpoint row alone cannot be locked before it exists. */
static const struct db_stmt st_chain_lock = {
    "jobdb_chain_lock", "SELECT pg_advisory_xact_lock(1280266062, hashtext(current_schema()))", 0};
static const struct db_stmt st_cp_get = {
    "jobdb_cp_get", "SELECT block_number, block_hash FROM chain_checkpoint", 0};
static const struct db_stmt st_cp_set = {
    "jobdb_cp_set",
    "INSERT INTO chain_checkpoint (one, block_number, block_hash) VALUES (true, $1::bigint, $2)"
    " ON CONFLICT (one) DO UPDATE SET block_number = EXCLUDED.block_number,"
    " block_hash = EXCLUDED.block_hash, updated_at = now()",
    2};
static const struct db_stmt st_block_get = {
    "jobdb_block_get", "SELECT hash FROM chain_blocks WHERE number = $1::bigint", 1};
/* The batch's blocks: $1..$3 arrays of numbers, hashes, parent hashes
 * (numbers ascending and distinct: check_batch()). */
static const struct db_stmt st_block_put = {
    "jobdb_block_put_many",
    "INSERT INTO chain_blocks (number, hash, parent_hash)"
    " SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])"
    " ON CONFLICT (number) DO UPDATE SET hash = EXCLUDED.hash, parent_hash = EXCLUDED.parent_hash",
    3};
static const struct db_stmt st_block_keep = {"jobdb_block_keep",
                                             "INSERT INTO chain_blocks (number, hash) VALUES "
                                             "($1::bigint, $2) ON CONFLICT (number) DO NOTHING",
                                             2};
static const struct db_stmt st_block_prune = {
    "jobdb_block_prune", "DELETE FROM chain_blocks WHERE number < $1::bigint", 1};
/* Columns of sql_event_copy: event_params()'s 22, then the flag. */
#define EVENT_COLS 23
/* Records a batch's new events, one row each in event_params()'s order,
 * then the flag (NULL when offered), with COPY (db_copy_in): PostgreSQL's
 * bulk path fills heap pages many rows at a time, with no array literal to
 * parse per column, and took 25-50% less time than the INSERT over
 * unnest() it replaced (docs/indexer.md, "Session of 2026-11-30
 * (evening)"). Only events that st_event_held did not find are sent, under
 * st_chain_lock, so none can conflict; should one all the same (a bug),
 * the primary key refuses it (ERR_EXISTS) and the whole batch rolls back:
 * nothing is stored twice. */
static const char sql_event_copy[] =
    "COPY chain_events (block_number, block_hash, log_index, tx_hash,"
    " block_time, kind, chain_job_id, client, worker, account, to_address, ref, amount_wei,"
    " amount2_wei, price_usd_cents, spec_hash, result_hash, deadline_at, expires_at,"
    " max_runtime_s, window_s, by_client, flag) FROM STDIN";

/* Events already held in the blocks $3 (an array of block hashes) between
 * block numbers $1 and $2: a range of the primary key's leading column
 * (migration 4), the hashes filtered in it. */
static const struct db_stmt st_event_held = {
    "jobdb_event_held",
    "SELECT block_number, log_index, block_hash FROM chain_events"
    " WHERE block_number BETWEEN $1::bigint AND $2::bigint AND block_hash = ANY($3::text[])",
    3};

struct cp {
    int present;
    uint64_t number;
    char hash[HEX32_LEN];
};

static enum err read_cp(struct db_conn *c, struct cp *cp)
{
    struct db_res *r = NULL;
    enum err e;

    memset(cp, 0, sizeof *cp);
    e = db_exec_stmt(c, &st_cp_get, NULL, &r);
    if (e == ERR_OK && db_res_rows(r) == 1) {
        cp->present = 1;
        cp->number = strtoull(db_res_text(r, 0, 0), NULL, 10);
        snprintf(cp->hash, sizeof cp->hash, "%s", db_res_text(r, 0, 1));
    }
    db_res_free(r);
    return e;
}

/* <cp> (present) as the public struct: ERR_OK, or ERR_DB for a stored hash
 * that is not 32 bytes of hex (the schema's check makes that impossible). */
static enum err cp_export(const struct cp *cp, struct jobdb_checkpoint *out)
{
    out->block_number = cp->number;
    return hex_parse(cp->hash, out->block_hash, 32) == ERR_OK ? ERR_OK : ERR_DB;
}

static enum err set_cp(struct db_conn *c, uint64_t number, const char *hash)
{
    char num[24];
    const char *params[2] = {num, hash};

    snprintf(num, sizeof num, "%" PRIu64, number);
    return db_exec_stmt(c, &st_cp_set, params, NULL);
}

/* Stored hash of block <number> into <hash>; *found = 0 when not kept. */
static enum err stored_block(struct db_conn *c, uint64_t number, char hash[HEX32_LEN], int *found)
{
    char num[24];
    const char *params[1] = {num};
    struct db_res *r = NULL;
    enum err e;

    *found = 0;
    snprintf(num, sizeof num, "%" PRIu64, number);
    e = db_exec_stmt(c, &st_block_get, params, &r);
    if (e == ERR_OK && db_res_rows(r) == 1) {
        *found = 1;
        snprintf(hash, HEX32_LEN, "%s", db_res_text(r, 0, 0));
    }
    db_res_free(r);
    return e;
}

static const struct jobdb_block *batch_block(const struct jobdb_batch *b, uint64_t number)
{
    size_t i;

    for (i = 0; i < b->n_blocks; i++)
        if (b->blocks[i].number == number)
            return &b->blocks[i];
    return NULL;
}

/* The latest event time accepted, 9999-12-31 23:59:59 UTC: every time
 * from 1970 to it has a plain ISO 8601 form that timestamptz reads back as
 * that exact second (event times are uint32 on chain, up to 2106). */
#define EVENT_TIME_MAX_UNIX INT64_C(253402300799)

static enum err check_batch(const struct jobdb_batch *b)
{
    size_t i;

    if (b->from_block > b->to_block || b->to_block > INT64_MAX || !batch_block(b, b->to_block))
        return ERR_INVAL;
    for (i = 0; i < b->n_blocks; i++) {
        const struct jobdb_block *k = &b->blocks[i];
        if (k->number < b->from_block || k->number > b->to_block)
            return ERR_INVAL;
        if (i > 0 && k->number <= b->blocks[i - 1].number)
            return ERR_INVAL;
        if (i > 0 && k->number == b->blocks[i - 1].number + 1 && !is_zero(k->parent_hash, 32) &&
            memcmp(k->parent_hash, b->blocks[i - 1].hash, 32) != 0)
            return ERR_INVAL;
    }
    for (i = 0; i < b->n_events; i++) {
        const struct jobdb_event *ev = &b->events[i];
        const struct jobdb_block *k = batch_block(b, ev->block_number);
        if ((unsigned)ev->kind >= JOBDB_EV__COUNT || ev->block_number < b->from_block ||
            ev->block_number > b->to_block || ev->block_time_unix <= 0 ||
            ev->block_time_unix > EVENT_TIME_MAX_UNIX ||
            (kind_has(ev->kind, JOBDB_F_DEADLINE) &&
             (ev->deadline_unix < 0 || ev->deadline_unix > EVENT_TIME_MAX_UNIX)) ||
            (kind_has(ev->kind, JOBDB_F_EXPIRES) &&
             (ev->expires_unix < 0 || ev->expires_unix > EVENT_TIME_MAX_UNIX)) ||
            (k && memcmp(k->hash, ev->block_hash, 32) != 0))
            return ERR_INVAL;
        if (i > 0 && (ev->block_number < b->events[i - 1].block_number ||
                      (ev->block_number == b->events[i - 1].block_number &&
                       ev->log_index <= b->events[i - 1].log_index)))
            return ERR_INVAL;
        if ((kind_has(ev->kind, JOBDB_F_AMOUNT_WEI) && !dec_ok(ev->amount_wei)) ||
            (kind_has(ev->kind, JOBDB_F_AMOUNT2_WEI) && !dec_ok(ev->amount2_wei)) ||
            ev->price_usd_cents > INT64_MAX)
            return ERR_INVAL;
    }
    return ERR_OK;
}

/* Text form of a new event, and the 22 values of its sql_event_copy row. */
static void event_text(const struct jobdb_event *ev, struct evt *t)
{
    memset(t, 0, sizeof *t);
    t->kind = ev->kind;
    hex_of(ev->tx_hash, 32, t->tx);
    t->time = ev->block_time_unix;
    hex_of(ev->job_id, 32, t->job_id);
    hex_of(ev->client, 20, t->client);
    hex_of(ev->worker, 20, t->worker);
    snprintf(t->amount, sizeof t->amount, "%s", ev->amount_wei);
    snprintf(t->amount2, sizeof t->amount2, "%s", ev->amount2_wei);
    t->usd_cents = (int64_t)ev->price_usd_cents;
    hex_of(ev->spec_hash, 32, t->spec);
    hex_of(ev->result_hash, 32, t->result);
    t->deadline = ev->deadline_unix;
    t->max_runtime = ev->max_runtime_s;
    t->expires = ev->expires_unix;
}

/* Room for fmt_utc()'s text: 25 bytes in range, 75 for any struct tm. */
#define UTC_LEN 76

/* <unix> (0..EVENT_TIME_MAX_UNIX, check_batch(): only times an event's
 * kind carries are formatted) as a timestamptz literal in UTC,
 * "YYYY-MM-DD HH:MM:SS+00". */
static void fmt_utc(char out[UTC_LEN], int64_t unix_s)
{
    time_t t = (time_t)unix_s;
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL) /* cannot happen in range */
        memset(&tm, 0, sizeof tm);
    snprintf(out, UTC_LEN, "%04d-%02d-%02d %02d:%02d:%02d+00", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

struct event_params {
    char num[24], bhash[HEX32_LEN], logi[24], time[UTC_LEN], account[ADDR_LEN], to[ADDR_LEN];
    char ref[HEX32_LEN], cents[24], deadline[UTC_LEN], expires[UTC_LEN], runtime[24], window[24];
    const char *p[22];
};

static void event_params(const struct jobdb_event *ev, const struct evt *t, struct event_params *ep)
{
    enum jobdb_event_kind k = ev->kind;
#define HAS(f) kind_has(k, JOBDB_F_##f)
    snprintf(ep->num, sizeof ep->num, "%" PRIu64, ev->block_number);
    hex_of(ev->block_hash, 32, ep->bhash);
    snprintf(ep->logi, sizeof ep->logi, "%" PRIu32, ev->log_index);
    fmt_utc(ep->time, ev->block_time_unix);
    hex_of(ev->account, 20, ep->account);
    hex_of(ev->to, 20, ep->to);
    hex_of(ev->ref, 32, ep->ref);
    fmt_i64(ep->cents, t->usd_cents);
    if (HAS(DEADLINE))
        fmt_utc(ep->deadline, ev->deadline_unix);
    if (HAS(EXPIRES))
        fmt_utc(ep->expires, ev->expires_unix);
    snprintf(ep->runtime, sizeof ep->runtime, "%" PRIu32, ev->max_runtime_s);
    snprintf(ep->window, sizeof ep->window, "%" PRIu32, ev->window_s);
    ep->p[0] = ep->num;
    ep->p[1] = ep->bhash;
    ep->p[2] = ep->logi;
    ep->p[3] = t->tx;
    ep->p[4] = ep->time;
    ep->p[5] = jobdb_event_abi(k)->name;
    ep->p[6] = HAS(JOB_ID) ? t->job_id : NULL;
    ep->p[7] = HAS(CLIENT) ? t->client : NULL;
    ep->p[8] = HAS(WORKER) ? t->worker : NULL;
    ep->p[9] = HAS(ACCOUNT) ? ep->account : NULL;
    ep->p[10] = HAS(TO) ? ep->to : NULL;
    ep->p[11] = HAS(REF) ? ep->ref : NULL;
    ep->p[12] = HAS(AMOUNT_WEI) ? t->amount : NULL;
    ep->p[13] = HAS(AMOUNT2_WEI) ? t->amount2 : NULL;
    ep->p[14] = HAS(USD_CENTS) ? ep->cents : NULL;
    ep->p[15] = HAS(SPEC_HASH) ? t->spec : NULL;
    ep->p[16] = HAS(RESULT_HASH) ? t->result : NULL;
    ep->p[17] = HAS(DEADLINE) ? ep->deadline : NULL;
    ep->p[18] = HAS(EXPIRES) ? ep->expires : NULL;
    ep->p[19] = HAS(MAX_RUNTIME) ? ep->runtime : NULL;
    ep->p[20] = HAS(WINDOW) ? ep->window : NULL;
    ep->p[21] = HAS(BY_CLIENT) ? (ev->by_client ? "true" : "false") : NULL;
#undef HAS
}

static void hex32_of(const uint8_t b[32], char out[HEX32_LEN])
{
    hex_of(b, 32, out);
}

/* Columns of st_block_put: number, hash, parent hash. */
#define BLOCK_COLS 3

/* Per-block parameters of st_block_put. */
struct block_params {
    char num[24], hash[HEX32_LEN], parent[HEX32_LEN];
};

/* Everything one batch allocates, freed together. */
struct apply_ctx {
    struct evt *texts;
    struct event_params *eps;
    struct db_res *res;    /* st_event_held's: events already held */
    unsigned char *is_new; /* n_events: 1 when new */
    const char **flags;    /* n_events: block hashes, then each event's flag */
    struct block_params *bps;
    const char **bparams; /* n_blocks * 3 */
    struct buf *cols;     /* BLOCK_COLS column arrays, reused by each statement */
    const char *arrs[BLOCK_COLS];
    struct buf rows; /* the new events, sql_event_copy's rows */
    const char *row[EVENT_COLS];
};

static void apply_ctx_release(struct apply_ctx *a)
{
    db_res_free(a->res);
    cols_free(a->cols, BLOCK_COLS);
    buf_release(&a->rows);
    free(a->texts), free(a->eps), free(a->is_new);
    free((void *)a->flags), free(a->bps), free((void *)a->bparams);
}

/* Position of the event at (<number>, <log_index>) in <b> (sorted by both:
 * check_batch()), or -1. */
static long event_at(const struct jobdb_batch *b, uint64_t number, uint32_t log_index)
{
    size_t lo = 0, hi = b->n_events;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct jobdb_event *ev = &b->events[mid];
        if (ev->block_number < number || (ev->block_number == number && ev->log_index < log_index))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < b->n_events && b->events[lo].block_number == number &&
        b->events[lo].log_index == log_index)
        return (long)lo;
    return -1;
}

/* Record the batch's new events, folded into their jobs in chain order and
 * flagged when not offered, and store the block hashes. Which events are
 * new is asked first (by the batch's blocks), so each new event is
 * written once, with its flag, by one COPY: no per-event statement, and
 * no join or UPDATE whose plan depends on how
 * fresh the table's statistics are (a fast-growing chain_events made
 * such plans quadratic during catch-up). The chain lock (st_chain_lock)
 * keeps another applier from adding events in between. */
static enum err apply_events(struct db_conn *c, const struct jobdb_batch *b,
                             struct touched_set *set, struct jobdb_changes *out)
{
    struct apply_ctx a = {0};
    size_t n = b->n_events, nb = b->n_blocks, i, k, nn = 0, nh = 0;
    enum err e = ERR_OK;

    a.texts = calloc(n ? n : 1, sizeof *a.texts);
    a.eps = calloc(n ? n : 1, sizeof *a.eps);
    a.is_new = calloc(n ? n : 1, sizeof *a.is_new);
    a.flags = calloc(n ? n : 1, sizeof *a.flags);
    a.bps = calloc(nb ? nb : 1, sizeof *a.bps);
    a.bparams = calloc(nb ? nb * 3 : 1, sizeof *a.bparams);
    a.cols = cols_new(BLOCK_COLS);
    buf_init(&a.rows, (size_t)64 << 20); /* 5,000 events are some 3 MB */
    if (!a.texts || !a.eps || !a.is_new || !a.flags || !a.bps || !a.bparams || !a.cols) {
        e = ERR_NOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) {
        event_text(&b->events[i], &a.texts[i]);
        event_params(&b->events[i], &a.texts[i], &a.eps[i]);
        a.is_new[i] = 1;
    }
    /* Which are already held: by the distinct block hashes (events come
     * block by block, so equal hashes are adjacent). */
    for (i = 0; i < n; i++)
        if (i == 0 || strcmp(a.eps[i].bhash, a.eps[i - 1].bhash) != 0)
            a.flags[nh++] = a.eps[i].bhash;
    if (nh > 0) {
        char lo[24], hi[24];
        const char *held[3] = {lo, hi, NULL};
        fmt_i64(lo, (int64_t)b->from_block); /* check_batch(): at most INT64_MAX */
        fmt_i64(hi, (int64_t)b->to_block);
        e = columns_of(a.flags, nh, 1, a.cols, &held[2]);
        if (e == ERR_OK)
            e = db_exec_stmt(c, &st_event_held, held, &a.res);
        for (i = 0; e == ERR_OK && i < db_res_rows(a.res); i++) {
            long at = event_at(b, (uint64_t)parse_i64(db_res_text(a.res, i, 0)),
                               (uint32_t)parse_i64(db_res_text(a.res, i, 1)));
            if (at >= 0 && strcmp(a.eps[at].bhash, db_res_text(a.res, i, 2)) == 0)
                a.is_new[at] = 0;
        }
    }
    for (i = 0; e == ERR_OK && i < n; i++) {
        a.flags[i] = NULL;
        if (!a.is_new[i]) {
            out->n_duplicate++;
            continue;
        }
        out->n_applied++;
        if (kind_has(b->events[i].kind, JOBDB_F_JOB_ID))
            e = touch_add(set, a.texts[i].job_id);
    }
    if (e == ERR_OK)
        e = touch_load(c, set);
    for (i = 0; e == ERR_OK && i < n; i++) {
        struct touched *t;
        const char *flag = NULL;
        if (!a.is_new[i] || !kind_has(b->events[i].kind, JOBDB_F_JOB_ID))
            continue;
        t = touch_find(set, a.texts[i].job_id);
        if (!t->found)
            flag = "unknown_job";
        else
            e = fold(&t->job, &a.texts[i], &flag);
        if (e == ERR_OK && flag) {
            out->n_flagged++;
            a.flags[i] = flag;
        }
    }
    /* The new events' rows, flag last. */
    for (i = 0; e == ERR_OK && i < n; i++) {
        if (!a.is_new[i])
            continue;
        for (k = 0; k < 22; k++)
            a.row[k] = a.eps[i].p[k];
        a.row[22] = a.flags[i];
        e = db_copy_row(&a.rows, a.row, EVENT_COLS);
        nn++;
    }
    if (e == ERR_OK && nn > 0)
        e = db_copy_in(c, sql_event_copy, buf_cstr(&a.rows), a.rows.len);
    for (i = 0; e == ERR_OK && i < nb; i++) {
        snprintf(a.bps[i].num, sizeof a.bps[i].num, "%" PRIu64, b->blocks[i].number);
        hex32_of(b->blocks[i].hash, a.bps[i].hash);
        hex32_of(b->blocks[i].parent_hash, a.bps[i].parent);
        a.bparams[3 * i] = a.bps[i].num;
        a.bparams[3 * i + 1] = a.bps[i].hash;
        a.bparams[3 * i + 2] = is_zero(b->blocks[i].parent_hash, 32) ? NULL : a.bps[i].parent;
    }
    if (e == ERR_OK && nb > 0)
        e = columns_of(a.bparams, nb, 3, a.cols, a.arrs);
    if (e == ERR_OK && nb > 0)
        e = db_exec_stmt(c, &st_block_put, a.arrs, NULL);
out:
    apply_ctx_release(&a);
    return e;
}

enum err jobdb_apply_batch(struct jobdb *db, const struct jobdb_batch *b, struct jobdb_changes *out)
{
    const struct jobdb_block *last, *next;
    struct touched_set set = {0};
    struct db_conn *c = NULL;
    char hash[HEX32_LEN], parent[HEX32_LEN], num[24], stored[HEX32_LEN];
    struct cp cp;
    int found;
    enum err e;

    memset(out, 0, sizeof *out);
    e = check_batch(b);
    if (e != ERR_OK)
        return e;
    last = batch_block(b, b->to_block);
    e = db_checkout(db->pool, &c);
    if (e != ERR_OK)
        return e;
    e = db_begin(c);
    if (e == ERR_OK)
        e = db_exec_stmt(c, &st_chain_lock, NULL, NULL);
    if (e == ERR_OK)
        e = read_cp(c, &cp);
    if (e != ERR_OK)
        goto fail;
    if (cp.present && b->to_block <= cp.number) {
        /* A replay (the indexer crashed after our commit, before its ack):
         * accept it if it describes the chain we already hold. */
        hex32_of(last->hash, hash);
        e = stored_block(c, b->to_block, stored, &found);
        if (e == ERR_OK && !(found && strcmp(stored, hash) == 0) &&
            !(b->to_block == cp.number && strcmp(cp.hash, hash) == 0))
            e = ERR_STATE;
        if (e == ERR_OK)
            e = db_commit(c);
        if (e != ERR_OK)
            goto fail;
        out->items = calloc(1, sizeof *out->items);
        out->n_duplicate = b->n_events;
        db_checkin(db->pool, c);
        if (cp_export(&cp, &out->checkpoint) != ERR_OK)
            return jobdb_changes_release(out), ERR_DB;
        return out->items ? ERR_OK : ERR_NOMEM;
    }
    if (cp.present) {
        if (b->from_block > cp.number + 1) {
            e = ERR_STATE; /* a gap: blocks in between were never applied */
            goto fail;
        }
        /* The chain must continue from the checkpoint: the block after it
         * names it as parent, and an overlapping checkpoint block agrees. */
        next = batch_block(b, cp.number + 1);
        if (next && !is_zero(next->parent_hash, 32)) {
            hex32_of(next->parent_hash, parent);
            if (strcmp(parent, cp.hash) != 0)
                e = ERR_STATE;
        }
        next = batch_block(b, cp.number);
        if (next) {
            hex32_of(next->hash, hash);
            if (strcmp(hash, cp.hash) != 0)
                e = ERR_STATE;
        }
        if (e != ERR_OK)
            goto fail;
    }
    e = apply_events(c, b, &set, out);
    if (e == ERR_OK && b->to_block >= JOBDB_KEEP_BLOCKS) {
        const char *params[1] = {num};
        snprintf(num, sizeof num, "%" PRIu64, b->to_block - JOBDB_KEEP_BLOCKS + 1);
        e = db_exec_stmt(c, &st_block_prune, params, NULL);
    }
    if (e == ERR_OK) {
        hex32_of(last->hash, hash);
        e = set_cp(c, b->to_block, hash);
    }
    if (e == ERR_OK)
        e = finish_touched(c, &set, out);
    if (e == ERR_OK)
        e = db_commit(c);
    if (e != ERR_OK)
        goto fail;
    out->checkpoint.block_number = b->to_block;
    memcpy(out->checkpoint.block_hash, last->hash, 32);
    touched_release(&set);
    db_checkin(db->pool, c);
    return ERR_OK;
fail:
    db_rollback(c);
    touched_release(&set);
    jobdb_changes_release(out);
    db_checkin(db->pool, c);
    return e;
}

static const struct db_stmt st_rb_jobs = {
    "jobdb_rb_jobs",
    "SELECT DISTINCT chain_job_id FROM chain_events"
    " WHERE block_number > $1::bigint AND chain_job_id IS NOT NULL",
    1};
static const struct db_stmt st_rb_events = {
    "jobdb_rb_events", "DELETE FROM chain_events WHERE block_number > $1::bigint", 1};
static const struct db_stmt st_rb_blocks = {
    "jobdb_rb_blocks", "DELETE FROM chain_blocks WHERE number > $1::bigint", 1};
static const struct db_stmt st_job_events = {
    "jobdb_job_events",
    "SELECT kind, tx_hash, extract(epoch FROM block_time)::bigint, client, worker,"
    " amount_wei::text, amount2_wei::text, price_usd_cents, spec_hash, result_hash,"
    " extract(epoch FROM deadline_at)::bigint, extract(epoch FROM expires_at)::bigint,"
    " max_runtime_s"
    " FROM chain_events WHERE chain_job_id = $1 ORDER BY block_number, log_index",
    1};

static void copy_text(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

/* Recompute job <t> from scratch out of its remaining events <r>
 * (st_job_events rows). */
static enum err recompute(struct touched *t, const struct db_res *r)
{
    const char *flag;
    size_t i;
    enum err e = ERR_OK;

    reset_derived(&t->job);
    for (i = 0; e == ERR_OK && i < db_res_rows(r); i++) {
        struct evt ev;
        memset(&ev, 0, sizeof ev);
        if (jobdb_event_kind_by_name(db_res_text(r, i, 0), &ev.kind) != ERR_OK)
            return ERR_DB; /* only this module writes chain_events */
        copy_text(ev.tx, sizeof ev.tx, db_res_text(r, i, 1));
        ev.time = parse_i64(db_res_text(r, i, 2));
        copy_text(ev.job_id, sizeof ev.job_id, t->chain_id);
        copy_text(ev.client, sizeof ev.client, db_res_text(r, i, 3));
        copy_text(ev.worker, sizeof ev.worker, db_res_text(r, i, 4));
        copy_text(ev.amount, sizeof ev.amount, db_res_text(r, i, 5));
        copy_text(ev.amount2, sizeof ev.amount2, db_res_text(r, i, 6));
        ev.usd_cents = parse_i64(db_res_text(r, i, 7));
        copy_text(ev.spec, sizeof ev.spec, db_res_text(r, i, 8));
        copy_text(ev.result, sizeof ev.result, db_res_text(r, i, 9));
        ev.deadline = parse_i64(db_res_text(r, i, 10));
        ev.expires = parse_i64(db_res_text(r, i, 11));
        ev.max_runtime = parse_i64(db_res_text(r, i, 12));
        e = fold(&t->job, &ev, &flag);
    }
    /* Progress is reported off chain; keep it while the same worker still
     * holds the job after the rollback. */
    if (e == ERR_OK && t->before_worker && t->job.worker_address &&
        strcmp(t->before_worker, t->job.worker_address) == 0)
        t->job.progress = t->before_progress;
    return e;
}

/* Reload the remaining events of every touched job (pipelined) and fold
 * each job again from scratch. */
static enum err recompute_all(struct db_conn *c, struct touched_set *s)
{
    struct db_res **res = calloc(s->n ? s->n : 1, sizeof *res);
    const char **params = calloc(s->n ? s->n : 1, sizeof *params);
    size_t i, n = 0;
    enum err e = ERR_OK;

    if (!res || !params) {
        e = ERR_NOMEM;
        goto out;
    }
    for (i = 0; i < s->n; i++)
        if (s->items[i].found)
            params[n++] = s->items[i].chain_id;
    e = db_exec_batch(c, &st_job_events, n, params, res);
    for (i = 0, n = 0; e == ERR_OK && i < s->n; i++)
        if (s->items[i].found)
            e = recompute(&s->items[i], res[n++]);
out:
    for (i = 0; res && i < s->n; i++)
        db_res_free(res[i]);
    free(res);
    free((void *)params);
    return e;
}

enum err jobdb_rollback(struct jobdb *db, const struct jobdb_block *fork, struct jobdb_changes *out)
{
    struct touched_set set = {0};
    struct db_conn *c = NULL;
    struct db_res *r = NULL;
    char num[24], hash[HEX32_LEN], stored[HEX32_LEN];
    const char *params[2] = {num, hash};
    struct cp cp;
    size_t i;
    int found;
    enum err e;

    memset(out, 0, sizeof *out);
    if (fork->number > INT64_MAX)
        return ERR_INVAL;
    snprintf(num, sizeof num, "%" PRIu64, fork->number);
    hex32_of(fork->hash, hash);
    e = db_checkout(db->pool, &c);
    if (e != ERR_OK)
        return e;
    e = db_begin(c);
    if (e == ERR_OK)
        e = db_exec_stmt(c, &st_chain_lock, NULL, NULL);
    if (e == ERR_OK)
        e = read_cp(c, &cp);
    if (e == ERR_OK && !cp.present)
        e = ERR_NOTFOUND;
    if (e == ERR_OK)
        e = stored_block(c, fork->number, stored, &found);
    if (e == ERR_OK && ((found && strcmp(stored, hash) != 0) ||
                        (fork->number == cp.number && strcmp(cp.hash, hash) != 0)))
        e = ERR_STATE;
    if (e != ERR_OK)
        goto fail;
    if (fork->number >= cp.number) {
        e = db_commit(c);
        if (e != ERR_OK)
            goto fail;
        out->items = calloc(1, sizeof *out->items);
        db_checkin(db->pool, c);
        if (cp_export(&cp, &out->checkpoint) != ERR_OK)
            return jobdb_changes_release(out), ERR_DB;
        return out->items ? ERR_OK : ERR_NOMEM;
    }
    out->checkpoint.block_number = fork->number;
    memcpy(out->checkpoint.block_hash, fork->hash, 32);
    e = db_exec_stmt(c, &st_rb_jobs, params, &r);
    for (i = 0; e == ERR_OK && i < db_res_rows(r); i++)
        e = touch_add(&set, db_res_text(r, i, 0));
    if (e == ERR_OK)
        e = touch_load(c, &set);
    if (e == ERR_OK) {
        struct db_res *del = NULL;
        e = db_exec_stmt(c, &st_rb_events, params, &del);
        if (e == ERR_OK)
            out->n_removed = (size_t)db_res_affected(del);
        db_res_free(del);
    }
    if (e == ERR_OK)
        e = db_exec_stmt(c, &st_rb_blocks, params, NULL);
    if (e == ERR_OK)
        e = db_exec_stmt(c, &st_block_keep, params, NULL);
    if (e == ERR_OK)
        e = set_cp(c, fork->number, hash);
    if (e == ERR_OK)
        e = recompute_all(c, &set);
    if (e == ERR_OK)
        e = finish_touched(c, &set, out);
    if (e == ERR_OK)
        e = db_commit(c);
    if (e != ERR_OK)
        goto fail;
    db_res_free(r);
    touched_release(&set);
    db_checkin(db->pool, c);
    return ERR_OK;
fail:
    db_rollback(c);
    db_res_free(r);
    touched_release(&set);
    jobdb_changes_release(out);
    db_checkin(db->pool, c);
    return e;
}

enum err jobdb_get_checkpoint(struct jobdb *db, struct jobdb_checkpoint *out)
{
    struct db_conn *c = NULL;
    struct cp cp;
    enum err e;

    memset(out, 0, sizeof *out);
    e = db_checkout(db->pool, &c);
    if (e != ERR_OK)
        return e;
    e = read_cp(c, &cp);
    db_checkin(db->pool, c);
    if (e != ERR_OK)
        return e;
    if (!cp.present)
        return ERR_NOTFOUND;
    return cp_export(&cp, out);
}

enum err jobdb_block_hash(struct jobdb *db, uint64_t number, uint8_t hash[32])
{
    struct db_conn *c = NULL;
    char stored[HEX32_LEN];
    int found = 0;
    enum err e;

    if (number > INT64_MAX)
        return ERR_NOTFOUND;
    e = db_checkout(db->pool, &c);
    if (e != ERR_OK)
        return e;
    e = stored_block(c, number, stored, &found);
    db_checkin(db->pool, c);
    if (e != ERR_OK)
        return e;
    if (!found)
        return ERR_NOTFOUND;
    return hex_parse(stored, hash, 32) == ERR_OK ? ERR_OK : ERR_DB;
}

/* Mirrors LoomEscrow.dueAction(): strict comparisons (block.timestamp >
 * expiry), refund before reopen once the deadline passed. Each branch is
 * served by its partial index (jobdb_schema.c). */
static const struct db_stmt st_due = {
    "jobdb_due",
    "SELECT id, chain_job_id, action, due FROM ("
    " SELECT id, chain_job_id, 1 AS action, extract(epoch FROM challenge_ends_at)::bigint AS due"
    " FROM jobs WHERE status = 'SUBMITTED' AND challenge_ends_at < to_timestamp($1::bigint)"
    " UNION ALL"
    " SELECT id, chain_job_id, 2, extract(epoch FROM deadline_at)::bigint FROM jobs"
    " WHERE (status IN ('OPEN','WORKING') OR (status = 'PENDING' AND funded_tx IS NOT NULL))"
    " AND deadline_at < to_timestamp($1::bigint)"
    " UNION ALL"
    " SELECT id, chain_job_id, 3, extract(epoch FROM claim_expires_at)::bigint FROM jobs"
    " WHERE status = 'WORKING' AND claim_expires_at < to_timestamp($1::bigint)"
    " AND deadline_at >= to_timestamp($1::bigint)"
    ") d ORDER BY due, id LIMIT $2::bigint",
    2};

enum err jobdb_due(struct jobdb *db, int64_t now_unix, size_t limit, struct jobdb_due **out,
                   size_t *n)
{
    char now[24], lim[24];
    const char *params[2] = {now, lim};
    struct db_conn *c = NULL;
    struct db_res *r = NULL;
    struct jobdb_due *d = NULL;
    size_t rows = 0, i;
    enum err e;

    *out = NULL;
    *n = 0;
    if (limit < 1 || limit > JOBDB_DUE_MAX)
        return ERR_INVAL;
    fmt_i64(now, now_unix);
    fmt_i64(lim, (int64_t)limit);
    e = db_checkout(db->pool, &c);
    if (e != ERR_OK)
        return e;
    e = db_exec_stmt(c, &st_due, params, &r);
    if (e == ERR_OK) {
        rows = db_res_rows(r);
        d = calloc(rows ? rows : 1, sizeof *d);
        if (!d)
            e = ERR_NOMEM;
    }
    for (i = 0; e == ERR_OK && i < rows; i++) {
        d[i].job_id = parse_i64(db_res_text(r, i, 0));
        if (hex_parse(db_res_text(r, i, 1), d[i].chain_job_id, 32) != ERR_OK)
            e = ERR_DB;
        d[i].action = (enum jobdb_action)parse_i64(db_res_text(r, i, 2));
        d[i].due_unix = parse_i64(db_res_text(r, i, 3));
    }
    db_res_free(r);
    db_checkin(db->pool, c);
    if (e != ERR_OK) {
        free(d);
        return e;
    }
    *out = d;
    *n = rows;
    return ERR_OK;
}

/* ------------------------------------------------------------- history */

/* Newest first (so LIMIT keeps the newest); jobdb_history() reverses. A
 * LEFT JOIN gives one all-NULL event row for a job without events, and no
 * row for a missing job. */
static const struct db_stmt st_history = {
    "jobdb_history",
    "SELECT e.kind, e.tx_hash, e.block_number, extract(epoch FROM e.block_time)::bigint,"
    " e.flag IS NOT NULL, e.amount_wei = 0, j.funding_flag IS NOT NULL"
    " FROM jobs j LEFT JOIN chain_events e ON e.chain_job_id = j.chain_job_id"
    " WHERE j.id = $1::bigint"
    " ORDER BY e.block_number DESC, e.log_index DESC LIMIT " JOBDB_HISTORY_MAX_TEXT,
    1};

/* The status an event of <kind> moves its job to; -1 when it moves none. */
static int history_status(enum jobdb_event_kind kind, int event_flagged, int zero_amount,
                          int job_flagged)
{
    switch (kind) {
    case JOBDB_EV_CREATED:
        return event_flagged ? -1 : JOBDB_OPEN;
    case JOBDB_EV_CLAIMED:
        return JOBDB_WORKING;
    case JOBDB_EV_SUBMITTED:
        return JOBDB_SUBMITTED;
    case JOBDB_EV_RELEASED:
        return JOBDB_COMPLETED;
    case JOBDB_EV_DISPUTED:
        return JOBDB_DISPUTED;
    case JOBDB_EV_RESOLVED:
        return zero_amount ? JOBDB_REFUNDED : JOBDB_COMPLETED;
    case JOBDB_EV_REOPENED:
        return job_flagged ? JOBDB_PENDING : JOBDB_OPEN;
    case JOBDB_EV_REFUNDED:
        return JOBDB_REFUNDED;
    case JOBDB_EV_WITHDRAWN:
    case JOBDB_EV__COUNT:
        break;
    }
    return -1;
}

static int is_true(const char *s)
{
    return s && strcmp(s, "t") == 0;
}

/* The rows of st_history in <r> as history entries, oldest first. */
static enum err history_from_res(const struct db_res *r, struct jobdb_history_entry **out,
                                 size_t *n)
{
    struct jobdb_history_entry *h = NULL;
    size_t rows, i, k = 0;
    enum err e = ERR_OK;

    *out = NULL;
    *n = 0;
    rows = db_res_rows(r);
    if (rows == 0) {
        e = ERR_NOTFOUND;
        goto out;
    }
    h = calloc(rows, sizeof *h);
    if (!h) {
        e = ERR_NOMEM;
        goto out;
    }
    for (i = rows; i-- > 0;) { /* oldest first */
        enum jobdb_event_kind kind;
        int st;

        if (!db_res_text(r, i, 0))
            continue; /* the job has no events */
        if (jobdb_event_kind_by_name(db_res_text(r, i, 0), &kind) != ERR_OK) {
            e = ERR_DB; /* only this module writes chain_events */
            goto out;
        }
        st = history_status(kind, is_true(db_res_text(r, i, 4)), is_true(db_res_text(r, i, 5)),
                            is_true(db_res_text(r, i, 6)));
        if (st < 0)
            continue;
        h[k].status = (enum jobdb_status)st;
        copy_text(h[k].tx_hash, sizeof h[k].tx_hash, db_res_text(r, i, 1));
        h[k].block_number = (uint64_t)parse_i64(db_res_text(r, i, 2));
        h[k].at_unix = parse_i64(db_res_text(r, i, 3));
        k++;
    }
out:
    if (e == ERR_OK && k > 0) {
        *out = h;
        *n = k;
    } else {
        free(h);
    }
    return e;
}

enum err jobdb_history(struct jobdb *db, int64_t id, struct jobdb_history_entry **out, size_t *n)
{
    char key[24];
    const char *params[1] = {key};
    struct db_conn *c = NULL;
    struct db_res *r = NULL;
    enum err e;

    *out = NULL;
    *n = 0;
    fmt_i64(key, id);
    e = db_checkout(db->pool, &c);
    if (e != ERR_OK)
        return e;
    e = db_exec_stmt(c, &st_history, params, &r);
    if (e == ERR_OK)
        e = history_from_res(r, out, n);
    db_res_free(r);
    db_checkin(db->pool, c);
    return e;
}

enum err jobdb_get_full(struct jobdb *db, int64_t id, struct jobdb_job *job,
                        struct jobdb_history_entry **history, size_t *n_history,
                        struct jobdb_file **files, size_t *n_files)
{
    char key[24];
    const char *params[1] = {key};
    const struct db_stmt *sts[3] = {&st_get, &st_history, &st_files};
    const char *const *ps[3] = {params, params, params};
    struct db_res *rs[3] = {NULL, NULL, NULL};
    struct db_conn *c = NULL;
    enum err e;

    memset(job, 0, sizeof *job);
    *history = NULL;
    *n_history = 0;
    *files = NULL;
    *n_files = 0;
    fmt_i64(key, id);
    e = db_checkout(db->pool, &c);
    if (e != ERR_OK)
        return e;
    e = db_exec_multi(c, sts, ps, 3, rs);
    if (e == ERR_OK)
        e = db_res_rows(rs[0]) == 1 ? row_to_job(rs[0], 0, job) : ERR_NOTFOUND;
    if (e == ERR_OK)
        e = history_from_res(rs[1], history, n_history);
    if (e == ERR_OK)
        e = files_from_res(rs[2], id, files, n_files);
    if (e != ERR_OK) {
        jobdb_job_release(job);
        free(*history);
        *history = NULL;
        *n_history = 0;
    }
    for (size_t i = 0; i < 3; i++)
        db_res_free(rs[i]);
    db_checkin(db->pool, c);
    return e;
}
