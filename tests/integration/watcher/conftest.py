"""Fixtures for the watcher's integration tests: the simulated API server, a running watcher
(real kubernetes_asyncio client, real kubeconfig, real SQLite database), and DB polling helpers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from fyr.db.engine import Database
from fyr.errors import DatabaseUnavailable
from fyr.models.rollout import Rollout, RolloutStatus
from fyr.services.watcher.main import WatcherHealth, run_watcher
from fyr.settings import Settings, load_settings
from fyr.simcluster.controller import DeploymentSim
from fyr.simcluster.server import SimCluster

CLUSTER = "sim"


@pytest.fixture
async def sim() -> AsyncIterator[SimCluster]:
    async with SimCluster.running(bookmark_interval=0.5) as s:
        yield s


def watcher_settings(kubeconfig: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"cluster_name": CLUSTER, "kubeconfig": kubeconfig, "watch_timeout_seconds": 10,
                                 "watch_inactivity_seconds": 5.0}
    values.update(overrides)
    return load_settings(**values)


@dataclass
class RunningWatcher:
    task: asyncio.Task[None]
    stop: asyncio.Event
    health: WatcherHealth
    wakes: list[float] = field(default_factory=list)

    async def shutdown(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 10)

    async def synced(self, within: float = 5.0) -> None:
        await wait_until(lambda: self.health.is_synced(), within, "watcher never synced")


async def start_watcher(settings: Settings, db: Database) -> RunningWatcher:
    stop = asyncio.Event()
    health = WatcherHealth()
    wakes: list[float] = []
    task = asyncio.create_task(run_watcher(settings=settings, db=db, stop=stop,
                                           wake=lambda: wakes.append(time.monotonic()), health=health))
    return RunningWatcher(task, stop, health, wakes)


@pytest.fixture
async def watcher_factory(sim: SimCluster, database: Database) -> AsyncIterator[
        Callable[..., Awaitable[RunningWatcher]]]:
    started: list[RunningWatcher] = []

    async def make(**overrides: object) -> RunningWatcher:
        w = await start_watcher(watcher_settings(sim.kubeconfig_path, **overrides), database)
        started.append(w)
        return w

    yield make
    for w in started:
        if not w.task.done():
            await w.shutdown()


@pytest.fixture
async def watcher(watcher_factory: Callable[..., Awaitable[RunningWatcher]]) -> RunningWatcher:
    w = await watcher_factory()
    await w.synced()
    return w


async def wait_until(cond: Callable[[], object], within: float, message: str) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        await asyncio.sleep(0.01)


async def rows(db: Database, deployment: str | None = None) -> list[Rollout]:
    async with db.session() as s:
        stmt = select(Rollout).order_by(Rollout.namespace, Rollout.deployment, Rollout.generation)
        if deployment is not None:
            stmt = stmt.where(Rollout.deployment == deployment)
        return list((await s.execute(stmt)).scalars())


async def wait_for_status(db: Database, deployment: str, generation: int, status: RolloutStatus,
                          within: float = 5.0) -> tuple[Rollout, float]:
    """Poll until the row has `status`; returns it and how long that took (seconds)."""
    start = time.monotonic()
    deadline = start + within
    while True:
        try:
            found = [r for r in await rows(db, deployment) if r.generation == generation]
        except DatabaseUnavailable:  # a test's simulated outage hits our polling too
            found = []
        match = [r for r in found if r.status == status]  # several rows: a re-created workload (new uid)
        if match:
            return match[0], time.monotonic() - start
        if time.monotonic() > deadline:
            got = found[0].status if found else None
            raise AssertionError(f"{deployment} gen {generation}: wanted {status}, have {got}")
        await asyncio.sleep(0.005)


def deployment(sim: SimCluster, name: str = "api", namespace: str = "shop", **kw: object) -> DeploymentSim:
    kw.setdefault("image", f"registry.example.com/acme/{name}:1.0")
    return DeploymentSim(sim, namespace=namespace, name=name,
                         annotations={"app.gitlab.com/app": f"acme-{name}", "app.gitlab.com/env": "production"},
                         **kw)  # type: ignore[arg-type]
