/*
 * hexq -- the hex encodings of the Ethereum JSON-RPC API: QUANTITY and DATA.
 *
 * Source: the Ethereum JSON-RPC specification, "Hex value encoding"
 * (ethereum.org/developers/docs/apis/json-rpc and execution-apis):
 *   QUANTITY: "0x" then the shortest hex form; zero is "0x0". "0x", "0x00"
 *             and "0x0400" are invalid (no leading zeros, at least one digit).
 *   DATA:     "0x" then two hex digits per byte; "0x" is the empty string,
 *             odd lengths are invalid.
 * Parsers are strict: the prefix must be lower-case "0x"; digits may be upper
 * or lower case (nodes send lower case; checksummed addresses mix cases);
 * formatters write lower case. Quantities are 256-bit at most and come out as
 * 32 big-endian bytes, or as uint64_t where the caller knows the value fits.
 * Not here: JSON, checksummed (EIP-55) addresses, arithmetic (see u256).
 * Threading: pure functions, safe from any thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_ETH_HEXQ_H
#define LOOM_ETH_HEXQ_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

/*
 * Parse the QUANTITY text <s> (<len> bytes, borrowed, not NUL-terminated)
 * into *out.
 * Returns ERR_OK, ERR_INVAL (missing "0x", no digits, a leading zero, a
 * non-hex character), ERR_RANGE (the value needs more than 64 bits).
 * *out is unchanged on error.
 */
LOOM_MUST_CHECK enum err hexq_parse_u64(const char *s, size_t len, uint64_t *out);

/*
 * Parse the QUANTITY text <s> into 32 big-endian bytes in <out>.
 * Returns ERR_OK, ERR_INVAL (as hexq_parse_u64), ERR_RANGE (more than 64 hex
 * digits, i.e. over 256 bits). <out> is unchanged on error.
 */
LOOM_MUST_CHECK enum err hexq_parse_u256(const char *s, size_t len, uint8_t out[32]);

/*
 * Parse the DATA text <s>, which must encode exactly <n> bytes (an address is
 * 20, a hash 32), into <out>.
 * Returns ERR_OK, ERR_INVAL (missing "0x", odd length, bad digit, or a length
 * other than <n> bytes). <out> is unchanged on error.
 */
LOOM_MUST_CHECK enum err hexq_parse_fixed(const char *s, size_t len, uint8_t *out, size_t n);

/*
 * Parse the DATA text <s> of any even length into a new heap block.
 *   out:     set to a malloc'd block the caller frees with free(); set to a
 *            non-NULL 1-byte block when the data is empty ("0x"), so that
 *            NULL always means "absent".
 *   out_len: set to the number of bytes.
 * Returns ERR_OK, ERR_INVAL (as hexq_parse_fixed), ERR_NOMEM. Outputs are
 * unchanged on error.
 */
LOOM_MUST_CHECK enum err hexq_parse_data(const char *s, size_t len, uint8_t **out, size_t *out_len);

/* Append <v> as a QUANTITY ("0x0", "0x1f"). Errors as buf_append(). */
LOOM_MUST_CHECK enum err hexq_append_u64(struct buf *b, uint64_t v);

/* Append the 32 big-endian bytes <v> as a QUANTITY. Errors as buf_append(). */
LOOM_MUST_CHECK enum err hexq_append_u256(struct buf *b, const uint8_t v[32]);

/*
 * Append <n> bytes from <p> (borrowed; may be NULL when n is 0) as DATA
 * ("0x" then 2n lower-case digits). Errors as buf_append().
 */
LOOM_MUST_CHECK enum err hexq_append_data(struct buf *b, const uint8_t *p, size_t n);

#endif
