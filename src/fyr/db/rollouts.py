"""Rollouts: the only SQL that records rollouts and moves them through the state machine.

A rollout is one generation of one workload (docs/architecture.md 'Rollout state machine'); the legal
moves are fyr.core.rollout_state's, enforced here by `transition`. Functions here never commit: the
caller owns the transaction (`async with db.session() as s`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fyr.core.rollout_state import OPEN, require_transition
from fyr.db.base import utcnow
from fyr.db.queue import request_update
from fyr.models.rollout import AnalysisStatus, NotifyStatus, Origin, Rollout, RolloutStatus

S = RolloutStatus

# Deployment annotations that carry GitLab metadata (docs/architecture.md 'GitLab correlation', docs/wire-formats.md
# 'Annotations and CI variables').
ANNOTATION_FIELDS: dict[str, str] = {
    "app.gitlab.com/app": "gitlab_app",
    "app.gitlab.com/env": "gitlab_env",
    "fyr.dev/git-commit": "git_commit",
    "fyr.dev/pipeline-url": "pipeline_url",
    "fyr.dev/mr-url": "mr_url",
    "fyr.dev/team": "team",
    "fyr.dev/slack-channel": "slack_channel",
    "fyr.dev/git-project": "git_project",
}
_GIT_FIELDS = frozenset({"git_commit", "pipeline_url", "mr_url", "git_project"})


@dataclass(frozen=True)
class RolloutKey:
    """One rollout: a generation of one workload (`deployment` is its name, whatever its kind).
    uid '' means unknown (rows from before migration 0003, or a caller that has none)."""

    cluster: str
    namespace: str
    deployment: str
    generation: int
    kind: str = "Deployment"
    uid: str = ""


def _key_filter(key: RolloutKey, uid: str | None = None) -> Any:
    return and_(
        Rollout.cluster == key.cluster,
        Rollout.kind == key.kind,
        Rollout.namespace == key.namespace,
        Rollout.deployment == key.deployment,
        Rollout.uid == (key.uid if uid is None else uid),
        Rollout.generation == key.generation,
    )


async def get_by_key(session: AsyncSession, key: RolloutKey, *, latest: bool = False) -> Rollout | None:
    stmt = select(Rollout).where(_key_filter(key))
    if latest:
        # A shared-lock read sees the latest committed row (not our REPEATABLE READ snapshot). Shared, not
        # exclusive: every loser of an insert race already holds a shared lock from its duplicate-key check,
        # and asking for an exclusive one there deadlocks them against each other.
        stmt = stmt.with_for_update(read=True)
    return (await session.execute(stmt)).scalar_one_or_none()


def apply_annotations(rollout: Rollout, annotations: Mapping[str, str]) -> bool:
    """Fill rollout fields from Deployment annotations; annotations win over nothing, never over data."""
    changed = False
    for name, field in ANNOTATION_FIELDS.items():
        value = annotations.get(name)
        if value and getattr(rollout, field) is None:
            setattr(rollout, field, value.strip()[:255] if field not in ("pipeline_url", "mr_url") else value)
            changed = True
            if field in _GIT_FIELDS and rollout.origin == Origin.K8S:
                rollout.origin = Origin.MIXED
    return changed


async def record_generation(
    session: AsyncSession,
    key: RolloutKey,
    *,
    status: RolloutStatus = RolloutStatus.PENDING,
    revision: int | None = None,
    image: str | None = None,
    started_at: datetime | None = None,
    annotations: Mapping[str, str] | None = None,
) -> tuple[Rollout, bool]:
    """Insert-or-get on the unique key: concurrent callers for one key end with one row. Returns the
    row and whether this call inserted it. For a row it inserted the caller then, in the same
    transaction and in this order, joins the staged GitLab metadata to it
    (fyr.db.gitlab.attach_staged) and calls `update_older_failures`.

    A row of the same generation whose uid is unknown ('', written before uids were recorded) is the
    same rollout: it is adopted (its uid filled in) instead of a second row being inserted."""
    existing = await get_by_key(session, key)
    if existing is None and key.uid:
        legacy = (await session.execute(select(Rollout).where(_key_filter(key, uid="")))).scalar_one_or_none()
        if legacy is not None:
            legacy.uid = key.uid
            existing = legacy
    if existing is None:
        now = utcnow()
        row = Rollout(
            cluster=key.cluster, kind=key.kind, namespace=key.namespace, deployment=key.deployment,
            uid=key.uid, generation=key.generation, status=status, origin=Origin.K8S, revision=revision,
            image=image, started_at=started_at or now, updated_at=now,
            analysis_attempts=0, notify_attempts=0, recovery_attempts=0,
        )
        apply_annotations(row, annotations or {})
        try:
            async with session.begin_nested():
                session.add(row)
        except IntegrityError:
            # Another writer inserted the same key between our read and our insert: take theirs.
            existing = await get_by_key(session, key, latest=True)
            if existing is None:
                raise
        else:
            return row, True
    changed = apply_annotations(existing, annotations or {})
    if revision is not None and existing.revision is None:
        existing.revision, changed = revision, True
    if image and existing.image is None:
        existing.image, changed = image, True
    if changed:
        existing.updated_at = utcnow()
    return existing, False


async def update_older_failures(session: AsyncSession, rollout: Rollout) -> list[int]:
    """A newer generation was recorded: the failure messages of the older ones still failing are
    edited to say it superseded them. Returns their ids."""
    return await request_update(session, and_(same_workload(rollout), Rollout.generation < rollout.generation,
                                              Rollout.status == S.FAILED))


def new_rollout(key: RolloutKey, *, status: RolloutStatus, at: datetime, revision: int | None = None,
                image: str | None = None, annotations: Mapping[str, str] | None = None,
                reason: str | None = None, message: str | None = None) -> Rollout:
    """A rollout row born in its current status (the bulk first-sync path): the fields `transition`
    sets from PENDING to `status` (`_enter`), without a flush per row."""
    now = utcnow()
    row = Rollout(cluster=key.cluster, kind=key.kind, namespace=key.namespace, deployment=key.deployment,
                  uid=key.uid, generation=key.generation, status=status, origin=Origin.K8S, revision=revision,
                  image=image, started_at=at, updated_at=now, analysis_attempts=0, notify_attempts=0,
                  recovery_attempts=0)
    apply_annotations(row, annotations or {})
    _enter(row, S.PENDING, status, when=at, reason=reason, message=message)
    return row


_INSERT_COLUMNS = tuple(c.key for c in Rollout.__table__.columns if c.key != "id")


async def insert_rollouts(session: AsyncSession, rows: Sequence[Rollout]) -> None:
    """One multi-row INSERT (Core executemany) of rows built by new_rollout, without the ORM's unit
    of work per object: 10,000 first-sync rows are one statement per batch. The values are read from
    each new object's own `__dict__` (what it was given; None for the rest, as an unset attribute
    reads), not through the instrumented attributes."""
    if rows:
        await session.execute(insert(Rollout), [{k: d.get(k) for k in _INSERT_COLUMNS}
                                                for d in (r.__dict__ for r in rows)])


async def workloads_with_rows(session: AsyncSession, cluster: str,
                              refs: Sequence[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """Which of these (kind, namespace, name) already have any rollout row in the cluster."""
    if not refs:
        return set()
    names = sorted({r[2] for r in refs})
    stmt = select(Rollout.kind, Rollout.namespace, Rollout.deployment).where(
        Rollout.cluster == cluster, Rollout.deployment.in_(names)).distinct()
    wanted = set(refs)
    return {(k, ns, n) for k, ns, n in (await session.execute(stmt)).all() if (k, ns, n) in wanted}


async def transition(
    session: AsyncSession,
    rollout: Rollout,
    new: RolloutStatus,
    *,
    reason: str | None = None,
    message: str | None = None,
    at: datetime | None = None,
) -> bool:
    """Move a rollout; False when it is already there, IllegalTransition when the state machine
    (fyr.core.rollout_state) does not allow the move."""
    old = RolloutStatus(rollout.status)
    if old == new:
        return False
    require_transition(old, new, what=f"rollout {rollout.id}")
    when = at or utcnow()
    rollout.status = new
    rollout.updated_at = utcnow()
    _enter(rollout, old, new, when=when, reason=reason, message=message)
    await session.flush()
    if new == S.SUCCESS:
        # This generation fixed the older ones still shown as failed; a recovery edits its own message.
        await request_update(session, and_(same_workload(rollout), Rollout.generation <= rollout.generation,
                                           Rollout.failed_at.is_not(None)), at=when)
    elif new == S.SUPERSEDED and old == S.FAILED:
        await request_update(session, Rollout.id == rollout.id, at=when)
    return True


def _enter(rollout: Rollout, old: RolloutStatus, new: RolloutStatus, *, when: datetime,
           reason: str | None, message: str | None) -> None:
    """The fields a rollout entering `new` from `old` gets besides its status: the timestamps, the
    failure and the jobs it queues (an analysis for a failure, a reply for a recovery)."""
    if new == S.ROLLING_OUT and rollout.started_at is None:
        rollout.started_at = when
    elif new == S.FAILED:
        rollout.failed_at = when
        rollout.failure_reason = (reason or "")[:255] or None
        rollout.failure_message = message
        rollout.analysis_status = AnalysisStatus.PENDING
        rollout.analysis_next_attempt_at = when
    elif new == S.SUCCESS:
        rollout.completed_at = when
        if old == S.FAILED:
            # Recovered: failed_at stays; the thread of the failure message gets a short reply.
            rollout.recovery_status = NotifyStatus.PENDING
            rollout.recovery_next_attempt_at = when
    elif new in (S.SUPERSEDED, S.DELETED):
        rollout.superseded_at = when


async def supersede_older(session: AsyncSession, key: RolloutKey, *, at: datetime | None = None) -> list[int]:
    """Older generations of the workload (same uid, or uid unknown) that never finished become SUPERSEDED."""
    cond = and_(
        Rollout.cluster == key.cluster,
        Rollout.kind == key.kind,
        Rollout.namespace == key.namespace,
        Rollout.deployment == key.deployment,
        Rollout.uid.in_([key.uid, ""]),
        Rollout.generation < key.generation,
        Rollout.status.in_(OPEN),
    )
    ids = list((await session.execute(select(Rollout.id).where(cond).with_for_update())).scalars())
    if ids:
        when = at or utcnow()
        await session.execute(
            update(Rollout).where(Rollout.id.in_(ids), Rollout.status.in_(OPEN))
            .values(status=S.SUPERSEDED, superseded_at=when, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    return ids


async def close_deleted(session: AsyncSession, cluster: str, kind: str, namespace: str, name: str, *,
                       uids: Sequence[str] | None = None, except_uids: Sequence[str] = (),
                       at: datetime | None = None) -> list[int]:
    """Open rollouts of a workload that went away become DELETED (never a failure, never notified).

    `uids`: only the rollouts of these uids (the deleted workload's, and '' for rows of unknown uid);
    `except_uids`: a workload re-created under the same name keeps its own open rollouts while those
    of its predecessors are closed."""
    cond = and_(Rollout.cluster == cluster, Rollout.kind == kind, Rollout.namespace == namespace,
                Rollout.deployment == name, Rollout.status.in_(OPEN))
    if uids is not None:
        cond = and_(cond, Rollout.uid.in_(list(uids)))
    if except_uids:
        cond = and_(cond, Rollout.uid.not_in(list(except_uids)))
    ids = list((await session.execute(select(Rollout.id).where(cond).with_for_update())).scalars())
    if ids:
        when = at or utcnow()
        await session.execute(
            update(Rollout).where(Rollout.id.in_(ids), Rollout.status.in_(OPEN))
            .values(status=S.DELETED, superseded_at=when, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    return ids


def same_workload(rollout: Rollout) -> Any:
    return and_(Rollout.cluster == rollout.cluster, Rollout.namespace == rollout.namespace,
                Rollout.deployment == rollout.deployment)


# --- reads ---------------------------------------------------------------------------------------


async def get_rollout(session: AsyncSession, rollout_id: int) -> Rollout | None:
    return await session.get(Rollout, rollout_id, populate_existing=True)


async def list_rollouts(
    session: AsyncSession,
    *,
    statuses: Sequence[RolloutStatus] = (),
    team: str | None = None,
    since: datetime | None = None,
    cluster: str | None = None,
    limit: int = 100,
) -> list[Rollout]:
    stmt = select(Rollout).order_by(Rollout.id.desc()).limit(limit)
    if statuses:
        stmt = stmt.where(Rollout.status.in_(list(statuses)))
    if team:
        stmt = stmt.where(or_(Rollout.team == team, Rollout.team_sent == team))
    if since:
        stmt = stmt.where(Rollout.started_at >= since)
    if cluster:
        stmt = stmt.where(Rollout.cluster == cluster)
    return list((await session.execute(stmt)).scalars())
