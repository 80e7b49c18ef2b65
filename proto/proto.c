/*
 * proto -- enumeration names and the registries of message kinds and object
 * types. See proto.h.
 * SPDX-License-Identifier: MIT
 */
#include "proto.h"

#include <string.h>

#include "cmd.h"
#include "codec.h"
#include "feed.h"
#include "job.h"

const char *const proto_job_type_names[PROTO_JOB_TYPE__COUNT] = {"IA", "GRAFICA"};

const char *const proto_job_status_names[PROTO_STATUS__COUNT] = {
    "PENDING", "OPEN", "WORKING", "SUBMITTED", "COMPLETED", "DISPUTED", "REFUNDED",
};

const char *const proto_event_names[PROTO_EV__COUNT] = {
    "JobCreated",  "JobClaimed",  "JobSubmitted", "PaymentReleased",
    "JobDisputed", "JobReopened", "JobRefunded",  "DisputeResolved",
};

const char *const proto_due_action_names[PROTO_DUE__COUNT] = {"release", "reopen", "refund"};

/* Kinds in registry order: the record, the feed, then one request and one
 * successful reply per command (in enum proto_cmd order), then the error. */
#define N_FIXED 4
static const char *const kind_names[] = {
    "record:job",           "feed:job.open",      "feed:job.progress",  "feed:job.closed",
    "cmd:job.create",       "cmd:job.get",        "cmd:job.list",       "cmd:job.progress",
    "cmd:job.result",       "cmd:file.put",       "cmd:auth.nonce",     "cmd:events.apply",
    "cmd:checkpoint.get",   "cmd:reorg.rollback", "cmd:jobs.due",       "reply:job.create",
    "reply:job.get",        "reply:job.list",     "reply:job.progress", "reply:job.result",
    "reply:file.put",       "reply:auth.nonce",   "reply:events.apply", "reply:checkpoint.get",
    "reply:reorg.rollback", "reply:jobs.due",     "reply:error",
};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == N_FIXED + 2 * PROTO_CMD__COUNT + 1,
               "one request and one reply kind per command");

size_t proto_kind_count(void)
{
    return PROTO__N(kind_names);
}

const char *proto_kind_name(size_t i)
{
    return i < PROTO__N(kind_names) ? kind_names[i] : NULL;
}

int proto_kind_find(const char *name)
{
    for (size_t i = 0; i < PROTO__N(kind_names); i++)
        if (strcmp(kind_names[i], name) == 0)
            return (int)i;
    return -1;
}

/* One decoded message of any kind. */
struct any {
    union {
        struct proto_job job;
        struct proto_feed feed;
        struct proto_request req;
        struct proto_reply rep;
    } u;
};

static enum err any_decode(size_t i, const char *data, size_t len, struct any *m,
                           struct json_err *e)
{
    enum err rc;
    if (i == 0)
        return proto_job_decode(data, len, &m->u.job, e);
    if (i < N_FIXED) {
        static const enum proto_feed_kind fk[] = {0, PROTO_FEED_OPEN, PROTO_FEED_PROGRESS,
                                                  PROTO_FEED_CLOSED};
        rc = proto_feed_decode(data, len, &m->u.feed, e);
        if (rc == ERR_OK && m->u.feed.kind != fk[i]) {
            proto_feed_release(&m->u.feed);
            return json_fail(e, NULL, ERR_INVAL, "a frame of another topic");
        }
        return rc;
    }
    if (i < N_FIXED + PROTO_CMD__COUNT) {
        rc = proto_request_decode(data, len, &m->u.req, e);
        if (rc == ERR_OK && m->u.req.cmd != (enum proto_cmd)(i - N_FIXED)) {
            proto_request_release(&m->u.req);
            return json_fail(e, "cmd", ERR_INVAL, "a request for another command");
        }
        return rc;
    }
    bool is_error = i == N_FIXED + 2 * PROTO_CMD__COUNT;
    enum proto_cmd cmd =
        is_error ? PROTO_CMD_JOB_GET : (enum proto_cmd)(i - N_FIXED - PROTO_CMD__COUNT);
    rc = proto_reply_decode(data, len, cmd, &m->u.rep, e);
    if (rc == ERR_OK && m->u.rep.ok == is_error) {
        proto_reply_release(&m->u.rep);
        return json_fail(e, "ok", ERR_INVAL, "must be %s for this kind",
                         is_error ? "false" : "true");
    }
    return rc;
}

static enum err any_encode(size_t i, const struct any *m, struct buf *out, struct json_err *e)
{
    if (i == 0)
        return proto_job_encode(&m->u.job, out, e);
    if (i < N_FIXED)
        return proto_feed_encode(&m->u.feed, out, e);
    if (i < N_FIXED + PROTO_CMD__COUNT)
        return proto_request_encode(&m->u.req, out, e);
    return proto_reply_encode(&m->u.rep, out, e);
}

static bool any_equal(size_t i, const struct any *a, const struct any *b)
{
    if (i == 0)
        return proto_job_equal(&a->u.job, &b->u.job);
    if (i < N_FIXED)
        return proto_feed_equal(&a->u.feed, &b->u.feed);
    if (i < N_FIXED + PROTO_CMD__COUNT)
        return proto_request_equal(&a->u.req, &b->u.req);
    return proto_reply_equal(&a->u.rep, &b->u.rep);
}

static void any_release(size_t i, struct any *m)
{
    if (i == 0)
        proto_job_release(&m->u.job);
    else if (i < N_FIXED)
        proto_feed_release(&m->u.feed);
    else if (i < N_FIXED + PROTO_CMD__COUNT)
        proto_request_release(&m->u.req);
    else
        proto_reply_release(&m->u.rep);
}

enum err proto_kind_roundtrip(size_t i, const char *data, size_t len, struct buf *reencoded,
                              bool *stable, struct json_err *e)
{
    struct any a, b;
    struct buf t1, t2;
    enum err rc;
    *stable = false;
    if (i >= PROTO__N(kind_names))
        return json_fail(e, NULL, ERR_INVAL, "unknown message kind %zu", i);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    buf_init(&t1, PROTO_MAX_MSG_BYTES * 2);
    buf_init(&t2, PROTO_MAX_MSG_BYTES * 2);
    rc = any_decode(i, data, len, &a, e);
    if (rc != ERR_OK)
        goto out;
    /* From here on a failure is not the input's fault: report it unstable. */
    struct json_err e2;
    json_err_init(&e2);
    if (any_encode(i, &a, &t1, &e2) != ERR_OK)
        goto out;
    if (reencoded && buf_append(reencoded, t1.data, t1.len) != ERR_OK)
        goto out;
    if (any_decode(i, t1.data, t1.len, &b, &e2) != ERR_OK)
        goto out;
    if (any_encode(i, &b, &t2, &e2) != ERR_OK)
        goto out;
    *stable = any_equal(i, &a, &b) && t1.len == t2.len && memcmp(t1.data, t2.data, t1.len) == 0;
out:
    any_release(i, &b);
    any_release(i, &a);
    buf_release(&t2);
    buf_release(&t1);
    return rc;
}

/* All named object types, for the protocol document's test. */
static const struct proto__type *type_at(size_t i)
{
    if (i < proto__n_job_types)
        return proto__job_types[i];
    i -= proto__n_job_types;
    if (i < proto__n_feed_types)
        return proto__feed_types[i];
    i -= proto__n_feed_types;
    if (i < proto__n_cmd_types)
        return proto__cmd_types[i];
    return NULL;
}

size_t proto_type_count(void)
{
    return proto__n_job_types + proto__n_feed_types + proto__n_cmd_types;
}

const char *proto_type_name(size_t i)
{
    const struct proto__type *t = type_at(i);
    return t ? t->name : NULL;
}

size_t proto_type_field_count(size_t i)
{
    const struct proto__type *t = type_at(i);
    return t ? t->n_fields : 0;
}

const char *proto_type_field_key(size_t i, size_t j)
{
    const struct proto__type *t = type_at(i);
    return t && j < t->n_fields ? t->fields[j].key : NULL;
}
