"""`run_analyze` (what `fyr analyze --bundle FILE` calls): the §7 output, text format, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fyr.models.analysis import AnalysisResult, Category
from fyr.services.analyzer.offline import run_analyze
from fyr.services.analyzer.pipeline import PipelineResult
from fyr.settings import Settings

CORPUS = Path(__file__).resolve().parents[2] / "corpus"

pytestmark = pytest.mark.timeout(30)


def _settings(**kw: object) -> Settings:
    return Settings(_env_file=None, llm="none", **kw)  # type: ignore[call-arg]


async def test_json_output_has_exactly_the_contract_shape() -> None:
    code, text = await run_analyze(CORPUS / "python_keyerror_env.json", fmt="json", settings=_settings())
    assert code == 0
    out = json.loads(text)
    assert list(out) == ["rollout", "analysis", "reduced_context", "metrics"]
    assert set(out["rollout"]) == {"status", "reason", "message"}
    assert out["rollout"]["status"] == "FAILED" and out["rollout"]["reason"] == "CrashLoopBackOff"
    assert set(out["analysis"]) == {"category", "summary", "root_cause", "evidence", "suggested_fix",
                                    "confidence", "model_name", "prompt_version"}
    assert out["analysis"]["category"] == "crash_loop" and out["analysis"]["model_name"] == "rules"
    assert set(out["metrics"]) == {"raw_log_bytes", "context_tokens", "duration_s"}
    assert out["metrics"]["raw_log_bytes"] > 0 and 0 < out["metrics"]["context_tokens"] <= 4000
    assert isinstance(out["metrics"]["duration_s"], float)
    assert out["reduced_context"]["rollout"]["deployment"] == "api"


async def test_text_output_reads_as_a_report() -> None:
    code, text = await run_analyze(CORPUS / "missing_secret.json", fmt="text", settings=_settings())
    assert code == 0
    assert text.startswith("✗ FAILED  identity/accounts  (CreateContainerConfigError)")
    for label in ("Category     config_error", "Summary", "Root cause", "Evidence", "Fix", "Context:"):
        assert label in text
    assert 'secret "db-credentials" not found' in text
    assert not text.lstrip().startswith("{")


@pytest.mark.parametrize(("content", "needle"), [
    (None, "no such file"),
    ("{broken", "not valid JSON"),
    ('{"apiVersion": "v1", "kind": "RolloutBundle"}', "apiVersion must be 'fyr/v1'"),
])
async def test_bad_bundle_is_exit_2_with_one_line(tmp_path: Path, content: str | None, needle: str) -> None:
    path = tmp_path / "bundle.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, text = await run_analyze(path, fmt="json", settings=_settings())
    assert code == 2
    assert "\n" not in text and needle in text and str(path) in text


async def test_context_budget_comes_from_the_settings() -> None:
    code, text = await run_analyze(CORPUS / "buried_in_noise.json", fmt="json", settings=_settings(context_tokens=600))
    out = json.loads(text)
    assert code == 0 and out["metrics"]["context_tokens"] <= 600


async def test_a_model_answer_holding_a_secret_is_withheld_for_the_rules_analysis() -> None:
    seen: list[PipelineResult] = []

    async def explain(result: PipelineResult) -> AnalysisResult:
        seen.append(result)
        return AnalysisResult(
            category=Category.CRASH_LOOP, summary="model says: missing DATABASE_URL",
            root_cause="The app reads DATABASE_URL; token xoxb-2648213394-5590123456789-Qk7fW2zR9pLm3nV8xT1yB4cD",
            evidence=["api/app (previous): KeyError: 'DATABASE_URL'"], suggested_fix="Set it.",
            confidence="high", model_name="gpt-test", prompt_version="analysis-v1")

    code, text = await run_analyze(CORPUS / "python_keyerror_env.json", fmt="json", settings=_settings(),
                                   explain=explain)
    out = json.loads(text)
    assert code == 0 and len(seen) == 1 and seen[0].rules.category is Category.CRASH_LOOP
    assert out["analysis"]["model_name"] == "rules"  # fail closed: never masked and printed
    assert "xoxb-2648213394" not in text
