/*
 * eth_signtx -- test helper for eth_anvil.sh: build and sign one transaction
 * with common/eth and print "RAW_HEX TX_HASH SENDER" on stdout.
 *
 *   eth_signtx legacy|1559 KEY_FILE CHAIN_ID NONCE GAS_LIMIT FEE_WEI TIP_WEI TO VALUE_WEI
 * [DATA_HEX]
 *
 * FEE_WEI is the gas price (legacy) or max fee per gas (1559); TIP_WEI the
 * max priority fee (1559 only). The key comes from a 0600 file, as in the
 * services. Exit status 0 on success, 1 with a message on stderr otherwise.
 * SPDX-License-Identifier: MIT
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "eth/key.h"
#include "eth/tx.h"

static int parse_u64(const char *s, uint64_t *out)
{
    struct u256 v;
    return u256_parse(s, &v) == ERR_OK && u256_to_u64(v, out) == ERR_OK ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 10 || argc > 11) {
        fprintf(stderr,
                "usage: eth_signtx legacy|1559 KEY_FILE CHAIN_ID NONCE GAS_LIMIT FEE TIP TO "
                "VALUE [DATA]\n");
        return 1;
    }
    int rc = 1;
    struct key k = {0};
    struct tx t;
    struct buf why, raw;
    buf_init(&why, 0);
    buf_init(&raw, 0);
    bool legacy = strcmp(argv[1], "legacy") == 0;
    uint64_t chain_id;
    if (parse_u64(argv[3], &chain_id) != 0) {
        fprintf(stderr, "eth_signtx: bad chain id \"%s\"\n", argv[3]);
        return 1;
    }
    tx_init(&t, legacy ? TX_LEGACY : TX_EIP1559, chain_id);
    enum err e = key_load_file(argv[2], &k, &why);
    if (e != ERR_OK) {
        fprintf(stderr, "eth_signtx: %s\n", buf_cstr(&why));
        goto out;
    }
    struct u256 fee, tip;
    if (parse_u64(argv[4], &t.nonce) != 0 || parse_u64(argv[5], &t.gas_limit) != 0 ||
        u256_parse(argv[6], &fee) != ERR_OK || u256_parse(argv[7], &tip) != ERR_OK ||
        key_addr_parse(argv[8], t.to) != ERR_OK || u256_parse(argv[9], &t.value) != ERR_OK ||
        (argc == 11 && hex_decode_buf(argv[10], &t.data) != ERR_OK)) {
        fprintf(stderr, "eth_signtx: bad arguments\n");
        goto out;
    }
    t.has_to = true;
    t.gas_price = fee;
    t.max_fee_per_gas = fee;
    t.max_priority_fee_per_gas = tip;
    uint8_t h[32];
    char hh[67], addr[KEY_ADDR_HEX_MAX];
    if ((e = tx_sign(&t, &k)) != ERR_OK || (e = tx_encode_raw(&t, &raw)) != ERR_OK ||
        (e = tx_hash(&t, h)) != ERR_OK) {
        fprintf(stderr, "eth_signtx: cannot sign: %s\n", err_str(e));
        goto out;
    }
    hex_encode(h, 32, true, hh);
    key_addr_to_checksum(k.addr, addr);
    struct buf line;
    buf_init(&line, 0);
    if (hex_append(&line, raw.data, raw.len, true) == ERR_OK)
        printf("%s %s %s\n", buf_cstr(&line), hh, addr);
    buf_release(&line);
    rc = 0;
out:
    key_wipe(&k);
    tx_release(&t);
    buf_release(&why);
    buf_release(&raw);
    return rc;
}
