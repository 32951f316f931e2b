"""What the API server does to objects on the way in: identity, metadata the server owns, the status
subresource split, generation, preconditions, finalizers, and list paging over the store.

Every method takes the store lock itself; HTTP handlers never touch the store directly.
"""
import base64
import bisect
import binascii
import copy
import json
import random
import re
import time
import uuid

from . import patch as patches
from . import views
from .resources import RESOURCES, by_api_version_kind
from .selectors import FieldSelector, LabelSelector, SelectorError
from .status import (ApiError, already_exists, bad_request, conflict, expired, invalid, not_found)

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Status a create starts from, for kinds whose status only the status subresource may write.
# (group, kind) -> status; the empty Go structs serialize to these.
_CREATE_STATUS = {
    ("networking.k8s.io", "Ingress"): {"loadBalancer": {}},
    ("", "Service"): {"loadBalancer": {}},
    ("", "Namespace"): {"phase": "Active"},
    ("", "Pod"): {"phase": "Pending"},
    ("apps", "Deployment"): {},
    ("autoscaling", "HorizontalPodAutoscaler"): {"desiredReplicas": 0},
    ("policy", "PodDisruptionBudget"): {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0,
                                        "expectedPods": 0},
}
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _meta(obj):
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def _namespace_resource():
    return next(r for r in RESOURCES if r.plural == "namespaces")


class Query:
    """The parsed selectors of a list or watch, applied to objects as the client sees them."""

    def __init__(self, res, namespace, params, name=None):
        self.res = res
        self.namespace = namespace  # None: all namespaces
        try:
            self.labels = LabelSelector(params.get("labelSelector", ""))
            self.fields = FieldSelector(params.get("fieldSelector", ""), res)
        except SelectorError as e:
            raise bad_request(str(e))
        self.name = name or self.fields.name_only()

    def matches_key(self, key):
        ns, name = key
        if self.namespace is not None and ns != self.namespace:
            return False
        return self.name is None or name == self.name

    def matches(self, key, viewed):
        return (self.matches_key(key) and self.labels.matches(_meta(viewed).get("labels"))
                and self.fields.matches(viewed))


class Registry:
    def __init__(self, store):
        self.store = store
        with store.cond:
            if not store.objects(_namespace_resource().storage_key):
                for ns in INITIAL_NAMESPACES:
                    self.create(_namespace_resource(), "", {"metadata": {"name": ns}})

    # ------------------------------------------------------------ reads
    def get(self, res, ns, name):
        with self.store.cond:
            obj = self.store.get(res.storage_key, (ns, name))
        if obj is None:
            raise not_found(res, name)
        return views.from_storage(res, obj)

    def list(self, res, query, params):
        """A List object, honouring resourceVersion/resourceVersionMatch, limit and continue."""
        rv_param = params.get("resourceVersion")
        match = params.get("resourceVersionMatch", "")
        cont = params.get("continue", "")
        try:
            limit = int(params.get("limit") or 0)
        except ValueError:
            raise bad_request(f"invalid limit {params.get('limit')!r}")
        if match and rv_param in (None, ""):
            raise _invalid_options("resourceVersionMatch is forbidden unless resourceVersion is provided")
        if match not in ("", "Exact", "NotOlderThan"):
            raise _invalid_options(f"resourceVersionMatch: Unsupported value: {match!r}")
        if cont and rv_param not in (None, "", "0"):
            raise bad_request("specifying resource version is not allowed when using continue")
        if match == "Exact" and rv_param == "0":
            raise _invalid_options("resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"")
        with self.store.cond:
            start_key = None
            if cont:
                read_rv, start_key = self._decode_continue(cont)
            elif rv_param not in (None, "", "0"):
                read_rv = self._parse_rv(rv_param)
                self._wait_for_rv(read_rv)
                exact = match == "Exact" or (match == "" and limit > 0)
                if not exact:
                    read_rv = self.store.rv  # "not older than N": the newest state is
            else:
                read_rv = self.store.rv
            if read_rv < self.store.compacted and read_rv != self.store.rv:
                raise expired("The resourceVersion for the provided list is too old.")
            items = self.store.sorted_items(res.storage_key, read_rv, cache=bool(limit))
        selected, next_key, remaining = [], None, 0
        first = 0 if start_key is None else bisect.bisect_right(items, start_key, key=lambda kv: kv[0])
        for idx in range(first, len(items)):
            key, obj = items[idx]
            if not query.matches_key(key):
                continue
            viewed = views.from_storage(res, obj)
            if not (query.labels.matches(_meta(viewed).get("labels")) and query.fields.matches(viewed)):
                continue
            if limit and len(selected) == limit:
                next_key = selected[-1][0]
                remaining = (len(items) - idx if query.namespace is None and query.name is None
                             else sum(1 for k, _ in items[idx:] if query.matches_key(k)))
                break
            selected.append((key, viewed))
        meta = {"resourceVersion": str(read_rv)}
        if next_key is not None:
            meta["continue"] = _encode_continue(read_rv, next_key)
            if query.labels.empty() and query.fields.empty():
                meta["remainingItemCount"] = remaining
        return {"kind": res.list_kind, "apiVersion": res.group_version, "metadata": meta,
                "items": [o for _, o in selected]}

    def _parse_rv(self, text):
        try:
            rv = int(text)
            if rv < 0:
                raise ValueError
            return rv
        except ValueError:
            raise bad_request(f"invalid resource version: {text!r}")

    def _wait_for_rv(self, rv):
        """A read at an RV the server has not reached waits briefly, then 504 (as upstream)."""
        deadline = time.monotonic() + 3
        while self.store.rv < rv:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ApiError(504, "Timeout", f"Too large resource version: {rv}, current: {self.store.rv}",
                               {"causes": [{"reason": "ResourceVersionTooLarge",
                                            "message": "Too large resource version"}],
                                "retryAfterSeconds": 1}, retry_after=1)
            self.store.cond.wait(left)

    def _decode_continue(self, token):
        try:
            raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            rv, start = int(raw["rv"]), raw["start"]
            key = tuple(start.split("/", 1)) if "/" in start else ("", start)
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise bad_request("continue key is not valid: incorrect encoded start resourceVersion")
        if rv < self.store.compacted:
            raise expired("The provided continue parameter is too old to display a consistent list result. "
                          "You can start a new list without the continue parameter.")
        return rv, key

    # ------------------------------------------------------------ writes
    def create(self, res, ns, body, dry_run=False):
        obj = self._incoming(res, ns, body)
        meta = obj["metadata"]
        if meta.get("resourceVersion"):
            raise ApiError(500, "InternalError", "resourceVersion should not be set on objects to be created")
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = meta["generateName"] + "".join(
                    random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
            else:
                raise invalid(res, "", "metadata.name", "", "name or generateName is required")
        self._validate_name(res, meta["name"])
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        meta["generation"] = 1
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields"):
            meta.pop(k, None)
        if (res.group, res.kind) in _CREATE_STATUS:
            obj["status"] = copy.deepcopy(_CREATE_STATUS[(res.group, res.kind)])
        if res.kind == "Namespace":
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        key = (ns, meta["name"])
        with self.store.cond:
            if self.store.get(res.storage_key, key) is not None:
                raise already_exists(res, meta["name"])
            if dry_run:
                return views.from_storage(res, obj)
            change = self.store.commit(res.storage_key, key, obj, "ADDED")
        return views.from_storage(res, change.new)

    def update(self, res, ns, name, body, subresource="", dry_run=False):
        obj = self._incoming(res, ns, body)
        if obj["metadata"].get("name", name) != name:
            raise bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                              % (obj["metadata"].get("name"), name))
        obj["metadata"]["name"] = name
        with self.store.cond:
            current = self._current(res, ns, name)
            want_rv = obj["metadata"].get("resourceVersion")
            if want_rv and want_rv != current["metadata"]["resourceVersion"]:
                raise conflict(res, name)
            return self._write(res, ns, current, obj, subresource, dry_run)

    def patch(self, res, ns, name, content_type, body, subresource="", dry_run=False):
        try:
            doc = json.loads(body) if body else None
        except ValueError as e:
            raise bad_request(f"error decoding patch: {e}")
        with self.store.cond:
            exists = self.store.get(res.storage_key, (ns, name)) is not None
            if content_type == "application/apply-patch+yaml" and not exists:
                if not isinstance(doc, dict):
                    raise bad_request("apply patches must be JSON objects (YAML is not supported)")
                doc.setdefault("metadata", {})["name"] = name
                return self.create(res, ns, doc, dry_run)
            current = self._current(res, ns, name)
            viewed = views.from_storage(res, current)
            try:
                if content_type == "application/json-patch+json":
                    patched = patches.json_patch(viewed, doc)
                elif content_type in ("application/merge-patch+json", "application/apply-patch+yaml"):
                    patched = patches.merge_patch(viewed, doc)
                elif content_type == "application/strategic-merge-patch+json":
                    patched = patches.strategic_merge_patch(viewed, doc, res.kind)
                else:
                    raise ApiError(415, "UnsupportedMediaType",
                                   "the body of the request was in an unknown format - accepted media types "
                                   "include: application/json-patch+json, application/merge-patch+json, "
                                   "application/apply-patch+yaml, application/strategic-merge-patch+json")
            except patches.PatchError as e:
                if e.invalid:
                    raise ApiError(422, "Invalid", str(e))
                raise bad_request(str(e))
            if not isinstance(patched, dict):
                raise bad_request("the patch produced something that is not an object")
            meta = _meta(patched)
            if meta.get("resourceVersion") not in (None, current["metadata"]["resourceVersion"]):
                raise conflict(res, name)  # a patch that names an RV makes it a precondition
            if meta.get("name", name) != name:
                raise bad_request("the name of the object does not match the name on the URL")
            obj = self._incoming(res, ns, patched)
            return self._write(res, ns, current, obj, subresource, dry_run)

    def delete(self, res, ns, name, options=None, dry_run=False):
        options = options or {}
        with self.store.cond:
            current = self._current(res, ns, name)
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != current["metadata"].get("uid"):
                raise conflict(res, name, "Precondition failed: UID in precondition: %s, UID in object meta: %s"
                               % (pre["uid"], current["metadata"].get("uid")))
            if pre.get("resourceVersion") and pre["resourceVersion"] != current["metadata"]["resourceVersion"]:
                raise conflict(res, name, "Precondition failed: ResourceVersion in precondition: %s, "
                               "ResourceVersion in object meta: %s"
                               % (pre["resourceVersion"], current["metadata"]["resourceVersion"]))
            if dry_run:
                return views.from_storage(res, current)
            if current["metadata"].get("finalizers"):
                if current["metadata"].get("deletionTimestamp"):
                    return views.from_storage(res, current)
                obj = copy.deepcopy(current)
                obj["metadata"]["deletionTimestamp"] = now()
                obj["metadata"]["deletionGracePeriodSeconds"] = 0
                return views.from_storage(res, self.store.commit(res.storage_key, (ns, name), obj, "MODIFIED").new)
            change = self.store.commit(res.storage_key, (ns, name), None, "DELETED")
            if res.kind == "Namespace" and not res.group:
                self._delete_namespace_contents(name)
            return views.from_storage(res, change.new)

    def delete_collection(self, res, query, options=None, dry_run=False):
        with self.store.cond:
            keys = [k for k, obj in self.store.sorted_items(res.storage_key)
                    if query.matches(k, views.from_storage(res, obj))]
            deleted = [self.delete(res, ns, name, options, dry_run) for ns, name in keys]
            meta = {"resourceVersion": str(self.store.rv)}
        return {"kind": res.list_kind, "apiVersion": res.group_version, "metadata": meta, "items": deleted}

    def upsert(self, body):
        """Create or replace an object named by its own apiVersion/kind/namespace (control API seeding)."""
        res = by_api_version_kind(body.get("apiVersion", ""), body.get("kind", ""))
        if res is None:
            raise bad_request(f"unknown apiVersion/kind {body.get('apiVersion')}/{body.get('kind')}")
        ns = _meta(body).get("namespace", "default") if res.namespaced else ""
        name = _meta(body).get("name", "")
        with self.store.cond:
            if name and self.store.get(res.storage_key, (ns, name)) is not None:
                body = copy.deepcopy(body)
                body["metadata"].pop("resourceVersion", None)
                out = self.update(res, ns, name, body)
                if "status" in body and res.status:
                    out = self.update(res, ns, name, body, "status")
                return out
            out = self.create(res, ns, body)
            if "status" in body and res.status:
                out = self.update(res, ns, out["metadata"]["name"], body, "status")
            return out

    # ------------------------------------------------------------ helpers
    def _current(self, res, ns, name):
        current = self.store.get(res.storage_key, (ns, name))
        if current is None:
            raise not_found(res, name)
        return current

    def _incoming(self, res, ns, body):
        """A deep copy of a client's object, in storage form, with kind, apiVersion and namespace checked."""
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        obj = copy.deepcopy(body)
        if obj.get("kind", res.kind) != res.kind or obj.get("apiVersion", res.group_version) != res.group_version:
            raise bad_request(f"the API version in the data ({obj.get('apiVersion')}) does not match the expected "
                              f"API version ({res.group_version}) or kind ({obj.get('kind')} vs {res.kind})")
        obj = {"kind": res.kind, "apiVersion": res.group_version,
               **{k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}}
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if res.namespaced:
            if meta.get("namespace", ns) != ns:
                raise bad_request("the namespace of the provided object does not match the namespace sent on "
                                  "the request")
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        for field in ("labels", "annotations"):
            values = meta.get(field)
            if values is not None and (not isinstance(values, dict) or
                                       not all(isinstance(v, str) for v in values.values())):
                raise invalid(res, meta.get("name", ""), f"metadata.{field}", values, "must be a map of strings")
        apply_defaults(obj)
        return views.to_storage(res, obj)

    def _validate_name(self, res, name):
        pattern, limit = (_LABEL, 63) if res.kind == "Namespace" else (_SUBDOMAIN, 253)
        if len(name) > limit or not pattern.match(name):
            raise invalid(res, name, "metadata.name", name,
                          "a lowercase RFC 1123 %s must consist of lower case alphanumeric characters, '-' or '.', "
                          "and must start and end with an alphanumeric character"
                          % ("label" if pattern is _LABEL else "subdomain"))

    def _write(self, res, ns, current, obj, subresource, dry_run):
        """Finish an update or patch: keep what the server owns, split spec from status, commit."""
        meta, cur_meta = obj["metadata"], current["metadata"]
        if subresource == "status":
            new = dict(current)
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
            obj = new
        else:
            for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
                if k in cur_meta:
                    meta[k] = cur_meta[k]
                else:
                    meta.pop(k, None)
            if res.status:
                if "status" in current:
                    obj["status"] = current["status"]
                else:
                    obj.pop("status", None)
            if _spec_of(obj) != _spec_of(current):
                meta["generation"] = cur_meta.get("generation", 0) + 1
            obj["metadata"].pop("managedFields", None)
        key = (ns, cur_meta["name"])
        if dry_run:
            return views.from_storage(res, obj)
        obj_meta = obj["metadata"]
        if obj_meta.get("deletionTimestamp") and not obj_meta.get("finalizers"):
            return views.from_storage(res, self.store.commit(res.storage_key, key, None, "DELETED").new)
        if _unchanged(obj, current):
            return views.from_storage(res, current)  # a no-op write keeps its RV and sends no event
        return views.from_storage(res, self.store.commit(res.storage_key, key, obj, "MODIFIED").new)

    def _delete_namespace_contents(self, namespace):
        for res in RESOURCES:
            if not res.namespaced or res.group == "events.k8s.io":
                continue
            for key in [k for k in self.store.objects(res.storage_key) if k[0] == namespace]:
                self.store.commit(res.storage_key, key, None, "DELETED")


def apply_defaults(obj):
    """The few defaults of the real API that clients see for the kinds strait reads (no cluster IPs:
    an address outside loopback must never look routable in a test)."""
    kind = obj.get("kind")
    if kind == "Service" and isinstance(obj.get("spec"), dict):
        spec = obj["spec"]
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                if "port" in port:
                    port.setdefault("targetPort", port["port"])
    elif kind == "EndpointSlice":
        for port in obj.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
    elif kind == "Secret":
        obj.setdefault("type", "Opaque")


def _spec_of(obj):
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")}


def _unchanged(obj, current):
    a = dict(obj, metadata=dict(obj["metadata"]))
    a["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    return a == current


def _encode_continue(rv, key):
    ns, name = key
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": f"{ns}/{name}" if ns else name},
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _invalid_options(message):
    return ApiError(422, "Invalid", f'ListOptions.meta.k8s.io "" is invalid: {message}',
                    {"kind": "ListOptions", "group": "meta.k8s.io",
                     "causes": [{"reason": "FieldValueInvalid", "message": message}]})
