/*
 * validate -- checks for the untrusted strings the gateway accepts: file
 * names, Ethereum addresses, decimal integers, nonces, sha256 hex.
 *
 * Pure functions on NUL-terminated input; nothing allocates, nothing logs.
 * Not here: JSON (codec), signatures (auth).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_GW_VALIDATE_H
#define LOOM_GW_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Longest accepted file name, in bytes (the common NAME_MAX). */
#define VALIDATE_FILENAME_MAX 255

/*
 * Check that <name> is safe as a file label: 1..VALIDATE_FILENAME_MAX bytes,
 * no '/', no '\\', no ".." anywhere, not ".", no byte below 0x20 and no 0x7f.
 * The store never uses these names as paths (objects are named by sha256),
 * so this is defence in depth and a clean label for downloads.
 * Returns ERR_OK or ERR_INVAL.
 */
LOOM_MUST_CHECK enum err validate_filename(const char *name);

/* Check "0x" followed by exactly 40 hex digits (any case; EIP-55 checksums
 * are not enforced). Returns ERR_OK or ERR_INVAL. */
LOOM_MUST_CHECK enum err validate_address(const char *s);

/* Check exactly 64 lower-case hex digits. Returns ERR_OK or ERR_INVAL. */
LOOM_MUST_CHECK enum err validate_sha256_hex(const char *s);

/* Check a request nonce: 8..64 bytes of [A-Za-z0-9_-]. ERR_OK or ERR_INVAL. */
LOOM_MUST_CHECK enum err validate_nonce(const char *s);

/*
 * Parse a decimal integer in [min, max]: optional '-', then 1..19 digits,
 * nothing else (no spaces, no '+', no leading zeros except "0").
 * Returns ERR_OK (*out set), ERR_INVAL (not a number) or ERR_RANGE.
 */
LOOM_MUST_CHECK enum err validate_int64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Compare two addresses ignoring the case of hex digits. Non-zero if equal. */
int validate_address_equal(const char *a, const char *b);

#endif
