/*
 * client -- proto requests over a bus REQ endpoint (see client.h).
 * SPDX-License-Identifier: MIT
 */
#include "client.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "bus.h"

struct proto_client {
    struct bus *req;
    int timeout_ms;
};

static enum err open_client(struct event_base *base, const char *addr, int timeout_ms,
                            struct proto_client **out)
{
    struct proto_client *c;
    enum err e;

    *out = NULL;
    if (!addr || timeout_ms <= 0)
        return ERR_INVAL;
    c = calloc(1, sizeof *c);
    if (!c)
        return ERR_NOMEM;
    c->timeout_ms = timeout_ms;
    e = bus_new(base, BUS_REQ, &c->req);
    if (e == ERR_OK)
        e = bus_connect(c->req, addr);
    if (e != ERR_OK) {
        proto_client_free(c);
        return e;
    }
    *out = c;
    return ERR_OK;
}

enum err proto_client_new(const char *addr, int timeout_ms, struct proto_client **out)
{
    return open_client(NULL, addr, timeout_ms, out);
}

enum err proto_client_new_async(struct event_base *base, const char *addr, int timeout_ms,
                                struct proto_client **out)
{
    if (!base)
        return ERR_INVAL;
    return open_client(base, addr, timeout_ms, out);
}

void proto_client_free(struct proto_client *c)
{
    if (!c)
        return;
    bus_free(c->req);
    free(c);
}

/* Encode <req> into a heap block for the bus. */
static enum err encode(const struct proto_request *req, char **data, size_t *len)
{
    struct buf b;
    enum err e;

    buf_init(&b, BUS_MAX_MSG);
    e = proto_request_encode(req, &b, NULL);
    if (e != ERR_OK) {
        buf_release(&b);
        return e;
    }
    *data = buf_detach(&b, len);
    return *data ? ERR_OK : ERR_NOMEM;
}

/* Decode a reply; a reply that breaks the protocol is the peer's fault. */
static enum err decode(const void *data, size_t len, enum proto_cmd cmd, struct proto_reply *rep)
{
    enum err e = proto_reply_decode(data, len, cmd, rep, NULL);

    if (e == ERR_NOMEM)
        return e;
    return e == ERR_OK ? ERR_OK : ERR_PROTO;
}

enum err proto_client_call(struct proto_client *c, const struct proto_request *req,
                           struct proto_reply *rep)
{
    void *reply = NULL;
    size_t reply_len = 0, len = 0;
    char *data = NULL;
    enum err e;

    memset(rep, 0, sizeof *rep);
    rep->cmd = req->cmd;
    e = encode(req, &data, &len);
    if (e == ERR_OK)
        e = bus_request_wait(c->req, data, len, c->timeout_ms, &reply, &reply_len);
    if (e == ERR_OK)
        e = decode(reply, reply_len, req->cmd, rep);
    free(reply);
    free(data);
    return e;
}

enum err proto_client_error(enum err call_status, const struct proto_reply *rep)
{
    if (call_status != ERR_OK)
        return call_status;
    return rep->ok ? ERR_OK : rep->error_code;
}

/* One async request: what its reply decodes as and whom to tell. */
struct pending {
    enum proto_cmd cmd;
    proto_client_reply_fn cb;
    void *arg;
};

static void on_reply(void *arg, enum err status, const void *data, size_t len)
{
    struct pending *p = arg;
    struct proto_reply rep;

    memset(&rep, 0, sizeof rep);
    rep.cmd = p->cmd;
    if (status == ERR_OK)
        status = decode(data, len, p->cmd, &rep);
    p->cb(p->arg, status, &rep);
    free(p);
}

enum err proto_client_send(struct proto_client *c, const struct proto_request *req,
                           proto_client_reply_fn cb, void *arg)
{
    struct pending *p;
    size_t len = 0;
    char *data = NULL;
    enum err e;

    if (!cb)
        return ERR_INVAL;
    p = calloc(1, sizeof *p);
    if (!p)
        return ERR_NOMEM;
    p->cmd = req->cmd;
    p->cb = cb;
    p->arg = arg;
    e = encode(req, &data, &len);
    if (e == ERR_OK)
        e = bus_request(c->req, data, len, c->timeout_ms, on_reply, p);
    if (e != ERR_OK) {
        free(data);
        free(p);
    }
    return e;
}
