"""Real kubectl as the oracle for StatefulSet and DaemonSet rollout status.

Each state is created with `kubectl create` and `kubectl patch --subresource=status` on the simulated
API server (no controller runs), then `kubectl rollout status KIND/NAME --watch=false` and
`fyr collect NS/KIND/NAME` + `fyr analyze` must print the same line; Fyr says FAILED early only where
a pod of the update revision shows a decisive signal (kubectl is still waiting there). The same
comparison is made against a transcription of kubectl's viewers in tests/unit/test_set_status.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fyr.simcluster.server import SimCluster

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def sim() -> AsyncIterator[SimCluster]:
    async with SimCluster.running() as s:
        yield s


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)


class Kubectl:
    def __init__(self, binary: Path, kubeconfig: Path) -> None:
        self.binary, self.kubeconfig = binary, kubeconfig

    async def __call__(self, *args: str, stdin: str | None = None,
                       check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.binary), "--kubeconfig", str(self.kubeconfig), *args]
        proc = await asyncio.to_thread(subprocess.run, cmd, input=stdin, capture_output=True, text=True, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)}: {proc.stderr.strip()}")
        return proc

    async def create(self, obj: dict[str, Any]) -> None:
        await self("create", "-f", "-", stdin=json.dumps(obj))

    async def status(self, kind: str, ns: str, name: str, status: dict[str, Any]) -> None:
        await self("-n", ns, "patch", kind, name, "--subresource=status", "--type=merge",
                   "-p", json.dumps({"status": status}))


def _template(image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "app", "image": image}]}}


def statefulset(name: str, *, replicas: int = 3, strategy: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": "data"},
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": "x"}},
                     "template": _template("registry.acme.io/pg:17"),
                     "updateStrategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}}}


def daemonset(name: str, *, strategy: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": "data"},
            "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": _template("registry.acme.io/agent:2"),
                     "updateStrategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}}}


def crashing_pod(name: str, owner: dict[str, Any], revision: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "data",
                         "labels": {"app": "x", "controller-revision-hash": revision},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner["kind"],
                                              "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                                              "controller": True}]},
            "spec": {"containers": [{"name": "app", "image": "registry.acme.io/pg:17"}], "nodeName": "node-1"}}


CRASH_STATUS = {"phase": "Running", "containerStatuses": [
    {"name": "app", "image": "registry.acme.io/pg:17", "imageID": "", "ready": False, "restartCount": 3,
     "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}},
     "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}


async def fyr_line(kubeconfig: Path, target: str, tmp_path: Path) -> dict[str, Any]:
    env = {**os.environ, "FYR_KUBECONFIG": str(kubeconfig), "FYR_CLUSTER_NAME": "sim"}
    out = tmp_path / (target.replace("/", "_") + ".json")
    collected = await asyncio.to_thread(_run, [sys.executable, "-m", "fyr", "collect", target, "-o", str(out)], env)
    assert collected.returncode == 0, collected.stderr
    analyzed = await asyncio.to_thread(_run, [sys.executable, "-m", "fyr", "analyze", "--bundle", str(out)], env)
    assert analyzed.returncode == 0, analyzed.stderr
    rollout: dict[str, Any] = json.loads(analyzed.stdout)["rollout"]
    return rollout


async def kubectl_line(k: Kubectl, kind: str, name: str) -> tuple[str, bool]:
    """(kubectl's line, done): stdout's line, or `error: ...` on stderr (OnDelete)."""
    proc = await k("-n", "data", "rollout", "status", f"{kind}/{name}", "--watch=false", check=False)
    if proc.returncode != 0:
        return proc.stderr.strip().removeprefix("error: "), True
    line = proc.stdout.strip()
    return line, "successfully rolled out" in line or "complete" in line.split(":")[0]


STS_STATES: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
    ("sts-ready", {"observedGeneration": 1, "replicas": 3, "readyReplicas": 1, "updatedReplicas": 1,
                   "currentRevision": "r1", "updateRevision": "r1"}, None),
    ("sts-part-wait", {"observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 0,
                       "currentRevision": "r1", "updateRevision": "r2"},
     {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}),
    ("sts-part-done", {"observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 1,
                       "currentRevision": "r1", "updateRevision": "r2"},
     {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}),
    ("sts-done", {"observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 3,
                  "currentReplicas": 3, "currentRevision": "r2", "updateRevision": "r2"}, None),
    ("sts-ondelete", {"observedGeneration": 1, "replicas": 3, "readyReplicas": 1}, {"type": "OnDelete"}),
    ("sts-no-partition", {"observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 1,
                          "currentRevision": "r1", "updateRevision": "r2"}, {"type": "RollingUpdate"}),
    ("sts-partition-above-replicas", {"observedGeneration": 1, "replicas": 3, "readyReplicas": 3,
                                      "updatedReplicas": 0, "currentRevision": "r1", "updateRevision": "r2"},
     {"type": "RollingUpdate", "rollingUpdate": {"partition": 5}}),
    ("sts-old-generation", {"observedGeneration": 0, "replicas": 3, "readyReplicas": 3}, None),
    ("sts-none-ready", {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "currentRevision": "r1",
                        "updateRevision": "r2"}, None),
    ("sts-unobserved", {}, None),
]
DS_STATES: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
    ("ds-updating", {"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 1,
                     "numberAvailable": 3, "currentNumberScheduled": 3, "numberMisscheduled": 0,
                     "numberReady": 3}, None),
    ("ds-available", {"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3,
                      "numberAvailable": 1, "currentNumberScheduled": 3, "numberMisscheduled": 0,
                      "numberReady": 1}, None),
    ("ds-done", {"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3,
                 "numberAvailable": 3, "currentNumberScheduled": 3, "numberMisscheduled": 0, "numberReady": 3}, None),
    ("ds-surge", {"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 2,
                  "numberAvailable": 3, "currentNumberScheduled": 3, "numberMisscheduled": 0, "numberReady": 3},
     {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}),
    ("ds-none-available", {"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3,
                           "currentNumberScheduled": 3, "numberMisscheduled": 0, "numberReady": 3}, None),
    ("ds-old-generation", {"observedGeneration": 0, "desiredNumberScheduled": 2, "currentNumberScheduled": 2,
                           "numberMisscheduled": 0, "numberReady": 2}, None),
    ("ds-zero", {"observedGeneration": 1, "desiredNumberScheduled": 0, "currentNumberScheduled": 0,
                 "numberMisscheduled": 0, "numberReady": 0}, None),
    ("ds-ondelete", {"observedGeneration": 1, "desiredNumberScheduled": 3, "currentNumberScheduled": 3,
                     "numberMisscheduled": 0, "numberReady": 0}, {"type": "OnDelete"}),
]


async def test_statefulset_and_daemonset_lines_agree_with_kubectl(sim: SimCluster, kubectl: Path,
                                                                  tmp_path: Path) -> None:
    k = Kubectl(kubectl, sim.kubeconfig_path)
    await k.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "data"}})
    for kind, states, make in (("statefulset", STS_STATES, statefulset), ("daemonset", DS_STATES, daemonset)):
        for name, status, strategy in states:
            await k.create(make(name, strategy=strategy))
            if status:
                await k.status(kind, "data", name, status)
            want, done = await kubectl_line(k, kind, name)
            got = await fyr_line(sim.kubeconfig_path, f"data/{kind}/{name}", tmp_path)
            assert got["message"] == want, name
            assert (got["status"] == "SUCCESS") == done, name


async def test_fyr_fails_early_only_on_the_update_revisions_pods(sim: SimCluster, kubectl: Path,
                                                                 tmp_path: Path) -> None:
    k = Kubectl(kubectl, sim.kubeconfig_path)
    await k.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "data"}})
    await k.create(statefulset("pg"))
    await k.status("statefulset", "data", "pg", {"observedGeneration": 1, "replicas": 3, "readyReplicas": 2,
                                                   "updatedReplicas": 1, "currentRevision": "pg-old",
                                                   "updateRevision": "pg-new"})
    owner = json.loads((await k("-n", "data", "get", "statefulset", "pg", "-o", "json")).stdout)
    await k.create(crashing_pod("pg-0", owner, "pg-old"))  # old revision, crash looping
    await k.status("pod", "data", "pg-0", CRASH_STATUS)
    want, done = await kubectl_line(k, "statefulset", "pg")
    got = await fyr_line(sim.kubeconfig_path, "data/statefulset/pg", tmp_path)
    assert not done and got == {**got, "status": "ROLLING_OUT", "message": want}
    await k.create(crashing_pod("pg-2", owner, "pg-new"))  # the update revision's pod: decisive
    await k.status("pod", "data", "pg-2", CRASH_STATUS)
    want, done = await kubectl_line(k, "statefulset", "pg")
    got = await fyr_line(sim.kubeconfig_path, "data/statefulset/pg", tmp_path)
    assert not done and want == "Waiting for 1 pods to be ready..."
    assert got["status"] == "FAILED" and got["reason"] == "CrashLoopBackOff"
    assert got["message"].startswith('statefulset "pg" stuck at ordinal 2:')


DS_UPDATING = {"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 1, "numberAvailable": 2,
               "currentNumberScheduled": 3, "numberMisscheduled": 0, "numberReady": 2}


def revision(name: str, owner: dict[str, Any], number: int, *, labelled: bool) -> dict[str, Any]:
    """A hand-made ControllerRevision: owned by the workload's uid, with or without the hash label and
    without the selector's labels the controller would copy onto it."""
    meta: dict[str, Any] = {"name": name, "namespace": "data", "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": owner["kind"], "name": owner["metadata"]["name"],
         "uid": owner["metadata"]["uid"], "controller": True}]}
    if labelled:
        meta["labels"] = {"controller-revision-hash": name.rsplit("-", 1)[1]}
    return {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": meta, "revision": number, "data": {}}


@pytest.mark.parametrize(("name", "labels", "revisions", "failed"), [
    ("gen-new", {"pod-template-generation": "1"}, [], True),
    ("gen-old", {"pod-template-generation": "0"}, [], False),
    ("hash-new", {"controller-revision-hash": "h2"}, [("hash-new-h1", 1, True), ("hash-new-h2", 2, True)], True),
    ("hash-old", {"controller-revision-hash": "h1"}, [("hash-old-h1", 1, True), ("hash-old-h2", 2, True)], False),
    ("unlabelled-rev", {"controller-revision-hash": "h2"}, [("unlabelled-rev-h2", 2, False)], True),
    ("unlabelled-old", {"controller-revision-hash": "h1"}, [("unlabelled-old-h2", 2, False)], False),
])
async def test_daemonset_update_revision_by_controller_revision_or_generation(
        sim: SimCluster, kubectl: Path, tmp_path: Path, name: str, labels: dict[str, str],
        revisions: list[tuple[str, int, bool]], failed: bool) -> None:
    """A DaemonSet's update revision: its newest owned ControllerRevision (by uid, whatever its labels;
    its hash from the label or the name), else the pods' template generation. Only a pod of it fails
    the rollout early; kubectl waits in every case."""
    k = Kubectl(kubectl, sim.kubeconfig_path)
    await k.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "data"}})
    await k.create(daemonset(name))
    await k.status("daemonset", "data", name, DS_UPDATING)
    owner = json.loads((await k("-n", "data", "get", "daemonset", name, "-o", "json")).stdout)
    for rev_name, number, labelled in revisions:
        await k.create(revision(rev_name, owner, number, labelled=labelled))
    pod = crashing_pod(f"{name}-abcde", owner, "")
    pod["metadata"]["labels"] = {"app": "x", **labels}
    await k.create(pod)
    await k.status("pod", "data", pod["metadata"]["name"], CRASH_STATUS)
    want, done = await kubectl_line(k, "daemonset", name)
    got = await fyr_line(sim.kubeconfig_path, f"data/daemonset/{name}", tmp_path)
    assert not done
    if failed:
        assert got["status"] == "FAILED" and got["reason"] == "CrashLoopBackOff"
        assert got["message"].startswith(f'daemon set "{name}" failing on node node-1:')
    else:
        assert got == {**got, "status": "ROLLING_OUT", "message": want}
