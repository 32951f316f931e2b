#!/usr/bin/env python3
"""File-mode scale figures: strait reading N Ingresses, N Services and N EndpointSlices (5
endpoints each) from YAML files on disk, one file per Ingress and one per Service (its Service and
EndpointSlice), the way a GitOps checkout or a ConfigMap volume lays them out.

Reports time to ready (process start -> /readyz 200, and -> first request routed), resident
memory, and the propagation latency of one changed file (p50/p99):
  - ingress:   the probe Ingress's file is rewritten to switch its backend Service;
  - endpoints: the probe Service's file is rewritten to move its EndpointSlice to the other pod.
Latency runs from the rename that replaces the file (atomic, as editors and ConfigMap volumes
do it) to the first request routed by the new state, so it includes strait's 5 ms of inotify
quiet after a completed write, the parse of the changed file, its merge into the store, the
incremental translation (or, for an endpoints-only change, the refresh of that Service's
clusters) and the equivalence check. strait's own sync time (translate + compare) comes from
its /metrics (strait_config_sync_duration_seconds).

Only loopback addresses are used: the 50,000 endpoints are 127.10.x.y addresses that are never
contacted; the probe pods are echo_backend processes on 127.0.2.1 and 127.0.2.2.

Usage: bench/file_scale.py [--ingresses 10000] [--changes 20] [--build build]
"""
import argparse
import datetime
import http.client
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_scale import Probe, cpu_s, endpoint_address, free_port, percentile, rss_kib, wait_for  # noqa: E402
import perf_profile  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ingress_yaml(name, host, service):
    return f"""apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {name}
  namespace: bench
spec:
  ingressClassName: strait
  rules:
  - host: {host}
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: {service}
            port:
              number: 80
"""


def service_yaml(name, addresses, port):
    endpoints = "".join(f"""  - addresses: ["{a}"]
    conditions:
      ready: true
""" for a in addresses)
    return f"""apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: bench
spec:
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}-1
  namespace: bench
  labels:
    kubernetes.io/service-name: {name}
addressType: IPv4
ports:
- name: http
  port: {port}
endpoints:
{endpoints}"""


def replace_file(path, text):
    """Writes a hidden temp file (strait skips names starting with '.') and renames it over."""
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def generate(root, n, per_service, pods):
    os.makedirs(os.path.join(root, "ingresses"))
    os.makedirs(os.path.join(root, "services"))
    with open(os.path.join(root, "class.yaml"), "w") as f:
        f.write("apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: strait\n"
                "spec:\n  controller: strait.io/ingress-controller\n")
    k = 0
    total_bytes = 0
    for i in range(n):
        text = ingress_yaml(f"ing-{i}", f"h{i}.bench.example", f"svc-{i}")
        with open(os.path.join(root, "ingresses", f"ing-{i}.yaml"), "w") as f:
            f.write(text)
        total_bytes += len(text)
        addresses = [endpoint_address(k + j) for j in range(per_service)]
        k += per_service
        text = service_yaml(f"svc-{i}", addresses, 8080)
        with open(os.path.join(root, "services", f"svc-{i}.yaml"), "w") as f:
            f.write(text)
        total_bytes += len(text)
    for svc, (addr, port) in (("probe-a", pods[0]), ("probe-b", pods[1])):
        with open(os.path.join(root, "services", f"{svc}.yaml"), "w") as f:
            f.write(service_yaml(svc, [addr], port))
    with open(os.path.join(root, "ingresses", "probe.yaml"), "w") as f:
        f.write(ingress_yaml("probe", "probe.bench.example", "probe-a"))
    return total_bytes


def metric(addr, port, name):
    c = http.client.HTTPConnection(addr, port, timeout=5)
    c.request("GET", "/metrics")
    body = c.getresponse().read().decode()
    for line in body.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ingresses", type=int, default=10000)
    ap.add_argument("--endpoints-per-service", type=int, default=5)
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", help="report file (default: bench/results/file-scale-DATE.md)")
    ap.add_argument("--keep", action="store_true", help="keep the generated manifests")
    ap.add_argument("--perf", metavar="PREFIX",
                    help="record strait with perf during the Ingress changes (PREFIX.data, and a "
                         "report by symbol in PREFIX.txt) and the EndpointSlice changes "
                         "(PREFIX-endpoints.*)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="strait-file-scale-")
    manifests = os.path.join(tmp, "manifests")
    procs = []
    try:
        addr = "127.0.0.1"
        pods = []
        for name, pod_addr in (("a", "127.0.2.1"), ("b", "127.0.2.2")):
            port = free_port(pod_addr)
            pods.append((pod_addr, port))
            procs.append(subprocess.Popen([os.path.join(args.build, "echo_backend"), "--listen",
                                           f"{pod_addr}:{port}", "--name", name],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        t = time.monotonic()
        yaml_bytes = generate(manifests, args.ingresses, args.endpoints_per_service, pods)
        gen_s = time.monotonic() - t
        files = sum(len(f) for _, _, f in os.walk(manifests))

        http_port, healthz_port = free_port(addr), free_port(addr)
        # Drop the manifests from the page cache's point of view? No: a real start reads a warm
        # checkout as often as a cold one; the figure is for warm files (just written).
        start = time.monotonic()
        strait = subprocess.Popen(
            [os.path.join(args.build, "strait"), "--manifests", manifests, "--bind-address", addr,
             "--http-port", str(http_port), "--healthz-port", str(healthz_port), "--workers", "1",
             "--access-log=false"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "strait.err"), "w"))
        procs.append(strait)

        def ready():
            try:
                h = http.client.HTTPConnection(addr, healthz_port, timeout=1)
                h.request("GET", "/readyz")
                return h.getresponse().status == 200
            except OSError:
                return False

        if not wait_for(ready, 600, 0.005):
            raise RuntimeError("strait did not become ready")
        ready_s = time.monotonic() - start
        probe = Probe(addr, http_port)
        if not wait_for(lambda: probe.pod() == "a", 30, 0.001):
            raise RuntimeError("probe route not serving")
        routed_s = time.monotonic() - start
        rss = rss_kib(strait.pid)
        with open(f"/proc/{strait.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start_cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        syncs0 = metric(addr, healthz_port, "strait_config_sync_duration_seconds_sum") or 0.0
        count0 = metric(addr, healthz_port, "strait_config_sync_duration_seconds_count") or 0.0

        def measure(change, expected):
            change()
            t1 = time.monotonic()
            if not wait_for(lambda: probe.pod() == expected, 30, 0):
                raise RuntimeError(f"change to {expected} never arrived")
            return (time.monotonic() - t1) * 1000.0

        probe_ing = os.path.join(manifests, "ingresses", "probe.yaml")
        probe_svc = os.path.join(manifests, "services", "probe-a.yaml")
        ingress_lat, endpoint_lat = [], []
        def record(suffix):
            return perf_profile.Recording(strait.pid, args.perf + suffix) if args.perf else None

        recorder = record("")
        cpu0 = cpu_s(strait.pid)
        for i in range(args.changes):
            svc, pod = ("probe-b", "b") if i % 2 == 0 else ("probe-a", "a")
            ingress_lat.append(measure(lambda: replace_file(
                probe_ing, ingress_yaml("probe", "probe.bench.example", svc)), pod))
            time.sleep(0.1)  # let the debounce window of the previous change close
        ingress_cpu_ms = (cpu_s(strait.pid) - cpu0) * 1000.0 / args.changes
        if recorder:
            recorder.stop()
        if args.changes % 2 == 1:
            measure(lambda: replace_file(probe_ing, ingress_yaml("probe", "probe.bench.example",
                                                                 "probe-a")), "a")
            time.sleep(0.1)
        recorder = record("-endpoints")
        for i in range(args.changes):
            target, pod = (pods[1], "b") if i % 2 == 0 else (pods[0], "a")
            endpoint_lat.append(measure(lambda: replace_file(
                probe_svc, service_yaml("probe-a", [target[0]], target[1])), pod))
            time.sleep(0.1)
        if recorder:
            recorder.stop()
        syncs1 = metric(addr, healthz_port, "strait_config_sync_duration_seconds_sum") or 0.0
        count1 = metric(addr, healthz_port, "strait_config_sync_duration_seconds_count") or 0.0
        sync_ms = (syncs1 - syncs0) / max(1.0, count1 - count0) * 1000.0
        rss_after = rss_kib(strait.pid)
        routes = args.ingresses + 1

        cpu = "unknown"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        load = open("/proc/loadavg").read().split()[:3]
        now = datetime.datetime.now(datetime.timezone.utc)
        report = f"""# File mode at scale ({now.strftime('%Y-%m-%d %H:%M')} UTC)

Machine: {os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}; load average
{' '.join(load)} at the end (shared machine). strait with 1 worker, `--manifests` on a directory
of {files} YAML files ({yaml_bytes / 1e6:.1f} MB; generated in {gen_s:.1f} s): {args.ingresses}
Ingresses (one file each, one host and one path each), {args.ingresses} Services with one
EndpointSlice of {args.endpoints_per_service} endpoints each ({args.ingresses * args.endpoints_per_service} endpoints; Service and
slice in one file per Service), plus the probe Ingress and its two Services.

| figure | value | goal / peer |
|---|---|---|
| time to ready (process start -> /readyz 200: read, parse, validate, translate) | {ready_s:.2f} s | nginx, 10,000 server blocks: starts in 1.8 s ({ready_s / 1.8:.2f}x) |
| time to the first routed request | {routed_s:.2f} s | |
| CPU time of strait up to ready (user + system) | {start_cpu_s:.2f} s | |
| resident memory when ready | {rss / 1024:.0f} MiB ({rss * 1024 / routes:.0f} B per route, whole process) | < 2 KB per route; nginx ~20 KB per route ({rss * 1024 / routes / 20480:.2f}x) |
| resident memory after {2 * args.changes} changes | {rss_after / 1024:.0f} MiB | |
| Ingress file changed -> routed, p50 / p99 ({args.changes} changes) | {statistics.median(ingress_lat):.0f} / {percentile(ingress_lat, 99):.0f} ms | 50 ms; nginx -s reload: 4.6 s ({statistics.median(ingress_lat) / 4600:.3f}x) |
| strait CPU time (user + system) per Ingress file change | {ingress_cpu_ms:.1f} ms | |
| EndpointSlice file changed -> routed, p50 / p99 ({args.changes} changes) | {statistics.median(endpoint_lat):.0f} / {percentile(endpoint_lat, 99):.0f} ms | |
| strait's sync per change (merge + translate + compare, from /metrics) | {sync_ms:.1f} ms | |

Latency runs from the rename replacing the file to the first request routed by the new state:
it includes 5 ms of inotify quiet after the completed write, parsing the one changed file,
merging its objects into the store, the incremental translation (an Ingress change) or the
refresh of the changed Service's clusters (an endpoints-only change), and the equivalence check.
"""
        print(report)
        out_dir = os.path.join(ROOT, "bench", "results")
        os.makedirs(out_dir, exist_ok=True)
        out = args.out or os.path.join(out_dir, f"file-scale-{now.strftime('%Y-%m-%d')}.md")
        with open(out, "w") as f:
            f.write(report)
        print(f"written to {out}")
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if args.keep:
            print(f"manifests kept in {manifests}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
