#!/usr/bin/env bash
# dispute.sh -- end to end: the client disputes two results and the arbiter
# resolves one for the worker and one for the client.
#
# Stack: all five services. The client funds two small IA jobs
# (examples/opencl-inline.json) at 1.00 and 2.00 USD with a 60 s challenge
# window; the worker runs both. As each is SUBMITTED the client disputes it
# with `loom dispute` (the amount held is the locked amount); both show
# DISPUTED. `loom resolve` with the client's key is refused (NotArbiter,
# exit 65, nothing sent). The arbiter (LoomEscrow's ARBITER: the deployer,
# keys/deployer.key, as contracts/deploy.sh sets it) rules with
# `loom resolve`: all of job A to the worker, none of job B. Checked: A ends COMPLETED and B REFUNDED;
# one DisputeResolved each with the split in its data and no PaymentReleased
# (the keeper left disputed jobs alone after their window); both rulings were
# paid straight to the wallets (EOAs never credited: docs/contracts.md
# "Payouts"), so the escrow holds nothing for either; the client's wallet lost
# A's price and the gas of two funds and two disputes (B's price came back);
# the arbiter's wallet only its two resolves' gas; the worker's gained A's
# price less the gas of its claims and submits.
# Last line: "N passed, N failed".
# SPDX-License-Identifier: MIT
# shellcheck source=tests/e2e/lib.bash
source "$(dirname "$0")/lib.bash"

e2e_up "jobstore gateway indexer keeper worker" "a dispute the arbiter resolves each way"
client=$(cat "$state/keys/client.addr")
worker=$(cat "$state/keys/worker.addr")
arbiter=$(e2e_dev_account 0)
equal "LoomEscrow's arbiter is the deployer" "$(jq -r .arbiter "$deployment" | tr 'A-F' 'a-f')" "${arbiter,,}"
client_start=$(wei "$client") worker_start=$(wei "$worker") arbiter_start=$(wei "$arbiter")

declare -A usd=([a]=1.00 [b]=2.00) want=([a]=333333333333334 [b]=666666666666667)
declare -A id cid locked fund_gas disp_gas
for k in a b; do
  id[$k]=$("$loom" create --json --type IA --price-usd "${usd[$k]}" --title "e2e: dispute $k" \
    --spec examples/opencl-inline.json | jq -er .id) || { bad "loom create ($k)"; e2e_finish; }
  if ! "$loom" fund --json --window-s 60 "${id[$k]}" >"$work/fund-$k.json" 2>"$work/fund.err"; then
    bad "loom fund ${id[$k]}: $(cat "$work/fund.err")"
    e2e_finish
  fi
  locked[$k]=$(jq -r .amount_wei "$work/fund-$k.json")
  fund_gas[$k]=$(jq -r .gas_fee_wei "$work/fund-$k.json")
  cid[$k]=$(jq -r .chain_job_id "$work/fund-$k.json")
  equal "job ${id[$k]}: locked wei for ${usd[$k]} USD" "${locked[$k]}" "${want[$k]}"
done

# The client disputes each result as soon as it is submitted.
for k in a b; do
  equal "job ${id[$k]} SUBMITTED by the worker" "$(e2e_wait_status "${id[$k]}" SUBMITTED 180)" SUBMITTED
  if "$loom" dispute --json "${id[$k]}" >"$work/dispute-$k.json" 2>"$work/dispute.err"; then
    equal "loom dispute ${id[$k]}: held" "$(jq -r .held_wei "$work/dispute-$k.json")" "${locked[$k]}"
    equal "loom dispute ${id[$k]}: worker" "$(jq -r .worker "$work/dispute-$k.json" | tr 'A-F' 'a-f')" "${worker,,}"
    disp_gas[$k]=$(jq -r .gas_fee_wei "$work/dispute-$k.json")
  else
    bad "loom dispute ${id[$k]}: $(cat "$work/dispute.err")"
    e2e_finish
  fi
done
for k in a b; do
  equal "job ${id[$k]} DISPUTED" "$(e2e_wait_status "${id[$k]}" DISPUTED 60)" DISPUTED
done

# Only the arbiter may rule: the client's key is refused before anything is sent.
rc=0
"$loom" resolve --client "$client" --to-worker all "${id[a]}" >/dev/null 2>"$work/resolve.err" || rc=$?
equal "loom resolve with the client's key: exit status (65: refused by the chain)" "$rc" 65
check "loom resolve with the client's key: NotArbiter" grep -q "NotArbiter" "$work/resolve.err"

# The arbiter rules with `loom resolve` and keys/deployer.key: A all to the
# worker, B all to the client.
declare -A to_worker=([a]=all [b]=0) resolve_gas
for k in a b; do
  if "$loom" resolve --json --key-file "$state/keys/deployer.key" --client "$client" \
    --to-worker "${to_worker[$k]}" "${id[$k]}" >"$work/resolve-$k.json" 2>"$work/resolve.err"; then
    [ "${to_worker[$k]}" = all ] && to_worker[$k]=${locked[$k]}
    equal "loom resolve ${id[$k]}: to the worker" "$(jq -r .to_worker_wei "$work/resolve-$k.json")" "${to_worker[$k]}"
    resolve_gas[$k]=$(jq -r .gas_fee_wei "$work/resolve-$k.json")
    echo "  $(cat "$work/resolve-$k.json")"
  else
    bad "loom resolve ${id[$k]}: $(cat "$work/resolve.err")"
    e2e_finish
  fi
done
equal "job ${id[a]} (for the worker) COMPLETED" "$(e2e_wait_status "${id[a]}" COMPLETED 60)" COMPLETED
equal "job ${id[b]} (for the client) REFUNDED" "$(e2e_wait_status "${id[b]}" REFUNDED 60)" REFUNDED

for k in a b; do
  equal "job ${id[$k]}: DisputeResolved events" "$(e2e_logs "$ev_resolved" "${cid[$k]}")" 1
  equal "job ${id[$k]}: PaymentReleased events" "$(e2e_logs "$ev_released" "${cid[$k]}")" 0
  split=$("$cast" logs --rpc-url "$rpc" --json --from-block 0 --address "$escrow" "$ev_resolved" \
    "${cid[$k]}" | jq -r '.[0].data' | python3 -c 'import sys; d = sys.stdin.read().strip()[2:]; print(int(d[:64], 16), int(d[64:], 16))')
  equal "job ${id[$k]}: DisputeResolved toWorker toClient" "$split" \
    "${to_worker[$k]} $(sub "${locked[$k]}" "${to_worker[$k]}")"
done
equal "escrow holds nothing for the worker (job ${id[a]} sent to its wallet)" "$(escrow_balance "$worker")" 0
equal "escrow holds nothing for the client (job ${id[b]} sent to its wallet)" "$(escrow_balance "$client")" 0
equal "client's wallet: start less job ${id[a]}'s price, two funds' and two disputes' gas" "$(wei "$client")" \
  "$(sub "$client_start" "$(add "${locked[a]}" "${fund_gas[a]}" "${fund_gas[b]}" \
    "${disp_gas[a]}" "${disp_gas[b]}")")"
equal "arbiter's wallet: start less its two resolves' gas" "$(wei "$arbiter")" \
  "$(sub "$arbiter_start" "$(add "${resolve_gas[a]}" "${resolve_gas[b]}")")"
wlog=$state/logs/worker.log
txs=()
for k in a b; do
  for ev in job.claimed job.submitted; do
    tx=$(e2e_log_events "$wlog" "$ev" "${id[$k]}" | jq -r .tx | head -n 1)
    [ -n "$tx" ] && txs+=("$tx")
  done
done
if [ ${#txs[@]} = 4 ]; then
  equal "worker's wallet: start plus job ${id[a]}'s price, less the gas of two claims and two submits" \
    "$(wei "$worker")" "$(sub "$(add "$worker_start" "${locked[a]}")" "$(e2e_tx_fee "${txs[@]}")")"
else
  bad "the worker's log names its claims and submits (${#txs[@]} of 4 transactions found)"
fi
[ "$failed" = 0 ] || show_logs gateway indexer keeper worker
e2e_finish
