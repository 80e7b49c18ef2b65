/*
 * escrowlog -- LoomEscrow's job events, from raw logs to proto events.
 *
 * Holds the seven event signatures the job store follows (the events of
 * contracts/src/LoomEscrow.sol that move a job: JobCreated, JobClaimed,
 * JobSubmitted, PaymentReleased, JobDisputed, JobReopened, JobRefunded),
 * their topic 0 (keccak-256 of the canonical signature, Solidity ABI
 * specification "Events"), and turns one eth_getLogs entry into a struct
 * proto_event with exactly the fields proto/cmd.h lists for that event.
 * Not here: fetching logs (chain.h), deciding what a job's status becomes
 * (the job store), logging (the caller logs). The contract's other events
 * (DisputeResolved, SurplusCredited, Withdrawn, PausedSet, UpkeepPerformed)
 * have no proto event yet and are not requested.
 * Threading: an escrowlog is read-only after escrowlog_new(); share it freely.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_INDEXER_ESCROWLOG_H
#define LOOM_INDEXER_ESCROWLOG_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "proto.h"

struct rpc_log;
struct proto_event;
struct escrowlog;

/* Number of followed events: PROTO_EV__COUNT, one per enum proto_event_name. */
#define ESCROWLOG_N_EVENTS ((size_t)PROTO_EV__COUNT)

/*
 * Parse the event signatures into *out (owned by the caller, escrowlog_free()).
 * Returns ERR_OK or ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err escrowlog_new(struct escrowlog **out);

/* Free <el>. Accepts NULL. */
void escrowlog_free(struct escrowlog *el);

/*
 * The topic 0 of every followed event, indexed by enum proto_event_name
 * (for eth_getLogs' OR-list in topic position 0). Borrowed from <el>.
 */
const uint8_t (*escrowlog_topics(const struct escrowlog *el))[32];

/* The Solidity signature of event <name> ("JobClaimed(bytes32 indexed jobId,
 * ...)"). Static storage; <name> must be below PROTO_EV__COUNT. */
const char *escrowlog_signature(enum proto_event_name name);

/*
 * Decode <log> (borrowed) into *out: block number and hash, tx hash, log
 * index, the event name and its fields. *out is overwritten; it owns nothing.
 * Returns ERR_OK; ERR_NOTFOUND (topic 0 is none of the seven: not an event
 * the job store follows); ERR_INVAL (the topics or data do not decode as
 * the event's ABI, dirty padding included); ERR_RANGE (a value outside the
 * wire protocol's bounds: a block number or log index above 2^53-1, a price
 * above PROTO_PRICE_CENTS_MAX, a max runtime of 0 or above
 * PROTO_RUNTIME_MAX_S, which the contract allows up to 365 days);
 * ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err escrowlog_decode(const struct escrowlog *el, const struct rpc_log *log,
                                          struct proto_event *out);

#endif
