/*
 * jobmap -- the one translation between wire messages (proto/) and job
 * store rows (jobdb.h).
 *
 * Wire values are binary (addresses, hashes, uint256 as bytes); rows are
 * text ("0x" + hex, decimal wei). Everything that converts between the two,
 * and every default the service applies to a request, lives here, so the
 * request handlers (ops.c) read as "decode, call jobdb, encode".
 * Not here: running jobdb calls (ops.c), transport (server.c), logging.
 * Threading: pure functions; safe from any thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_JOBSTORE_JOBMAP_H
#define LOOM_JOBSTORE_JOBMAP_H

#include <stddef.h>
#include <stdint.h>

#include "cmd.h"
#include "proto/feed.h"
#include "jobdb.h"

/* Room for "0x" + 64 hex digits, "0x" + 40 hex digits, a price in
 * dollars ("1000000000.00"), each with its NUL. */
#define JOBMAP_HEX32_LEN 67
#define JOBMAP_ADDR_LEN  43
#define JOBMAP_PRICE_LEN 24

/*
 * The on-chain job id of job <id> of <client>: the escrow's
 * jobIdOf(client, ref) = keccak256(abi.encode(client, ref)) with
 * ref = bytes32(uint256(id)) (contracts/src/LoomEscrow.sol). The job store
 * fixes ref this way so that a client funds job <id> by calling
 * create(bytes32(id), ...) with no other value to remember.
 */
void jobmap_chain_job_id(const uint8_t client[20], int64_t id, uint8_t out[32]);

/* A job.create turned into jobdb's input; text fields live in the struct,
 * strings of <a> are borrowed (keep <a> alive while <in> is used). */
struct jobmap_new_job {
    struct jobdb_new_job in;
    char wallet[JOBMAP_ADDR_LEN], chain_id[JOBMAP_HEX32_LEN], spec[JOBMAP_HEX32_LEN];
    char price[JOBMAP_PRICE_LEN];
};

/*
 * Fill <out> from job.create args <a> for the reserved row id <id>: the
 * seed's price column as dollars with two decimals from price_usd_cents,
 * the chain job id from jobmap_chain_job_id(), the requested deadline and
 * runtime.
 * Returns ERR_OK; ERR_INVAL (no spec_sha256: the job store needs the spec's
 * hash to check the escrow's commitment, so the gateway hashes job.json
 * before it creates the job).
 */
LOOM_MUST_CHECK enum err jobmap_new_job(const struct proto_job_create *a, int64_t id,
                                        struct jobmap_new_job *out);

/*
 * Build the wire record of job row <row> with its history <h> (n_h entries,
 * oldest first; NULL and 0 for none) into <out> (overwritten; the caller
 * frees it with proto_job_release()). Chain terms (deadline, max runtime)
 * are the escrow's once funded, the requested ones before.
 * Returns ERR_OK; ERR_NOMEM; ERR_DB (a row that cannot be a wire record:
 * no max runtime, malformed hex or wei; only rows written outside the job
 * store can be so).
 */
LOOM_MUST_CHECK enum err jobmap_job(const struct jobdb_job *row,
                                    const struct jobdb_history_entry *h, size_t n_h,
                                    struct proto_job *out);

/*
 * Set the file list of wire record <job> (built by jobmap_job(); its
 * previous list is freed) from the <n> file rows <f> (borrowed; in the
 * order given). jobdb roles map to their wire names (input, spec, result).
 * Returns ERR_OK; ERR_NOMEM; ERR_DB (a row with a malformed sha256, a
 * negative size or an unknown role; <job>'s list is then empty).
 */
LOOM_MUST_CHECK enum err jobmap_job_files(const struct jobdb_file *f, size_t n,
                                          struct proto_job *job);

/* A job.list's filter in jobdb's form; addresses are stored in the struct. */
struct jobmap_filter {
    struct jobdb_filter f;
    char client[JOBMAP_ADDR_LEN], worker[JOBMAP_ADDR_LEN];
};

/* Default page size of job.list (PROTOCOL.md). */
#define JOBMAP_LIST_DEFAULT 50

/* Fill <out> from job.list args <a> (ascending ids, as the wire pages).
 * Cannot fail: the decoder validated <a>. */
void jobmap_filter(const struct proto_job_list *a, struct jobmap_filter *out);

/* A file record in jobdb's form; <a>'s strings are borrowed. The role is
 * "spec" for the name job.json, else "input". */
struct jobmap_file {
    struct jobdb_new_file f;
    char sha[JOBMAP_HEX32_LEN];
};
void jobmap_file(const struct proto_file *a, struct jobmap_file *out);

/*
 * Convert the wire event <ev> into jobdb's decoded event <out>
 * (overwritten), field by field as LoomEscrow's ABI names them.
 * Returns ERR_OK; ERR_INVAL (a log index or value jobdb cannot hold).
 */
LOOM_MUST_CHECK enum err jobmap_event(const struct proto_event *ev, struct jobdb_event *out);

/* A block reference in jobdb's form (parent hash unknown: zero). */
void jobmap_block(const struct proto_block_ref *b, struct jobdb_block *out);

/* One due job on the wire. */
void jobmap_due(const struct jobdb_due *d, struct proto_due *out);

/*
 * The feed message that announces <row>'s move to status <to> at <now_at>
 * (Unix s), into <out>: job.open.<type> when <to> is OPEN, job.closed when
 * it is WORKING..REFUNDED (with the transaction of that transition when the
 * row has it). *publish is set to 0 when the move announces nothing (to
 * PENDING).
 * Returns ERR_OK; ERR_DB (an OPEN row without escrow, spec or terms).
 */
LOOM_MUST_CHECK enum err jobmap_feed_change(const struct jobdb_job *row, enum jobdb_status to,
                                            int64_t now_at, struct proto_feed *out, int *publish);

/* The job.progress message for <row> (WORKING, with a worker) at <now_at>.
 * Returns ERR_OK or ERR_DB (no worker or malformed hex). */
LOOM_MUST_CHECK enum err jobmap_feed_progress(const struct jobdb_job *row, int64_t now_at,
                                              struct proto_feed *out);

/* The wire status of a jobdb status, and the reverse (same order). */
enum proto_job_status jobmap_status(enum jobdb_status s);

#endif
