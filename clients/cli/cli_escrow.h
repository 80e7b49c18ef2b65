/*
 * cli_escrow -- the client's side of LoomEscrow (docs/contracts.md): reading
 * the deployment file, quotes and job reads with eth_call, and the client's
 * transactions (create, accept, dispute, withdraw) as EIP-1559
 * transactions signed with the client's key, sent, and waited for.
 *
 * Job ids: the gateway's numeric job id N becomes the escrow reference
 * ref = bytes32(uint256(N)) (big-endian, left-padded), and the on-chain id
 * is the contract's jobIdOf(client, ref) = keccak256(abi.encode(client,
 * ref)), computed here without a call (docs/cli.md "Job ids").
 * Fees (EIP-1559): tip = eth_maxPriorityFeePerGas; max fee per gas =
 * 2 x the latest block's base fee + tip, the rule ethers.js's getFeeData
 * uses, which keeps the transaction valid through six full blocks of base
 * fee increases (12.5 % each, EIP-1559). Gas limit = eth_estimateGas +
 * 20 %: the estimate is exact for the state it ran on, and a job's state
 * can change before the transaction is mined. Nonce = the pending count.
 * Receipts are polled (JSON-RPC over HTTP has no subscription) every
 * 100 ms, backing off to 1 s, until the caller's timeout.
 * Reverts are reported by the contract's custom error name
 * ("NotClient(bytes32)"), decoded from the revert data.
 * Not here: printing, the gateway. Threading: one thread; calls block.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_CLI_CLI_ESCROW_H
#define LOOM_CLI_CLI_ESCROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "eth/rpc.h"
#include "eth/u256.h"

struct key;
struct cli_escrow;

/* What the CLI reads from contracts/deploy.sh's JSON. */
struct cli_escrow_deployment {
    uint64_t chain_id;
    uint8_t escrow[20];
};

/*
 * Read deploy.sh's JSON at <path> (keys "chainId" and "escrow"; the rest is
 * ignored). <why> receives the reason on failure.
 * Returns ERR_OK, ERR_NOTFOUND (no such file), ERR_IO, ERR_TOOBIG (over
 * 16 MiB), ERR_INVAL (not JSON, or a key missing or malformed).
 */
LOOM_MUST_CHECK enum err
cli_escrow_load_deployment(const char *path, struct cli_escrow_deployment *out, struct buf *why);

/*
 * Open the escrow of <deployment_path> through the node at <rpc_url> and
 * check that the node's eth_chainId is the deployment's (a key must never
 * sign for another chain).
 *   timeout_ms: per JSON-RPC call.
 * Returns ERR_OK; cli_escrow_load_deployment()'s errors; ERR_STATE (chain id
 * mismatch); rpc.h's errors for eth_chainId. <why> says which.
 */
LOOM_MUST_CHECK enum err cli_escrow_open(const char *rpc_url, const char *deployment_path,
                                         long timeout_ms, struct cli_escrow **out, struct buf *why);

/* Free <x>. Accepts NULL. */
void cli_escrow_free(struct cli_escrow *x);

/* The deployment <x> was opened with. Borrowed. */
const struct cli_escrow_deployment *cli_escrow_deployment(const struct cli_escrow *x);

/* The escrow reference of gateway job <id>: bytes32(uint256(id)). */
void cli_escrow_ref_of(int64_t id, uint8_t ref[32]);

/* jobIdOf(client, ref) = keccak256(abi.encode(client, ref)). */
void cli_escrow_job_id(const uint8_t client[20], const uint8_t ref[32], uint8_t out[32]);

/* getJob's fields (docs/contracts.md "getJob"). */
struct cli_escrow_job {
    uint8_t client[20]; /* zero: no such job */
    struct u256 amount_wei;
    uint8_t worker[20];
    int status; /* 0 None, 1 Open, 2 Claimed, 3 Submitted, 4 Disputed, 5 Released,
                   6 Refunded, 7 Resolved */
    uint32_t deadline, expiry, max_runtime_s, window_s;
    uint64_t price_cents;
    uint8_t spec_hash[32];
};

/* Name of getJob status <s> ("Open"), "?" when out of range. Static. */
const char *cli_escrow_status_name(int s);

/*
 * eth_call quote(<cents>): the wei create needs now. Returns ERR_OK;
 * ERR_RPC (the call reverted: a stale feed names StalePrice); rpc.h's
 * errors; ERR_PROTO (an answer that is not one word). <why> says which.
 */
LOOM_MUST_CHECK enum err cli_escrow_quote(struct cli_escrow *x, uint64_t cents, struct u256 *wei,
                                          struct buf *why);

/* eth_call getJob(<job_id>). Errors as cli_escrow_quote(). */
LOOM_MUST_CHECK enum err cli_escrow_get_job(struct cli_escrow *x, const uint8_t job_id[32],
                                            struct cli_escrow_job *out, struct buf *why);

/* eth_call balanceOf(<addr>): withdrawable wei. Errors as cli_escrow_quote(). */
LOOM_MUST_CHECK enum err cli_escrow_balance_of(struct cli_escrow *x, const uint8_t addr[20],
                                               struct u256 *wei, struct buf *why);

/* The latest block's timestamp (unix s): the contract's "now", which on a
 * test chain need not be the wall clock. Errors as cli_escrow_quote(). */
LOOM_MUST_CHECK enum err cli_escrow_now(struct cli_escrow *x, uint64_t *unix_s, struct buf *why);

/* Calldata builders (abi_encode_call), appended to <out>: errors of buf. */
LOOM_MUST_CHECK enum err cli_escrow_calldata_create(const uint8_t ref[32], uint64_t price_cents,
                                                    const uint8_t spec_hash[32], uint32_t deadline,
                                                    uint32_t max_runtime_s, uint32_t window_s,
                                                    struct buf *out);
/* <fn> is "accept" or "dispute": fn(bytes32 jobId). */
LOOM_MUST_CHECK enum err cli_escrow_calldata_job(const char *fn, const uint8_t job_id[32],
                                                 struct buf *out);
LOOM_MUST_CHECK enum err cli_escrow_calldata_withdraw(struct buf *out);
/* The arbiter's ruling: resolve(bytes32 jobId, uint256 toWorker). */
LOOM_MUST_CHECK enum err cli_escrow_calldata_resolve(const uint8_t job_id[32],
                                                     struct u256 to_worker, struct buf *out);

/* A mined transaction. */
struct cli_escrow_sent {
    uint8_t tx_hash[32];
    struct u256 fee_wei;        /* gas used x effective gas price */
    struct rpc_receipt receipt; /* owned: rpc_receipt_release() */
};

/*
 * Send <calldata> (<len> bytes) with <value_wei> to the escrow from <k>
 * (borrowed) as an EIP-1559 transaction (fees, gas and nonce as in the file
 * comment), and wait up to <timeout_s> for its receipt.
 * Returns ERR_OK (mined with status 1; out->receipt holds the logs);
 * ERR_RPC (the node refused it or the estimate reverted: <why> has the
 * node's message or the contract's error, e.g. "insufficient funds for gas
 * * price + value" or "NotClient(bytes32)"); ERR_STATE (mined but
 * reverted); ERR_TIMEDOUT (no receipt in time: <why> holds the hash, the
 * transaction may still be mined); rpc.h's transport errors; ERR_CRYPTO.
 * On failure out->receipt is empty.
 */
LOOM_MUST_CHECK enum err cli_escrow_send(struct cli_escrow *x, const struct key *k,
                                         const uint8_t *calldata, size_t len, struct u256 value_wei,
                                         long timeout_s, struct cli_escrow_sent *out,
                                         struct buf *why);

/*
 * Decode the contract's revert data (<len> bytes) into <out>: the custom
 * error's name and types ("NotClient(bytes32)"), "Error: <reason>" for
 * Error(string), else the selector in hex. Errors of buf.
 */
LOOM_MUST_CHECK enum err cli_escrow_revert_reason(const uint8_t *data, size_t len, struct buf *out);

/* JobCreated's topic 0 (docs/contracts.md "Events"). */
extern const char cli_escrow_job_created_sig[];

#endif
