"""A Kubernetes API server on loopback, backed by `ClusterState`.

Why it exists: `fyr demo` needs a cluster to watch, and the tests need a fake that the real
`kubernetes_asyncio` client can talk to over real HTTP. It serves what Fyr reads (list, watch,
get and pod logs of Deployments, ReplicaSets, Pods and Events, plus enough discovery for clients)
with the API server's wire formats: list metadata with `resourceVersion` and `continue`, chunked
JSON-line watch streams with ADDED/MODIFIED/DELETED/BOOKMARK/ERROR, `metav1.Status` errors.
Faults a real cluster has are injectable: streams dropped, history compacted (410 Gone), the server
unavailable (503) or gone (connection refused/reset).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import structlog
import yaml
from aiohttp import web

from fyr.simcluster.store import (
    BY_KIND,
    RESOURCES,
    ClusterState,
    JsonObj,
    ResourceType,
    SelectorError,
    TooOld,
    WatchSubscription,
    parse_selector,
)

log = structlog.get_logger()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


class _Api:
    """Request handlers; one instance per server, sharing the cluster state."""

    def __init__(self, sim: SimCluster) -> None:
        self.sim = sim
        self.state = sim.state

    # --- discovery ----------------------------------------------------------------------------
    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({
            "major": "1", "minor": "31", "gitVersion": "v1.31.0-fyr-sim", "gitCommit": "0" * 40,
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.22.0",
            "compiler": "gc", "platform": "linux/amd64"})

    async def api(self, request: web.Request) -> web.Response:
        return web.json_response({"kind": "APIVersions", "versions": ["v1"],
                                  "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                                  "serverAddress": "127.0.0.1"}]})

    async def apis(self, request: web.Request) -> web.Response:
        group = {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                 "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}
        return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]})

    async def group_versions(self, request: web.Request) -> web.Response:
        prefix = "/apis/apps/v1" if request.path.startswith("/apis") else "/api/v1"
        resources: list[JsonObj] = []
        for res in RESOURCES.values():
            if res.prefix != prefix:
                continue
            resources.append({"name": res.plural, "singularName": res.kind.lower(), "namespaced": True,
                              "kind": res.kind, "verbs": ["get", "list", "watch"]})
            if res.plural == "pods":
                resources.append({"name": "pods/log", "singularName": "", "namespaced": True,
                                  "kind": "Pod", "verbs": ["get"]})
        return web.json_response({"kind": "APIResourceList", "apiVersion": "v1",
                                  "groupVersion": prefix.rsplit("/apis/", 1)[-1].removeprefix("/api/"),
                                  "resources": resources})

    # --- resources ----------------------------------------------------------------------------
    def _resource(self, request: web.Request) -> ResourceType:
        res = RESOURCES.get(request.match_info["plural"])
        if res is None or not request.path.startswith(res.prefix + "/"):
            raise web.HTTPNotFound(text=json.dumps(status_body(404, "NotFound", "the server could not "
                                   "find the requested resource")), content_type="application/json")
        return res

    async def collection(self, request: web.Request) -> web.StreamResponse:
        res = self._resource(request)
        namespace = request.match_info.get("ns")
        q = request.query
        try:
            labels = parse_selector(q.get("labelSelector"))
            fields = parse_selector(q.get("fieldSelector"))
        except SelectorError as exc:
            return status_response(400, "BadRequest", str(exc))
        if _truthy(q.get("watch")):
            return await self._watch(request, res, namespace, labels, fields)
        return self._list(res, namespace, labels, fields, q.get("limit"), q.get("continue"))

    def _list(self, res: ResourceType, namespace: str | None, labels: Any, fields: Any,
              limit_text: str | None, token: str | None) -> web.Response:
        # Pages after the first are read from current state, not a snapshot; the list's
        # resourceVersion is the first page's, so a watch from it still sees every later change.
        list_rv, after = self.state.rv, None
        if token:
            try:
                decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
                list_rv, after = int(decoded["rv"]), (str(decoded["after"][0]), str(decoded["after"][1]))
            except (ValueError, KeyError, TypeError, binascii.Error):
                return status_response(400, "BadRequest", "invalid continue token")
            if list_rv < self.state.floor:
                return status_response(410, "Expired", "The provided continue parameter is too old to "
                                       "display a consistent list result. You can start a new list "
                                       "without the continue parameter.")
        limit = int(limit_text) if limit_text and limit_text.isdigit() and int(limit_text) > 0 else None
        items: list[JsonObj] = []
        next_token = None
        for _key, obj in self.state.select(res, namespace=namespace, labels=labels, fields=fields, after=after):
            if limit is not None and len(items) >= limit:
                last = items[-1]["metadata"]
                payload = {"rv": list_rv, "after": [last["namespace"], last["name"]]}
                next_token = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
                break
            item = dict(obj)
            item.pop("kind", None)  # list items carry no kind/apiVersion on the wire
            item.pop("apiVersion", None)
            items.append(item)
        meta: JsonObj = {"resourceVersion": str(list_rv)}
        if next_token:
            meta["continue"] = next_token
        body = {"kind": f"{res.kind}List", "apiVersion": res.api_version, "metadata": meta, "items": items}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def _watch(self, request: web.Request, res: ResourceType, namespace: str | None,
                     labels: Any, fields: Any) -> web.StreamResponse:
        q = request.query
        rv_text = q.get("resourceVersion", "")
        since = None if rv_text in ("", "0") else int(rv_text) if rv_text.isdigit() else -1
        if since == -1:
            return status_response(400, "BadRequest", f"invalid resource version: {rv_text}")
        timeout = float(q.get("timeoutSeconds") or self.sim.default_watch_timeout)
        bookmarks = _truthy(q.get("allowWatchBookmarks"))
        sub = WatchSubscription(res, namespace, labels, fields)
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        try:
            first = self.state.subscribe(sub, since)
        except TooOld as exc:
            # The real server answers 200 and then one ERROR event carrying a 410 Status.
            await resp.prepare(request)
            event = {"type": "ERROR", "object": status_body(410, "Expired", str(exc))}
            await resp.write(json.dumps(event).encode() + b"\n")
            await resp.write_eof()
            return resp
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await resp.prepare(request)
            if first:
                await resp.write(b"".join(first))
            next_bookmark = loop.time() + self.sim.bookmark_interval
            while True:
                now = loop.time()
                if now >= deadline:
                    break
                wait = min(deadline, next_bookmark) - now if bookmarks else deadline - now
                try:
                    line = await asyncio.wait_for(sub.queue.get(), timeout=max(wait, 0.0))
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
                data = b"".join(c for c in chunk if c is not None)
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

    async def item(self, request: web.Request) -> web.Response:
        res = self._resource(request)
        ns, name = request.match_info["ns"], request.match_info["name"]
        obj = self.state.objects[res.plural].get((ns, name))
        if obj is None:
            group = res.api_version.split("/")[0] if "/" in res.api_version else ""
            qualified = f"{res.plural}.{group}" if group else res.plural
            return status_response(404, "NotFound", f'{qualified} "{name}" not found', name=name,
                                   group=group, kind=res.plural)
        return web.Response(body=orjson.dumps(obj), content_type="application/json")

    async def pod_log(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        pod = self.state.objects["pods"].get((ns, name))
        if pod is None:
            return status_response(404, "NotFound", f'pods "{name}" not found', name=name, kind="pods")
        spec = pod.get("spec", {})
        names = [c["name"] for c in spec.get("containers", [])]
        init_names = [c["name"] for c in spec.get("initContainers", []) or []]
        container = request.query.get("container")
        if not container:
            if len(names) != 1:
                return status_response(400, "BadRequest", f"a container name must be specified for pod "
                                       f"{name}, choose one of: [{' '.join(names)}] or one of the init "
                                       f"containers: [{' '.join(init_names)}]")
            container = names[0]
        if container not in names and container not in init_names:
            return status_response(400, "BadRequest", f"container {container} is not valid for pod {name}")
        previous = _truthy(request.query.get("previous"))
        text = self.state.logs.get((ns, name, container, previous))
        if text is None:
            if previous:
                return status_response(400, "BadRequest", f'previous terminated container "{container}" '
                                       f'in pod "{name}" not found')
            waiting = self._waiting_reason(pod, container)
            if waiting:
                return status_response(400, "BadRequest", f'container "{container}" in pod "{name}" is '
                                       f"waiting to start: {waiting}")
            text = ""
        tail = request.query.get("tailLines")
        if tail and tail.isdigit():
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-int(tail):]) if int(tail) > 0 else ""
        data = text.encode()
        limit = request.query.get("limitBytes")
        if limit and limit.isdigit():
            data = data[: int(limit)]
        return web.Response(body=data, content_type="text/plain", charset="utf-8")

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


class SimCluster:
    """The simulated cluster: state, HTTP server, fault injection and a kubeconfig for clients.

    Use `async with SimCluster.running() as sim:`; drive it with `apply`, `delete`, `set_log`;
    point clients at `sim.kubeconfig_path`.
    """

    def __init__(self, *, history_limit: int = 10_000, bookmark_interval: float = 60.0,
                 default_watch_timeout: float = 1800.0, token: str | None = None) -> None:
        self.state = ClusterState(history_limit=history_limit)
        self.bookmark_interval = bookmark_interval
        self.default_watch_timeout = default_watch_timeout
        self.token = token or secrets.token_hex(16)
        self.host = "127.0.0.1"
        self.port = 0
        self.kubeconfig_path = Path()
        self.requests_served = 0
        self._unavailable: str | None = None  # None, "503" or "refuse"
        self._recover_handle: asyncio.TimerHandle | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, *, port: int = 0, kubeconfig_path: Path | None = None,
                      **kwargs: Any) -> AsyncIterator[SimCluster]:
        sim = cls(**kwargs)
        tmp = None
        if kubeconfig_path is None:
            tmp = Path(tempfile.mkdtemp(prefix="fyr-sim-"))
            kubeconfig_path = tmp / "kubeconfig"
        await sim.start(port=port)
        try:
            sim.write_kubeconfig(kubeconfig_path)
            yield sim
        finally:
            await sim.stop()
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)

    def app(self) -> web.Application:
        api = _Api(self)
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        # The generated client asks for discovery paths with a trailing slash.
        for path, handler in (("/version", api.version), ("/api", api.api), ("/apis", api.apis),
                              ("/api/v1", api.group_versions), ("/apis/apps/v1", api.group_versions)):
            r.add_get(path, handler)
            r.add_get(path + "/", handler)
        for prefix in ("/api/v1", "/apis/apps/v1"):
            r.add_get(prefix + "/namespaces/{ns}/pods/{name}/log", api.pod_log)
            r.add_get(prefix + "/{plural}", api.collection)
            r.add_get(prefix + "/namespaces/{ns}/{plural}", api.collection)
            r.add_get(prefix + "/namespaces/{ns}/{plural}/{name}", api.item)
        return app

    async def start(self, *, port: int = 0) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, port)
        await self._site.start()
        self.port = int(self._runner.addresses[0][1])
        log.info("simcluster_started", url=self.url)

    async def stop(self) -> None:
        if self._recover_handle is not None:
            self._recover_handle.cancel()
        self.state.cut_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def kubeconfig(self) -> JsonObj:
        return {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "fyr-sim", "cluster": {"server": self.url}}],
            "users": [{"name": "fyr-sim", "user": {"token": self.token}}],
            "contexts": [{"name": "fyr-sim", "context": {"cluster": "fyr-sim", "user": "fyr-sim"}}],
            "current-context": "fyr-sim",
        }

    def write_kubeconfig(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig(), sort_keys=False))
        path.chmod(0o600)
        self.kubeconfig_path = path
        return path

    # --- driver API (delegates to the state) --------------------------------------------------
    def apply(self, obj: JsonObj) -> JsonObj:
        return self.state.apply(obj)

    def delete(self, kind: str, namespace: str, name: str) -> JsonObj | None:
        return self.state.delete(kind, namespace, name)

    def get(self, kind: str, namespace: str, name: str) -> JsonObj | None:
        return self.state.get(kind, namespace, name)

    def list(self, kind: str, namespace: str | None = None) -> list[JsonObj]:
        return [dict(o) for _, o in self.state.select(BY_KIND[kind], namespace=namespace)]

    def set_log(self, namespace: str, pod: str, container: str, text: str, *, previous: bool = False) -> None:
        self.state.set_log(namespace, pod, container, text, previous=previous)

    def compact(self) -> None:
        self.state.compact()

    def cut_watches(self, *, abrupt: bool = False) -> int:
        return self.state.cut_watches(abrupt=abrupt)

    @property
    def open_watches(self) -> int:
        return len(self.state.watches)

    # --- outages ------------------------------------------------------------------------------
    async def set_unavailable(self, value: bool | float, *, refuse: bool = False) -> None:
        """Make the API server unavailable: `True` until `False`, or a number of seconds.

        Default: every request gets `503 ServiceUnavailable` (an API server behind a load balancer
        while it restarts). `refuse=True`: the port is closed (connection refused) and kept-alive
        connections are reset, as when the API server process is gone.
        """
        if self._recover_handle is not None:
            self._recover_handle.cancel()
            self._recover_handle = None
        if value is False:
            await self._recover()
            return
        self._unavailable = "refuse" if refuse else "503"
        self.state.cut_watches(abrupt=True)
        if refuse and self._site is not None:
            await self._site.stop()
            self._site = None
        if value is not True:
            loop = asyncio.get_running_loop()
            self._recover_handle = loop.call_later(float(value), lambda: loop.create_task(self._recover()))
        log.info("simcluster_unavailable", mode=self._unavailable, seconds=value)

    async def _recover(self) -> None:
        if self._site is None and self._runner is not None:
            self._site = web.TCPSite(self._runner, self.host, self.port)
            await self._site.start()
        self._unavailable = None
        log.info("simcluster_available")

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests_served += 1
        if self._unavailable == "refuse":
            if request.transport is not None:
                request.transport.abort()
            return status_response(503, "ServiceUnavailable", "the server is shutting down")
        if self._unavailable == "503":
            return status_response(503, "ServiceUnavailable", "the server is currently unable to handle "
                                   "the request")
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return status_response(401, "Unauthorized", "Unauthorized")
        return await handler(request)
