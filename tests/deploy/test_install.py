"""deploy/ installs, against the test API server (tests/apiserver) with the real kubectl: every
rendered object is accepted by `kubectl apply`, and the Deployment's own container args, run as a
real strait process, bring it to ready, publish the Service address into Ingress status, hold the
Lease the Role allows, and use no API verb the RBAC rules do not grant. So the manifests and the
binary cannot drift apart."""
import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import unittest  # noqa: E402

import deploytools as dt  # noqa: E402

POD_NAME = "strait-5d8f7c9b6d-x2x4q"
LB_ADDRESS = "127.0.0.9"  # what a cloud load balancer would have put into the Service's status
DEMO_APP = """\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: demo}
spec:
  ingressClassName: strait
  rules:
  - host: web.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /gone, pathType: Prefix, backend: {service: {name: gone, port: {number: 80}}}}
"""


def _subset(want, got, path=""):
    """Paths where `want` (what was sent) is not contained in `got` (what the server stored)."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [path]
        return [p for k, v in want.items() for p in _subset(v, got.get(k), f"{path}.{k}")]
    if isinstance(want, list):
        if not isinstance(got, list) or len(want) != len(got):
            return [path]
        return [p for i, (a, b) in enumerate(zip(want, got)) for p in _subset(a, b, f"{path}[{i}]")]
    return [] if want == got else [path]


def _allowed(rules, group, resource, verb):
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules)


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="strait-deploy-install-")
        cls.env = dt.offline_env(cls.tmp)
        cls.helm_bin = dt.helm_binary(cls.tmp)
        cls.server = dt.FakeApiServer(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def apply_overlay(self, overlay):
        path = os.path.join(dt.ROOT, "deploy", "overlays", overlay)
        return self.server.kubectl("apply", "-k", path).stdout

    def assert_stored(self, objs):
        """Every object is on the server, holding everything that was sent (plus server defaults).
        Returns their resourceVersions."""
        versions = {}
        for o in objs:
            m = o["metadata"]
            args = [o["kind"].lower() + "." + o["apiVersion"].split("/")[0] if "/" in o["apiVersion"]
                    else o["kind"].lower(), m["name"]]
            if m.get("namespace"):
                args += ["-n", m["namespace"]]
            stored = self.server.get(*args)
            want = {k: v for k, v in o.items() if k != "metadata"}
            want["metadata"] = {k: m[k] for k in ("name", "namespace", "labels", "annotations") if k in m}
            self.assertEqual(_subset(want, stored), [], dt.key(o))
            versions[dt.key(o)] = stored["metadata"]["resourceVersion"]
        return versions

    def test_every_rendered_object_is_accepted(self):
        for overlay in dt.OVERLAYS:
            with self.subTest(overlay=overlay):
                objs = dt.yaml_to_objects(dt.kustomize(overlay, self.env), self.env)
                out = self.apply_overlay(overlay)
                self.assertEqual(len(out.strip().splitlines()), len(objs), out)
                self.assertNotRegex(out, r"(?i)error|warning")
                versions = self.assert_stored(objs)
                # A second apply of the same install changes nothing. (kubectl still reports the
                # PodDisruptionBudget "configured": its selector is patchStrategy=replace, so the
                # patch always carries it; it is a no-op on the server.)
                self.apply_overlay(overlay)
                self.assertEqual(self.assert_stored(objs), versions)
        with self.subTest(packaging="helm"):
            rendered = dt.helm_template(self.helm_bin, self.env)
            out = self.server.kubectl("apply", "-f", "-", stdin=rendered).stdout
            objs = dt.yaml_to_objects(rendered, self.env)
            self.assertEqual(len(out.strip().splitlines()), len(objs), out)
            self.assert_stored(objs)

    def test_helm_install_upgrade_uninstall(self):
        """The chart as an operator uses it, next to the kustomize install: another release, its own
        IngressClass, in its own namespace."""
        s = self.server
        helm = [self.helm_bin, "--kubeconfig", s.kubeconfig]
        install = [dt.CHART, "-n", "edge", "--set", "ingressClass.name=edge"]
        out = dt.run(helm + ["install", "edge", *install, "--create-namespace"], env=self.env).stdout
        self.assertIn("STATUS: deployed", out)
        self.assertIn("kubectl -n edge get service edge-strait", out)  # NOTES
        rendered = dt.yaml_to_objects(dt.run(helm + ["template", "edge", *install], env=self.env).stdout, self.env)
        self.assert_stored(rendered)
        dt.run(helm + ["upgrade", "edge", *install, "--reuse-values", "--set", "service.type=NodePort",
                       "--set", "service.nodePorts.http=30080"], env=self.env)
        svc = s.get("service", "edge-strait", "-n", "edge")["spec"]
        self.assertEqual((svc["type"], svc["ports"][0]["nodePort"]), ("NodePort", 30080))
        dt.run(helm + ["uninstall", "edge", "-n", "edge"], env=self.env)
        left = [(kind, o["metadata"]["name"]) for kind, objs in s.control("GET", "/objects")["objects"].items()
                for o in objs if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/instance") == "edge"]
        self.assertEqual(left, [])

    def test_deployment_args_bring_strait_to_ready(self):
        binary = dt.strait_binary()
        if not os.access(binary, os.X_OK):
            self.fail(f"no strait binary at {binary} (build it, or set STRAIT_BINARY)")
        s = self.server
        objs = dt.yaml_to_objects(dt.kustomize("loadbalancer", self.env), self.env)
        self.apply_overlay("loadbalancer")
        dep, c = dt.controller_container(objs)
        namespace = dep["metadata"]["namespace"]
        s.kubectl("create", "namespace", "demo")
        s.kubectl("apply", "-f", "-", stdin=DEMO_APP)
        s.kubectl("patch", "service", "strait", "-n", namespace, "--subresource=status", "--type=merge",
                  "-p", json.dumps({"status": {"loadBalancer": {"ingress": [{"ip": LB_ADDRESS}]}}}))

        args, env, ports = dt.container_invocation(objs, s.kubeconfig, POD_NAME)
        flags = dt.flag_map(c["args"])  # as the manifest has them
        health = f"http://127.0.0.1:{ports['healthz-port']}"

        s.control("POST", "/reset-stats")
        log_path = os.path.join(self.tmp, "strait.log")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([binary, *args], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                    env=dict(os.environ, **env))

        def running_and(cond):
            def check():
                if proc.poll() is not None:
                    raise AssertionError(f"strait exited with {proc.returncode}")
                return cond()
            return check

        try:
            readiness, liveness = c["readinessProbe"]["httpGet"], c["livenessProbe"]["httpGet"]
            self.assertEqual(readiness["port"], int(flags["healthz-port"]))
            dt.wait_for(running_and(lambda: dt.http_status(health + readiness["path"]) == 200), 30,
                        f"GET {readiness['path']} 200")
            self.assertEqual(dt.http_status(health + liveness["path"]), 200)
            self.assertEqual(dt.http_status(f"http://127.0.0.1:{ports['http-port']}/", host="nothing.example"), 404)

            # --publish-service=$(POD_NAMESPACE)/strait names the traffic Service: its address
            # reaches the Ingress's status, and the missing backend becomes an Event.
            def objects(resource):
                return s.control("GET", f"/objects?resource={resource}")["objects"].get(resource, [])

            def ingress_status():
                ing = [o for o in objects("ingresses.networking.k8s.io") if o["metadata"]["name"] == "web"]
                return ing and ing[0]["status"].get("loadBalancer", {}).get("ingress") == [{"ip": LB_ADDRESS}]
            dt.wait_for(running_and(ingress_status), 30, "the Service's address in the Ingress's status")
            dt.wait_for(running_and(lambda: [e for e in objects("events") if e["metadata"]["namespace"] == "demo"]),
                        30, "a warning Event about the missing Service")
            leases = [o for o in objects("leases.coordination.k8s.io")
                      if (o["metadata"]["namespace"], o["metadata"]["name"]) == (namespace, flags["election-id"])]
            self.assertEqual([lease["spec"]["holderIdentity"] for lease in leases], [POD_NAME])

            # Every API call strait made is one the RBAC rules grant.
            cluster_rules = dt.one(objs, "ClusterRole")["rules"]
            role = dt.one(objs, "Role")
            self.assertEqual(role["metadata"]["namespace"], namespace)
            named = {n for r in role["rules"] for n in r.get("resourceNames", [])}
            self.assertEqual(named, {flags["election-id"]})
            used = s.control("GET", "/stats")["resources"]
            self.assertIn("ingresses.networking.k8s.io/status", used)
            for stat, verbs in used.items():
                plural_group, _, sub = stat.partition("/")
                plural, _, group = plural_group.partition(".")
                resource = plural + ("/" + sub if sub else "")
                for verb in verbs:
                    self.assertTrue(_allowed(cluster_rules, group, resource, verb) or
                                    _allowed(role["rules"], group, resource, verb),
                                    f"strait did {verb} on {stat}, which its RBAC does not grant")

            # SIGTERM: the drain fits in the pod's termination grace period.
            proc.send_signal(signal.SIGTERM)
            grace = dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            self.assertEqual(proc.wait(timeout=grace), 0)
        except (AssertionError, subprocess.TimeoutExpired) as e:
            with open(log_path, errors="replace") as f:
                raise AssertionError(f"{e}\n--- strait's log:\n{f.read()[-8000:]}") from None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            s.kubectl("delete", "namespace", "demo", "--wait=false")


if __name__ == "__main__":
    unittest.main()
