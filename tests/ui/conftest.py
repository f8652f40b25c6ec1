"""The history pages served for real: uvicorn on a loopback port, the pages mounted at /ui."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fyr.db.engine import Database
from fyr.health import create_health_app, serve
from fyr.settings import load_settings
from fyr.ui.app import PREFIX, create_ui_app


@contextlib.asynccontextmanager
async def ui_server(db: Database, **settings: Any) -> AsyncIterator[str]:
    """Serve the pages on a free port; yields the base URL (http://127.0.0.1:PORT)."""
    cfg = load_settings(database_url="sqlite:///unused.db", **settings)
    app = create_health_app(db=db, mounts={PREFIX: create_ui_app(db=db, settings=cfg)})
    stop = asyncio.Event()
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(app, host="127.0.0.1", port=0, stop=stop,
                                     on_listening=lambda _h, p: bound.set_result(p)))
    port = await asyncio.wait_for(bound, 10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        await task


