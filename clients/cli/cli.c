/*
 * cli -- option parsing, settings, exit statuses and output of `loom`.
 * SPDX-License-Identifier: MIT
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "eth/u256.h"
#include "json.h"
#include "proto.h"

/*
 * enum err -> exit status. Why each: the caller can fix bad input (65) and
 * bad arguments (64, chosen by the parser, not here); a missing job or file
 * is 66; a dependency that is down is 69, one that was slow or said "later"
 * is 75 (a retry may work); anything about keys or signers is 77.
 */
static const unsigned char exit_table[ERR__COUNT] = {
    [ERR_OK] = CLI_EXIT_OK,
    [ERR_INVAL] = CLI_EXIT_DATAERR,
    [ERR_NOMEM] = CLI_EXIT_SOFTWARE,
    [ERR_TOOBIG] = CLI_EXIT_DATAERR,
    [ERR_RANGE] = CLI_EXIT_DATAERR,
    [ERR_NOTFOUND] = CLI_EXIT_NOINPUT,
    [ERR_EXISTS] = CLI_EXIT_DATAERR,
    [ERR_PERM] = CLI_EXIT_NOPERM,
    [ERR_AUTH] = CLI_EXIT_NOPERM,
    [ERR_STATE] = CLI_EXIT_DATAERR,
    [ERR_TIMEDOUT] = CLI_EXIT_TEMPFAIL,
    [ERR_IO] = CLI_EXIT_IOERR,
    [ERR_PROTO] = CLI_EXIT_PROTOCOL,
    [ERR_VERSION] = CLI_EXIT_PROTOCOL,
    [ERR_RPC] = CLI_EXIT_DATAERR,
    [ERR_DB] = CLI_EXIT_TEMPFAIL,
    [ERR_UNAVAILABLE] = CLI_EXIT_UNAVAILABLE,
    [ERR_CRYPTO] = CLI_EXIT_NOPERM,
    [ERR_CL] = CLI_EXIT_SOFTWARE,
    [ERR_CANCELED] = CLI_EXIT_TEMPFAIL,
};

enum cli_exit cli_exit_for(enum err e)
{
    if ((int)e < 0 || e >= ERR__COUNT)
        return CLI_EXIT_SOFTWARE;
    return (enum cli_exit)exit_table[e];
}

/* The settings every command takes. Their dst pointers are bound to a
 * struct cli at parse time (see bind_globals). */
enum { G_GATEWAY, G_RPC, G_DEPLOYMENT, G_KEY_FILE, G_TIMEOUT, G_JSON, G__COUNT };

/* 120 s: a receipt on a real chain can take several blocks; anvil mines at once. */
#define DEFAULT_TIMEOUT "120"

static void bind_globals(struct cli *c, struct cli_opt g[G__COUNT])
{
    const struct cli_opt tmpl[G__COUNT] = {
        [G_GATEWAY] = {"gateway", CLI_OPT_STR, "LOOM_GATEWAY_URL", "http://127.0.0.1:8080", 0, 0,
                       "URL", "the REST gateway", &c->gateway_url},
        [G_RPC] = {"rpc-url", CLI_OPT_STR, "LOOM_RPC_URL", "http://127.0.0.1:8545", 0, 0, "URL",
                   "Ethereum JSON-RPC endpoint (fund, accept, dispute, withdraw, resolve)",
                   &c->rpc_url},
        [G_DEPLOYMENT] = {"deployment", CLI_OPT_STR, "LOOM_DEPLOYMENT", "deployment.json", 0, 0,
                          "FILE", "contracts/deploy.sh's JSON: escrow address and chain id",
                          &c->deployment},
        [G_KEY_FILE] = {"key-file", CLI_OPT_STR, "LOOM_KEY_FILE", NULL, 0, 0, "FILE",
                        "the client's private key, hex, mode 0600 (never on the command line)",
                        &c->key_file},
        [G_TIMEOUT] = {"timeout", CLI_OPT_INT, "LOOM_TIMEOUT_S", DEFAULT_TIMEOUT, 1, 86400, "S",
                       "seconds to wait for the gateway, the node or a receipt", &c->timeout_s},
        [G_JSON] = {"json", CLI_OPT_FLAG, NULL, NULL, 0, 0, NULL,
                    "print one JSON document on stdout (for scripts)", &c->json},
    };
    memcpy(g, tmpl, sizeof(tmpl));
}

static void print_usage_err(FILE *err, const char *cmd, const char *fmt, va_list ap)
{
    fprintf(err, "loom %s: ", cmd ? cmd : "");
    vfprintf(err, fmt, ap);
    fprintf(err, " (see loom %s --help)\n", cmd ? cmd : "");
}

static void usage_err(FILE *err, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void usage_err(FILE *err, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_usage_err(err, cmd, fmt, ap);
    va_end(ap);
}

/* Store text <v> into option <o>. <origin> names where it came from. */
static enum err set_opt(const struct cli_opt *o, const char *v, const char *origin, FILE *err,
                        const char *cmd)
{
    switch (o->kind) {
    case CLI_OPT_STR: {
        char **dst = o->dst;
        char *copy = strdup(v);
        if (copy == NULL)
            return ERR_NOMEM;
        free(*dst);
        *dst = copy;
        return ERR_OK;
    }
    case CLI_OPT_INT: {
        char *end = NULL;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (v[0] == '\0' || *end != '\0' || errno != 0 || x < o->min || x > o->max) {
            usage_err(err, cmd, "%s \"%s\" of --%s must be an integer from %lld to %lld", origin, v,
                      o->name, o->min, o->max);
            return ERR_INVAL;
        }
        *(long long *)o->dst = x;
        return ERR_OK;
    }
    case CLI_OPT_FLAG:
        *(bool *)o->dst = true;
        return ERR_OK;
    case CLI_OPT_MULTI: {
        struct cli_strv *sv = o->dst;
        const char **nv = realloc(sv->v, (sv->n + 1) * sizeof(*nv));
        if (nv == NULL)
            return ERR_NOMEM;
        nv[sv->n++] = v;
        sv->v = nv;
        return ERR_OK;
    }
    }
    return ERR_INVAL;
}

static const struct cli_opt *find_opt(const struct cli_opt *a, size_t n, const char *name,
                                      size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(a[i].name) == len && strncmp(a[i].name, name, len) == 0)
            return &a[i];
    return NULL;
}

/* Defaults, then environment, for every option of one table. */
static enum err load_defaults(const struct cli_opt *a, size_t n, FILE *err, const char *cmd)
{
    for (size_t i = 0; i < n; i++) {
        enum err e;
        if (a[i].def != NULL && (e = set_opt(&a[i], a[i].def, "default", err, cmd)) != ERR_OK)
            return e;
        const char *v = a[i].env ? getenv(a[i].env) : NULL;
        if (v != NULL && v[0] != '\0' && (e = set_opt(&a[i], v, a[i].env, err, cmd)) != ERR_OK)
            return e;
    }
    return ERR_OK;
}

enum err cli_parse(struct cli *c, const struct cli_cmd_spec *spec, int argc, char **argv)
{
    struct cli_opt g[G__COUNT];
    enum err e;

    c->cmd = spec->name;
    bind_globals(c, g);
    if ((e = load_defaults(g, G__COUNT, c->err, c->cmd)) != ERR_OK ||
        (e = load_defaults(spec->opts, spec->n_opts, c->err, c->cmd)) != ERR_OK)
        return e;
    c->args = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*c->args));
    if (c->args == NULL)
        return ERR_NOMEM;
    bool only_args = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_args || a[0] != '-' || a[1] == '\0') {
            c->args[c->n_args++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_args = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            c->help = true;
            return ERR_OK;
        }
        if (a[1] != '-') {
            usage_err(c->err, c->cmd, "unknown option \"%s\"", a);
            return ERR_INVAL;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        if ((len == 3 && strncmp(name, "key", 3) == 0) ||
            (len == 11 && strncmp(name, "private-key", 11) == 0)) {
            usage_err(c->err, c->cmd,
                      "keys are never taken on the command line (other users can read it): "
                      "put the key in a 0600 file and pass --key-file or LOOM_KEY_FILE");
            return ERR_INVAL;
        }
        const struct cli_opt *o = find_opt(spec->opts, spec->n_opts, name, len);
        if (o == NULL)
            o = find_opt(g, G__COUNT, name, len);
        if (o == NULL) {
            usage_err(c->err, c->cmd, "unknown option \"--%.*s\"", (int)len, name);
            return ERR_INVAL;
        }
        const char *v;
        if (o->kind == CLI_OPT_FLAG) {
            if (eq != NULL) {
                usage_err(c->err, c->cmd, "--%s takes no value", o->name);
                return ERR_INVAL;
            }
            v = "";
        } else if (eq != NULL) {
            v = eq + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            usage_err(c->err, c->cmd, "--%s needs a value (%s)", o->name, o->metavar);
            return ERR_INVAL;
        }
        if ((e = set_opt(o, v, "value", c->err, c->cmd)) != ERR_OK)
            return e;
    }
    if (c->n_args < spec->min_args || c->n_args > spec->max_args) {
        if (c->n_args < spec->min_args)
            usage_err(c->err, c->cmd, "missing argument: usage is loom %s %s", spec->name,
                      spec->args);
        else
            usage_err(c->err, c->cmd, "unexpected argument \"%s\": usage is loom %s %s",
                      c->args[spec->max_args], spec->name, spec->args);
        return ERR_INVAL;
    }
    return ERR_OK;
}

static void print_opt(FILE *out, const struct cli_opt *o)
{
    fprintf(out, "  --%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
    if (o->kind == CLI_OPT_MULTI)
        fprintf(out, " (repeatable)");
    fprintf(out, "\n      %s", o->help);
    if (o->kind == CLI_OPT_INT)
        fprintf(out, "; %lld..%lld", o->min, o->max);
    if (o->env)
        fprintf(out, "; env %s", o->env);
    if (o->def)
        fprintf(out, "; default %s", o->def);
    fputc('\n', out);
}

void cli_print_help(FILE *out, const struct cli_cmd_spec *spec)
{
    struct cli dummy;
    struct cli_opt g[G__COUNT];
    memset(&dummy, 0, sizeof(dummy));
    bind_globals(&dummy, g);
    fprintf(out, "usage: loom %s [options]%s%s\n\n%s\n", spec->name, spec->args[0] ? " " : "",
            spec->args, spec->summary);
    if (spec->n_opts > 0) {
        fprintf(out, "\nOptions:\n");
        for (size_t i = 0; i < spec->n_opts; i++)
            print_opt(out, &spec->opts[i]);
    }
    fprintf(out, "\nGlobal options:\n");
    for (size_t i = 0; i < G__COUNT; i++)
        print_opt(out, &g[i]);
    fprintf(out, "  --help, -h\n      print this help and exit\n");
    fprintf(out,
            "\nExample:\n  %s\n\nExit status: 0 ok, 2 watch: job refunded or disputed, 64 usage, "
            "65 bad input or refused, 66 no such job or file, 69 unavailable, 70 internal "
            "error, 73 cannot create output, 74 I/O error, 75 try again later, 76 bad answer, "
            "77 key or permission, 78 configuration; see docs/cli.md \"Exit codes\".\n",
            spec->example);
}

void cli_release(struct cli *c, const struct cli_cmd_spec *spec)
{
    free(c->gateway_url);
    free(c->rpc_url);
    free(c->deployment);
    free(c->key_file);
    free(c->args);
    c->gateway_url = c->rpc_url = c->deployment = c->key_file = NULL;
    c->args = NULL;
    c->n_args = 0;
    for (size_t i = 0; spec != NULL && i < spec->n_opts; i++) {
        const struct cli_opt *o = &spec->opts[i];
        if (o->kind == CLI_OPT_STR) {
            char **dst = o->dst;
            free(*dst);
            *dst = NULL;
        } else if (o->kind == CLI_OPT_MULTI) {
            struct cli_strv *sv = o->dst;
            free(sv->v);
            sv->v = NULL;
            sv->n = 0;
        }
    }
}

static int vfail(const struct cli *c, enum err e, int x, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static int vfail(const struct cli *c, enum err e, int x, const char *fmt, va_list ap)
{
    struct buf msg;
    buf_init(&msg, 4096);
    if (buf_vappendf(&msg, fmt, ap) != ERR_OK)
        buf_reset(&msg);
    fprintf(c->err, "loom %s: %s\n", c->cmd ? c->cmd : "", buf_cstr(&msg));
    if (c->json) {
        struct cJSON *o = NULL, *inner = NULL;
        enum err je = json_new_object(&o);
        if (je == ERR_OK)
            je = json_add_object(o, "error", &inner);
        if (je == ERR_OK)
            je = json_add_str(inner, "code", err_code(e));
        if (je == ERR_OK)
            je = json_add_str(inner, "message", buf_cstr(&msg));
        if (je == ERR_OK)
            je = json_add_int(inner, "exit", (int64_t)x);
        if (je == ERR_OK)
            je = cli_print_json(c, o);
        json_free(o); /* on failure stderr already carries the message */
    }
    buf_release(&msg);
    return x;
}

int cli_fail(const struct cli *c, enum err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int x = vfail(c, e, (int)cli_exit_for(e), fmt, ap);
    va_end(ap);
    return x;
}

int cli_fail_code(const struct cli *c, enum err e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int x = vfail(c, e, code, fmt, ap);
    va_end(ap);
    return x;
}

int cli_usage(const struct cli *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_usage_err(c->err, c->cmd, fmt, ap);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

enum err cli_load_key(const struct cli *c, struct key *k, struct buf *why)
{
    if (c->key_file == NULL || c->key_file[0] == '\0') {
        if (buf_append_str(why, "no key file: set LOOM_KEY_FILE or pass --key-file FILE "
                                "(hex private key, mode 0600)") != ERR_OK)
            buf_reset(why);
        return ERR_INVAL;
    }
    return key_load_file(c->key_file, k, why);
}

enum err cli_parse_job_id(const char *s, int64_t *id)
{
    if (s == NULL || s[0] < '1' || s[0] > '9')
        return ERR_INVAL;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > (INT64_MAX - (*p - '0')) / 10)
            return ERR_INVAL;
        v = v * 10 + (*p - '0');
    }
    *id = v;
    return ERR_OK;
}

/* Largest price: a job's cap, PROTO_PRICE_CENTS_MAX (one billion dollars). */
#define USD_CENTS_MAX PROTO_PRICE_CENTS_MAX

enum err cli_parse_usd(const char *s, int64_t *cents)
{
    struct u256 v;
    uint64_t x;
    enum err e = u256_parse_units(s, 2, &v);
    if (e != ERR_OK)
        return e;
    if (u256_to_u64(v, &x) != ERR_OK || x > (uint64_t)USD_CENTS_MAX)
        return ERR_RANGE;
    if (x == 0)
        return ERR_INVAL;
    *cents = (int64_t)x;
    return ERR_OK;
}

enum err cli_print_json(const struct cli *c, const struct cJSON *v)
{
    struct buf b;
    buf_init(&b, 0);
    enum err e = json_print(v, &b);
    if (e == ERR_OK && fprintf(c->out, "%s\n", buf_cstr(&b)) < 0)
        e = ERR_IO;
    if (e == ERR_OK && fflush(c->out) != 0)
        e = ERR_IO;
    buf_release(&b);
    return e;
}

void cli_format_usd(int64_t cents, char out[CLI_USD_MAX])
{
    const char *sign = cents < 0 ? "-" : "";
    uint64_t a = cents < 0 ? (uint64_t)0 - (uint64_t)cents : (uint64_t)cents;
    (void)snprintf(out, CLI_USD_MAX, "%s%llu.%02llu", sign, (unsigned long long)(a / 100),
                   (unsigned long long)(a % 100));
}

int cli_begin(struct cli *c, const struct cli_cmd_spec *spec, int argc, char **argv)
{
    enum err e = cli_parse(c, spec, argc, argv);
    if (e == ERR_NOMEM)
        return cli_fail(c, e, "out of memory");
    if (e != ERR_OK)
        return CLI_EXIT_USAGE;
    if (c->help) {
        cli_print_help(c->out, spec);
        return CLI_EXIT_OK;
    }
    return -1;
}

void cli_format_eth(const uint8_t wei_be[32], char out[CLI_ETH_MAX])
{
    struct u256 v;
    if (u256_from_be(wei_be, 32, &v) != ERR_OK || u256_format_ether(v, out, CLI_ETH_MAX) != ERR_OK)
        (void)snprintf(out, CLI_ETH_MAX, "? ETH"); /* 32 bytes always fit; cannot happen */
}
