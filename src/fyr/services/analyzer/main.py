"""The analyzer service: claim failed rollouts, analyse them with bounded concurrency, store the result.

The database is the queue (docs/architecture.md 'The database is the queue'): a short transaction claims up to the
free slots with a lease; the slow work (collect → pipeline → LLM) runs outside any transaction; the result is written
only while the lease is held. A 429/5xx/timeout releases the row for later (Retry-After honoured);
the last attempt stores the rules' analysis so the failure still reaches Slack. A signature seen
within the reuse window reuses that analysis (recorded as reused) instead of paying again; identical
failures analysed at the same moment share one model call (single flight, flights.py), and past the
daily LLM budget the rules' analysis is stored with a note. The loop
catches in one place per claim and never dies; on stop it finishes what it holds within a grace
period and releases the rest.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import CollectorRegistry
from sqlalchemy.exc import SQLAlchemyError
from structlog.contextvars import bound_contextvars

from fyr.core.redaction import SecretLeak
from fyr.core.status import StatusThresholds
from fyr.db import queue as work_queue
from fyr.db import rollouts
from fyr.db.analyses import find_recent_analysis_by_signature
from fyr.db.engine import Database
from fyr.db.queue import Claim, Queue
from fyr.errors import DatabaseUnavailable, FyrError, LeaseLost, PermanentError, TransientError
from fyr.models.analysis import Analysis, AnalysisResult
from fyr.runtime import DatabaseWatch, service_backoff, wait_first
from fyr.services.analyzer import flights
from fyr.services.analyzer.chains import PROMPT_VERSION, ChatModel, build_chat_model, explain, llm_backoff
from fyr.services.analyzer.costs import estimate_cost
from fyr.services.analyzer.guard import UrlPolicy
from fyr.services.analyzer.metrics import AnalyzerMetrics, Outcome, analyzer_metrics
from fyr.services.analyzer.pipeline import PipelineResult, analyze_bundle
from fyr.services.analyzer.sources import (
    BundleFetch,
    BundleSource,
    CollectorBundleSource,
    RolloutFacts,
    bundle_from_row,
)
from fyr.settings import Settings

log = structlog.get_logger()

ApiClientFactory = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class _Explained:
    """The pipeline result as the chain sees it (the context may carry the collection status)."""

    reduced_context: dict[str, Any]
    rules: AnalysisResult


def default_owner() -> str:
    return f"analyzer-{socket.gethostname()[:24]}-{os.getpid()}"


async def kubernetes_source(settings: Settings, api_client_factory: ApiClientFactory | None = None
                            ) -> BundleSource:
    """The live cluster through the collector, with one API client for the process."""
    from fyr.core.kubeclient import make_api_client
    from fyr.services.analyzer.collect_sets import collect_workload

    factory = api_client_factory or functools.partial(make_api_client, context=settings.kube_context)
    api = await factory(kubeconfig=settings.kubeconfig)

    async def collect(facts: RolloutFacts) -> Any:
        return await collect_workload(api, kind=facts.kind, namespace=facts.namespace, name=facts.deployment,
                                      cluster=facts.cluster, tail_lines=settings.collector_tail_lines,
                                      limit_bytes=settings.collector_limit_bytes)

    return CollectorBundleSource(collect, close=api.close)


async def run_analyzer(
    *,
    settings: Settings,
    db: Database,
    stop: asyncio.Event,
    wakeup: asyncio.Event | None = None,
    on_done: Callable[[], None] | None = None,
    model: ChatModel | None = None,
    source: BundleSource | None = None,
    api_client_factory: ApiClientFactory | None = None,
    owner: str | None = None,
    registry: CollectorRegistry | None = None,
    shutdown_grace_s: float = 10.0,
    db_watch: DatabaseWatch | None = None,
) -> None:
    """Run until `stop` is set. `model`: the chat model (default: from settings when the LLM is on).

    `source`: where bundles come from (default: the cluster via the collector and
    `api_client_factory(kubeconfig=...)`, default `fyr.core.kubeclient.make_api_client`).
    """
    if model is None and settings.llm_enabled:
        model = build_chat_model(settings)
    if source is None:
        source = await kubernetes_source(settings, api_client_factory)
    worker = Analyzer(settings=settings, db=db, model=model, source=source, owner=owner or default_owner(),
                      metrics=analyzer_metrics(registry), on_done=on_done)
    try:
        await worker.run(stop=stop, wakeup=wakeup, shutdown_grace_s=shutdown_grace_s, db_watch=db_watch)
    finally:
        await source.close()


class Analyzer:
    """One analyzer replica's loop and per-rollout work (tests drive `process` directly too)."""

    def __init__(self, *, settings: Settings, db: Database, model: ChatModel | None, source: BundleSource,
                 owner: str, metrics: AnalyzerMetrics, on_done: Callable[[], None] | None = None) -> None:
        self.settings, self.db, self.model, self.source = settings, db, model, source
        self.owner, self.metrics, self.on_done = owner, metrics, on_done
        self.url_policy = UrlPolicy.build(gitlab_hosts=settings.gitlab_hosts)
        self.stored = 0
        self.retry_backoff = llm_backoff(settings.analysis_retry_base_seconds, settings.analysis_retry_max_seconds)
        # analyzer_concurrency bounds the LLM calls in flight. Up to as many rows again are claimed and
        # prepared (collected, reduced), one waiting behind each model slot, so that the slow, paid
        # resource never waits for the database or the pipeline (bench/analyzer.py: 480 rollouts
        # 86.7 % -> 88.9 % of the ideal with one waiting row per slot instead of half of one).
        self.llm_slots = asyncio.Semaphore(settings.analyzer_concurrency)
        self.claim_slots = settings.analyzer_concurrency
        if model is not None:
            self.claim_slots += max(2, settings.analyzer_concurrency)

    # --- the loop -------------------------------------------------------------------------------

    async def run(self, *, stop: asyncio.Event, wakeup: asyncio.Event | None, shutdown_grace_s: float,
                  db_watch: DatabaseWatch | None = None) -> None:
        slots = self.claim_slots
        in_flight: set[asyncio.Task[None]] = set()
        backoff = service_backoff()
        log.info("analyzer_started", owner=self.owner, concurrency=self.settings.analyzer_concurrency,
                 claims=slots, llm=self.model is not None)
        try:
            while not stop.is_set():
                in_flight = {t for t in in_flight if not t.done()}
                free = slots - len(in_flight)
                got = 0
                if free > 0:
                    try:
                        async with self.db.session() as s:
                            claims = await work_queue.claim(
                                s, Queue.ANALYSIS, owner=self.owner, limit=free,
                                lease_seconds=self.settings.analysis_lease_seconds,
                                max_attempts=self.settings.analysis_max_attempts,
                                cluster=self.settings.cluster_name)  # we can only collect from our cluster
                    except TransientError as exc:
                        # Back off (at most 5 s), but a wake-up (a FAILED just written) or the
                        # database answering again ends the wait at once.
                        delay = backoff.next_delay()
                        log.warning("analysis_claim_failed", error=str(exc), retry_in=round(delay, 2))
                        back = (db_watch.report_down() if db_watch is not None
                                and isinstance(exc, DatabaseUnavailable) else None)
                        await wait_first(stop, back, wakeup=wakeup, seconds=delay)
                        continue
                    backoff.reset()
                    got = len(claims)
                    for c in claims:
                        in_flight.add(asyncio.create_task(self.process(c), name=f"analyze-{c.rollout_id}"))
                if got and got == free:
                    continue  # the queue may hold more: claim again as soon as a slot frees
                in_flight -= await wait_first(stop, wakeup=wakeup, tasks=in_flight,
                                              seconds=self.settings.poll_interval_seconds)
                if len(in_flight) >= slots:
                    in_flight -= await wait_first(stop, tasks=in_flight)
        finally:
            await self._drain(in_flight, shutdown_grace_s)
            log.info("analyzer_stopped", owner=self.owner, stored=self.stored)

    async def _drain(self, in_flight: set[asyncio.Task[None]], grace_s: float) -> None:
        """Finish what we hold within the grace period; cancelled tasks release their claims."""
        if not in_flight:
            return
        _, pending = await asyncio.wait(in_flight, timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5.0)

    # --- one claim ------------------------------------------------------------------------------

    async def process(self, claim: Claim) -> None:
        """Analyse one claimed rollout; every log line of it carries the rollout id and attempt."""
        with bound_contextvars(rollout_id=claim.rollout_id, attempt=claim.attempt):
            await self._process(claim)

    async def _process(self, claim: Claim) -> None:
        """The one place that catches for a claim: the loop never dies."""
        try:
            await self._run_claim(claim)
        except asyncio.CancelledError:
            await asyncio.shield(self._release(claim, "analyzer stopped before finishing", 0.0))
            raise
        except LeaseLost:
            log.warning("analysis_lease_lost")
        except TransientError as exc:
            delay = self._delay(claim, exc.retry_after)
            log.warning("analysis_retry", error=str(exc), retry_in=round(delay, 2))
            await self._release(claim, str(exc), delay)
        except FyrError as exc:
            log.error("analysis_failed", error=str(exc))
            await self._give_up(claim, str(exc))
        except Exception as exc:
            # The loop's one catch-all: a bug in one analysis must not stop the others; the row
            # goes back to the pool with a long backoff and the error kept.
            log.exception("analysis_crashed")
            await self._release(claim, f"{type(exc).__name__}: {exc}", self.settings.analysis_retry_max_seconds)

    def _delay(self, claim: Claim, retry_after: float | None) -> float:
        return self.retry_backoff.delay(claim.attempt, retry_after=retry_after)

    async def _release(self, claim: Claim, error: str, retry_in: float) -> None:
        try:
            async with self.db.session() as s:
                await work_queue.release(s, Queue.ANALYSIS, claim, error=error, retry_in=retry_in)
        except (LeaseLost, TransientError) as exc:
            # The lease will expire by itself and the row returns to the pool.
            log.warning("analysis_release_failed", error=str(exc))

    async def _give_up(self, claim: Claim, error: str) -> None:
        try:
            async with self.db.session() as s:
                await work_queue.give_up(s, Queue.ANALYSIS, claim, error=error)
        except (LeaseLost, TransientError) as exc:
            log.warning("analysis_give_up_failed", error=str(exc))

    async def _run_claim(self, claim: Claim) -> None:
        """Fetch the claimed rollout's bundle, run the pipeline (analyze_bundle), then store the rules' analysis,
        reuse an earlier one or ask the model."""
        async with self.db.session() as s:
            row = await rollouts.get_rollout(s, claim.rollout_id)
            if row is None:
                raise PermanentError(f"rollout {claim.rollout_id} vanished")
            facts = RolloutFacts.from_row(row)
            fresh = bool(row.analysis_fresh)  # a re-analysis asked from Slack: reuse nothing
        fetch = await self.source.fetch(facts)
        if fetch.transient and claim.attempt < self.settings.analysis_max_attempts - 1:
            # The cluster may answer in a moment; the last attempts analyse what the row knows.
            raise TransientError(f"bundle unavailable: {fetch.error}")
        bundle = fetch.bundle if fetch.bundle is not None else bundle_from_row(facts)
        result = await asyncio.to_thread(analyze_bundle, bundle, context_tokens=self.settings.context_tokens,
                                         thresholds=StatusThresholds.from_settings(self.settings),
                                         url_policy=self.url_policy)
        context = _with_collection_status(result.reduced_context, fetch)
        result.check(context, where="context")  # fail closed (SecretLeak is permanent): nothing stored or sent
        if self.model is None:
            await self._store(claim, result, context, result.rules, "rules", {"model_name": "rules"})
            return
        if not fresh and await self._reuse(claim, result, context):
            return
        key = await self._lead_or_follow(claim, result, context)
        if key == _FOLLOWED:
            return
        try:
            await self._call_model(claim, result, context, key)
        finally:
            if key is not None:
                await _quietly(flights.release(self.db, key, owner=self._flight_owner(claim)))

    def _flight_owner(self, claim: Claim) -> str:
        return f"{self.owner}:{claim.rollout_id}"

    async def _lead_or_follow(self, claim: Claim, result: PipelineResult, context: dict[str, Any]) -> str | None:
        """The flight key this claim leads (None: no single flight), or _FOLLOWED when it reused a leader's."""
        if self.settings.analysis_reuse_window_seconds <= 0 or not result.signature:
            return None
        key = flights.flight_key(_target(context), result.rules, result.verdict.image)
        ttl = self.settings.analysis_lease_seconds
        for _ in range(3):
            if await flights.begin(self.db, key, owner=self._flight_owner(claim), rollout_id=claim.rollout_id,
                                   ttl_s=ttl):
                return key
            log.info("analysis_waiting_for_flight", flight=key[:12])
            leader_id = await flights.wait(self.db, key, timeout_s=ttl * 0.8)
            if leader_id is not None and await self._reuse_flight(claim, result, context, leader_id):
                return _FOLLOWED
        return None  # the leaders kept failing: call the model for this one

    async def _reuse_flight(self, claim: Claim, result: PipelineResult, context: dict[str, Any],
                            leader_id: int) -> bool:
        async with self.db.session() as s:
            leader = await s.get(Analysis, leader_id)
            if leader is None:
                return False
            original = AnalysisResult.model_validate(leader.analysis)
            analysis = flights.readdress(original, leader_target=_target(leader.reduced_context),
                                         target=_target(context), evidence=list(result.rules.evidence))
            await work_queue.complete_analysis(
                s, claim, analysis=analysis, reduced_context=context, signature=result.signature,
                reused_from_id=leader.reused_from_id or leader.id,
                metrics={"model_name": leader.model_name, "context_tokens": result.context_tokens, "reused": True,
                         "attempts": claim.attempt},
            )
        log.info("analysis_reused", reused_from_id=leader_id, via="single_flight")
        self._done("reused")
        return True

    async def _over_budget(self, claim: Claim, result: PipelineResult, context: dict[str, Any]) -> bool:
        budget = self.settings.llm_budget_usd_per_day
        if budget is None:
            return False
        spent = await flights.spent_today(self.db)
        self.metrics.spent_today_usd.set(spent)
        if spent < budget:
            return False
        log.warning("analysis_llm_budget_spent", budget_usd=budget,
                    spent_usd=round(spent, 4))
        analysis = flights.over_budget_analysis(result.rules, budget_usd=budget, spent_usd=spent)
        await self._store(claim, result, context, analysis, "budget", {"model_name": "rules", "fallback": True})
        return True

    async def _call_model(self, claim: Claim, result: PipelineResult, context: dict[str, Any],
                          key: str | None) -> None:
        if await self._over_budget(claim, result, context):
            return
        assert self.model is not None
        result.check(result.rules.model_dump(mode="json"), where="llm_request.rules")
        try:
            async with self.llm_slots:
                out = await explain(_Explained(context, result.rules), model=self.model,
                                    prompt_version=PROMPT_VERSION, url_policy=self.url_policy)
        except TransientError as exc:
            self.metrics.llm_errors.labels(kind="transient").inc()
            if claim.attempt < self.settings.analysis_max_attempts:
                raise
            log.warning("analysis_llm_gave_up", attempts=claim.attempt, error=str(exc))
            await self._store(claim, result, context, result.rules, "fallback",
                              {"model_name": "rules", "fallback": True})
            return
        except PermanentError as exc:
            self.metrics.llm_errors.labels(kind="permanent").inc()
            log.warning("analysis_llm_failed", error=str(exc))
            await self._store(claim, result, context, result.rules, "fallback",
                              {"model_name": "rules", "fallback": True})
            return
        cost = estimate_cost(out.model_name, out.tokens_in, out.tokens_out, self.settings.llm_prices)
        self.metrics.observe_call(model=out.model_name, tokens_in=out.tokens_in, tokens_out=out.tokens_out,
                                  cost_usd=cost, latency_s=out.latency_s)
        analysis_id = await self._store(claim, result, context, out.analysis, "fallback" if out.fallback else "llm", {
            "model_name": out.model_name, "tokens_in": out.tokens_in, "tokens_out": out.tokens_out,
            "latency_s": out.latency_s, "cost_usd": cost, "fallback": out.fallback,
        })
        if key is not None and not out.fallback:  # a fallback is the rules' answer: waiters ask the model
            await _quietly(flights.finish(self.db, key, owner=self._flight_owner(claim), analysis_id=analysis_id))

    async def _reuse(self, claim: Claim, result: PipelineResult, context: dict[str, Any]) -> bool:
        window = self.settings.analysis_reuse_window_seconds
        if window <= 0 or not result.signature or result.rules.flags:
            return False  # a flagged analysis (e.g. possible prompt injection) is never swapped for an older one
        async with self.db.session() as s:
            found = await find_recent_analysis_by_signature(s, result.signature, window_seconds=window)
            if found is None:
                return False
            analysis = AnalysisResult.model_validate(found.analysis)
            try:
                result.check(analysis.model_dump(mode="json"), where="reused_analysis")
            except SecretLeak:
                return False
            await work_queue.complete_analysis(
                s, claim, analysis=analysis, reduced_context=context, signature=result.signature,
                reused_from_id=found.id,
                metrics={"model_name": found.model_name, "context_tokens": result.context_tokens, "reused": True,
                         "attempts": claim.attempt},
            )
        log.info("analysis_reused", reused_from_id=found.id)
        self.metrics.observe_flags(analysis)
        self._done("reused")
        return True

    async def _store(self, claim: Claim, result: PipelineResult, context: dict[str, Any],
                     analysis: AnalysisResult, outcome: Outcome, metrics: Mapping[str, Any]) -> int:
        try:
            result.check(analysis.model_dump(mode="json"), where="analysis")
        except SecretLeak as exc:
            if analysis is result.rules:
                raise
            # fail closed: a model's answer holding a secret is never stored (nor masked and stored)
            log.warning("llm_answer_withheld", reason=str(exc))
            analysis, outcome = result.rules, "fallback"
            metrics = {**metrics, "model_name": "rules", "fallback": True}
        async with self.db.session() as s:
            analysis_id = await work_queue.complete_analysis(
                s, claim, analysis=analysis, reduced_context=context, signature=result.signature,
                metrics={"context_tokens": result.context_tokens, "attempts": claim.attempt, **metrics},
            )
        log.info("analysis_stored", analysis_id=analysis_id, outcome=outcome,
                 category=analysis.category.value, model_name=analysis.model_name,
                 flags=[f.kind.value for f in analysis.flags])
        self.metrics.observe_flags(analysis)
        self._done(outcome)
        return analysis_id

    def _done(self, outcome: Outcome) -> None:
        self.stored += 1
        self.metrics.observe_outcome(outcome)
        if self.on_done is not None:
            self.on_done()


_FOLLOWED = "followed"


def _target(context: Mapping[str, Any]) -> str:
    head = context.get("rollout") or {}
    return f"{head.get('namespace', '?')}/{head.get('deployment', '?')}"


async def _quietly(job: Awaitable[None]) -> None:
    """Flight bookkeeping never fails an analysis: a lost update only makes waiters call the model."""
    try:
        await job
    except (TransientError, SQLAlchemyError) as exc:
        log.warning("analysis_flight_update_failed", error=str(exc))


def _with_collection_status(context: dict[str, Any], fetch: BundleFetch) -> dict[str, Any]:
    if fetch.status == "ok":
        return context
    return {**context, "collection": {"status": fetch.status, "error": fetch.error,
                                      "note": "the cluster could not be read; facts come from the rollout record"}}


__all__ = ["Analyzer", "default_owner", "kubernetes_source", "run_analyzer"]
