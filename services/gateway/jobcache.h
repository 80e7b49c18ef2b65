/*
 * jobcache -- the gateway's cache of GET /api/jobs/{id} replies: the
 * encoded JSON body of a job, by id, bounded in entries and bytes, least
 * recently used evicted first.
 *
 * It never serves a stale job for long (docs/api.md, "Consistency of GET
 * /api/jobs/{id}"):
 *   - any feed message about a job (job.open.*, job.progress, job.closed)
 *     drops that job's entry: jobcache_drop();
 *   - the feed's heartbeats (proto/feedwatch.h) flush the whole cache when
 *     messages may have been lost (publisher restart, seq gap, silence), and
 *     the cache serves nothing until a heartbeat proves the feed is up;
 *   - a write made through this gateway drops its job's entry as it answers;
 *   - each entry lives at most ttl_ms, which bounds what the feed does not
 *     carry (a file added or a result recorded through another gateway).
 * A read that began before a drop or flush is not stored (jobcache_gen()),
 * so a reply the job store built before a change never re-enters the cache
 * after the change's invalidation.
 * Not here: the feed subscription and its timer (feedmirror.c), HTTP.
 * Threading: no locking; the gateway's event-loop thread owns it. Times are
 * the caller's monotonic clock in ms, so tests drive it without sleeping.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_GW_JOBCACHE_H
#define LOOM_GW_JOBCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "feedwatch.h"

struct jobcache;

struct jobcache_limits {
    size_t max_entries; /* jobs held at most; 0 disables the cache */
    size_t max_bytes;   /* sum of the bodies held at most; 0 disables */
    int64_t ttl_ms;     /* an entry's lifetime, ms; 0 disables */
};

struct jobcache_stats {
    uint64_t hits, misses;
    uint64_t stores;    /* bodies stored */
    uint64_t refused;   /* bodies not stored: feed not live, a drop since the
                           read began, larger than max_bytes, no memory */
    uint64_t drops;     /* entries dropped by jobcache_drop() */
    uint64_t flushes;   /* jobcache_flush() calls, heartbeat-driven included */
    uint64_t evictions; /* entries pushed out by the limits */
    uint64_t expired;   /* entries found past their TTL */
    size_t entries, bytes;
};

/*
 * Create a cache with <lim> (copied). It starts not live: it serves and
 * stores nothing before the first heartbeat. *out belongs to the caller
 * (jobcache_free). Returns ERR_OK, ERR_INVAL (ttl_ms < 0), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err jobcache_new(const struct jobcache_limits *lim, struct jobcache **out);

/* Free every entry and the cache. Accepts NULL. */
void jobcache_free(struct jobcache *c);

/* Whether the cache is enabled (all three limits non-zero). */
int jobcache_is_enabled(const struct jobcache *c);

/* Whether it serves now: enabled, a heartbeat heard, and the feed not
 * found silent since. */
int jobcache_is_live(const struct jobcache *c);

/*
 * Look up job <id> at <now_ms>. On a hit returns 1 and points *body and *len at
 * the stored reply (borrowed: valid until the next call on <c>), and makes
 * it the most recently used. Returns 0 on a miss (none, expired -- then
 * freed --, or the cache is not live).
 */
int jobcache_get(struct jobcache *c, int64_t id, int64_t now_ms, const char **body, size_t *len);

/* The invalidation generation: take it before reading a job from the job
 * store and pass it to jobcache_put(). */
uint64_t jobcache_gen(const struct jobcache *c);

/*
 * Store <len> bytes at <body> (copied) as job <id>'s reply, read under
 * generation <gen>, expiring at now_ms + ttl_ms; evicts the least recently
 * used entries to stay within the limits. Stores nothing (counted as
 * refused) when the cache is not live, when a drop or flush happened since
 * <gen>, when len exceeds max_bytes, or without memory: a cache that cannot
 * store is not an error for the request.
 */
void jobcache_put(struct jobcache *c, int64_t id, const char *body, size_t len, uint64_t gen,
                  int64_t now_ms);

/* Drop job <id>'s entry, if any, and fail reads in flight (gen + 1). */
void jobcache_drop(struct jobcache *c, int64_t id);

/* Drop every entry and fail reads in flight (gen + 1). */
void jobcache_flush(struct jobcache *c);

/*
 * Heartbeat <h> (borrowed) arrived at <now_ms>. Flushes on the verdicts
 * that may hide lost messages (feedwatch_needs_resync) and makes the cache
 * live. Returns the verdict, for the caller's log.
 */
enum feedwatch_verdict jobcache_heartbeat(struct jobcache *c, const struct proto_feed_heartbeat *h,
                                          int64_t now_ms);

/*
 * Call about once a second. If the feed has been silent past
 * FEEDWATCH_SILENCE_INTERVALS heartbeat intervals, flushes, stops serving
 * until the next heartbeat and returns 1 (once per silence, for the
 * caller's log); else 0.
 */
int jobcache_tick(struct jobcache *c, int64_t now_ms);

/* Counters and sizes. */
void jobcache_stats(const struct jobcache *c, struct jobcache_stats *out);

#endif
