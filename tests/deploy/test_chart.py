"""The Helm chart, rendered by Helm's own engine (helm-python-sdk bundles Helm v4's Go library):
it agrees with deploy/, every value does what values.yaml says, and the config it produces is one
the app's own Settings accept.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from fyr.settings import Settings, load_settings
from tests.deploy.conftest import CHART, NON_DEFAULT_VALUES, render_chart, rendered_docs

Key = tuple[str, str]

# Helm metadata differs from the plain manifests by design (instance/managed-by labels, hooks,
# checksums); everything else must be equal.
_LABEL_PATHS = (
    ("spec", "selector"),
    ("spec", "podSelector"),
    ("spec", "template", "metadata"),
)


def normalise(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["metadata"].pop("labels", None)
    doc["metadata"].pop("annotations", None)
    for path in _LABEL_PATHS:
        node = doc
        for part in path[:-1]:
            node = node.get(part, {})
        node.pop(path[-1], None)
    if doc["kind"] == "ConfigMap" and "routing.yaml" in doc["data"]:
        doc["data"]["routing.yaml"] = yaml.safe_load(doc["data"]["routing.yaml"])
    return doc


def by_key(docs: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def test_chart_with_defaults_renders_the_same_objects_as_deploy(
    deploy_docs: list[dict[str, Any]], chart_default: dict[str, str]
) -> None:
    plain = by_key(deploy_docs)
    chart = by_key(rendered_docs(chart_default))
    # deploy/ alone has the Namespace (Helm: --create-namespace) and the Secret template (the chart
    # references the existing Secret "fyr-secrets" by default).
    plain.pop(("Namespace", "fyr"))
    plain.pop(("Secret", "fyr-secrets"))
    assert set(plain) == set(chart)
    for key in plain:
        assert normalise(plain[key]) == normalise(chart[key]), key


def test_checkov_skips_agree_between_deploy_and_chart(
    deploy_docs: list[dict[str, Any]], chart_default: dict[str, str]
) -> None:
    def skips(doc: dict[str, Any]) -> set[str]:
        notes = doc["metadata"].get("annotations", {})
        return {v.split("=")[0] for k, v in notes.items() if k.startswith("checkov.io/skip")}

    plain = by_key(deploy_docs)
    for key, doc in by_key(rendered_docs(chart_default)).items():
        assert skips(doc) == skips(plain[key]), key


def _custom(chart_custom: dict[str, str]) -> dict[Key, dict[str, Any]]:
    return by_key(rendered_docs(chart_custom))


def test_custom_values_set_image_digest_pull_secrets_and_drop_the_digest_skip(
    chart_custom: dict[str, str],
) -> None:
    image = NON_DEFAULT_VALUES["image"]
    for doc in _custom(chart_custom).values():
        if doc["kind"] != "Deployment":
            continue
        spec = doc["spec"]["template"]["spec"]
        assert spec["imagePullSecrets"] == [{"name": "regcred"}]
        (container,) = spec["containers"]
        assert container["image"] == f"{image['repository']}@{image['digest']}"
        assert container["imagePullPolicy"] == "IfNotPresent"
        assert not any("CKV_K8S_43" in v for v in doc["metadata"]["annotations"].values())


def test_custom_values_set_replicas_but_the_watcher_stays_one(chart_custom: dict[str, str]) -> None:
    docs = _custom(chart_custom)
    replicas = {name: d["spec"]["replicas"] for (kind, name), d in docs.items() if kind == "Deployment"}
    assert replicas == {"acme-fyr-watcher": 1, "acme-fyr-ingestor": 3, "acme-fyr-analyzer": 5, "acme-fyr-notifier": 4}
    budgets = {name for kind, name in docs if kind == "PodDisruptionBudget"}
    assert budgets == {"acme-fyr-ingestor", "acme-fyr-notifier"}  # analyzer's disabled
    assert not any(kind == "Job" for kind, _ in docs)  # migration.enabled: false
    (notifier,) = docs[("Deployment", "acme-fyr-notifier")]["spec"]["template"]["spec"]["containers"]
    assert notifier["resources"]["limits"] == {"cpu": "500m", "memory": "128Mi"}


def test_custom_values_create_the_secret_and_every_service_reads_it(chart_custom: dict[str, str]) -> None:
    docs = _custom(chart_custom)
    secret = docs[("Secret", "acme-fyr-secrets")]
    assert secret["stringData"] == {
        "MYSQL_URL": "mysql://fyr:pw@db:3306/fyr",
        "SLACK_BOT_TOKEN": "xoxb-1",
        "GITLAB_INGESTOR_TOKEN": "t0k3n",
        "OPENAI_API_KEY": "sk-1",
    }
    assert "annotations" not in secret["metadata"]  # a hook only when the migration hook needs it
    for (kind, _), doc in docs.items():
        if kind == "Deployment":
            (container,) = doc["spec"]["template"]["spec"]["containers"]
            refs = [e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"]]
            assert refs and set(refs) == {"acme-fyr-secrets"}
            assert "checksum/secret" in doc["spec"]["template"]["metadata"]["annotations"]


def test_network_policy_can_be_left_to_the_cluster_owner() -> None:
    docs = by_key(rendered_docs(render_chart({"networkPolicy": {"enabled": False}})))
    assert ("NetworkPolicy", "fyr-ingress") not in docs
    assert ("NetworkPolicy", "fyr-ingress") in by_key(rendered_docs(render_chart({})))


def test_created_secret_exists_before_the_migration_hook_reads_it() -> None:
    values = {**NON_DEFAULT_VALUES, "migration": {"enabled": True}}
    docs = by_key(rendered_docs(render_chart(values, name="acme", namespace="observability")))
    secret_notes = docs[("Secret", "acme-fyr-secrets")]["metadata"]["annotations"]
    job_notes = docs[("Job", "acme-fyr-db-upgrade")]["metadata"]["annotations"]
    assert "pre-install" in secret_notes["helm.sh/hook"] and "pre-install" in job_notes["helm.sh/hook"]
    assert int(secret_notes["helm.sh/hook-weight"]) < int(job_notes["helm.sh/hook-weight"])


def test_created_secret_without_required_values_is_refused() -> None:
    import helm_python as helm

    with pytest.raises(helm.HelmError, match=r"secrets\.mysqlUrl is required"):
        render_chart({"secrets": {"create": True}})


def test_custom_values_reach_the_routing_file_and_the_config(chart_custom: dict[str, str]) -> None:
    docs = _custom(chart_custom)
    routing = yaml.safe_load(docs[("ConfigMap", "acme-fyr-routing")]["data"]["routing.yaml"])
    assert routing == NON_DEFAULT_VALUES["routing"]
    data = docs[("ConfigMap", "acme-fyr-config")]["data"]
    assert data["CLUSTER_NAME"] == "eu-west-2"
    assert json.loads(data["FYR_WATCH_NAMESPACES"]) == ["shop", "payments"]
    assert (data["FYR_CRASHLOOP_RESTARTS"], data["FYR_OOM_RESTARTS"]) == ("5", "1")
    assert data["OPENAI_BASE_URL"] == "https://llm.internal/v1"
    assert data["FYR_NOTIFY_CONCURRENCY"] == "20"


def _settings_from(data: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in list(Settings.model_fields):
        monkeypatch.delenv(f"FYR_{name.upper()}", raising=False)
    for name, value in {**data, "MYSQL_URL": "mysql://fyr:pw@db:3306/fyr"}.items():
        monkeypatch.setenv(name, value)
    return load_settings()


@pytest.mark.parametrize("source", ["deploy", "chart-custom"])
def test_the_app_settings_accept_the_config_map(
    source: str,
    deploy_docs: list[dict[str, Any]],
    chart_custom: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if source == "deploy":
        data = by_key(deploy_docs)[("ConfigMap", "fyr-config")]["data"]
    else:
        data = _custom(chart_custom)[("ConfigMap", "acme-fyr-config")]["data"]
    known = {f"FYR_{n.upper()}" for n in Settings.model_fields} | {
        "CLUSTER_NAME",
        "LOG_LEVEL",
        "DEFAULT_SLACK_CHANNEL",
        "SLACK_API_URL",
        "OPENAI_BASE_URL",
    }
    assert set(data) <= known  # no setting the app would silently ignore
    settings = _settings_from(data, monkeypatch)
    assert settings.cluster_name == data["CLUSTER_NAME"]
    assert settings.watch_namespaces == json.loads(data["FYR_WATCH_NAMESPACES"])
    assert settings.crashloop_restarts == int(data["FYR_CRASHLOOP_RESTARTS"])
    assert str(settings.routing_file) == "/etc/fyr/routing.yaml"


def test_helm_lint_finds_no_errors() -> None:
    import helm_python as helm

    result = helm.lint(str(CHART))
    assert result["errors"] == []
    assert not [m for m in result["messages"] if m["severity"] >= 3], result["messages"]


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"analyzer": {"replicas": 0}}, "/analyzer/replicas"),
        ({"image": {"digest": "latest"}}, "/image/digest"),
        ({"config": {"watchNamespaces": "shop"}}, "/config/watchNamespaces"),
        ({"config": {"llm": "gpt"}}, "/config/llm"),
        ({"thresholds": {"crashloopRestarts": 0}}, "/thresholds/crashloopRestarts"),
    ],
)
def test_values_schema_refuses_a_wrong_value_naming_it(values: dict[str, Any], where: str) -> None:
    import helm_python as helm

    with pytest.raises(helm.HelmError, match=where):
        render_chart(values)


SECOND_CLUSTER = {
    "config": {"clusterName": "eu-west-2"},
    "ingestor": {"enabled": False},
    "notifier": {"enabled": False},
    "migration": {"enabled": False},
}


def test_second_cluster_runs_only_its_own_watcher_and_analyzer() -> None:
    """README "second cluster": watcher + analyzer with their own CLUSTER_NAME, shared database."""
    import kubernetes_validate

    rendered = rendered_docs(render_chart(SECOND_CLUSTER))
    docs = by_key(rendered)
    workloads = {name for kind, name in docs if kind in ("Deployment", "Job", "PodDisruptionBudget")}
    assert workloads == {"fyr-watcher", "fyr-analyzer"}  # the analyzer has its PDB too
    assert {name for kind, name in docs if kind == "ServiceAccount"} == {"fyr-watcher", "fyr-analyzer"}
    assert {name for kind, name in docs if kind == "Service"} == {"fyr-metrics"}
    assert docs[("ConfigMap", "fyr-config")]["data"]["CLUSTER_NAME"] == "eu-west-2"
    for doc in rendered:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize("source", ["deploy", "chart-default", "chart-custom"])
def test_the_app_loads_the_routing_file(
    source: str,
    deploy_docs: list[dict[str, Any]],
    chart_default: dict[str, str],
    chart_custom: dict[str, str],
    tmp_path: Path,
) -> None:
    from fyr.core.routing import load_routing

    docs = {
        "deploy": by_key(deploy_docs),
        "chart-default": by_key(rendered_docs(chart_default)),
        "chart-custom": _custom(chart_custom),
    }[source]
    (routing_map,) = [d for (kind, name), d in docs.items() if kind == "ConfigMap" and name.endswith("-routing")]
    path = tmp_path / "routing.yaml"  # what the pod sees at /etc/fyr/routing.yaml
    path.write_text(routing_map["data"]["routing.yaml"])
    routing = load_routing(path)
    assert routing.rules
    first = yaml.safe_load(path.read_text())["routes"][0]
    route = routing.route_for(first["project"].replace("*", "x"))
    assert route is not None and route.slack_channel == first["slack_channel"]
