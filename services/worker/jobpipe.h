/*
 * jobpipe -- the one-way pipe from a job's child process to the worker:
 * progress while it runs, then how it ended.
 *
 * Frames: 1 type byte, a 4-byte little-endian payload length, the payload.
 *   'P' progress: 1 byte, percent 0..100
 *   'D' done:     empty; the outputs are in the work folder
 *   'E' failed:   1 byte enum err, then the reason as text (<= JOBPIPE_MAX_TEXT)
 * The child side runs a ticker thread that resends the current percent every
 * interval, so the parent hears from a healthy child at least that often
 * even while one long kernel runs (the issue asks for a report every 2 s).
 * Not here: what the parent does with it (runner).
 * Threading: the writer is safe from any thread of the child; a reader
 * belongs to one thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_WORKER_JOBPIPE_H
#define LOOM_WORKER_JOBPIPE_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

#define JOBPIPE_MAX_TEXT ((size_t)64 << 10)

struct jobpipe_writer;

/*
 * Start reporting on <fd> (borrowed; stays open) every <interval_ms> ms.
 * Returns ERR_OK, ERR_NOMEM, ERR_IO (the ticker thread did not start).
 */
LOOM_MUST_CHECK enum err jobpipe_writer_start(int fd, unsigned interval_ms,
                                              struct jobpipe_writer **out);

/* Set the current percent (clamped to 100); sent now if it changed. */
void jobpipe_progress(struct jobpipe_writer *w, unsigned percent);

/*
 * Stop the ticker, send 'D' when <e> is ERR_OK or 'E' with <e> and <reason>
 * (borrowed, may be NULL; cut at JOBPIPE_MAX_TEXT), and free <w>. A write
 * error is ignored: the parent then sees the pipe close without a verdict.
 */
void jobpipe_writer_finish(struct jobpipe_writer *w, enum err e, const char *reason);

enum jobpipe_type { JOBPIPE_PROGRESS = 'P', JOBPIPE_DONE = 'D', JOBPIPE_ERROR = 'E' };

struct jobpipe_msg {
    enum jobpipe_type type;
    unsigned percent; /* PROGRESS */
    enum err err;     /* ERROR */
    const char *text; /* ERROR: borrowed from the reader until the next call */
    size_t text_len;
};

/* Parent side: bytes in, messages out. */
struct jobpipe_reader {
    struct buf in;
    struct buf text;
};

void jobpipe_reader_init(struct jobpipe_reader *r);
void jobpipe_reader_release(struct jobpipe_reader *r);

/* Add <n> bytes read from the pipe. Returns ERR_OK, ERR_TOOBIG (a frame
 * larger than allowed is building up), ERR_NOMEM. */
LOOM_MUST_CHECK enum err jobpipe_reader_feed(struct jobpipe_reader *r, const void *p, size_t n);

/*
 * Take the next whole message into *m. Returns ERR_OK (a message), ERR_STATE
 * (no whole message yet), ERR_PROTO (a frame that breaks the format).
 */
LOOM_MUST_CHECK enum err jobpipe_reader_next(struct jobpipe_reader *r, struct jobpipe_msg *m);

#endif
