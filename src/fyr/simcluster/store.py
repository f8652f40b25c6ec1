"""The simulated cluster's state: objects, resourceVersions, watch history and open watches.

Why it exists: the demo and the tests need a Kubernetes API whose list/watch semantics are the real
ones (one global resourceVersion, watch from a listed version, `410 Gone` once history is
compacted, bookmarks), driven in-process by a script. This module is the state and its rules; the
HTTP surface is in `server.py`. Everything here runs on one event loop and never awaits, so a
mutation and its fan-out to open watches are atomic.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from fyr.simcluster.defaults import apply_defaults

JsonObj = dict[str, Any]


@dataclass(frozen=True)
class ResourceType:
    """One served resource: where it lives in the URL space, what it is called, what it serves."""

    plural: str
    kind: str
    api_version: str
    prefix: str  # "/api/v1" or "/apis/apps/v1"
    has_generation: bool = False
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    scale_subresource: bool = False

    @property
    def group(self) -> str:
        return self.api_version.split("/")[0] if "/" in self.api_version else ""

    @property
    def qualified(self) -> str:
        """`deployments.apps`, `pods`: how the API server names the resource in its messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES: dict[str, ResourceType] = {
    r.plural: r
    for r in (
        ResourceType("pods", "Pod", "v1", "/api/v1", short_names=("po",), categories=("all",),
                     status_subresource=True),
        ResourceType("events", "Event", "v1", "/api/v1", short_names=("ev",)),
        ResourceType("deployments", "Deployment", "apps/v1", "/apis/apps/v1", has_generation=True,
                     short_names=("deploy",), categories=("all",), status_subresource=True,
                     scale_subresource=True),
        ResourceType("replicasets", "ReplicaSet", "apps/v1", "/apis/apps/v1", has_generation=True,
                     short_names=("rs",), categories=("all",), status_subresource=True,
                     scale_subresource=True),
        # Stored and served (discovery, Table, status subresource); no controller of this module
        # acts on them.
        ResourceType("statefulsets", "StatefulSet", "apps/v1", "/apis/apps/v1", has_generation=True,
                     short_names=("sts",), categories=("all",), status_subresource=True,
                     scale_subresource=True),
        ResourceType("daemonsets", "DaemonSet", "apps/v1", "/apis/apps/v1", has_generation=True,
                     short_names=("ds",), categories=("all",), status_subresource=True),
        ResourceType("controllerrevisions", "ControllerRevision", "apps/v1", "/apis/apps/v1"),
    )
}
BY_KIND: dict[str, ResourceType] = {r.kind: r for r in RESOURCES.values()}
# Namespaces are not stored: a namespace exists once created or once an object was put in it.
BUILTIN_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")


def _copy(obj: JsonObj) -> JsonObj:
    """A deep copy through JSON: several times faster than copy.deepcopy, and proves it is JSON."""
    copied: JsonObj = orjson.loads(orjson.dumps(obj))
    return copied


def format_time(at: datetime) -> str:
    """RFC 3339 with second precision and a `Z`, as the API server writes metav1.Time."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SelectorError(ValueError):
    """A label or field selector the simulated server does not understand (answered with 400)."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "exists", "!exists"
    value: str = ""


def parse_selector(text: str | None) -> tuple[Requirement, ...]:
    """Equality-based selectors (`a=b`, `a==b`, `a!=b`, `a`, `!a`), comma-separated.

    Set-based forms (`in`, `notin`) are not served: no Fyr code sends them.
    """
    if not text:
        return ()
    reqs: list[Requirement] = []
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        if " in " in part or " notin " in part or "(" in part:
            raise SelectorError(f"unsupported selector: {part}")
        if "!=" in part:
            k, v = part.split("!=", 1)
            reqs.append(Requirement(k.strip(), "!=", v.strip()))
        elif "==" in part:
            k, v = part.split("==", 1)
            reqs.append(Requirement(k.strip(), "=", v.strip()))
        elif "=" in part:
            k, v = part.split("=", 1)
            reqs.append(Requirement(k.strip(), "=", v.strip()))
        elif part.startswith("!"):
            reqs.append(Requirement(part[1:].strip(), "!exists"))
        else:
            reqs.append(Requirement(part, "exists"))
    return tuple(reqs)


def _matches(values: Callable[[str], str | None], reqs: tuple[Requirement, ...]) -> bool:
    for req in reqs:
        got = values(req.key)
        if req.op == "=" and got != req.value:
            return False
        if req.op == "!=" and got == req.value:
            return False
        if req.op == "exists" and got is None:
            return False
        if req.op == "!exists" and got is not None:
            return False
    return True


def label_match(obj: JsonObj, reqs: tuple[Requirement, ...]) -> bool:
    if not reqs:
        return True
    labels = obj.get("metadata", {}).get("labels") or {}
    return _matches(labels.get, reqs)


def field_match(obj: JsonObj, reqs: tuple[Requirement, ...]) -> bool:
    """Field selectors as dotted paths (`involvedObject.name=x`, `status.phase!=Running`)."""
    if not reqs:
        return True

    def lookup(path: str) -> str | None:
        cur: Any = obj
        for part in path.split("."):
            if not isinstance(cur, dict) or part not in cur:
                return ""  # the API server compares a missing field as the empty string
            cur = cur[part]
        return "" if cur is None else str(cur)

    return _matches(lookup, reqs)


@dataclass(eq=False)
class WatchSubscription:
    """One open watch: what it selects and the queue its HTTP handler drains."""

    resource: ResourceType
    namespace: str | None
    labels: tuple[Requirement, ...]
    fields: tuple[Requirement, ...]
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    abrupt: bool = False

    def wants(self, obj: JsonObj) -> bool:
        if self.namespace is not None and obj["metadata"].get("namespace") != self.namespace:
            return False
        return label_match(obj, self.labels) and field_match(obj, self.fields)


@dataclass
class HistoryEntry:
    rv: int
    plural: str
    obj: JsonObj  # the object as of this event (not mutated afterwards)
    line: bytes  # the serialized watch event, shared by every watcher


class TooLarge(Exception):
    """A resourceVersion newer than the server's: answered as the watch cache does (504)."""

    def __init__(self, requested: int, current: int) -> None:
        super().__init__(f"Too large resource version: {requested}, current: {current}")
        self.requested = requested
        self.current = current


_TYPE_FIELDS = ("kind", "apiVersion")  # what a list item leaves out, and a watch event's object starts with


class TooOld(Exception):
    """A resourceVersion older than the retained history: the client must relist (410 Gone)."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class ClusterState:
    """Objects of the four served kinds, with the API server's resourceVersion rules."""

    def __init__(self, *, history_limit: int = 10_000, clock: Callable[[], datetime] | None = None) -> None:
        self.history_limit = history_limit
        self.clock = clock or (lambda: datetime.now(UTC))
        # etcd's revision is never 0, and a list must never report "0": watching from "0" means
        # "from any point" (synthetic ADDED of the current state), which would skip history.
        self.rv = 1
        self.objects: dict[str, dict[tuple[str, str], JsonObj]] = {p: {} for p in RESOURCES}
        self.history: deque[HistoryEntry] = deque()
        # Watches from a resourceVersion below this are answered with 410 Gone.
        self.floor = 0
        self.watches: set[WatchSubscription] = set()
        self.logs: dict[tuple[str, str, str, bool], str] = {}
        # When each line of a log was written (kubelet's timestamps), and the open `logs -f` readers.
        self.log_stamps: dict[tuple[str, str, str, bool], list[datetime]] = {}
        self.log_followers: dict[tuple[str, str, str, bool], set[asyncio.Queue[str | None]]] = {}
        self.namespaces: dict[str, JsonObj] = {}
        self._committed: asyncio.Event | None = None  # set at the next commit, for readers of a future rv
        for ns in BUILTIN_NAMESPACES:
            self.add_namespace(ns)
        self._sorted: dict[str, list[tuple[str, str]]] = {}  # keys in list order, rebuilt after add/delete
        # Each object as a list item on the wire (no kind/apiVersion), serialised once per write (its
        # watch event is made of the same bytes): a list of 150,000 pods is a join, not 150,000 dumps.
        self._list_items: dict[str, dict[tuple[str, str], bytes]] = {p: {} for p in RESOURCES}
        self.events_emitted = 0

    # --- driver API ---------------------------------------------------------------------------
    def apply(self, obj: JsonObj) -> JsonObj:
        """Create or replace an object; the server fields are assigned as the API server does.

        uid and creationTimestamp are kept from the stored object; `metadata.generation` goes up on
        a spec change of a Deployment or ReplicaSet. Returns a copy of what is stored.
        """
        res = BY_KIND.get(obj.get("kind", ""))
        if res is None:
            raise ValueError(f"kind not served by the simulated cluster: {obj.get('kind')!r}")
        new = _copy(obj)
        meta = new.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        key = (meta["namespace"], meta["name"])
        old = self.objects[res.plural].get(key)
        apply_defaults(res.kind, new)
        self.add_namespace(meta["namespace"])
        if old is not None:
            meta["uid"] = old["metadata"]["uid"]
            meta["creationTimestamp"] = old["metadata"]["creationTimestamp"]
            if res.has_generation:
                bump = 1 if new.get("spec") != old.get("spec") else 0
                meta["generation"] = old["metadata"].get("generation", 1) + bump
        else:
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", format_time(self.clock()))
            if res.has_generation:
                meta["generation"] = 1
        new["apiVersion"] = res.api_version
        new["kind"] = res.kind
        self._commit(res, "MODIFIED" if old is not None else "ADDED", key, new)
        return _copy(new)

    def delete(self, kind: str, namespace: str, name: str) -> JsonObj | None:
        res = BY_KIND[kind]
        old = self.objects[res.plural].get((namespace, name))
        if old is None:
            return None
        gone = _copy(old)
        self._commit(res, "DELETED", (namespace, name), gone)
        if kind == "Pod":
            self.end_logs(namespace, name)
        return gone

    def dependents(self, uid: str) -> list[tuple[str, str, str]]:
        """(kind, namespace, name) of every object whose ownerReferences name `uid`."""
        out = []
        for res in RESOURCES.values():
            for (ns, name), obj in self.objects[res.plural].items():
                if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or ()):
                    out.append((res.kind, ns, name))
        return out

    def delete_cascade(self, kind: str, namespace: str, name: str) -> JsonObj | None:
        """Delete and let the garbage collector delete the dependents, as a background propagation."""
        gone = self.delete(kind, namespace, name)
        if gone is not None:
            for dep in self.dependents(gone["metadata"]["uid"]):
                self.delete_cascade(*dep)
        return gone

    def add_namespace(self, name: str) -> JsonObj:
        ns = self.namespaces.get(name)
        if ns is None:
            ns = self.namespaces[name] = {
                "metadata": {"name": name, "uid": str(uuid.uuid4()), "resourceVersion": str(self.rv),
                             "creationTimestamp": format_time(self.clock()),
                             "labels": {"kubernetes.io/metadata.name": name}},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
        return ns

    def get(self, kind: str, namespace: str, name: str) -> JsonObj | None:
        found = self.objects[BY_KIND[kind].plural].get((namespace, name))
        return _copy(found) if found is not None else None

    def set_log(self, namespace: str, pod: str, container: str, text: str, *, previous: bool = False) -> None:
        """Replace a container's log; every line is stamped now (the kubelet's timestamp)."""
        key = (namespace, pod, container, previous)
        self.logs[key] = text
        self.log_stamps[key] = [self.clock()] * len(text.splitlines())

    def append_log(self, namespace: str, pod: str, container: str, text: str) -> None:
        """Lines the running container writes now; open `logs -f` readers receive them."""
        key = (namespace, pod, container, False)
        self.logs[key] = self.logs.get(key, "") + text
        self.log_stamps.setdefault(key, []).extend([self.clock()] * len(text.splitlines()))
        for q in self.log_followers.get(key, ()):
            q.put_nowait(text)

    def end_logs(self, namespace: str, pod: str) -> None:
        """The pod's containers stopped (pod deleted): `logs -f` readers see the end of the stream."""
        for key, followers in self.log_followers.items():
            if key[:2] == (namespace, pod):
                for q in followers:
                    q.put_nowait(None)

    def compact(self) -> None:
        """Forget all history (etcd compaction): a watch from any older version now gets 410."""
        self.history.clear()
        self.floor = self.rv

    def cut_watches(self, *, abrupt: bool = False) -> int:
        """End every open watch stream; `abrupt` drops the connection instead of ending cleanly."""
        n = 0
        for sub in list(self.watches):
            sub.abrupt = abrupt
            sub.queue.put_nowait(None)
            n += 1
        return n

    # --- server side --------------------------------------------------------------------------
    def next_commit(self) -> asyncio.Event:
        """An event set at the next commit (a new resourceVersion)."""
        if self._committed is None:
            self._committed = asyncio.Event()
        return self._committed

    def _commit(self, res: ResourceType, event_type: str, key: tuple[str, str], obj: JsonObj) -> None:
        if self._committed is not None:
            self._committed.set()
            self._committed = None
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        item = orjson.dumps({k: v for k, v in obj.items() if k not in _TYPE_FIELDS})
        if event_type == "DELETED":
            del self.objects[res.plural][key]
            del self._list_items[res.plural][key]
            self._sorted.pop(res.plural, None)
        else:
            if event_type == "ADDED":
                self._sorted.pop(res.plural, None)
            self.objects[res.plural][key] = obj
            self._list_items[res.plural][key] = item
        # The watch event of the same bytes: kind and apiVersion first, as the API server writes them.
        head = orjson.dumps({"type": event_type, "object": {f: obj[f] for f in _TYPE_FIELDS if f in obj}})
        line = head[:-2] + (b"," + item[1:] if item != b"{}" else b"}") + b"}\n"
        self.history.append(HistoryEntry(self.rv, res.plural, obj, line))
        while len(self.history) > self.history_limit:
            self.floor = self.history.popleft().rv
        for sub in self.watches:
            if sub.resource is res and sub.wants(obj):
                sub.queue.put_nowait(line)
        self.events_emitted += 1

    def select(
        self,
        res: ResourceType,
        *,
        namespace: str | None,
        labels: tuple[Requirement, ...] = (),
        fields: tuple[Requirement, ...] = (),
        after: tuple[str, str] | None = None,
    ) -> Iterator[tuple[tuple[str, str], JsonObj]]:
        """Objects in (namespace, name) order, from just after `after` (a list's continue point)."""
        keys = self._sorted.get(res.plural)
        if keys is None:
            keys = self._sorted[res.plural] = sorted(self.objects[res.plural])
        start = bisect.bisect_right(keys, after) if after is not None else 0
        for key in itertools.islice(keys, start, None):  # no copy of the rest of the keys per page
            obj = self.objects[res.plural].get(key)
            if obj is None:
                continue
            if namespace is not None and key[0] != namespace:
                continue
            if label_match(obj, labels) and field_match(obj, fields):
                yield key, obj

    def list_item_json(self, res: ResourceType, key: tuple[str, str]) -> bytes:
        """The stored object at `key` serialised as a list item: without kind and apiVersion."""
        return self._list_items[res.plural][key]

    def subscribe(self, sub: WatchSubscription, since: int | None) -> list[bytes]:
        """Register a watch and return what it must send first (atomically with registering).

        `since` None: synthetic ADDED for every current object, as for resourceVersion "" or "0".
        Otherwise every retained event after `since`; TooOld when history no longer reaches back.
        """
        if since is not None and since < self.floor:
            raise TooOld(since, self.floor)
        if since is not None and since > self.rv:
            raise TooLarge(since, self.rv)
        if since is None:
            first = [
                orjson.dumps({"type": "ADDED", "object": obj}) + b"\n"
                for _, obj in self.select(sub.resource, namespace=sub.namespace, labels=sub.labels,
                                        fields=sub.fields)
            ]
        else:
            first = [
                e.line for e in self.history
                if e.rv > since and e.plural == sub.resource.plural and sub.wants(e.obj)
            ]
        self.watches.add(sub)
        return first

    def unsubscribe(self, sub: WatchSubscription) -> None:
        self.watches.discard(sub)
