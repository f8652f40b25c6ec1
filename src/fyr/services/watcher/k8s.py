"""List and watch one kind of Kubernetes object, turning it into a plain stream of changes.

Why it exists: the watcher must see every change of Deployments, StatefulSets, DaemonSets,
ReplicaSets, ControllerRevisions, Pods and Events without ever missing one, across dropped streams,
API-server restarts and compacted history. The algorithm is the informer's (and kopf's
`watching.py`): list (in pages), watch from the listed resourceVersion with
`allowWatchBookmarks`, end each round by a server-side `timeoutSeconds` or a client-side
inactivity timeout, continue from the last seen resourceVersion, and relist on
`410 Gone`. A relist is diffed against what this stream had delivered, so an object deleted while
we were away still yields a DELETED.

`KindWatcher.round()` is one round and is what the tests drive; the loop around it is
`fyr.runtime.run_loop` (one place that catches, logs and backs off). This module and the analyzer's
collector are the only ones importing kubernetes_asyncio (plus the shared client factory).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import structlog
from kubernetes_asyncio import client

from fyr.core.k8s_views import PodView
from fyr.core.pod_wire import decode_pod_event, decode_pod_list
from fyr.errors import PermanentError, TransientError
from fyr.runtime import retry_after_header
from fyr.services.watcher.cluster_index import EventType, Kind

log = structlog.get_logger()

JsonObj = dict[str, Any]
OnChange = Callable[[Kind, EventType, JsonObj | PodView], None]

KINDS: tuple[Kind, ...] = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ControllerRevision", "Pod",
                           "Event")
_WORKLOADS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})
WARNING_EVENTS = "type=Warning"
_YIELD_EVERY = 100  # objects delivered between two yields to the event loop during a list

# kind -> (API class, all-namespaces list function, namespaced list function)
_LISTERS: dict[Kind, tuple[type[Any], str, str]] = {
    "Deployment": (client.AppsV1Api, "list_deployment_for_all_namespaces", "list_namespaced_deployment"),
    "StatefulSet": (client.AppsV1Api, "list_stateful_set_for_all_namespaces", "list_namespaced_stateful_set"),
    "DaemonSet": (client.AppsV1Api, "list_daemon_set_for_all_namespaces", "list_namespaced_daemon_set"),
    "ReplicaSet": (client.AppsV1Api, "list_replica_set_for_all_namespaces", "list_namespaced_replica_set"),
    "ControllerRevision": (client.AppsV1Api, "list_controller_revision_for_all_namespaces",
                           "list_namespaced_controller_revision"),
    "Pod": (client.CoreV1Api, "list_pod_for_all_namespaces", "list_namespaced_pod"),
    "Event": (client.CoreV1Api, "list_event_for_all_namespaces", "list_namespaced_event"),
}


class KubeUnavailable(TransientError):
    """The API server did not answer, answered 429/5xx, or dropped the connection."""


class WatchGone(Exception):
    """410 Gone: the resourceVersion is older than the server's history; relist."""


@dataclass(frozen=True)
class WatchScope:
    """What one stream covers: a kind, one namespace or all (None), and a label selector."""

    kind: Kind
    namespace: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}@{self.namespace or '*'}"


@dataclass(frozen=True)
class WatchTimeouts:
    server_seconds: int = 300  # timeoutSeconds sent with each watch: the server ends the round
    inactivity_seconds: float = 90.0  # no byte for this long (no bookmark either): reconnect
    connect_seconds: float = 10.0
    list_seconds: float = 60.0  # one list page, total
    page_size: int = 500  # list in pages: a 50,000-pod cluster never arrives as one document


def _stub(kind: Kind, obj: JsonObj | PodView) -> tuple[str, ...]:
    """The little we keep per delivered object to synthesize its DELETED after a relist."""
    if isinstance(obj, PodView):
        return (obj.uid,)
    meta = obj.get("metadata") or {}
    if kind == "Event":
        inv = obj.get("involvedObject") or {}
        return (meta.get("uid", ""), inv.get("kind", ""), inv.get("namespace", ""), inv.get("name", ""))
    return (meta.get("uid", ""),)


def _from_stub(kind: Kind, key: tuple[str, str], stub: tuple[str, ...]) -> JsonObj:
    obj: JsonObj = {"metadata": {"namespace": key[0], "name": key[1], "uid": stub[0]}}
    if kind == "Event":
        obj["involvedObject"] = {"kind": stub[1], "namespace": stub[2], "name": stub[3]}
    return obj


_ITEMS = b',"items":'


def _list_meta(page: bytes) -> dict[str, Any] | None:
    """A list page's metadata (resourceVersion, continue) without parsing its items, or None.

    The API server writes `{"kind":...,"apiVersion":...,"metadata":{...},"items":[...]}`: the head
    up to the first `,"items":` closed by `}` is a whole JSON object only when that `items` is the
    list's own key (any other `items`, inside an object, leaves brackets open and the head does not
    parse), so it is the list's metadata or nothing; None sends the caller to the full parse.
    """
    end = page.find(_ITEMS)
    if end < 0:
        return None
    try:
        head = orjson.loads(page[:end] + b"}")
    except orjson.JSONDecodeError:
        return None
    meta = head.get("metadata") if isinstance(head, dict) else None
    return meta if isinstance(meta, dict) else None


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Consume the outcome of a page nobody waits for any more (no 'exception never retrieved')."""
    if not task.cancelled():
        task.exception()


class _CollectorPause:
    """Counts the lists in progress; the cyclic garbage collector is off while any is.

    A list delivers hundreds of thousands of freshly parsed objects, and the index keeps a view of
    each: the collector's passes would walk that growing heap again and again (about as much CPU as
    the list itself) for nothing, since parsed JSON and the views hold no reference cycles and are
    freed by reference counting. When the last list ends, one full collection frees the cycles made
    meanwhile (aiohttp's and asyncio's) and the survivors, the index, are frozen out of the
    collector's generations: otherwise the young and middle passes would each walk them once more.
    A collector someone else turned off is left off.
    """

    def __init__(self) -> None:
        self.depth = 0

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        if self.depth == 0 and not gc.isenabled():
            yield
            return
        self.depth += 1
        gc.disable()
        try:
            yield
        finally:
            self.depth -= 1
            if self.depth == 0:
                gc.enable()
                gc.collect()
                gc.freeze()


collector_paused = _CollectorPause()


def _key(obj: JsonObj | PodView) -> tuple[str, str]:
    if isinstance(obj, PodView):
        return obj.namespace, obj.name
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


async def _check(resp: Any) -> None:
    """Raise for a non-2xx answer (with _preload_content=False the client does not)."""
    if 200 <= resp.status < 300:
        return
    body = await resp.read()
    resp.release()
    try:
        status = json.loads(body)
        message = str(status.get("message", ""))
    except ValueError:
        message = body[:200].decode(errors="replace")
    if resp.status == 410:
        raise WatchGone(message)
    if resp.status == 429 or resp.status >= 500:
        raise KubeUnavailable(f"API server answered {resp.status}: {message}",
                              retry_after=retry_after_header(resp.headers))
    raise PermanentError(f"API server answered {resp.status}: {message}")


class KindWatcher:
    """The list/watch state of one scope; `round()` is one list-if-needed plus one watch."""

    def __init__(self, api: client.ApiClient, scope: WatchScope, on_change: OnChange, *,
                 timeouts: WatchTimeouts | None = None, on_synced: Callable[[WatchScope], None] | None = None,
                 pod_views: bool = False) -> None:
        """`pod_views`: a pod stream delivers each added or changed pod as its `PodView`, read from
        the wire without parsing the rest of the object (`fyr.core.pod_wire`); a pod in a shape that
        reader refuses, and every DELETED found by a relist, still comes as the parsed object."""
        self.scope = scope
        self.pod_views = pod_views and scope.kind == "Pod"
        self.on_change = on_change
        self.on_synced = on_synced
        self.timeouts = timeouts or WatchTimeouts()
        api_cls, all_ns, namespaced = _LISTERS[scope.kind]
        lister = getattr(api_cls(api), all_ns if scope.namespace is None else namespaced)
        self._lister = lister
        self.resource_version: str | None = None
        self.known: dict[tuple[str, str], tuple[str, ...]] = {}
        self.lists = 0  # how often this scope was (re)listed: a test and metric fact
        self.events = 0

    def _call_args(self) -> tuple[list[Any], dict[str, Any]]:
        args: list[Any] = [] if self.scope.namespace is None else [self.scope.namespace]
        kwargs: dict[str, Any] = {"_preload_content": False}
        if self.scope.label_selector:
            kwargs["label_selector"] = self.scope.label_selector
        if self.scope.field_selector:
            kwargs["field_selector"] = self.scope.field_selector
        return args, kwargs

    async def round(self) -> float:
        """One round; returns 0 (reconnect at once). Errors propagate to the loop's one catch."""
        try:
            if self.resource_version is None:
                await self.relist()
            await self.watch_once()
        except WatchGone as exc:
            log.info("watch_gone_relisting", scope=str(self.scope), why=str(exc))
            self.resource_version = None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KubeUnavailable(f"{self.scope}: {type(exc).__name__}: {exc}") from exc
        return 0.0

    async def relist(self) -> None:
        """List every page, deliver each object, then DELETED for what vanished meanwhile.

        The next page is asked for as soon as this one has arrived (its continue token read from the
        list's metadata at the head of the page, see `_list_meta`), before this one is parsed, so the
        API server builds and sends it while this one is parsed and its objects delivered; the
        delivery yields to the event loop every `_YIELD_EVERY` objects, which keeps that page coming
        and the other streams moving.
        """
        args, kwargs = self._call_args()
        timeout = aiohttp.ClientTimeout(total=self.timeouts.list_seconds, connect=self.timeouts.connect_seconds)
        seen: dict[tuple[str, str], tuple[str, ...]] = {}
        list_rv: str | None = None
        kind, known, on_change = self.scope.kind, self.known, self.on_change
        with collector_paused():
            page: asyncio.Future[bytes] | None = asyncio.ensure_future(self._page(args, kwargs, timeout, None))
            try:
                while page is not None:
                    raw = await page
                    body: JsonObj | None = None
                    meta = _list_meta(raw)
                    if meta is None:  # the metadata is not at the head: parse the page first
                        body = orjson.loads(raw)
                        meta = body.get("metadata") or {}
                    list_rv = list_rv or meta.get("resourceVersion")
                    token = meta.get("continue")
                    page = asyncio.ensure_future(self._page(args, kwargs, timeout, token)) if token else None
                    if page is not None:
                        await asyncio.sleep(0)  # the request goes out before this page is parsed
                    items: Sequence[JsonObj | PodView] | None = (
                        decode_pod_list(raw) if self.pod_views and body is None else None)
                    if items is None:
                        if body is None:
                            body = orjson.loads(raw)
                        items = body.get("items") or ()
                        del body
                    del raw
                    for i, obj in enumerate(items):
                        if i % _YIELD_EVERY == 0:
                            await asyncio.sleep(0)
                        key = _key(obj)
                        seen[key] = _stub(kind, obj)
                        on_change(kind, "MODIFIED" if key in known else "ADDED", obj)
                    del items
            finally:
                if page is not None:
                    page.cancel()
                    page.add_done_callback(_retrieve)
        for key in self.known.keys() - seen.keys():
            self.on_change(self.scope.kind, "DELETED", _from_stub(self.scope.kind, key, self.known[key]))
        self.known = seen
        self.resource_version = list_rv
        self.lists += 1
        log.info("watch_listed", scope=str(self.scope), objects=len(seen), resource_version=list_rv)
        if self.on_synced is not None:
            self.on_synced(self.scope)

    async def _page(self, args: list[Any], kwargs: dict[str, Any], request_timeout: aiohttp.ClientTimeout,
                    token: str | None) -> bytes:
        """One list page, as it came."""
        page_kwargs = dict(kwargs, limit=self.timeouts.page_size, _request_timeout=request_timeout)
        if token:
            page_kwargs["_continue"] = token
        resp = await self._lister(*args, **page_kwargs)
        await _check(resp)
        try:
            raw: bytes = await resp.read()
        finally:
            resp.release()
        return raw

    async def watch_once(self) -> None:
        """Watch from `resource_version` until the server ends the stream or it goes quiet."""
        args, kwargs = self._call_args()
        kwargs.update(
            watch=True, allow_watch_bookmarks=True, resource_version=self.resource_version,
            timeout_seconds=self.timeouts.server_seconds,
            _request_timeout=aiohttp.ClientTimeout(total=None, connect=self.timeouts.connect_seconds,
                                                   sock_read=self.timeouts.inactivity_seconds),
        )
        resp = await self._lister(*args, **kwargs)
        try:
            await _check(resp)
            buffer = b""
            try:
                async for chunk in resp.content.iter_any():
                    buffer += chunk
                    if b"\n" not in chunk:
                        continue
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if line and not line.isspace() and not (self.pod_views and self._handle_pod_line(line)):
                            self._handle_line(line)
            except aiohttp.ServerTimeoutError:
                # Client inactivity timeout: a normal end of round; continue from the last version.
                log.debug("watch_inactive", scope=str(self.scope), resource_version=self.resource_version)
        finally:
            resp.release()

    def _handle_pod_line(self, line: bytes) -> bool:
        """A pod event read as its view; False leaves the line to `_handle_line`."""
        decoded = decode_pod_event(line)
        if decoded is None:
            return False
        etype, view, rv = decoded
        if etype == "BOOKMARK":
            if rv:
                self.resource_version = rv
            return True
        self._deliver(etype, view, rv)
        return True

    def _handle_line(self, line: bytes) -> None:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError as exc:  # a truncated or garbled stream: reconnect from our version
            raise KubeUnavailable(f"{self.scope}: malformed watch line: {line[:120]!r}") from exc
        etype = event.get("type")
        obj = event.get("object") or {}
        if etype == "ERROR":
            code = obj.get("code")
            if code == 410:
                raise WatchGone(str(obj.get("message", "")))
            if isinstance(code, int) and (code == 429 or code >= 500):
                raise KubeUnavailable(f"watch error {code}: {obj.get('message', '')}")
            raise PermanentError(f"watch error {code}: {obj.get('message', '')}")
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if etype == "BOOKMARK":
            if rv:
                self.resource_version = rv
            return
        if etype not in ("ADDED", "MODIFIED", "DELETED"):
            log.warning("watch_unknown_event", scope=str(self.scope), type=etype)
            return
        self._deliver(etype, obj, rv)

    def _deliver(self, etype: EventType, obj: JsonObj | PodView, rv: str | None) -> None:
        key = _key(obj)
        if etype == "DELETED":
            self.known.pop(key, None)
        else:
            self.known[key] = _stub(self.scope.kind, obj)
        self.events += 1
        if rv:
            # Before delivering: an object our own code cannot digest must not be replayed forever.
            self.resource_version = rv
        self.on_change(self.scope.kind, etype, obj)


def scopes(namespaces: list[str], label_selector: str | None) -> list[WatchScope]:
    """One stream per kind and namespace (or per kind for all namespaces).

    The label selector narrows the workloads (Deployments, StatefulSets, DaemonSets) only:
    ReplicaSets, ControllerRevisions and Pods carry the pod template's
    labels, which need not include the Deployment's, and Events carry none. Events are narrowed to
    `type=Warning`: every event the rollout decision reads (Failed, FailedScheduling, FailedCreate,
    FailedMount, BackOff of a crashing container) is a Warning, while the Normal ones (Scheduled,
    Pulling, Pulled, Created, Started, SuccessfulCreate, ScalingReplicaSet) are most of a cluster's
    event traffic.
    """
    targets: list[str | None] = list(namespaces) if namespaces else [None]
    return [WatchScope(kind, ns, label_selector if kind in _WORKLOADS else None,
                       WARNING_EVENTS if kind == "Event" else None)
            for kind in KINDS for ns in targets]
