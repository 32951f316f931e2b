"""The HTTPS side: TLS client-certificate or bearer-token authentication, URL routing, the verbs, and
the watch stream."""
import json
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import openapi, protobuf, resources, tables, views
from .faults import Activity, Faults
from .registry import Query, _meta
from .status import ApiError, bad_request, status_body
from .store import _with_rv

VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "0000000000000000000000000000000000000000",
           "gitTreeState": "clean", "buildDate": "2024-12-11T00:00:00Z", "goVersion": "go1.23.3",
           "compiler": "gc", "platform": "linux/amd64"}
PUBLIC_PATHS = ("/version", "/healthz", "/livez", "/readyz")
_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json", "application/apply-patch+yaml")


class App:
    """Everything the handlers share."""

    def __init__(self, store, registry, token, bookmark_interval=1.0, verbose=False):
        self.store, self.registry, self.token = store, registry, token
        self.bookmark_interval = bookmark_interval
        self.verbose = verbose
        self.faults = Faults()
        self.activity = Activity()
        self.closing = False
        self.conn_lock = threading.Lock()
        self.connections = set()
        self.address = ""

    def log(self, msg):
        sys.stderr.write(f"fake-apiserver: {msg}\n")
        sys.stderr.flush()

    def track(self, conn, add):
        with self.conn_lock:
            (self.connections.add if add else self.connections.discard)(conn)

    def wake_watches(self):
        with self.store.cond:
            self.store.cond.notify_all()

    def cut_connections(self):
        """Shut every open API connection down (no TLS close_notify, no final chunk)."""
        with self.conn_lock:
            conns = list(self.connections)
        for c in conns:
            _abort(c)
        return len(conns)


def _abort(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address, app, ssl_ctx):
        self.app, self.ssl_ctx = app, ssl_ctx
        super().__init__(address, ApiHandler)

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # The handshake happens in the connection's own thread (ApiHandler.setup), so one slow or
        # broken client cannot stall accept().
        return self.ssl_ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        if self.app.verbose:
            traceback.print_exc()


def make_ssl_context(certs_dir):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(f"{certs_dir}/server.crt", f"{certs_dir}/server.key")
    ctx.load_verify_locations(f"{certs_dir}/ca.crt")
    ctx.verify_mode = ssl.CERT_OPTIONAL  # a client cert is one way in; a bearer token the other
    ctx.set_alpn_protocols(["http/1.1"])  # no HTTP/2: Go clients fall back to HTTP/1.1
    return ctx


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "strait-fake-apiserver"
    sys_version = ""
    timeout = 300

    def setup(self):
        self.app = self.server.app
        self.tls_ok = True
        try:
            self.request.settimeout(10)
            self.request.do_handshake()
        except (ssl.SSLError, OSError) as e:
            self.tls_ok = False
            if self.app.verbose:
                self.app.log(f"TLS handshake failed: {e}")
        super().setup()
        self.app.track(self.connection, True)

    def handle(self):
        if self.tls_ok:
            try:
                super().handle()
            except (OSError, ssl.SSLError):
                pass

    def finish(self):
        try:
            super().finish()
        except (OSError, ssl.SSLError):
            pass
        self.app.track(self.connection, False)

    def log_message(self, fmt, *args):
        if self.app.verbose:
            self.app.log("%s %s" % (self.address_string(), fmt % args))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = lambda self: self._serve()

    # ------------------------------------------------------------ request entry
    def _serve(self):
        self.streaming = False
        self.app.activity.count_request()
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        try:
            body = self._read_body()
            self.app.faults.wait_if_paused()
            self._authenticate(path)
            fault = self.app.faults.take(path)
            if fault:
                raise fault
            self._route(path, params, body)
        except ApiError as e:
            if self.streaming:
                self.close_connection = True
            else:
                self._send_json(e.code, e.status(), retry_after=e.retry_after)
        except (OSError, ssl.SSLError):
            self.close_connection = True
        except Exception:  # a bug in the fake: say so loudly, answer 500
            self.app.log("internal error serving %s %s:\n%s" % (self.command, self.path, traceback.format_exc()))
            if self.streaming:
                self.close_connection = True
            else:
                self._send_json(500, status_body(500, "InternalError", "fake apiserver bug; see its stderr"))

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authenticate(self, path):
        """x509 first, then the bearer token (a union authenticator, as upstream); anonymous only for
        the public health and version paths."""
        cert = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        if cert:  # already verified against the CA by the handshake
            return dict(x[0] for x in cert.get("subject", ())).get("commonName", "")
        auth = self.headers.get("Authorization")
        if auth is not None:
            if auth == f"Bearer {self.app.token}":
                return "admin"
            raise ApiError(401, "Unauthorized", "Unauthorized")
        if path in PUBLIC_PATHS:
            return "system:anonymous"
        raise ApiError(401, "Unauthorized", "Unauthorized")

    # ------------------------------------------------------------ routing
    def _route(self, path, params, body):
        method = self.command
        if path in ("/healthz", "/livez", "/readyz"):
            return self._send_raw(200, b"ok", "text/plain; charset=utf-8")
        if method not in ("GET", "HEAD") and not (path.startswith("/api/") or path.startswith("/apis/")):
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if path == "/version":
            return self._send_json(200, VERSION)
        if path == "/api":
            return self._send_json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": self.app.address}]})
        if path == "/apis":
            return self._send_json(200, resources.api_group_list())
        if path.startswith("/openapi/"):
            doc = openapi.serve(path, params)
            if doc is None:
                raise _path_not_found()
            return self._send_json(200, doc)
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        elif parts[0] == "apis" and len(parts) == 2 and parts[1] in resources.GROUPS:
            return self._send_json(200, resources.api_group(parts[1]))
        else:
            raise _path_not_found()
        gv = resources.by_group_version(group, version)
        if gv is None:
            raise _path_not_found()
        if not rest:
            if method not in ("GET", "HEAD"):
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            return self._send_json(200, resources.api_resource_list(group, version))
        legacy_watch = rest[0] == "watch"
        if legacy_watch:
            rest = rest[1:]
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] in gv and gv[rest[2]].namespaced:
            ns, rest = rest[1], rest[2:]
        res = gv.get(rest[0]) if rest else None
        if res is None or len(rest) > 3:
            raise _path_not_found()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else ""
        if (sub and (sub != "status" or not res.status)) or (not res.namespaced and ns is not None) \
                or (res.namespaced and ns is None and name is not None):
            raise _path_not_found()
        if not res.namespaced:
            ns = ""
        self._verb(res, ns, name, sub, params, body, legacy_watch)

    def _verb(self, res, ns, name, sub, params, body, legacy_watch):
        method, reg = self.command, self.app.registry
        stat = res.qualified + ("/" + sub if sub else "")
        dry_run = params.get("dryRun") == "All"
        if method in ("GET", "HEAD"):
            if legacy_watch or params.get("watch") in ("1", "true"):
                self.app.activity.count(stat, "watch")
                return self._watch(res, ns, name, params)
            if name is None:
                self.app.activity.count(stat, "list")
                query = Query(res, ns, params)
                if params.get("sendInitialEvents") is not None:
                    raise ApiError(422, "Invalid", "sendInitialEvents is forbidden for list")
                return self._send_object(res, reg.list(res, query, params), is_list=True, params=params)
            self.app.activity.count(stat, "get")
            return self._send_object(res, reg.get(res, ns, name), params=params)
        if name is None:
            if ns is None:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            if method == "POST":
                self.app.activity.count(stat, "create")
                return self._send_json(201, reg.create(res, ns, self._json(body), dry_run))
            if method == "DELETE":
                self.app.activity.count(stat, "deletecollection")
                return self._send_json(200, reg.delete_collection(res, Query(res, ns, params),
                                                                 self._delete_options(body, params), dry_run))
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if method == "PUT":
            self.app.activity.count(stat, "update")
            return self._send_json(200, reg.update(res, ns, name, self._json(body), sub, dry_run))
        if method == "PATCH":
            self.app.activity.count(stat, "patch")
            ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
            if ctype not in _PATCH_TYPES:
                raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                               f"accepted media types include: {', '.join(_PATCH_TYPES)}")
            return self._send_json(200, reg.patch(res, ns, name, ctype, body, sub, dry_run))
        if method == "DELETE" and not sub:
            self.app.activity.count(stat, "delete")
            return self._send_json(200, reg.delete(res, ns, name, self._delete_options(body, params), dry_run))
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _json(self, body):
        ctype = self.headers.get("Content-Type", "application/json").split(";")[0].strip()
        if ctype == "application/vnd.kubernetes.protobuf":
            try:
                return protobuf.decode(body)
            except (protobuf.ProtobufError, UnicodeDecodeError, ValueError) as e:
                raise ApiError(415, "UnsupportedMediaType", f"the body of the request could not be decoded: {e}")
        if ctype not in ("application/json", ""):
            raise ApiError(415, "UnsupportedMediaType",
                           f"the body of the request was in an unknown format ({ctype}) - accepted media types "
                           f"include: application/json")
        try:
            return json.loads(body)
        except ValueError as e:
            raise bad_request(f"the object provided is unrecognized (must be JSON): {e}")

    def _delete_options(self, body, params):
        opts = {}
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        if body and ctype == "application/vnd.kubernetes.protobuf":
            try:
                opts = protobuf.decode(body, kinds={"DeleteOptions"})
            except (protobuf.ProtobufError, UnicodeDecodeError, ValueError) as e:
                raise ApiError(415, "UnsupportedMediaType", f"the body of the request could not be decoded: {e}")
        elif body:
            try:
                opts = json.loads(body)
            except ValueError:
                raise bad_request("DeleteOptions must be JSON")
            if not isinstance(opts, dict):
                raise bad_request("DeleteOptions must be an object")
        if params.get("propagationPolicy"):
            opts["propagationPolicy"] = params["propagationPolicy"]
        if opts.get("propagationPolicy") not in (None, "Orphan", "Background", "Foreground"):
            raise ApiError(422, "Invalid", f"propagationPolicy: Unsupported value: {opts['propagationPolicy']!r}")
        return opts

    # ------------------------------------------------------------ responses
    def _accepts_table(self):
        return "as=Table" in self.headers.get("Accept", "")

    def _send_object(self, res, obj, is_list=False, params=None):
        if self._accepts_table():
            include = (params or {}).get("includeObject", "Metadata")
            if is_list:
                pairs = [(o, views.to_storage(res, o)) for o in obj["items"]]
                obj = tables.table(res.kind, pairs, obj["metadata"], include)
            else:
                obj = tables.table(res.kind, [(obj, views.to_storage(res, obj))],
                                   {"resourceVersion": _meta(obj).get("resourceVersion", "")}, include)
        self._send_json(200, obj)

    def _send_json(self, code, body, retry_after=None):
        self._send_raw(code, json.dumps(body, separators=(",", ":")).encode(), "application/json",
                       retry_after=retry_after)

    def _send_raw(self, code, data, ctype, retry_after=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", str(uuid.uuid4()))
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        self.send_header("Content-Length", str(len(data)))
        # Head and body in one write (one TLS record, one segment).
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(data)
        self.flush_headers()

    # ------------------------------------------------------------ watch
    def _watch(self, res, ns, name, params):
        store = self.app.store
        query = Query(res, ns, params, name)
        rv = params.get("resourceVersion", "")
        match = params.get("resourceVersionMatch", "")
        bookmarks = params.get("allowWatchBookmarks") in ("true", "1") and not self._accepts_table()
        initial_param = params.get("sendInitialEvents")
        if initial_param is not None:
            if match != "NotOlderThan":
                raise ApiError(422, "Invalid", "resourceVersionMatch: Forbidden: sendInitialEvents requires "
                                               "setting resourceVersionMatch to NotOlderThan")
            send_initial = initial_param == "true"
        else:
            if match:
                raise ApiError(422, "Invalid", "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden "
                                               "for watch unless sendInitialEvents is provided")
            send_initial = rv in ("", "0")
        try:
            timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None
        except ValueError:
            raise bad_request("invalid timeoutSeconds")
        too_old = None
        with store.cond:
            if send_initial or rv in ("", "0"):
                cursor = store.rv
            else:
                try:
                    cursor = int(rv)
                except ValueError:
                    raise bad_request(f"invalid resource version: {rv!r}")
                if cursor < store.compacted:
                    too_old = f"too old resource version: {cursor} ({store.oldest_available()})"
            initial = [(k, o) for k, o in store.sorted_items(res.storage_key)
                       if query.matches_key(k)] if send_initial and not too_old else []
        watch = self.app.activity.add_watch(res.qualified, ns, params, self)
        try:
            self._stream(res, query, watch, cursor, initial, too_old, bookmarks,
                         initial_param == "true", timeout)
        finally:
            self.app.activity.remove_watch(watch)

    def _stream(self, res, query, watch, cursor, initial, too_old, bookmarks, initial_marker, timeout):
        store, app = self.app.store, self.app
        table = self._accepts_table()
        include = watch.params.get("includeObject", "Metadata")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.streaming = True
        first = [True]

        def emit(type_, obj):
            if table and type_ in ("ADDED", "MODIFIED", "DELETED"):
                obj = tables.table(res.kind, [(obj, views.to_storage(res, obj))],
                                   {"resourceVersion": _meta(obj).get("resourceVersion", "")},
                                   include, with_columns=first[0])
                first[0] = False
            data = json.dumps({"type": type_, "object": obj}, separators=(",", ":")).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            watch.sent += 1

        def bookmark(annotate=False):
            meta = {"resourceVersion": str(cursor)}
            if annotate:
                meta["annotations"] = {"k8s.io/initial-events-end": "true"}
            emit("BOOKMARK", {"kind": res.kind, "apiVersion": res.group_version, "metadata": meta})

        if too_old:
            emit("ERROR", status_body(410, "Expired", too_old))
            return self._end_stream()
        for key, obj in initial:
            viewed = views.from_storage(res, obj)
            if query.matches(key, viewed):
                emit("ADDED", viewed)
        if initial_marker and bookmarks:
            bookmark(annotate=True)
        start = time.monotonic()
        next_bookmark = start + app.bookmark_interval
        while True:
            now = time.monotonic()
            if timeout is not None and now - start >= timeout:
                return self._end_stream()
            wait = (next_bookmark - now) if bookmarks else 5.0
            if timeout is not None:
                wait = min(wait, start + timeout - now)
            changes, new_cursor, expired_now = store.wait(
                cursor, max(0.0, wait), lambda: watch.signal is not None or app.closing)
            if watch.signal == "reset":
                _abort(self.connection)
                self.close_connection = True
                return
            if watch.signal == "drop" or app.closing:
                if app.closing:
                    self.close_connection = True
                return self._end_stream()
            if expired_now:
                emit("ERROR", status_body(410, "Expired", f"too old resource version: {cursor} "
                                                          f"({store.oldest_available()})"))
                return self._end_stream()
            for ch in changes:
                if ch.storage != res.storage_key:
                    continue
                ev = self._event_for(res, query, ch)
                if ev:
                    emit(*ev)
            cursor = new_cursor
            if bookmarks and time.monotonic() >= next_bookmark:
                bookmark()
                next_bookmark = time.monotonic() + app.bookmark_interval

    def _end_stream(self):
        self.wfile.write(b"0\r\n\r\n")

    @staticmethod
    def _event_for(res, query, ch):
        """The event one watcher sees for one change, given its selectors (objects entering or leaving
        the selection become ADDED or DELETED, as the apiserver's cacher does)."""
        new = views.from_storage(res, ch.new)
        new_ok = query.matches(ch.key, new)
        if ch.type in ("ADDED", "DELETED"):
            return (ch.type, new) if new_ok else None
        old = views.from_storage(res, ch.old)
        old_ok = query.matches(ch.key, old)
        if old_ok and new_ok:
            return ("MODIFIED", new)
        if new_ok:
            return ("ADDED", new)
        if old_ok:
            return ("DELETED", _with_rv(old, ch.rv))
        return None


def _path_not_found():
    return ApiError(404, "NotFound", "the server could not find the requested resource",
                    {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})
