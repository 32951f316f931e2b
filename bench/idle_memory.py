#!/usr/bin/env python3
"""Memory per idle keep-alive client connection: strait, nginx and HAProxy in one run (issue 5).

Each proxy (one worker each, in front of the same nginx origins as bench/http_bench.py) gets N
keep-alive connections on its plain HTTP port, one request each (answered 200), then the
connections stay open and idle. The figure is the proxy's resident memory (VmRSS, summed over its
processes) with the N idle connections minus its resident memory before them, divided by N.
Kernel socket memory is not in RSS: this is the proxy's own per-connection state.

The requests go out in batches (--batch connections at a time, each batch answered before the
next starts), as a population of clients arriving over time would; every proxy gets the same
order. Before the first batch each proxy serves --warmup requests so that one-off allocations
(pools, caches, first-request paths) are not charged to the connections.

With --tls the connections go to the HTTPS ports instead (TLS 1.3, ECDSA P-256, one request
each), opened one after the other: what an idle TLS client costs, OpenSSL's state included.
--h2 does the same with ALPN h2 and one HTTP/2 request per connection (an idle browser tab).

  bench/idle_memory.py [--connections 10000] [--batch 100] [--tls | --h2] [--strait-bin build/strait]
                       [--targets strait,nginx,haproxy] [--out FILE.md]
"""

import argparse
import datetime
import os
import platform
import selectors
import socket
import ssl
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_bench as hb  # noqa: E402  (origins, certificates, configs, process handling)

REQUEST = f"GET / HTTP/1.1\r\nHost: {hb.HTTP_HOST}\r\nUser-Agent: idle-bench\r\n\r\n".encode()
REQUEST_TLS = f"GET / HTTP/1.1\r\nHost: {hb.HOST}\r\nUser-Agent: idle-bench\r\n\r\n".encode()


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def read_response(s, where: str) -> None:
    """Reads one whole response (its Content-Length) from a blocking socket; raises unless 200."""
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError(f"{where}: connection closed before the response")
        data += chunk
        if response_complete(data, where):
            return


def response_complete(data: bytes, where: str) -> bool:
    """Whether data holds a whole response (head and Content-Length body); raises unless 200."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"{where}: {head[:60]!r}")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return len(body) >= length


def h2_frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


# GET https://bench.example/ on stream 1: HPACK static entries :method GET (2), :scheme https
# (7), :path / (4), and :authority (1) with a literal value, no indexing, no Huffman.
H2_REQUEST = (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2_frame(0x4, 0, 0, b"") +
              h2_frame(0x1, 0x5, 1, bytes([0x82, 0x87, 0x84, 0x01, len(hb.HOST)]) + hb.HOST.encode()))


def read_h2_response(s, where: str) -> None:
    """Reads frames until stream 1 ends; raises on a GOAWAY or RST_STREAM, or a status not 200.
    Acknowledges the server's SETTINGS."""
    data, status_ok = b"", False
    while True:
        while len(data) >= 9 and len(data) >= 9 + int.from_bytes(data[:3], "big"):
            n = int.from_bytes(data[:3], "big")
            kind, flags, stream = data[3], data[4], int.from_bytes(data[5:9], "big") & 0x7FFFFFFF
            payload, data = data[9:9 + n], data[9 + n:]
            if kind == 0x4 and not flags & 0x1:
                s.sendall(h2_frame(0x4, 0x1, 0, b""))
            elif kind in (0x3, 0x7):
                raise RuntimeError(f"{where}: HTTP/2 frame type {kind} from the server")
            elif kind == 0x1 and stream == 1:
                status_ok = b"\x88" in payload[:8]  # :status 200 (static entry 8), first field
            if stream == 1 and flags & 0x1 and kind in (0x0, 0x1):
                if not status_ok:
                    raise RuntimeError(f"{where}: HTTP/2 response is not 200")
                return
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError(f"{where}: connection closed before the response")
        data += chunk


def one_request_each_tls(ip: str, port: int, count: int, h2: bool = False) -> list[socket.socket]:
    """Opens count TLS connections one after the other (TLS 1.3 handshake, SNI bench.example,
    ALPN http/1.1 or h2); each sends one request and reads the whole response. Returns the open
    sockets."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"] if h2 else ["http/1.1"])
    kept = []
    for _ in range(count):
        raw = socket.create_connection((ip, port), timeout=30)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s = ctx.wrap_socket(raw, server_hostname=hb.HOST)
        if h2:
            if s.selected_alpn_protocol() != "h2":
                raise RuntimeError(f"{ip}:{port}: ALPN chose {s.selected_alpn_protocol()}, not h2")
            s.sendall(H2_REQUEST)
            read_h2_response(s, f"{ip}:{port}")
        else:
            s.sendall(REQUEST_TLS)
            read_response(s, f"{ip}:{port}")
        kept.append(s)
    return kept


def one_request_each(ip: str, port: int, count: int, batch: int) -> list[socket.socket]:
    """Opens count connections, batch at a time; each sends one request and reads the whole
    response (its Content-Length). Returns the open sockets."""
    kept: list[socket.socket] = []
    sel = selectors.DefaultSelector()
    while len(kept) < count:
        n = min(batch, count - len(kept))
        pending = {}
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.connect((ip, port))
            s.sendall(REQUEST)
            s.setblocking(False)
            pending[s] = b""
            sel.register(s, selectors.EVENT_READ)
        deadline = time.time() + 30
        while pending:
            if time.time() > deadline:
                raise RuntimeError(f"{ip}:{port}: {len(pending)} responses missing")
            for key, _ in sel.select(timeout=1):
                s = key.fileobj
                chunk = s.recv(65536)
                if not chunk:
                    raise RuntimeError(f"{ip}:{port}: connection closed before the response")
                data = pending[s] + chunk
                if response_complete(data, f"{ip}:{port}"):
                    sel.unregister(s)
                    del pending[s]
                    kept.append(s)
                    continue
                pending[s] = data
    sel.close()
    return kept


def still_open(socks: list[socket.socket]) -> int:
    """Connections the proxy has not closed (no EOF readable)."""
    n = 0
    for s in socks:
        if isinstance(s, ssl.SSLSocket):  # MSG_PEEK is not for TLS: look at the TCP socket
            s = socket.socket(fileno=os.dup(s.fileno()))
            try:
                n += still_open([s])
            finally:
                s.close()
            continue
        try:
            if s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                continue
        except BlockingIOError:
            pass
        except OSError:
            continue
        n += 1
    return n


def measure(name: str, server: hb.Server, ip: str, port: int, tls_port: int, count: int,
            args) -> dict:
    pids = server.pids()
    if args.tls or args.h2:
        for s in one_request_each_tls(ip, tls_port, args.warmup, args.h2):  # warm-up only
            s.close()
    for _ in range(args.warmup):
        status, _ = hb.http_get(ip, port)
        if status != 200:
            raise RuntimeError(f"{name}: warm-up answered {status}")
    time.sleep(args.settle)
    before = rss_kib(pids)
    start = time.time()
    if args.tls or args.h2:
        socks = one_request_each_tls(ip, tls_port, count, args.h2)
    else:
        socks = one_request_each(ip, port, count, args.batch)
    took = time.time() - start
    time.sleep(args.settle)
    after = rss_kib(pids)
    open_now = still_open(socks)
    for s in socks:
        s.close()
    per_conn = (after - before) * 1024 / count
    hb.log(f"{name}: RSS {before} -> {after} KiB with {count} idle connections "
           f"({open_now} still open): {per_conn:.0f} B per connection ({took:.1f} s to open)")
    time.sleep(args.settle)
    return {"name": name, "connections": count, "before_kib": before, "after_kib": after, "open": open_now,
            "bytes_per_connection": per_conn}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--strait-bin", default=os.environ.get(
        "STRAIT_BIN", os.path.join(hb.ROOT, "build", "strait")))
    p.add_argument("--connections", type=int, default=10000)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--settle", type=float, default=1.0, help="seconds before each RSS sample")
    p.add_argument("--targets", default="strait,nginx,haproxy")
    p.add_argument("--port-base", type=int, default=28100)
    p.add_argument("--origin-port", type=int, default=18180)
    p.add_argument("--tls", action="store_true",
                   help="TLS 1.3 connections to the HTTPS ports (opened one after the other)")
    p.add_argument("--h2", action="store_true",
                   help="as --tls, with ALPN h2: one HTTP/2 request (stream 1) per connection")
    p.add_argument("--out", default="", help="append a Markdown table to this file")
    args = p.parse_args()

    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Each proxy needs one descriptor per idle connection (HAProxy reserves two per maxconn),
    # and so does this client: raise the limit when we may (root), else stay within it.
    need = 2 * (args.connections + 1000) + 1024
    if hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            hard = need
        except (ValueError, OSError):
            pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    # Reuse http_bench's setup (origins, strait, nginx, HAProxy), with room for the connections.
    ns = argparse.Namespace(origin_port=args.origin_port, port_base=args.port_base,
                            client_cpus="", proxy_cpus="", strait_bin=args.strait_bin,
                            peer_headers="ingress-nginx")
    conns = args.connections + 1000
    orig_nginx, orig_haproxy = hb.nginx_common, hb.haproxy_config
    hb.nginx_common = lambda tmp, name: orig_nginx(tmp, name).replace(
        "worker_connections 8192", f"worker_connections {conns}")
    # HAProxy sizes its descriptor limit as two per connection; the idle connections need one.
    # Without the right to raise the hard limit that caps HAProxy below N: it then gets as many
    # connections as fit (the figure is per connection), and the table says how many.
    haproxy_maxconn = min(conns, (hard - 64) // 2)
    hb.haproxy_config = lambda *a: orig_haproxy(*a).replace("maxconn 8000",
                                                             f"maxconn {haproxy_maxconn}")
    counts = {"haproxy": min(args.connections, haproxy_maxconn - 50)}
    bench = hb.Bench(ns)
    results = []
    try:
        bench.setup()
        for name in args.targets.split(","):
            t = bench.targets[name]
            results.append(measure(name, t["server"], t["ip"], t["port"], t["tls_port"],
                                   counts.get(name, args.connections), args))
    finally:
        bench.stop_all()

    lines = [
        f"### Idle keep-alive {'HTTP/2 ' if args.h2 else 'TLS ' if args.tls else ''}connections ({datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()})",
        "",
        f"`bench/idle_memory.py --connections {args.connections} --batch {args.batch}"
        f"{' --tls' if args.tls else ''}{' --h2' if args.h2 else ''}`: "
        "one request per connection, then idle; RSS delta / connections.",
        "",
        "| proxy | idle connections | RSS before (KiB) | RSS with them (KiB) | still open | "
        "bytes per idle connection |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {hb.LABELS[r['name']]} | {r['connections']:,} | {r['before_kib']:,} | {r['after_kib']:,} | "
                     f"{r['open']:,} | {r['bytes_per_connection']:,.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
