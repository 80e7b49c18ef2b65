/*
 * hex -- hexadecimal text for byte strings: the one owner of hex digits in
 * the tree. Encoders write lower case, with an optional "0x" prefix (the way
 * Ethereum JSON-RPC and tools write it); decoders take digits of either case.
 * Stricter grammars (JSON-RPC QUANTITY/DATA, "0x" required, fixed lengths)
 * live with their callers and use these functions for the digits.
 *
 * Not here: quantities (minimal hex for numbers: see eth/u256.h, eth/hexq.h),
 * EIP-55 checksums (eth/key.h). Threading: pure functions.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_HEX_H
#define LOOM_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

/*
 * Write <len> bytes of <data> as lower-case hex into <out>, which must hold
 * 2*len + 1 bytes (+2 more when <prefix> is true, for "0x"). Always
 * NUL-terminates. Cannot fail.
 */
void hex_encode(const void *data, size_t len, bool prefix, char *out);

/*
 * Append "0x" (when <prefix>) and the lower-case hex of <data> to <b>.
 * Returns ERR_OK, or the errors of buf_append (ERR_TOOBIG, ERR_NOMEM).
 */
LOOM_MUST_CHECK enum err hex_append(struct buf *b, const void *data, size_t len, bool prefix);

/*
 * Decode hex text <s> of <slen> characters (an optional "0x"/"0X" prefix,
 * then an even number of hex digits of either case) into <out>, which holds
 * <out_cap> bytes; the decoded length goes to *out_len.
 * Returns ERR_OK, ERR_INVAL (odd length or a non-hex character), ERR_TOOBIG
 * (more than out_cap bytes; <out> is then unspecified).
 */
LOOM_MUST_CHECK enum err hex_decode(const char *s, size_t slen, uint8_t *out, size_t out_cap,
                                    size_t *out_len);

/*
 * Decode hex text <s> (NUL-terminated, optional 0x) that must give exactly
 * <n> bytes into <out>. Returns ERR_OK or ERR_INVAL (bad digit, or another
 * length than n).
 */
LOOM_MUST_CHECK enum err hex_decode_exact(const char *s, uint8_t *out, size_t n);

/*
 * Decode hex text <s> (NUL-terminated, optional 0x) of any even length into
 * <b>, appending. Returns ERR_OK, ERR_INVAL, ERR_TOOBIG, ERR_NOMEM; on error
 * <b> keeps its previous length.
 */
LOOM_MUST_CHECK enum err hex_decode_buf(const char *s, struct buf *b);

/* Return the value of hex digit <c> (0-15), or -1 if it is not one. */
int hex_digit(int c);

/*
 * True if all <len> characters at <s> (borrowed, need not be NUL-terminated)
 * are hex digits of either case; true for len 0. No prefix is skipped.
 */
bool hex_is_digits(const char *s, size_t len);

/*
 * Decode exactly 2*<n> hex digits at <s> (borrowed, either case, no prefix,
 * need not be NUL-terminated) into the <n> bytes of <out>. For callers whose
 * grammar (prefix, length) is checked elsewhere.
 * Returns ERR_OK or ERR_INVAL (a character that is not a hex digit); <out> is
 * unchanged on error.
 */
LOOM_MUST_CHECK enum err hex_decode_digits(const char *s, size_t n, uint8_t *out);

#endif
