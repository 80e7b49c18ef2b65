/*
 * bench_bus -- what common/bus costs over raw nanomsg, measured in one run.
 *
 *   build/bench/bench_bus [rounds] [scale]     (defaults 5 and 1.0)
 *   BENCH_VERBOSE=1 also prints each REQ/REP round.
 *   BENCH_ONE=inproc,1,64,20000 runs one REQ/REP case (transport, bus 1 or
 *   raw 0, in flight, requests), for a profiler.
 *
 * 1. PUB/SUB one-way latency (p50, p99) over ipc:// and tcp://127.0.0.1: one
 *    thread, one libevent loop holds both ends; the subscriber's callback
 *    records now - the send time carried in the payload and publishes the
 *    next message (one message in flight, so queueing does not count).
 * 2. REQ/REP round trip (p50, p99) and requests per second with 1 and with 64
 *    requests in flight: an echo server in its own thread and loop, the
 *    client in the main thread's loop.
 *    Over inproc the server shares the client's thread and loop: a CPU-bound
 *    run that shows the per-request cost of the code around nanomsg most
 *    plainly (and cannot gain 3x from concurrency: one thread does all).
 * Each figure is measured through bus and through raw nanomsg driven by the
 * same kind of libevent loop (NN_RCVFD/NN_SNDFD, raw REQ/REP sockets, the
 * same request-id header), alternating bus and raw within each round. The
 * median over the rounds is printed, with the median of the per-round
 * bus/raw ratios and the best round of each. "cpu" is the process's CPU
 * time (all threads: client, server, nanomsg workers) per message or
 * request: on a shared machine it moves less with other programs' load
 * than wall-clock figures do. Targets (the
 * foundation issue): bus costs at most 10% over raw; 64 in flight serve at
 * least 3x the requests per second of 1 in flight.
 *
 * SPDX-License-Identifier: MIT
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/tcp.h>

#include "bus.h"

#define MSG_BYTES    256
#define MAX_INFLIGHT 64

static int rounds = 5;
static double scale = 1.0;
static char tmp_dir[128];

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the whole process (all threads: client, server, nanomsg's
 * workers), in microseconds. Less sensitive than wall time to other
 * programs on a shared machine. */
static double cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void die(const char *what)
{
    fprintf(stderr, "bench_bus: %s\n", what);
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof(*v), cmp_double);
    size_t i = (size_t)(p * (double)n);
    return v[i < n ? i : n - 1];
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int free_tcp_port(void)
{
    /* Bind a plain socket to port 0 and read which port the kernel gave. */
    struct sockaddr_in sa = {0};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd == -1 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        die("cannot find a free port");
    close(fd);
    return ntohs(sa.sin_port);
}

static void make_addr(const char *transport, char *out, size_t n)
{
    static int seq;
    seq++;
    if (strcmp(transport, "ipc") == 0)
        snprintf(out, n, "ipc://%s/b%d", tmp_dir, seq);
    else if (strcmp(transport, "inproc") == 0)
        snprintf(out, n, "inproc://bench%d", seq);
    else
        snprintf(out, n, "tcp://127.0.0.1:%d", free_tcp_port());
}

static void fill_payload(unsigned char *p, uint64_t t)
{
    memset(p, 'x', MSG_BYTES);
    memcpy(p, &t, sizeof(t));
}

/* ---- PUB/SUB latency ---------------------------------------------------- */

struct lat {
    double cpu; /* process CPU microseconds per message */
    struct event_base *base;
    size_t target, n;
    double *us;
    int synced;
    /* bus */
    struct bus *pub;
    /* raw */
    int rpub, rsub;
    struct event *rev;
};

static void bus_publish_now(struct lat *l)
{
    unsigned char *p = malloc(MSG_BYTES);
    if (p == NULL)
        die("out of memory");
    fill_payload(p, now_ns());
    if (bus_publish(l->pub, "bench.lat", p, MSG_BYTES) != ERR_OK)
        die("bus_publish failed");
}

static void bus_sub_cb(void *arg, const char *topic, const void *data, size_t len)
{
    struct lat *l = arg;
    uint64_t t, now = now_ns();
    (void)topic;
    if (len != MSG_BYTES)
        return; /* a sync message */
    if (!l->synced) {
        l->synced = 1;
        event_base_loopbreak(l->base);
        return;
    }
    memcpy(&t, data, sizeof(t));
    l->us[l->n++] = (double)(now - t) / 1000.0;
    if (l->n == l->target)
        event_base_loopbreak(l->base);
    else
        bus_publish_now(l);
}

static void sync_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

/* Run the loop for at most <ms> milliseconds or until a loopbreak. */
static void run_for(struct event_base *base, int ms)
{
    struct event *t = evtimer_new(base, sync_tick, base);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(t, &tv);
    event_base_dispatch(base);
    event_free(t);
}

static double lat_bus(const char *transport, size_t n, double *p99, double *cpu)
{
    char addr[256];
    struct lat l = {0};
    struct bus *sub;
    l.base = event_base_new();
    l.target = n;
    l.us = calloc(n, sizeof(double));
    make_addr(transport, addr, sizeof(addr));
    if (bus_new(l.base, BUS_PUB, &l.pub) != ERR_OK || bus_bind(l.pub, addr) != ERR_OK ||
        bus_new(l.base, BUS_SUB, &sub) != ERR_OK || bus_subscribe(sub, "bench.") != ERR_OK ||
        bus_on_message(sub, bus_sub_cb, &l) != ERR_OK || bus_connect(sub, addr) != ERR_OK)
        die("bus pub/sub setup failed");
    while (!l.synced) { /* until the subscriber is connected */
        bus_publish_now(&l);
        run_for(l.base, 10);
    }
    double c0 = cpu_us();
    bus_publish_now(&l);
    event_base_dispatch(l.base);
    *cpu = (cpu_us() - c0) / (double)n;
    double p50 = pct(l.us, l.n, 0.50);
    *p99 = pct(l.us, l.n, 0.99);
    bus_free(sub);
    bus_free(l.pub);
    event_base_free(l.base);
    free(l.us);
    return p50;
}

static void raw_publish_now(struct lat *l)
{
    unsigned char p[4 + 6 + MSG_BYTES];
    memcpy(p, "bench.lat", 10); /* same framing as bus: topic, NUL, payload */
    fill_payload(p + 10, now_ns());
    if (nn_send(l->rpub, p, 10 + MSG_BYTES, NN_DONTWAIT) == -1)
        die("nn_send failed");
}

static void raw_sub_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lat *l = arg;
    (void)fd;
    (void)what;
    for (;;) {
        void *msg = NULL;
        int n = nn_recv(l->rsub, &msg, NN_MSG, NN_DONTWAIT);
        uint64_t t, now = now_ns();
        if (n == -1)
            return;
        if (n != 10 + MSG_BYTES) {
            nn_freemsg(msg);
            continue;
        }
        if (!l->synced) {
            l->synced = 1;
            nn_freemsg(msg);
            event_base_loopbreak(l->base);
            return;
        }
        memcpy(&t, (char *)msg + 10, sizeof(t));
        nn_freemsg(msg);
        l->us[l->n++] = (double)(now - t) / 1000.0;
        if (l->n == l->target) {
            event_base_loopbreak(l->base);
            return;
        }
        raw_publish_now(l);
    }
}

static double lat_raw(const char *transport, size_t n, double *p99, double *cpu)
{
    char addr[256];
    struct lat l = {0};
    int one = 1, fd;
    size_t sz = sizeof(fd);
    l.base = event_base_new();
    l.target = n;
    l.us = calloc(n, sizeof(double));
    make_addr(transport, addr, sizeof(addr));
    l.rpub = nn_socket(AF_SP, NN_PUB);
    l.rsub = nn_socket(AF_SP, NN_SUB);
    if (l.rpub == -1 || l.rsub == -1 ||
        nn_setsockopt(l.rpub, NN_TCP, NN_TCP_NODELAY, &one, sizeof(one)) == -1 ||
        nn_setsockopt(l.rsub, NN_TCP, NN_TCP_NODELAY, &one, sizeof(one)) == -1 ||
        nn_setsockopt(l.rsub, NN_SUB, NN_SUB_SUBSCRIBE, "bench.", 6) == -1 ||
        nn_bind(l.rpub, addr) == -1 || nn_connect(l.rsub, addr) == -1 ||
        nn_getsockopt(l.rsub, NN_SOL_SOCKET, NN_RCVFD, &fd, &sz) == -1)
        die("raw pub/sub setup failed");
    l.rev = event_new(l.base, fd, EV_READ | EV_PERSIST, raw_sub_cb, &l);
    event_add(l.rev, NULL);
    while (!l.synced) {
        raw_publish_now(&l);
        run_for(l.base, 10);
    }
    double c0 = cpu_us();
    raw_publish_now(&l);
    event_base_dispatch(l.base);
    *cpu = (cpu_us() - c0) / (double)n;
    double p50 = pct(l.us, l.n, 0.50);
    *p99 = pct(l.us, l.n, 0.99);
    event_free(l.rev);
    nn_close(l.rsub);
    nn_close(l.rpub);
    event_base_free(l.base);
    free(l.us);
    return p50;
}

/* ---- REQ/REP servers ------------------------------------------------------ */

struct server {
    char addr[256];
    int use_bus;
    atomic_int stop;
    atomic_int ready;
    struct event_base *base;
    struct bus *bus;
    int rsock;
    struct event *rev;
};

static void bus_echo_cb(void *arg, struct bus_reply *r, const void *data, size_t len)
{
    (void)arg;
    void *p = malloc(len);
    if (p == NULL)
        die("out of memory");
    memcpy(p, data, len);
    if (bus_reply_send(r, p, len) != ERR_OK)
        die("bus_reply_send failed");
}

#define CTRL_BYTES 256

static void raw_echo_cb(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    (void)fd;
    (void)what;
    for (int i = 0; i < 256; i++) {
        void *msg = NULL;
        size_t ctrl[CTRL_BYTES / sizeof(size_t)];
        struct nn_iovec iov = {&msg, NN_MSG};
        struct nn_msghdr h = {&iov, 1, ctrl, sizeof(ctrl)};
        int n = nn_recvmsg(s->rsock, &h, NN_DONTWAIT);
        if (n == -1)
            return;
        /* Reply with a copy of the body and the backtrace, as bus does. */
        struct nn_cmsghdr *c = (struct nn_cmsghdr *)(void *)ctrl;
        struct nn_iovec oiov = {msg, (size_t)n};
        struct nn_msghdr oh = {&oiov, 1, ctrl, c->cmsg_len};
        if (nn_sendmsg(s->rsock, &oh, NN_DONTWAIT) == -1)
            die("raw reply failed");
        nn_freemsg(msg);
    }
}

static void stop_check(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    (void)fd;
    (void)what;
    if (atomic_load(&s->stop))
        event_base_loopbreak(s->base);
}

/* Open the echo server of <s> on <base>. */
static void server_open(struct server *s, struct event_base *base)
{
    s->base = base;
    if (s->use_bus) {
        if (bus_new(base, BUS_REP, &s->bus) != ERR_OK || bus_bind(s->bus, s->addr) != ERR_OK ||
            bus_serve(s->bus, bus_echo_cb, s) != ERR_OK)
            die("bus server setup failed");
    } else {
        int fd, one = 1;
        size_t sz = sizeof(fd);
        s->rsock = nn_socket(AF_SP_RAW, NN_REP);
        if (s->rsock == -1 ||
            nn_setsockopt(s->rsock, NN_TCP, NN_TCP_NODELAY, &one, sizeof(one)) == -1 ||
            nn_bind(s->rsock, s->addr) == -1 ||
            nn_getsockopt(s->rsock, NN_SOL_SOCKET, NN_RCVFD, &fd, &sz) == -1)
            die("raw server setup failed");
        s->rev = event_new(base, fd, EV_READ | EV_PERSIST, raw_echo_cb, s);
        event_add(s->rev, NULL);
    }
}

static void server_close(struct server *s)
{
    if (s->rev)
        event_free(s->rev);
    if (s->use_bus)
        bus_free(s->bus);
    else
        nn_close(s->rsock);
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    struct event_base *base = event_base_new();
    server_open(s, base);
    /* Checked every 20 ms: how the main thread stops this loop. */
    struct event *tick = event_new(base, -1, EV_PERSIST, stop_check, s);
    struct timeval tv = {0, 20000};
    event_add(tick, &tv);
    atomic_store(&s->ready, 1);
    event_base_dispatch(base);
    event_free(tick);
    server_close(s);
    event_base_free(base);
    return NULL;
}

/* ---- REQ/REP clients ------------------------------------------------------- */

struct rr {
    struct event_base *base;
    size_t target, issued, done;
    double *us;
    /* bus */
    struct bus *cl;
    /* raw */
    int rsock;
    uint32_t next_id;
    uint64_t sent_at[1024];
    struct event *rev;
};

static void bus_rr_issue(struct rr *r);

static void bus_rr_cb(void *arg, enum err status, const void *data, size_t len)
{
    struct rr *r = arg;
    uint64_t t;
    if (status != ERR_OK || len != MSG_BYTES)
        die("bus request failed");
    memcpy(&t, data, sizeof(t));
    r->us[r->done++] = (double)(now_ns() - t) / 1000.0;
    if (r->done == r->target)
        event_base_loopbreak(r->base);
    else if (r->issued < r->target)
        bus_rr_issue(r);
}

static void bus_rr_issue(struct rr *r)
{
    unsigned char *p = malloc(MSG_BYTES);
    if (p == NULL)
        die("out of memory");
    fill_payload(p, now_ns());
    if (bus_request(r->cl, p, MSG_BYTES, 10000, bus_rr_cb, r) != ERR_OK)
        die("bus_request failed");
    r->issued++;
}

static void raw_rr_issue(struct rr *r)
{
    unsigned char hdr[4], body[MSG_BYTES];
    uint32_t id = r->next_id++ & 0x7fffffffu;
    struct nn_iovec iov[2] = {{hdr, 4}, {body, MSG_BYTES}};
    struct nn_msghdr h = {iov, 2, NULL, 0};
    uint64_t t = now_ns();
    hdr[0] = (unsigned char)((id >> 24) | 0x80);
    hdr[1] = (unsigned char)(id >> 16);
    hdr[2] = (unsigned char)(id >> 8);
    hdr[3] = (unsigned char)id;
    fill_payload(body, t);
    r->sent_at[id & 1023] = t;
    /* The server is bound before the client connects; EAGAIN would only
     * come before the connection is up, and is retried by spinning. */
    while (nn_sendmsg(r->rsock, &h, NN_DONTWAIT) == -1) {
        if (nn_errno() != EAGAIN)
            die("raw request failed");
        usleep(100);
    }
    r->issued++;
}

static void raw_rr_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rr *r = arg;
    (void)fd;
    (void)what;
    for (int i = 0; i < 256; i++) {
        void *msg = NULL;
        size_t ctrl[CTRL_BYTES / sizeof(size_t)];
        struct nn_iovec iov = {&msg, NN_MSG};
        struct nn_msghdr h = {&iov, 1, ctrl, sizeof(ctrl)};
        int n = nn_recvmsg(r->rsock, &h, NN_DONTWAIT);
        if (n == -1)
            return;
        const unsigned char *id_be =
            NN_CMSG_DATA((struct nn_cmsghdr *)(void *)ctrl) + sizeof(size_t);
        uint32_t id = ((uint32_t)id_be[0] << 24 | (uint32_t)id_be[1] << 16 |
                       (uint32_t)id_be[2] << 8 | id_be[3]) &
                      0x7fffffffu;
        nn_freemsg(msg);
        r->us[r->done++] = (double)(now_ns() - r->sent_at[id & 1023]) / 1000.0;
        if (r->done == r->target) {
            event_base_loopbreak(r->base);
            return;
        }
        if (r->issued < r->target)
            raw_rr_issue(r);
    }
}

struct rr_result {
    double rps, p50, p99, cpu; /* cpu: process CPU microseconds per request */
};

/* One REQ/REP run. <transport> "inproc" puts the server in the client's
 * thread and loop: no thread hand-offs, so the run is CPU-bound and shows
 * the per-request cost of the code around nanomsg most plainly. */
static struct rr_result reqrep(const char *transport, int use_bus, int inflight, size_t n)
{
    struct server s;
    pthread_t th;
    struct rr r = {0};
    struct rr_result res;
    int same_thread = strcmp(transport, "inproc") == 0;
    memset(&s, 0, sizeof(s));
    s.use_bus = use_bus;
    make_addr(transport, s.addr, sizeof(s.addr));
    r.base = event_base_new();
    if (same_thread) {
        server_open(&s, r.base);
    } else {
        if (pthread_create(&th, NULL, server_main, &s) != 0)
            die("pthread_create failed");
        while (!atomic_load(&s.ready))
            usleep(1000);
    }
    r.target = n;
    r.us = calloc(n, sizeof(double));
    if (use_bus) {
        if (bus_new(r.base, BUS_REQ, &r.cl) != ERR_OK || bus_connect(r.cl, s.addr) != ERR_OK)
            die("bus client setup failed");
    } else {
        int fd, one = 1;
        size_t sz = sizeof(fd);
        r.rsock = nn_socket(AF_SP_RAW, NN_REQ);
        if (r.rsock == -1 ||
            nn_setsockopt(r.rsock, NN_TCP, NN_TCP_NODELAY, &one, sizeof(one)) == -1 ||
            nn_connect(r.rsock, s.addr) == -1 ||
            nn_getsockopt(r.rsock, NN_SOL_SOCKET, NN_RCVFD, &fd, &sz) == -1)
            die("raw client setup failed");
        r.rev = event_new(r.base, fd, EV_READ | EV_PERSIST, raw_rr_cb, &r);
        event_add(r.rev, NULL);
    }
    run_for(r.base, 50); /* let the connection come up before timing */
    double c0 = cpu_us();
    uint64_t t0 = now_ns();
    for (int i = 0; i < inflight; i++) {
        if (use_bus)
            bus_rr_issue(&r);
        else
            raw_rr_issue(&r);
    }
    event_base_dispatch(r.base);
    uint64_t t1 = now_ns();
    res.cpu = (cpu_us() - c0) / (double)n;
    res.rps = (double)n / ((double)(t1 - t0) / 1e9);
    res.p50 = pct(r.us, r.done, 0.50);
    res.p99 = pct(r.us, r.done, 0.99);
    if (use_bus) {
        bus_free(r.cl);
    } else {
        event_free(r.rev);
        nn_close(r.rsock);
    }
    if (same_thread) {
        server_close(&s);
    } else {
        atomic_store(&s.stop, 1);
        pthread_join(th, NULL);
    }
    event_base_free(r.base);
    free(r.us);
    return res;
}

/* ---- main --------------------------------------------------------------------- */

static void conditions(void)
{
    char cpu[256] = "unknown", line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                snprintf(cpu, sizeof(cpu), "%s", c + 2);
                cpu[strcspn(cpu, "\n")] = '\0';
            }
            break;
        }
    }
    if (f)
        fclose(f);
    time_t now = time(NULL);
    char date[64];
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
    struct utsname u;
    uname(&u);
    printf("bench_bus: %s\n", date);
    printf("  host: %s %s, %ld online cores (%s)\n", u.sysname, u.release,
           sysconf(_SC_NPROCESSORS_ONLN), cpu);
    printf("  libevent %s, nanomsg %d.%d.%d (ABI), payload %d bytes, %d rounds "
           "(median shown), bus and raw alternate within each round\n",
           event_get_version(), NN_VERSION_CURRENT, NN_VERSION_REVISION, NN_VERSION_AGE, MSG_BYTES,
           rounds);
}

static double best_min(const double *v, int n)
{
    double b = v[0];
    for (int i = 1; i < n; i++)
        b = v[i] < b ? v[i] : b;
    return b;
}

static double best_max(const double *v, int n)
{
    double b = v[0];
    for (int i = 1; i < n; i++)
        b = v[i] > b ? v[i] : b;
    return b;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        rounds = (int)strtol(argv[1], NULL, 10);
    if (argc > 2)
        scale = strtod(argv[2], NULL);
    if (rounds < 1 || rounds > 50 || !(scale > 0))
        die("usage: bench_bus [rounds 1-50] [scale > 0]");
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/bench_bus.XXXXXX");
    if (mkdtemp(tmp_dir) == NULL)
        die("mkdtemp failed");
    const char *one = getenv("BENCH_ONE"); /* "transport,bus(0/1),inflight,n": profiling */
    if (one) {
        char tr[16];
        int use_bus, k;
        size_t n;
        if (sscanf(one, "%15[^,],%d,%d,%zu", tr, &use_bus, &k, &n) != 4 || k < 1 ||
            k > MAX_INFLIGHT)
            die("BENCH_ONE: transport,bus,inflight,count");
        struct rr_result r = reqrep(tr, use_bus, k, n);
        printf("%s %s k=%d: %.0f req/s, cpu %.2f us/req\n", tr, use_bus ? "bus" : "raw", k, r.rps,
               r.cpu);
        return 0;
    }
    conditions();
    printf("  ratios are bus/raw, the median of per-round ratios (bus and raw run back to\n"
           "  back, first one then the other alternately, so load from other programs\n"
           "  hits both alike); best = the best round of each\n");

    size_t n_lat = (size_t)(20000 * scale);
    const char *transports[] = {"ipc", "tcp"};
    printf("\nPUB/SUB one-way latency, one message in flight, %zu messages per run\n", n_lat);
    printf("  %-4s %-5s %10s %10s %12s %10s\n", "", "", "p50 us", "p99 us", "best p50 us",
           "cpu us/msg");
    for (int t = 0; t < 2; t++) {
        double b50[50], b99[50], r50[50], r99[50], q50[50], q99[50], bc[50], rc[50], qc[50];
        for (int i = 0; i < rounds; i++) {
            if (i % 2 == 0) {
                b50[i] = lat_bus(transports[t], n_lat, &b99[i], &bc[i]);
                r50[i] = lat_raw(transports[t], n_lat, &r99[i], &rc[i]);
            } else {
                r50[i] = lat_raw(transports[t], n_lat, &r99[i], &rc[i]);
                b50[i] = lat_bus(transports[t], n_lat, &b99[i], &bc[i]);
            }
            qc[i] = bc[i] / rc[i];
            q50[i] = b50[i] / r50[i];
            q99[i] = b99[i] / r99[i];
        }
        double bb = best_min(b50, rounds), rb = best_min(r50, rounds);
        printf("  %-4s %-5s %10.1f %10.1f %12.1f %10.2f\n", transports[t], "bus",
               median(b50, rounds), median(b99, rounds), bb, median(bc, rounds));
        printf("  %-4s %-5s %10.1f %10.1f %12.1f %10.2f\n", transports[t], "raw",
               median(r50, rounds), median(r99, rounds), rb, median(rc, rounds));
        printf("  %-4s %-5s %9.3fx %9.3fx %11.3fx %9.3fx\n", transports[t], "ratio",
               median(q50, rounds), median(q99, rounds), bb / rb, median(qc, rounds));
    }

    const int inflights[] = {1, MAX_INFLIGHT};
    const size_t n_rr[] = {(size_t)(10000 * scale), (size_t)(50000 * scale)};
    printf("\nREQ/REP echo (inproc: server in the client's loop; ipc, tcp: server thread), "
           "requests per run: %zu (1 in "
           "flight), %zu (64 in flight)\n",
           n_rr[0], n_rr[1]);
    printf("  %-6s %-3s %-5s %10s %10s %10s %12s %10s\n", "", "k", "", "req/s", "p50 us", "p99 us",
           "best req/s", "cpu us/req");
    const char *rr_transports[] = {"inproc", "ipc", "tcp"};
    for (int t = 0; t < 3; t++) {
        double rps_bus[2] = {0}, rps_raw[2] = {0};
        for (int k = 0; k < 2; k++) {
            double br[50], b5[50], b9[50], rr[50], r5[50], r9[50], qr[50], q5[50], q9[50];
            double bc[50], rc[50], qc[50];
            for (int i = 0; i < rounds; i++) {
                struct rr_result b, r;
                if (i % 2 == 0) {
                    b = reqrep(rr_transports[t], 1, inflights[k], n_rr[k]);
                    r = reqrep(rr_transports[t], 0, inflights[k], n_rr[k]);
                } else {
                    r = reqrep(rr_transports[t], 0, inflights[k], n_rr[k]);
                    b = reqrep(rr_transports[t], 1, inflights[k], n_rr[k]);
                }
                if (getenv("BENCH_VERBOSE"))
                    printf("    round %d k=%d bus %.0f/s p99 %.0f  raw %.0f/s p99 %.0f\n", i,
                           inflights[k], b.rps, b.p99, r.rps, r.p99);
                br[i] = b.rps, b5[i] = b.p50, b9[i] = b.p99;
                rr[i] = r.rps, r5[i] = r.p50, r9[i] = r.p99;
                bc[i] = b.cpu, rc[i] = r.cpu, qc[i] = b.cpu / r.cpu;
                qr[i] = b.rps / r.rps, q5[i] = b.p50 / r.p50, q9[i] = b.p99 / r.p99;
            }
            double bb = best_max(br, rounds), rb = best_max(rr, rounds);
            rps_bus[k] = median(br, rounds);
            rps_raw[k] = median(rr, rounds);
            printf("  %-6s %-3d %-5s %10.0f %10.1f %10.1f %12.0f %10.2f\n", rr_transports[t],
                   inflights[k], "bus", rps_bus[k], median(b5, rounds), median(b9, rounds), bb,
                   median(bc, rounds));
            printf("  %-6s %-3d %-5s %10.0f %10.1f %10.1f %12.0f %10.2f\n", rr_transports[t],
                   inflights[k], "raw", rps_raw[k], median(r5, rounds), median(r9, rounds), rb,
                   median(rc, rounds));
            printf("  %-6s %-3d %-5s %9.3fx %9.3fx %9.3fx %11.3fx %9.3fx\n", rr_transports[t],
                   inflights[k], "ratio", median(qr, rounds), median(q5, rounds),
                   median(q9, rounds), bb / rb, median(qc, rounds));
        }
        printf("  %-6s 64 vs 1 in flight (median req/s): bus %.2fx, raw %.2fx%s\n",
               rr_transports[t], rps_bus[1] / rps_bus[0], rps_raw[1] / rps_raw[0],
               t == 0 ? " (one thread, CPU-bound: not the 3x target)" : " (target >= 3x)");
    }
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_bus: could not remove %s\n", tmp_dir);
    return 0;
}
