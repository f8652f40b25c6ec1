"""Repositories on SQLite and (with FYR_TEST_MYSQL_URL) MariaDB: recording, transitions, claims, leases."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from fyr.db import actions as actions_db
from fyr.db import analyses, rollouts
from fyr.db import queue as work_queue
from fyr.db.base import utcnow
from fyr.db.engine import Database
from fyr.db.queue import Claim, Queue
from fyr.db.rollouts import RolloutKey
from fyr.errors import IllegalTransition, LeaseLost
from fyr.models.analysis import Analysis, AnalysisResult, Category
from fyr.models.rollout import AnalysisStatus, NotifyStatus, Origin, Rollout, RolloutStatus

S = RolloutStatus


def _analysis(summary: str = "boom") -> AnalysisResult:
    return AnalysisResult(category=Category.CRASH_LOOP, summary=summary, root_cause="r", evidence=["e"],
                          suggested_fix="f", confidence="high")


async def _failed(db: Database, n: int, *, deployment: str = "api") -> list[int]:
    ids = []
    async with db.session() as s:
        for g in range(1, n + 1):
            r, _ = await rollouts.record_generation(s, RolloutKey("c1", "ns", f"{deployment}-{g}", g),
                                                    status=S.ROLLING_OUT)
            await rollouts.transition(s, r, S.FAILED, reason="CrashLoopBackOff", message="back-off")
            ids.append(r.id)
    return ids


async def _claim(db: Database, queue: Queue = Queue.ANALYSIS, *, owner: str = "w", limit: int = 10,
                 lease: float = 60, max_attempts: int = 3) -> list[Claim]:
    async with db.session() as s:
        return await work_queue.claim(s, queue, owner=owner, limit=limit, lease_seconds=lease,
                                      max_attempts=max_attempts)


async def test_record_generation_is_idempotent_and_reads_annotations(any_database: Database) -> None:
    key = RolloutKey("c1", "shop", "api", 7)
    notes = {"app.gitlab.com/app": "acme-shop-api", "app.gitlab.com/env": "production",
             "fyr.dev/team": "payments", "fyr.dev/slack-channel": "#pay", "fyr.dev/git-commit": "8f2c4e1"}
    async with any_database.session() as s:
        first, _ = await rollouts.record_generation(s, key, revision=3, image="reg/api:1", annotations=notes)
    async with any_database.session() as s:
        again, _ = await rollouts.record_generation(s, key, revision=3, image="reg/api:1", annotations=notes)
        count = (await s.execute(select(func.count()).select_from(Rollout))).scalar_one()
    assert again.id == first.id and count == 1
    assert (again.gitlab_app, again.gitlab_env, again.team, again.slack_channel) == (
        "acme-shop-api", "production", "payments", "#pay")
    assert again.git_commit == "8f2c4e1" and again.origin == Origin.MIXED
    assert again.started_at is not None and again.started_at.tzinfo is not None


async def test_transitions_refuse_illegal_moves(any_database: Database) -> None:
    async with any_database.session() as s:
        r, _ = await rollouts.record_generation(s, RolloutKey("c1", "ns", "api", 1))
        assert await rollouts.transition(s, r, S.ROLLING_OUT)
        assert not await rollouts.transition(s, r, S.ROLLING_OUT)
        assert await rollouts.transition(s, r, S.SUCCESS)
        with pytest.raises(IllegalTransition):
            await rollouts.transition(s, r, S.FAILED)
        r2, _ = await rollouts.record_generation(s, RolloutKey("c1", "ns", "api", 2))
        await rollouts.transition(s, r2, S.FAILED, reason="ProgressDeadlineExceeded")
        with pytest.raises(IllegalTransition):
            await rollouts.transition(s, r2, S.ROLLING_OUT)
        with pytest.raises(IllegalTransition):
            await rollouts.transition(s, r2, S.SUPERSEDED)


async def test_failed_queues_analysis_and_recovery_keeps_failed_at(any_database: Database) -> None:
    async with any_database.session() as s:
        r, _ = await rollouts.record_generation(s, RolloutKey("c1", "ns", "api", 1), status=S.ROLLING_OUT)
        await rollouts.transition(s, r, S.FAILED, reason="CrashLoopBackOff", message="restarting")
        assert r.analysis_status == AnalysisStatus.PENDING and r.failed_at is not None
        await rollouts.transition(s, r, S.SUCCESS)
        assert r.failed_at is not None and r.completed_at is not None
        assert r.recovery_status == NotifyStatus.PENDING


async def test_newer_generation_supersedes_unfinished_older_ones(any_database: Database) -> None:
    async with any_database.session() as s:
        old, _ = await rollouts.record_generation(s, RolloutKey("c1", "ns", "api", 1), status=S.ROLLING_OUT)
        done, _ = await rollouts.record_generation(s, RolloutKey("c1", "ns", "api", 2), status=S.ROLLING_OUT)
        await rollouts.transition(s, done, S.FAILED)
        await rollouts.record_generation(s, RolloutKey("c1", "ns", "api", 3), status=S.ROLLING_OUT)
        ids = await rollouts.supersede_older(s, RolloutKey("c1", "ns", "api", 3))
    assert ids == [old.id]
    async with any_database.session() as s:
        assert (await rollouts.get_rollout(s, old.id)).status == S.SUPERSEDED  # type: ignore[union-attr]
        assert (await rollouts.get_rollout(s, done.id)).status == S.FAILED  # type: ignore[union-attr]


async def test_claim_complete_and_notify_queue(any_database: Database) -> None:
    [rid] = await _failed(any_database, 1)
    [c] = await _claim(any_database)
    assert (c.rollout_id, c.attempt) == (rid, 1)
    assert await _claim(any_database) == []  # leased
    async with any_database.session() as s:
        aid = await work_queue.complete_analysis(s, c, analysis=_analysis(), reduced_context={"k": 1},
                                                 signature="sig", metrics={"tokens_in": 10, "cost_usd": 0.01})
    [n] = await _claim(any_database, Queue.NOTIFY)
    async with any_database.session() as s:
        await work_queue.complete_notify(s, n, channel="C1", ts="1.0")
        row = await rollouts.get_rollout(s, rid)
        metric = await analyses.get_metrics(s, aid)
    assert row is not None and row.analysis_id == aid and row.notify_status == NotifyStatus.SENT
    assert row.slack_ts == "1.0" and metric is not None and metric.tokens_in == 10


async def test_expired_lease_cannot_overwrite_the_new_holders_result(any_database: Database) -> None:
    await _failed(any_database, 1)
    [old] = await _claim(any_database, owner="slow", lease=0.05)
    await asyncio.sleep(0.2)
    [new] = await _claim(any_database, owner="fast")
    assert new.attempt == 2 and new.token != old.token
    async with any_database.session() as s:
        await work_queue.complete_analysis(s, new, analysis=_analysis("new"), reduced_context={}, signature=None,
                                           metrics={})
    with pytest.raises(LeaseLost):
        async with any_database.session() as s:
            await work_queue.complete_analysis(s, old, analysis=_analysis("old"), reduced_context={}, signature=None,
                                               metrics={})
    async with any_database.session() as s:
        rows = (await s.execute(select(Analysis))).scalars().all()
    assert [a.analysis["summary"] for a in rows] == ["new"]


async def test_release_backs_off_and_give_up_after_max_attempts_queues_notification(
    any_database: Database,
) -> None:
    [rid] = await _failed(any_database, 1)
    [c] = await _claim(any_database)
    async with any_database.session() as s:
        await work_queue.release(s, Queue.ANALYSIS, c, error="429", retry_in=60)
    assert await _claim(any_database) == []  # not before next_attempt_at
    async with any_database.session() as s:
        row = await rollouts.get_rollout(s, rid)
        assert row is not None and row.analysis_error == "429"
        row.analysis_next_attempt_at = utcnow() - timedelta(seconds=1)
    [c2] = await _claim(any_database)
    async with any_database.session() as s:
        await work_queue.give_up(s, Queue.ANALYSIS, c2, error="llm down")
        row = await rollouts.get_rollout(s, rid)
    assert row is not None and row.analysis_status == AnalysisStatus.FAILED and row.analysis_error == "llm down"
    assert row.notify_status == NotifyStatus.PENDING


async def test_lease_expired_on_last_attempt_is_given_up(any_database: Database) -> None:
    [rid] = await _failed(any_database, 1)
    for _ in range(2):
        assert await _claim(any_database, lease=0.01, max_attempts=2)
        await asyncio.sleep(0.05)
    assert await _claim(any_database, max_attempts=2) == []
    async with any_database.session() as s:
        row = await rollouts.get_rollout(s, rid)
    assert row is not None and row.analysis_status == AnalysisStatus.FAILED
    assert row.notify_status == NotifyStatus.PENDING and "gave up" in (row.analysis_error or "")


async def test_a_reanalysis_given_up_leaves_the_sent_message_alone(any_database: Database) -> None:
    """Every way an analysis ends queues the failure message once: a re-analysis of a rollout whose
    message is out (here: its leases run out) never queues a second message."""
    [rid] = await _failed(any_database, 1)
    [c] = await _claim(any_database)
    async with any_database.session() as s:
        await work_queue.complete_analysis(s, c, analysis=_analysis(), reduced_context={}, signature=None,
                                           metrics={})
    [n] = await _claim(any_database, Queue.NOTIFY)
    async with any_database.session() as s:
        await work_queue.complete_notify(s, n, channel="C1", ts="1.0")
        row = await rollouts.get_rollout(s, rid)
        assert row is not None
        await actions_db.request_reanalysis(s, row)
    assert await _claim(any_database, lease=0.01, max_attempts=1)
    await asyncio.sleep(0.05)
    assert await _claim(any_database, max_attempts=1) == []
    async with any_database.session() as s:
        row = await rollouts.get_rollout(s, rid)
    assert row is not None and row.analysis_status == AnalysisStatus.FAILED
    assert row.notify_status == NotifyStatus.SENT and await _claim(any_database, Queue.NOTIFY) == []


async def test_recovery_waits_for_the_failure_message(any_database: Database) -> None:
    [rid] = await _failed(any_database, 1)
    async with any_database.session() as s:
        r = await rollouts.get_rollout(s, rid)
        assert r is not None
        await rollouts.transition(s, r, S.SUCCESS)
    assert await _claim(any_database, Queue.RECOVERY) == []
    [a] = await _claim(any_database)
    async with any_database.session() as s:
        await work_queue.complete_analysis(s, a, analysis=_analysis(), reduced_context={}, signature=None, metrics={})
    [n] = await _claim(any_database, Queue.NOTIFY)
    async with any_database.session() as s:
        await work_queue.complete_notify(s, n, channel="C1", ts="9.9")
    [rc] = await _claim(any_database, Queue.RECOVERY)
    assert rc.rollout_id == rid


async def _notify_leased(db: Database) -> tuple[int, Claim]:
    [rid] = await _failed(db, 1)
    [a] = await _claim(db)
    async with db.session() as s:
        await work_queue.complete_analysis(s, a, analysis=_analysis(), reduced_context={}, signature=None, metrics={})
    [n] = await _claim(db, Queue.NOTIFY)
    return rid, n


async def test_an_update_asked_while_the_message_is_being_sent_edits_it_once_it_is_out(
        any_database: Database) -> None:
    """A mute clicked (on an earlier message of the workload) between the drawing of a failure message
    and the recording of its ts: the message, drawn without the mute, is edited once it is recorded."""
    rid, n = await _notify_leased(any_database)
    async with any_database.session() as s:
        r = await rollouts.get_rollout(s, rid)
        assert r is not None
        await actions_db.mute(s, r, user_id="U1", hours=1)
    assert await _claim(any_database, Queue.UPDATE) == []  # the message is not out yet
    async with any_database.session() as s:
        await work_queue.complete_notify(s, n, channel="C1", ts="1.0")
    [u] = await _claim(any_database, Queue.UPDATE)
    assert u.rollout_id == rid


@pytest.mark.parametrize("outcome", ["reply", "given_up"])
async def test_an_update_asked_while_sending_is_dropped_if_the_message_is_a_reply_or_never_sent(
        any_database: Database, outcome: str) -> None:
    rid, n = await _notify_leased(any_database)
    async with any_database.session() as s:
        r = await rollouts.get_rollout(s, rid)
        assert r is not None
        await actions_db.mute(s, r, user_id="U1", hours=1)
        if outcome == "reply":
            await work_queue.complete_notify(s, n, channel="C1", ts="2.0", thread_ts="1.0")
        else:
            await work_queue.give_up(s, Queue.NOTIFY, n, error="channel_not_found")
    async with any_database.session() as s:
        row = await rollouts.get_rollout(s, rid)
    assert row is not None and row.update_status is None
    assert await _claim(any_database, Queue.UPDATE) == []


async def test_claim_can_be_limited_to_one_cluster(any_database: Database) -> None:
    async with any_database.session() as s:
        for cluster in ("eu", "us"):
            r, _ = await rollouts.record_generation(s, RolloutKey(cluster, "ns", "api", 1), status=S.ROLLING_OUT)
            await rollouts.transition(s, r, S.FAILED)
    async with any_database.session() as s:
        claims = await work_queue.claim(s, Queue.ANALYSIS, owner="eu-analyzer", limit=10, lease_seconds=60,
                                        max_attempts=3, cluster="eu")
        rows = [await rollouts.get_rollout(s, c.rollout_id) for c in claims]
    assert [r.cluster for r in rows if r is not None] == ["eu"]


@pytest.mark.parametrize("outcome", ["sent", "given_up"])
async def test_an_update_asked_while_an_update_runs_is_run_again_after_it(any_database: Database, outcome: str) -> None:
    """The rollout changes (a newer generation succeeds) while an edit drawn from the older rows is on
    its way to Slack: that edit's end must not swallow the request, or the message keeps the old text."""
    rid, n = await _notify_leased(any_database)
    async with any_database.session() as s:
        await work_queue.complete_notify(s, n, channel="C1", ts="1.0")
        await work_queue.request_update(s, Rollout.id == rid)
    [u] = await _claim(any_database, Queue.UPDATE)
    async with any_database.session() as s:
        await work_queue.request_update(s, Rollout.id == rid)
    assert await _claim(any_database, Queue.UPDATE, owner="other") == []  # one edit at a time
    async with any_database.session() as s:
        if outcome == "sent":
            await work_queue.complete_notify(s, u, channel="C1", ts="1.0")
        else:
            await work_queue.give_up(s, Queue.UPDATE, u, error="ratelimited")
    [again] = await _claim(any_database, Queue.UPDATE)
    assert again.rollout_id == rid and again.attempt == 1
    async with any_database.session() as s:
        await work_queue.complete_notify(s, again, channel="C1", ts="1.0")
    async with any_database.session() as s:
        row = await rollouts.get_rollout(s, rid)
    assert row is not None and row.update_status == NotifyStatus.SENT
    assert await _claim(any_database, Queue.UPDATE) == []


async def test_an_update_whose_lease_ran_out_cannot_finish_after_a_new_request(any_database: Database) -> None:
    rid, n = await _notify_leased(any_database)
    async with any_database.session() as s:
        await work_queue.complete_notify(s, n, channel="C1", ts="1.0")
        await work_queue.request_update(s, Rollout.id == rid)
    [u] = await _claim(any_database, Queue.UPDATE, lease=0.01)
    await asyncio.sleep(0.05)
    [v] = await _claim(any_database, Queue.UPDATE, owner="other")
    async with any_database.session() as s:
        await work_queue.request_update(s, Rollout.id == rid)
    with pytest.raises(LeaseLost):
        async with any_database.session() as s:
            await work_queue.complete_notify(s, u, channel="C1", ts="1.0")
    async with any_database.session() as s:
        await work_queue.complete_notify(s, v, channel="C1", ts="1.0")
    [again] = await _claim(any_database, Queue.UPDATE)
    assert again.rollout_id == rid
