"""Claims per second on MariaDB for 1, 4 and 8 concurrent claimers (foundation issue).

Each claimer is a separate engine (its own connections), as separate analyzer replicas would be.
A claim is one short transaction: SELECT ... FOR UPDATE SKIP LOCKED, stamp the lease, commit.
Every row must be claimed exactly once; the script checks it and exits non-zero otherwise.

    .venv/bin/python bench/claims.py [--database-url mysql+aiomysql://root@127.0.0.1:3306/fyr_bench]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter

from sqlalchemy import delete
from sqlalchemy.engine import make_url

from fyr.db import queue as work_queue
from fyr.db.engine import Database
from fyr.db.migrate import ensure_database, upgrade
from fyr.db.queue import Queue
from fyr.models.rollout import AnalysisStatus, Rollout, RolloutStatus


def prepare(url: str) -> None:
    ensure_database(url)
    upgrade(url)


async def seed(url: str, n: int) -> None:
    db = Database.from_url(url)
    async with db.session() as s:
        await s.execute(delete(Rollout))
        s.add_all(Rollout(cluster="bench", namespace="ns", deployment=f"d{i}", generation=1,
                          status=RolloutStatus.FAILED, analysis_status=AnalysisStatus.PENDING,
                          analysis_attempts=0, notify_attempts=0, recovery_attempts=0) for i in range(n))
    await db.dispose()


async def run(url: str, claimers: int, rows: int, batch: int) -> tuple[float, float]:
    await seed(url, rows)
    counts: Counter[int] = Counter()
    txns = 0

    async def claimer(i: int) -> None:
        nonlocal txns
        db = Database.from_url(url, pool_size=1)
        try:
            while True:
                async with db.session() as s:
                    got = await work_queue.claim(s, Queue.ANALYSIS, owner=f"bench-{i}", limit=batch, lease_seconds=600,
                                                 max_attempts=5)
                txns += 1
                if not got:
                    return
                counts.update(c.rollout_id for c in got)
        finally:
            await db.dispose()

    start = time.perf_counter()
    await asyncio.gather(*(claimer(i) for i in range(claimers)))
    elapsed = time.perf_counter() - start
    if len(counts) != rows or set(counts.values()) != {1}:
        raise SystemExit(f"FAIL: {len(counts)} distinct rows claimed of {rows}, max per row {max(counts.values())}")
    return rows / elapsed, txns / elapsed


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default="mysql+aiomysql://root@127.0.0.1:3306/fyr_bench")
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=1, help="rows per claim transaction")
    args = ap.parse_args()
    prepare(args.database_url)
    print(f"backend={make_url(args.database_url).get_backend_name()} rows={args.rows} batch={args.batch}")
    print(f"{'claimers':>8} {'claims/s':>10} {'txn/s':>8}  exactly-once")
    for n in (1, 4, 8):
        per_s, txn_s = await run(args.database_url, n, args.rows, args.batch)
        print(f"{n:>8} {per_s:>10.0f} {txn_s:>8.0f}  yes")


if __name__ == "__main__":
    asyncio.run(main())
