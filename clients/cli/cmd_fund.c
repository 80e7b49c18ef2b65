/*
 * cmd_fund -- loom fund: lock a job's price in the escrow. Reads the job's
 * price and spec sha256 from the gateway, quotes the price on chain, sends
 * the escrow's create with exactly the quoted wei (EIP-1559, signed with
 * the client's key), waits for the receipt and reads JobCreated from it.
 * SPDX-License-Identifier: MIT
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cmds.h"
#include "cli_escrow.h"
#include "eth/abi.h"
#include "hex.h"
#include "eth/key.h"
#include "json.h"

/* Defaults for the escrow's terms (docs/contracts.md "Lifecycle"): a claim
 * may run an hour; the client has an hour to accept or dispute a result. */
#define DEFAULT_MAX_RUNTIME "3600"
#define DEFAULT_WINDOW      "3600"
/* The contract's MAX_DURATION: 365 days. */
#define MAX_DURATION_S 31536000LL

/* Find JobCreated for <job_id> in the receipt; the amount it locked into *amount. */
static enum err find_created(const struct rpc_receipt *r, const uint8_t cli_escrow_addr[20],
                             const uint8_t job_id[32], struct u256 *amount)
{
    struct abi_event *ev = NULL;
    enum err e = abi_event_parse(cli_escrow_job_created_sig, &ev);
    if (e != ERR_OK)
        return e;
    e = ERR_NOTFOUND;
    for (size_t i = 0; i < r->logs.count && e == ERR_NOTFOUND; i++) {
        const struct rpc_log *l = &r->logs.items[i];
        if (memcmp(l->address, cli_escrow_addr, 20) != 0 || l->n_topics < 2 ||
            memcmp(l->topics[1], job_id, 32) != 0)
            continue;
        struct abi_value v;
        memset(&v, 0, sizeof(v));
        enum err d = abi_event_decode(ev, (const uint8_t(*)[32])l->topics, l->n_topics, l->data,
                                      l->data_len, &v);
        if (d == ERR_OK && v.n_items == 9) {
            *amount = abi_value_u256(&v.items[4]);
            e = ERR_OK;
        } else if (d != ERR_NOTFOUND) {
            e = ERR_PROTO;
        }
        abi_value_release(&v);
    }
    abi_event_free(ev);
    return e;
}

int cmd_fund(struct cli *c, int argc, char **argv)
{
    long long deadline_s = 0, max_runtime = 0, window = 0;
    const struct cli_opt opts[] = {
        {"deadline-s", CLI_OPT_INT, NULL, "0", 0, MAX_DURATION_S, "S",
         "seconds from now until the job's deadline; 0 = the job record's deadline_at if it "
         "has one, else the contract's default (7 days)",
         &deadline_s},
        {"max-runtime-s", CLI_OPT_INT, NULL, "0", 0, MAX_DURATION_S, "S",
         "seconds a worker's claim lasts before it lapses; 0 = the job record's max_runtime_s "
         "if it has one, else " DEFAULT_MAX_RUNTIME,
         &max_runtime},
        {"window-s", CLI_OPT_INT, NULL, DEFAULT_WINDOW, 0, MAX_DURATION_S, "S",
         "seconds you have to accept or dispute a submitted result", &window},
    };
    const struct cli_cmd_spec sp = {
        "fund",
        "JOB",
        1,
        1,
        "Fund job JOB in the escrow: read its price and spec sha256 from the gateway, quote "
        "the price on chain, send create(ref, priceCents, specHash, deadline, maxRuntime, "
        "window) with exactly the quoted wei from your key, and wait for the receipt.",
        "loom fund 42 --window-s 600",
        opts,
        sizeof(opts) / sizeof(opts[0])};
    struct api *a = NULL;
    struct cli_escrow *x = NULL;
    struct api_job j;
    struct key k;
    struct buf why, data;
    struct cli_escrow_sent sent;
    struct cJSON *o = NULL;
    int64_t id = 0;
    enum err e;
    int rc = cli_begin(c, &sp, argc, argv);
    memset(&j, 0, sizeof(j));
    memset(&k, 0, sizeof(k));
    memset(&sent, 0, sizeof(sent));
    buf_init(&why, 4096);
    buf_init(&data, 0);
    if (rc >= 0)
        goto out;
    if (cli_parse_job_id(c->args[0], &id) != ERR_OK) {
        rc = cli_usage(c, "JOB \"%s\" must be a job id (a positive integer)", c->args[0]);
        goto out;
    }
    if ((e = cli_load_key(c, &k, &why)) != ERR_OK) {
        rc = cli_fail(c, e, "cannot fund job %" PRId64 ": %s", id, buf_cstr(&why));
        goto out;
    }
    if ((e = api_new(c->gateway_url, (long)c->timeout_s * 1000, &a)) != ERR_OK) {
        rc = cli_fail(c, e, "bad gateway URL \"%s\"", c->gateway_url);
        goto out;
    }
    if ((e = api_job_get(a, id, &j)) != ERR_OK) {
        rc = cli_fail(c, e, "cannot fund job %" PRId64 ": %s", id, api_errmsg(a));
        goto out;
    }
    char me[KEY_ADDR_HEX_MAX];
    key_addr_to_checksum(k.addr, me);
    uint8_t owner[20];
    if (j.client == NULL || key_addr_parse(j.client, owner) != ERR_OK ||
        memcmp(owner, k.addr, 20) != 0) {
        rc = cli_fail(c, ERR_PERM, "cannot fund job %" PRId64 ": it belongs to %s, your key is %s",
                      id, j.client ? j.client : "nobody", me);
        goto out;
    }
    if (strcmp(j.status, "PENDING") != 0) {
        rc = cli_fail(c, ERR_STATE, "cannot fund job %" PRId64 ": it is %s, not PENDING", id,
                      j.status);
        goto out;
    }
    if (!j.has_spec) {
        rc = cli_fail(c, ERR_INVAL,
                      "cannot fund job %" PRId64 ": it has no job.json, so there is no spec "
                      "sha256 to commit (create it with --spec)",
                      id);
        goto out;
    }
    if (j.price_usd_cents <= 0) {
        rc = cli_fail(c, ERR_PROTO, "cannot fund job %" PRId64 ": the gateway gave no price", id);
        goto out;
    }
    char what[64];
    (void)snprintf(what, sizeof(what), "cannot fund job %" PRId64, id);
    if ((rc = cmd__open_escrow(c, what, &x)) >= 0)
        goto out;
    uint8_t ref[32], job_id[32];
    char job_hex[67], tx_hex[67];
    cli_escrow_ref_of(id, ref);
    cli_escrow_job_id(k.addr, ref, job_id);
    hex_encode(job_id, 32, true, job_hex);
    if (j.has_chain_job_id && memcmp(j.chain_job_id, job_id, 32) != 0) {
        rc = cli_fail(c, ERR_STATE,
                      "cannot fund job %" PRId64 ": the gateway's chain_job_id differs from "
                      "jobIdOf(%s, %" PRId64 ") = %s",
                      id, me, id, job_hex);
        goto out;
    }
    struct cli_escrow_job onchain;
    if ((e = cli_escrow_get_job(x, job_id, &onchain, &why)) != ERR_OK) {
        rc = cli_fail(c, e, "cannot fund job %" PRId64 ": %s", id, buf_cstr(&why));
        goto out;
    }
    static const uint8_t zero20[20];
    if (memcmp(onchain.client, zero20, 20) != 0) {
        rc = cli_fail(c, ERR_EXISTS,
                      "cannot fund job %" PRId64 ": escrow job %s exists already (%s)", id, job_hex,
                      cli_escrow_status_name(onchain.status));
        goto out;
    }
    /* The terms the client asked for at creation, when the record has them
     * (PROTOCOL.md job.create: deadline_at, max_runtime_s). */
    if (max_runtime == 0)
        max_runtime = j.max_runtime_s > 0 && j.max_runtime_s <= MAX_DURATION_S
                          ? j.max_runtime_s
                          : strtoll(DEFAULT_MAX_RUNTIME, NULL, 10);
    uint64_t deadline = deadline_s == 0 && j.deadline_at > 0 && j.deadline_at <= UINT32_MAX
                            ? (uint64_t)j.deadline_at
                            : 0;
    if (deadline_s > 0) {
        uint64_t now = 0;
        if ((e = cli_escrow_now(x, &now, &why)) != ERR_OK) {
            rc = cli_fail(c, e, "cannot fund job %" PRId64 ": %s", id, buf_cstr(&why));
            goto out;
        }
        deadline = now + (uint64_t)deadline_s;
        if (deadline > UINT32_MAX) {
            rc = cli_usage(c, "--deadline-s puts the deadline past 2106 (uint32)");
            goto out;
        }
    }
    struct u256 wei;
    if ((e = cli_escrow_quote(x, (uint64_t)j.price_usd_cents, &wei, &why)) != ERR_OK) {
        rc = cli_fail(c, e, "cannot fund job %" PRId64 ": quote: %s", id, buf_cstr(&why));
        goto out;
    }
    if ((e = cli_escrow_calldata_create(ref, (uint64_t)j.price_usd_cents, j.spec_sha256,
                                        (uint32_t)deadline, (uint32_t)max_runtime, (uint32_t)window,
                                        &data)) != ERR_OK) {
        rc = cli_fail(c, e, "cannot fund job %" PRId64 ": cannot encode create", id);
        goto out;
    }
    if ((e = cli_escrow_send(x, &k, (const uint8_t *)data.data, data.len, wei, (long)c->timeout_s,
                             &sent, &why)) != ERR_OK) {
        rc = cli_fail(c, e, "cannot fund job %" PRId64 ": %s", id, buf_cstr(&why));
        goto out;
    }
    hex_encode(sent.tx_hash, 32, true, tx_hex);
    struct u256 locked;
    if ((e = find_created(&sent.receipt, cli_escrow_deployment(x)->escrow, job_id, &locked)) !=
        ERR_OK) {
        rc = cli_fail(c, ERR_PROTO,
                      "funded job %" PRId64 " in transaction %s, but its receipt has no "
                      "JobCreated for %s",
                      id, tx_hex, job_hex);
        goto out;
    }
    struct u256 spent;
    uint8_t locked_be[32], fee_be[32], spent_be[32];
    if (u256_add(locked, sent.fee_wei, &spent) != ERR_OK)
        spent = locked; /* cannot happen: both are far below 2^255 */
    u256_to_be(locked, locked_be);
    u256_to_be(sent.fee_wei, fee_be);
    u256_to_be(spent, spent_be);
    if (c->json) {
        e = json_new_object(&o);
        if (e == ERR_OK)
            e = json_add_int(o, "job_id", id);
        if (e == ERR_OK)
            e = json_add_str(o, "chain_job_id", job_hex);
        if (e == ERR_OK)
            e = json_add_str(o, "tx_hash", tx_hex);
        if (e == ERR_OK)
            e = json_add_int(o, "block_number", (int64_t)sent.receipt.block_number);
        if (e == ERR_OK)
            e = json_add_int(o, "price_usd_cents", j.price_usd_cents);
        if (e == ERR_OK)
            e = json_add_u256(o, "amount_wei", locked_be);
        if (e == ERR_OK)
            e = json_add_u256(o, "gas_fee_wei", fee_be);
        if (e == ERR_OK)
            e = json_add_u256(o, "spent_wei", spent_be);
        if (e == ERR_OK)
            e = cli_print_json(c, o);
        rc = e == ERR_OK ? CLI_EXIT_OK : cli_fail(c, e, "cannot print the result");
        goto out;
    }
    char usd[CLI_USD_MAX], eth_locked[CLI_ETH_MAX], eth_fee[CLI_ETH_MAX], eth_spent[CLI_ETH_MAX];
    char wei_dec[U256_DEC_MAX];
    cli_format_usd(j.price_usd_cents, usd);
    cli_format_eth(locked_be, eth_locked);
    cli_format_eth(fee_be, eth_fee);
    cli_format_eth(spent_be, eth_spent);
    u256_to_dec(locked, wei_dec);
    fprintf(c->out, "funded job %" PRId64 " in block %llu\n", id,
            (unsigned long long)sent.receipt.block_number);
    fprintf(c->out, "  tx         %s\n  escrow id  %s\n", tx_hex, job_hex);
    fprintf(c->out, "  locked     %s (%s wei) for %s USD\n", eth_locked, wei_dec, usd);
    fprintf(c->out, "  gas        %s\n  spent      %s\n", eth_fee, eth_spent);
    rc = CLI_EXIT_OK;
out:
    json_free(o);
    rpc_receipt_release(&sent.receipt);
    cli_escrow_free(x);
    api_job_release(&j);
    api_free(a);
    key_wipe(&k);
    buf_release(&data);
    buf_release(&why);
    cli_release(c, &sp);
    return rc;
}
