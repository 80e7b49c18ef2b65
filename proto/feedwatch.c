/*
 * feedwatch -- heartbeat bookkeeping (see feedwatch.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "feedwatch.h"

#include <string.h>

void feedwatch_init(struct feedwatch *w)
{
    memset(w, 0, sizeof(*w));
}

const char *feedwatch_verdict_name(enum feedwatch_verdict v)
{
    switch (v) {
    case FEEDWATCH_OK:
        return "ok";
    case FEEDWATCH_FIRST:
        return "first";
    case FEEDWATCH_RESTART:
        return "restart";
    case FEEDWATCH_GAP:
        return "gap";
    case FEEDWATCH_RESUMED:
        return "resumed";
    }
    return "?";
}

int feedwatch_needs_resync(enum feedwatch_verdict v)
{
    return v == FEEDWATCH_RESTART || v == FEEDWATCH_GAP || v == FEEDWATCH_RESUMED;
}

/* The silence limit of the last heartbeat's interval, in ns. */
static uint64_t silence_ns(const struct feedwatch *w)
{
    return (uint64_t)w->interval_ms * FEEDWATCH_SILENCE_INTERVALS * 1000000u;
}

enum feedwatch_verdict feedwatch_heartbeat(struct feedwatch *w,
                                           const struct proto_feed_heartbeat *h, uint64_t now_ns,
                                           int64_t *missed)
{
    enum feedwatch_verdict v;
    if (missed)
        *missed = 0;
    if (!w->heard)
        v = FEEDWATCH_FIRST;
    else if (h->epoch != w->epoch)
        v = FEEDWATCH_RESTART;
    else if (h->seq != w->seq + 1) {
        v = FEEDWATCH_GAP;
        if (missed && h->seq > w->seq)
            *missed = h->seq - w->seq - 1;
    } else if (w->silent || now_ns - w->last_ns > silence_ns(w))
        v = FEEDWATCH_RESUMED;
    else
        v = FEEDWATCH_OK;
    w->heard = 1;
    w->silent = 0;
    w->epoch = h->epoch;
    w->seq = h->seq;
    w->interval_ms = h->interval_ms;
    w->last_ns = now_ns;
    return v;
}

int feedwatch_tick(struct feedwatch *w, uint64_t now_ns)
{
    if (!w->heard || w->silent || now_ns - w->last_ns <= silence_ns(w))
        return 0;
    w->silent = 1;
    return 1;
}
