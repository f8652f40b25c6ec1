"""GitLab deliveries and staging (docs/architecture.md 'GitLab correlation'): the only SQL that records
webhook deliveries, stages GitLab metadata and joins it to rollouts.

Metadata reaches a rollout whichever arrives first. The ingestor *stages* what a webhook says in
`gitlab_metadata`, keyed by (project path, environment, commit), then attaches it to the rollouts
that already match; the watcher, in the transaction that inserts a new rollout
(`fyr.db.rollouts.record_generation`), calls `attach_staged` for it so that metadata staged earlier
joins it. Both directions run the same `attach_staged`.

Rows and what fills them:
- environment "" is the *commit row*: the commit's newest pipeline and its merge request.
- environment "<slug>" is a *deploy row*: the deploy job (`job_id`), the pipeline that ran it, the
  deployment status. Deployment hooks key it by `environment_slug` (what `app.gitlab.com/env`
  holds); Pipeline/Job hooks only know the environment *name*, which equals the slug when the name
  is already slug-shaped (`production`); otherwise the rows meet through the job id
  (Deployment `deployable_id` = Pipeline `builds[].id` = Job `build_id`).
- project path `k8s:<cluster>/<namespace>/<deployment>` holds what a deploy job sent to
  `POST /api/v1/rollouts/annotate` for one Kubernetes Deployment (explicit, it overwrites).

Matching a rollout: its commit is `git_commit` (annotation, ≥ 7 hex) or a hex image tag (≥ 7); a
staged row matches when its SHA starts with it, restricted to `gitlab_app` (= project slug) and
`gitlab_env` (= environment slug) when the rollout has them. A rollout without any commit joins
its (app, env) deployment only when exactly one commit was deployed there within `WINDOW`.

The matching and precedence rules themselves are pure functions in fyr.core.gitlab_match. Team
and channel are not taken from the routing file here: the notifier applies routing when it addresses
the message (see fyr.core.routing).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

import structlog
from sqlalchemy import Select, Table, and_, bindparam, case, func, or_, select, tuple_, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from fyr.core.gitlab_events import Annotation, GitlabEvent, JobLink, Staging
from fyr.core.gitlab_match import (
    K8S_PREFIX,
    WINDOW,
    apply_explicit,
    apply_gitlab_rows,
    commit_of,
    k8s_path,
    near,
    ordered_rows,
    prefix_compatible,
    project_slug,
    rollout_commit,
)
from fyr.db.base import utcnow
from fyr.models.gitlab import GitlabMetadata, WebhookDelivery
from fyr.models.rollout import Origin, Rollout

log = structlog.get_logger()

# Core tables, not ORM entities, wherever the statement loads no objects: the ORM's bulk-insert and
# compile layers cost more CPU per webhook than the SQL itself (bench/ingestor.py).
_META = cast(Table, GitlabMetadata.__table__)
_DELIVERIES = cast(Table, WebhookDelivery.__table__)
_ROLLOUTS = cast(Table, Rollout.__table__)

_CANDIDATES = 50  # rollouts examined per webhook; bounds the work of one request


# --- deliveries -----------------------------------------------------------------------------


def _dialect(session: AsyncSession) -> str:
    bind = session.bind
    return bind.dialect.name if bind is not None else "sqlite"


async def record_delivery(session: AsyncSession, dedupe_key: str, event_kind: str) -> bool:
    """Insert the delivery's dedupe row; False when it was seen before (then do nothing else).

    Called first in the same transaction as the effect: a delivery that fails later rolls its row
    back with it, and a concurrent duplicate waits on the unique key, then sees the first one.
    One statement (INSERT IGNORE / ON CONFLICT DO NOTHING): the row count says which it was.
    """
    values = {"dedupe_key": dedupe_key, "event_kind": event_kind[:64], "received_at": utcnow()}
    result = await session.execute(_delivery_statement(_dialect(session)), values)
    return bool(getattr(result, "rowcount", 0))


@functools.cache
def _delivery_statement(dialect: str) -> Any:
    """Built once per dialect, values as parameters (the compiled cache is hit, no re-keying)."""
    if dialect == "sqlite":
        return sqlite_insert(_DELIVERIES).on_conflict_do_nothing()
    return mysql_insert(_DELIVERIES).prefix_with("IGNORE")


# --- staging --------------------------------------------------------------------------------


async def _get_row(session: AsyncSession, project_path: str, environment: str, sha: str,
                   ) -> GitlabMetadata | None:
    stmt = select(GitlabMetadata).where(
        GitlabMetadata.project_path == project_path,
        GitlabMetadata.environment == environment,
        GitlabMetadata.commit_sha == sha,
    ).execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


def _newer(new: Any, old: Any) -> Any:
    return and_(new.is_not(None), or_(old.is_(None), new >= old))


def _merge_set(s: Staging, new: Any) -> list[tuple[str, Any]]:
    """ON DUPLICATE KEY / ON CONFLICT assignments: newest pipeline and job win, given values win.

    Ordered: MySQL evaluates assignments left to right against the already-updated row, so the
    pipeline URL is decided before the pipeline id changes (SQLite always sees the old row).
    """
    t = GitlabMetadata.__table__.c
    url: Any
    if s.explicit:
        url = func.coalesce(new.pipeline_url, t.pipeline_url)
    else:
        url = case(
            (new.pipeline_url.is_(None), t.pipeline_url),
            (_newer(new.pipeline_id, t.pipeline_id), new.pipeline_url),
            (and_(new.pipeline_id.is_(None), t.pipeline_url.is_(None)), new.pipeline_url),
            else_=t.pipeline_url,
        )
    return [
        ("pipeline_url", url),
        ("pipeline_id", case((_newer(new.pipeline_id, t.pipeline_id), new.pipeline_id),
                             else_=t.pipeline_id)),
        ("job_id", case((_newer(new.job_id, t.job_id), new.job_id), else_=t.job_id)),
        ("mr_url", func.coalesce(new.mr_url, t.mr_url)),
        ("deployment_status", func.coalesce(new.deployment_status, t.deployment_status)),
        ("team", func.coalesce(new.team, t.team)),
        ("slack_channel", func.coalesce(new.slack_channel, t.slack_channel)),
        ("updated_at", new.updated_at),
    ]


@functools.cache
def _upsert_statement(dialect: str, explicit: bool) -> Any:
    """Built once per (dialect, explicit): the values travel as parameters, so SQLAlchemy's
    compiled cache is hit instead of re-keying a fresh statement on every webhook."""
    columns = GitlabMetadata.__table__.c
    base = {name: bindparam(name, type_=columns[name].type) for name in _STAGE_COLUMNS}
    probe = Staging(project_path="", environment="", commit_sha="", explicit=explicit)
    if dialect == "sqlite":
        ins = sqlite_insert(_META).values(base)
        return ins.on_conflict_do_update(index_elements=["project_path", "environment", "commit_sha"],
                                         set_=dict(_merge_set(probe, ins.excluded)))
    mins = mysql_insert(_META).values(base)
    return mins.on_duplicate_key_update(_merge_set(probe, mins.inserted))


_STAGE_COLUMNS = ("project_path", "project_slug", "environment", "commit_sha", "pipeline_id", "pipeline_url",
                  "mr_url", "job_id", "deployment_status", "team", "slack_channel", "created_at",
                  "updated_at")


async def stage(session: AsyncSession, stagings: Sequence[Staging]) -> None:
    """Upsert staged rows: one statement, one round trip (a multi-row insert on MySQL), no
    read-then-write race and no lock upgrade."""
    now = utcnow()
    for explicit in (False, True):
        rows = [{
            "project_path": s.project_path,
            "project_slug": "" if s.project_path.startswith(K8S_PREFIX) else project_slug(s.project_path),
            "environment": s.environment, "commit_sha": s.commit_sha, "pipeline_id": s.pipeline_id,
            "pipeline_url": s.pipeline_url, "mr_url": s.mr_url, "job_id": s.job_id,
            "deployment_status": s.deployment_status, "team": s.team, "slack_channel": s.slack_channel,
            "created_at": now, "updated_at": now,
        } for s in stagings if s.explicit is explicit]
        if rows:
            await session.execute(_upsert_statement(_dialect(session), explicit), rows)


async def _link_jobs(session: AsyncSession, project_path: str, links: Sequence[JobLink]) -> None:
    """Deploy rows that know only the job (a Deployment hook came first) learn its pipeline."""
    by_pipeline: dict[tuple[int, str | None], list[int]] = {}
    for link in links:
        by_pipeline.setdefault((link.pipeline_id, link.pipeline_url), []).append(link.job_id)
    t = _META.c
    for (pipeline_id, url), jobs in by_pipeline.items():
        await session.execute(
            update(_META)
            .where(t.project_path == project_path, t.job_id.in_(jobs),
                   or_(t.pipeline_id.is_(None), t.pipeline_id < pipeline_id))
            .values(pipeline_id=pipeline_id, pipeline_url=func.coalesce(url, t.pipeline_url),
                    updated_at=utcnow())
        )


async def _pipeline_for_deployment(session: AsyncSession, event: GitlabEvent) -> None:
    """A Deployment hook has no pipeline: borrow it from a row that saw the same job or env name.

    Only needed when the environment's slug differs from its name: otherwise the Pipeline/Job
    hooks stage the very same row (same project, environment, commit) and bring the pipeline.
    """
    if event.deploy_env is None or event.deploy_env_name in (None, event.deploy_env):
        return
    row = await _get_row(session, event.project_path, event.deploy_env, event.commit_sha)
    if row is None or row.pipeline_id is not None:
        return
    conds = []
    if event.deployable_id is not None:
        conds.append(GitlabMetadata.job_id == event.deployable_id)
    if event.deploy_env_name and event.deploy_env_name != event.deploy_env:
        conds.append(and_(GitlabMetadata.environment == event.deploy_env_name,
                          GitlabMetadata.commit_sha == event.commit_sha))
    if not conds:
        return
    stmt = (
        select(GitlabMetadata)
        .where(GitlabMetadata.project_path == event.project_path, GitlabMetadata.pipeline_id.is_not(None),
               or_(*conds))
        .order_by(GitlabMetadata.pipeline_id.desc())
        .limit(1)
    )
    donor = (await session.execute(stmt)).scalar_one_or_none()
    if donor is not None:
        # A statement, not an attribute change: later reads refresh rows (populate_existing),
        # which would silently drop an unflushed change.
        await session.execute(
            update(GitlabMetadata).where(GitlabMetadata.id == row.id)
            .values(pipeline_id=donor.pipeline_id, pipeline_url=donor.pipeline_url,
                    mr_url=func.coalesce(GitlabMetadata.mr_url, donor.mr_url))
            .execution_options(synchronize_session=False))


async def apply_gitlab_event(session: AsyncSession, event: GitlabEvent) -> list[int]:
    """Stage one webhook's metadata and attach it to matching rollouts; returns their ids."""
    return [rollout_id for rollout_id, _ in await apply_gitlab_events(session, [event])]


async def apply_gitlab_events(session: AsyncSession, events: Sequence[GitlabEvent]
                              ) -> list[tuple[int, str | None]]:
    """Several events in one transaction with one upsert and one candidate query (group commit).

    Returns (rollout id, its commit) for each rollout that received metadata."""
    for event in events:
        if event.job_links:
            await _link_jobs(session, event.project_path, event.job_links)
    await stage(session, [staging for event in events for staging in event.stagings])
    for event in events:
        await _pipeline_for_deployment(session, event)
    return await _attach_matching(session, events)


_SEEN_KEYS = select(_DELIVERIES.c.dedupe_key).where(
    _DELIVERIES.c.dedupe_key.in_(bindparam("keys", expanding=True)))


async def record_deliveries(session: AsyncSession, deliveries: Sequence[tuple[str, str]]) -> list[bool]:
    """Dedupe rows for several deliveries at once: one read, one multi-row insert.

    Returns, per delivery, whether it is new (a repeat inside the batch counts as seen). A
    concurrent writer inserting the same key raises IntegrityError: the caller then falls back to
    one transaction per delivery (`record_delivery`).
    """
    keys = sorted({key for key, _ in deliveries})
    seen = set((await session.execute(_SEEN_KEYS, {"keys": keys})).scalars())
    fresh: list[bool] = []
    rows = []
    now = utcnow()
    for key, kind in deliveries:
        fresh.append(key not in seen)
        if key not in seen:
            seen.add(key)
            rows.append({"dedupe_key": key, "event_kind": kind[:64], "received_at": now})
    if rows:
        await session.execute(_DELIVERIES.insert(), rows)
    return fresh


async def nothing_staged(session: AsyncSession) -> bool:
    """True when no GitLab metadata waits for its rollout. A shared locking read: on an empty table it
    holds the whole range, so a webhook cannot stage a row until this transaction commits (and then
    its own rollout query sees what we inserted) — the same handshake as attach_staged's."""
    found = (await session.execute(select(GitlabMetadata.id).limit(1).with_for_update(read=True))).first()
    return found is None


# --- rollout side ---------------------------------------------------------------------------


def _candidate_filter(events: Sequence[GitlabEvent]) -> tuple[Any, dict[str, Any]]:
    """OR of what may match, its shape depending only on how many distinct 7-hex prefixes there are
    (values travel as parameters), so SQLAlchemy's compiled cache is hit for most batches."""
    r = _ROLLOUTS.c
    prefixes = sorted({event.commit_sha[:7] for event in events})
    params: dict[str, Any] = {}
    by_commit, by_image = [], []
    for index, prefix in enumerate(prefixes):
        params[f"c{index}"], params[f"i{index}"] = f"{prefix}%", f"%:{prefix}%"
        # A prefix range on the git_commit index; Python then checks the whole prefix.
        by_commit.append(r.git_commit.like(bindparam(f"c{index}")))
        by_image.append(r.image.like(bindparam(f"i{index}")))
    conds = [*by_commit, and_(r.git_commit.is_(None), or_(*by_image))]
    deploys = sorted({(project_slug(e.project_path), e.deploy_env) for e in events if e.deploy_env is not None})
    if deploys:
        params["deploys"], params["since"] = deploys, utcnow() - WINDOW
        conds.append(and_(
            r.git_commit.is_(None),
            tuple_(r.gitlab_app, r.gitlab_env).in_(bindparam("deploys", expanding=True)),
            r.started_at >= bindparam("since", type_=r.started_at.type),
        ))
    return or_(*conds), params


async def _candidate_rollouts(session: AsyncSession, events: Sequence[GitlabEvent]) -> list[Rollout]:
    """Rollouts that may match any of these events (attach_staged has the last word)."""
    if not events:
        return []
    where, params = _candidate_filter(events)
    r = _ROLLOUTS.c
    # Three narrow columns first: most webhooks match no rollout, and a full rollout row is wide.
    stmt = (select(r.id, r.image, r.git_commit).where(where)
            .order_by(r.id.desc()).limit(_CANDIDATES * len(events)))
    shas = [event.commit_sha for event in events]
    ids = []
    for rollout_id, image, git_commit in (await session.execute(stmt, params)).all():
        commit = commit_of(git_commit, image)
        # The SQL filter is coarse (an image tag merely containing the first 7 hex digits).
        if commit is None or any(sha.startswith(commit) for sha in shas):
            ids.append(rollout_id)
    if not ids:
        return []
    # Locked in id order: two webhooks attaching to one rollout take turns (each then reads the
    # other's committed values) instead of overwriting each other's fields from stale copies.
    full = select(Rollout).where(Rollout.id.in_(ids)).order_by(Rollout.id).with_for_update()
    return list((await session.execute(full)).scalars())


async def _attach_matching(session: AsyncSession, events: Sequence[GitlabEvent]
                           ) -> list[tuple[int, str | None]]:
    attached = []
    for rollout in await _candidate_rollouts(session, events):
        if await attach_staged(session, rollout, lock=False):
            attached.append((rollout.id, rollout.git_commit))
    return attached


def _read(stmt: Select[GitlabMetadata], lock: bool) -> Select[GitlabMetadata]:
    """Staged rows read for a rollout, refreshed; with `lock`, a shared locking read (see attach_staged)."""
    stmt = stmt.execution_options(populate_existing=True)
    return stmt.with_for_update(read=True) if lock else stmt


async def _explicit_row(session: AsyncSession, rollout: Rollout, lock: bool) -> GitlabMetadata | None:
    """The newest annotate call for this Deployment that fits this rollout."""
    path = k8s_path(rollout.cluster, rollout.namespace, rollout.deployment, rollout.kind or "Deployment")
    stmt = _read(select(GitlabMetadata).where(GitlabMetadata.project_path == path)
                 .order_by(GitlabMetadata.updated_at.desc()).limit(20), lock)
    commit = rollout_commit(rollout)
    for row in (await session.execute(stmt)).scalars():
        if commit and row.commit_sha:
            if prefix_compatible(commit, row.commit_sha):
                return row
        elif near(row.updated_at, rollout.started_at):
            return row
    return None


async def _rows_for_commit(session: AsyncSession, rollout: Rollout, commit: str, lock: bool
                           ) -> list[GitlabMetadata]:
    stmt = select(GitlabMetadata).where(
        GitlabMetadata.commit_sha.startswith(commit, autoescape=True),
        GitlabMetadata.project_path.not_like(f"{K8S_PREFIX}%"),
    )
    if rollout.gitlab_app:
        stmt = stmt.where(GitlabMetadata.project_slug == rollout.gitlab_app)
    rows = list((await session.execute(_read(stmt.limit(200), lock))).scalars())
    projects = {(r.project_path, r.commit_sha) for r in rows}
    if len(projects) > 1:
        log.info("gitlab_match_ambiguous", rollout_id=rollout.id, commit=commit,
                 candidates=sorted(p for p, _ in projects)[:5])
        return []
    return rows


async def _rows_without_commit(session: AsyncSession, rollout: Rollout, lock: bool) -> list[GitlabMetadata]:
    """(app, env) only: join the deployment there, if exactly one commit was deployed near the start."""
    if not (rollout.gitlab_app and rollout.gitlab_env and rollout.started_at):
        return []
    stmt = select(GitlabMetadata).where(
        GitlabMetadata.project_slug == rollout.gitlab_app,
        GitlabMetadata.environment == rollout.gitlab_env,
        GitlabMetadata.deployment_status.is_not(None),
        GitlabMetadata.updated_at >= rollout.started_at - WINDOW,
        GitlabMetadata.updated_at <= rollout.started_at + WINDOW,
    ).limit(10)
    deployed = list((await session.execute(_read(stmt, lock))).scalars())
    keys = {(r.project_path, r.commit_sha) for r in deployed}
    if len(keys) != 1:
        return []
    (path, sha) = keys.pop()
    stmt = select(GitlabMetadata).where(GitlabMetadata.project_path == path,
                                        GitlabMetadata.commit_sha == sha)
    return list((await session.execute(_read(stmt, lock))).scalars())


async def attach_staged(session: AsyncSession, rollout: Rollout, *, lock: bool = True) -> bool:
    """Join staged metadata to this rollout; True when something matched (origin becomes mixed).

    Called by the watcher for a rollout its record_generation just inserted (`lock=True`) and by
    the webhook side for the rollouts it found (`lock=False`). The two run concurrently on MySQL,
    and with plain snapshot reads each could miss the other's uncommitted row: the watcher's insert
    and the webhook's upsert would both commit without ever meeting. So the rollout side reads the
    staged rows with a shared locking read: it waits for a webhook transaction that already wrote a
    matching row and then sees it, or it holds the range so that a later webhook upsert waits for
    this commit — and that webhook transaction (READ COMMITTED, its rollout query after its upsert)
    then sees the rollout. SQLite has one writer at a time and no such race.
    """
    matched = changed = False
    explicit = await _explicit_row(session, rollout, lock)
    if explicit is not None:
        changed = apply_explicit(rollout, explicit)
        matched = True
    commit = rollout_commit(rollout)
    if commit:
        rows = await _rows_for_commit(session, rollout, commit, lock)
    else:
        rows = await _rows_without_commit(session, rollout, lock)
    if rows and ordered_rows(rows, rollout.gitlab_env):
        changed = apply_gitlab_rows(rollout, rows) or changed
        matched = True
    if matched and rollout.origin == Origin.K8S:
        rollout.origin, changed = Origin.MIXED, True
    if changed:
        rollout.updated_at = utcnow()
        log.debug("gitlab_metadata_attached", rollout_id=rollout.id, commit=rollout.git_commit)
    return matched


# --- explicit annotate ----------------------------------------------------------------------


async def annotate(session: AsyncSession, a: Annotation) -> list[Rollout]:
    """Stage an explicit annotation for a Deployment and attach it to its rollout(s) now."""
    values = Staging(project_path=k8s_path(a.cluster, a.namespace, a.deployment, a.kind), environment="",
                     commit_sha=a.commit or "", pipeline_url=a.pipeline_url, mr_url=a.mr_url,
                     team=a.team, slack_channel=a.slack_channel, explicit=True)
    await stage(session, [values])
    row = await _get_row(session, values.project_path, "", values.commit_sha)
    assert row is not None
    if a.project and a.commit and len(a.commit) >= 40:
        # The project's own rows too, so that the commit joins other rollouts of the same project.
        await stage(session, [replace(values, project_path=a.project, environment=a.environment or "")])
    stmt = (select(Rollout).where(Rollout.cluster == a.cluster, Rollout.kind == a.kind,
                                  Rollout.namespace == a.namespace, Rollout.deployment == a.deployment)
            .order_by(Rollout.generation.desc()).limit(20).with_for_update())
    rollouts = list((await session.execute(stmt)).scalars())
    attached: list[Rollout] = []
    for index, rollout in enumerate(rollouts):
        commit = rollout_commit(rollout)
        # Without a commit to compare, the newest generation is the one the job just deployed.
        fits = prefix_compatible(commit, a.commit) if commit and a.commit else index == 0
        if not fits:
            continue
        apply_explicit(rollout, row)
        if a.project and rollout.git_project is None:
            rollout.git_project = a.project
        await attach_staged(session, rollout, lock=False)
        if rollout.origin == Origin.K8S:
            rollout.origin = Origin.MIXED
        rollout.updated_at = utcnow()
        attached.append(rollout)
    return attached
