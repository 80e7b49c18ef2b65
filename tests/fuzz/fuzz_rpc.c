/*
 * libFuzzer target for common/eth/rpc's response parsers: every input is fed
 * to the single-response envelope parser, the batch parser and each typed
 * result parser (block, logs, receipt, fee history, quantities). They must
 * return an error or a well-formed result, never crash, leak or read out of
 * bounds. Seed corpus: tests/fuzz/corpus/rpc/ (real anvil answers, whole
 * envelopes and bare results).
 *
 * SPDX-License-Identifier: MIT
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "buf.h"
#include "eth/rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *json = (const char *)data;
    struct buf why;
    buf_init(&why, 4096);

    char *res = NULL;
    struct rpc_error err = {0};
    enum err e = rpc_parse_response(json, size, 1, &res, NULL, &err, &why);
    if (e == ERR_OK)
        free(res);
    if (e == ERR_RPC)
        (void)rpc_error_kind(&err);
    rpc_error_release(&err);

    struct rpc_batch *b = NULL;
    if (rpc_batch_new(&b) == ERR_OK) {
        if (rpc_batch_add(b, "eth_chainId", NULL, NULL) == ERR_OK &&
            rpc_batch_add(b, "eth_blockNumber", NULL, NULL) == ERR_OK &&
            rpc_batch_add(b, "eth_getBlockByNumber", "[\"0x1\",false]", NULL) == ERR_OK) {
            e = rpc_batch_parse_response(b, 1, json, size, &err, &why);
            rpc_error_release(&err);
            for (size_t i = 0; e == ERR_OK && i < 3; i++) {
                const char *r = NULL;
                const struct rpc_error *re = NULL;
                size_t len = 0;
                if (rpc_batch_result(b, i, &r, &len, &re) == ERR_OK) {
                    struct rpc_block blk;
                    enum err be = rpc_parse_block(r, len, &blk, NULL);
                    (void)be;
                }
            }
        }
        rpc_batch_free(b);
    }

    uint64_t u = 0;
    uint8_t w[32];
    e = rpc_parse_u64(json, size, &u, &why);
    e = rpc_parse_u256(json, size, w, &why);

    struct rpc_block blk;
    e = rpc_parse_block(json, size, &blk, &why);

    struct rpc_logs logs = {0};
    if (rpc_parse_logs(json, size, &logs, &why) == ERR_OK)
        rpc_logs_release(&logs);

    struct rpc_receipt rc;
    if (rpc_parse_receipt(json, size, &rc, &why) == ERR_OK)
        rpc_receipt_release(&rc);

    struct rpc_fee_history fh;
    size_t n_pct = size > 0 ? data[0] % 4 : 0;
    if (rpc_parse_fee_history(json, size, n_pct, &fh, &why) == ERR_OK)
        rpc_fee_history_release(&fh);
    (void)e;
    buf_release(&why);
    return 0;
}
