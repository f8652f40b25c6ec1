"""Composition root: builds the database and runs the chosen services as tasks of one process.

`fyr watcher|ingestor|analyzer|notifier` run one service each (one Deployment each in Kubernetes);
`fyr all` runs the four together, sharing settings and database and waking each other in-process
(a FAILED row wakes the analyzer, a stored analysis wakes the notifier) so that a failure reaches
the notifier without waiting for a poll. One HTTP port serves /healthz, /readyz and /metrics (and
the ingestor's webhook routes when the ingestor runs).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fyr.core.kubeclient import check_credentials
from fyr.db.diagnose import classify, shown
from fyr.db.engine import Database
from fyr.db.migrate import upgrade_async
from fyr.errors import ConfigError, DatabaseUnavailable
from fyr.health import ReadyCheck, create_health_app, serve
from fyr.runtime import DatabaseWatch, Wakeups, install_signal_handlers
from fyr.settings import Settings

log = structlog.get_logger()

SERVICES = ("watcher", "ingestor", "analyzer", "notifier", "ui")


def history_pages(settings: Settings, db: Database, host: str) -> dict[str, Any]:
    """The history pages, mounted at /ui of the process's one HTTP port."""
    from fyr.ui.app import PREFIX, create_ui_app

    if settings.ui_token is None and host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("ui_without_token", path=PREFIX, host=host,
                    why="FYR_UI_TOKEN is not set: anyone who reaches this port reads the rollout history")
    return {PREFIX: create_ui_app(db=db, settings=settings)}


async def run_services(
    settings: Settings,
    names: set[str],
    *,
    host: str,
    port: int,
    upgrade_db: bool | None = None,
    stop: asyncio.Event | None = None,
    wakeups: Wakeups | None = None,
    extra: dict[str, Any] | None = None,
    signals: bool = True,
    db: Database | None = None,
) -> int:
    """Run `names` until SIGINT/SIGTERM (or `stop`); returns the exit code.

    `signals=False`: the caller (`fyr demo`) handles SIGINT/SIGTERM itself and sets `stop`.
    `db`: a database to use instead of one built from the settings (tests, benchmarks); disposed here.
    """
    unknown = names - set(SERVICES)
    if unknown:
        raise ConfigError(f"unknown service(s): {', '.join(sorted(unknown))}")
    if names & {"watcher", "analyzer"}:
        check_credentials(kubeconfig=settings.kubeconfig, context=settings.kube_context)
    stop = stop or asyncio.Event()
    if signals:
        install_signal_handlers(stop)
    extra = extra or {}
    if db is None:
        db = Database.from_url(settings.database_url, pool_size=settings.db_pool_size)
    if db.dialect == "sqlite" and not isinstance(db, OneWriterDatabase):
        db = OneWriterDatabase(db.engine)
    try:
        embedded = db.dialect == "sqlite" and len(names) > 1
        if upgrade_db or (upgrade_db is None and embedded):
            try:
                await upgrade_async(settings.database_url)
            except SQLAlchemyError as exc:
                raise classify(exc, db.url) from exc
        await db.check_schema()
        wake = wakeups or Wakeups()
        # One watch of the database for the process: when it answers again after an outage, every
        # service's loop and the in-process wake-ups fire at once.
        db_watch = DatabaseWatch(db.ping)
        db_watch.on_back(wake.wake_analysis)
        db_watch.on_back(wake.wake_notify)
        jobs: dict[str, Coroutine[Any, Any, None]] = {}
        checks: dict[str, ReadyCheck] = {}
        if "watcher" in names:
            from fyr.services.watcher.main import WatcherHealth, run_watcher

            health = WatcherHealth()
            checks["watcher_synced"] = health.is_synced  # ready once every stream has been listed
            checks["watcher_writes"] = health.writes_ok  # red once writes have failed past the threshold
            jobs["watcher"] = run_watcher(settings=settings, db=db, stop=stop, wake=wake.wake_analysis,
                                          health=health, db_watch=db_watch)
        if "analyzer" in names:
            from fyr.services.analyzer.main import run_analyzer

            jobs["analyzer"] = run_analyzer(settings=settings, db=db, stop=stop, wakeup=wake.analysis,
                                            on_done=wake.wake_notify, db_watch=db_watch,
                                            **extra.get("analyzer", {}))
        if "notifier" in names:
            from fyr.services.notifier.main import run_notifier

            jobs["notifier"] = run_notifier(settings=settings, db=db, stop=stop, wakeup=wake.notify,
                                            db_watch=db_watch, **extra.get("notifier", {}))
        if names & {"watcher", "ingestor"}:
            from fyr.db.retention import run_pruner

            jobs["retention"] = run_pruner(settings=settings, db=db, stop=stop)
        mounts = history_pages(settings, db, host) if "ingestor" in names or "ui" in names else {}
        running = set(names)
        if "ingestor" in names and (settings.gitlab_ingestor_token or names == {"ingestor"}):
            from fyr.services.gitlab_ingestor.main import run_ingestor

            jobs["http"] = run_ingestor(settings=settings, db=db, host=host, port=port, stop=stop, checks=checks,
                                        mounts=mounts)
        else:
            if "ingestor" in names:
                running.discard("ingestor")
                log.warning("ingestor_disabled", why="GITLAB_INGESTOR_TOKEN is not set")
            jobs["http"] = serve(create_health_app(db=db, checks=checks, mounts=mounts), host=host, port=port,
                                 stop=stop)
        log.info("services_starting", services=sorted(running), port=port, database=shown(db.url))
        try:
            await _run_all(jobs, stop)
        finally:
            await db_watch.close()
        log.info("services_stopped", services=sorted(running))
        return 0
    finally:
        await db.dispose()


class OneWriterDatabase(Database):
    """SQLite shared by the services of one process: sessions take turns on an asyncio lock.

    Every SQLite session begins IMMEDIATE (SQLite has one writer). Without this lock a session that
    finds the write lock taken waits in SQLite's busy handler, which sleeps in growing steps (up to
    100 ms a try) while the lock may already be free again: under load (bench/e2e.py, 100 failures in
    10 s) sessions waited ~7x longer in total than the lock was actually held, and the queue of
    waiters snowballed. An asyncio.Lock hands the database to the next waiting task at once, in
    order. Same failure mode as before when the lock is never freed: DatabaseUnavailable after the
    busy timeout (30 s). Other processes (or other Database objects) still meet the busy handler.
    """

    LOCK_TIMEOUT_S = 30.0

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self._turn = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def session(self, *, max_seconds: float | None = None) -> AsyncIterator[AsyncSession]:
        try:
            await asyncio.wait_for(self._turn.acquire(), max_seconds or self.LOCK_TIMEOUT_S)
        except TimeoutError:
            raise DatabaseUnavailable("database is locked (waited 30 s for this process's turn)") from None
        try:
            async with super().session(max_seconds=max_seconds) as s:
                yield s
        finally:
            self._turn.release()


async def _run_all(jobs: dict[str, Coroutine[Any, Any, None]], stop: asyncio.Event) -> None:
    """Run the jobs together; when one ends with an error, stop the others and raise it."""
    tasks = {asyncio.create_task(_bound(name, job), name=name): name for name, job in jobs.items()}
    error: BaseException | None = None
    pending = set(tasks)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            exc = task.exception()
            if exc is not None and error is None:
                error = exc
                log.error("service_crashed", service=tasks[task], error=str(exc))
            stop.set()
    if error is not None:
        raise error


async def _bound(name: str, job: Coroutine[Any, Any, None]) -> None:
    structlog.contextvars.bind_contextvars(component=name)
    await job
