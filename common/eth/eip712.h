/*
 * eip712 -- typed structured data hashing and signing (EIP-712).
 *
 * Struct types are described in C tables (name and member list, members
 * as "type name" pairs); values are struct abi_value trees with one item
 * per member in declaration order. Member types: the ABI's atomic types
 * (uint<N>, int<N>, address, bool, bytes<N>), bytes and string (hashed),
 * other struct types of the same table (hashed recursively), and arrays
 * T[] / T[k] of any of these. The Loom signs its API requests with this
 * (string, bytes32, uint256, address members). Not here: the JSON form of
 * typed data (eth_signTypedData_v4's input). Threading: pure functions.
 * Source: EIP-712, "Specification" (encodeType, encodeData, hashStruct,
 * domainSeparator, "\x19\x01" || domainSeparator || hashStruct(message)).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_ETH_EIP712_H
#define LOOM_ETH_EIP712_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "eth/abi.h"
#include "eth/ecdsa.h"

struct key;

#define EIP712_MAX_DEPTH 16 /* struct nesting followed while hashing */

struct eip712_member {
    const char *type; /* "string", "uint256", "Person", "Person[]", ... */
    const char *name;
};

struct eip712_type {
    const char *name; /* e.g. "Mail" */
    const struct eip712_member *members;
    size_t n_members;
};

/* A set of struct types; all borrowed, typically static tables. */
struct eip712_types {
    const struct eip712_type *types;
    size_t n_types;
};

/* The standard domain fields; absent ones are left out of EIP712Domain. */
struct eip712_domain {
    const char *name;    /* NULL: absent */
    const char *version; /* NULL: absent */
    bool has_chain_id;
    uint64_t chain_id;
    bool has_verifying_contract;
    uint8_t verifying_contract[20];
    bool has_salt;
    uint8_t salt[32];
};

/*
 * Append encodeType(<primary>) to <out>: the primary type, then every
 * struct type it references (transitively) sorted by name, each as
 * "Name(type1 name1,type2 name2)". Returns ERR_OK, ERR_NOTFOUND (a
 * referenced type is neither atomic/dynamic nor in <ts>), ERR_INVAL (a
 * malformed member type), ERR_TOOBIG, ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err eip712_encode_type(const struct eip712_types *ts, const char *primary,
                                            struct buf *out);

/* typeHash = keccak256(encodeType(primary)). Errors as eip712_encode_type(). */
LOOM_MUST_CHECK enum err eip712_type_hash(const struct eip712_types *ts, const char *primary,
                                          uint8_t out[32]);

/*
 * Append encodeData(<primary>, <v>) to <out>: typeHash followed by one
 * 32-byte word per member. <v> is a tuple with one item per member.
 * Returns ERR_OK, the errors of eip712_encode_type(), ERR_INVAL (item
 * counts do not match the types, a fixed array of the wrong length),
 * ERR_RANGE (an atomic value outside its type), ERR_TOOBIG (nesting past
 * EIP712_MAX_DEPTH), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err eip712_encode_data(const struct eip712_types *ts, const char *primary,
                                            const struct abi_value *v, struct buf *out);

/* hashStruct = keccak256(encodeData(primary, v)). Errors as eip712_encode_data(). */
LOOM_MUST_CHECK enum err eip712_hash_struct(const struct eip712_types *ts, const char *primary,
                                            const struct abi_value *v, uint8_t out[32]);

/*
 * domainSeparator = hashStruct(EIP712Domain) over the fields <d> has, in
 * EIP-712's order (name, version, chainId, verifyingContract, salt).
 * Returns ERR_OK or ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err eip712_domain_separator(const struct eip712_domain *d, uint8_t out[32]);

/* keccak256("\x19\x01" || domain_separator || struct_hash) into <out>. */
void eip712_digest(const uint8_t domain_separator[32], const uint8_t struct_hash[32],
                   uint8_t out[32]);

/*
 * Sign the EIP-712 digest of (domain_separator, struct_hash) with <k>
 * into *out (RFC 6979, low s). Returns ERR_OK or ERR_CRYPTO.
 */
LOOM_MUST_CHECK enum err eip712_sign(const struct key *k, const uint8_t domain_separator[32],
                                     const uint8_t struct_hash[32], struct sig *out);

/*
 * Recover the signer of the EIP-712 digest from the 65-byte <rsv>
 * (v 27/28 or 0/1). Returns ERR_OK, ERR_INVAL (bad v), ERR_CRYPTO.
 */
LOOM_MUST_CHECK enum err eip712_recover(const uint8_t domain_separator[32],
                                        const uint8_t struct_hash[32], const uint8_t rsv[65],
                                        uint8_t addr[20]);

#endif
