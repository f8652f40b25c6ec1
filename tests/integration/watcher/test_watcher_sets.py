"""StatefulSets and DaemonSets end to end: simulated controllers → real client → watcher → SQLite rows."""

from __future__ import annotations

import asyncio

import pytest

from fyr.models.rollout import AnalysisStatus, RolloutStatus
from fyr.simcluster.server import SimCluster
from fyr.simcluster.sets import DaemonSetSim, StatefulSetSim

from .conftest import rows, wait_for_status

pytestmark = pytest.mark.timeout(60)
S = RolloutStatus
LOG = "FATAL:  could not open configuration file \"/etc/postgresql/extra.conf\"\n"


def statefulset(sim: SimCluster, name: str = "pg", **kw: object) -> StatefulSetSim:
    return StatefulSetSim(sim, namespace="data", name=name, image=f"registry.example.com/acme/{name}:1.0",
                          annotations={"app.gitlab.com/app": f"acme-{name}", "fyr.dev/team": "data"},
                          **kw)  # type: ignore[arg-type]


def daemonset(sim: SimCluster, name: str = "shipper", **kw: object) -> DaemonSetSim:
    return DaemonSetSim(sim, namespace="logging", name=name, image=f"registry.example.com/acme/{name}:1.0",
                        **kw)  # type: ignore[arg-type]


async def test_statefulset_new_revision_crash_loop_fails_within_a_second_of_the_third_restart(
        sim, watcher, database):
    sts = statefulset(sim)
    sts.rollout()
    sts.run_to_completion()
    row, _ = await wait_for_status(database, "pg", 1, S.SUCCESS)
    assert row.kind == "StatefulSet" and row.uid == sts.obj["metadata"]["uid"]
    assert row.gitlab_app == "acme-pg" and row.team == "data"
    sts.rollout(image="registry.example.com/acme/pg:2.0")  # pg-2 is replaced first (highest ordinal)
    sts.crash_loop("pg-2", restarts=2, previous_log=LOG)
    await wait_for_status(database, "pg", 2, S.ROLLING_OUT)
    await asyncio.sleep(0.3)
    assert (await rows(database, "pg"))[1].status == S.ROLLING_OUT  # two restarts are not decisive
    sts.restart("pg-2", previous_log=LOG)
    row, latency = await wait_for_status(database, "pg", 2, S.FAILED, within=3.0)
    print(f"statefulset crashloop detection latency: {latency * 1000:.0f} ms")
    assert latency < 1.0
    assert row.failure_reason == "CrashLoopBackOff" and row.analysis_status == AnalysisStatus.PENDING
    assert row.failure_message.startswith('statefulset "pg" stuck at ordinal 2: container app of pod pg-2')
    assert (await rows(database, "pg"))[0].status == S.SUCCESS


async def test_old_revision_pods_below_the_partition_never_fail_the_new_rollout(sim, watcher, database):
    sts = statefulset(sim, "kafka", partition=0)
    sts.rollout()
    sts.run_to_completion()
    await wait_for_status(database, "kafka", 1, S.SUCCESS)
    sts.rollout(image="registry.example.com/acme/kafka:2.0", partition=2)  # canary: ordinal 2 only
    sts.run_to_completion()
    row, _ = await wait_for_status(database, "kafka", 2, S.SUCCESS)
    assert row.kind == "StatefulSet"
    # An old-revision pod (ordinal 0, below the partition) crash loops: not this rollout's failure.
    sts.crash_loop("kafka-0", restarts=5)
    await asyncio.sleep(0.4)
    assert [r.status for r in await rows(database, "kafka")] == [S.SUCCESS, S.SUCCESS]
    # kafka-0 recovers; the partition goes to 0: a new generation rolls ordinals 1 and 0, and its crash
    # loop on kafka-1 (now the update revision's) fails it.
    sts.set_running("kafka-0")
    sts.rollout(partition=0)
    assert sts.is_updated(sts.pods["kafka-1"])
    await wait_for_status(database, "kafka", 3, S.ROLLING_OUT)
    sts.crash_loop("kafka-1", restarts=3)
    row, _ = await wait_for_status(database, "kafka", 3, S.FAILED)
    assert row.failure_message.startswith('statefulset "kafka" stuck at ordinal 1:')


async def test_partitioned_rollout_waits_then_completes_with_kubectls_lines(sim, watcher, database):
    sts = statefulset(sim, "redis", replicas=4, partition=2)
    sts.rollout()
    sts.run_to_completion()
    await wait_for_status(database, "redis", 1, S.SUCCESS)
    sts.rollout(image="registry.example.com/acme/redis:2.0")
    await wait_for_status(database, "redis", 2, S.ROLLING_OUT)
    sts.make_ready()  # redis-3 updated and ready; redis-2 replaced next
    sts.run_to_completion()
    await wait_for_status(database, "redis", 2, S.SUCCESS)
    assert sorted(n for n, p in sts.pods.items() if sts.is_updated(p)) == ["redis-2", "redis-3"]
    assert sim.get("StatefulSet", "data", "redis")["status"]["currentReplicas"] == 2


async def test_on_delete_statefulset_is_recorded_plainly_and_never_fails(sim, watcher, database):
    sts = statefulset(sim, "legacy", strategy="OnDelete")
    sts.rollout()
    sts.run_to_completion()
    sts.rollout(image="registry.example.com/acme/legacy:2.0")
    row, _ = await wait_for_status(database, "legacy", 2, S.SUCCESS)
    assert row.failure_reason is None and row.failed_at is None


async def test_daemonset_image_not_found_fails_and_names_the_node(sim, watcher, database):
    ds = daemonset(sim)
    ds.rollout()
    ds.run_to_completion()
    row, _ = await wait_for_status(database, "shipper", 1, S.SUCCESS)
    assert row.kind == "DaemonSet"
    ds.rollout(image="registry.example.com/acme/shipper:9.9-typo")
    new = next(n for n, p in ds.pods.items() if ds.is_updated(p))
    ds.image_not_found(new)
    row, _ = await wait_for_status(database, "shipper", 2, S.FAILED)
    assert row.failure_reason == "ImagePullBackOff"
    node = ds.pods[new]["spec"]["nodeName"]
    assert row.failure_message.startswith(f'daemon set "shipper" failing on node {node}: ')


async def test_daemonset_old_revision_crash_loop_is_ignored(sim, watcher, database):
    ds = daemonset(sim, "exporter")
    ds.rollout()
    ds.run_to_completion()
    await wait_for_status(database, "exporter", 1, S.SUCCESS)
    ds.rollout(image="registry.example.com/acme/exporter:2.0")
    old = next(n for n, p in ds.pods.items() if not ds.is_updated(p))
    ds.crash_loop(old, restarts=6)
    await wait_for_status(database, "exporter", 2, S.ROLLING_OUT)
    await asyncio.sleep(0.4)
    assert (await rows(database, "exporter"))[1].status == S.ROLLING_OUT


async def test_daemonset_with_zero_desired_pods_is_success(sim, watcher, database):
    ds = daemonset(sim, "gpu-agent", nodes=())
    ds.rollout()
    row, _ = await wait_for_status(database, "gpu-agent", 1, S.SUCCESS)
    assert row.kind == "DaemonSet" and row.failure_reason is None


async def test_deleted_workload_closes_its_open_rollout_and_a_recreated_one_starts_afresh(
        sim, watcher, database):
    sts = statefulset(sim, "mongo")
    sts.rollout()
    first_uid = sts.obj["metadata"]["uid"]
    await wait_for_status(database, "mongo", 1, S.ROLLING_OUT)
    sim.delete("StatefulSet", "data", "mongo")
    row, _ = await wait_for_status(database, "mongo", 1, S.DELETED)
    assert row.uid == first_uid and row.analysis_status is None and row.failed_at is None
    for name in list(sts.pods):
        sim.delete("Pod", "data", name)
    again = statefulset(sim, "mongo")
    again.rollout()
    again.run_to_completion()
    await wait_for_status(database, "mongo", 1, S.SUCCESS)
    got = await rows(database, "mongo")
    assert sorted((r.uid == first_uid, r.status) for r in got) == [(False, S.SUCCESS), (True, S.DELETED)]


async def test_a_workload_deleted_while_no_watcher_ran_is_closed_after_the_next_sync(
        sim, watcher_factory, database):
    first = await watcher_factory()
    await first.synced()
    ds = daemonset(sim, "node-exporter")
    ds.rollout()
    await wait_for_status(database, "node-exporter", 1, S.ROLLING_OUT)
    sts = statefulset(sim, "cache")
    sts.rollout()
    await wait_for_status(database, "cache", 1, S.ROLLING_OUT)
    await first.shutdown()
    sim.delete("DaemonSet", "logging", "node-exporter")
    second = await watcher_factory()
    await second.synced()
    row, _ = await wait_for_status(database, "node-exporter", 1, S.DELETED)
    assert row.kind == "DaemonSet" and row.failed_at is None
    await asyncio.sleep(0.3)
    assert (await rows(database, "cache"))[0].status == S.ROLLING_OUT  # still there: still open
