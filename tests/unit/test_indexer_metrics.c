/* Unit tests for services/indexer/imetrics: the follower's figures as
 * Prometheus text, /health's answers, and the listener over HTTP.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "services/indexer/imetrics.h"

static struct follower_metrics sample(void)
{
    struct follower_metrics m;
    memset(&m, 0, sizeof(m));
    m.head_block = 120;
    m.indexed_block = 117;
    m.lag_blocks = 3;
    m.lag_seconds = 6.5;
    m.events_applied = 42;
    m.batches = 4;
    m.reorgs = 2;
    m.last_reorg_depth = 1;
    m.max_reorg_depth = 3;
    m.rpc_errors = 5;
    m.sink_errors = 1;
    m.span_blocks = 1000;
    m.head_sub_live = 1;
    m.head_notifications = 77;
    return m;
}

static char *render(struct imetrics *im)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(imetrics_render(im, &b), ERR_OK);
    assert_int_equal(buf_append_byte(&b, 0), ERR_OK);
    size_t len;
    return buf_detach(&b, &len);
}

static void test_render(void **state)
{
    (void)state;
    struct imetrics *im = NULL;
    assert_int_equal(imetrics_new(&im), ERR_OK);
    struct follower_metrics m = sample();
    imetrics_update(im, &m, ERR_OK);
    char *t = render(im);
    assert_non_null(strstr(t, "\nloom_indexer_head_block 120\n"));
    assert_non_null(strstr(t, "\nloom_indexer_indexed_block 117\n"));
    assert_non_null(strstr(t, "\nloom_indexer_lag_blocks 3\n"));
    assert_non_null(strstr(t, "\nloom_indexer_lag_seconds 6.5\n"));
    assert_non_null(strstr(t, "\nloom_indexer_events_applied_total 42\n"));
    assert_non_null(strstr(t, "# TYPE loom_indexer_reorgs_total counter\n"));
    assert_non_null(strstr(t, "\nloom_indexer_reorgs_total 2\n"));
    assert_non_null(strstr(t, "\nloom_indexer_reorg_last_depth_blocks 1\n"));
    assert_non_null(strstr(t, "\nloom_indexer_reorg_max_depth_blocks 3\n"));
    assert_non_null(strstr(t, "\nloom_indexer_rpc_errors_total 5\n"));
    assert_non_null(strstr(t, "\nloom_indexer_span_blocks 1000\n"));
    assert_non_null(strstr(t, "\nloom_indexer_head_subscription_up 1\n"));
    assert_non_null(strstr(t, "# TYPE loom_indexer_head_notifications_total counter\n"));
    assert_non_null(strstr(t, "\nloom_indexer_head_notifications_total 77\n"));
    free(t);
    /* Counters follow the follower's totals; gauges take the last value. */
    m.events_applied = 50;
    m.lag_blocks = 0;
    m.lag_seconds = 0;
    imetrics_update(im, &m, ERR_OK);
    t = render(im);
    assert_non_null(strstr(t, "\nloom_indexer_events_applied_total 50\n"));
    assert_non_null(strstr(t, "\nloom_indexer_lag_blocks 0\n"));
    free(t);
    imetrics_free(im);
    imetrics_free(NULL);
}

static char *health(struct imetrics *im, enum err *e)
{
    struct buf b;
    buf_init(&b, 0);
    *e = imetrics_health(im, &b);
    assert_int_equal(buf_append_byte(&b, 0), ERR_OK);
    size_t len;
    return buf_detach(&b, &len);
}

static void test_health(void **state)
{
    (void)state;
    struct imetrics *im = NULL;
    assert_int_equal(imetrics_new(&im), ERR_OK);
    enum err e;
    char *r = health(im, &e);
    assert_int_equal(e, ERR_UNAVAILABLE);
    assert_string_equal(r, "starting");
    free(r);
    struct follower_metrics m = sample();
    imetrics_update(im, &m, ERR_OK);
    r = health(im, &e);
    assert_int_equal(e, ERR_OK);
    assert_string_equal(r, "");
    free(r);
    m.sink_errors++; /* the job store timed out */
    imetrics_update(im, &m, ERR_TIMEDOUT);
    r = health(im, &e);
    assert_int_equal(e, ERR_UNAVAILABLE);
    assert_non_null(strstr(r, "job store: last step failed: "));
    free(r);
    m.rpc_errors++; /* then the node */
    imetrics_update(im, &m, ERR_IO);
    r = health(im, &e);
    assert_int_equal(e, ERR_UNAVAILABLE);
    assert_non_null(strstr(r, "chain: last step failed: "));
    free(r);
    imetrics_update(im, &m, ERR_OK);
    r = health(im, &e);
    assert_int_equal(e, ERR_OK);
    free(r);
    imetrics_free(im);
}

/* GET <path> from 127.0.0.1:<port>; the whole answer, NUL-terminated. */
static char *http_get(uint16_t port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    struct buf req;
    buf_init(&req, 0);
    assert_int_equal(
        buf_appendf(&req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path), ERR_OK);
    assert_int_equal(write(fd, req.data, req.len), (ssize_t)req.len);
    buf_release(&req);
    struct buf out;
    buf_init(&out, 0);
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        assert_int_equal(buf_append(&out, chunk, (size_t)n), ERR_OK);
    close(fd);
    assert_int_equal(buf_append_byte(&out, 0), ERR_OK);
    size_t len;
    return buf_detach(&out, &len);
}

static void test_http(void **state)
{
    (void)state;
    struct imetrics *im = NULL;
    assert_int_equal(imetrics_new(&im), ERR_OK);
    assert_int_equal(imetrics_port(im), 0);
    assert_int_equal(imetrics_start(im, "127.0.0.1", 0), ERR_OK);
    assert_int_equal(imetrics_start(im, "127.0.0.1", 0), ERR_STATE);
    uint16_t port = imetrics_port(im);
    assert_true(port > 0);
    char *r = http_get(port, "/health");
    assert_non_null(strstr(r, " 503 "));
    assert_non_null(strstr(r, "starting"));
    free(r);
    struct follower_metrics m = sample();
    imetrics_update(im, &m, ERR_OK);
    r = http_get(port, "/health");
    assert_non_null(strstr(r, " 200 "));
    free(r);
    r = http_get(port, "/metrics");
    assert_non_null(strstr(r, "\nloom_indexer_head_block 120\n"));
    assert_non_null(strstr(r, "\nloom_indexer_batches_total 4\n"));
    free(r);
    imetrics_free(im);
    assert_int_equal(imetrics_new(&im), ERR_OK);
    assert_int_equal(imetrics_start(im, "not an address", 0), ERR_INVAL);
    imetrics_free(im);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_http),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
