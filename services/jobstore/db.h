/*
 * db -- the jobstore's PostgreSQL connection pool and the only caller of libpq.
 *
 * A pool holds N libpq connections. An operation checks one out, runs its
 * statements (each with parameters: prepared statements or PQexecParams,
 * never SQL built from strings), and checks it back in. libpq errors are
 * mapped to enum err here, once (see db_exec()). Versioned migrations are
 * applied by db_migrate() under an advisory lock.
 * Not here: the schema and the domain operations (jobdb.h, jobdb_schema.h),
 * logging (the caller logs; the last error text is kept per thread).
 *
 * Threading and concurrency model. Calls block: a connection runs one query
 * at a time, so PostgreSQL itself never executes more than N queries of one
 * pool at once, whatever the client does. The service therefore keeps many
 * requests in flight by running the pool from a few worker threads (about
 * one per connection): the event loop (libevent + nanomsg REP in raw mode)
 * only parses requests and hands them to the workers, and a slow query holds
 * one worker and one connection, never the loop or the other requests. We
 * chose this over libpq's asynchronous API on libevent because an operation
 * is a transaction of several dependent round trips (lock a row, decide,
 * update): written as blocking code it reads top to bottom, whereas the async
 * form would be a state machine per operation for no gain in parallelism,
 * which is bounded by the connection count in both designs. A pool is shared
 * by all threads (a mutex and a condition variable guard the idle list); a
 * checked-out connection belongs to one thread until checked in.
 *
 * Within one operation, statements that do not depend on each other's
 * results go out together with db_exec_batch() (libpq pipeline mode), so an
 * indexer batch of a thousand events costs a handful of round trips.
 *
 * Broken connections: a query that fails because the server went away
 * (SQLSTATE class 08, 57P01-57P03, or libpq's CONNECTION_BAD) returns
 * ERR_UNAVAILABLE and marks the connection; db_checkin() then resets it
 * (PQreset, bounded by connect_timeout), so the next operation gets a live
 * connection or ERR_UNAVAILABLE again if the server is still down.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_DB_H
#define LOOM_DB_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct buf; /* common/buf.h */

struct db_pool;
struct db_conn;
struct db_res;

/* Most connections one pool may hold: PostgreSQL's default max_connections
 * is 100 and several services share a server. */
#define DB_POOL_MAX 64

struct db_config {
    const char *url;              /* libpq connection URI or key=value string; borrowed */
    unsigned n_conns;             /* 1..DB_POOL_MAX connections, all opened by db_pool_new() */
    int checkout_timeout_ms;      /* wait for a free connection; 0 = do not wait; -1 = forever */
    int statement_timeout_ms;     /* server-side per-statement limit; 0 = none */
    int connect_timeout_s;        /* libpq connect_timeout for connects and resets; 0 = 5 */
    const char *application_name; /* shown in pg_stat_activity; NULL = "loom-jobstore" */
    /* Schema to work in (search_path), created if missing; NULL = the
     * server default ("public"). Tests give each test its own schema.
     * Must match [a-z_][a-z0-9_]{0,62}. */
    const char *schema;
};

/*
 * Open a pool of cfg->n_conns connections (and create cfg->schema if set).
 *   cfg: borrowed; strings are copied.
 *   out: receives the pool; the caller frees it with db_pool_free().
 * Returns ERR_OK; ERR_INVAL (bad n_conns or schema name); ERR_UNAVAILABLE
 * (a connection could not be made: server down, bad URL, auth refused; see
 * db_last_error()); ERR_DB (creating the schema failed); ERR_NOMEM.
 * Blocks while connecting.
 */
LOOM_MUST_CHECK enum err db_pool_new(const struct db_config *cfg, struct db_pool **out);

/* Close every connection and free <p>. All connections must be checked in.
 * Accepts NULL. */
void db_pool_free(struct db_pool *p);

/*
 * Take a connection from <p> for the calling thread.
 *   out: receives the connection, owned by the pool; give it back with
 *        db_checkin() exactly once.
 * Returns ERR_OK; ERR_TIMEDOUT (none free within checkout_timeout_ms);
 * ERR_UNAVAILABLE (the connection was broken and could not be re-established).
 * Blocks up to checkout_timeout_ms, plus a reconnect attempt.
 */
LOOM_MUST_CHECK enum err db_checkout(struct db_pool *p, struct db_conn **out);

/*
 * Give <c> back to <p>. A transaction left open is rolled back; a broken
 * connection is reset first (blocking, bounded by connect_timeout). Accepts
 * NULL <c>.
 */
void db_checkin(struct db_pool *p, struct db_conn *c);

/* Start, commit, roll back a transaction on <c>. db_begin and db_commit
 * return ERR_OK, ERR_UNAVAILABLE (connection lost), ERR_DB; a commit that
 * fails for a serialization failure or deadlock returns ERR_UNAVAILABLE too
 * (retrying may succeed). db_rollback never fails visibly: a broken
 * connection is reset at checkin. */
LOOM_MUST_CHECK enum err db_begin(struct db_conn *c);
LOOM_MUST_CHECK enum err db_commit(struct db_conn *c);
void db_rollback(struct db_conn *c);

/*
 * A statement prepared once per connection on first use (PQprepare) and then
 * run with PQexecPrepared. Declare them `static const` at file scope; the
 * pool remembers by address which ones each connection has prepared.
 */
struct db_stmt {
    const char *name; /* unique server-side name, e.g. "jobdb_get" */
    const char *sql;  /* one statement with $1..$n placeholders */
    int n_params;     /* number of placeholders */
};

/*
 * Run a prepared statement on <c> with text parameters.
 *   params: n = st->n_params NUL-terminated strings (NULL entries are SQL
 *           NULL); borrowed.
 *   out:    if not NULL, receives the result (free with db_res_free()); on
 *           failure *out is NULL.
 * Returns ERR_OK (command or rows); and, mapped from the SQLSTATE:
 * ERR_EXISTS (23505 unique violation), ERR_NOTFOUND (23503 foreign key),
 * ERR_INVAL (23502, 23514, class 22: bad data or check constraint),
 * ERR_UNAVAILABLE (connection lost: class 08, 57P01-03; 40001 and 40P01:
 * serialization failure or deadlock; 57014 statement timeout), ERR_DB
 * (anything else); ERR_NOMEM. After an error the transaction is aborted:
 * the caller rolls back. Blocks for one round trip (two on first use).
 */
LOOM_MUST_CHECK enum err db_exec_stmt(struct db_conn *c, const struct db_stmt *st,
                                      const char *const *params, struct db_res **out);

/*
 * Run prepared statement <st> <n> times, pipelined (libpq pipeline mode):
 * the runs go out back to back and their results come back together, so n
 * runs cost about n / DB_PIPELINE_CHUNK round trips instead of n.
 *   params: n * st->n_params values, run i's at params[i * st->n_params];
 *           borrowed.
 *   outs:   if not NULL, n entries; on success outs[i] receives run i's
 *           result (free each with db_res_free()); on failure all are NULL.
 * Call inside db_begin(): a failure stops the runs after it (the server
 * skips them) and the caller rolls back.
 * Returns ERR_OK when every run succeeded, else the first failure, mapped as
 * in db_exec_stmt(). n = 0 returns ERR_OK at once. Blocks.
 */
LOOM_MUST_CHECK enum err db_exec_batch(struct db_conn *c, const struct db_stmt *st, size_t n,
                                       const char *const *params, struct db_res **outs);

/*
 * Run <n> (1..DB_PIPELINE_CHUNK) different prepared statements on <c> in one
 * round trip (libpq pipeline mode, one sync point): statement i with the
 * parameters params[i] (st->n_params strings each; borrowed). Outside
 * db_begin() the runs share one implicit transaction, so reads see one
 * snapshot and a failure undoes every run.
 *   outs: n entries; on success outs[i] receives run i's result (free each
 *         with db_res_free()); on failure all are NULL.
 * Returns ERR_OK when every run succeeded, else the first failure, mapped as
 * in db_exec_stmt(); ERR_INVAL when n is over DB_PIPELINE_CHUNK. n = 0
 * returns ERR_OK at once. Blocks for one round trip (plus one per statement
 * this connection has not prepared yet).
 */
LOOM_MUST_CHECK enum err db_exec_multi(struct db_conn *c, const struct db_stmt *const *sts,
                                       const char *const *const *params, size_t n,
                                       struct db_res **outs);

/* Runs per pipeline sync in db_exec_batch(). Their results (a few hundred
 * bytes each at most for our statements) must fit the socket buffers, since
 * the results of a chunk are read only after the whole chunk is sent. */
#define DB_PIPELINE_CHUNK 256

/*
 * COPY rows in: run <sql>, a constant `COPY table (columns) FROM STDIN`
 * (text format) in the caller, and send <data>, <len> bytes of rows in
 * COPY's text format: columns separated by a tab, each row ended by a
 * newline, \N for NULL, a backslash, tab, newline or carriage return in a
 * value written as \\, \t, \n, \r (PostgreSQL docs, "COPY", File Formats).
 * The server parses and inserts the rows with its bulk path, without the
 * per-value array parsing of an INSERT over unnest(). Inside db_begin() the
 * rows belong to the transaction.
 * Returns ERR_OK; the errors of db_exec_stmt() (a malformed row or value is
 * class 22: ERR_INVAL; a duplicate key ERR_EXISTS); ERR_DB when <sql> did
 * not start a COPY FROM STDIN; ERR_UNAVAILABLE when the rows or their end
 * could not be sent (the connection is then given up and reset at
 * check-in). After an error the transaction is aborted:
 * the caller rolls back. Blocks for one round trip plus the sending.
 */
LOOM_MUST_CHECK enum err db_copy_in(struct db_conn *c, const char *sql, const char *data,
                                    size_t len);

/*
 * Append one row of <n> values to <b> in COPY's text format, as
 * db_copy_in() takes it: NULL entries become \N, the other values (borrowed,
 * NUL-terminated) are escaped as above.
 * Returns ERR_OK; the errors of buf_append() (ERR_NOMEM, ERR_TOOBIG past
 * the buf's cap), with <b> then holding part of the row: discard it.
 */
LOOM_MUST_CHECK enum err db_copy_row(struct buf *b, const char *const *vals, size_t n);

/* Run one constant statement with PQexecParams (no preparation). <sql> must
 * be a literal in the caller; params, out and errors as db_exec_stmt(). */
LOOM_MUST_CHECK enum err db_exec(struct db_conn *c, const char *sql, int n_params,
                                 const char *const *params, struct db_res **out);

/* Number of rows in <r>. */
size_t db_res_rows(const struct db_res *r);

/* Number of rows a command touched (UPDATE, DELETE, INSERT), 0 if unknown. */
uint64_t db_res_affected(const struct db_res *r);

/* Value at <row>, <col> as text, or NULL for SQL NULL. Borrowed from <r>.
 * Out-of-range indexes are a programmer error (abort). */
const char *db_res_text(const struct db_res *r, size_t row, int col);

/* Free <r>. Accepts NULL. */
void db_res_free(struct db_res *r);

/* How many connections <p> holds and how many are idle now (for /metrics;
 * a snapshot, already stale when it returns). */
void db_pool_stats(struct db_pool *p, size_t *n_conns, size_t *n_idle);

/* The server process id serving <c> (for tests and logs). */
int db_conn_backend_pid(const struct db_conn *c);

/*
 * The text of the last database error seen by the calling thread (the
 * server's message, or libpq's when the connection failed); "" if none.
 * Static thread-local storage, valid until the thread's next db call.
 */
const char *db_last_error(void);

/* A migration: a version, a name and its statements, applied in order in
 * one transaction. */
struct db_migration {
    int version;                   /* 1, 2, 3 ... strictly increasing */
    const char *name;              /* e.g. "init" */
    const char *const *statements; /* n_statements constant SQL statements */
    size_t n_statements;
};

/*
 * Bring the schema up to date: under a session advisory lock (key
 * DB_MIGRATE_LOCK_KEY, per schema) so concurrent starters apply each
 * migration once, create schema_migrations if missing, then apply each
 * migration not yet recorded, each in its own transaction together with
 * its schema_migrations row (version, name, sha256 of its text, time).
 *   list:    borrowed, n entries, versions strictly increasing from 1.
 *   applied: if not NULL, receives how many migrations this call applied.
 * Returns ERR_OK (also when nothing was left to do); ERR_STATE (a recorded
 * migration's text changed since it was applied: its checksum differs);
 * ERR_VERSION (the database holds a migration newer than this build knows);
 * the errors of db_exec_stmt() (the failing migration is rolled back and
 * db_last_error() names the statement's error). Blocks.
 */
LOOM_MUST_CHECK enum err db_migrate(struct db_pool *p, const struct db_migration *list, size_t n,
                                    int *applied);

/* First key of the two-key advisory lock db_migrate() takes ('LOOM'); the
 * second key is hashtext(current_schema()). */
#define DB_MIGRATE_LOCK_KEY 0x4c4f4f4d

/*
 * Drop schema <name> and everything in it (tests use it to clean up).
 * Returns ERR_OK (also if it did not exist), ERR_INVAL (bad name), the
 * errors of db_checkout() and db_exec_stmt().
 */
LOOM_MUST_CHECK enum err db_drop_schema(struct db_pool *p, const char *name);

#endif
