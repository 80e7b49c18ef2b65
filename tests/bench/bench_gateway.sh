#!/usr/bin/env bash
# Gateway throughput against its ceilings (issue 5), wrk on loopback, same
# concurrency for each pair, printed side by side:
#   reads:  GET /api/jobs/{id} through loom-gateway and loom-jobstore (on
#           PostgreSQL) vs a bare evhttp server returning a fixed body of the
#           same size (tests/bench/gw_bare_server.c);
#   writes: POST /api/jobs (a small multipart job with its job.json: the job
#           store requires the spec hash; authenticated by a Sign-In with
#           Ethereum session cookie, since per-request signatures need a fresh
#           nonce each) vs pgbench inserting the same row into a table of the
#           same columns; once more with a distinct job.json per request
#           (identical uploads share one store object and skip its fsyncs);
#           both again with the job store's group commit off
#           (--create-batch-max=1), after pgbench.
# Reads run twice: with the gateway's job cache (the default, TTL 1 s) and
# through a second gateway with --cache-ttl-ms=0 (every read reaches the job
# store). Also /health (common/metrics' route) for reference. Needs LOOM_BENCH_PG_URL
# (scripts/bench.sh). Settings: BENCH_CONNS (64), BENCH_SECONDS (10),
# BENCH_THREADS (2).
set -uo pipefail
: "${LOOM_BENCH_PG_URL:?run through make bench}"
B=${LOOM_BUILD:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$ROOT/node_modules/.bin:$PATH"
C=${BENCH_CONNS:-64} D=${BENCH_SECONDS:-10} TH=${BENCH_THREADS:-2}
T=$(mktemp -d "${LOOM_BENCH_TMP:-/tmp}/gwbench.XXXXXX")
SCHEMA="gwbench_$$"
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  psql -q "$LOOM_BENCH_PG_URL" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_js [flags...]: the job store, on the same addresses each time.
start_js() {
  "$B/bin/loom-jobstore" --database-url="$LOOM_BENCH_PG_URL" --db-schema="$SCHEMA" \
    --rep-addr="ipc://$T/rep" --pub-addr="ipc://$T/pub" --metrics-port=0 "$@" >>"$T/js.log" 2>&1 &
  pids="$pids $!"; JSPID=$!
}
start_js
GP=$(free_port)
"$B/bin/loom-gateway" --listen="127.0.0.1:$GP" --jobstore="ipc://$T/rep" --feed="ipc://$T/pub" \
  --store-root="$T/store" --rate-per-s=1000000 --rate-burst=1000000 --log-level=error \
  --siwe-domain="127.0.0.1:$GP" >"$T/gw.log" 2>&1 &
pids="$pids $!"; GWPID=$!
G="http://127.0.0.1:$GP"
# The same gateway with its GET /api/jobs/{id} cache off: every read reaches
# the job store (the figure before the cache).
GP2=$(free_port)
"$B/bin/loom-gateway" --listen="127.0.0.1:$GP2" --jobstore="ipc://$T/rep" --feed="ipc://$T/pub" \
  --store-root="$T/store" --rate-per-s=1000000 --rate-burst=1000000 --log-level=error \
  --cache-ttl-ms=0 >"$T/gw2.log" 2>&1 &
pids="$pids $!"; GW2PID=$!
G2="http://127.0.0.1:$GP2"
for _ in $(seq 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$G/api/jobs")" = 200 ] && break; sleep 0.1
done

# Sign in (EIP-4361) with anvil's public account 1 key.
K=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
A=$(cast wallet address --private-key $K)
NONCE=$(curl -s "$G/api/auth/nonce" | jq -r .nonce)
MSG=$(printf '%s wants you to sign in with your Ethereum account:\n%s\n\nSign in to The Loom\n\nURI: %s\nVersion: 1\nChain ID: 31337\nNonce: %s\nIssued At: %s' \
  "127.0.0.1:$GP" "$A" "$G" "$NONCE" "$(date -u +%Y-%m-%dT%H:%M:%SZ)")
SIG=$(cast wallet sign --private-key $K "$MSG")
COOKIE=$(curl -s -D - -o "$T/siwe.json" -H 'Content-Type: application/json' \
  --data-binary "$(jq -cn --arg m "$MSG" --arg s "$SIG" '{message:$m,signature:$s}')" \
  "$G/api/auth/siwe" | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \(loom_session=[^;]*\).*/\1/p')
[ -n "$COOKIE" ] || { echo "bench_gateway: sign-in failed: $(cat "$T/siwe.json")"; exit 1; }

BND=benchboundary
printf -- '--%s\r\nContent-Disposition: form-data; name="title"\r\n\r\nbench job\r\n--%s\r\nContent-Disposition: form-data; name="type"\r\n\r\nIA\r\n--%s\r\nContent-Disposition: form-data; name="price_usd_cents"\r\n\r\n1500\r\n--%s\r\nContent-Disposition: form-data; name="job.json"; filename="job.json"\r\n\r\n{"kernel":"bench"}\r\n--%s--\r\n' \
  $BND $BND $BND $BND $BND >"$T/form"
ID=$(curl -s -H "Cookie: $COOKIE" -H "Content-Type: multipart/form-data; boundary=$BND" \
  --data-binary "@$T/form" "$G/api/jobs" | jq -r .id)
[ "$ID" != null ] && [ -n "$ID" ] || { echo "bench_gateway: cannot create a job"; exit 1; }
JOB_BYTES=$(curl -s "$G/api/jobs/$ID" | wc -c)

cc -O2 -o "$T/bare" "$ROOT/tests/bench/gw_bare_server.c" -levent || exit 1
BP=$(free_port)
"$T/bare" "$BP" "$JOB_BYTES" &
pids="$pids $!"; BAREPID=$!
sleep 0.3

# CPU time (user + system, clock ticks) of the processes given.
ticks() {
  local t=0 p v
  for p in "$@"; do
    v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') && t=$((t + ${v:-0}))
  done
  echo $t
}
PGDIR=$(psql -Atqc 'SHOW data_directory' "$LOOM_BENCH_PG_URL")
pg_pids() { local pm; pm=$(head -1 "$PGDIR/postmaster.pid" 2>/dev/null) && echo "$pm $(pgrep -P "$pm")"; }
TCK=$(getconf CLK_TCK)

# run NAME wrk-args...: prints "NAME rps p99_ms non2xx" and the CPU time per
# request of each process on the path (where the two cores go).
run() {
  local name=$1; shift
  local pgp g0 j0 p0 b0 g1 j1 p1 b1 n
  pgp=$(pg_pids)
  g0=$(ticks $GWPID); j0=$(ticks $JSPID); p0=$(ticks $pgp); b0=$(ticks $BAREPID)
  wrk -t"$TH" -c"$C" -d"${D}s" --latency "$@" >"$T/wrk.txt" 2>&1
  g1=$(ticks $GWPID); j1=$(ticks $JSPID); p1=$(ticks $pgp); b1=$(ticks $BAREPID)
  n=$(awk '/requests in/ {print $1}' "$T/wrk.txt")
  local rps p99 bad
  rps=$(awk '/^Requests\/sec/ {print $2}' "$T/wrk.txt")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' "$T/wrk.txt")
  bad=$(awk '/Non-2xx/ {print $5}' "$T/wrk.txt")
  printf '%-34s %10s req/s  p99 %8s ms  non-2xx %s\n' "$name" "${rps:-?}" "${p99:-?}" "${bad:-0}"
  [ "${n:-0}" -gt 0 ] && printf '%-34s CPU us/request: gateway %d, job store %d, PostgreSQL %d, bare %d\n' "" \
    $(((g1 - g0) * 1000000 / TCK / n)) $(((j1 - j0) * 1000000 / TCK / n)) \
    $(((p1 - p0) * 1000000 / TCK / n)) $(((b1 - b0) * 1000000 / TCK / n))
}

cat >"$T/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=$BND"
wrk.headers["Cookie"] = "$COOKIE"
local f = io.open("$T/form", "rb"); wrk.body = f:read("*a"); f:close()
LUA

# The same job with a job.json of its own per request: every upload is a new
# store object, so each pays its fsync, link and folder fsync (identical
# uploads share one object and skip them).
cat >"$T/post_distinct.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=$BND"
wrk.headers["Cookie"] = "$COOKIE"
local n, tag = 0, tostring(os.time()) .. "-" .. tostring(math.random(1, 1000000000))
function setup(thread) thread:set("tid", tostring(math.random(1, 1000000000))) end
function request()
  n = n + 1
  local spec = '{"kernel":"bench","n":"' .. tag .. "-" .. tostring(tid) .. "-" .. n .. '"}'
  local body = "--$BND\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nbench job\r\n" ..
    "--$BND\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nIA\r\n" ..
    "--$BND\r\nContent-Disposition: form-data; name=\"price_usd_cents\"\r\n\r\n1500\r\n" ..
    "--$BND\r\nContent-Disposition: form-data; name=\"job.json\"; filename=\"job.json\"\r\n\r\n" ..
    spec .. "\r\n--$BND--\r\n"
  return wrk.format(nil, nil, nil, body)
end
LUA

psql -q "$LOOM_BENCH_PG_URL" -c "CREATE SCHEMA IF NOT EXISTS ${SCHEMA}_pgb; CREATE TABLE ${SCHEMA}_pgb.jobs (id bigserial PRIMARY KEY, title text NOT NULL, description text NOT NULL DEFAULT '', type text NOT NULL, price_usd_cents bigint NOT NULL, wallet_address text NOT NULL, status text NOT NULL DEFAULT 'PENDING', progress int NOT NULL DEFAULT 0, created_at timestamptz NOT NULL DEFAULT now(), spec_sha256 text)" >/dev/null
echo "INSERT INTO ${SCHEMA}_pgb.jobs (title, type, price_usd_cents, wallet_address, spec_sha256) VALUES ('bench job', 'IA', 1500, '$A', '0x8a19d6156684bbe7328097ac7dc47d51dcd3d288a7e7dccb94f54949f3a314c2');" >"$T/insert.sql"

echo "bench_gateway: wrk -t$TH -c$C -d${D}s on loopback, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); job JSON $JOB_BYTES bytes"
run "bare evhttp, fixed body" "http://127.0.0.1:$BP/"
run "GET /api/jobs/$ID (cached, TTL 1 s)" "$G/api/jobs/$ID"
curl -s "$G/metrics" | awk '/^loom_gateway_job_cache_(hits|misses)_total/ {printf "%-34s %s %s\n", "", $1, $2}'
GW1PID=$GWPID; GWPID=$GW2PID
run "GET /api/jobs/$ID (cache off)" "$G2/api/jobs/$ID"
GWPID=$GW1PID
run "GET /health (gateway)" "$G/health"
run "POST /api/jobs (gateway+jobstore)" -s "$T/post.lua" "$G/api/jobs"
run "POST /api/jobs, distinct job.json" -s "$T/post_distinct.lua" "$G/api/jobs"
pgbench -n -c "$C" -j "$TH" -T "$D" -r -f "$T/insert.sql" "$LOOM_BENCH_PG_URL" >"$T/pgb.txt" 2>&1
tps=$(awk '/^tps/ {print $3; exit}' "$T/pgb.txt")
lat=$(awk '/^latency average/ {print $4}' "$T/pgb.txt")
printf '%-34s %10s tx/s   avg %8s ms\n' "pgbench INSERT same row" "${tps:-?}" "${lat:-?}"
JSM=$(sed -n 's/.*"event":"jobstore.ready".*"metrics_port":\([0-9]*\).*/\1/p' "$T/js.log" | tail -1)
[ -n "$JSM" ] && curl -s "http://127.0.0.1:$JSM/metrics" | awk '/^loom_jobstore_create_batch_(jobs_sum|jobs_count|overlaps_total)/ {printf "%-34s %s %s\n", "", $1, $2}'
# The same POSTs with group commit off (--create-batch-max=1: one statement
# and one commit per job, the job store before group commit), same gateway.
kill "$JSPID"; wait "$JSPID" 2>/dev/null
start_js --create-batch-max=1 --create-batches=64
for _ in $(seq 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$G2/api/jobs")" = 200 ] && break; sleep 0.1
done
run "POST /api/jobs, group commit off" -s "$T/post.lua" "$G/api/jobs"
run "POST distinct, group commit off" -s "$T/post_distinct.lua" "$G/api/jobs"
psql -q "$LOOM_BENCH_PG_URL" -c "DROP SCHEMA ${SCHEMA}_pgb CASCADE" >/dev/null 2>&1
