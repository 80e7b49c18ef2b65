#!/usr/bin/env bash
# loom-indexer's new-head subscription (--ws-url, common/eth/headsub) against
# the harness's anvil (LOOM_TEST_RPC_URL), which serves eth_subscribe on the
# same port as HTTP:
#   1. --ws-url auto (the rpc URL as ws://) with 60 s polling: the
#      subscription comes up, and blocks mined afterwards are indexed well
#      before the next poll could have seen them, counted in
#      loom_indexer_head_notifications_total (a wait with a timeout under the
#      poll interval, never a fixed sleep);
#   2. --ws-url to a port nobody listens on, 100 ms polling: a warning
#      (indexer.head_sub_down, io error), subscription_up 0, and polling
#      still indexes new blocks;
#   3. --ws-url to a plain HTTP server (the first indexer's /metrics
#      listener): the warning names the HTTP status (not a websocket
#      endpoint), and polling indexes.
# The memory sink: no contract or job store is needed; the escrow address is
# arbitrary and the indexer starts at the current head.
set -uo pipefail
: "${LOOM_TEST_RPC_URL:?run through make test}" "${LOOM_BUILD:?run through make test}"
cd "$(dirname "$0")/../.."
url=$LOOM_TEST_RPC_URL
work=$(mktemp -d "${LOOM_TEST_TMP:-/tmp}/indexer_ws.XXXXXX")
pids=()
finish() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap finish EXIT
pass=0 fail=0
ok() { echo "ok: $1"; pass=$((pass + 1)); }
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }

rpc() { curl -s -m 10 -H 'content-type: application/json' -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":${2:-[]}}" "$url"; }
head_block() { echo $(($(rpc eth_blockNumber | jq -r .result))); }
mine() { rpc evm_mine >/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_for SECONDS COMMAND...: true once COMMAND succeeds (checked every 50 ms).
wait_for() {
  local until=$(($(date +%s%N) / 1000000 + $1 * 1000))
  shift
  while [ $(($(date +%s%N) / 1000000)) -lt "$until" ]; do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}
start_indexer() { # name poll-ms [flags...]: sets PID
  local name=$1 poll=$2
  shift 2
  "$LOOM_BUILD/bin/loom-indexer" --rpc-url "$url" \
    --escrow-address 0x00000000000000000000000000000000000e5c40 --start-block "$(head_block)" \
    --sink memory --metrics-port 0 --poll-interval-ms "$poll" --metrics-log-ms -1 \
    --log-level debug "$@" 2>"$work/$name.log" &
  PID=$!
  pids+=("$PID")
}
metrics_port() { grep -o '"event":"indexer.metrics_listening"[^}]*"port":[0-9]*' "$work/$1.log" 2>/dev/null | grep -o '[0-9]*$'; }
metric() { # name metric -> value
  curl -s -m 5 "http://127.0.0.1:$(metrics_port "$1")/metrics" | awk -v m="$2" '$1 == m { print $2 }'
}
logged() { grep -q "$2" "$work/$1.log" 2>/dev/null; }
indexed_at_least() { local v; v=$(metric "$1" loom_indexer_indexed_block); [ -n "$v" ] && [ "${v%.*}" -ge "$2" ]; }

[ "$(head_block)" -ge 1 ] || mine # --start-block is at least 1

# ---- 1. subscription up: heads wake the follower --------------------------------
start_indexer sub 60000
if wait_for 30 logged sub '"event":"indexer.head_sub_up","url":"ws://127.0.0.1:'; then
  ok "subscription up on the rpc port (ws_url auto)"
else
  bad "subscription did not come up"; cat "$work/sub.log"
fi
wait_for 30 metrics_port sub >/dev/null || bad "no metrics port logged"
h0=$(head_block)
wait_for 30 indexed_at_least sub "$h0" || bad "first step did not index block $h0"
for _ in 1 2 3; do mine; done
h1=$(head_block)
# 45 s: under the 60 s poll interval, so only the notifications can explain it.
if wait_for 45 indexed_at_least sub "$h1"; then
  ok "3 mined blocks indexed through notifications (head $h1, polling every 60 s)"
else
  bad "blocks up to $h1 not indexed: $(metric sub loom_indexer_indexed_block)"
fi
n=$(metric sub loom_indexer_head_notifications_total)
if [ "${n%.*}" -ge 3 ] 2>/dev/null; then ok "head_notifications_total $n >= 3"; else bad "head_notifications_total '$n'"; fi
[ "$(metric sub loom_indexer_head_subscription_up)" = 1 ] && ok "head_subscription_up 1" || bad "head_subscription_up '$(metric sub loom_indexer_head_subscription_up)'"

# ---- 2. nobody listening: warning, polling indexes ---------------------------------
start_indexer down 100 --ws-url "ws://127.0.0.1:$(free_port)"
if wait_for 30 logged down '"event":"indexer.head_sub_down".*"error":"i/o error".*"fallback":"polling"'; then
  ok "unreachable ws endpoint: warning logged, polling"
else
  bad "no head_sub_down warning"; cat "$work/down.log"
fi
wait_for 30 metrics_port down >/dev/null || bad "no metrics port logged"
mine
mine
h2=$(head_block)
wait_for 30 indexed_at_least down "$h2" && ok "polling indexed up to block $h2" || bad "polling did not reach $h2"
[ "$(metric down loom_indexer_head_subscription_up)" = 0 ] && ok "head_subscription_up 0" || bad "head_subscription_up '$(metric down loom_indexer_head_subscription_up)'"
[ "$(metric down loom_indexer_head_notifications_total)" = 0 ] && ok "no notifications counted" || bad "notifications '$(metric down loom_indexer_head_notifications_total)'"

# ---- 3. a plain HTTP server: refused handshake, polling ---------------------------
sub_port=$(metrics_port sub)
start_indexer http 100 --ws-url "ws://127.0.0.1:${sub_port:-1}/"
if wait_for 30 logged http '"event":"indexer.head_sub_down".*"reason":"handshake: HTTP 4'; then
  ok "HTTP-only endpoint: warning names the HTTP status"
else
  bad "no handshake warning"; cat "$work/http.log"
fi
wait_for 30 metrics_port http >/dev/null || bad "no metrics port logged"
mine
h3=$(head_block)
wait_for 30 indexed_at_least http "$h3" && ok "polling indexed up to block $h3" || bad "polling did not reach $h3"

echo "$pass passed, $fail failed"
