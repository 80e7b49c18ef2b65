/*
 * cmd_settle -- loom accept, loom dispute, loom withdraw: the client's
 * transactions after a worker submitted (docs/contracts.md "Lifecycle").
 * Each checks the job on chain first (getJob), so that a wrong status or a
 * wrong key is reported plainly instead of as a revert, then sends the
 * transaction and waits for its receipt.
 * SPDX-License-Identifier: MIT
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "cli_escrow.h"
#include "hex.h"
#include "eth/key.h"
#include "json.h"

int cmd__open_escrow(struct cli *c, const char *what, struct cli_escrow **x)
{
    struct buf why;
    buf_init(&why, 4096);
    enum err e = cli_escrow_open(c->rpc_url, c->deployment, (long)c->timeout_s * 1000, x, &why);
    int rc = -1;
    if (e == ERR_NOTFOUND || e == ERR_INVAL || e == ERR_STATE || e == ERR_TOOBIG)
        rc = cli_fail_code(c, e, CLI_EXIT_CONFIG, "%s: %s", what, buf_cstr(&why));
    else if (e != ERR_OK)
        rc = cli_fail(c, e, "%s: %s", what, buf_cstr(&why));
    buf_release(&why);
    return rc;
}

/* JOB: a gateway job id (the escrow id is derived with <client>) or the
 * escrow's own id, "0x" + 64 hex digits. */
static enum err parse_job(const char *s, const uint8_t client[20], uint8_t job_id[32])
{
    int64_t id;
    if (s[0] == '0' && s[1] == 'x')
        return hex_decode_exact(s, job_id, 32);
    if (cli_parse_job_id(s, &id) != ERR_OK)
        return ERR_INVAL;
    uint8_t ref[32];
    cli_escrow_ref_of(id, ref);
    cli_escrow_job_id(client, ref, job_id);
    return ERR_OK;
}

/* Print the outcome of a sent transaction with its extra fields. */
static int report(struct cli *c, const char *verb, const char *job_arg,
                  const struct cli_escrow_sent *s, const char *amount_key,
                  const struct u256 *amount, const char *party_key, const uint8_t party[20])
{
    char tx[67], who[KEY_ADDR_HEX_MAX], eth[CLI_ETH_MAX], fee[CLI_ETH_MAX];
    uint8_t be[32], fee_be[32];
    struct cJSON *o = NULL;
    enum err e;

    hex_encode(s->tx_hash, 32, true, tx);
    u256_to_be(s->fee_wei, fee_be);
    cli_format_eth(fee_be, fee);
    if (amount)
        u256_to_be(*amount, be);
    if (party)
        key_addr_to_checksum(party, who);
    if (c->json) {
        e = json_new_object(&o);
        if (e == ERR_OK && job_arg)
            e = json_add_str(o, "job", job_arg);
        if (e == ERR_OK)
            e = json_add_str(o, "tx_hash", tx);
        if (e == ERR_OK)
            e = json_add_int(o, "block_number", (int64_t)s->receipt.block_number);
        if (e == ERR_OK && amount)
            e = json_add_u256(o, amount_key, be);
        if (e == ERR_OK && party)
            e = json_add_str(o, party_key, who);
        if (e == ERR_OK)
            e = json_add_u256(o, "gas_fee_wei", fee_be);
        if (e == ERR_OK)
            e = cli_print_json(c, o);
        json_free(o);
        return e == ERR_OK ? CLI_EXIT_OK : cli_fail(c, e, "cannot print the result");
    }
    fprintf(c->out, "%s%s%s in block %llu\n  tx         %s\n", verb, job_arg ? " job " : "",
            job_arg ? job_arg : "", (unsigned long long)s->receipt.block_number, tx);
    if (amount) {
        char dec[U256_DEC_MAX];
        cli_format_eth(be, eth);
        u256_to_dec(*amount, dec);
        /* "paid_wei" reads "paid" in text; the JSON key keeps its unit. */
        size_t n = strlen(amount_key) > 4 ? strlen(amount_key) - 4 : strlen(amount_key);
        fprintf(c->out, "  %-10.*s %s (%s wei)\n", (int)n, amount_key, eth, dec);
    }
    if (party)
        fprintf(c->out, "  %-10s %s\n", party_key, who);
    fprintf(c->out, "  gas        %s\n", fee);
    return CLI_EXIT_OK;
}

/*
 * Open the escrow into *x and read job <job_id> into *j (getJob), then check
 * that the job exists, that its client is <client> (NULL: anyone may act)
 * and that its status is <want> (getJob's number, which <fn> needs), so a
 * wrong job, key or status is reported plainly instead of as a revert.
 *   what:    the message prefix, "cannot accept job 42".
 *   unfunded_hint: appended to "it is not in the escrow" ("" for none).
 *   x:       receives the escrow, the caller's (cli_escrow_free()), also on
 *            a failed check.
 * Returns -1 when every check holds, else the exit code of the failure it
 * reported (cmd__open_escrow()'s, cli_fail()'s).
 */
static int check_job(struct cli *c, const char *what, const char *fn, const uint8_t job_id[32],
                     const uint8_t *client, int want, const char *unfunded_hint,
                     struct cli_escrow **x, struct cli_escrow_job *j)
{
    static const uint8_t zero20[20];
    struct buf why;
    enum err e;
    int rc = cmd__open_escrow(c, what, x);
    buf_init(&why, 4096);
    if (rc >= 0)
        goto out;
    if ((e = cli_escrow_get_job(*x, job_id, j, &why)) != ERR_OK) {
        rc = cli_fail(c, e, "%s: %s", what, buf_cstr(&why));
        goto out;
    }
    if (memcmp(j->client, zero20, 20) == 0) {
        rc = cli_fail(c, ERR_NOTFOUND, "%s: it is not in the escrow%s", what, unfunded_hint);
        goto out;
    }
    if (client != NULL && memcmp(j->client, client, 20) != 0) {
        char owner[KEY_ADDR_HEX_MAX], me[KEY_ADDR_HEX_MAX];
        key_addr_to_checksum(j->client, owner);
        key_addr_to_checksum(client, me);
        rc = cli_fail(c, ERR_PERM, "%s: its client is %s, your key is %s", what, owner, me);
        goto out;
    }
    if (j->status != want)
        rc = cli_fail(c, ERR_STATE, "%s: it is %s in the escrow; %s needs %s", what,
                      cli_escrow_status_name(j->status), fn, cli_escrow_status_name(want));
out:
    buf_release(&why);
    return rc;
}

/* accept and dispute: fn(bytes32) by the client of a Submitted job. */
static int job_tx(struct cli *c, int argc, char **argv, const char *fn)
{
    const bool is_accept = strcmp(fn, "accept") == 0;
    const struct cli_cmd_spec sp = {
        fn,
        "JOB",
        1,
        1,
        is_accept ? "Accept the submitted result of job JOB: the escrow pays the worker now. "
                    "JOB is the gateway's job id, or the escrow's 0x job id."
                  : "Dispute the submitted result of job JOB within its challenge window: the "
                    "arbiter decides who is paid. JOB is the gateway's job id, or the escrow's "
                    "0x job id.",
        is_accept ? "loom accept 42" : "loom dispute 42",
        NULL,
        0};
    struct cli_escrow *x = NULL;
    struct key k;
    struct buf why, data;
    struct cli_escrow_sent sent;
    uint8_t job_id[32];
    enum err e;
    int rc = cli_begin(c, &sp, argc, argv);
    memset(&k, 0, sizeof(k));
    memset(&sent, 0, sizeof(sent));
    buf_init(&why, 4096);
    buf_init(&data, 0);
    if (rc >= 0)
        goto out;
    const char *arg = c->args[0];
    char what[128];
    (void)snprintf(what, sizeof(what), "cannot %s job %.66s", fn, arg);
    if ((e = cli_load_key(c, &k, &why)) != ERR_OK) {
        rc = cli_fail(c, e, "%s: %s", what, buf_cstr(&why));
        goto out;
    }
    if (parse_job(arg, k.addr, job_id) != ERR_OK) {
        rc = cli_usage(c,
                       "JOB \"%s\" must be a job id (a positive integer) or an escrow id "
                       "(0x + 64 hex digits)",
                       arg);
        goto out;
    }
    struct cli_escrow_job j;
    if ((rc = check_job(c, what, fn, job_id, k.addr, 3, " (not funded; loom fund)", &x, &j)) >= 0)
        goto out;
    if ((e = cli_escrow_calldata_job(fn, job_id, &data)) != ERR_OK) {
        rc = cli_fail(c, e, "%s: cannot encode the call", what);
        goto out;
    }
    if ((e = cli_escrow_send(x, &k, (const uint8_t *)data.data, data.len, u256_from_u64(0),
                             (long)c->timeout_s, &sent, &why)) != ERR_OK) {
        rc = cli_fail(c, e, "%s: %s", what, buf_cstr(&why));
        goto out;
    }
    rc = report(c, is_accept ? "accepted" : "disputed", arg, &sent,
                is_accept ? "paid_wei" : "held_wei", &j.amount_wei, "worker", j.worker);
out:
    rpc_receipt_release(&sent.receipt);
    cli_escrow_free(x);
    key_wipe(&k);
    buf_release(&data);
    buf_release(&why);
    cli_release(c, &sp);
    return rc;
}

int cmd_accept(struct cli *c, int argc, char **argv)
{
    return job_tx(c, argc, argv, "accept");
}

int cmd_dispute(struct cli *c, int argc, char **argv)
{
    return job_tx(c, argc, argv, "dispute");
}

int cmd_withdraw(struct cli *c, int argc, char **argv)
{
    const struct cli_cmd_spec sp = {
        "withdraw",
        "",
        0,
        0,
        "Withdraw your whole balance in the escrow (refunds, a dispute's share, or a worker's "
        "pay) to your address.",
        "loom withdraw",
        NULL,
        0};
    struct cli_escrow *x = NULL;
    struct key k;
    struct buf why, data;
    struct cli_escrow_sent sent;
    enum err e;
    int rc = cli_begin(c, &sp, argc, argv);
    memset(&k, 0, sizeof(k));
    memset(&sent, 0, sizeof(sent));
    buf_init(&why, 4096);
    buf_init(&data, 0);
    if (rc >= 0)
        goto out;
    if ((e = cli_load_key(c, &k, &why)) != ERR_OK) {
        rc = cli_fail(c, e, "cannot withdraw: %s", buf_cstr(&why));
        goto out;
    }
    if ((rc = cmd__open_escrow(c, "cannot withdraw", &x)) >= 0)
        goto out;
    struct u256 balance;
    if ((e = cli_escrow_balance_of(x, k.addr, &balance, &why)) != ERR_OK) {
        rc = cli_fail(c, e, "cannot withdraw: %s", buf_cstr(&why));
        goto out;
    }
    if (u256_is_zero(balance)) {
        char me[KEY_ADDR_HEX_MAX];
        key_addr_to_checksum(k.addr, me);
        rc = cli_fail(c, ERR_STATE, "cannot withdraw: %s has nothing to withdraw", me);
        goto out;
    }
    if ((e = cli_escrow_calldata_withdraw(&data)) != ERR_OK ||
        (e = cli_escrow_send(x, &k, (const uint8_t *)data.data, data.len, u256_from_u64(0),
                             (long)c->timeout_s, &sent, &why)) != ERR_OK) {
        rc = cli_fail(c, e, "cannot withdraw: %s", buf_cstr(&why));
        goto out;
    }
    rc = report(c, "withdrew", NULL, &sent, "amount_wei", &balance, "to", k.addr);
out:
    rpc_receipt_release(&sent.receipt);
    cli_escrow_free(x);
    key_wipe(&k);
    buf_release(&data);
    buf_release(&why);
    cli_release(c, &sp);
    return rc;
}

/* loom resolve: the arbiter's ruling on a Disputed job (docs/contracts.md
 * "Lifecycle"): resolve(jobId, toWorker), the rest to the client. The key is
 * the arbiter's; the escrow refuses any other (NotArbiter). */
int cmd_resolve(struct cli *c, int argc, char **argv)
{
    char *to_worker_s = NULL, *client_s = NULL;
    const struct cli_opt opts[] = {
        {"to-worker", CLI_OPT_STR, NULL, NULL, 0, 0, "WEI",
         "what the worker gets, in wei (decimal), or \"all\"; the client gets the rest",
         &to_worker_s},
        {"client", CLI_OPT_STR, NULL, NULL, 0, 0, "ADDR",
         "the job's client, when JOB is a gateway job id (the escrow id is derived from it)",
         &client_s},
    };
    const struct cli_cmd_spec sp = {
        "resolve",
        "JOB",
        1,
        1,
        "As the escrow's arbiter, resolve the Disputed job JOB: the worker is paid "
        "--to-worker wei and the client the rest. JOB is the escrow's 0x job id, or a gateway "
        "job id with --client.",
        "loom resolve --key-file arbiter.key --client 0x6dedd068246e2efa964642b19cac38cb0a9ed849 "
        "--to-worker all 42",
        opts,
        sizeof(opts) / sizeof(opts[0])};
    struct cli_escrow *x = NULL;
    struct key k;
    struct buf why, data;
    struct cli_escrow_sent sent;
    struct cli_escrow_job j = {0};
    struct u256 to_worker = u256_from_u64(0);
    uint8_t job_id[32], client[20];
    char what[128];
    enum err e;
    int rc = cli_begin(c, &sp, argc, argv);
    memset(&k, 0, sizeof(k));
    memset(&sent, 0, sizeof(sent));
    buf_init(&why, 4096);
    buf_init(&data, 0);
    if (rc >= 0)
        goto out;
    const char *arg = c->args[0];
    (void)snprintf(what, sizeof(what), "cannot resolve job %.66s", arg);
    if (!to_worker_s) {
        rc = cli_usage(c, "--to-worker WEI (or \"all\") is required");
        goto out;
    }
    if (strcmp(to_worker_s, "all") != 0 && u256_parse_dec(to_worker_s, &to_worker) != ERR_OK) {
        rc =
            cli_usage(c, "--to-worker \"%s\" must be a decimal wei amount or \"all\"", to_worker_s);
        goto out;
    }
    if (arg[0] == '0' && arg[1] == 'x') {
        if (hex_decode_exact(arg, job_id, 32) != ERR_OK) {
            rc = cli_usage(c, "JOB \"%s\" must be 0x + 64 hex digits", arg);
            goto out;
        }
    } else if (!client_s || key_addr_parse(client_s, client) != ERR_OK) {
        rc = cli_usage(c,
                       "JOB \"%s\" is a gateway job id: give its client with --client ADDR "
                       "(0x + 40 hex digits), or JOB as the escrow's 0x job id",
                       arg);
        goto out;
    } else if (parse_job(arg, client, job_id) != ERR_OK) {
        rc = cli_usage(c,
                       "JOB \"%s\" must be a job id (a positive integer) or an escrow id "
                       "(0x + 64 hex digits)",
                       arg);
        goto out;
    }
    if ((e = cli_load_key(c, &k, &why)) != ERR_OK) {
        rc = cli_fail(c, e, "%s: %s", what, buf_cstr(&why));
        goto out;
    }
    if ((rc = check_job(c, what, "resolve", job_id, NULL, 4, "", &x, &j)) >= 0)
        goto out;
    if (strcmp(to_worker_s, "all") == 0)
        to_worker = j.amount_wei;
    if (u256_cmp(to_worker, j.amount_wei) > 0) {
        char amount[U256_DEC_MAX];
        u256_to_dec(j.amount_wei, amount);
        rc = cli_fail(c, ERR_INVAL, "%s: --to-worker %s is more than the job's %s wei", what,
                      to_worker_s, amount);
        goto out;
    }
    if ((e = cli_escrow_calldata_resolve(job_id, to_worker, &data)) != ERR_OK) {
        rc = cli_fail(c, e, "%s: cannot encode the call", what);
        goto out;
    }
    if ((e = cli_escrow_send(x, &k, (const uint8_t *)data.data, data.len, u256_from_u64(0),
                             (long)c->timeout_s, &sent, &why)) != ERR_OK) {
        rc = cli_fail(c, e, "%s: %s", what, buf_cstr(&why));
        goto out;
    }
    rc = report(c, "resolved", arg, &sent, "to_worker_wei", &to_worker, "worker", j.worker);
out:
    rpc_receipt_release(&sent.receipt);
    cli_escrow_free(x);
    key_wipe(&k);
    buf_release(&data);
    buf_release(&why);
    cli_release(c, &sp);
    return rc;
}
