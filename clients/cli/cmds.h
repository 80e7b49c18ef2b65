/*
 * cmds -- the `loom` subcommands, one function each, grouped in modules by
 * family: cmd_jobs.c (create, status, list), cmd_quote.c (quote),
 * cmd_fund.c (fund), cmd_watch.c (watch), cmd_settle.c (accept, dispute,
 * withdraw), cmd_fetch.c (fetch).
 *
 * Each takes a struct cli whose out and err streams are set and whose other
 * fields are zero, and argv with the command's name in argv[0]; it parses
 * its options (cli_parse), does the work, prints the result (text, or one
 * JSON document with --json) and returns the exit status (enum cli_exit).
 * It releases everything it allocated. Not here: dispatch (main.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_CLI_CMDS_H
#define LOOM_CLI_CMDS_H

#include "cli.h"

typedef int (*cmd_fn)(struct cli *c, int argc, char **argv);

int cmd_create(struct cli *c, int argc, char **argv);
int cmd_status(struct cli *c, int argc, char **argv);
int cmd_list(struct cli *c, int argc, char **argv);
int cmd_quote(struct cli *c, int argc, char **argv);
int cmd_fund(struct cli *c, int argc, char **argv);
int cmd_watch(struct cli *c, int argc, char **argv);
int cmd_accept(struct cli *c, int argc, char **argv);
int cmd_dispute(struct cli *c, int argc, char **argv);
int cmd_withdraw(struct cli *c, int argc, char **argv);
int cmd_resolve(struct cli *c, int argc, char **argv);
int cmd_fetch(struct cli *c, int argc, char **argv);

struct cli_escrow;

/*
 * Shared by the chain commands (cmd_settle.c): open the escrow of
 * c->deployment through c->rpc_url. Returns -1 on success (*x set), else
 * prints "<what>: <reason>" and returns the exit status: CLI_EXIT_CONFIG
 * for a missing or bad deployment file or a chain id mismatch.
 */
int cmd__open_escrow(struct cli *c, const char *what, struct cli_escrow **x);

/* The table main.c dispatches on, in help order; n in *n. */
struct cmd_entry {
    const char *name;
    cmd_fn fn;
    const char *summary;
};
const struct cmd_entry *cmd_table(size_t *n);

#endif
