"""A Kubernetes API server on loopback, backed by `ClusterState`, that real kubectl and client-go use.

Why it exists: `fyr demo`, `fyr simcluster`, the tests and the benches need a cluster, and every
claim Fyr makes about Kubernetes is checked against what the real clients (kubectl 1.37, the
`kubernetes_asyncio` client) do with this server. It serves (handlers in `api.py`) the API
server's wire formats: list
metadata with `resourceVersion` and `continue`; chunked JSON-line watch streams with
ADDED/MODIFIED/DELETED/BOOKMARK/ERROR, WatchList (`sendInitialEvents`) ending with the
`k8s.io/initial-events-end` bookmark, "Too large resource version"; aggregated and legacy
discovery; Table responses for `kubectl get`; create/replace/patch/delete with the status and scale
subresources (rules in `writes.py`); pod logs with follow, since and timestamps; a `metav1.Status`
body on every error. Faults a real cluster has are injectable: streams dropped, history compacted
(410 Gone), the server unavailable (503) or gone (connection refused/reset).

Authentication: the server listens on 127.0.0.1 only and needs no credentials (client-go sends no
bearer token over plain http); a request that does carry an Authorization header must carry this
server's token, anything else is 401.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import structlog
import yaml
from aiohttp import web

from fyr.simcluster.api import Api, Handler, WriteHook, status_body, status_response
from fyr.simcluster.store import BY_KIND, ClusterState, JsonObj, ResourceType
from fyr.simcluster.writes import ApiError

__all__ = ["SimCluster", "status_body", "status_response"]

log = structlog.get_logger()


class SimCluster:
    """The simulated cluster: state, HTTP server, fault injection and a kubeconfig for clients.

    Use `async with SimCluster.running() as sim:`; drive it with `apply`, `delete`, `set_log`;
    point clients at `sim.kubeconfig_path`.
    """

    def __init__(self, *, history_limit: int = 10_000, bookmark_interval: float = 60.0,
                 default_watch_timeout: float = 1800.0, token: str | None = None,
                 too_large_wait: float = 3.0) -> None:
        self.state = ClusterState(history_limit=history_limit)
        self.bookmark_interval = bookmark_interval
        self.default_watch_timeout = default_watch_timeout
        self.too_large_wait = too_large_wait
        # Called after each write a client made over HTTP (not the driver API): the controller's trigger.
        self.write_hooks: list[WriteHook] = []
        self.token = token or secrets.token_hex(16)
        # True: every request must carry the token (what a cluster that revoked the kubeconfig's access does).
        self.require_token = False
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
        api = Api(self)
        app = web.Application(middlewares=[self._middleware], client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", api.dispatch)
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
            "users": [{"name": "fyr-sim", "user": {}}],  # loopback: no credentials (module docstring)
            "contexts": [{"name": "fyr-sim", "context": {"cluster": "fyr-sim", "user": "fyr-sim"}}],
            "current-context": "fyr-sim",
        }

    def write_kubeconfig(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f".{path.name}.part")
        part.write_text(yaml.safe_dump(self.kubeconfig(), sort_keys=False))
        part.chmod(0o600)
        part.replace(path)  # whole or absent: a reader waiting for the file never sees half of it
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

    def append_log(self, namespace: str, pod: str, container: str, text: str) -> None:
        self.state.append_log(namespace, pod, container, text)

    def notify(self, res: ResourceType, event_type: str, obj: JsonObj) -> None:
        for hook in list(self.write_hooks):
            try:
                hook(res, event_type, obj)
            except Exception:  # a hook's bug must not turn a stored write into an error answer
                log.exception("simcluster_write_hook_failed", resource=res.plural)

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
        auth = request.headers.get("Authorization")
        if (auth is not None or self.require_token) and auth != f"Bearer {self.token}":
            return status_response(401, "Unauthorized", "Unauthorized")
        try:
            return await handler(request)
        except ApiError as exc:
            return status_response(exc.code, exc.reason, exc.message, **exc.details)
        except web.HTTPException:
            raise
        except Exception as exc:
            log.exception("simcluster_request_failed", path=request.path, method=request.method)
            return status_response(500, "InternalError", f"Internal error occurred: {exc}")
