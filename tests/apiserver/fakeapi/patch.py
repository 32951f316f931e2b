"""The three patch formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and an approximation
of Kubernetes' strategic merge patch.

Strategic merge patch here: merge-patch semantics for maps, with the directives `$patch`
(replace/delete/merge), `$retainKeys`, `$deleteFromPrimitiveList/<field>` and
`$setElementOrder/<field>` honoured; lists are replaced whole unless MERGE_KEYS below names a merge key
for that path (then elements are merged by key, as the real Go struct tags say), or the path is a
primitive list with the merge strategy (then the patch's values are added).
"""
import copy


class PatchError(ValueError):
    """Raised for malformed patches (400) or failed JSON-patch `test` ops (422: `invalid=True`)."""

    def __init__(self, message, invalid=False):
        super().__init__(message)
        self.invalid = invalid


# ---------------------------------------------------------------- JSON merge patch
def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


# ---------------------------------------------------------------- JSON patch
def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _resolve(doc, parts, path):
    cur = doc
    for p in parts:
        if isinstance(cur, dict):
            if p not in cur:
                raise PatchError(f"path {path!r}: key {p!r} not found", invalid=True)
            cur = cur[p]
        elif isinstance(cur, list):
            cur = cur[_index(cur, p, path, allow_end=False)]
        else:
            raise PatchError(f"path {path!r}: cannot descend into a scalar", invalid=True)
    return cur


def _index(lst, p, path, allow_end):
    if p == "-" and allow_end:
        return len(lst)
    if not p.isdigit() or (len(p) > 1 and p[0] == "0"):
        raise PatchError(f"path {path!r}: bad array index {p!r}", invalid=True)
    i = int(p)
    if i > len(lst) or (i == len(lst) and not allow_end):
        raise PatchError(f"path {path!r}: index {i} out of range", invalid=True)
    return i


def _add(doc, path, value):
    parts = _pointer(path)
    if not parts:
        return value
    parent = _resolve(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, path, allow_end=True), value)
    else:
        raise PatchError(f"path {path!r}: parent is a scalar", invalid=True)
    return doc


def _remove(doc, path):
    parts = _pointer(path)
    if not parts:
        raise PatchError("cannot remove the whole document", invalid=True)
    parent = _resolve(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path {path!r} does not exist", invalid=True)
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, path, allow_end=False))
    raise PatchError(f"path {path!r}: parent is a scalar", invalid=True)


def json_patch(target, ops):
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be an array of operations")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"bad JSON patch operation {op!r}")
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"operation {kind!r} needs a value")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            if _pointer(path):
                _resolve(doc, _pointer(path), path)  # must exist
                _remove(doc, path)
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind in ("move", "copy"):
            if "from" not in op:
                raise PatchError(f"operation {kind!r} needs 'from'")
            value = _resolve(doc, _pointer(op["from"]), op["from"])
            value = copy.deepcopy(value)
            if kind == "move":
                _remove(doc, op["from"])
            doc = _add(doc, path, value)
        elif kind == "test":
            if _resolve(doc, _pointer(path), path) != op["value"]:
                raise PatchError(f"testing value {path!r} failed", invalid=True)
        else:
            raise PatchError(f"unknown JSON patch operation {kind!r}")
    return doc


# ---------------------------------------------------------------- strategic merge patch
# (kind or "*", dotted path) -> merge key, or "" for a primitive list with the merge strategy.
# Taken from the patchMergeKey/patchStrategy tags of the k8s.io/api types; anything absent is atomic.
MERGE_KEYS = {
    ("*", "metadata.finalizers"): "",
    ("*", "metadata.ownerReferences"): "uid",
    ("Service", "spec.ports"): "port",
    ("Service", "status.conditions"): "type",
    ("Node", "status.addresses"): "type",
    ("Node", "status.conditions"): "type",
    ("Node", "spec.podCIDRs"): "",
    ("Pod", "status.conditions"): "type",
    ("Pod", "spec.containers"): "name",
    ("Pod", "spec.initContainers"): "name",
    ("Pod", "spec.ephemeralContainers"): "name",
    ("Pod", "spec.containers.ports"): "containerPort",
    ("Pod", "spec.containers.env"): "name",
    ("Pod", "spec.containers.volumeMounts"): "mountPath",
    ("Pod", "spec.volumes"): "name",
    ("Pod", "spec.imagePullSecrets"): "name",
    ("ServiceAccount", "secrets"): "name",
    ("Deployment", "spec.template.spec.containers"): "name",
    ("Deployment", "spec.template.spec.initContainers"): "name",
    ("Deployment", "spec.template.spec.containers.ports"): "containerPort",
    ("Deployment", "spec.template.spec.containers.env"): "name",
    ("Deployment", "spec.template.spec.containers.volumeMounts"): "mountPath",
    ("Deployment", "spec.template.spec.initContainers.env"): "name",
    ("Deployment", "spec.template.spec.initContainers.volumeMounts"): "mountPath",
    ("Deployment", "spec.template.spec.volumes"): "name",
    ("Deployment", "spec.template.spec.imagePullSecrets"): "name",
    ("Deployment", "status.conditions"): "type",
    ("HorizontalPodAutoscaler", "status.conditions"): "type",
    ("PodDisruptionBudget", "status.conditions"): "type",
    ("Namespace", "status.conditions"): "type",
}


def _merge_key(kind, path):
    dotted = ".".join(path)
    for k in (kind, "*"):
        if (k, dotted) in MERGE_KEYS:
            return MERGE_KEYS[(k, dotted)]
    return None


def _strip(value):
    """Drop directive keys from a value that replaces the original wholesale."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip(v) for v in value if not (isinstance(v, dict) and v.get("$patch") == "delete")]
    return value


def strategic_merge_patch(target, patch, kind):
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object")
    return _smp_map(target if isinstance(target, dict) else {}, patch, kind, ())


def _smp_map(orig, patch, kind, path):
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip(patch)
    if directive not in (None, "merge", "delete"):
        raise PatchError(f"unknown $patch directive {directive!r}")
    result = dict(orig) if isinstance(orig, dict) else {}
    orders = {}
    for k, v in patch.items():
        if k.startswith("$setElementOrder/"):
            orders[k.split("/", 1)[1]] = v
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            if isinstance(result.get(field), list) and isinstance(v, list):
                result[field] = [x for x in result[field] if x not in v]
            continue
        if k.startswith("$"):
            continue
        sub = path + (k,)
        if v is None:
            result.pop(k, None)
        elif isinstance(v, dict):
            if v.get("$patch") == "delete":
                result.pop(k, None)
            else:
                result[k] = _smp_map(result.get(k), v, kind, sub)
        elif isinstance(v, list):
            result[k] = _smp_list(result.get(k), v, kind, sub)
        else:
            result[k] = v
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    for field, order in orders.items():
        if isinstance(result.get(field), list) and isinstance(order, list):
            result[field] = _reorder(result[field], order, _merge_key(kind, path + (field,)))
    return result


def _smp_list(orig, patch, kind, path):
    key = _merge_key(kind, path)
    if key is None or not isinstance(orig, list):
        return _strip(patch)
    if any(isinstance(e, dict) and e.get("$patch") == "replace" for e in patch):
        return _strip([e for e in patch if not (isinstance(e, dict) and e.get("$patch") == "replace")])
    if key == "":  # primitive list, merge strategy: union in order
        result = list(orig)
        for e in patch:
            if e not in result:
                result.append(e)
        return result
    result = [copy.deepcopy(e) for e in orig]
    for e in patch:
        if not isinstance(e, dict) or key not in e:
            raise PatchError(f"list {'.'.join(path)} elements need the merge key {key!r}")
        idx = next((i for i, o in enumerate(result) if isinstance(o, dict) and o.get(key) == e[key]), None)
        if e.get("$patch") == "delete":
            if idx is not None:
                result.pop(idx)
        elif idx is None:
            result.append(_strip(e))
        else:
            # Element paths are relative to the list (e.g. spec.containers.env).
            result[idx] = _smp_map(result[idx], e, kind, path)
    return result


def _reorder(items, order, key):
    def ident(e):
        return e.get(key) if key and isinstance(e, dict) else e
    wanted = [ident(o) for o in order]
    ranked = sorted(range(len(items)),
                    key=lambda i: (wanted.index(ident(items[i])) if ident(items[i]) in wanted else len(wanted), i))
    return [items[i] for i in ranked]
