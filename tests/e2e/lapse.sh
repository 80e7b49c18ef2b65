#!/usr/bin/env bash
# lapse.sh -- end to end: a claim that lapses, is reopened by the keeper and
# completed by a second worker, who alone is paid.
#
# Stack: jobstore, gateway, indexer, keeper; no worker at first. The client
# funds a small IA job (examples/opencl-inline.json, 1.00 USD) with a 20 s
# max runtime. A first "worker", anvil's dev account 1, claims it on chain
# with `cast send` and never submits. Only then a real loom-worker starts
# (keys/worker.key): its start-up snapshot lists OPEN jobs only, so it can
# hear of this job only on the feed, once the keeper has reopened it after
# the claim lapsed. It claims, runs and submits; the keeper releases it
# after a 5 s window. Checked: the statuses (WORKING, then COMPLETED), the
# escrow's events (two claims, one JobReopened naming the lapsed claimer,
# one PaymentReleased), getJob, and the money to the wei: the release sent
# the locked amount straight to the second worker's wallet (an EOA never
# credited: docs/contracts.md "Payouts"), which gained it less the gas of its
# claim and submit; the escrow holds nothing for anyone; the first worker's
# wallet lost exactly its claim's gas; the client's the fund's gas and the
# price.
# Last line: "N passed, N failed".
# SPDX-License-Identifier: MIT
# shellcheck source=tests/e2e/lib.bash
source "$(dirname "$0")/lib.bash"

e2e_up "jobstore gateway indexer keeper" "a claim that lapses, reopened, completed by a second worker"
client=$(cat "$state/keys/client.addr")
worker=$(cat "$state/keys/worker.addr")
lapser=$(e2e_dev_account 1)
client_start=$(wei "$client") worker_start=$(wei "$worker") lapser_start=$(wei "$lapser")

id=$("$loom" create --json --type IA --price-usd 1.00 --title "e2e: lapse" \
  --spec examples/opencl-inline.json | jq -er .id) || { bad "loom create"; e2e_finish; }
ok "loom create: job $id"
if ! "$loom" fund --json --deadline-s 240 --max-runtime-s 20 --window-s 5 "$id" \
  >"$work/fund.json" 2>"$work/fund.err"; then
  bad "loom fund: $(cat "$work/fund.err")"
  e2e_finish
fi
locked=$(jq -r .amount_wei "$work/fund.json")
fund_gas=$(jq -r .gas_fee_wei "$work/fund.json")
cid=$(jq -r .chain_job_id "$work/fund.json")
equal "locked wei for 1.00 USD" "$locked" 333333333333334
equal "job $id OPEN once funded (indexer)" "$(e2e_wait_status "$id" OPEN 60)" OPEN

# The first worker claims and walks away.
if "$cast" send --rpc-url "$rpc" --unlocked --from "$lapser" --json "$escrow" \
  'claim(bytes32)' "$cid" >"$work/claim.json" 2>"$work/claim.err" \
  && [ "$(jq -r .status "$work/claim.json")" = 0x1 ]; then
  ok "the first worker ($lapser) claims on chain"
else
  bad "the first worker's claim: $(cat "$work/claim.err" "$work/claim.json")"
  e2e_finish
fi
lapser_gas=$(e2e_tx_fee "$(jq -r .transactionHash "$work/claim.json")")
equal "job $id WORKING (the first claim)" "$(e2e_wait_status "$id" WORKING 60)" WORKING

# The second worker starts now: the job is not OPEN, so not in its snapshot.
check "a loom-worker starts with keys/worker.key" e2e_start_worker worker worker
wlog=$state/logs/worker.log
check "the keeper reopens job $id after the claim lapsed; the worker claims it" \
  e2e_wait_log "$wlog" job.claimed "$id" 120
equal "job $id COMPLETED (second worker, paid after the window)" \
  "$(e2e_wait_status "$id" COMPLETED 120)" COMPLETED

equal "JobClaimed events for the job" "$(e2e_logs "$ev_claimed" "$cid")" 2
equal "JobReopened events for the job" "$(e2e_logs "$ev_reopened" "$cid")" 1
reopened_worker=$("$cast" logs --rpc-url "$rpc" --json --from-block 0 --address "$escrow" \
  "$ev_reopened" "$cid" | jq -r '.[0].topics[3]' | sed 's/^0x0\{24\}/0x/')
equal "JobReopened names the lapsed claimer" "${reopened_worker,,}" "${lapser,,}"
equal "PaymentReleased events for the job" "$(e2e_logs "$ev_released" "$cid")" 1
job=$("$cast" call --rpc-url "$rpc" "$escrow" \
  'getJob(bytes32)(address,uint96,address,uint8,uint32,uint32,uint32,uint32,uint64,bytes32)' "$cid")
equal "getJob: worker" "$(sed -n 3p <<<"$job" | tr 'A-F' 'a-f')" "${worker,,}"
equal "getJob: status (5 Released)" "$(sed -n 4p <<<"$job")" 5

equal "escrow holds nothing for the second worker (paid to its wallet)" "$(escrow_balance "$worker")" 0
equal "escrow holds nothing for the first worker" "$(escrow_balance "$lapser")" 0
equal "first worker's wallet: start less its claim's gas" "$(wei "$lapser")" \
  "$(sub "$lapser_start" "$lapser_gas")"
claim_tx=$(e2e_log_events "$wlog" job.claimed "$id" | jq -r .tx | head -n 1)
submit_tx=$(e2e_log_events "$wlog" job.submitted "$id" | jq -r .tx | head -n 1)
if [ -n "$claim_tx" ] && [ -n "$submit_tx" ]; then
  equal "second worker's wallet: start plus the price, less the gas of its claim and submit" "$(wei "$worker")" \
    "$(sub "$(add "$worker_start" "$locked")" "$(e2e_tx_fee "$claim_tx" "$submit_tx")")"
else
  bad "the worker's log names its claim and submit transactions"
fi
equal "client's wallet: start less the price and the fund's gas" "$(wei "$client")" \
  "$(sub "$client_start" "$(add "$locked" "$fund_gas")")"
equal "escrow holds nothing for the client" "$(escrow_balance "$client")" 0
[ "$failed" = 0 ] || show_logs gateway indexer keeper worker
e2e_finish
