/*
 * bus -- opaque byte messages between our services, over nanomsg.
 *
 * The only module that calls nanomsg (STYLE.md "Modules and headers"). An
 * endpoint is one nanomsg socket of one kind: REQ/REP (requests with
 * replies), PUB/SUB (the job feed, filtered by topic prefix) or PUSH/PULL
 * (one-way work queues). Messages are bytes: proto/ encodes and decodes the
 * JSON; bus never parses it.
 *
 * Not here: message schemas (proto/), retries (the caller's choice: a lost
 * request ends in ERR_TIMEDOUT), logging (the caller logs; bus_stats()
 * gives the counts of what bus dropped).
 *
 * Event-loop model: an endpoint made with an event_base is driven by that
 * base through nanomsg's NN_RCVFD / NN_SNDFD descriptors and never blocks:
 * bus_request() returns at once and its callback runs later from the loop,
 * so one service keeps many requests in flight and a slow reply never stalls
 * the others. REQ and REP use nanomsg's raw (AF_SP_RAW) sockets: bus puts its
 * own 31-bit request id in front of each request, and a REP endpoint keeps
 * each request's backtrace header in its bus_reply handle, so replies may be
 * sent later and in any order. An endpoint made without an event_base is for
 * simple tools: bus_request_wait() blocks until a reply or the timeout.
 * Threading: an endpoint and its reply handles belong to the thread that
 * runs its event_base (or that made it); callbacks run on that thread.
 *
 * Wire format (what a non-bus peer must speak):
 *   REQ/REP    the nanomsg REQ/REP protocol: a 4-byte big-endian request id
 *              with its top bit set, then the payload. Interoperates with
 *              cooked nanomsg REQ and REP sockets.
 *   PUB/SUB    topic bytes, one NUL byte, then the payload. A SUB prefix
 *              "job.open.IA" matches topics that start with it; "job."
 *              matches every job topic; "" matches everything. Append "\0"
 *              to a prefix string yourself if you need an exact topic.
 *   PUSH/PULL  the payload alone.
 * Addresses: inproc://name, ipc:///path/to/socket, tcp://host:port (bind
 * also takes tcp://0.0.0.0:port). TCP endpoints run with NN_TCP_NODELAY: without
 * it, loopback p50 one-way latency was measured at 16 ms instead of 45 us.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_BUS_H
#define LOOM_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct event_base;
struct bus;
struct bus_reply;

/* Largest payload bus sends or accepts: 4 MiB. A block range of indexer
 * events (about 1,300 logs of about 300 bytes of JSON) fits with room. */
#define BUS_MAX_MSG ((size_t)4 << 20)

/* Longest PUB/SUB topic or subscription prefix, in bytes. */
#define BUS_MAX_TOPIC 255

/* Most messages an async REQ or PUSH endpoint holds while no peer can take
 * them (no peer connected yet, or its pipe full); past it sends fail with
 * ERR_UNAVAILABLE. */
#define BUS_MAX_QUEUED 4096

enum bus_kind {
    BUS_REQ,  /* sends requests, receives their replies */
    BUS_REP,  /* receives requests, answers each through a bus_reply */
    BUS_PUB,  /* publishes topic + payload to every subscriber */
    BUS_SUB,  /* receives the publications whose topic matches a prefix */
    BUS_PUSH, /* sends one-way messages, spread over the connected PULLs */
    BUS_PULL, /* receives one-way messages */
};

/*
 * Called exactly once for each accepted bus_request(), from the event loop
 * (or from bus_free() for ERR_CANCELED).
 *   arg:    the caller's pointer given to bus_request().
 *   status: ERR_OK (a reply arrived), ERR_TIMEDOUT (none within timeout_ms),
 *           ERR_CANCELED (the endpoint is being freed), ERR_IO (a queued
 *           request could not be handed to nanomsg), ERR_NOMEM (the
 *           endpoint's timer could not be re-armed).
 *   data, len: the reply payload, borrowed until the callback returns; not
 *           NUL-terminated (use cJSON_ParseWithLength). NULL and 0 unless
 *           status is ERR_OK.
 * The callback may call any bus function, bus_free() of this endpoint
 * included.
 */
typedef void (*bus_reply_fn)(void *arg, enum err status, const void *data, size_t len);

/*
 * Called once for each request that reaches a REP endpoint.
 *   reply: a handle owned by the callee from now on: answer it with
 *          bus_reply_send() (now or later, in any order) or release it with
 *          bus_reply_drop() (the requester then times out).
 *   data, len: the request payload, borrowed until the callback returns;
 *          not NUL-terminated.
 */
typedef void (*bus_request_fn)(void *arg, struct bus_reply *reply, const void *data, size_t len);

/*
 * Called once for each message a SUB or PULL endpoint receives.
 *   topic: the NUL-terminated topic (SUB), NULL for PULL; borrowed until the
 *          callback returns.
 *   data, len: the payload, borrowed until the callback returns; not
 *          NUL-terminated.
 */
typedef void (*bus_message_fn)(void *arg, const char *topic, const void *data, size_t len);

/* What an endpoint dropped or sent, for the owner's metrics. */
struct bus_stats {
    uint64_t sent;         /* messages handed to nanomsg */
    uint64_t received;     /* messages taken from nanomsg */
    uint64_t malformed;    /* received messages dropped: no topic, bad header */
    uint64_t late_replies; /* replies that matched no request (timed out before) */
    uint64_t send_failed;  /* queued messages nanomsg refused when flushed */
};

/*
 * Open an endpoint of <kind>.
 *   base: borrowed; must outlive the endpoint. NULL makes a blocking
 *         endpoint for tools: only bus_request_wait() (REQ), bus_publish()
 *         (PUB) and bus_send() (PUSH, failing with ERR_UNAVAILABLE rather
 *         than waiting when no peer can take the message) work on it.
 *   out:  receives the endpoint, owned by the caller (bus_free()).
 * Returns ERR_OK, ERR_INVAL (unknown kind), ERR_NOMEM, ERR_IO (nanomsg
 * could not make the socket, e.g. too many sockets). Does not block.
 */
LOOM_MUST_CHECK enum err bus_new(struct event_base *base, enum bus_kind kind, struct bus **out);

/*
 * Close <b>. Every request still pending gets its callback with
 * ERR_CANCELED, once, before bus_free() returns; queued messages are
 * dropped; reply handles still held by a REP server stay valid, but
 * bus_reply_send() on them returns ERR_CANCELED (release them with
 * bus_reply_drop()). Safe to call from one of <b>'s own callbacks: the
 * memory is released when that callback returns. nanomsg 1.1 has no
 * linger: a message handed over just before may not reach its peer, so a
 * server that must deliver its last replies keeps running a moment after
 * sending them. Accepts NULL.
 */
void bus_free(struct bus *b);

/*
 * Listen on <addr> (borrowed): "inproc://name", "ipc:///path",
 * "tcp://host:port" or "tcp://0.0.0.0:port". One endpoint may bind or connect
 * several addresses.
 * Returns ERR_OK, ERR_INVAL (malformed address, unknown transport, bad
 * port, no such interface), ERR_EXISTS (address already in use), ERR_PERM
 * (no permission for the ipc path or port), ERR_STATE (<b> is closing),
 * ERR_NOMEM, ERR_IO (any other failure). Does not block.
 */
LOOM_MUST_CHECK enum err bus_bind(struct bus *b, const char *addr);

/*
 * Connect to <addr> (borrowed; same forms as bus_bind()). nanomsg connects
 * in the background and reconnects after failures (first retry after
 * 100 ms), so a peer that is not up yet is not an error.
 * Returns ERR_OK, ERR_INVAL (malformed address or unknown transport),
 * ERR_STATE (<b> is closing), ERR_NOMEM, ERR_IO. Does not block.
 */
LOOM_MUST_CHECK enum err bus_connect(struct bus *b, const char *addr);

/*
 * Send request <data>/<len> on the async REQ endpoint <b>; <cb> runs once
 * with the reply, ERR_TIMEDOUT or ERR_CANCELED (see bus_reply_fn).
 *   data:       heap memory (malloc), owned by bus on success (freed once
 *               nanomsg has copied it); still the caller's on failure.
 *   len:        bytes, at most BUS_MAX_MSG.
 *   timeout_ms: > 0, or -1 for no limit (the request then ends only with a
 *               reply or at bus_free()).
 *   cb, arg:    the callback and its argument (borrowed pointer).
 * The request is queued when no REP peer can take it yet; nanomsg's raw REQ
 * does not resend, so a request lost with its connection ends in
 * ERR_TIMEDOUT.
 * Returns ERR_OK (cb will run exactly once), ERR_TOOBIG (len over
 * BUS_MAX_MSG), ERR_INVAL (timeout_ms 0 or below -1, cb NULL), ERR_STATE
 * (not an async REQ endpoint, or closing), ERR_UNAVAILABLE (BUS_MAX_QUEUED
 * requests already queued), ERR_NOMEM, ERR_IO. On failure cb never runs.
 * Does not block.
 */
LOOM_MUST_CHECK enum err bus_request(struct bus *b, void *data, size_t len, int timeout_ms,
                                     bus_reply_fn cb, void *arg);

/*
 * Send a request on the blocking REQ endpoint <b> (made without an
 * event_base) and wait for its reply.
 *   data, len:  borrowed, len at most BUS_MAX_MSG.
 *   timeout_ms: > 0, or -1 to wait without limit; covers sending and the
 *               reply.
 *   reply, reply_len: receive the reply, a heap block followed by a NUL
 *               byte (not counted in reply_len) that the caller frees with
 *               free(); untouched on failure.
 * Replies to earlier requests that timed out are skipped.
 * Returns ERR_OK, ERR_TIMEDOUT, ERR_TOOBIG, ERR_INVAL (bad timeout),
 * ERR_STATE (not a blocking REQ endpoint), ERR_CANCELED (a signal
 * interrupted the wait), ERR_NOMEM, ERR_IO. Blocks up to timeout_ms.
 */
LOOM_MUST_CHECK enum err bus_request_wait(struct bus *b, const void *data, size_t len,
                                          int timeout_ms, void **reply, size_t *reply_len);

/*
 * Serve requests on the async REP endpoint <b>: <cb> runs once per request
 * from the event loop. Call once, before running the loop.
 * Returns ERR_OK, ERR_INVAL (cb NULL), ERR_STATE (not an async REP
 * endpoint, a handler already set, or closing), ERR_NOMEM, ERR_IO.
 */
LOOM_MUST_CHECK enum err bus_serve(struct bus *b, bus_request_fn cb, void *arg);

/*
 * Answer the request behind <r> with <data>/<len>. Replies may go in any
 * order. If the requester has gone away the reply is dropped silently, as
 * nanomsg does.
 *   r:    on success consumed (freed); on failure still the caller's.
 *   data: heap memory (malloc), owned by bus on success; the caller's on
 *         failure. May be NULL when len is 0.
 * Returns ERR_OK, ERR_TOOBIG (len over BUS_MAX_MSG), ERR_CANCELED (the
 * endpoint was freed; drop <r>), ERR_NOMEM, ERR_IO. Does not block.
 */
LOOM_MUST_CHECK enum err bus_reply_send(struct bus_reply *r, void *data, size_t len);

/* Release <r> without answering (the requester times out). Accepts NULL. */
void bus_reply_drop(struct bus_reply *r);

/*
 * Publish <data>/<len> under <topic> on the PUB endpoint <b>. Subscribers
 * too slow to keep up lose messages (nanomsg PUB never waits).
 *   topic: borrowed, NUL-terminated, 1 to BUS_MAX_TOPIC bytes.
 *   data:  heap memory (malloc), owned by bus on success, the caller's on
 *          failure. May be NULL when len is 0.
 * Returns ERR_OK, ERR_TOOBIG (len over BUS_MAX_MSG), ERR_INVAL (empty or
 * too long topic), ERR_STATE (not a PUB endpoint, or closing), ERR_NOMEM,
 * ERR_IO. Does not block.
 */
LOOM_MUST_CHECK enum err bus_publish(struct bus *b, const char *topic, void *data, size_t len);

/*
 * Subscribe the SUB endpoint <b> to topics starting with <prefix>
 * (borrowed; "" for everything; at most BUS_MAX_TOPIC bytes). Without a
 * subscription a SUB receives nothing.
 * Returns ERR_OK, ERR_INVAL (prefix too long), ERR_STATE (not a SUB
 * endpoint, or closing), ERR_NOMEM, ERR_IO.
 */
LOOM_MUST_CHECK enum err bus_subscribe(struct bus *b, const char *prefix);

/* Undo bus_subscribe(b, prefix). Errors as bus_subscribe(), plus
 * ERR_NOTFOUND (no such subscription). */
LOOM_MUST_CHECK enum err bus_unsubscribe(struct bus *b, const char *prefix);

/*
 * Receive messages on the async SUB or PULL endpoint <b>: <cb> runs once
 * per message from the event loop. Call once, before running the loop.
 * Returns ERR_OK, ERR_INVAL (cb NULL), ERR_STATE (not an async SUB or PULL
 * endpoint, a handler already set, or closing), ERR_NOMEM, ERR_IO.
 */
LOOM_MUST_CHECK enum err bus_on_message(struct bus *b, bus_message_fn cb, void *arg);

/*
 * Send <data>/<len> on the PUSH endpoint <b>. With an event_base the
 * message is queued while no PULL peer can take it and sent from the loop
 * when one can, in order.
 *   data: heap memory (malloc), owned by bus on success, the caller's on
 *         failure. May be NULL when len is 0.
 * Returns ERR_OK, ERR_TOOBIG (len over BUS_MAX_MSG), ERR_STATE (not a PUSH
 * endpoint, or closing), ERR_UNAVAILABLE (queue full, or a blocking
 * endpoint with no peer ready), ERR_NOMEM, ERR_IO. Does not block.
 */
LOOM_MUST_CHECK enum err bus_send(struct bus *b, void *data, size_t len);

/* Return the kind <b> was made with. */
enum bus_kind bus_kind(const struct bus *b);

/* Return the number of async requests on <b> whose callback has not run. */
size_t bus_pending(const struct bus *b);

/* Copy <b>'s counters into *out. */
void bus_stats(const struct bus *b, struct bus_stats *out);

#endif
