# lib.sh -- helpers shared by deploy/up.sh and deploy/down.sh (sourced, not run).
#
# A process started by `make up` is recorded in $LOOM_UP_DIR/pids/<name>.pid as
# one line "PID STARTTIME", STARTTIME being field 22 of /proc/PID/stat (clock
# ticks after boot). down.sh signals a pid only while both still match, so a
# pid the kernel has since given to another process is never touched.
#
# SPDX-License-Identifier: MIT

# The state folder (absolute), the repository root and the binaries.
deploy_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state_dir=${LOOM_UP_DIR:-$deploy_root/.run}
case "$state_dir" in /*) ;; *) state_dir=$deploy_root/$state_dir ;; esac
pid_dir=$state_dir/pids
log_dir=$state_dir/logs
key_dir=$state_dir/keys

# Start order of the processes; down.sh stops them in the reverse order.
# postgres and anvil come from scripts/pg.sh and scripts/anvil.sh.
deploy_order=(postgres anvil jobstore gateway indexer keeper worker)

# proc_start_time PID: print the process's start time (field 22 of
# /proc/PID/stat); fails when there is no such process or it is a zombie. The command name
# (field 2) may hold spaces and parentheses, so cut after the last ")".
proc_start_time() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  # After "pid (comm) " the state is field 3, so start time is the 20th here.
  # shellcheck disable=SC2086
  set -- $stat
  [ $# -ge 20 ] || return 1
  # A zombie has exited; only its parent has not read its status yet.
  [ "$1" != Z ] || return 1
  echo "${20}"
}

# pid_record NAME PID: write pids/NAME.pid for a process that is running.
pid_record() {
  local start
  start=$(proc_start_time "$2") || return 1
  echo "$2 $start" >"$pid_dir/$1.pid"
}

# pid_alive NAME: succeed when pids/NAME.pid names a process that is still
# the one recorded; print its pid.
pid_alive() {
  local f=$pid_dir/$1.pid pid start now
  [ -f "$f" ] || return 1
  read -r pid start <"$f" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  now=$(proc_start_time "$pid") || return 1
  [ "$now" = "$start" ] || return 1
  echo "$pid"
}

# port_is_free HOST PORT: succeed when nothing listens on HOST:PORT (a bind
# test, so a port held without listening counts as taken too).
port_is_free() {
  python3 - "$1" "$2" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
PY
}

# free_port HOST: print a port the kernel says is free now.
free_port() {
  python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"
}

# state_remove: delete the state folder and the PostgreSQL data folder it
# points to (placed under /tmp when the postgres user cannot reach it).
state_remove() {
  local pg
  if [ -f "$state_dir/pg.path" ]; then
    pg=$(cat "$state_dir/pg.path")
    case "$pg" in
      /tmp/loom-up-pg.*/pg) rm -rf "$(dirname "$pg")" ;;
    esac
  fi
  rm -rf "$state_dir"
}
