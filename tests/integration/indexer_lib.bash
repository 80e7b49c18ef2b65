# indexer_lib.bash -- shell helpers shared by tests/integration/indexer_jobstore.sh
# and tests/bench/bench_indexer.sh (sourced, never run): a private anvil with
# LoomEscrow, the job store on its own schema of a PostgreSQL server, and
# loom-indexer (and loom-keeper) wired to it over ipc:// paths.
# Needs: root, LOOM_BUILD, PG_URL and work (a scratch folder) set by the caller.

CAST="$root/node_modules/.bin/cast"
PRICE_CENTS=1250
# MockV3Aggregator: 8 decimals, 2,000 USD per ETH. Wei per job =
# ceil(1250 * 10^24 / (2000 * 10^8)) (LoomEscrow._toWei).
AMOUNT_WEI=6250000000000000
# anvil's dev account 0 key (public test mnemonic), for the keeper.
DEV0_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
pids=()

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }
rpc() { # method params-json -> result JSON text
  curl -s -m 30 -H 'content-type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":${2:-[]}}" "$RPC" |
    jq -c 'if has("result") then .result else error("rpc error: \(.error)") end'
}
hex2dec() { local h=${1//\"/}; echo $((16#${h#0x})); }
block_ts() { hex2dec "$(rpc eth_getBlockByNumber "[\"${1:-latest}\",false]" | jq -r .timestamp)"; }
head_block() { hex2dec "$(rpc eth_blockNumber)"; }
mine() { curl -s -m 30 -o /dev/null -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"evm_mine","params":[]}' "$RPC"; }

start_anvil() {
  anvil_dir="$work/anvil"
  RPC=$("$root/scripts/anvil.sh" start "$anvil_dir" "$(free_port)") || return 1
  mapfile -t ACCTS < <(rpc eth_accounts | jq -r '.[]')
  DEPLOYER=${ACCTS[0]} CLIENT=${ACCTS[1]} WORKER=${ACCTS[2]}
}

# sendtx FROM TO DATA [VALUE-WEI] -> tx hash (unlocked dev account, no wait).
# One curl and no jq: process starts dominate the backfill's set-up.
sendtx() {
  local v="" r
  [ -n "${4:-}" ] && printf -v v ',"value":"0x%x"' "$4"
  r=$(curl -s -m 30 -H 'content-type: application/json' -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sendTransaction\",\"params\":[{\"from\":\"$1\",\"to\":\"$2\",\"data\":\"$3\",\"gas\":\"0x7a120\"$v}]}" "$RPC")
  [[ $r =~ \"result\":\"(0x[0-9a-f]{64})\" ]] || { echo "eth_sendTransaction: $r" >&2; return 1; }
  echo "${BASH_REMATCH[1]}"
}
receipt_ok() { # hash -> block number once mined with status 1
  local r
  for _ in $(seq 1 100); do
    r=$(rpc eth_getTransactionReceipt "[\"$1\"]") || return 1
    [ "$r" != null ] && break
    sleep 0.05
  done
  jq -e '.status == "0x1"' <<<"$r" >/dev/null || { echo "transaction $1 failed: $r" >&2; return 1; }
  hex2dec "$(jq -r .blockNumber <<<"$r")"
}

deploy_escrow() { # sets ESCROW, ESCROW_BLOCK
  local art=$root/contracts/out/LoomEscrow.sol/LoomEscrow.json
  local mock=$root/contracts/out/MockV3Aggregator.sol/MockV3Aggregator.json
  if [ ! -f "$art" ] || [ ! -f "$mock" ]; then
    (cd "$root/contracts" && HOME=$work "$root/node_modules/.bin/forge" build --skip test >/dev/null) || return 1
  fi
  local code r h
  code="$(jq -r .bytecode.object "$mock")$("$CAST" abi-encode 'c(uint8,int256)' 8 200000000000 | cut -c3-)"
  h=$(rpc eth_sendTransaction "[{\"from\":\"$DEPLOYER\",\"data\":\"$code\",\"gas\":\"0x1c9c380\"}]" | tr -d '"')
  receipt_ok "$h" >/dev/null || return 1
  local feed; feed=$(rpc eth_getTransactionReceipt "[\"$h\"]" | jq -r .contractAddress)
  code="$(jq -r .bytecode.object "$art")$("$CAST" abi-encode 'c(address,uint32,address,uint32,address,address)' \
    "$feed" 4000000000 0x0000000000000000000000000000000000000000 0 "${ACCTS[8]}" "${ACCTS[9]}" | cut -c3-)"
  h=$(rpc eth_sendTransaction "[{\"from\":\"$DEPLOYER\",\"data\":\"$code\",\"gas\":\"0x1c9c380\"}]" | tr -d '"')
  ESCROW_BLOCK=$(receipt_ok "$h") || return 1
  ESCROW=$(rpc eth_getTransactionReceipt "[\"$h\"]" | jq -r .contractAddress)
}

build_ibus() {
  IBUS=$work/indexer_bus
  cc -std=c11 -D_GNU_SOURCE -O1 -I"$root" -I"$root/common" -I"$root/proto" -o "$IBUS" \
    "$root/tests/integration/indexer_bus.c" "$LOOM_BUILD/libloom.a" -levent -lnanomsg \
    -lsecp256k1 -lnettle -lcjson -lcrypto -lm -lpthread
}

start_jobstore() { # sets REP, PUB, SCHEMA
  SCHEMA=ij_$$_$RANDOM
  REP=ipc://$work/rep.ipc PUB=ipc://$work/pub.ipc
  "$LOOM_BUILD/bin/loom-jobstore" --database-url "$PG_URL" --db-schema "$SCHEMA" --rep-addr "$REP" \
    --pub-addr "$PUB" --metrics-port 0 --pool-size 4 2>>"$work/jobstore.log" &
  local pid=$!
  pids+=($pid)
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    "$IBUS" call "$REP" '{"v":1,"cmd":"checkpoint.get","args":{}}' 300 >/dev/null 2>&1 && return 0
  done
  echo "job store did not start:" >&2; cat "$work/jobstore.log" >&2; return 1
}

start_indexer() { # [flags...]; sets INDEXER_PID
  "$LOOM_BUILD/bin/loom-indexer" --rpc-url "$RPC" --escrow-address "$ESCROW" --start-block "$ESCROW_BLOCK" \
    --jobstore-url "$REP" --metrics-port 0 --poll-interval-ms "${POLL_MS:-250}" --metrics-log-ms -1 \
    "$@" 2>>"$work/indexer.log" &
  INDEXER_PID=$!
}

sql() { psql "$PG_URL" -XAtq -v ON_ERROR_STOP=1 -c "SET search_path TO $SCHEMA" -c "$1"; }

# job_create: posts a job for CLIENT through the job store; sets JOB_ID,
# CHAIN_JOB_ID, REF, SPEC, DEADLINE (FIXED_DEADLINE, or a day after the
# chain's clock). One process start (the bus call).
job_create() {
  job_seq=$((${job_seq:-0} + 1))
  printf -v SPEC '0x%056x%08x' "$$" "$job_seq"
  if [ -n "${FIXED_DEADLINE:-}" ]; then DEADLINE=$FIXED_DEADLINE; else DEADLINE=$(($(block_ts) + 86400)); fi
  local r
  r=$("$IBUS" call "$REP" "{\"v\":1,\"cmd\":\"job.create\",\"args\":{\"title\":\"indexer test\",\"description\":\"\",\"type\":\"IA\",\"price_usd_cents\":$PRICE_CENTS,\"wallet_address\":\"$CLIENT\",\"spec_sha256\":\"$SPEC\",\"deadline_at\":$DEADLINE,\"max_runtime_s\":3600}}") || return 1
  [[ $r =~ ^\{\"v\":1,\"ok\":true,\"result\":\{\"id\":([0-9]+), ]] || { echo "job.create: $r" >&2; return 1; }
  JOB_ID=${BASH_REMATCH[1]}
  [[ $r =~ \"chain_job_id\":\"(0x[0-9a-f]{64})\" ]] || { echo "job.create: $r" >&2; return 1; }
  CHAIN_JOB_ID=${BASH_REMATCH[1]}
  printf -v REF '0x%064x' "$JOB_ID"
}

SEL_CREATE=0x$(printf 'create(bytes32,uint64,bytes32,uint32,uint32,uint32)' | "$CAST" keccak | cut -c3-10)
SEL_CLAIM=0x$(printf 'claim(bytes32)' | "$CAST" keccak | cut -c3-10)
SEL_SUBMIT=0x$(printf 'submit(bytes32,bytes32)' | "$CAST" keccak | cut -c3-10)
SEL_RELEASE=0x$(printf 'release(bytes32)' | "$CAST" keccak | cut -c3-10)
w256() { printf '%064x' "$1"; }
create_data() { # ref spec deadline window -> calldata of LoomEscrow.create
  echo "$SEL_CREATE${1#0x}$(w256 "$PRICE_CENTS")${2#0x}$(w256 "$3")$(w256 3600)$(w256 "$4")"
}
fund_job() { sendtx "$CLIENT" "$ESCROW" "$(create_data "$REF" "$SPEC" "$DEADLINE" "${1:-60}")" "$AMOUNT_WEI"; }

job_get() { "$IBUS" call "$REP" "{\"v\":1,\"cmd\":\"job.get\",\"args\":{\"job_id\":$1}}"; }
wait_status() { # job-id status [seconds]
  local s
  for _ in $(seq 1 $((${3:-10} * 20))); do
    s=$(job_get "$1" | jq -r .result.status)
    [ "$s" = "$2" ] && return 0
    sleep 0.05
  done
  echo "job $1: status $s, wanted $2" >&2
  return 1
}

escrow_logs_count() { # all logs of the escrow from its deployment block
  rpc eth_getLogs "[{\"address\":\"$ESCROW\",\"fromBlock\":\"$(printf '0x%x' "$ESCROW_BLOCK")\",\"toBlock\":\"latest\"}]" | jq length
}

stop_all() {
  for p in "${pids[@]}" ${INDEXER_PID:-} ${KEEPER_PID:-}; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}" ${INDEXER_PID:-} ${KEEPER_PID:-}; do wait "$p" 2>/dev/null || true; done
  [ -n "${anvil_dir:-}" ] && "$root/scripts/anvil.sh" stop "$anvil_dir" >/dev/null 2>&1
  [ -n "${SCHEMA:-}" ] && psql "$PG_URL" -XAtq -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1
  return 0
}
