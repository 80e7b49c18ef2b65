/*
 * msg -- best-effort text for failure reasons.
 *
 * A job's failure reason is built up in a capped struct buf by several
 * layers (cl, jobfiles, the job kinds). Running out of room in it must not
 * turn one failure into another, so these appends drop what does not fit
 * (the buffer keeps what it had) and return nothing.
 * Threading: as struct buf.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_WORKER_MSG_H
#define LOOM_WORKER_MSG_H

#include <stddef.h>

struct buf;

/* Append formatted text to <msg>; silently dropped if it does not fit. */
void msg_addf(struct buf *msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append <n> bytes of <p> (borrowed); dropped if they do not fit. */
void msg_add(struct buf *msg, const void *p, size_t n);

#endif
