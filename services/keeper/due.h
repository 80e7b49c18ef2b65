/*
 * due -- where the keeper learns which jobs are due: an interface with
 * interchangeable sources.
 *
 *   due_mem   a list the caller fills directly (tests, embedding)
 *   due_file  a JSON-lines file, re-read on every fetch (tests and manual
 *             runs without a job store); one line per job:
 *             {"chain_job_id":"0x<64 hex>","action":"release","due_at":1764547300}
 *             action is "release", "refund" or "reopen" (the wire names of
 *             PROTOCOL.md's type `due`); blank lines are skipped.
 * The job store's jobs.due command (docs/PROTOCOL.md) is the production
 * source; it plugs in through due_source_new() with its own ops once
 * common/bus is available.
 * A source is a hint, never an authority: the keeper confirms every job on
 * chain (checkUpkeep) before it acts, so a stale or wrong entry costs an
 * eth_call, never a payment.
 * Threading: a source belongs to one thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_KEEPER_DUE_H
#define LOOM_KEEPER_DUE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "upkeep.h"

struct due_source;

/* Longest due_file accepted (about 100,000 lines). */
#define DUE_FILE_MAX_BYTES ((size_t)16 << 20)

struct due_source_ops {
    /*
     * Write up to <cap> jobs due at <now_at> (Unix seconds: due_at <= now_at),
     * soonest first, to <out>; the count to *n. Errors: as the source says.
     */
    enum err (*fetch)(void *ctx, int64_t now_at, struct upkeep_item *out, size_t cap, size_t *n);
    void (*free)(void *ctx); /* may be NULL */
};

/*
 * Wrap <ctx> (owned by the source from now on, freed by ops->free) behind
 * <ops> (borrowed, static). Returns ERR_OK or ERR_NOMEM (ctx is then freed).
 */
LOOM_MUST_CHECK enum err due_source_new(const struct due_source_ops *ops, void *ctx,
                                        struct due_source **out);

/* Free <s> and its context. Accepts NULL. */
void due_source_free(struct due_source *s);

/*
 * Fetch the jobs due at <now_at> (see ops->fetch). <out> has room for <cap>.
 * Returns ERR_OK or the source's error: ERR_IO, ERR_INVAL (a malformed
 * entry), ERR_UNAVAILABLE, ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err due_fetch(struct due_source *s, int64_t now_at, struct upkeep_item *out,
                                   size_t cap, size_t *n);

/* An in-memory source: empty until due_mem_add(). */
LOOM_MUST_CHECK enum err due_mem_new(struct due_source **out);

/*
 * Add a job to the in-memory source <s> (made by due_mem_new; anything else
 * is a programmer error). The job stays until due_mem_clear(): the keeper
 * tolerates entries that are no longer due. Returns ERR_OK, ERR_INVAL (an
 * action outside release/refund/reopen), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err due_mem_add(struct due_source *s, const uint8_t job_id[32],
                                     enum upkeep_action action, int64_t due_at);

/* Remove every job from the in-memory source <s>. */
void due_mem_clear(struct due_source *s);

/*
 * A source reading the JSON-lines file <path> (borrowed, copied) on each
 * fetch. A missing file is an empty list. Fetch errors: ERR_IO (cannot
 * read), ERR_TOOBIG (over DUE_FILE_MAX_BYTES), ERR_INVAL (a malformed line;
 * nothing is returned), ERR_NOMEM. Returns ERR_OK or ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err due_file_new(const char *path, struct due_source **out);

/* Parse one due_file line (<len> bytes, borrowed) into *out. ERR_OK or ERR_INVAL. */
LOOM_MUST_CHECK enum err due_parse_line(const char *line, size_t len, struct upkeep_item *out);

#endif
