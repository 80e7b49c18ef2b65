/*
 * bus -- opaque byte messages over nanomsg, driven by libevent.
 *
 * The contract is in bus.h. Inside: REQ and REP are raw (AF_SP_RAW)
 * sockets; bus numbers its own requests and keeps them in a small hash by
 * id. A REP keeps the backtrace header
 * nanomsg hands out with each request (nn_recvmsg's SP_HDR control data) in
 * the bus_reply and gives it back to nn_sendmsg, which routes the reply.
 * Timeouts: the pending requests also sit in one list ordered by deadline,
 * watched by a single libevent timer armed for the earliest; a reply only
 * unlinks its request. A libevent timer per request (a heap add and
 * delete each) was about a third of bus's own instructions per request in
 * bench_bus; the list costs a few pointer writes.
 * Messages that cannot go out at once (REQ and PUSH only: raw REP and PUB
 * never refuse a message) wait in a FIFO that is flushed when NN_SNDFD
 * turns readable.
 * Threading: one thread per endpoint (bus.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/tcp.h>

/* Request ids live in a hash of this many chains; 256 keeps chains short
 * up to tens of thousands of requests in flight. A power of two. */
#define BUS__BUCKETS 256

/* Messages taken per wakeup before returning to the loop, so one busy
 * endpoint cannot starve the other events of the base. */
#define BUS__BATCH 256

/* Control buffer for nn_recvmsg: the SP_HDR record (a cmsghdr, a size_t
 * length, then the backtrace). 256 bytes hold a backtrace of up to 58
 * 4-byte hops; nanomsg's own hop limit (NN_MAXTTL) defaults to 8. A longer
 * one does not fit, and the request is dropped as malformed. */
#define BUS__CTRL_BYTES 256

/* Top bit of the last 4-byte word of a REQ/REP backtrace: marks the request
 * id (nanomsg REQ/REP protocol, RFC draft sp-request-reply-01). */
#define BUS__ID_BIT 0x80000000u

/* Slack on NN_RCVMAXSIZE over BUS_MAX_MSG for the topic or backtrace. */
#define BUS__RCV_SLACK (BUS_MAX_TOPIC + 1 + BUS__CTRL_BYTES)

struct bus__out { /* one message waiting for the transport */
    struct bus__out *prev, *next;
    void *data; /* owned */
    size_t len;
};

struct bus__pending { /* one async request */
    struct bus *bus;
    struct bus__pending *hnext;         /* hash chain, or the free list */
    struct bus__pending *tprev, *tnext; /* deadline list, when deadline_ns >= 0 */
    int64_t deadline_ns;                /* CLOCK_MONOTONIC; -1: no timeout */
    bus_reply_fn cb;
    void *arg;
    uint32_t id;
    int queued;          /* out is in bus->q_head's list */
    struct bus__out out; /* the request while queued */
};

struct bus_reply {
    struct bus *bus; /* NULL once the endpoint is freed */
    struct bus_reply *prev, *next;
    size_t ctrl_len;
    size_t ctrl[BUS__CTRL_BYTES / sizeof(size_t)]; /* the SP_HDR record */
};

/* Reply handles kept for reuse by a REP endpoint, at most; past it they
 * are freed. Bounds what a burst of requests leaves allocated. */
#define BUS__REPLY_POOL 1024

struct bus {
    struct event_base *base; /* NULL for a blocking endpoint */
    enum bus_kind kind;
    int sock;
    int closing;
    int depth; /* callbacks of this endpoint on the stack */
    struct event *ev_recv;
    struct event *ev_send;
    struct event *ev_timer;
    int64_t timer_at_ns; /* deadline ev_timer is armed for; -1: not armed */
    int recv_on;
    bus_request_fn on_request;
    bus_message_fn on_message;
    void *cb_arg;
    uint32_t next_id;
    size_t n_pending;
    struct bus__pending *buckets[BUS__BUCKETS];
    struct bus__pending *free_list;
    struct bus__pending *t_head, *t_tail; /* by deadline, earliest first */
    struct bus_reply *reply_pool;
    size_t n_reply_pool;
    struct bus__out *q_head, *q_tail;
    size_t q_len;
    struct bus_reply *replies; /* handles given out and not yet consumed */
    char **subs;               /* SUB prefixes, one entry per subscription */
    size_t n_subs;
    struct bus_stats stats;
};

/* Map an nanomsg errno (after a call returned -1) to enum err, once. */
static enum err bus__err(int e)
{
    switch (e) {
    case EINVAL:
    case EPROTONOSUPPORT:
    case ENAMETOOLONG:
    case ENODEV:
    case EADDRNOTAVAIL:
    case EAFNOSUPPORT:
        return ERR_INVAL;
    case ENOMEM:
        return ERR_NOMEM;
    case EADDRINUSE:
        return ERR_EXISTS;
    case EACCES:
    case EPERM:
        return ERR_PERM;
    case EAGAIN:
        return ERR_UNAVAILABLE;
    case ETIMEDOUT:
        return ERR_TIMEDOUT;
    case EMSGSIZE:
        return ERR_TOOBIG;
    case EINTR:
    case ETERM:
        return ERR_CANCELED;
    case EFSM:
    case EBADF:
        return ERR_STATE;
    default:
        return ERR_IO;
    }
}

static int bus__is_async(const struct bus *b)
{
    return b->base != NULL;
}

/* ---- request table ---------------------------------------------------- */

static struct bus__pending **bus__slot(struct bus *b, uint32_t id)
{
    struct bus__pending **pp = &b->buckets[id & (BUS__BUCKETS - 1)];
    while (*pp && (*pp)->id != id)
        pp = &(*pp)->hnext;
    return pp;
}

/* Unlink and return the pending request <id>, or NULL. */
static struct bus__pending *bus__take(struct bus *b, uint32_t id)
{
    struct bus__pending **pp = bus__slot(b, id);
    struct bus__pending *p = *pp;
    if (p) {
        *pp = p->hnext;
        p->hnext = NULL;
        b->n_pending--;
    }
    return p;
}

static uint32_t bus__next_id(struct bus *b)
{
    for (;;) {
        uint32_t id = b->next_id++ & ~BUS__ID_BIT;
        /* After 2^31 requests an id may come round while an old request
         * still waits: skip it. */
        if (*bus__slot(b, id) == NULL)
            return id;
    }
}

static void bus__q_push(struct bus *b, struct bus__out *o)
{
    o->next = NULL;
    o->prev = b->q_tail;
    if (b->q_tail)
        b->q_tail->next = o;
    else
        b->q_head = o;
    b->q_tail = o;
    b->q_len++;
}

static void bus__q_unlink(struct bus *b, struct bus__out *o)
{
    if (o->prev)
        o->prev->next = o->next;
    else
        b->q_head = o->next;
    if (o->next)
        o->next->prev = o->prev;
    else
        b->q_tail = o->prev;
    o->prev = o->next = NULL;
    b->q_len--;
}

static int64_t bus__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Arm ev_timer to fire at <at_ns>. Returns 0 or -1. */
static int bus__arm(struct bus *b, int64_t at_ns)
{
    int64_t d = at_ns - bus__now_ns();
    /* At least 1 ms: libevent's clock is CLOCK_MONOTONIC_COARSE, so it may
     * fire a little before ours says the deadline passed; then it re-arms
     * for what is left rather than spinning at zero. */
    if (d < 1000000)
        d = 1000000;
    struct timeval tv = {(time_t)(d / 1000000000), (suseconds_t)(d % 1000000000 / 1000)};
    if (event_add(b->ev_timer, &tv) != 0)
        return -1;
    b->timer_at_ns = at_ns;
    return 0;
}

/* Insert <p> in the deadline list; equal timeouts arrive in deadline
 * order, so the walk from the tail is one step. */
static void bus__t_insert(struct bus *b, struct bus__pending *p)
{
    struct bus__pending *after = b->t_tail;
    while (after && after->deadline_ns > p->deadline_ns)
        after = after->tprev;
    p->tprev = after;
    p->tnext = after ? after->tnext : b->t_head;
    if (p->tnext)
        p->tnext->tprev = p;
    else
        b->t_tail = p;
    if (after)
        after->tnext = p;
    else
        b->t_head = p;
}

static void bus__t_unlink(struct bus *b, struct bus__pending *p)
{
    if (p->deadline_ns < 0)
        return;
    if (p->tprev)
        p->tprev->tnext = p->tnext;
    else
        b->t_head = p->tnext;
    if (p->tnext)
        p->tnext->tprev = p->tprev;
    else
        b->t_tail = p->tprev;
    p->tprev = p->tnext = NULL;
    p->deadline_ns = -1;
}

static struct bus__pending *bus__pending_get(struct bus *b)
{
    struct bus__pending *p = b->free_list;
    if (p) {
        b->free_list = p->hnext;
        p->hnext = NULL;
        return p;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->bus = b;
    p->deadline_ns = -1;
    return p;
}

/* Put <p> (out of the table) on the free list. */
static void bus__pending_put(struct bus *b, struct bus__pending *p)
{
    bus__t_unlink(b, p);
    p->cb = NULL;
    p->arg = NULL;
    p->queued = 0;
    p->out.data = NULL;
    p->out.len = 0;
    p->hnext = b->free_list;
    b->free_list = p;
}

/* ---- teardown --------------------------------------------------------- */

static void bus__destroy(struct bus *b)
{
    if (b->ev_recv)
        event_free(b->ev_recv);
    if (b->ev_send)
        event_free(b->ev_send);
    if (b->ev_timer)
        event_free(b->ev_timer);
    while (b->reply_pool) {
        struct bus_reply *r = b->reply_pool;
        b->reply_pool = r->next;
        free(r);
    }
    for (size_t i = 0; i < b->n_subs; i++)
        free(b->subs[i]);
    free(b->subs);
    while (b->free_list) {
        struct bus__pending *p = b->free_list;
        b->free_list = p->hnext;
        free(p);
    }
    /* nn_close fails only with EBADF (a bug) or EINTR (retry). */
    while (nn_close(b->sock) == -1 && nn_errno() == EINTR)
        ;
    free(b);
}

/* Leave a callback of <b>; the last one out frees a closing endpoint. */
static void bus__leave(struct bus *b)
{
    b->depth--;
    if (b->depth == 0 && b->closing)
        bus__destroy(b);
}

/* Finish pending request <p> (out of the table) with <status>. */
static void bus__finish(struct bus *b, struct bus__pending *p, enum err status)
{
    bus_reply_fn cb = p->cb;
    void *arg = p->arg;
    if (p->queued) {
        bus__q_unlink(b, &p->out);
        free(p->out.data);
    }
    bus__pending_put(b, p);
    cb(arg, status, NULL, 0);
}

void bus_free(struct bus *b)
{
    if (b == NULL || b->closing)
        return;
    b->closing = 1;
    b->depth++;
    if (b->ev_recv)
        event_del(b->ev_recv);
    if (b->ev_send)
        event_del(b->ev_send);
    if (b->ev_timer)
        event_del(b->ev_timer);
    for (size_t i = 0; i < BUS__BUCKETS; i++) {
        struct bus__pending *p;
        while ((p = b->buckets[i]) != NULL) {
            b->buckets[i] = p->hnext;
            p->hnext = NULL;
            b->n_pending--;
            bus__finish(b, p, ERR_CANCELED);
        }
    }
    while (b->q_head) { /* PUSH messages never sent */
        struct bus__out *o = b->q_head;
        bus__q_unlink(b, o);
        free(o->data);
        free(o);
    }
    for (struct bus_reply *r = b->replies; r; r = r->next)
        r->bus = NULL;
    b->replies = NULL;
    bus__leave(b);
}

/* ---- setup ------------------------------------------------------------ */

static void bus__on_recv(evutil_socket_t fd, short what, void *arg);
static void bus__on_send(evutil_socket_t fd, short what, void *arg);
static void bus__on_timeout(evutil_socket_t fd, short what, void *arg);

static enum err bus__watch(struct bus *b, int option, struct event **ev, event_callback_fn fn)
{
    int fd = -1;
    size_t sz = sizeof(fd);
    if (nn_getsockopt(b->sock, NN_SOL_SOCKET, option, &fd, &sz) == -1)
        return bus__err(nn_errno());
    /* Both descriptors turn readable when the socket can receive or send. */
    *ev = event_new(b->base, fd, EV_READ | EV_PERSIST, fn, b);
    return *ev ? ERR_OK : ERR_NOMEM;
}

enum err bus_new(struct event_base *base, enum bus_kind kind, struct bus **out)
{
    static const int protocols[] = {
        [BUS_REQ] = NN_REQ, [BUS_REP] = NN_REP,   [BUS_PUB] = NN_PUB,
        [BUS_SUB] = NN_SUB, [BUS_PUSH] = NN_PUSH, [BUS_PULL] = NN_PULL,
    };
    enum err e = ERR_OK;
    struct bus *b = NULL;
    int one = 1;
    int max = (int)(BUS_MAX_MSG + BUS__RCV_SLACK);

    if ((unsigned)kind > BUS_PULL)
        return ERR_INVAL;
    b = calloc(1, sizeof(*b));
    if (b == NULL)
        return ERR_NOMEM;
    b->base = base;
    b->kind = kind;
    b->next_id = 1;
    b->timer_at_ns = -1;
    b->sock = nn_socket(kind == BUS_REQ || kind == BUS_REP ? AF_SP_RAW : AF_SP, protocols[kind]);
    if (b->sock == -1) {
        e = bus__err(nn_errno());
        free(b);
        return e == ERR_INVAL ? ERR_IO : e;
    }
    /* Without NODELAY, Nagle held small messages: loopback p50 one-way
     * latency was 16 ms instead of 45 us. The option is per socket and
     * applies to the TCP endpoints made afterwards. */
    if (nn_setsockopt(b->sock, NN_TCP, NN_TCP_NODELAY, &one, sizeof(one)) == -1 ||
        nn_setsockopt(b->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof(max)) == -1) {
        e = bus__err(nn_errno());
        goto fail;
    }
    if (base) {
        if (kind == BUS_REQ || kind == BUS_REP || kind == BUS_SUB || kind == BUS_PULL) {
            e = bus__watch(b, NN_RCVFD, &b->ev_recv, bus__on_recv);
            if (e != ERR_OK)
                goto fail;
        }
        if (kind == BUS_REQ || kind == BUS_PUSH) {
            e = bus__watch(b, NN_SNDFD, &b->ev_send, bus__on_send);
            if (e != ERR_OK)
                goto fail;
        }
        if (kind == BUS_REQ) { /* replies may come at any time */
            b->ev_timer = evtimer_new(base, bus__on_timeout, b);
            if (b->ev_timer == NULL) {
                e = ERR_NOMEM;
                goto fail;
            }
            if (event_add(b->ev_recv, NULL) != 0) {
                e = ERR_NOMEM;
                goto fail;
            }
            b->recv_on = 1;
        }
    }
    *out = b;
    return ERR_OK;
fail:
    bus__destroy(b);
    return e;
}

enum bus_kind bus_kind(const struct bus *b)
{
    return b->kind;
}

size_t bus_pending(const struct bus *b)
{
    return b->n_pending;
}

void bus_stats(const struct bus *b, struct bus_stats *out)
{
    *out = b->stats;
}

/* Accept only the transports bus.h documents. */
static int bus__addr_ok(const char *addr)
{
    return addr != NULL && (strncmp(addr, "inproc://", 9) == 0 || strncmp(addr, "ipc://", 6) == 0 ||
                            strncmp(addr, "tcp://", 6) == 0);
}

enum err bus_bind(struct bus *b, const char *addr)
{
    if (b->closing)
        return ERR_STATE;
    if (!bus__addr_ok(addr))
        return ERR_INVAL;
    if (nn_bind(b->sock, addr) == -1)
        return bus__err(nn_errno());
    return ERR_OK;
}

enum err bus_connect(struct bus *b, const char *addr)
{
    if (b->closing)
        return ERR_STATE;
    if (!bus__addr_ok(addr))
        return ERR_INVAL;
    if (nn_connect(b->sock, addr) == -1) {
        enum err e = bus__err(nn_errno());
        return e == ERR_EXISTS || e == ERR_PERM ? ERR_IO : e;
    }
    return ERR_OK;
}

static enum err bus__set_handler(struct bus *b)
{
    if (event_add(b->ev_recv, NULL) != 0)
        return ERR_NOMEM;
    b->recv_on = 1;
    return ERR_OK;
}

enum err bus_serve(struct bus *b, bus_request_fn cb, void *arg)
{
    if (cb == NULL)
        return ERR_INVAL;
    if (b->kind != BUS_REP || !bus__is_async(b) || b->closing || b->recv_on)
        return ERR_STATE;
    b->on_request = cb;
    b->cb_arg = arg;
    return bus__set_handler(b);
}

enum err bus_on_message(struct bus *b, bus_message_fn cb, void *arg)
{
    if (cb == NULL)
        return ERR_INVAL;
    if ((b->kind != BUS_SUB && b->kind != BUS_PULL) || !bus__is_async(b) || b->closing ||
        b->recv_on)
        return ERR_STATE;
    b->on_message = cb;
    b->cb_arg = arg;
    return bus__set_handler(b);
}

/* nanomsg 1.1.5 crashes when asked to unsubscribe a prefix it never had,
 * so bus keeps its own list and only passes on what is there. */
static enum err bus__sub_check(struct bus *b, const char *prefix, size_t *len)
{
    if (b->kind != BUS_SUB || b->closing)
        return ERR_STATE;
    *len = strlen(prefix);
    return *len > BUS_MAX_TOPIC ? ERR_INVAL : ERR_OK;
}

enum err bus_subscribe(struct bus *b, const char *prefix)
{
    size_t n;
    char *copy;
    char **subs;
    enum err e = bus__sub_check(b, prefix, &n);
    if (e != ERR_OK)
        return e;
    copy = strdup(prefix);
    if (copy == NULL)
        return ERR_NOMEM;
    subs = realloc(b->subs, (b->n_subs + 1) * sizeof(*subs));
    if (subs == NULL) {
        free(copy);
        return ERR_NOMEM;
    }
    b->subs = subs;
    if (nn_setsockopt(b->sock, NN_SUB, NN_SUB_SUBSCRIBE, prefix, n) == -1) {
        free(copy);
        return bus__err(nn_errno());
    }
    b->subs[b->n_subs++] = copy;
    return ERR_OK;
}

enum err bus_unsubscribe(struct bus *b, const char *prefix)
{
    size_t n, i;
    enum err e = bus__sub_check(b, prefix, &n);
    if (e != ERR_OK)
        return e;
    for (i = 0; i < b->n_subs && strcmp(b->subs[i], prefix) != 0; i++)
        ;
    if (i == b->n_subs)
        return ERR_NOTFOUND;
    if (nn_setsockopt(b->sock, NN_SUB, NN_SUB_UNSUBSCRIBE, prefix, n) == -1)
        return bus__err(nn_errno());
    free(b->subs[i]);
    b->subs[i] = b->subs[--b->n_subs];
    return ERR_OK;
}

/* ---- sending ---------------------------------------------------------- */

static void bus__put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t bus__get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Hand one REQ request (id header + payload) to nanomsg. Returns nn's rc. */
static int bus__send_req(struct bus *b, uint32_t id, const void *data, size_t len, int flags)
{
    unsigned char hdr[4];
    struct nn_iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)data, len}};
    struct nn_msghdr h = {iov, 2, NULL, 0};
    bus__put_be32(hdr, id | BUS__ID_BIT);
    return nn_sendmsg(b->sock, &h, flags);
}

/* Hand one queued message to nanomsg without waiting. */
static int bus__send_out(struct bus *b, struct bus__out *o)
{
    if (b->kind == BUS_REQ) {
        struct bus__pending *p =
            (struct bus__pending *)((char *)o - offsetof(struct bus__pending, out));
        return bus__send_req(b, p->id, o->data, o->len, NN_DONTWAIT);
    }
    return nn_send(b->sock, o->data, o->len, NN_DONTWAIT);
}

static enum err bus__queue(struct bus *b, struct bus__out *o)
{
    if (b->q_head == NULL && event_add(b->ev_send, NULL) != 0)
        return ERR_NOMEM;
    bus__q_push(b, o);
    return ERR_OK;
}

static void bus__on_send(evutil_socket_t fd, short what, void *arg)
{
    struct bus *b = arg;
    (void)fd;
    (void)what;
    b->depth++;
    while (b->q_head && !b->closing) {
        struct bus__out *o = b->q_head;
        if (bus__send_out(b, o) == -1) {
            int e = nn_errno();
            if (e == EAGAIN)
                break;
            b->stats.send_failed++;
            if (b->kind == BUS_REQ) {
                struct bus__pending *p =
                    (struct bus__pending *)((char *)o - offsetof(struct bus__pending, out));
                p = bus__take(b, p->id);
                bus__finish(b, p, ERR_IO);
            } else {
                bus__q_unlink(b, o);
                free(o->data);
                free(o);
            }
            continue;
        }
        b->stats.sent++;
        bus__q_unlink(b, o);
        free(o->data);
        o->data = NULL;
        if (b->kind == BUS_REQ)
            ((struct bus__pending *)((char *)o - offsetof(struct bus__pending, out)))->queued = 0;
        else
            free(o);
    }
    if (b->q_head == NULL && !b->closing)
        event_del(b->ev_send);
    bus__leave(b);
}

enum err bus_request(struct bus *b, void *data, size_t len, int timeout_ms, bus_reply_fn cb,
                     void *arg)
{
    enum err e = ERR_OK;
    struct bus__pending *p = NULL;
    int sent = 0;

    if (b->kind != BUS_REQ || !bus__is_async(b) || b->closing)
        return ERR_STATE;
    if (cb == NULL || timeout_ms == 0 || timeout_ms < -1 || (data == NULL && len > 0))
        return ERR_INVAL;
    if (len > BUS_MAX_MSG)
        return ERR_TOOBIG;
    if (b->q_head && b->q_len >= BUS_MAX_QUEUED)
        return ERR_UNAVAILABLE;
    p = bus__pending_get(b);
    if (p == NULL)
        return ERR_NOMEM;
    p->id = bus__next_id(b);
    p->cb = cb;
    p->arg = arg;
    /* Arm the timer first: after the send nothing may fail. */
    if (timeout_ms > 0) {
        p->deadline_ns = bus__now_ns() + (int64_t)timeout_ms * 1000000;
        if ((b->timer_at_ns < 0 || p->deadline_ns < b->timer_at_ns) &&
            bus__arm(b, p->deadline_ns) != 0) {
            p->deadline_ns = -1;
            e = ERR_NOMEM;
            goto fail;
        }
        bus__t_insert(b, p);
    }
    if (b->q_head == NULL) { /* keep FIFO order behind queued requests */
        if (bus__send_req(b, p->id, data, len, NN_DONTWAIT) != -1) {
            sent = 1;
        } else if (nn_errno() != EAGAIN) {
            e = bus__err(nn_errno());
            goto fail;
        }
    }
    if (!sent) {
        p->out.data = data;
        p->out.len = len;
        e = bus__queue(b, &p->out);
        if (e != ERR_OK)
            goto fail;
        p->queued = 1;
    } else {
        b->stats.sent++;
        free(data);
    }
    *bus__slot(b, p->id) = p;
    b->n_pending++;
    return ERR_OK;
fail:
    bus__pending_put(b, p); /* an armed timer finds nothing and stops */
    return e;
}

enum err bus_reply_send(struct bus_reply *r, void *data, size_t len)
{
    struct bus *b;
    struct nn_iovec iov = {data, len};
    struct nn_msghdr h = {&iov, 1, r->ctrl, r->ctrl_len};

    if (len > BUS_MAX_MSG)
        return ERR_TOOBIG;
    if (data == NULL && len > 0)
        return ERR_INVAL;
    b = r->bus;
    if (b == NULL || b->closing)
        return ERR_CANCELED;
    /* nanomsg copies the control record and routes by its backtrace; a raw
     * REP drops rather than refuses a reply to a peer that went away. */
    if (nn_sendmsg(b->sock, &h, NN_DONTWAIT) == -1)
        return bus__err(nn_errno());
    b->stats.sent++;
    free(data);
    bus_reply_drop(r);
    return ERR_OK;
}

void bus_reply_drop(struct bus_reply *r)
{
    struct bus *b;
    if (r == NULL)
        return;
    b = r->bus;
    if (b == NULL) { /* orphaned by bus_free() */
        free(r);
        return;
    }
    if (r->prev)
        r->prev->next = r->next;
    else
        b->replies = r->next;
    if (r->next)
        r->next->prev = r->prev;
    if (b->n_reply_pool >= BUS__REPLY_POOL) {
        free(r);
        return;
    }
    r->bus = NULL;
    r->prev = NULL;
    r->next = b->reply_pool;
    b->reply_pool = r;
    b->n_reply_pool++;
}

enum err bus_publish(struct bus *b, const char *topic, void *data, size_t len)
{
    size_t tlen;
    struct nn_iovec iov[2];
    struct nn_msghdr h = {iov, 2, NULL, 0};

    if (b->kind != BUS_PUB || b->closing)
        return ERR_STATE;
    tlen = strlen(topic);
    if (tlen == 0 || tlen > BUS_MAX_TOPIC || (data == NULL && len > 0))
        return ERR_INVAL;
    if (len > BUS_MAX_MSG)
        return ERR_TOOBIG;
    iov[0] = (struct nn_iovec){(void *)topic, tlen + 1}; /* with its NUL separator */
    iov[1] = (struct nn_iovec){data, len};
    /* PUB never waits: a subscriber whose pipe is full loses the message. */
    if (nn_sendmsg(b->sock, &h, NN_DONTWAIT) == -1)
        return bus__err(nn_errno());
    b->stats.sent++;
    free(data);
    return ERR_OK;
}

enum err bus_send(struct bus *b, void *data, size_t len)
{
    struct bus__out *o;
    enum err e;

    if (b->kind != BUS_PUSH || b->closing)
        return ERR_STATE;
    if (data == NULL && len > 0)
        return ERR_INVAL;
    if (len > BUS_MAX_MSG)
        return ERR_TOOBIG;
    if (b->q_head == NULL) {
        if (nn_send(b->sock, data, len, NN_DONTWAIT) != -1) {
            b->stats.sent++;
            free(data);
            return ERR_OK;
        }
        if (nn_errno() != EAGAIN || !bus__is_async(b))
            return bus__err(nn_errno());
    }
    if (b->q_len >= BUS_MAX_QUEUED)
        return ERR_UNAVAILABLE;
    o = calloc(1, sizeof(*o));
    if (o == NULL)
        return ERR_NOMEM;
    o->data = data;
    o->len = len;
    e = bus__queue(b, o);
    if (e != ERR_OK) {
        free(o);
        return e;
    }
    return ERR_OK;
}

/* ---- receiving -------------------------------------------------------- */

/*
 * Find the SP_HDR record in the control buffer <ctrl> filled by
 * nn_recvmsg; store the record's length in *rec_len and point *hdr and
 * *hdr_len at the backtrace. Returns 0 when there is none.
 */
static int bus__sp_header(const size_t *ctrl, size_t *rec_len, const unsigned char **hdr,
                          size_t *hdr_len)
{
    const struct nn_cmsghdr *c = (const struct nn_cmsghdr *)(const void *)ctrl;
    size_t n;
    if (c->cmsg_level != PROTO_SP || c->cmsg_type != SP_HDR || c->cmsg_len > BUS__CTRL_BYTES ||
        c->cmsg_len < NN_CMSG_LEN(sizeof(size_t)))
        return 0;
    memcpy(&n, NN_CMSG_DATA(c), sizeof(n));
    if (n > c->cmsg_len - NN_CMSG_LEN(sizeof(size_t)))
        return 0;
    *rec_len = c->cmsg_len;
    *hdr = NN_CMSG_DATA(c) + sizeof(size_t);
    *hdr_len = n;
    return 1;
}

static void bus__got_reply(struct bus *b, const size_t *ctrl, const void *msg, size_t n)
{
    size_t rec_len, hlen;
    const unsigned char *hdr;
    struct bus__pending *p;
    bus_reply_fn cb;
    void *arg;

    if (!bus__sp_header(ctrl, &rec_len, &hdr, &hlen) || hlen != 4) {
        b->stats.malformed++;
        return;
    }
    p = bus__take(b, bus__get_be32(hdr) & ~BUS__ID_BIT);
    if (p == NULL) {
        b->stats.late_replies++;
        return;
    }
    cb = p->cb;
    arg = p->arg;
    bus__pending_put(b, p);
    cb(arg, ERR_OK, msg, n);
}

static void bus__got_request(struct bus *b, const size_t *ctrl, const void *msg, size_t n)
{
    size_t rec_len, hlen;
    const unsigned char *hdr;
    struct bus_reply *r;

    if (!bus__sp_header(ctrl, &rec_len, &hdr, &hlen)) {
        b->stats.malformed++;
        return;
    }
    r = b->reply_pool;
    if (r) {
        b->reply_pool = r->next;
        b->n_reply_pool--;
    } else {
        r = malloc(sizeof(*r));
        if (r == NULL) { /* the requester times out, as if the request were lost */
            b->stats.malformed++;
            return;
        }
    }
    r->bus = b;
    r->ctrl_len = rec_len;
    memcpy(r->ctrl, ctrl, rec_len);
    r->prev = NULL;
    r->next = b->replies;
    if (b->replies)
        b->replies->prev = r;
    b->replies = r;
    b->on_request(b->cb_arg, r, msg, n);
}

static void bus__got_message(struct bus *b, const char *msg, size_t n)
{
    const char *nul;
    if (b->kind == BUS_PULL) {
        b->on_message(b->cb_arg, NULL, msg, n);
        return;
    }
    nul = memchr(msg, '\0', n < BUS_MAX_TOPIC + 1 ? n : BUS_MAX_TOPIC + 1);
    if (nul == NULL) {
        b->stats.malformed++;
        return;
    }
    b->on_message(b->cb_arg, msg, nul + 1, n - (size_t)(nul + 1 - msg));
}

/* Take one message and dispatch it. Returns 0 when none was waiting. */
static int bus__recv_one(struct bus *b)
{
    void *msg = NULL;
    size_t ctrl[BUS__CTRL_BYTES / sizeof(size_t)];
    struct nn_iovec iov = {&msg, NN_MSG};
    struct nn_msghdr h = {&iov, 1, NULL, 0};
    int raw = b->kind == BUS_REQ || b->kind == BUS_REP;
    int n;

    if (raw) {
        memset(ctrl, 0, NN_CMSG_SPACE(0));
        h.msg_control = ctrl;
        h.msg_controllen = sizeof(ctrl);
    }
    n = nn_recvmsg(b->sock, &h, NN_DONTWAIT);
    if (n == -1)
        return 0; /* EAGAIN: drained; anything else: retried on the next wakeup */
    b->stats.received++;
    if (b->kind == BUS_REQ)
        bus__got_reply(b, ctrl, msg, (size_t)n);
    else if (b->kind == BUS_REP)
        bus__got_request(b, ctrl, msg, (size_t)n);
    else
        bus__got_message(b, msg, (size_t)n);
    nn_freemsg(msg);
    return 1;
}

static void bus__on_recv(evutil_socket_t fd, short what, void *arg)
{
    struct bus *b = arg;
    (void)fd;
    (void)what;
    b->depth++;
    for (int i = 0; i < BUS__BATCH && !b->closing; i++) {
        if (!bus__recv_one(b))
            break;
    }
    bus__leave(b);
}

static void bus__on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct bus *b = arg;
    int64_t now = bus__now_ns();
    (void)fd;
    (void)what;
    b->depth++;
    b->timer_at_ns = -1;
    while (!b->closing && b->t_head && b->t_head->deadline_ns <= now) {
        struct bus__pending *p = bus__take(b, b->t_head->id);
        LOOM_ASSERT(p == b->t_head);
        bus__finish(b, p, ERR_TIMEDOUT);
    }
    /* Callbacks above may have armed it for a new request already. */
    if (!b->closing && b->t_head &&
        (b->timer_at_ns < 0 || b->t_head->deadline_ns < b->timer_at_ns) &&
        bus__arm(b, b->t_head->deadline_ns) != 0) {
        /* No memory for the timer: fail what waits rather than let it hang. */
        while (!b->closing && b->t_head) {
            struct bus__pending *p = bus__take(b, b->t_head->id);
            bus__finish(b, p, ERR_NOMEM);
        }
    }
    bus__leave(b);
}

/* ---- blocking requests ------------------------------------------------ */

static long long bus__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Set nanomsg's blocking timeout <option> to what is left before
 * <deadline_ms> (-1: none). Returns ERR_TIMEDOUT when nothing is left. */
static enum err bus__set_timeo(struct bus *b, int option, long long deadline_ms)
{
    int left = -1;
    if (deadline_ms >= 0) {
        long long d = deadline_ms - bus__now_ms();
        if (d <= 0)
            return ERR_TIMEDOUT;
        left = (int)d;
    }
    if (nn_setsockopt(b->sock, NN_SOL_SOCKET, option, &left, sizeof(left)) == -1)
        return bus__err(nn_errno());
    return ERR_OK;
}

enum err bus_request_wait(struct bus *b, const void *data, size_t len, int timeout_ms, void **reply,
                          size_t *reply_len)
{
    enum err e;
    uint32_t id;
    long long deadline = -1;

    if (b->kind != BUS_REQ || bus__is_async(b) || b->closing)
        return ERR_STATE;
    if (timeout_ms == 0 || timeout_ms < -1 || (data == NULL && len > 0))
        return ERR_INVAL;
    if (len > BUS_MAX_MSG)
        return ERR_TOOBIG;
    if (timeout_ms > 0)
        deadline = bus__now_ms() + timeout_ms;
    id = bus__next_id(b);
    e = bus__set_timeo(b, NN_SNDTIMEO, deadline);
    if (e != ERR_OK)
        return e;
    if (bus__send_req(b, id, data, len, 0) == -1)
        return bus__err(nn_errno());
    b->stats.sent++;
    for (;;) {
        void *msg = NULL;
        size_t ctrl[BUS__CTRL_BYTES / sizeof(size_t)];
        struct nn_iovec iov = {&msg, NN_MSG};
        struct nn_msghdr h = {&iov, 1, ctrl, sizeof(ctrl)};
        size_t rec_len, hlen;
        const unsigned char *hdr;
        unsigned char *copy;
        int n;

        e = bus__set_timeo(b, NN_RCVTIMEO, deadline);
        if (e != ERR_OK)
            return e;
        memset(ctrl, 0, NN_CMSG_SPACE(0));
        n = nn_recvmsg(b->sock, &h, 0);
        if (n == -1)
            return bus__err(nn_errno());
        b->stats.received++;
        if (!bus__sp_header(ctrl, &rec_len, &hdr, &hlen) || hlen != 4) {
            b->stats.malformed++;
            nn_freemsg(msg);
            continue;
        }
        if ((bus__get_be32(hdr) & ~BUS__ID_BIT) != id) {
            b->stats.late_replies++;
            nn_freemsg(msg);
            continue;
        }
        copy = malloc((size_t)n + 1);
        if (copy == NULL) {
            nn_freemsg(msg);
            return ERR_NOMEM;
        }
        memcpy(copy, msg, (size_t)n);
        copy[n] = '\0';
        nn_freemsg(msg);
        *reply = copy;
        *reply_len = (size_t)n;
        return ERR_OK;
    }
}
