"""`fyr analyze` as a user runs it: a real subprocess, stdout JSON, exit codes, one-line stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "corpus"

pytestmark = pytest.mark.timeout(60)


def _fyr(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FYR_", "OPENAI_"))}
    env["FYR_LLM"] = "none"
    return subprocess.run([sys.executable, "-m", "fyr", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=50, check=False)


def test_fyr_analyze_prints_the_contract_json_and_exits_0(tmp_path: Path) -> None:
    proc = _fyr("analyze", "--bundle", str(CORPUS / "image_tag_not_found.json"), "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert list(out) == ["rollout", "analysis", "reduced_context", "metrics"]
    assert out["analysis"]["category"] == "image_pull"
    # (--format text is covered through run_analyze in test_offline_cli_analyze.py: each process costs seconds)


def test_fyr_analyze_bad_bundle_exits_2_with_one_line_on_stderr(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"apiVersion": "fyr/v1", "kind": "RolloutBundle", "cluster": "c"}', encoding="utf-8")
    proc = _fyr("analyze", "--bundle", str(bad), "--format", "json", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "collected_at" in lines[0]
