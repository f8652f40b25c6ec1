"""Large webhook bodies against a real `fyr ingestor` process: memory bounded by the body, not its shape.

Before the streaming parse one 22 MB pipeline hook cost ~224 MB and four at once 1.29 GB; a body of
many small values (`[0,0,...]`) ~380 MB. The target: the peak for a 25 MB body at most 3x its size.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from fyr.db.engine import Database
from tests.integration.ingestor.ingestor_helpers import (
    DELIVERIES,
    client_for,
    counts,
    real_ingestor,
)

pytestmark = pytest.mark.timeout(180)
PIPELINE = DELIVERIES["pipeline_running.json"]
MB = 1024 * 1024


def _hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _reset_hwm(pid: int) -> float:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # the high-water mark restarts from the current RSS
    return _hwm_mb(pid)


def pipeline_with_builds(size: int, *, environment_every: int = 50) -> bytes:
    """A genuine-looking pipeline hook of about `size` bytes: thousands of jobs, a few deploy jobs."""
    body = PIPELINE.json
    template = body["builds"][0]
    one = len(json.dumps(template))
    builds = []
    for i in range(size // one):
        build = dict(template, id=10_000_000 + i, name=f"job-{i}")
        build["environment"] = ({"name": f"review/x{i}", "action": "start", "deployment_tier": "development"}
                                if i % environment_every == 0 else None)
        builds.append(build)
    body["builds"] = builds
    return json.dumps(body).encode()


def many_small_values(size: int) -> bytes:
    body = PIPELINE.json
    body["padding"] = [0] * (size // 2)
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.mark.parametrize("shape", ["builds", "small_values"])
async def test_peak_memory_of_a_25_mb_body_is_at_most_three_times_its_size(tmp_path: Path, shape: str) -> None:
    body = pipeline_with_builds(24 * MB) if shape == "builds" else many_small_values(24 * MB)
    assert len(body) <= 25 * MB
    async with (real_ingestor(tmp_path) as (port, pid),
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client):
        before = _reset_hwm(pid)
        response = await client.post("/webhooks/gitlab", content=body, headers=PIPELINE.headers)
        peak = _hwm_mb(pid)
    assert response.json() == {"status": "accepted"}
    assert peak - before <= 3 * len(body) / MB, (shape, before, peak, len(body) / MB)


async def test_four_large_bodies_at_once_stay_bounded(tmp_path: Path) -> None:
    body = pipeline_with_builds(22 * MB)
    async with (real_ingestor(tmp_path) as (port, pid),
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client):
        before = _reset_hwm(pid)
        responses = await asyncio.gather(*(
            client.post("/webhooks/gitlab", content=body,
                        headers={**PIPELINE.headers, "Idempotency-Key": f"big-{i}"}) for i in range(4)))
        peak = _hwm_mb(pid)
    assert {r.status_code for r in responses} == {200}
    assert peak - before <= 3 * 22, (before, peak)  # four at once cost what one may


async def test_bodies_past_the_bytes_in_flight_budget_are_503_with_retry_after(database: Database) -> None:
    # The first delivery holds its reservation while its body trickles in; the second does not fit.
    async with client_for(database, ingestor_max_bytes_in_flight=64 * 1024) as client:
        release = asyncio.Event()

        async def slow_body() -> object:
            yield PIPELINE.body[:100]
            await release.wait()
            yield PIPELINE.body[100:]

        first = asyncio.create_task(client.post(
            "/webhooks/gitlab", content=slow_body(),
            headers={**PIPELINE.headers, "Content-Length": str(len(PIPELINE.body))}))
        await asyncio.sleep(0.2)
        big = b" " * (60 * 1024) + DELIVERIES["job_failed.json"].body
        refused = await client.post("/webhooks/gitlab", content=big,
                                    headers=DELIVERIES["job_failed.json"].headers)
        release.set()
        accepted = await first
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "5"
    assert accepted.json() == {"status": "accepted"}
    assert (await counts(database))[0] == 1
    # A single delivery larger than the budget still fits when nothing else is in flight.
    async with client_for(database, ingestor_max_bytes_in_flight=1024) as client:
        alone = await client.post("/webhooks/gitlab", content=big, headers=DELIVERIES["job_failed.json"].headers)
    assert alone.json() == {"status": "accepted"}
