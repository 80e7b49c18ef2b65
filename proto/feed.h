/*
 * feed -- the job feed the jobstore publishes on nanomsg PUB (DESIGN.md
 * "Messages"): kinds "feed:job.open", "feed:job.progress", "feed:job.closed".
 *
 * A feed frame is the topic, one space, then the JSON message:
 *   job.open.IA {"v":1,"job_id":42,...}
 * so that a SUB socket selects topics by prefix ("job.open." for every
 * type, "job.open.IA" for one). Topics: job.open.IA, job.open.GRAFICA,
 * job.progress, job.closed. A job.open frame's topic must match its "type".
 * The feed is a hint, not an authority: a worker checks the job on chain
 * (chain_job_id, escrow_wei, spec_sha256) before it claims. The gateway's
 * URL is not in it; workers are configured with it.
 * Not here: the transport (common/bus). Threading: no shared state.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_PROTO_FEED_H
#define LOOM_PROTO_FEED_H

#include <stdbool.h>
#include <stdint.h>

#include "proto.h"

/* Topic strings and prefixes for SUB filters. */
#define PROTO_TOPIC_OPEN_PREFIX  "job.open."
#define PROTO_TOPIC_OPEN_IA      "job.open.IA"
#define PROTO_TOPIC_OPEN_GRAFICA "job.open.GRAFICA"
#define PROTO_TOPIC_PROGRESS     "job.progress"
#define PROTO_TOPIC_CLOSED       "job.closed"
/* The publisher's heartbeat. Outside "job." so that a subscriber to "job."
 * (the gateway's mirror) never receives it; a worker subscribes to it. */
#define PROTO_TOPIC_HEARTBEAT "feed.heartbeat"
/* How often the jobstore publishes a heartbeat (its interval_ms). */
#define PROTO_FEED_HEARTBEAT_MS 1000
/* Bounds of a heartbeat's interval_ms. */
#define PROTO_FEED_HEARTBEAT_MIN_MS 100
#define PROTO_FEED_HEARTBEAT_MAX_MS 60000

enum proto_feed_kind { PROTO_FEED_OPEN = 0, PROTO_FEED_PROGRESS, PROTO_FEED_CLOSED };

/* job.open.<type>: a funded job is open for claims. */
struct proto_feed_open {
    int64_t job_id;           /* database id */
    uint8_t chain_job_id[32]; /* the escrow's job id */
    enum proto_job_type type; /* also in the topic */
    int64_t price_usd_cents;
    uint8_t escrow_wei[32];  /* wei locked in escrow, what the worker is paid */
    uint8_t spec_sha256[32]; /* sha256 of job.json, committed on chain */
    int64_t deadline_at;     /* Unix seconds */
    int64_t max_runtime_s;   /* a claim lapses after this many seconds */
};

/* job.progress: the worker's reported progress of a WORKING job. */
struct proto_feed_progress {
    int64_t job_id;
    uint8_t chain_job_id[32];
    uint8_t worker[20];
    int64_t progress; /* percent, 0..100 */
    int64_t at;       /* when the jobstore recorded it, Unix seconds */
};

/* job.closed: the job left OPEN (claimed, refunded, ...); stop considering it. */
struct proto_feed_closed {
    int64_t job_id;
    uint8_t chain_job_id[32];
    enum proto_job_status status; /* the new status: WORKING..REFUNDED, never PENDING or OPEN */
    bool has_tx_hash;
    uint8_t tx_hash[32]; /* the transaction that closed it, when known */
    int64_t at;          /* Unix seconds */
};

struct proto_feed {
    enum proto_feed_kind kind;
    union {
        struct proto_feed_open open;
        struct proto_feed_progress progress;
        struct proto_feed_closed closed;
    } u;
};

/*
 * feed.heartbeat: the publisher is alive. Sent every interval_ms whatever
 * else is published. A subscriber cannot see its connection drop (nanomsg
 * reconnects silently), so it watches these: a new epoch (the publisher
 * restarted), a seq that skips (heartbeats lost), or a silence longer than
 * a few intervals means feed messages may have been lost, and it re-reads
 * the open jobs (docs/PROTOCOL.md, Envelopes). Not a kind of struct
 * proto_feed: it carries no job.
 */
struct proto_feed_heartbeat {
    int64_t epoch;       /* random per publisher start, 1..2^53-1 */
    int64_t seq;         /* 1 for the first heartbeat of an epoch, then +1 each */
    int64_t interval_ms; /* the period, PROTO_FEED_HEARTBEAT_MIN_MS..MAX_MS */
    int64_t at;          /* when sent, Unix seconds */
};

/*
 * Append the frame of heartbeat <h>, "feed.heartbeat {json}", to <out>.
 * Returns ERR_OK; ERR_RANGE (a member out of bounds, path in <e>, which may
 * be NULL); ERR_TOOBIG; ERR_NOMEM. <out> is unchanged on error.
 */
LOOM_MUST_CHECK enum err proto_feed_heartbeat_encode(const struct proto_feed_heartbeat *h,
                                                     struct buf *out, struct json_err *e);

/*
 * Decode a heartbeat frame of <len> bytes at <data> (borrowed) into *out.
 * Returns ERR_OK; ERR_INVAL (another topic, no space after the topic, a
 * member error with its path); ERR_VERSION; ERR_RANGE; ERR_TOOBIG.
 */
LOOM_MUST_CHECK enum err proto_feed_heartbeat_decode(const char *data, size_t len,
                                                     struct proto_feed_heartbeat *out,
                                                     struct json_err *e);

/* The topic of <m>: one of the PROTO_TOPIC_* strings (static), or NULL if
 * m->kind or an open message's type is out of range. */
const char *proto_feed_topic(const struct proto_feed *m);

/*
 * Append the frame of <m> (borrowed), "topic {json}", to <out>.
 *   e: may be NULL; receives the failing member's path.
 * Returns ERR_OK; ERR_INVAL / ERR_RANGE (a member breaks its rules, or the
 * kind is unknown); ERR_TOOBIG (<out> is full); ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err proto_feed_encode(const struct proto_feed *m, struct buf *out,
                                           struct json_err *e);

/*
 * Decode one frame of <len> bytes at <data> (borrowed) into <out>
 * (overwritten; holds no heap memory, but pair with proto_feed_release()).
 * Returns ERR_OK; ERR_INVAL (no space after the topic, an unknown topic, a
 * job.open topic that does not match "type", or any member error with its
 * path); ERR_VERSION; ERR_RANGE; ERR_TOOBIG; ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err proto_feed_decode(const char *data, size_t len, struct proto_feed *out,
                                           struct json_err *e);

/* Release <m> (nothing on the heap today; kept for symmetry). Accepts NULL. */
void proto_feed_release(struct proto_feed *m);

/* True if <a> and <b> are the same message. */
bool proto_feed_equal(const struct proto_feed *a, const struct proto_feed *b);

#endif
