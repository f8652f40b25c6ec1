"""The chart through the real helm 4 binary: `helm lint --strict` passes and `helm template`
renders the same manifests as the Helm engine the other chart tests use."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import CHART, NON_DEFAULT_VALUES, render_chart, rendered_docs

VALUES = {"defaults": {}, "non-default": NON_DEFAULT_VALUES}


def helm_run(helm: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HELM_CACHE_HOME": str(tmp_path / "cache"),
           "HELM_CONFIG_HOME": str(tmp_path / "config"), "HELM_DATA_HOME": str(tmp_path / "data")}
    return subprocess.run([str(helm), *args], capture_output=True, text=True, env=env, timeout=120, check=False)


def _values_file(tmp_path: Path, values: dict[str, Any]) -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


@pytest.mark.parametrize("which", VALUES)
def test_helm_lint_strict_passes(helm: Path, tmp_path: Path, which: str) -> None:
    done = helm_run(helm, tmp_path, "lint", "--strict", str(CHART), "-f", str(_values_file(tmp_path, VALUES[which])))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[ERROR]" not in done.stdout and "[WARNING]" not in done.stdout, done.stdout


@pytest.mark.parametrize("which", VALUES)
def test_helm_template_renders_what_the_engine_renders(helm: Path, tmp_path: Path, which: str) -> None:
    values = VALUES[which]
    name, namespace = ("fyr", "fyr") if which == "defaults" else ("acme", "observability")
    done = helm_run(helm, tmp_path, "template", name, str(CHART), "--namespace", namespace,
                    "-f", str(_values_file(tmp_path, values)))
    assert done.returncode == 0 and not done.stderr, done.stderr
    from_binary = sorted((d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(done.stdout) if d)
    from_engine = sorted((d["kind"], d["metadata"]["name"])
                         for d in rendered_docs(render_chart(values, name=name, namespace=namespace)))
    assert from_binary == from_engine
    assert any(kind == "Deployment" for kind, _ in from_binary)
