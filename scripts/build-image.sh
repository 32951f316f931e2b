#!/usr/bin/env bash
# Builds strait's container image offline, from the binary already built and nothing else: the
# binary as /strait (without its debug info), exactly the shared libraries `ldd` lists (and the
# dynamic loader) at the paths it lists them, the CA bundle, and /etc/passwd and /etc/group
# entries for the non-root user strait (65532). No base image and no network: buildah from
# Debian, `buildah from scratch`, vfs storage (in a temporary directory next to the output,
# removed afterwards), chroot isolation. The result is an OCI archive; IMAGE is the name inside
# it (its org.opencontainers.image.ref.name).
#
#   scripts/build-image.sh [--binary build/strait] [--output build/strait-image.tar]
#                          [--image docker.io/library/strait:VERSION]
#   scripts/build-image.sh [--binary build/strait] --rootfs DIR
#       only stage the root filesystem in DIR (no buildah): deploy/Dockerfile uses this, so both
#       images hold the same files.
#
# Load the archive where your cluster's runtime can see it, e.g. `podman load -i
# build/strait-image.tar`, `skopeo copy oci-archive:build/strait-image.tar
# docker://REGISTRY/strait:VERSION`, or on a node `ctr -n k8s.io images import
# build/strait-image.tar`. The manifests' image `strait:VERSION` is
# docker.io/library/strait:VERSION, the default name here.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=build/strait
output=build/strait-image.tar
image=""
rootfs_only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --output) output="$2"; shift 2 ;;
    --image) image="$2"; shift 2 ;;
    --rootfs) rootfs_only="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "build-image: unknown argument $1" >&2; exit 2 ;;
  esac
done

if [ ! -x "$binary" ]; then
  echo "build-image: no executable at $binary (build strait first: ninja -C build strait)" >&2
  exit 1
fi
version="$("$binary" --version | awk '{print $2}')"
if [ -z "$version" ]; then
  echo "build-image: $binary --version printed no version" >&2
  exit 1
fi
image="${image:-docker.io/library/strait:$version}"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
need=()
[ -n "$rootfs_only" ] || command -v buildah >/dev/null || need+=(buildah)
[ -s /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
command -v strip >/dev/null || need+=(binutils)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

# The root filesystem, staged in a directory.
stage_rootfs() {
  local rootfs="$1" lib libs
  mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/usr/lib/ssl"
  install -m 0755 "$binary" "$rootfs/strait"
  # Debug info is most of a RelWithDebInfo binary (80 of 85 MB); the symbol table stays.
  strip --strip-debug "$rootfs/strait"
  if ldd "$binary" | grep -q "not found"; then
    echo "build-image: ldd cannot resolve every library of $binary:" >&2
    ldd "$binary" >&2
    return 1
  fi
  # `ldd` lines: "libx.so.N => /path/libx.so.N (0x...)", "/lib64/ld-linux-x86-64.so.2 (0x...)",
  # and the vDSO, which has no file. Each library is copied (symlinks resolved) to the path named.
  libs="$(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')"
  for lib in $libs; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
  # The API client falls back to the system CA bundle when a kubeconfig names no CA; OpenSSL
  # looks for it under its OPENSSLDIR (/usr/lib/ssl on Debian).
  cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  ln -sfn /etc/ssl/certs/ca-certificates.crt "$rootfs/usr/lib/ssl/cert.pem"
  ln -sfn /etc/ssl/certs "$rootfs/usr/lib/ssl/certs"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nstrait:x:65532:65532:strait:/nonexistent:/sbin/nologin\n' \
    >"$rootfs/etc/passwd"
  printf 'root:x:0:\nstrait:x:65532:\n' >"$rootfs/etc/group"
  # getaddrinfo (ExternalName Services): /etc/hosts first, then DNS (resolv.conf comes from the
  # kubelet). glibc 2.34+ has the files and dns services built in.
  printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
}

if [ -n "$rootfs_only" ]; then
  mkdir -p "$rootfs_only"
  stage_rootfs "$rootfs_only"
  echo "build-image: root filesystem of strait $version in $rootfs_only"
  exit 0
fi

mkdir -p "$(dirname "$output")"
output="$(cd "$(dirname "$output")" && pwd)/$(basename "$output")"
work="$(mktemp -d "$(dirname "$output")/.build-image.XXXXXX")"
export BUILDAH_ISOLATION=chroot
bah=(buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs)
container=""
cleanup() {
  if [ -n "$container" ]; then "${bah[@]}" rm "$container" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

stage_rootfs "$work/rootfs"
container="$("${bah[@]}" from --pull-never scratch)"
"${bah[@]}" copy "$container" "$work/rootfs" / >/dev/null
"${bah[@]}" config \
  --entrypoint '["/strait"]' --cmd '' --user 65532:65532 --workingdir / \
  --port 8080/tcp --port 8443/tcp --port 10254/tcp \
  --label org.opencontainers.image.title=strait \
  --label org.opencontainers.image.description="Kubernetes ingress controller and L7 load balancer" \
  --label org.opencontainers.image.version="$version" \
  "$container"
"${bah[@]}" commit --quiet --format oci --timestamp 0 --rm "$container" strait-build >/dev/null
# A smoke test in a throwaway container of the committed image (`buildah run` leaves mount points
# such as /etc/hosts behind, which must not end up in the image): the loader finds every library,
# as the image's user.
container="$("${bah[@]}" from --pull-never strait-build)"
if ! smoke="$("${bah[@]}" run --isolation chroot "$container" -- /strait --version 2>&1)"; then
  echo "build-image: /strait --version fails inside the image: $smoke" >&2
  exit 1
fi
"${bah[@]}" rm "$container" >/dev/null
container=""
rm -f "$output.tmp"
"${bah[@]}" push --quiet strait-build "oci-archive:$output.tmp:$image"
mv -f "$output.tmp" "$output"
echo "build-image: $output ($image, $smoke, $(du -h "$output" | cut -f1))"
