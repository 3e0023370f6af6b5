#!/usr/bin/env bash
# bench/all.sh: the whole side-by-side benchmark in one command. Runs every workload
# (W1-W8, bench/README.md) against Parley and the peers (bench/peers: Bun, Node ws,
# Socket.IO), a fresh server per run, servers alternating within each repetition so drift
# on the machine hits all of them alike; then writes the report (bench/report.py):
# bench/RESULTS.md and its plots in bench/plots/.
#
# usage: bench/all.sh [options]
#   --quick            a small version of every workload, 1 run each, report in the out
#                      directory (the smoke test of `make test`); exits 1 if any run failed
#   --runs R           repetitions of every configuration (default 3)
#   --servers LIST     from parley,parley-normal,bun,ws,socketio,nats (default all six;
#                      parley-normal is Parley with store.synchronous=normal and
#                      nats-server a ceiling for raw fan-out: both run the W3 rounds and
#                      fan-out only)
#   --workloads LIST   from w1,w2,w3r,w3c,w3t,w3f,w4,w5,w6,w7,w8 (default all)
#   --out DIR          JSON lines, logs, meta.json (default bench/out/all-<UTC time>)
#   --results FILE     the report (default bench/RESULTS.md; with --quick DIR/RESULTS.md)
#   --update RUN_DIR   run only the chosen workloads again and rewrite the report from
#                      RUN_DIR (an earlier full run) with these workloads' results replaced
#                      (the report names both runs)
#   --no-pin           do not pin (default: the server on CPU 0, the load generator on CPU 1)
#   --parley PATH      Parley binary (default build/parley)
#   --bench PATH       parley-bench binary (default build/parley-bench)
# Every server starts on port 0 from a fresh state; Parley with
# `--set auth.password_cost=minimum --set rate.enabled=off` and a new data directory,
# everything else default
# (so store.synchronous=full, except where W4 sets normal, and parley-normal, the same
# server with store.synchronous=normal: it acknowledges once the commit is written, not
# flushed, so set beside parley it shows how much of a W3 figure is the wait for the
# disk's flush). Peers: bench/peers/README.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
quick=0
runs=3
servers="parley,parley-normal,bun,ws,socketio,nats"
workloads="w1,w2,w3r,w3c,w3t,w3f,w4,w5,w6,w7,w8"
out=""
results=""
update=""
pin=1
parley="$root/build/parley"
bench="$root/build/parley-bench"
cmdline="bench/all.sh $*"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1; runs=1; shift ;;
    --runs) runs=$2; shift 2 ;;
    --servers) servers=$2; shift 2 ;;
    --workloads) workloads=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    --update) update=$2; shift 2 ;;
    --no-pin) pin=0; shift ;;
    --parley) parley=$2; shift 2 ;;
    --bench) bench=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "all.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x "$bench" ]] || { echo "all.sh: parley-bench not found at $bench (use --bench)" >&2; exit 2; }
[[ -x "$parley" ]] || { echo "all.sh: parley not found at $parley (use --parley)" >&2; exit 2; }
[[ -z "$update" || -f "$update/results.jsonl" ]] || { echo "all.sh: --update $update: no results.jsonl there" >&2; exit 2; }
IFS=, read -ra server_list <<<"$servers"
for s in "${server_list[@]}"; do
  case "$s" in
    parley|parley-normal) ;;
    bun) [[ -x "$root/bench/peers/node_modules/.bin/bun" ]] || { echo "all.sh: run bench/peers/install.sh" >&2; exit 2; } ;;
    ws|socketio) [[ -d "$root/bench/peers/node_modules" ]] || { echo "all.sh: run bench/peers/install.sh" >&2; exit 2; } ;;
    nats) command -v nats-server >/dev/null || { echo "all.sh: nats-server missing (bench/peers/install.sh)" >&2; exit 2; } ;;
    *) echo "all.sh: unknown server $s" >&2; exit 2 ;;
  esac
done
stamp=$(date -u +%Y-%m-%d-%H%M%S)
out=${out:-$root/bench/out/all-$stamp}
mkdir -p "$out"
if [[ -z "$results" ]]; then
  if ((quick)); then results="$out/RESULTS.md"; else results="$root/bench/RESULTS.md"; fi
fi
jsonl="$out/results.jsonl"
: >"$jsonl"
ncpu=$(nproc)
if ((pin)) && ((ncpu >= 2)); then
  pin_server=(taskset -c 0)
  pin_bench=(taskset -c 1)
  pinning="server on CPU 0, load generator (all its processes) on CPU 1"
else
  pin_server=()
  pin_bench=()
  pinning="not pinned"
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

server_pid=""
tmp=""
cleanup() {
  [[ -n "$server_pid" ]] && kill -TERM "$server_pid" 2>/dev/null || true
  [[ -n "$tmp" ]] && rm -rf "$tmp"
  return 0
}
trap cleanup EXIT

# start_server NAME LOG [parley args...] -> server_pid, port, target
start_server() {
  local name=$1 log=$2
  shift 2
  local pattern='s/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p'
  target=peer
  : >"$log.server.out"
  case "$name" in
    parley)
      tmp=$(mktemp -d)
      "${pin_server[@]}" "$parley" serve --port 0 --data-dir "$tmp/data" \
        --set auth.password_cost=minimum --set rate.enabled=off \
        --set limits.max_connections_per_address=0 --set limits.max_connections_per_user=0 "$@" >"$log.server.out" 2>"$log.server.err" &
      pattern='s/^parley listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p'
      target=parley ;;
    bun) (cd "$root" && exec "${pin_server[@]}" bench/peers/node_modules/.bin/bun bench/peers/bun/server.js 0) \
           >"$log.server.out" 2>"$log.server.err" & ;;
    ws) (cd "$root" && exec "${pin_server[@]}" node bench/peers/ws/server.mjs 0) \
          >"$log.server.out" 2>"$log.server.err" & ;;
    socketio) (cd "$root" && exec "${pin_server[@]}" node bench/peers/socketio/server.mjs 0) \
                >"$log.server.out" 2>"$log.server.err" &
      target=socketio ;;
    nats)
      # nats-server with its WebSocket listener (the protocol inside WebSocket frames).
      tmp=$(mktemp -d)
      printf 'listen: "127.0.0.1:-1"\nwebsocket {\n  listen: "127.0.0.1:-1"\n  no_tls: true\n}\n' \
        >"$tmp/nats.conf"
      "${pin_server[@]}" nats-server -c "$tmp/nats.conf" >"$log.server.out" 2>&1 &
      pattern='s/.*Listening for websocket clients on ws:\/\/127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p'
      target=nats ;;
  esac
  server_pid=$!
  port=""
  for _ in $(seq 300); do
    port=$(sed -n "$pattern" "$log.server.out")
    [[ -n "$port" ]] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  [[ -n "$port" ]] || { echo "all.sh: $name did not start:" >&2; cat "$log.server.err" >&2; exit 1; }
}

stop_server() {
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  if [[ -n "$tmp" ]]; then rm -rf "$tmp"; tmp=""; fi
}

failures=0
# case NAME SERVERS "PARLEY_SERVER_ARGS" EXTRA_JSON -- BENCH ARGS...: every run of one
# configuration; each JSON line of parley-bench gets server, run and EXTRA_JSON added.
# parley-normal runs Parley with store.synchronous=normal added to the arguments; its
# lines say server "parley" and sync_mode "normal" (the report labels them
# "parley (sync=normal)").
case_run() {
  local name=$1 case_servers=$2 sargs=$3 extra=$4
  shift 5
  local -a cs
  IFS=, read -ra cs <<<"$case_servers"
  for ((r = 1; r <= runs; r++)); do
    for s in "${server_list[@]}"; do
      [[ " ${cs[*]} " == *" $s "* ]] || continue
      local log="$out/$name-$s-$r" as=$s x=$extra pargs=$sargs
      if [[ $s == parley-normal ]]; then
        as=parley
        pargs+=" --set store.synchronous=normal"
        x=$(jq -c '. + {sync_mode: "normal"}' <<<"$extra")
      fi
      # shellcheck disable=SC2086
      start_server "$as" "$log" $([[ $as == parley ]] && echo $pargs)
      echo "== $name $s run $r/$runs (pid $server_pid, port $port)" >&2
      local rc=0
      "${pin_bench[@]}" "$bench" "$@" --url "127.0.0.1:$port" --target "$target" \
        --server-pid "$server_pid" --json --quiet >"$log.bench.txt" 2>"$log.bench.err" || rc=$?
      stop_server
      grep -vE '^\{' "$log.bench.txt" | sed 's/^/   /' >&2 || true
      local lines
      lines=$(grep '^{' "$log.bench.txt" || true)
      if [[ -z "$lines" ]]; then
        local err
        err=$(tail -c 300 "$log.bench.err" | tr '\n' ' ')
        jq -nc --arg w "$name" --arg s "$as" --argjson r "$r" --arg e "exit $rc: $err" \
          --argjson x "$x" '{workload: $w, server: $s, run: $r, ok: false, error: $e} + $x' >>"$jsonl"
        echo "   FAILED: $err" >&2
        failures=$((failures + 1))
        continue
      fi
      while IFS= read -r l; do
        echo "$l" | jq -c --arg s "$as" --argjson r "$r" --argjson x "$x" \
          '. + {server: $s, run: $r} + $x' >>"$jsonl"
        [[ $(echo "$l" | jq -r '.ok') == true ]] || failures=$((failures + 1))
      done <<<"$lines"
    done
  done
}

want() { [[ ",$workloads," == *",$1,"* ]]; }
all_servers=parley,bun,ws,socketio
w3_servers=parley,parley-normal,bun,ws,socketio,nats

if ((quick)); then
  want w1 && case_run w1_idle $all_servers "" '{}' -- idle --connections 300 --procs 2 --source-addrs 4 --hold 0.5 --settle 0.3
  want w2 && case_run w2_rtt $all_servers "" '{}' -- rtt --pairs 5 --rates 200,400 --duration 0.5 --warmup 0.2
  want w3r && case_run w3_rounds $w3_servers "" '{}' -- fanout --rooms 2 --members 5 --rounds --duration 0.7 --warmup 0.2 --procs 2
  want w3c && case_run w3_chatter parley "" '{}' -- fanout --workload-name w3_chatter --rooms 2 --members 5 --rounds --duration 0.7 --warmup 0.2 --acks 200 --typing 300
  want w3t && for t in ws sse poll; do
    case_run w3_transports parley "" '{}' -- transports --transport $t --rooms 2 --members 5 --duration 0.7 --warmup 0.2
  done
  want w3f && case_run w3_fanout $w3_servers "" '{}' -- fanout --rooms 2 --members 10 --senders 2 --rate 500 --duration 0.7 --warmup 0.2
  want w4 && for m in full normal; do
    case_run w4_durable parley "--set store.synchronous=$m" "{\"sync_mode\":\"$m\"}" -- fanout --workload-name w4_durable --rooms 4 --members 2 --senders 2 --window 16 --duration 0.7 --warmup 0.2
  done
  want w5 && case_run w5_storm $all_servers "" '{}' -- storm --connections 300 --inflight 50
  want w6 && case_run w6_resume parley "" '{}' -- resume --clients 100 --behind 10 --group 10
  want w7 && case_run w7_history parley "" '{}' -- history --convs 2 --messages 300 --requests 200
  want w8 && case_run w8_search parley "" '{}' -- search --messages 3000 --convs 10 --users 6 --members 3 --vocab 3000 --queries 100
else
  want w1 && case_run w1_idle $all_servers "" '{}' -- idle --connections 19000 --procs 2 --source-addrs 16 --hold 10 --settle 3
  want w2 && case_run w2_rtt $all_servers "" '{}' -- rtt --pairs 50 --rates 500,2000,4000,8000 --duration 3 --warmup 1
  if want w3r; then
    case_run w3_rounds $w3_servers "" '{}' -- fanout --rooms 1 --members 16 --rounds --duration 3 --warmup 1
    case_run w3_rounds $w3_servers "" '{}' -- fanout --rooms 100 --members 10 --rounds --duration 3 --warmup 1
    case_run w3_rounds $w3_servers "" '{}' -- fanout --rooms 10 --members 100 --rounds --duration 3 --warmup 1
    case_run w3_rounds $w3_servers "" '{}' -- fanout --rooms 2 --members 1000 --rounds --duration 3 --warmup 1 --procs 2
  fi
  if want w3c; then
    # The same rooms as W3 rounds, with receipts and typing: every member acks every second
    # (the SDK's default) and types all the time (a start every 3 s): a worst case.
    case_run w3_chatter parley "" '{}' -- fanout --workload-name w3_chatter --rooms 100 --members 10 --rounds --duration 3 --warmup 1 --acks 1000 --typing 3000
    case_run w3_chatter parley "" '{}' -- fanout --workload-name w3_chatter --rooms 10 --members 100 --rounds --duration 3 --warmup 1 --acks 1000 --typing 3000
  fi
  if want w3t; then
    for t in ws sse poll; do
      case_run w3_transports parley "" '{}' -- transports --transport $t --rooms 10 --members 10 --duration 3 --warmup 1
      case_run w3_transports parley "" '{}' -- transports --transport $t --rooms 10 --members 100 --duration 3 --warmup 1
    done
  fi
  if want w3f; then
    # Publish rates stepped so deliveries/s (rate x members) run 50k, 100k, 200k, 400k,
    # 800k: a factor of 2 between steps, so the highest rate at p99 <= 50 ms is known to
    # within a factor of 2 (with a factor of 4 a server just past a step was counted at a
    # quarter of one just under the next).
    for d in 50000 100000 200000 400000 800000; do
      case_run w3_fanout $w3_servers "" '{}' -- fanout --rooms 100 --members 10 --senders 10 --rate $((d / 10)) --duration 3 --warmup 1
      case_run w3_fanout $w3_servers "" '{}' -- fanout --rooms 10 --members 100 --senders 10 --rate $((d / 100)) --duration 3 --warmup 1
      case_run w3_fanout $w3_servers "" '{}' -- fanout --rooms 2 --members 1000 --senders 10 --rate $((d / 1000)) --duration 3 --warmup 1 --procs 2
    done
    # Rooms of 100 get one more step, 1.6M: Bun held 8,000/s there within 50 ms, so
    # without it the ladder, not the server, set Bun's maximum. Bun holds 1.6M too, with
    # the generator at 99% of its core: a higher step would measure the generator, so
    # Bun's figure in rooms of 100 is a floor. The other room sizes already had every
    # server past 50 ms at 800k.
    case_run w3_fanout $w3_servers "" '{}' -- fanout --rooms 10 --members 100 --senders 10 --rate 16000 --duration 3 --warmup 1
  fi
  want w4 && for m in full normal; do
    case_run w4_durable parley "--set store.synchronous=$m" "{\"sync_mode\":\"$m\"}" -- fanout --workload-name w4_durable --rooms 100 --members 2 --senders 2 --window 64 --duration 5 --warmup 1
  done
  want w5 && case_run w5_storm $all_servers "" '{}' -- storm --connections 10000 --inflight 200 --source-addrs 16
  want w6 && case_run w6_resume parley "" '{}' -- resume --clients 5000 --behind 100 --group 10 --source-addrs 16
  want w7 && case_run w7_history parley "" '{}' -- history --convs 50 --messages 2000 --requests 10000
  want w8 && case_run w8_search parley "" '{}' -- search --messages 1000000 --convs 200 --users 50 --members 5 --queries 2000
fi

# Runs where the generator itself was nearly saturated (its numbers are a floor for the
# server, not its limit).
saturated=$(jq -rs '[.[] | select((.tool_cpu_pct // 0) > 90)
  | "\(.workload) \(.server) rooms=\(.rooms // "-") members=\(.members // "-") rate=\(.rate // "-") run \(.run): generator at \(.tool_cpu_pct | floor)% of its core"]
  | join("; ")' "$jsonl")

# meta.json: what ran where.
ver() { "$@" 2>/dev/null | head -1 || echo unknown; }
peer_ver() { node -p "require('$root/bench/peers/node_modules/$1/package.json').version" 2>/dev/null || echo unknown; }
jq -n \
  --arg command "$cmdline" \
  --arg started "$stamp" \
  --arg commit "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo '+local changes')" \
  --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
  --argjson cores "$ncpu" \
  --argjson mem "$(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)" \
  --arg kernel "$(uname -r)" \
  --arg os "$(. /etc/os-release && echo "$PRETTY_NAME")" \
  --arg bun "$(ver "$root/bench/peers/node_modules/.bin/bun" --version)" \
  --arg ws "$(peer_ver ws)" --arg sio "$(peer_ver socket.io)" \
  --arg node "$(ver node --version)" \
  --arg nats "$(ver nats-server --version)" \
  --arg gcc "$(ver gcc -dumpfullversion)" \
  --arg pinning "$pinning" \
  --argjson quick "$quick" \
  --arg saturated "$saturated" \
  '{command: $command, started: $started, commit: $commit,
    machine: {cpu: $cpu, cores: $cores, mem_gb: $mem, kernel: $kernel, os: $os},
    versions: {parley: $commit, bun: $bun, ws: $ws, "socket.io": $sio, node: $node,
               "nats-server": $nats, gcc: $gcc},
    pinning: $pinning,
    notes: ([
      "Parley persists every message (SQLite, synchronous=full unless W4 or the label says normal) and acknowledges after the durable commit (with normal: once the commit is written, before the flush; it survives a crash of the process, not of the machine); the peers keep nothing.",
      "W6, W7 and W8 are Parley only: the peers keep no log to resume from, page through or search.",
      "nats-server (W3 only) is a ceiling for raw fan-out: members subscribe to a subject over its WebSocket listener, a send is a PUB, the sender'"'"'s own copy stands for its ack; no persistence, no sequence numbers (the generator counts).",
      "Latency is measured from the scheduled send time in open-loop runs (W2, W3 fanout) and from the round start in rounds (W3 rounds)."
    ] + (if $quick == 1 then ["--quick: tiny smoke-test sizes, one run each; not a measurement."] else [] end)
      + (if $saturated != "" then ["Generator-limited runs (the load generator above 90% of its core, so these measure the generator as much as the server): " + $saturated] else [] end))}' \
  >"$out/meta.json"

if [[ -n "$update" ]]; then
  /usr/bin/python3 "$here/report.py" "$update" --rerun "$out" --out "$results" >&2
else
  /usr/bin/python3 "$here/report.py" "$out" --out "$results" >&2
fi
echo "all.sh: report $results; JSON lines and logs in $out" >&2
if ((failures > 0)); then
  echo "all.sh: $failures run(s) failed" >&2
  exit 1
fi
