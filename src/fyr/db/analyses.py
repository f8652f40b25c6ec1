"""Analyses: the stored results of the analyzer, and the recent one a failure signature can reuse.

Deduplication (docs/architecture.md 'Analysis pipeline'): the same deployment failing the same way again should not
pay for the LLM twice. Only analyses an LLM produced are worth reusing (a rules analysis is free to redo),
and only originals (reused_from_id IS NULL), so a chain of reuses always points at the source.
Nothing here commits; the analyzer writes a result with fyr.db.queue.complete_analysis.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fyr.db.base import utcnow
from fyr.models.analysis import Analysis, AnalysisMetric


async def find_recent_analysis_by_signature(
    session: AsyncSession, signature: str, *, window_seconds: float, now: datetime | None = None
) -> Analysis | None:
    """The newest LLM-made, non-fallback original analysis with this signature within the window."""
    if window_seconds <= 0 or not signature:
        return None
    since = (now or utcnow()) - timedelta(seconds=window_seconds)
    stmt = (
        select(Analysis)
        .join(AnalysisMetric, AnalysisMetric.analysis_id == Analysis.id)
        .where(
            Analysis.signature == signature,
            Analysis.created_at >= since,
            Analysis.reused_from_id.is_(None),
            Analysis.model_name != "rules",
            AnalysisMetric.fallback.is_(False),
        )
        .order_by(Analysis.created_at.desc(), Analysis.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalars().first()


async def analyses_of_rollout(session: AsyncSession, rollout_id: int) -> list[Analysis]:
    stmt = select(Analysis).where(Analysis.rollout_id == rollout_id).order_by(Analysis.id)
    return list((await session.execute(stmt)).scalars())


async def get_analysis(session: AsyncSession, analysis_id: int) -> Analysis | None:
    return await session.get(Analysis, analysis_id)


async def get_metrics(session: AsyncSession, analysis_id: int) -> AnalysisMetric | None:
    stmt = select(AnalysisMetric).where(AnalysisMetric.analysis_id == analysis_id).order_by(AnalysisMetric.id)
    return (await session.execute(stmt)).scalars().first()
