"""A deterministic rollout history for the history-page tests (fixed times, fixed texts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fyr.db.engine import Database
from fyr.models.analysis import Analysis, AnalysisMetric
from fyr.models.rollout import AnalysisStatus, NotifyStatus, Origin, Rollout, RolloutStatus

BASE = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


@dataclass(frozen=True)
class Spec:
    namespace: str
    deployment: str
    generation: int
    status: RolloutStatus
    category: str | None = None
    summary: str | None = None
    team: str | None = None
    cluster: str = "prod-eu-1"
    minutes: int = 0
    evidence: tuple[str, ...] = ()
    pipeline_url: str | None = None
    cost: float = 0.0
    model: str = "rules"


SPECS = [
    Spec("shop", "checkout", 1, RolloutStatus.SUCCESS, team="payments", minutes=90),
    Spec("shop", "checkout", 2, RolloutStatus.FAILED, "crash_loop",
         "container app of shop/checkout crashes on start (exit code 1): KeyError: 'PAYMENT_API_URL'",
         team="payments", minutes=60, evidence=("KeyError: 'PAYMENT_API_URL'",),
         pipeline_url="https://gitlab.acme.example/acme/checkout/-/pipelines/91001", cost=0.00042, model="gpt-4o-mini"),
    Spec("shop", "catalog", 7, RolloutStatus.FAILED, "image_pull",
         'image "registry.acme.example/acme/catalog:4f2a9c1" not found', team="storefront", minutes=120,
         evidence=('Failed to pull image "registry.acme.example/acme/catalog:4f2a9c1": not found',)),
    Spec("billing", "invoicer", 3, RolloutStatus.FAILED, "oom_killed",
         "container app of billing/invoicer is OOMKilled (memory limit 256Mi)", team="billing",
         cluster="prod-us-1", minutes=24 * 60, evidence=("java.lang.OutOfMemoryError: Java heap space",),
         cost=0.00031, model="gpt-4o-mini"),
    Spec("web", "frontend", 12, RolloutStatus.SUCCESS, team="storefront", minutes=24 * 60 + 30),
    Spec("data", "nightly-etl", 5, RolloutStatus.FAILED, "scheduling", "Pods of data/nightly-etl cannot be scheduled",
         team="data", minutes=2 * 24 * 60, evidence=("0/3 nodes are available: 3 Insufficient cpu.",)),
    Spec("shop", "cart", 9, RolloutStatus.ROLLING_OUT, team="storefront", minutes=3 * 24 * 60),
    Spec("evil", "hostile", 1, RolloutStatus.FAILED, "crash_loop", f"app logged {HOSTILE}", team="red-team",
         minutes=3 * 24 * 60 + 5, evidence=(HOSTILE,), pipeline_url="javascript:alert(document.cookie)"),
]


async def seed(db: Database, specs: list[Spec] | None = None, *, now: datetime | None = None) -> list[int]:
    """Insert the specs (oldest first by `minutes`) and return their ids in insertion order."""
    end = now or BASE + timedelta(days=4)
    ids: list[int] = []
    ordered = sorted(specs or SPECS, key=lambda s: -s.minutes)
    async with db.session() as s:
        for spec in ordered:
            at = end - timedelta(minutes=spec.minutes)
            r = Rollout(cluster=spec.cluster, namespace=spec.namespace, deployment=spec.deployment,
                        generation=spec.generation, status=spec.status, origin=Origin.MIXED, started_at=at,
                        updated_at=at, team=spec.team, slack_channel=f"#team-{spec.team}" if spec.team else None,
                        git_project=f"acme/{spec.deployment}", git_commit="4f2a9c1e" + "0" * 32,
                        pipeline_url=spec.pipeline_url, image=f"registry.acme.example/acme/{spec.deployment}:4f2a9c1")
            if spec.status == RolloutStatus.FAILED:
                r.failed_at = at + timedelta(seconds=20)
                r.failure_reason = "CrashLoopBackOff" if spec.category == "crash_loop" else spec.category
                r.failure_message = f"back-off restarting failed container: {HOSTILE}" if spec.namespace == "evil" \
                    else "see the analysis"
                r.analysis_status = AnalysisStatus.DONE
                r.notify_status = NotifyStatus.SENT
                r.slack_channel_sent = "C0PAYMENTS1"
                r.slack_ts = f"{(r.failed_at + timedelta(seconds=1.5)).timestamp():.6f}"
            if spec.status == RolloutStatus.SUCCESS:
                r.completed_at = at + timedelta(minutes=2)
            s.add(r)
            await s.flush()
            ids.append(r.id)
            if spec.category:
                analysis: dict[str, Any] = {
                    "category": spec.category, "summary": spec.summary, "root_cause": f"Root cause: {spec.summary}",
                    "evidence": list(spec.evidence), "suggested_fix": "Fix the thing.", "confidence": "high",
                    "model_name": spec.model, "prompt_version": "analysis-v1",
                }
                context = {"rollout": {"namespace": spec.namespace, "deployment": spec.deployment},
                           "logs": [{"pod": f"{spec.deployment}-abc", "lines": list(spec.evidence)}]}
                a = Analysis(rollout_id=r.id, model_name=spec.model, prompt_version="analysis-v1",
                             reduced_context=context, analysis=analysis, created_at=at + timedelta(seconds=21))
                s.add(a)
                await s.flush()
                r.analysis_id = a.id
                s.add(AnalysisMetric(analysis_id=a.id, rollout_id=r.id, model_name=spec.model, tokens_in=812,
                                     tokens_out=164, context_tokens=777, latency_s=1.25, cost_usd=spec.cost,
                                     created_at=at + timedelta(seconds=21)))
    return ids
