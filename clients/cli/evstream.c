/*
 * evstream -- Server-Sent Events parsing; see evstream.h for the rules.
 * SPDX-License-Identifier: MIT
 */
#include "evstream.h"

#include <string.h>

/* Default cap: a job feed event is a few hundred bytes. */
#define EVSTREAM_DEFAULT_MAX ((size_t)1 << 20)

void evstream_init(struct evstream *p, size_t max_bytes, evstream_event_fn cb, void *arg)
{
    size_t cap = max_bytes ? max_bytes : EVSTREAM_DEFAULT_MAX;
    memset(p, 0, sizeof(*p));
    buf_init(&p->line, cap);
    buf_init(&p->data, cap);
    buf_init(&p->type, cap);
    p->cb = cb;
    p->arg = arg;
}

void evstream_release(struct evstream *p)
{
    if (p == NULL)
        return;
    buf_release(&p->line);
    buf_release(&p->data);
    buf_release(&p->type);
}

/* A blank line: dispatch the event being built, if it has data. */
static int dispatch(struct evstream *p)
{
    int rc = 0;
    if (p->data.len > 0) {
        /* The algorithm appends LF after every data line and drops the last. */
        p->data.len--;
        p->data.data[p->data.len] = '\0';
        rc = p->cb(p->arg, p->type.len ? buf_cstr(&p->type) : "message", buf_cstr(&p->data),
                   p->data.len);
    }
    buf_reset(&p->data);
    buf_reset(&p->type);
    return rc;
}

/* One complete line (without its terminator). */
static enum err take_line(struct evstream *p, int *stop)
{
    const char *s = buf_cstr(&p->line);
    size_t n = p->line.len;
    enum err e = ERR_OK;

    if (n == 0) {
        *stop = dispatch(p);
        return ERR_OK;
    }
    if (s[0] == ':')
        return ERR_OK; /* comment */
    const char *colon = memchr(s, ':', n);
    size_t name_len = colon ? (size_t)(colon - s) : n;
    const char *value = colon ? colon + 1 : s + n;
    size_t value_len = (size_t)(s + n - value);
    if (value_len > 0 && value[0] == ' ') {
        value++;
        value_len--;
    }
    if (name_len == 4 && memcmp(s, "data", 4) == 0) {
        if ((e = buf_append(&p->data, value, value_len)) == ERR_OK)
            e = buf_append_byte(&p->data, '\n');
    } else if (name_len == 5 && memcmp(s, "event", 5) == 0) {
        buf_reset(&p->type);
        e = buf_append(&p->type, value, value_len);
    }
    /* "id", "retry" and unknown fields are ignored. */
    return e;
}

enum err evstream_feed(struct evstream *p, const char *chunk, size_t len, int *stop)
{
    static const char bom[] = "\xEF\xBB\xBF";
    size_t i = 0;
    enum err e;

    *stop = 0;
    /* Match the optional BOM byte by byte, so a chunk may end inside it. */
    while (!p->started && i < len) {
        if ((unsigned char)chunk[i] == (unsigned char)bom[p->bom_len]) {
            i++;
            if (++p->bom_len == 3)
                p->started = true;
            continue;
        }
        /* Not a BOM after all: what matched so far is text. */
        if ((e = buf_append(&p->line, bom, p->bom_len)) != ERR_OK)
            return e;
        p->started = true;
    }
    if (p->last_cr && i < len && chunk[i] == '\n')
        i++;
    p->last_cr = false;
    while (i < len) {
        size_t j = i;
        while (j < len && chunk[j] != '\n' && chunk[j] != '\r')
            j++;
        if ((e = buf_append(&p->line, chunk + i, j - i)) != ERR_OK)
            return e;
        if (j == len)
            break; /* the line continues in the next chunk */
        if (chunk[j] == '\r') {
            if (j + 1 < len && chunk[j + 1] == '\n')
                j++;
            else if (j + 1 == len)
                p->last_cr = true;
        }
        i = j + 1;
        e = take_line(p, stop);
        buf_reset(&p->line);
        if (e != ERR_OK)
            return e;
        if (*stop != 0)
            return ERR_OK;
    }
    return ERR_OK;
}
