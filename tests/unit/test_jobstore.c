/*
 * Tests for the job store service: the real build/bin/loom-jobstore,
 * started per test on ipc:// addresses under a temporary folder, its own
 * database schema and a free metrics port, driven over the bus with
 * proto/client and checked against its replies, its feed (SUB sockets) and
 * its rows (SQL).
 *
 * Needs LOOM_TEST_PG_URL (set by `make test`, which runs this binary from
 * tests/integration/jobstore.sh) and LOOM_BUILD (the build folder, for the
 * binary); without the database URL it says so and exits 0.
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../services/jobstore/db.h"
#include "../../services/jobstore/jobmap.h"
#include "buf.h"
#include "bus.h"
#include "client.h"
#include "cmd.h"
#include "hex.h"
#include "proto/feed.h"

#define CLIENT   "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
#define WORKER   "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"
#define STRANGER "0x90f79bf6eb2c4f870365e785982e1f101e93b906"
#define SPEC     "0xd4f02eaafd1a9e9de7d10972ca8e47fa7a985825c3c9c1e249c72683cb3e4f19"
#define RESULT   "0xf6a214f7a5fcda0c2cee9660b7fc29f5649e3c68aad48e20e950137c98913a68"
#define T_NOW    1764460800LL

static const char *pg_url, *bin_dir;
static char tmp_root[256];
static int seq;

/* ---- the service under test ------------------------------------------- */

struct js {
    pid_t pid;
    char schema[64];
    char dir[320], rep[400], pub[400], log[400];
    char url[512]; /* database URL it uses */
    int metrics_port;
    const char *extra[6]; /* more flags for the binary, NULL-terminated */
};

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *s;
    long n;

    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    s = calloc(1, (size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n)
        s[0] = '\0';
    fclose(f);
    return s;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Start the binary; wait for its "jobstore.ready" line. */
static void js_start(struct js *j)
{
    char bin[512], port_flag[32];
    const char *argv[40] = {bin,
                            "--database-url",
                            j->url,
                            "--db-schema",
                            j->schema,
                            "--rep-addr",
                            j->rep,
                            "--pub-addr",
                            j->pub,
                            port_flag,
                            "--pool-size",
                            "4",
                            "--health-interval-ms",
                            "100",
                            "--checkout-timeout-ms",
                            "2000",
                            "--connect-timeout-s",
                            "2",
                            "--db-wait-s",
                            "0",
                            "--log-level",
                            "debug"};
    int i, fd, n = 22;

    snprintf(bin, sizeof bin, "%s/bin/loom-jobstore", bin_dir);
    snprintf(port_flag, sizeof port_flag, "--metrics-port=0");
    for (i = 0; i < 5 && j->extra[i]; i++)
        argv[n++] = j->extra[i];
    unlink(j->log);
    j->pid = fork();
    assert_true(j->pid >= 0);
    if (j->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a killed test run */
        fd = open(j->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0)
            dup2(fd, 2);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    for (i = 0; i < 300; i++) {
        char *log = slurp(j->log), *p = strstr(log, "\"event\":\"jobstore.ready\"");
        if (p && (p = strstr(p, "\"metrics_port\":")) != NULL) {
            j->metrics_port = (int)strtol(p + 15, NULL, 10);
            free(log);
            return;
        }
        free(log);
        if (waitpid(j->pid, NULL, WNOHANG) == j->pid) {
            log = slurp(j->log);
            fail_msg("loom-jobstore exited at start-up: %s", log);
        }
        sleep_ms(50);
    }
    fail_msg("loom-jobstore did not become ready");
}

/* SIGTERM and wait; returns the exit status (or 128 + signal). */
static int js_stop(struct js *j)
{
    int st = 0, i;

    if (j->pid <= 0)
        return -1;
    kill(j->pid, SIGTERM);
    for (i = 0; i < 200; i++) {
        if (waitpid(j->pid, &st, WNOHANG) == j->pid) {
            j->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        sleep_ms(50);
    }
    kill(j->pid, SIGKILL);
    waitpid(j->pid, &st, 0);
    j->pid = 0;
    return -1;
}

static void js_init(struct js *j, const char *url)
{
    memset(j, 0, sizeof *j);
    seq++;
    snprintf(j->schema, sizeof j->schema, "t_js_%d_%d", (int)getpid(), seq);
    snprintf(j->dir, sizeof j->dir, "%s/js%d", tmp_root, seq);
    assert_int_equal(mkdir(j->dir, 0700), 0);
    snprintf(j->rep, sizeof j->rep, "ipc://%s/rep", j->dir);
    snprintf(j->pub, sizeof j->pub, "ipc://%s/pub", j->dir);
    snprintf(j->log, sizeof j->log, "%s/log", j->dir);
    snprintf(j->url, sizeof j->url, "%s", url);
}

/* ---- SQL on the service's schema ---------------------------------------- */

/* Run one constant statement with text parameters (a NULL-terminated
 * list, at most 4); return the first column of the first row ("" if none). */
static char *sql1(const char *url, const char *schema, const char *sql, ...)
{
    const char *params[4];
    va_list ap;
    int n = 0;
    struct db_config cfg;
    struct db_pool *p = NULL;
    struct db_conn *c = NULL;
    struct db_res *r = NULL;
    char *out;

    memset(&cfg, 0, sizeof cfg);
    cfg.url = url;
    cfg.n_conns = 1;
    cfg.checkout_timeout_ms = 5000;
    cfg.schema = schema;
    va_start(ap, sql);
    while (n < 4 && (params[n] = va_arg(ap, const char *)) != NULL)
        n++;
    va_end(ap);
    if (db_pool_new(&cfg, &p) != ERR_OK)
        fail_msg("cannot connect: %s", db_last_error());
    assert_int_equal(db_checkout(p, &c), ERR_OK);
    if (db_exec(c, sql, n, params, &r) != ERR_OK)
        fail_msg("sql failed: %s: %s", sql, db_last_error());
    out = strdup(db_res_rows(r) > 0 && db_res_text(r, 0, 0) ? db_res_text(r, 0, 0) : "");
    db_res_free(r);
    db_checkin(p, c);
    db_pool_free(p);
    return out;
}

/* Compare the first value of <sql> to <want>; a statement with $1 gets
 * the job id <id> there. */
static void assert_sql(struct js *j, const char *sql, int64_t id, const char *want)
{
    char key[24];
    char *got;

    snprintf(key, sizeof key, "%lld", (long long)id);
    got = strstr(sql, "$1") ? sql1(j->url, j->schema, sql, key, (char *)NULL)
                            : sql1(j->url, j->schema, sql, (char *)NULL);
    if (strcmp(got, want) != 0)
        fail_msg("%s: got \"%s\", want \"%s\"", sql, got, want);
    free(got);
}

/* ---- HTTP ------------------------------------------------------------- */

/* GET <path> on the metrics port; returns the status, body in *body. */
static int http_get(int port, const char *path, char **body)
{
    struct sockaddr_in sa;
    char req[256], buf[65536];
    size_t n = 0;
    ssize_t r;
    int fd, status = 0;
    char *p;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
    assert_true(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
    while (n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(fd);
    sscanf(buf, "HTTP/1.%*d %d", &status);
    p = strstr(buf, "\r\n\r\n");
    if (body)
        *body = strdup(p ? p + 4 : "");
    return status;
}

/* The value of the first metrics line starting with <prefix>, or -1. */
static double metric(int port, const char *prefix)
{
    char *body = NULL, *p;
    double v = -1;

    assert_int_equal(http_get(port, "/metrics", &body), 200);
    for (p = body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, prefix, strlen(prefix)) == 0) {
            v = strtod(p + strlen(prefix), NULL);
            break;
        }
    }
    free(body);
    return v;
}

/* ---- feed subscribers ---------------------------------------------------- */

struct sub {
    struct event_base *base;
    struct bus *bus;
    struct proto_feed got[16];
    char topics[16][32];
    size_t n;
};

static void on_msg(void *arg, const char *topic, const void *data, size_t len)
{
    struct sub *s = arg;

    if (s->n >= 16)
        return;
    assert_int_equal(proto_feed_decode(data, len, &s->got[s->n], NULL), ERR_OK);
    snprintf(s->topics[s->n], sizeof s->topics[s->n], "%s", topic);
    s->n++;
    event_base_loopbreak(s->base);
}

static void sub_open(struct sub *s, const char *addr, const char *prefix)
{
    memset(s, 0, sizeof *s);
    s->base = event_base_new();
    assert_non_null(s->base);
    assert_int_equal(bus_new(s->base, BUS_SUB, &s->bus), ERR_OK);
    assert_int_equal(bus_subscribe(s->bus, prefix), ERR_OK);
    assert_int_equal(bus_on_message(s->bus, on_msg, s), ERR_OK);
    assert_int_equal(bus_connect(s->bus, addr), ERR_OK);
}

/* Run the subscriber's loop until it holds <n> messages or <ms> pass. */
static void sub_wait(struct sub *s, size_t n, int ms)
{
    struct timeval tv = {0, 20000};
    int waited;

    for (waited = 0; s->n < n && waited < ms; waited += 20) {
        event_base_loopexit(s->base, &tv);
        event_base_dispatch(s->base);
    }
}

static void sub_close(struct sub *s)
{
    bus_free(s->bus);
    event_base_free(s->base);
}

/* ---- requests ------------------------------------------------------------ */

static void hexb(const char *s, uint8_t *out, size_t n)
{
    assert_int_equal(hex_decode_exact(s, out, n), ERR_OK);
}

static struct proto_client *client(struct js *j, int timeout_ms)
{
    struct proto_client *c = NULL;
    assert_int_equal(proto_client_new(j->rep, timeout_ms, &c), ERR_OK);
    return c;
}

/* Call and expect success. */
static void call_ok(struct proto_client *c, const struct proto_request *req,
                    struct proto_reply *rep)
{
    enum err e = proto_client_call(c, req, rep);
    if (e != ERR_OK)
        fail_msg("%s: transport %s", proto_cmd_names[req->cmd], err_str(e));
    if (!rep->ok)
        fail_msg("%s: %s: %s", proto_cmd_names[req->cmd], err_code(rep->error_code),
                 rep->error_message);
}

/* Call and expect the error reply <code>; returns nothing. */
static void call_err(struct proto_client *c, const struct proto_request *req, enum err code)
{
    struct proto_reply rep;
    enum err e = proto_client_call(c, req, &rep);
    if (e != ERR_OK)
        fail_msg("%s: transport %s", proto_cmd_names[req->cmd], err_str(e));
    if (rep.ok || rep.error_code != code)
        fail_msg("%s: want %s, got %s (%s)", proto_cmd_names[req->cmd], err_code(code),
                 rep.ok ? "ok" : err_code(rep.error_code), rep.error_message);
    proto_reply_release(&rep);
}

static int64_t create_job(struct proto_client *c, enum proto_job_type type, const char *title)
{
    struct proto_request req;
    struct proto_reply rep;
    int64_t id;

    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_JOB_CREATE;
    req.req_id = "t-create";
    req.args.job_create.title = (char *)title;
    req.args.job_create.description = "test job";
    req.args.job_create.type = type;
    req.args.job_create.price_usd_cents = 1250;
    hexb(CLIENT, req.args.job_create.wallet_address, 20);
    req.args.job_create.has_spec_sha256 = true;
    hexb(SPEC, req.args.job_create.spec_sha256, 32);
    req.args.job_create.deadline_at = T_NOW + 86400;
    req.args.job_create.max_runtime_s = 3600;
    call_ok(c, &req, &rep);
    id = rep.result.job.id;
    assert_int_equal(rep.result.job.status, PROTO_STATUS_PENDING);
    proto_reply_release(&rep);
    return id;
}

static void chain_id_of(int64_t id, uint8_t out[32])
{
    uint8_t client_addr[20];
    hexb(CLIENT, client_addr, 20);
    jobmap_chain_job_id(client_addr, id, out);
}

/* An events.apply of one event at block <number> (hash: 32 bytes of
 * <number>), parent chain implied. */
struct one_event {
    struct proto_request req;
    struct proto_block_ref block;
    struct proto_event ev;
};

static void one_event(struct one_event *o, int64_t number, enum proto_event_name name,
                      int64_t job_id)
{
    memset(o, 0, sizeof *o);
    o->block.number = number;
    memset(o->block.hash, (int)number, 32);
    o->ev.block_number = number;
    memcpy(o->ev.block_hash, o->block.hash, 32);
    o->ev.block_at = T_NOW + number;
    memset(o->ev.tx_hash, 0xa0 + (int)number, 32);
    o->ev.log_index = 1;
    o->ev.name = name;
    chain_id_of(job_id, o->ev.fields.chain_job_id);
    o->ev.fields.has_client = true;
    hexb(CLIENT, o->ev.fields.client, 20);
    if (name != PROTO_EV_JOB_CREATED) {
        o->ev.fields.has_worker = true;
        hexb(WORKER, o->ev.fields.worker, 20);
    }
    switch (name) {
    case PROTO_EV_JOB_CREATED:
        o->ev.fields.has_ref = true;
        o->ev.fields.ref[31] = (uint8_t)job_id;
        o->ev.fields.has_price_usd_cents = true;
        o->ev.fields.price_usd_cents = 1250;
        o->ev.fields.has_amount_wei = true;
        o->ev.fields.amount_wei[31] = 0x64; /* 100 wei */
        o->ev.fields.has_spec_sha256 = true;
        hexb(SPEC, o->ev.fields.spec_sha256, 32);
        o->ev.fields.has_deadline_at = true;
        o->ev.fields.deadline_at = T_NOW + 7200;
        o->ev.fields.has_max_runtime_s = true;
        o->ev.fields.max_runtime_s = 600;
        o->ev.fields.has_challenge_window_s = true;
        o->ev.fields.challenge_window_s = 300;
        break;
    case PROTO_EV_JOB_CLAIMED:
        o->ev.fields.has_claim_expires_at = true;
        o->ev.fields.claim_expires_at = T_NOW + 1000;
        break;
    case PROTO_EV_JOB_SUBMITTED:
        o->ev.fields.has_result_sha256 = true;
        hexb(RESULT, o->ev.fields.result_sha256, 32);
        o->ev.fields.has_challenge_ends_at = true;
        o->ev.fields.challenge_ends_at = T_NOW + 2000;
        break;
    case PROTO_EV_PAYMENT_RELEASED:
        o->ev.fields.has_amount_wei = true;
        o->ev.fields.amount_wei[31] = 0x64;
        o->ev.fields.has_by_client = true;
        o->ev.fields.by_client = true;
        break;
    default:
        break;
    }
    o->req.cmd = PROTO_CMD_EVENTS_APPLY;
    o->req.req_id = "t-apply";
    o->req.args.events_apply.from_block = number;
    o->req.args.events_apply.to_block = number;
    o->req.args.events_apply.blocks = &o->block;
    o->req.args.events_apply.n_blocks = 1;
    o->req.args.events_apply.events = &o->ev;
    o->req.args.events_apply.n_events = 1;
    o->req.args.events_apply.checkpoint = o->block;
}

static int64_t apply(struct proto_client *c, struct one_event *o)
{
    struct proto_reply rep;
    int64_t n;

    call_ok(c, &o->req, &rep);
    n = rep.result.applied.events_applied;
    assert_int_equal(rep.result.applied.checkpoint.number, o->block.number);
    proto_reply_release(&rep);
    return n;
}

/* ---- fixture ------------------------------------------------------------ */

static int setup(void **state)
{
    struct js *j = calloc(1, sizeof *j);

    if (!j)
        return -1;
    js_init(j, pg_url);
    js_start(j);
    *state = j;
    return 0;
}

static int teardown(void **state)
{
    struct js *j = *state;
    struct db_config cfg;
    struct db_pool *p = NULL;
    int rc = 0;

    /* A clean stop is part of every test: exit status 0 (sanitizer builds
     * exit non-zero on a leak or an error). */
    if (js_stop(j) != 0) {
        char *log = slurp(j->log);
        fprintf(stderr, "loom-jobstore did not exit cleanly; its log:\n%s\n", log);
        free(log);
        rc = -1;
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.url = pg_url;
    cfg.n_conns = 1;
    if (db_pool_new(&cfg, &p) == ERR_OK) {
        if (db_drop_schema(p, j->schema) != ERR_OK)
            fprintf(stderr, "cannot drop %s\n", j->schema);
        db_pool_free(p);
    }
    free(j);
    return rc;
}

/* ---- tests --------------------------------------------------------------- */

/* Every REST-side command: replies and rows. */
static void test_commands(void **state)
{
    struct js *j = *state;
    struct proto_client *c = client(j, 5000);
    struct proto_request req;
    struct proto_reply rep;
    uint8_t cid[32];
    char hex[67], want[256];
    int64_t a, b, g;

    /* job.create: the stored row, the derived chain id, the seed's price. */
    a = create_job(c, PROTO_JOB_IA, "train digits");
    b = create_job(c, PROTO_JOB_IA, "train more");
    g = create_job(c, PROTO_JOB_GRAFICA, "blur");
    assert_true(a > 0 && b == a + 1 && g == b + 1);
    chain_id_of(a, cid);
    hex_encode(cid, 32, true, hex);
    snprintf(want, sizeof want, "train digits|IA|12.50|1250|%s|PENDING|" CLIENT "|3600", hex);
    assert_sql(j,
               "SELECT concat_ws('|', title, type, price, price_usd_cents, chain_job_id, status,"
               " wallet_address, requested_max_runtime_s) FROM jobs WHERE id = $1::bigint",
               a, want);

    /* job.get: the same record, with the requested terms. */
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_JOB_GET;
    req.args.job_get.job_id = a;
    call_ok(c, &req, &rep);
    assert_int_equal(rep.result.job.id, a);
    assert_string_equal(rep.result.job.title, "train digits");
    assert_int_equal(rep.result.job.price_usd_cents, 1250);
    assert_int_equal(rep.result.job.deadline_at, T_NOW + 86400);
    assert_int_equal(rep.result.job.max_runtime_s, 3600);
    assert_true(rep.result.job.has_chain_job_id);
    assert_memory_equal(rep.result.job.chain_job_id, cid, 32);
    assert_false(rep.result.job.has_escrow_wei);
    assert_int_equal(rep.result.job.n_transitions, 0);
    proto_reply_release(&rep);

    /* job.list: filters and ascending pages. */
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_JOB_LIST;
    req.args.job_list.has_type = true;
    req.args.job_list.type = PROTO_JOB_IA;
    req.args.job_list.has_limit = true;
    req.args.job_list.limit = 1;
    call_ok(c, &req, &rep);
    assert_int_equal(rep.result.page.n_jobs, 1);
    assert_int_equal(rep.result.page.jobs[0].id, a);
    assert_true(rep.result.page.has_next_cursor);
    assert_int_equal(rep.result.page.next_cursor, a);
    proto_reply_release(&rep);
    req.args.job_list.has_cursor = true;
    req.args.job_list.cursor = a;
    call_ok(c, &req, &rep);
    assert_int_equal(rep.result.page.n_jobs, 1);
    assert_int_equal(rep.result.page.jobs[0].id, b);
    assert_false(rep.result.page.has_next_cursor);
    proto_reply_release(&rep);
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_JOB_LIST;
    req.args.job_list.has_status = true;
    req.args.job_list.status = PROTO_STATUS_OPEN;
    call_ok(c, &req, &rep);
    assert_int_equal(rep.result.page.n_jobs, 0);
    proto_reply_release(&rep);

    /* file.put: input and spec roles; a second record of a name is refused. */
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_FILE_PUT;
    req.args.file_put.job_id = a;
    req.args.file_put.name = "job.json";
    hexb(SPEC, req.args.file_put.sha256, 32);
    req.args.file_put.size_bytes = 321;
    req.args.file_put.content_type = "application/json";
    call_ok(c, &req, &rep);
    assert_string_equal(rep.result.file.name, "job.json");
    assert_int_equal(rep.result.file.size_bytes, 321);
    proto_reply_release(&rep);
    req.args.file_put.name = "digits.csv";
    req.args.file_put.content_type = "text/csv";
    call_ok(c, &req, &rep);
    proto_reply_release(&rep);
    call_err(c, &req, ERR_EXISTS);
    assert_sql(j,
               "SELECT string_agg(name || ':' || role || ':' || size_bytes, ',' ORDER BY name)"
               " FROM job_files",
               0, "digits.csv:input:321,job.json:spec:321");

    /* auth.nonce: once, then a replay. */
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_AUTH_NONCE;
    hexb(CLIENT, req.args.auth_nonce.address, 20);
    req.args.auth_nonce.nonce = "a1b2c3d4e5f60718";
    req.args.auth_nonce.expires_at = (int64_t)time(NULL) + 600;
    call_ok(c, &req, &rep);
    proto_reply_release(&rep);
    call_err(c, &req, ERR_EXISTS);
    assert_sql(j, "SELECT count(*) FROM auth_nonces", 0, "1");

    /* checkpoint.get before any events; jobs.due with nothing due. */
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_CHECKPOINT_GET;
    call_ok(c, &req, &rep);
    assert_false(rep.result.checkpoint.has_checkpoint);
    proto_reply_release(&rep);
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_JOBS_DUE;
    req.args.jobs_due.now_at = T_NOW;
    req.args.jobs_due.limit = 10;
    call_ok(c, &req, &rep);
    assert_int_equal(rep.result.due.n_jobs, 0);
    proto_reply_release(&rep);

    /* /metrics counted them by command and result. */
    assert_true(metric(j->metrics_port,
                       "loom_jobstore_requests_total{cmd=\"job.create\",result=\"ok\"} ") == 3);
    assert_true(metric(j->metrics_port,
                       "loom_jobstore_requests_total{cmd=\"file.put\",result=\"exists\"} ") == 1);
    assert_true(metric(j->metrics_port,
                       "loom_jobstore_request_duration_seconds_count{cmd=\"job.get\"} ") == 1);
    assert_int_equal(http_get(j->metrics_port, "/health", NULL), 200);
    proto_client_free(c);
}

/* Refusals carry the right codes; malformed frames too. */
static void test_errors(void **state)
{
    struct js *j = *state;
    struct proto_client *c = client(j, 5000);
    struct proto_request req;
    struct proto_reply rep;
    struct one_event o;
    struct bus *raw = NULL;
    void *reply = NULL;
    size_t len = 0;
    int64_t a;

    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_JOB_GET;
    req.args.job_get.job_id = 999;
    call_err(c, &req, ERR_NOTFOUND);

    /* A job without its spec hash cannot be checked against the escrow. */
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_JOB_CREATE;
    req.args.job_create.title = "x";
    req.args.job_create.description = "";
    req.args.job_create.price_usd_cents = 1;
    req.args.job_create.max_runtime_s = 1;
    call_err(c, &req, ERR_INVAL);

    a = create_job(c, PROTO_JOB_IA, "t");
    /* Progress on a job nobody claimed; by someone else once claimed. */
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_JOB_PROGRESS;
    req.args.job_progress.job_id = a;
    hexb(WORKER, req.args.job_progress.worker, 20);
    req.args.job_progress.progress = 10;
    call_err(c, &req, ERR_STATE);
    one_event(&o, 1, PROTO_EV_JOB_CREATED, a);
    assert_int_equal(apply(c, &o), 1);
    one_event(&o, 2, PROTO_EV_JOB_CLAIMED, a);
    assert_int_equal(apply(c, &o), 1);
    hexb(STRANGER, req.args.job_progress.worker, 20);
    call_err(c, &req, ERR_PERM);
    req.args.job_progress.job_id = 999;
    call_err(c, &req, ERR_NOTFOUND);

    /* job.result for a file never recorded; with a different hash. */
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_JOB_RESULT;
    req.args.job_result.job_id = a;
    hexb(WORKER, req.args.job_result.worker, 20);
    hexb(RESULT, req.args.job_result.result_sha256, 32);
    req.args.job_result.file_name = "weights.bin";
    call_err(c, &req, ERR_NOTFOUND);

    /* A gap after the checkpoint; a rollback to a block never seen. */
    one_event(&o, 5, PROTO_EV_JOB_SUBMITTED, a);
    call_err(c, &o.req, ERR_STATE);
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_REORG_ROLLBACK;
    req.args.reorg_rollback.to_block = 1;
    memset(req.args.reorg_rollback.block_hash, 0x77, 32);
    call_err(c, &req, ERR_STATE);
    /* An event without a block time cannot be folded. */
    one_event(&o, 3, PROTO_EV_JOB_SUBMITTED, a);
    o.ev.block_at = 0;
    call_err(c, &o.req, ERR_INVAL);

    /* Frames that do not decode: each gets its code, nothing hangs. */
    assert_int_equal(bus_new(NULL, BUS_REQ, &raw), ERR_OK);
    assert_int_equal(bus_connect(raw, j->rep), ERR_OK);
    {
        static const struct {
            const char *frame;
            enum err code;
        } bad[] = {
            {"{", ERR_INVAL},
            {"{\"v\":2,\"cmd\":\"job.get\",\"args\":{\"job_id\":1}}", ERR_VERSION},
            {"{\"v\":1,\"cmd\":\"job.steal\",\"args\":{}}", ERR_INVAL},
            {"{\"v\":1,\"cmd\":\"job.get\",\"args\":{\"job_id\":0}}", ERR_RANGE},
        };
        size_t i;
        for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            assert_int_equal(
                bus_request_wait(raw, bad[i].frame, strlen(bad[i].frame), 5000, &reply, &len),
                ERR_OK);
            assert_int_equal(proto_reply_decode(reply, len, PROTO_CMD_JOB_GET, &rep, NULL), ERR_OK);
            assert_false(rep.ok);
            assert_int_equal(rep.error_code, bad[i].code);
            proto_reply_release(&rep);
            free(reply);
        }
    }
    bus_free(raw);
    assert_true(metric(j->metrics_port, "loom_jobstore_requests_total{cmd=\"invalid\","
                                        "result=\"unsupported_version\"} ") == 1);
    proto_client_free(c);
}

/* The feed through a job's life, replays publishing nothing. */
static void test_feed(void **state)
{
    struct js *j = *state;
    struct proto_client *c = client(j, 5000);
    struct sub ia, gr, closed, progress;
    struct proto_request req;
    struct proto_reply rep;
    struct one_event o;
    uint8_t cid[32];
    int64_t a, g;

    sub_open(&ia, j->pub, PROTO_TOPIC_OPEN_IA);
    sub_open(&gr, j->pub, PROTO_TOPIC_OPEN_GRAFICA);
    sub_open(&closed, j->pub, PROTO_TOPIC_CLOSED);
    sub_open(&progress, j->pub, PROTO_TOPIC_PROGRESS);
    sub_wait(&ia, 1, 300); /* let the subscriptions connect (PUB drops until then) */

    a = create_job(c, PROTO_JOB_IA, "ia job");
    g = create_job(c, PROTO_JOB_GRAFICA, "grafica job");
    chain_id_of(a, cid);

    /* JobCreated from the client with the spec: job.open.IA, not GRAFICA. */
    one_event(&o, 1, PROTO_EV_JOB_CREATED, a);
    assert_int_equal(apply(c, &o), 1);
    sub_wait(&ia, 1, 3000);
    assert_int_equal(ia.n, 1);
    assert_string_equal(ia.topics[0], "job.open.IA");
    assert_int_equal(ia.got[0].kind, PROTO_FEED_OPEN);
    assert_int_equal(ia.got[0].u.open.job_id, a);
    assert_memory_equal(ia.got[0].u.open.chain_job_id, cid, 32);
    assert_int_equal(ia.got[0].u.open.escrow_wei[31], 0x64);
    assert_int_equal(ia.got[0].u.open.max_runtime_s, 600);
    assert_int_equal(ia.got[0].u.open.deadline_at, T_NOW + 7200);
    sub_wait(&gr, 1, 300);
    assert_int_equal(gr.n, 0);

    /* The same batch again: nothing applied, nothing published. */
    assert_int_equal(apply(c, &o), 0);
    sub_wait(&ia, 2, 400);
    assert_int_equal(ia.n, 1);
    assert_true(
        metric(j->metrics_port, "loom_jobstore_feed_messages_total{topic=\"job.open.IA\"} ") == 1);

    /* A funding with another spec is recorded, flagged, never offered. */
    one_event(&o, 2, PROTO_EV_JOB_CREATED, g);
    memset(o.ev.fields.spec_sha256, 0x11, 32);
    assert_int_equal(apply(c, &o), 1);
    sub_wait(&gr, 1, 400);
    assert_int_equal(gr.n, 0);
    assert_sql(j, "SELECT status || ':' || funding_flag FROM jobs WHERE id = $1::bigint", g,
               "PENDING:spec_mismatch");

    /* Claimed: job.closed WORKING with the claim's transaction. */
    one_event(&o, 3, PROTO_EV_JOB_CLAIMED, a);
    assert_int_equal(apply(c, &o), 1);
    sub_wait(&closed, 1, 3000);
    assert_int_equal(closed.n, 1);
    assert_int_equal(closed.got[0].u.closed.job_id, a);
    assert_int_equal(closed.got[0].u.closed.status, PROTO_STATUS_WORKING);
    assert_true(closed.got[0].u.closed.has_tx_hash);
    assert_int_equal(closed.got[0].u.closed.tx_hash[0], 0xa3);
    assert_int_equal(closed.got[0].u.closed.at, T_NOW + 3);

    /* Progress from the worker: job.progress. */
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_JOB_PROGRESS;
    req.args.job_progress.job_id = a;
    hexb(WORKER, req.args.job_progress.worker, 20);
    req.args.job_progress.progress = 40;
    call_ok(c, &req, &rep);
    assert_int_equal(rep.result.job.progress, 40);
    proto_reply_release(&rep);
    sub_wait(&progress, 1, 3000);
    assert_int_equal(progress.n, 1);
    assert_int_equal(progress.got[0].u.progress.job_id, a);
    assert_int_equal(progress.got[0].u.progress.progress, 40);

    /* The result: recorded with file.put, committed with job.result. */
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_FILE_PUT;
    req.args.file_put.job_id = a;
    req.args.file_put.name = "weights.bin";
    hexb(RESULT, req.args.file_put.sha256, 32);
    req.args.file_put.size_bytes = 4096;
    req.args.file_put.content_type = "application/octet-stream";
    call_ok(c, &req, &rep);
    proto_reply_release(&rep);
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_JOB_RESULT;
    req.args.job_result.job_id = a;
    hexb(WORKER, req.args.job_result.worker, 20);
    hexb(SPEC, req.args.job_result.result_sha256, 32);
    req.args.job_result.file_name = "weights.bin";
    call_err(c, &req, ERR_INVAL); /* not the recorded file's hash */
    hexb(RESULT, req.args.job_result.result_sha256, 32);
    call_ok(c, &req, &rep);
    proto_reply_release(&rep);
    assert_sql(j, "SELECT role || ':' || size_bytes FROM job_files WHERE name = 'weights.bin'", 0,
               "result:4096");

    /* Submitted, then released: job.closed SUBMITTED, COMPLETED. */
    one_event(&o, 4, PROTO_EV_JOB_SUBMITTED, a);
    assert_int_equal(apply(c, &o), 1);
    one_event(&o, 5, PROTO_EV_PAYMENT_RELEASED, a);
    assert_int_equal(apply(c, &o), 1);
    sub_wait(&closed, 3, 3000);
    assert_int_equal(closed.n, 3);
    assert_int_equal(closed.got[1].u.closed.status, PROTO_STATUS_SUBMITTED);
    assert_int_equal(closed.got[2].u.closed.status, PROTO_STATUS_COMPLETED);

    /* The record with its on-chain history. */
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_JOB_GET;
    req.args.job_get.job_id = a;
    call_ok(c, &req, &rep);
    assert_int_equal(rep.result.job.status, PROTO_STATUS_COMPLETED);
    assert_int_equal(rep.result.job.n_transitions, 4);
    assert_int_equal(rep.result.job.transitions[0].status, PROTO_STATUS_OPEN);
    assert_int_equal(rep.result.job.transitions[0].block_number, 1);
    assert_int_equal(rep.result.job.transitions[0].at, T_NOW + 1);
    assert_int_equal(rep.result.job.transitions[3].status, PROTO_STATUS_COMPLETED);
    assert_true(rep.result.job.has_result_sha256);
    assert_int_equal(rep.result.job.max_runtime_s, 600); /* the escrow's, not the request's */
    proto_reply_release(&rep);

    /* checkpoint.get, then a reorg back to block 3: WORKING again. */
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_CHECKPOINT_GET;
    call_ok(c, &req, &rep);
    assert_true(rep.result.checkpoint.has_checkpoint);
    assert_int_equal(rep.result.checkpoint.checkpoint.number, 5);
    proto_reply_release(&rep);
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_REORG_ROLLBACK;
    req.args.reorg_rollback.to_block = 3;
    memset(req.args.reorg_rollback.block_hash, 3, 32);
    call_ok(c, &req, &rep);
    assert_int_equal(rep.result.rollback.events_removed, 2);
    proto_reply_release(&rep);
    sub_wait(&closed, 4, 3000);
    assert_int_equal(closed.n, 4);
    assert_int_equal(closed.got[3].u.closed.status, PROTO_STATUS_WORKING);
    assert_sql(j, "SELECT status || ':' || progress FROM jobs WHERE id = $1::bigint", a,
               "WORKING:40");
    sub_close(&ia);
    sub_close(&gr);
    sub_close(&closed);
    sub_close(&progress);
    proto_client_free(c);
}

/* 64 requests in flight on one async client: all answered. */
struct burst {
    struct event_base *base;
    int answered, ok;
};

static void on_burst(void *arg, enum err status, struct proto_reply *rep)
{
    struct burst *b = arg;

    b->answered++;
    if (status == ERR_OK && rep->ok)
        b->ok++;
    proto_reply_release(rep);
    if (b->answered == 64)
        event_base_loopbreak(b->base);
}

static void test_concurrent(void **state)
{
    struct js *j = *state;
    struct proto_client *blocking = client(j, 5000), *c = NULL;
    struct proto_request req;
    struct burst b;
    struct timeval limit = {20, 0};
    int64_t a;
    int i;

    a = create_job(blocking, PROTO_JOB_GRAFICA, "many readers");
    memset(&b, 0, sizeof b);
    b.base = event_base_new();
    assert_int_equal(proto_client_new_async(b.base, j->rep, 10000, &c), ERR_OK);
    for (i = 0; i < 64; i++) {
        memset(&req, 0, sizeof req);
        if (i % 2) {
            req.cmd = PROTO_CMD_JOB_GET;
            req.args.job_get.job_id = a;
        } else {
            req.cmd = PROTO_CMD_JOB_LIST;
        }
        assert_int_equal(proto_client_send(c, &req, on_burst, &b), ERR_OK);
    }
    event_base_loopexit(b.base, &limit);
    event_base_dispatch(b.base);
    assert_int_equal(b.answered, 64);
    assert_int_equal(b.ok, 64);
    assert_true(metric(j->metrics_port, "loom_jobstore_requests_in_flight ") == 0);
    proto_client_free(c);
    event_base_free(b.base);
    proto_client_free(blocking);
}

/* ---- group commit of job.create ----------------------------------------- */

#define GROUP_N 200

struct group;

/* One request of a group: where its answer goes. */
struct group_slot {
    struct group *g;
    int i;
};

struct group {
    struct event_base *base;
    int n, answered;
    int64_t id[GROUP_N];
    enum err code[GROUP_N]; /* ERR_OK, the reply's error code, or the transport's */
    int no_reply[GROUP_N];  /* 1: the transport failed (code[] holds its error) */
    char title[GROUP_N][32];
    struct group_slot slot[GROUP_N];
};

static void on_group(void *arg, enum err status, struct proto_reply *rep)
{
    struct group_slot *s = arg;
    struct group *g = s->g;

    if (status != ERR_OK) {
        g->code[s->i] = status;
        g->no_reply[s->i] = 1;
    } else if (!rep->ok) {
        g->code[s->i] = rep->error_code;
    } else {
        g->code[s->i] = ERR_OK;
        g->id[s->i] = rep->result.job.id;
        if (strcmp(rep->result.job.title, g->title[s->i]) != 0)
            g->code[s->i] = ERR_STATE; /* a reply for another request: fails below */
    }
    proto_reply_release(rep);
    if (++g->answered == g->n)
        event_base_loopbreak(g->base);
}

/* Send <n> more job.create requests (numbered on from the group's count)
 * titled "<prefix> <i>" at once on <c>, all in flight together; request <no_spec> lacks its spec
 * hash (refused before the database) and <dup_files> names two files alike (refused too), both in
 * the middle of whatever batch they land in. Every fourth job carries its job.json. */
static void group_send(struct group *g, struct proto_client *c, int n, const char *prefix,
                       int no_spec, int dup_files)
{
    struct proto_request req;
    struct proto_new_file files[2];
    int i;

    memset(files, 0, sizeof files);
    files[0].name = "job.json";
    hexb(SPEC, files[0].sha256, 32);
    files[0].size_bytes = 321;
    files[0].content_type = "application/json";
    files[1] = files[0];
    for (i = g->n; i < g->n + n; i++) {
        snprintf(g->title[i], sizeof g->title[i], "%s %d", prefix, i);
        g->slot[i].g = g;
        g->slot[i].i = i;
        memset(&req, 0, sizeof req);
        req.cmd = PROTO_CMD_JOB_CREATE;
        req.args.job_create.title = g->title[i];
        req.args.job_create.description = "";
        req.args.job_create.type = i % 2 ? PROTO_JOB_GRAFICA : PROTO_JOB_IA;
        req.args.job_create.price_usd_cents = 100 + i;
        hexb(CLIENT, req.args.job_create.wallet_address, 20);
        req.args.job_create.has_spec_sha256 = i != no_spec;
        hexb(SPEC, req.args.job_create.spec_sha256, 32);
        req.args.job_create.max_runtime_s = 3600;
        req.args.job_create.files = files;
        req.args.job_create.n_files = i == dup_files ? 2 : i % 4 == 0 ? 1 : 0;
        assert_int_equal(proto_client_send(c, &req, on_group, &g->slot[i]), ERR_OK);
    }
    g->n += n;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The rows titled "<prefix> %" as "id=title" in id order, and the same
 * built from the ok replies of <g>: equal when every successful create
 * landed exactly once, under the id its reply gave, and nothing else did. */
static void group_check_rows(struct js *j, const struct group *g, const char *prefix)
{
    char like[48], *got;
    struct buf want;
    int64_t ids[GROUP_N];
    int i, k, n = 0;

    for (i = 0; i < g->n; i++)
        if (g->code[i] == ERR_OK)
            ids[n++] = g->id[i];
    qsort(ids, (size_t)n, sizeof ids[0], cmp_id);
    for (k = 1; k < n; k++)
        assert_true(ids[k] > ids[k - 1]); /* distinct ids */
    buf_init(&want, 1 << 20);
    for (k = 0; k < n; k++)
        for (i = 0; i < g->n; i++)
            if (g->code[i] == ERR_OK && g->id[i] == ids[k])
                assert_int_equal(
                    buf_appendf(&want, "%s%lld=%s", k ? "," : "", (long long)ids[k], g->title[i]),
                    ERR_OK);
    snprintf(like, sizeof like, "%s %%", prefix);
    got = sql1(j->url, j->schema,
               "SELECT coalesce(string_agg(id || '=' || title, ',' ORDER BY id), '') FROM jobs"
               " WHERE title LIKE $1",
               like, (char *)NULL);
    if (strcmp(got, buf_cstr(&want)) != 0)
        fail_msg("rows differ from the ok replies:\n got  %s\n want %s", got, buf_cstr(&want));
    free(got);
    buf_release(&want);
}

/* Many creates in flight at once: they are written in batches (each request
 * counted in the batch-size histogram once), every well-formed one lands
 * exactly once with the id and row its reply gave, and the two bad ones in
 * the middle fail alone with their own codes. */
static void test_create_group(void **state)
{
    struct js *j = *state;
    struct proto_client *c = NULL;
    struct group *g = calloc(1, sizeof *g);
    struct timeval limit = {60, 0};
    char like[48], *n_files;
    int i, want_files = 0;

    assert_non_null(g);
    g->base = event_base_new();
    assert_int_equal(proto_client_new_async(g->base, j->rep, 30000, &c), ERR_OK);
    group_send(g, c, GROUP_N, "group", 50, 120);
    event_base_loopexit(g->base, &limit);
    event_base_dispatch(g->base);
    assert_int_equal(g->answered, GROUP_N);
    for (i = 0; i < GROUP_N; i++) {
        if (i == 50)
            assert_int_equal(g->code[i], ERR_INVAL);
        else if (i == 120)
            assert_int_equal(g->code[i], ERR_EXISTS);
        else
            assert_int_equal(g->code[i], ERR_OK);
        if (g->code[i] == ERR_OK && i % 4 == 0)
            want_files++;
    }
    group_check_rows(j, g, "group");
    snprintf(like, sizeof like, "group %%");
    n_files = sql1(j->url, j->schema,
                   "SELECT count(*) FROM job_files f JOIN jobs j ON j.id = f.job_id"
                   " WHERE j.title LIKE $1",
                   like, (char *)NULL);
    assert_int_equal(strtol(n_files, NULL, 10), want_files);
    free(n_files);
    /* Every create went through a batch; how many batches depends on timing. */
    assert_true(metric(j->metrics_port, "loom_jobstore_create_batch_jobs_sum ") == GROUP_N);
    printf("test_create_group: %d creates in %.0f batches\n", GROUP_N,
           metric(j->metrics_port, "loom_jobstore_create_batch_jobs_count "));
    assert_true(metric(j->metrics_port, "loom_jobstore_requests_in_flight ") == 0);
    proto_client_free(c);
    event_base_free(g->base);
    free(g);
}

/* Run <base>'s ready events and read the metric <prefix> until it equals
 * <want>; return the milliseconds that took (fails after <limit_ms>). */
static long wait_metric(struct js *j, struct event_base *base, const char *prefix, double want,
                        long limit_ms)
{
    struct timespec t0, t;
    long ms;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        clock_gettime(CLOCK_MONOTONIC, &t);
        ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (metric(j->metrics_port, prefix) == want)
            return ms;
        if (ms > limit_ms)
            fail_msg("%s did not reach %g within %ld ms", prefix, want, limit_ms);
        sleep_ms(10);
    }
}

static int setup_overlap(void **state)
{
    struct js *j = calloc(1, sizeof *j);

    if (!j)
        return -1;
    js_init(j, pg_url);
    j->extra[0] = "--create-overlap-ms=3000";
    j->extra[1] = "--create-batch-max=2";
    j->extra[2] = "--create-batches=3";
    js_start(j);
    *state = j;
    return 0;
}

/* A batch beyond the first waits for the running one to take
 * create_overlap_ms, unless a full batch waits. The jobs table is locked
 * (SHARE mode: inserts wait), so every batch stays running: create A goes
 * out at once; B, sent next, is held back, then starts about 3 s after A;
 * C and D together fill a batch (create_batch_max 2) and start at once.
 * Once the lock goes, all four commit, each once. */
static void test_create_overlap(void **state)
{
    static const char *batches = "loom_jobstore_create_batch_jobs_count ",
                      *overlaps = "loom_jobstore_create_batch_overlaps_total ";
    struct js *j = *state;
    struct proto_client *c = NULL;
    struct group *g = calloc(1, sizeof *g);
    struct timeval limit = {30, 0};
    struct db_config cfg;
    struct db_pool *p = NULL;
    struct db_conn *lock = NULL;
    struct db_res *r = NULL;
    struct timespec a_sent, t;
    long waited_ms;
    int i;

    assert_non_null(g);
    memset(&cfg, 0, sizeof cfg);
    cfg.url = j->url;
    cfg.n_conns = 1;
    cfg.checkout_timeout_ms = 5000;
    cfg.schema = j->schema;
    assert_int_equal(db_pool_new(&cfg, &p), ERR_OK);
    assert_int_equal(db_checkout(p, &lock), ERR_OK);
    assert_int_equal(db_begin(lock), ERR_OK);
    assert_int_equal(db_exec(lock, "LOCK TABLE jobs IN SHARE MODE", 0, NULL, &r), ERR_OK);
    db_res_free(r);

    g->base = event_base_new();
    assert_int_equal(proto_client_new_async(g->base, j->rep, 30000, &c), ERR_OK);
    clock_gettime(CLOCK_MONOTONIC, &a_sent); /* A starts after this */
    group_send(g, c, 1, "overlap", -1, -1);  /* A */
    wait_metric(j, g->base, batches, 1, 5000);
    group_send(g, c, 1, "overlap", -1, -1); /* B */
    sleep_ms(300);
    event_base_loop(g->base, EVLOOP_NONBLOCK);
    assert_true(metric(j->metrics_port, batches) == 1); /* B held back */
    assert_true(metric(j->metrics_port, overlaps) == 0);
    wait_metric(j, g->base, batches, 2, 10000);
    clock_gettime(CLOCK_MONOTONIC, &t);
    /* B cannot start before A has run 3000 ms, and A started after
     * a_sent, so this holds however slowly the test itself ran. */
    waited_ms = (t.tv_sec - a_sent.tv_sec) * 1000 + (t.tv_nsec - a_sent.tv_nsec) / 1000000;
    printf("test_create_overlap: B started %ld ms after A was sent (create_overlap_ms 3000)\n",
           waited_ms);
    assert_true(waited_ms >= 2990);
    assert_true(metric(j->metrics_port, overlaps) == 1);
    group_send(g, c, 2, "overlap", -1, -1); /* C, D: a full batch */
    waited_ms = wait_metric(j, g->base, batches, 3, 10000);
    printf("test_create_overlap: C and D started %ld ms after they were sent\n", waited_ms);
    assert_true(waited_ms < 2000);
    assert_true(metric(j->metrics_port, overlaps) == 2);
    assert_int_equal(g->answered, 0); /* all four wait for the lock */

    assert_int_equal(db_commit(lock), ERR_OK);
    db_checkin(p, lock);
    db_pool_free(p);
    event_base_loopexit(g->base, &limit);
    event_base_dispatch(g->base);
    assert_int_equal(g->answered, 4);
    for (i = 0; i < 4; i++)
        assert_int_equal(g->code[i], ERR_OK);
    group_check_rows(j, g, "overlap");
    assert_true(metric(j->metrics_port, "loom_jobstore_create_batch_jobs_sum ") == 4);
    proto_client_free(c);
    event_base_free(g->base);
    free(g);
}

/* SIGTERM while creates are in flight: every create still answered is
 * either committed (ok, its row present once) or refused as unavailable
 * (no row); after a restart creates succeed again. */
static void test_create_restart(void **state)
{
    struct js *j = *state;
    struct proto_client *c = NULL, *blocking;
    struct group *g = calloc(1, sizeof *g);
    struct timeval limit = {40, 0}, tv = {0, 20000};
    time_t deadline;
    int i, ok = 0, refused = 0;

    assert_non_null(g);
    g->base = event_base_new();
    assert_int_equal(proto_client_new_async(g->base, j->rep, 10000, &c), ERR_OK);
    group_send(g, c, 100, "restart", -1, -1);
    event_base_loopexit(g->base, &tv); /* let some reach the server */
    event_base_dispatch(g->base);
    kill(j->pid, SIGTERM);
    /* More while it drains: refused as unavailable, or unanswered once the
     * endpoint has closed. */
    tv.tv_usec = 20000;
    event_base_loopexit(g->base, &tv);
    event_base_dispatch(g->base);
    group_send(g, c, 50, "restart", -1, -1);
    /* Run until every create is answered (the client times out unanswered
     * ones after 10 s). Not one dispatch under loopexit: an earlier phase
     * that ended by loopbreak leaves its 20 ms loopexit timer pending, and it
     * would end this one early. */
    deadline = time(NULL) + limit.tv_sec;
    while (g->answered < 150 && time(NULL) < deadline)
        event_base_loop(g->base, EVLOOP_ONCE);
    assert_int_equal(g->answered, 150);
    assert_int_equal(js_stop(j), 0);
    for (i = 0; i < 150; i++) {
        if (g->code[i] == ERR_OK)
            ok++;
        else if (!g->no_reply[i] && g->code[i] == ERR_UNAVAILABLE)
            refused++;
        else if (!g->no_reply[i])
            fail_msg("create %d: %s", i, err_code(g->code[i]));
    }
    printf("test_create_restart: %d committed, %d refused, %d without reply\n", ok, refused,
           150 - ok - refused);
    /* Requests that got no reply (sent after the endpoint closed) may or
     * may not be rows; the checks below cover the answered ones. */
    for (i = 0; i < 150; i++) {
        char *n;
        if (g->code[i] == ERR_OK || g->no_reply[i])
            continue;
        n = sql1(j->url, j->schema, "SELECT count(*) FROM jobs WHERE title = $1", g->title[i],
                 (char *)NULL);
        assert_string_equal(n, "0"); /* refused: nothing written */
        free(n);
    }
    for (i = 0; i < 150; i++) {
        char key[24], *t;
        if (g->code[i] != ERR_OK)
            continue;
        snprintf(key, sizeof key, "%lld", (long long)g->id[i]);
        t = sql1(j->url, j->schema, "SELECT title FROM jobs WHERE id = $1::bigint", key,
                 (char *)NULL);
        assert_string_equal(t, g->title[i]); /* committed: its row, under its id */
        free(t);
    }
    proto_client_free(c);
    event_base_free(g->base);
    free(g);

    js_start(j);
    blocking = client(j, 10000);
    for (i = 0; i < 3; i++)
        assert_true(create_job(blocking, PROTO_JOB_IA, "after restart") > 0);
    proto_client_free(blocking);
}

/* SIGTERM answers what is in flight; while down, calls time out; after a
 * restart they succeed on the same client. */
static void test_restart(void **state)
{
    struct js *j = *state;
    struct proto_client *blocking = client(j, 500), *c = NULL;
    struct proto_request req;
    struct proto_reply rep;
    struct burst b;
    struct timeval limit = {20, 0};
    int i, ok = 0;
    enum err e;

    memset(&b, 0, sizeof b);
    b.base = event_base_new();
    assert_int_equal(proto_client_new_async(b.base, j->rep, 10000, &c), ERR_OK);
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_JOB_LIST;
    for (i = 0; i < 64; i++)
        assert_int_equal(proto_client_send(c, &req, on_burst, &b), ERR_OK);
    /* Let them reach the server, then stop it while they run. */
    {
        struct timeval tv = {0, 5000};
        event_base_loopexit(b.base, &tv);
        event_base_dispatch(b.base);
    }
    kill(j->pid, SIGTERM);
    event_base_loopexit(b.base, &limit);
    event_base_dispatch(b.base);
    assert_int_equal(b.answered, 64); /* each got a reply: ok, or unavailable */
    assert_int_equal(js_stop(j), 0);  /* exited cleanly (EX_OK) */
    proto_client_free(c);
    event_base_free(b.base);

    /* Down: a clean timeout, not a hang. */
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_CHECKPOINT_GET;
    e = proto_client_call(blocking, &req, &rep);
    assert_int_equal(e, ERR_TIMEDOUT);

    /* Up again: the same client gets answers. */
    js_start(j);
    for (i = 0; i < 40 && !ok; i++) {
        e = proto_client_call(blocking, &req, &rep);
        if (e == ERR_OK) {
            ok = rep.ok;
            proto_reply_release(&rep);
        } else {
            assert_int_equal(e, ERR_TIMEDOUT);
        }
    }
    assert_true(ok);
    proto_client_free(blocking);
}

/* The database test_db_down closes and reopens. */
#define DOWN_DB "loom_jobstore_down"

/* The database going away: 503 and error replies, no crash; then back. */
static void test_db_down(void **state)
{
    struct js *j = *state;
    struct proto_client *c;
    struct proto_request req;
    struct proto_reply rep;
    const char *slash;
    char *s;
    int i, status = 0;
    enum err e;

    js_stop(j);
    /* A database of its own, so it can be closed to connections (each
     * make test has its own throwaway server, so a fixed name is safe). */
    free(sql1(pg_url, NULL, "DROP DATABASE IF EXISTS " DOWN_DB, (char *)NULL));
    free(sql1(pg_url, NULL, "CREATE DATABASE " DOWN_DB, (char *)NULL));
    slash = strrchr(pg_url, '/');
    assert_non_null(slash);
    snprintf(j->url, sizeof j->url, "%.*s/%s", (int)(slash - pg_url), pg_url, DOWN_DB);
    js_start(j);
    c = client(j, 5000);
    create_job(c, PROTO_JOB_IA, "before");
    assert_int_equal(http_get(j->metrics_port, "/health", NULL), 200);

    /* Close the database: no new connections, the open ones cut. */
    free(sql1(pg_url, NULL, "ALTER DATABASE " DOWN_DB " ALLOW_CONNECTIONS false", (char *)NULL));
    free(sql1(pg_url, NULL,
              "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
              DOWN_DB, (char *)NULL));
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_JOB_GET;
    req.args.job_get.job_id = 1;
    e = proto_client_call(c, &req, &rep);
    assert_int_equal(e, ERR_OK);
    assert_false(rep.ok);
    assert_int_equal(rep.error_code, ERR_UNAVAILABLE);
    proto_reply_release(&rep);
    for (i = 0; i < 100 && status != 503; i++) {
        status = http_get(j->metrics_port, "/health", &s);
        if (status == 503)
            assert_non_null(strstr(s, "database unreachable"));
        free(s);
        if (status != 503)
            sleep_ms(50);
    }
    assert_int_equal(status, 503);
    assert_true(metric(j->metrics_port, "loom_jobstore_db_up ") == 0);

    /* Open again: health and requests recover, the process never died. */
    free(sql1(pg_url, NULL, "ALTER DATABASE " DOWN_DB " ALLOW_CONNECTIONS true", (char *)NULL));
    for (i = 0; i < 100 && status != 200; i++) {
        status = http_get(j->metrics_port, "/health", NULL);
        if (status != 200)
            sleep_ms(50);
    }
    assert_int_equal(status, 200);
    call_ok(c, &req, &rep);
    assert_string_equal(rep.result.job.title, "before");
    proto_reply_release(&rep);
    assert_int_equal(waitpid(j->pid, NULL, WNOHANG), 0);
    proto_client_free(c);

    assert_int_equal(js_stop(j), 0);
    free(sql1(pg_url, NULL, "DROP DATABASE " DOWN_DB, (char *)NULL));
    snprintf(j->url, sizeof j->url, "%s", pg_url);
    js_start(j); /* for the teardown's schema drop and stop */
}

/* db_exec_multi: different statements in one round trip; results in order;
 * one failure returns nothing and undoes the writes before it (one implicit
 * transaction); the connection stays usable. */
static const struct db_stmt st_m_add = {"t_multi_add", "SELECT $1::int + 1", 1};
static const struct db_stmt st_m_cat = {"t_multi_cat", "SELECT $1::text || $2::text", 2};
static const struct db_stmt st_m_ins = {"t_multi_ins", "INSERT INTO t_multi (v) VALUES ($1::int)",
                                        1};
static const struct db_stmt st_m_div = {"t_multi_div", "SELECT 10 / $1::int", 1};
static const struct db_stmt st_m_count = {"t_multi_count", "SELECT count(*) FROM t_multi", 0};

static void test_exec_multi(void **state)
{
    char schema[48];
    struct db_config cfg;
    struct db_pool *p = NULL;
    struct db_conn *c = NULL;
    struct db_res *outs[3];
    const char *one[1] = {"41"}, *two[2] = {"ab", "cd"}, *zero[1] = {"0"}, *seven[1] = {"7"};

    (void)state;
    snprintf(schema, sizeof schema, "t_multi_%d", (int)getpid());
    memset(&cfg, 0, sizeof cfg);
    cfg.url = pg_url;
    cfg.n_conns = 1;
    cfg.checkout_timeout_ms = 5000;
    cfg.schema = schema;
    assert_int_equal(db_pool_new(&cfg, &p), ERR_OK);
    assert_int_equal(db_checkout(p, &c), ERR_OK);
    assert_int_equal(db_exec(c, "CREATE TABLE t_multi (v int NOT NULL)", 0, NULL, NULL), ERR_OK);

    {
        const struct db_stmt *sts[3] = {&st_m_add, &st_m_cat, &st_m_add};
        const char *const *ps[3] = {one, two, seven};
        assert_int_equal(db_exec_multi(c, sts, ps, 3, outs), ERR_OK);
        assert_string_equal(db_res_text(outs[0], 0, 0), "42");
        assert_string_equal(db_res_text(outs[1], 0, 0), "abcd");
        assert_string_equal(db_res_text(outs[2], 0, 0), "8");
        for (size_t i = 0; i < 3; i++)
            db_res_free(outs[i]);
    }
    /* A division by zero after an insert: ERR_INVAL (class 22), no results,
     * and the insert is undone. */
    {
        const struct db_stmt *sts[3] = {&st_m_ins, &st_m_div, &st_m_add};
        const char *const *ps[3] = {seven, zero, one};
        outs[0] = outs[1] = outs[2] = (struct db_res *)1;
        assert_int_equal(db_exec_multi(c, sts, ps, 3, outs), ERR_INVAL);
        assert_null(outs[0]);
        assert_null(outs[1]);
        assert_null(outs[2]);
    }
    {
        const struct db_stmt *sts[1] = {&st_m_count};
        const char *const *ps[1] = {NULL};
        assert_int_equal(db_exec_multi(c, sts, ps, 1, outs), ERR_OK);
        assert_string_equal(db_res_text(outs[0], 0, 0), "0");
        db_res_free(outs[0]);
    }
    /* Both succeed: the insert stays. */
    {
        const struct db_stmt *sts[2] = {&st_m_ins, &st_m_count};
        const char *const *ps[2] = {seven, NULL};
        assert_int_equal(db_exec_multi(c, sts, ps, 2, outs), ERR_OK);
        assert_string_equal(db_res_text(outs[1], 0, 0), "1");
        db_res_free(outs[0]);
        db_res_free(outs[1]);
    }
    /* n = 0 does nothing; more than DB_PIPELINE_CHUNK is refused. */
    assert_int_equal(db_exec_multi(c, NULL, NULL, 0, outs), ERR_OK);
    {
        static const struct db_stmt *many[DB_PIPELINE_CHUNK + 1];
        static const char *const *many_p[DB_PIPELINE_CHUNK + 1];
        static struct db_res *many_out[DB_PIPELINE_CHUNK + 1];
        for (size_t i = 0; i <= DB_PIPELINE_CHUNK; i++) {
            many[i] = &st_m_add;
            many_p[i] = one;
        }
        assert_int_equal(db_exec_multi(c, many, many_p, DB_PIPELINE_CHUNK + 1, many_out),
                         ERR_INVAL);
        assert_null(many_out[0]);
    }
    db_checkin(p, c);
    assert_int_equal(db_drop_schema(p, schema), ERR_OK);
    db_pool_free(p);
}

/* job.create carrying its files: the job and its files in one transaction
 * (the reply lists them by name, with the spec role for job.json); two files
 * of one name record nothing. */
static void test_create_with_files(void **state)
{
    struct js *j = *state;
    struct proto_client *c = client(j, 5000);
    struct proto_request req;
    struct proto_reply rep;
    struct proto_new_file files[2];

    memset(files, 0, sizeof files);
    files[0].name = "job.json";
    hexb(SPEC, files[0].sha256, 32);
    files[0].size_bytes = 321;
    files[0].content_type = "application/json";
    files[1].name = "digits.csv";
    memset(files[1].sha256, 0x11, 32);
    files[1].size_bytes = 5000;
    files[1].content_type = "text/csv";
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_JOB_CREATE;
    req.args.job_create.title = "with files";
    req.args.job_create.description = "";
    req.args.job_create.type = PROTO_JOB_IA;
    req.args.job_create.price_usd_cents = 700;
    hexb(CLIENT, req.args.job_create.wallet_address, 20);
    req.args.job_create.has_spec_sha256 = true;
    hexb(SPEC, req.args.job_create.spec_sha256, 32);
    req.args.job_create.deadline_at = T_NOW + 86400;
    req.args.job_create.max_runtime_s = 3600;
    req.args.job_create.files = files;
    req.args.job_create.n_files = 2;
    call_ok(c, &req, &rep);
    int64_t id = rep.result.job.id;
    assert_int_equal(rep.result.job.n_files, 2);
    assert_string_equal(rep.result.job.files[0].name, "digits.csv");
    assert_int_equal(rep.result.job.files[0].role, PROTO_FILE_INPUT);
    assert_int_equal(rep.result.job.files[0].size_bytes, 5000);
    assert_string_equal(rep.result.job.files[1].name, "job.json");
    assert_int_equal(rep.result.job.files[1].role, PROTO_FILE_SPEC);
    assert_memory_equal(rep.result.job.files[1].sha256, files[0].sha256, 32);
    proto_reply_release(&rep);
    assert_sql(j,
               "SELECT string_agg(name || ':' || role || ':' || size_bytes, ',' ORDER BY name)"
               " FROM job_files WHERE job_id = $1::bigint",
               id, "digits.csv:input:5000,job.json:spec:321");
    /* job.get lists the same files. */
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_JOB_GET;
    req.args.job_get.job_id = id;
    call_ok(c, &req, &rep);
    assert_int_equal(rep.result.job.n_files, 2);
    assert_string_equal(rep.result.job.files[0].name, "digits.csv");
    proto_reply_release(&rep);
    /* Names that PostgreSQL's array syntax quotes ('"', '\\', ',', braces,
     * spaces, the word NULL) are stored as sent; ids come in ascending order. */
    files[1].name = "a \"q\",\\{b} NULL.csv";
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_JOB_CREATE;
    req.args.job_create.title = "quoted names";
    req.args.job_create.description = "";
    req.args.job_create.type = PROTO_JOB_IA;
    req.args.job_create.price_usd_cents = 700;
    hexb(CLIENT, req.args.job_create.wallet_address, 20);
    req.args.job_create.has_spec_sha256 = true;
    hexb(SPEC, req.args.job_create.spec_sha256, 32);
    req.args.job_create.deadline_at = T_NOW + 86400;
    req.args.job_create.max_runtime_s = 3600;
    req.args.job_create.files = files;
    req.args.job_create.n_files = 2;
    call_ok(c, &req, &rep);
    int64_t id2 = rep.result.job.id;
    assert_true(id2 > id);
    assert_int_equal(rep.result.job.n_files, 2);
    proto_reply_release(&rep);
    assert_sql(j,
               "SELECT string_agg(name || ':' || role || ':' || size_bytes, '|' ORDER BY role)"
               " FROM job_files WHERE job_id = $1::bigint",
               id2, "a \"q\",\\{b} NULL.csv:input:5000|job.json:spec:321");
    /* Two files of one name: exists, and neither the job nor a file stays. */
    files[1].name = "job.json";
    memset(&req, 0, sizeof req);
    req.cmd = PROTO_CMD_JOB_CREATE;
    req.args.job_create.title = "duplicate files";
    req.args.job_create.description = "";
    req.args.job_create.type = PROTO_JOB_IA;
    req.args.job_create.price_usd_cents = 700;
    hexb(CLIENT, req.args.job_create.wallet_address, 20);
    req.args.job_create.has_spec_sha256 = true;
    hexb(SPEC, req.args.job_create.spec_sha256, 32);
    req.args.job_create.deadline_at = T_NOW + 86400;
    req.args.job_create.max_runtime_s = 3600;
    req.args.job_create.files = files;
    req.args.job_create.n_files = 2;
    call_err(c, &req, ERR_EXISTS);
    assert_sql(j, "SELECT count(*) FROM jobs WHERE title = 'duplicate files'", 0, "0");
    assert_sql(j, "SELECT count(*) FROM job_files", 0, "4");
    proto_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_with_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_overlap, setup_overlap, teardown),
        cmocka_unit_test_setup_teardown(test_create_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_down, setup, teardown),
        cmocka_unit_test(test_exec_multi),
    };
    const char *tmp = getenv("LOOM_TEST_TMP");
    int rc;

    pg_url = getenv("LOOM_TEST_PG_URL");
    if (!pg_url || !*pg_url) {
        printf("test_jobstore: LOOM_TEST_PG_URL is not set; skipping %zu service tests"
               " (run through make test)\n",
               sizeof tests / sizeof tests[0]);
        return 0;
    }
    bin_dir = getenv("LOOM_BUILD") ? getenv("LOOM_BUILD") : "build";
    snprintf(tmp_root, sizeof tmp_root, "%s/jobstore.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", tmp_root);
    }
    return rc;
}
