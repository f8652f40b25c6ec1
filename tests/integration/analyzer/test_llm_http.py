"""The chain through the real langchain-openai client against an OpenAI-compatible fake on loopback."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from fyr.errors import PermanentError, TransientError
from fyr.models.analysis import AnalysisResult, Category
from fyr.models.bundle import load_bundle
from fyr.services.analyzer import chains, reduction
from fyr.services.analyzer.pipeline import analyze_bundle
from fyr.settings import Settings
from tests.fakes.openai_api import Failure, FakeOpenAI, hang, rate_limited, server_error

pytestmark = pytest.mark.timeout(30)

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
DECISIVE = 'Error: secret "db-credentials" not found'


@dataclass
class Result:
    reduced_context: dict[str, Any]
    rules: AnalysisResult


def pipeline_result() -> Result:
    rules = AnalysisResult(
        category=Category.CONFIG_ERROR,
        summary="api cannot start: Secret db-credentials is missing",
        root_cause="The pod references a Secret that does not exist in namespace shop.",
        evidence=[DECISIVE],
        suggested_fix="Create the Secret db-credentials or fix the reference.",
        confidence="high",
    )
    ctx = {"events": [{"reason": "Failed", "message": DECISIVE, "count": 7}],
           "pods": [{"signal": "CreateContainerConfigError", "count": 2}]}
    return Result(ctx, rules)


def settings_for(fake: FakeOpenAI, **kw: Any) -> Settings:
    base: dict[str, Any] = {"openai_api_key": "sk-test-not-a-real-key", "openai_base_url": fake.base_url,
                            "llm": "openai", "llm_model": "gpt-4o-mini", "llm_timeout_seconds": 5.0}
    base.update(kw)
    return Settings(**base)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
async def test_structured_output_is_parsed_and_the_answering_model_recorded(
    fake: FakeOpenAI, method: chains.StructuredMethod
) -> None:
    model = chains.build_chat_model(settings_for(fake))
    outcome = await chains.explain(pipeline_result(), model=model, method=method)
    assert not outcome.fallback, outcome.reason
    assert outcome.analysis.summary.startswith("LLM: ")
    assert outcome.analysis.category is Category.CONFIG_ERROR
    assert outcome.analysis.model_name == "gpt-4o-mini-2024-07-18"
    assert outcome.tokens_in > 0 and outcome.tokens_out > 0
    body = fake.requests[0]
    assert body["model"] == "gpt-4o-mini"
    if method == "function_calling":
        assert body["tools"][0]["function"]["name"] == "RolloutAnalysis"
    else:
        assert body["response_format"]["type"] == "json_schema"


async def test_rate_limit_retry_after_is_honoured_then_the_call_succeeds(fake: FakeOpenAI) -> None:
    fake.script(rate_limited(1.0))
    model = chains.build_chat_model(settings_for(fake))
    with pytest.raises(TransientError) as err:
        await chains.explain(pipeline_result(), model=model)
    assert err.value.retry_after == 1.0

    fake.script(rate_limited(1.0))
    started = time.monotonic()
    outcome = await chains.explain_with_retries(pipeline_result(), model=model, max_attempts=3,
                                                base_s=30.0, cap_s=60.0)
    assert not outcome.fallback
    assert len(fake.requests) == 3
    # the retry waited what the server asked (1 s), not the 30 s backoff
    assert fake.request_times[2] - fake.request_times[1] >= 0.95
    assert time.monotonic() - started < 10


async def test_server_errors_until_give_up_yield_the_rules_analysis(fake: FakeOpenAI) -> None:
    fake.script(server_error(500), server_error(502), server_error(503))
    model = chains.build_chat_model(settings_for(fake))
    outcome = await chains.explain_with_retries(pipeline_result(), model=model, max_attempts=3,
                                                base_s=0.05, cap_s=0.1)
    assert outcome.fallback and "gave up after 3 attempts" in (outcome.reason or "")
    assert outcome.analysis.model_name == "rules"
    assert len(fake.requests) == 3


async def test_a_hanging_server_times_out_as_a_transient_error(fake: FakeOpenAI) -> None:
    fake.script(hang(10.0))
    model = chains.build_chat_model(settings_for(fake, llm_timeout_seconds=0.5))
    started = time.monotonic()
    with pytest.raises(TransientError, match="timeout"):
        await chains.explain(pipeline_result(), model=model)
    assert time.monotonic() - started < 5
    outcome = await chains.explain(pipeline_result(), model=model)  # the next call is answered
    assert not outcome.fallback


async def test_a_client_error_is_permanent(fake: FakeOpenAI) -> None:
    fake.script(Failure(400))
    model = chains.build_chat_model(settings_for(fake))
    with pytest.raises(PermanentError):
        await chains.explain(pipeline_result(), model=model)


async def test_offline_explainer_is_none_without_llm_and_calls_the_server_with_it(fake: FakeOpenAI) -> None:
    assert chains.make_offline_explainer(Settings(llm="none")) is None
    explain = chains.make_offline_explainer(settings_for(fake))
    assert explain is not None
    analysis = await explain(pipeline_result())
    assert analysis.model_name == "gpt-4o-mini-2024-07-18"
    assert len(fake.requests) == 1


async def test_no_planted_secret_of_the_corpus_ever_reaches_the_llm(fake: FakeOpenAI) -> None:
    corpus = CORPUS
    expected = yaml.safe_load((corpus / "expected.yaml").read_text())
    model = chains.build_chat_model(settings_for(fake))
    planted: set[str] = set()
    for name, exp in sorted(expected.items()):
        planted.update(exp.get("secrets") or [])
        result = analyze_bundle(load_bundle(corpus / f"{name}.json"))
        await chains.explain(result, model=model)
    assert len(fake.requests) == len(expected) >= 30
    assert len(planted) >= 10
    sent = fake.raw_bodies()
    # the bodies are JSON: compare against the raw, the JSON-escaped and the datamarked form of each secret
    mark = reduction.datamark
    forms = {s: {s, json.dumps(s)[1:-1], mark(s), json.dumps(mark(s))[1:-1]} for s in planted}
    leaked = [s for s, variants in forms.items() if any(v in sent for v in variants)]
    assert leaked == []
    # and the context did reach the model (the check above is not vacuous)
    assert json.dumps(reduction.datamark("nil pointer dereference"))[1:-1] in sent


async def test_fyr_analyze_with_llm_openai_reports_the_model_that_answered(fake: FakeOpenAI) -> None:
    from fyr.services.analyzer.offline import run_analyze

    settings = settings_for(fake)
    code, text = await run_analyze(CORPUS / "go_panic_nil_pointer.json", fmt="json", settings=settings,
                                   explain=chains.make_offline_explainer(settings))
    assert code == 0
    out = json.loads(text)
    assert out["analysis"]["model_name"] == "gpt-4o-mini-2024-07-18"
    assert out["analysis"]["prompt_version"] == "analysis-v3"
    assert len(fake.requests) == 1


def test_a_model_built_on_a_new_event_loop_works_where_an_earlier_loop_used_the_same_server() -> None:
    """langchain-openai shares one connection pool per (base URL, timeout) by default; a pool opened on
    a loop that has since closed failed the next call with "Event loop is closed" (seen in CI when a
    test's fake server got an earlier test's port)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])

    async def once() -> str:
        async with FakeOpenAI(port=port) as fake:
            model = chains.build_chat_model(settings_for(fake))
            return (await chains.explain(pipeline_result(), model=model)).model_name

    assert asyncio.run(once()) == asyncio.run(once()) == "gpt-4o-mini-2024-07-18"


async def test_the_context_sent_to_the_model_is_byte_for_byte_the_text_the_budget_counted(fake: FakeOpenAI) -> None:
    from fyr.services.analyzer.tokens import count_tokens

    result = analyze_bundle(load_bundle(CORPUS / "buried_in_noise.json"), context_tokens=1500)
    await chains.explain(result, model=chains.build_chat_model(settings_for(fake)))
    human = next(m["content"] for m in fake.requests[0]["messages"] if m["role"] == "user")
    sent = human.split("<context_json>\n", 1)[1].split("\n</context_json>", 1)[0]
    assert sent == reduction.context_json(result.reduced_context)
    assert count_tokens(sent) == result.context_tokens <= 1500
    assert reduction.DATAMARK in sent  # what is counted is the marked text the prompt sends
