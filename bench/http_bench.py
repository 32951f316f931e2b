#!/usr/bin/env python3
"""strait against nginx and HAProxy on loopback, in one run (issue 5). Started by bench/run.sh.

Three identical origins (nginx, one worker each, a fixed 128-byte body) listen on 127.0.3.1-3.
strait (file mode), nginx (proxy_pass, upstream keepalive) and HAProxy (http-reuse always) are put
in front of them with one worker each; wrk straight to the first origin is the ceiling. Every
cell (load x proxy) runs once per round, rounds alternate the proxies (A/B/A/B, the order rotated
each round) so that drift on a shared machine hits everyone alike.

Per cell: requests/s, p50 and p99 latency, errors, and the proxy's own CPU time per request
(utime + stime of its processes from /proc/PID/stat, before and after, in clock ticks) split in
user and system. Printed as a table with the ratios strait / best peer, written to
bench/results/http-<date>.md (+ .png chart, + .json raw rounds).

Standard library only. Loopback only. Every load is bounded by -d/-D and a hard timeout.
"""
from __future__ import annotations

import argparse
import base64
import datetime
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "bench.example"  # TLS: SNI, certificate name, Host
# Plain HTTP loads use another host: strait (as ingress-nginx) redirects plain HTTP to HTTPS for
# hosts that an Ingress lists under spec.tls. Routing work is the same for both hosts.
HTTP_HOST = "plain." + HOST
ORIGIN_IPS = ["127.0.3.1", "127.0.3.2", "127.0.3.3"]
PROXY_IP = "127.0.0.1"
# The origins' fixed response body: small, identical everywhere.
BODY = ("strait-bench origin response " * 5)[:127] + "\n"
CLK_TCK = os.sysconf("SC_CLK_TCK")

LOADS = {
    "h1": "HTTP/1.1 keep-alive",
    "h1-close": "HTTP/1.1 new connection per request",
    "tls": "HTTPS keep-alive (TLS 1.3, ECDSA P-256)",
    "h2": "HTTP/2 over TLS (h2load -m10)",
}
PEERS = ["nginx", "haproxy"]
TARGETS = ["direct", "strait", "nginx", "haproxy"]
LABELS = {
    "direct": "direct (ceiling)",
    "strait": "strait",
    "nginx": "nginx",
    "haproxy": "HAProxy",
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# processes

class Server:
    """A process we started (in its own session, so its process group is ours to stop)."""

    def __init__(self, name: str, argv: list[str], logdir: str, cwd: str | None = None):
        self.name = name
        self.argv = argv
        self.log_path = os.path.join(logdir, f"{name}.log")
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=cwd, start_new_session=True)

    def pids(self) -> list[int]:
        """The process and its direct children (nginx: master + workers)."""
        pids = [self.proc.pid]
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    rest = f.read().rsplit(")", 1)[1].split()
                if int(rest[1]) == self.proc.pid:
                    pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
        return pids

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        self.logf.close()

    def tail(self, n: int = 20) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""


def cpu_ticks(pids: list[int]) -> tuple[int, int]:
    """(utime, stime) in clock ticks, summed over pids (fields 14 and 15 of /proc/PID/stat)."""
    user = system = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(rest[11])
        system += int(rest[12])
    return user, system


def machine_ticks() -> tuple[int, int, int]:
    """(busy, total, softirq) jiffies over all CPUs, from /proc/stat. With IRQ time accounting
    (Debian's kernels) softirq time, most of loopback TCP's receive path, is charged to no
    process: it is outside every per-process CPU figure, so it is reported beside them."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return total - idle, total, fields[6]


def children_cpu() -> float:
    """CPU seconds of our waited-for children (the load generators)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def port_free(ip: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
            return True
        except OSError:
            return False


def http_get(ip: str, port: int, timeout: float = 2.0) -> tuple[int, str]:
    conn = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"Host": HTTP_HOST})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def tls_probe(ip: str, port: int, alpn: list[str], timeout: float = 2.0) -> tuple[bytes, str | None]:
    """TLS handshake with SNI bench.example: (peer certificate DER, negotiated ALPN)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(alpn)
    with socket.create_connection((ip, port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=HOST) as s:
            der = s.getpeercert(binary_form=True) or b""
            proto = s.selected_alpn_protocol()
            if proto in (None, "http/1.1"):
                s.sendall(f"GET / HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if not data.endswith(BODY.encode()):
                    raise OSError("unexpected HTTPS response: " + data[:80].decode(errors="replace"))
            return der, proto


def wait_until(pred, timeout: float, what: str, server: Server | None = None) -> None:
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        if server is not None and not server.alive():
            raise RuntimeError(f"{what}: process exited:\n{server.tail()}")
        try:
            if pred():
                return
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last = e
        time.sleep(0.1)
    raise RuntimeError(f"{what}: not ready after {timeout}s ({last})"
                       + (f"\n{server.tail()}" if server else ""))


# ---------------------------------------------------------------------------------------------
# configuration

def make_certificate(tmp: str) -> dict:
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST}"],
                   check=True, capture_output=True)
    combined = os.path.join(tmp, "combined.pem")  # HAProxy wants certificate and key in one file
    with open(combined, "w") as out:
        out.write(open(cert).read() + open(key).read())
    der = ssl.PEM_cert_to_DER_cert(open(cert).read())
    return {"cert": cert, "key": key, "combined": combined, "der": der}


def nginx_common(tmp: str, name: str) -> str:
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    return f"""
worker_processes 1;
daemon off;
master_process on;
user root;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 8192; }}
"""


def nginx_temp_paths(tmp: str, name: str) -> str:
    d = os.path.join(tmp, name)
    return "\n".join(f"  {k}_temp_path {d}/{k};" for k in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))


def origin_config(tmp: str, index: int, ip: str, port: int, tls_port: int | None, cert: dict) -> str:
    name = f"origin{index + 1}"
    tls = ""
    if tls_port:
        tls = f"""
    listen {ip}:{tls_port} ssl http2;
    ssl_certificate {cert['cert']};
    ssl_certificate_key {cert['key']};"""
    return nginx_common(tmp, name) + f"""
http {{
{nginx_temp_paths(tmp, name)}
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  server {{
    listen {ip}:{port} backlog=4096;{tls}
    location / {{
      default_type text/plain;
      return 200 "{BODY.rstrip(chr(10))}\\n";
    }}
  }}
}}
"""


# What ingress-nginx sets on every proxied request and strait sets too (head_writer.cpp): with
# --peer-headers ingress-nginx (the default) the peers do the same work and the origins parse
# the same heads, so the comparison is the one an ingress-nginx user makes.
NGINX_INGRESS_HEADERS = """
      proxy_set_header Host $host;
      proxy_set_header X-Request-ID $request_id;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Port $server_port;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Scheme $scheme;
      proxy_set_header X-Scheme $scheme;"""
HAPROXY_INGRESS_HEADERS = """
  http-request set-header X-Request-ID %[rand,hex,bytes(8)]%[rand,hex,bytes(8)]%[rand,hex,bytes(8)]%[rand,hex,bytes(8)]
  http-request set-header X-Real-IP %[src]
  http-request set-header X-Forwarded-For %[src]
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request set-header X-Forwarded-Port %[dst_port]
  http-request set-var(txn.scheme) str(https) if { ssl_fc }
  http-request set-var(txn.scheme) str(http) unless { ssl_fc }
  http-request set-header X-Forwarded-Proto %[var(txn.scheme)]
  http-request set-header X-Forwarded-Scheme %[var(txn.scheme)]
  http-request set-header X-Scheme %[var(txn.scheme)]"""


def nginx_proxy_config(tmp: str, port: int, tls_port: int, origin_port: int, cert: dict,
                       ingress_headers: bool = True) -> str:
    servers = "\n".join(f"    server {ip}:{origin_port};" for ip in ORIGIN_IPS)
    headers = NGINX_INGRESS_HEADERS if ingress_headers else ""
    return nginx_common(tmp, "nginx") + f"""
http {{
{nginx_temp_paths(tmp, "nginx")}
  access_log off;
  # h2load does not reconnect after a GOAWAY: nginx's default of 1,000 requests per client
  # connection (HTTP/1.1 and HTTP/2) would end each h2load connection early.
  keepalive_requests 1000000;
  upstream origins {{
{servers}
    keepalive 320;
    keepalive_requests 1000000;
  }}
  server {{
    listen {PROXY_IP}:{port} backlog=4096;
    listen {PROXY_IP}:{tls_port} ssl http2 backlog=4096;
    server_name {HOST} {HTTP_HOST};
    ssl_certificate {cert['cert']};
    ssl_certificate_key {cert['key']};
    location / {{
      proxy_pass http://origins;
      proxy_http_version 1.1;
      proxy_set_header Connection "";{headers}
    }}
  }}
}}
"""


def haproxy_config(port: int, tls_port: int, origin_port: int, cert: dict,
                   ingress_headers: bool = True) -> str:
    servers = "\n".join(f"  server o{i + 1} {ip}:{origin_port}" for i, ip in enumerate(ORIGIN_IPS))
    headers = HAPROXY_INGRESS_HEADERS if ingress_headers else ""
    return f"""
global
  nbthread 1
  maxconn 8000
  ssl-default-bind-options ssl-min-ver TLSv1.2

defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 75s
  http-reuse always

frontend fe
  bind {PROXY_IP}:{port}
  bind {PROXY_IP}:{tls_port} ssl crt {cert['combined']} alpn h2,http/1.1{headers}
  default_backend origins

backend origins
  balance roundrobin
{servers}
"""


def start_peer(bench, name: str, port: int, tls_port: int, origin_port: int, cert: dict,
               ingress_headers: bool, cpus: str = "", prefix: list[str] | None = None,
               one_process: bool = False) -> Server:
    """Writes the peer's config (nginx or haproxy), starts it, waits until it answers on port.
    prefix: a command in front (valgrind, for instance); one_process: nginx without a master, so
    that a tool attached to the process sees all of its work."""
    if name == "nginx":
        conf = os.path.join(bench.tmp, "nginx-proxy.conf")
        text = nginx_proxy_config(bench.tmp, port, tls_port, origin_port, cert, ingress_headers)
        if one_process:
            text = text.replace("master_process on;", "master_process off;")
        argv = ["nginx", "-c", conf, "-e", "stderr"]
    else:
        conf = os.path.join(bench.tmp, "haproxy.cfg")
        text = haproxy_config(port, tls_port, origin_port, cert, ingress_headers)
        argv = ["haproxy", "-f", conf, "-db"]
    with open(conf, "w") as f:
        f.write(text)
    server = bench.start(name, (prefix or []) + argv, cpus)
    wait_until(lambda: http_get(PROXY_IP, port, timeout=5) == (200, BODY), 120 if prefix else 10,
               name, server)
    return server


def strait_manifests(d: str, origin_port: int, cert: dict) -> None:
    os.makedirs(d, exist_ok=True)
    b64 = lambda path: base64.b64encode(open(path, "rb").read()).decode()  # noqa: E731
    endpoints = "\n".join(f"""- addresses: ["{ip}"]
  conditions: {{ready: true}}""" for ip in ORIGIN_IPS)
    text = f"""apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: strait
spec:
  controller: strait.io/ingress-controller
---
apiVersion: v1
kind: Secret
metadata:
  name: bench-tls
  namespace: bench
type: kubernetes.io/tls
data:
  tls.crt: {b64(cert['cert'])}
  tls.key: {b64(cert['key'])}
---
apiVersion: v1
kind: Service
metadata:
  name: origin
  namespace: bench
spec:
  ports:
  - name: http
    port: 80
    targetPort: {origin_port}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: origin-abcde
  namespace: bench
  labels:
    kubernetes.io/service-name: origin
addressType: IPv4
ports:
- name: http
  port: {origin_port}
  protocol: TCP
endpoints:
{endpoints}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: origin
  namespace: bench
spec:
  ingressClassName: strait
  tls:
  - hosts: [{HOST}]
    secretName: bench-tls
  rules:
  - host: {HOST}
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: origin
            port:
              number: 80
  - host: {HTTP_HOST}
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: origin
            port:
              number: 80
"""
    with open(os.path.join(d, "bench.yaml"), "w") as f:
        f.write(text)


# ---------------------------------------------------------------------------------------------
# load generators

def parse_duration_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError(f"bad wrk time {text!r}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}[m.group(2)]
    return float(m.group(1)) * scale


def wrk_script(tmp: str, ip: str) -> str:
    """wrk resolves the URL host at start; send SNI/Host bench.example but connect to `ip`."""
    path = os.path.join(tmp, f"resolve-{ip}.lua")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write(f'function wrk.resolve(host, service)\n'
                    f'  wrk.addrs = wrk.lookup("{ip}", service)\nend\n')
    return path


def client_prefix(args) -> list[str]:
    return ["taskset", "-c", args.client_cpus] if args.client_cpus else []


def run_wrk(args, tmp: str, ip: str, port: int, scheme: str, close: bool) -> dict:
    argv = client_prefix(args) + ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
            "--latency", "--timeout", "5s", "-s", wrk_script(tmp, ip)]
    if close:
        argv += ["-H", "Connection: close"]
    argv.append(f"{scheme}://{HOST if scheme == 'https' else HTTP_HOST}:{port}/")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=args.duration + 30)
    text = out.stdout + out.stderr
    if out.returncode != 0 or "requests in" not in text:
        raise RuntimeError(f"wrk failed ({out.returncode}): {text.strip()[:500]}")
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    requests = int(m.group(1))
    elapsed_s = parse_duration_ms(m.group(2) + m.group(3)) / 1000.0
    pct = dict(re.findall(r"^\s*(50|99)(?:\.0+)?%\s+(\S+)\s*$", text, re.M))
    if "50" not in pct or "99" not in pct:
        raise RuntimeError(f"wrk printed no latency percentiles: {text.strip()[:800]}")
    errors = 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if sock:
        errors += sum(int(x) for x in sock.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non2xx:
        errors += int(non2xx.group(1))
    return {
        "requests": requests,
        "rps": requests / elapsed_s,
        "p50_ms": parse_duration_ms(pct["50"]),
        "p99_ms": parse_duration_ms(pct["99"]),
        "errors": errors,
        "raw": text,
    }


def run_h2load(args, tmp: str, ip: str, port: int) -> dict:
    logfile = os.path.join(tmp, "h2load.log")
    if os.path.exists(logfile):
        os.unlink(logfile)
    argv = client_prefix(args) + ["h2load", f"-c{args.connections}", f"-m{args.streams}", f"-t{args.threads}",
            f"-D{args.duration}", f"--connect-to={ip}:{port}", f"--log-file={logfile}",
            f"https://{HOST}:{port}/"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=args.duration + 30)
    text = out.stdout + out.stderr
    m = re.search(r"finished in ([\d.]+)(\w+), ([\d.]+) req/s", text)
    r = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", text)
    s = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    if out.returncode != 0 or not (m and r and s):
        raise RuntimeError(f"h2load failed ({out.returncode}): {text.strip()[:500]}")
    if "Application protocol: h2" not in text:
        raise RuntimeError("h2load did not negotiate h2:\n" + text[:500])
    done = int(r.group(3))
    errors = int(r.group(5)) + int(r.group(6)) + int(r.group(7)) + int(s.group(3)) + int(s.group(4))
    durations = []
    with open(logfile) as f:
        for line in f:
            parts = line.split("\t")
            if len(parts) >= 3:
                durations.append(int(parts[2]))
    durations.sort()

    def pct(p: float) -> float:
        if not durations:
            return float("nan")
        return durations[min(len(durations) - 1, int(p / 100.0 * len(durations)))] / 1000.0

    return {"requests": done, "rps": float(m.group(3)), "p50_ms": pct(50), "p99_ms": pct(99),
            "errors": errors, "raw": text}


# ---------------------------------------------------------------------------------------------
# the run

class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="strait-bench-")
        self.servers: list[Server] = []
        self.origins: list[Server] = []
        self.targets: dict[str, dict] = {}  # name -> {server, ip, port, tls_port, tls, h2, note}

    def start(self, name: str, argv: list[str], cpus: str = "") -> Server:
        if cpus:
            argv = ["taskset", "-c", cpus] + argv  # taskset execs: the PID stays the server's
        s = Server(name, argv, self.tmp)
        self.servers.append(s)
        return s

    def stop_all(self) -> None:
        for s in reversed(self.servers):
            s.stop()
        self.servers.clear()

    def check_ports(self, ports: list[tuple[str, int]]) -> None:
        busy = [f"{ip}:{p}" for ip, p in ports if not port_free(ip, p)]
        if busy:
            raise RuntimeError(f"ports in use: {', '.join(busy)} (choose others with --port-base "
                               "/ --origin-port)")

    def setup(self) -> None:
        a = self.args
        cert = self.cert = make_certificate(self.tmp)
        op, otls = a.origin_port, a.origin_port + 363
        base = a.port_base
        ports = {
            "strait": (base + 80, base + 443, base + 254),
            "nginx": (base + 81, base + 444),
            "haproxy": (base + 82, base + 445),
        }
        self.check_ports([(ip, op) for ip in ORIGIN_IPS] + [(ORIGIN_IPS[0], otls)]
                         + [(PROXY_IP, p) for v in ports.values() for p in v])

        # Origins.
        origins = []
        for i, ip in enumerate(ORIGIN_IPS):
            conf = os.path.join(self.tmp, f"origin{i + 1}.conf")
            with open(conf, "w") as f:
                f.write(origin_config(self.tmp, i, ip, op, otls if i == 0 else None, cert))
            origins.append(self.start(f"origin{i + 1}", ["nginx", "-c", conf, "-e", "stderr"],
                                      a.client_cpus))
        self.origins = origins
        for s, ip in zip(origins, ORIGIN_IPS):
            wait_until(lambda ip=ip: http_get(ip, op) == (200, BODY), 10, s.name, s)
        self.targets["direct"] = {"server": origins[0], "ip": ORIGIN_IPS[0], "port": op,
                                  "tls_port": otls, "tls": True, "h2": True, "note": ""}

        # strait.
        manifests = os.path.join(self.tmp, "manifests")
        strait_manifests(manifests, op, cert)
        sp, stls, shz = ports["strait"]
        strait = self.start("strait", [
            a.strait_bin, "--manifests", manifests, "--bind-address", PROXY_IP,
            "--http-port", str(sp), "--https-port", str(stls), "--healthz-host", PROXY_IP,
            "--healthz-port", str(shz), "--workers", "1", "--access-log=false",
            "--keepalive-requests", "1000000",
            "--shutdown-grace-period", "1s"], a.proxy_cpus)

        def strait_ready() -> bool:
            c = http.client.HTTPConnection(PROXY_IP, shz, timeout=1)
            try:
                c.request("GET", "/readyz")
                return c.getresponse().status == 200
            finally:
                c.close()
        wait_until(strait_ready, 15, "strait /readyz", strait)
        wait_until(lambda: http_get(PROXY_IP, sp) == (200, BODY), 10, "strait HTTP", strait)
        tls, h2, note = self.probe_tls("strait", sp, stls)
        self.targets["strait"] = {"server": strait, "ip": PROXY_IP, "port": sp, "tls_port": stls,
                                  "tls": tls, "h2": h2, "note": note}

        # nginx.
        np_, ntls = ports["nginx"]
        nginx = start_peer(self, "nginx", np_, ntls, op, cert, a.peer_headers == "ingress-nginx",
                           a.proxy_cpus)
        self.targets["nginx"] = {"server": nginx, "ip": PROXY_IP, "port": np_, "tls_port": ntls,
                                 "tls": True, "h2": True, "note": ""}

        # HAProxy.
        hp, htls = ports["haproxy"]
        haproxy = start_peer(self, "haproxy", hp, htls, op, cert,
                             a.peer_headers == "ingress-nginx", a.proxy_cpus)
        self.targets["haproxy"] = {"server": haproxy, "ip": PROXY_IP, "port": hp,
                                   "tls_port": htls, "tls": True, "h2": True, "note": ""}

        # The peers and the ceiling must serve TLS with our certificate and h2: they are the
        # reference, a failure there is a broken bench, not a result.
        for name in ("direct", "nginx", "haproxy"):
            t = self.targets[name]
            der, _ = tls_probe(t["ip"], t["tls_port"], ["http/1.1"])
            _, proto = tls_probe(t["ip"], t["tls_port"], ["h2", "http/1.1"])
            if der != cert["der"] or proto != "h2":
                raise RuntimeError(f"{name}: TLS certificate or ALPN h2 not as configured")

    def probe_tls(self, name: str, port: int, tls_port: int) -> tuple[bool, bool, str]:
        """strait's TLS rows run only when its --https-port really serves TLS with our cert."""
        help_text = subprocess.run([self.args.strait_bin, "--help"], capture_output=True,
                                   text=True).stdout
        line = next((l.strip() for l in help_text.splitlines() if "--https-port" in l), "")
        if not line:
            return False, False, "`strait --help` lists no --https-port"
        try:
            der, _ = tls_probe(PROXY_IP, tls_port, ["http/1.1"])
        except (OSError, ssl.SSLError) as e:
            return False, False, f"--https-port does not serve TLS ({type(e).__name__}: {e}; " \
                                 f"--help says: \"{' '.join(line.split()[2:])}\")"
        if der != self.cert["der"]:
            return False, False, "serves TLS but not the bench certificate (Secret bench/bench-tls)"
        try:
            _, proto = tls_probe(PROXY_IP, tls_port, ["h2", "http/1.1"])
        except (OSError, ssl.SSLError) as e:
            return True, False, f"TLS works; h2 probe failed: {e}"
        if proto != "h2":
            return True, False, f"TLS works; ALPN offered h2, got {proto!r}"
        return True, True, ""

    def available(self, target: str, load: str) -> tuple[bool, str]:
        t = self.targets[target]
        if load == "tls" and not t["tls"]:
            return False, t["note"]
        if load == "h2" and not t["h2"]:
            return False, t["note"]
        return True, ""

    def run_cell(self, target: str, load: str) -> dict:
        t = self.targets[target]
        server: Server = t["server"]
        if not server.alive():
            raise RuntimeError(f"{target} died:\n{server.tail()}")
        pids = server.pids()
        origin_pids = [p for o in self.origins for p in o.pids()]
        u0, s0 = cpu_ticks(pids)
        ou0, os0 = cpu_ticks(origin_pids)
        c0 = children_cpu()
        b0, m0, q0 = machine_ticks()
        t0 = time.monotonic()
        if load == "h1":
            r = run_wrk(self.args, self.tmp, t["ip"], t["port"], "http", close=False)
        elif load == "h1-close":
            r = run_wrk(self.args, self.tmp, t["ip"], t["port"], "http", close=True)
        elif load == "tls":
            r = run_wrk(self.args, self.tmp, t["ip"], t["tls_port"], "https", close=False)
        else:
            r = run_h2load(self.args, self.tmp, t["ip"], t["tls_port"])
        wall = time.monotonic() - t0
        u1, s1 = cpu_ticks(pids)
        ou1, os1 = cpu_ticks(origin_pids)
        c1 = children_cpu()
        b1, m1, q1 = machine_ticks()
        # Where the cores went: the proxy, the origins, the load generator, everything (in
        # "cores"; the machine has os.cpu_count()). Tells whether the proxy was the bottleneck.
        r["origins_cores"] = ((ou1 - ou0) + (os1 - os0)) / CLK_TCK / wall
        r["client_cores"] = (c1 - c0) / wall
        r["machine_busy"] = (b1 - b0) / max(m1 - m0, 1)
        r["softirq_cores"] = (q1 - q0) / max(m1 - m0, 1) * (os.cpu_count() or 1)
        if not server.alive():
            raise RuntimeError(f"{target} died during {load}:\n{server.tail()}")
        r["user_ticks"], r["sys_ticks"] = u1 - u0, s1 - s0
        r["wall_s"] = wall
        n = max(r["requests"], 1)
        r["user_us"] = (u1 - u0) * 1e6 / CLK_TCK / n
        r["sys_us"] = (s1 - s0) * 1e6 / CLK_TCK / n
        r["cpu_us"] = r["user_us"] + r["sys_us"]
        r["cpu_util"] = ((u1 - u0) + (s1 - s0)) / CLK_TCK / wall
        return r

    def run(self) -> dict:
        a = self.args
        loads = a.loads
        results: dict[str, dict[str, list]] = {l: {t: [] for t in TARGETS} for l in loads}
        skipped: dict[str, dict[str, str]] = {l: {} for l in loads}
        if a.warmup > 0:
            log(f"warm-up: {a.warmup}s of HTTP/1.1 keep-alive per target")
            saved = a.duration
            a.duration = a.warmup
            for t in TARGETS:
                self.run_cell(t, "h1")
            a.duration = saved
        total = a.rounds * len(loads) * len(TARGETS)
        n = 0
        for rnd in range(a.rounds):
            order = TARGETS[rnd % len(TARGETS):] + TARGETS[:rnd % len(TARGETS)]
            for load in loads:
                for target in order:
                    n += 1
                    ok, why = self.available(target, load)
                    if not ok:
                        skipped[load][target] = why
                        continue
                    try:
                        r = self.run_cell(target, load)
                    except RuntimeError as e:
                        # A load generator's output we can not read (a starved wrk on a shared
                        # machine): once more after a pause; a dead proxy fails again and ends
                        # the run.
                        log(f"[{n:3}/{total}] round {rnd + 1} {load} {target}: {e}; retrying once")
                        time.sleep(max(a.pause, 2.0))
                        r = self.run_cell(target, load)
                        r["retried"] = True
                    r["round"] = rnd + 1
                    results[load][target].append(r)
                    log(f"[{n:3}/{total}] round {rnd + 1} {load:8} {target:8} "
                        f"{r['rps']:10.0f} req/s  p50 {r['p50_ms']:7.2f} ms  "
                        f"p99 {r['p99_ms']:7.2f} ms  cpu {r['cpu_us']:6.1f} us/req "
                        f"(user {r['user_us']:.1f}, sys {r['sys_us']:.1f}; "
                        f"{r['cpu_util'] * 100:.0f}% of a core; origins "
                        f"{r['origins_cores'] * 100:.0f}%, client {r['client_cores'] * 100:.0f}%, "
                        f"softirq {r['softirq_cores'] * 100:.0f}%, "
                        f"machine busy {r['machine_busy'] * 100:.0f}%)  errors {r['errors']}")
                    time.sleep(a.pause)
        return {"results": results, "skipped": skipped}


# ---------------------------------------------------------------------------------------------
# report

def summarise(rounds: list[dict]) -> dict | None:
    if not rounds:
        return None
    reqs = sum(r["requests"] for r in rounds)
    rps = [r["rps"] for r in rounds]
    return {
        "rps": statistics.median(rps),
        "rps_min": min(rps),
        "rps_max": max(rps),
        "p50_ms": statistics.median(r["p50_ms"] for r in rounds),
        "p99_ms": statistics.median(r["p99_ms"] for r in rounds),
        "errors": sum(r["errors"] for r in rounds),
        # Ticks summed over rounds / requests summed: finer than a median of coarse ticks.
        "user_us": sum(r["user_ticks"] for r in rounds) * 1e6 / CLK_TCK / max(reqs, 1),
        "sys_us": sum(r["sys_ticks"] for r in rounds) * 1e6 / CLK_TCK / max(reqs, 1),
        "cpu_util": statistics.median(r["cpu_util"] for r in rounds),
        "rounds": len(rounds),
    }


def round_ratios(by_target: dict[str, list]) -> list[dict]:
    """strait against the peers within each round: [{throughput, cpu, p99, ceiling}, ...]."""
    out = []
    strait = {r["round"]: r for r in by_target.get("strait", [])}
    for rnd, st in sorted(strait.items()):
        peers = [r for p in PEERS for r in by_target.get(p, []) if r["round"] == rnd]
        direct = [r for r in by_target.get("direct", []) if r["round"] == rnd]
        if not peers:
            continue
        best_rps = max(p["rps"] for p in peers)
        lowest_cpu = min(p["cpu_us"] for p in peers)
        best_p99 = min(p["p99_ms"] for p in peers)
        out.append({
            "round": rnd,
            "throughput": st["rps"] / best_rps if best_rps else None,
            "cpu": st["cpu_us"] / lowest_cpu if lowest_cpu else None,
            "p99": st["p99_ms"] / best_p99 if best_p99 else None,
            "ceiling": st["rps"] / direct[0]["rps"] if direct and direct[0]["rps"] else None,
        })
    return out


def fmt_ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}x"


def build_report(args, machine: dict, data: dict) -> tuple[str, dict]:
    results, skipped = data["results"], data["skipped"]
    summary = {l: {t: summarise(results[l][t]) for t in TARGETS} for l in args.loads}
    lines = []
    lines.append("| load | proxy | req/s (median) | round spread | p50 ms | p99 ms | errors "
                 "| CPU us/req | user | sys | proxy CPU |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for load in args.loads:
        for t in TARGETS:
            s = summary[load][t]
            label = LABELS[t]
            if s is None:
                lines.append(f"| {load} | {label} | n/a | | n/a | n/a | n/a | n/a | | | |")
                continue
            spread = (s["rps_max"] - s["rps_min"]) / s["rps"] * 100 if s["rps"] else 0
            cpu_label = "origin CPU" if t == "direct" else ""
            lines.append(
                f"| {load} | {label} | {s['rps']:,.0f} | ±{spread / 2:.1f}% | {s['p50_ms']:.2f} "
                f"| {s['p99_ms']:.2f} | {s['errors']} | {s['user_us'] + s['sys_us']:.1f}"
                f"{' (origin)' if cpu_label else ''} | {s['user_us']:.1f} | {s['sys_us']:.1f} "
                f"| {s['cpu_util'] * 100:.0f}% |")
    table = "\n".join(lines)

    # Ratios per round first: the cells of one round ran minutes apart at most, while the load
    # other tenants put on a shared machine drifts across a run, so strait / peer within a round
    # is the steadier figure. The headline is the median of the per-round ratios.
    ratio_lines = ["| load | throughput strait / best peer | CPU/req strait / lowest peer "
                   "| p99 strait / best peer p99 | strait / ceiling |",
                   "|---|---:|---:|---:|---:|"]
    ratios = {}
    for load in args.loads:
        per_round = round_ratios(results[load])
        if not per_round:
            ratio_lines.append(f"| {load} | n/a | n/a | n/a | n/a |")
            ratios[load] = None
            continue
        r = {}
        cells = []
        for key in ("throughput", "cpu", "p99", "ceiling"):
            vals = [x[key] for x in per_round if x[key] is not None]
            r[key] = statistics.median(vals) if vals else None
            r[key + "_rounds"] = vals
            each = ", ".join(f"{v:.2f}" for v in vals)
            cells.append(f"{fmt_ratio(r[key])} ({each})" if len(vals) > 1 else fmt_ratio(r[key]))
        ratios[load] = r
        ratio_lines.append(f"| {load} | " + " | ".join(cells) + " |")
    ratio_lines.append("")
    ratio_lines.append("Each ratio is the median over rounds of that round's ratio (every round's "
                       "value in brackets); \"best peer\" and \"lowest peer\" are taken per round "
                       "among nginx and HAProxy. Below 1.00x is better for CPU/req and p99, above "
                       "for throughput.")
    return table + "\n\n" + "\n".join(ratio_lines), {"summary": summary, "ratios": ratios}


def write_chart(args, path_png: str, tmp: str, summary: dict, skipped: dict, title: str) -> bool:
    if shutil.which("gnuplot") is None:
        log("gnuplot not found: no chart")
        return False
    dat = os.path.join(tmp, "chart.dat")
    with open(dat, "w") as f:
        f.write("load " + " ".join(TARGETS) + "\n")
        for load in args.loads:
            vals = []
            for t in TARGETS:
                s = summary[load][t]
                vals.append("-" if s is None else f"{s['rps']:.0f}")
            f.write(f"\"{load}\" " + " ".join(vals) + "\n")
    n = len(TARGETS)
    labels = []
    for i, load in enumerate(args.loads):
        for j, t in enumerate(TARGETS):
            if summary[load][t] is None:
                x = i + (j - (n - 1) / 2) / (n + 1)
                labels.append(f'set label "n/a" at {x:.3f}, graph 0.03 center rotate by 90 '
                              f'font ",9" tc rgb "#b00000"')
    colors = ["#999999", "#d62728", "#2ca02c", "#1f77b4"]
    plots = []
    for j, t in enumerate(TARGETS):
        using = f"{j + 2}:xtic(1)" if j == 0 else f"{j + 2}"
        plots.append(f"'{dat}' using {using} title '{LABELS[t]}' lc rgb '{colors[j]}'")
    script = f"""
set terminal pngcairo size 1100,600 font "sans,10"
set output '{path_png}'
set title "{title}"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.95
set datafile missing "-"
set key autotitle columnhead top right
set ylabel "requests/s (median of rounds)"
set yrange [0:*]
set xrange [-0.6:{len(args.loads) - 0.4}]
set grid ytics
set format y "%.0s%c"
{chr(10).join(labels)}
plot {", ".join(plots)}
"""
    gp = os.path.join(tmp, "chart.gp")
    with open(gp, "w") as f:
        f.write(script)
    out = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
    if out.returncode != 0:
        log("gnuplot failed: " + out.stderr[:500])
        return False
    return True


def machine_info(args) -> dict:
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break

    def version(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (out.stdout + out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    commit = version(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu_model": model,
        "kernel": os.uname().release,
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
        "strait": f"{version([args.strait_bin, '--version'])} ({args.strait_bin}, commit {commit}"
                  f"{', uncommitted changes in the tree' if dirty else ''})",
        "nginx": version(["nginx", "-v"]),
        "haproxy": version(["haproxy", "-v"]),
        "wrk": version(["wrk", "-v"]),
        "h2load": version(["h2load", "--version"]),
        "openssl": version(["openssl", "version"]),
    }


def write_outputs(args, machine: dict, data: dict, strait_note: str, tmp: str) -> tuple[str, str]:
    """Writes results/http-<date>.{md,png,json}; returns (report text, paths written)."""
    report, derived = build_report(args, machine, data)
    day = machine["date"][:10]
    stem = f"http-{day}{('-' + args.tag) if args.tag else ''}"
    os.makedirs(args.results_dir, exist_ok=True)
    png = os.path.join(args.results_dir, stem + ".png")
    title = (f"strait vs nginx vs HAProxy, one worker each, {machine['cores']} cores, "
             f"{machine['date']}")
    have_chart = write_chart(args, png, tmp, derived["summary"], data["skipped"], title)
    md = [f"# HTTP benchmark: strait vs nginx vs HAProxy ({machine['date']})", ""]
    md.append(f"Machine: {machine['cores']} cores, {machine['cpu_model']}, Linux "
              f"{machine['kernel']}; load average {' '.join(machine['loadavg_start'])} at the "
              f"start, {' '.join(machine['loadavg_end'])} at the end (the machine is shared: "
              "read ratios, not absolute figures).")
    md.append("")
    md.append(f"Versions: {machine['strait']}; {machine['nginx']}; {machine['haproxy']}; "
              f"{machine['wrk']}; {machine['h2load']}; {machine['openssl']}.")
    md.append("")
    md.append(f"Run: `bench/run.sh --duration {args.duration} --rounds {args.rounds}"
              f"{' --pin ' + args.pin if args.pin else ''}"
              f"{' --loads ' + ','.join(args.loads) if args.loads != list(LOADS) else ''}`: "
              f"{args.rounds} rounds, proxies alternated in every round (order rotated each "
              f"round), {args.duration} s per cell, {args.connections} connections, "
              f"{args.threads} client threads"
              + (f", proxies pinned to CPU {args.proxy_cpus}, clients and origins to CPU "
                 f"{args.client_cpus}" if args.pin else ", no CPU pinning")
              + f"{f', h2load -m{args.streams}' if 'h2' in args.loads else ''}. "
              f"One worker per proxy in front of three nginx origins (127.0.3.1-3, one worker "
              f"each, {len(BODY)}-byte body); `direct` is wrk straight to the first origin. "
              + ("The peers add the forwarded headers ingress-nginx and strait add (Host, "
                 "X-Request-ID, X-Real-IP, X-Forwarded-For/-Host/-Port/-Proto/-Scheme, X-Scheme; "
                 "`--peer-headers ingress-nginx`)."
                 if getattr(args, "peer_headers", "none") == "ingress-nginx"
                 else "The peers add no headers (`--peer-headers none`); strait adds the "
                      "ingress-nginx forwarded headers."))
    md.append("")
    md.append("Loads: " + "; ".join(f"`{k}` = {v}" for k, v in LOADS.items() if k in args.loads)
              + ".")
    md.append("")
    md.append("req/s, p50 and p99 are medians over the rounds; round spread is half the "
              "max-min range of req/s; CPU us/req is the proxy's own user+system time "
              "(/proc/PID/stat, all its processes and threads) over every round divided by the "
              "requests served (for `direct`: the origin's); proxy CPU is the share of one core "
              "the proxy used during the cell.")
    if strait_note:
        md.append("")
        md.append(f"**strait TLS and HTTP/2 rows: n/a**: {strait_note}. The peers' figures "
                  "are measured.")
    md.append("")
    md.append(report)
    if have_chart:
        md.append("")
        md.append(f"![throughput per proxy and load]({stem}.png)")
    md.append("")
    md.append("<details><summary>Every round</summary>")
    md.append("")
    md.append("Core shares are in % of one core during the cell: the proxy, the three origins, "
              "the load generator (wrk/h2load), softirq time (loopback TCP's receive path, "
              "charged to no process, so outside every CPU us/req figure), and the share of all "
              "cores busy (any process, ours or not: the machine is shared).")
    md.append("")
    md.append("| load | proxy | round | req/s | p50 ms | p99 ms | errors | CPU us/req | user "
              "| sys | proxy core | origins | client | softirq | machine busy |")
    md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for load in args.loads:
        for t in TARGETS:
            for r in data["results"][load][t]:
                md.append(f"| {load} | {LABELS[t]} | {r['round']} | {r['rps']:,.0f} "
                          f"| {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} "
                          f"| {r['cpu_us']:.1f} | {r['user_us']:.1f} | {r['sys_us']:.1f} "
                          f"| {r['cpu_util'] * 100:.0f}% "
                          f"| {'-' if t == 'direct' else format(r['origins_cores'] * 100, '.0f') + '%'} "
                          f"| {r['client_cores'] * 100:.0f}% | {r['softirq_cores'] * 100:.0f}% "
                          f"| {r['machine_busy'] * 100:.0f}% |")
    md.append("")
    md.append("</details>")
    md_text = "\n".join(md) + "\n"
    md_path = os.path.join(args.results_dir, stem + ".md")
    with open(md_path, "w") as f:
        f.write(md_text)
    raw = {"machine": machine, "args": {k: v for k, v in vars(args).items()},
           "strait_note": strait_note, "skipped": data["skipped"],
           "rounds": {l: {t: [{k: v for k, v in r.items() if k != "raw"}
                              for r in data["results"][l][t]] for t in TARGETS}
                      for l in args.loads},
           "summary": derived["summary"], "ratios": derived["ratios"]}
    with open(os.path.join(args.results_dir, stem + ".json"), "w") as f:
        json.dump(raw, f, indent=1)

    return report, md_path + (f", {png}" if have_chart else "")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--strait-bin", default=os.environ.get("STRAIT_BIN",
                                                          os.path.join(ROOT, "build-bench", "strait")))
    p.add_argument("--duration", type=int, default=int(os.environ.get("DURATION", 10)),
                   help="seconds per cell (default 10)")
    p.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", 2)),
                   help="A/B rounds (default 2)")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--threads", type=int, default=2, help="wrk/h2load threads (default 2)")
    p.add_argument("--streams", type=int, default=10, help="h2load streams per connection")
    p.add_argument("--loads", default="h1,h1-close,tls,h2",
                   help="comma-separated subset of " + ",".join(LOADS))
    p.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per target (0: none)")
    p.add_argument("--pause", type=float, default=1.0, help="seconds between cells")
    p.add_argument("--port-base", type=int, default=28000,
                   help="proxies listen on 127.0.0.1:BASE+80..82 (HTTP), +443..445 (TLS)")
    p.add_argument("--origin-port", type=int, default=18080,
                   help="origins listen on 127.0.3.1-3:PORT (TLS ceiling on PORT+363)")
    p.add_argument("--pin", default=os.environ.get("PIN", ""), metavar="PROXY_CPUS:CLIENT_CPUS",
                   help="pin the proxies to PROXY_CPUS and wrk/h2load and the origins to "
                        "CLIENT_CPUS (taskset lists, e.g. 0:1); default: no pinning")
    p.add_argument("--peer-headers", choices=["ingress-nginx", "none"], default="ingress-nginx",
                   help="forwarded headers the peers add: the ingress-nginx set strait adds "
                        "(X-Request-ID, X-Real-IP, X-Forwarded-*, X-Scheme, Host; default), "
                        "or none (runs before 2026-11-26 06:30 UTC)")
    p.add_argument("--results-dir", default=os.path.join(ROOT, "bench", "results"))
    p.add_argument("--tag", default="", help="suffix for the result file names")
    p.add_argument("--report-from", metavar="JSON",
                   help="measure nothing: rebuild the report of an earlier run from its .json")
    args = p.parse_args()
    if args.report_from:
        return report_from(args.report_from, args.results_dir, args.tag)
    args.proxy_cpus, _, args.client_cpus = args.pin.partition(":")
    if args.pin and not (args.proxy_cpus and args.client_cpus):
        p.error("--pin wants PROXY_CPUS:CLIENT_CPUS, e.g. 0:1")
    args.loads = [l for l in args.loads.split(",") if l]
    bad = [l for l in args.loads if l not in LOADS]
    if bad or not args.loads:
        p.error(f"unknown load(s) {bad}; choose from {list(LOADS)}")
    if args.rounds < 1 or args.duration < 1:
        p.error("--rounds and --duration must be >= 1")
    if not os.access(args.strait_bin, os.X_OK):
        p.error(f"no strait binary at {args.strait_bin} (bench/run.sh builds it)")

    machine = machine_info(args)
    bench = Bench(args)

    def on_signal(signum, _frame):
        bench.stop_all()
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        log(f"setting up in {bench.tmp}")
        bench.setup()
        note = bench.targets["strait"]["note"]
        if note:
            log(f"strait TLS/HTTP2 rows: n/a: {note}")
        data = bench.run()
    except BaseException:
        bench.stop_all()
        log(f"failed; configs and server logs kept in {bench.tmp}")
        raise
    finally:
        bench.stop_all()
    machine["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    strait_note = bench.targets.get("strait", {}).get("note", "")

    report, written = write_outputs(args, machine, data, strait_note, bench.tmp)
    print()
    print(report)
    if strait_note:
        print(f"\nstrait TLS/HTTP2: n/a ({strait_note})")
    print(f"\nwritten: {written}")
    shutil.rmtree(bench.tmp, ignore_errors=True)
    return 0


def report_from(path: str, results_dir: str, tag: str) -> int:
    """Rebuilds the .md/.png/.json of an earlier run from its .json (no measurement)."""
    raw = json.load(open(path))
    args = argparse.Namespace(**raw["args"])
    args.results_dir, args.tag = results_dir, tag
    results = {l: {t: raw["rounds"][l].get(t, []) for t in TARGETS} for l in args.loads}
    note = raw.get("strait_note", "")
    skipped = raw.get("skipped") or {
        l: {t: note for t in TARGETS if not results[l][t]} for l in args.loads}
    with tempfile.TemporaryDirectory(prefix="strait-bench-report-") as tmp:
        report, written = write_outputs(args, raw["machine"], {"results": results,
                                                               "skipped": skipped}, note, tmp)
    print(report)
    print(f"\nwritten: {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
