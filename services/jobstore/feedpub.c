/*
 * feedpub -- encode proto feed messages and publish them (see feed.h).
 * SPDX-License-Identifier: MIT
 */
#include "feedpub.h"

#include <stdlib.h>
#include <string.h>

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
};

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
    bus_free(f->pub);
    free(f);
}
