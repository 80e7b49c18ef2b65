/*
 * jobsink -- the indexer's sink over the job store's bus (jobsink.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "jobsink.h"

#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "cmd.h"

struct jobsink {
    struct proto_client *client;
    char *msg; /* the last failure's text (heap), or NULL */
};

/* Keep <text> (borrowed; may be NULL) as the last failure's message. */
static void set_msg(struct jobsink *j, const char *text)
{
    free(j->msg);
    j->msg = text != NULL && text[0] != '\0' ? strdup(text) : NULL;
}

/* Send <req> and fold the outcome: ERR_OK with *rep to release, or the
 * transport error or the job store's refusal (rep released). */
static enum err call(struct jobsink *j, const struct proto_request *req, struct proto_reply *rep)
{
    enum err e = proto_client_call(j->client, req, rep);
    if (e != ERR_OK) {
        set_msg(j, err_str(e));
        return e;
    }
    if (!rep->ok) {
        e = proto_client_error(e, rep);
        if (e == ERR_OK)
            e = ERR_PROTO; /* a refusal without a code */
        set_msg(j, rep->error_message != NULL ? rep->error_message : err_str(e));
        proto_reply_release(rep);
        return e;
    }
    set_msg(j, NULL);
    return ERR_OK;
}

static enum err js_apply(void *ctx, const struct proto_events_apply *batch,
                         struct proto_applied *out)
{
    struct proto_request req = {.cmd = PROTO_CMD_EVENTS_APPLY};
    struct proto_reply rep;
    req.args.events_apply = *batch; /* borrowed pointers: encoding only reads them */
    enum err e = call(ctx, &req, &rep);
    if (e != ERR_OK)
        return e;
    *out = rep.result.applied;
    proto_reply_release(&rep);
    return ERR_OK;
}

static enum err js_rollback(void *ctx, const struct proto_reorg_rollback *rb,
                            struct proto_rollback *out)
{
    struct proto_request req = {.cmd = PROTO_CMD_REORG_ROLLBACK};
    struct proto_reply rep;
    req.args.reorg_rollback = *rb;
    enum err e = call(ctx, &req, &rep);
    if (e != ERR_OK)
        return e;
    *out = rep.result.rollback;
    proto_reply_release(&rep);
    return ERR_OK;
}

static enum err js_checkpoint(void *ctx, struct proto_checkpoint *out)
{
    struct proto_request req = {.cmd = PROTO_CMD_CHECKPOINT_GET};
    struct proto_reply rep;
    enum err e = call(ctx, &req, &rep);
    if (e != ERR_OK)
        return e;
    *out = rep.result.checkpoint;
    proto_reply_release(&rep);
    return ERR_OK;
}

static const char *js_errmsg(void *ctx)
{
    const struct jobsink *j = ctx;
    return j->msg != NULL ? j->msg : "";
}

static const struct sink_ops jobsink_ops = {js_apply, js_rollback, js_checkpoint, js_errmsg};

enum err jobsink_new(const char *addr, int timeout_ms, struct jobsink **out, struct sink *sink)
{
    if (addr == NULL || timeout_ms <= 0)
        return ERR_INVAL;
    struct jobsink *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return ERR_NOMEM;
    enum err e = proto_client_new(addr, timeout_ms, &j->client);
    if (e != ERR_OK) {
        free(j);
        return e;
    }
    *out = j;
    sink->ops = &jobsink_ops;
    sink->ctx = j;
    return ERR_OK;
}

void jobsink_free(struct jobsink *j)
{
    if (j == NULL)
        return;
    proto_client_free(j->client);
    free(j->msg);
    free(j);
}
