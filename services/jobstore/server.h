/*
 * server -- the job store's REP endpoint: many requests in flight, each
 * decoded on the loop, run on the work queue, answered from the loop.
 *
 * Flow of one request: the bus delivers it on the event-loop thread; it is
 * decoded with proto/ (a malformed one is answered at once with its error
 * code and the failing member's path); ops_run() runs it on a pool thread
 * (workq.h) against jobdb; back on the loop thread the reply is encoded and
 * sent, the feed messages it caused are published (feedpub.h), metrics are
 * counted and one log line is written (debug when it succeeded, warn or
 * error when not) with the request id, command and job id. Replies go out
 * in completion order: a slow query holds one pool thread and one database
 * connection, never the loop or the other requests.
 *
 * Group commit: job.create requests do not go to the pool one by one. They
 * queue on the loop; when no batch is running, one batch takes every
 * waiting request (up to create_batch_max) to ops_run_creates(), which
 * writes them in one statement and one commit, each job still failing
 * alone. A request that finds no batch running goes out at once (no added
 * latency when idle); under load, the requests that arrive while a batch
 * commits form the next one. Up to create_batches batches may run at once,
 * but one beyond the first starts only when the youngest running batch has
 * taken create_overlap_ms (so while fewer than create_batches are running,
 * a slow statement holds the other creates no longer than that) or when
 * create_batch_max requests wait. Each request is
 * answered, as before, only after its transaction committed.
 *
 * Health: /health is 503 while the database is unreachable, as seen by the
 * last request outcome or by a probe (SELECT 1 on the pool) every
 * health_interval_ms. Shutdown: server_drain() stops taking work (new
 * requests get "unavailable"), waits for the in-flight ones to be
 * answered, lets nanomsg flush (it has no linger), then calls back.
 *
 * Metrics (registered in the registry given to server_new()):
 *   loom_jobstore_requests_total{cmd,result}    result: "ok" or err_code()
 *   loom_jobstore_request_duration_seconds{cmd} histogram, receipt to reply
 *   loom_jobstore_requests_in_flight            gauge
 *   loom_jobstore_db_up                         gauge, 1 or 0
 *   loom_jobstore_db_pool_connections{state}    gauge, idle / busy
 *   loom_jobstore_feed_messages_total{topic}    counter (feedpub.h)
 *   loom_jobstore_feed_errors_total             counter: messages not published
 *   loom_jobstore_bus_malformed_total           counter: frames bus dropped
 *   loom_jobstore_create_batch_jobs             histogram: job.create per batch
 *   loom_jobstore_create_batch_overlaps_total   counter: batches started while
 *                                               another was being written
 * Threading: everything here runs on the loop thread of <base>.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_JOBSTORE_SERVER_H
#define LOOM_JOBSTORE_SERVER_H

#include <stddef.h>

#include "err.h"

struct event_base;
struct jobdb;
struct metrics;
struct server;

struct server_config {
    const char *rep_addr;   /* bus address to serve commands on; borrowed */
    const char *pub_addr;   /* bus address of the job feed; borrowed */
    unsigned n_threads;     /* pool threads running jobdb calls, 1..WORKQ_MAX_THREADS */
    size_t max_in_flight;   /* requests accepted and not yet answered; more get "unavailable" */
    int health_interval_ms; /* database probe period, > 0 */
    /* Group commit of job.create: requests that arrive while earlier
     * batches are being written wait and go out together, at most
     * create_batch_max per statement (1..OPS_CREATE_BATCH_MAX; 0: 64), with
     * at most create_batches batches running at once (0: 2). With no batch
     * running a request goes out at once; a further batch starts while
     * others run only once the youngest of them has run create_overlap_ms,
     * or when create_batch_max requests wait. Unlike the two above, 0 here
     * is not "the default" but "at once" (main.c's default is 50). */
    unsigned create_batch_max;
    unsigned create_batches;
    unsigned create_overlap_ms;
};

/* Called once when a drain has finished. */
typedef void (*server_drained_fn)(void *arg);

/*
 * Bind the REP and PUB endpoints, start the pool and the health probe.
 *   base, db, m: borrowed; must outlive the server. The server registers its
 *                metrics, and the /health callback, in <m>.
 *   out:         receives the server, owned by the caller (server_free()).
 * Returns ERR_OK; ERR_INVAL (bad configuration or address); ERR_EXISTS
 * (an address in use); ERR_PERM; ERR_NOMEM; ERR_IO. Does not block.
 */
LOOM_MUST_CHECK enum err server_new(struct event_base *base, struct jobdb *db, struct metrics *m,
                                    const struct server_config *cfg, struct server **out);

/*
 * Stop taking requests and call <cb>(<arg>) on the loop thread once every
 * request in flight has been answered (and a short flush delay passed).
 * Call once.
 */
void server_drain(struct server *s, server_drained_fn cb, void *arg);

/* Requests accepted and not yet answered. */
size_t server_in_flight(const struct server *s);

/* Stop the pool (waiting for running items), close the endpoints and
 * free <s>. Accepts NULL. */
void server_free(struct server *s);

#endif
