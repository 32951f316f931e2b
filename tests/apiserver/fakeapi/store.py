"""Objects in memory, one global resourceVersion counter, a bounded change history, and an
append-only journal so a restarted server comes back with the same objects and counter.

Stored objects are never mutated: every write stores a new dict, so readers may keep references
without copying. All methods expect `store.cond` to be held by the caller unless they say otherwise.
"""
import bisect
import json
import os
import threading
from collections import OrderedDict


class Change:
    """One history entry. `new` is the object as sent on the watch (for DELETED: the last state,
    carrying the deletion's RV); `old` is the state before (None for ADDED)."""
    __slots__ = ("rv", "type", "storage", "key", "old", "new")

    def __init__(self, rv, type_, storage, key, old, new):
        self.rv, self.type, self.storage, self.key, self.old, self.new = rv, type_, storage, key, old, new


class Store:
    PAGE_CACHE = 8  # sorted snapshots kept for paged lists (each is one reference per object)

    def __init__(self, history_limit=10000, journal_path=None):
        self.cond = threading.Condition(threading.RLock())
        self.rv = 0
        self.data = {}  # storage -> {(namespace, name): object}
        self.history = []  # Change, ascending rv
        self.history_rvs = []
        self.compacted = 0  # changes with rv <= compacted are forgotten
        self.history_limit = max(1, history_limit)
        self.page_cache = OrderedDict()  # (storage, rv) -> sorted [(key, object)]
        self.journal = None
        if journal_path:
            self._load(journal_path)

    # ------------------------------------------------------------ persistence
    def _load(self, path):
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        break  # a torn last line from a kill -9: everything before it stands
                    self.rv = max(self.rv, int(rec.get("rv", 0)))
                    if "put" in rec:
                        storage, ns, name = rec["put"]
                        self.data.setdefault(storage, {})[(ns, name)] = rec["obj"]
                    elif "del" in rec:
                        storage, ns, name = rec["del"]
                        self.data.get(storage, {}).pop((ns, name), None)
        # After a restart the history is gone, as in a real apiserver's watch cache: any older RV is
        # "too old".
        self.compacted = self.rv
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for storage, objs in self.data.items():
                for (ns, name), obj in objs.items():
                    f.write(json.dumps({"put": [storage, ns, name], "obj": obj}, separators=(",", ":")) + "\n")
            f.write(json.dumps({"rv": self.rv}) + "\n")
        os.replace(tmp, path)
        self.journal = open(path, "a", encoding="utf-8")

    def _write_journal(self, change):
        if self.journal is None:
            return
        storage, (ns, name) = change.storage, change.key
        if change.type == "DELETED":
            rec = {"del": [storage, ns, name], "rv": change.rv}
        else:
            rec = {"put": [storage, ns, name], "obj": change.new, "rv": change.rv}
        # Flushed to the kernel per write: a SIGKILLed server loses nothing it acknowledged.
        self.journal.write(json.dumps(rec, separators=(",", ":")) + "\n")
        self.journal.flush()

    def close(self):
        with self.cond:
            if self.journal:
                self.journal.close()
                self.journal = None

    # ------------------------------------------------------------ reads
    def get(self, storage, key):
        return self.data.get(storage, {}).get(key)

    def objects(self, storage):
        return self.data.get(storage, {})

    def sorted_items(self, storage, rv=None, cache=False):
        """All (key, object) of a storage sorted by key (namespace, then name), at `rv` if given.

        Reading an older RV undoes the retained history; the caller checks rv >= compacted first.
        `cache` keeps the result for the next pages of a paged list.
        """
        rv = self.rv if rv is None else rv
        cached = self.page_cache.get((storage, rv))
        if cached is not None:
            self.page_cache.move_to_end((storage, rv))
            return cached
        state = dict(self.data.get(storage, {}))
        if rv < self.rv:
            start = bisect.bisect_right(self.history_rvs, rv)
            for change in reversed(self.history[start:]):
                if change.storage != storage:
                    continue
                if change.type == "ADDED":
                    state.pop(change.key, None)
                else:
                    state[change.key] = change.old
        items = sorted(state.items(), key=lambda kv: kv[0])
        if cache:
            self.page_cache[(storage, rv)] = items
            while len(self.page_cache) > self.PAGE_CACHE:
                self.page_cache.popitem(last=False)
        return items

    def changes_after(self, rv):
        start = bisect.bisect_right(self.history_rvs, rv)
        return self.history[start:]

    def oldest_available(self):
        return self.compacted + 1

    # ------------------------------------------------------------ writes
    def commit(self, storage, key, obj, type_):
        """Store `obj` (None to delete) under a fresh RV; returns the Change sent to watchers."""
        objs = self.data.setdefault(storage, {})
        old = objs.get(key)
        self.rv += 1
        rv = self.rv
        if obj is None:
            new = _with_rv(old, rv)
            del objs[key]
        else:
            new = _with_rv(obj, rv)
            objs[key] = new
        change = Change(rv, type_, storage, key, old, new)
        self.history.append(change)
        self.history_rvs.append(rv)
        excess = len(self.history) - self.history_limit
        if excess > max(16, self.history_limit // 16):  # trim in batches: a memmove per write is waste
            self.compacted = self.history_rvs[excess - 1]
            del self.history[:excess]
            del self.history_rvs[:excess]
        self._write_journal(change)
        self.cond.notify_all()
        return change

    def expire_history(self):
        self.compacted = self.rv
        self.history.clear()
        self.history_rvs.clear()
        self.page_cache.clear()
        self.cond.notify_all()

    def wait(self, cursor, timeout, stop):
        """Block until a change after `cursor`, `stop()` is true, or `timeout` passes.

        Returns (changes, new cursor, expired): `expired` is true when the history was dropped under
        the waiter (then the caller must end the watch with a 410).
        """
        with self.cond:
            if self.rv <= cursor and not stop():
                self.cond.wait(timeout)
            if cursor < self.compacted:
                return [], cursor, True
            return self.changes_after(cursor), max(cursor, self.rv), False


def _with_rv(obj, rv):
    meta = dict(obj.get("metadata") or {})
    meta["resourceVersion"] = str(rv)
    out = dict(obj)
    out["metadata"] = meta
    return out
