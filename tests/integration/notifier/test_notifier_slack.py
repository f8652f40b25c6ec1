"""The notifier against the Slack Web API fake, driven by the real slack_sdk client (SQLite)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from notifier_helpers import add_failed, make_settings, recover, running, wait_for
from prometheus_client import CollectorRegistry
from slack_sdk.models.blocks import Block
from sqlalchemy import text

from fyr.db import rollouts
from fyr.db.engine import Database
from fyr.models.rollout import NotifyStatus
from fyr.services.notifier.console import ConsoleSink
from fyr.services.notifier.main import run_notifier
from fyr.settings import secret_value
from tests.fakes.slack_api import SlackFake

pytestmark = pytest.mark.timeout(30)


async def _status(db: Database, rid: int) -> tuple[NotifyStatus | None, str | None, str | None, int]:
    async with db.session() as s:
        r = await rollouts.get_rollout(s, rid)
        assert r is not None
        return r.notify_status, r.slack_channel_sent, r.slack_ts, r.notify_attempts


async def _sent(db: Database, *ids: int) -> bool:
    for i in ids:
        if (await _status(db, i))[0] != NotifyStatus.SENT:
            return False
    return True


async def test_failed_rollout_is_posted_once_to_its_channel_with_valid_blocks(
        database: Database, slack: SlackFake) -> None:
    settings = make_settings(slack)
    rid = await add_failed(database, "api", channel="#payments")
    sent: list[tuple[int, str, str]] = []
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop,
                                                 on_sent=lambda *a: sent.append(a))):
        await wait_for(lambda: _sent(database, rid))
    [msg] = slack.messages
    assert msg.channel == slack.channels["#payments"] and msg.thread_ts is None
    assert msg.metadata == {"event_type": "fyr_rollout", "event_payload": {
        "rollout_id": rid, "kind": "failure", "cluster": "test-cluster", "namespace": "shop",
        "deployment": "api", "workload_kind": "Deployment", "generation": 1}}
    assert "Rollout failed" in msg.text and "missing DB_HOST" in msg.text
    assert msg.blocks
    for raw in msg.blocks:
        block = Block.parse(raw)
        assert block is not None
        block.validate_json()
    assert msg.raw["unfurl_links"] is False
    _, channel, ts, attempts = await _status(database, rid)
    assert (channel, ts, attempts) == (msg.channel, msg.ts, 1)
    assert sent == [(rid, msg.channel, msg.ts)]
    assert [c.method for c in slack.calls] == ["chat.postMessage"]  # no lookup on a first attempt


async def test_channel_comes_from_routing_file_then_default(
        database: Database, slack: SlackFake, tmp_path: Path) -> None:
    routing = tmp_path / "routing.yaml"
    routing.write_text('- project: "acme/shop-*"\n  team: payments\n  slack_channel: "#payments-alerts"\n')
    settings = make_settings(slack, routing_file=routing)
    routed = await add_failed(database, "api", extra={"fyr.dev/git-project": "acme/shop-api"})
    unrouted = await add_failed(database, "worker", extra={"fyr.dev/git-project": "other/thing"})
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        await wait_for(lambda: _sent(database, routed, unrouted))
    [a] = slack.by_rollout(routed)
    [b] = slack.by_rollout(unrouted)
    assert a.channel == slack.channels["#payments-alerts"]
    assert "payments" in str(a.blocks)  # the team from the routing file is shown
    assert b.channel == slack.channels["#deployments"]


async def test_429_storm_is_waited_out_without_losing_or_duplicating_and_without_spending_attempts(
        database: Database, slack: SlackFake) -> None:
    settings = make_settings(slack)
    ids = [await add_failed(database, f"svc-{i}", channel=f"#team-{i % 2}") for i in range(6)]
    slack.fail_next("chat.postMessage", status=429, retry_after=0, count=25)
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        await wait_for(lambda: _sent(database, *ids), within=20)
    assert slack.rate_limited == 25
    for rid in ids:
        assert len(slack.by_rollout(rid)) == 1
        assert (await _status(database, rid))[3] == 1  # a 429 is not an attempt


async def test_retry_after_is_honoured(database: Database, slack: SlackFake) -> None:
    settings = make_settings(slack)
    rid = await add_failed(database, "api", channel="#payments")
    slack.fail_next("chat.postMessage", status=429, retry_after=1, count=1)
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        await wait_for(lambda: _sent(database, rid))
    first, second = [c for c in slack.calls if c.method == "chat.postMessage"]
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= 0.95


async def test_one_message_per_interval_per_channel_channels_in_parallel(
        database: Database, slack: SlackFake) -> None:
    slack.enforce_channel_interval = 0.2
    settings = make_settings(slack, slack_channel_interval_seconds=0.2)
    ids = [await add_failed(database, f"svc-{i}", channel=f"#c{i % 3}") for i in range(9)]
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        await wait_for(lambda: _sent(database, *ids), within=20)
    assert slack.rate_limited == 0
    assert sorted(len(slack.by_rollout(i)) for i in ids) == [1] * 9
    starts = sorted(m.received_at for m in slack.messages)
    assert starts[2] - starts[0] < 0.2  # three channels went out together, not one after another


async def test_server_error_after_slack_stored_the_message_does_not_duplicate_it(
        database: Database, slack: SlackFake) -> None:
    settings = make_settings(slack)
    rid = await add_failed(database, "api", channel="#payments")
    slack.fail_next("chat.postMessage", status=500, after_store=True)
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        await wait_for(lambda: _sent(database, rid), within=15)
    [msg] = slack.by_rollout(rid)
    _, channel, ts, attempts = await _status(database, rid)
    assert (channel, ts, attempts) == (msg.channel, msg.ts, 2)
    assert [c.method for c in slack.calls] == ["chat.postMessage", "conversations.list", "conversations.history"]


async def test_server_errors_are_retried_then_given_up_with_the_error(
        database: Database, slack: SlackFake) -> None:
    settings = make_settings(slack, notify_max_attempts=2)
    rid = await add_failed(database, "api", channel="#payments")
    slack.fail_next("chat.postMessage", status=503, count=100)
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        async def failed() -> bool:
            return (await _status(database, rid))[0] == NotifyStatus.FAILED
        await wait_for(failed, within=15)
    async with database.session() as s:
        r = await rollouts.get_rollout(s, rid)
        assert r is not None and r.notify_error is not None and "503" in r.notify_error
    assert len([c for c in slack.calls if c.method == "chat.postMessage"]) == 2
    assert slack.messages == []


async def test_unknown_channel_falls_back_once_to_the_default_and_says_so(
        database: Database, slack: SlackFake) -> None:
    slack.auto_create = False
    slack.add_channel("#deployments")
    slack.add_channel("#private-team")
    slack.not_in_channel.add("#private-team")
    settings = make_settings(slack)
    gone = await add_failed(database, "api", channel="#no-such-channel")
    uninvited = await add_failed(database, "web", channel="#private-team")
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        await wait_for(lambda: _sent(database, gone, uninvited))
    [a] = slack.by_rollout(gone)
    [b] = slack.by_rollout(uninvited)
    assert a.channel == b.channel == slack.channels["#deployments"]
    assert "#no-such-channel answered channel_not_found" in a.text
    assert "not_in_channel" in b.text and "invite the Fyr app" in str(b.blocks)


async def test_default_channel_missing_too_gives_up_clearly(database: Database, slack: SlackFake) -> None:
    slack.auto_create = False
    settings = make_settings(slack)
    rid = await add_failed(database, "api", channel="#nope")
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        async def failed() -> bool:
            return (await _status(database, rid))[0] == NotifyStatus.FAILED
        await wait_for(failed)
    async with database.session() as s:
        r = await rollouts.get_rollout(s, rid)
        assert r is not None and r.notify_error == "slack channel_not_found in #deployments"


async def test_repeat_failure_with_same_signature_replies_in_the_thread(
        database: Database, slack: SlackFake) -> None:
    settings = make_settings(slack)
    first = await add_failed(database, "api", generation=1, channel="#payments", signature="sig-a")
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        await wait_for(lambda: _sent(database, first))
        again = await add_failed(database, "api", generation=2, channel="#payments", signature="sig-a")
        third = await add_failed(database, "api", generation=3, channel="#payments", signature="sig-a")
        other = await add_failed(database, "api", generation=4, channel="#payments", signature="sig-b")
        await wait_for(lambda: _sent(database, again, third, other))
    [parent] = slack.by_rollout(first)
    [reply2] = slack.by_rollout(again)
    [reply3] = slack.by_rollout(third)
    [new_top] = slack.by_rollout(other)
    assert reply2.thread_ts == reply3.thread_ts == parent.ts  # replies always under the parent
    assert "Failed again, same cause" in reply2.text and "generation 2" in reply2.text
    assert new_top.thread_ts is None
    async with database.session() as s:
        r = await rollouts.get_rollout(s, again)
        assert r is not None and r.slack_thread_ts == parent.ts


async def test_recovered_rollout_gets_a_reply_in_its_thread(database: Database, slack: SlackFake) -> None:
    settings = make_settings(slack)
    rid = await add_failed(database, "api", channel="#payments")
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        await wait_for(lambda: _sent(database, rid))
        await recover(database, rid)

        async def replied() -> bool:
            async with database.session() as s:
                r = await rollouts.get_rollout(s, rid)
                return r is not None and r.recovery_status == NotifyStatus.SENT
        await wait_for(replied)
    parent, reply = slack.by_rollout(rid)
    assert reply.thread_ts == parent.ts and reply.channel == parent.channel
    assert "Recovered" in reply.text
    assert reply.metadata is not None and reply.metadata["event_payload"]["kind"] == "recovery"


async def test_rollout_without_analysis_still_posts_what_is_known(
        database: Database, slack: SlackFake) -> None:
    settings = make_settings(slack)
    rid = await add_failed(database, "api", channel="#payments", analysis=False,
                           message="Back-off pulling image <!channel>")
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        await wait_for(lambda: _sent(database, rid))
    [msg] = slack.by_rollout(rid)
    blocks = str(msg.blocks)
    assert "Analysis unavailable" in blocks and "LLM unreachable" in blocks
    assert "&lt;!channel&gt;" in blocks and "<!channel>" not in blocks


async def test_bad_token_keeps_the_message_queued_and_delivers_once_the_token_works(
        database: Database, slack: SlackFake) -> None:
    settings = make_settings(slack, notify_auth_retry_seconds=0.2, notify_max_attempts=2)
    slack.token = "xoxb-rotated"  # Slack no longer accepts the token the notifier has
    rid = await add_failed(database, "api", channel="#payments")
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        async def errored() -> bool:
            async with database.session() as s:
                r = await rollouts.get_rollout(s, rid)
                return r is not None and r.notify_error == "slack invalid_auth"
        await wait_for(errored)
        await asyncio.sleep(1.0)  # several pauses and auth.test probes; no attempt is spent on them
        assert (await _status(database, rid))[0] == NotifyStatus.PENDING
        assert sum(c.method == "auth.test" for c in slack.calls) >= 2
        slack.token = secret_value(settings.slack_bot_token)  # the token works again
        await wait_for(lambda: _sent(database, rid))
    assert len(slack.by_rollout(rid)) == 1
    assert (await _status(database, rid))[3] == 2  # one failed attempt, one delivery


async def test_without_a_token_the_message_goes_to_the_console(database: Database, slack: SlackFake) -> None:
    settings = make_settings(slack, slack_bot_token=None)
    rid = await add_failed(database, "api", channel="#payments", message="oops <@U123>")
    out = io.StringIO()
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop,
                                                 sink=ConsoleSink(stream=out))):
        await wait_for(lambda: _sent(database, rid))
    text = out.getvalue()
    assert "Slack message to #payments" in text and "Rollout failed: shop/api" in text
    assert "missing DB_HOST" in text
    assert slack.calls == []


async def test_a_broken_database_does_not_crash_the_loop(database: Database, slack: SlackFake) -> None:
    settings = make_settings(slack)
    async with database.session() as s:  # the queue query fails while the table is away
        await s.execute(text("ALTER TABLE rollouts RENAME TO rollouts_away"))
    stop = asyncio.Event()
    task = asyncio.create_task(run_notifier(settings=settings, db=database, stop=stop))
    await asyncio.sleep(0.5)
    assert not task.done()
    async with database.session() as s:
        await s.execute(text("ALTER TABLE rollouts_away RENAME TO rollouts"))
    rid = await add_failed(database, "api", channel="#payments")
    await wait_for(lambda: _sent(database, rid), within=15)
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_rejected_blocks_are_resent_as_plain_text(database: Database, slack: SlackFake) -> None:
    settings = make_settings(slack)
    rid = await add_failed(database, "api", channel="#payments")
    slack.fail_next("chat.postMessage", error="invalid_blocks")
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        await wait_for(lambda: _sent(database, rid))
    [msg] = slack.by_rollout(rid)
    assert msg.blocks is None and "Rollout failed" in msg.text
    first, second = [c for c in slack.calls if c.method == "chat.postMessage"]
    assert first.error == "invalid_blocks" and "blocks" in first.args and "blocks" not in second.args


async def test_outcomes_are_counted_in_prometheus(database: Database, slack: SlackFake) -> None:
    registry = CollectorRegistry()
    settings = make_settings(slack)
    rid = await add_failed(database, "api", channel="#payments")
    slack.fail_next("chat.postMessage", status=429, retry_after=0, count=2)
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop,
                                                 registry=registry)):
        await wait_for(lambda: _sent(database, rid))
    assert registry.get_sample_value("fyr_notifier_messages_total",
                                     {"kind": "notify", "outcome": "sent"}) == 1.0
    assert registry.get_sample_value("fyr_slack_rate_limited_total") == 2.0
    assert registry.get_sample_value("fyr_failure_to_message_seconds_count") == 1.0


async def test_thread_reply_whose_answer_was_lost_is_found_in_the_thread_not_reposted(
        database: Database, slack: SlackFake) -> None:
    settings = make_settings(slack)
    rid = await add_failed(database, "api", channel="#payments")
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        await wait_for(lambda: _sent(database, rid))
        slack.fail_next("chat.postMessage", status=502, after_store=True)
        await recover(database, rid)

        async def replied() -> bool:
            async with database.session() as s:
                r = await rollouts.get_rollout(s, rid)
                return r is not None and r.recovery_status == NotifyStatus.SENT
        await wait_for(replied, within=15)
    parent, reply = slack.by_rollout(rid)
    assert reply.thread_ts == parent.ts
    assert [c.method for c in slack.calls].count("conversations.replies") == 1
    async with database.session() as s:
        r = await rollouts.get_rollout(s, rid)
        assert r is not None and r.recovery_attempts == 2


async def test_message_links_to_the_history_page_when_a_public_url_is_set(
        database: Database, slack: SlackFake) -> None:
    settings = make_settings(slack, public_url="https://fyr.acme.example/")
    rid = await add_failed(database, "api", channel="#payments")
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        await wait_for(lambda: _sent(database, rid))
    [msg] = slack.messages
    assert f"<https://fyr.acme.example/ui/rollouts/{rid}|Open in Fyr>" in str(msg.blocks)


async def test_a_message_holding_a_secret_is_given_up_never_posted(database: Database, slack: SlackFake) -> None:
    settings = make_settings(slack)
    leaky = await add_failed(database, "api", channel="#payments",
                             summary="api exits: it printed sk_live_4eC39HqLyjWDarjtT1zdp7dc")
    clean = await add_failed(database, "web", channel="#payments")

    async def settled() -> bool:
        return (await _status(database, leaky))[0] != NotifyStatus.PENDING and await _sent(database, clean)

    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        await wait_for(settled)
    assert (await _status(database, leaky))[0] != NotifyStatus.SENT
    assert all("4eC39HqLyjWDarjtT1zdp7dc" not in (m.text + repr(m.blocks)) for m in slack.messages)
    assert len(slack.messages) == 1  # the clean one
