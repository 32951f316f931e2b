#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs unit and integration tests on the
# release build, then again on an AddressSanitizer + UBSan build. Exit status is the verdict.
#   scripts/test.sh            everything
#   scripts/test.sh --fast     release build only (no sanitizer pass)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/install-deps.sh

jobs=$(nproc)
run_suite() {
  local dir=$1; shift
  cmake -S "$root" -B "$dir" -G Ninja "$@" >/dev/null
  ninja -C "$dir" -j "$jobs"
  # Integration tests start real processes on loopback; run suites one after the other.
  (cd "$dir" && ctest --output-on-failure --timeout 600)
}

echo "== release build and tests"
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo

if [ "${1:-}" != "--fast" ]; then
  echo "== sanitizer build (address, undefined) and tests"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DSTRAIT_SANITIZE=ON
fi
echo "== all tests passed"
