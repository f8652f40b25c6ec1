"""The simulated StatefulSet and DaemonSet controllers write what the real ones would."""

from __future__ import annotations

from fyr.simcluster.sets import DaemonSetSim, StatefulSetSim
from fyr.simcluster.store import ClusterState


def _pods(c: ClusterState) -> dict[str, dict]:  # type: ignore[type-arg]
    return {name: obj for (_, name), obj in c.objects["pods"].items()}


def test_statefulset_creates_ordinals_one_at_a_time_each_after_the_previous_is_ready() -> None:
    c = ClusterState()
    s = StatefulSetSim(c, namespace="db", name="pg", image="pg:16")
    s.rollout()
    assert sorted(_pods(c)) == ["pg-0"]
    s.reconcile()
    assert sorted(_pods(c)) == ["pg-0"]  # pg-0 is not ready yet: OrderedReady waits
    s.make_ready(0)
    assert sorted(_pods(c)) == ["pg-0", "pg-1"]
    s.run_to_completion()
    st = c.get("StatefulSet", "db", "pg")["status"]  # type: ignore[index]
    assert (st["readyReplicas"], st["updatedReplicas"], st["currentRevision"]) == (3, 3, st["updateRevision"])
    [cr] = c.objects["controllerrevisions"].values()
    assert cr["revision"] == 1 and cr["metadata"]["labels"]["controller-revision-hash"] == cr["metadata"]["name"]
    assert _pods(c)["pg-2"]["metadata"]["labels"]["controller-revision-hash"] == cr["metadata"]["name"]


def test_statefulset_update_goes_down_from_the_highest_ordinal_and_stops_at_the_partition() -> None:
    c = ClusterState()
    s = StatefulSetSim(c, namespace="db", name="pg", image="pg:16", replicas=4, partition=2)
    s.rollout()
    s.run_to_completion()
    old = s.update_revision
    s.rollout(image="pg:17")
    assert [n for n, p in sorted(s.pods.items()) if s.is_updated(p)] == ["pg-3"]
    s.run_to_completion()
    assert [n for n, p in sorted(s.pods.items()) if s.is_updated(p)] == ["pg-2", "pg-3"]
    st = c.get("StatefulSet", "db", "pg")["status"]  # type: ignore[index]
    assert (st["currentRevision"], st["updatedReplicas"], st["currentReplicas"]) == (old, 2, 2)
    assert len(c.objects["controllerrevisions"]) == 2


def test_daemonset_runs_one_pod_per_node_and_updates_one_node_at_a_time() -> None:
    c = ClusterState()
    d = DaemonSetSim(c, namespace="kube-system", name="agent", image="agent:1", nodes=("n1", "n2", "n3"))
    d.rollout()
    assert sorted(p["spec"]["nodeName"] for p in _pods(c).values()) == ["n1", "n2", "n3"]
    d.run_to_completion()
    d.rollout(image="agent:2")
    assert sum(d.is_updated(p) for p in d.pods.values()) == 1
    new = next(p for p in d.pods.values() if d.is_updated(p))
    assert new["metadata"]["labels"]["pod-template-generation"] == "2"
    st = c.get("DaemonSet", "kube-system", "agent")["status"]  # type: ignore[index]
    assert (st["desiredNumberScheduled"], st["updatedNumberScheduled"]) == (3, 1)
    d.run_to_completion()
    st = c.get("DaemonSet", "kube-system", "agent")["status"]  # type: ignore[index]
    assert (st["updatedNumberScheduled"], st["numberAvailable"]) == (3, 3)
    newest = max(c.objects["controllerrevisions"].values(), key=lambda r: r["revision"])
    assert all(p["metadata"]["labels"]["controller-revision-hash"] == newest["metadata"]["labels"][
        "controller-revision-hash"] for p in d.pods.values())
