"""Three analyzer processes on MariaDB share one queue: each failed rollout is analysed exactly once,
and a replica killed mid-run loses nothing (its leases expire and those rollouts are done again)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from fyr.db.engine import Database
from fyr.models.analysis import Analysis
from fyr.models.rollout import AnalysisStatus, Rollout
from tests.fakes.openai_api import FakeOpenAI
from tests.integration.analyzer.conftest import CRASH_BUNDLE, seed_failed

pytestmark = [pytest.mark.mysql, pytest.mark.slow, pytest.mark.timeout(150)]

REPO = Path(__file__).resolve().parents[3]
LATENCY_S = 0.5


async def start_workers(n: int, *, url: str, fake: FakeOpenAI, lease_s: float,
                        extra: dict[str, str] | None = None) -> list[asyncio.subprocess.Process]:
    env = {
        **os.environ,
        "DATABASE_URL": url, "OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "sk-test-not-a-real-key",
        "FYR_LLM": "openai", "FYR_LLM_MODEL": "gpt-4o-mini", "FYR_ANALYZER_CONCURRENCY": "4",
        "FYR_ANALYSIS_REUSE_WINDOW_SECONDS": "0", "FYR_ANALYSIS_LEASE_SECONDS": str(lease_s),
        "FYR_POLL_INTERVAL_SECONDS": "0.1", "FYR_LLM_TIMEOUT_SECONDS": "20", "FYR_DB_POOL_SIZE": "6",
        "FYR_TEST_BUNDLE": str(CRASH_BUNDLE), "CLUSTER_NAME": "ci-cluster", **(extra or {}),
    }
    procs = []
    for i in range(n):
        env["FYR_TEST_OWNER"] = f"analyzer-{i}"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.integration.analyzer.worker_proc", cwd=REPO, env=dict(env),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        procs.append(proc)
    for proc in procs:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert b"worker ready" in line, line
    return procs


async def stop_workers(procs: list[asyncio.subprocess.Process]) -> list[int | None]:
    for proc in procs:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
    return [await asyncio.wait_for(proc.wait(), 30) for proc in procs]


async def done_count(db: Database) -> int:
    async with db.session() as s:
        stmt = select(func.count()).select_from(Rollout).where(Rollout.analysis_status == AnalysisStatus.DONE)
        return int((await s.execute(stmt)).scalar_one())


async def wait_done(db: Database, n: int, limit_s: float) -> None:
    async with asyncio.timeout(limit_s):
        while await done_count(db) < n:  # noqa: ASYNC110 - polling the database is the point
            await asyncio.sleep(0.2)


async def analyses_per_rollout(db: Database) -> dict[int, int]:
    async with db.session() as s:
        stmt = select(Analysis.rollout_id, func.count()).group_by(Analysis.rollout_id)
        return {int(r): int(c) for r, c in (await s.execute(stmt)).all()}


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(latency_s=LATENCY_S) as fake:
        yield fake


async def test_three_processes_analyse_each_of_200_failed_rollouts_exactly_once(
    mysql_database: Database, mysql_test_url: str, fake_llm: FakeOpenAI
) -> None:
    ids = await seed_failed(mysql_database, 200)
    procs = await start_workers(3, url=mysql_test_url, fake=fake_llm, lease_s=60)
    try:
        await wait_done(mysql_database, 200, 90)
    finally:
        codes = await stop_workers(procs)
    assert codes == [0, 0, 0]
    per_rollout = await analyses_per_rollout(mysql_database)
    assert set(per_rollout) == set(ids)
    assert set(per_rollout.values()) == {1}
    assert len(fake_llm.requests) == 200  # the model was paid once per rollout
    assert fake_llm.max_in_flight <= 12  # 3 processes x concurrency 4


async def test_killing_one_analyzer_mid_run_loses_nothing(
    mysql_database: Database, mysql_test_url: str, fake_llm: FakeOpenAI
) -> None:
    ids = await seed_failed(mysql_database, 120)
    procs = await start_workers(3, url=mysql_test_url, fake=fake_llm, lease_s=3)
    try:
        await wait_done(mysql_database, 30, 60)
        procs[0].kill()  # SIGKILL: no chance to release its claims
        await procs[0].wait()
        await wait_done(mysql_database, 120, 90)
    finally:
        codes = await stop_workers(procs)
    assert codes[1:] == [0, 0]
    per_rollout = await analyses_per_rollout(mysql_database)
    assert set(per_rollout) == set(ids) and set(per_rollout.values()) == {1}
    async with mysql_database.session() as s:
        redone = (await s.execute(select(func.count()).select_from(Rollout)
                                  .where(Rollout.analysis_attempts > 1))).scalar_one()
    # the killed replica held claims in flight: their leases expired and they were done once more
    assert redone >= 1
    # every rollout reached the model at least once; a redone row may or may not have reached it before
    # the kill (each replica claims a couple of rows ahead of its free model slots)
    assert len(fake_llm.requests) >= 120
