/*
 * Unit tests for the feed heartbeat: its frame (proto/feed.h,
 * proto_feed_heartbeat_encode/decode: a known frame, every bound, the
 * wrong topic) and the verdicts on it (proto/feedwatch, used by the worker:
 * first, in order, restart, gap, backwards, resumed after silence, and the
 * silence tick).
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "buf.h"
#include "feed.h"
#include "json.h"
#include "feedwatch.h"

#define MS 1000000ull /* ns */

static const char FRAME[] =
    "feed.heartbeat {\"v\":1,\"epoch\":4503599627370495,\"seq\":17,\"interval_ms\":1000,"
    "\"at\":1764460800}";

static void test_heartbeat_frame(void **state)
{
    (void)state;
    struct proto_feed_heartbeat h = {
        .epoch = 4503599627370495, .seq = 17, .interval_ms = 1000, .at = 1764460800};
    struct proto_feed_heartbeat got;
    struct buf b;
    struct json_err e;
    buf_init(&b, 0);
    json_err_init(&e);
    assert_int_equal(proto_feed_heartbeat_encode(&h, &b, &e), ERR_OK);
    assert_string_equal(buf_cstr(&b), FRAME);
    assert_int_equal(proto_feed_heartbeat_decode(FRAME, sizeof(FRAME) - 1, &got, &e), ERR_OK);
    assert_int_equal(got.epoch, 4503599627370495);
    assert_int_equal(got.seq, 17);
    assert_int_equal(got.interval_ms, 1000);
    assert_int_equal(got.at, 1764460800);

    /* Out of bounds: nothing appended, the member named. */
    size_t before = b.len;
    h.interval_ms = 99;
    assert_int_equal(proto_feed_heartbeat_encode(&h, &b, &e), ERR_RANGE);
    assert_string_equal(e.path, "interval_ms");
    assert_int_equal(b.len, before);
    h.interval_ms = 1000;
    h.seq = 0;
    json_err_init(&e);
    assert_int_equal(proto_feed_heartbeat_encode(&h, &b, &e), ERR_RANGE);
    assert_string_equal(e.path, "seq");
    buf_release(&b);
}

static void test_heartbeat_decode_errors(void **state)
{
    (void)state;
    struct proto_feed_heartbeat got;
    struct json_err e;
    static const struct {
        const char *frame;
        enum err want;
        const char *path; /* NULL: no path */
    } cases[] = {
        {"job.closed {\"v\":1}", ERR_INVAL, NULL},
        {"feed.heartbeat", ERR_INVAL, NULL},
        {"feed.heartbeat {\"v\":2,\"epoch\":1,\"seq\":1,\"interval_ms\":1000,\"at\":1}",
         ERR_VERSION, "v"},
        {"feed.heartbeat {\"v\":1,\"epoch\":0,\"seq\":1,\"interval_ms\":1000,\"at\":1}", ERR_RANGE,
         "epoch"},
        {"feed.heartbeat {\"v\":1,\"epoch\":1,\"seq\":1,\"interval_ms\":60001,\"at\":1}", ERR_RANGE,
         "interval_ms"},
        {"feed.heartbeat {\"v\":1,\"epoch\":1,\"seq\":1,\"interval_ms\":1000}", ERR_INVAL, "at"},
        {"feed.heartbeat {\"v\":1,\"epoch\":1,\"seq\":1,\"interval_ms\":1000,\"at\":1,\"x\":1}",
         ERR_INVAL, "x"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_err_init(&e);
        got.seq = 99;
        enum err rc = proto_feed_heartbeat_decode(cases[i].frame, strlen(cases[i].frame), &got, &e);
        if (rc != cases[i].want)
            fail_msg("case %zu (%s): %s, want %s", i, cases[i].frame, err_str(rc),
                     err_str(cases[i].want));
        if (cases[i].path != NULL)
            assert_string_equal(e.path, cases[i].path);
        assert_int_equal(got.seq, 0); /* cleared on error */
    }
    /* A heartbeat is not a struct proto_feed frame. */
    struct proto_feed m;
    json_err_init(&e);
    assert_int_equal(proto_feed_decode(FRAME, sizeof(FRAME) - 1, &m, &e), ERR_INVAL);
}

static struct proto_feed_heartbeat hb(int64_t epoch, int64_t seq)
{
    struct proto_feed_heartbeat h = {.epoch = epoch, .seq = seq, .interval_ms = 1000, .at = 1};
    return h;
}

static void test_feedwatch_verdicts(void **state)
{
    (void)state;
    struct feedwatch w;
    struct proto_feed_heartbeat h;
    int64_t missed = -1;
    feedwatch_init(&w);
    assert_int_equal(feedwatch_tick(&w, 100000 * MS), 0); /* nothing heard: never silent */
    h = hb(7, 5);
    assert_int_equal(feedwatch_heartbeat(&w, &h, 1000 * MS, &missed), FEEDWATCH_FIRST);
    assert_int_equal(missed, 0);
    assert_false(feedwatch_needs_resync(FEEDWATCH_FIRST));
    h = hb(7, 6);
    assert_int_equal(feedwatch_heartbeat(&w, &h, 2000 * MS, &missed), FEEDWATCH_OK);
    /* Late but within 3 intervals: fine. */
    h = hb(7, 7);
    assert_int_equal(feedwatch_heartbeat(&w, &h, 4900 * MS, NULL), FEEDWATCH_OK);
    /* Two heartbeats lost. */
    h = hb(7, 10);
    assert_int_equal(feedwatch_heartbeat(&w, &h, 5900 * MS, &missed), FEEDWATCH_GAP);
    assert_int_equal(missed, 2);
    assert_true(feedwatch_needs_resync(FEEDWATCH_GAP));
    /* Backwards in the same epoch: a gap of unknown size. */
    h = hb(7, 3);
    assert_int_equal(feedwatch_heartbeat(&w, &h, 6900 * MS, &missed), FEEDWATCH_GAP);
    assert_int_equal(missed, 0);
    /* The publisher restarted: new epoch, whatever its seq. */
    h = hb(8, 4);
    assert_int_equal(feedwatch_heartbeat(&w, &h, 7900 * MS, &missed), FEEDWATCH_RESTART);
    assert_true(feedwatch_needs_resync(FEEDWATCH_RESTART));
    assert_string_equal(feedwatch_verdict_name(FEEDWATCH_RESTART), "restart");
    /* Silence: the tick says so once, past 3 intervals (3000 ms) only. */
    assert_int_equal(feedwatch_tick(&w, 10900 * MS), 0);
    assert_int_equal(feedwatch_tick(&w, 10901 * MS), 1);
    assert_int_equal(feedwatch_tick(&w, 20000 * MS), 0);
    /* Back in order after the silence: resync all the same. */
    h = hb(8, 5);
    assert_int_equal(feedwatch_heartbeat(&w, &h, 21000 * MS, NULL), FEEDWATCH_RESUMED);
    assert_true(feedwatch_needs_resync(FEEDWATCH_RESUMED));
    assert_string_equal(feedwatch_verdict_name(FEEDWATCH_RESUMED), "resumed");
    /* Resumed without a tick having seen the silence. */
    h = hb(8, 6);
    assert_int_equal(feedwatch_heartbeat(&w, &h, 24001 * MS, NULL), FEEDWATCH_RESUMED);
    h = hb(8, 7);
    assert_int_equal(feedwatch_heartbeat(&w, &h, 25000 * MS, NULL), FEEDWATCH_OK);
    assert_false(feedwatch_needs_resync(FEEDWATCH_OK));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heartbeat_frame),
        cmocka_unit_test(test_heartbeat_decode_errors),
        cmocka_unit_test(test_feedwatch_verdicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
