"""One analyzer replica as its own OS process, for the multi-process tests and bench/analyzer.py.

`python -m tests.integration.analyzer.worker_proc` runs the real `run_analyzer` with settings from
the environment (DATABASE_URL, OPENAI_BASE_URL, FYR_*), the chat model built from them, and
bundles from the file named by FYR_TEST_BUNDLE instead of a cluster. SIGTERM/SIGINT stop it
gracefully; SIGKILL is how the tests simulate a crash.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import structlog

from fyr.db.engine import Database
from fyr.models.bundle import load_bundle
from fyr.services.analyzer.main import run_analyzer
from fyr.services.analyzer.sources import StaticBundleSource
from fyr.settings import load_settings


async def main() -> int:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    settings = load_settings()
    bundle = load_bundle(Path(os.environ["FYR_TEST_BUNDLE"]))
    db = Database.from_url(settings.database_url, pool_size=settings.db_pool_size)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("worker ready", flush=True)
    try:
        await run_analyzer(settings=settings, db=db, stop=stop,
                           source=StaticBundleSource(factory=lambda facts: bundle),
                           owner=os.environ.get("FYR_TEST_OWNER"))
    finally:
        await db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
