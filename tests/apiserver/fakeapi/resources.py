"""The resource types the fake server knows: their names, scope, subresources and selectable fields.

One table drives discovery, URL routing, storage keys and field selectors, so the three cannot disagree.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple = ()
    status: bool = False  # has a status subresource
    # Extra field-selector keys (dotted paths into the object); metadata.name/namespace always work.
    fields: tuple = ()
    # Storage shared between two API views of one kind (core and events.k8s.io Events).
    storage: str = ""
    categories: tuple = ()

    @property
    def group_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self):
        """`plural.group`, as kubectl and error messages name a resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def storage_key(self):
        return self.storage or self.qualified

    @property
    def list_kind(self):
        return self.kind + "List"


VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
STATUS_VERBS = ["get", "patch", "update"]

RESOURCES = [
    Resource("", "v1", "namespaces", "namespace", "Namespace", False, ("ns",), status=True,
             fields=("status.phase",)),
    Resource("", "v1", "nodes", "node", "Node", False, ("no",), status=True,
             fields=("spec.unschedulable",)),
    Resource("", "v1", "services", "service", "Service", True, ("svc",), status=True,
             fields=("spec.type", "spec.clusterIP"), categories=("all",)),
    Resource("", "v1", "endpoints", "endpoints", "Endpoints", True, ("ep",)),
    Resource("", "v1", "secrets", "secret", "Secret", True, (), fields=("type",)),
    Resource("", "v1", "configmaps", "configmap", "ConfigMap", True, ("cm",)),
    Resource("", "v1", "pods", "pod", "Pod", True, ("po",), status=True,
             fields=("spec.nodeName", "status.phase", "status.podIP"), categories=("all",)),
    Resource("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, ("sa",)),
    Resource("", "v1", "events", "event", "Event", True, ("ev",), storage="events",
             fields=("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                     "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                     "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type")),
    Resource("networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", True, ("ing",), status=True),
    Resource("networking.k8s.io", "v1", "ingressclasses", "ingressclass", "IngressClass", False),
    Resource("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", True,
             fields=("addressType",)),
    Resource("coordination.k8s.io", "v1", "leases", "lease", "Lease", True),
    Resource("events.k8s.io", "v1", "events", "event", "Event", True, ("ev",), storage="events",
             fields=("regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid",
                     "reason", "reportingController", "type")),
    # What an install of strait itself is made of (deploy/): stored and served, never acted upon
    # (no controllers run: a Deployment starts no pods, an HPA scales nothing, RBAC is not enforced).
    Resource("apps", "v1", "deployments", "deployment", "Deployment", True, ("deploy",), status=True,
             categories=("all",)),
    Resource("autoscaling", "v2", "horizontalpodautoscalers", "horizontalpodautoscaler",
             "HorizontalPodAutoscaler", True, ("hpa",), status=True, categories=("all",)),
    Resource("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", True,
             ("pdb",), status=True),
    Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", False),
    Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding",
             "ClusterRoleBinding", False),
    Resource("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", True),
    Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", True),
]

# group -> version -> plural -> Resource
_INDEX = {}
for _r in RESOURCES:
    _INDEX.setdefault(_r.group, {}).setdefault(_r.version, {})[_r.plural] = _r

GROUPS = [g for g in _INDEX if g]  # non-core groups, in table order


def lookup(group, version, plural):
    return _INDEX.get(group, {}).get(version, {}).get(plural)


def by_group_version(group, version):
    return _INDEX.get(group, {}).get(version)


def by_api_version_kind(api_version, kind):
    group, _, version = api_version.rpartition("/")
    for r in (by_group_version(group, version) or {}).values():
        if r.kind == kind:
            # events.k8s.io and core Events share storage; the view is chosen by apiVersion.
            return r
    return None


def api_resource_list(group, version):
    """The legacy discovery document for one group version (APIResourceList)."""
    resources = []
    for r in _INDEX[group][version].values():
        entry = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                 "kind": r.kind, "verbs": VERBS}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        resources.append(entry)
        if r.status:
            resources.append({"name": r.plural + "/status", "singularName": "", "namespaced": r.namespaced,
                              "kind": r.kind, "verbs": STATUS_VERBS})
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


def api_group(group):
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in _INDEX[group]]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": versions,
            "preferredVersion": versions[0]}


def api_group_list():
    groups = []
    for g in GROUPS:
        d = api_group(g)
        del d["kind"], d["apiVersion"]
        groups.append(d)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
