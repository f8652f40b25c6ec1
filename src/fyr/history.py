"""`fyr rollouts list|show`: the history a person reads after the Slack message.

`show` prints the rollout, its GitLab links, the stored analysis and exactly the reduced context the
model saw, with tokens and cost. Tables on a TTY; `--format json` for scripts.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from fyr.db import actions as actions_db
from fyr.db import analyses, rollouts
from fyr.db.base import utcnow
from fyr.db.diagnose import shown
from fyr.db.engine import Database, normalize_url
from fyr.errors import ConfigError
from fyr.models.rollout import Rollout, RolloutStatus
from fyr.settings import Settings

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str | None) -> datetime | None:
    if not value:
        return None
    m = _DURATION.match(value.strip())
    if m:
        return utcnow() - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--since must be an ISO date/time or a duration like 2h, not {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=utcnow().tzinfo)


def parse_status(value: str | None) -> list[RolloutStatus]:
    if not value:
        return []
    try:
        return [RolloutStatus(v.strip().upper()) for v in value.split(",")]
    except ValueError:
        names = ", ".join(s.value for s in RolloutStatus)
        raise ConfigError(f"--status must be one of {names}, not {value!r}") from None


def rollout_dict(r: Rollout) -> dict[str, Any]:
    def ts(d: datetime | None) -> str | None:
        return d.isoformat() if d else None

    return {
        "id": r.id, "cluster": r.cluster, "kind": r.kind, "namespace": r.namespace, "deployment": r.deployment,
        "uid": r.uid or None,
        "generation": r.generation, "revision": r.revision, "image": r.image, "status": r.status.value,
        "origin": r.origin.value, "failure_reason": r.failure_reason, "failure_message": r.failure_message,
        "started_at": ts(r.started_at), "failed_at": ts(r.failed_at), "completed_at": ts(r.completed_at),
        "superseded_at": ts(r.superseded_at),
        "analysis_status": r.analysis_status.value if r.analysis_status else None,
        "notify_status": r.notify_status.value if r.notify_status else None,
        "git": {"project": r.git_project, "commit": r.git_commit, "pipeline_url": r.pipeline_url,
                "mr_url": r.mr_url, "team": r.team, "slack_channel": r.slack_channel},
        "slack": {"channel": r.slack_channel_sent, "ts": r.slack_ts, "team": r.team_sent},
        "errors": {"analysis": r.analysis_error, "notify": r.notify_error},
    }


def require_existing(settings: Settings) -> None:
    """Read-only commands never create a database: a SQLite file that is not there is an error."""
    url = normalize_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(str(url.database)).expanduser()
        if not path.is_file():
            unset = "" if "database_url" in settings.model_fields_set else " (DATABASE_URL is not set)"
            raise ConfigError(f"no database at {path.resolve()}{unset}: point DATABASE_URL at your database "
                              "(sqlite:///path/fyr.db or mysql://user:pw@host/fyr), or create it with "
                              "`fyr db upgrade`")


async def _open(settings: Settings) -> Database:
    require_existing(settings)
    db = Database.from_url(settings.database_url)
    try:
        await db.check_schema()
    except BaseException:
        await db.dispose()
        raise
    return db


async def list_command(settings: Settings, *, status: str | None, team: str | None, since: str | None,
                       limit: int, fmt: str) -> int:
    if fmt not in ("table", "json"):
        raise ConfigError(f"--format must be table or json, not {fmt!r}")
    statuses, since_at = parse_status(status), parse_since(since)
    db = await _open(settings)
    try:
        async with db.session() as s:
            rows = await rollouts.list_rollouts(s, statuses=statuses, team=team, since=since_at, limit=limit)
    finally:
        await db.dispose()
    console = Console()
    if fmt == "json":
        console.print_json(json.dumps([rollout_dict(r) for r in rows]))
        return 0
    console.print(rollouts_table(rows, where=shown(normalize_url(settings.database_url))))
    return 0


def _when(at: datetime | None, today: date) -> str:
    if at is None:
        return ""
    return at.strftime("%H:%M") if at.date() == today else at.strftime("%Y-%m-%d")


_SHORT_KIND = {"Deployment": "", "StatefulSet": "sts ", "DaemonSet": "ds "}


def _workload(r: Rollout) -> str:
    """`namespace/name`, with kubectl's short kind first for StatefulSets (`sts`) and DaemonSets (`ds`)."""
    kind = r.kind or "Deployment"  # a row built in memory has no server default yet
    return f"{_SHORT_KIND.get(kind, kind + ' ')}{r.namespace}/{r.deployment}"


def rollouts_table(rows: list[Rollout], *, where: str) -> Table:
    """Readable at 80 columns: one cluster goes in the title, times are short, long reasons wrap."""
    clusters = {r.cluster for r in rows}
    one_cluster = len(clusters) <= 1
    title = f"{len(rows)} rollout(s)" + (f" of cluster {next(iter(clusters))}" if len(clusters) == 1 else "")
    table = Table(title=f"{title} — {where}", title_justify="left", pad_edge=False, box=box.SIMPLE_HEAD,
                  collapse_padding=True)
    table.add_column("id", justify="right", no_wrap=True)
    if not one_cluster:
        table.add_column("cluster", overflow="fold")
    longest = max((len(_workload(r)) for r in rows), default=10)
    table.add_column("workload", overflow="fold", min_width=min(longest, 28))
    table.add_column("gen", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("reason", overflow="fold")
    table.add_column("team", overflow="fold", min_width=min(max((len(r.team or r.team_sent or "") for r in rows),
                                                                default=4), 12))
    table.add_column("started", no_wrap=True)  # UTC: the time today, else the date
    table.add_column("notify", min_width=7, overflow="fold")
    today = utcnow().date()
    for r in rows:
        cells = [str(r.id)] + ([] if one_cluster else [r.cluster]) + [
            _workload(r), str(r.generation), r.status.value, r.failure_reason or "",
            r.team or r.team_sent or "", _when(r.started_at, today),
            r.notify_status.value if r.notify_status else ""]
        table.add_row(*cells)
    return table


async def show_command(settings: Settings, rollout_id: int, *, fmt: str) -> int:
    if fmt not in ("text", "json"):
        raise ConfigError(f"--format must be text or json, not {fmt!r}")
    db = await _open(settings)
    try:
        async with db.session() as s:
            r = await rollouts.get_rollout(s, rollout_id)
            if r is None:
                raise ConfigError(f"no rollout with id {rollout_id}")
            analysis = await analyses.get_analysis(s, r.analysis_id) if r.analysis_id else None
            metric = await analyses.get_metrics(s, r.analysis_id) if r.analysis_id else None
            actions = await actions_db.list_actions(s, r.id)
    finally:
        await db.dispose()
    doc = rollout_dict(r)
    doc["analysis"] = analysis.analysis if analysis else None
    doc["reduced_context"] = analysis.reduced_context if analysis else None
    doc["actions"] = [{"action": act.action, "slack_user_id": act.slack_user_id,
                       "slack_user_name": act.slack_user_name, "at": act.created_at.isoformat(),
                       "detail": act.detail} for act in actions]
    doc["metrics"] = None if metric is None else {
        "model_name": metric.model_name, "tokens_in": metric.tokens_in, "tokens_out": metric.tokens_out,
        "context_tokens": metric.context_tokens, "latency_s": metric.latency_s, "cost_usd": metric.cost_usd,
        "reused": metric.reused, "fallback": metric.fallback,
    }
    console = Console()
    if fmt == "json":
        console.print_json(json.dumps(doc, default=str))
        return 0
    console.print(f"[bold]Rollout {r.id}[/bold]  {r.cluster} {r.kind} {r.namespace}/{r.deployment} "
                  f"generation {r.generation}  [bold]{r.status.value}[/bold]")
    for label, value in (("reason", r.failure_reason), ("message", r.failure_message), ("image", r.image),
                         ("commit", r.git_commit), ("pipeline", r.pipeline_url), ("merge request", r.mr_url),
                         ("team", r.team or r.team_sent),
                         ("slack", f"{r.slack_channel_sent} {r.slack_ts}" if r.slack_ts else None)):
        if value:
            console.print(f"  {label:<14} {value}", markup=False, highlight=False)
    if analysis:
        a = analysis.analysis
        console.print(f"\n[bold]{a.get('category')}[/bold] ({a.get('confidence')}): {a.get('summary')}",
                      highlight=False)
        console.print(f"  root cause     {a.get('root_cause')}", markup=False, highlight=False)
        console.print(f"  fix            {a.get('suggested_fix')}", markup=False, highlight=False)
        for line in a.get("evidence", []):
            console.print(f"  evidence       {line}", markup=False, highlight=False)
        for flag in a.get("flags") or []:
            console.print(f"  flag           {flag.get('message')}", markup=False, highlight=False)
    for act in actions:
        who = act.slack_user_name or act.slack_user_id
        console.print(f"  action         {act.created_at:%Y-%m-%d %H:%M:%S} {act.action} by {who} "
                      f"({act.slack_user_id})" + (f" {act.detail}" if act.detail else ""),
                      markup=False, highlight=False)
    if doc["metrics"]:
        m = doc["metrics"]
        console.print(f"\n  model {m['model_name']}  tokens {m['tokens_in']} in / {m['tokens_out']} out  "
                      f"cost ${m['cost_usd']:.5f}  latency {m['latency_s']:.2f}s", highlight=False)
    if analysis:
        console.print("\n[bold]Reduced context (exactly what the model saw)[/bold]")
        console.print_json(json.dumps(analysis.reduced_context))
    return 0
