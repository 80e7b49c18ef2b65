/*
 * workq -- pool threads, a FIFO of pending items, a list of finished ones
 * and an eventfd that tells the loop to run their done functions (see
 * workq.h).
 * SPDX-License-Identifier: MIT
 */
#include "workq.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct item {
    workq_work_fn work;
    workq_done_fn done;
    void *arg;
    struct item *next;
};

/* A FIFO of items. */
struct list {
    struct item *head, *tail;
};

static void list_push(struct list *l, struct item *it)
{
    it->next = NULL;
    if (l->tail)
        l->tail->next = it;
    else
        l->head = it;
    l->tail = it;
}

static struct item *list_pop(struct list *l)
{
    struct item *it = l->head;

    if (it) {
        l->head = it->next;
        if (!l->head)
            l->tail = NULL;
    }
    return it;
}

struct workq {
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* signalled when pending grows or stopping is set */
    struct list pending; /* submitted, not started */
    struct list done;    /* worked, done not yet run */
    int stopping;
    size_t outstanding; /* submitted, done not yet run (loop thread only) */
    int efd;            /* eventfd: pool threads add 1 per finished item */
    struct event *ev;
    pthread_t threads[WORKQ_MAX_THREADS];
    unsigned n_threads;
};

static void *pool_main(void *arg)
{
    struct workq *q = arg;
    uint64_t one = 1;

    pthread_mutex_lock(&q->mu);
    for (;;) {
        struct item *it;
        while (!q->pending.head && !q->stopping)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->stopping)
            break;
        it = list_pop(&q->pending);
        pthread_mutex_unlock(&q->mu);
        it->work(it->arg);
        pthread_mutex_lock(&q->mu);
        list_push(&q->done, it);
        /* An eventfd write of 1 cannot fail short of a counter overflow
         * (2^64 - 2 unread wake-ups), which the loop drains long before. */
        while (write(q->efd, &one, sizeof one) == -1 && errno == EINTR)
            ;
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* Run the done functions of every finished item, in finishing order. */
static void run_done(struct workq *q)
{
    struct list l;
    struct item *it;

    pthread_mutex_lock(&q->mu);
    l = q->done;
    q->done.head = q->done.tail = NULL;
    pthread_mutex_unlock(&q->mu);
    while ((it = list_pop(&l)) != NULL) {
        q->outstanding--;
        it->done(it->arg, ERR_OK);
        free(it);
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    uint64_t n;

    (void)what;
    /* Non-blocking: EAGAIN when a previous callback already drained it. */
    if (read(fd, &n, sizeof n) == -1 && errno != EAGAIN && errno != EINTR)
        return;
    run_done(arg);
}

enum err workq_new(struct event_base *base, unsigned n_threads, struct workq **out)
{
    struct workq *q;
    unsigned i;

    *out = NULL;
    if (n_threads < 1 || n_threads > WORKQ_MAX_THREADS)
        return ERR_INVAL;
    q = calloc(1, sizeof *q);
    if (!q)
        return ERR_NOMEM;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->efd == -1)
        goto fail;
    q->ev = event_new(base, q->efd, EV_READ | EV_PERSIST, on_wake, q);
    if (!q->ev || event_add(q->ev, NULL) == -1)
        goto fail;
    for (i = 0; i < n_threads; i++) {
        if (pthread_create(&q->threads[i], NULL, pool_main, q) != 0)
            goto fail;
        q->n_threads++;
    }
    *out = q;
    return ERR_OK;
fail:
    workq_free(q);
    return ERR_IO;
}

enum err workq_submit(struct workq *q, workq_work_fn work, workq_done_fn done, void *arg)
{
    struct item *it;

    if (!work || !done)
        return ERR_INVAL;
    if (q->stopping)
        return ERR_STATE;
    it = calloc(1, sizeof *it);
    if (!it)
        return ERR_NOMEM;
    it->work = work;
    it->done = done;
    it->arg = arg;
    pthread_mutex_lock(&q->mu);
    list_push(&q->pending, it);
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    q->outstanding++;
    return ERR_OK;
}

size_t workq_pending(const struct workq *q)
{
    return q->outstanding;
}

void workq_free(struct workq *q)
{
    struct list dropped;
    struct item *it;
    unsigned i;

    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    dropped = q->pending;
    q->pending.head = q->pending.tail = NULL;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    for (i = 0; i < q->n_threads; i++)
        pthread_join(q->threads[i], NULL);
    run_done(q); /* items that were running when we stopped */
    while ((it = list_pop(&dropped)) != NULL) {
        q->outstanding--;
        it->done(it->arg, ERR_CANCELED);
        free(it);
    }
    if (q->ev)
        event_free(q->ev);
    if (q->efd != -1)
        close(q->efd);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q);
}
