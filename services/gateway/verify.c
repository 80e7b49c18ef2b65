/*
 * verify -- EIP-191 recovery for signed requests.
 * SPDX-License-Identifier: MIT
 */
#include "verify.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eth/eip191.h"
#include "hex.h"

enum err verify_eip191(void *ctx, const char *message, size_t message_len, const char *signature,
                       char **address_out)
{
    (void)ctx;
    uint8_t rsv[65], addr[20];
    if (signature == NULL || strlen(signature) != 132 || signature[0] != '0' ||
        (signature[1] != 'x' && signature[1] != 'X') ||
        hex_decode_exact(signature, rsv, sizeof(rsv)) != ERR_OK)
        return ERR_INVAL;
    enum err e = eip191_recover(message, message_len, rsv, addr);
    if (e != ERR_OK)
        return e;
    char *out = malloc(2 + 40 + 1);
    if (out == NULL)
        return ERR_NOMEM;
    hex_encode(addr, sizeof(addr), true, out);
    *address_out = out;
    return ERR_OK;
}
