/* Unit tests for common/metrics. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "metrics.h"

/* The registry of the rendering test: every type, labels, escaping, an
 * empty family, exact bucket bounds and the number forms. */
static struct metrics *sample_registry(void)
{
    struct metrics *m;
    struct metrics_family *req, *lat, *empty;
    struct metrics_series *s, *s2, *inflight, *batch, *tiny, *huge;
    const char *req_labels[] = {"method", "code"};
    const char *op_label[] = {"op"};
    const double lat_bounds[] = {0.005, 0.01, 0.1, 1};
    const double batch_bounds[] = {1, 10, 100};

    assert_int_equal(metrics_new(&m), ERR_OK);
    assert_int_equal(metrics_family_new(m, METRICS_COUNTER, "loom_requests_total",
                                        "Requests handled.\nBy method \\ code.", req_labels, 2,
                                        NULL, 0, &req),
                     ERR_OK);
    assert_int_equal(metrics_series(req, (const char *[]){"GET", "200"}, &s), ERR_OK);
    metrics_add(s, 3);
    assert_int_equal(metrics_series(req, (const char *[]){"POST", "500"}, &s2), ERR_OK);
    metrics_inc(s2);
    assert_int_equal(metrics_series(req, (const char *[]){"GET", "200"}, &s2), ERR_OK);
    assert_ptr_equal(s, s2); /* same values, same series */
    metrics_inc(s2);
    assert_int_equal(metrics_series(req, (const char *[]){"a\"b\\c\nd", "0"}, &s), ERR_OK);
    assert_int_equal(metrics_gauge_new(m, "loom_in_flight", "Requests in flight.", &inflight),
                     ERR_OK);
    metrics_set(inflight, 2.5);
    metrics_add(inflight, -1);
    assert_true(metrics_value(inflight) == 1.5);
    assert_int_equal(metrics_family_new(m, METRICS_HISTOGRAM, "loom_request_seconds",
                                        "Request latency.", op_label, 1, lat_bounds, 4, &lat),
                     ERR_OK);
    assert_int_equal(metrics_series(lat, (const char *[]){"claim"}, &s), ERR_OK);
    /* Powers of two, so _sum is exact: 2 + 2^-4 + 2^-7 + 2^-9. */
    metrics_observe(s, 0.001953125);
    metrics_observe(s, 0.0078125);
    metrics_observe(s, 0.0625);
    metrics_observe(s, 2);
    assert_true(metrics_value(s) == 2.072265625);
    assert_int_equal(
        metrics_histogram_new(m, "loom_batch_size", "Events per batch.", batch_bounds, 3, &batch),
        ERR_OK);
    metrics_observe(batch, 10); /* on a bound: counted in le="10" */
    metrics_observe(batch, 1);
    metrics_observe(batch, 1000);
    assert_int_equal(metrics_family_new(m, METRICS_GAUGE, "loom_empty", "No series yet.", op_label,
                                        1, NULL, 0, &empty),
                     ERR_OK);
    assert_int_equal(metrics_gauge_new(m, "loom_tiny", "Small and odd values.", &tiny), ERR_OK);
    metrics_set(tiny, 1e-7);
    assert_int_equal(metrics_counter_new(m, "loom_huge_total", "Big numbers.", &huge), ERR_OK);
    metrics_add(huge, 1e20);
    return m;
}

static const char sample_text[] =
    "# HELP loom_requests_total Requests handled.\\nBy method \\\\ code.\n"
    "# TYPE loom_requests_total counter\n"
    "loom_requests_total{method=\"GET\",code=\"200\"} 4\n"
    "loom_requests_total{method=\"POST\",code=\"500\"} 1\n"
    "loom_requests_total{method=\"a\\\"b\\\\c\\nd\",code=\"0\"} 0\n"
    "# HELP loom_in_flight Requests in flight.\n"
    "# TYPE loom_in_flight gauge\n"
    "loom_in_flight 1.5\n"
    "# HELP loom_request_seconds Request latency.\n"
    "# TYPE loom_request_seconds histogram\n"
    "loom_request_seconds_bucket{op=\"claim\",le=\"0.005\"} 1\n"
    "loom_request_seconds_bucket{op=\"claim\",le=\"0.01\"} 2\n"
    "loom_request_seconds_bucket{op=\"claim\",le=\"0.1\"} 3\n"
    "loom_request_seconds_bucket{op=\"claim\",le=\"1\"} 3\n"
    "loom_request_seconds_bucket{op=\"claim\",le=\"+Inf\"} 4\n"
    "loom_request_seconds_sum{op=\"claim\"} 2.072265625\n"
    "loom_request_seconds_count{op=\"claim\"} 4\n"
    "# HELP loom_batch_size Events per batch.\n"
    "# TYPE loom_batch_size histogram\n"
    "loom_batch_size_bucket{le=\"1\"} 1\n"
    "loom_batch_size_bucket{le=\"10\"} 2\n"
    "loom_batch_size_bucket{le=\"100\"} 2\n"
    "loom_batch_size_bucket{le=\"+Inf\"} 3\n"
    "loom_batch_size_sum 1011\n"
    "loom_batch_size_count 3\n"
    "# HELP loom_empty No series yet.\n"
    "# TYPE loom_empty gauge\n"
    "# HELP loom_tiny Small and odd values.\n"
    "# TYPE loom_tiny gauge\n"
    "loom_tiny 1e-07\n"
    "# HELP loom_huge_total Big numbers.\n"
    "# TYPE loom_huge_total counter\n"
    "loom_huge_total 1e+20\n";

static void test_render_exact(void **state)
{
    (void)state;
    struct metrics *m = sample_registry();
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(metrics_render(m, &out), ERR_OK);
    assert_string_equal(buf_cstr(&out), sample_text);
    assert_int_equal(out.len, strlen(sample_text));
    /* A cap too small gives ERR_TOOBIG. */
    struct buf small;
    buf_init(&small, 100);
    assert_int_equal(metrics_render(m, &small), ERR_TOOBIG);
    buf_release(&small);
    buf_release(&out);
    metrics_free(m);
    metrics_free(NULL);
}

static void test_number_forms(void **state)
{
    (void)state;
    struct metrics *m;
    struct metrics_family *f;
    struct metrics_series *s;
    struct buf out;
    const char *l[] = {"k"};
    const struct {
        double v;
        const char *text;
    } cases[] = {
        {0.1, "0.1"}, {-0.0, "0"},        {-3, "-3"},          {1.0 / 3, "0.3333333333333333"},
        {NAN, "NaN"}, {INFINITY, "+Inf"}, {-INFINITY, "-Inf"}, {123456.5, "123456.5"},
    };
    assert_int_equal(metrics_new(&m), ERR_OK);
    assert_int_equal(metrics_family_new(m, METRICS_GAUGE, "g", "h", l, 1, NULL, 0, &f), ERR_OK);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char key[8], want[128];
        snprintf(key, sizeof(key), "%zu", i);
        assert_int_equal(metrics_series(f, (const char *[]){key}, &s), ERR_OK);
        metrics_set(s, cases[i].v);
        buf_init(&out, 0);
        assert_int_equal(metrics_render(m, &out), ERR_OK);
        snprintf(want, sizeof(want), "g{k=\"%zu\"} %s\n", i, cases[i].text);
        assert_non_null(strstr(buf_cstr(&out), want));
        buf_release(&out);
    }
    metrics_free(m);
}

static void test_declaration_errors(void **state)
{
    (void)state;
    struct metrics *m;
    struct metrics_family *f;
    struct metrics_series *s;
    const double good[] = {0.1, 1};
    const double flat[] = {1, 1};
    const double nan_b[] = {NAN};
    const char *le[] = {"le"};
    const char *dup[] = {"a", "a"};
    const char *under[] = {"__x"};
    const char *bad[] = {"1a"};
    const char *ok[] = {"a"};

    assert_int_equal(metrics_new(&m), ERR_OK);
    assert_int_equal(metrics_counter_new(m, "", "h", &s), ERR_INVAL);
    assert_int_equal(metrics_counter_new(m, "9lives", "h", &s), ERR_INVAL);
    assert_int_equal(metrics_counter_new(m, "has-dash", "h", &s), ERR_INVAL);
    assert_int_equal(metrics_counter_new(m, "ns:ok_total", "h", &s), ERR_OK);
    assert_int_equal(metrics_counter_new(m, "ns:ok_total", "h", &s), ERR_EXISTS);
    assert_int_equal(metrics_gauge_new(m, "ns:ok_total", "h", &s), ERR_EXISTS);
    assert_int_equal(metrics_family_new(m, METRICS_HISTOGRAM, "h1", "h", le, 1, good, 2, &f),
                     ERR_INVAL);
    assert_int_equal(metrics_family_new(m, METRICS_GAUGE, "g1", "h", le, 1, NULL, 0, &f), ERR_OK);
    assert_int_equal(metrics_family_new(m, METRICS_GAUGE, "g2", "h", dup, 2, NULL, 0, &f),
                     ERR_INVAL);
    assert_int_equal(metrics_family_new(m, METRICS_GAUGE, "g3", "h", under, 1, NULL, 0, &f),
                     ERR_INVAL);
    assert_int_equal(metrics_family_new(m, METRICS_GAUGE, "g4", "h", bad, 1, NULL, 0, &f),
                     ERR_INVAL);
    assert_int_equal(metrics_family_new(m, METRICS_GAUGE, "g5", "h", NULL, 1, NULL, 0, &f),
                     ERR_INVAL);
    assert_int_equal(metrics_family_new(m, METRICS_COUNTER, "c1", "h", NULL, 0, good, 2, &f),
                     ERR_INVAL);
    assert_int_equal(metrics_histogram_new(m, "h2", "h", flat, 2, &s), ERR_INVAL);
    assert_int_equal(metrics_histogram_new(m, "h3", "h", nan_b, 1, &s), ERR_INVAL);
    assert_int_equal(metrics_histogram_new(m, "h4", "h", NULL, 0, &s), ERR_INVAL);
    assert_int_equal(metrics_family_new(m, (enum metrics_type)9, "x", "h", NULL, 0, NULL, 0, &f),
                     ERR_INVAL);
    assert_int_equal(metrics_family_new(m, METRICS_COUNTER, "c2", "h", ok, 1, NULL, 0, &f), ERR_OK);
    assert_int_equal(metrics_series(f, NULL, &s), ERR_INVAL);
    assert_int_equal(metrics_series(f, (const char *[]){NULL}, &s), ERR_INVAL);
    char longv[METRICS_MAX_VALUE + 2];
    memset(longv, 'v', sizeof(longv));
    longv[sizeof(longv) - 1] = '\0';
    assert_int_equal(metrics_series(f, (const char *[]){longv}, &s), ERR_INVAL);
    longv[METRICS_MAX_VALUE] = '\0';
    assert_int_equal(metrics_series(f, (const char *[]){longv}, &s), ERR_OK);
    metrics_free(m);
}

static void test_series_cap(void **state)
{
    (void)state;
    struct metrics *m;
    struct metrics_family *f;
    struct metrics_series *s;
    const char *l[] = {"id"};
    assert_int_equal(metrics_new(&m), ERR_OK);
    assert_int_equal(metrics_family_new(m, METRICS_COUNTER, "c_total", "h", l, 1, NULL, 0, &f),
                     ERR_OK);
    for (int i = 0; i < METRICS_MAX_SERIES; i++) {
        char v[16];
        snprintf(v, sizeof(v), "%d", i);
        assert_int_equal(metrics_series(f, (const char *[]){v}, &s), ERR_OK);
    }
    assert_int_equal(metrics_series(f, (const char *[]){"one-more"}, &s), ERR_TOOBIG);
    assert_int_equal(metrics_series(f, (const char *[]){"7"}, &s), ERR_OK); /* existing */
    metrics_free(m);
}

static struct metrics_series *collected;

static void collect_cb(void *arg, struct metrics *m)
{
    (void)m;
    metrics_set(collected, *(double *)arg);
}

static void test_collect_callback(void **state)
{
    (void)state;
    struct metrics *m;
    struct buf out;
    double depth = 17;
    assert_int_equal(metrics_new(&m), ERR_OK);
    assert_int_equal(metrics_gauge_new(m, "q_depth", "Queue depth.", &collected), ERR_OK);
    metrics_on_collect(m, collect_cb, &depth);
    buf_init(&out, 0);
    assert_int_equal(metrics_render(m, &out), ERR_OK);
    assert_string_equal(buf_cstr(&out), "# HELP q_depth Queue depth.\n# TYPE q_depth gauge\n"
                                        "q_depth 17\n");
    buf_release(&out);
    metrics_free(m);
}

/* ---- HTTP, fetched with libevent's HTTP client ---------------------------- */

struct fetch {
    int status;
    char ctype[128];
    char allow[64];
    struct buf body;
    struct event_base *base;
};

static void fetch_done(struct evhttp_request *req, void *arg)
{
    struct fetch *f = arg;
    if (req != NULL) {
        f->status = evhttp_request_get_response_code(req);
        const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
        const char *al = evhttp_find_header(evhttp_request_get_input_headers(req), "Allow");
        snprintf(f->ctype, sizeof(f->ctype), "%s", ct ? ct : "");
        snprintf(f->allow, sizeof(f->allow), "%s", al ? al : "");
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t n = evbuffer_get_length(in);
        char *p = malloc(n + 1);
        assert_non_null(p);
        assert_int_equal(evbuffer_remove(in, p, n), (int)n);
        assert_int_equal(buf_append(&f->body, p, n), ERR_OK);
        free(p);
    }
    event_base_loopbreak(f->base);
}

/* Fetch <path> with <method> from 127.0.0.1:<port>, running <base>. */
static void fetch(struct event_base *base, uint16_t port, enum evhttp_cmd_type method,
                  const char *path, struct fetch *out)
{
    memset(out, 0, sizeof(*out));
    buf_init(&out->body, 0);
    out->base = base;
    struct evhttp_connection *conn = evhttp_connection_base_new(base, NULL, "127.0.0.1", port);
    assert_non_null(conn);
    struct evhttp_request *req = evhttp_request_new(fetch_done, out);
    assert_non_null(req);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "127.0.0.1");
    assert_int_equal(evhttp_make_request(conn, req, method, path), 0);
    struct timeval guard = {5, 0};
    event_base_loopexit(base, &guard);
    event_base_dispatch(base);
    evhttp_connection_free(conn);
}

struct health_state {
    enum err status;
    const char *reason;
};

static enum err health_cb(void *arg, struct buf *reason)
{
    struct health_state *h = arg;
    if (h->reason && buf_append_str(reason, h->reason) != ERR_OK)
        return ERR_NOMEM;
    return h->status;
}

static void test_http_listener(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct metrics *m = sample_registry();
    struct metrics_http *h, *h2;
    struct fetch f;
    struct health_state hs = {ERR_OK, NULL};

    assert_int_equal(metrics_http_start(base, "127.0.0.1", 0, m, &h), ERR_OK);
    uint16_t port = metrics_http_port(h);
    assert_true(port > 0);
    assert_int_equal(metrics_http_start(base, "127.0.0.1", port, m, &h2), ERR_EXISTS);

    fetch(base, port, EVHTTP_REQ_GET, "/metrics", &f);
    assert_int_equal(f.status, 200);
    assert_string_equal(f.ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal(buf_cstr(&f.body), sample_text);
    buf_release(&f.body);

    fetch(base, port, EVHTTP_REQ_GET, "/health", &f); /* no callback: healthy */
    assert_int_equal(f.status, 200);
    assert_string_equal(f.ctype, "application/json");
    assert_string_equal(buf_cstr(&f.body), "{\"status\":\"ok\"}");
    buf_release(&f.body);

    metrics_set_health(m, health_cb, &hs);
    fetch(base, port, EVHTTP_REQ_GET, "/health", &f);
    assert_int_equal(f.status, 200);
    assert_string_equal(buf_cstr(&f.body), "{\"status\":\"ok\"}");
    buf_release(&f.body);

    hs.status = ERR_UNAVAILABLE;
    hs.reason = "database \"loom\" down\n";
    fetch(base, port, EVHTTP_REQ_GET, "/health", &f);
    assert_int_equal(f.status, 503);
    assert_string_equal(
        buf_cstr(&f.body),
        "{\"status\":\"unavailable\",\"reason\":\"database \\\"loom\\\" down\\u000a\"}");
    buf_release(&f.body);

    hs.status = ERR_DB;
    hs.reason = NULL; /* no text: err_str() of the code */
    fetch(base, port, EVHTTP_REQ_GET, "/health", &f);
    assert_int_equal(f.status, 503);
    assert_string_equal(buf_cstr(&f.body),
                        "{\"status\":\"unavailable\",\"reason\":\"database error\"}");
    buf_release(&f.body);

    fetch(base, port, EVHTTP_REQ_POST, "/metrics", &f);
    assert_int_equal(f.status, 405);
    buf_release(&f.body);
    fetch(base, port, EVHTTP_REQ_GET, "/nothing", &f);
    assert_int_equal(f.status, 404);
    buf_release(&f.body);

    metrics_http_free(h);
    metrics_http_free(NULL);
    metrics_free(m);
    event_base_free(base);
}

/* The gateway's way: both routes on an evhttp it already runs. */
static void test_http_attach(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    struct metrics *m;
    struct metrics_series *s;
    struct fetch f;

    assert_int_equal(metrics_new(&m), ERR_OK);
    assert_int_equal(metrics_counter_new(m, "gw_requests_total", "Requests.", &s), ERR_OK);
    metrics_add(s, 42);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    assert_non_null(bs);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &len), 0);
    uint16_t port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    assert_int_equal(metrics_http_attach(http, m), ERR_OK);
    assert_int_equal(metrics_http_attach(http, m), ERR_EXISTS);

    fetch(base, port, EVHTTP_REQ_GET, "/metrics", &f);
    assert_int_equal(f.status, 200);
    assert_string_equal(buf_cstr(&f.body), "# HELP gw_requests_total Requests.\n"
                                           "# TYPE gw_requests_total counter\n"
                                           "gw_requests_total 42\n");
    buf_release(&f.body);
    fetch(base, port, EVHTTP_REQ_PUT, "/health", &f);
    assert_int_equal(f.status, 405);
    assert_string_equal(f.allow, "GET, HEAD");
    buf_release(&f.body);
    fetch(base, port, EVHTTP_REQ_GET, "/health", &f);
    assert_int_equal(f.status, 200);
    buf_release(&f.body);

    evhttp_free(http);
    metrics_free(m);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_exact),       cmocka_unit_test(test_number_forms),
        cmocka_unit_test(test_declaration_errors), cmocka_unit_test(test_series_cap),
        cmocka_unit_test(test_collect_callback),   cmocka_unit_test(test_http_listener),
        cmocka_unit_test(test_http_attach),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
