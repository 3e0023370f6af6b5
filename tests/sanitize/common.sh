# Shared by asan.sh and tsan.sh (sourced): configure and build a clang build directory under a
# lock, run test suites with their logs kept, report what failed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
cxx="${SANITIZE_CXX:-clang++-14}"
jobs="${SANITIZE_JOBS:-$(nproc)}"
if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "$tag: $cxx not found (scripts/install-deps.sh installs clang-14 and libclang-rt-14-dev)" >&2
  exit 1
fi
mkdir -p "$build/logs"
build="$(cd "$build" && pwd)"
# One build or run at a time per build directory (tests/fuzz/run.sh takes the same lock).
exec 9>"$build/.run.lock"
flock 9
failed=()

# build_targets CMAKE_ARGS... -- TARGETS...
build_targets() {
  local args=() t0=$SECONDS
  while [ "$1" != "--" ]; do args+=("$1"); shift; done
  shift
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER="$cxx" \
    "${args[@]}" >/dev/null
  cmake --build "$build" -j "$jobs" --target "$@" >"$build/logs/build.log" 2>&1 || {
    tail -60 "$build/logs/build.log" >&2
    echo "$tag: build failed (log $build/logs/build.log)" >&2
    exit 1
  }
  echo "$tag: built $* in $((SECONDS - t0)) s"
}

# run_suite NAME COMMAND...: runs it with its output in $build/logs/NAME.log.
run_suite() {
  local name="$1" t0=$SECONDS
  shift
  local log="$build/logs/$name.log"
  if "$@" >"$log" 2>&1; then
    echo "$tag: $name passed in $((SECONDS - t0)) s ($(grep -E -o '\[  PASSED  \] [0-9]+ tests?|^# pass [0-9]+' "$log" | tail -1))"
  else
    echo "$tag: $name FAILED in $((SECONDS - t0)) s (log $log):" >&2
    grep -E -B2 -A40 'Sanitizer|runtime error|\[  FAILED  \]|^not ok|Failure' "$log" | head -150 >&2 ||
      tail -80 "$log" >&2
    failed+=("$name")
  fi
}

finish() {
  if [ ${#failed[@]} -gt 0 ]; then
    echo "$tag: failed: ${failed[*]}" >&2
    exit 1
  fi
  echo "$tag: every suite passed ($((SECONDS - start)) s in all)"
}
