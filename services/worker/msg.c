/*
 * msg -- best-effort appends for failure reasons.
 *
 * SPDX-License-Identifier: MIT
 */
#include "msg.h"

#include <stdarg.h>

#include "buf.h"

void msg_addf(struct buf *msg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum err e = buf_vappendf(msg, fmt, ap);
    va_end(ap);
    (void)e; /* a full buffer keeps the start of the reason, which names the cause */
}

void msg_add(struct buf *msg, const void *p, size_t n)
{
    enum err e = buf_append(msg, p, n);
    (void)e;
}
