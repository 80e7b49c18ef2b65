/*
 * bench_jobdb -- throughput of the jobstore's PostgreSQL layer.
 *
 * Against LOOM_TEST_PG_URL (or LOOM_BENCH_PG_URL), in a fresh schema that it
 * drops afterwards, prints:
 *   create   jobdb_create() from T threads on a pool of T connections
 *   get      jobdb_get() by primary key, same threads
 *   apply    jobdb_apply_batch(): indexer batches of JobCreated + JobClaimed
 *            + JobSubmitted events, events per second
 *   rollback jobdb_rollback() of the last batch and its re-application
 * Figures, not assertions. Conditions (threads, counts, server) are printed
 * with them. Without a database URL it says so and exits 0. The schema is
 * dropped afterwards unless LOOM_BENCH_KEEP is set (to inspect plans).
 * SPDX-License-Identifier: MIT
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../services/jobstore/db.h"
#include "../../services/jobstore/jobdb.h"

#define T0 1700000000LL

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    size_t i;

    out[0] = '0', out[1] = 'x';
    for (i = 0; i < n; i++)
        snprintf(out + 2 + 2 * i, 3, "%02x", b[i]);
}

static void job_id_bytes(uint32_t k, uint8_t out[32])
{
    memset(out, 0, 32);
    out[0] = 0x1d;
    out[28] = (uint8_t)(k >> 24), out[29] = (uint8_t)(k >> 16);
    out[30] = (uint8_t)(k >> 8), out[31] = (uint8_t)k;
}

static void spec_bytes(uint32_t k, uint8_t out[32])
{
    job_id_bytes(k, out);
    out[0] = 0x5e;
}

struct worker {
    struct jobdb *db;
    uint32_t first, count;
    int64_t *ids;
    double *lat;
    int get;
    int failed;
};

static void *run_cb(void *arg)
{
    struct worker *w = arg;
    uint8_t b[32];
    char cid[67], spec[67];
    struct jobdb_new_job in = {0};
    struct jobdb_job j;
    uint32_t i;

    in.title = "bench job";
    in.type = 0;
    in.price = "1.00";
    in.wallet_address = "0x00000000000000000000000000000000000000c1";
    in.price_usd_cents = 100;
    in.chain_job_id = cid;
    in.spec_sha256 = spec;
    for (i = 0; i < w->count; i++) {
        double t = now_s();
        if (w->get) {
            if (jobdb_get(w->db, w->ids[i], &j) != ERR_OK)
                w->failed++;
        } else {
            job_id_bytes(w->first + i, b);
            hex(b, 32, cid);
            spec_bytes(w->first + i, b);
            hex(b, 32, spec);
            if (jobdb_create(w->db, &in, &j) != ERR_OK)
                w->failed++;
            w->ids[i] = j.id;
        }
        jobdb_job_release(&j);
        w->lat[i] = now_s() - t;
    }
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static void phase(struct jobdb *db, int threads, uint32_t per, int get, int64_t *ids, uint32_t base)
{
    pthread_t th[64];
    struct worker w[64];
    double *lat = calloc((size_t)threads * per, sizeof *lat);
    double t0, dt;
    int i, failed = 0;

    if (!lat)
        return;
    t0 = now_s();
    for (i = 0; i < threads; i++) {
        w[i] = (struct worker){
            db, base + (uint32_t)i * per, per, ids + (size_t)i * per, lat + (size_t)i * per, get,
            0};
        pthread_create(&th[i], NULL, run_cb, &w[i]);
    }
    for (i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        failed += w[i].failed;
    }
    dt = now_s() - t0;
    qsort(lat, (size_t)threads * per, sizeof *lat, cmp_d);
    printf("%-8s threads=%-2d ops=%-6u %8.0f ops/s  p50=%.2f ms  p99=%.2f ms  failed=%d\n",
           get ? "get" : "create", threads, threads * per, threads * per / dt,
           lat[(size_t)threads * per / 2] * 1e3, lat[(size_t)threads * per * 99 / 100] * 1e3,
           failed);
    free(lat);
}

static struct jobdb_block blk(uint64_t n)
{
    struct jobdb_block b;

    memset(&b, 0, sizeof b);
    b.number = n;
    b.hash[0] = 0xbb, b.hash[24] = (uint8_t)(n >> 8), b.hash[31] = (uint8_t)n;
    b.parent_hash[0] = 0xbb, b.parent_hash[24] = (uint8_t)((n - 1) >> 8);
    b.parent_hash[31] = (uint8_t)(n - 1);
    return b;
}

/* Batch <k> covers block k+1 and carries <per_job> events for each of
 * <jobs> consecutive jobs. */
static void make_batch(uint32_t k, uint32_t jobs, struct jobdb_block *block,
                       struct jobdb_event *evs)
{
    uint32_t i, n = 0;
    int s;

    *block = blk(k + 1);
    for (i = 0; i < jobs; i++) {
        uint32_t job = k * jobs + i;
        for (s = 0; s < 3; s++, n++) {
            struct jobdb_event *e = &evs[n];
            memset(e, 0, sizeof *e);
            e->kind = s == 0 ? JOBDB_EV_CREATED : s == 1 ? JOBDB_EV_CLAIMED : JOBDB_EV_SUBMITTED;
            e->block_number = block->number;
            memcpy(e->block_hash, block->hash, 32);
            e->log_index = n;
            memset(e->tx_hash, 0x7a, 32);
            e->tx_hash[31] = (uint8_t)n;
            e->block_time_unix = T0 + block->number;
            job_id_bytes(job, e->job_id);
            e->client[19] = 0xc1;
            e->worker[19] = 0xa1;
            spec_bytes(job, e->spec_hash);
            memset(e->result_hash, 0x9e, 32);
            snprintf(e->amount_wei, sizeof e->amount_wei, "%s", "4000000000000000");
            e->price_usd_cents = 100;
            e->deadline_unix = T0 + 86400;
            e->expires_unix = T0 + 3600;
        }
    }
}

int main(void)
{
    const char *url = getenv("LOOM_BENCH_PG_URL");
    char schema[64];
    struct db_config cfg;
    struct jobdb *db = NULL;
    int64_t *ids;
    uint32_t per = 1000, batches = 20, jobs_per_batch = 334, k;
    struct jobdb_event *evs;
    struct jobdb_changes ch;
    double t0, dt;
    size_t total = 0;

    if (!url)
        url = getenv("LOOM_TEST_PG_URL");
    if (!url) {
        printf("bench_jobdb: set LOOM_BENCH_PG_URL or LOOM_TEST_PG_URL to run\n");
        return 0;
    }
    snprintf(schema, sizeof schema, "bench_jobdb_%d", (int)getpid());
    memset(&cfg, 0, sizeof cfg);
    cfg.url = url;
    cfg.n_conns = 8;
    cfg.checkout_timeout_ms = 30000;
    cfg.schema = schema;
    if (jobdb_open(&cfg, &db) != ERR_OK) {
        fprintf(stderr, "bench_jobdb: cannot open %s: %s\n", url, db_last_error());
        return 1;
    }
    printf("bench_jobdb: server %s, schema %s, pool 8 connections, %ld online CPUs\n", url, schema,
           sysconf(_SC_NPROCESSORS_ONLN));
    ids = calloc(8 * (size_t)per, sizeof *ids);
    evs = calloc(3 * (size_t)jobs_per_batch, sizeof *evs);
    if (!ids || !evs)
        return 1;
    /* Chain ids 0..8999: the batches below fund and claim 0..6679. */
    phase(db, 1, per, 0, ids, 0);
    phase(db, 8, per, 0, ids, per);
    phase(db, 1, per, 1, ids, 0);
    phase(db, 8, per, 1, ids, 0);

    t0 = now_s();
    for (k = 0; k < batches; k++) {
        struct jobdb_block b;
        struct jobdb_batch batch;
        make_batch(k, jobs_per_batch, &b, evs);
        batch = (struct jobdb_batch){k + 1, k + 1, &b, 1, evs, 3 * (size_t)jobs_per_batch};
        if (jobdb_apply_batch(db, &batch, &ch) != ERR_OK) {
            fprintf(stderr, "apply failed: %s\n", db_last_error());
            break;
        }
        total += ch.n_applied;
        jobdb_changes_release(&ch);
    }
    dt = now_s() - t0;
    printf("apply    batches=%u events/batch=%u jobs/batch=%u  %8.0f events/s  (%.1f ms/batch)\n",
           batches, 3 * jobs_per_batch, jobs_per_batch, (double)total / dt, dt * 1e3 / batches);
    {
        struct jobdb_block fork = blk(batches - 1);
        t0 = now_s();
        if (jobdb_rollback(db, &fork, &ch) == ERR_OK) {
            dt = now_s() - t0;
            printf("rollback 1 block, %zu jobs recomputed: %.1f ms\n", ch.n, dt * 1e3);
            jobdb_changes_release(&ch);
        }
    }
    if (getenv("LOOM_BENCH_KEEP"))
        printf("bench_jobdb: kept schema %s (LOOM_BENCH_KEEP)\n", schema);
    else if (db_drop_schema(jobdb_pool(db), schema) != ERR_OK)
        fprintf(stderr, "bench_jobdb: cannot drop %s: %s\n", schema, db_last_error());
    jobdb_close(db);
    free(ids);
    free(evs);
    return 0;
}
