"""The HTTP surface of the simulated API server: how each Kubernetes request is answered.

Why it exists: the rules of the wire (paths, discovery, lists and watches, WatchList, Table,
subresources, logs, `metav1.Status` errors) are what kubectl and client-go depend on; they live
here, apart from the server's lifecycle and fault injection (`server.py`), the state
(`store.py`) and the write rules (`writes.py`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
import structlog
import yaml
from aiohttp import web

from fyr.simcluster import discovery, openapi, protobuf, tables, writes
from fyr.simcluster.patch import PatchError, apply_patch
from fyr.simcluster.store import (
    RESOURCES,
    JsonObj,
    ResourceType,
    SelectorError,
    TooOld,
    WatchSubscription,
    parse_selector,
)
from fyr.simcluster.writes import ApiError

if TYPE_CHECKING:
    from fyr.simcluster.server import SimCluster

log = structlog.get_logger()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WriteHook = Callable[[ResourceType, str, JsonObj], None]
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def status_body(code: int, reason: str, message: str, **details: Any) -> JsonObj:
    body: JsonObj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                     "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


def status_response(code: int, reason: str, message: str, **details: Any) -> web.Response:
    return web.json_response(status_body(code, reason, message, **details), status=code)


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def _list_item(obj: JsonObj) -> JsonObj:
    """A list item as the wire has it: list items carry no kind/apiVersion."""
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


def _json(body: Any, *, status: int = 200, content_type: str = "application/json") -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, headers={"Content-Type": content_type})


@dataclass(frozen=True)
class Route:
    """A parsed API path: which prefix, namespace, resource, name and subresource it names."""

    prefix: str  # "/api/v1" or "/apis/apps/v1"
    plural: str | None = None
    namespace: str | None = None
    name: str | None = None
    sub: str | None = None


def parse_path(path: str) -> Route | None:
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        prefix, rest = "/api/v1", parts[2:]
    elif parts[:3] == ["apis", "apps", "v1"]:
        prefix, rest = "/apis/apps/v1", parts[3:]
    else:
        return None
    if not rest:
        return Route(prefix)
    if rest[0] == "namespaces" and len(rest) >= 3:
        ns, plural, tail = rest[1], rest[2], rest[3:]
        if len(tail) > 2:
            return None
        return Route(prefix, plural, ns, tail[0] if tail else None, tail[1] if len(tail) > 1 else None)
    if len(rest) == 1:
        return Route(prefix, rest[0])
    if rest[0] == "namespaces" and len(rest) == 2:
        return Route(prefix, "namespaces", None, rest[1])
    return None


def _rfc3339nano(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


class Api:
    """Request handlers; one instance per server, sharing the cluster state."""

    def __init__(self, sim: SimCluster) -> None:
        self.sim = sim
        self.state = sim.state

    # --- entry --------------------------------------------------------------------------------
    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path, method = request.path, request.method
        accept = request.headers.get("Accept", "")
        if path in ("/version", "/version/"):
            return _json(discovery.SERVER_VERSION)
        if path.rstrip("/") in ("/api", "/apis"):
            core = path.rstrip("/") == "/api"
            if discovery.wants_aggregated(accept):
                return _json(discovery.aggregated(core), content_type=discovery.AGGREGATED_TYPE)
            return _json(discovery.api_versions() if core else discovery.api_groups())
        if path.rstrip("/") == "/apis/apps":
            return _json(discovery.apps_group())
        if path.rstrip("/") == "/openapi/v3":
            return _json(openapi.root())
        if path.startswith("/openapi/v3/"):
            doc = openapi.group_version_doc(path.removeprefix("/openapi/v3/").rstrip("/"))
            if doc is not None:
                return _json(doc)
        route = parse_path(path)
        if route is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if route.plural is None:
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the "
                               "requested resource")
            return _json(discovery.resource_list(route.prefix))
        if route.plural == "namespaces" and route.prefix == "/api/v1" and route.namespace is None:
            return await self.namespaces(request, route)
        res = RESOURCES.get(route.plural)
        if res is None or res.prefix != route.prefix:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if route.name is None:
            if method == "GET":
                return await self.collection(request, res, route.namespace)
            if method == "POST" and route.namespace is not None:
                obj = writes.create(self.state, res, route.namespace, await self._body(request))
                self.sim.notify(res, "ADDED", obj)
                return _json(obj, status=201)
            if method == "DELETE" and route.namespace is not None:
                return self.delete_collection(request, res, route.namespace)
        elif route.namespace is not None:
            if route.sub is None:
                return await self.item(request, res, route.namespace, route.name)
            if route.sub == "status" and res.status_subresource:
                return await self.item(request, res, route.namespace, route.name, sub="status")
            if route.sub == "scale" and res.scale_subresource:
                return await self.scale(request, res, route.namespace, route.name)
            if route.sub == "log" and res.plural == "pods" and method == "GET":
                return await self.pod_log(request, route.namespace, route.name)
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    @staticmethod
    async def _body(request: web.Request) -> Any:
        if request.headers.get("Content-Type", "").startswith("application/vnd.kubernetes.protobuf"):
            try:
                return protobuf.decode_object(await request.read())
            except protobuf.Unsupported as exc:
                raise ApiError(415, "UnsupportedMediaType", f"the simulated cluster cannot read this protobuf body "
                               f"({exc}): create the object from a manifest (kubectl create -f / apply -f)") from exc
        raw = await request.read()
        try:
            return orjson.loads(raw) if raw.strip()[:1] in (b"{", b"[") else yaml.safe_load(raw)
        except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
            raise ApiError(400, "BadRequest", f"the body of the request could not be decoded: {exc}") from exc

    # --- namespaces (not stored: created on demand, always Active) ----------------------------
    async def namespaces(self, request: web.Request, route: Route) -> web.Response:
        rv = str(self.state.rv)
        if route.name is None:
            if request.method == "POST":
                body = await self._body(request)
                name = str(((body or {}).get("metadata") or {}).get("name") or "")
                if not name:
                    raise ApiError(422, "Invalid", 'Namespace "" is invalid: metadata.name: Required value')
                if name in self.state.namespaces:
                    raise ApiError(409, "AlreadyExists", f'namespaces "{name}" already exists', name=name,
                                   kind="namespaces")
                return _json({"kind": "Namespace", "apiVersion": "v1", **self.state.add_namespace(name)},
                             status=201)
            items = [self.state.namespaces[n] for n in sorted(self.state.namespaces)]
            if tables.wants_table(request.headers.get("Accept", "")):
                return _json(tables.table("Namespace", "v1", items, metadata={"resourceVersion": rv},
                                          include=request.query.get("includeObject", "Metadata")))
            return _json({"kind": "NamespaceList", "apiVersion": "v1", "metadata": {"resourceVersion": rv},
                          "items": items})
        ns = self.state.namespaces.get(route.name)
        if ns is None:
            raise ApiError(404, "NotFound", f'namespaces "{route.name}" not found', name=route.name,
                           kind="namespaces")
        if request.method == "PATCH":
            try:
                patched = apply_patch(request.headers.get("Content-Type", ""), dict(ns), await self._body(request))
            except PatchError as exc:
                raise ApiError(422, "Invalid", f'Namespace "{route.name}" is invalid: {exc}') from exc
            for key in ("labels", "annotations"):
                if (patched.get("metadata") or {}).get(key) is not None:
                    ns["metadata"][key] = patched["metadata"][key]
        elif request.method != "GET":
            raise ApiError(405, "MethodNotAllowed", "the simulated cluster does not delete or replace namespaces")
        if tables.wants_table(request.headers.get("Accept", "")):
            return _json(tables.table("Namespace", "v1", [ns], metadata={"resourceVersion": rv},
                                      include=request.query.get("includeObject", "Metadata")))
        return _json({"kind": "Namespace", "apiVersion": "v1", **ns})

    # --- collections --------------------------------------------------------------------------
    async def collection(self, request: web.Request, res: ResourceType, namespace: str | None) -> web.StreamResponse:
        q = request.query
        try:
            labels = parse_selector(q.get("labelSelector"))
            fields = parse_selector(q.get("fieldSelector"))
        except SelectorError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from exc
        if _truthy(q.get("watch")):
            return await self._watch(request, res, namespace, labels, fields)
        rv_text = q.get("resourceVersion", "")
        if rv_text not in ("", "0"):
            if not rv_text.isdigit():
                raise ApiError(400, "BadRequest", f"invalid resource version: {rv_text}")
            await self._wait_fresh(int(rv_text))
        meta, found = self._list(res, namespace, labels, fields, q.get("limit"), q.get("continue"))
        if tables.wants_table(request.headers.get("Accept", "")):
            items = [_list_item(obj) for _, obj in found]
            return _json(tables.table(res.kind, res.api_version, items, metadata=meta,
                                      include=q.get("includeObject", "Metadata")))
        # The items as the store keeps them serialised (each object once per version, not per list):
        # the same bytes as orjson.dumps of the list body.
        head = orjson.dumps({"kind": f"{res.kind}List", "apiVersion": res.api_version, "metadata": meta})
        items_json = b",".join([self.state.list_item_json(res, key) for key, _ in found])
        return web.Response(body=b"".join((head[:-1], b',"items":[', items_json, b"]}")),
                            headers={"Content-Type": "application/json"})

    async def _wait_fresh(self, rv: int) -> None:
        """The watch cache waits up to a few seconds for a resourceVersion it has not seen, then 504."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.sim.too_large_wait
        while self.state.rv < rv and loop.time() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.state.next_commit().wait(), deadline - loop.time())
        if self.state.rv < rv:
            raise ApiError(504, "Timeout", f"Too large resource version: {rv}, current: {self.state.rv}",
                           causes=[{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                           retryAfterSeconds=1)

    def _list(self, res: ResourceType, namespace: str | None, labels: Any, fields: Any,
              limit_text: str | None, token: str | None) -> tuple[JsonObj, list[tuple[tuple[str, str], JsonObj]]]:
        """The list's metadata and one page of (key, stored object)."""
        # Pages after the first are read from current state, not a snapshot; the list's
        # resourceVersion is the first page's, so a watch from it still sees every later change.
        list_rv, after = self.state.rv, None
        if token:
            try:
                decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
                list_rv, after = int(decoded["rv"]), (str(decoded["after"][0]), str(decoded["after"][1]))
            except (ValueError, KeyError, TypeError, binascii.Error) as exc:
                raise ApiError(400, "BadRequest", "invalid continue token") from exc
            if list_rv < self.state.floor:
                raise ApiError(410, "Expired", "The provided continue parameter is too old to display a "
                               "consistent list result. You can start a new list without the continue parameter.")
        limit = int(limit_text) if limit_text and limit_text.isdigit() and int(limit_text) > 0 else None
        found: list[tuple[tuple[str, str], JsonObj]] = []
        next_token = None
        for key, obj in self.state.select(res, namespace=namespace, labels=labels, fields=fields, after=after):
            if limit is not None and len(found) >= limit:
                payload = {"rv": list_rv, "after": list(found[-1][0])}
                next_token = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
                break
            found.append((key, obj))
        meta: JsonObj = {"resourceVersion": str(list_rv)}
        if next_token:
            meta["continue"] = next_token
        return meta, found

    def delete_collection(self, request: web.Request, res: ResourceType, namespace: str) -> web.Response:
        try:
            labels = parse_selector(request.query.get("labelSelector"))
            fields = parse_selector(request.query.get("fieldSelector"))
        except SelectorError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from exc
        names = [key[1] for key, _ in self.state.select(res, namespace=namespace, labels=labels, fields=fields)]
        gone = [writes.delete(self.state, res, namespace, n, propagation=request.query.get("propagationPolicy"))
                for n in names]
        for obj in gone:
            self.sim.notify(res, "DELETED", obj)
        return _json({"kind": f"{res.kind}List", "apiVersion": res.api_version,
                      "metadata": {"resourceVersion": str(self.state.rv)}, "items": gone})

    # --- watch --------------------------------------------------------------------------------
    async def _watch(self, request: web.Request, res: ResourceType, namespace: str | None,
                     labels: Any, fields: Any) -> web.StreamResponse:
        q = request.query
        rv_text = q.get("resourceVersion", "")
        if rv_text not in ("", "0") and not rv_text.isdigit():
            raise ApiError(400, "BadRequest", f"invalid resource version: {rv_text}")
        since = None if rv_text in ("", "0") else int(rv_text)
        initial_events = _truthy(q.get("sendInitialEvents"))
        if initial_events and q.get("resourceVersionMatch") != "NotOlderThan":
            raise ApiError(422, "Invalid", "resourceVersionMatch: Forbidden: sendInitialEvents requires setting "
                           "resourceVersionMatch to NotOlderThan")
        if since is not None:
            await self._wait_fresh(since)
        timeout = float(q.get("timeoutSeconds") or self.sim.default_watch_timeout)
        bookmarks = _truthy(q.get("allowWatchBookmarks"))
        as_table = tables.wants_table(request.headers.get("Accept", ""))
        include = q.get("includeObject", "Metadata")
        sub = WatchSubscription(res, namespace, labels, fields)
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        try:
            # WatchList: the current state as ADDED whatever the version asked, then a bookmark.
            first = self.state.subscribe(sub, None if initial_events else since)
        except TooOld as exc:
            # The real server answers 200 and then one ERROR event carrying a 410 Status.
            await resp.prepare(request)
            event = {"type": "ERROR", "object": status_body(410, "Expired", str(exc))}
            await resp.write(json.dumps(event).encode() + b"\n")
            await resp.write_eof()
            return resp
        if initial_events:
            meta = {"resourceVersion": str(self.state.rv), "annotations": {INITIAL_EVENTS_END: "true"}}
            first.append(orjson.dumps({"type": "BOOKMARK", "object": {"kind": res.kind, "apiVersion": res.api_version,
                                                                        "metadata": meta}}) + b"\n")
        headers_sent = False

        def encode(lines: list[bytes]) -> bytes:
            nonlocal headers_sent
            if not as_table:
                return b"".join(lines)
            out = []
            for line in lines:
                event = orjson.loads(line)
                if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                    obj = event["object"]
                    event["object"] = tables.table(res.kind, res.api_version, [obj], include=include,
                                                   metadata={"resourceVersion": obj["metadata"]["resourceVersion"]},
                                                   headers=not headers_sent)
                    headers_sent = True
                out.append(orjson.dumps(event) + b"\n")
            return b"".join(out)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await resp.prepare(request)
            if first:
                await resp.write(encode(first))
            next_bookmark = loop.time() + self.sim.bookmark_interval
            while True:
                now = loop.time()
                if now >= deadline:
                    break
                wait = min(deadline, next_bookmark) - now if bookmarks else deadline - now
                try:
                    # What is queued is taken as it is: wait_for with a timeout already past (a bookmark
                    # due while the stream was busy writing) times out on 3.11 without taking an item,
                    # again and again, and the stream would go silent until its deadline.
                    line = (sub.queue.get_nowait() if not sub.queue.empty()
                            else await asyncio.wait_for(sub.queue.get(), timeout=max(wait, 0.0)))
                except TimeoutError:
                    # A bookmark promises that everything up to its version was sent: never while
                    # events still wait in the queue (they may have arrived since the timeout fired).
                    if bookmarks and loop.time() >= next_bookmark and sub.queue.empty():
                        meta = {"resourceVersion": str(self.state.rv)}
                        bm = {"type": "BOOKMARK",
                              "object": {"kind": res.kind, "apiVersion": res.api_version, "metadata": meta}}
                        await resp.write(json.dumps(bm).encode() + b"\n")
                        next_bookmark = loop.time() + self.sim.bookmark_interval
                    continue
                chunk = [line]
                while not sub.queue.empty() and chunk[-1] is not None:
                    chunk.append(sub.queue.get_nowait())
                ended = chunk[-1] is None
                data = encode([c for c in chunk if c is not None])
                if data:
                    await resp.write(data)
                if ended:
                    if sub.abrupt and request.transport is not None:
                        request.transport.abort()
                        return resp
                    break
            await resp.write_eof()
        except ConnectionResetError:
            pass  # the client went away
        finally:
            self.state.unsubscribe(sub)
        return resp

    # --- single objects -----------------------------------------------------------------------
    async def item(self, request: web.Request, res: ResourceType, ns: str, name: str,
                   sub: str | None = None) -> web.Response:
        method = request.method
        if method == "GET":
            obj = self.state.objects[res.plural].get((ns, name))
            if obj is None:
                raise writes.not_found(res, name)
            if sub is None and tables.wants_table(request.headers.get("Accept", "")):
                return _json(tables.table(res.kind, res.api_version, [obj],
                                          metadata={"resourceVersion": obj["metadata"]["resourceVersion"]},
                                          include=request.query.get("includeObject", "Metadata")))
            return web.Response(body=orjson.dumps(obj), content_type="application/json")
        if method == "PUT":
            obj = writes.replace(self.state, res, ns, name, await self._body(request), subresource=sub)
        elif method == "PATCH":
            obj = writes.patch(self.state, res, ns, name, request.headers.get("Content-Type", ""),
                               await self._body(request), subresource=sub)
        elif method == "DELETE" and sub is None:
            propagation = request.query.get("propagationPolicy")
            raw = await request.read()
            if raw.strip():
                with contextlib.suppress(orjson.JSONDecodeError):
                    opts = orjson.loads(raw)
                    propagation = opts.get("propagationPolicy", propagation) if isinstance(opts, dict) else propagation
            obj = writes.delete(self.state, res, ns, name, propagation=propagation)
            self.sim.notify(res, "DELETED", obj)
            return _json(obj)
        else:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        self.sim.notify(res, "MODIFIED", obj)
        return _json(obj)

    async def scale(self, request: web.Request, res: ResourceType, ns: str, name: str) -> web.Response:
        if request.method == "GET":
            obj = self.state.objects[res.plural].get((ns, name))
            if obj is None:
                raise writes.not_found(res, name)
            return _json(writes.scale_of(res, obj))
        if request.method not in ("PUT", "PATCH"):
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        content_type = request.headers.get("Content-Type", "") if request.method == "PATCH" else None
        scale = writes.update_scale(self.state, res, ns, name, content_type, await self._body(request))
        stored = self.state.objects[res.plural][(ns, name)]
        self.sim.notify(res, "MODIFIED", stored)
        return _json(scale)

    # --- logs ---------------------------------------------------------------------------------
    async def pod_log(self, request: web.Request, ns: str, name: str) -> web.StreamResponse:
        pod = self.state.objects["pods"].get((ns, name))
        if pod is None:
            raise writes.not_found(RESOURCES["pods"], name)
        spec = pod.get("spec", {})
        names = [c["name"] for c in spec.get("containers", [])]
        init_names = [c["name"] for c in spec.get("initContainers", []) or []]
        q = request.query
        container = q.get("container")
        if not container:
            if len(names) != 1:
                raise ApiError(400, "BadRequest", f"a container name must be specified for pod {name}, choose one "
                               f"of: [{' '.join(names)}] or one of the init containers: [{' '.join(init_names)}]")
            container = names[0]
        if container not in names and container not in init_names:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
        previous = _truthy(q.get("previous"))
        key = (ns, name, container, previous)
        text = self.state.logs.get(key)
        if text is None:
            if previous:
                raise ApiError(400, "BadRequest", f'previous terminated container "{container}" in pod "{name}" '
                               "not found")
            waiting = self._waiting_reason(pod, container)
            if waiting:
                raise ApiError(400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start: '
                               f"{waiting}")
            text = ""
        stamps = self.state.log_stamps.get(key) or []
        lines = text.splitlines(keepends=True)
        stamped = [(stamps[i] if i < len(stamps) else self.state.clock(), line) for i, line in enumerate(lines)]
        since = self._since(q)
        if since is not None:
            stamped = [(at, line) for at, line in stamped if at >= since]
        tail = q.get("tailLines")
        if tail and tail.isdigit():
            stamped = stamped[-int(tail):] if int(tail) > 0 else []
        timestamps = _truthy(q.get("timestamps"))

        def render(rows: list[tuple[datetime, str]]) -> bytes:
            return "".join(f"{_rfc3339nano(at)} {line}" if timestamps else line for at, line in rows).encode()

        data = render(stamped)
        limit = q.get("limitBytes")
        if not _truthy(q.get("follow")) or previous:
            if limit and limit.isdigit():
                data = data[: int(limit)]
            return web.Response(body=data, content_type="text/plain", charset="utf-8")
        return await self._follow(request, key, data)

    async def _follow(self, request: web.Request, key: tuple[str, str, str, bool], first: bytes) -> web.StreamResponse:
        """`logs -f`: what is there, then every appended line until the pod goes or the client leaves."""
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.state.log_followers.setdefault(key, set()).add(queue)
        timestamps = _truthy(request.query.get("timestamps"))
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/plain; charset=utf-8"})
        resp.enable_chunked_encoding()
        try:
            await resp.prepare(request)
            if first:
                await resp.write(first)
            while True:
                text = await queue.get()
                if text is None:
                    break
                if timestamps:
                    stamp = _rfc3339nano(self.state.clock())
                    text = "".join(f"{stamp} {line}" for line in text.splitlines(keepends=True))
                await resp.write(text.encode())
            await resp.write_eof()
        except ConnectionResetError:
            pass
        finally:
            self.state.log_followers.get(key, set()).discard(queue)
        return resp

    def _since(self, q: Any) -> datetime | None:
        seconds = q.get("sinceSeconds")
        if seconds and seconds.isdigit():
            return self.state.clock() - timedelta(seconds=int(seconds))
        text = q.get("sinceTime")
        if text:
            try:
                return datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError as exc:
                raise ApiError(400, "BadRequest", f"invalid sinceTime: {text}") from exc
        return None

    @staticmethod
    def _waiting_reason(pod: JsonObj, container: str) -> str | None:
        status = pod.get("status", {})
        for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
            if cs.get("name") == container and cs.get("restartCount", 0) == 0:
                waiting = (cs.get("state") or {}).get("waiting")
                if waiting:
                    reason = str(waiting.get("reason", "ContainerCreating"))
                    return "trying and failing to pull image" if "Image" in reason else reason
        return None
