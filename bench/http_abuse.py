"""Peak memory and connection lifetimes of a real `fyr ingestor` under the HTTP abuse the red team used.

Starts `fyr ingestor` (a subprocess, SQLite in a temporary folder, loopback only) and runs, one after
the other: an unauthenticated header flood (8 connections x 128 MB of headers), slow clients (200
trickling heads, 50 trickling bodies, 1,000 silent sockets, while a genuine delivery is sent), and
large valid bodies (one pipeline hook of 50k jobs (~24 MB), one 24 MB body of small values, four 22 MB
hooks at once). Prints one JSON document: peak RSS per phase (VmHWM, reset between phases), the
longest time any abusive connection stayed open, and the genuine deliveries' answers.

    .venv/bin/python bench/http_abuse.py [--flood-mb 128] [--trickle 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "gitlab"
TOKEN = "bench-token"
MB = 1024 * 1024


def _status(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(field)


def _reset_peak(pid: int) -> float:
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _status(pid, "VmRSS")


def _headers(event: str, key: str) -> dict[str, str]:
    return {"X-Gitlab-Event": event, "X-Gitlab-Token": TOKEN, "Idempotency-Key": key,
            "Content-Type": "application/json"}


def _pipeline(jobs: int, small_values: int = 0) -> bytes:
    body = json.loads((FIXTURES / "pipeline_running.json").read_bytes())
    template = body["builds"][0]
    body["builds"] = [dict(template, id=10_000_000 + i, name=f"job-{i}",
                           environment={"name": f"review/x{i}"} if i % 50 == 0 else None) for i in range(jobs)]
    if small_values:
        body["padding"] = [0] * small_values
    return json.dumps(body, separators=(",", ":")).encode()


async def _flood(port: int, megabytes: int) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /webhooks/gitlab HTTP/1.1\r\nHost: x\r\n")
        chunk = (b"X-Flood: " + b"a" * 1000 + b"\r\n") * 64
        for _ in range(megabytes * MB // len(chunk)):
            writer.write(chunk)
            await writer.drain()


async def _trickle(port: int, head: bytes, body: bytes, every: float) -> float:
    """Send `head` then `body` a byte at a time (or the head a byte at a time when body is empty)."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    slow = body or head
    if body:
        writer.write(head)
    with contextlib.suppress(ConnectionError, OSError):
        for i in range(len(slow)):
            if reader.at_eof() or writer.is_closing():
                break
            writer.write(slow[i:i + 1])
            await writer.drain()
            await asyncio.sleep(every)
            if reader._buffer or reader.at_eof():  # type: ignore[attr-defined]  # answered: closing
                break
        await asyncio.wait_for(reader.read(), 60)
    writer.close()
    return time.monotonic() - started


async def _silent(port: int) -> float:
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    with contextlib.suppress(ConnectionError, OSError, asyncio.TimeoutError):
        await asyncio.wait_for(reader.read(), 60)
    writer.close()
    return time.monotonic() - started


async def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FYR_", "GITLAB_", "DATABASE_"))}
        env.update(DATABASE_URL=f"sqlite:///{tmp}/fyr.db", GITLAB_INGESTOR_TOKEN=TOKEN, LOG_LEVEL="ERROR")
        fyr = [sys.executable, "-m", "fyr"]
        upgrade = await asyncio.create_subprocess_exec(*fyr, "db", "upgrade", env=env,
                                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if await upgrade.wait() != 0:
            raise SystemExit("fyr db upgrade failed")
        proc = await asyncio.create_subprocess_exec(*fyr, "ingestor", "--host", "127.0.0.1", "--port", str(port),
                                                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                for _ in range(600):
                    with contextlib.suppress(httpx.TransportError):
                        if (await client.get("/healthz")).status_code == 200:
                            break
                    await asyncio.sleep(0.1)
                result["rss_idle_mb"] = round(_status(proc.pid, "VmRSS"), 1)

                _reset_peak(proc.pid)
                started = time.monotonic()
                await asyncio.gather(*(_flood(port, args.flood_mb) for _ in range(8)))
                result["header_flood"] = {
                    "connections": 8, "mb_each": args.flood_mb, "seconds": round(time.monotonic() - started, 1),
                    "peak_rss_mb": round(_status(proc.pid, "VmHWM"), 1),
                    "healthz_after": (await client.get("/healthz")).status_code}

                _reset_peak(proc.pid)
                head = (b"POST /webhooks/gitlab HTTP/1.1\r\nHost: x\r\nX-Gitlab-Event: Pipeline Hook\r\n"
                        b"X-Gitlab-Token: " + TOKEN.encode() + b"\r\nContent-Length: 100000\r\n\r\n")
                tasks = [asyncio.create_task(_trickle(port, head, b"", 0.5)) for _ in range(args.trickle)]
                tasks += [asyncio.create_task(_trickle(port, head, b" " * 100000, 0.5)) for _ in range(50)]
                tasks += [asyncio.create_task(_silent(port)) for _ in range(1000)]
                await asyncio.sleep(2)
                genuine = await client.post("/webhooks/gitlab", content=(FIXTURES / "job_failed.json").read_bytes(),
                                            headers=_headers("Job Hook", "slow-clients-genuine"))
                lifetimes = await asyncio.gather(*tasks)
                result["slow_clients"] = {
                    "trickling_heads": args.trickle, "trickling_bodies": 50, "silent_sockets": 1000,
                    "longest_open_s": round(max(lifetimes), 1),
                    "genuine_delivery_meanwhile": genuine.json().get("status", genuine.status_code),
                    "peak_rss_mb": round(_status(proc.pid, "VmHWM"), 1)}

                bodies = [("pipeline_50k_jobs", _pipeline(50_000)),
                          ("small_values_24mb", _pipeline(10, small_values=12 * MB))]
                result["large_bodies"] = {}
                for name, body in bodies:
                    before = _reset_peak(proc.pid)
                    t0 = time.monotonic()
                    answer = await client.post("/webhooks/gitlab", content=body,
                                               headers=_headers("Pipeline Hook", name))
                    result["large_bodies"][name] = {
                        "mb": round(len(body) / MB, 1), "status": answer.json().get("status"),
                        "seconds": round(time.monotonic() - t0, 2),
                        "peak_minus_before_mb": round(_status(proc.pid, "VmHWM") - before, 1)}
                body = _pipeline(45_000)
                before = _reset_peak(proc.pid)
                answers = await asyncio.gather(*(client.post("/webhooks/gitlab", content=body, headers=_headers(
                    "Pipeline Hook", f"four-{i}")) for i in range(4)))
                result["large_bodies"]["four_at_once"] = {
                    "mb_each": round(len(body) / MB, 1), "statuses": sorted(a.status_code for a in answers),
                    "peak_minus_before_mb": round(_status(proc.pid, "VmHWM") - before, 1),
                    "peak_rss_mb": round(_status(proc.pid, "VmHWM"), 1)}
                result["rss_after_mb"] = round(_status(proc.pid, "VmRSS"), 1)
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 30)
    result["load_average_1m"] = round(os.getloadavg()[0], 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood-mb", type=int, default=128)
    parser.add_argument("--trickle", type=int, default=200)
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
