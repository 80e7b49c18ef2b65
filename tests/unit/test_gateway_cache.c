/*
 * Unit tests for the gateway's GET /api/jobs/{id} cache
 * (services/gateway/jobcache): not live before a heartbeat, a cached read,
 * a drop by a feed message, the generation guard on reads in flight, a
 * flush on a heartbeat gap, a restart and a silence, TTL expiry, the entry
 * and byte limits with LRU order, and the disabled settings. Times are
 * given, never slept.
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "services/gateway/jobcache.h"

static struct proto_feed_heartbeat hb(int64_t epoch, int64_t seq)
{
    struct proto_feed_heartbeat h = {.epoch = epoch, .seq = seq, .interval_ms = 1000, .at = 0};
    return h;
}

static struct jobcache *live_cache(size_t entries, size_t bytes, int64_t ttl_ms)
{
    struct jobcache_limits lim = {entries, bytes, ttl_ms};
    struct jobcache *c = NULL;
    assert_int_equal(jobcache_new(&lim, &c), ERR_OK);
    struct proto_feed_heartbeat h = hb(7, 1);
    assert_int_equal(jobcache_heartbeat(c, &h, 0), FEEDWATCH_FIRST);
    assert_true(jobcache_is_live(c));
    return c;
}

/* Assert job <id> is a hit with body <want> at <now>. */
static void assert_hit(struct jobcache *c, int64_t id, int64_t now, const char *want)
{
    const char *body = NULL;
    size_t len = 0;
    assert_int_equal(jobcache_get(c, id, now, &body, &len), 1);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(body, want, len);
}

static int is_hit(struct jobcache *c, int64_t id, int64_t now)
{
    const char *body;
    size_t len;
    return jobcache_get(c, id, now, &body, &len);
}

static void put(struct jobcache *c, int64_t id, const char *body, int64_t now)
{
    jobcache_put(c, id, body, strlen(body), jobcache_gen(c), now);
}

static void test_not_live_until_heartbeat(void **state)
{
    (void)state;
    struct jobcache_limits lim = {10, 1000, 1000};
    struct jobcache *c = NULL;
    assert_int_equal(jobcache_new(&lim, &c), ERR_OK);
    assert_true(jobcache_is_enabled(c));
    assert_false(jobcache_is_live(c));
    uint64_t gen = jobcache_gen(c);
    put(c, 1, "{\"id\":1}", 0);
    assert_false(is_hit(c, 1, 0));
    struct jobcache_stats st;
    jobcache_stats(c, &st);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.stores, 0);
    assert_int_equal(st.misses, 1);
    /* A read begun before the first heartbeat is not stored after it. */
    struct proto_feed_heartbeat h = hb(7, 1);
    assert_int_equal(jobcache_heartbeat(c, &h, 0), FEEDWATCH_FIRST);
    jobcache_put(c, 1, "{\"id\":1}", 8, gen, 0);
    assert_false(is_hit(c, 1, 0));
    put(c, 1, "{\"id\":1}", 0);
    assert_hit(c, 1, 10, "{\"id\":1}");
    jobcache_free(c);
    lim.ttl_ms = -1;
    assert_int_equal(jobcache_new(&lim, &c), ERR_INVAL);
}

static void test_hit_drop_and_gen(void **state)
{
    (void)state;
    struct jobcache *c = live_cache(10, 1000, 1000);
    assert_false(is_hit(c, 42, 0));
    put(c, 42, "{\"id\":42,\"progress\":10}", 0);
    put(c, 43, "{\"id\":43}", 0);
    assert_hit(c, 42, 5, "{\"id\":42,\"progress\":10}");
    assert_hit(c, 42, 6, "{\"id\":42,\"progress\":10}");
    /* A newer read of the same job replaces the entry. */
    put(c, 42, "{\"id\":42,\"progress\":20}", 7);
    assert_hit(c, 42, 8, "{\"id\":42,\"progress\":20}");
    /* A feed message for 42 drops 42 only. */
    uint64_t gen = jobcache_gen(c);
    jobcache_drop(c, 42);
    assert_false(is_hit(c, 42, 9));
    assert_hit(c, 43, 9, "{\"id\":43}");
    /* A read that began before the drop carries the old job: refused. */
    jobcache_put(c, 42, "{\"id\":42,\"progress\":20}", 24, gen, 10);
    assert_false(is_hit(c, 42, 10));
    struct jobcache_stats st;
    jobcache_stats(c, &st);
    assert_int_equal(st.hits, 4);
    assert_int_equal(st.misses, 3);
    assert_int_equal(st.stores, 3);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.drops, 1);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.bytes, 9);
    /* Dropping a job that is not cached still fails reads in flight. */
    gen = jobcache_gen(c);
    jobcache_drop(c, 99);
    assert_int_equal(jobcache_gen(c), gen + 1);
    jobcache_stats(c, &st);
    assert_int_equal(st.drops, 1);
    jobcache_free(c);
}

static void test_heartbeat_gap_restart_silence(void **state)
{
    (void)state;
    struct jobcache *c = live_cache(10, 1000, 60000);
    struct proto_feed_heartbeat h;
    put(c, 1, "a", 0);
    h = hb(7, 2);
    assert_int_equal(jobcache_heartbeat(c, &h, 1000), FEEDWATCH_OK);
    assert_hit(c, 1, 1000, "a");
    /* seq 3 lost: flush. */
    h = hb(7, 4);
    assert_int_equal(jobcache_heartbeat(c, &h, 3000), FEEDWATCH_GAP);
    assert_false(is_hit(c, 1, 3000));
    struct jobcache_stats st;
    jobcache_stats(c, &st);
    assert_int_equal(st.flushes, 1);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    /* Publisher restart (another epoch): flush. */
    put(c, 1, "b", 3000);
    put(c, 2, "c", 3000);
    h = hb(8, 1);
    assert_int_equal(jobcache_heartbeat(c, &h, 4000), FEEDWATCH_RESTART);
    assert_false(is_hit(c, 1, 4000));
    assert_false(is_hit(c, 2, 4000));
    /* Silence past 3 intervals: flush, and nothing served or stored until
     * the next heartbeat. */
    put(c, 1, "d", 4000);
    assert_int_equal(jobcache_tick(c, 6000), 0);
    assert_hit(c, 1, 6000, "d");
    assert_int_equal(jobcache_tick(c, 7001), 1);
    assert_int_equal(jobcache_tick(c, 8000), 0); /* once per silence */
    assert_false(jobcache_is_live(c));
    assert_false(is_hit(c, 1, 8000));
    put(c, 1, "e", 8000);
    assert_false(is_hit(c, 1, 8000));
    h = hb(8, 2);
    assert_int_equal(jobcache_heartbeat(c, &h, 9000), FEEDWATCH_RESUMED);
    assert_true(jobcache_is_live(c));
    put(c, 1, "f", 9000);
    assert_hit(c, 1, 9000, "f");
    jobcache_stats(c, &st);
    assert_int_equal(st.flushes, 4); /* gap, restart, silence, resumed */
    jobcache_free(c);
}

static void test_ttl(void **state)
{
    (void)state;
    struct jobcache *c = live_cache(10, 1000, 1000);
    put(c, 5, "x", 100);
    assert_hit(c, 5, 1099, "x");
    assert_false(is_hit(c, 5, 1100)); /* expires at put + ttl */
    struct jobcache_stats st;
    jobcache_stats(c, &st);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.entries, 0);
    jobcache_free(c);
}

static void test_limits_lru(void **state)
{
    (void)state;
    /* Three entries, 10 bytes. */
    struct jobcache *c = live_cache(3, 10, 60000);
    put(c, 1, "11", 0);
    put(c, 2, "22", 0);
    put(c, 3, "33", 0);
    assert_hit(c, 1, 1, "11"); /* 1 is now the most recent: 2 is the oldest */
    put(c, 4, "44", 2);        /* the count limit evicts 2 */
    assert_false(is_hit(c, 2, 3));
    assert_hit(c, 1, 3, "11");
    assert_hit(c, 3, 3, "33");
    assert_hit(c, 4, 3, "44");
    struct jobcache_stats st;
    jobcache_stats(c, &st);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.bytes, 6);
    /* 8 bytes: the byte limit (6 - evicted + 8 <= 10) evicts 1 and 3. */
    put(c, 5, "55555555", 4);
    jobcache_stats(c, &st);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.bytes, 10);
    assert_int_equal(st.evictions, 3);
    assert_false(is_hit(c, 1, 5));
    assert_false(is_hit(c, 3, 5));
    assert_hit(c, 4, 5, "44");
    assert_hit(c, 5, 5, "55555555");
    /* Larger than the whole cache: refused, nothing evicted. */
    put(c, 6, "66666666666", 6);
    jobcache_stats(c, &st);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.entries, 2);
    assert_false(is_hit(c, 6, 6));
    jobcache_flush(c);
    jobcache_stats(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    jobcache_free(c);
}

static void test_disabled(void **state)
{
    (void)state;
    static const struct jobcache_limits off[] = {{0, 100, 1000}, {10, 0, 1000}, {10, 100, 0}};
    for (size_t i = 0; i < 3; i++) {
        struct jobcache *c = NULL;
        assert_int_equal(jobcache_new(&off[i], &c), ERR_OK);
        struct proto_feed_heartbeat h = hb(1, 1);
        (void)jobcache_heartbeat(c, &h, 0);
        assert_false(jobcache_is_enabled(c));
        assert_false(jobcache_is_live(c));
        put(c, 1, "a", 0);
        assert_false(is_hit(c, 1, 0));
        jobcache_free(c);
    }
    jobcache_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_live_until_heartbeat),
        cmocka_unit_test(test_hit_drop_and_gen),
        cmocka_unit_test(test_heartbeat_gap_restart_silence),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_limits_lru),
        cmocka_unit_test(test_disabled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
