"""Read-only queries behind the history pages: one page of rollouts, one rollout, the stats.

Every query here only reads. The list is paged by id (keyset: `before`/`after` an id), never by
OFFSET, so the newest page and every later page cost the same on a history of any size; filters
are plain column comparisons (the category is read from the analysis JSON through the join).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fyr.models.actions import RolloutAction
from fyr.models.analysis import Analysis, AnalysisMetric
from fyr.models.rollout import Rollout, RolloutStatus

PAGE_SIZE = 50
STATS_DAYS_MAX = 90

_category = Analysis.analysis["category"].as_string()
_summary = Analysis.analysis["summary"].as_string()


@dataclass(frozen=True)
class Filters:
    """The list's filters, as the query string gives them (empty = no filter)."""

    cluster: str = ""
    namespace: str = ""
    kind: str = ""
    team: str = ""
    status: str = ""
    category: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def active(self) -> bool:
        return any((self.cluster, self.namespace, self.kind, self.team, self.status, self.category,
                    self.since, self.until))


@dataclass(frozen=True)
class Row:
    """One line of the list."""

    id: int
    cluster: str
    namespace: str
    kind: str
    workload: str
    generation: int
    status: str
    status_at: datetime | None
    category: str | None
    summary: str | None
    team: str | None
    channel: str | None
    git_project: str | None
    git_commit: str | None
    pipeline_url: str | None
    mr_url: str | None


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    newer: int | None  # `after` for the previous (newer) page, when there is one
    older: int | None  # `before` for the next (older) page, when there is one


def _kind_column() -> Any:
    return Rollout.__table__.c.get("kind")


def _kind_of(row: Any) -> str:
    value = getattr(row, "kind", None)
    return str(value) if value else "Deployment"


def _status_time(r: Any) -> datetime | None:
    status = str(r.status)
    when: datetime | None
    if status == RolloutStatus.FAILED:
        when = r.failed_at
    elif status == RolloutStatus.SUCCESS:
        when = r.completed_at
    elif status == RolloutStatus.SUPERSEDED:
        when = r.superseded_at
    else:
        when = r.updated_at or r.started_at
    return when


def _filtered(stmt: Select[Any], f: Filters) -> Select[Any]:
    if f.cluster:
        stmt = stmt.where(Rollout.cluster == f.cluster)
    if f.namespace:
        stmt = stmt.where(Rollout.namespace == f.namespace)
    kind = _kind_column()
    if f.kind and kind is not None:
        stmt = stmt.where(kind == f.kind)
    elif f.kind and f.kind != "Deployment":
        stmt = stmt.where(Rollout.id < 0)  # no other kind is recorded by this schema
    if f.team:
        stmt = stmt.where(Rollout.team == f.team)
    if f.status:
        stmt = stmt.where(Rollout.status == RolloutStatus(f.status))
    if f.category:
        stmt = stmt.where(_category == f.category)
    if f.since:
        stmt = stmt.where(Rollout.started_at >= f.since)
    if f.until:
        stmt = stmt.where(Rollout.started_at < f.until)
    return stmt


def _row(r: Any) -> Row:
    return Row(
        id=r.id, cluster=r.cluster, namespace=r.namespace, kind=_kind_of(r), workload=r.deployment,
        generation=r.generation, status=str(r.status), status_at=_status_time(r), category=r.category,
        summary=r.summary, team=r.team, channel=r.slack_channel or r.slack_channel_sent,
        git_project=r.git_project, git_commit=r.git_commit, pipeline_url=r.pipeline_url, mr_url=r.mr_url,
    )


def _list_columns() -> list[Any]:
    cols: list[Any] = [
        Rollout.id, Rollout.cluster, Rollout.namespace, Rollout.deployment, Rollout.generation, Rollout.status,
        Rollout.failed_at, Rollout.completed_at, Rollout.superseded_at, Rollout.updated_at, Rollout.started_at,
        Rollout.team, Rollout.slack_channel, Rollout.slack_channel_sent, Rollout.git_project, Rollout.git_commit,
        Rollout.pipeline_url, Rollout.mr_url, _category.label("category"), _summary.label("summary"),
    ]
    kind = _kind_column()
    if kind is not None:
        cols.append(kind.label("kind"))
    return cols


async def list_page(session: AsyncSession, f: Filters, *, before: int | None = None, after: int | None = None,
                    size: int = PAGE_SIZE) -> Page:
    """Newest first. `before`: rows older than that id; `after`: the page just newer than that id."""
    base = _filtered(select(*_list_columns()).outerjoin(Analysis, Analysis.id == Rollout.analysis_id), f)
    if after is not None:
        stmt = base.where(Rollout.id > after).order_by(Rollout.id.asc()).limit(size + 1)
        got = list((await session.execute(stmt)).all())
        has_newer = len(got) > size
        rows = [_row(r) for r in reversed(got[:size])]
        return Page(rows, newer=rows[0].id if has_newer and rows else None,
                    older=rows[-1].id if rows else None)
    stmt = base.order_by(Rollout.id.desc()).limit(size + 1)
    if before is not None:
        stmt = stmt.where(Rollout.id < before)
    got = list((await session.execute(stmt)).all())
    rows = [_row(r) for r in got[:size]]
    return Page(rows, newer=rows[0].id if before is not None and rows else None,
                older=rows[-1].id if len(got) > size and rows else None)


async def rows_after(session: AsyncSession, f: Filters, after: int, *, size: int = PAGE_SIZE) -> list[Row]:
    """Rows newer than `after` (for live refresh), newest first, at most `size`."""
    stmt = _filtered(select(*_list_columns()).outerjoin(Analysis, Analysis.id == Rollout.analysis_id), f)
    stmt = stmt.where(Rollout.id > after).order_by(Rollout.id.desc()).limit(size)
    return [_row(r) for r in (await session.execute(stmt)).all()]


CHOICES_FROM_LAST = 5000


async def filter_choices(session: AsyncSession) -> dict[str, list[str]]:
    """Clusters, namespaces and teams of the latest rollouts, for the filter menus' suggestions.

    Read from the newest rows only (an index range on the primary key), so the cost does not grow
    with the history; any value can still be typed into the filter."""
    recent = (select(Rollout.cluster, Rollout.namespace, Rollout.team)
              .order_by(Rollout.id.desc()).limit(CHOICES_FROM_LAST).subquery())
    out: dict[str, set[str]] = {"cluster": set(), "namespace": set(), "team": set()}
    for cluster, namespace, team in (await session.execute(select(recent))).all():
        out["cluster"].add(cluster)
        out["namespace"].add(namespace)
        if team:
            out["team"].add(team)
    return {k: sorted(v)[:200] for k, v in out.items()}


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    what: str
    detail: str = ""


@dataclass
class Detail:
    rollout: Rollout
    analysis: Analysis | None
    metric: AnalysisMetric | None
    timeline: list[TimelineEntry]
    generations: list[Row]
    kind: str
    notified_at: datetime | None
    actions: list[dict[str, Any]] = field(default_factory=list)


def slack_ts_time(ts: str | None) -> datetime | None:
    """A Slack message `ts` is the post's Unix time with microseconds ("1700000000.123456")."""
    if not ts:
        return None
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _timeline(r: Rollout, analysis: Analysis | None, metric: AnalysisMetric | None,
              notified_at: datetime | None) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    if r.started_at:
        entries.append(TimelineEntry(r.started_at, "detected", f"generation {r.generation} seen by the watcher"))
    if r.failed_at:
        entries.append(TimelineEntry(r.failed_at, "failed", r.failure_reason or ""))
    if analysis is not None:
        how = "rules" if analysis.model_name == "rules" else f"model {analysis.model_name}"
        if analysis.reused_from_id or (metric is not None and metric.reused):
            how += f", reused from analysis {analysis.reused_from_id}" if analysis.reused_from_id else ", reused"
        if metric is not None and metric.fallback:
            how += ", model answer rejected: rules used"
        entries.append(TimelineEntry(analysis.created_at, "analysed", how))
    if notified_at is not None:
        entries.append(TimelineEntry(notified_at, "notified", f"Slack {r.slack_channel_sent or ''}".strip()))
    if r.completed_at:
        entries.append(TimelineEntry(r.completed_at, "recovered" if r.failed_at else "succeeded", ""))
    if r.superseded_at:
        entries.append(TimelineEntry(r.superseded_at, "superseded", "a newer generation appeared"))
    return sorted(entries, key=lambda e: e.at)


async def detail(session: AsyncSession, rollout_id: int) -> Detail | None:
    r = await session.get(Rollout, rollout_id)
    if r is None:
        return None
    analysis = await session.get(Analysis, r.analysis_id) if r.analysis_id else None
    metric = None
    if r.analysis_id:
        stmt = select(AnalysisMetric).where(AnalysisMetric.analysis_id == r.analysis_id).order_by(AnalysisMetric.id)
        metric = (await session.execute(stmt)).scalars().first()
    notified_at = slack_ts_time(r.slack_ts)
    gens = select(*_list_columns()).outerjoin(Analysis, Analysis.id == Rollout.analysis_id).where(
        Rollout.cluster == r.cluster, Rollout.namespace == r.namespace, Rollout.deployment == r.deployment)
    kind = _kind_column()
    if kind is not None:
        gens = gens.where(kind == getattr(r, "kind", "Deployment"))
    gens = gens.order_by(Rollout.generation.desc(), Rollout.id.desc()).limit(30)
    generations = [_row(g) for g in (await session.execute(gens)).all()]
    clicks = (await session.execute(select(RolloutAction).where(RolloutAction.rollout_id == r.id)
                                    .order_by(RolloutAction.id))).scalars()
    actions = [{"at": a.created_at, "action": a.action, "user": a.slack_user_name or a.slack_user_id,
                "detail": a.detail or ""} for a in clicks]
    return Detail(rollout=r, analysis=analysis, metric=metric, timeline=_timeline(r, analysis, metric, notified_at),
                  generations=generations, kind=_kind_of(r), notified_at=notified_at, actions=actions)


@dataclass
class Stats:
    days: list[date]
    by_category: dict[str, list[int]]  # category -> failures per day
    by_team: dict[str, list[int]]
    spend: list[float]  # LLM spend per day, USD
    median_to_message_s: float | None
    failures: int
    messages: int


async def stats(session: AsyncSession, *, days: int, now: datetime | None = None) -> Stats:
    """Failures per day by category and team, median failure → message time, LLM spend per day."""
    days = max(1, min(days, STATS_DAYS_MAX))
    now = now or datetime.now(UTC)
    first = (now - timedelta(days=days - 1)).date()
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    axis = [first + timedelta(days=i) for i in range(days)]
    index = {d: i for i, d in enumerate(axis)}
    stmt = (select(Rollout.failed_at, Rollout.team, Rollout.slack_ts, _category.label("category"))
            .outerjoin(Analysis, Analysis.id == Rollout.analysis_id)
            .where(Rollout.failed_at >= start))
    by_category: dict[str, list[int]] = defaultdict(lambda: [0] * days)
    by_team: dict[str, list[int]] = defaultdict(lambda: [0] * days)
    delays: list[float] = []
    failures = 0
    for failed_at, team, slack_ts, category in (await session.execute(stmt)).all():
        i = index.get(failed_at.astimezone(UTC).date())
        if i is None:
            continue
        failures += 1
        by_category[category or "not analysed"][i] += 1
        by_team[team or "no team"][i] += 1
        sent = slack_ts_time(slack_ts)
        if sent is not None and sent >= failed_at:
            delays.append((sent - failed_at).total_seconds())
    spend = [0.0] * days
    cost_stmt = select(AnalysisMetric.created_at, AnalysisMetric.cost_usd).where(AnalysisMetric.created_at >= start)
    for created_at, cost in (await session.execute(cost_stmt)).all():
        i = index.get(created_at.astimezone(UTC).date())
        if i is not None:
            spend[i] += float(cost or 0.0)
    return Stats(days=axis, by_category=_ordered(by_category), by_team=_ordered(by_team), spend=spend,
                 median_to_message_s=statistics.median(delays) if delays else None,
                 failures=failures, messages=len(delays))


def _ordered(series: dict[str, list[int]]) -> dict[str, list[int]]:
    totals = Counter({k: sum(v) for k, v in series.items()})
    return {k: series[k] for k, _ in totals.most_common()}


async def count_all(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(Rollout))).scalar_one())
