#!/usr/bin/env bash
# bench/run.sh: start a fresh Parley server per run, drive it with parley-bench, record the
# server's CPU time and peak RSS, stop it with SIGTERM; repeat for store.synchronous=full and
# =normal and print the median and spread of every number.
#
# usage: bench/run.sh [PARLEY_BIN] [options] [-- parley-bench options]
#   PARLEY_BIN            server binary (default build/parley, i.e. /work/main/build/parley)
#   --bench PATH          parley-bench binary (default: build-bench/, then build/)
#   --sync MODES          full, normal or full,normal (default full,normal)
#   --runs N              runs per mode (default 3)
#   --out DIR             where logs and JSON lines go (default bench/out/<UTC time>)
#   --wait-idle PCT       before each run, wait until the machine's CPU is below PCT% busy
#                         for 3 s in a row (default 15; 0 = do not wait)
#   --idle-timeout S      give up waiting for an idle machine after S seconds (default 600)
#   --retries N           redo a run (up to N times) when other processes used more than 5%
#                         of the machine during its measured window (default 3); such runs
#                         stay in results.jsonl marked "dirty" and are left out of the summary
#   -- ARGS               passed to parley-bench (e.g. -- --senders 20 --window 64)
#
# Example: bench/run.sh build/parley --runs 3 -- --duration 10 --warmup 2
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
parley=$root/build/parley
bench=""
modes="full,normal"
runs=3
out=""
wait_idle=15
retries=3
idle_timeout=600
extra=()

while [[ $# -gt 0 ]]; do
  case "$1" in
    --bench) bench=$2; shift 2 ;;
    --sync) modes=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --wait-idle) wait_idle=$2; shift 2 ;;
    --retries) retries=$2; shift 2 ;;
    --idle-timeout) idle_timeout=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) parley=$1; shift ;;
  esac
done
if [[ -z "$bench" ]]; then
  for b in "$root/build-bench/parley-bench" "$root/build/parley-bench"; do
    [[ -x "$b" ]] && { bench=$b; break; }
  done
fi
[[ -x "$parley" ]] || { echo "run.sh: no server binary at $parley" >&2; exit 2; }
[[ -n "$bench" && -x "$bench" ]] || { echo "run.sh: parley-bench not found (use --bench)" >&2; exit 2; }
out=${out:-$root/bench/out/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
hz=$(getconf CLK_TCK)

# Busy percentage of the whole machine over one second, from /proc/stat.
machine_busy_pct() {
  local a b
  a=$(head -1 /proc/stat); sleep 1; b=$(head -1 /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN {
    split(a, x); split(b, y);
    busy = (y[2]+y[3]+y[4]+y[7]+y[8]) - (x[2]+x[3]+x[4]+x[7]+x[8]);
    tot = 0; for (i = 2; i <= 9; i++) tot += y[i] - x[i];
    printf "%d", (tot > 0 ? 100 * busy / tot : 0) }'
}

wait_for_idle() {
  [[ "$wait_idle" == 0 ]] && return 0
  local deadline=$((SECONDS + idle_timeout)) busy quiet=0 n=0
  while ((quiet < 3)); do  # three quiet seconds in a row
    busy=$(machine_busy_pct)
    if ((busy < wait_idle)); then quiet=$((quiet + 1)); continue; fi
    quiet=0
    if ((SECONDS > deadline)); then
      echo "run.sh: WARNING: machine still ${busy}% busy after ${idle_timeout} s; running anyway" >&2
      return 0
    fi
    if ((n++ % 20 == 0)); then
      echo "run.sh: machine ${busy}% busy (other processes); waiting for < ${wait_idle}%" >&2
    fi
    sleep 2
  done
}

server_pid=""
cleanup() { [[ -n "$server_pid" ]] && kill -TERM "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "kernel: $(uname -r)"
  echo "server: $parley ($(stat -c %y "$parley"))"
  echo "bench: $bench ${extra[*]:-}"
} | tee "$out/machine.txt" >&2

IFS=, read -ra mode_list <<<"$modes"
for mode in "${mode_list[@]}"; do
  r=1
  tries=0
  while ((r <= runs)); do
    wait_for_idle
    tmp=$(mktemp -d)
    log="$out/$mode-$r"
    "$parley" serve --port 0 --data-dir "$tmp/data" --set auth.password_cost=minimum \
      --synchronous "$mode" >"$log.server.out" 2>"$log.server.err" &
    server_pid=$!
    port=""
    for _ in $(seq 200); do
      port=$(sed -n 's/^parley listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$log.server.out")
      [[ -n "$port" ]] && break
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.05
    done
    if [[ -z "$port" ]]; then
      echo "run.sh: the server did not start:" >&2; cat "$log.server.err" >&2; exit 1
    fi
    echo "== synchronous=$mode run $r/$runs: server pid $server_pid port $port" >&2
    set +e
    "$bench" --url "127.0.0.1:$port" --server-pid "$server_pid" --json "${extra[@]}" \
      >"$log.bench.txt" 2>"$log.bench.err"
    rc=$?
    set -e
    # Server CPU (utime+stime since start) and peak RSS, read before stopping it.
    cpu_s=0 rss_kb=0
    state=$(sed 's/.*) //' "/proc/$server_pid/stat" 2>/dev/null | awk '{print $1}' || true)
    if [[ -n "$state" && "$state" != Z ]]; then
      read -r ut st < <(sed 's/.*) //' "/proc/$server_pid/stat" | awk '{print $12, $13}')
      cpu_s=$(awk -v u="$ut" -v s="$st" -v hz="$hz" 'BEGIN { printf "%.2f", (u + s) / hz }')
      rss_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$server_pid/status")
      rss_kb=${rss_kb:-0}
    else
      echo "run.sh: SERVER EXITED DURING THE RUN (pid $server_pid); its stderr ends with:" >&2
      tail -20 "$log.server.err" >&2
    fi
    db_kb=$(du -sk "$tmp/data" | cut -f1)
    kill -TERM "$server_pid" 2>/dev/null || true
    set +e
    wait "$server_pid"
    server_rc=$?
    set -e
    if ((server_rc != 0)); then echo "run.sh: the server exited with status $server_rc" >&2; fi
    server_pid=""
    rm -rf "$tmp"
    grep -v '^{' "$log.bench.txt" >&2 || true
    echo "server: ${cpu_s} s CPU over its whole life, peak RSS $((rss_kb / 1024)) MiB, data dir ${db_kb} KiB, exit status $server_rc; bench exit $rc" >&2
    json=$(grep '^{' "$log.bench.txt" | tail -1 || true)
    if [[ -z "$json" ]]; then
      echo "run.sh: parley-bench failed (exit $rc):" >&2; cat "$log.bench.err" >&2
      json='{"ok":false}'
    fi
    # Dirty: other processes took more than 5% of the machine during the measured window.
    dirty=$(echo "$json" | jq --argjson n "$(nproc)" \
      'if .other_cpu_s == null then false else .other_cpu_s > 0.05 * .window_s * $n end')
    echo "$json" | jq -c --arg mode "$mode" --argjson run "$r" --argjson rc "$rc" \
      --argjson cpu "$cpu_s" --argjson rss "$rss_kb" --argjson db "$db_kb" --argjson dirty "$dirty" \
      --argjson src "$server_rc" \
      '. + {synchronous: $mode, run: $run, exit: $rc, server_cpu_total_s: $cpu, server_peak_rss_kb: $rss,
            data_kb: $db, dirty: $dirty, server_exit: $src}' \
      >>"$out/results.jsonl"
    if [[ "$dirty" == true ]] && ((tries < retries)); then
      tries=$((tries + 1))
      echo "run.sh: other processes used the CPU during this run; repeating it ($tries/$retries)" >&2
      continue
    fi
    r=$((r + 1))
    tries=0
  done
done

# Median [min..max] per mode over the kept runs: per (mode, run) the clean attempt, or the
# last attempt when every retry was dirty (then "dirty runs kept" is non-zero).
echo >&2
jq -rs '
  def med: sort | .[(length / 2 | floor)];
  def r(d): . * d | round / d;
  def f(k; d): (map(.[k] // empty)) as $v
    | if ($v | length) == 0 then "-" else
      "\($v | med | r(d)) [\($v | min | r(d))..\($v | max | r(d))]" end;
  length as $attempts
  | group_by([.synchronous, .run]) | map(. as $g | ($g | map(select(.dirty | not)))[0] // $g[-1])
  | ($attempts - length) as $repeated
  | group_by(.synchronous)[]
  | "synchronous=\(.[0].synchronous): \(length) runs, median [min..max]; dirty runs kept \(map(select(.dirty)) | length), attempts repeated (all modes) \($repeated)",
    "  acked sends/s          \(f("sends_per_s"; 1))",
    "  delivered events/s     \(f("deliveries_per_s"; 1))",
    "  send->ack ms           p50 \(f("ack_p50_ms"; 10))  p99 \(f("ack_p99_ms"; 10))  max \(f("ack_max_ms"; 10))",
    "  send->delivery ms      p50 \(f("delivery_p50_ms"; 10))  p99 \(f("delivery_p99_ms"; 10))  max \(f("delivery_max_ms"; 10))",
    "  tool CPU % of a core   \(f("tool_cpu_pct"; 1))   (measured window)",
    "  server CPU % of a core \(f("server_cpu_pct"; 1))   (measured window)",
    "  server CPU s           \(f("server_cpu_total_s"; 10))   (whole life: setup, warm-up, window, drain)",
    "  other processes CPU s  \(f("other_cpu_s"; 100))   (measured window)",
    "  server peak RSS MiB    \(map(.server_peak_rss_kb / 1024) as $v | "\($v | med | r(10)) [\($v | min | r(10))..\($v | max | r(10))]")",
    "  violations \(map(.violations // 1) | add), all runs ok: \(map(.ok) | all)"
' "$out/results.jsonl" | tee "$out/summary.txt"
echo "results: $out/results.jsonl, summary: $out/summary.txt" >&2
