"""On MariaDB: concurrent claimers and writers, and the database going away (issue: foundation)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from fyr.db import queue as work_queue
from fyr.db import rollouts
from fyr.db.engine import Database
from fyr.db.migrate import sync_url
from fyr.db.queue import Queue
from fyr.db.rollouts import RolloutKey
from fyr.errors import DatabaseUnavailable
from fyr.models.rollout import Rollout, RolloutStatus

pytestmark = pytest.mark.mysql


async def _seed_failed(db: Database, n: int) -> None:
    async with db.session() as s:
        s.add_all(
            Rollout(cluster="c", namespace="ns", deployment=f"d{i}", generation=1, status=RolloutStatus.FAILED,
                    analysis_status="PENDING", analysis_attempts=0, notify_attempts=0, recovery_attempts=0)
            for i in range(n)
        )


async def test_eight_claimers_over_a_thousand_rollouts_claim_each_exactly_once(mysql_test_url: str) -> None:
    seed = Database.from_url(mysql_test_url)
    await _seed_failed(seed, 1000)
    await seed.dispose()
    claimed: Counter[int] = Counter()

    async def claimer(i: int) -> None:
        db = Database.from_url(mysql_test_url, pool_size=2)  # its own engine: a separate worker
        try:
            while True:
                async with db.session() as s:
                    got = await work_queue.claim(s, Queue.ANALYSIS, owner=f"w{i}", limit=7, lease_seconds=300,
                                                 max_attempts=3)
                if not got:
                    return
                claimed.update(c.rollout_id for c in got)
        finally:
            await db.dispose()

    await asyncio.gather(*(claimer(i) for i in range(8)))
    assert len(claimed) == 1000
    assert set(claimed.values()) == {1}


async def test_sixteen_concurrent_record_generation_calls_yield_one_row(mysql_test_url: str) -> None:
    dbs = [Database.from_url(mysql_test_url, pool_size=1) for _ in range(16)]
    key = RolloutKey("c", "ns", "race", 4)

    async def record(db: Database) -> int:
        async with db.session() as s:
            return (await rollouts.record_generation(s, key, status=RolloutStatus.ROLLING_OUT))[0].id

    try:
        ids = await asyncio.gather(*(record(db) for db in dbs))
        async with dbs[0].session() as s:
            count = (await s.execute(select(func.count()).select_from(Rollout))).scalar_one()
    finally:
        for db in dbs:
            await db.dispose()
    assert count == 1 and len(set(ids)) == 1


def _kill_everything_on(url: str, seconds: float) -> None:
    """From another session: kill every connection to our test database, again and again."""
    database = make_url(url).database
    engine = create_engine(sync_url(url), isolation_level="AUTOCOMMIT")
    deadline = time.monotonic() + seconds
    with engine.connect() as admin:
        me = admin.execute(text("SELECT CONNECTION_ID()")).scalar_one()
        while time.monotonic() < deadline:
            rows = admin.execute(
                text("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = :db AND ID != :me"),
                {"db": database, "me": me},
            ).scalars().all()
            for pid in rows:
                with contextlib.suppress(Exception):
                    admin.execute(text(f"KILL CONNECTION {int(pid)}"))
            time.sleep(0.01)
    engine.dispose()


@pytest.mark.timeout(60)  # a 10 s outage by design, then recovery
async def test_database_going_away_raises_retryable_errors_then_works_again(mysql_test_url: str) -> None:
    db = Database.from_url(mysql_test_url, pool_size=4)
    outage = 10.0
    errors: Counter[str] = Counter()
    ok_during = 0
    try:
        async with db.session() as s:
            await rollouts.record_generation(s, RolloutKey("c", "ns", "api", 0))
        killer = asyncio.create_task(asyncio.to_thread(_kill_everything_on, mysql_test_url, outage))
        await asyncio.sleep(0.2)
        gen = 1
        while not killer.done():
            try:
                async with db.session() as s:
                    await rollouts.record_generation(s, RolloutKey("c", "ns", "api", gen))
                    await asyncio.sleep(0.05)  # hold the connection so that the killer finds it
                    await rollouts.get_rollout(s, 1)
                ok_during += 1
            except DatabaseUnavailable as exc:
                errors[type(exc).__name__] += 1
            gen += 1
            await asyncio.sleep(0.02)
        await killer
        async with db.session() as s:
            r, _ = await rollouts.record_generation(s, RolloutKey("c", "ns", "api", 10_000))
        assert r.id is not None
    finally:
        await db.dispose()
    assert errors["DatabaseUnavailable"] > 0, "the outage was never seen"
    assert set(errors) == {"DatabaseUnavailable"}
