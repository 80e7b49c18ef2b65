/*
 * jobpipe -- progress and verdict frames from a job's child to the worker.
 *
 * SPDX-License-Identifier: MIT
 */
#include "jobpipe.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct jobpipe_writer {
    int fd;
    unsigned interval_ms;
    unsigned percent;
    unsigned sent;
    int stop;
    pthread_mutex_t mu; /* one frame at a time on the pipe; guards percent, stop */
    pthread_cond_t cv;
    pthread_t ticker;
};

static void write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1)
            return; /* parent gone: nothing useful left to do with the report */
        p += w;
        n -= (size_t)w;
    }
}

static void send_frame(int fd, char type, const unsigned char *head, size_t head_len,
                       const char *body, size_t body_len)
{
    uint32_t len = (uint32_t)(head_len + body_len);
    unsigned char hdr[5] = {(unsigned char)type, (unsigned char)len, (unsigned char)(len >> 8),
                            (unsigned char)(len >> 16), (unsigned char)(len >> 24)};
    write_all(fd, hdr, 5);
    if (head_len)
        write_all(fd, head, head_len);
    if (body_len)
        write_all(fd, (const unsigned char *)body, body_len);
}

static void *ticker_main(void *arg)
{
    struct jobpipe_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += w->interval_ms / 1000;
        ts.tv_nsec += (long)(w->interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        int rc = pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        if (w->stop)
            break;
        if (rc == ETIMEDOUT) {
            unsigned char pct = (unsigned char)w->percent;
            send_frame(w->fd, JOBPIPE_PROGRESS, &pct, 1, NULL, 0);
            w->sent = w->percent;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

enum err jobpipe_writer_start(int fd, unsigned interval_ms, struct jobpipe_writer **out)
{
    struct jobpipe_writer *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return ERR_NOMEM;
    w->fd = fd;
    w->interval_ms = interval_ms ? interval_ms : 1000;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    unsigned char zero = 0;
    send_frame(fd, JOBPIPE_PROGRESS, &zero, 1, NULL, 0);
    if (pthread_create(&w->ticker, NULL, ticker_main, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return ERR_IO;
    }
    *out = w;
    return ERR_OK;
}

void jobpipe_progress(struct jobpipe_writer *w, unsigned percent)
{
    if (percent > 100)
        percent = 100;
    pthread_mutex_lock(&w->mu);
    w->percent = percent;
    if (percent != w->sent) {
        unsigned char pct = (unsigned char)percent;
        send_frame(w->fd, JOBPIPE_PROGRESS, &pct, 1, NULL, 0);
        w->sent = percent;
    }
    pthread_mutex_unlock(&w->mu);
}

void jobpipe_writer_finish(struct jobpipe_writer *w, enum err e, const char *reason)
{
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->ticker, NULL);
    if (e == ERR_OK) {
        send_frame(w->fd, JOBPIPE_DONE, NULL, 0, NULL, 0);
    } else {
        unsigned char code = (unsigned char)e;
        size_t n = reason ? strlen(reason) : 0;
        if (n > JOBPIPE_MAX_TEXT)
            n = JOBPIPE_MAX_TEXT;
        send_frame(w->fd, JOBPIPE_ERROR, &code, 1, reason, n);
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

void jobpipe_reader_init(struct jobpipe_reader *r)
{
    /* A whole frame fits: header, code byte and the longest reason. */
    buf_init(&r->in, JOBPIPE_MAX_TEXT + 64);
    buf_init(&r->text, JOBPIPE_MAX_TEXT + 1);
}

void jobpipe_reader_release(struct jobpipe_reader *r)
{
    buf_release(&r->in);
    buf_release(&r->text);
}

enum err jobpipe_reader_feed(struct jobpipe_reader *r, const void *p, size_t n)
{
    return buf_append(&r->in, p, n);
}

enum err jobpipe_reader_next(struct jobpipe_reader *r, struct jobpipe_msg *m)
{
    if (r->in.len < 5)
        return ERR_STATE;
    const unsigned char *h = (const unsigned char *)r->in.data;
    size_t len = (size_t)h[1] | (size_t)h[2] << 8 | (size_t)h[3] << 16 | (size_t)h[4] << 24;
    if (len > JOBPIPE_MAX_TEXT + 1)
        return ERR_PROTO;
    if (r->in.len < 5 + len)
        return ERR_STATE;
    const unsigned char *body = h + 5;
    memset(m, 0, sizeof(*m));
    m->type = (enum jobpipe_type)h[0];
    enum err e = ERR_OK;
    switch (h[0]) {
    case JOBPIPE_PROGRESS:
        if (len != 1 || body[0] > 100)
            e = ERR_PROTO;
        m->percent = body[0];
        break;
    case JOBPIPE_DONE:
        if (len != 0)
            e = ERR_PROTO;
        break;
    case JOBPIPE_ERROR:
        if (len < 1 || body[0] == 0 || body[0] >= ERR__COUNT) {
            e = ERR_PROTO;
            break;
        }
        m->err = (enum err)body[0];
        buf_reset(&r->text);
        e = buf_append(&r->text, body + 1, len - 1);
        m->text = buf_cstr(&r->text);
        m->text_len = len - 1;
        break;
    default:
        e = ERR_PROTO;
    }
    buf_consume(&r->in, 5 + len);
    return e;
}
