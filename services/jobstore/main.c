/*
 * loom-jobstore -- the job store's entry point: settings, the database
 * (migrations at start-up), the REP command server and the PUB feed
 * (server.h), /metrics and /health, and a clean stop on SIGTERM or SIGINT
 * (requests in flight are answered first). Only start-up lives here.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "db.h"
#include "jobdb.h"
#include "heap.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "ops.h"
#include "workq.h"

static char *database_url, *db_schema, *rep_addr, *pub_addr, *metrics_host, *log_level;
static long long pool_size, worker_threads, max_in_flight, metrics_port, statement_timeout_ms,
    checkout_timeout_ms, connect_timeout_s, db_wait_s, health_interval_ms, create_batch_max,
    create_batches, create_overlap_ms;

static const struct cfg_opt opts[] = {
    {"database_url", CFG_STR, "postgresql://localhost/loom", 0, 0, NULL,
     "PostgreSQL connection URI (libpq)", &database_url},
    {"db_schema", CFG_STR, "", 0, 0, NULL,
     "schema to work in, created if missing ([a-z_][a-z0-9_]*; empty: the server default)",
     &db_schema},
    {"rep_addr", CFG_STR, "tcp://127.0.0.1:7401", 0, 0, NULL,
     "bus address for commands (nanomsg REP: tcp://host:port, ipc:///path)", &rep_addr},
    {"pub_addr", CFG_STR, "tcp://127.0.0.1:7402", 0, 0, NULL,
     "bus address of the job feed (nanomsg PUB)", &pub_addr},
    {"pool_size", CFG_INT, "8", 1, DB_POOL_MAX, NULL, "database connections", &pool_size},
    {"worker_threads", CFG_INT, "0", 0, WORKQ_MAX_THREADS, NULL,
     "threads running database calls (0: one per connection)", &worker_threads},
    {"max_in_flight", CFG_INT, "1024", 1, 1000000, NULL,
     "commands accepted and not yet answered; more are refused as unavailable", &max_in_flight},
    {"metrics_host", CFG_STR, "127.0.0.1", 0, 0, NULL, "address of the /metrics, /health listener",
     &metrics_host},
    {"metrics_port", CFG_INT, "9402", 0, 65535, NULL,
     "port of the /metrics, /health listener (0: any free port, logged)", &metrics_port},
    {"statement_timeout_ms", CFG_INT, "30000", 0, 3600000, NULL,
     "server-side limit per SQL statement, ms (0: none)", &statement_timeout_ms},
    {"checkout_timeout_ms", CFG_INT, "5000", 0, 600000, NULL,
     "wait for a free database connection, ms", &checkout_timeout_ms},
    {"connect_timeout_s", CFG_INT, "5", 1, 300, NULL, "database connect and reconnect limit, s",
     &connect_timeout_s},
    {"db_wait_s", CFG_INT, "30", 0, 3600, NULL,
     "at start-up, keep retrying an unreachable database this long, s", &db_wait_s},
    {"create_batch_max", CFG_INT, "64", 1, OPS_CREATE_BATCH_MAX, NULL,
     "most job.create requests written in one statement and commit (1: one each)",
     &create_batch_max},
    {"create_batches", CFG_INT, "2", 1, 64, NULL,
     "most job.create batches written at once (a further one waits for create_overlap_ms);"
     " requests arriving meanwhile form the next",
     &create_batches},
    {"create_overlap_ms", CFG_INT, "50", 0, 600000, NULL,
     "a further job.create batch starts only once the running one has taken this long, ms"
     " (or a full batch waits; 0: at once)",
     &create_overlap_ms},
    {"health_interval_ms", CFG_INT, "1000", 50, 600000, NULL,
     "database probe period behind /health, ms", &health_interval_ms},
    {"log_level", CFG_STR, "info", 0, 0, "debug|info|warn|error", "minimum log level", &log_level},
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

struct app {
    struct event_base *base;
    struct server *server;
    int stopping;
};

static void on_drained(void *arg)
{
    struct app *a = arg;

    event_base_loopexit(a->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct app *a = arg;

    (void)what;
    if (a->stopping) {
        LOG_WARN("jobstore.stop_now", "signal=%d", (int)sig);
        event_base_loopexit(a->base, NULL);
        return;
    }
    a->stopping = 1;
    LOG_INFO("jobstore.stopping", "signal=%d in_flight=%zu", (int)sig, server_in_flight(a->server));
    server_drain(a->server, on_drained, a);
}

/* Open the database, retrying while it is unreachable for up to db_wait_s:
 * in docker-compose the job store may start before PostgreSQL accepts
 * connections. */
static enum err open_db(struct jobdb **db)
{
    struct db_config dc;
    time_t give_up = time(NULL) + (time_t)db_wait_s;
    enum err e;

    memset(&dc, 0, sizeof dc);
    dc.url = database_url;
    dc.n_conns = (unsigned)pool_size;
    dc.checkout_timeout_ms = (int)checkout_timeout_ms;
    dc.statement_timeout_ms = (int)statement_timeout_ms;
    dc.connect_timeout_s = (int)connect_timeout_s;
    dc.application_name = "loom-jobstore";
    dc.schema = db_schema[0] ? db_schema : NULL;
    for (;;) {
        e = jobdb_open(&dc, db);
        if (e != ERR_UNAVAILABLE || time(NULL) >= give_up)
            return e;
        LOG_WARN("db.waiting", "error=%s cause=%s", err_str(e), db_last_error());
        sleep(1);
    }
}

int main(int argc, char **argv)
{
    char errbuf[CFG_ERR_MAX];
    struct metrics_http *http = NULL;
    struct event *sigterm = NULL, *sigint = NULL;
    struct metrics *m = NULL;
    struct jobdb *db = NULL;
    struct server_config sc;
    struct app app;
    enum log_level lvl = LOG_LEVEL_INFO;
    int help = 0, rc = EX_OK;
    enum err e;

    memset(&app, 0, sizeof app);
    e = cfg_load(opts, N_OPTS, argc, argv, &help, NULL, NULL, errbuf);
    if (help) {
        cfg_print_help(stdout, "loom-jobstore",
                       "the job store: PostgreSQL behind nanomsg REP commands and the PUB job feed",
                       opts, N_OPTS);
        goto done;
    }
    if (e != ERR_OK) {
        fprintf(stderr, "loom-jobstore: %s\n", errbuf);
        rc = EX_USAGE;
        goto done;
    }
    if (log_level_parse(log_level, &lvl) != ERR_OK)
        lvl = LOG_LEVEL_INFO; /* cfg's choices already restrict it */
    log_init("jobstore", lvl);
    if (heap_tune_for_batches() != 0)
        LOG_WARN("heap.tune_failed", "cause=%s", "mallopt refused a value; glibc defaults stay");
    /* A peer that vanishes mid-write must not kill the service. */
    signal(SIGPIPE, SIG_IGN);

    e = open_db(&db);
    if (e != ERR_OK) {
        LOG_ERROR("jobstore.db_failed", "error=%s cause=%s", err_str(e), db_last_error());
        rc = e == ERR_UNAVAILABLE                                   ? EX_UNAVAILABLE
             : e == ERR_STATE || e == ERR_VERSION || e == ERR_INVAL ? EX_CONFIG
                                                                    : EX_SOFTWARE;
        goto done;
    }
    app.base = event_base_new();
    if (!app.base || metrics_new(&m) != ERR_OK) {
        LOG_ERROR("jobstore.start_failed", "error=%s", "cannot make the event loop or metrics");
        rc = EX_OSERR;
        goto done;
    }
    memset(&sc, 0, sizeof sc);
    sc.rep_addr = rep_addr;
    sc.pub_addr = pub_addr;
    sc.n_threads = (unsigned)(worker_threads ? worker_threads : pool_size);
    sc.max_in_flight = (size_t)max_in_flight;
    sc.health_interval_ms = (int)health_interval_ms;
    sc.create_batch_max = (unsigned)create_batch_max;
    sc.create_batches = (unsigned)create_batches;
    sc.create_overlap_ms = (unsigned)create_overlap_ms;
    e = server_new(app.base, db, m, &sc, &app.server);
    if (e != ERR_OK) {
        LOG_ERROR("jobstore.start_failed", "rep_addr=%s pub_addr=%s error=%s", rep_addr, pub_addr,
                  err_str(e));
        rc = e == ERR_INVAL ? EX_CONFIG : EX_OSERR;
        goto done;
    }
    e = metrics_http_start(app.base, metrics_host, (uint16_t)metrics_port, m, &http);
    if (e != ERR_OK) {
        LOG_ERROR("jobstore.start_failed", "metrics=%s:%lld error=%s", metrics_host, metrics_port,
                  err_str(e));
        rc = e == ERR_INVAL ? EX_CONFIG : EX_OSERR;
        goto done;
    }
    sigterm = evsignal_new(app.base, SIGTERM, on_signal, &app);
    sigint = evsignal_new(app.base, SIGINT, on_signal, &app);
    if (!sigterm || !sigint || event_add(sigterm, NULL) == -1 || event_add(sigint, NULL) == -1) {
        LOG_ERROR("jobstore.start_failed", "error=%s", "cannot watch signals");
        rc = EX_OSERR;
        goto done;
    }
    LOG_INFO("jobstore.ready", "rep_addr=%s pub_addr=%s metrics_port=%u pool_size=%lld threads=%u",
             rep_addr, pub_addr, (unsigned)metrics_http_port(http), pool_size, sc.n_threads);
    if (event_base_dispatch(app.base) == -1)
        rc = EX_SOFTWARE;
    LOG_INFO("jobstore.stopped", "in_flight=%zu", server_in_flight(app.server));
done:
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    metrics_http_free(http);
    server_free(app.server);
    metrics_free(m);
    if (app.base)
        event_base_free(app.base);
    jobdb_close(db);
    cfg_release(opts, N_OPTS);
    return rc;
}
