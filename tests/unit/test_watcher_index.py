"""The watcher's in-memory index: apply/delete/replace_all, routing to Deployments, compactness."""

from __future__ import annotations

import copy
import gc
import tracemalloc
from datetime import timedelta
from typing import Any

import pytest

from fyr.core.rollout import rollout_status
from fyr.core.status import StatusThresholds
from fyr.models.rollout import RolloutStatus
from fyr.services.watcher.cluster_index import ClusterIndex
from tests.unit.k8s_builders import (
    OLD_HASH,
    T0,
    crashloop,
    deployment,
    event,
    pod,
    pod_template,
    replicaset,
    running,
    unschedulable_conditions,
    waiting,
)

pytestmark = pytest.mark.timeout(20)

TH = StatusThresholds()
WEB = ("Deployment", "shop", "web")
API = ("Deployment", "shop", "api")


def rolling(name: str = "web") -> dict[str, Any]:
    return deployment(name, replicas=3, updated=1, available=2, total=4)


def loaded(dep: dict[str, Any] | None = None) -> tuple[ClusterIndex, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """An index holding a rolling Deployment `web`, its new RS with one pod and an old RS with one pod."""
    dep = dep or rolling()
    new_rs = replicaset(dep, replicas=1, ready=0)
    old_rs = replicaset(dep, hash_=OLD_HASH, template=pod_template("registry.example.com/shop/web:v1"),
                        created=T0 - timedelta(days=1))
    index = ClusterIndex()
    index.apply("Deployment", "ADDED", dep)
    index.apply("ReplicaSet", "ADDED", new_rs)
    index.apply("ReplicaSet", "ADDED", old_rs)
    index.apply("Pod", "ADDED", pod(old_rs, "o1abc"))
    index.apply("Pod", "ADDED", pod(new_rs, "n1abc", container_statuses=[running(ready=False)]))
    return index, dep, new_rs, old_rs


def test_deployment_add_returns_its_ref_and_evaluates_like_the_pure_function() -> None:
    dep = deployment()
    rs = replicaset(dep)
    p = pod(rs)
    index = ClusterIndex()
    assert index.apply("Deployment", "ADDED", dep) == {WEB}
    index.apply("ReplicaSet", "ADDED", rs)
    index.apply("Pod", "ADDED", p)
    got = index.evaluate(WEB, thresholds=TH, now=T0)
    assert got == rollout_status(dep, [rs], [p], now=T0)
    assert got is not None and got.status is RolloutStatus.SUCCESS


def test_unknown_deployment_evaluates_to_none() -> None:
    assert ClusterIndex().evaluate(("Deployment", "shop", "nope"), thresholds=TH) is None


def test_deleted_deployment_is_forgotten() -> None:
    index, dep, _, _ = loaded()
    assert index.apply("Deployment", "DELETED", dep) == {WEB}
    assert index.evaluate(WEB, thresholds=TH) is None
    assert len(index) == 0


def test_new_rs_pod_crashloop_routes_to_deployment_and_fails_it() -> None:
    index, _, new_rs, _ = loaded()
    assert index.evaluate(WEB, thresholds=TH).status is RolloutStatus.ROLLING_OUT  # type: ignore[union-attr]
    crashing = pod(new_rs, "n1abc", container_statuses=[crashloop(3)])
    assert index.apply("Pod", "MODIFIED", crashing) == {WEB}
    verdict = index.evaluate(WEB, thresholds=TH)
    assert verdict is not None and verdict.status is RolloutStatus.FAILED
    assert verdict.decisive_pod == crashing["metadata"]["name"]
    assert index.apply("Pod", "DELETED", crashing) == {WEB}
    assert index.evaluate(WEB, thresholds=TH).status is RolloutStatus.ROLLING_OUT  # type: ignore[union-attr]


def test_old_rs_pod_crashloop_does_not_fail_via_index() -> None:
    index, _, _, old_rs = loaded()
    assert index.apply("Pod", "MODIFIED", pod(old_rs, "o1abc", container_statuses=[crashloop(9)])) == {WEB}
    assert index.evaluate(WEB, thresholds=TH).status is RolloutStatus.ROLLING_OUT  # type: ignore[union-attr]


def test_pods_route_to_their_own_deployment_only() -> None:
    index, _, _, _ = loaded()
    api = rolling("api")
    api_rs = replicaset(api, hash_="6f8b9c4d7")
    index.apply("Deployment", "ADDED", api)
    assert index.apply("ReplicaSet", "ADDED", api_rs) == {API}
    assert index.apply("Pod", "ADDED", pod(api_rs, "zzzzz", container_statuses=[crashloop(5)])) == {API}
    assert index.evaluate(API, thresholds=TH).status is RolloutStatus.FAILED  # type: ignore[union-attr]
    assert index.evaluate(WEB, thresholds=TH).status is RolloutStatus.ROLLING_OUT  # type: ignore[union-attr]


def test_update_that_changes_nothing_read_returns_no_refs() -> None:
    index, _, new_rs, _ = loaded()
    same = pod(new_rs, "n1abc", container_statuses=[running(ready=False)])
    same["metadata"]["resourceVersion"] = "999999"
    same["metadata"]["annotations"] = {"irrelevant": "x"}
    assert index.apply("Pod", "MODIFIED", same) == set()


def test_pod_before_its_replicaset_is_picked_up_when_the_rs_arrives() -> None:
    dep = rolling()
    rs = replicaset(dep, replicas=1, ready=0)
    index = ClusterIndex()
    index.apply("Deployment", "ADDED", dep)
    assert index.apply("Pod", "ADDED", pod(rs, container_statuses=[crashloop(4)])) == set()
    assert index.apply("ReplicaSet", "ADDED", rs) == {WEB}
    assert index.evaluate(WEB, thresholds=TH).status is RolloutStatus.FAILED  # type: ignore[union-attr]


def test_orphan_pod_is_tied_by_pod_template_hash() -> None:
    dep = rolling()
    rs = replicaset(dep, replicas=1, ready=0)
    index = ClusterIndex()
    index.apply("Deployment", "ADDED", dep)
    index.apply("ReplicaSet", "ADDED", rs)
    assert index.apply("Pod", "ADDED", pod(rs, owner=False, container_statuses=[crashloop(4)])) == {WEB}
    assert index.evaluate(WEB, thresholds=TH).status is RolloutStatus.FAILED  # type: ignore[union-attr]


def test_pull_failed_event_routes_to_deployment_and_decides() -> None:
    index, _, new_rs, _ = loaded()
    p = pod(new_rs, "n1abc", phase="Pending", container_statuses=[waiting("ImagePullBackOff", "Back-off pulling")])
    index.apply("Pod", "MODIFIED", p)
    assert index.evaluate(WEB, thresholds=TH).status is RolloutStatus.ROLLING_OUT  # type: ignore[union-attr]
    ev = event(p, "Failed", 'Failed to pull image "x": manifest unknown: manifest unknown')
    assert index.apply("Event", "ADDED", ev) == {WEB}
    assert index.evaluate(WEB, thresholds=TH).status is RolloutStatus.FAILED  # type: ignore[union-attr]
    assert index.apply("Event", "DELETED", ev) == {WEB}
    assert index.evaluate(WEB, thresholds=TH).status is RolloutStatus.ROLLING_OUT  # type: ignore[union-attr]


def test_irrelevant_events_are_not_stored() -> None:
    index, _, new_rs, _ = loaded()
    p = pod(new_rs, "n1abc")
    for reason in ("Scheduled", "Pulled", "Created", "Started", "Unhealthy"):
        assert index.apply("Event", "ADDED", event(p, reason, "whatever", type_="Normal")) == set()
    assert index.stats()["events"] == 0


def test_replicaset_event_routes_to_owner_and_null_timestamps_work_through_index() -> None:
    index, _, new_rs, _ = loaded()
    fc = event(new_rs, "FailedCreate", "Error creating: pods is forbidden: exceeded quota: pods",
               source="replicaset-controller")
    assert index.apply("Event", "ADDED", fc) == {WEB}
    p = pod(new_rs, "n1abc", phase="Pending", container_statuses=[], conditions=unschedulable_conditions(), node=None)
    index.apply("Pod", "MODIFIED", p)
    sched = event(p, "FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu.", scheduler=True)
    assert index.apply("Event", "ADDED", sched) == {WEB}
    th = StatusThresholds(pending_fail_seconds=60)
    assert index.evaluate(WEB, thresholds=th, now=T0 + timedelta(seconds=30)).status \
        is RolloutStatus.ROLLING_OUT  # type: ignore[union-attr]
    late = index.evaluate(WEB, thresholds=th, now=T0 + timedelta(seconds=90))
    assert late is not None and (late.status, late.reason) == (RolloutStatus.FAILED, "FailedScheduling")


def test_events_per_object_are_bounded_keeping_the_newest() -> None:
    index, _, new_rs, _ = loaded()
    p = pod(new_rs, "n1abc")
    for i in range(20):
        index.apply("Event", "ADDED", event(p, "Failed", f"Error: number {i}", first=T0 + timedelta(seconds=i)))
    assert index.stats()["events"] == 8
    kept = index._events[("Pod", "shop", p["metadata"]["name"])]  # white-box: which ones survived
    assert sorted(int(e.message.split()[-1]) for e in kept.values()) == list(range(12, 20))


def test_event_objects_are_bounded_globally() -> None:
    index = ClusterIndex(max_event_objects=5)
    dep = rolling()
    rs = replicaset(dep)
    for i in range(12):
        index.apply("Event", "ADDED", event(pod(rs, f"p{i:04d}"), "FailedMount", "m"))
    assert index.stats()["event_objects"] == 5


def test_replace_all_pods_drops_vanished_and_reports_affected() -> None:
    index, _, new_rs, old_rs = loaded()
    crashing = pod(new_rs, "n2abc", container_statuses=[crashloop(3)])
    index.apply("Pod", "ADDED", crashing)
    assert index.evaluate(WEB, thresholds=TH).status is RolloutStatus.FAILED  # type: ignore[union-attr]
    affected = index.replace_all("Pod", [pod(old_rs, "o1abc"), pod(new_rs, "n1abc",
                                                                    container_statuses=[running(ready=False)])])
    assert affected == {WEB}
    assert index.stats()["pods"] == 2
    assert index.evaluate(WEB, thresholds=TH).status is RolloutStatus.ROLLING_OUT  # type: ignore[union-attr]
    assert index.replace_all("Pod", [pod(old_rs, "o1abc"), pod(new_rs, "n1abc",
                                                               container_statuses=[running(ready=False)])]) == set()


def test_replace_all_deployments_and_replicasets() -> None:
    index, dep, new_rs, _ = loaded()
    api = rolling("api")
    assert index.replace_all("Deployment", [dep, api]) == {API}
    assert index.replace_all("Deployment", [api]) == {WEB}
    assert index.evaluate(WEB, thresholds=TH) is None
    index.apply("Deployment", "ADDED", dep)
    assert index.replace_all("ReplicaSet", [new_rs]) == {WEB}
    assert index.stats()["replicasets"] == 1


def test_replace_all_events() -> None:
    index, _, new_rs, _ = loaded()
    p = pod(new_rs, "n1abc")
    a = event(p, "Failed", "Error: a")
    b = event(p, "FailedMount", "b")
    index.apply("Event", "ADDED", a)
    assert index.replace_all("Event", [b]) == {WEB}
    assert index.stats()["events"] == 1


def test_new_template_generation_switches_the_new_replicaset() -> None:
    index, _, _, _ = loaded()
    v3 = rolling()
    v3["metadata"]["generation"] = 3
    v3["status"]["observedGeneration"] = 3
    v3["spec"]["template"] = pod_template("registry.example.com/shop/web:v3", app="web")
    assert index.apply("Deployment", "MODIFIED", v3) == {WEB}
    assert index.evaluate(WEB, thresholds=TH).new_replicaset is None  # type: ignore[union-attr]
    rs3 = replicaset(v3, hash_="9b8c7d6f5", replicas=1, ready=0, created=T0 + timedelta(minutes=1))
    assert index.apply("ReplicaSet", "ADDED", rs3) == {WEB}
    verdict = index.evaluate(WEB, thresholds=TH)
    assert verdict is not None and verdict.new_replicaset == rs3["metadata"]["name"]
    assert verdict.generation == 3


def test_status_only_update_is_seen() -> None:
    index, _, _, _ = loaded()
    done = deployment()
    assert index.apply("Deployment", "MODIFIED", done) == {WEB}
    assert index.evaluate(WEB, thresholds=TH).status is RolloutStatus.SUCCESS  # type: ignore[union-attr]


def test_compact_deployment_copy_drops_bulk_and_is_independent_of_the_input() -> None:
    dep = deployment(annotations={"app.gitlab.com/app": "shop-web", "app.gitlab.com/env": "production"})
    raw = copy.deepcopy(dep)
    index = ClusterIndex()
    index.apply("Deployment", "ADDED", raw)
    compact = index.deployment(WEB)
    assert compact is not None
    assert "managedFields" not in compact["metadata"]
    assert "kubectl.kubernetes.io/last-applied-configuration" not in compact["metadata"]["annotations"]
    assert compact["spec"]["template"] == dep["spec"]["template"]
    assert set(compact["spec"]) == {"replicas", "progressDeadlineSeconds", "template"}
    assert index.annotations(WEB) == {"app.gitlab.com/app": "shop-web", "app.gitlab.com/env": "production",
                                      "deployment.kubernetes.io/revision": "2"}
    raw["spec"]["template"]["spec"]["containers"][0]["image"] = "mutated"
    raw["status"]["replicas"] = 99
    assert compact["spec"]["template"] == dep["spec"]["template"]
    assert compact["status"] == dep["status"]


def test_pods_are_held_compactly() -> None:
    dep = deployment()
    rs = replicaset(dep)
    pods = [pod(rs, f"p{i:05d}", container_statuses=[running(), running("sidecar")]) for i in range(2000)]
    index = ClusterIndex()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for p in pods:
        index.apply("Pod", "ADDED", p)
    gc.collect()
    per_pod = (tracemalloc.get_traced_memory()[0] - before) / len(pods)
    tracemalloc.stop()
    assert index.stats()["pods"] == 2000
    raw_size = len(repr(pods[0]))
    assert per_pod < 1500, per_pod  # a raw pod dict of this shape is several KB (repr alone: raw_size chars)
    assert per_pod < raw_size / 2
