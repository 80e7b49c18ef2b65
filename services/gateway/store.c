/*
 * store -- content-addressed files: temp file, hash while streaming, fsync,
 * link into place (a request's files together: store_commit_batch).
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
    int durable; /* the folder holding its name has been fsync'd */
};

struct store {
    char *root;
    /* Guards <pend> and <removals>. Held only for memory work and, on the
     * rare undo path, one unlink: the event loop takes it too
     * (store_writer_commit_existing), so it never waits behind an fsync
     * or a link that waits on the journal. */
    pthread_mutex_t mu;
    struct pending *pend;
    size_t n_pend, cap_pend;
    /* Objects unlinked so far (an undone commit). An object exists for
     * good once named, except through such an undo, so a stat(2) made
     * outside <mu> still holds if this count did not move meanwhile. */
    uint64_t removals;
};

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
    p->durable = 0;
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

/* fsync the folder at <path>. Returns ERR_OK or ERR_IO. */
static enum err fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1)
        return ERR_IO;
    enum err e = fsync(fd) == -1 ? ERR_IO : ERR_OK;
    close(fd);
    return e;
}

/* The pending entry of an object named <sha256> whose creator has not yet
 * made its name durable, or NULL. Under mu. */
static const struct pending *pend_undurable(const struct store *s, const char *sha256)
{
    for (size_t i = 0; i < s->n_pend; i++)
        if (!s->pend[i].durable && strcmp(s->pend[i].sha256, sha256) == 0)
            return &s->pend[i];
    return NULL;
}

/* Drop what a committed (or given up) writer still holds: its temporary
 * file and descriptor, its memory copy. */
static void writer_drop_data(struct store_writer *w)
{
    if (w->tmp_path != NULL)
        (void)unlink(w->tmp_path);
    if (w->fd != -1)
        (void)close(w->fd);
    w->fd = -1;
    free(w->tmp_path);
    w->tmp_path = NULL;
    buf_release(&w->mem);
    w->in_mem = 0;
}

/* Whether object <sha256> exists: 1 yes, 0 no, -1 error (ERR_IO). */
static int object_exists(struct store *s, const char *sha256, enum err *e)
{
    struct buf dir, file;
    struct stat st;
    if ((*e = object_paths(s, sha256, &dir, &file)) != ERR_OK)
        return -1;
    int r = 1;
    if (stat(file.data, &st) == -1) {
        r = errno == ENOENT || errno == ENOTDIR ? 0 : -1;
        if (r == -1)
            *e = ERR_IO;
    }
    buf_release(&file);
    buf_release(&dir);
    return r;
}

static uint64_t removals_now(struct store *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t n = s->removals;
    pthread_mutex_unlock(&s->mu);
    return n;
}

enum err store_writer_commit_existing(struct store_writer *w)
{
    if (!w->finished || w->committed)
        return ERR_STATE;
    struct store *s = w->store;
    enum err e = ERR_OK;
    uint64_t removals = removals_now(s);
    int exists = object_exists(s, w->sha256, &e); /* outside mu: see removals */
    if (exists == -1)
        return e;
    if (exists == 0)
        return ERR_NOTFOUND;
    pthread_mutex_lock(&s->mu);
    if (s->removals != removals && object_exists(s, w->sha256, &e) != 1) {
        e = e != ERR_OK ? e : ERR_NOTFOUND; /* an undo took it back meanwhile */
    } else if (pend_undurable(s, w->sha256) != NULL) {
        /* Named, but its folder's fsync has not returned yet: a reply now
         * could promise a name a crash would lose. The batch path fsyncs
         * the folder itself. */
        e = ERR_NOTFOUND;
    } else {
        pend_mark_shared(s, w->sha256);
    }
    pthread_mutex_unlock(&s->mu);
    if (e != ERR_OK)
        return e;
    /* Same sha256, same content: the existing object was durable before its
     * name was; this copy needs no disk I/O at all. */
    w->created = 0;
    writer_drop_data(w);
    w->committed = 1;
    return ERR_OK;
}

/* A writer's progress through store_commit_batch(). */
enum batch_step { BS_SKIP, BS_EXISTS, BS_CREATE };

/* fsync once each distinct fan folder of the writers in <w>[0..n) that
 * <need> marks and whose status is still ERR_OK; a failure fails every
 * such writer in that folder. */
static void fsync_fans(struct store *s, struct store_writer *const *w, const int *need,
                       enum err *status, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!need[i] || status[i] != ERR_OK)
            continue;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = need[j] && status[j] == ERR_OK && memcmp(w[j]->sha256, w[i]->sha256, 2) == 0;
        if (seen)
            continue; /* that writer's fsync covered this folder */
        struct buf dir, file;
        enum err e = object_paths(s, w[i]->sha256, &dir, &file);
        if (e == ERR_OK) {
            e = fsync_dir(dir.data);
            buf_release(&file);
            buf_release(&dir);
        }
        if (e == ERR_OK)
            continue;
        for (size_t j = i; j < n; j++)
            if (need[j] && status[j] == ERR_OK && memcmp(w[j]->sha256, w[i]->sha256, 2) == 0)
                status[j] = e;
    }
}

/* Name <w>'s durable temporary file in objects/ (link(2)), outside mu. The
 * pending entry goes in first, so from the moment the name can be seen a
 * commit of the same content knows it is not yet durable.
 * *made_fan: set when the fan folder had to be created. */
static enum err link_object(struct store_writer *w, int *made_fan)
{
    struct store *s = w->store;
    struct buf dir, file;
    enum err e = object_paths(s, w->sha256, &dir, &file);
    if (e != ERR_OK)
        return e;
    pthread_mutex_lock(&s->mu);
    e = pend_add(s, w);
    pthread_mutex_unlock(&s->mu);
    if (e != ERR_OK)
        goto out;
    /* link(2), not rename(2): it fails when another commit of the same
     * content won the race, so exactly one writer is its creator (the one
     * whose uncommit may remove it, unless the object got shared). The fan
     * folder is made on demand: one mkdir per folder for the store's life,
     * not one per commit. */
    int rc = link(w->tmp_path, file.data);
    int link_errno = errno;
    if (rc == -1 && link_errno == ENOENT) {
        int mk = mkdir(dir.data, 0750);
        if (mk == 0)
            *made_fan = 1;
        if (mk == 0 || errno == EEXIST) { /* made, or made by a racing commit */
            rc = link(w->tmp_path, file.data);
            link_errno = errno;
        }
    }
    pthread_mutex_lock(&s->mu);
    if (rc == 0) {
        w->created = 1;
    } else {
        pend_remove(s, w);
        if (link_errno == EEXIST)
            pend_mark_shared(s, w->sha256); /* same content, named by another */
        else
            e = ERR_IO;
    }
    pthread_mutex_unlock(&s->mu);
out:
    buf_release(&file);
    buf_release(&dir);
    return e;
}

/* A creator whose commit is undone: take the name back unless another
 * commit shares it. Under mu. */
static void unlink_created(struct store_writer *w)
{
    struct store *s = w->store;
    const struct pending *p = pend_by_creator(s, w);
    struct buf dir, file;
    if (p != NULL && !p->shared && object_paths(s, w->sha256, &dir, &file) == ERR_OK) {
        if (unlink(file.data) == 0)
            s->removals++;
        buf_release(&file);
        buf_release(&dir);
    }
    pend_remove(s, w);
    w->created = 0;
}

enum err store_commit_batch(struct store *s, struct store_writer *const *w, size_t n,
                            enum err *status)
{
    enum err e = ERR_NOMEM;
    enum batch_step *step = calloc(n ? n : 1, sizeof(*step));
    int *need_dir = calloc(n ? n : 1, sizeof(*need_dir));
    int *exists = calloc(n ? n : 1, sizeof(*exists));
    if (step == NULL || need_dir == NULL || exists == NULL) {
        for (size_t i = 0; i < n; i++)
            status[i] = ERR_NOMEM;
        goto out;
    }
    e = ERR_OK;
    for (size_t i = 0; i < n; i++) {
        status[i] = ERR_OK;
        step[i] = BS_SKIP;
        if (w[i]->store != s || !w[i]->finished || w[i]->committed)
            status[i] = ERR_STATE;
    }
    /* 1. Which objects exist already: no data to flush, but a name that
     *    another commit has not yet made durable is flushed here too. The
     *    stats run outside mu (see removals). */
    uint64_t removals = removals_now(s);
    for (size_t i = 0; i < n; i++)
        if (status[i] == ERR_OK && (exists[i] = object_exists(s, w[i]->sha256, &status[i])) == -1)
            status[i] = status[i] != ERR_OK ? status[i] : ERR_IO;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        if (status[i] != ERR_OK)
            continue;
        if (s->removals != removals && exists[i] == 1 &&
            object_exists(s, w[i]->sha256, &status[i]) != 1) {
            exists[i] = 0; /* an undo took it back meanwhile */
            if (status[i] != ERR_OK)
                continue;
        }
        if (exists[i] == 1) {
            step[i] = BS_EXISTS;
            need_dir[i] = pend_undurable(s, w[i]->sha256) != NULL;
            pend_mark_shared(s, w[i]->sha256);
        } else {
            step[i] = BS_CREATE;
        }
    }
    pthread_mutex_unlock(&s->mu);
    /* 2. Give each new object its file and, when there are several, start
     *    every writeback at once, so the fsyncs below wait on one round of
     *    disk writes and share one journal commit (a lone file's fsync
     *    starts its own). */
    size_t n_create = 0;
    for (size_t i = 0; i < n; i++)
        if (step[i] == BS_CREATE && status[i] == ERR_OK &&
            (!w[i]->in_mem || (status[i] = spill(w[i])) == ERR_OK))
            n_create++;
    for (size_t i = 0; i < n && n_create > 1; i++)
        if (step[i] == BS_CREATE && status[i] == ERR_OK)
            (void)sync_file_range(w[i]->fd, 0, 0, SYNC_FILE_RANGE_WRITE); /* a hint only */
    /* 3. fsync before the name appears: a crash must never leave an object
     *    whose name promises content that did not reach the disk. */
    for (size_t i = 0; i < n; i++)
        if (step[i] == BS_CREATE && status[i] == ERR_OK && fsync(w[i]->fd) == -1)
            status[i] = ERR_IO;
    /* 4. Name them. */
    int made_fan = 0;
    for (size_t i = 0; i < n; i++) {
        if (step[i] != BS_CREATE || status[i] != ERR_OK)
            continue;
        status[i] = link_object(w[i], &made_fan);
        need_dir[i] = status[i] == ERR_OK;
    }
    /* 5. Make the names durable: each fan folder once, and objects/ when a
     *    fan folder is new. */
    if (made_fan) {
        struct buf obj;
        enum err fe = path_join(&obj, s->root, "objects", NULL);
        if (fe == ERR_OK) {
            fe = fsync_dir(obj.data);
            buf_release(&obj);
        }
        for (size_t i = 0; i < n && fe != ERR_OK; i++)
            if (need_dir[i] && status[i] == ERR_OK)
                status[i] = fe;
    }
    fsync_fans(s, w, need_dir, status, n);
    /* 6. Done: names made here are durable now; failures give theirs back. */
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        if (step[i] == BS_SKIP)
            continue;
        if (status[i] != ERR_OK) {
            if (w[i]->created)
                unlink_created(w[i]);
            continue;
        }
        if (w[i]->created) {
            struct pending *p = pend_by_creator(s, w[i]);
            if (p != NULL)
                p->durable = 1;
        }
        w[i]->committed = 1;
    }
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < n; i++)
        if (w[i]->committed && step[i] != BS_SKIP)
            writer_drop_data(w[i]);
out:
    free(exists);
    free(need_dir);
    free(step);
    return e;
}

enum err store_writer_commit(struct store_writer *w)
{
    enum err st;
    enum err e = store_commit_batch(w->store, &w, 1, &st);
    return e != ERR_OK ? e : st;
}

void store_writer_uncommit(struct store_writer *w)
{
    if (!w->committed || !w->created)
        return;
    struct store *s = w->store;
    pthread_mutex_lock(&s->mu);
    unlink_created(w);
    pthread_mutex_unlock(&s->mu);
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
