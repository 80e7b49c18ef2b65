#!/usr/bin/env bash
# race.sh -- end to end: two workers race for one job; exactly one gets it.
#
# Stack: all five services plus a second loom-worker (its own key, funded
# with 10 ETH), both listening to the feed before the job is posted. The
# client funds one small IA job (examples/opencl-inline.json, 1.00 USD,
# 5 s window). Checked: one JobClaimed and one PaymentReleased on chain;
# the winner (getJob's worker) logged job.claimed, the other logged job.lost
# for it and never job.claimed; the job ends COMPLETED; the release sent the
# locked amount straight to the winner's wallet (an EOA never credited:
# docs/contracts.md "Payouts"; measured across the release's block) and the
# escrow holds nothing for either worker. Then the winner is stopped and a
# second job posted: the other worker, still serving, completes it and is
# paid its amount the same way.
# Last line: "N passed, N failed".
# SPDX-License-Identifier: MIT
# shellcheck source=tests/e2e/lib.bash
source "$(dirname "$0")/lib.bash"

e2e_up "jobstore gateway indexer keeper worker" "two workers racing for one job"
check "a second account for a second worker" e2e_new_account worker2
check "a second loom-worker starts" e2e_start_worker worker2 worker2
declare -A addr=([worker]=$(cat "$state/keys/worker.addr") [worker2]=$(cat "$state/keys/worker2.addr"))

# post TITLE USD: create and fund a job; sets id, cid, locked.
post() {
  id=$("$loom" create --json --type IA --price-usd "$2" --title "$1" \
    --spec examples/opencl-inline.json | jq -er .id) || { bad "loom create ($1)"; e2e_finish; }
  if ! "$loom" fund --json --window-s 5 "$id" >"$work/fund-$id.json" 2>"$work/fund.err"; then
    bad "loom fund $id: $(cat "$work/fund.err")"
    e2e_finish
  fi
  locked=$(jq -r .amount_wei "$work/fund-$id.json")
  cid=$(jq -r .chain_job_id "$work/fund-$id.json")
  ok "job $id posted and funded ($locked wei)"
}
# release_gain CHAIN_JOB_ID ADDRESS: how much ADDRESS's wallet grew in the block
# of the job's PaymentReleased (anvil mines one transaction per block, so only
# the keeper's release moved it; --prune-history keeps the last 64 states).
release_gain() {
  local bn
  bn=$("$cast" logs --rpc-url "$rpc" --json --from-block 0 --address "$escrow" "$ev_released" "$1" \
    | jq -r '.[0].blockNumber')
  bn=$((bn))
  sub "$("$cast" balance --rpc-url "$rpc" --block "$bn" "$2")" \
    "$("$cast" balance --rpc-url "$rpc" --block "$((bn - 1))" "$2")"
}
chain_worker() {
  "$cast" call --rpc-url "$rpc" "$escrow" \
    'getJob(bytes32)(address,uint96,address,uint8,uint32,uint32,uint32,uint32,uint64,bytes32)' "$1" \
    | sed -n 3p | tr 'A-F' 'a-f'
}

post "e2e: race" 1.00
equal "job $id COMPLETED" "$(e2e_wait_status "$id" COMPLETED 120)" COMPLETED
equal "JobClaimed events for the job" "$(e2e_logs "$ev_claimed" "$cid")" 1
equal "PaymentReleased events for the job" "$(e2e_logs "$ev_released" "$cid")" 1
won=$(chain_worker "$cid")
winner="" loser=""
for w in worker worker2; do
  if [ "${addr[$w],,}" = "$won" ]; then winner=$w; else loser=$w; fi
done
if [ -z "$winner" ]; then
  bad "the job's worker on chain ($won) is one of the two"
  show_logs worker worker2
  e2e_finish
fi
ok "$winner won the job on chain"
check "the winner logged job.claimed" e2e_wait_log "$state/logs/$winner.log" job.claimed "$id" 5
check "the other worker ($loser) logged job.lost" e2e_wait_log "$state/logs/$loser.log" job.lost "$id" 30
e2e_log_events "$state/logs/$loser.log" job.lost "$id" | jq -r '"  its reason: \(.reason) \(.detail // .tx // "")"'
equal "the other worker never logged job.claimed" \
  "$(e2e_log_events "$state/logs/$loser.log" job.claimed "$id" | wc -l)" 0
equal "the release sent the locked amount to the winner's wallet" "$(release_gain "$cid" "${addr[$winner]}")" "$locked"
equal "the release sent nothing to the other worker" "$(release_gain "$cid" "${addr[$loser]}")" 0
equal "escrow holds nothing for the winner" "$(escrow_balance "${addr[$winner]}")" 0
equal "escrow holds nothing for the other worker" "$(escrow_balance "${addr[$loser]}")" 0

# The other worker still serves: with the winner stopped, it takes the next job.
e2e_stop "$winner"
check "the winner ($winner) stopped" test -z "$(pid_alive "$winner")"
post "e2e: race, next job" 2.00
equal "job $id COMPLETED" "$(e2e_wait_status "$id" COMPLETED 120)" COMPLETED
equal "job $id's worker on chain is $loser" "$(chain_worker "$cid")" "${addr[$loser],,}"
equal "the release sent the second job's amount to $loser's wallet" "$(release_gain "$cid" "${addr[$loser]}")" "$locked"
equal "escrow holds nothing for $loser" "$(escrow_balance "${addr[$loser]}")" 0
equal "escrow holds nothing for $winner" "$(escrow_balance "${addr[$winner]}")" 0
[ "$failed" = 0 ] || show_logs gateway indexer keeper worker worker2
e2e_finish
