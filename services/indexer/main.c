/*
 * loom-indexer -- mirrors LoomEscrow's job events into the job store.
 *
 * Only start-up lives here: the settings table, the JSON-RPC client, the
 * chain source, the sink and the follower, then follower_run() until
 * SIGTERM or SIGINT (or --until-block). The logic is in follower.c;
 * docs/indexer.md explains the exactly-once and reorg design.
 * Sinks: "jobstore" (jobsink.h: the job store over the bus; the default),
 * "journal" (memsink.h with a journal file: durable, what the crash test
 * uses) and "memory" (benchmarks).
 *
 * SPDX-License-Identifier: MIT
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "cfg.h"
#include "chain.h"
#include "escrowlog.h"
#include "hex.h"
#include "eth/rpc.h"
#include "follower.h"
#include "imetrics.h"
#include "jobsink.h"
#include "heap.h"
#include "log.h"
#include "memsink.h"
#include "proto.h"
#include "eth/headsub.h"

static char *rpc_url, *ws_url, *escrow_address, *sink_kind, *journal_path, *jobstore_url,
    *metrics_host, *log_level;
static long long start_block, confirmations, poll_interval_ms, initial_range_blocks,
    target_range_logs, max_range_blocks, max_batch_events, max_reorg_depth, rpc_timeout_ms,
    metrics_log_ms, until_block, jobstore_timeout_ms, metrics_port, logs_in_flight,
    logs_min_part_blocks, applies_in_flight;
static int journal_sync;

static const struct cfg_opt opts[] = {
    {"rpc_url", CFG_STR, "http://127.0.0.1:8545", 0, 0, NULL, "JSON-RPC node (http or https)",
     &rpc_url},
    {"ws_url", CFG_STR, "auto", 0, 0, NULL,
     "eth_subscribe(newHeads) websocket: a notification starts the next step at once, polling "
     "stays the fallback. auto: the rpc_url's http:// as ws:// (anvil serves both on one port; "
     "off for https://); off: poll only; or ws://host:port/path",
     &ws_url},
    {"escrow_address", CFG_STR, NULL, 0, 0, NULL, "LoomEscrow's address, 0x + 40 hex digits",
     &escrow_address},
    {"start_block", CFG_INT, NULL, 1, PROTO_MAX_ID, NULL,
     "the escrow's deployment block: where indexing starts without a checkpoint", &start_block},
    {"confirmations", CFG_INT, "0", 0, 100000, NULL,
     "blocks kept below the head (0 on anvil; see docs/indexer.md for Scroll)", &confirmations},
    {"poll_interval_ms", CFG_INT, "250", 10, 60000, NULL,
     "eth_blockNumber polling interval when caught up, ms", &poll_interval_ms},
    {"initial_range_blocks", CFG_INT, "16", 1, 100000, NULL, "first eth_getLogs span, blocks",
     &initial_range_blocks},
    {"target_range_logs", CFG_INT, "2500", 1, 5000, NULL,
     "events one eth_getLogs range should hold (spans follow the density seen; at most "
     "max_batch_events)",
     &target_range_logs},
    {"max_range_blocks", CFG_INT, "10000", 1, 100000, NULL, "largest eth_getLogs span, blocks",
     &max_range_blocks},
    {"max_batch_events", CFG_INT, "5000", 1, 5000, NULL, "events per events.apply",
     &max_batch_events},
    {"max_reorg_depth", CFG_INT, "128", 1, 1000000, NULL,
     "blocks rolled back when no kept block hash is shared (after a restart)", &max_reorg_depth},
    {"logs_in_flight", CFG_INT, "4", 1, CHAIN_RPC_MAX_PARALLEL, NULL,
     "eth_getLogs requests in flight at once over parts of one range (catch-up speed)",
     &logs_in_flight},
    {"applies_in_flight", CFG_INT, "1", 0, 1, NULL,
     "events.apply batches in flight while the next range is read: 1 overlaps reading with the "
     "sink's apply (catch-up speed), 0 applies each batch before reading on",
     &applies_in_flight},
    {"logs_min_part_blocks", CFG_INT, "1", 1, 100000, NULL,
     "narrowest part of a range read on its own connection, blocks", &logs_min_part_blocks},
    {"rpc_timeout_ms", CFG_INT, "5000", 100, 600000, NULL, "limit of one JSON-RPC attempt, ms",
     &rpc_timeout_ms},
    {"sink", CFG_STR, "jobstore", 0, 0, "jobstore|journal|memory",
     "where events go: the job store over the bus, a journal file, or memory (benchmarks)",
     &sink_kind},
    {"jobstore_url", CFG_STR, "tcp://127.0.0.1:7401", 0, 0, NULL,
     "the job store's bus address (its rep_addr: tcp://host:port, ipc:///path)", &jobstore_url},
    {"jobstore_timeout_ms", CFG_INT, "30000", 100, 600000, NULL,
     "limit of one job store call (an events.apply of 5,000 events must fit), ms",
     &jobstore_timeout_ms},
    {"journal_path", CFG_STR, "loom-indexer.journal", 0, 0, NULL, "the journal sink's file",
     &journal_path},
    {"journal_sync", CFG_BOOL, "true", 0, 0, NULL, "fdatasync the journal after every command",
     &journal_sync},
    {"metrics_host", CFG_STR, "127.0.0.1", 0, 0, NULL, "address of the /metrics, /health listener",
     &metrics_host},
    {"metrics_port", CFG_INT, "9403", -1, 65535, NULL,
     "port of the /metrics, /health listener (0: any free port, logged; -1: none)", &metrics_port},
    {"metrics_log_ms", CFG_INT, "10000", -1, 3600000, NULL,
     "log the metrics this often, ms (-1: never)", &metrics_log_ms},
    {"until_block", CFG_INT, "0", 0, 1LL << 53, NULL,
     "exit 0 once this block is indexed (0: run until SIGTERM)", &until_block},
    {"log_level", CFG_STR, "info", 0, 0, "debug|info|warn|error", "minimum log level", &log_level},
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static volatile sig_atomic_t stop_flag;

/* The new-head subscription's callbacks (on headsub's thread). */
struct head_wiring {
    struct follower *f;
    const char *where; /* scheme, host and port only: a path may hold a key */
    long long poll_ms;
    bool warned; /* a failure was logged since the last "up" */
};

static void head_cb(void *arg, uint64_t number)
{
    struct head_wiring *hw = arg;
    (void)number; /* a hint only: the step reads the head itself */
    follower_wake(hw->f);
}

static void head_state_cb(void *arg, bool live, enum err why, const char *msg)
{
    struct head_wiring *hw = arg;
    follower_set_head_sub(hw->f, live);
    if (live) {
        LOG_INFO("indexer.head_sub_up", "url=%s", hw->where);
        hw->warned = false;
    } else if (!hw->warned) {
        /* Once per outage: the retries that follow (backoff up to 30 s)
         * are logged at debug level. */
        LOG_WARN("indexer.head_sub_down", "url=%s error=%s reason=%s fallback=polling poll_ms=%lld",
                 hw->where, err_str(why), msg, hw->poll_ms);
        hw->warned = true;
    } else {
        LOG_DEBUG("indexer.head_sub_retry_failed", "url=%s error=%s reason=%s", hw->where,
                  err_str(why), msg);
    }
}

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

int main(int argc, char **argv)
{
    int help = 0;
    char errbuf[CFG_ERR_MAX];
    int rc = EX_OK;
    struct rpc *rpc = NULL;
    struct rpc *extra[CHAIN_RPC_MAX_PARALLEL - 1] = {NULL};
    size_t n_extra = 0;
    struct escrowlog *el = NULL;
    struct chain_rpc *cr = NULL;
    struct memsink *ms = NULL;
    struct jobsink *js = NULL;
    struct follower *f = NULL;
    struct imetrics *im = NULL;
    struct headsub *hs = NULL;
    char *ws_derived = NULL, *ws_where = NULL;
    struct head_wiring hw = {0};
    enum err e = cfg_load(opts, N_OPTS, argc, argv, &help, NULL, NULL, errbuf);
    enum log_level lvl = LOG_LEVEL_INFO;
    if (e == ERR_OK && !help && log_level_parse(log_level, &lvl) != ERR_OK)
        lvl = LOG_LEVEL_INFO;
    log_init("indexer", lvl);
    if (heap_tune_for_batches() != 0)
        LOG_WARN("heap.tune_failed", "cause=%s", "mallopt refused a value; glibc defaults stay");
    if (help) {
        cfg_print_help(stdout, "loom-indexer",
                       "mirrors LoomEscrow's events into the job store, exactly once", opts,
                       N_OPTS);
        goto done;
    }
    if (e != ERR_OK) {
        fprintf(stderr, "loom-indexer: %s\n", errbuf);
        rc = EX_USAGE;
        goto done;
    }
    uint8_t address[20];
    if (escrow_address == NULL || hex_decode_exact(escrow_address, address, 20) != ERR_OK) {
        fprintf(stderr,
                "loom-indexer: LOOM_ESCROW_ADDRESS / --escrow-address \"%s\": "
                "must be 0x and 40 hex digits\n",
                escrow_address ? escrow_address : "");
        rc = EX_USAGE;
        goto done;
    }
    if (start_block == 0) {
        fprintf(stderr, "loom-indexer: LOOM_START_BLOCK / --start-block is required\n");
        rc = EX_USAGE;
        goto done;
    }
    /* One attempt per call: the follower is the retry layer (backoff with
     * jitter, and a range that timed out is narrowed rather than asked
     * again). The client's own retries would repeat a heavy eth_getLogs
     * that timed out up to 4 times before the follower could narrow it. */
    struct rpc_opts ro = {.url = rpc_url, .timeout_ms = (long)rpc_timeout_ms, .max_attempts = 1};
    e = rpc_new(&ro, &rpc);
    if (e != ERR_OK) {
        fprintf(stderr, "loom-indexer: LOOM_RPC_URL \"%s\": %s\n", rpc_url, err_str(e));
        rc = EX_USAGE;
        goto done;
    }
    for (; e == ERR_OK && n_extra + 1 < (size_t)logs_in_flight; n_extra++)
        e = rpc_new(&ro, &extra[n_extra]);
    struct chain chain;
    struct sink sink;
    if (e != ERR_OK || escrowlog_new(&el) != ERR_OK ||
        chain_rpc_new(rpc, address, escrowlog_topics(el), ESCROWLOG_N_EVENTS, &cr, &chain) !=
            ERR_OK ||
        chain_rpc_set_parallel(cr, extra, n_extra, (uint64_t)logs_min_part_blocks) != ERR_OK) {
        rc = EX_OSERR;
        goto done;
    }
    if (strcmp(sink_kind, "jobstore") == 0) {
        e = jobsink_new(jobstore_url, (int)jobstore_timeout_ms, &js, &sink);
        if (e != ERR_OK) {
            fprintf(stderr, "loom-indexer: LOOM_JOBSTORE_URL \"%s\": %s\n", jobstore_url,
                    err_str(e));
            rc = e == ERR_INVAL ? EX_USAGE : EX_OSERR;
            goto done;
        }
    } else {
        bool journal = strcmp(sink_kind, "journal") == 0;
        e = memsink_open(journal ? journal_path : NULL, journal_sync, &ms, &sink);
        if (e != ERR_OK) {
            LOG_ERROR("indexer.sink_open_failed", "path=%s error=%s", journal_path, err_str(e));
            rc = e == ERR_IO ? EX_IOERR : EX_DATAERR;
            goto done;
        }
    }
    struct follower_opts fo = {
        .start_block = (uint64_t)start_block,
        .confirmations = (uint64_t)confirmations,
        .initial_range_blocks = (uint64_t)initial_range_blocks,
        .max_range_blocks = (uint64_t)max_range_blocks,
        .max_batch_events = (size_t)max_batch_events,
        .target_range_logs =
            (size_t)(target_range_logs < max_batch_events ? target_range_logs : max_batch_events),
        .max_reorg_depth = (uint64_t)max_reorg_depth,
        .poll_interval_ms = (long)poll_interval_ms,
        .metrics_log_ms = (long)metrics_log_ms,
        .pipeline_applies = applies_in_flight > 0,
    };
    if (metrics_port >= 0) {
        e = imetrics_new(&im);
        if (e == ERR_OK)
            e = imetrics_start(im, metrics_host, (uint16_t)metrics_port);
        if (e != ERR_OK) {
            LOG_ERROR("indexer.start_failed", "metrics=%s:%lld error=%s", metrics_host,
                      metrics_port, err_str(e));
            rc = e == ERR_INVAL || e == ERR_EXISTS ? EX_CONFIG : EX_OSERR;
            goto done;
        }
        LOG_INFO("indexer.metrics_listening", "host=%s port=%u", metrics_host,
                 (unsigned)imetrics_port(im));
        fo.on_step = imetrics_update;
        fo.on_step_arg = im;
    }
    if (fo.initial_range_blocks > fo.max_range_blocks)
        fo.initial_range_blocks = fo.max_range_blocks;
    e = follower_new(&fo, chain, sink, el, &f);
    if (e != ERR_OK) {
        fprintf(stderr, "loom-indexer: bad follower settings: %s\n", err_str(e));
        rc = EX_USAGE;
        goto done;
    }
    /* The new-head subscription: which URL, if any. */
    const char *ws = NULL;
    if (strcmp(ws_url, "auto") == 0) {
        if (headsub_ws_url_for(rpc_url, &ws_derived) == ERR_OK)
            ws = ws_derived;
        else
            LOG_INFO("indexer.head_sub_off", "reason=%s poll_ms=%lld",
                     strncasecmp(rpc_url, "https://", 8) == 0
                         ? "ws_url auto: https needs wss, which is not supported"
                         : "ws_url auto: rpc_url is not http://",
                     poll_interval_ms);
    } else if (strcmp(ws_url, "off") != 0) {
        ws = ws_url;
    }
    if (ws != NULL) {
        size_t cut = strlen(ws) > 5 ? 5 + strcspn(ws + 5, "/?#") : strlen(ws);
        ws_where = strndup(ws, cut);
        hw = (struct head_wiring){
            .f = f, .where = ws_where ? ws_where : "ws", .poll_ms = poll_interval_ms};
        struct headsub_opts ho = {
            .url = ws, .on_head_cb = head_cb, .on_state_cb = head_state_cb, .arg = &hw};
        e = headsub_start(&ho, &hs);
        if (e != ERR_OK) {
            fprintf(stderr,
                    "loom-indexer: LOOM_WS_URL / --ws-url \"%s\": %s (ws://host:port/path, "
                    "auto or off)\n",
                    ws_url, err_str(e));
            rc = e == ERR_INVAL ? EX_USAGE : EX_OSERR;
            goto done;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    LOG_INFO("indexer.start", "escrow=%s start_block=%lld confirmations=%lld sink=%s",
             escrow_address, start_block, confirmations, sink_kind);
    e = follower_run(f, &stop_flag, (uint64_t)until_block);
    LOG_INFO("indexer.stop", "reason=%s", e == ERR_OK ? "until_block" : "signal");
done:
    headsub_free(hs); /* its callbacks use f: stop it first */
    free(ws_derived);
    free(ws_where);
    follower_free(f);
    imetrics_free(im);
    memsink_free(ms);
    jobsink_free(js);
    chain_rpc_free(cr);
    escrowlog_free(el);
    rpc_free(rpc);
    for (size_t k = 0; k < n_extra; k++)
        rpc_free(extra[k]);
    cfg_release(opts, N_OPTS);
    return rc;
}
