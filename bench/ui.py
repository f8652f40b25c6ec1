"""History page latency on a large history: 100,000 rollouts on MariaDB, pages over real HTTP.

Seeds N rollouts (a quarter failed, each failed one with an analysis and a metrics row, spread
over 90 days, 40 namespaces, 12 teams, 3 clusters) with Core bulk inserts, serves the pages with
`fyr ui` (a separate process, as deployed), then times GET requests with httpx: the newest page, deep pages (keyset
`before`), each filter alone and combined, a detail page, the live-rows poll and the stats page.
Reports p50/p95 per page in milliseconds. The goal: the list page ≤ 100 ms p95.

    .venv/bin/python bench/ui.py [--database-url mysql+aiomysql://root@127.0.0.1:3306/fyr_bench_ui]
        [--rollouts 100000] [--requests 200] [--reseed]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, insert, select, text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fyr.db.base import utcnow  # noqa: E402 - after the sys.path line that makes the package importable
from fyr.db.engine import Database  # noqa: E402
from fyr.db.migrate import ensure_database, upgrade  # noqa: E402
from fyr.models.analysis import Analysis, AnalysisMetric  # noqa: E402
from fyr.models.rollout import Rollout  # noqa: E402

CATEGORIES = ["crash_loop", "image_pull", "oom_killed", "config_error", "probe_failure", "scheduling"]
STATUSES = ["SUCCESS"] * 6 + ["FAILED"] * 2 + ["SUPERSEDED", "ROLLING_OUT"]


async def seed(db: Database, n: int) -> None:
    rnd = random.Random(7)
    now = utcnow()
    batch = 2000
    async with db.session() as s:
        start_id = int((await s.execute(select(func.coalesce(func.max(Rollout.id), 0)))).scalar_one())
    for first in range(0, n, batch):
        rollouts, analyses, metrics = [], [], []
        for i in range(first, min(n, first + batch)):
            rid = start_id + i + 1
            at = now - timedelta(minutes=(n - i) * 90 * 24 * 60 / n)
            status = rnd.choice(STATUSES)
            team = f"team-{rnd.randrange(12)}"
            row = {"id": rid, "cluster": f"prod-{rnd.randrange(3)}", "namespace": f"ns-{rnd.randrange(40)}",
                   "deployment": f"svc-{i % 4000}", "generation": i // 4000 + 1, "status": status, "origin": "mixed",
                   "started_at": at, "updated_at": at, "team": team, "slack_channel": f"#{team}",
                   "git_project": f"acme/svc-{i % 4000}", "git_commit": f"{rnd.getrandbits(160):040x}",
                   "pipeline_url": f"https://gitlab.acme.example/acme/svc/-/pipelines/{rid}",
                   "image": f"registry.acme.example/acme/svc:{rid}", "analysis_attempts": 0, "notify_attempts": 0,
                   "recovery_attempts": 0}
            if status == "FAILED":
                row.update(failed_at=at + timedelta(seconds=20), failure_reason="CrashLoopBackOff", analysis_id=rid,
                           analysis_status="DONE", notify_status="SENT", slack_channel_sent="C0BENCH",
                           slack_ts=f"{(at + timedelta(seconds=21.5)).timestamp():.6f}")
                cat = rnd.choice(CATEGORIES)
                analyses.append({"id": rid, "rollout_id": rid, "model_name": "gpt-4o-mini",
                                 "prompt_version": "analysis-v1", "created_at": at + timedelta(seconds=21),
                                 "reduced_context": {"rollout": {"deployment": row["deployment"]}, "logs": ["x" * 400]},
                                 "analysis": {"category": cat, "summary": f"{cat} in {row['deployment']}",
                                              "root_cause": "r", "evidence": ["e"], "suggested_fix": "f",
                                              "confidence": "high"}})
                metrics.append({"analysis_id": rid, "rollout_id": rid, "model_name": "gpt-4o-mini",
                                "tokens_in": 900, "tokens_out": 150, "context_tokens": 880, "latency_s": 1.2,
                                "cost_usd": 0.0004, "attempts": 1, "reused": False, "fallback": False,
                                "created_at": at + timedelta(seconds=21)})
            rollouts.append(row)
        async with db.session() as s:
            await s.execute(insert(Rollout), rollouts)
            if analyses:
                await s.execute(insert(Analysis), analyses)
                await s.execute(insert(AnalysisMetric), metrics)
        print(f"\rseeded {min(n, first + batch)}/{n}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_up(url: str) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(150):
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"fyr ui did not answer {url}")


async def timed(client: httpx.AsyncClient, path: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        resp = await client.get(path)
        out.append((time.perf_counter() - t0) * 1000)
        if resp.status_code != 200:
            raise SystemExit(f"{path}: HTTP {resp.status_code}")
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", default="mysql+aiomysql://root@127.0.0.1:3306/fyr_bench_ui")
    ap.add_argument("--rollouts", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--reseed", action="store_true", help="empty the tables and seed again")
    args = ap.parse_args()
    ensure_database(args.database_url)
    await asyncio.to_thread(upgrade, args.database_url)
    db = Database.from_url(args.database_url, pool_size=10)
    async with db.session() as s:
        have = int((await s.execute(select(func.count()).select_from(Rollout))).scalar_one())
        if args.reseed or have != args.rollouts:
            for table in ("analysis_metrics", "analyses", "rollouts"):
                await s.execute(text(f"DELETE FROM {table}"))
            have = 0
    if have == 0:
        t0 = time.perf_counter()
        await seed(db, args.rollouts)
        print(f"seed: {args.rollouts} rollouts in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    async with db.session() as s:
        top = int((await s.execute(select(func.max(Rollout.id)))).scalar_one())
        failed = int((await s.execute(select(func.max(Rollout.id)).where(Rollout.status == "FAILED"))).scalar_one())
    await db.dispose()
    port = free_port()
    env = {**os.environ, "DATABASE_URL": args.database_url, "LOG_LEVEL": "WARNING"}
    server = await asyncio.create_subprocess_exec(sys.executable, "-m", "fyr", "ui", "--port", str(port), env=env)
    await wait_up(f"http://127.0.0.1:{port}/healthz")
    pages = [
        ("list, newest page", "/ui/"),
        ("list, page 1,000 deep (before=)", f"/ui/?before={top - 50_000}"),
        ("list, status=FAILED", "/ui/?status=FAILED"),
        ("list, team=team-3", "/ui/?team=team-3"),
        ("list, namespace=ns-7", "/ui/?namespace=ns-7"),
        ("list, category=oom_killed", "/ui/?category=oom_killed"),
        ("list, cluster+team+status+since", "/ui/?cluster=prod-1&team=team-5&status=FAILED&since=30d"),
        ("list, kind=StatefulSet (none)", "/ui/?kind=StatefulSet"),
        ("live rows poll", f"/ui/rows?after={top}"),
        ("detail", f"/ui/rollouts/{failed}"),
        ("stats, 14 days", "/ui/stats"),
    ]
    print(f"{'page':<36} {'p50 ms':>8} {'p95 ms':>8}   ({args.rollouts} rollouts, {args.requests} requests each)")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for name, path in pages:
            n = args.requests if "stats" not in name else max(10, args.requests // 10)
            await timed(client, path, 3)
            ms = await timed(client, path, n)
            p95 = statistics.quantiles(ms, n=20)[-1]
            print(f"{name:<36} {statistics.median(ms):8.1f} {p95:8.1f}", flush=True)
    server.terminate()
    await server.wait()


if __name__ == "__main__":
    asyncio.run(main())
