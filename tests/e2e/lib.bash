# lib.bash -- helpers shared by the end-to-end tests (sourced, not run; the
# test runner runs tests/e2e/*.sh only).
# shellcheck shell=bash disable=SC2034  # (variables for the scripts that source this)
#
# A test sources this, then calls e2e_up with the services it needs. Each test
# gets its own state folder under LOOM_TEST_TMP and free ports
# (LOOM_UP_PORTS=auto), and everything deploy/up.sh started is stopped on
# exit (deploy/down.sh on that folder), whatever happens, a TERM from the
# test runner's time limit included.
#   ok / bad / check / equal          count results (nothing is ever skipped:
#                                     a piece that does not start fails)
#   e2e_finish                        print "N passed, N failed" (last line), exit
#   e2e_run CMD...                    a long step, interruptible by TERM
#   e2e_up "SERVICES" WHAT            start the stack; a service that does
#                                     not start fails the test (WHAT), which ends
# SPDX-License-Identifier: MIT
set -uo pipefail
e2e_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$e2e_root" || exit 1
export LOOM_BUILD=${LOOM_BUILD:-$e2e_root/build}
e2e_name=$(basename "$0" .sh)
work=$(mktemp -d "${LOOM_TEST_TMP:-/tmp}/e2e-$e2e_name.XXXXXX")
chmod 755 "$work"
export LOOM_UP_DIR=$work/run LOOM_UP_PORTS=auto LOOM_UP_LOG_LEVEL=info
unset LOOM_UP_STRICT LOOM_UP_SERVICES
state=$LOOM_UP_DIR
cast=$e2e_root/node_modules/.bin/cast
loom=$LOOM_BUILD/bin/loom

passed=0 failed=0
ok() { echo "ok: $1"; passed=$((passed + 1)); }
bad() { echo "FAILED: $1"; failed=$((failed + 1)); }
# check NAME COMMAND...: one test, passed when COMMAND succeeds.
check() { local n=$1; shift; if "$@"; then ok "$n"; else bad "$n"; fi; }
# equal NAME GOT WANT
equal() { if [ "$2" = "$3" ]; then ok "$1 ($2)"; else bad "$1: got \"$2\", want \"$3\""; fi; }
e2e_finish() { echo "$passed passed, $failed failed"; exit $((failed > 0)); }
# Print a log's end, for the CI log.
show_log() { if [ -f "$1" ]; then echo "--- last lines of $1:"; grep -v '^\[warn\] Epoll' "$1" | tail -n 30; fi; }
show_logs() { local s; for s in "$@"; do show_log "$state/logs/$s.log"; done; }

# shellcheck disable=SC2317  # (run by the traps)
e2e_cleanup() {
  "$e2e_root/deploy/down.sh" --quiet >/dev/null 2>&1 || "$e2e_root/deploy/down.sh"
  rm -rf "$work"
}
trap e2e_cleanup EXIT
# A long step runs in the background and is waited for, so that a TERM (the
# test runner's time limit) interrupts the wait at once: the step is stopped
# and the EXIT trap still stops the stack.
step_pid=""
e2e_run() { "$@" & step_pid=$!; wait "$step_pid"; local rc=$?; step_pid=""; return $rc; }
# shellcheck disable=SC2317
e2e_stop_step() { [ -n "$step_pid" ] && kill "$step_pid" 2>/dev/null; wait 2>/dev/null; }
trap 'e2e_stop_step; exit 130' INT
trap 'e2e_stop_step; exit 143' TERM

# e2e_require_started SVC...: fail (one check per service) for each named
# service that make up did not start, with make up's reason. Returns 1 if any.
declare -A started
e2e_require_started() {
  local svc why rc=0
  for svc in "$@"; do
    [ -n "${started[$svc]:-}" ] && continue
    why=$(sed -n "s/^  $svc \{1,\}SKIPPED: //p" "$state/summary.txt")
    bad "loom-$svc did not start (make up: ${why:-no reason given})"
    rc=1
  done
  return $rc
}

# e2e_up "SERVICES" [WHAT]: start the stack with LOOM_UP_SERVICES=SERVICES,
# check each started service's /health; when one of SERVICES did not start,
# that is a failure and the test (WHAT, its scenario) ends there. On success,
# sources the stack's env for loom.
e2e_up() {
  local want=$1 what=${2:-the scenario} svc pid url why missing
  if LOOM_UP_SERVICES=$want e2e_run "$e2e_root/deploy/up.sh" >"$work/up.log" 2>&1; then
    ok "make up ($want; auto ports, state in its own folder)"
  else
    bad "make up ($want)"
    cat "$work/up.log"
    for f in "$state"/logs/*.log; do show_log "$f"; done
    e2e_finish
  fi
  while IFS=$'\t' read -r svc pid url; do
    started[$svc]=1
    check "$svc (pid $pid) answers $url" curl -fsS -m 5 -o /dev/null "$url"
  done <"$state/services.tsv"
  # shellcheck disable=SC2086
  if ! e2e_require_started $want; then
    echo "$what: cannot run without those services"
    for f in "$state"/logs/*.log; do show_log "$f"; done
    e2e_finish
  fi
  # shellcheck disable=SC1091
  source "$state/env"
  deployment=$state/deployment.json
  rpc=$LOOM_RPC_URL
  escrow=$(jq -r .escrow "$deployment")
}

# wei ADDRESS: the wallet's balance; escrow_balance ADDRESS: what the escrow
# holds for it to withdraw.
wei() { "$cast" balance --rpc-url "$rpc" "$1"; }
escrow_balance() { "$cast" call --rpc-url "$rpc" "$escrow" 'balanceOf(address)(uint256)' "$1" | awk '{print $1}'; }
# add A B... / sub A B: exact integer arithmetic on wei.
add() { python3 -c 'import sys; print(sum(int(x) for x in sys.argv[1:]))' "$@"; }
sub() { python3 -c 'import sys; print(int(sys.argv[1]) - int(sys.argv[2]))' "$1" "$2"; }

# --- Scenario helpers (lapse.sh, dispute.sh, race.sh; branch e2escen) -------
# Call after e2e_up.
#   e2e_wait_status JOB STATUS [S]   poll `loom status` until JOB is STATUS
#                                    (default 120 s); print the last status seen
#   e2e_dev_account [I]              anvil's dev account I (default 0: the
#                                    deployer, LoomEscrow's arbiter); unlocked
#   e2e_new_account NAME [ETH]       keys/NAME.key (0600) and keys/NAME.addr,
#                                    funded with ETH (default 10) by account 0
#   e2e_start_worker NAME KEY        one more loom-worker, set up as up.sh sets
#                                    its own, with keys/KEY.key, logging to
#                                    logs/NAME.log; recorded in pids/NAME.pid,
#                                    so deploy/down.sh stops it too; returns
#                                    once /health answers and its start-up
#                                    snapshot is taken
#   e2e_stop NAME                    SIGTERM a process of pids/, wait until gone
#   e2e_tx_fee TX...                 the sum of gasUsed x effectiveGasPrice of
#                                    the transactions, wei (one JSON-RPC batch)
#   e2e_log_events LOG EVENT JOB     the JSON lines of EVENT for gateway job JOB
#   e2e_wait_log LOG EVENT JOB [S]   poll LOG until one such line is there
#   e2e_logs TOPIC0 JOB_ID_HEX       count the escrow's logs with these topics
# shellcheck source=deploy/lib.sh
source "$e2e_root/deploy/lib.sh"
e2e_wait_status() {
  local id=$1 want=$2 limit=${3:-120} got="" t0=$SECONDS
  while [ $((SECONDS - t0)) -lt "$limit" ]; do
    got=$("$loom" status --json "$id" 2>/dev/null | jq -r '.status // empty' 2>/dev/null)
    [ "$got" = "$want" ] && { echo "$got"; return 0; }
    sleep 0.5
  done
  echo "${got:-none}"
  return 1
}
e2e_dev_account() { jq -er ".available_accounts[${1:-0}]" "$state/anvil/anvil.json"; }
e2e_new_account() {
  local name=$1 eth=${2:-10} json
  json=$("$cast" wallet new --json) || return 1
  (umask 077 && jq -er '.[0].private_key' <<<"$json" | sed 's/^0x//' >"$state/keys/$name.key")
  chmod 600 "$state/keys/$name.key"
  jq -er '.[0].address' <<<"$json" >"$state/keys/$name.addr"
  "$cast" send --rpc-url "$rpc" --unlocked --from "$(e2e_dev_account 0)" \
    --value "${eth}ether" "$(cat "$state/keys/$name.addr")" >/dev/null
}
e2e_start_worker() {
  local name=$1 key=$2 feed port pid t0=$SECONDS
  feed=$(sed -n 's/.* feed \(tcp:\/\/[^,]*\),.*/\1/p' "$state/summary.txt")
  port=$(free_port 127.0.0.1)
  mkdir -p "$state/data/$name"
  (cd "$state/data" && exec env LOOM_LOG_LEVEL=info LOOM_FEED="$feed" LOOM_GATEWAY="$LOOM_GATEWAY_URL" \
    LOOM_RPC_URL="$rpc" LOOM_DEPLOYMENT="$deployment" LOOM_KEY_FILE="$state/keys/$key.key" \
    LOOM_METRICS_LISTEN="127.0.0.1:$port" LOOM_WORK_DIR="$state/data/$name" \
    setsid "$LOOM_BUILD/bin/loom-worker" </dev/null >>"$state/logs/$name.log" 2>&1) &
  pid=$!
  pid_record "$name" "$pid" || { echo "loom-worker $name stopped at once" >&2; return 1; }
  until curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null; do
    pid_alive "$name" >/dev/null || { echo "loom-worker $name stopped" >&2; return 1; }
    [ $((SECONDS - t0)) -lt 60 ] || { echo "loom-worker $name: no /health in 60 s" >&2; return 1; }
    sleep 0.2
  done
  # Its start-up snapshot comes after it subscribed to the feed.
  until grep -q '"snapshot.taken"' "$state/logs/$name.log"; do
    [ $((SECONDS - t0)) -lt 60 ] || { echo "loom-worker $name: no snapshot in 60 s" >&2; return 1; }
    sleep 0.2
  done
}
e2e_stop() {
  local pid t0=$SECONDS
  pid=$(pid_alive "$1") || return 0
  kill -TERM "$pid" 2>/dev/null
  while pid_alive "$1" >/dev/null; do
    [ $((SECONDS - t0)) -lt 30 ] || { kill -KILL "$pid" 2>/dev/null; sleep 0.5; break; }
    sleep 0.1
  done
  rm -f "$pid_dir/$1.pid"
}
e2e_tx_fee() {
  python3 - "$rpc" "$@" <<'PY'
import json, sys, urllib.request
batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_getTransactionReceipt", "params": [tx]}
         for i, tx in enumerate(sys.argv[2:])]
req = urllib.request.Request(sys.argv[1], json.dumps(batch).encode(),
                             {"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=30) as r:
    answers = json.load(r)
receipts = [a["result"] for a in answers]
if len(receipts) != len(batch) or None in receipts:
    sys.exit("e2e_tx_fee: a receipt is missing")
print(sum(int(x["gasUsed"], 16) * int(x["effectiveGasPrice"], 16) for x in receipts))
PY
}
e2e_log_events() {
  [ -f "$1" ] || return 0
  jq -R -c --arg ev "$2" --argjson id "$3" 'fromjson? | select(.event == $ev and .job_id == $id)' "$1"
}
e2e_wait_log() {
  local limit=${4:-120} t0=$SECONDS
  until [ -n "$(e2e_log_events "$1" "$2" "$3")" ]; do
    [ $((SECONDS - t0)) -lt "$limit" ] || return 1
    sleep 0.5
  done
}
e2e_logs() {
  "$cast" logs --rpc-url "$rpc" --json --from-block 0 --address "$escrow" "$1" "$2" | jq length
}
# Topics (docs/contracts.md "Events").
ev_claimed=0x0fa6c12aa943d8ddba26c330f3ae62d4ae2005b32ce185900c5f0964511cf092
ev_submitted=0x8de90a8fc99e755e25f3540a972e7cc67411a590aac65904475d814145d87371
ev_reopened=0x802721a5dc5e5650da35fc6c4f85a11558b965c7fb0b37152cffe652e4369721
ev_released=0x5d663951ad4c96a0e56c58c9f02783be4c57c9283e2942818adf7f35846bcbd4
ev_resolved=0x2aede0cd57bba3be998c39d156e89ffb3414a33ba9a3d74367e81e4ff49ba211

# --- Restarting a service (chaos.sh) ------------------------------------------
# A service is killed and started again exactly as deploy/up.sh started it:
#   e2e_kill9 SVC     SIGKILL the process in pids/SVC.pid (only while its
#                     start time still matches, deploy/lib.sh) and wait until it
#                     is gone; first saves its argv, environment (all its
#                     LOOM_* settings: ports, database, keys, journals) and
#                     working directory under $work/restart/.
#   e2e_restart SVC   start it again from what e2e_kill9 saved (same settings,
#                     same data, its log appended to), in its own session as
#                     up.sh does, and not as this script's child; record the
#                     new pid in pids/SVC.pid (so deploy/down.sh stops it) and
#                     services.tsv; wait up to LOOM_E2E_HEALTH_S (60) seconds
#                     for its /health. Fails, with the log's end, when it
#                     exits or stays unhealthy.
e2e_kill9() {
  local svc=$1 pid saved=$work/restart/$1 i
  pid=$(pid_alive "$svc") || { echo "e2e_kill9: loom-$svc is not running" >&2; return 1; }
  mkdir -p "$work/restart"
  if ! { cat "/proc/$pid/cmdline" >"$saved.argv" && cat "/proc/$pid/environ" >"$saved.environ" \
    && readlink "/proc/$pid/cwd" >"$saved.cwd"; }; then
    echo "e2e_kill9: cannot read /proc/$pid" >&2
    return 1
  fi
  kill -KILL "$pid" || return 1
  for i in $(seq 1 100); do
    pid_alive "$svc" >/dev/null || return 0
    sleep 0.1
  done
  echo "e2e_kill9: loom-$svc (pid $pid) still there 10 s after SIGKILL" >&2
  return 1
}
e2e_restart() {
  local svc=$1 saved=$work/restart/$1 argv=() envs=() cwd pid url deadline
  if ! { mapfile -d '' -t argv <"$saved.argv" && mapfile -d '' -t envs <"$saved.environ" \
    && cwd=$(cat "$saved.cwd"); }; then
    echo "e2e_restart: nothing saved for loom-$svc" >&2
    return 1
  fi
  # Started from a subshell that exits at once, so the service is not this
  # script's child: lib.bash's TERM trap waits for its children.
  pid=$( (cd "$cwd" && exec env -i "${envs[@]}" setsid "${argv[@]}") </dev/null \
    >>"$state/logs/$svc.log" 2>&1 & echo $!)
  pid_record "$svc" "$pid" || { echo "e2e_restart: loom-$svc exited at once" >&2; show_logs "$svc"; return 1; }
  url=$(awk -F '\t' -v s="$svc" '$1 == s {print $3}' "$state/services.tsv")
  awk -F '\t' -v OFS='\t' -v s="$svc" -v p="$pid" '$1 == s {$2 = p} {print}' "$state/services.tsv" \
    >"$state/services.tsv.new" && mv "$state/services.tsv.new" "$state/services.tsv"
  deadline=$((SECONDS + ${LOOM_E2E_HEALTH_S:-60}))
  until curl -fsS -m 2 -o /dev/null "$url" 2>/dev/null; do
    if ! pid_alive "$svc" >/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "e2e_restart: loom-$svc (pid $pid) did not become healthy at $url" >&2
      show_logs "$svc"
      return 1
    fi
    sleep 0.2
  done
}
