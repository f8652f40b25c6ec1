"""SQLite shared by the tasks of one process: SQLite's busy handler vs `fyr.app.OneWriterDatabase`.

Every SQLite session in Fyr begins IMMEDIATE (one writer). 12 tasks x 60 short write sessions
(two statements and a millisecond of work inside each) run against one SQLite file, first through
a plain `Database` (a waiting session sleeps in SQLite's busy handler, in growing steps, while the
lock may already be free), then through `OneWriterDatabase` (an asyncio lock hands the database to
the next task at once, in order). Prints total time and per-session latency.

    .venv/bin/python bench/sqlite_lock.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from fyr.app import OneWriterDatabase
from fyr.db.engine import Database

TASKS, SESSIONS = 12, 60


async def run(cls: type[Database], path: str) -> tuple[float, list[float]]:
    db = cls(Database.from_url(f"sqlite+aiosqlite:///{path}").engine)
    async with db.session() as s:
        await s.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, n INTEGER)"))
        await s.execute(text("INSERT OR IGNORE INTO t VALUES (1, 0)"))
    latencies: list[float] = []

    async def worker() -> None:
        for _ in range(SESSIONS):
            t = time.monotonic()
            async with db.session() as s:
                await s.execute(text("UPDATE t SET n = n + 1 WHERE id = 1"))
                await s.execute(text("SELECT n FROM t WHERE id = 1"))
                await asyncio.sleep(0.001)  # a little work inside the transaction
            latencies.append(time.monotonic() - t)
            await asyncio.sleep(0.005)

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(TASKS)))
    total = time.monotonic() - t0
    await db.dispose()
    return total, sorted(latencies)


async def main() -> None:
    for _ in range(3):
        for name, cls in (("busy handler", Database), ("asyncio lock", OneWriterDatabase)):
            with tempfile.TemporaryDirectory() as folder:
                total, lat = await run(cls, f"{folder}/bench.db")
            print(f"{name:<13} {TASKS * SESSIONS} sessions in {total:5.2f} s   session p50 "
                  f"{lat[len(lat) // 2] * 1000:6.1f} ms  p99 {lat[int(len(lat) * 0.99)] * 1000:7.1f} ms  "
                  f"max {lat[-1] * 1000:7.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
