#!/usr/bin/env bash
# Installs the Debian 12 packages strait needs to build, test and demo. Idempotent: does nothing
# when everything is already there. Run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libssl-dev libnghttp2-dev libyaml-cpp-dev nlohmann-json3-dev
  libgtest-dev googletest libbenchmark-dev
  curl wrk procps iproute2 python3 openssl unzip buildah
  clang libclang-rt-14-dev
  nghttp2-client python3-h2 python3-grpcio sslscan testssl.sh
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
