"""The plain-HTTP control port: fault injection, inspection and seeding. No TLS, no auth: loopback only."""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .status import ApiError


class ControlServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address, app, api):
        self.app, self.api = app, api  # api: the Server object (listener control)
        super().__init__(address, ControlHandler)


class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "strait-fake-apiserver-control"
    sys_version = ""

    def log_message(self, fmt, *args):
        if self.server.app.verbose:
            sys.stderr.write("fake-apiserver control: %s\n" % (fmt % args))

    def _reply(self, code, body):
        data = (json.dumps(body, indent=1, sort_keys=True) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self._headers_buffer.append(b"\r\n" + data)  # one write: no Nagle/delayed-ACK stall
        self.flush_headers()

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw.strip():
            return {}
        return json.loads(raw)

    def do_GET(self):
        app = self.server.app
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/stats":
            out = app.activity.snapshot()
            out.update(app.faults.snapshot())
            with app.store.cond:
                out["resourceVersion"] = str(app.store.rv)
                out["compactedResourceVersion"] = str(app.store.compacted)
                out["history"] = len(app.store.history)
            out["accepting"] = self.server.api.accepting()
            return self._reply(200, out)
        if url.path == "/objects":
            with app.store.cond:
                dump = {storage: [obj for _, obj in sorted(objs.items())]
                        for storage, objs in sorted(app.store.data.items())
                        if not q.get("resource") or storage == q["resource"]}
                rv = str(app.store.rv)
            return self._reply(200, {"resourceVersion": rv, "objects": dump})
        if url.path == "/healthz":
            return self._reply(200, {"ok": True})
        return self._reply(404, {"error": f"no control endpoint GET {url.path}"})

    def do_POST(self):
        app = self.server.app
        path = urlsplit(self.path).path
        try:
            body = self._body()
        except ValueError as e:
            return self._reply(400, {"error": f"body must be JSON: {e}"})
        try:
            if path == "/drop-watches":
                n = app.activity.signal_watches("drop")
                app.wake_watches()
                return self._reply(200, {"watches": n})
            if path == "/reset-watches":
                n = app.activity.signal_watches("reset")
                app.wake_watches()
                return self._reply(200, {"watches": n})
            if path == "/fail":
                app.faults.set_fail(body.get("status", 500), body.get("count", 1), body.get("retry_after"),
                                    body.get("match", ""))
                return self._reply(200, app.faults.snapshot())
            if path == "/expire-history":
                with app.store.cond:
                    app.store.expire_history()
                    rv = app.store.rv
                return self._reply(200, {"compactedResourceVersion": str(rv)})
            if path == "/pause":
                app.faults.pause(body.get("seconds", 0))
                return self._reply(200, app.faults.snapshot())
            if path == "/refuse":
                seconds = body.get("seconds")
                n = self.server.api.refuse(seconds)
                return self._reply(200, {"connections_cut": n, "seconds": seconds})
            if path == "/accept":
                self.server.api.accept()
                return self._reply(200, {"accepting": True})
            if path == "/reset-stats":
                app.activity.reset()
                return self._reply(200, {})
            if path == "/objects":
                items = body.get("items") if isinstance(body, dict) and "items" in body else [body]
                out = [app.registry.upsert(item) for item in items]
                return self._reply(200, {"count": len(out), "resourceVersion": str(app.store.rv)})
        except ApiError as e:
            return self._reply(e.code, e.status())
        except (TypeError, ValueError) as e:
            return self._reply(400, {"error": str(e)})
        return self._reply(404, {"error": f"no control endpoint POST {path}"})


def start_control(address, app, api):
    srv = ControlServer(address, app, api)
    threading.Thread(target=srv.serve_forever, name="control", daemon=True).start()
    return srv
