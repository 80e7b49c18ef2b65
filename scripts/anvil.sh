#!/usr/bin/env bash
# anvil.sh -- a throwaway local chain (anvil from the npm Foundry package).
#
#   scripts/anvil.sh start DIR PORT [extra anvil flags]   start, wait for RPC, print URL
#   scripts/anvil.sh stop DIR
#
# anvil keeps historical state on disk by default (~0.4 GB per 1,000 blocks,
# DESIGN.md): HOME and the cache go into DIR, removed by `stop`. It keeps only
# the newest 64 states, in memory: enough that a call at "latest" never races a
# block that was mined meanwhile (a bare --prune-history keeps one state and
# such calls failed with BlockOutOfRangeError under load).
set -euo pipefail
cmd=${1:?usage: anvil.sh start|stop DIR [PORT]}
dir=${2:?usage: anvil.sh start|stop DIR [PORT]}
root=$(cd "$(dirname "$0")/.." && pwd)
case "$cmd" in
start)
  port=${3:?usage: anvil.sh start DIR PORT}
  shift 3
  mkdir -p "$dir/home"
  dir=$(cd "$dir" && pwd)
  HOME="$dir/home" setsid "$root/node_modules/.bin/anvil" --host 127.0.0.1 --port "$port" \
    --prune-history 64 --cache-path "$dir/cache" --chain-id 31337 "$@" >"$dir/anvil.log" 2>&1 &
  echo $! >"$dir/anvil.pid"
  for _ in $(seq 1 100); do
    if curl -s -m 1 -H 'content-type: application/json' \
        -d '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' \
        "http://127.0.0.1:$port" | grep -q result; then
      echo "http://127.0.0.1:$port"
      exit 0
    fi
    sleep 0.1
  done
  echo "anvil.sh: anvil did not answer on port $port; log:" >&2
  cat "$dir/anvil.log" >&2
  exit 1
  ;;
stop)
  if [ -f "$dir/anvil.pid" ]; then
    kill "$(cat "$dir/anvil.pid")" 2>/dev/null || true
    rm -f "$dir/anvil.pid"
  fi
  rm -rf "$dir/cache" "$dir/home"
  ;;
*) echo "usage: anvil.sh start|stop DIR [PORT]" >&2; exit 64 ;;
esac
