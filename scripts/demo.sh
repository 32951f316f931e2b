#!/usr/bin/env bash
# The demo: builds strait, starts the demo pods of deploy/examples (one echo_backend each, on its
# own loopback address), runs strait on those manifests and prints requests to try. Runs until
# Ctrl-C, then stops everything it started.
#
#   scripts/demo.sh                  # as root on a fresh Debian 12: installs what is missing first
#   HTTP_PORT=9080 scripts/demo.sh   # other ports: HTTP_PORT (8080), HEALTHZ_PORT (10254)
#   JOBS=1 scripts/demo.sh           # build parallelism (default: ninja's)
#   SKIP_BUILD=1 scripts/demo.sh     # run what $BUILD_DIR (build) already holds
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR=${BUILD_DIR:-build}
HTTP_PORT=${HTTP_PORT:-8080}
HEALTHZ_PORT=${HEALTHZ_PORT:-10254}
POD_PORT=8080  # the port every EndpointSlice in deploy/examples lists

# name address: the pods the EndpointSlices in deploy/examples list.
PODS=(
  "coffee-1 127.0.1.1"
  "coffee-2 127.0.1.2"
  "tea-1 127.0.1.3"
  "api-1 127.0.1.4"
  "api-2 127.0.1.5"
  "preview-1 127.0.1.6"
  "web-1 127.0.1.7"
)

if [[ -z ${SKIP_BUILD:-} ]]; then
  scripts/install-deps.sh
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
  ninja -C "$BUILD_DIR" ${JOBS:+-j"$JOBS"} strait echo_backend
fi

LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/strait-demo.XXXXXX")
CHILDREN=()
cleanup() {
  trap - EXIT INT TERM
  if ((${#CHILDREN[@]})); then
    kill -TERM "${CHILDREN[@]}" 2>/dev/null || true
    wait "${CHILDREN[@]}" 2>/dev/null || true
  fi
  echo
  echo "demo stopped; logs are in $LOG_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for pod in "${PODS[@]}"; do
  read -r name address <<<"$pod"
  "$BUILD_DIR/echo_backend" --name "$name" --listen "$address:$POD_PORT" \
    >"$LOG_DIR/$name.log" 2>&1 &
  CHILDREN+=($!)
done

# strait's access log (stdout) comes to this terminal; its own log goes to a file.
"$BUILD_DIR/strait" --manifests deploy/examples --bind-address 127.0.0.1 \
  --http-port "$HTTP_PORT" --healthz-port "$HEALTHZ_PORT" 2>"$LOG_DIR/strait.log" &
STRAIT_PID=$!
CHILDREN+=("$STRAIT_PID")

ready=
for _ in $(seq 300); do  # up to 30 s
  if curl -fsS -o /dev/null "http://127.0.0.1:$HEALTHZ_PORT/readyz" 2>/dev/null; then
    ready=1
    break
  fi
  if ! kill -0 "$STRAIT_PID" 2>/dev/null; then
    break
  fi
  sleep 0.1
done
if [[ -z $ready ]]; then
  echo "strait did not become ready; its log ($LOG_DIR/strait.log):" >&2
  tail -n 30 "$LOG_DIR/strait.log" >&2 || true
  exit 1
fi

URL="http://127.0.0.1:$HTTP_PORT"
cat <<TRY

strait is serving deploy/examples on $URL (pods: ${#PODS[@]} echo backends on 127.0.1.1-7).
Every reply is JSON from the pod that answered ("pod"), with the request as it arrived there.

  # path routing: Prefix /coffee alternates between coffee-1 and coffee-2
  curl -H 'Host: cafe.example.com' $URL/coffee
  curl -H 'Host: cafe.example.com' '$URL/coffee/latte?size=large'
  # Exact /tea
  curl -H 'Host: cafe.example.com' $URL/tea
  # host routing (api-2 is not ready and never answers)
  curl -H 'Host: api.example.com' $URL/v1/users
  # wildcard host
  curl -H 'Host: pr-42.preview.example.com' $URL/
  # anything else: the Ingress defaultBackend
  curl -H 'Host: unknown.example.org' $URL/whatever
  # health
  curl http://127.0.0.1:$HEALTHZ_PORT/readyz

Edit deploy/examples/*.yaml while this runs: changes apply live.
strait's log: $LOG_DIR/strait.log. Access log below. Ctrl-C stops the demo.

TRY

wait "$STRAIT_PID"
