#!/usr/bin/env bash
# bench/compare.sh: Parley and the bench peers side by side on the same parley-bench workload
# (W3 group fan-out: one room of N members, K senders with a pipeline window).
#
# For each run r = 1..R and each server in turn (servers alternate, so drift on the machine
# hits all of them alike): start the server on port 0 (parse "listening on 127.0.0.1:<port>"
# from its stdout), run parley-bench against it with the same flags, keep its JSON line,
# stop the server with SIGTERM. Then print a markdown table (median [min-max] over the runs)
# to stdout and write it to bench/results/compare-<UTC date-time>.md.
#
# usage: bench/compare.sh [options] [-- parley-bench options]
#   --runs R         runs per server (default 3)
#   --servers LIST   comma-separated, from parley,bun,ws,socketio (default parley,bun,ws)
#   --parley PATH    Parley binary (default build/parley, else build-bench/parley)
#   --bench PATH     parley-bench binary (default build-bench/, then build/)
#   --out DIR        logs and JSON lines (default bench/out/compare-<UTC time>)
#   --table FILE     where the markdown table goes (default bench/results/compare-<UTC time>.md)
#   -- ARGS          parley-bench workload flags, replacing the default
#                    --members 100 --senders 10 --window 32 --duration 5 --warmup 1
#                    (--quiet --json --server-pid --url --target are always added)
# Exits 1 if any run failed its correctness checks.
#
# Servers: parley = `parley serve --port 0 --data-dir <fresh temp dir>
# --set auth.password_cost=minimum` (everything else default, e.g. store.synchronous);
# bun = `bench/peers/node_modules/.bin/bun bench/peers/bun/server.js 0`;
# ws = `node bench/peers/ws/server.mjs 0`; socketio = `node bench/peers/socketio/server.mjs 0`
# (parley-bench --target socketio). Peers: bench/peers/README.md (install.sh first).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
runs=3
servers="parley,bun,ws"
parley=""
bench=""
out=""
workload=(--members 100 --senders 10 --window 32 --duration 5 --warmup 1)

while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --servers) servers=$2; shift 2 ;;
    --parley) parley=$2; shift 2 ;;
    --bench) bench=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --table) md=$2; shift 2 ;;
    --) shift; workload=("$@"); break ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ -z "$parley" ]]; then
  for b in "$root/build/parley" "$root/build-bench/parley"; do
    [[ -x "$b" ]] && { parley=$b; break; }
  done
fi
if [[ -z "$bench" ]]; then
  for b in "$root/build-bench/parley-bench" "$root/build/parley-bench"; do
    [[ -x "$b" ]] && { bench=$b; break; }
  done
fi
[[ -n "$bench" && -x "$bench" ]] || { echo "compare.sh: parley-bench not found (use --bench)" >&2; exit 2; }
IFS=, read -ra server_list <<<"$servers"
for s in "${server_list[@]}"; do
  case "$s" in
    parley) [[ -n "$parley" && -x "$parley" ]] || { echo "compare.sh: no Parley binary (use --parley)" >&2; exit 2; } ;;
    bun) [[ -x "$root/bench/peers/node_modules/.bin/bun" ]] || { echo "compare.sh: bun peer not installed (bench/peers/install.sh)" >&2; exit 2; } ;;
    ws|socketio) [[ -d "$root/bench/peers/node_modules" ]] || { echo "compare.sh: peers not installed (bench/peers/install.sh)" >&2; exit 2; } ;;
    *) echo "compare.sh: unknown server $s (parley, bun, ws, socketio)" >&2; exit 2 ;;
  esac
done
stamp=$(date -u +%Y-%m-%d-%H%M%S)
out=${out:-$root/bench/out/compare-$stamp}
mkdir -p "$out" "$root/bench/results"
md=${md:-$root/bench/results/compare-$stamp.md}
results="$out/results.jsonl"
: >"$results"

server_pid=""
tmp=""
cleanup() {
  [[ -n "$server_pid" ]] && kill -TERM "$server_pid" 2>/dev/null || true
  [[ -n "$tmp" ]] && rm -rf "$tmp"
  return 0
}
trap cleanup EXIT

# start_server NAME LOG -> sets server_pid, port, target (parley-bench --target)
start_server() {
  local name=$1 log=$2 pattern='s/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p'
  target=peer
  : >"$log.server.out"  # exists before the background child opens it (sed polls it below)
  case "$name" in
    parley)
      tmp=$(mktemp -d)
      "$parley" serve --port 0 --data-dir "$tmp/data" --set auth.password_cost=minimum \
        >"$log.server.out" 2>"$log.server.err" &
      pattern='s/^parley listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p'
      target=parley ;;
    bun) (cd "$root" && exec bench/peers/node_modules/.bin/bun bench/peers/bun/server.js 0) \
           >"$log.server.out" 2>"$log.server.err" & ;;
    ws) (cd "$root" && exec node bench/peers/ws/server.mjs 0) \
          >"$log.server.out" 2>"$log.server.err" & ;;
    socketio) (cd "$root" && exec node bench/peers/socketio/server.mjs 0) \
                >"$log.server.out" 2>"$log.server.err" &
      target=socketio ;;
  esac
  server_pid=$!
  port=""
  for _ in $(seq 300); do
    port=$(sed -n "$pattern" "$log.server.out")
    [[ -n "$port" ]] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  if [[ -z "$port" ]]; then
    echo "compare.sh: $name did not start:" >&2; cat "$log.server.err" >&2; exit 1
  fi
}

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo ' (+ local changes)')"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "parley: ${parley:-none}"
  echo "bench: $bench ${workload[*]}"
} | tee "$out/machine.txt" >&2

for ((r = 1; r <= runs; r++)); do
  for name in "${server_list[@]}"; do
    log="$out/$name-$r"
    start_server "$name" "$log"
    echo "== $name run $r/$runs: pid $server_pid port $port" >&2
    set +e
    "$bench" --url "127.0.0.1:$port" --target "$target" --server-pid "$server_pid" \
      "${workload[@]}" --quiet --json >"$log.bench.txt" 2>"$log.bench.err"
    rc=$?
    set -e
    kill -TERM "$server_pid" 2>/dev/null || true
    set +e
    wait "$server_pid"
    server_rc=$?
    set -e
    server_pid=""
    [[ -n "$tmp" ]] && { rm -rf "$tmp"; tmp=""; }
    grep -E '^(acked|delivered|send->|result|checks)' "$log.bench.txt" >&2 || true
    json=$(grep '^{' "$log.bench.txt" | tail -1 || true)
    if [[ -z "$json" ]]; then
      echo "compare.sh: parley-bench failed against $name (exit $rc):" >&2
      cat "$log.bench.err" >&2
      json='{"ok":false}'
    fi
    # Dirty: other processes took more than 5% of the machine during the measured window.
    echo "$json" | jq -c --arg s "$name" --argjson run "$r" --argjson rc "$rc" \
      --argjson src "$server_rc" --argjson n "$(nproc)" \
      '. + {server: $s, run: $run, exit: $rc, server_exit: $src,
            dirty: (if .other_cpu_s == null then false else .other_cpu_s > 0.05 * .window_s * $n end)}' \
      >>"$results"
  done
done

# Markdown: median [min-max] per server; ratio = Parley median / peer median (deliveries/s).
table=$(jq -rs --arg order "$servers" --arg flags "${workload[*]}" '
  def med: sort | .[(length / 2 | floor)];
  def r(d): . * d | round / d;
  def vals(k): map(.[k] // empty);
  def f(k; d): vals(k) as $v
    | if ($v | length) == 0 then "-" else
      "\($v | med | r(d)) [\($v | min | r(d))–\($v | max | r(d))]" end;
  . as $all
  | ($all | map(select(.server == "parley")) | vals("deliveries_per_s")) as $pv
  | (if ($pv | length) > 0 then ($pv | med) else null end) as $pmed
  | "Workload: parley-bench \($flags); \($all | map(.run) | max) runs per server, alternating; median [min–max].",
    "",
    "| server | runs ok | deliveries/s | sends/s | delivery p50 ms | delivery p99 ms | server CPU % | Parley/peer (deliveries/s) |",
    "|---|---|---|---|---|---|---|---|",
    ($order | split(",")[] as $s
      | ($all | map(select(.server == $s))) as $g
      | ($g | vals("deliveries_per_s")) as $dv
      | "| \($s) | \($g | map(select(.ok == true)) | length)/\($g | length) | \($g | f("deliveries_per_s"; 1)) | \($g | f("sends_per_s"; 1)) | \($g | f("delivery_p50_ms"; 100)) | \($g | f("delivery_p99_ms"; 100)) | \($g | f("server_cpu_pct"; 1)) | \(
          if $s == "parley" or $pmed == null or ($dv | length) == 0 or ($dv | med) == 0 then "–"
          else "\($pmed / ($dv | med) | r(100))" end) |"),
    "",
    "Runs where other processes used > 5% of the machine during the window: \($all | map(select(.dirty)) | length) of \($all | length)\(
      if any($all[]; .dirty) then " (numbers from a shared, busy machine; compare ratios rather than absolute values)" else "" end)."
' "$results")

{
  echo "# Parley vs bench peers ($(date -u +%Y-%m-%d))"
  echo
  sed 's/^/    /' "$out/machine.txt"
  echo
  echo "$table"
} >"$md"
echo "$table"
echo >&2
echo "compare.sh: table written to $md; JSON lines and logs in $out" >&2
# Any run that failed its checks (or did not run) fails the comparison.
failed=$(jq -s 'map(select(.ok != true)) | length' "$results")
if [[ "$failed" != 0 ]]; then
  echo "compare.sh: $failed run(s) failed" >&2
  exit 1
fi
