/*
 * upkeep -- the escrow's Chainlink Automation interface, as bytes.
 *
 * Encodes checkUpkeep(bytes) and performUpkeep(bytes) calldata, decodes
 * checkUpkeep's answer and a performUpkeep calldata (to adopt a transaction
 * found in the keeper's journal after a restart), and reads a mined
 * performUpkeep receipt: which jobs it settled and how many it skipped.
 * Shapes (contracts/src/LoomEscrow.sol, "automation"):
 *   checkData   = abi.encode(bytes32[] candidates), at most UPKEEP_CHECK_MAX
 *   performData = abi.encode((bytes32 jobId, uint8 action)[]), at most
 *                 UPKEEP_BATCH_MAX items; action 1 release, 2 refund, 3 reopen
 *   checkUpkeep returns (bool upkeepNeeded, bytes performData)
 * Not here: RPC calls, batching policy, logging. Threading: pure functions.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_KEEPER_UPKEEP_H
#define LOOM_KEEPER_UPKEEP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct rpc_receipt;

/* LoomEscrow.MAX_BATCH: most items performUpkeep takes and checkUpkeep returns. */
#define UPKEEP_BATCH_MAX 100
/* Candidates the keeper passes to one checkUpkeep: one batch, so that every
 * due candidate comes back (the contract returns at most MAX_BATCH items). */
#define UPKEEP_CHECK_MAX 100

/* LoomEscrow.Action, numbered as in the contract. */
enum upkeep_action {
    UPKEEP_NONE = 0,
    UPKEEP_RELEASE = 1, /* challenge window over: pay the worker */
    UPKEEP_REFUND = 2,  /* deadline passed without a submission: refund the client */
    UPKEEP_REOPEN = 3,  /* claim ran past its max runtime: reopen the job */
};

/* One (jobId, action) pair; due_at (Unix seconds, 0 = unknown) travels with
 * it for the lag metric and is not on the wire. */
struct upkeep_item {
    uint8_t job_id[32];
    enum upkeep_action action;
    int64_t due_at;
};

/* "release", "refund", "reopen", "none". Static storage. */
const char *upkeep_action_name(enum upkeep_action a);

/*
 * Append checkUpkeep(abi.encode(ids)) calldata to <out>.
 *   ids: borrowed, <n> job ids, 1..UPKEEP_CHECK_MAX.
 * Returns ERR_OK, ERR_INVAL (n out of range), ERR_TOOBIG, ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err upkeep_encode_check(const uint8_t (*ids)[32], size_t n, struct buf *out);

/*
 * Decode checkUpkeep's return data (<data>, <len> bytes, borrowed, from the
 * node: untrusted) into <out> (room for <cap> items; due_at set to 0).
 * *n_out gets the count (0 when upkeepNeeded is false).
 * Returns ERR_OK, ERR_PROTO (not a well-formed (bool,bytes) holding Item[],
 * an action outside 1..3, upkeepNeeded inconsistent with the count),
 * ERR_TOOBIG (more than <cap> items), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err upkeep_decode_check_result(const uint8_t *data, size_t len,
                                                    struct upkeep_item *out, size_t cap,
                                                    size_t *n_out);

/*
 * Append performUpkeep(abi.encode(items)) calldata to <out>.
 *   items: borrowed, 1..UPKEEP_BATCH_MAX, actions 1..3.
 * Returns ERR_OK, ERR_INVAL (count or action out of range), ERR_TOOBIG,
 * ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err upkeep_encode_perform(const struct upkeep_item *items, size_t n,
                                               struct buf *out);

/*
 * Decode performUpkeep calldata (selector included) into <out> (room for
 * UPKEEP_BATCH_MAX items; due_at 0) and *n_out. The inverse of
 * upkeep_encode_perform(). Returns ERR_OK, ERR_INVAL (another selector,
 * malformed ABI, a bad action, more than UPKEEP_BATCH_MAX items), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err upkeep_decode_perform(const uint8_t *data, size_t len,
                                               struct upkeep_item *out, size_t *n_out);

/* What a mined performUpkeep did, read from its receipt's logs. */
struct upkeep_outcome {
    uint8_t (*settled)[32]; /* job ids, in log order; owned (upkeep_outcome_release) */
    enum upkeep_action *actions; /* per settled job: the event that settled it */
    size_t n_settled;
    int has_performed; /* an UpkeepPerformed event from <escrow> was found */
    uint64_t performed_settled; /* its counts */
    uint64_t performed_skipped;
};

/* Free what <o> owns and zero it. Accepts NULL. */
void upkeep_outcome_release(struct upkeep_outcome *o);

/*
 * Read the logs of <r> (borrowed) emitted by <escrow>: PaymentReleased,
 * JobRefunded and JobReopened name the settled jobs (topic 1); UpkeepPerformed
 * gives the counts. Logs of other contracts are ignored. *out is filled
 * (release it with upkeep_outcome_release(), also after a failure).
 * Returns ERR_OK, ERR_PROTO (one of these events with a malformed topic list
 * or data), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err upkeep_read_receipt(const struct rpc_receipt *r, const uint8_t escrow[20],
                                             struct upkeep_outcome *out);

#endif
