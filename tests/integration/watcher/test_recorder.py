"""The recorder between index and database: writes only verdict changes, failures first, nothing
lost across a failed flush, nothing rewritten by a restarted watcher (real SQLite)."""

from __future__ import annotations

import pytest

from fyr.core.status import StatusThresholds
from fyr.errors import DatabaseUnavailable
from fyr.models.rollout import RolloutStatus
from fyr.services.watcher.cluster_index import ClusterIndex
from fyr.services.watcher.k8s import WatchScope
from fyr.services.watcher.main import RolloutRecorder, WatcherHealth
from tests.unit import k8s_builders as b

from .conftest import rows

pytestmark = pytest.mark.timeout(30)
S = RolloutStatus


def recorder(db) -> RolloutRecorder:  # type: ignore[no-untyped-def]
    health = WatcherHealth(expected_scopes=1)
    rec = RolloutRecorder(index=ClusterIndex(), db=db, cluster="c", thresholds=StatusThresholds(), health=health)
    rec.on_synced(WatchScope("Deployment"))
    return rec


def feed_healthy(rec: RolloutRecorder, name: str) -> None:
    d = b.deployment(name)
    rec.on_change("Deployment", "ADDED", d)
    rec.on_change("ReplicaSet", "ADDED", b.replicaset(d))


def feed_crashloop(rec: RolloutRecorder, name: str, restarts: int) -> None:
    d = b.deployment(name, updated=1, available=0, total=3)
    rs = b.replicaset(d, replicas=1, ready=0)
    rec.on_change("Deployment", "ADDED", d)
    rec.on_change("ReplicaSet", "ADDED", rs)
    rec.on_change("Pod", "ADDED", b.pod(rs, container_statuses=[b.crashloop(restarts)]))


async def test_failed_flush_keeps_every_write_and_failures_go_first(database):
    rec = recorder(database)
    await rec.prime()
    for i in range(5):
        feed_healthy(rec, f"ok{i}")
    feed_crashloop(rec, "bad", restarts=3)
    assert rec.evaluate_dirty() == 6
    database.simulate_outage(60)
    with pytest.raises(DatabaseUnavailable):
        await rec.flush()
    assert len(rec.pending) == 6 and "bad" in {ref[2] for ref in rec.urgent}
    database.simulate_outage(0)
    assert await rec.flush() == 6
    got = await rows(database)
    by_name = {r.deployment: r for r in got}
    assert by_name["bad"].status == S.FAILED and by_name["bad"].failure_reason == "CrashLoopBackOff"
    assert min(got, key=lambda r: r.id).deployment == "bad", "the failure is written before the backlog"
    assert all(by_name[f"ok{i}"].status == S.SUCCESS for i in range(5))


async def test_unchanged_verdicts_are_not_written_again(database):
    rec = recorder(database)
    await rec.prime()
    feed_crashloop(rec, "bad", restarts=3)
    rec.evaluate_dirty()
    await rec.flush()
    feed_crashloop(rec, "bad", restarts=4)  # one more restart: still FAILED
    assert rec.evaluate_dirty() == 0 and not rec.pending


async def test_a_new_recorder_primes_from_the_database_and_rewrites_nothing(database):
    first = recorder(database)
    await first.prime()
    feed_healthy(first, "ok")
    feed_crashloop(first, "bad", restarts=3)
    first.evaluate_dirty()
    await first.flush()
    second = recorder(database)
    await second.prime()
    assert {r[2]: p[1:] for r, p in second.persisted.items()} == {"ok": (2, S.SUCCESS), "bad": (2, S.FAILED)}
    feed_healthy(second, "ok")
    feed_crashloop(second, "bad", restarts=3)
    second.evaluate_dirty()
    assert await second.flush() == 0


async def test_a_stream_that_never_lists_delays_decisions_only_for_the_grace_period(database):
    health = WatcherHealth(expected_scopes=4)  # three streams never list (e.g. forbidden by RBAC)
    rec = RolloutRecorder(index=ClusterIndex(), db=database, cluster="c", thresholds=StatusThresholds(),
                          health=health, sync_grace_seconds=0.2)
    rec.on_synced(WatchScope("Deployment"))
    feed_crashloop(rec, "bad", restarts=3)
    await rec.step()
    assert await rows(database) == []
    rec.started -= 1.0  # the grace period has passed
    await rec.step()
    assert [r.status for r in await rows(database)] == [S.FAILED]
