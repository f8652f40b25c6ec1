"""StatefulSet / DaemonSet rollout status: kubectl's viewers exactly, and early failure only on the
update revision's pods.

`_kubectl_sts` / `_kubectl_ds` below are line-by-line transcriptions of kubectl's
StatefulSetStatusViewer / DaemonSetStatusViewer (pkg/polymorphichelpers/rollout_status.go) over raw
dicts, as Go's unstructured conversion sees them (absent field = zero value, absent pointer = nil);
Hypothesis generates objects and the module must agree on (message, done, error) everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fyr.core.rollout import set_rollout_status
from fyr.core.set_status import (
    daemonset_view,
    daemonset_viewer,
    revision_view,
    statefulset_view,
    statefulset_viewer,
)
from fyr.core.status import StatusThresholds
from fyr.models.rollout import RolloutStatus as S

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _kubectl_sts(obj: dict[str, Any]) -> tuple[str, bool, str | None]:
    spec, status, meta = obj.get("spec", {}), obj.get("status", {}), obj.get("metadata", {})
    strategy = spec.get("updateStrategy", {})
    if strategy.get("type", "") != "RollingUpdate":
        return "", True, "rollout status is only available for RollingUpdate strategy type"
    observed = status.get("observedGeneration", 0)
    if observed == 0 or meta.get("generation", 0) > observed:
        return "Waiting for statefulset spec update to be observed...\n", False, None
    replicas = spec.get("replicas")
    if replicas is not None and status.get("readyReplicas", 0) < replicas:
        return f"Waiting for {replicas - status.get('readyReplicas', 0)} pods to be ready...\n", False, None
    if strategy.get("type") == "RollingUpdate" and strategy.get("rollingUpdate") is not None:
        partition = strategy["rollingUpdate"].get("partition")
        if replicas is not None and partition is not None:  # noqa: SIM102 - kubectl's nesting, line by line
            if status.get("updatedReplicas", 0) < replicas - partition:
                return (f"Waiting for partitioned roll out to finish: {status.get('updatedReplicas', 0)} out of "
                        f"{replicas - partition} new pods have been updated...\n", False, None)
        return f"partitioned roll out complete: {status.get('updatedReplicas', 0)} new pods have been updated...\n", \
            True, None
    if status.get("updateRevision", "") != status.get("currentRevision", ""):
        return (f"waiting for statefulset rolling update to complete {status.get('updatedReplicas', 0)} pods at "
                f"revision {status.get('updateRevision', '')}...\n", False, None)
    return (f"statefulset rolling update complete {status.get('currentReplicas', 0)} pods at revision "
            f"{status.get('currentRevision', '')}...\n", True, None)


def _kubectl_ds(obj: dict[str, Any]) -> tuple[str, bool, str | None]:
    spec, status, meta = obj.get("spec", {}), obj.get("status", {}), obj.get("metadata", {})
    name = meta.get("name", "")
    if spec.get("updateStrategy", {}).get("type", "") != "RollingUpdate":
        return "", True, "rollout status is only available for RollingUpdate strategy type"
    if meta.get("generation", 0) <= status.get("observedGeneration", 0):
        desired = status.get("desiredNumberScheduled", 0)
        if status.get("updatedNumberScheduled", 0) < desired:
            return (f'Waiting for daemon set "{name}" rollout to finish: {status.get("updatedNumberScheduled", 0)} '
                    f"out of {desired} new pods have been updated...\n", False, None)
        if status.get("numberAvailable", 0) < desired:
            return (f'Waiting for daemon set "{name}" rollout to finish: {status.get("numberAvailable", 0)} of '
                    f"{desired} updated pods are available...\n", False, None)
        return f'daemon set "{name}" successfully rolled out\n', True, None
    return "Waiting for daemon set spec update to be observed...\n", False, None


def _maybe(key: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(st.just({}), values.map(lambda v: {key: v}))


small = st.integers(min_value=0, max_value=6)
revisions = st.sampled_from(["web-6d4b8c7f9", "web-5f7c9d8b6", ""])
strategy_types = st.sampled_from(["RollingUpdate", "OnDelete", ""])


@st.composite
def statefulsets(draw: st.DrawFn) -> dict[str, Any]:
    strategy: dict[str, Any] = {}
    t = draw(strategy_types)
    if t:
        strategy["type"] = t
    if draw(st.booleans()):
        strategy["rollingUpdate"] = draw(_maybe("partition", small))
    spec: dict[str, Any] = {"updateStrategy": strategy, **draw(_maybe("replicas", small))}
    status: dict[str, Any] = {}
    for key in ("observedGeneration", "readyReplicas", "updatedReplicas", "currentReplicas"):
        status.update(draw(_maybe(key, small)))
    for key in ("currentRevision", "updateRevision"):
        status.update(draw(_maybe(key, revisions)))
    return {"metadata": {"name": "web", "namespace": "db", "generation": draw(small)}, "spec": spec,
            "status": status}


@st.composite
def daemonsets(draw: st.DrawFn) -> dict[str, Any]:
    t = draw(strategy_types)
    status: dict[str, Any] = {}
    for key in ("observedGeneration", "desiredNumberScheduled", "updatedNumberScheduled", "numberAvailable"):
        status.update(draw(_maybe(key, small)))
    return {"metadata": {"name": "agent", "namespace": "kube-system", "generation": draw(small)},
            "spec": {"updateStrategy": {"type": t} if t else {}}, "status": status}


@settings(max_examples=600, deadline=None)
@given(statefulsets())
def test_statefulset_viewer_agrees_with_kubectl(obj: dict[str, Any]) -> None:
    message, done, error = _kubectl_sts(obj)
    got = statefulset_viewer(statefulset_view(obj))
    assert (got.message, got.done, got.error) == (message.rstrip("\n"), done, error)
    verdict = set_rollout_status("StatefulSet", obj, [], now=NOW)
    expected = error or message.rstrip("\n")
    assert verdict.message == expected
    assert (verdict.status == S.SUCCESS) == done


@settings(max_examples=400, deadline=None)
@given(daemonsets())
def test_daemonset_viewer_agrees_with_kubectl(obj: dict[str, Any]) -> None:
    message, done, error = _kubectl_ds(obj)
    got = daemonset_viewer(daemonset_view(obj))
    assert (got.message, got.done, got.error) == (message.rstrip("\n"), done, error)
    verdict = set_rollout_status("DaemonSet", obj, [], now=NOW)
    assert verdict.message == (error or message.rstrip("\n"))
    assert (verdict.status == S.SUCCESS) == done


# --- early failure ---------------------------------------------------------------------------------


def _sts(**status: Any) -> dict[str, Any]:
    base = {"observedGeneration": 2, "replicas": 3, "readyReplicas": 2, "updatedReplicas": 1,
            "currentReplicas": 2, "currentRevision": "web-old", "updateRevision": "web-new"}
    base.update(status)
    return {"metadata": {"name": "web", "namespace": "db", "uid": "sts-uid", "generation": 2},
            "spec": {"replicas": 3, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                     "template": {"spec": {"containers": [{"name": "app", "image": "pg:2"}]}}},
            "status": base}


def _pod(name: str, revision: str, *, owner: str = "sts-uid", kind: str = "StatefulSet", restarts: int = 3,
         reason: str = "CrashLoopBackOff", node: str = "node-1", generation: str | None = None,
         phase: str = "Running") -> dict[str, Any]:
    labels = {"controller-revision-hash": revision}
    if generation is not None:
        labels["pod-template-generation"] = generation
    return {"metadata": {"name": name, "namespace": "db", "uid": f"uid-{name}", "labels": labels,
                         "ownerReferences": [{"kind": kind, "uid": owner, "controller": True}]},
            "spec": {"nodeName": node},
            "status": {"phase": phase, "containerStatuses": [
                {"name": "app", "restartCount": restarts, "state": {"waiting": {"reason": reason, "message": "x"}},
                 "lastState": {"terminated": {"exitCode": 1}}}]}}


def test_crash_loop_of_an_update_revision_pod_fails_and_names_the_ordinal() -> None:
    v = set_rollout_status("StatefulSet", _sts(), [_pod("web-2", "web-new")], now=NOW)
    assert v.status == S.FAILED and v.reason == "CrashLoopBackOff" and v.decisive_pod == "web-2"
    assert v.message.startswith('statefulset "web" stuck at ordinal 2: container app of pod web-2 is crash looping')
    assert v.new_replicaset == "web-new"


def test_two_restarts_are_not_decisive() -> None:
    v = set_rollout_status("StatefulSet", _sts(), [_pod("web-2", "web-new", restarts=2)], now=NOW)
    assert v.status == S.ROLLING_OUT and v.message == "Waiting for 1 pods to be ready..."


def test_old_revision_crash_loop_never_fails_the_new_rollout() -> None:
    v = set_rollout_status("StatefulSet", _sts(), [_pod("web-0", "web-old", restarts=30)], now=NOW)
    assert v.status == S.ROLLING_OUT


def test_pods_of_another_statefulset_are_not_its_pods() -> None:
    v = set_rollout_status("StatefulSet", _sts(), [_pod("web-2", "web-new", owner="other")], now=NOW)
    assert v.status == S.ROLLING_OUT


def test_on_delete_is_said_plainly_and_never_fails() -> None:
    obj = _sts()
    obj["spec"]["updateStrategy"] = {"type": "OnDelete"}
    v = set_rollout_status("StatefulSet", obj, [_pod("web-2", "web-new", restarts=50)], now=NOW)
    assert v.status == S.SUCCESS and v.reason == "OnDeleteStrategy"
    assert v.message == "rollout status is only available for RollingUpdate strategy type"


def test_partition_complete_while_old_ordinals_wait() -> None:
    obj = _sts(readyReplicas=3, updatedReplicas=1)
    obj["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = 2
    v = set_rollout_status("StatefulSet", obj, [_pod("web-0", "web-old", restarts=9)], now=NOW)
    assert v.status == S.SUCCESS and v.message == "partitioned roll out complete: 1 new pods have been updated..."


def test_pvc_bound_pod_stuck_pending_fails_after_the_deadline_only() -> None:
    pod = _pod("web-2", "web-new", restarts=0, reason="ContainerCreating", phase="Pending")
    pod["status"] = {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "lastTransitionTime": (NOW - timedelta(seconds=400)).strftime("%Y-%m-%dT%H:%M:%SZ")}]}
    event = {"metadata": {"name": "e1", "namespace": "db"}, "type": "Warning", "reason": "FailedScheduling",
             "message": "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims.",
             "involvedObject": {"kind": "Pod", "name": "web-2", "namespace": "db", "uid": "uid-web-2"},
             "firstTimestamp": (NOW - timedelta(seconds=400)).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "lastTimestamp": NOW.strftime("%Y-%m-%dT%H:%M:%SZ")}
    default = set_rollout_status("StatefulSet", _sts(), [pod], [event], now=NOW)
    assert default.status == S.ROLLING_OUT  # off by default, as for Deployments
    strict = set_rollout_status("StatefulSet", _sts(), [pod], [event], now=NOW,
                                thresholds=StatusThresholds(pending_fail_seconds=300))
    assert strict.status == S.FAILED and strict.reason == "FailedScheduling"
    assert "unbound immediate PersistentVolumeClaims" in strict.message
    early = set_rollout_status("StatefulSet", _sts(), [pod], [event], now=NOW - timedelta(seconds=200),
                               thresholds=StatusThresholds(pending_fail_seconds=300))
    assert early.status == S.ROLLING_OUT


def _ds(**status: Any) -> dict[str, Any]:
    base = {"observedGeneration": 3, "desiredNumberScheduled": 3, "updatedNumberScheduled": 1,
            "numberAvailable": 2}
    base.update(status)
    return {"metadata": {"name": "agent", "namespace": "db", "uid": "ds-uid", "generation": 3},
            "spec": {"updateStrategy": {"type": "RollingUpdate"},
                     "template": {"spec": {"containers": [{"name": "app", "image": "agent:2"}]}}},
            "status": base}


def _revision(name: str, hash_: str, number: int) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "db", "labels": {"controller-revision-hash": hash_},
                         "ownerReferences": [{"kind": "DaemonSet", "uid": "ds-uid", "controller": True}]},
            "revision": number}


def test_daemonset_fails_on_the_newest_revision_pod_and_names_the_node() -> None:
    pods = [_pod("agent-a", "h2", owner="ds-uid", kind="DaemonSet", reason="ImagePullBackOff", node="node-7"),
            _pod("agent-b", "h1", owner="ds-uid", kind="DaemonSet", restarts=40)]
    pods[0]["status"]["containerStatuses"][0]["state"]["waiting"]["message"] = \
        'Back-off pulling image "agent:2": ErrImagePull: rpc error: code = NotFound desc = agent:2: not found'
    revs = [_revision("agent-h1", "h1", 1), _revision("agent-h2", "h2", 2)]
    v = set_rollout_status("DaemonSet", _ds(), pods, revisions=revs, now=NOW)
    assert v.status == S.FAILED and v.decisive_pod == "agent-a" and v.revision == 2
    assert v.message.startswith('daemon set "agent" failing on node node-7: ')
    # The same pods with the old revision newest (a rollback): the old pod's crash loop is the new one's.
    rollback = [_revision("agent-h1", "h1", 3), _revision("agent-h2", "h2", 2)]
    v2 = set_rollout_status("DaemonSet", _ds(), pods[1:], revisions=rollback, now=NOW)
    assert v2.status == S.FAILED and v2.decisive_pod == "agent-b"


def test_daemonset_without_revisions_uses_pod_template_generation() -> None:
    old = _pod("agent-b", "h1", owner="ds-uid", kind="DaemonSet", restarts=40, generation="2")
    assert set_rollout_status("DaemonSet", _ds(), [old], now=NOW).status == S.ROLLING_OUT
    new = _pod("agent-c", "h9", owner="ds-uid", kind="DaemonSet", generation="3")
    assert set_rollout_status("DaemonSet", _ds(), [old, new], now=NOW).decisive_pod == "agent-c"


def test_daemonset_revision_without_hash_label_takes_the_hash_from_its_name() -> None:
    rev = _revision("agent-h2", "", 2)
    del rev["metadata"]["labels"]
    rev["metadata"]["ownerReferences"][0]["name"] = "agent"
    assert revision_view(rev).hash == "h2"
    new = _pod("agent-a", "h2", owner="ds-uid", kind="DaemonSet", restarts=40)
    old = _pod("agent-b", "h1", owner="ds-uid", kind="DaemonSet", restarts=40)
    assert set_rollout_status("DaemonSet", _ds(), [old], revisions=[rev], now=NOW).status == S.ROLLING_OUT
    assert set_rollout_status("DaemonSet", _ds(), [old, new], revisions=[rev], now=NOW).decisive_pod == "agent-a"
    unlabelled = _pod("agent-c", "", owner="ds-uid", kind="DaemonSet", restarts=40, generation="3")
    del unlabelled["metadata"]["labels"]["controller-revision-hash"]
    assert set_rollout_status("DaemonSet", _ds(), [unlabelled], revisions=[rev], now=NOW).decisive_pod == "agent-c"


def test_daemonset_with_zero_desired_pods_is_success() -> None:
    v = set_rollout_status("DaemonSet", _ds(desiredNumberScheduled=0, updatedNumberScheduled=0, numberAvailable=0),
                           [], now=NOW)
    assert v.status == S.SUCCESS and v.message == 'daemon set "agent" successfully rolled out'
