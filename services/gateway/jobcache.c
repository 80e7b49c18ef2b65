/*
 * jobcache -- chained hash by job id + a doubly linked LRU list (see
 * jobcache.h).
 * SPDX-License-Identifier: MIT
 */
#include "jobcache.h"

#include <stdlib.h>
#include <string.h>

/* Buckets: the power of two at or above max_entries, at most 2^20 (8 MiB of
 * pointers): chains stay about one long at the limit. */
#define BUCKETS_MAX ((size_t)1 << 20)

struct entry {
    int64_t id;
    int64_t expires_ms;
    struct entry *chain;       /* next in the bucket */
    struct entry *prev, *next; /* LRU list: head.next is the most recent */
    size_t len;
    char body[];
};

struct jobcache {
    struct jobcache_limits lim;
    struct entry **buckets;
    size_t mask;
    struct entry lru; /* sentinel */
    uint64_t gen;
    int live;
    struct feedwatch fw;
    struct jobcache_stats st;
};

static size_t bucket_of(const struct jobcache *c, int64_t id)
{
    /* Fibonacci hashing (Knuth, TAOCP vol. 3, 6.4): ids are sequential,
     * the multiply spreads them over the high bits. */
    return (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15ull) >> 32) & c->mask;
}

int jobcache_is_enabled(const struct jobcache *c)
{
    return c->lim.max_entries > 0 && c->lim.max_bytes > 0 && c->lim.ttl_ms > 0;
}

int jobcache_is_live(const struct jobcache *c)
{
    return jobcache_is_enabled(c) && c->live;
}

enum err jobcache_new(const struct jobcache_limits *lim, struct jobcache **out)
{
    if (lim->ttl_ms < 0)
        return ERR_INVAL;
    struct jobcache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return ERR_NOMEM;
    c->lim = *lim;
    c->lru.prev = c->lru.next = &c->lru;
    feedwatch_init(&c->fw);
    size_t n = 1;
    while (n < lim->max_entries && n < BUCKETS_MAX)
        n <<= 1;
    c->buckets = calloc(n, sizeof(*c->buckets));
    if (c->buckets == NULL) {
        free(c);
        return ERR_NOMEM;
    }
    c->mask = n - 1;
    *out = c;
    return ERR_OK;
}

static struct entry **find(struct jobcache *c, int64_t id)
{
    struct entry **p = &c->buckets[bucket_of(c, id)];
    while (*p != NULL && (*p)->id != id)
        p = &(*p)->chain;
    return p;
}

/* Unlink the entry at *slot (from find) from both lists and free it. */
static void remove_at(struct jobcache *c, struct entry **slot)
{
    struct entry *e = *slot;
    *slot = e->chain;
    e->prev->next = e->next;
    e->next->prev = e->prev;
    c->st.entries--;
    c->st.bytes -= e->len;
    free(e);
}

static void lru_push_front(struct jobcache *c, struct entry *e)
{
    e->prev = &c->lru;
    e->next = c->lru.next;
    c->lru.next->prev = e;
    c->lru.next = e;
}

void jobcache_flush(struct jobcache *c)
{
    while (c->lru.next != &c->lru)
        remove_at(c, find(c, c->lru.next->id));
    c->gen++;
    c->st.flushes++;
}

void jobcache_free(struct jobcache *c)
{
    if (c == NULL)
        return;
    jobcache_flush(c);
    free(c->buckets);
    free(c);
}

int jobcache_get(struct jobcache *c, int64_t id, int64_t now_ms, const char **body, size_t *len)
{
    if (!jobcache_is_live(c)) {
        c->st.misses++;
        return 0;
    }
    struct entry **slot = find(c, id);
    struct entry *e = *slot;
    if (e != NULL && now_ms >= e->expires_ms) {
        remove_at(c, slot);
        c->st.expired++;
        e = NULL;
    }
    if (e == NULL) {
        c->st.misses++;
        return 0;
    }
    e->prev->next = e->next;
    e->next->prev = e->prev;
    lru_push_front(c, e);
    c->st.hits++;
    *body = e->body;
    *len = e->len;
    return 1;
}

uint64_t jobcache_gen(const struct jobcache *c)
{
    return c->gen;
}

void jobcache_put(struct jobcache *c, int64_t id, const char *body, size_t len, uint64_t gen,
                  int64_t now_ms)
{
    if (!jobcache_is_live(c) || gen != c->gen || len > c->lim.max_bytes) {
        c->st.refused++;
        return;
    }
    struct entry **slot = find(c, id);
    if (*slot != NULL)
        remove_at(c, slot); /* a newer read of the same job replaces it */
    while (c->st.entries > 0 &&
           (c->st.entries >= c->lim.max_entries || c->st.bytes + len > c->lim.max_bytes)) {
        remove_at(c, find(c, c->lru.prev->id));
        c->st.evictions++;
    }
    struct entry *e = malloc(sizeof(*e) + len);
    if (e == NULL) {
        c->st.refused++;
        return;
    }
    e->id = id;
    e->expires_ms = now_ms + c->lim.ttl_ms;
    e->len = len;
    memcpy(e->body, body, len);
    slot = &c->buckets[bucket_of(c, id)];
    e->chain = *slot;
    *slot = e;
    lru_push_front(c, e);
    c->st.entries++;
    c->st.bytes += len;
    c->st.stores++;
}

void jobcache_drop(struct jobcache *c, int64_t id)
{
    struct entry **slot = find(c, id);
    if (*slot != NULL) {
        remove_at(c, slot);
        c->st.drops++;
    }
    c->gen++;
}

enum feedwatch_verdict jobcache_heartbeat(struct jobcache *c, const struct proto_feed_heartbeat *h,
                                          int64_t now_ms)
{
    enum feedwatch_verdict v = feedwatch_heartbeat(&c->fw, h, (uint64_t)now_ms * 1000000u, NULL);
    if (feedwatch_needs_resync(v))
        jobcache_flush(c);
    /* Reads begun while not live may predate messages the feed lost. */
    if (!c->live)
        c->gen++;
    c->live = 1;
    return v;
}

int jobcache_tick(struct jobcache *c, int64_t now_ms)
{
    if (!feedwatch_tick(&c->fw, (uint64_t)now_ms * 1000000u))
        return 0;
    jobcache_flush(c);
    c->live = 0;
    return 1;
}

void jobcache_stats(const struct jobcache *c, struct jobcache_stats *out)
{
    *out = c->st;
}
