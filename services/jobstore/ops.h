/*
 * ops -- what the job store does for each command: one decoded request in,
 * one reply and the feed messages it causes out.
 *
 * ops_run() is the blocking half of a request: it runs on a worker thread
 * (server.c hands it over), calls jobdb (which blocks on PostgreSQL), and
 * fills a struct ops_result that the event-loop thread then encodes,
 * replies with and publishes. It never touches the bus, metrics or logs, so
 * it is safe on any thread and testable without a loop.
 *
 * Error replies carry err_code() of the jobdb or mapping error and a
 * message "cannot <verb> <subject>: <cause>". Database texts (SQL errors)
 * stay out of replies: they go to ops_result.db_error for the log.
 *
 * The feed (DESIGN.md "Messages"): a job whose status a batch or rollback
 * moved to OPEN gives job.open.<type> (jobdb moves a job to OPEN only when
 * the escrow's JobCreated came from its client with its spec hash and at
 * least its price); a move to WORKING..REFUNDED gives job.closed; a
 * progress report gives job.progress. Replays change nothing and publish
 * nothing.
 * Threading: reentrant; one struct jobdb is shared by all threads.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_JOBSTORE_OPS_H
#define LOOM_JOBSTORE_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cmd.h"
#include "proto/feed.h"

struct jobdb;

struct ops_result {
    struct proto_reply reply; /* ok with a result, or an error with a message */
    struct proto_feed *feed;  /* messages to publish, in order; heap */
    size_t n_feed;
    int64_t job_id;      /* the job the request concerned, for logs; 0 if none */
    size_t changes;      /* events.apply / reorg.rollback: status changes */
    struct buf db_error; /* the database's text of a failure, for the log; "" if none */
};

/*
 * Run <req> (borrowed) against <db> at wall time <now_at> (Unix s, stamped
 * on progress and closed messages without a chain time) into <out>
 * (overwritten; release with ops_result_release()). Every outcome, a
 * failure included, is a reply in out->reply; nothing else is returned.
 * Blocks on the database.
 */
void ops_run(struct jobdb *db, const struct proto_request *req, int64_t now_at,
             struct ops_result *out);

/* Most job.create requests in one ops_run_creates() (jobdb's
 * JOBDB_CREATE_BATCH_MAX). */
#define OPS_CREATE_BATCH_MAX 256

/*
 * Run <n> job.create requests together, as ops_run() would run each, but
 * with the well-formed ones written in one statement and one commit
 * (jobdb_create_batch()). Each request gets its own reply in *outs[i]
 * (overwritten; release each with ops_result_release()): a malformed or
 * failing job fails alone, and a success is answered only after its
 * transaction committed.
 *   reqs: n borrowed job.create requests (another command is a programmer
 *         error), n at most OPS_CREATE_BATCH_MAX.
 *   outs: n results, one per request.
 * Blocks on the database.
 */
void ops_run_creates(struct jobdb *db, const struct proto_request *const *reqs, size_t n,
                     struct ops_result *const *outs);

/* Free what <r> holds and zero it. Accepts NULL. */
void ops_result_release(struct ops_result *r);

/*
 * Fill <rep> (zeroed first; cmd kept from <cmd>) as an error reply with
 * code <code> (not ERR_OK) and the message <fmt>... (empty if it would
 * pass PROTO_ERR_MESSAGE_MAX bytes). On ERR_NOMEM for the message, the
 * reply carries code no_memory and no message.
 */
void ops_error(struct proto_reply *rep, enum proto_cmd cmd, enum err code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
