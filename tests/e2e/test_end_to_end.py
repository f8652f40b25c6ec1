"""End to end: a failing rollout in the simulated cluster → GitLab webhook → analysis → exactly one
Slack message (at the Slack fake, through the real slack_sdk), with commit, pipeline and MR links,
the right category and the right channel. Everything runs as `fyr all` runs it: one process, four
services, SQLite, the real Kubernetes client against the simulated cluster over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from fyr.app import run_services
from fyr.db import rollouts
from fyr.db.engine import Database
from fyr.demo import free_port, wait_ready
from fyr.demo.gitlab import post_hooks
from fyr.demo.scenarios import PY_MISSING_ENV, Scenario
from fyr.models.rollout import NotifyStatus
from fyr.settings import Settings
from fyr.simcluster.controller import DeploymentSim
from fyr.simcluster.server import SimCluster
from tests.fakes.slack_api import SlackFake

pytestmark = pytest.mark.timeout(90)

TOKEN = "e2e-webhook-secret"


@pytest.fixture
async def slack() -> AsyncIterator[SlackFake]:
    fake = await SlackFake(token="xoxb-e2e").start()
    yield fake
    await fake.stop()


def e2e_settings(tmp_path: Path, sim: SimCluster, slack: SlackFake) -> Settings:
    routing = tmp_path / "routing.yaml"
    routing.write_text('- project: "acme/*"\n  team: payments\n  slack_channel: "#team-payments"\n')
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'fyr.db'}", kubeconfig=sim.kubeconfig_path,
        cluster_name="e2e", gitlab_ingestor_token=TOKEN, slack_bot_token="xoxb-e2e", slack_api_url=slack.url,
        default_slack_channel="#deployments", routing_file=routing, poll_interval_seconds=0.5,
        slack_channel_interval_seconds=0.0, llm="none", gitlab_hosts=["gitlab.acme.example"],
    )


async def _wait(predicate: object, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


async def test_failing_rollout_reaches_slack_once_with_links_category_and_channel(
    tmp_path: Path, slack: SlackFake
) -> None:
    sc = Scenario("checkout", "shop", "checkout", "acme/checkout", "payments", "#team-payments", "FAILED",
                  "crash_loop", [])
    async with SimCluster.running() as sim:
        settings = e2e_settings(tmp_path, sim, slack)
        port, stop = free_port(), asyncio.Event()
        services = asyncio.create_task(run_services(
            settings, {"watcher", "ingestor", "analyzer", "notifier"}, host="127.0.0.1", port=port, stop=stop))
        db = Database.from_url(settings.database_url)
        try:
            await wait_ready(port, services)
            async with httpx.AsyncClient(timeout=5) as client:
                await post_hooks(client, f"http://127.0.0.1:{port}/webhooks/gitlab", TOKEN, sc)
            d = DeploymentSim(sim, namespace=sc.namespace, name=sc.name, image="registry.acme.example/acme/checkout:v1",
                              replicas=2, annotations=sc.annotations())
            d.rollout()
            d.become_ready()
            d.rollout(image=sc.image)
            await asyncio.sleep(0.3)
            d.crash_loop(restarts=3, log=PY_MISSING_ENV, previous_log=PY_MISSING_ENV)

            async def sent() -> bool:
                async with db.session() as s:
                    rows = await rollouts.list_rollouts(s, cluster="e2e")
                return any(r.notify_status == NotifyStatus.SENT for r in rows)

            await _wait(sent, 30)
            await asyncio.sleep(1.0)  # a duplicate, if any, would arrive now
        finally:
            stop.set()
            await services
            async with db.session() as s:
                rows = await rollouts.list_rollouts(s, cluster="e2e")
            await db.dispose()

    [failed] = [r for r in rows if r.notify_status == NotifyStatus.SENT]
    messages = slack.by_rollout(failed.id)
    assert len(messages) == 1, [m.text for m in messages]
    [msg] = messages
    assert msg.channel == slack.channels["#team-payments"]
    body = json.dumps(msg.blocks) + msg.text
    assert "crash_loop" in body.replace("Crash loop", "crash_loop") or "crash loop" in body.lower()
    assert "PAYMENT_API_URL" in body
    assert f"/-/commit/{sc.commit}" in body
    assert "/-/pipelines/" in body and "/-/merge_requests/" in body
    assert failed.git_commit == sc.commit and failed.failure_reason == "CrashLoopBackOff"
