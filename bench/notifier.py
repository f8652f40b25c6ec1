"""Notifier throughput against Slack's pace: N failed rollouts over C channels, the Slack fake
enforcing one message per second per channel (a faster post gets 429 + Retry-After).

The floor is (N / C) messages x interval per channel (the last post can come at best
(N / C - 1) intervals after the first) — channels go in parallel, messages within a
channel one per interval. Prints the elapsed time, the ratio to that floor, 429s seen, and checks
that every rollout got exactly one message (none duplicated, none lost).

    .venv/bin/python bench/notifier.py                       # 200 rollouts, 10 channels, SQLite
    FYR_BENCH_DB=mysql+aiomysql://root@127.0.0.1:3306/fyr_bench .venv/bin/python bench/notifier.py

Use a database of its own: the bench empties `rollouts` and claims every queued row in it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fyr.db import queue as work_queue
from fyr.db import rollouts
from fyr.db.base import utcnow
from fyr.db.engine import Database
from fyr.db.migrate import ensure_database, upgrade
from fyr.db.queue import Queue
from fyr.db.rollouts import RolloutKey
from fyr.models.analysis import AnalysisResult, Category
from fyr.models.rollout import NotifyStatus, Rollout, RolloutStatus
from fyr.services.notifier.main import run_notifier
from fyr.settings import load_settings
from tests.fakes.slack_api import SlackFake


async def seed(db: Database, n: int, channels: int) -> list[int]:
    ids: list[int] = []
    async with db.session() as s:
        for i in range(n):
            key = RolloutKey("bench", "ns", f"svc-{i:04d}", 1)
            r, _ = await rollouts.record_generation(s, key, status=RolloutStatus.ROLLING_OUT, revision=1,
                                                    image=f"registry.example/svc-{i}:v1",
                                                    annotations={"fyr.dev/slack-channel": f"#team-{i % channels}"})
            await rollouts.transition(s, r, RolloutStatus.FAILED, reason="CrashLoopBackOff", message="back-off",
                                      at=utcnow())
            ids.append(r.id)
    async with db.session() as s:
        claims = await work_queue.claim(s, Queue.ANALYSIS, owner="bench", limit=n, lease_seconds=600, max_attempts=4)
        for c in claims:
            await work_queue.complete_analysis(
                s, c, analysis=AnalysisResult(category=Category.CRASH_LOOP, summary="exits at start",
                                              root_cause="missing env", evidence=["Error: boom"],
                                              suggested_fix="set it", confidence="high"),
                reduced_context={}, signature=None, metrics={})
    return ids


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rollouts", type=int, default=200)
    ap.add_argument("--channels", type=int, default=10)
    ap.add_argument("--interval", type=float, default=1.0)
    args = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    url = os.environ.get("FYR_BENCH_DB")
    tmp = tempfile.TemporaryDirectory()
    if url is None:
        url = f"sqlite+aiosqlite:///{tmp.name}/bench.db"
    else:
        await asyncio.to_thread(ensure_database, url)
    await asyncio.to_thread(upgrade, url)
    db = Database.from_url(url, pool_size=20)
    if db.dialect != "sqlite":
        from sqlalchemy import delete
        async with db.session() as s:
            await s.execute(delete(Rollout))

    fake = await SlackFake(enforce_channel_interval=args.interval).start()
    ids = await seed(db, args.rollouts, args.channels)
    settings = load_settings(slack_bot_token=fake.token, slack_api_url=fake.url,
                             slack_channel_interval_seconds=args.interval, poll_interval_seconds=0.2,
                             notify_concurrency=args.channels, database_url=url)
    stop = asyncio.Event()
    done = asyncio.Event()
    sent: set[int] = set()

    def on_sent(rollout_id: int, channel: str, ts: str) -> None:
        sent.add(rollout_id)
        if len(sent) >= len(ids):
            done.set()

    t0 = time.monotonic()
    task = asyncio.create_task(run_notifier(settings=settings, db=db, stop=stop, on_sent=on_sent))
    await asyncio.wait_for(done.wait(), timeout=600)
    elapsed = time.monotonic() - t0
    stop.set()
    await task

    async with db.session() as s:
        rows = [await rollouts.get_rollout(s, i) for i in ids]
    per = {i: len(fake.by_rollout(i)) for i in ids}
    duplicated = sum(1 for v in per.values() if v > 1)
    lost = sum(1 for v in per.values() if v == 0)
    not_sent = sum(1 for r in rows if r is None or r.notify_status != NotifyStatus.SENT)
    per_channel = -(-args.rollouts // args.channels)
    floor = per_channel * args.interval  # the nominal floor: N/C messages, one per interval
    post_floor = (per_channel - 1) * args.interval  # first post at 0 s, last one at this time
    first = min(m.received_at for m in fake.messages)
    last = max(m.received_at for m in fake.messages)
    print(f"rollouts={args.rollouts} channels={args.channels} interval={args.interval}s db={db.dialect}")
    print(f"delivered={len(fake.messages)} duplicated={duplicated} lost={lost} not_recorded_sent={not_sent} "
          f"429s={fake.rate_limited}")
    print(f"elapsed={elapsed:.2f}s floor={floor:.1f}s ratio={elapsed / floor:.3f}")
    print(f"first->last post {last - first:.2f}s vs its floor {post_floor:.1f}s: "
          f"ratio={(last - first) / post_floor if post_floor else 0:.3f}")
    await fake.stop()
    await db.dispose()
    tmp.cleanup()
    if duplicated or lost or not_sent:
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
