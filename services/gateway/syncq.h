/*
 * syncq -- a few threads for the gateway's blocking file-system work (the
 * store's fsync, rename and folder fsync when an upload is committed), with
 * completions delivered back to the gateway's event loop.
 *
 * An fsync takes milliseconds (one or more disk flushes); run on the event
 * loop it stalled every connection, and one at a time it capped uploads at
 * a few hundred per second. Here several run at once, so the file system
 * can fold them into shared journal commits, while the loop keeps serving.
 * syncq_submit() queues a work item; a pool thread runs its work function;
 * the done function then runs on the loop thread (an eventfd wakes the
 * loop). At most N items run at once; the rest wait in FIFO order.
 * The same design as services/jobstore/workq.h (a candidate for common/).
 * Not here: what the work is (store.h), limits on queue length (each
 * request submits at most one item, and evhttp bounds the requests).
 * Threading: create, submit and free on the loop thread; work functions run
 * on pool threads, done functions on the loop thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_GW_SYNCQ_H
#define LOOM_GW_SYNCQ_H

#include <stddef.h>

#include "err.h"

struct event_base;
struct syncq;

/* Most pool threads. */
#define SYNCQ_MAX_THREADS 64

/* Runs on a pool thread; may block. */
typedef void (*syncq_work_fn)(void *arg);

/*
 * Runs once per accepted item on the loop thread: status ERR_OK after the
 * work ran, ERR_CANCELED when syncq_free() dropped the item before it ran
 * (then from inside syncq_free()).
 */
typedef void (*syncq_done_fn)(void *arg, enum err status);

/*
 * Start <n_threads> (1..SYNCQ_MAX_THREADS) pool threads whose completions
 * run in <base> (borrowed; must outlive the queue).
 *   out: receives the queue, owned by the caller (syncq_free()).
 * Returns ERR_OK, ERR_INVAL (thread count), ERR_NOMEM, ERR_IO (eventfd,
 * event or thread creation failed).
 */
LOOM_MUST_CHECK enum err syncq_new(struct event_base *base, unsigned n_threads, struct syncq **out);

/*
 * Queue <work>(<arg>) for a pool thread; <done>(<arg>, status) runs on the
 * loop thread afterwards. <arg> is borrowed and must stay valid until done
 * runs.
 * Returns ERR_OK (done will run exactly once), ERR_INVAL (work or done
 * NULL), ERR_STATE (the queue is being freed), ERR_NOMEM (done never runs).
 */
LOOM_MUST_CHECK enum err syncq_submit(struct syncq *q, syncq_work_fn work, syncq_done_fn done,
                                      void *arg);

/* Items submitted whose done function has not run yet. */
size_t syncq_pending(const struct syncq *q);

/*
 * Stop the pool: items not started are dropped (their done runs with
 * ERR_CANCELED), items running are waited for (their done runs with
 * ERR_OK), then the threads are joined. Blocks as long as the longest
 * running item. Accepts NULL.
 */
void syncq_free(struct syncq *q);

#endif
