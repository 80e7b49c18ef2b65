/*
 * cmds -- the subcommand table main.c dispatches on.
 * SPDX-License-Identifier: MIT
 */
#include "cmds.h"

static const struct cmd_entry table[] = {
    {"create", cmd_create, "create a job on the gateway (fields, job.json, input files)"},
    {"quote", cmd_quote, "convert a USD price to wei with the escrow's price feed"},
    {"fund", cmd_fund, "lock a job's price in the escrow (signs create with your key)"},
    {"status", cmd_status, "show one job"},
    {"list", cmd_list, "list jobs (--status, --type, --mine)"},
    {"watch", cmd_watch, "follow a job live until it ends"},
    {"accept", cmd_accept, "accept a submitted result: pay the worker now"},
    {"dispute", cmd_dispute, "dispute a submitted result within its window"},
    {"fetch", cmd_fetch, "download a job's result and check its sha256"},
    {"withdraw", cmd_withdraw, "withdraw your balance from the escrow"},
    {"resolve", cmd_resolve,
     "the arbiter: split a disputed job's amount between worker and client"},
};

const struct cmd_entry *cmd_table(size_t *n)
{
    *n = sizeof(table) / sizeof(table[0]);
    return table;
}
