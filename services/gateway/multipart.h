/*
 * multipart -- a streaming multipart/form-data parser (RFC 2046 section
 * 5.1.1, RFC 7578).
 *
 * Feed the body in pieces of any size (down to one byte); the parser calls
 * back at the start of each part with its Content-Disposition name and
 * filename, with each run of the part's bytes as they arrive, and at the end
 * of each part. It holds back at most one delimiter's worth of bytes and the
 * current part's header block (capped), never a part's content, so a 100 MB
 * file passes through in constant memory.
 * Not here: what happens to the bytes (the caller's callbacks: the gateway
 * feeds file parts into the store), file-name policy (validate.h),
 * Content-Transfer-Encoding (RFC 7578 section 4.7 forbids it; ignored).
 * Threading: one parser per request, on one thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_GW_MULTIPART_H
#define LOOM_GW_MULTIPART_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

/* RFC 2046: a boundary is 1..70 characters. */
#define MULTIPART_BOUNDARY_MAX 70

/* One part's headers; every pointer is borrowed for the part_begin call only. */
struct multipart_part {
    const char *name;         /* Content-Disposition name="..."; never NULL */
    const char *filename;     /* filename="..."; NULL when absent */
    const char *content_type; /* Content-Type value; NULL when absent */
};

/*
 * Callbacks; each returns ERR_OK to go on, anything else stops the parse and
 * is returned by multipart_feed(). <arg> is passed back untouched.
 */
struct multipart_cbs {
    enum err (*part_begin_cb)(void *arg, const struct multipart_part *part);
    enum err (*part_data_cb)(void *arg, const void *p, size_t n);
    enum err (*part_end_cb)(void *arg);
    void *arg;
};

struct multipart;

/*
 * Extract the boundary parameter of a Content-Type value such as
 * `multipart/form-data; boundary="abc"` into <out> (appended; the caller
 * initialised it). Returns ERR_OK, ERR_INVAL (not multipart/form-data, no
 * boundary, or a boundary that breaks RFC 2046's bchars/length rule),
 * ERR_NOMEM, ERR_TOOBIG (out's cap).
 */
LOOM_MUST_CHECK enum err multipart_boundary(const char *content_type, struct buf *out);

/*
 * Create a parser for <boundary> (borrowed; 1..70 bytes).
 *   cbs:               copied.
 *   max_header_bytes:  cap on one part's header block (headers and CRLFs).
 *   max_parts:         cap on the number of parts.
 * *out belongs to the caller (multipart_free). Returns ERR_OK, ERR_INVAL
 * (bad boundary), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err multipart_new(const char *boundary, const struct multipart_cbs *cbs,
                                       size_t max_header_bytes, size_t max_parts,
                                       struct multipart **out);

/*
 * Parse <n> more bytes at <p> (borrowed). Returns ERR_OK; ERR_INVAL
 * (malformed: multipart_error() says why), ERR_TOOBIG (a header block or the
 * part count over its cap), or the first non-OK value a callback returned.
 * After an error every later call returns the same error.
 */
LOOM_MUST_CHECK enum err multipart_feed(struct multipart *m, const void *p, size_t n);

/*
 * Declare the end of the body. Returns ERR_OK when the close delimiter was
 * seen, ERR_INVAL (body cut short) or the earlier error.
 */
LOOM_MUST_CHECK enum err multipart_finish(struct multipart *m);

/* A one-line reason for the last error; "" if none. Borrowed from <m>. */
const char *multipart_error(const struct multipart *m);

/* Free <m>; accepts NULL. Calls no callback. */
void multipart_free(struct multipart *m);

#endif
