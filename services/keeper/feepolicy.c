/*
 * feepolicy -- see feepolicy.h for the formulas and their sources.
 *
 * SPDX-License-Identifier: MIT
 */
#include "feepolicy.h"

#include <stdlib.h>

#include "eth/rpc.h"

static int cmp_u256(const void *a, const void *b)
{
    return u256_cmp(*(const struct u256 *)a, *(const struct u256 *)b);
}

static struct u256 max_u256(struct u256 a, struct u256 b)
{
    return u256_cmp(a, b) >= 0 ? a : b;
}

enum err feepolicy_quote(const struct feepolicy *p, const struct rpc_fee_history *h,
                         struct fee_quote *out)
{
    if (h->base_fee_per_gas == NULL || h->n_percentiles > 1)
        return ERR_INVAL;
    struct fee_quote q = {0};
    enum err e = u256_from_be(h->base_fee_per_gas[h->n_blocks], 32, &q.base_fee_next);
    if (e != ERR_OK)
        return e;
    struct u256 tip = u256_from_u64(0);
    if (h->reward != NULL && h->n_percentiles == 1 && h->n_blocks > 0) {
        struct u256 *r = calloc(h->n_blocks, sizeof(*r));
        if (r == NULL)
            return ERR_NOMEM;
        for (size_t i = 0; i < h->n_blocks; i++)
            if (u256_from_be(h->reward[i], 32, &r[i]) != ERR_OK)
                r[i] = u256_from_u64(0);
        qsort(r, h->n_blocks, sizeof(*r), cmp_u256);
        tip = r[h->n_blocks / 2];
        free(r);
    }
    q.tip = max_u256(tip, p->min_tip_wei);
    struct u256 two_base;
    e = u256_add(q.base_fee_next, q.base_fee_next, &two_base);
    if (e == ERR_OK)
        e = u256_add(two_base, q.tip, &q.max_fee);
    if (e != ERR_OK)
        return e;
    if (u256_cmp(q.max_fee, p->max_fee_wei) > 0) {
        q.max_fee = p->max_fee_wei;
        q.capped = true;
    }
    if (u256_cmp(q.tip, q.max_fee) > 0)
        q.tip = q.max_fee;
    q.below_base = u256_cmp(p->max_fee_wei, q.base_fee_next) < 0;
    *out = q;
    return ERR_OK;
}

/* ceil(v * (100 + pct) / 100) */
static enum err bumped(struct u256 v, unsigned pct, struct u256 *out)
{
    struct u256 prod, q, r;
    enum err e = u256_mul(v, u256_from_u64(100u + pct), &prod);
    if (e == ERR_OK)
        e = u256_divmod(prod, u256_from_u64(100), &q, &r);
    if (e == ERR_OK && !u256_is_zero(r))
        e = u256_add(q, u256_from_u64(1), &q);
    if (e == ERR_OK)
        *out = q;
    return e;
}

enum err feepolicy_bump(const struct feepolicy *p, struct u256 old_max_fee, struct u256 old_tip,
                        const struct fee_quote *now, struct u256 *new_max_fee,
                        struct u256 *new_tip)
{
    unsigned pct = p->bump_pct < FEEPOLICY_MIN_BUMP_PCT ? FEEPOLICY_MIN_BUMP_PCT : p->bump_pct;
    struct u256 mf, tip;
    enum err e = bumped(old_max_fee, pct, &mf);
    if (e == ERR_OK)
        e = bumped(old_tip, pct, &tip);
    if (e != ERR_OK)
        return e;
    /* A zero tip bumps to zero; nodes compare with >=, but give it one wei so
     * that the replacement is strictly better on both fields. */
    if (u256_is_zero(tip))
        tip = u256_from_u64(1);
    mf = max_u256(mf, now->max_fee);
    tip = max_u256(tip, now->tip);
    if (u256_cmp(tip, mf) > 0)
        mf = tip;
    if (u256_cmp(mf, p->max_fee_wei) > 0)
        return ERR_RANGE;
    *new_max_fee = mf;
    *new_tip = tip;
    return ERR_OK;
}
