/*
 * metrics -- registry, Prometheus text rendering, /metrics and /health.
 *
 * The contract is in metrics.h. Families and series are kept in singly
 * linked lists with tail pointers so rendering follows creation order;
 * series lookup is a linear scan, done once per label combination at
 * set-up, never on the update path.
 * Threading: single event-loop thread (metrics.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

struct metrics_series {
    struct metrics_family *family;
    struct metrics_series *next;
    char **values;     /* one per label name */
    double value;      /* counter or gauge; a histogram's _sum */
    uint64_t count;    /* histogram _count */
    uint64_t *buckets; /* histogram: observations per bucket (not cumulative) */
};

struct metrics_family {
    struct metrics *registry;
    struct metrics_family *next;
    enum metrics_type type;
    char *name;
    char *help;
    char **labels;
    size_t n_labels;
    double *bounds;
    size_t n_bounds;
    size_t n_series;
    struct metrics_series *series, *series_tail;
};

struct metrics {
    struct metrics_family *families, *families_tail;
    metrics_collect_fn collect;
    void *collect_arg;
    metrics_health_fn health;
    void *health_arg;
};

struct metrics_http {
    struct evhttp *http;
    uint16_t port;
};

/* ---- registry ---------------------------------------------------------- */

enum err metrics_new(struct metrics **out)
{
    struct metrics *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return ERR_NOMEM;
    *out = m;
    return ERR_OK;
}

static void metrics__free_strv(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void metrics__free_series(struct metrics_series *s)
{
    metrics__free_strv(s->values, s->family->n_labels);
    free(s->buckets);
    free(s);
}

static void metrics__free_family(struct metrics_family *f)
{
    while (f->series) {
        struct metrics_series *s = f->series;
        f->series = s->next;
        metrics__free_series(s);
    }
    free(f->name);
    free(f->help);
    metrics__free_strv(f->labels, f->n_labels);
    free(f->bounds);
    free(f);
}

void metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    while (m->families) {
        struct metrics_family *f = m->families;
        m->families = f->next;
        metrics__free_family(f);
    }
    free(m);
}

/* Prometheus data model: metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label
 * names [a-zA-Z_][a-zA-Z0-9_]* (https://prometheus.io/docs/concepts/data_model/). */
static int metrics__name_ok(const char *s, int colon)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

static enum err metrics__check_labels(enum metrics_type type, const char *const *names, size_t n)
{
    if (n > METRICS_MAX_LABELS || (n > 0 && names == NULL))
        return ERR_INVAL;
    for (size_t i = 0; i < n; i++) {
        if (!metrics__name_ok(names[i], 0) || strncmp(names[i], "__", 2) == 0)
            return ERR_INVAL;
        if (type == METRICS_HISTOGRAM && strcmp(names[i], "le") == 0)
            return ERR_INVAL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return ERR_INVAL;
    }
    return ERR_OK;
}

static enum err metrics__check_bounds(enum metrics_type type, const double *b, size_t n)
{
    if (type != METRICS_HISTOGRAM)
        return n == 0 && b == NULL ? ERR_OK : ERR_INVAL;
    if (n == 0 || n > METRICS_MAX_BUCKETS || b == NULL)
        return ERR_INVAL;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(b[i]) || (i > 0 && !(b[i] > b[i - 1])))
            return ERR_INVAL;
    }
    return ERR_OK;
}

static char **metrics__dup_strv(const char *const *v, size_t n)
{
    char **out;
    if (n == 0)
        return NULL;
    out = calloc(n, sizeof(*out));
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        out[i] = strdup(v[i]);
        if (out[i] == NULL) {
            metrics__free_strv(out, n);
            return NULL;
        }
    }
    return out;
}

enum err metrics_family_new(struct metrics *m, enum metrics_type type, const char *name,
                            const char *help, const char *const *label_names, size_t n_labels,
                            const double *bounds, size_t n_bounds, struct metrics_family **out)
{
    enum err e;
    struct metrics_family *f;

    if ((unsigned)type > METRICS_HISTOGRAM || !metrics__name_ok(name, 1) || help == NULL)
        return ERR_INVAL;
    e = metrics__check_labels(type, label_names, n_labels);
    if (e != ERR_OK)
        return e;
    e = metrics__check_bounds(type, bounds, n_bounds);
    if (e != ERR_OK)
        return e;
    for (f = m->families; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return ERR_EXISTS;
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return ERR_NOMEM;
    f->registry = m;
    f->type = type;
    f->n_labels = n_labels;
    f->n_bounds = n_bounds;
    f->name = strdup(name);
    f->help = strdup(help);
    f->labels = metrics__dup_strv(label_names, n_labels);
    if (n_bounds > 0) {
        f->bounds = malloc(n_bounds * sizeof(*bounds));
        if (f->bounds)
            memcpy(f->bounds, bounds, n_bounds * sizeof(*bounds));
    }
    if (f->name == NULL || f->help == NULL || (n_labels > 0 && f->labels == NULL) ||
        (n_bounds > 0 && f->bounds == NULL)) {
        metrics__free_family(f);
        return ERR_NOMEM;
    }
    if (m->families_tail)
        m->families_tail->next = f;
    else
        m->families = f;
    m->families_tail = f;
    *out = f;
    return ERR_OK;
}

enum err metrics_series(struct metrics_family *f, const char *const *label_values,
                        struct metrics_series **out)
{
    struct metrics_series *s;

    if (f->n_labels > 0 && label_values == NULL)
        return ERR_INVAL;
    for (size_t i = 0; i < f->n_labels; i++)
        if (label_values[i] == NULL || strlen(label_values[i]) > METRICS_MAX_VALUE)
            return ERR_INVAL;
    for (s = f->series; s; s = s->next) {
        size_t i = 0;
        while (i < f->n_labels && strcmp(s->values[i], label_values[i]) == 0)
            i++;
        if (i == f->n_labels) {
            *out = s;
            return ERR_OK;
        }
    }
    if (f->n_series >= METRICS_MAX_SERIES)
        return ERR_TOOBIG;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return ERR_NOMEM;
    s->family = f;
    s->values = metrics__dup_strv(label_values, f->n_labels);
    if (f->type == METRICS_HISTOGRAM)
        s->buckets = calloc(f->n_bounds, sizeof(*s->buckets));
    if ((f->n_labels > 0 && s->values == NULL) ||
        (f->type == METRICS_HISTOGRAM && s->buckets == NULL)) {
        metrics__free_series(s);
        return ERR_NOMEM;
    }
    if (f->series_tail)
        f->series_tail->next = s;
    else
        f->series = s;
    f->series_tail = s;
    f->n_series++;
    *out = s;
    return ERR_OK;
}

static enum err metrics__plain(struct metrics *m, enum metrics_type type, const char *name,
                               const char *help, const double *bounds, size_t n_bounds,
                               struct metrics_series **out)
{
    struct metrics_family *f;
    enum err e = metrics_family_new(m, type, name, help, NULL, 0, bounds, n_bounds, &f);
    if (e != ERR_OK)
        return e;
    e = metrics_series(f, NULL, out);
    if (e != ERR_OK) { /* out of memory: take the family back out, so a retry can work */
        struct metrics_family *prev = NULL;
        for (struct metrics_family *it = m->families; it != f; it = it->next)
            prev = it;
        if (prev)
            prev->next = NULL;
        else
            m->families = NULL;
        m->families_tail = prev;
        metrics__free_family(f);
    }
    return e;
}

enum err metrics_counter_new(struct metrics *m, const char *name, const char *help,
                             struct metrics_series **out)
{
    return metrics__plain(m, METRICS_COUNTER, name, help, NULL, 0, out);
}

enum err metrics_gauge_new(struct metrics *m, const char *name, const char *help,
                           struct metrics_series **out)
{
    return metrics__plain(m, METRICS_GAUGE, name, help, NULL, 0, out);
}

enum err metrics_histogram_new(struct metrics *m, const char *name, const char *help,
                               const double *bounds, size_t n_bounds, struct metrics_series **out)
{
    return metrics__plain(m, METRICS_HISTOGRAM, name, help, bounds, n_bounds, out);
}

/* ---- updates ----------------------------------------------------------- */

void metrics_inc(struct metrics_series *s)
{
    metrics_add(s, 1.0);
}

void metrics_add(struct metrics_series *s, double v)
{
    LOOM_ASSERT(s->family->type != METRICS_HISTOGRAM);
    LOOM_ASSERT(s->family->type == METRICS_GAUGE || v >= 0);
    s->value += v;
}

void metrics_set(struct metrics_series *s, double v)
{
    LOOM_ASSERT(s->family->type == METRICS_GAUGE);
    s->value = v;
}

void metrics_observe(struct metrics_series *s, double v)
{
    const struct metrics_family *f = s->family;
    size_t lo = 0, hi = f->n_bounds;
    LOOM_ASSERT(f->type == METRICS_HISTOGRAM);
    /* First bound >= v; v above every bound (or NaN) lands only in +Inf,
     * which is _count. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->bounds[mid] >= v)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (lo < f->n_bounds)
        s->buckets[lo]++;
    s->count++;
    s->value += v;
}

double metrics_value(const struct metrics_series *s)
{
    return s->value;
}

void metrics_on_collect(struct metrics *m, metrics_collect_fn cb, void *arg)
{
    m->collect = cb;
    m->collect_arg = arg;
}

void metrics_set_health(struct metrics *m, metrics_health_fn cb, void *arg)
{
    m->health = cb;
    m->health_arg = arg;
}

/* ---- rendering --------------------------------------------------------- */

/* Append <v> as Prometheus writes floats (Go's strconv.FormatFloat 'g',
 * shortest round trip), integers without exponent up to 2^53. */
static enum err metrics__num(struct buf *out, double v)
{
    char tmp[32];
    if (isnan(v))
        return buf_append_str(out, "NaN");
    if (isinf(v))
        return buf_append_str(out, v > 0 ? "+Inf" : "-Inf");
    if (v == 0)
        return buf_append_byte(out, '0'); /* -0 as well */
    if (v == floor(v) && fabs(v) <= 9007199254740992.0)
        return buf_appendf(out, "%.0f", v);
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    return buf_append_str(out, tmp);
}

/* Append <s> escaped for HELP text (<quote> 0) or a label value (1). */
static enum err metrics__esc(struct buf *out, const char *s, int quote)
{
    enum err e = ERR_OK;
    for (; *s && e == ERR_OK; s++) {
        if (*s == '\\')
            e = buf_append(out, "\\\\", 2);
        else if (*s == '\n')
            e = buf_append(out, "\\n", 2);
        else if (*s == '"' && quote)
            e = buf_append(out, "\\\"", 2);
        else
            e = buf_append_byte(out, (unsigned char)*s);
    }
    return e;
}

/* Append "name<suffix>{labels[,le="bound"]} " for one line of <s>. */
static enum err metrics__head(struct buf *out, const struct metrics_series *s, const char *suffix,
                              const double *le)
{
    const struct metrics_family *f = s->family;
    enum err e = buf_append_str(out, f->name);
    if (e == ERR_OK)
        e = buf_append_str(out, suffix);
    if (e == ERR_OK && (f->n_labels > 0 || le))
        e = buf_append_byte(out, '{');
    for (size_t i = 0; i < f->n_labels && e == ERR_OK; i++) {
        e = buf_appendf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
        if (e == ERR_OK)
            e = metrics__esc(out, s->values[i], 1);
        if (e == ERR_OK)
            e = buf_append_byte(out, '"');
    }
    if (e == ERR_OK && le) {
        e = buf_append_str(out, f->n_labels ? ",le=\"" : "le=\"");
        if (e == ERR_OK)
            e = metrics__num(out, *le);
        if (e == ERR_OK)
            e = buf_append_byte(out, '"');
    }
    if (e == ERR_OK && (f->n_labels > 0 || le))
        e = buf_append_byte(out, '}');
    if (e == ERR_OK)
        e = buf_append_byte(out, ' ');
    return e;
}

static enum err metrics__line(struct buf *out, const struct metrics_series *s, const char *suffix,
                              const double *le, double v)
{
    enum err e = metrics__head(out, s, suffix, le);
    if (e == ERR_OK)
        e = metrics__num(out, v);
    if (e == ERR_OK)
        e = buf_append_byte(out, '\n');
    return e;
}

static enum err metrics__render_series(struct buf *out, const struct metrics_series *s)
{
    const struct metrics_family *f = s->family;
    enum err e = ERR_OK;
    uint64_t cum = 0;
    const double inf = INFINITY;

    if (f->type != METRICS_HISTOGRAM)
        return metrics__line(out, s, "", NULL, s->value);
    for (size_t i = 0; i < f->n_bounds && e == ERR_OK; i++) {
        cum += s->buckets[i];
        e = metrics__line(out, s, "_bucket", &f->bounds[i], (double)cum);
    }
    if (e == ERR_OK)
        e = metrics__line(out, s, "_bucket", &inf, (double)s->count);
    if (e == ERR_OK)
        e = metrics__line(out, s, "_sum", NULL, s->value);
    if (e == ERR_OK)
        e = metrics__line(out, s, "_count", NULL, (double)s->count);
    return e;
}

enum err metrics_render(struct metrics *m, struct buf *out)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    enum err e = ERR_OK;

    if (m->collect)
        m->collect(m->collect_arg, m);
    for (const struct metrics_family *f = m->families; f && e == ERR_OK; f = f->next) {
        e = buf_appendf(out, "# HELP %s ", f->name);
        if (e == ERR_OK)
            e = metrics__esc(out, f->help, 0);
        if (e == ERR_OK)
            e = buf_appendf(out, "\n# TYPE %s %s\n", f->name, types[f->type]);
        for (const struct metrics_series *s = f->series; s && e == ERR_OK; s = s->next)
            e = metrics__render_series(out, s);
    }
    return e;
}

/* ---- HTTP -------------------------------------------------------------- */

/* Largest /metrics page served: 16 MiB, far above what METRICS_MAX_SERIES
 * series of a few families make. */
#define METRICS__PAGE_MAX ((size_t)16 << 20)

/* Send <body> with <status> and <ctype>; a failure to build the reply
 * becomes a bare 500. */
static void metrics__reply(struct evhttp_request *req, int status, const char *reason,
                           const char *ctype, const char *body, size_t len)
{
    struct evbuffer *eb = evbuffer_new();
    if (eb == NULL || evbuffer_add(eb, body, len) != 0 ||
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype) != 0) {
        evhttp_send_error(req, 500, NULL);
    } else {
        evhttp_send_reply(req, status, reason, eb);
    }
    if (eb)
        evbuffer_free(eb);
}

/* Only GET and HEAD (HEAD: evhttp sends the headers alone). */
static int metrics__method_ok(struct evhttp_request *req)
{
    static const char msg[] = "method not allowed\n";
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD)
        return 1;
    /* evhttp_send_error() drops output headers; Allow is required with 405
     * (RFC 9110 section 15.5.6). */
    if (evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD") != 0)
        evhttp_send_error(req, 500, NULL);
    else
        metrics__reply(req, 405, "Method Not Allowed", "text/plain", msg, sizeof(msg) - 1);
    return 0;
}

static void metrics__on_metrics(struct evhttp_request *req, void *arg)
{
    struct metrics *m = arg;
    struct buf page;

    if (!metrics__method_ok(req))
        return;
    buf_init(&page, METRICS__PAGE_MAX);
    if (metrics_render(m, &page) != ERR_OK)
        evhttp_send_error(req, 500, NULL);
    else
        metrics__reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", buf_cstr(&page),
                       page.len);
    buf_release(&page);
}

/* Append <s> as the body of a JSON string (RFC 8259 section 7). */
static enum err metrics__json_str(struct buf *out, const char *s)
{
    enum err e = ERR_OK;
    for (; *s && e == ERR_OK; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            e = buf_appendf(out, "\\%c", c);
        else if (c < 0x20)
            e = buf_appendf(out, "\\u%04x", c);
        else
            e = buf_append_byte(out, c);
    }
    return e;
}

static void metrics__on_health(struct evhttp_request *req, void *arg)
{
    struct metrics *m = arg;
    struct buf reason, body;
    enum err status = ERR_OK, e;

    if (!metrics__method_ok(req))
        return;
    buf_init(&reason, 4096);
    buf_init(&body, 8192);
    if (m->health)
        status = m->health(m->health_arg, &reason);
    if (status == ERR_OK) {
        e = buf_append_str(&body, "{\"status\":\"ok\"}");
    } else {
        e = buf_append_str(&body, "{\"status\":\"unavailable\",\"reason\":\"");
        if (e == ERR_OK)
            e = metrics__json_str(&body, reason.len ? buf_cstr(&reason) : err_str(status));
        if (e == ERR_OK)
            e = buf_append_str(&body, "\"}");
    }
    if (e != ERR_OK)
        evhttp_send_error(req, 500, NULL);
    else if (status == ERR_OK)
        metrics__reply(req, 200, "OK", "application/json", buf_cstr(&body), body.len);
    else
        metrics__reply(req, 503, "Service Unavailable", "application/json", buf_cstr(&body),
                       body.len);
    buf_release(&body);
    buf_release(&reason);
}

enum err metrics_http_attach(struct evhttp *http, struct metrics *m)
{
    if (evhttp_set_cb(http, "/metrics", metrics__on_metrics, m) != 0)
        return ERR_EXISTS;
    if (evhttp_set_cb(http, "/health", metrics__on_health, m) != 0) {
        evhttp_del_cb(http, "/metrics");
        return ERR_EXISTS;
    }
    return ERR_OK;
}

enum err metrics_http_start(struct event_base *base, const char *host, uint16_t port,
                            struct metrics *m, struct metrics_http **out)
{
    enum err e = ERR_OK;
    struct metrics_http *h = calloc(1, sizeof(*h));
    struct evhttp_bound_socket *sock;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (h == NULL)
        return ERR_NOMEM;
    h->http = evhttp_new(base);
    if (h->http == NULL) {
        e = ERR_NOMEM;
        goto fail;
    }
    e = metrics_http_attach(h->http, m);
    if (e != ERR_OK)
        goto fail;
    errno = 0;
    sock = evhttp_bind_socket_with_handle(h->http, host, port);
    if (sock == NULL) {
        /* evhttp resolves <host> with getaddrinfo and binds: a name it
         * cannot resolve leaves errno 0. */
        e = errno == EADDRINUSE                    ? ERR_EXISTS
            : errno == 0 || errno == EADDRNOTAVAIL ? ERR_INVAL
                                                   : ERR_IO;
        goto fail;
    }
    if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &len) != 0) {
        e = ERR_IO;
        goto fail;
    }
    if (ss.ss_family == AF_INET)
        h->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else
        h->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    *out = h;
    return ERR_OK;
fail:
    metrics_http_free(h);
    return e;
}

uint16_t metrics_http_port(const struct metrics_http *h)
{
    return h->port;
}

void metrics_http_free(struct metrics_http *h)
{
    if (h == NULL)
        return;
    if (h->http)
        evhttp_free(h->http);
    free(h);
}
