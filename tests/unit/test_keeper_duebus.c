/* Unit tests for services/keeper/duebus: jobs.due over a nanomsg REQ, against
 * a REP server on its own thread and event base. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "buf.h"
#include "bus.h"
#include "cmd.h"
#include "services/keeper/duebus.h"

#define URL "inproc://keeper-duebus-test"

/* What the server saw and how it answers; written by the server thread,
 * read by the test after pthread_join. */
static struct {
    struct event_base *base;
    struct bus *rep;
    int requests;
    int64_t now_at[4], limit[4];
    int decode_ok[4];
} srv;

static char *encode_reply(const struct proto_reply *rep, size_t *len)
{
    struct buf b;
    buf_init(&b, 0);
    if (proto_reply_encode(rep, &b, NULL) != ERR_OK) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b, len);
}

static void on_request(void *arg, struct bus_reply *reply, const void *data, size_t len)
{
    (void)arg;
    int i = srv.requests++;
    struct proto_request req;
    srv.decode_ok[i] = proto_request_decode(data, len, &req, NULL) == ERR_OK &&
                       req.cmd == PROTO_CMD_JOBS_DUE;
    if (srv.decode_ok[i]) {
        srv.now_at[i] = req.args.jobs_due.now_at;
        srv.limit[i] = req.args.jobs_due.limit;
    }
    proto_request_release(&req);
    struct proto_reply rep;
    memset(&rep, 0, sizeof(rep));
    rep.cmd = PROTO_CMD_JOBS_DUE;
    struct proto_due jobs[2];
    memset(jobs, 0, sizeof(jobs));
    char *out = NULL;
    size_t out_len = 0;
    if (i == 0) { /* two due jobs */
        jobs[0].job_id = 42;
        memset(jobs[0].chain_job_id, 0x94, 32);
        jobs[0].action = PROTO_DUE_REFUND;
        jobs[0].due_at = 1764547200;
        jobs[1].job_id = 43;
        memset(jobs[1].chain_job_id, 0x95, 32);
        jobs[1].action = PROTO_DUE_REOPEN;
        jobs[1].due_at = 1764547250;
        rep.ok = true;
        rep.result.due.jobs = jobs;
        rep.result.due.n_jobs = 2;
        out = encode_reply(&rep, &out_len);
    } else if (i == 1) { /* the job store's error */
        rep.ok = false;
        rep.error_code = ERR_DB;
        rep.error_message = "cannot list due jobs: database down";
        out = encode_reply(&rep, &out_len);
    } else { /* not a reply at all */
        out = strdup("not json");
        out_len = 8;
    }
    if (out == NULL || bus_reply_send(reply, out, out_len) != ERR_OK) {
        free(out);
        bus_reply_drop(reply);
    }
    if (srv.requests == 3)
        event_base_loopexit(srv.base, NULL);
}

static void *serve(void *arg)
{
    (void)arg;
    event_base_dispatch(srv.base);
    return NULL;
}

static void test_jobs_due_over_bus(void **state)
{
    (void)state;
    srv.base = event_base_new();
    assert_non_null(srv.base);
    assert_int_equal(bus_new(srv.base, BUS_REP, &srv.rep), ERR_OK);
    assert_int_equal(bus_bind(srv.rep, URL), ERR_OK);
    assert_int_equal(bus_serve(srv.rep, on_request, NULL), ERR_OK);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, serve, NULL), 0);

    struct due_source *s = NULL;
    assert_int_equal(due_bus_new(URL, 5000, &s), ERR_OK);
    struct upkeep_item out[8];
    size_t n = 0;
    assert_int_equal(due_fetch(s, 1764547300, out, 8, &n), ERR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].job_id[0], 0x94);
    assert_int_equal(out[0].action, UPKEEP_REFUND);
    assert_int_equal(out[0].due_at, 1764547200);
    assert_int_equal(out[1].job_id[31], 0x95);
    assert_int_equal(out[1].action, UPKEEP_REOPEN);
    n = 7;
    assert_int_equal(due_fetch(s, 1764547301, out, 8, &n), ERR_DB); /* the store's error */
    assert_int_equal(n, 7);
    assert_int_equal(due_fetch(s, 1764547302, out, 8, &n), ERR_PROTO);
    pthread_join(th, NULL);
    assert_int_equal(srv.requests, 3);
    assert_true(srv.decode_ok[0] && srv.decode_ok[1]);
    assert_int_equal(srv.now_at[0], 1764547300);
    assert_int_equal(srv.limit[0], 8);
    assert_int_equal(srv.now_at[1], 1764547301);
    due_source_free(s);
    bus_free(srv.rep);
    event_base_free(srv.base);
}

static void test_no_job_store(void **state)
{
    (void)state;
    struct due_source *s = NULL;
    assert_int_equal(due_bus_new("inproc://keeper-duebus-nobody", 100, &s), ERR_OK);
    struct upkeep_item out[2];
    size_t n = 0;
    assert_int_equal(due_fetch(s, 1, out, 2, &n), ERR_TIMEDOUT);
    due_source_free(s);
    assert_int_equal(due_bus_new("", 100, &s), ERR_INVAL);
    assert_int_equal(due_bus_new(URL, 0, &s), ERR_INVAL);
    assert_int_equal(due_bus_new("nonsense", 100, &s), ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobs_due_over_bus),
        cmocka_unit_test(test_no_job_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
