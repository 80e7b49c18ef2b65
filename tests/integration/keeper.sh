#!/usr/bin/env bash
# loom-keeper against a private anvil (scripts/anvil.sh on a free port: these
# tests stop automine and move the clock, which the shared chain must not see).
#
# Each case deploys a fresh LoomEscrow (MockV3Aggregator price feed) and the
# fixtures of keeper_fixture.sol, makes jobs fall due with evm_increaseTime,
# lists them in the keeper's due file, runs build/bin/loom-keeper and checks
# the escrow's credits to the wei (PRICE_CENTS per job at 2,000 USD/ETH is
# AMOUNT_WEI each; the fixture client and worker are contracts, so the escrow
# credits them rather than sending: docs/contracts.md "Payouts") and the
# keeper's nonces:
#   1. 500 jobs due at once: all settled, in 5 transactions; /metrics agrees.
#   2. A transaction stuck behind a raised base fee is replaced over the new
#      base fee and the replacement mined, not the original;
#      a keeper short of funds warns (balance.low, loom_keeper_balance_low).
#   3. kill -9 with two batches of 50 in the pool; the restart adopts them from its
#      journal: every job settled once, no extra transaction.
#   4. Automation settles some jobs first, then two keepers run at once:
#      no double payment, no nonce left pending; then two keepers that share
#      one key (separate journals): the same.
#   5. The job store (loom-jobstore) answers the keeper's jobs.due over the bus.
set -uo pipefail
: "${LOOM_BUILD:?run through make test}"
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${LOOM_TEST_TMP:-/tmp}/keeper.XXXXXX")
[ -n "${KEEPER_DEBUG_DIR:-}" ] && work=$KEEPER_DEBUG_DIR
source "$root/tests/integration/keeper_lib.bash"
cleanup() {
  for p in "$work"/*.pid; do [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null; done
  stop_anvil
  [ -n "${KEEPER_DEBUG_DIR:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
ok() { echo "ok   - $1"; passed=$((passed + 1)); }
bad() { echo "FAIL - $1"; failed=$((failed + 1)); }
check() { # name command...
  local name=$1; shift
  if "$@"; then ok "$name"; else bad "$name"; fi
}
eq() { [ "$1" = "$2" ] || { echo "    got $1, want $2" >&2; return 1; }; }
pending_is() { [ "$(nonce_of "$1" pending)" = "$2" ]; }
# log_has NAME [jq args...] CONDITION: some line of NAME.log meets the jq
# CONDITION (a line still being written reads as "not yet").
log_has() {
  local f="$work/$1.log"; shift
  jq -en "${@:1:$#-1}" "any(inputs; ${!#})" "$f" >/dev/null 2>&1
}
show_log() { echo "--- $1.log (last 15 lines)"; tail -n 15 "$work/$1.log"; }

t0=$SECONDS
compile_contracts || { echo "0 passed, 1 failed"; exit 1; }
echo "# compile: $((SECONDS - t0)) s"
start_anvil || { echo "0 passed, 1 failed"; exit 1; }

# ---- 1. 500 jobs due at once ------------------------------------------------
case1() {
deploy && make_jobs 500 release && write_due "$work/due1" release || { bad "setup 1"; }
rpc evm_increaseTime '[61]' >/dev/null && mine
K1=$("$CAST" keccak loom-keeper-test-1); A1=$(addr_of "$K1"); fund "$A1"
start_keeper k1 "$K1" "$work/due1"
want=$((500 * AMOUNT_WEI))
if wait_for 60 credit_is "$WORKER" "$want"; then ok "500 due jobs settled"; else bad "500 due jobs settled"; show_log k1; fi
check "worker credited to the wei" eq "$(credit "$WORKER")" "$want"
check "client refunded nothing" eq "$(credit "$CLIENT")" 0
check "500 jobs in 5 transactions" eq "$(nonce_of "$A1")" 5
port=$(grep -o '"event":"metrics.listening","port":[0-9]*' "$work/k1.log" | grep -o '[0-9]*$')
metrics=$(curl -s "http://127.0.0.1:$port/metrics")
check "metrics: 500 settled" grep -q '^loom_keeper_jobs_settled_total 500$' <<<"$metrics"
check "metrics: 5 sent, 0 failed" eq "$(grep -cE '^loom_keeper_txs_(sent_total 5|failed_total 0)$' <<<"$metrics")" 2
check "metrics: 500 lags observed" grep -q '^loom_keeper_settlement_lag_seconds_count 500$' <<<"$metrics"
check "health ok" grep -q '"status":"ok"' <<<"$(curl -s "http://127.0.0.1:$port/health")"
check "keeper stops cleanly on SIGTERM" stop_keeper k1

}

# ---- 2. a transaction stuck behind a low fee is replaced -----------------------
# Automine is off from the moment the keeper starts: only the test mines
# (evm_mine), so no block includes a transaction behind the test's back.
case2() {
deploy && make_jobs 3 refund && write_due "$work/due2" refund || bad "setup 2"
rpc evm_increaseTime '[61]' >/dev/null && mine
rpc evm_setAutomine '[false]' >/dev/null
K2=$("$CAST" keccak loom-keeper-test-2); A2=$(addr_of "$K2"); fund "$A2"
start_keeper k2 "$K2" "$work/due2" --replace-after-ms 1500
# The keeper acts on the block just mined (its deadline passed): one batch.
if wait_for 60 grep -q '"event":"tx.sent"' "$work/k2.log"; then ok "refund batch sent"; else bad "refund batch sent"; show_log k2; fi
check "refund batch in the pool" pending_is "$A2" 1
sent=$(jq -r 'select(.event == "tx.sent") | .tx' "$work/k2.log")
# Base fee 100 gwei, far over the batch's max fee (2 x about 1 gwei + tip) and
# over the 10-12% bumps the keeper may have sent meanwhile: the block leaves it out.
rpc anvil_setNextBlockBaseFeePerGas '["0x174876e800"]' >/dev/null && mine
check "stuck: the block at 100 gwei is empty" eq "$(rpc eth_getBlockByNumber '["latest",false]' |
  jq -c '[.baseFeePerGas, (.transactions | length)]')" '["0x174876e800",0]'
check "stuck: not mined" eq "$(nonce_of "$A2")" 0
# The next block's base fee (87.5 gwei after an empty block, EIP-1559): the
# keeper's quote follows it, and its next replacement pays at least that.
next=$(hex2dec "$(rpc eth_feeHistory '["0x1","latest",[]]' | jq -r '.baseFeePerGas[1]')")
priced() { log_has k2 --argjson b "$next" '.event == "tx.replaced" and (.max_fee_wei | tonumber) >= $b'; }
if wait_for 60 priced; then ok "replacement sent over the new base fee"; else bad "replacement over the new base fee"; show_log k2; fi
mine
check "replacement mined" eq "$(nonce_of "$A2")" 1
mined=$(rpc eth_getBlockByNumber '["latest",false]' | jq -r '.transactions[0]')
logged() { log_has k2 --arg h "$mined" '.event == "tx.mined" and .tx == $h'; }
if wait_for 60 logged; then ok "keeper saw its replacement mined"; else bad "keeper saw its replacement mined"; show_log k2; fi
is_replacement() { log_has k2 --arg h "$mined" --arg s "$sent" --argjson b "$next" \
  '.event == "tx.replaced" and .tx == $h and $h != $s and (.max_fee_wei | tonumber) >= $b'; }
check "the mined transaction is a replacement, not the original" is_replacement
check "the original was never mined" eq "$(rpc eth_getTransactionReceipt "[\"$sent\"]")" null
check "client refunded to the wei" eq "$(credit "$CLIENT")" $((3 * AMOUNT_WEI))
check "keeper 2 stops cleanly" stop_keeper k2
rpc evm_setAutomine '[true]' >/dev/null
# A keeper with 0.0001 ETH cannot pay an hour of batches (one batch of 100 is
# budgeted at 3,050,000 gas at tens of gwei here): it warns and says so in /metrics.
K7=$("$CAST" keccak loom-keeper-test-7); A7=$(addr_of "$K7")
rpc anvil_setBalance "[\"$A7\",\"0x5af3107a4000\"]" >/dev/null
: >"$work/due7"
start_keeper k7 "$K7" "$work/due7"
if wait_for 60 grep -q '"event":"balance.low","balance_wei":"100000000000000"' "$work/k7.log"; then ok "low balance warned"; else bad "low balance warned"; show_log k7; fi
port=$(grep -o '"event":"metrics.listening","port":[0-9]*' "$work/k7.log" | grep -o '[0-9]*$')
check "metrics: balance_low 1" grep -q '^loom_keeper_balance_low 1$' <<<"$(curl -s "http://127.0.0.1:$port/metrics")"
check "keeper 7 stops cleanly" stop_keeper k7

}

# ---- 3. kill -9 in the middle, then restart -------------------------------------
# Automine off again: the two batches stay in the pool until the test mines.
case3() {
deploy && make_jobs 200 release && write_due "$work/due3" release || bad "setup 3"
rpc evm_increaseTime '[61]' >/dev/null && mine
rpc evm_setAutomine '[false]' >/dev/null
K3=$("$CAST" keccak loom-keeper-test-3); A3=$(addr_of "$K3"); fund "$A3"
start_keeper k3 "$K3" "$work/due3" --max-in-flight 2 --batch-max 50
# Two batches of 50 sent, the other 100 jobs deferred (max_in_flight 2).
if wait_for 60 grep -q '"event":"batch.deferred","jobs":100' "$work/k3.log"; then ok "two batches sent, the rest deferred"; else bad "two batches sent, the rest deferred"; show_log k3; fi
check "two batches in the pool" pending_is "$A3" 2
kill -9 "$(cat "$work/k3.pid")"; wait "$(cat "$work/k3.pid")" 2>/dev/null
check "both batches in the journal" eq "$(wc -l <"$work/k3.journal")" 2
mv "$work/k3.log" "$work/k3.killed.log"
start_keeper k3 "$K3" "$work/due3" --max-in-flight 2 --batch-max 50
if wait_for 60 grep -q '"event":"keeper.resumed".*"adopted":2' "$work/k3.log"; then ok "restart adopts both from the journal"; else bad "restart adopts both"; show_log k3; fi
# Its first round: the 100 adopted jobs are in flight; the other 100 wait.
if wait_for 60 grep -q '"event":"jobs.due",.*"due":200,"in_flight":100,"confirmed":100' "$work/k3.log" &&
  wait_for 60 grep -q '"event":"batch.deferred","jobs":100' "$work/k3.log"; then
  ok "restart keeps the adopted jobs out of new batches"; else bad "restart keeps the adopted jobs out"; show_log k3; fi
check "no duplicate batch after the restart" eq "$(nonce_of "$A3" pending)" 2
want=$((200 * AMOUNT_WEI))
settle3() { mine; credit_is "$WORKER" "$want"; }
if wait_for 60 settle3; then ok "all 200 settled after the restart"; else bad "all 200 settled"; show_log k3; fi
check "worker credited once per job, to the wei" eq "$(credit "$WORKER")" "$want"
check "four transactions in all" eq "$(nonce_of "$A3")" 4
check "nothing left pending" eq "$(nonce_of "$A3" pending)" 4
# The keeper compacts its journal once it has seen the last batch mined.
journal_empty() { [ "$(wc -l <"$work/k3.journal")" = 0 ]; }
if wait_for 60 journal_empty; then ok "journal compacted to nothing once all are mined"; else bad "journal not compacted"; show_log k3; fi
check "keeper 3 stops cleanly" stop_keeper k3
rpc evm_setAutomine '[true]' >/dev/null

}

# ---- 4. Automation first, then two keepers at once -----------------------------------
case4() {
deploy && make_jobs 100 release && write_due "$work/due4" release || bad "setup 4"
rpc evm_increaseTime '[61]' >/dev/null && mine
# Chainlink Automation's part: checkUpkeep on the first 50, performUpkeep with its answer.
first25="[$(head -n 25 "$work/ids" | paste -sd,)]"
perform=$("$CAST" call --rpc-url "$RPC" "$ESCROW" "checkUpkeep(bytes)(bool,bytes)" \
  "$("$CAST" abi-encode "f(bytes32[])" "$first25")" | tail -n 1)
send "$DEPLOYER_KEY" "$ESCROW" "performUpkeep(bytes)" "$perform" && ok "automation settled 25" || bad "automation settled 25"
check "automation credit" eq "$(credit "$WORKER")" $((25 * AMOUNT_WEI))
# The shared-key case's jobs, made now while automine is on; listed later.
cp "$work/ids" "$work/ids4"; cp "$work/due_at" "$work/due_at4"
make_jobs 60 release && write_due "$work/due5" release || bad "setup 5"
rpc evm_setIntervalMining '[1]' >/dev/null
K4=$("$CAST" keccak loom-keeper-test-4); A4=$(addr_of "$K4"); fund "$A4"
K5=$("$CAST" keccak loom-keeper-test-5); A5=$(addr_of "$K5"); fund "$A5"
start_keeper k4 "$K4" "$work/due4"
start_keeper k5 "$K5" "$work/due4"
want=$((100 * AMOUNT_WEI))
if wait_for 60 credit_is "$WORKER" "$want"; then ok "two keepers: all 100 settled"; else bad "two keepers: all settled"; show_log k4; fi
# The losing keeper's batches are mined too (and skip every item).
drained() { [ "$(nonce_of "$1" pending)" = "$(nonce_of "$1")" ]; }
if wait_for 60 drained "$A4"; then ok "keeper 4: no nonce left pending"; else bad "keeper 4: nonce left pending"; show_log k4; fi
if wait_for 60 drained "$A5"; then ok "keeper 5: no nonce left pending"; else bad "keeper 5: nonce left pending"; show_log k5; fi
check "two keepers: no double payment" eq "$(credit "$WORKER")" "$want"
check "keeper 4 stops cleanly" stop_keeper k4
check "keeper 5 stops cleanly" stop_keeper k5
# Two processes with one key (an operator's mistake): separate journals.
rpc evm_increaseTime '[61]' >/dev/null
K6=$("$CAST" keccak loom-keeper-test-6); A6=$(addr_of "$K6"); fund "$A6"
start_keeper k6 "$K6" "$work/due5" --batch-max 20
start_keeper k6b "$K6" "$work/due5" --batch-max 20
want=$((160 * AMOUNT_WEI))
if wait_for 60 credit_is "$WORKER" "$want"; then ok "shared key: all 60 settled"; else bad "shared key: all settled"; show_log k6; show_log k6b; fi
if wait_for 60 drained "$A6"; then ok "shared key: no nonce left pending"; else bad "shared key: nonce left pending"; show_log k6; show_log k6b; fi
check "shared key: no double payment" eq "$(credit "$WORKER")" "$want"
check "keeper 6 stops cleanly" stop_keeper k6
check "keeper 6b stops cleanly" stop_keeper k6b
rpc evm_setIntervalMining '[0]' >/dev/null
rpc evm_setAutomine '[true]' >/dev/null
}

# ---- 5. the job store as the due source ----------------------------------------------
# The real loom-jobstore (its own schema in the harness's PostgreSQL) answers
# the keeper's jobs.due over the bus. No indexer feeds it here, so the list is
# empty: this checks the wire contract, not settlement (cases 1-4 do that).
case5() {
if [ -z "${LOOM_TEST_PG_URL:-}" ]; then echo "# case 5 skipped: no LOOM_TEST_PG_URL"; return; fi
[ -n "${ESCROW:-}" ] || deploy || bad "setup 5"
"$LOOM_BUILD/bin/loom-jobstore" --database-url "$LOOM_TEST_PG_URL" --db-schema "keeper_due_$$" \
  --rep-addr "ipc://$work/js.rep" --pub-addr "ipc://$work/js.pub" --metrics-port 0 \
  2>"$work/js.log" &
echo $! >"$work/js.pid"
K8=$("$CAST" keccak loom-keeper-test-8); A8=$(addr_of "$K8"); fund "$A8"
start_keeper k8 "$K8" "jobstore:ipc://$work/js.rep"
asked() { mine; grep -q '"event":"keeper.resumed"' "$work/k8.log" && sleep 1 &&
  port=$(grep -o '"event":"metrics.listening","port":[0-9]*' "$work/k8.log" | grep -o '[0-9]*$') &&
  grep -q '^loom_keeper_jobs_due 0$' <<<"$(curl -s "http://127.0.0.1:$port/metrics")"; }
if wait_for 30 asked; then ok "keeper asks the job store"; else bad "keeper asks the job store"; show_log k8; tail -n 5 "$work/js.log"; fi
mine; sleep 0.5
check "jobs.due answered without errors" eq "$(grep -c '"event":"due.fetch_failed"' "$work/k8.log")" 0
check "keeper 8 stops cleanly" stop_keeper k8
kill -TERM "$(cat "$work/js.pid")"; wait "$(cat "$work/js.pid")" 2>/dev/null; rm -f "$work/js.pid"
}

for c in ${KEEPER_CASES:-1 2 3 4 5}; do
  t0=$SECONDS
  "case$c"
  echo "# case $c: $((SECONDS - t0)) s"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
