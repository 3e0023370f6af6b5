#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/*_fuzz.cpp) in build-fuzz/ with clang 14
# (-DPARLEY_FUZZ=ON: ASan, UBSan, libFuzzer) and runs each for a while from its seed corpus
# (tests/fuzz/corpus/<target>). Fails if any target crashes, leaks, hits undefined behaviour,
# times out or breaks one of the promises it checks; the input that did it is kept in
# build-fuzz/artifacts/<target>/ and the log in build-fuzz/logs/<target>.log.
#
#   tests/fuzz/run.sh                 every target for 20 s (what `make test` runs)
#   tests/fuzz/run.sh --long          every target for 10 minutes
#   tests/fuzz/run.sh http sniff      only these targets
#   FUZZ_SECONDS=3600 tests/fuzz/run.sh protocol
#
# Inputs the fuzzer finds interesting go to build-fuzz/corpus/<target>/ (not committed) and
# are read again by the next run there, so repeated long runs build on each other.
# Environment: FUZZ_SECONDS (per target), FUZZ_BUILD (build-fuzz; CTest's `fuzz` entry sets
# <its build directory>-fuzz), FUZZ_CXX (clang++-14), FUZZ_JOBS (build jobs, nproc).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

seconds="${FUZZ_SECONDS:-}"
targets=()
for arg in "$@"; do
  case "$arg" in
    --long) seconds="${FUZZ_SECONDS:-600}" ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $arg" >&2; exit 2 ;;
    *) targets+=("${arg%_fuzz}") ;;
  esac
done
seconds="${seconds:-20}"
build="${FUZZ_BUILD:-$root/build-fuzz}"
cxx="${FUZZ_CXX:-clang++-14}"
jobs="${FUZZ_JOBS:-$(nproc)}"

if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "run.sh: $cxx not found (scripts/install-deps.sh installs clang-14 and libclang-rt-14-dev)" >&2
  exit 1
fi
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/*_fuzz.cpp; do
    n="$(basename "$f" .cpp)"
    targets+=("${n%_fuzz}")
  done
fi

# One run at a time per build directory (several checkouts' `make test` may share it).
mkdir -p "$build"
exec 9>"$build/.run.lock"
flock 9

start=$SECONDS
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER="$cxx" \
  -DPARLEY_FUZZ=ON >/dev/null
cmake --build "$build" -j "$jobs"
echo "fuzz: built in $((SECONDS - start)) s; ${seconds} s per target: ${targets[*]}"

export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
failed=()
for t in "${targets[@]}"; do
  bin="$build/${t}_fuzz"
  seeds="tests/fuzz/corpus/$t"
  if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
    echo "fuzz: no target $t ($bin, $seeds)" >&2
    failed+=("$t")
    continue
  fi
  work="$build/corpus/$t"
  art="$build/artifacts/$t"
  log="$build/logs/$t.log"
  mkdir -p "$work" "$art" "$(dirname "$log")"
  opts=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$art/")
  case "$t" in
    http) opts+=(-max_len=20480) ;;  # past the 16 KiB header limit
    jwt) opts+=(-max_len=10240) ;;  # past the 8 KiB signed-token limit
    # The deflater remembers its last 16 results across inputs (as on an I/O thread), which
    # libFuzzer would take for a leak in every input and check at length; leaks are still
    # looked for when the run ends.
    ws_deflate) opts+=(-max_len=16384 -detect_leaks=0) ;;
  esac
  if "$bin" "${opts[@]}" "$work" "$seeds" >"$log" 2>&1; then
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1)"
    echo "fuzz: $t ok: ${runs:-?} runs, ${rate:-?} exec/s, ${cov:-cov: ?}, corpus $(ls "$work" | wc -l) + $(ls "$seeds" | wc -l) seeds"
  else
    echo "fuzz: $t FAILED (log $log, inputs in $art/):" >&2
    grep -E -A30 'ERROR|runtime error|broken promise' "$log" | head -60 >&2 || tail -40 "$log" >&2
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}; reproduce with $build/<target>_fuzz <input>" >&2
  exit 1
fi
echo "fuzz: every target ran ${seconds} s without a finding ($((SECONDS - start)) s in all)"
