/*
 * bundle -- a job's result as one file: the thing uploaded, and the thing
 * whose SHA-256 goes on chain.
 *
 * The gateway takes one file per result and the escrow one bytes32, so the
 * worker packs the result file set into a POSIX ustar archive (IEEE Std
 * 1003.1-2008, "pax" format's ustar header; any `tar` reads it):
 *   1. "manifest.json": the result manifest of jobspec_result_encode()
 *      ({"v":1,"status":"ok","files":[{name,size_bytes,sha256}...]});
 *   2. every output file, in the manifest's order (sorted by name);
 *   then two zero blocks. Every header has mode 0644, uid/gid 0, empty
 *   user and group names and mtime 0, so the same outputs always give the
 *   same bytes.
 * The hash submitted on chain (JobSubmitted's resultHash) is the SHA-256
 * of the whole archive: exactly what the gateway stores and serves, and
 * through the manifest inside it a commitment to each file's own hash.
 * An output named "manifest.json" would clash with the manifest and is
 * refused.
 * Not here: uploading (gwclient). Threading: blocking file I/O only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_WORKER_BUNDLE_H
#define LOOM_WORKER_BUNDLE_H

#include <stdint.h>

#include "err.h"

struct buf;
struct jobfiles_set;

#define BUNDLE_MANIFEST_NAME "manifest.json"

/*
 * Write the archive of <files> (borrowed; the files live in <dir>) to
 * <path> (created or truncated, mode 0644).
 *   size, sha256: receive the archive's length in bytes and its SHA-256.
 * Returns ERR_OK; ERR_INVAL (an output named manifest.json); ERR_IO (a read
 * or write failed, or a file changed size); ERR_TOOBIG (a file over the
 * ustar limit of 8 GiB - 1); ERR_NOMEM. msg says which file.
 */
LOOM_MUST_CHECK enum err bundle_write(const char *dir, const struct jobfiles_set *files,
                                      const char *path, uint64_t *size, unsigned char sha256[32],
                                      struct buf *msg);

#endif
