"""Helpers for the gitlab-ingestor tests: the GitLab payloads, settings, the app and a client.

The payloads are the shared fixtures (`../shared/fixtures/gitlab/` beside the repository), copied
into `tests/fixtures/gitlab/` so the tests never depend on the outside folder. Lookup order: the
in-repo copy, then `$FYR_SHARED_DIR/fixtures/gitlab`, then `<repo>/../shared/fixtures/gitlab`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from fyr.core.routing import Routing, parse_routing
from fyr.db.engine import Database
from fyr.models.gitlab import GitlabMetadata, WebhookDelivery
from fyr.models.rollout import Rollout
from fyr.services.gitlab_ingestor.api import create_app
from fyr.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[3]
SHA = "8f2c4e1b9a7d3f6e0c5b2a8d4e6f1a3c9b7d5e2f"
PROJECT = "acme/shop-api"
PIPELINE_98231 = "https://gitlab.example.com/acme/shop-api/-/pipelines/98231"
PIPELINE_98230 = "https://gitlab.example.com/acme/shop-api/-/pipelines/98230"
MR_87 = "https://gitlab.example.com/acme/shop-api/-/merge_requests/87"
IMAGE = "registry.example.com/acme/shop-api:8f2c4e1b"
GITLAB_ANNOTATIONS = {"app.gitlab.com/app": "acme-shop-api", "app.gitlab.com/env": "production"}

# Timeline order of the fixture README.
TIMELINE = (
    "merge_request_open.json",
    "pipeline_failed_mr.json",
    "pipeline_running.json",
    "job_failed.json",
    "deployment_failed.json",
    "deployment_running.json",
    "deployment_success.json",
    "pipeline_success.json",
)


def fixtures_dir() -> Path:
    candidates = [REPO_ROOT / "tests" / "fixtures" / "gitlab"]
    if os.environ.get("FYR_SHARED_DIR"):
        candidates.append(Path(os.environ["FYR_SHARED_DIR"]) / "fixtures" / "gitlab")
    candidates.append(REPO_ROOT.parent / "shared" / "fixtures" / "gitlab")
    for candidate in candidates:
        if (candidate / "headers.json").is_file():
            return candidate
    raise FileNotFoundError(f"GitLab fixtures not found in any of {[str(c) for c in candidates]}")


@dataclass(frozen=True)
class Delivery:
    name: str
    body: bytes
    headers: dict[str, str]

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


def load_deliveries() -> dict[str, Delivery]:
    folder = fixtures_dir()
    meta = json.loads((folder / "headers.json").read_text())
    return {
        name: Delivery(name=name, body=(folder / name).read_bytes(), headers=dict(headers))
        for name, headers in meta["files"].items()
    }


DELIVERIES = load_deliveries()
SECRET: str = json.loads((fixtures_dir() / "headers.json").read_text())["secret_token"]

ROUTING = parse_routing([
    {"project": "acme/shop-*", "team": "payments", "slack_channel": "#payments-alerts"},
])


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"gitlab_ingestor_token": SECRET, "cluster_name": "prod-eu",
                              "default_slack_channel": "#deployments"}
    values.update(overrides)
    return Settings(**values)


async def counts(db: Database) -> tuple[int, int, int]:
    """Rows in webhook_deliveries, gitlab_metadata, rollouts (one query)."""
    stmt = select(*(select(func.count()).select_from(m).scalar_subquery()
                    for m in (WebhookDelivery, GitlabMetadata, Rollout)))
    async with db.session() as s:
        row = (await s.execute(stmt)).one()
    return int(row[0]), int(row[1]), int(row[2])


def client_for(db: Database, *, routing: Routing = ROUTING, **overrides: Any) -> httpx.AsyncClient:
    app = create_app(settings=make_settings(**overrides), db=db, routing=routing)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingestor")


async def post(client: httpx.AsyncClient, delivery: Delivery, **header_overrides: str) -> httpx.Response:
    headers = {**delivery.headers, **header_overrides}
    return await client.post("/webhooks/gitlab", content=delivery.body, headers=headers)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident set of a process (MiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


@contextlib.asynccontextmanager
async def real_ingestor(tmp_path: Path, **env_overrides: str) -> AsyncIterator[tuple[int, int]]:
    """`fyr ingestor` as a subprocess on a migrated SQLite database: yields (port, pid) once healthy."""
    url = f"sqlite:///{tmp_path / 'fyr.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FYR_", "GITLAB_", "DATABASE_"))}
    env.update(DATABASE_URL=url, GITLAB_INGESTOR_TOKEN=SECRET, LOG_LEVEL="WARNING", **env_overrides)
    fyr = [sys.executable, "-m", "fyr"]
    upgrade = await asyncio.create_subprocess_exec(*fyr, "db", "upgrade", env=env,
                                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert await asyncio.wait_for(upgrade.wait(), 60) == 0
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(*fyr, "ingestor", "--host", "127.0.0.1", "--port", str(port),
                                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        yield port, proc.pid
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)
