/*
 * fuzz_proto -- libFuzzer target for every proto/ decoder and common/json.
 *
 * Each input is decoded as every message kind of the registry. Whatever
 * decodes must re-encode, decode again to an equal message and re-encode
 * to the same bytes (proto_kind_roundtrip's "stable"); whatever fails must
 * have recorded the same error code in its json_err. Seed corpus:
 * tests/fuzz/corpus/proto/ (the examples of docs/PROTOCOL.md).
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "json.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    for (size_t i = 0; i < proto_kind_count(); i++) {
        struct json_err e;
        bool stable = false;
        json_err_init(&e);
        enum err rc = proto_kind_roundtrip(i, text, size, NULL, &stable, &e);
        if (rc == ERR_OK && !stable)
            abort(); /* a message that does not survive its own encoding */
        if (rc != ERR_OK && e.code != rc)
            abort(); /* an error without its path and reason */
    }
    /* The parser on its own, with a tight depth cap. */
    struct cJSON *v = NULL;
    struct json_err e;
    json_err_init(&e);
    if (json_parse(text, size, 1 << 20, 4, &v, &e) == ERR_OK) {
        struct buf b;
        buf_init(&b, 0);
        if (json_print(v, &b) != ERR_OK)
            abort();
        buf_release(&b);
        json_free(v);
    }
    return 0;
}
