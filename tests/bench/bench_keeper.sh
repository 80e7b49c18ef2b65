#!/usr/bin/env bash
# bench_keeper -- settlement lag and gas per settled job of loom-keeper, for
# 1, 100 and 1,000 jobs falling due at once (targets, issue 7: every due job
# settled within 2 blocks of becoming due; at most 30,000 gas per job in a
# batch of 100).
#
# Per size: a fresh anvil (DESIGN.md: anvil slows as its chain grows) mining
# one block a second (evm_setIntervalMining), LoomEscrow with its fixtures
# (tests/integration/keeper_fixture.sol: one client, one returning worker),
# N jobs submitted with a 60 s challenge window, the keeper polling every
# 100 ms, and the clock moved 50 s ahead so the windows end a few blocks
# later. A job becomes due in the first block whose timestamp passes its
# window's end (LoomEscrow.dueAction: block.timestamp > expiry); its lag is
# counted from there to the block that settled it, in blocks and seconds.
# Gas is each mined performUpkeep's gasUsed over the jobs it settled.
# Prints figures and conditions; asserts nothing.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export LOOM_BUILD=${LOOM_BUILD:-$root/build}
work=$(mktemp -d "${LOOM_BENCH_TMP:-/tmp}/bench_keeper.XXXXXX")
source "$root/tests/integration/keeper_lib.bash"
cleanup() {
  for p in "$work"/*.pid; do [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null; done
  stop_anvil
  rm -rf "$work"
}
trap cleanup EXIT

compile_contracts || exit 1
for n in ${BENCH_KEEPER_SIZES:-1 100 1000}; do
  start_anvil || exit 1
  deploy && make_jobs "$n" release && write_due "$work/due" release || { echo "setup failed for $n jobs"; exit 1; }
  key=$("$CAST" keccak "loom-keeper-bench-$n"); fund "$(addr_of "$key")"
  rpc evm_setIntervalMining '[1]' >/dev/null
  : >"$work/k.log"
  start_keeper k "$key" "$work/due"
  rpc evm_increaseTime '[50]' >/dev/null
  if ! wait_for 180 credit_is "$WORKER" "$((n * AMOUNT_WEI))"; then
    echo "$n jobs: not all settled within 180 s"; tail -n 5 "$work/k.log"; exit 1
  fi
  stop_keeper k
  height=$(hex2dec "$(rpc eth_blockNumber)")
  # Block timestamps of the whole (short) chain, then the figures.
  rpc_batch=$(seq 0 "$height" | awk '{printf "%s{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"eth_getBlockByNumber\",\"params\":[\"0x%x\",false]}", (NR>1?",":""), $1, $1}')
  curl -s -H 'content-type: application/json' -d "[$rpc_batch]" "$RPC" >"$work/blocks.json"
  python3 - "$n" "$work/k.log" "$work/blocks.json" "$work/ids" "$work/due_at" "$height" <<'PY'
import json, sys
n, log, blocks, ids, due_at, height = sys.argv[1:7]
ts = {int(b["result"]["number"], 16): int(b["result"]["timestamp"], 16) for b in json.load(open(blocks))}
due = dict(zip(open(ids).read().split(), map(int, open(due_at).read().split())))
lag_s, lag_b, gas = [], [], []
for line in open(log):
    ev = json.loads(line)
    if ev["event"] == "job.settled":
        d, b = due[ev["job_id"]], ev["block"]
        first = min(x for x in ts if ts[x] > d)   # the block in which the job became due
        lag_b.append(b - first)
        lag_s.append(ts[b] - d)
    elif ev["event"] == "tx.mined" and ev["settled"] > 0:
        gas.append((ev["gas_used"], ev["settled"]))
def pct(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
tot_gas = sum(g for g, _ in gas); tot_jobs = sum(s for _, s in gas)
full = [g / s for g, s in gas if s == 100]
print(f"keeper: {n} jobs due at once, settled {len(lag_b)}, in {len(gas)} transactions; chain height {height}, 1 s blocks")
print(f"  lag blocks (from the block in which the job became due to its settlement block): p50 {pct(lag_b,50)}, p99 {pct(lag_b,99)}, max {max(lag_b)}; within 2 blocks: {sum(1 for x in lag_b if x <= 2)}/{len(lag_b)}")
print(f"  lag seconds (settlement block time minus due time): p50 {pct(lag_s,50)}, p99 {pct(lag_s,99)}, max {max(lag_s)}")
print(f"  gas per settled job: {tot_gas / tot_jobs:.0f} overall" + (f", {sum(full)/len(full):.0f} in batches of 100" if full else ""))
PY
  stop_anvil
done
