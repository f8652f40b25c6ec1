"""One delivery → one outcome: what each Slack answer becomes (the Slack fake behind the real
slack_sdk client, the real queue on SQLite), and what is written to the row before it is returned."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from notifier_helpers import add_failed, make_settings
from prometheus_client import CollectorRegistry

from fyr.core.routing import load_routing
from fyr.db import queue as work_queue
from fyr.db import rollouts
from fyr.db.engine import Database
from fyr.db.queue import Queue
from fyr.models.rollout import NotifyStatus, Rollout
from fyr.services.notifier.delivery import AuthPause, Delivery
from fyr.services.notifier.jobs import GaveUp, Job, Moved, Released, Retry, Sent
from fyr.services.notifier.lanes import ChannelNames
from fyr.services.notifier.metrics import notifier_metrics
from fyr.services.notifier.slack_client import SlackClient
from tests.fakes.slack_api import SlackFake

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def client(slack: SlackFake) -> AsyncIterator[SlackClient]:
    sink = SlackClient(token=slack.token, base_url=slack.url)
    yield sink
    await sink.close()


def _delivery(database: Database, slack: SlackFake, sink: SlackClient, **kw: Any) -> Delivery:
    settings = make_settings(slack, **kw)
    return Delivery(settings=settings, db=database, sink=sink, routing=load_routing(None), names=ChannelNames(),
                    auth=AuthPause(sink, settings.notify_auth_retry_seconds),
                    metrics=notifier_metrics(CollectorRegistry()), on_sent=None,
                    interval=settings.slack_channel_interval_seconds, link_hosts=frozenset())


async def _admitted(database: Database, delivery: Delivery) -> tuple[Job, str]:
    async with database.session() as s:
        [claim] = await work_queue.claim(s, Queue.NOTIFY, owner="test", limit=1, lease_seconds=30, max_attempts=4)
    admitted = await delivery.admit(claim, time.monotonic() + 30)
    assert admitted is not None
    return admitted


async def _row(database: Database, rid: int) -> Rollout:
    async with database.session() as s:
        r = await rollouts.get_rollout(s, rid)
        assert r is not None
        return r


async def test_success_is_sent_and_recorded(database: Database, slack: SlackFake, client: SlackClient) -> None:
    delivery = _delivery(database, slack, client)
    rid = await add_failed(database, "api", channel="#payments")
    job, channel = await _admitted(database, delivery)
    assert channel == "#payments"
    outcome = await delivery.deliver(job)
    [msg] = slack.messages
    assert outcome == Sent(msg.channel, msg.ts)
    r = await _row(database, rid)
    assert (r.notify_status, r.slack_channel_sent, r.slack_ts) == (NotifyStatus.SENT, msg.channel, msg.ts)


async def test_429_is_a_retry_after_retry_after_and_spends_nothing(
        database: Database, slack: SlackFake, client: SlackClient) -> None:
    delivery = _delivery(database, slack, client)
    rid = await add_failed(database, "api", channel="#payments")
    job, _ = await _admitted(database, delivery)
    slack.fail_next("chat.postMessage", status=429, retry_after=7)
    assert await delivery.deliver(job) == Retry(7.0)
    slack.fail_next("chat.postMessage", status=429, retry_after=0)
    assert await delivery.deliver(job) == Retry(0.05)  # never sooner than the channel's pace
    r = await _row(database, rid)
    assert (r.notify_status, r.notify_attempts, slack.messages) == (NotifyStatus.PENDING, 1, [])


async def test_channel_not_found_moves_a_failure_to_the_default_channel_once(
        database: Database, slack: SlackFake, client: SlackClient) -> None:
    slack.auto_create = False
    slack.add_channel("#deployments")
    delivery = _delivery(database, slack, client)
    rid = await add_failed(database, "api", channel="#no-such-channel")
    job, channel = await _admitted(database, delivery)
    assert channel == "#no-such-channel"
    assert await delivery.deliver(job) == Moved("#deployments")
    assert job.channel == "#deployments" and delivery.route(job, None) == "#deployments"
    outcome = await delivery.deliver(job)
    [msg] = slack.messages
    assert outcome == Sent(msg.channel, msg.ts) and msg.channel == slack.channels["#deployments"]
    assert "#no-such-channel answered channel_not_found" in msg.text
    assert (await _row(database, rid)).notify_status == NotifyStatus.SENT


async def test_channel_not_found_in_the_default_channel_gives_up(
        database: Database, slack: SlackFake, client: SlackClient) -> None:
    slack.auto_create = False
    delivery = _delivery(database, slack, client)
    rid = await add_failed(database, "api")
    job, channel = await _admitted(database, delivery)
    assert channel == "#deployments"
    assert await delivery.deliver(job) == GaveUp("slack channel_not_found in #deployments")
    r = await _row(database, rid)
    assert (r.notify_status, r.notify_error) == (NotifyStatus.FAILED, "slack channel_not_found in #deployments")


async def test_refused_token_releases_at_once_and_pauses_claiming(
        database: Database, slack: SlackFake, client: SlackClient) -> None:
    delivery = _delivery(database, slack, client, notify_auth_retry_seconds=30.0)
    rid = await add_failed(database, "api", channel="#payments")
    job, _ = await _admitted(database, delivery)
    slack.token = "xoxb-rotated"
    assert await delivery.deliver(job) == Released("slack invalid_auth", 0.0)
    assert not await delivery.auth.ok()  # paused: nothing is claimed for a while
    r = await _row(database, rid)
    assert (r.notify_status, r.notify_error) == (NotifyStatus.PENDING, "slack invalid_auth")


async def test_server_error_releases_with_backoff_then_gives_up_at_the_last_attempt(
        database: Database, slack: SlackFake, client: SlackClient) -> None:
    first = await add_failed(database, "api", channel="#payments")
    delivery = _delivery(database, slack, client, notify_max_attempts=2)
    job, _ = await _admitted(database, delivery)
    slack.fail_next("chat.postMessage", status=503, count=2)
    outcome = await delivery.deliver(job)
    assert isinstance(outcome, Released) and "503" in outcome.error
    assert 1.6 <= outcome.retry_in <= 2.4  # 2 s after the first attempt, jittered
    r = await _row(database, first)
    assert (r.notify_status, r.notify_attempts) == (NotifyStatus.PENDING, 1)

    last = await add_failed(database, "web", channel="#payments")
    delivery = _delivery(database, slack, client, notify_max_attempts=1)
    job, _ = await _admitted(database, delivery)  # the first is not due yet: this is `last`
    assert job.claim.rollout_id == last
    outcome = await delivery.deliver(job)
    assert isinstance(outcome, GaveUp) and "503" in outcome.error
    assert (await _row(database, last)).notify_status == NotifyStatus.FAILED
    assert slack.messages == []
