/*
 * cfg -- table-driven settings. Parsing is strict: integers must use every
 * character, booleans take a fixed word list, and nothing is silently
 * clamped, so a typo in a deployment fails at start-up instead of running
 * with a surprise value.
 * SPDX-License-Identifier: MIT
 */
#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cfg_env_name(const char *name, char *out, size_t out_size)
{
    size_t o = 0;
    const char *pre = "LOOM_";
    for (; *pre && o + 1 < out_size; pre++)
        out[o++] = *pre;
    for (; *name && o + 1 < out_size; name++)
        out[o++] = *name == '-' ? '_' : (char)toupper((unsigned char)*name);
    if (out_size)
        out[o] = '\0';
}

static void flag_name(const char *name, char *out, size_t out_size)
{
    size_t o = 0;
    if (out_size > 2) {
        out[o++] = '-';
        out[o++] = '-';
    }
    for (; *name && o + 1 < out_size; name++)
        out[o++] = *name == '_' ? '-' : *name;
    if (out_size)
        out[o] = '\0';
}

static void seterr(char *errbuf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void seterr(char *errbuf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, CFG_ERR_MAX, fmt, ap);
    va_end(ap);
}

static int choice_ok(const char *choices, const char *v)
{
    size_t vl = strlen(v);
    const char *p = choices;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == vl && strncmp(p, v, n) == 0)
            return 1;
        if (!bar)
            break;
        p = bar + 1;
    }
    return 0;
}

/* Parse <v> into <o>; <src> names where it came from, for the message. */
static enum err set_value(const struct cfg_opt *o, const char *v, const char *src, char *errbuf)
{
    char env[96], flag[96];
    cfg_env_name(o->name, env, sizeof env);
    flag_name(o->name, flag, sizeof flag);
    switch (o->type) {
    case CFG_STR: {
        if (o->choices && !choice_ok(o->choices, v)) {
            seterr(errbuf, "invalid value \"%s\" for %s (%s, from %s): must be one of %s", v, env,
                   flag, src, o->choices);
            return ERR_INVAL;
        }
        char *copy = strdup(v);
        if (!copy)
            return ERR_NOMEM;
        char **dst = o->dst;
        free(*dst);
        *dst = copy;
        return ERR_OK;
    }
    case CFG_INT: {
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (*v == '\0' || *end != '\0' || errno == ERANGE || isspace((unsigned char)*v)) {
            seterr(errbuf, "invalid value \"%s\" for %s (%s, from %s): not a decimal integer", v,
                   env, flag, src);
            return ERR_INVAL;
        }
        if (x < o->min || x > o->max) {
            seterr(errbuf,
                   "invalid value \"%s\" for %s (%s, from %s): must be between %lld and %lld", v,
                   env, flag, src, o->min, o->max);
            return ERR_INVAL;
        }
        *(long long *)o->dst = x;
        return ERR_OK;
    }
    case CFG_BOOL: {
        static const char *const yes[] = {"true", "1", "yes", "on"};
        static const char *const no[] = {"false", "0", "no", "off"};
        for (size_t i = 0; i < 4; i++) {
            if (strcmp(v, yes[i]) == 0) {
                *(int *)o->dst = 1;
                return ERR_OK;
            }
            if (strcmp(v, no[i]) == 0) {
                *(int *)o->dst = 0;
                return ERR_OK;
            }
        }
        seterr(errbuf, "invalid value \"%s\" for %s (%s, from %s): expected true or false", v, env,
               flag, src);
        return ERR_INVAL;
    }
    }
    LOOM_ASSERT(!"unknown cfg type");
    return ERR_INVAL;
}

static const struct cfg_opt *find_flag(const struct cfg_opt *opts, size_t n, const char *arg,
                                       size_t arg_len)
{
    char flag[96];
    for (size_t i = 0; i < n; i++) {
        flag_name(opts[i].name, flag, sizeof flag);
        if (strlen(flag) == arg_len && strncmp(flag, arg, arg_len) == 0)
            return &opts[i];
    }
    return NULL;
}

enum err cfg_load(const struct cfg_opt *opts, size_t n_opts, int argc, char **argv,
                  int *help_requested, int *positional, int *n_positional, char errbuf[CFG_ERR_MAX])
{
    enum err e;
    errbuf[0] = '\0';
    *help_requested = 0;
    if (n_positional)
        *n_positional = 0;
    for (size_t i = 0; i < n_opts; i++) {
        const struct cfg_opt *o = &opts[i];
        const char *def = o->def ? o->def
                                 : (o->type == CFG_STR   ? ""
                                    : o->type == CFG_INT ? "0"
                                                         : "false");
        if (o->type == CFG_STR && !o->def) {
            char **dst = o->dst;
            free(*dst);
            *dst = strdup("");
            if (!*dst)
                return ERR_NOMEM;
            continue;
        }
        if (o->type == CFG_INT && !o->def) {
            *(long long *)o->dst = 0; /* unset: not held to the bounds */
            continue;
        }
        if ((e = set_value(o, def, "default", errbuf)) != ERR_OK)
            return e;
    }
    for (size_t i = 0; i < n_opts; i++) {
        char env[96];
        cfg_env_name(opts[i].name, env, sizeof env);
        const char *v = getenv(env);
        if (v && (e = set_value(&opts[i], v, "environment", errbuf)) != ERR_OK)
            return e;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *help_requested = 1;
            return ERR_OK;
        }
        if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++) {
                if (!positional) {
                    seterr(errbuf, "unexpected argument \"%s\"", argv[i]);
                    return ERR_INVAL;
                }
                positional[(*n_positional)++] = i;
            }
            break;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (!positional) {
                seterr(errbuf, "unexpected argument \"%s\" (settings are --name=value)", a);
                return ERR_INVAL;
            }
            positional[(*n_positional)++] = i;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const struct cfg_opt *o = find_flag(opts, n_opts, a, len);
        if (!o) {
            seterr(errbuf, "unknown option \"%.*s\" (see --help)", (int)len, a);
            return ERR_INVAL;
        }
        const char *v;
        if (eq) {
            v = eq + 1;
        } else if (o->type == CFG_BOOL && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)) {
            v = "true"; /* a bare boolean flag turns it on */
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            seterr(errbuf, "option \"%s\" needs a value", a);
            return ERR_INVAL;
        }
        if ((e = set_value(o, v, "command line", errbuf)) != ERR_OK)
            return e;
    }
    return ERR_OK;
}

void cfg_print_help(FILE *out, const char *program, const char *summary, const struct cfg_opt *opts,
                    size_t n_opts)
{
    fprintf(out, "%s -- %s\n\nSettings (flag, environment variable; flags win):\n", program,
            summary);
    for (size_t i = 0; i < n_opts; i++) {
        const struct cfg_opt *o = &opts[i];
        char env[96], flag[96];
        cfg_env_name(o->name, env, sizeof env);
        flag_name(o->name, flag, sizeof flag);
        const char *type = o->type == CFG_STR   ? "string"
                           : o->type == CFG_INT ? "integer"
                                                : "boolean";
        fprintf(out, "  %s, %s (%s", flag, env, type);
        if (o->type == CFG_INT)
            fprintf(out, " %lld..%lld", o->min, o->max);
        if (o->choices)
            fprintf(out, ": %s", o->choices);
        fprintf(out, "; default \"%s\")\n      %s\n", o->def ? o->def : "", o->help);
    }
    fprintf(out, "  --help, -h\n      print this help and exit\n");
}

void cfg_release(const struct cfg_opt *opts, size_t n_opts)
{
    for (size_t i = 0; i < n_opts; i++) {
        if (opts[i].type == CFG_STR) {
            char **dst = opts[i].dst;
            free(*dst);
            *dst = NULL;
        }
    }
}

enum err cfg_split_host_port(const char *addr, char **host, uint16_t *port)
{
    const char *colon = strrchr(addr, ':');
    const char *d;

    *host = NULL;
    if (colon == NULL || colon == addr || colon[1] == '\0' || strlen(colon + 1) > 5)
        return ERR_INVAL;
    for (d = colon + 1; *d != '\0'; d++)
        if (!isdigit((unsigned char)*d))
            return ERR_INVAL;
    long p = strtol(colon + 1, NULL, 10);
    if (p > 65535)
        return ERR_INVAL;
    *host = strndup(addr, (size_t)(colon - addr));
    if (*host == NULL)
        return ERR_NOMEM;
    *port = (uint16_t)p;
    return ERR_OK;
}
