#!/usr/bin/env bash
# down.sh -- stop exactly what deploy/up.sh started (`make down`).
#
#   deploy/down.sh [--keep] [--quiet]
#
# Reads $LOOM_UP_DIR/pids/*.pid and stops each process that is still the one
# recorded (pid and start time, deploy/lib.sh), in the reverse start order:
# worker, keeper, indexer, gateway, jobstore, anvil, PostgreSQL. Each gets
# SIGTERM (PostgreSQL: SIGINT, its "fast" shutdown, which ends its sessions
# instead of waiting for them), then SIGKILL if it is still there after
# LOOM_DOWN_TIMEOUT seconds (default 15: the services stop in well under a
# second; PostgreSQL writes a shutdown checkpoint). Nothing else is signalled,
# whatever its name.
# Then the state folder (logs, keys, database, chain cache) is removed, unless
# --keep (or KEEP=1 through make) asks to keep it for reading.
# Exit status: 0 when everything recorded is stopped, 1 when a process would
# not stop (the state is kept then), 64 bad usage.
#
# SPDX-License-Identifier: MIT
set -euo pipefail
source "$(dirname "$0")/lib.sh"

keep=0 quiet=0
for a in "$@"; do
  case "$a" in
    --keep) keep=1 ;;
    --quiet) quiet=1 ;;
    *) echo "usage: deploy/down.sh [--keep] [--quiet]" >&2; exit 64 ;;
  esac
done
[ "${LOOM_DOWN_KEEP:-0}" = 1 ] && keep=1
timeout_s=${LOOM_DOWN_TIMEOUT:-15}
[[ "$timeout_s" =~ ^[1-9][0-9]*$ ]] || { echo "make down: LOOM_DOWN_TIMEOUT must be a positive integer" >&2; exit 64; }
say() { [ "$quiet" = 1 ] || echo "make down: $*"; }

if [ ! -d "$state_dir" ]; then
  say "nothing to stop (no $state_dir)"
  exit 0
fi

# Names in reverse start order, then any other pid file (none today).
names=()
for ((i = ${#deploy_order[@]} - 1; i >= 0; i--)); do names+=("${deploy_order[i]}"); done
for f in "$pid_dir"/*.pid; do
  [ -e "$f" ] || continue
  n=$(basename "$f" .pid)
  [[ " ${names[*]} " == *" $n "* ]] || names+=("$n")
done

# stop NAME: signal the recorded process, wait, escalate; succeed once gone.
stop() {
  local name=$1 pid sig=TERM waited=0
  pid=$(pid_alive "$name") || { rm -f "$pid_dir/$name.pid"; return 0; }
  [ "$name" = postgres ] && sig=INT
  kill -s "$sig" "$pid" 2>/dev/null || true
  # Ten checks a second until the deadline.
  while pid_alive "$name" >/dev/null; do
    if [ "$waited" -ge $((timeout_s * 10)) ]; then
      echo "make down: $name (pid $pid) still running after ${timeout_s}s; sending SIGKILL" >&2
      kill -s KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do pid_alive "$name" >/dev/null || break; sleep 0.1; done
      if pid_alive "$name" >/dev/null; then
        echo "make down: cannot stop $name (pid $pid)" >&2
        return 1
      fi
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  rm -f "$pid_dir/$name.pid"
  say "stopped $name (pid $pid)"
}

failed=0
for n in "${names[@]}"; do
  stop "$n" || failed=1
done
# anvil.sh's own cleanup of the chain cache it keeps on disk; its pid file goes
# first, so that it signals nothing (the pid was checked and stopped above).
if [ -d "$state_dir/anvil" ]; then
  rm -f "$state_dir/anvil/anvil.pid"
  "$deploy_root/scripts/anvil.sh" stop "$state_dir/anvil" >/dev/null 2>&1 || true
fi

if [ "$failed" = 1 ]; then
  echo "make down: some processes did not stop; state kept in $state_dir" >&2
  exit 1
fi
if [ "$keep" = 1 ]; then
  say "state kept in $state_dir (logs in $log_dir); \`make down\` again removes it"
else
  state_remove
  say "removed $state_dir"
fi
