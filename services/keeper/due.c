/*
 * due -- the due-source interface, the in-memory source and the file source.
 *
 * Both built-in sources keep every entry until told otherwise and select
 * on each fetch: due_at <= now_at, soonest first (a stable sort, so entries
 * with the same due_at keep their order), at most <cap>.
 *
 * SPDX-License-Identifier: MIT
 */
#include "due.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"

struct due_source {
    const struct due_source_ops *ops;
    void *ctx;
};

enum err due_source_new(const struct due_source_ops *ops, void *ctx, struct due_source **out)
{
    struct due_source *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        if (ops->free != NULL)
            ops->free(ctx);
        return ERR_NOMEM;
    }
    s->ops = ops;
    s->ctx = ctx;
    *out = s;
    return ERR_OK;
}

void due_source_free(struct due_source *s)
{
    if (s == NULL)
        return;
    if (s->ops->free != NULL)
        s->ops->free(s->ctx);
    free(s);
}

enum err due_fetch(struct due_source *s, int64_t now_at, struct upkeep_item *out, size_t cap,
                   size_t *n)
{
    return s->ops->fetch(s->ctx, now_at, out, cap, n);
}

/* ---- shared selection -------------------------------------------------- */

struct item_list {
    struct upkeep_item *items;
    size_t n, cap;
};

static enum err list_push(struct item_list *l, const struct upkeep_item *it)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        struct upkeep_item *p = realloc(l->items, nc * sizeof(*p));
        if (p == NULL)
            return ERR_NOMEM;
        l->items = p;
        l->cap = nc;
    }
    l->items[l->n++] = *it;
    return ERR_OK;
}

/* Write the entries of <l> due at <now_at>, soonest first, at most <cap>. */
static enum err select_due(const struct item_list *l, int64_t now_at, struct upkeep_item *out,
                           size_t cap, size_t *n)
{
    size_t k = 0;
    /* Insertion into the sorted prefix out[0..k): O(n * cap), and cap is the
     * keeper's per-tick limit (at most 1,000), so this stays in microseconds
     * for the list sizes a file or a test holds. */
    for (size_t i = 0; i < l->n; i++) {
        const struct upkeep_item *it = &l->items[i];
        if (it->due_at > now_at)
            continue;
        size_t pos = k;
        while (pos > 0 && out[pos - 1].due_at > it->due_at)
            pos--;
        if (pos == cap)
            continue;
        size_t last = k < cap ? k : cap - 1;
        memmove(&out[pos + 1], &out[pos], (last - pos) * sizeof(*out));
        out[pos] = *it;
        if (k < cap)
            k++;
    }
    *n = k;
    return ERR_OK;
}

/* ---- in-memory source -------------------------------------------------- */

static enum err mem_fetch(void *ctx, int64_t now_at, struct upkeep_item *out, size_t cap,
                          size_t *n)
{
    return select_due(ctx, now_at, out, cap, n);
}

static void mem_free(void *ctx)
{
    struct item_list *l = ctx;
    free(l->items);
    free(l);
}

static const struct due_source_ops mem_ops = {mem_fetch, mem_free};

enum err due_mem_new(struct due_source **out)
{
    struct item_list *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return ERR_NOMEM;
    return due_source_new(&mem_ops, l, out);
}

enum err due_mem_add(struct due_source *s, const uint8_t job_id[32], enum upkeep_action action,
                     int64_t due_at)
{
    LOOM_ASSERT(s->ops == &mem_ops);
    if (action < UPKEEP_RELEASE || action > UPKEEP_REOPEN)
        return ERR_INVAL;
    struct upkeep_item it = {.action = action, .due_at = due_at};
    memcpy(it.job_id, job_id, 32);
    return list_push(s->ctx, &it);
}

void due_mem_clear(struct due_source *s)
{
    LOOM_ASSERT(s->ops == &mem_ops);
    struct item_list *l = s->ctx;
    l->n = 0;
}

/* ---- file source ------------------------------------------------------- */

/* PROTOCOL.md's due action names, mapped to the contract's actions. */
static const char *const action_names[] = {"release", "refund", "reopen"};
static const enum upkeep_action action_values[] = {UPKEEP_RELEASE, UPKEEP_REFUND, UPKEEP_REOPEN};

/* One JSON line is about 130 bytes; 4 KiB leaves room for whitespace. */
#define DUE_LINE_MAX 4096

enum err due_parse_line(const char *line, size_t len, struct upkeep_item *out)
{
    struct cJSON *j = NULL;
    struct json_err je;
    json_err_init(&je);
    struct upkeep_item it = {0};
    int act = 0;
    int64_t due_at = 0;
    enum err e = json_parse(line, len, DUE_LINE_MAX, 4, &j, &je);
    if (e == ERR_OK)
        e = json_expect_object(j, NULL, &je);
    if (e == ERR_OK)
        e = json_get_hash(j, "chain_job_id", JSON_REQUIRED, it.job_id, &je);
    if (e == ERR_OK)
        e = json_get_enum(j, "action", JSON_REQUIRED, action_names, 3, &act, &je);
    if (e == ERR_OK)
        e = json_get_int(j, "due_at", JSON_REQUIRED, 0, 253402300799LL, &due_at, &je);
    json_free(j);
    if (e != ERR_OK)
        return ERR_INVAL;
    it.action = action_values[act];
    it.due_at = due_at;
    *out = it;
    return ERR_OK;
}

static enum err file_fetch(void *ctx, int64_t now_at, struct upkeep_item *out, size_t cap,
                           size_t *n)
{
    const char *path = ctx;
    struct item_list l = {0};
    struct buf text;
    buf_init(&text, DUE_FILE_MAX_BYTES);
    enum err e = ERR_OK;
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        e = errno == ENOENT ? ERR_OK : ERR_IO;
        *n = 0;
        goto done;
    }
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        e = buf_append(&text, chunk, got);
        if (e != ERR_OK)
            goto done;
    }
    if (ferror(f)) {
        e = ERR_IO;
        goto done;
    }
    const char *p = buf_cstr(&text), *end = p + text.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        size_t len = (size_t)(le - p);
        size_t ws = 0;
        while (ws < len && (p[ws] == ' ' || p[ws] == '\t' || p[ws] == '\r'))
            ws++;
        if (ws < len) {
            struct upkeep_item it;
            e = due_parse_line(p, len, &it);
            if (e == ERR_OK)
                e = list_push(&l, &it);
            if (e != ERR_OK)
                goto done;
        }
        p = le + 1;
    }
    e = select_due(&l, now_at, out, cap, n);
done:
    if (f != NULL)
        fclose(f);
    buf_release(&text);
    free(l.items);
    return e;
}

static const struct due_source_ops file_ops = {file_fetch, free};

enum err due_file_new(const char *path, struct due_source **out)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return ERR_NOMEM;
    return due_source_new(&file_ops, copy, out);
}
