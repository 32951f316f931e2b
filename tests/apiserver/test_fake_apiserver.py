#!/usr/bin/env python3
"""Self-tests of the fake kube-apiserver: the real kubectl and raw HTTPS against a server on port 0.

  python3 -B -m unittest discover -s tests/apiserver -p 'test_*.py' -v
"""
import sys

sys.dont_write_bytecode = True

import base64  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import queue  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import ssl  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import unittest  # noqa: E402
import urllib.request  # noqa: E402
from urllib.parse import quote  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "fake_apiserver.py")
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
START_TIMEOUT = 20


def wait_for(cond, timeout=5.0, what="condition"):
    """Poll `cond` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class Server:
    """One fake apiserver process, and clients for its API (HTTPS) and control (HTTP) ports."""

    def __init__(self, workdir, listen="127.0.0.1:0", extra=()):
        self.workdir = workdir
        self.certs = os.path.join(workdir, "certs")
        self.log = open(os.path.join(workdir, "server.log"), "ab")
        args = [sys.executable, "-B", SERVER, "--listen", listen, "--certs", self.certs,
                "--control", "127.0.0.1:0", "--bookmark-interval", "0.2", *extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log)
        self.port = self.control_port = None
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(ln) for ln in self.proc.stdout] + [lines.put(b"")],
                         daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while self.port is None:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic())).decode()
            except queue.Empty:
                self.kill()
                raise AssertionError("fake apiserver did not print 'listening'")
            if not line:
                raise AssertionError(f"fake apiserver exited with {self.proc.wait()}")
            word, _, addr = line.strip().partition(" ")
            if word == "control":
                self.control_port = int(addr.rsplit(":", 1)[1])
            elif word == "listening":
                self.port = int(addr.rsplit(":", 1)[1])
        with open(os.path.join(self.certs, "token")) as f:
            self.token = f.read().strip()

    def kubeconfig(self, kind="token"):
        return os.path.join(self.certs, f"kubeconfig-{kind}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.log.close()

    # ------------------------------------------------------------ clients
    def tls(self, client_cert=True, ca="ca.crt"):
        ctx = ssl.create_default_context(cafile=os.path.join(self.certs, ca))
        if client_cert:
            ctx.load_cert_chain(os.path.join(self.certs, "client.crt"), os.path.join(self.certs, "client.key"))
        return ctx

    def connect(self, timeout=10, **tls):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.tls(**tls), timeout=timeout)

    def request(self, method, path, body=None, ctype="application/json", headers=None, token=True,
                client_cert=False):
        """(status, headers, parsed JSON or raw bytes). Authenticates with the token unless told otherwise."""
        conn = self.connect(client_cert=client_cert)
        try:
            h = dict(headers or {})
            if token:
                h["Authorization"] = f"Bearer {self.token if token is True else token}"
            data = None
            if body is not None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                h["Content-Type"] = ctype
            conn.request(method, path, body=data, headers=h)
            resp = conn.getresponse()
            raw = resp.read()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw
            return resp.status, resp.headers, parsed
        finally:
            conn.close()

    def ok(self, method, path, body=None, ctype="application/json", expect=(200, 201)):
        status, _, obj = self.request(method, path, body, ctype)
        if status not in expect:
            raise AssertionError(f"{method} {path} -> {status}: {obj}")
        return obj

    def watch(self, path):
        return WatchStream(self, path)

    def control(self, path, body=None):
        """POST `body` (default {}) to a control endpoint; GET for /stats and /objects without a body."""
        get = body is None and path.split("?")[0] in ("/stats", "/objects")
        data = None if get else json.dumps(body if body is not None else {}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.control_port}{path}", data=data,
                                     method="GET" if get else "POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def kubectl(self, *args, kind="token", check=True, timeout=30, stdin=None):
        cmd = [KUBECTL, "--kubeconfig", self.kubeconfig(kind), "--cache-dir", os.path.join(self.workdir, "kcache"),
               *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=stdin)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p


class StreamCut(ConnectionError):
    """The watch connection ended without the terminating chunk."""


class WatchStream:
    """A watch request read off the raw TLS socket, so a clean end (the zero-length chunk) and a cut
    connection can be told apart; events are read one at a time with a deadline."""

    def __init__(self, server, path):
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        self.sock = server.tls(client_cert=False).wrap_socket(raw, server_hostname="127.0.0.1")
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
                           f"Authorization: Bearer {server.token}\r\n\r\n").encode())
        self.buf = b""
        head = self._until(b"\r\n\r\n", 10).decode()
        lines = head.split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        self.chunked = self.headers.get("transfer-encoding") == "chunked"
        self.pending = b""

    def _fill(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = self.sock.recv(65536)
        if not data:
            raise StreamCut("connection closed mid-stream")
        self.buf += data

    def _until(self, marker, timeout):
        deadline = time.monotonic() + timeout
        while marker not in self.buf:
            self._fill(deadline)
        head, _, self.buf = self.buf.partition(marker)
        return head

    def _exactly(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def next(self, timeout=5.0):
        """The next event; None when the stream ended cleanly; StreamCut when it was cut."""
        assert self.chunked, self.headers
        deadline = time.monotonic() + timeout
        while b"\n" not in self.pending:
            size = int(self._until(b"\r\n", max(0.01, deadline - time.monotonic())).split(b";")[0], 16)
            if size == 0:
                self._until(b"\r\n", 1)
                if self.pending.strip():
                    raise AssertionError(f"stream ended inside an event: {self.pending!r}")
                return None
            self.pending += self._exactly(size, deadline)
            if self._exactly(2, deadline) != b"\r\n":
                raise AssertionError("bad chunk framing")
        line, _, self.pending = self.pending.partition(b"\n")
        return json.loads(line)

    def next_of(self, types, timeout=5.0):
        """Skip events (bookmarks, mostly) until one of `types`."""
        deadline = time.monotonic() + timeout
        while True:
            ev = self.next(max(0.05, deadline - time.monotonic()))
            if ev is None or ev["type"] in types:
                return ev
            if time.monotonic() > deadline:
                raise AssertionError(f"no {types} event within {timeout}s")

    def close(self):
        self.sock.close()


def ingress(name, host="a.example", labels=None, ns="default"):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "spec": {"ingressClassName": "strait", "rules": [{"host": host, "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}


def _pb_bytes(number, payload):
    """One length-delimited protobuf field."""
    def varint(n):
        out = b""
        while True:
            out += bytes([(n & 0x7F) | (0x80 if n > 0x7F else 0)])
            n >>= 7
            if not n:
                return out
    return varint(number << 3 | 2) + varint(len(payload)) + payload


ING = "/apis/networking.k8s.io/v1/namespaces/default/ingresses"
SECRETS = "/api/v1/namespaces/default/secrets"
MANIFEST = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  selector: {app: web}
  ports:
  - name: http
    port: 80
    targetPort: 8080
  - name: admin
    port: 9090
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports:
- {name: http, port: 8080, protocol: TCP}
endpoints:
- addresses: ["127.0.0.1"]
  conditions: {ready: true}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: default
spec:
  ingressClassName: strait
  rules:
  - host: web.example
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: web, port: {number: 80}}}
"""


class FakeApiserverTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fake-apiserver-test-")
        cls.srv = Server(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.srv.control("/fail", {"count": 0})
        self.srv.control("/pause", {"seconds": 0})

    # ------------------------------------------------------------ discovery and auth
    def test_discovery_documents(self):
        s = self.srv
        self.assertEqual(s.ok("GET", "/version")["minor"], "32")
        self.assertEqual(s.ok("GET", "/api")["versions"], ["v1"])
        groups = {g["name"] for g in s.ok("GET", "/apis")["groups"]}
        self.assertTrue({"networking.k8s.io", "discovery.k8s.io", "coordination.k8s.io", "events.k8s.io"} <= groups)
        names = {r["name"] for r in s.ok("GET", "/apis/networking.k8s.io/v1")["resources"]}
        self.assertTrue({"ingresses", "ingresses/status", "ingressclasses"} <= names)
        core = {r["name"]: r for r in s.ok("GET", "/api/v1")["resources"]}
        self.assertTrue(core["secrets"]["namespaced"])
        self.assertFalse(core["namespaces"]["namespaced"])
        # kubectl asks for aggregated discovery first; the legacy document must come back as plain JSON.
        status, headers, body = s.request("GET", "/apis", headers={
            "Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"})
        self.assertEqual((status, headers["Content-Type"], body["kind"]), (200, "application/json", "APIGroupList"))
        p = s.kubectl("api-resources", "--api-group=networking.k8s.io")
        self.assertIn("ingresses", p.stdout)
        self.assertIn("ing", p.stdout)

    def test_authentication(self):
        s = self.srv
        status, _, body = s.request("GET", "/api/v1/namespaces", token=False)
        self.assertEqual((status, body["kind"], body["code"], body["reason"]), (401, "Status", 401, "Unauthorized"))
        self.assertEqual(s.request("GET", "/api/v1/namespaces", token="wrong")[0], 401)
        self.assertEqual(s.request("GET", "/api/v1/namespaces", token=False, client_cert=True)[0], 200)
        self.assertEqual(s.request("GET", "/api/v1/namespaces")[0], 200)
        for kind in ("cert", "cert-files", "token", "insecure"):
            self.assertIn("default", s.kubectl("get", "namespaces", "-o", "name", kind=kind).stdout, kind)
        p = s.kubectl("get", "namespaces", kind="wrong-ca", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("certificate signed by unknown authority", p.stderr)
        # A TLS client that does not trust the server's CA fails the same way.
        c = s.connect(ca="other-ca.crt", client_cert=False)
        with self.assertRaises(ssl.SSLCertVerificationError):
            c.request("GET", "/version")
        c.close()

    # ------------------------------------------------------------ kubectl as an operator uses it
    def test_kubectl_apply_status_get_delete(self):
        s = self.srv
        path = os.path.join(self.tmp, "app.yaml")
        with open(path, "w") as f:
            f.write(MANIFEST)
        p = s.kubectl("apply", "-f", path)
        self.assertIn("ingress.networking.k8s.io/web created", p.stdout)
        self.assertEqual(p.stderr, "")
        self.assertIn("unchanged", s.kubectl("apply", "-f", path).stdout)
        # A second apply with a change goes out as a strategic merge patch keyed by port.
        with open(path, "w") as f:
            f.write(MANIFEST.replace("targetPort: 8080", "targetPort: 8081"))
        self.assertIn("service/web configured", s.kubectl("apply", "-f", path).stdout)
        svc = json.loads(s.kubectl("get", "service", "web", "-o", "json").stdout)
        self.assertEqual([(p["name"], p["port"], p["targetPort"], p["protocol"]) for p in svc["spec"]["ports"]],
                         [("http", 80, 8081, "TCP"), ("admin", 9090, 9090, "TCP")])
        # Status goes through the subresource; `kubectl get ingress` shows it as ADDRESS.
        s.kubectl("patch", "ingress", "web", "--type=merge", "--subresource=status",
                  "-p", '{"status":{"loadBalancer":{"ingress":[{"ip":"127.0.0.7"}]}}}')
        table = s.kubectl("get", "ingress", "web").stdout.splitlines()
        self.assertEqual(table[0].split()[:5], ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS"])
        self.assertEqual(table[1].split()[:5], ["web", "strait", "web.example", "127.0.0.7", "80"])
        ing = json.loads(s.kubectl("get", "ingress", "web", "-o", "json").stdout)
        self.assertEqual(ing["status"]["loadBalancer"]["ingress"], [{"ip": "127.0.0.7"}])
        self.assertEqual(ing["metadata"]["generation"], 1)
        # A normal apply does not wipe the status.
        s.kubectl("apply", "-f", path)
        self.assertIn("127.0.0.7", s.kubectl("get", "ingress", "web", "-o", "wide").stdout)
        es = json.loads(s.kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=web",
                                  "-o", "json").stdout)
        self.assertEqual([i["metadata"]["name"] for i in es["items"]], ["web-abc"])
        p = s.kubectl("delete", "-f", path)
        self.assertIn('ingress.networking.k8s.io "web" deleted', p.stdout)
        self.assertEqual(s.request("GET", ING + "/web")[0], 404)
        p = s.kubectl("get", "ingress", "web", check=False)
        self.assertIn('ingresses.networking.k8s.io "web" not found', p.stderr)

    def test_kubectl_create_sends_protobuf(self):
        """kubectl's typed `create` commands POST application/vnd.kubernetes.protobuf bodies."""
        s = self.srv
        crt, key = os.path.join(s.certs, "server.crt"), os.path.join(s.certs, "server.key")
        s.kubectl("create", "namespace", "pb")
        s.kubectl("-n", "pb", "create", "secret", "tls", "web-tls", "--cert", crt, "--key", key)
        s.kubectl("-n", "pb", "create", "service", "nodeport", "np", "--tcp=80:8080", "--node-port=30080")
        s.kubectl("-n", "pb", "create", "ingress", "simple", "--class=strait", "--annotation=a=b",
                  "--rule=foo.example/bar*=svc1:8080,tls=web-tls", "--rule=bar.example/=svc2:http")
        secret = s.ok("GET", "/api/v1/namespaces/pb/secrets/web-tls")
        self.assertEqual(secret["type"], "kubernetes.io/tls")
        with open(crt, "rb") as f:
            self.assertEqual(base64.b64decode(secret["data"]["tls.crt"]), f.read())
        svc = s.ok("GET", "/api/v1/namespaces/pb/services/np")
        self.assertEqual((svc["spec"]["type"], svc["spec"]["ports"]), ("NodePort", [
            {"name": "80-8080", "port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}]))
        ing = s.ok("GET", "/apis/networking.k8s.io/v1/namespaces/pb/ingresses/simple")
        self.assertEqual(ing["metadata"]["annotations"], {"a": "b"})
        self.assertEqual(ing["spec"], {
            "ingressClassName": "strait", "tls": [{"hosts": ["foo.example"], "secretName": "web-tls"}],
            "rules": [
                {"host": "foo.example", "http": {"paths": [{"path": "/bar", "pathType": "Prefix", "backend": {
                    "service": {"name": "svc1", "port": {"number": 8080}}}}]}},
                {"host": "bar.example", "http": {"paths": [{"path": "/", "pathType": "Exact", "backend": {
                    "service": {"name": "svc2", "port": {"name": "http"}}}}]}}]})
        # Deleting the namespace deletes what is in it.
        s.kubectl("delete", "namespace", "pb")
        self.assertEqual(s.ok("GET", "/apis/networking.k8s.io/v1/namespaces/pb/ingresses")["items"], [])

    def test_protobuf_delete_options(self):
        """client-go protobuf clients (Helm's release storage) send DeleteOptions as protobuf."""
        s = self.srv
        s.ok("POST", SECRETS, {"metadata": {"name": "pb-del"}, "stringData": {"k": "v"}})
        uid = s.ok("GET", SECRETS + "/pb-del")["metadata"]["uid"]

        def delete_options(**fields):
            nums = {"preconditions_uid": 2, "propagationPolicy": 4}
            raw = b"".join(_pb_bytes(2, _pb_bytes(1, v.encode())) if k == "preconditions_uid"
                           else _pb_bytes(nums[k], v.encode()) for k, v in fields.items())
            type_meta = _pb_bytes(1, b"v1") + _pb_bytes(2, b"DeleteOptions")
            return b"k8s\x00" + _pb_bytes(1, type_meta) + _pb_bytes(2, raw)
        pb = "application/vnd.kubernetes.protobuf"
        status, _, body = s.request("DELETE", SECRETS + "/pb-del", delete_options(preconditions_uid="other"), pb)
        self.assertEqual((status, body["reason"]), (409, "Conflict"))
        status, _, body = s.request("DELETE", SECRETS + "/pb-del",
                                    delete_options(preconditions_uid=uid, propagationPolicy="Background"), pb)
        self.assertEqual(status, 200, body)
        self.assertEqual(s.request("GET", SECRETS + "/pb-del")[0], 404)
        status, _, body = s.request("DELETE", SECRETS + "/x", b"k8s\x00" + _pb_bytes(1, _pb_bytes(2, b"Pod")), pb)
        self.assertEqual(status, 415)

    def test_kubectl_watch(self):
        s = self.srv
        s.ok("POST", ING, ingress("kw-1"))
        cmd = [KUBECTL, "--kubeconfig", s.kubeconfig("cert"), "--cache-dir", os.path.join(self.tmp, "kcache"),
               "get", "ingresses", "--watch", "--output-watch-events"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
        reader.start()
        try:
            wait_for(lambda: any(w["resource"] == "ingresses.networking.k8s.io"
                                 for w in s.control("/stats")["watches"]), 15, "kubectl's watch")
            s.ok("POST", ING, ingress("kw-2"))
            s.ok("DELETE", ING + "/kw-1")
            # `lines` grows from the reader thread as kubectl prints.
            wait_for(lambda: sum(1 for ln in list(lines) if "kw-" in ln) >= 3, 10, "kubectl watch output")
        finally:
            proc.terminate()
            proc.wait(10)
            reader.join(5)
            proc.stdout.close()
            proc.stderr.close()
        self.assertEqual(lines[0].split()[:6], ["EVENT", "NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS"])
        events = [ln.split()[:2] for ln in lines if "kw-" in ln]
        self.assertEqual(events[:3], [["ADDED", "kw-1"], ["ADDED", "kw-2"], ["DELETED", "kw-1"]])
        s.ok("DELETE", ING + "/kw-2")

    # ------------------------------------------------------------ list and watch protocol
    def test_watch_from_list_resource_version(self):
        s = self.srv
        ns = "/apis/networking.k8s.io/v1/namespaces/w1/ingresses"
        s.ok("POST", ns, ingress("before", ns="w1"))
        listed = s.ok("GET", ns)
        self.assertEqual(listed["kind"], "IngressList")
        rv = listed["metadata"]["resourceVersion"]
        w = s.watch(f"{ns}?watch=1&resourceVersion={rv}")
        self.assertEqual(w.status, 200)
        created = s.ok("POST", ns, ingress("a", ns="w1"))
        body = dict(created)
        body["spec"] = dict(body["spec"], ingressClassName="other")
        updated = s.ok("PUT", ns + "/a", body)
        s.ok("DELETE", ns + "/a")
        e1, e2, e3 = w.next(), w.next(), w.next()
        w.close()
        self.assertEqual([e["type"] for e in (e1, e2, e3)], ["ADDED", "MODIFIED", "DELETED"])
        self.assertEqual(set(e1), {"type", "object"})
        self.assertEqual(e1["object"]["metadata"]["resourceVersion"], created["metadata"]["resourceVersion"])
        self.assertEqual(e2["object"]["metadata"]["resourceVersion"], updated["metadata"]["resourceVersion"])
        self.assertEqual(e2["object"]["metadata"]["generation"], 2)
        self.assertEqual(e3["object"]["spec"]["ingressClassName"], "other")  # the last state...
        self.assertGreater(int(e3["object"]["metadata"]["resourceVersion"]), int(updated["metadata"]["resourceVersion"]))
        # resourceVersion unset and "0": synthetic ADDEDs for what exists, then changes.
        for rv_param in ("", "&resourceVersion=0"):
            w = s.watch(f"{ns}?watch=true{rv_param}")
            ev = w.next()
            w.close()
            self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("ADDED", "before"))
        w = s.watch(f"{ns}?watch=true")
        self.assertEqual(w.next()["type"], "ADDED")
        s.ok("DELETE", ns + "/before")
        self.assertEqual(w.next()["type"], "DELETED")  # ...then changes
        w.close()

    def test_watch_too_old_resource_version(self):
        s = self.srv
        rv = s.ok("POST", SECRETS, {"metadata": {"name": "old-1"}})["metadata"]["resourceVersion"]
        s.ok("POST", SECRETS, {"metadata": {"name": "old-2"}})
        compacted = s.control("/expire-history")["compactedResourceVersion"]
        w = s.watch(f"{SECRETS}?watch=1&resourceVersion={rv}")
        self.assertEqual(w.status, 200)
        ev = w.next()
        self.assertEqual(ev, {"type": "ERROR", "object": {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": f"too old resource version: {rv} ({int(compacted) + 1})", "reason": "Expired", "code": 410}})
        self.assertIsNone(w.next())  # and the stream ends
        w.close()
        status, _, body = s.request("GET", f"{SECRETS}?resourceVersion={rv}&resourceVersionMatch=Exact")
        self.assertEqual((status, body["reason"], body["code"]), (410, "Expired", 410))
        # The current RV is still good, for watch and exact list.
        w = s.watch(f"{SECRETS}?watch=1&resourceVersion={compacted}")
        s.ok("DELETE", SECRETS + "/old-1")
        self.assertEqual(w.next_of(("DELETED",))["object"]["metadata"]["name"], "old-1")
        w.close()
        s.ok("DELETE", SECRETS + "/old-2")

    def test_bookmarks_and_timeout(self):
        s = self.srv
        cm = "/api/v1/namespaces/bm/configmaps"
        rv = s.ok("GET", cm)["metadata"]["resourceVersion"]
        w = s.watch(f"{cm}?watch=1&resourceVersion={rv}&allowWatchBookmarks=true")
        ev = w.next(3)
        self.assertEqual(ev, {"type": "BOOKMARK", "object": {"kind": "ConfigMap", "apiVersion": "v1",
                                                             "metadata": {"resourceVersion": ev["object"]["metadata"]["resourceVersion"]}}})
        s.ok("POST", SECRETS, {"metadata": {"name": "bm-other"}})  # another kind moves the RV on
        latest = s.ok("GET", SECRETS)["metadata"]["resourceVersion"]
        wait_for(lambda: w.next_of(("BOOKMARK",))["object"]["metadata"]["resourceVersion"] == latest, 5,
                 "a bookmark at the latest RV")
        w.close()
        s.ok("DELETE", SECRETS + "/bm-other")
        # timeoutSeconds ends the stream cleanly.
        w = s.watch(f"{cm}?watch=1&resourceVersion={latest}&timeoutSeconds=1")
        start = time.monotonic()
        self.assertIsNone(w.next(5))
        self.assertLess(time.monotonic() - start, 4)
        w.close()

    def test_send_initial_events(self):
        s = self.srv
        cm = "/api/v1/namespaces/wl/configmaps"
        for n in ("b", "a"):
            s.ok("POST", cm, {"metadata": {"name": n}, "data": {"k": n}})
        status, _, body = s.request("GET", f"{cm}?watch=1&sendInitialEvents=true")
        self.assertEqual((status, body["reason"]), (422, "Invalid"))
        w = s.watch(f"{cm}?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersion="
                    f"&resourceVersionMatch=NotOlderThan")
        evs = [w.next(), w.next(), w.next()]
        w.close()
        self.assertEqual([(e["type"], e["object"]["metadata"].get("name")) for e in evs],
                         [("ADDED", "a"), ("ADDED", "b"), ("BOOKMARK", None)])
        self.assertEqual(evs[2]["object"]["metadata"]["annotations"], {"k8s.io/initial-events-end": "true"})

    def test_paging_is_consistent_and_expires(self):
        s = self.srv
        sec = "/api/v1/namespaces/paging/secrets"
        for i in range(7):
            s.ok("POST", sec, {"metadata": {"name": f"s{i}"}, "type": "kubernetes.io/tls"})
        page = s.ok("GET", f"{sec}?limit=3")
        self.assertEqual([i["metadata"]["name"] for i in page["items"]], ["s0", "s1", "s2"])
        self.assertEqual(page["metadata"]["remainingItemCount"], 4)
        rv, token = page["metadata"]["resourceVersion"], page["metadata"]["continue"]
        s.ok("DELETE", sec + "/s5")  # changes after the first page do not show in later pages
        s.ok("POST", sec, {"metadata": {"name": "s9"}})
        names = []
        while token:
            page = s.ok("GET", f"{sec}?limit=3&continue={quote(token)}")
            self.assertEqual(page["metadata"]["resourceVersion"], rv)
            names += [i["metadata"]["name"] for i in page["items"]]
            token = page["metadata"].get("continue")
        self.assertEqual(names, ["s3", "s4", "s5", "s6"])
        token = s.ok("GET", f"{sec}?limit=2")["metadata"]["continue"]
        s.ok("POST", sec, {"metadata": {"name": "s10"}})
        s.control("/expire-history")
        status, _, body = s.request("GET", f"{sec}?limit=2&continue={quote(token)}")
        self.assertEqual((status, body["reason"], body["code"]), (410, "Expired", 410))
        status, _, body = s.request("GET", f"{sec}?limit=2&continue={quote(token)}&resourceVersion=5")
        self.assertEqual(status, 400)

    def test_selectors(self):
        s = self.srv
        sec = "/api/v1/namespaces/sel/secrets"
        s.ok("POST", sec, {"metadata": {"name": "tls", "labels": {"app": "web", "tier": "front"}},
                           "type": "kubernetes.io/tls"})
        s.ok("POST", sec, {"metadata": {"name": "opaque", "labels": {"app": "db"}}})

        def names(query):
            return [i["metadata"]["name"] for i in s.ok("GET", f"{sec}?{query}")["items"]]
        self.assertEqual(names("fieldSelector=" + quote("type=kubernetes.io/tls")), ["tls"])
        self.assertEqual(names("fieldSelector=" + quote("metadata.name=opaque")), ["opaque"])
        self.assertEqual(names("fieldSelector=" + quote("metadata.namespace=sel,type!=kubernetes.io/tls")),
                         ["opaque"])
        self.assertEqual(names("labelSelector=" + quote("app in (web, db),!missing")), ["opaque", "tls"])
        self.assertEqual(names("labelSelector=" + quote("app!=web")), ["opaque"])
        self.assertEqual(names("labelSelector=tier"), ["tls"])
        self.assertEqual(names("labelSelector=" + quote("app notin (web)")), ["opaque"])
        status, _, body = s.request("GET", f"{sec}?fieldSelector=spec.bogus%3Dx")
        self.assertEqual((status, body["message"]), (400, "field label not supported: spec.bogus"))
        # An object leaving a watched selection is a DELETED for that watcher, entering it an ADDED.
        rv = s.ok("GET", sec)["metadata"]["resourceVersion"]
        w = s.watch(f"{sec}?watch=1&resourceVersion={rv}&labelSelector=app%3Dweb")
        s.ok("PATCH", sec + "/tls", {"metadata": {"labels": {"app": "cache"}}}, "application/merge-patch+json")
        s.ok("PATCH", sec + "/opaque", {"metadata": {"labels": {"app": "web"}}}, "application/merge-patch+json")
        e1, e2 = w.next(), w.next()
        w.close()
        self.assertEqual([(e1["type"], e1["object"]["metadata"]["name"]), (e2["type"], e2["object"]["metadata"]["name"])],
                         [("DELETED", "tls"), ("ADDED", "opaque")])
        # Cluster-wide list of a namespaced kind.
        self.assertIn("tls", [i["metadata"]["name"] for i in s.ok("GET", "/api/v1/secrets")["items"]])

    # ------------------------------------------------------------ writes
    def test_update_conflicts_status_and_generation(self):
        s = self.srv
        created = s.ok("POST", ING, dict(ingress("st"), status={"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}))
        self.assertEqual(created["status"], {"loadBalancer": {}})  # create ignores status
        self.assertEqual(created["metadata"]["generation"], 1)
        self.assertTrue(created["metadata"]["uid"] and created["metadata"]["creationTimestamp"])
        self.assertEqual(s.request("POST", ING, ingress("st"))[0], 409)
        stale = dict(created)
        fresh = s.ok("PATCH", ING + "/st/status", {"status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.9"}]}},
                                                  "spec": {"ingressClassName": "ignored"}},
                     "application/merge-patch+json")
        self.assertEqual(fresh["spec"]["ingressClassName"], "strait")  # status writes touch status only
        self.assertEqual(fresh["metadata"]["generation"], 1)
        status, _, body = s.request("PUT", ING + "/st", stale)
        self.assertEqual((status, body["reason"]), (409, "Conflict"))
        self.assertIn("the object has been modified", body["message"])
        body = dict(fresh, spec=dict(fresh["spec"], ingressClassName="other"), status={})
        updated = s.ok("PUT", ING + "/st", body)
        self.assertEqual(updated["status"]["loadBalancer"]["ingress"], [{"ip": "127.0.0.9"}])  # kept
        self.assertEqual(updated["metadata"]["generation"], 2)
        labelled = s.ok("PATCH", ING + "/st", {"metadata": {"labels": {"x": "y"}}}, "application/merge-patch+json")
        self.assertEqual(labelled["metadata"]["generation"], 2)  # metadata changes do not bump generation
        same = s.ok("PUT", ING + "/st", labelled)  # a no-op write keeps the RV
        self.assertEqual(same["metadata"]["resourceVersion"], labelled["metadata"]["resourceVersion"])
        status, _, _ = s.request("PATCH", ING + "/st", {"metadata": {"resourceVersion": "1"}},
                                 "application/merge-patch+json")
        self.assertEqual(status, 409)
        status, _, body = s.request("POST", ING, ingress("Bad_Name"))
        self.assertEqual((status, body["reason"]), (422, "Invalid"))
        status, _, body = s.request("PUT", ING + "/missing", ingress("missing"))
        self.assertEqual((status, body["reason"], body["details"]["name"]), (404, "NotFound", "missing"))
        self.assertEqual(s.request("GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/x/status")[0], 404)
        s.ok("DELETE", ING + "/st")

    def test_patch_formats(self):
        s = self.srv
        svc = "/api/v1/namespaces/default/services"
        s.ok("POST", svc, {"metadata": {"name": "p", "finalizers": []},
                           "spec": {"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81}]}})
        out = s.ok("PATCH", svc + "/p", [{"op": "replace", "path": "/spec/ports/1/targetPort", "value": 8081},
                                         {"op": "add", "path": "/metadata/labels", "value": {"j": "p"}}],
                   "application/json-patch+json")
        self.assertEqual(out["spec"]["ports"][1]["targetPort"], 8081)
        status, _, _ = s.request("PATCH", svc + "/p", [{"op": "test", "path": "/spec/type", "value": "NodePort"}],
                                 "application/json-patch+json")
        self.assertEqual(status, 422)
        out = s.ok("PATCH", svc + "/p", {"spec": {"$setElementOrder/ports": [{"port": 80}, {"port": 81}],
                                                  "ports": [{"port": 80, "targetPort": 9000}]}},
                   "application/strategic-merge-patch+json")
        self.assertEqual([(p["name"], p["targetPort"]) for p in out["spec"]["ports"]], [("a", 9000), ("b", 8081)])
        out = s.ok("PATCH", svc + "/p", {"spec": {"ports": [{"port": 81, "$patch": "delete"}]}},
                   "application/strategic-merge-patch+json")
        self.assertEqual([p["name"] for p in out["spec"]["ports"]], ["a"])
        out = s.ok("PATCH", svc + "/p", {"spec": {"ports": [{"port": 1}]}}, "application/merge-patch+json")
        # merge patch replaces lists (then the server's defaults apply, as upstream)
        self.assertEqual(out["spec"]["ports"], [{"port": 1, "protocol": "TCP", "targetPort": 1}])
        self.assertEqual(s.request("PATCH", svc + "/p", {}, "text/plain")[0], 415)
        # Server-side apply, approximated: creates, then merges.
        out = s.ok("PATCH", svc + "/ssa?fieldManager=t", {"apiVersion": "v1", "kind": "Service",
                                                          "metadata": {"name": "ssa"}, "spec": {"ports": [{"port": 5}]}},
                   "application/apply-patch+yaml")
        self.assertEqual(out["spec"]["ports"][0]["port"], 5)
        s.ok("DELETE", svc + "/p")
        s.ok("DELETE", svc + "/ssa")

    def test_delete_options_and_finalizers(self):
        s = self.srv
        cm = "/api/v1/namespaces/default/configmaps"
        made = s.ok("POST", cm, {"metadata": {"name": "fin", "finalizers": ["example.com/hold"]}})
        status, _, body = s.request("DELETE", cm + "/fin", {"kind": "DeleteOptions", "apiVersion": "v1",
                                                           "preconditions": {"uid": "nope"}})
        self.assertEqual(status, 409)
        held = s.ok("DELETE", cm + "/fin", {"kind": "DeleteOptions", "apiVersion": "v1",
                                            "propagationPolicy": "Foreground", "preconditions": {"uid": made["metadata"]["uid"]}})
        self.assertTrue(held["metadata"]["deletionTimestamp"])
        self.assertEqual(s.request("GET", cm + "/fin")[0], 200)
        s.ok("PATCH", cm + "/fin", {"metadata": {"finalizers": None}}, "application/merge-patch+json")
        self.assertEqual(s.request("GET", cm + "/fin")[0], 404)
        s.ok("POST", cm, {"metadata": {"name": "gone"}})
        s.ok("DELETE", cm + "/gone?propagationPolicy=Background")
        self.assertEqual(s.request("DELETE", cm + "/gone")[0], 404)

    def test_leases_and_events(self):
        s = self.srv
        leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
        lease = s.ok("POST", leases, {"metadata": {"name": "strait-leader"}, "spec": {
            "holderIdentity": "pod-a", "leaseDurationSeconds": 15, "renewTime": "2025-01-01T00:00:00.000000Z"}})
        mine = dict(lease, spec=dict(lease["spec"], renewTime="2025-01-01T00:00:05.000000Z"))
        theirs = dict(lease, spec=dict(lease["spec"], holderIdentity="pod-b", leaseTransitions=1))
        s.ok("PUT", leases + "/strait-leader", mine)
        self.assertEqual(s.request("PUT", leases + "/strait-leader", theirs)[0], 409)  # lost the race
        self.assertIn("pod-a", s.kubectl("get", "leases").stdout)
        ev = s.ok("POST", "/apis/events.k8s.io/v1/namespaces/default/events", {
            "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "web.1"},
            "eventTime": "2025-01-01T00:00:00.000000Z", "reportingController": "strait.io/ingress-controller",
            "reportingInstance": "pod-a", "action": "Sync", "reason": "MissingService", "type": "Warning",
            "note": "service default/nope not found",
            "regarding": {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1", "namespace": "default",
                          "name": "web"}})
        self.assertEqual(ev["note"], "service default/nope not found")
        core = s.ok("GET", "/api/v1/namespaces/default/events?fieldSelector=" +
                    quote("involvedObject.kind=Ingress,involvedObject.name=web"))["items"]
        self.assertEqual([(e["message"], e["reportingComponent"]) for e in core],
                         [("service default/nope not found", "strait.io/ingress-controller")])
        s.ok("POST", "/api/v1/namespaces/default/events", {
            "metadata": {"name": "web.2"}, "involvedObject": {"kind": "Ingress", "name": "web", "namespace": "default"},
            "reason": "Sync", "message": "synced", "type": "Normal", "source": {"component": "strait"}})
        out = s.kubectl("get", "events").stdout
        self.assertIn("MissingService", out)
        self.assertIn("ingress/web", out)

    # ------------------------------------------------------------ fault injection
    def test_fail_and_pause(self):
        s = self.srv
        s.control("/fail", {"status": 500, "count": 2})
        for _ in range(2):
            status, _, body = s.request("GET", SECRETS)
            self.assertEqual((status, body["kind"], body["code"]), (500, "Status", 500))
        self.assertEqual(s.request("GET", SECRETS)[0], 200)
        s.control("/fail", {"status": 429, "count": 1, "retry_after": 2})
        status, headers, body = s.request("GET", SECRETS)
        self.assertEqual((status, headers["Retry-After"], body["reason"]), (429, "2", "TooManyRequests"))
        s.control("/fail", {"status": 503, "count": 1, "match": "/ingresses"})
        self.assertEqual(s.request("GET", SECRETS)[0], 200)
        self.assertEqual(s.request("GET", ING)[0], 503)
        s.control("/pause", {"seconds": 0.5})
        start = time.monotonic()
        self.assertEqual(s.request("GET", SECRETS)[0], 200)
        self.assertGreaterEqual(time.monotonic() - start, 0.4)

    def test_drop_and_reset_watches(self):
        s = self.srv
        rv = s.ok("GET", SECRETS)["metadata"]["resourceVersion"]
        w = s.watch(f"{SECRETS}?watch=1&resourceVersion={rv}")
        wait_for(lambda: s.control("/stats")["watches"], 5, "the watch to register")
        self.assertGreaterEqual(s.control("/drop-watches")["watches"], 1)
        self.assertIsNone(w.next())  # clean end: the terminating chunk
        w.close()
        w = s.watch(f"{SECRETS}?watch=1&resourceVersion={rv}")
        wait_for(lambda: len(s.control("/stats")["watches"]) == 1, 5, "only the new watch")
        s.control("/reset-watches")
        with self.assertRaises((StreamCut, ConnectionError, ssl.SSLError)):
            w.next()
        w.close()
        stats = s.control("/stats")
        self.assertGreaterEqual(stats["resources"]["secrets"]["watch"], 2)
        self.assertGreaterEqual(stats["resources"]["secrets"]["list"], 1)

    def test_refuse_connections(self):
        s = self.srv
        s.control("/refuse", {})
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", s.port), timeout=2).close()
        self.assertFalse(s.control("/stats")["accepting"])
        s.control("/accept", {})
        self.assertEqual(s.request("GET", SECRETS)[0], 200)
        s.control("/refuse", {"seconds": 0.3})
        wait_for(lambda: s.control("/stats")["accepting"], 5, "listening again")
        self.assertEqual(s.request("GET", SECRETS)[0], 200)

    def test_control_objects(self):
        s = self.srv
        out = s.control("/objects", {"items": [
            {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "strait"},
             "spec": {"controller": "strait.io/ingress-controller"}},
            dict(ingress("seeded"), status={"loadBalancer": {"ingress": [{"hostname": "lb.example"}]}})]})
        self.assertEqual(out["count"], 2)
        got = s.ok("GET", ING + "/seeded")
        self.assertEqual(got["status"]["loadBalancer"]["ingress"], [{"hostname": "lb.example"}])
        dump = s.control("/objects?resource=ingressclasses.networking.k8s.io")["objects"]
        self.assertEqual([o["metadata"]["name"] for o in dump["ingressclasses.networking.k8s.io"]], ["strait"])
        self.assertIn("strait.io/ingress-controller", s.kubectl("get", "ingressclass").stdout)
        s.ok("DELETE", ING + "/seeded")

    def test_kubectl_apply_install_kinds(self):
        """The kinds an install of strait is made of (deploy/) apply, re-apply as patches and print."""
        s = self.srv
        path = os.path.join(self.tmp, "install.yaml")
        with open(path, "w") as f:
            f.write(INSTALL)
        out = s.kubectl("apply", "-f", path).stdout
        for created in ("clusterrole.rbac.authorization.k8s.io/inst", "clusterrolebinding.rbac.authorization.k8s.io/inst",
                        "role.rbac.authorization.k8s.io/inst", "rolebinding.rbac.authorization.k8s.io/inst",
                        "deployment.apps/inst", "poddisruptionbudget.policy/inst",
                        "horizontalpodautoscaler.autoscaling/inst"):
            self.assertIn(created + " created", out)
        self.assertIn("unchanged", s.kubectl("apply", "-f", path).stdout)
        # A create resets status; a changed arg goes out as a strategic merge patch keyed by container name.
        dep = s.ok("GET", "/apis/apps/v1/namespaces/inst/deployments/inst")
        self.assertEqual(dep["status"], {})
        with open(path, "w") as f:
            f.write(INSTALL.replace("--workers=2", "--workers=3"))
        self.assertIn("deployment.apps/inst configured", s.kubectl("apply", "-f", path).stdout)
        dep = s.ok("GET", "/apis/apps/v1/namespaces/inst/deployments/inst")
        c = dep["spec"]["template"]["spec"]["containers"]
        self.assertEqual([(x["name"], x["args"], [e["name"] for e in x["env"]]) for x in c],
                         [("controller", ["--workers=3"], ["POD_NAMESPACE"])])
        self.assertEqual(dep["metadata"]["generation"], 2)
        self.assertEqual(s.ok("GET", "/apis/policy/v1/namespaces/inst/poddisruptionbudgets/inst")["status"]
                         ["disruptionsAllowed"], 0)
        table = s.kubectl("get", "deploy,hpa,pdb,rolebinding", "-n", "inst").stdout
        self.assertIn("0/2", table)
        self.assertIn("Deployment/inst", table)
        self.assertIn("cpu: <unknown>/70%", table)
        self.assertIn("Role/inst", table)
        s.kubectl("delete", "-f", path)
        self.assertEqual(s.request("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/inst")[0], 404)


INSTALL = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: inst}
rules:
- {apiGroups: [""], resources: [services], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: inst}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: inst}
subjects: [{kind: ServiceAccount, name: inst, namespace: inst}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: inst, namespace: inst}
rules:
- {apiGroups: [coordination.k8s.io], resources: [leases], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: inst, namespace: inst}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: inst}
subjects: [{kind: ServiceAccount, name: inst, namespace: inst}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: inst, namespace: inst}
spec:
  replicas: 2
  selector: {matchLabels: {app: inst}}
  template:
    metadata: {labels: {app: inst}}
    spec:
      containers:
      - name: controller
        image: strait:0.1.0
        args: [--workers=2]
        env:
        - name: POD_NAMESPACE
          valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: inst, namespace: inst}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: inst}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: inst, namespace: inst}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: inst}
  minReplicas: 2
  maxReplicas: 10
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
"""


class RestartTest(unittest.TestCase):
    def test_kill_and_restart_keeps_objects_and_resource_versions(self):
        tmp = tempfile.mkdtemp(prefix="fake-apiserver-restart-")
        self.addCleanup(shutil.rmtree, tmp, True)
        state = os.path.join(tmp, "state.jsonl")
        srv = Server(tmp, extra=("--state-file", state))
        try:
            port = srv.port
            a = srv.ok("POST", ING, ingress("keep"))
            srv.ok("POST", SECRETS, {"metadata": {"name": "gone"}})
            srv.ok("DELETE", SECRETS + "/gone")
            last_rv = int(srv.ok("GET", ING)["metadata"]["resourceVersion"])
            w = srv.watch(f"{ING}?watch=1&resourceVersion={last_rv}")
            srv.kill()  # SIGKILL: no chance to flush anything more
            with self.assertRaises((StreamCut, ConnectionError, ssl.SSLError)):
                w.next()
            w.close()
            srv = Server(tmp, listen=f"127.0.0.1:{port}", extra=("--state-file", state))
            self.assertEqual(srv.port, port)
            got = srv.ok("GET", ING + "/keep")
            self.assertEqual(got["metadata"]["uid"], a["metadata"]["uid"])
            self.assertEqual(srv.request("GET", SECRETS + "/gone")[0], 404)
            self.assertEqual(int(srv.ok("GET", ING)["metadata"]["resourceVersion"]), last_rv)
            # The watch cache starts empty: the old RV is still the current one and may be watched from...
            w = srv.watch(f"{ING}?watch=1&resourceVersion={last_rv}")
            b = srv.ok("POST", ING, ingress("new"))
            self.assertEqual(int(b["metadata"]["resourceVersion"]), last_rv + 1)
            self.assertEqual(w.next_of(("ADDED",))["object"]["metadata"]["name"], "new")
            w.close()
            # ...but anything older is gone.
            w = srv.watch(f"{ING}?watch=1&resourceVersion={last_rv - 1}")
            self.assertEqual(w.next()["object"]["code"], 410)
            w.close()
            # SIGTERM ends open watches cleanly and exits 0.
            w = srv.watch(f"{ING}?watch=1")
            self.assertEqual(w.next()["type"], "ADDED")
            srv.proc.send_signal(signal.SIGTERM)
            self.assertIsNone(w.next_of(()))
            w.close()
            srv.stop()
            self.assertEqual(srv.proc.returncode, 0)
        finally:
            if srv.proc.poll() is None:
                srv.kill()


if __name__ == "__main__":
    unittest.main()
