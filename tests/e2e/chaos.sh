#!/usr/bin/env bash
# chaos.sh -- end to end: kill -9 of each service in turn during a 50-job run,
# each restarted; every job ends settled exactly once and the money on chain
# adds up to the wei.
#
# Stack: jobstore, gateway, indexer, keeper, one worker (POCL). A client loop
# creates LOOM_CHAOS_JOBS (50) cheap IA jobs (examples/opencl-inline.json: a
# 1024-item kernel, 3 passes) at 1-7 cents each through the loom CLI and funds
# each one as soon as it is created (5 s challenge window, 60 s claim runtime,
# a deadline of LOOM_CHAOS_DEADLINE_S + 4 s per job: the later jobs wait
# longer in the worker's queue; 5 s a job on a loaded machine still ends
# well before the deadline). A gateway or job store
# that is down makes loom exit 69 (EX_UNAVAILABLE) before anything is signed;
# the client then tries again, as a script should.
#
# While the jobs flow, each service in turn is killed with SIGKILL, kept down
# for two blocks, and started again with the same settings and data
# (tests/e2e/lib.bash e2e_kill9/e2e_restart). Each kill waits until the stack
# has made progress since the previous restart (3 more results submitted on
# chain), so every service is killed with work in flight. The worker goes
# first, while it holds a claim: the escrow never lets a worker claim a job
# whose claim it let lapse (docs/contracts.md), so with one worker the job it
# held can only be refunded once its deadline has passed; killing it first
# makes that an early job with an early deadline. Every other job must be PAID.
#
# At the end, once every job is settled on chain and in the database:
#   - each job has exactly one settlement event on chain (PaymentReleased,
#     JobRefunded or DisputeResolved, counted with eth_getLogs);
#   - a job is REFUNDED only if it was the job the worker held when it was
#     killed (claimed, never submitted); at most one such; the rest are
#     COMPLETED by PaymentReleased to the worker; no other claim ended
#     without a result;
#   - PostgreSQL equals the chain: chain_events holds exactly the escrow's
#     logs (block, index, tx, kind, job, amount), and each job row has the
#     chain's status, worker, locked amount and settling transaction;
#   - the money, to the wei: the sum of the JobCreated amounts is what the
#     client's fund commands locked, and equals worker pay + client refunds
#     + fees (LoomEscrow takes no fee: the term is 0 and checked as such: no
#     wei is unaccounted for); both are EOAs never credited, so every payout
#     was sent straight to their wallets (docs/contracts.md "Payouts"): the
#     escrow's balanceOf each is 0 (the surplus credits less withdrawals),
#     the escrow's own ETH balance equals what it still owes, the client's
#     wallet is its start less the locked amounts and the gas of its fund
#     transactions plus the refunds, and the worker's its start plus its pay
#     less the gas of every transaction it sent (receipts of the blocks since
#     the deployment).
# A service that does not start fails the test (lib.bash). Settings:
# LOOM_CHAOS_JOBS (50), LOOM_CHAOS_DEADLINE_S (120), LOOM_CHAOS_TIMEOUT_S (300,
# for everything to settle), LOOM_CHAOS_KEEP (a folder to copy the logs of a
# failed run into). Last line: "N passed, N failed".
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2317  # (the conditions are called through wait_for)
# shellcheck source=tests/e2e/lib.bash
source "$(dirname "$0")/lib.bash"

n_jobs=${LOOM_CHAOS_JOBS:-50}
deadline_s=${LOOM_CHAOS_DEADLINE_S:-120}
timeout_s=${LOOM_CHAOS_TIMEOUT_S:-300}
t_start=$SECONDS

e2e_up "jobstore gateway indexer keeper worker" "kill -9 of each service during a $n_jobs-job run"
echo "stack up after $((SECONDS - t_start))s"
client=$(cat "$state/keys/client.addr")
worker=$(cat "$state/keys/worker.addr")
pg_url=$(sed -n 's/^  postgres \{1,\}\(postgresql:[^ ]*\).*/\1/p' "$state/summary.txt")
start_block=$(jq -r .deploymentBlock "$deployment")
client_start=$(wei "$client")
worker_start=$(wei "$worker") # before any job exists, so before any transaction of the worker

# --- The chain, read by one helper ------------------------------------------
# chain.py counts: "created claimed submitted settled reopened" over all the
#   escrow's logs (each a count of events).
# chain.py open-claims: the chain job ids claimed and not yet submitted.
# chain.py audit JOBS.tsv ROWS.tsv EVENTS.tsv: the final checks, one
#   "ok: ..." or "FAILED: ..." line each.
cat >"$work/chain.py" <<'PY'
import json, sys, urllib.request
rpc, escrow, start = sys.argv[1], sys.argv[2].lower(), int(sys.argv[3])
cmd, args = sys.argv[4], sys.argv[5:]
# topic0 of each LoomEscrow event (docs/contracts.md "Events").
T = {
    "0xa3835f0e156b5d0c1385109b3a0dfddef8af1163b0661217fa66bf82c6c6f343": "JobCreated",
    "0x0fa6c12aa943d8ddba26c330f3ae62d4ae2005b32ce185900c5f0964511cf092": "JobClaimed",
    "0x8de90a8fc99e755e25f3540a972e7cc67411a590aac65904475d814145d87371": "JobSubmitted",
    "0x802721a5dc5e5650da35fc6c4f85a11558b965c7fb0b37152cffe652e4369721": "JobReopened",
    "0x002e930597110edf3220e1b9e29e6ffc0dec66938561c615b43c8fc7c4e02754": "JobDisputed",
    "0x5d663951ad4c96a0e56c58c9f02783be4c57c9283e2942818adf7f35846bcbd4": "PaymentReleased",
    "0x5f7dfd6c0bb152872f8623205f789f19fd0ee15c4a72f9da6a6af71ed59a0869": "JobRefunded",
    "0x2aede0cd57bba3be998c39d156e89ffb3414a33ba9a3d74367e81e4ff49ba211": "DisputeResolved",
    "0xe6e31bee5d657a2c380b3bbd6df5d775c87bf6775f9bf1565cb446448a9738c2": "SurplusCredited",
    "0xd1c19fbcd4551a5edfb66d43d2e337c04837afda3482b42bdf569a8fccdae5fb": "Withdrawn",
}
SETTLE = ("PaymentReleased", "JobRefunded", "DisputeResolved")

def call(method, params):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(rpc, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        ans = json.load(r)
    if "error" in ans:
        raise SystemExit("rpc %s: %s" % (method, ans["error"]))
    return ans["result"]

def logs():
    out = []
    for l in call("eth_getLogs", [{"address": escrow, "fromBlock": hex(start), "toBlock": "latest"}]):
        kind = T.get(l["topics"][0], "other")
        words = [int(l["data"][2 + 64 * i:66 + 64 * i], 16) for i in range((len(l["data"]) - 2) // 64)]
        e = {"kind": kind, "block": int(l["blockNumber"], 16), "index": int(l["logIndex"], 16),
             "tx": l["transactionHash"].lower(), "job": None, "amount": None, "worker": None}
        topic = lambda i: l["topics"][i].lower() if len(l["topics"]) > i else None
        if kind in ("SurplusCredited", "Withdrawn"):
            e["account"] = "0x" + topic(1)[26:]
            e["amount"] = words[0]
        elif kind != "other":
            e["job"] = topic(1)
            if topic(3):
                e["worker"] = "0x" + topic(3)[26:]
            if kind == "JobCreated":
                e["amount"] = words[2]
            elif kind in ("PaymentReleased", "JobRefunded"):
                e["amount"] = words[0]
            elif kind == "DisputeResolved":
                e["amount"] = words[0] + words[1]
        out.append(e)
    return out

def balance_of(who):
    data = "0x70a08231" + who[2:].lower().rjust(64, "0")  # balanceOf(address)
    return int(call("eth_call", [{"to": escrow, "data": data}, "latest"]), 16)

ev = logs()
if cmd == "counts":
    c = lambda k: sum(1 for e in ev if e["kind"] in k)
    print(c(("JobCreated",)), c(("JobClaimed",)), c(("JobSubmitted",)), c(SETTLE), c(("JobReopened",)))
    sys.exit(0)
if cmd == "open-claims":
    done = {e["job"] for e in ev if e["kind"] == "JobSubmitted"}
    print(" ".join(sorted({e["job"] for e in ev if e["kind"] == "JobClaimed"} - done)))
    sys.exit(0)

# audit JOBS ROWS EVENTS WORKER CLIENT CLIENT_START CLIENT_END ORPHANS WORKER_START WORKER_END
jobs_f, rows_f, events_f, worker, client, c_start, c_end, orphans, w_start, w_end = args
worker, client, orphans = worker.lower(), client.lower(), set(orphans.split())
c_start, c_end, w_start, w_end = int(c_start), int(c_end), int(w_start), int(w_end)

def batch(reqs):
    body = json.dumps([{"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                       for i, (m, p) in enumerate(reqs)]).encode()
    req = urllib.request.Request(rpc, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        ans = sorted(json.load(r), key=lambda a: a["id"])
    if len(ans) != len(reqs) or any("error" in a or a.get("result") is None for a in ans):
        raise SystemExit("rpc batch failed")
    return [a["result"] for a in ans]

def gas_paid_by(who):
    # Every transaction `who` sent since the deployment block, from the blocks and receipts.
    head = int(call("eth_blockNumber", []), 16)
    txs = []
    for lo in range(start, head + 1, 100):
        blocks = batch([("eth_getBlockByNumber", [hex(b), True]) for b in range(lo, min(lo + 100, head + 1))])
        txs += [t["hash"] for blk in blocks for t in blk["transactions"] if t["from"].lower() == who]
    fee = 0
    for i in range(0, len(txs), 100):
        for r in batch([("eth_getTransactionReceipt", [t]) for t in txs[i:i + 100]]):
            fee += int(r["gasUsed"], 16) * int(r["effectiveGasPrice"], 16)
    return fee, len(txs)
failed = 0
def check(name, good, detail=""):
    global failed
    print(("ok: %s" if good else "FAILED: %s") % (name + ("" if good or not detail else ": " + detail)))
    failed += 0 if good else 1

jobs = {}  # chain job id -> (gateway id, amount_wei, spent_wei)
for line in open(jobs_f):
    gid, cid, amount, spent = line.split()
    jobs[cid.lower()] = (int(gid), int(amount), int(spent))
by_job = {}
for e in ev:
    if e["job"]:
        by_job.setdefault(e["job"], []).append(e)
ours = set(jobs)
check("the chain holds exactly the %d funded jobs" % len(jobs),
      {j for j, es in by_job.items() if any(e["kind"] == "JobCreated" for e in es)} == ours,
      "chain %d, funded %d" % (len(by_job), len(jobs)))

# Exactly one settlement per job.
counts = {j: sum(1 for e in by_job.get(j, []) if e["kind"] in SETTLE) for j in ours}
bad = {jobs[j][0]: n for j, n in counts.items() if n != 1}
check("every job settled exactly once on chain (PaymentReleased/JobRefunded/DisputeResolved)",
      not bad, "gateway id -> settlement events: %s" % bad)
created = {j: [e for e in by_job.get(j, []) if e["kind"] == "JobCreated"] for j in ours}
check("one JobCreated per job", all(len(v) == 1 for v in created.values()))

# Outcomes: PAID, or REFUNDED for the job the worker held when killed.
settle = {j: next((e for e in by_job.get(j, []) if e["kind"] in SETTLE), None) for j in ours}
paid = {j for j, e in settle.items() if e and e["kind"] == "PaymentReleased"}
refunded = {j for j, e in settle.items() if e and e["kind"] == "JobRefunded"}
# A claim that ended without a result: claimed, never submitted (reopened
# after the claim's runtime, or refunded from Claimed at the deadline).
kinds = lambda j: {e["kind"] for e in by_job.get(j, [])}
lapsed = {j for j in ours if "JobClaimed" in kinds(j) and "JobSubmitted" not in kinds(j)}
print("outcome: %d paid, %d refunded (gateway ids %s), %d claims without a result, held at the worker's kill: %s"
      % (len(paid), len(refunded), sorted(jobs[j][0] for j in refunded), len(lapsed),
         sorted(jobs[j][0] for j in orphans & ours) or "none"))
check("every job is PAID or REFUNDED", paid | refunded == ours)
check("a job is refunded only where the killed worker held its claim",
      refunded <= (lapsed & orphans) and len(refunded) <= 1,
      "refunded %s, lapsed %s, held at the kill %s" % (sorted(jobs[j][0] for j in refunded),
      sorted(jobs[j][0] for j in lapsed), sorted(jobs[j][0] for j in orphans & ours)))
check("every claim that ended without a result was the killed worker's", lapsed <= orphans,
      "lapsed: %s" % sorted(jobs[j][0] for j in lapsed - orphans))
check("every payment went to the worker",
      all(settle[j]["worker"] == worker for j in paid))

# PostgreSQL equals the chain.
db_ev = set()
for line in open(events_f):
    b, i, tx, kind, job, amount = line.rstrip("\n").split("\t")
    db_ev.add((int(b), int(i), tx, kind, job or None, int(amount) if amount else None))
ch_ev = {(e["block"], e["index"], e["tx"], e["kind"], e["job"], e["amount"]) for e in ev if e["kind"] != "other"}
n_db = sum(1 for _ in open(events_f))
check("chain_events holds exactly the escrow's %d logs, once each" % len(ch_ev),
      db_ev == ch_ev and n_db == len(ch_ev),
      "db %d rows; only in db %s; only on chain %s" % (n_db, sorted(db_ev - ch_ev)[:3], sorted(ch_ev - db_ev)[:3]))
rows = {}
for line in open(rows_f):
    gid, cid, status, wk, escrow_wei, rel_tx, ref_tx = line.rstrip("\n").split("\t")
    rows[cid] = (int(gid), status, wk or None, int(escrow_wei) if escrow_wei else None, rel_tx or None, ref_tx or None)
mism = []
for j in ours:
    e = settle[j]
    want_status = "COMPLETED" if j in paid else "REFUNDED"
    want = (jobs[j][0], want_status, e["worker"] if j in paid else rows.get(j, (0, 0, None))[2],
            created[j][0]["amount"], e["tx"] if j in paid else None, e["tx"] if j in refunded else None)
    if rows.get(j) != want:
        mism.append((jobs[j][0], rows.get(j), want))
check("each job row equals the chain (status, worker, locked wei, settling tx)", not mism,
      "%d rows differ, e.g. %s" % (len(mism), mism[:2]))
claimed_by = {j: {e["worker"] for e in by_job.get(j, []) if e["kind"] == "JobClaimed"} for j in ours}
check("each refunded row names the worker that held the lapsed claim (or none)",
      all(rows.get(j, (0, 0, None))[2] in claimed_by[j] | {None} for j in refunded))

# The money, to the wei.
locked = sum(a for _, a, _ in jobs.values())
on_chain = sum(created[j][0]["amount"] for j in ours)
pay_worker = sum(settle[j]["amount"] for j in paid)
refunds = sum(settle[j]["amount"] for j in refunded)
fees = on_chain - pay_worker - refunds
print("money: locked %d wei = worker pay %d + client refunds %d + fees %d" % (locked, pay_worker, refunds, fees))
check("JobCreated amounts equal what loom fund locked (%d wei)" % locked, on_chain == locked)
check("worker pay + client refunds + fees (0: LoomEscrow takes none) = total locked", fees == 0,
      "%d wei unaccounted for" % fees)
withdrawn = lambda who: sum(e["amount"] for e in ev if e["kind"] == "Withdrawn" and e["account"] == who)
surplus = sum(e["amount"] for e in ev if e["kind"] == "SurplusCredited" and e["account"] == client)
check("escrow balanceOf(worker) = 0: its pay was sent, not credited", balance_of(worker) == 0,
      "%d credited" % balance_of(worker))
check("escrow balanceOf(client) = surplus credits less withdrawals (refunds were sent)",
      balance_of(client) == surplus - withdrawn(client))
held = int(call("eth_getBalance", [escrow, "latest"]), 16)
check("the escrow's ETH = what it owes (worker and client balances)",
      held == balance_of(worker) + balance_of(client), "%d != %d" % (held, balance_of(worker) + balance_of(client)))
spent = sum(s for _, _, s in jobs.values())
check("client wallet = start - (locked + gas) of its fund transactions + refunds sent back",
      c_end == c_start - spent + refunds + withdrawn(client),
      "%d != %d - %d + %d" % (c_end, c_start, spent, refunds))
w_gas, w_txs = gas_paid_by(worker)
check("worker wallet = start + pay sent - gas of its %d transactions" % w_txs,
      w_end == w_start + pay_worker - w_gas + withdrawn(worker),
      "%d != %d + %d - %d" % (w_end, w_start, pay_worker, w_gas))
sys.exit(1 if failed else 0)
PY
chain() { python3 "$work/chain.py" "$rpc" "$escrow" "$start_block" "$@"; }
block() { "$cast" block-number --rpc-url "$rpc"; }

# --- The client: create and fund, trying again while a service is down ------
# A job is funded with `--deadline-s` = LOOM_CHAOS_DEADLINE_S + 4 s per job. jobs.tsv: gateway id, chain job id, locked wei, wei spent.
# retry OUT ERR CMD...: run CMD until it succeeds; exit 69 (gateway or job
# store unavailable) and 75 (try again later) are retried for 120 s, and so
# is anvil's "BlockOutOfRangeError" (exit 65): under --prune-history and
# interval mining, an eth_call at "latest" can race the next block and be
# refused for a block anvil has just pruned (seen on loom fund's quote; the
# call changed nothing, so trying again is safe).
retry() {
  local ofile=$1 efile=$2 rc t0=$SECONDS; shift 2
  while :; do
    rc=0
    "$@" >"$ofile" 2>"$efile" || rc=$?
    [ "$rc" = 0 ] && return 0
    [ $((SECONDS - t0)) -lt 120 ] || return "$rc"
    case "$rc" in
      69 | 75) ;;
      65) grep -q BlockOutOfRangeError "$efile" || return "$rc" ;;
      *) return "$rc" ;;
    esac
    echo "retrying after exit $rc: $(head -c 300 "$efile")"
    sleep 0.5
  done
}
client_loop() {
  local i id cents
  for i in $(seq 1 "$n_jobs"); do
    cents=$((1 + i % 7))
    retry "$work/create-$i.json" "$work/create-$i.err" "$loom" create --json --type IA \
      --price-usd "0.0$cents" --title "e2e: chaos $i" --spec examples/opencl-inline.json \
      || { echo "create $i: exit $?: $(cat "$work/create-$i.err")"; return 1; }
    id=$(jq -er .id "$work/create-$i.json") || return 1
    retry "$work/fund-$i.json" "$work/fund-$i.err" "$loom" fund --json --window-s 5 \
      --max-runtime-s 60 --deadline-s $((deadline_s + 4 * i)) "$id" \
      || { echo "fund $i (job $id): exit $?: $(cat "$work/fund-$i.err")"; return 1; }
    jq -r '[.job_id, .chain_job_id, .amount_wei, .spent_wei] | @tsv' "$work/fund-$i.json" >>"$work/jobs.tsv"
  done
}
: >"$work/jobs.tsv"
client_loop >"$work/client.log" 2>&1 &
client_pid=$!

# --- The kills ----------------------------------------------------------------
# wait_for WHAT SECONDS CMD...: poll CMD every 0.5 s until it succeeds.
wait_for() {
  local what=$1 limit=$2 t0=$SECONDS; shift 2
  until "$@"; do
    [ $((SECONDS - t0)) -lt "$limit" ] || { bad "waited ${limit}s for $what"; return 1; }
    sleep 0.5
  done
}
submitted_at_least() { local c; read -ra c <<<"$(chain counts)"; [ "${c[2]}" -ge "$1" ]; }
worker_holds_claim() { [ -n "$(chain open-claims)" ]; }
blocks_after() { [ "$(block)" -ge "$1" ]; }
orphans=""
kill_restart() { # SVC
  local svc=$1 b
  e2e_kill9 "$svc" || { bad "kill -9 loom-$svc"; return 1; }
  b=$(block)
  [ "$svc" = worker ] && orphans=$(chain open-claims)
  wait_for "2 blocks with loom-$svc down" 30 blocks_after $((b + 2)) || return 1
  # A claim sent just before the kill is mined in the next block or two.
  [ "$svc" = worker ] && orphans="$orphans $(chain open-claims)"
  if e2e_restart "$svc"; then
    ok "loom-$svc killed with SIGKILL in block $b, restarted, healthy"
  else
    bad "loom-$svc restarted and healthy"
    return 1
  fi
}
progress=0
for svc in worker jobstore gateway indexer keeper; do
  if [ "$svc" = worker ]; then
    wait_for "the worker to hold a claim" 120 worker_holds_claim || break
  else
    read -ra c <<<"$(chain counts)"
    progress=$((c[2] + 3))
    wait_for "3 more results submitted (to $progress) before killing loom-$svc" 120 \
      submitted_at_least "$progress" || break
  fi
  kill_restart "$svc" || break
done
echo "kills done after $((SECONDS - t_start))s: $(chain counts) (created claimed submitted settled reopened)"

# --- Everything settles -------------------------------------------------------
wait "$client_pid"
client_rc=$?
cat "$work/client.log"
equal "client loop: every job created and funded (exit)" "$client_rc" 0
n_funded=$(wc -l <"$work/jobs.tsv")
equal "jobs funded" "$n_funded" "$n_jobs"
all_settled() { local c; read -ra c <<<"$(chain counts)"; [ "${c[3]}" -ge "$n_funded" ]; }
db() { psql "$pg_url" -XAtq -F $'\t' -c "$1"; }
db_settled() { [ "$(db "SELECT count(*) FROM jobs WHERE status IN ('COMPLETED','REFUNDED')")" -ge "$n_funded" ]; }
if wait_for "every job settled on chain" "$timeout_s" all_settled \
  && wait_for "every job settled in PostgreSQL" 60 db_settled; then
  ok "all $n_funded jobs settled on chain and in PostgreSQL after $((SECONDS - t_start))s"
fi
# The chain's head now, so that the database has caught up to it.
head_block=$(block)
db_caught_up() { [ "$(db "SELECT block_number FROM chain_checkpoint")" -ge "$head_block" ]; }
wait_for "the indexer's checkpoint to reach block $head_block" 60 db_caught_up \
  && ok "the indexer's checkpoint reached block $head_block"
client_end=$(wei "$client")
worker_end=$(wei "$worker")

db "SELECT id, chain_job_id, status, coalesce(worker_address, ''), coalesce(escrow_wei::text, ''),
      coalesce(released_tx, ''), coalesce(refunded_tx, '') FROM jobs WHERE funded_tx IS NOT NULL" >"$work/rows.tsv"
db "SELECT block_number, log_index, tx_hash, kind, coalesce(chain_job_id, ''), coalesce(amount_wei::text, '')
      FROM chain_events" >"$work/events.tsv"
echo "stray PENDING jobs (a create answered after the gateway died): $(db "SELECT count(*) FROM jobs WHERE funded_tx IS NULL")"
while IFS= read -r line; do
  case "$line" in
    ok:*) ok "${line#ok: }" ;;
    FAILED:*) bad "${line#FAILED: }" ;;
    *) echo "$line" ;;
  esac
done < <(chain audit "$work/jobs.tsv" "$work/rows.tsv" "$work/events.tsv" "$worker" "$client" \
  "$client_start" "$client_end" "$orphans" "$worker_start" "$worker_end" 2>&1)
echo "chaos run: $((SECONDS - t_start))s in all"
if [ "$failed" != 0 ]; then
  show_logs jobstore gateway indexer keeper worker
  # LOOM_CHAOS_KEEP=DIR: keep the whole logs of a failed run there.
  [ -n "${LOOM_CHAOS_KEEP:-}" ] && mkdir -p "$LOOM_CHAOS_KEEP" && cp -r "$state/logs" "$work"/*.tsv "$LOOM_CHAOS_KEEP/"
fi
e2e_finish
