#!/usr/bin/env python3
"""API-mode scale figures: strait watching the project's test API server loaded with N Ingresses,
N Services and N EndpointSlices (5 endpoints each).

Reports time to ready, resident memory, and propagation latency of one change (p50/p99):
  - endpoints: an EndpointSlice moves the probe Service from pod A to pod B (the fast path);
  - ingress:   the probe Ingress switches its backend Service (a full translation).
Latency is measured from the API server acknowledging the write to the first request routed by
the new state (so it includes the API server's own event dispatch: an upper bound of "from the
watch event arriving").

Only loopback addresses are used: the 50,000 endpoints are 127.10.x.y addresses that are never
contacted; the probe pods are echo_backend processes on 127.0.2.1 and 127.0.2.2.

Usage: bench/api_scale.py [--ingresses 10000] [--changes 100] [--build build]
"""
import argparse
import datetime
import http.client
import json
import os
import platform
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port(addr="127.0.0.1"):
    s = socket.socket()
    s.bind((addr, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def read_until(proc, prefix, timeout=30):
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        if not line:
            break
        lines.append(line.strip())
        if line.startswith(prefix):
            return lines
    raise RuntimeError(f"no '{prefix}' from {proc.args[0]}: {lines}")


def wait_for(cond, timeout, interval=0.0005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(interval)
    return False


def endpoint_address(i):
    return f"127.10.{i // 250}.{i % 250 + 1}"


def objects(n, per_service, probe_a, probe_b):
    items = [{"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
              "metadata": {"name": "strait"}, "spec": {"controller": "strait.io/ingress-controller"}}]
    k = 0
    for i in range(n):
        name = f"svc-{i}"
        items.append({"apiVersion": "v1", "kind": "Service",
                      "metadata": {"name": name, "namespace": "bench"},
                      "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
        eps = []
        for _ in range(per_service):
            eps.append({"addresses": [endpoint_address(k)], "conditions": {"ready": True}})
            k += 1
        items.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                      "metadata": {"name": name + "-1", "namespace": "bench",
                                   "labels": {"kubernetes.io/service-name": name}},
                      "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}], "endpoints": eps})
        items.append(ingress(f"ing-{i}", f"h{i}.bench.example", name))
    for svc, pod in (("probe-a", probe_a), ("probe-b", probe_b)):
        items.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": svc, "namespace": "bench"},
                      "spec": {"ports": [{"name": "http", "port": 80}]}})
        items.append(slice_for(svc, pod))
    items.append(ingress("probe", "probe.bench.example", "probe-a"))
    return items


def ingress(name, host, service):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": "bench"},
            "spec": {"ingressClassName": "strait", "rules": [{"host": host, "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": service, "port": {"number": 80}}}}]}}]}}


def slice_for(service, pod):
    addr, port = pod
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": service + "-1", "namespace": "bench",
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": port}],
            "endpoints": [{"addresses": [addr], "conditions": {"ready": True}}]}


class Api:
    def __init__(self, port, certs):
        self.ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.crt"))
        self.ctx.load_cert_chain(os.path.join(certs, "client.crt"), os.path.join(certs, "client.key"))
        self.port = port

    def call(self, method, path, body=None, ctype="application/merge-patch+json"):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"Content-Type": ctype})
        r = c.getresponse()
        data = r.read()
        c.close()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:200]}")
        return data


class Probe:
    """A keep-alive client asking strait which pod answers the probe host."""

    def __init__(self, addr, port):
        self.addr, self.port = addr, port
        self.conn = http.client.HTTPConnection(addr, port, timeout=5)

    def pod(self):
        try:
            self.conn.request("GET", "/", headers={"Host": "probe.bench.example"})
            r = self.conn.getresponse()
            body = r.read()
            if r.status != 200:
                return f"status:{r.status}"
            return json.loads(body).get("pod")
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.addr, self.port, timeout=5)
            return "error"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    """utime + stime of a process, in seconds (noise-free compared with wall times here)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ingresses", type=int, default=10000)
    ap.add_argument("--endpoints-per-service", type=int, default=5)
    ap.add_argument("--changes", type=int, default=100)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", help="report file (default: bench/results/api-scale-DATE.md)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="strait-api-scale-")
    procs = []
    try:
        api_proc = subprocess.Popen(
            [sys.executable, "-B", os.path.join(ROOT, "tests/apiserver/fake_apiserver.py"), "--listen",
             "127.0.0.1:0", "--certs", os.path.join(tmp, "certs"), "--control", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "apiserver.err"), "w"))
        procs.append(api_proc)
        lines = read_until(api_proc, "listening")
        ports = {l.split()[0]: int(l.rsplit(":", 1)[1]) for l in lines if l.split()[0] in ("control", "listening")}
        certs = os.path.join(tmp, "certs")
        pods = []
        for name, addr in (("a", "127.0.2.1"), ("b", "127.0.2.2")):
            port = free_port(addr)
            pods.append((addr, port))
            procs.append(subprocess.Popen([os.path.join(args.build, "echo_backend"), "--listen",
                                           f"{addr}:{port}", "--name", name],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        items = objects(args.ingresses, args.endpoints_per_service, pods[0], pods[1])
        t = time.monotonic()
        c = http.client.HTTPConnection("127.0.0.1", ports["control"], timeout=600)
        c.request("POST", "/objects", body=json.dumps({"items": items}),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        if r.status >= 300:
            raise RuntimeError(f"bulk load failed: {r.status}")
        load_s = time.monotonic() - t

        addr = "127.0.0.1"
        http_port, healthz_port = free_port(addr), free_port(addr)
        start = time.monotonic()
        strait = subprocess.Popen(
            [os.path.join(args.build, "strait"), "--kubeconfig", os.path.join(certs, "kubeconfig-cert"),
             "--bind-address", addr, "--http-port", str(http_port), "--healthz-port", str(healthz_port),
             "--workers", "1", "--access-log=false", "--update-status=false"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "strait.err"), "w"))
        procs.append(strait)

        def ready():
            try:
                h = http.client.HTTPConnection(addr, healthz_port, timeout=1)
                h.request("GET", "/readyz")
                return h.getresponse().status == 200
            except OSError:
                return False

        if not wait_for(ready, 300, 0.01):
            raise RuntimeError("strait did not become ready")
        ready_s = time.monotonic() - start
        rss = rss_kib(strait.pid)

        api = Api(ports["listening"], certs)
        probe = Probe(addr, http_port)
        if not wait_for(lambda: probe.pod() == "a", 30):
            raise RuntimeError("probe route not serving")

        def measure(change, expected):
            t0 = time.monotonic()
            change()
            t1 = time.monotonic()
            if not wait_for(lambda: probe.pod() == expected, 30, 0):
                raise RuntimeError(f"change to {expected} never arrived")
            return (time.monotonic() - t1) * 1000.0, (t1 - t0) * 1000.0

        slice_path = "/apis/discovery.k8s.io/v1/namespaces/bench/endpointslices/probe-a-1"
        ing_path = "/apis/networking.k8s.io/v1/namespaces/bench/ingresses/probe"
        endpoint_lat, ingress_lat = [], []
        for i in range(args.changes):
            target = pods[1] if i % 2 == 0 else pods[0]
            body = {"endpoints": [{"addresses": [target[0]], "conditions": {"ready": True}}],
                    "ports": [{"name": "http", "port": target[1]}]}
            endpoint_lat.append(measure(lambda: api.call("PATCH", slice_path, body), "b" if i % 2 == 0 else "a")[0])
        # Back to pod a for probe-a; the ingress test flips between probe-a (pod a) and probe-b (pod b).
        if args.changes % 2 == 1:
            body = {"endpoints": [{"addresses": [pods[0][0]], "conditions": {"ready": True}}],
                    "ports": [{"name": "http", "port": pods[0][1]}]}
            measure(lambda: api.call("PATCH", slice_path, body), "a")
        cpu0 = cpu_s(strait.pid)
        for i in range(args.changes):
            svc = "probe-b" if i % 2 == 0 else "probe-a"
            body = {"spec": {"rules": [{"host": "probe.bench.example", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": svc, "port": {"number": 80}}}}]}}]}}
            ingress_lat.append(measure(lambda: api.call("PATCH", ing_path, body), "b" if i % 2 == 0 else "a")[0])
        ingress_cpu_ms = (cpu_s(strait.pid) - cpu0) * 1000.0 / args.changes
        rss_after = rss_kib(strait.pid)

        cpu = "unknown"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        report = f"""# API mode at scale ({datetime.date.today().isoformat()})

Machine: {os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}. strait with 1 worker
watching the test API server (tests/apiserver, Python) on the same machine.

Loaded: {args.ingresses} Ingresses, {args.ingresses} Services, {args.ingresses} EndpointSlices with
{args.endpoints_per_service} endpoints each ({args.ingresses * args.endpoints_per_service} endpoints), bulk-loaded in {load_s:.1f} s.

| figure | value | goal |
|---|---|---|
| time to ready (process start -> /readyz 200, includes listing everything) | {ready_s:.2f} s | |
| resident memory when ready | {rss / 1024:.0f} MiB | < 300 MiB |
| resident memory after {2 * args.changes} changes | {rss_after / 1024:.0f} MiB | |
| endpoint change -> routed, p50 / p99 ({args.changes} changes) | {statistics.median(endpoint_lat):.1f} / {percentile(endpoint_lat, 99):.1f} ms | p99 < 20 ms |
| Ingress change -> routed, p50 / p99 ({args.changes} changes) | {statistics.median(ingress_lat):.1f} / {percentile(ingress_lat, 99):.1f} ms | |
| strait CPU time (user + system) per Ingress change | {ingress_cpu_ms:.1f} ms | |

Latency runs from the API server acknowledging the write to the first request routed by the new
state (so it includes the test API server's own event dispatch). Endpoint changes take the
fast path (only the changed Service's cluster is rebuilt); Ingress changes go through the
incremental translator when the binary has one (every Ingress merged again from cached parts).
"""
        print(report)
        out_dir = os.path.join(ROOT, "bench", "results")
        os.makedirs(out_dir, exist_ok=True)
        out = args.out or os.path.join(out_dir, f"api-scale-{datetime.date.today().isoformat()}.md")
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


if __name__ == "__main__":
    main()
