/*
 * u256 -- 256-bit unsigned integers for money and EVM words.
 *
 * A small value type passed by value. Arithmetic never wraps: overflow,
 * underflow and division by zero are errors. Parsing and printing in
 * decimal and hex, big-endian bytes (EVM words), and the unit conversions
 * The Loom needs: wei / gwei / ether and USD cents to wei through a
 * Chainlink price. Not here: signed numbers (abi.h handles int<N> as
 * two's-complement words), fractions beyond what the conversions need.
 * Threading: pure functions.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_ETH_U256_H
#define LOOM_ETH_U256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Little-endian 64-bit limbs: w[0] is the least significant. */
struct u256 {
    uint64_t w[4];
};

#define U256_DEC_MAX   79 /* 78 digits of 2^256-1 plus NUL */
#define U256_HEX_MAX   67 /* "0x" + 64 digits + NUL */
#define U256_UNITS_MAX 96 /* a formatted amount with up to 77 decimals, a unit word and NUL */

#define WEI_PER_GWEI  1000000000ULL          /* 10^9 */
#define WEI_PER_ETHER 1000000000000000000ULL /* 10^18 */

/* Return <v> as a u256. */
struct u256 u256_from_u64(uint64_t v);

/* Return true when <a> is zero. */
bool u256_is_zero(struct u256 a);

/* Return -1, 0 or 1 as <a> is less than, equal to or greater than <b>. */
int u256_cmp(struct u256 a, struct u256 b);

/* *out = a + b. Returns ERR_OK or ERR_RANGE (the sum passes 2^256-1; *out unchanged). */
LOOM_MUST_CHECK enum err u256_add(struct u256 a, struct u256 b, struct u256 *out);

/* *out = a - b. Returns ERR_OK or ERR_RANGE (b > a; *out unchanged). */
LOOM_MUST_CHECK enum err u256_sub(struct u256 a, struct u256 b, struct u256 *out);

/* *out = a * b. Returns ERR_OK or ERR_RANGE (the product passes 2^256-1; *out unchanged). */
LOOM_MUST_CHECK enum err u256_mul(struct u256 a, struct u256 b, struct u256 *out);

/*
 * Truncating division: *quot = a / b and *rem = a % b (either pointer may
 * be NULL). Returns ERR_OK or ERR_RANGE (b is zero; outputs unchanged).
 */
LOOM_MUST_CHECK enum err u256_divmod(struct u256 a, struct u256 b, struct u256 *quot,
                                     struct u256 *rem);

/* *out = a as uint64_t. Returns ERR_OK or ERR_RANGE (a > UINT64_MAX). */
LOOM_MUST_CHECK enum err u256_to_u64(struct u256 a, uint64_t *out);

/*
 * Read a big-endian unsigned integer of <len> bytes (any length; leading
 * zero bytes allowed) into *out. Returns ERR_OK or ERR_RANGE (the value
 * needs more than 256 bits).
 */
LOOM_MUST_CHECK enum err u256_from_be(const uint8_t *p, size_t len, struct u256 *out);

/* Write <a> as a 32-byte big-endian EVM word to <out>. */
void u256_to_be(struct u256 a, uint8_t out[32]);

/* Return the number of bytes of the minimal big-endian form of <a> (0 for zero). */
size_t u256_byte_len(struct u256 a);

/*
 * Parse a decimal string of digits only (no sign, no spaces, at least one
 * digit; leading zeros allowed). Returns ERR_OK, ERR_INVAL (empty or a
 * non-digit), ERR_RANGE (over 2^256-1).
 */
LOOM_MUST_CHECK enum err u256_parse_dec(const char *s, struct u256 *out);

/*
 * Parse "0x"-prefixed (or bare) hex of 1 to 64 significant digits, either
 * case; leading zeros allowed. Returns ERR_OK, ERR_INVAL, ERR_RANGE.
 */
LOOM_MUST_CHECK enum err u256_parse_hex(const char *s, struct u256 *out);

/* Parse hex when <s> starts with 0x/0X, else decimal. Errors as above. */
LOOM_MUST_CHECK enum err u256_parse(const char *s, struct u256 *out);

/* Write <a> in decimal to <out> (U256_DEC_MAX bytes), NUL-terminated. */
void u256_to_dec(struct u256 a, char out[U256_DEC_MAX]);

/*
 * Write <a> as a JSON-RPC quantity (minimal lower-case hex with "0x", "0x0"
 * for zero; Ethereum JSON-RPC spec "quantities") to <out> (U256_HEX_MAX bytes).
 */
void u256_to_hex(struct u256 a, char out[U256_HEX_MAX]);

/*
 * Parse a decimal amount with an optional fraction ("1", "0.0125", "12.")
 * scaled by 10^<decimals> (0..77): u256_parse_units("0.0125", 18) is
 * 12500000000000000. Returns ERR_OK, ERR_INVAL (not a plain decimal, or
 * more fraction digits than <decimals>: no silent rounding), ERR_RANGE.
 */
LOOM_MUST_CHECK enum err u256_parse_units(const char *s, unsigned decimals, struct u256 *out);

/*
 * Format <a> / 10^<decimals> (decimals 0..77) exactly, without trailing
 * fraction zeros, followed by " <unit>" when <unit> is not NULL:
 * (12500000000000000, 18, "ETH") gives "0.0125 ETH"; zero gives "0 ETH".
 * <out> holds <cap> bytes. Returns ERR_OK, ERR_TOOBIG (out too small),
 * ERR_INVAL (decimals over 77).
 */
LOOM_MUST_CHECK enum err u256_format_units(struct u256 a, unsigned decimals, const char *unit,
                                           char *out, size_t cap);

/* Format wei as ether: u256_format_units(wei, 18, "ETH", ...). Same errors. */
LOOM_MUST_CHECK enum err u256_format_ether(struct u256 wei, char *out, size_t cap);

/* Format wei as gwei: u256_format_units(wei, 9, "gwei", ...). Same errors. */
LOOM_MUST_CHECK enum err u256_format_gwei(struct u256 wei, char *out, size_t cap);

/* *wei = gwei * 10^9. Returns ERR_OK or ERR_RANGE. */
LOOM_MUST_CHECK enum err u256_gwei_to_wei(struct u256 gwei, struct u256 *wei);

/* *wei = ether * 10^18 (whole ether). Returns ERR_OK or ERR_RANGE. */
LOOM_MUST_CHECK enum err u256_ether_to_wei(struct u256 ether, struct u256 *wei);

/*
 * Convert a USD price in cents to wei with a Chainlink USD-per-ETH answer:
 *
 *   wei = ceil(usd_cents * 10^(18 + feed_decimals - 2) / answer)
 *
 * (1 ETH = 10^18 wei; answer is USD per ETH scaled by 10^feed_decimals; the
 * -2 turns cents into dollars). For the ETH/USD feeds feed_decimals is 8
 * (Chainlink data feeds docs: "ETH / USD", 8 decimals), so
 * wei = ceil(usd_cents * 10^24 / answer). Rounding is up: this is what a
 * client must pay, and it matches the escrow contract, which also rounds
 * up so that the payment never falls short of the USD price.
 *   answer:        the feed's latestRoundData answer; must be > 0 (a
 *                  negative int256 answer is the caller's to reject).
 *   feed_decimals: the feed's decimals(), 2..36.
 * Returns ERR_OK or ERR_INVAL (answer zero, decimals out of range). Within
 * these bounds the product (at most (2^64-1) * 10^52) cannot overflow.
 */
LOOM_MUST_CHECK enum err u256_usd_cents_to_wei(uint64_t usd_cents, struct u256 answer,
                                               unsigned feed_decimals, struct u256 *wei);

/* *out = 10^<n>. Returns ERR_OK or ERR_RANGE (n > 77). */
LOOM_MUST_CHECK enum err u256_pow10(unsigned n, struct u256 *out);

#endif
