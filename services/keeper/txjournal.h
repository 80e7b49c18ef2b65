/*
 * txjournal -- the keeper's record of signed transactions not yet known to
 * be mined, so that a restart (kill -9 included) resumes them instead of
 * sending the same jobs again under new nonces.
 *
 * Format: one line per signed transaction, the raw EIP-2718 bytes as "0x"
 * hex, appended and fsync'd before the transaction is sent. A crash during
 * the write leaves a torn last line, which txjournal_load skips: that
 * transaction was never sent. Whenever a transaction is mined the keeper
 * rewrites the journal with what is still in flight, so it stays a few
 * lines long.
 * Why a file and not the node's pool: txpool_content is not offered by most
 * hosted providers, and a node restart drops its pool; the journal lets the
 * keeper send its in-flight transactions again in either case.
 * Not here: deciding what is in flight (the keeper compares nonces), logging.
 * Threading: one thread; one keeper process per journal file (a second one
 * is refused with ERR_EXISTS through an advisory lock).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_KEEPER_TXJOURNAL_H
#define LOOM_KEEPER_TXJOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct txjournal;

/* Largest raw transaction recorded: 100 items of calldata are about 6.5 KiB. */
#define TXJOURNAL_MAX_TX ((size_t)1 << 17)
/* Largest journal read back; past it the file is not the keeper's. */
#define TXJOURNAL_MAX_BYTES ((size_t)64 << 20)

/* One raw transaction read back. */
struct txjournal_entry {
    uint8_t *raw; /* owned */
    size_t len;
};

/*
 * Open (creating, mode 0600) the journal at <path> (borrowed) and take an
 * exclusive advisory lock on it (flock), so that two keepers never share a
 * journal. Returns ERR_OK, ERR_EXISTS (another process holds the lock),
 * ERR_IO (cannot open), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err txjournal_open(const char *path, struct txjournal **out);

/* Close and free <j> (the lock goes with it). Accepts NULL. */
void txjournal_free(struct txjournal *j);

/*
 * Read every complete, well-formed line into a new array *out (owned:
 * txjournal_entries_free) of *n entries, in file order. Torn or malformed
 * lines are skipped and counted in *n_skipped (may be NULL).
 * Returns ERR_OK, ERR_IO, ERR_TOOBIG (file over TXJOURNAL_MAX_BYTES), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err txjournal_load(struct txjournal *j, struct txjournal_entry **out,
                                        size_t *n, size_t *n_skipped);

/* Free an array from txjournal_load(). Accepts NULL. */
void txjournal_entries_free(struct txjournal_entry *e, size_t n);

/*
 * Append <raw> (<len> bytes, borrowed, 1..TXJOURNAL_MAX_TX) as one line and
 * fsync. Blocks on the disk. Returns ERR_OK, ERR_INVAL (len out of range),
 * ERR_IO, ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err txjournal_append(struct txjournal *j, const uint8_t *raw, size_t len);

/*
 * Replace the journal's contents with <entries> (borrowed, <n>, may be 0):
 * written to a temporary file, fsync'd and renamed over the journal, so a
 * crash leaves either the old or the new contents. Returns ERR_OK, ERR_IO,
 * ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err txjournal_rewrite(struct txjournal *j,
                                           const struct txjournal_entry *entries, size_t n);

#endif
