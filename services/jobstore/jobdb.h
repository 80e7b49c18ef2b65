/*
 * jobdb -- the job store's domain operations on PostgreSQL.
 *
 * Jobs (created through REST, then driven by the chain), their uploaded
 * files, signed-request nonces, and the indexer's side: escrow events applied
 * exactly once with the chain checkpoint, rolled back on a reorg, and the
 * keeper's list of due jobs. Every operation is one transaction on one pooled
 * connection (db.h), takes and returns plain C values, and is safe to call
 * from several threads at once (see db.h for the threading model: a few
 * worker threads share one struct jobdb).
 *
 * Job state follows the chain and never gets ahead of it: status, worker,
 * escrow, hashes, times and transition tx hashes are a fold over the
 * chain_events log (DESIGN.md "Job lifecycle"). REST can only create PENDING
 * jobs, report progress and attach files. A rollback deletes the events
 * above the fork and recomputes the jobs they touched from what remains.
 *
 * An event for a chain job id that no job row has is recorded with the flag
 * "unknown_job" and stays so: DESIGN.md's flow creates the row (REST) before
 * the client funds it on chain, and a later create does not re-read old
 * events.
 *
 * Value formats in and out: 32-byte values in job rows are "0x" + 64
 * lower-case hex digits, addresses "0x" + 40 lower-case hex digits (input may
 * use either case and omit "0x"), wei amounts decimal strings, times Unix
 * seconds (0 = not set) unless the name says otherwise.
 * Not here: wire messages (proto/), the feed (the service publishes the
 * changes these calls return), logging (callers log; db_last_error() holds
 * the database's text).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_JOBDB_H
#define LOOM_JOBDB_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "jobdb_event.h"

struct db_config;
struct db_pool;
struct jobdb;

/* Statuses, in DESIGN.md's order. Names are the upper-case words. */
enum jobdb_status {
    JOBDB_PENDING = 0, /* created through REST, not (validly) funded */
    JOBDB_OPEN,        /* funded with at least the quote and the right spec */
    JOBDB_WORKING,     /* claimed by a worker */
    JOBDB_SUBMITTED,   /* result hash committed; challenge window running */
    JOBDB_COMPLETED,   /* payment released to the worker */
    JOBDB_DISPUTED,    /* client disputed; the arbiter decides */
    JOBDB_REFUNDED,    /* refunded to the client */
    JOBDB_STATUS__COUNT
};

enum jobdb_type { JOBDB_TYPE_IA = 0, JOBDB_TYPE_GRAFICA, JOBDB_TYPE__COUNT };

/* Name of a status or type ("OPEN", "GRAFICA"); static storage. */
const char *jobdb_status_name(enum jobdb_status s);
const char *jobdb_type_name(enum jobdb_type t);

/* Parse an exact upper-case name. Returns ERR_OK or ERR_INVAL. */
LOOM_MUST_CHECK enum err jobdb_status_parse(const char *s, enum jobdb_status *out);
LOOM_MUST_CHECK enum err jobdb_type_parse(const char *s, enum jobdb_type *out);

/* Chain transitions whose transaction hash and block time a job keeps. */
enum jobdb_transition {
    JOBDB_TR_FUNDED = 0, /* JobCreated */
    JOBDB_TR_CLAIMED,    /* JobClaimed (the latest claim) */
    JOBDB_TR_SUBMITTED,  /* JobSubmitted */
    JOBDB_TR_RELEASED,   /* PaymentReleased (accept or window passed) */
    JOBDB_TR_DISPUTED,   /* JobDisputed */
    JOBDB_TR_RESOLVED,   /* DisputeResolved */
    JOBDB_TR_REOPENED,   /* JobReopened (the latest) */
    JOBDB_TR_REFUNDED,   /* JobRefunded */
    JOBDB_TR__COUNT
};

struct jobdb_tx {
    char *tx_hash;   /* NULL until the transition happened */
    int64_t at_unix; /* block time; 0 when tx_hash is NULL */
};

/* One job row. Every string is owned by the struct (NULL = SQL NULL);
 * release with jobdb_job_release(). */
struct jobdb_job {
    int64_t id;
    char *title;
    char *description;
    enum jobdb_type type;
    char *price;          /* the seed's price column, a positive decimal, as given */
    char *wallet_address; /* the client */
    enum jobdb_status status;
    int progress; /* 0..100, reported by the assigned worker */
    int64_t created_at_ms;
    char *cloud_link, *script_path, *external_links, *attachment_info; /* seed fields */
    char *worker_address; /* the claiming worker; NULL when none */
    char *chain_job_id;   /* bytes32 on-chain id */
    int64_t price_usd_cents;
    char *quote_wei;  /* wei quoted at creation; NULL = no wei floor */
    char *escrow_wei; /* wei locked by JobCreated; NULL until funded */
    char *spec_sha256;
    char *result_sha256; /* committed by JobSubmitted */
    int64_t deadline_unix, claim_expires_unix, challenge_ends_unix;
    struct jobdb_tx tx[JOBDB_TR__COUNT];
    int64_t max_runtime_s; /* seconds per claim from JobCreated; 0 until funded */
    /* What the client asked for at creation (0 = not given); the escrow's
     * JobCreated terms (deadline_unix, max_runtime_s) win once funded. */
    int64_t requested_deadline_unix, requested_max_runtime_s;
    /* Why a recorded funding was not offered: "wrong_client",
     * "spec_mismatch" or "underfunded"; NULL when fine or not funded. */
    char *funding_flag;
};

/* Free the strings of <j> and zero it. Accepts NULL. */
void jobdb_job_release(struct jobdb_job *j);

/* What REST gives to create a job; all borrowed. */
struct jobdb_new_job {
    const char *title;       /* 1..200 bytes */
    const char *description; /* NULL = ""; at most 20000 bytes */
    enum jobdb_type type;
    const char *price;          /* positive decimal, e.g. "12.50" */
    const char *wallet_address; /* the client's address */
    const char *cloud_link, *script_path, *external_links, *attachment_info; /* NULL ok */
    const char *chain_job_id; /* the bytes32 the client will create on chain */
    int64_t price_usd_cents;  /* > 0 */
    const char *quote_wei;    /* NULL or a decimal wei floor for the funding */
    const char *spec_sha256;  /* sha256 of job.json */
    /* The row id to use, from jobdb_next_id() (so the caller can derive
     * chain_job_id from it); 0 takes the next one from the sequence. */
    int64_t id;
    int64_t deadline_unix; /* requested deadline, Unix s; 0 = none */
    int64_t max_runtime_s; /* requested seconds per claim; 0 = none */
};

/* One uploaded file of a job. Strings owned (jobdb_files_free). */
enum jobdb_file_role { JOBDB_FILE_INPUT = 0, JOBDB_FILE_SPEC, JOBDB_FILE_RESULT };
struct jobdb_file {
    int64_t job_id;
    char *name;
    enum jobdb_file_role role;
    char *sha256;
    int64_t size_bytes;
    char *content_type;
};

/* What a caller gives to record a file; all borrowed. */
struct jobdb_new_file {
    const char *name; /* 1..255 bytes, already sanitized by the gateway */
    enum jobdb_file_role role;
    const char *sha256;       /* content hash (names the blob in the store) */
    int64_t size_bytes;       /* >= 0 */
    const char *content_type; /* 1..255 bytes */
};

/* Filters for jobdb_list(); zero-initialise, then set what you need. */
struct jobdb_filter {
    int has_status;
    enum jobdb_status status;
    int has_type;
    enum jobdb_type type;
    const char *client; /* wallet_address, or NULL */
    const char *worker; /* worker_address, or NULL */
    /* Oldest first (ids above after_id) instead of newest first (ids below
     * after_id); the wire's job.list pages this way. */
    int ascending;
};

/* A page of jobs; release with jobdb_list_release(). */
struct jobdb_list {
    struct jobdb_job *jobs;
    size_t n;
    int64_t next_cursor; /* pass as after_id for the next page; 0 = last page */
};

/* The indexer's checkpoint: the last block applied. */
struct jobdb_checkpoint {
    uint64_t block_number;
    uint8_t block_hash[32];
};

/* A job whose status an indexer batch or a rollback changed. */
struct jobdb_change {
    int64_t job_id;
    enum jobdb_type type;
    enum jobdb_status from, to;
    /* The job's row as the call committed it, every column: what the feed
     * announces, with no read after the transaction. Owned by the
     * jobdb_changes; its locks held until the commit, nothing else could
     * write the row in between. */
    struct jobdb_job job;
};

/* The result of jobdb_apply_batch() / jobdb_rollback(); release with
 * jobdb_changes_release(). */
struct jobdb_changes {
    struct jobdb_change *items; /* one per job whose status differs, by job id */
    size_t n;
    struct jobdb_checkpoint checkpoint; /* the checkpoint the call left */
    size_t n_applied;                   /* events newly recorded */
    size_t n_duplicate;                 /* events already recorded, ignored */
    size_t n_flagged;                   /* fundings recorded but not offered (any flag) */
    size_t n_removed;                   /* jobdb_rollback(): events deleted */
};

/* Free <c>'s items and their jobs; accepts NULL. */
void jobdb_changes_release(struct jobdb_changes *c);

/* A block as the indexer saw it. */
struct jobdb_block {
    uint64_t number;
    uint8_t hash[32];
    uint8_t parent_hash[32];
};

/* The events of blocks from_block..to_block (inclusive), with the blocks the
 * indexer knows in that range. All borrowed. */
struct jobdb_batch {
    uint64_t from_block, to_block;
    const struct jobdb_block *blocks; /* ascending; must include to_block */
    size_t n_blocks;
    const struct jobdb_event *events; /* ascending by (block_number, log_index) */
    size_t n_events;
};

/* Keeper actions, as LoomEscrow's dueAction() names them. */
enum jobdb_action { JOBDB_ACTION_RELEASE = 1, JOBDB_ACTION_REFUND = 2, JOBDB_ACTION_REOPEN = 3 };

struct jobdb_due {
    int64_t job_id;
    uint8_t chain_job_id[32];
    enum jobdb_action action;
    int64_t due_unix; /* the time that passed: window end, deadline, claim expiry */
};

/* How many recent block hashes are kept for reorg detection: deeper than
 * any reorg we expect (Scroll finalizes in batches; anvil tests go to 3). */
#define JOBDB_KEEP_BLOCKS 1024

/* Most rows one jobdb_list() or jobdb_due() call returns. */
#define JOBDB_LIST_MAX 500
/* Most due jobs in one jobdb_due() answer: proto's PROTO_DUE_LIMIT_MAX (a keeper asks
 * for one block's worth; 1,000 jobs are 10 performUpkeep batches of 100). */
#define JOBDB_DUE_MAX 1000

/*
 * Open the job store: a pool per <cfg>, then the schema migrations
 * (jobdb_schema.h) applied under db_migrate()'s lock.
 *   out: receives the handle; free with jobdb_close().
 * Returns ERR_OK and the errors of db_pool_new() and db_migrate().
 * Blocks while connecting and migrating.
 */
LOOM_MUST_CHECK enum err jobdb_open(const struct db_config *cfg, struct jobdb **out);

/* Close the pool and free <db>; no call may be in flight. Accepts NULL. */
void jobdb_close(struct jobdb *db);

/* The pool under <db> (borrowed), for tests and metrics. */
struct db_pool *jobdb_pool(struct jobdb *db);

/*
 * Create a PENDING job.
 *   in:  borrowed; validated here (lengths, type, positive price and cents,
 *        address and hash formats, decimal quote).
 *   out: receives the stored row (id, created_at, defaults); the caller
 *        releases it with jobdb_job_release().
 * Returns ERR_OK; ERR_INVAL (a field is malformed); ERR_EXISTS (the
 * chain_job_id is taken); ERR_UNAVAILABLE, ERR_TIMEDOUT, ERR_DB, ERR_NOMEM
 * (database trouble; nothing was written).
 */
LOOM_MUST_CHECK enum err jobdb_create(struct jobdb *db, const struct jobdb_new_job *in,
                                      struct jobdb_job *out);

/*
 * Create a PENDING job with its input files in one statement (one
 * transaction, one commit, one round trip): either the job and every file
 * are recorded, or nothing is.
 *   in:    borrowed; in->id must be reserved (jobdb_next_id()): the
 *          chain_job_id derives from it.
 *   files: borrowed; n_files inputs or specs (never JOBDB_FILE_RESULT)
 *          with distinct names, at most 64; n_files 0 is jobdb_create().
 *   out:   as jobdb_create().
 * Returns ERR_OK; ERR_INVAL (a field of the job or of a file is malformed,
 * no reserved id, over 64 files); ERR_EXISTS (the chain_job_id or id is
 * taken, or two files share a name); ERR_NOMEM; the database errors of
 * jobdb_create() (nothing was written). Blocks.
 */
LOOM_MUST_CHECK enum err jobdb_create_with_files(struct jobdb *db, const struct jobdb_new_job *in,
                                                 const struct jobdb_new_file *files, size_t n_files,
                                                 struct jobdb_job *out);

/* Most jobs in one jobdb_create_batch(). */
#define JOBDB_CREATE_BATCH_MAX 256

/* One job of a jobdb_create_batch(): inputs borrowed, outcome filled in. */
struct jobdb_create_item {
    const struct jobdb_new_job *in;     /* in->id reserved (jobdb_next_id()); borrowed */
    const struct jobdb_new_file *files; /* n_files inputs or specs; borrowed */
    size_t n_files;
    enum err err;         /* out: this job's outcome, as jobdb_create_with_files() */
    struct jobdb_job row; /* out: the stored row when err is ERR_OK (release it) */
};

/*
 * Create several PENDING jobs, each with its files, in one statement and
 * so one transaction and one commit (group commit: the job store gathers
 * the job.create requests that arrive while a commit is in flight). Each
 * job succeeds or fails on its own, with the outcome it would have had
 * from jobdb_create_with_files(): jobs whose fields are malformed get
 * ERR_INVAL and are left out; when the statement fails for one job's data
 * (a taken id or chain_job_id, two files of a job sharing a name) nothing
 * was written and every job is run again on its own, in its own
 * transaction, so one bad job never fails its neighbours. When the
 * database is unreachable or busy (ERR_UNAVAILABLE, ERR_TIMEDOUT) or
 * memory runs out, every job gets that error and nothing was written.
 * Fewer than two well-formed jobs go straight to jobdb_create_with_files().
 * Whatever the path, a job's row is returned only after its transaction
 * committed.
 *   items: n entries (0..JOBDB_CREATE_BATCH_MAX; more is a programmer
 *          error); err and row are overwritten; release each row.
 * Returns ERR_OK when every job was created, else the first job's failure
 * (each job's own is in items[i].err). Blocks: one round trip when every
 * job is well-formed, plus one per job after a data failure.
 */
LOOM_MUST_CHECK enum err jobdb_create_batch(struct jobdb *db, struct jobdb_create_item *items,
                                            size_t n);

/*
 * Reserve a job id from the jobs sequence into *id, for a jobdb_create()
 * whose chain_job_id is derived from the id. Ids are reserved 64 at a time
 * (one round trip, "SELECT nextval(...) FROM generate_series(1, 64)") and
 * handed out in ascending order, so most calls touch no database. An id
 * reserved and never used (unused ones are dropped when the process ends)
 * leaves a gap, as any PostgreSQL sequence does. Thread-safe.
 * Returns ERR_OK and the database errors above.
 */
LOOM_MUST_CHECK enum err jobdb_next_id(struct jobdb *db, int64_t *id);

/*
 * Check that the database answers: one connection, "SELECT 1".
 * Returns ERR_OK, ERR_UNAVAILABLE (server down; the connection is reset at
 * check-in), ERR_TIMEDOUT (no free connection in time), ERR_DB. Blocks.
 */
LOOM_MUST_CHECK enum err jobdb_ping(struct jobdb *db);

/* One status a job entered on chain, for its history. */
struct jobdb_history_entry {
    enum jobdb_status status;
    char tx_hash[67]; /* "0x" + 64 hex digits */
    uint64_t block_number;
    int64_t at_unix; /* block time */
};

/* Most entries jobdb_history() returns (the newest ones). */
#define JOBDB_HISTORY_MAX      64
#define JOBDB_HISTORY_MAX_TEXT "64" /* the same, for SQL text */

/*
 * Read the on-chain history of job <id>: one entry per recorded escrow
 * event that moved it (a flagged funding moves nothing and is left out;
 * DisputeResolved enters COMPLETED, or REFUNDED when the worker got 0 wei;
 * JobReopened enters OPEN, or PENDING when the funding is flagged), oldest
 * first, at most the newest JOBDB_HISTORY_MAX.
 *   out: receives a heap array (caller frees with free(); NULL when none),
 *        count in *n.
 * Returns ERR_OK (possibly none), ERR_NOTFOUND (no such job), database
 * errors.
 */
LOOM_MUST_CHECK enum err jobdb_history(struct jobdb *db, int64_t id,
                                       struct jobdb_history_entry **out, size_t *n);

/*
 * Read job <id> with its history (as jobdb_history()) and its files (as
 * jobdb_list_files()) in one round trip: the three reads go out pipelined
 * on one connection and see one snapshot.
 *   job:     receives the row (caller releases with jobdb_job_release()).
 *   history: receives a heap array (free()); NULL when none; count in
 *            *n_history.
 *   files:   receives a heap array (jobdb_files_free()); count in *n_files.
 * On failure nothing is returned (all zeroed). Returns ERR_OK, ERR_NOTFOUND
 * (no such job), ERR_NOMEM, database errors.
 */
LOOM_MUST_CHECK enum err jobdb_get_full(struct jobdb *db, int64_t id, struct jobdb_job *job,
                                        struct jobdb_history_entry **history, size_t *n_history,
                                        struct jobdb_file **files, size_t *n_files);

/* Read job <id> into <out> (caller releases). Returns ERR_OK, ERR_NOTFOUND,
 * and the database errors above. */
LOOM_MUST_CHECK enum err jobdb_get(struct jobdb *db, int64_t id, struct jobdb_job *out);

/* Read the job with on-chain id <chain_job_id> (hex). Errors as jobdb_get(),
 * plus ERR_INVAL (malformed id). */
LOOM_MUST_CHECK enum err jobdb_get_by_chain_id(struct jobdb *db, const char *chain_job_id,
                                               struct jobdb_job *out);

/*
 * List jobs matching <f> (NULL = all), newest first (or oldest first with
 * f->ascending), keyset-paginated.
 *   after_id: 0 for the first page, else the previous page's next_cursor.
 *   limit:    1..JOBDB_LIST_MAX rows.
 *   out:      receives the page; release with jobdb_list_release().
 * Returns ERR_OK (possibly zero rows); ERR_INVAL (bad limit, address or
 * negative cursor); the database errors above.
 */
LOOM_MUST_CHECK enum err jobdb_list(struct jobdb *db, const struct jobdb_filter *f,
                                    int64_t after_id, size_t limit, struct jobdb_list *out);

void jobdb_list_release(struct jobdb_list *l);

/*
 * Record the progress <progress> (0..100) reported by <worker> for job <id>.
 * Returns ERR_OK; ERR_INVAL (progress out of range, bad address);
 * ERR_NOTFOUND (no such job); ERR_STATE (the job has no worker, or is not
 * WORKING); ERR_PERM (<worker> is not the job's worker); database errors.
 */
LOOM_MUST_CHECK enum err jobdb_update_progress(struct jobdb *db, int64_t id, const char *worker,
                                               int progress);

/*
 * Record the result file uploaded by <worker> for job <id> (role forced to
 * result; a second upload replaces the first, and a file of the same name
 * recorded before, e.g. by jobdb_add_file(), becomes the result). Allowed while the job is
 * WORKING or SUBMITTED (the worker may commit on chain first or upload first).
 * Returns ERR_OK; ERR_INVAL (bad file fields or address); ERR_NOTFOUND;
 * ERR_STATE (no worker, or another status); ERR_PERM (not the job's worker);
 * database errors.
 */
LOOM_MUST_CHECK enum err jobdb_set_result(struct jobdb *db, int64_t id, const char *worker,
                                          const struct jobdb_new_file *file);

/*
 * Record an uploaded input or spec file of job <id>.
 * Returns ERR_OK; ERR_INVAL (bad fields, or role result: use
 * jobdb_set_result()); ERR_NOTFOUND (no such job); ERR_EXISTS (the job
 * already has a file of that name); database errors.
 */
LOOM_MUST_CHECK enum err jobdb_add_file(struct jobdb *db, int64_t id,
                                        const struct jobdb_new_file *file);

/* List the files of job <id> by name into *files (n in *n; caller frees
 * with jobdb_files_free). Returns ERR_OK (possibly none), ERR_NOTFOUND (no
 * such job), database errors. */
LOOM_MUST_CHECK enum err jobdb_list_files(struct jobdb *db, int64_t id, struct jobdb_file **files,
                                          size_t *n);

void jobdb_files_free(struct jobdb_file *files, size_t n);

/*
 * Accept the signed-request nonce <nonce> of <address> once. Expired nonces
 * of that address are deleted in the same transaction; the gateway refuses
 * stale request timestamps itself, so a nonce older than its expiry can
 * never be replayed.
 *   nonce:        1..128 printable ASCII bytes.
 *   expires_unix: when the pair may be forgotten.
 * Returns ERR_OK; ERR_EXISTS (replay); ERR_INVAL; database errors.
 */
LOOM_MUST_CHECK enum err jobdb_consume_nonce(struct jobdb *db, const char *address,
                                             const char *nonce, int64_t expires_unix);

/*
 * Apply one indexer batch: record each event not yet recorded (an event seen
 * twice, by (block hash, log index), is ignored), fold it into its job's
 * state, remember the batch's block hashes and move the checkpoint to
 * (to_block, its hash), all in one transaction.
 *   out: receives the jobs whose status changed (from = before the batch,
 *        to = after, each with its committed row), the checkpoint and
 *        counts; release with jobdb_changes_release().
 * A batch wholly at or below the checkpoint whose to_block hash matches the
 * stored one is a replay: ERR_OK with no changes.
 * Returns ERR_OK; ERR_INVAL (malformed batch: ranges, order, an event
 * outside the range or disagreeing with a block hash, bad amounts, an event
 * time after 9999-12-31 23:59:59 UTC or a negative deadline or expiry,
 * to_block missing from blocks); ERR_STATE (a gap after the checkpoint, or the first
 * new block's parent hash differs from the checkpoint's hash: a reorg, roll
 * back first; or a replayed range whose hash differs); database errors
 * (nothing applied). Costs about a dozen round trips whatever the batch's
 * size: one statement per kind of write over all its rows (the events go
 * in with one COPY).
 */
LOOM_MUST_CHECK enum err jobdb_apply_batch(struct jobdb *db, const struct jobdb_batch *b,
                                           struct jobdb_changes *out);

/*
 * Undo everything above block <fork->number>: delete those events and block
 * hashes, recompute the jobs they touched from their remaining events, and
 * set the checkpoint to <fork> (the last block both chains share). Progress
 * reported by a worker survives if the same worker still holds the job.
 *   out: receives the jobs whose status changed, with their committed rows,
 *        and the checkpoint (<fork>, or the stored one when nothing was
 *        above <fork>); release as above.
 * Returns ERR_OK (also when nothing is above <fork>); ERR_INVAL (a block
 * number over INT64_MAX); ERR_NOTFOUND (no checkpoint yet); ERR_STATE (the stored hash of
 * <fork->number> differs from <fork->hash>: that block is not shared); database errors.
 */
LOOM_MUST_CHECK enum err jobdb_rollback(struct jobdb *db, const struct jobdb_block *fork,
                                        struct jobdb_changes *out);

/* Read the checkpoint. Returns ERR_OK, ERR_NOTFOUND (nothing applied yet),
 * database errors. */
LOOM_MUST_CHECK enum err jobdb_get_checkpoint(struct jobdb *db, struct jobdb_checkpoint *out);

/* Read the stored hash of block <number> into <hash>. Returns ERR_OK,
 * ERR_NOTFOUND (not kept: never given, or older than JOBDB_KEEP_BLOCKS),
 * database errors. */
LOOM_MUST_CHECK enum err jobdb_block_hash(struct jobdb *db, uint64_t number, uint8_t hash[32]);

/*
 * List jobs the keeper should settle at <now_unix>, as LoomEscrow's
 * dueAction() decides (times must have passed: due_unix < now_unix):
 * release (SUBMITTED, challenge window over), refund (OPEN or WORKING, or a
 * funded-but-flagged PENDING job, past its deadline), reopen (WORKING, claim
 * expired, deadline not passed). Oldest due first, at most <limit>.
 *   out: receives a heap array (caller frees with free()), count in *n.
 * Returns ERR_OK; ERR_INVAL (limit 0 or over JOBDB_DUE_MAX); database errors.
 */
LOOM_MUST_CHECK enum err jobdb_due(struct jobdb *db, int64_t now_unix, size_t limit,
                                   struct jobdb_due **out, size_t *n);

#endif
