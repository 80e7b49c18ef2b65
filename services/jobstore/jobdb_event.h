/*
 * jobdb_event -- the LoomEscrow events the job store applies, decoded.
 *
 * One C struct holds any of them (struct jobdb_event), and one table
 * (jobdb_event.c, `abis`) says for each Solidity event its parameters in
 * declaration order, which are indexed, and which struct field each lands
 * in. When the contract's events change, that table is the one place to
 * edit: the signature strings (whose keccak-256 is topic 0), the decoder
 * below and the job store all follow it. The table mirrors
 * contracts/src/LoomEscrow.sol; decoding follows the Solidity ABI
 * specification ("Events": indexed static arguments are topics 1..3, the
 * others are 32-byte words of the data, in order).
 * Not here: keccak-256 of the signatures and matching topic 0 (the indexer,
 * with common/eth), storing events (jobdb.h).
 * Threading: pure functions and constant tables.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_JOBDB_EVENT_H
#define LOOM_JOBDB_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct buf;

enum jobdb_event_kind {
    JOBDB_EV_CREATED = 0, /* JobCreated: funding; PENDING -> OPEN (or flagged) */
    JOBDB_EV_CLAIMED,     /* JobClaimed: -> WORKING */
    JOBDB_EV_SUBMITTED,   /* JobSubmitted: -> SUBMITTED */
    JOBDB_EV_RELEASED,    /* PaymentReleased (by_client = the client accepted) -> COMPLETED */
    JOBDB_EV_DISPUTED,    /* JobDisputed: -> DISPUTED */
    JOBDB_EV_RESOLVED,    /* DisputeResolved: -> COMPLETED if to_worker > 0, else REFUNDED */
    JOBDB_EV_REOPENED,    /* JobReopened: lapsed claim -> OPEN */
    JOBDB_EV_REFUNDED,    /* JobRefunded: -> REFUNDED */
    JOBDB_EV_WITHDRAWN,   /* Withdrawn: a pull payment; no job */
    JOBDB_EV__COUNT
};

/* Room for a uint256 in decimal (78 digits) and its NUL. */
#define JOBDB_WEI_DEC_MAX 80

/*
 * One decoded event with where it happened. Fields a kind does not carry
 * stay zero (amounts ""). Binary values are big-endian, as on chain; the
 * amounts are decimal text made by jobdb_event_decode() (or by the caller
 * from a uint256), never copied from untrusted text.
 */
struct jobdb_event {
    enum jobdb_event_kind kind;
    uint64_t block_number;
    uint8_t block_hash[32];
    uint32_t log_index; /* position of the log in its block */
    uint8_t tx_hash[32];
    int64_t block_time_unix;

    uint8_t job_id[32]; /* bytes32 jobId */
    uint8_t client[20];
    uint8_t worker[20];
    uint8_t account[20];                 /* Withdrawn: who was paid */
    uint8_t to[20];                      /* Withdrawn: where the wei went */
    uint8_t ref[32];                     /* JobCreated: the client's reference */
    char amount_wei[JOBDB_WEI_DEC_MAX];  /* escrowed, released, refunded, withdrawn; or toWorker */
    char amount2_wei[JOBDB_WEI_DEC_MAX]; /* DisputeResolved: toClient */
    uint64_t price_usd_cents;
    uint8_t spec_hash[32];
    uint8_t result_hash[32];
    int64_t deadline_unix;
    int64_t expires_unix; /* JobClaimed: claim expiry; JobSubmitted: window end */
    uint32_t max_runtime_s, window_s;
    int by_client; /* PaymentReleased: 1 when the client accepted */
};

/* Where one ABI parameter goes in struct jobdb_event. */
enum jobdb_event_field {
    JOBDB_F_IGNORE = 0,
    JOBDB_F_JOB_ID,
    JOBDB_F_CLIENT,
    JOBDB_F_WORKER,
    JOBDB_F_ACCOUNT,
    JOBDB_F_TO,
    JOBDB_F_REF,
    JOBDB_F_AMOUNT_WEI,
    JOBDB_F_AMOUNT2_WEI,
    JOBDB_F_USD_CENTS,
    JOBDB_F_SPEC_HASH,
    JOBDB_F_RESULT_HASH,
    JOBDB_F_DEADLINE,
    JOBDB_F_EXPIRES,
    JOBDB_F_MAX_RUNTIME,
    JOBDB_F_WINDOW,
    JOBDB_F_BY_CLIENT,
};

struct jobdb_event_param {
    const char *abi_type; /* "bytes32", "address", "uint32", "uint64", "uint256", "bool" */
    int indexed;
    enum jobdb_event_field field;
};

#define JOBDB_EVENT_MAX_PARAMS 10

struct jobdb_event_abi {
    enum jobdb_event_kind kind;
    const char *name; /* Solidity event name, also stored in chain_events.kind */
    size_t n_params;
    struct jobdb_event_param params[JOBDB_EVENT_MAX_PARAMS];
};

/* The table entry of <kind> (static storage). <kind> must be valid. */
const struct jobdb_event_abi *jobdb_event_abi(enum jobdb_event_kind kind);

/* Find the kind whose Solidity name is <name>. ERR_OK or ERR_NOTFOUND. */
LOOM_MUST_CHECK enum err jobdb_event_kind_by_name(const char *name, enum jobdb_event_kind *out);

/*
 * Append the canonical signature of <kind> to <out>, e.g.
 * "JobClaimed(bytes32,address,address,uint32)"; its keccak-256 is topic 0.
 * Returns ERR_OK or buf_append()'s errors.
 */
LOOM_MUST_CHECK enum err jobdb_event_signature(enum jobdb_event_kind kind, struct buf *out);

/*
 * Decode one log of kind <kind> into the event fields of <out> (block
 * fields and kind are left for the caller / set to <kind>; everything else
 * is zeroed first).
 *   topics: n_topics 32-byte topics, topic 0 being the signature hash
 *           (not checked here: the caller matched it to <kind>). Borrowed.
 *   data:   data_len bytes of non-indexed words. Borrowed.
 * Returns ERR_OK; ERR_PROTO (wrong topic count or data length, an address
 * or uintN word with bits set above its width, a bool other than 0 or 1).
 */
LOOM_MUST_CHECK enum err jobdb_event_decode(enum jobdb_event_kind kind, const uint8_t (*topics)[32],
                                            size_t n_topics, const uint8_t *data, size_t data_len,
                                            struct jobdb_event *out);

#endif
