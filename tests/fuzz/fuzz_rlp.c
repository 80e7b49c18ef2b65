/*
 * libFuzzer target for common/eth/rlp: whatever the bytes, rlp_decode()
 * returns an error or a tree that re-encodes to exactly the input (strict
 * decoding means one encoding per value). SPDX-License-Identifier: MIT
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "eth/rlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void reencode(const struct rlp_item *it, struct buf *out)
{
    if (it->kind == RLP_STRING) {
        LOOM_ASSERT(rlp_append_bytes(out, it->payload, it->len) == ERR_OK);
        return;
    }
    size_t start = out->len;
    struct rlp_iter iter;
    struct rlp_item child;
    enum err e;
    rlp_iter_init(&iter, it);
    while ((e = rlp_iter_next(&iter, &child)) == ERR_OK)
        reencode(&child, out);
    LOOM_ASSERT(e == ERR_NOTFOUND);
    LOOM_ASSERT(rlp_end_list(out, start) == ERR_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rlp_item it;
    if (rlp_decode(data, size, &it) != ERR_OK)
        return 0;
    struct buf out;
    buf_init(&out, 0);
    reencode(&it, &out);
    LOOM_ASSERT(out.len == size && memcmp(out.data, data, size) == 0);
    buf_release(&out);
    uint64_t v;
    struct u256 w;
    (void)rlp_item_u64(&it, &v);
    (void)rlp_item_u256(&it, &w);
    return 0;
}
