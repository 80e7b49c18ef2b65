/*
 * bench_jobstore -- commands per second and latency through the real
 * loom-jobstore: an event-loop proto client keeps 1 or 64 requests in
 * flight over ipc://, against LOOM_BENCH_PG_URL (or LOOM_TEST_PG_URL) in a
 * fresh schema that is dropped afterwards. Prints figures and conditions;
 * asserts nothing.
 *
 *   job.get  by primary key (one read plus its history read)
 *   job.create (a sequence value, one INSERT), synchronous_commit as the
 *            server has it
 * SPDX-License-Identifier: MIT
 */
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../services/jobstore/db.h"
#include "client.h"
#include "cmd.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct run {
    struct event_base *base;
    struct proto_client *c;
    struct proto_request req;
    int total, sent, done, failed, depth;
    double *lat, *t_sent;
};

static void send_one(struct run *r);

static void on_reply(void *arg, enum err status, struct proto_reply *rep)
{
    struct run *r = arg;
    int i = r->done++;

    r->lat[i] = now_s() - r->t_sent[i];
    if (status != ERR_OK || !rep->ok)
        r->failed++;
    proto_reply_release(rep);
    if (r->sent < r->total)
        send_one(r);
    else if (r->done == r->total)
        event_base_loopbreak(r->base);
}

static void send_one(struct run *r)
{
    /* Latencies are matched to send order: with one client and FIFO
     * service this is exact at depth 1 and an approximation at depth 64. */
    r->t_sent[r->sent++] = now_s();
    if (proto_client_send(r->c, &r->req, on_reply, r) != ERR_OK) {
        r->failed++;
        r->done++;
    }
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bench(const char *name, struct event_base *base, struct proto_client *c,
                  const struct proto_request *req, int total, int depth)
{
    struct run r;
    double t0, secs;
    int i;

    memset(&r, 0, sizeof r);
    r.base = base;
    r.c = c;
    r.req = *req;
    r.total = total;
    r.depth = depth;
    r.lat = calloc((size_t)total, sizeof *r.lat);
    r.t_sent = calloc((size_t)total, sizeof *r.t_sent);
    if (!r.lat || !r.t_sent)
        exit(1);
    t0 = now_s();
    for (i = 0; i < depth && r.sent < total; i++)
        send_one(&r);
    event_base_dispatch(base);
    secs = now_s() - t0;
    qsort(r.lat, (size_t)r.done, sizeof *r.lat, cmp_d);
    printf("%-11s in flight %2d: %6d requests, %5.0f req/s, p50 %.2f ms, p99 %.2f ms, %d failed\n",
           name, depth, total, total / secs, r.lat[r.done / 2] * 1000,
           r.lat[(int)(r.done * 0.99)] * 1000, r.failed);
    free(r.lat);
    free(r.t_sent);
}

int main(void)
{
    const char *url = getenv("LOOM_BENCH_PG_URL"), *build = getenv("LOOM_BUILD");
    char dir[] = "/tmp/bench_jobstore.XXXXXX", rep_addr[128], pub_addr[128], schema[64], bin[512],
         log[160];
    struct proto_request req;
    struct proto_client *c = NULL;
    struct event_base *base;
    pid_t pid;
    int i;

    if (!url || !*url)
        url = getenv("LOOM_TEST_PG_URL");
    if (!url || !*url) {
        printf("bench_jobstore: set LOOM_BENCH_PG_URL or LOOM_TEST_PG_URL to run\n");
        return 0;
    }
    if (!mkdtemp(dir))
        return 1;
    snprintf(rep_addr, sizeof rep_addr, "ipc://%s/rep", dir);
    snprintf(pub_addr, sizeof pub_addr, "ipc://%s/pub", dir);
    snprintf(log, sizeof log, "%s/log", dir);
    snprintf(schema, sizeof schema, "bench_jobstore_%d", (int)getpid());
    snprintf(bin, sizeof bin, "%s/bin/loom-jobstore", build ? build : "build");
    pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (fd >= 0)
            dup2(fd, 2);
        execl(bin, bin, "--database-url", url, "--db-schema", schema, "--rep-addr", rep_addr,
              "--pub-addr", pub_addr, "--metrics-port", "0", "--pool-size", "8", "--log-level",
              "warn", (char *)NULL);
        _exit(127);
    }
    base = event_base_new();
    if (!base || proto_client_new_async(base, rep_addr, 30000, &c) != ERR_OK)
        return 1;
    printf("bench_jobstore: loom-jobstore, pool 8 connections, 8 threads, ipc://, %ld cores\n",
           sysconf(_SC_NPROCESSORS_ONLN));

    /* Warm-up doubles as the wait for start-up: the client queues until
     * the REP endpoint exists. */
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_JOB_CREATE;
    req.args.job_create.title = "bench job";
    req.args.job_create.description = "";
    req.args.job_create.type = PROTO_JOB_IA;
    req.args.job_create.price_usd_cents = 1250;
    for (i = 0; i < 20; i++)
        req.args.job_create.wallet_address[i] = (uint8_t)(0x10 + i);
    req.args.job_create.has_spec_sha256 = true;
    memset(req.args.job_create.spec_sha256, 0xd4, 32);
    req.args.job_create.deadline_at = 1764547200;
    req.args.job_create.max_runtime_s = 3600;
    bench("job.create", base, c, &req, 200, 1);
    bench("job.create", base, c, &req, 2000, 1);
    bench("job.create", base, c, &req, 5000, 64);
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_JOB_GET;
    req.args.job_get.job_id = 100;
    bench("job.get", base, c, &req, 5000, 1);
    bench("job.get", base, c, &req, 20000, 64);

    proto_client_free(c);
    event_base_free(base);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    {
        struct db_config cfg;
        struct db_pool *p = NULL;
        memset(&cfg, 0, sizeof cfg);
        cfg.url = url;
        cfg.n_conns = 1;
        if (db_pool_new(&cfg, &p) == ERR_OK) {
            if (db_drop_schema(p, schema) != ERR_OK)
                fprintf(stderr, "bench_jobstore: cannot drop %s\n", schema);
            db_pool_free(p);
        }
    }
    unlink(log);
    rmdir(dir);
    return 0;
}
