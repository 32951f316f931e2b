#!/usr/bin/python3
"""Raw HTTP/2 frames against strait, for the abuse cases a well-behaved client library refuses to
send (RFC 9113 limits, CVE-2023-44487 Rapid Reset, CVE-2024-28182 CONTINUATION flood, HPACK bomb,
SETTINGS/PING floods, MadeYouReset). Uses Debian's python3-hyperframe and python3-hpack.

    h2_probe.py HOST PORT AUTHORITY CASE

Prints one JSON object: what came back (statuses per stream, RST_STREAM codes, GOAWAY code, and
whether the connection was closed), for the C++ test to judge.
"""
import json
import socket
import sys
import time

from hpack import Encoder
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame,
                              PingFrame, RstStreamFrame, SettingsFrame, WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class Probe:
    def __init__(self, host, port, authority, receive_buffer=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer:
            # A small window makes "the client does not read" visible to the server at once,
            # whatever the loopback buffers would otherwise absorb.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(5)
        self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.authority = authority
        self.encoder = Encoder()
        self.buffer = b""
        self.result = {"statuses": {}, "rst": {}, "goaway": None, "closed": False,
                       "settings": {}}
        self.sock.sendall(PREFACE + SettingsFrame(0).serialize())

    def request_headers(self, path="/", method="GET", extra=()):
        fields = [(":method", method), (":scheme", "http"), (":authority", self.authority),
                  (":path", path)] + list(extra)
        return self.encoder.encode(fields)

    def send(self, *frames):
        data = b"".join(f.serialize() for f in frames)
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            self.result["closed"] = True
            return False

    def read_frames(self, until, timeout=5.0):
        """Reads frames until until(result) holds, the connection closes, or timeout."""
        deadline = time.monotonic() + timeout
        while not until(self.result) and not self.result["closed"]:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except OSError:
                self.result["closed"] = True
                break
            if not chunk:
                self.result["closed"] = True
                break
            self.buffer += chunk
            self.parse()
        return self.result

    def parse(self):
        while len(self.buffer) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(self.buffer[:9]))
            if len(self.buffer) < 9 + length:
                return
            frame.parse_body(memoryview(self.buffer[9:9 + length]))
            self.buffer = self.buffer[9 + length:]
            if isinstance(frame, HeadersFrame):
                # Only the :status is needed; the block is small and never split here.
                from hpack import Decoder
                if not hasattr(self, "decoder"):
                    self.decoder = Decoder()
                for name, value in self.decoder.decode(frame.data):
                    if name in (":status", b":status"):
                        value = value.decode() if isinstance(value, bytes) else value
                        if value != "100":
                            self.result["statuses"][str(frame.stream_id)] = int(value)
            elif isinstance(frame, RstStreamFrame):
                self.result["rst"][str(frame.stream_id)] = frame.error_code
            elif isinstance(frame, GoAwayFrame):
                self.result["goaway"] = frame.error_code
            elif isinstance(frame, SettingsFrame) and "ACK" not in frame.flags:
                self.result["settings"] = {str(k): v for k, v in frame.settings.items()}
                self.send(SettingsFrame(0, flags=["ACK"]))


def headers_frame(stream_id, block, end_stream=True, end_headers=True):
    flags = []
    if end_stream:
        flags.append("END_STREAM")
    if end_headers:
        flags.append("END_HEADERS")
    return HeadersFrame(stream_id, data=block, flags=flags)


def case_ok(p):
    p.send(headers_frame(1, p.request_headers("/ok")))
    return p.read_frames(lambda r: "1" in r["statuses"])


def case_settings(p):
    return p.read_frames(lambda r: r["settings"])


def case_authority_mismatch(p):
    p.send(headers_frame(1, p.request_headers("/x", extra=[("host", "other.example")])))
    return p.read_frames(lambda r: "1" in r["statuses"] or "1" in r["rst"])


def case_hpack_bomb(p):
    # One 4 KiB field enters the HPACK table once; each further copy costs one byte on the wire
    # but 4 KiB decoded. 40 copies decode to 160 KiB: over the 64 KiB header-list limit.
    big = "a" * 4000
    p.send(headers_frame(1, p.request_headers("/bomb", extra=[("x-big", big)] * 40)))
    p.read_frames(lambda r: "1" in r["statuses"] or "1" in r["rst"])
    # The connection itself survives: a normal request on it still works.
    p.send(headers_frame(3, p.request_headers("/after")))
    return p.read_frames(lambda r: "3" in r["statuses"] or r["goaway"] is not None)


def case_too_many_streams(p):
    # 200 open streams (no END_STREAM) against our limit of 128.
    p.read_frames(lambda r: r["settings"], timeout=2)
    frames = [headers_frame(1 + 2 * i, p.request_headers("/slow", method="POST"), end_stream=False)
              for i in range(200)]
    p.send(*frames)
    return p.read_frames(lambda r: len(r["rst"]) >= 72, timeout=5)


def case_rapid_reset(p):
    # CVE-2023-44487: HEADERS then RST_STREAM at once, 5000 times.
    sent = 0
    for i in range(5000):
        sid = 1 + 2 * i
        if not p.send(headers_frame(sid, p.request_headers("/rr")), RstStreamFrame(sid, 8)):
            break
        sent += 1
    r = p.read_frames(lambda r: r["goaway"] is not None, timeout=5)
    r["sent"] = sent
    return r


def case_continuation_flood(p):
    # CVE-2024-28182: a header block that never ends. Every fragment is a whole, valid field
    # ("x-a: b", literal without indexing), so only the count of CONTINUATION frames is wrong.
    p.send(headers_frame(1, p.request_headers("/cont"), end_stream=True, end_headers=False))
    sent = 0
    for _ in range(10000):
        if not p.send(ContinuationFrame(1, data=b"\x00\x03x-a\x01b")):
            break
        sent += 1
    r = p.read_frames(lambda r: r["goaway"] is not None, timeout=5)
    r["sent"] = sent
    return r


def case_made_you_reset(p):
    # CVE-2025-8671: frames that make the server reset streams itself, so the client never sends
    # RST_STREAM (which Rapid Reset limits count): a WINDOW_UPDATE that overflows the stream's
    # send window is a stream error (FLOW_CONTROL_ERROR) -- after the request went upstream.
    sent = 0
    for i in range(3000):
        sid = 1 + 2 * i
        if not p.send(headers_frame(sid, p.request_headers("/myr")),
                      WindowUpdateFrame(sid, window_increment=2**31 - 1)):
            break
        sent += 1
    r = p.read_frames(lambda r: r["goaway"] is not None, timeout=5)
    r["sent"] = sent
    return r


def case_idle(p):
    # One request, then nothing: the idle connection gets GOAWAY(NO_ERROR), then is closed.
    p.send(headers_frame(1, p.request_headers("/idle")))
    p.read_frames(lambda r: "1" in r["statuses"])
    return p.read_frames(lambda r: r["closed"], timeout=10)


def case_aborted_uploads(p):
    # 40 uploads of 60,000 bytes each, abandoned with RST_STREAM: 2.4 MB in all, more than the
    # 1 MiB connection window. The server must give the window of bytes it never forwarded
    # back, or the client's next DATA overflows it (FLOW_CONTROL_ERROR).
    p.read_frames(lambda r: r["settings"], timeout=2)
    for i in range(40):
        sid = 1 + 2 * i
        p.send(headers_frame(sid, p.request_headers("/upload", method="POST"), end_stream=False),
               DataFrame(sid, data=b"u" * 16000), DataFrame(sid, data=b"u" * 16000),
               DataFrame(sid, data=b"u" * 16000), DataFrame(sid, data=b"u" * 12000),
               RstStreamFrame(sid, 8))
    p.send(headers_frame(81, p.request_headers("/after-uploads")))
    return p.read_frames(lambda r: "81" in r["statuses"] or r["goaway"] is not None)


def case_ping_flood(p):
    # CVE-2019-9512: PINGs while never reading the ACKs.
    sent = 0
    ping = PingFrame(0, opaque_data=b"12345678").serialize()
    deadline = time.monotonic() + 10
    p.sock.settimeout(2)
    while time.monotonic() < deadline and sent < 400000:
        try:
            p.sock.sendall(ping * 1000)
        except OSError:
            p.result["closed"] = True
            break
        sent += 1000
    r = p.read_frames(lambda r: False, timeout=3)
    r["sent"] = sent
    return r


def case_empty_data_flood(p):
    # CVE-2019-9518: empty DATA frames without END_STREAM on an open stream.
    p.send(headers_frame(1, p.request_headers("/empty", method="POST"), end_stream=False))
    sent = 0
    for _ in range(5000):
        if not p.send(DataFrame(1, data=b"")):
            break
        sent += 1
    r = p.read_frames(lambda r: r["goaway"] is not None, timeout=5)
    r["sent"] = sent
    return r


def main():
    host, port, authority, case = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    p = Probe(host, port, authority, receive_buffer=4096 if case == "ping_flood" else 0)
    result = globals()["case_" + case](p)
    result.pop("settings", None) if case != "settings" else None
    print(json.dumps(result))


if __name__ == "__main__":
    main()
