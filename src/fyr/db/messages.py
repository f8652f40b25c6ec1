"""The Slack messages' reads: what a message shows, and which earlier message a repeat failure
threads under. Read-only: the notifier records a delivered message with fyr.db.queue.complete_notify.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fyr.db.base import utcnow
from fyr.models.analysis import Analysis, AnalysisMetric
from fyr.models.rollout import NotifyStatus, Rollout


@dataclass(frozen=True)
class MessageRows:
    rollout: Rollout
    analysis: Analysis | None
    metric: AnalysisMetric | None


@dataclass(frozen=True)
class ThreadParent:
    """The earlier top-level message a repeat failure replies under."""

    rollout_id: int
    channel: str
    thread_ts: str


async def load_message_rows(session: AsyncSession, rollout_id: int) -> MessageRows | None:
    rollout = await session.get(Rollout, rollout_id, populate_existing=True)
    if rollout is None:
        return None
    analysis: Analysis | None = None
    if rollout.analysis_id is not None:
        analysis = await session.get(Analysis, rollout.analysis_id)
    if analysis is None:
        stmt = select(Analysis).where(Analysis.rollout_id == rollout_id).order_by(Analysis.id.desc()).limit(1)
        analysis = (await session.execute(stmt)).scalars().first()
    metric: AnalysisMetric | None = None
    if analysis is not None:
        mstmt = (select(AnalysisMetric).where(AnalysisMetric.analysis_id == analysis.id)
                 .order_by(AnalysisMetric.id).limit(1))
        metric = (await session.execute(mstmt)).scalars().first()
    return MessageRows(rollout, analysis, metric)


async def find_thread_parent(session: AsyncSession, rollout: Rollout, *, window_seconds: float) -> ThreadParent | None:
    """The most recent SENT message of the same workload (kind and name) with the same failure
    signature within the window; its thread (a reply's own thread_ts, else its ts) is where a repeat goes."""
    if not rollout.failure_signature or window_seconds <= 0:
        return None
    since = (rollout.failed_at or utcnow()) - timedelta(seconds=window_seconds)
    stmt = (
        select(Rollout.id, Rollout.slack_channel_sent, Rollout.slack_ts, Rollout.slack_thread_ts)
        .where(
            Rollout.cluster == rollout.cluster,
            Rollout.kind == rollout.kind,
            Rollout.namespace == rollout.namespace,
            Rollout.deployment == rollout.deployment,
            Rollout.failure_signature == rollout.failure_signature,
            Rollout.id != rollout.id,
            Rollout.notify_status == NotifyStatus.SENT,
            Rollout.slack_ts.is_not(None),
            Rollout.slack_channel_sent.is_not(None),
            Rollout.failed_at >= since,
        )
        .order_by(Rollout.failed_at.desc(), Rollout.id.desc())
        .limit(1)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    rid, channel, ts, thread_ts = row
    return ThreadParent(rollout_id=rid, channel=str(channel), thread_ts=str(thread_ts or ts))


async def find_workload_thread(session: AsyncSession, rollout: Rollout) -> ThreadParent | None:
    """The first sent top-level failure message of the workload still being shown (for a muted
    workload, later failures go into its thread)."""
    stmt = (
        select(Rollout.id, Rollout.slack_channel_sent, Rollout.slack_ts)
        .where(
            Rollout.cluster == rollout.cluster, Rollout.namespace == rollout.namespace,
            Rollout.deployment == rollout.deployment, Rollout.id != rollout.id,
            Rollout.notify_status == NotifyStatus.SENT, Rollout.slack_ts.is_not(None),
            Rollout.slack_thread_ts.is_(None), Rollout.slack_channel_sent.is_not(None),
        )
        .order_by(Rollout.id.desc())
        .limit(1)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    rid, channel, ts = row
    return ThreadParent(rollout_id=rid, channel=str(channel), thread_ts=str(ts))
