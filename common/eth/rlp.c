/*
 * rlp -- encoder and strict decoder. The decoder checks canonical form at
 * every header so that one byte string has exactly one accepted encoding
 * (transaction hashes and signatures depend on that).
 * SPDX-License-Identifier: MIT
 */
#include "eth/rlp.h"

#include <string.h>

/* Write the header for a payload of <len> bytes with base 0x80 (string) or
 * 0xc0 (list) into hdr; returns its size (1..9). */
static size_t make_header(size_t len, uint8_t base, uint8_t hdr[9])
{
    if (len < 56) {
        hdr[0] = (uint8_t)(base + len);
        return 1;
    }
    uint8_t be[8];
    size_t n = 0;
    for (size_t v = len; v; v >>= 8)
        n++;
    for (size_t i = 0; i < n; i++)
        be[i] = (uint8_t)(len >> (8 * (n - 1 - i)));
    hdr[0] = (uint8_t)(base + 55 + n);
    memcpy(hdr + 1, be, n);
    return 1 + n;
}

enum err rlp_append_bytes(struct buf *b, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (len == 1 && p[0] < 0x80)
        return buf_append(b, p, 1);
    uint8_t hdr[9];
    size_t h = make_header(len, 0x80, hdr);
    enum err e = buf_reserve(b, h + len);
    if (e != ERR_OK)
        return e;
    e = buf_append(b, hdr, h);
    LOOM_ASSERT(e == ERR_OK);
    e = buf_append(b, p, len);
    LOOM_ASSERT(e == ERR_OK);
    return ERR_OK;
}

enum err rlp_append_u64(struct buf *b, uint64_t v)
{
    uint8_t be[8];
    size_t n = 0;
    for (uint64_t t = v; t; t >>= 8)
        n++;
    for (size_t i = 0; i < n; i++)
        be[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return rlp_append_bytes(b, be, n);
}

enum err rlp_append_u256(struct buf *b, struct u256 v)
{
    uint8_t w[32];
    u256_to_be(v, w);
    size_t n = u256_byte_len(v);
    return rlp_append_bytes(b, w + 32 - n, n);
}

enum err rlp_append_raw(struct buf *b, const void *data, size_t len)
{
    return buf_append(b, data, len);
}

enum err rlp_end_list(struct buf *b, size_t start)
{
    LOOM_ASSERT(start <= b->len);
    uint8_t hdr[9];
    size_t h = make_header(b->len - start, 0xc0, hdr);
    enum err e = buf_reserve(b, h);
    if (e != ERR_OK)
        return e;
    memmove(b->data + start + h, b->data + start, b->len - start);
    memcpy(b->data + start, hdr, h);
    b->len += h;
    b->data[b->len] = '\0';
    return ERR_OK;
}

/* Read a long-form length of <n> bytes (1..8) at p: no leading zero, and
 * at least 56 (else the short form was mandatory). */
static enum err read_long_len(const uint8_t *p, size_t n, size_t *out)
{
    if (p[0] == 0)
        return ERR_INVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    if (v < 56 || v > SIZE_MAX)
        return ERR_INVAL;
    *out = (size_t)v;
    return ERR_OK;
}

enum err rlp_decode_next(const uint8_t *data, size_t len, struct rlp_item *out, size_t *consumed)
{
    if (len == 0)
        return ERR_INVAL;
    uint8_t b0 = data[0];
    size_t hdr, plen;
    enum rlp_kind kind;
    if (b0 < 0x80) {
        kind = RLP_STRING;
        hdr = 0;
        plen = 1;
    } else if (b0 < 0xb8) {
        kind = RLP_STRING;
        hdr = 1;
        plen = b0 - 0x80u;
    } else if (b0 < 0xc0) {
        kind = RLP_STRING;
        size_t n = b0 - 0xb7u;
        if (len < 1 + n || read_long_len(data + 1, n, &plen) != ERR_OK)
            return ERR_INVAL;
        hdr = 1 + n;
    } else if (b0 < 0xf8) {
        kind = RLP_LIST;
        hdr = 1;
        plen = b0 - 0xc0u;
    } else {
        kind = RLP_LIST;
        size_t n = b0 - 0xf7u;
        if (len < 1 + n || read_long_len(data + 1, n, &plen) != ERR_OK)
            return ERR_INVAL;
        hdr = 1 + n;
    }
    if (plen > len - hdr)
        return ERR_INVAL;
    /* A single byte below 0x80 must be encoded as itself. */
    if (kind == RLP_STRING && hdr == 1 && plen == 1 && data[1] < 0x80)
        return ERR_INVAL;
    out->kind = kind;
    out->payload = data + hdr;
    out->len = plen;
    out->raw = data;
    out->raw_len = hdr + plen;
    *consumed = hdr + plen;
    return ERR_OK;
}

static enum err validate(const struct rlp_item *it, int depth)
{
    if (it->kind == RLP_STRING)
        return ERR_OK;
    if (depth >= RLP_MAX_DEPTH)
        return ERR_TOOBIG;
    const uint8_t *p = it->payload;
    size_t left = it->len;
    while (left) {
        struct rlp_item child;
        size_t used;
        enum err e = rlp_decode_next(p, left, &child, &used);
        if (e != ERR_OK)
            return e;
        e = validate(&child, depth + 1);
        if (e != ERR_OK)
            return e;
        p += used;
        left -= used;
    }
    return ERR_OK;
}

enum err rlp_decode(const uint8_t *data, size_t len, struct rlp_item *out)
{
    struct rlp_item it;
    size_t used;
    enum err e = rlp_decode_next(data, len, &it, &used);
    if (e != ERR_OK)
        return e;
    if (used != len)
        return ERR_INVAL;
    e = validate(&it, 0);
    if (e != ERR_OK)
        return e;
    *out = it;
    return ERR_OK;
}

void rlp_iter_init(struct rlp_iter *it, const struct rlp_item *list)
{
    LOOM_ASSERT(list->kind == RLP_LIST);
    it->p = list->payload;
    it->left = list->len;
}

enum err rlp_iter_next(struct rlp_iter *it, struct rlp_item *out)
{
    if (it->left == 0)
        return ERR_NOTFOUND;
    size_t used;
    enum err e = rlp_decode_next(it->p, it->left, out, &used);
    if (e != ERR_OK)
        return e;
    it->p += used;
    it->left -= used;
    return ERR_OK;
}

enum err rlp_list_items(const struct rlp_item *list, struct rlp_item *items, size_t max, size_t *n)
{
    if (list->kind != RLP_LIST)
        return ERR_INVAL;
    struct rlp_iter it;
    rlp_iter_init(&it, list);
    size_t count = 0;
    for (;;) {
        struct rlp_item item;
        enum err e = rlp_iter_next(&it, &item);
        if (e == ERR_NOTFOUND)
            break;
        if (e != ERR_OK)
            return e;
        if (count == max)
            return ERR_INVAL;
        items[count++] = item;
    }
    *n = count;
    return ERR_OK;
}

enum err rlp_item_u256(const struct rlp_item *it, struct u256 *out)
{
    if (it->kind != RLP_STRING)
        return ERR_INVAL;
    if (it->len > 0 && it->payload[0] == 0)
        return ERR_INVAL;
    if (it->len > 32)
        return ERR_RANGE;
    return u256_from_be(it->payload, it->len, out);
}

enum err rlp_item_u64(const struct rlp_item *it, uint64_t *out)
{
    struct u256 v;
    enum err e = rlp_item_u256(it, &v);
    if (e != ERR_OK)
        return e;
    return u256_to_u64(v, out);
}
