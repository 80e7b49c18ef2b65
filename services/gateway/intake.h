/*
 * intake -- reads every request body off the socket before evhttp sees the
 * request, so uploads stream into the store instead of into memory.
 *
 * libevent 2.1's evhttp buffers a whole body before it calls a handler and
 * has no server-side hook to stream it (evhttp_set_newreqcb arrived in 2.2).
 * So each connection's bufferevent is a filter (evhttp_set_bevcb) whose input
 * side parses the request head, consumes the body itself (Content-Length or
 * chunked framing) and feeds it to a sink chosen per route:
 *   INTAKE_SINK_BUFFER  small bodies (JSON) into memory, capped;
 *   INTAKE_SINK_FORM    multipart/form-data: fields into memory (capped),
 *                       file parts straight into store writers;
 *   INTAKE_SINK_FILE    the raw body into one store writer.
 * Only when the body is complete does evhttp receive the head, rewritten with
 * "Content-Length: 0"; its handler then collects the body with intake_take().
 * A body whose Content-Length is over its cap is not stored: the head goes
 * on at once with the body marked ERR_TOOBIG (the client gets its 413 while
 * still sending) and the body bytes are skipped as they arrive. A chunked
 * body that grows past its cap is skipped to its end, then refused. A client
 * that disconnects mid-body only frees the connection: its store writers are
 * freed unfinished, which unlinks their temporary files, and no handler runs.
 * Not here: routing, auth, replies (server.c). Threading: the event loop's.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_GW_INTAKE_H
#define LOOM_GW_INTAKE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct bufferevent;
struct event_base;
struct evhttp_request;
struct store;
struct store_writer;

enum intake_sink { INTAKE_SINK_BUFFER = 0, INTAKE_SINK_FORM, INTAKE_SINK_FILE };

/* A parsed request head. Strings are heap copies owned by the struct. */
struct intake_head {
    char *method;
    char *target;           /* request-target as sent: path and query */
    char *content_type;     /* NULL when absent */
    int64_t content_length; /* -1 when absent */
    int chunked;            /* Transfer-Encoding: chunked */
    int expect_continue;    /* Expect: 100-continue */
};

/*
 * Parse the request head at <p> (<n> bytes, ending in CRLF CRLF) into <out>
 * and append the head evhttp should see to <rewritten> (Content-Length,
 * Transfer-Encoding and Expect replaced by "Content-Length: 0"); <rewritten>
 * may be NULL. Rejects what could smuggle a second request: both
 * Content-Length and Transfer-Encoding, conflicting Content-Lengths, a
 * transfer coding other than chunked, folded headers.
 * Returns ERR_OK, ERR_INVAL (malformed; *out released), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err intake_parse_head(const char *p, size_t n, struct intake_head *out,
                                           struct buf *rewritten);

/* Free the strings of <h> and zero it. */
void intake_head_release(struct intake_head *h);

/* A multipart field that is not a file. */
struct intake_field {
    char *name;
    struct buf value;
};

/* A stored file: a finished (not yet committed) store writer. */
struct intake_file {
    char *field;    /* form field name; NULL for INTAKE_SINK_FILE */
    char *filename; /* client's file name, validated; NULL for INTAKE_SINK_FILE */
    struct store_writer *writer;
};

/* One request's body, as the handler receives it. */
struct intake_body {
    enum err err;          /* ERR_OK, or why the body was refused */
    struct buf msg;        /* a one-line reason when err != ERR_OK */
    int close_connection;  /* the body was not read to its end */
    enum intake_sink sink;
    char sha256[65];       /* of the whole body as received (decoded) */
    uint64_t size_bytes;
    struct buf data;       /* INTAKE_SINK_BUFFER */
    struct intake_field *fields;
    size_t n_fields;
    struct intake_file *files;
    size_t n_files;
    /* parsing state (private) */
    struct intake_body *next;
    struct multipart *mp;
    struct digest_sha256 *hash;
    const struct intake_limits *limits;
    struct store *store;
    int in_file;           /* current multipart part goes to files[n_files-1] */
    struct buf *cur_field;
};

/* Free <b>, its buffers and its store writers (uncommitted writers unlink
 * their temporary files). Accepts NULL. */
void intake_body_free(struct intake_body *b);

struct intake_limits {
    uint64_t max_upload_bytes;    /* FORM and FILE bodies (e.g. 100 MiB) */
    size_t max_buffer_bytes;      /* BUFFER bodies (JSON) */
    size_t max_head_bytes;        /* request line + headers */
    size_t max_part_header_bytes; /* one multipart part's headers */
    size_t max_parts;             /* parts per multipart body */
    size_t max_field_bytes;       /* one non-file multipart field */
};

/* Pick the sink for a request: called once per request head. */
typedef enum intake_sink (*intake_classify_fn)(void *arg, const struct intake_head *head);

struct intake;

/*
 * Create the intake. <store> and <limits> are borrowed and must outlive it;
 * <classify> decides the sink. Returns ERR_OK or ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err intake_new(struct store *store, const struct intake_limits *limits,
                                    intake_classify_fn classify, void *classify_arg,
                                    struct intake **out);

/* Free <in>. Connections must be gone (evhttp_free first). Accepts NULL. */
void intake_free(struct intake *in);

/* For evhttp_set_bevcb(http, intake_bevcb, in): a filter bufferevent over a
 * socket bufferevent, for one new connection. NULL on allocation failure. */
struct bufferevent *intake_bevcb(struct event_base *base, void *in);

/*
 * Take the body of <req>, the request evhttp is handing to its handler.
 * Ownership passes to the caller (intake_body_free). NULL when the intake
 * did not parse this request (a head it could not read, passed through raw).
 */
struct intake_body *intake_take(struct intake *in, struct evhttp_request *req);

/* Number of open connections (for /metrics). */
size_t intake_connections(const struct intake *in);

/*
 * Feed a whole request (head and body) through a private connection state,
 * as the socket would, in pieces of <chunk> bytes; returns the bodies parsed
 * in order through *out (the caller frees each). For the fuzzer and tests of
 * framing without sockets. Returns ERR_OK or ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err intake_feed_for_test(struct intake *in, const void *p, size_t n,
                                              size_t chunk, struct intake_body **out,
                                              size_t *n_out, size_t max_out);

#endif
