#!/usr/bin/env bash
# bench/cluster.sh: Parley as a cluster against Parley as one node, side by side in one run.
# For each setup it starts everything fresh on loopback (a throwaway PostgreSQL 15 with
# tests/pg/pg_cluster.sh, a nats-server, the nodes), runs the workloads R times with
# parley-bench (connections spread round-robin over the nodes: --url lists them all),
# stops everything, and writes a Markdown report with the medians and the commands.
#
# Setups: "sqlite" (one node, the default embedded store: the reference), "pg1" (one node
# on PostgreSQL with the NATS bus: a cluster of one), "pg3" (three nodes on PostgreSQL and
# NATS). Workloads: W4 durable sends (closed loop, acknowledged sends/s), W3 rounds
# (deliveries/s) in 10 rooms of 100 and 100 rooms of 10, and, with --connections N, W1
# idle connections: N connections held at once across the setup's nodes (every node under
# the 20,000 descriptors a process may have here), with the nodes' summed RSS.
#
# usage: bench/cluster.sh [options]
#   --setups LIST       from sqlite,pg1,pg3 (default all three)
#   --runs R            repetitions (default 3)
#   --connections N     also hold N idle connections (W1) on the multi-node setups
#   --quick             short runs, 1 repetition (a smoke test)
#   --out FILE          the report (default bench/results/cluster-<UTC time>.md)
#   --parley PATH       Parley binary (default build/parley)
#   --bench PATH        parley-bench binary (default build/parley-bench)
# Nodes run with `--set auth.password_cost=minimum --set rate.enabled=off`, everything
# else default (store.synchronous=full for SQLite; PostgreSQL with fsync on and
# synchronous_commit on). Nothing is pinned: on a 2-core machine the nodes, PostgreSQL,
# nats-server and the load generator share both cores, so the figures compare setups on
# this machine, not what more machines would give.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
setups="sqlite,pg1,pg3"
runs=3
connections=0
quick=0
out=""
parley="$root/build/parley"
bench="$root/build/parley-bench"
cmdline="bench/cluster.sh $*"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --setups) setups=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --quick) quick=1; runs=1; shift ;;
    --out) out=$2; shift 2 ;;
    --parley) parley=$2; shift 2 ;;
    --bench) bench=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "cluster.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x "$bench" ]] || { echo "cluster.sh: parley-bench not found at $bench" >&2; exit 2; }
[[ -x "$parley" ]] || { echo "cluster.sh: parley not found at $parley" >&2; exit 2; }
command -v nats-server >/dev/null || { echo "cluster.sh: no nats-server (scripts/install-deps.sh)" >&2; exit 2; }

stamp=$(date -u +%Y-%m-%d-%H%M%S)
[[ -n "$out" ]] || out="$here/results/cluster-$stamp.md"
work=$(mktemp -d /tmp/parley-bench-cluster.XXXXXX)
chmod 755 "$work"
jsonl="$work/results.jsonl"
: >"$jsonl"
pids=()
pgdir=""

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
  if [[ -n "$pgdir" ]]; then bash "$root/tests/pg/pg_cluster.sh" stop "$pgdir" || true; fi
  pgdir=""
}
cleanup() {
  stop_all
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts one parley node and waits for "parley listening"; sets started_port. (Not in a
# command substitution: its subshell would lose the pids.)
start_node() {
  local name=$1; shift
  local log="$work/$name.log"
  mkdir -p "$work/$name"
  "$parley" serve --host 127.0.0.1 --port 0 --data-dir "$work/$name" \
    --set auth.password_cost=minimum --set rate.enabled=off "$@" >"$log" 2>&1 &
  pids+=($!)
  node_pids+=($!)
  for _ in $(seq 300); do
    if grep -q "^parley listening on" "$log"; then
      started_port=$(sed -n 's/^parley listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$log" | head -1)
      return
    fi
    sleep 0.05
  done
  echo "cluster.sh: $name did not start; its log:" >&2
  cat "$log" >&2
  exit 1
}

# Brings up a setup; sets urls (comma-separated HOST:PORT) and node_pids.
start_setup() {
  local setup=$1
  node_pids=()
  local ports=()
  case "$setup" in
    sqlite)
      start_node sqlite-node
      ports+=("$started_port")
      ;;
    pg1|pg3)
      local n=${setup#pg}
      pgdir="$work/pg-$setup"
      local pg_url
      pg_url=$(bash "$root/tests/pg/pg_cluster.sh" start "$pgdir" "$(free_port)")
      local nats_port
      nats_port=$(free_port)
      nats-server -a 127.0.0.1 -p "$nats_port" >"$work/nats-$setup.log" 2>&1 &
      pids+=($!)
      for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && break
        sleep 0.05
      done
      for k in $(seq "$n"); do
        start_node "$setup-node$k" --set store.backend=postgres \
          --set "store.postgres_url=$pg_url" --set "cluster.nats_url=nats://127.0.0.1:$nats_port" \
          --set "cluster.node_id=node$k" --set "store.uploads_dir=$work/uploads-$setup"
        ports+=("$started_port")
      done
      ;;
    *) echo "cluster.sh: unknown setup $setup" >&2; exit 2 ;;
  esac
  urls=$(printf '127.0.0.1:%s,' "${ports[@]}")
  urls=${urls%,}
}

# run_case SETUP WORKLOAD CONFIG -- parley-bench args...: one JSON line per run.
run_case() {
  local setup=$1 workload=$2 config=$3; shift 4
  local r
  for r in $(seq "$runs"); do
    start_setup "$setup"
    echo "== $setup $workload $config run $r: parley-bench $* --url $urls" >&2
    local line status=0
    line=$("$bench" "$@" --url "$urls" --server-pid "$(IFS=,; echo "${node_pids[*]}")" --json --quiet \
      2>"$work/bench-err.log" | tail -1) || status=$?
    if [[ $status -ne 0 || "${line:0:1}" != "{" ]]; then
      line="{\"ok\":false,\"error\":$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()[-400:]))' "$work/bench-err.log")}"
    fi
    python3 - "$setup" "$workload" "$config" "$r" "$line" "$*" >>"$jsonl" <<'EOF'
import json, sys
setup, workload, config, run, line, args = sys.argv[1:7]
rec = json.loads(line)
rec.update({"setup": setup, "workload": workload, "config": config, "run": int(run), "args": args})
print(json.dumps(rec))
EOF
    stop_all
  done
}

IFS=, read -r -a setup_list <<<"$setups"
if [[ $quick -eq 1 ]]; then dur=(--duration 1 --warmup 0.3); else dur=(--duration 5 --warmup 1); fi
for setup in "${setup_list[@]}"; do
  run_case "$setup" w4_durable "100 rooms x 2, 2 senders, window 64" -- \
    fanout --workload-name w4_durable --rooms 100 --members 2 --senders 2 --window 64 "${dur[@]}"
  run_case "$setup" w3_rounds "10 rooms x 100" -- fanout --rooms 10 --members 100 --rounds "${dur[@]}"
  run_case "$setup" w3_rounds "100 rooms x 10" -- fanout --rooms 100 --members 10 --rounds "${dur[@]}"
  if [[ $connections -gt 0 && "$setup" == pg3 ]]; then
    run_case "$setup" w1_idle "$connections connections" -- \
      idle --connections "$connections" --procs 3 --source-addrs 60 --hold 5 --settle 2 \
      --connect-concurrency 512 --setup-concurrency 32
  fi
done

mkdir -p "$(dirname "$out")"
python3 - "$jsonl" "$out" "$cmdline" "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)" "$stamp" <<'EOF'
import json, statistics, sys
path, out, cmd, commit, stamp = sys.argv[1:6]
recs = [json.loads(l) for l in open(path) if l.strip()]
metrics = {
    "w4_durable": [("acknowledged sends/s", "sends_per_s", "{:,.0f}"), ("ack p50 ms", "ack_p50_ms", "{:.1f}"), ("ack p99 ms", "ack_p99_ms", "{:.1f}")],
    "w3_rounds": [("deliveries/s", "deliveries_per_s", "{:,.0f}"), ("round p99 ms", "delivery_p99_ms", "{:.1f}")],
    "w1_idle": [("connections held", "connections", "{:,.0f}"), ("dropped", "dropped", "{:,.0f}"), ("server RSS per connection, bytes", "rss_bytes_per_conn", "{:,.0f}")],
}
names = {"sqlite": "1 node, SQLite", "pg1": "1 node, PostgreSQL + NATS", "pg3": "3 nodes, PostgreSQL + NATS"}
lines = [f"# Parley as a cluster against one node ({stamp[:10]})", "",
         f"Command: `{cmd}` at commit `{commit}`, {stamp} UTC. Medians of the ok runs "
         f"(min–max in brackets). Everything (nodes, PostgreSQL, nats-server, the load "
         f"generator) shares this machine's 2 cores, unpinned: the figures show what the "
         f"cluster costs on one machine, not what more machines would add.", ""]
keys = []
for r in recs:
    k = (r["workload"], r["config"])
    if k not in keys:
        keys.append(k)
for wl, conf in keys:
    lines += [f"## {wl}: {conf}", ""]
    ms = metrics.get(wl, [])
    lines.append("| setup | runs ok | " + " | ".join(m[0] for m in ms) + " |")
    lines.append("|---|---|" + "---|" * len(ms))
    for setup in ["sqlite", "pg1", "pg3"]:
        rs = [r for r in recs if r["workload"] == wl and r["config"] == conf and r["setup"] == setup]
        if not rs:
            continue
        ok = [r for r in rs if r.get("ok")]
        cells = []
        for _, key, fmt in ms:
            vals = [float(r[key]) for r in ok if isinstance(r.get(key), (int, float))]
            if not vals:
                cells.append("–")
                continue
            med = statistics.median(vals)
            cells.append(fmt.format(med) + (f" ({fmt.format(min(vals))}–{fmt.format(max(vals))})" if len(vals) > 1 else ""))
        lines.append(f"| {names[setup]} | {len(ok)}/{len(rs)} | " + " | ".join(cells) + " |")
    args = next((r["args"] for r in recs if r["workload"] == wl and r["config"] == conf), "")
    lines += ["", f"parley-bench arguments: `{args} --url <every node>`", ""]
failed = [r for r in recs if not r.get("ok")]
if failed:
    lines += ["## Failed runs", ""]
    for r in failed:
        lines.append(f"- {r['setup']} {r['workload']} {r['config']} run {r['run']}: {str(r.get('error', ''))[:300]}")
    lines.append("")
open(out, "w").write("\n".join(lines))
print(f"wrote {out}")
sys.exit(1 if failed else 0)
EOF
