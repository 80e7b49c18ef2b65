/*
 * libFuzzer target for common/eth/abi. The first byte picks a type from a
 * fixed list (static, dynamic, nested); the rest is decoded as that type.
 * Whatever the bytes, abi_decode() returns an error or a value whose
 * re-encoding decodes again to the same encoding (canonical form). Type
 * strings are fuzzed too: input starting with 0xff is parsed as a type.
 * SPDX-License-Identifier: MIT
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eth/abi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const types[] = {
    "(uint256)",
    "(uint8,int16,address,bool,bytes3)",
    "(bytes)",
    "(string,bytes32[])",
    "(uint256[][],string[])",
    "(uint256,bytes32[],(address,string))",
    "((uint8,string)[2],bytes)[]",
    "(int256[3][],bool)",
    "(bytes[][2])",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] == 0xff) {
        char *s = strndup((const char *)data + 1, size - 1);
        struct abi_type *t = NULL;
        if (s && abi_type_parse(s, &t) == ERR_OK) {
            struct buf b;
            buf_init(&b, 0);
            LOOM_ASSERT(abi_type_canonical(t, &b) == ERR_OK);
            struct abi_type *t2 = NULL;
            LOOM_ASSERT(abi_type_parse(buf_cstr(&b), &t2) == ERR_OK);
            abi_type_free(t2);
            buf_release(&b);
        }
        abi_type_free(t);
        free(s);
        return 0;
    }
    struct abi_type *t = NULL;
    LOOM_ASSERT(abi_type_parse(types[data[0] % (sizeof(types) / sizeof(types[0]))], &t) == ERR_OK);
    struct abi_value v;
    if (abi_decode(t, data + 1, size - 1, &v) == ERR_OK) {
        struct buf enc, enc2;
        struct abi_value v2;
        buf_init(&enc, 0);
        buf_init(&enc2, 0);
        LOOM_ASSERT(abi_encode(t, &v, &enc) == ERR_OK);
        LOOM_ASSERT(abi_decode(t, (const uint8_t *)enc.data, enc.len, &v2) == ERR_OK);
        LOOM_ASSERT(abi_encode(t, &v2, &enc2) == ERR_OK);
        LOOM_ASSERT(enc.len == enc2.len && memcmp(enc.data, enc2.data, enc.len) == 0);
        abi_value_release(&v2);
        buf_release(&enc);
        buf_release(&enc2);
    }
    abi_value_release(&v);
    abi_type_free(t);
    return 0;
}
