/*
 * libFuzzer target for the loom CLI's parsers of what the gateway sends:
 * the Server-Sent Events parser (clients/cli/evstream.c), fed the input in
 * chunks whose sizes come from the input itself, so CRLF and BOM splits are
 * explored; the job record decoder (api_job_decode) and the error-body
 * mapper (api_error_from). They must return an error or a result, never
 * crash, leak or read out of bounds. The first byte picks the parser.
 * Seed corpus: tests/fuzz/corpus/cli/.
 *
 * The CLI's modules come from the fuzz build's library (the Makefile puts
 * every CLI module but main.c in it).
 *
 * SPDX-License-Identifier: MIT
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clients/cli/api.h"
#include "clients/cli/evstream.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_cb(void *arg, const char *type, const char *d, size_t len)
{
    size_t *n = arg;
    *n += strlen(type) + len + (d[len] == '\0' ? 0 : 1); /* d must be NUL-terminated at len */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t mode = data[0] % 3;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    if (mode == 0) {
        struct evstream p;
        size_t n = 0;
        int stop = 0;
        evstream_init(&p, 4096, count_cb, &n);
        size_t step = len > 0 ? (size_t)(data[0] / 3) % 7 + 1 : 1;
        for (size_t i = 0; i < len; i += step) {
            size_t k = len - i < step ? len - i : step;
            if (evstream_feed(&p, text + i, k, &stop) != ERR_OK)
                break;
        }
        evstream_release(&p);
    } else if (mode == 1) {
        struct cJSON *o = NULL;
        struct json_err je;
        json_err_init(&je);
        if (json_parse(text, len, 1 << 20, 32, &o, &je) == ERR_OK) {
            struct api_job j;
            if (api_job_decode(o, &j, &je) == ERR_OK)
                api_job_release(&j);
            json_free(o);
        }
    } else {
        struct buf msg;
        buf_init(&msg, 4096);
        enum err e = api_error_from(400 + (long)(data[0] % 200), text, len, &msg);
        if (e == ERR_OK)
            abort(); /* an error answer never maps to success */
        buf_release(&msg);
    }
    return 0;
}
