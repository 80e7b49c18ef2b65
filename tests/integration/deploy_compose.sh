#!/usr/bin/env bash
# deploy_compose.sh -- deploy/compose.yaml, deploy/Dockerfile and
# deploy/docker-entrypoint.sh, checked without a Docker engine.
#
# - `docker-compose config` (Debian's 1.29) accepts the file; it lists exactly
#   the expected services, the profiles dev and gpu, the four file secrets;
#   anvil and the deployer only in dev, worker-gpu only in gpu; the worker can
#   be scaled (no container_name, no published port) and takes its keys from
#   the worker_keys secret; no key or password is written inline; LOOM_RPC_URL
#   and LOOM_ESCROW from the environment reach every service.
# - Every LOOM_* name a Loom service sets is one its binary's --help lists or
#   one docker-entrypoint.sh reads (the shared x-loom-env names excepted, each
#   read by some service), and each /health check asks the port the service
#   listens on (the first of LOOM_METRICS_PORT, LOOM_METRICS_LISTEN and
#   LOOM_LISTEN its --help lists, set in compose.yaml).
# - Every shared library the built binaries link comes from a package the
#   runtime stage installs (or one they depend on), and each of those exists in
#   Debian's archive.
# - The entrypoint, run with sh: empty LOOM_* dropped, the deployment JSON
#   read, PGPASSWORD from its file, and with three worker keys three replicas
#   get three different keys while a fourth is refused (exit 75).
# Last line: "N passed, N failed".
#
# SPDX-License-Identifier: MIT
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root/deploy" || exit 1
base=${LOOM_TEST_TMP:-/tmp}
tmp=$(mktemp -d "$base/deploy-compose.XXXXXX")
bg=()
cleanup() {
  for p in "${bg[@]+"${bg[@]}"}"; do kill "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

passed=0 failed=0
check() { # NAME COMMAND...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"
  else failed=$((failed + 1)); echo "FAIL $name"; fi
}

# Secret files as an operator would lay them out.
sec=$tmp/secrets
mkdir -p "$sec/worker-keys"
(umask 077
 head -c 24 /dev/urandom | base64 >"$sec/pg_password"
 head -c 32 /dev/urandom >"$sec/gateway_session.key"
 for f in keeper.key worker-keys/w1.key; do od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$sec/$f"; done)
export LOOM_SECRETS=$sec
unset LOOM_RPC_URL LOOM_ESCROW

# 1. docker-compose config.
dc() { docker-compose -f compose.yaml "$@"; }
# (Each docker-compose run costs seconds of Python start-up: three in all.)
dc config >"$tmp/plain.yaml" 2>"$tmp/plain.err"
check "config: valid" [ $? = 0 ]
check "config: services" [ "$(python3 -c 'import sys,yaml; print(" ".join(sorted(yaml.safe_load(open(sys.argv[1]))["services"])))' "$tmp/plain.yaml")" = "anvil deployer gateway indexer jobstore keeper postgres worker worker-gpu" ]
check "config: profiles" [ "$(dc config --profiles | sort | tr '\n' ' ')" = "dev gpu " ]
LOOM_RPC_URL=https://rpc.example.org LOOM_ESCROW=0x00000000000000000000000000000000000000e5 \
  dc config >"$tmp/prod.yaml" 2>>"$tmp/plain.err"
check "config: no warnings" [ ! -s "$tmp/plain.err" ]

# Each Loom binary's settings, as its --help lists them.
for b in gateway jobstore indexer keeper worker; do
  "${LOOM_BUILD:-$root/build}/bin/loom-$b" --help >"$tmp/help.loom-$b" 2>&1 || : >"$tmp/help.loom-$b"
done

# The structural checks, in one Python run (loading PyYAML takes seconds here):
# CHECKS holds (name, test) pairs over c (the
# plain config), p (the config with LOOM_RPC_URL and LOOM_ESCROW set) and s
# (c's services).
py_out=$(python3 - "$tmp/plain.yaml" "$tmp/prod.yaml" "$sec" "$tmp" "$root/deploy" <<'PY'
import os, re, sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
p = yaml.safe_load(open(sys.argv[2]))
sec = sys.argv[3]
s = c["services"]
names = lambda text: set(re.findall(r"LOOM_[A-Z0-9_]+", text))
shared = set(yaml.safe_load(open(os.path.join(sys.argv[5], "compose.yaml")))["x-loom-env"])
entry = set(re.findall(r"\$\{?(LOOM_[A-Z0-9_]+)", open(os.path.join(sys.argv[5], "docker-entrypoint.sh")).read()))
loom = {n: s[n]["command"][0] for n in s if s[n].get("command", [""])[0].startswith("loom-")}
helps = {b: names(open(os.path.join(sys.argv[4], "help." + b)).read()) for b in set(loom.values())}
def unknown_env():
    bad = [f"{n}:{k}" for n, b in sorted(loom.items()) for k in s[n].get("environment", {})
           if k.startswith("LOOM_") and k not in helps[b] | entry | shared]
    bad += [f"x-loom-env:{k}" for k in sorted(shared) if not any(k in h for h in helps.values()) and k not in entry]
    if bad: print("  not read by the service:", " ".join(bad), file=sys.stderr)
    return all(helps.values()) and not bad
def health_ports():
    bad = []
    for n in sorted(loom):
        e = s[n].get("environment", {})
        # The service's own listener setting (unset: its default, not 9460).
        k = next((k for k in ("LOOM_METRICS_PORT", "LOOM_METRICS_LISTEN", "LOOM_LISTEN") if k in helps[loom[n]]), "")
        want = str(e.get(k, "")).rpartition(":")[2]
        got = re.search(r"//[^/:]+:(\d+)/health", " ".join(s[n]["healthcheck"]["test"]))
        if not got or got.group(1) != want: bad.append(f"{n}({got and got.group(1)} vs {want or 'none'})")
    if bad: print("  health check off the listener:", " ".join(bad), file=sys.stderr)
    return not bad
env = lambda n: s[n].get("environment", {})
secrets = lambda n: sorted(x["source"] if isinstance(x, dict) else x for x in s[n].get("secrets", []))
CHECKS = [
    ("anvil and deployer only in dev", lambda: s["anvil"]["profiles"] == ["dev"] and s["deployer"]["profiles"] == ["dev"]),
    ("worker-gpu only in gpu, asks for an NVIDIA GPU", lambda: s["worker-gpu"]["profiles"] == ["gpu"] and s["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]),
    ("the rest in every profile", lambda: all("profiles" not in s[n] for n in ("postgres","jobstore","gateway","indexer","keeper","worker"))),
    ("four file secrets under LOOM_SECRETS", lambda: sorted(c["secrets"]) == ["gateway_session_key","keeper_key","pg_password","worker_keys"] and all(v["file"].startswith(sec + "/") for v in c["secrets"].values())),
    ("worker scalable: no name, no published port", lambda: "container_name" not in s["worker"] and "ports" not in s["worker"]),
    ("worker keys from the worker_keys secret", lambda: secrets("worker") == ["worker_keys"] and env("worker")["LOOM_KEY_DIR"] == "/run/secrets/worker_keys"),
    ("keeper key from the keeper_key secret", lambda: secrets("keeper") == ["keeper_key"] and env("keeper")["LOOM_KEY_FILE"] == "/run/secrets/keeper_key"),
    ("database password from pg_password", lambda: secrets("jobstore") == ["pg_password"] and env("jobstore")["LOOM_PGPASSWORD_FILE"] == "/run/secrets/pg_password" and env("postgres")["POSTGRES_PASSWORD_FILE"] == "/run/secrets/pg_password"),
    ("gateway session key from its secret", lambda: secrets("gateway") == ["gateway_session_key"]),
    ("no key or password inline", lambda: not any(re.search(r"(0x)?[0-9a-fA-F]{64}|password=|:[^/@]+@", str(v)) for n in s for v in s[n].get("environment", {}).values())),
    ("services wait for their dependencies", lambda: s["jobstore"]["depends_on"]["postgres"]["condition"] == "service_healthy" and all(s[n]["depends_on"]["jobstore"]["condition"] == "service_healthy" for n in ("gateway","indexer","keeper"))),
    ("every Loom service has a /health check", lambda: all("/health" in " ".join(s[n]["healthcheck"]["test"]) for n in ("jobstore","gateway","indexer","keeper","worker"))),
    ("LOOM_RPC_URL and LOOM_ESCROW from the environment", lambda: all(p["services"][n]["environment"]["LOOM_RPC_URL"] == "https://rpc.example.org" and p["services"][n]["environment"]["LOOM_ESCROW"] == "0x00000000000000000000000000000000000000e5" for n in ("gateway","indexer","keeper","worker"))),
    ("dev chain by default", lambda: env("keeper")["LOOM_RPC_URL"] == "http://anvil:8545"),
    ("every LOOM_* name is in the service's --help or the entrypoint", unknown_env),
    ("every /health check asks the service's listener", health_ports),
    ("the gateway's feed and deployment (/api/events, /api/quote)", lambda: env("gateway")["LOOM_FEED"] == env("worker")["LOOM_FEED"] == "tcp://jobstore:5561" and env("jobstore")["LOOM_PUB_ADDR"].endswith(":5561") and env("gateway")["LOOM_DEPLOYMENT"] == "/deploy/deployment.json"),
]
for name, f in CHECKS:
    try:
        ok = bool(f())
    except (KeyError, TypeError, IndexError) as e:
        ok = False
        print("  missing:", e, file=sys.stderr)
    print(("ok   " if ok else "FAIL ") + "config: " + name)
PY
)
echo "$py_out"
passed=$((passed + $(grep -c '^ok' <<<"$py_out")))
failed=$((failed + $(grep -c '^FAIL' <<<"$py_out")))
check "config: all 17 structural checks ran" [ "$(grep -c . <<<"$py_out")" = 17 ]

# 2. The runtime stage installs every library the binaries link.
pkgs=$(sed -n '/^FROM debian:12-slim AS runtime/,/^FROM/p' Dockerfile \
  | sed -n '/apt-get install/,/rm -rf/p' | tr ' \\' '\n\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' \
  | grep -vE '^(apt-get|install|rm|no-install-recommends|y)$' | sort -u)
check "runtime: packages listed" [ "$(wc -l <<<"$pkgs")" -ge 10 ]
# One apt-cache run for all (each run takes seconds): a package Debian has
# is listed with a candidate version.
policy=$(apt-cache policy $pkgs 2>/dev/null)
missing_pkg=""
for p in $pkgs; do
  awk -v p="$p:" '$1 == p {f = 1; next} f && /Candidate:/ {exit ($2 == "(none)")} /^[^ ]/ {f = 0} END {if (!f) exit 1}' <<<"$policy" \
    || missing_pkg+=" $p"
done
check "runtime: every package in Debian (${missing_pkg:-all found})" [ -z "$missing_pkg" ]
closure=$( (echo "$pkgs"; apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances $pkgs 2>/dev/null | sed -n 's/^ *\(Pre\)\{0,1\}Depends: //p' \
  | tr -d '<>') | sed 's/:.*//' | sort -u)
bins=("${LOOM_BUILD:-$root/build}"/bin/loom*)
# Each linked library by its real path, with and without /usr (merged /usr:
# dpkg knows one of the two); one dpkg -S for all of them.
declare -A lib_of
for b in "${bins[@]}"; do
  [ -x "$b" ] || continue
  for l in $(ldd "$b" | awk '/=>/ {print $3}'); do
    f=$(readlink -f "$l")
    lib_of[${f#/usr}]="$(basename "$b"):$(basename "$l")"
  done
done
paths=()
for f in "${!lib_of[@]}"; do paths+=("$f" "/usr$f"); done
owners=$(dpkg -S "${paths[@]}" 2>/dev/null)
libs_missing=""
for f in "${!lib_of[@]}"; do
  owner=$(awk -F': ' -v a="$f" -v b="/usr$f" '$2 == a || $2 == b {sub(/:.*/, "", $1); print $1; exit}' <<<"$owners")
  if [ -z "$owner" ] || ! grep -qx "$owner" <<<"$closure"; then libs_missing+=" ${lib_of[$f]}(${owner:-?})"; fi
done
check "runtime: libraries of ${#bins[@]} binaries installed (${libs_missing:-none missing})" [ -z "$libs_missing" ]

# 3. The entrypoint, with sh.
ep=$root/deploy/docker-entrypoint.sh
cat >"$tmp/deployment.json" <<'EOF'
{"chainId": 31337, "escrow": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", "deploymentBlock": 7}
EOF
printf 's3cret\n' >"$tmp/pw"
out=$(env -i PATH="$PATH" LOOM_EMPTY= LOOM_LOG_LEVEL=info LOOM_DEPLOYMENT_FILE="$tmp/deployment.json" \
  LOOM_PGPASSWORD_FILE="$tmp/pw" sh "$ep" env)
check "entrypoint: empty LOOM_* dropped" bash -c '! grep -q "^LOOM_EMPTY=" <<<"$1"' _ "$out"
check "entrypoint: escrow from the deployment" grep -qx "LOOM_ESCROW=0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512" <<<"$out"
check "entrypoint: indexer's escrow_address too" grep -qx "LOOM_ESCROW_ADDRESS=0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512" <<<"$out"
check "entrypoint: start block and chain id" bash -c 'grep -qx LOOM_START_BLOCK=7 <<<"$1" && grep -qx LOOM_CHAIN_ID=31337 <<<"$1"' _ "$out"
check "entrypoint: PGPASSWORD from its file" bash -c 'grep -qx PGPASSWORD=s3cret <<<"$1" && ! grep -q LOOM_PGPASSWORD_FILE <<<"$1"' _ "$out"
out=$(env -i PATH="$PATH" LOOM_ESCROW=0x00000000000000000000000000000000000000e5 LOOM_START_BLOCK=9 \
  LOOM_DEPLOYMENT_FILE="$tmp/deployment.json" sh "$ep" env)
check "entrypoint: LOOM_ESCROW set wins over the file" bash -c 'grep -qx LOOM_ESCROW_ADDRESS=0x00000000000000000000000000000000000000e5 <<<"$1" && grep -qx LOOM_START_BLOCK=9 <<<"$1"' _ "$out"
out=$(env -i PATH="$PATH" HOME="$tmp" LOOM_ESCROW=0x00000000000000000000000000000000000000e5 LOOM_CHAIN_ID=534351 \
  LOOM_DEPLOYMENT="$tmp/none.json" sh "$ep" sh -c 'jq -c . "$LOOM_DEPLOYMENT"')
check "entrypoint: a worker's deployment JSON from LOOM_ESCROW" [ "$out" = '{"chainId":534351,"escrow":"0x00000000000000000000000000000000000000e5","deploymentBlock":0}' ]
out=$(env -i PATH="$PATH" LOOM_DEPLOYMENT_FILE="$tmp/none.json" LOOM_DEPLOYMENT_WAIT_S=1 sh "$ep" true 2>&1); rc=$?
check "entrypoint: no escrow anywhere: exit 78" [ "$rc" = 78 ]
check "entrypoint: says so" grep -q "no LOOM_ESCROW and no deployment file" <<<"$out"

keys=$tmp/keys locks=$tmp/locks
mkdir -p "$keys"
for k in a b c; do (umask 077; echo "$k" >"$keys/$k.key"); done
for i in 1 2 3; do
  env -i PATH="$PATH" LOOM_KEY_DIR="$keys" LOOM_LOCK_DIR="$locks" \
    sh "$ep" sh -c 'echo "$LOOM_KEY_FILE" >"$0"; exec sleep 60' "$tmp/replica$i" 2>/dev/null &
  bg+=($!)
  for _ in $(seq 1 50); do [ -s "$tmp/replica$i" ] && break; sleep 0.1; done
done
got=$(cat "$tmp"/replica? 2>/dev/null | sort | tr '\n' ' ')
check "entrypoint: three replicas, three keys" [ "$got" = "$keys/a.key $keys/b.key $keys/c.key " ]
out=$(env -i PATH="$PATH" LOOM_KEY_DIR="$keys" LOOM_LOCK_DIR="$locks" sh "$ep" true 2>&1); rc=$?
check "entrypoint: a fourth replica refused (75)" [ "$rc" = 75 ]
check "entrypoint: says why" grep -q "all 3 keys in $keys are held" <<<"$out"
kill "${bg[0]}"; wait "${bg[0]}" 2>/dev/null
out=$(env -i PATH="$PATH" LOOM_KEY_DIR="$keys" LOOM_LOCK_DIR="$locks" sh "$ep" sh -c 'echo "$LOOM_KEY_FILE"' 2>/dev/null)
check "entrypoint: a key is free again when its worker stops" [ "$out" = "$(cat "$tmp/replica1")" ]

echo "$passed passed, $failed failed"
