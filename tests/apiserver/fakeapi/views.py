"""core/v1 Events and events.k8s.io/v1 Events are one stored kind seen through two schemas.

Objects are stored in core/v1 form; the events.k8s.io view renames fields on the way in and out
(the renames are those of k8s.io/kubernetes pkg/apis/events/v1 conversion).
"""

# events.k8s.io/v1 field -> core/v1 field
_RENAMES = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_BACK = {v: k for k, v in _RENAMES.items()}


def _is_events_group(res):
    return res.group == "events.k8s.io"


def to_storage(res, obj):
    if not _is_events_group(res):
        return obj
    out = {_RENAMES.get(k, k): v for k, v in obj.items()}
    out["apiVersion"], out["kind"] = "v1", "Event"
    return out


def from_storage(res, obj):
    if not _is_events_group(res) or obj is None:
        return obj
    out = {_BACK.get(k, k): v for k, v in obj.items()}
    out["apiVersion"], out["kind"] = "events.k8s.io/v1", "Event"
    return out
