/*
 * client -- call the job store in one function: encode a proto request,
 * send it over the bus (nanomsg REQ), wait for or receive the reply, decode
 * it.
 *
 * For the gateway, indexer and keeper (and tests and tools):
 *
 *   struct proto_client *c;
 *   if (proto_client_new("tcp://127.0.0.1:7401", 5000, &c) != ERR_OK) ...
 *   struct proto_request req = {.cmd = PROTO_CMD_JOB_GET};
 *   req.args.job_get.job_id = 42;
 *   struct proto_reply rep;
 *   enum err e = proto_client_call(c, &req, &rep);
 *   if (e != ERR_OK)          ...transport: ERR_TIMEDOUT (job store down,
 *                              restarting or slow), ERR_PROTO (a reply that
 *                              does not decode), encode errors
 *   else if (!rep.ok)         ...the job store refused: rep.error_code
 *                              (ERR_NOTFOUND, ERR_PERM, ...) and
 *                              rep.error_message
 *   else                      ...rep.result.job
 *   proto_reply_release(&rep);
 *
 * proto_client_error() folds both cases into one enum err when the caller
 * only needs the code. The event-loop form (proto_client_new_async() and
 * proto_client_send()) keeps many requests in flight on one endpoint and
 * calls back from the loop, for services that must not block (the
 * gateway).
 *
 * Retries are the caller's choice: nanomsg's raw REQ does not resend, so a
 * request lost with its connection (a job store restart) ends in
 * ERR_TIMEDOUT after timeout_ms, and the next call goes to the restarted
 * job store (the endpoint reconnects by itself). Only idempotent commands
 * (job.get, job.list, checkpoint.get, jobs.due, events.apply: replays
 * change nothing) are safe to resend blindly.
 * Not here: what the commands mean (cmd.h, docs/PROTOCOL.md), logging.
 * Threading: an endpoint belongs to one thread (the one that made it, or
 * the thread running its event_base).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_PROTO_CLIENT_H
#define LOOM_PROTO_CLIENT_H

#include "cmd.h"
#include "err.h"

struct event_base;
struct proto_client;

/*
 * Connect a blocking client to the job store's REP address <addr>
 * (borrowed; "tcp://host:port" or "ipc:///path"). Connecting happens in the
 * background: a job store that is not up yet is not an error (calls time
 * out until it is).
 *   timeout_ms: per call, > 0: covers sending and the reply.
 *   out:        receives the client (proto_client_free()).
 * Returns ERR_OK, ERR_INVAL (bad address or timeout), ERR_NOMEM, ERR_IO.
 * Does not block.
 */
LOOM_MUST_CHECK enum err proto_client_new(const char *addr, int timeout_ms,
                                          struct proto_client **out);

/*
 * Send <req> (borrowed) and wait up to the client's timeout for the reply,
 * decoded into <rep> (overwritten; rep->cmd = req->cmd; free it with
 * proto_reply_release() after ERR_OK; zeroed otherwise).
 * Returns ERR_OK when a reply arrived and decoded (rep->ok tells whether
 * the job store succeeded); the errors of proto_request_encode() (ERR_INVAL,
 * ERR_RANGE, ERR_TOOBIG: nothing was sent); ERR_TIMEDOUT; ERR_PROTO (the
 * reply did not decode); ERR_STATE (an async client); ERR_CANCELED (a
 * signal interrupted the wait); ERR_NOMEM; ERR_IO. Blocks.
 */
LOOM_MUST_CHECK enum err proto_client_call(struct proto_client *c, const struct proto_request *req,
                                           struct proto_reply *rep);

/*
 * The outcome of a call as one code: <call_status> when it is not ERR_OK,
 * else ERR_OK for a successful reply or rep->error_code for a refusal.
 */
enum err proto_client_error(enum err call_status, const struct proto_reply *rep);

/*
 * Called once per accepted proto_client_send(), from the event loop.
 *   status: ERR_OK (a reply decoded into <rep>), ERR_TIMEDOUT, ERR_PROTO
 *           (an undecodable reply), ERR_CANCELED (the client is being
 *           freed), ERR_IO.
 *   rep:    the decoded reply when status is ERR_OK (else zeroed); owned by
 *           the callback: free it with proto_reply_release().
 */
typedef void (*proto_client_reply_fn)(void *arg, enum err status, struct proto_reply *rep);

/*
 * Connect an event-loop client in <base> (borrowed; must outlive it).
 * Arguments and errors as proto_client_new().
 */
LOOM_MUST_CHECK enum err proto_client_new_async(struct event_base *base, const char *addr,
                                                int timeout_ms, struct proto_client **out);

/*
 * Send <req> (borrowed) on an event-loop client; <cb>(<arg>, ...) runs once
 * with the reply or the failure. Many requests may be in flight.
 * Returns ERR_OK (cb will run exactly once); proto_request_encode() errors;
 * ERR_STATE (a blocking client, or closing); ERR_UNAVAILABLE (too many
 * requests queued while the job store is unreachable); ERR_NOMEM; ERR_IO.
 * On failure cb never runs. Does not block.
 */
LOOM_MUST_CHECK enum err proto_client_send(struct proto_client *c, const struct proto_request *req,
                                           proto_client_reply_fn cb, void *arg);

/* Close <c>; pending async requests get their callback with ERR_CANCELED
 * before this returns. Accepts NULL. */
void proto_client_free(struct proto_client *c);

#endif
