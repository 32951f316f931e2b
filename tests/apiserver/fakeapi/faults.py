"""Injected failures, counters, and the set of open watches, shared by the API and control ports."""
import collections
import threading
import time

from .status import ApiError

_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
            410: "Expired", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
            504: "Timeout"}
_MESSAGES = {429: "Too many requests, please try again later.",
             500: "Internal error occurred: injected by the fake apiserver's control API",
             503: "The server is currently unable to handle the request (injected)"}


class Faults:
    def __init__(self):
        self.cond = threading.Condition()
        self.fail = None  # {"status", "count", "retry_after", "match"}
        self.pause_until = 0.0
        self.served = 0

    def set_fail(self, status, count, retry_after=None, match=""):
        with self.cond:
            self.fail = {"status": int(status), "count": int(count), "retry_after": retry_after,
                         "match": match or ""} if int(count) > 0 else None

    def take(self, path):
        """The error to answer instead of serving this request, or None."""
        with self.cond:
            f = self.fail
            if not f or f["match"] not in path:
                return None
            f["count"] -= 1
            if f["count"] <= 0:
                self.fail = None
            self.served += 1
        status = f["status"]
        retry = f["retry_after"]
        if retry is None and status == 429:
            retry = 1
        details = {"retryAfterSeconds": int(retry)} if retry is not None else None
        return ApiError(status, _REASONS.get(status, "Unknown"),
                        _MESSAGES.get(status, f"injected failure {status}"), details,
                        retry_after=int(retry) if retry is not None else None)

    def pause(self, seconds):
        with self.cond:
            self.pause_until = time.monotonic() + max(0.0, float(seconds))
            self.cond.notify_all()

    def wait_if_paused(self):
        with self.cond:
            while True:
                left = self.pause_until - time.monotonic()
                if left <= 0:
                    return
                self.cond.wait(left)

    def snapshot(self):
        with self.cond:
            return {"fail": dict(self.fail) if self.fail else None,
                    "paused_for": max(0.0, round(self.pause_until - time.monotonic(), 3)),
                    "fault_responses": self.served}


class Watch:
    __slots__ = ("id", "resource", "namespace", "params", "started", "signal", "sent", "handler")

    def __init__(self, wid, resource, namespace, params, handler):
        self.id, self.resource, self.namespace, self.params = wid, resource, namespace, params
        self.started = time.time()
        self.signal = None  # None, "drop" (end cleanly) or "reset" (cut the connection)
        self.sent = 0
        self.handler = handler


class Activity:
    """Request counters per resource and verb, and the open watches."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = collections.defaultdict(collections.Counter)
        self.requests = 0
        self.watches = {}
        self.next_watch = 1

    def count(self, resource, verb):
        with self.lock:
            self.counts[resource][verb] += 1

    def count_request(self):
        with self.lock:
            self.requests += 1

    def add_watch(self, resource, namespace, params, handler):
        with self.lock:
            w = Watch(self.next_watch, resource, namespace, params, handler)
            self.next_watch += 1
            self.watches[w.id] = w
            return w

    def remove_watch(self, w):
        with self.lock:
            self.watches.pop(w.id, None)

    def signal_watches(self, signal):
        with self.lock:
            ws = list(self.watches.values())
            for w in ws:
                w.signal = signal
        return len(ws)

    def reset(self):
        with self.lock:
            self.counts.clear()
            self.requests = 0

    def snapshot(self):
        with self.lock:
            return {
                "requests": self.requests,
                "resources": {r: dict(c) for r, c in sorted(self.counts.items())},
                "watches": [{"id": w.id, "resource": w.resource, "namespace": w.namespace, "params": w.params,
                             "age_seconds": round(time.time() - w.started, 3), "events_sent": w.sent}
                            for w in self.watches.values()],
            }
