/*
 * proto -- what every Loom message shares: the version, the size and depth
 * caps, the enumerations, and a registry of message kinds for tests, fuzzing
 * and the protocol document.
 *
 * Every message is one JSON object with "v": PROTO_VERSION. A decoder reads
 * "v" before anything else and rejects other versions with ERR_VERSION.
 * Unknown members are rejected (ERR_INVAL, "unknown field") so that a typo
 * never passes silently; a new field is added receivers first.
 * The families live in job.h (the job record), feed.h (PUB/SUB topics) and
 * cmd.h (jobstore REQ/REP commands and replies); docs/PROTOCOL.md lists them.
 *
 * Conventions (see common/json.h for the value formats): times are Unix
 * seconds (UTC) in members named *_at; durations end in _s; money is
 * price_usd_cents (integer cents) or *_wei (uint256 decimal string);
 * addresses, hashes and on-chain job ids are lower-case hex on output.
 * The on-chain job id is the escrow's bytes32 job key ("0x" + 64 hex).
 *
 * Not here: transport (common/bus), the worker's job spec (jobspec.h),
 * database rows (the jobstore's db module). Threading: no shared state.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_PROTO_H
#define LOOM_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "json.h"

/* The one protocol version this build speaks. */
#define PROTO_VERSION 1

/* Largest message any decoder accepts: 8 MiB (a job.list page of 200 full
 * job records, or an events.apply batch of 5000 events, fits well inside). */
#define PROTO_MAX_MSG_BYTES ((size_t)8 << 20)

/* Deepest nesting of any message is 5 (reply > result > jobs[] > job >
 * transitions[] > transition); 16 leaves room without letting cJSON recurse far. */
#define PROTO_MAX_DEPTH 16u

/* Bounds shared by several messages. */
#define PROTO_MAX_TIME_AT     ((int64_t)253402300799) /* 9999-12-31T23:59:59Z */
#define PROTO_MAX_ID          JSON_INT_MAX            /* database ids, block numbers */
#define PROTO_PRICE_CENTS_MAX ((int64_t)100000000000) /* one billion dollars */
#define PROTO_RUNTIME_MAX_S   ((int64_t)31536000)     /* 365 days: LoomEscrow.MAX_DURATION */

/* Job type, as in the seed's projects.type column. */
enum proto_job_type { PROTO_JOB_IA = 0, PROTO_JOB_GRAFICA, PROTO_JOB_TYPE__COUNT };

/* Job status: DESIGN.md's lifecycle table, in lifecycle order. */
enum proto_job_status {
    PROTO_STATUS_PENDING = 0, /* created through REST, not yet funded */
    PROTO_STATUS_OPEN,        /* escrow funded on chain; offered on the feed */
    PROTO_STATUS_WORKING,     /* a worker holds the claim */
    PROTO_STATUS_SUBMITTED,   /* result hash committed; challenge window running */
    PROTO_STATUS_COMPLETED,   /* payment released to the worker */
    PROTO_STATUS_DISPUTED,    /* client disputed inside the window */
    PROTO_STATUS_REFUNDED,    /* deadline passed, or the arbiter ruled for the client */
    PROTO_STATUS__COUNT
};

/* Escrow events as the indexer names them: the job events of
 * contracts/src/LoomEscrow.sol, one per contract transition. */
enum proto_event_name {
    PROTO_EV_JOB_CREATED = 0,  /* escrow funded: PENDING -> OPEN */
    PROTO_EV_JOB_CLAIMED,      /* OPEN -> WORKING */
    PROTO_EV_JOB_SUBMITTED,    /* WORKING -> SUBMITTED */
    PROTO_EV_PAYMENT_RELEASED, /* SUBMITTED or DISPUTED -> COMPLETED */
    PROTO_EV_JOB_DISPUTED,     /* SUBMITTED -> DISPUTED */
    PROTO_EV_JOB_REOPENED,     /* a lapsed claim: WORKING -> OPEN */
    PROTO_EV_JOB_REFUNDED,     /* OPEN, WORKING or DISPUTED -> REFUNDED */
    PROTO_EV_DISPUTE_RESOLVED, /* the arbiter split: DISPUTED -> COMPLETED (or REFUNDED) */
    PROTO_EV__COUNT
};

/* What the keeper should do with a due job. */
enum proto_due_action {
    PROTO_DUE_RELEASE = 0, /* challenge window over: release the payment */
    PROTO_DUE_REOPEN,      /* claim expired without a submission: reopen */
    PROTO_DUE_REFUND,      /* deadline passed: refund the client */
    PROTO_DUE__COUNT
};

/* Wire names, indexed by the enums above ("IA", "OPEN", "JobClaimed",
 * "release"). Static storage. */
extern const char *const proto_job_type_names[PROTO_JOB_TYPE__COUNT];
extern const char *const proto_job_status_names[PROTO_STATUS__COUNT];
extern const char *const proto_event_names[PROTO_EV__COUNT];
extern const char *const proto_due_action_names[PROTO_DUE__COUNT];

/*
 * The registry of message kinds, named as docs/PROTOCOL.md heads them:
 * "record:job", "feed:job.open", "feed:job.progress", "feed:job.closed",
 * "cmd:<command>", "reply:<command>" (a successful reply) and "reply:error".
 */

/* Number of kinds; kinds are numbered 0..count-1. */
size_t proto_kind_count(void);

/* Name of kind <i> (static), or NULL when i >= proto_kind_count(). */
const char *proto_kind_name(size_t i);

/* Index of the kind named <name>, or -1. */
int proto_kind_find(const char *name);

/*
 * Decode <data> (len bytes, borrowed) as kind <i>, encode the result, decode
 * that again and compare. For tests, fuzzing and the protocol document.
 *   reencoded: if not NULL, receives the first re-encoding (appended).
 *   stable:    set to true when the second decode equals the first and the
 *              second encoding is byte-identical to the first.
 * Returns the first decoder's error (ERR_INVAL, ERR_RANGE, ERR_TOOBIG,
 * ERR_VERSION, ERR_NOMEM; also ERR_INVAL for a reply whose "ok" does not
 * fit the kind), or ERR_OK. ERR_INVAL for an unknown kind.
 */
LOOM_MUST_CHECK enum err proto_kind_roundtrip(size_t i, const char *data, size_t len,
                                              struct buf *reencoded, bool *stable,
                                              struct json_err *e);

/*
 * The object types behind the messages (for the protocol document's test):
 * each has a name ("job", "transition", "args:job.create", ...) and its
 * member keys in wire order.
 */
size_t proto_type_count(void);
const char *proto_type_name(size_t i);
size_t proto_type_field_count(size_t i);
const char *proto_type_field_key(size_t i, size_t j);

#endif
