"""Every manifest, plain or rendered by Helm, validates against the Kubernetes OpenAPI schemas.

kubernetes-validate ships the schemas (no network); strict mode rejects unknown fields, so a typo
such as `readinesProbe` fails here instead of being silently dropped by the API server.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.conftest import deploy_files, load_docs, rendered_docs

# The oldest Kubernetes the chart declares (Chart.yaml kubeVersion) and the newest schema shipped.
VERSIONS = ("1.25.0", kubernetes_validate.latest_version())


def _validate_all(docs: list[dict[str, Any]]) -> None:
    assert docs
    for version in VERSIONS:
        for doc in docs:
            kubernetes_validate.validate(doc, version, strict=True)


def test_every_plain_manifest_validates_strictly_against_the_kubernetes_schemas() -> None:
    files = deploy_files()
    assert len(files) >= 10  # the Secret template and the migration Job are included
    _validate_all(load_docs(files))


def test_chart_rendered_with_defaults_validates_strictly(chart_default: dict[str, str]) -> None:
    _validate_all(rendered_docs(chart_default))


def test_chart_rendered_with_non_default_values_validates_strictly(chart_custom: dict[str, str]) -> None:
    _validate_all(rendered_docs(chart_custom))


def test_validator_rejects_a_misspelt_field() -> None:
    """The check above can fail: a probe with a misspelt key is an error, not a warning."""
    bad = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "x"},
        "spec": {"containers": [{"name": "c", "image": "i", "readinesProbe": {}}]},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSIONS[-1], strict=True)
