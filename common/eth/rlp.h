/*
 * rlp -- Recursive Length Prefix encoding (Ethereum yellow paper, appendix
 * B; ethereum.org "Recursive-length prefix (RLP) serialization").
 *
 * Encoding appends to a struct buf; a list is opened by remembering
 * b->len and closed by rlp_end_list(), which inserts the header. Decoding
 * is zero-copy (items point into the caller's bytes) and strict: every
 * non-canonical form is rejected (a single byte below 0x80 wrapped as a
 * string, the long form used for a length under 56, leading zero bytes in
 * a length, lengths running past the input, trailing bytes), and nesting is
 * bounded by RLP_MAX_DEPTH. Not here: schemas (tx.c knows a
 * transaction's fields). Threading: pure functions.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_ETH_RLP_H
#define LOOM_ETH_RLP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "eth/u256.h"

/* Deepest list nesting rlp_decode() accepts; transactions need 4. */
#define RLP_MAX_DEPTH 32

enum rlp_kind {
    RLP_STRING, /* a byte string */
    RLP_LIST,   /* a list; payload holds the concatenated encoded items */
};

/* A decoded item; payload points into the caller's input (borrowed). */
struct rlp_item {
    enum rlp_kind kind;
    const uint8_t *payload;
    size_t len;         /* payload bytes */
    const uint8_t *raw; /* the whole encoded item, header included */
    size_t raw_len;
};

/* Cursor over the items of a list. */
struct rlp_iter {
    const uint8_t *p;
    size_t left;
};

/*
 * Append the RLP string item for <len> bytes at <data> (borrowed).
 * Returns ERR_OK, ERR_TOOBIG or ERR_NOMEM (from buf; <b> unchanged).
 */
LOOM_MUST_CHECK enum err rlp_append_bytes(struct buf *b, const void *data, size_t len);

/* Append <v> as a minimal big-endian string item (0 is 0x80). Errors as above. */
LOOM_MUST_CHECK enum err rlp_append_u64(struct buf *b, uint64_t v);

/* Append <v> as a minimal big-endian string item (0 is 0x80). Errors as above. */
LOOM_MUST_CHECK enum err rlp_append_u256(struct buf *b, struct u256 v);

/* Append <len> bytes that already are RLP items (borrowed), verbatim. Errors as above. */
LOOM_MUST_CHECK enum err rlp_append_raw(struct buf *b, const void *data, size_t len);

/*
 * Close a list whose items were appended to <b> from offset <start> (the
 * value of b->len before the first item): inserts the list header at
 * <start>. Returns ERR_OK, ERR_TOOBIG, ERR_NOMEM (<b> unchanged).
 */
LOOM_MUST_CHECK enum err rlp_end_list(struct buf *b, size_t start);

/*
 * Decode the one item at the start of <data> (<len> bytes, borrowed) with
 * canonical-form checks on its header only (not its children), and store
 * the number of bytes it spans in *consumed. Trailing bytes are allowed
 * here. Returns ERR_OK or ERR_INVAL (truncated or non-canonical header).
 */
LOOM_MUST_CHECK enum err rlp_decode_next(const uint8_t *data, size_t len, struct rlp_item *out,
                                         size_t *consumed);

/*
 * Decode <data> (<len> bytes, borrowed) as exactly one item and validate
 * its whole tree. Returns ERR_OK, ERR_INVAL (any non-canonical form,
 * truncation, or trailing bytes after the item or inside a list),
 * ERR_TOOBIG (nesting deeper than RLP_MAX_DEPTH).
 */
LOOM_MUST_CHECK enum err rlp_decode(const uint8_t *data, size_t len, struct rlp_item *out);

/* Start iterating the items of list <list> (must be RLP_LIST). */
void rlp_iter_init(struct rlp_iter *it, const struct rlp_item *list);

/*
 * Move to the next item of the list. Returns ERR_OK (*out set),
 * ERR_NOTFOUND (no more items), ERR_INVAL (malformed item).
 */
LOOM_MUST_CHECK enum err rlp_iter_next(struct rlp_iter *it, struct rlp_item *out);

/*
 * Split list <list> into its items: up to <max> go to items[], their count
 * to *n. Returns ERR_OK, ERR_INVAL (not a list, malformed, or more than
 * <max> items).
 */
LOOM_MUST_CHECK enum err rlp_list_items(const struct rlp_item *list, struct rlp_item *items,
                                        size_t max, size_t *n);

/*
 * Read string item <it> as an unsigned integer in canonical form (big
 * endian, no leading zero byte, 0 is the empty string).
 * Returns ERR_OK, ERR_INVAL (a list, or a leading zero), ERR_RANGE (too big).
 */
LOOM_MUST_CHECK enum err rlp_item_u64(const struct rlp_item *it, uint64_t *out);

/* As rlp_item_u64() for up to 256 bits. */
LOOM_MUST_CHECK enum err rlp_item_u256(const struct rlp_item *it, struct u256 *out);

#endif
