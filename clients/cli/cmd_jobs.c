/*
 * cmd_jobs -- loom create, loom status, loom list: the gateway's job
 * records (POST /api/jobs, GET /api/jobs/{id}, GET /api/jobs).
 * SPDX-License-Identifier: MIT
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "cmds.h"
#include "hex.h"
#include "eth/key.h"
#include "json.h"

/* Open the gateway client with the common settings. */
static int open_api(struct cli *c, struct api **a)
{
    enum err e = api_new(c->gateway_url, (long)c->timeout_s * 1000, a);
    if (e != ERR_OK)
        return cli_fail(c, e, "bad gateway URL \"%s\" (want http:// or https://)", c->gateway_url);
    return -1;
}

static void format_time(int64_t t, char out[32])
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (t <= 0 || gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        (void)snprintf(out, 32, "-");
}

static void print_job(const struct cli *c, const struct api_job *j)
{
    char usd[CLI_USD_MAX], when[32], hex[65];
    cli_format_usd(j->price_usd_cents, usd);
    format_time(j->created_at, when);
    fprintf(c->out, "job %" PRId64 ": %s\n", j->id, j->title ? j->title : "");
    fprintf(c->out, "  status    %s", j->status);
    if (strcmp(j->status, "WORKING") == 0)
        fprintf(c->out, " %" PRId64 "%%", j->progress);
    fprintf(c->out, "\n  type      %s\n  price     %s USD\n", j->type ? j->type : "-", usd);
    fprintf(c->out, "  client    %s\n", j->client ? j->client : "-");
    if (j->worker)
        fprintf(c->out, "  worker    %s\n", j->worker);
    if (j->has_spec) {
        hex_encode(j->spec_sha256, 32, false, hex);
        fprintf(c->out, "  spec      sha256 %s\n", hex);
    }
    if (j->has_result) {
        hex_encode(j->result_sha256, 32, false, hex);
        fprintf(c->out, "  result    sha256 %s (%" PRId64 " bytes)\n", hex, j->result_size_bytes);
    }
    fprintf(c->out, "  created   %s\n", when);
    if (j->description && j->description[0])
        fprintf(c->out, "  %s\n", j->description);
}

/* ---- create ------------------------------------------------------------- */

int cmd_create(struct cli *c, int argc, char **argv)
{
    char *title = NULL, *description = NULL, *type = NULL, *price = NULL, *spec = NULL;
    struct cli_strv files = {0};
    const struct cli_opt opts[] = {
        {"title", CLI_OPT_STR, NULL, NULL, 0, 0, "TEXT", "job title, 1-200 bytes (required)",
         &title},
        {"description", CLI_OPT_STR, NULL, NULL, 0, 0, "TEXT", "what the job does", &description},
        {"type", CLI_OPT_STR, NULL, NULL, 0, 0, "IA|GRAFICA",
         "IA (training) or GRAFICA (graphics) (required)", &type},
        {"price-usd", CLI_OPT_STR, NULL, NULL, 0, 0, "USD",
         "price in US dollars, at most 2 decimals: 12.50 (required)", &price},
        {"spec", CLI_OPT_STR, NULL, NULL, 0, 0, "FILE",
         "the job spec (job.json) to upload; its sha256 is what fund commits on chain", &spec},
        {"file", CLI_OPT_MULTI, NULL, NULL, 0, 0, "FILE", "an input file to upload", &files},
    };
    const struct cli_cmd_spec sp = {
        "create",
        "[INPUT...]",
        0,
        64,
        "Create a job on the gateway (signed with your key): fields, job.json and input files. "
        "The job is PENDING until you fund it (loom fund).",
        "loom create --title 'Train digits' --type IA --price-usd 12.50 --spec job.json "
        "digits.csv",
        opts,
        sizeof(opts) / sizeof(opts[0])};
    struct api *a = NULL;
    struct api_job j;
    struct key k;
    struct buf why;
    const char **inputs = NULL;
    int rc = cli_begin(c, &sp, argc, argv);
    memset(&j, 0, sizeof(j));
    memset(&k, 0, sizeof(k));
    buf_init(&why, 1024);
    if (rc >= 0)
        goto out;
    int64_t cents = 0;
    enum err e;
    if (title == NULL || title[0] == '\0') {
        rc = cli_usage(c, "--title is required");
        goto out;
    }
    if (type == NULL || (strcmp(type, "IA") != 0 && strcmp(type, "GRAFICA") != 0)) {
        rc = cli_usage(c, "--type must be IA or GRAFICA%s%s%s", type ? " (got \"" : "",
                       type ? type : "", type ? "\")" : "");
        goto out;
    }
    if (price == NULL) {
        rc = cli_usage(c, "--price-usd is required");
        goto out;
    }
    if ((e = cli_parse_usd(price, &cents)) != ERR_OK) {
        rc = cli_usage(c,
                       "--price-usd \"%s\" must be a positive amount of dollars with at most "
                       "2 decimals, up to 1000000000",
                       price);
        goto out;
    }
    size_t n_inputs = files.n + c->n_args;
    inputs = calloc(n_inputs ? n_inputs : 1, sizeof(*inputs));
    if (inputs == NULL) {
        rc = cli_fail(c, ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < files.n; i++)
        inputs[i] = files.v[i];
    for (size_t i = 0; i < c->n_args; i++)
        inputs[files.n + i] = c->args[i];
    if ((e = cli_load_key(c, &k, &why)) != ERR_OK) {
        rc = cli_fail(c, e, "cannot create job: %s", buf_cstr(&why));
        goto out;
    }
    if ((rc = open_api(c, &a)) >= 0)
        goto out;
    api_set_signer(a, &k);
    struct api_job_new in = {title, description, type, cents, spec, inputs, n_inputs};
    if ((e = api_job_create(a, &in, &j)) != ERR_OK) {
        rc = cli_fail(c, e, "cannot create job \"%s\": %s", title, api_errmsg(a));
        goto out;
    }
    if (c->json) {
        rc = cli_print_json(c, j.raw) == ERR_OK ? CLI_EXIT_OK : CLI_EXIT_IOERR;
        goto out;
    }
    char usd[CLI_USD_MAX];
    cli_format_usd(j.price_usd_cents, usd);
    fprintf(c->out, "created job %" PRId64 " (%s): \"%s\", %s, %s USD, %zu input file%s%s\n", j.id,
            j.status, j.title ? j.title : title, j.type ? j.type : type, usd, n_inputs,
            n_inputs == 1 ? "" : "s", j.has_spec ? ", spec uploaded" : "");
    fprintf(c->out, "next: loom fund %" PRId64 "\n", j.id);
    rc = CLI_EXIT_OK;
out:
    free(inputs);
    key_wipe(&k);
    api_job_release(&j);
    api_free(a);
    buf_release(&why);
    cli_release(c, &sp);
    return rc;
}

/* ---- status ------------------------------------------------------------- */

int cmd_status(struct cli *c, int argc, char **argv)
{
    const struct cli_cmd_spec sp = {
        "status",
        "JOB",
        1,
        1,
        "Show one job as the gateway knows it: status, progress, price, "
        "worker, spec and result hashes.",
        "loom status 42",
        NULL,
        0};
    struct api *a = NULL;
    struct api_job j;
    int64_t id = 0;
    int rc = cli_begin(c, &sp, argc, argv);
    memset(&j, 0, sizeof(j));
    if (rc >= 0)
        goto out;
    if (cli_parse_job_id(c->args[0], &id) != ERR_OK) {
        rc = cli_usage(c, "JOB \"%s\" must be a job id (a positive integer)", c->args[0]);
        goto out;
    }
    if ((rc = open_api(c, &a)) >= 0)
        goto out;
    enum err e = api_job_get(a, id, &j);
    if (e != ERR_OK) {
        rc = cli_fail(c, e, "cannot get job %" PRId64 ": %s", id, api_errmsg(a));
        goto out;
    }
    if (c->json)
        rc = cli_print_json(c, j.raw) == ERR_OK ? CLI_EXIT_OK : CLI_EXIT_IOERR;
    else {
        print_job(c, &j);
        rc = CLI_EXIT_OK;
    }
out:
    api_job_release(&j);
    api_free(a);
    cli_release(c, &sp);
    return rc;
}

/* ---- list --------------------------------------------------------------- */

int cmd_list(struct cli *c, int argc, char **argv)
{
    static const char *const statuses[] = {"PENDING",   "OPEN",     "WORKING", "SUBMITTED",
                                           "COMPLETED", "DISPUTED", "REFUNDED"};
    char *status = NULL, *type = NULL, *cursor = NULL;
    bool mine = false;
    long long limit = 20;
    const struct cli_opt opts[] = {
        {"status", CLI_OPT_STR, NULL, NULL, 0, 0, "STATUS",
         "only jobs in this status: PENDING, OPEN, WORKING, SUBMITTED, COMPLETED, DISPUTED, "
         "REFUNDED",
         &status},
        {"type", CLI_OPT_STR, NULL, NULL, 0, 0, "IA|GRAFICA", "only jobs of this type", &type},
        {"mine", CLI_OPT_FLAG, NULL, NULL, 0, 0, NULL, "only your jobs (the address of --key-file)",
         &mine},
        {"limit", CLI_OPT_INT, NULL, "20", 1, 100, "N", "jobs per page", &limit},
        {"cursor", CLI_OPT_STR, NULL, NULL, 0, 0, "CURSOR",
         "the next page: the cursor a previous list printed", &cursor},
    };
    const struct cli_cmd_spec sp = {"list",
                                    "",
                                    0,
                                    0,
                                    "List jobs, newest first, with optional filters.",
                                    "loom list --status OPEN --type IA",
                                    opts,
                                    sizeof(opts) / sizeof(opts[0])};
    struct api *a = NULL;
    struct cJSON *root = NULL;
    struct api_job *jobs = NULL;
    size_t n = 0;
    struct key k;
    struct buf why;
    char addr[KEY_ADDR_HEX_MAX];
    int rc = cli_begin(c, &sp, argc, argv);
    memset(&k, 0, sizeof(k));
    buf_init(&why, 1024);
    if (rc >= 0)
        goto out;
    if (status != NULL) {
        bool ok = false;
        for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
            ok = ok || strcmp(status, statuses[i]) == 0;
        if (!ok) {
            rc = cli_usage(c, "unknown --status \"%s\"", status);
            goto out;
        }
    }
    if (type != NULL && strcmp(type, "IA") != 0 && strcmp(type, "GRAFICA") != 0) {
        rc = cli_usage(c, "--type must be IA or GRAFICA (got \"%s\")", type);
        goto out;
    }
    enum err e;
    if (mine) {
        if ((e = cli_load_key(c, &k, &why)) != ERR_OK) {
            rc = cli_fail(c, e, "cannot list your jobs: %s", buf_cstr(&why));
            goto out;
        }
        hex_encode(k.addr, 20, true, addr);
        key_wipe(&k); /* only the address is needed */
    }
    if ((rc = open_api(c, &a)) >= 0)
        goto out;
    struct api_list_filter f = {status, type, mine ? addr : NULL, cursor, limit};
    if ((e = api_job_list(a, &f, &root, &jobs, &n)) != ERR_OK) {
        rc = cli_fail(c, e, "cannot list jobs: %s", api_errmsg(a));
        goto out;
    }
    if (c->json) {
        rc = cli_print_json(c, root) == ERR_OK ? CLI_EXIT_OK : CLI_EXIT_IOERR;
        goto out;
    }
    fprintf(c->out, "%-8s %-10s %-8s %12s %5s  %s\n", "ID", "STATUS", "TYPE", "PRICE USD", "DONE",
            "TITLE");
    for (size_t i = 0; i < n; i++) {
        char usd[CLI_USD_MAX];
        cli_format_usd(jobs[i].price_usd_cents, usd);
        fprintf(c->out, "%-8" PRId64 " %-10s %-8s %12s %4" PRId64 "%%  %s\n", jobs[i].id,
                jobs[i].status, jobs[i].type ? jobs[i].type : "-", usd, jobs[i].progress,
                jobs[i].title ? jobs[i].title : "");
    }
    /* The cursor is a string (the gateway) or a number (PROTOCOL.md). */
    char *next = NULL;
    int64_t next_n = 0;
    if (json_get_str(root, "next_cursor", JSON_OPTIONAL, 1, 64, &next, NULL) == ERR_OK && next) {
        fprintf(c->out, "more: loom list --cursor %s\n", next);
        free(next);
    } else if (json_get_int(root, "next_cursor", JSON_OPTIONAL, 1, JSON_INT_MAX, &next_n, NULL) ==
                   ERR_OK &&
               next_n > 0) {
        fprintf(c->out, "more: loom list --cursor %" PRId64 "\n", next_n);
    } else if (n == 0) {
        fprintf(c->out, "(no jobs)\n");
    }
    rc = CLI_EXIT_OK;
out:
    for (size_t i = 0; i < n; i++)
        api_job_release(&jobs[i]);
    free(jobs);
    json_free(root);
    api_free(a);
    key_wipe(&k);
    buf_release(&why);
    cli_release(c, &sp);
    return rc;
}
