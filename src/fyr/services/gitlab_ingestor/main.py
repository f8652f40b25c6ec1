"""Runs the gitlab-ingestor: uvicorn served programmatically, stopped gracefully by an Event.

`fyr ingestor` and `fyr all` call `run_ingestor`; the CLI owns settings, database and signals, so
uvicorn's own signal capture is turned off (fyr.health.serve).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Mapping

import structlog
from starlette.types import ASGIApp

from fyr.core.routing import Routing, load_routing
from fyr.db.engine import Database
from fyr.health import ReadyCheck, add_mounts, serve
from fyr.http_guard import HttpLimits
from fyr.services.gitlab_ingestor.api import create_app, require_token
from fyr.settings import Settings

log = structlog.get_logger()


async def run_ingestor(
    *,
    settings: Settings,
    db: Database,
    host: str,
    port: int,
    stop: asyncio.Event,
    routing: Routing | None = None,
    on_listening: Callable[[str, int], None] | None = None,
    reuse_port: bool = False,
    checks: Mapping[str, ReadyCheck] | None = None,
    mounts: Mapping[str, ASGIApp] | None = None,
    http_limits: HttpLimits | None = None,
) -> None:
    """Serve until `stop` is set; then finish in-flight requests (up to 10 s) and return.

    Raises ConfigError before binding when GITLAB_INGESTOR_TOKEN is not set. `on_listening`
    receives the bound address (useful with port 0). `reuse_port` lets several ingestor
    processes share one port (SO_REUSEPORT, Linux): the kernel spreads connections across them.
    """
    require_token(settings)
    routing = routing if routing is not None else load_routing(settings.routing_file)
    app = create_app(settings=settings, db=db, routing=routing, checks=checks)
    add_mounts(app, mounts)
    _freeze_startup_heap()
    # No uvicorn limit_concurrency: it counts idle sockets too; fyr.http_guard caps connections instead.
    await serve(app, host=host, port=port, stop=stop, on_listening=on_listening, reuse_port=reuse_port,
                backlog=2048, limits=http_limits)
    log.info("ingestor_stopped")


def _freeze_startup_heap() -> None:
    """Move what startup built (modules, ORM mappers, pydantic validators, the app) out of the
    garbage collector's reach: a full collection otherwise walks all of it while requests wait,
    which was the ingestor's p99 (bench/ingestor.py at 500/s: p99 ~95-125 ms -> ~40-55 ms).
    Collected first, so that no startup garbage is kept forever."""
    gc.collect()
    gc.freeze()
