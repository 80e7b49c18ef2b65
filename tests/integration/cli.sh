#!/usr/bin/env bash
# cli.sh -- the `loom` CLI end to end: against the harness's anvil (the
# escrow deployed with contracts/deploy.sh into a temporary JSON) and a
# stand-in gateway (tests/integration/cli_gw_stub.c, built here) that checks
# every signed request with common/eth's eip191_recover.
#
# Checks concrete values: the escrow holds exactly the quoted wei after fund,
# JobCreated carries the job id jobIdOf(client, ref) and that amount, the
# client's balance drops by amount + gas, accept sends the worker exactly
# the amount (an EOA never credited is paid at once, docs/contracts.md
# "Payouts"), dispute keeps it locked until the arbiter resolves for a client
# that refuses ETH at that moment (anvil_setCode), which is credited and
# withdraws it; plus exit codes (64 usage, 65 refused, 66 missing, 69 down,
# 76 lying gateway, 77 key mode or wrong key, 78 config, 2 job refunded)
# and watch's SSE handling. Needs LOOM_TEST_RPC_URL, LOOM_BUILD,
# LOOM_TEST_TMP (scripts/test.sh). Last line: "N passed, N failed".
set -uo pipefail
: "${LOOM_TEST_RPC_URL:?run through make test}" "${LOOM_BUILD:?}" "${LOOM_TEST_TMP:?}"
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cast=$root/node_modules/.bin/cast
loom=$LOOM_BUILD/bin/loom
rpc=$LOOM_TEST_RPC_URL
dir=$(mktemp -d "$LOOM_TEST_TMP/cli.XXXXXX")
stub_pid=
cleanup() {
  [ -n "$stub_pid" ] && kill "$stub_pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
check() { # description, then a command that must succeed
  local what=$1; shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}
finish() { echo "$passed passed, $failed failed"; exit $((failed > 0)); }
# expect_exit CODE PATTERN description -- cmd...: exit status and a stderr match
expect_exit() {
  local want=$1 pat=$2 what=$3; shift 4
  local out rc
  out=$("$@" 2>&1 >/dev/null); rc=$?
  if [ "$rc" = "$want" ] && grep -qE -- "$pat" <<<"$out"; then ok "$what (exit $rc)"
  else bad "$what: exit $rc (want $want), stderr: $out"; fi
}

[ -x "$loom" ] || { bad "no $loom"; finish; }

# --- the chain: deploy the escrow; fresh accounts with 100 ETH each -------
deployer_key=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80 # anvil's dev key 0 (public)
(umask 077 && echo "$deployer_key" >"$dir/deployer.key")
if ! contracts/deploy.sh --rpc-url "$rpc" --key-file "$dir/deployer.key" --out "$dir/dep.json" >"$dir/deploy.log" 2>&1; then
  cat "$dir/deploy.log"; bad "deploy the escrow"; finish
fi
escrow=$(jq -r .escrow "$dir/dep.json")
newkey() { # name -> writes $dir/<name>.key (0600), prints the address
  (umask 077 && echo "0x$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" >"$dir/$1.key")
  local a; a=$($cast wallet address "$(cat "$dir/$1.key")")
  $cast rpc --rpc-url "$rpc" anvil_setBalance "$a" 0x4563918244f40000 >/dev/null # 5 ETH: balances fit bash arithmetic
  echo "$a"
}
client=$(newkey client) worker=$(newkey worker) other=$(newkey other)
lc() { tr 'A-Z' 'a-z' <<<"$1"; }

# --- the stand-in gateway -----------------------------------------------
if ! cc -std=c11 -D_GNU_SOURCE -O1 -I. -Icommon -I/usr/include/cjson -o "$dir/stub" \
    tests/integration/cli_gw_stub.c "$LOOM_BUILD/libloom.a" -levent -lcjson -lsecp256k1 -lnettle -lcrypto; then
  bad "build cli_gw_stub"; finish
fi
mkdir -p "$dir/gw"
first_id=$(( (RANDOM % 9000 + 1000) * 10 ))
"$dir/stub" "$dir/gw" "$first_id" >"$dir/stub.port" 2>"$dir/stub.log" &
stub_pid=$!
for _ in $(seq 50); do [ -s "$dir/stub.port" ] && break; sleep 0.1; done
gw=http://127.0.0.1:$(cat "$dir/stub.port")
export LOOM_GATEWAY_URL=$gw LOOM_RPC_URL=$rpc LOOM_DEPLOYMENT=$dir/dep.json LOOM_KEY_FILE=$dir/client.key
setjob() { # id jq-assignment: edit the stub's record
  jq -c "$2" "$dir/gw/$1.json" >"$dir/gw/$1.tmp" && mv "$dir/gw/$1.tmp" "$dir/gw/$1.json"
}
jq_() { jq -r "$1"; }
escrow_bal() { $cast balance --rpc-url "$rpc" "$escrow"; }
credit() { $cast call --rpc-url "$rpc" "$escrow" 'balanceOf(address)(uint256)' "$1" | cut -d' ' -f1; }
job_status() { # getJob's word 3: the status
  local r; r=$($cast call --rpc-url "$rpc" "$escrow" 'getJob(bytes32)' "$1"); echo $((16#${r:2+3*64:64}))
}

# --- usage errors: exit 64 with a message -------------------------------
expect_exit 64 "usage: loom COMMAND" "no command" -- "$loom"
expect_exit 64 "unknown command" "unknown command" -- "$loom" frobnicate
expect_exit 64 "missing argument: usage is loom fund JOB" "fund without JOB" -- "$loom" fund
expect_exit 64 'JOB "abc" must be a job id' "fund with a bad JOB" -- "$loom" fund abc
expect_exit 64 "at most 2 decimals" "quote with 3 decimals" -- "$loom" quote --usd 1.234
expect_exit 64 "--usd is required" "quote without --usd" -- "$loom" quote
expect_exit 64 "--limit must be an integer from 1 to 100" "list --limit 0" -- "$loom" list --limit 0
expect_exit 64 "--type must be IA or GRAFICA" "create --type X" -- "$loom" create --title t --type X --price-usd 1
expect_exit 64 "never taken on the command line" "a key on the command line" -- "$loom" accept 1 --private-key 0x01
expect_exit 64 'unknown option "--frob"' "unknown option" -- "$loom" status 1 --frob
out=$("$loom" fund --help) && grep -q "usage: loom fund \[options\] JOB" <<<"$out" && grep -q "LOOM_KEY_FILE" <<<"$out" \
  && ok "fund --help prints usage and settings" || bad "fund --help: $out"
expect_exit 64 "--to-worker WEI" "resolve without --to-worker" -- "$loom" resolve 1
expect_exit 64 "give its client with --client" "resolve of a gateway id without --client" -- \
  "$loom" resolve 1 --to-worker all
expect_exit 64 "decimal wei amount" "resolve with a bad --to-worker" -- "$loom" resolve 1 --to-worker 1e18
for c in create quote fund status list watch accept dispute fetch withdraw resolve; do
  "$loom" "$c" --help | grep -q "^Example:" || bad "$c --help has no example"
done
ok "every command has --help with an example"

# --- keys: a 0644 key file is refused ------------------------------------
cp "$dir/client.key" "$dir/loose.key" && chmod 644 "$dir/loose.key"
expect_exit 77 "mode 0644, want 0600" "0644 key file refused" -- "$loom" withdraw --key-file "$dir/loose.key"
expect_exit 65 "no key file" "no key file configured" -- env -u LOOM_KEY_FILE "$loom" withdraw

# --- create: a signed multipart POST --------------------------------------
printf '{"kind":"train","trainer":"mlp","epochs":3}\n' >"$dir/job.json"
printf 'x,y\n1,2\n' >"$dir/digits.csv"
printf '\x00\x01binary\xff' >"$dir/weights.bin"
out=$("$loom" create --json --title "Train digits" --description "MLP on digits.csv" --type IA \
  --price-usd 12.50 --spec "$dir/job.json" --file "$dir/weights.bin" "$dir/digits.csv")
rc=$?
id=$(jq_ .id <<<"$out" 2>/dev/null)
[ "$rc" = 0 ] && [ "$id" = "$first_id" ] && ok "create: job $id" || bad "create: rc $rc, $out"
grep -q "POST /api/jobs signer=$(lc "$client") id=$id" "$dir/gw/requests.log" \
  && ok "create: the gateway recovered the client's address from X-Loom-Signature" \
  || bad "create: signer not verified: $(cat "$dir/gw/requests.log")"
cmp -s "$dir/job.json" "$dir/gw/$id.files/job.json" && cmp -s "$dir/digits.csv" "$dir/gw/$id.files/digits.csv" \
  && cmp -s "$dir/weights.bin" "$dir/gw/$id.files/weights.bin" \
  && ok "create: job.json and both inputs uploaded byte for byte" || bad "create: uploaded files differ"
spec_sha=$(sha256sum "$dir/job.json" | cut -d' ' -f1)
[ "$(jq_ .spec_sha256 <<<"$out")" = "$spec_sha" ] && [ "$(jq_ .price_usd_cents <<<"$out")" = 1250 ] \
  && [ "$(jq_ .title <<<"$out")" = "Train digits" ] && ok "create: fields and spec sha256 recorded" \
  || bad "create: record $out"
expect_exit 66 "cannot read .*nope.csv" "create with a missing input" -- "$loom" create --title t --type IA --price-usd 1 "$dir/nope.csv"
expect_exit 65 "reserved for the job spec" "an input named job.json" -- "$loom" create --title t --type IA --price-usd 1 "$dir/job.json"

# --- quote ----------------------------------------------------------------
onchain=$($cast call --rpc-url "$rpc" "$escrow" 'quote(uint64)(uint256)' 1250 | cut -d' ' -f1)
out=$("$loom" quote --usd 12.50 --json)
[ "$(jq_ .wei <<<"$out")" = "$onchain" ] && [ "$(jq_ .round_id <<<"$out")" = 18446744073709551617 ] \
  && ok "quote: $onchain wei, the escrow's own figure, with the feed round" || bad "quote: $out (chain $onchain)"
"$loom" quote --usd 12.50 | grep -q "^12.50 USD = 0.004166666666666667 ETH (4166666666666667 wei)$" \
  && ok "quote: text output" || bad "quote text: $("$loom" quote --usd 12.50)"

# --- fund: exactly the quoted wei, JobCreated -----------------------------
escrow_before=$(escrow_bal)
client_before=$($cast balance --rpc-url "$rpc" "$client")
out=$("$loom" fund "$id" --window-s 600 --json); rc=$?
tx=$(jq_ .tx_hash <<<"$out" 2>/dev/null)
amount=$(jq_ .amount_wei <<<"$out" 2>/dev/null)
spent=$(jq_ .spent_wei <<<"$out" 2>/dev/null)
chain_id=$(jq_ .chain_job_id <<<"$out" 2>/dev/null)
[ "$rc" = 0 ] && [ "$amount" = "$onchain" ] && ok "fund: locked $amount wei = the quote" || bad "fund: rc $rc, $out"
ref=$(printf '0x%064x' "$id")
want_id=$($cast call --rpc-url "$rpc" "$escrow" 'jobIdOf(address,bytes32)(bytes32)' "$client" "$ref")
[ "$chain_id" = "$want_id" ] && ok "fund: escrow job id = jobIdOf(client, bytes32($id))" || bad "fund: id $chain_id, want $want_id"
escrow_after=$(escrow_bal)
[ "$(($escrow_after - $escrow_before))" = "$onchain" ] \
  && ok "fund: the escrow's balance grew by exactly the quoted wei" || bad "fund: escrow $escrow_before -> $escrow_after"
client_after=$($cast balance --rpc-url "$rpc" "$client")
[ "$(($client_before - $client_after))" = "$spent" ] \
  && ok "fund: the client paid amount + gas = spent_wei" || bad "fund: client paid $((client_before - client_after)), spent_wei $spent"
receipt=$($cast receipt --rpc-url "$rpc" --json "$tx")
log=$(jq -r --arg e "$(lc "$escrow")" '[.logs[] | select((.address|ascii_downcase) == $e and .topics[0] == "0xa3835f0e156b5d0c1385109b3a0dfddef8af1163b0661217fa66bf82c6c6f343")] | if length == 1 then .[0] | "\(.topics[1]) \(.topics[2]) \(.data)" else "none" end' <<<"$receipt")
read -r t1 t2 data <<<"$log"
w() { echo "${data:2+$1*64:64}"; }
[ "$t1" = "$want_id" ] && [ "${t2: -40}" = "$(lc "${client:2}")" ] && [ $((16#$(w 1))) = 1250 ] \
  && [ $((16#$(w 2))) = "$onchain" ] && [ "$(w 3)" = "$spec_sha" ] && [ $((16#$(w 6))) = 600 ] \
  && ok "fund: JobCreated(jobId, client, ref, 1250, amount, specHash, .., window 600)" || bad "fund: JobCreated: $log"
expect_exit 65 "exists already" "fund twice" -- "$loom" fund "$id"
(umask 077 && echo "0x$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" >"$dir/broke.key") # no ETH at all
broke_id=$("$loom" create --json --key-file "$dir/broke.key" --title t --type IA --price-usd 5 --spec "$dir/job.json" | jq -r .id)
expect_exit 65 "cannot fund job $broke_id: rpc: [Ii]nsufficient funds" "fund without ETH" -- "$loom" fund "$broke_id" --key-file "$dir/broke.key"
expect_exit 77 "belongs to 0x" "fund someone else's job" -- "$loom" fund "$id" --key-file "$dir/other.key"

# --- worker claims and submits (cast, as a worker would) ------------------
result_sha=0x$(printf 'weights' | sha256sum | cut -d' ' -f1)
wk=$(cat "$dir/worker.key")
$cast send --rpc-url "$rpc" --private-key "$wk" "$escrow" 'claim(bytes32)' "$want_id" >/dev/null \
  && $cast send --rpc-url "$rpc" --private-key "$wk" "$escrow" 'submit(bytes32,bytes32)' "$want_id" "$result_sha" >/dev/null \
  && ok "worker claimed and submitted" || bad "worker claim/submit"

# --- accept: the worker is paid exactly the amount, straight to its wallet ---
expect_exit 66 "not in the escrow" "accept with another key (its own job id does not exist)" -- "$loom" accept "$id" --key-file "$dir/other.key"
expect_exit 77 "its client is 0x" "accept the escrow id with another key" -- "$loom" accept "$want_id" --key-file "$dir/other.key"
worker_before=$($cast balance --rpc-url "$rpc" "$worker")
out=$("$loom" accept "$id" --json); rc=$?
worker_after=$($cast balance --rpc-url "$rpc" "$worker")
[ "$rc" = 0 ] && [ "$(jq_ .paid_wei <<<"$out")" = "$onchain" ] && [ "$(($worker_after - $worker_before))" = "$onchain" ] \
  && [ "$(credit "$worker")" = 0 ] && [ "$(job_status "$want_id")" = 5 ] \
  && ok "accept: job Released, $onchain wei sent to the worker's wallet, nothing credited" \
  || bad "accept: rc $rc, $out, worker +$((worker_after - worker_before)), credit $(credit "$worker")"
[ "$(($escrow_after - $(escrow_bal)))" = "$onchain" ] && ok "accept: the amount left the escrow in the same transaction" \
  || bad "accept: escrow balance $escrow_after -> $(escrow_bal)"
expect_exit 65 "is Released in the escrow; accept needs Submitted" "accept twice" -- "$loom" accept "$id"
expect_exit 65 "has nothing to withdraw" "withdraw with nothing to withdraw (the worker was paid at once)" -- "$loom" withdraw --key-file "$dir/worker.key"

# --- dispute: the money stays locked; the arbiter refunds a client that ---
# --- refuses ETH at that moment: credited; the client withdraws ----------
id2=$("$loom" create --json --title "Blur china.jpg" --type GRAFICA --price-usd 3 --spec "$dir/job.json" | jq_ .id)
setjob "$id2" '.max_runtime_s = 1800' # asked for at creation: fund takes it
out=$("$loom" fund "$id2" --json); amount2=$(jq_ .amount_wei <<<"$out"); jid2=$(jq_ .chain_job_id <<<"$out")
r=$($cast call --rpc-url "$rpc" "$escrow" 'getJob(bytes32)' "$jid2")
[ $((16#${r:2+6*64:64})) = 1800 ] && [ $((16#${r:2+7*64:64})) = 3600 ] \
  && ok "fund: maxRuntime from the record (1800 s), window default (3600 s)" || bad "fund terms: $r"
expect_exit 65 "is Open in the escrow; dispute needs Submitted" "dispute before a submission" -- "$loom" dispute "$id2"
expect_exit 65 "is Open in the escrow; resolve needs Disputed" "resolve before a dispute" -- \
  "$loom" resolve "$jid2" --to-worker all --key-file "$dir/deployer.key"
expect_exit 66 "it is not in the escrow$" "resolve of a job not in the escrow" -- \
  "$loom" resolve "0x$(printf '%064d' 0)" --to-worker all --key-file "$dir/deployer.key"
$cast send --rpc-url "$rpc" --private-key "$wk" "$escrow" 'claim(bytes32)' "$jid2" >/dev/null
$cast send --rpc-url "$rpc" --private-key "$wk" "$escrow" 'submit(bytes32,bytes32)' "$jid2" "$result_sha" >/dev/null
before=$(escrow_bal)
out=$("$loom" dispute "$id2" --json); rc=$?
[ "$rc" = 0 ] && [ "$(job_status "$jid2")" = 4 ] && [ "$(escrow_bal)" = "$before" ] && [ "$(credit "$worker")" = 0 ] \
  && ok "dispute: job Disputed, its $amount2 wei still locked" || bad "dispute: rc $rc, $out"
$cast rpc --rpc-url "$rpc" anvil_setCode "$client" 0x5f5ffd >/dev/null # PUSH0 PUSH0 REVERT: refuses ETH
out=$("$loom" resolve "$jid2" --to-worker 0 --key-file "$dir/deployer.key" --json); rc=$?
$cast rpc --rpc-url "$rpc" anvil_setCode "$client" 0x >/dev/null
[ "$rc" = 0 ] && [ "$(jq_ .to_worker_wei <<<"$out")" = 0 ] && [ "$(credit "$client")" = "$amount2" ] \
  && ok "loom resolve: arbiter ruled for the client, which refused ETH: credited $amount2 wei" || bad "resolve: rc $rc, $out, credit $(credit "$client")"
client_before=$($cast balance --rpc-url "$rpc" "$client")
out=$("$loom" withdraw --json); rc=$?
fee=$(jq_ .gas_fee_wei <<<"$out" 2>/dev/null)
client_after=$($cast balance --rpc-url "$rpc" "$client")
[ "$rc" = 0 ] && [ "$(jq_ .amount_wei <<<"$out")" = "$amount2" ] && [ "$(credit "$client")" = 0 ] \
  && [ "$(($client_after - $client_before + ${fee:-0}))" = "$amount2" ] \
  && ok "withdraw: client got the refund back ($amount2 wei, less gas)" || bad "client withdraw: rc $rc, $out"

# --- status and list --------------------------------------------------------
[ "$("$loom" status "$id" --json | jq_ .id)" = "$id" ] && "$loom" status "$id" | grep -q "^  price     12.50 USD$" \
  && ok "status: JSON and text" || bad "status"
expect_exit 66 "no such job" "status of a job that does not exist" -- "$loom" status 999999999
out=$("$loom" list --status PENDING --type GRAFICA --json)
[ "$(jq -c '[.jobs[].id]' <<<"$out")" = "[$id2]" ] && ok "list: filters by status and type" || bad "list: $out"
"$loom" list --mine --key-file "$dir/other.key" >/dev/null
grep -q "GET /api/jobs?client=$(lc "$other")&limit=20" "$dir/gw/requests.log" && ok "list --mine asks for the key's address" \
  || bad "list --mine: $(tail -2 "$dir/gw/requests.log")"

# --- watch: driven by SSE only --------------------------------------------
clients() { curl -s "$gw/stub/clients"; }
wait_clients() { for _ in $(seq 100); do [ "$(clients)" = "$1" ] && return 0; sleep 0.05; done; return 1; }
send() { curl -s -X POST --data-binary "$2" "$gw/stub/broadcast?event=$1" >/dev/null; }
setjob "$id" '.status = "WORKING" | .progress = 10'
"$loom" watch "$id" --json >"$dir/watch.out" 2>"$dir/watch.err" &
wpid=$!
wait_clients 1 || bad "watch did not connect"
send job.progress "{\"v\":1,\"job_id\":$((id + 1)),\"progress\":77}"
send job.progress "{\"v\":1,\"job_id\":$id,\"progress\":40}"
send job.closed "{\"v\":1,\"job_id\":$id,\"status\":\"COMPLETED\"}"
wait "$wpid"; rc=$?
[ "$rc" = 0 ] && [ "$(jq -c '[.status, .progress]' "$dir/watch.out" | tr -d '\n')" = '["WORKING",10]["WORKING",40]["COMPLETED",100]' ] \
  && ok "watch: WORKING 10 -> 40 -> COMPLETED from events, exit 0" || bad "watch: rc $rc, $(cat "$dir/watch.out" "$dir/watch.err")"
wait_clients 0
setjob "$id2" '.status = "OPEN" | .progress = 0'
"$loom" watch "$id2" >"$dir/watch2.out" 2>&1 &
wpid=$!
wait_clients 1
send job.closed "{\"v\":1,\"job_id\":$id2,\"status\":\"REFUNDED\"}"
wait "$wpid"; rc=$?
[ "$rc" = 2 ] && grep -q "is REFUNDED" "$dir/watch2.out" && ok "watch: a refunded job exits 2" || bad "watch refunded: rc $rc $(cat "$dir/watch2.out")"
wait_clients 0
setjob "$id" '.status = "COMPLETED" | .progress = 100'
timeout 20 "$loom" watch "$id" >/dev/null 2>&1; rc=$?
[ "$rc" = 0 ] && ok "watch: an already finished job exits at once" || bad "watch finished job: rc $rc"
setjob "$id2" '.status = "WORKING" | .progress = 5'
"$loom" watch "$id2" --until SUBMITTED --json >"$dir/watch3.out" 2>&1 &
wpid=$!
wait_clients 1
send job.status "{\"job_id\":$id2,\"status\":\"SUBMITTED\"}"
wait "$wpid"; rc=$?
[ "$rc" = 0 ] && tail -1 "$dir/watch3.out" | grep -q '"status":"SUBMITTED"' && ok "watch --until SUBMITTED" || bad "watch --until: rc $rc $(cat "$dir/watch3.out")"

wait_clients 0
setjob "$id2" '.status = "WORKING" | .progress = 50'
"$loom" watch "$id2" >"$dir/watch4.out" 2>&1 &
wpid=$!
wait_clients 1
setjob "$id2" '.status = "COMPLETED" | .progress = 100' # happens while the stream is down
curl -s -X POST "$gw/stub/drop" >/dev/null
wait "$wpid"; rc=$?
[ "$rc" = 0 ] && grep -q "is COMPLETED" "$dir/watch4.out" && [ "$(grep -c 'GET /api/events' "$dir/gw/requests.log")" -ge 6 ] \
  && ok "watch: reconnects after the stream drops and reads the job again" || bad "watch reconnect: rc $rc $(cat "$dir/watch4.out")"

# --- fetch: sha256 checked -------------------------------------------------
printf 'trained weights\n' >"$dir/gw/$id.result"
rsha=$(sha256sum "$dir/gw/$id.result" | cut -d' ' -f1)
setjob "$id" ".result_sha256 = \"0x$rsha\" | .result_size_bytes = 16"
out=$("$loom" fetch "$id" --out "$dir/results" --json); rc=$?
[ "$rc" = 0 ] && cmp -s "$dir/gw/$id.result" "$dir/results/result" && [ "$(jq_ .sha256 <<<"$out")" = "$rsha" ] \
  && ok "fetch: result downloaded and its sha256 checked" || bad "fetch: rc $rc, $out"
setjob "$id" ".result_sha256 = \"$(printf '%064d' 7)\""
expect_exit 65 "sha256 mismatch" "fetch: a result that does not match the record is refused" -- "$loom" fetch "$id" --out "$dir/r2"
[ -z "$(ls -A "$dir/r2" 2>/dev/null)" ] && ok "fetch: nothing left behind after a mismatch" || bad "fetch left $(ls -A "$dir/r2")"
setjob "$id" ".result_sha256 = \"$rsha\""
printf '%064d' 9 >"$dir/gw/$id.result.sha256"
expect_exit 76 "gateway labelled the download" "fetch: a lying X-Loom-SHA256 header" -- "$loom" fetch "$id" --out "$dir/r3"
expect_exit 65 "has no result yet" "fetch before a result" -- "$loom" fetch "$id2" --out "$dir/r4"

# --- dependencies down, bad configuration -----------------------------------
expect_exit 69 "connect" "gateway down" -- "$loom" status "$id" --gateway http://127.0.0.1:1
expect_exit 69 "rpc" "node down" -- "$loom" withdraw --rpc-url http://127.0.0.1:1
expect_exit 78 "cannot read deployment file" "no deployment file" -- "$loom" withdraw --deployment "$dir/none.json"
jq '.chainId = 1' "$dir/dep.json" >"$dir/dep1.json"
expect_exit 78 "is chain 31337 but deployment .* is for chain 1" "deployment for another chain" -- "$loom" withdraw --deployment "$dir/dep1.json"
mkdir -p "$dir/ro" && chmod 555 "$dir/ro"
if [ "$(id -u)" != 0 ]; then
  expect_exit 73 "cannot write" "fetch into a read-only folder" -- "$loom" fetch "$id" --out "$dir/ro"
fi
out=$("$loom" status "$id" --gateway http://127.0.0.1:1 --json 2>/dev/null)
[ "$(jq_ .error.exit <<<"$out")" = 69 ] && ok "--json errors: {\"error\":{...,\"exit\":69}} on stdout" || bad "json error: $out"

finish
