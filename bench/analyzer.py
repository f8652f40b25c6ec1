"""Analyzer throughput on MariaDB: P analyzer processes x concurrency C against a fake LLM of latency L.

The ideal is P·C/L analyses per second (24/s for 3 x 4 / 0.5 s): every slot always busy with a
model call, the claim/store overhead hidden. The goal is ≥ 90% of it. The workers are real OS
processes running the real service (`tests/integration/analyzer/worker_proc.py`) with the real
langchain-openai client against the OpenAI-compatible fake on loopback; each rollout goes through
the full pipeline on a corpus bundle. Workers start first against an empty queue; the clock starts
when the failed rollouts are committed and stops when the last analysis is stored. The script
checks that every rollout was analysed exactly once and exits non-zero otherwise.

    .venv/bin/python bench/analyzer.py [--database-url mysql+aiomysql://root@127.0.0.1:3306/fyr_bench_analyzer]
        [--rollouts 480] [--processes 3] [--concurrency 4] [--latency 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fyr.db.engine import Database  # noqa: E402 - after the sys.path line that makes tests importable
from fyr.db.migrate import ensure_database, upgrade  # noqa: E402
from fyr.models.analysis import Analysis, AnalysisMetric  # noqa: E402
from fyr.models.rollout import AnalysisStatus, Rollout, RolloutStatus  # noqa: E402
from tests.fakes.openai_api import FakeOpenAI  # noqa: E402

BUNDLE = REPO / "tests" / "corpus" / "go_panic_nil_pointer.json"


def prepare(url: str) -> None:
    ensure_database(url)
    upgrade(url)


async def empty(db: Database) -> None:
    async with db.session() as s:
        for table in (AnalysisMetric, Analysis, Rollout):
            await s.execute(delete(table))


async def seed(db: Database, n: int) -> None:
    now = time.time()
    from fyr.db.base import utcnow

    at = utcnow()
    async with db.session() as s:
        s.add_all(Rollout(cluster="bench", namespace="shop", deployment=f"payments-{int(now)}-{i}", generation=1,
                          status=RolloutStatus.FAILED, failure_reason="CrashLoopBackOff", failed_at=at,
                          analysis_status=AnalysisStatus.PENDING, analysis_next_attempt_at=at,
                          image="registry.example/shop/payments:2.0",
                          analysis_attempts=0, notify_attempts=0, recovery_attempts=0) for i in range(n))


async def start_workers(args: argparse.Namespace, fake: FakeOpenAI) -> list[asyncio.subprocess.Process]:
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url, "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "sk-bench-not-a-real-key", "FYR_LLM": "openai", "FYR_LLM_MODEL": "gpt-4o-mini",
        "FYR_ANALYZER_CONCURRENCY": str(args.concurrency), "FYR_ANALYSIS_REUSE_WINDOW_SECONDS": "0",
        "FYR_POLL_INTERVAL_SECONDS": "0.1", "FYR_DB_POOL_SIZE": str(args.concurrency + 2),
        "FYR_TEST_BUNDLE": str(BUNDLE), "CLUSTER_NAME": "bench",
    }
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.integration.analyzer.worker_proc", cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE) for _ in range(args.processes)]
    for proc in procs:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        if b"worker ready" not in line:
            raise SystemExit(f"worker did not start: {line!r}")
    return procs


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (Linux /proc), to show the CPU an analysis costs."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def done_count(db: Database) -> int:
    async with db.session() as s:
        return int((await s.execute(select(func.count()).select_from(Rollout)
                                    .where(Rollout.analysis_status == AnalysisStatus.DONE))).scalar_one())


async def counts(db: Database) -> tuple[int, int, int]:
    async with db.session() as s:
        done = (await s.execute(select(func.count()).select_from(Rollout)
                                .where(Rollout.analysis_status == AnalysisStatus.DONE))).scalar_one()
        analyses = (await s.execute(select(func.count()).select_from(Analysis))).scalar_one()
        distinct = (await s.execute(select(func.count(func.distinct(Analysis.rollout_id))))).scalar_one()
    return int(done), int(analyses), int(distinct)


async def main(args: argparse.Namespace) -> int:
    await asyncio.to_thread(prepare, args.database_url)
    db = Database.from_url(args.database_url)
    await empty(db)
    ideal = args.processes * args.concurrency / args.latency
    async with FakeOpenAI(latency_s=args.latency) as fake:
        procs = await start_workers(args, fake)
        try:
            load_before = os.getloadavg()[0]
            cpu_before = sum(cpu_seconds(p.pid) for p in procs)
            own_before = time.process_time()
            await seed(db, args.rollouts)
            started = time.monotonic()
            while await done_count(db) < args.rollouts:
                if time.monotonic() - started > args.rollouts / ideal * 10 + 60:
                    raise SystemExit("timed out waiting for the analyses")
                await asyncio.sleep(0.1)
            elapsed = time.monotonic() - started
            workers_cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu_before
            own_cpu = time.process_time() - own_before
            load_after = os.getloadavg()[0]
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                await proc.wait()
        done, analyses, distinct = await counts(db)
        await db.dispose()
        rate = args.rollouts / elapsed
        print(f"analyzer bench: {args.processes} processes x concurrency {args.concurrency}, "
              f"fake LLM latency {args.latency:.2f} s, {args.rollouts} failed rollouts, {make_url(args.database_url)}")
        print(f"  elapsed           {elapsed:8.2f} s")
        print(f"  throughput        {rate:8.2f} analyses/s")
        print(f"  ideal             {ideal:8.2f} analyses/s")
        print(f"  ratio             {100 * rate / ideal:8.1f} %   (goal >= 90%)")
        print(f"  llm calls         {len(fake.requests):8d}   max in flight {fake.max_in_flight}")
        print(f"  analyses stored   {analyses:8d}   rollouts analysed {distinct}, done {done}")
        print(f"  worker cpu        {1000 * workers_cpu / args.rollouts:8.1f} ms/analysis   "
              f"(fake LLM + bench: {1000 * own_cpu / args.rollouts:.1f} ms/analysis)")
        print(f"  host              {os.cpu_count()} cpus, load average {load_before:.1f} -> {load_after:.1f} "
              "(other processes compete for the same cores)")
    if not (analyses == distinct == done == args.rollouts == len(fake.requests)):
        print("FAILED: not every rollout was analysed exactly once", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("FYR_BENCH_MYSQL_URL",
                                                                 "mysql+aiomysql://root@127.0.0.1:3306/fyr_bench_analyzer"))
    parser.add_argument("--rollouts", type=int, default=480)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.5)
    sys.exit(asyncio.run(main(parser.parse_args())))
