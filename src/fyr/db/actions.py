"""Slack actions: the audit trail, mutes, re-analysis requests, and the state a message shows.

The ingestor records a click and its effect in one transaction (the click's dedupe key is unique,
so Slack's retry of the same request, or a second ingestor receiving it, has one effect). The
notifier reads the incident's state here when it edits the top message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fyr.db.base import utcnow
from fyr.db.queue import request_update
from fyr.db.rollouts import same_workload
from fyr.models.actions import RolloutAction, WorkloadMute
from fyr.models.rollout import AnalysisStatus, Rollout, RolloutStatus


async def record_action(session: AsyncSession, *, rollout_id: int, action: str, user_id: str,
                        user_name: str | None, dedupe_key: str, detail: str | None = None) -> bool:
    """Insert the audit row; False when this click was recorded before (nothing else to do)."""
    row = RolloutAction(rollout_id=rollout_id, action=action, slack_user_id=user_id[:64],
                        slack_user_name=(user_name or None) and user_name[:255], dedupe_key=dedupe_key[:128],
                        detail=detail, created_at=utcnow())
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


async def list_actions(session: AsyncSession, rollout_id: int) -> list[RolloutAction]:
    stmt = select(RolloutAction).where(RolloutAction.rollout_id == rollout_id).order_by(RolloutAction.id)
    return list((await session.execute(stmt)).scalars())


async def request_reanalysis(session: AsyncSession, rollout: Rollout) -> None:
    """Queue a fresh analysis (new bundle, the model when configured, no reuse); its result edits
    the message instead of posting a new one."""
    now = utcnow()
    await session.execute(
        update(Rollout).where(Rollout.id == rollout.id).values(
            analysis_status=AnalysisStatus.PENDING, analysis_attempts=0, analysis_next_attempt_at=now,
            analysis_lease_owner=None, analysis_lease_expires_at=None, analysis_error=None,
            analysis_fresh=True, updated_at=now,
        ).execution_options(synchronize_session=False))


async def mute(session: AsyncSession, rollout: Rollout, *, user_id: str, hours: float) -> datetime:
    now = utcnow()
    until = now + timedelta(hours=hours)
    stmt = select(WorkloadMute).where(WorkloadMute.cluster == rollout.cluster,
                                      WorkloadMute.namespace == rollout.namespace,
                                      WorkloadMute.deployment == rollout.deployment).with_for_update()
    row = (await session.execute(stmt)).scalars().first()
    if row is None:
        try:
            async with session.begin_nested():
                session.add(WorkloadMute(cluster=rollout.cluster, namespace=rollout.namespace,
                                         deployment=rollout.deployment, muted_until=until, muted_by=user_id[:64],
                                         rollout_id=rollout.id, created_at=now))
        except IntegrityError:
            row = (await session.execute(stmt)).scalars().first()
    if row is not None:
        row.muted_until, row.muted_by, row.rollout_id, row.created_at = until, user_id[:64], rollout.id, now
    await request_update(session, and_(same_workload(rollout), Rollout.failed_at.is_not(None)), at=now)
    return until


async def unmute(session: AsyncSession, rollout: Rollout) -> None:
    await session.execute(delete(WorkloadMute).where(
        WorkloadMute.cluster == rollout.cluster, WorkloadMute.namespace == rollout.namespace,
        WorkloadMute.deployment == rollout.deployment).execution_options(synchronize_session=False))
    await request_update(session, and_(same_workload(rollout), Rollout.failed_at.is_not(None)))


async def active_mute(session: AsyncSession, rollout: Rollout, *, now: datetime | None = None) -> WorkloadMute | None:
    stmt = select(WorkloadMute).where(
        WorkloadMute.cluster == rollout.cluster, WorkloadMute.namespace == rollout.namespace,
        WorkloadMute.deployment == rollout.deployment, WorkloadMute.muted_until > (now or utcnow()))
    return (await session.execute(stmt)).scalars().first()


@dataclass(frozen=True)
class IncidentState:
    """What the top message says at a glance, read from the rows when the message is (re)drawn."""

    state: str  # failed | recovered | fixed | superseded
    at: datetime | None = None
    by_generation: int | None = None
    by_commit: str | None = None
    repeats: int = 0  # later failures replied in this message's thread
    last_repeat_at: datetime | None = None
    muted_until: datetime | None = None
    muted_by: str | None = None


async def incident_state(session: AsyncSession, rollout: Rollout) -> IncidentState:
    mute_row = await active_mute(session, rollout)
    muted = {"muted_until": mute_row.muted_until, "muted_by": mute_row.muted_by} if mute_row else {}
    repeats, last = 0, None
    if rollout.slack_ts and rollout.slack_channel_sent:
        count, last = (await session.execute(
            select(func.count(), func.max(Rollout.failed_at)).where(
                Rollout.slack_thread_ts == rollout.slack_ts, Rollout.slack_channel_sent == rollout.slack_channel_sent,
                Rollout.id != rollout.id))).one()
        repeats = int(count or 0)
    extra: dict[str, Any] = {"repeats": repeats, "last_repeat_at": last, **muted}
    if rollout.status == RolloutStatus.SUCCESS:
        return IncidentState("recovered", at=rollout.completed_at, **extra)
    newer = (await session.execute(
        select(Rollout.generation, Rollout.status, Rollout.git_commit, Rollout.completed_at, Rollout.started_at)
        .where(same_workload(rollout), Rollout.generation > rollout.generation)
        .order_by(Rollout.generation.desc()).limit(20))).all()
    fixed = [n for n in newer if n.status == RolloutStatus.SUCCESS]
    if fixed:
        first = min(fixed, key=lambda n: n.generation)
        return IncidentState("fixed", at=first.completed_at, by_generation=first.generation,
                             by_commit=first.git_commit, **extra)
    if newer:
        latest = newer[0]
        return IncidentState("superseded", at=latest.started_at, by_generation=latest.generation,
                             by_commit=latest.git_commit, **extra)
    return IncidentState("failed", at=rollout.failed_at, **extra)


async def previous_healthy(session: AsyncSession, rollout: Rollout) -> Rollout | None:
    """The newest successful generation of the workload before this one that has a revision."""
    stmt = (select(Rollout).where(same_workload(rollout), Rollout.generation < rollout.generation,
                                  Rollout.status == RolloutStatus.SUCCESS, Rollout.revision.is_not(None),
                                  Rollout.revision != rollout.revision)
            .order_by(Rollout.generation.desc()).limit(1))
    return (await session.execute(stmt)).scalars().first()
