/*
 * duebus -- jobs.due over bus_request_wait(); see duebus.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include "duebus.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "bus.h"
#include "cmd.h"
#include "json.h"

struct duebus {
    struct bus *req;
    int timeout_ms;
};

/* PROTOCOL.md's due actions, as the contract numbers them. */
static enum upkeep_action map_action(enum proto_due_action a)
{
    switch (a) {
    case PROTO_DUE_RELEASE:
        return UPKEEP_RELEASE;
    case PROTO_DUE_REOPEN:
        return UPKEEP_REOPEN;
    case PROTO_DUE_REFUND:
        return UPKEEP_REFUND;
    case PROTO_DUE__COUNT:
        break;
    }
    return UPKEEP_NONE;
}

static enum err bus_fetch(void *ctx, int64_t now_at, struct upkeep_item *out, size_t cap,
                          size_t *n)
{
    struct duebus *d = ctx;
    struct proto_request req = {.cmd = PROTO_CMD_JOBS_DUE};
    struct proto_reply rep;
    memset(&rep, 0, sizeof(rep));
    struct buf msg;
    buf_init(&msg, BUS_MAX_MSG);
    void *answer = NULL;
    size_t answer_len = 0;
    req.args.jobs_due.now_at = now_at;
    req.args.jobs_due.limit = (int64_t)(cap < PROTO_DUE_LIMIT_MAX ? cap : PROTO_DUE_LIMIT_MAX);
    enum err e = proto_request_encode(&req, &msg, NULL);
    if (e != ERR_OK)
        goto done;
    e = bus_request_wait(d->req, msg.data, msg.len, d->timeout_ms, &answer, &answer_len);
    if (e != ERR_OK)
        goto done;
    e = proto_reply_decode(answer, answer_len, PROTO_CMD_JOBS_DUE, &rep, NULL);
    if (e != ERR_OK) {
        e = e == ERR_NOMEM ? ERR_NOMEM : ERR_PROTO;
        goto done;
    }
    if (!rep.ok) {
        e = rep.error_code != ERR_OK ? rep.error_code : ERR_PROTO;
        goto done;
    }
    const struct proto_due_page *p = &rep.result.due;
    if (p->n_jobs > cap) {
        e = ERR_PROTO;
        goto done;
    }
    for (size_t i = 0; i < p->n_jobs; i++) {
        memcpy(out[i].job_id, p->jobs[i].chain_job_id, 32);
        out[i].action = map_action(p->jobs[i].action);
        out[i].due_at = p->jobs[i].due_at;
        if (out[i].action == UPKEEP_NONE) {
            e = ERR_PROTO;
            goto done;
        }
    }
    *n = p->n_jobs;
done:
    proto_reply_release(&rep);
    free(answer);
    buf_release(&msg);
    return e;
}

static void bus_free_ctx(void *ctx)
{
    struct duebus *d = ctx;
    bus_free(d->req);
    free(d);
}

static const struct due_source_ops bus_ops = {bus_fetch, bus_free_ctx};

enum err due_bus_new(const char *url, int timeout_ms, struct due_source **out)
{
    if (url == NULL || url[0] == '\0' || timeout_ms <= 0)
        return ERR_INVAL;
    struct duebus *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return ERR_NOMEM;
    d->timeout_ms = timeout_ms;
    enum err e = bus_new(NULL, BUS_REQ, &d->req);
    if (e == ERR_OK)
        e = bus_connect(d->req, url);
    if (e != ERR_OK) {
        bus_free(d->req);
        free(d);
        return e;
    }
    return due_source_new(&bus_ops, d, out);
}
