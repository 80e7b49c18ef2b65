/*
 * feedpub -- encode proto feed messages and publish them (see feed.h), and
 * publish the feed's heartbeat (proto/feed.h, struct proto_feed_heartbeat)
 * every PROTO_FEED_HEARTBEAT_MS from a timer on the caller's event base:
 * epoch random per feedpub_new(), seq counting from 1. Heartbeats are not
 * counted in feedpub_published() nor in the per-topic metric.
 * SPDX-License-Identifier: MIT
 */
#include "feedpub.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "buf.h"
#include "bus.h"
#include "log.h"
#include "metrics.h"
#include "proto/feed.h"

/* One series per topic, made at start-up so /metrics lists all four at 0. */
enum { T_OPEN_IA, T_OPEN_GRAFICA, T_PROGRESS, T_CLOSED, T__COUNT };
static const char *const topics[T__COUNT] = {PROTO_TOPIC_OPEN_IA, PROTO_TOPIC_OPEN_GRAFICA,
                                             PROTO_TOPIC_PROGRESS, PROTO_TOPIC_CLOSED};

struct feedpub {
    struct bus *pub;
    struct metrics_series *sent[T__COUNT];
    uint64_t n_published;
    struct event *heartbeat;
    int64_t epoch, seq;
};

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    struct feedpub *f = arg;
    struct proto_feed_heartbeat h = {.epoch = f->epoch,
                                     .seq = ++f->seq,
                                     .interval_ms = PROTO_FEED_HEARTBEAT_MS,
                                     .at = (int64_t)time(NULL)};
    struct buf frame;
    size_t len;
    char *data;
    (void)fd;
    (void)what;
    buf_init(&frame, BUS_MAX_MSG);
    if (proto_feed_heartbeat_encode(&h, &frame, NULL) != ERR_OK) {
        buf_release(&frame);
        return;
    }
    data = buf_detach(&frame, &len);
    if (data && bus_publish(f->pub, PROTO_TOPIC_HEARTBEAT, data, len) != ERR_OK) {
        free(data);
        LOG_WARN("feed.heartbeat_failed", "seq=%lld", (long long)h.seq);
    }
}

/* A random epoch in 1..2^53-1 (PROTOCOL.md, feed:heartbeat). */
static int64_t new_epoch(void)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    r &= ((uint64_t)1 << 53) - 1;
    return r ? (int64_t)r : 1;
}

enum err feedpub_new(struct event_base *base, const char *addr, struct metrics *m,
                     struct feedpub **out)
{
    static const char *const labels[] = {"topic"};
    struct metrics_family *fam = NULL;
    struct feedpub *f;
    enum err e;
    int i;

    *out = NULL;
    f = calloc(1, sizeof *f);
    if (!f)
        return ERR_NOMEM;
    e = metrics_family_new(m, METRICS_COUNTER, "loom_jobstore_feed_messages_total",
                           "Job feed messages published, by topic.", labels, 1, NULL, 0, &fam);
    for (i = 0; e == ERR_OK && i < T__COUNT; i++)
        e = metrics_series(fam, &topics[i], &f->sent[i]);
    if (e == ERR_OK)
        e = bus_new(base, BUS_PUB, &f->pub);
    if (e == ERR_OK)
        e = bus_bind(f->pub, addr);
    if (e == ERR_OK) {
        struct timeval tv = {PROTO_FEED_HEARTBEAT_MS / 1000, PROTO_FEED_HEARTBEAT_MS % 1000 * 1000};
        f->epoch = new_epoch();
        f->heartbeat = event_new(base, -1, EV_PERSIST, on_heartbeat, f);
        if (f->heartbeat == NULL || event_add(f->heartbeat, &tv) == -1)
            e = ERR_NOMEM;
    }
    if (e != ERR_OK) {
        feedpub_free(f);
        return e;
    }
    *out = f;
    return ERR_OK;
}

enum err feedpub_publish(struct feedpub *f, const struct proto_feed *msg)
{
    const char *topic = proto_feed_topic(msg);
    struct buf frame;
    size_t len;
    char *data;
    enum err e;
    int i;

    if (!topic)
        return ERR_INVAL;
    buf_init(&frame, BUS_MAX_MSG);
    e = proto_feed_encode(msg, &frame, NULL);
    if (e != ERR_OK) {
        buf_release(&frame);
        return e;
    }
    data = buf_detach(&frame, &len);
    if (!data)
        return ERR_NOMEM;
    e = bus_publish(f->pub, topic, data, len);
    if (e != ERR_OK) {
        free(data);
        return e;
    }
    f->n_published++;
    for (i = 0; i < T__COUNT; i++)
        if (strcmp(topics[i], topic) == 0)
            metrics_inc(f->sent[i]);
    return ERR_OK;
}

uint64_t feedpub_published(const struct feedpub *f)
{
    return f->n_published;
}

void feedpub_free(struct feedpub *f)
{
    if (!f)
        return;
    if (f->heartbeat)
        event_free(f->heartbeat);
    bus_free(f->pub);
    free(f);
}
