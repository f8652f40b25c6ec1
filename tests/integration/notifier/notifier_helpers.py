"""Helpers for the notifier's integration tests: settings pointing at the Slack fake, and failed
rollouts put in the notify queue through the real queue functions (fyr.db.queue)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fyr.db import queue as work_queue
from fyr.db import rollouts
from fyr.db.base import utcnow
from fyr.db.engine import Database
from fyr.db.queue import Queue
from fyr.db.rollouts import RolloutKey
from fyr.models.analysis import AnalysisResult, Category
from fyr.models.rollout import RolloutStatus
from fyr.settings import Settings, load_settings
from tests.fakes.slack_api import SlackFake


def make_settings(fake: SlackFake, **kw: Any) -> Settings:
    base: dict[str, Any] = dict(
        slack_bot_token=fake.token, slack_api_url=fake.url, default_slack_channel="#deployments",
        slack_channel_interval_seconds=0.05, poll_interval_seconds=0.05, notify_lease_seconds=30.0,
        notify_max_attempts=4, routing_file=None,
    )
    base.update(kw)
    return load_settings(**base)


async def add_failed(db: Database, deployment: str, *, generation: int = 1, channel: str | None = None,
                     signature: str | None = None, analysis: bool = True, namespace: str = "shop",
                     reason: str = "CrashLoopBackOff", message: str = "back-off restarting failed container",
                     summary: str = "api exits: missing DB_HOST", extra: dict[str, str] | None = None) -> int:
    """A FAILED rollout whose analysis is done (or given up): notify_status PENDING."""
    key = RolloutKey("test-cluster", namespace, deployment, generation)
    ann = {"fyr.dev/slack-channel": channel} if channel else {}
    ann.update(extra or {})
    async with db.session() as s:
        r, inserted = await rollouts.record_generation(s, key, status=RolloutStatus.ROLLING_OUT, revision=generation,
                                                       image=f"registry.example/{deployment}:v{generation}",
                                                       annotations=ann)
        if inserted:  # as the watcher does: older failures' messages say a newer generation came
            await rollouts.update_older_failures(s, r)
        await rollouts.transition(s, r, RolloutStatus.FAILED, reason=reason, message=message, at=utcnow())
        rid = r.id
    async with db.session() as s:
        claims = await work_queue.claim(s, Queue.ANALYSIS, owner="test-analyzer", limit=1000, lease_seconds=60,
                                        max_attempts=4)
        mine = [c for c in claims if c.rollout_id == rid]
        others = [c for c in claims if c.rollout_id != rid]
        for c in others:
            await work_queue.release(s, Queue.ANALYSIS, c, error="not this test's", retry_in=0)
        assert mine, "the analysis claim for the new rollout"
        if analysis:
            await work_queue.complete_analysis(
                s, mine[0],
                analysis=AnalysisResult(category=Category.CRASH_LOOP, summary=summary,
                                        root_cause="DB_HOST is not set in the new revision.",
                                        evidence=["app: Error: getaddrinfo ENOTFOUND undefined"],
                                        suggested_fix="Set DB_HOST.", confidence="high"),
                reduced_context={}, signature=signature,
                metrics={"tokens_in": 100, "tokens_out": 20, "cost_usd": 0.0001})
        else:
            await work_queue.give_up(s, Queue.ANALYSIS, mine[0], error="LLM unreachable after 4 attempts")
    return rid


async def recover(db: Database, rollout_id: int) -> None:
    async with db.session() as s:
        r = await rollouts.get_rollout(s, rollout_id)
        assert r is not None
        await rollouts.transition(s, r, RolloutStatus.SUCCESS, at=utcnow())


@contextlib.asynccontextmanager
async def running(coro_fn: Callable[[asyncio.Event], Awaitable[None]]) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(coro_fn(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def wait_for(predicate: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while loop.time() < end:
        if await predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")
