/*
 * cfg -- one settings table per service, read from LOOM_* environment
 * variables and command-line flags (flags win), with --help printing the table.
 *
 * A service declares every setting once:
 *
 *   static char *listen; static long long max_body_bytes;
 *   static const struct cfg_opt opts[] = {
 *     { "listen", CFG_STR, "127.0.0.1:8080", 0, 0, NULL, "HTTP address", &listen },
 *     { "max_body_bytes", CFG_INT, "104857600", 1, 1LL << 32, NULL, "...", &max_body_bytes },
 *   };
 *
 * Setting "max_body_bytes" is read from LOOM_MAX_BODY_BYTES and from
 * --max-body-bytes=N or --max-body-bytes N. Bad values stop start-up with a
 * message naming the variable, the flag, the value and the rule it broke.
 * Not here: secrets (keys come from files named by a setting; see eth/key.h).
 * Threading: call from start-up code only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_CFG_H
#define LOOM_CFG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

enum cfg_type {
    CFG_STR,  /* dst is char **: a heap copy, freed by cfg_release() */
    CFG_INT,  /* dst is long long *: decimal, within [min, max] */
    CFG_BOOL, /* dst is int *: true/false, 1/0, yes/no, on/off */
};

struct cfg_opt {
    const char *name; /* lower_snake_case; env LOOM_<NAME>, flag --<name-with-dashes> */
    enum cfg_type type;
    const char *def;     /* default, as text; NULL = no default (empty string, 0, false);
                          * a CFG_INT's 0 then means unset and need not be within its
                          * bounds (a required setting: min 1, the caller refuses 0) */
    long long min, max;  /* CFG_INT bounds, inclusive (ignored when min > max... never: set both) */
    const char *choices; /* CFG_STR only: "a|b|c" restricts the value; NULL = any */
    const char *help;    /* one line, with the unit */
    void *dst;           /* where the value is stored; see enum cfg_type */
};

/* Room for a configuration error message. */
#define CFG_ERR_MAX 512

/*
 * Fill every opts[i].dst from its default, then the environment, then the
 * flags in argv[1..argc-1]. "--help" or "-h" sets *help_requested = 1 and
 * stops parsing (the caller prints cfg_print_help and exits 0).
 *   opts:   borrowed, <n_opts> entries.
 *   argv:   borrowed; positional arguments are an error unless <positional>
 *           is not NULL, in which case their indexes are collected there in
 *           order (at most argc entries) with the count in *n_positional.
 *   errbuf: receives a one-line message on failure, CFG_ERR_MAX bytes.
 * Returns ERR_OK; ERR_INVAL (unknown flag, missing flag value, a value that
 * does not parse or breaks its bounds or choices: errbuf says which);
 * ERR_NOMEM. On failure strings already set stay owned by the table: call
 * cfg_release() either way.
 */
LOOM_MUST_CHECK enum err cfg_load(const struct cfg_opt *opts, size_t n_opts, int argc, char **argv,
                                  int *help_requested, int *positional, int *n_positional,
                                  char errbuf[CFG_ERR_MAX]);

/*
 * Print usage: "<program> -- <summary>", then one row per setting with its
 * flag, environment variable, type, default, bounds and help.
 */
void cfg_print_help(FILE *out, const char *program, const char *summary, const struct cfg_opt *opts,
                    size_t n_opts);

/* Free the strings cfg_load() stored and set those pointers to NULL. */
void cfg_release(const struct cfg_opt *opts, size_t n_opts);

/*
 * Split a "host:port" setting (e.g. metrics_listen "127.0.0.1:9465") at its
 * last ':'. The host must be non-empty; the port is all decimal digits,
 * 0-65535 (0: the listener picks a free one).
 *   addr: borrowed, NUL-terminated.
 *   host: receives a copy of the host, owned by the caller (free()).
 *   port: receives the port.
 * Returns ERR_OK; ERR_INVAL (no ':', empty host, a port that is empty, not
 * decimal or over 65535: *host is left NULL); ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err cfg_split_host_port(const char *addr, char **host, uint16_t *port);

/* Write the environment variable name for <name> into out ("LOOM_" + upper). */
void cfg_env_name(const char *name, char *out, size_t out_size);

#endif
