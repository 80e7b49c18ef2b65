/*
 * jobfiles -- job inputs and outputs on disk.
 *
 * SHA-256 comes from Nettle (a project dependency already, for keccak).
 * Outputs are opened with O_EXCL|O_NOFOLLOW so a job can never overwrite a
 * file or follow a link planted in its work folder.
 *
 * SPDX-License-Identifier: MIT
 */
#include "jobfiles.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "msg.h"
#include "jobspec.h"

void jobfiles_sha256(const void *p, size_t n, unsigned char out[32])
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, n, p);
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

static enum err path_join(struct buf *path, const char *dir, const char *name, struct buf *msg)
{
    if (!jobspec_is_safe_name(name)) {
        msg_addf(msg, "unsafe file name \"%.64s\"", name);
        return ERR_INVAL;
    }
    return buf_appendf(path, "%s/%s", dir, name);
}

enum err jobfiles_read(const char *dir, const char *name, size_t max_bytes, unsigned char **data,
                       size_t *len, struct buf *msg)
{
    struct buf path, content;
    buf_init(&path, 4096);
    buf_init(&content, max_bytes);
    int fd = -1;
    enum err e = path_join(&path, dir, name, msg);
    if (e != ERR_OK)
        goto done;
    fd = open(buf_cstr(&path), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd == -1) {
        e = errno == ENOENT ? ERR_NOTFOUND : ERR_IO;
        msg_addf(msg, "cannot open input \"%s\": %s", name, strerror(errno));
        goto done;
    }
    for (;;) {
        char chunk[65536];
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1) {
            e = ERR_IO;
            msg_addf(msg, "cannot read input \"%s\": %s", name, strerror(errno));
            goto done;
        }
        if (r == 0)
            break;
        e = buf_append(&content, chunk, (size_t)r);
        if (e == ERR_TOOBIG)
            msg_addf(msg, "input \"%s\" is over %zu bytes", name, max_bytes);
        if (e != ERR_OK)
            goto done;
    }
    *data = (unsigned char *)buf_detach(&content, len);
    e = *data ? ERR_OK : ERR_NOMEM;
done:
    if (fd != -1)
        close(fd);
    buf_release(&content);
    buf_release(&path);
    return e;
}

enum err jobfiles_read_input(const char *dir, const struct jobspec_input *in, size_t max_bytes,
                             unsigned char **data, size_t *len, struct buf *msg)
{
    unsigned char *p = NULL;
    size_t n = 0;
    enum err e = jobfiles_read(dir, in->name, max_bytes, &p, &n, msg);
    if (e != ERR_OK)
        return e;
    unsigned char digest[32];
    jobfiles_sha256(p, n, digest);
    if (memcmp(digest, in->sha256, 32) != 0) {
        free(p);
        msg_addf(msg, "input \"%s\" does not match its sha256 in the job spec", in->name);
        return ERR_AUTH;
    }
    *data = p;
    *len = n;
    return ERR_OK;
}

enum err jobfiles_write(const char *dir, const char *name, const void *p, size_t n, struct buf *msg)
{
    struct buf path;
    buf_init(&path, 4096);
    int fd = -1;
    enum err e = path_join(&path, dir, name, msg);
    if (e != ERR_OK)
        goto done;
    fd = open(buf_cstr(&path), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd == -1) {
        e = errno == EEXIST ? ERR_EXISTS : ERR_IO;
        msg_addf(msg, "cannot create output \"%s\": %s", name, strerror(errno));
        goto done;
    }
    const unsigned char *q = p;
    while (n > 0) {
        ssize_t w = write(fd, q, n);
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1) {
            e = ERR_IO;
            msg_addf(msg, "cannot write output \"%s\": %s", name, strerror(errno));
            goto done;
        }
        q += w;
        n -= (size_t)w;
    }
    if (close(fd) == -1) {
        fd = -1;
        e = ERR_IO;
        msg_addf(msg, "cannot write output \"%s\": %s", name, strerror(errno));
        goto done;
    }
    fd = -1;
done:
    if (fd != -1)
        close(fd);
    buf_release(&path);
    return e;
}

static int cmp_files(const void *a, const void *b)
{
    const struct jobspec_result_file *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* Results are at most what the spec lets kernels write (JOBSPEC_MAX_OUT_TOTAL)
 * plus small metadata files. */
#define MAX_RESULT_FILE (JOBSPEC_MAX_OUT_TOTAL + ((size_t)16 << 20))

enum err jobfiles_list(const char *dir, struct jobfiles_set *out, struct buf *msg)
{
    enum err e = ERR_OK;
    struct jobfiles_set s = {0, NULL};
    DIR *d = opendir(dir);
    if (d == NULL) {
        msg_addf(msg, "cannot open work folder \"%s\": %s", dir, strerror(errno));
        return ERR_IO;
    }
    s.files = calloc(JOBFILES_MAX_OUTPUTS, sizeof(*s.files));
    if (s.files == NULL) {
        e = ERR_NOMEM;
        goto done;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        if (!jobspec_is_safe_name(de->d_name) ||
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 || !S_ISREG(st.st_mode)) {
            e = ERR_INVAL;
            msg_addf(msg, "work folder holds \"%.64s\", which is not a plain file", de->d_name);
            goto done;
        }
        if (s.n == JOBFILES_MAX_OUTPUTS) {
            e = ERR_TOOBIG;
            msg_addf(msg, "job wrote more than %d files", JOBFILES_MAX_OUTPUTS);
            goto done;
        }
        unsigned char *data = NULL;
        size_t len = 0;
        e = jobfiles_read(dir, de->d_name, MAX_RESULT_FILE, &data, &len, msg);
        if (e != ERR_OK)
            goto done;
        struct jobspec_result_file *f = &s.files[s.n];
        f->name = strdup(de->d_name);
        if (f->name == NULL) {
            free(data);
            e = ERR_NOMEM;
            goto done;
        }
        s.n++;
        f->size_bytes = len;
        jobfiles_sha256(data, len, f->sha256);
        free(data);
    }
    qsort(s.files, s.n, sizeof(*s.files), cmp_files);
done:
    closedir(d);
    if (e != ERR_OK)
        jobfiles_set_release(&s);
    else
        *out = s;
    return e;
}

void jobfiles_set_release(struct jobfiles_set *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        free((char *)s->files[i].name);
    free(s->files);
    s->files = NULL;
    s->n = 0;
}
