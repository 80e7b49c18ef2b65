/*
 * intake -- per-connection filter that consumes request bodies into sinks.
 * SPDX-License-Identifier: MIT
 */
#include "intake.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "digest.h"
#include "multipart.h"
#include "store.h"
#include "validate.h"

/* A chunk-size line or trailer line longer than this is an attack, not HTTP. */
#define CHUNK_LINE_MAX 1024

enum conn_state { CS_HEAD, CS_BODY, CS_DISCARD, CS_RAW, CS_DEAD };
enum chunk_state { CH_SIZE, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER };

struct intake_conn {
    struct intake *in;
    struct intake_conn *prev, *next;
    struct bufferevent *bev;        /* the filter; NULL in intake_feed_for_test */
    struct bufferevent *underlying; /* the socket bufferevent under it */
    struct event *kick;
    struct event *wready; /* one-shot EV_WRITE on the socket after EAGAIN */
    struct evbuffer_cb_entry *out_cb;
    enum conn_state state;
    struct buf head;           /* rewritten head, forwarded when the body is done */
    struct intake_body *cur;   /* body being received */
    struct intake_body *ready; /* FIFO of bodies whose head went to evhttp */
    struct intake_body *ready_tail;
    int chunked;
    uint64_t remaining; /* Content-Length bytes or chunk bytes left */
    enum chunk_state ch;
    struct buf line;
};

struct intake {
    struct store *store;
    const struct intake_limits *limits;
    intake_classify_fn classify;
    void *classify_arg;
    struct intake_conn *conns;
    size_t n_conns;
};

/* ---- request heads ---------------------------------------------------- */

void intake_head_release(struct intake_head *h)
{
    free(h->method);
    free(h->target);
    free(h->content_type);
    memset(h, 0, sizeof(*h));
    h->content_length = -1;
}

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static char *dup_range(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s != NULL) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

/* Trim optional whitespace around [*p, *p + *n). */
static void trim_ows(const char **p, size_t *n)
{
    while (*n > 0 && (**p == ' ' || **p == '\t')) {
        (*p)++;
        (*n)--;
    }
    while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
        (*n)--;
}

static int name_is(const char *p, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

enum err intake_parse_head(const char *p, size_t n, struct intake_head *out, struct buf *rewritten)
{
    enum err e = ERR_INVAL;
    memset(out, 0, sizeof(*out));
    out->content_length = -1;
    int has_te = 0;
    if (n < 4 || memcmp(p + n - 4, "\r\n\r\n", 4) != 0 || memchr(p, '\0', n) != NULL)
        goto fail;
    const char *end = p + n - 2; /* the final empty line */
    const char *eol = memchr(p, '\r', (size_t)(end - p));
    if (eol == NULL || eol[1] != '\n')
        goto fail;
    /* Request line: method SP target SP HTTP/1.x (RFC 9112 section 3). */
    const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
    if (sp1 == NULL || sp1 == p)
        goto fail;
    for (const char *q = p; q < sp1; q++)
        if (!is_tchar((unsigned char)*q))
            goto fail;
    const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
    if (sp2 == NULL || sp2 == sp1 + 1)
        goto fail;
    for (const char *q = sp1 + 1; q < sp2; q++)
        if ((unsigned char)*q <= 0x20 || (unsigned char)*q == 0x7f)
            goto fail;
    if ((size_t)(eol - sp2 - 1) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
        (sp2[8] != '0' && sp2[8] != '1'))
        goto fail;
    e = ERR_NOMEM;
    if ((out->method = dup_range(p, (size_t)(sp1 - p))) == NULL ||
        (out->target = dup_range(sp1 + 1, (size_t)(sp2 - sp1 - 1))) == NULL)
        goto fail;
    if (rewritten != NULL && buf_append(rewritten, p, (size_t)(eol - p) + 2) != ERR_OK)
        goto fail;
    e = ERR_INVAL;
    const char *line = eol + 2;
    while (line < end) {
        const char *le = memchr(line, '\r', (size_t)(end - line) + 1);
        if (le == NULL || le[1] != '\n')
            goto fail;
        if (*line == ' ' || *line == '\t') /* obs-fold: RFC 9112 section 5.2 */
            goto fail;
        const char *colon = memchr(line, ':', (size_t)(le - line));
        if (colon == NULL || colon == line)
            goto fail;
        for (const char *q = line; q < colon; q++)
            if (!is_tchar((unsigned char)*q))
                goto fail;
        size_t name_len = (size_t)(colon - line);
        const char *v = colon + 1;
        size_t vn = (size_t)(le - v);
        for (size_t i = 0; i < vn; i++)
            if ((unsigned char)v[i] < 0x20 && v[i] != '\t')
                goto fail;
        trim_ows(&v, &vn);
        int keep = 1;
        if (name_is(line, name_len, "Content-Length")) {
            keep = 0;
            if (vn == 0 || vn > 18)
                goto fail;
            int64_t cl = 0;
            for (size_t i = 0; i < vn; i++) {
                if (v[i] < '0' || v[i] > '9')
                    goto fail;
                cl = cl * 10 + (v[i] - '0');
            }
            if (out->content_length != -1 && out->content_length != cl)
                goto fail;
            out->content_length = cl;
        } else if (name_is(line, name_len, "Transfer-Encoding")) {
            keep = 0;
            if (has_te || !name_is(v, vn, "chunked"))
                goto fail;
            has_te = 1;
            out->chunked = 1;
        } else if (name_is(line, name_len, "Expect")) {
            keep = 0;
            if (!name_is(v, vn, "100-continue"))
                goto fail;
            out->expect_continue = 1;
        } else if (name_is(line, name_len, "Content-Type")) {
            if (out->content_type != NULL)
                goto fail;
            if ((out->content_type = dup_range(v, vn)) == NULL) {
                e = ERR_NOMEM;
                goto fail;
            }
        }
        if (keep && rewritten != NULL &&
            buf_append(rewritten, line, (size_t)(le - line) + 2) != ERR_OK) {
            e = ERR_NOMEM;
            goto fail;
        }
        line = le + 2;
    }
    if (out->chunked && out->content_length != -1)
        goto fail; /* RFC 9112 section 6.3: a smuggling vector; refuse it */
    if (rewritten != NULL && buf_append_str(rewritten, "Content-Length: 0\r\n\r\n") != ERR_OK) {
        e = ERR_NOMEM;
        goto fail;
    }
    return ERR_OK;
fail:
    intake_head_release(out);
    return e;
}

/* ---- bodies and sinks ------------------------------------------------- */

void intake_body_free(struct intake_body *b)
{
    if (b == NULL)
        return;
    buf_release(&b->msg);
    buf_release(&b->data);
    for (size_t i = 0; i < b->n_fields; i++) {
        free(b->fields[i].name);
        buf_release(&b->fields[i].value);
    }
    free(b->fields);
    for (size_t i = 0; i < b->n_files; i++) {
        free(b->files[i].field);
        free(b->files[i].filename);
        store_writer_free(b->files[i].writer);
    }
    free(b->files);
    multipart_free(b->mp);
    digest_sha256_free(b->hash);
    free(b);
}

/* Record the first error of a body; later bytes are discarded. */
static void body_fail(struct intake_body *b, enum err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void body_fail(struct intake_body *b, enum err e, const char *fmt, ...)
{
    if (b->err != ERR_OK)
        return;
    b->err = e;
    buf_reset(&b->msg);
    va_list ap;
    va_start(ap, fmt);
    if (buf_vappendf(&b->msg, fmt, ap) != ERR_OK)
        buf_reset(&b->msg);
    va_end(ap);
}

static enum err add_file(struct intake_body *b, const char *field, const char *filename)
{
    struct intake_file *f = realloc(b->files, (b->n_files + 1) * sizeof(*f));
    if (f == NULL)
        return ERR_NOMEM;
    b->files = f;
    f = &b->files[b->n_files];
    memset(f, 0, sizeof(*f));
    b->n_files++;
    if ((field && (f->field = strdup(field)) == NULL) ||
        (filename && (f->filename = strdup(filename)) == NULL))
        return ERR_NOMEM;
    return store_writer_new(b->store, b->limits->max_upload_bytes, &f->writer);
}

static enum err form_begin_cb(void *arg, const struct multipart_part *part)
{
    struct intake_body *b = arg;
    if (part->filename != NULL) {
        if (validate_filename(part->filename) != ERR_OK) {
            body_fail(b, ERR_INVAL, "invalid file name in part \"%s\"", part->name);
            return ERR_INVAL;
        }
        for (size_t i = 0; i < b->n_files; i++)
            if (strcmp(b->files[i].filename, part->filename) == 0) {
                body_fail(b, ERR_INVAL, "duplicate file name \"%s\"", part->filename);
                return ERR_INVAL;
            }
        b->in_file = 1;
        enum err e = add_file(b, part->name, part->filename);
        if (e != ERR_OK)
            body_fail(b, e, "cannot store file \"%s\"", part->filename);
        return e;
    }
    b->in_file = 0;
    struct intake_field *f = realloc(b->fields, (b->n_fields + 1) * sizeof(*f));
    if (f == NULL)
        return ERR_NOMEM;
    b->fields = f;
    f = &b->fields[b->n_fields];
    buf_init(&f->value, b->limits->max_field_bytes);
    if ((f->name = strdup(part->name)) == NULL)
        return ERR_NOMEM;
    b->n_fields++;
    b->cur_field = &f->value;
    return ERR_OK;
}

static enum err form_data_cb(void *arg, const void *p, size_t n)
{
    struct intake_body *b = arg;
    enum err e;
    if (b->in_file) {
        struct intake_file *f = &b->files[b->n_files - 1];
        if ((e = store_writer_write(f->writer, p, n)) != ERR_OK)
            body_fail(b, e, e == ERR_TOOBIG ? "file \"%s\" too large" : "cannot store file \"%s\"",
                      f->filename);
        return e;
    }
    if ((e = buf_append(b->cur_field, p, n)) != ERR_OK)
        body_fail(b, e, "form field \"%s\" too large", b->fields[b->n_fields - 1].name);
    return e;
}

static enum err form_end_cb(void *arg)
{
    struct intake_body *b = arg;
    if (!b->in_file)
        return ERR_OK;
    struct intake_file *f = &b->files[b->n_files - 1];
    enum err e = store_writer_finish(f->writer);
    if (e != ERR_OK)
        body_fail(b, e, "cannot store file \"%s\"", f->filename);
    b->in_file = 0;
    return e;
}

static enum err body_new(struct intake *in, const struct intake_head *h, enum intake_sink sink,
                         struct intake_body **out)
{
    struct intake_body *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return ERR_NOMEM;
    b->sink = sink;
    b->store = in->store;
    b->limits = in->limits;
    buf_init(&b->msg, 512);
    buf_init(&b->data, in->limits->max_buffer_bytes);
    enum err e = digest_sha256_new(&b->hash);
    if (e != ERR_OK)
        goto fail;
    if (sink == INTAKE_SINK_FORM) {
        struct buf boundary;
        buf_init(&boundary, MULTIPART_BOUNDARY_MAX + 1);
        if (h->content_type == NULL || multipart_boundary(h->content_type, &boundary) != ERR_OK) {
            body_fail(b, ERR_INVAL, "expected Content-Type multipart/form-data with a boundary");
        } else {
            struct multipart_cbs cbs = {form_begin_cb, form_data_cb, form_end_cb, b};
            e = multipart_new(boundary.data, &cbs, in->limits->max_part_header_bytes,
                              in->limits->max_parts, &b->mp);
        }
        buf_release(&boundary);
        if (e != ERR_OK)
            goto fail;
    } else if (sink == INTAKE_SINK_FILE) {
        if ((e = add_file(b, NULL, NULL)) != ERR_OK)
            goto fail;
    }
    *out = b;
    return ERR_OK;
fail:
    intake_body_free(b);
    return e;
}

static uint64_t body_cap(const struct intake *in, const struct intake_body *b)
{
    return b->sink == INTAKE_SINK_BUFFER ? in->limits->max_buffer_bytes
                                         : in->limits->max_upload_bytes;
}

/* Hand decoded body bytes to the sink. */
static void body_feed(struct intake *in, struct intake_body *b, const char *p, size_t n)
{
    if (b->err != ERR_OK || n == 0)
        return;
    if (n > body_cap(in, b) - b->size_bytes) {
        body_fail(b, ERR_TOOBIG, "request body over its limit of %llu bytes",
                  (unsigned long long)body_cap(in, b));
        return;
    }
    b->size_bytes += n;
    digest_sha256_update(b->hash, p, n);
    enum err e = ERR_OK;
    switch (b->sink) {
    case INTAKE_SINK_BUFFER:
        e = buf_append(&b->data, p, n);
        if (e != ERR_OK)
            body_fail(b, e, "request body too large");
        break;
    case INTAKE_SINK_FORM:
        e = multipart_feed(b->mp, p, n);
        if (e != ERR_OK)
            body_fail(b, e, "malformed multipart body: %s", multipart_error(b->mp));
        break;
    case INTAKE_SINK_FILE:
        e = store_writer_write(b->files[0].writer, p, n);
        if (e != ERR_OK)
            body_fail(b, e, "cannot store upload");
        break;
    }
}

/* The body is complete: finish the sink. */
static void body_end(struct intake_body *b)
{
    digest_sha256_final_hex(b->hash, b->sha256);
    if (b->err != ERR_OK)
        return;
    enum err e;
    if (b->sink == INTAKE_SINK_FORM && (e = multipart_finish(b->mp)) != ERR_OK)
        body_fail(b, e, "malformed multipart body: %s", multipart_error(b->mp));
    if (b->sink == INTAKE_SINK_FILE && (e = store_writer_finish(b->files[0].writer)) != ERR_OK)
        body_fail(b, e, "cannot store upload");
}

/* ---- connections ------------------------------------------------------ */

static void conn_push_ready(struct intake_conn *c, struct intake_body *b)
{
    b->next = NULL;
    if (c->ready_tail)
        c->ready_tail->next = b;
    else
        c->ready = b;
    c->ready_tail = b;
}

/* Forward the rewritten head; the handler will find <c->cur> in the FIFO. */
static enum err conn_release_head(struct intake_conn *c, struct evbuffer *dst)
{
    if (evbuffer_add(dst, c->head.data, c->head.len) == -1)
        return ERR_NOMEM;
    buf_reset(&c->head);
    conn_push_ready(c, c->cur);
    c->cur = NULL;
    c->state = CS_HEAD;
    return ERR_OK;
}

static enum err conn_on_head(struct intake_conn *c, struct evbuffer *src, struct evbuffer *dst,
                             size_t head_len)
{
    struct intake *in = c->in;
    const char *p = (const char *)evbuffer_pullup(src, (ev_ssize_t)head_len);
    struct intake_head h;
    buf_reset(&c->head);
    enum err e = intake_parse_head(p, head_len, &h, &c->head);
    if (e == ERR_INVAL) {
        /* Not ours to judge in detail: evhttp answers it (400) and closes. */
        c->state = CS_RAW;
        return ERR_OK;
    }
    if (e != ERR_OK)
        return e;
    evbuffer_drain(src, head_len);
    enum intake_sink sink = in->classify(in->classify_arg, &h);
    e = body_new(in, &h, sink, &c->cur);
    if (e != ERR_OK)
        goto out;
    int has_body = h.chunked || h.content_length > 0;
    if (!has_body) {
        body_end(c->cur);
        e = conn_release_head(c, dst);
        goto out;
    }
    if (h.content_length > 0 && (uint64_t)h.content_length > body_cap(in, c->cur)) {
        /* Answer at once, before the body arrives, and skip the body
         * without keeping it (closing instead would make the kernel reset
         * the connection under a client still sending, losing the reply).
         * The idle timeout bounds how long a client can keep us skipping. */
        body_fail(c->cur, ERR_TOOBIG, "request body of %lld bytes over its limit of %llu bytes",
                  (long long)h.content_length, (unsigned long long)body_cap(in, c->cur));
        body_end(c->cur);
        e = conn_release_head(c, dst);
        c->remaining = (uint64_t)h.content_length;
        c->state = CS_DISCARD;
        goto out;
    }
    if (h.expect_continue && c->bev != NULL) {
        /* We withhold the head from evhttp, so we answer Expect ourselves. */
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        struct bufferevent *u = bufferevent_get_underlying(c->bev);
        if (u != NULL)
            (void)bufferevent_write(u, cont, sizeof(cont) - 1);
    }
    c->chunked = h.chunked;
    c->remaining = h.chunked ? 0 : (uint64_t)h.content_length;
    c->ch = CH_SIZE;
    buf_reset(&c->line);
    c->state = CS_BODY;
out:
    intake_head_release(&h);
    return e;
}

/* Read one CRLF-terminated line into c->line; 1 when complete. */
static int take_line(struct intake_conn *c, struct evbuffer *src, int *too_long)
{
    size_t avail = evbuffer_get_length(src);
    struct evbuffer_ptr pos = evbuffer_search(src, "\n", 1, NULL);
    size_t take = pos.pos >= 0 ? (size_t)pos.pos + 1 : avail;
    if (c->line.len + take > CHUNK_LINE_MAX) {
        *too_long = 1;
        return 0;
    }
    if (buf_reserve(&c->line, take) != ERR_OK) {
        *too_long = 1;
        return 0;
    }
    evbuffer_remove(src, c->line.data + c->line.len, take);
    c->line.len += take;
    c->line.data[c->line.len] = '\0';
    return pos.pos >= 0;
}

/* Consume body bytes; returns 1 when the body is complete, -1 on a framing
 * error, 0 when more input is needed. */
static int conn_body(struct intake_conn *c, struct evbuffer *src)
{
    struct intake_body *b = c->cur;
    while (evbuffer_get_length(src) > 0) {
        if (!c->chunked || c->ch == CH_DATA) {
            size_t avail = evbuffer_get_length(src);
            size_t take = avail < c->remaining ? avail : (size_t)c->remaining;
            /* Walk the evbuffer's chains without copying. */
            struct evbuffer_iovec vec[16];
            size_t done = 0;
            while (done < take) {
                struct evbuffer_ptr ptr;
                evbuffer_ptr_set(src, &ptr, 0, EVBUFFER_PTR_SET);
                int nv = evbuffer_peek(src, (ev_ssize_t)(take - done), &ptr, vec, 16);
                size_t got = 0;
                for (int i = 0; i < nv && i < 16 && got < take - done; i++) {
                    size_t k = vec[i].iov_len;
                    if (k > take - done - got)
                        k = take - done - got;
                    body_feed(c->in, b, vec[i].iov_base, k);
                    got += k;
                }
                evbuffer_drain(src, got);
                done += got;
            }
            c->remaining -= take;
            if (c->remaining > 0)
                return 0;
            if (!c->chunked)
                return 1;
            c->ch = CH_DATA_CR;
            continue;
        }
        int too_long = 0;
        if (c->ch == CH_DATA_CR || c->ch == CH_DATA_LF) {
            char ch;
            evbuffer_remove(src, &ch, 1);
            if (c->ch == CH_DATA_CR && ch == '\r') {
                c->ch = CH_DATA_LF;
            } else if (ch == '\n') {
                c->ch = CH_SIZE;
                buf_reset(&c->line);
            } else {
                return -1;
            }
            continue;
        }
        if (!take_line(c, src, &too_long))
            return too_long ? -1 : 0;
        if (c->ch == CH_SIZE) {
            /* chunk-size [; ext] CRLF (RFC 9112 section 7.1) */
            uint64_t size = 0;
            size_t i = 0, digits = 0;
            for (; i < c->line.len; i++) {
                char ch = c->line.data[i];
                int v = (ch >= '0' && ch <= '9')   ? ch - '0'
                        : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
                        : (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10
                                                   : -1;
                if (v < 0)
                    break;
                if (++digits > 15)
                    return -1;
                size = size * 16 + (uint64_t)v;
            }
            if (digits == 0 || (c->line.data[i] != ';' && c->line.data[i] != '\r' &&
                                c->line.data[i] != ' ' && c->line.data[i] != '\t'))
                return -1;
            buf_reset(&c->line);
            if (size == 0) {
                c->ch = CH_TRAILER;
            } else {
                c->remaining = size;
                c->ch = CH_DATA;
            }
        } else { /* CH_TRAILER: ignore trailer fields until the empty line */
            int empty = strcmp(c->line.data, "\r\n") == 0 || strcmp(c->line.data, "\n") == 0;
            buf_reset(&c->line);
            if (empty)
                return 1;
        }
    }
    return 0;
}

/* The connection's input state machine, on evbuffers so tests can drive it. */
static enum err conn_process(struct intake_conn *c, struct evbuffer *src, struct evbuffer *dst)
{
    enum err e = ERR_OK;
    while (evbuffer_get_length(src) > 0) {
        switch (c->state) {
        case CS_RAW:
            evbuffer_add_buffer(dst, src);
            return ERR_OK;
        case CS_DEAD:
            evbuffer_drain(src, evbuffer_get_length(src));
            return ERR_OK;
        case CS_DISCARD: {
            size_t avail = evbuffer_get_length(src);
            size_t k = avail < c->remaining ? avail : (size_t)c->remaining;
            evbuffer_drain(src, k);
            c->remaining -= k;
            if (c->remaining == 0)
                c->state = CS_HEAD;
            break;
        }
        case CS_HEAD: {
            /* Tolerate empty lines between requests (RFC 9112 section 2.2). */
            unsigned char *first = evbuffer_pullup(src, 1);
            if (first[0] == '\r' || first[0] == '\n') {
                evbuffer_drain(src, 1);
                break;
            }
            struct evbuffer_ptr pos = evbuffer_search(src, "\r\n\r\n", 4, NULL);
            size_t max = c->in->limits->max_head_bytes;
            if (pos.pos < 0) {
                if (evbuffer_get_length(src) > max)
                    c->state = CS_RAW; /* evhttp refuses it: headers too large */
                return ERR_OK;
            }
            if ((size_t)pos.pos + 4 > max) {
                c->state = CS_RAW;
                break;
            }
            if ((e = conn_on_head(c, src, dst, (size_t)pos.pos + 4)) != ERR_OK)
                return e;
            break;
        }
        case CS_BODY: {
            int r = conn_body(c, src);
            if (r == 0)
                return ERR_OK;
            if (r < 0) {
                body_fail(c->cur, ERR_INVAL, "malformed chunked body");
                c->cur->close_connection = 1;
                c->state = CS_DEAD;
            }
            body_end(c->cur);
            int dead = c->state == CS_DEAD;
            if ((e = conn_release_head(c, dst)) != ERR_OK)
                return e;
            if (dead)
                c->state = CS_DEAD;
            break;
        }
        }
    }
    return ERR_OK;
}

static enum bufferevent_filter_result in_filter_cb(struct evbuffer *src, struct evbuffer *dst,
                                                   ev_ssize_t dst_limit,
                                                   enum bufferevent_flush_mode mode, void *arg)
{
    (void)dst_limit;
    (void)mode;
    struct intake_conn *c = arg;
    if (conn_process(c, src, dst) != ERR_OK)
        return BEV_ERROR;
    return BEV_OK;
}

/* Try to empty <b> into socket <fd>: 1 when empty, 0 when the socket is
 * full (EAGAIN), -1 on a hard error (the peer is gone). */
static int write_all(struct evbuffer *b, evutil_socket_t fd)
{
    while (evbuffer_get_length(b) > 0) {
        int k = evbuffer_write(b, fd);
        if (k > 0)
            continue;
        if (k == -1 && errno == EINTR)
            continue;
        if (k == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        return -1;
    }
    return 1;
}

/* Whether evhttp still holds the connection: freeing the filter unlinks it
 * at once (the socket bufferevent loses its callbacks), while the rest of
 * the free is deferred past evhttp's close(2) of the descriptor, whose
 * number accept() may then reuse. Nothing may touch the socket after. */
static int conn_linked(struct intake_conn *c)
{
    bufferevent_event_cb ecb = NULL;
    bufferevent_getcb(c->underlying, NULL, NULL, &ecb, NULL);
    return ecb != NULL;
}

static void wready_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct intake_conn *c = arg;
    if (conn_linked(c))
        (void)bufferevent_flush(c->bev, EV_WRITE, BEV_NORMAL);
}

/*
 * The output side: write the reply straight to the socket instead of
 * queueing it on the socket bufferevent. evhttp treats the filter's output
 * running empty as "reply sent", and on Connection: close (or HTTP/1.0) it
 * then shuts the socket down at once: bytes still queued below the filter
 * were lost (an empty reply). Here the filter's output only empties once
 * the kernel holds every byte. When the socket is full the bytes stay in
 * <src> and a one-shot EV_WRITE event retries; bytes queued on the socket
 * bufferevent itself (the 100 Continue line) go first.
 */
static enum bufferevent_filter_result out_filter_cb(struct evbuffer *src, struct evbuffer *dst,
                                                    ev_ssize_t dst_limit,
                                                    enum bufferevent_flush_mode mode, void *arg)
{
    (void)dst_limit;
    (void)mode;
    struct intake_conn *c = arg;
    evutil_socket_t fd = bufferevent_getfd(c->underlying);
    if (fd == -1 || !conn_linked(c)) {
        evbuffer_drain(src, evbuffer_get_length(src)); /* no socket: nowhere to go */
        return BEV_OK;
    }
    int r = write_all(dst, fd);
    if (r == 1)
        r = write_all(src, fd);
    if (r == -1) {
        /* The peer is gone: drop the reply; the read side sees the error. */
        evbuffer_drain(src, evbuffer_get_length(src));
        return BEV_OK;
    }
    if (r == 1)
        return BEV_OK;
    if (evbuffer_get_length(dst) == 0) { /* else the socket bufferevent retries */
        if (c->wready == NULL && (c->wready = event_new(bufferevent_get_base(c->bev), fd, EV_WRITE,
                                                        wready_cb, c)) == NULL)
            return BEV_ERROR;
        if (!event_pending(c->wready, EV_WRITE, NULL) && event_add(c->wready, NULL) == -1)
            return BEV_ERROR;
    }
    return BEV_NEED_MORE;
}

static void conn_free(struct intake_conn *c)
{
    intake_body_free(c->cur);
    while (c->ready) {
        struct intake_body *b = c->ready;
        c->ready = b->next;
        intake_body_free(b);
    }
    buf_release(&c->head);
    buf_release(&c->line);
    if (c->kick)
        event_free(c->kick);
    if (c->wready)
        event_free(c->wready);
    free(c);
}

static void conn_unlink(struct intake_conn *c)
{
    if (c->in == NULL) /* intake_free ran first: the list is gone */
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->in->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->in->n_conns--;
}

/* bufferevent_filter_new's free_context: the connection is gone. Unfinished
 * bodies go with it, and their temporary files with them. */
static void conn_free_cb(void *arg)
{
    struct intake_conn *c = arg;
    if (c->out_cb && c->bev)
        evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_cb);
    /* The socket bufferevent is freed after the filter is gone (see
     * intake_bevcb); evhttp has closed the descriptor already. */
    if (c->underlying != NULL) {
        /* Drop the descriptor first: evhttp closes it itself. */
        bufferevent_setfd(c->underlying, -1);
        bufferevent_free(c->underlying);
    }
    conn_unlink(c);
    conn_free(c);
}

/* libevent 2.1's filter does not always move output that evhttp queued while
 * the filter's EV_WRITE was off; one zero-delay event after each write gets
 * the loop to flush it. */
static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct intake_conn *c = arg;
    (void)bufferevent_flush(c->bev, EV_WRITE, BEV_FLUSH);
}

static void out_added_cb(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
    (void)b;
    struct intake_conn *c = arg;
    if (info->n_added > 0) {
        event_active(c->kick, 0, 0);
    }
}

static struct intake_conn *conn_new(struct intake *in)
{
    struct intake_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->in = in;
    c->state = CS_HEAD;
    buf_init(&c->head, in->limits->max_head_bytes + 64);
    buf_init(&c->line, CHUNK_LINE_MAX + 1);
    c->next = in->conns;
    if (c->next)
        c->next->prev = c;
    in->conns = c;
    in->n_conns++;
    return c;
}

struct bufferevent *intake_bevcb(struct event_base *base, void *arg)
{
    struct intake *in = arg;
    struct intake_conn *c = conn_new(in);
    if (c == NULL)
        return NULL;
    /*
     * Two libevent 2.1 pitfalls, both seen as empty replies under load:
     * - neither bufferevent closes the socket: evhttp closes it itself when
     *   the filter lacks BEV_OPT_CLOSE_ON_FREE (with it, the descriptor was
     *   closed twice, the second time after accept() had reused it);
     * - both use BEV_OPT_DEFER_CALLBACKS: run synchronously, the filter's
     *   callbacks re-entered evhttp while it was still setting the
     *   connection up when the request bytes were already waiting.
     */
    struct bufferevent *u = bufferevent_socket_new(base, -1, BEV_OPT_DEFER_CALLBACKS);
    if (u == NULL)
        goto fail;
    c->underlying = u;
    c->bev = bufferevent_filter_new(u, in_filter_cb, out_filter_cb, BEV_OPT_DEFER_CALLBACKS,
                                    conn_free_cb, c);
    if (c->bev == NULL) {
        bufferevent_free(u);
        c->underlying = NULL;
        goto fail;
    }
    c->kick = event_new(base, -1, 0, kick_cb, c);
    if (c->kick == NULL) {
        bufferevent_free(c->bev); /* runs conn_free_cb */
        return NULL;
    }
    c->out_cb = evbuffer_add_cb(bufferevent_get_output(c->bev), out_added_cb, c);
    if (c->out_cb == NULL) {
        bufferevent_free(c->bev);
        return NULL;
    }
    return c->bev;
fail:
    conn_unlink(c);
    conn_free(c);
    return NULL;
}

enum err intake_new(struct store *store, const struct intake_limits *limits,
                    intake_classify_fn classify, void *classify_arg, struct intake **out)
{
    struct intake *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return ERR_NOMEM;
    in->store = store;
    in->limits = limits;
    in->classify = classify;
    in->classify_arg = classify_arg;
    *out = in;
    return ERR_OK;
}

void intake_free(struct intake *in)
{
    if (in == NULL)
        return;
    /* evhttp_free may leave bufferevents whose free is deferred to the next
     * loop turn; their free callbacks must not touch the list. */
    for (struct intake_conn *c = in->conns; c != NULL; c = c->next)
        c->in = NULL;
    free(in);
}

size_t intake_connections(const struct intake *in)
{
    return in->n_conns;
}

struct intake_body *intake_take(struct intake *in, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon == NULL)
        return NULL;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    for (struct intake_conn *c = in->conns; c != NULL; c = c->next) {
        if (c->bev != bev)
            continue;
        struct intake_body *b = c->ready;
        if (b == NULL)
            return NULL;
        c->ready = b->next;
        if (c->ready == NULL)
            c->ready_tail = NULL;
        b->next = NULL;
        return b;
    }
    return NULL;
}

enum err intake_feed_for_test(struct intake *in, const void *p, size_t n, size_t chunk,
                              struct intake_body **out, size_t *n_out, size_t max_out)
{
    enum err e = ERR_NOMEM;
    *n_out = 0;
    struct intake_conn *c = conn_new(in);
    struct evbuffer *src = evbuffer_new();
    struct evbuffer *dst = evbuffer_new();
    if (c == NULL || src == NULL || dst == NULL)
        goto out;
    if (chunk == 0)
        chunk = 1;
    const char *q = p;
    e = ERR_OK;
    for (size_t off = 0; off < n && e == ERR_OK; off += chunk) {
        size_t k = n - off < chunk ? n - off : chunk;
        if (evbuffer_add(src, q + off, k) == -1) {
            e = ERR_NOMEM;
            break;
        }
        e = conn_process(c, src, dst);
        while (c->ready != NULL && *n_out < max_out) {
            struct intake_body *b = c->ready;
            c->ready = b->next;
            if (c->ready == NULL)
                c->ready_tail = NULL;
            out[(*n_out)++] = b;
        }
    }
out:
    if (src)
        evbuffer_free(src);
    if (dst)
        evbuffer_free(dst);
    if (c) {
        conn_unlink(c);
        conn_free(c);
    }
    return e;
}
