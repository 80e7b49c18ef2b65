/*
 * abi -- the Solidity contract ABI: types, encoding, decoding, selectors,
 * event topics and log decoding (Solidity docs, "Contract ABI
 * Specification").
 *
 * Types come from strings such as "(uint256,bytes32[],(address,string))";
 * values are trees of struct abi_value that mirror the type. Encoding
 * checks that each value fits its type; decoding is strict: offsets and
 * lengths must stay inside the data, small integers, addresses, bools and
 * bytesN must have clean padding bits, and the work done is bounded by the
 * input size (aliased offsets cannot blow it up). Supported: uint8..uint256,
 * int8..int256 (steps of 8), address, bool, bytes1..bytes32, bytes, string,
 * T[], T[k], tuples, nested to ABI_MAX_DEPTH. Not here: fixed-point
 * numbers, function types, the JSON ABI format. Threading: pure functions.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_ETH_ABI_H
#define LOOM_ETH_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "eth/u256.h"

#define ABI_MAX_DEPTH     16                /* nesting of arrays and tuples in a type */
#define ABI_MAX_TYPE_LEN  4096              /* characters in a type or signature string */
#define ABI_MAX_FIXED_LEN ((size_t)1 << 16) /* k in T[k] */
#define ABI_MAX_STATIC    ((size_t)1 << 22) /* bytes of a static type's encoding */

enum abi_kind {
    ABI_UINT,    /* uint<size>, size in bits */
    ABI_INT,     /* int<size>, size in bits */
    ABI_ADDRESS, /* 20 bytes */
    ABI_BOOL,
    ABI_BYTES_N,     /* bytes<size>, size in bytes 1..32 */
    ABI_BYTES,       /* dynamic bytes */
    ABI_STRING,      /* dynamic UTF-8 (not validated) */
    ABI_ARRAY,       /* T[] */
    ABI_FIXED_ARRAY, /* T[length] */
    ABI_TUPLE,       /* (T1,...,Tn) */
};

/* A parsed type; read-only for callers, freed with abi_type_free(). */
struct abi_type {
    enum abi_kind kind;
    unsigned size;             /* bits (int/uint) or bytes (bytesN) */
    size_t length;             /* T[k] only */
    struct abi_type *elem;     /* arrays: element type */
    struct abi_type **members; /* tuples */
    size_t n_members;
};

/*
 * A value. Static scalars (uint, int, address, bool, bytesN) live in word,
 * exactly as their 32-byte ABI encoding (big endian; int in two's
 * complement; address right-aligned; bytesN left-aligned). bytes and
 * string live in bytes/len (owned, NUL-terminated for convenience).
 * Arrays and tuples own items[n_items]. Zero-initialise, fill with the
 * abi_value_* setters, release with abi_value_release().
 */
struct abi_value {
    uint8_t word[32];
    uint8_t *bytes;
    size_t len;
    struct abi_value *items;
    size_t n_items;
    bool is_topic_hash; /* abi_event_decode(): an indexed dynamic or composite
                           parameter, of which a log keeps only keccak256 (in word) */
};

/*
 * Parse a type string into *out (owned by the caller; abi_type_free()).
 * Accepts canonical names, the aliases uint/int (256 bits), "tuple(...)"
 * and "(...)" tuples whose members may carry names ("(address to,uint256
 * amount)"), and spaces around tokens. Returns ERR_OK, ERR_INVAL (syntax,
 * unknown type, bad size, an empty tuple inside another type),
 * ERR_TOOBIG (longer than ABI_MAX_TYPE_LEN, deeper than ABI_MAX_DEPTH, a
 * fixed length over ABI_MAX_FIXED_LEN or a static size over
 * ABI_MAX_STATIC), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err abi_type_parse(const char *s, struct abi_type **out);

/* Free a type from abi_type_parse(). Accepts NULL. */
void abi_type_free(struct abi_type *t);

/* Append the canonical form of <t> ("uint256", "(address,bytes32[2])"). Errors of buf. */
LOOM_MUST_CHECK enum err abi_type_canonical(const struct abi_type *t, struct buf *out);

/* Return true when <t> is dynamic in the ABI's sense (bytes, string, T[], or containing one). */
bool abi_type_is_dynamic(const struct abi_type *t);

/* Setters. Each overwrites the scalar word; none can fail except as noted. */
void abi_value_uint(struct abi_value *v, struct u256 x);
void abi_value_int64(struct abi_value *v, int64_t x);
/* Negative numbers as magnitude: -(mag) in two's complement, mag <= 2^255. */
LOOM_MUST_CHECK enum err abi_value_int_neg(struct abi_value *v, struct u256 mag);
void abi_value_address(struct abi_value *v, const uint8_t addr[20]);
void abi_value_bool(struct abi_value *v, bool b);
/* bytesN: <n> (1..32) bytes left-aligned. Returns ERR_OK or ERR_INVAL (n out of range). */
LOOM_MUST_CHECK enum err abi_value_fixed_bytes(struct abi_value *v, const void *p, size_t n);
/* bytes/string: copies <n> bytes of <p> (borrowed). ERR_OK or ERR_NOMEM. */
LOOM_MUST_CHECK enum err abi_value_bytes(struct abi_value *v, const void *p, size_t n);
/* Allocate <n> zeroed items (arrays/tuples), replacing any. ERR_OK or ERR_NOMEM. */
LOOM_MUST_CHECK enum err abi_value_items(struct abi_value *v, size_t n);

/* Read a uint/int word as unsigned 256 bits (int: its two's complement). */
struct u256 abi_value_u256(const struct abi_value *v);

/* Free what <v> owns (recursively) and zero it. Accepts NULL. */
void abi_value_release(struct abi_value *v);

/*
 * Append the ABI encoding of <v> as type <t> to <out>. For a parameter
 * list (function arguments, abi.encode(a, b)) pass a tuple type. Returns
 * ERR_OK, ERR_RANGE (a number outside its type, a bool other than 0/1,
 * dirty address or bytesN padding), ERR_INVAL (item count does not match
 * the type), ERR_TOOBIG, ERR_NOMEM. On error <out> keeps its old length.
 */
LOOM_MUST_CHECK enum err abi_encode(const struct abi_type *t, const struct abi_value *v,
                                    struct buf *out);

/*
 * Decode <len> bytes of <data> (borrowed) as type <t> into *out (zeroed
 * first; the caller releases it with abi_value_release(), also after a
 * failure). Trailing bytes after the encoding are allowed, as Solidity's
 * abi.decode allows them. Returns ERR_OK, ERR_INVAL (an offset or length
 * outside the data, truncated data, dirty padding or high bits, a bool
 * other than 0/1), ERR_TOOBIG (aliased offsets that would decode more
 * values or bytes than the input holds), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err abi_decode(const struct abi_type *t, const uint8_t *data, size_t len,
                                    struct abi_value *out);

/*
 * Compute the 4-byte function selector of signature <sig> ("transfer(address
 * to, uint256 amount)" or canonical): the first 4 bytes of keccak256 of the
 * canonical signature. Returns ERR_OK, the errors of abi_type_parse().
 */
LOOM_MUST_CHECK enum err abi_selector(const char *sig, uint8_t out[4]);

/*
 * Append selector(sig) || abi_encode(params, args) to <out>: calldata for
 * eth_call and transactions. <args> must be a tuple value matching the
 * parameter list. Errors of abi_selector() and abi_encode().
 */
LOOM_MUST_CHECK enum err abi_encode_call(const char *sig, const struct abi_value *args,
                                         struct buf *out);

/* A parsed event signature; see abi_event_parse(). Read-only for callers. */
struct abi_event {
    char *name;
    struct abi_type *params; /* a tuple of every parameter, in order */
    bool *indexed;           /* indexed[i] for params->members[i] */
    size_t n_indexed;
    uint8_t topic0[32]; /* keccak256 of the canonical signature */
};

/*
 * Parse an event signature with "indexed" markers and optional names,
 * e.g. "Transfer(address indexed from, address indexed to, uint256 value)"
 * into *out (owned; abi_event_free()). At most 3 indexed parameters
 * (non-anonymous events). Returns ERR_OK, ERR_INVAL, ERR_TOOBIG, ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err abi_event_parse(const char *sig, struct abi_event **out);

/* Free an event from abi_event_parse(). Accepts NULL. */
void abi_event_free(struct abi_event *ev);

/*
 * Compute an event's topic 0 (keccak256 of the canonical signature; names
 * and "indexed" dropped): "Transfer(address,address,uint256)" gives
 * ddf252ad... Returns ERR_OK, the errors of abi_event_parse().
 */
LOOM_MUST_CHECK enum err abi_event_topic(const char *sig, uint8_t out[32]);

/*
 * Decode a log against <ev>: <topics> (n_topics words of 32 bytes,
 * borrowed) and <data> (<len> bytes). *out becomes a tuple with one item
 * per parameter in declaration order: indexed value types decoded from
 * their topic (with the same padding checks as abi_decode), indexed
 * dynamic or composite types as the topic hash with is_topic_hash set,
 * the others from data. Release *out with abi_value_release(), also after
 * a failure. Returns ERR_OK, ERR_NOTFOUND (topic 0 is not this event's),
 * ERR_INVAL (wrong topic count, bad data), ERR_TOOBIG, ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err abi_event_decode(const struct abi_event *ev, const uint8_t (*topics)[32],
                                          size_t n_topics, const uint8_t *data, size_t len,
                                          struct abi_value *out);

#endif
