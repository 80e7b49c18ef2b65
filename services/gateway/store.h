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
 * writes from its event loop (writes land in the page cache), commits
 * content that exists already on the loop too (one stat), and commits the
 * rest (fsync, link, folder fsync) on workq threads (common/workq.h), one
 * request's files per store_commit_batch().
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

/* Uploads up to this many bytes stay in memory until their commit needs a
 * file: a small part whose object exists never touches tmp/. */
#define STORE_MEM_MAX ((size_t)64 * 1024)

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
 * fsync; a commit makes the file durable). Returns ERR_OK,
 * ERR_STATE (twice).
 */
LOOM_MUST_CHECK enum err store_writer_finish(struct store_writer *w);

/* After finish: the sha256 as 64 hex digits (borrowed from <w>), and the size. */
const char *store_writer_sha256(const struct store_writer *w);
uint64_t store_writer_size(const struct store_writer *w);

/*
 * Commit finished <w> without disk I/O when its object already exists: one
 * stat(2), no fsync (the object was durable before its name was, and this
 * copy is dropped). Meant for the event loop: a stat of a cached folder
 * takes microseconds, so identical uploads (the same job.json again) never
 * leave the loop. Returns ERR_OK (committed; <w> is not the object's
 * creator), ERR_NOTFOUND (no such object yet, or one whose creator has not
 * yet made its name durable: commit <w> with store_commit_batch(); <w> is
 * unchanged), ERR_STATE (not finished, or committed already), ERR_IO,
 * ERR_NOMEM. Thread-safe against commits and uncommits.
 */
LOOM_MUST_CHECK enum err store_writer_commit_existing(struct store_writer *w);

/*
 * Make the finished writers <w>[0..n) durable and give each its name in
 * objects/ under its sha256, sharing the disk flushes between them (group
 * commit): every new object gets its file and its writeback started
 * (sync_file_range) before the first fsync, so the n fsyncs wait on one
 * round of writes and one journal commit; then each is linked (link(2))
 * and each fan folder that gained a name is fsync'd once (objects/ too when
 * a fan folder is new). A writer whose object exists already needs no
 * fsync (its copy is dropped), unless that object's creator has not yet
 * made its name durable, in which case its folder is fsync'd here too. So
 * when a writer's status is ERR_OK its content and its name are on disk.
 *   w:      borrowed; each a finished writer of <s>, distinct.
 *   status: n entries, overwritten: ERR_OK (committed), ERR_STATE (not
 *           finished, committed already or of another store; left as it
 *           was), ERR_IO (a write, fsync or link failed: a name this writer
 *           made is taken back, its temporary file stays for
 *           store_writer_free), ERR_NOMEM.
 * Returns ERR_OK (see <status>) or ERR_NOMEM (nothing done; every status
 * ERR_NOMEM). Blocks for disk flushes (milliseconds): the gateway runs it
 * on a workq thread, one request's files per call. (One call over many
 * requests' files was measured slower than a call per request on threads
 * side by side: past the first, each fsync still issues a device cache
 * flush, one after the other, where concurrent fsyncs share them.) Thread-safe for distinct
 * writers, also of the same content (exactly one of them is the creator).
 */
LOOM_MUST_CHECK enum err store_commit_batch(struct store *s, struct store_writer *const *w,
                                            size_t n, enum err *status);

/* store_commit_batch() of one writer; returns its status. */
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
