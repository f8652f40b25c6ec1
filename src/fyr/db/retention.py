"""Retention: old webhook deliveries, staged GitLab metadata and rollout history are deleted.

Without it every delivery and every annotate call for a workload that never appears stays forever.
Three ages (settings, in days; 0 keeps forever): deliveries (only there to drop a repeated
delivery, which GitLab sends within minutes), staging (metadata waiting for a rollout that never
came), history (rollouts with their analyses and metrics).

Deletes run in batches of `batch_size` rows, each batch its own short transaction, selected through
an index on the timestamp (migration 0002), so pruning never holds many locks or scans a table.
History keeps, whatever their age: the newest generation of every Deployment (the watcher reads it
back on start; deleting it would make a long-failed rollout look new and notify again) and any row
still waiting in a queue.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, delete, exists, or_, select
from sqlalchemy.orm import aliased

from fyr.db.base import utcnow
from fyr.db.engine import Database
from fyr.models.analysis import Analysis, AnalysisMetric
from fyr.models.gitlab import GitlabMetadata, WebhookDelivery
from fyr.models.rollout import AnalysisStatus, NotifyStatus, Rollout, RolloutStatus
from fyr.runtime import run_loop
from fyr.settings import Settings

log = structlog.get_logger()


@dataclass(frozen=True)
class RetentionPolicy:
    """Ages in days (0: keep forever) and the batch size of one delete."""

    history_days: float = 90.0
    deliveries_days: float = 7.0
    staging_days: float = 30.0
    batch_size: int = 500

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(history_days=settings.retention_days, deliveries_days=settings.retention_deliveries_days,
                   staging_days=settings.retention_staging_days, batch_size=settings.retention_batch_size)


@dataclass
class Pruned:
    deliveries: int = 0
    staging: int = 0
    rollouts: int = 0
    analyses: int = 0
    batches: int = 0

    def total(self) -> int:
        return self.deliveries + self.staging + self.rollouts


def _cutoff(now: datetime, days: float) -> datetime | None:
    return now - timedelta(days=days) if days > 0 else None


async def _prune_by_age(db: Database, table: Any, stamp: Any, cutoff: datetime, batch: int, out: Pruned) -> int:
    deleted = 0
    while True:
        async with db.session() as s:
            ids = list((await s.execute(
                select(table.id).where(stamp < cutoff).order_by(stamp).limit(batch))).scalars())
            if ids:
                # The age again: a row refreshed since the select is no longer old.
                await s.execute(delete(table).where(table.id.in_(ids), stamp < cutoff)
                                .execution_options(synchronize_session=False))
        out.batches += bool(ids)
        deleted += len(ids)
        if len(ids) < batch:
            return deleted
        await asyncio.sleep(0)  # let the services' transactions in between batches


def _history_candidates(cutoff: datetime, batch: int) -> Any:
    newer = aliased(Rollout)
    return (
        select(Rollout.id)
        .where(
            Rollout.updated_at < cutoff,
            Rollout.status.in_([RolloutStatus.SUCCESS, RolloutStatus.FAILED, RolloutStatus.SUPERSEDED]),
            or_(Rollout.analysis_status.is_(None), Rollout.analysis_status != AnalysisStatus.PENDING),
            or_(Rollout.notify_status.is_(None), Rollout.notify_status != NotifyStatus.PENDING),
            or_(Rollout.recovery_status.is_(None), Rollout.recovery_status != NotifyStatus.PENDING),
            exists().where(and_(newer.cluster == Rollout.cluster, newer.namespace == Rollout.namespace,
                                newer.deployment == Rollout.deployment, newer.generation > Rollout.generation)),
        )
        .order_by(Rollout.updated_at)
        .limit(batch)
    )


async def _prune_history(db: Database, cutoff: datetime, batch: int, out: Pruned) -> None:
    while True:
        async with db.session() as s:
            ids = list((await s.execute(_history_candidates(cutoff, batch))).scalars())
            if ids:
                analysis_ids = list((await s.execute(
                    select(Analysis.id).where(Analysis.rollout_id.in_(ids)))).scalars())
                if analysis_ids:
                    await s.execute(delete(AnalysisMetric).where(AnalysisMetric.analysis_id.in_(analysis_ids))
                                    .execution_options(synchronize_session=False))
                    await s.execute(delete(Analysis).where(Analysis.id.in_(analysis_ids))
                                    .execution_options(synchronize_session=False))
                await s.execute(delete(Rollout).where(Rollout.id.in_(ids), Rollout.updated_at < cutoff)
                                .execution_options(synchronize_session=False))
                out.analyses += len(analysis_ids)
        out.batches += bool(ids)
        out.rollouts += len(ids)
        if len(ids) < batch:
            return
        await asyncio.sleep(0)


async def prune_once(db: Database, policy: RetentionPolicy, *, now: datetime | None = None) -> Pruned:
    """Delete everything older than the policy's ages, batch by batch; returns what went."""
    now = now or utcnow()
    out = Pruned()
    if (cut := _cutoff(now, policy.deliveries_days)) is not None:
        out.deliveries = await _prune_by_age(db, WebhookDelivery, WebhookDelivery.received_at, cut,
                                             policy.batch_size, out)
    if (cut := _cutoff(now, policy.staging_days)) is not None:
        out.staging = await _prune_by_age(db, GitlabMetadata, GitlabMetadata.updated_at, cut, policy.batch_size, out)
    if (cut := _cutoff(now, policy.history_days)) is not None:
        await _prune_history(db, cut, policy.batch_size, out)
    return out


async def run_pruner(*, settings: Settings, db: Database, stop: asyncio.Event) -> None:
    """Prune every `retention_interval_seconds` until `stop` (errors back off in `run_loop`)."""
    policy = RetentionPolicy.from_settings(settings)

    async def step() -> float:
        pruned = await prune_once(db, policy)
        if pruned.total():
            log.info("retention_pruned", deliveries=pruned.deliveries, staging=pruned.staging,
                     rollouts=pruned.rollouts, analyses=pruned.analyses, batches=pruned.batches)
        return settings.retention_interval_seconds

    await run_loop("retention", step, stop=stop)


__all__ = ["Pruned", "RetentionPolicy", "prune_once", "run_pruner"]
