#!/usr/bin/env bash
# worker_daemon.sh -- loom-worker serve end to end against anvil, a fake
# gateway and a feed published here (tests/integration/worker_fakegw.c).
#
#  1. deploys LoomEscrow (contracts/deploy.sh) with a fresh deployer; fresh
#     client and worker accounts funded with anvil_setBalance;
#  2. job 1 is only in the REST snapshot: worker A claims, runs, uploads and
#     submits it; job 2's input does not match its sha256: claimed, failed
#     cleanly; job 3 comes on the feed and completes although the gateway
#     answers 503 to its first two job.json downloads, 403 then 503 to its
#     upload (the worker retries, logging "gateway.retry"): getJob shows Submitted
#     and JobSubmitted carries the sha256 of the uploaded bundle, whose
#     outputs equal the C reference; progress reached the gateway signed;
#  3. after the challenge window the client releases jobs 1 and 3. The escrow
#     sends a payout straight to an EOA that was never credited
#     (docs/contracts.md "Payouts"), so A is made to refuse ETH (anvil_setCode)
#     while job 1 is released: A is credited, and from then on always
#     credited. A second daemon with A's key and a threshold of job 1's amount
#     withdraws it at start (auto-withdraw: the amount, less the gas of its
#     receipt, reaches A's wallet); job 3 is then credited too (A's balance
#     slot is in use) and `loom-worker withdraw` moves exactly its amount, less
#     the gas of the withdraw receipt; with nothing credited, a daemon with a
#     threshold of 1 wei sends no transaction;
#  4. workers A and B race for job 4 (a kernel that never ends): exactly one
#     claims it on chain, the other logs a lost race and takes job 5; the
#     winner's job 4 fails (timeout) and, B stopped, the winner completes
#     job 6;
#  5. the feed drops: the fake gateway (and its feed publisher, the
#     jobstore's services/jobstore/feedpub.c with its heartbeat) is killed;
#     the worker logs the silence; job 7 is opened while it is down (so no
#     one hears of it on the feed); the gateway comes back on the same
#     addresses; the worker sees the new heartbeat epoch, re-reads the open
#     jobs and completes job 7.
# Needs LOOM_TEST_RPC_URL, LOOM_BUILD, LOOM_TEST_TMP (scripts/test.sh).
set -uo pipefail
: "${LOOM_TEST_RPC_URL:?run through make test}" "${LOOM_BUILD:?}" "${LOOM_TEST_TMP:?}"
cd "$(dirname "$0")/../.."
root=$PWD
cast=$root/node_modules/.bin/cast
rpc=$LOOM_TEST_RPC_URL
dir=$(mktemp -d "$LOOM_TEST_TMP/worker_daemon.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
finish() { echo "$passed passed, $failed failed"; exit $((failed > 0)); }
die() { bad "$*"; for f in "$dir"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }; done; finish; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rpcj() { curl -s -H 'content-type: application/json' -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}" "$rpc"; }
first() { awk '{print $1}'; }

newkey() { # FILE -> prints the address; the key file is 0600
  (umask 077 && printf '0x%s\n' "$(openssl rand -hex 32)" >"$1")
  local a; a=$($cast wallet address --private-key "$(cat "$1")")
  rpcj anvil_setBalance "[\"$a\",\"0x56BC75E2D63100000\"]" >/dev/null   # 100 ETH
  echo "$a"
}
wait_for() { # FILE REGEX SECONDS
  local i
  for i in $(seq 1 $(($3 * 5))); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.2; done
  return 1
}
count() { grep -cE "$2" "$1" 2>/dev/null || true; }

# ---- chain ------------------------------------------------------------------
deployer=$(newkey "$dir/deployer.key")
client=$(newkey "$dir/client.key")
worker_a=$(newkey "$dir/a.key")
worker_b=$(newkey "$dir/b.key")
client_key=$(cat "$dir/client.key")
contracts/deploy.sh --rpc-url "$rpc" --key-file "$dir/deployer.key" --out "$dir/deploy.json" \
  >"$dir/deploy.log" 2>&1 || die "contracts/deploy.sh failed"
escrow=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["escrow"])' "$dir/deploy.json")
ok "escrow deployed at $escrow"
lc() { tr 'A-F' 'a-f'; }
worker_a_lc=$(echo "$worker_a" | lc)
worker_b_lc=$(echo "$worker_b" | lc)

# ---- jobs -------------------------------------------------------------------
mkdir -p "$dir/gw/jobs" "$dir/gw/results"
cat >"$dir/sq.cl" <<'CL'
__kernel void sq(__global uint *o, uint k) { uint i = get_global_id(0); o[i] = i * i + k; }
CL
cat >"$dir/spin.cl" <<'CL'
__kernel void spin(__global uint *o, uint k) { for (uint i = 0;; i++) o[get_global_id(0)] = i + k; }
CL
sha() { sha256sum "$1" | cut -d' ' -f1; }
spec() { # KERNEL_FILE KERNEL K [INPUT_SHA]
  local s=${4:-$(sha "$dir/$1")}
  printf '{"v":1,"kind":"opencl","inputs":[{"name":"%s","sha256":"%s"}],"opencl":{"source_file":"%s","kernel":"%s","global":[256],"args":[{"type":"out","size_bytes":1024,"output":"out.bin"},{"type":"uint","value":%s}]}}' \
    "$1" "$s" "$1" "$2" "$3"
}
price=1250
declare -A JID SPEC AMOUNT
create_job() { # DBID KERNEL_FILE KERNEL K [INPUT_SHA]
  local id=$1 jd="$dir/gw/jobs/$1"
  mkdir -p "$jd"
  spec "$2" "$3" "$4" "${5:-}" >"$jd/job.json"
  cp "$dir/$2" "$jd/"
  local h; h=0x$(sha "$jd/job.json")
  local value; value=$($cast call --rpc-url "$rpc" "$escrow" "quote(uint64)(uint256)" $price | first)
  local now; now=$($cast block latest --field timestamp --rpc-url "$rpc")
  local ref; ref=0x$(openssl rand -hex 32)
  $cast send --rpc-url "$rpc" --private-key "$client_key" "$escrow" \
    "create(bytes32,uint64,bytes32,uint32,uint32,uint32)" "$ref" $price "$h" $((now + 86400)) 600 10 \
    --value "$value" >/dev/null || die "create job $id"
  JID[$id]=$($cast call --rpc-url "$rpc" "$escrow" "jobIdOf(address,bytes32)(bytes32)" "$client" "$ref")
  SPEC[$id]=$h
  AMOUNT[$id]=$value
}
record() { # DBID -> a gateway job record (REST form)
  printf '{"id":%s,"title":"t","type":"IA","price_usd_cents":%s,"status":"OPEN","chain_job_id":"%s","spec_sha256":"%s","escrow_wei":"%s","max_runtime_s":600}' \
    "$1" $price "${JID[$1]}" "${SPEC[$1]}" "${AMOUNT[$1]}"
}
frame() { # DBID -> a job.open.IA frame (docs/PROTOCOL.md)
  printf 'job.open.IA {"v":1,"job_id":%s,"chain_job_id":"%s","type":"IA","price_usd_cents":%s,"escrow_wei":"%s","spec_sha256":"%s","deadline_at":%s,"max_runtime_s":600}' \
    "$1" "${JID[$1]}" $price "${AMOUNT[$1]}" "${SPEC[$1]}" $(( $(date +%s) + 86400 ))
}
get_job() { $cast call --rpc-url "$rpc" "$escrow" \
  "getJob(bytes32)(address,uint96,address,uint8,uint32,uint32,uint32,uint32,uint64,bytes32)" "${JID[$1]}"; }
job_status() { get_job "$1" | sed -n 4p | first; }
job_worker() { get_job "$1" | sed -n 3p | first | lc; }

create_job 1 sq.cl sq 1
create_job 2 sq.cl sq 2 "$(printf 'not the kernel' | sha256sum | cut -d' ' -f1)"
create_job 3 sq.cl sq 3
create_job 4 spin.cl spin 4
create_job 5 sq.cl sq 5
create_job 6 sq.cl sq 6
create_job 7 sq.cl sq 7
ok "seven jobs created on chain"
echo "{\"jobs\":[$(record 1)],\"next_cursor\":null}" >"$dir/gw/snapshot.json"

# ---- fake gateway and feed ----------------------------------------------------
cc -std=c11 -D_GNU_SOURCE -O1 -I. -Icommon -Iproto -o "$dir/fakegw" tests/integration/worker_fakegw.c services/jobstore/feedpub.c \
  "$LOOM_BUILD/libloom.a" -levent -lnanomsg -lsecp256k1 -lnettle -lcjson -lcrypto -lm -lpthread \
  || die "cannot build worker_fakegw"
feed="tcp://127.0.0.1:$(free_port)"
"$dir/fakegw" "$dir/gw" "$feed" "$dir/gw.port" 2>"$dir/fakegw.log" &
gw_pid=$!
pids+=($gw_pid)
wait_for "$dir/gw.port" . 10 || die "fake gateway did not start"
gw="http://127.0.0.1:$(cat "$dir/gw.port")"
publish() { curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary "$2" "$gw/test/publish?topic=$1"; }

start_worker() { # NAME KEYFILE -> pid in $wpid
  LOOM_FEED=$feed LOOM_TYPES=IA LOOM_GATEWAY=$gw LOOM_RPC_URL=$rpc LOOM_DEPLOYMENT=$dir/deploy.json \
  LOOM_KEY_FILE=$2 LOOM_WORK_DIR=$dir/work-$1 LOOM_METRICS_LISTEN=127.0.0.1:0 LOOM_LOG_LEVEL=debug \
  LOOM_MAX_RUNTIME_MS=20000 LOOM_WITHDRAW_THRESHOLD_WEI=${threshold:-0} \
    "$LOOM_BUILD/bin/loom-worker" serve 2>"$dir/$1.log" &
  wpid=$!
  pids+=($wpid)
  wait_for "$dir/$1.log" '"worker.start"' 20 || die "worker $1 did not start"
  # PUB/SUB drops what comes before the subscription is up: ping until heard.
  local ping='job.closed {"v":1,"job_id":999999,"chain_job_id":"0x0000000000000000000000000000000000000000000000000000000000000001","status":"REFUNDED","at":1}'
  local i
  for i in $(seq 1 50); do
    publish job.closed "$ping" >/dev/null
    grep -q '"feed.message".*"job_id":999999' "$dir/$1.log" && return 0
    sleep 0.2
  done
  die "worker $1 never heard the feed"
}

# ---- 2. one worker: snapshot, bad input, feed -----------------------------------
start_worker A "$dir/a.key"
pid_a=$wpid
check "worker A heard the feed's heartbeat" wait_for "$dir/A.log" '"feed.up"' 20
check "worker A read the snapshot (status OPEN, type IA)" wait_for "$dir/gw/snapshots.log" 'status=OPEN&type=IA' 20
wait_for "$dir/A.log" '"job.submitted".*"job_id":1,' 60 || die "job 1 (snapshot) not submitted"
ok "job 1 from the snapshot: claimed, run, uploaded, submitted"
check "job 1 is Submitted on chain (status 3)" test "$(job_status 1)" = 3
check "job 1's worker on chain is A" test "$(job_worker 1)" = "$worker_a_lc"

[ "$(publish job.open.IA "$(frame 2)")" = 200 ] || die "publish job 2"
wait_for "$dir/A.log" '"job.failed".*"job_id":2,' 60 || die "job 2 did not fail"
check "job 2 (bad input sha256) fails at the inputs stage, naming the digest" \
  grep -qE '"job.failed".*"job_id":2,.*"stage":"inputs".*sha256' "$dir/A.log"
check "job 2 was claimed first (the inputs come after the claim)" test "$(job_status 2)" = 2
check "no result uploaded for job 2" test ! -e "$dir/gw/results/2.tar"

# The gateway is "down" for job 3's first two downloads and an upload (503),
# and refuses its first upload (403: the job store has not seen the claim yet).
echo 2 >"$dir/gw/unavailable.files"
echo 1 >"$dir/gw/unavailable.result"
echo 1 >"$dir/gw/forbidden.result"
[ "$(publish job.open.IA "$(frame 3)")" = 200 ] || die "publish job 3"
wait_for "$dir/A.log" '"job.submitted".*"job_id":3,' 60 || die "job 3 not submitted"
ok "job 3 from the feed submitted after job 2 failed"
check "job 3: job.json answered 503 twice, then fetched (the worker retried)" \
  test "$(grep -E '^GET /api/jobs/3/files/job.json [0-9]+$' "$dir/gw/requests.log" | awk '{print $3}' | tr '\n' ' ')" = "503 503 200 "
check "job 3: the result upload answered 403, then 503, then stored" \
  test "$(grep -E '^WRITE /api/jobs/3/result [0-9]+$' "$dir/gw/requests.log" | awk '{print $3}' | tr '\n' ' ')" = "403 503 200 "
check "job 3: the worker logged each retry (2 for job.json, 2 for the result)" \
  test "$(grep -c '"gateway.retry".*"job_id":3,.*"what":"job.json"' "$dir/A.log")/$(grep -c '"gateway.retry".*"job_id":3,.*"what":"result"' "$dir/A.log")" = 2/2
check "job 3 is Submitted on chain" test "$(job_status 3)" = 3
tx3=$(grep '"job.submitted".*"job_id":3,' "$dir/A.log" | sed -E 's/.*"tx":"(0x[0-9a-f]+)".*/\1/')
sub_hash=$($cast receipt --rpc-url "$rpc" --json "$tx3" | python3 -c '
import json, sys
r = json.load(sys.stdin)
t0 = "0x8de90a8fc99e755e25f3540a972e7cc67411a590aac65904475d814145d87371"
print(next(l["data"][:66] for l in r["logs"] if l["topics"][0] == t0))')
up_hash=$(awk '$1 == 3 {print $2}' "$dir/gw/results.log")
check "JobSubmitted's resultHash is the sha256 of the uploaded bundle ($up_hash)" \
  test -n "$up_hash" -a "$sub_hash" = "$up_hash"
check "the bundle's sha256 is its content's" test "0x$(sha "$dir/gw/results/3.tar")" = "$up_hash"
check "the bundle holds manifest.json and out.bin equal to the C reference" python3 - "$dir/gw/results/3.tar" <<'PY'
import hashlib, json, struct, sys, tarfile
t = tarfile.open(sys.argv[1])
assert t.getnames() == ["manifest.json", "out.bin"], t.getnames()
m = json.load(t.extractfile("manifest.json"))
data = t.extractfile("out.bin").read()
want = b"".join(struct.pack("<I", i * i + 3) for i in range(256))
assert data == want
assert m["status"] == "ok" and m["files"] == [{"name": "out.bin", "size_bytes": 1024, "sha256": hashlib.sha256(want).hexdigest()}], m
PY
check "results were uploaded signed by A" test "$(awk '$1 == 3 {print $3}' "$dir/gw/results.log")" = "$worker_a_lc"
check "progress 0 and 100 of job 3 reached the gateway, signed by A" \
  bash -c "grep -q '^3 {\"progress\":0} $worker_a_lc\$' '$dir/gw/progress.log' && grep -q '^3 {\"progress\":100} $worker_a_lc\$' '$dir/gw/progress.log'"
check "every line about a job carries its job_id" \
  bash -c "! grep -E '\"event\":\"job\\.' '$dir/A.log' | grep -v '\"job_id\":'"
mport=$(grep '"worker.start"' "$dir/A.log" | sed -E 's/.*"metrics_port":([0-9]+).*/\1/')
metrics=$(curl -s "http://127.0.0.1:$mport/metrics")
check "metrics: 2 completed, 1 failed, 3 claimed, 3 dispatch observations" bash -c "
  grep -q '^loom_worker_jobs_completed_total 2\$' <<<'$metrics' &&
  grep -q '^loom_worker_jobs_failed_total 1\$' <<<'$metrics' &&
  grep -q '^loom_worker_jobs_claimed_total 3\$' <<<'$metrics' &&
  grep -q '^loom_worker_dispatch_seconds_count 3\$' <<<'$metrics'"

# ---- 3. release and withdraw ------------------------------------------------------
rpcj evm_increaseTime '[11]' >/dev/null
rpcj evm_mine '[]' >/dev/null
release() { $cast send --rpc-url "$rpc" --private-key "$client_key" "$escrow" "release(bytes32)" "${JID[$1]}" >/dev/null; }
credit() { $cast call --rpc-url "$rpc" "$escrow" "balanceOf(address)(uint256)" "$worker_a" | first; }
nonce_a() { $cast nonce --rpc-url "$rpc" "$worker_a"; }
# While A has code that reverts (PUSH0 PUSH0 REVERT), the escrow cannot send to it and credits it.
rpcj anvil_setCode "[\"$worker_a\",\"0x5f5ffd\"]" >/dev/null
before=$($cast balance --rpc-url "$rpc" "$worker_a")
release 1 || die "release job 1"
rpcj anvil_setCode "[\"$worker_a\",\"0x\"]" >/dev/null
check "job 1's payout is credited to A, which refused ETH (${AMOUNT[1]} wei)" test "$(credit)" = "${AMOUNT[1]}"
check "A's wallet did not move" test "$($cast balance --rpc-url "$rpc" "$worker_a")" = "$before"
# Auto-withdraw: a daemon with A's key and a threshold of exactly that credit withdraws it at start.
threshold=${AMOUNT[1]} start_worker A1 "$dir/a.key"
wait_for "$dir/A1.log" '"withdraw.(done|failed)"' 30
wline=$(grep '"withdraw.done"' "$dir/A1.log")
afee=$(sed -nE 's/.*"fee_wei":"([0-9]+)".*/\1/p' <<<"$wline")
check "auto-withdraw at the threshold: withdraw.done with amount_wei ${AMOUNT[1]}" \
  grep -q "\"amount_wei\":\"${AMOUNT[1]}\"" <<<"$wline"
check "A's wallet grew by exactly ${AMOUNT[1]} wei less the ${afee:-?} wei of gas" \
  test "$(python3 -c "print($before + ${AMOUNT[1]} - ${afee:-0})")" = "$($cast balance --rpc-url "$rpc" "$worker_a")"
check "escrow balance of A is 0 after the auto-withdraw" test "$(credit)" = 0
kill -TERM "$wpid"; wait "$wpid"
# A's balance slot is in use now: job 3 is credited although A takes ETH again.
before=$($cast balance --rpc-url "$rpc" "$worker_a")
release 3 || die "release job 3"
want=${AMOUNT[3]}
check "job 3's payout is credited to A, whose balance slot is in use ($want wei)" test "$(credit)" = "$want"
check "A's wallet did not move (credited, not sent)" test "$($cast balance --rpc-url "$rpc" "$worker_a")" = "$before"
out=$(LOOM_RPC_URL=$rpc LOOM_DEPLOYMENT=$dir/deploy.json LOOM_KEY_FILE=$dir/a.key \
  "$LOOM_BUILD/bin/loom-worker" withdraw 2>"$dir/withdraw.log") || die "loom-worker withdraw failed"
after=$($cast balance --rpc-url "$rpc" "$worker_a")
wtx=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["tx"])' "$out")
fee=$($cast receipt --rpc-url "$rpc" --json "$wtx" | python3 -c '
import json, sys; r = json.load(sys.stdin); print(int(r["gasUsed"], 16) * int(r["effectiveGasPrice"], 16))')
check "withdraw reports the amount and the fee of its receipt" \
  test "$out" = "{\"withdrawn_wei\":\"$want\",\"fee_wei\":\"$fee\",\"tx\":\"$wtx\"}"
check "A's balance grew by exactly $want wei less $fee wei of gas" \
  test "$(python3 -c "print($before + $want - $fee)")" = "$after"
check "escrow balance of A is now 0" test "$(credit)" = 0
# Nothing credited: a daemon with a 1-wei threshold sends nothing (A's nonce stays).
n0=$(nonce_a)
threshold=1 start_worker A2 "$dir/a.key"
wait_for "$dir/A2.log" '"snapshot.taken"' 30
kill -TERM "$wpid"; wait "$wpid"
check "auto-withdraw with nothing credited: no transaction, no withdraw log line" \
  test "$(nonce_a)/$(count "$dir/A2.log" '"withdraw\.')" = "$n0/0"
out0=$(LOOM_RPC_URL=$rpc LOOM_DEPLOYMENT=$dir/deploy.json LOOM_KEY_FILE=$dir/a.key \
  "$LOOM_BUILD/bin/loom-worker" withdraw 2>>"$dir/withdraw.log")
check "a second withdraw has nothing to move" test "$out0" = '{"withdrawn_wei":"0","fee_wei":"0","tx":null}'
chmod 644 "$dir/b.key"
LOOM_RPC_URL=$rpc LOOM_DEPLOYMENT=$dir/deploy.json LOOM_KEY_FILE=$dir/b.key \
  "$LOOM_BUILD/bin/loom-worker" withdraw >/dev/null 2>"$dir/badkey.log"
check "a key file with mode 0644 is refused at start (exit 78)" test $? = 78
chmod 600 "$dir/b.key"

# ---- 4. the race ---------------------------------------------------------------------
start_worker B "$dir/b.key"
pid_b=$wpid
[ "$(publish job.open.IA "$(frame 4)")" = 200 ] || die "publish job 4"
wait_for "$dir/A.log" '"job_id":4,' 30 && wait_for "$dir/B.log" '"job.(lost|claimed)".*"job_id":4,' 30 \
  && wait_for "$dir/A.log" '"job.(lost|claimed)".*"job_id":4,' 30 || die "race for job 4 undecided"
claims=$(( $(count "$dir/A.log" '"job.claimed".*"job_id":4,') + $(count "$dir/B.log" '"job.claimed".*"job_id":4,') ))
losses=$(( $(count "$dir/A.log" '"job.lost".*"job_id":4,') + $(count "$dir/B.log" '"job.lost".*"job_id":4,') ))
check "race for job 4: exactly one claim and one lost race ($claims, $losses)" test "$claims/$losses" = 1/1
if grep -q '"job.claimed".*"job_id":4,' "$dir/A.log"; then
  win=A; lose=B; win_addr=$worker_a_lc; pid_lose=$pid_b
else
  win=B; lose=A; win_addr=$worker_b_lc; pid_lose=$pid_a
fi
check "the chain agrees: job 4 is Claimed by $win" \
  test "$(job_status 4)/$(job_worker 4)" = "2/$win_addr"
check "the lost race is logged at info, not as an error" \
  grep -qE '"level":"info","event":"job.lost".*"job_id":4,' "$dir/$lose.log"
[ "$(publish job.open.IA "$(frame 5)")" = 200 ] || die "publish job 5"
wait_for "$dir/$lose.log" '"job.submitted".*"job_id":5,' 60 || die "$lose did not take job 5"
ok "$lose took the next job (5) and submitted it"
wait_for "$dir/$win.log" '"job.failed".*"job_id":4,' 60 || die "job 4 did not fail"
check "job 4's endless kernel failed with a timeout" \
  grep -qE '"job.failed".*"job_id":4,.*"stage":"run".*timeout' "$dir/$win.log"
wait_for "$dir/$win.log" '"job.lost".*"job_id":5,' 30
check "$win, back from job 4, found job 5 taken and moved on" grep -q '"job.lost".*"job_id":5,' "$dir/$win.log"
kill -TERM "$pid_lose"
wait "$pid_lose"
check "$lose stops cleanly on SIGTERM (exit 0)" test $? = 0
[ "$(publish job.open.IA "$(frame 6)")" = 200 ] || die "publish job 6"
wait_for "$dir/$win.log" '"job.submitted".*"job_id":6,' 60 || die "$win did not complete job 6"
ok "$win keeps serving after the hostile kernel: job 6 submitted"
check "job 6 is Submitted on chain by $win" test "$(job_status 6)/$(job_worker 6)" = "3/$win_addr"

# ---- 5. the feed drops and comes back ---------------------------------------------
gw_port=$(cat "$dir/gw.port")
snaps_before=$(count "$dir/gw/snapshots.log" 'status=OPEN')
kill -TERM "$gw_pid"
wait "$gw_pid"
wait_for "$dir/$win.log" '"feed.silent"' 20 || die "$win did not notice the silent feed"
ok "$win noticed the feed went silent"
echo "{\"jobs\":[$(record 7)],\"next_cursor\":null}" >"$dir/gw/snapshot.json"
"$dir/fakegw" "$dir/gw" "$feed" "$dir/gw2.port" "$gw_port" 2>"$dir/fakegw2.log" &
pids+=($!)
wait_for "$dir/gw2.port" . 10 || die "fake gateway did not restart on port $gw_port"
wait_for "$dir/$win.log" '"feed.resync"' 20 || die "$win did not resync after the feed came back"
check "the resync names the publisher's restart" grep -qE '"feed.resync".*"reason":"restart"' "$dir/$win.log"
wait_for "$dir/$win.log" '"job.submitted".*"job_id":7,' 60 || die "job 7 (opened while the feed was down) not submitted"
ok "job 7, opened while the feed was down, found by the resync and submitted"
check "one more snapshot was read" test "$(count "$dir/gw/snapshots.log" 'status=OPEN')" -gt "$snaps_before"
check "job 7 is Submitted on chain by $win" test "$(job_status 7)/$(job_worker 7)" = "3/$win_addr"
finish
