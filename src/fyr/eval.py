"""`fyr eval [--llm none|openai] [DIR]`: a scorecard of the analyzer over bundles with expected answers.

A user measures a model (a hosted one, or a local one through `OPENAI_BASE_URL`) on their own failures
before trusting it: every `*.json` bundle in DIR is analysed exactly as `fyr analyze` would (rules, then
the model when `--llm openai`), and compared with `DIR/expected.yaml` (format in docs/eval.md):
category accuracy, evidence recall in `analysis.evidence`, planted secrets found anywhere in the output,
tokens, cost and latency, per case and in total.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from fyr.core.status import StatusThresholds
from fyr.errors import BadBundle, ConfigError
from fyr.models.analysis import AnalysisResult
from fyr.models.bundle import load_bundle
from fyr.services.analyzer.costs import estimate_cost
from fyr.services.analyzer.pipeline import PipelineResult, analyze_bundle, render_output
from fyr.settings import Settings

EXPECTED_FILE = "expected.yaml"


@dataclass(frozen=True)
class Outcome:
    """What the explainer answered for one case (the rules' analysis when no model is used)."""

    analysis: AnalysisResult
    tokens_in: int = 0
    tokens_out: int = 0
    model_name: str = "rules"
    fallback: bool = False


Explainer = Callable[[PipelineResult], Awaitable[Outcome]]


@dataclass
class CaseScore:
    name: str
    status_expected: str | None
    status: str
    category_expected: str
    category: str
    evidence_found: int
    evidence_wanted: int
    missing_evidence: list[str]
    secrets_leaked: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    latency_s: float
    model_name: str
    fallback: bool

    @property
    def correct(self) -> bool:
        return self.category == self.category_expected


@dataclass
class Totals:
    cases: int
    category_correct: int
    category_accuracy: float
    status_correct: int
    evidence_found: int
    evidence_wanted: int
    evidence_recall: float
    secrets_leaked: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    latency_s_mean: float
    latency_s_max: float
    fallbacks: int


def load_expectations(directory: Path) -> dict[str, dict[str, Any]]:
    """`expected.yaml` of DIR, checked: ConfigError (exit 2) naming what is wrong."""
    path = directory / EXPECTED_FILE
    if not directory.is_dir():
        raise ConfigError(f"{directory} is not a directory")
    if not path.is_file():
        raise ConfigError(f"{path} not found: write one entry per bundle (see docs/eval.md)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{path} must map each bundle name to its expected answer")
    for name, exp in data.items():
        if not isinstance(exp, dict) or not isinstance(exp.get("category"), str):
            raise ConfigError(f"{path}: entry {name!r} needs at least `category`")
        if not (directory / f"{name}.json").is_file():
            raise ConfigError(f"{path}: entry {name!r} has no bundle {name}.json")
        for key in ("evidence", "secrets"):
            if not isinstance(exp.get(key, []), list):
                raise ConfigError(f"{path}: entry {name!r}: `{key}` must be a list of strings")
    return {str(k): v for k, v in data.items()}


async def score_case(directory: Path, name: str, exp: dict[str, Any], *, settings: Settings,
                     explain: Explainer | None) -> CaseScore:
    try:
        bundle = load_bundle(directory / f"{name}.json")
    except BadBundle as exc:
        raise ConfigError(f"{name}.json: {exc}") from None
    started = time.perf_counter()
    result = analyze_bundle(bundle, context_tokens=settings.context_tokens,
                            thresholds=StatusThresholds.from_settings(settings))
    outcome = Outcome(result.rules) if explain is None else await explain(result)
    latency = time.perf_counter() - started
    output = render_output(result, outcome.analysis, duration_s=latency)
    evidence = [str(line) for line in output["analysis"]["evidence"]]
    wanted = [str(n) for n in exp.get("evidence") or []]
    missing = [n for n in wanted if not any(n in line for line in evidence)]
    text = json.dumps(output, ensure_ascii=False)
    leaked = sum(str(s) in text for s in exp.get("secrets") or [])
    cost = estimate_cost(outcome.model_name, outcome.tokens_in, outcome.tokens_out, settings.llm_prices)
    return CaseScore(
        name=name, status_expected=exp.get("status"), status=result.verdict.status.value,
        category_expected=str(exp["category"]), category=outcome.analysis.category.value,
        evidence_found=len(wanted) - len(missing), evidence_wanted=len(wanted), missing_evidence=missing,
        secrets_leaked=leaked, tokens_in=outcome.tokens_in, tokens_out=outcome.tokens_out, cost_usd=cost,
        latency_s=round(latency, 4), model_name=outcome.model_name, fallback=outcome.fallback)


def totals(scores: list[CaseScore]) -> Totals:
    n = len(scores)
    found = sum(s.evidence_found for s in scores)
    wanted = sum(s.evidence_wanted for s in scores)
    correct = sum(s.correct for s in scores)
    latencies = [s.latency_s for s in scores] or [0.0]
    return Totals(
        cases=n, category_correct=correct, category_accuracy=correct / n if n else 0.0,
        status_correct=sum(s.status_expected in (None, s.status) for s in scores),
        evidence_found=found, evidence_wanted=wanted, evidence_recall=found / wanted if wanted else 1.0,
        secrets_leaked=sum(s.secrets_leaked for s in scores), tokens_in=sum(s.tokens_in for s in scores),
        tokens_out=sum(s.tokens_out for s in scores), cost_usd=sum(s.cost_usd for s in scores),
        latency_s_mean=sum(latencies) / len(latencies), latency_s_max=max(latencies),
        fallbacks=sum(s.fallback for s in scores))


async def run_eval(directory: Path, *, settings: Settings, explain: Explainer | None) -> list[CaseScore]:
    expectations = load_expectations(directory)
    return [await score_case(directory, name, exp, settings=settings, explain=explain)
            for name, exp in sorted(expectations.items())]


def render_json(scores: list[CaseScore]) -> str:
    cases = [{**asdict(s), "correct": s.correct} for s in scores]
    return json.dumps({"cases": cases, "totals": asdict(totals(scores))}, ensure_ascii=False, indent=2)


def render_text(scores: list[CaseScore]) -> str:
    width = max([len(s.name) for s in scores] + [4])
    head = f"{'case':<{width}}  {'ok':<2}  {'category (expected)':<40}  {'evidence':>8}  {'leaks':>5}  " \
           f"{'tokens':>11}  {'cost $':>8}  {'s':>6}"
    lines = [head, "-" * len(head)]
    for s in scores:
        cat = s.category if s.correct else f"{s.category} ({s.category_expected})"
        lines.append(f"{s.name:<{width}}  {'✓' if s.correct else '✗':<2}  {cat:<40}  "
                     f"{s.evidence_found:>3}/{s.evidence_wanted:<4}  {s.secrets_leaked:>5}  "
                     f"{s.tokens_in:>5}+{s.tokens_out:<5}  {s.cost_usd:>8.5f}  {s.latency_s:>6.2f}")
        for needle in s.missing_evidence:
            lines.append(f"{'':<{width}}      missing evidence: {needle}")
    t = totals(scores)
    lines += ["", f"cases {t.cases}: category {t.category_accuracy:.1%} ({t.category_correct}/{t.cases}), "
              f"status {t.status_correct}/{t.cases}, evidence recall {t.evidence_recall:.1%} "
              f"({t.evidence_found}/{t.evidence_wanted}), secrets leaked {t.secrets_leaked}, "
              f"tokens {t.tokens_in}+{t.tokens_out}, cost ${t.cost_usd:.4f}, latency mean {t.latency_s_mean:.2f} s "
              f"max {t.latency_s_max:.2f} s, model fallbacks {t.fallbacks}"]
    return "\n".join(lines)


def model_explainer(settings: Settings) -> Explainer:
    """The chat model of the settings, retried in-process as `fyr analyze --llm openai` does."""
    from fyr.services.analyzer.chains import build_chat_model, explain_with_retries

    chat = build_chat_model(settings)

    async def _explain(result: PipelineResult) -> Outcome:
        out = await explain_with_retries(
            result, model=chat, max_attempts=settings.analysis_max_attempts,
            base_s=settings.analysis_retry_base_seconds, cap_s=settings.analysis_retry_max_seconds)
        return Outcome(out.analysis, out.tokens_in, out.tokens_out, out.model_name, out.fallback)

    return _explain


async def eval_command(directory: Path, *, llm: str | None, fmt: Literal["json", "text"],
                       settings: Settings) -> tuple[int, str]:
    """(exit code, stdout). Exit 0 when every case is categorised right and nothing leaked, else 1."""
    if llm is not None:
        settings = settings.model_copy(update={"llm": llm})
    if settings.llm_enabled and not (settings.openai_api_key or settings.openai_base_url):
        raise ConfigError("--llm openai needs OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server)")
    explain = model_explainer(settings) if settings.llm_enabled else None
    scores = await run_eval(directory, settings=settings, explain=explain)
    t = totals(scores)
    code = 0 if t.category_correct == t.cases and t.secrets_leaked == 0 else 1
    return code, render_json(scores) if fmt == "json" else render_text(scores)
