"""The pipeline's own outputs: failure signature, status from the shared status function, rendering."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from fyr.models.analysis import AnalysisResult, Category
from fyr.models.bundle import load_bundle, parse_bundle
from fyr.services.analyzer.pipeline import analyze_bundle, failure_signature, render_output, render_text

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def _analysis(*evidence: str, category: Category = Category.CRASH_LOOP) -> AnalysisResult:
    return AnalysisResult(category=category, summary="s", root_cause="r", evidence=list(evidence),
                          suggested_fix="f", confidence="high")


def test_signature_ignores_pods_counts_and_numbers_but_not_image_or_category() -> None:
    a = _analysis("api-7d9f8-x2x9k/app: Error (exit code 1) restarts 4 [3 pods]",
                  "api-7d9f8-x2x9k/app (previous): KeyError: 'DATABASE_URL' at 10:01:02")
    b = _analysis("api-7d9f8-qq7zb/app: Error (exit code 1) restarts 9",
                  "api-7d9f8-qq7zb/app (previous): KeyError: 'DATABASE_URL' at 11:59:00")
    sig = failure_signature("shop/api", a, "acme/api:2.0")
    assert sig == failure_signature("shop/api", b, "acme/api:2.0")
    assert len(sig) == 32 and int(sig, 16) >= 0
    assert sig != failure_signature("shop/api", a, "acme/api:2.1")
    assert sig != failure_signature("shop/web", a, "acme/api:2.0")
    other = _analysis(*a.evidence, category=Category.CONFIG_ERROR)
    assert sig != failure_signature("shop/api", other, "acme/api:2.0")
    c = _analysis("api-7d9f8-x2x9k/app (previous): KeyError: 'REDIS_URL'")
    assert sig != failure_signature("shop/api", c, "acme/api:2.0")


def _rename_pods(bundle: dict[str, Any], suffix: str) -> dict[str, Any]:
    b = copy.deepcopy(bundle)
    names = {p["metadata"]["name"]: p["metadata"]["name"][:-5] + suffix for p in b["pods"]}
    for pod in b["pods"]:
        pod["metadata"]["name"] = names[pod["metadata"]["name"]]
    for log in b["logs"]:
        log["pod"] = names.get(log["pod"], log["pod"])
    for ev in b["events"]:
        inv = ev["involvedObject"]
        inv["name"] = names.get(inv["name"], inv["name"])
    return b


def test_same_failure_on_other_pods_has_the_same_signature() -> None:
    bundle = load_bundle(CORPUS / "go_panic_nil_pointer.json").to_json_dict()
    first = analyze_bundle(parse_bundle(bundle))
    again = analyze_bundle(parse_bundle(_rename_pods(bundle, "zzzzz")))
    assert first.signature == again.signature
    other = analyze_bundle(load_bundle(CORPUS / "node_cannot_find_module.json"))
    assert other.signature != first.signature


def test_status_comes_from_the_shared_status_function() -> None:
    r = analyze_bundle(load_bundle(CORPUS / "oom_node_running_now.json"))
    assert (r.verdict.status.value, r.verdict.reason) == ("FAILED", "OOMKilled")
    out = render_output(r, r.rules, duration_s=0.01234)
    assert out["rollout"] == {"status": "FAILED", "reason": "OOMKilled", "message": r.verdict.message}
    assert out["metrics"]["duration_s"] == 0.012


def test_text_rendering_shows_target_evidence_and_fix() -> None:
    r = analyze_bundle(load_bundle(CORPUS / "java_spring_caused_by.json"))
    text = render_text(render_output(r, r.rules, duration_s=0.5))
    lines = text.splitlines()
    assert lines[0] == "✗ FAILED  shop/orders  (CrashLoopBackOff)"
    assert "revision 2" in lines[1] and "registry.acme.io/orders:1.9.0" in lines[1]
    bullets = [line for line in lines if line.startswith("  • ")]
    assert len(bullets) == len(r.rules.evidence)
    assert "password authentication failed for user" in " ".join(text.split())  # wrapped, not cut
    assert lines[-1].startswith("Context: ") and "tokens" in lines[-1]


def test_hand_made_bundle_without_replicasets_still_uses_its_pods_and_logs() -> None:
    bundle = load_bundle(CORPUS / "python_keyerror_env.json").to_json_dict()
    bundle["replicasets"] = []
    r = analyze_bundle(parse_bundle(bundle))
    assert r.reduced_context["logs"][0]["decisive"][0]["line"] == "KeyError: 'DATABASE_URL'"
    assert any(s["reason"] == "CrashLoopBackOff" for s in r.reduced_context["signals"])


def test_logs_of_old_replicaset_pods_never_reach_the_context() -> None:
    r = analyze_bundle(load_bundle(CORPUS / "old_replicaset_crashing_new_healthy.json"))
    text = str(r.reduced_context)
    assert "old version bug" not in text and "CrashLoopBackOff" not in text


def test_text_output_says_no_logs_were_read_instead_of_zero_kib() -> None:
    r = analyze_bundle(load_bundle(CORPUS / "real_sandbox_calico_nodename_dockershim.json"))
    text = render_text(render_output(r, r.rules, duration_s=0.1))
    assert "0.0 KiB" not in text and "events and status only (no logs read)" in text
    r = analyze_bundle(load_bundle(CORPUS / "go_panic_nil_pointer.json"))
    assert "KiB of logs" in render_text(render_output(r, r.rules, duration_s=0.1))
