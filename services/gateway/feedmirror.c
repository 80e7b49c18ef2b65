/*
 * feedmirror -- SUB "job." -> gateway_broadcast().
 * SPDX-License-Identifier: MIT
 */
#include "feedmirror.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "bus.h"
#include "gateway.h"
#include "log.h"

/* A feed message is one record of docs/PROTOCOL.md: far under 1 MiB. */
#define FEED_MSG_MAX (1u << 20)

struct feedmirror {
    struct bus *sub;
    struct gateway *gw;
    struct buf data; /* the payload, NUL-terminated for gateway_broadcast */
    uint64_t mirrored, dropped;
};

static void message_cb(void *arg, const char *topic, const void *data, size_t len)
{
    struct feedmirror *m = arg;
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
    buf_init(&m->data, FEED_MSG_MAX);
    enum err e = bus_new(base, BUS_SUB, &m->sub);
    if (e == ERR_OK)
        e = bus_connect(m->sub, addr);
    if (e == ERR_OK)
        e = bus_subscribe(m->sub, "job.");
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
    buf_release(&m->data);
    free(m);
}
