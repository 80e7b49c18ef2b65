/*
 * loom-keeper -- the payout keeper's entry point: settings, key, wiring,
 * run, shut down. The work is in keeper.c (settlement), due.c (where due
 * jobs come from), feepolicy.c, upkeep.c, txjournal.c, kstats.c (metrics and
 * the /health rule, served by common/metrics).
 *
 * One thread, one libevent base: a timer calls keeper_tick() every poll_ms
 * (each tick blocks on JSON-RPC; nothing else on this thread is
 * latency-sensitive but /metrics), evhttp serves /health and /metrics,
 * SIGTERM and SIGINT stop the loop after the current tick.
 *
 * SPDX-License-Identifier: MIT
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <event2/event.h>

#include "buf.h"
#include "cfg.h"
#include "due.h"
#include "duebus.h"
#include "eth/key.h"
#include "eth/rpc.h"
#include "keeper.h"
#include "log.h"
#include "metrics.h"
#include "txjournal.h"
#include "mono.h"

static char *rpc_url, *key_file, *escrow, *jobstore_url, *due_file, *journal_path, *max_fee_gwei,
    *min_tip_gwei, *metrics_listen, *log_level;
static long long chain_id, poll_ms, batch_max, batch_gas_pct, due_limit, max_in_flight,
    replace_after_ms, fee_history_blocks, tip_percentile, bump_pct, rpc_timeout_ms,
    jobstore_timeout_ms;

static const struct cfg_opt opts[] = {
    {"rpc_url", CFG_STR, "http://127.0.0.1:8545", 0, 0, NULL, "JSON-RPC endpoint of the chain",
     &rpc_url},
    {"rpc_timeout_ms", CFG_INT, "5000", 100, 120000, NULL,
     "limit of one JSON-RPC attempt, ms (a tick blocks at most about 4x this)", &rpc_timeout_ms},
    {"chain_id", CFG_INT, "0", 0, (1LL << 53) - 1, NULL,
     "expected chain id (0: take the node's); a mismatch stops start-up", &chain_id},
    {"key_file", CFG_STR, NULL, 0, 0, NULL,
     "file with the keeper's private key in hex, mode 0600 (required)", &key_file},
    {"escrow", CFG_STR, NULL, 0, 0, NULL, "LoomEscrow contract address (required)", &escrow},
    {"jobstore_url", CFG_STR, "", 0, 0, NULL,
     "job store REP address for jobs.due (tcp://host:port or ipc:///path): the due source",
     &jobstore_url},
    {"jobstore_timeout_ms", CFG_INT, "2000", 10, 60000, NULL, "limit of one jobs.due request, ms",
     &jobstore_timeout_ms},
    {"due_file", CFG_STR, "", 0, 0, NULL,
     "instead of the job store: a JSON-lines file of due jobs (chain_job_id, action, due_at), "
     "re-read every block",
     &due_file},
    {"journal", CFG_STR, "loom-keeper.journal", 0, 0, NULL,
     "file recording signed transactions until mined, for restarts (\"\": none)", &journal_path},
    {"poll_ms", CFG_INT, "1000", 20, 60000, NULL, "how often to look for a new block, ms",
     &poll_ms},
    {"batch_max", CFG_INT, "100", 1, 100, NULL, "jobs per performUpkeep (contract MAX_BATCH 100)",
     &batch_max},
    {"batch_gas_pct", CFG_INT, "25", 1, 90, NULL,
     "a batch's gas limit at most this percent of the block gas limit", &batch_gas_pct},
    {"due_limit", CFG_INT, "1000", 1, 1000, NULL, "due jobs asked per block", &due_limit},
    {"max_in_flight", CFG_INT, "16", 1, 256, NULL, "transactions sent and not yet mined, at most",
     &max_in_flight},
    {"replace_after_ms", CFG_INT, "60000", 100, 86400000, NULL,
     "replace a transaction not mined after this long, ms", &replace_after_ms},
    {"max_fee_gwei", CFG_STR, "200", 0, 0, NULL,
     "ceiling on max_fee_per_gas, gwei (decimals allowed)", &max_fee_gwei},
    {"min_tip_gwei", CFG_STR, "0.01", 0, 0, NULL, "floor on max_priority_fee_per_gas, gwei",
     &min_tip_gwei},
    {"fee_history_blocks", CFG_INT, "10", 1, 1024, NULL, "blocks of eth_feeHistory for the tip",
     &fee_history_blocks},
    {"tip_percentile", CFG_INT, "50", 0, 100, NULL, "reward percentile taken as the tip",
     &tip_percentile},
    {"bump_pct", CFG_INT, "12", 10, 1000, NULL,
     "fee raise of a replacement, percent (nodes require 10)", &bump_pct},
    {"metrics_listen", CFG_STR, "127.0.0.1:9465", 0, 0, NULL,
     "host:port for /health and /metrics (\"\": off)", &metrics_listen},
    {"log_level", CFG_STR, "info", 0, 0, "debug|info|warn|error", "minimum log level", &log_level},
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

struct app {
    struct keeper *keeper;
    struct event_base *base;
    int64_t last_ok_ms;
    int64_t stale_ms; /* /health turns 503 when the last good tick is older */
};

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct app *a = arg;
    int64_t now = mono_ms();
    enum err e = keeper_tick(a->keeper, now);
    if (e == ERR_OK)
        a->last_ok_ms = now;
    else
        LOG_WARN("tick.failed", "error=%s", err_str(e));
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct app *a = arg;
    LOG_INFO("keeper.stopping", "signal=%d", (int)sig);
    event_base_loopexit(a->base, NULL);
}

static enum err health_cb(void *arg, struct buf *reason)
{
    const struct app *a = arg;
    return kstats_health(a->last_ok_ms, mono_ms(), a->stale_ms,
                         (uint64_t)metrics_value(keeper_stats(a->keeper)->last_block), reason);
}

/* Split <addr> ("host:port", at the last colon) into *host (the
 * caller's, free()) and *port. Returns 0, or -1 when it is not that. */
static int parse_gwei(const char *name, const char *s, struct u256 *wei)
{
    if (u256_parse_units(s, 9, wei) != ERR_OK) {
        fprintf(stderr, "loom-keeper: %s \"%s\" is not an amount in gwei (up to 9 decimals)\n",
                name, s);
        return -1;
    }
    return 0;
}

static int run(void)
{
    int rc = EX_OK;
    struct key key;
    struct rpc *rpc = NULL;
    struct due_source *due = NULL;
    struct txjournal *journal = NULL;
    struct app a = {.last_ok_ms = -1, .stale_ms = 10 * poll_ms + 4 * rpc_timeout_ms};
    struct event *tick = NULL, *sterm = NULL, *sint = NULL;
    struct metrics_http *http = NULL;
    char *metrics_host = NULL;
    struct buf why;
    buf_init(&why, 0);
    memset(&key, 0, sizeof(key));
    struct keeper_opts ko = {0};

    if (key_file == NULL || key_file[0] == '\0' || escrow == NULL || escrow[0] == '\0') {
        fprintf(stderr, "loom-keeper: --key-file and --escrow are required (see --help)\n");
        rc = EX_USAGE;
        goto done;
    }
    if (key_addr_parse(escrow, ko.escrow) != ERR_OK) {
        fprintf(stderr, "loom-keeper: escrow \"%s\" is not an address\n", escrow);
        rc = EX_USAGE;
        goto done;
    }
    if (parse_gwei("max_fee_gwei", max_fee_gwei, &ko.fees.max_fee_wei) != 0 ||
        parse_gwei("min_tip_gwei", min_tip_gwei, &ko.fees.min_tip_wei) != 0) {
        rc = EX_USAGE;
        goto done;
    }
    enum err e = key_load_file(key_file, &key, &why);
    if (e != ERR_OK) {
        fprintf(stderr, "loom-keeper: cannot load key: %s\n", buf_cstr(&why));
        rc = EX_NOPERM;
        goto done;
    }
    struct rpc_opts ro = {.url = rpc_url, .timeout_ms = rpc_timeout_ms};
    e = rpc_new(&ro, &rpc);
    if (e != ERR_OK) {
        fprintf(stderr, "loom-keeper: rpc_url \"%s\": %s\n", rpc_url, err_str(e));
        rc = EX_USAGE;
        goto done;
    }
    uint64_t node_chain = 0;
    e = rpc_chain_id(rpc, &node_chain);
    if (e != ERR_OK) {
        fprintf(stderr, "loom-keeper: cannot reach the node: %s\n", rpc_errmsg(rpc));
        rc = EX_UNAVAILABLE;
        goto done;
    }
    if (chain_id != 0 && (uint64_t)chain_id != node_chain) {
        fprintf(stderr, "loom-keeper: the node is on chain %llu, chain_id says %lld\n",
                (unsigned long long)node_chain, chain_id);
        rc = EX_CONFIG;
        goto done;
    }
    int has_store = jobstore_url != NULL && jobstore_url[0] != '\0';
    int has_file = due_file != NULL && due_file[0] != '\0';
    if (has_store == has_file) {
        fprintf(stderr, "loom-keeper: set one due source: --jobstore-url or --due-file\n");
        rc = EX_USAGE;
        goto done;
    }
    e = has_store ? due_bus_new(jobstore_url, (int)jobstore_timeout_ms, &due)
                  : due_file_new(due_file, &due);
    if (e != ERR_OK) {
        fprintf(stderr, "loom-keeper: due source \"%s\": %s\n", has_store ? jobstore_url : due_file,
                err_str(e));
        rc = EX_USAGE;
        goto done;
    }
    if (journal_path != NULL && journal_path[0] != '\0')
        e = txjournal_open(journal_path, &journal);
    if (e != ERR_OK) {
        fprintf(stderr, "loom-keeper: journal \"%s\": %s\n", journal_path,
                e == ERR_EXISTS ? "in use by another keeper" : err_str(e));
        rc = e == ERR_EXISTS ? EX_TEMPFAIL : EX_CANTCREAT;
        goto done;
    }
    ko.rpc = rpc;
    ko.due = due;
    ko.key = &key;
    ko.journal = journal;
    ko.chain_id = node_chain;
    ko.batch_max = (unsigned)batch_max;
    ko.batch_gas_pct = (unsigned)batch_gas_pct;
    ko.due_limit = (unsigned)due_limit;
    ko.max_in_flight = (unsigned)max_in_flight;
    ko.replace_after_ms = replace_after_ms;
    ko.fee_history_blocks = (unsigned)fee_history_blocks;
    ko.tip_percentile = (double)tip_percentile;
    ko.fees.bump_pct = (unsigned)bump_pct;
    e = keeper_new(&ko, &a.keeper);
    if (e != ERR_OK) {
        fprintf(stderr, "loom-keeper: bad settings: %s\n", err_str(e));
        rc = EX_USAGE;
        goto done;
    }
    char addr[KEY_ADDR_HEX_MAX];
    key_addr_to_checksum(key.addr, addr);
    LOG_INFO("keeper.starting", "address=%s escrow=%s chain_id=%llu due_source=%s journal=%s", addr,
             escrow, (unsigned long long)node_chain, has_store ? jobstore_url : due_file,
             journal_path);
    e = keeper_start(a.keeper, mono_ms());
    if (e != ERR_OK) {
        rc = EX_UNAVAILABLE;
        goto done;
    }
    a.base = event_base_new();
    if (a.base == NULL) {
        rc = EX_OSERR;
        goto done;
    }
    if (metrics_listen != NULL && metrics_listen[0] != '\0') {
        uint16_t port = 0;
        if (cfg_split_host_port(metrics_listen, &metrics_host, &port) != ERR_OK) {
            fprintf(stderr, "loom-keeper: metrics_listen \"%s\": want host:port\n", metrics_listen);
            rc = EX_UNAVAILABLE;
            goto done;
        }
        metrics_set_health(keeper_metrics(a.keeper), health_cb, &a);
        e = metrics_http_start(a.base, metrics_host, port, keeper_metrics(a.keeper), &http);
        if (e != ERR_OK) {
            fprintf(stderr, "loom-keeper: metrics_listen \"%s\": %s\n", metrics_listen, err_str(e));
            rc = EX_UNAVAILABLE;
            goto done;
        }
        LOG_INFO("metrics.listening", "port=%d", (int)metrics_http_port(http));
    }
    struct timeval tv = {.tv_sec = poll_ms / 1000, .tv_usec = (poll_ms % 1000) * 1000};
    tick = event_new(a.base, -1, EV_PERSIST, on_tick, &a);
    sterm = evsignal_new(a.base, SIGTERM, on_signal, &a);
    sint = evsignal_new(a.base, SIGINT, on_signal, &a);
    if (tick == NULL || sterm == NULL || sint == NULL || event_add(tick, &tv) == -1 ||
        event_add(sterm, NULL) == -1 || event_add(sint, NULL) == -1) {
        rc = EX_OSERR;
        goto done;
    }
    on_tick(-1, 0, &a);
    event_base_dispatch(a.base);
    LOG_INFO("keeper.stopped", "next_nonce=%llu in_flight=%llu",
             (unsigned long long)keeper_next_nonce(a.keeper),
             (unsigned long long)metrics_value(keeper_stats(a.keeper)->txs_in_flight));
done:
    metrics_http_free(http);
    free(metrics_host);
    if (sint != NULL)
        event_free(sint);
    if (sterm != NULL)
        event_free(sterm);
    if (tick != NULL)
        event_free(tick);
    if (a.base != NULL)
        event_base_free(a.base);
    keeper_free(a.keeper);
    txjournal_free(journal);
    due_source_free(due);
    rpc_free(rpc);
    key_wipe(&key);
    buf_release(&why);
    return rc;
}

int main(int argc, char **argv)
{
    int help = 0;
    char errbuf[CFG_ERR_MAX];
    int rc = EX_OK;
    enum err e = cfg_load(opts, N_OPTS, argc, argv, &help, NULL, NULL, errbuf);
    enum log_level lvl = LOG_LEVEL_INFO;
    if (e == ERR_OK && !help && log_level_parse(log_level, &lvl) != ERR_OK)
        lvl = LOG_LEVEL_INFO;
    log_init("keeper", lvl);
    if (help) {
        cfg_print_help(stdout, "loom-keeper",
                       "settles due escrow jobs (release, reopen, refund) with performUpkeep", opts,
                       N_OPTS);
        goto done;
    }
    if (e != ERR_OK) {
        fprintf(stderr, "loom-keeper: %s\n", errbuf);
        rc = EX_USAGE;
        goto done;
    }
    signal(SIGPIPE, SIG_IGN);
    rc = run();
done:
    cfg_release(opts, N_OPTS);
    return rc;
}
