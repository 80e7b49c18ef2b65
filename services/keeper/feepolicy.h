/*
 * feepolicy -- EIP-1559 fees for the keeper's transactions, and the bump
 * rule for replacing a transaction that is not being mined.
 *
 * Quote (EIP-1559: a block's base fee moves by at most 1/8, 12.5%, per block,
 * BASE_FEE_MAX_CHANGE_DENOMINATOR = 8):
 *   tip     = the median, over the blocks of eth_feeHistory, of the
 *             <reward_percentile> reward, raised to min_tip_wei
 *   max_fee = 2 * next_base_fee + tip
 * Twice the next base fee stays above the base fee through six full blocks
 * in a row (1.125^6 = 2.03), the margin wallets such as MetaMask and ethers
 * use. Both are capped by the operator's ceiling (max_fee_wei); a tip above
 * the capped max_fee is cut to it (EIP-1559 requires tip <= max_fee).
 * Replacement: geth's transaction pool refuses a transaction with the same
 * nonce unless both max_fee_per_gas and max_priority_fee_per_gas are at
 * least old * (100 + PriceBump) / 100, PriceBump = 10 by default
 * (core/txpool/legacypool, "replacement transaction underpriced"); anvil,
 * reth and Nethermind apply the same 10% rule. A bump therefore raises both
 * fields by bump_pct >= 10 percent, rounding up, or to the current quote if
 * that is higher.
 * Not here: RPC calls (the caller passes the fee history), logging.
 * Threading: pure functions.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_KEEPER_FEEPOLICY_H
#define LOOM_KEEPER_FEEPOLICY_H

#include <stdbool.h>

#include "err.h"
#include "eth/u256.h"

struct rpc_fee_history;

/* The smallest bump nodes accept (geth's default txpool.pricebump). */
#define FEEPOLICY_MIN_BUMP_PCT 10

struct feepolicy {
    struct u256 max_fee_wei; /* ceiling on max_fee_per_gas (and so on the tip) */
    struct u256 min_tip_wei; /* floor on max_priority_fee_per_gas */
    unsigned bump_pct;       /* replacement bump, FEEPOLICY_MIN_BUMP_PCT..1000 */
};

struct fee_quote {
    struct u256 max_fee; /* max_fee_per_gas, wei */
    struct u256 tip;     /* max_priority_fee_per_gas, wei */
    struct u256 base_fee_next; /* the next block's base fee, wei */
    bool capped;         /* the ceiling lowered max_fee */
    bool below_base;     /* the ceiling is under the next base fee: nothing will be mined */
};

/*
 * Quote fees from <h> (borrowed; asked with one reward percentile or none:
 * reward NULL means a zero tip before the floor) under policy <p>.
 * Returns ERR_OK, ERR_INVAL (no base fee entries, or more than one
 * percentile), ERR_RANGE (an overflow, which real fee histories cannot give).
 */
LOOM_MUST_CHECK enum err feepolicy_quote(const struct feepolicy *p,
                                         const struct rpc_fee_history *h, struct fee_quote *out);

/*
 * Fees for replacing a transaction sent with <old_max_fee> and <old_tip>:
 * each field is max(ceil(old * (100 + bump_pct) / 100), the same field of
 * <now>), and the tip at most the max fee.
 * Returns ERR_OK; ERR_RANGE when the bumped max fee would pass the ceiling
 * (the transaction cannot be replaced under this policy: wait, or raise
 * the ceiling) or on overflow. Outputs are written only on ERR_OK.
 */
LOOM_MUST_CHECK enum err feepolicy_bump(const struct feepolicy *p, struct u256 old_max_fee,
                                        struct u256 old_tip, const struct fee_quote *now,
                                        struct u256 *new_max_fee, struct u256 *new_tip);

#endif
