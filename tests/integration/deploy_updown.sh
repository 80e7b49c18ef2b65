#!/usr/bin/env bash
# deploy_updown.sh -- `make up` then `make down` (deploy/up.sh, deploy/down.sh)
# in a temporary state folder on free ports.
#
# Checks: a port in use is refused before anything starts; up starts
# PostgreSQL, anvil, the contracts (the feed answers 3000.00000000, the escrow
# has code), 0600 key files for keeper, worker and client each holding exactly
# the funded 100 ETH, and every service this build can run (each answers
# /health); a second up says "already up"; down leaves none of the recorded
# processes behind and removes the state. Then down.sh alone: a process that
# ignores SIGTERM gets SIGKILL after the timeout, and a pid file whose start
# time does not match is never signalled.
# Last line: "N passed, N failed".
#
# SPDX-License-Identifier: MIT
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
cast=$root/node_modules/.bin/cast
base=${LOOM_TEST_TMP:-/tmp}
tmp=$(mktemp -d "$base/deploy-updown.XXXXXX")
export LOOM_UP_DIR=$tmp/run LOOM_UP_PORTS=auto LOOM_BUILD=${LOOM_BUILD:-$root/build}
# shellcheck source=deploy/lib.sh
source deploy/lib.sh # after LOOM_UP_DIR: it sets $pid_dir from it
bg=()
cleanup() {
  # Anything the test itself started, and whatever up.sh left if a check failed.
  for p in "${bg[@]+"${bg[@]}"}"; do kill "$p" 2>/dev/null; done
  [ -d "$LOOM_UP_DIR" ] && deploy/down.sh --quiet >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT

passed=0 failed=0
alive() { pid_alive "$1" >/dev/null; }
check() { # NAME COMMAND...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"
  else failed=$((failed + 1)); echo "FAIL $name"; fi
}

# 1. A port in use is refused, and nothing is started or created.
# The holder binds port 0 and says which port it got: choosing a free port
# first and binding it after raced with other tests' outgoing connections.
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); open(sys.argv[1],"w").write("%d\n" % s.getsockname()[1]); time.sleep(120)' "$tmp/busy.tmp" &
bg+=($!)
for _ in $(seq 1 100); do [ -s "$tmp/busy.tmp" ] && break; sleep 0.05; done
busy=$(cat "$tmp/busy.tmp" 2>/dev/null)
out=$(LOOM_UP_ANVIL_PORT=$busy deploy/up.sh 2>&1); rc=$?
check "port in use: exit 69" [ "$rc" = 69 ]
check "port in use: says which" grep -q "port $busy (anvil JSON-RPC, LOOM_UP_ANVIL_PORT) on 127.0.0.1 is in use" <<<"$out"
check "port in use: no state created" [ ! -e "$LOOM_UP_DIR" ]
kill "${bg[0]}" 2>/dev/null

# 2. Up.
out=$(deploy/up.sh 2>&1); rc=$?
echo "$out" | sed 's/^/  | /'
check "up: exit 0" [ "$rc" = 0 ]
check "up: prints the summary" grep -q "The Loom is up" <<<"$out"
for n in postgres anvil; do
  check "up: $n running" alive "$n"
done
rpc=$(. "$LOOM_UP_DIR/env" && echo "$LOOM_RPC_URL")
dep=$LOOM_UP_DIR/deployment.json
feed=$(jq -r .priceFeed "$dep") escrow=$(jq -r .escrow "$dep")
answer=$("$cast" call --rpc-url "$rpc" "$feed" 'latestAnswer()(int256)' 2>/dev/null | awk '{print $1}')
check "up: feed answers 3000.00000000 USD" [ "$answer" = 300000000000 ]
code=$("$cast" code --rpc-url "$rpc" "$escrow" 2>/dev/null)
check "up: escrow has code" [ "${#code}" -gt 100 ]
check "up: chain id 31337" [ "$("$cast" chain-id --rpc-url "$rpc")" = 31337 ]
for who in keeper worker client; do
  check "up: $who.key is 0600" [ "$(stat -c %a "$LOOM_UP_DIR/keys/$who.key")" = 600 ]
  bal=$("$cast" balance --rpc-url "$rpc" "$(cat "$LOOM_UP_DIR/keys/$who.addr")" 2>/dev/null)
  check "up: $who holds 100 ETH" [ "$bal" = 100000000000000000000 ]
done
# Every service is started and healthy.
for svc in jobstore gateway indexer keeper worker; do
  if grep -q "^$svc	" "$LOOM_UP_DIR/services.tsv"; then
    url=$(awk -F'\t' -v s="$svc" '$1 == s {print $3}' "$LOOM_UP_DIR/services.tsv")
    check "up: $svc answers $url" curl -fsS -m 5 -o /dev/null "$url"
    check "up: $svc running" alive "$svc"
  else
    check "up: $svc started ($(grep -E "^  $svc +SKIPPED: " <<<"$out"))" false
  fi
done

# 3. A second up changes nothing.
before=$(cat "$LOOM_UP_DIR"/pids/*.pid | sort)
out=$(deploy/up.sh 2>&1); rc=$?
check "up again: exit 0" [ "$rc" = 0 ]
check "up again: says already up" grep -q "already up" <<<"$out"
check "up again: same processes" [ "$(cat "$LOOM_UP_DIR"/pids/*.pid | sort)" = "$before" ]

# 4. Down stops every recorded process and removes the state.
pids=$(awk '{print $1}' <<<"$before")
pgdata=$(cat "$LOOM_UP_DIR/pg.path")
deploy/down.sh; rc=$?
check "down: exit 0" [ "$rc" = 0 ]
left=""
# A zombie has exited (init reaps it when it gets to it): proc_start_time fails.
for p in $pids; do proc_start_time "$p" >/dev/null && left+=" $p"; done
check "down: no process left (${left:-none})" [ -z "$left" ]
check "down: state removed" [ ! -e "$LOOM_UP_DIR" ]
check "down: database removed" [ ! -e "$pgdata" ]
out=$(deploy/down.sh 2>&1); rc=$?
check "down again: nothing to stop" [ "$rc" = 0 ]

# 5. down.sh alone: SIGKILL after the timeout; a mismatched record is left alone.
mkdir -p "$pid_dir"
bash -c 'trap "" TERM; while :; do sleep 0.1; done' &
stubborn=$!
sleep 300 &
other=$!
bg+=("$stubborn" "$other")
for _ in $(seq 1 50); do [ "$(readlink /proc/$other/exe)" != "$(readlink /proc/$$/exe)" ] && break; sleep 0.1; done
pid_record worker "$stubborn"
echo "$other 1" >"$pid_dir/keeper.pid" # the right pid, the wrong start time
out=$(LOOM_DOWN_TIMEOUT=1 deploy/down.sh 2>&1); rc=$?
{ wait "$stubborn"; } 2>/dev/null
stubborn_rc=$?
check "down: SIGTERM-proof process killed" [ ! -e "/proc/$stubborn" ]
check "down: it was stopped by SIGKILL" [ "$stubborn_rc" = 137 ]
check "down: says it sent SIGKILL" grep -q "worker (pid $stubborn) still running after 1s; sending SIGKILL" <<<"$out"
check "down: other process untouched" kill -0 "$other"
check "down: exit 0, state removed" test "$rc" = 0 -a ! -e "$LOOM_UP_DIR"

echo "$passed passed, $failed failed"
