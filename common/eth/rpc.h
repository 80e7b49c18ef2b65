/*
 * rpc -- a blocking Ethereum JSON-RPC 2.0 client over HTTP(S).
 *
 * The only module that calls libcurl. One struct rpc holds one CURL easy
 * handle, so the TCP (and TLS) connection to the node is kept alive and
 * reused from call to call. Every call is one HTTP POST (a batch is one POST
 * too); responses are parsed strictly (see "Strict parsing" below) and typed
 * results come out as plain bytes so that this module depends on nothing else
 * in common/eth:
 *   - quantities up to 256 bits (wei amounts, fees): 32 big-endian bytes;
 *   - quantities that always fit 64 bits (block numbers, nonces, chain id,
 *     gas, log index, transaction index, timestamps): uint64_t;
 *   - addresses: 20 bytes; hashes and topics: 32 bytes;
 *   - DATA of any length: (pointer, length) owned by the result struct.
 * Not here: signing or encoding transactions (eth/tx), ABI (eth/abi), event
 * decoding, deciding what an error means for a job (the caller does), logging
 * (common/ code never logs; rpc_errmsg() gives the caller the text to log).
 *
 * Threading and libevent: every call BLOCKS the calling thread for up to
 * the worst case given under "Retry policy". A struct rpc belongs to one
 * thread at a time (it is not locked); use one per worker thread. A libevent
 * service therefore either calls it from a worker thread and hands the result
 * back to the event base (event_active() on an event made with
 * evthread_use_pthreads(), or a pipe), or, where a stall is acceptable (the
 * indexer's and keeper's single loops, which have nothing else to serve while
 * they wait for the chain), calls it straight from the event callback and
 * keeps timeout_ms short. Never call it from a gateway request callback.
 *
 * Retry policy (transport failures only). A call is retried when the request
 * may not have reached the node or the node said "try later":
 *   - connection refused, DNS failure, connect or total timeout, a connection
 *     that broke while sending or receiving, an empty reply;
 *   - HTTP 429 (rate limited) and HTTP 5xx (proxy or node overloaded).
 * A JSON-RPC error object is never retried: the node processed the request and
 * answered (e.g. "nonce too low"); repeating it gives the same answer, and the
 * caller must decide. Malformed responses (ERR_PROTO), over-size responses
 * (ERR_TOOBIG) and other HTTP statuses are not retried either.
 * Attempt k (1-based) that fails transiently is followed, if k < max_attempts,
 * by a sleep drawn uniformly from [0, min(backoff_max_ms,
 * backoff_base_ms * 2^(k-1))] ms: exponential backoff with "full jitter"
 * (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015), so many
 * clients that lost the same node do not come back in lockstep. Defaults:
 * 4 attempts, base 100 ms, cap 2000 ms: a node restart (anvil, a proxy
 * reload) of about a second is ridden out, and the worst case
 * (4 * timeout_ms + 0.1 + 0.2 + 0.4 s) stays well under a keeper or indexer
 * tick. Retrying eth_sendRawTransaction is safe: the same signed bytes have
 * the same hash, and a node that already has them answers "already known"
 * (see rpc_error_kind()), which the caller treats as success. Each attempt
 * reuses the request id.
 *
 * Strict parsing: a response whose "jsonrpc" is not "2.0", whose id does not
 * match the request, that holds both or neither of "result" and "error",
 * whose error object lacks an integer code or a string message, or whose
 * result has a bad hex string, a QUANTITY with a leading zero or over 256 bits
 * (64 for uint64_t fields), a DATA string of odd length, or a missing
 * required field, is ERR_PROTO with a message naming the field
 * (rpc_errmsg()). The one exception the JSON-RPC 2.0 spec requires: an error
 * response may carry "id": null (the node could not read our id).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_ETH_RPC_H
#define LOOM_ETH_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct rpc;
struct rpc_batch;

/* Defaults for struct rpc_opts fields left 0 (see "Retry policy"). */
#define RPC_DEFAULT_CONNECT_TIMEOUT_MS 3000  /* loopback or LAN node: fails fast */
#define RPC_DEFAULT_TIMEOUT_MS         15000 /* eth_getLogs over 10,000 logs fits */
#define RPC_DEFAULT_MAX_ATTEMPTS       4
#define RPC_DEFAULT_BACKOFF_BASE_MS    100
#define RPC_DEFAULT_BACKOFF_MAX_MS     2000
/* 32 MiB: providers cap eth_getLogs at 10,000 logs (Infura) or a 25 MB
 * response (geth's --rpc.batch-response-max-size default); a log is under 1
 * KiB of JSON unless its data is large. */
#define RPC_DEFAULT_MAX_RESPONSE_BYTES ((size_t)32 << 20)
/* geth's default --rpc.batch-request-limit. */
#define RPC_MAX_BATCH 1000

struct rpc_opts {
    const char *url;           /* http:// or https://; borrowed, copied by rpc_new */
    long connect_timeout_ms;   /* TCP (and TLS) connect limit per attempt; 0 = default */
    long timeout_ms;           /* whole request limit per attempt; 0 = default */
    unsigned max_attempts;     /* 1 = never retry; 0 = default */
    long backoff_base_ms;      /* first retry's backoff cap; 0 = default */
    long backoff_max_ms;       /* cap on any one backoff; 0 = default */
    size_t max_response_bytes; /* larger bodies fail with ERR_TOOBIG; 0 = default */
    int stamp_sent;            /* non-zero: keep rpc_last_sent_ns(); costs libcurl's
                                  verbose bookkeeping, a few microseconds a request */
};

/*
 * A JSON-RPC error object, passed up intact.
 *   code:       the node's code (-32000 for most geth/anvil errors, 3 for a
 *               revert with data, -32602 invalid params, ...).
 *   message:    the node's message, verbatim (NUL-terminated, owned).
 *   data_json:  the "data" member as compact JSON text, or NULL when absent.
 *   data/data_len: when "data" is a DATA hex string (revert data: an
 *               Error(string) or custom error), its bytes; else NULL, 0.
 */
struct rpc_error {
    int64_t code;
    char *message;
    char *data_json;
    uint8_t *data;
    size_t data_len;
};

/* Free what <e> owns and zero it. Accepts NULL. */
void rpc_error_release(struct rpc_error *e);

/* Well-known error messages, recognised across geth, anvil, Erigon, Nethermind
 * and hosted providers, so callers need not match text themselves. */
enum rpc_errkind {
    RPC_ERRKIND_OTHER = 0,
    RPC_ERRKIND_NONCE_TOO_LOW,      /* "nonce too low" */
    RPC_ERRKIND_ALREADY_KNOWN,      /* "already known", "already imported" */
    RPC_ERRKIND_UNDERPRICED,        /* "replacement transaction underpriced",
                                       "transaction underpriced" */
    RPC_ERRKIND_INSUFFICIENT_FUNDS, /* "insufficient funds" */
    RPC_ERRKIND_REVERTED,           /* "execution reverted", "revert" */
    RPC_ERRKIND_LOG_RANGE,          /* "exceeds block range", "block range",
                                       "more than 10000 results",
                                       "response size exceeded": split the
                                       eth_getLogs range and ask again */
};

/*
 * Classify <e> by a case-insensitive substring match of its message, in the
 * order of the enum. NULL gives RPC_ERRKIND_OTHER.
 */
enum rpc_errkind rpc_error_kind(const struct rpc_error *e);

/* Counters for /metrics; monotonic over the client's life. */
struct rpc_stats {
    uint64_t calls;         /* rpc_* calls and batches started */
    uint64_t http_requests; /* HTTP attempts, retries included */
    uint64_t retries;       /* attempts after the first */
    uint64_t rpc_errors;    /* calls that ended in ERR_RPC */
    uint64_t failures;      /* calls that ended in any other error */
};

/*
 * Create a client for <opts->url>. Does not connect (the first call does).
 *   opts: borrowed; url is copied. Zero fields take the defaults above.
 *   out:  set to the client, owned by the caller (rpc_free()).
 * Returns ERR_OK, ERR_INVAL (no url, not http(s)://, a negative field,
 * backoff_base_ms > backoff_max_ms), ERR_NOMEM, ERR_IO (libcurl would not
 * initialise).
 */
LOOM_MUST_CHECK enum err rpc_new(const struct rpc_opts *opts, struct rpc **out);

/* Close the connection and free <c>. Accepts NULL. */
void rpc_free(struct rpc *c);

/*
 * Text describing the last failure of a call on <c> (transport, HTTP status,
 * or what was malformed), for the caller's log line: "connect: Connection
 * refused", "response: field \"hash\": bad hex". For ERR_RPC it is
 * "<code>: <message>". Never contains the URL's path, query or user
 * information, where providers put API keys (libcurl's text may name the
 * host and port).
 * Borrowed from <c>, valid until the next call; "" after success.
 */
const char *rpc_errmsg(const struct rpc *c);

/*
 * The error object of the last call that returned ERR_RPC; NULL otherwise.
 * Borrowed from <c>, valid until the next call on <c>.
 */
const struct rpc_error *rpc_last_error(const struct rpc *c);

/* Copy the counters of <c> into *out. */
void rpc_get_stats(const struct rpc *c, struct rpc_stats *out);

/*
 * When the last call's request had been completely written to the node's
 * connection: CLOCK_MONOTONIC nanoseconds at which libcurl's write of the
 * request body's last byte returned (its last attempt's, after retries),
 * whatever the call then returned. That is "sent": the node may not have
 * read it yet, let alone answered. The stamp is taken after the write call
 * returns, so a thread preempted right after its write (by the receiver, on
 * the same core) stamps late: never earlier than the write. 0 when <c> was
 * made without rpc_opts.stamp_sent, before any call, or when the last
 * call's request was never completely written (no connection, a write that
 * failed).
 */
uint64_t rpc_last_sent_ns(const struct rpc *c);

/* A block reference: a number or one of the spec's tags. */
enum rpc_tag {
    RPC_TAG_NUMBER = 0,
    RPC_TAG_LATEST,
    RPC_TAG_PENDING,
    RPC_TAG_SAFE,
    RPC_TAG_FINALIZED,
    RPC_TAG_EARLIEST,
};
struct rpc_blockref {
    enum rpc_tag tag;
    uint64_t number; /* used when tag == RPC_TAG_NUMBER */
};
#define RPC_BLOCK_LATEST    ((struct rpc_blockref){RPC_TAG_LATEST, 0})
#define RPC_BLOCK_PENDING   ((struct rpc_blockref){RPC_TAG_PENDING, 0})
#define RPC_BLOCK_SAFE      ((struct rpc_blockref){RPC_TAG_SAFE, 0})
#define RPC_BLOCK_FINALIZED ((struct rpc_blockref){RPC_TAG_FINALIZED, 0})
#define RPC_BLOCK_NUM(n)    ((struct rpc_blockref){RPC_TAG_NUMBER, (n)})

/*
 * Every call below blocks (see the file comment) and returns, besides what it
 * lists:
 *   ERR_RPC         the node answered with an error object: rpc_last_error();
 *   ERR_TIMEDOUT    the last attempt hit connect_timeout_ms or timeout_ms;
 *   ERR_UNAVAILABLE connection refused / DNS failure / HTTP 429 or 5xx after
 *                   the last attempt;
 *   ERR_IO          another transport failure after the last attempt;
 *   ERR_AUTH        HTTP 401 or 403 (a missing or wrong API key);
 *   ERR_PROTO       a malformed response, or another HTTP status;
 *   ERR_TOOBIG      the response passed max_response_bytes;
 *   ERR_NOMEM.
 * rpc_errmsg() says which. Outputs are written only on ERR_OK.
 */

/*
 * Call <method> with <params_json> and return the raw "result".
 *   method:      borrowed; letters, digits and '_' only ("evm_mine").
 *   params_json: borrowed JSON text of an array or object; NULL means "[]".
 *   result_json: set to the result as compact JSON text ("null" included),
 *                malloc'd, freed by the caller with free().
 *   result_len:  set to its length; may be NULL.
 * Also ERR_INVAL (a bad method name, params not a JSON array or object).
 */
LOOM_MUST_CHECK enum err rpc_call_raw(struct rpc *c, const char *method, const char *params_json,
                                      char **result_json, size_t *result_len);

/* eth_chainId: the chain id (EIP-695), e.g. 31337 for anvil. */
LOOM_MUST_CHECK enum err rpc_chain_id(struct rpc *c, uint64_t *chain_id);

/* eth_blockNumber: the number of the latest block. */
LOOM_MUST_CHECK enum err rpc_block_number(struct rpc *c, uint64_t *number);

/*
 * A block header, as eth_getBlockByNumber returns it (transactions are not
 * fetched: the second parameter is false).
 *   has_hash:     0 for a pending block, whose hash the node does not know.
 *   has_base_fee: 0 before London (EIP-1559), when baseFeePerGas is absent.
 */
struct rpc_block {
    uint64_t number;
    int has_hash;
    uint8_t hash[32];
    uint8_t parent_hash[32];
    uint64_t timestamp; /* seconds since the Unix epoch */
    int has_base_fee;
    uint8_t base_fee_per_gas[32]; /* wei, big-endian */
    uint64_t gas_limit;
    uint64_t gas_used;
};

/*
 * eth_getBlockByNumber(<ref>, false) into *out.
 * Also ERR_NOTFOUND (the node answered null: no such block yet).
 */
LOOM_MUST_CHECK enum err rpc_get_block(struct rpc *c, struct rpc_blockref ref,
                                       struct rpc_block *out);

/*
 * One event log. Logs of pending blocks (null block fields) are rejected as
 * ERR_PROTO: The Loom reads mined blocks only.
 *   data: owned by the log (non-NULL even when data_len is 0).
 *   removed: 1 when a reorganisation dropped the log (only filters report it).
 */
struct rpc_log {
    uint8_t address[20];
    size_t n_topics; /* 0-4 */
    uint8_t topics[4][32];
    uint8_t *data;
    size_t data_len;
    uint64_t block_number;
    uint8_t block_hash[32];
    uint8_t tx_hash[32];
    uint64_t tx_index;
    uint64_t log_index;
    int removed;
};

/* A list of logs; items owned. Zero-initialise or fill by a call. */
struct rpc_logs {
    struct rpc_log *items;
    size_t count;
};

/* Free what <l> owns and zero it. Accepts NULL. */
void rpc_logs_release(struct rpc_logs *l);

/*
 * One topic position of a filter: n == 0 matches anything (null on the wire),
 * n == 1 one value, n > 1 any of the values (an OR-list).
 */
struct rpc_topic_filter {
    const uint8_t (*any_of)[32]; /* borrowed; n entries */
    size_t n;
};

/*
 * An eth_getLogs filter. All pointers borrowed.
 *   addresses/n_addresses: 0 = any contract; 1 or more = those.
 *   topics/n_topics: positions 0..n_topics-1 (n_topics <= 4); later
 *                    positions match anything.
 */
struct rpc_log_filter {
    struct rpc_blockref from_block;
    struct rpc_blockref to_block;
    const uint8_t (*addresses)[20];
    size_t n_addresses;
    struct rpc_topic_filter topics[4];
    size_t n_topics;
};

/*
 * eth_getLogs(<filter>) into *out (the node's order: by block, then log
 * index). Also ERR_INVAL (n_topics > 4). Nodes refuse wide ranges with
 * ERR_RPC: rpc_error_kind() gives RPC_ERRKIND_LOG_RANGE; split the range.
 */
LOOM_MUST_CHECK enum err rpc_get_logs(struct rpc *c, const struct rpc_log_filter *filter,
                                      struct rpc_logs *out);

/*
 * A message call (eth_call, eth_estimateGas). All pointers borrowed.
 *   to:    NULL for contract creation (eth_estimateGas only).
 *   from:  NULL to let the node choose (the zero address).
 *   data:  calldata, data_len bytes; NULL when data_len is 0.
 *   value: wei, 32 bytes big-endian; NULL for none.
 *   gas:   0 to let the node choose.
 */
struct rpc_tx_call {
    const uint8_t *to;
    const uint8_t *from;
    const uint8_t *data;
    size_t data_len;
    const uint8_t *value;
    uint64_t gas;
};

/*
 * eth_call(<msg>, <ref>): the returned bytes in *out (malloc'd, non-NULL even
 * when empty; the caller frees with free()) and *out_len. A revert is ERR_RPC
 * (RPC_ERRKIND_REVERTED) with the revert data in rpc_last_error()->data.
 * Also ERR_INVAL (to is NULL).
 */
LOOM_MUST_CHECK enum err rpc_eth_call(struct rpc *c, const struct rpc_tx_call *msg,
                                      struct rpc_blockref ref, uint8_t **out, size_t *out_len);

/* eth_estimateGas(<msg>) against the latest block: gas units in *gas. */
LOOM_MUST_CHECK enum err rpc_estimate_gas(struct rpc *c, const struct rpc_tx_call *msg,
                                          uint64_t *gas);

/*
 * eth_feeHistory result (execution-apis spec; EIP-1559 fee market).
 *   oldest_block:     number of the first block described.
 *   n_blocks:         blocks described (may be fewer than asked near genesis).
 *   base_fee_per_gas: n_blocks + 1 entries of 32 bytes (wei): the last one is
 *                     the next block's base fee.
 *   gas_used_ratio:   n_blocks entries in [0, 1].
 *   reward:           n_blocks * n_percentiles entries of 32 bytes (wei),
 *                     row-major (block i, percentile j at i * n_percentiles
 *                     + j); NULL when no percentiles were asked.
 */
struct rpc_fee_history {
    uint64_t oldest_block;
    size_t n_blocks;
    uint8_t (*base_fee_per_gas)[32];
    double *gas_used_ratio;
    size_t n_percentiles;
    uint8_t (*reward)[32];
};

/* Free what <h> owns and zero it. Accepts NULL. */
void rpc_fee_history_release(struct rpc_fee_history *h);

/*
 * eth_feeHistory(<block_count>, <newest>, <percentiles>).
 *   block_count: 1..1024 (geth's cap).
 *   percentiles: borrowed, n_percentiles values, increasing, in [0, 100]; may
 *                be NULL when n_percentiles is 0. At most 100.
 * Also ERR_INVAL (bounds above).
 */
LOOM_MUST_CHECK enum err rpc_fee_history(struct rpc *c, uint64_t block_count,
                                         struct rpc_blockref newest, const double *percentiles,
                                         size_t n_percentiles, struct rpc_fee_history *out);

/* eth_maxPriorityFeePerGas: a suggested tip in wei (32 bytes big-endian). */
LOOM_MUST_CHECK enum err rpc_max_priority_fee(struct rpc *c, uint8_t wei[32]);

/*
 * eth_getTransactionCount(<address>, <ref>): the nonce of the next
 * transaction. Use RPC_BLOCK_PENDING to count transactions in the pool too.
 */
LOOM_MUST_CHECK enum err rpc_get_transaction_count(struct rpc *c, const uint8_t address[20],
                                                   struct rpc_blockref ref, uint64_t *nonce);

/* eth_getBalance(<address>, <ref>) in wei (32 bytes big-endian). */
LOOM_MUST_CHECK enum err rpc_get_balance(struct rpc *c, const uint8_t address[20],
                                         struct rpc_blockref ref, uint8_t wei[32]);

/*
 * eth_sendRawTransaction(<raw>): submit a signed transaction (raw: borrowed,
 * len bytes, the EIP-2718 envelope) and return its hash in <tx_hash>.
 * Rejections are ERR_RPC: see rpc_error_kind() for nonce too low, already
 * known, underpriced, insufficient funds.
 */
LOOM_MUST_CHECK enum err rpc_send_raw_transaction(struct rpc *c, const uint8_t *raw, size_t len,
                                                  uint8_t tx_hash[32]);

/*
 * A transaction receipt (post-Byzantium: status per EIP-658).
 *   status: 1 success, 0 reverted.
 *   has_to: 0 for contract creation; contract_address is then set
 *           (has_contract_address).
 *   logs: owned; release with rpc_receipt_release().
 */
struct rpc_receipt {
    uint8_t tx_hash[32];
    int status;
    uint8_t from[20];
    int has_to;
    uint8_t to[20];
    int has_contract_address;
    uint8_t contract_address[20];
    uint64_t block_number;
    uint8_t block_hash[32];
    uint64_t tx_index;
    uint64_t gas_used;
    uint8_t effective_gas_price[32]; /* wei per gas, big-endian */
    struct rpc_logs logs;
};

/* Free what <r> owns and zero it. Accepts NULL. */
void rpc_receipt_release(struct rpc_receipt *r);

/*
 * eth_getTransactionReceipt(<tx_hash>) into *out.
 * Also ERR_NOTFOUND: the node answered null (pending, dropped or unknown).
 */
LOOM_MUST_CHECK enum err rpc_get_receipt(struct rpc *c, const uint8_t tx_hash[32],
                                         struct rpc_receipt *out);

/*
 * Batches: N calls in one HTTP request, answered in any order and matched by
 * id (JSON-RPC 2.0 "Batch"). Build with rpc_batch_add*, send with
 * rpc_call_batch(), read each answer with rpc_batch_result() and, for the
 * typed adders, the rpc_parse_* function named there. A batch belongs to one
 * thread and may be sent again (answers are replaced).
 */

/* Create an empty batch, owned by the caller (rpc_batch_free()). */
LOOM_MUST_CHECK enum err rpc_batch_new(struct rpc_batch **out);

/* Free <b> and every answer in it. Accepts NULL. */
void rpc_batch_free(struct rpc_batch *b);

/* Number of calls in <b>. */
size_t rpc_batch_count(const struct rpc_batch *b);

/*
 * Add a call of <method> with <params_json> (both borrowed, copied; rules as
 * rpc_call_raw) to <b>; *index (may be NULL) gets its position.
 * Returns ERR_OK, ERR_INVAL, ERR_TOOBIG (more than RPC_MAX_BATCH), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err rpc_batch_add(struct rpc_batch *b, const char *method,
                                       const char *params_json, size_t *index);

/* Add eth_getBlockByNumber(<ref>, false); parse with rpc_parse_block().
 * Errors as rpc_batch_add(). */
LOOM_MUST_CHECK enum err rpc_batch_add_get_block(struct rpc_batch *b, struct rpc_blockref ref,
                                                 size_t *index);

/* Add eth_getLogs(<filter>); parse with rpc_parse_logs(). Errors as
 * rpc_batch_add(). */
LOOM_MUST_CHECK enum err rpc_batch_add_get_logs(struct rpc_batch *b,
                                                const struct rpc_log_filter *filter, size_t *index);

/* Add eth_getTransactionReceipt(<tx_hash>); parse with rpc_parse_receipt().
 * Errors as rpc_batch_add(). */
LOOM_MUST_CHECK enum err rpc_batch_add_get_receipt(struct rpc_batch *b, const uint8_t tx_hash[32],
                                                   size_t *index);

/*
 * Send every call of <b> in one HTTP request and store each answer.
 * Returns ERR_OK when every call has an answer (a result or an error object:
 * see rpc_batch_result()); ERR_INVAL for an empty batch; ERR_RPC when the
 * node rejected the whole batch with one error object (rpc_last_error());
 * ERR_PROTO when the answer is not an array of exactly one response per call
 * with distinct, matching ids; the transport errors listed above.
 */
LOOM_MUST_CHECK enum err rpc_call_batch(struct rpc *c, struct rpc_batch *b);

/*
 * The answer to call <i> of the last rpc_call_batch() on <b>.
 *   result_json/result_len: on ERR_OK the result as compact JSON text,
 *                           borrowed from <b> (valid until it is sent again
 *                           or freed); result_len may be NULL.
 *   error: on ERR_RPC the error object, borrowed from <b>; may be NULL.
 * Returns ERR_OK, ERR_RPC, ERR_INVAL (i out of range), ERR_STATE (not sent,
 * or the last send failed).
 */
LOOM_MUST_CHECK enum err rpc_batch_result(const struct rpc_batch *b, size_t i,
                                          const char **result_json, size_t *result_len,
                                          const struct rpc_error **error);

/*
 * Parsers of the "result" member, as JSON text (borrowed, <len> bytes, need
 * not be NUL-terminated). The typed calls above use them; they serve batch
 * answers and the fuzzer. On failure they return ERR_PROTO (a message naming
 * the field is appended to <why> when it is not NULL), ERR_NOTFOUND for a
 * null block or receipt, or ERR_NOMEM; outputs are written only on ERR_OK.
 */
LOOM_MUST_CHECK enum err rpc_parse_u64(const char *json, size_t len, uint64_t *out,
                                       struct buf *why);
LOOM_MUST_CHECK enum err rpc_parse_u256(const char *json, size_t len, uint8_t out[32],
                                        struct buf *why);
LOOM_MUST_CHECK enum err rpc_parse_block(const char *json, size_t len, struct rpc_block *out,
                                         struct buf *why);
LOOM_MUST_CHECK enum err rpc_parse_logs(const char *json, size_t len, struct rpc_logs *out,
                                        struct buf *why);
LOOM_MUST_CHECK enum err rpc_parse_receipt(const char *json, size_t len, struct rpc_receipt *out,
                                           struct buf *why);
/* n_percentiles: how many were asked (reward rows must have that length). */
LOOM_MUST_CHECK enum err rpc_parse_fee_history(const char *json, size_t len, size_t n_percentiles,
                                               struct rpc_fee_history *out, struct buf *why);

/*
 * Parse a whole single-call response <body> (<len> bytes) to request id
 * <id>, as rpc_call_raw() does after the HTTP exchange.
 *   result_json/result_len: on ERR_OK, the result as compact JSON text
 *                           (malloc'd, the caller frees).
 *   error: on ERR_RPC, filled (the caller releases with rpc_error_release()).
 * Returns ERR_OK, ERR_RPC, ERR_PROTO (with <why> as above), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err rpc_parse_response(const char *body, size_t len, uint64_t id,
                                            char **result_json, size_t *result_len,
                                            struct rpc_error *error, struct buf *why);

/*
 * Parse a batch response <body> to the calls of <b>, sent with ids
 * first_id .. first_id + count - 1, and store the answers in <b>, as
 * rpc_call_batch() does. <error> receives a whole-batch error object
 * (ERR_RPC). Returns as rpc_call_batch() after the HTTP exchange.
 */
LOOM_MUST_CHECK enum err rpc_batch_parse_response(struct rpc_batch *b, uint64_t first_id,
                                                  const char *body, size_t len,
                                                  struct rpc_error *error, struct buf *why);

#endif
