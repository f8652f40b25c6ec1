"""RBAC equals docs/architecture.md 'Deployment' exactly, parsed from the YAML (plain manifests and the rendered chart).

Seed table, grown by the kinds `kubectl rollout status` knows: watcher get/list/watch on deployments,
statefulsets, daemonsets, replicasets, controllerrevisions, pods, events; analyzer get/list on the same
and get on pods/log; ingestor and notifier no Kubernetes permissions (and no token mounted).
"events" is the core API group's Event (what Fyr reads); events.k8s.io is not granted.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.conftest import COMPONENTS

Grant = tuple[str, str, str]  # (apiGroup, resource, verb)

_GROUP = {"deployments": "apps", "statefulsets": "apps", "daemonsets": "apps", "replicasets": "apps",
          "controllerrevisions": "apps", "pods": "", "events": "", "pods/log": ""}
_SAME = ("deployments", "statefulsets", "daemonsets", "replicasets", "controllerrevisions", "pods", "events")
SEED_TABLE: dict[str, set[Grant]] = {
    "watcher": {(_GROUP[r], r, v) for r in _SAME for v in ("get", "list", "watch")},
    "analyzer": {(_GROUP[r], r, v) for r in _SAME for v in ("get", "list")} | {("", "pods/log", "get")},
    "ingestor": set(),
    "notifier": set(),
}


def expand(rules: list[dict[str, Any]]) -> set[Grant]:
    """Every (group, resource, verb) a rule list grants; wildcards and resourceNames are refused."""
    grants: set[Grant] = set()
    for rule in rules:
        assert "nonResourceURLs" not in rule and "resourceNames" not in rule, rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert "*" not in (group, resource, verb), rule
                    grants.add((group, resource, verb))
    return grants


def grants_by_component(docs: list[dict[str, Any]], prefix: str, namespace: str) -> dict[str, set[Grant]]:
    roles = {(d["kind"], d["metadata"]["name"]): d for d in docs if d["kind"] in ("ClusterRole", "Role")}
    result: dict[str, set[Grant]] = {c: set() for c in COMPONENTS}
    service_accounts = {f"{prefix}-{c}": c for c in COMPONENTS}
    for binding in (d for d in docs if d["kind"] in ("ClusterRoleBinding", "RoleBinding")):
        role = roles[(binding["roleRef"]["kind"], binding["roleRef"]["name"])]
        for subject in binding["subjects"]:
            assert subject["kind"] == "ServiceAccount", subject
            assert subject["namespace"] == namespace
            result[service_accounts[subject["name"]]] |= expand(role["rules"])
    return result


def _docs(request: pytest.FixtureRequest, source: str) -> tuple[list[dict[str, Any]], str, str]:
    from tests.deploy.conftest import rendered_docs

    if source == "deploy":
        return request.getfixturevalue("deploy_docs"), "fyr", "fyr"
    if source == "chart-default":
        return rendered_docs(request.getfixturevalue("chart_default")), "fyr", "fyr"
    return rendered_docs(request.getfixturevalue("chart_custom")), "acme-fyr", "observability"


SOURCES = ["deploy", "chart-default", "chart-custom"]


@pytest.mark.parametrize("source", SOURCES)
def test_rbac_grants_equal_the_seed_table_exactly(request: pytest.FixtureRequest, source: str) -> None:
    docs, prefix, namespace = _docs(request, source)
    assert grants_by_component(docs, prefix, namespace) == SEED_TABLE


@pytest.mark.parametrize("source", SOURCES)
def test_only_watcher_and_analyzer_get_a_service_account_token(request: pytest.FixtureRequest, source: str) -> None:
    docs, prefix, _ = _docs(request, source)
    accounts = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ServiceAccount"}
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    for component in COMPONENTS:
        name = f"{prefix}-{component}"
        pod = deployments[name]["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == name
        needs_api = component in ("watcher", "analyzer")
        assert accounts[name]["automountServiceAccountToken"] is needs_api
        assert pod["automountServiceAccountToken"] is needs_api
    for job in (d for d in docs if d["kind"] == "Job"):
        assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_expansion_notices_an_extra_verb() -> None:
    """The equality above can fail: one extra verb on the analyzer breaks it."""
    rules = [{"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "list"]}]
    assert expand(rules) != {("", "pods/log", "get")}
