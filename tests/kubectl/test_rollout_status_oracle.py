"""The real kubectl judges `rollout_status`: the same Deployment states, created with kubectl on
`fyr simcluster --no-controller`, must get kubectl's verdict from Fyr.

For each state: `kubectl rollout status --watch=false` (exit code and line) against
- `rollout_status` on the objects `kubectl get -o json` returns,
- the verdict of the analyzer pipeline on the bundle Fyr's collector gathers (what `fyr collect` +
  `fyr analyze --bundle` do), and for one state per branch the two commands themselves.
The same line for SUCCESS / PENDING / ROLLING_OUT, FAILED where kubectl errors (the message
starting with kubectl's error text), FAILED earlier than kubectl only on the decisive signals.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from fyr.core.rollout import rollout_status
from fyr.core.status import RolloutVerdict, StatusThresholds
from fyr.models.rollout import RolloutStatus
from fyr.services.analyzer.offline import collect_target
from fyr.services.analyzer.pipeline import analyze_bundle
from fyr.settings import Settings
from tests.kubectl.conftest import Kubectl, Playground, Result
from tests.kubectl.states import NS, State, states

# The module fixtures start `fyr simcluster` and build every state inside the first test's time.
pytestmark = pytest.mark.timeout(300)

STATES = states()
BY_NAME = {s.name: s for s in STATES}
# One state per kubectl branch and per kind of early failure: these also go through the CLI.
CLI_STATES = ("s01-stale", "s05-deadline", "s15-updated-1-of-3-surge", "s30-scaled-to-zero", "s35-crashloop-3")


@dataclass
class Observed:
    kubectl: Result
    direct: RolloutVerdict
    collected: RolloutVerdict


def _template(state: State, image: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": image, "ports": [{"containerPort": 8080}]}]}
    if state.init_container:
        spec["initContainers"] = [{"name": "migrate", "image": "reg.example/migrate:v2"}]
    return {"metadata": {"labels": {"app": state.name}}, "spec": spec}


def _docs(docs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def _owner(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": kind, "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


def _by_name(k: Kubectl, kind: str) -> dict[str, dict[str, Any]]:
    items = json.loads(k.ok("get", kind, "-n", NS, "-o", "json"))["items"]
    return {i["metadata"]["name"]: i for i in items}


def _create_states(k: Kubectl) -> None:
    k.ok("create", "-f", "-", stdin=_docs([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}]))
    deployments = [{
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": s.name, "namespace": NS, "labels": {"app": s.name}},
        "spec": {"replicas": s.replicas, "paused": s.paused, "selector": {"matchLabels": {"app": s.name}},
                 "template": _template(s, "reg.example/app:v2")},
    } for s in STATES]
    k.ok("create", "-f", "-", stdin=_docs(deployments))
    for s in STATES:
        if s.stale:  # a spec change the controller has not observed: generation 2
            k.ok("patch", "deployment", s.name, "-n", NS, "--type=merge", "-p", '{"spec":{"minReadySeconds":5}}')
    deps = _by_name(k, "deployments")
    replicasets = []
    for s in STATES:
        for suffix, image, revision, pods in (("new", "reg.example/app:v2", "2", s.new_pods),
                                              ("old", "reg.example/app:v1", "1", s.old_pods)):
            if suffix == "old" and not pods:
                continue
            tmpl = _template(s, image)
            tmpl["metadata"]["labels"]["pod-template-hash"] = suffix
            replicasets.append({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": f"{s.name}-{suffix}", "namespace": NS, "labels": tmpl["metadata"]["labels"],
                             "annotations": {"deployment.kubernetes.io/revision": revision},
                             "ownerReferences": [_owner("Deployment", deps[s.name])]},
                "spec": {"replicas": len(pods), "template": tmpl,
                         "selector": {"matchLabels": {"app": s.name, "pod-template-hash": suffix}}},
            })
    k.ok("create", "-f", "-", stdin=_docs(replicasets))
    rss = _by_name(k, "replicasets")
    pods, statuses = [], []
    for s in STATES:
        for suffix, group in (("new", s.new_pods), ("old", s.old_pods)):
            for i, status in enumerate(group):
                rs = rss[f"{s.name}-{suffix}"]
                meta = {"name": f"{s.name}-{suffix}-{i}", "namespace": NS, "labels": rs["metadata"]["labels"],
                        "ownerReferences": [{**_owner("ReplicaSet", rs)}]}
                pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                             "spec": rs["spec"]["template"]["spec"]})
                statuses.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": meta["name"],
                                                                                 "namespace": NS},
                                 "status": status})
    k.ok("create", "-f", "-", stdin=_docs(pods))
    k.ok("replace", "--subresource=status", "-f", "-", stdin=_docs(statuses))


async def _patch_statuses(k: Kubectl) -> None:
    commands = []
    for s in STATES:
        status = {**s.status, "observedGeneration": 1, "conditions": s.conditions}
        commands.append(["patch", "deployment", s.name, "-n", NS, "--subresource=status", "--type=merge",
                         "-p", json.dumps({"status": status})])
    for r in await k.many(commands):
        assert r.code == 0 and not r.err, r.err


@pytest.fixture(scope="module")
def observed(k_empty: Kubectl, empty_cluster: Playground) -> dict[str, Observed]:
    _create_states(k_empty)
    asyncio.run(_patch_statuses(k_empty))
    answers = asyncio.run(k_empty.many([["rollout", "status", f"deployment/{s.name}", "-n", NS, "--watch=false"]
                                        for s in STATES]))
    deps, rss = _by_name(k_empty, "deployments"), list(_by_name(k_empty, "replicasets").values())
    pods = list(_by_name(k_empty, "pods").values())
    settings = Settings(kubeconfig=empty_cluster.kubeconfig)
    thresholds = StatusThresholds.from_settings(settings)

    async def collected() -> list[RolloutVerdict]:
        out = []
        for s in STATES:
            bundle = await collect_target(f"{NS}/{s.name}", settings=settings)
            out.append(analyze_bundle(bundle, context_tokens=settings.context_tokens, thresholds=thresholds).verdict)
        return out

    verdicts = asyncio.run(collected())
    return {s.name: Observed(answer, rollout_status(deps[s.name], rss, pods, thresholds=thresholds), verdict)
            for s, answer, verdict in zip(STATES, answers, verdicts, strict=True)}


def test_the_states_cover_every_kubectl_branch(observed: dict[str, Observed]) -> None:
    assert len(STATES) >= 40
    lines = [o.kubectl.out + o.kubectl.err for o in observed.values()]
    for branch in ("Waiting for deployment spec update to be observed", "exceeded its progress deadline",
                   "new replicas have been updated", "old replicas are pending termination",
                   "updated replicas are available", "successfully rolled out"):
        assert sum(branch in line for line in lines) >= 3, branch


def expect(state: State, kubectl: Result, verdict: RolloutVerdict) -> None:
    line = kubectl.out.strip()
    name = state.name
    if kubectl.code != 0:
        assert kubectl.err.startswith(f'error: deployment "{name}" exceeded its progress deadline'), kubectl.err
        assert verdict.status is RolloutStatus.FAILED
        assert verdict.message.startswith(f'deployment "{name}" exceeded its progress deadline')
        return
    assert not kubectl.err and line.count("\n") == 0
    if line == f'deployment "{name}" successfully rolled out':
        assert (verdict.status, verdict.message) == (RolloutStatus.SUCCESS, line)
    elif line == "Waiting for deployment spec update to be observed...":
        assert (verdict.status, verdict.message) == (RolloutStatus.PENDING, line)
    else:
        assert line.startswith(f'Waiting for deployment "{name}" rollout to finish: ')
        if state.decisive:
            assert verdict.status is RolloutStatus.FAILED, verdict
        else:
            assert (verdict.status, verdict.message) == (RolloutStatus.ROLLING_OUT, line)


@pytest.mark.parametrize("name", [s.name for s in STATES])
def test_rollout_status_agrees_with_kubectl(observed: dict[str, Observed], name: str) -> None:
    o = observed[name]
    expect(BY_NAME[name], o.kubectl, o.direct)


@pytest.mark.parametrize("name", [s.name for s in STATES])
def test_collected_bundle_verdict_agrees_with_kubectl(observed: dict[str, Observed], name: str) -> None:
    o = observed[name]
    expect(BY_NAME[name], o.kubectl, o.collected)


def test_fyr_collect_and_analyze_commands_agree_with_kubectl(
    observed: dict[str, Observed], empty_cluster: Playground, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FYR_", "SLACK_", "OPENAI_", "GITLAB_"))}
    env.update(KUBECONFIG=str(empty_cluster.kubeconfig), FYR_LLM="none")
    for name in CLI_STATES:
        bundle = tmp_path / f"{name}.json"
        subprocess.run([sys.executable, "-m", "fyr", "collect", f"{NS}/{name}", "-o", str(bundle)], env=env,
                       check=True, capture_output=True, timeout=60)
        done = subprocess.run([sys.executable, "-m", "fyr", "analyze", "--bundle", str(bundle)], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        rollout = json.loads(done.stdout)["rollout"]
        verdict = observed[name].collected
        assert (rollout["status"], rollout["message"]) == (verdict.status.value, verdict.message)
        expect(BY_NAME[name], observed[name].kubectl, verdict)
