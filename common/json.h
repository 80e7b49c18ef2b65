/*
 * json -- strict, typed access to JSON over cJSON, with the failing field's path.
 *
 * Parsing caps the input size and the nesting depth (checked on the raw text
 * before cJSON recurses), rejects trailing garbage and duplicate keys. Typed
 * readers check a member's JSON type, its range or format, and on failure
 * record the path of the field ("args.events[2].block_hash") and a reason in
 * a caller-provided struct json_err. Builders add exact values (integers as
 * literal digits, never through a double) and json_print() writes compact
 * text into a struct buf.
 *
 * Value formats on the wire:
 *   integers   JSON numbers with an integral value, |x| <= 2^53 - 1
 *              (JavaScript's Number.MAX_SAFE_INTEGER, ECMA-262 21.1.2.6), so
 *              every JSON implementation reads them exactly. cJSON keeps only
 *              a double, so "1e3" and "1.0" read as 1000 and 1.
 *   hex bytes  "0x" + 2n hex digits, exactly n bytes; any case in, lower out.
 *   address    20 bytes as hex ("0x" + 40 digits); any case in, lower out.
 *              The EIP-55 checksum is common/eth's business, not this one.
 *   hash       32 bytes as hex ("0x" + 64 digits).
 *   uint256    an unsigned decimal string, "0" or no leading zeros, below
 *              2^256 (wei amounts; JSON numbers would lose precision). In C it
 *              is 32 big-endian bytes, the form the ABI encoder takes.
 *   strings    valid UTF-8 (RFC 3629), length caps in bytes.
 *
 * Not here: message schemas (proto/), EIP-55 (common/eth), logging.
 * Threading: no shared state; a cJSON tree and a json_err belong to one thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_JSON_H
#define LOOM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct cJSON;

/* Largest integer magnitude the readers and builders accept: 2^53 - 1. */
#define JSON_INT_MAX ((int64_t)9007199254740991)

/* Room for a field path and a reason; longer ones are truncated with "...". */
#define JSON_PATH_MAX 192
#define JSON_MSG_MAX  256

/*
 * Where and why a parse or a typed read failed. Also the path stack that
 * decoders push member names and array indexes onto while they descend.
 * Paths and reasons come from this code; input values are quoted in reasons
 * only after truncation, so the fixed arrays never overflow.
 */
struct json_err {
    enum err code;              /* ERR_OK until the first failure; later ones are ignored */
    char path[JSON_PATH_MAX];   /* the failing field, "" for the document itself */
    char message[JSON_MSG_MAX]; /* the reason, lower case, no trailing period */
    size_t path_len;            /* internal: length of the current path prefix */
};

/* Reader flags. */
#define JSON_OPTIONAL 0u
#define JSON_REQUIRED 1u /* absent or null member fails with "required" */

/* Empty <e>: no error, empty path. */
void json_err_init(struct json_err *e);

/*
 * Push a member name or an array index onto the path of <e> ("a" then ".b"
 * then "[3]"), returning a mark for json_path_pop(). After a failure the
 * path is frozen and these do nothing. <e> may be NULL (returns 0).
 */
size_t json_path_push(struct json_err *e, const char *key);
size_t json_path_push_index(struct json_err *e, size_t index);
void json_path_pop(struct json_err *e, size_t mark);

/*
 * Record a failure of member <key> (NULL: the current path itself) with
 * <code> and a printf-style reason, unless <e> already holds one (the first
 * failure wins). <e> may be NULL. Returns <code>, so callers can
 * `return json_fail(...)`.
 */
enum err json_fail(struct json_err *e, const char *key, enum err code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Parse <len> bytes of JSON text at <data> (borrowed; need not end in NUL).
 *   max_bytes: inputs longer than this fail with ERR_TOOBIG before parsing.
 *   max_depth: arrays and objects nested deeper than this fail with
 *              ERR_TOOBIG before cJSON sees the text (cJSON recurses).
 *   out:       on success the tree, owned by the caller (free with json_free()).
 * Returns ERR_OK; ERR_TOOBIG (size or depth); ERR_INVAL (empty input, a
 * syntax error, with its byte offset in the message, bytes after the value
 * other than whitespace, or a duplicate key, reported at its path). cJSON
 * does not tell allocation failure from a syntax error: both give ERR_INVAL;
 * ERR_NOMEM only from the duplicate-key check. Does not block or log.
 */
LOOM_MUST_CHECK enum err json_parse(const char *data, size_t len, size_t max_bytes,
                                    unsigned max_depth, struct cJSON **out, struct json_err *e);

/* Free a tree from json_parse() or json_new_object(). Accepts NULL. */
void json_free(struct cJSON *v);

/* Make an empty object in *out (caller frees with json_free()). ERR_NOMEM. */
LOOM_MUST_CHECK enum err json_new_object(struct cJSON **out);

/* Make an empty array and add it to <obj> under <key>; *out is borrowed from <obj>. */
LOOM_MUST_CHECK enum err json_add_array(struct cJSON *obj, const char *key, struct cJSON **out);

/* Make an empty object and add it to <obj> under <key> (or append it to the
 * array <obj> when key is NULL); *out is borrowed from <obj>. ERR_NOMEM. */
LOOM_MUST_CHECK enum err json_add_object(struct cJSON *obj, const char *key, struct cJSON **out);

/*
 * Append the compact text of <v> (borrowed) to <out>.
 * Returns ERR_OK, ERR_NOMEM, ERR_TOOBIG (past out's cap; <out> unchanged).
 */
LOOM_MUST_CHECK enum err json_print(const struct cJSON *v, struct buf *out);

/*
 * Builders: add member <key> (copied) to the object <obj>. Each returns
 * ERR_OK or ERR_NOMEM; json_add_int also ERR_RANGE (|v| > JSON_INT_MAX).
 * Integers are written as literal digits (cJSON raw values), so they never
 * pass through a double or an exponent.
 */
LOOM_MUST_CHECK enum err json_add_str(struct cJSON *obj, const char *key, const char *s);
LOOM_MUST_CHECK enum err json_add_int(struct cJSON *obj, const char *key, int64_t v);
LOOM_MUST_CHECK enum err json_add_bool(struct cJSON *obj, const char *key, bool v);
/* "0x" + 2n lower-case hex digits of bytes[0..n). */
LOOM_MUST_CHECK enum err json_add_hex(struct cJSON *obj, const char *key, const uint8_t *bytes,
                                      size_t n);
/* The 32 big-endian bytes <be> as a decimal string. */
LOOM_MUST_CHECK enum err json_add_u256(struct cJSON *obj, const char *key, const uint8_t be[32]);

/* True if <obj> is an object with member <key> whose value is not null. */
bool json_has(const struct cJSON *obj, const char *key);

/* Fail unless <v> is an object; <key> names it in the path (NULL: the
 * current path). ERR_INVAL "required" for NULL, "must be an object". */
LOOM_MUST_CHECK enum err json_expect_object(const struct cJSON *v, const char *key,
                                            struct json_err *e);

/*
 * Typed readers of member <key> of the object <obj>. With JSON_REQUIRED an
 * absent or null member fails (ERR_INVAL, "required"); with JSON_OPTIONAL it
 * returns ERR_OK and leaves the output untouched (see json_has()). Every
 * failure is recorded in <e> (may be NULL) at the path of <key>, and leaves
 * outputs untouched. Common failures: ERR_INVAL for a wrong JSON type or a
 * malformed value, ERR_RANGE for a value outside its bounds, ERR_TOOBIG for a
 * string or array over its cap.
 */

/* A string of min_len..max_len bytes of valid UTF-8; *out is a heap copy
 * the caller frees. Also ERR_NOMEM. Too short is ERR_INVAL. */
LOOM_MUST_CHECK enum err json_get_str(const struct cJSON *obj, const char *key, unsigned flags,
                                      size_t min_len, size_t max_len, char **out,
                                      struct json_err *e);

/* An integer in [min, max] (itself within +-JSON_INT_MAX). Non-integral
 * values and magnitudes above JSON_INT_MAX fail with ERR_INVAL. */
LOOM_MUST_CHECK enum err json_get_int(const struct cJSON *obj, const char *key, unsigned flags,
                                      int64_t min, int64_t max, int64_t *out, struct json_err *e);

/* true or false. */
LOOM_MUST_CHECK enum err json_get_bool(const struct cJSON *obj, const char *key, unsigned flags,
                                       bool *out, struct json_err *e);

/* An object; *out is borrowed from <obj>. */
LOOM_MUST_CHECK enum err json_get_object(const struct cJSON *obj, const char *key, unsigned flags,
                                         const struct cJSON **out, struct json_err *e);

/* An array of at most <max_items> items; *out borrowed, *n its length. */
LOOM_MUST_CHECK enum err json_get_array(const struct cJSON *obj, const char *key, unsigned flags,
                                        size_t max_items, const struct cJSON **out, size_t *n,
                                        struct json_err *e);

/* A string equal to one of names[0..n_names) (case-sensitive); *out is its
 * index. The reason lists the accepted names. */
LOOM_MUST_CHECK enum err json_get_enum(const struct cJSON *obj, const char *key, unsigned flags,
                                       const char *const *names, size_t n_names, int *out,
                                       struct json_err *e);

/* "0x" + exactly 2n hex digits (any case) into out[0..n). */
LOOM_MUST_CHECK enum err json_get_hex(const struct cJSON *obj, const char *key, unsigned flags,
                                      uint8_t *out, size_t n, struct json_err *e);

/* A 20-byte address: json_get_hex with n = 20. */
LOOM_MUST_CHECK enum err json_get_addr(const struct cJSON *obj, const char *key, unsigned flags,
                                       uint8_t out[20], struct json_err *e);

/* A 32-byte hash: json_get_hex with n = 32. */
LOOM_MUST_CHECK enum err json_get_hash(const struct cJSON *obj, const char *key, unsigned flags,
                                       uint8_t out[32], struct json_err *e);

/* A uint256 decimal string into 32 big-endian bytes. Leading zeros, signs,
 * spaces and non-digits fail with ERR_INVAL; values >= 2^256 with ERR_RANGE. */
LOOM_MUST_CHECK enum err json_get_u256(const struct cJSON *obj, const char *key, unsigned flags,
                                       uint8_t out[32], struct json_err *e);

/*
 * Conversions without cJSON, for callers that hold text.
 * json_hex_decode: <s> of <len> bytes must be "0x" + 2n hex digits (any
 *   case). Returns ERR_OK or ERR_INVAL.
 * json_u256_from_dec: <s> of <len> bytes as above. ERR_OK, ERR_INVAL, ERR_RANGE.
 * json_utf8_valid: true if s[0..len) is well-formed UTF-8 (RFC 3629: no
 *   overlongs, no surrogates, nothing above U+10FFFF) without NUL bytes.
 */
LOOM_MUST_CHECK enum err json_hex_decode(const char *s, size_t len, uint8_t *out, size_t n);
LOOM_MUST_CHECK enum err json_u256_from_dec(const char *s, size_t len, uint8_t out[32]);
bool json_utf8_valid(const char *s, size_t len);

#endif
