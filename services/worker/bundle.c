/*
 * bundle -- the result archive (see bundle.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "jobfiles.h"
#include "jobspec.h"
#include "msg.h"

#define BLOCK 512
/* ustar's size field: 11 octal digits. */
#define USTAR_MAX_SIZE ((uint64_t)077777777777)

struct out {
    int fd;
    uint64_t size;
    struct sha256_ctx sha;
};

static enum err put(struct out *o, const void *p, size_t n)
{
    const unsigned char *b = p;
    sha256_update(&o->sha, n, b);
    o->size += n;
    while (n > 0) {
        ssize_t w = write(o->fd, b, n);
        if (w == -1 && errno == EINTR)
            continue;
        if (w <= 0)
            return ERR_IO;
        b += w;
        n -= (size_t)w;
    }
    return ERR_OK;
}

/* Zero bytes up to the next 512-byte boundary. */
static enum err pad(struct out *o)
{
    static const unsigned char zero[BLOCK];
    size_t rem = (size_t)(o->size % BLOCK);
    return rem == 0 ? ERR_OK : put(o, zero, BLOCK - rem);
}

static enum err header(struct out *o, const char *name, uint64_t size)
{
    unsigned char h[BLOCK];
    memset(h, 0, sizeof(h));
    size_t len = strlen(name);
    if (len > 99 || size > USTAR_MAX_SIZE)
        return ERR_TOOBIG;
    memcpy(h, name, len);
    (void)snprintf((char *)h + 100, 8, "%07o", 0644);
    (void)snprintf((char *)h + 108, 8, "%07o", 0);
    (void)snprintf((char *)h + 116, 8, "%07o", 0);
    (void)snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
    (void)snprintf((char *)h + 136, 12, "%011o", 0);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    /* The checksum is computed with its own field read as eight spaces. */
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < BLOCK; i++)
        sum += h[i];
    (void)snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
    return put(o, h, BLOCK);
}

static enum err copy_file(struct out *o, const char *dir, const char *name, uint64_t size,
                          struct buf *msg)
{
    struct buf path;
    unsigned char chunk[65536];
    uint64_t left = size;
    enum err e = ERR_OK;
    int fd = -1;
    buf_init(&path, 8192);
    if ((e = buf_appendf(&path, "%s/%s", dir, name)) != ERR_OK)
        goto out;
    fd = open(buf_cstr(&path), O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        msg_addf(msg, "cannot open output \"%s\": %s", name, strerror(errno));
        e = ERR_IO;
        goto out;
    }
    while (left > 0) {
        ssize_t r = read(fd, chunk, left < sizeof(chunk) ? (size_t)left : sizeof(chunk));
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0) {
            msg_addf(msg, "output \"%s\" is shorter than its %llu bytes", name,
                     (unsigned long long)size);
            e = ERR_IO;
            goto out;
        }
        if ((e = put(o, chunk, (size_t)r)) != ERR_OK)
            goto out;
        left -= (uint64_t)r;
    }
    e = pad(o);
out:
    if (fd != -1)
        close(fd);
    buf_release(&path);
    return e;
}

enum err bundle_write(const char *dir, const struct jobfiles_set *files, const char *path,
                      uint64_t *size, unsigned char sha256[32], struct buf *msg)
{
    static const unsigned char zero[2 * BLOCK];
    struct out o = {.fd = -1};
    struct buf manifest;
    enum err e = ERR_OK;
    buf_init(&manifest, 0);
    sha256_init(&o.sha);
    for (size_t i = 0; i < files->n; i++) {
        if (strcmp(files->files[i].name, BUNDLE_MANIFEST_NAME) == 0) {
            msg_addf(msg, "an output may not be named \"%s\"", BUNDLE_MANIFEST_NAME);
            return ERR_INVAL;
        }
    }
    if ((e = jobspec_result_encode(&manifest, 1, NULL, files->files, files->n)) != ERR_OK)
        goto out;
    o.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o.fd == -1) {
        msg_addf(msg, "cannot create \"%s\": %s", path, strerror(errno));
        e = ERR_IO;
        goto out;
    }
    if ((e = header(&o, BUNDLE_MANIFEST_NAME, manifest.len)) != ERR_OK ||
        (e = put(&o, manifest.data, manifest.len)) != ERR_OK || (e = pad(&o)) != ERR_OK)
        goto out;
    for (size_t i = 0; i < files->n; i++) {
        const struct jobspec_result_file *f = &files->files[i];
        if ((e = header(&o, f->name, f->size_bytes)) != ERR_OK ||
            (e = copy_file(&o, dir, f->name, f->size_bytes, msg)) != ERR_OK)
            goto out;
    }
    if ((e = put(&o, zero, sizeof(zero))) != ERR_OK)
        goto out;
    *size = o.size;
    sha256_digest(&o.sha, SHA256_DIGEST_SIZE, sha256);
out:
    if (e == ERR_IO && msg != NULL && msg->len == 0)
        msg_addf(msg, "cannot write \"%s\"", path);
    if (o.fd != -1 && close(o.fd) == -1 && e == ERR_OK)
        e = ERR_IO;
    buf_release(&manifest);
    return e;
}
