/*
 * db -- connection pool, libpq calls and their error mapping (see db.h).
 *
 * Every query goes through PQexecPrepared or PQexecParams with text
 * parameters (a constant COPY ... FROM STDIN too, its rows sent as data by
 * db_copy_in); the only PQexec calls carry the constant ROLLBACK. A result is
 * handed out as an opaque struct db_res that is really the PGresult, so
 * reading rows costs no copy.
 * SPDX-License-Identifier: MIT
 */
#include "db.h"

#include <errno.h>
#include <postgresql/libpq-fe.h> /* Debian: /usr/include/postgresql */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"

struct db_conn {
    PGconn *pg;
    int broken;                      /* lost the server; reset before reuse */
    const struct db_stmt **prepared; /* statements prepared on this session */
    size_t n_prepared, cap_prepared;
};

struct db_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct db_conn *conns; /* n_conns entries */
    struct db_conn **idle; /* LIFO stack of free connections */
    size_t n_conns, n_idle;
    int checkout_timeout_ms;
};

/* The last error text per thread. A fixed array is fine here: the text is
 * copied with snprintf, which truncates, and it is only ever logged. */
static _Thread_local char db_err_text[512];

const char *db_last_error(void)
{
    return db_err_text;
}

static void set_error(const char *what, const char *msg)
{
    size_t n;

    if (!msg)
        msg = "";
    snprintf(db_err_text, sizeof db_err_text, "%s%s%s", what, *what ? ": " : "", msg);
    /* libpq messages end with a newline; logs want one line. */
    n = strlen(db_err_text);
    while (n > 0 && (db_err_text[n - 1] == '\n' || db_err_text[n - 1] == ' '))
        db_err_text[--n] = '\0';
}

static int schema_name_ok(const char *s)
{
    size_t n = 0;

    if (!s || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return 0;
    for (; s[n]; n++) {
        char ch = s[n];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'))
            return 0;
    }
    return n <= 63; /* NAMEDATALEN - 1 */
}

/* Map a failed result (or NULL) to enum err, remember its text, and mark the
 * connection broken when the server is gone. */
static enum err map_failure(struct db_conn *c, const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

    set_error("", r ? PQresultErrorMessage(r) : PQerrorMessage(c->pg));
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        c->broken = 1;
        return ERR_UNAVAILABLE;
    }
    if (!state)
        return r ? ERR_DB : ERR_NOMEM;
    if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
        strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0) {
        c->broken = 1;
        return ERR_UNAVAILABLE;
    }
    if (strcmp(state, "23505") == 0)
        return ERR_EXISTS;
    if (strcmp(state, "23503") == 0)
        return ERR_NOTFOUND;
    if (strcmp(state, "23502") == 0 || strcmp(state, "23514") == 0 || strncmp(state, "22", 2) == 0)
        return ERR_INVAL;
    /* Serialization failures, deadlocks and statement timeouts are
     * transient: the caller answers 503 and the client retries. */
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "57014") == 0)
        return ERR_UNAVAILABLE;
    return ERR_DB;
}

static enum err check_result(struct db_conn *c, PGresult *r, struct db_res **out)
{
    ExecStatusType st;

    if (out)
        *out = NULL;
    if (!r)
        return map_failure(c, NULL);
    st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        enum err e = map_failure(c, r);
        PQclear(r);
        return e;
    }
    if (out)
        *out = (struct db_res *)r;
    else
        PQclear(r);
    return ERR_OK;
}

static enum err conn_open(struct db_conn *c, const struct db_config *cfg)
{
    const char *keys[6];
    const char *vals[6];
    char timeout[16];
    struct buf options;
    enum err e = ERR_OK;
    int k = 0;

    buf_init(&options, 1024);
    /* Notices (CREATE ... IF NOT EXISTS skipping, DROP cascades) would go to
     * stderr through libpq's default processor; we log nothing here. */
    e = buf_append_str(&options, "-c client_min_messages=warning ");
    snprintf(timeout, sizeof timeout, "%d",
             cfg->connect_timeout_s > 0 ? cfg->connect_timeout_s : 5);
    if (e == ERR_OK && cfg->schema)
        e = buf_appendf(&options, "-c search_path=%s ", cfg->schema);
    if (e == ERR_OK && cfg->statement_timeout_ms > 0)
        e = buf_appendf(&options, "-c statement_timeout=%d", cfg->statement_timeout_ms);
    if (e != ERR_OK)
        goto out;
    keys[k] = "dbname", vals[k++] = cfg->url;
    keys[k] = "connect_timeout", vals[k++] = timeout;
    keys[k] = "application_name",
    vals[k++] = cfg->application_name ? cfg->application_name : "loom-jobstore";
    if (options.len > 0)
        keys[k] = "options", vals[k++] = buf_cstr(&options);
    keys[k] = NULL, vals[k] = NULL;
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg) {
        e = ERR_NOMEM;
        goto out;
    }
    if (PQstatus(c->pg) != CONNECTION_OK) {
        set_error("cannot connect", PQerrorMessage(c->pg));
        e = ERR_UNAVAILABLE;
    }
out:
    buf_release(&options);
    return e;
}

static void conn_reset(struct db_conn *c)
{
    PQreset(c->pg);
    c->n_prepared = 0; /* a new session has no prepared statements */
    if (PQstatus(c->pg) == CONNECTION_OK)
        c->broken = 0;
    else
        set_error("cannot reconnect", PQerrorMessage(c->pg));
}

/* Create cfg->schema on <c> if missing. format('%I') quotes the name on the
 * server side, so no SQL is built here; the name is also validated. */
static enum err ensure_schema(struct db_conn *c, const char *schema)
{
    const char *params[1] = {schema};
    enum err e;

    e = db_exec(c, "SELECT set_config('loom.schema', $1, false)", 1, params, NULL);
    if (e == ERR_OK)
        e = db_exec(c,
                    "DO $$BEGIN EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', "
                    "current_setting('loom.schema')); END$$",
                    0, NULL, NULL);
    /* Two starters racing on CREATE SCHEMA IF NOT EXISTS: the loser sees a
     * unique violation on pg_namespace, and the schema exists. */
    if (e == ERR_EXISTS)
        e = ERR_OK;
    return e;
}

enum err db_pool_new(const struct db_config *cfg, struct db_pool **out)
{
    struct db_pool *p = NULL;
    enum err e = ERR_OK;
    size_t i;

    *out = NULL;
    if (!cfg || !cfg->url || cfg->n_conns < 1 || cfg->n_conns > DB_POOL_MAX ||
        (cfg->schema && !schema_name_ok(cfg->schema)))
        return ERR_INVAL;
    p = calloc(1, sizeof *p);
    if (!p)
        return ERR_NOMEM;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->checkout_timeout_ms = cfg->checkout_timeout_ms;
    p->conns = calloc(cfg->n_conns, sizeof *p->conns);
    p->idle = calloc(cfg->n_conns, sizeof *p->idle);
    if (!p->conns || !p->idle) {
        e = ERR_NOMEM;
        goto fail;
    }
    for (i = 0; i < cfg->n_conns; i++) {
        p->n_conns = i + 1;
        e = conn_open(&p->conns[i], cfg);
        if (e != ERR_OK)
            goto fail;
        if (i == 0 && cfg->schema) {
            e = ensure_schema(&p->conns[0], cfg->schema);
            if (e != ERR_OK)
                goto fail;
        }
        p->idle[p->n_idle++] = &p->conns[i];
    }
    *out = p;
    return ERR_OK;
fail:
    p->n_idle = p->n_conns; /* none is checked out yet */
    db_pool_free(p);
    return e;
}

void db_pool_free(struct db_pool *p)
{
    size_t i;

    if (!p)
        return;
    LOOM_ASSERT(p->n_idle == p->n_conns);
    for (i = 0; i < p->n_conns; i++) {
        if (p->conns[i].pg)
            PQfinish(p->conns[i].pg);
        free(p->conns[i].prepared);
    }
    free(p->conns);
    free(p->idle);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* Return <c> to the idle stack and wake one waiter. */
static void pool_push(struct db_pool *p, struct db_conn *c)
{
    pthread_mutex_lock(&p->mu);
    LOOM_ASSERT(p->n_idle < p->n_conns);
    p->idle[p->n_idle++] = c;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

enum err db_checkout(struct db_pool *p, struct db_conn **out)
{
    struct db_conn *c = NULL;
    struct timespec until;
    int rc = 0;

    *out = NULL;
    if (p->checkout_timeout_ms > 0) {
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += p->checkout_timeout_ms / 1000;
        until.tv_nsec += (long)(p->checkout_timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&p->mu);
    while (p->n_idle == 0 && rc == 0) {
        if (p->checkout_timeout_ms == 0)
            rc = ETIMEDOUT;
        else if (p->checkout_timeout_ms < 0)
            rc = pthread_cond_wait(&p->cv, &p->mu);
        else
            rc = pthread_cond_timedwait(&p->cv, &p->mu, &until);
    }
    if (p->n_idle > 0)
        c = p->idle[--p->n_idle];
    pthread_mutex_unlock(&p->mu);
    if (!c) {
        set_error("cannot check out a connection", "all connections busy");
        return ERR_TIMEDOUT;
    }
    /* Reset outside the lock: it blocks up to connect_timeout. */
    if (c->broken)
        conn_reset(c);
    if (c->broken) {
        pool_push(p, c); /* still broken: the next checkout tries again */
        return ERR_UNAVAILABLE;
    }
    *out = c;
    return ERR_OK;
}

void db_checkin(struct db_pool *p, struct db_conn *c)
{
    if (!c)
        return;
    if (!c->broken && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        db_rollback(c);
    if (!c->broken && PQstatus(c->pg) == CONNECTION_BAD)
        c->broken = 1;
    if (c->broken)
        conn_reset(c); /* may fail: db_checkout() tries again */
    pool_push(p, c);
}

enum err db_begin(struct db_conn *c)
{
    return db_exec(c, "BEGIN", 0, NULL, NULL);
}

enum err db_commit(struct db_conn *c)
{
    return db_exec(c, "COMMIT", 0, NULL, NULL);
}

void db_rollback(struct db_conn *c)
{
    PGresult *r;

    if (c->broken)
        return;
    r = PQexec(c->pg, "ROLLBACK");
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
        c->broken = PQstatus(c->pg) == CONNECTION_BAD;
    PQclear(r);
}

static int is_prepared(const struct db_conn *c, const struct db_stmt *st)
{
    size_t i;

    for (i = 0; i < c->n_prepared; i++)
        if (c->prepared[i] == st)
            return 1;
    return 0;
}

static enum err ensure_prepared(struct db_conn *c, const struct db_stmt *st)
{
    PGresult *r;
    enum err e;

    if (is_prepared(c, st))
        return ERR_OK;
    if (c->n_prepared == c->cap_prepared) {
        size_t cap = c->cap_prepared ? c->cap_prepared * 2 : 32;
        const struct db_stmt **np = realloc(c->prepared, cap * sizeof *np);
        if (!np)
            return ERR_NOMEM;
        c->prepared = np;
        c->cap_prepared = cap;
    }
    r = PQprepare(c->pg, st->name, st->sql, st->n_params, NULL);
    e = check_result(c, r, NULL);
    if (e == ERR_OK)
        c->prepared[c->n_prepared++] = st;
    return e;
}

enum err db_exec_stmt(struct db_conn *c, const struct db_stmt *st, const char *const *params,
                      struct db_res **out)
{
    PGresult *r;
    enum err e;

    if (out)
        *out = NULL;
    if (c->broken) {
        set_error("", "connection lost");
        return ERR_UNAVAILABLE;
    }
    e = ensure_prepared(c, st);
    if (e != ERR_OK)
        return e;
    r = PQexecPrepared(c->pg, st->name, st->n_params, params, NULL, NULL, 0);
    return check_result(c, r, out);
}

/* Read one pipelined query's results (one result, then NULL). */
static enum err pipeline_result(struct db_conn *c, struct db_res **out, enum err prev)
{
    PGresult *r = PQgetResult(c->pg);
    enum err e = ERR_OK;

    if (out)
        *out = NULL;
    if (!r) {
        c->broken = PQstatus(c->pg) == CONNECTION_BAD;
        set_error("", PQerrorMessage(c->pg));
        return c->broken ? ERR_UNAVAILABLE : ERR_DB;
    }
    if (PQresultStatus(r) == PGRES_PIPELINE_ABORTED) {
        PQclear(r);
        e = prev != ERR_OK ? prev : ERR_DB; /* skipped after an earlier failure */
    } else {
        e = check_result(c, r, prev == ERR_OK ? out : NULL);
    }
    /* The NULL that ends this query's results. */
    r = PQgetResult(c->pg);
    if (r) {
        PQclear(r);
        if (e == ERR_OK) {
            set_error("", "unexpected extra result in pipeline");
            e = ERR_DB;
        }
    }
    return e;
}

/* The link failed while a pipeline was being sent or read: remember libpq's
 * text and give up on the connection (db_checkin() resets it). */
static enum err pipeline_broken(struct db_conn *c, const char *why)
{
    set_error("", why ? why : PQerrorMessage(c->pg));
    c->broken = 1;
    return ERR_UNAVAILABLE;
}

static enum err pipeline_enter(struct db_conn *c)
{
    if (PQenterPipelineMode(c->pg) == 1)
        return ERR_OK;
    set_error("cannot enter pipeline mode", PQerrorMessage(c->pg));
    c->broken = PQstatus(c->pg) == CONNECTION_BAD;
    return c->broken ? ERR_UNAVAILABLE : ERR_DB;
}

/*
 * Mark a sync point after the <n> queries just sent, then read their
 * results and the sync point: outs (NULL, or n slots) receive the results
 * of the queries while no failure has been seen; *first keeps the first
 * failure (the server skips the queries after it up to the sync point).
 * Returns ERR_OK when the pipeline is still usable (whatever *first says),
 * ERR_UNAVAILABLE when the link broke (c->broken set). The one drain of
 * db_exec_batch() and db_exec_multi().
 */
static enum err pipeline_sync_drain(struct db_conn *c, size_t n, struct db_res **outs,
                                    enum err *first)
{
    PGresult *r;
    enum err ei;
    size_t i;

    if (PQpipelineSync(c->pg) != 1)
        return pipeline_broken(c, NULL);
    for (i = 0; i < n && !c->broken; i++) {
        ei = pipeline_result(c, outs ? &outs[i] : NULL, *first);
        if (*first == ERR_OK)
            *first = ei;
    }
    if (c->broken)
        return ERR_UNAVAILABLE;
    r = PQgetResult(c->pg);
    if (!r || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
        PQclear(r);
        return pipeline_broken(c, "pipeline lost its sync point");
    }
    PQclear(r);
    return ERR_OK;
}

/* Free the n results of <outs> (NULL: none) and clear the slots. */
static void results_free(struct db_res **outs, size_t n)
{
    size_t i;

    for (i = 0; outs && i < n; i++) {
        db_res_free(outs[i]);
        outs[i] = NULL;
    }
}

enum err db_exec_batch(struct db_conn *c, const struct db_stmt *st, size_t n,
                       const char *const *params, struct db_res **outs)
{
    size_t start, i, end;
    enum err e = ERR_OK, link = ERR_OK;

    for (i = 0; outs && i < n; i++)
        outs[i] = NULL;
    if (n == 0)
        return ERR_OK;
    if (c->broken) {
        set_error("", "connection lost");
        return ERR_UNAVAILABLE;
    }
    e = ensure_prepared(c, st);
    if (e == ERR_OK)
        e = pipeline_enter(c);
    if (e != ERR_OK)
        return e;
    for (start = 0; start < n && e == ERR_OK && link == ERR_OK; start = end) {
        end = start + DB_PIPELINE_CHUNK < n ? start + DB_PIPELINE_CHUNK : n;
        for (i = start; i < end && link == ERR_OK; i++)
            if (PQsendQueryPrepared(c->pg, st->name, st->n_params,
                                    params + i * (size_t)st->n_params, NULL, NULL, 0) != 1)
                link = pipeline_broken(c, NULL); /* nothing of this chunk was synced */
        if (link == ERR_OK)
            link = pipeline_sync_drain(c, end - start, outs ? outs + start : NULL, &e);
    }
    if (link == ERR_OK && PQexitPipelineMode(c->pg) != 1)
        link = pipeline_broken(c, NULL);
    if (link != ERR_OK || e != ERR_OK)
        results_free(outs, n);
    return link != ERR_OK ? link : e;
}

enum err db_exec_multi(struct db_conn *c, const struct db_stmt *const *sts,
                       const char *const *const *params, size_t n, struct db_res **outs)
{
    size_t i;
    enum err e = ERR_OK, link = ERR_OK;

    for (i = 0; i < n; i++)
        outs[i] = NULL;
    if (n == 0 || n > DB_PIPELINE_CHUNK)
        return n == 0 ? ERR_OK : ERR_INVAL;
    if (c->broken) {
        set_error("", "connection lost");
        return ERR_UNAVAILABLE;
    }
    for (i = 0; i < n; i++)
        if ((e = ensure_prepared(c, sts[i])) != ERR_OK)
            return e;
    e = pipeline_enter(c);
    if (e != ERR_OK)
        return e;
    for (i = 0; i < n && link == ERR_OK; i++)
        if (PQsendQueryPrepared(c->pg, sts[i]->name, sts[i]->n_params, params[i], NULL, NULL, 0) !=
            1)
            link = pipeline_broken(c, NULL);
    if (link == ERR_OK)
        link = pipeline_sync_drain(c, n, outs, &e);
    if (link == ERR_OK && PQexitPipelineMode(c->pg) != 1)
        link = pipeline_broken(c, NULL);
    if (link != ERR_OK || e != ERR_OK)
        results_free(outs, n);
    return link != ERR_OK ? link : e;
}

enum err db_exec(struct db_conn *c, const char *sql, int n_params, const char *const *params,
                 struct db_res **out)
{
    if (out)
        *out = NULL;
    if (c->broken) {
        set_error("", "connection lost");
        return ERR_UNAVAILABLE;
    }
    return check_result(c, PQexecParams(c->pg, sql, n_params, NULL, params, NULL, NULL, 0), out);
}

enum err db_copy_row(struct buf *b, const char *const *vals, size_t n)
{
    enum err e = ERR_OK;
    size_t k;

    for (k = 0; k < n && e == ERR_OK; k++) {
        const char *s = vals[k];
        if (k > 0)
            e = buf_append_byte(b, '\t');
        if (e == ERR_OK && s == NULL)
            e = buf_append(b, "\\N", 2);
        /* Runs without a character COPY escapes go in whole. */
        while (e == ERR_OK && s && *s) {
            size_t run = strcspn(s, "\\\t\n\r");
            if (run > 0)
                e = buf_append(b, s, run);
            s += run;
            if (e == ERR_OK && *s) {
                char esc[2] = {'\\', *s == '\t' ? 't' : *s == '\n' ? 'n' : *s == '\r' ? 'r' : '\\'};
                e = buf_append(b, esc, 2);
                s++;
            }
        }
    }
    return e == ERR_OK ? buf_append_byte(b, '\n') : e;
}

/* Bytes per PQputCopyData call: the rows go out in pieces of this size. */
#define COPY_CHUNK ((size_t)1 << 20)

enum err db_copy_in(struct db_conn *c, const char *sql, const char *data, size_t len)
{
    PGresult *r;
    enum err e = ERR_OK;
    int sent = 1;

    if (c->broken) {
        set_error("", "connection lost");
        return ERR_UNAVAILABLE;
    }
    r = PQexecParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 0);
    if (!r || PQresultStatus(r) != PGRES_COPY_IN) {
        e = check_result(c, r, NULL); /* frees r */
        if (e == ERR_OK) {
            set_error("", "not a COPY FROM STDIN");
            e = ERR_DB;
        }
        return e;
    }
    PQclear(r);
    while (len > 0 && sent == 1) {
        size_t n = len < COPY_CHUNK ? len : COPY_CHUNK;
        sent = PQputCopyData(c->pg, data, (int)n);
        data += n;
        len -= n;
    }
    /* On a failed send, end the COPY as failed so the server discards it.
     * If even the end cannot be sent, libpq may still be in COPY state:
     * the connection is given up (reset at check-in), not read further. */
    if (PQputCopyEnd(c->pg, sent == 1 ? NULL : "send failed") != 1) {
        set_error("copy", PQerrorMessage(c->pg));
        c->broken = 1;
        return ERR_UNAVAILABLE;
    }
    r = PQgetResult(c->pg);
    e = check_result(c, r, NULL);
    while ((r = PQgetResult(c->pg)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        PQclear(r);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
            c->broken = 1; /* still copying: would answer this for ever */
            break;
        }
    }
    if (e == ERR_OK && (sent != 1 || c->broken)) {
        set_error("copy", PQerrorMessage(c->pg));
        c->broken = c->broken || PQstatus(c->pg) == CONNECTION_BAD;
        e = c->broken ? ERR_UNAVAILABLE : ERR_DB;
    }
    return e;
}

size_t db_res_rows(const struct db_res *r)
{
    return (size_t)PQntuples((const PGresult *)r);
}

uint64_t db_res_affected(const struct db_res *r)
{
    const char *s = PQcmdTuples((PGresult *)r);

    return s && *s ? strtoull(s, NULL, 10) : 0;
}

const char *db_res_text(const struct db_res *r, size_t row, int col)
{
    const PGresult *pr = (const PGresult *)r;

    LOOM_ASSERT(row < (size_t)PQntuples(pr) && col >= 0 && col < PQnfields(pr));
    if (PQgetisnull(pr, (int)row, col))
        return NULL;
    return PQgetvalue(pr, (int)row, col);
}

void db_res_free(struct db_res *r)
{
    PQclear((PGresult *)r);
}

void db_pool_stats(struct db_pool *p, size_t *n_conns, size_t *n_idle)
{
    pthread_mutex_lock(&p->mu);
    *n_conns = p->n_conns;
    *n_idle = p->n_idle;
    pthread_mutex_unlock(&p->mu);
}

int db_conn_backend_pid(const struct db_conn *c)
{
    return PQbackendPID(c->pg);
}

/* The lock is per schema so that tests in separate schemas migrate in
 * parallel, while two jobstores on one schema take turns. */
static const struct db_stmt st_lock = {
    "db_migrate_lock", "SELECT pg_advisory_lock($1::int4, hashtext(current_schema()))", 1};
static const struct db_stmt st_unlock = {
    "db_migrate_unlock", "SELECT pg_advisory_unlock($1::int4, hashtext(current_schema()))", 1};
static const struct db_stmt st_sha256 = {"db_migrate_sha256",
                                         "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')", 1};
static const struct db_stmt st_applied = {
    "db_migrate_applied", "SELECT version, checksum FROM schema_migrations ORDER BY version", 0};
static const struct db_stmt st_record = {
    "db_migrate_record",
    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1::int, $2, $3)", 3};

/* The text a migration's checksum covers: its statements, in order. */
static enum err migration_text(const struct db_migration *m, struct buf *out)
{
    enum err e = ERR_OK;
    size_t i;

    buf_reset(out);
    for (i = 0; i < m->n_statements && e == ERR_OK; i++) {
        e = buf_append_str(out, m->statements[i]);
        if (e == ERR_OK)
            e = buf_append_str(out, ";\n");
    }
    return e;
}

static enum err apply_one(struct db_conn *c, const struct db_migration *m, const char *checksum)
{
    char version[16];
    const char *params[3];
    enum err e;
    size_t i;

    e = db_begin(c);
    for (i = 0; e == ERR_OK && i < m->n_statements; i++)
        e = db_exec(c, m->statements[i], 0, NULL, NULL);
    if (e == ERR_OK) {
        snprintf(version, sizeof version, "%d", m->version);
        params[0] = version, params[1] = m->name, params[2] = checksum;
        e = db_exec_stmt(c, &st_record, params, NULL);
    }
    if (e == ERR_OK)
        e = db_commit(c);
    if (e != ERR_OK) {
        char ctx[64];
        snprintf(ctx, sizeof ctx, "migration %d", m->version);
        set_error(ctx, db_err_text);
        db_rollback(c);
    }
    return e;
}

enum err db_migrate(struct db_pool *p, const struct db_migration *list, size_t n, int *applied)
{
    static const char lock_key[] = "1280266061"; /* DB_MIGRATE_LOCK_KEY in decimal */
    const char *key_params[1] = {lock_key};
    struct db_conn *c = NULL;
    struct db_res *done = NULL, *sum = NULL;
    struct buf text;
    int locked = 0, count = 0;
    size_t i, j;
    enum err e;

    buf_init(&text, 0);
    if (applied)
        *applied = 0;
    for (i = 0; i < n; i++)
        LOOM_ASSERT(list[i].version == (int)i + 1);
    e = db_checkout(p, &c);
    if (e != ERR_OK)
        goto out;
    e = db_exec_stmt(c, &st_lock, key_params, NULL);
    if (e != ERR_OK)
        goto out;
    locked = 1;
    e = db_exec(c,
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY,"
                " name text NOT NULL,"
                " checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())",
                0, NULL, NULL);
    if (e == ERR_OK)
        e = db_exec_stmt(c, &st_applied, NULL, &done);
    if (e != ERR_OK)
        goto out;
    for (j = 0; j < db_res_rows(done); j++) {
        if (strtol(db_res_text(done, j, 0), NULL, 10) > (long)n) {
            set_error("database schema is newer than this build", db_res_text(done, j, 0));
            e = ERR_VERSION;
            goto out;
        }
    }
    for (i = 0; i < n; i++) {
        const char *recorded = NULL;
        const char *sum_params[1];

        for (j = 0; j < db_res_rows(done); j++)
            if (strtol(db_res_text(done, j, 0), NULL, 10) == list[i].version)
                recorded = db_res_text(done, j, 1);
        e = migration_text(&list[i], &text);
        if (e != ERR_OK)
            goto out;
        sum_params[0] = buf_cstr(&text);
        db_res_free(sum);
        e = db_exec_stmt(c, &st_sha256, sum_params, &sum);
        if (e != ERR_OK)
            goto out;
        if (recorded) {
            if (strcmp(recorded, db_res_text(sum, 0, 0)) != 0) {
                set_error("migration changed after it was applied", list[i].name);
                e = ERR_STATE;
                goto out;
            }
            continue;
        }
        e = apply_one(c, &list[i], db_res_text(sum, 0, 0));
        if (e != ERR_OK)
            goto out;
        count++;
    }
    if (applied)
        *applied = count;
out:
    if (locked && !c->broken) {
        /* Session locks outlive transactions; give it back explicitly. */
        enum err ue = db_exec_stmt(c, &st_unlock, key_params, NULL);
        if (ue != ERR_OK && e == ERR_OK)
            e = ue;
    }
    db_res_free(sum);
    db_res_free(done);
    if (c)
        db_checkin(p, c);
    buf_release(&text);
    return e;
}

enum err db_drop_schema(struct db_pool *p, const char *name)
{
    const char *params[1] = {name};
    struct db_conn *c = NULL;
    enum err e;

    if (!schema_name_ok(name))
        return ERR_INVAL;
    e = db_checkout(p, &c);
    if (e != ERR_OK)
        return e;
    e = db_exec(c, "SELECT set_config('loom.schema', $1, false)", 1, params, NULL);
    if (e == ERR_OK)
        e = db_exec(c,
                    "DO $$BEGIN EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', "
                    "current_setting('loom.schema')); END$$",
                    0, NULL, NULL);
    db_checkin(p, c);
    return e;
}
