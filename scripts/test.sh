#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs unit and integration tests on the
# release build, then again with strait built with AddressSanitizer + UBSan. Exit status is the
# verdict.
#   scripts/test.sh            everything
#   scripts/test.sh --fast     release build only (no sanitizer pass)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/install-deps.sh

jobs=$(nproc)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

echo "== release build and tests"
cmake -S "$root" -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build -j "$jobs"
# Integration tests start real processes on loopback; suites run one after the other.
(cd build && ctest --output-on-failure --timeout 900)

if [ "${1:-}" != "--fast" ]; then
  echo "== fuzzing (libFuzzer, 10 s per target)"
  scripts/fuzz.sh 10

  echo "== sanitizer build (address, undefined) and tests"
  # Only the code under test is instrumented: strait and the unit-test binaries. The
  # integration harness (the release build's) drives the instrumented strait.
  cmake -S "$root" -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSTRAIT_SANITIZE=ON >/dev/null
  ninja -C build-asan -j "$jobs" strait unit_tests proxy_tests
  build-asan/tests/unit_tests --gtest_brief=1
  build-asan/tests/proxy_tests --gtest_brief=1
  STRAIT_BINARY="$root/build-asan/strait" build/tests/integration/integration_tests --gtest_brief=1
fi
echo "== all tests passed"
