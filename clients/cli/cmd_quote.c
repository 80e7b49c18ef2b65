/*
 * cmd_quote -- loom quote: what a USD price costs in wei now, from the
 * gateway's GET /api/quote (the Chainlink feed the escrow uses).
 * SPDX-License-Identifier: MIT
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cmds.h"
#include "eth/u256.h"
#include "json.h"

int cmd_quote(struct cli *c, int argc, char **argv)
{
    char *usd = NULL;
    const struct cli_opt opts[] = {
        {"usd", CLI_OPT_STR, NULL, NULL, 0, 0, "USD",
         "the price in US dollars, at most 2 decimals (required)", &usd},
    };
    const struct cli_cmd_spec sp = {
        "quote",
        "",
        0,
        0,
        "Convert a USD price to wei with the escrow's ETH/USD feed (through the gateway), and "
        "show the feed round and its age.",
        "loom quote --usd 12.50",
        opts,
        sizeof(opts) / sizeof(opts[0])};
    struct api *a = NULL;
    struct api_quote q;
    struct cJSON *o = NULL;
    int64_t cents = 0;
    int rc = cli_begin(c, &sp, argc, argv);
    if (rc >= 0)
        goto out;
    if (usd == NULL) {
        rc = cli_usage(c, "--usd is required");
        goto out;
    }
    if (cli_parse_usd(usd, &cents) != ERR_OK) {
        rc = cli_usage(c,
                       "--usd \"%s\" must be a positive amount of dollars with at most 2 "
                       "decimals, up to 1000000000",
                       usd);
        goto out;
    }
    enum err e = api_new(c->gateway_url, (long)c->timeout_s * 1000, &a);
    if (e != ERR_OK) {
        rc = cli_fail(c, e, "bad gateway URL \"%s\"", c->gateway_url);
        goto out;
    }
    if ((e = api_quote(a, cents, &q)) != ERR_OK) {
        rc = cli_fail(c, e, "cannot quote %s USD: %s", usd, api_errmsg(a));
        goto out;
    }
    if (q.usd_cents != cents) {
        rc = cli_fail(c, ERR_PROTO, "cannot quote %s USD: the gateway quoted %" PRId64 " cents",
                      usd, q.usd_cents);
        goto out;
    }
    char eth[CLI_ETH_MAX], usd_s[CLI_USD_MAX], wei[U256_DEC_MAX], price[U256_UNITS_MAX];
    struct u256 w, ans;
    cli_format_eth(q.wei, eth);
    cli_format_usd(cents, usd_s);
    if (u256_from_be(q.wei, 32, &w) != ERR_OK)
        w = u256_from_u64(0);
    u256_to_dec(w, wei);
    /* The answer is USD per ETH scaled by 10^decimals (Chainlink). */
    if (q.answer[0] == '\0' || u256_parse_dec(q.answer, &ans) != ERR_OK ||
        u256_format_units(ans, (unsigned)q.decimals, NULL, price, sizeof(price)) != ERR_OK)
        (void)snprintf(price, sizeof(price), "?");
    if (c->json) {
        e = json_new_object(&o);
        if (e == ERR_OK)
            e = json_add_int(o, "usd_cents", cents);
        if (e == ERR_OK)
            e = json_add_u256(o, "wei", q.wei);
        if (e == ERR_OK)
            e = json_add_str(o, "eth", eth);
        if (e == ERR_OK)
            e = json_add_str(o, "round_id", q.round_id);
        if (e == ERR_OK)
            e = json_add_int(o, "updated_at", q.updated_at);
        if (e == ERR_OK)
            e = json_add_int(o, "age_s", q.age_s);
        if (e == ERR_OK)
            e = json_add_str(o, "answer", q.answer);
        if (e == ERR_OK)
            e = json_add_int(o, "decimals", q.decimals);
        if (e == ERR_OK)
            e = cli_print_json(c, o);
        rc = e == ERR_OK ? CLI_EXIT_OK : cli_fail(c, e, "cannot print the quote");
        goto out;
    }
    fprintf(c->out, "%s USD = %s (%s wei)\n", usd_s, eth, wei);
    fprintf(c->out, "feed: %s USD/ETH, round %s, updated %" PRId64 " s ago\n", price,
            q.round_id[0] ? q.round_id : "?", q.age_s);
    rc = CLI_EXIT_OK;
out:
    json_free(o);
    api_free(a);
    cli_release(c, &sp);
    return rc;
}
