#!/usr/bin/env bash
# tests/bench/report_test.sh: checks bench/report.py against bench/report_fixture/.
#
# usage: tests/bench/report_test.sh [PATH/TO/report.py]    (default: bench/report.py)
#   PYTHON=/usr/bin/python3 by default (Debian's python3-matplotlib is for that Python).
#
# The expected numbers below were computed by hand from bench/report_fixture/results.jsonl
# (see bench/report_fixture/README.md for how the fixture is built).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
report=${1:-$root/bench/report.py}
fixture=$root/bench/report_fixture
PYTHON=${PYTHON:-/usr/bin/python3}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
ok() { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1" >&2; exit 1; }

# has FILE TEXT: FILE contains the fixed string TEXT
has() { grep -qF -- "$2" "$1"; }
# row FILE PREFIX TEXT: a line starting with PREFIX also contains TEXT
row() { grep -F -- "$2" "$1" | grep -qF -- "$3"; }

# --- the normal run: RESULTS.md in out/, plots in a sibling dir (so links need ../)
"$PYTHON" "$report" "$fixture" --out "$tmp/out/RESULTS.md" --plots-dir "$tmp/plots" \
    >"$tmp/stdout" 2>"$tmp/stderr" || { cat "$tmp/stderr" >&2; fail "report.py exited $?"; }
md=$tmp/out/RESULTS.md
[[ -s $md ]] || fail "no RESULTS.md written"
ok "report.py ran on the fixture"

# header
has "$md" 'bench/all.sh --runs 3' || fail "command missing"
has "$md" 'server on CPU 0, load generator on CPU 1' || fail "pinning missing"
has "$md" '| socket.io | 4.8.4 |' || fail "versions table missing"
ok "header has command, pinning and versions"

# the Ratios table comes before the workload sections
ratios_at=$(grep -n '^## Ratios' "$md" | cut -d: -f1)
w1_at=$(grep -n '^## w1_idle' "$md" | cut -d: -f1)
[[ -n $ratios_at && -n $w1_at && $ratios_at -lt $w1_at ]] || fail "Ratios is not first"
has "$md" 'Parley advantage (>1 = Parley better)' || fail "advantage column label missing"
ok "Ratios table is first and labels the advantage column"

# median of a known 3-run group: w1_idle parley rss_bytes_per_conn 2210, 2302, 2251
row "$md" '| 10,000 | parley |' '| 3/3 | 2,251 B | 2,210 B | 2,302 B |' \
    || fail "w1_idle parley median/min/max (2,251 B [2,210, 2,302]) not found"
ok "w1_idle parley median 2,251 B, min 2,210 B, max 2,302 B"

# lower-is-better ratio is peer/parley: bun 3105.2 / parley 2251 = 1.3795 -> x1.38
row "$md" '| w1_idle |' '| 2,251 B | 3,105 B | ×1.38 |' || fail "w1_idle bun ratio ×1.38 not found"
ok "w1_idle advantage over bun is peer/parley = ×1.38"

# w3_rounds ratio: parley median(470100, 482400, 495900) = 482400,
# bun median(352000, 361200, 340100) = 352000; 482400 / 352000 = 1.3705 -> x1.37
row "$md" '| w3_rounds |' '| 482,400 | 352,000 | ×1.37 |' \
    || fail "w3_rounds ratio row parley 482,400 vs bun 352,000 = ×1.37 not found"
ok "w3_rounds parley/bun = ×1.37"

# parley-normal's lines (sync_mode "normal") get a row of their own beside plain parley:
# median(612000, 590000, 600000) = 600000; 600000 / 352000 = 1.7045 -> x1.70
row "$md" '| w3_rounds | 4 rooms × 32 members; parley (sync=normal) |' '| 600,000 | 352,000 | ×1.70 |' \
    || fail "w3_rounds parley (sync=normal) row 600,000 vs bun 352,000 = ×1.70 not found"
ok "w3_rounds parley (sync=normal) has its own row, ×1.70"

# w3_fanout 10x100: the parley medians per rate are
#   1000: 99,900 (p99 3.1)   2000: 199,900 (p99 7.9)   4000: 398,400 (p99 31.0)
#   8000: 605,200 (p99 180.5; one run at 44.1)   closed loop: 640,900 (p99 420.2)
# so the pick is 4,000/s -> 398,400 (a max-deliveries pick would say 640,900, an
# any-run-within-50-ms pick 605,200). Bun: 2,000/s -> 199,200 (4,000/s has p99 75.3).
# 398400 / 199200 = 2.00.
row "$md" '| w3_fanout | 10 rooms × 100 members |' '| 398,400 (@ 4,000/s) | 199,200 (@ 2,000/s) | ×2.00 |' \
    || fail "w3_fanout 10x100 sustainable pick (parley 398,400 @ 4,000/s, ×2.00) not found"
row "$md" '| 10 | 100 | parley |' '| 4,000/s | 398,400 | 31.00 |' \
    || fail "w3_fanout sustainable table row for parley not found"
if grep -F '| w3_fanout | 10 rooms × 100 members |' "$md" | grep -qE '640,900|605,200'; then
    fail "w3_fanout ratio row uses a rate whose median p99 is above 50 ms"
fi
row "$md" '| w3_fanout | 10 rooms × 100 members |' '| none ≤ 50 ms |' \
    || fail "socketio (never within 50 ms) not shown as none"
# 100x10: parley closed loop has median p99 41.0 -> closed loop is the pick
row "$md" '| w3_fanout | 100 rooms × 10 members |' '| 215,000 (@ closed loop) |' \
    || fail "w3_fanout 100x10 closed-loop pick not found"
ok "w3_fanout max sustainable at 50 ms picks 4,000/s (398,400), not the peak"

# w4: Parley only
row "$md" '| w4_durable | sync=full, 10 senders, window 32 |' '| 2,187 |' \
    || fail "w4_durable full median 2,187 not found"
row "$md" '| w4_durable |' 'peers do not persist' || fail "w4_durable does not say peers do not persist"
ok "w4_durable is Parley only (median 2,187 sends/s for sync=full)"

# the failed run is listed ...
row "$md" '| w3_rounds | 4 rooms × 32 members | ws | 3 |' 'timeout: round 412 of 1000' \
    || fail "failed w3_rounds ws run 3 not listed with its error"
row "$md" '| w5_storm |' '(no error given)' || fail "failed run without error string not listed"
row "$md" '| w3_fanout | 10 rooms × 100 members, rate 1,000/s | ws | 3 |' \
    '1,200 sends answered with an error; not drained at the end; first error: {"id":7,"error":{"code":"rate_limited"' \
    || fail "failed run without error string not described by its counters and first error"
# ... and left out of medians: ok runs 120000, 130000 -> 125,000 (with it: 130,000, max 900,000)
row "$md" '| 4 | 32 | ws |' '| 2/3 | 125,000 | 120,000 | 130,000 |' \
    || fail "w3_rounds ws median over ok runs (125,000 [120,000, 130,000], 2/3) not found"
has "$md" '900,000' && fail "the failed run's 900,000 deliveries/s leaked into the report"
ok "failed runs listed and excluded from medians (ws w3_rounds median 125,000)"

# w7 was not run
has "$md" 'w7_history was not run' || fail "w7_history section does not say not run"
has "$md" 'Not run: w3_chatter, w3_transports, w7_history, w8_search.' || fail "Ratios does not list w7_history (and w8_search) as not run"
ok "w7_history reported as not run"

# --rerun: a later run's workloads replace the main run's, and the report names that run
mkdir -p "$tmp/rerun"
cat >"$tmp/rerun/results.jsonl" <<'JSONL'
{"workload": "w4_durable", "server": "parley", "run": 1, "ok": true, "sync_mode": "full", "senders": 10, "window": 32, "sends_per_s": 9100, "ack_p50_ms": 10.0, "ack_p99_ms": 60.0, "tool_cpu_pct": 40.0}
{"workload": "w4_durable", "server": "parley", "run": 2, "ok": true, "sync_mode": "full", "senders": 10, "window": 32, "sends_per_s": 9300, "ack_p50_ms": 10.0, "ack_p99_ms": 60.0, "tool_cpu_pct": 40.0}
JSONL
echo '{"command": "bench/all.sh --workloads w4 --update X", "started": "2026-12-01-000000", "commit": "abc1234"}' >"$tmp/rerun/meta.json"
"$PYTHON" "$report" "$fixture" --rerun "$tmp/rerun" --out "$tmp/rerun/RESULTS.md" --plots-dir "$tmp/rerun/plots" \
    >/dev/null 2>"$tmp/rerun.err" || { cat "$tmp/rerun.err" >&2; fail "report.py --rerun exited $?"; }
row "$tmp/rerun/RESULTS.md" '| w4_durable | sync=full, 10 senders, window 32 |' '| 9,200 |' \
    || fail "--rerun: w4_durable median of the later run (9,200) not found"
has "$tmp/rerun/RESULTS.md" '2,187' && fail "--rerun: the main run's w4_durable figure is still there"
row "$tmp/rerun/RESULTS.md" '| w4_durable |' '`abc1234`' || fail "--rerun: the later run is not named"
row "$tmp/rerun/RESULTS.md" '| w3_rounds |' '482,400' || fail "--rerun: the main run's other workloads are gone"
ok "--rerun: a later run's workload replaces the main run's and is named (w4 9,200)"

# Two reruns of one workload: the later one counts, and the earlier one is no longer named
mkdir -p "$tmp/rerun1" "$tmp/rerun2"
cp "$tmp/rerun/results.jsonl" "$tmp/rerun1/"
echo '{"command": "bench/all.sh --workloads w4 --update Y", "started": "2026-12-01-000000", "commit": "fed9876"}' >"$tmp/rerun1/meta.json"
sed 's/"sends_per_s": 9[13]00/"sends_per_s": 9700/' "$tmp/rerun/results.jsonl" >"$tmp/rerun2/results.jsonl"
echo '{"command": "bench/all.sh --workloads w4 --update Z", "started": "2026-12-02-000000", "commit": "def5678"}' >"$tmp/rerun2/meta.json"
"$PYTHON" "$report" "$fixture" --rerun "$tmp/rerun1" --rerun "$tmp/rerun2" --out "$tmp/rerun2/RESULTS.md" \
    --plots-dir "$tmp/rerun2/plots" >/dev/null 2>"$tmp/rerun2.err" \
    || { cat "$tmp/rerun2.err" >&2; fail "report.py with two --rerun exited $?"; }
row "$tmp/rerun2/RESULTS.md" '| w4_durable | sync=full, 10 senders, window 32 |' '| 9,700 |' \
    || fail "two --rerun: w4_durable is not the later rerun's (9,700)"
row "$tmp/rerun2/RESULTS.md" '| w4_durable |' '`def5678`' || fail "two --rerun: the later run is not named"
has "$tmp/rerun2/RESULTS.md" 'fed9876' && fail "two --rerun: the replaced rerun is still named"
ok "two --rerun of one workload: the later replaces the earlier, which is no longer named"

# plots
if "$PYTHON" -c 'import matplotlib' 2>/dev/null; then
    for name in w2_rtt w3_fanout_10x100 w3_fanout_100x10; do
        png=$tmp/plots/$name.png
        [[ -s $png ]] || fail "$png not written"
        sig=$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')
        [[ $sig == 89504e470d0a1a0a ]] || fail "$png does not start with the PNG signature ($sig)"
        has "$md" "](../plots/$name.png)" || fail "$name.png not embedded with a relative path"
    done
    ok "3 PNG plots written, PNG signature, embedded as ../plots/*.png"
else
    echo "skip: $PYTHON cannot import matplotlib; PNG checks skipped"
fi

# without matplotlib (python -S leaves out site/dist-packages): report without plots,
# exit 0; --require-plots makes it exit 1
if ! "$PYTHON" -S -c 'import matplotlib' 2>/dev/null; then
    "$PYTHON" -S "$report" "$fixture" --out "$tmp/noplt/RESULTS.md" >/dev/null 2>&1 \
        || fail "without matplotlib report.py should exit 0"
    has "$tmp/noplt/RESULTS.md" 'Plots were not made' || fail "report does not say plots are missing"
    [[ ! -e $tmp/noplt/plots ]] || fail "plots dir made without matplotlib"
    rc=0
    "$PYTHON" -S "$report" "$fixture" --out "$tmp/noplt2/RESULTS.md" --require-plots \
        >/dev/null 2>"$tmp/noplt.err" || rc=$?
    [[ $rc -eq 1 ]] || fail "--require-plots without matplotlib should exit 1, got $rc"
    ok "without matplotlib: report says so (exit 0); --require-plots exits 1"
else
    echo "skip: matplotlib importable even with $PYTHON -S; no-matplotlib path not tested"
fi

# negative: a malformed line 5 must fail and name the line
mkdir "$tmp/bad"
cp "$fixture/meta.json" "$tmp/bad/"
awk 'NR == 5 { print "{\"workload\": \"w1_idle\", \"server\": \"parley\", \"run\": 2,"; next } { print }' \
    "$fixture/results.jsonl" >"$tmp/bad/results.jsonl"
rc=0
"$PYTHON" "$report" "$tmp/bad" --out "$tmp/bad/RESULTS.md" >/dev/null 2>"$tmp/bad.err" || rc=$?
[[ $rc -ne 0 ]] || fail "malformed results.jsonl accepted (exit 0)"
grep -q 'line 5' "$tmp/bad.err" || { cat "$tmp/bad.err" >&2; fail "error does not name line 5"; }
grep -q 'malformed JSON' "$tmp/bad.err" || fail "error does not say malformed JSON"
[[ ! -e $tmp/bad/RESULTS.md ]] || fail "RESULTS.md written despite the malformed input"
ok "malformed line 5 -> exit $rc: $(cat "$tmp/bad.err")"

echo "PASS: $passed checks"
