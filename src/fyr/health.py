"""/healthz, /readyz and Prometheus /metrics for every long-running service.

/healthz: the process answers (liveness). /readyz: the database answers and its schema is current,
plus any service-specific check (the watcher: initial list done). /metrics: prometheus_client's
default registry in the text format.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, cast

import structlog
import uvicorn
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from starlette.types import ASGIApp

from fyr.db.engine import Database
from fyr.errors import ConfigError, DatabaseUnavailable, SchemaOutdated
from fyr.http_guard import HttpLimits, protocol_class

log = structlog.get_logger()

T = TypeVar("T")
_collectors: dict[tuple[str, int], Any] = {}


def collectors_for(name: str, registry: CollectorRegistry | None, build: Callable[[CollectorRegistry], T]) -> T:
    """A service's Prometheus collectors in `registry` (default: the process registry), built once.

    prometheus_client refuses a second collector of the same name in one registry, and tests and
    `fyr all` run several services (or several copies) in one process, each with its own registry.
    """
    reg = registry if registry is not None else REGISTRY
    key = (name, id(reg))
    if key not in _collectors:
        _collectors[key] = build(reg)
    return cast(T, _collectors[key])


ReadyCheck = Callable[[], Awaitable[bool] | bool]
READY_DB_SECONDS = 3.0  # a database that does not answer turns readiness red in this time (MySQL)


async def readiness(db: Database, checks: Mapping[str, ReadyCheck]) -> tuple[bool, dict[str, str]]:
    results: dict[str, str] = {}
    try:
        await db.check_schema(max_seconds=READY_DB_SECONDS)
        results["database"] = "ok"
    except (DatabaseUnavailable, SchemaOutdated) as exc:
        results["database"] = str(exc)
    for name, check in checks.items():
        value = check()
        ok = await value if isinstance(value, Awaitable) else value
        results[name] = "ok" if ok else "not ready"
    return all(v == "ok" for v in results.values()), results


def add_health_routes(app: FastAPI, *, db: Database, checks: Mapping[str, ReadyCheck] | None = None,
                      registries: Sequence[CollectorRegistry] = ()) -> None:
    """/healthz, /readyz and /metrics; /metrics joins the default registry and `registries`."""
    checks = dict(checks or {})
    sources = [REGISTRY, *(r for r in registries if r is not REGISTRY)]

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        ok, results = await readiness(db, checks)
        return JSONResponse({"ready": ok, "checks": results}, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["health"])
    async def metrics() -> Response:
        return Response(b"".join(generate_latest(r) for r in sources), media_type=CONTENT_TYPE_LATEST)


def create_health_app(*, db: Database, checks: Mapping[str, ReadyCheck] | None = None,
                      title: str = "fyr", mounts: Mapping[str, ASGIApp] | None = None) -> FastAPI:
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    add_health_routes(app, db=db, checks=checks)
    add_mounts(app, mounts)
    return app


def add_mounts(app: FastAPI, mounts: Mapping[str, ASGIApp] | None) -> None:
    """Serve each ASGI app under its path prefix (e.g. the history pages at /ui)."""
    for path, sub in (mounts or {}).items():
        app.mount(path, sub)


class _QuietServer(uvicorn.Server):
    """uvicorn captures SIGINT/SIGTERM and re-raises them on exit; our services own the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(app: FastAPI, *, host: str, port: int, stop: asyncio.Event,
                on_listening: Callable[[str, int], None] | None = None, reuse_port: bool = False,
                limits: HttpLimits | None = None, **uvicorn_options: Any) -> None:
    """Serve `app` until `stop` is set, then finish in-flight requests (up to 10 s) and return.

    Every Fyr server runs with fyr.http_guard's limits (head size and count, read deadlines, a
    connection cap idle sockets cannot exhaust); docs/http-hardening.md has the numbers.

    The socket is bound here, not by uvicorn: uvicorn answers a bind failure with sys.exit, which
    would take `fyr all` down with it; a ConfigError names the problem instead. `on_listening`
    receives the bound address (port 0 picks a free one); `reuse_port` lets several processes share
    one port (SO_REUSEPORT).
    """
    limits = limits or HttpLimits()
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="off",
                            timeout_graceful_shutdown=10, server_header=False, date_header=False,
                            http=protocol_class(limits), timeout_keep_alive=limits.keep_alive_timeout,
                            **uvicorn_options)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, backlog=2048, reuse_port=reuse_port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    server = _QuietServer(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="http-serve")
    stopping = asyncio.create_task(stop.wait(), name="http-stop")
    try:
        bound_host, bound_port = sock.getsockname()[:2]
        log.info("http_listening", host=bound_host, port=bound_port)
        if on_listening is not None:
            on_listening(bound_host, bound_port)
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        stopping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopping
        await serving
        sock.close()
