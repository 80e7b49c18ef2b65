/*
 * store -- content-addressed files: temp file, hash while streaming, fsync,
 * rename into place.
 * SPDX-License-Identifier: MIT
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "digest.h"
#include "validate.h"

/* Paths are short (root + 80 bytes); cap them so a bad root cannot grow one. */
#define STORE_PATH_MAX 4096

/* An object created by a commit whose request has not yet been recorded or
 * given up (uncommit). <shared>: another commit of the same content found it
 * in the meantime and may already be recorded, so uncommit must keep it. */
struct pending {
    const struct store_writer *creator;
    char sha256[DIGEST_SHA256_HEX_LEN + 1];
    int shared;
};

struct store {
    char *root;
    /* Guards <pend> and every check-then-name/remove of an object, so a
     * commit and an uncommit of the same content never interleave. */
    pthread_mutex_t mu;
    struct pending *pend;
    size_t n_pend, cap_pend;
};

/* Uploads up to this many bytes stay in memory until their commit needs a
 * file (STORE_MEM_MAX in store.h's contract): a small part whose object
 * exists never touches tmp/. */
#define STORE_MEM_MAX ((size_t)64 * 1024)

struct store_writer {
    struct store *store;
    struct buf mem; /* the content while in_mem */
    int in_mem;     /* no temporary file yet */
    int fd;         /* -1 while in memory or once closed */
    char *tmp_path; /* owned; NULL while in memory or once dropped */
    struct digest_sha256 *hash;
    uint64_t size;
    uint64_t max_bytes;
    char sha256[DIGEST_SHA256_HEX_LEN + 1];
    int finished;
    int committed;
    int created; /* this writer's commit created the object */
};

static enum err path_join(struct buf *b, const char *root, const char *a, const char *c)
{
    buf_init(b, STORE_PATH_MAX);
    enum err e = buf_appendf(b, "%s/%s%s%s", root, a, c ? "/" : "", c ? c : "");
    if (e != ERR_OK)
        buf_release(b);
    return e;
}

static enum err mkdir_p1(const char *path)
{
    if (mkdir(path, 0750) == -1 && errno != EEXIST)
        return ERR_IO;
    return ERR_OK;
}

/* Remove leftovers of a crash: every file in tmp/ is an unfinished upload. */
static enum err clean_tmp(const char *tmp_dir)
{
    DIR *d = opendir(tmp_dir);
    if (d == NULL)
        return ERR_IO;
    int dfd = dirfd(d);
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        (void)unlinkat(dfd, ent->d_name, 0);
    }
    closedir(d);
    return ERR_OK;
}

enum err store_open(const char *root, struct store **out)
{
    enum err e = ERR_OK;
    struct buf tmp, obj;
    buf_init(&tmp, 1);
    buf_init(&obj, 1);
    struct store *s = NULL;
    if (root == NULL || root[0] == '\0')
        return ERR_INVAL;
    if ((e = mkdir_p1(root)) != ERR_OK)
        goto out;
    if ((e = path_join(&tmp, root, "tmp", NULL)) != ERR_OK)
        goto out;
    if ((e = path_join(&obj, root, "objects", NULL)) != ERR_OK)
        goto out;
    if ((e = mkdir_p1(tmp.data)) != ERR_OK || (e = mkdir_p1(obj.data)) != ERR_OK)
        goto out;
    if ((e = clean_tmp(tmp.data)) != ERR_OK)
        goto out;
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->root = strdup(root)) == NULL) {
        free(s);
        s = NULL;
        e = ERR_NOMEM;
        goto out;
    }
    pthread_mutex_init(&s->mu, NULL);
    *out = s;
out:
    buf_release(&obj);
    buf_release(&tmp);
    return e;
}

void store_free(struct store *s)
{
    if (s == NULL)
        return;
    pthread_mutex_destroy(&s->mu);
    free(s->pend);
    free(s->root);
    free(s);
}

/* The pending entry of <creator>, or NULL. Under mu. */
static struct pending *pend_by_creator(struct store *s, const struct store_writer *creator)
{
    for (size_t i = 0; i < s->n_pend; i++)
        if (s->pend[i].creator == creator)
            return &s->pend[i];
    return NULL;
}

/* A commit found <sha256> already named: if its creator is still pending,
 * the object is now shared. Under mu. */
static void pend_mark_shared(struct store *s, const char *sha256)
{
    for (size_t i = 0; i < s->n_pend; i++)
        if (strcmp(s->pend[i].sha256, sha256) == 0)
            s->pend[i].shared = 1;
}

/* Forget <creator>'s pending entry, if any. Under mu. */
static void pend_remove(struct store *s, const struct store_writer *creator)
{
    struct pending *p = pend_by_creator(s, creator);
    if (p != NULL)
        *p = s->pend[--s->n_pend];
}

/* Record <w> as the pending creator of its object. Under mu. */
static enum err pend_add(struct store *s, const struct store_writer *w)
{
    if (s->n_pend == s->cap_pend) {
        size_t cap = s->cap_pend ? s->cap_pend * 2 : 16;
        struct pending *np = realloc(s->pend, cap * sizeof(*np));
        if (np == NULL)
            return ERR_NOMEM;
        s->pend = np;
        s->cap_pend = cap;
    }
    struct pending *p = &s->pend[s->n_pend++];
    p->creator = w;
    memcpy(p->sha256, w->sha256, sizeof(p->sha256));
    p->shared = 0;
    return ERR_OK;
}

const char *store_root(const struct store *s)
{
    return s->root;
}

enum err store_writer_new(struct store *s, uint64_t max_bytes, struct store_writer **out)
{
    enum err e = ERR_OK;
    struct store_writer *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return ERR_NOMEM;
    w->fd = -1;
    w->in_mem = 1;
    buf_init(&w->mem, STORE_MEM_MAX);
    if ((e = digest_sha256_new(&w->hash)) != ERR_OK)
        goto fail;
    w->store = s;
    w->max_bytes = max_bytes;
    *out = w;
    return ERR_OK;
fail:
    store_writer_free(w);
    return e;
}

/* Write all <n> bytes at <p> to w->fd. Returns ERR_OK or ERR_IO. */
static enum err fd_write(struct store_writer *w, const void *p, size_t n)
{
    const char *q = p;
    size_t left = n;
    while (left > 0) {
        ssize_t k = write(w->fd, q, left);
        if (k == -1) {
            if (errno == EINTR)
                continue;
            return ERR_IO;
        }
        q += k;
        left -= (size_t)k;
    }
    return ERR_OK;
}

/* Move an in-memory writer's content to a new temporary file in tmp/.
 * Returns ERR_OK, ERR_IO, ERR_NOMEM (the writer is unchanged on error,
 * but for a temporary file it removes). */
static enum err spill(struct store_writer *w)
{
    struct buf path;
    enum err e = path_join(&path, w->store->root, "tmp", "up-XXXXXX");
    if (e != ERR_OK)
        return e;
    w->fd = mkostemp(path.data, O_CLOEXEC);
    if (w->fd == -1) {
        buf_release(&path);
        return ERR_IO;
    }
    if ((e = fd_write(w, w->mem.data, w->mem.len)) != ERR_OK) {
        (void)unlink(path.data);
        (void)close(w->fd);
        w->fd = -1;
        buf_release(&path);
        return e;
    }
    w->tmp_path = buf_detach(&path, NULL);
    if (w->tmp_path == NULL) {
        (void)close(w->fd);
        w->fd = -1;
        return ERR_NOMEM;
    }
    buf_release(&w->mem);
    w->in_mem = 0;
    return ERR_OK;
}

enum err store_writer_write(struct store_writer *w, const void *p, size_t n)
{
    enum err e;
    if (w->finished)
        return ERR_STATE;
    if (n > w->max_bytes - w->size)
        return ERR_TOOBIG;
    if (w->in_mem && n <= STORE_MEM_MAX - w->mem.len) {
        if ((e = buf_append(&w->mem, p, n)) != ERR_OK)
            return e;
        digest_sha256_update(w->hash, p, n);
        w->size += n;
        return ERR_OK;
    }
    if (w->in_mem && (e = spill(w)) != ERR_OK)
        return e;
    if ((e = fd_write(w, p, n)) != ERR_OK)
        return e;
    digest_sha256_update(w->hash, p, n);
    w->size += n;
    return ERR_OK;
}

enum err store_writer_finish(struct store_writer *w)
{
    if (w->finished)
        return ERR_STATE;
    /* The descriptor stays open: store_writer_commit() fsyncs it. */
    digest_sha256_final_hex(w->hash, w->sha256);
    w->finished = 1;
    return ERR_OK;
}

const char *store_writer_sha256(const struct store_writer *w)
{
    return w->sha256;
}

uint64_t store_writer_size(const struct store_writer *w)
{
    return w->size;
}

static enum err object_paths(struct store *s, const char *hex, struct buf *dir, struct buf *file)
{
    char fan[3] = {hex[0], hex[1], '\0'};
    enum err e = path_join(dir, s->root, "objects", fan);
    if (e != ERR_OK)
        return e;
    buf_init(file, STORE_PATH_MAX);
    if ((e = buf_appendf(file, "%s/%s", dir->data, hex)) != ERR_OK) {
        buf_release(dir);
        buf_release(file);
    }
    return e;
}

static void fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1)
        return;
    (void)fsync(fd); /* best effort: the data itself is already durable */
    close(fd);
}

enum err store_writer_commit(struct store_writer *w)
{
    if (!w->finished || w->committed)
        return ERR_STATE;
    struct buf dir, file;
    enum err e = object_paths(w->store, w->sha256, &dir, &file);
    if (e != ERR_OK)
        return e;
    if ((e = mkdir_p1(dir.data)) != ERR_OK)
        goto out;
    struct store *s = w->store;
    struct stat st;
    pthread_mutex_lock(&s->mu);
    int exists = stat(file.data, &st) == 0;
    if (exists)
        pend_mark_shared(s, w->sha256);
    pthread_mutex_unlock(&s->mu);
    if (exists) {
        /* Same sha256, same content: keep the existing object, which was
         * durable before its name appeared; this copy needs no fsync. */
        w->created = 0;
    } else {
        /* A small upload gets its file only now (on a workq thread). */
        if (w->in_mem && (e = spill(w)) != ERR_OK)
            goto out;
        /* fsync before the name appears: a crash must never leave an object
         * whose name promises content that did not reach the disk. */
        if (fsync(w->fd) == -1) {
            e = ERR_IO;
            goto out;
        }
        /* link(2), not rename(2): it fails when another commit of the same
         * content won the race, so exactly one writer is its creator (the
         * one whose uncommit may remove it, unless the object got shared). */
        pthread_mutex_lock(&s->mu);
        if (link(w->tmp_path, file.data) == 0) {
            w->created = 1;
            if ((e = pend_add(s, w)) != ERR_OK) {
                (void)unlink(file.data);
                w->created = 0;
            }
        } else if (errno == EEXIST) {
            w->created = 0;
            pend_mark_shared(s, w->sha256);
        } else {
            e = ERR_IO;
        }
        pthread_mutex_unlock(&s->mu);
        if (e != ERR_OK)
            goto out;
        if (w->created)
            fsync_dir(dir.data);
    }
    if (w->tmp_path != NULL)
        (void)unlink(w->tmp_path);
    if (w->fd != -1)
        (void)close(w->fd);
    w->fd = -1;
    free(w->tmp_path);
    w->tmp_path = NULL;
    buf_release(&w->mem);
    w->in_mem = 0;
    w->committed = 1;
out:
    buf_release(&file);
    buf_release(&dir);
    return e;
}

void store_writer_uncommit(struct store_writer *w)
{
    if (!w->committed || !w->created)
        return;
    struct store *s = w->store;
    struct buf dir, file;
    pthread_mutex_lock(&s->mu);
    const struct pending *p = pend_by_creator(s, w);
    int keep = p == NULL || p->shared;
    if (!keep && object_paths(s, w->sha256, &dir, &file) == ERR_OK) {
        (void)unlink(file.data);
        buf_release(&file);
        buf_release(&dir);
    }
    pend_remove(s, w);
    pthread_mutex_unlock(&s->mu);
    w->created = 0;
}

enum err store_writer_read(const struct store_writer *w, size_t max_bytes, struct buf *out)
{
    if (!w->finished || w->committed || (!w->in_mem && w->tmp_path == NULL))
        return ERR_STATE;
    if (w->size > max_bytes)
        return ERR_TOOBIG;
    if (w->in_mem) {
        enum err e = buf_reserve(out, w->mem.len);
        if (e == ERR_OK) {
            if (w->mem.len > 0)
                memcpy(out->data + out->len, w->mem.data, w->mem.len);
            out->len += w->mem.len;
            out->data[out->len] = '\0';
        }
        return e;
    }
    int fd = open(w->tmp_path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return ERR_IO;
    enum err e = buf_reserve(out, (size_t)w->size);
    size_t got = 0;
    while (e == ERR_OK && got < w->size) {
        ssize_t k = read(fd, out->data + out->len + got, (size_t)w->size - got);
        if (k == -1 && errno == EINTR)
            continue;
        if (k <= 0)
            e = ERR_IO;
        else
            got += (size_t)k;
    }
    close(fd);
    if (e == ERR_OK) {
        out->len += got;
        out->data[out->len] = '\0';
    }
    return e;
}

void store_writer_free(struct store_writer *w)
{
    if (w == NULL)
        return;
    if (w->created) {
        /* Kept: the request that created it was recorded. */
        pthread_mutex_lock(&w->store->mu);
        pend_remove(w->store, w);
        pthread_mutex_unlock(&w->store->mu);
    }
    if (w->fd != -1)
        close(w->fd);
    if (w->tmp_path != NULL) {
        (void)unlink(w->tmp_path);
        free(w->tmp_path);
    }
    buf_release(&w->mem);
    digest_sha256_free(w->hash);
    free(w);
}

enum err store_open_object(struct store *s, const char *sha256_hex, int *fd_out, uint64_t *size_out)
{
    if (validate_sha256_hex(sha256_hex) != ERR_OK)
        return ERR_INVAL;
    struct buf dir, file;
    enum err e = object_paths(s, sha256_hex, &dir, &file);
    if (e != ERR_OK)
        return e;
    int fd = open(file.data, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        e = errno == ENOENT ? ERR_NOTFOUND : ERR_IO;
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) == -1) {
        close(fd);
        e = ERR_IO;
        goto out;
    }
    *fd_out = fd;
    *size_out = (uint64_t)st.st_size;
out:
    buf_release(&file);
    buf_release(&dir);
    return e;
}
