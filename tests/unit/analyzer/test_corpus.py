"""The analyzer corpus: every bundle in tests/corpus through the offline pipeline.

Checks category accuracy (100%), evidence recall (>= 98% of the expected substrings found in the
rules' evidence), that no planted secret appears anywhere in the `fyr analyze` JSON, and that every
reduced context fits the 4,000-token default. Prints the aggregate numbers (`pytest -s`).
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from fyr.models.bundle import load_bundle
from fyr.services.analyzer.pipeline import PipelineResult, analyze_bundle, render_output
from fyr.services.analyzer.reduction import context_json
from fyr.services.analyzer.tokens import count_tokens

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))
BUDGET = 4000

pytestmark = pytest.mark.timeout(120)


@cache
def _run(name: str) -> tuple[PipelineResult, dict[str, Any]]:
    result = analyze_bundle(load_bundle(CORPUS / f"{name}.json"), context_tokens=BUDGET)
    return result, render_output(result, result.rules, duration_s=0.0)


def test_corpus_is_complete() -> None:
    bundles = {p.stem for p in CORPUS.glob("*.json")}
    assert bundles == set(EXPECTED), "every bundle has an expectation and vice versa"
    assert len(bundles) >= 30
    per_category = Counter(e["category"] for e in EXPECTED.values())
    assert all(per_category[c] >= 2 for c in (
        "image_pull", "crash_loop", "oom_killed", "config_error", "probe_failure", "scheduling",
        "create_failed", "mount_failure", "progress_deadline", "unknown")), per_category


def test_real_material_cases_cite_their_source_and_cover_every_category() -> None:
    real = {n: e for n, e in EXPECTED.items() if n.startswith("real_")}
    assert len(real) >= 30
    assert all(str(e.get("source", "")).startswith("https://github.com/") for e in real.values())
    per_category = Counter(e["category"] for e in real.values())
    assert set(per_category) == {c for c in (
        "image_pull", "crash_loop", "oom_killed", "config_error", "probe_failure", "scheduling", "create_failed",
        "mount_failure", "unknown")}, per_category
    assert per_category["unknown"] >= 6  # sandbox/CNI, evictions, node NotReady


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bundle_is_classified_with_evidence_and_no_secret(name: str) -> None:
    exp = EXPECTED[name]
    result, output = _run(name)
    assert result.verdict.status.value == exp["status"]
    assert result.rules.category.value == exp["category"], result.rules.summary
    text = json.dumps(output, ensure_ascii=False)
    leaked = [s for s in exp["secrets"] if s in text]
    assert not leaked, f"planted secrets in the output: {leaked}"
    assert result.context_tokens <= BUDGET
    assert count_tokens(context_json(output["reduced_context"])) == result.context_tokens
    for needle in exp["evidence"]:
        # each expected line must at least reach the LLM's context (recall is measured below)
        assert json.dumps(needle, ensure_ascii=False)[1:-1] in text


def test_corpus_aggregate_accuracy_recall_secrets_and_tokens() -> None:
    correct = found = wanted = leaks = planted = 0
    tokens: list[int] = []
    raw = 0
    for name, exp in sorted(EXPECTED.items()):
        result, output = _run(name)
        correct += result.rules.category.value == exp["category"]
        evidence = result.rules.evidence
        wanted += len(exp["evidence"])
        found += sum(any(needle in line for line in evidence) for needle in exp["evidence"])
        text = json.dumps(output, ensure_ascii=False)
        planted += len(exp["secrets"])
        leaks += sum(s in text for s in exp["secrets"])
        tokens.append(result.context_tokens)
        raw += result.raw_log_bytes
    n = len(EXPECTED)
    accuracy = correct / n
    recall = found / wanted if wanted else 1.0
    print(f"\ncorpus: {n} bundles, category accuracy {accuracy:.0%} ({correct}/{n}), evidence recall "
          f"{recall:.1%} ({found}/{wanted}), planted secrets {planted}, leaked {leaks}, context tokens "
          f"max {max(tokens)} / mean {sum(tokens) / n:.0f} (budget {BUDGET}), raw logs {raw / 1e6:.1f} MB")
    assert accuracy == 1.0
    assert recall >= 0.98
    assert leaks == 0
    assert max(tokens) <= BUDGET


@pytest.mark.parametrize(("name", "budget"), [
    ("buried_in_noise", 500), ("repeated_thousands", 800), ("java_spring_caused_by", 500),
    ("java_spring_caused_by", 1000), ("secrets_everywhere_crash", 500), ("multi_container_sidecar_ok", 700),
    ("init_container_migration_fails", 600), ("misleading_errors_first", 1500),
])
def test_tight_budgets_hold_and_keep_the_top_decisive_line(name: str, budget: int) -> None:
    full, _ = _run(name)
    top = full.reduced_context["logs"][0]["decisive"][0]["line"]
    tight = analyze_bundle(load_bundle(CORPUS / f"{name}.json"), context_tokens=budget)
    assert tight.context_tokens <= budget
    kept = tight.reduced_context["logs"][0]["decisive"][0]["line"]
    assert kept == top, (name, budget, kept)
    secrets = [s for s in EXPECTED[name]["secrets"] if s in json.dumps(tight.reduced_context)]
    assert not secrets


@pytest.mark.parametrize(("name", "needles"), [
    ("real_liveness_probe_on_undeclared_port_nginx_exits_0", ["port 8080", "containerPort 80"]),
    ("real_readiness_wrong_port_app_listens_elsewhere", ["port 4040", "port 4100"]),
    ("real_pull_containerd_dns_no_such_host", ["cannot resolve `registry.k8s.io`"]),
    ("real_pvc_storageclass_not_found", ["Create the StorageClass"]),
    ("real_start_error_run_as_non_root_event_only", ["runAsUser"]),
])
def test_the_explanation_names_the_mismatch_and_its_fix(name: str, needles: list[str]) -> None:
    result, _ = _run(name)
    text = " ".join((result.rules.summary, result.rules.root_cause, result.rules.suggested_fix))
    assert all(n in text for n in needles), text


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if EXPECTED[n]["category"] == "image_pull"))
def test_an_image_pull_summary_says_its_cause_once(name: str) -> None:
    result, _ = _run(name)
    summary, cause = result.rules.summary, result.rules.root_cause
    assert len(summary) <= 300
    for text in (summary, cause):
        links = [x for x in text.split(": ") if len(x) > 20]
        assert len(links) == len(set(links)), text


def test_a_probe_root_cause_does_not_repeat_its_sentence() -> None:
    for name, exp in EXPECTED.items():
        if exp["category"] != "probe_failure":
            continue
        cause = _run(name)[0].rules.root_cause
        sentences = [s.strip() for s in cause.replace("Log:", ".").split(". ") if len(s.strip()) > 30]
        assert len(sentences) == len(set(sentences)), (name, cause)
