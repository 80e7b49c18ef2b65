/*
 * buf -- a growable byte buffer with a hard size cap.
 *
 * Every growing string or byte array in The Loom goes through here, so that
 * untrusted input never lands in a fixed char[N] and never grows without
 * bound. The contents are always followed by a NUL byte (not counted in len)
 * so text can be used as a C string.
 * Not here: encoding, parsing, I/O. Threading: a buf belongs to one thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_BUF_H
#define LOOM_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "err.h"

/* A value type; callers embed it. Fields are read-only outside buf.c. */
struct buf {
    char *data;       /* owned; NULL until the first append */
    size_t len;       /* bytes in use, not counting the trailing NUL */
    size_t cap;       /* bytes allocated */
    size_t max_bytes; /* hard cap on len; appends past it fail with ERR_TOOBIG */
};

/* Default cap for buffers whose owner has no better figure: 16 MiB. */
#define BUF_DEFAULT_MAX ((size_t)16 << 20)

/*
 * Initialise <b> empty with a cap of <max_bytes> (0 means BUF_DEFAULT_MAX).
 * Allocates nothing. Pair with buf_release().
 */
void buf_init(struct buf *b, size_t max_bytes);

/* Free the storage of <b> and leave it empty (still usable). Accepts NULL. */
void buf_release(struct buf *b);

/* Empty <b> but keep its storage for reuse. */
void buf_reset(struct buf *b);

/*
 * Append <n> bytes from <p> (borrowed) to <b>.
 * Returns ERR_OK, ERR_TOOBIG (the result would pass max_bytes; <b> is
 * unchanged), ERR_NOMEM (<b> is unchanged).
 */
LOOM_MUST_CHECK enum err buf_append(struct buf *b, const void *p, size_t n);

/* Append the NUL-terminated string <s>. Errors as buf_append(). */
LOOM_MUST_CHECK enum err buf_append_str(struct buf *b, const char *s);

/* Append one byte. Errors as buf_append(). */
LOOM_MUST_CHECK enum err buf_append_byte(struct buf *b, unsigned char c);

/*
 * Append printf-style formatted text. Errors as buf_append(); ERR_INVAL if
 * the format itself fails. On error <b> is unchanged.
 */
LOOM_MUST_CHECK enum err buf_appendf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* va_list form of buf_appendf(). */
LOOM_MUST_CHECK enum err buf_vappendf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/*
 * Make room for <n> more bytes without changing len; after success
 * b->data + b->len has n writable bytes. Errors as buf_append().
 */
LOOM_MUST_CHECK enum err buf_reserve(struct buf *b, size_t n);

/* Drop the first <n> bytes (all of them if n >= len), keeping the rest. */
void buf_consume(struct buf *b, size_t n);

/*
 * Hand the storage to the caller: returns a NUL-terminated heap block (an
 * empty string if <b> was empty, NULL only if that allocation fails), stores
 * its length in *len if len is not NULL, and leaves <b> empty. The caller
 * frees the result with free().
 */
char *buf_detach(struct buf *b, size_t *len);

/* Return the contents as a C string; "" when empty. Borrowed from <b>. */
const char *buf_cstr(const struct buf *b);

#endif
