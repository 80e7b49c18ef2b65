#!/usr/bin/env bash
# bench_e2e.sh -- the whole marketplace, end to end, timed from the client's
# side (issue 9, "Benchmark"). Not part of `make test`: `make bench` runs it
# (scripts/bench.sh runs tests/bench/*.sh), or run it alone:
#
#   bash tests/bench/bench_e2e.sh
#
# It starts its own stack with deploy/up.sh (make up) in a private state
# folder on free ports (LOOM_UP_PORTS=auto, LOOM_UP_STRICT=1: all five
# services), the worker on the POCL CPU device, and drives it as a client
# with the `loom` CLI only, like deploy/demo.sh:
#
# 1. Latency, one worker: N jobs (default 20), one after another: `loom
#    create`, `loom watch --json` on it, `loom fund`; the next job is created
#    once this one is SUBMITTED (the worker is idle again), so no job queues
#    behind another while payouts overlap the next job. Per job:
#      create -> claim      first WORKING line of `loom watch --json`
#      create -> claim sent the worker's own log line job.claim_sent (the
#                           claim transaction accepted by the node)
#      create -> submitted  first SUBMITTED line
#      create -> payout     COMPLETED line (the keeper's release after the
#                           challenge window, or the client's accept)
#    and open -> claim sent (the OPEN line to job.claim_sent): what the seed's
#    10 s polling would replace. A polling worker finds an OPEN job after
#    U(0, 10 s), 5 s on average and 10 s at worst, plus its request.
# 2. Throughput: W workers (default 4: make up's own plus W-1 more loom-worker
#    daemons, each with its own key funded on chain), M jobs (default 20)
#    posted by C clients side by side (default 4, each its own funded key;
#    each job: create, watch, fund); jobs per minute from the first `loom
#    create` to the last SUBMITTED and to the last payout.
#
# Timestamps: each line of `loom watch --json` (flushed per line) is stamped
# with bash's EPOCHREALTIME (microseconds, the wall clock) as it arrives here,
# and so are the create and fund commands; job.claim_sent is the worker log's
# "ts" (wall clock, ms). Both clocks are this machine's CLOCK_REALTIME. Block
# timestamps (1 s) and the job store's status history (block times) are not
# used. p50 and p99 are nearest-rank (with 20 samples p99 is the largest).
#
# Settings (environment):
#   LOOM_BENCH_E2E_N         jobs for the latency run (default 20)
#   LOOM_BENCH_E2E_WORKERS   workers for the throughput run (default 4; 0 skips it)
#   LOOM_BENCH_E2E_M         jobs for the throughput run (default 20)
#   LOOM_BENCH_E2E_CLIENTS   clients posting them side by side, each with its
#                            own funded key (default 4)
#   LOOM_BENCH_E2E_WINDOW_S  challenge window given to `loom fund` (default 2)
#   LOOM_BENCH_E2E_SPEC      job spec (default examples/opencl-mandelbrot.json;
#                            its inputs are taken from the spec's folder)
#   LOOM_BENCH_E2E_TYPE      job type announced (default GRAFICA)
#   LOOM_BENCH_E2E_TIMEOUT_S limit for one job to be paid (default 300)
#   LOOM_BENCH_E2E_KEEP      1: keep the folder (logs, watch lines) for reading
#   LOOM_UP_CL_PLATFORM      the workers' OpenCL platform (default portable: POCL)
#   LOOM_UP_BLOCK_TIME       anvil's block interval (make up's default, 1 s)
# Prints the command, the conditions and the figures; asserts no speed. Exit
# status: 0 when every job was paid, 1 otherwise (logs printed).
#
# SPDX-License-Identifier: MIT
set -uo pipefail
export LC_ALL=C
cd "$(dirname "$0")/../.." || exit 1
root=$PWD
: "${LOOM_BUILD:=$root/build}"
case "$LOOM_BUILD" in /*) ;; *) LOOM_BUILD=$root/$LOOM_BUILD ;; esac
export LOOM_BUILD
n1=${LOOM_BENCH_E2E_N:-20}
nw=${LOOM_BENCH_E2E_WORKERS:-4}
nc=${LOOM_BENCH_E2E_CLIENTS:-4}
n4=${LOOM_BENCH_E2E_M:-20}
window=${LOOM_BENCH_E2E_WINDOW_S:-2}
spec=${LOOM_BENCH_E2E_SPEC:-examples/opencl-mandelbrot.json}
jtype=${LOOM_BENCH_E2E_TYPE:-GRAFICA}
job_timeout=${LOOM_BENCH_E2E_TIMEOUT_S:-300}
for v in n1 nw nc n4 window job_timeout; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "bench_e2e: $v must be a whole number, not \"${!v}\"" >&2; exit 64; }
done
if [ "$n1" -lt 1 ] || [ "$nc" -lt 1 ] || [ "$job_timeout" -lt 1 ]; then echo "bench_e2e: N and TIMEOUT_S CLIENTS and TIMEOUT_S must be at least 1" >&2; exit 64; fi
[ -f "$spec" ] || { echo "bench_e2e: no spec $spec" >&2; exit 64; }
cast=$root/node_modules/.bin/cast
loom=$LOOM_BUILD/bin/loom

dir=$(mktemp -d "${LOOM_BENCH_TMP:-/tmp}/bench_e2e.XXXXXX")
chmod 755 "$dir"
export LOOM_UP_DIR=$dir/run LOOM_UP_PORTS=auto LOOM_UP_STRICT=1 LOOM_UP_LOG_LEVEL=info
export LOOM_UP_CL_PLATFORM=${LOOM_UP_CL_PLATFORM:-portable}
unset LOOM_UP_SERVICES
state=$LOOM_UP_DIR
bg=() # the watchers and extra workers this script started
fund_retries=0
cleanup() {
  local p
  # Watchers started by the throughput run's client loops (subshells).
  [ -f "$dir/watchers.pids" ] && while read -r p; do kill "$p" 2>/dev/null; done <"$dir/watchers.pids"
  for p in "${bg[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  if [ "${LOOM_BENCH_E2E_KEEP:-0}" = 1 ]; then
    deploy/down.sh --keep --quiet
    echo "bench_e2e: kept $dir (LOOM_BENCH_E2E_KEEP=1)" >&2
  else
    deploy/down.sh --quiet >/dev/null 2>&1 || deploy/down.sh
    rm -rf "$dir"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
die() {
  echo "bench_e2e: $*" >&2
  local f
  for f in "$state"/logs/{gateway,indexer,keeper,worker}*.log; do
    [ -f "$f" ] && { echo "--- last lines of $f:" >&2; grep -v '^\[warn\] Epoll' "$f" | tail -n 15 >&2; }
  done
  exit 1
}
now() { echo "$EPOCHREALTIME"; }
# stamp: copy stdin to stdout, each line prefixed with its arrival time.
stamp() { local l; while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done; }
# wait_line FILE REGEX SECONDS: wait until FILE has a line matching REGEX.
wait_line() {
  local end=$((SECONDS + $3))
  until grep -qE "$2" "$1" 2>/dev/null; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.05
  done
}

# --- The stack --------------------------------------------------------------
cmdline="LOOM_BENCH_E2E_N=$n1 LOOM_BENCH_E2E_WORKERS=$nw LOOM_BENCH_E2E_CLIENTS=$nc LOOM_BENCH_E2E_M=$n4 LOOM_BENCH_E2E_WINDOW_S=$window LOOM_BENCH_E2E_SPEC=$spec bash tests/bench/bench_e2e.sh"
echo "bench_e2e: $cmdline"
echo "bench_e2e: starting the stack (deploy/up.sh, auto ports, state in $state)"
t_up=$(now)
deploy/up.sh >"$dir/up.log" 2>&1 || { cat "$dir/up.log" >&2; die "make up failed"; }
up_s=$(python3 -c 'import sys; print("%.1f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$t_up" "$(now)")
# shellcheck disable=SC1091
source "$state/env"
export LOOM_GATEWAY_URL LOOM_RPC_URL LOOM_DEPLOYMENT LOOM_KEY_FILE
spec_dir=$(dirname "$spec")
inputs=()
while IFS= read -r name; do inputs+=(--file "$spec_dir/$name"); done < <(jq -r '.inputs[]?.name' "$spec")
feed_addr=$(sed -n 's/.*feed \(tcp:[^,]*\),.*/\1/p' "$state/summary.txt" | head -n 1)
[ -n "$feed_addr" ] || die "no feed address in $state/summary.txt"
cl_device=$("$LOOM_BUILD/bin/loom-worker" devices 2>/dev/null | grep -i portable | head -n 1)

# run_job I PREFIX: create one job, watch it, fund it; its id in job_id.
# Records "id t_create0 t_create1 t_fund0 t_fund1" in $dir/PREFIX.tsv and the
# stamped `loom watch --json` lines in $dir/PREFIX-ID.watch.
run_job() {
  local i=$1 pre=$2 t0 t1 t2 t3 id
  t0=$(now)
  id=$("$loom" create --json --type "$jtype" --price-usd 1.00 --title "bench_e2e $pre $i" \
    --spec "$spec" "${inputs[@]}" 2>>"$dir/cli.err" | jq -er .id) || die "loom create failed: $(tail -n 2 "$dir/cli.err")"
  t1=$(now)
  # Process substitution, so that $! is loom watch itself.
  "$loom" watch --json --timeout "$job_timeout" "$id" 2>>"$dir/cli.err" > >(stamp >"$dir/$pre-$id.watch") &
  bg+=($!)
  echo $! >>"$dir/watchers.pids"
  # The watcher reads the record once its stream is open: its first line
  # (PENDING) says it is subscribed, so no later change is missed.
  wait_line "$dir/$pre-$id.watch" '"status"' 30 || die "loom watch $id printed nothing in 30 s"
  t2=$(now)
  # anvil --prune-history (scripts/anvil.sh) keeps the newest block's state
  # only, so a call at "latest" that races the next block can fail with
  # BlockOutOfRangeError (any of fund's calls: getJob, quote, estimateGas,
  # the receipt). fund is tried again then; when the first try's create was
  # mined after all, the escrow has the job and the retry says "exists
  # already": funded.
  local try
  for try in 1 2 3; do
    "$loom" fund --json --window-s "$window" "$id" >"$dir/fund-$id.json" 2>"$dir/fund-$id.err" && break
    cat "$dir/fund-$id.err" >>"$dir/cli.err"
    if [ "$try" -gt 1 ] && grep -q "exists already" "$dir/fund-$id.err"; then break; fi
    if [ "$try" = 3 ] || ! grep -q "BlockOutOfRangeError" "$dir/fund-$id.err"; then
      die "loom fund $id failed: $(cat "$dir/fund-$id.err")"
    fi
    fund_retries=$((fund_retries + 1))
  done
  t3=$(now)
  echo "$id $t0 $t1 $t2 $t3" >>"$dir/$pre.tsv"
  job_id=$id
}

# --- 1. Latency, one worker -------------------------------------------------
echo "bench_e2e: latency run: $n1 jobs, one after another, one worker"
: >"$dir/one.tsv"
for i in $(seq 1 "$n1"); do
  run_job "$i" one
  id=$job_id
  wait_line "$dir/one-$id.watch" '"(SUBMITTED|COMPLETED|REFUNDED|DISPUTED)"' "$job_timeout" \
    || die "job $id was not SUBMITTED within ${job_timeout}s"
done
for f in "$dir"/one-*.watch; do
  wait_line "$f" '"(COMPLETED|REFUNDED|DISPUTED)"' "$job_timeout" || die "$f: not paid within ${job_timeout}s"
done
grep -h '"event":"job.claim_sent"' "$state/logs/worker.log" >"$dir/claims.jsonl"

# --- 2. Throughput, W workers -----------------------------------------------
t_first=0
if [ "$nw" -ge 1 ]; then
  echo "bench_e2e: throughput run: $n4 jobs, $nw workers"
  dev=$(jq -er '.available_accounts[0]' "$state/anvil/anvil.json")
  for w in $(seq 2 "$nw"); do
    json=$("$cast" wallet new --json)
    (umask 077 && jq -er '.[0].private_key' <<<"$json" | sed 's/^0x//' >"$state/keys/worker$w.key")
    addr=$(jq -er '.[0].address' <<<"$json")
    "$cast" send --rpc-url "$LOOM_RPC_URL" --unlocked --from "$dev" --value 100ether "$addr" \
      >>"$dir/fund-workers.log" 2>&1 || die "cannot fund worker $w ($addr)"
    mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p "$state/data/worker$w"
    (cd "$state/data" && exec env LOOM_LOG_LEVEL=info LOOM_FEED="$feed_addr" LOOM_GATEWAY="$LOOM_GATEWAY_URL" \
      LOOM_RPC_URL="$LOOM_RPC_URL" LOOM_DEPLOYMENT="$LOOM_DEPLOYMENT" \
      LOOM_KEY_FILE="$state/keys/worker$w.key" LOOM_METRICS_LISTEN="127.0.0.1:$mport" \
      LOOM_WORK_DIR="$state/data/worker$w" LOOM_CL_PLATFORM="$LOOM_UP_CL_PLATFORM" \
      "$LOOM_BUILD/bin/loom-worker" </dev/null >>"$state/logs/worker$w.log" 2>&1) &
    bg+=($!)
    end=$((SECONDS + 60))
    until curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$mport/health" 2>/dev/null; do
      [ $SECONDS -lt $end ] || die "worker $w: no /health within 60 s"
      sleep 0.2
    done
  done
  # Clients, each with its own funded key, post the jobs side by side, so
  # that posting (create + fund, a block each) is not the bottleneck.
  for c in $(seq 1 "$nc"); do
    json=$("$cast" wallet new --json)
    (umask 077 && jq -er '.[0].private_key' <<<"$json" >"$dir/client$c.key")
    "$cast" send --rpc-url "$LOOM_RPC_URL" --unlocked --from "$dev" --value 100ether \
      "$(jq -er '.[0].address' <<<"$json")" >>"$dir/fund-workers.log" 2>&1 || die "cannot fund client $c"
  done
  : >"$dir/four.tsv"
  t_first=$(now)
  loops=()
  for c in $(seq 1 "$nc"); do
    (
      export LOOM_KEY_FILE=$dir/client$c.key
      for i in $(seq "$c" "$nc" "$n4"); do run_job "$i" four; done
    ) &
    loops+=($!)
  done
  for p in "${loops[@]}"; do wait "$p" || die "a client loop failed (above)"; done
  for f in "$dir"/four-*.watch; do
    wait_line "$f" '"(COMPLETED|REFUNDED|DISPUTED)"' "$job_timeout" || die "$f: not paid within ${job_timeout}s"
  done
fi

# --- Figures ------------------------------------------------------------------
block_time=${LOOM_UP_BLOCK_TIME:-1}
echo
echo "bench_e2e: conditions"
echo "  command    $cmdline"
echo "  machine    $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(uname -srm)"
echo "  load       $(uptime | sed 's/.*load average/load average/') (at the end; shared machine)"
echo "  device     ${cl_device:-?} (LOOM_CL_PLATFORM=$LOOM_UP_CL_PLATFORM)"
echo "  chain      anvil, a block every ${block_time}s; indexer confirmations 0, poll 250 ms; keeper poll 1000 ms"
echo "  jobs       $spec ($jtype, 1.00 USD), window ${window}s, deadline 7 d, max runtime 3600 s (fund's defaults)"
echo "  stack up   ${up_s}s (make up); loom fund retried $fund_retries time(s) after anvil's BlockOutOfRangeError"
python3 - "$dir" "$n1" "$nw" "$n4" "$window" "$t_first" "$nc" <<'PY' || exit 1
import glob, json, math, os, sys
from datetime import datetime, timezone

d, n1, nw, n4, window, t_first = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
nc = int(sys.argv[7])

def rows(pre):
    out = {}
    path = os.path.join(d, pre + ".tsv")
    if not os.path.exists(path):
        return out
    for line in open(path):
        f = line.split()
        out[int(f[0])] = dict(c0=float(f[1]), c1=float(f[2]), f0=float(f[3]), f1=float(f[4]))
    return out

def watch(pre, jid):
    """First arrival time of each status in the job's `loom watch --json` lines."""
    first = {}
    for line in open(os.path.join(d, "%s-%d.watch" % (pre, jid))):
        t, _, js = line.partition(" ")
        st = json.loads(js).get("status")
        if st and st not in first:
            first[st] = float(t)
    return first

def pct(xs, p):
    xs = sorted(xs)
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)]

def ts(s):
    return datetime.strptime(s.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()

claims = {}
for line in open(os.path.join(d, "claims.jsonl")):
    o = json.loads(line)
    claims.setdefault(o["job_id"], (ts(o["ts"]), o.get("dispatch_us")))

one = rows("one")
series = {k: [] for k in ("fund", "open", "claim_sent", "claim", "submit", "payout", "open_claim", "dispatch", "sub")}
for jid, r in sorted(one.items()):
    w = watch("one", jid)
    for st in ("OPEN", "WORKING", "SUBMITTED", "COMPLETED"):
        if st not in w:
            sys.exit("job %d: no %s line in its watch stream" % (jid, st))
    # The bench waits for its watcher to subscribe between create and fund
    # (r["f0"] - r["c1"]); a client would not, so that wait is taken out.
    wait = r["f0"] - r["c1"]
    t0 = r["c0"] + wait
    series["sub"].append(wait)
    series["fund"].append(r["f1"] - t0)
    series["open"].append(w["OPEN"] - t0)
    series["claim"].append(w["WORKING"] - t0)
    series["submit"].append(w["SUBMITTED"] - t0)
    series["payout"].append(w["COMPLETED"] - t0)
    if jid in claims:
        series["claim_sent"].append(claims[jid][0] - t0)
        series["open_claim"].append(claims[jid][0] - w["OPEN"])
        if claims[jid][1] is not None:
            series["dispatch"].append(claims[jid][1] / 1e6)

print()
print("bench_e2e: latency, one worker, %d jobs one after another" % len(one))
print("  (seconds from the start of `loom create` unless said, less the bench's wait for its watcher)")
print("  %-52s %8s %8s %8s %8s" % ("", "p50", "p99", "min", "n"))
def line(name, xs):
    if xs:
        print("  %-52s %8.3f %8.3f %8.3f %8d" % (name, pct(xs, 50), pct(xs, 99), min(xs), len(xs)))
    else:
        print("  %-52s %8s" % (name, "none"))
line("create -> funded (fund's receipt)", series["fund"])
line("create -> open (watch: OPEN)", series["open"])
line("create -> claim sent (worker log job.claim_sent)", series["claim_sent"])
line("create -> claim (watch: WORKING)", series["claim"])
line("create -> submitted (watch: SUBMITTED)", series["submit"])
line("create -> payout (watch: COMPLETED, window %ds)" % window, series["payout"])
line("open (watch: OPEN) -> claim sent", series["open_claim"])
line("feed message -> claim sent (worker's dispatch_us)", series["dispatch"])
line("taken out: create done -> watcher subscribed", series["sub"])
if series["open_claim"]:
    oc = series["open_claim"]
    mean = sum(oc) / len(oc)
    print()
    print("  time to claim vs the seed's 10 s polling (a poller finds an OPEN job after U(0,10) s:")
    print("  5 s on average, 10 s at worst, plus its request):")
    print("    open -> claim sent here: mean %.3f s, p50 %.3f s, p99 %.3f s" % (mean, pct(oc, 50), pct(oc, 99)))
    print("    polling: mean 5 s + request (%.1fx the mean here), worst 10 s + request (%.1fx the p99 here)"
          % (5 / mean, 10 / pct(oc, 99)))
    if series["dispatch"]:
        print("    the worker's own part, feed message -> claim sent: p50 %.3f s, p99 %.3f s"
              % (pct(series["dispatch"], 50), pct(series["dispatch"], 99)))
    op, cs = series["open"], series["claim_sent"]
    print("    create -> claim sent here: p50 %.3f s, p99 %.3f s; with 10 s polling it would be about"
          % (pct(cs, 50), pct(cs, 99)))
    print("    create -> open + 5 s = %.3f s on average (p50 of create -> open + 5), up to %.3f s (p99 + 10)"
          % (pct(op, 50) + 5, pct(op, 99) + 10))

four = rows("four")
if nw >= 1 and four:
    subs, pays = [], []
    for jid in four:
        w = watch("four", jid)
        subs.append(w.get("SUBMITTED", float("nan")))
        pays.append(w.get("COMPLETED", float("nan")))
    span_sub = max(subs) - t_first
    span_pay = max(pays) - t_first
    created = max(r["f1"] for r in four.values()) - t_first
    print()
    print("bench_e2e: throughput, %d workers, %d jobs posted by %d clients side by side" % (nw, len(four), nc))
    print("  %-52s %8.1f s" % ("first create -> last job funded", created))
    print("  %-52s %8.1f s  %6.1f jobs/min" % ("first create -> last SUBMITTED", span_sub, 60 * len(four) / span_sub))
    print("  %-52s %8.1f s  %6.1f jobs/min" % ("first create -> last payout (COMPLETED)", span_pay, 60 * len(four) / span_pay))
PY
echo
if [ -s "$dir/four.tsv" ]; then
  cut -d' ' -f1 "$dir/four.tsv" >"$dir/four.ids"
  echo "  throughput run, per worker: jobs submitted, claims lost to another worker (reverted or found taken)"
  for f in "$state"/logs/worker*.log; do
    printf '    %-8s %3s submitted, %3s lost\n' "$(basename "$f" .log)" \
      "$(jq -R -r 'fromjson? | select(.event == "job.submitted") | .job_id' "$f" 2>/dev/null | grep -cxF -f "$dir/four.ids")" \
      "$(jq -R -r 'fromjson? | select(.event == "job.lost") | .job_id' "$f" 2>/dev/null | grep -cxF -f "$dir/four.ids")"
  done
fi
