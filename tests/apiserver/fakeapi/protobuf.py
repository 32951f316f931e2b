"""Decoding of Kubernetes protobuf request bodies, for the kinds kubectl's typed `create` commands send
(kubectl 1.32 `create namespace|secret|configmap|service|ingress|serviceaccount` POST
application/vnd.kubernetes.protobuf). Field numbers are those of the `protobuf:` struct tags of
k8s.io/api. Fields not in these tables are ignored; other kinds are refused with 415.

Go's JSON for these objects omits empty values (`omitempty`); the protobuf encoding writes every
non-pointer field, so empty strings, zeros, false and empty lists/maps are dropped here except for the
few fields that are required on the wire (REQUIRED below).
"""
import base64
import datetime

MAGIC = b"k8s\x00"

S, B, I32, I64, BOOL, TIME, INTSTR = "string", "bytes", "int32", "int64", "bool", "time", "intstr"

# message -> field number -> (json name, type, repeated). A type naming another message nests it;
# ("map", V) is map<string, V>; a json name of "" inlines the message's fields into the parent.
M = {
    "Unknown": {1: ("typeMeta", "TypeMeta", False), 2: ("raw", B, False),
                3: ("contentEncoding", S, False), 4: ("contentType", S, False)},
    "TypeMeta": {1: ("apiVersion", S, False), 2: ("kind", S, False)},
    "ObjectMeta": {1: ("name", S, False), 2: ("generateName", S, False), 3: ("namespace", S, False),
                   5: ("uid", S, False), 6: ("resourceVersion", S, False), 7: ("generation", I64, False),
                   8: ("creationTimestamp", TIME, False), 9: ("deletionTimestamp", TIME, False),
                   10: ("deletionGracePeriodSeconds", I64, False), 11: ("labels", ("map", S), False),
                   12: ("annotations", ("map", S), False), 13: ("ownerReferences", "OwnerReference", True),
                   14: ("finalizers", S, True)},
    "OwnerReference": {1: ("kind", S, False), 3: ("name", S, False), 4: ("uid", S, False),
                       5: ("apiVersion", S, False), 6: ("controller", BOOL, False),
                       7: ("blockOwnerDeletion", BOOL, False)},
    "ObjectReference": {1: ("kind", S, False), 2: ("namespace", S, False), 3: ("name", S, False),
                        4: ("uid", S, False), 5: ("apiVersion", S, False), 6: ("resourceVersion", S, False),
                        7: ("fieldPath", S, False)},
    "LocalObjectReference": {1: ("name", S, False)},
    "Namespace": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "NamespaceSpec", False)},
    "NamespaceSpec": {1: ("finalizers", S, True)},
    "Secret": {1: ("metadata", "ObjectMeta", False), 2: ("data", ("map", B), False), 3: ("type", S, False),
               4: ("stringData", ("map", S), False), 5: ("immutable", BOOL, False)},
    "ConfigMap": {1: ("metadata", "ObjectMeta", False), 2: ("data", ("map", S), False),
                  3: ("binaryData", ("map", B), False), 4: ("immutable", BOOL, False)},
    "ServiceAccount": {1: ("metadata", "ObjectMeta", False), 2: ("secrets", "ObjectReference", True),
                       3: ("imagePullSecrets", "LocalObjectReference", True),
                       4: ("automountServiceAccountToken", BOOL, False)},
    "Service": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "ServiceSpec", False)},
    "ServiceSpec": {1: ("ports", "ServicePort", True), 2: ("selector", ("map", S), False),
                    3: ("clusterIP", S, False), 4: ("type", S, False), 5: ("externalIPs", S, True),
                    7: ("sessionAffinity", S, False), 8: ("loadBalancerIP", S, False),
                    9: ("loadBalancerSourceRanges", S, True), 10: ("externalName", S, False),
                    11: ("externalTrafficPolicy", S, False), 12: ("healthCheckNodePort", I32, False),
                    13: ("publishNotReadyAddresses", BOOL, False), 17: ("ipFamilyPolicy", S, False),
                    18: ("clusterIPs", S, True), 19: ("ipFamilies", S, True),
                    20: ("allocateLoadBalancerNodePorts", BOOL, False), 21: ("loadBalancerClass", S, False),
                    22: ("internalTrafficPolicy", S, False)},
    "ServicePort": {1: ("name", S, False), 2: ("protocol", S, False), 3: ("port", I32, False),
                    4: ("targetPort", INTSTR, False), 5: ("nodePort", I32, False), 6: ("appProtocol", S, False)},
    "Ingress": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "IngressSpec", False)},
    "IngressSpec": {1: ("defaultBackend", "IngressBackend", False), 2: ("tls", "IngressTLS", True),
                    3: ("rules", "IngressRule", True), 4: ("ingressClassName", S, False)},
    "IngressBackend": {3: ("resource", "TypedLocalObjectReference", False),
                       4: ("service", "IngressServiceBackend", False)},
    "TypedLocalObjectReference": {1: ("apiGroup", S, False), 2: ("kind", S, False), 3: ("name", S, False)},
    "IngressServiceBackend": {1: ("name", S, False), 2: ("port", "ServiceBackendPort", False)},
    "ServiceBackendPort": {1: ("name", S, False), 2: ("number", I32, False)},
    "IngressTLS": {1: ("hosts", S, True), 2: ("secretName", S, False)},
    "IngressRule": {1: ("host", S, False), 2: ("", "IngressRuleValue", False)},
    "IngressRuleValue": {1: ("http", "HTTPIngressRuleValue", False)},
    "HTTPIngressRuleValue": {1: ("paths", "HTTPIngressPath", True)},
    "HTTPIngressPath": {1: ("path", S, False), 2: ("backend", "IngressBackend", False), 3: ("pathType", S, False)},
    "Time": {1: ("seconds", I64, False), 2: ("nanos", I32, False)},
    # The body of a DELETE from a protobuf client (Helm's release storage, client-go's typed clients).
    "DeleteOptions": {1: ("gracePeriodSeconds", I64, False), 2: ("preconditions", "Preconditions", False),
                      3: ("orphanDependents", BOOL, False), 4: ("propagationPolicy", S, False),
                      5: ("dryRun", S, True)},
    "Preconditions": {1: ("uid", S, False), 2: ("resourceVersion", S, False)},
    "IntOrString": {1: ("type", I64, False), 2: ("intVal", I32, False), 3: ("strVal", S, False)},
}
KINDS = {("v1", "Namespace"), ("v1", "Secret"), ("v1", "ConfigMap"), ("v1", "ServiceAccount"),
         ("v1", "Service"), ("networking.k8s.io/v1", "Ingress")}
REQUIRED = {("ServicePort", "port"), ("IngressServiceBackend", "name"), ("HTTPIngressPath", "pathType"),
            ("HTTPIngressPath", "backend"), ("Ingress", "spec"), ("Service", "spec"), ("ObjectMeta", "name")}


class ProtobufError(ValueError):
    pass


def _varint(buf, pos):
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise ProtobufError("varint too long")


def fields(buf):
    """(number, wire type, value) triples of one message: ints for varints, bytes otherwise."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = _varint(buf, pos)
        elif wt == 2:
            n, pos = _varint(buf, pos)
            if pos + n > len(buf):
                raise ProtobufError("truncated field")
            val, pos = buf[pos:pos + n], pos + n
        elif wt == 1:
            val, pos = buf[pos:pos + 8], pos + 8
        elif wt == 5:
            val, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wt}")
        yield num, wt, val


def _signed(v, bits):
    v &= (1 << 64) - 1
    if v >= 1 << 63:
        v -= 1 << 64
    return v


def _scalar(kind, wt, val):
    if kind == S:
        return val.decode("utf-8")
    if kind == B:
        return base64.b64encode(val).decode()
    if kind in (I32, I64):
        return _signed(val, 64) if wt == 0 else 0
    if kind == BOOL:
        return bool(val)
    raise ProtobufError(f"bad scalar kind {kind}")


def _time(buf):
    t = decode_message("Time", buf)
    if not t.get("seconds"):
        return None
    return datetime.datetime.fromtimestamp(t["seconds"], datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _intstr(buf):
    v = decode_message("IntOrString", buf)
    return v.get("strVal", "") if v.get("type") == 1 else v.get("intVal", 0)


def _empty(v):
    return v is None or v == "" or v == 0 and not isinstance(v, bool) or v is False or v == [] or v == {}


def decode_message(name, buf):
    schema = M[name]
    out = {}
    for num, wt, val in fields(buf):
        spec = schema.get(num)
        if spec is None:
            continue
        key, kind, repeated = spec
        if isinstance(kind, tuple):  # map<string, V>: entries with key=1, value=2
            entry = {n: v for n, _, v in fields(val)}
            value = entry.get(2, b"")
            out.setdefault(key, {})[entry.get(1, b"").decode()] = value.decode() if kind[1] == S else \
                base64.b64encode(value).decode()
            continue
        if kind == TIME:
            value = _time(val)
        elif kind == INTSTR:
            value = _intstr(val)
        elif kind in M:
            value = decode_message(kind, val)
        else:
            value = _scalar(kind, wt, val)
        if key == "":
            out.update(value)
        elif repeated:
            out.setdefault(key, []).append(value)
        else:
            out[key] = value
    return {k: v for k, v in out.items() if (name, k) in REQUIRED or not _empty(v)}


def decode(body, kinds=None):
    """A kubernetes protobuf envelope -> the object as JSON would carry it. `kinds` limits the kinds
    accepted (default: KINDS); DeleteOptions come under any apiVersion (meta/v1 is in every group)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic prefix")
    unknown = decode_message("Unknown", body[len(MAGIC):])
    tm = unknown.get("typeMeta", {})
    api_version, kind = tm.get("apiVersion", ""), tm.get("kind", "")
    if kinds == {"DeleteOptions"}:
        if kind != "DeleteOptions":
            raise ProtobufError(f"expected DeleteOptions, got {api_version}/{kind}")
    elif (api_version, kind) not in KINDS:
        raise ProtobufError(f"protobuf bodies are decoded only for {sorted(k for _, k in KINDS)}; "
                            f"got {api_version}/{kind}: send JSON")
    if unknown.get("contentEncoding"):
        raise ProtobufError("content encodings are not supported")
    raw = base64.b64decode(unknown.get("raw", ""))
    obj = {"apiVersion": api_version, "kind": kind}
    obj.update(decode_message(kind, raw))
    return obj

