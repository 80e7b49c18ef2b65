/*
 * tx -- Ethereum transactions: legacy with EIP-155 replay protection and
 * EIP-1559 (EIP-2718 type 2) fee-market transactions.
 *
 * Builds a transaction, computes its signing hash, signs it, writes the raw
 * bytes for eth_sendRawTransaction and the transaction hash, and decodes a
 * raw signed transaction of either type and recovers its sender. Not here:
 * nonce and fee estimation (callers ask the node through rpc.h), EIP-2930
 * (type 1) and blob (type 3) transactions. Threading: a struct tx belongs
 * to one thread.
 * Sources: EIP-155 (v = chain_id * 2 + 35 + y_parity; signing data with
 * chain_id, 0, 0), EIP-1559 and EIP-2718 (0x02 || rlp([chain_id, nonce,
 * max_priority_fee_per_gas, max_fee_per_gas, gas_limit, to, value, data,
 * access_list, y_parity, r, s])), EIP-2 (low s), EIP-2681 (nonce < 2^64-1).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_ETH_TX_H
#define LOOM_ETH_TX_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "eth/ecdsa.h"
#include "eth/u256.h"

struct key;

/* Caps on what tx_decode_raw() accepts (bytes): a block's gas limit keeps
 * real calldata far below these. */
#define TX_MAX_DATA        ((size_t)4 << 20)
#define TX_MAX_ACCESS_LIST ((size_t)1 << 20)

enum tx_type {
    TX_LEGACY = 0,  /* pre-EIP-2718; EIP-155 when chain_id > 0 */
    TX_EIP1559 = 2, /* EIP-1559 dynamic fee */
};

/* A transaction. Embed it; tx_init() before use, tx_release() after.
 * Callers set the fields directly; data and access_list are owned buffers. */
struct tx {
    enum tx_type type;
    uint64_t chain_id; /* 0 only for unprotected legacy transactions */
    uint64_t nonce;
    struct u256 gas_price;                /* wei per gas; legacy only */
    struct u256 max_priority_fee_per_gas; /* wei per gas; type 2 only */
    struct u256 max_fee_per_gas;          /* wei per gas; type 2 only */
    uint64_t gas_limit;                   /* gas units */
    bool has_to;                          /* false: contract creation */
    uint8_t to[20];
    struct u256 value;      /* wei */
    struct buf data;        /* calldata */
    struct buf access_list; /* type 2: RLP of the access list; empty means [] */
    bool is_signed;
    struct sig sig; /* valid when is_signed */
};

/* Initialise <t> as an unsigned transaction of <type> on <chain_id>, all
 * other fields zero, empty calldata and access list. Allocates nothing. */
void tx_init(struct tx *t, enum tx_type type, uint64_t chain_id);

/* Free what <t> holds; it can be tx_init()ed again. Accepts NULL. */
void tx_release(struct tx *t);

/*
 * Write the signing payload to <out> (appended): for legacy,
 * rlp([nonce, gas_price, gas_limit, to, value, data, chain_id, 0, 0])
 * (EIP-155; the first six fields only when chain_id is 0); for type 2,
 * 0x02 || rlp([chain_id, ..., access_list]). Returns ERR_OK, ERR_INVAL
 * (a legacy chain id too large for v, or an unknown type), ERR_TOOBIG,
 * ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err tx_signing_payload(const struct tx *t, struct buf *out);

/* keccak256 of tx_signing_payload() into <hash>. Same errors. */
LOOM_MUST_CHECK enum err tx_signing_hash(const struct tx *t, uint8_t hash[32]);

/*
 * Sign <t> with <k> (borrowed): sets t->sig and t->is_signed. RFC 6979,
 * low s. Returns ERR_OK, the errors of tx_signing_hash(), ERR_CRYPTO.
 */
LOOM_MUST_CHECK enum err tx_sign(struct tx *t, const struct key *k);

/*
 * Append the raw signed transaction (what eth_sendRawTransaction takes) to
 * <out>. Returns ERR_OK, ERR_STATE (not signed), ERR_INVAL, ERR_TOOBIG,
 * ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err tx_encode_raw(const struct tx *t, struct buf *out);

/* The transaction hash: keccak256 of tx_encode_raw(). Same errors. */
LOOM_MUST_CHECK enum err tx_hash(const struct tx *t, uint8_t hash[32]);

/*
 * Decode the raw signed transaction <raw> (<len> bytes, borrowed) into
 * <out>, which this call initialises (tx_release() it on success; on
 * failure it holds nothing). Strict: canonical RLP, canonical integers,
 * a 0- or 20-byte to, a well-formed access list, y_parity 0/1, a legacy v
 * of 27/28 (chain id 0) or chain_id*2+35/36, no trailing bytes.
 * Returns ERR_OK, ERR_INVAL (malformed), ERR_RANGE (a field too large),
 * ERR_VERSION (a transaction type other than legacy and 2), ERR_TOOBIG
 * (data or access list past the caps), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err tx_decode_raw(const uint8_t *raw, size_t len, struct tx *out);

/*
 * Recover the sender's address of signed <t>. Returns ERR_OK, ERR_STATE
 * (not signed), ERR_CRYPTO (bad signature, high s), the errors of
 * tx_signing_hash().
 */
LOOM_MUST_CHECK enum err tx_recover_sender(const struct tx *t, uint8_t addr[20]);

#endif
