/* Unit tests for services/indexer/jobsink: the sink's three commands over a
 * nanomsg REQ, against a REP server on its own thread and event base.
 * SPDX-License-Identifier: MIT */
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
#include "services/indexer/jobsink.h"

#define URL   "inproc://indexer-jobsink-test"
#define N_REQ 5

/* What the server saw; written by the server thread, read after join. */
static struct {
    struct event_base *base;
    struct bus *rep;
    int requests;
    enum proto_cmd cmd[N_REQ];
    int decode_ok[N_REQ];
    int64_t from_block, to_block, n_events, rb_to;
    uint8_t ev_tx0, rb_hash0;
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
    srv.decode_ok[i] = proto_request_decode(data, len, &req, NULL) == ERR_OK;
    struct proto_reply rep;
    memset(&rep, 0, sizeof(rep));
    if (srv.decode_ok[i]) {
        srv.cmd[i] = req.cmd;
        rep.cmd = req.cmd;
        if (req.cmd == PROTO_CMD_EVENTS_APPLY) {
            srv.from_block = req.args.events_apply.from_block;
            srv.to_block = req.args.events_apply.to_block;
            srv.n_events = (int64_t)req.args.events_apply.n_events;
            srv.ev_tx0 = req.args.events_apply.events[0].tx_hash[0];
        } else if (req.cmd == PROTO_CMD_REORG_ROLLBACK) {
            srv.rb_to = req.args.reorg_rollback.to_block;
            srv.rb_hash0 = req.args.reorg_rollback.block_hash[0];
        }
    }
    char *out = NULL;
    size_t out_len = 0;
    if (i == 0) { /* checkpoint.get before the first apply: {} */
        rep.ok = true;
        out = encode_reply(&rep, &out_len);
    } else if (i == 1) { /* events.apply */
        rep.ok = true;
        rep.result.applied.events_applied = 1;
        rep.result.applied.checkpoint.number = 120;
        memset(rep.result.applied.checkpoint.hash, 0x64, 32);
        out = encode_reply(&rep, &out_len);
    } else if (i == 2) { /* reorg.rollback refused: another hash for that block */
        rep.ok = false;
        rep.error_code = ERR_STATE;
        rep.error_message = "rollback to block 119: stored hash differs";
        out = encode_reply(&rep, &out_len);
    } else if (i == 3) { /* checkpoint.get after the apply */
        rep.ok = true;
        rep.result.checkpoint.has_checkpoint = true;
        rep.result.checkpoint.checkpoint.number = 120;
        memset(rep.result.checkpoint.checkpoint.hash, 0x64, 32);
        out = encode_reply(&rep, &out_len);
    } else { /* not a reply at all */
        out = strdup("not json");
        out_len = 8;
    }
    if (srv.decode_ok[i])
        proto_request_release(&req);
    if (out == NULL || bus_reply_send(reply, out, out_len) != ERR_OK) {
        free(out);
        bus_reply_drop(reply);
    }
    if (srv.requests == N_REQ)
        event_base_loopexit(srv.base, NULL);
}

static void *serve(void *arg)
{
    (void)arg;
    event_base_dispatch(srv.base);
    return NULL;
}

static void test_commands_over_bus(void **state)
{
    (void)state;
    srv.base = event_base_new();
    assert_non_null(srv.base);
    assert_int_equal(bus_new(srv.base, BUS_REP, &srv.rep), ERR_OK);
    assert_int_equal(bus_bind(srv.rep, URL), ERR_OK);
    assert_int_equal(bus_serve(srv.rep, on_request, NULL), ERR_OK);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, serve, NULL), 0);

    struct jobsink *j = NULL;
    struct sink s;
    assert_int_equal(jobsink_new(URL, 5000, &j, &s), ERR_OK);
    assert_string_equal(s.ops->errmsg(s.ctx), "");

    struct proto_checkpoint cp;
    memset(&cp, 0xff, sizeof(cp));
    assert_int_equal(s.ops->checkpoint(s.ctx, &cp), ERR_OK);
    assert_false(cp.has_checkpoint);

    /* One JobClaimed in block 101 of 100..120. */
    struct proto_block_ref blocks[2] = {{.number = 101}, {.number = 120}};
    memset(blocks[0].hash, 0x69, 32);
    memset(blocks[1].hash, 0x64, 32);
    struct proto_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.block_number = 101;
    memset(ev.block_hash, 0x69, 32);
    ev.block_at = 1764461100;
    memset(ev.tx_hash, 0x27, 32);
    ev.log_index = 3;
    ev.name = PROTO_EV_JOB_CLAIMED;
    memset(ev.fields.chain_job_id, 0x94, 32);
    ev.fields.has_client = true;
    memset(ev.fields.client, 0x70, 20);
    ev.fields.has_worker = true;
    memset(ev.fields.worker, 0x3c, 20);
    ev.fields.has_claim_expires_at = true;
    ev.fields.claim_expires_at = 1764464700;
    struct proto_events_apply b = {.from_block = 100,
                                   .to_block = 120,
                                   .blocks = blocks,
                                   .n_blocks = 2,
                                   .events = &ev,
                                   .n_events = 1,
                                   .checkpoint = blocks[1]};
    struct proto_applied ap;
    assert_int_equal(s.ops->apply(s.ctx, &b, &ap), ERR_OK);
    assert_int_equal(ap.events_applied, 1);
    assert_int_equal(ap.checkpoint.number, 120);
    assert_int_equal(ap.checkpoint.hash[31], 0x64);

    struct proto_reorg_rollback rb = {.to_block = 119};
    memset(rb.block_hash, 0xab, 32);
    struct proto_rollback rout;
    memset(&rout, 0x5a, sizeof(rout));
    assert_int_equal(s.ops->rollback(s.ctx, &rb, &rout), ERR_STATE);
    assert_string_equal(s.ops->errmsg(s.ctx), "rollback to block 119: stored hash differs");
    assert_int_equal(rout.events_removed, 0x5a5a5a5a5a5a5a5aLL); /* untouched */

    assert_int_equal(s.ops->checkpoint(s.ctx, &cp), ERR_OK);
    assert_true(cp.has_checkpoint);
    assert_int_equal(cp.checkpoint.number, 120);
    assert_string_equal(s.ops->errmsg(s.ctx), "");

    assert_int_equal(s.ops->checkpoint(s.ctx, &cp), ERR_PROTO); /* "not json" */
    assert_string_not_equal(s.ops->errmsg(s.ctx), "");

    pthread_join(th, NULL);
    assert_int_equal(srv.requests, N_REQ);
    for (int i = 0; i < N_REQ; i++)
        assert_true(srv.decode_ok[i]);
    assert_int_equal(srv.cmd[0], PROTO_CMD_CHECKPOINT_GET);
    assert_int_equal(srv.cmd[1], PROTO_CMD_EVENTS_APPLY);
    assert_int_equal(srv.cmd[2], PROTO_CMD_REORG_ROLLBACK);
    assert_int_equal(srv.from_block, 100);
    assert_int_equal(srv.to_block, 120);
    assert_int_equal(srv.n_events, 1);
    assert_int_equal(srv.ev_tx0, 0x27);
    assert_int_equal(srv.rb_to, 119);
    assert_int_equal(srv.rb_hash0, 0xab);
    jobsink_free(j);
    bus_free(srv.rep);
    event_base_free(srv.base);
}

static void test_no_job_store(void **state)
{
    (void)state;
    struct jobsink *j = NULL;
    struct sink s;
    assert_int_equal(jobsink_new("inproc://indexer-jobsink-nobody", 100, &j, &s), ERR_OK);
    struct proto_checkpoint cp;
    assert_int_equal(s.ops->checkpoint(s.ctx, &cp), ERR_TIMEDOUT);
    assert_string_equal(s.ops->errmsg(s.ctx), err_str(ERR_TIMEDOUT));
    jobsink_free(j);
    jobsink_free(NULL);
    assert_int_equal(jobsink_new(URL, 0, &j, &s), ERR_INVAL);
    assert_int_equal(jobsink_new(NULL, 100, &j, &s), ERR_INVAL);
    assert_int_equal(jobsink_new("nonsense", 100, &j, &s), ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commands_over_bus),
        cmocka_unit_test(test_no_job_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
