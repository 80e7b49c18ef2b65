/*
 * loom -- the client CLI of The Loom: create, quote, fund, watch, accept,
 * dispute and fetch jobs (docs/cli.md).
 *
 * main() only dispatches: it finds the subcommand in the table of cmds.h
 * and runs it. Each command parses its own options, talks to the gateway
 * (api.h) or the escrow (escrow.h), and returns a documented exit status.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <string.h>

#include "cmds.h"

static void usage(FILE *out)
{
    size_t n = 0;
    const struct cmd_entry *t = cmd_table(&n);
    fprintf(out, "usage: loom COMMAND [options] [arguments]\n\nThe client of The Loom, a GPU "
                 "compute marketplace.\n\nCommands:\n");
    for (size_t i = 0; i < n; i++)
        fprintf(out, "  %-9s %s\n", t[i].name, t[i].summary);
    fprintf(out, "\nloom COMMAND --help describes each. Settings: LOOM_GATEWAY_URL, LOOM_RPC_URL, "
                 "LOOM_DEPLOYMENT, LOOM_KEY_FILE (or the flags).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    size_t n = 0;
    const struct cmd_entry *t = cmd_table(&n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(argv[1], t[i].name) == 0) {
            struct cli c;
            memset(&c, 0, sizeof(c));
            c.out = stdout;
            c.err = stderr;
            return t[i].fn(&c, argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "loom: unknown command \"%s\" (see loom --help)\n", argv[1]);
    return CLI_EXIT_USAGE;
}
