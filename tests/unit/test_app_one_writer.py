"""`fyr all` on SQLite: the services' sessions take turns on one in-process lock, in arrival order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from fyr.app import OneWriterDatabase
from fyr.db.engine import Database
from fyr.errors import DatabaseUnavailable

pytestmark = pytest.mark.timeout(20)


def one_writer(tmp_path: Path) -> OneWriterDatabase:
    return OneWriterDatabase(Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}").engine)


async def test_sessions_take_turns_in_arrival_order(tmp_path: Path) -> None:
    db = one_writer(tmp_path)
    log: list[str] = []

    async def use(name: str, hold: float) -> None:
        async with db.session() as s:
            log.append(f"{name}+")
            await s.execute(text("SELECT 1"))
            await asyncio.sleep(hold)
            log.append(f"{name}-")

    try:
        first = asyncio.create_task(use("a", 0.2))
        await asyncio.sleep(0.05)
        rest = [asyncio.create_task(use(n, 0.0)) for n in ("b", "c", "d")]
        await asyncio.gather(first, *rest)
    finally:
        await db.dispose()
    assert log == ["a+", "a-", "b+", "b-", "c+", "c-", "d+", "d-"]


async def test_a_turn_that_never_comes_is_database_unavailable(tmp_path: Path) -> None:
    db = one_writer(tmp_path)
    db.LOCK_TIMEOUT_S = 0.2
    held, done = asyncio.Event(), asyncio.Event()

    async def hog() -> None:
        async with db.session():
            held.set()
            await done.wait()

    task = asyncio.create_task(hog())
    try:
        await held.wait()
        with pytest.raises(DatabaseUnavailable, match="locked"):
            async with db.session():
                pass
    finally:
        done.set()
        await task
        await db.dispose()
