/*
 * Tests for the jobstore's PostgreSQL layer (db.c, jobdb.c, jobdb_schema.c)
 * against a real server: LOOM_TEST_PG_URL (set by `make test`, which runs
 * this binary from tests/integration/jobdb.sh). Without it the binary says
 * so and exits 0 (`make test-unit` has no database); with it set but
 * unreachable, every test fails. Each test works in its own fresh schema,
 * so several runs can share one server.
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/buf.h"
#include "../../services/jobstore/db.h"
#include "../../services/jobstore/jobdb.h"
#include "../../services/jobstore/jobdb_schema.h"

#define T0 1700000000LL

static const char *pg_url;
static int schema_seq;

struct fx {
    char schema[64];
    struct jobdb *db;
};

static void fx_config(struct db_config *cfg, const char *schema, unsigned n_conns)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->url = pg_url;
    cfg->n_conns = n_conns;
    cfg->checkout_timeout_ms = 10000;
    cfg->statement_timeout_ms = 30000;
    cfg->application_name = schema;
    cfg->schema = schema;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct db_config cfg;

    if (!f)
        return -1;
    snprintf(f->schema, sizeof f->schema, "t_jobdb_%d_%d", (int)getpid(), ++schema_seq);
    fx_config(&cfg, f->schema, 4);
    if (jobdb_open(&cfg, &f->db) != ERR_OK) {
        fprintf(stderr, "cannot open %s: %s\n", pg_url, db_last_error());
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    if (!f)
        return 0;
    if (db_drop_schema(jobdb_pool(f->db), f->schema) != ERR_OK)
        fprintf(stderr, "cannot drop %s: %s\n", f->schema, db_last_error());
    jobdb_close(f->db);
    free(f);
    return 0;
}

/* Run one constant statement on the fixture's schema; return the first
 * column of the first row as a heap string ("" when no row). */
static char *sql1(struct jobdb *db, const char *sql, int n, const char *const *params)
{
    struct db_conn *c = NULL;
    struct db_res *r = NULL;
    char *out;

    assert_int_equal(db_checkout(jobdb_pool(db), &c), ERR_OK);
    if (db_exec(c, sql, n, params, &r) != ERR_OK)
        fail_msg("sql failed: %s: %s", sql, db_last_error());
    out = strdup(db_res_rows(r) > 0 && db_res_text(r, 0, 0) ? db_res_text(r, 0, 0) : "");
    db_res_free(r);
    db_checkin(jobdb_pool(db), c);
    return out;
}

static long long sql_int(struct jobdb *db, const char *sql)
{
    char *s = sql1(db, sql, 0, NULL);
    long long v = strtoll(s, NULL, 10);

    free(s);
    return v;
}

/* Every job row, and every event row, as text: for before/after equality. */
static char *snapshot(struct jobdb *db)
{
    return sql1(db,
                "SELECT coalesce(string_agg(j::text, E'\\n' ORDER BY id), '') || E'\\n--\\n' ||"
                " coalesce((SELECT string_agg(concat_ws(',', block_number, block_hash, log_index,"
                " kind, chain_job_id, flag), E'\\n' ORDER BY block_number, log_index)"
                " FROM chain_events), '') FROM jobs j",
                0, NULL);
}

/* ------------------------------------------------------------- fixtures */

static void fill(uint8_t *b, size_t n, uint8_t tag, uint8_t k)
{
    memset(b, 0, n);
    b[0] = tag;
    b[n - 1] = k;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    size_t i;

    out[0] = '0', out[1] = 'x';
    for (i = 0; i < n; i++)
        snprintf(out + 2 + 2 * i, 3, "%02x", b[i]);
}

/* Client k's address, job k's chain id and spec hash, as bytes and text. */
#define CLIENT   0xc1
#define WORKER_A 0xa1
#define WORKER_B 0xb2
static void addr_hex(uint8_t k, char out[43])
{
    uint8_t a[20];

    fill(a, 20, 0, k);
    hex(a, 20, out);
}
static void chain_id_hex(uint8_t k, char out[67])
{
    uint8_t b[32];

    fill(b, 32, 0x1d, k);
    hex(b, 32, out);
}
static void spec_hex(uint8_t k, char out[67])
{
    uint8_t b[32];

    fill(b, 32, 0x5e, k);
    hex(b, 32, out);
}

static int64_t create_job(struct jobdb *db, uint8_t k, enum jobdb_type type, uint8_t client,
                          const char *quote_wei)
{
    char addr[43], cid[67], spec[67];
    struct jobdb_new_job in = {0};
    struct jobdb_job j;
    int64_t id;

    addr_hex(client, addr);
    chain_id_hex(k, cid);
    spec_hex(k, spec);
    in.title = "render a teapot";
    in.description = "1920x1080, 64 samples";
    in.type = type;
    in.price = "12.50";
    in.wallet_address = addr;
    in.cloud_link = "https://example.org/in";
    in.script_path = "job.json";
    in.chain_job_id = cid;
    in.price_usd_cents = 1250;
    in.quote_wei = quote_wei;
    in.spec_sha256 = spec;
    assert_int_equal(jobdb_create(db, &in, &j), ERR_OK);
    id = j.id;
    jobdb_job_release(&j);
    return id;
}

/* Block n of fork f: hash tagged with f, parent = block n-1 of fork f
 * (the fork's blocks branch off fork 0 at <base>). */
static struct jobdb_block blk(uint64_t n, uint8_t f, uint64_t base)
{
    struct jobdb_block b;

    memset(&b, 0, sizeof b);
    b.number = n;
    fill(b.hash, 32, n > base ? f : 0, (uint8_t)n);
    b.hash[1] = 0xbb;
    fill(b.parent_hash, 32, n - 1 > base ? f : 0, (uint8_t)(n - 1));
    b.parent_hash[1] = 0xbb;
    return b;
}

static struct jobdb_event ev(enum jobdb_event_kind kind, const struct jobdb_block *b,
                             uint32_t log_index, uint8_t k)
{
    struct jobdb_event e;

    memset(&e, 0, sizeof e);
    e.kind = kind;
    e.block_number = b->number;
    memcpy(e.block_hash, b->hash, 32);
    e.log_index = log_index;
    fill(e.tx_hash, 32, 0x7a, (uint8_t)(b->number * 16 + log_index));
    e.block_time_unix = T0 + (int64_t)b->number * 12;
    fill(e.job_id, 32, 0x1d, k);
    fill(e.client, 20, 0, CLIENT);
    fill(e.spec_hash, 32, 0x5e, k);
    return e;
}

static struct jobdb_event created(const struct jobdb_block *b, uint32_t li, uint8_t k,
                                  const char *wei, uint64_t cents)
{
    struct jobdb_event e = ev(JOBDB_EV_CREATED, b, li, k);

    snprintf(e.amount_wei, sizeof e.amount_wei, "%s", wei);
    e.price_usd_cents = cents;
    e.deadline_unix = T0 + 86400;
    e.max_runtime_s = 3600;
    e.window_s = 600;
    return e;
}

static struct jobdb_event claimed(const struct jobdb_block *b, uint32_t li, uint8_t k, uint8_t w)
{
    struct jobdb_event e = ev(JOBDB_EV_CLAIMED, b, li, k);

    fill(e.worker, 20, 0, w);
    e.expires_unix = T0 + 3600;
    return e;
}

static struct jobdb_event submitted(const struct jobdb_block *b, uint32_t li, uint8_t k, uint8_t w)
{
    struct jobdb_event e = ev(JOBDB_EV_SUBMITTED, b, li, k);

    fill(e.worker, 20, 0, w);
    fill(e.result_hash, 32, 0x9e, k);
    e.expires_unix = T0 + 7200;
    return e;
}

static enum err apply(struct jobdb *db, uint64_t from, uint64_t to, uint8_t fork, uint64_t base,
                      const struct jobdb_event *evs, size_t n, struct jobdb_changes *ch)
{
    struct jobdb_block blocks[64];
    struct jobdb_batch b = {0};
    struct jobdb_changes tmp;
    uint64_t i;
    enum err e;

    assert_true(to - from < 64);
    for (i = from; i <= to; i++)
        blocks[i - from] = blk(i, fork, base);
    b.from_block = from;
    b.to_block = to;
    b.blocks = blocks;
    b.n_blocks = (size_t)(to - from + 1);
    b.events = evs;
    b.n_events = n;
    e = jobdb_apply_batch(db, &b, ch ? ch : &tmp);
    if (!ch && e == ERR_OK)
        jobdb_changes_release(&tmp);
    return e;
}

static struct jobdb_job get(struct jobdb *db, int64_t id)
{
    struct jobdb_job j;

    assert_int_equal(jobdb_get(db, id, &j), ERR_OK);
    return j;
}

/* Equal strings, or both NULL. */
static void assert_str_or_null(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

/* Each change of a successful apply or rollback carries its job's row as
 * committed, column for column (what the feed announces, with no read
 * after the transaction), and the checkpoint is the one now stored. */
static void assert_changes_committed(struct jobdb *db, const struct jobdb_changes *ch)
{
    struct jobdb_checkpoint cp;
    size_t i;
    int t;

    for (i = 0; i < ch->n; i++) {
        const struct jobdb_job *m = &ch->items[i].job;
        struct jobdb_job d = get(db, ch->items[i].job_id);
        assert_int_equal(m->id, ch->items[i].job_id);
        assert_int_equal(m->status, ch->items[i].to);
        assert_int_equal(m->status, d.status);
        assert_int_equal(m->type, d.type);
        assert_int_equal(m->progress, d.progress);
        assert_int_equal(m->created_at_ms, d.created_at_ms);
        assert_string_equal(m->title, d.title);
        assert_string_equal(m->chain_job_id, d.chain_job_id);
        assert_string_equal(m->spec_sha256, d.spec_sha256);
        assert_int_equal(m->price_usd_cents, d.price_usd_cents);
        assert_str_or_null(m->worker_address, d.worker_address);
        assert_str_or_null(m->escrow_wei, d.escrow_wei);
        assert_str_or_null(m->result_sha256, d.result_sha256);
        assert_str_or_null(m->funding_flag, d.funding_flag);
        assert_int_equal(m->deadline_unix, d.deadline_unix);
        assert_int_equal(m->claim_expires_unix, d.claim_expires_unix);
        assert_int_equal(m->challenge_ends_unix, d.challenge_ends_unix);
        assert_int_equal(m->max_runtime_s, d.max_runtime_s);
        for (t = 0; t < JOBDB_TR__COUNT; t++) {
            assert_str_or_null(m->tx[t].tx_hash, d.tx[t].tx_hash);
            assert_int_equal(m->tx[t].at_unix, d.tx[t].at_unix);
        }
        jobdb_job_release(&d);
    }
    assert_int_equal(jobdb_get_checkpoint(db, &cp), ERR_OK);
    assert_int_equal(ch->checkpoint.block_number, cp.block_number);
    assert_memory_equal(ch->checkpoint.block_hash, cp.block_hash, 32);
}

/* ---------------------------------------------------------------- tests */

struct opener {
    const char *schema;
    enum err e;
};

static void *open_cb(void *arg)
{
    struct opener *o = arg;
    struct db_config cfg;
    struct jobdb *db = NULL;

    fx_config(&cfg, o->schema, 1);
    o->e = jobdb_open(&cfg, &db);
    jobdb_close(db);
    return NULL;
}

static void test_migrations(void **state)
{
    struct fx *f = *state;
    const struct db_migration *list;
    pthread_t th[4];
    struct opener op[4];
    char schema[80];
    size_t n;
    int applied = -1, i;
    char *s;

    list = jobdb_schema_migrations(&n);
    assert_int_equal(n, 4);
    /* The fixture applied them; again is a no-op. */
    assert_int_equal(db_migrate(jobdb_pool(f->db), list, n, &applied), ERR_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM schema_migrations"), 4);
    s = sql1(f->db,
             "SELECT string_agg(version || ':' || name || ':' || length(checksum), ','"
             " ORDER BY version) FROM schema_migrations",
             0, NULL);
    assert_string_equal(s, "1:init:64,2:job_terms:64,3:hex_checks:64,4:events_key:64");
    free(s);

    /* Four starters on one fresh schema at once: one applies, all succeed. */
    snprintf(schema, sizeof schema, "%s_race", f->schema);
    for (i = 0; i < 4; i++) {
        op[i].schema = schema;
        assert_int_equal(pthread_create(&th[i], NULL, open_cb, &op[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(op[i].e, ERR_OK);
    }
    {
        const char *p[1] = {schema};
        s = sql1(f->db,
                 "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename IN"
                 " ('jobs','job_files','chain_events','chain_blocks','chain_checkpoint',"
                 "'auth_nonces','schema_migrations')",
                 1, p);
        assert_string_equal(s, "7");
        free(s);
    }
    assert_int_equal(db_drop_schema(jobdb_pool(f->db), schema), ERR_OK);

    /* A recorded migration whose text changed, or a newer database. */
    s = sql1(f->db, "SELECT checksum FROM schema_migrations WHERE version = 1", 0, NULL);
    free(sql1(f->db, "UPDATE schema_migrations SET checksum = 'x' WHERE version = 1 RETURNING 1", 0,
              NULL));
    assert_int_equal(db_migrate(jobdb_pool(f->db), list, n, &applied), ERR_STATE);
    {
        const char *p[1] = {s};
        free(sql1(f->db,
                  "UPDATE schema_migrations SET checksum = $1 WHERE version = 1"
                  " RETURNING 1",
                  1, p));
    }
    free(s);
    assert_int_equal(db_migrate(jobdb_pool(f->db), list, n, &applied), ERR_OK);
    free(sql1(f->db, "INSERT INTO schema_migrations VALUES (5, 'future', 'x') RETURNING 1", 0,
              NULL));
    assert_int_equal(db_migrate(jobdb_pool(f->db), list, n, &applied), ERR_VERSION);
}

/* Run <sql> on a connection of <p>; return its error (result dropped). */
static enum err pool_exec(struct db_pool *p, const char *sql, int n, const char *const *params)
{
    struct db_conn *c = NULL;
    struct db_res *r = NULL;
    enum err e;

    assert_int_equal(db_checkout(p, &c), ERR_OK);
    e = db_exec(c, sql, n, params, &r);
    db_res_free(r);
    db_checkin(p, c);
    return e;
}

/* Run constant <sql> on a connection of <p>; return the first column of
 * its first row as a heap string. */
static char *pool_sql1(struct db_pool *p, const char *sql)
{
    struct db_conn *c = NULL;
    struct db_res *r = NULL;
    char *out;

    assert_int_equal(db_checkout(p, &c), ERR_OK);
    if (db_exec(c, sql, 0, NULL, &r) != ERR_OK)
        fail_msg("sql failed: %s: %s", sql, db_last_error());
    out = strdup(db_res_rows(r) > 0 && db_res_text(r, 0, 0) ? db_res_text(r, 0, 0) : "");
    db_res_free(r);
    db_checkin(p, c);
    return out;
}

/* Every CHECK constraint of schema <schema> as "table.name: definition"
 * lines, ordered, from pg_constraint. Heap string. */
static char *check_defs(struct jobdb *db, const char *schema)
{
    return sql1(db,
                "SELECT string_agg(cl.relname || '.' || co.conname || ': ' ||"
                " pg_get_constraintdef(co.oid), E'\n' ORDER BY cl.relname, co.conname)"
                " FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid"
                " JOIN pg_namespace n ON n.oid = co.connamespace"
                " WHERE co.contype = 'c' AND n.nspname = $1",
                1, &schema);
}

#define H64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define A40 "00112233445566778899aabbccddeeff00112233"

/* Set column <col> of every jobs row to values its check must refuse
 * (addr: 40 hex digits, else 64) and expect ERR_INVAL (check_violation)
 * for each: one digit too many, one too few, an upper-case digit, no "0x",
 * "0X", a trailing newline at the right length, a non-ASCII character at
 * the right length in characters, "", "0x". */
static void refuses_bad_values(struct db_pool *p, const char *sql, const char *col, int addr)
{
    static const char *const bad32[] = {
        "0x" H64 "0",
        "0x"
        "0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        "0x"
        "A0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        "00" H64,
        "0X" H64,
        "0x"
        "0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
        "0x"
        "\xc3\xa9"
        "0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        "",
        "0x",
    };
    static const char *const bad20[] = {
        "0x" A40 "0",
        "0x"
        "0112233445566778899aabbccddeeff00112233",
        "0x"
        "0112233445566778899AABBCCDDEEFF00112233a",
        "00" A40,
        "0X" A40,
        "0x"
        "0112233445566778899aabbccddeeff00112233\n",
        "0x"
        "\xc3\xa9"
        "0112233445566778899aabbccddeeff00112233",
        "",
        "0x",
    };
    const char *const *bad = addr ? bad20 : bad32;
    size_t n = addr ? sizeof bad20 / sizeof bad20[0] : sizeof bad32 / sizeof bad32[0];
    size_t i;

    for (i = 0; i < n; i++) {
        const char *v[1] = {bad[i]};

        if (pool_exec(p, sql, 1, v) != ERR_INVAL)
            fail_msg("%s accepted bad value %zu", col, i);
    }
}

/* refuses_bad_values() with the statement that sets <col>. */
static void refuses_bad_hex(struct db_pool *p, const char *col, int addr)
{
    static const char *const sqls[][2] = {
        {"chain_job_id", "UPDATE jobs SET chain_job_id = $1"},
        {"spec_sha256", "UPDATE jobs SET spec_sha256 = $1"},
        {"refunded_tx", "UPDATE jobs SET refunded_tx = $1"},
        {"wallet_address", "UPDATE jobs SET wallet_address = $1"},
        {"worker_address", "UPDATE jobs SET worker_address = $1"},
    };
    const char *sql = NULL;
    size_t i;

    for (i = 0; i < sizeof sqls / sizeof sqls[0]; i++)
        if (strcmp(sqls[i][0], col) == 0)
            sql = sqls[i][1];
    assert_non_null(sql);
    refuses_bad_values(p, sql, col, addr);
}

/* A pool on a new schema, <f->schema> + "_" + <suffix> (its name in
 * <schema>), that migrations 1..<upto> made. */
static struct db_pool *migrated_to(struct fx *f, const char *suffix, int upto, char schema[80])
{
    const struct db_migration *list;
    struct db_pool *p = NULL;
    struct db_config cfg;
    size_t n;
    int applied = -1;

    list = jobdb_schema_migrations(&n);
    assert_int_equal(n, 4);
    snprintf(schema, 80, "%s_%s", f->schema, suffix);
    fx_config(&cfg, schema, 1);
    assert_int_equal(db_pool_new(&cfg, &p), ERR_OK);
    assert_int_equal(db_migrate(p, list, (size_t)upto, &applied), ERR_OK);
    assert_int_equal(applied, upto);
    return p;
}

/* The indexes of chain_events in <schema>, schema name left out. */
static char *event_index_defs(struct jobdb *db, const char *schema)
{
    return sql1(db,
                "SELECT string_agg(indexname || ': ' || replace(indexdef, schemaname || '.', ''),"
                " E'\n' ORDER BY indexname) FROM pg_indexes"
                " WHERE schemaname = $1 AND tablename = 'chain_events'",
                1, &schema);
}

/* Migration 4 on a database that migrations 1-3 made and filled: the key
 * becomes (block_number, log_index, block_hash), the block_number index
 * goes, the rows stay, the indexes equal a fresh database's, and an event
 * held twice by (block hash, log index) is still refused. */
static void test_migration_events_key(void **state)
{
    struct fx *f = *state;
    const struct db_migration *list;
    char schema[80];
    struct db_pool *p = migrated_to(f, "m4", 3, schema);
    char *s;
    size_t n;
    int applied = -1;

    list = jobdb_schema_migrations(&n);
    s = event_index_defs(f->db, schema);
    assert_string_equal(s, "chain_events_block: CREATE INDEX chain_events_block ON chain_events"
                           " USING btree (block_number)\n"
                           "chain_events_job: CREATE INDEX chain_events_job ON chain_events"
                           " USING btree (chain_job_id, block_number, log_index)\n"
                           "chain_events_pkey: CREATE UNIQUE INDEX chain_events_pkey ON"
                           " chain_events USING btree (block_hash, log_index)");
    free(s);
    /* Two blocks, three events. */
    assert_int_equal(pool_exec(p,
                               "INSERT INTO chain_events (block_number, block_hash, log_index,"
                               " tx_hash, block_time, kind) VALUES"
                               " (5, '0x" H64 "', 0, '0x" H64 "', now(), 'JobCreated'),"
                               " (5, '0x" H64 "', 1, '0x" H64 "', now(), 'JobCreated'),"
                               " (6, '0x" A40 "ffffffffffffffffffffffff', 0, '0x" H64
                               "', now(), 'Withdrawn')",
                               0, NULL),
                     ERR_OK);

    assert_int_equal(db_migrate(p, list, n, &applied), ERR_OK);
    assert_int_equal(applied, 1);
    s = event_index_defs(f->db, schema);
    assert_string_equal(s, "chain_events_job: CREATE INDEX chain_events_job ON chain_events"
                           " USING btree (chain_job_id, block_number, log_index)\n"
                           "chain_events_pkey: CREATE UNIQUE INDEX chain_events_pkey ON"
                           " chain_events USING btree (block_number, log_index, block_hash)");
    {
        char *fresh = event_index_defs(f->db, f->schema);
        assert_string_equal(fresh, s);
        free(fresh);
    }
    free(s);
    s = pool_sql1(p, "SELECT string_agg(block_number || '/' || log_index || '/' || kind, ','"
                     " ORDER BY block_number, log_index) FROM chain_events");
    assert_string_equal(s, "5/0/JobCreated,5/1/JobCreated,6/0/Withdrawn");
    free(s);
    assert_int_equal(pool_exec(p,
                               "INSERT INTO chain_events (block_number, block_hash, log_index,"
                               " tx_hash, block_time, kind) VALUES"
                               " (5, '0x" H64 "', 1, '0x" H64 "', now(), 'JobClaimed')",
                               0, NULL),
                     ERR_EXISTS);
    db_pool_free(p);
    assert_int_equal(db_drop_schema(jobdb_pool(f->db), schema), ERR_OK);
}

/* Migration 3 on a database that migrations 1 and 2 made and filled, and on
 * a fresh one (the fixture's): the same constraints, the rows kept, the
 * same values refused with check_violation (ERR_INVAL), NULL still allowed. */
static void test_migration_hex_checks(void **state)
{
    struct fx *f = *state;
    const struct db_migration *list;
    char schema[80];
    struct db_pool *p = migrated_to(f, "m3", 2, schema);
    char *fresh, *upgraded, *before;
    size_t n;
    int applied = -1, k;

    list = jobdb_schema_migrations(&n);
    /* Migration 1's form; what migration 3 must turn it into: each hex check
     * rewritten under its name, every other constraint as it was. */
    {
        const char *pr[1] = {schema};

        before = sql1(f->db,
                      "SELECT regexp_replace(regexp_replace(string_agg(cl.relname || '.' ||"
                      " co.conname || ': ' || pg_get_constraintdef(co.oid), E'\n'"
                      " ORDER BY cl.relname, co.conname),"
                      " '\\((\\w+) ~ ''\\^0x\\[0-9a-f\\]\\{64\\}\\$''::text\\)',"
                      " '((length(\\1) = 66) AND (\\1 ~ ''^0x[0-9a-f]*$''::text))', 'g'),"
                      " '\\((\\w+) ~ ''\\^0x\\[0-9a-f\\]\\{40\\}\\$''::text\\)',"
                      " '((length(\\1) = 42) AND (\\1 ~ ''^0x[0-9a-f]*$''::text))', 'g')"
                      " FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid"
                      " JOIN pg_namespace n ON n.oid = co.connamespace"
                      " WHERE co.contype = 'c' AND n.nspname = $1",
                      1, pr);
    }
    upgraded = check_defs(f->db, schema);
    assert_non_null(strstr(upgraded, "jobs.jobs_chain_job_id_check: CHECK ((chain_job_id ~ "
                                     "'^0x[0-9a-f]{64}$'::text))"));
    assert_string_not_equal(before, upgraded);
    free(upgraded);
    assert_int_equal(pool_exec(p,
                               "INSERT INTO jobs (id, title, type, price, wallet_address,"
                               " chain_job_id, price_usd_cents, spec_sha256, funded_tx)"
                               " VALUES (7, 't', 'IA', 1, '0x" A40 "', '0x" H64 "', 100,"
                               " '0x" H64 "', '0x" H64 "')",
                               0, NULL),
                     ERR_OK);
    assert_int_equal(pool_exec(p,
                               "INSERT INTO chain_events (block_number, block_hash, log_index,"
                               " tx_hash, block_time, kind, chain_job_id, client)"
                               " VALUES (5, '0x" H64 "', 0, '0x" H64 "', now(), 'JobCreated',"
                               " '0x" H64 "', '0x" A40 "')",
                               0, NULL),
                     ERR_OK);
    assert_int_equal(pool_exec(p,
                               "INSERT INTO chain_checkpoint (block_number, block_hash)"
                               " VALUES (5, '0x" H64 "')",
                               0, NULL),
                     ERR_OK);
    assert_int_equal(pool_exec(p, "UPDATE jobs SET worker_address = '0X" A40 "'", 0, NULL),
                     ERR_INVAL);

    assert_int_equal(db_migrate(p, list, n, &applied), ERR_OK);
    assert_int_equal(applied, 2);
    upgraded = pool_sql1(p, "SELECT string_agg(version || ':' || name, ',' ORDER BY version)"
                            " FROM schema_migrations");
    assert_string_equal(upgraded, "1:init,2:job_terms,3:hex_checks,4:events_key");
    free(upgraded);

    /* The same constraints as a fresh database, names included, and exactly
     * the rewrite of migration 2's. */
    fresh = check_defs(f->db, f->schema);
    upgraded = check_defs(f->db, schema);
    assert_string_equal(fresh, upgraded);
    assert_string_equal(before, upgraded);
    free(before);
    assert_null(strstr(fresh, "{64}"));
    assert_null(strstr(fresh, "{40}"));
    assert_non_null(strstr(fresh,
                           "jobs.jobs_chain_job_id_check: CHECK (((length(chain_job_id) = 66)"
                           " AND (chain_job_id ~ '^0x[0-9a-f]*$'::text)))"));
    assert_non_null(strstr(fresh, "jobs.jobs_wallet_address_check: CHECK (((length(wallet_address)"
                                  " = 42) AND (wallet_address ~ '^0x[0-9a-f]*$'::text)))"));
    {
        const char *pr[1] = {f->schema};
        char *s = sql1(f->db,
                       "SELECT count(*) FROM pg_constraint co JOIN pg_namespace n"
                       " ON n.oid = co.connamespace WHERE co.contype = 'c' AND n.nspname = $1"
                       " AND pg_get_constraintdef(co.oid) LIKE '%^0x[0-9a-f]*$%'",
                       1, pr);

        assert_string_equal(s, "26"); /* 13 jobs, 1 job_files, 8 chain_events, 2+1+1 */
        free(s);
    }
    free(fresh);
    free(upgraded);

    /* The rows made before the migration are kept. */
    upgraded = pool_sql1(p, "SELECT (SELECT count(*) FROM jobs WHERE funded_tx = '0x" H64 "')"
                            " || '/' || (SELECT count(*) FROM chain_events WHERE client = '0x" A40
                            "') || '/' || (SELECT block_number FROM chain_checkpoint)");
    assert_string_equal(upgraded, "1/1/5");
    free(upgraded);

    /* Same refusals on the upgraded and on a fresh database (a job row made
     * in the fixture's schema through its own pool). */
    for (k = 0; k < 2; k++) {
        struct db_pool *q = k == 0 ? p : jobdb_pool(f->db);

        if (k == 1)
            assert_int_equal(pool_exec(q,
                                       "INSERT INTO jobs (id, title, type, price, wallet_address,"
                                       " chain_job_id, price_usd_cents, spec_sha256)"
                                       " VALUES (7, 't', 'IA', 1, '0x" A40 "', '0x" H64 "', 100,"
                                       " '0x" H64 "')",
                                       0, NULL),
                             ERR_OK);
        refuses_bad_hex(q, "chain_job_id", 0);
        refuses_bad_hex(q, "spec_sha256", 0);
        refuses_bad_hex(q, "refunded_tx", 0);
        refuses_bad_hex(q, "wallet_address", 1);
        refuses_bad_hex(q, "worker_address", 1);
        /* NULL where the column allows it, and good values, still pass. */
        assert_int_equal(pool_exec(q,
                                   "UPDATE jobs SET funded_tx = NULL, worker_address = NULL,"
                                   " result_sha256 = '0x" H64 "', claimed_tx = '0x" H64 "'",
                                   0, NULL),
                         ERR_OK);
        assert_int_equal(pool_exec(q, "UPDATE jobs SET worker_address = '0x" A40 "'", 0, NULL),
                         ERR_OK);
        /* chain_events: one row with a bad tx hash; an upper-case client. */
        assert_int_equal(pool_exec(q,
                                   "INSERT INTO chain_events (block_number, block_hash, log_index,"
                                   " tx_hash, block_time, kind) VALUES (6, '0x" H64 "', 1,"
                                   " '0x" H64 "0', now(), 'JobCreated')",
                                   0, NULL),
                         ERR_INVAL);
        assert_int_equal(pool_exec(q,
                                   "INSERT INTO chain_events (block_number, block_hash, log_index,"
                                   " tx_hash, block_time, kind, client) VALUES (6, '0x" H64 "', 1,"
                                   " '0x" H64 "', now(), 'JobCreated',"
                                   " '0x00112233445566778899AABBCCDDEEFF00112233')",
                                   0, NULL),
                         ERR_INVAL);
        assert_int_equal(pool_exec(q,
                                   "INSERT INTO auth_nonces (address, nonce, expires_at)"
                                   " VALUES ('0x" A40 "x', 'n', now())",
                                   0, NULL),
                         ERR_INVAL);
        assert_int_equal(pool_exec(q,
                                   "INSERT INTO chain_blocks (number, hash, parent_hash)"
                                   " VALUES (9, '0x" H64 "', '0x" H64 "\n')",
                                   0, NULL),
                         ERR_INVAL);
    }
    db_pool_free(p);
    assert_int_equal(db_drop_schema(jobdb_pool(f->db), schema), ERR_OK);
}

static void test_create_get(void **state)
{
    struct fx *f = *state;
    struct jobdb_new_job in = {0};
    struct jobdb_job j, g;
    char addr[43], cid[67], spec[67];
    int t;

    chain_id_hex(7, cid);
    spec_hex(7, spec);
    in.title = "train digits";
    in.type = JOBDB_TYPE_IA;
    in.price = "0.05";
    in.wallet_address = "0x00000000000000000000000000000000000000C1"; /* upper case accepted */
    in.external_links = "[\"https://a\"]";
    in.attachment_info = "{\"n\":1}";
    in.chain_job_id = cid + 2; /* without 0x */
    in.price_usd_cents = 500;
    in.quote_wei = "2000000000000000";
    in.spec_sha256 = spec;
    assert_int_equal(jobdb_create(f->db, &in, &j), ERR_OK);
    assert_true(j.id > 0);
    assert_string_equal(j.title, "train digits");
    assert_string_equal(j.description, "");
    assert_int_equal(j.type, JOBDB_TYPE_IA);
    assert_string_equal(j.price, "0.05");
    addr_hex(CLIENT, addr);
    assert_string_equal(j.wallet_address, addr);
    assert_int_equal(j.status, JOBDB_PENDING);
    assert_int_equal(j.progress, 0);
    assert_true(j.created_at_ms > T0 * 1000);
    assert_null(j.cloud_link);
    assert_null(j.script_path);
    assert_string_equal(j.external_links, "[\"https://a\"]");
    assert_string_equal(j.attachment_info, "{\"n\":1}");
    assert_null(j.worker_address);
    assert_string_equal(j.chain_job_id, cid);
    assert_int_equal(j.price_usd_cents, 500);
    assert_string_equal(j.quote_wei, "2000000000000000");
    assert_null(j.escrow_wei);
    assert_string_equal(j.spec_sha256, spec);
    assert_null(j.result_sha256);
    assert_int_equal(j.deadline_unix, 0);
    for (t = 0; t < JOBDB_TR__COUNT; t++)
        assert_null(j.tx[t].tx_hash);
    assert_null(j.funding_flag);

    assert_int_equal(jobdb_get(f->db, j.id, &g), ERR_OK);
    assert_int_equal(g.id, j.id);
    assert_string_equal(g.chain_job_id, cid);
    assert_int_equal(g.created_at_ms, j.created_at_ms);
    jobdb_job_release(&g);
    assert_int_equal(jobdb_get_by_chain_id(f->db, cid, &g), ERR_OK);
    assert_int_equal(g.id, j.id);
    jobdb_job_release(&g);

    assert_int_equal(jobdb_get(f->db, j.id + 1000, &g), ERR_NOTFOUND);
    chain_id_hex(99, cid);
    assert_int_equal(jobdb_get_by_chain_id(f->db, cid, &g), ERR_NOTFOUND);
    assert_int_equal(jobdb_get_by_chain_id(f->db, "0x12", &g), ERR_INVAL);

    /* Same chain id again. */
    chain_id_hex(7, cid);
    assert_int_equal(jobdb_create(f->db, &in, &g), ERR_EXISTS);
    /* Bad fields, each alone. */
    chain_id_hex(8, cid);
    in.chain_job_id = cid;
    {
        struct jobdb_new_job bad = in;
        bad.title = "";
        assert_int_equal(jobdb_create(f->db, &bad, &g), ERR_INVAL);
        bad = in, bad.type = (enum jobdb_type)7;
        assert_int_equal(jobdb_create(f->db, &bad, &g), ERR_INVAL);
        bad = in, bad.price = "0.00";
        assert_int_equal(jobdb_create(f->db, &bad, &g), ERR_INVAL);
        bad = in, bad.price = "1e5";
        assert_int_equal(jobdb_create(f->db, &bad, &g), ERR_INVAL);
        bad = in, bad.price_usd_cents = 0;
        assert_int_equal(jobdb_create(f->db, &bad, &g), ERR_INVAL);
        bad = in, bad.wallet_address = "0x1234";
        assert_int_equal(jobdb_create(f->db, &bad, &g), ERR_INVAL);
        bad = in, bad.spec_sha256 = "zz";
        assert_int_equal(jobdb_create(f->db, &bad, &g), ERR_INVAL);
        bad = in, bad.quote_wei = "-1";
        assert_int_equal(jobdb_create(f->db, &bad, &g), ERR_INVAL);
    }
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM jobs"), 1);
    assert_int_equal(jobdb_create(f->db, &in, &g), ERR_OK);
    assert_int_equal(g.id, j.id + 2); /* the refused duplicate used up one sequence value */
    jobdb_job_release(&g);
    jobdb_job_release(&j);
}

static void test_list(void **state)
{
    struct fx *f = *state;
    struct jobdb_filter flt;
    struct jobdb_list l;
    struct jobdb_block b1 = blk(1, 0, 0);
    struct jobdb_event evs[2];
    int64_t ids[7];
    char addr[43];
    int i;

    for (i = 0; i < 7; i++)
        ids[i] = create_job(f->db, (uint8_t)(i + 1), i % 2 ? JOBDB_TYPE_GRAFICA : JOBDB_TYPE_IA,
                            i < 5 ? CLIENT : 0xc2, NULL);
    /* Pages of 3, newest first, until next_cursor is 0. */
    assert_int_equal(jobdb_list(f->db, NULL, 0, 3, &l), ERR_OK);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.jobs[0].id, ids[6]);
    assert_int_equal(l.jobs[2].id, ids[4]);
    assert_int_equal(l.next_cursor, ids[4]);
    int64_t cur = l.next_cursor;
    jobdb_list_release(&l);
    assert_int_equal(jobdb_list(f->db, NULL, cur, 3, &l), ERR_OK);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.jobs[0].id, ids[3]);
    assert_int_equal(l.jobs[2].id, ids[1]);
    cur = l.next_cursor;
    jobdb_list_release(&l);
    assert_int_equal(jobdb_list(f->db, NULL, cur, 3, &l), ERR_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.jobs[0].id, ids[0]);
    assert_int_equal(l.next_cursor, 0);
    jobdb_list_release(&l);

    memset(&flt, 0, sizeof flt);
    flt.has_type = 1, flt.type = JOBDB_TYPE_GRAFICA;
    assert_int_equal(jobdb_list(f->db, &flt, 0, 10, &l), ERR_OK);
    assert_int_equal(l.n, 3); /* jobs 2, 4, 6 */
    assert_int_equal(l.jobs[0].id, ids[5]);
    assert_int_equal(l.jobs[0].type, JOBDB_TYPE_GRAFICA);
    jobdb_list_release(&l);

    addr_hex(0xc2, addr);
    memset(&flt, 0, sizeof flt);
    flt.client = addr;
    assert_int_equal(jobdb_list(f->db, &flt, 0, 10, &l), ERR_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.jobs[0].id, ids[6]);
    assert_int_equal(l.jobs[1].id, ids[5]);
    jobdb_list_release(&l);

    /* Fund job 1 and let worker A claim it: status and worker filters. */
    evs[0] = created(&b1, 0, 1, "1000", 1250);
    evs[1] = claimed(&b1, 1, 1, WORKER_A);
    assert_int_equal(apply(f->db, 1, 1, 0, 0, evs, 2, NULL), ERR_OK);
    memset(&flt, 0, sizeof flt);
    flt.has_status = 1, flt.status = JOBDB_WORKING;
    assert_int_equal(jobdb_list(f->db, &flt, 0, 10, &l), ERR_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.jobs[0].id, ids[0]);
    jobdb_list_release(&l);
    addr_hex(WORKER_A, addr);
    memset(&flt, 0, sizeof flt);
    flt.worker = addr;
    flt.has_type = 1, flt.type = JOBDB_TYPE_IA;
    assert_int_equal(jobdb_list(f->db, &flt, 0, 10, &l), ERR_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.jobs[0].worker_address, addr);
    jobdb_list_release(&l);
    flt.has_status = 1, flt.status = JOBDB_OPEN;
    assert_int_equal(jobdb_list(f->db, &flt, 0, 10, &l), ERR_OK);
    assert_int_equal(l.n, 0);
    jobdb_list_release(&l);

    assert_int_equal(jobdb_list(f->db, NULL, 0, 0, &l), ERR_INVAL);
    assert_int_equal(jobdb_list(f->db, NULL, 0, JOBDB_LIST_MAX + 1, &l), ERR_INVAL);
    assert_int_equal(jobdb_list(f->db, NULL, -1, 5, &l), ERR_INVAL);
    flt.worker = "nope";
    assert_int_equal(jobdb_list(f->db, &flt, 0, 5, &l), ERR_INVAL);
}

static void test_progress_and_result(void **state)
{
    struct fx *f = *state;
    struct jobdb_block b1 = blk(1, 0, 0), b2 = blk(2, 0, 1);
    struct jobdb_event evs[2];
    struct jobdb_new_file rf = {"out.png", JOBDB_FILE_RESULT, NULL, 4096, "image/png"};
    struct jobdb_new_file in = {"scene.obj", JOBDB_FILE_INPUT, NULL, 100, "model/obj"};
    struct jobdb_file *files = NULL;
    struct jobdb_job j;
    char wa[43], wb[43], sha[67], sha2[67];
    size_t n = 0;
    int64_t id = create_job(f->db, 1, JOBDB_TYPE_GRAFICA, CLIENT, NULL);
    int64_t id2 = create_job(f->db, 2, JOBDB_TYPE_GRAFICA, CLIENT, NULL);

    addr_hex(WORKER_A, wa);
    addr_hex(WORKER_B, wb);
    spec_hex(0x40, sha);
    spec_hex(0x41, sha2);
    rf.sha256 = sha;
    in.sha256 = sha2;

    /* PENDING: no worker yet. */
    assert_int_equal(jobdb_update_progress(f->db, id, wa, 10), ERR_STATE);
    assert_int_equal(jobdb_set_result(f->db, id, wa, &rf), ERR_STATE);
    assert_int_equal(jobdb_update_progress(f->db, id + 100, wa, 10), ERR_NOTFOUND);
    assert_int_equal(jobdb_set_result(f->db, id + 100, wa, &rf), ERR_NOTFOUND);

    evs[0] = created(&b1, 0, 1, "1000", 1250);
    evs[1] = claimed(&b1, 1, 1, WORKER_A);
    assert_int_equal(apply(f->db, 1, 1, 0, 0, evs, 2, NULL), ERR_OK);

    assert_int_equal(jobdb_update_progress(f->db, id, wa, 42), ERR_OK);
    j = get(f->db, id);
    assert_int_equal(j.progress, 42);
    jobdb_job_release(&j);
    assert_int_equal(jobdb_update_progress(f->db, id, wb, 50), ERR_PERM);
    assert_int_equal(jobdb_update_progress(f->db, id, wa, 101), ERR_INVAL);
    assert_int_equal(jobdb_update_progress(f->db, id, wa, -1), ERR_INVAL);
    assert_int_equal(jobdb_update_progress(f->db, id, "0xbad", 5), ERR_INVAL);
    j = get(f->db, id);
    assert_int_equal(j.progress, 42);
    jobdb_job_release(&j);

    /* Files: inputs, duplicates, unknown job, results only by the worker. */
    assert_int_equal(jobdb_add_file(f->db, id, &in), ERR_OK);
    assert_int_equal(jobdb_add_file(f->db, id, &in), ERR_EXISTS);
    assert_int_equal(jobdb_add_file(f->db, id + 100, &in), ERR_NOTFOUND);
    assert_int_equal(jobdb_add_file(f->db, id, &rf), ERR_INVAL);
    {
        struct jobdb_new_file bad = in;
        bad.name = "";
        assert_int_equal(jobdb_add_file(f->db, id, &bad), ERR_INVAL);
        bad = in, bad.size_bytes = -1;
        assert_int_equal(jobdb_add_file(f->db, id, &bad), ERR_INVAL);
        bad = in, bad.sha256 = "abc";
        assert_int_equal(jobdb_add_file(f->db, id, &bad), ERR_INVAL);
    }
    assert_int_equal(jobdb_set_result(f->db, id, wb, &rf), ERR_PERM);
    assert_int_equal(jobdb_set_result(f->db, id, wa, &rf), ERR_OK);
    rf.name = "out2.png";
    rf.size_bytes = 8192;
    assert_int_equal(jobdb_set_result(f->db, id, wa, &rf), ERR_OK); /* replaces */
    assert_int_equal(jobdb_list_files(f->db, id, &files, &n), ERR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(files[0].name, "out2.png");
    assert_int_equal(files[0].role, JOBDB_FILE_RESULT);
    assert_int_equal(files[0].size_bytes, 8192);
    assert_string_equal(files[0].sha256, sha);
    assert_string_equal(files[0].content_type, "image/png");
    assert_string_equal(files[1].name, "scene.obj");
    assert_int_equal(files[1].role, JOBDB_FILE_INPUT);
    assert_int_equal(files[1].size_bytes, 100);
    assert_int_equal(files[1].job_id, id);
    jobdb_files_free(files, n);
    assert_int_equal(jobdb_list_files(f->db, id2, &files, &n), ERR_OK);
    assert_int_equal(n, 0);
    jobdb_files_free(files, n);
    assert_int_equal(jobdb_list_files(f->db, id + 100, &files, &n), ERR_NOTFOUND);

    /* After submission: no more progress, a result may still be uploaded. */
    evs[0] = submitted(&b2, 0, 1, WORKER_A);
    assert_int_equal(apply(f->db, 2, 2, 0, 0, evs, 1, NULL), ERR_OK);
    assert_int_equal(jobdb_update_progress(f->db, id, wa, 99), ERR_STATE);
    assert_int_equal(jobdb_update_progress(f->db, id, wb, 99), ERR_PERM);
    assert_int_equal(jobdb_set_result(f->db, id, wa, &rf), ERR_OK);
}

static void test_nonce(void **state)
{
    struct fx *f = *state;
    char a[43], b[43];

    addr_hex(CLIENT, a);
    addr_hex(WORKER_A, b);
    assert_int_equal(jobdb_consume_nonce(f->db, a, "n-1", T0 + 600), ERR_OK);
    assert_int_equal(jobdb_consume_nonce(f->db, a, "n-1", T0 + 600), ERR_EXISTS);
    assert_int_equal(jobdb_consume_nonce(f->db, b, "n-1", T0 + 600), ERR_OK);
    assert_int_equal(jobdb_consume_nonce(f->db, a, "n-2", 4102444800LL), ERR_OK);
    /* a's "n-1" had expired (T0 is in the past), so presenting n-2 dropped
     * it; b's expired "n-1" stays until b presents another nonce. */
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM auth_nonces"), 2);
    assert_int_equal(jobdb_consume_nonce(f->db, a, "n-2", 4102444800LL), ERR_EXISTS);
    assert_int_equal(jobdb_consume_nonce(f->db, a, "", T0), ERR_INVAL);
    assert_int_equal(jobdb_consume_nonce(f->db, a, "has space", T0), ERR_INVAL);
    assert_int_equal(jobdb_consume_nonce(f->db, "0x1", "n", T0), ERR_INVAL);
    assert_int_equal(jobdb_consume_nonce(f->db, a, "n-3", 0), ERR_INVAL);
}

static void assert_tx(const struct jobdb_tx *tx, uint64_t block, uint32_t li)
{
    uint8_t h[32];
    char want[67];

    fill(h, 32, 0x7a, (uint8_t)(block * 16 + li));
    hex(h, 32, want);
    assert_non_null(tx->tx_hash);
    assert_string_equal(tx->tx_hash, want);
    assert_int_equal(tx->at_unix, T0 + (int64_t)block * 12);
}

static void test_lifecycle(void **state)
{
    struct fx *f = *state;
    struct jobdb_block b[8];
    struct jobdb_event evs[4];
    struct jobdb_changes ch;
    struct jobdb_job j;
    char wa[43], want[67];
    uint8_t h[32];
    int64_t id1, id2, id3, id4;
    int i;

    for (i = 1; i < 8; i++)
        b[i] = blk((uint64_t)i, 0, 0);
    id1 = create_job(f->db, 1, JOBDB_TYPE_IA, CLIENT, "999");
    id2 = create_job(f->db, 2, JOBDB_TYPE_GRAFICA, CLIENT, NULL);
    id3 = create_job(f->db, 3, JOBDB_TYPE_IA, CLIENT, NULL);
    id4 = create_job(f->db, 4, JOBDB_TYPE_IA, CLIENT, NULL);
    addr_hex(WORKER_A, wa);

    /* Block 1: all four funded. */
    evs[0] = created(&b[1], 0, 1, "1000", 1250);
    evs[1] = created(&b[1], 1, 2, "1000", 1250);
    evs[2] = created(&b[1], 2, 3, "1000", 1250);
    evs[3] = created(&b[1], 3, 4, "1000", 1250);
    assert_int_equal(apply(f->db, 1, 1, 0, 0, evs, 4, &ch), ERR_OK);
    assert_int_equal(ch.n, 4);
    assert_int_equal(ch.n_applied, 4);
    assert_int_equal(ch.n_flagged, 0);
    assert_int_equal(ch.items[0].job_id, id1);
    assert_int_equal(ch.items[0].from, JOBDB_PENDING);
    assert_int_equal(ch.items[0].to, JOBDB_OPEN);
    assert_int_equal(ch.items[1].job_id, id2);
    assert_int_equal(ch.items[1].type, JOBDB_TYPE_GRAFICA);
    assert_changes_committed(f->db, &ch);
    jobdb_changes_release(&ch);
    j = get(f->db, id1);
    assert_int_equal(j.status, JOBDB_OPEN);
    assert_string_equal(j.escrow_wei, "1000");
    assert_int_equal(j.deadline_unix, T0 + 86400);
    assert_tx(&j.tx[JOBDB_TR_FUNDED], 1, 0);
    assert_null(j.funding_flag);
    jobdb_job_release(&j);

    /* Block 2: 1, 2, 3 claimed by A; block 3: 1 submitted, 2 disputed path. */
    evs[0] = claimed(&b[2], 0, 1, WORKER_A);
    evs[1] = claimed(&b[2], 1, 2, WORKER_A);
    evs[2] = claimed(&b[2], 2, 3, WORKER_A);
    assert_int_equal(apply(f->db, 2, 2, 0, 0, evs, 3, &ch), ERR_OK);
    assert_int_equal(ch.n, 3);
    assert_int_equal(ch.items[2].job_id, id3);
    assert_int_equal(ch.items[2].from, JOBDB_OPEN);
    assert_int_equal(ch.items[2].to, JOBDB_WORKING);
    assert_changes_committed(f->db, &ch);
    jobdb_changes_release(&ch);
    j = get(f->db, id1);
    assert_int_equal(j.status, JOBDB_WORKING);
    assert_string_equal(j.worker_address, wa);
    assert_int_equal(j.claim_expires_unix, T0 + 3600);
    assert_tx(&j.tx[JOBDB_TR_CLAIMED], 2, 0);
    jobdb_job_release(&j);

    evs[0] = submitted(&b[3], 0, 1, WORKER_A);
    evs[1] = submitted(&b[3], 1, 2, WORKER_A);
    evs[2] = ev(JOBDB_EV_REOPENED, &b[3], 2, 3);
    fill(evs[2].worker, 20, 0, WORKER_A);
    assert_int_equal(apply(f->db, 3, 3, 0, 0, evs, 3, NULL), ERR_OK);
    j = get(f->db, id1);
    assert_int_equal(j.status, JOBDB_SUBMITTED);
    fill(h, 32, 0x9e, 1);
    hex(h, 32, want);
    assert_string_equal(j.result_sha256, want);
    assert_int_equal(j.challenge_ends_unix, T0 + 7200);
    assert_tx(&j.tx[JOBDB_TR_SUBMITTED], 3, 0);
    jobdb_job_release(&j);
    j = get(f->db, id3);
    assert_int_equal(j.status, JOBDB_OPEN); /* lapsed claim reopened */
    assert_null(j.worker_address);
    assert_int_equal(j.claim_expires_unix, 0);
    assert_tx(&j.tx[JOBDB_TR_REOPENED], 3, 2);
    jobdb_job_release(&j);

    /* Block 4: 1 released (accepted), 2 disputed, 3 refunded; a withdrawal. */
    evs[0] = ev(JOBDB_EV_RELEASED, &b[4], 0, 1);
    snprintf(evs[0].amount_wei, sizeof evs[0].amount_wei, "1000");
    evs[0].by_client = 1;
    evs[1] = ev(JOBDB_EV_DISPUTED, &b[4], 1, 2);
    evs[2] = ev(JOBDB_EV_REFUNDED, &b[4], 2, 3);
    snprintf(evs[2].amount_wei, sizeof evs[2].amount_wei, "1000");
    evs[3] = ev(JOBDB_EV_WITHDRAWN, &b[4], 3, 0);
    fill(evs[3].account, 20, 0, WORKER_A);
    fill(evs[3].to, 20, 0, WORKER_A);
    snprintf(evs[3].amount_wei, sizeof evs[3].amount_wei, "1000");
    assert_int_equal(apply(f->db, 4, 4, 0, 0, evs, 4, &ch), ERR_OK);
    assert_int_equal(ch.n, 3);
    assert_int_equal(ch.n_applied, 4);
    assert_int_equal(ch.items[0].to, JOBDB_COMPLETED);
    assert_int_equal(ch.items[1].to, JOBDB_DISPUTED);
    assert_int_equal(ch.items[2].to, JOBDB_REFUNDED);
    assert_changes_committed(f->db, &ch);
    jobdb_changes_release(&ch);
    j = get(f->db, id1);
    assert_tx(&j.tx[JOBDB_TR_RELEASED], 4, 0);
    jobdb_job_release(&j);
    {
        char *s = sql1(f->db,
                       "SELECT concat_ws(',', kind, account, to_address, amount_wei, by_client)"
                       " FROM chain_events WHERE block_number = 4 ORDER BY log_index",
                       0, NULL);
        assert_string_equal(s, "PaymentReleased,1000,t");
        free(s);
    }
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM chain_events WHERE kind = 'Withdrawn'"
                                    " AND account = to_address AND amount_wei = 1000"),
                     1);

    /* Block 5: the arbiter rules job 2 for the client; job 4 split to the worker. */
    evs[0] = ev(JOBDB_EV_RESOLVED, &b[5], 0, 2);
    snprintf(evs[0].amount_wei, sizeof evs[0].amount_wei, "0");
    snprintf(evs[0].amount2_wei, sizeof evs[0].amount2_wei, "1000");
    evs[1] = claimed(&b[5], 1, 4, WORKER_B);
    assert_int_equal(apply(f->db, 5, 5, 0, 0, evs, 2, NULL), ERR_OK);
    j = get(f->db, id2);
    assert_int_equal(j.status, JOBDB_REFUNDED);
    assert_tx(&j.tx[JOBDB_TR_RESOLVED], 5, 0);
    jobdb_job_release(&j);
    evs[0] = ev(JOBDB_EV_DISPUTED, &b[6], 0, 4);
    evs[1] = ev(JOBDB_EV_RESOLVED, &b[6], 1, 4);
    snprintf(evs[1].amount_wei, sizeof evs[1].amount_wei, "600");
    snprintf(evs[1].amount2_wei, sizeof evs[1].amount2_wei, "400");
    assert_int_equal(apply(f->db, 6, 6, 0, 0, evs, 2, &ch), ERR_OK);
    assert_int_equal(ch.n, 1); /* one entry per job: WORKING -> COMPLETED */
    assert_int_equal(ch.items[0].job_id, id4);
    assert_int_equal(ch.items[0].from, JOBDB_WORKING);
    assert_int_equal(ch.items[0].to, JOBDB_COMPLETED);
    assert_changes_committed(f->db, &ch);
    jobdb_changes_release(&ch);
}

static void test_funding_flags(void **state)
{
    struct fx *f = *state;
    struct jobdb_block b1 = blk(1, 0, 0), b2 = blk(2, 0, 0);
    struct jobdb_event evs[6];
    struct jobdb_changes ch;
    struct jobdb_job j;
    int64_t id[5];
    int i;

    for (i = 0; i < 5; i++)
        id[i] = create_job(f->db, (uint8_t)(i + 1), JOBDB_TYPE_IA, CLIENT, i == 3 ? "1001" : NULL);
    evs[0] = created(&b1, 0, 1, "1000", 1250);
    fill(evs[0].client, 20, 0, 0xee); /* wrong client */
    evs[1] = created(&b1, 1, 2, "1000", 1250);
    fill(evs[1].spec_hash, 32, 0x5e, 0x77);       /* another spec */
    evs[2] = created(&b1, 2, 3, "1000", 1249);    /* under the USD price */
    evs[3] = created(&b1, 3, 4, "1000", 1250);    /* under the quoted wei */
    evs[4] = created(&b1, 4, 5, "1001", 1250);    /* fine */
    evs[5] = created(&b1, 5, 0x66, "1000", 1250); /* nobody's job */
    assert_int_equal(apply(f->db, 1, 1, 0, 0, evs, 6, &ch), ERR_OK);
    assert_int_equal(ch.n_applied, 6);
    assert_int_equal(ch.n_flagged, 5);
    assert_int_equal(ch.n, 1);
    assert_int_equal(ch.items[0].job_id, id[4]);
    assert_int_equal(ch.items[0].to, JOBDB_OPEN);
    assert_changes_committed(f->db, &ch);
    jobdb_changes_release(&ch);
    {
        static const char *const want[] = {"wrong_client", "spec_mismatch", "underfunded",
                                           "underfunded"};
        for (i = 0; i < 4; i++) {
            j = get(f->db, id[i]);
            assert_int_equal(j.status, JOBDB_PENDING);
            assert_string_equal(j.funding_flag, want[i]);
            assert_string_equal(j.escrow_wei, "1000");
            assert_tx(&j.tx[JOBDB_TR_FUNDED], 1, (uint32_t)i);
            jobdb_job_release(&j);
        }
    }
    {
        char *s = sql1(f->db,
                       "SELECT string_agg(coalesce(flag, '-'), ',' ORDER BY log_index)"
                       " FROM chain_events",
                       0, NULL);
        assert_string_equal(s, "wrong_client,spec_mismatch,underfunded,underfunded,-,unknown_job");
        free(s);
    }
    /* A flagged job is never offered: not OPEN, and a lapsed claim on it
     * goes back to PENDING, not OPEN. The keeper still refunds it. */
    evs[0] = claimed(&b2, 0, 1, WORKER_A);
    evs[1] = ev(JOBDB_EV_REOPENED, &b2, 1, 1);
    assert_int_equal(apply(f->db, 2, 2, 0, 0, evs, 2, NULL), ERR_OK);
    j = get(f->db, id[0]);
    assert_int_equal(j.status, JOBDB_PENDING);
    jobdb_job_release(&j);
    {
        struct jobdb_due *d = NULL;
        size_t n = 0;
        assert_int_equal(jobdb_due(f->db, T0 + 86401, 10, &d, &n), ERR_OK);
        assert_int_equal(n, 5); /* four flagged + the open one, all past deadline */
        for (i = 0; i < 5; i++) {
            assert_int_equal(d[i].action, JOBDB_ACTION_REFUND);
            assert_int_equal(d[i].due_unix, T0 + 86400);
            assert_int_equal(d[i].job_id, id[i]);
        }
        free(d);
    }
}

static void test_batch_twice(void **state)
{
    struct fx *f = *state;
    struct jobdb_block b1 = blk(1, 0, 0), b2 = blk(2, 0, 0), b3 = blk(3, 0, 0);
    struct jobdb_event evs[4];
    struct jobdb_changes ch;
    struct jobdb_checkpoint cp;
    char *before, *after;

    create_job(f->db, 1, JOBDB_TYPE_IA, CLIENT, NULL);
    create_job(f->db, 2, JOBDB_TYPE_IA, CLIENT, NULL);
    assert_int_equal(jobdb_get_checkpoint(f->db, &cp), ERR_NOTFOUND);
    evs[0] = created(&b1, 0, 1, "1000", 1250);
    evs[1] = created(&b2, 0, 2, "1000", 1250);
    evs[2] = claimed(&b2, 1, 1, WORKER_A);
    assert_int_equal(apply(f->db, 1, 2, 0, 0, evs, 3, NULL), ERR_OK);
    before = snapshot(f->db);

    /* The same batch again: nothing changes, nothing is reported. */
    assert_int_equal(apply(f->db, 1, 2, 0, 0, evs, 3, &ch), ERR_OK);
    assert_int_equal(ch.n, 0);
    assert_int_equal(ch.n_applied, 0);
    assert_int_equal(ch.n_duplicate, 3);
    assert_changes_committed(f->db, &ch);
    jobdb_changes_release(&ch);
    after = snapshot(f->db);
    assert_string_equal(before, after);
    free(after);

    /* An overlapping batch (2..3): its old events ignored, the new applied. */
    evs[3] = submitted(&b3, 0, 1, WORKER_A);
    assert_int_equal(apply(f->db, 2, 3, 0, 0, evs + 1, 3, &ch), ERR_OK);
    assert_int_equal(ch.n_applied, 1);
    assert_int_equal(ch.n_duplicate, 2);
    assert_int_equal(ch.n, 1);
    assert_int_equal(ch.items[0].from, JOBDB_WORKING);
    assert_int_equal(ch.items[0].to, JOBDB_SUBMITTED);
    assert_changes_committed(f->db, &ch);
    jobdb_changes_release(&ch);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM chain_events"), 4);
    assert_int_equal(jobdb_get_checkpoint(f->db, &cp), ERR_OK);
    assert_int_equal(cp.block_number, 3);
    assert_memory_equal(cp.block_hash, b3.hash, 32);
    {
        uint8_t h[32];
        assert_int_equal(jobdb_block_hash(f->db, 2, h), ERR_OK);
        assert_memory_equal(h, b2.hash, 32);
        assert_int_equal(jobdb_block_hash(f->db, 9, h), ERR_NOTFOUND);
    }
    free(before);
}

static void test_rollback_reapply(void **state)
{
    struct fx *f = *state;
    struct jobdb_block b[8], alt5, fork;
    struct jobdb_event e1[2], e2[3], alt[1];
    struct jobdb_changes ch;
    struct jobdb_job j;
    char *before, *after, *events_after;
    int64_t id1, id2;
    char wa[43];
    int i;

    for (i = 1; i < 8; i++)
        b[i] = blk((uint64_t)i, 0, 0);
    addr_hex(WORKER_A, wa);
    id1 = create_job(f->db, 1, JOBDB_TYPE_IA, CLIENT, NULL);
    id2 = create_job(f->db, 2, JOBDB_TYPE_GRAFICA, CLIENT, NULL);
    assert_int_equal(jobdb_rollback(f->db, &b[1], &ch), ERR_NOTFOUND);
    e1[0] = created(&b[1], 0, 1, "1000", 1250);
    e1[1] = claimed(&b[2], 0, 1, WORKER_A);
    assert_int_equal(apply(f->db, 1, 3, 0, 0, e1, 2, NULL), ERR_OK);
    assert_int_equal(jobdb_update_progress(f->db, id1, wa, 30), ERR_OK);
    e2[0] = created(&b[4], 0, 2, "1000", 1250);
    e2[1] = submitted(&b[5], 0, 1, WORKER_A);
    e2[2] = claimed(&b[6], 0, 2, WORKER_B);
    assert_int_equal(apply(f->db, 4, 6, 0, 0, e2, 3, NULL), ERR_OK);
    before = snapshot(f->db);

    /* Roll back above 3: job 1 back to WORKING (progress kept, same worker),
     * job 2 back to PENDING with nothing of its funding left. */
    assert_int_equal(jobdb_rollback(f->db, &b[3], &ch), ERR_OK);
    assert_int_equal(ch.n, 2);
    assert_int_equal(ch.items[0].job_id, id1);
    assert_int_equal(ch.items[0].from, JOBDB_SUBMITTED);
    assert_int_equal(ch.items[0].to, JOBDB_WORKING);
    assert_int_equal(ch.items[1].job_id, id2);
    assert_int_equal(ch.items[1].from, JOBDB_WORKING);
    assert_int_equal(ch.items[1].to, JOBDB_PENDING);
    assert_changes_committed(f->db, &ch);
    jobdb_changes_release(&ch);
    j = get(f->db, id1);
    assert_int_equal(j.status, JOBDB_WORKING);
    assert_int_equal(j.progress, 30);
    assert_null(j.result_sha256);
    assert_null(j.tx[JOBDB_TR_SUBMITTED].tx_hash);
    assert_int_equal(j.challenge_ends_unix, 0);
    assert_tx(&j.tx[JOBDB_TR_CLAIMED], 2, 0);
    jobdb_job_release(&j);
    j = get(f->db, id2);
    assert_int_equal(j.status, JOBDB_PENDING);
    assert_null(j.escrow_wei);
    assert_null(j.worker_address);
    assert_null(j.tx[JOBDB_TR_FUNDED].tx_hash);
    assert_int_equal(j.deadline_unix, 0);
    jobdb_job_release(&j);
    assert_int_equal(sql_int(f->db, "SELECT max(block_number) FROM chain_events"), 2);
    assert_int_equal(sql_int(f->db, "SELECT max(number) FROM chain_blocks"), 3);
    {
        struct jobdb_checkpoint cp;
        assert_int_equal(jobdb_get_checkpoint(f->db, &cp), ERR_OK);
        assert_int_equal(cp.block_number, 3);
        assert_memory_equal(cp.block_hash, b[3].hash, 32);
    }
    /* Rolling back to where we are is a no-op. */
    assert_int_equal(jobdb_rollback(f->db, &b[3], &ch), ERR_OK);
    assert_int_equal(ch.n, 0);
    assert_changes_committed(f->db, &ch);
    jobdb_changes_release(&ch);

    /* Re-apply the same canonical blocks: every row as before. */
    assert_int_equal(apply(f->db, 4, 6, 0, 0, e2, 3, NULL), ERR_OK);
    after = snapshot(f->db);
    assert_string_equal(before, after);
    free(after);

    /* A reorg of depth 2 onto fork 9 from block 4: block 5's parent no
     * longer matches, the batch is refused, roll back, apply the new chain. */
    alt5 = blk(5, 9, 4);
    assert_int_equal(apply(f->db, 7, 7, 9, 4, NULL, 0, NULL), ERR_STATE);
    alt[0] = submitted(&alt5, 3, 1, WORKER_A);
    fork = b[4];
    fork.hash[5] = 0x55; /* not the stored block 4 */
    assert_int_equal(jobdb_rollback(f->db, &fork, &ch), ERR_STATE);
    assert_int_equal(jobdb_rollback(f->db, &b[4], &ch), ERR_OK);
    assert_int_equal(ch.n, 2);
    assert_changes_committed(f->db, &ch);
    jobdb_changes_release(&ch);
    assert_int_equal(apply(f->db, 5, 6, 9, 4, alt, 1, &ch), ERR_OK);
    assert_int_equal(ch.n, 1);
    assert_int_equal(ch.items[0].job_id, id1);
    assert_int_equal(ch.items[0].to, JOBDB_SUBMITTED);
    assert_changes_committed(f->db, &ch);
    jobdb_changes_release(&ch);
    j = get(f->db, id2);
    assert_int_equal(j.status, JOBDB_OPEN); /* its claim was on the dropped fork */
    jobdb_job_release(&j);
    events_after = sql1(f->db,
                        "SELECT string_agg(block_number || ':' || kind, ',' ORDER BY block_number)"
                        " FROM chain_events",
                        0, NULL);
    assert_string_equal(events_after, "1:JobCreated,2:JobClaimed,4:JobCreated,5:JobSubmitted");
    free(events_after);

    /* A gap after the checkpoint, and a replay on another fork. */
    assert_int_equal(apply(f->db, 8, 8, 9, 4, NULL, 0, NULL), ERR_STATE);
    assert_int_equal(apply(f->db, 5, 6, 0, 0, NULL, 0, NULL), ERR_STATE);
    free(before);
}

static void test_bad_batches(void **state)
{
    struct fx *f = *state;
    struct jobdb_block blocks[3] = {blk(1, 0, 0), blk(2, 0, 0), blk(3, 0, 0)};
    struct jobdb_event evs[2];
    struct jobdb_batch b = {1, 3, blocks, 3, evs, 0};
    struct jobdb_changes ch;

    create_job(f->db, 1, JOBDB_TYPE_IA, CLIENT, NULL);
    evs[0] = created(&blocks[0], 1, 1, "1000", 1250);
    evs[1] = created(&blocks[0], 0, 1, "1000", 1250);
    b.n_events = 2; /* out of order */
    assert_int_equal(jobdb_apply_batch(f->db, &b, &ch), ERR_INVAL);
    evs[1] = created(&blocks[1], 0, 1, "1000", 1250);
    evs[1].block_hash[3] = 1; /* disagrees with block 2's hash */
    assert_int_equal(jobdb_apply_batch(f->db, &b, &ch), ERR_INVAL);
    b.n_events = 1;
    snprintf(evs[0].amount_wei, sizeof evs[0].amount_wei, "12a");
    assert_int_equal(jobdb_apply_batch(f->db, &b, &ch), ERR_INVAL);
    evs[0] = created(&blocks[0], 1, 1, "1000", 1250);
    b.n_blocks = 2; /* to_block's hash missing */
    assert_int_equal(jobdb_apply_batch(f->db, &b, &ch), ERR_INVAL);
    b.n_blocks = 3;
    blocks[2].parent_hash[9] = 1; /* broken link inside the batch */
    assert_int_equal(jobdb_apply_batch(f->db, &b, &ch), ERR_INVAL);
    blocks[2] = blk(3, 0, 0);
    b.from_block = 4;
    assert_int_equal(jobdb_apply_batch(f->db, &b, &ch), ERR_INVAL);
    b.from_block = 1;
    /* Times past 9999-12-31 23:59:59 UTC, or a negative deadline. */
    evs[0].block_time_unix = INT64_C(253402300800);
    assert_int_equal(jobdb_apply_batch(f->db, &b, &ch), ERR_INVAL);
    evs[0].block_time_unix = INT64_C(253402300799);
    evs[0].deadline_unix = -1;
    assert_int_equal(jobdb_apply_batch(f->db, &b, &ch), ERR_INVAL);
    evs[0].deadline_unix = INT64_C(253402300800);
    assert_int_equal(jobdb_apply_batch(f->db, &b, &ch), ERR_INVAL);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM chain_events"), 0);
    /* The last second accepted, and the largest uint32 deadline, stored as
     * those seconds. */
    evs[0].deadline_unix = INT64_C(4294967295);
    assert_int_equal(jobdb_apply_batch(f->db, &b, &ch), ERR_OK);
    assert_int_equal(ch.n, 1);
    jobdb_changes_release(&ch);
    {
        char *s = sql1(f->db,
                       "SELECT extract(epoch FROM block_time)::bigint || ','"
                       " || extract(epoch FROM deadline_at)::bigint FROM chain_events",
                       0, NULL);
        assert_string_equal(s, "253402300799,4294967295");
        free(s);
    }
}

static void test_due(void **state)
{
    struct fx *f = *state;
    struct jobdb_block b1 = blk(1, 0, 0), b2 = blk(2, 0, 0);
    struct jobdb_event evs[6];
    struct jobdb_due *d = NULL;
    size_t n = 0;
    int64_t id[3];
    int i;

    for (i = 0; i < 3; i++)
        id[i] = create_job(f->db, (uint8_t)(i + 1), JOBDB_TYPE_IA, CLIENT, NULL);
    /* deadline T0+86400 for all; job1 submitted (window end T0+7200), job2
     * claimed (claim expiry T0+3600), job3 open. */
    evs[0] = created(&b1, 0, 1, "1000", 1250);
    evs[1] = created(&b1, 1, 2, "1000", 1250);
    evs[2] = created(&b1, 2, 3, "1000", 1250);
    evs[3] = claimed(&b2, 0, 1, WORKER_A);
    evs[4] = submitted(&b2, 1, 1, WORKER_A);
    evs[5] = claimed(&b2, 2, 2, WORKER_B);
    assert_int_equal(apply(f->db, 1, 2, 0, 0, evs, 6, NULL), ERR_OK);

    assert_int_equal(jobdb_due(f->db, T0 + 3600, 10, &d, &n), ERR_OK);
    assert_int_equal(n, 0); /* strictly after: nothing yet at the exact second */
    free(d);
    assert_int_equal(jobdb_due(f->db, T0 + 3601, 10, &d, &n), ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].job_id, id[1]);
    assert_int_equal(d[0].action, JOBDB_ACTION_REOPEN);
    assert_int_equal(d[0].due_unix, T0 + 3600);
    assert_int_equal(d[0].chain_job_id[0], 0x1d);
    assert_int_equal(d[0].chain_job_id[31], 2);
    free(d);
    assert_int_equal(jobdb_due(f->db, T0 + 7201, 10, &d, &n), ERR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(d[0].job_id, id[1]);
    assert_int_equal(d[1].job_id, id[0]);
    assert_int_equal(d[1].action, JOBDB_ACTION_RELEASE);
    assert_int_equal(d[1].due_unix, T0 + 7200);
    free(d);
    assert_int_equal(jobdb_due(f->db, T0 + 7201, 1, &d, &n), ERR_OK);
    assert_int_equal(n, 1);
    free(d);
    /* Past the deadline: the claimed job is refunded, not reopened. */
    assert_int_equal(jobdb_due(f->db, T0 + 90000, 10, &d, &n), ERR_OK);
    assert_int_equal(n, 3);
    assert_int_equal(d[0].action, JOBDB_ACTION_RELEASE);
    assert_int_equal(d[1].job_id, id[1]);
    assert_int_equal(d[1].action, JOBDB_ACTION_REFUND);
    assert_int_equal(d[2].job_id, id[2]);
    assert_int_equal(d[2].action, JOBDB_ACTION_REFUND);
    free(d);
    assert_int_equal(jobdb_due(f->db, T0, 0, &d, &n), ERR_INVAL);
}

struct creator {
    struct jobdb *db;
    int base;
    int64_t ids[25];
    enum err e;
};

static void *create_cb(void *arg)
{
    struct creator *c = arg;
    char addr[43], cid[67], spec[67];
    struct jobdb_new_job in = {0};
    struct jobdb_job j;
    uint8_t b[32];
    int i;

    addr_hex(CLIENT, addr);
    spec_hex(1, spec);
    in.title = "t";
    in.type = JOBDB_TYPE_GRAFICA;
    in.price = "1";
    in.wallet_address = addr;
    in.price_usd_cents = 100;
    in.spec_sha256 = spec;
    in.chain_job_id = cid;
    for (i = 0; i < 25; i++) {
        fill(b, 32, 0x2c, (uint8_t)i);
        b[1] = (uint8_t)c->base;
        hex(b, 32, cid);
        c->e = jobdb_create(c->db, &in, &j);
        if (c->e != ERR_OK)
            return NULL;
        c->ids[i] = j.id;
        jobdb_job_release(&j);
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static void test_concurrent_creates(void **state)
{
    struct fx *f = *state;
    struct creator cr[8];
    pthread_t th[8];
    int64_t all[200];
    int i, k;

    for (i = 0; i < 8; i++) {
        memset(&cr[i], 0, sizeof cr[i]);
        cr[i].db = f->db;
        cr[i].base = i;
        assert_int_equal(pthread_create(&th[i], NULL, create_cb, &cr[i]), 0);
    }
    for (i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(cr[i].e, ERR_OK);
        for (k = 0; k < 25; k++)
            all[i * 25 + k] = cr[i].ids[k];
    }
    qsort(all, 200, sizeof all[0], cmp_i64);
    for (i = 1; i < 200; i++)
        assert_true(all[i] > all[i - 1]);
    assert_int_equal(sql_int(f->db, "SELECT count(DISTINCT id) FROM jobs"), 200);
    assert_int_equal(sql_int(f->db, "SELECT count(DISTINCT chain_job_id) FROM jobs"), 200);
}

/* ---------------------------------------------------- group commit batches */

/* One job of a batch test, with the storage its strings live in. */
struct bjob {
    char addr[43], cid[67], spec[67], title[64];
    struct jobdb_new_job in;
    struct jobdb_new_file files[2];
};

/* Job <i> of a batch: a reserved id, its own chain id, and a pattern of
 * NULL and set columns and 0, 1 or 2 files that varies with <i>. Titles and
 * file names of every fifth job hold what PostgreSQL's array syntax quotes. */
static void bjob_init(struct jobdb *db, struct bjob *b, int i, struct jobdb_create_item *it)
{
    uint8_t h[32];

    memset(b, 0, sizeof *b);
    assert_int_equal(jobdb_next_id(db, &b->in.id), ERR_OK);
    addr_hex(CLIENT, b->addr);
    fill(h, 32, 0x3b, (uint8_t)i);
    hex(h, 32, b->cid);
    spec_hex((uint8_t)i, b->spec);
    snprintf(b->title, sizeof b->title, i % 5 == 0 ? "job \"%d\", {a\\b} NULL" : "job %d", i);
    b->in.title = b->title;
    b->in.description = i % 2 ? NULL : "a description";
    b->in.type = i % 2 ? JOBDB_TYPE_GRAFICA : JOBDB_TYPE_IA;
    b->in.price = "12.50";
    b->in.wallet_address = b->addr;
    b->in.cloud_link = i % 2 ? NULL : "https://example.org/in";
    b->in.chain_job_id = b->cid;
    b->in.price_usd_cents = 1250;
    b->in.quote_wei = i % 3 ? NULL : "4166666666666666";
    b->in.spec_sha256 = b->spec;
    b->in.deadline_unix = i % 4 ? 0 : T0 + i;
    b->in.max_runtime_s = i % 4 ? 0 : 3600;
    b->files[0] =
        (struct jobdb_new_file){"job.json", JOBDB_FILE_SPEC, b->spec, 100 + i, "application/json"};
    b->files[1] = (struct jobdb_new_file){i % 5 == 0 ? "in \"1\",{x}.csv" : "in.csv",
                                          JOBDB_FILE_INPUT, b->spec, 1000 + i, "text/csv"};
    memset(it, 0, sizeof *it);
    it->in = &b->in;
    it->files = b->files;
    it->n_files = (size_t)(i % 3);
}

static void test_create_batch(void **state)
{
    struct fx *f = *state;
    struct bjob b[40];
    struct jobdb_create_item it[40];
    char want[256], key[24];
    const char *kp[1] = {key};
    int i, n_files = 0;

    for (i = 0; i < 40; i++)
        bjob_init(f->db, &b[i], i, &it[i]);
    b[21].in.title = ""; /* malformed: refused alone, before the database */
    assert_int_equal(jobdb_create_batch(f->db, it, 40), ERR_INVAL);
    for (i = 0; i < 40; i++) {
        struct jobdb_job g;
        if (i == 21) {
            assert_int_equal(it[i].err, ERR_INVAL);
            assert_int_equal(it[i].row.id, 0);
            continue;
        }
        n_files += i % 3;
        assert_int_equal(it[i].err, ERR_OK);
        assert_int_equal(it[i].row.id, b[i].in.id);
        assert_string_equal(it[i].row.title, b[i].title);
        assert_string_equal(it[i].row.chain_job_id, b[i].cid);
        assert_int_equal(it[i].row.status, JOBDB_PENDING);
        assert_int_equal(it[i].row.type, i % 2 ? JOBDB_TYPE_GRAFICA : JOBDB_TYPE_IA);
        assert_string_equal(it[i].row.description, i % 2 ? "" : "a description");
        if (i % 2)
            assert_null(it[i].row.cloud_link);
        else
            assert_string_equal(it[i].row.cloud_link, "https://example.org/in");
        if (i % 3)
            assert_null(it[i].row.quote_wei);
        else
            assert_string_equal(it[i].row.quote_wei, "4166666666666666");
        /* The stored row reads back the same. */
        assert_int_equal(jobdb_get(f->db, b[i].in.id, &g), ERR_OK);
        assert_string_equal(g.title, it[i].row.title);
        assert_string_equal(g.price, "12.50");
        assert_int_equal(g.created_at_ms, it[i].row.created_at_ms);
        jobdb_job_release(&g);
        snprintf(key, sizeof key, "%lld", (long long)b[i].in.id);
        want[0] = '\0';
        if (i % 4 == 0)
            snprintf(want, sizeof want, "%lld/3600", (long long)(T0 + i));
        /* Files by name: "in..." sorts before "job.json". */
        if (i % 3 >= 1)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s", *want ? "/" : "");
        if (i % 3 == 2)
            snprintf(want + strlen(want), sizeof want - strlen(want),
                     i % 5 == 0 ? "in \"1\",{x}.csv:input:%d|" : "in.csv:input:%d|", 1000 + i);
        if (i % 3 >= 1)
            snprintf(want + strlen(want), sizeof want - strlen(want), "job.json:spec:%d", 100 + i);
        {
            char *got =
                sql1(f->db,
                     "SELECT concat_ws('/', extract(epoch FROM requested_deadline_at)::bigint,"
                     " requested_max_runtime_s, (SELECT string_agg(name || ':' || role"
                     " || ':' || size_bytes, '|' ORDER BY name) FROM job_files"
                     " WHERE job_id = id)) FROM jobs WHERE id = $1::bigint",
                     1, kp);
            assert_string_equal(got, want);
            free(got);
        }
        jobdb_job_release(&it[i].row);
    }
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM jobs"), 39);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM job_files"), n_files);
    /* An empty batch and a batch of one. */
    assert_int_equal(jobdb_create_batch(f->db, it, 0), ERR_OK);
    bjob_init(f->db, &b[0], 41, &it[0]);
    assert_int_equal(jobdb_create_batch(f->db, it, 1), ERR_OK);
    assert_int_equal(it[0].row.id, b[0].in.id);
    jobdb_job_release(&it[0].row);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM jobs"), 40);
}

/* Jobs that the database refuses fail alone; their neighbours are written. */
static void test_create_batch_fails_alone(void **state)
{
    struct fx *f = *state;
    struct bjob b[10];
    struct jobdb_create_item it[10];
    char taken_cid[67];
    int64_t taken = create_job(f->db, 9, JOBDB_TYPE_IA, CLIENT, NULL);
    int i;

    chain_id_hex(9, taken_cid);
    for (i = 0; i < 10; i++)
        bjob_init(f->db, &b[i], i, &it[i]);
    b[3].in.chain_job_id = taken_cid; /* unique violation on chain_job_id */
    b[5].files[1].name = "job.json";  /* two files of one name */
    it[5].n_files = 2;
    b[8].in.id = taken; /* an id in use */
    assert_int_equal(jobdb_create_batch(f->db, it, 10), ERR_EXISTS);
    for (i = 0; i < 10; i++) {
        if (i == 3 || i == 5 || i == 8) {
            assert_int_equal(it[i].err, ERR_EXISTS);
            assert_int_equal(it[i].row.id, 0);
            continue;
        }
        assert_int_equal(it[i].err, ERR_OK);
        assert_int_equal(it[i].row.id, b[i].in.id);
        jobdb_job_release(&it[i].row);
    }
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM jobs"), 8);
    {
        char key[24], *t;
        const char *kp[1] = {key};
        snprintf(key, sizeof key, "%lld", (long long)b[5].in.id);
        t = sql1(f->db, "SELECT count(*) FROM job_files WHERE job_id = $1::bigint", 1, kp);
        assert_string_equal(t, "0");
        free(t);
        snprintf(key, sizeof key, "%lld", (long long)taken);
        t = sql1(f->db, "SELECT title FROM jobs WHERE id = $1::bigint", 1, kp);
        assert_string_equal(t, "render a teapot"); /* the old row is untouched */
        free(t);
    }
}

/* A one-connection store on the fixture's schema whose connection the
 * server has just terminated (pg_terminate_backend, waited for until
 * pg_stat_activity no longer lists it): its next statement finds the
 * connection dead. */
static struct jobdb *open_killed(struct fx *f)
{
    struct db_config cfg;
    struct jobdb *one = NULL;
    struct db_conn *c = NULL;
    char pid[24];
    const char *p[1] = {pid};
    int tries;

    fx_config(&cfg, f->schema, 1);
    assert_int_equal(jobdb_open(&cfg, &one), ERR_OK);
    assert_int_equal(db_checkout(jobdb_pool(one), &c), ERR_OK);
    snprintf(pid, sizeof pid, "%d", db_conn_backend_pid(c));
    db_checkin(jobdb_pool(one), c);
    free(sql1(f->db, "SELECT pg_terminate_backend($1::int)", 1, p));
    for (tries = 0; tries < 500; tries++) {
        char *s = sql1(f->db, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int", 1, p);
        int gone = strcmp(s, "0") == 0;
        free(s);
        if (gone)
            break;
        usleep(10000);
    }
    return one;
}

/* The connection dies under a batch: every job gets unavailable and none
 * is written; the next batch reconnects and succeeds. */
static void test_create_batch_unavailable(void **state)
{
    struct fx *f = *state;
    struct jobdb *one = open_killed(f);
    struct bjob b[3];
    struct jobdb_create_item it[3];
    int i;

    for (i = 0; i < 3; i++)
        bjob_init(f->db, &b[i], i + 1, &it[i]);
    assert_int_equal(jobdb_create_batch(one, it, 3), ERR_UNAVAILABLE);
    for (i = 0; i < 3; i++) {
        assert_int_equal(it[i].err, ERR_UNAVAILABLE);
        assert_int_equal(it[i].row.id, 0);
    }
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM jobs"), 0);
    assert_int_equal(jobdb_create_batch(one, it, 3), ERR_OK);
    for (i = 0; i < 3; i++) {
        assert_int_equal(it[i].err, ERR_OK);
        assert_int_equal(it[i].row.id, b[i].in.id);
        jobdb_job_release(&it[i].row);
    }
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM jobs"), 3);
    jobdb_close(one);
}

static void test_killed_connection(void **state)
{
    struct fx *f = *state;
    struct db_config cfg;
    struct jobdb *one = NULL;
    struct jobdb_job j;
    int64_t id = create_job(f->db, 1, JOBDB_TYPE_IA, CLIENT, NULL);

    one = open_killed(f);
    assert_int_equal(jobdb_get(one, id, &j), ERR_UNAVAILABLE);
    assert_true(strlen(db_last_error()) > 0);
    assert_int_equal(jobdb_get(one, id, &j), ERR_OK);
    assert_int_equal(j.id, id);
    jobdb_job_release(&j);
    jobdb_close(one);

    /* A server that cannot be reached at all. */
    memset(&cfg, 0, sizeof cfg);
    cfg.url = "postgresql://postgres@127.0.0.1:1/loom";
    cfg.n_conns = 1;
    cfg.connect_timeout_s = 2;
    assert_int_equal(jobdb_open(&cfg, &one), ERR_UNAVAILABLE);
    cfg.n_conns = 0;
    assert_int_equal(jobdb_open(&cfg, &one), ERR_INVAL);
    cfg.n_conns = 1;
    cfg.schema = "Bad-Name";
    assert_int_equal(jobdb_open(&cfg, &one), ERR_INVAL);
}

static void test_pool_exhausted(void **state)
{
    struct fx *f = *state;
    struct db_config cfg;
    struct db_pool *p = NULL;
    struct db_conn *c = NULL, *c2 = NULL;
    struct db_res *r = NULL;
    size_t n_conns = 0, n_idle = 0;

    fx_config(&cfg, f->schema, 1);
    cfg.checkout_timeout_ms = 50;
    assert_int_equal(db_pool_new(&cfg, &p), ERR_OK);
    db_pool_stats(p, &n_conns, &n_idle);
    assert_int_equal(n_conns, 1);
    assert_int_equal(n_idle, 1);
    assert_int_equal(db_checkout(p, &c), ERR_OK);
    db_pool_stats(p, &n_conns, &n_idle);
    assert_int_equal(n_idle, 0);
    assert_int_equal(db_checkout(p, &c2), ERR_TIMEDOUT);
    db_checkin(p, c);
    assert_int_equal(db_checkout(p, &c2), ERR_OK);
    assert_ptr_equal(c, c2);
    /* An open transaction is rolled back at checkin. */
    assert_int_equal(db_begin(c2), ERR_OK);
    assert_int_equal(db_exec(c2, "CREATE TABLE scratch (x int)", 0, NULL, NULL), ERR_OK);
    db_checkin(p, c2);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM pg_tables WHERE tablename = 'scratch'"),
                     0);
    db_pool_free(p);

    /* A statement over statement_timeout: ERR_UNAVAILABLE (57014), and the
     * connection stays usable. */
    cfg.statement_timeout_ms = 100;
    assert_int_equal(db_pool_new(&cfg, &p), ERR_OK);
    assert_int_equal(db_checkout(p, &c), ERR_OK);
    assert_int_equal(db_exec(c, "SELECT pg_sleep(5)", 0, NULL, NULL), ERR_UNAVAILABLE);
    assert_non_null(strstr(db_last_error(), "statement timeout"));
    assert_int_equal(db_exec(c, "SELECT 1", 0, NULL, &r), ERR_OK);
    assert_string_equal(db_res_text(r, 0, 0), "1");
    db_res_free(r);
    db_checkin(p, c);
    db_pool_free(p);
}

/* db_copy_row() and db_copy_in(): values with every character COPY's text
 * format escapes come back as they went in, NULL stays NULL, "" stays "";
 * a malformed value fails as ERR_INVAL and leaves nothing, a duplicate key
 * as ERR_EXISTS; a statement that is no COPY FROM STDIN is ERR_DB; the
 * connection works after each; a dead connection is ERR_UNAVAILABLE.
 * 3,000 rows of 400 bytes go in two PQputCopyData pieces. */
static void test_copy_in(void **state)
{
    static const char *const rows[][3] = {
        {"1", "plain", NULL}, {"2", "tab\there", "new\nline"}, {"3", "back\\slash\\", "cr\rx"},
        {"4", "\\.", ""},     {"5", "\\N", "tail\\"},
    };
    static const char copy_sql[] = "COPY scratch_c (k, a, b) FROM STDIN";
    struct fx *f = *state;
    struct db_conn *c = NULL;
    struct buf b;
    char *s;
    size_t i;

    buf_init(&b, (size_t)16 << 20);
    for (i = 0; i < sizeof rows / sizeof rows[0]; i++)
        assert_int_equal(db_copy_row(&b, rows[i], 3), ERR_OK);
    /* The text format itself (PostgreSQL docs, COPY, "Text Format"). */
    assert_string_equal(buf_cstr(&b), "1\tplain\t\\N\n"
                                      "2\ttab\\there\tnew\\nline\n"
                                      "3\tback\\\\slash\\\\\tcr\\rx\n"
                                      "4\t\\\\.\t\n"
                                      "5\t\\\\N\ttail\\\\\n");
    assert_int_equal(db_checkout(jobdb_pool(f->db), &c), ERR_OK);
    assert_int_equal(
        db_exec(c, "CREATE TABLE scratch_c (k int PRIMARY KEY, a text, b text)", 0, NULL, NULL),
        ERR_OK);
    assert_int_equal(db_begin(c), ERR_OK);
    assert_int_equal(db_copy_in(c, copy_sql, buf_cstr(&b), b.len), ERR_OK);
    assert_int_equal(db_commit(c), ERR_OK);
    db_checkin(jobdb_pool(f->db), c);
    for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char k[8];
        snprintf(k, sizeof k, "%zu", i + 1);
        const char *p[1] = {k};
        s = sql1(f->db, "SELECT a || '|' || coalesce(b, '<null>') FROM scratch_c WHERE k = $1::int",
                 1, p);
        char want[64];
        snprintf(want, sizeof want, "%s|%s", rows[i][1], rows[i][2] ? rows[i][2] : "<null>");
        assert_string_equal(s, want);
        free(s);
    }

    /* 3,000 rows; then 3,000 new ones with a bad integer in a last row,
     * and a duplicate key: nothing of either failed COPY stays. */
    buf_reset(&b);
    {
        char wide[401];
        memset(wide, 'w', 400);
        wide[400] = '\0';
        for (i = 0; i < 3000; i++) {
            char k[16];
            const char *row[3] = {k, wide, NULL};
            snprintf(k, sizeof k, "%zu", 100 + i);
            assert_int_equal(db_copy_row(&b, row, 3), ERR_OK);
        }
    }
    assert_true(b.len > ((size_t)1 << 20)); /* more than one piece */
    assert_int_equal(db_checkout(jobdb_pool(f->db), &c), ERR_OK);
    assert_int_equal(db_begin(c), ERR_OK);
    assert_int_equal(db_copy_in(c, copy_sql, buf_cstr(&b), b.len), ERR_OK);
    assert_int_equal(db_commit(c), ERR_OK);
    buf_reset(&b);
    for (i = 0; i < 3000; i++) {
        char k[16];
        const char *row[3] = {k, "new", NULL};
        snprintf(k, sizeof k, "%zu", 10000 + i);
        assert_int_equal(db_copy_row(&b, row, 3), ERR_OK);
    }
    {
        static const char *const bad[3] = {"12x", "a", "b"};
        assert_int_equal(db_copy_row(&b, bad, 3), ERR_OK);
    }
    assert_int_equal(db_begin(c), ERR_OK);
    assert_int_equal(db_copy_in(c, copy_sql, buf_cstr(&b), b.len), ERR_INVAL);
    db_rollback(c);
    {
        static const char *const dup[3] = {"1", "again", NULL};
        buf_reset(&b);
        assert_int_equal(db_copy_row(&b, dup, 3), ERR_OK);
    }
    assert_int_equal(db_begin(c), ERR_OK);
    assert_int_equal(db_copy_in(c, copy_sql, buf_cstr(&b), b.len), ERR_EXISTS);
    db_rollback(c);
    assert_int_equal(db_copy_in(c, "SELECT 1", "", 0), ERR_DB);
    assert_int_equal(db_exec(c, "SELECT 1", 0, NULL, NULL), ERR_OK);
    db_checkin(jobdb_pool(f->db), c);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM scratch_c"), 3005);
    assert_int_equal(sql_int(f->db, "SELECT sum(length(a)) FROM scratch_c WHERE k >= 100"),
                     3000 * 400);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM scratch_c WHERE a IN ('again', 'new')"),
                     0);

    /* A connection whose server process is gone: ERR_UNAVAILABLE, and the
     * pool's next connection copies. */
    {
        static const char *const row[3] = {"7", "after", NULL};
        struct jobdb *one = open_killed(f);
        buf_reset(&b);
        assert_int_equal(db_copy_row(&b, row, 3), ERR_OK);
        assert_int_equal(db_checkout(jobdb_pool(one), &c), ERR_OK);
        assert_int_equal(db_copy_in(c, copy_sql, buf_cstr(&b), b.len), ERR_UNAVAILABLE);
        db_checkin(jobdb_pool(one), c);
        assert_int_equal(db_checkout(jobdb_pool(one), &c), ERR_OK);
        assert_int_equal(db_copy_in(c, copy_sql, buf_cstr(&b), b.len), ERR_OK);
        db_checkin(jobdb_pool(one), c);
        jobdb_close(one);
    }
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM scratch_c WHERE a = 'after'"), 1);
    buf_release(&b);
}

static void test_exec_batch(void **state)
{
    static const struct db_stmt ins = {
        "test_batch_ins", "INSERT INTO scratch_b (k, v) VALUES ($1::int, $2) RETURNING k * 2", 2};
    struct fx *f = *state;
    struct db_conn *c = NULL;
    struct db_res *outs[600];
    const char *params[1200];
    char keys[600][12];
    char pid[24];
    const char *p[1] = {pid};
    int i;

    for (i = 0; i < 600; i++) {
        snprintf(keys[i], sizeof keys[i], "%d", i);
        params[2 * i] = keys[i];
        params[2 * i + 1] = i % 2 ? "odd" : NULL;
    }
    assert_int_equal(db_checkout(jobdb_pool(f->db), &c), ERR_OK);
    assert_int_equal(
        db_exec(c, "CREATE TABLE scratch_b (k int PRIMARY KEY, v text)", 0, NULL, NULL), ERR_OK);
    /* 600 runs: three pipeline chunks, every result in order. */
    assert_int_equal(db_begin(c), ERR_OK);
    assert_int_equal(db_exec_batch(c, &ins, 600, params, outs), ERR_OK);
    for (i = 0; i < 600; i++) {
        char want[12];
        snprintf(want, sizeof want, "%d", 2 * i);
        assert_string_equal(db_res_text(outs[i], 0, 0), want);
        db_res_free(outs[i]);
    }
    assert_int_equal(db_commit(c), ERR_OK);
    db_checkin(jobdb_pool(f->db), c);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM scratch_b WHERE v = 'odd'"), 300);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM scratch_b WHERE v IS NULL"), 300);

    /* A duplicate in the middle: the first failure is reported, nothing
     * stays, and the connection is fine afterwards. Run 400 repeats run
     * 300's key (1300), in the second chunk. */
    for (i = 0; i < 600; i++)
        snprintf(keys[i], sizeof keys[i], "%d", i == 400 ? 1300 : 1000 + i);
    assert_int_equal(db_checkout(jobdb_pool(f->db), &c), ERR_OK);
    assert_int_equal(db_begin(c), ERR_OK);
    assert_int_equal(db_exec_batch(c, &ins, 600, params, outs), ERR_EXISTS);
    for (i = 0; i < 600; i++)
        assert_null(outs[i]);
    db_rollback(c);
    assert_int_equal(db_exec_batch(c, &ins, 0, params, NULL), ERR_OK);
    db_checkin(jobdb_pool(f->db), c);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM scratch_b"), 600);

    /* A connection killed before a batch: ERR_UNAVAILABLE, then reset. */
    assert_int_equal(db_checkout(jobdb_pool(f->db), &c), ERR_OK);
    snprintf(pid, sizeof pid, "%d", db_conn_backend_pid(c));
    {
        struct db_config cfg;
        struct db_pool *other = NULL;
        struct db_conn *oc = NULL;
        struct db_res *r = NULL;
        int tries;
        fx_config(&cfg, f->schema, 1);
        assert_int_equal(db_pool_new(&cfg, &other), ERR_OK);
        assert_int_equal(db_checkout(other, &oc), ERR_OK);
        assert_int_equal(db_exec(oc, "SELECT pg_terminate_backend($1::int)", 1, p, NULL), ERR_OK);
        for (tries = 0; tries < 500; tries++) {
            assert_int_equal(
                db_exec(oc, "SELECT 1 FROM pg_stat_activity WHERE pid = $1::int", 1, p, &r),
                ERR_OK);
            i = (int)db_res_rows(r);
            db_res_free(r);
            if (i == 0)
                break;
            usleep(10000);
        }
        db_checkin(other, oc);
        db_pool_free(other);
    }
    for (i = 0; i < 600; i++)
        snprintf(keys[i], sizeof keys[i], "%d", 5000 + i);
    assert_int_equal(db_exec_batch(c, &ins, 600, params, outs), ERR_UNAVAILABLE);
    db_checkin(jobdb_pool(f->db), c);
    assert_int_equal(db_checkout(jobdb_pool(f->db), &c), ERR_OK);
    assert_int_not_equal(db_conn_backend_pid(c), (int)strtol(pid, NULL, 10));
    assert_int_equal(db_exec_batch(c, &ins, 600, params, NULL), ERR_OK);
    db_checkin(jobdb_pool(f->db), c);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM scratch_b"), 1200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_hex_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_events_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_and_result, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nonce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_funding_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_reapply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_due, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_creates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_exhausted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_in, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_batch_fails_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_batch_unavailable, setup, teardown),
    };

    pg_url = getenv("LOOM_TEST_PG_URL");
    if (!pg_url || !*pg_url) {
        printf("test_jobdb: LOOM_TEST_PG_URL is not set; skipping %zu database tests"
               " (make test runs them against a throwaway PostgreSQL)\n",
               sizeof tests / sizeof tests[0]);
        return 0;
    }
    {
        /* Say plainly why everything is about to fail. */
        struct db_config cfg;
        struct db_pool *p = NULL;
        fx_config(&cfg, NULL, 1);
        if (db_pool_new(&cfg, &p) != ERR_OK)
            printf("test_jobdb: LOOM_TEST_PG_URL is set but %s does not answer: %s\n", pg_url,
                   db_last_error());
        db_pool_free(p);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
