#!/usr/bin/env bash
# The indexer wired to the job store, end to end: the harness's PostgreSQL
# (its own schema), loom-jobstore, loom-indexer (--sink jobstore) on ipc://
# paths, and a private anvil with LoomEscrow. A job is created through the
# job store (job.create) and funded on chain with LoomEscrow.create(bytes32(id));
# checks: the row becomes OPEN with the escrowed wei, job.open.IA arrives on
# the feed (latency printed), claim / submit / release move the row through
# WORKING, SUBMITTED, COMPLETED; a reorg of depth 1 (evm_snapshot / evm_revert,
# then other transactions) leaves the rows equal to the canonical chain;
# kill -9 of the indexer during a backfill of a few hundred events, restarted:
# every row and the events table equal what eth_getLogs says. Then
# loom-keeper (--jobstore-url): a submitted job whose window passes
# (evm_increaseTime + evm_mine) is released by the keeper, the row becomes
# COMPLETED through the indexer, and the worker's wallet grew by exactly the
# price (an EOA never credited is paid at once: docs/contracts.md "Payouts").
set -uo pipefail
: "${LOOM_TEST_PG_URL:?run through make test}" "${LOOM_BUILD:?run through make test}"
root=$(cd "$(dirname "$0")/../.." && pwd)
LOOM_BUILD=$(cd "$LOOM_BUILD" && pwd)
PG_URL=$LOOM_TEST_PG_URL
work=$(mktemp -d "${LOOM_TEST_TMP:-/tmp}/indexer_jobstore.XXXXXX")
source "$root/tests/integration/indexer_lib.bash"
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
jqt() { jq -e "$@" >/dev/null; }
finish() {
  stop_all
  [ "$failed" -gt 0 ] && { echo "--- indexer.log"; tail -20 "$work/indexer.log"; echo "--- jobstore.log"; tail -20 "$work/jobstore.log"; }
  [ -z "${KEEP:-}" ] && rm -rf "$work"
  echo "$passed passed, $failed failed"
  exit 0
}
trap finish EXIT
die() { bad "$*"; exit 0; }

build_ibus || die "build indexer_bus"
start_anvil || die "start anvil"
deploy_escrow || die "deploy LoomEscrow"
echo "escrow $ESCROW at block $ESCROW_BLOCK"
start_jobstore || die "start loom-jobstore"
start_indexer

# ---- one job through its life ------------------------------------------------
job_create || die "job.create"
want=$("$CAST" keccak "$("$CAST" abi-encode 'f(address,bytes32)' "$CLIENT" "$REF")")
check "job.create fixes chain_job_id = keccak256(abi.encode(wallet, bytes32(id)))" [ "$CHAIN_JOB_ID" = "$want" ]
"$IBUS" sub "$PUB" job.open.IA 1 20 >"$work/sub.out" &
sub_pid=$!
for _ in $(seq 1 50); do grep -q READY "$work/sub.out" && break; sleep 0.05; done
t0=$(now_ms)
tx=$(fund_job 60) && blk=$(receipt_ok "$tx") || die "fund the job on chain"
wait "$sub_pid"
msg=$(grep -v READY "$work/sub.out" | head -1)
if [ -n "$msg" ]; then
  t1=${msg%% *}
  echo "feed latency: $(awk -v a="$t1" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') ms from sending the funding (block $blk) to job.open.IA (poll interval ${POLL_MS:-250} ms)"
fi
check "job.open.IA on the feed names the job and its escrow" \
  jqt --argjson id "$JOB_ID" --arg w "$AMOUNT_WEI" '.job_id == $id and .escrow_wei == $w' <<<"{${msg#*\{}"
r=$(job_get "$JOB_ID")
check "the row is OPEN with the escrowed wei" \
  jqt --arg w "$AMOUNT_WEI" '.result.status == "OPEN" and .result.escrow_wei == $w' <<<"$r"
receipt_ok "$(sendtx "$WORKER" "$ESCROW" "$SEL_CLAIM${CHAIN_JOB_ID#0x}")" >/dev/null || die "claim"
check "claim: WORKING with the worker" wait_status "$JOB_ID" WORKING
check "the worker is recorded" jqt --arg w "${WORKER,,}" '.result.worker_address == $w' <<<"$(job_get "$JOB_ID")"
result=0x$(printf 'result' | sha256sum | cut -c1-64)
receipt_ok "$(sendtx "$WORKER" "$ESCROW" "$SEL_SUBMIT${CHAIN_JOB_ID#0x}${result#0x}")" >/dev/null || die "submit"
check "submit: SUBMITTED with the result hash" wait_status "$JOB_ID" SUBMITTED
check "the result hash is recorded" jqt --arg h "$result" '.result.result_sha256 == $h' <<<"$(job_get "$JOB_ID")"
rpc evm_increaseTime '[61]' >/dev/null && mine
receipt_ok "$(sendtx "$DEPLOYER" "$ESCROW" "$SEL_RELEASE${CHAIN_JOB_ID#0x}")" >/dev/null || die "release"
check "release after the window: COMPLETED" wait_status "$JOB_ID" COMPLETED

echo "($SECONDS s) life cycle done"
# ---- a reorg of depth 1 --------------------------------------------------------
job_create || die "job.create (reorg A)"
a_id=$JOB_ID
snap=$(rpc evm_snapshot | tr -d '"')
receipt_ok "$(fund_job)" >/dev/null || die "fund A"
check "A funded: OPEN" wait_status "$a_id" OPEN
rpc evm_revert "[\"$snap\"]" >/dev/null || die "evm_revert"
job_create || die "job.create (reorg B)"
b_id=$JOB_ID
receipt_ok "$(fund_job)" >/dev/null || die "fund B on the new chain"
check "after the reorg B is OPEN" wait_status "$b_id" OPEN
check "and A is PENDING again, without escrow" \
  jqt '.result.status == "PENDING" and (.result.escrow_wei == null)' <<<"$(job_get "$a_id")"
check "events table equals eth_getLogs after the reorg" [ "$(sql 'SELECT count(*) FROM chain_events')" = "$(escrow_logs_count)" ]

echo "($SECONDS s) reorg done"
# ---- kill -9 during a backfill -------------------------------------------------
kill -9 "$INDEXER_PID"; wait "$INDEXER_PID" 2>/dev/null
N=200
first=0
rpc evm_setAutomine '[false]' >/dev/null
: >"$work/ids"
FIXED_DEADLINE=$(($(block_ts) + 86400))
for i in $(seq 1 $N); do
  job_create || die "job.create $i"
  echo "$JOB_ID $CHAIN_JOB_ID" >>"$work/ids"
  fund_job >/dev/null || die "fund $i"
  if [ $((i % 2)) = 0 ]; then mine; sendtx "$WORKER" "$ESCROW" "$SEL_CLAIM${CHAIN_JOB_ID#0x}" >/dev/null; fi
  [ $((i % 10)) = 0 ] && mine
done
mine
rpc evm_setAutomine '[true]' >/dev/null
head=$(head_block)
logs=$(escrow_logs_count)
echo "($SECONDS s) backfill: $logs escrow events up to block $head"
kills=0
for _ in 1 2 3 4 5; do
  start_indexer --initial-range-blocks 2 --max-range-blocks 4 --max-batch-events 7
  sleep "0.$((RANDOM % 5 + 1))"
  kill -9 "$INDEXER_PID" 2>/dev/null && kills=$((kills + 1))
  wait "$INDEXER_PID" 2>/dev/null
done
start_indexer --initial-range-blocks 2 --max-range-blocks 4 --max-batch-events 7 --until-block "$head"
wait "$INDEXER_PID"
check "the indexer finished the backfill after $kills kill -9" [ $? = 0 ]
start_indexer
check "chain_events holds each of the $logs events once" [ "$(sql 'SELECT count(*) FROM chain_events')" = "$logs" ]
check "no (block, log index) twice" [ "$(sql 'SELECT count(*) FROM (SELECT block_number, log_index FROM chain_events GROUP BY 1,2 HAVING count(*) > 1) d')" = 0 ]
# Every job row against the chain, from one eth_getLogs: a job with two
# events (JobCreated, JobClaimed) is WORKING with the worker, one with one
# event OPEN; both hold the escrowed wei.
rpc eth_getLogs "[{\"address\":\"$ESCROW\",\"fromBlock\":\"0x0\",\"toBlock\":\"latest\"}]" |
  jq -r '.[].topics[1]' | sort | uniq -c |
  awk -v w="$AMOUNT_WEI" -v wk="${WORKER,,}" '{ if ($1 == 2) print $2 "|WORKING|" w "|" wk; else print $2 "|OPEN|" w "|" }' |
  sort >"$work/want"
ids=$(cut -d' ' -f1 "$work/ids" | paste -sd,)
sql "SELECT chain_job_id, status, escrow_wei, coalesce(worker_address,'') FROM jobs WHERE id IN ($ids)" | sort >"$work/got"
check "all $N rows equal what eth_getLogs says" [ "$(join -t'|' -v1 "$work/got" "$work/want" | wc -l)" = 0 -a "$(comm -23 "$work/got" "$work/want" | wc -l)" = 0 -a "$(wc -l <"$work/got")" = "$N" ]
echo "($SECONDS s) backfill checked"

# ---- the keeper releases a job whose window passed -----------------------------
unset FIXED_DEADLINE
WORKER=${ACCTS[3]} # a worker with no earlier credit
job_create || die "job.create (keeper)"
k_id=$JOB_ID
receipt_ok "$(fund_job 60)" >/dev/null || die "fund (keeper)"
receipt_ok "$(sendtx "$WORKER" "$ESCROW" "$SEL_CLAIM${CHAIN_JOB_ID#0x}")" >/dev/null || die "claim (keeper)"
receipt_ok "$(sendtx "$WORKER" "$ESCROW" "$SEL_SUBMIT${CHAIN_JOB_ID#0x}${result#0x}")" >/dev/null || die "submit (keeper)"
check "keeper job SUBMITTED" wait_status "$k_id" SUBMITTED
wallet0=$("$CAST" balance --rpc-url "$RPC" "$WORKER")
printf '%s\n' "$DEV0_KEY" >"$work/keeper.key"
chmod 600 "$work/keeper.key"
"$LOOM_BUILD/bin/loom-keeper" --rpc-url "$RPC" --key-file "$work/keeper.key" --escrow "$ESCROW" \
  --jobstore-url "$REP" --journal "$work/keeper.journal" --poll-ms 100 --metrics-listen 127.0.0.1:0 \
  --max-fee-gwei 500 2>>"$work/keeper.log" &
KEEPER_PID=$!
sleep 0.5
check "no release while the window is open" jqt '.result.status == "SUBMITTED"' <<<"$(job_get "$k_id")"
rpc evm_increaseTime '[61]' >/dev/null && mine
check "the keeper releases it after the window: COMPLETED via the indexer" wait_status "$k_id" COMPLETED 20
bal=$("$CAST" call --rpc-url "$RPC" "$ESCROW" 'balanceOf(address)(uint256)' "$WORKER" | cut -d' ' -f1)
grew=$(python3 -c 'import sys; print(int(sys.argv[2]) - int(sys.argv[1]))' "$wallet0" "$("$CAST" balance --rpc-url "$RPC" "$WORKER")")
check "the worker's wallet grew by the price in wei ($grew), nothing credited ($bal)" [ "$grew" = "$AMOUNT_WEI" -a "$bal" = 0 ]
rtx=$(sql "SELECT released_tx FROM jobs WHERE id = $k_id")
from=$(rpc eth_getTransactionByHash "[\"$rtx\"]" | jq -r .from)
check "the release was sent by the keeper's account, after the window (by_client false)" \
  [ "$from" = "${DEPLOYER,,}" -a "$(sql "SELECT by_client FROM chain_events WHERE tx_hash = '$rtx'")" = f ]
