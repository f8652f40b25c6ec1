"""Prometheus metrics of the analyzer: what the LLM costs and how analyses end.

Collectors are created per registry on demand (never at import time), so tests and several
in-process services can each use their own `CollectorRegistry`; the default registry is the one
`/metrics` serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from fyr.health import collectors_for
from fyr.models.analysis import AnalysisResult

Outcome = Literal["llm", "fallback", "reused", "rules", "budget"]

@dataclass(frozen=True)
class AnalyzerMetrics:
    tokens_in: Counter
    tokens_out: Counter
    cost_usd: Counter
    llm_latency: Histogram
    analyses: Counter
    llm_errors: Counter
    spent_today_usd: Gauge  # estimated LLM spend since midnight UTC, as last read before a call
    flags: Counter

    def observe_call(self, *, model: str, tokens_in: int, tokens_out: int, cost_usd: float,
                     latency_s: float) -> None:
        self.tokens_in.labels(model=model).inc(tokens_in)
        self.tokens_out.labels(model=model).inc(tokens_out)
        self.cost_usd.labels(model=model).inc(cost_usd)
        self.llm_latency.labels(model=model).observe(latency_s)

    def observe_outcome(self, outcome: Outcome) -> None:
        self.analyses.labels(outcome=outcome).inc()

    def observe_flags(self, analysis: AnalysisResult) -> None:
        for flag in analysis.flags:
            self.flags.labels(kind=flag.kind.value).inc()


def analyzer_metrics(registry: CollectorRegistry | None = None) -> AnalyzerMetrics:
    """The analyzer's collectors in `registry` (default: the process registry), created once."""
    return collectors_for("analyzer", registry, _build)


def _build(reg: CollectorRegistry) -> AnalyzerMetrics:
    return AnalyzerMetrics(
        tokens_in=Counter("fyr_llm_tokens_in", "LLM prompt tokens", ["model"], registry=reg),
        tokens_out=Counter("fyr_llm_tokens_out", "LLM completion tokens", ["model"], registry=reg),
        cost_usd=Counter("fyr_llm_cost_usd", "Estimated LLM cost in USD (price table)", ["model"],
                         registry=reg),
        llm_latency=Histogram("fyr_llm_latency_seconds", "LLM call latency", ["model"], registry=reg,
                              buckets=(0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)),
        analyses=Counter("fyr_analyses", "Analyses stored, by how they were produced", ["outcome"],
                         registry=reg),
        llm_errors=Counter("fyr_llm_errors", "LLM calls that failed, by kind", ["kind"], registry=reg),
        spent_today_usd=Gauge("fyr_llm_spent_today_usd", "Estimated LLM spend since midnight UTC (all analyzers "
                              "sharing the database), read before each call", registry=reg),
        flags=Counter("fyr_analysis_flags", "Analyses stored with a flag, by kind: prompt_injection (instruction-"
                      "like text in logs or events), category_kept (the model's category refused), output_guard "
                      "(a field replaced)", ["kind"], registry=reg),
    )
