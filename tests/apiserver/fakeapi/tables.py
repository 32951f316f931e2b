"""Server-side printing: the meta.k8s.io/v1 Table that `kubectl get` asks for, with the columns the real
apiserver's printers use for the kinds strait cares about (so `kubectl get ingress` shows ADDRESS)."""
import calendar
import time


def human_duration(seconds):
    """apimachinery's duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def _age(ts):
    if not ts:
        return "<unknown>"
    try:
        t = calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return "<unknown>"
    return human_duration(time.time() - t)


def _meta(o):
    return o.get("metadata") or {}


def _join_more(items, most=3):
    if not items:
        return None
    if len(items) > most:
        return ",".join(items[:most]) + f" + {len(items) - most} more..."
    return ",".join(items)


def _ingress(o):
    spec, status = o.get("spec") or {}, o.get("status") or {}
    hosts = [r.get("host") for r in spec.get("rules") or [] if r.get("host")]
    lbs = [i.get("ip") or i.get("hostname") for i in (status.get("loadBalancer") or {}).get("ingress") or []]
    return [spec.get("ingressClassName") or "<none>", _join_more(hosts, 4) or "*",
            ",".join(x for x in lbs if x), "80, 443" if spec.get("tls") else "80"]


def _service(o):
    spec, status = o.get("spec") or {}, o.get("status") or {}
    stype = spec.get("type") or "ClusterIP"
    external = list(spec.get("externalIPs") or [])
    if stype == "LoadBalancer":
        lbs = [i.get("ip") or i.get("hostname") for i in (status.get("loadBalancer") or {}).get("ingress") or []]
        external = [x for x in lbs if x] + external
        ext = ",".join(external) if external else "<pending>"
    elif stype == "ExternalName":
        ext = spec.get("externalName") or "<none>"
    else:
        ext = ",".join(external) if external else "<none>"
    ports = []
    for p in spec.get("ports") or []:
        proto = p.get("protocol", "TCP")
        ports.append(f"{p.get('port')}:{p['nodePort']}/{proto}" if p.get("nodePort") else f"{p.get('port')}/{proto}")
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())) or "<none>"
    return [stype, spec.get("clusterIP") or "<none>", ext, ",".join(ports) or "<none>"], [selector]


def _endpointslice(o):
    ports = [str(p["port"]) for p in o.get("ports") or [] if p.get("port") is not None]
    addrs = [a for e in o.get("endpoints") or [] for a in e.get("addresses") or []]
    return [o.get("addressType", ""), ",".join(ports) or "<unset>", _join_more(addrs) or "<none>"]


def _endpoints(o):
    pairs = []
    for subset in o.get("subsets") or []:
        for a in subset.get("addresses") or []:
            for p in subset.get("ports") or [{}]:
                pairs.append(f"{a.get('ip')}:{p['port']}" if "port" in p else a.get("ip", ""))
    return [_join_more(pairs) or "<none>"]


def _node(o):
    conds = (o.get("status") or {}).get("conditions") or []
    ready = next((c.get("status") for c in conds if c.get("type") == "Ready"), None)
    state = "Ready" if ready == "True" else "NotReady" if ready else "Unknown"
    if (o.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    version = ((o.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "")
    return [state, "<none>"], None, [version]


def _pod(o):
    containers = (o.get("spec") or {}).get("containers") or []
    statuses = (o.get("status") or {}).get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(s.get("restartCount", 0) for s in statuses)
    return [f"{ready}/{len(containers)}", (o.get("status") or {}).get("phase", ""), restarts]


def _event(o):
    inv = o.get("involvedObject") or {}
    last = o.get("lastTimestamp") or o.get("eventTime") or _meta(o).get("creationTimestamp")
    return [_age(last), o.get("type", ""), o.get("reason", ""),
            f"{(inv.get('kind') or '').lower()}/{inv.get('name', '')}", o.get("message", "")]


def _deployment(o):
    spec, status = o.get("spec") or {}, o.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    selector = ",".join(f"{k}={v}" for k, v in sorted(((spec.get("selector") or {}).get("matchLabels")
                                                        or {}).items())) or "<none>"
    return ([f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}", status.get("updatedReplicas", 0),
             status.get("availableReplicas", 0)],
            [",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers),
             selector])


def _hpa(o):
    spec, status = o.get("spec") or {}, o.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    targets = []
    for m in spec.get("metrics") or []:
        target = ((m.get("resource") or {}).get("target") or {})
        if m.get("type") == "Resource" and target.get("averageUtilization") is not None:
            targets.append(f"cpu: <unknown>/{target['averageUtilization']}%"
                           if (m.get("resource") or {}).get("name") == "cpu"
                           else f"<unknown>/{target['averageUtilization']}%")
        else:
            targets.append("<unknown>")
    return [f"{ref.get('kind', '')}/{ref.get('name', '')}", ", ".join(targets) or "<none>",
            spec.get("minReplicas", 1), spec.get("maxReplicas", 0), status.get("currentReplicas", 0)]


def _pdb(o):
    spec, status = o.get("spec") or {}, o.get("status") or {}
    return [str(spec["minAvailable"]) if "minAvailable" in spec else "N/A",
            str(spec["maxUnavailable"]) if "maxUnavailable" in spec else "N/A",
            status.get("disruptionsAllowed", 0)]


def _binding(o):
    ref = o.get("roleRef") or {}
    subjects = o.get("subjects") or []
    users = [s.get("name", "") for s in subjects if s.get("kind") == "User"]
    groups = [s.get("name", "") for s in subjects if s.get("kind") == "Group"]
    sas = [f"{s.get('namespace', '')}/{s.get('name', '')}" for s in subjects if s.get("kind") == "ServiceAccount"]
    return [f"{ref.get('kind', '')}/{ref.get('name', '')}"], [",".join(users), ",".join(groups), ",".join(sas)]


S = "string"
I = "integer"
_BINDING_WIDE = [("Users", S, 1), ("Groups", S, 1), ("ServiceAccounts", S, 1)]
_PRINTERS = {
    # kind: (columns before Age, row function, whether Age is shown, trailing columns)
    "Ingress": ([("Class", S), ("Hosts", S), ("Address", S), ("Ports", S)], _ingress),
    "Service": ([("Type", S), ("Cluster-IP", S), ("External-IP", S), ("Port(s)", S)], _service,
                [("Selector", S, 1)]),
    "EndpointSlice": ([("AddressType", S), ("Ports", S), ("Endpoints", S)], _endpointslice),
    "Endpoints": ([("Endpoints", S)], _endpoints),
    "Secret": ([("Type", S), ("Data", "string")], lambda o: [o.get("type", "Opaque"), len(o.get("data") or {})]),
    "ConfigMap": ([("Data", "string")], lambda o: [len(o.get("data") or {}) + len(o.get("binaryData") or {})]),
    "Lease": ([("Holder", S)], lambda o: [(o.get("spec") or {}).get("holderIdentity", "")]),
    "IngressClass": ([("Controller", S), ("Parameters", S)],
                     lambda o: [(o.get("spec") or {}).get("controller", ""),
                                _params((o.get("spec") or {}).get("parameters"))]),
    "Namespace": ([("Status", S)], lambda o: [(o.get("status") or {}).get("phase", "")]),
    "Node": ([("Status", S), ("Roles", S)], _node, [("Version", S, 0)]),
    "Pod": ([("Ready", S), ("Status", S), ("Restarts", "integer")], _pod),
    "Deployment": ([("Ready", S), ("Up-to-date", I), ("Available", I)], _deployment,
                   [("Containers", S, 1), ("Images", S, 1), ("Selector", S, 1)]),
    "HorizontalPodAutoscaler": ([("Reference", S), ("Targets", S), ("MinPods", S), ("MaxPods", I),
                                 ("Replicas", I)], _hpa),
    "PodDisruptionBudget": ([("Min Available", S), ("Max Unavailable", S), ("Allowed Disruptions", I)], _pdb),
    "RoleBinding": ([("Role", S)], _binding, _BINDING_WIDE),
    "ClusterRoleBinding": ([("Role", S)], _binding, _BINDING_WIDE),
}


def _params(p):
    if not p:
        return "<none>"
    return f"{p.get('kind', '')}/{p.get('name', '')}"


def columns(kind):
    if kind == "Event":
        return [_col("Last Seen", S), _col("Type", S), _col("Reason", S), _col("Object", S), _col("Message", S)]
    spec = _PRINTERS.get(kind)
    cols = [_col("Name", S, fmt="name")]
    if spec:
        cols += [_col(n, t) for n, t in spec[0]]
    cols.append(_col("Age", S))
    if spec and len(spec) > 2:
        cols += [_col(n, t, priority=p) for n, t, p in spec[2]]
    return cols


def row(kind, obj, stored_obj, include_object):
    """One table row. `stored_obj` is the core/v1 form (Events print from it)."""
    meta = _meta(obj)
    if kind == "Event":
        cells = _event(stored_obj)
    else:
        spec = _PRINTERS.get(kind)
        cells = [meta.get("name", "")]
        extra = []
        if spec:
            out = spec[1](obj)
            if isinstance(out, tuple):
                cells += out[0]
                extra = out[-1] or []
            else:
                cells += out
        cells.append(_age(meta.get("creationTimestamp")))
        cells += extra
    r = {"cells": cells}
    if include_object == "Object":
        r["object"] = obj
    elif include_object != "None":
        r["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}
    return r


def table(kind, pairs, list_meta, include_object, with_columns=True):
    """pairs: (client-view object, stored object)."""
    out = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta or {}}
    if with_columns:
        out["columnDefinitions"] = columns(kind)
    out["rows"] = [row(kind, o, s, include_object) for o, s in pairs]
    return out


def _col(name, type_, fmt="", priority=0):
    return {"name": name, "type": type_, "format": fmt, "description": name, "priority": priority}
