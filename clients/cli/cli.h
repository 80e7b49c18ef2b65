/*
 * cli -- what every `loom` subcommand shares: its option table and parser,
 * the global settings (gateway URL, RPC URL, deployment file, key file,
 * --json), the client's key, the mapping from enum err to exit status, and
 * the output helpers (one line of text, or one JSON object for scripts).
 *
 * Not here: HTTP (http.h), the gateway's routes (api.h), the escrow
 * (escrow.h), the commands themselves (cmds.h). Options are parsed by this
 * module's own small table rather than common/cfg.h because a command line
 * tool needs positional arguments mixed with flags ("loom status --json 42")
 * and per-command usage text, and because only the global settings may come
 * from the environment (a stray LOOM_OUT must not redirect `loom fetch`).
 * Threading: single-threaded process; nothing here is shared.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_CLI_CLI_H
#define LOOM_CLI_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "err.h"
#include "eth/key.h"

struct cJSON;

/*
 * Exit statuses scripts can rely on (docs/cli.md "Exit codes"). The 64-78
 * values are BSD sysexits(3), so shells and supervisors read them the usual
 * way; CLI_EXIT_JOB_FAILED is ours.
 */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_JOB_FAILED = 2,  /* watch: the job ended REFUNDED or DISPUTED */
    CLI_EXIT_USAGE = 64,      /* EX_USAGE: bad arguments or options */
    CLI_EXIT_DATAERR = 65,    /* EX_DATAERR: bad input, refused by the gateway or the chain */
    CLI_EXIT_NOINPUT = 66,    /* EX_NOINPUT: a file or job that does not exist */
    CLI_EXIT_UNAVAILABLE = 69, /* EX_UNAVAILABLE: gateway or node unreachable */
    CLI_EXIT_SOFTWARE = 70,   /* EX_SOFTWARE: out of memory, an internal error */
    CLI_EXIT_CANTCREAT = 73,  /* EX_CANTCREAT: cannot write the output */
    CLI_EXIT_IOERR = 74,      /* EX_IOERR: a local read or write failed */
    CLI_EXIT_TEMPFAIL = 75,   /* EX_TEMPFAIL: timed out or rate limited; try again */
    CLI_EXIT_PROTOCOL = 76,   /* EX_PROTOCOL: the gateway or node answered nonsense */
    CLI_EXIT_NOPERM = 77,     /* EX_NOPERM: key file mode, wrong signer, not allowed */
    CLI_EXIT_CONFIG = 78,     /* EX_CONFIG: unusable settings (deployment file) */
};

/* Map an error to its exit status (the table in cli.c; docs/cli.md). */
enum cli_exit cli_exit_for(enum err e);

/* Option kinds of a command's table. */
enum cli_opt_kind {
    CLI_OPT_STR,   /* dst is char **: a heap copy (cli_opts_release frees it) */
    CLI_OPT_INT,   /* dst is long long *: decimal within [min, max] */
    CLI_OPT_FLAG,  /* dst is bool *: present = true; takes no value */
    CLI_OPT_MULTI, /* dst is struct cli_strv *: repeatable, every value kept */
};

/* The values of a repeatable option, in order. Strings are borrowed from argv. */
struct cli_strv {
    const char **v;
    size_t n;
};

struct cli_opt {
    const char *name;    /* long flag without dashes: "price-usd" */
    enum cli_opt_kind kind;
    const char *env;     /* environment variable read first, or NULL */
    const char *def;     /* default as text, or NULL */
    long long min, max;  /* CLI_OPT_INT bounds, inclusive */
    const char *metavar; /* "URL", "FILE"; NULL for flags */
    const char *help;    /* one line, with the unit */
    void *dst;
};

/* A subcommand's description, for parsing and --help. */
struct cli_cmd_spec {
    const char *name;        /* "fund" */
    const char *args;        /* positional synopsis: "JOB" or "" */
    size_t min_args, max_args;
    const char *summary;     /* one line */
    const char *example;     /* one example command line */
    const struct cli_opt *opts;
    size_t n_opts;
};

/* Settings every command accepts (flags, then environment, then default). */
struct cli {
    const char *cmd;   /* the subcommand, for messages */
    char *gateway_url; /* --gateway, LOOM_GATEWAY_URL */
    char *rpc_url;     /* --rpc-url, LOOM_RPC_URL */
    char *deployment;  /* --deployment, LOOM_DEPLOYMENT: deploy.sh's JSON */
    char *key_file;    /* --key-file, LOOM_KEY_FILE: 0600 hex key */
    long long timeout_s; /* --timeout, LOOM_TIMEOUT_S: network calls and receipts */
    bool json;         /* --json: one JSON document on stdout */
    bool help;         /* --help seen */
    const char **args; /* positional arguments, borrowed from argv */
    size_t n_args;
    FILE *out;         /* stdout, or a test's stream */
    FILE *err;         /* stderr, or a test's stream */
};

/*
 * Parse argv[1..argc) of command <spec> (argv[0] is the command name) into
 * <c> (zeroed by the caller; out/err set) and the command's own table.
 * Global options are accepted anywhere; "--" ends options; "--key" and
 * "--private-key" are refused with a pointer to --key-file (keys never go
 * on a command line).
 * Returns ERR_OK (check c->help), ERR_INVAL (a message is printed on c->err
 * and the caller exits CLI_EXIT_USAGE), ERR_NOMEM. Call cli_release() and
 * cli_opts_release() either way.
 */
LOOM_MUST_CHECK enum err cli_parse(struct cli *c, const struct cli_cmd_spec *spec, int argc,
                                   char **argv);

/*
 * Parse as cli_parse() and handle the outcomes every command handles alike:
 * returns -1 when the command should run, else the exit status to return
 * at once (0 after printing --help, CLI_EXIT_USAGE after a usage message,
 * CLI_EXIT_SOFTWARE when out of memory). Call cli_release() either way.
 */
int cli_begin(struct cli *c, const struct cli_cmd_spec *spec, int argc, char **argv);

/* Print <spec>'s help (usage, options with environment names and
 * defaults, the global options, an example) to <out>. */
void cli_print_help(FILE *out, const struct cli_cmd_spec *spec);

/* Free what cli_parse() stored in <c> and in <spec>'s table. */
void cli_release(struct cli *c, const struct cli_cmd_spec *spec);

/*
 * Print "loom <cmd>: <message>" on c->err and return cli_exit_for(<e>), so
 * a command can `return cli_fail(c, e, "cannot fund job %s: %s", ...)`.
 * With --json the same goes to stdout as {"error":{"code","message","exit"}}
 * as well, so a script always has one JSON document to read.
 */
int cli_fail(const struct cli *c, enum err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* cli_fail() with an explicit exit status <code> instead of <e>'s. */
int cli_fail_code(const struct cli *c, enum err e, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Print a usage error for <c> and return CLI_EXIT_USAGE. */
int cli_usage(const struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Load the client's key from c->key_file into <k> (key_load_file: mode 0600
 * or 0400, owned by the user).
 *   why: receives the reason on failure.
 * Returns ERR_OK, ERR_INVAL (no key file configured: why says how to set
 * one), and key_load_file()'s errors (ERR_PERM for a 0644 file).
 */
LOOM_MUST_CHECK enum err cli_load_key(const struct cli *c, struct key *k, struct buf *why);

/*
 * Parse a job id argument: a positive decimal integer that fits int64.
 * Returns ERR_OK or ERR_INVAL.
 */
LOOM_MUST_CHECK enum err cli_parse_job_id(const char *s, int64_t *id);

/*
 * Parse a US dollar amount with at most two decimals ("12.50", "3") into
 * cents, 1..10^12. Returns ERR_OK, ERR_INVAL (not a plain decimal, more
 * than two decimals, zero), ERR_RANGE (too large).
 */
LOOM_MUST_CHECK enum err cli_parse_usd(const char *s, int64_t *cents);

/* Print the JSON value <v> (borrowed) compactly, then a newline, on c->out.
 * Returns ERR_OK, ERR_NOMEM, ERR_IO. */
LOOM_MUST_CHECK enum err cli_print_json(const struct cli *c, const struct cJSON *v);

/* Format <cents> as dollars, "12.50", into out[CLI_USD_MAX]. */
#define CLI_USD_MAX 32
#define CLI_ETH_MAX 96
void cli_format_usd(int64_t cents, char out[CLI_USD_MAX]);

/* Format <wei_be> (32 bytes big-endian) as ether, "0.0125 ETH", into
 * out[CLI_ETH_MAX]. */
void cli_format_eth(const uint8_t wei_be[32], char out[CLI_ETH_MAX]);

#endif
