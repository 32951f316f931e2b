#!/usr/bin/env python3
"""What one request costs strait, in counts that do not depend on the machine's other tenants:
instructions (valgrind --tool=callgrind) and system calls (strace -c), per request, under a fixed
wrk load; plus CPU microseconds per request from /proc (noisy on a shared machine), and `perf`:
a `perf record` profile of user and kernel time by symbol, written to a text file.

Each of --binaries (strait builds to compare, e.g. before and after a change; `nginx` and
`haproxy` name the peers, in one process each) is measured in the same way, one after the other,
in front of the same three nginx origins as bench/http_bench.py. The h2 load is h2load over TLS
(--connections x 10 streams).

  bench/request_cost.py --binaries base=/path/strait,new=build-bench/strait[,nginx,haproxy] \
      [--loads h1,h1-close,tls,h2] [--measure callgrind,strace,cpu,perf] [--seconds 4] \
      [--connections 4] [--peer-headers ingress-nginx|none] [--keep-profile PREFIX]
"""

import argparse
import glob
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_bench as hb  # noqa: E402
import perf_profile  # noqa: E402

LOADS = {"h1": ("http", False), "h1-close": ("http", True), "tls": ("https", False),
         "h2": ("h2", False)}
# --binaries entries without a path: the peers, configured as in bench/http_bench.py (one
# process, so that callgrind and strace see all of their work).
PEERS = ("nginx", "haproxy")


def run_load(args, tmp: str, scheme: str, port: int, close: bool) -> int:
    """wrk (or h2load for h2) for --seconds; the requests served."""
    if scheme == "h2":
        return h2load(args, port)
    cmd = ["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s",
           "-H", f"Host: {hb.HTTP_HOST if scheme == 'http' else hb.HOST}"]
    if close:
        cmd += ["-H", "Connection: close"]
    if scheme == "https":
        cmd += ["-s", hb.wrk_script(tmp, hb.PROXY_IP)]
        url = f"https://{hb.HOST}:{port}/"
    else:
        url = f"http://{hb.PROXY_IP}:{port}/"
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=args.seconds + 60).stdout
    m = re.search(r"(\d+) requests in", out)
    if not m or "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk: {out}")
    return int(m.group(1))


def h2load(args, port: int) -> int:
    """HTTP/2 over TLS, --connections x 10 streams, for --seconds."""
    out = subprocess.run(["h2load", f"-c{args.connections}", "-m10", "-t1", f"-D{args.seconds}",
                          f"--connect-to={hb.PROXY_IP}:{port}", f"https://{hb.HOST}:{port}/"],
                         capture_output=True, text=True, timeout=args.seconds + 60).stdout
    m = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    if not m or m.group(1) != m.group(2) or "Application protocol: h2" not in out:
        raise RuntimeError(f"h2load: {out}")
    return int(m.group(2))


def start_target(args, bench: hb.Bench, binary: str, manifests: str, port: int, prefix: list[str],
                 cert: dict) -> hb.Server:
    if binary not in PEERS:
        return start_strait(bench, binary, manifests, port, prefix)
    return hb.start_peer(bench, binary, port, port + 1, args.origin_port, cert,
                         args.peer_headers == "ingress-nginx", prefix=prefix, one_process=True)


def start_strait(bench: hb.Bench, binary: str, manifests: str, port: int, prefix: list[str]) -> hb.Server:
    s = bench.start("strait", prefix + [
        binary, "--manifests", manifests, "--bind-address", hb.PROXY_IP, "--http-port", str(port),
        "--https-port", str(port + 1), "--healthz-host", hb.PROXY_IP, "--healthz-port", str(port + 2),
        "--workers", "1", "--access-log=false", "--keepalive-requests", "1000000",
        "--shutdown-grace-period", "1s"])
    hb.wait_until(lambda: hb.http_get(hb.PROXY_IP, port, timeout=5) == (200, hb.BODY), 120, "strait", s)
    return s


def measure(args, bench: hb.Bench, binary: str, manifests: str, load: str, how: str,
            cert: dict) -> float:
    scheme, close = LOADS[load]
    port = args.port
    tls_port = port + 1
    target_port = tls_port if scheme in ("https", "h2") else port
    if how == "callgrind":
        out = os.path.join(bench.tmp, "callgrind.out")
        for f in glob.glob(out + "*"):
            os.remove(f)
        s = start_target(args, bench, binary, manifests, port,
                         ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"], cert)
        for _ in range(50):
            hb.http_get(hb.PROXY_IP, port, timeout=5)
        subprocess.run(["callgrind_control", "-z", str(s.proc.pid)], capture_output=True, check=True)
        n = run_load(args, bench.tmp, scheme, target_port, close)
        subprocess.run(["callgrind_control", "-d", str(s.proc.pid)], capture_output=True, check=True)
        total = 0
        for f in glob.glob(out + ".*"):
            with open(f) as fh:
                for line in fh:
                    if line.startswith("summary:") or line.startswith("totals:"):
                        total = max(total, int(line.split()[1]))
        if args.keep_profile:
            keep = f"{args.keep_profile}.{build_name(binary)}.{load}"
            for f in glob.glob(out + ".*"):
                subprocess.run(["cp", f, keep], check=True)
            print(f"callgrind profile: {keep} (callgrind_annotate {keep})", file=sys.stderr)
        bench.stop_all()
        return total / n
    s = start_target(args, bench, binary, manifests, port, [], cert)
    for _ in range(200):
        hb.http_get(hb.PROXY_IP, port)
    if how == "strace":
        log = os.path.join(bench.tmp, "strace.txt")
        tracer = subprocess.Popen(["strace", "-c", "-f", "-o", log, "-p", str(s.proc.pid)])
        time.sleep(0.5)
        n = run_load(args, bench.tmp, scheme, target_port, close)
        tracer.send_signal(2)
        tracer.wait(timeout=30)
        if args.keep_profile:
            keep = f"{args.keep_profile}.{build_name(binary)}.{load}.strace"
            subprocess.run(["cp", log, keep], check=True)
            print(f"system calls by kind: {keep}", file=sys.stderr)
        calls = 0
        with open(log) as fh:
            for line in fh:
                parts = line.split()
                if line.strip().endswith("total") and len(parts) >= 3:
                    calls = int(parts[3])
        bench.stop_all()
        return calls / n
    if how == "perf":
        recording = perf_profile.Recording(s.proc.pid,
                                           f"{args.keep_profile or 'perf'}.{build_name(binary)}.{load}")
        n = run_load(args, bench.tmp, scheme, target_port, close)
        print(f"perf profile: {recording.stop()} (perf report -i {recording.prefix}.data)",
              file=sys.stderr)
        bench.stop_all()
        return float(n)
    before = sum(hb.cpu_ticks([s.proc.pid]))
    n = run_load(args, bench.tmp, scheme, target_port, close)
    after = sum(hb.cpu_ticks([s.proc.pid]))
    bench.stop_all()
    return (after - before) / hb.CLK_TCK * 1e6 / n


def build_name(binary: str) -> str:
    """A profile's file name part: the peer's name, or the strait binary's build folder."""
    return binary if binary in PEERS else os.path.basename(os.path.dirname(binary))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--binaries", required=True,
                   help="name=path,... (strait builds); nginx and haproxy name the peers")
    p.add_argument("--loads", default="h1,h1-close")
    p.add_argument("--measure", default="callgrind,strace")
    p.add_argument("--seconds", type=int, default=4)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--keep-profile", default="", help="copy callgrind's profile to PREFIX.<build>.<load>")
    p.add_argument("--peer-headers", choices=["ingress-nginx", "none"], default="ingress-nginx",
                   help="forwarded headers the peers add (as bench/http_bench.py)")
    p.add_argument("--port", type=int, default=28380)
    p.add_argument("--origin-port", type=int, default=18380)
    args = p.parse_args()
    binaries = [b.split("=", 1) if "=" in b else (b, b) for b in args.binaries.split(",")]
    origins = hb.Bench(argparse.Namespace())
    cert = hb.make_certificate(origins.tmp)
    op = args.origin_port
    try:
        for i, ip in enumerate(hb.ORIGIN_IPS):
            conf = os.path.join(origins.tmp, f"origin{i + 1}.conf")
            with open(conf, "w") as f:
                f.write(hb.origin_config(origins.tmp, i, ip, op, None, cert))
            s = origins.start(f"origin{i + 1}", ["nginx", "-c", conf, "-e", "stderr"])
            hb.wait_until(lambda ip=ip: hb.http_get(ip, op) == (200, hb.BODY), 10, s.name, s)
        manifests = os.path.join(origins.tmp, "manifests")
        hb.strait_manifests(manifests, op, cert)
        units = {"callgrind": "instructions/request", "strace": "syscalls/request",
                 "cpu": "CPU us/request", "perf": "requests (profile written)"}
        print(f"| load | measure | " + " | ".join(n for n, _ in binaries) + " |")
        print("|---|---|" + "---:|" * len(binaries))
        for load in args.loads.split(","):
            for how in args.measure.split(","):
                cells = []
                for name, path in binaries:
                    values = []
                    for _ in range(args.rounds):
                        bench = hb.Bench(argparse.Namespace())
                        try:
                            values.append(measure(args, bench, path, manifests, load, how, cert))
                        finally:
                            bench.stop_all()
                    cells.append(" / ".join(f"{v:,.1f}" if v < 100 else f"{v:,.0f}" for v in values))
                print(f"| {load} | {units[how]} | " + " | ".join(cells) + " |", flush=True)
    finally:
        origins.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
