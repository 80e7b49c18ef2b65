/* services/gateway/quote.c without a chain: deployment file errors, bad
 * input, a node that is not there (ERR_RPC through the worker thread and
 * event_active), cancel on free. The happy path against anvil is in
 * tests/integration/gateway_jobstore.sh. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "services/gateway/quote.h"

#define DEPLOY_OK                                                                                  \
    "{\"chainId\":31337,\"escrow\":\"0xe7f1725e7734ce288f8367e1bb143e90bb3f0512\","                \
    "\"priceFeed\":\"0x5fbdb2315678afecb367f032d93f642f64180aa3\",\"priceFeedDecimals\":8}"

static char path[64];

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof(path), "/tmp/loom-gwq-test.%d.json", (int)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

static enum err make(struct event_base *base, const char *url, struct quoter **q, struct buf *why)
{
    struct quote_config c = {.rpc_url = url,
                             .deployment_path = path,
                             .threads = 1,
                             .rpc_timeout_ms = 500,
                             .max_queued = 2};
    return quote_new(base, &c, q, why);
}

static void test_deployment_errors(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct quoter *q = NULL;
    struct buf why;
    buf_init(&why, 512);
    unlink(path);
    assert_int_equal(make(base, "http://127.0.0.1:1", &q, &why), ERR_IO);
    assert_non_null(strstr(buf_cstr(&why), "cannot read deployment"));
    write_file("{\"escrow\":");
    buf_reset(&why);
    assert_int_equal(make(base, "http://127.0.0.1:1", &q, &why), ERR_INVAL);
    write_file(
        "{\"escrow\":\"0xe7f1725e7734ce288f8367e1bb143e90bb3f0512\",\"priceFeedDecimals\":8}");
    buf_reset(&why);
    assert_int_equal(make(base, "http://127.0.0.1:1", &q, &why), ERR_INVAL);
    assert_non_null(strstr(buf_cstr(&why), "priceFeed"));
    write_file("{\"escrow\":\"0xe7f1725e7734ce288f8367e1bb143e90bb3f0512\","
               "\"priceFeed\":\"0x5fbdb2315678afecb367f032d93f642f64180aa3\","
               "\"priceFeedDecimals\":37}");
    buf_reset(&why);
    assert_int_equal(make(base, "http://127.0.0.1:1", &q, &why), ERR_INVAL);
    write_file("{\"escrow\":\"0xz7f1725e7734ce288f8367e1bb143e90bb3f0512\","
               "\"priceFeed\":\"0x5fbdb2315678afecb367f032d93f642f64180aa3\","
               "\"priceFeedDecimals\":8}");
    buf_reset(&why);
    assert_int_equal(make(base, "http://127.0.0.1:1", &q, &why), ERR_INVAL);
    assert_null(q);
    buf_release(&why);
    event_base_free(base);
}

struct seen {
    int calls;
    enum err e;
    char msg[200];
    struct event_base *base;
};

static void quote_cb(void *arg, enum err e, const char *msg, const struct gw_quote *qt)
{
    struct seen *s = arg;
    s->calls++;
    s->e = e;
    snprintf(s->msg, sizeof(s->msg), "%s", msg);
    assert_true(e == ERR_OK ? qt != NULL : qt == NULL);
    if (s->base)
        event_base_loopbreak(s->base);
}

static void test_node_down_and_cancel(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct quoter *q = NULL;
    struct buf why;
    buf_init(&why, 512);
    write_file(DEPLOY_OK);
    /* port 1 on loopback: connection refused at once */
    assert_int_equal(make(base, "http://127.0.0.1:1", &q, &why), ERR_OK);
    struct seen s = {.base = base};
    assert_int_equal(quote_request(q, 0, quote_cb, &s), ERR_INVAL);
    assert_int_equal(quote_request(q, 1000000000001LL, quote_cb, &s), ERR_INVAL);
    assert_int_equal(quote_request(q, 1234, quote_cb, &s), ERR_OK);
    assert_int_equal(s.calls, 0);                   /* never from inside the call */
    event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY); /* the callback breaks it */
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.e, ERR_RPC);
    assert_non_null(strstr(s.msg, "cannot read the block number"));
    /* queued and not called back at free: canceled, exactly once */
    struct seen c = {0};
    assert_int_equal(quote_request(q, 1234, quote_cb, &c), ERR_OK);
    quote_free(q);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.e, ERR_CANCELED);
    buf_release(&why);
    event_base_free(base);
}

int main(void)
{
    evthread_use_pthreads();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deployment_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_down_and_cancel, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
