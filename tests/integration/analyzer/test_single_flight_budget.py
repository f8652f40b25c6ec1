"""Single flight per failure signature and the daily LLM budget, through the real analyzer service,
the real langchain-openai client and the loopback OpenAI-compatible fake."""

from __future__ import annotations

import json
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from fyr.db.engine import Database
from fyr.models.analysis import Analysis, AnalysisMetric
from fyr.models.bundle import RolloutBundle, parse_bundle
from fyr.services.analyzer.sources import RolloutFacts, StaticBundleSource
from tests.fakes.openai_api import FakeOpenAI, server_error
from tests.integration.analyzer.conftest import corpus_bundle, llm_settings, seed_failed
from tests.integration.analyzer.test_service import all_analysed, analyses_of, crash_source, run_until
from tests.integration.analyzer.test_service_mysql import start_workers, stop_workers, wait_done

pytestmark = pytest.mark.timeout(60)


def per_namespace_source() -> StaticBundleSource:
    """The same broken service deployed in every namespace (the corpus' Go nil-pointer panic)."""
    text = json.dumps(corpus_bundle("go_panic_nil_pointer").to_json_dict())

    def make(facts: RolloutFacts) -> RolloutBundle:
        data: dict[str, Any] = json.loads(text.replace('"namespace": "shop"', f'"namespace": "{facts.namespace}"'))
        return parse_bundle(data)

    return StaticBundleSource(factory=make)


async def test_one_broken_service_in_ten_namespaces_makes_one_model_call(database: Database) -> None:
    async with FakeOpenAI(latency_s=0.5) as fake:
        ids = [rid for i in range(10) for rid in await seed_failed(database, 1, namespace=f"team-{i}")]
        registry = CollectorRegistry()
        await run_until(database, llm_settings(fake, analyzer_concurrency=4), all_analysed(database, ids),
                        source=per_namespace_source(), registry=registry, limit_s=40)
        assert len(fake.requests) == 1
    stored = [row for rid in ids for row in await analyses_of(database, rid)]
    leaders = [(a, m) for a, m in stored if not m.reused]
    assert len(stored) == 10 and len(leaders) == 1
    leader = leaders[0][0]
    leader_ns = leader.reduced_context["rollout"]["namespace"]
    for analysis, metric in stored:
        if analysis.id == leader.id:
            continue
        ns = analysis.reduced_context["rollout"]["namespace"]
        assert metric.reused and metric.cost_usd == 0 and metric.tokens_in == 0
        assert analysis.reused_from_id == leader.id
        assert analysis.model_name == leader.model_name  # the model's explanation, not the rules'
        assert f"{ns}/payments" in analysis.analysis["summary"]  # re-addressed to its own deployment
        assert f"{leader_ns}/payments" not in json.dumps(analysis.analysis)
        assert analysis.analysis["evidence"] and all(leader_ns not in e for e in analysis.analysis["evidence"])
    assert registry.get_sample_value("fyr_analyses_total", {"outcome": "reused"}) == 9
    assert registry.get_sample_value("fyr_analyses_total", {"outcome": "llm"}) == 1


async def test_a_leader_whose_model_call_fails_lets_a_waiter_call_the_model(database: Database) -> None:
    async with FakeOpenAI(latency_s=0.3) as fake:
        fake.script(server_error(400))
        ids = [rid for i in range(3) for rid in await seed_failed(database, 1, namespace=f"team-{i}")]
        await run_until(database, llm_settings(fake), all_analysed(database, ids), source=per_namespace_source(),
                        limit_s=40)
        assert len(fake.requests) == 2  # the failed leader's, then one new leader's; the third reuses
    stored = [row for rid in ids for row in await analyses_of(database, rid)]
    assert sum(m.fallback for _, m in stored) == 1
    assert sum(m.reused for _, m in stored) == 1


async def test_past_the_daily_budget_the_rules_analysis_is_stored_and_says_so(database: Database) -> None:
    async with FakeOpenAI() as fake:
        settings = llm_settings(fake, llm_budget_usd_per_day=1e-9, analysis_reuse_window_seconds=0)
        [first] = await seed_failed(database, 1, first_generation=1)
        registry = CollectorRegistry()
        await run_until(database, settings, all_analysed(database, [first]), source=crash_source(),
                        registry=registry)
        [second] = await seed_failed(database, 1, first_generation=2)
        await run_until(database, settings, all_analysed(database, [second]), source=crash_source(),
                        registry=registry)
        assert len(fake.requests) == 1
    [(paid, paid_metric)] = await analyses_of(database, first)
    [(skipped, metric)] = await analyses_of(database, second)
    assert paid_metric.cost_usd > 1e-9 and paid.model_name != "rules"
    assert skipped.model_name == "rules" and metric.fallback and metric.cost_usd == 0
    assert "daily LLM budget FYR_LLM_BUDGET_USD_PER_DAY=$0.00 is spent" in skipped.analysis["root_cause"]
    assert registry.get_sample_value("fyr_analyses_total", {"outcome": "budget"}) == 1
    spent = registry.get_sample_value("fyr_llm_spent_today_usd")
    assert spent is not None and spent == pytest.approx(paid_metric.cost_usd)


async def test_no_budget_set_never_reads_the_spend(database: Database) -> None:
    async with FakeOpenAI() as fake:
        ids = await seed_failed(database, 2)
        registry = CollectorRegistry()
        await run_until(database, llm_settings(fake, analysis_reuse_window_seconds=0), all_analysed(database, ids),
                        source=crash_source(), registry=registry)
        assert len(fake.requests) == 2
    assert registry.get_sample_value("fyr_analyses_total", {"outcome": "budget"}) is None


@pytest.mark.mysql
@pytest.mark.slow
async def test_two_analyzer_processes_on_mariadb_share_one_model_call(mysql_test_url: str) -> None:
    db = Database.from_url(mysql_test_url, pool_size=5)
    try:
        async with FakeOpenAI(latency_s=1.0) as fake:
            ids = await seed_failed(db, 8)
            procs = await start_workers(2, url=mysql_test_url, fake=fake, lease_s=30,
                                        extra={"FYR_ANALYSIS_REUSE_WINDOW_SECONDS": "3600"})
            try:
                await wait_done(db, len(ids), 60)
            finally:
                await stop_workers(procs)
            assert len(fake.requests) == 1
        async with db.session() as s:
            reused = (await s.execute(select(func.count()).select_from(AnalysisMetric)
                                      .where(AnalysisMetric.reused.is_(True)))).scalar_one()
            originals = (await s.execute(select(func.count()).select_from(Analysis)
                                         .where(Analysis.reused_from_id.is_(None)))).scalar_one()
        assert reused == 7 and originals == 1
    finally:
        await db.dispose()
