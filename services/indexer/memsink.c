/*
 * memsink -- in-memory sink with an optional append-only journal.
 *
 * Why a journal of wire commands rather than a snapshot file: each batch
 * costs one append and one fdatasync, whatever the size of what is held,
 * and the file reuses proto's validated encoder and decoder, so there is no
 * second format to get wrong. A command is acknowledged only after its line
 * is on disk; replay applies the same checks, so replaying a journal gives
 * exactly the state that was acknowledged.
 *
 * SPDX-License-Identifier: MIT
 */
#include "memsink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cmd.h"

/* The journal is read whole at start; 1 GiB is far above a test's or a
 * benchmark's (100,000 events are about 60 MB of JSON). */
#define MEMSINK_JOURNAL_MAX ((size_t)1 << 30)

struct blockhash {
    int64_t number;
    uint8_t hash[32];
};

struct memsink {
    struct proto_event *ev;
    size_t n_ev, cap_ev;
    struct blockhash *blocks; /* ascending by number, one per number */
    size_t n_blocks, cap_blocks;
    bool has_cp;
    struct proto_block_ref cp;
    uint64_t applied_total;
    uint64_t commands;
    int fd; /* journal, or -1 */
    bool sync;
    enum err fail_rc;
    bool fail_after;
    struct buf line;
    char errmsg[160];
};

static void set_err(struct memsink *m, const char *what)
{
    snprintf(m->errmsg, sizeof(m->errmsg), "%s", what);
}

/* First index whose (number, log_index) is >= the key. */
static size_t ev_lower(const struct memsink *m, int64_t number, int64_t log_index)
{
    size_t lo = 0, hi = m->n_ev;
    /* Batches arrive in order: check the end first. */
    if (hi > 0) {
        const struct proto_event *last = &m->ev[hi - 1];
        if (last->block_number < number ||
            (last->block_number == number && last->log_index < log_index))
            return hi;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct proto_event *e = &m->ev[mid];
        if (e->block_number < number || (e->block_number == number && e->log_index < log_index))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static size_t blk_lower(const struct memsink *m, int64_t number)
{
    size_t lo = 0, hi = m->n_blocks;
    if (hi > 0 && m->blocks[hi - 1].number < number)
        return hi;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->blocks[mid].number < number)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The hash held for block <number>, or NULL. */
static const uint8_t *blk_find(const struct memsink *m, int64_t number)
{
    size_t i = blk_lower(m, number);
    return i < m->n_blocks && m->blocks[i].number == number ? m->blocks[i].hash : NULL;
}

static enum err blk_put(struct memsink *m, int64_t number, const uint8_t hash[32])
{
    size_t i = blk_lower(m, number);
    if (i < m->n_blocks && m->blocks[i].number == number) {
        memcpy(m->blocks[i].hash, hash, 32);
        return ERR_OK;
    }
    if (m->n_blocks == m->cap_blocks) {
        size_t cap = m->cap_blocks ? m->cap_blocks * 2 : 64;
        struct blockhash *p = realloc(m->blocks, cap * sizeof(*p));
        if (p == NULL)
            return ERR_NOMEM;
        m->blocks = p;
        m->cap_blocks = cap;
    }
    memmove(&m->blocks[i + 1], &m->blocks[i], (m->n_blocks - i) * sizeof(*m->blocks));
    m->blocks[i].number = number;
    memcpy(m->blocks[i].hash, hash, 32);
    m->n_blocks++;
    return ERR_OK;
}

/* Every check of an apply, changing nothing. */
static enum err apply_check(struct memsink *m, const struct proto_events_apply *b)
{
    if (b->from_block < 0 || b->from_block > b->to_block || b->checkpoint.number != b->to_block ||
        b->n_blocks == 0) {
        set_err(m, "malformed batch: range or checkpoint");
        return ERR_INVAL;
    }
    for (size_t i = 0; i < b->n_events; i++) {
        const struct proto_event *e = &b->events[i];
        if (e->block_number < b->from_block || e->block_number > b->to_block ||
            (i > 0 && (e->block_number < b->events[i - 1].block_number ||
                       (e->block_number == b->events[i - 1].block_number &&
                        e->log_index <= b->events[i - 1].log_index)))) {
            set_err(m, "malformed batch: events out of range or order");
            return ERR_INVAL;
        }
    }
    if (!m->has_cp)
        return ERR_OK;
    if (b->from_block > m->cp.number + 1) {
        set_err(m, "batch leaves a gap after the checkpoint");
        return ERR_STATE;
    }
    /* A block or event we hold under another hash: the indexer skipped a
     * rollback. Refuse rather than mix two forks. */
    for (size_t i = 0; i < b->n_blocks; i++) {
        const uint8_t *h = blk_find(m, b->blocks[i].number);
        if (h != NULL && memcmp(h, b->blocks[i].hash, 32) != 0) {
            set_err(m, "batch block differs from a held block: roll back first");
            return ERR_STATE;
        }
    }
    for (size_t i = 0; i < b->n_events; i++) {
        const struct proto_event *e = &b->events[i];
        size_t k = ev_lower(m, e->block_number, e->log_index);
        if (k < m->n_ev && m->ev[k].block_number == e->block_number &&
            m->ev[k].log_index == e->log_index && memcmp(m->ev[k].block_hash, e->block_hash, 32)) {
            set_err(m, "batch event differs from a held event: roll back first");
            return ERR_STATE;
        }
    }
    return ERR_OK;
}

static enum err apply_commit(struct memsink *m, const struct proto_events_apply *b,
                             int64_t *n_new)
{
    *n_new = 0;
    if (m->cap_ev - m->n_ev < b->n_events) {
        size_t cap = m->cap_ev ? m->cap_ev : 256;
        while (cap - m->n_ev < b->n_events)
            cap *= 2;
        struct proto_event *p = realloc(m->ev, cap * sizeof(*p));
        if (p == NULL)
            return ERR_NOMEM;
        m->ev = p;
        m->cap_ev = cap;
    }
    for (size_t i = 0; i < b->n_blocks; i++)
        if (blk_put(m, b->blocks[i].number, b->blocks[i].hash) != ERR_OK)
            return ERR_NOMEM;
    for (size_t i = 0; i < b->n_events; i++) {
        const struct proto_event *e = &b->events[i];
        size_t k = ev_lower(m, e->block_number, e->log_index);
        if (k < m->n_ev && m->ev[k].block_number == e->block_number &&
            m->ev[k].log_index == e->log_index)
            continue; /* seen before: (block hash, log index) matched in apply_check */
        memmove(&m->ev[k + 1], &m->ev[k], (m->n_ev - k) * sizeof(*m->ev));
        m->ev[k] = *e;
        m->n_ev++;
        (*n_new)++;
    }
    if (!m->has_cp || b->to_block >= m->cp.number) {
        m->cp = b->checkpoint;
        m->has_cp = true;
    }
    m->applied_total += (uint64_t)*n_new;
    m->commands++;
    return ERR_OK;
}

static enum err rollback_check(struct memsink *m, const struct proto_reorg_rollback *rb)
{
    if (!m->has_cp) {
        set_err(m, "no checkpoint to roll back");
        return ERR_NOTFOUND;
    }
    if (rb->to_block < 0 || rb->to_block > m->cp.number) {
        set_err(m, "rollback target above the checkpoint");
        return ERR_STATE;
    }
    const uint8_t *h = blk_find(m, rb->to_block);
    if (h != NULL && memcmp(h, rb->block_hash, 32) != 0) {
        set_err(m, "rollback target hash differs from the held one");
        return ERR_STATE;
    }
    return ERR_OK;
}

static enum err rollback_commit(struct memsink *m, const struct proto_reorg_rollback *rb,
                                int64_t *removed)
{
    size_t k = ev_lower(m, rb->to_block + 1, 0);
    *removed = (int64_t)(m->n_ev - k);
    m->n_ev = k;
    m->n_blocks = blk_lower(m, rb->to_block + 1);
    if (blk_put(m, rb->to_block, rb->block_hash) != ERR_OK)
        return ERR_NOMEM;
    m->cp.number = rb->to_block;
    memcpy(m->cp.hash, rb->block_hash, 32);
    m->commands++;
    return ERR_OK;
}

/* Append <req> to the journal as one line and flush it. On failure the file
 * is cut back to where it was. */
static enum err journal_append(struct memsink *m, const struct proto_request *req)
{
    if (m->fd < 0)
        return ERR_OK;
    buf_reset(&m->line);
    enum err rc = proto_request_encode(req, &m->line, NULL);
    if (rc == ERR_OK)
        rc = buf_append_byte(&m->line, '\n');
    if (rc != ERR_OK) {
        set_err(m, "cannot encode the journal line");
        return rc;
    }
    off_t start = lseek(m->fd, 0, SEEK_END);
    if (start == (off_t)-1)
        goto io;
    size_t done = 0;
    while (done < m->line.len) {
        ssize_t w = write(m->fd, m->line.data + done, m->line.len - done);
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1)
            goto undo;
        done += (size_t)w;
    }
    if (m->sync && fdatasync(m->fd) == -1)
        goto undo;
    return ERR_OK;
undo:
    if (ftruncate(m->fd, start) == -1) {
        /* Nothing more to do: the torn line is cut off at the next open. */
    }
io:
    snprintf(m->errmsg, sizeof(m->errmsg), "journal write: %s", strerror(errno));
    return ERR_IO;
}

static enum err sink_apply_cb(void *ctx, const struct proto_events_apply *b,
                              struct proto_applied *out)
{
    struct memsink *m = ctx;
    enum err fail = m->fail_rc;
    bool after = m->fail_after;
    m->fail_rc = ERR_OK;
    if (fail != ERR_OK && !after) {
        set_err(m, "injected failure");
        return fail;
    }
    enum err rc = apply_check(m, b);
    if (rc != ERR_OK)
        return rc;
    struct proto_request req = {.cmd = PROTO_CMD_EVENTS_APPLY};
    req.args.events_apply = *b; /* borrowed pointers; never released here */
    rc = journal_append(m, &req);
    if (rc != ERR_OK)
        return rc;
    int64_t n_new;
    rc = apply_commit(m, b, &n_new);
    if (rc != ERR_OK)
        return rc;
    if (fail != ERR_OK) {
        set_err(m, "injected failure after commit");
        return fail;
    }
    out->events_applied = n_new;
    out->checkpoint = m->cp;
    return ERR_OK;
}

static enum err sink_rollback_cb(void *ctx, const struct proto_reorg_rollback *rb,
                                 struct proto_rollback *out)
{
    struct memsink *m = ctx;
    enum err fail = m->fail_rc;
    bool after = m->fail_after;
    m->fail_rc = ERR_OK;
    if (fail != ERR_OK && !after) {
        set_err(m, "injected failure");
        return fail;
    }
    enum err rc = rollback_check(m, rb);
    if (rc != ERR_OK)
        return rc;
    struct proto_request req = {.cmd = PROTO_CMD_REORG_ROLLBACK};
    req.args.reorg_rollback = *rb;
    rc = journal_append(m, &req);
    if (rc != ERR_OK)
        return rc;
    int64_t removed;
    rc = rollback_commit(m, rb, &removed);
    if (rc != ERR_OK)
        return rc;
    if (fail != ERR_OK) {
        set_err(m, "injected failure after commit");
        return fail;
    }
    out->events_removed = removed;
    out->checkpoint = m->cp;
    return ERR_OK;
}

static enum err sink_checkpoint_cb(void *ctx, struct proto_checkpoint *out)
{
    struct memsink *m = ctx;
    out->has_checkpoint = m->has_cp;
    out->checkpoint = m->cp;
    return ERR_OK;
}

static const char *sink_errmsg_cb(void *ctx)
{
    struct memsink *m = ctx;
    return m->errmsg;
}

static const struct sink_ops memsink_ops = {
    .apply = sink_apply_cb,
    .rollback = sink_rollback_cb,
    .checkpoint = sink_checkpoint_cb,
    .errmsg = sink_errmsg_cb,
};

/* Replay one decoded journal command. */
static enum err replay(struct memsink *m, const struct proto_request *req)
{
    enum err rc;
    int64_t n;
    if (req->cmd == PROTO_CMD_EVENTS_APPLY) {
        rc = apply_check(m, &req->args.events_apply);
        if (rc == ERR_OK)
            rc = apply_commit(m, &req->args.events_apply, &n);
    } else if (req->cmd == PROTO_CMD_REORG_ROLLBACK) {
        rc = rollback_check(m, &req->args.reorg_rollback);
        if (rc == ERR_OK)
            rc = rollback_commit(m, &req->args.reorg_rollback, &n);
    } else {
        rc = ERR_PROTO;
    }
    return rc == ERR_NOMEM ? rc : rc == ERR_OK ? ERR_OK : ERR_PROTO;
}

static enum err journal_load(struct memsink *m)
{
    struct buf all;
    buf_init(&all, MEMSINK_JOURNAL_MAX);
    enum err rc = ERR_OK;
    for (;;) {
        rc = buf_reserve(&all, 1 << 16);
        if (rc != ERR_OK)
            goto done;
        ssize_t r = read(m->fd, all.data + all.len, 1 << 16);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1) {
            rc = ERR_IO;
            goto done;
        }
        if (r == 0)
            break;
        all.len += (size_t)r;
    }
    size_t pos = 0, good_end = 0;
    while (pos < all.len) {
        char *nl = memchr(all.data + pos, '\n', all.len - pos);
        if (nl == NULL)
            break; /* torn tail: no newline */
        size_t len = (size_t)(nl - (all.data + pos));
        struct proto_request req;
        rc = proto_request_decode(all.data + pos, len, &req, NULL);
        if (rc == ERR_NOMEM)
            goto done;
        if (rc != ERR_OK) {
            if ((size_t)(nl - all.data) + 1 == all.len) {
                rc = ERR_OK; /* a torn last line */
                break;
            }
            rc = ERR_PROTO;
            goto done;
        }
        rc = replay(m, &req);
        proto_request_release(&req);
        if (rc != ERR_OK)
            goto done;
        pos = good_end = (size_t)(nl - all.data) + 1;
    }
    if (good_end < all.len && ftruncate(m->fd, (off_t)good_end) == -1)
        rc = ERR_IO;
done:
    buf_release(&all);
    return rc;
}

enum err memsink_open(const char *journal_path, bool sync, struct memsink **out,
                      struct sink *sink)
{
    enum err rc = ERR_NOMEM;
    struct memsink *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return ERR_NOMEM;
    m->fd = -1;
    m->sync = sync;
    buf_init(&m->line, 0);
    if (journal_path != NULL) {
        m->fd = open(journal_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (m->fd == -1) {
            rc = ERR_IO;
            goto fail;
        }
        rc = journal_load(m);
        if (rc != ERR_OK)
            goto fail;
    }
    *out = m;
    sink->ops = &memsink_ops;
    sink->ctx = m;
    return ERR_OK;
fail:
    memsink_free(m);
    return rc;
}

void memsink_free(struct memsink *m)
{
    if (m == NULL)
        return;
    if (m->fd >= 0)
        close(m->fd);
    buf_release(&m->line);
    free(m->ev);
    free(m->blocks);
    free(m);
}

const struct proto_event *memsink_events(const struct memsink *m, size_t *count)
{
    *count = m->n_ev;
    return m->ev;
}

uint64_t memsink_applied_total(const struct memsink *m)
{
    return m->applied_total;
}

uint64_t memsink_commands(const struct memsink *m)
{
    return m->commands;
}

void memsink_fail_next(struct memsink *m, enum err rc, bool after_commit)
{
    LOOM_ASSERT(rc != ERR_OK);
    m->fail_rc = rc;
    m->fail_after = after_commit;
}
