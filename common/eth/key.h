/*
 * key -- Ethereum private keys and addresses.
 *
 * Loads a secret key from a 0600 file owned by the user (DESIGN.md:
 * secrets come from files, never from command lines), derives its address
 * (last 20 bytes of keccak256 of the 64-byte public key; yellow paper
 * eq. 284), and writes and checks EIP-55 mixed-case checksum addresses.
 * Key bytes are wiped with explicit_bzero, which the compiler cannot drop.
 * Not here: signing (ecdsa.h), transactions (tx.h). Never logs, never
 * prints a key. Threading: pure functions apart from the file read.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_ETH_KEY_H
#define LOOM_ETH_KEY_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define KEY_ADDR_HEX_MAX 43 /* "0x" + 40 hex digits + NUL */

/* A secret key and its address. Embed it, and key_wipe() it when done. */
struct key {
    uint8_t priv[32]; /* secret; never log or copy into messages */
    uint8_t addr[20]; /* derived address */
};

/*
 * Set *out from the 32-byte big-endian secret <priv> (borrowed; the caller
 * wipes its own copy). Returns ERR_OK or ERR_CRYPTO (zero or >= the curve
 * order n).
 */
LOOM_MUST_CHECK enum err key_from_bytes(const uint8_t priv[32], struct key *out);

/*
 * Set *out from hex text: optional 0x, exactly 64 hex digits, then at most
 * one trailing "\n" or "\r\n". Returns ERR_OK, ERR_INVAL (bad text),
 * ERR_CRYPTO (invalid key).
 */
LOOM_MUST_CHECK enum err key_from_hex(const char *hex, struct key *out);

/*
 * Load the key file at <path>: a regular file (symbolic links are refused),
 * owned by the effective user, with no permission bits for group or others
 * (mode 0600 or 0400), holding the hex of key_from_hex(). Blocks on the read.
 *   why: optional (NULL allowed); on failure receives a one-line reason
 *        such as: key file "/k" has mode 0644, want 0600 (chmod 600 /k).
 * Returns ERR_OK, ERR_NOTFOUND (no such file), ERR_PERM (wrong mode or
 * owner, not a regular file, a link), ERR_IO (cannot open or read),
 * ERR_INVAL (content is not a key in hex), ERR_CRYPTO (invalid key).
 * The file's bytes are wiped from memory before returning.
 */
LOOM_MUST_CHECK enum err key_load_file(const char *path, struct key *out, struct buf *why);

/* Wipe <k> with a clear the compiler cannot remove. Accepts NULL. */
void key_wipe(struct key *k);

/* Derive the address of the 64-byte uncompressed public key X||Y. */
void key_pub_to_addr(const uint8_t pub[64], uint8_t addr[20]);

/*
 * Write <addr> as an EIP-55 checksummed "0x..." string (42 characters
 * and NUL) to <out>.
 */
void key_addr_to_checksum(const uint8_t addr[20], char out[KEY_ADDR_HEX_MAX]);

/*
 * Parse an address: "0x" and 40 hex digits. All-lower or all-upper digits
 * are accepted as they are; mixed case must be a valid EIP-55 checksum.
 * Returns ERR_OK or ERR_INVAL (bad length or digit, or a wrong checksum).
 */
LOOM_MUST_CHECK enum err key_addr_parse(const char *s, uint8_t addr[20]);

/* Return true when <s> is "0x" + 40 hex digits in exactly EIP-55 form. */
bool key_addr_is_checksummed(const char *s);

#endif
