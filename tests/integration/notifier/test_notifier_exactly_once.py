"""Exactly once from the user's point of view: a notifier that died after posting but before
recording, and two notifiers racing over one MariaDB queue, still give one message per rollout."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from notifier_helpers import add_failed, make_settings, wait_for

from fyr.db import messages, rollouts
from fyr.db import queue as work_queue
from fyr.db.engine import Database
from fyr.db.queue import Queue
from fyr.models.rollout import NotifyStatus
from fyr.services.notifier.main import run_notifier
from fyr.services.notifier.render import render_failure, view_from_rows
from fyr.services.notifier.slack_client import SlackClient
from tests.fakes.slack_api import SlackFake

pytestmark = pytest.mark.timeout(60)


async def _all_sent(db: Database, ids: list[int]) -> bool:
    async with db.session() as s:
        for rid in ids:
            r = await rollouts.get_rollout(s, rid)
            if r is None or r.notify_status != NotifyStatus.SENT:
                return False
    return True


async def test_notifier_killed_between_send_and_commit_is_not_sent_twice_after_restart(
        database: Database, slack: SlackFake) -> None:
    settings = make_settings(slack)
    rid = await add_failed(database, "api", channel="#payments")
    # The first notifier: claims with a short lease, posts exactly what the notifier posts, dies
    # before complete_notify (its process is gone: nothing is committed, nothing released).
    async with database.session() as s:
        [claim] = await work_queue.claim(s, Queue.NOTIFY, owner="doomed", limit=1, lease_seconds=0.5, max_attempts=4)
    async with database.session() as s:
        rows = await messages.load_message_rows(s, rid)
    assert rows is not None
    msg = render_failure(view_from_rows(rows.rollout, rows.analysis, rows.metric))
    client = SlackClient(token=slack.token, base_url=slack.url)
    first_channel, first_ts = await client.post("#payments", msg.text, msg.blocks, msg.metadata)
    await client.close()
    assert len(slack.messages) == 1
    await asyncio.sleep(0.6)  # its lease runs out

    stop = asyncio.Event()
    task = asyncio.create_task(run_notifier(settings=settings, db=database, stop=stop, owner="restarted"))
    await wait_for(lambda: _all_sent(database, [rid]))
    stop.set()
    await asyncio.wait_for(task, 10)

    assert len(slack.messages) == 1
    async with database.session() as s:
        r = await rollouts.get_rollout(s, rid)
        assert r is not None
        assert (r.slack_channel_sent, r.slack_ts, r.notify_attempts) == (first_channel, first_ts, 2)
    # ... and a late complete_notify from the dead notifier's claim could not overwrite anything.
    async with database.session() as s:
        with pytest.raises(Exception, match="lease no longer held"):
            await work_queue.complete_notify(s, claim, channel="X", ts="1.0")


CHILD = """
import asyncio
from fyr.db.engine import Database
from fyr.services.notifier.main import run_notifier
from fyr.settings import load_settings

async def main() -> None:
    settings = load_settings()
    db = Database.from_url(settings.database_url)
    await run_notifier(settings=settings, db=db, stop=asyncio.Event(), owner="child")

asyncio.run(main())
"""


async def test_notifier_process_sigkilled_after_slack_accepted_the_post_is_not_sent_twice(
        database: Database, sqlite_url: str, slack: SlackFake, tmp_path: Path) -> None:
    rid = await add_failed(database, "api", channel="#payments")
    slack.hold_answers = asyncio.Event()  # Slack has the message; the answer never reaches the child
    env = {**os.environ, "DATABASE_URL": sqlite_url, "SLACK_BOT_TOKEN": slack.token,
           "SLACK_API_URL": slack.url, "FYR_NOTIFY_LEASE_SECONDS": "3", "FYR_POLL_INTERVAL_SECONDS": "0.1",
           "FYR_SLACK_CHANNEL_INTERVAL_SECONDS": "0"}
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", CHILD, env=env, cwd=tmp_path,
                                                 stdout=asyncio.subprocess.DEVNULL,
                                                 stderr=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.wait_for(slack.stored.wait(), 20)
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    slack.hold_answers.set()
    slack.hold_answers = None
    assert len(slack.messages) == 1
    [posted] = slack.messages

    settings = make_settings(slack)
    stop = asyncio.Event()
    task = asyncio.create_task(run_notifier(settings=settings, db=database, stop=stop, owner="restarted"))
    await wait_for(lambda: _all_sent(database, [rid]), within=20)  # after the child's 3 s lease ran out
    stop.set()
    await asyncio.wait_for(task, 10)
    assert len(slack.messages) == 1
    async with database.session() as s:
        r = await rollouts.get_rollout(s, rid)
        assert r is not None and (r.slack_ts, r.notify_attempts) == (posted.ts, 2)


@pytest.mark.mysql
async def test_two_notifiers_on_mariadb_deliver_each_rollout_exactly_once(
        mysql_database: Database, mysql_test_url: str, slack: SlackFake) -> None:
    slack.enforce_channel_interval = 0.05
    settings = make_settings(slack, slack_channel_interval_seconds=0.05, notify_concurrency=4)
    ids = [await add_failed(mysql_database, f"svc-{i}", channel=f"#team-{i % 4}") for i in range(40)]
    # Some posts land at Slack but their answers are lost: their retries must find them, not repost.
    for ch in ("#team-0", "#team-2"):
        slack.fail_next("chat.postMessage", status=500, after_store=True, channel=ch, count=2)
    second = Database.from_url(mysql_test_url, pool_size=10)
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(run_notifier(settings=settings, db=mysql_database, stop=stop, owner="n1")),
        asyncio.create_task(run_notifier(settings=settings, db=second, stop=stop, owner="n2")),
    ]
    try:
        await wait_for(lambda: _all_sent(mysql_database, ids), within=40)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 15)
        await second.dispose()
    for rid in ids:
        assert len(slack.by_rollout(rid)) == 1, rid
    assert len(slack.messages) == 40
    # the four whose answers were lost were looked up, found and recorded, not posted again
    assert sum(c.method == "chat.postMessage" and c.status == 500 for c in slack.calls) == 4
    assert sum(c.method == "conversations.history" for c in slack.calls) >= 4
