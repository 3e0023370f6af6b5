#!/usr/bin/env bash
# Builds parley and the unit, integration and SDK test executables with AddressSanitizer,
# LeakSanitizer and UBSan (clang 14, -O1) in build-fuzz/ -- the same build directory and flags
# as the fuzz targets (tests/fuzz/run.sh), so the libraries are compiled once for both -- and
# runs the suites against them: the integration and SDK tests start that sanitized `parley`.
# Any report fails: in a test executable it stops the process with a non-zero status; in a
# server, tests/support/server_process fails the test that ran it (stopped with SIGTERM, so the
# leak check at exit runs too). The node suite runs too when its modules are installed.
#
#   tests/sanitize/asan.sh               every suite (the CTest entry `asan`, `make sanitize`)
#   tests/sanitize/asan.sh unit sdk      only these (unit, integration, sdk, node)
#   ASAN_GTEST_FILTER='Chat.*' tests/sanitize/asan.sh integration
#
# Logs go to build-fuzz/logs/<suite>.log. Environment: SANITIZE_BUILD (build-fuzz; CTest's
# entry sets <its build directory>-fuzz), SANITIZE_CXX (clang++-14), SANITIZE_JOBS (nproc).
tag=asan
build="${SANITIZE_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build-fuzz}"
start=$SECONDS
source "$(dirname "$0")/common.sh"

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit integration sdk node)
build_targets -DPARLEY_FUZZ=ON -- parley parley_unit_tests parley_integration_tests \
  parley_sdk_tests parley_sdk_child

export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export PARLEY_TEST_SANITIZER=asan
export PARLEY_BIN="$build/parley" PARLEY_SDK_CHILD="$build/parley_sdk_child"
# Left out of the integration suite, not for a sanitizer report: the slow-consumer test reads
# the 4002 close only after its 800 sends are acknowledged, which takes longer than the
# server's 2 s closing handshake (kCloseTimeout in src/transport/ws_connection.cpp) under ASan;
# the server then closes the socket and the client reads no close code (0). It passes in the
# main build; the timing it depends on is listed in docs/security.md ("Sanitizers").
integration_default='-Lifecycle.SlowConsumerIsDisconnectedAndRecoversByResume'
for s in "${suites[@]}"; do
  case "$s" in
    unit) run_suite unit "$build/parley_unit_tests" --gtest_filter="${ASAN_GTEST_FILTER:-*}" ;;
    integration)
      run_suite integration "$build/parley_integration_tests" \
        --gtest_filter="${ASAN_GTEST_FILTER:-$integration_default}" ;;
    sdk) run_suite sdk "$build/parley_sdk_tests" --gtest_filter="${ASAN_GTEST_FILTER:-*}" ;;
    node)
      if [ -d tests/node/node_modules ]; then
        run_suite node node --test --test-concurrency=1 tests/node/
      else
        echo "asan: node skipped (no tests/node/node_modules; scripts/install-deps.sh installs it)"
      fi ;;
    *) echo "asan: unknown suite $s" >&2; exit 2 ;;
  esac
done
finish
