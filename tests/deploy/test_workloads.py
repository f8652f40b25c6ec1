"""Workload shape: restricted securityContext, probes, resources, secrets per service, scaling.

Checked on the parsed objects of deploy/ and of the chart rendered with default and custom values.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.conftest import COMPONENTS, rendered_docs

# Which Secret keys each service receives (least privilege; docs/architecture.md 'Deployment' names the four keys).
SECRET_KEYS = {
    "watcher": {"MYSQL_URL"},
    "ingestor": {"MYSQL_URL", "GITLAB_INGESTOR_TOKEN", "FYR_UI_TOKEN"},
    "analyzer": {"MYSQL_URL", "OPENAI_API_KEY"},
    "notifier": {"MYSQL_URL", "SLACK_BOT_TOKEN"},
}


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in docs if d["kind"] in ("Deployment", "Job")]


def _docs(request: pytest.FixtureRequest, source: str) -> tuple[list[dict[str, Any]], str]:
    if source == "deploy":
        return request.getfixturevalue("deploy_docs"), "fyr"
    if source == "chart-default":
        return rendered_docs(request.getfixturevalue("chart_default")), "fyr"
    return rendered_docs(request.getfixturevalue("chart_custom")), "acme-fyr"


SOURCES = ["deploy", "chart-default", "chart-custom"]


@pytest.mark.parametrize("source", SOURCES)
def test_every_pod_runs_restricted(request: pytest.FixtureRequest, source: str) -> None:
    docs, _ = _docs(request, source)
    specs = pod_specs(docs)
    assert len(specs) >= 4
    for name, spec in specs:
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True, name
        assert pod_sc["runAsUser"] >= 10000, name
        assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec.get("hostNetwork", False) is False and spec.get("hostPID", False) is False
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"] + spec.get("initContainers", []):
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc.get("privileged", False) is False, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], name  # writable /tmp on a read-only root
            resources = container["resources"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[kind]), (name, kind)


@pytest.mark.parametrize("source", SOURCES)
def test_each_service_is_probed_on_healthz_and_readyz_and_gets_only_its_secrets(
    request: pytest.FixtureRequest, source: str
) -> None:
    docs, prefix = _docs(request, source)
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == {f"{prefix}-{c}" for c in COMPONENTS}
    for component in COMPONENTS:
        (container,) = deployments[f"{prefix}-{component}"]["spec"]["template"]["spec"]["containers"]
        assert container["args"] == [component, "--host", "0.0.0.0", "--port", "8080"]
        assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        secret_env = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in container["env"]
            if "secretKeyRef" in e.get("valueFrom", {})
        }
        assert set(secret_env) == SECRET_KEYS[component]
        assert all(ref["key"] == name for name, ref in secret_env.items())
        # the LLM is optional (without OPENAI_API_KEY the analysis is rules-only), and so is the
        # history pages' token (without FYR_UI_TOKEN /ui is open: docs say to put it behind SSO)
        assert {n for n, ref in secret_env.items() if ref.get("optional")} <= {"OPENAI_API_KEY", "FYR_UI_TOKEN"}
        env_from = container["envFrom"]
        assert env_from == [{"configMapRef": {"name": f"{prefix}-config"}}]
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert mounts["/etc/fyr"]["readOnly"] is True


@pytest.mark.parametrize("source", SOURCES)
def test_watcher_is_a_single_recreated_replica_and_the_rest_scale(request: pytest.FixtureRequest, source: str) -> None:
    docs, prefix = _docs(request, source)
    deployments = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "Deployment"}
    watcher = deployments[f"{prefix}-watcher"]
    assert watcher["replicas"] == 1
    assert watcher["strategy"] == {"type": "Recreate"}
    for component in ("ingestor", "analyzer", "notifier"):
        spec = deployments[f"{prefix}-{component}"]
        assert spec["replicas"] >= 2
        assert spec["strategy"]["type"] == "RollingUpdate"
    budgets = {d["metadata"]["name"] for d in docs if d["kind"] == "PodDisruptionBudget"}
    assert f"{prefix}-watcher" not in budgets


@pytest.mark.parametrize("source", SOURCES)
def test_services_expose_the_ingestor_and_every_metrics_port(request: pytest.FixtureRequest, source: str) -> None:
    docs, prefix = _docs(request, source)
    services = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "Service"}
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    ingestor = services[f"{prefix}-ingestor"]
    assert ingestor["ports"][0]["targetPort"] == "http"
    metrics = services[f"{prefix}-metrics"]
    assert metrics["clusterIP"] == "None" and metrics["ports"][0]["name"] == "metrics"

    def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in selector.items())

    for deployment in deployments:
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selects(metrics["selector"], labels)
        is_ingestor = labels["app.kubernetes.io/component"] == "ingestor"
        assert selects(ingestor["selector"], labels) is is_ingestor
        assert selects(deployment["spec"]["selector"]["matchLabels"], labels)
