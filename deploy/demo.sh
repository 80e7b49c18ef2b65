#!/usr/bin/env bash
# demo.sh -- `make demo`: the whole marketplace, end to end, on one machine.
#
# 1. installs what is missing (scripts/deps.sh) and builds;
# 2. `make up` with LOOM_UP_STRICT=1 (every service must run), or reuses a
#    stack that is already up;
# 3. as the client (.run/keys/client.key), through the loom CLI: creates an IA
#    job (examples/train-mlp.json: an MLP on examples/digits.csv) and a
#    GRAFICA job (examples/image-china.json: the filter pipeline on
#    examples/china.jpg), funds both with a short challenge window, follows
#    their progress, waits until the keeper has paid the worker for both,
#    fetches both results (sha256 checked by `loom fetch`) and unpacks them;
# 4. prints the test accuracy, the output image's path, the ETH the worker
#    earned and the ETH the client spent against the USD prices at the
#    feed's rate.
# It exits 0 only if all of that held, and leaves the stack running for
# exploring until `make down`.
#
# A piece that is not built yet (a service that refuses the stack's
# configuration with exit 78, or whose --help lacks a setting the stack must
# give it, or a gateway without the job feed's /api/events mirror) stops the
# demo before any job is posted, with a line naming it: no step is faked.
#
# Settings: LOOM_DEMO_IA_USD (default 12.00), LOOM_DEMO_GRAFICA_USD (4.50),
# LOOM_DEMO_WINDOW_S (challenge window, default 20), LOOM_DEMO_TIMEOUT_S (how
# long to wait for the payouts, default 900), LOOM_DEMO_OUT (default
# .run/demo), LOOM_DEMO_BUILD (default 1; 0 skips step 1, for tests that have
# built already); make up's LOOM_UP_* settings apply to step 2.
#
# SPDX-License-Identifier: MIT
set -euo pipefail
# shellcheck source=deploy/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$deploy_root"
say() { echo "make demo: $*"; }
die() { echo "make demo: $*" >&2; exit 1; }

ia_usd=${LOOM_DEMO_IA_USD:-12.00}
gr_usd=${LOOM_DEMO_GRAFICA_USD:-4.50}
window_s=${LOOM_DEMO_WINDOW_S:-20}
timeout_s=${LOOM_DEMO_TIMEOUT_S:-900}
out=${LOOM_DEMO_OUT:-$state_dir/demo}
do_build=${LOOM_DEMO_BUILD:-1}
build=${LOOM_BUILD:-build}
case "$build" in /*) build_abs=$build ;; *) build_abs=$deploy_root/$build ;; esac
loom=$build_abs/bin/loom
cast=$deploy_root/node_modules/.bin/cast
[[ "$window_s" =~ ^[0-9]+$ ]] || die "LOOM_DEMO_WINDOW_S must be whole seconds, not \"$window_s\""
[[ "$timeout_s" =~ ^[1-9][0-9]*$ ]] || die "LOOM_DEMO_TIMEOUT_S must be a positive integer"

# --- 1, 2 -------------------------------------------------------------------
if [ "$do_build" = 1 ]; then
  say "installing what is missing and building"
  scripts/deps.sh --quiet
  targets=("$build/bin/loom")
  for f in services/*/main.c; do n=${f#services/}; targets+=("$build/bin/loom-${n%/main.c}"); done
  make -s -j"$(nproc)" BUILD="$build" "${targets[@]}"
fi
if ! LOOM_UP_STRICT=1 LOOM_BUILD=$build deploy/up.sh; then
  echo "make demo: the stack cannot run on this build (the \"cannot start\" lines above name each" >&2
  echo "make demo: service and why: a setting its --help lacks, or exit 78, is a piece not built yet);" >&2
  die "no job was posted. Logs: $log_dir/"
fi
# shellcheck disable=SC1091
source "$state_dir/env"
export LOOM_GATEWAY_URL LOOM_RPC_URL LOOM_DEPLOYMENT LOOM_KEY_FILE
worker_addr=$(cat "$key_dir/worker.addr")
client_addr=$(cat "$key_dir/client.addr")
escrow=$(jq -er .escrow "$LOOM_DEPLOYMENT")
feed=$(jq -er .priceFeed "$LOOM_DEPLOYMENT")
rm -rf "$out"
mkdir -p "$out"

wei() { "$cast" balance --rpc-url "$LOOM_RPC_URL" "$1"; }
# The worker's earnings: its wallet plus what the escrow holds for it to
# withdraw (payouts are sent to the wallet or credited: docs/contracts.md "Payouts").
worker_total() {
  local bal pending
  bal=$(wei "$worker_addr")
  pending=$("$cast" call --rpc-url "$LOOM_RPC_URL" "$escrow" 'balanceOf(address)(uint256)' "$worker_addr" | awk '{print $1}')
  python3 -c 'import sys; print(int(sys.argv[1]) + int(sys.argv[2]))' "$bal" "$pending"
}
worker_before=$(worker_total)
client_before=$(wei "$client_addr")

# --- 3. The two jobs --------------------------------------------------------
create() { # TYPE USD TITLE SPEC INPUT -> job id
  "$loom" create --json --type "$1" --price-usd "$2" --title "$3" --spec "$4" --file "$5" | jq -er .id
}
say "creating the IA job (MLP on digits.csv, $ia_usd USD) and the GRAFICA job (china.jpg filters, $gr_usd USD)"
ia=$(create IA "$ia_usd" "demo: MLP on digits" examples/train-mlp.json examples/digits.csv)
gr=$(create GRAFICA "$gr_usd" "demo: china.jpg filters" examples/image-china.json examples/china.jpg)
say "jobs $ia (IA) and $gr (GRAFICA) created"
fund() { "$loom" fund --json --window-s "$window_s" "$1" | tee "$out/fund-$1.json" | jq -r '"job \(.job_id): locked \(.amount_wei) wei for \(.price_usd_cents) cents, gas \(.gas_fee_wei) wei, tx \(.tx_hash)"'; }
fund "$ia"
fund "$gr"

say "following both jobs (a worker claims, runs and submits; the keeper pays after the ${window_s}s window)"
pids=()
for j in "$ia" "$gr"; do
  timeout "$timeout_s" "$loom" watch --timeout "$timeout_s" "$j" >"$out/watch-$j.log" 2>&1 &
  pids+=($!)
done
tail -n +1 -f "$out/watch-$ia.log" "$out/watch-$gr.log" &
tailer=$!
# A job the worker gives up on (its log's "job.skipped", with the reason)
# will not be done: say so at once instead of waiting out the timeout.
worker_skips() {
  [ -f "$log_dir/worker.log" ] || return 1
  jq -R -r --argjson a "$ia" --argjson b "$gr" 'fromjson? | select(.event == "job.skipped"
    and (.job_id == $a or .job_id == $b)) | "job \(.job_id): \(.reason) (\(.detail // "no detail"))"' \
    "$log_dir/worker.log" 2>/dev/null | grep .
}
while kill -0 "${pids[0]}" 2>/dev/null || kill -0 "${pids[1]}" 2>/dev/null; do
  if why=$(worker_skips); then
    kill "${pids[@]}" "$tailer" 2>/dev/null || true
    echo "make demo: the worker will not run the demo's jobs; it logged:" >&2
    while IFS= read -r line; do echo "make demo:   $line" >&2; done <<<"$why"
    die "a job was not run (logs: $log_dir/worker.log, $log_dir/gateway.log)"
  fi
  sleep 1
done
ok=1 i=0 t0=$SECONDS
jobs_=("$ia" "$gr")
for p in "${pids[@]}"; do
  rc=0
  wait "$p" || rc=$?
  if [ "$rc" != 0 ]; then
    ok=0
    case "$rc" in
      124) echo "make demo: job ${jobs_[i]}: not COMPLETED within ${timeout_s}s" >&2 ;;
      2) echo "make demo: job ${jobs_[i]} ended without payment to the worker: $(tail -n 1 "$out/watch-${jobs_[i]}.log")" >&2 ;;
      *) echo "make demo: loom watch ${jobs_[i]} failed (exit $rc) after $((SECONDS - t0))s: $(tail -n 1 "$out/watch-${jobs_[i]}.log")" >&2 ;;
    esac
  fi
  i=$((i + 1))
done
kill "$tailer" 2>/dev/null || true
[ "$ok" = 1 ] || die "a job did not end COMPLETED (logs: $out/watch-*.log, $log_dir/)"

# --- 4. Results and money ---------------------------------------------------
for j in "$ia" "$gr"; do
  "$loom" fetch --json --out "$out/$j" --name result.tar "$j" >"$out/fetch-$j.json"
  tar -xf "$out/$j/result.tar" -C "$out/$j"
done
accuracy=$(find "$out/$ia" -name metrics.json -exec jq -er .final.test_accuracy {} + | head -n 1)
image=$(find "$out/$gr" -name '*.png' | head -n 1)
[ -n "$accuracy" ] || die "no test accuracy in job $ia's result ($out/$ia)"
[ -n "$image" ] && [ "$(head -c 8 "$image" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] \
  || die "no PNG in job $gr's result ($out/$gr)"

worker_after=$(worker_total)
client_after=$(wei "$client_addr")
answer=$("$cast" call --rpc-url "$LOOM_RPC_URL" "$feed" 'latestAnswer()(int256)' | awk '{print $1}')
python3 - "$worker_before" "$worker_after" "$client_before" "$client_after" "$answer" \
  "$out/fund-$ia.json" "$out/fund-$gr.json" "$accuracy" "$image" <<'PY'
import json, sys
from decimal import Decimal
wb, wa, cb, ca, answer = (int(x) for x in sys.argv[1:6])
funds = [json.load(open(f)) for f in sys.argv[6:8]]
accuracy, image = float(sys.argv[8]), sys.argv[9]
locked = sum(int(f["amount_wei"]) for f in funds)
gas = sum(int(f["gas_fee_wei"]) for f in funds)
cents = sum(int(f["price_usd_cents"]) for f in funds)
# LoomEscrow's conversion (docs/contracts.md "Pricing"): ceil(cents * 10^16 * 10^d / answer), d = 8.
expect = sum(-(-int(f["price_usd_cents"]) * 10**24 // answer) for f in funds)
earned, spent = wa - wb, cb - ca
eth = lambda w: f"{Decimal(w) / Decimal(10**18):.18f}"
usd = Decimal(answer) / Decimal(10**8)
print()
print(f"  test accuracy (IA job, MLP on digits.csv)   {accuracy:.4f}")
print(f"  output image (GRAFICA job)                  {image}")
print(f"  ETH/USD at the feed                         {usd:.2f}")
print(f"  jobs' price                                 {Decimal(cents) / 100:.2f} USD = {eth(expect)} ETH")
print(f"  client spent                                {eth(spent)} ETH ({eth(locked)} locked + {eth(gas)} gas)")
print(f"  worker earned                               {eth(earned)} ETH (less its own gas)")
ok = locked == expect and spent == locked + gas and 0 < earned <= locked and 0 < accuracy <= 1
print()
print("  all checks passed" if ok else "  CHECK FAILED: locked %d, expected %d, spent %d" % (locked, expect, spent))
sys.exit(0 if ok else 1)
PY
say "the stack stays up for you to explore: . $state_dir/env; $build/bin/loom list; make down when done"
