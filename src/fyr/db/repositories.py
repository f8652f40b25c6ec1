"""Repositories: the only code that writes SQL for rollouts and analyses.

The database is the queue (docs/architecture.md 'The database is the queue'). Work is claimed in a short transaction:
candidates are selected `FOR UPDATE SKIP LOCKED` (MariaDB ≥ 10.6 / MySQL 8; SQLite serialises writers itself),
stamped with a lease token and an expiry, and committed. The slow work runs outside any
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

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from fyr.db.base import utcnow
from fyr.errors import IllegalTransition, LeaseLost
from fyr.models.analysis import Analysis, AnalysisMetric, AnalysisResult
from fyr.models.rollout import AnalysisStatus, NotifyStatus, Origin, Rollout, RolloutStatus

S = RolloutStatus

# Legal moves of the rollout state machine (docs/architecture.md 'Rollout state machine'). FAILED → SUCCESS is a
# recovery; SUCCESS and SUPERSEDED are final; FAILED is not superseded (it finished, as a failure).
_ALLOWED: dict[RolloutStatus, frozenset[RolloutStatus]] = {
    S.PENDING: frozenset({S.ROLLING_OUT, S.SUCCESS, S.FAILED, S.SUPERSEDED, S.DELETED}),
    S.ROLLING_OUT: frozenset({S.SUCCESS, S.FAILED, S.SUPERSEDED, S.DELETED}),
    S.FAILED: frozenset({S.SUCCESS}),
    S.SUCCESS: frozenset(),
    S.SUPERSEDED: frozenset(),
    S.DELETED: frozenset(),
}
OPEN = (S.PENDING, S.ROLLING_OUT)

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


def can_transition(old: RolloutStatus, new: RolloutStatus) -> bool:
    return new in _ALLOWED[old]


# --- recording rollouts ----------------------------------------------------------------------


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
) -> Rollout:
    """Insert-or-get on the unique key: concurrent callers for one key end with one row.

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
            from fyr.db.correlation import attach_staged

            await attach_staged(session, row)
            # A newer generation supersedes the failure messages of the older ones still failing.
            await request_update(session, and_(same_workload(row), Rollout.generation < row.generation,
                                               Rollout.status == S.FAILED))
            return row
    changed = apply_annotations(existing, annotations or {})
    if revision is not None and existing.revision is None:
        existing.revision, changed = revision, True
    if image and existing.image is None:
        existing.image, changed = image, True
    if changed:
        existing.updated_at = utcnow()
    return existing


def new_rollout(key: RolloutKey, *, status: RolloutStatus, at: datetime, revision: int | None = None,
                image: str | None = None, annotations: Mapping[str, str] | None = None,
                reason: str | None = None, message: str | None = None) -> Rollout:
    """A rollout row born in its current status (the bulk first-sync path): the fields `transition`
    would have set from PENDING to `status`, without a flush per row."""
    now = utcnow()
    row = Rollout(cluster=key.cluster, kind=key.kind, namespace=key.namespace, deployment=key.deployment,
                  uid=key.uid, generation=key.generation, status=status, origin=Origin.K8S, revision=revision,
                  image=image, started_at=at, updated_at=now, analysis_attempts=0, notify_attempts=0,
                  recovery_attempts=0)
    apply_annotations(row, annotations or {})
    if status == S.FAILED:
        row.failed_at = at
        row.failure_reason = (reason or "")[:255] or None
        row.failure_message = message
        row.analysis_status = AnalysisStatus.PENDING
        row.analysis_next_attempt_at = at
    elif status == S.SUCCESS:
        row.completed_at = at
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


async def nothing_staged(session: AsyncSession) -> bool:
    """True when no GitLab metadata waits for its rollout. A shared locking read: on an empty table it
    holds the whole range, so a webhook cannot stage a row until this transaction commits (and then
    its own rollout query sees what we inserted) — the same handshake as attach_staged's."""
    from fyr.models.gitlab import GitlabMetadata

    found = (await session.execute(select(GitlabMetadata.id).limit(1).with_for_update(read=True))).first()
    return found is None


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
    """Move a rollout; False when it is already there, IllegalTransition when the move is illegal."""
    old = RolloutStatus(rollout.status)
    if old == new:
        return False
    if not can_transition(old, new):
        raise IllegalTransition(f"rollout {rollout.id}: {old} -> {new} is not allowed")
    when = at or utcnow()
    rollout.status = new
    rollout.updated_at = utcnow()
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
    await session.flush()
    if new == S.SUCCESS:
        # This generation fixed the older ones still shown as failed; a recovery edits its own message.
        await request_update(session, and_(same_workload(rollout), Rollout.generation <= rollout.generation,
                                           Rollout.failed_at.is_not(None)), at=when)
    elif new == S.SUPERSEDED and old == S.FAILED:
        await request_update(session, Rollout.id == rollout.id, at=when)
    return True


async def supersede_older(session: AsyncSession, key: RolloutKey, *, at: datetime | None = None) -> list[int]:
    """Older generations of the workload (same uid, or uid unknown) that never finished become SUPERSEDED."""
    cond = and_(
        Rollout.cluster == key.cluster,
        Rollout.kind == key.kind,
        Rollout.namespace == key.namespace,
        Rollout.deployment == key.deployment,
        Rollout.uid.in_([key.uid, ""]),
        Rollout.generation < key.generation,
        Rollout.status.in_([S.PENDING, S.ROLLING_OUT]),
    )
    ids = list((await session.execute(select(Rollout.id).where(cond).with_for_update())).scalars())
    if ids:
        when = at or utcnow()
        await session.execute(
            update(Rollout).where(Rollout.id.in_(ids), Rollout.status.in_([S.PENDING, S.ROLLING_OUT]))
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


# --- the queues ------------------------------------------------------------------------------


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
    it runs costs one edit; asking while one runs queues one more (its lease is left alone)."""
    when = at or utcnow()
    cond = and_(where, Rollout.slack_ts.is_not(None), Rollout.slack_thread_ts.is_(None))
    ids = list((await session.execute(select(Rollout.id).where(cond))).scalars())
    if ids:
        await session.execute(
            update(Rollout).where(Rollout.id.in_(ids))
            .values(update_status=NotifyStatus.PENDING, update_next_attempt_at=when, update_attempts=0)
            .execution_options(synchronize_session=False)
        )
    return ids


def same_workload(rollout: Rollout) -> Any:
    return and_(Rollout.cluster == rollout.cluster, Rollout.namespace == rollout.namespace,
                Rollout.deployment == rollout.deployment)


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
        if queue is Queue.ANALYSIS:
            values["notify_status"] = NotifyStatus.PENDING
            values["notify_next_attempt_at"] = now
        await session.execute(
            update(Rollout).where(Rollout.id.in_(exhausted)).values(**values)
            .execution_options(synchronize_session=False)
        )
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


async def _cas(session: AsyncSession, claim_: Claim, values: Mapping[Any, Any]) -> None:
    """Write `values` only while the claim's lease token is still on the row."""
    c = _COLUMNS[claim_.queue]
    result = await session.execute(
        update(Rollout)
        .where(Rollout.id == claim_.rollout_id, c.owner == claim_.token, c.status == c.pending)
        .values(dict(values))
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise LeaseLost(f"rollout {claim_.rollout_id}: {claim_.queue.value} lease no longer held")


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
    await session.execute(
        update(Rollout).where(Rollout.id == claim_.rollout_id, Rollout.notify_status.is_(None))
        .values(notify_status=NotifyStatus.PENDING, notify_next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    # A re-analysis of a rollout whose message is out: the message is edited with the new result.
    await session.execute(
        update(Rollout).where(Rollout.id == claim_.rollout_id).values(analysis_fresh=False)
        .execution_options(synchronize_session=False))
    await request_update(session, Rollout.id == claim_.rollout_id, at=now)
    return row.id


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
            await request_update(session, and_(Rollout.slack_ts == thread_ts, Rollout.slack_channel_sent == channel))
    elif claim_.queue not in (Queue.RECOVERY, Queue.UPDATE):
        raise ValueError("complete_notify takes a notify, recovery or update claim")
    await _cas(session, claim_, values)
    if claim_.queue is Queue.RECOVERY:
        # The recovery may have come before the failure message was recorded: edit it now too.
        await request_update(session, Rollout.id == claim_.rollout_id)


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
    await _cas(session, claim_, {c.status: c.failed, c.owner: None, c.expires: None, c.error: error[:4000],
                                 Rollout.updated_at: now})
    if queue is Queue.ANALYSIS:
        await session.execute(
            update(Rollout).where(Rollout.id == claim_.rollout_id, Rollout.notify_status.is_(None))
            .values(notify_status=NotifyStatus.PENDING, notify_next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )


# --- reads -----------------------------------------------------------------------------------


async def get_rollout(session: AsyncSession, rollout_id: int) -> Rollout | None:
    return await session.get(Rollout, rollout_id, populate_existing=True)


async def get_analysis(session: AsyncSession, analysis_id: int) -> Analysis | None:
    return await session.get(Analysis, analysis_id)


async def get_metrics(session: AsyncSession, analysis_id: int) -> AnalysisMetric | None:
    stmt = select(AnalysisMetric).where(AnalysisMetric.analysis_id == analysis_id).order_by(AnalysisMetric.id)
    return (await session.execute(stmt)).scalars().first()


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
