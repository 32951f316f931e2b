#!/usr/bin/env bash
# One command for issue 5's measurements (see bench/README.md):
#   bench/run.sh [--duration S] [--rounds N] [--loads h1,h1-close,tls,h2] [--no-micro] ...
# Installs what is missing (Debian packages), builds strait and the microbenchmarks in
# build-bench/ (Release), runs the HTTP comparison (bench/http_bench.py) and the
# microbenchmarks, and writes bench/results/http-<date>.{md,png,json} and micro-<date>.{md,json}.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
export PATH="$PATH:/usr/sbin:/sbin"

build=1
micro=1
http=1
micro_args=()
results=()
pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --no-micro) micro=0 ;;
    --micro-only) http=0 ;;
    --micro-filter) micro_args+=("--benchmark_filter=$2"); shift ;;
    --micro-filter=*) micro_args+=("--benchmark_filter=${1#*=}") ;;
    --results-dir) results=("--results-dir" "$2"); pass+=("$1" "$2"); shift ;;
    --results-dir=*) results=("--results-dir" "${1#*=}"); pass+=("$1") ;;
    -h|--help)
      sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
      echo
      echo "run.sh flags: --no-build --no-micro --micro-only --micro-filter REGEX"
      echo "  (--results-dir DIR goes to both parts)"
      echo "HTTP benchmark flags (passed to bench/http_bench.py):"
      python3 "$here/http_bench.py" --help | sed -n '/^options:/,$p'
      exit 0 ;;
    *) pass+=("$1") ;;
  esac
  shift
done

# Debian packages: the peers, the load generators, the chart, the build.
packages=(nginx haproxy wrk nghttp2-client gnuplot-nox openssl python3
          cmake ninja-build g++ libbenchmark-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# strait's own build dependencies (Boost, OpenSSL, yaml-cpp, ...).
"$root/scripts/install-deps.sh"

bdir="$root/build-bench"
if [ "$build" = 1 ] && [ -z "${STRAIT_BIN:-}" ]; then
  if [ ! -f "$bdir/build.ninja" ]; then
    cmake -S "$root" -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTRAIT_BENCH=ON >/dev/null
  fi
  targets=(strait)
  [ "$micro" = 1 ] && targets+=(strait_micro)
  ninja -C "$bdir" -j1 "${targets[@]}"
fi
export STRAIT_BIN="${STRAIT_BIN:-$bdir/strait}"

if [ "$http" = 1 ]; then
  python3 "$here/http_bench.py" "${pass[@]}"
fi
if [ "$micro" = 1 ]; then
  python3 "$here/micro_report.py" --binary "$bdir/strait_micro" "${results[@]}" -- "${micro_args[@]}"
fi
