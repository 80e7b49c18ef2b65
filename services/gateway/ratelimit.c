/*
 * ratelimit -- token buckets in a chained hash table with a hard key cap.
 * SPDX-License-Identifier: MIT
 */
#include "ratelimit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Power of two; enough that chains stay short at the default key cap. */
#define RL_BUCKETS 4096

struct rl_entry {
    struct rl_entry *next;
    double tokens;
    int64_t last_ms;
    char key[];
};

struct ratelimit {
    double per_ms;
    double burst;
    size_t max_keys, n_keys;
    struct rl_entry *table[RL_BUCKETS];
};

enum err ratelimit_new(double per_second, double burst, size_t max_keys, struct ratelimit **out)
{
    if (!(per_second > 0) || !(burst >= 1) || max_keys == 0)
        return ERR_INVAL;
    struct ratelimit *rl = calloc(1, sizeof(*rl));
    if (rl == NULL)
        return ERR_NOMEM;
    rl->per_ms = per_second / 1000.0;
    rl->burst = burst;
    rl->max_keys = max_keys;
    *out = rl;
    return ERR_OK;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (rl == NULL)
        return;
    for (size_t i = 0; i < RL_BUCKETS; i++) {
        struct rl_entry *e = rl->table[i];
        while (e) {
            struct rl_entry *n = e->next;
            free(e);
            e = n;
        }
    }
    free(rl);
}

/* FNV-1a, 32 bits: keys are addresses, not attacker-chosen bulk data, and a
 * bad spread only lengthens chains under the key cap. */
static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

static void refill(struct ratelimit *rl, struct rl_entry *e, int64_t now_ms)
{
    if (now_ms > e->last_ms) {
        e->tokens = fmin(rl->burst, e->tokens + (double)(now_ms - e->last_ms) * rl->per_ms);
        e->last_ms = now_ms;
    }
}

/* Forget buckets that are full again: their owners have been idle. */
static void sweep(struct ratelimit *rl, int64_t now_ms)
{
    for (size_t i = 0; i < RL_BUCKETS; i++) {
        struct rl_entry **pp = &rl->table[i];
        while (*pp) {
            struct rl_entry *e = *pp;
            refill(rl, e, now_ms);
            if (e->tokens >= rl->burst) {
                *pp = e->next;
                free(e);
                rl->n_keys--;
            } else {
                pp = &e->next;
            }
        }
    }
}

static int retry_after(const struct ratelimit *rl, double tokens)
{
    double ms = (1.0 - tokens) / rl->per_ms;
    int s = (int)ceil(ms / 1000.0);
    return s < 1 ? 1 : s;
}

int ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_ms)
{
    uint32_t h = hash(key) & (RL_BUCKETS - 1);
    struct rl_entry *e = rl->table[h];
    while (e && strcmp(e->key, key) != 0)
        e = e->next;
    if (e == NULL) {
        if (rl->n_keys >= rl->max_keys)
            sweep(rl, now_ms);
        if (rl->n_keys >= rl->max_keys)
            return retry_after(rl, 0.0);
        size_t n = strlen(key);
        e = malloc(sizeof(*e) + n + 1);
        if (e == NULL)
            return retry_after(rl, 0.0);
        memcpy(e->key, key, n + 1);
        e->tokens = rl->burst;
        e->last_ms = now_ms;
        e->next = rl->table[h];
        rl->table[h] = e;
        rl->n_keys++;
    }
    refill(rl, e, now_ms);
    if (e->tokens < 1.0)
        return retry_after(rl, e->tokens);
    e->tokens -= 1.0;
    return 0;
}

size_t ratelimit_size(const struct ratelimit *rl)
{
    return rl->n_keys;
}
