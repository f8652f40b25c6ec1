"""Runs the gitlab-ingestor: uvicorn served programmatically, stopped gracefully by an Event.

`fyr ingestor` and `fyr all` call `run_ingestor`; the CLI owns settings, database and signals, so
uvicorn's own signal capture is turned off here.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Generator

import structlog
import uvicorn

from fyr.core.routing import Routing, load_routing
from fyr.db.engine import Database
from fyr.errors import ConfigError
from fyr.services.gitlab_ingestor.api import create_app, require_token
from fyr.settings import Settings

log = structlog.get_logger()


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The caller's stop event decides when we exit; do not steal SIGINT/SIGTERM from it.
        yield


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
) -> None:
    """Serve until `stop` is set; then finish in-flight requests (up to 10 s) and return.

    Raises ConfigError before binding when GITLAB_INGESTOR_TOKEN is not set. `on_listening`
    receives the bound address (useful with port 0). `reuse_port` lets several ingestor
    processes share one port (SO_REUSEPORT, Linux): the kernel spreads connections across them.
    """
    require_token(settings)
    routing = routing if routing is not None else load_routing(settings.routing_file)
    app = create_app(settings=settings, db=db, routing=routing)
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="off",
        timeout_graceful_shutdown=10, server_header=False, date_header=False,
        limit_concurrency=1000, backlog=2048,
    )
    # Bind here, not in uvicorn: uvicorn answers a bind failure with sys.exit, which would take
    # `fyr all` down with it; an OSError names the problem to the caller instead.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, backlog=2048, reuse_port=reuse_port)
    except OSError as exc:
        raise ConfigError(f"ingestor cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    server = _Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="ingestor-uvicorn")
    stopping = asyncio.create_task(stop.wait(), name="ingestor-stop")
    try:
        # The socket already listens: connections wait in the backlog until uvicorn accepts them.
        bound_host, bound_port = sock.getsockname()[:2]
        log.info("ingestor_listening", host=bound_host, port=bound_port)
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
    log.info("ingestor_stopped")
