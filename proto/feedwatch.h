/*
 * feedwatch -- tells from the feed's heartbeats (proto/feed.h,
 * struct proto_feed_heartbeat) when a subscriber may have missed feed
 * messages and must resynchronise.
 *
 * nanomsg's SUB socket reconnects by itself and says nothing; what was
 * published while it was away is gone. The jobstore publishes a heartbeat
 * every interval_ms with an epoch (random per publisher start) and a seq
 * (+1 each). A resync is due when
 *   - the epoch changes (the publisher restarted: the connection dropped),
 *   - seq is not the previous one + 1 (heartbeats, so perhaps jobs, lost),
 *   - a heartbeat arrives after a silence longer than
 *     FEEDWATCH_SILENCE_INTERVALS intervals (the link was down).
 * The first heartbeat ever is not a resync: it proves the subscription is
 * up (the start-up snapshot waits for it, see daemon.c).
 * Shared by the worker (re-reads open jobs, services/worker/daemon.c) and
 * the gateway (flushes its job cache, services/gateway/jobcache.c).
 * Not here: the timer, the resync itself, logging (the callers).
 * Threading: no locking; one thread (the caller's event thread) owns it.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_PROTO_FEEDWATCH_H
#define LOOM_PROTO_FEEDWATCH_H

#include <stdint.h>

#include "feed.h"

/* Silence, in heartbeat intervals, after which the feed counts as lost:
 * three, so one late heartbeat on a busy host is not a false alarm. */
#define FEEDWATCH_SILENCE_INTERVALS 3

enum feedwatch_verdict {
    FEEDWATCH_OK = 0,  /* the next heartbeat, in time */
    FEEDWATCH_FIRST,   /* the first heartbeat heard: the feed is up */
    FEEDWATCH_RESTART, /* another epoch: resync */
    FEEDWATCH_GAP,     /* seq skipped (or went back): resync */
    FEEDWATCH_RESUMED, /* back after a silence: resync */
};

struct feedwatch {
    int heard;           /* any heartbeat yet */
    int silent;          /* feedwatch_tick() found the feed silent */
    int64_t epoch, seq;  /* of the last heartbeat */
    int64_t interval_ms; /* of the last heartbeat */
    uint64_t last_ns;    /* when it arrived (caller's monotonic clock) */
};

/* Start with nothing heard. */
void feedwatch_init(struct feedwatch *w);

/* Name of a verdict ("ok", "first", "restart", "gap", "resumed"). */
const char *feedwatch_verdict_name(enum feedwatch_verdict v);

/*
 * Heartbeat <h> (borrowed) arrived at <now_ns> (monotonic ns).
 *   missed: may be NULL; receives the heartbeats missed for FEEDWATCH_GAP
 *           (0 when seq went backwards), else 0.
 * Returns the verdict; RESTART, GAP and RESUMED mean: re-read the open jobs.
 */
enum feedwatch_verdict feedwatch_heartbeat(struct feedwatch *w,
                                           const struct proto_feed_heartbeat *h, uint64_t now_ns,
                                           int64_t *missed);

/*
 * Called now and then (the daemon: every second) at <now_ns>. Returns 1 the
 * first time the feed has been silent for more than
 * FEEDWATCH_SILENCE_INTERVALS intervals since the last heartbeat (the
 * caller logs it once), else 0. Before the first heartbeat: always 0.
 */
int feedwatch_tick(struct feedwatch *w, uint64_t now_ns);

/* Whether a resync verdict. */
int feedwatch_needs_resync(enum feedwatch_verdict v);

#endif
