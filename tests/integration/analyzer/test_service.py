"""The analyzer service on SQLite: claim → pipeline → LLM (loopback fake) → store, with its failure paths."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from fyr.db import rollouts
from fyr.db.engine import Database
from fyr.models.analysis import Analysis, AnalysisMetric
from fyr.models.rollout import AnalysisStatus, NotifyStatus, Rollout
from fyr.services.analyzer.main import run_analyzer
from fyr.services.analyzer.sources import BundleSource, RowOnlyBundleSource, StaticBundleSource
from fyr.settings import Settings
from tests.fakes.openai_api import FakeOpenAI, hang, rate_limited, server_error
from tests.integration.analyzer.conftest import corpus_bundle, llm_settings, seed_failed

pytestmark = pytest.mark.timeout(30)


def crash_source() -> StaticBundleSource:
    bundle = corpus_bundle("go_panic_nil_pointer")
    return StaticBundleSource(factory=lambda facts: bundle)


async def run_until(db: Database, settings: Settings, done: Callable[[], Any], *, source: BundleSource,
                    registry: CollectorRegistry | None = None, limit_s: float = 15.0,
                    on_done: Callable[[], None] | None = None) -> None:
    """Run the service until `await done()` is true, then stop it and wait for it to return."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_analyzer(settings=settings, db=db, stop=stop, source=source,
                                            registry=registry or CollectorRegistry(), on_done=on_done,
                                            shutdown_grace_s=1.0))
    try:
        async with asyncio.timeout(limit_s):
            while not await done():
                if task.done():
                    task.result()
                    raise AssertionError("analyzer returned before the work was done")
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def all_analysed(db: Database, ids: list[int]) -> Callable[[], Any]:
    async def check() -> bool:
        async with db.session() as s:
            rows = (await s.execute(select(Rollout.analysis_status).where(Rollout.id.in_(ids)))).scalars().all()
        return all(r in (AnalysisStatus.DONE, AnalysisStatus.FAILED) for r in rows)
    return check


async def analyses_of(db: Database, rollout_id: int) -> list[tuple[Analysis, AnalysisMetric]]:
    async with db.session() as s:
        stmt = (select(Analysis, AnalysisMetric).join(AnalysisMetric, AnalysisMetric.analysis_id == Analysis.id)
                .where(Analysis.rollout_id == rollout_id).order_by(Analysis.id))
        return [(a, m) for a, m in (await s.execute(stmt)).all()]


async def rollout(db: Database, rollout_id: int) -> Rollout:
    async with db.session() as s:
        row = await rollouts.get_rollout(s, rollout_id)
        assert row is not None
        return row


async def test_failed_rollout_gets_an_llm_analysis_with_cost_and_is_queued_for_slack(
    database: Database, fake_openai: FakeOpenAI
) -> None:
    [rid] = await seed_failed(database, 1)
    woken: list[int] = []
    registry = CollectorRegistry()
    await run_until(database, llm_settings(fake_openai), all_analysed(database, [rid]), source=crash_source(),
                    registry=registry, on_done=lambda: woken.append(1))
    [(analysis, metric)] = await analyses_of(database, rid)
    assert analysis.model_name == "gpt-4o-mini-2024-07-18"
    assert analysis.prompt_version == "analysis-v3"
    assert analysis.analysis["summary"].startswith("LLM: ")
    assert analysis.signature and analysis.reduced_context
    assert metric.tokens_in > 0 and metric.tokens_out > 0 and metric.cost_usd > 0 and metric.latency_s > 0
    assert not metric.fallback and not metric.reused and metric.attempts == 1
    row = await rollout(database, rid)
    assert row.analysis_status == AnalysisStatus.DONE and row.notify_status == NotifyStatus.PENDING
    assert row.analysis_id == analysis.id
    assert woken == [1]
    assert registry.get_sample_value("fyr_analyses_total", {"outcome": "llm"}) == 1
    assert (registry.get_sample_value("fyr_llm_tokens_in_total", {"model": "gpt-4o-mini-2024-07-18"})
            == metric.tokens_in)


async def test_same_failure_signature_reuses_the_analysis_instead_of_calling_the_model(
    database: Database, fake_openai: FakeOpenAI
) -> None:
    [first] = await seed_failed(database, 1, first_generation=1)
    settings = llm_settings(fake_openai)
    await run_until(database, settings, all_analysed(database, [first]), source=crash_source())
    [second] = await seed_failed(database, 1, first_generation=2)
    await run_until(database, settings, all_analysed(database, [second]), source=crash_source())
    assert len(fake_openai.requests) == 1
    [(original, _)] = await analyses_of(database, first)
    [(reused, metric)] = await analyses_of(database, second)
    assert reused.reused_from_id == original.id and metric.reused
    assert reused.analysis == original.analysis and reused.signature == original.signature
    assert metric.tokens_in == 0 and metric.cost_usd == 0
    assert (await rollout(database, second)).notify_status == NotifyStatus.PENDING


async def test_reuse_window_zero_calls_the_model_every_time(database: Database, fake_openai: FakeOpenAI) -> None:
    ids = await seed_failed(database, 3)
    await run_until(database, llm_settings(fake_openai, analysis_reuse_window_seconds=0),
                    all_analysed(database, ids), source=crash_source())
    assert len(fake_openai.requests) == 3


async def test_rate_limit_is_retried_after_retry_after_and_then_succeeds(
    database: Database, fake_openai: FakeOpenAI
) -> None:
    [rid] = await seed_failed(database, 1)
    fake_openai.script(rate_limited(1.0))
    await run_until(database, llm_settings(fake_openai), all_analysed(database, [rid]), source=crash_source())
    assert len(fake_openai.requests) == 2
    assert fake_openai.request_times[1] - fake_openai.request_times[0] >= 0.95
    [(analysis, metric)] = await analyses_of(database, rid)
    assert analysis.model_name == "gpt-4o-mini-2024-07-18" and metric.attempts == 2


async def test_server_errors_until_give_up_store_the_rules_analysis_and_still_notify(
    database: Database, fake_openai: FakeOpenAI
) -> None:
    [rid] = await seed_failed(database, 1)
    fake_openai.script(server_error(500), server_error(502), server_error(503))
    settings = llm_settings(fake_openai, analysis_max_attempts=3)
    await run_until(database, settings, all_analysed(database, [rid]), source=crash_source())
    assert len(fake_openai.requests) == 3
    [(analysis, metric)] = await analyses_of(database, rid)
    assert analysis.model_name == "rules" and analysis.analysis["category"] == "crash_loop"
    assert metric.fallback and metric.attempts == 3
    row = await rollout(database, rid)
    assert row.analysis_status == AnalysisStatus.DONE and row.notify_status == NotifyStatus.PENDING


async def test_llm_timeout_is_retried(database: Database, fake_openai: FakeOpenAI) -> None:
    [rid] = await seed_failed(database, 1)
    fake_openai.script(hang(10.0))
    settings = llm_settings(fake_openai, llm_timeout_seconds=0.5)
    await run_until(database, settings, all_analysed(database, [rid]), source=crash_source())
    [(analysis, metric)] = await analyses_of(database, rid)
    assert analysis.model_name.startswith("gpt-4o-mini") and metric.attempts == 2


async def test_invalid_model_answer_stores_the_rules_analysis_marked_as_fallback(database: Database) -> None:
    def lying(body: dict[str, Any]) -> dict[str, Any]:
        return {"category": "image_pull", "summary": "pull error", "root_cause": "x",
                "evidence": ["ErrImagePull: not in this context at all"], "suggested_fix": "y",
                "confidence": "high"}

    async with FakeOpenAI(answer=lying) as fake:
        [rid] = await seed_failed(database, 1)
        await run_until(database, llm_settings(fake), all_analysed(database, [rid]), source=crash_source())
    [(analysis, metric)] = await analyses_of(database, rid)
    assert analysis.model_name == "rules" and analysis.analysis["category"] == "crash_loop"
    assert metric.fallback and metric.tokens_in > 0  # the call was paid for


async def test_without_llm_the_rules_analysis_is_stored(database: Database) -> None:
    [rid] = await seed_failed(database, 1)
    await run_until(database, llm_settings(None), all_analysed(database, [rid]), source=crash_source())
    [(analysis, metric)] = await analyses_of(database, rid)
    assert analysis.model_name == "rules" and not metric.fallback
    assert "nil pointer" in " ".join(analysis.analysis["evidence"])


async def test_deleted_deployment_degrades_to_what_the_rollout_row_knows(database: Database) -> None:
    [rid] = await seed_failed(database, 1)
    await run_until(database, llm_settings(None), all_analysed(database, [rid]), source=RowOnlyBundleSource())
    [(analysis, _)] = await analyses_of(database, rid)
    assert analysis.reduced_context["collection"]["status"] == "unavailable"
    assert (await rollout(database, rid)).notify_status == NotifyStatus.PENDING


async def test_stop_releases_the_claims_it_cannot_finish(database: Database) -> None:
    ids = await seed_failed(database, 2)
    async with FakeOpenAI(latency_s=20.0) as fake:
        stop = asyncio.Event()
        # two model calls in flight at once: no single flight for the two identical failures
        task = asyncio.create_task(run_analyzer(settings=llm_settings(fake, analysis_reuse_window_seconds=0),
                                                db=database, stop=stop, source=crash_source(),
                                                registry=CollectorRegistry(), shutdown_grace_s=0.2))
        async with asyncio.timeout(10):
            while len(fake.requests) < 2:  # noqa: ASYNC110 - polling a fake's request log
                await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 10)
    for rid in ids:
        row = await rollout(database, rid)
        assert row.analysis_status == AnalysisStatus.PENDING
        assert row.analysis_lease_owner is None and row.analysis_attempts == 1
    async with database.session() as s:
        assert (await s.execute(select(func.count()).select_from(Analysis))).scalar_one() == 0


async def test_one_bad_rollout_does_not_stop_the_others(database: Database) -> None:
    ids = await seed_failed(database, 3)

    def factory(facts: Any) -> Any:
        if facts.rollout_id == ids[0]:
            raise RuntimeError("bug in a bundle factory")
        return corpus_bundle("go_panic_nil_pointer")

    stop_when = all_analysed(database, ids[1:])
    await run_until(database, llm_settings(None), stop_when, source=StaticBundleSource(factory=factory))
    row = await rollout(database, ids[0])
    assert row.analysis_status == AnalysisStatus.PENDING and "bug in a bundle factory" in (row.analysis_error or "")


async def test_injected_logs_are_flagged_in_the_store_the_metric_the_message_and_the_history(
    database: Database, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from fyr.history import show_command
    from fyr.models.bundle import RolloutBundle
    from fyr.services.notifier.render import render_failure, view_from_rows
    from tests.corpus.injection_corpus import payloads, planted
    from tests.fakes.openai_api import answer_obediently

    payload = next(p for p in payloads() if p.name == "plain_issue_example")
    bundle = RolloutBundle.model_validate(planted("go_panic_nil_pointer", payload))
    registry = CollectorRegistry()
    async with FakeOpenAI(answer=answer_obediently) as fake:
        [rid] = await seed_failed(database, 1)
        await run_until(database, llm_settings(fake), all_analysed(database, [rid]),
                        source=StaticBundleSource(factory=lambda facts: bundle), registry=registry)
    [(analysis, _)] = await analyses_of(database, rid)
    stored = analysis.analysis
    assert stored["category"] == "crash_loop" and "evil.example" not in stored["suggested_fix"]
    assert stored["flags"][0]["message"].startswith("possible prompt injection in logs")
    assert registry.get_sample_value("fyr_analysis_flags_total", {"kind": "prompt_injection"}) == 1
    message = render_failure(view_from_rows(await rollout(database, rid), analysis))
    assert "possible prompt injection in logs" in json.dumps(message.blocks) and "possible prompt" in message.text
    code = await show_command(Settings(_env_file=None, database_url=sqlite_url), rid,  # type: ignore[call-arg]
                              fmt="text")
    assert code == 0 and "possible prompt injection in logs" in capsys.readouterr().out


async def test_a_model_answer_holding_a_secret_is_never_stored_the_rules_analysis_is(database: Database) -> None:
    from tests.fakes.openai_api import answer_from_rules

    def leaky(body: dict[str, Any]) -> dict[str, Any]:
        answer = answer_from_rules(body)
        answer["summary"] = f"{answer['summary']} (it used sk_live_4eC39HqLyjWDarjtT1zdp7dc)"
        return answer

    async with FakeOpenAI(answer=leaky) as fake:
        [rid] = await seed_failed(database, 1)
        await run_until(database, llm_settings(fake), all_analysed(database, [rid]), source=crash_source())
    [(analysis, metric)] = await analyses_of(database, rid)
    assert analysis.model_name == "rules" and metric.fallback
    assert "4eC39HqLyjWDarjtT1zdp7dc" not in repr(analysis.analysis)
