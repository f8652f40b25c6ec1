"""`fyr eval`: the scorecard over bundles with expected answers — rules only, through the LLM fake, and
as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from fyr.eval import eval_command
from fyr.settings import Settings
from tests.fakes.openai_api import FakeOpenAI
from tests.integration.cli.test_cli import run

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
EXPECTED = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))

pytestmark = pytest.mark.timeout(180)


def small_set(tmp_path: Path, names: list[str], *, override: dict[str, dict[str, object]] | None = None) -> Path:
    out = tmp_path / "cases"
    out.mkdir()
    expected = {}
    for name in names:
        shutil.copy(CORPUS / f"{name}.json", out / f"{name}.json")
        expected[name] = {**EXPECTED[name], **(override or {}).get(name, {})}
    (out / "expected.yaml").write_text(yaml.safe_dump(expected), encoding="utf-8")
    return out


def test_eval_prints_per_case_and_total_scores_as_json(tmp_path: Path) -> None:
    cases = small_set(tmp_path, ["real_pull_containerd_dns_no_such_host", "real_sandbox_calico_nodename_dockershim",
                                 "secrets_everywhere_crash"])
    res = run(["eval", str(cases), "--format", "json", "--llm", "none"])
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert [c["name"] for c in data["cases"]] == ["real_pull_containerd_dns_no_such_host",
                                                  "real_sandbox_calico_nodename_dockershim", "secrets_everywhere_crash"]
    t = data["totals"]
    assert t["cases"] == 3
    assert t["category_accuracy"] == 1.0 and t["evidence_recall"] == 1.0 and t["secrets_leaked"] == 0
    assert t["tokens_in"] == 0 and t["cost_usd"] == 0.0 and t["latency_s_max"] > 0


def test_eval_reports_a_wrong_category_and_missing_evidence_and_exits_1(tmp_path: Path) -> None:
    cases = small_set(tmp_path, ["real_node_not_ready_under_rollout"], override={
        "real_node_not_ready_under_rollout": {"category": "progress_deadline", "evidence": ["no such line"]}})
    res = run(["eval", str(cases)])
    assert res.returncode == 1
    assert "unknown (progress_deadline)" in res.stdout and "missing evidence: no such line" in res.stdout
    assert "category 0.0% (0/1)" in res.stdout


@pytest.mark.parametrize(("setup", "needle"), [
    ("missing_dir", "is not a directory"), ("no_expected", "expected.yaml not found"),
    ("bad_yaml", "not valid YAML"), ("no_bundle", "has no bundle"),
])
def test_eval_bad_input_is_one_line_and_exit_2(tmp_path: Path, setup: str, needle: str) -> None:
    target = tmp_path / "cases"
    if setup != "missing_dir":
        target.mkdir()
    if setup == "bad_yaml":
        (target / "expected.yaml").write_text("a: [unclosed\n", encoding="utf-8")
    if setup == "no_bundle":
        (target / "expected.yaml").write_text("ghost:\n  category: unknown\n", encoding="utf-8")
    res = run(["eval", str(target)])
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and needle in res.stderr and not res.stdout


async def test_the_llm_path_scores_the_whole_corpus_through_the_openai_compatible_fake() -> None:
    async with FakeOpenAI() as fake:
        settings = Settings(llm="openai", openai_api_key="sk-test-not-a-real-key", openai_base_url=fake.base_url,
                            llm_model="gpt-4o-mini", analysis_max_attempts=2)
        code, out = await eval_command(CORPUS, llm="openai", fmt="json", settings=settings)
        assert len(fake.requests) == len(EXPECTED)
    t = json.loads(out)["totals"]
    print(f"\nLLM path (fake model answering from the context): {t}")
    assert code == 0
    assert t["category_accuracy"] == 1.0 and t["evidence_recall"] >= 0.98 and t["secrets_leaked"] == 0
    assert t["fallbacks"] == 0 and t["tokens_in"] > 0 and t["cost_usd"] > 0
