"""The work queue: claims, leases and results of the jobs kept on the rollout rows.

The database is the queue (docs/architecture.md 'The database is the queue'). Each rollout row carries four
jobs — analysis, the failure message (notify), the recovery reply and the in-place update of the
message — each with a status, a lease and an attempt count. Work is claimed in a short transaction:
candidates are selected `FOR UPDATE SKIP LOCKED` (MariaDB ≥ 10.6 / MySQL 8; SQLite serialises writers
itself), stamped with a lease token and an expiry, and committed. The slow work runs outside any
transaction; its result is written only while the lease token still matches (compare-and-set), so a
worker whose lease expired can never overwrite the new holder's result. Functions here never commit:
the caller owns the transaction (`async with db.session() as s`).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from fyr.db.base import utcnow
from fyr.errors import LeaseLost
from fyr.models.analysis import Analysis, AnalysisMetric, AnalysisResult
from fyr.models.rollout import AnalysisStatus, NotifyStatus, Rollout


class Queue(enum.Enum):
    ANALYSIS = "analysis"
    NOTIFY = "notify"
    RECOVERY = "recovery"
    UPDATE = "update"  # edit the top Slack message in place


@dataclass(frozen=True)
class _QueueColumns:
    status: InstrumentedAttribute[Any]
    owner: InstrumentedAttribute[Any]
    expires: InstrumentedAttribute[Any]
    attempts: InstrumentedAttribute[Any]
    next_at: InstrumentedAttribute[Any]
    error: InstrumentedAttribute[Any]
    pending: enum.StrEnum
    done: enum.StrEnum
    failed: enum.StrEnum


_COLUMNS: dict[Queue, _QueueColumns] = {
    Queue.ANALYSIS: _QueueColumns(
        Rollout.analysis_status, Rollout.analysis_lease_owner, Rollout.analysis_lease_expires_at,
        Rollout.analysis_attempts, Rollout.analysis_next_attempt_at, Rollout.analysis_error,
        AnalysisStatus.PENDING, AnalysisStatus.DONE, AnalysisStatus.FAILED,
    ),
    Queue.NOTIFY: _QueueColumns(
        Rollout.notify_status, Rollout.notify_lease_owner, Rollout.notify_lease_expires_at,
        Rollout.notify_attempts, Rollout.notify_next_attempt_at, Rollout.notify_error,
        NotifyStatus.PENDING, NotifyStatus.SENT, NotifyStatus.FAILED,
    ),
    Queue.RECOVERY: _QueueColumns(
        Rollout.recovery_status, Rollout.recovery_lease_owner, Rollout.recovery_lease_expires_at,
        Rollout.recovery_attempts, Rollout.recovery_next_attempt_at, Rollout.recovery_error,
        NotifyStatus.PENDING, NotifyStatus.SENT, NotifyStatus.FAILED,
    ),
    Queue.UPDATE: _QueueColumns(
        Rollout.update_status, Rollout.update_lease_owner, Rollout.update_lease_expires_at,
        Rollout.update_attempts, Rollout.update_next_attempt_at, Rollout.update_error,
        NotifyStatus.PENDING, NotifyStatus.SENT, NotifyStatus.FAILED,
    ),
}


@dataclass(frozen=True)
class Claim:
    queue: Queue
    rollout_id: int
    token: str
    attempt: int


def new_token(owner: str) -> str:
    return f"{owner[:40]}:{uuid.uuid4().hex[:16]}"


def _claimable(queue: Queue, now: datetime) -> Any:
    c = _COLUMNS[queue]
    cond = and_(
        c.status == c.pending,
        or_(c.next_at.is_(None), c.next_at <= now),
        or_(c.owner.is_(None), c.expires < now),
    )
    if queue in (Queue.RECOVERY, Queue.UPDATE):
        # A recovery reply threads under the failure message, and an update edits it: it must exist first.
        cond = and_(cond, Rollout.notify_status == NotifyStatus.SENT)
    return cond


async def request_update(session: AsyncSession, where: Any, *, at: datetime | None = None) -> list[int]:
    """Queue an in-place update of the top message of every sent failure matching `where`.

    An update re-renders the message from the rows as they are when it runs, so asking twice before
    it runs costs one edit; asking while one runs queues one more: the attempt count is reset and the
    lease left alone, and the running edit's end hands the row back pending (`_finish`).

    A failure message being sent right now (its notify job leased, its ts not recorded yet) may have
    been drawn before the change asked for: it is queued too, and its update waits for the message
    (`_claimable`); if the message turns out to be a reply, or is never sent, the request is dropped
    (`complete_notify`, `give_up`)."""
    when = at or utcnow()
    sent = and_(Rollout.slack_ts.is_not(None), Rollout.slack_thread_ts.is_(None))
    in_flight = and_(Rollout.slack_ts.is_(None), Rollout.notify_status == NotifyStatus.PENDING,
                     Rollout.notify_lease_owner.is_not(None))
    cond = and_(where, or_(sent, in_flight))
    ids = list((await session.execute(select(Rollout.id).where(cond))).scalars())
    if ids:
        await session.execute(
            update(Rollout).where(Rollout.id.in_(ids))
            .values(update_status=NotifyStatus.PENDING, update_next_attempt_at=when, update_attempts=0)
            .execution_options(synchronize_session=False)
        )
    return ids


async def claim(
    session: AsyncSession,
    queue: Queue,
    *,
    owner: str,
    limit: int,
    lease_seconds: float,
    max_attempts: int,
    cluster: str | None = None,
    now: datetime | None = None,
) -> list[Claim]:
    """Lease up to `limit` rows of `queue`; rows whose last attempt's lease ran out are given up.

    `cluster` limits the claim to one cluster's rollouts: an analyzer can only collect from the
    cluster it runs in, while several clusters share one database.
    """
    c = _COLUMNS[queue]
    now = now or utcnow()
    where = _claimable(queue, now)
    if cluster is not None:
        where = and_(where, Rollout.cluster == cluster)
    candidates = (
        select(Rollout.id, c.attempts)
        .where(where)
        .order_by(c.next_at, Rollout.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = (await session.execute(candidates)).all()
    exhausted = [rid for rid, attempts in rows if (attempts or 0) >= max_attempts]
    ids = [rid for rid, attempts in rows if (attempts or 0) < max_attempts]
    if exhausted:
        values: dict[str, Any] = {
            c.status.key: c.failed, c.owner.key: None, c.expires.key: None,
            c.error.key: f"gave up after {max_attempts} attempts without a result",
            "updated_at": now,
        }
        await session.execute(
            update(Rollout).where(Rollout.id.in_(exhausted)).values(**values)
            .execution_options(synchronize_session=False)
        )
        if queue is Queue.ANALYSIS:
            await _queue_notification(session, exhausted, at=now)
    if not ids:
        return []
    token = new_token(owner)
    await session.execute(
        update(Rollout)
        .where(Rollout.id.in_(ids), _claimable(queue, now))
        .values({
            c.owner: token, c.expires: now + timedelta(seconds=lease_seconds), c.attempts: c.attempts + 1,
        })
        .execution_options(synchronize_session=False)
    )
    got = (await session.execute(select(Rollout.id, c.attempts).where(c.owner == token))).all()
    return [Claim(queue, rid, token, attempts) for rid, attempts in sorted(got)]


async def _cas(session: AsyncSession, claim_: Claim, values: Mapping[Any, Any], *also: Any) -> bool:
    """Write `values` only while the claim's lease token is still on the row (and `also` holds).

    False when only `also` failed; LeaseLost when the lease is gone."""
    c = _COLUMNS[claim_.queue]
    held = (Rollout.id == claim_.rollout_id, c.owner == claim_.token, c.status == c.pending)
    result = await session.execute(
        update(Rollout).where(*held, *also).values(dict(values)).execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) == 1:
        return True
    if also and (await session.execute(select(Rollout.id).where(*held))).first() is not None:
        return False
    raise LeaseLost(f"rollout {claim_.rollout_id}: {claim_.queue.value} lease no longer held")


async def _finish(session: AsyncSession, claim_: Claim, values: Mapping[Any, Any]) -> None:
    """Write a claim's end (`values`), unless it is an update asked for again while it ran.

    An update renders the rows as they were when it was claimed. A request made after that
    (`request_update` resets the attempt count, leaving the lease alone) needs one more edit: the row
    is handed back still pending instead of closed, so it runs again after this one, never beside it.
    """
    if claim_.queue is not Queue.UPDATE:
        await _cas(session, claim_, values)
        return
    c = _COLUMNS[Queue.UPDATE]
    if not await _cas(session, claim_, values, c.attempts == claim_.attempt):
        await _cas(session, claim_, {c.owner: None, c.expires: None})


async def extend_lease(session: AsyncSession, claim_: Claim, *, lease_seconds: float) -> None:
    c = _COLUMNS[claim_.queue]
    await _cas(session, claim_, {c.expires: utcnow() + timedelta(seconds=lease_seconds)})


async def complete_analysis(
    session: AsyncSession,
    claim_: Claim,
    *,
    analysis: AnalysisResult,
    reduced_context: Mapping[str, Any],
    signature: str | None,
    metrics: Mapping[str, Any],
    reused_from_id: int | None = None,
) -> int:
    """Store the analysis and its metrics, mark DONE and queue the notification; returns the analysis id."""
    if claim_.queue is not Queue.ANALYSIS:
        raise ValueError("complete_analysis takes an analysis claim")
    now = utcnow()
    c = _COLUMNS[Queue.ANALYSIS]
    await _cas(session, claim_, {
        c.status: AnalysisStatus.DONE, c.owner: None, c.expires: None, c.error: None,
        Rollout.failure_signature: signature, Rollout.updated_at: now,
    })
    row = Analysis(
        rollout_id=claim_.rollout_id, model_name=analysis.model_name, prompt_version=analysis.prompt_version,
        reduced_context=dict(reduced_context), analysis=analysis.model_dump(mode="json"),
        signature=signature, reused_from_id=reused_from_id, created_at=now,
    )
    session.add(row)
    await session.flush()
    session.add(AnalysisMetric(
        analysis_id=row.id, rollout_id=claim_.rollout_id,
        model_name=str(metrics.get("model_name", analysis.model_name)),
        tokens_in=int(metrics.get("tokens_in", 0)), tokens_out=int(metrics.get("tokens_out", 0)),
        context_tokens=int(metrics.get("context_tokens", 0)), latency_s=float(metrics.get("latency_s", 0.0)),
        cost_usd=float(metrics.get("cost_usd", 0.0)), attempts=int(metrics.get("attempts", claim_.attempt)),
        reused=bool(metrics.get("reused", reused_from_id is not None)),
        fallback=bool(metrics.get("fallback", False)), created_at=now,
    ))
    await session.execute(
        update(Rollout).where(Rollout.id == claim_.rollout_id)
        .values(analysis_id=row.id)
        .execution_options(synchronize_session=False)
    )
    await _queue_notification(session, [claim_.rollout_id], at=now)
    # A re-analysis of a rollout whose message is out: the message is edited with the new result.
    await session.execute(
        update(Rollout).where(Rollout.id == claim_.rollout_id).values(analysis_fresh=False)
        .execution_options(synchronize_session=False))
    await request_update(session, Rollout.id == claim_.rollout_id, at=now)
    return row.id


_NO_UPDATE: dict[Any, Any] = {Rollout.update_status: None, Rollout.update_next_attempt_at: None}


async def complete_notify(
    session: AsyncSession, claim_: Claim, *, channel: str, ts: str, thread_ts: str | None = None,
    team: str | None = None,
) -> None:
    """Record a delivered message (NOTIFY: the failure message; RECOVERY: the reply).

    `team`: the team the message named (explicit or from the routing file), kept for the history.
    """
    c = _COLUMNS[claim_.queue]
    values: dict[Any, Any] = {c.status: c.done, c.owner: None, c.expires: None, c.error: None,
                              Rollout.updated_at: utcnow()}
    if claim_.queue is Queue.NOTIFY:
        values.update({Rollout.slack_channel_sent: channel, Rollout.slack_ts: ts,
                       Rollout.slack_thread_ts: thread_ts, Rollout.team_sent: team})
        if thread_ts:  # a repeat (or muted) reply: the top message's counter goes up
            values.update(_NO_UPDATE)  # a reply is never edited: drop what was asked while it was sent
            await request_update(session, and_(Rollout.slack_ts == thread_ts, Rollout.slack_channel_sent == channel))
    elif claim_.queue not in (Queue.RECOVERY, Queue.UPDATE):
        raise ValueError("complete_notify takes a notify, recovery or update claim")
    await _finish(session, claim_, values)


async def release(session: AsyncSession, queue: Queue, claim_: Claim, *, error: str, retry_in: float) -> None:
    """Give the row back to the pool, to be tried again after `retry_in` seconds."""
    c = _COLUMNS[queue]
    await _cas(session, claim_, {
        c.owner: None, c.expires: None, c.error: error[:4000],
        c.next_at: utcnow() + timedelta(seconds=max(0.0, retry_in)),
    })


async def give_up(session: AsyncSession, queue: Queue, claim_: Claim, *, error: str) -> None:
    """Mark the queue FAILED with the error kept; a failed analysis still queues the notification."""
    c = _COLUMNS[queue]
    now = utcnow()
    values: dict[Any, Any] = {c.status: c.failed, c.owner: None, c.expires: None, c.error: error[:4000],
                              Rollout.updated_at: now}
    if queue is Queue.NOTIFY:
        values.update(_NO_UPDATE)  # no message to edit
    await _finish(session, claim_, values)
    if queue is Queue.ANALYSIS:
        await _queue_notification(session, [claim_.rollout_id], at=now)


async def _queue_notification(session: AsyncSession, rollout_ids: Sequence[int], *, at: datetime) -> None:
    """An analysis is finished (done, failed, or given up): queue the failure message of each of these
    rollouts that has none queued or sent yet (a re-analysis edits the message instead)."""
    await session.execute(
        update(Rollout).where(Rollout.id.in_(list(rollout_ids)), Rollout.notify_status.is_(None))
        .values(notify_status=NotifyStatus.PENDING, notify_next_attempt_at=at)
        .execution_options(synchronize_session=False)
    )
