"""/healthz, /readyz and Prometheus /metrics for every long-running service.

/healthz: the process answers (liveness). /readyz: the database answers and its schema is current,
plus any service-specific check (the watcher: initial list done). /metrics: prometheus_client's
default registry in the text format.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping

import uvicorn
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fyr.db.engine import Database
from fyr.errors import DatabaseUnavailable, SchemaOutdated

ReadyCheck = Callable[[], Awaitable[bool] | bool]


async def readiness(db: Database, checks: Mapping[str, ReadyCheck]) -> tuple[bool, dict[str, str]]:
    results: dict[str, str] = {}
    try:
        await db.check_schema()
        results["database"] = "ok"
    except (DatabaseUnavailable, SchemaOutdated) as exc:
        results["database"] = str(exc)
    for name, check in checks.items():
        value = check()
        ok = await value if isinstance(value, Awaitable) else value
        results[name] = "ok" if ok else "not ready"
    return all(v == "ok" for v in results.values()), results


def add_health_routes(app: FastAPI, *, db: Database, checks: Mapping[str, ReadyCheck] | None = None) -> None:
    checks = dict(checks or {})

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        ok, results = await readiness(db, checks)
        return JSONResponse({"ready": ok, "checks": results}, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["health"])
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def create_health_app(*, db: Database, checks: Mapping[str, ReadyCheck] | None = None,
                      title: str = "fyr") -> FastAPI:
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    add_health_routes(app, db=db, checks=checks)
    return app


class _QuietServer(uvicorn.Server):
    """uvicorn captures SIGINT/SIGTERM and re-raises them on exit; our services own the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(app: FastAPI, *, host: str, port: int, stop: asyncio.Event,
                started: Callable[[int], None] | None = None) -> None:
    """Serve `app` until `stop` is set; `started(port)` is called with the bound port (0 picks one)."""
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="off")
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.02)
    if task.done():
        await task  # startup failed (port in use, ...): raise it
        return
    if started is not None:
        bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else port
        started(int(bound))
    stop_wait = asyncio.create_task(stop.wait())
    await asyncio.wait([task, stop_wait], return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stop_wait.cancel()
    await task
