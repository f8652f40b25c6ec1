"""Where the analyzer gets a failed rollout's bundle: the cluster, a fixed set of bundles, or nothing.

A source returns a status-tagged `BundleFetch` instead of raising (holmesgpt's tool results): a
Deployment deleted since it failed, or an API server that does not answer, degrades the analysis
to what the rollout row knows; it never aborts it. Tests and the demo analyse without Kubernetes
through `StaticBundleSource` / `RowOnlyBundleSource` or any object with the same `fetch`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

import structlog

from fyr.db.base import utcnow
from fyr.errors import FyrError, TransientError
from fyr.models.bundle import GitInfo, RolloutBundle
from fyr.models.rollout import Rollout

log = structlog.get_logger()


@dataclass(frozen=True)
class RolloutFacts:
    """What the rollout row knows, copied out of the session (plain values, safe across awaits)."""

    rollout_id: int
    cluster: str
    namespace: str
    deployment: str
    generation: int
    revision: int | None
    image: str | None
    failure_reason: str | None
    failure_message: str | None
    failed_at: datetime | None
    git: GitInfo | None
    kind: str = "Deployment"  # or StatefulSet / DaemonSet

    @classmethod
    def from_row(cls, row: Rollout) -> RolloutFacts:
        git = None
        if row.git_commit or row.git_project or row.pipeline_url or row.mr_url or row.team:
            git = GitInfo(project=row.git_project, commit=row.git_commit, pipeline_url=row.pipeline_url,
                          mr_url=row.mr_url, team=row.team, slack_channel=row.slack_channel)
        return cls(row.id, row.cluster, row.namespace, row.deployment, row.generation, row.revision,
                   row.image, row.failure_reason, row.failure_message, row.failed_at, git, row.kind)


@dataclass(frozen=True)
class BundleFetch:
    status: Literal["ok", "unavailable"]
    bundle: RolloutBundle | None
    error: str | None = None
    transient: bool = False  # worth another attempt (API server unreachable), not a deleted Deployment


class BundleSource(Protocol):
    async def fetch(self, facts: RolloutFacts) -> BundleFetch: ...

    async def close(self) -> None: ...


def bundle_from_row(facts: RolloutFacts) -> RolloutBundle:
    """A minimal bundle from the row alone: the Deployment with the failure as its Progressing condition."""
    reason = facts.failure_reason or "ProgressDeadlineExceeded"
    message = facts.failure_message or f"rollout of generation {facts.generation} failed: {reason}"
    when = (facts.failed_at or utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ")
    annotations: dict[str, str] = {}
    if facts.revision is not None:
        annotations["deployment.kubernetes.io/revision"] = str(facts.revision)
    containers = [{"name": "app", "image": facts.image}] if facts.image else []
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": facts.deployment, "namespace": facts.namespace, "generation": facts.generation,
                     "annotations": annotations},
        "spec": {"replicas": 1, "template": {"spec": {"containers": containers}}},
        "status": {
            "observedGeneration": facts.generation,
            "conditions": [{"type": "Progressing", "status": "False", "reason": reason, "message": message,
                            "lastUpdateTime": when, "lastTransitionTime": when}],
        },
    }
    return RolloutBundle(cluster=facts.cluster, collected_at=utcnow(), deployment=deployment, git=facts.git)


class RowOnlyBundleSource:
    """No cluster access: every analysis works from the rollout row (embedded demo without K8s)."""

    async def fetch(self, facts: RolloutFacts) -> BundleFetch:
        return BundleFetch("unavailable", None, "no bundle source configured")

    async def close(self) -> None:
        return None


class StaticBundleSource:
    """Bundles given up front, by (namespace, deployment) or by a function of the facts (tests, bench)."""

    def __init__(self, bundles: Mapping[tuple[str, str], RolloutBundle] | None = None,
                 factory: Callable[[RolloutFacts], RolloutBundle | None] | None = None) -> None:
        self._bundles = dict(bundles or {})
        self._factory = factory

    async def fetch(self, facts: RolloutFacts) -> BundleFetch:
        bundle = self._bundles.get((facts.namespace, facts.deployment))
        if bundle is None and self._factory is not None:
            bundle = self._factory(facts)
        if bundle is None:
            return BundleFetch("unavailable", None, f"no bundle for {facts.namespace}/{facts.deployment}")
        return BundleFetch("ok", bundle)

    async def close(self) -> None:
        return None


Collect = Callable[[RolloutFacts], Awaitable[RolloutBundle]]


class CollectorBundleSource:
    """The live cluster through the collector; `collect` wraps `collector.collect_bundle` with its client.

    The collector raises FyrError (TransientError/PermanentError) or OSError/timeout for what it could
    not read; any of those becomes an `unavailable` fetch so the analysis degrades to the row.
    """

    def __init__(self, collect: Collect, *, timeout_s: float = 60.0,
                 close: Callable[[], Awaitable[None]] | None = None) -> None:
        self._collect = collect
        self._timeout_s = timeout_s
        self._close = close

    async def fetch(self, facts: RolloutFacts) -> BundleFetch:
        try:
            bundle = await asyncio.wait_for(self._collect(facts), self._timeout_s)
        except (FyrError, OSError, TimeoutError, ValueError) as exc:
            transient = isinstance(exc, TransientError | OSError | TimeoutError)
            log.warning("bundle_collect_failed", rollout_id=facts.rollout_id, namespace=facts.namespace,
                        deployment=facts.deployment, error=str(exc)[:300], transient=transient)
            return BundleFetch("unavailable", None, f"{type(exc).__name__}: {str(exc)[:300]}", transient)
        return BundleFetch("ok", bundle)

    async def close(self) -> None:
        if self._close is not None:
            await self._close()
