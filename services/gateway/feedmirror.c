/*
 * feedmirror -- SUB "job." -> gateway_broadcast().
 * SPDX-License-Identifier: MIT
 */
#include "feedmirror.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "bus.h"
#include "feed.h"
#include "gateway.h"
#include "jobcache.h"
#include "log.h"
#include "mono.h"

/* A feed message is one record of docs/PROTOCOL.md: far under 1 MiB. */
#define FEED_MSG_MAX (1u << 20)
/* How often the silence check runs: once a second, the heartbeat's own
 * period (PROTO_FEED_HEARTBEAT_MS), so a lost feed stops the cache within
 * about FEEDWATCH_SILENCE_INTERVALS + 1 seconds. */
#define TICK_MS 1000

struct feedmirror {
    struct bus *sub;
    struct gateway *gw;
    struct jobcache *cache; /* the gateway's */
    struct event *tick;
    struct buf data; /* the payload, NUL-terminated for gateway_broadcast */
    uint64_t mirrored, dropped;
};

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct feedmirror *m = arg;
    if (jobcache_tick(m->cache, mono_ms()))
        LOG_WARN("feed.silent", "cause=%s", "no heartbeat: job cache flushed and off");
}

/* A heartbeat: the cache's feedwatch flushes it when messages may be lost. */
static void heartbeat(struct feedmirror *m, const void *data, size_t len)
{
    struct proto_feed_heartbeat h;
    struct json_err je;
    if (proto_feed_heartbeat_decode(data, len, &h, &je) != ERR_OK) {
        LOG_WARN("feed.bad_heartbeat", "bytes=%zu", len);
        return;
    }
    enum feedwatch_verdict v = jobcache_heartbeat(m->cache, &h, mono_ms());
    if (feedwatch_needs_resync(v))
        LOG_INFO("feed.resync", "verdict=%s epoch=%lld seq=%lld", feedwatch_verdict_name(v),
                 (long long)h.epoch, (long long)h.seq);
}

/* Any message about a job drops its cached reply; one we cannot read may be
 * about any job, so it flushes them all. */
static void invalidate(struct feedmirror *m, const void *data, size_t len)
{
    struct proto_feed f;
    struct json_err je;
    if (proto_feed_decode(data, len, &f, &je) != ERR_OK) {
        jobcache_flush(m->cache);
        return;
    }
    int64_t id = f.kind == PROTO_FEED_OPEN       ? f.u.open.job_id
                 : f.kind == PROTO_FEED_PROGRESS ? f.u.progress.job_id
                                                 : f.u.closed.job_id;
    proto_feed_release(&f);
    jobcache_drop(m->cache, id);
}

static void message_cb(void *arg, const char *topic, const void *data, size_t len)
{
    struct feedmirror *m = arg;
    if (strcmp(topic, PROTO_TOPIC_HEARTBEAT) == 0) {
        heartbeat(m, data, len); /* not an SSE event (docs/api.md) */
        return;
    }
    invalidate(m, data, len);
    /* The job store's payload is PROTOCOL.md's whole frame, "topic {json}";
     * an event's data is the message alone (docs/api.md), as `loom watch`
     * reads it, so the topic and its space are cut off. */
    size_t tl = strlen(topic);
    if (len > tl && memcmp(data, topic, tl) == 0 && ((const char *)data)[tl] == ' ') {
        data = (const char *)data + tl + 1;
        len -= tl + 1;
    }
    buf_reset(&m->data);
    if (memchr(data, '\n', len) != NULL || memchr(data, '\r', len) != NULL ||
        memchr(data, '\0', len) != NULL || buf_append(&m->data, data, len) != ERR_OK) {
        m->dropped++;
        LOG_WARN("feed.dropped", "topic=%s bytes=%zu cause=%s", topic, len,
                 "payload with a line break or NUL, or too large");
        return;
    }
    enum err e = gateway_broadcast(m->gw, topic, buf_cstr(&m->data));
    if (e != ERR_OK) {
        m->dropped++;
        LOG_WARN("feed.dropped", "topic=%s cause=%s", topic, err_str(e));
        return;
    }
    m->mirrored++;
}

enum err feedmirror_new(struct event_base *base, const char *addr, struct gateway *gw,
                        struct feedmirror **out)
{
    struct feedmirror *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return ERR_NOMEM;
    m->gw = gw;
    m->cache = gateway_jobcache(gw);
    buf_init(&m->data, FEED_MSG_MAX);
    struct timeval tv = {TICK_MS / 1000, (TICK_MS % 1000) * 1000};
    enum err e = ERR_NOMEM;
    if ((m->tick = event_new(base, -1, EV_PERSIST, tick_cb, m)) == NULL ||
        event_add(m->tick, &tv) == -1) {
        feedmirror_free(m);
        return e;
    }
    e = bus_new(base, BUS_SUB, &m->sub);
    if (e == ERR_OK)
        e = bus_connect(m->sub, addr);
    if (e == ERR_OK)
        e = bus_subscribe(m->sub, "job.");
    if (e == ERR_OK)
        e = bus_subscribe(m->sub, PROTO_TOPIC_HEARTBEAT);
    if (e == ERR_OK)
        e = bus_on_message(m->sub, message_cb, m);
    if (e != ERR_OK) {
        feedmirror_free(m);
        return e;
    }
    *out = m;
    return ERR_OK;
}

void feedmirror_counts(const struct feedmirror *m, uint64_t *mirrored, uint64_t *dropped)
{
    *mirrored = m->mirrored;
    *dropped = m->dropped;
}

void feedmirror_free(struct feedmirror *m)
{
    if (m == NULL)
        return;
    bus_free(m->sub);
    if (m->tick != NULL)
        event_free(m->tick);
    buf_release(&m->data);
    free(m);
}
