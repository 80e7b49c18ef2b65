/*
 * workq -- a small pool of threads for blocking work, with completions
 * delivered back to a libevent loop.
 *
 * The job store's requests block on PostgreSQL and the gateway's upload
 * commits on the disk (fsync), while the bus, HTTP and metrics live on one
 * event-loop thread. workq_submit() queues a work item;
 * a pool thread runs its work function; the done function then runs on the
 * loop thread (an eventfd wakes the loop), where replying, publishing and
 * metrics are safe. With N threads at most N items run at once; the rest
 * wait in FIFO order, so one slow item holds one thread and never the loop.
 * Not here: what the work is (the job store's ops.c, the gateway's commits),
 * limits on queue length (the caller counts what it submitted).
 * Threading: create, submit and free on the loop thread; work functions
 * run on pool threads, done functions on the loop thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_COMMON_WORKQ_H
#define LOOM_COMMON_WORKQ_H

#include <stddef.h>

#include "err.h"

struct event_base;
struct workq;

/* Most pool threads: the database pool's cap (db.h), since every item
 * holds one connection at most. */
#define WORKQ_MAX_THREADS 64

/* Runs on a pool thread; may block. */
typedef void (*workq_work_fn)(void *arg);

/*
 * Runs once per accepted item on the loop thread: status ERR_OK after the
 * work ran, ERR_CANCELED when workq_free() dropped the item before it ran
 * (then from inside workq_free()).
 */
typedef void (*workq_done_fn)(void *arg, enum err status);

/*
 * Start <n_threads> (1..WORKQ_MAX_THREADS) pool threads whose completions
 * run in <base> (borrowed; must outlive the queue).
 *   out: receives the queue, owned by the caller (workq_free()).
 * Returns ERR_OK, ERR_INVAL (thread count), ERR_NOMEM, ERR_IO (eventfd,
 * event or thread creation failed).
 */
LOOM_MUST_CHECK enum err workq_new(struct event_base *base, unsigned n_threads, struct workq **out);

/*
 * Queue <work>(<arg>) for a pool thread; <done>(<arg>, status) runs on the
 * loop thread afterwards. <arg> is borrowed and must stay valid until done
 * runs.
 * Returns ERR_OK (done will run exactly once), ERR_INVAL (work or done
 * NULL), ERR_STATE (the queue is being freed), ERR_NOMEM (done never runs).
 */
LOOM_MUST_CHECK enum err workq_submit(struct workq *q, workq_work_fn work, workq_done_fn done,
                                      void *arg);

/* Items submitted whose done function has not run yet. */
size_t workq_pending(const struct workq *q);

/*
 * Stop the pool: items not started are dropped (their done runs with
 * ERR_CANCELED), items running are waited for (their done runs with
 * ERR_OK), then the threads are joined. Blocks as long as the longest
 * running item. Accepts NULL.
 */
void workq_free(struct workq *q);

#endif
