/*
 * libFuzzer target for common/ws's opening-handshake check
 * (ws_check_handshake), the one parser of untrusted bytes in ws.c that is
 * ours (frames are wslay's). Whatever the bytes, it returns one of its
 * documented codes, never reads past <size>, and a complete answer's
 * header length lies within the input and ends in CRLF CRLF.
 * SPDX-License-Identifier: MIT
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf why;
    size_t head = 0;

    buf_init(&why, 0);
    /* The key the seeds were made for (RFC 6455 section 1.3). */
    enum err e =
        ws_check_handshake((const char *)data, size, "dGhlIHNhbXBsZSBub25jZQ==", &head, &why);
    LOOM_ASSERT(e == ERR_OK || e == ERR_STATE || e == ERR_TOOBIG || e == ERR_UNAVAILABLE ||
                e == ERR_PROTO);
    if (e == ERR_OK || e == ERR_UNAVAILABLE || e == ERR_PROTO) {
        LOOM_ASSERT(head >= 4 && head <= size);
        LOOM_ASSERT(memcmp(data + head - 4, "\r\n\r\n", 4) == 0);
    }
    if (e == ERR_STATE)
        LOOM_ASSERT(head == 0);
    buf_release(&why);
    return 0;
}
