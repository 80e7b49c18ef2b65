/*
 * daemon -- loom-worker's serving mode: hear of jobs, claim, run, deliver,
 * get paid.
 *
 * Two threads (and chainhead.h's). One libevent loop holds the feed (a
 * nanomsg SUB on job.open.<type> for each type offered, job.closed and
 * feed.heartbeat), the /metrics and /health listener and the SIGTERM/SIGINT
 * handlers; its callbacks never block. The job thread runs that loop itself
 * while it is idle, and the main thread runs it while the job thread is
 * busy (one at a time; hand-overs happen off the dispatch path), so an
 * announcement that comes to an idle worker is handled by the thread that
 * will claim it, with no wake-up in between. A job.open that passes the
 * cheap filters (type, minimum price) goes into a FIFO of candidates,
 * stamped with the time it arrived; a job.closed removes its job from the
 * FIFO. The job thread takes
 * one candidate at a time and does all the blocking work, in order:
 *   1. getJob on chain: the job exists, is Open, its deadline is ahead,
 *      its spec hash is the one advertised, it pays at least the minimum
 *      price, and it is not this worker's own lapsed claim (which the
 *      escrow would refuse);
 *   2. job.json over REST, checked against the announced spec hash (equal
 *      to the on-chain one, step 1) and decoded, before any claim: a
 *      worker never claims what it cannot run. The job thread sends this
 *      request before step 1 and reads the answer after it
 *      (gwc_fetch_start/finish), so the gateway and the node work at the
 *      same time; the job's folder is made only after the claim;
 *   3. claim(): a signed EIP-1559 transaction (escrow.h), priced with the
 *      base fee and tip the chainhead thread (chainhead.h) keeps ready and
 *      the nonce counted locally, so getJob is the only round trip to the
 *      node before it. The time from the feed message to the transaction
 *      completely written to the node's connection is the dispatch latency
 *      (metric loom_worker_dispatch_seconds); to the node's acceptance, the
 *      second figure (loom_worker_dispatch_accepted_seconds). A claim whose
 *      receipt says reverted is a lost race: logged at info and the worker
 *      moves on;
 *   4. the inputs over REST into the job's folder, each checked against its
 *      sha256 in the spec;
 *   5. runner_run() in the confined child (runner.h), with the claim's
 *      max runtime less a reserve for delivery as the wall-clock limit;
 *      progress goes to the gateway (signed PUT) at most once a second and
 *      at least every 2 s, as the runner reports at least every second;
 *   6. the result bundle (bundle.h) uploaded (signed POST), and its SHA-256
 *      submitted on chain;
 *   7. withdraw() when the escrow holds at least the threshold for this
 *      worker (checked at start and after each job).
 * One job at a time per worker: a GPU runs one job well, and the claim's
 * clock starts at once, so claiming a second job while busy would only
 * burn its runtime. Run several workers (one per device) for more.
 * On start the job thread waits (up to 2.5 s) for the feed's first
 * heartbeat, then takes one snapshot of open jobs over REST
 * (GET /api/jobs?status=OPEN&type=T) before serving the feed; it never
 * polls the gateway. It takes another snapshot, before its next job,
 * whenever the heartbeats say the feed may have lost messages (feedwatch.h:
 * new epoch, seq gap, silence).
 * SIGTERM stops taking candidates and waits for the job in hand to finish
 * (its claim would otherwise lapse unpaid).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_WORKER_DAEMON_H
#define LOOM_WORKER_DAEMON_H

#include <stdint.h>

struct daemon_opts {
    const char *exe;   /* the worker binary runner.c execs (borrowed) */
    const char *feed;  /* nanomsg address of the feed, "tcp://host:port" */
    const char *types; /* job types offered: "IA", "GRAFICA" or "IA,GRAFICA" */
    long long min_price_usd_cents;
    long long
        device_mem_bytes;    /* opencl jobs whose buffers need more are not claimed; 0: no check */
    const char *cl_platform; /* OpenCL selectors for the job child (may be "") */
    const char *cl_device;
    const char *gateway;                /* "http://host:port" */
    const char *rpc_url;                /* JSON-RPC node */
    const char *deployment;             /* contracts/deploy.sh's JSON: chainId, escrow */
    const char *key_file;               /* the worker's key, mode 0600 */
    const char *work_dir;               /* one folder per job is made under it */
    const char *withdraw_threshold_wei; /* decimal; "0": never withdraw automatically */
    const char *metrics_listen;         /* "host:port" (port 0: any) or "" for none */
    long long max_runtime_ms;           /* cap on one job's wall-clock limit */
    long long cpu_seconds;              /* RLIMIT_CPU of a job, 0: wall x cores */
    long long mem_bytes;                /* RLIMIT_AS of a job */
    int seccomp;
};

/*
 * Serve until SIGTERM or SIGINT. Reads the key, the deployment and checks
 * the chain at start; a bad setting or an unreachable node ends start-up
 * with a message on stderr.
 * Returns a sysexits(3) code: EX_OK after a clean stop, EX_CONFIG (bad
 * settings, deployment or key), EX_UNAVAILABLE (node or feed unreachable at
 * start), EX_SOFTWARE. Blocks.
 */
int daemon_serve(const struct daemon_opts *o);

/*
 * Withdraw the worker's whole escrow balance now and print one JSON line on
 * stdout: {"withdrawn_wei":"...","fee_wei":"...","tx":"0x..."} ("0" and no
 * transaction when the balance is zero). Returns EX_OK, EX_CONFIG,
 * EX_UNAVAILABLE (the node failed), EX_SOFTWARE (the transaction reverted).
 * Blocks.
 */
int daemon_withdraw(const struct daemon_opts *o);

#endif
