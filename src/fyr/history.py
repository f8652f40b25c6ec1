"""`fyr rollouts list|show`: the history a person reads after the Slack message.

`show` prints the rollout, its GitLab links, the stored analysis and exactly the reduced context the
model saw, with tokens and cost. Tables on a TTY; `--format json` for scripts.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from fyr.db import repositories as repo
from fyr.db.base import utcnow
from fyr.db.engine import Database
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
        "slack": {"channel": r.slack_channel_sent, "ts": r.slack_ts},
        "errors": {"analysis": r.analysis_error, "notify": r.notify_error},
    }


async def _open(settings: Settings) -> Database:
    db = Database.from_url(settings.database_url)
    await db.check_schema()
    return db


async def list_command(settings: Settings, *, status: str | None, team: str | None, since: str | None,
                       limit: int, fmt: str) -> int:
    if fmt not in ("table", "json"):
        raise ConfigError(f"--format must be table or json, not {fmt!r}")
    statuses, since_at = parse_status(status), parse_since(since)
    db = await _open(settings)
    try:
        async with db.session() as s:
            rows = await repo.list_rollouts(s, statuses=statuses, team=team, since=since_at, limit=limit)
    finally:
        await db.dispose()
    console = Console()
    if fmt == "json":
        console.print_json(json.dumps([rollout_dict(r) for r in rows]))
        return 0
    table = Table(title=f"{len(rows)} rollout(s)", title_justify="left")
    for col in ("id", "cluster", "kind", "namespace/name", "gen", "status", "reason", "team", "started", "notify"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r.id), r.cluster, r.kind, f"{r.namespace}/{r.deployment}", str(r.generation), r.status.value,
                      r.failure_reason or "", r.team or "", r.started_at.strftime("%Y-%m-%d %H:%M:%S")
                      if r.started_at else "", r.notify_status.value if r.notify_status else "")
    console.print(table)
    return 0


async def show_command(settings: Settings, rollout_id: int, *, fmt: str) -> int:
    if fmt not in ("text", "json"):
        raise ConfigError(f"--format must be text or json, not {fmt!r}")
    db = await _open(settings)
    try:
        async with db.session() as s:
            r = await repo.get_rollout(s, rollout_id)
            if r is None:
                raise ConfigError(f"no rollout with id {rollout_id}")
            analysis = await repo.get_analysis(s, r.analysis_id) if r.analysis_id else None
            metric = await repo.get_metrics(s, r.analysis_id) if r.analysis_id else None
    finally:
        await db.dispose()
    doc = rollout_dict(r)
    doc["analysis"] = analysis.analysis if analysis else None
    doc["reduced_context"] = analysis.reduced_context if analysis else None
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
                         ("team", r.team), ("slack", f"{r.slack_channel_sent} {r.slack_ts}" if r.slack_ts else None)):
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
    if doc["metrics"]:
        m = doc["metrics"]
        console.print(f"\n  model {m['model_name']}  tokens {m['tokens_in']} in / {m['tokens_out']} out  "
                      f"cost ${m['cost_usd']:.5f}  latency {m['latency_s']:.2f}s", highlight=False)
    if analysis:
        console.print("\n[bold]Reduced context (exactly what the model saw)[/bold]")
        console.print_json(json.dumps(analysis.reduced_context))
    return 0
