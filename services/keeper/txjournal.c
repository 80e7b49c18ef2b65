/*
 * txjournal -- append-only hex lines, fsync'd; see txjournal.h.
 *
 * The lock lives on "<path>.lock", not on the journal itself, because
 * txjournal_rewrite() renames a new file over the journal and a flock on
 * the old inode would not cover the new one.
 *
 * SPDX-License-Identifier: MIT
 */
#include "txjournal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "buf.h"
#include "hex.h"

struct txjournal {
    char *path;
    char *tmp_path;
    int fd;      /* O_APPEND */
    int lock_fd; /* flock'd for the journal's life */
};

static int open_append(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

static char *concat(const char *a, const char *b)
{
    struct buf s;
    buf_init(&s, 0);
    if (buf_append_str(&s, a) != ERR_OK || buf_append_str(&s, b) != ERR_OK) {
        buf_release(&s);
        return NULL;
    }
    return buf_detach(&s, NULL);
}

enum err txjournal_open(const char *path, struct txjournal **out)
{
    enum err e = ERR_NOMEM;
    char *lock_path = NULL;
    struct txjournal *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return ERR_NOMEM;
    j->fd = -1;
    j->lock_fd = -1;
    j->path = strdup(path);
    j->tmp_path = concat(path, ".tmp");
    lock_path = concat(path, ".lock");
    if (j->path == NULL || j->tmp_path == NULL || lock_path == NULL)
        goto fail;
    e = ERR_IO;
    j->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (j->lock_fd == -1)
        goto fail;
    if (flock(j->lock_fd, LOCK_EX | LOCK_NB) == -1) {
        e = errno == EWOULDBLOCK ? ERR_EXISTS : ERR_IO;
        goto fail;
    }
    j->fd = open_append(path);
    if (j->fd == -1)
        goto fail;
    free(lock_path);
    *out = j;
    return ERR_OK;
fail:
    free(lock_path);
    txjournal_free(j);
    return e;
}

void txjournal_free(struct txjournal *j)
{
    if (j == NULL)
        return;
    if (j->fd != -1)
        close(j->fd);
    if (j->lock_fd != -1)
        close(j->lock_fd);
    free(j->path);
    free(j->tmp_path);
    free(j);
}

void txjournal_entries_free(struct txjournal_entry *e, size_t n)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(e[i].raw);
    free(e);
}

/* Decode one line "0x<hex>" into a new entry; ERR_INVAL when malformed. */
static enum err parse_line(const char *p, size_t len, struct txjournal_entry *out)
{
    if (len < 4 || len > 2 + 2 * TXJOURNAL_MAX_TX || p[0] != '0' || p[1] != 'x' || len % 2 != 0)
        return ERR_INVAL;
    size_t n = (len - 2) / 2, got = 0;
    uint8_t *raw = malloc(n);
    if (raw == NULL)
        return ERR_NOMEM;
    if (hex_decode(p, len, raw, n, &got) != ERR_OK || got != n) {
        free(raw);
        return ERR_INVAL;
    }
    out->raw = raw;
    out->len = n;
    return ERR_OK;
}

enum err txjournal_load(struct txjournal *j, struct txjournal_entry **out, size_t *n,
                        size_t *n_skipped)
{
    struct buf text;
    buf_init(&text, TXJOURNAL_MAX_BYTES);
    struct txjournal_entry *v = NULL;
    size_t cnt = 0, cap = 0, skipped = 0;
    enum err e = ERR_IO;
    FILE *f = fopen(j->path, "re");
    if (f == NULL)
        goto done;
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        e = buf_append(&text, chunk, got);
        if (e != ERR_OK)
            goto done;
    }
    e = ferror(f) ? ERR_IO : ERR_OK;
    if (e != ERR_OK)
        goto done;
    const char *p = buf_cstr(&text), *end = p + text.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) { /* torn last line: never sent */
            skipped++;
            break;
        }
        size_t len = (size_t)(nl - p);
        if (len > 0) {
            if (cnt == cap) {
                size_t nc = cap ? cap * 2 : 8;
                struct txjournal_entry *q = realloc(v, nc * sizeof(*q));
                if (q == NULL) {
                    e = ERR_NOMEM;
                    goto done;
                }
                v = q;
                cap = nc;
            }
            e = parse_line(p, len, &v[cnt]);
            if (e == ERR_OK)
                cnt++;
            else if (e == ERR_INVAL)
                skipped++;
            else
                goto done;
            e = ERR_OK;
        }
        p = nl + 1;
    }
done:
    if (f != NULL)
        fclose(f);
    buf_release(&text);
    if (e != ERR_OK) {
        txjournal_entries_free(v, cnt);
        return e;
    }
    *out = v;
    *n = cnt;
    if (n_skipped != NULL)
        *n_skipped = skipped;
    return ERR_OK;
}

static enum err write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w == -1) {
            if (errno == EINTR)
                continue;
            return ERR_IO;
        }
        p += w;
        len -= (size_t)w;
    }
    return ERR_OK;
}

static enum err append_line(struct buf *b, const uint8_t *raw, size_t len)
{
    enum err e = hex_append(b, raw, len, true);
    if (e == ERR_OK)
        e = buf_append_byte(b, '\n');
    return e;
}

enum err txjournal_append(struct txjournal *j, const uint8_t *raw, size_t len)
{
    if (len == 0 || len > TXJOURNAL_MAX_TX)
        return ERR_INVAL;
    struct buf line;
    buf_init(&line, 0);
    enum err e = append_line(&line, raw, len);
    if (e == ERR_OK)
        e = write_all(j->fd, line.data, line.len);
    /* The line must be on disk before the transaction leaves: a restart
     * that misses it would send the same jobs again under a new nonce. */
    if (e == ERR_OK && fsync(j->fd) == -1)
        e = ERR_IO;
    buf_release(&line);
    return e;
}

enum err txjournal_rewrite(struct txjournal *j, const struct txjournal_entry *entries, size_t n)
{
    struct buf text;
    buf_init(&text, TXJOURNAL_MAX_BYTES);
    enum err e = ERR_OK;
    for (size_t i = 0; i < n && e == ERR_OK; i++)
        e = append_line(&text, entries[i].raw, entries[i].len);
    if (e != ERR_OK)
        goto done;
    int fd = open(j->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd == -1) {
        e = ERR_IO;
        goto done;
    }
    e = write_all(fd, text.data ? text.data : "", text.len);
    if (e == ERR_OK && fsync(fd) == -1)
        e = ERR_IO;
    close(fd);
    if (e == ERR_OK && rename(j->tmp_path, j->path) == -1)
        e = ERR_IO;
    if (e != ERR_OK)
        goto done;
    int nfd = open_append(j->path);
    if (nfd == -1) {
        e = ERR_IO;
        goto done;
    }
    close(j->fd);
    j->fd = nfd;
done:
    buf_release(&text);
    return e;
}
