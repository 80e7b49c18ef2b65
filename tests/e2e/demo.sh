#!/usr/bin/env bash
# demo.sh -- end to end: `make demo`'s path against a private stack.
#
# Starts the whole stack with deploy/up.sh in its own state folder on free
# ports (LOOM_UP_PORTS=auto, not strict), then checks what is there:
#   - every service started answers GET /health with 200;
#   - the chain: LoomEscrow and the price feed deployed, the feed answering
#     3000.00 USD per ETH, the keeper, worker and client funded with 100 ETH;
#   - with a gateway: `loom quote --usd 12.00` is 0.004 ETH to the wei
#     (1200 cents * 10^24 / 300000000000, docs/contracts.md "Pricing");
#   - with all five services and the gateway's /api/events mirror: the whole
#     demo (deploy/demo.sh, no build): an IA and a GRAFICA job created, funded,
#     run by the worker, paid by the keeper after a 20 s window, results
#     fetched, money checked to the wei ("all checks passed").
# A service up.sh could not start fails the test, with up.sh's reason.
# Everything started is stopped on exit (deploy/down.sh on this state
# folder), whatever happens.
# Last line: "N passed, N failed".
#
# Environment (scripts/test.sh): LOOM_BUILD, LOOM_TEST_TMP.
# SPDX-License-Identifier: MIT
# shellcheck source=tests/e2e/lib.bash
source "$(dirname "$0")/lib.bash"

# --- 1. The stack -----------------------------------------------------------
# All five services must start: one that does not fails the test, which ends.
e2e_up_all() {
  if e2e_run deploy/up.sh >"$work/up.log" 2>&1; then
    ok "make up (auto ports, state in its own folder)"
  else
    bad "make up"
    cat "$work/up.log"
    for f in "$state"/logs/*.log; do show_log "$f"; done
    e2e_finish
  fi
  local svc pid url
  while IFS=$'\t' read -r svc pid url; do
    started[$svc]=1
    check "$svc (pid $pid) answers $url" curl -fsS -m 5 -o /dev/null "$url"
  done <"$state/services.tsv"
  if ! e2e_require_started jobstore gateway indexer keeper worker; then
    for f in "$state"/logs/*.log; do show_log "$f"; done
    e2e_finish
  fi
}
e2e_up_all

# --- 2. The chain as make up left it ----------------------------------------
deployment=$state/deployment.json
rpc=$(sed -n 's/^export LOOM_RPC_URL=//p' "$state/env")
escrow=$(jq -r .escrow "$deployment")
feed=$(jq -r .priceFeed "$deployment")
check "LoomEscrow has code at $escrow" test "$("$cast" code --rpc-url "$rpc" "$escrow")" != 0x
answer=$("$cast" call --rpc-url "$rpc" "$feed" 'latestAnswer()(int256)' | awk '{print $1}')
equal "price feed's answer (8 decimals)" "$answer" 300000000000
for who in keeper worker client; do
  equal "$who funded" "$("$cast" balance --rpc-url "$rpc" "$(cat "$state/keys/$who.addr")")" 100000000000000000000
done
equal "client key file mode" "$(stat -c %a "$state/keys/client.key")" 600

# --- 3. The CLI through the gateway -----------------------------------------
# shellcheck disable=SC1091
source "$state/env"
if q=$("$loom" quote --json --usd 12.00 2>"$work/quote.err"); then
  equal "loom quote 12.00 USD, wei" "$(jq -r .wei <<<"$q")" 4000000000000000
else
  bad "loom quote --usd 12.00: $(cat "$work/quote.err")"
fi

# --- 4. The whole demo ------------------------------------------------------
demo_rc=0
LOOM_DEMO_BUILD=0 LOOM_DEMO_WINDOW_S=20 LOOM_DEMO_TIMEOUT_S=300 LOOM_DEMO_OUT=$work/demo \
  e2e_run timeout 420 deploy/demo.sh >"$work/demo.log" 2>&1 || demo_rc=$?
cat "$work/demo.log"
if [ "$demo_rc" != 0 ]; then
  bad "make demo's path ended with exit $demo_rc"
  show_logs gateway indexer keeper worker
  e2e_finish
fi
ok "make demo's path: exit 0"
check "make demo: all checks passed" grep -q "^  all checks passed$" "$work/demo.log"
acc=$(sed -n 's/^  test accuracy .* \([0-9.]*\)$/\1/p' "$work/demo.log")
check "test accuracy ${acc:-none} is at least 0.90 (MLP on digits)" \
  python3 -c 'import sys; sys.exit(0 if float(sys.argv[1] or 0) >= 0.90 else 1)' "${acc:-0}"
img=$(sed -n 's/^  output image .* \(\/.*\)$/\1/p' "$work/demo.log")
check "output image ${img:-none} is a 320x213 PNG" \
  python3 - "${img:-/nonexistent}" <<'PY'
import struct, sys
try:
    with open(sys.argv[1], "rb") as f:
        h = f.read(24)
except OSError:
    sys.exit(1)
sys.exit(0 if h[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", h[16:24]) == (320, 213) else 1)
PY
e2e_finish
