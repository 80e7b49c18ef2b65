/* services/gateway/jobback.c without a job store: record conversion with
 * concrete values, argument errors (never a callback), a job store that is
 * not there (ERR_UNAVAILABLE after the timeout, from the loop), cancel on
 * free. The happy paths run in tests/integration/gateway_jobstore.sh.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hex.h"
#include "proto/job.h"
#include "services/gateway/jobback.h"

static void test_from_proto(void **state)
{
    (void)state;
    struct proto_job p;
    memset(&p, 0, sizeof(p));
    p.id = 42;
    p.title = "Train digits";
    p.description = NULL;
    p.type = PROTO_JOB_GRAFICA;
    p.price_usd_cents = 1250;
    memset(p.wallet_address, 0xab, 20);
    p.status = PROTO_STATUS_WORKING;
    p.progress = 35;
    p.created_at = 1764460800;
    p.has_worker_address = true;
    memset(p.worker_address, 0x3c, 20);
    p.has_spec_sha256 = true;
    memset(p.spec_sha256, 0xd4, 32);
    p.cloud_link = "https://example.org/data";
    p.has_chain_job_id = true;
    assert_int_equal(
        hex_decode_exact("9414886b1ebf025db067a4cbd13a0903fbd9733a5372bba1b58bd72c1699b798",
                         p.chain_job_id, 32),
        ERR_OK);
    p.has_escrow_wei = true; /* 4166666666666666 = 0x0ecd8fae906aaa */
    static const uint8_t wei_tail[] = {0x0e, 0xcd, 0x8f, 0xae, 0x90, 0x6a, 0xaa};
    memcpy(p.escrow_wei + 25, wei_tail, 7);
    p.deadline_at = 1764547200;
    p.max_runtime_s = 3600;
    struct gw_job j;
    assert_int_equal(jobback_job_from_proto(&j, &p), ERR_OK);
    assert_int_equal(j.id, 42);
    assert_string_equal(j.title, "Train digits");
    assert_string_equal(j.description, "");
    assert_string_equal(j.type, "GRAFICA");
    assert_string_equal(j.status, "WORKING");
    assert_int_equal(j.price_usd_cents, 1250);
    assert_int_equal(j.progress, 35);
    assert_int_equal(j.created_at, 1764460800);
    assert_string_equal(j.client, "0xabababababababababababababababababababab");
    assert_string_equal(j.worker, "0x3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c");
    assert_string_equal(j.spec_sha256,
                        "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4");
    assert_null(j.result_sha256);
    assert_string_equal(j.cloud_link, "https://example.org/data");
    assert_null(j.external_links);
    assert_int_equal(j.n_files, 0);
    assert_int_equal(j.result_size_bytes, 0);
    assert_string_equal(j.chain_job_id,
                        "0x9414886b1ebf025db067a4cbd13a0903fbd9733a5372bba1b58bd72c1699b798");
    assert_string_equal(j.escrow_wei, "4166666666666666");
    assert_int_equal(j.deadline_at, 1764547200);
    assert_int_equal(j.max_runtime_s, 3600);
    gw_job_release(&j);

    /* job.get's files: spec and inputs listed, the result as result_*. */
    struct proto_job_file files[3] = {
        {PROTO_FILE_SPEC, "job.json", {0}, 412, "application/json"},
        {PROTO_FILE_RESULT, "out.tar", {0}, 2048, "application/x-tar"},
        {PROTO_FILE_INPUT, "in.csv", {0}, 11, "text/csv"},
    };
    memset(files[0].sha256, 0xd4, 32);
    memset(files[1].sha256, 0x0f, 32);
    memset(files[2].sha256, 0xba, 32);
    p.files = files;
    p.n_files = 3;
    assert_int_equal(jobback_job_from_proto(&j, &p), ERR_OK);
    assert_int_equal(j.n_files, 2);
    assert_string_equal(j.files[0].name, "job.json");
    assert_string_equal(j.files[0].sha256,
                        "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4");
    assert_int_equal(j.files[0].size_bytes, 412);
    assert_string_equal(j.files[1].name, "in.csv");
    assert_int_equal(j.files[1].size_bytes, 11);
    assert_string_equal(j.result_sha256,
                        "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f");
    assert_int_equal(j.result_size_bytes, 2048);
    gw_job_release(&j);
    /* A committed result_sha256 stays the record's. */
    p.has_result_sha256 = true;
    memset(p.result_sha256, 0xee, 32);
    assert_int_equal(jobback_job_from_proto(&j, &p), ERR_OK);
    assert_string_equal(j.result_sha256,
                        "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
    gw_job_release(&j);
    p.has_result_sha256 = false;
    p.files = NULL;
    p.n_files = 0;
    p.status = PROTO_STATUS__COUNT;
    assert_int_equal(jobback_job_from_proto(&j, &p), ERR_INVAL);
}

struct seen {
    int calls;
    enum err e;
    char msg[128];
    struct event_base *base;
};

static void job_cb(void *arg, enum err e, const char *msg, const struct gw_job *job)
{
    struct seen *s = arg;
    s->calls++;
    s->e = e;
    snprintf(s->msg, sizeof(s->msg), "%s", msg);
    assert_true(e == ERR_OK ? job != NULL : job == NULL);
    if (s->base)
        event_base_loopbreak(s->base);
}

static void jobs_cb(void *arg, enum err e, const char *msg, const struct gw_job *jobs, size_t n,
                    int64_t next)
{
    (void)jobs;
    (void)n;
    (void)next;
    job_cb(arg, e, msg, e == ERR_OK ? (const struct gw_job *)arg : NULL);
}

static void test_errors_and_down(void **state)
{
    (void)state;
    char addr[96];
    snprintf(addr, sizeof(addr), "ipc:///tmp/loom-gwjb-none.%d", (int)getpid());
    struct event_base *base = event_base_new();
    struct jobback *jb = NULL;
    struct jobback_config bad = {addr, 0, 3600, 60};
    assert_int_equal(jobback_new(base, &bad, &jb), ERR_INVAL);
    struct jobback_config cfg = {addr, 150, 3600, 60};
    assert_int_equal(jobback_new(base, &cfg, &jb), ERR_OK);
    struct gw_backend be;
    jobback_backend(jb, &be);
    assert_null(be.verify);
    struct seen s = {.base = base};
    /* argument errors: refused at once, no callback */
    struct gw_job_filter f = {.status = "NOPE", .limit = 10};
    assert_int_equal(be.list_jobs(be.ctx, &f, jobs_cb, &s), ERR_INVAL);
    f.status = NULL;
    f.client = "0x12";
    assert_int_equal(be.list_jobs(be.ctx, &f, jobs_cb, &s), ERR_INVAL);
    assert_int_equal(be.update_progress(be.ctx, 1, "nobody", 5, job_cb, &s), ERR_INVAL);
    struct gw_job_new in = {.title = "t",
                            .type = "XX",
                            .price_usd_cents = 1,
                            .client = "0x1111111111111111111111111111111111111111"};
    assert_int_equal(be.create_job(be.ctx, &in, job_cb, &s), ERR_INVAL);
    assert_int_equal(be.quote(be.ctx, 100, NULL, NULL), ERR_UNAVAILABLE); /* no quoter */
    assert_int_equal(s.calls, 0);
    /* nobody listening: ERR_UNAVAILABLE once the timeout runs out */
    assert_int_equal(be.get_job(be.ctx, 7, job_cb, &s), ERR_OK);
    assert_int_equal(s.calls, 0);
    event_base_dispatch(base);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.e, ERR_UNAVAILABLE);
    assert_string_equal(s.msg, "job store unavailable");
    /* in flight at free: canceled, exactly once */
    struct seen c = {0};
    f.client = NULL;
    assert_int_equal(be.list_jobs(be.ctx, &f, jobs_cb, &c), ERR_OK);
    jobback_free(jb);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.e, ERR_CANCELED);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_proto),
        cmocka_unit_test(test_errors_and_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
