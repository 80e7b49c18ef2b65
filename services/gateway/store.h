/*
 * store -- the gateway's content-addressed file store.
 *
 * Files live under <root>/objects/<first two hex digits>/<sha256 hex>. An
 * upload is written to a temporary file under <root>/tmp, hashed while it
 * streams, and fsync'd and linked into place only when the caller commits it;
 * a writer freed without a commit unlinks its temporary file, so an upload
 * that fails or is cut off leaves nothing behind. Identical content shares
 * one object. Nothing is ever held whole in memory.
 * Not here: which job a file belongs to (the job store), file names (labels
 * chosen by clients; see validate.h), garbage collection of unreferenced
 * objects. Threading: blocking file I/O on the caller's thread; the gateway
 * writes from its event loop (writes land in the page cache) and commits
 * (fsync, link, folder fsync) on workq threads (common/workq.h).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_GW_STORE_H
#define LOOM_GW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct store;
struct store_writer;

/*
 * Open (creating if needed, mode 0750) the store rooted at <root> (borrowed)
 * and remove temporary files a crash may have left. *out belongs to the
 * caller (store_free). Returns ERR_OK, ERR_INVAL (empty root), ERR_IO
 * (cannot create or read the folders), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err store_open(const char *root, struct store **out);

/* Free <s> (not its files). Accepts NULL. Writers must be freed first. */
void store_free(struct store *s);

/* The root folder, borrowed from <s>. */
const char *store_root(const struct store *s);

/*
 * Start a new upload of at most <max_bytes> bytes. Its first 64 KiB stay
 * in memory; a larger upload moves to a temporary file in tmp/ as it grows,
 * a smaller one only when its commit must create the object (an upload whose
 * object exists never touches the disk). *out belongs to the caller
 * (store_writer_free). Returns ERR_OK, ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err store_writer_new(struct store *s, uint64_t max_bytes,
                                          struct store_writer **out);

/*
 * Append <n> bytes at <p> (borrowed) and hash them. Returns ERR_OK,
 * ERR_TOOBIG (the file would pass max_bytes; nothing written), ERR_STATE
 * (already finished), ERR_IO (the temporary file cannot be created or
 * written: disk full...), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err store_writer_write(struct store_writer *w, const void *p, size_t n);

/*
 * End the upload: the sha256 and size are known afterwards. Cheap (no
 * fsync; store_writer_commit() makes the file durable). Returns ERR_OK,
 * ERR_STATE (twice).
 */
LOOM_MUST_CHECK enum err store_writer_finish(struct store_writer *w);

/* After finish: the sha256 as 64 hex digits (borrowed from <w>), and the size. */
const char *store_writer_sha256(const struct store_writer *w);
uint64_t store_writer_size(const struct store_writer *w);

/*
 * Make the finished file durable (fsync) and give it its name in objects/
 * under its sha256 (link(2), then fsync of the folder). If that object
 * already exists the temporary file is dropped instead, without an fsync
 * (the object was durable before it was named). Blocks for disk flushes
 * (milliseconds): the gateway runs it on a workq thread. Thread-safe for
 * distinct writers, also of the same content (one of them is the creator).
 * Returns ERR_OK, ERR_STATE (not finished, or committed already), ERR_IO,
 * ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err store_writer_commit(struct store_writer *w);

/*
 * Undo a commit when the record that would reference the object could not
 * be written: unlink the object if this writer created it, unless another
 * commit of the same content found it while this writer was pending (that
 * request may already be recorded, so the object stays; an orphan costs
 * disk, a lost object costs a job). Thread-safe against commits.
 */
void store_writer_uncommit(struct store_writer *w);

/*
 * Read a finished writer's content back into <out> (appended), for small
 * files the gateway must inspect (job.json). Returns ERR_OK, ERR_STATE (not
 * finished or already committed), ERR_TOOBIG (over <max_bytes>), ERR_IO,
 * ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err store_writer_read(const struct store_writer *w, size_t max_bytes,
                                           struct buf *out);

/* Free <w>; unlinks its temporary file unless committed. A committed writer
 * not uncommitted is taken as recorded: its object is kept for good.
 * Accepts NULL. */
void store_writer_free(struct store_writer *w);

/*
 * Open object <sha256_hex> for reading: *fd_out is a read-only descriptor the
 * caller owns (close it), *size_out its size in bytes. Returns ERR_OK,
 * ERR_INVAL (not 64 lower-case hex digits), ERR_NOTFOUND, ERR_IO.
 */
LOOM_MUST_CHECK enum err store_open_object(struct store *s, const char *sha256_hex, int *fd_out,
                                           uint64_t *size_out);

#endif
