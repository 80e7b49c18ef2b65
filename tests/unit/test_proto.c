/* Unit tests for proto/: round trips, exact encodings, every error path.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cmd.h"
#include "codec.h"
#include "feed.h"
#include "job.h"
#include "proto.h"

#define CLIENT   "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
#define WORKER   "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"
#define CHAIN_ID "0x9414886b1ebf025db067a4cbd13a0903fbd9733a5372bba1b58bd72c1699b798"
#define SPEC     "0xd4f02eaafd1a9e9de7d10972ca8e47fa7a985825c3c9c1e249c72683cb3e4f19"
#define RESULT   "0xf6a214f7a5fcda0c2cee9660b7fc29f5649e3c68aad48e20e950137c98913a68"
#define TX1      "0x709b55bd3da0f5a838125bd0ee20c5bfdd7caba173912d4281cae816b79a201b"
#define TX2      "0x27ca64c092a959c7edc525ed45e845b1de6a7590d173fd2fad9133c8a779a1e3"
#define B100     "0xb336b767cbfb5f43acf8249b9d430efa43c5116d48afad5753bc7db1897ce114"
#define B101     "0x69054e7427857b541202ed7f4fd690654ab7889a8c626b6b38a4e08b3d8b3493"
#define B120     "0x64548217d47fc0a75de4127f98b3947ac68d941a4513ef1eff1c87bfb5a79a71"

static void hex(const char *s, uint8_t *out, size_t n)
{
    assert_int_equal(json_hex_decode(s, strlen(s), out, n), ERR_OK);
}

/* ---- fixtures --------------------------------------------------------------- */

static struct proto_transition transitions[2];

/* A WORKING job with every optional member set. Strings are borrowed
 * literals: never release this one. */
static struct proto_job full_job(void)
{
    struct proto_job j;
    memset(&j, 0, sizeof j);
    j.id = 42;
    j.title = "Train digits classifier";
    j.description = "Softmax regression \xe2\x80\x94 digits.csv";
    j.type = PROTO_JOB_IA;
    j.price_usd_cents = 1250;
    hex(CLIENT, j.wallet_address, 20);
    j.status = PROTO_STATUS_WORKING;
    j.progress = 35;
    j.created_at = 1764460800;
    j.cloud_link = "https://example.org/data";
    j.script_path = "jobs/42/job.json";
    j.external_links = "";
    j.attachment_info = "digits.csv, 566586 bytes";
    j.has_worker_address = true;
    hex(WORKER, j.worker_address, 20);
    j.has_chain_job_id = true;
    hex(CHAIN_ID, j.chain_job_id, 32);
    j.has_escrow_wei = true;
    assert_int_equal(json_u256_from_dec("4166666666666666", 16, j.escrow_wei), ERR_OK);
    j.has_spec_sha256 = true;
    hex(SPEC, j.spec_sha256, 32);
    j.has_result_sha256 = true;
    hex(RESULT, j.result_sha256, 32);
    j.deadline_at = 1764547200;
    j.max_runtime_s = 3600;
    j.has_claim_expires_at = true;
    j.claim_expires_at = 1764464700;
    j.has_challenge_ends_at = true;
    j.challenge_ends_at = 1764500000;
    transitions[0] = (struct proto_transition){PROTO_STATUS_OPEN, {0}, 100, 1764460900};
    hex(TX1, transitions[0].tx_hash, 32);
    transitions[1] = (struct proto_transition){PROTO_STATUS_WORKING, {0}, 101, 1764461100};
    hex(TX2, transitions[1].tx_hash, 32);
    j.transitions = transitions;
    j.n_transitions = 2;
    return j;
}

/* The smallest valid record: PENDING, no optional members. */
static struct proto_job pending_job(void)
{
    struct proto_job j;
    memset(&j, 0, sizeof j);
    j.id = 7;
    j.title = "t";
    j.description = "";
    j.type = PROTO_JOB_GRAFICA;
    j.price_usd_cents = 300;
    hex(CLIENT, j.wallet_address, 20);
    j.status = PROTO_STATUS_PENDING;
    j.created_at = 1764460800;
    j.deadline_at = 1764547200;
    j.max_runtime_s = 600;
    return j;
}

/* ---- round trips -------------------------------------------------------------- */

static void test_job_roundtrip_and_exact(void **state)
{
    (void)state;
    struct buf b;
    struct json_err e;
    struct proto_job j = full_job(), back;
    buf_init(&b, 0);
    json_err_init(&e);
    assert_int_equal(proto_job_encode(&j, &b, &e), ERR_OK);
    assert_int_equal(proto_job_decode(b.data, b.len, &back, &e), ERR_OK);
    assert_true(proto_job_equal(&j, &back));
    assert_string_equal(back.description, "Softmax regression \xe2\x80\x94 digits.csv");
    assert_int_equal(back.n_transitions, 2);
    assert_int_equal(back.transitions[1].block_number, 101);
    back.transitions[1].at++;
    assert_false(proto_job_equal(&j, &back));
    proto_job_release(&back);
    assert_null(back.title);
    proto_job_release(NULL);

    struct proto_job p = pending_job();
    buf_reset(&b);
    assert_int_equal(proto_job_encode(&p, &b, &e), ERR_OK);
    assert_string_equal(
        buf_cstr(&b), "{\"v\":1,\"id\":7,\"title\":\"t\",\"description\":\"\",\"type\":\"GRAFICA\","
                      "\"price_usd_cents\":300,\"wallet_address\":\"" CLIENT "\","
                      "\"status\":\"PENDING\",\"progress\":0,\"created_at\":1764460800,"
                      "\"deadline_at\":1764547200,\"max_runtime_s\":600}");
    assert_int_equal(proto_job_decode(b.data, b.len, &back, &e), ERR_OK);
    assert_true(proto_job_equal(&p, &back));
    assert_null(back.cloud_link);
    assert_false(back.has_worker_address);
    proto_job_release(&back);
    buf_release(&b);
}

/* job.get's file list: exact text, round trip, and each member's rules. */
static void test_job_files(void **state)
{
    (void)state;
    struct buf b;
    struct json_err e;
    struct proto_job p = pending_job(), back;
    struct proto_job_file f = {PROTO_FILE_RESULT, "out.tar", {0}, 2048, "application/x-tar"};
    hex(SPEC, f.sha256, 32);
    p.files = &f;
    p.n_files = 1;
    buf_init(&b, 0);
    json_err_init(&e);
    assert_int_equal(proto_job_encode(&p, &b, &e), ERR_OK);
    static const char want[] =
        "{\"v\":1,\"id\":7,\"title\":\"t\",\"description\":\"\",\"type\":\"GRAFICA\","
        "\"price_usd_cents\":300,\"wallet_address\":\"" CLIENT "\","
        "\"status\":\"PENDING\",\"progress\":0,\"created_at\":1764460800,"
        "\"deadline_at\":1764547200,\"max_runtime_s\":600,\"files\":[{\"role\":\"result\","
        "\"name\":\"out.tar\",\"sha256\":\"" SPEC "\",\"size_bytes\":2048,"
        "\"content_type\":\"application/x-tar\"}]}";
    assert_string_equal(buf_cstr(&b), want);
    assert_int_equal(proto_job_decode(b.data, b.len, &back, &e), ERR_OK);
    assert_true(proto_job_equal(&p, &back));
    assert_int_equal(back.n_files, 1);
    assert_string_equal(back.files[0].name, "out.tar");
    proto_job_release(&back);

    f.role = PROTO_FILE_ROLE__COUNT;
    buf_reset(&b);
    assert_int_equal(proto_job_encode(&p, &b, &e), ERR_RANGE);
    f.role = PROTO_FILE_SPEC;
    f.size_bytes = -1;
    buf_reset(&b);
    assert_int_equal(proto_job_encode(&p, &b, &e), ERR_RANGE);
    f.size_bytes = 0;
    f.name = "";
    buf_reset(&b);
    assert_int_equal(proto_job_encode(&p, &b, &e), ERR_INVAL);

    /* An unknown role on the wire names its member. */
    struct buf t;
    buf_init(&t, 0);
    const char *r = strstr(want, "\"result\"");
    assert_non_null(r);
    assert_int_equal(buf_append(&t, want, (size_t)(r - want)), ERR_OK);
    assert_int_equal(buf_append_str(&t, "\"output\""), ERR_OK);
    assert_int_equal(buf_append_str(&t, r + strlen("\"result\"")), ERR_OK);
    json_err_init(&e);
    assert_int_equal(proto_job_decode(t.data, t.len, &back, &e), ERR_INVAL);
    assert_string_equal(e.path, "files[0].role");
    assert_null(back.files);
    buf_release(&t);
    buf_release(&b);
}

static void test_feed_roundtrip_and_exact(void **state)
{
    (void)state;
    struct buf b;
    struct json_err e;
    struct proto_feed m, back;
    buf_init(&b, 0);
    json_err_init(&e);

    memset(&m, 0, sizeof m);
    m.kind = PROTO_FEED_PROGRESS;
    m.u.progress.job_id = 42;
    hex(CHAIN_ID, m.u.progress.chain_job_id, 32);
    hex(WORKER, m.u.progress.worker, 20);
    m.u.progress.progress = 35;
    m.u.progress.at = 1764461400;
    assert_int_equal(proto_feed_encode(&m, &b, &e), ERR_OK);
    assert_string_equal(buf_cstr(&b),
                        "job.progress {\"v\":1,\"job_id\":42,\"chain_job_id\":\"" CHAIN_ID
                        "\",\"worker\":\"" WORKER "\",\"progress\":35,\"at\":1764461400}");
    assert_int_equal(proto_feed_decode(b.data, b.len, &back, &e), ERR_OK);
    assert_true(proto_feed_equal(&m, &back));
    proto_feed_release(&back);

    memset(&m, 0, sizeof m);
    m.kind = PROTO_FEED_OPEN;
    m.u.open.job_id = 43;
    hex(CHAIN_ID, m.u.open.chain_job_id, 32);
    m.u.open.type = PROTO_JOB_GRAFICA;
    m.u.open.price_usd_cents = 300;
    m.u.open.escrow_wei[31] = 1;
    hex(SPEC, m.u.open.spec_sha256, 32);
    m.u.open.deadline_at = 1764547200;
    m.u.open.max_runtime_s = 600;
    assert_string_equal(proto_feed_topic(&m), "job.open.GRAFICA");
    buf_reset(&b);
    assert_int_equal(proto_feed_encode(&m, &b, &e), ERR_OK);
    assert_memory_equal(b.data, "job.open.GRAFICA {\"v\":1,", 24);
    assert_int_equal(proto_feed_decode(b.data, b.len, &back, &e), ERR_OK);
    assert_true(proto_feed_equal(&m, &back));
    m.u.open.escrow_wei[31] = 2;
    assert_false(proto_feed_equal(&m, &back));

    memset(&m, 0, sizeof m);
    m.kind = PROTO_FEED_CLOSED;
    m.u.closed.job_id = 42;
    hex(CHAIN_ID, m.u.closed.chain_job_id, 32);
    m.u.closed.status = PROTO_STATUS_REFUNDED;
    m.u.closed.at = 1764547300;
    buf_reset(&b);
    assert_int_equal(proto_feed_encode(&m, &b, &e), ERR_OK);
    assert_string_equal(buf_cstr(&b),
                        "job.closed {\"v\":1,\"job_id\":42,\"chain_job_id\":\"" CHAIN_ID
                        "\",\"status\":\"REFUNDED\",\"at\":1764547300}");
    assert_int_equal(proto_feed_decode(b.data, b.len, &back, &e), ERR_OK);
    assert_true(proto_feed_equal(&m, &back));
    assert_false(back.u.closed.has_tx_hash);
    buf_release(&b);
}

/* Encode <req>, decode it, compare, release the copy. */
static void req_roundtrip(const struct proto_request *req, const char *exact)
{
    struct buf b;
    struct json_err e;
    struct proto_request back;
    buf_init(&b, 0);
    json_err_init(&e);
    assert_int_equal(proto_request_encode(req, &b, &e), ERR_OK);
    if (exact)
        assert_string_equal(buf_cstr(&b), exact);
    assert_int_equal(proto_request_decode(b.data, b.len, &back, &e), ERR_OK);
    assert_int_equal(e.code, ERR_OK);
    assert_true(proto_request_equal(req, &back));
    proto_request_release(&back);
    buf_release(&b);
}

static void test_request_roundtrips(void **state)
{
    (void)state;
    struct proto_request r;

    memset(&r, 0, sizeof r);
    r.cmd = PROTO_CMD_JOB_GET;
    r.req_id = "gw-1-17";
    r.args.job_get.job_id = 42;
    req_roundtrip(&r,
                  "{\"v\":1,\"cmd\":\"job.get\",\"req_id\":\"gw-1-17\",\"args\":{\"job_id\":42}}");

    memset(&r, 0, sizeof r);
    r.cmd = PROTO_CMD_JOB_CREATE;
    struct proto_job_create *c = &r.args.job_create;
    c->title = "Blur";
    c->description = "sigma 2";
    c->type = PROTO_JOB_GRAFICA;
    c->price_usd_cents = 300;
    hex(CLIENT, c->wallet_address, 20);
    c->cloud_link = "https://example.org/x";
    c->attachment_info = "china.jpg";
    c->has_spec_sha256 = true;
    hex(SPEC, c->spec_sha256, 32);
    c->deadline_at = 1764547200;
    c->max_runtime_s = 600;
    req_roundtrip(&r, NULL);

    memset(&r, 0, sizeof r);
    r.cmd = PROTO_CMD_JOB_LIST;
    r.args.job_list.has_status = true;
    r.args.job_list.status = PROTO_STATUS_OPEN;
    r.args.job_list.has_worker = true;
    hex(WORKER, r.args.job_list.worker, 20);
    r.args.job_list.has_limit = true;
    r.args.job_list.limit = 200;
    req_roundtrip(&r,
                  "{\"v\":1,\"cmd\":\"job.list\",\"args\":{\"status\":\"OPEN\",\"worker\":\"" WORKER
                  "\",\"limit\":200}}");

    memset(&r, 0, sizeof r);
    r.cmd = PROTO_CMD_JOB_PROGRESS;
    r.args.job_progress.job_id = 42;
    hex(WORKER, r.args.job_progress.worker, 20);
    r.args.job_progress.progress = 100;
    req_roundtrip(&r, NULL);

    memset(&r, 0, sizeof r);
    r.cmd = PROTO_CMD_JOB_RESULT;
    r.args.job_result.job_id = 42;
    hex(WORKER, r.args.job_result.worker, 20);
    hex(RESULT, r.args.job_result.result_sha256, 32);
    r.args.job_result.file_name = "weights.bin";
    req_roundtrip(&r, NULL);

    memset(&r, 0, sizeof r);
    r.cmd = PROTO_CMD_FILE_PUT;
    r.args.file_put.job_id = 42;
    r.args.file_put.name = "digits.csv";
    hex(SPEC, r.args.file_put.sha256, 32);
    r.args.file_put.size_bytes = (int64_t)1 << 40;
    r.args.file_put.content_type = "text/csv";
    req_roundtrip(&r, NULL);

    memset(&r, 0, sizeof r);
    r.cmd = PROTO_CMD_AUTH_NONCE;
    hex(CLIENT, r.args.auth_nonce.address, 20);
    r.args.auth_nonce.nonce = "a1b2c3d4";
    r.args.auth_nonce.expires_at = 1764461700;
    req_roundtrip(&r, NULL);

    memset(&r, 0, sizeof r);
    r.cmd = PROTO_CMD_CHECKPOINT_GET;
    req_roundtrip(&r, "{\"v\":1,\"cmd\":\"checkpoint.get\",\"args\":{}}");

    memset(&r, 0, sizeof r);
    r.cmd = PROTO_CMD_REORG_ROLLBACK;
    r.args.reorg_rollback.to_block = 99;
    hex(B100, r.args.reorg_rollback.block_hash, 32);
    req_roundtrip(&r, NULL);

    memset(&r, 0, sizeof r);
    r.cmd = PROTO_CMD_JOBS_DUE;
    r.args.jobs_due.now_at = 1764547300;
    r.args.jobs_due.limit = 1000;
    req_roundtrip(&r,
                  "{\"v\":1,\"cmd\":\"jobs.due\",\"args\":{\"now_at\":1764547300,\"limit\":1000}}");

    /* events.apply: two events, three blocks. */
    struct proto_block_ref blocks[3];
    struct proto_event events[2];
    memset(blocks, 0, sizeof blocks);
    memset(events, 0, sizeof events);
    blocks[0].number = 100;
    hex(B100, blocks[0].hash, 32);
    blocks[1].number = 101;
    hex(B101, blocks[1].hash, 32);
    blocks[2].number = 120;
    hex(B120, blocks[2].hash, 32);
    events[0].block_number = 100;
    hex(B100, events[0].block_hash, 32);
    hex(TX1, events[0].tx_hash, 32);
    events[0].block_at = 1764460900;
    events[0].name = PROTO_EV_JOB_REFUNDED;
    hex(CHAIN_ID, events[0].fields.chain_job_id, 32);
    events[0].fields.has_client = true;
    hex(CLIENT, events[0].fields.client, 20);
    events[0].fields.has_worker = true; /* the zero address: nobody had claimed it */
    events[0].fields.has_amount_wei = true;
    events[0].fields.amount_wei[0] = 0x80; /* 2^255: needs all 32 bytes */
    events[1].block_number = 101;
    hex(B101, events[1].block_hash, 32);
    hex(TX2, events[1].tx_hash, 32);
    events[1].log_index = 7;
    events[1].block_at = 1764461100;
    events[1].name = PROTO_EV_JOB_SUBMITTED;
    hex(CHAIN_ID, events[1].fields.chain_job_id, 32);
    events[1].fields.has_client = true;
    hex(CLIENT, events[1].fields.client, 20);
    events[1].fields.has_worker = true;
    hex(WORKER, events[1].fields.worker, 20);
    events[1].fields.has_result_sha256 = true;
    hex(RESULT, events[1].fields.result_sha256, 32);
    events[1].fields.has_challenge_ends_at = true;
    events[1].fields.challenge_ends_at = 1764500000;
    memset(&r, 0, sizeof r);
    r.cmd = PROTO_CMD_EVENTS_APPLY;
    r.args.events_apply.from_block = 100;
    r.args.events_apply.to_block = 120;
    r.args.events_apply.blocks = blocks;
    r.args.events_apply.n_blocks = 3;
    r.args.events_apply.events = events;
    r.args.events_apply.n_events = 2;
    r.args.events_apply.checkpoint = blocks[2];
    req_roundtrip(&r, NULL);
}

/* Encode <rep>, decode it for its command, compare. */
static void rep_roundtrip(const struct proto_reply *rep, const char *exact)
{
    struct buf b;
    struct json_err e;
    struct proto_reply back;
    buf_init(&b, 0);
    json_err_init(&e);
    assert_int_equal(proto_reply_encode(rep, &b, &e), ERR_OK);
    if (exact)
        assert_string_equal(buf_cstr(&b), exact);
    assert_int_equal(proto_reply_decode(b.data, b.len, rep->cmd, &back, &e), ERR_OK);
    assert_true(proto_reply_equal(rep, &back));
    proto_reply_release(&back);
    assert_int_equal(back.cmd, rep->cmd);
    buf_release(&b);
}

static void test_reply_roundtrips(void **state)
{
    (void)state;
    struct proto_reply r;

    memset(&r, 0, sizeof r);
    r.cmd = PROTO_CMD_JOB_GET;
    r.error_code = ERR_NOTFOUND;
    r.error_message = "cannot get job 42: no such job";
    rep_roundtrip(&r, "{\"v\":1,\"ok\":false,\"error\":{\"code\":\"not_found\",\"message\":"
                      "\"cannot get job 42: no such job\"}}");
    for (int code = 1; code < ERR__COUNT; code++) {
        r.error_code = (enum err)code;
        rep_roundtrip(&r, NULL);
    }

    memset(&r, 0, sizeof r);
    r.cmd = PROTO_CMD_JOB_GET;
    r.ok = true;
    r.result.job = full_job();
    rep_roundtrip(&r, NULL);

    struct proto_job jobs[2] = {full_job(), pending_job()};
    memset(&r, 0, sizeof r);
    r.cmd = PROTO_CMD_JOB_LIST;
    r.ok = true;
    r.result.page.jobs = jobs;
    r.result.page.n_jobs = 2;
    r.result.page.has_next_cursor = true;
    r.result.page.next_cursor = 7;
    rep_roundtrip(&r, NULL);
    r.result.page.n_jobs = 0;
    r.result.page.has_next_cursor = false;
    rep_roundtrip(&r, "{\"v\":1,\"ok\":true,\"result\":{\"jobs\":[]}}");

    memset(&r, 0, sizeof r);
    r.cmd = PROTO_CMD_AUTH_NONCE;
    r.ok = true;
    rep_roundtrip(&r, "{\"v\":1,\"ok\":true,\"result\":{}}");

    memset(&r, 0, sizeof r);
    r.cmd = PROTO_CMD_FILE_PUT;
    r.ok = true;
    r.result.file.job_id = 1;
    r.result.file.name = "a";
    r.result.file.content_type = "image/png";
    rep_roundtrip(&r, NULL);

    memset(&r, 0, sizeof r);
    r.cmd = PROTO_CMD_EVENTS_APPLY;
    r.ok = true;
    r.result.applied.events_applied = 2;
    r.result.applied.checkpoint.number = 120;
    hex(B120, r.result.applied.checkpoint.hash, 32);
    rep_roundtrip(&r, "{\"v\":1,\"ok\":true,\"result\":{\"events_applied\":2,\"checkpoint\":"
                      "{\"number\":120,\"hash\":\"" B120 "\"}}}");

    memset(&r, 0, sizeof r);
    r.cmd = PROTO_CMD_CHECKPOINT_GET;
    r.ok = true;
    rep_roundtrip(&r, "{\"v\":1,\"ok\":true,\"result\":{}}");
    r.result.checkpoint.has_checkpoint = true;
    r.result.checkpoint.checkpoint.number = 5;
    rep_roundtrip(&r, NULL);

    memset(&r, 0, sizeof r);
    r.cmd = PROTO_CMD_REORG_ROLLBACK;
    r.ok = true;
    r.result.rollback.events_removed = 3;
    r.result.rollback.checkpoint.number = 99;
    rep_roundtrip(&r, NULL);

    struct proto_due due[2];
    memset(due, 0, sizeof due);
    due[0] = (struct proto_due){42, {0}, PROTO_DUE_RELEASE, 1764500000};
    due[1] = (struct proto_due){43, {0}, PROTO_DUE_REFUND, 1764547200};
    hex(CHAIN_ID, due[1].chain_job_id, 32);
    memset(&r, 0, sizeof r);
    r.cmd = PROTO_CMD_JOBS_DUE;
    r.ok = true;
    r.result.due.jobs = due;
    r.result.due.n_jobs = 2;
    rep_roundtrip(&r, NULL);
}

/* ---- error paths ------------------------------------------------------------- */

/*
 * Return <base> with the member at <path> ("args.events[1].fields.worker")
 * set to the JSON <value>, or removed when value is NULL. The last path
 * component is a key. The caller frees the result.
 */
static char *mutate(const char *base, const char *path, const char *value)
{
    cJSON *root = cJSON_Parse(base);
    assert_non_null(root);
    cJSON *cur = root;
    char part[64];
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        assert_true(n < sizeof part);
        memcpy(part, p, n);
        part[n] = '\0';
        char *br = strchr(part, '[');
        if (!dot) {
            assert_null(br);
            cJSON_DeleteItemFromObjectCaseSensitive(cur, part);
            if (value) {
                cJSON *v = cJSON_Parse(value);
                assert_non_null(v);
                cJSON_AddItemToObject(cur, part, v);
            }
            break;
        }
        if (br)
            *br = '\0';
        cur = cJSON_GetObjectItemCaseSensitive(cur, part);
        assert_non_null(cur);
        while (br) {
            cur = cJSON_GetArrayItem(cur, (int)strtol(br + 1, NULL, 10));
            assert_non_null(cur);
            br = strchr(br + 1, '[');
        }
        p = dot + 1;
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

enum which { REQ, REP_JOB_GET, JOB, FEED };

struct bad {
    enum which which;
    const char *base;  /* a valid message */
    const char *path;  /* member to change; NULL: use base as it is */
    const char *value; /* new JSON value; NULL removes the member */
    enum err code;
    const char *err_path;
    const char *message;
};

static const char *const GET = "{\"v\":1,\"cmd\":\"job.get\",\"args\":{\"job_id\":42}}";
static const char *const PROGRESS = "{\"v\":1,\"cmd\":\"job.progress\",\"args\":{\"job_id\":42,"
                                    "\"worker\":\"" WORKER "\",\"progress\":35}}";
static const char *const CREATE = "{\"v\":1,\"cmd\":\"job.create\",\"args\":{\"title\":\"x\","
                                  "\"description\":\"\",\"type\":\"IA\","
                                  "\"price_usd_cents\":1,\"wallet_address\":\"" CLIENT
                                  "\",\"deadline_at\":1,\"max_runtime_s\":1}}";
static const char *const LIST = "{\"v\":1,\"cmd\":\"job.list\",\"args\":{}}";
static const char *const APPLY =
    "{\"v\":1,\"cmd\":\"events.apply\",\"args\":{\"from_block\":100,\"to_block\":120,\"blocks\":["
    "{\"number\":100,\"hash\":\"" B100 "\"},{\"number\":101,\"hash\":\"" B101 "\"},"
    "{\"number\":120,\"hash\":\"" B120
    "\"}],\"events\":[{\"block_number\":100,\"block_hash\":\"" B100
    "\",\"block_at\":1764460900,\"tx_hash\":\"" TX1
    "\",\"log_index\":0,\"name\":\"JobCreated\",\"fields\":{\"chain_job_id\":"
    "\"" CHAIN_ID "\",\"client\":\"" CLIENT "\",\"ref\":\"" SPEC "\",\"price_usd_cents\":1250,"
    "\"amount_wei\":\"41666\",\"spec_sha256\":\"" SPEC "\",\"deadline_at\":1764547200,"
    "\"max_runtime_s\":3600,\"challenge_window_s\":86400}},"
    "{\"block_number\":101,\"block_hash\":\"" B101 "\",\"block_at\":1764461100,\"tx_hash\":\"" TX2
    "\",\"log_index\":3,\"name\":\"JobClaimed\",\"fields\":{\"chain_job_id\":\"" CHAIN_ID
    "\",\"client\":\"" CLIENT "\",\"worker\":\"" WORKER
    "\",\"claim_expires_at\":1764464700}}],\"checkpoint\":{\"number\":120,\"hash\":\"" B120 "\"}}}";
static const char *const JOB_OPEN =
    "{\"v\":1,\"id\":1,\"title\":\"t\",\"description\":\"\",\"type\":\"IA\",\"price_usd_cents\":1,"
    "\"wallet_address\":\"" CLIENT "\",\"status\":\"OPEN\",\"progress\":0,\"created_at\":0,"
    "\"chain_job_id\":\"" CHAIN_ID "\",\"escrow_wei\":\"1\",\"deadline_at\":0,\"max_runtime_s\":1,"
    "\"transitions\":[{\"status\":\"OPEN\",\"tx_hash\":\"" TX1 "\",\"block_number\":1,\"at\":2}]}";
static const char *const REP_OK = "{\"v\":1,\"ok\":false,\"error\":{\"code\":\"not_found\","
                                  "\"message\":\"m\"}}";
static const char *const OPEN_FEED =
    "job.open.IA {\"v\":1,\"job_id\":42,\"chain_job_id\":\"" CHAIN_ID "\",\"type\":\"IA\","
    "\"price_usd_cents\":1250,\"escrow_wei\":\"4\",\"spec_sha256\":\"" SPEC "\","
    "\"deadline_at\":1,\"max_runtime_s\":1}";

static const struct bad bads[] = {
    /* envelope */
    {REQ, GET, "v", "2", ERR_VERSION, "v", "unsupported protocol version 2 (this build speaks 1)"},
    {REQ, GET, "v", "0", ERR_VERSION, "v", "unsupported protocol version 0 (this build speaks 1)"},
    {REQ, GET, "v", NULL, ERR_INVAL, "v", "required"},
    {REQ, GET, "v", "\"1\"", ERR_INVAL, "v", "must be an integer"},
    {REQ, GET, "cmd", "\"job.delete\"", ERR_INVAL, "cmd", "unknown command \"job.delete\""},
    {REQ, GET, "cmd", NULL, ERR_INVAL, "cmd", "required"},
    {REQ, GET, "cmd", "7", ERR_INVAL, "cmd", "must be a string"},
    {REQ, GET, "args", NULL, ERR_INVAL, "args", "required"},
    {REQ, GET, "args", "[]", ERR_INVAL, "args", "must be an object"},
    {REQ, GET, "extra", "1", ERR_INVAL, "extra", "unknown field"},
    {REQ, GET, "req_id", "\"\"", ERR_INVAL, "req_id", "shorter than 1 bytes"},
    {REQ, GET, "req_id", "\"12345678901234567890123456789012345678901234567890123456789012345\"",
     ERR_TOOBIG, "req_id", "longer than 64 bytes"},
    {REQ, "[1]", NULL, NULL, ERR_INVAL, "", "must be an object"},
    {REQ, "{\"v\":1,\"cmd\":\"job.get\",\"args\":{\"job_id\":42}} x", NULL, NULL, ERR_INVAL, "",
     "trailing bytes after the JSON value at byte 45"},
    {REQ, "{\"v\":1,\"cmd\":\"job.get\",\"args\":{\"job_id\":42}", NULL, NULL, ERR_INVAL, "",
     "malformed JSON at byte 42"},
    {REQ, "{\"v\":1,\"v\":1,\"cmd\":\"job.get\",\"args\":{\"job_id\":42}}", NULL, NULL, ERR_INVAL,
     "v", "duplicate key"},
    {REQ, "{\"v\":1,\"a\":[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]}", NULL, NULL, ERR_TOOBIG, "",
     "nesting deeper than 16 levels at byte 26"},
    /* members: missing, wrong type, out of range, bad hex, too long, unknown */
    {REQ, GET, "args.job_id", NULL, ERR_INVAL, "args.job_id", "required"},
    {REQ, GET, "args.job_id", "null", ERR_INVAL, "args.job_id", "required"},
    {REQ, GET, "args.job_id", "\"42\"", ERR_INVAL, "args.job_id", "must be an integer"},
    {REQ, GET, "args.job_id", "42.5", ERR_INVAL, "args.job_id", "must be an integer"},
    {REQ, GET, "args.job_id", "0", ERR_RANGE, "args.job_id",
     "must be between 1 and 9007199254740991"},
    /* Literal text: cJSON's own printer (used by mutate) rounds big numbers. */
    {REQ, "{\"v\":1,\"cmd\":\"job.get\",\"args\":{\"job_id\":9007199254740992}}", NULL, NULL,
     ERR_INVAL, "args.job_id", "must be an integer of magnitude at most 2^53-1"},
    {REQ, GET, "args.jobid", "1", ERR_INVAL, "args.jobid", "unknown field"},
    {REQ, PROGRESS, "args.progress", "101", ERR_RANGE, "args.progress",
     "must be between 0 and 100"},
    {REQ, PROGRESS, "args.progress", "-1", ERR_RANGE, "args.progress", "must be between 0 and 100"},
    {REQ, PROGRESS, "args.worker", "\"0x3c44\"", ERR_INVAL, "args.worker",
     "must be 0x followed by 40 hex digits"},
    {REQ, PROGRESS, "args.worker", "\"0x3c44cdddb6a900fa2b585dd299e03d12fa4293bg\"", ERR_INVAL,
     "args.worker", "must be 0x followed by 40 hex digits"},
    {REQ, CREATE, "args.title", NULL, ERR_INVAL, "args.title", "required"},
    {REQ, CREATE, "args.title", "\"\"", ERR_INVAL, "args.title", "shorter than 1 bytes"},
    {REQ, CREATE, "args.title",
     "\"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567"
     "8901234567890123456789012345678901234567890123456789012345678901234567890123456789012345"
     "6789012345678901234567890\"",
     ERR_TOOBIG, "args.title", "longer than 200 bytes"},
    {REQ, CREATE, "args.type", "\"ia\"", ERR_INVAL, "args.type",
     "\"ia\" is not one of IA, GRAFICA"},
    {REQ, CREATE, "args.price_usd_cents", "0", ERR_RANGE, "args.price_usd_cents",
     "must be between 1 and 100000000000"},
    {REQ, CREATE, "args.spec_sha256", "\"0x00\"", ERR_INVAL, "args.spec_sha256",
     "must be 0x followed by 64 hex digits"},
    {REQ, CREATE, "args.max_runtime_s", "31536001", ERR_RANGE, "args.max_runtime_s",
     "must be between 1 and 31536000"},
    {REQ, CREATE, "args.description", "\"ok\xff\"", ERR_INVAL, "args.description",
     "not valid UTF-8"},
    {REQ, LIST, "args.status", "\"DONE\"", ERR_INVAL, "args.status",
     "\"DONE\" is not one of PENDING, OPEN, WORKING, SUBMITTED, COMPLETED, DISPUTED, REFUNDED"},
    {REQ, LIST, "args.limit", "201", ERR_RANGE, "args.limit", "must be between 1 and 200"},
    {REQ, LIST, "args.client", "true", ERR_INVAL, "args.client", "must be a string"},
    /* events.apply: members in arrays, then its rules */
    {REQ, APPLY, "args.blocks", "[1]", ERR_INVAL, "args.blocks[0]", "must be an object"},
    {REQ, APPLY, "args.blocks", "{}", ERR_INVAL, "args.blocks", "must be an array"},
    {REQ, APPLY, "args.blocks", "[]", ERR_INVAL, "args.blocks",
     "must list at least the checkpoint block"},
    {REQ, APPLY, "args.events", NULL, ERR_INVAL, "args.events", "required"},
    {REQ, APPLY, "args.events[1].tx_hash", "\"0x12\"", ERR_INVAL, "args.events[1].tx_hash",
     "must be 0x followed by 64 hex digits"},
    {REQ, APPLY, "args.events[0].name", "\"JobStolen\"", ERR_INVAL, "args.events[0].name",
     "\"JobStolen\" is not one of JobCreated, JobClaimed, JobSubmitted, PaymentReleased, "
     "JobDisputed, JobReopened, JobRefunded, DisputeResolved"},
    {REQ, APPLY, "args.events[0].fields.amount_wei", "\"1.5\"", ERR_INVAL,
     "args.events[0].fields.amount_wei",
     "must be a decimal string of digits without leading zeros"},
    {REQ, APPLY, "args.events[0].fields.amount_wei",
     "\"115792089237316195423570985008687907853269984665640564039457584007913129639936\"",
     ERR_RANGE, "args.events[0].fields.amount_wei", "must be below 2^256"},
    {REQ, APPLY, "args.events[1].fields.claim_expires_at", NULL, ERR_INVAL,
     "args.events[1].fields.claim_expires_at", "required for JobClaimed"},
    /* every parameter of the contract's event travels (LoomEscrow.sol) */
    {REQ, APPLY, "args.events[1].fields.client", NULL, ERR_INVAL, "args.events[1].fields.client",
     "required for JobClaimed"},
    {REQ, APPLY, "args.events[0].fields.ref", NULL, ERR_INVAL, "args.events[0].fields.ref",
     "required for JobCreated"},
    {REQ, APPLY, "args.events[0].fields.challenge_window_s", "31536001", ERR_RANGE,
     "args.events[0].fields.challenge_window_s", "must be between 0 and 31536000"},
    {REQ, APPLY, "args.events[0].fields.by_client", "true", ERR_INVAL,
     "args.events[0].fields.by_client", "not a field of JobCreated"},
    {REQ, APPLY, "args.events[1].fields.to_worker_wei", "\"1\"", ERR_INVAL,
     "args.events[1].fields.to_worker_wei", "not a field of JobClaimed"},
    {REQ, APPLY, "args.events[0].block_at", NULL, ERR_INVAL, "args.events[0].block_at", "required"},
    {REQ, APPLY, "args.events[0].fields.result_sha256", "\"" RESULT "\"", ERR_INVAL,
     "args.events[0].fields.result_sha256", "not a field of JobCreated"},
    {REQ, APPLY, "args.events[1].fields.chain_job_id", NULL, ERR_INVAL,
     "args.events[1].fields.chain_job_id", "required"},
    {REQ, APPLY, "args.events[1].fields.colour", "1", ERR_INVAL, "args.events[1].fields.colour",
     "unknown field"},
    {REQ, APPLY, "args.events[1].block_number", "102", ERR_INVAL, "args.events[1].block_number",
     "block not listed in blocks"},
    {REQ, APPLY, "args.events[1].block_hash", "\"" B100 "\"", ERR_INVAL,
     "args.events[1].block_hash", "differs from the hash in blocks"},
    {REQ, APPLY, "args.events[1].block_number", "100", ERR_INVAL, "args.events[1].block_hash",
     "differs from the hash in blocks"},
    {REQ, APPLY, "args.events[0].log_index", "4294967296", ERR_RANGE, "args.events[0].log_index",
     "must be between 0 and 4294967295"},
    {REQ, APPLY, "args.from_block", "121", ERR_INVAL, "args.to_block",
     "must not be below from_block"},
    {REQ, APPLY, "args.to_block", "100100", ERR_RANGE, "args.to_block",
     "range of more than 100000 blocks"},
    {REQ, APPLY, "args.checkpoint.number", "119", ERR_INVAL, "args.checkpoint.number",
     "must equal to_block"},
    {REQ, APPLY, "args.checkpoint.hash", "\"" B101 "\"", ERR_INVAL, "args.blocks[2]",
     "the last block must be the checkpoint"},
    {REQ, APPLY, "args.blocks[1].number", "100", ERR_INVAL, "args.blocks[1].number",
     "blocks must be strictly ascending"},
    {REQ, APPLY, "args.blocks[0].number", "99", ERR_INVAL, "args.blocks[0].number",
     "outside from_block..to_block"},
    /* the job record and its status rules */
    {JOB, JOB_OPEN, "v", "3", ERR_VERSION, "v",
     "unsupported protocol version 3 (this build speaks 1)"},
    {JOB, JOB_OPEN, "chain_job_id", NULL, ERR_INVAL, "chain_job_id",
     "required when status is OPEN"},
    {JOB, JOB_OPEN, "escrow_wei", NULL, ERR_INVAL, "escrow_wei", "required when status is OPEN"},
    {JOB, JOB_OPEN, "status", "\"WORKING\"", ERR_INVAL, "worker_address",
     "required when status is WORKING"},
    {JOB, JOB_OPEN, "progress", "100.5", ERR_INVAL, "progress", "must be an integer"},
    {JOB, JOB_OPEN, "created_at", "253402300800", ERR_RANGE, "created_at",
     "must be between 0 and 253402300799"},
    {JOB, JOB_OPEN, "transitions", "{}", ERR_INVAL, "transitions", "must be an array"},
    {JOB, JOB_OPEN, "transitions[0].status", "\"GONE\"", ERR_INVAL, "transitions[0].status",
     "\"GONE\" is not one of PENDING, OPEN, WORKING, SUBMITTED, COMPLETED, DISPUTED, REFUNDED"},
    {JOB, JOB_OPEN, "transitions[0].at", NULL, ERR_INVAL, "transitions[0].at", "required"},
    {JOB, JOB_OPEN, "cloud_link", "5", ERR_INVAL, "cloud_link", "must be a string"},
    /* replies */
    {REP_JOB_GET, REP_OK, "error.code", "\"nope\"", ERR_INVAL, "error.code",
     "unknown error code \"nope\""},
    {REP_JOB_GET, REP_OK, "error.code", "\"ok\"", ERR_INVAL, "error.code",
     "unknown error code \"ok\""},
    {REP_JOB_GET, REP_OK, "error.message", NULL, ERR_INVAL, "error.message", "required"},
    {REP_JOB_GET, REP_OK, "error.detail", "1", ERR_INVAL, "error.detail", "unknown field"},
    {REP_JOB_GET, REP_OK, "error", NULL, ERR_INVAL, "error", "required"},
    {REP_JOB_GET, REP_OK, "ok", NULL, ERR_INVAL, "ok", "required"},
    {REP_JOB_GET, REP_OK, "ok", "1", ERR_INVAL, "ok", "must be true or false"},
    {REP_JOB_GET, REP_OK, "result", "{}", ERR_INVAL, "result", "must be absent when ok is false"},
    {REP_JOB_GET, REP_OK, "ok", "true", ERR_INVAL, "error", "must be absent when ok is true"},
    {REP_JOB_GET, "{\"v\":1,\"ok\":true}", NULL, NULL, ERR_INVAL, "result", "required"},
    {REP_JOB_GET, "{\"v\":1,\"ok\":true,\"result\":{\"id\":1}}", NULL, NULL, ERR_INVAL,
     "result.title", "required"},
    {REP_JOB_GET, "{\"v\":2,\"ok\":true,\"result\":{}}", NULL, NULL, ERR_VERSION, "v",
     "unsupported protocol version 2 (this build speaks 1)"},
    /* the feed */
    {FEED, OPEN_FEED, NULL, NULL, ERR_OK, "", ""},
    {FEED,
     "job.open.GRAFICA {\"v\":1,\"job_id\":42,\"chain_job_id\":\"" CHAIN_ID "\",\"type\":\"IA\","
     "\"price_usd_cents\":1,\"escrow_wei\":\"4\",\"spec_sha256\":\"" SPEC "\",\"deadline_at\":1,"
     "\"max_runtime_s\":1}",
     NULL, NULL, ERR_INVAL, "type", "does not match the topic job.open.GRAFICA"},
    {FEED, "job.opened {\"v\":1}", NULL, NULL, ERR_INVAL, "", "unknown feed topic \"job.opened\""},
    {FEED, "job.progress", NULL, NULL, ERR_INVAL, "", "feed frame has no space after its topic"},
    {FEED, "job.progress {\"v\":1}", NULL, NULL, ERR_INVAL, "job_id", "required"},
    {FEED,
     "job.closed {\"v\":1,\"job_id\":1,\"chain_job_id\":\"" CHAIN_ID "\",\"status\":\"OPEN\","
     "\"at\":1}",
     NULL, NULL, ERR_INVAL, "status", "a closed job cannot be OPEN"},
    {FEED, "job.closed {\"v\":9}", NULL, NULL, ERR_VERSION, "v",
     "unsupported protocol version 9 (this build speaks 1)"},
};

static enum err decode_as(enum which w, const char *s, struct json_err *e)
{
    enum err rc;
    size_t n = strlen(s);
    if (w == REQ) {
        struct proto_request r;
        rc = proto_request_decode(s, n, &r, e);
        if (rc != ERR_OK) {
            assert_int_equal(r.cmd, 0); /* zeroed on failure */
            assert_null(r.req_id);
        }
        proto_request_release(&r);
    } else if (w == REP_JOB_GET) {
        struct proto_reply r;
        rc = proto_reply_decode(s, n, PROTO_CMD_JOB_GET, &r, e);
        proto_reply_release(&r);
    } else if (w == JOB) {
        struct proto_job j;
        rc = proto_job_decode(s, n, &j, e);
        if (rc != ERR_OK)
            assert_null(j.title);
        proto_job_release(&j);
    } else {
        struct proto_feed f;
        rc = proto_feed_decode(s, n, &f, e);
        proto_feed_release(&f);
    }
    return rc;
}

static void test_decode_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        const struct bad *b = &bads[i];
        struct json_err e;
        json_err_init(&e);
        /* The base decodes before it is broken. */
        assert_int_equal(decode_as(b->which, b->base, &e), b->path ? ERR_OK : b->code);
        char *text = b->path ? mutate(b->base, b->path, b->value) : NULL;
        json_err_init(&e);
        enum err rc = decode_as(b->which, text ? text : b->base, &e);
        if (rc != b->code || strcmp(e.path, b->err_path) != 0 || strcmp(e.message, b->message) != 0)
            fail_msg("case %zu (%s = %s): got %s at \"%s\": %s", i, b->path ? b->path : "-",
                     b->value ? b->value : "(removed)", err_code(rc), e.path, e.message);
        assert_int_equal(e.code, rc);
        free(text);
    }
}

static void test_size_cap(void **state)
{
    (void)state;
    /* One byte over PROTO_MAX_MSG_BYTES is refused before parsing. */
    size_t n = PROTO_MAX_MSG_BYTES + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, ' ', n);
    memcpy(big, GET, strlen(GET));
    struct proto_request r;
    struct json_err e;
    json_err_init(&e);
    assert_int_equal(proto_request_decode(big, n, &r, &e), ERR_TOOBIG);
    assert_string_equal(e.message, "document of 8388609 bytes is over the 8388608-byte cap");
    /* Exactly at the cap, trailing whitespace is fine. */
    json_err_init(&e);
    assert_int_equal(proto_request_decode(big, n - 1, &r, &e), ERR_OK);
    proto_request_release(&r);
    free(big);
}

static void test_encode_validates(void **state)
{
    (void)state;
    struct buf b;
    struct json_err e;
    buf_init(&b, 0);

    struct proto_job j = pending_job();
    j.progress = 150;
    json_err_init(&e);
    assert_int_equal(proto_job_encode(&j, &b, &e), ERR_RANGE);
    assert_string_equal(e.path, "progress");
    j = pending_job();
    j.title = NULL;
    json_err_init(&e);
    assert_int_equal(proto_job_encode(&j, &b, &e), ERR_INVAL);
    assert_string_equal(e.path, "title");
    assert_string_equal(e.message, "required");
    j = pending_job();
    j.description = "\xff";
    json_err_init(&e);
    assert_int_equal(proto_job_encode(&j, &b, &e), ERR_INVAL);
    assert_string_equal(e.path, "description");
    assert_string_equal(e.message, "not valid UTF-8");
    j = full_job();
    j.status = PROTO_STATUS_SUBMITTED;
    j.has_result_sha256 = false;
    json_err_init(&e);
    assert_int_equal(proto_job_encode(&j, &b, &e), ERR_INVAL);
    assert_string_equal(e.path, "result_sha256");
    assert_string_equal(e.message, "required when status is SUBMITTED");
    j = full_job();
    j.transitions[1].status = (enum proto_job_status)99;
    json_err_init(&e);
    assert_int_equal(proto_job_encode(&j, &b, &e), ERR_RANGE);
    assert_string_equal(e.path, "transitions[1].status");
    j.n_transitions = PROTO_TRANSITIONS_MAX + 1;
    json_err_init(&e);
    assert_int_equal(proto_job_encode(&j, &b, &e), ERR_TOOBIG);
    assert_string_equal(e.path, "transitions");

    struct proto_request r;
    memset(&r, 0, sizeof r);
    r.cmd = PROTO_CMD__COUNT;
    json_err_init(&e);
    assert_int_equal(proto_request_encode(&r, &b, &e), ERR_INVAL);
    assert_string_equal(e.path, "cmd");
    r.cmd = PROTO_CMD_JOB_GET;
    r.args.job_get.job_id = 0;
    json_err_init(&e);
    assert_int_equal(proto_request_encode(&r, &b, &e), ERR_RANGE);
    assert_string_equal(e.path, "args.job_id");

    struct proto_reply rep;
    memset(&rep, 0, sizeof rep);
    rep.cmd = PROTO_CMD_JOB_GET;
    rep.error_message = "x";
    json_err_init(&e);
    assert_int_equal(proto_reply_encode(&rep, &b, &e), ERR_INVAL);
    assert_string_equal(e.path, "error.code");

    /* Nothing reached the buffer through all of that. */
    assert_int_equal(b.len, 0);

    /* A full buffer fails the feed frame and leaves the buffer as it was. */
    struct proto_feed f;
    memset(&f, 0, sizeof f);
    f.kind = PROTO_FEED_PROGRESS;
    f.u.progress.job_id = 1;
    struct buf small;
    buf_init(&small, 40);
    assert_int_equal(buf_append_str(&small, "keep"), ERR_OK);
    assert_int_equal(proto_feed_encode(&f, &small, NULL), ERR_TOOBIG);
    assert_string_equal(buf_cstr(&small), "keep");
    f.kind = PROTO_FEED_OPEN;
    f.u.open.type = (enum proto_job_type)5;
    assert_null(proto_feed_topic(&f));
    json_err_init(&e);
    assert_int_equal(proto_feed_encode(&f, &small, &e), ERR_RANGE);
    assert_string_equal(e.path, "type");
    buf_release(&small);
    buf_release(&b);
}

static void test_registry(void **state)
{
    (void)state;
    assert_int_equal(proto_kind_count(), 4 + 2 * PROTO_CMD__COUNT + 1);
    char name[64];
    for (int c = 0; c < PROTO_CMD__COUNT; c++) {
        snprintf(name, sizeof name, "cmd:%s", proto_cmd_names[c]);
        assert_int_equal(proto_kind_find(name), 4 + c);
        snprintf(name, sizeof name, "reply:%s", proto_cmd_names[c]);
        assert_int_equal(proto_kind_find(name), 4 + PROTO_CMD__COUNT + c);
        assert_int_equal(proto_cmd_find(proto_cmd_names[c]), c);
    }
    assert_int_equal(proto_cmd_find("job.delete"), -1);
    assert_int_equal(proto_kind_find("reply:error"), (int)proto_kind_count() - 1);
    assert_int_equal(proto_kind_find("nope"), -1);
    assert_null(proto_kind_name(proto_kind_count()));
    /* Type names are unique and every type has its keys, no more than the
     * decoder keeps on its stack. */
    for (size_t i = 0; i < proto_type_count(); i++) {
        assert_true(proto_type_field_count(i) <= PROTO__FIELDS_MAX);
        for (size_t k = i + 1; k < proto_type_count(); k++)
            assert_string_not_equal(proto_type_name(i), proto_type_name(k));
        for (size_t f = 0; f < proto_type_field_count(i); f++)
            assert_non_null(proto_type_field_key(i, f));
        assert_null(proto_type_field_key(i, proto_type_field_count(i)));
    }
    /* A request decodes only as the kind of its command. */
    struct json_err e;
    bool stable = true;
    json_err_init(&e);
    assert_int_equal(proto_kind_roundtrip((size_t)proto_kind_find("cmd:job.list"), GET, strlen(GET),
                                          NULL, &stable, &e),
                     ERR_INVAL);
    assert_false(stable);
    assert_string_equal(e.message, "a request for another command");
    json_err_init(&e);
    assert_int_equal(proto_kind_roundtrip((size_t)proto_kind_find("reply:job.get"), REP_OK,
                                          strlen(REP_OK), NULL, &stable, &e),
                     ERR_INVAL);
    assert_string_equal(e.path, "ok");
    json_err_init(&e);
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(proto_kind_roundtrip((size_t)proto_kind_find("cmd:job.get"), GET, strlen(GET),
                                          &b, &stable, &e),
                     ERR_OK);
    assert_true(stable);
    assert_string_equal(buf_cstr(&b), GET);
    buf_release(&b);
    assert_int_equal(proto_kind_roundtrip(999, GET, strlen(GET), NULL, &stable, NULL), ERR_INVAL);
}

/* Members in any order decode the same as in the table's order (the
 * decoder tries the next field first and falls back to a scan); an unknown
 * member among them still fails by name. */
static void test_member_order(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "{\"v\":1,\"cmd\":\"job.list\",\"args\":{\"status\":\"OPEN\",\"worker\":\"" WORKER
        "\",\"limit\":200}}",
        "{\"args\":{\"limit\":200,\"worker\":\"" WORKER
        "\",\"status\":\"OPEN\"},\"cmd\":\"job.list\","
        "\"v\":1}",
        "{\"cmd\":\"job.list\",\"v\":1,\"args\":{\"worker\":\"" WORKER
        "\",\"limit\":200,\"status\":\"OPEN\"}}",
    };
    uint8_t worker[20];
    hex(WORKER, worker, 20);
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        struct proto_request r;
        struct json_err e;
        json_err_init(&e);
        assert_int_equal(proto_request_decode(texts[k], strlen(texts[k]), &r, &e), ERR_OK);
        assert_int_equal(r.cmd, PROTO_CMD_JOB_LIST);
        assert_true(r.args.job_list.has_status);
        assert_int_equal(r.args.job_list.status, PROTO_STATUS_OPEN);
        assert_true(r.args.job_list.has_worker);
        assert_memory_equal(r.args.job_list.worker, worker, 20);
        assert_true(r.args.job_list.has_limit);
        assert_int_equal(r.args.job_list.limit, 200);
        assert_false(r.args.job_list.has_client);
        proto_request_release(&r);
    }
    static const char bad[] = "{\"args\":{\"limit\":200,\"wrker\":\"" WORKER
                              "\",\"status\":\"OPEN\"},\"cmd\":\"job.list\",\"v\":1}";
    struct proto_request r;
    struct json_err e;
    json_err_init(&e);
    assert_int_equal(proto_request_decode(bad, strlen(bad), &r, &e), ERR_INVAL);
    assert_string_equal(e.path, "args.wrker");
    assert_string_equal(e.message, "unknown field");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_roundtrip_and_exact),
        cmocka_unit_test(test_member_order),
        cmocka_unit_test(test_job_files),
        cmocka_unit_test(test_feed_roundtrip_and_exact),
        cmocka_unit_test(test_request_roundtrips),
        cmocka_unit_test(test_reply_roundtrips),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_size_cap),
        cmocka_unit_test(test_encode_validates),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
