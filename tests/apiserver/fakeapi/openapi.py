"""Just enough OpenAPI v3 for kubectl 1.32.

kubectl fetches /openapi/v3 before `apply`/`create`/`replace`/`patch` to learn whether the server does
field validation itself: it looks, in the group-version document, for a PATCH operation tagged with the
object's x-kubernetes-group-version-kind that takes a `fieldValidation` query parameter. With that
present kubectl skips client-side schema validation (which would need the full schemas) and sends
`fieldValidation=Strict`. The documents carry no component schemas: kubectl then computes strategic
merge patches from its compiled-in Go types, exactly as it would for a real cluster's built-in kinds.
/openapi/v2 answers 404 (kubectl only falls back to it when v3 fails).
"""
import hashlib
import json

from .resources import RESOURCES


def _gv_path(group, version):
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _op(res, action, verb):
    gvk = {"group": res.group, "version": res.version, "kind": res.kind}
    params = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
              for n in ("dryRun", "fieldManager", "fieldValidation")]
    return {"operationId": f"{verb}{res.kind}", "parameters": params,
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk}


def _gv_doc(group, version):
    paths = {}
    for res in RESOURCES:
        if (res.group, res.version) != (group, version):
            continue
        base = "/" + _gv_path(group, version) + ("/namespaces/{namespace}" if res.namespaced else "")
        params = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
        if res.namespaced:
            params.append({"name": "namespace", "in": "path", "required": True, "schema": {"type": "string"}})
        paths[f"{base}/{res.plural}"] = {"post": _op(res, "post", "create"),
                                         "parameters": params[1:]}
        paths[f"{base}/{res.plural}/{{name}}"] = {"put": _op(res, "put", "replace"),
                                                   "patch": _op(res, "patch", "patch"),
                                                   "parameters": params}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": paths,
            "components": {}}


_DOCS = {}
for _r in RESOURCES:
    _DOCS.setdefault(_gv_path(_r.group, _r.version), None)
for _p in _DOCS:
    _g, _v = (("", _p.split("/")[1]) if _p.startswith("api/") else tuple(_p.split("/")[1:3]))
    _DOCS[_p] = _gv_doc(_g, _v)
_HASHES = {p: hashlib.sha512(json.dumps(d, sort_keys=True).encode()).hexdigest()[:32].upper()
           for p, d in _DOCS.items()}


def serve(path, params):
    if path == "/openapi/v3":
        return {"paths": {p: {"serverRelativeURL": f"/openapi/v3/{p}?hash={h}"} for p, h in _HASHES.items()}}
    if path.startswith("/openapi/v3/"):
        return _DOCS.get(path[len("/openapi/v3/"):])
    return None
