/*
 * metrics -- counters, gauges and histograms, served as Prometheus text.
 *
 * A service makes one registry, declares its metric families at start-up
 * (name, help, label names, and for a histogram its fixed bucket bounds),
 * takes a series handle for each label combination it uses, and updates
 * the handles on its hot paths (plain arithmetic, no allocation, no
 * failure). metrics_render() writes the Prometheus text exposition format,
 * version 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/):
 * "# HELP", "# TYPE", one line per series, and for histograms cumulative
 * _bucket{le="..."} lines ending in le="+Inf", then _sum and _count.
 * Families come out in the order they were made, series in the order their
 * label values were first used, so the text is deterministic.
 *
 * It also serves GET /metrics and GET /health over HTTP (libevent evhttp):
 * either on its own listener (metrics_http_start) or as two routes on an
 * evhttp the service already runs (metrics_http_attach; the gateway does).
 * /health answers 200 {"status":"ok"} or 503
 * {"status":"unavailable","reason":"..."} from a callback of the service.
 *
 * Not here: pushing to a gateway, summaries (quantiles are computed by
 * Prometheus from the buckets), metric name conventions (callers follow
 * Prometheus's: snake_case, unit suffix such as _seconds, _total on
 * counters), logging.
 * Threading: single-threaded. A registry, its series and its HTTP routes
 * belong to the thread that runs the event loop serving them; updates are
 * plain (non-atomic) stores, so a service with other threads hands them
 * their figures through that thread (or a metrics_collect_fn).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_METRICS_H
#define LOOM_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct event_base;
struct evhttp;
struct metrics;
struct metrics_family;
struct metrics_series;
struct metrics_http;

enum metrics_type {
    METRICS_COUNTER,   /* only goes up: requests, errors, bytes */
    METRICS_GAUGE,     /* goes up and down: in flight, queue depth */
    METRICS_HISTOGRAM, /* observations counted into fixed buckets */
};

/* Most label names per family, bucket bounds per histogram, series per
 * family (a guard against a label fed unbounded values, such as ids), and
 * bytes per label value. */
#define METRICS_MAX_LABELS  8
#define METRICS_MAX_BUCKETS 64
#define METRICS_MAX_SERIES  10000
#define METRICS_MAX_VALUE   256

/*
 * Called by metrics_render() before it writes anything, so the service can
 * set gauges from state it keeps elsewhere (queue lengths, bus_stats()).
 */
typedef void (*metrics_collect_fn)(void *arg, struct metrics *m);

/*
 * Called for each GET /health. Return ERR_OK when the service is healthy;
 * any other value gives 503, with the text appended to <reason> (or, if
 * none, err_str() of the value) as the reason.
 */
typedef enum err (*metrics_health_fn)(void *arg, struct buf *reason);

/* Make an empty registry in *out (the caller's; metrics_free()).
 * Returns ERR_OK or ERR_NOMEM. */
LOOM_MUST_CHECK enum err metrics_new(struct metrics **out);

/* Free <m> with its families and series (every handle becomes invalid).
 * Detach HTTP routes first. Accepts NULL. */
void metrics_free(struct metrics *m);

/*
 * Declare a family in <m>.
 *   name:        borrowed (copied); Prometheus metric name,
 *                [a-zA-Z_:][a-zA-Z0-9_:]*.
 *   help:        borrowed (copied); any text, escaped on output.
 *   label_names: borrowed array of n_labels names, [a-zA-Z_][a-zA-Z0-9_]*,
 *                not starting with "__", distinct, and not "le" for a
 *                histogram. NULL when n_labels is 0.
 *   bounds:      histogram only (NULL and 0 otherwise): the upper bounds of
 *                the buckets, finite and strictly increasing, 1 to
 *                METRICS_MAX_BUCKETS of them, in the unit of the name
 *                (seconds for _seconds); the +Inf bucket is implied.
 *   out:         receives the family, owned by <m>.
 * Returns ERR_OK, ERR_INVAL (bad name, label or bounds, or bounds given to
 * a counter or gauge), ERR_EXISTS (the name is taken), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err metrics_family_new(struct metrics *m, enum metrics_type type,
                                            const char *name, const char *help,
                                            const char *const *label_names, size_t n_labels,
                                            const double *bounds, size_t n_bounds,
                                            struct metrics_family **out);

/*
 * Find or make the series of <f> with <label_values> (borrowed array, one
 * value per label name, in order; any UTF-8 text up to METRICS_MAX_VALUE
 * bytes; NULL for a family without labels). A new series starts at 0.
 *   out: receives the series, owned by <f>'s registry; the same values
 *        always give the same handle.
 * Returns ERR_OK, ERR_INVAL (a value too long or NULL), ERR_TOOBIG
 * (METRICS_MAX_SERIES series already), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err metrics_series(struct metrics_family *f, const char *const *label_values,
                                        struct metrics_series **out);

/* Shortcuts for a family without labels: declare it and return its one
 * series. Arguments and errors as metrics_family_new(). */
LOOM_MUST_CHECK enum err metrics_counter_new(struct metrics *m, const char *name, const char *help,
                                             struct metrics_series **out);
LOOM_MUST_CHECK enum err metrics_gauge_new(struct metrics *m, const char *name, const char *help,
                                           struct metrics_series **out);
LOOM_MUST_CHECK enum err metrics_histogram_new(struct metrics *m, const char *name,
                                               const char *help, const double *bounds,
                                               size_t n_bounds, struct metrics_series **out);

/* Add 1 to a counter or gauge. */
void metrics_inc(struct metrics_series *s);

/* Add <v> to a counter (v >= 0; a negative v is a bug and aborts) or a
 * gauge (any sign). */
void metrics_add(struct metrics_series *s, double v);

/* Set a gauge to <v>. Aborts on a counter or histogram (a bug). */
void metrics_set(struct metrics_series *s, double v);

/* Record observation <v> in a histogram: every bucket whose bound is >= v
 * counts it, _sum grows by v, _count by 1. Aborts on another type. */
void metrics_observe(struct metrics_series *s, double v);

/* Return the value of a counter or gauge, or the _sum of a histogram. */
double metrics_value(const struct metrics_series *s);

/* Have metrics_render() call <cb>(<arg>, m) first. NULL cb removes it. */
void metrics_on_collect(struct metrics *m, metrics_collect_fn cb, void *arg);

/* Use <cb>(<arg>, reason) to answer /health. Without one, /health is
 * always 200. NULL cb removes it. */
void metrics_set_health(struct metrics *m, metrics_health_fn cb, void *arg);

/*
 * Append the Prometheus text of every family in <m> to <out>.
 * Numbers: integers as integers, others in the shortest form that reads
 * back to the same double, NaN and +Inf/-Inf as Prometheus spells them.
 * Returns ERR_OK, ERR_TOOBIG (past out's cap; <out> then holds a prefix),
 * ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err metrics_render(struct metrics *m, struct buf *out);

/*
 * Serve GET /metrics and GET /health of <m> (borrowed; must outlive
 * <http>) as routes on <http>, an evhttp the caller runs. Other methods on
 * those paths get 405.
 * Returns ERR_OK, ERR_EXISTS (a route for one of the paths exists).
 */
LOOM_MUST_CHECK enum err metrics_http_attach(struct evhttp *http, struct metrics *m);

/*
 * Start an HTTP listener on <host>:<port> (host borrowed, e.g.
 * "127.0.0.1" or "0.0.0.0"; port 0 picks a free port, see
 * metrics_http_port()) in <base>, serving only /metrics and /health of
 * <m> (borrowed; must outlive the listener). Does not block.
 *   out: receives the listener, owned by the caller (metrics_http_free()).
 * Returns ERR_OK, ERR_EXISTS (address in use), ERR_INVAL (host not an
 * address), ERR_NOMEM, ERR_IO.
 */
LOOM_MUST_CHECK enum err metrics_http_start(struct event_base *base, const char *host,
                                            uint16_t port, struct metrics *m,
                                            struct metrics_http **out);

/* Return the TCP port <h> listens on. */
uint16_t metrics_http_port(const struct metrics_http *h);

/* Stop and free the listener <h>; open connections are closed. Accepts
 * NULL. */
void metrics_http_free(struct metrics_http *h);

#endif
