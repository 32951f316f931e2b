"""deploy/ renders, and says what the issue asks: every kustomize overlay renders with the real
kubectl, the Helm chart passes `helm lint` and `helm template` with a real Helm 3, and the chart's
default render describes the same install as the `loadbalancer` overlay (and the chart with
NodePort values the same as the `nodeport` overlay)."""
import sys

sys.dont_write_bytecode = True

import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import unittest  # noqa: E402

import deploytools as dt  # noqa: E402

NODEPORT_VALUES = ("service.type=NodePort", "service.externalTrafficPolicy=Cluster",
                   "service.nodePorts.http=30080", "service.nodePorts.https=30443")
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "*", "escalate", "bind", "impersonate"}


def _duration_seconds(text):
    m = re.fullmatch(r"(\d+)(ms|s|m)?", text)
    value, unit = int(m.group(1)), m.group(2) or "s"
    return value / 1000 if unit == "ms" else value * 60 if unit == "m" else value


class RenderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="strait-deploy-render-")
        cls.env = dt.offline_env(cls.tmp)
        cls.helm_bin = dt.helm_binary(cls.tmp)
        cls.kustomized = {o: dt.yaml_to_objects(dt.kustomize(o, cls.env), cls.env) for o in ("base",) + dt.OVERLAYS}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def render_helm(self, *values):
        return dt.yaml_to_objects(dt.helm_template(self.helm_bin, self.env, *values), self.env)

    # ------------------------------------------------------------ kustomize
    def test_overlays_render_the_whole_install(self):
        kinds = {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
                 "IngressClass", "Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"}
        for overlay, objs in self.kustomized.items():
            with self.subTest(overlay=overlay):
                dt.by_key(objs)  # no duplicates
                self.assertEqual({o["kind"] for o in objs}, kinds)
                self.assertEqual(dt.one(objs, "Namespace")["metadata"]["name"], dt.NAMESPACE)
                for o in objs:
                    if o["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding", "IngressClass"):
                        self.assertEqual(o["metadata"].get("namespace"), dt.NAMESPACE, dt.key(o))
                ic = dt.one(objs, "IngressClass", "strait")
                self.assertEqual(ic["spec"]["controller"], "strait.io/ingress-controller")
                self.assertNotIn("annotations", ic["metadata"])  # not the default class unless asked
                self.assertEqual({s["metadata"]["name"] for s in objs if s["kind"] == "Service"},
                                 {"strait", "strait-metrics"})

    def test_services_per_overlay(self):
        svc = {o: dt.one(objs, "Service", "strait")["spec"] for o, objs in self.kustomized.items()}
        self.assertEqual(svc["base"]["type"], "ClusterIP")
        self.assertEqual((svc["loadbalancer"]["type"], svc["loadbalancer"]["externalTrafficPolicy"]),
                         ("LoadBalancer", "Local"))
        self.assertEqual(svc["nodeport"]["type"], "NodePort")
        self.assertEqual([(p["name"], p["port"], p["targetPort"], p.get("nodePort")) for p in svc["nodeport"]["ports"]],
                         [("http", 80, "http", 30080), ("https", 443, "https", 30443)])
        metrics = dt.one(self.kustomized["base"], "Service", "strait-metrics")["spec"]
        self.assertEqual([(p["port"], p["targetPort"]) for p in metrics["ports"]], [(10254, "metrics")])

    def test_deployment_is_hardened_and_its_ports_agree(self):
        for overlay, objs in self.kustomized.items():
            with self.subTest(overlay=overlay):
                dep, c = dt.controller_container(objs)
                pod = dep["spec"]["template"]["spec"]
                flags = dt.flag_map(c["args"])
                self.assertNotIn("command", c)  # the image's entrypoint, /strait
                self.assertEqual(flags["publish-service"], "$(POD_NAMESPACE)/strait")
                ports = {p["name"]: p["containerPort"] for p in c["ports"]}
                self.assertEqual(ports, {"http": int(flags["http-port"]), "https": int(flags["https-port"]),
                                         "metrics": int(flags["healthz-port"])})
                self.assertEqual((c["livenessProbe"]["httpGet"]["path"], c["livenessProbe"]["httpGet"]["port"]),
                                 ("/healthz", int(flags["healthz-port"])))
                self.assertEqual((c["readinessProbe"]["httpGet"]["path"], c["readinessProbe"]["httpGet"]["port"]),
                                 ("/readyz", int(flags["healthz-port"])))
                self.assertTrue(pod["securityContext"]["runAsNonRoot"])
                self.assertNotEqual(pod["securityContext"]["runAsUser"], 0)
                sc = c["securityContext"]
                self.assertEqual((sc["allowPrivilegeEscalation"], sc["readOnlyRootFilesystem"],
                                  sc["capabilities"]["drop"]), (False, True, ["ALL"]))
                for part in ("requests", "limits"):
                    self.assertEqual(set(c["resources"][part]), {"cpu", "memory"})
                # The pod outlives the drain: the grace period plus the delay before it fits.
                self.assertGreater(pod["terminationGracePeriodSeconds"],
                                   _duration_seconds(flags["shutdown-grace-period"]) + 5)
                env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in c["env"]}
                self.assertEqual(env, {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"})
                self.assertEqual(pod["serviceAccountName"], "strait")
                # The HPA owns the replica count (2 at least): no spec.replicas for apply to reset.
                self.assertNotIn("replicas", dep["spec"])
                hpa = dt.one(objs, "HorizontalPodAutoscaler")["spec"]
                self.assertEqual((hpa["minReplicas"], hpa["scaleTargetRef"]["name"],
                                  hpa["metrics"][0]["resource"]["name"]), (2, "strait", "cpu"))
                pdb = dt.one(objs, "PodDisruptionBudget")["spec"]
                self.assertEqual(pdb["selector"]["matchLabels"], dep["spec"]["selector"]["matchLabels"])

    def test_rbac_is_least_privilege(self):
        objs = self.kustomized["base"]
        cluster = dt.one(objs, "ClusterRole")["rules"]
        writes = set()
        for rule in cluster:
            self.assertNotIn("*", rule["resources"] + rule["apiGroups"] + rule["verbs"])
            self.assertNotIn("resourceNames", rule)
            for r in rule["resources"]:
                writes |= {(g, r, v) for g in rule["apiGroups"] for v in rule["verbs"] if v in WRITE_VERBS}
        self.assertEqual(writes, {("networking.k8s.io", "ingresses/status", "update"),
                                  ("networking.k8s.io", "ingresses/status", "patch"), ("", "events", "create")})
        role = dt.one(objs, "Role")
        self.assertEqual(role["metadata"]["namespace"], dt.NAMESPACE)
        for rule in role["rules"]:
            self.assertEqual((rule["apiGroups"], rule["resources"]), (["coordination.k8s.io"], ["leases"]))
        # get/update are limited to the Lease the Deployment names.
        _, c = dt.controller_container(objs)
        named = [r for r in role["rules"] if "resourceNames" in r]
        self.assertEqual([(r["resourceNames"], r["verbs"]) for r in named],
                         [([dt.flag_map(c["args"])["election-id"]], ["get", "update"])])
        for binding in ("ClusterRoleBinding", "RoleBinding"):
            b = dt.one(objs, binding)
            self.assertEqual(b["subjects"], [{"kind": "ServiceAccount", "name": "strait", "namespace": dt.NAMESPACE}])

    # ------------------------------------------------------------ Helm
    def test_helm_lint(self):
        for values in ((), NODEPORT_VALUES, ("autoscaling.enabled=false", "pdb.enabled=false"),
                       ("ingressClass.default=true", "extraArgs.proxy-body-size=8m")):
            with self.subTest(values=values):
                cmd = [self.helm_bin, "lint", "--strict", dt.CHART]
                for v in values:
                    cmd += ["--set", v]
                p = dt.run(cmd, env=self.env)
                self.assertIn("0 chart(s) failed", p.stdout)

    def test_helm_default_render_is_the_loadbalancer_overlay(self):
        self.assert_same_install(self.render_helm(), self.kustomized["loadbalancer"])

    def test_helm_nodeport_render_is_the_nodeport_overlay(self):
        self.assert_same_install(self.render_helm(*NODEPORT_VALUES), self.kustomized["nodeport"])

    def assert_same_install(self, helm_objs, kustomize_objs):
        """Same kinds and names, same container args, and indeed the same objects, except for the
        labels Helm adds and the Namespace (which `helm install --create-namespace` makes)."""
        h, k = dt.by_key(helm_objs), dt.by_key(kustomize_objs)
        self.assertEqual(k.pop(("Namespace", "", dt.NAMESPACE))["kind"], "Namespace")
        self.assertEqual(sorted(h), sorted(k))
        self.assertEqual(dt.controller_container(helm_objs)[1]["args"],
                         dt.controller_container(kustomize_objs)[1]["args"])
        for obj_key in sorted(k):
            with self.subTest(object=obj_key):
                helm_labels = h[obj_key]["metadata"].get("labels") or {}
                for label in dt.HELM_ONLY_LABELS:
                    self.assertIn(label, helm_labels)
                diff = dt.differences(dt.without_helm_labels(h[obj_key]), k[obj_key])
                if diff:
                    self.fail("helm (left) and kustomize (right) differ:\n  " + "\n  ".join(diff))

    def test_helm_values(self):
        objs = self.render_helm("autoscaling.enabled=false", "pdb.minAvailable=1", "ingressClass.default=true",
                         "extraArgs.proxy-body-size=8m", "extraArgs.watch-ingress-without-class=",
                         "electionId=edge-leader", "watchNamespace=apps", "image.repository=registry.example/strait",
                         "image.tag=9.9.9", "replicaCount=3")
        kinds = {o["kind"] for o in objs}
        self.assertNotIn("HorizontalPodAutoscaler", kinds)
        dep, c = dt.controller_container(objs)
        self.assertEqual(dep["spec"]["replicas"], 3)
        self.assertEqual(c["image"], "registry.example/strait:9.9.9")
        self.assertEqual(c["args"][-4:], ["--shutdown-grace-period=30s", "--watch-namespace=apps",
                                          "--proxy-body-size=8m", "--watch-ingress-without-class"])
        self.assertEqual(dt.flag_map(c["args"])["election-id"], "edge-leader")
        self.assertEqual(dt.one(objs, "Role")["rules"][1]["resourceNames"], ["edge-leader"])
        self.assertEqual(dt.one(objs, "PodDisruptionBudget")["spec"], {
            "minAvailable": 1, "selector": dep["spec"]["selector"]})
        self.assertEqual(dt.one(objs, "IngressClass")["metadata"]["annotations"],
                         {"ingressclass.kubernetes.io/is-default-class": "true"})
        # Another release name gives other object names, and --publish-service follows.
        other = dt.yaml_to_objects(dt.run([self.helm_bin, "template", "edge", dt.CHART, "-n", "ingress"],
                                          env=self.env).stdout, self.env)
        _, c = dt.controller_container(other)
        self.assertEqual(dt.flag_map(c["args"])["publish-service"], "$(POD_NAMESPACE)/edge-strait")
        self.assertIn(("Service", "ingress", "edge-strait-metrics"), dt.by_key(other))
        # The schema refuses what the Service cannot be.
        p = dt.run([self.helm_bin, "template", "x", dt.CHART, "--set", "service.type=Ingress"],
                   env=self.env, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("service.type", p.stderr)

    def test_versions_agree_with_the_binary(self):
        """The image tag and version labels of both packagings name the version the binary reports."""
        binary = dt.strait_binary()
        if not os.access(binary, os.X_OK):
            self.skipTest(f"no strait binary at {binary} (set STRAIT_BINARY)")
        version = dt.run([binary, "--version"]).stdout.split()[1]
        for name, objs in (("kustomize", self.kustomized["loadbalancer"]), ("helm", self.render_helm())):
            with self.subTest(packaging=name):
                _, c = dt.controller_container(objs)
                self.assertEqual(c["image"], f"strait:{version}")
                for o in objs:
                    self.assertEqual(o["metadata"]["labels"]["app.kubernetes.io/version"], version, dt.key(o))


if __name__ == "__main__":
    unittest.main()
