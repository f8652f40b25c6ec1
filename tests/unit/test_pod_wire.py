"""The watcher's pod fast path reads, from the bytes, exactly the view the parsed-dict path makes, or
refuses the object (and the dict path takes it); never a different view."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from fyr.core.k8s_views import pod_view
from fyr.core.pod_wire import decode_pod_event, decode_pod_list
from fyr.simcluster.controller import DeploymentSim
from tests.unit.k8s_builders import StoreCluster

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def _pods_in(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        status = value.get("status")
        if value.get("kind") == "Pod" or (isinstance(status, dict) and "containerStatuses" in status):
            return [value]
        return [p for v in value.values() for p in _pods_in(v)]
    if isinstance(value, list):
        return [p for v in value for p in _pods_in(v)]
    return []


def _simulated_pods() -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = []
    for break_it in (lambda d: d.crash_loop(), lambda d: d.oom_kill(), lambda d: d.image_pull_error(),
                     lambda d: d.unschedulable(), lambda d: d.missing_secret(), lambda d: d.invalid_image_name()):
        c = StoreCluster()
        d = DeploymentSim(c, namespace="shop", name="api", image="registry.example.com/acme/api:1.0")
        d.rollout()
        d.become_ready()
        d.rollout(image="registry.example.com/acme/api:2.0")
        break_it(d)
        pods += [copy.deepcopy(p) for p in c.state.objects["pods"].values()]
    return pods


def _corpus_pods() -> list[dict[str, Any]]:
    return [p for f in sorted(CORPUS.glob("*.json")) for p in _pods_in(json.loads(f.read_text()))]


def _base() -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {"name": "api-1", "namespace": "shop", "uid": "u1", "resourceVersion": "42",
                     "labels": {"pod-template-hash": "abc", "controller-revision-hash": "db-7f",
                                "pod-template-generation": "3"},
                     "ownerReferences": [{"kind": "ReplicaSet", "uid": "rs1", "controller": True}]},
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "x"}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "app", "image": "x", "restartCount": 4,
             "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
             "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}]},
    }


def _edit(path: str, value: Any) -> dict[str, Any]:
    pod = _base()
    *parents, last = path.split(".")
    node: Any = pod
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return pod


# Odd but legal shapes the fast path must read exactly as the dict path does.
EDGE_CASES = {
    "base": _base(),
    "metadata null": _edit("metadata", None),
    "labels null": _edit("metadata.labels", None),
    "a label null": _edit("metadata.labels", {"pod-template-hash": None}),
    "owner refs null": _edit("metadata.ownerReferences", None),
    "an owner ref null": _edit("metadata.ownerReferences", [None, {"kind": "StatefulSet", "uid": "s1"}]),
    "non-controller refs as fallback": _edit("metadata.ownerReferences", [
        {"kind": "ReplicaSet", "uid": "rs-a"}, {"kind": "ReplicaSet", "uid": "rs-b", "controller": True},
        {"kind": "DaemonSet", "uid": "ds-a", "controller": False}]),
    "being deleted": _edit("metadata.deletionTimestamp", "2026-01-01T00:00:00Z"),
    "deletion timestamp empty": _edit("metadata.deletionTimestamp", ""),
    "spec null": _edit("spec", None),
    "status null": _edit("status", None),
    "two unscheduled conditions, the last counts": _edit("status.conditions", [
        {"type": "PodScheduled", "status": "False", "lastTransitionTime": "2026-01-01T00:00:00Z"},
        None,
        {"type": "PodScheduled", "status": "False", "lastTransitionTime": "2026-01-01T00:05:00.5Z"},
        {"type": "Ready", "status": "False", "lastTransitionTime": "bad"}]),
    "unscheduled with a bad time": _edit("status.conditions", [
        {"type": "PodScheduled", "status": "False", "lastTransitionTime": "yesterday"}]),
    "a container status null": _edit("status.containerStatuses", [None]),
    "state and last state empty": _edit("status.containerStatuses.0", {"name": "app", "state": {}, "lastState": {}}),
    "waiting empty": _edit("status.containerStatuses.0.state", {"waiting": {}}),
    "last exit code null beats the current one": _edit("status.containerStatuses.0", {
        "name": "app", "state": {"terminated": {"reason": "Error", "exitCode": 2}},
        "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": None}}}),
    "no last exit code: the current one": _edit("status.containerStatuses.0", {
        "name": "app", "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
        "lastState": {"terminated": {"reason": "OOMKilled"}}}),
    "last terminated empty: the current one": _edit("status.containerStatuses.0", {
        "name": "app", "state": {"terminated": {"exitCode": 3}}, "lastState": {"terminated": {}}}),
    "no restart count": _edit("status.containerStatuses.0", {"name": "app"}),
    "init containers first": _edit("status.initContainerStatuses", [
        {"name": "migrate", "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]),
}

# Shapes the fast path refuses; the dict path has its own rules for them.
REFUSED = {
    "a label that is a number": _edit("metadata.labels", {"pod-template-hash": 5}),
    "restart count as a string": _edit("status.containerStatuses.0.restartCount", "4"),
    "exit code true": _edit("status.containerStatuses.0.lastState.terminated.exitCode", True),
    "statuses as a map": _edit("status.containerStatuses", {"app": {}}),
    "metadata as a list": _edit("metadata", []),
}


def _event(pod: dict[str, Any], etype: str = "MODIFIED") -> bytes:
    return orjson.dumps({"type": etype, "object": pod})


def test_corpus_and_simulated_pods_read_the_same_from_the_wire() -> None:
    pods = _corpus_pods() + _simulated_pods()
    assert len(pods) > 400
    for pod in pods:
        decoded = decode_pod_event(_event(pod))
        assert decoded is not None, pod["metadata"]
        assert decoded[1] == pod_view(pod), pod["metadata"]
    page = orjson.dumps({"kind": "PodList", "metadata": {"resourceVersion": "9"}, "items": pods})
    assert decode_pod_list(page) == [pod_view(p) for p in pods]


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_odd_shapes_read_exactly_as_the_dict_path_does(case: str) -> None:
    pod = EDGE_CASES[case]
    decoded = decode_pod_event(_event(pod, "ADDED"))
    assert decoded is not None
    etype, view, rv = decoded
    assert (etype, view) == ("ADDED", pod_view(pod))
    assert rv == ((pod.get("metadata") or {}).get("resourceVersion") or "")


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_shapes_outside_the_schema_are_refused_not_guessed(case: str) -> None:
    assert decode_pod_event(_event(REFUSED[case])) is None
    assert decode_pod_list(orjson.dumps({"items": [_base(), REFUSED[case]]})) is None


def test_event_types_other_than_changes_and_bookmarks_are_left_to_the_caller() -> None:
    assert decode_pod_event(_event(_base(), "ERROR")) is None
    assert decode_pod_event(orjson.dumps({"type": "ERROR", "object": {
        "kind": "Status", "status": "Failure", "code": 410, "message": "too old"}})) is None
    assert decode_pod_event(_event(_base(), "SOMETHING")) is None
    assert decode_pod_event(b'{"type":"MODIFIED","object":{"metadata":') is None
    assert decode_pod_event(b'{"type":"MODIFIED"}') is None
    bookmark = decode_pod_event(orjson.dumps({"type": "BOOKMARK", "object": {
        "kind": "Pod", "metadata": {"resourceVersion": "77", "annotations": {"k8s.io/initial-events-end": "true"}}}}))
    assert bookmark is not None and (bookmark[0], bookmark[2]) == ("BOOKMARK", "77")
