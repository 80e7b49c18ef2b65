/*
 * loom-gateway -- the REST gateway's process: options, wiring, run, stop.
 *
 * Reads its settings from LOOM_* variables and flags (one table below),
 * opens the content-addressed store, picks the backend, serves HTTP on one
 * libevent loop and stops cleanly on SIGTERM or SIGINT. Request logic lives
 * in gateway.c and the modules beside it.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "buf.h"
#include "cfg.h"
#include "digest.h"
#include "feedmirror.h"
#include "gateway.h"
#include "jobback.h"
#include "log.h"
#include "memback.h"
#include "quote.h"
#include "store.h"
#include "verify.h"

static char *listen_addr, *store_dir, *backend_name, *jobstore_addr, *rpc_url, *siwe_domain;
static char *session_key_file, *log_level, *deployment_path, *feed_addr;
static long long max_upload_bytes, max_json_bytes, max_header_bytes, request_timeout_s;
static long long rate_per_s, rate_burst, rate_max_keys, auth_window_s, chain_id, session_ttl_s;
static long long sse_max_queue_bytes, sse_max_clients, jobstore_timeout_ms, job_deadline_s;
static long long job_max_runtime_s, quote_threads, rpc_timeout_ms;
static long long cache_max_entries, cache_max_bytes, cache_ttl_ms;

static const struct cfg_opt opts[] = {
    {"listen", CFG_STR, "127.0.0.1:8080", 0, 0, NULL, "HTTP address host:port", &listen_addr},
    {"store_root", CFG_STR, "./loom-store", 0, 0, NULL,
     "folder of the content-addressed upload store", &store_dir},
    {"backend", CFG_STR, "jobstore", 0, 0, "jobstore|memory",
     "jobstore (nanomsg REQ to the job store) or memory (in-process, volatile: for trying the "
     "gateway alone, docs and tests)",
     &backend_name},
    {"jobstore", CFG_STR, "tcp://127.0.0.1:7401", 0, 0, NULL, "job store REP address (nanomsg)",
     &jobstore_addr},
    {"feed", CFG_STR, "tcp://127.0.0.1:7402", 0, 0, NULL,
     "job store PUB address (nanomsg) mirrored to GET /api/events (jobstore backend)", &feed_addr},
    {"jobstore_timeout_ms", CFG_INT, "5000", 1, 600000, NULL,
     "longest wait for a job store reply, ms; past it the request answers 503",
     &jobstore_timeout_ms},
    {"job_deadline_s", CFG_INT, "604800", 60, 10LL * 365 * 86400, NULL,
     "deadline of a new job, seconds from its creation (refund after it)", &job_deadline_s},
    {"job_max_runtime_s", CFG_INT, "3600", 1, 31536000, NULL,
     "longest a claim on a new job may run, seconds (LoomEscrow.MAX_DURATION at most)",
     &job_max_runtime_s},
    {"rpc_url", CFG_STR, "http://127.0.0.1:8545", 0, 0, NULL, "Ethereum JSON-RPC URL for quotes",
     &rpc_url},
    {"deployment", CFG_STR, "", 0, 0, NULL,
     "contracts/deploy.sh's JSON (escrow, priceFeed): quotes come from LoomEscrow.quote and the "
     "feed's latestRoundData; empty: /api/quote answers 503 (jobstore backend)",
     &deployment_path},
    {"quote_threads", CFG_INT, "2", 1, 16, NULL,
     "threads making the blocking eth_calls of quotes (the event loop never waits on the chain)",
     &quote_threads},
    {"rpc_timeout_ms", CFG_INT, "3000", 100, 600000, NULL,
     "limit per eth_call of a quote, ms (one attempt: the client may ask again)", &rpc_timeout_ms},
    {"max_upload_bytes", CFG_INT, "104857600", 1, 1LL << 40, NULL,
     "largest request body for uploads, bytes (413 beyond)", &max_upload_bytes},
    {"max_json_bytes", CFG_INT, "1048576", 1024, 1LL << 30, NULL, "largest JSON body, bytes",
     &max_json_bytes},
    {"max_header_bytes", CFG_INT, "16384", 1024, 1 << 20, NULL,
     "largest request line + headers, bytes", &max_header_bytes},
    {"request_timeout_s", CFG_INT, "60", 1, 3600, NULL,
     "idle timeout of a connection, and the longest an upload may take, seconds",
     &request_timeout_s},
    {"rate_per_s", CFG_INT, "50", 1, 1000000, NULL, "requests per second per client address",
     &rate_per_s},
    {"rate_burst", CFG_INT, "100", 1, 1000000, NULL, "burst of requests per client address",
     &rate_burst},
    {"rate_max_keys", CFG_INT, "100000", 1, 100000000, NULL,
     "client addresses tracked by the rate limiter at most", &rate_max_keys},
    {"auth_window_s", CFG_INT, "300", 1, 86400, NULL,
     "accepted |X-Loom-Timestamp - now| for signed requests, seconds", &auth_window_s},
    {"siwe_domain", CFG_STR, "localhost:8080", 0, 0, NULL,
     "domain a Sign-In with Ethereum message must name", &siwe_domain},
    {"chain_id", CFG_INT, "31337", 1, 1LL << 53, NULL, "chain id sign-in messages must name",
     &chain_id},
    {"session_ttl_s", CFG_INT, "86400", 60, 31LL * 86400, NULL, "loom_session lifetime, seconds",
     &session_ttl_s},
    {"session_key_file", CFG_STR, NULL, 0, 0, NULL,
     "file (mode 0600) with 32-64 bytes of session HMAC key; empty: random per process, so "
     "sessions do not survive a restart or span gateways",
     &session_key_file},
    {"sse_max_queue_bytes", CFG_INT, "1048576", 4096, 1LL << 30, NULL,
     "bytes queued per event-stream client before it is dropped", &sse_max_queue_bytes},
    {"sse_max_clients", CFG_INT, "1024", 1, 1000000, NULL, "event-stream clients at most",
     &sse_max_clients},
    {"cache_max_entries", CFG_INT, "100000", 0, 100000000, NULL,
     "jobs held by the GET /api/jobs/{id} cache at most; 0 disables it (docs/api.md)",
     &cache_max_entries},
    {"cache_max_bytes", CFG_INT, "67108864", 0, 1LL << 40, NULL,
     "bytes of job replies held by the GET /api/jobs/{id} cache at most; 0 disables it",
     &cache_max_bytes},
    {"cache_ttl_ms", CFG_INT, "1000", 0, 3600000, NULL,
     "longest a cached GET /api/jobs/{id} reply is served, ms, even when the feed says nothing "
     "about the job; 0 disables the cache",
     &cache_ttl_ms},
    {"log_level", CFG_STR, "info", 0, 0, "debug|info|warn|error", "minimum log level", &log_level},
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    LOG_INFO("gateway.stopping", "signal=%d", (int)sig);
    event_base_loopexit(arg, NULL);
}

/* Read the session key from a 0600 file; wipe the local copy. */
static int load_key(const char *path, unsigned char *key, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd == -1 || fstat(fd, &st) == -1) {
        fprintf(stderr, "loom-gateway: cannot open session_key_file \"%s\": %s\n", path,
                strerror(errno));
        if (fd != -1)
            close(fd);
        return -1;
    }
    if ((st.st_mode & 077) != 0) {
        fprintf(stderr, "loom-gateway: session_key_file \"%s\" must have mode 0600\n", path);
        close(fd);
        return -1;
    }
    ssize_t n = read(fd, key, 64);
    close(fd);
    if (n < 32) {
        fprintf(stderr, "loom-gateway: session_key_file \"%s\" needs 32-64 bytes\n", path);
        return -1;
    }
    *len = (size_t)n;
    return 0;
}

/*
 * The event loop, with libevent's epoll change list: the interest changes
 * of one loop pass (evhttp enables and disables reading and writing on each
 * connection per request) are merged into at most one epoll_ctl per
 * descriptor, applied just before epoll_wait, instead of one syscall per
 * change (libevent event.h, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST). Its one
 * caveat, descriptors cloned with dup() in the loop, does not arise here:
 * the loop watches evhttp's sockets and the bus sockets' own descriptors,
 * none of them dup()ed. Falls back to a plain base.
 */
static struct event_base *new_base(void)
{
    struct event_config *cfg = event_config_new();
    struct event_base *base = NULL;

    if (cfg != NULL && event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) == 0)
        base = event_base_new_with_config(cfg);
    if (cfg != NULL)
        event_config_free(cfg);
    return base != NULL ? base : event_base_new();
}

int main(int argc, char **argv)
{
    int help = 0, rc = EX_SOFTWARE, started = 0;
    char errbuf[CFG_ERR_MAX];
    struct event_base *base = NULL;
    struct store *store = NULL;
    struct memback *mem = NULL;
    struct jobback *jb = NULL;
    struct quoter *quoter = NULL;
    struct feedmirror *feed = NULL;
    struct gateway *gw = NULL;
    struct event *ev_term = NULL, *ev_int = NULL;
    unsigned char key[64];
    size_t key_len = 32;
    struct buf msg;
    buf_init(&msg, 1024);
    if (cfg_load(opts, N_OPTS, argc, argv, &help, NULL, NULL, errbuf) != ERR_OK) {
        fprintf(stderr, "loom-gateway: %s\n", errbuf);
        rc = EX_USAGE;
        goto out;
    }
    if (help) {
        cfg_print_help(stdout, "loom-gateway",
                       "the REST gateway of The Loom (use --backend=memory to run it alone, "
                       "without the job store)",
                       opts, N_OPTS);
        rc = 0;
        goto out;
    }
    enum log_level lvl = LOG_LEVEL_INFO;
    if (log_level_parse(log_level, &lvl) != ERR_OK)
        lvl = LOG_LEVEL_INFO;
    log_init("gateway", lvl);
    char *colon = strrchr(listen_addr, ':');
    long long port = -1;
    if (colon != NULL) {
        char *end = NULL;
        port = strtoll(colon + 1, &end, 10);
        if (end == colon + 1 || *end != '\0')
            port = -1;
        *colon = '\0';
    }
    if (port < 0 || port > 65535) {
        fprintf(stderr, "loom-gateway: listen must be host:port (LOOM_LISTEN, --listen)\n");
        rc = EX_CONFIG;
        goto out;
    }
    int use_memory = strcmp(backend_name, "memory") == 0;
    if (!use_memory && strcmp(backend_name, "jobstore") != 0) {
        fprintf(stderr, "loom-gateway: backend must be jobstore or memory, not \"%s\"\n",
                backend_name);
        rc = EX_CONFIG;
        goto out;
    }
    if (session_key_file != NULL && session_key_file[0] != '\0') {
        if (load_key(session_key_file, key, &key_len) != 0) {
            rc = EX_CONFIG;
            goto out;
        }
    } else if (digest_random(key, sizeof(key)) != ERR_OK) {
        fprintf(stderr, "loom-gateway: no randomness for the session key\n");
        goto out;
    }
    if (evthread_use_pthreads() == -1 || (base = new_base()) == NULL) {
        fprintf(stderr, "loom-gateway: cannot create the event loop\n");
        goto out;
    }
    if (store_open(store_dir, &store) != ERR_OK) {
        fprintf(stderr, "loom-gateway: cannot open store_root \"%s\"\n", store_dir);
        rc = EX_CANTCREAT;
        goto out;
    }
    struct gw_backend be;
    if (use_memory) {
        if (memback_new(base, &mem) != ERR_OK)
            goto out;
        memback_backend(mem, &be);
    } else {
        struct jobback_config jc = {
            .addr = jobstore_addr,
            .timeout_ms = (int)jobstore_timeout_ms,
            .job_deadline_s = job_deadline_s,
            .job_max_runtime_s = job_max_runtime_s,
        };
        if (jobback_new(base, &jc, &jb) != ERR_OK) {
            fprintf(stderr, "loom-gateway: bad jobstore address \"%s\"\n", jobstore_addr);
            rc = EX_CONFIG;
            goto out;
        }
        jobback_backend(jb, &be);
        if (deployment_path != NULL && deployment_path[0] != '\0') {
            struct quote_config qc = {
                .rpc_url = rpc_url,
                .deployment_path = deployment_path,
                .threads = (int)quote_threads,
                .rpc_timeout_ms = rpc_timeout_ms,
                .max_queued = 1024,
            };
            if (quote_new(base, &qc, &quoter, &msg) != ERR_OK) {
                fprintf(stderr, "loom-gateway: %s\n", buf_cstr(&msg));
                rc = EX_CONFIG;
                goto out;
            }
            jobback_set_quoter(jb, quote_request, quoter);
        }
    }
    be.verify = verify_eip191;
    be.verify_ctx = NULL;
    struct gateway_config gc = {
        .host = listen_addr,
        .port = (int)port,
        .max_upload_bytes = (uint64_t)max_upload_bytes,
        .max_json_bytes = (size_t)max_json_bytes,
        .max_header_bytes = (size_t)max_header_bytes,
        .request_timeout_s = (int)request_timeout_s,
        .rate_per_s = (double)rate_per_s,
        .rate_burst = (double)rate_burst,
        .rate_max_keys = (size_t)rate_max_keys,
        .auth_window_s = auth_window_s,
        .siwe_domain = siwe_domain,
        .chain_id = chain_id,
        .session_ttl_s = session_ttl_s,
        .session_key = key,
        .session_key_len = key_len,
        .sse_max_queue_bytes = (size_t)sse_max_queue_bytes,
        .sse_max_clients = (size_t)sse_max_clients,
        /* The memory backend has no feed to invalidate a cache. */
        .cache_max_entries = use_memory ? 0 : (size_t)cache_max_entries,
        .cache_max_bytes = (size_t)cache_max_bytes,
        .cache_ttl_ms = cache_ttl_ms,
    };
    enum err e = gateway_new(base, &gc, &be, store, &gw, &msg);
    if (e != ERR_OK) {
        fprintf(stderr, "loom-gateway: %s\n", buf_cstr(&msg));
        rc = e == ERR_IO ? EX_UNAVAILABLE : EX_CONFIG;
        goto out;
    }
    if (!use_memory && feedmirror_new(base, feed_addr, gw, &feed) != ERR_OK) {
        fprintf(stderr, "loom-gateway: cannot subscribe to feed \"%s\"\n", feed_addr);
        rc = EX_CONFIG;
        goto out;
    }
    ev_term = evsignal_new(base, SIGTERM, stop_cb, base);
    ev_int = evsignal_new(base, SIGINT, stop_cb, base);
    if (ev_term == NULL || ev_int == NULL || evsignal_add(ev_term, NULL) == -1 ||
        evsignal_add(ev_int, NULL) == -1)
        goto out;
    signal(SIGPIPE, SIG_IGN);
    LOG_INFO("gateway.started", "listen=%s port=%d backend=%s jobstore=%s store=%s", listen_addr,
             gateway_port(gw), backend_name, use_memory ? "-" : jobstore_addr, store_dir);
    started = 1;
    event_base_dispatch(base);
    rc = 0;
out:
    /* Backend first: its pending callbacks still reply to live requests. */
    feedmirror_free(feed);
    memback_free(mem);
    jobback_free(jb);
    quote_free(quoter);
    gateway_free(gw);
    if (base != NULL) /* run the deferred frees of connections evhttp_free closed */
        event_base_loop(base, EVLOOP_NONBLOCK);
    if (ev_term)
        event_free(ev_term);
    if (ev_int)
        event_free(ev_int);
    store_free(store);
    if (base)
        event_base_free(base);
    memset(key, 0, sizeof(key));
    buf_release(&msg);
    cfg_release(opts, N_OPTS);
    if (started)
        LOG_INFO("gateway.stopped", NULL);
    return rc;
}
