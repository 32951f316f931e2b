#!/usr/bin/env bash
# Soak: strait under mixed load for a long time, with configuration churn and failing pods, to show
# that memory stays flat and no file descriptor leaks.
#
#   scripts/soak.sh [DURATION_SECONDS]     default 3600; scripts/test.sh runs a 60 s version
#
# Load (wrk, one thread each, for the whole duration): HTTP keep-alive, a new HTTP connection per
# request, and a new TLS connection per request. Churn: every second the routes manifest is
# rewritten (a path and the endpoint list alternate, so every write is a new route table and a
# new certificate set); every 10th write also swaps the TLS Secret between two certificates (a new
# SSL_CTX each time). Faults: one of the three echo pods is killed (SIGKILL) every 15 s and
# restarted 5 s later. Session ticket keys rotate every 20 s.
#
# Every few seconds strait's VmRSS and open fds (/proc/PID/status, /proc/PID/fd) are sampled.
# Verdict (exit 1 on failure):
#   - strait is alive and /healthz answers 200 at the end, and exits 0 on SIGTERM;
#   - memory: after a warm-up (the first 10 % of samples), the average RSS of the last quarter is
#     at most the first quarter's x 1.2 + 8 MiB;
#   - fds: once the load stops and idle connections time out (2 s keep-alive timeouts here), the
#     fd count comes back to what it was before the load started (within 30 s).
# Everything runs on a loopback address of its own (127.250.N.x). Binaries: $STRAIT_BINARY and
# $ECHO_BACKEND_BINARY, default build/strait and build/echo_backend. The samples stay in the
# printed directory.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

duration=${1:-3600}
if ! [[ "$duration" =~ ^[0-9]+$ ]] || [ "$duration" -lt 20 ]; then
  echo "usage: scripts/soak.sh [DURATION_SECONDS >= 20]" >&2
  exit 2
fi
strait_bin=${STRAIT_BINARY:-$root/build/strait}
echo_bin=${ECHO_BACKEND_BINARY:-$root/build/echo_backend}
for b in "$strait_bin" "$echo_bin"; do
  [ -x "$b" ] || { echo "soak: $b is missing; build first (ninja -C build)" >&2; exit 2; }
done
for tool in wrk curl openssl /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "soak: $tool is missing (scripts/install-deps.sh)" >&2; exit 2; }
done

# Sampling interval: every 5 s for long runs, 2 s for short ones (enough samples per quarter).
interval=5
[ "$duration" -lt 600 ] && interval=2

work=$(mktemp -d /tmp/strait-soak.XXXXXX)
net="127.250.$(($$ % 250))"
strait_ip="$net.100"
pod_ips=("$net.1" "$net.2" "$net.3")
pids=()
pod_pids=("" "" "")

cleanup() {
  local pid
  for pid in "${pids[@]}" "${pod_pids[@]}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}" "${pod_pids[@]}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

free_port() {
  /usr/bin/python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"
}

# Waits (bounded) until a command succeeds.
await() {
  local seconds=$1
  shift
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}

pod_port=$(free_port "${pod_ips[0]}")
start_pod() {
  local i=$1
  "$echo_bin" --name "pod-$i" --listen "${pod_ips[$i]}:$pod_port" >"$work/pod-$i.out" 2>>"$work/pod-$i.err" &
  pod_pids[$i]=$!
  await 10 grep -q listening "$work/pod-$i.out"
}
for i in 0 1 2; do start_pod "$i"; done

# Two certificates for the TLS host, swapped by the churn.
for v in a b; do
  openssl req -x509 -nodes -days 2 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -subj "/CN=soak.example.com" -addext "subjectAltName=DNS:soak.example.com" \
    -keyout "$work/$v.key" -out "$work/$v.crt" 2>/dev/null
done

mkdir -p "$work/manifests"
cat >"$work/manifests/00-class.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: strait}
spec: {controller: strait.io/ingress-controller}
EOF

# The routes manifest for churn step n: the endpoint list and one path alternate with n's parity.
write_routes() {
  local n=$1 cert=a endpoints extra
  [ $(((n / 10) % 2)) -eq 1 ] && cert=b
  if [ $((n % 2)) -eq 0 ]; then
    endpoints="[{addresses: [\"${pod_ips[0]}\"]}, {addresses: [\"${pod_ips[1]}\"]}, {addresses: [\"${pod_ips[2]}\"]}]"
    extra="/even"
  else
    endpoints="[{addresses: [\"${pod_ips[2]}\"]}, {addresses: [\"${pod_ips[0]}\"]}, {addresses: [\"${pod_ips[1]}\"]}]"
    extra="/odd-$n"
  fi
  cat >"$work/manifests/.routes.tmp" <<EOF
apiVersion: v1
kind: Service
metadata: {name: web, namespace: soak}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: soak, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: $pod_port}]
endpoints: $endpoints
---
apiVersion: v1
kind: Secret
metadata: {name: soak-tls, namespace: soak}
type: kubernetes.io/tls
data:
  tls.crt: $(base64 -w0 "$work/$cert.crt")
  tls.key: $(base64 -w0 "$work/$cert.key")
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: soak, namespace: soak}
spec:
  ingressClassName: strait
  tls: [{hosts: [soak.example.com], secretName: soak-tls}]
  rules:
  - host: soak.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: $extra, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
EOF
  mv "$work/manifests/.routes.tmp" "$work/manifests/10-routes.yaml"
}
write_routes 0

http_port=$(free_port "$strait_ip")
https_port=$(free_port "$strait_ip")
healthz_port=$(free_port "$strait_ip")
"$strait_bin" --manifests "$work/manifests" --bind-address "$strait_ip" --http-port "$http_port" \
  --https-port "$https_port" --healthz-port "$healthz_port" --workers 2 \
  --keepalive-timeout 2s --upstream-keepalive-timeout 2s --ssl-session-ticket-key-rotation 20s \
  --shutdown-delay 0 --shutdown-grace-period 2 >/dev/null 2>"$work/strait.err" &
strait_pid=$!
pids+=("$strait_pid")
if ! await 20 curl -sf "http://$strait_ip:$healthz_port/readyz"; then
  echo "soak: strait did not become ready" >&2
  tail -20 "$work/strait.err" >&2
  exit 1
fi

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$strait_pid/status"; }
fd_count() { find "/proc/$strait_pid/fd" -mindepth 1 -maxdepth 1 | wc -l; }
fds_before=$(fd_count)

echo "soak: ${duration}s against $strait_bin on $strait_ip (samples every ${interval}s in $work)"
http="http://$strait_ip:$http_port"
https="https://$strait_ip:$https_port"
wrk_run() {
  local name=$1
  shift
  wrk -t1 -d"${duration}s" --timeout 5s "$@" >"$work/wrk-$name.txt" 2>&1 &
  pids+=($!)
}
# Plain HTTP goes to the host-less rule (soak.example.com has TLS, so HTTP would get a 308).
wrk_run keepalive -c32 -H "Host: plain.example.com" "$http/bytes/4096"
wrk_run newconn -c8 -H "Host: plain.example.com" -H "Connection: close" "$http/"
wrk_run tls-newconn -c4 -H "Host: soak.example.com" -H "Connection: close" "$https/"

echo -e "t_s\trss_kib\tfds" >"$work/samples.tsv"
start=$SECONDS
next_sample=0
churn=0
kills=0
killed_at=-1
next_kill=14
while [ $((SECONDS - start)) -lt "$duration" ]; do
  t=$((SECONDS - start))
  if ! kill -0 "$strait_pid" 2>/dev/null; then
    echo "soak: strait exited during the run" >&2
    tail -20 "$work/strait.err" >&2
    exit 1
  fi
  if [ "$t" -ge "$next_sample" ]; then
    echo -e "$t\t$(rss_kib)\t$(fd_count)" >>"$work/samples.tsv"
    next_sample=$((t + interval))
  fi
  churn=$((churn + 1))
  write_routes "$churn"
  # Pod 2 dies every 15 s and comes back 5 s later.
  if [ "$killed_at" -lt 0 ] && [ "$t" -ge "$next_kill" ]; then
    kill -9 "${pod_pids[2]}" && wait "${pod_pids[2]}" 2>/dev/null || true
    kills=$((kills + 1))
    killed_at=$t
    next_kill=$((t + 15))
  elif [ "$killed_at" -ge 0 ] && [ $((t - killed_at)) -ge 5 ]; then
    start_pod 2
    killed_at=-1
  fi
  sleep 1
done
[ "$killed_at" -ge 0 ] && start_pod 2
for pid in "${pids[@]:1}"; do wait "$pid" || true; done
pids=("$strait_pid")

# Idle connections time out after 2 s (both sides); the fds they held must all be closed.
fds_settled() { [ "$(fd_count)" -le "$fds_before" ]; }
fds_ok=1
await 30 fds_settled || fds_ok=0
fds_after=$(fd_count)
ls -l "/proc/$strait_pid/fd" >"$work/fds-after.txt" 2>&1 || true
health=$(curl -s -o /dev/null -w '%{http_code}' "http://$strait_ip:$healthz_port/healthz" || true)

# Summary.
wrk_line() {
  local f="$work/wrk-$1.txt" requests errors non2xx
  requests=$(awk '/requests in/ {print $1}' "$f")
  errors=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$f")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$f")
  printf '  %-12s %10s requests  %6s socket errors  %6s non-2xx\n' "$1" "${requests:-0}" \
    "${errors:-0}" "${non2xx:-0}"
}
echo "load:"
for name in keepalive newconn tls-newconn; do wrk_line "$name"; done
echo "churn: $churn manifest writes; faults: $kills pod kills"

verdict=$(/usr/bin/python3 - "$work/samples.tsv" <<'EOF'
import sys
rows = [line.split("\t") for line in open(sys.argv[1]).read().splitlines()[1:]]
samples = [(int(t), int(r), int(f)) for t, r, f in rows]
print("samples (t s, VmRSS MiB, fds):")
step = max(1, len(samples) // 12)
for t, r, f in samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else []):
    print(f"  {t:6d} {r / 1024:8.1f} {f:6d}")
warm = max(1, len(samples) // 10)
rest = samples[warm:]
q = max(1, len(rest) // 4)
first = sum(r for _, r, _ in rest[:q]) / q
last = sum(r for _, r, _ in rest[-q:]) / q
bound = first * 1.2 + 8 * 1024
print(f"RSS after warm-up: first quarter {first / 1024:.1f} MiB, last quarter {last / 1024:.1f} MiB,"
      f" bound {bound / 1024:.1f} MiB; peak {max(r for _, r, _ in samples) / 1024:.1f} MiB")
print(f"fds under load: min {min(f for _, _, f in samples)}, max {max(f for _, _, f in samples)}")
print("RSS_OK" if len(rest) >= 4 and last <= bound else "RSS_GREW")
EOF
)
echo "${verdict%$'\n'*}"
echo "fds: $fds_before before the load, $fds_after after it (settled: $([ $fds_ok = 1 ] && echo yes || echo no))"
echo "healthz at the end: $health"

# The graceful shutdown an operator gets: SIGTERM, exit 0 within the grace period (a sanitizer
# build also reports at exit, with another status).
kill -TERM "$strait_pid"
stopped() { ! kill -0 "$strait_pid" 2>/dev/null; }
exit_status=timeout
if await 15 stopped; then
  exit_status=0
  wait "$strait_pid" || exit_status=$?
fi
pids=()
echo "exit status on SIGTERM: $exit_status"

ok=1
[ "$exit_status" = 0 ] || { echo "soak: FAIL: strait did not exit 0 on SIGTERM"; tail -20 "$work/strait.err"; ok=0; }
[[ "$verdict" == *RSS_OK ]] || { echo "soak: FAIL: memory grew (or too few samples)"; ok=0; }
[ "$fds_ok" = 1 ] || { echo "soak: FAIL: fds leaked"; cat "$work/fds-after.txt"; ok=0; }
[ "$health" = 200 ] || { echo "soak: FAIL: /healthz answered $health"; ok=0; }
for name in keepalive newconn tls-newconn; do
  grep -q "requests in" "$work/wrk-$name.txt" || { echo "soak: FAIL: wrk $name did not run"; ok=0; }
done
[ "$ok" = 1 ] || exit 1
echo "soak: passed"
