/*
 * jobfiles -- a job's files on disk: inputs checked against their sha256,
 * outputs written into the job's work folder, and the result file set.
 *
 * Names are always checked with jobspec_is_safe_name(), so nothing here can
 * leave its folder. Not here: downloading or uploading (the daemon).
 * Threading: plain blocking file I/O; no shared state.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_WORKER_JOBFILES_H
#define LOOM_WORKER_JOBFILES_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct buf;
struct jobspec_input;
struct jobspec_result_file;

/* Most files a result may hold. */
#define JOBFILES_MAX_OUTPUTS 64

/* SHA-256 (FIPS 180-4) of <n> bytes at <p> into <out>. */
void jobfiles_sha256(const void *p, size_t n, unsigned char out[32]);

/*
 * Read <dir>/<name> whole. <name> must be a safe name.
 *   data: receives a heap block (caller frees) with a NUL after the bytes.
 * Returns ERR_OK; ERR_INVAL (unsafe name); ERR_NOTFOUND; ERR_TOOBIG (over
 * <max_bytes>); ERR_IO; ERR_NOMEM. msg says which file and why.
 */
LOOM_MUST_CHECK enum err jobfiles_read(const char *dir, const char *name, size_t max_bytes,
                                       unsigned char **data, size_t *len, struct buf *msg);

/*
 * Read input <in> from <dir> and check its sha256 against the spec.
 * Returns what jobfiles_read() returns, and ERR_AUTH when the digest differs.
 */
LOOM_MUST_CHECK enum err jobfiles_read_input(const char *dir, const struct jobspec_input *in,
                                             size_t max_bytes, unsigned char **data, size_t *len,
                                             struct buf *msg);

/*
 * Create <dir>/<name> (must not exist; mode 0644) holding <n> bytes of <p>.
 * Returns ERR_OK, ERR_INVAL (unsafe name), ERR_EXISTS, ERR_IO.
 */
LOOM_MUST_CHECK enum err jobfiles_write(const char *dir, const char *name, const void *p, size_t n,
                                        struct buf *msg);

/* The files of a finished job, sorted by name. */
struct jobfiles_set {
    size_t n;
    struct jobspec_result_file *files; /* owned; names owned too */
};

/*
 * List the regular files of <dir> with size and sha256 into <out> (caller
 * releases it with jobfiles_set_release). Other entries (links, folders)
 * are an error: a job result is a flat set of files.
 * Returns ERR_OK, ERR_IO, ERR_INVAL (an odd entry), ERR_TOOBIG (more than
 * JOBFILES_MAX_OUTPUTS files), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err jobfiles_list(const char *dir, struct jobfiles_set *out, struct buf *msg);
void jobfiles_set_release(struct jobfiles_set *s);

#endif
