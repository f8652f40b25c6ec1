"""Pure parts of single flight: the key, and a leader's analysis re-addressed to a waiter's deployment."""

from __future__ import annotations

from fyr.models.analysis import AnalysisResult, Category
from fyr.services.analyzer.flights import flight_key, over_budget_analysis, readdress


def _analysis(summary: str, confidence: str = "high", evidence: list[str] | None = None) -> AnalysisResult:
    return AnalysisResult(category=Category.CRASH_LOOP, summary=summary, root_cause=summary,
                          evidence=evidence or ["team-0-abc12/app: panic: nil map"], suggested_fix="Roll back.",
                          confidence=confidence, model_name="gpt-4o-mini", prompt_version="analysis-v1")


def test_a_sure_failure_shares_its_key_across_deployments_an_unsure_one_does_not() -> None:
    sure = _analysis("x")
    assert flight_key("team-0/payments", sure, "r/p:1") == flight_key("team-7/payments", sure, "r/p:2")
    unsure = _analysis("x", confidence="medium")
    assert flight_key("team-0/payments", unsure, "r/p:1") != flight_key("team-7/payments", unsure, "r/p:1")


def test_readdress_names_the_waiters_deployment_everywhere_and_keeps_its_evidence() -> None:
    leader = _analysis("container app of team-0/payments crashes; the payments deployment in namespace team-0 "
                       "panics (team-0-db is fine)")
    out = readdress(leader, leader_target="team-0/payments", target="team-7/payments",
                    evidence=["team-7-xyz34/app: panic: nil map"])
    assert "team-7/payments" in out.summary and "namespace team-7 " in out.summary
    assert "team-0-db" in out.summary  # another object's name that merely starts the same way is left alone
    assert out.evidence == ["team-7-xyz34/app: panic: nil map"]
    assert readdress(leader, leader_target="team-0/payments", target="team-0/payments", evidence=[]) is leader


def test_over_budget_analysis_says_why_the_model_was_skipped() -> None:
    out = over_budget_analysis(_analysis("x"), budget_usd=5.0, spent_usd=5.25)
    assert out.root_cause.endswith("(LLM skipped: the daily LLM budget FYR_LLM_BUDGET_USD_PER_DAY=$5.00 is spent — "
                                   "$5.25 today; this is the rules' analysis.)")
