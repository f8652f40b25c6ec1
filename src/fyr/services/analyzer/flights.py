"""Single flight per failure signature, and the daily LLM budget: what limits the analyzer's model spend.

Single flight: identical failures analysed at the same moment make one model call. The key is the
failure's category and normalised evidence — without the deployment when the rules are sure of the
failure (`confidence high`), so ten namespaces running one broken service, or one bad base image under
many services, share a call; with it otherwise, so unrelated crash loops with no telling line never
share an explanation. The first analyzer to insert the `analysis_flights` row is the leader; the others
(this process or another on the same database) wait for the leader's analysis and reuse it, re-addressed
to their own deployment and with their own evidence. A leader that fails or dies releases (or lets
expire) the row, and the next waiter calls the model itself.

Budget: past `FYR_LLM_BUDGET_USD_PER_DAY` (UTC day, summed from `analysis_metrics`) the rules' analysis
is stored with a note saying why. Concurrent calls started just before the limit may overshoot it by at
most the analyzer's concurrency.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from fyr.db.base import utcnow
from fyr.db.engine import Database
from fyr.models.analysis import AnalysisMetric, AnalysisResult
from fyr.models.flight import AnalysisFlight
from fyr.services.analyzer.pipeline import failure_signature

_POLL_S = 0.1
_KEEP_DONE = timedelta(minutes=10)  # finished flights stay this long for late waiters


def flight_key(target: str, rules: AnalysisResult, image: str | None) -> str:
    """The single-flight key: across deployments only when the rules are sure what failed."""
    if rules.confidence != "high":
        return failure_signature(target, rules, image)
    return failure_signature("*", rules, None)


async def begin(db: Database, key: str, *, owner: str, rollout_id: int, ttl_s: float) -> bool:
    """True when this caller leads the flight (and must `finish` or `release` it)."""
    now = utcnow()
    async with db.session() as s:
        # a finished flight past its grace, or a leader that died past its lease, frees the key
        await s.execute(delete(AnalysisFlight).where(
            AnalysisFlight.flight_key == key,
            ((AnalysisFlight.analysis_id.is_not(None)) & (AnalysisFlight.started_at < now - _KEEP_DONE))
            | ((AnalysisFlight.analysis_id.is_(None)) & (AnalysisFlight.expires_at < now))))
    try:
        async with db.session() as s:
            s.add(AnalysisFlight(flight_key=key, owner=owner, rollout_id=rollout_id, analysis_id=None,
                                 started_at=now, expires_at=now + timedelta(seconds=ttl_s)))
    except IntegrityError:
        return False
    return True


async def finish(db: Database, key: str, *, owner: str, analysis_id: int) -> None:
    async with db.session() as s:
        await s.execute(update(AnalysisFlight).where(AnalysisFlight.flight_key == key, AnalysisFlight.owner == owner)
                        .values(analysis_id=analysis_id))


async def release(db: Database, key: str, *, owner: str) -> None:
    """The leader has no analysis to share (model failed, fell back, was stopped): free the key."""
    async with db.session() as s:
        await s.execute(delete(AnalysisFlight).where(AnalysisFlight.flight_key == key,
                                                     AnalysisFlight.owner == owner,
                                                     AnalysisFlight.analysis_id.is_(None)))


async def wait(db: Database, key: str, *, timeout_s: float) -> int | None:
    """The leader's analysis id once stored; None when the flight ended without one or timed out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        async with db.session() as s:
            row = (await s.execute(select(AnalysisFlight.analysis_id, AnalysisFlight.expires_at)
                                   .where(AnalysisFlight.flight_key == key))).first()
        if row is None:
            return None
        if row.analysis_id is not None:
            return int(row.analysis_id)
        if row.expires_at < utcnow() or loop.time() >= deadline:
            return None
        await asyncio.sleep(_POLL_S)


def readdress(analysis: AnalysisResult, *, leader_target: str, target: str,
              evidence: list[str]) -> AnalysisResult:
    """The leader's explanation told about this deployment, with this rollout's own evidence."""
    if leader_target == target:
        return analysis
    swaps = [(re.compile(re.escape(leader_target)), target)]
    # models also write "the payments deployment in namespace team-0": swap the parts that differ
    for old, new in zip(leader_target.split("/", 1), target.split("/", 1), strict=False):
        if old != new:
            swaps.append((re.compile(rf"(?<![\w.-]){re.escape(old)}(?![\w-])"), new))

    def swap(text: str) -> str:
        for pattern, replacement in swaps:
            text = pattern.sub(replacement, text)
        return text

    return analysis.model_copy(update={
        "summary": swap(analysis.summary), "root_cause": swap(analysis.root_cause),
        "suggested_fix": swap(analysis.suggested_fix), "evidence": evidence or analysis.evidence})


def start_of_day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


async def spent_today(db: Database, *, now: datetime | None = None) -> float:
    """USD the analyses stored since midnight UTC cost (every analyzer process sharing the database)."""
    since = start_of_day(now or utcnow())
    async with db.session() as s:
        total = (await s.execute(select(func.coalesce(func.sum(AnalysisMetric.cost_usd), 0.0))
                                 .where(AnalysisMetric.created_at >= since))).scalar_one()
    return float(total or 0.0)


def over_budget_analysis(rules: AnalysisResult, *, budget_usd: float, spent_usd: float) -> AnalysisResult:
    """The rules' analysis with a note that the model was skipped for the budget."""
    note = (f" (LLM skipped: the daily LLM budget FYR_LLM_BUDGET_USD_PER_DAY=${budget_usd:.2f} is spent — "
            f"${spent_usd:.2f} today; this is the rules' analysis.)")
    return rules.model_copy(update={"root_cause": (rules.root_cause + note)[:3000]})


__all__ = ["begin", "finish", "flight_key", "over_budget_analysis", "readdress", "release", "spent_today", "wait"]
