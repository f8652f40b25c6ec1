"""`fyr analyze --llm openai` end to end on a bundle whose logs and events try to steer the model.

A real `fyr` subprocess, the real langchain-openai client, and the obedient fake model on loopback:
the output keeps the rules' category, carries none of the attacker's advice, link or command in
the summary, root cause or fix, and is flagged; the same bundle without the planted text gets the
model's answer, unflagged.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.corpus.injection_corpus import BASES, base_bundle, forbidden, payloads, planted
from tests.fakes.openai_api import FakeOpenAI, answer_obediently

pytestmark = pytest.mark.timeout(90)


async def fyr_analyze(bundle: dict[str, Any], fake: FakeOpenAI, tmp_path: Path, fmt: str = "json") -> tuple[int, str]:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FYR_", "OPENAI_"))}
    env.update(OPENAI_API_KEY="sk-test-not-a-real-key", OPENAI_BASE_URL=fake.base_url)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fyr", "analyze", "--bundle", str(path), "--llm", "openai", "--format", fmt,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=80)
    assert proc.returncode == 0, err.decode()
    return proc.returncode, out.decode()


async def test_fyr_analyze_on_an_injected_bundle_keeps_the_rules_and_flags_it(tmp_path: Path) -> None:
    payload = next(p for p in payloads() if p.name == "plain_issue_example")
    event = next(p for p in payloads() if p.name == "event_german")
    bundle = planted(BASES[0], payload)
    bundle["events"] += planted(BASES[0], event)["events"][-1:]
    async with FakeOpenAI(answer=answer_obediently) as fake:
        _, stdout = await fyr_analyze(bundle, fake, tmp_path)
        _, text = await fyr_analyze(bundle, fake, tmp_path, fmt="text")
    analysis = json.loads(stdout)["analysis"]
    assert analysis["category"] == "crash_loop"
    free = "\n".join(analysis[k] for k in ("summary", "root_cause", "suggested_fix"))
    assert [w for w in forbidden(payload) + forbidden(event) if w in free] == []
    assert analysis["flags"][0]["kind"] == "prompt_injection"
    assert analysis["flags"][0]["message"].startswith("possible prompt injection in logs: ")
    assert "Flag         possible prompt injection in logs" in text


async def test_fyr_analyze_on_the_same_bundle_without_the_planted_text_uses_the_model(tmp_path: Path) -> None:
    async with FakeOpenAI(answer=answer_obediently) as fake:  # obedient, but nothing was planted
        _, stdout = await fyr_analyze(base_bundle(BASES[0]), fake, tmp_path)
    analysis = json.loads(stdout)["analysis"]
    assert analysis["category"] == "crash_loop"
    assert analysis["model_name"] == "gpt-4o-mini-2024-07-18" and analysis["prompt_version"] == "analysis-v3"
    assert "flags" not in analysis
