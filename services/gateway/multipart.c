/*
 * multipart -- streaming multipart/form-data: KMP search for the delimiter,
 * bounded header blocks.
 * SPDX-License-Identifier: MIT
 */
#include "multipart.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum mp_state {
    MP_PREAMBLE,    /* before the first delimiter: discarded */
    MP_AFTER_DELIM, /* just matched a delimiter: "--" or padding + CRLF */
    MP_DASH2,       /* saw one '-' after a delimiter */
    MP_PADDING,     /* transport padding (LWSP) before CRLF */
    MP_LF,          /* saw CR after a delimiter, expecting LF */
    MP_HEADERS,     /* a part's header block */
    MP_BODY,        /* a part's content */
    MP_EPILOGUE,    /* after the close delimiter: discarded */
    MP_FAILED,
};

struct multipart {
    char *delim;   /* "\r\n--" + boundary */
    size_t dlen;
    size_t *fail;  /* KMP failure function of delim */
    size_t match;  /* delimiter bytes matched and held back */
    enum mp_state state;
    struct buf headers;
    size_t max_parts, n_parts;
    struct multipart_cbs cbs;
    enum err err;
    struct buf msg;
};

static int is_bchar(unsigned char c)
{
    return isalnum(c) || strchr("'()+_,-./:=? ", c) != NULL;
}

static enum err check_boundary(const char *b, size_t n)
{
    if (n == 0 || n > MULTIPART_BOUNDARY_MAX || b[n - 1] == ' ')
        return ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        if (!is_bchar((unsigned char)b[i]))
            return ERR_INVAL;
    return ERR_OK;
}

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/*
 * Parse `; name=value` parameters after a media type or disposition type.
 * Calls want(name) to pick a destination buffer, NULL to skip the value.
 * Values are tokens or quoted-strings (RFC 9110 section 5.6.4), unescaped.
 */
static enum err parse_params(const char *p, const char *want1, struct buf *out1,
                             const char *want2, struct buf *out2, int *has2)
{
    for (;;) {
        p = skip_ows(p);
        if (*p == '\0')
            return ERR_OK;
        if (*p != ';')
            return ERR_INVAL;
        p = skip_ows(p + 1);
        if (*p == '\0')
            return ERR_OK; /* a trailing ';' is tolerated */
        const char *name = p;
        while (*p != '\0' && *p != '=' && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t name_len = (size_t)(p - name);
        p = skip_ows(p);
        if (*p != '=' || name_len == 0)
            return ERR_INVAL;
        p = skip_ows(p + 1);
        struct buf *dst = NULL;
        if (strlen(want1) == name_len && strncasecmp(name, want1, name_len) == 0)
            dst = out1;
        else if (want2 && strlen(want2) == name_len && strncasecmp(name, want2, name_len) == 0) {
            dst = out2;
            *has2 = 1;
        }
        if (dst)
            buf_reset(dst);
        if (*p == '"') {
            p++;
            while (*p != '"') {
                if (*p == '\0')
                    return ERR_INVAL;
                if (*p == '\\' && p[1] != '\0')
                    p++;
                if (dst && buf_append_byte(dst, (unsigned char)*p) != ERR_OK)
                    return ERR_TOOBIG;
                p++;
            }
            p++;
        } else {
            const char *v = p;
            while (*p != '\0' && *p != ';' && *p != ' ' && *p != '\t')
                p++;
            if (p == v)
                return ERR_INVAL;
            if (dst && buf_append(dst, v, (size_t)(p - v)) != ERR_OK)
                return ERR_TOOBIG;
        }
    }
}

enum err multipart_boundary(const char *content_type, struct buf *out)
{
    static const char type[] = "multipart/form-data";
    const char *p = skip_ows(content_type);
    if (strncasecmp(p, type, sizeof(type) - 1) != 0)
        return ERR_INVAL;
    p += sizeof(type) - 1;
    if (*p != '\0' && *p != ';' && *p != ' ' && *p != '\t')
        return ERR_INVAL;
    struct buf b;
    buf_init(&b, MULTIPART_BOUNDARY_MAX + 1);
    int unused = 0;
    enum err e = parse_params(p, "boundary", &b, NULL, NULL, &unused);
    if (e == ERR_TOOBIG)
        e = ERR_INVAL;
    if (e == ERR_OK)
        e = check_boundary(buf_cstr(&b), b.len);
    if (e == ERR_OK)
        e = buf_append(out, b.data, b.len);
    buf_release(&b);
    return e;
}

enum err multipart_new(const char *boundary, const struct multipart_cbs *cbs,
                       size_t max_header_bytes, size_t max_parts, struct multipart **out)
{
    size_t blen = strlen(boundary);
    if (check_boundary(boundary, blen) != ERR_OK)
        return ERR_INVAL;
    struct multipart *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return ERR_NOMEM;
    m->dlen = blen + 4;
    m->delim = malloc(m->dlen + 1);
    m->fail = malloc(m->dlen * sizeof(*m->fail));
    if (m->delim == NULL || m->fail == NULL) {
        multipart_free(m);
        return ERR_NOMEM;
    }
    memcpy(m->delim, "\r\n--", 4);
    memcpy(m->delim + 4, boundary, blen + 1);
    /* KMP failure function: fail[i] is the longest proper prefix of
     * delim[0..i] that is also its suffix. */
    m->fail[0] = 0;
    for (size_t i = 1, k = 0; i < m->dlen; i++) {
        while (k > 0 && m->delim[i] != m->delim[k])
            k = m->fail[k - 1];
        if (m->delim[i] == m->delim[k])
            k++;
        m->fail[i] = k;
    }
    /* The body may start with the delimiter's "--boundary" directly: behave
     * as if a CRLF had been seen already (RFC 2046's dash-boundary). */
    m->match = 2;
    m->state = MP_PREAMBLE;
    buf_init(&m->headers, max_header_bytes);
    buf_init(&m->msg, 256);
    m->max_parts = max_parts;
    m->cbs = *cbs;
    *out = m;
    return ERR_OK;
}

void multipart_free(struct multipart *m)
{
    if (m == NULL)
        return;
    free(m->delim);
    free(m->fail);
    buf_release(&m->headers);
    buf_release(&m->msg);
    free(m);
}

const char *multipart_error(const struct multipart *m)
{
    return buf_cstr(&m->msg);
}

static enum err fail_with(struct multipart *m, enum err e, const char *why)
{
    m->state = MP_FAILED;
    m->err = e;
    buf_reset(&m->msg);
    if (buf_append_str(&m->msg, why) != ERR_OK)
        buf_reset(&m->msg);
    return e;
}

static enum err emit(struct multipart *m, const char *p, size_t n)
{
    if (m->state != MP_BODY || n == 0)
        return ERR_OK;
    enum err e = m->cbs.part_data_cb(m->cbs.arg, p, n);
    if (e != ERR_OK)
        return fail_with(m, e, "cannot store part data");
    return ERR_OK;
}

/* Parse the finished header block in m->headers and start the part. */
static enum err begin_part(struct multipart *m)
{
    enum err e = ERR_OK;
    struct buf name, filename, ctype;
    int has_disp = 0, has_filename = 0, has_ctype = 0;
    buf_init(&name, 1024);
    buf_init(&filename, 1024);
    buf_init(&ctype, 256);
    char *line = m->headers.data;
    while (line != NULL && *line != '\0') {
        char *eol = strstr(line, "\r\n");
        if (eol == NULL)
            break;
        *eol = '\0';
        if (*line == '\0')
            break;
        if (*line == ' ' || *line == '\t') {
            e = fail_with(m, ERR_INVAL, "folded part header");
            goto out;
        }
        char *colon = strchr(line, ':');
        if (colon == NULL) {
            e = fail_with(m, ERR_INVAL, "part header without ':'");
            goto out;
        }
        *colon = '\0';
        const char *value = skip_ows(colon + 1);
        if (strcasecmp(line, "Content-Disposition") == 0) {
            static const char fd[] = "form-data";
            if (strncasecmp(value, fd, sizeof(fd) - 1) != 0 ||
                (value[sizeof(fd) - 1] != ';' && value[sizeof(fd) - 1] != '\0' &&
                 value[sizeof(fd) - 1] != ' ')) {
                e = fail_with(m, ERR_INVAL, "part is not form-data");
                goto out;
            }
            buf_reset(&name);
            if (parse_params(value + sizeof(fd) - 1, "name", &name, "filename", &filename,
                             &has_filename) != ERR_OK) {
                e = fail_with(m, ERR_INVAL, "malformed Content-Disposition");
                goto out;
            }
            has_disp = 1;
        } else if (strcasecmp(line, "Content-Type") == 0) {
            buf_reset(&ctype);
            if (buf_append_str(&ctype, value) != ERR_OK) {
                e = fail_with(m, ERR_TOOBIG, "part Content-Type too long");
                goto out;
            }
            has_ctype = 1;
        }
        line = eol + 2;
    }
    if (!has_disp || name.len == 0) {
        e = fail_with(m, ERR_INVAL, "part without a Content-Disposition name");
        goto out;
    }
    if (++m->n_parts > m->max_parts) {
        e = fail_with(m, ERR_TOOBIG, "too many parts");
        goto out;
    }
    struct multipart_part part = {
        .name = buf_cstr(&name),
        .filename = has_filename ? buf_cstr(&filename) : NULL,
        .content_type = has_ctype ? buf_cstr(&ctype) : NULL,
    };
    e = m->cbs.part_begin_cb(m->cbs.arg, &part);
    if (e != ERR_OK) {
        e = fail_with(m, e, "part rejected");
        goto out;
    }
    m->state = MP_BODY;
    m->match = 0;
out:
    buf_release(&ctype);
    buf_release(&filename);
    buf_release(&name);
    return e;
}

/* Feed bytes to the delimiter matcher (PREAMBLE or BODY). Returns the number
 * of bytes consumed: all of them, or up to and including a delimiter. */
static size_t scan(struct multipart *m, const char *p, size_t n, enum err *e)
{
    size_t i = 0;
    *e = ERR_OK;
    while (i < n) {
        if (m->match == 0) {
            /* Fast path: no delimiter can start before the next CR. */
            const char *cr = memchr(p + i, '\r', n - i);
            size_t run = cr ? (size_t)(cr - (p + i)) : n - i;
            if ((*e = emit(m, p + i, run)) != ERR_OK)
                return i;
            i += run;
            if (i == n)
                break;
        }
        char c = p[i];
        while (m->match > 0 && m->delim[m->match] != c) {
            size_t k = m->fail[m->match - 1];
            if ((*e = emit(m, m->delim, m->match - k)) != ERR_OK)
                return i;
            m->match = k;
        }
        if (m->delim[m->match] == c) {
            m->match++;
        } else if ((*e = emit(m, &p[i], 1)) != ERR_OK) {
            return i;
        }
        i++;
        if (m->match == m->dlen) {
            m->match = 0;
            if (m->state == MP_BODY && (*e = m->cbs.part_end_cb(m->cbs.arg)) != ERR_OK) {
                fail_with(m, *e, "cannot finish part");
                return i;
            }
            m->state = MP_AFTER_DELIM;
            return i;
        }
    }
    return i;
}

enum err multipart_feed(struct multipart *m, const void *data, size_t n)
{
    const char *p = data;
    size_t i = 0;
    enum err e = ERR_OK;
    while (i < n) {
        if (m->state == MP_FAILED)
            return m->err;
        char c = p[i];
        switch (m->state) {
        case MP_PREAMBLE:
        case MP_BODY:
            i += scan(m, p + i, n - i, &e);
            if (e != ERR_OK)
                return e;
            break;
        case MP_AFTER_DELIM:
            i++;
            if (c == '-')
                m->state = MP_DASH2;
            else if (c == '\r')
                m->state = MP_LF;
            else if (c == ' ' || c == '\t')
                m->state = MP_PADDING;
            else
                return fail_with(m, ERR_INVAL, "garbage after boundary");
            break;
        case MP_DASH2:
            i++;
            if (c != '-')
                return fail_with(m, ERR_INVAL, "garbage after boundary");
            m->state = MP_EPILOGUE;
            break;
        case MP_PADDING:
            i++;
            if (c == '\r')
                m->state = MP_LF;
            else if (c != ' ' && c != '\t')
                return fail_with(m, ERR_INVAL, "garbage after boundary");
            break;
        case MP_LF:
            i++;
            if (c != '\n')
                return fail_with(m, ERR_INVAL, "boundary line not ended by CRLF");
            buf_reset(&m->headers);
            m->state = MP_HEADERS;
            break;
        case MP_HEADERS:
            i++;
            if (buf_append_byte(&m->headers, (unsigned char)c) != ERR_OK)
                return fail_with(m, ERR_TOOBIG, "part headers too large");
            if ((m->headers.len == 2 && memcmp(m->headers.data, "\r\n", 2) == 0) ||
                (m->headers.len >= 4 &&
                 memcmp(m->headers.data + m->headers.len - 4, "\r\n\r\n", 4) == 0)) {
                if ((e = begin_part(m)) != ERR_OK)
                    return e;
            }
            break;
        case MP_EPILOGUE:
            return ERR_OK;
        case MP_FAILED:
            return m->err;
        }
    }
    return ERR_OK;
}

enum err multipart_finish(struct multipart *m)
{
    if (m->state == MP_FAILED)
        return m->err;
    if (m->state != MP_EPILOGUE)
        return fail_with(m, ERR_INVAL, "body ends before the closing boundary");
    return ERR_OK;
}
