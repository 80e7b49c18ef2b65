#!/usr/bin/env bash
# refund.sh -- end to end: a funded job nobody works on passes its deadline
# and the keeper refunds the client, to the wei.
#
# Stack: jobstore, gateway, indexer, keeper (no worker). The client creates an
# IA job at 1.00 USD and funds it with a 15 s deadline; `loom watch` follows it
# and must end with exit 2 on REFUNDED (docs/cli.md); the refund is sent
# straight back to the client's wallet (an EOA never credited:
# docs/contracts.md "Payouts"): the wallet ends at its start less the gas of
# fund, nothing more; the escrow holds nothing for it and `loom withdraw` has
# nothing to move (exit 65). A service that does not start fails the test
# (tests/e2e/lib.bash). Last line: "N passed, N failed".
# SPDX-License-Identifier: MIT
# shellcheck source=tests/e2e/lib.bash
source "$(dirname "$0")/lib.bash"

e2e_up "jobstore gateway indexer keeper" "deadline passed, client refunded"
client=$(cat "$state/keys/client.addr")
start=$(wei "$client")

id=$("$loom" create --json --type IA --price-usd 1.00 --title "e2e: refund" \
  --spec examples/train-mlp.json examples/digits.csv | jq -er .id) \
  || { bad "loom create"; e2e_finish; }
ok "loom create: job $id"
if "$loom" fund --json --deadline-s 15 --window-s 20 "$id" >"$work/fund.json" 2>"$work/fund.err"; then
  locked=$(jq -r .amount_wei "$work/fund.json")
  fund_gas=$(jq -r .gas_fee_wei "$work/fund.json")
  # 100 cents at 3000.00 USD/ETH: 10^26 / 3*10^11, rounded up (docs/contracts.md "Pricing").
  equal "locked wei for 1.00 USD" "$locked" 333333333333334
else
  bad "loom fund: $(cat "$work/fund.err")"
  e2e_finish
fi
equal "escrow holds nothing for the client yet" "$(escrow_balance "$client")" 0

rc=0
e2e_run timeout 120 "$loom" watch --json --timeout 120 "$id" >"$work/watch.json" 2>"$work/watch.err" || rc=$?
equal "loom watch exit status (2: ended REFUNDED or DISPUTED)" "$rc" 2
equal "last status seen by loom watch" "$(tail -n 1 "$work/watch.json" | jq -r .status)" REFUNDED
equal "loom status" "$("$loom" status --json "$id" | jq -r .status)" REFUNDED
equal "escrow holds nothing for the client (the refund went to its wallet)" "$(escrow_balance "$client")" 0
equal "client wallet: start less the gas of fund (the $locked wei came back)" "$(wei "$client")" \
  "$(sub "$start" "$fund_gas")"
rc=0
"$loom" withdraw --json >"$work/withdraw.json" 2>"$work/withdraw.err" || rc=$?
equal "loom withdraw with nothing credited: exit status (65)" "$rc" 65
check "loom withdraw says there is nothing to withdraw" grep -q "has nothing to withdraw" "$work/withdraw.err"
equal "client wallet unchanged by the refused withdraw" "$(wei "$client")" "$(sub "$start" "$fund_gas")"
[ "$failed" = 0 ] || { cat "$work/watch.err"; show_logs gateway indexer keeper; }
e2e_finish
