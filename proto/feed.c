/*
 * feed -- the job feed's frames and member tables. See feed.h.
 * SPDX-License-Identifier: MIT
 */
#include "feed.h"

#include <stddef.h>
#include <string.h>

#include "codec.h"

#define T struct proto_feed_open
static const struct proto__field open_fields[] = {
    PF_INT(T, job_id, 1, PROTO_MAX_ID),
    PF_BYTES(PK_HASH, T, chain_job_id),
    PF_ENUM(T, type, proto_job_type_names, PROTO_JOB_TYPE__COUNT),
    PF_INT(T, price_usd_cents, 1, PROTO_PRICE_CENTS_MAX),
    PF_BYTES(PK_U256, T, escrow_wei),
    PF_BYTES(PK_HASH, T, spec_sha256),
    PF_INT(T, deadline_at, 0, PROTO_MAX_TIME_AT),
    PF_INT(T, max_runtime_s, 1, PROTO_RUNTIME_MAX_S),
};
#undef T

#define T struct proto_feed_progress
static const struct proto__field progress_fields[] = {
    PF_INT(T, job_id, 1, PROTO_MAX_ID),  PF_BYTES(PK_HASH, T, chain_job_id),
    PF_BYTES(PK_ADDR, T, worker),        PF_INT(T, progress, 0, 100),
    PF_INT(T, at, 0, PROTO_MAX_TIME_AT),
};
#undef T

static enum err closed_check(const void *obj, struct json_err *e)
{
    const struct proto_feed_closed *m = obj;
    if (m->status == PROTO_STATUS_PENDING || m->status == PROTO_STATUS_OPEN)
        return json_fail(e, "status", ERR_INVAL, "a closed job cannot be %s",
                         proto_job_status_names[m->status]);
    return ERR_OK;
}

#define T struct proto_feed_closed
static const struct proto__field closed_fields[] = {
    PF_INT(T, job_id, 1, PROTO_MAX_ID),
    PF_BYTES(PK_HASH, T, chain_job_id),
    PF_ENUM(T, status, proto_job_status_names, PROTO_STATUS__COUNT),
    PF_BYTES_OPT(PK_HASH, T, tx_hash),
    PF_INT(T, at, 0, PROTO_MAX_TIME_AT),
};
#undef T

static const struct proto__type open_type = {
    "feed:job.open", sizeof(struct proto_feed_open), open_fields, PROTO__N(open_fields), NULL,
};
static const struct proto__type progress_type = {
    "feed:job.progress",
    sizeof(struct proto_feed_progress),
    progress_fields,
    PROTO__N(progress_fields),
    NULL,
};
static const struct proto__type closed_type = {
    "feed:job.closed", sizeof(struct proto_feed_closed), closed_fields, PROTO__N(closed_fields),
    closed_check,
};

#define T struct proto_feed_heartbeat
static const struct proto__field heartbeat_fields[] = {
    PF_INT(T, epoch, 1, PROTO_MAX_ID),
    PF_INT(T, seq, 1, PROTO_MAX_ID),
    PF_INT(T, interval_ms, PROTO_FEED_HEARTBEAT_MIN_MS, PROTO_FEED_HEARTBEAT_MAX_MS),
    PF_INT(T, at, 0, PROTO_MAX_TIME_AT),
};
#undef T

static const struct proto__type heartbeat_type = {
    "feed:heartbeat",
    sizeof(struct proto_feed_heartbeat),
    heartbeat_fields,
    PROTO__N(heartbeat_fields),
    NULL,
};

const struct proto__type *const proto__feed_types[] = {&open_type, &progress_type, &closed_type,
                                                       &heartbeat_type};
const size_t proto__n_feed_types = PROTO__N(proto__feed_types);

static const struct proto__type *type_of(enum proto_feed_kind k)
{
    switch (k) {
    case PROTO_FEED_OPEN:
        return &open_type;
    case PROTO_FEED_PROGRESS:
        return &progress_type;
    case PROTO_FEED_CLOSED:
        return &closed_type;
    }
    return NULL;
}

const char *proto_feed_topic(const struct proto_feed *m)
{
    switch (m->kind) {
    case PROTO_FEED_OPEN:
        if (m->u.open.type == PROTO_JOB_IA)
            return PROTO_TOPIC_OPEN_IA;
        if (m->u.open.type == PROTO_JOB_GRAFICA)
            return PROTO_TOPIC_OPEN_GRAFICA;
        return NULL;
    case PROTO_FEED_PROGRESS:
        return PROTO_TOPIC_PROGRESS;
    case PROTO_FEED_CLOSED:
        return PROTO_TOPIC_CLOSED;
    }
    return NULL;
}

enum err proto_feed_encode(const struct proto_feed *m, struct buf *out, struct json_err *e)
{
    const struct proto__type *t = type_of(m->kind);
    const char *topic = proto_feed_topic(m);
    if (!t)
        return json_fail(e, NULL, ERR_INVAL, "unknown feed message kind %d", (int)m->kind);
    if (!topic)
        return json_fail(e, "type", ERR_RANGE, "enumeration value %d out of range",
                         (int)m->u.open.type);
    size_t start = out->len;
    enum err rc = buf_append_str(out, topic);
    if (rc == ERR_OK)
        rc = buf_append_byte(out, ' ');
    if (rc == ERR_OK)
        rc = proto__encode_msg(t, &m->u, out, e);
    if (rc != ERR_OK && out->len > start) {
        /* Leave <out> as it was: a half frame must never be sent. */
        out->len = start;
        out->data[start] = '\0';
    }
    return rc;
}

enum err proto_feed_decode(const char *data, size_t len, struct proto_feed *out, struct json_err *e)
{
    static const struct {
        const char *topic;
        enum proto_feed_kind kind;
        int type; /* job.open only */
    } topics[] = {
        {PROTO_TOPIC_OPEN_IA, PROTO_FEED_OPEN, PROTO_JOB_IA},
        {PROTO_TOPIC_OPEN_GRAFICA, PROTO_FEED_OPEN, PROTO_JOB_GRAFICA},
        {PROTO_TOPIC_PROGRESS, PROTO_FEED_PROGRESS, -1},
        {PROTO_TOPIC_CLOSED, PROTO_FEED_CLOSED, -1},
    };
    memset(out, 0, sizeof *out);
    const char *sp = memchr(data, ' ', len);
    if (!sp)
        return json_fail(e, NULL, ERR_INVAL, "feed frame has no space after its topic");
    size_t tlen = (size_t)(sp - data);
    for (size_t i = 0; i < PROTO__N(topics); i++) {
        if (strlen(topics[i].topic) != tlen || memcmp(topics[i].topic, data, tlen) != 0)
            continue;
        out->kind = topics[i].kind;
        const struct proto__type *t = type_of(out->kind);
        enum err rc = proto__decode_msg(sp + 1, len - tlen - 1, t, &out->u, e);
        if (rc != ERR_OK) {
            memset(out, 0, sizeof *out);
            return rc;
        }
        if (topics[i].type >= 0 && (int)out->u.open.type != topics[i].type) {
            memset(out, 0, sizeof *out);
            return json_fail(e, "type", ERR_INVAL, "does not match the topic %s", topics[i].topic);
        }
        return ERR_OK;
    }
    return json_fail(e, NULL, ERR_INVAL, "unknown feed topic \"%.*s\"",
                     (int)(tlen > 40 ? 40 : tlen), data);
}

enum err proto_feed_heartbeat_encode(const struct proto_feed_heartbeat *h, struct buf *out,
                                     struct json_err *e)
{
    size_t start = out->len;
    enum err rc = buf_append_str(out, PROTO_TOPIC_HEARTBEAT " ");
    if (rc == ERR_OK)
        rc = proto__encode_msg(&heartbeat_type, h, out, e);
    if (rc != ERR_OK && out->len > start) {
        out->len = start;
        out->data[start] = '\0';
    }
    return rc;
}

enum err proto_feed_heartbeat_decode(const char *data, size_t len, struct proto_feed_heartbeat *out,
                                     struct json_err *e)
{
    static const char topic[] = PROTO_TOPIC_HEARTBEAT " ";
    memset(out, 0, sizeof *out);
    if (len < sizeof topic - 1 || memcmp(data, topic, sizeof topic - 1) != 0)
        return json_fail(e, NULL, ERR_INVAL, "not a %s frame", PROTO_TOPIC_HEARTBEAT);
    enum err rc = proto__decode_msg(data + sizeof topic - 1, len - (sizeof topic - 1),
                                    &heartbeat_type, out, e);
    if (rc != ERR_OK)
        memset(out, 0, sizeof *out);
    return rc;
}

void proto_feed_release(struct proto_feed *m)
{
    if (m)
        memset(m, 0, sizeof *m);
}

bool proto_feed_equal(const struct proto_feed *a, const struct proto_feed *b)
{
    const struct proto__type *t = type_of(a->kind);
    return a->kind == b->kind && t && proto__equal(t, &a->u, &b->u);
}
