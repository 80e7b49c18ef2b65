/* Unit tests for the gateway's pure modules: multipart, store, validate,
 * intake framing, routes, auth (canonical text, EIP-4361, sessions),
 * ratelimit, httperr. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "services/gateway/auth.h"
#include "services/gateway/digest.h"
#include "services/gateway/httperr.h"
#include "services/gateway/intake.h"
#include "services/gateway/multipart.h"
#include "services/gateway/ratelimit.h"
#include "services/gateway/routes.h"
#include "services/gateway/store.h"
#include "services/gateway/validate.h"

/* ---- multipart ---- */

struct collect {
    struct buf log; /* "B name filename|" "D bytes" "E|" */
    struct buf data[4];
    int part;
};

static enum err c_begin(void *arg, const struct multipart_part *p)
{
    struct collect *c = arg;
    c->part++;
    return buf_appendf(&c->log, "B %s %s %s|", p->name, p->filename ? p->filename : "-",
                       p->content_type ? p->content_type : "-");
}

static enum err c_data(void *arg, const void *p, size_t n)
{
    struct collect *c = arg;
    return buf_append(&c->data[c->part - 1], p, n);
}

static enum err c_end(void *arg)
{
    struct collect *c = arg;
    return buf_append_str(&c->log, "E|");
}

static const char mp_body[] =
    "preamble to ignore\r\n"
    "--xyZZy\r\n"
    "Content-Disposition: form-data; name=\"title\"\r\n"
    "\r\n"
    "hello\r\n--xyZ not a boundary\r\n"
    "--xyZZy  \r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".bin\"\r\n"
    "Content-Type: application/octet-stream\r\n"
    "\r\n"
    "\r\n\r\n--\r\n--xyZZ\r\r\n"
    "--xyZZy--\r\n"
    "epilogue --xyZZy\r\n";

static void run_mp(const char *body, size_t n, size_t chunk, struct collect *c, enum err *fe,
                   enum err *fin)
{
    memset(c, 0, sizeof(*c));
    buf_init(&c->log, 0);
    for (int i = 0; i < 4; i++)
        buf_init(&c->data[i], 0);
    struct multipart_cbs cbs = {c_begin, c_data, c_end, c};
    struct multipart *m;
    assert_int_equal(multipart_new("xyZZy", &cbs, 1024, 8, &m), ERR_OK);
    *fe = ERR_OK;
    for (size_t off = 0; off < n && *fe == ERR_OK; off += chunk)
        *fe = multipart_feed(m, body + off, n - off < chunk ? n - off : chunk);
    *fin = multipart_finish(m);
    multipart_free(m);
}

static void free_collect(struct collect *c)
{
    buf_release(&c->log);
    for (int i = 0; i < 4; i++)
        buf_release(&c->data[i]);
}

static void test_multipart_every_split(void **state)
{
    (void)state;
    size_t n = sizeof(mp_body) - 1;
    for (size_t chunk = 1; chunk <= n; chunk++) {
        struct collect c;
        enum err fe, fin;
        run_mp(mp_body, n, chunk, &c, &fe, &fin);
        assert_int_equal(fe, ERR_OK);
        assert_int_equal(fin, ERR_OK);
        assert_string_equal(buf_cstr(&c.log),
                            "B title - -|E|B file a \"b\".bin application/octet-stream|E|");
        assert_string_equal(buf_cstr(&c.data[0]), "hello\r\n--xyZ not a boundary");
        assert_int_equal(c.data[1].len, 15);
        assert_memory_equal(c.data[1].data, "\r\n\r\n--\r\n--xyZZ\r", 15);
        free_collect(&c);
    }
}

static void test_multipart_errors(void **state)
{
    (void)state;
    struct collect c;
    enum err fe, fin;
    const char *cut = "--xyZZy\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc";
    run_mp(cut, strlen(cut), 3, &c, &fe, &fin);
    assert_int_equal(fe, ERR_OK);
    assert_int_equal(fin, ERR_INVAL); /* cut off: no closing boundary */
    free_collect(&c);
    const char *nodisp = "--xyZZy\r\nContent-Type: text/plain\r\n\r\nabc\r\n--xyZZy--";
    run_mp(nodisp, strlen(nodisp), 5, &c, &fe, &fin);
    assert_int_equal(fe, ERR_INVAL);
    free_collect(&c);
    const char *garbage = "--xyZZyX\r\n";
    run_mp(garbage, strlen(garbage), 1, &c, &fe, &fin);
    assert_int_equal(fe, ERR_INVAL);
    free_collect(&c);
    /* Header block over its 1024-byte cap. */
    struct buf big;
    buf_init(&big, 0);
    assert_int_equal(buf_append_str(&big, "--xyZZy\r\nX-Pad: "), ERR_OK);
    for (int i = 0; i < 1100; i++)
        assert_int_equal(buf_append_byte(&big, 'a'), ERR_OK);
    assert_int_equal(buf_append_str(&big, "\r\n\r\n"), ERR_OK);
    run_mp(big.data, big.len, 64, &c, &fe, &fin);
    assert_int_equal(fe, ERR_TOOBIG);
    free_collect(&c);
    buf_release(&big);
}

static void test_multipart_boundary(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 128);
    assert_int_equal(multipart_boundary("multipart/form-data; boundary=abc", &b), ERR_OK);
    assert_string_equal(buf_cstr(&b), "abc");
    buf_reset(&b);
    assert_int_equal(multipart_boundary("Multipart/Form-Data;charset=x; boundary=\"a b:c\"", &b),
                     ERR_OK);
    assert_string_equal(buf_cstr(&b), "a b:c");
    buf_reset(&b);
    assert_int_equal(multipart_boundary("multipart/form-data", &b), ERR_INVAL);
    assert_int_equal(multipart_boundary("text/plain; boundary=abc", &b), ERR_INVAL);
    assert_int_equal(multipart_boundary("multipart/form-data; boundary=\"abc \"", &b), ERR_INVAL);
    assert_int_equal(multipart_boundary(
                         "multipart/form-data; boundary="
                         "12345678901234567890123456789012345678901234567890123456789012345678901",
                         &b),
                     ERR_INVAL); /* 71 characters */
    buf_release(&b);
}

/* ---- store ---- */

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static size_t count_files(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (e->d_type == DT_DIR) {
            char sub[1024];
            snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
            n += count_files(sub);
        } else {
            n++;
        }
    }
    closedir(d);
    return n;
}

static void test_store_roundtrip(void **state)
{
    (void)state;
    char root[] = "/tmp/loom-store-test.XXXXXX";
    assert_non_null(mkdtemp(root));
    char tmpdir[256], objdir[256];
    snprintf(tmpdir, sizeof(tmpdir), "%s/s/tmp", root);
    snprintf(objdir, sizeof(objdir), "%s/s/objects", root);
    char sroot[256];
    snprintf(sroot, sizeof(sroot), "%s/s", root);
    struct store *s;
    assert_int_equal(store_open(sroot, &s), ERR_OK);
    struct store_writer *w;
    assert_int_equal(store_writer_new(s, 10, &w), ERR_OK);
    assert_int_equal(count_files(tmpdir), 0); /* small uploads start in memory */
    assert_int_equal(store_writer_write(w, "abc", 3), ERR_OK);
    assert_int_equal(store_writer_write(w, "12345678", 8), ERR_TOOBIG);
    assert_int_equal(store_writer_commit(w), ERR_STATE);
    assert_int_equal(store_writer_finish(w), ERR_OK);
    /* sha256("abc"), FIPS 180-2 appendix B.1 */
    assert_string_equal(store_writer_sha256(w),
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(store_writer_size(w), 3);
    assert_int_equal(store_writer_commit(w), ERR_OK);
    store_writer_free(w);
    assert_int_equal(count_files(tmpdir), 0);
    assert_int_equal(count_files(objdir), 1);
    int fd;
    uint64_t size;
    assert_int_equal(
        store_open_object(s, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                          &fd, &size),
        ERR_OK);
    char got[4] = {0};
    assert_int_equal(read(fd, got, 3), 3);
    close(fd);
    assert_string_equal(got, "abc");
    assert_int_equal(size, 3);
    assert_int_equal(store_open_object(s, "../../etc/passwd", &fd, &size), ERR_INVAL);
    assert_int_equal(
        store_open_object(s, "0000000000000000000000000000000000000000000000000000000000000000",
                          &fd, &size),
        ERR_NOTFOUND);
    /* A writer freed without commit leaves nothing. */
    assert_int_equal(store_writer_new(s, 100, &w), ERR_OK);
    assert_int_equal(store_writer_write(w, "zzz", 3), ERR_OK);
    store_writer_free(w);
    assert_int_equal(count_files(tmpdir), 0);
    /* Dedup: same content twice is one object; uncommit of the second keeps it. */
    assert_int_equal(store_writer_new(s, 100, &w), ERR_OK);
    assert_int_equal(store_writer_write(w, "abc", 3), ERR_OK);
    assert_int_equal(store_writer_finish(w), ERR_OK);
    assert_int_equal(store_writer_commit(w), ERR_OK);
    store_writer_uncommit(w);
    store_writer_free(w);
    assert_int_equal(count_files(objdir), 1);
    /* Uncommit of a new object removes it. */
    assert_int_equal(store_writer_new(s, 100, &w), ERR_OK);
    assert_int_equal(store_writer_write(w, "new", 3), ERR_OK);
    assert_int_equal(store_writer_finish(w), ERR_OK);
    assert_int_equal(store_writer_commit(w), ERR_OK);
    assert_int_equal(count_files(objdir), 2);
    store_writer_uncommit(w);
    store_writer_free(w);
    assert_int_equal(count_files(objdir), 1);
    /* Two requests upload the same new content: the first creates the
     * object, the second finds it; the first's create then fails and is
     * undone, but the second may be recorded already: the object stays. */
    struct store_writer *w2 = NULL;
    assert_int_equal(store_writer_new(s, 100, &w), ERR_OK);
    assert_int_equal(store_writer_new(s, 100, &w2), ERR_OK);
    assert_int_equal(store_writer_write(w, "twin", 4), ERR_OK);
    assert_int_equal(store_writer_write(w2, "twin", 4), ERR_OK);
    assert_int_equal(store_writer_finish(w), ERR_OK);
    assert_int_equal(store_writer_finish(w2), ERR_OK);
    assert_int_equal(store_writer_commit(w), ERR_OK);
    assert_int_equal(store_writer_commit(w2), ERR_OK);
    assert_int_equal(count_files(objdir), 2);
    store_writer_free(w2);
    store_writer_uncommit(w);
    store_writer_free(w);
    assert_int_equal(count_files(objdir), 2);
    /* Once its creator's request is recorded (freed without uncommit), a
     * later failed upload of the same content never removes it. */
    assert_int_equal(store_writer_new(s, 100, &w), ERR_OK);
    assert_int_equal(store_writer_write(w, "kept", 4), ERR_OK);
    assert_int_equal(store_writer_finish(w), ERR_OK);
    assert_int_equal(store_writer_commit(w), ERR_OK);
    store_writer_free(w);
    assert_int_equal(store_writer_new(s, 100, &w), ERR_OK);
    assert_int_equal(store_writer_write(w, "kept", 4), ERR_OK);
    assert_int_equal(store_writer_finish(w), ERR_OK);
    assert_int_equal(store_writer_commit(w), ERR_OK);
    store_writer_uncommit(w);
    store_writer_free(w);
    assert_int_equal(count_files(objdir), 3);
    /* Past 64 KiB an upload moves to a file in tmp/; its read-back and its
     * object hold every byte, in memory or on disk. */
    static char big[64 * 1024 + 1];
    memset(big, 'b', sizeof big);
    struct buf back;
    buf_init(&back, sizeof big + 1);
    assert_int_equal(store_writer_new(s, sizeof big, &w), ERR_OK);
    assert_int_equal(store_writer_write(w, big, sizeof big - 1), ERR_OK);
    assert_int_equal(count_files(tmpdir), 0);
    assert_int_equal(store_writer_write(w, big, 1), ERR_OK);
    assert_int_equal(count_files(tmpdir), 1);
    assert_int_equal(store_writer_finish(w), ERR_OK);
    assert_int_equal(store_writer_read(w, sizeof big, &back), ERR_OK);
    assert_int_equal(back.len, sizeof big);
    assert_memory_equal(back.data, big, sizeof big);
    assert_int_equal(store_writer_commit(w), ERR_OK);
    store_writer_free(w);
    assert_int_equal(count_files(tmpdir), 0);
    assert_int_equal(count_files(objdir), 4);
    buf_reset(&back);
    assert_int_equal(store_writer_new(s, 100, &w), ERR_OK);
    assert_int_equal(store_writer_write(w, "mem", 3), ERR_OK);
    assert_int_equal(store_writer_finish(w), ERR_OK);
    assert_int_equal(store_writer_read(w, 2, &back), ERR_TOOBIG);
    assert_int_equal(store_writer_read(w, 100, &back), ERR_OK);
    assert_string_equal(back.data, "mem");
    store_writer_free(w);
    assert_int_equal(count_files(tmpdir), 0);
    buf_release(&back);
    store_free(s);
    nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* A finished writer holding <content>. */
static struct store_writer *mkw(struct store *s, const char *content, size_t n)
{
    struct store_writer *w;
    assert_int_equal(store_writer_new(s, 1 << 20, &w), ERR_OK);
    assert_int_equal(store_writer_write(w, content, n), ERR_OK);
    assert_int_equal(store_writer_finish(w), ERR_OK);
    return w;
}

static struct store_writer *mkws(struct store *s, const char *content)
{
    return mkw(s, content, strlen(content));
}

/* Whether the object of <content> exists, with exactly that content. */
static int has_object(struct store *s, const char *content, size_t n)
{
    char hex[65];
    digest_sha256_hex(content, n, hex);
    int fd;
    uint64_t size;
    if (store_open_object(s, hex, &fd, &size) != ERR_OK)
        return 0;
    char *got = malloc(n + 1);
    int same = size == n && read(fd, got, n + 1) == (ssize_t)n && memcmp(got, content, n) == 0;
    free(got);
    close(fd);
    return same;
}

struct store_fx {
    char root[64];
    char sroot[128], tmpdir[128], objdir[128];
    struct store *s;
};

static void store_fx_open(struct store_fx *f)
{
    snprintf(f->root, sizeof(f->root), "/tmp/loom-store-test.XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->sroot, sizeof(f->sroot), "%s/s", f->root);
    snprintf(f->tmpdir, sizeof(f->tmpdir), "%s/s/tmp", f->root);
    snprintf(f->objdir, sizeof(f->objdir), "%s/s/objects", f->root);
    assert_int_equal(store_open(f->sroot, &f->s), ERR_OK);
}

static void store_fx_close(struct store_fx *f)
{
    store_free(f->s);
    nftw(f->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Content already stored commits without a file or an fsync; new content
 * is left to store_commit_batch(). */
static void test_store_commit_existing(void **state)
{
    (void)state;
    struct store_fx f;
    store_fx_open(&f);
    struct store_writer *w = mkws(f.s, "abc");
    assert_int_equal(store_writer_commit_existing(w), ERR_NOTFOUND);
    struct buf back;
    buf_init(&back, 100);
    assert_int_equal(store_writer_read(w, 100, &back), ERR_OK); /* unchanged */
    assert_string_equal(back.data, "abc");
    assert_int_equal(store_writer_commit(w), ERR_OK);
    assert_int_equal(store_writer_commit_existing(w), ERR_STATE); /* committed already */
    store_writer_free(w);
    struct store_writer *open_w;
    assert_int_equal(store_writer_new(f.s, 100, &open_w), ERR_OK);
    assert_int_equal(store_writer_commit_existing(open_w), ERR_STATE); /* not finished */
    store_writer_free(open_w);
    /* The same content again: committed on the spot; its uncommit keeps the
     * object (it did not create it). */
    w = mkws(f.s, "abc");
    assert_int_equal(store_writer_commit_existing(w), ERR_OK);
    buf_reset(&back);
    assert_int_equal(store_writer_read(w, 100, &back), ERR_STATE);
    store_writer_uncommit(w);
    store_writer_free(w);
    assert_int_equal(count_files(f.objdir), 1);
    assert_true(has_object(f.s, "abc", 3));
    /* A creator still pending (its request not yet recorded) whose object a
     * second writer shares: the creator's undo keeps the object. */
    struct store_writer *creator = mkws(f.s, "twin");
    assert_int_equal(store_writer_commit(creator), ERR_OK);
    w = mkws(f.s, "twin");
    assert_int_equal(store_writer_commit_existing(w), ERR_OK);
    store_writer_free(w);
    store_writer_uncommit(creator);
    store_writer_free(creator);
    assert_true(has_object(f.s, "twin", 4));
    /* An undone creation is gone for the next writer. */
    creator = mkws(f.s, "gone");
    assert_int_equal(store_writer_commit(creator), ERR_OK);
    store_writer_uncommit(creator);
    store_writer_free(creator);
    w = mkws(f.s, "gone");
    assert_int_equal(store_writer_commit_existing(w), ERR_NOTFOUND);
    store_writer_free(w);
    assert_false(has_object(f.s, "gone", 4));
    /* A large upload (in tmp/) of stored content: its file goes at once. */
    static char big[70000];
    memset(big, 'g', sizeof big);
    w = mkw(f.s, big, sizeof big);
    assert_int_equal(count_files(f.tmpdir), 1);
    assert_int_equal(store_writer_commit(w), ERR_OK);
    store_writer_free(w);
    w = mkw(f.s, big, sizeof big);
    assert_int_equal(count_files(f.tmpdir), 1);
    assert_int_equal(store_writer_commit_existing(w), ERR_OK);
    assert_int_equal(count_files(f.tmpdir), 0);
    store_writer_free(w);
    assert_int_equal(count_files(f.objdir), 3); /* abc, twin, big */
    buf_release(&back);
    store_fx_close(&f);
}

/* Several writers in one commit: new, a duplicate within the batch, stored
 * already, unfinished, large. */
static void test_store_commit_batch(void **state)
{
    (void)state;
    struct store_fx f;
    store_fx_open(&f);
    struct store_writer *w0 = mkws(f.s, "abc");
    assert_int_equal(store_writer_commit(w0), ERR_OK);
    store_writer_free(w0);
    static char big[70000];
    memset(big, 'x', sizeof big);
    struct store_writer *ws[6];
    ws[0] = mkws(f.s, "one");
    ws[1] = mkws(f.s, "two");
    ws[2] = mkws(f.s, "one");
    ws[3] = mkws(f.s, "abc");
    assert_int_equal(store_writer_new(f.s, 100, &ws[4]), ERR_OK); /* never finished */
    ws[5] = mkw(f.s, big, sizeof big);
    enum err st[6];
    assert_int_equal(store_commit_batch(f.s, ws, 6, st), ERR_OK);
    assert_int_equal(st[0], ERR_OK);
    assert_int_equal(st[1], ERR_OK);
    assert_int_equal(st[2], ERR_OK);
    assert_int_equal(st[3], ERR_OK);
    assert_int_equal(st[4], ERR_STATE);
    assert_int_equal(st[5], ERR_OK);
    assert_int_equal(count_files(f.tmpdir), 0);
    assert_int_equal(count_files(f.objdir), 4); /* abc, one, two, big */
    assert_true(has_object(f.s, "one", 3));
    assert_true(has_object(f.s, "two", 3));
    assert_true(has_object(f.s, big, sizeof big));
    /* Committed writers are refused a second time; nothing changes. */
    assert_int_equal(store_commit_batch(f.s, ws, 2, st), ERR_OK);
    assert_int_equal(st[0], ERR_STATE);
    assert_int_equal(st[1], ERR_STATE);
    /* "one" has one creator among ws[0], ws[2] and the other shares it:
     * undoing both keeps it (the sharer may be recorded), "two" goes. */
    store_writer_uncommit(ws[0]);
    store_writer_uncommit(ws[2]);
    store_writer_uncommit(ws[1]);
    assert_true(has_object(f.s, "one", 3));
    assert_false(has_object(f.s, "two", 3));
    assert_int_equal(count_files(f.objdir), 3);
    for (size_t i = 0; i < 6; i++)
        store_writer_free(ws[i]);
    assert_int_equal(store_commit_batch(f.s, ws, 0, st), ERR_OK); /* empty: nothing */
    store_fx_close(&f);
}

/* A commit that fails fails its own writers only and leaves no file. */
static void test_store_commit_failures(void **state)
{
    (void)state;
    struct store_fx f;
    store_fx_open(&f);
    /* The fan folder of "abc" (ba/) is a regular file: its link fails. */
    char fan[256];
    snprintf(fan, sizeof(fan), "%s/ba", f.objdir);
    FILE *fp = fopen(fan, "w");
    assert_non_null(fp);
    fclose(fp);
    struct store_writer *ws[2] = {mkws(f.s, "abc"), mkws(f.s, "fine")};
    assert_int_equal(store_writer_commit_existing(ws[0]), ERR_NOTFOUND);
    enum err st[2];
    assert_int_equal(store_commit_batch(f.s, ws, 2, st), ERR_OK);
    assert_int_equal(st[0], ERR_IO);
    assert_int_equal(st[1], ERR_OK);
    assert_int_equal(count_files(f.tmpdir), 1); /* the failed one's file, until freed */
    store_writer_free(ws[0]);
    store_writer_free(ws[1]);
    assert_int_equal(count_files(f.tmpdir), 0);
    assert_int_equal(count_files(f.objdir), 2); /* the file "ba" and "fine" */
    assert_true(has_object(f.s, "fine", 4));
    assert_int_equal(unlink(fan), 0);
    struct store_writer *w = mkws(f.s, "abc");
    assert_int_equal(store_writer_commit(w), ERR_OK); /* the fan folder is made now */
    store_writer_free(w);
    assert_true(has_object(f.s, "abc", 3));
    /* tmp/ is gone: a small upload cannot get its file; a stored one needs none. */
    assert_int_equal(rmdir(f.tmpdir), 0);
    ws[0] = mkws(f.s, "no room");
    ws[1] = mkws(f.s, "abc");
    assert_int_equal(store_commit_batch(f.s, ws, 2, st), ERR_OK);
    assert_int_equal(st[0], ERR_IO);
    assert_int_equal(st[1], ERR_OK);
    store_writer_free(ws[0]);
    store_writer_free(ws[1]);
    assert_false(has_object(f.s, "no room", 7));
    assert_int_equal(mkdir(f.tmpdir, 0750), 0);
    w = mkws(f.s, "no room");
    assert_int_equal(store_writer_commit(w), ERR_OK);
    store_writer_free(w);
    assert_true(has_object(f.s, "no room", 7));
    assert_int_equal(count_files(f.tmpdir), 0);
    store_fx_close(&f);
}

/* Threads committing shared and distinct content at once, the gateway's
 * way (on-the-spot commit first, then a batch), some of them undoing their
 * commit as a failed request would. */
#define CC_THREADS 6
#define CC_ROUNDS  40
#define CC_SHARED  5

struct cc_arg {
    struct store *s;
    int id;
    int recorded_shared[CC_SHARED]; /* committed and kept by this thread */
    int kept_own[CC_ROUNDS];        /* this thread's own content kept */
    int failures;
};

static void *cc_main(void *p)
{
    struct cc_arg *a = p;
    for (int r = 0; r < CC_ROUNDS; r++) {
        char shared[32], own[32];
        snprintf(shared, sizeof(shared), "shared-%d", r % CC_SHARED);
        snprintf(own, sizeof(own), "own-%d-%d", a->id, r);
        struct store_writer *ws[2];
        if (store_writer_new(a->s, 100, &ws[0]) != ERR_OK ||
            store_writer_new(a->s, 100, &ws[1]) != ERR_OK) {
            a->failures++;
            return NULL;
        }
        if (store_writer_write(ws[0], shared, strlen(shared)) != ERR_OK ||
            store_writer_write(ws[1], own, strlen(own)) != ERR_OK ||
            store_writer_finish(ws[0]) != ERR_OK || store_writer_finish(ws[1]) != ERR_OK)
            a->failures++;
        struct store_writer *left[2];
        enum err st[2];
        size_t n = 0;
        for (size_t i = 0; i < 2; i++) {
            enum err e = store_writer_commit_existing(ws[i]);
            if (e == ERR_NOTFOUND)
                left[n++] = ws[i];
            else if (e != ERR_OK)
                a->failures++;
        }
        if (n > 0 && store_commit_batch(a->s, left, n, st) != ERR_OK)
            a->failures++;
        for (size_t i = 0; i < n; i++)
            if (st[i] != ERR_OK)
                a->failures++;
        int undo = (r + a->id) % 4 == 0; /* a request whose record failed */
        if (undo) {
            store_writer_uncommit(ws[0]);
            store_writer_uncommit(ws[1]);
        } else {
            a->recorded_shared[r % CC_SHARED] = 1;
            a->kept_own[r] = 1;
        }
        store_writer_free(ws[0]);
        store_writer_free(ws[1]);
    }
    return NULL;
}

static void test_store_concurrent_commits(void **state)
{
    (void)state;
    struct store_fx f;
    store_fx_open(&f);
    pthread_t th[CC_THREADS];
    static struct cc_arg args[CC_THREADS];
    for (int t = 0; t < CC_THREADS; t++) {
        memset(&args[t], 0, sizeof(args[t]));
        args[t].s = f.s;
        args[t].id = t;
        assert_int_equal(pthread_create(&th[t], NULL, cc_main, &args[t]), 0);
    }
    for (int t = 0; t < CC_THREADS; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);
    size_t kept = 0;
    for (int t = 0; t < CC_THREADS; t++) {
        assert_int_equal(args[t].failures, 0);
        for (int k = 0; k < CC_SHARED; k++) {
            char shared[32];
            snprintf(shared, sizeof(shared), "shared-%d", k);
            if (args[t].recorded_shared[k])
                assert_true(has_object(f.s, shared, strlen(shared)));
        }
        for (int r = 0; r < CC_ROUNDS; r++) {
            char own[32];
            snprintf(own, sizeof(own), "own-%d-%d", t, r);
            assert_int_equal(has_object(f.s, own, strlen(own)), args[t].kept_own[r]);
            kept += (size_t)args[t].kept_own[r];
        }
    }
    /* Undone rounds: (r + id) % 4 == 0, 10 of 40 per thread. */
    assert_int_equal(kept, (size_t)CC_THREADS * CC_ROUNDS * 3 / 4);
    assert_int_equal(count_files(f.tmpdir), 0);
    store_fx_close(&f);
}

/* ---- validate ---- */

static void test_validate(void **state)
{
    (void)state;
    assert_int_equal(validate_filename("data.csv"), ERR_OK);
    assert_int_equal(validate_filename("..."), ERR_INVAL);
    assert_int_equal(validate_filename("../x"), ERR_INVAL);
    assert_int_equal(validate_filename("a/b"), ERR_INVAL);
    assert_int_equal(validate_filename("a\\b"), ERR_INVAL);
    assert_int_equal(validate_filename("."), ERR_INVAL);
    assert_int_equal(validate_filename(""), ERR_INVAL);
    assert_int_equal(validate_filename("a\nb"), ERR_INVAL);
    assert_int_equal(validate_filename("a\x7f"), ERR_INVAL);
    char longname[300];
    memset(longname, 'a', 256);
    longname[256] = '\0';
    assert_int_equal(validate_filename(longname), ERR_INVAL);
    longname[255] = '\0';
    assert_int_equal(validate_filename(longname), ERR_OK);
    assert_int_equal(validate_address("0x52908400098527886E0F7030069857D2E4169EE7"), ERR_OK);
    assert_int_equal(validate_address("0x52908400098527886E0F7030069857D2E4169EE"), ERR_INVAL);
    assert_int_equal(validate_address("0x52908400098527886E0F7030069857D2E4169EEG"), ERR_INVAL);
    assert_true(validate_address_equal("0xabcdef0000000000000000000000000000000000",
                                       "0xABCDEF0000000000000000000000000000000000"));
    int64_t v;
    assert_int_equal(validate_int64("42", 1, 100, &v), ERR_OK);
    assert_int_equal(v, 42);
    assert_int_equal(validate_int64("-9223372036854775808", INT64_MIN, 0, &v), ERR_OK);
    assert_true(v == INT64_MIN);
    assert_int_equal(validate_int64("9223372036854775808", 0, INT64_MAX, &v), ERR_RANGE);
    assert_int_equal(validate_int64("0", 1, 10, &v), ERR_RANGE);
    assert_int_equal(validate_int64("007", 0, 10, &v), ERR_INVAL);
    assert_int_equal(validate_int64("1e3", 0, 10000, &v), ERR_INVAL);
    assert_int_equal(validate_int64("", 0, 10, &v), ERR_INVAL);
    assert_int_equal(validate_nonce("abcdEFGH_-12"), ERR_OK);
    assert_int_equal(validate_nonce("short"), ERR_INVAL);
    assert_int_equal(validate_nonce("has space x"), ERR_INVAL);
}

/* ---- intake ---- */

static enum intake_sink classify_all_buffer(void *arg, const struct intake_head *h)
{
    (void)arg;
    (void)h;
    return INTAKE_SINK_BUFFER;
}

static void test_intake_head(void **state)
{
    (void)state;
    struct intake_head h;
    struct buf rw;
    buf_init(&rw, 0);
    const char *ok = "POST /api/jobs?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                     "Expect: 100-continue\r\nContent-Type: application/json\r\n\r\n";
    assert_int_equal(intake_parse_head(ok, strlen(ok), &h, &rw), ERR_OK);
    assert_string_equal(h.method, "POST");
    assert_string_equal(h.target, "/api/jobs?x=1");
    assert_int_equal(h.content_length, 5);
    assert_int_equal(h.expect_continue, 1);
    assert_string_equal(h.content_type, "application/json");
    assert_string_equal(buf_cstr(&rw),
                        "POST /api/jobs?x=1 HTTP/1.1\r\nHost: a\r\n"
                        "Content-Type: application/json\r\nContent-Length: 0\r\n\r\n");
    intake_head_release(&h);
    const char *bad[] = {
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        "POST / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
        "POST / HTTP/2.0\r\n\r\n",
        "POST  / HTTP/1.1\r\n\r\n",
        "POST / HTTP/1.1\r\nBad Name: x\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        buf_reset(&rw);
        assert_int_equal(intake_parse_head(bad[i], strlen(bad[i]), &h, &rw), ERR_INVAL);
    }
    buf_release(&rw);
}

static void test_intake_chunked_every_split(void **state)
{
    (void)state;
    static const char req[] = "PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nTrailer: x\r\n\r\n"
                              "GET /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz";
    struct intake_limits lim = {100, 100, 1024, 1024, 4, 100};
    struct intake *in;
    assert_int_equal(intake_new(NULL, &lim, classify_all_buffer, NULL, &in), ERR_OK);
    for (size_t chunk = 1; chunk < sizeof(req); chunk++) {
        struct intake_body *out[4];
        size_t n = 0;
        assert_int_equal(intake_feed_for_test(in, req, sizeof(req) - 1, chunk, out, &n, 4), ERR_OK);
        assert_int_equal(n, 2);
        assert_int_equal(out[0]->err, ERR_OK);
        assert_string_equal(buf_cstr(&out[0]->data), "hello world");
        /* sha256("hello world") */
        assert_string_equal(out[0]->sha256,
                            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
        assert_string_equal(buf_cstr(&out[1]->data), "xyz");
        intake_body_free(out[0]);
        intake_body_free(out[1]);
    }
    /* Over the cap: refused at the head; its body is skipped, not kept, and
     * the next request on the connection is read normally. */
    struct buf big;
    buf_init(&big, 0);
    assert_int_equal(buf_append_str(&big, "POST /a HTTP/1.1\r\nContent-Length: 101\r\n\r\n"),
                     ERR_OK);
    for (int i = 0; i < 101; i++)
        assert_int_equal(buf_append_byte(&big, 'x'), ERR_OK);
    assert_int_equal(buf_append_str(&big, "GET /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nok"),
                     ERR_OK);
    struct intake_body *out[2];
    size_t n = 0;
    assert_int_equal(intake_feed_for_test(in, big.data, big.len, 7, out, &n, 2), ERR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0]->err, ERR_TOOBIG);
    assert_int_equal(out[0]->data.len, 0);
    assert_int_equal(out[1]->err, ERR_OK);
    assert_string_equal(buf_cstr(&out[1]->data), "ok");
    intake_body_free(out[0]);
    intake_body_free(out[1]);
    buf_release(&big);
    static const char badchunk[] = "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    assert_int_equal(intake_feed_for_test(in, badchunk, sizeof(badchunk) - 1, 3, out, &n, 2),
                     ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0]->err, ERR_INVAL);
    intake_body_free(out[0]);
    intake_free(in);
}

/* ---- routes ---- */

static void test_routes(void **state)
{
    (void)state;
    const struct route *r = NULL;
    struct route_params p;
    buf_init(&p.name, 1024);
    assert_int_equal(routes_match("GET", "/api/jobs/42/files/data%20set.csv", &r, &p), ERR_OK);
    assert_int_equal(r->id, ROUTE_JOB_FILE_GET);
    assert_int_equal(p.id, 42);
    assert_string_equal(buf_cstr(&p.name), "data set.csv");
    assert_int_equal(routes_match("GET", "/api/projects/7", &r, &p), ERR_OK);
    assert_int_equal(r->id, ROUTE_JOB_GET);
    assert_int_equal(p.id, 7);
    assert_int_equal(routes_match("POST", "/api/projects", &r, &p), ERR_OK);
    assert_int_equal(r->id, ROUTE_JOBS_CREATE);
    assert_int_equal(routes_match("DELETE", "/api/jobs/1", &r, &p), ERR_STATE);
    assert_int_equal(routes_match("GET", "/api/nope", &r, &p), ERR_NOTFOUND);
    assert_int_equal(routes_match("GET", "/api/projectsX", &r, &p), ERR_NOTFOUND);
    assert_int_equal(routes_match("GET", "/api/jobs/abc", &r, &p), ERR_INVAL);
    assert_int_equal(routes_match("GET", "/api/jobs/0", &r, &p), ERR_INVAL);
    assert_int_equal(routes_match("GET", "/api/jobs/1/files/..%2Fetc%2Fpasswd", &r, &p), ERR_INVAL);
    assert_int_equal(routes_match("GET", "/api/jobs/1/files/%00", &r, &p), ERR_INVAL);
    for (size_t i = 0; i < ROUTE__COUNT; i++)
        assert_int_equal(routes_table[i].id, (int)i);
    buf_release(&p.name);
}

/* ---- auth ---- */

static void test_auth_canonical(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(
        auth_canonical("PUT", "/api/jobs/1/progress", "e3b0", "1700000000", "nonce123", &b),
        ERR_OK);
    assert_string_equal(buf_cstr(&b),
                        "loom-request-v1\nPUT\n/api/jobs/1/progress\ne3b0\n1700000000\nnonce123");
    buf_release(&b);
}

static void test_auth_siwe(void **state)
{
    (void)state;
    /* The example message of EIP-4361, with our own domain and times. */
    const char *m = "example.com wants you to sign in with your Ethereum account:\n"
                    "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n"
                    "\n"
                    "I accept the Terms of Service: https://example.com/tos\n"
                    "\n"
                    "URI: https://example.com/login\n"
                    "Version: 1\n"
                    "Chain ID: 1\n"
                    "Nonce: 32891756\n"
                    "Issued At: 2021-09-30T16:25:24Z\n"
                    "Expiration Time: 2021-09-30T17:25:24.000+01:00\n"
                    "Resources:\n"
                    "- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/\n"
                    "- https://example.com/my-web2-claim.json";
    struct auth_siwe s;
    struct buf msg;
    buf_init(&msg, 512);
    assert_int_equal(auth_siwe_parse(m, &s, &msg), ERR_OK);
    assert_string_equal(s.domain, "example.com");
    assert_string_equal(s.address, "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2");
    assert_string_equal(s.statement, "I accept the Terms of Service: https://example.com/tos");
    assert_string_equal(s.uri, "https://example.com/login");
    assert_int_equal(s.chain_id, 1);
    assert_string_equal(s.nonce, "32891756");
    assert_int_equal(s.issued_at, 1633019124);
    assert_int_equal(s.expiration, 1633019124); /* 17:25 at +01:00 is 16:25Z */
    assert_int_equal(auth_siwe_check(&s, "example.com", 1, 1633019100, 60, &msg), ERR_OK);
    assert_int_equal(auth_siwe_check(&s, "evil.com", 1, 1633019100, 60, &msg), ERR_AUTH);
    assert_int_equal(auth_siwe_check(&s, "example.com", 5, 1633019100, 60, &msg), ERR_AUTH);
    assert_int_equal(auth_siwe_check(&s, "example.com", 1, 1633019124, 60, &msg), ERR_AUTH);
    assert_string_equal(buf_cstr(&msg), "sign-in message expired");
    auth_siwe_release(&s);
    /* No statement: address, two empty lines, URI. */
    const char *m2 = "a.b wants you to sign in with your Ethereum account:\n"
                     "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n\n\n"
                     "URI: https://a.b\nVersion: 1\nChain ID: 31337\nNonce: abcdefgh12\n"
                     "Issued At: 2026-01-01T00:00:00Z";
    assert_int_equal(auth_siwe_parse(m2, &s, &msg), ERR_OK);
    assert_null(s.statement);
    assert_int_equal(s.chain_id, 31337);
    auth_siwe_release(&s);
    const char *bad = "a.b wants you to sign in with your Ethereum account:\n0x12\n\n\nURI: x";
    assert_int_equal(auth_siwe_parse(bad, &s, &msg), ERR_INVAL);
    assert_string_equal(buf_cstr(&msg),
                        "malformed sign-in message: second line must be the 0x address");
    const char *shortnonce = "a.b wants you to sign in with your Ethereum account:\n"
                             "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n\n\n"
                             "URI: https://a.b\nVersion: 1\nChain ID: 1\nNonce: abc\n"
                             "Issued At: 2026-01-01T00:00:00Z";
    assert_int_equal(auth_siwe_parse(shortnonce, &s, &msg), ERR_INVAL);
    int64_t t;
    assert_int_equal(auth_parse_rfc3339("1970-01-01T00:00:00Z", &t), ERR_OK);
    assert_int_equal(t, 0);
    assert_int_equal(auth_parse_rfc3339("2026-13-01T00:00:00Z", &t), ERR_INVAL);
    assert_int_equal(auth_parse_rfc3339("2026-01-01 00:00:00Z", &t), ERR_INVAL);
    buf_release(&msg);
}

static void test_auth_session(void **state)
{
    (void)state;
    unsigned char key[32];
    memset(key, 7, sizeof(key));
    struct buf tok;
    buf_init(&tok, 512);
    assert_int_equal(
        auth_session_issue(key, 32, "0xABCDEF0000000000000000000000000000000001", 2000000000, &tok),
        ERR_OK);
    char *addr = NULL;
    assert_int_equal(auth_session_check(key, 32, tok.data, 1900000000, &addr), ERR_OK);
    assert_string_equal(addr, "0xabcdef0000000000000000000000000000000001");
    free(addr);
    assert_int_equal(auth_session_check(key, 32, tok.data, 2000000001, &addr), ERR_AUTH);
    tok.data[5] = tok.data[5] == 'a' ? 'b' : 'a'; /* tamper with the address */
    assert_int_equal(auth_session_check(key, 32, tok.data, 1900000000, &addr), ERR_AUTH);
    buf_release(&tok);
    struct buf v;
    buf_init(&v, 64);
    assert_int_equal(auth_cookie_get("a=1; loom_session=xyz; b=2", "loom_session", &v), ERR_OK);
    assert_string_equal(buf_cstr(&v), "xyz");
    assert_int_equal(auth_cookie_get("xloom_session=1", "loom_session", &v), ERR_NOTFOUND);
    buf_release(&v);
}

/* ---- ratelimit, httperr ---- */

static void test_ratelimit(void **state)
{
    (void)state;
    struct ratelimit *rl;
    assert_int_equal(ratelimit_new(1.0, 2.0, 2, &rl), ERR_OK);
    assert_int_equal(ratelimit_take(rl, "a", 0), 0);
    assert_int_equal(ratelimit_take(rl, "a", 0), 0);
    assert_int_equal(ratelimit_take(rl, "a", 0), 1);    /* empty: one token per second */
    assert_int_equal(ratelimit_take(rl, "a", 1000), 0); /* refilled one */
    assert_int_equal(ratelimit_take(rl, "b", 1000), 0);
    assert_int_equal(ratelimit_take(rl, "c", 1000), 1); /* table full, nobody idle */
    assert_int_equal(ratelimit_size(rl), 2);
    assert_int_equal(ratelimit_take(rl, "c", 10000), 0); /* idle buckets swept */
    ratelimit_free(rl);
    assert_int_equal(httperr_status(ERR_NOTFOUND), 404);
    assert_int_equal(httperr_status(ERR_TOOBIG), 413);
    assert_int_equal(httperr_status(ERR_AUTH), 401);
    assert_int_equal(httperr_status(ERR_PERM), 403);
    assert_int_equal(httperr_status(ERR_UNAVAILABLE), 503);
    assert_int_equal(httperr_status(HTTPERR_RATE_LIMITED), 429);
    assert_string_equal(httperr_code(HTTPERR_RATE_LIMITED), "rate_limited");
    assert_string_equal(httperr_code(ERR_NOTFOUND), "not_found");
    assert_int_equal(httperr_status(-1), 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multipart_every_split),
        cmocka_unit_test(test_multipart_errors),
        cmocka_unit_test(test_multipart_boundary),
        cmocka_unit_test(test_store_roundtrip),
        cmocka_unit_test(test_store_commit_existing),
        cmocka_unit_test(test_store_commit_batch),
        cmocka_unit_test(test_store_commit_failures),
        cmocka_unit_test(test_store_concurrent_commits),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_intake_head),
        cmocka_unit_test(test_intake_chunked_every_split),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_auth_canonical),
        cmocka_unit_test(test_auth_siwe),
        cmocka_unit_test(test_auth_session),
        cmocka_unit_test(test_ratelimit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
