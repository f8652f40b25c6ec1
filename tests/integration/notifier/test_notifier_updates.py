"""The top message lives with the incident: edited in place (chat.update) through the Slack fake."""

from __future__ import annotations

import asyncio

import pytest
from notifier_helpers import add_failed, make_settings, recover, running, wait_for

from fyr.db import actions as actions_db
from fyr.db import rollouts
from fyr.db.engine import Database
from fyr.db.rollouts import RolloutKey
from fyr.models.rollout import RolloutStatus
from fyr.services.notifier.main import run_notifier
from tests.fakes.slack_api import SlackFake

pytestmark = pytest.mark.timeout(90)


def header(blocks: list[dict] | None) -> str:
    assert blocks
    return str(blocks[0]["text"]["text"])


def action_ids(blocks: list[dict] | None) -> list[str]:
    return [e["action_id"] for b in blocks or [] if b["type"] == "actions" for e in b["elements"]]


async def test_recovery_edits_the_failure_message_and_drops_its_buttons(database: Database, slack: SlackFake) -> None:
    settings = make_settings(slack, slack_signing_secret="s3cret")
    rid = await add_failed(database, "api", channel="#payments")
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        await wait_for(lambda: _has(slack, 1))
        [msg] = slack.messages
        assert header(msg.blocks).startswith("🔴 Rollout failed") and action_ids(msg.blocks) == [
            "fyr_reanalyse", "fyr_mute", "fyr_rollback"]
        await recover(database, rid)
        await wait_for(lambda: _updated(slack, 1), within=30)
        await wait_for(lambda: _has(slack, 2), within=30)  # the recovery reply in the thread
    assert len(slack.top_level()) == 1  # edited, never re-posted
    assert header(msg.blocks) == "✅ Recovered: shop/api"
    assert "Recovered" in msg.text and action_ids(msg.blocks) == []
    assert [r.text for r in slack.replies(msg.ts)] and "Recovered" in slack.replies(msg.ts)[-1].text


async def test_a_recovery_while_the_failure_message_is_being_sent_edits_it_once_and_replies(
        database: Database, slack: SlackFake) -> None:
    """The rollout recovers after the failure message was drawn and posted, before its ts is recorded:
    the message is edited to 'Recovered' once it is recorded (one edit: the reply changes nothing in it)."""
    settings = make_settings(slack)
    rid = await add_failed(database, "api", channel="#payments")
    slack.hold_answers = asyncio.Event()
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        await wait_for(lambda: _has(slack, 1))
        await recover(database, rid)
        slack.hold_answers.set()
        slack.hold_answers = None
        await wait_for(lambda: _has(slack, 2), within=30)  # the recovery reply in the thread
        await wait_for(lambda: _updated(slack, 1), within=30)
        await wait_for(lambda: _update_sent(database, rid), within=30)
    [msg] = slack.top_level()
    assert header(msg.blocks) == "✅ Recovered: shop/api"
    assert len(slack.updates) == 1 and len(slack.replies(msg.ts)) == 1


async def test_a_newer_generation_that_succeeds_marks_the_failure_fixed(database: Database, slack: SlackFake) -> None:
    settings = make_settings(slack)
    await add_failed(database, "api", channel="#payments", generation=1)
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        await wait_for(lambda: _has(slack, 1))
        async with database.session() as s:
            newer, _ = await rollouts.record_generation(s, RolloutKey("test-cluster", "shop", "api", 2),
                                                        status=RolloutStatus.ROLLING_OUT, revision=2)
            await rollouts.update_older_failures(s, newer)
            newer.git_commit = "abc1234def5678"
        await wait_for(lambda: _updated(slack, 1), within=30)
        assert header(slack.messages[0].blocks) == "⏭️ Superseded by generation 2: shop/api"
        await recover(database, newer.id)
        await wait_for(lambda: _updated(slack, 2), within=30)
    [msg] = slack.top_level()
    assert header(msg.blocks) == "✅ Fixed by generation 2: shop/api"
    assert "abc1234def56" in str(msg.blocks)
    assert not settings.slack_signing_secret and action_ids(msg.blocks) == []  # no buttons without the secret


async def test_a_change_while_an_edit_is_in_flight_is_edited_in_after_it(database: Database, slack: SlackFake) -> None:
    """The newer generation succeeds while the 'superseded' edit, drawn before, waits for Slack's answer:
    the message must still end as 'fixed', not stay at the edit that was in flight."""
    settings = make_settings(slack)
    await add_failed(database, "api", channel="#payments", generation=1)
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        await wait_for(lambda: _has(slack, 1))
        slack.hold_updates = asyncio.Event()
        async with database.session() as s:
            newer, _ = await rollouts.record_generation(s, RolloutKey("test-cluster", "shop", "api", 2),
                                                        status=RolloutStatus.ROLLING_OUT, revision=2)
            await rollouts.update_older_failures(s, newer)
        await wait_for(lambda: _updated(slack, 1), within=30)
        await recover(database, newer.id)
        slack.hold_updates.set()
        await wait_for(lambda: _updated(slack, 2), within=30)
    [msg] = slack.top_level()
    assert header(msg.blocks) == "✅ Fixed by generation 2: shop/api"


async def test_a_repeat_raises_a_visible_counter(database: Database, slack: SlackFake) -> None:
    settings = make_settings(slack)
    first = await add_failed(database, "api", channel="#payments", signature="sig-1", generation=1)
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        await wait_for(lambda: _has(slack, 1))
        await add_failed(database, "api", channel="#payments", signature="sig-1", generation=2)
        await wait_for(lambda: _has(slack, 2), within=30)
        await wait_for(lambda: _seen(slack, "Seen 2 times"), within=30)
        await add_failed(database, "api", channel="#payments", signature="sig-1", generation=3)
        await wait_for(lambda: _seen(slack, "Seen 3 times"), within=30)
    top = slack.top_level()
    assert len(top) == 1 and len(slack.replies(top[0].ts)) == 2
    assert first


async def test_muted_workload_failures_go_quietly_into_the_first_thread(database: Database, slack: SlackFake) -> None:
    settings = make_settings(slack, slack_signing_secret="s3cret")
    rid = await add_failed(database, "api", channel="#payments", generation=1)
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        await wait_for(lambda: _has(slack, 1))
        async with database.session() as s:
            r = await rollouts.get_rollout(s, rid)
            assert r is not None
            await actions_db.mute(s, r, user_id="U0ONCALL", hours=24)
        await wait_for(lambda: _seen(slack, "Muted by <@U0ONCALL>"), within=30)
        assert "fyr_unmute" in action_ids(slack.messages[0].blocks)
        await add_failed(database, "api", channel="#payments", generation=2, signature="other-cause")
        await wait_for(lambda: _has(slack, 2), within=30)
    [top] = slack.top_level()
    [reply] = slack.replies(top.ts)
    assert reply.raw.get("reply_broadcast") in (None, False)


async def test_a_failed_update_is_retried_and_the_message_is_edited_once(database: Database, slack: SlackFake) -> None:
    settings = make_settings(slack)
    rid = await add_failed(database, "api", channel="#payments")
    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        await wait_for(lambda: _has(slack, 1))
        slack.fail_next("chat.update", status=500)
        await recover(database, rid)
        await wait_for(lambda: _updated(slack, 1), within=20)
        await wait_for(lambda: _update_sent(database, rid), within=20)
    assert len(slack.top_level()) == 1
    assert header(slack.messages[0].blocks) == "✅ Recovered: shop/api"
    assert next(c.status for c in slack.calls if c.method == "chat.update") == 500


async def _update_sent(db: Database, rid: int) -> bool:
    async with db.session() as s:
        row = await rollouts.get_rollout(s, rid)
        return row is not None and str(row.update_status) == "SENT"


async def _has(slack: SlackFake, n: int) -> bool:
    return len(slack.messages) >= n


async def _updated(slack: SlackFake, n: int) -> bool:
    return len(slack.updates) >= n


async def _seen(slack: SlackFake, text: str) -> bool:
    return any(text in str(blocks) for _, _, _, blocks in slack.updates)
