"""Sustained GitLab webhooks per second into the ingestor on MariaDB, with p50/p99 latency.

A real uvicorn server (`run_ingestor`, a subprocess) and an open-loop load generator (pre-encoded
HTTP/1.1 over keep-alive loopback connections, so the generator's own CPU stays small; requests fired
on a fixed schedule, latency measured from the scheduled time, so a slow server
cannot hide its queueing) share this machine, loopback only. Every request is a distinct delivery
(its own Idempotency-Key) built from the shared fixtures with varied projects and commits: a mix of
Pipeline (40 %), Job (30 %), Deployment (20 %) and Merge Request (10 %) hooks; rollouts matching a
tenth of the commits exist, so the attach path runs too. Bounded by --seconds.

    .venv/bin/python bench/ingestor.py [--rate 500] [--seconds 20] \
        [--database-url mysql+aiomysql://root@127.0.0.1:3306/fyr_bench_ingestor]

`--rate 0` runs closed-loop (--concurrency requests in flight) to find the ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from fyr.db import rollouts
from fyr.db.engine import Database
from fyr.db.migrate import ensure_database, sync_url, upgrade
from fyr.db.rollouts import RolloutKey
from fyr.models.gitlab import GitlabMetadata, WebhookDelivery
from fyr.models.rollout import RolloutStatus

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "gitlab"
TOKEN = "bench-token-0001"
DEFAULT_URL = "mysql+aiomysql://root@127.0.0.1:3306/fyr_bench_ingestor"
MIX = [("pipeline_running.json", 40), ("job_failed.json", 30), ("deployment_running.json", 20),
       ("merge_request_open.json", 10)]
PROJECTS = 300
COMMITS_PER_PROJECT = 20


def prepare(url: str) -> None:
    ensure_database(url)
    upgrade(url)
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        for table in ("webhook_deliveries", "gitlab_metadata", "rollouts"):
            conn.execute(text(f"DELETE FROM {table}"))
    engine.dispose()


def commit_sha(project: int, commit: int) -> str:
    return hashlib.sha1(f"{project}/{commit}".encode()).hexdigest()


async def seed_rollouts(url: str) -> int:
    """One rollout per tenth commit, image tagged with the short SHA, GitLab annotations set."""
    db = Database.from_url(url)
    count = 0
    async with db.session() as s:
        for project in range(PROJECTS):
            for commit in range(0, COMMITS_PER_PROJECT, 10):
                sha = commit_sha(project, commit)
                await rollouts.record_generation(
                    s, RolloutKey("bench", f"ns-{project}", "api", commit + 1),
                    status=RolloutStatus.ROLLING_OUT, image=f"registry.example.com/p{project}:{sha[:8]}",
                    annotations={"app.gitlab.com/app": f"bench-p{project}", "app.gitlab.com/env": "production"})
                count += 1
    await db.dispose()
    return count


def templates() -> dict[str, tuple[dict[str, Any], dict[str, str]]]:
    headers = json.loads((FIXTURES / "headers.json").read_text())["files"]
    return {name: (json.loads((FIXTURES / name).read_text()), headers[name]) for name, _ in MIX}


def make_request(rng: random.Random, tpl: dict[str, tuple[dict[str, Any], dict[str, str]]]
                 ) -> tuple[bytes, dict[str, str]]:
    name = rng.choices([n for n, _ in MIX], weights=[w for _, w in MIX])[0]
    template, fixture_headers = tpl[name]
    project, commit = rng.randrange(PROJECTS), rng.randrange(COMMITS_PER_PROJECT)
    sha, path = commit_sha(project, commit), f"bench/p{project}"
    text_body = json.dumps(template)
    text_body = text_body.replace("8f2c4e1b9a7d3f6e0c5b2a8d4e6f1a3c9b7d5e2f", sha)
    text_body = text_body.replace("acme/shop-api", path)
    body = json.loads(text_body)
    if name == "pipeline_running.json":
        body["object_attributes"]["id"] = rng.randrange(10**6)
    headers = {k: v for k, v in fixture_headers.items() if k != "X-Gitlab-Token"}
    headers.update({"X-Gitlab-Token": TOKEN, "Idempotency-Key": str(uuid.uuid4()),
                    "X-Gitlab-Event-UUID": str(uuid.uuid4())})
    return json.dumps(body).encode(), headers


def cpu_seconds(pid: int | None) -> float:
    """utime + stime of a process from /proc (Linux); 0 when unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mariadb_pid() -> int | None:
    for stat in Path("/proc").glob("[0-9]*/comm"):
        try:
            if stat.read_text().strip() in ("mariadbd", "mysqld"):
                return int(stat.parent.name)
        except OSError:
            continue
    return None


def start_server(url: str, port: int, *, reuse_port: bool = False) -> tuple[subprocess.Popen[bytes], int]:
    env = {**os.environ, "DATABASE_URL": url, "GITLAB_INGESTOR_TOKEN": TOKEN, "LOG_LEVEL": "WARNING"}
    extra = ["--reuse-port"] if reuse_port else []
    proc = subprocess.Popen([sys.executable, __file__, "--serve", "--port", str(port), *extra], env=env,
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if not line.startswith("LISTENING "):
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, int(line.split()[1])


async def serve(port: int, reuse_port: bool) -> None:
    from fyr.logging import configure_logging
    from fyr.services.gitlab_ingestor.main import run_ingestor
    from fyr.settings import load_settings

    settings = load_settings()
    configure_logging(service="gitlab-ingestor", level="WARNING", fmt="json")
    db = Database.from_url(settings.database_url, pool_size=settings.db_pool_size)
    stop = asyncio.Event()

    def listening(_host: str, bound: int) -> None:
        print(f"LISTENING {bound}", flush=True)

    loop = asyncio.get_running_loop()
    import signal

    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await run_ingestor(settings=settings, db=db, host="127.0.0.1", port=port, stop=stop,
                           on_listening=listening, reuse_port=reuse_port)
    finally:
        await db.dispose()


def encode(body: bytes, headers: dict[str, str]) -> bytes:
    """One pre-encoded HTTP/1.1 request: the generator spends its CPU on sending, not on a client."""
    lines = ["POST /webhooks/gitlab HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-length"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Connection:
    """A keep-alive loopback connection speaking just enough HTTP/1.1 to read a response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status


async def batch_stats(port: int) -> dict[str, float]:
    """Mean deliveries per shared transaction and mean transaction time, from one server's /metrics."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    text_body = (await reader.read()).decode()
    writer.close()
    values = {}
    for line in text_body.splitlines():
        name, _, value = line.partition(" ")
        if name in ("fyr_ingestor_batch_size_sum", "fyr_ingestor_batch_size_count",
                    "fyr_ingestor_batch_seconds_sum", "fyr_ingestor_transaction_retries_total"):
            values[name] = float(value)
    count = values.get("fyr_ingestor_batch_size_count", 0) or 1
    return {"mean_size": round(values.get("fyr_ingestor_batch_size_sum", 0) / count, 1),
            "mean_ms": round(values.get("fyr_ingestor_batch_seconds_sum", 0) / count * 1000, 1),
            "deadlock_retries": values.get("fyr_ingestor_transaction_retries_total", 0)}


def build_requests(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    tpl = templates()
    return [encode(*make_request(rng, tpl)) for _ in range(count)]


async def load(port: int, requests: list[bytes], rate: float, seconds: float, concurrency: int
               ) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int | str, int] = {}
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(concurrency):
        pool.put_nowait(Connection(*await asyncio.open_connection("127.0.0.1", port)))

    async def one(index: int, scheduled: float) -> None:
        conn = await pool.get()
        try:
            status = await conn.request(requests[index % len(requests)])
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            # The server closed the connection (it does after a 500): count it, use a fresh one.
            conn.writer.close()
            conn = Connection(*await asyncio.open_connection("127.0.0.1", port))
            key = f"error:{type(exc).__name__}"
            statuses[key] = statuses.get(key, 0) + 1
            return
        finally:
            pool.put_nowait(conn)
        latencies.append(time.perf_counter() - scheduled)
        statuses[status] = statuses.get(status, 0) + 1

    start = time.perf_counter()
    sent = 0
    if rate > 0:  # open loop: fire on schedule whatever the server does
        tasks: set[asyncio.Task[None]] = set()
        target = int(seconds * rate)
        while sent < target:  # a stalled loop catches up: the schedule's count is always sent
            due = min(target, int((time.perf_counter() - start) * rate))
            while sent < due:
                task = asyncio.create_task(one(sent, start + sent / rate))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
            await asyncio.sleep(0.002)
        await asyncio.gather(*tasks)
    else:  # closed loop: `concurrency` workers back to back
        async def worker() -> None:
            nonlocal sent
            while time.perf_counter() - start < seconds:
                index = sent
                sent += 1
                await one(index, time.perf_counter())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    while not pool.empty():
        pool.get_nowait().writer.close()
    latencies.sort()
    return {
        "requests": len(latencies), "seconds": round(elapsed, 2),
        "per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1), "statuses": statuses,
    }


async def count_rows(url: str) -> dict[str, int]:
    db = Database.from_url(url)
    async with db.session() as s:
        deliveries = (await s.execute(select(func.count()).select_from(WebhookDelivery))).scalar_one()
        staged = (await s.execute(select(func.count()).select_from(GitlabMetadata))).scalar_one()
        attached = (await s.execute(text("SELECT COUNT(*) FROM rollouts WHERE origin = 'mixed' "
                                         "AND pipeline_url IS NOT NULL"))).scalar_one()
    await db.dispose()
    return {"deliveries": deliveries, "gitlab_metadata": staged, "rollouts_with_pipeline": attached}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("FYR_BENCH_MYSQL_URL", DEFAULT_URL))
    parser.add_argument("--rate", type=float, default=500.0, help="requests/s; 0 = closed loop")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=32, help="max connections / closed-loop workers")
    parser.add_argument("--servers", type=int, default=1,
                        help="ingestor processes sharing the port (SO_REUSEPORT), like replicas")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        profile_to = os.environ.get("FYR_BENCH_PROFILE")  # server-side cProfile dump, for digging
        if profile_to:
            import cProfile

            profiler = cProfile.Profile(time.process_time)
            profiler.runctx("asyncio.run(serve(port, False))", globals(), {"port": args.port})
            profiler.dump_stats(profile_to)
        else:
            asyncio.run(serve(args.port, args.reuse_port))
        return
    prepare(args.database_url)
    seeded = asyncio.run(seed_rollouts(args.database_url))
    procs = []
    try:
        proc, port = start_server(args.database_url, 0, reuse_port=args.servers > 1)
        procs.append(proc)
        for _ in range(args.servers - 1):
            procs.append(start_server(args.database_url, port, reuse_port=True)[0])
        warm_up = build_requests(200, seed=1)
        requests = build_requests(int(max(args.rate, 1000) * args.seconds) + 1000, seed=7)
        asyncio.run(load(port, warm_up, 50, 2, args.concurrency))  # connections, pools, caches
        server_cpu = sum(cpu_seconds(p.pid) for p in procs)
        mariadb_cpu, own_cpu = cpu_seconds(mariadb_pid()), time.process_time()
        result = asyncio.run(load(port, requests, args.rate, args.seconds, args.concurrency))
        per_request = 1000 / max(result["requests"], 1)
        result["cpu_ms_per_request"] = {
            "server": round((sum(cpu_seconds(p.pid) for p in procs) - server_cpu) * per_request, 2),
            "mariadb": round((cpu_seconds(mariadb_pid()) - mariadb_cpu) * per_request, 2),
            "load_generator": round((time.process_time() - own_cpu) * per_request, 2),
        }
        result["load_average_1m"] = round(os.getloadavg()[0], 1)
        result["server_batches"] = asyncio.run(batch_stats(port))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)
    rows = asyncio.run(count_rows(args.database_url))
    mode = f"open loop at {args.rate:g}/s" if args.rate > 0 else f"closed loop, {args.concurrency} in flight"
    print(f"ingestor ({args.servers} process(es)) on {make_url(args.database_url).get_backend_name()}, "
          f"{mode}, {seeded} rollouts seeded, {os.cpu_count()} CPUs")
    print(json.dumps({**result, **rows}, indent=2))


if __name__ == "__main__":
    main()
