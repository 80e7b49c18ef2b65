/*
 * evstream -- an incremental parser of Server-Sent Events streams
 * (WHATWG HTML Living Standard, "Server-sent events", 9.2.6 "Interpreting
 * an event stream"), for `loom watch` on GET /api/events.
 *
 * Bytes go in as they arrive, in chunks of any size; each complete event
 * comes out through a callback with its type and its data. Lines end in
 * CRLF, LF or CR (also when a CRLF is split between chunks); lines starting
 * with ':' are comments (keep-alives); "data" lines are joined with LF;
 * the field value loses one leading space; an event with no data is not
 * dispatched; the type defaults to "message"; "id" and "retry" are read
 * and ignored (the gateway sends neither, and watch resynchronises with a
 * GET after a reconnect instead); a leading UTF-8 BOM is skipped.
 * Not here: HTTP (http.h), JSON. Threading: a parser belongs to one thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_CLI_EVSTREAM_H
#define LOOM_CLI_EVSTREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

/*
 * Receives one event: <type> and <data> (NUL-terminated, <data_len>
 * bytes), both borrowed for the call. Returns 0 to go on; anything else
 * stops evstream_feed(), which returns it in *stop.
 */
typedef int (*evstream_event_fn)(void *arg, const char *type, const char *data, size_t data_len);

/* Parser state; embed it, evstream_init() it, evstream_release() it. */
struct evstream {
    struct buf line;  /* the current, unfinished line */
    struct buf data;  /* data of the event being built */
    struct buf type;  /* its type ("" = "message") */
    bool last_cr;     /* the previous chunk ended in CR: skip a leading LF */
    bool started;     /* past the optional BOM */
    size_t bom_len;   /* BOM bytes matched so far */
    evstream_event_fn cb;
    void *arg;
};

/*
 * Start a parser that calls <cb>(<arg>, ...) per event. Lines and events
 * longer than <max_bytes> fail with ERR_TOOBIG (0 means 1 MiB).
 */
void evstream_init(struct evstream *p, size_t max_bytes, evstream_event_fn cb, void *arg);

/* Free the parser's buffers. Accepts NULL. */
void evstream_release(struct evstream *p);

/*
 * Parse <len> bytes of <chunk> (borrowed). *stop receives the callback's
 * non-zero answer, after which the rest of the chunk is dropped; 0 when
 * every event was taken.
 * Returns ERR_OK, ERR_TOOBIG (a line or an event over max_bytes; the
 * stream cannot be resynchronised), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err evstream_feed(struct evstream *p, const char *chunk, size_t len,
                                       int *stop);

#endif
