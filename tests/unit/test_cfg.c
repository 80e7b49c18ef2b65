/* Unit tests for common/cfg. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

static char *listen_addr;
static char *level;
static long long max_body_bytes;
static int verbose;

static const struct cfg_opt opts[] = {
    {"listen", CFG_STR, "127.0.0.1:8080", 0, 0, NULL, "HTTP listen address", &listen_addr},
    {"log_level", CFG_STR, "info", 0, 0, "debug|info|warn|error", "minimum log level", &level},
    {"max_body_bytes", CFG_INT, "1024", 1, 4096, NULL, "largest request body, bytes",
     &max_body_bytes},
    {"verbose", CFG_BOOL, "false", 0, 0, NULL, "more output", &verbose},
};
#define N_OPTS (sizeof opts / sizeof opts[0])

static int clear_env(void **state)
{
    (void)state;
    unsetenv("LOOM_LISTEN");
    unsetenv("LOOM_LOG_LEVEL");
    unsetenv("LOOM_MAX_BODY_BYTES");
    unsetenv("LOOM_VERBOSE");
    return 0;
}

static enum err load(int argc, char **argv, char *errbuf, int *help)
{
    return cfg_load(opts, N_OPTS, argc, argv, help, NULL, NULL, errbuf);
}

static void test_defaults(void **state)
{
    (void)state;
    char err[CFG_ERR_MAX];
    int help;
    char *argv[] = {"prog", NULL};
    assert_int_equal(load(1, argv, err, &help), ERR_OK);
    assert_int_equal(help, 0);
    assert_string_equal(listen_addr, "127.0.0.1:8080");
    assert_string_equal(level, "info");
    assert_int_equal(max_body_bytes, 1024);
    assert_int_equal(verbose, 0);
    cfg_release(opts, N_OPTS);
    assert_null(listen_addr);
}

static void test_env_then_flags(void **state)
{
    (void)state;
    char err[CFG_ERR_MAX];
    int help;
    setenv("LOOM_LISTEN", "0.0.0.0:9", 1);
    setenv("LOOM_MAX_BODY_BYTES", "2000", 1);
    setenv("LOOM_VERBOSE", "yes", 1);
    char *argv[] = {"prog", "--max-body-bytes", "3000", "--log-level=debug", NULL};
    assert_int_equal(load(4, argv, err, &help), ERR_OK);
    assert_string_equal(listen_addr, "0.0.0.0:9");
    assert_int_equal(max_body_bytes, 3000); /* flag wins over env */
    assert_string_equal(level, "debug");
    assert_int_equal(verbose, 1);
    char *argv2[] = {"prog", "--verbose", NULL}; /* bare boolean flag */
    setenv("LOOM_VERBOSE", "off", 1);
    assert_int_equal(load(2, argv2, err, &help), ERR_OK);
    assert_int_equal(verbose, 1);
    cfg_release(opts, N_OPTS);
}

static void test_errors_are_precise(void **state)
{
    (void)state;
    char err[CFG_ERR_MAX];
    int help;
    char *a1[] = {"prog", "--max-body-bytes=5000", NULL};
    assert_int_equal(load(2, a1, err, &help), ERR_INVAL);
    assert_string_equal(err, "invalid value \"5000\" for LOOM_MAX_BODY_BYTES (--max-body-bytes, "
                             "from command line): must be between 1 and 4096");
    setenv("LOOM_MAX_BODY_BYTES", "12abc", 1);
    char *a2[] = {"prog", NULL};
    assert_int_equal(load(1, a2, err, &help), ERR_INVAL);
    assert_string_equal(err, "invalid value \"12abc\" for LOOM_MAX_BODY_BYTES (--max-body-bytes, "
                             "from environment): not a decimal integer");
    unsetenv("LOOM_MAX_BODY_BYTES");
    char *a3[] = {"prog", "--log-level=loud", NULL};
    assert_int_equal(load(2, a3, err, &help), ERR_INVAL);
    assert_non_null(strstr(err, "must be one of debug|info|warn|error"));
    char *a4[] = {"prog", "--nope=1", NULL};
    assert_int_equal(load(2, a4, err, &help), ERR_INVAL);
    assert_string_equal(err, "unknown option \"--nope\" (see --help)");
    char *a5[] = {"prog", "--listen", NULL};
    assert_int_equal(load(2, a5, err, &help), ERR_INVAL);
    assert_string_equal(err, "option \"--listen\" needs a value");
    char *a6[] = {"prog", "stray", NULL};
    assert_int_equal(load(2, a6, err, &help), ERR_INVAL);
    assert_non_null(strstr(err, "unexpected argument \"stray\""));
    char *a7[] = {"prog", "--verbose=maybe", NULL};
    assert_int_equal(load(2, a7, err, &help), ERR_INVAL);
    assert_non_null(strstr(err, "expected true or false"));
    char *a8[] = {"prog", "--max-body-bytes=99999999999999999999", NULL};
    assert_int_equal(load(2, a8, err, &help), ERR_INVAL);
    assert_non_null(strstr(err, "not a decimal integer"));
    cfg_release(opts, N_OPTS);
}

static void test_help_and_positional(void **state)
{
    (void)state;
    char err[CFG_ERR_MAX];
    int help;
    char *a1[] = {"prog", "--listen=x", "--help", NULL};
    assert_int_equal(load(3, a1, err, &help), ERR_OK);
    assert_int_equal(help, 1);
    int pos[4], npos;
    char *a2[] = {"prog", "create", "--verbose=true", "file.json", NULL};
    assert_int_equal(cfg_load(opts, N_OPTS, 4, a2, &help, pos, &npos, err), ERR_OK);
    assert_int_equal(npos, 2);
    assert_int_equal(pos[0], 1);
    assert_int_equal(pos[1], 3);
    cfg_release(opts, N_OPTS);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cfg_print_help(f, "loom-gateway", "the REST gateway", opts, N_OPTS);
    fclose(f);
    assert_non_null(strstr(text, "loom-gateway -- the REST gateway"));
    assert_non_null(strstr(text, "--max-body-bytes, LOOM_MAX_BODY_BYTES (integer 1..4096; "
                                 "default \"1024\")"));
    assert_non_null(strstr(text, "largest request body, bytes"));
    free(text);

    char env[32];
    cfg_env_name("rpc-url", env, sizeof env);
    assert_string_equal(env, "LOOM_RPC_URL");
}

/* A CFG_INT without a default: 0 when unset, though its bounds start at 1;
 * a value given is held to them, 0 included. */
static void test_required_int(void **state)
{
    (void)state;
    static long long block = -1;
    static const struct cfg_opt req[] = {
        {"start_block", CFG_INT, NULL, 1, 100, NULL, "first block", &block},
    };
    char err[CFG_ERR_MAX];
    int help;
    unsetenv("LOOM_START_BLOCK");
    char *a1[] = {"prog", NULL};
    assert_int_equal(cfg_load(req, 1, 1, a1, &help, NULL, NULL, err), ERR_OK);
    assert_int_equal(block, 0);
    char *a2[] = {"prog", "--start-block", "0", NULL};
    assert_int_equal(cfg_load(req, 1, 3, a2, &help, NULL, NULL, err), ERR_INVAL);
    assert_string_equal(err, "invalid value \"0\" for LOOM_START_BLOCK (--start-block, from "
                             "command line): must be between 1 and 100");
    char *a3[] = {"prog", "--start-block=7", NULL};
    assert_int_equal(cfg_load(req, 1, 2, a3, &help, NULL, NULL, err), ERR_OK);
    assert_int_equal(block, 7);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cfg_print_help(f, "loom-indexer", "x", req, 1);
    fclose(f);
    assert_non_null(strstr(text, "--start-block, LOOM_START_BLOCK (integer 1..100; default \"\")"));
    free(text);
}

static void test_split_host_port(void **state)
{
    char *host = NULL;
    uint16_t port = 1;
    const char *bad[] = {"",
                         "9465",
                         ":9465",
                         "127.0.0.1:",
                         "127.0.0.1:65536",
                         "127.0.0.1:94x",
                         "127.0.0.1:-1",
                         "127.0.0.1: 80",
                         "127.0.0.1:000001"};

    (void)state;
    assert_int_equal(cfg_split_host_port("127.0.0.1:9465", &host, &port), ERR_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 9465);
    free(host);
    assert_int_equal(cfg_split_host_port("[::1]:0", &host, &port), ERR_OK);
    assert_string_equal(host, "[::1]"); /* split at the last ':' */
    assert_int_equal(port, 0);
    free(host);
    assert_int_equal(cfg_split_host_port("0.0.0.0:65535", &host, &port), ERR_OK);
    assert_int_equal(port, 65535);
    free(host);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(cfg_split_host_port(bad[i], &host, &port), ERR_INVAL);
        assert_null(host);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clear_env),
        cmocka_unit_test_setup(test_env_then_flags, clear_env),
        cmocka_unit_test_setup(test_errors_are_precise, clear_env),
        cmocka_unit_test_setup(test_help_and_positional, clear_env),
        cmocka_unit_test_setup(test_required_int, clear_env),
        cmocka_unit_test(test_split_host_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
